//! `elasticluster start TEMPLATE [-n NAME] [--nodes N:KIND,...] [--no-setup] [--dry-run]
//! [--json-events]`.

use super::Workspace;
use crate::cluster::ops::{self, StartOptions};
use crate::cluster::OpsError;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Template to start (`[cluster/TEMPLATE]` in the configuration).
    pub cluster: String,
    /// Name of the cluster (default: the template name).
    #[arg(short = 'n', long = "name", value_name = "NAME")]
    pub name: Option<String>,
    /// Override node counts, e.g. `--nodes 4:compute,1:frontend`.
    #[arg(long = "nodes", value_name = "N:KIND[,N:KIND...]")]
    pub nodes: Option<String>,
    /// Only start the VMs, do not run the setup.
    #[arg(long = "no-setup")]
    pub no_setup: bool,
    /// Run every check, print the layout, quota use and expected start time; create and
    /// save nothing (exit 1 when a check fails).
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Report progress as JSON objects, one per line, on stdout (see README).
    #[arg(long = "json-events")]
    pub json_events: bool,
}

pub fn run(ws: &Workspace, args: Args) -> Result<(), OpsError> {
    ops::start(
        ws,
        StartOptions {
            template: args.cluster,
            name: args.name,
            nodes: args.nodes,
            no_setup: args.no_setup,
            dry_run: args.dry_run,
            json_events: args.json_events,
        },
    )
}
