//! Checks before anything is created (also `start --dry-run`). Filled in by the next step.

use std::sync::Arc;

use super::provider::AzureClassicProvider;
use crate::providers::{Ledger, NodeRequest, Preflight, ProviderError};

impl AzureClassicProvider {
    pub(super) async fn check_before_start(
        &self,
        _nodes: &[NodeRequest],
        _ledger: Arc<dyn Ledger>,
    ) -> Result<Preflight, ProviderError> {
        Err(ProviderError::other(
            "preflight checks are not implemented for Azure classic yet",
        ))
    }
}
