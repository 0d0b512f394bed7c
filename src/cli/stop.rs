//! `elasticluster stop NAME [--force] [--yes] [--wait]`.

use std::io::IsTerminal;
use std::sync::Arc;

use super::start::fail;
use super::{confirm, CliError, Context};
use crate::cluster::ledger::StateLedger;
use crate::cluster::{self, ops};
use crate::progress::Progress;
use crate::providers::{self, Ledger};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Cluster to destroy.
    pub cluster: String,
    /// Also delete cloud resources that carry the cluster's naming pattern (base_name)
    /// but are missing from its state, e.g. after the state file was lost or edited.
    #[arg(long)]
    pub force: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Wait until every resource is gone (always the case: stop returns only when Azure
    /// has confirmed each deletion; accepted for compatibility).
    #[arg(long)]
    pub wait: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let storage = ctx.storage()?;
    let _lock = storage.lock(&args.cluster)?;
    let mut state = ctx.cluster(&storage, &args.cluster)?;
    let name = state.name.clone();
    let sandbox = crate::sandbox::of_state(&state);
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(CliError::Usage(format!(
                "stop deletes cluster `{name}` and all its cloud resources: confirm with --yes when not on a terminal"
            )));
        }
        if !confirm(&format!(
            "Do you really want to stop cluster `{name}` ({} nodes, {} cloud resources)?",
            state.nodes.len(),
            state.resources.len()
        )) {
            return Err(CliError::Failed("aborted: nothing was deleted".into()));
        }
    }
    let local_files = vec![
        storage.known_hosts_path(&name),
        storage.inventory_path(&name),
    ];
    if crate::sandbox::ensure_for_state(&mut state, &mut |l| eprintln!("sandbox: {l}"))
        .map_err(fail)?
    {
        storage.save(&state)?;
    }
    let Some(provider) = providers::from_snapshot(&state.provider).map_err(fail)? else {
        if state.resources.is_empty() {
            storage.remove(&name)?;
            eprintln!("Cluster `{name}` had no cloud resources; its state was removed.");
            return Ok(());
        }
        return Err(fail(format!(
            "cluster `{name}` lists cloud resources but no provider settings; cannot delete them"
        )));
    };
    let ledger = Arc::new(StateLedger::new(storage.clone(), state));
    let progress = Progress::new(ctx.verbosity == 0);
    let rt = ops::runtime().map_err(fail)?;
    let out = rt
        .block_on(cluster::stop::stop(
            provider.as_ref(),
            ledger.clone() as Arc<dyn Ledger>,
            &cluster::stop::StopRequest {
                force: args.force,
                local_files,
            },
            &progress,
        ))
        .map_err(|e| fail(format!("cluster `{name}`: {e}")))?;
    if out.clean {
        storage.remove(&name)?;
        eprintln!(
            "Cluster `{name}` deleted ({} cloud resources).",
            out.report.deleted.len()
        );
        if let Some(sb) = sandbox {
            stop_unused_sandbox(&storage, &sb);
        }
        return Ok(());
    }
    // Keep the survivors (and the nodes whose VMs still exist) in the state.
    let vms: Vec<String> = ledger
        .resources()
        .iter()
        .filter(|r| r.kind == "vm")
        .filter_map(|r| r.attr("node").map(str::to_string))
        .collect();
    ledger
        .update(|s| s.nodes.retain(|n| vms.contains(&n.name)))
        .map_err(fail)?;
    let mut msg =
        format!("cluster `{name}`: not everything could be deleted; the state keeps what remains:");
    for (what, why) in &out.report.remaining {
        msg.push_str(&format!("\n  {what}: {why}"));
    }
    msg.push_str(&format!("\nRe-run `elasticluster stop {name}` to retry."));
    Err(CliError::Failed(msg))
}

/// The last cluster of a sandbox is gone: stop its emulator (which stops its VMs).
fn stop_unused_sandbox(storage: &crate::storage::Storage, sb: &crate::sandbox::Sandbox) {
    let in_use = storage.list().unwrap_or_default().iter().any(|other| {
        storage
            .load(other)
            .ok()
            .flatten()
            .and_then(|st| crate::sandbox::of_state(&st))
            .is_some_and(|o| o.dir() == sb.dir())
    });
    if in_use {
        return;
    }
    match sb.stop() {
        Ok(true) => eprintln!("Stopped the sandbox emulator (no sandbox cluster left)."),
        Ok(false) => {}
        Err(e) => eprintln!("warning: could not stop the sandbox emulator: {e}"),
    }
}
