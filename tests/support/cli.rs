//! (Included by integration tests as `#[path = "support/cli.rs"] mod cli;`, next to
//! `mod support;`.)
//!
//! The `elasticluster` binary against an in-process emulator, with a configuration whose
//! templates a test can add and change (each template: name, base_name, compute count,
//! extra `key = value` lines).
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use azure_emulator::RunningEmulator;

use crate::support::{Creds, SUB};

pub struct CliEnv {
    _creds: Creds,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub storage: PathBuf,
    head: String,
    /// (name, text) of every template, in order.
    templates: Vec<(String, String)>,
}

impl CliEnv {
    pub fn new(creds: Creds, emu: &RunningEmulator) -> CliEnv {
        let dir = tempfile::tempdir().unwrap();
        for f in [creds.mgmt(), creds.ssh_key(), creds.ssh_pub()] {
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let head = format!(
            "[cloud/emu]\nprovider = azure\nsubscription_id = {SUB}\ncertificate = {cert}\nmanagement_url = {url}\nca_certificate = {ca}\n\n\
             [login/l]\nimage_user = azureuser\nuser_key_private = {key}\nuser_key_public = {pubkey}\n\n\
             [setup/s]\nprovider = ansible\nfrontend_groups = slurm_master\ncompute_groups = slurm_workers\n\n",
            cert = creds.mgmt().display(),
            url = emu.url(),
            ca = emu.ca_pem_path().display(),
            key = creds.ssh_key().display(),
            pubkey = creds.ssh_pub().display(),
        );
        let env = CliEnv {
            _creds: creds,
            config: dir.path().join("config"),
            storage: dir.path().join("storage"),
            dir,
            head,
            templates: Vec::new(),
        };
        env.write();
        env
    }

    /// Add (or replace) template `name`: `base` as base_name, one frontend, `computes`
    /// compute nodes, and `extra` lines (which win over the defaults before them).
    pub fn template(&mut self, name: &str, base: &str, computes: usize, extra: &str) {
        let text = format!(
            "[cluster/{name}]\ncloud = emu\nlogin = l\nsetup = s\nlocation = East US\nbase_name = {base}\n\
             frontend_nodes = 1\ncompute_nodes = {computes}\nimage_id = debian-12-elasticluster\nflavor = Small\n\
             startup_timeout = 120\nssh_to = frontend\n{extra}\n"
        );
        match self.templates.iter_mut().find(|(n, _)| n == name) {
            Some(t) => t.1 = text,
            None => self.templates.push((name.to_string(), text)),
        }
        self.write();
    }

    /// Append raw text to the configuration (e.g. another setup section).
    pub fn append_head(&mut self, text: &str) {
        self.head.push_str(text);
        self.write();
    }

    fn write(&self) {
        let mut text = self.head.clone();
        for (_, t) in &self.templates {
            text.push_str(t);
        }
        std::fs::write(&self.config, text).unwrap();
    }

    /// The binary on this config and storage directory, API-only (no SSH probing).
    pub fn cmd(&self) -> Command {
        self.cmd_in(&self.storage)
    }

    /// The binary with another storage directory.
    pub fn cmd_in(&self, storage: &Path) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_elasticluster"));
        c.arg("-c").arg(&self.config).arg("-s").arg(storage);
        c.env("ELASTICLUSTER_TIME_SCALE", "0.01");
        c.env("ELASTICLUSTER_SKIP_SSH_WAIT", "1");
        c.stdin(Stdio::null());
        c
    }

    /// The state file of cluster `name` in the default storage directory.
    pub fn state(&self, name: &str) -> String {
        std::fs::read_to_string(self.storage.join(format!("{name}.toml"))).unwrap_or_default()
    }

    /// The owner id stored in cluster `name`'s state.
    pub fn owner_id(&self, name: &str) -> String {
        let t: toml::Table = toml::from_str(&self.state(name)).expect("state");
        t["owner_id"].as_str().expect("owner_id").to_string()
    }
}

/// Run a prepared command (off the async runtime's threads).
pub async fn run(mut c: Command) -> Output {
    tokio::task::spawn_blocking(move || c.output().expect("run elasticluster"))
        .await
        .unwrap()
}

/// `args` through the binary of `env`.
pub async fn run_args(env: &CliEnv, args: &[&str]) -> Output {
    let mut c = env.cmd();
    c.args(args);
    run(c).await
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Assert success, showing stderr otherwise.
pub fn ok(o: &Output, what: &str) {
    assert!(o.status.success(), "{what}: {}", stderr(o));
}

/// Assert exit 1 with exactly one non-empty stderr line holding every fragment.
pub fn one_line_error(o: &Output, fragments: &[&str]) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line: {err}");
    for f in fragments {
        assert!(lines[0].contains(f), "missing `{f}` in: {err}");
    }
    lines[0].to_string()
}
