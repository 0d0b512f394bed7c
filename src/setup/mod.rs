//! Setting a cluster up once its nodes answer SSH: the [`SetupProvider`] trait, the neutral
//! description of what to provision ([`Inventory`]), and the readiness check that decides
//! whether the scheduler really sees every worker.
//!
//! This layer knows nothing about clouds or config files: the lifecycle builds an
//! [`Inventory`] from its nodes and the setup section, then calls a provider. It must never
//! turn off host-key checking, and never ship or log secrets (the MUNGE key is made on
//! the cluster itself by the playbooks).

pub mod ansible;
pub mod readiness;
pub mod scheduler;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use readiness::{Readiness, Scheduler};

/// One node to provision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Inventory name, also the host name the playbooks set (e.g. `frontend001`).
    pub name: String,
    /// Node kind from the cluster section (`frontend`, `compute`, …).
    pub kind: String,
    /// Ansible groups of the kind (`<kind>_groups`), e.g. `["slurm_master"]`.
    pub groups: Vec<String>,
    /// Address to SSH to (IP or name, without port).
    pub address: String,
    pub port: u16,
    /// Login user (`image_user`).
    pub user: String,
    pub private_key: PathBuf,
    /// The host this one is reached through (same key and known_hosts), if any.
    pub jump: Option<crate::ssh::JumpHost>,
    /// Variables for this host only, already merged with [`merge_vars`]; a key equal to
    /// the same key in [`Inventory::vars`] need not be repeated.
    pub vars: BTreeMap<String, String>,
}

/// Everything the setup provider needs about a cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Cluster name: names the inventory file `<storage>/<name>.inventory`.
    pub cluster_name: String,
    pub hosts: Vec<Host>,
    /// Variables for every host (`[all:vars]`).
    pub vars: BTreeMap<String, String>,
    /// Hosts set up before that, in this run, need only what depends on the list of nodes
    /// (nodes joined or left): written as group [`MEMBERSHIP_ONLY_GROUP`], and their facts
    /// come from the cache of earlier runs. Empty: every host gets the whole setup.
    pub membership_only: Vec<String>,
}

/// The inventory group of [`Inventory::membership_only`] (the playbooks know this name).
pub const MEMBERSHIP_ONLY_GROUP: &str = "elasticluster_membership_only";

/// The group the playbooks' first play puts every node in when any node differs from what
/// its last complete setup recorded (then every play runs; reserved like the one above).
pub const SETUP_RUN_GROUP: &str = "elasticluster_setup_run";

impl Inventory {
    /// Hosts that belong to `group`, in inventory order.
    pub fn hosts_in(&self, group: &str) -> impl Iterator<Item = &Host> {
        let group = group.to_owned();
        self.hosts.iter().filter(move |h| h.groups.contains(&group))
    }
}

/// The variable sources of a cluster, lowest precedence first:
/// setup section `global_var_*` < cluster section `global_var_*` < setup section
/// `<kind>_var_*` < cluster section `<kind>_var_*`.
///
/// So a kind's value beats a global one, and between two values of the same scope the
/// cluster section beats the (shared) setup section. This is the order
/// `config::Setup::vars_for` implements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VarSources {
    pub setup_global: BTreeMap<String, String>,
    pub setup_kind: BTreeMap<String, BTreeMap<String, String>>,
    pub cluster_global: BTreeMap<String, String>,
    pub cluster_kind: BTreeMap<String, BTreeMap<String, String>>,
}

impl VarSources {
    /// Variables every host gets (`[all:vars]`): the two global layers.
    pub fn global(&self) -> BTreeMap<String, String> {
        let mut out = self.setup_global.clone();
        out.extend(self.cluster_global.clone());
        out
    }

    /// Effective variables of a host of `kind`, all four layers applied.
    pub fn effective(&self, kind: &str) -> BTreeMap<String, String> {
        merge_vars(&[
            &self.setup_global,
            &self.cluster_global,
            self.setup_kind.get(kind).unwrap_or(&BTreeMap::new()),
            self.cluster_kind.get(kind).unwrap_or(&BTreeMap::new()),
        ])
    }

    /// The per-host part for `kind`: effective variables that differ from [`Self::global`],
    /// ready to put in [`Host::vars`].
    pub fn host_vars(&self, kind: &str) -> BTreeMap<String, String> {
        let global = self.global();
        self.effective(kind)
            .into_iter()
            .filter(|(k, v)| global.get(k) != Some(v))
            .collect()
    }
}

/// Merges maps, later ones winning.
pub fn merge_vars(layers: &[&BTreeMap<String, String>]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for layer in layers {
        out.extend(layer.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    out
}

/// What one run of the setup provider did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupOutcome {
    /// Whether any task changed anything; `None` when the run gave no summary (e.g. a
    /// custom playbook that replaced the callback, or no host had groups).
    pub changed: Option<bool>,
    /// Per-host counts, when known.
    pub hosts: BTreeMap<String, HostStats>,
    pub inventory_path: Option<PathBuf>,
}

/// Task counts of one host, as in Ansible's PLAY RECAP.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
pub struct HostStats {
    #[serde(default)]
    pub ok: u64,
    #[serde(default)]
    pub changed: u64,
    #[serde(default)]
    pub unreachable: u64,
    #[serde(default)]
    pub failures: u64,
    #[serde(default)]
    pub skipped: u64,
}

/// Errors of the setup layer; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("`{command}` was not found: install ansible-core {min} or newer (e.g. `pip install ansible-core` or `apt install ansible-core`) or set `ansible_command` in the setup section")]
    AnsibleMissing { command: String, min: String },
    #[error("`{command}` is version {found}, but ElastiCluster's playbooks need ansible-core {min} or newer: upgrade it (e.g. `pip install -U ansible-core`) or point `ansible_command` at a newer one")]
    AnsibleTooOld {
        command: String,
        found: String,
        min: String,
    },
    #[error("could not tell the version of `{command}` from `--version` output {output:?}: check `ansible_command` in the setup section")]
    AnsibleVersionUnknown { command: String, output: String },
    #[error("cannot parse `{key}` ({value:?}): {reason}")]
    BadSetting {
        key: String,
        value: String,
        reason: String,
    },
    #[error("playbook `{0}` (playbook_path) does not exist or is not a file")]
    PlaybookMissing(PathBuf),
    #[error("{action} `{path}`: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed with exit code {code}; see the output above. The cluster is likely not configured correctly: fix the cause and re-run `elasticluster setup {cluster}`")]
    PlaybookFailed {
        command: String,
        code: i32,
        cluster: String,
    },
    #[error("`{command}` was killed by a signal; re-run `elasticluster setup {cluster}`")]
    PlaybookKilled { command: String, cluster: String },
    #[error("invalid value for inventory: {0}")]
    BadInventory(String),
    #[error("readiness check on {host} failed: {detail}")]
    Readiness { host: String, detail: String },
}

/// Provisions a cluster's nodes. Implementations must be re-runnable: a second run on an
/// unchanged cluster changes nothing.
pub trait SetupProvider {
    /// Provision every host of `inventory`. `known_hosts` holds the host keys recorded at
    /// first contact; connections to hosts whose key is not there fail. `extra_args` are
    /// the user's arguments from `elasticluster setup NAME -- …`.
    fn setup(
        &self,
        inventory: &Inventory,
        known_hosts: &std::path::Path,
        extra_args: &[String],
    ) -> Result<SetupOutcome, SetupError>;

    /// Remove what [`SetupProvider::setup`] left in the storage directory for this cluster
    /// (the inventory file). Missing files are fine.
    fn cleanup(&self, cluster_name: &str) -> Result<(), SetupError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn kind_beats_global_and_cluster_beats_setup() {
        let sources = VarSources {
            setup_global: map(&[("a", "setup-global"), ("b", "setup-global"), ("c", "sg")]),
            setup_kind: [(
                "compute".to_string(),
                map(&[("a", "setup-kind"), ("d", "sk")]),
            )]
            .into(),
            cluster_global: map(&[("b", "cluster-global"), ("d", "cluster-global")]),
            cluster_kind: [("compute".to_string(), map(&[("c", "cluster-kind")]))].into(),
        };
        let eff = sources.effective("compute");
        assert_eq!(eff["a"], "setup-kind");
        assert_eq!(eff["b"], "cluster-global");
        assert_eq!(eff["c"], "cluster-kind");
        // a kind value (even from the setup section) beats any global value
        assert_eq!(eff["d"], "sk");
        let front = sources.effective("frontend");
        assert_eq!(front["a"], "setup-global");
        assert_eq!(front["c"], "sg");
        // host_vars holds only what differs from [all:vars]
        let hv = sources.host_vars("compute");
        assert_eq!(
            hv,
            map(&[("a", "setup-kind"), ("c", "cluster-kind"), ("d", "sk")])
        );
        assert!(sources.host_vars("frontend").is_empty());
    }
}
