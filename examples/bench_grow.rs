//! Benchmark (not a test): wall time of adding one compute node (`resize -a 1:compute`) to
//! sandbox Slurm clusters of 1 frontend + 2 and 1 frontend + 8 compute nodes, and their
//! ratio (target ≤ 1.3: the nodes already there only get what the node list changes). Each
//! round adds a node to each cluster in turn and removes it again; the medians are compared.
//! For reference, the wall time of a whole `setup` of each cluster at the end, which is what
//! re-running the entire playbook on every node (ElastiCluster's resize) costs.
//!
//!     cargo build --workspace && cargo run --example bench_grow [-- SMALL LARGE [ROUNDS]]
//!
//! (default 2 8 3). Needs what the sandbox needs (root, the emulator's VM image,
//! `~/.elasticluster/sandbox-key` and `~/.elasticluster/ansible`, which `examples/sandbox.sh`
//! creates). Each cluster has its own storage dir (so its own emulator) and is stopped at the
//! end.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "bench_common/built.rs"]
mod built;

fn elasticluster() -> PathBuf {
    built::built_program("elasticluster")
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

/// A sandbox cluster of 1 frontend + `workers` compute nodes in its own storage directory.
struct Cluster {
    workers: u32,
    _dir: tempfile::TempDir,
    storage: PathBuf,
    adds: Vec<f64>,
    whole: Option<f64>,
}

impl Cluster {
    fn start(workers: u32) -> Result<Cluster, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let storage = dir.path().to_path_buf();
        let c = Cluster {
            workers,
            _dir: dir,
            storage,
            adds: Vec::new(),
            whole: None,
        };
        run(
            &c.storage,
            &["start", "sandbox", "--nodes", &format!("{workers}:compute")],
        )?;
        Ok(c)
    }

    /// Add one compute node (timed), then take it out again (idle nodes leave first, the
    /// last name first: the one just added), so every round starts from the same size.
    fn round(&mut self) -> Result<(), String> {
        let t = run(
            &self.storage,
            &["resize", "sandbox", "-a", "1:compute", "--yes"],
        )?;
        self.adds.push(t.as_secs_f64());
        run(
            &self.storage,
            &["resize", "sandbox", "-r", "1:compute", "--yes"],
        )?;
        Ok(())
    }

    fn stop(&self) -> Result<Duration, String> {
        run(&self.storage, &["stop", "sandbox", "--yes"])
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

fn main() {
    let args: Vec<u32> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (small, large, rounds) = match args[..] {
        [a, b, r] => (a, b, r.max(1)),
        [a, b] => (a, b, 3),
        _ => (2, 8, 3),
    };
    // Both clusters run side by side and take turns, so the noise of a shared machine
    // falls on both alike; the median of the rounds is compared.
    let mut clusters = Vec::new();
    for w in [small, large] {
        match Cluster::start(w) {
            Ok(c) => clusters.push(c),
            Err(e) => {
                eprintln!("bench_grow: starting 1+{w}: {e}");
                for c in &clusters {
                    let _ = c.stop();
                }
                std::process::exit(1);
            }
        }
    }
    let mut failed = None;
    'rounds: for _ in 0..rounds {
        for c in clusters.iter_mut() {
            if let Err(e) = c.round() {
                failed = Some(format!("1+{}: {e}", c.workers));
                break 'rounds;
            }
        }
    }
    if failed.is_none() {
        for c in clusters.iter_mut() {
            match run(&c.storage, &["setup", "sandbox"]) {
                Ok(t) => c.whole = Some(t.as_secs_f64()),
                Err(e) => failed = Some(format!("1+{}: {e}", c.workers)),
            }
        }
    }
    for c in &clusters {
        if let Err(e) = c.stop() {
            eprintln!("bench_grow: stopping 1+{}: {e}", c.workers);
        }
    }
    if let Some(e) = failed {
        eprintln!("bench_grow: {e}");
        std::process::exit(1);
    }
    println!(
        "{:>8} {:>28} {:>10} {:>22}",
        "cluster", "add 1 node, each round (s)", "median (s)", "whole setup after (s)"
    );
    for c in &clusters {
        let each: Vec<String> = c.adds.iter().map(|t| format!("{t:.1}")).collect();
        println!(
            "{:>8} {:>28} {:>10.1} {:>22.1}",
            format!("1+{}", c.workers),
            each.join(" "),
            median(&c.adds),
            c.whole.unwrap_or(f64::NAN)
        );
    }
    let ratio = median(&clusters[1].adds) / median(&clusters[0].adds);
    println!(
        "ratio 1+{large} / 1+{small}: {ratio:.2} (target <= 1.3: {})",
        if ratio <= 1.3 { "met" } else { "NOT met" }
    );
}
