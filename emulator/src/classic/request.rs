//! One Service Management request as the handlers see it (subscription, path segments after
//! it, query parameters, body, request id) and what they all need from it: the body as
//! XML, query lookups, the caller's subscription in the state, base64 fields. It never
//! changes state.

use std::collections::HashMap;

use bytes::Bytes;

use super::errors::ApiError;
use crate::http::percent_decode;
use crate::model::{State, Subscription};
use crate::xml;

/// One authenticated request under `/<subscription>/`.
pub struct RequestContext {
    /// Upper case.
    pub method: String,
    /// Subscription id as registered.
    pub subscription: String,
    /// Path segments after the subscription (percent-decoded).
    pub segments: Vec<String>,
    pub query: HashMap<String, String>,
    pub body: Bytes,
    /// This response's x-ms-request-id (also the id of the operation it starts).
    pub request_id: String,
}

impl RequestContext {
    /// The body as an XML document (not UTF-8 or not well-formed → 400 InvalidXmlRequest).
    pub fn body_xml(&self) -> Result<xml::Node, ApiError> {
        let text = std::str::from_utf8(&self.body).map_err(|_| ApiError::invalid_xml())?;
        Ok(xml::parse(text)?)
    }

    /// A query parameter (names are case-insensitive).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `comp=media`: delete the blobs too.
    pub fn deletes_media(&self) -> bool {
        self.query_param("comp")
            .is_some_and(|v| v.eq_ignore_ascii_case("media"))
    }

    /// The caller's subscription (registered at start, so missing means not authorised).
    pub fn subscription<'a>(&self, st: &'a State) -> Result<&'a Subscription, ApiError> {
        st.subscriptions
            .get(&self.subscription)
            .ok_or_else(ApiError::forbidden)
    }

    pub fn subscription_mut<'a>(
        &self,
        st: &'a mut State,
    ) -> Result<&'a mut Subscription, ApiError> {
        st.subscriptions
            .get_mut(&self.subscription)
            .ok_or_else(ApiError::forbidden)
    }
}

/// `a=1&b=2` → map (percent-decoded).
pub fn parse_query(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// `x-ms-version`: a `YYYY-MM-DD` date not before 2009-10-01.
pub fn valid_version(version: &str) -> bool {
    chrono::NaiveDate::parse_from_str(version.trim(), "%Y-%m-%d").is_ok_and(|d| {
        chrono::NaiveDate::from_ymd_opt(2009, 10, 1).is_some_and(|oldest| d >= oldest)
    })
}

pub fn encode_base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Standard base64, whitespace ignored.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(clean).ok()
}
