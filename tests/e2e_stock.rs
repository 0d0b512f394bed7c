//! End to end on a stock image: the sandbox's `sandbox-stock` cluster (examples/sandbox.conf,
//! 1 frontend + 2 compute, Slurm) boots `debian-12-stock`, a cloud's base image with no
//! cluster software, so the embedded playbooks install every package — through the
//! emulator's package cache (apt-cacher-ng on the emulator host), as on Azure. Then: a job
//! runs on both workers, an unchanged re-run changes nothing, a worker whose slurmd was
//! stopped is repaired by a re-run (back and idle in sinfo), and `stop` leaves nothing (no
//! VM, no emulator, no apt-cacher-ng).
//!
//! The first run on a machine downloads the packages (cold cache, a few minutes); later runs
//! take them from `/var/cache/azure-emulator/apt-cacher-ng`. Needs what `.ci/run` provides:
//! root, systemd-nspawn, apt-cacher-ng, ansible-playbook on PATH and both VM images. One
//! cluster serves every check, to keep CI time down; a guard stops it on failure.

use std::path::Path;
use std::time::{Duration, Instant};

#[path = "support/sandbox_cluster.rs"]
mod sandbox_cluster;
use sandbox_cluster::{only_checked, text, SandboxCluster};

const CLUSTER: &str = "sandbox-stock";
const PACKAGE_CACHE: &str = "/var/cache/azure-emulator/apt-cacher-ng";

/// `setup` succeeds and reports the cluster ready; returns its stdout.
fn setup(sb: &SandboxCluster) -> String {
    let out = sb.run(&["setup", CLUSTER]);
    assert!(out.status.success(), "setup failed: {}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(stdout.contains("is ready!"), "{}", text(&out));
    stdout
}

/// Bytes under `dir` (the package cache's size: how much a run downloaded).
fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => bytes_under(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// `srun -N2 hostname` runs on both workers (srun exits 0 even when a launch failed, so
/// check what it printed).
fn check_job_on_both_workers(sb: &SandboxCluster) {
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
}

/// The image had no Slurm: the playbook installed it (apt's history says so) through the
/// emulator's package cache (the VM's apt proxy is its default gateway).
fn check_installed_through_cache(sb: &SandboxCluster) {
    for node in ["compute001", "frontend001"] {
        let history = sb.ssh(&["-n", node, "--", "cat /var/log/apt/history.log"]);
        assert!(
            history.lines().any(|l| l.starts_with("Install:")
                && l.contains("munge:amd64")
                && l.contains("slurm")),
            "{node}: apt installed no Slurm/MUNGE packages: {history}"
        );
        // The cache answers on the VM's default gateway: the emulator's bridge, or the
        // relay on the subnet gateway of the VM's isolated virtual network segment.
        let proxy = sb.ssh(&["-n", node, "--", "apt-config dump Acquire::http::Proxy"]);
        let route = sb.ssh(&["-n", node, "--", "ip -4 route show default"]);
        let gateway = route
            .split_whitespace()
            .skip_while(|w| *w != "via")
            .nth(1)
            .unwrap_or_else(|| panic!("{node}: no default gateway: {route}"));
        assert!(
            proxy.contains(&format!("Acquire::http::Proxy \"http://{gateway}:")),
            "{node}: apt does not use the emulator's package cache at its gateway {gateway}: {proxy}"
        );
    }
    let history = sb.ssh(&["-n", "frontend001", "--", "cat /var/log/apt/history.log"]);
    assert!(
        history.contains("slurmctld:amd64") && history.contains("mariadb-server:amd64"),
        "frontend001: slurmctld and MariaDB not installed by the playbook: {history}"
    );
}

/// sinfo's state of `node` (e.g. `idle`, `down*`).
fn node_state(sb: &SandboxCluster, node: &str) -> String {
    sb.ssh(&["--", &format!("sinfo -h -N -n {node} -o %t")])
        .trim()
        .to_string()
}

/// A worker whose slurmd stopped is repaired by a re-run: slurmd runs again and the node
/// is idle in sinfo.
fn check_drift_repaired(sb: &SandboxCluster) {
    sb.ssh(&["-n", "compute002", "--", "sudo -n systemctl stop slurmd"]);
    let state = sb.ssh(&[
        "-n",
        "compute002",
        "--",
        "systemctl is-active slurmd || true",
    ]);
    assert_eq!(state.trim(), "inactive", "slurmd should be stopped");
    let started = Instant::now();
    let out = setup(sb);
    eprintln!(
        "re-run after drift: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        !out.contains("changed nothing"),
        "the re-run should have restarted slurmd: {out}"
    );
    assert!(
        out.contains("service slurmd is inactive"),
        "the check should name the stopped service: {out}"
    );
    let state = sb.ssh(&[
        "-n",
        "compute002",
        "--",
        "systemctl is-active slurmd || true",
    ]);
    assert_eq!(state.trim(), "active", "slurmd is not back on compute002");
    // slurmctld notices the re-registered node within its ping interval.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = node_state(sb, "compute002");
        if s == "idle" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "compute002 is `{s}` in sinfo 120 s after the re-run, not idle"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    check_job_on_both_workers(sb);
}

/// `stop` deletes the cluster and stops the emulator: no state file, and no process of
/// this sandbox left (VMs, emulator, its lxcfs and apt-cacher-ng all ran with paths under
/// the sandbox's state directory).
fn check_clean_stop(sb: &SandboxCluster) {
    let out = sb.run(&["stop", CLUSTER, "--yes"]);
    assert!(out.status.success(), "stop failed: {}", text(&out));
    assert!(
        !sb.storage.join(format!("{CLUSTER}.toml")).exists(),
        "state file left behind"
    );
    let ps = std::process::Command::new("ps")
        .args(["-eo", "pid,args"])
        .output()
        .expect("ps");
    let procs = String::from_utf8_lossy(&ps.stdout);
    let mine = sb.emulator_state().display().to_string();
    let left: Vec<&str> = procs.lines().filter(|l| l.contains(&mine)).collect();
    assert!(left.is_empty(), "processes of this sandbox left: {left:?}");
}

#[test]
fn slurm_on_a_stock_image_installs_everything_and_repairs_drift() {
    let sb = SandboxCluster::new(
        "the stock-image end-to-end test",
        CLUSTER,
        Duration::from_secs(1500),
    );
    let cache_before = bytes_under(Path::new(PACKAGE_CACHE));
    let started = Instant::now();
    let out = sb.run(&["start", CLUSTER]);
    assert!(out.status.success(), "start failed: {}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(&format!("Your cluster `{CLUSTER}` is ready!")),
        "{}",
        text(&out)
    );
    let cache_after = bytes_under(Path::new(PACKAGE_CACHE));
    eprintln!(
        "start (boot + setup with package installs): {:.1} s; package cache {:.1} MB before, {:.1} MB after ({})",
        started.elapsed().as_secs_f64(),
        cache_before as f64 / 1e6,
        cache_after as f64 / 1e6,
        if cache_after > cache_before + 5_000_000 { "cold" } else { "warm" }
    );

    check_job_on_both_workers(&sb);
    check_installed_through_cache(&sb);

    let started = Instant::now();
    let out = setup(&sb);
    eprintln!("unchanged re-run: {:.1} s", started.elapsed().as_secs_f64());
    assert!(
        out.contains("changed nothing"),
        "the re-run changed something: {out}"
    );
    // Only checked: each node matches what its last setup recorded, so no role runs.
    assert!(
        only_checked(&out),
        "the unchanged re-run should only have checked the nodes: {out}"
    );

    check_drift_repaired(&sb);
    check_clean_stop(&sb);
}
