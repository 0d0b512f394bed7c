//! `elasticluster ssh NAME [-n NODE] [-- COMMAND...]`.

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
    /// Command (and arguments) to run instead of a login shell (after `--`).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<String>,
}

pub fn run(ws: &Workspace, args: Args) -> Result<(), OpsError> {
    exec(
        ws,
        ConnectOptions {
            cluster: args.cluster,
            node: args.node,
            program: "ssh".into(),
            extra: args.args,
        },
    )
}

/// Replace this process with `ssh`/`sftp` to the chosen node.
pub(super) fn exec(ws: &Workspace, opts: ConnectOptions) -> Result<(), OpsError> {
    use std::os::unix::process::CommandExt;
    let argv = crate::cluster::ops::connect_command(ws, &opts)?;
    let err = std::process::Command::new(&argv[0]).args(&argv[1..]).exec();
    Err(OpsError::Failed(format!(
        "cannot run `{}`: {err} — install the OpenSSH client",
        opts.program
    )))
}
