//! The HTTPS server: accepts TLS connections (asking every client for a certificate),
//! serves HTTP/1.1 with hyper, gives every request its `x-ms-request-id`, and dispatches
//! by path: `/_emulator/arm/…` to the ARM face's admin part, `/_emulator/…` to the admin
//! face, Resource Manager and identity-platform paths to the ARM face (when it is on),
//! everything else to the classic face. It decides nothing about what a request means.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use openssl::ssl::{Ssl, SslAcceptor};
use tokio::net::{TcpListener, TcpStream};

use crate::arm::ArmFace;
use crate::classic::errors::ApiError;
use crate::engine::Emulator;
use crate::http::{HttpRequest, HttpResponse};
use crate::ids::new_request_id;
use crate::{admin, arm, classic, tls};

/// Largest request body read (bigger ones are cut off and fail to parse).
const MAX_BODY_BYTES: usize = 64 << 20;

/// Serve until `stop` changes; then drop every connection.
pub async fn serve(
    listener: TcpListener,
    acceptor: Arc<SslAcceptor>,
    emu: Arc<Emulator>,
    arm: Option<Arc<ArmFace>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                let Ok((tcp, _peer)) = accepted else { continue };
                let acceptor = acceptor.clone();
                let emu = emu.clone();
                let arm = arm.clone();
                connections.spawn(async move { connection(tcp, acceptor, emu, arm).await });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
}

async fn connection(
    tcp: TcpStream,
    acceptor: Arc<SslAcceptor>,
    emu: Arc<Emulator>,
    arm: Option<Arc<ArmFace>>,
) {
    // Answers are written as several TLS records; without this the last one waits for the
    // client's delayed ACK (40 ms on Linux) whenever a body is larger than a segment.
    let _ = tcp.set_nodelay(true);
    let Ok(ssl) = Ssl::new(acceptor.context()) else {
        return;
    };
    let Ok(mut stream) = tokio_openssl::SslStream::new(ssl, tcp) else {
        return;
    };
    if let Err(e) = Pin::new(&mut stream).accept().await {
        tracing::debug!("TLS handshake failed: {e}");
        return;
    }
    let thumbprint: Option<String> = stream
        .ssl()
        .peer_certificate()
        .and_then(|c| tls::thumbprint(&c).ok());
    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let emu = emu.clone();
        let arm = arm.clone();
        let thumbprint = thumbprint.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => Bytes::new(),
            };
            let request = HttpRequest {
                method: parts.method.as_str().to_ascii_uppercase(),
                path: parts.uri.path().to_string(),
                query: parts.uri.query().unwrap_or("").to_string(),
                headers: parts.headers,
                body,
                client_thumbprint: thumbprint,
                request_id: new_request_id(),
            };
            let response = dispatch(&emu, arm.as_deref(), &request)
                .await
                .header("x-ms-request-id", request.request_id.clone());
            Ok::<_, Infallible>(to_hyper(response))
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// `/_emulator/arm/…` → the ARM face's admin part; `/_emulator/…` (any registered
/// certificate) → admin; ARM and identity paths → the ARM face; the rest → classic.
async fn dispatch(
    emu: &Arc<Emulator>,
    arm: Option<&ArmFace>,
    request: &HttpRequest,
) -> HttpResponse {
    let segments = request.segments();
    let trusted = emu.known_certificate(request.client_thumbprint.as_deref());
    if segments.first().map(String::as_str) == Some("_emulator") {
        if let (Some(face), Some("arm")) = (arm, segments.get(1).map(String::as_str)) {
            return arm::admin::handle(face, request, &segments[2..], trusted);
        }
        if !trusted {
            return ApiError::forbidden().to_response();
        }
        return admin::handle(emu, request, &segments[1..]).await;
    }
    if let Some(face) = arm.filter(|_| arm::owns(&segments)) {
        return arm::handle(face, emu, request).await;
    }
    classic::handle(emu, request).await
}

fn to_hyper(response: HttpResponse) -> hyper::Response<Full<Bytes>> {
    let has = |name: &str| {
        response
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
    };
    let mut builder = hyper::Response::builder().status(response.status);
    if !has("cache-control") {
        builder = builder.header("cache-control", "no-cache");
    }
    builder = builder
        .header(
            "server",
            "1.0.6198.392 (azure-emulator) Microsoft-HTTPAPI/2.0",
        )
        .header("x-ms-servedbyregion", "emulator")
        .header(
            "date",
            chrono::Utc::now()
                .format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string(),
        );
    if let Some(content_type) = response.content_type {
        builder = builder.header("content-type", content_type);
    }
    for (name, value) in &response.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
        .body(Full::new(Bytes::from(response.body)))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new())))
}
