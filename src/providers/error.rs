//! The one error type that crosses the provider door: what kind of failure it is (so the
//! lifecycle can decide without knowing the cloud), the message already phrased for the user
//! (the cloud's own words and what to do), and the cloud's request id when there is one.

use super::ledger::LedgerError;

/// What went wrong, in terms the lifecycle can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Credentials refused or missing.
    Auth,
    /// The resource does not exist.
    NotFound,
    /// A quota or limit of the account is exhausted.
    Quota,
    /// The cloud asked us to slow down and we gave up waiting.
    Throttled,
    /// Another operation holds the resource, or it exists already and is not ours.
    Conflict,
    /// The request (a size, an image, a location, a key) is not acceptable.
    Invalid,
    /// No answer from the cloud, or one we could not understand.
    Transport,
    /// The cluster state could not be written.
    Ledger,
    /// Anything else.
    Other,
}

/// A failure reported by a cloud provider. Displays as its message (which, for a cloud
/// answer, already names the request id); `request_id` is kept apart for machine use.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    pub kind: ErrorKind,
    /// What happened and what to do, in the cloud's words where it gave some.
    pub message: String,
    /// The cloud's id of the failed request, for support.
    pub request_id: Option<String>,
}

impl ProviderError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProviderError {
            kind,
            message: message.into(),
            request_id: None,
        }
    }

    /// A failure of no particular kind, already phrased for the user.
    pub fn other(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Other, message)
    }

    pub fn with_request_id(mut self, id: Option<String>) -> Self {
        self.request_id = id;
        self
    }
}

impl From<LedgerError> for ProviderError {
    fn from(e: LedgerError) -> Self {
        ProviderError::new(ErrorKind::Ledger, e.to_string())
    }
}
