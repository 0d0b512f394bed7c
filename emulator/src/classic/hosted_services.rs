//! Hosted (cloud) services: create (with its loopback VIP), get (with embed-detail),
//! list, update, delete (synchronous, or asynchronous with `comp=media` taking the
//! deployment and its disks along), and name availability across subscriptions.

use std::sync::Arc;

use super::deployments;
use super::errors::{ApiError, ApiResult};
use super::properties;
use super::request::{decode_base64, RequestContext};
use super::{subscription, urls};
use crate::engine::operations::{deployment_lock, service_lock, NewOperation};
use crate::engine::role_status::vm_statuses;
use crate::engine::Emulator;
use crate::http::HttpResponse;
use crate::model::{catalog, iso8601, now_ms, DeploymentPhase, HostedService, Pending};
use crate::xml::XmlWriter;

fn valid_service_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

pub fn create(emu: &Arc<Emulator>, ctx: &RequestContext) -> ApiResult {
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
    let ext = properties::parse(w.opt("ExtendedProperties"))?;
    let _ = w.opt("ReverseDnsFqdn");
    w.finish()?;
    if !valid_service_name(&name) {
        return Err(ApiError::bad_request("The hosted service name is invalid."));
    }
    if label.is_empty() || decode_base64(&label).is_none() {
        return Err(ApiError::bad_request("The label is not valid. It must be base64-encoded and between 1 and 100 characters long."));
    }
    let location = match (location, affinity_group.as_ref()) {
        (Some(l), None) => Some(
            catalog::location(&l)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "The location or affinity group {l} does not exist."
                    ))
                })?
                .to_string(),
        ),
        (None, Some(a)) => {
            return Err(ApiError::bad_request(format!(
                "The affinity group {a} does not exist."
            )))
        }
        _ => {
            return Err(ApiError::bad_request(
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
    // VIP: lowest free address of this emulator's loopback block.
    let vip = crate::engine::addresses::free_loopback(&st, &[]);
    let max = emu.quotas.max_hosted_services;
    let sub = ctx.subscription_mut(&mut st)?;
    if taken {
        return Err(ApiError::conflict(
            "The specified DNS name is already taken.",
        ));
    }
    let current = sub.hosted_services.len() as u32;
    if current + 1 > max {
        return Err(ApiError::quota("hosted service count", max, current, 1));
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
    let loc = urls::created_hosted_service(&ctx.subscription, &name);
    emu.persist(&st);
    Ok(HttpResponse::empty(201).header("Location", loc))
}

fn write_service(w: &mut XmlWriter, subscription: &str, h: &HostedService) {
    w.leaf("Url", urls::hosted_service(subscription, &h.name));
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
    w.leaf("DateCreated", iso8601(h.created));
    w.leaf("DateLastModified", iso8601(h.modified));
    properties::write(w, &h.extended_properties);
    w.close("HostedServiceProperties");
}

/// Get Hosted Service; `embed-detail=true` adds its deployment as Get Deployment shows it.
pub async fn get(emu: &Arc<Emulator>, ctx: &RequestContext, svc: &str) -> ApiResult {
    let embed = ctx
        .query_param("embed-detail")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let h = {
        let st = emu.lock();
        let sub = ctx.subscription(&st)?;
        sub.hosted_services
            .get(&svc.to_ascii_lowercase())
            .cloned()
            .ok_or_else(ApiError::hosted_service_not_found)?
    };
    let mut w = XmlWriter::with_root("HostedService");
    write_service(&mut w, &ctx.subscription, &h);
    if embed {
        match &h.deployment {
            Some(d) => {
                let statuses = vm_statuses(emu, d).await;
                w.open("Deployments").open("Deployment");
                deployments::write_deployment(&mut w, emu, &ctx.subscription, &h, d, &statuses);
                w.close("Deployment").close("Deployments");
            }
            None => {
                w.empty("Deployments");
            }
        }
    }
    Ok(HttpResponse::xml(w.finish("HostedService")))
}

pub fn list(emu: &Arc<Emulator>, ctx: &RequestContext) -> ApiResult {
    let hs: Vec<HostedService> = {
        let st = emu.lock();
        ctx.subscription(&st)?
            .hosted_services
            .values()
            .cloned()
            .collect()
    };
    if hs.is_empty() {
        return Ok(HttpResponse::xml(XmlWriter::empty_document(
            "HostedServices",
        )));
    }
    let mut w = XmlWriter::with_root("HostedServices");
    for h in &hs {
        w.open("HostedService");
        write_service(&mut w, &ctx.subscription, h);
        subscription::write_compute_capabilities(&mut w);
        w.close("HostedService");
    }
    Ok(HttpResponse::xml(w.finish("HostedServices")))
}

pub fn is_available(emu: &Arc<Emulator>, ctx: &RequestContext, name: &str) -> ApiResult {
    if !valid_service_name(name) {
        return Err(ApiError::bad_request("The hosted service name is invalid."));
    }
    let key = name.to_ascii_lowercase();
    let st = emu.lock();
    let mine = ctx.subscription(&st)?.hosted_services.contains_key(&key);
    let elsewhere = st
        .subscriptions
        .values()
        .any(|s| s.hosted_services.contains_key(&key));
    let mut w = XmlWriter::with_root("AvailabilityResponse");
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
    Ok(HttpResponse::xml(w.finish("AvailabilityResponse")))
}

pub fn update(emu: &Arc<Emulator>, ctx: &RequestContext, svc: &str) -> ApiResult {
    let doc = ctx.body_xml()?;
    if doc.local() != "UpdateHostedService" {
        return Err(ApiError::invalid_xml());
    }
    let mut w = doc.walk();
    let label = w.opt_text("Label");
    let description = w.opt_text("Description");
    let ext = properties::parse(w.opt("ExtendedProperties"))?;
    let _ = w.opt("ReverseDnsFqdn");
    w.finish()?;
    let mut st = emu.lock();
    let sub = ctx.subscription_mut(&mut st)?;
    let h = sub
        .hosted_services
        .get_mut(&svc.to_ascii_lowercase())
        .ok_or_else(ApiError::hosted_service_not_found)?;
    if let Some(l) = label {
        h.label = l;
    }
    if description.is_some() {
        h.description = description;
    }
    properties::merge(&mut h.extended_properties, ext);
    h.modified = now_ms();
    emu.register_sync(sub, &ctx.request_id, "UpdateHostedService", 200);
    emu.persist(&st);
    Ok(HttpResponse::empty(200))
}

pub fn delete(emu: &Arc<Emulator>, ctx: &RequestContext, svc: &str) -> ApiResult {
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
    if let Some(op) = h.deployment.as_ref().and_then(|d| d.lock.clone()) {
        return Err(ApiError::deployment_busy(&op));
    }
    if ctx.deletes_media() {
        let dur = emu.latency.scaled(emu.latency.delete_hosted_service_media);
        let mut locks = vec![service_lock(&key)];
        if h.deployment.is_some() {
            locks.push(deployment_lock(&key));
        }
        if let Some(d) = sub
            .hosted_services
            .get_mut(&key)
            .and_then(|h| h.deployment.as_mut())
        {
            d.phase = DeploymentPhase::Deleting;
        }
        emu.begin_operation(
            sub,
            &ctx.request_id,
            NewOperation {
                kind: "DeleteHostedService",
                duration: dur,
                pending: Pending::DeleteHostedService { service: key },
                locks,
                fail_with: None,
            },
        );
        emu.persist(&st);
        return Ok(HttpResponse::empty(202));
    }
    if h.deployment.is_some() {
        return Err(ApiError::conflict(
            "A hosted service cannot be deleted while it still contains deployments.",
        ));
    }
    sub.hosted_services.remove(&key);
    emu.register_sync(sub, &ctx.request_id, "DeleteHostedService", 200);
    emu.persist(&st);
    Ok(HttpResponse::empty(200))
}
