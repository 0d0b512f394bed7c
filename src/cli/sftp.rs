//! `elasticluster sftp NAME [-n NODE] [-- SFTP ARGS...]`.

use super::{CliError, Context};

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

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    super::ssh::exec_to(ctx, "sftp", &args.cluster, args.node.as_deref(), &args.args)
}
