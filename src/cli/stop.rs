//! `elasticluster stop NAME [--force] [--yes] [--wait]`.

use super::{CliError, Context, PROVIDER_PENDING};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Cluster to destroy.
    pub cluster: String,
    /// Forget the cluster even if some resources could not be deleted.
    #[arg(long)]
    pub force: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Wait until every resource is gone.
    #[arg(long)]
    pub wait: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let storage = ctx.storage()?;
    let _lock = storage.lock(&args.cluster)?;
    let state = ctx.cluster(&storage, &args.cluster)?;
    Err(CliError::NotAvailable {
        command: "stop",
        message: format!(
            "cannot delete the {} nodes and {} resources of cluster `{}`: {PROVIDER_PENDING}",
            state.nodes.len(),
            state.resources.len(),
            state.name
        ),
    })
}
