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
    let mut state = ctx.cluster(&storage, &args.cluster)?;
    let (_config, template) = ctx.template(&state.template)?;
    if crate::sandbox::ensure_for_state(&mut state, &mut |l| eprintln!("sandbox: {l}"))
        .map_err(|e| CliError::Failed(e.to_string()))?
    {
        storage.save(&state)?;
    }
    println!("Configuring cluster `{}`...", state.name);
    super::start::setup_and_report(ctx, &storage, &state, &template, &args.extra)
}
