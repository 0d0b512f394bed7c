//! The Azure classic settings kept in the cluster state (its `[provider]` table), so `stop`,
//! `ssh` and `list-nodes -u` work even if the configuration file changed or is gone, and
//! their translation into the runtime [`AzureSettings`].
//!
//! Never stores secrets: only paths to key files.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::provider::AzureSettings;
use super::transport::{ClientOptions, SubscriptionAccess};
use crate::providers::azure_sandbox::SandboxEndpoint;
use crate::providers::{
    ClusterIdentity, ProviderError, Resource, SettingConflict, SettingsUpdate, StoredSettings,
};

/// Value of the `provider` key of the stored settings.
pub const PROVIDER_ID: &str = "azure_classic";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionSnapshot {
    pub id: String,
    pub certificate: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    pub management_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificate: Option<PathBuf>,
}

/// What the Azure classic provider needs, as stored in the cluster state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AzureSnapshot {
    pub provider: String,
    /// Index 0: the cloud section's subscription (the sandbox's once it runs), then the
    /// `subscription_file` ones.
    pub subscriptions: Vec<SubscriptionSnapshot>,
    pub location: String,
    pub base_name: String,
    pub use_public_ips: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_cloud_services: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_storage_accounts: Option<u32>,
    pub wait_timeout: u64,
    pub user_key_public: PathBuf,
    pub user_key_private: PathBuf,
    /// `emulator = yes`: the cluster runs in the bundled emulator (the sandbox).
    #[serde(default)]
    pub emulator: bool,
    /// The sandbox's directory (`emulator_state_dir`, default `<storage>/sandbox`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_dir: Option<PathBuf>,
}

impl StoredSettings for AzureSnapshot {}

impl AzureSnapshot {
    /// Whether the cluster lives in the bundled emulator (states of older builds only
    /// recorded the sandbox directory).
    pub fn uses_sandbox(&self) -> bool {
        self.emulator || self.sandbox_dir.is_some()
    }

    /// Point the first subscription at the running sandbox emulator (its URL changes with
    /// every restart).
    pub fn point_at(&mut self, ep: &SandboxEndpoint) {
        let first = SubscriptionSnapshot {
            id: ep.subscription_id.clone(),
            certificate: ep.certificate.clone(),
            key: None,
            management_url: ep.management_url.clone(),
            ca_certificate: Some(ep.ca_certificate.clone()),
        };
        match self.subscriptions.first_mut() {
            Some(s) => *s = first,
            None => self.subscriptions.push(first),
        }
    }

    /// The settings to keep when the configuration now says `configured` and `existing`
    /// resources stand (see `ProviderKind::follow_config`): where they are and how they are
    /// named cannot change under them; everything else follows the configuration.
    pub fn follow(
        &self,
        configured: &AzureSnapshot,
        existing: &[Resource],
    ) -> (AzureSnapshot, Vec<SettingConflict>) {
        let mut next = configured.clone();
        let mut conflicts = Vec::new();
        if existing.is_empty() {
            return (next, conflicts);
        }
        let mut keep = |key: &str, stored: String, wanted: String| {
            if stored != wanted {
                conflicts.push(SettingConflict {
                    key: key.into(),
                    stored,
                    configured: wanted,
                });
                true
            } else {
                false
            }
        };
        if keep(
            "location",
            self.location.clone(),
            configured.location.clone(),
        ) {
            next.location = self.location.clone();
        }
        if keep(
            "base_name",
            self.base_name.clone(),
            configured.base_name.clone(),
        ) {
            next.base_name = self.base_name.clone();
        }
        if keep(
            "use_public_ips",
            yes_no(self.use_public_ips),
            yes_no(configured.use_public_ips),
        ) {
            next.use_public_ips = self.use_public_ips;
        }
        if keep(
            "emulator",
            yes_no(self.uses_sandbox()),
            yes_no(configured.uses_sandbox()),
        ) {
            next.emulator = self.emulator;
            next.sandbox_dir = self.sandbox_dir.clone();
            next.subscriptions = self.subscriptions.clone();
            return (next, conflicts);
        }
        if self.uses_sandbox() {
            // The sandbox's subscription and directory were made when it started.
            if configured.sandbox_dir.is_some() && configured.sandbox_dir != self.sandbox_dir {
                keep(
                    "emulator_state_dir",
                    shown_dir(&self.sandbox_dir),
                    shown_dir(&configured.sandbox_dir),
                );
            }
            next.sandbox_dir = self.sandbox_dir.clone();
            next.subscriptions = self.subscriptions.clone();
            return (next, conflicts);
        }
        let scopes: std::collections::BTreeSet<&str> =
            existing.iter().map(|r| r.scope.as_str()).collect();
        for scope in scopes {
            let configured_too = configured
                .subscriptions
                .iter()
                .any(|s| s.id.eq_ignore_ascii_case(scope));
            if !configured_too {
                if let Some(old) = self.subscriptions.iter().find(|s| s.id == scope) {
                    conflicts.push(SettingConflict {
                        key: "subscription_id".into(),
                        stored: scope.to_string(),
                        configured: "(not configured)".into(),
                    });
                    next.subscriptions.push(old.clone());
                }
            }
        }
        (next, conflicts)
    }

    /// Provider settings for `identity`; time constants scaled by `ELASTICLUSTER_TIME_SCALE`
    /// (tests).
    pub fn settings(&self, identity: &ClusterIdentity) -> AzureSettings {
        let scale = ClientOptions::env_time_scale();
        let client = ClientOptions {
            operation_timeout: Duration::from_secs(self.wait_timeout.max(1)),
            ..ClientOptions::default()
        }
        .scaled(scale);
        AzureSettings {
            subscriptions: self
                .subscriptions
                .iter()
                .map(|s| SubscriptionAccess {
                    id: s.id.clone(),
                    certificate: s.certificate.clone(),
                    key: s.key.clone(),
                    management_url: s.management_url.clone(),
                    ca_certificate: s.ca_certificate.clone(),
                })
                .collect(),
            location: self.location.clone(),
            base_name: self.base_name.clone(),
            user_key_public: self.user_key_public.clone(),
            user_key_private: self.user_key_private.clone(),
            use_public_ips: self.use_public_ips,
            n_cloud_services: self.n_cloud_services.map(|n| n as usize),
            n_storage_accounts: self.n_storage_accounts.map(|n| n as usize),
            client,
            identity: identity.clone(),
        }
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

fn shown_dir(d: &Option<PathBuf>) -> String {
    d.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(default)".into())
}

/// `ProviderKind::follow_config` on stored tables.
pub fn follow_tables(
    stored: &toml::Table,
    configured: &toml::Table,
    existing: &[Resource],
) -> Result<SettingsUpdate, ProviderError> {
    let (next, conflicts) = AzureSnapshot::from_table(stored)?
        .follow(&AzureSnapshot::from_table(configured)?, existing);
    Ok(SettingsUpdate {
        settings: next.to_table()?,
        conflicts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(location: &str, wait: u64) -> AzureSnapshot {
        AzureSnapshot {
            provider: PROVIDER_ID.into(),
            subscriptions: vec![SubscriptionSnapshot {
                id: "0a1b2c3d-0000-4000-8000-00000000beef".into(),
                certificate: "/c.pem".into(),
                key: None,
                management_url: "https://m".into(),
                ca_certificate: None,
            }],
            location: location.into(),
            base_name: "abc".into(),
            use_public_ips: false,
            n_cloud_services: None,
            n_storage_accounts: None,
            wait_timeout: wait,
            user_key_public: "/k.pub".into(),
            user_key_private: "/k".into(),
            emulator: false,
            sandbox_dir: None,
        }
    }

    #[test]
    fn settings_follow_the_config_except_under_existing_resources() {
        let stored = snap("East US", 600);
        let wanted = snap("West Europe", 60);
        let (next, conflicts) = stored.follow(&wanted, &[]);
        assert_eq!(next, wanted, "nothing exists: everything follows");
        assert!(conflicts.is_empty());
        let cs = Resource::new(
            "cloud_service",
            "0a1b2c3d-0000-4000-8000-00000000beef",
            "abccs0",
        );
        let (next, conflicts) = stored.follow(&wanted, &[cs]);
        assert_eq!(next.location, "East US", "the region of what exists stays");
        assert_eq!(next.wait_timeout, 60, "a timeout takes effect");
        assert_eq!(
            conflicts,
            [SettingConflict {
                key: "location".into(),
                stored: "East US".into(),
                configured: "West Europe".into()
            }]
        );
        // A subscription holding resources that the configuration dropped stays reachable.
        let mut fewer = snap("East US", 600);
        fewer.subscriptions.clear();
        let elsewhere = Resource::new(
            "storage_account",
            "0a1b2c3d-0000-4000-8000-00000000beef",
            "abcsa0",
        );
        let (next, conflicts) = stored.follow(&fewer, &[elsewhere]);
        assert_eq!(next.subscriptions, stored.subscriptions);
        assert_eq!(conflicts[0].key, "subscription_id");
    }
}
