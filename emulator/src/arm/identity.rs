//! The identity platform's side of the ARM face (the "authority"): the OAuth2
//! client-credentials token endpoints (`/{tenant}/oauth2/v2.0/token` with `scope`,
//! `/{tenant}/oauth2/token` with `resource`), the OpenID metadata Microsoft's clients read
//! first (`/{tenant}/v2.0/.well-known/openid-configuration`) and instance discovery
//! (`/common/discovery/instance`), with the AADSTS error bodies Azure AD answers
//! (`azure-arm-api.md` §1.2–1.4, §9 #1, #21, #22). It never logs a secret or a token.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use super::errors::{json, JSON};
use super::request::{base_url, parse_query};
use super::token::{issue, Claims};
use super::ArmFace;
use crate::http::{percent_decode, HttpRequest, HttpResponse};
use crate::ids::{guid_form, new_request_id};

/// Audiences (`aud`) Resource Manager accepts besides the emulator's own endpoint.
pub const PUBLIC_AUDIENCES: [&str; 2] = [
    "https://management.azure.com/",
    "https://management.core.windows.net/",
];

/// Is this path the identity platform's (`segments` already percent-decoded)?
pub fn is_identity_path(segments: &[String]) -> bool {
    let s: Vec<String> = segments.iter().map(|x| x.to_ascii_lowercase()).collect();
    let s: Vec<&str> = s.iter().map(String::as_str).collect();
    matches!(
        s.as_slice(),
        [_, "oauth2", "token"]
            | [_, "oauth2", "v2.0", "token"]
            | [_, "v2.0", ".well-known", "openid-configuration"]
            | [_, ".well-known", "openid-configuration"]
            | ["common", "discovery", "instance"]
    )
}

fn now_text() -> String {
    chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// Azure AD's error body (status, `error`, AADSTS number, text).
fn aadsts(base: &str, status: u16, error: &str, code: u64, text: &str) -> HttpResponse {
    let trace = guid_form(&new_request_id());
    let correlation = guid_form(&new_request_id());
    let ts = now_text();
    let mut r = json(
        status,
        &json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {ts}"),
            "error_codes": [code],
            "timestamp": ts,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": format!("{base}/error?code={code}"),
        }),
    );
    r.headers
        .push(("Cache-Control".into(), "no-store, no-cache".into()));
    r.headers.push(("Pragma".into(), "no-cache".into()));
    r
}

fn form(body: &[u8]) -> HashMap<String, String> {
    parse_query(&String::from_utf8_lossy(body))
}

/// `client_secret_basic`: `Authorization: Basic base64(id:secret)`.
fn basic_credentials(request: &HttpRequest) -> Option<(String, String)> {
    let v = request.headers.get("authorization")?.to_str().ok()?;
    let b = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))?;
    let text = String::from_utf8(STANDARD.decode(b.trim()).ok()?).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((percent_decode(id), percent_decode(secret)))
}

/// The resource (`https://host`) a v2 `scope` or a v1 `resource` names, if ARM's.
fn resource_of(face: &ArmFace, base: &str, value: &str) -> Option<String> {
    let v = value.trim();
    let resource = v
        .strip_suffix("/.default")
        .unwrap_or(v)
        .trim_end_matches('/');
    let known = PUBLIC_AUDIENCES
        .iter()
        .map(|a| a.trim_end_matches('/').to_string())
        .chain(std::iter::once(base.to_string()))
        .chain(face.arm_url.iter().cloned());
    let ok = known.into_iter().any(|k| k.eq_ignore_ascii_case(resource));
    ok.then(|| format!("{resource}/"))
}

/// Constant-time comparison of two secrets.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a.as_bytes(), b.as_bytes())
}

pub async fn handle(face: &ArmFace, request: &HttpRequest) -> HttpResponse {
    let base = base_url(request, face);
    let segments = request.segments();
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let tenant = segments.first().cloned().unwrap_or_default();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    match (request.method.as_str(), l.as_slice()) {
        ("GET", ["common", "discovery", "instance"]) => discovery(&base, request),
        ("GET", [_, "v2.0", ".well-known", "openid-configuration"]) => {
            metadata(face, &base, &tenant, true)
        }
        ("GET", [_, ".well-known", "openid-configuration"]) => {
            metadata(face, &base, &tenant, false)
        }
        ("POST", [_, "oauth2", "v2.0", "token"]) => {
            token(face, &base, &tenant, request, true).await
        }
        ("POST", [_, "oauth2", "token"]) => token(face, &base, &tenant, request, false).await,
        _ => aadsts(
            &base,
            405,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests.",
        ),
    }
}

/// Tenant check shared by the metadata and the token endpoints.
fn tenant_refusal(face: &ArmFace, base: &str, tenant: &str) -> Option<HttpResponse> {
    if tenant == "00000000-0000-0000-0000-000000000000" {
        return Some(aadsts(base, 400, "invalid_request", 90002, &format!("Requested tenant identifier '{tenant}' is not valid. Tenant identifiers may not be an empty GUID.")));
    }
    if !face.knows_tenant(tenant) {
        return Some(aadsts(base, 400, "invalid_tenant", 90002, &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.")));
    }
    None
}

fn metadata(face: &ArmFace, base: &str, tenant: &str, v2: bool) -> HttpResponse {
    if let Some(r) = tenant_refusal(face, base, tenant) {
        return r;
    }
    let t = format!("{base}/{tenant}");
    let (token, authorize, issuer) = if v2 {
        (
            format!("{t}/oauth2/v2.0/token"),
            format!("{t}/oauth2/v2.0/authorize"),
            format!("{t}/v2.0"),
        )
    } else {
        (
            format!("{t}/oauth2/token"),
            format!("{t}/oauth2/authorize"),
            format!("https://sts.windows.net/{tenant}/"),
        )
    };
    let host = base.trim_start_matches("https://").to_string();
    json(
        200,
        &json!({
            "token_endpoint": token,
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": format!("{t}/discovery/v2.0/keys"),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": issuer,
            "request_uri_parameter_supported": false,
            "userinfo_endpoint": format!("{base}/oidc/userinfo"),
            "authorization_endpoint": authorize,
            "device_authorization_endpoint": format!("{t}/oauth2/v2.0/devicecode"),
            "http_logout_supported": true,
            "frontchannel_logout_supported": true,
            "end_session_endpoint": format!("{t}/oauth2/v2.0/logout"),
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "name", "tid", "ver"],
            "kerberos_endpoint": format!("{t}/kerberos"),
            "tenant_region_scope": "WW",
            "cloud_instance_name": host,
            "cloud_graph_host_name": host,
            "msgraph_host": host,
            "rbac_url": base,
        }),
    )
}

fn discovery(base: &str, request: &HttpRequest) -> HttpResponse {
    let q = form(request.query.as_bytes());
    // The tenant of `authorization_endpoint=https://host/{tenant}/oauth2/…`, else common.
    let tenant = q
        .get("authorization_endpoint")
        .and_then(|a| a.split("://").nth(1))
        .and_then(|rest| rest.split('/').nth(1))
        .filter(|t| !t.is_empty())
        .unwrap_or("common")
        .to_string();
    let host = base.trim_start_matches("https://").to_string();
    json(
        200,
        &json!({
            "tenant_discovery_endpoint": format!("{base}/{tenant}/v2.0/.well-known/openid-configuration"),
            "api-version": "1.1",
            "metadata": [{
                "preferred_network": host,
                "preferred_cache": host,
                "aliases": [host],
            }],
        }),
    )
}

async fn token(
    face: &ArmFace,
    base: &str,
    tenant: &str,
    request: &HttpRequest,
    v2: bool,
) -> HttpResponse {
    tokio::time::sleep(face.latency.scaled(face.latency.token)).await;
    if let Some(r) = tenant_refusal(face, base, tenant) {
        return r;
    }
    let f = form(&request.body);
    match f.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        None | Some("") => {
            return aadsts(
                base,
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            )
        }
        Some(other) => {
            return aadsts(
                base,
                400,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{other}'."),
            )
        }
    }
    let basic = basic_credentials(request);
    let client = f
        .get("client_id")
        .cloned()
        .or_else(|| basic.as_ref().map(|b| b.0.clone()))
        .unwrap_or_default();
    if client.is_empty() {
        return aadsts(
            base,
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    }
    let Some(expected) = face.secret_of(&client) else {
        return aadsts(base, 400, "unauthorized_client", 700016, &format!("Application with identifier '{client}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."));
    };
    let secret = f
        .get("client_secret")
        .cloned()
        .or_else(|| basic.as_ref().map(|b| b.1.clone()));
    match secret {
        None => {
            return aadsts(base, 401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
        }
        Some(s) if !same(&s, expected) => {
            return aadsts(base, 401, "invalid_client", 7000215, &format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client}'."))
        }
        Some(_) => {}
    }
    let wanted = if v2 {
        f.get("scope")
    } else {
        f.get("resource")
    };
    let audience = match wanted {
        None => {
            let param = if v2 { "scope" } else { "resource" };
            return aadsts(base, 400, "invalid_request", 900144, &format!("The request body must contain the following parameter: '{param}'."));
        }
        Some(w) => match resource_of(face, base, w) {
            Some(a) => a,
            None if v2 => {
                return aadsts(base, 400, "invalid_scope", 1002012, &format!("The provided value for scope {w} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."))
            }
            None => {
                return aadsts(base, 400, "invalid_resource", 500011, &format!("The resource principal named {w} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."))
            }
        },
    };
    let now = chrono::Utc::now().timestamp();
    // A client announcing continuous access evaluation (`xms_cc` CP1, as MSAL does) gets a
    // day-long token with `refresh_in`, as Azure AD answered it (REC-VM).
    let cae = f
        .get("claims")
        .is_some_and(|c| c.contains("xms_cc") && c.contains("CP1"));
    let life = if cae { 86399 } else { face.token_lifetime };
    let claims = Claims::new(tenant, &client, &audience, now, life);
    let access = issue(&face.key(), &claims);
    face.count_token();
    let body: Value = if v2 {
        let mut b = json!({"token_type": "Bearer", "expires_in": life, "ext_expires_in": life});
        if cae {
            b["refresh_in"] = json!(life / 2);
        }
        b["access_token"] = json!(access);
        b
    } else {
        json!({
            "token_type": "Bearer",
            "expires_in": life.to_string(),
            "ext_expires_in": life.to_string(),
            "expires_on": (now + life).to_string(),
            "not_before": (now - 300).to_string(),
            "resource": audience,
            "access_token": access,
        })
    };
    let mut r = json(200, &body);
    r.content_type = Some(JSON);
    r.headers
        .push(("Cache-Control".into(), "no-store, no-cache".into()));
    r.headers.push(("Pragma".into(), "no-cache".into()));
    r.headers.push(("Expires".into(), "-1".into()));
    if let Some(id) = request
        .headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
    {
        r.headers.push(("client-request-id".into(), id.to_string()));
    }
    r
}
