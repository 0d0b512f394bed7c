//! Cloud providers behind one door. The lifecycle (`cluster`) talks to a cloud only through
//! the [`CloudProvider`] trait, records resources through the [`Ledger`], and gets providers
//! from the registry below, which also lets each cloud validate the configuration keys it
//! owns ([`Registry`] implements `config::CloudKeys`).
//!
//! Adding a provider = a new folder `providers/<cloud>/` implementing [`ProviderKind`] and
//! [`CloudProvider`], plus one line in [`KINDS`]. Nothing outside a cloud's folder names its
//! types; nothing here knows about SSH or Ansible.

pub mod azure_arm;
pub mod azure_classic;
pub mod azure_sandbox;
mod door;
mod error;
mod ledger;
mod settings;

use std::path::Path;
use std::sync::Arc;

pub use door::*;
pub use error::{ErrorKind, ProviderError};
pub use ledger::{
    Ledger, LedgerError, MemoryLedger, Resource, ResourceState, ATTR_NODE, ATTR_REQUESTED,
};
pub use settings::{validated_table, StoredSettings};

use crate::config::{CloudInput, CloudKeys, KeyChecker, Section};

/// Every cloud this build can use, asked in this order which one handles a `[cloud/X]`
/// section (the more specific first: ARM claims `provider = azure` sections with its keys
/// and no `certificate`; classic takes the other `provider = azure` ones).
pub static KINDS: &[&dyn ProviderKind] = &[
    &azure_arm::kind::AzureArm,
    &azure_classic::kind::AzureClassic,
];

/// A cloud as the registry sees it: its configuration keys and how to open a provider for a
/// stored cluster.
pub trait ProviderKind: Sync {
    /// Stable id, kept in the cluster state (the `provider` key of its settings).
    fn id(&self) -> &'static str;
    /// The `provider = …` value in `[cloud/X]` that selects this cloud (several clouds may
    /// share one and tell themselves apart by their keys).
    fn provider_value(&self) -> &'static str;
    /// Whether this cloud handles `cloud`.
    fn claims(&self, cloud: &Section) -> bool;
    /// Keys of `[cluster/X]` this cloud owns.
    fn cluster_keys(&self) -> &'static [&'static str];
    /// Validate this cloud's keys into the settings kept in the cluster state.
    fn validate(&self, input: &CloudInput<'_>, check: &mut KeyChecker) -> Option<toml::Table>;
    /// A provider for a cluster with these stored settings, working for `env.identity`.
    /// May start a local service the settings ask for (the sandbox emulator) and point the
    /// settings at it: the caller keeps [`Opened::settings`].
    fn open(&self, settings: &toml::Table, env: &mut OpenEnv<'_>) -> Result<Opened, ProviderError>;
    /// The settings a started cluster keeps when its configuration now says `configured`
    /// (both as made by [`ProviderKind::validate`]; `stored` possibly moved by `open`).
    /// `existing` are the cluster's ledger entries that exist or may
    /// ([`Resource::may_exist`]). Every configured value that can take effect does (with
    /// nothing existing: all of them); a value that cannot while `existing` stand (the
    /// region of existing resources, the naming) keeps its stored value and is reported as
    /// a [`SettingConflict`]. Pure: never talks to the cloud; `Err` only for unreadable
    /// settings.
    fn follow_config(
        &self,
        stored: &toml::Table,
        configured: &toml::Table,
        existing: &[Resource],
    ) -> Result<SettingsUpdate, ProviderError>;
    /// The cluster with these settings is gone; `others` are the settings of the clusters
    /// still stored. Release what only it used (the sandbox emulator). Returns what to tell
    /// the user, if anything.
    fn release(
        &self,
        _settings: &toml::Table,
        _others: &[toml::Table],
    ) -> Result<Option<String>, ProviderError> {
        Ok(None)
    }
}

/// What opening a provider may need from its surroundings.
pub struct OpenEnv<'a> {
    /// The storage directory (default home of local services' files).
    pub storage_dir: &'a Path,
    /// Receives progress lines of local services (image build, start-up).
    pub on_line: &'a mut dyn FnMut(&str),
    /// The cluster the provider works for (its owner id marks what it creates).
    pub identity: &'a ClusterIdentity,
}

/// What [`ProviderKind::follow_config`] decided.
#[derive(Clone, Debug, PartialEq)]
pub struct SettingsUpdate {
    /// The settings to keep from now on.
    pub settings: toml::Table,
    /// Configured values that cannot take effect while the cluster's resources exist.
    pub conflicts: Vec<SettingConflict>,
}

/// A configured value that differs from the one the cluster's existing resources have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingConflict {
    /// The configuration key (`location`, `base_name`…).
    pub key: String,
    /// The value the existing resources have.
    pub stored: String,
    /// The value the configuration now says.
    pub configured: String,
}

/// An opened provider and the settings to keep (changed when a local service moved).
pub struct Opened {
    pub provider: Arc<dyn CloudProvider>,
    pub settings: toml::Table,
}

fn kind_claiming(cloud: &Section) -> Option<&'static dyn ProviderKind> {
    KINDS.iter().copied().find(|k| k.claims(cloud))
}

/// The cloud a cluster's stored settings belong to.
pub fn kind_of(settings: &toml::Table) -> Result<&'static dyn ProviderKind, ProviderError> {
    let id = settings
        .get("provider")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    KINDS.iter().copied().find(|k| k.id() == id).ok_or_else(|| {
        ProviderError::new(
            ErrorKind::Invalid,
            if id.is_empty() {
                "the cluster state holds no cloud settings".to_string()
            } else {
                format!(
                    "the cluster state names cloud {}, which this build does not know",
                    crate::config::shown(id)
                )
            },
        )
    })
}

/// Open the provider for a cluster's stored settings (see [`ProviderKind::open`]).
pub fn open(settings: &toml::Table, env: &mut OpenEnv<'_>) -> Result<Opened, ProviderError> {
    kind_of(settings)?.open(settings, env)
}

/// The settings a started cluster keeps (see [`ProviderKind::follow_config`]); a cloud
/// change (another `provider`) is a conflict on `provider`.
pub fn follow_config(
    stored: &toml::Table,
    configured: &toml::Table,
    existing: &[Resource],
) -> Result<SettingsUpdate, ProviderError> {
    let kind = kind_of(stored)?;
    let other = kind_of(configured)?;
    if kind.id() != other.id() {
        if existing.is_empty() {
            return Ok(SettingsUpdate {
                settings: configured.clone(),
                conflicts: Vec::new(),
            });
        }
        return Ok(SettingsUpdate {
            settings: stored.clone(),
            conflicts: vec![SettingConflict {
                key: "provider".into(),
                stored: kind.id().into(),
                configured: other.id().into(),
            }],
        });
    }
    kind.follow_config(stored, configured, existing)
}

/// Release what a removed cluster used (see [`ProviderKind::release`]).
pub fn release(
    settings: &toml::Table,
    others: &[toml::Table],
) -> Result<Option<String>, ProviderError> {
    kind_of(settings)?.release(settings, others)
}

/// The registry as the configuration's cloud validator.
#[derive(Clone, Copy, Debug, Default)]
pub struct Registry;

impl CloudKeys for Registry {
    fn cluster_keys(&self, cloud: Option<&Section>) -> Vec<&'static str> {
        match cloud.and_then(kind_claiming) {
            Some(k) => k.cluster_keys().to_vec(),
            // Unknown cloud: its problem is reported once, on the `provider` key.
            None => KINDS
                .iter()
                .flat_map(|k| k.cluster_keys())
                .copied()
                .collect(),
        }
    }

    fn validate(&self, input: &CloudInput<'_>, check: &mut KeyChecker) -> Option<toml::Table> {
        let cloud = input.cloud;
        if let Some(kind) = kind_claiming(cloud) {
            return kind.validate(input, check);
        }
        let mut values: Vec<&str> = KINDS.iter().map(|k| k.provider_value()).collect();
        values.dedup();
        let hint = format!("set `provider = {}`", values.join("` or `provider = "));
        if let Some(e) = check.required(cloud, "provider", &hint) {
            check.push(
                &e.origin,
                &cloud.name,
                Some("provider"),
                format!(
                    "provider `{}` is not supported by this build",
                    e.value.trim()
                ),
                hint,
            );
        }
        None
    }
}
