//! `elasticluster ssh NAME [-n NODE] [-- COMMAND...]`.

use super::{CliError, Context};
use crate::cluster::{ClusterState, NodeRecord};

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

/// The node to connect to: `-n NODE` or the frontend.
pub(crate) fn target<'a>(
    state: &'a ClusterState,
    node: Option<&str>,
) -> Result<&'a NodeRecord, CliError> {
    match node {
        Some(n) => state.node(n).ok_or_else(|| {
            let names: Vec<&str> = state.nodes.iter().map(|n| n.name.as_str()).collect();
            CliError::Failed(format!(
                "node `{n}` not found in cluster `{}` — its nodes are: {}",
                state.name,
                names.join(", ")
            ))
        }),
        None => state
            .frontend()
            .map_err(|e| CliError::Failed(format!("{e}"))),
    }
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let storage = ctx.storage()?;
    let state = ctx.cluster(&storage, &args.cluster)?;
    let node = target(&state, args.node.as_deref())?;
    Err(CliError::NotAvailable {
        command: "ssh",
        message: format!(
            "cannot connect to node `{}` of cluster `{}`: SSH support is not part of this build yet",
            node.name, state.name
        ),
    })
}
