//! Recorded Azure Resource Manager traffic played back over real HTTPS (OpenSSL, one thread
//! per connection), for the client's wire-level tests: [`Server`] runs a handler and
//! records every request; [`replay`] answers each request with the recorded exchange of the
//! same method and path (`tests/fixtures/arm-golden/`, see its NOTICE). It keeps no state
//! beyond the recording: lifecycle tests run against the emulator's ARM face instead.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use elasticluster::providers::azure_classic::identity::new_identity_pem;
use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Request {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or(&self.target)
    }
    pub fn query(&self, key: &str) -> Option<String> {
        let q = self.target.split_once('?')?.1;
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }
    pub fn header(&self, k: &str) -> Option<&str> {
        self.headers.get(k).map(String::as_str)
    }
}

/// An answer: status, headers (`{BASE}` is replaced by the server's URL), body.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn json(status: u16, body: serde_json::Value) -> Response {
        Response {
            status,
            headers: vec![(
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: body.to_string(),
        }
    }
    pub fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }
    pub fn error(status: u16, code: &str, message: &str) -> Response {
        Response::json(
            status,
            serde_json::json!({"error": {"code": code, "message": message}}),
        )
    }
    pub fn with(mut self, k: &str, v: impl Into<String>) -> Response {
        self.headers.push((k.to_string(), v.into()));
        self
    }
}

pub type Handler = Arc<dyn Fn(&Request, &str) -> Response + Send + Sync>;

/// An HTTPS server on 127.0.0.1 with a self-signed certificate.
pub struct Server {
    pub base: String,
    pub ca: PathBuf,
    pub seen: Arc<Mutex<Vec<Request>>>,
    _dir: tempfile::TempDir,
}

impl Server {
    pub fn start(handler: Handler) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        // One key for every server of a test binary (RSA key generation is slow).
        static IDENTITY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let pem = IDENTITY.get_or_init(|| {
            new_identity_pem("127.0.0.1", 2, Some("127.0.0.1")).expect("server identity")
        });
        let pem_path = dir.path().join("server.pem");
        std::fs::write(&pem_path, pem).expect("write server.pem");
        let cert = openssl::x509::X509::from_pem(pem).expect("certificate");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, cert.to_pem().expect("pem")).expect("write ca.pem");
        let mut acc = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).expect("acceptor");
        acc.set_private_key_file(&pem_path, SslFiletype::PEM)
            .expect("key");
        acc.set_certificate_chain_file(&pem_path).expect("chain");
        let acc = Arc::new(acc.build());
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let base = format!("https://127.0.0.1:{port}");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (seen2, base2) = (seen.clone(), base.clone());
        std::thread::spawn(move || {
            for stream in l.incoming() {
                let Ok(stream) = stream else { continue };
                let (acc, handler, seen, base) =
                    (acc.clone(), handler.clone(), seen2.clone(), base2.clone());
                std::thread::spawn(move || {
                    let Ok(mut tls) = acc.accept(stream) else {
                        return;
                    };
                    while let Some(req) = read_request(&mut tls) {
                        seen.lock().unwrap().push(req.clone());
                        let resp = handler(&req, &base);
                        let head_only = req.method == "HEAD";
                        let mut out = format!(
                            "HTTP/1.1 {} X\r\ncontent-length: {}\r\n",
                            resp.status,
                            resp.body.len()
                        );
                        for (k, v) in &resp.headers {
                            out.push_str(&format!("{k}: {}\r\n", v.replace("{BASE}", &base)));
                        }
                        out.push_str("\r\n");
                        if !head_only {
                            out.push_str(&resp.body.replace("{BASE}", &base));
                        }
                        if tls.write_all(out.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Server {
            base,
            ca,
            seen,
            _dir: dir,
        }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }
}

fn read_request(tls: &mut impl Read) -> Option<Request> {
    let mut r = BufReader::new(tls);
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        target,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// The repository's copy of the golden ARM data.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/arm-golden")
        .join(rel)
}

pub fn fixture_json(rel: &str) -> serde_json::Value {
    let p = fixture(rel);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// One recorded exchange of a test-proxy recording (`Entries[i]`).
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// Path and query, host removed.
    pub target: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Entries `range` of a recording, with Azure's hosts replaced by `{BASE}`.
pub fn recorded(rel: &str, range: std::ops::Range<usize>) -> Vec<Recorded> {
    let v = fixture_json(rel);
    let entries = v["Entries"].as_array().expect("Entries");
    let strip = |s: &str| {
        s.replace("https://management.azure.com", "{BASE}")
            .replace("https://login.microsoftonline.com", "{BASE}")
    };
    entries[range]
        .iter()
        .map(|e| {
            let uri = e["RequestUri"].as_str().expect("RequestUri");
            let target = strip(uri).replacen("{BASE}", "", 1);
            let headers = e["ResponseHeaders"]
                .as_object()
                .expect("headers")
                .iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.to_ascii_lowercase().as_str(),
                        "content-length" | "transfer-encoding" | "content-encoding" | "server"
                    )
                })
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), strip(v))))
                .collect();
            let body = match &e["ResponseBody"] {
                serde_json::Value::Null => String::new(),
                b => strip(&b.to_string()),
            };
            Recorded {
                method: e["RequestMethod"].as_str().expect("method").to_string(),
                target,
                status: e["StatusCode"].as_u64().expect("status") as u16,
                headers,
                body,
            }
        })
        .collect()
}

/// A handler answering each request with the first unused recorded exchange of the same
/// method and path-and-query; anything unexpected gets 599 (the test then fails).
pub fn replay(entries: Vec<Recorded>) -> Handler {
    let left = Mutex::new(entries);
    Arc::new(move |req: &Request, _base: &str| {
        let mut left = left.lock().unwrap();
        let found = left
            .iter()
            .position(|e| e.method == req.method && e.target.eq_ignore_ascii_case(&req.target));
        match found {
            Some(i) => {
                let e = left.remove(i);
                Response {
                    status: e.status,
                    headers: e.headers,
                    body: e.body,
                }
            }
            None => Response::error(
                599,
                "NotRecorded",
                &format!("{} {}", req.method, req.target),
            ),
        }
    })
}
