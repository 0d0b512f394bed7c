//! The one error type of the lifecycle operations, each variant already phrased for the user;
//! `main` prints it and the command line maps it to an exit code.

use crate::config::{ConfigError, Diagnostics};
use crate::providers::ProviderError;
use crate::storage::StorageError;

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Problems of one template, one per line.
    #[error("{0}")]
    Template(Diagnostics),
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Bad option values or a missing confirmation (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Valid request this build cannot carry out yet (exit 3).
    #[error("elasticluster {command}: {message}")]
    NotAvailable {
        command: &'static str,
        message: String,
    },
    /// Nodes up, but setup failed or the scheduler misses workers (exit 4).
    #[error("{0}")]
    NotReady(String),
    /// The cloud failed; the message names the cluster.
    #[error("cluster `{cluster}`: {source}")]
    Cloud {
        cluster: String,
        source: ProviderError,
    },
    /// Anything else, already phrased for the user.
    #[error("{0}")]
    Failed(String),
}

impl OpsError {
    /// A cloud failure while working on `cluster`.
    pub fn cloud(cluster: &str) -> impl FnOnce(ProviderError) -> OpsError + '_ {
        move |source| OpsError::Cloud {
            cluster: cluster.to_string(),
            source,
        }
    }

    /// Any other failure, displayed as is.
    pub fn failed(e: impl std::fmt::Display) -> OpsError {
        OpsError::Failed(e.to_string())
    }
}
