//! `elasticluster setup NAME [-- EXTRA ANSIBLE ARGS...]`.

use super::Workspace;
use crate::cluster::ops::{self, SetupOptions};
use crate::cluster::OpsError;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Cluster to set up.
    pub cluster: String,
    /// Extra arguments appended to the ansible-playbook command line (after `--`).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "EXTRA"
    )]
    pub extra: Vec<String>,
    /// Run every task on every node. Without it, a cluster whose nodes all still match
    /// what their last complete setup left (same playbooks, inventory and arguments;
    /// same files, services and packages) is only checked.
    #[arg(long)]
    pub full: bool,
    /// Report progress as JSON objects, one per line, on stdout (see README).
    #[arg(long = "json-events")]
    pub json_events: bool,
}

pub fn run(ws: &Workspace, args: Args) -> Result<(), OpsError> {
    ops::setup(
        ws,
        SetupOptions {
            cluster: args.cluster,
            extra: args.extra,
            json_events: args.json_events,
            full: args.full,
        },
    )
}
