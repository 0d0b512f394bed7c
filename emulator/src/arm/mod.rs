//! The Azure Resource Manager face: Resource Manager under `/subscriptions/…` (bearer tokens,
//! JSON, long-running operations with `Azure-AsyncOperation` / `Location` and `Retry-After`,
//! `provisioningState`, Azure's error bodies, quotas, throttling) and the identity platform
//! that issues its tokens (`identity.rs`), on the same listener as the classic face, over
//! the same engine, state and VM backend. A request goes through the token check, the
//! subscription, the `api-version`, the request budget (`throttle.rs`) and fault injection,
//! then the router hands it to one module per resource family.
//!
//! It never uses the classic face; VMs exist only through the engine's effects and the
//! backend. Its own runtime state (signing key, request budgets, counters) lives in
//! [`ArmFace`]; everything Azure-visible is in the engine's state.

pub mod admin;
mod catalog;
mod compute;
mod deletion;
pub mod errors;
mod groups;
pub mod identity;
pub mod latency;
mod network;
mod operations;
mod render;
pub mod request;
mod resources;
mod router;
pub mod throttle;
pub mod token;
mod urls;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use errors::{ArmError, ArmResult};
use latency::ArmLatency;
use request::{base_url, parse_query, ArmRequest};
use throttle::{Decision, Kind, Throttle};
use token::Refusal;

use crate::engine::Emulator;
use crate::http::{HttpRequest, HttpResponse};
use crate::ids::guid_form;
use crate::model::faults::RequestFault;

/// Default token lifetime (seconds), as Azure AD gives a plain client-credentials request.
pub const TOKEN_LIFETIME: i64 = 3599;

/// The service principals and tenants the token endpoint knows.
#[derive(Clone, Debug, Default)]
pub struct ArmCredentials {
    pub tenants: Vec<String>,
    /// (client id, secret)
    pub clients: Vec<(String, String)>,
}

/// What the face counts (for tests and benchmarks).
#[derive(Debug, Default)]
pub struct Counters {
    pub tokens_issued: AtomicU64,
    pub vms_created: AtomicU64,
    pub throttled: AtomicU64,
}

pub struct ArmFace {
    tenants: Vec<String>,
    /// lower-case client id → secret
    clients: HashMap<String, String>,
    key: Mutex<Vec<u8>>,
    key_path: PathBuf,
    pub latency: ArmLatency,
    pub token_lifetime: i64,
    throttle: Mutex<Throttle>,
    /// `https://127.0.0.1:PORT` (the face's own URL, for operation URLs without a `Host`).
    pub arm_url: Option<String>,
    pub counters: Counters,
}

impl ArmFace {
    /// The face for `creds`, signing tokens with the key kept in `key_path`.
    pub fn new(
        creds: &ArmCredentials,
        key_path: PathBuf,
        time_scale: f64,
        arm_url: String,
    ) -> std::io::Result<ArmFace> {
        let key = token::load_or_create_key(&key_path)?;
        Ok(ArmFace {
            tenants: creds.tenants.clone(),
            clients: creds
                .clients
                .iter()
                .map(|(id, s)| (id.to_ascii_lowercase(), s.clone()))
                .collect(),
            key: Mutex::new(key),
            key_path,
            latency: ArmLatency::with_time_scale(time_scale),
            token_lifetime: TOKEN_LIFETIME,
            throttle: Mutex::new(Throttle::default()),
            arm_url: Some(arm_url),
            counters: Counters::default(),
        })
    }

    pub fn knows_tenant(&self, tenant: &str) -> bool {
        self.tenants.iter().any(|t| t.eq_ignore_ascii_case(tenant))
    }

    pub fn secret_of(&self, client: &str) -> Option<&str> {
        self.clients
            .get(&client.to_ascii_lowercase())
            .map(String::as_str)
    }

    fn key(&self) -> Vec<u8> {
        self.key.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A new signing key: every token issued so far is refused from now on.
    pub fn revoke_tokens(&self) -> std::io::Result<()> {
        let k = token::new_key(&self.key_path)?;
        *self.key.lock().unwrap_or_else(|p| p.into_inner()) = k;
        Ok(())
    }

    fn count_token(&self) {
        self.counters.tokens_issued.fetch_add(1, Ordering::Relaxed);
    }

    /// Audiences a token may carry here: Azure's two and this endpoint's own.
    fn audiences(&self, base: &str) -> Vec<String> {
        let mut a: Vec<String> = identity::PUBLIC_AUDIENCES
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.push(format!("{base}/"));
        if let Some(u) = &self.arm_url {
            a.push(format!("{u}/"));
        }
        a
    }
}

/// Does this request belong to the ARM face (Resource Manager or the identity platform)?
pub fn owns(segments: &[String]) -> bool {
    identity::is_identity_path(segments)
        || segments
            .first()
            .is_some_and(|s| s.eq_ignore_ascii_case("subscriptions"))
}

/// Serve one request.
pub async fn handle(face: &ArmFace, emu: &Arc<Emulator>, request: &HttpRequest) -> HttpResponse {
    let segments = request.segments();
    if identity::is_identity_path(&segments) {
        return identity::handle(face, request).await;
    }
    let (mut response, kind_left) = match resource_manager(face, emu, request, &segments).await {
        Ok(r) => r,
        Err((e, k)) => (e.to_response(), k),
    };
    let correlation = request
        .headers
        .get("x-ms-correlation-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| guid_form(&request.request_id));
    let h = &mut response.headers;
    if let Some((kind, left)) = kind_left {
        h.push((kind.header().into(), left.to_string()));
    }
    h.push(("x-ms-correlation-request-id".into(), correlation.clone()));
    h.push((
        "x-ms-routing-request-id".into(),
        format!(
            "EMULATOR:{}:{correlation}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        ),
    ));
    for (k, v) in [
        ("Pragma", "no-cache"),
        ("Expires", "-1"),
        (
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        ),
        ("X-Content-Type-Options", "nosniff"),
    ] {
        h.push((k.into(), v.into()));
    }
    if request.method == "HEAD" {
        response.body.clear();
        response.content_type = None;
    }
    response
}

type Budget = Option<(Kind, u64)>;

async fn resource_manager(
    face: &ArmFace,
    emu: &Arc<Emulator>,
    request: &HttpRequest,
    segments: &[String],
) -> Result<(HttpResponse, Budget), (ArmError, Budget)> {
    let base = base_url(request, face);
    let principal = authenticate(face, request, &base).map_err(|e| (e, None))?;
    let (Some(_), Some(sub)) = (segments.first(), segments.get(1)) else {
        return Err((ArmError::no_route(&request.path), None));
    };
    let known = emu
        .lock()
        .subscriptions
        .keys()
        .find(|k| k.eq_ignore_ascii_case(sub))
        .cloned();
    let Some(subscription) = known else {
        return Err((ArmError::subscription_not_found(sub), None));
    };
    let query = parse_query(&request.query);
    let api_version = query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("api-version"))
        .map(|(_, v)| v.clone());
    let rest: Vec<String> = segments[2..].to_vec();
    let ctx = ArmRequest {
        method: request.method.clone(),
        subscription,
        lower: rest.iter().map(|s| s.to_ascii_lowercase()).collect(),
        segments: rest,
        query,
        body: request.body.clone(),
        request_id: request.request_id.clone(),
        base,
        api_version: api_version.clone().unwrap_or_default(),
        principal,
        path: request.path.clone(),
        raw_query: request.query.clone(),
    };
    let kind = Kind::of(&ctx.method);
    let budget = match face
        .throttle
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take(
            &ctx.subscription,
            &ctx.principal,
            kind,
            face.latency.time_scale,
        ) {
        Decision::Allowed(left) => Some((kind, left)),
        Decision::Throttled(wait) => {
            face.counters.throttled.fetch_add(1, Ordering::Relaxed);
            let e = ArmError::throttled(&ctx.subscription, &ctx.operation_name(), wait);
            return Err((e, None));
        }
    };
    match api_version {
        None => return Err((ArmError::missing_api_version(), budget)),
        Some(v) => urls::check_api_version(&v, &ctx).map_err(|e| (e, budget))?,
    }
    if let Some(e) = injected_fault(face, emu, &ctx, &request.path).await {
        return Err((e, budget));
    }
    match router::route(face, emu, &ctx).await {
        Ok(r) => Ok((r, budget)),
        Err(e) => Err((e, budget)),
    }
}

/// The `appid` of a valid bearer token, or ARM's 401.
fn authenticate(face: &ArmFace, request: &HttpRequest, base: &str) -> Result<String, ArmError> {
    let Some(value) = request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    else {
        return Err(ArmError::auth(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        ));
    };
    let Some(token) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
    else {
        return Err(ArmError::auth(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is provided in an invalid format.",
        ));
    };
    let now = chrono::Utc::now().timestamp();
    match token::verify(&face.key(), token.trim(), now, &face.audiences(base)) {
        Ok(c) => Ok(c.appid),
        Err(Refusal::Invalid) => Err(ArmError::auth(
            "InvalidAuthenticationToken",
            "The access token is invalid.",
        )),
        Err(Refusal::Expired(exp)) => {
            let fmt = |t: i64| {
                chrono::DateTime::from_timestamp(t, 0)
                    .unwrap_or_default()
                    .format("%-m/%-d/%Y %-I:%M:%S %p")
                    .to_string()
            };
            Err(ArmError::auth(
                "ExpiredAuthenticationToken",
                format!(
                    "The access token expiry UTC time '{}' is earlier than current UTC time '{}'.",
                    fmt(exp),
                    fmt(now)
                ),
            ))
        }
        Err(Refusal::Audience(aud)) => Err(ArmError::auth(
            "InvalidAuthenticationTokenAudience",
            format!("The access token has been obtained for wrong audience or resource '{aud}'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'."),
        )),
    }
}

/// A request-level fault (`--faults`), decided per method and path as for the classic face.
async fn injected_fault(
    face: &ArmFace,
    emu: &Emulator,
    ctx: &ArmRequest,
    path: &str,
) -> Option<ArmError> {
    let mutating = ctx.method != "GET" && ctx.method != "HEAD";
    let key = format!("{} {}", ctx.method, path.to_ascii_lowercase());
    let fault = emu.faults().request(&key, mutating)?;
    Some(match fault {
        RequestFault::Internal => ArmError::new(
            500,
            "InternalServerError",
            format!("Encountered internal server error. Diagnostic information: timestamp '{}', subscription id '{}', tracking id '{}', request correlation id '{}'.",
                chrono::Utc::now().format("%Y%m%dT%H%M%SZ"), ctx.subscription, guid_form(&ctx.request_id), guid_form(&ctx.request_id)),
        ),
        RequestFault::Busy => ArmError::new(
            503,
            "ServiceUnavailable",
            "The server is currently unable to handle the request. Please retry your request.",
        )
        .header("Retry-After", "1"),
        RequestFault::Throttle => {
            face.counters.throttled.fetch_add(1, Ordering::Relaxed);
            ArmError::throttled(&ctx.subscription, &ctx.operation_name(), 1)
        }
        RequestFault::Conflict => ArmError::another_operation(&ctx.url(&ctx.path)),
        RequestFault::Hang => {
            let secs = emu.faults().rates.hang_secs;
            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
            ArmError::new(
                504,
                "GatewayTimeout",
                "The gateway did not receive a response within the specified time period.",
            )
        }
    })
}

/// Result type of every handler.
pub type Handled = ArmResult;
