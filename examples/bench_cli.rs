//! Benchmark (not a test): wall time of the real binary's `start --no-setup` and
//! `stop --yes` (process start to exit) against the in-process emulator (API-only backend),
//! next to the emulator's critical path for the exact layout that ran
//! (`RunningEmulator::bounds`), as a ratio, at each time scale; per phase (from the
//! command's `--json-events`, timed as they arrive) where the time went, and — over the
//! 1.10 target — which phase loses it. Clusters over 200 VMs use `subscription_file`.
//! Build the binary first (`cargo build --release`); it is looked up next to this example.
//!
//!     cargo run --release --example bench_cli [-- N ... --scale 0.01,0.1]
//!     (default N = 10 50 200 1000, scales 0.01 and 0.1; BENCH_LOG=asm=info,elasticluster=info
//!     prints the commands' logs with the time of each line)

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "bench_common/mod.rs"]
mod bench_common;
#[path = "bench_common/built.rs"]
mod built;

use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use bench_common::*;
use support::*;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args = args();
    let bin = built::built_program("elasticluster");
    println!("elasticluster binary, none backend, {SERVICES_PER_SUBSCRIPTION} cloud services per subscription, target wall/bound ≤ {TARGET}");
    for &scale in &args.scales {
        header();
        for &n in &args.ns {
            run(&bin, n, scale).await;
        }
    }
}

/// Run the binary (off the runtime's threads, which serve the emulator); `(wall seconds,
/// success, events, stderr)`.
async fn run_cli(
    bin: &Path,
    config: &Path,
    storage: &Path,
    scale: f64,
    args: &[&str],
) -> (f64, bool, Recorder, String) {
    let (bin, config, storage) = (
        bin.to_path_buf(),
        config.to_path_buf(),
        storage.to_path_buf(),
    );
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || run_blocking(&bin, &config, &storage, scale, &args))
        .await
        .expect("join")
}

fn run_blocking(
    bin: &Path,
    config: &Path,
    storage: &Path,
    scale: f64,
    args: &[String],
) -> (f64, bool, Recorder, String) {
    let t = Instant::now();
    let rec = Recorder::new(t);
    let mut c = Command::new(bin);
    c.arg("-c")
        .arg(config)
        .arg("-s")
        .arg(storage)
        .args(args)
        .arg("--json-events")
        .env("ELASTICLUSTER_TIME_SCALE", scale.to_string())
        .env("ELASTICLUSTER_SKIP_SSH_WAIT", "1")
        .env(
            "RUST_LOG",
            std::env::var("BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("run the binary");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    // BENCH_LOG=asm=info: the command's log (every API call), each line with its time.
    let echo = std::env::var_os("BENCH_LOG").is_some();
    let errs = std::thread::spawn(move || {
        let mut s = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if echo {
                eprintln!("{:8.3} {line}", t.elapsed().as_secs_f64());
            }
            s.push_str(&line);
            s.push('\n');
        }
        s
    });
    for line in std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
    {
        rec.push_json(&line);
    }
    let status = child.wait().expect("wait");
    let wall = t.elapsed().as_secs_f64();
    (wall, status.success(), rec, errs.join().unwrap_or_default())
}

async fn run(bin: &Path, n: usize, scale: f64) {
    let creds = Creds::new();
    let st = tempfile::tempdir().expect("tempdir");
    let k = subscriptions_for(n);
    let subs = subscriptions((SUB, creds.mgmt()), k, creds.dir.path());
    let emu = emulator_for(st.path(), scale, &subs).await;
    for f in [creds.ssh_key(), creds.ssh_pub()]
        .into_iter()
        .chain(subs.iter().map(|s| s.cert.clone()))
    {
        let _ = std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config");
    let mut extra = String::new();
    if k > 1 {
        let file = dir.path().join("subscriptions");
        let lines: Vec<String> = subs[1..]
            .iter()
            .map(|s| format!("subscription_id={} certificate={}", s.id, s.cert.display()))
            .collect();
        std::fs::write(&file, lines.join("\n") + "\n").expect("subscription file");
        extra = format!("subscription_file = {}\n", file.display());
    }
    std::fs::write(
        &config,
        format!(
            "[cloud/emu]\nprovider = azure\nsubscription_id = {SUB}\ncertificate = {}\nmanagement_url = {}\nca_certificate = {}\n\n\
             [login/l]\nimage_user = azureuser\nuser_key_private = {}\nuser_key_public = {}\n\n\
             [setup/s]\nprovider = ansible\n\n\
             [cluster/c]\ncloud = emu\nlogin = l\nsetup = s\nlocation = East US\nbase_name = bc{n}\nfrontend_nodes = 1\ncompute_nodes = {}\n\
             image_id = debian-12-elasticluster\nflavor = Small\nstartup_timeout = 3600\n{extra}",
            creds.mgmt().display(),
            emu.url(),
            emu.ca_pem_path().display(),
            creds.ssh_key().display(),
            creds.ssh_pub().display(),
            n - 1
        ),
    )
    .expect("config");
    let storage = dir.path().join("storage");
    let load_at_start = load();
    let (start_s, ok, start_rec, err) =
        run_cli(bin, &config, &storage, scale, &["start", "c", "--no-setup"]).await;
    if !ok {
        eprintln!("N={n} scale {scale}: start failed: {err}");
        emu.shutdown().await;
        return;
    }
    let bounds = emu.bounds();
    let (stop_s, ok, stop_rec, err) =
        run_cli(bin, &config, &storage, scale, &["stop", "c", "--yes"]).await;
    if !ok {
        eprintln!("N={n} scale {scale}: stop failed: {err}");
    }
    let left = leftovers(&emu, &[]).await;
    row(scale, n, k, &load_at_start, &bounds, start_s, stop_s);
    let start_ev = start_rec.events();
    let sp = start_phases(&start_ev, start_s, &bounds);
    println!(
        "      {}",
        describe("start", &sp, start_s, bounds.start.seconds)
    );
    if let Some((cs, wall, bound)) = worst_queue(&start_ev, &bounds) {
        println!("      slowest VM queue against its bound: {cs} {wall:.2}/{bound:.2}");
    }
    let tp = stop_phases(&stop_rec.events(), stop_s, &bounds);
    println!(
        "      {}",
        describe("stop", &tp, stop_s, bounds.stop.seconds)
    );
    if !left.is_empty() {
        println!("      LEAKED {}", left.len());
    }
    emu.shutdown().await;
}
