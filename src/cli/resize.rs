//! `elasticluster resize NAME [-a N:KIND,...] [-r N:KIND,...] [-t TEMPLATE] [--no-setup] [--drain-timeout SECONDS] [--force] [--yes]`.

use super::{confirmer, Workspace};
use crate::cluster::ops::{self, ResizeOptions};
use crate::cluster::OpsError;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Cluster to resize.
    pub cluster: String,
    /// Nodes to add, e.g. `-a 2:compute`.
    #[arg(short = 'a', long = "add", value_name = "N:KIND[,N:KIND...]")]
    pub add: Option<String>,
    /// Nodes to remove (idle ones first), e.g. `-r 1:compute`.
    #[arg(short = 'r', long = "remove", value_name = "N:KIND[,N:KIND...]")]
    pub remove: Option<String>,
    /// Template to take new nodes' settings from.
    #[arg(short = 't', long = "template", value_name = "TEMPLATE")]
    pub template: Option<String>,
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
    ops::resize(
        ws,
        ResizeOptions {
            cluster: args.cluster,
            add: args.add,
            remove: args.remove,
            template: args.template,
            no_setup: args.no_setup,
            drain_timeout: std::time::Duration::from_secs(args.drain_timeout),
            force: args.force,
            json_events: args.json_events,
        },
        &confirmer(args.yes),
    )
}
