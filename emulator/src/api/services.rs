//! Hosted (cloud) services and their service certificates: create/get/list/update/delete,
//! name availability, embed-detail, and the certificate store SSH keys come from.

use std::sync::Arc;

use crate::model::{now_ms, Certificate, HostedService, Pending};
use crate::tls;
use crate::xml::W;

use super::*;

pub fn valid_service_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

pub fn not_found() -> ApiError {
    ApiError::not_found("The hosted service does not exist.")
}

pub fn create(emu: &Arc<Emu>, ctx: &Ctx) -> ApiResult {
    let doc = ctx.body_xml()?;
    if doc.local() != "CreateHostedService" {
        return Err(ApiError::invalid_xml());
    }
    let mut w = doc.walk();
    let name = w.req_text("ServiceName")?;
    let label = w.req_text("Label")?;
    let description = w.opt_text("Description");
    let location = w.opt_text("Location");
    let affinity_group = w.opt_text("AffinityGroup");
    let ext = parse_ext_props(w.opt("ExtendedProperties"))?;
    let _ = w.opt("ReverseDnsFqdn");
    w.finish()?;
    if !valid_service_name(&name) {
        return Err(ApiError::bad("The hosted service name is invalid."));
    }
    if label.is_empty() || b64_decode(&label).is_none() {
        return Err(ApiError::bad("The label is not valid. It must be base64-encoded and between 1 and 100 characters long."));
    }
    let location = match (location, affinity_group.as_ref()) {
        (Some(l), None) => Some(
            crate::model::catalog::location(&l)
                .ok_or_else(|| {
                    ApiError::bad(format!(
                        "The location or affinity group {l} does not exist."
                    ))
                })?
                .to_string(),
        ),
        (None, Some(a)) => {
            return Err(ApiError::bad(format!(
                "The affinity group {a} does not exist."
            )))
        }
        _ => {
            return Err(ApiError::bad(
                "Either Location or AffinityGroup must be specified, but not both.",
            ))
        }
    };
    let key = name.to_ascii_lowercase();
    let mut st = emu.lock();
    let taken = st
        .subscriptions
        .values()
        .any(|s| s.hosted_services.contains_key(&key));
    // VIP: lowest free host number in this emulator's loopback block.
    let used: Vec<std::net::Ipv4Addr> = st
        .subscriptions
        .values()
        .flat_map(|s| s.hosted_services.values().map(|h| h.vip))
        .collect();
    let (a, b) = st.vip_block;
    let vip = (1..=254u8)
        .map(|h| std::net::Ipv4Addr::new(127, a, b, h))
        .find(|ip| !used.contains(ip));
    let max = emu.quotas.max_hosted_services;
    let sub = sub_mut(&mut st, ctx)?;
    if taken {
        return Err(ApiError::conflict(
            "The specified DNS name is already taken.",
        ));
    }
    let current = sub.hosted_services.len() as u32;
    if current + 1 > max {
        return Err(quota_error("hosted service count", max, current, 1));
    }
    let Some(vip) = vip else {
        return Err(ApiError::new(
            503,
            "ServerBusy",
            "No free virtual IP address in this emulator's block (254 hosted services).",
        ));
    };
    let now = now_ms();
    sub.hosted_services.insert(
        key,
        HostedService {
            name: name.clone(),
            label,
            description,
            location,
            affinity_group: None,
            extended_properties: ext,
            created: now,
            modified: now,
            vip,
            ..Default::default()
        },
    );
    emu.register_sync(sub, &ctx.request_id, "CreateHostedService", 200);
    let loc = format!("{AZURE_HOST}/subscriptions/{}/compute/{name}", ctx.sub);
    emu.persist(&st);
    Ok(Resp::empty(201).header("Location", loc))
}

pub fn write_service(w: &mut W, sub: &str, h: &HostedService, deployments: Option<&[String]>) {
    w.leaf(
        "Url",
        format!("{AZURE_HOST}/{sub}/services/hostedservices/{}", h.name),
    );
    w.leaf("ServiceName", &h.name);
    w.open("HostedServiceProperties");
    w.leaf_nil("Description", h.description.as_deref());
    if let Some(a) = &h.affinity_group {
        w.leaf("AffinityGroup", a);
    }
    if let Some(l) = &h.location {
        w.leaf("Location", l);
    }
    w.leaf("Label", &h.label);
    w.leaf("Status", "Created");
    w.leaf("DateCreated", crate::model::iso(h.created));
    w.leaf("DateLastModified", crate::model::iso(h.modified));
    write_ext_props(w, &h.extended_properties);
    w.close("HostedServiceProperties");
    if let Some(deps) = deployments {
        if deps.is_empty() {
            w.empty("Deployments");
        } else {
            w.open("Deployments");
            for d in deps {
                w.raw(d);
            }
            w.close("Deployments");
        }
    }
}

pub async fn get(emu: &Arc<Emu>, ctx: &Ctx, svc: &str) -> ApiResult {
    let embed = ctx
        .q("embed-detail")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let h = {
        let st = emu.lock();
        let sub = sub_ref(&st, ctx)?;
        sub.hosted_services
            .get(&svc.to_ascii_lowercase())
            .cloned()
            .ok_or_else(not_found)?
    };
    let deps = if embed {
        let mut v = Vec::new();
        if let Some(d) = &h.deployment {
            v.push(deployments::render_deployment(emu, &ctx.sub, &h, d, false).await);
        }
        Some(v)
    } else {
        None
    };
    let mut w = W::root("HostedService");
    write_service(&mut w, &ctx.sub, &h, deps.as_deref());
    Ok(Resp::xml(w.finish("HostedService")))
}

pub async fn list(emu: &Arc<Emu>, ctx: &Ctx) -> ApiResult {
    let hs: Vec<HostedService> = {
        let st = emu.lock();
        sub_ref(&st, ctx)?
            .hosted_services
            .values()
            .cloned()
            .collect()
    };
    if hs.is_empty() {
        return Ok(Resp::xml(W::empty_root("HostedServices")));
    }
    let mut w = W::root("HostedServices");
    for h in &hs {
        w.open("HostedService");
        write_service(&mut w, &ctx.sub, h, None);
        w.close("HostedService");
    }
    Ok(Resp::xml(w.finish("HostedServices")))
}

pub fn is_available(emu: &Arc<Emu>, ctx: &Ctx, name: &str) -> ApiResult {
    if !valid_service_name(name) {
        return Err(ApiError::bad("The hosted service name is invalid."));
    }
    let key = name.to_ascii_lowercase();
    let st = emu.lock();
    let mine = sub_ref(&st, ctx)?.hosted_services.contains_key(&key);
    let elsewhere = st
        .subscriptions
        .values()
        .any(|s| s.hosted_services.contains_key(&key));
    let mut w = W::root("AvailabilityResponse");
    if mine {
        w.leaf("Result", "false").leaf(
            "Reason",
            "A hosted service with the specified name already exists.",
        );
    } else if elsewhere {
        w.leaf("Result", "false")
            .leaf("Reason", "The specified DNS name is already taken.");
    } else {
        w.leaf("Result", "true").leaf_nil("Reason", None);
    }
    Ok(Resp::xml(w.finish("AvailabilityResponse")))
}

pub fn update(emu: &Arc<Emu>, ctx: &Ctx, svc: &str) -> ApiResult {
    let doc = ctx.body_xml()?;
    if doc.local() != "UpdateHostedService" {
        return Err(ApiError::invalid_xml());
    }
    let mut w = doc.walk();
    let label = w.opt_text("Label");
    let description = w.opt_text("Description");
    let ext = parse_ext_props(w.opt("ExtendedProperties"))?;
    let _ = w.opt("ReverseDnsFqdn");
    w.finish()?;
    let mut st = emu.lock();
    let sub = sub_mut(&mut st, ctx)?;
    let h = sub
        .hosted_services
        .get_mut(&svc.to_ascii_lowercase())
        .ok_or_else(not_found)?;
    if let Some(l) = label {
        h.label = l;
    }
    if description.is_some() {
        h.description = description;
    }
    merge_ext_props(&mut h.extended_properties, ext);
    h.modified = now_ms();
    emu.register_sync(sub, &ctx.request_id, "UpdateHostedService", 200);
    emu.persist(&st);
    Ok(Resp::empty(200))
}

pub fn delete(emu: &Arc<Emu>, ctx: &Ctx, svc: &str) -> ApiResult {
    let key = svc.to_ascii_lowercase();
    let mut st = emu.lock();
    let sub = sub_mut(&mut st, ctx)?;
    let h = sub.hosted_services.get(&key).ok_or_else(not_found)?;
    if let Some(op) = &h.lock {
        let _ = op;
        return Err(busy_service());
    }
    if let Some(op) = h.deployment.as_ref().and_then(|d| d.lock.clone()) {
        return Err(busy_deployment(&op));
    }
    if ctx.comp_media() {
        let dur = emu.latency.d(emu.latency.delete_hosted_service_media);
        let mut locks = vec![format!("hs:{key}")];
        if h.deployment.is_some() {
            locks.push(format!("dep:{key}"));
        }
        if let Some(d) = sub
            .hosted_services
            .get_mut(&key)
            .and_then(|h| h.deployment.as_mut())
        {
            d.phase = crate::model::DeploymentPhase::Deleting;
        }
        emu.begin_op(
            sub,
            &ctx.request_id,
            "DeleteHostedService",
            dur,
            Pending::DeleteHostedService { service: key },
            locks,
            None,
        );
        emu.persist(&st);
        return Ok(Resp::empty(202));
    }
    if h.deployment.is_some() {
        return Err(ApiError::conflict(
            "A hosted service cannot be deleted while it still contains deployments.",
        ));
    }
    sub.hosted_services.remove(&key);
    emu.register_sync(sub, &ctx.request_id, "DeleteHostedService", 200);
    emu.persist(&st);
    Ok(Resp::empty(200))
}

fn write_cert(w: &mut W, sub: &str, svc: &str, c: &Certificate) {
    w.leaf(
        "CertificateUrl",
        format!(
            "{AZURE_HOST}/{sub}/services/hostedservices/{svc}/certificates/sha1-{}",
            c.thumbprint
        ),
    );
    w.leaf("Thumbprint", &c.thumbprint);
    w.leaf("ThumbprintAlgorithm", "sha1");
    w.leaf("Data", &c.data);
}

pub fn list_certs(emu: &Arc<Emu>, ctx: &Ctx, svc: &str) -> ApiResult {
    let st = emu.lock();
    let h = sub_ref(&st, ctx)?
        .hosted_services
        .get(&svc.to_ascii_lowercase())
        .ok_or_else(not_found)?;
    if h.certificates.is_empty() {
        return Ok(Resp::xml(W::empty_root("Certificates")));
    }
    let mut w = W::root("Certificates");
    for c in &h.certificates {
        w.open("Certificate");
        write_cert(&mut w, &ctx.sub, &h.name, c);
        w.close("Certificate");
    }
    Ok(Resp::xml(w.finish("Certificates")))
}

fn thumb_from_path(t: &str) -> Result<String, ApiError> {
    let (alg, tp) = t.split_once('-').ok_or_else(|| {
        ApiError::bad(
            "The thumbprint algorithm and thumbprint must be given as <algorithm>-<thumbprint>.",
        )
    })?;
    if !alg.eq_ignore_ascii_case("sha1") {
        return Err(ApiError::bad(format!(
            "The thumbprint algorithm {alg} is not supported."
        )));
    }
    Ok(tp.to_ascii_uppercase())
}

pub fn get_cert(emu: &Arc<Emu>, ctx: &Ctx, svc: &str, t: &str) -> ApiResult {
    let tp = thumb_from_path(t)?;
    let st = emu.lock();
    let h = sub_ref(&st, ctx)?
        .hosted_services
        .get(&svc.to_ascii_lowercase())
        .ok_or_else(not_found)?;
    let c = h
        .certificates
        .iter()
        .find(|c| c.thumbprint == tp)
        .ok_or_else(|| ApiError::not_found("The certificate was not found."))?;
    let mut w = W::root("Certificate");
    w.leaf("Data", &c.data);
    Ok(Resp::xml(w.finish("Certificate")))
}

pub fn add_cert(emu: &Arc<Emu>, ctx: &Ctx, svc: &str) -> ApiResult {
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
        return Err(ApiError::bad(format!(
            "The certificate format {format} is not valid. Supported formats are pfx and cer."
        )));
    }
    let bytes = b64_decode(&data)
        .ok_or_else(|| ApiError::bad("The certificate data is not valid base64."))?;
    let cert = tls::parse_service_certificate(&bytes, &format, &password).ok_or_else(|| {
        ApiError::bad("The certificate data is not valid or the password is incorrect.")
    })?;
    let thumbprint = tls::thumbprint(&cert).map_err(|_| ApiError::internal())?;
    let der = cert.to_der().map_err(|_| ApiError::internal())?;
    let key = svc.to_ascii_lowercase();
    let mut st = emu.lock();
    let sub = sub_mut(&mut st, ctx)?;
    let h = sub.hosted_services.get(&key).ok_or_else(not_found)?;
    if h.lock.is_some() {
        return Err(busy_service());
    }
    let dur = emu.latency.d(emu.latency.add_certificate);
    emu.begin_op(
        sub,
        &ctx.request_id,
        "AddCertificate",
        dur,
        Pending::AddCertificate {
            service: key.clone(),
            cert: Certificate {
                thumbprint,
                data: {
                    use base64::Engine;
                    base64::engine::general_purpose::STANDARD.encode(der)
                },
            },
        },
        vec![format!("hs:{key}")],
        None,
    );
    emu.persist(&st);
    Ok(Resp::empty(202))
}

pub fn delete_cert(emu: &Arc<Emu>, ctx: &Ctx, svc: &str, t: &str) -> ApiResult {
    let tp = thumb_from_path(t)?;
    let key = svc.to_ascii_lowercase();
    let mut st = emu.lock();
    let sub = sub_mut(&mut st, ctx)?;
    let h = sub.hosted_services.get(&key).ok_or_else(not_found)?;
    if !h.certificates.iter().any(|c| c.thumbprint == tp) {
        return Err(ApiError::not_found("The certificate was not found."));
    }
    if h.lock.is_some() {
        return Err(busy_service());
    }
    let dur = emu.latency.d(emu.latency.delete_certificate);
    emu.begin_op(
        sub,
        &ctx.request_id,
        "DeleteCertificate",
        dur,
        Pending::DeleteCertificate {
            service: key.clone(),
            thumbprint: tp,
        },
        vec![format!("hs:{key}")],
        None,
    );
    emu.persist(&st);
    Ok(Resp::empty(202))
}
