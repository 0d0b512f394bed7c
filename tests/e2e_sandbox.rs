//! End to end, for real: the README's sandbox config (`examples/sandbox.conf`) through the
//! `elasticluster` binary. The tool starts its own Azure-classic emulator with container VMs,
//! the embedded playbooks install Slurm / GridEngine, jobs run (and, for Slurm, are in the
//! slurmdbd accounting database), the nodes have the size of their flavor (Slurm's node
//! lines, `qhost`), a second setup only checks an unchanged cluster and repairs a drifted
//! file (`setup --full` runs every task and changes nothing), nodes join and leave (a busy node is
//! drained and kept until `--force`, an idle one leaves first, the scheduler never lists a
//! node that is gone, jobs survive the reconfigurations; see `e2e_sandbox/membership.rs`),
//! membership changes killed with SIGKILL are finished by the next command with no ghost
//! node in Slurm (`e2e_sandbox/cut_short.rs`),
//! the GridEngine cluster is exported and stopped from a second storage directory, and
//! `stop` deletes every cloud resource and stops the emulator.
//!
//! Needs root, systemd-nspawn, ansible-playbook on PATH and the emulator's VM image (`.ci/run`
//! provides all of them). Each test has its own storage dir, hence its own emulator, bridge,
//! subnet and VIP block; a guard stops the cluster even when an assertion fails.

use std::time::{Duration, Instant};

#[path = "support/sandbox_cluster.rs"]
mod sandbox_cluster;
use sandbox_cluster::{only_checked, tasks_run, text, SandboxCluster};

#[path = "e2e_sandbox/cut_short.rs"]
mod cut_short;
#[path = "e2e_sandbox/membership.rs"]
mod membership;
use cut_short::slurm_cut_short;
use membership::{check_export_import_stop, gridengine_membership, slurm_membership};

/// One sandbox cluster; `elasticluster` commands time out after 20 minutes.
fn sandbox(cluster: &'static str) -> SandboxCluster {
    SandboxCluster::new(
        "the sandbox end-to-end tests",
        cluster,
        Duration::from_secs(1200),
    )
}

/// `start` (with `env` set for it) reports the cluster ready; returns everything it printed.
fn start_ready(sb: &SandboxCluster, env: &[(&str, &str)]) -> String {
    let mut cmd = sb.cmd();
    cmd.envs(env.iter().copied()).args(["start", sb.cluster]);
    let out = cmd.output().expect("run elasticluster start");
    assert!(out.status.success(), "start failed: {}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("Your cluster `{}` is ready!", sb.cluster)),
        "{}",
        text(&out)
    );
    text(&out)
}

/// The sandbox's compute nodes are Small VMs (`flavor = Small` in examples/sandbox.conf):
/// Azure's Small is 1 core and 1792 MB, which is what the emulator's VMs must report.
const SMALL_CORES: u32 = 1;
const SMALL_MEMORY_MB: u32 = 1792;

/// Slurm's node lines (from the nodes' facts) give every compute node a Small VM's size.
fn check_slurm_node_sizes(sb: &SandboxCluster) {
    let out = sb.ssh(&["--", "scontrol -o show node"]);
    eprintln!("scontrol -o show node:\n{out}");
    // What slurmd itself detects on a node (for the record; Slurm uses the configured size).
    let detected = sb.ssh(&["-n", "compute001", "--", "/usr/sbin/slurmd -C | head -1"]);
    eprintln!("slurmd -C on compute001: {detected}");
    let nodes: Vec<&str> = out.lines().filter(|l| l.starts_with("NodeName=")).collect();
    assert_eq!(nodes.len(), 2, "scontrol show node: {out}");
    for n in nodes {
        for want in [
            format!(" CPUTot={SMALL_CORES} "),
            format!(" RealMemory={SMALL_MEMORY_MB} "),
        ] {
            assert!(n.contains(&want), "{want:?} missing from {n}");
        }
    }
}

/// `qhost` shows every compute node with a Small VM's cores and memory.
fn check_qhost_sizes(sb: &SandboxCluster) {
    let out = sb.ssh(&["--", "qhost"]);
    eprintln!("qhost:\n{out}");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .filter(|l| l.starts_with("compute"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "qhost: {out}");
    for r in rows {
        assert_eq!(r[2], SMALL_CORES.to_string(), "NCPU in {out}");
        let gib: f64 = r[7]
            .strip_suffix('G')
            .and_then(|g| g.parse().ok())
            .unwrap_or_else(|| panic!("MEMTOT in {out}"));
        let want = f64::from(SMALL_MEMORY_MB) / 1024.0;
        assert!(
            (gib - want).abs() < 0.06,
            "MEMTOT {gib}G, want {want}G: {out}"
        );
    }
}

/// The file a user writes in their home on the frontend is visible on a compute node, and
/// the cluster user's key pair, written once into the shared home, lets it ssh between
/// nodes without a password, from any node (not only the one that wrote it).
fn check_shared_home(sb: &SandboxCluster) {
    let token = format!("e2e-{}", std::process::id());
    sb.ssh(&["--", &format!("echo {token} > ~/shared-home-check")]);
    let seen = sb.ssh(&["-n", "compute002", "--", "cat ~/shared-home-check"]);
    assert_eq!(seen.trim(), token);
    let hops = sb.ssh(&[
        "--",
        "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes compute002 \
         ssh -o BatchMode=yes -o StrictHostKeyChecking=yes compute001 hostname",
    ]);
    assert_eq!(
        hops.trim(),
        "compute001",
        "frontend → compute002 → compute001"
    );
}

/// A second setup on an unchanged cluster changes nothing and still reports ready.
/// `extra` goes after `setup NAME`; returns everything the run printed.
fn check_idempotent_setup(sb: &SandboxCluster, extra: &[&str]) -> String {
    let mut args = vec!["setup", sb.cluster];
    args.extend_from_slice(extra);
    let out = sb.run(&args);
    assert!(out.status.success(), "setup failed: {}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("changed nothing"),
        "second setup changed something: {}",
        text(&out)
    );
    assert!(stdout.contains("is ready!"), "{}", text(&out));
    text(&out)
}

/// A plain `setup` of an unchanged cluster only checks it: the first play finds every node
/// as its last complete setup left it, and no role runs (a few seconds instead of a whole
/// setup). Returns the setup's duration.
fn check_unchanged_setup_only_checks(sb: &SandboxCluster) -> Duration {
    let started = Instant::now();
    let output = check_idempotent_setup(sb, &[]);
    let took = started.elapsed();
    assert!(
        only_checked(&output),
        "an unchanged cluster should only be checked, but these tasks ran: {:?}\n{output}",
        tasks_run(&output)
    );
    took
}

/// A node that drifted from its last setup is repaired by a plain `setup`: a line added to
/// a worker's slurm.conf is named as the difference, the whole setup runs and writes the
/// file back, and the next `setup` finds nothing to do again.
fn check_drifted_file_repaired(sb: &SandboxCluster) {
    let conf = "/etc/slurm/slurm.conf";
    sb.ssh(&[
        "-n",
        "compute001",
        "--",
        &format!("echo '# drifted' | sudo -n tee -a {conf} >/dev/null"),
    ]);
    let out = sb.run(&["setup", sb.cluster]);
    assert!(
        out.status.success(),
        "setup after drift failed: {}",
        text(&out)
    );
    let all = text(&out);
    assert!(
        all.contains(&format!("{conf}: content, owner or mode changed")),
        "the check should name the drifted file: {all}"
    );
    assert!(
        tasks_run(&all)
            .iter()
            .any(|t| t.starts_with("slurm : Write slurm.conf")),
        "the whole setup should have run after drift: {all}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("changed nothing"),
        "the setup after drift should have changed slurm.conf back: {all}"
    );
    let tail = sb.ssh(&["-n", "compute001", "--", &format!("tail -n 1 {conf}")]);
    assert!(
        !tail.contains("# drifted"),
        "slurm.conf still has the drifted line"
    );
    check_unchanged_setup_only_checks(sb);
}

/// The frontend's job accounting (`sacct -X -n`, jobs of the last day), polled until it
/// lists a COMPLETED job: slurmctld hands finished jobs to slurmdbd asynchronously.
fn completed_jobs(sb: &SandboxCluster) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = sb.ssh(&["--", "sacct -X -n -S now-1days -o JobID,State"]);
        if out.contains("COMPLETED") {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "sacct shows no COMPLETED job after 60 s: {out:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// slurmdbd's configuration is private to `slurm`, and the database password it holds is
/// the one the playbook made on the frontend; returns that password.
fn check_slurmdbd_secret(sb: &SandboxCluster) -> String {
    let mode = sb.ssh(&["--", "stat -c '%a %U' /etc/slurm/slurmdbd.conf"]);
    assert_eq!(mode.trim(), "600 slurm", "slurmdbd.conf mode/owner");
    let password = sb.ssh(&[
        "--",
        "sudo -n cat /etc/mysql/elasticluster-slurmdbd.password",
    ]);
    let password = password.trim().to_string();
    assert!(
        password.len() >= 32 && password.chars().all(|c| c.is_ascii_alphanumeric()),
        "the database password should be 32 random letters and digits, got {} characters",
        password.len()
    );
    let conf = sb.ssh(&["--", "sudo -n cat /etc/slurm/slurmdbd.conf"]);
    assert!(
        conf.lines().any(|l| l == format!("StoragePass={password}")),
        "slurmdbd.conf does not use the password made on the frontend"
    );
    password
}

/// The secret appears in no file `elasticluster` keeps about the cluster (state, inventory,
/// known_hosts: every file directly in the storage directory).
fn check_secret_not_stored(sb: &SandboxCluster, secret: &str) {
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&sb.storage).expect("read storage dir") {
        let path = entry.expect("storage entry").path();
        if !path.is_file() {
            continue;
        }
        let data = std::fs::read(&path).expect("read storage file");
        assert!(
            !String::from_utf8_lossy(&data).contains(secret),
            "the database password is in {}",
            path.display()
        );
        seen.push(
            path.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
        );
    }
    for must in [
        format!("{}.toml", sb.cluster),
        format!("{}.inventory", sb.cluster),
    ] {
        assert!(seen.contains(&must), "{must} not found among {seen:?}");
    }
}

/// `stop` deletes everything and stops the emulator: no state left, no VM process left, and
/// the emulator's own inventory (its admin API, read from its persisted state) is empty.
fn check_clean_stop(sb: &SandboxCluster) {
    let out = sb.run(&["stop", sb.cluster, "--yes"]);
    assert!(out.status.success(), "stop failed: {}", text(&out));
    assert!(
        !sb.storage.join(format!("{}.toml", sb.cluster)).exists(),
        "state file left behind"
    );
    assert!(!sb
        .storage
        .join(format!("{}.known_hosts", sb.cluster))
        .exists());
    assert!(!sb.storage.join(format!("{}.facts", sb.cluster)).exists());
    check_sandbox_empty(sb);
}

/// No process of the sandbox runs and the emulator's inventory is empty.
fn check_sandbox_empty(sb: &SandboxCluster) {
    let ps = std::process::Command::new("ps")
        .args(["-eo", "args"])
        .output()
        .expect("ps");
    let procs = String::from_utf8_lossy(&ps.stdout);
    let mine = sb.emulator_state().display().to_string();
    assert!(
        !procs.lines().any(|l| l.contains(&mine)),
        "processes of this sandbox are still running"
    );

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let inventory = rt.block_on(async {
        let dir = sb.storage.join("sandbox");
        let sub =
            std::fs::read_to_string(dir.join("subscription-id")).expect("sandbox subscription id");
        let opts = azure_emulator::EmulatorOptions {
            state_dir: sb.emulator_state(),
            subscriptions: vec![(sub.trim().to_string(), dir.join("management.pem"))],
            ..Default::default()
        };
        let emu = azure_emulator::start(opts)
            .await
            .expect("reopen the emulator state");
        let inv = emu.inventory().await;
        emu.shutdown().await;
        inv
    });
    // The reopened emulator wrote its endpoint (with this process's id) where the tool
    // looks for the sandbox's: remove it, so a later command starts the real one again.
    let _ = std::fs::remove_file(sb.emulator_state().join("endpoint.json"));
    let subs = inventory["subscriptions"]
        .as_object()
        .expect("subscriptions");
    assert!(
        !subs.is_empty(),
        "the sandbox subscription is missing: {inventory}"
    );
    for (id, s) in subs {
        for key in ["hosted_services", "storage_accounts", "disks", "vnet_sites"] {
            let left = s[key].as_array().map(Vec::len).unwrap_or(usize::MAX);
            assert_eq!(left, 0, "subscription {id}: {key} left behind: {}", s[key]);
        }
    }
}

#[test]
fn slurm_sandbox_end_to_end() {
    let sb = sandbox("sandbox");
    // The first setup, which makes and uses the database password, runs Ansible at -vvvv.
    let start_output = start_ready(&sb, &[("ANSIBLE_VERBOSITY", "4")]);
    assert!(
        start_output.contains("ESTABLISH SSH CONNECTION"),
        "the first setup should have run Ansible at verbosity 4"
    );

    // srun exits 0 even when a launch failed: check what it printed.
    let out = sb.ssh(&["--", "srun -N2 hostname"]);
    let mut hosts: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    hosts.sort();
    assert_eq!(
        hosts,
        ["compute001", "compute002"],
        "srun -N2 hostname printed: {out}"
    );

    check_slurm_node_sizes(&sb);

    // Accounting (slurmdbd, the default): the job is recorded as COMPLETED.
    let jobs = completed_jobs(&sb);
    let lines: Vec<&str> = jobs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one job expected in sacct: {jobs}");
    let password = check_slurmdbd_secret(&sb);
    assert!(
        !start_output.contains(&password),
        "the database password is in the output of the first setup"
    );

    check_shared_home(&sb);
    // Same inputs as the start's setup: only checked; then a drifted file is repaired.
    let checked = check_unchanged_setup_only_checks(&sb);
    eprintln!(
        "unchanged setup (checked only): {:.1} s",
        checked.as_secs_f64()
    );
    check_drifted_file_repaired(&sb);
    // Ansible at its most verbose: the password must still not show.
    // `--full`: every task, even though nothing changed.
    let output = check_idempotent_setup(&sb, &["--full", "-vvvv", "--", "-vvvv"]);
    assert!(
        tasks_run(&output).iter().any(|t| t.starts_with("slurm : ")),
        "`setup --full` should run every task"
    );
    assert!(
        output.contains("ESTABLISH SSH CONNECTION"),
        "the second setup should have run ansible-playbook -vvvv"
    );
    assert!(
        !output.contains(&password),
        "the database password is in the setup output"
    );
    check_secret_not_stored(&sb, &password);
    // The re-runs kept the database, its records and the password.
    assert_eq!(completed_jobs(&sb), jobs, "the job record changed");
    assert_eq!(check_slurmdbd_secret(&sb), password, "the password changed");
    let (busy, queued) = slurm_membership(&sb);
    slurm_cut_short(&sb, &busy, &queued);
    check_clean_stop(&sb);
}

#[test]
fn gridengine_sandbox_end_to_end() {
    let sb = sandbox("sandbox-gridengine");
    start_ready(&sb, &[]);

    // As the cluster user (GridEngine refuses uid < 1000), wait for the job to finish.
    let out = sb.ssh(&[
        "--",
        "cd ~ && qsub -sync y -b y -j y -o ge-e2e.out hostname && cat ge-e2e.out",
    ]);
    assert!(
        out.contains("exited with exit code 0"),
        "qsub -sync y printed: {out}"
    );
    let ran_on = out.lines().last().unwrap_or_default().trim().to_string();
    assert!(
        ran_on == "compute001" || ran_on == "compute002",
        "the job should run on a compute node, ran on {ran_on:?}: {out}"
    );
    check_qhost_sizes(&sb);

    check_shared_home(&sb);
    check_unchanged_setup_only_checks(&sb);
    gridengine_membership(&sb);
    check_export_import_stop(&sb);
}
