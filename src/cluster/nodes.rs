//! Glue between the stored cluster state and the cloud: node requests from the state, the
//! cloud's node facts back into it, and forgetting a deleted node's host key.
//!
//! Cloud-agnostic: it speaks only the provider door's neutral types.

use std::collections::BTreeSet;

use super::state::{ClusterState, NodeStatus};
use crate::providers::{NodeInfo, NodePhase, NodeRequest};

/// What the provider must create for the state's nodes (not those being removed); the
/// frontend (see [`ClusterState::frontend`]) is the entry node.
pub fn node_requests(state: &ClusterState) -> Vec<NodeRequest> {
    let entry = state.frontend().ok().map(|n| n.name.clone());
    state
        .nodes
        .iter()
        .filter(|n| n.status != NodeStatus::Deleting)
        .map(|n| NodeRequest {
            name: n.name.clone(),
            kind: n.kind.clone(),
            image_id: n.image_id.clone(),
            flavor: n.flavor.clone(),
            image_user: n.image_user.clone(),
            image_userdata: n.image_userdata.clone(),
            entry: entry.as_deref() == Some(n.name.as_str()),
        })
        .collect()
}

fn addr(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Copy the provider's view into the state. `reachable` names nodes that answered SSH.
pub fn apply_node_infos(
    state: &mut ClusterState,
    infos: &[NodeInfo],
    reachable: &BTreeSet<String>,
) {
    for i in infos {
        let Some(n) = state.nodes.iter_mut().find(|n| n.name == i.name) else {
            continue;
        };
        // A node being removed stays marked so until it is gone.
        if n.status == NodeStatus::Deleting {
            continue;
        }
        n.instance_id = Some(i.instance_id.clone());
        if let (Some(h), Some(p)) = (&i.ssh_host, i.ssh_port) {
            let a = addr(h, p);
            n.preferred_ip = Some(a.clone());
            n.ips = vec![a];
        }
        if i.private_ip.is_some() {
            n.private_ip = i.private_ip.clone();
        }
        if i.ssh_host.is_some() {
            n.via = i.via.clone();
        }
        n.status = match &i.phase {
            NodePhase::Running if reachable.contains(&i.name) => NodeStatus::Reachable,
            NodePhase::Running => NodeStatus::Running,
            NodePhase::Booting(_) => NodeStatus::Created,
            NodePhase::Creating => NodeStatus::Creating,
            NodePhase::Failed(_) | NodePhase::Gone => NodeStatus::Failed,
        };
    }
}

/// Remove a deleted node's host key from the cluster's known_hosts, so it cannot vouch for
/// whatever gets that address next. Problems are only logged.
pub fn forget_host_key(known_hosts: &std::path::Path, preferred_ip: Option<&str>) {
    let Some((host, port)) = preferred_ip.and_then(|a| crate::ssh::split_address(a).ok()) else {
        return;
    };
    match crate::ssh::KnownHosts::load(known_hosts) {
        Ok(mut kh) => {
            kh.remove(&host, port);
            if let Err(e) = kh.save() {
                tracing::warn!("{e}");
            }
        }
        Err(e) => tracing::warn!("{e}"),
    }
}
