//! Service certificates of a hosted service: add (pfx, cer or PEM text; async), get,
//! list, delete (async). They are where a role's SSH keys come from.

use std::sync::Arc;

use super::errors::{ApiError, ApiResult};
use super::request::{decode_base64, encode_base64, RequestContext};
use super::urls;
use crate::engine::operations::{service_lock, NewOperation};
use crate::engine::Emulator;
use crate::http::HttpResponse;
use crate::model::{Certificate, Pending};
use crate::tls;
use crate::xml::XmlWriter;

fn write_certificate(w: &mut XmlWriter, sub: &str, svc: &str, c: &Certificate) {
    w.leaf(
        "CertificateUrl",
        urls::service_certificate(sub, svc, &c.thumbprint),
    );
    w.leaf("Thumbprint", &c.thumbprint);
    w.leaf("ThumbprintAlgorithm", "sha1");
    w.leaf("Data", &c.data);
}

pub fn list(emu: &Arc<Emulator>, ctx: &RequestContext, svc: &str) -> ApiResult {
    let st = emu.lock();
    let h = ctx
        .subscription(&st)?
        .hosted_services
        .get(&svc.to_ascii_lowercase())
        .ok_or_else(ApiError::hosted_service_not_found)?;
    if h.certificates.is_empty() {
        return Ok(HttpResponse::xml(XmlWriter::empty_document("Certificates")));
    }
    let mut w = XmlWriter::with_root("Certificates");
    for c in &h.certificates {
        w.open("Certificate");
        write_certificate(&mut w, &ctx.subscription, &h.name, c);
        w.close("Certificate");
    }
    Ok(HttpResponse::xml(w.finish("Certificates")))
}

fn thumbprint_from_path(t: &str) -> Result<String, ApiError> {
    let (alg, tp) = t.split_once('-').ok_or_else(|| {
        ApiError::bad_request(
            "The thumbprint algorithm and thumbprint must be given as <algorithm>-<thumbprint>.",
        )
    })?;
    if !alg.eq_ignore_ascii_case("sha1") {
        return Err(ApiError::bad_request(format!(
            "The thumbprint algorithm {alg} is not supported."
        )));
    }
    Ok(tp.to_ascii_uppercase())
}

pub fn get(emu: &Arc<Emulator>, ctx: &RequestContext, svc: &str, t: &str) -> ApiResult {
    let tp = thumbprint_from_path(t)?;
    let st = emu.lock();
    let h = ctx
        .subscription(&st)?
        .hosted_services
        .get(&svc.to_ascii_lowercase())
        .ok_or_else(ApiError::hosted_service_not_found)?;
    let c = h
        .certificates
        .iter()
        .find(|c| c.thumbprint == tp)
        .ok_or_else(|| ApiError::not_found("The certificate was not found."))?;
    let mut w = XmlWriter::with_root("Certificate");
    w.leaf("Data", &c.data);
    Ok(HttpResponse::xml(w.finish("Certificate")))
}

pub fn add(emu: &Arc<Emulator>, ctx: &RequestContext, svc: &str) -> ApiResult {
    let doc = ctx.body_xml()?;
    if doc.local() != "CertificateFile" {
        return Err(ApiError::invalid_xml());
    }
    let mut w = doc.walk();
    let data = w.req_text("Data")?;
    let format = w.req_text("CertificateFormat")?;
    let password = w.opt_text("Password").unwrap_or_default();
    w.finish()?;
    if !format.eq_ignore_ascii_case("pfx") && !format.eq_ignore_ascii_case("cer") {
        return Err(ApiError::bad_request(format!(
            "The certificate format {format} is not valid. Supported formats are pfx and cer."
        )));
    }
    let bytes = decode_base64(&data)
        .ok_or_else(|| ApiError::bad_request("The certificate data is not valid base64."))?;
    let cert = tls::parse_service_certificate(&bytes, &format, &password).ok_or_else(|| {
        ApiError::bad_request("The certificate data is not valid or the password is incorrect.")
    })?;
    let thumbprint = tls::thumbprint(&cert).map_err(|_| ApiError::internal())?;
    let der = cert.to_der().map_err(|_| ApiError::internal())?;
    let key = svc.to_ascii_lowercase();
    let mut st = emu.lock();
    let sub = ctx.subscription_mut(&mut st)?;
    let h = sub
        .hosted_services
        .get(&key)
        .ok_or_else(ApiError::hosted_service_not_found)?;
    if h.lock.is_some() {
        return Err(ApiError::service_busy());
    }
    let dur = emu.latency.scaled(emu.latency.add_certificate);
    emu.begin_operation(
        sub,
        &ctx.request_id,
        NewOperation {
            kind: "AddCertificate",
            duration: dur,
            pending: Pending::AddCertificate {
                service: key.clone(),
                cert: Certificate {
                    thumbprint,
                    data: encode_base64(&der),
                },
            },
            locks: vec![service_lock(&key)],
            fail_with: None,
        },
    );
    emu.persist(&st);
    Ok(HttpResponse::empty(202))
}

pub fn delete(emu: &Arc<Emulator>, ctx: &RequestContext, svc: &str, t: &str) -> ApiResult {
    let tp = thumbprint_from_path(t)?;
    let key = svc.to_ascii_lowercase();
    let mut st = emu.lock();
    let sub = ctx.subscription_mut(&mut st)?;
    let h = sub
        .hosted_services
        .get(&key)
        .ok_or_else(ApiError::hosted_service_not_found)?;
    if !h.certificates.iter().any(|c| c.thumbprint == tp) {
        return Err(ApiError::not_found("The certificate was not found."));
    }
    if h.lock.is_some() {
        return Err(ApiError::service_busy());
    }
    let dur = emu.latency.scaled(emu.latency.delete_certificate);
    emu.begin_operation(
        sub,
        &ctx.request_id,
        NewOperation {
            kind: "DeleteCertificate",
            duration: dur,
            pending: Pending::DeleteCertificate {
                service: key.clone(),
                thumbprint: tp,
            },
            locks: vec![service_lock(&key)],
            fail_with: None,
        },
    );
    emu.persist(&st);
    Ok(HttpResponse::empty(202))
}
