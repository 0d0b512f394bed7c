//! The built `elasticluster` binary against the in-process emulator, on a config with one
//! Slurm cluster `c`: a config and storage directory per test, and running the binary
//! (integration tests only: it needs the path Cargo gives them). `cli.rs` is the variant
//! whose templates a test can change.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::{Creds, SUB};

pub struct Env {
    pub _creds: Creds,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub storage: PathBuf,
}

/// A config for a Slurm cluster `c` (1 frontend + `computes` compute nodes, base name
/// `base`) on `emu`, and a storage directory.
pub fn setup(
    creds: Creds,
    emu: &azure_emulator::RunningEmulator,
    base: &str,
    computes: usize,
) -> Env {
    let dir = tempfile::tempdir().unwrap();
    for f in [creds.mgmt(), creds.ssh_key(), creds.ssh_pub()] {
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "[cloud/emu]\nprovider = azure\nsubscription_id = {SUB}\ncertificate = {cert}\nmanagement_url = {url}\nca_certificate = {ca}\n\n\
             [login/l]\nimage_user = azureuser\nuser_key_private = {key}\nuser_key_public = {pubkey}\n\n\
             [setup/s]\nprovider = ansible\nfrontend_groups = slurm_master\ncompute_groups = slurm_workers\n\n\
             [cluster/c]\ncloud = emu\nlogin = l\nsetup = s\nlocation = East US\nbase_name = {base}\nfrontend_nodes = 1\ncompute_nodes = {computes}\n\
             image_id = debian-12-elasticluster\nflavor = Small\nstartup_timeout = 120\nssh_to = frontend\n",
            cert = creds.mgmt().display(),
            url = emu.url(),
            ca = emu.ca_pem_path().display(),
            key = creds.ssh_key().display(),
            pubkey = creds.ssh_pub().display(),
        ),
    )
    .unwrap();
    let storage = dir.path().join("storage");
    Env {
        _creds: creds,
        config,
        storage,
        dir,
    }
}

/// The binary with SSH probing off (API-only backend).
pub fn cmd(env: &Env) -> Command {
    let mut c = cmd_probing(env);
    c.env("ELASTICLUSTER_SKIP_SSH_WAIT", "1");
    c
}

/// The binary with SSH probing on (real-host backend).
pub fn cmd_probing(env: &Env) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_elasticluster"));
    c.arg("-c").arg(&env.config).arg("-s").arg(&env.storage);
    c.env("ELASTICLUSTER_TIME_SCALE", "0.01");
    c.stdin(Stdio::null());
    c
}

pub async fn run(mut c: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || c.output().expect("run elasticluster"))
        .await
        .unwrap()
}

pub fn state_text(env: &Env) -> String {
    std::fs::read_to_string(env.storage.join("c.toml")).unwrap_or_default()
}
