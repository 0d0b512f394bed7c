//! Conformance against recorded real Azure traffic (`tests/fixtures/asm-golden` at the
//! repository root, origin and license in its NOTICE): the
//! azure-sdk-python VCR cassettes are replayed request by request (status, headers that
//! matter, response structure with values normalised), and the emulator's Get Deployment,
//! Get Hosted Service and error bodies are shape-matched (errors byte-matched) against the
//! libcloud fixtures.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

fn golden() -> PathBuf {
    // <repo>/emulator → <repo>/tests/fixtures/asm-golden (shared with the tool's tests)
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/asm-golden");
    assert!(p.is_dir(), "golden data not found at {}", p.display());
    p
}

#[derive(Debug, Default)]
struct Interaction {
    method: String,
    uri: String,
    req_headers: Vec<(String, String)>,
    req_body: Option<Vec<u8>>,
    status: u16,
    resp_headers: Vec<(String, String)>,
    resp_body: String,
}

/// Parse a YAML flow scalar starting at a quote; returns the value.
fn flow_scalar(raw: &str) -> String {
    let mut chars = raw.chars().peekable();
    let q = chars.next().unwrap();
    let mut out = String::new();
    while let Some(c) = chars.next() {
        if c == q {
            if q == '\'' && chars.peek() == Some(&'\'') {
                chars.next();
                out.push('\'');
                continue;
            }
            return out;
        }
        if q == '"' && c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('\n') => {
                    while chars.peek().is_some_and(|c| *c == ' ') {
                        chars.next();
                    }
                }
                Some(x) => out.push(x),
                None => {}
            }
            continue;
        }
        if c == '\n' {
            // Fold: trailing spaces dropped, leading indentation skipped, one break = space.
            while out.ends_with(' ') {
                out.pop();
            }
            let mut breaks = 0;
            loop {
                while chars.peek().is_some_and(|c| *c == ' ') {
                    chars.next();
                }
                if chars.peek() == Some(&'\n') {
                    chars.next();
                    breaks += 1;
                } else {
                    break;
                }
            }
            if breaks == 0 {
                out.push(' ');
            } else {
                for _ in 0..breaks {
                    out.push('\n');
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

fn header_list(v: &str) -> String {
    let v = v
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim();
    if v.starts_with('\'') || v.starts_with('"') {
        flow_scalar(v)
    } else {
        v.to_string()
    }
}

/// A reader for the VCR cassette subset used by the recordings.
fn parse_cassette(text: &str) -> Vec<Interaction> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    let mut cur: Option<Interaction> = None;
    let mut section = "";
    let mut in_headers = false;
    while i < lines.len() {
        let l = lines[i];
        if l.starts_with("- request:") {
            if let Some(c) = cur.take() {
                out.push(c);
            }
            cur = Some(Interaction::default());
            section = "request";
            in_headers = false;
            i += 1;
            continue;
        }
        let Some(c) = cur.as_mut() else {
            i += 1;
            continue;
        };
        if l.starts_with("  response:") {
            section = "response";
            in_headers = false;
        } else if let Some(rest) = l.strip_prefix("    body: ") {
            in_headers = false;
            if section == "request" {
                if rest.starts_with("!!binary") {
                    let mut b64 = String::new();
                    while i + 1 < lines.len() && lines[i + 1].starts_with("      ") {
                        i += 1;
                        b64.push_str(lines[i].trim());
                    }
                    use base64::Engine;
                    c.req_body = Some(
                        base64::engine::general_purpose::STANDARD
                            .decode(b64)
                            .unwrap(),
                    );
                } else if rest.trim() != "null" {
                    c.req_body = Some(flow_scalar(rest.trim()).into_bytes());
                }
            } else {
                let mut raw = rest.to_string();
                while i + 1 < lines.len() && !lines[i + 1].starts_with("    headers:") {
                    i += 1;
                    raw.push('\n');
                    raw.push_str(lines[i]);
                }
                let s = raw.trim().strip_prefix("{string: ").unwrap();
                c.resp_body = flow_scalar(s);
            }
        } else if l.starts_with("    headers:") {
            in_headers = true;
        } else if let Some(m) = l.strip_prefix("    method: ") {
            in_headers = false;
            c.method = m.trim().to_string();
        } else if let Some(u) = l.strip_prefix("    uri: ") {
            in_headers = false;
            c.uri = u.trim().to_string();
        } else if let Some(s) = l.strip_prefix("    status: ") {
            in_headers = false;
            let code = s.split("code: ").nth(1).unwrap().split(',').next().unwrap();
            c.status = code.trim().parse().unwrap();
        } else if in_headers && l.starts_with("      ") {
            let (k, v) = l.trim().split_once(": ").unwrap();
            let pair = (k.to_ascii_lowercase(), header_list(v));
            if section == "request" {
                c.req_headers.push(pair);
            } else {
                c.resp_headers.push(pair);
            }
        }
        i += 1;
    }
    if let Some(c) = cur.take() {
        out.push(c);
    }
    out
}

fn header<'a>(h: &'a [(String, String)], k: &str) -> Option<&'a str> {
    h.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.as_str())
}

/// Cassettes whose recorded list holds other resources of the real subscription: the
/// emulator's structure must be a subset, in the same order, and hold every recorded
/// element except those only the other resources explain.
const SUBSET: &[&str] = &["test_list_hosted_services"];

/// Recorded elements of the SUBSET cassettes that only resources the replay cannot create
/// carry (services in an affinity group).
const ONLY_OTHER_RESOURCES: &[&str] =
    &["/HostedServices/HostedService/HostedServiceProperties/AffinityGroup"];

async fn replay(h: &Harness, file: &Path) -> usize {
    let name = file.file_name().unwrap().to_string_lossy().to_string();
    let text = std::fs::read_to_string(file).unwrap();
    let mut ids: Vec<(String, String)> = Vec::new();
    let mut checked = 0;
    for (n, it) in parse_cassette(&text).iter().enumerate() {
        let ctx = format!("{name} #{n} {} {}", it.method, it.uri);
        let path = it
            .uri
            .strip_prefix("https://management.core.windows.net")
            .unwrap();
        let mut path = path.to_string();
        let is_poll = path.contains("/operations/") && !path.contains("isavailable");
        if is_poll {
            if it.resp_body.contains("<Status>InProgress</Status>") {
                continue; // timing differs; the final poll below is compared.
            }
            let rec = path.rsplit('/').next().unwrap().to_string();
            let mine = ids
                .iter()
                .find(|(r, _)| *r == rec)
                .map(|(_, m)| m.clone())
                .unwrap_or_else(|| panic!("{ctx}: no request produced id {rec}"));
            path = path.replace(&rec, &mine);
        }
        let url = format!("{}{}", h.url, path);
        let deadline = Instant::now() + Duration::from_secs(30);
        let (status, headers, body) = loop {
            let m = reqwest::Method::from_bytes(it.method.as_bytes()).unwrap();
            let mut r = h.client.request(m, &url);
            for (k, v) in &it.req_headers {
                if k == "x-ms-version" || k == "content-type" {
                    r = r.header(k.as_str(), v.as_str());
                }
            }
            if let Some(b) = &it.req_body {
                r = r.body(b.clone());
            }
            let resp = r.send().await.unwrap();
            let status = resp.status().as_u16();
            let headers: Vec<(String, String)> = resp
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                .collect();
            let body = String::from_utf8(resp.bytes().await.unwrap().to_vec()).unwrap();
            if is_poll && body.contains("<Status>InProgress</Status>") {
                assert!(Instant::now() < deadline, "{ctx}: operation never finished");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            break (status, headers, body);
        };
        assert_eq!(status, it.status, "{ctx}: status (body {body})");
        let my_id =
            header(&headers, "x-ms-request-id").unwrap_or_else(|| panic!("{ctx}: no request id"));
        assert!(
            my_id.len() == 32
                && my_id
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        if let Some(rec) = header(&it.resp_headers, "x-ms-request-id") {
            ids.push((rec.to_string(), my_id.to_string()));
        }
        if let Some(loc) = header(&it.resp_headers, "location") {
            assert_eq!(header(&headers, "location"), Some(loc), "{ctx}: Location");
        }
        if it.resp_body.is_empty() {
            assert!(body.is_empty(), "{ctx}: expected an empty body, got {body}");
        } else {
            assert_eq!(
                header(&headers, "content-type"),
                header(&it.resp_headers, "content-type"),
                "{ctx}: content-type"
            );
            assert!(!body.contains('\n'), "{ctx}: body must be one line");
            let want = paths(&it.resp_body);
            let got = paths(&body);
            if SUBSET.iter().any(|s| name.contains(s)) {
                let mut last = 0;
                for p in &got {
                    let pos = want
                        .iter()
                        .position(|w| w == p)
                        .unwrap_or_else(|| panic!("{ctx}: unexpected element {p}\n{body}"));
                    assert!(pos >= last, "{ctx}: element {p} out of order");
                    last = pos;
                }
                for p in &want {
                    assert!(
                        got.contains(p) || ONLY_OTHER_RESOURCES.contains(&p.as_str()),
                        "{ctx}: element {p} missing\n{body}"
                    );
                }
            } else {
                assert_eq!(
                    got, want,
                    "{ctx}: structure differs\nrecorded: {}\nemulator: {body}",
                    it.resp_body
                );
            }
            if it.resp_body.starts_with("<Error ") {
                assert_eq!(body, it.resp_body, "{ctx}: error body");
            }
            if it.resp_body.starts_with("<AvailabilityResponse ") {
                for tag in ["Result", "Reason"] {
                    assert_eq!(
                        between(&body, tag),
                        between(&it.resp_body, tag),
                        "{ctx}: {tag}"
                    );
                }
            }
            if is_poll {
                for tag in ["Status", "HttpStatusCode", "Code"] {
                    assert_eq!(
                        between(&body, tag),
                        between(&it.resp_body, tag),
                        "{ctx}: operation {tag}"
                    );
                }
            }
            // Root element written with both namespaces exactly like Azure.
            let head = &body[..body.find('>').unwrap()];
            let rec_head: String = it.resp_body[..it.resp_body.find('>').unwrap()].to_string();
            assert_eq!(head, rec_head, "{ctx}: root element");
        }
        checked += 1;
    }
    checked
}

#[tokio::test]
async fn replays_the_azure_sdk_python_cassettes() {
    let h = Harness::start().await;
    let dir = golden().join("azure-sdk-python");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 20);
    let mut total = 0;
    for f in &files {
        let n = replay(&h, f).await;
        assert!(n > 0, "{}: nothing replayed", f.display());
        total += n;
    }
    assert!(total > 60, "only {total} interactions replayed");
    h.stop().await;
}

fn fixture(name: &str) -> String {
    let p = golden()
        .join("libcloud")
        .join(format!("_3761b98b_673d_526c_8d55_fee918758e6e_{name}.xml"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[tokio::test]
async fn error_bodies_match_libcloud_fixtures_byte_for_byte() {
    let h = Harness::start().await;
    let key = Cert::new("k");
    let tp = key.thumbprint();
    let (s, b) = h.get("/services/hostedservices/dcoddkinztest03").await;
    assert_eq!(s, 404);
    assert_eq!(b, fixture("services_hostedservices_dcoddkinztest04"));
    let (s, b) = h.get("/services/storageservices/dss123").await;
    assert_eq!(s, 404);
    assert_eq!(
        b,
        fixture("services_storageservices_dss123").replace("\\'", "'")
    );
    h.base("dcoddkinztest02", "sa02", &key).await;
    let (s, b) = h
        .get("/services/hostedservices/dcoddkinztest02/deploymentslots/Production")
        .await;
    assert_eq!(s, 404);
    assert_eq!(
        b,
        fixture("services_hostedservices_dcoddkinztest02_deploymentslots_Production")
    );
    h.ok_async(
        "POST",
        "/services/hostedservices/dcoddkinztest02/deployments",
        Some(&deployment_xml("dc03", "dc03", 22, &tp, "sa02")),
    )
    .await;
    let (s, _, b) = h
        .send(
            "POST",
            "/services/hostedservices/dcoddkinztest02/deployments/dc03/roleinstances/dc13?comp=reboot",
            Some(""),
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(
        b,
        fixture("services_hostedservices_dcoddkinztest01_deployments_dc03_roleinstances_dc13")
    );
    h.stop().await;
}

#[tokio::test]
async fn deployment_and_hosted_service_match_libcloud_fixture_shapes() {
    let h = Harness::start().await;
    let key = Cert::new("k");
    let tp = key.thumbprint();
    // testdcabc: a hosted service without deployments (embed-detail).
    let (s, _, _) = h
        .send(
            "POST",
            "/services/hostedservices",
            Some(&hosted_service_xml("testdc123")),
        )
        .await;
    assert_eq!(s, 201);
    let (_, b) = h
        .get("/services/hostedservices/testdc123?embed-detail=true")
        .await;
    assert_eq!(
        shape(&b),
        shape(&fixture("services_hostedservices_testdcabc"))
    );
    let (_, b) = h.get("/services/hostedservices/testdc123").await;
    assert_eq!(
        shape(&b),
        shape(&fixture("services_hostedservices_testdcabc2_deployments"))
    );

    // dcoddkinztest01: deployment dc03 with roles dc03 (port 22) and oddkinz2 (57706), ReadyRole.
    h.base("dcoddkinztest01", "mtlytics", &key).await;
    h.ok_async(
        "POST",
        "/services/hostedservices/dcoddkinztest01/deployments",
        Some(&deployment_xml("dc03", "dc03", 22, &tp, "mtlytics")),
    )
    .await;
    h.ok_async(
        "POST",
        "/services/hostedservices/dcoddkinztest01/deployments/dc03/roles",
        Some(&add_role_xml("oddkinz2", 57706, &tp, "mtlytics")),
    )
    .await;
    let got = h
        .wait_deployment("dcoddkinztest01", |b| {
            b.matches("<InstanceStatus>ReadyRole</InstanceStatus>")
                .count()
                == 2
        })
        .await;
    let want = fixture("services_hostedservices_dcoddkinztest01_deploymentslots_Production");
    assert!(
        shape(&want).len() > 3000
            && shape(&want).contains("<InstanceEndpoints><InstanceEndpoint><Name>#</Name>")
    );
    // The fixture's guest agent was unresponsive; ours reports Ready. Same elements either
    // way, except the OS disk's IOType, which responses carried from 2015 on (this fixture
    // is from 2014; conformance_recorded checks IOType against a 2015 recording).
    let got = got.replace("<IOType>Standard</IOType>", "");
    assert_eq!(
        shape(&got),
        shape(&want),
        "\nemulator: {got}\nfixture:  {want}"
    );
    let (_, hs) = h
        .get("/services/hostedservices/dcoddkinztest01?embed-detail=true")
        .await;
    assert_eq!(
        shape(&hs.replace("<IOType>Standard</IOType>", "")),
        shape(&fixture("services_hostedservices_dcoddkinztest01"))
    );
    h.stop().await;
}

#[test]
fn the_cassette_reader_folds_like_yaml() {
    assert_eq!(flow_scalar("'a\n        b'"), "a b");
    assert_eq!(flow_scalar("'it''s'"), "it's");
    assert_eq!(flow_scalar("'a\n\n  b'"), "a\nb");
    assert_eq!(flow_scalar("\"x\\\n   y\""), "xy");
}
