//! Typed errors of the Azure classic provider: what Azure said (code, message, request id)
//! or what went wrong before Azure could say anything.
//!
//! Never lose Azure's own message or request id: the user needs both to act or to ask support.

use std::path::PathBuf;

use crate::providers::{ErrorKind, ProviderError};

/// Everything that can go wrong talking to the Service Management API.
#[derive(Debug, thiserror::Error)]
pub enum AsmError {
    /// Azure answered with an `<Error>` body (or a bare HTTP error status).
    #[error("{method} {path}: Azure said {status} {code}: {message}{}", request_id_suffix(.request_id))]
    Api {
        method: String,
        path: String,
        status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
    },
    /// An asynchronous operation ended `Failed`.
    #[error("{what}: Azure operation {request_id} failed ({http_status} {code}): {message}")]
    OperationFailed {
        what: String,
        request_id: String,
        http_status: u16,
        code: String,
        message: String,
    },
    /// An asynchronous operation was still `InProgress` when our patience ran out.
    #[error("{what}: Azure operation {request_id} still in progress after {waited_secs} s")]
    OperationTimeout {
        what: String,
        request_id: String,
        waited_secs: u64,
    },
    /// The management certificate was not accepted for this subscription (HTTP 403).
    #[error(
        "Azure refused management certificate {certificate} (thumbprint {thumbprint}) for subscription {subscription}: {message} \
         — upload that certificate to the subscription, or fix `certificate`/`subscription_id` in the cloud section{}",
        request_id_suffix(.request_id)
    )]
    Forbidden {
        subscription: String,
        certificate: String,
        thumbprint: String,
        message: String,
        request_id: Option<String>,
    },
    /// No HTTP answer at all (connection refused, TLS failure, timeout).
    #[error("{method} {url}: {detail}")]
    Transport {
        method: String,
        url: String,
        detail: String,
    },
    /// A response body we could not understand.
    #[error("{what}: unexpected response from Azure: {detail}")]
    BadResponse { what: String, detail: String },
    /// A key or certificate file we could not use.
    #[error("{}: {detail}", .path.display())]
    KeyMaterial { path: PathBuf, detail: String },
    /// Bad configuration detected by the provider itself.
    #[error("{0}")]
    Config(String),
    /// A resource the cluster would create or adopt exists and is another's.
    #[error("{what} already exists and is not this cluster's ({}) — it was left untouched: choose another `base_name`, or stop the cluster that owns it", owner_text(.owner))]
    NotOurs { what: String, owner: Option<String> },
}

fn owner_text(owner: &Option<String>) -> String {
    match owner {
        Some(o) => format!("it carries owner id {o}"),
        None => "it carries no owner id".into(),
    }
}

fn request_id_suffix(id: &Option<String>) -> String {
    match id {
        Some(id) => format!(" (request id {id})"),
        None => String::new(),
    }
}

impl AsmError {
    /// HTTP status of an API error, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            AsmError::Api { status, .. } => Some(*status),
            AsmError::OperationFailed { http_status, .. } => Some(*http_status),
            AsmError::Forbidden { .. } => Some(403),
            _ => None,
        }
    }

    /// Azure's error code (`ResourceNotFound`, `ConflictError`, …), if any.
    pub fn code(&self) -> Option<&str> {
        match self {
            AsmError::Api { code, .. } | AsmError::OperationFailed { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Azure's message text, if any.
    pub fn azure_message(&self) -> Option<&str> {
        match self {
            AsmError::Api { message, .. }
            | AsmError::OperationFailed { message, .. }
            | AsmError::Forbidden { message, .. } => Some(message),
            _ => None,
        }
    }

    /// The resource does not exist (404, or an operation that failed with 404).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404) || self.code() == Some("ResourceNotFound")
    }

    /// Another operation holds the deployment/hosted service (409 "requires exclusive access").
    pub fn is_exclusive_access(&self) -> bool {
        self.status() == Some(409)
            && self
                .azure_message()
                .is_some_and(|m| m.contains("exclusive access"))
    }

    /// A disk/VHD lease that has not cleared yet ("currently in use", "has container(s)").
    pub fn is_lease_busy(&self) -> bool {
        let m = self.azure_message().unwrap_or("");
        m.contains("is currently in use")
            || m.contains("has container(s)")
            || m.contains("is currently performing an operation on deployment")
            || self.is_exclusive_access()
    }
}

impl AsmError {
    /// Azure's request id, when Azure answered.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            AsmError::Api { request_id, .. } | AsmError::Forbidden { request_id, .. } => {
                request_id.as_deref()
            }
            AsmError::OperationFailed { request_id, .. }
            | AsmError::OperationTimeout { request_id, .. } => Some(request_id),
            _ => None,
        }
    }

    /// The cloud-neutral kind of this failure.
    pub fn kind(&self) -> ErrorKind {
        let message = self.azure_message().unwrap_or_default();
        match self {
            AsmError::Forbidden { .. } => ErrorKind::Auth,
            AsmError::Transport { .. } | AsmError::BadResponse { .. } => ErrorKind::Transport,
            AsmError::KeyMaterial { .. } | AsmError::Config(_) => ErrorKind::Invalid,
            AsmError::NotOurs { .. } => ErrorKind::Conflict,
            AsmError::OperationTimeout { .. } => ErrorKind::Other,
            _ if message.contains("policy limit") || message.contains("quota") => ErrorKind::Quota,
            _ => match self.status() {
                Some(401 | 403) => ErrorKind::Auth,
                Some(404) => ErrorKind::NotFound,
                Some(409) => ErrorKind::Conflict,
                Some(429 | 503) => ErrorKind::Throttled,
                Some(400) => ErrorKind::Invalid,
                _ => ErrorKind::Other,
            },
        }
    }
}

impl From<AsmError> for ProviderError {
    fn from(e: AsmError) -> Self {
        ProviderError::new(e.kind(), e.to_string())
            .with_request_id(e.request_id().map(str::to_string))
    }
}

impl From<super::layout::PlanError> for ProviderError {
    fn from(e: super::layout::PlanError) -> Self {
        let kind = match e {
            super::layout::PlanError::BadBaseName(_) => ErrorKind::Invalid,
            super::layout::PlanError::Quota { .. } => ErrorKind::Quota,
        };
        ProviderError::new(kind, e.to_string())
    }
}
