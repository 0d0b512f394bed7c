//! `elasticluster list`: the clusters in the storage directory.

use super::{CliError, Context};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(ctx: &Context, _args: Args) -> Result<(), CliError> {
    let storage = ctx.storage()?;
    let names = storage.list()?;
    if names.is_empty() {
        println!("No clusters found.");
        return Ok(());
    }
    println!();
    println!("The following clusters have been started.");
    println!("Please note that there's no guarantee that they are fully configured:");
    let mut failed = 0;
    for name in names {
        match storage.load(&name) {
            Ok(Some(state)) => {
                println!();
                println!("{}", state.name);
                println!("{}", "-".repeat(state.name.chars().count()));
                println!("  name:           {}", state.name);
                if state.name != state.template {
                    println!("  template:       {}", state.template);
                }
                for k in state.kinds() {
                    println!("  - {k} nodes: {}", state.nodes_of(k).count());
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!("{e}");
                failed += 1;
            }
        }
    }
    println!();
    if failed > 0 {
        return Err(CliError::Failed(format!(
            "{failed} cluster state file(s) could not be read (see above)"
        )));
    }
    Ok(())
}
