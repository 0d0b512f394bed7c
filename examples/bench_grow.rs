//! Benchmark (not a test): wall time of adding one compute node (`resize -a 1:compute`) to
//! sandbox Slurm clusters of 1 frontend + 2 and 1 frontend + 8 compute nodes, and their
//! ratio (target ≤ 1.3: the nodes already there only get what the node list changes). For
//! reference, the wall time of a whole `setup` of the grown cluster afterwards, which is what
//! re-running the entire playbook on every node (ElastiCluster's resize) costs.
//!
//!     cargo build --workspace && cargo run --example bench_grow [-- 2 8]
//!
//! Needs what the sandbox needs (root, the emulator's VM image, `~/.elasticluster/sandbox-key`
//! and `~/.elasticluster/ansible`, which `examples/sandbox.sh` creates). Each size gets its own
//! storage dir (so its own emulator) and is stopped afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn elasticluster() -> PathBuf {
    // target/<profile>/examples/bench_grow → target/<profile>/elasticluster
    let me = std::env::current_exe().unwrap_or_default();
    let bin = me
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("elasticluster"));
    match bin {
        Some(b) if b.is_file() => b,
        _ => {
            eprintln!("bench_grow: build the tool first: cargo build --workspace");
            std::process::exit(1);
        }
    }
}

fn run(storage: &Path, args: &[&str]) -> Result<Duration, String> {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sandbox.conf");
    let t = Instant::now();
    let out = Command::new(elasticluster())
        .arg("-s")
        .arg(storage)
        .arg("-c")
        .arg(conf)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run elasticluster: {e}"))?;
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
    Ok(t.elapsed())
}

/// (time of `resize -a 1:compute`, time of a whole `setup` afterwards).
fn bench(workers: u32) -> Result<(Duration, Duration), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let storage = dir.path();
    let nodes = format!("{workers}:compute");
    let started = run(storage, &["start", "sandbox", "--nodes", &nodes]);
    let result = started.and_then(|_| {
        let grow = run(storage, &["resize", "sandbox", "-a", "1:compute", "--yes"])?;
        let whole = run(storage, &["setup", "sandbox"])?;
        Ok((grow, whole))
    });
    let stopped = run(storage, &["stop", "sandbox", "--yes"]);
    let r = result?;
    stopped?;
    Ok(r)
}

fn main() {
    let sizes: Vec<u32> = {
        let args: Vec<u32> = std::env::args()
            .skip(1)
            .filter_map(|a| a.parse().ok())
            .collect();
        if args.len() == 2 {
            args
        } else {
            vec![2, 8]
        }
    };
    println!(
        "{:>8} {:>16} {:>22}",
        "workers", "add 1 node (s)", "whole setup after (s)"
    );
    let mut grow = Vec::new();
    for w in &sizes {
        match bench(*w) {
            Ok((g, whole)) => {
                println!(
                    "{:>8} {:>16.1} {:>22.1}",
                    format!("1+{w}"),
                    g.as_secs_f64(),
                    whole.as_secs_f64()
                );
                grow.push(g.as_secs_f64());
            }
            Err(e) => {
                println!("{:>8} failed: {e}", format!("1+{w}"));
                std::process::exit(1);
            }
        }
    }
    let ratio = grow[1] / grow[0];
    println!(
        "ratio 1+{} / 1+{}: {ratio:.2} (target <= 1.3: {})",
        sizes[1],
        sizes[0],
        if ratio <= 1.3 { "met" } else { "NOT met" }
    );
}
