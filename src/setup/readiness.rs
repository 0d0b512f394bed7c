//! Honest readiness: after provisioning, ask the scheduler on the frontend whether it sees
//! every worker (`sinfo` for Slurm, `qhost` for GridEngine) and no node that is not one of
//! the cluster's (a node that left but is still listed), and say which are missing or extra.
//! A node drained by an unfinished removal (`remove-node` refused or cut short) counts as
//! present. A Slurm cluster with slurmdbd accounting (the playbooks' default) is ready only
//! once `sacctmgr` lists the cluster, so `sacct` works from the first job.
//!
//! The check runs OpenSSH with the cluster's known_hosts and `StrictHostKeyChecking=yes`;
//! it never disables host-key checking and never changes anything on the cluster.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::setup::{Host, Inventory, SetupError};

/// The batch system a cluster runs, detected from its groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduler {
    Slurm,
    GridEngine,
}

/// Reason Slurm shows for nodes drained before they leave.
pub const DRAIN_REASON: &str = "elasticluster: removing";

impl Scheduler {
    /// The command run on the frontend (Slurm: node, state, then the reason, which may
    /// hold spaces).
    pub fn command(self) -> &'static str {
        match self {
            Scheduler::Slurm => "sinfo -h -N -o '%N %T %E'",
            Scheduler::GridEngine => "qhost",
        }
    }
}

/// Lists the clusters registered in Slurm's accounting database, one name per line.
pub const SACCTMGR_CLUSTERS: &str = "sacctmgr -n -P show cluster format=Cluster";

/// Result of one readiness check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    /// Workers the scheduler does not list or lists as down/unreachable.
    pub missing: Vec<String>,
    /// Nodes the scheduler lists that are not workers of the cluster (e.g. one that left).
    pub extra: Vec<String>,
    /// Human-readable summary (e.g. `compute002: down*`).
    pub detail: String,
}

/// What to check: the scheduler, the node to ask, and the workers it must see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadinessTarget<'a> {
    pub scheduler: Scheduler,
    pub frontend: &'a Host,
    pub workers: Vec<String>,
    /// Slurm with slurmdbd accounting: the cluster name `sacctmgr` must list.
    pub accounting_cluster: Option<String>,
}

/// A Slurm variable as the frontend sees it: its own value, else the cluster-wide one.
fn frontend_var<'a>(inventory: &'a Inventory, frontend: &'a Host, name: &str) -> Option<&'a str> {
    frontend
        .vars
        .get(name)
        .or_else(|| inventory.vars.get(name))
        .map(String::as_str)
}

/// The cluster name `sacctmgr` must list, when the playbooks run Slurm with slurmdbd
/// (`slurm_accounting`, default `slurmdbd`; `slurm_cluster_name`, default `elasticluster`;
/// Slurm keeps cluster names in lower case).
fn accounting_cluster(inventory: &Inventory, frontend: &Host) -> Option<String> {
    let mode = frontend_var(inventory, frontend, "slurm_accounting").unwrap_or("slurmdbd");
    (mode.trim() == "slurmdbd").then(|| {
        frontend_var(inventory, frontend, "slurm_cluster_name")
            .unwrap_or("elasticluster")
            .trim()
            .to_lowercase()
    })
}

/// Finds the scheduler's master and workers in the inventory; `None` when the cluster
/// runs no scheduler this module knows (then there is nothing to wait for).
pub fn target(inventory: &Inventory) -> Option<ReadinessTarget<'_>> {
    let pick = |scheduler, master: &str, workers: &[&str]| {
        let frontend = inventory.hosts_in(master).next()?;
        let mut names: Vec<String> = workers
            .iter()
            .flat_map(|g| inventory.hosts_in(g).map(|h| h.name.clone()))
            .collect();
        names.sort();
        names.dedup();
        let accounting_cluster = match scheduler {
            Scheduler::Slurm => accounting_cluster(inventory, frontend),
            Scheduler::GridEngine => None,
        };
        Some(ReadinessTarget {
            scheduler,
            frontend,
            workers: names,
            accounting_cluster,
        })
    };
    pick(
        Scheduler::Slurm,
        "slurm_master",
        &["slurm_workers", "slurm_clients"],
    )
    .or_else(|| {
        pick(
            Scheduler::GridEngine,
            "gridengine_master",
            &["gridengine_clients"],
        )
    })
}

fn short(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

fn verdict(expected: &[String], problems: Vec<(String, String)>, seen: &[String]) -> Readiness {
    let mut missing = Vec::new();
    let mut details = Vec::new();
    let mut extra: Vec<String> = Vec::new();
    for node in seen {
        if !expected.iter().any(|w| short(w) == short(node)) && !extra.contains(node) {
            extra.push(node.clone());
            details.push(format!(
                "{node}: listed by the scheduler but not a node of the cluster"
            ));
        }
    }
    for worker in expected {
        if let Some((_, why)) = problems.iter().find(|(n, _)| short(n) == short(worker)) {
            missing.push(worker.clone());
            details.push(format!("{worker}: {why}"));
        } else if !seen.iter().any(|n| short(n) == short(worker)) {
            missing.push(worker.clone());
            details.push(format!("{worker}: not known to the scheduler"));
        }
    }
    let detail = if missing.is_empty() && extra.is_empty() {
        format!("all {} worker(s) up", expected.len())
    } else {
        details.join("; ")
    };
    Readiness {
        ready: missing.is_empty() && extra.is_empty(),
        missing,
        extra,
        detail,
    }
}

/// Parses `sinfo -h -N -o '%N %T %E'`. A node counts as up when its state is idle, mixed,
/// allocated or completing without a `*` (not responding) or other flag suffix, or when it
/// answers but is drained with [`DRAIN_REASON`] (a removal that was refused or cut short:
/// the next `remove-node` finishes it).
pub fn parse_sinfo(output: &str, expected: &[String]) -> Readiness {
    let mut seen = Vec::new();
    let mut problems = Vec::new();
    for line in output.lines() {
        let mut words = line.split_whitespace();
        let (Some(node), Some(state)) = (words.next(), words.next()) else {
            continue;
        };
        let reason = words.collect::<Vec<_>>().join(" ");
        let state_l = state.to_ascii_lowercase();
        let up = ["idle", "mixed", "allocated", "completing"]
            .iter()
            .any(|s| state_l == *s)
            || (["drained", "draining", "drain"].contains(&state_l.as_str())
                && reason == DRAIN_REASON);
        seen.push(node.to_string());
        if !up {
            problems.push((node.to_string(), state.to_string()));
        }
    }
    verdict(expected, problems, &seen)
}

/// Parses `qhost`: a host whose LOAD column is `-` has no execution daemon reporting.
pub fn parse_qhost(output: &str, expected: &[String]) -> Readiness {
    let mut seen = Vec::new();
    let mut problems = Vec::new();
    for line in output.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 7
            || cols[0] == "HOSTNAME"
            || cols[0] == "global"
            || cols[0].starts_with('-')
        {
            continue;
        }
        seen.push(cols[0].to_string());
        if cols[6] == "-" {
            problems.push((
                cols[0].to_string(),
                "execution daemon not reporting".to_string(),
            ));
        }
    }
    verdict(expected, problems, &seen)
}

/// Parses [`SACCTMGR_CLUSTERS`]: ready when `cluster` is listed.
pub fn parse_sacctmgr_clusters(output: &str, cluster: &str) -> Readiness {
    let listed: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let ready = listed.iter().any(|c| c.eq_ignore_ascii_case(cluster));
    let detail = if ready {
        format!("cluster `{cluster}` registered in the accounting database")
    } else {
        format!(
            "cluster `{cluster}` is not registered in the accounting database (slurmdbd lists: {})",
            if listed.is_empty() {
                "none".to_string()
            } else {
                listed.join(", ")
            }
        )
    };
    Readiness {
        ready,
        missing: Vec::new(),
        extra: Vec::new(),
        detail,
    }
}

/// The `ssh` argument vector that runs `command` on `host` (through its jump host, if any).
pub fn ssh_args(host: &Host, known_hosts: &Path, command: &str) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(j) = &host.jump {
        v.push("-o".to_string());
        v.push(format!(
            "ProxyCommand={}",
            crate::ssh::proxy_command(j, &host.private_key, known_hosts)
        ));
    }
    v.extend([
        "-i".into(),
        host.private_key.display().to_string(),
        "-p".into(),
        host.port.to_string(),
        "-o".into(),
        format!("UserKnownHostsFile={}", known_hosts.display()),
        "-o".into(),
        "StrictHostKeyChecking=yes".into(),
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        "ConnectTimeout=10".into(),
        "-o".into(),
        "LogLevel=ERROR".into(),
        format!("{}@{}", host.user, host.address),
        "--".into(),
        command.into(),
    ]);
    v
}

/// One readiness check over SSH. A cluster without a known scheduler is ready.
pub fn readiness(inventory: &Inventory, known_hosts: &Path) -> Result<Readiness, SetupError> {
    let Some(t) = target(inventory) else {
        return Ok(Readiness {
            ready: true,
            missing: Vec::new(),
            extra: Vec::new(),
            detail: "no scheduler to check".into(),
        });
    };
    let stdout = match run_on_frontend(&t, known_hosts, t.scheduler.command())? {
        Ok(stdout) => stdout,
        Err(failed) => return Ok(failed),
    };
    let workers = match t.scheduler {
        Scheduler::Slurm => parse_sinfo(&stdout, &t.workers),
        Scheduler::GridEngine => parse_qhost(&stdout, &t.workers),
    };
    let Some(cluster) = t.accounting_cluster.as_deref().filter(|_| workers.ready) else {
        return Ok(workers);
    };
    Ok(match run_on_frontend(&t, known_hosts, SACCTMGR_CLUSTERS)? {
        Ok(stdout) => parse_sacctmgr_clusters(&stdout, cluster),
        Err(failed) => failed,
    })
}

/// Runs `command` on the frontend: its standard output, or (when it fails) the not-ready
/// verdict naming the command and its error output.
fn run_on_frontend(
    t: &ReadinessTarget<'_>,
    known_hosts: &Path,
    command: &str,
) -> Result<Result<String, Readiness>, SetupError> {
    let output = Command::new("ssh")
        .args(ssh_args(t.frontend, known_hosts, command))
        .output()
        .map_err(|e| SetupError::Readiness {
            host: t.frontend.name.clone(),
            detail: format!("cannot run ssh: {e}"),
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Ok(Err(Readiness {
            ready: false,
            missing: t.workers.clone(),
            extra: Vec::new(),
            detail: format!(
                "`{command}` on {} failed: {}",
                t.frontend.name,
                stderr.trim()
            ),
        }));
    }
    Ok(Ok(String::from_utf8_lossy(&output.stdout).into_owned()))
}

/// Repeats [`readiness`] until ready or `timeout` has passed; returns the last result.
pub fn wait_ready(
    inventory: &Inventory,
    known_hosts: &Path,
    timeout: Duration,
) -> Result<Readiness, SetupError> {
    let deadline = Instant::now() + timeout;
    loop {
        let r = readiness(inventory, known_hosts)?;
        if r.ready || Instant::now() >= deadline {
            return Ok(r);
        }
        std::thread::sleep(Duration::from_millis(500).min(deadline - Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn sinfo_states() {
        let expected = names(&["compute001", "compute002", "compute003"]);
        let r = parse_sinfo("compute001 idle\ncompute002 down*\n", &expected);
        assert!(!r.ready);
        assert_eq!(r.missing, names(&["compute002", "compute003"]));
        assert!(r.detail.contains("compute002: down*"), "{}", r.detail);
        assert!(r.detail.contains("compute003: not known"), "{}", r.detail);
        let r = parse_sinfo(
            "compute001 idle\ncompute002 mixed\ncompute003 allocated\n",
            &expected,
        );
        assert!(r.ready, "{r:?}");
        // not responding is not ready even if idle
        let r = parse_sinfo("compute001 idle*\n", &names(&["compute001"]));
        assert!(!r.ready);
    }

    #[test]
    fn sacctmgr_must_list_the_cluster() {
        let r = parse_sacctmgr_clusters("elasticluster\n", "elasticluster");
        assert!(r.ready, "{r:?}");
        let r = parse_sacctmgr_clusters("", "elasticluster");
        assert!(!r.ready);
        assert!(r.detail.contains("not registered"), "{}", r.detail);
        let r = parse_sacctmgr_clusters("other\n", "elasticluster");
        assert!(!r.ready);
        assert!(r.detail.contains("lists: other"), "{}", r.detail);
    }

    fn host(name: &str, group: &str, vars: &[(&str, &str)]) -> Host {
        Host {
            name: name.into(),
            kind: "k".into(),
            groups: vec![group.into()],
            address: "10.0.0.1".into(),
            port: 22,
            user: "u".into(),
            private_key: "/dev/null".into(),
            jump: None,
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn slurm_checks_accounting_unless_turned_off() {
        let inv = |front: &[(&str, &str)], all: &[(&str, &str)]| Inventory {
            cluster_name: "c".into(),
            hosts: vec![
                host("frontend001", "slurm_master", front),
                host("compute001", "slurm_workers", &[]),
            ],
            vars: all
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        };
        let default = inv(&[], &[]);
        let t = target(&default).expect("slurm target");
        assert_eq!(t.accounting_cluster.as_deref(), Some("elasticluster"));
        let named = inv(&[], &[("slurm_cluster_name", "MyCluster")]);
        assert_eq!(
            target(&named).and_then(|t| t.accounting_cluster),
            Some("mycluster".to_string())
        );
        for mode in ["none", "filetxt"] {
            let off = inv(&[], &[("slurm_accounting", mode)]);
            assert_eq!(target(&off).and_then(|t| t.accounting_cluster), None);
        }
        // the frontend's own value wins over the cluster-wide one
        let off = inv(
            &[("slurm_accounting", "none")],
            &[("slurm_accounting", "slurmdbd")],
        );
        assert_eq!(target(&off).and_then(|t| t.accounting_cluster), None);
        let ge = Inventory {
            cluster_name: "g".into(),
            hosts: vec![host("frontend001", "gridengine_master", &[])],
            ..Default::default()
        };
        assert_eq!(target(&ge).and_then(|t| t.accounting_cluster), None);
    }

    #[test]
    fn qhost_load_dash_means_down() {
        let out = "HOSTNAME                ARCH         NCPU NSOC NCOR NTHR  LOAD  MEMTOT  MEMUSE  SWAPTO  SWAPUS
----------------------------------------------------------------------------------------------
global                  -               -    -    -    -     -       -       -       -       -
compute001              lx-amd64        2    1    2    2  4.21   23.5G  999.9M     0.0     0.0
compute002              -               -    -    -    -     -       -       -       -       -
";
        let r = parse_qhost(out, &names(&["compute001", "compute002"]));
        assert_eq!(r.missing, names(&["compute002"]));
        // compute002 is not a node of the cluster (any more): still listed, not ready
        let r = parse_qhost(out, &names(&["compute001"]));
        assert!(!r.ready);
        assert_eq!(r.extra, names(&["compute002"]));
        assert!(r
            .detail
            .contains("compute002: listed by the scheduler but not a node"));
    }

    #[test]
    fn sinfo_extra_nodes_and_our_drain() {
        let expected = names(&["compute001", "compute003"]);
        // a node that left but slurmctld still lists: not ready, named
        let r = parse_sinfo(
            "compute001 idle none\ncompute002 idle none\ncompute003 mixed none\n",
            &expected,
        );
        assert!(!r.ready);
        assert_eq!(r.extra, names(&["compute002"]));
        assert!(r.missing.is_empty());
        // drained by an unfinished removal: present; drained for another reason: not
        let ours =
            format!("compute001 drained {DRAIN_REASON}\ncompute003 draining {DRAIN_REASON}\n");
        assert!(parse_sinfo(&ours, &expected).ready);
        let r = parse_sinfo(
            "compute001 drained Low RealMemory\ncompute003 idle none\n",
            &expected,
        );
        assert_eq!(r.missing, names(&["compute001"]));
        // ours but not responding: not ready
        let r = parse_sinfo(
            &format!("compute001 drained* {DRAIN_REASON}\ncompute003 idle none\n"),
            &expected,
        );
        assert_eq!(r.missing, names(&["compute001"]));
    }
}
