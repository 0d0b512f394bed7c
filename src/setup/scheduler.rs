//! The batch system on the cluster's master, asked about nodes that are to leave the
//! cluster: which nodes it knows and whether they answer, draining them (no new jobs start
//! there), the jobs still running on them, and cancelling those jobs.
//!
//! Commands run over OpenSSH on the master the readiness check finds, with the cluster's
//! known_hosts and strict host-key checking ([`readiness::ssh_args`]), as root through
//! `sudo -n` when the login user is not root. This module never touches a node or a job it
//! was not given, and never turns off host-key checking.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

pub use super::readiness::DRAIN_REASON;
use super::readiness::{self, Scheduler};
use super::{Host, Inventory};

/// Groups whose host runs a scheduler's master (the readiness check looks for the same).
pub const MASTER_GROUPS: [&str; 2] = ["slurm_master", "gridengine_master"];

/// How the scheduler sees one node it knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeHealth {
    /// Its daemon reports to the scheduler.
    Responding,
    /// Known, but its daemon does not report; the scheduler's words (e.g. `down*`).
    NotResponding(String),
}

/// A job running on a node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Job {
    pub id: String,
    pub owner: String,
    pub node: String,
}

impl std::fmt::Display for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.id, self.owner)
    }
}

/// The scheduler could not be asked (SSH failed, or its command did).
#[derive(Debug, thiserror::Error)]
#[error("cannot ask the scheduler on {host}: {detail}")]
pub struct SchedulerError {
    pub host: String,
    pub detail: String,
}

/// The scheduler of a cluster, reached on its master.
#[derive(Debug, Clone)]
pub struct SchedulerShell<'a> {
    pub scheduler: Scheduler,
    pub master: &'a Host,
    known_hosts: &'a Path,
    /// Run commands as this user through `sudo -n` (the login user is someone else).
    sudo_user: Option<String>,
}

impl<'a> SchedulerShell<'a> {
    /// The scheduler of `inventory`, if it runs one this module knows. `sudo_user`: the
    /// user to become on the master when the login user is not already it.
    pub fn find(
        inventory: &'a Inventory,
        known_hosts: &'a Path,
        sudo_user: Option<String>,
    ) -> Option<SchedulerShell<'a>> {
        let target = readiness::target(inventory)?;
        let sudo_user = sudo_user.filter(|u| *u != target.frontend.user);
        Some(SchedulerShell {
            scheduler: target.scheduler,
            master: target.frontend,
            known_hosts,
            sudo_user,
        })
    }

    /// Every node the scheduler knows, with whether it answers.
    pub fn nodes(&self) -> Result<BTreeMap<String, NodeHealth>, SchedulerError> {
        let out = self.run(self.scheduler.command())?;
        Ok(parse_nodes(self.scheduler, &out))
    }

    /// Let no new job start on `nodes` (jobs already there go on).
    pub fn drain(&self, nodes: &[String]) -> Result<(), SchedulerError> {
        if nodes.is_empty() {
            return Ok(());
        }
        self.run(&drain_command(self.scheduler, nodes)).map(|_| ())
    }

    /// The jobs running (or suspended, or finishing) on `nodes`.
    pub fn jobs_on(&self, nodes: &[String]) -> Result<Vec<Job>, SchedulerError> {
        if nodes.is_empty() {
            return Ok(Vec::new());
        }
        let out = self.run(&jobs_command(self.scheduler, nodes))?;
        parse_jobs(self.scheduler, &out, nodes).map_err(|detail| SchedulerError {
            host: self.master.name.clone(),
            detail,
        })
    }

    /// Kill `jobs`.
    pub fn cancel(&self, jobs: &[Job]) -> Result<(), SchedulerError> {
        if jobs.is_empty() {
            return Ok(());
        }
        self.run(&cancel_command(self.scheduler, jobs)).map(|_| ())
    }

    /// Run `script` (a POSIX shell script) on the master; its output, or why it failed.
    fn run(&self, script: &str) -> Result<String, SchedulerError> {
        let command = match &self.sudo_user {
            Some(user) => format!("sudo -n -u {} sh -c {}", quote(user), quote(script)),
            None => script.to_string(),
        };
        let out = Command::new("ssh")
            .args(readiness::ssh_args(self.master, self.known_hosts, &command))
            .output()
            .map_err(|e| SchedulerError {
                host: self.master.name.clone(),
                detail: format!("cannot run ssh: {e}"),
            })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let why = [stderr.trim(), stdout.trim()]
                .into_iter()
                .find(|s| !s.is_empty())
                .unwrap_or("no output")
                .lines()
                .last()
                .unwrap_or_default()
                .to_string();
            return Err(SchedulerError {
                host: self.master.name.clone(),
                detail: match out.status.code() {
                    Some(255) => format!("SSH to it failed: {why}"),
                    Some(code) => format!("`{script}` exited with {code}: {why}"),
                    None => format!("`{script}` was killed by a signal"),
                },
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

fn quote(s: &str) -> String {
    shlex::try_quote(s).map_or_else(|_| format!("'{}'", s.replace('\'', "")), |q| q.into_owned())
}

fn short(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

/// The command that drains `nodes`: Slurm marks them DRAIN with [`DRAIN_REASON`];
/// GridEngine disables their queue instances.
pub fn drain_command(scheduler: Scheduler, nodes: &[String]) -> String {
    match scheduler {
        Scheduler::Slurm => format!(
            "scontrol update NodeName={} State=DRAIN Reason={}",
            nodes.join(","),
            quote(DRAIN_REASON)
        ),
        Scheduler::GridEngine => {
            let targets: Vec<String> = nodes.iter().map(|n| quote(&format!("*@{n}"))).collect();
            format!("qmod -d {}", targets.join(" "))
        }
    }
}

/// The command that lists the jobs on `nodes`. Slurm: one `@NODE` line per node, then
/// `ID USER` per job on it; GridEngine: `qstat`'s XML list of the running and suspended jobs
/// of every user (its table cuts user names at 12 characters), filtered by [`parse_jobs`].
pub fn jobs_command(scheduler: Scheduler, nodes: &[String]) -> String {
    match scheduler {
        Scheduler::Slurm => {
            let list: Vec<String> = nodes.iter().map(|n| quote(n)).collect();
            format!(
                "for n in {}; do echo \"@$n\"; squeue -h -w \"$n\" -t CF,R,S,CG -o '%i %u' || exit 1; done",
                list.join(" ")
            )
        }
        Scheduler::GridEngine => "qstat -s rs -u '*' -xml".to_string(),
    }
}

/// The command that kills `jobs` (GridEngine: even when the node no longer answers).
pub fn cancel_command(scheduler: Scheduler, jobs: &[Job]) -> String {
    let ids: BTreeSet<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
    let ids: Vec<String> = ids.into_iter().map(quote).collect();
    match scheduler {
        Scheduler::Slurm => format!("scancel {}", ids.join(" ")),
        Scheduler::GridEngine => format!("qdel -f {}", ids.join(" ")),
    }
}

/// The nodes in the output of [`Scheduler::command`] and whether they answer. Slurm: a
/// state ending in `*` (not responding), or down/fail/unknown, does not; GridEngine: a host
/// whose load is `-` has no execution daemon reporting.
pub fn parse_nodes(scheduler: Scheduler, output: &str) -> BTreeMap<String, NodeHealth> {
    let mut nodes = BTreeMap::new();
    for line in output.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (name, health) = match scheduler {
            Scheduler::Slurm => {
                let [name, state, ..] = cols[..] else {
                    continue;
                };
                let l = state.to_ascii_lowercase();
                let silent = l.ends_with('*')
                    || ["down", "fail", "unknown", "not_responding"]
                        .iter()
                        .any(|s| l.starts_with(s));
                let health = if silent {
                    NodeHealth::NotResponding(state.to_string())
                } else {
                    NodeHealth::Responding
                };
                (name, health)
            }
            Scheduler::GridEngine => {
                if cols.len() < 7
                    || cols[0] == "HOSTNAME"
                    || cols[0] == "global"
                    || cols[0].starts_with('-')
                {
                    continue;
                }
                let health = if cols[6] == "-" {
                    NodeHealth::NotResponding("execution daemon not reporting".into())
                } else {
                    NodeHealth::Responding
                };
                (cols[0], health)
            }
        };
        // A Slurm node in several partitions is listed once per partition.
        nodes
            .entry(short(name).to_string())
            .and_modify(|h: &mut NodeHealth| {
                if health != NodeHealth::Responding {
                    *h = health.clone();
                }
            })
            .or_insert(health);
    }
    nodes
}

/// The jobs on `nodes` in the output of [`jobs_command`], each (job, node) once; an output
/// that cannot be read is an error, never "no jobs".
pub fn parse_jobs(
    scheduler: Scheduler,
    output: &str,
    nodes: &[String],
) -> Result<Vec<Job>, String> {
    let wanted: BTreeSet<&str> = nodes.iter().map(|n| short(n)).collect();
    let mut jobs = BTreeSet::new();
    match scheduler {
        Scheduler::Slurm => {
            let mut node: Option<&str> = None;
            for line in output.lines().map(str::trim) {
                if let Some(n) = line.strip_prefix('@') {
                    node = Some(n);
                    continue;
                }
                let mut words = line.split_whitespace();
                let (Some(n), Some(id), Some(owner)) = (node, words.next(), words.next()) else {
                    continue;
                };
                if wanted.contains(short(n)) {
                    jobs.insert(Job {
                        id: id.to_string(),
                        owner: owner.to_string(),
                        node: short(n).to_string(),
                    });
                }
            }
        }
        Scheduler::GridEngine => {
            let info = quick_xml::de::from_str::<QstatXml>(output)
                .map_err(|e| format!("cannot read the output of `qstat -xml`: {e}"))?;
            for j in info
                .queue_info
                .job_list
                .into_iter()
                .chain(info.job_info.job_list)
            {
                let Some(host) = j.queue_name.as_deref().and_then(|q| q.split_once('@')) else {
                    continue;
                };
                let host = short(host.1);
                if wanted.contains(host) {
                    jobs.insert(Job {
                        id: j.number,
                        owner: j.owner,
                        node: host.to_string(),
                    });
                }
            }
        }
    }
    Ok(jobs.into_iter().collect())
}

/// `qstat -xml`: running jobs under `queue_info`, the others under `job_info`.
#[derive(Debug, Default, serde::Deserialize)]
struct QstatXml {
    #[serde(default)]
    queue_info: QstatJobs,
    #[serde(default)]
    job_info: QstatJobs,
}

#[derive(Debug, Default, serde::Deserialize)]
struct QstatJobs {
    #[serde(default)]
    job_list: Vec<QstatJob>,
}

#[derive(Debug, serde::Deserialize)]
struct QstatJob {
    #[serde(rename = "JB_job_number")]
    number: String,
    #[serde(rename = "JB_owner")]
    owner: String,
    #[serde(default)]
    queue_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn slurm_node_health() {
        let out = "compute001 idle\ncompute002 draining\ncompute003 down*\ncompute003 down*\n\
                   compute004 idle*\ncompute005 mixed\n";
        let n = parse_nodes(Scheduler::Slurm, out);
        assert_eq!(n["compute001"], NodeHealth::Responding);
        assert_eq!(n["compute002"], NodeHealth::Responding);
        assert_eq!(n["compute003"], NodeHealth::NotResponding("down*".into()));
        assert_eq!(n["compute004"], NodeHealth::NotResponding("idle*".into()));
        assert_eq!(n["compute005"], NodeHealth::Responding);
        assert!(!n.contains_key("compute006"));
    }

    #[test]
    fn gridengine_node_health() {
        let out = "HOSTNAME                ARCH         NCPU NSOC NCOR NTHR  LOAD  MEMTOT  MEMUSE  SWAPTO  SWAPUS
----------------------------------------------------------------------------------------------
global                  -               -    -    -    -     -       -       -       -       -
compute001              lx-amd64        2    1    2    2  4.21   23.5G  999.9M     0.0     0.0
compute002              -               -    -    -    -     -       -       -       -       -
";
        let n = parse_nodes(Scheduler::GridEngine, out);
        assert_eq!(n.len(), 2, "{n:?}");
        assert_eq!(n["compute001"], NodeHealth::Responding);
        assert!(matches!(n["compute002"], NodeHealth::NotResponding(_)));
    }

    #[test]
    fn slurm_jobs_by_node() {
        let out = "@compute002\n12 alice\n13 bob\n@compute003\n@compute004\n12 alice\n";
        let jobs =
            parse_jobs(Scheduler::Slurm, out, &names(&["compute002", "compute004"])).unwrap();
        let shown: Vec<String> = jobs.iter().map(|j| format!("{j} on {}", j.node)).collect();
        assert_eq!(
            shown,
            [
                "12 (alice) on compute002",
                "12 (alice) on compute004",
                "13 (bob) on compute002"
            ]
        );
        assert!(
            parse_jobs(Scheduler::Slurm, "@compute002\n", &names(&["compute002"]))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn gridengine_jobs_by_host() {
        let job = |id: &str, owner: &str, queue: &str| {
            format!(
                "    <job_list state=\"running\">\n      <JB_job_number>{id}</JB_job_number>\n      <JAT_prio>0.50000</JAT_prio>\n      <JB_name>sleep</JB_name>\n      <JB_owner>{owner}</JB_owner>\n      <state>r</state>\n      <JAT_start_time>2026-11-30T01:21:18</JAT_start_time>\n      <queue_name>{queue}</queue_name>\n      <slots>1</slots>\n    </job_list>\n"
            )
        };
        let out = format!(
            "<?xml version='1.0'?>\n<job_info  xmlns:xsd=\"http://arc.liv.ac.uk/repos/darcs/sge/source/dist/util/resources/schemas/qstat/qstat.xsd\">\n  <queue_info>\n{}{}{}{}  </queue_info>\n  <job_info>\n  </job_info>\n</job_info>\n",
            job("7", "elasticluster", "all.q@compute002"),
            job("8", "bob", "all.q@compute001.example.org"),
            job("9", "carol", "all.q@compute002"),
            job("9", "carol", "all.q@compute002"),
        );
        let jobs = parse_jobs(
            Scheduler::GridEngine,
            &out,
            &names(&["compute002", "compute001"]),
        )
        .unwrap();
        let shown: Vec<String> = jobs.iter().map(|j| format!("{j} on {}", j.node)).collect();
        assert_eq!(
            shown,
            [
                "7 (elasticluster) on compute002",
                "8 (bob) on compute001",
                "9 (carol) on compute002"
            ]
        );
        let only = parse_jobs(Scheduler::GridEngine, &out, &names(&["compute001"])).unwrap();
        assert_eq!(only.len(), 1);
        let none = "<?xml version='1.0'?>\n<job_info>\n  <queue_info>\n  </queue_info>\n  <job_info>\n  </job_info>\n</job_info>\n";
        assert!(
            parse_jobs(Scheduler::GridEngine, none, &names(&["compute001"]))
                .unwrap()
                .is_empty()
        );
        // what cannot be read is not taken for "no jobs"
        assert!(parse_jobs(Scheduler::GridEngine, "error: qmaster down", &names(&["c"])).is_err());
    }

    #[test]
    fn commands() {
        let nodes = names(&["compute002", "compute003"]);
        assert_eq!(
            drain_command(Scheduler::Slurm, &nodes),
            "scontrol update NodeName=compute002,compute003 State=DRAIN Reason='elasticluster: removing'"
        );
        assert_eq!(
            drain_command(Scheduler::GridEngine, &nodes),
            "qmod -d '*@compute002' '*@compute003'"
        );
        assert!(jobs_command(Scheduler::Slurm, &nodes)
            .starts_with("for n in compute002 compute003; do echo \"@$n\"; squeue -h -w \"$n\""));
        let jobs = vec![
            Job {
                id: "12".into(),
                owner: "a".into(),
                node: "compute002".into(),
            },
            Job {
                id: "12".into(),
                owner: "a".into(),
                node: "compute003".into(),
            },
            Job {
                id: "5".into(),
                owner: "b".into(),
                node: "compute003".into(),
            },
        ];
        assert_eq!(cancel_command(Scheduler::Slurm, &jobs), "scancel 12 5");
        assert_eq!(cancel_command(Scheduler::GridEngine, &jobs), "qdel -f 12 5");
    }
}
