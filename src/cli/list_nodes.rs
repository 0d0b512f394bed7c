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
    let mut state = ctx.cluster(&storage, &args.cluster)?;
    if args.update {
        state = refresh(ctx, &storage, &state.name)?;
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

/// Ask the cloud for every node's status and addresses and store them.
fn refresh(
    _ctx: &Context,
    storage: &crate::storage::Storage,
    name: &str,
) -> Result<crate::cluster::ClusterState, CliError> {
    use super::start::fail;
    use std::sync::Arc;
    let _lock = storage.lock(name)?;
    let state = storage
        .load(name)?
        .ok_or_else(|| fail(format!("cluster `{name}` disappeared")))?;
    let Some(provider) = crate::providers::from_snapshot(&state.provider).map_err(fail)? else {
        return Ok(state);
    };
    let reachable: std::collections::BTreeSet<String> = state
        .nodes
        .iter()
        .filter(|n| n.status == crate::cluster::NodeStatus::Reachable)
        .map(|n| n.name.clone())
        .collect();
    let ledger = Arc::new(crate::cluster::ledger::StateLedger::new(
        storage.clone(),
        state,
    ));
    let rt = crate::cluster::ops::runtime().map_err(fail)?;
    let infos = rt
        .block_on(provider.nodes(ledger.clone() as Arc<dyn crate::providers::Ledger>))
        .map_err(|e| fail(format!("cluster `{name}`: {e}")))?;
    ledger
        .update(|s| crate::cluster::ops::apply_node_infos(s, &infos, &reachable))
        .map_err(fail)?;
    Ok(ledger.state())
}
