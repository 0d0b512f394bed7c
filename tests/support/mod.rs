//! Shared test/benchmark helpers: credentials, an in-process emulator, provider settings.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use azure_emulator::{BackendKind, EmulatorOptions, RunningEmulator};
use elasticluster::providers::azure_classic::provider::{AzureClassicProvider, AzureSettings};
use elasticluster::providers::azure_classic::transport::{ClientOptions, SubscriptionAccess};
use elasticluster::providers::NodeRequest;

pub const SUB: &str = "0a1b2c3d-0000-4000-8000-00000000beef";

/// A self-signed management certificate with its PKCS#8 key, key first (the layout of
/// `openssl req -x509 -nodes -newkey rsa:2048 -keyout x.pem -out x.pem`).
pub fn management_pem() -> Vec<u8> {
    use openssl::{asn1::Asn1Time, bn::BigNum, hash::MessageDigest, pkey::PKey, rsa::Rsa, x509};
    let key = PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey");
    let mut name = x509::X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", "AzureMgmtCert")
        .expect("cn");
    let name = name.build();
    let mut b = x509::X509Builder::new().expect("builder");
    b.set_version(2).expect("version");
    let serial = BigNum::from_u32(rand_serial())
        .expect("bn")
        .to_asn1_integer()
        .expect("serial");
    b.set_serial_number(&serial).expect("serial");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(&name).expect("issuer");
    b.set_pubkey(&key).expect("pubkey");
    b.set_not_before(&Asn1Time::days_from_now(0).expect("t"))
        .expect("nb");
    b.set_not_after(&Asn1Time::days_from_now(2).expect("t"))
        .expect("na");
    b.sign(&key, MessageDigest::sha256()).expect("sign");
    let mut pem = key.private_key_to_pem_pkcs8().expect("key pem");
    pem.extend(b.build().to_pem().expect("cert pem"));
    pem
}

fn rand_serial() -> u32 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(1);
    n ^ std::process::id()
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
) -> elasticluster::cluster::start::StartRequest {
    elasticluster::cluster::start::StartRequest {
        nodes,
        min_nodes: Default::default(),
        ssh_user: "azureuser".into(),
        ssh_private_key: creds.ssh_key(),
        known_hosts: kh,
        startup_timeout: timeout,
        probe_ssh: false,
        poll_interval: Duration::from_millis(20),
        ssh_timeout: Duration::from_secs(2),
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
