//! Taking nodes out of a running cluster (`remove-node`, `resize -r`): drain them (see
//! `drain`), then — the point of no return, written to the state by marking them `deleting`
//! — delete their VMs and forget them and their host keys. A removal cut short after that
//! point is finished by the next `start`, `setup`, `resize` or `remove-node`
//! ([`finish_removals`]); `stop` deletes everything anyway.
//!
//! Speaks to the cloud only through the provider door and to the scheduler only through
//! `drain`.

use std::collections::{BTreeMap, BTreeSet};

use super::drain::{drain_nodes, DrainPolicy};
use crate::cluster::nodes::forget_host_key;
use crate::cluster::session::Session;
use crate::cluster::state::{NodeRecord, NodeStatus};
use crate::cluster::OpsError;
use crate::config::Setup;
use crate::providers::NodePhase;
use crate::report::Reporter;

/// Drain `leaving` (per `policy`), then delete their VMs and forget them.
pub(super) fn remove_nodes(
    session: &Session,
    setup: &Setup,
    leaving: &[NodeRecord],
    policy: DrainPolicy,
    report: &Reporter,
) -> Result<(), OpsError> {
    let name = session.name();
    let infos = session
        .block_on(session.provider.nodes(session.ledger()))
        .map_err(OpsError::cloud(&name))?;
    let not_running: BTreeMap<String, String> = leaving
        .iter()
        .filter_map(|n| match infos.iter().find(|i| i.name == n.name) {
            Some(i) if i.phase == NodePhase::Running => None,
            Some(i) => Some((n.name.clone(), i.cloud_status.clone())),
            None => Some((n.name.clone(), "no VM".to_string())),
        })
        .collect();
    drain_nodes(
        &session.state(),
        setup,
        &session.known_hosts(),
        leaving,
        &not_running,
        policy,
        report,
    )?;
    let names: BTreeSet<&str> = leaving.iter().map(|n| n.name.as_str()).collect();
    session.update(|s| {
        for n in s
            .nodes
            .iter_mut()
            .filter(|n| names.contains(n.name.as_str()))
        {
            n.status = NodeStatus::Deleting;
        }
    })?;
    finish_removals(session, false, report)?;
    Ok(())
}

/// Delete the VMs of the nodes marked `deleting` — drained already, their removal confirmed
/// — and forget them; `interrupted`: they were left by an earlier command. Returns their
/// names.
pub(super) fn finish_removals(
    session: &Session,
    interrupted: bool,
    report: &Reporter,
) -> Result<Vec<String>, OpsError> {
    let st = session.state();
    let leaving: Vec<NodeRecord> = st
        .nodes
        .iter()
        .filter(|n| n.status == NodeStatus::Deleting)
        .cloned()
        .collect();
    if leaving.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<String> = leaving.iter().map(|n| n.name.clone()).collect();
    if interrupted {
        report.say(&format!(
            "Finishing the removal of {} from cluster `{}` (an earlier command was interrupted).",
            names.join(", "),
            st.name
        ));
    }
    session
        .block_on(session.provider.delete_nodes(&names, session.ledger()))
        .map_err(OpsError::cloud(&st.name))?;
    let known_hosts = session.known_hosts();
    for n in &leaving {
        forget_host_key(&known_hosts, n.preferred_ip.as_deref());
        report.node("node", &n.name, "deleted", None);
    }
    session.update(|s| {
        s.retire(names.iter().map(String::as_str));
        s.nodes.retain(|n| !names.contains(&n.name));
    })?;
    report.say(&format!(
        "Deleted the VM{} of {} (cluster `{}`).",
        if names.len() == 1 { "" } else { "s" },
        names.join(", "),
        st.name
    ));
    Ok(names)
}
