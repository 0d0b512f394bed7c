//! Before nodes leave a cluster: the scheduler stops giving them work (drain) and the
//! command waits until their jobs are done (`--drain-timeout`), or with `--force` kills those
//! jobs and says which. It refuses — the nodes stay drained, their VMs untouched — when jobs
//! still run as the wait ends, or when the scheduler cannot be asked about a node (its master
//! is down, the node's VM no longer runs) and `--force` was not given. It also ranks a kind's
//! nodes for `resize -r`: idle ones leave first.
//!
//! Asks the scheduler only through `setup::scheduler`; never deletes anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::cluster::provision::inventory_for;
use crate::cluster::state::{ClusterState, NodeRecord};
use crate::cluster::OpsError;
use crate::config::Setup;
use crate::report::Reporter;
use crate::setup::readiness::Scheduler;
use crate::setup::scheduler::{Job, NodeHealth, SchedulerShell, MASTER_GROUPS};
use crate::setup::Inventory;

/// `--drain-timeout` and `--force`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainPolicy {
    /// How long to wait for the jobs on draining nodes.
    pub timeout: Duration,
    /// Do not wait: kill the jobs; remove nodes the scheduler cannot be asked about.
    pub force: bool,
}

/// The default `--drain-timeout`, in seconds.
pub const DEFAULT_DRAIN_TIMEOUT: u64 = 600;

/// How often the jobs on draining nodes are looked at.
const POLL: Duration = Duration::from_secs(2);
/// How long `--force` waits for killed jobs to be gone before the nodes are deleted anyway.
const KILL_GRACE: Duration = Duration::from_secs(30);

/// Where the cluster's scheduler is, if it runs one.
enum Access {
    /// No node is in a scheduler's master group: nothing to drain.
    NoScheduler,
    /// The master is known; the inventory of the nodes with an address.
    Master(Inventory),
    /// A scheduler should run, but its master cannot be reached.
    Unknown(String),
}

fn access(state: &ClusterState, setup: &Setup) -> Access {
    let runs = state.nodes.iter().any(|n| {
        setup
            .groups
            .get(&n.kind)
            .is_some_and(|g| g.iter().any(|g| MASTER_GROUPS.contains(&g.as_str())))
    });
    if !runs {
        return Access::NoScheduler;
    }
    let mut reachable = state.clone();
    reachable.nodes.retain(|n| n.preferred_ip.is_some());
    match inventory_for(&reachable, setup, &reachable.login) {
        Ok(inv) => Access::Master(inv),
        Err(e) => Access::Unknown(e.to_string()),
    }
}

fn sudo_user(state: &ClusterState) -> Option<String> {
    state
        .login
        .image_sudo
        .then(|| state.login.image_user_sudo.clone())
}

fn scheduler_name(s: Scheduler) -> &'static str {
    match s {
        Scheduler::Slurm => "Slurm",
        Scheduler::GridEngine => "GridEngine",
    }
}

/// `node `a`` or `nodes `a`, `b``.
fn nodes_phrase(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.len() {
        1 => format!("node {}", quoted[0]),
        _ => format!("nodes {}", quoted.join(", ")),
    }
}

/// How a user cancels `jobs` on the frontend (`--force` uses the scheduler's forced kill).
fn user_cancel(scheduler: Scheduler, jobs: &[Job]) -> String {
    let ids: BTreeSet<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
    let ids: Vec<&str> = ids.into_iter().collect();
    match scheduler {
        Scheduler::Slurm => format!("scancel {}", ids.join(" ")),
        Scheduler::GridEngine => format!("qdel {}", ids.join(" ")),
    }
}

/// [`jobs_phrase`], with the node when they are all on one.
fn jobs_where(jobs: &[Job]) -> String {
    match jobs.first() {
        Some(j) if jobs.iter().all(|o| o.node == j.node) => {
            format!("{} on {}", jobs_phrase(jobs), j.node)
        }
        _ => jobs_phrase(jobs),
    }
}

/// `1 (alice), 2 (bob)`, naming the node of each job when they are on several.
fn jobs_phrase(jobs: &[Job]) -> String {
    let one_node = jobs.windows(2).all(|w| w[0].node == w[1].node);
    jobs.iter()
        .map(|j| {
            if one_node {
                j.to_string()
            } else {
                format!("{j} on {}", j.node)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Drain `leaving` and wait for their jobs as `policy` says. `not_running` names the
/// leaving nodes whose VM the cloud does not report running, with the cloud's words.
pub(super) fn drain_nodes(
    state: &ClusterState,
    setup: &Setup,
    known_hosts: &Path,
    leaving: &[NodeRecord],
    not_running: &BTreeMap<String, String>,
    policy: DrainPolicy,
    report: &Reporter,
) -> Result<(), OpsError> {
    let cluster = &state.name;
    let names: Vec<&str> = leaving.iter().map(|n| n.name.as_str()).collect();
    let all = nodes_phrase(&names);
    let cannot_ask = |why: String| -> Result<(), OpsError> {
        if policy.force {
            report.warn(&format!("{why}; removing {all} without draining (--force)"));
            return Ok(());
        }
        Err(OpsError::Failed(format!(
            "cannot drain {all} of cluster `{cluster}`: {why}. Nothing was changed. Bring the scheduler back (`elasticluster setup {cluster}`) and retry, or add --force to remove without draining (jobs still running there are lost)"
        )))
    };
    let inventory = match access(state, setup) {
        Access::NoScheduler => return Ok(()),
        Access::Unknown(why) => return cannot_ask(format!("its scheduler's master: {why}")),
        Access::Master(inv) => inv,
    };
    let Some(shell) = SchedulerShell::find(&inventory, known_hosts, sudo_user(state)) else {
        return cannot_ask("the node running the scheduler has no known address".into());
    };
    let sched = scheduler_name(shell.scheduler);
    if names.contains(&shell.master.name.as_str()) {
        let master = &shell.master.name;
        if policy.force {
            report.warn(&format!(
                "node `{master}` runs the scheduler; removing {all} without draining (--force)"
            ));
            return Ok(());
        }
        return Err(OpsError::Failed(format!(
            "node `{master}` runs the scheduler ({sched}) of cluster `{cluster}`; without it the cluster has none — stop the cluster instead, or add --force to remove it anyway"
        )));
    }
    let known = match shell.nodes() {
        Ok(k) => k,
        Err(e) => return cannot_ask(e.to_string()),
    };
    let mut drainable: Vec<String> = Vec::new();
    let mut silent: Vec<(String, String)> = Vec::new();
    for n in &names {
        match known.get(*n) {
            // It never joined the scheduler: no job can run there.
            None => report.say(&format!(
                "Node `{n}` is not known to {sched}: nothing to drain."
            )),
            Some(_) if not_running.contains_key(*n) => silent.push((
                n.to_string(),
                format!("its VM is not running in the cloud ({})", not_running[*n]),
            )),
            Some(NodeHealth::NotResponding(s)) => {
                silent.push((n.to_string(), format!("{sched} reports it {s}")))
            }
            Some(NodeHealth::Responding) => drainable.push(n.to_string()),
        }
    }
    if !silent.is_empty() && !policy.force {
        let why: Vec<String> = silent
            .iter()
            .map(|(n, why)| format!("`{n}`: {why}"))
            .collect();
        return Err(OpsError::Failed(format!(
            "cannot tell whether jobs still run on {} of cluster `{cluster}` ({}). Nothing was changed. Add --force to remove {} anyway (jobs {sched} still lists there are cancelled)",
            nodes_phrase(&silent.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>()),
            why.join("; "),
            if silent.len() == 1 { "it" } else { "them" }
        )));
    }
    if let Err(e) = shell.drain(&drainable) {
        cannot_ask(e.to_string())?;
    }
    let silent: Vec<String> = silent.into_iter().map(|(n, _)| n).collect();
    // Best effort: a node that does not answer may still be drained in the scheduler.
    let _ = shell.drain(&silent);
    if !drainable.is_empty() {
        let names: Vec<&str> = drainable.iter().map(String::as_str).collect();
        report.say(&format!(
            "Drained {} in {sched}: no new job starts there.",
            nodes_phrase(&names)
        ));
    }
    let mut draining = drainable;
    draining.extend(silent);
    if draining.is_empty() {
        return Ok(());
    }
    let phrase = nodes_phrase(&draining.iter().map(String::as_str).collect::<Vec<_>>());
    if policy.force {
        kill_jobs(&shell, &draining, report);
        return Ok(());
    }
    let started = Instant::now();
    let deadline = started + policy.timeout;
    let mut announced = false;
    loop {
        let jobs = shell.jobs_on(&draining).map_err(|e| {
            OpsError::Failed(format!(
                "cannot list the jobs on {phrase} of cluster `{cluster}`: {e}. {} drained and nothing was deleted; retry, or add --force to remove without waiting",
                if draining.len() == 1 { "It stays" } else { "They stay" }
            ))
        })?;
        if jobs.is_empty() {
            if announced {
                report.say(&format!(
                    "The jobs finished after {} s.",
                    started.elapsed().as_secs()
                ));
            }
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            let busy: BTreeSet<&str> = jobs.iter().map(|j| j.node.as_str()).collect();
            let busy: Vec<&str> = busy.into_iter().collect();
            return Err(OpsError::Failed(format!(
                "cluster `{cluster}`: {} still {} jobs {} after waiting {} s (--drain-timeout); {} drained and nothing was deleted. Let the jobs finish and run this again, cancel them (`{}` on `{}`), or add --force to kill them",
                nodes_phrase(&busy),
                if busy.len() == 1 { "runs" } else { "run" },
                jobs_phrase(&jobs),
                policy.timeout.as_secs(),
                if draining.len() == 1 { "the node stays" } else { "the nodes stay" },
                user_cancel(shell.scheduler, &jobs),
                shell.master.name,
            )));
        }
        if !announced {
            report.say(&format!(
                "Waiting up to {} s for jobs {} to finish...",
                policy.timeout.as_secs(),
                jobs_where(&jobs)
            ));
            announced = true;
        }
        std::thread::sleep(POLL.min(deadline - now));
    }
}

/// `--force`: kill the jobs on `nodes`, say which, and give them a moment to be gone.
fn kill_jobs(shell: &SchedulerShell<'_>, nodes: &[String], report: &Reporter) {
    let jobs = match shell.jobs_on(nodes) {
        Ok(j) => j,
        Err(e) => {
            report.warn(&format!(
                "{e}; removing without cancelling their jobs (--force)"
            ));
            return;
        }
    };
    if jobs.is_empty() {
        return;
    }
    report.say(&format!("--force: killing jobs {}.", jobs_where(&jobs)));
    if let Err(e) = shell.cancel(&jobs) {
        report.warn(&format!("{e}; removing anyway (--force)"));
        return;
    }
    let deadline = Instant::now() + KILL_GRACE;
    while Instant::now() < deadline {
        match shell.jobs_on(nodes) {
            Ok(left) if left.is_empty() => return,
            Ok(_) => std::thread::sleep(POLL.min(deadline - Instant::now())),
            Err(_) => return,
        }
    }
    report.warn(&format!(
        "jobs are still listed on the nodes after {} s; removing anyway (--force)",
        KILL_GRACE.as_secs()
    ));
}

/// The order in which nodes of one kind leave for `resize -r`: nodes the scheduler does not
/// know (they never joined), idle nodes, nodes that do not answer, then busy nodes (fewest
/// jobs first); within each, the last nodes first. Without a scheduler to ask: the last
/// nodes first.
pub(super) fn removal_order(
    state: &ClusterState,
    setup: &Setup,
    known_hosts: &Path,
    candidates: &[NodeRecord],
) -> Vec<NodeRecord> {
    let last_first: Vec<NodeRecord> = candidates.iter().rev().cloned().collect();
    let Access::Master(inventory) = access(state, setup) else {
        return last_first;
    };
    let Some(shell) = SchedulerShell::find(&inventory, known_hosts, sudo_user(state)) else {
        return last_first;
    };
    let Ok(known) = shell.nodes() else {
        return last_first;
    };
    let responding: Vec<String> = candidates
        .iter()
        .filter(|n| known.get(&n.name) == Some(&NodeHealth::Responding))
        .map(|n| n.name.clone())
        .collect();
    let Ok(jobs) = shell.jobs_on(&responding) else {
        return last_first;
    };
    order_by_use(candidates, &shell.master.name, &known, &jobs)
}

/// [`removal_order`] once the scheduler has said which nodes it knows and what runs where.
fn order_by_use(
    candidates: &[NodeRecord],
    master: &str,
    known: &BTreeMap<String, NodeHealth>,
    jobs: &[Job],
) -> Vec<NodeRecord> {
    let mut per_node: BTreeMap<&str, usize> = BTreeMap::new();
    for j in jobs {
        *per_node.entry(j.node.as_str()).or_default() += 1;
    }
    let rank = |n: &NodeRecord| -> (u8, usize) {
        if n.name == master {
            return (4, 0);
        }
        match known.get(&n.name) {
            None => (0, 0),
            Some(NodeHealth::NotResponding(_)) => (2, 0),
            Some(NodeHealth::Responding) => match per_node.get(n.name.as_str()) {
                None => (1, 0),
                Some(k) => (3, *k),
            },
        }
    };
    let mut ordered: Vec<NodeRecord> = candidates.iter().rev().cloned().collect();
    // A stable sort keeps the last nodes first within a rank.
    ordered.sort_by_key(|n| rank(n));
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> NodeRecord {
        toml::from_str(&format!(
            "name = \"{name}\"\nkind = \"compute\"\nflavor = \"Small\"\nimage_id = \"i\"\nimage_user = \"u\"\n"
        ))
        .unwrap()
    }

    fn job(id: &str, node: &str) -> Job {
        Job {
            id: id.into(),
            owner: "alice".into(),
            node: node.into(),
        }
    }

    #[test]
    fn idle_nodes_leave_first_then_silent_then_busy() {
        let nodes: Vec<NodeRecord> = (1..=6).map(|i| node(&format!("compute{i:03}"))).collect();
        let known: BTreeMap<String, NodeHealth> = [
            ("compute001", NodeHealth::Responding),
            ("compute002", NodeHealth::Responding),
            ("compute003", NodeHealth::NotResponding("down*".into())),
            ("compute004", NodeHealth::Responding),
            ("compute005", NodeHealth::Responding),
        ]
        .into_iter()
        .map(|(n, h)| (n.to_string(), h))
        .collect();
        // compute006 never joined; 004 has two jobs, 005 one; 001 and 002 are idle
        let jobs = [
            job("1", "compute004"),
            job("2", "compute004"),
            job("3", "compute005"),
        ];
        let order: Vec<String> = order_by_use(&nodes, "frontend001", &known, &jobs)
            .into_iter()
            .map(|n| n.name)
            .collect();
        assert_eq!(
            order,
            [
                "compute006",
                "compute002",
                "compute001",
                "compute003",
                "compute005",
                "compute004"
            ]
        );
        // nothing known about use: the last nodes first
        let none: Vec<String> = order_by_use(&nodes[..3], "frontend001", &BTreeMap::new(), &[])
            .into_iter()
            .map(|n| n.name)
            .collect();
        assert_eq!(none, ["compute003", "compute002", "compute001"]);
    }
}
