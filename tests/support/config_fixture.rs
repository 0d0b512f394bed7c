//! The configuration tests' fixture: a directory with key files and a good configuration
//! (cloud, login, setup, one template `c`), and helpers to load it and check problems.
//! Included by `tests/config*.rs` as `#[path = "support/config_fixture.rs"] mod fixture;`.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use elasticluster::config::{ClusterTemplate, Config, ConfigError, Diagnostics};
use elasticluster::providers::Registry;

pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    /// A directory with key files (private ones mode 0600).
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        for (name, mode) in [("key", 0o600), ("key.pub", 0o644), ("cert.pem", 0o600)] {
            let p = dir.path().join(name);
            fs::write(&p, "x").unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        }
        Fixture { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&p, text).unwrap();
        p
    }

    pub fn load(&self, text: &str) -> Config {
        let p = self.write("config", text);
        match Config::load(&p) {
            Ok(c) => c,
            Err(e) => panic!("config did not load: {e}"),
        }
    }
}

pub const CLOUD: &str = "\
[cloud/az]
provider = azure
subscription_id = 0a1b2c3d-0000-4000-8000-00000000beef
certificate = cert.pem
";

pub const LOGIN: &str = "\
[login/l]
image_user = azureuser
user_key_private = key
user_key_public = key.pub
";

pub const SETUP: &str = "\
[setup/s]
provider = ansible
frontend_groups = slurm_master
compute_groups = slurm_workers
";

pub const CLUSTER: &str = "\
[cluster/c]
cloud = az
login = l
setup_provider = s
location = East US
base_name = mybase1
frontend_nodes = 1
compute_nodes = 2
ssh_to = frontend
image_id = img
flavor = Small
";

pub fn good() -> String {
    format!("{CLOUD}\n{LOGIN}\n{SETUP}\n{CLUSTER}")
}

/// A string value of the cloud settings kept in the state.
pub fn cloud_str<'a>(t: &'a ClusterTemplate, key: &str) -> &'a str {
    t.cloud[key].as_str().unwrap_or_default()
}

/// The first subscription of the cloud settings.
pub fn first_subscription(t: &ClusterTemplate) -> &toml::Table {
    t.cloud["subscriptions"][0]
        .as_table()
        .expect("a subscription")
}

pub fn errors(config: &Config, template: &str) -> Diagnostics {
    match config.template(template, &Registry) {
        Ok(t) => panic!("template {template} unexpectedly valid: {t:?}"),
        Err(d) => d,
    }
}

/// Assert exactly one diagnostic whose text contains every fragment.
pub fn assert_one(d: &Diagnostics, fragments: &[&str]) {
    let text = d.to_string();
    assert_eq!(d.len(), 1, "expected one problem, got:\n{text}");
    for f in fragments {
        assert!(text.contains(f), "`{f}` not in:\n{text}");
    }
}

pub fn load_err(fx: &Fixture, text: &str) -> ConfigError {
    let p = fx.write("config", text);
    match Config::load(&p) {
        Ok(_) => panic!("config unexpectedly loaded"),
        Err(e) => e,
    }
}
