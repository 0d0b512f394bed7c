//! Azure Resource Manager as seen by the provider registry: which cloud sections it handles
//! (`provider = azure` with ARM's keys and no `certificate`), the keys it owns, and opening a
//! provider from the settings stored with a cluster — starting the bundled emulator first
//! when the cluster lives in the sandbox.

use std::sync::Arc;

use crate::config::{CloudInput, KeyChecker, Section};
use crate::providers::azure_sandbox::{self, Sandbox, SandboxError};
use crate::providers::{
    validated_table, OpenEnv, Opened, ProviderError, ProviderKind, Resource, SettingsUpdate,
    StoredSettings,
};

use super::keys;
use super::provider::ArmProvider;
use super::snapshot::{ArmSnapshot, PROVIDER_ID};

/// The registry's handle on Azure Resource Manager.
pub struct AzureArm;

impl ProviderKind for AzureArm {
    fn id(&self) -> &'static str {
        PROVIDER_ID
    }

    fn provider_value(&self) -> &'static str {
        "azure"
    }

    fn claims(&self, cloud: &Section) -> bool {
        keys::claims(cloud)
    }

    fn cluster_keys(&self) -> &'static [&'static str] {
        keys::CLUSTER_KEYS
    }

    fn validate(&self, input: &CloudInput<'_>, check: &mut KeyChecker) -> Option<toml::Table> {
        validated_table(keys::validate(input, check), input, check)
    }

    fn open(&self, settings: &toml::Table, env: &mut OpenEnv<'_>) -> Result<Opened, ProviderError> {
        let mut snapshot = ArmSnapshot::from_table(settings)?;
        if snapshot.uses_sandbox() {
            let dir = snapshot
                .sandbox_dir
                .clone()
                .unwrap_or_else(|| env.storage_dir.join("sandbox"));
            let endpoint = Sandbox::new(&dir)
                .ensure_running(env.on_line)
                .map_err(|e| ProviderError::other(e.to_string()))?;
            let Some(arm) = endpoint.arm.clone() else {
                let program = azure_sandbox::emulator_path().unwrap_or_default();
                return Err(ProviderError::other(
                    SandboxError::NoArmFace(program).to_string(),
                ));
            };
            snapshot.sandbox_dir = Some(dir);
            snapshot.point_at(&endpoint, &arm);
        }
        let provider = ArmProvider::new(snapshot.settings(env.identity)?)?;
        Ok(Opened {
            provider: Arc::new(provider),
            settings: snapshot.to_table()?,
        })
    }

    fn follow_config(
        &self,
        stored: &toml::Table,
        configured: &toml::Table,
        existing: &[Resource],
    ) -> Result<SettingsUpdate, ProviderError> {
        let (next, conflicts) = ArmSnapshot::from_table(stored)?
            .follow(&ArmSnapshot::from_table(configured)?, existing);
        Ok(SettingsUpdate {
            settings: next.to_table()?,
            conflicts,
        })
    }

    fn release(
        &self,
        settings: &toml::Table,
        others: &[toml::Table],
    ) -> Result<Option<String>, ProviderError> {
        let snapshot = ArmSnapshot::from_table(settings)?;
        Ok(snapshot
            .sandbox_dir
            .and_then(|dir| azure_sandbox::stop_if_unused(&dir, others)))
    }
}
