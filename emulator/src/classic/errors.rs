//! Azure's error vocabulary for the Service Management API: status, code and message of
//! every refusal, rendered as Azure's one-line `<Error>` body or recorded as a failed
//! operation's error. Messages are Azure's recorded wording where one is known.

use crate::http::HttpResponse;
use crate::model::{OpError, INTERNAL_ERROR_MESSAGE};
use crate::xml::{self, XmlError};

/// Azure's 403 for a missing or unknown client certificate.
pub const FORBIDDEN: &str = "The server failed to authenticate the request. Verify that the certificate is valid and is associated with this subscription.";

/// An Azure error (status, code, message).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

pub type ApiResult = Result<HttpResponse, ApiError>;

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }
    /// 404 ResourceNotFound.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "ResourceNotFound", message)
    }
    /// 409 ConflictError.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, "ConflictError", message)
    }
    pub fn forbidden() -> Self {
        Self::new(403, "ForbiddenError", FORBIDDEN)
    }
    pub fn internal() -> Self {
        Self::new(500, "InternalError", INTERNAL_ERROR_MESSAGE)
    }
    pub fn invalid_xml() -> Self {
        Self::new(
            400,
            "InvalidXmlRequest",
            "The request body's XML was invalid or not correctly specified.",
        )
    }
    pub fn missing_query_parameter() -> Self {
        Self::new(
            400,
            "MissingOrInvalidRequiredQueryParameter",
            "A required query parameter was not specified for this request or was specified incorrectly.",
        )
    }
    /// The resource path exists but not for this verb.
    pub fn invalid_verb() -> Self {
        Self::new(
            400,
            "InvalidHttpVerb",
            "The HTTP verb specified was not recognized by the server.",
        )
    }
    /// An operation this emulator does not model (`what` names it, plural: "Data disks").
    pub fn unsupported(what: &str) -> Self {
        Self::bad_request(format!("{what} are not supported by this emulator."))
    }
    pub fn hosted_service_not_found() -> Self {
        Self::not_found("The hosted service does not exist.")
    }
    pub fn unknown_resource() -> Self {
        Self::not_found("The requested URI does not represent any resource on the server.")
    }
    /// Another operation holds the deployment.
    pub fn deployment_busy(operation: &str) -> Self {
        Self::conflict(format!("Windows Azure is currently performing an operation with x-ms-requestid {operation} on this deployment that requires exclusive access."))
    }
    /// Another operation holds the hosted service.
    pub fn service_busy() -> Self {
        Self::conflict("Windows Azure is currently performing an operation on this hosted service that requires exclusive access.")
    }
    /// A subscription quota would be exceeded.
    pub fn quota(kind: &str, limit: u32, current: u32, increment: u32) -> Self {
        Self::bad_request(format!("The subscription policy limit for resource type '{kind}' was exceeded. The limit for resource type '{kind}' is {limit} per subscription, the current count is {current}, and the requested increment is {increment}."))
    }

    pub fn to_response(&self) -> HttpResponse {
        HttpResponse::xml_with_status(self.status, xml::error_body(self.code, &self.message))
    }

    /// The same error as a failed operation's outcome.
    pub fn to_operation_error(&self) -> OpError {
        OpError {
            http_status: self.status,
            code: self.code.to_string(),
            message: self.message.clone(),
        }
    }
}

impl From<XmlError> for ApiError {
    fn from(e: XmlError) -> Self {
        match e {
            XmlError::Malformed(_) => ApiError::invalid_xml(),
            XmlError::Shape(m) => ApiError::bad_request(m),
        }
    }
}
