//! (Part of `e2e_sandbox.rs`, included as `#[path = "e2e_sandbox/membership.rs"] mod
//! membership;`.)
//!
//! Nodes joining and leaving the sandbox clusters for real: Slurm and GridEngine drain a
//! busy node and keep it until `--force`, idle nodes leave first, the scheduler never lists a
//! node that is gone, jobs survive the reconfigurations, a new node never reuses a name; and
//! the GridEngine cluster exported, imported into a second storage directory and stopped
//! from there. Reads the cluster through `ssh` and the state file; never edits either.

use std::time::{Duration, Instant};

use super::{check_clean_stop, check_sandbox_empty, text, SandboxCluster};

/// The lines of `out`, trimmed, without empty ones, sorted.
pub(super) fn sorted_lines(out: &str) -> Vec<String> {
    let mut v: Vec<String> = out
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    v
}

/// Poll `probe` (a command on the frontend) until `done(its output)`, for up to 2 minutes.
pub(super) fn wait_for(
    sb: &SandboxCluster,
    probe: &str,
    what: &str,
    done: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let out = sb.ssh(&["--", probe]);
        if done(&out) {
            return out;
        }
        assert!(Instant::now() < deadline, "{what}: `{probe}` printed {out}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Slurm job id → state (`RUNNING`, `PENDING`, …) and node list, from squeue.
pub(super) fn slurm_jobs(sb: &SandboxCluster) -> Vec<(String, String, String)> {
    sb.ssh(&["--", "squeue -h -o '%i %T %N'"])
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((
                w.next()?.to_string(),
                w.next()?.to_string(),
                w.next().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

fn slurm_state(sb: &SandboxCluster, job: &str) -> Option<String> {
    slurm_jobs(sb)
        .into_iter()
        .find(|(id, _, _)| id == job)
        .map(|(_, st, _)| st)
}

pub(super) fn slurm_nodes(sb: &SandboxCluster) -> Vec<String> {
    let mut v = sorted_lines(&sb.ssh(&["--", "sinfo -h -N -o %N"]));
    v.dedup();
    v
}

pub(super) fn state_has_node(sb: &SandboxCluster, node: &str) -> bool {
    std::fs::read_to_string(sb.storage.join(format!("{}.toml", sb.cluster)))
        .unwrap_or_default()
        .contains(&format!("name = \"{node}\""))
}

/// Asserts that Slurm shows `job` in `want` (`RUNNING`, `PENDING`); otherwise fails with
/// what the accounting and slurmctld's log say about it.
pub(super) fn assert_job(sb: &SandboxCluster, job: &str, want: &str) {
    let got = slurm_state(sb, job);
    if got.as_deref() != Some(want) {
        let why = sb.ssh(&[
            "--",
            &format!(
                "sacct -X -j {job} -o JobID,State,ExitCode,Reason,NodeList,End; \
                 sudo -n grep -E 'JobId={job}[^0-9]|job_id={job}[^0-9]' /var/log/slurm/slurmctld.log | tail -n 20"
            ),
        ]);
        panic!("job {job}: want {want}, Slurm shows {got:?}\n{why}");
    }
}

/// Nodes join and leave a Slurm 1+2 cluster: the new node gets work at once (`srun -N3`);
/// a node with a running job is drained and kept (exit 1 naming the job and its owner)
/// until `--force` kills the job; `resize -r` takes the idle node, not the last one; after
/// each command `sinfo` lists exactly the nodes that exist and the jobs elsewhere, running
/// or queued, are still there. Returns the ids of the job left running on compute003 and
/// of the job left queued.
pub(super) fn slurm_membership(sb: &SandboxCluster) -> (String, String) {
    let c = sb.cluster;
    let submit = |what: &str| {
        sb.ssh(&["--", &format!("cd ~ && sbatch --parsable {what}")])
            .trim()
            .to_string()
    };
    // (Before any long job: the sandbox's nodes have one CPU each, so a job on a node
    // would hold `srun -N3` back.)
    let (_, took) = sb.run_ok(&["resize", c, "-a", "1:compute", "--yes"]);
    eprintln!(
        "e2e timing: slurm resize -a 1:compute (1+2 -> 1+3): {:.1} s",
        took.as_secs_f64()
    );
    let out = sb.ssh(&["--", "srun -N3 hostname"]);
    assert_eq!(
        sorted_lines(&out),
        ["compute001", "compute002", "compute003"],
        "{out}"
    );

    let running = submit("-w compute002 --wrap 'sleep 600'");
    let queued = submit("--begin=now+3600 --wrap true");
    wait_for(sb, "squeue -h -o '%i %T'", "job running", |o| {
        o.contains(&format!("{running} RUNNING"))
    });

    // Busy: drained, kept, exit 1 naming the job and its owner.
    let t = Instant::now();
    let out = sb.run(&[
        "remove-node",
        c,
        "compute002",
        "--yes",
        "--drain-timeout",
        "3",
    ]);
    eprintln!(
        "e2e timing: slurm remove-node refused after --drain-timeout 3: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`compute002`")
            && err.contains(&format!("{running} (elasticluster)"))
            && err.contains("--force")
            && err.contains("nothing was deleted"),
        "{err}"
    );
    assert!(state_has_node(sb, "compute002"));
    let st = sb.ssh(&["--", "sinfo -h -n compute002 -o %T"]);
    assert!(
        st.trim().starts_with("drain"),
        "compute002 is drained: {st}"
    );
    assert_job(sb, &running, "RUNNING");

    // --force: the job is killed (and said so), the node leaves Slurm and the cloud.
    let (out, took) = sb.run_ok(&["remove-node", c, "compute002", "--yes", "--force"]);
    eprintln!(
        "e2e timing: slurm remove-node --force: {:.1} s",
        took.as_secs_f64()
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("killing jobs {running} (elasticluster)")),
        "{err}"
    );
    assert_eq!(slurm_nodes(sb), ["compute001", "compute003"]);
    assert!(!state_has_node(sb, "compute002"));
    let jobs = slurm_jobs(sb);
    assert!(
        jobs.iter()
            .all(|(id, _, nodes)| id != &running && !nodes.contains("compute002")),
        "{jobs:?}"
    );
    assert_job(sb, &queued, "PENDING");

    // resize -r takes the idle compute001, not the last (busy) compute003.
    let busy = submit("-w compute003 --wrap 'sleep 600'");
    wait_for(sb, "squeue -h -o '%i %T'", "job running", |o| {
        o.contains(&format!("{busy} RUNNING"))
    });
    let (out, took) = sb.run_ok(&["resize", c, "-r", "1:compute", "--yes"]);
    eprintln!(
        "e2e timing: slurm resize -r 1:compute: {:.1} s",
        took.as_secs_f64()
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Removed nodes compute001"), "{err}");
    assert_eq!(slurm_nodes(sb), ["compute003"]);
    assert_job(sb, &busy, "RUNNING");
    assert_job(sb, &queued, "PENDING");
    (busy, queued)
}

/// GridEngine hosts in `qhost` (no `global`).
fn qhosts(sb: &SandboxCluster) -> Vec<String> {
    sb.ssh(&["--", "qhost"])
        .lines()
        .skip(3)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// A GridEngine host with a running job is drained (its queue disabled) and kept; an idle
/// one leaves GridEngine's host lists and the cloud, and the job elsewhere goes on; a node
/// added afterwards takes a new name and works.
pub(super) fn gridengine_membership(sb: &SandboxCluster) {
    let c = sb.cluster;
    let job = sb
        .ssh(&[
            "--",
            "cd ~ && qsub -terse -b y -j y -o /dev/null -q all.q@compute002 sleep 600",
        ])
        .trim()
        .to_string();
    let running = format!("qstat -s r -u '*' | awk '$1 == {job} {{print $8}}'");
    wait_for(sb, &running, "job running", |o| o.contains("compute002"));

    let t = Instant::now();
    let out = sb.run(&[
        "remove-node",
        c,
        "compute002",
        "--yes",
        "--drain-timeout",
        "3",
    ]);
    eprintln!(
        "e2e timing: gridengine remove-node refused after --drain-timeout 3: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`compute002`") && err.contains(&format!("{job} (elasticluster)")),
        "{err}"
    );
    assert!(state_has_node(sb, "compute002"));
    let queue = sb.ssh(&["--", "qstat -f -q all.q@compute002 | grep '^all.q@'"]);
    assert!(
        queue.trim().ends_with(" d"),
        "its queue is disabled: {queue}"
    );

    let (_, took) = sb.run_ok(&["remove-node", c, "compute001", "--yes"]);
    eprintln!(
        "e2e timing: gridengine remove-node of an idle node: {:.1} s",
        took.as_secs_f64()
    );
    assert_eq!(qhosts(sb), ["compute002"]);
    let lists = sb.ssh(&["--", "qconf -sel; qconf -ss; qconf -sh"]);
    assert!(!lists.contains("compute001"), "{lists}");
    assert!(!state_has_node(sb, "compute001"));
    let out = sb.ssh(&["--", &running]);
    assert!(out.contains("compute002"), "the job goes on: {out}");

    // A node added now gets a name no node had (the qmaster remembers that compute001 did
    // not resolve): jobs run there and the cluster user's ssh trusts its key.
    let (_, took) = sb.run_ok(&["resize", c, "-a", "1:compute", "--yes"]);
    eprintln!(
        "e2e timing: gridengine resize -a 1:compute: {:.1} s",
        took.as_secs_f64()
    );
    assert_eq!(qhosts(sb), ["compute002", "compute003"]);
    let out = sb.ssh(&[
        "--",
        "cd ~ && qsub -sync y -b y -j y -o ge-new.out -q all.q@compute003 hostname && cat ge-new.out \
         && ssh -o BatchMode=yes -o StrictHostKeyChecking=yes compute003 hostname",
    ]);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert!(
        lines.ends_with(&["compute003", "compute003"]),
        "job and ssh on the new compute003: {out}"
    );
}

/// The cluster exported with its keys and imported into a second storage directory is
/// reached and stopped from there; nothing is left in the cloud. The original storage
/// directory's `stop` then finds nothing left and also succeeds.
pub(super) fn check_export_import_stop(sb: &SandboxCluster) {
    let c = sb.cluster;
    let zip = sb.home.join("exported.zip");
    let zip_s = zip.display().to_string();
    sb.run_ok(&["export", c, "--save-keys", "-o", &zip_s]);
    let other = sb.home.join("storage2");
    let out = sb.run_in(&other, &["import", &zip_s]);
    assert!(out.status.success(), "import: {}", text(&out));
    let out = sb.run_in(&other, &["ssh", c, "--", "hostname"]);
    assert!(out.status.success(), "ssh from the import: {}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "frontend001");
    let out = sb.run_in(&other, &["stop", c, "--yes"]);
    assert!(out.status.success(), "stop from the import: {}", text(&out));
    assert!(!other.join(format!("{c}.toml")).exists());
    check_sandbox_empty(sb);
    check_clean_stop(sb);
}
