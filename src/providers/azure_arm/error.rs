//! Errors of the ARM provider, each one line in Azure's words plus what to do: the identity
//! platform's AADSTS errors, ARM's `{"error":{"code","message"}}` bodies (quota, sizes,
//! images, locations, permissions), failed or timed-out long-running operations, throttling
//! and transport problems — and their translation into the door's [`ProviderError`] kinds.
//!
//! Never includes a token or the client secret in a message.

use serde::Deserialize;

use crate::providers::{ErrorKind, ProviderError};

/// ARM's error detail (`{"error":{…}}`), also found inside failed operation statuses.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ErrorDetail {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub details: Vec<ErrorDetail>,
}

impl ErrorDetail {
    /// The most specific detail: the first nested one with a code, else this one.
    /// (`DeploymentFailed`-style wrappers carry the useful error inside.)
    pub fn innermost(&self) -> &ErrorDetail {
        match self.details.iter().find(|d| !d.code.is_empty()) {
            Some(d) => d.innermost(),
            None => self,
        }
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<ErrorDetail>,
}

/// Parse an ARM error body; anything else becomes `HTTP<status>` with the text.
pub fn parse_error(status: u16, body: &str) -> ErrorDetail {
    match serde_json::from_str::<ErrorBody>(body) {
        Ok(ErrorBody { error: Some(e) }) if !e.code.is_empty() => e.innermost().clone(),
        _ => ErrorDetail {
            code: format!("HTTP{status}"),
            message: one_line(body.trim()).chars().take(300).collect(),
            ..Default::default()
        },
    }
}

/// First line, trimmed (AADSTS descriptions carry trace ids on later lines).
pub fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
        .to_string()
}

/// What went wrong talking to Azure.
#[derive(Debug, thiserror::Error)]
pub enum ArmError {
    /// The identity platform refused the service principal.
    #[error("Azure AD refused the service principal `{client_id}` of tenant `{tenant}`: {description}{}", token_hint(*code))]
    Token {
        status: u16,
        /// AADSTS number, when given.
        code: Option<u64>,
        description: String,
        tenant: String,
        client_id: String,
    },
    /// ARM answered a request with an error.
    #[error("{what}: Azure answered {status} {}: {} ({}){}", .detail.code, .detail.message, request_text(.request_id), api_hint(*.status, .detail))]
    Api {
        what: String,
        status: u16,
        detail: Box<ErrorDetail>,
        request_id: Option<String>,
    },
    /// A long-running operation ended `Failed` or `Canceled`.
    #[error("{what}: the operation ended {status}: {}: {}{}", .detail.code, .detail.message, api_hint(409, .detail))]
    OperationFailed {
        what: String,
        status: String,
        detail: Box<ErrorDetail>,
    },
    #[error("{what}: still not finished after {waited_secs} s — raise `wait_timeout`, or run the command again later")]
    OperationTimeout { what: String, waited_secs: u64 },
    #[error("{what}: Azure kept throttling the requests (429) for {waited_secs} s — wait a few minutes and run the command again")]
    Throttled { what: String, waited_secs: u64 },
    #[error("{what}: cannot reach {url}: {detail} — check the network, `arm_endpoint`/`authority` and `ca_certificate`")]
    Transport {
        what: String,
        url: String,
        detail: String,
    },
    #[error("{what}: unexpected answer from Azure: {detail}")]
    BadResponse { what: String, detail: String },
    /// The client secret could not be read (the message says where it was looked for).
    #[error("{0}")]
    Secret(String),
}

fn request_text(id: &Option<String>) -> String {
    match id {
        Some(id) => format!("request {id}"),
        None => "no request id".into(),
    }
}

fn token_hint(code: Option<u64>) -> &'static str {
    match code {
        Some(7000215) | Some(7000222) => " — check `secret` in the cloud section (or $AZURE_CLIENT_SECRET): it must be the secret's value, not its id, and not expired",
        Some(7000218) => " — set `secret` in the cloud section (or $AZURE_CLIENT_SECRET)",
        Some(700016) => " — check `client_id` (the application id of the service principal) and `tenant_id`",
        Some(90002) | Some(900023) => " — check `tenant_id` (the directory id or its domain) and `authority`",
        _ => " — check `tenant_id`, `client_id`, `secret` and `authority` in the cloud section",
    }
}

/// The quota/capacity codes ARM uses for "you may not have more".
fn is_quota(d: &ErrorDetail) -> bool {
    d.code == "QuotaExceeded"
        || (d.code == "OperationNotAllowed" && d.message.to_ascii_lowercase().contains("quota"))
}

fn is_image(d: &ErrorDetail) -> bool {
    matches!(
        d.code.as_str(),
        "PlatformImageNotFound" | "ImageNotFound" | "InvalidImageReference"
    ) || (d.code == "InvalidParameter"
        && d.target
            .as_deref()
            .is_some_and(|t| t.contains("imageReference")))
}

fn is_location(d: &ErrorDetail) -> bool {
    matches!(
        d.code.as_str(),
        "LocationNotAvailableForResourceType"
            | "LocationRequired"
            | "InvalidLocation"
            | "NoRegisteredProviderFound"
    )
}

fn api_hint(status: u16, d: &ErrorDetail) -> &'static str {
    if is_quota(d) {
        return " — ask for fewer or smaller nodes, or request a quota increase for this region";
    }
    if is_image(d) {
        return " — check `image_id` (publisher/offer/sku/version, e.g. canonical/0001-com-ubuntu-server-jammy/22_04-lts-gen2/latest)";
    }
    if is_location(d) {
        return " — check `location` (a region name such as eastus)";
    }
    match (status, d.code.as_str()) {
        (_, "SkuNotAvailable") => {
            " — choose another `flavor` or `location` (`az vm list-skus -l LOCATION` lists the sizes this subscription may use)"
        }
        (_, "AuthorizationFailed") | (403, _) => {
            " — give the service principal the Contributor role on the subscription"
        }
        (_, "SubscriptionNotFound") | (_, "InvalidSubscriptionId") => {
            " — check `subscription_id`"
        }
        (_, "MissingSubscriptionRegistration") => {
            " — register the resource provider it names (`az provider register -n NAMESPACE`)"
        }
        (401, _) => {
            " — check `tenant_id`, `client_id`, `secret`, `authority` and `arm_endpoint` in the cloud section"
        }
        (_, "ResourceGroupBeingDeleted") => {
            " — a previous cluster's group of the same name is still being deleted; try again in a few minutes"
        }
        _ => "",
    }
}

impl ArmError {
    /// ARM's error code, if this is an ARM answer.
    pub fn code(&self) -> Option<&str> {
        match self {
            ArmError::Api { detail, .. } | ArmError::OperationFailed { detail, .. } => {
                Some(detail.code.as_str())
            }
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ArmError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The resource is not there (404, or a "not found" code).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
            || matches!(
                self.code(),
                Some("ResourceNotFound" | "ResourceGroupNotFound" | "NotFound")
            )
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            ArmError::Token { .. } | ArmError::Secret(_) => ErrorKind::Auth,
            ArmError::Api { status, detail, .. } => {
                if is_quota(detail) {
                    ErrorKind::Quota
                } else if is_image(detail) || is_location(detail) {
                    ErrorKind::Invalid
                } else {
                    match (status, detail.code.as_str()) {
                        (401 | 403, _) => ErrorKind::Auth,
                        (_, "SubscriptionNotFound" | "InvalidSubscriptionId") => ErrorKind::Auth,
                        (_, "SkuNotAvailable") => ErrorKind::Invalid,
                        (404, _) => ErrorKind::NotFound,
                        (409, _) => ErrorKind::Conflict,
                        (429, _) => ErrorKind::Throttled,
                        (400, _) => ErrorKind::Invalid,
                        _ => ErrorKind::Other,
                    }
                }
            }
            ArmError::OperationFailed { detail, .. } if is_quota(detail) => ErrorKind::Quota,
            ArmError::OperationFailed { .. } | ArmError::OperationTimeout { .. } => {
                ErrorKind::Other
            }
            ArmError::Throttled { .. } => ErrorKind::Throttled,
            ArmError::Transport { .. } | ArmError::BadResponse { .. } => ErrorKind::Transport,
        }
    }

    fn request_id(&self) -> Option<String> {
        match self {
            ArmError::Api { request_id, .. } => request_id.clone(),
            _ => None,
        }
    }
}

impl From<ArmError> for ProviderError {
    fn from(e: ArmError) -> Self {
        ProviderError::new(e.kind(), e.to_string()).with_request_id(e.request_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, body: &str) -> ArmError {
        ArmError::Api {
            what: "create VM compute001".into(),
            status,
            detail: Box::new(parse_error(status, body)),
            request_id: Some("rid-1".into()),
        }
    }

    #[test]
    fn quota_size_image_and_auth_each_say_what_to_do() {
        let q = api(
            409,
            r#"{"error":{"code":"OperationNotAllowed","message":"Operation could not be completed as it results in exceeding approved Total Regional Cores quota. Additional details - Deployment Model: Resource Manager, Location: centralus, Current Limit: 10, Current Usage: 8, Additional Required: 4, (Minimum) New Limit Required: 12."}}"#,
        );
        assert_eq!(q.kind(), ErrorKind::Quota);
        let t = q.to_string();
        assert!(
            t.contains("compute001")
                && t.contains("Current Limit: 10")
                && t.contains("rid-1")
                && t.contains("quota increase"),
            "{t}"
        );
        assert!(!t.contains('\n'));
        let s = api(
            409,
            r#"{"error":{"code":"SkuNotAvailable","message":"The requested size for resource '/x' is currently not available in location 'westus2' zones '' for subscription 's'."}}"#,
        );
        assert_eq!(s.kind(), ErrorKind::Invalid);
        assert!(s.to_string().contains("another `flavor`"));
        let i = api(
            404,
            r#"{"error":{"code":"PlatformImageNotFound","message":"The platform image 'a:b:c:latest' is not available.","target":"imageReference"}}"#,
        );
        assert_eq!(i.kind(), ErrorKind::Invalid);
        assert!(i.to_string().contains("`image_id`"));
        let a = api(
            403,
            r#"{"error":{"code":"AuthorizationFailed","message":"The client 'x' does not have authorization."}}"#,
        );
        assert_eq!(a.kind(), ErrorKind::Auth);
        assert!(a.to_string().contains("Contributor"));
        let g = api(
            404,
            r#"{"error":{"code":"ResourceGroupNotFound","message":"Resource group 'fakename' could not be found."}}"#,
        );
        assert!(g.is_not_found());
        assert_eq!(g.kind(), ErrorKind::NotFound);
        let odd = api(502, "<html>\nBad gateway</html>");
        assert_eq!(odd.code(), Some("HTTP502"));
        assert!(!odd.to_string().contains('\n'));
    }

    #[test]
    fn nested_deployment_errors_surface_the_inner_code() {
        let d = parse_error(
            400,
            r#"{"error":{"code":"InvalidTemplateDeployment","message":"outer","details":[{"code":"QuotaExceeded","message":"inner"}]}}"#,
        );
        assert_eq!(
            (d.code.as_str(), d.message.as_str()),
            ("QuotaExceeded", "inner")
        );
    }

    #[test]
    fn aadsts_errors_name_the_key_to_fix() {
        let e = ArmError::Token {
            status: 401,
            code: Some(7000215),
            description: "AADSTS7000215: Invalid client secret provided.".into(),
            tenant: "t".into(),
            client_id: "c".into(),
        };
        let t = e.to_string();
        assert!(t.contains("AADSTS7000215") && t.contains("`secret`"), "{t}");
        assert_eq!(e.kind(), ErrorKind::Auth);
    }
}
