//! `elasticluster remove-node NAME NODE [--no-setup] [--drain-timeout SECONDS] [--force] [--yes]`.

use super::{confirmer, Workspace};
use crate::cluster::ops::{self, RemoveNodeOptions};
use crate::cluster::OpsError;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Cluster the node belongs to.
    pub cluster: String,
    /// Node to remove, e.g. `compute002`.
    pub node: String,
    /// Do not run the setup afterwards.
    #[arg(long = "no-setup")]
    pub no_setup: bool,
    /// How long to wait for the jobs on leaving nodes after draining them; when jobs still
    /// run then, nothing is deleted.
    #[arg(long = "drain-timeout", value_name = "SECONDS", default_value_t = ops::DEFAULT_DRAIN_TIMEOUT)]
    pub drain_timeout: u64,
    /// Do not wait: kill the jobs on leaving nodes (and say which), and remove nodes the
    /// scheduler cannot be asked about.
    #[arg(long = "force")]
    pub force: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Report progress as JSON objects, one per line, on stdout (see README).
    #[arg(long = "json-events")]
    pub json_events: bool,
}

pub fn run(ws: &Workspace, args: Args) -> Result<(), OpsError> {
    ops::remove_node(
        ws,
        RemoveNodeOptions {
            cluster: args.cluster,
            node: args.node,
            no_setup: args.no_setup,
            drain_timeout: std::time::Duration::from_secs(args.drain_timeout),
            force: args.force,
            json_events: args.json_events,
        },
        &confirmer(args.yes),
    )
}
