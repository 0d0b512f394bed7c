//! Benchmark (not a test): `elasticluster setup` on sandbox Slurm clusters with 2, 4 and 8
//! workers, on the pre-baked image (`sandbox`: every package preinstalled) and on the stock
//! image (`sandbox-stock`: the playbooks install every package through the emulator's
//! package cache). Per run: wall time of the first setup, of an unchanged re-run (`setup`:
//! the playbooks check every node against what its last setup recorded, and stop there
//! when all match) and of an unchanged re-run of every task (`setup --full`), the
//! CPU seconds of `elasticluster` + Ansible (getrusage of the children) and of the whole
//! host (/proc/stat: includes the VMs, the emulator — and anything else running), and how
//! much the package cache fetched. Then the ratios the issue asks for, and for each image
//! where the first run's time goes per role.
//!
//!     cargo build --workspace && cargo run --example bench_setup [-- 2 4 8] [--only stock|pre-baked]
//!
//! Warm the package cache first (one stock run, e.g. `cargo test --test e2e_stock`); the
//! "fetched MB" column shows whether it was. Needs what the sandbox needs (root, the
//! emulator's VM images, `~/.elasticluster/sandbox-key` and `~/.elasticluster/ansible`,
//! which `examples/sandbox.sh` creates). Each run gets its own storage dir (so its own
//! emulator) and is stopped afterwards.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const PACKAGE_CACHE: &str = "/var/cache/azure-emulator/apt-cacher-ng";

#[path = "bench_common/built.rs"]
mod built;

fn elasticluster() -> PathBuf {
    built::built_program("elasticluster")
}

/// CPU seconds of reaped children (user + system).
fn children_cpu() -> f64 {
    // SAFETY: getrusage fills the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// Busy CPU seconds of the whole host since boot (/proc/stat, every state but idle/iowait).
fn host_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let f: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal …
    let busy: f64 = f
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4 && *i < 8)
        .map(|(_, v)| v)
        .sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    busy / hz
}

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

/// One measured `elasticluster` run.
#[derive(Default, Clone)]
struct Run {
    wall: f64,
    child_cpu: f64,
    host_cpu: f64,
    fetched_mb: f64,
    roles: BTreeMap<String, f64>,
}

fn run(storage: &Path, args: &[&str]) -> Result<Run, String> {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sandbox.conf");
    let callbacks = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/bench_setup_callbacks");
    let timing = storage.join("role-timing.json");
    let _ = std::fs::remove_file(&timing);
    let (cache0, child0, host0) = (
        bytes_under(Path::new(PACKAGE_CACHE)),
        children_cpu(),
        host_cpu(),
    );
    let t = Instant::now();
    let out = Command::new(elasticluster())
        .arg("-s")
        .arg(storage)
        .arg("-c")
        .arg(conf)
        .args(args)
        .env("ANSIBLE_CALLBACK_PLUGINS", &callbacks)
        .env("ANSIBLE_CALLBACKS_ENABLED", "bench_role_timing")
        .env("BENCH_ROLE_TIMING_FILE", &timing)
        .output()
        .map_err(|e| format!("cannot run elasticluster: {e}"))?;
    let wall = t.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "`elasticluster {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    let roles = std::fs::read_to_string(&timing)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    Ok(Run {
        wall,
        child_cpu: children_cpu() - child0,
        host_cpu: host_cpu() - host0,
        fetched_mb: bytes_under(Path::new(PACKAGE_CACHE)).saturating_sub(cache0) as f64 / 1e6,
        roles,
    })
}

/// What one cluster size measured: the first setup, the unchanged re-run (checked only),
/// the unchanged re-run of every task.
struct Sample {
    first: Run,
    again: Run,
    full: Run,
}

/// Start `cluster` with `workers` compute nodes (no setup), set it up three times (first,
/// unchanged, unchanged with `--full`), stop it.
fn bench(cluster: &str, workers: u32) -> Result<Sample, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let storage = dir.path();
    let nodes = format!("{workers}:compute");
    run(
        storage,
        &["start", cluster, "--nodes", &nodes, "--no-setup"],
    )?;
    let result = (|| -> Result<Sample, String> {
        let first = run(storage, &["setup", cluster])?;
        let again = run(storage, &["setup", cluster])?;
        let full = run(storage, &["setup", cluster, "--full"])?;
        Ok(Sample { first, again, full })
    })();
    let stopped = run(storage, &["stop", cluster, "--yes"]);
    let r = result?;
    stopped?;
    Ok(r)
}

fn main() {
    let mut sizes: Vec<u32> = Vec::new();
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--only" {
            only = args.next();
        } else if let Ok(n) = a.parse() {
            sizes.push(n);
        }
    }
    if sizes.is_empty() {
        sizes = vec![2, 4, 8];
    }
    let images = [("pre-baked", "sandbox"), ("stock", "sandbox-stock")];
    println!(
        "{:>9} {:>7} {:>9} {:>9} {:>7} {:>9} {:>7} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "image",
        "workers",
        "first s",
        "re-run s",
        "re/1st",
        "--full s",
        "full/1st",
        "ctl CPU 1",
        "host CPU 1",
        "ctl CPU re",
        "host CPU re",
        "fetch MB"
    );
    let mut results: Vec<(&str, u32, Sample)> = Vec::new();
    let mut failed = false;
    for (label, cluster) in images {
        if only.as_deref().is_some_and(|o| o != label) {
            continue;
        }
        for &w in &sizes {
            match bench(cluster, w) {
                Ok(sample) => {
                    let Sample { first, again, full } = &sample;
                    println!(
                        "{label:>9} {w:>7} {:>9.1} {:>9.1} {:>7.2} {:>9.1} {:>7.2} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>8.1}",
                        first.wall,
                        again.wall,
                        again.wall / first.wall,
                        full.wall,
                        full.wall / first.wall,
                        first.child_cpu,
                        first.host_cpu,
                        again.child_cpu,
                        again.host_cpu,
                        first.fetched_mb + again.fetched_mb + full.fetched_mb
                    );
                    results.push((label, w, sample));
                }
                Err(e) => {
                    failed = true;
                    println!("{label:>9} {w:>7} failed: {e}");
                }
            }
        }
    }

    println!("\nratios (targets: pre-baked 1+8 / 1+2 first run ≤ 2.00; re-run / first run ≤ 0.30)");
    for (label, _) in images {
        let of = |w: u32| {
            results
                .iter()
                .find(|r| r.0 == label && r.1 == w)
                .map(|r| r.2.first.wall)
        };
        let (Some(small), Some(big)) = (of(2), of(8)) else {
            continue;
        };
        println!("  {label}: 1+8 / 1+2 first run = {:.2}", big / small);
    }
    for (label, w, s) in &results {
        println!(
            "  {label} 1+{w}: re-run / first run = {:.2} (every task, --full: {:.2})",
            s.again.wall / s.first.wall,
            s.full.wall / s.first.wall
        );
    }

    for (label, _) in images {
        let runs: Vec<_> = results.iter().filter(|r| r.0 == label).collect();
        if runs.is_empty() {
            continue;
        }
        println!("\n{label} image, first run: wall seconds per role (Ansible, linear strategy)");
        let mut roles: Vec<&String> = runs.iter().flat_map(|r| r.2.first.roles.keys()).collect();
        roles.sort();
        roles.dedup();
        print!("{:>18}", "role");
        for r in &runs {
            print!(" {:>8}", format!("1+{}", r.1));
        }
        println!();
        for role in roles {
            print!("{role:>18}");
            for r in &runs {
                print!(
                    " {:>8.1}",
                    r.2.first.roles.get(role).copied().unwrap_or(0.0)
                );
            }
            println!();
        }
        // What the playbook run did not account for: the tool's own work (inventory,
        // ansible-playbook start-up, readiness checks).
        print!("{:>18}", "(outside Ansible)");
        for r in &runs {
            print!(
                " {:>8.1}",
                r.2.first.wall - r.2.first.roles.values().sum::<f64>()
            );
        }
        println!();
    }
    if failed {
        std::process::exit(1);
    }
}
