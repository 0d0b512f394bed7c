//! Resource Manager's long-running operations on the wire (azure-arm-api.md §2.7): starting
//! one in the engine, the headers that announce it (`Azure-AsyncOperation`, `Location`,
//! `Retry-After` in whole unscaled seconds, `Azure-AsyncNotification`), and the three ways
//! clients poll it — the operation status (`{"status": …}`; Compute adds `startTime`,
//! `endTime`, `name`), the result `Location` (Network: 202 then 204; Compute
//! `monitor=true`: 202 then 200) and a group delete's `operationresults` (202 then 200).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::errors::{empty, json, ArmError, ArmResult};
use super::latency::retry_after;
use super::request::ArmRequest;
use super::{urls, ArmFace};
use crate::engine::operations::NewOperation;
use crate::engine::Emulator;
use crate::http::HttpResponse;
use crate::ids::{guid_form, new_request_id};
use crate::model::arm::ArmPending;
use crate::model::{now_ms, Millis, OpStatus, Operation, Pending, Subscription};

/// `Retry-After` hints (seconds) Azure was recorded giving.
pub const HINT_VM: u64 = 10;
pub const HINT_VNET: u64 = 3;
pub const HINT_PUBLIC_IP: u64 = 1;
pub const HINT_DELETE: u64 = 10;
pub const HINT_GROUP_DELETE: u64 = 15;
/// Operation polls: Compute was recorded answering 50 and 30, Network 10.
pub const HINT_POLL_COMPUTE: u64 = 30;
pub const HINT_POLL_NETWORK: u64 = 10;

/// Start an operation in the engine; returns its id.
pub fn begin(
    emu: &Arc<Emulator>,
    sub: &mut Subscription,
    kind: &'static str,
    duration: Duration,
    pending: ArmPending,
) -> String {
    let id = guid_form(&new_request_id());
    emu.begin_operation(
        sub,
        &id,
        NewOperation {
            kind,
            duration,
            pending: Pending::Arm(pending),
            locks: Vec::new(),
            fail_with: None,
        },
    );
    id
}

/// A finished operation (a synchronous write that still announces one, like a NIC PUT).
pub fn finished(emu: &Emulator, sub: &mut Subscription, kind: &str) -> String {
    let id = guid_form(&new_request_id());
    emu.register_sync(sub, &id, kind, 200);
    id
}

/// Seconds to announce for an operation due in `remaining` (capped at `hint`).
pub fn retry(face: &ArmFace, remaining: Duration, hint: u64) -> String {
    retry_after(remaining, face.latency.time_scale, hint).to_string()
}

/// Add the async headers of operation `op` (of `namespace`, in `location`) to `r`.
#[allow(clippy::too_many_arguments)]
pub fn announce(
    mut r: HttpResponse,
    face: &ArmFace,
    ctx: &ArmRequest,
    namespace: &str,
    location: &str,
    op: &str,
    with_location: bool,
    retry_hint: Option<(Duration, u64)>,
) -> HttpResponse {
    r.headers.push((
        "Azure-AsyncOperation".into(),
        urls::operation_url(ctx, namespace, location, op),
    ));
    if with_location {
        r.headers.push((
            "Location".into(),
            urls::result_url(ctx, namespace, location, op),
        ));
    }
    if let Some((remaining, hint)) = retry_hint {
        r.headers
            .push(("Retry-After".into(), retry(face, remaining, hint)));
    }
    r.headers
        .push(("Azure-AsyncNotification".into(), "Enabled".into()));
    r
}

fn find(emu: &Emulator, ctx: &ArmRequest, id: &str) -> Result<Operation, ArmError> {
    let st = emu.lock();
    st.subscriptions
        .get(&ctx.subscription)
        .and_then(|s| {
            s.operations
                .values()
                .find(|o| o.id.eq_ignore_ascii_case(id))
        })
        .filter(|o| matches!(o.pending, Some(Pending::Arm(_))) || o.kind.starts_with("Arm"))
        .cloned()
        .ok_or_else(|| {
            ArmError::new(
                404,
                "NotFound",
                format!("The operation '{id}' could not be found."),
            )
        })
}

/// `2022-11-16T03:57:53.0532762+00:00` (seven fractional digits, as Compute writes them).
pub fn compute_time(ms: Millis) -> String {
    let t = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    format!(
        "{}.{:07}+00:00",
        t.format("%Y-%m-%dT%H:%M:%S"),
        ms.rem_euclid(1000) * 10_000
    )
}

fn remaining(op: &Operation) -> Duration {
    Duration::from_millis((op.completes_at - now_ms()).max(0) as u64)
}

/// The error object of a failed operation, in ARM's words.
fn error_of(op: &Operation) -> Value {
    let e = op.error.clone().unwrap_or_default();
    if e.code == "InternalError" {
        return json!({"code": "InternalServerError", "message": "An internal server error occurred. Please retry the request.", "details": []});
    }
    json!({"code": e.code, "message": e.message, "details": []})
}

fn status_text(op: &Operation) -> &'static str {
    match op.status {
        OpStatus::InProgress => "InProgress",
        OpStatus::Succeeded => "Succeeded",
        OpStatus::Failed => "Failed",
    }
}

/// `GET …/providers/{ns}/locations/{loc}/operations/{id}` (with `monitor=true`: the
/// Compute result poll).
pub fn status(face: &ArmFace, emu: &Emulator, ctx: &ArmRequest, ns: &str, id: &str) -> ArmResult {
    let op = find(emu, ctx, id)?;
    let compute = ns.eq_ignore_ascii_case("Microsoft.Compute");
    if compute && ctx.query("monitor") == Some("true") {
        return result(face, ctx, &op, 200);
    }
    let mut body = if compute {
        let mut b = json!({"startTime": compute_time(op.started), "status": status_text(&op), "name": op.id});
        if op.status != OpStatus::InProgress {
            b["endTime"] = json!(compute_time(op.completes_at.max(op.started)));
        }
        b
    } else {
        json!({"status": status_text(&op)})
    };
    if op.status == OpStatus::Failed {
        body["error"] = error_of(&op);
    }
    let mut r = json(200, &body);
    if op.status == OpStatus::InProgress {
        let hint = if compute {
            HINT_POLL_COMPUTE
        } else {
            HINT_POLL_NETWORK
        };
        r.headers
            .push(("Retry-After".into(), retry(face, remaining(&op), hint)));
    }
    Ok(r)
}

/// A result poll: 202 (+ `Location`, `Retry-After`) while running, `done` when it
/// succeeded, the error with its status when it failed.
fn result(face: &ArmFace, ctx: &ArmRequest, op: &Operation, done: u16) -> ArmResult {
    match op.status {
        OpStatus::InProgress => {
            let mut r = empty(202);
            r.headers
                .push(("Location".into(), ctx.url(&ctx.path_and_query())));
            r.headers.push((
                "Retry-After".into(),
                retry(face, remaining(op), HINT_DELETE),
            ));
            Ok(r)
        }
        OpStatus::Succeeded => Ok(empty(done)),
        OpStatus::Failed => {
            let status = op.http_status.filter(|s| *s >= 400).unwrap_or(500);
            Ok(json(status, &json!({"error": error_of(op)})))
        }
    }
}

/// `GET …/providers/Microsoft.Network/locations/{loc}/operationResults/{id}`.
pub fn network_result(face: &ArmFace, emu: &Emulator, ctx: &ArmRequest, id: &str) -> ArmResult {
    let op = find(emu, ctx, id)?;
    let mut r = result(face, ctx, &op, 204)?;
    if op.status == OpStatus::Succeeded {
        // As recorded: the final answer names the operation again.
        let own = ctx.url(&ctx.path_and_query());
        let status = own.replacen("/operationResults/", "/operations/", 1);
        r.headers.push(("Azure-AsyncOperation".into(), status));
        r.headers.push(("Location".into(), own));
    }
    Ok(r)
}

/// `GET /subscriptions/{sub}/operationresults/{token}` of a group delete.
pub fn group_result(face: &ArmFace, emu: &Emulator, ctx: &ArmRequest, token: &str) -> ArmResult {
    let id = urls::operation_of_job(token).ok_or_else(|| {
        ArmError::new(
            404,
            "NotFound",
            format!("The operation result '{token}' could not be found."),
        )
    })?;
    let op = find(emu, ctx, &id)?;
    match op.status {
        OpStatus::InProgress => {
            let mut r = empty(202);
            r.headers
                .push(("Location".into(), ctx.url(&ctx.path_and_query())));
            r.headers.push((
                "Retry-After".into(),
                retry(face, remaining(&op), HINT_GROUP_DELETE),
            ));
            Ok(r)
        }
        _ => result(face, ctx, &op, 200),
    }
}
