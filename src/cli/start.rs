//! `elasticluster start TEMPLATE [-n NAME] [--nodes N:KIND,...] [--no-setup]`.

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
}

pub fn run(ws: &Workspace, args: Args) -> Result<(), OpsError> {
    ops::start(
        ws,
        StartOptions {
            template: args.cluster,
            name: args.name,
            nodes: args.nodes,
            no_setup: args.no_setup,
        },
    )
}
