//! Shared test/benchmark helpers: credentials, an in-process emulator, provider settings.
#![allow(dead_code)]

pub mod arm;
#[cfg(test)]
pub mod one_cluster;
pub mod replay;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use azure_emulator::{BackendKind, EmulatorOptions, RunningEmulator};
use elasticluster::providers::azure_classic::identity::new_identity_pem;
use elasticluster::providers::azure_classic::provider::{AzureClassicProvider, AzureSettings};
use elasticluster::providers::azure_classic::transport::{ClientOptions, SubscriptionAccess};
use elasticluster::providers::{ClusterIdentity, NodeRequest};

pub const SUB: &str = "0a1b2c3d-0000-4000-8000-00000000beef";

/// A self-signed management certificate with its PKCS#8 key, key first (the layout of
/// `openssl req -x509 -nodes -newkey rsa:2048 -keyout x.pem -out x.pem`).
pub fn management_pem() -> Vec<u8> {
    new_identity_pem("AzureMgmtCert", 2, None).expect("management certificate")
}

/// Whether a test that needs `what` can run. When it cannot, the test fails — a regression
/// must never pass as a skip in CI — unless `ELASTICLUSTER_TEST_ALLOW_SKIP=1` (never set by
/// `.ci/run`), which turns it into a printed skip.
pub fn can_run(have: bool, what: &str) -> bool {
    if have {
        return true;
    }
    let allowed = std::env::var("ELASTICLUSTER_TEST_ALLOW_SKIP").is_ok_and(|v| v == "1");
    assert!(
        allowed,
        "this test needs {what}; run it as root with that installed (`bash .ci/run` does), or set ELASTICLUSTER_TEST_ALLOW_SKIP=1 to skip it"
    );
    eprintln!("SKIPPED (ELASTICLUSTER_TEST_ALLOW_SKIP=1): needs {what}");
    false
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

pub struct Creds {
    pub dir: tempfile::TempDir,
}

impl Creds {
    /// Management certificate (cert + PKCS#8 key in one PEM) and an OpenSSH RSA key pair.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mgmt = dir.path().join("mgmt.pem");
        std::fs::write(&mgmt, management_pem()).expect("write mgmt.pem");
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f"])
            .arg(dir.path().join("id_rsa"))
            .output()
            .expect("ssh-keygen");
        assert!(st.status.success());
        Creds { dir }
    }
    pub fn mgmt(&self) -> PathBuf {
        self.dir.path().join("mgmt.pem")
    }
    pub fn ssh_key(&self) -> PathBuf {
        self.dir.path().join("id_rsa")
    }
    pub fn ssh_pub(&self) -> PathBuf {
        self.dir.path().join("id_rsa.pub")
    }
}

pub async fn emulator(creds: &Creds, state: &Path, scale: f64, max_hs: u32) -> RunningEmulator {
    emulator_with(creds, state, scale, max_hs, BackendKind::None).await
}

pub async fn emulator_with(
    creds: &Creds,
    state: &Path,
    scale: f64,
    max_hs: u32,
    backend: BackendKind,
) -> RunningEmulator {
    let mut opts = EmulatorOptions {
        state_dir: state.to_path_buf(),
        subscriptions: vec![(SUB.to_string(), creds.mgmt())],
        backend,
        time_scale: scale,
        max_hosted_services: max_hs,
        max_cores: 10_000,
        ..Default::default()
    };
    if let Some(d) = std::env::var_os("AZURE_EMULATOR_IMAGE_DIR") {
        opts.image_dir = d.into();
    }
    azure_emulator::start(opts).await.expect("emulator starts")
}

pub fn access(creds: &Creds, emu: &RunningEmulator) -> SubscriptionAccess {
    SubscriptionAccess {
        id: SUB.into(),
        certificate: creds.mgmt(),
        key: None,
        management_url: emu.url().to_string(),
        ca_certificate: Some(emu.ca_pem_path().to_path_buf()),
    }
}

pub fn settings(creds: &Creds, emu: &RunningEmulator, base: &str, scale: f64) -> AzureSettings {
    AzureSettings {
        subscriptions: vec![access(creds, emu)],
        location: "East US".into(),
        base_name: base.into(),
        user_key_public: creds.ssh_pub(),
        user_key_private: creds.ssh_key(),
        use_public_ips: false,
        n_cloud_services: None,
        n_storage_accounts: None,
        client: ClientOptions::default().scaled(scale),
        identity: identity(base),
    }
}

/// A cluster identity whose owner id is derived from `base` (stable within a test).
pub fn identity(base: &str) -> ClusterIdentity {
    let mut id = String::new();
    for b in base.bytes().chain(std::iter::repeat(b'0')).take(8) {
        id.push_str(&format!("{b:02x}"));
    }
    ClusterIdentity {
        name: base.to_string(),
        owner_id: Some(id),
    }
}

pub fn provider(
    creds: &Creds,
    emu: &RunningEmulator,
    base: &str,
    scale: f64,
) -> AzureClassicProvider {
    AzureClassicProvider::new(settings(creds, emu, base, scale)).expect("provider")
}

pub fn nodes(frontends: usize, computes: usize) -> Vec<NodeRequest> {
    let mk = |kind: &str, i: usize| NodeRequest {
        name: format!("{kind}{i:03}"),
        kind: kind.into(),
        image_id: "debian-12-elasticluster".into(),
        flavor: "Small".into(),
        image_user: "azureuser".into(),
        image_userdata: None,
        entry: kind == "frontend" && i == 1,
    };
    (1..=frontends)
        .map(|i| mk("frontend", i))
        .chain((1..=computes).map(|i| mk("compute", i)))
        .collect()
}

pub fn start_request(
    nodes: Vec<NodeRequest>,
    creds: &Creds,
    kh: PathBuf,
    timeout: Duration,
) -> elasticluster::cluster::bring_up::StartRequest {
    elasticluster::cluster::bring_up::StartRequest {
        nodes,
        min_nodes: Default::default(),
        ssh_user: "azureuser".into(),
        ssh_private_key: creds.ssh_key(),
        known_hosts: kh,
        startup_timeout: timeout,
        probe_ssh: false,
        poll_interval: Duration::from_millis(20),
        ssh_timeout: Duration::from_secs(2),
        report: Default::default(),
    }
}

/// Every resource left in the emulator, as "kind name" strings (vnet sites in `keep` ignored).
pub async fn leftovers(emu: &RunningEmulator, keep_vnets: &[&str]) -> Vec<String> {
    let inv = emu.inventory().await;
    let mut out = Vec::new();
    if let Some(subs) = inv["subscriptions"].as_object() {
        for (_, s) in subs {
            for (k, field) in [
                ("hosted_service", "hosted_services"),
                ("storage_account", "storage_accounts"),
                ("disk", "disks"),
                ("vnet", "vnet_sites"),
            ] {
                for x in s[field].as_array().cloned().unwrap_or_default() {
                    let name = x["name"].as_str().unwrap_or("?").to_string();
                    if k == "vnet" && keep_vnets.contains(&name.as_str()) {
                        continue;
                    }
                    out.push(format!("{k} {name}"));
                }
            }
        }
    }
    out
}
