//! From the validated configuration to `AzureSettings`, and the snapshot of those settings
//! kept in the cluster state (`[provider]` table), so `stop`, `ssh` and `list-nodes -u` work
//! even if the configuration file changed or is gone.
//!
//! Never stores secrets: only paths to key files.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::provider::AzureSettings;
use super::subscriptions::parse_subscription_file;
use super::transport::{ClientOptions, SubscriptionAccess};
use crate::config::{AzureCloud, AzureClusterOptions, Login};
use crate::providers::ProviderError;

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

/// What the Azure provider needs, as stored in the cluster state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AzureSnapshot {
    pub provider: String,
    pub subscriptions: Vec<SubscriptionSnapshot>,
    pub location: String,
    pub base_name: String,
    pub use_public_ips: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_cloud_services: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_storage_accounts: Option<u32>,
    pub wait_timeout: u64,
    pub startup_timeout: u64,
    pub user_key_public: PathBuf,
    pub user_key_private: PathBuf,
}

pub const PROVIDER_NAME: &str = "azure_classic";

/// Where the management API is, once a sandbox (if any) is running.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub subscription_id: String,
    pub certificate: PathBuf,
    pub management_url: String,
    pub ca_certificate: Option<PathBuf>,
}

impl AzureSnapshot {
    /// Build from the template's sections. `endpoint` overrides the cloud section's
    /// subscription/URL (the sandbox emulator); otherwise the cloud section must name both.
    pub fn from_config(
        cloud: &AzureCloud,
        opts: &AzureClusterOptions,
        login: &Login,
        endpoint: Option<Endpoint>,
    ) -> Result<Self, ProviderError> {
        let first = match endpoint {
            Some(e) => SubscriptionSnapshot {
                id: e.subscription_id,
                certificate: e.certificate,
                key: None,
                management_url: e.management_url,
                ca_certificate: e.ca_certificate,
            },
            None => {
                let (Some(id), Some(cert)) = (&cloud.subscription_id, &cloud.certificate) else {
                    return Err(ProviderError::Other(
                        "the cloud section needs `subscription_id` and `certificate`".into(),
                    ));
                };
                SubscriptionSnapshot {
                    id: id.clone(),
                    certificate: cert.clone(),
                    key: None,
                    management_url: cloud.management_url.clone(),
                    ca_certificate: cloud.ca_certificate.clone(),
                }
            }
        };
        let mut subscriptions = vec![first];
        if let Some(f) = &opts.subscription_file {
            let text = std::fs::read_to_string(f).map_err(|e| {
                ProviderError::Other(format!(
                    "subscription_file {}: cannot read: {e}",
                    f.display()
                ))
            })?;
            for line in parse_subscription_file(f, &text).map_err(ProviderError::Other)? {
                if subscriptions
                    .iter()
                    .any(|s| s.id.eq_ignore_ascii_case(&line.id))
                {
                    continue;
                }
                subscriptions.push(SubscriptionSnapshot {
                    id: line.id,
                    certificate: line.certificate,
                    key: None,
                    management_url: subscriptions[0].management_url.clone(),
                    ca_certificate: subscriptions[0].ca_certificate.clone(),
                });
            }
        }
        Ok(AzureSnapshot {
            provider: PROVIDER_NAME.into(),
            subscriptions,
            location: opts.location.clone(),
            base_name: opts.base_name.clone(),
            use_public_ips: opts.use_public_ips,
            n_cloud_services: opts.n_cloud_services,
            n_storage_accounts: opts.n_storage_accounts,
            wait_timeout: opts.wait_timeout,
            startup_timeout: opts.startup_timeout,
            user_key_public: login.user_key_public.clone(),
            user_key_private: login.user_key_private.clone(),
        })
    }

    pub fn to_table(&self) -> Result<toml::Table, ProviderError> {
        toml::Table::try_from(self)
            .map_err(|e| ProviderError::Other(format!("cannot store provider settings: {e}")))
    }

    /// `None` when the table holds no Azure snapshot (a state from an older build).
    pub fn from_table(t: &toml::Table) -> Result<Option<Self>, ProviderError> {
        if t.is_empty() {
            return Ok(None);
        }
        t.clone().try_into().map(Some).map_err(|e| {
            ProviderError::Other(format!(
                "the cluster state's provider settings are unreadable: {e}"
            ))
        })
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
