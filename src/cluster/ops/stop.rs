//! `stop`: delete every cloud resource of a cluster, then — only when nothing is left — its
//! local files; otherwise keep in the state what remains and say why. With `--force`, also
//! what the cloud has under the cluster's names carrying its owner id; without a state
//! file at all, `stop_lost` finds the resources from the template.

use super::start::finish;
use super::{ask, stop_lost, Confirm};
use crate::cluster::tear_down::{tear_down, StopRequest};
use crate::cluster::{OpsError, Session, Workspace};
use crate::providers::{self, Ledger};
use crate::report::Reporter;

#[derive(Debug, Clone, Default)]
pub struct StopOptions {
    pub cluster: String,
    /// Also delete cloud resources under the cluster's names carrying its owner id; without
    /// a state file, everything under the template's names (after confirmation).
    pub force: bool,
    /// With `force` and no state file: look for this `base_name` instead of the template's.
    pub base_name: Option<String>,
    /// Report as JSON events on stdout.
    pub json_events: bool,
}

pub fn stop(ws: &Workspace, opts: StopOptions, confirm: Confirm<'_>) -> Result<(), OpsError> {
    let report = ws.reporter(opts.json_events).for_cluster(&opts.cluster);
    report.phase("stop", "running", None);
    let result = stop_cluster(ws, &opts, confirm, &report);
    finish(&report, "stop", &result);
    result
}

fn stop_cluster(
    ws: &Workspace,
    opts: &StopOptions,
    confirm: Confirm<'_>,
    report: &Reporter,
) -> Result<(), OpsError> {
    let locked = match ws.lock_maybe(&opts.cluster)? {
        Ok(locked) => locked,
        Err((storage, lock)) if opts.force => {
            return stop_lost::stop_without_state(ws, opts, &storage, lock, confirm, report)
        }
        Err((storage, _)) => {
            return Err(OpsError::Failed(format!(
                "no cluster named `{}` in {} — `elasticluster list` shows the clusters there; if its state file was lost, `elasticluster stop {} --force` finds its cloud resources from the template's names",
                opts.cluster,
                storage.dir().display(),
                opts.cluster
            )))
        }
    };
    if opts.base_name.is_some() {
        return Err(OpsError::Usage(format!(
            "--base-name is for a cluster whose state file is lost; cluster `{}` has one: run `elasticluster stop {}` without it",
            opts.cluster, opts.cluster
        )));
    }
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
            report.say(&format!(
                "Cluster `{name}` had no cloud resources; its state was removed."
            ));
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
        report.say(&format!(
            "Cluster `{name}` had no cloud resources; its state was removed."
        ));
        release(&storage, &settings, report);
        return Ok(());
    }
    let session = locked.open()?;
    if opts.force {
        adopt_what_is_ours(&session, report)?;
    }
    let request = StopRequest {
        local_files: vec![
            storage.known_hosts_path(&name),
            storage.inventory_path(&name),
        ],
        report: report.clone(),
    };
    let out = session
        .block_on(tear_down(
            session.provider.as_ref(),
            session.ledger(),
            &request,
            &ws.progress(),
        ))
        .map_err(OpsError::cloud(&name))?;
    for (what, owner) in &out.report.left_alone {
        report.say(&format!(
            "Left {what} alone: it is not this cluster's ({owner})."
        ));
    }
    if out.clean {
        let settings = session.state().provider;
        session.into_locked().remove()?;
        report.say(&format!(
            "Cluster `{name}` deleted ({} cloud resources).",
            out.report.deleted.len()
        ));
        release(&storage, &settings, report);
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
fn adopt_what_is_ours(session: &Session, report: &Reporter) -> Result<(), OpsError> {
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
            report.say(&format!(
                "Leaving {} alone: it is not this cluster's ({}).",
                d.label,
                d.owner
                    .map(|o| format!("owner id {o}"))
                    .unwrap_or_else(|| "no owner id".into())
            ));
        }
    }
    if !adopt.is_empty() {
        report.say(&format!(
            "--force: also deleting {} resources of this cluster its state had lost.",
            adopt.len()
        ));
        session.ledger.record(&adopt).map_err(OpsError::failed)?;
    }
    Ok(())
}

/// The cluster is gone: let its cloud release what only it used (the sandbox emulator).
pub(super) fn release(
    storage: &crate::storage::Storage,
    settings: &toml::Table,
    report: &Reporter,
) {
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
        Ok(Some(line)) => report.say(&line),
        Ok(None) => {}
        Err(e) => report.warn(&e.to_string()),
    }
}
