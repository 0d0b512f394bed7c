//! `elasticluster list-nodes NAME [--json | --pretty-json] [-u]`.

use super::Workspace;
use crate::cluster::ops::{self, ListNodesOptions};
use crate::cluster::OpsError;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Cluster to show.
    pub cluster: String,
    /// Print JSON (one line; the shape is documented in README.rst).
    #[arg(long, conflicts_with = "pretty_json")]
    pub json: bool,
    /// Print indented JSON.
    #[arg(long = "pretty-json")]
    pub pretty_json: bool,
    /// Refresh node addresses from the cloud first.
    #[arg(short = 'u', long)]
    pub update: bool,
}

pub fn run(ws: &Workspace, args: Args) -> Result<(), OpsError> {
    ops::list_nodes(
        ws,
        ListNodesOptions {
            cluster: args.cluster,
            json: args.json,
            pretty_json: args.pretty_json,
            update: args.update,
        },
    )
}
