//! Benchmark (not a test): wall time of an Azure Resource Manager start (no SSH probe) and
//! stop of N nodes against the bundled emulator's ARM face (API-only `none` backend) at
//! time-scale 0.01, next to the emulator's ARM latency model's critical path for that
//! cluster, as a ratio (target ≤ 1.10).
//!
//!     cargo build --release --workspace
//!     cargo run --release --example bench_arm [-- N ...]        (default N = 10 50 200)
//!
//! It starts `azure-emulator serve` from the target directory with the ARM flags and asks
//! `GET /_emulator/arm/critical-path` for the bound (which includes ARM's write budget);
//! an emulator without the face stops it with a clear message.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use elasticluster::cluster::bring_up::{bring_up, StartRequest};
use elasticluster::cluster::tear_down::{tear_down, StopRequest};
use elasticluster::progress::Progress;
use elasticluster::providers::azure_arm::secret::Secret;
use elasticluster::providers::azure_arm::token::Credentials;
use elasticluster::providers::azure_arm::{ArmOptions, ArmProvider, ArmSettings};
use elasticluster::providers::azure_classic::identity::new_identity_pem;
use elasticluster::providers::{Ledger, MemoryLedger, NodeRequest};

const SCALE: f64 = 0.01;
const SUB: &str = "0a1b2c3d-0000-4000-8000-0000000a4bee";
const TENANT: &str = "0a1b2c3d-0000-4000-8000-0000000a4b01";
const CLIENT: &str = "0a1b2c3d-0000-4000-8000-0000000a4b02";
const IMAGE: &str = "elasticluster/sandbox/debian-12-elasticluster/latest";

/// The emulator process; stopped (SIGTERM, then waited for) when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        // SAFETY: plain kill(2) on the child we started; SIGTERM lets it save its state.
        unsafe {
            libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

struct Emulator {
    _child: Proc,
    url: String,
    arm_url: String,
    authority_url: String,
    ca: PathBuf,
}

#[path = "bench_common/built.rs"]
mod built;

fn program() -> PathBuf {
    built::built_program("azure-emulator")
}

fn start_emulator(dir: &Path) -> Emulator {
    let cert = dir.join("mgmt.pem");
    std::fs::write(&cert, new_identity_pem("bench", 2, None).expect("cert")).expect("write cert");
    let secret = dir.join("secret");
    std::fs::write(&secret, "bench-secret\n").expect("write secret");
    let state = dir.join("state");
    let mut child = Proc(
        Command::new(program())
            .arg("serve")
            .arg("--state-dir")
            .arg(&state)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--backend",
                "none",
                "--max-cores",
                "100000",
            ])
            .args(["--time-scale", &SCALE.to_string()])
            .arg("--subscription")
            .arg(format!("{SUB}={}", cert.display()))
            .args(["--arm-tenant", TENANT, "--arm-client"])
            .arg(format!("{CLIENT}=@{}", secret.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start the emulator"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(state.join("endpoint.json")) {
            let v: serde_json::Value = serde_json::from_str(&text).expect("endpoint.json");
            let s = |k: &str| v[k].as_str().map(str::to_string);
            match (s("url"), s("arm_url"), s("authority_url"), s("ca")) {
                (Some(url), Some(arm_url), Some(authority_url), Some(ca)) => {
                    return Emulator { _child: child, url, arm_url, authority_url, ca: ca.into() }
                }
                _ => panic!("the emulator has no ARM face (endpoint.json: {text}); see ARM-EMULATOR-CONTRACT.md"),
            }
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("the emulator exited ({status}) before it was ready: an emulator without the ARM face refuses the --arm-* flags; see ARM-EMULATOR-CONTRACT.md");
        }
        assert!(
            Instant::now() < deadline,
            "the emulator did not start (exited, or lacks --arm-client?)"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn nodes(n: usize) -> Vec<NodeRequest> {
    (0..n)
        .map(|i| {
            let (kind, idx) = if i == 0 {
                ("frontend", 1)
            } else {
                ("compute", i)
            };
            NodeRequest {
                name: format!("{kind}{idx:03}"),
                kind: kind.into(),
                image_id: IMAGE.into(),
                flavor: "Standard_B1s".into(),
                image_user: "azureuser".into(),
                image_userdata: None,
                entry: i == 0,
            }
        })
        .collect()
}

async fn bound(emu: &Emulator, n: usize) -> Option<(f64, f64)> {
    let pem = std::fs::read(&emu.ca).ok()?;
    let http = reqwest::Client::builder()
        .tls_backend_native()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).ok()?)
        .build()
        .ok()?;
    let url = format!(
        "{}/_emulator/arm/critical-path?nodes={n}&public_ips={n}",
        emu.url
    );
    let text = http.get(url).send().await.ok()?.text().await.ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some((v["start_s"].as_f64()?, v["stop_s"].as_f64()?))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
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
    println!("ARM, time-scale {SCALE}, none backend, every node with a public IP");
    println!(
        "{:>5} {:>10} {:>10} {:>7} {:>10} {:>10} {:>7}",
        "N", "start s", "bound s", "ratio", "stop s", "bound s", "ratio"
    );
    for n in ns {
        let dir = tempfile::tempdir().expect("tempdir");
        let emu = start_emulator(dir.path());
        let key = dir.path().join("id.pub");
        std::fs::write(
            &key,
            "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 bench@host\n",
        )
        .expect("key");
        let p = ArmProvider::new(ArmSettings {
            subscription_id: SUB.into(),
            credentials: Credentials {
                authority: emu.authority_url.clone(),
                tenant: TENANT.into(),
                client_id: CLIENT.into(),
                secret: Secret::new("bench-secret").into(),
                scope: format!("{}/.default", emu.arm_url),
            },
            arm_endpoint: emu.arm_url.clone(),
            ca_certificate: Some(emu.ca.clone()),
            location: "eastus".into(),
            base_name: format!("bench{n}"),
            use_public_ips: true,
            user_key_public: key,
            identity: elasticluster::providers::ClusterIdentity {
                name: "c".into(),
                owner_id: Some("0123456789abcdef".into()),
            },
            options: ArmOptions {
                time_scale: SCALE,
                ..ArmOptions::default()
            },
        })
        .expect("provider");
        let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
        let req = StartRequest {
            nodes: nodes(n),
            min_nodes: Default::default(),
            ssh_user: "azureuser".into(),
            ssh_private_key: dir.path().join("id"),
            known_hosts: dir.path().join("kh"),
            startup_timeout: Duration::from_secs(3600),
            probe_ssh: false,
            poll_interval: Duration::from_secs(2)
                .mul_f64(SCALE)
                .max(Duration::from_millis(20)),
            ssh_timeout: Duration::from_secs(2),
            report: Default::default(),
        };
        let t = Instant::now();
        let out = match bring_up(&p, ledger.clone(), &req, &Progress::hidden()).await {
            Ok(o) => o,
            Err(e) => {
                eprintln!("N={n}: start failed: {e}");
                continue;
            }
        };
        let start_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let res = tear_down(
            &p,
            ledger.clone(),
            &StopRequest::default(),
            &Progress::hidden(),
        )
        .await;
        let stop_s = t.elapsed().as_secs_f64();
        let clean = matches!(&res, Ok(o) if o.clean);
        if let Err(e) = &res {
            eprintln!("N={n}: stop failed: {e}");
        }
        let (sb, tb) = bound(&emu, n).await.unwrap_or((f64::NAN, f64::NAN));
        println!(
            "{:>5} {:>10.2} {:>10.2} {:>7.2} {:>10.2} {:>10.2} {:>7.2}{}",
            n,
            start_s,
            sb,
            start_s / sb,
            stop_s,
            tb,
            stop_s / tb,
            if out.ready.len() == n && clean {
                String::new()
            } else {
                format!("  (ready {}/{n}, clean {clean})", out.ready.len())
            }
        );
    }
}
