//! `stop`: delete every cloud resource of a cluster, then — only when nothing is left — its
//! local files; otherwise keep in the state what remains and say why.

use super::{ask, Confirm};
use crate::cluster::tear_down::{tear_down, StopRequest};
use crate::cluster::{OpsError, Session, Workspace};
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
    let session = locked.open()?;
    if opts.force {
        adopt_what_is_ours(&session)?;
    }
    let request = StopRequest {
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

/// `--force`: record in the ledger what the cloud has under the cluster's names carrying its
/// owner id; name (and leave alone) what carries another.
fn adopt_what_is_ours(session: &Session) -> Result<(), OpsError> {
    let name = session.name();
    let owner = session.state().owner_id;
    let found = session
        .block_on(session.provider.discover())
        .map_err(OpsError::cloud(&name))?;
    let known = session.ledger.resources();
    let mut adopt = Vec::new();
    for d in found {
        if known.iter().any(|k| k.same(&d.resource)) {
            continue;
        }
        if d.owner.is_some() && d.owner == owner {
            adopt.push(d.resource);
        } else {
            eprintln!(
                "Leaving {} alone: it is not this cluster's ({}).",
                d.label,
                d.owner
                    .map(|o| format!("owner id {o}"))
                    .unwrap_or_else(|| "no owner id".into())
            );
        }
    }
    if !adopt.is_empty() {
        eprintln!(
            "--force: also deleting {} resources of this cluster its state had lost.",
            adopt.len()
        );
        session.ledger.record(&adopt).map_err(OpsError::failed)?;
    }
    Ok(())
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
