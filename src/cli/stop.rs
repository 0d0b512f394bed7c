//! `elasticluster stop NAME [--force [--base-name X]] [--yes] [--wait] [--json-events]`.

use super::{confirmer, Workspace};
use crate::cluster::ops::{self, StopOptions};
use crate::cluster::OpsError;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Cluster to destroy.
    pub cluster: String,
    /// Also delete cloud resources under the cluster's names that carry its owner id but
    /// are missing from its state. Without a state file: find everything under the names
    /// of template NAME, list it with owner ids and delete it after confirmation.
    #[arg(long)]
    pub force: bool,
    /// With --force and no state file: look for this base_name instead of the template's.
    #[arg(long = "base-name", value_name = "X", requires = "force")]
    pub base_name: Option<String>,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Wait until every resource is gone (always the case: stop returns only when Azure
    /// has confirmed each deletion; accepted for compatibility).
    #[arg(long)]
    pub wait: bool,
    /// Report progress as JSON objects, one per line, on stdout (see README).
    #[arg(long = "json-events")]
    pub json_events: bool,
}

pub fn run(ws: &Workspace, args: Args) -> Result<(), OpsError> {
    ops::stop(
        ws,
        StopOptions {
            cluster: args.cluster,
            force: args.force,
            base_name: args.base_name,
            json_events: args.json_events,
        },
        &confirmer(args.yes),
    )
}
