//! The classic face: Azure's Service Management API (ASM) under `/<subscription>/…`.
//! A request goes through authentication (the client certificate's thumbprint must be
//! registered for the subscription in the path), the `x-ms-version` check and fault
//! injection, then the router hands it to one module per resource family. Handlers parse
//! and validate Azure's XML, change the state through the engine, and render Azure's XML;
//! they never touch the host (VMs go through the engine's effects and the backend).

mod certificates;
mod deployments;
mod disks;
pub mod errors;
mod hosted_services;
mod images;
mod network;
mod network_sites;
mod operations;
mod properties;
pub mod request;
mod router;
mod storage;
mod subscription;
mod urls;

use std::sync::Arc;
use std::time::Duration;

use crate::engine::Emulator;
use crate::http::{HttpRequest, HttpResponse};
use crate::model::faults::RequestFault;
use errors::ApiError;
use request::{parse_query, valid_version, RequestContext};

/// Authenticate, check the version, inject faults, route.
pub async fn handle(emu: &Arc<Emulator>, request: &HttpRequest) -> HttpResponse {
    let segments = request.segments();
    let Some(subscription) = segments.first() else {
        return ApiError::forbidden().to_response();
    };
    if !emu.authorised(request.client_thumbprint.as_deref(), subscription) {
        return ApiError::forbidden().to_response();
    }
    let version_ok = request
        .headers
        .get("x-ms-version")
        .and_then(|v| v.to_str().ok())
        .is_some_and(valid_version);
    if !version_ok {
        return ApiError::new(
            400,
            "MissingOrIncorrectVersionHeader",
            "The versioning header is not specified or was specified incorrectly.",
        )
        .to_response();
    }
    let ctx = RequestContext {
        method: request.method.clone(),
        subscription: emu.canonical_subscription(subscription),
        segments: segments[1..].to_vec(),
        query: parse_query(&request.query),
        body: request.body.clone(),
        request_id: request.request_id.clone(),
    };
    if let Some(refusal) = injected_fault(emu, &ctx, &request.path).await {
        return refusal.to_response();
    }
    match router::route(emu, &ctx).await {
        Ok(response) => response,
        Err(e) => e.to_response(),
    }
}

/// A request-level fault (`--faults`), decided per method and path.
async fn injected_fault(emu: &Emulator, ctx: &RequestContext, path: &str) -> Option<ApiError> {
    let mutating = ctx.method != "GET";
    let key = format!("{} {}", ctx.method, path.to_ascii_lowercase());
    let fault = emu.faults().request(&key, mutating)?;
    Some(match fault {
        RequestFault::Internal => ApiError::internal(),
        RequestFault::Busy => ApiError::new(
            503,
            "ServerBusy",
            "The server is currently unable to receive requests. Please retry your request.",
        ),
        RequestFault::Throttle => ApiError::new(
            503,
            "TooManyRequests",
            "Too many requests received. Retry after some time.",
        ),
        RequestFault::Conflict => ApiError::deployment_busy(&crate::ids::new_request_id()),
        RequestFault::Hang => {
            let secs = emu.faults().rates.hang_secs;
            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
            ApiError::new(
                500,
                "OperationTimedOut",
                "The operation could not be completed within the permitted time.",
            )
        }
    })
}
