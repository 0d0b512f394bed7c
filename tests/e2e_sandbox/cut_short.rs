//! (Part of `e2e_sandbox.rs`, included as `#[path = "e2e_sandbox/cut_short.rs"] mod
//! cut_short;`.)
//!
//! Membership changes killed with SIGKILL on the Slurm sandbox, at several points, then the
//! next command: it completes or cleans up, nothing is left in the cloud for a node that
//! left, and once it returns 0 `sinfo` lists exactly the nodes that exist, with no job shown
//! on a node that is gone. Also a Slurm daemon left on an older `slurm.conf` (a run killed
//! before its handlers) is restarted by the next setup. Reads the cluster through `ssh`,
//! the state file and the emulator's persisted state; never edits the state.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::membership::{assert_job, slurm_jobs, slurm_nodes, sorted_lines, state_has_node};
use super::{text, SandboxCluster};

/// The state file's text.
fn state_text(sb: &SandboxCluster) -> String {
    std::fs::read_to_string(sb.storage.join(format!("{}.toml", sb.cluster))).unwrap_or_default()
}

/// The `[[resources]]` blocks of the state that are `node`'s VM.
fn vm_of<'a>(state: &'a str, node: &str) -> Vec<&'a str> {
    let attr = format!("node = \"{node}\"");
    state
        .split("[[resources]]")
        .filter(|r| r.contains("kind = \"vm\"") && r.contains(&attr))
        .collect()
}

/// `node`'s VM has been asked of the cloud.
fn vm_requested(node: &'static str) -> impl Fn(&str) -> bool {
    move |s| {
        vm_of(s, node)
            .iter()
            .any(|r| r.contains("requested = \"1\""))
    }
}

/// `node` is marked as leaving: its drain is over, its removal past the point of no return.
fn marked_leaving(node: &'static str) -> impl Fn(&str) -> bool {
    let name = format!("name = \"{node}\"");
    move |s| {
        s.split("[[nodes]]")
            .any(|n| n.contains(&name) && n.contains("status = \"deleting\""))
    }
}

/// The host names of every VM the emulator has (from its persisted state), sorted.
fn cloud_hosts(sb: &SandboxCluster) -> Vec<String> {
    let path = sb.emulator_state().join("state.json");
    let raw = std::fs::read_to_string(&path).expect("the emulator's state.json");
    let state: azure_emulator::model::State =
        serde_json::from_str(&raw).expect("the emulator's state.json parses");
    let mut hosts: Vec<String> = state
        .subscriptions
        .values()
        .flat_map(|s| s.hosted_services.values())
        .filter_map(|h| h.deployment.as_ref())
        .flat_map(|d| d.roles.iter().map(|r| r.hostname.clone()))
        .collect();
    hosts.sort();
    hosts
}

/// The binary with the sandbox's environment, as a plain process (to be killed).
fn spawn(sb: &SandboxCluster, args: &[&str], stderr: Stdio) -> std::process::Child {
    sb.process_on(&sb.storage)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start elasticluster")
}

/// SIGKILL `child`, which must still be running.
fn kill(mut child: std::process::Child, args: &[&str]) {
    child.kill().expect("kill");
    let st = child.wait().expect("wait");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        st.signal(),
        Some(9),
        "`elasticluster {}` had ended before the kill point",
        args.join(" ")
    );
}

/// Run `elasticluster ARGS` and SIGKILL it as soon as `cond(state file)` holds.
fn kill_when_state(sb: &SandboxCluster, args: &[&str], cond: impl Fn(&str) -> bool) {
    let mut child = spawn(sb, args, Stdio::null());
    let deadline = Instant::now() + Duration::from_secs(300);
    while !cond(&state_text(sb)) {
        if let Ok(Some(st)) = child.try_wait() {
            panic!(
                "`elasticluster {}` ended ({st}) before the kill point",
                args.join(" ")
            );
        }
        assert!(
            Instant::now() < deadline,
            "kill point of `{}` never reached",
            args.join(" ")
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    kill(child, args);
}

/// Run `elasticluster ARGS` and SIGKILL it once it printed a line containing `line`.
fn kill_at_line(sb: &SandboxCluster, args: &[&str], line: &str) {
    let mut child = spawn(sb, args, Stdio::piped());
    let err = child.stderr.take().expect("stderr");
    let mut seen = Vec::new();
    for l in BufReader::new(err).lines() {
        let l = l.expect("read stderr");
        let found = l.contains(line);
        seen.push(l);
        if found {
            break;
        }
    }
    assert!(
        seen.last().is_some_and(|l| l.contains(line)),
        "`elasticluster {}` ended without printing `{line}`: {}",
        args.join(" "),
        seen.join("\n")
    );
    kill(child, args);
}

/// After `slurm_membership` (nodes: compute003, running job `busy`; job `queued` waiting):
/// kill -9 at several points of `resize -a` and `remove-node`, each followed by another
/// command that must finish the job with nothing leaked and no ghost in `sinfo`.
pub(super) fn slurm_cut_short(sb: &SandboxCluster, busy: &str, queued: &str) {
    let c = sb.cluster;
    let jobs_go_on = || {
        assert_job(sb, busy, "RUNNING");
        assert_job(sb, queued, "PENDING");
    };

    // 1. `resize -a` killed while the new VM is being created; `setup` brings it up and
    //    sets it up.
    let add = ["resize", c, "-a", "1:compute", "--yes"];
    kill_when_state(sb, &add, vm_requested("compute004"));
    let (out, took) = sb.run_ok(&["setup", c]);
    eprintln!(
        "e2e timing: setup after resize -a was killed: {:.1} s",
        took.as_secs_f64()
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Completing"),
        "{}",
        text(&out)
    );
    assert_eq!(slurm_nodes(sb), ["compute003", "compute004"]);
    let out = sb.ssh(&["--", "srun -w compute004 hostname"]);
    assert_eq!(sorted_lines(&out), ["compute004"], "{out}");
    assert_eq!(cloud_hosts(sb), ["compute003", "compute004", "frontend001"]);
    jobs_go_on();

    // 2. `remove-node` killed after the drain, once the node is marked as leaving: the next
    //    `resize -a` first finishes the removal (VM deleted, node forgotten), then adds its
    //    node under a new name; Slurm lists exactly the nodes that exist.
    let remove = ["remove-node", c, "compute004", "--yes"];
    kill_when_state(sb, &remove, marked_leaving("compute004"));
    let (out, took) = sb.run_ok(&add);
    eprintln!(
        "e2e timing: resize -a after remove-node was killed: {:.1} s",
        took.as_secs_f64()
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Finishing the removal of compute004"),
        "{}",
        text(&out)
    );
    assert!(!state_has_node(sb, "compute004"));
    assert!(!state_text(sb).contains("\"deleting\""));
    assert_eq!(cloud_hosts(sb), ["compute003", "compute005", "frontend001"]);
    assert_eq!(slurm_nodes(sb), ["compute003", "compute005"]);
    jobs_go_on();

    // 3. `remove-node` of the busy compute003 killed while it waits for the job (the node
    //    is drained): the next `resize -r` is not held up by it (it takes the idle
    //    compute005), the job goes on, compute003 stays drained and in the cluster.
    let drain = ["remove-node", c, "compute003", "--yes"];
    kill_at_line(sb, &drain, "Waiting up to");
    let (out, took) = sb.run_ok(&["resize", c, "-r", "1:compute", "--yes"]);
    eprintln!(
        "e2e timing: resize -r after a drain was killed: {:.1} s",
        took.as_secs_f64()
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Removed nodes compute005"),
        "{}",
        text(&out)
    );
    assert_eq!(slurm_nodes(sb), ["compute003"]);
    assert_eq!(cloud_hosts(sb), ["compute003", "frontend001"]);
    let st = sb.ssh(&["--", "sinfo -h -n compute003 -o %T"]);
    assert!(st.trim().starts_with("drain"), "compute003: {st}");
    jobs_go_on();
    let jobs = slurm_jobs(sb);
    assert!(
        jobs.iter()
            .all(|(_, _, nodes)| nodes.is_empty() || nodes == "compute003"),
        "a job on a node that is gone: {jobs:?}"
    );

    // 4. A run killed after writing slurm.conf but before restarting the daemons leaves
    //    them older than the file; the next `setup` restarts them although the file does
    //    not change.
    let since = "systemctl show --property=ActiveEnterTimestampMonotonic --value slurmctld";
    let before = sb.ssh(&["--", since]);
    sb.ssh(&["--", "sudo -n touch /etc/slurm/slurm.conf"]);
    let (_, took) = sb.run_ok(&["setup", c]);
    eprintln!(
        "e2e timing: setup restarting a daemon older than slurm.conf: {:.1} s",
        took.as_secs_f64()
    );
    let after = sb.ssh(&["--", since]);
    assert_ne!(before.trim(), after.trim(), "slurmctld was not restarted");
    assert_eq!(slurm_nodes(sb), ["compute003"]);
    jobs_go_on();
}
