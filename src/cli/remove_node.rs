//! `elasticluster remove-node NAME NODE [--no-setup] [--yes]`.

use std::io::IsTerminal;
use std::sync::Arc;

use super::start::fail;
use super::{confirm, CliError, Context};
use crate::cluster::ledger::StateLedger;
use crate::cluster::ops;
use crate::providers::{self, Ledger};

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
    let node = super::ssh::target(&state, Some(&args.node))?.clone();
    let name = state.name.clone();
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(CliError::Usage(format!(
                "remove-node deletes the VM of node `{}`: confirm with --yes when not on a terminal",
                node.name
            )));
        }
        if !confirm(&format!(
            "Do you really want to remove node `{}` of cluster `{name}` and delete its VM?",
            node.name
        )) {
            return Err(CliError::Failed("aborted: nothing was deleted".into()));
        }
    }
    let provider = providers::from_snapshot(&state.provider)
        .map_err(fail)?
        .ok_or_else(|| fail(format!("cluster `{name}` has no provider settings")))?;
    let ledger = Arc::new(StateLedger::new(storage.clone(), state));
    let rt = ops::runtime().map_err(fail)?;
    rt.block_on(provider.delete_nodes(
        std::slice::from_ref(&node.name),
        ledger.clone() as Arc<dyn Ledger>,
    ))
    .map_err(|e| fail(format!("cluster `{name}`: node `{}`: {e}", node.name)))?;
    ledger
        .update(|s| s.nodes.retain(|n| n.name != node.name))
        .map_err(fail)?;
    // Its host key must not vouch for whatever gets that address next.
    if let Some((host, port)) = node.preferred_ip.as_deref().and_then(split_host_port) {
        let kh_path = storage.known_hosts_path(&name);
        if let Ok(mut kh) = crate::ssh::KnownHosts::load(&kh_path) {
            kh.remove(&host, port);
            if let Err(e) = kh.save() {
                tracing::warn!("{e}");
            }
        }
    }
    eprintln!("Node `{}` of cluster `{name}` removed.", node.name);
    if !args.no_setup {
        eprintln!("Run `elasticluster setup {name}` to reconfigure the remaining nodes.");
    }
    Ok(())
}

fn split_host_port(a: &str) -> Option<(String, u16)> {
    if let Some(rest) = a.strip_prefix('[') {
        let (h, p) = rest.split_once("]:")?;
        return Some((h.to_string(), p.parse().ok()?));
    }
    match a.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((a.to_string(), 22)),
    }
}
