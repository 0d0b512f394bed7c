//! `stop NAME --force` when the cluster's state file is gone — the manual portal clean-up
//! of the original, done by the tool: the template `NAME` (its `base_name` possibly
//! replaced by `--base-name`) says where to look; everything found under its names, in
//! every subscription of the template, is listed with its owner id and deleted after
//! confirmation, in the order the cloud needs. Resources carrying the owner id of a cluster
//! stored in this directory are never touched. Succeeds only when nothing is left.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::stop::{release, StopOptions};
use super::{ask, Confirm};
use crate::cluster::session::runtime;
use crate::cluster::state::ClusterState;
use crate::cluster::tear_down::{tear_down, StopRequest};
use crate::cluster::{OpsError, Workspace};
use crate::providers::{
    self, ClusterIdentity, Discovered, Ledger, MemoryLedger, OpenEnv, Registry,
};
use crate::report::Reporter;
use crate::storage::{ClusterLock, Storage};

/// How a found resource is listed: its label and owner id.
fn listed(d: &Discovered) -> String {
    format!(
        "{} ({})",
        d.label,
        d.owner
            .as_ref()
            .map(|o| format!("owner id {o}"))
            .unwrap_or_else(|| "no owner id".into())
    )
}

pub(super) fn stop_without_state(
    ws: &Workspace,
    opts: &StopOptions,
    storage: &Storage,
    _lock: ClusterLock,
    confirm: Confirm<'_>,
    report: &Reporter,
) -> Result<(), OpsError> {
    let name = opts.cluster.as_str();
    let mut config = ws.config()?;
    if let Some(b) = &opts.base_name {
        config = config.with_value(&format!("cluster/{name}"), "base_name", b, "--base-name");
    }
    let template = config.template(name, &Registry).map_err(|d| {
        let sep = if d.len() == 1 { " " } else { "\n" };
        OpsError::Failed(format!(
            "no cluster named `{name}` in {}, and `--force` needs template `{name}` to know where to look for its resources:{sep}{d}",
            storage.dir().display()
        ))
    })?;
    let identity = ClusterIdentity {
        name: name.to_string(),
        owner_id: None,
    };
    let mut on_line = |line: &str| report.say(&format!("sandbox: {line}"));
    let opened = providers::open(
        &template.cloud,
        &mut OpenEnv {
            storage_dir: storage.dir(),
            on_line: &mut on_line,
            identity: &identity,
        },
    )
    .map_err(OpsError::cloud(name))?;
    let provider = opened.provider;
    let rt = runtime().map_err(OpsError::failed)?;
    let stored = stored_owners(storage);
    let found = rt
        .block_on(provider.discover())
        .map_err(OpsError::cloud(name))?;
    let (theirs, doomed): (Vec<Discovered>, Vec<Discovered>) = found
        .into_iter()
        .partition(|d| d.owner.as_ref().is_some_and(|o| stored.contains_key(o)));
    for d in &theirs {
        let owner = d.owner.as_deref().unwrap_or_default();
        report.say(&format!(
            "Leaving {} alone: it belongs to cluster `{}` of this storage directory.",
            listed(d),
            stored.get(owner).map(String::as_str).unwrap_or("?")
        ));
    }
    if doomed.is_empty() {
        report.say(&format!(
            "No cluster `{name}` in {} and nothing under the names of template `{}` in its cloud: nothing to delete.",
            storage.dir().display(),
            template.name
        ));
        return Ok(());
    }
    let mut listing = format!(
        "Cluster `{name}` has no state file; found {} cloud resources under the names of template `{}`:",
        doomed.len(),
        template.name
    );
    for d in &doomed {
        listing.push_str("\n  ");
        listing.push_str(&listed(d));
    }
    report.print(&listing);
    ask(
        confirm,
        &format!("Delete these {} cloud resources?", doomed.len()),
        &format!(
            "stop --force would delete {} cloud resources found under the names of template `{}`",
            doomed.len(),
            template.name
        ),
        "nothing was deleted",
    )?;
    let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
    let resources: Vec<_> = doomed.iter().map(|d| d.resource.clone()).collect();
    ledger.record(&resources).map_err(OpsError::failed)?;
    let request = StopRequest {
        local_files: vec![storage.known_hosts_path(name), storage.inventory_path(name)],
        report: report.clone(),
    };
    let out = rt
        .block_on(tear_down(
            provider.as_ref(),
            ledger,
            &request,
            &ws.progress(),
        ))
        .map_err(OpsError::cloud(name))?;
    // Ask the cloud again: only what it no longer has counts as deleted.
    let left: Vec<Discovered> = rt
        .block_on(provider.discover())
        .map_err(OpsError::cloud(name))?
        .into_iter()
        .filter(|d| !d.owner.as_ref().is_some_and(|o| stored.contains_key(o)))
        .collect();
    if left.is_empty() && out.report.remaining.is_empty() {
        report.say(&format!(
            "Deleted {} cloud resources under the names of template `{}`; nothing is left.",
            doomed.len(),
            template.name
        ));
        release(storage, &opened.settings, report);
        return Ok(());
    }
    let mut msg = format!(
        "not everything under the names of template `{}` could be deleted; still there:",
        template.name
    );
    for (what, why) in &out.report.remaining {
        msg.push_str(&format!("\n  {what}: {why}"));
    }
    for d in &left {
        if !out.report.remaining.iter().any(|(w, _)| w == &d.label) {
            msg.push_str(&format!("\n  {}: still listed by the cloud", listed(d)));
        }
    }
    msg.push_str(&format!(
        "\nRe-run `elasticluster stop {name} --force` to retry."
    ));
    Err(OpsError::Failed(msg))
}

/// Owner id → name of every cluster stored in `storage`.
fn stored_owners(storage: &Storage) -> BTreeMap<String, String> {
    storage
        .list()
        .unwrap_or_default()
        .iter()
        .filter_map(|n| storage.load::<ClusterState>(n).ok().flatten())
        .filter_map(|st| st.owner_id.clone().map(|o| (o, st.name)))
        .collect()
}
