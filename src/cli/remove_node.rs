//! `elasticluster remove-node NAME NODE [--no-setup] [--yes]`.

use super::{CliError, Context, PROVIDER_PENDING};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Cluster the node belongs to.
    pub cluster: String,
    /// Node to remove, e.g. `compute002`.
    pub node: String,
    /// Do not run the setup afterwards.
    #[arg(long = "no-setup")]
    pub no_setup: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let storage = ctx.storage()?;
    let _lock = storage.lock(&args.cluster)?;
    let state = ctx.cluster(&storage, &args.cluster)?;
    let node = super::ssh::target(&state, Some(&args.node))?;
    Err(CliError::NotAvailable {
        command: "remove-node",
        message: format!(
            "cannot remove node `{}` of cluster `{}`: {PROVIDER_PENDING}",
            node.name, state.name
        ),
    })
}
