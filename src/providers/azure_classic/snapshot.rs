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
use crate::providers::ProviderError;

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

impl AzureSnapshot {
    pub fn to_table(&self) -> Result<toml::Table, ProviderError> {
        toml::Table::try_from(self)
            .map_err(|e| ProviderError::other(format!("cannot store provider settings: {e}")))
    }

    pub fn from_table(t: &toml::Table) -> Result<Self, ProviderError> {
        t.clone().try_into().map_err(|e| {
            ProviderError::other(format!(
                "the cluster state's provider settings are unreadable: {e}"
            ))
        })
    }

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

    /// Provider settings; time constants scaled by `ELASTICLUSTER_TIME_SCALE` (tests).
    pub fn settings(&self) -> AzureSettings {
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
        }
    }
}
