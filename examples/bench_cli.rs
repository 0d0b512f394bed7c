//! Benchmark (not a test): wall time of the real binary's `start --no-setup` and `stop --yes`
//! against the in-process emulator (API-only backend) at time-scale 0.01, next to the
//! emulator model's critical-path bound for the layout chosen, as a ratio. Build the binary
//! first (`cargo build --release`); it is looked up next to this example.
//!
//!     cargo run --release --example bench_cli [-- N ...]        (default N = 10 50 200)

#[path = "../tests/support/mod.rs"]
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use support::*;

const SCALE: f64 = 0.01;

fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/examples/bench_cli → target/<profile>/elasticluster
    exe.parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("elasticluster"))
        .expect("target dir")
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let ns: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let ns = if ns.is_empty() { vec![10, 50, 200] } else { ns };
    let bin = binary();
    if !bin.exists() {
        eprintln!(
            "{} not found: build it first with the same profile (cargo build [--release])",
            bin.display()
        );
        std::process::exit(1);
    }
    println!("elasticluster binary, time-scale {SCALE}, none backend, quota 20 cloud services");
    println!(
        "{:>5} {:>9} {:>9} {:>9} {:>7} {:>9} {:>9} {:>7}",
        "N", "services", "start s", "bound s", "ratio", "stop s", "bound s", "ratio"
    );
    for n in ns {
        let creds = Creds::new();
        let st = tempfile::tempdir().expect("tempdir");
        let emu = emulator(&creds, st.path(), SCALE, 20).await;
        for f in [creds.mgmt(), creds.ssh_key(), creds.ssh_pub()] {
            let _ = std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600));
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config");
        let base = format!("bc{n}");
        std::fs::write(
            &config,
            format!(
                "[cloud/emu]\nprovider = azure\nsubscription_id = {SUB}\ncertificate = {}\nmanagement_url = {}\nca_certificate = {}\n\n\
                 [login/l]\nimage_user = azureuser\nuser_key_private = {}\nuser_key_public = {}\n\n\
                 [setup/s]\nprovider = ansible\n\n\
                 [cluster/c]\ncloud = emu\nlogin = l\nsetup = s\nlocation = East US\nbase_name = {base}\nfrontend_nodes = 1\ncompute_nodes = {}\n\
                 image_id = debian-12-elasticluster\nflavor = Small\nstartup_timeout = 3600\n",
                creds.mgmt().display(),
                emu.url(),
                emu.ca_pem_path().display(),
                creds.ssh_key().display(),
                creds.ssh_pub().display(),
                n - 1
            ),
        )
        .expect("config");
        let run = |args: &[&str]| {
            let mut c = Command::new(&bin);
            c.arg("-c")
                .arg(&config)
                .arg("-s")
                .arg(dir.path().join("storage"))
                .args(args);
            c.env("ELASTICLUSTER_TIME_SCALE", SCALE.to_string())
                .env("ELASTICLUSTER_SKIP_SSH_WAIT", "1");
            c.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            async move {
                let t = Instant::now();
                let out = tokio::task::spawn_blocking(move || c.output())
                    .await
                    .expect("join")
                    .expect("run");
                (t.elapsed().as_secs_f64(), out)
            }
        };
        let (start_s, out) = run(&["start", "c", "--no-setup"]).await;
        if !out.status.success() {
            eprintln!(
                "N={n}: start failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            continue;
        }
        let inv = emu.inventory().await;
        let services = inv["subscriptions"][SUB]["hosted_services"]
            .as_array()
            .map_or(0, |a| a.len());
        let lat = emu.latency().clone();
        let start_bound = lat.start_critical_path(n, services).as_secs_f64();
        let (stop_s, out) = run(&["stop", "c", "--yes"]).await;
        if !out.status.success() {
            eprintln!(
                "N={n}: stop failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let stop_bound = lat.stop_critical_path().as_secs_f64();
        let left = leftovers(&emu, &[]).await;
        println!(
            "{:>5} {:>9} {:>9.2} {:>9.2} {:>7.2} {:>9.2} {:>9.2} {:>7.2}{}",
            n,
            services,
            start_s,
            start_bound,
            start_s / start_bound,
            stop_s,
            stop_bound,
            stop_s / stop_bound,
            if left.is_empty() {
                String::new()
            } else {
                format!("  LEAKED {}", left.len())
            }
        );
        emu.shutdown().await;
    }
}
