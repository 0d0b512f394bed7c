//! `elasticluster setup NAME [-- EXTRA ANSIBLE ARGS...]`.

use super::{CliError, Context};

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
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let storage = ctx.storage()?;
    let _lock = storage.lock(&args.cluster)?;
    let state = ctx.cluster(&storage, &args.cluster)?;
    let (_config, _template) = ctx.template(&state.template)?;
    Err(CliError::NotAvailable {
        command: "setup",
        message: format!(
            "cannot set up cluster `{}`: the Ansible setup is not part of this build yet; nothing was changed",
            state.name
        ),
    })
}
