//! Waiting for nodes to answer SSH during bring-up: how a node the cloud reports running is
//! reached (directly, or through the node it is reached through once that one answers),
//! probing it until it answers or the deadline passes, recording its host key, and folding
//! finished probes into the ready / failed sets.
//!
//! Knows nothing of clouds beyond `NodeInfo`; never waits past the deadline it is given and
//! never accepts a host key that contradicts one already recorded.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::StartRequest;
use crate::providers::NodeInfo;
use crate::report::Reporter;
use crate::ssh::known_hosts::KnownHosts;
use crate::ssh::{probe, probe_via, JumpHost};

pub(super) fn collect_probe(
    j: Result<(String, Result<NodeInfo, String>), tokio::task::JoinError>,
    in_probe: &mut BTreeSet<String>,
    ready: &mut BTreeMap<String, NodeInfo>,
    failed: &mut BTreeMap<String, String>,
    bar: &crate::progress::Bar,
    report: &Reporter,
) {
    match j {
        Ok((n, Ok(info))) => {
            in_probe.remove(&n);
            bar.inc(1);
            bar.set_message(n.clone());
            report.node("node", &n, "ready", None);
            info!(
                "Connection to node {n} ({}:{}) successful.",
                info.ssh_host.as_deref().unwrap_or("?"),
                info.ssh_port.unwrap_or(0)
            );
            ready.insert(n, info);
        }
        Ok((n, Err(why))) => {
            in_probe.remove(&n);
            failed.insert(n, why);
        }
        Err(e) => warn!("SSH probe task failed: {e}"),
    }
}

/// How a running node is reached for its probe.
pub(super) enum Hop {
    Direct,
    Through(JumpHost),
    /// Its jump host does not answer yet.
    NotYet,
    /// Its jump host will never answer.
    Never(String),
}

pub(super) fn jump_for(
    info: &NodeInfo,
    ready: &BTreeMap<String, NodeInfo>,
    failed: &BTreeMap<String, String>,
    all: &BTreeSet<String>,
    user: &str,
) -> Hop {
    let Some(via) = &info.via else {
        return Hop::Direct;
    };
    if let Some(j) = ready.get(via) {
        return match (&j.ssh_host, j.ssh_port) {
            (Some(host), Some(port)) if j.via.is_none() => Hop::Through(JumpHost {
                user: user.to_string(),
                host: host.clone(),
                port,
            }),
            _ => Hop::Never(format!(
                "it is reached through {via}, which has no direct SSH address"
            )),
        };
    }
    if let Some(why) = failed.get(via) {
        return Hop::Never(format!(
            "it is reached through {via}, which did not come up ({why})"
        ));
    }
    if !all.contains(via) {
        return Hop::Never(format!(
            "it is reached through {via}, which is not a node of this cluster"
        ));
    }
    Hop::NotYet
}

/// Probe one node (through `jump` when given) until it answers or the deadline passes.
pub(super) async fn probe_until(
    info: NodeInfo,
    jump: Option<JumpHost>,
    req: StartRequest,
    deadline: Instant,
    known: Arc<Mutex<KnownHosts>>,
) -> (String, Result<NodeInfo, String>) {
    let name = info.name.clone();
    let (Some(host), Some(port)) = (info.ssh_host.clone(), info.ssh_port) else {
        return (
            name,
            Err(format!(
                "the cloud reports no SSH address ({})",
                info.cloud_status
            )),
        );
    };
    let addr: SocketAddr = match (host.as_str(), port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
    {
        Some(a) => a,
        None => return (name, Err(format!("bad SSH address {host}:{port}"))),
    };
    let mut wait = Duration::from_millis(200);
    let mut last_err = String::from("no attempt made");
    while Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = req.ssh_timeout.min(left.max(Duration::from_millis(100)));
        let attempt = match &jump {
            None => {
                probe(
                    addr,
                    req.ssh_user.clone(),
                    req.ssh_private_key.clone(),
                    timeout,
                )
                .await
            }
            Some(j) => {
                probe_via(
                    addr,
                    j.clone(),
                    req.known_hosts.clone(),
                    req.ssh_user.clone(),
                    req.ssh_private_key.clone(),
                    timeout,
                )
                .await
            }
        };
        match attempt {
            Ok(key) => {
                // Saved at once: OpenSSH reads the file when a node behind this one is
                // probed through it.
                let r = match known.lock() {
                    Ok(mut k) => k
                        .check_or_add(&host, port, &key)
                        .and_then(|added| if added { k.save() } else { Ok(()) })
                        .map_err(|e| e.to_string()),
                    Err(_) => Err("known_hosts lock poisoned".into()),
                };
                return (name, r.map(|_| info));
            }
            Err(e) => last_err = e.to_string(),
        }
        tokio::time::sleep(wait.min(deadline.saturating_duration_since(Instant::now()))).await;
        wait = (wait * 3 / 2).min(Duration::from_secs(3));
    }
    (
        name,
        Err(format!(
            "SSH not reachable within startup_timeout {} s (cloud status {}; last error: {last_err})",
            req.startup_timeout.as_secs(),
            info.cloud_status
        )),
    )
}
