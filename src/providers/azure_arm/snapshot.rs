//! The ARM settings kept in the cluster state (its `[provider]` table), so `stop`, `ssh`
//! and `list-nodes -u` work even if the configuration changed, and their translation into
//! the provider's runtime [`ArmSettings`].
//!
//! Never stores the client secret: only where to read it again ([`SecretSource`]).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::client::ArmOptions;
use super::provider::ArmSettings;
use super::secret::{ClientSecret, SecretSource};
use super::token::Credentials;
use crate::providers::azure_sandbox::{ArmAccess, SandboxEndpoint};
use crate::providers::{ClusterIdentity, ProviderError, Resource, SettingConflict, StoredSettings};

/// Value of the `provider` key of the stored settings.
pub const PROVIDER_ID: &str = "azure_arm";

/// Environment knob for tests and benchmarks against an emulator's `--time-scale`.
pub const TIME_SCALE_ENV: &str = "ELASTICLUSTER_TIME_SCALE";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArmSnapshot {
    pub provider: String,
    pub subscription_id: String,
    pub tenant_id: String,
    pub client_id: String,
    /// Where the client secret is read from (never the secret).
    pub secret: SecretSource,
    pub arm_endpoint: String,
    pub authority: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificate: Option<PathBuf>,
    /// Programmatic name, e.g. `eastus`.
    pub location: String,
    pub base_name: String,
    /// `false`: only the entry node (the frontend) gets a public IP.
    pub use_public_ips: bool,
    pub wait_timeout: u64,
    pub user_key_public: PathBuf,
    pub user_key_private: PathBuf,
    /// `emulator = yes`: the cluster runs in the bundled emulator (the sandbox).
    #[serde(default)]
    pub emulator: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_dir: Option<PathBuf>,
}

impl StoredSettings for ArmSnapshot {}

impl ArmSnapshot {
    pub fn uses_sandbox(&self) -> bool {
        self.emulator || self.sandbox_dir.is_some()
    }

    /// Point the settings at the running sandbox emulator's ARM face and the service
    /// principal registered with it (its URL changes with every restart).
    pub fn point_at(&mut self, ep: &SandboxEndpoint, arm: &ArmAccess) {
        self.subscription_id = ep.subscription_id.clone();
        self.tenant_id = arm.tenant_id.clone();
        self.client_id = arm.client_id.clone();
        self.secret = SecretSource::File {
            path: arm.secret_file.clone(),
        };
        self.arm_endpoint = arm.arm_url.clone();
        self.authority = arm.authority_url.clone();
        self.ca_certificate = Some(ep.ca_certificate.clone());
    }

    /// The settings to keep when the configuration now says `configured`: everything takes
    /// effect, except — while resources exist — what names or places them (subscription,
    /// location, `base_name`), which keeps its stored value and is reported.
    pub fn follow(
        &self,
        configured: &ArmSnapshot,
        existing: &[Resource],
    ) -> (Self, Vec<SettingConflict>) {
        let mut next = configured.clone();
        let mut conflicts = Vec::new();
        if existing.is_empty() {
            return (next, conflicts);
        }
        let mut keep = |key: &str, stored: &String, wanted: &mut String| {
            if stored != wanted {
                conflicts.push(SettingConflict {
                    key: key.into(),
                    stored: stored.clone(),
                    configured: wanted.clone(),
                });
                *wanted = stored.clone();
            }
        };
        keep(
            "subscription_id",
            &self.subscription_id,
            &mut next.subscription_id,
        );
        keep("location", &self.location, &mut next.location);
        keep("base_name", &self.base_name, &mut next.base_name);
        // Where a sandbox cluster's emulator runs is the stored (opened) value.
        if self.uses_sandbox() {
            next.sandbox_dir = self.sandbox_dir.clone();
            next.emulator = true;
        }
        (next, conflicts)
    }

    /// Runtime settings (the secret is read at the first token request, so `ssh` and
    /// `list-nodes` never need it), waits scaled by `ELASTICLUSTER_TIME_SCALE`.
    pub fn settings(&self, identity: &ClusterIdentity) -> Result<ArmSettings, ProviderError> {
        let secret = ClientSecret::From(self.secret.clone());
        let time_scale = std::env::var(TIME_SCALE_ENV)
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|f| f.is_finite() && *f > 0.0)
            .unwrap_or(1.0);
        let arm = self.arm_endpoint.trim_end_matches('/').to_string();
        Ok(ArmSettings {
            subscription_id: self.subscription_id.clone(),
            credentials: Credentials {
                authority: self.authority.trim_end_matches('/').to_string(),
                tenant: self.tenant_id.clone(),
                client_id: self.client_id.clone(),
                secret,
                scope: format!("{arm}/.default"),
            },
            arm_endpoint: arm,
            ca_certificate: self.ca_certificate.clone(),
            location: self.location.clone(),
            base_name: self.base_name.clone(),
            use_public_ips: self.use_public_ips,
            user_key_public: self.user_key_public.clone(),
            identity: identity.clone(),
            options: ArmOptions {
                time_scale,
                operation_timeout: Duration::from_secs(self.wait_timeout.max(1)),
                ..ArmOptions::default()
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_table_holds_no_secret() {
        let s = ArmSnapshot {
            provider: PROVIDER_ID.into(),
            subscription_id: "sub".into(),
            tenant_id: "ten".into(),
            client_id: "cli".into(),
            secret: SecretSource::Config {
                file: "/etc/ec/config".into(),
                section: "cloud/arm".into(),
            },
            arm_endpoint: "https://management.azure.com".into(),
            authority: "https://login.microsoftonline.com".into(),
            ca_certificate: None,
            location: "eastus".into(),
            base_name: "mycluster".into(),
            use_public_ips: false,
            wait_timeout: 600,
            user_key_public: "/k.pub".into(),
            user_key_private: "/k".into(),
            emulator: false,
            sandbox_dir: None,
        };
        let t = s.to_table().unwrap();
        let text = toml::to_string(&t).unwrap();
        assert!(
            text.contains("from = \"config\"") && text.contains("/etc/ec/config"),
            "{text}"
        );
        assert_eq!(ArmSnapshot::from_table(&t).unwrap(), s);
    }
}
