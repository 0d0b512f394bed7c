//! `stop`: delete every cloud resource of a cluster, then — only when nothing is left — its
//! local files; otherwise keep in the state what remains and say why.

use super::{ask, Confirm};
use crate::cluster::tear_down::{tear_down, StopRequest};
use crate::cluster::{OpsError, Workspace};
use crate::providers::{self, Ledger};

#[derive(Debug, Clone, Default)]
pub struct StopOptions {
    pub cluster: String,
    /// Also delete cloud resources carrying the cluster's naming pattern.
    pub force: bool,
}

pub fn stop(ws: &Workspace, opts: StopOptions, confirm: Confirm<'_>) -> Result<(), OpsError> {
    let locked = ws.lock(&opts.cluster)?;
    let name = locked.name().to_string();
    ask(
        confirm,
        &format!(
            "Do you really want to stop cluster `{name}` ({} nodes, {} cloud resources)?",
            locked.state.nodes.len(),
            locked.state.resources.len()
        ),
        &format!("stop deletes cluster `{name}` and all its cloud resources"),
        "nothing was deleted",
    )?;
    if locked.state.provider.is_empty() {
        if locked.state.resources.is_empty() {
            locked.remove()?;
            eprintln!("Cluster `{name}` had no cloud resources; its state was removed.");
            return Ok(());
        }
        return Err(OpsError::Failed(format!(
            "cluster `{name}` lists cloud resources but no cloud settings; cannot delete them"
        )));
    }
    let storage = locked.storage.clone();
    if locked.state.resources.is_empty() && !opts.force {
        // Nothing was ever sent to the cloud (every resource is recorded before its create
        // request): nothing to delete there, and no need to reach it.
        let settings = locked.state.provider.clone();
        locked.remove()?;
        eprintln!("Cluster `{name}` had no cloud resources; its state was removed.");
        release(&storage, &settings);
        return Ok(());
    }
    let session = locked.open()?;
    let request = StopRequest {
        force: opts.force,
        local_files: vec![
            storage.known_hosts_path(&name),
            storage.inventory_path(&name),
        ],
    };
    let out = session
        .block_on(tear_down(
            session.provider.as_ref(),
            session.ledger(),
            &request,
            &ws.progress(),
        ))
        .map_err(OpsError::cloud(&name))?;
    if out.clean {
        let settings = session.state().provider;
        session.into_locked().remove()?;
        eprintln!(
            "Cluster `{name}` deleted ({} cloud resources).",
            out.report.deleted.len()
        );
        release(&storage, &settings);
        return Ok(());
    }
    // Keep the survivors (and the nodes whose VMs still exist) in the state.
    let vms: Vec<String> = session
        .ledger
        .resources()
        .iter()
        .filter_map(|r| r.node().map(str::to_string))
        .collect();
    session.update(|s| s.nodes.retain(|n| vms.contains(&n.name)))?;
    let mut msg =
        format!("cluster `{name}`: not everything could be deleted; the state keeps what remains:");
    for (what, why) in &out.report.remaining {
        msg.push_str(&format!("\n  {what}: {why}"));
    }
    msg.push_str(&format!("\nRe-run `elasticluster stop {name}` to retry."));
    Err(OpsError::Failed(msg))
}

/// The cluster is gone: let its cloud release what only it used (the sandbox emulator).
fn release(storage: &crate::storage::Storage, settings: &toml::Table) {
    let others: Vec<toml::Table> = storage
        .list()
        .unwrap_or_default()
        .iter()
        .filter_map(|other| {
            storage
                .load::<crate::cluster::ClusterState>(other)
                .ok()
                .flatten()
        })
        .map(|st| st.provider)
        .collect();
    match providers::release(settings, &others) {
        Ok(Some(line)) => eprintln!("{line}"),
        Ok(None) => {}
        Err(e) => eprintln!("warning: {e}"),
    }
}
