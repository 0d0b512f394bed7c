//! Benchmark (not a test): wall time of the lifecycle's start (`bring_up`, no SSH) and stop
//! (`tear_down`) against the in-process emulator (API-only backend), next to the emulator's
//! critical path for the exact layout that ran (`RunningEmulator::bounds`), as a ratio, at
//! each time scale; per phase where the time went, and — over the 1.10 target — which phase
//! loses it. Clusters over 200 VMs are spread over several subscriptions.
//!
//!     cargo run --release --example bench_start_stop [-- N ... --scale 0.01,0.1]
//!     (default N = 10 50 200 1000, scales 0.01 and 0.1)

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "bench_common/mod.rs"]
mod bench_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bench_common::*;
use elasticluster::cluster::{bring_up, tear_down};
use elasticluster::progress::Progress;
use elasticluster::providers::azure_classic::provider::AzureClassicProvider;
use elasticluster::providers::azure_classic::transport::SubscriptionAccess;
use elasticluster::providers::{Ledger, MemoryLedger};
use elasticluster::report::Reporter;
use support::*;

fn reporter(rec: &Recorder) -> Reporter {
    let rec = rec.clone();
    Reporter::default().with_sink(move |e| {
        rec.push(&e.event, &e.status, e.resource.as_deref());
    })
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // BENCH_LOG=asm=info shows every API call with its timing and request id.
    if let Ok(f) = std::env::var("BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(f))
            .with_writer(std::io::stderr)
            .init();
    }
    let args = args();
    println!("in-process start/stop, none backend, {SERVICES_PER_SUBSCRIPTION} cloud services per subscription, target wall/bound ≤ {TARGET}");
    for &scale in &args.scales {
        header();
        for &n in &args.ns {
            run(n, scale).await;
        }
    }
}

async fn run(n: usize, scale: f64) {
    let creds = Creds::new();
    let st = tempfile::tempdir().expect("tempdir");
    let k = subscriptions_for(n);
    let subs = subscriptions((SUB, creds.mgmt()), k, creds.dir.path());
    let emu = emulator_for(st.path(), scale, &subs).await;
    let mut settings = settings(&creds, &emu, &format!("bench{n}"), scale);
    settings.subscriptions = subs
        .iter()
        .map(|s| SubscriptionAccess {
            id: s.id.clone(),
            certificate: s.cert.clone(),
            key: None,
            management_url: emu.url().to_string(),
            ca_certificate: Some(emu.ca_pem_path().to_path_buf()),
        })
        .collect();
    let p = AzureClassicProvider::new(settings).expect("provider");
    let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
    let load_at_start = load();

    let t = Instant::now();
    let rec = Recorder::new(t);
    let mut req = start_request(
        nodes(1, n - 1),
        &creds,
        st.path().join("b.kh"),
        Duration::from_secs(3600),
    );
    req.report = reporter(&rec);
    let out = bring_up::bring_up(&p, ledger.clone(), &req, &Progress::hidden()).await;
    let start_s = t.elapsed().as_secs_f64();
    let start_ev = rec.events();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            eprintln!("N={n} scale {scale}: start failed: {e}");
            emu.shutdown().await;
            return;
        }
    };
    let bounds = emu.bounds();

    let t = Instant::now();
    let rec = Recorder::new(t);
    let stop_req = tear_down::StopRequest {
        report: reporter(&rec),
        ..Default::default()
    };
    let res = tear_down::tear_down(&p, ledger.clone(), &stop_req, &Progress::hidden()).await;
    let stop_s = t.elapsed().as_secs_f64();
    if let Err(e) = &res {
        eprintln!("N={n} scale {scale}: stop failed: {e}");
    }
    let left = leftovers(&emu, &[]).await;
    row(scale, n, k, &load_at_start, &bounds, start_s, stop_s);
    let sp = start_phases(&start_ev, start_s, &bounds);
    println!(
        "      {}",
        describe("start", &sp, start_s, bounds.start.seconds)
    );
    if let Some((cs, wall, bound)) = worst_queue(&start_ev, &bounds) {
        println!("      slowest VM queue against its bound: {cs} {wall:.2}/{bound:.2}");
    }
    let tp = stop_phases(&rec.events(), stop_s, &bounds);
    println!(
        "      {}",
        describe("stop", &tp, stop_s, bounds.stop.seconds)
    );
    if out.ready.len() != n || !left.is_empty() {
        println!(
            "      NOT CLEAN: ready {}/{n}, leftovers {}",
            out.ready.len(),
            left.len()
        );
    }
    emu.shutdown().await;
}
