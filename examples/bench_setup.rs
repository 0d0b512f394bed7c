//! Benchmark (not a test): wall time of `elasticluster setup` on sandbox Slurm clusters with
//! 2, 4 and 8 workers, first run and unchanged re-run, plus the re-run/first ratio.
//!
//!     cargo build --workspace && cargo run --example bench_setup [-- 2 4 8]
//!
//! Needs what the sandbox needs (root, the emulator's VM image, `~/.elasticluster/sandbox-key`
//! and `~/.elasticluster/ansible`, which `examples/sandbox.sh` creates). Each size gets its own
//! storage dir (so its own emulator) and is stopped afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn elasticluster() -> PathBuf {
    // target/<profile>/examples/bench_setup → target/<profile>/elasticluster
    let me = std::env::current_exe().unwrap_or_default();
    let bin = me
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("elasticluster"));
    match bin {
        Some(b) if b.is_file() => b,
        _ => {
            eprintln!("bench_setup: build the tool first: cargo build --workspace");
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

fn bench(workers: u32) -> Result<(Duration, Duration), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let storage = dir.path();
    let nodes = format!("{workers}:compute");
    run(
        storage,
        &["start", "sandbox", "--nodes", &nodes, "--no-setup"],
    )?;
    let result = (|| -> Result<(Duration, Duration), String> {
        let first = run(storage, &["setup", "sandbox"])?;
        let again = run(storage, &["setup", "sandbox"])?;
        Ok((first, again))
    })();
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
        if args.is_empty() {
            vec![2, 4, 8]
        } else {
            args
        }
    };
    println!(
        "{:>8} {:>12} {:>12} {:>8}",
        "workers", "first (s)", "re-run (s)", "ratio"
    );
    let mut failed = false;
    for w in sizes {
        match bench(w) {
            Ok((first, again)) => println!(
                "{w:>8} {:>12.1} {:>12.1} {:>8.2}",
                first.as_secs_f64(),
                again.as_secs_f64(),
                again.as_secs_f64() / first.as_secs_f64()
            ),
            Err(e) => {
                failed = true;
                println!("{w:>8} failed: {e}");
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
