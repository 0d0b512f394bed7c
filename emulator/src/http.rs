//! A request as the faces of the emulator (the classic XML API, the JSON admin API) see
//! it once TLS and HTTP are done, and the response they give back before the server puts
//! it on the wire. It knows nothing about routing or Azure semantics.

use bytes::Bytes;

/// One request below TLS.
pub struct HttpRequest {
    /// Upper case (`GET`, `POST`, …).
    pub method: String,
    /// Path as sent (percent-encoded).
    pub path: String,
    /// Query string without `?` (empty if none).
    pub query: String,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
    /// SHA-1 thumbprint (upper hex) of the client certificate, if one was presented.
    pub client_thumbprint: Option<String>,
    /// The `x-ms-request-id` this request is answered with.
    pub request_id: String,
}

impl HttpRequest {
    /// Path segments, percent-decoded, empty ones dropped.
    pub fn segments(&self) -> Vec<String> {
        self.path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(percent_decode)
            .collect()
    }
}

/// `%XX` escapes decoded (invalid ones kept as written), as UTF-8 (lossy).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let digit = |b: u8| (b as char).to_digit(16);
            if let (Some(high), Some(low)) = (digit(bytes[i + 1]), digit(bytes[i + 2])) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Status, content type, body and extra headers of one answer.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl HttpResponse {
    /// 200 with an XML body.
    pub fn xml(body: String) -> Self {
        Self::xml_with_status(200, body)
    }

    pub fn xml_with_status(status: u16, body: String) -> Self {
        HttpResponse {
            status,
            content_type: Some("application/xml; charset=utf-8"),
            body: body.into_bytes(),
            headers: Vec::new(),
        }
    }

    /// No body.
    pub fn empty(status: u16) -> Self {
        HttpResponse {
            status,
            content_type: None,
            body: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// 200 with a pretty-printed JSON body.
    pub fn json(value: &serde_json::Value) -> Self {
        HttpResponse {
            status: 200,
            content_type: Some("application/json"),
            body: serde_json::to_vec_pretty(value).unwrap_or_default(),
            headers: Vec::new(),
        }
    }

    /// 200 with a plain-text body.
    pub fn text(body: String) -> Self {
        HttpResponse {
            status: 200,
            content_type: Some("text/plain"),
            body: body.into_bytes(),
            headers: Vec::new(),
        }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn header(mut self, name: &str, value: String) -> Self {
        self.headers.push((name.to_string(), value));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_keeps_what_is_not_an_escape() {
        assert_eq!(percent_decode("a%20b%2Fc"), "a b/c");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%a\u{e9}x"), "%a\u{e9}x");
    }
}
