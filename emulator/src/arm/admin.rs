//! The ARM face's part of the emulator's own admin API, under `/_emulator/arm/`:
//! `GET critical-path?nodes=N&public_ips=P` (the latency model's shortest start and stop of
//! such a cluster, in wall-clock seconds at the running time scale) and `GET latency` (the
//! model's table), which need no credential — they are the model, not the state — and, for
//! a registered client certificate, `GET counters` and `POST revoke-tokens` (every token
//! issued so far stops working, as if it had expired). JSON in and out.

use serde_json::{json, Map, Value};

use super::errors::json;
use super::request::parse_query;
use super::ArmFace;
use crate::http::{HttpRequest, HttpResponse};

fn not_found() -> HttpResponse {
    json(
        404,
        &json!({"error": {"code": "NotFound", "message": "No such admin resource."}}),
    )
}

pub fn handle(
    face: &ArmFace,
    request: &HttpRequest,
    segments: &[String],
    trusted: bool,
) -> HttpResponse {
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (request.method.as_str(), s.as_slice()) {
        ("GET", ["critical-path"]) => {
            let q = parse_query(&request.query);
            let num = |k: &str| q.get(k).and_then(|v| v.parse::<usize>().ok());
            let Some(nodes) = num("nodes") else {
                return json(
                    400,
                    &json!({"error": {"code": "InvalidParameter", "message": "critical-path needs ?nodes=N (and optionally public_ips=P)"}}),
                );
            };
            let public = num("public_ips").unwrap_or(nodes).min(nodes);
            let l = &face.latency;
            json(
                200,
                &json!({
                    "nodes": nodes,
                    "public_ips": public,
                    "time_scale": l.time_scale,
                    "start_s": l.start_critical_path(nodes, public),
                    "stop_s": l.stop_critical_path(nodes),
                }),
            )
        }
        ("GET", ["latency"]) => {
            let mut m = Map::new();
            for (k, v) in face.latency.table() {
                m.insert(k.into(), json!(v));
            }
            m.insert("time_scale".into(), json!(face.latency.time_scale));
            json(200, &Value::Object(m))
        }
        (_, ["counters"] | ["revoke-tokens"]) if !trusted => json(
            403,
            &json!({"error": {"code": "Forbidden", "message": "Present a registered management certificate."}}),
        ),
        ("GET", ["counters"]) => json(200, &counters(face)),
        ("POST", ["revoke-tokens"]) => match face.revoke_tokens() {
            Ok(()) => json(200, &json!({"revoked": true})),
            Err(e) => json(
                500,
                &json!({"error": {"code": "InternalServerError", "message": format!("cannot write a new signing key: {e}")}}),
            ),
        },
        _ => not_found(),
    }
}

/// What the face has counted since it started.
pub fn counters(face: &ArmFace) -> Value {
    use std::sync::atomic::Ordering::Relaxed;
    let c = &face.counters;
    json!({
        "tokens_issued": c.tokens_issued.load(Relaxed),
        "vms_created": c.vms_created.load(Relaxed),
        "throttled": c.throttled.load(Relaxed),
    })
}
