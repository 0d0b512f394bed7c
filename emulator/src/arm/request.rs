//! A Resource Manager request as the handlers see it once authentication, the subscription
//! and the `api-version` are checked: the path after `/subscriptions/{id}` (as sent and
//! lower-cased for matching), the query, the JSON body, the serving host (operation URLs are
//! absolute and point back at it) and who asks. It holds no state.

use std::collections::HashMap;

use bytes::Bytes;
use serde_json::Value;

use super::errors::ArmError;
use super::ArmFace;
use crate::http::{percent_decode, HttpRequest};

pub struct ArmRequest {
    pub method: String,
    /// The subscription id as registered.
    pub subscription: String,
    /// Path segments after `subscriptions/{id}`, percent-decoded, as sent.
    pub segments: Vec<String>,
    /// The same, lower case (paths are case-insensitive).
    pub lower: Vec<String>,
    pub query: HashMap<String, String>,
    pub body: Bytes,
    pub request_id: String,
    /// `https://host:port` the client used.
    pub base: String,
    pub api_version: String,
    /// The service principal (`appid`) of the token.
    pub principal: String,
    /// The full path as sent (for error messages).
    pub path: String,
    /// The query string as sent (without `?`).
    pub raw_query: String,
}

/// Query parameters (names as sent; look them up with [`ArmRequest::query`]).
pub fn parse_query(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

/// `https://<Host header>` (the address the client used), else the face's own URL.
pub fn base_url(request: &HttpRequest, face: &ArmFace) -> String {
    request
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && !h.contains('/'))
        .map(|h| format!("https://{h}"))
        .or_else(|| face.arm_url.clone())
        .unwrap_or_else(|| "https://127.0.0.1".into())
}

impl ArmRequest {
    /// A query parameter, by case-insensitive name.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as a JSON object.
    pub fn json_body(&self) -> Result<Value, ArmError> {
        let text = std::str::from_utf8(&self.body)
            .map_err(|_| ArmError::invalid_content("the body is not UTF-8"))?;
        if text.trim().is_empty() {
            return Err(ArmError::invalid_content("the body is empty"));
        }
        let v: Value =
            serde_json::from_str(text).map_err(|e| ArmError::invalid_content(&e.to_string()))?;
        if !v.is_object() {
            return Err(ArmError::invalid_content("the body is not a JSON object"));
        }
        Ok(v)
    }

    /// `/subscriptions/{id}` as ARM writes it in ids.
    pub fn sub_path(&self) -> String {
        format!("/subscriptions/{}", self.subscription)
    }

    /// The request's own path and query, as sent.
    pub fn path_and_query(&self) -> String {
        if self.raw_query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.raw_query)
        }
    }

    /// An absolute URL on the serving host for `path_and_query`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }

    /// `METHOD/SUBSCRIPTIONS/…/PROVIDERS/…/TYPE[/ACTION]` as ARM names an operation in
    /// throttling messages (names and ids left out).
    pub fn operation_name(&self) -> String {
        let s = &self.lower;
        let mut parts = vec![self.method.clone(), "SUBSCRIPTIONS".to_string()];
        let mut i = 0;
        while i < s.len() {
            match s[i].as_str() {
                "resourcegroups" => {
                    parts.push("RESOURCEGROUPS".into());
                    i += 2;
                }
                "providers" => {
                    parts.push("PROVIDERS".into());
                    if let Some(ns) = s.get(i + 1) {
                        parts.push(ns.to_ascii_uppercase());
                    }
                    // Then type/name pairs (names left out), maybe an action at the end.
                    i += 2;
                    while i < s.len() {
                        parts.push(s[i].to_ascii_uppercase());
                        i += 2;
                    }
                }
                other => {
                    parts.push(other.to_ascii_uppercase());
                    i += 1;
                }
            }
        }
        parts.join("/")
    }
}
