//! The ASM transport against a scripted HTTPS server (OpenSSL, in a thread): 307 redirects
//! are followed with method, body and x-ms-version kept; 503 is retried; 400 fails at once
//! with Azure's code, message and request id; the client certificate is presented.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use elasticluster::providers::azure_classic::identity::new_identity_pem;
use elasticluster::providers::azure_classic::transport::{
    AsmClient, ClientOptions, SubscriptionAccess,
};
use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod, SslVerifyMode};

/// (status, headers, body) of one scripted answer; `{PORT}` in a header is replaced.
type Reply = (u16, Vec<(String, String)>, String);

struct Seen {
    method: String,
    path: String,
    version: Option<String>,
    body: String,
    client_cert: bool,
}

/// Serve `replies` (status, extra headers, body) one per connection-request, recording requests.
fn server(dir: &std::path::Path, replies: Vec<Reply>) -> (u16, Arc<Mutex<Vec<Seen>>>) {
    // self-signed server certificate for 127.0.0.1
    let pem = server_pem();
    let pem_path = dir.join("server.pem");
    std::fs::write(&pem_path, &pem).unwrap();
    let mut acc = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
    acc.set_private_key_file(&pem_path, SslFiletype::PEM)
        .unwrap();
    acc.set_certificate_chain_file(&pem_path).unwrap();
    acc.set_verify_callback(SslVerifyMode::PEER, |_, _| true);
    let acc = acc.build();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        let mut replies = replies.into_iter();
        for stream in l.incoming() {
            let Ok(stream) = stream else { continue };
            let Ok(mut tls) = acc.accept(stream) else {
                continue;
            };
            let client_cert = tls.ssl().peer_certificate().is_some();
            // serve requests on this connection until it closes
            loop {
                let mut r = BufReader::new(&mut tls);
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or("").to_string();
                let path = parts.next().unwrap_or("").to_string();
                let mut len = 0usize;
                let mut version = None;
                loop {
                    let mut h = String::new();
                    r.read_line(&mut h).unwrap();
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    let (k, v) = h.split_once(':').unwrap();
                    if k.eq_ignore_ascii_case("content-length") {
                        len = v.trim().parse().unwrap();
                    }
                    if k.eq_ignore_ascii_case("x-ms-version") {
                        version = Some(v.trim().to_string());
                    }
                }
                let mut body = vec![0; len];
                r.read_exact(&mut body).unwrap();
                seen2.lock().unwrap().push(Seen {
                    method,
                    path,
                    version,
                    body: String::from_utf8_lossy(&body).into_owned(),
                    client_cert,
                });
                let Some((status, headers, body)) = replies.next() else {
                    return;
                };
                let mut resp = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
                for (k, v) in headers {
                    let v = v.replace("{PORT}", &port.to_string());
                    resp.push_str(&format!("{k}: {v}\r\n"));
                }
                resp.push_str("\r\n");
                resp.push_str(&body);
                if tls.write_all(resp.as_bytes()).is_err() {
                    break;
                }
            }
        }
    });
    (port, seen)
}

fn server_pem() -> Vec<u8> {
    new_identity_pem("127.0.0.1", 2, Some("127.0.0.1")).unwrap()
}

fn client(creds: &support::Creds, dir: &std::path::Path, port: u16) -> AsmClient {
    let access = SubscriptionAccess {
        id: "sub1".into(),
        certificate: creds.mgmt(),
        key: None,
        management_url: format!("https://127.0.0.1:{port}"),
        ca_certificate: Some(dir.join("server.pem")),
    };
    AsmClient::new(&access, ClientOptions::default().scaled(0.01)).unwrap()
}

#[tokio::test]
async fn redirect_retry_and_errors() {
    let creds = support::Creds::new();
    let d = tempfile::tempdir().unwrap();
    let rid = |s: &str| ("x-ms-request-id".to_string(), s.to_string());
    let err = "<Error xmlns=\"http://schemas.microsoft.com/windowsazure\" xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\"><Code>BadRequest</Code><Message>The hosted service name is invalid.</Message></Error>";
    let (port, seen) = server(
        d.path(),
        vec![
            (
                307,
                vec![
                    (
                        "location".into(),
                        "https://127.0.0.1:{PORT}/sub1/services/hostedservices?moved=1".into(),
                    ),
                    rid("aaaa"),
                ],
                String::new(),
            ),
            (201, vec![rid("bbbb")], String::new()),
            (
                503,
                vec![rid("cccc")],
                "<Error><Code>ServerBusy</Code><Message>busy</Message></Error>".into(),
            ),
            (
                200,
                vec![rid("dddd")],
                "<Subscription><SubscriptionID>sub1</SubscriptionID></Subscription>".into(),
            ),
            (400, vec![rid("eeee")], err.into()),
        ],
    );
    let c = client(&creds, d.path(), port);
    // 1. 307 → follow to the Location with the same method and body
    let url_path = "services/hostedservices";
    let res = c
        .send(
            reqwest::Method::POST,
            url_path,
            Some(("application/xml", "<x/>".into())),
        )
        .await;
    let r = res.expect("redirect followed");
    assert_eq!(r.status, 201);
    assert_eq!(r.request_id.as_deref(), Some("bbbb"));
    // 2. 503 then 200: retried
    let r = c.get("").await.expect("503 retried");
    assert!(r.contains("sub1"));
    // 3. 400: one error with code, message, request id
    let e = c.get("services/hostedservices/bad@name").await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("BadRequest")
            && text.contains("The hosted service name is invalid.")
            && text.contains("eeee"),
        "{text}"
    );
    let s = seen.lock().unwrap();
    assert_eq!(s.len(), 5);
    assert_eq!(
        (s[1].method.as_str(), s[1].body.as_str()),
        ("POST", "<x/>"),
        "method and body kept across 307"
    );
    assert_eq!(s[1].path, "/sub1/services/hostedservices?moved=1");
    assert!(s.iter().all(|x| x.version.as_deref() == Some("2014-10-01")));
    assert!(
        s.iter().all(|x| x.client_cert),
        "the management certificate is presented"
    );
}
