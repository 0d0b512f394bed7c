//! Benchmark (not a test): wall time of `start --no-setup` and `stop` against the in-process
//! emulator (API-only backend) at time-scale 0.01, next to the emulator latency model's
//! critical-path bound for the layout the planner chose, as a ratio.
//!
//!     cargo run --release --example bench_start_stop [-- N ...]     (default N = 10 50 200)

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use elasticluster::cluster::{bring_up, tear_down};
use elasticluster::progress::Progress;
use elasticluster::providers::{Ledger, MemoryLedger};
use support::*;

const SCALE: f64 = 0.01;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // BENCH_LOG=asm=info shows every API call with its timing and request id.
    if let Ok(f) = std::env::var("BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(f))
            .with_writer(std::io::stderr)
            .init();
    }
    let ns: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let ns = if ns.is_empty() { vec![10, 50, 200] } else { ns };
    println!("time-scale {SCALE}, none backend, default quota (20 cloud services)");
    println!(
        "{:>5} {:>9} {:>10} {:>10} {:>7} {:>10} {:>10} {:>7}",
        "N", "services", "start s", "bound s", "ratio", "stop s", "bound s", "ratio"
    );
    for n in ns {
        let creds = Creds::new();
        let st = tempfile::tempdir().expect("tempdir");
        let emu = emulator(&creds, st.path(), SCALE, 20).await;
        let p = provider(&creds, &emu, &format!("bench{n}"), SCALE);
        let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
        let req = start_request(
            nodes(1, n - 1),
            &creds,
            st.path().join("b.kh"),
            Duration::from_secs(3600),
        );
        let t = Instant::now();
        let out = match bring_up::bring_up(&p, ledger.clone(), &req, &Progress::hidden()).await {
            Ok(o) => o,
            Err(e) => {
                eprintln!("N={n}: start failed: {e}");
                continue;
            }
        };
        let start_s = t.elapsed().as_secs_f64();
        let services: std::collections::BTreeSet<String> = ledger
            .resources()
            .iter()
            .filter(|r| r.kind == "cloud_service")
            .map(|r| r.name.clone())
            .collect();
        let lat = emu.latency().clone();
        let start_bound = lat.start_critical_path(n, services.len()).as_secs_f64();
        let t = Instant::now();
        let res = tear_down::tear_down(
            &p,
            ledger.clone(),
            &tear_down::StopRequest::default(),
            &Progress::hidden(),
        )
        .await;
        let stop_s = t.elapsed().as_secs_f64();
        let stop_bound = lat.stop_critical_path().as_secs_f64();
        if let Err(e) = &res {
            eprintln!("N={n}: stop failed: {e}");
        }
        let left = leftovers(&emu, &[]).await;
        println!(
            "{:>5} {:>9} {:>10.2} {:>10.2} {:>7.2} {:>10.2} {:>10.2} {:>7.2}{}",
            n,
            services.len(),
            start_s,
            start_bound,
            start_s / start_bound,
            stop_s,
            stop_bound,
            stop_s / stop_bound,
            if out.ready.len() == n && left.is_empty() {
                String::new()
            } else {
                format!(
                    "  (ready {}/{n}, leftovers {})",
                    out.ready.len(),
                    left.len()
                )
            }
        );
        emu.shutdown().await;
    }
}
