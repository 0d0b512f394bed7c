//! `elasticluster stop NAME [--force] [--yes] [--wait]`.

use super::{confirmer, Workspace};
use crate::cluster::ops::{self, StopOptions};
use crate::cluster::OpsError;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Cluster to destroy.
    pub cluster: String,
    /// Also delete cloud resources that carry the cluster's naming pattern (base_name)
    /// but are missing from its state, e.g. after the state file was lost or edited.
    #[arg(long)]
    pub force: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Wait until every resource is gone (always the case: stop returns only when Azure
    /// has confirmed each deletion; accepted for compatibility).
    #[arg(long)]
    pub wait: bool,
}

pub fn run(ws: &Workspace, args: Args) -> Result<(), OpsError> {
    ops::stop(
        ws,
        StopOptions {
            cluster: args.cluster,
            force: args.force,
        },
        &confirmer(args.yes),
    )
}
