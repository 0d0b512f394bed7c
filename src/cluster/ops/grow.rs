//! Creating the nodes a state still needs (for `start` and `resize -a`, and to complete what
//! an interrupted one left half made) and recording what the cloud says about every node
//! afterwards, whatever happened: nodes the cloud dropped are forgotten, so a later command
//! resumes the same set.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::cluster::bring_up::{self, skip_ssh_wait, time_scale, StartOutcome, StartRequest};
use crate::cluster::nodes::{apply_node_infos, node_requests};
use crate::cluster::session::Session;
use crate::cluster::state::NodeStatus;
use crate::cluster::OpsError;
use crate::config::ClusterTemplate;
use crate::progress::Progress;
use crate::report::Reporter;

/// Bring up what the session's state still lacks; `verb` starts the first line
/// ("Starting", "Resizing").
pub(super) fn create_nodes(
    session: &Session,
    template: &ClusterTemplate,
    progress: &Progress,
    verb: &str,
    report: &Reporter,
) -> Result<StartOutcome, OpsError> {
    let st = session.state();
    let name = st.name.clone();
    let min_nodes: BTreeMap<String, usize> = template
        .kinds_in_order()
        .map(|(k, v)| (k.to_string(), v.min as usize))
        .collect();
    let counts: Vec<String> = st
        .kinds()
        .iter()
        .map(|k| format!("{} {k}", st.nodes_of(k).count()))
        .collect();
    report.say(&format!(
        "{verb} cluster `{name}` with {} nodes ({}).",
        st.nodes.len(),
        counts.join(", ")
    ));
    let req = StartRequest {
        nodes: node_requests(&st),
        min_nodes,
        ssh_user: st.login.image_user.clone(),
        ssh_private_key: st.login.user_key_private.clone(),
        known_hosts: session.known_hosts(),
        startup_timeout: Duration::from_secs(template.startup_timeout.max(1)),
        probe_ssh: !skip_ssh_wait(),
        poll_interval: Duration::from_secs(2)
            .mul_f64(time_scale())
            .max(Duration::from_millis(20)),
        ssh_timeout: Duration::from_secs(10),
        report: report.clone(),
    };
    let provider = session.provider.clone();
    let outcome = session.block_on(bring_up::bring_up(
        provider.as_ref(),
        session.ledger(),
        &req,
        progress,
    ));
    // Whatever happened, record what the cloud says about the nodes now.
    let infos = session
        .block_on(provider.nodes(session.ledger()))
        .unwrap_or_default();
    let reachable: BTreeSet<String> = match &outcome {
        Ok(o) if req.probe_ssh => o.ready.iter().map(|n| n.name.clone()).collect(),
        _ => BTreeSet::new(),
    };
    // Before any plan, the provider knows nothing: then keep every node.
    let known: BTreeSet<String> = infos.iter().map(|i| i.name.clone()).collect();
    session.update(|s| {
        apply_node_infos(s, &infos, &reachable);
        if !known.is_empty() {
            s.nodes.retain(|n| known.contains(&n.name));
        }
    })?;
    let out = outcome.map_err(|e| OpsError::Failed(format!("cluster `{name}`: {e}")))?;
    for (n, why) in &out.dropped {
        report.warn(&format!("node {n} was removed: {why}"));
    }
    Ok(out)
}

/// Bring up the nodes an interrupted `start` or `resize -a` left half made (no address
/// yet, not running), so the setup can reach every node. Nothing happens when all are up.
pub(super) fn complete_additions(
    session: &Session,
    template: &ClusterTemplate,
    progress: &Progress,
    verb: &str,
    report: &Reporter,
) -> Result<(), OpsError> {
    let st = session.state();
    let pending = st.nodes.iter().any(|n| {
        n.status != NodeStatus::Deleting
            && (n.preferred_ip.is_none()
                || !matches!(n.status, NodeStatus::Running | NodeStatus::Reachable))
    });
    if pending {
        create_nodes(session, template, progress, verb, report)?;
    }
    Ok(())
}
