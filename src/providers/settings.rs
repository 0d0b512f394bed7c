//! A cloud's settings as kept in the cluster state: one serde struct per cloud, stored as the
//! state's `[provider]` table. Shared so every cloud reads and writes it the same way and
//! reports a broken table in the same words. Never holds a secret.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::ProviderError;
use crate::config::{CloudInput, KeyChecker};

/// Settings a provider stores with a cluster and reads back to open it again.
pub trait StoredSettings: Serialize + DeserializeOwned {
    fn to_table(&self) -> Result<toml::Table, ProviderError> {
        toml::Table::try_from(self)
            .map_err(|e| ProviderError::other(format!("cannot store provider settings: {e}")))
    }

    fn from_table(table: &toml::Table) -> Result<Self, ProviderError> {
        table.clone().try_into().map_err(|e| {
            ProviderError::other(format!(
                "the cluster state's provider settings are unreadable: {e}"
            ))
        })
    }
}

/// The table for settings a cloud's key check produced (`None` when the keys had errors,
/// already reported); a table that cannot be built is one more reported problem.
pub fn validated_table<S: StoredSettings>(
    settings: Option<S>,
    input: &CloudInput<'_>,
    check: &mut KeyChecker,
) -> Option<toml::Table> {
    match settings?.to_table() {
        Ok(table) => Some(table),
        Err(e) => {
            check.push(
                &input.cloud.origin,
                &input.cloud.name,
                None,
                e.to_string(),
                "report this as a bug",
            );
            None
        }
    }
}
