//! Bringing nodes up (for `start` and `resize -a`): plan → create → wait for the cloud to
//! report each VM running → probe SSH on every node concurrently (recording host keys; a
//! node the cloud reports as reached through another is probed through it once that one
//! answers; `ssh_wait`) → drop what never came up → check minimums.
//!
//! Talks to the cloud only through `CloudProvider`; knows no cloud and nothing of Ansible.
//! Never waits longer than `startup_timeout` in total, and never leaves a VM it gave up on
//! running (it is deleted).

mod ssh_wait;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::progress::Progress;
use crate::providers::{
    CloudProvider, Events, Ledger, NodeInfo, NodePhase, NodeRequest, ProviderError, ProviderEvent,
};
use crate::report::{Event, Reporter};
use crate::ssh::known_hosts::{KnownHosts, KnownHostsError};
use ssh_wait::{collect_probe, jump_for, probe_until, Hop};

/// What `start` needs, already resolved from the configuration.
#[derive(Clone, Debug)]
pub struct StartRequest {
    pub nodes: Vec<NodeRequest>,
    /// Minimum per kind; kinds not listed need all their nodes.
    pub min_nodes: BTreeMap<String, usize>,
    pub ssh_user: String,
    pub ssh_private_key: PathBuf,
    pub known_hosts: PathBuf,
    pub startup_timeout: Duration,
    /// `false` only against cloud back-ends where nothing listens (API-only emulator).
    pub probe_ssh: bool,
    /// Interval between status polls.
    pub poll_interval: Duration,
    /// Per-attempt SSH timeout.
    pub ssh_timeout: Duration,
    /// Where resource, VM and node events go (`--json-events`).
    pub report: Reporter,
}

#[derive(Clone, Debug, Default)]
pub struct StartOutcome {
    /// Nodes that are up (and answer SSH when probing).
    pub ready: Vec<NodeInfo>,
    /// `(node, why)` for nodes that were dropped and deleted.
    pub dropped: Vec<(String, String)>,
    pub plan_lines: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    KnownHosts(#[from] KnownHostsError),
    #[error("not enough `{kind}` nodes came up: {have} of the minimum {min} ({details}); the VMs that did come up are still running — run `elasticluster stop` to delete them, or lower `{kind}_nodes_min`")]
    BelowMinimum {
        kind: String,
        have: usize,
        min: usize,
        details: String,
    },
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

/// Run the whole start sequence.
pub async fn bring_up(
    provider: &dyn CloudProvider,
    ledger: Arc<dyn Ledger>,
    req: &StartRequest,
    progress: &Progress,
) -> Result<StartOutcome, StartError> {
    let started = Instant::now();
    let deadline = started + req.startup_timeout;
    let summary = provider.plan(&req.nodes, ledger.clone()).await?;
    for l in &summary.lines {
        info!("{l}");
        req.report.event(Event {
            event: "plan".into(),
            status: "planned".into(),
            message: Some(l.clone()),
            ..Event::default()
        });
    }
    let res_bar = progress.bar("resources", 0);
    let vm_bar = progress.bar("VMs", req.nodes.len() as u64);
    let events: Events = {
        let res_bar = res_bar.clone();
        let vm_bar = vm_bar.clone();
        let report = req.report.clone();
        Arc::new(move |e| match e {
            ProviderEvent::Planned { resources, .. } => res_bar.set_length(resources as u64),
            ProviderEvent::ResourceDone { kind, name } => {
                res_bar.inc(1);
                let what = format!("{kind} {name}");
                report.resource("resource", &what, "created", None);
                res_bar.set_message(what);
            }
            ProviderEvent::VmCreated { node, group } => {
                vm_bar.inc(1);
                report.event(Event {
                    event: "vm".into(),
                    node: Some(node.clone()),
                    resource: Some(group.clone()),
                    status: "created".into(),
                    ..Event::default()
                });
                vm_bar.set_message(format!("{node} in {group}"));
            }
            ProviderEvent::VmFailed { node, error } => {
                vm_bar.inc(1);
                report.node("vm", &node, "failed", Some(&error));
                warn!("VM {node} could not be created: {error}");
            }
            ProviderEvent::Deleted { .. } => {}
        })
    };
    let created = provider.create(ledger.clone(), events).await?;
    res_bar.finish("done");
    vm_bar.finish("created");
    let mut failed: BTreeMap<String, String> = created
        .into_iter()
        .filter_map(|(n, r)| r.err().map(|e| (n, e)))
        .collect();

    // Wait for the cloud to say "running", probing SSH as soon as each node is.
    let ssh_bar = progress.bar(
        if req.probe_ssh { "SSH" } else { "running" },
        req.nodes.len() as u64,
    );
    let known = Arc::new(Mutex::new(KnownHosts::load(&req.known_hosts)?));
    let mut probing: JoinSet<(String, Result<NodeInfo, String>)> = JoinSet::new();
    let mut in_probe: BTreeSet<String> = BTreeSet::new();
    let mut ready: BTreeMap<String, NodeInfo> = BTreeMap::new();
    let mut last: BTreeMap<String, NodeInfo> = BTreeMap::new();
    let all: BTreeSet<String> = req.nodes.iter().map(|n| n.name.clone()).collect();
    loop {
        let infos = provider.nodes(ledger.clone()).await?;
        for i in infos {
            if failed.contains_key(&i.name)
                || ready.contains_key(&i.name)
                || in_probe.contains(&i.name)
            {
                continue;
            }
            match &i.phase {
                NodePhase::Running => {
                    if req.probe_ssh {
                        let jump = match jump_for(&i, &ready, &failed, &all, &req.ssh_user) {
                            Hop::Direct => None,
                            Hop::Through(j) => Some(j),
                            Hop::NotYet => {
                                last.insert(i.name.clone(), i);
                                continue;
                            }
                            Hop::Never(why) => {
                                failed.insert(i.name.clone(), why);
                                last.insert(i.name.clone(), i);
                                continue;
                            }
                        };
                        in_probe.insert(i.name.clone());
                        probing.spawn(probe_until(
                            i.clone(),
                            jump,
                            req.clone(),
                            deadline,
                            known.clone(),
                        ));
                    } else {
                        ssh_bar.inc(1);
                        req.report.node("node", &i.name, "ready", None);
                        ready.insert(i.name.clone(), i.clone());
                    }
                }
                NodePhase::Failed(why) => {
                    warn!("node {} failed in the cloud: {why}", i.name);
                    failed.insert(i.name.clone(), format!("cloud status {why}"));
                }
                NodePhase::Gone => {
                    failed.insert(i.name.clone(), "its VM does not exist".into());
                }
                NodePhase::Creating | NodePhase::Booting(_) => {}
            }
            last.insert(i.name.clone(), i);
        }
        while let Some(j) = probing.try_join_next() {
            collect_probe(
                j,
                &mut in_probe,
                &mut ready,
                &mut failed,
                &ssh_bar,
                &req.report,
            );
        }
        let unresolved = all
            .iter()
            .filter(|n| {
                !failed.contains_key(*n) && !ready.contains_key(*n) && !in_probe.contains(*n)
            })
            .count();
        if unresolved == 0 || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(req.poll_interval).await;
    }
    // Remaining probes end by themselves at the deadline.
    while let Some(j) = probing.join_next().await {
        collect_probe(
            j,
            &mut in_probe,
            &mut ready,
            &mut failed,
            &ssh_bar,
            &req.report,
        );
    }
    if let Ok(k) = known.lock() {
        k.save()?;
    }
    for n in &all {
        if !ready.contains_key(n) && !failed.contains_key(n) {
            let status = last
                .get(n)
                .map(|i| i.cloud_status.clone())
                .unwrap_or_else(|| "unknown".into());
            failed.insert(
                n.clone(),
                format!(
                    "not up within startup_timeout {} s (cloud status {status})",
                    req.startup_timeout.as_secs()
                ),
            );
        }
    }
    ssh_bar.finish(format!("{} up, {} dropped", ready.len(), failed.len()));
    let dropped: Vec<(String, String)> = failed.into_iter().collect();
    if !dropped.is_empty() {
        let names: Vec<String> = dropped.iter().map(|(n, _)| n.clone()).collect();
        for (n, why) in &dropped {
            warn!("dropping node {n}: {why}");
            req.report.node("node", n, "dropped", Some(why));
        }
        provider.delete_nodes(&names, ledger.clone()).await?;
    }
    // Minimums per kind.
    let mut by_kind: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for n in &req.nodes {
        let e = by_kind.entry(n.kind.as_str()).or_default();
        e.1 += 1;
        if ready.contains_key(&n.name) {
            e.0 += 1;
        }
    }
    for (kind, (have, want)) in by_kind {
        let min = req.min_nodes.get(kind).copied().unwrap_or(want);
        if have < min {
            let details = dropped
                .iter()
                .filter(|(n, _)| req.nodes.iter().any(|r| &r.name == n && r.kind == kind))
                .map(|(n, why)| format!("{n}: {why}"))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(StartError::BelowMinimum {
                kind: kind.to_string(),
                have,
                min,
                details,
            });
        }
    }
    Ok(StartOutcome {
        ready: req
            .nodes
            .iter()
            .filter_map(|n| ready.get(&n.name).cloned())
            .collect(),
        dropped,
        plan_lines: summary.lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{MemoryLedger, PlanSummary, Resource, TeardownOptions, TeardownReport};
    use async_trait::async_trait;

    /// A cloud where listed nodes fail; the others are running at once.
    struct Fake {
        failing: Vec<String>,
        deleted: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl CloudProvider for Fake {
        async fn preflight(
            &self,
            _n: &[NodeRequest],
            _l: Arc<dyn Ledger>,
        ) -> Result<crate::providers::Preflight, ProviderError> {
            Ok(Default::default())
        }
        async fn discover(&self) -> Result<Vec<crate::providers::Discovered>, ProviderError> {
            Ok(Vec::new())
        }
        async fn plan(
            &self,
            nodes: &[NodeRequest],
            ledger: Arc<dyn Ledger>,
        ) -> Result<PlanSummary, ProviderError> {
            let rs: Vec<Resource> = nodes
                .iter()
                .map(|n| Resource::new("vm", "s", &n.name).with("node", &n.name))
                .collect();
            ledger.record(&rs)?;
            Ok(PlanSummary::default())
        }
        async fn create(
            &self,
            ledger: Arc<dyn Ledger>,
            _e: Events,
        ) -> Result<Vec<(String, Result<(), String>)>, ProviderError> {
            Ok(ledger
                .resources()
                .into_iter()
                .map(|r| (r.name, Ok(())))
                .collect())
        }
        async fn nodes(&self, ledger: Arc<dyn Ledger>) -> Result<Vec<NodeInfo>, ProviderError> {
            Ok(ledger
                .resources()
                .into_iter()
                .map(|r| NodeInfo {
                    phase: if self.failing.contains(&r.name) {
                        NodePhase::Failed("FailedStartingVM/Stopped".into())
                    } else {
                        NodePhase::Running
                    },
                    name: r.name.clone(),
                    instance_id: r.name,
                    ssh_host: Some("127.0.0.1".into()),
                    ssh_port: Some(1222),
                    private_ip: None,
                    cloud_status: "x".into(),
                    via: None,
                })
                .collect())
        }
        async fn delete_nodes(
            &self,
            names: &[String],
            ledger: Arc<dyn Ledger>,
        ) -> Result<(), ProviderError> {
            for n in names {
                ledger.forget("vm", "s", n)?;
            }
            self.deleted.lock().unwrap().extend(names.iter().cloned());
            Ok(())
        }
        async fn teardown(
            &self,
            _l: Arc<dyn Ledger>,
            _o: TeardownOptions,
            _e: Events,
        ) -> Result<TeardownReport, ProviderError> {
            Ok(TeardownReport::default())
        }
    }

    fn req(mins: &[(&str, usize)]) -> StartRequest {
        let d = std::env::temp_dir().join(format!("ec-start-test-{}", std::process::id()));
        StartRequest {
            nodes: ["frontend001", "compute001", "compute002"]
                .iter()
                .map(|n| NodeRequest {
                    name: n.to_string(),
                    kind: n.trim_end_matches(char::is_numeric).to_string(),
                    image_id: "img".into(),
                    flavor: "Small".into(),
                    image_user: "u".into(),
                    image_userdata: None,
                    entry: n.starts_with("frontend"),
                })
                .collect(),
            min_nodes: mins.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            ssh_user: "u".into(),
            ssh_private_key: "/nonexistent".into(),
            known_hosts: d.with_extension("known_hosts"),
            startup_timeout: Duration::from_secs(5),
            probe_ssh: false,
            poll_interval: Duration::from_millis(10),
            ssh_timeout: Duration::from_secs(1),
            report: Reporter::default(),
        }
    }

    #[tokio::test]
    async fn failed_vm_is_dropped_at_once_and_minimum_respected() {
        let fake = Fake {
            failing: vec!["compute002".into()],
            deleted: Mutex::new(vec![]),
        };
        let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
        let t = Instant::now();
        let out = bring_up(
            &fake,
            ledger.clone(),
            &req(&[("compute", 1)]),
            &Progress::hidden(),
        )
        .await
        .unwrap();
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "did not wait for the timeout"
        );
        assert_eq!(out.ready.len(), 2);
        assert_eq!(out.dropped.len(), 1);
        assert!(out.dropped[0].1.contains("FailedStartingVM"));
        assert_eq!(*fake.deleted.lock().unwrap(), ["compute002"]);
        assert_eq!(ledger.resources().len(), 2);
    }

    #[tokio::test]
    async fn below_minimum_fails_naming_node_and_status() {
        let fake = Fake {
            failing: vec!["compute002".into()],
            deleted: Mutex::new(vec![]),
        };
        let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
        let e = bring_up(&fake, ledger, &req(&[]), &Progress::hidden())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`compute`") && e.contains("compute002") && e.contains("FailedStartingVM"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn unreachable_ssh_is_dropped_at_the_deadline() {
        let fake = Fake {
            failing: vec![],
            deleted: Mutex::new(vec![]),
        };
        let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
        let mut r = req(&[("compute", 0), ("frontend", 0)]);
        r.probe_ssh = true;
        r.startup_timeout = Duration::from_millis(600);
        // nothing listens on 127.0.0.1:1222 in the test environment (if something does, the
        // probe fails the SSH handshake or auth, which is just as unreachable for us)
        let out = bring_up(&fake, ledger, &r, &Progress::hidden())
            .await
            .unwrap();
        assert!(out.ready.is_empty());
        assert_eq!(out.dropped.len(), 3);
        assert!(
            out.dropped[0].1.contains("SSH not reachable"),
            "{:?}",
            out.dropped
        );
        assert_eq!(fake.deleted.lock().unwrap().len(), 3);
    }
}
