//! `elasticluster sftp NAME [-n NODE] [-- SFTP ARGS...]`.

use super::Workspace;
use crate::cluster::ops::ConnectOptions;
use crate::cluster::OpsError;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Cluster to connect to.
    pub cluster: String,
    /// Node to connect to (default: the frontend, see `ssh_to`).
    #[arg(short = 'n', long = "node", value_name = "NODE")]
    pub node: Option<String>,
    /// Extra sftp arguments (after `--`).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<String>,
}

pub fn run(ws: &Workspace, args: Args) -> Result<(), OpsError> {
    super::ssh::exec(
        ws,
        ConnectOptions {
            cluster: args.cluster,
            node: args.node,
            program: "sftp".into(),
            extra: args.args,
        },
    )
}
