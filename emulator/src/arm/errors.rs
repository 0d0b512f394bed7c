//! Resource Manager's error vocabulary: the compact `{"error":{"code","message",…}}` body of
//! every refusal, with the status, code and wording Azure uses where one is recorded
//! (the ARM API reference, §1.5, §2.5, §2.6), and the JSON response helpers
//! every handler uses. It decides nothing about when an error applies.

use serde_json::{json, Value};

use crate::http::HttpResponse;

pub const JSON: &str = "application/json; charset=utf-8";

/// A compact JSON answer.
pub fn json(status: u16, value: &Value) -> HttpResponse {
    HttpResponse {
        status,
        content_type: Some(JSON),
        body: serde_json::to_vec(value).unwrap_or_default(),
        headers: Vec::new(),
    }
}

/// An empty answer (`Content-Length: 0`).
pub fn empty(status: u16) -> HttpResponse {
    HttpResponse::empty(status)
}

#[derive(Clone, Debug)]
pub struct ArmError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub extra: Box<Extra>,
}

/// What few errors carry.
#[derive(Clone, Debug, Default)]
pub struct Extra {
    pub target: Option<String>,
    pub details: Vec<Value>,
    /// Extra headers (`x-ms-failure-cause`, `Retry-After`, `WWW-Authenticate`).
    pub headers: Vec<(String, String)>,
}

pub type ArmResult = Result<HttpResponse, ArmError>;

impl ArmError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> ArmError {
        ArmError {
            status,
            code: code.to_string(),
            message: message.into(),
            extra: Box::default(),
        }
    }

    pub fn target(mut self, target: &str) -> ArmError {
        self.extra.target = Some(target.to_string());
        self
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> ArmError {
        self.extra.headers.push((name.to_string(), value.into()));
        self
    }

    /// The error object (`{"code","message",…}`), as bodies and failed operations carry it.
    pub fn object(&self) -> Value {
        let mut e = json!({ "code": self.code, "message": self.message });
        if let Some(t) = &self.extra.target {
            e["target"] = json!(t);
        }
        if !self.extra.details.is_empty() {
            e["details"] = json!(self.extra.details);
        }
        e
    }

    pub fn to_response(&self) -> HttpResponse {
        let mut r = json(self.status, &json!({ "error": self.object() }));
        r.headers.extend(self.extra.headers.iter().cloned());
        r
    }

    // ---- 400 ----
    pub fn invalid_content(why: &str) -> ArmError {
        ArmError::new(
            400,
            "InvalidRequestContent",
            format!("The request content was invalid and could not be deserialized: '{why}'."),
        )
    }
    pub fn invalid_parameter(target: &str, message: impl Into<String>) -> ArmError {
        ArmError::new(400, "InvalidParameter", message).target(target)
    }
    pub fn reference_not_found(referenced: &str, by: &str) -> ArmError {
        ArmError::new(
            400,
            "InvalidResourceReference",
            format!("Resource {referenced} referenced by resource {by} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region."),
        )
    }
    /// What this emulator does not model, said plainly.
    pub fn unsupported(what: &str) -> ArmError {
        ArmError::new(
            400,
            "NotSupported",
            format!("{what} is not supported by this emulator."),
        )
    }
    pub fn missing_api_version() -> ArmError {
        ArmError::new(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    }

    // ---- 401 ----
    pub fn auth(code: &str, message: impl Into<String>) -> ArmError {
        let message = message.into();
        ArmError::new(401, code, message.clone()).header(
            "WWW-Authenticate",
            format!(
                "Bearer authorization_uri=\"https://login.windows.net/\", error=\"invalid_token\", error_description=\"{}\"",
                message.replace('"', "'")
            ),
        )
    }

    // ---- 404 ----
    pub fn subscription_not_found(sub: &str) -> ArmError {
        ArmError::new(
            404,
            "SubscriptionNotFound",
            format!("The subscription '{sub}' could not be found."),
        )
    }
    pub fn group_not_found(rg: &str) -> ArmError {
        ArmError::new(
            404,
            "ResourceGroupNotFound",
            format!("Resource group '{rg}' could not be found."),
        )
        .header("x-ms-failure-cause", "gateway")
    }
    pub fn resource_not_found(full_type: &str, name: &str, rg: &str) -> ArmError {
        ArmError::new(
            404,
            "ResourceNotFound",
            format!("The Resource '{full_type}/{name}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"),
        )
        .header("x-ms-failure-cause", "gateway")
    }
    pub fn no_route(path: &str) -> ArmError {
        ArmError::new(
            404,
            "NotFound",
            format!("No HTTP resource was found that matches the request URI '{path}'."),
        )
    }

    // ---- 409 / 429 ----
    pub fn group_being_deleted(rg: &str) -> ArmError {
        ArmError::new(
            409,
            "ResourceGroupBeingDeleted",
            format!("The resource group '{rg}' is in deprovisioning state and cannot perform this operation."),
        )
    }
    pub fn another_operation(op_url: &str) -> ArmError {
        ArmError::new(
            409,
            "AnotherOperationInProgress",
            format!("Another operation on this or dependent resource is in progress. To retrieve status of the operation use uri: {op_url}."),
        )
    }
    pub fn throttled(sub: &str, operation: &str, retry_after: u64) -> ArmError {
        ArmError::new(
            429,
            "SubscriptionRequestsThrottled",
            format!("Number of requests for subscription '{sub}' and operation '{operation}' exceeded the backend storage limit. Please try again after '{retry_after}' seconds."),
        )
        .header("Retry-After", retry_after.to_string())
    }
}
