//! Glue between the stored cluster state and the lifecycle: node requests from the state,
//! node facts back into it, and the async runtime the commands run on.
//!
//! Cloud-agnostic: providers come from `providers::from_snapshot`.

use std::collections::BTreeSet;

use crate::cluster::{ClusterState, NodeStatus};
use crate::providers::{NodeInfo, NodePhase, NodeRequest};

/// What the provider must create for the state's nodes.
pub fn node_requests(state: &ClusterState) -> Vec<NodeRequest> {
    state
        .nodes
        .iter()
        .map(|n| NodeRequest {
            name: n.name.clone(),
            kind: n.kind.clone(),
            image_id: n.image_id.clone(),
            flavor: n.flavor.clone(),
            image_user: n.image_user.clone(),
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
        n.instance_id = Some(i.instance_id.clone());
        if let (Some(h), Some(p)) = (&i.ssh_host, i.ssh_port) {
            let a = addr(h, p);
            n.preferred_ip = Some(a.clone());
            n.ips = vec![a];
        }
        if i.private_ip.is_some() {
            n.private_ip = i.private_ip.clone();
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

/// A multi-threaded runtime for one command.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
}

/// `ELASTICLUSTER_SKIP_SSH_WAIT=1`: do not probe SSH (only for clouds where nothing
/// listens, e.g. the emulator's API-only backend in tests and benchmarks).
pub const SKIP_SSH_ENV: &str = "ELASTICLUSTER_SKIP_SSH_WAIT";

pub fn skip_ssh_wait() -> bool {
    std::env::var(SKIP_SSH_ENV).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("yes"))
}

/// `ELASTICLUSTER_TIME_SCALE` (tests/benchmarks against an emulator with `--time-scale`):
/// multiplies the lifecycle's poll intervals. 1.0 when unset or invalid.
pub fn time_scale() -> f64 {
    std::env::var("ELASTICLUSTER_TIME_SCALE")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|f| f.is_finite() && *f > 0.0)
        .unwrap_or(1.0)
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
