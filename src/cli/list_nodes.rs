//! `elasticluster list-nodes NAME [--json | --pretty-json] [-u]`.

use super::{CliError, Context};

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

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let storage = ctx.storage()?;
    let state = ctx.cluster(&storage, &args.cluster)?;
    if args.update {
        return Err(CliError::NotAvailable {
            command: "list-nodes",
            message: format!(
                "cannot refresh cluster `{}` (-u): the Azure classic provider is not part of this build yet; run without -u to see the stored state",
                state.name
            ),
        });
    }
    let view = state.view();
    let json = if args.pretty_json {
        Some(serde_json::to_string_pretty(&view))
    } else if args.json {
        Some(serde_json::to_string(&view))
    } else {
        None
    };
    match json {
        Some(j) => println!(
            "{}",
            j.map_err(|e| CliError::Failed(format!("cannot encode JSON: {e}")))?
        ),
        None => print!("{}", state.nodes_listing()),
    }
    Ok(())
}
