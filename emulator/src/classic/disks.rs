//! OS disks: list/get, and delete (refused while attached or leased). Disks are registered
//! by Create Deployment / Add Role and released by the engine's effects, never here.

use std::sync::Arc;

use super::errors::{ApiError, ApiResult};
use super::request::RequestContext;
use crate::engine::Emulator;
use crate::http::HttpResponse;
use crate::model::{iso8601, now_ms, Disk, LeaseState, Millis, Subscription};
use crate::xml::XmlWriter;

fn write_disk(w: &mut XmlWriter, d: &Disk, now: Millis) {
    if let Some(a) = d.attachment(now) {
        w.open("AttachedTo")
            .leaf("DeploymentName", &a.deployment)
            .leaf("HostedServiceName", &a.hosted_service)
            .leaf("RoleName", &a.role)
            .close("AttachedTo");
    }
    w.leaf("OS", &d.os);
    w.leaf("Location", &d.location);
    w.leaf("LogicalDiskSizeInGB", d.size_gb.to_string());
    w.leaf("MediaLink", &d.media_link);
    w.leaf("Name", &d.name);
    w.leaf("SourceImageName", &d.source_image);
    w.leaf("IsPremium", "false");
    w.leaf("CreatedTime", iso8601(d.created));
    w.leaf("IOType", "Standard");
}

pub fn list(emu: &Arc<Emulator>, ctx: &RequestContext) -> ApiResult {
    let st = emu.lock();
    let sub = ctx.subscription(&st)?;
    if sub.disks.is_empty() {
        return Ok(HttpResponse::xml(XmlWriter::empty_document("Disks")));
    }
    let now = now_ms();
    let mut w = XmlWriter::with_root("Disks");
    for d in sub.disks.values() {
        w.open("Disk");
        write_disk(&mut w, d, now);
        w.close("Disk");
    }
    Ok(HttpResponse::xml(w.finish("Disks")))
}

fn find<'a>(sub: &'a Subscription, name: &str) -> Result<&'a Disk, ApiError> {
    sub.disks
        .values()
        .find(|d| d.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| ApiError::not_found("The disk with the specified name does not exist."))
}

pub fn get(emu: &Arc<Emulator>, ctx: &RequestContext, name: &str) -> ApiResult {
    let st = emu.lock();
    let d = find(ctx.subscription(&st)?, name)?;
    let mut w = XmlWriter::with_root("Disk");
    write_disk(&mut w, d, now_ms());
    Ok(HttpResponse::xml(w.finish("Disk")))
}

pub fn delete(emu: &Arc<Emulator>, ctx: &RequestContext, name: &str) -> ApiResult {
    let mut st = emu.lock();
    let sub = ctx.subscription_mut(&mut st)?;
    let d = find(sub, name)?;
    let now = now_ms();
    match d.lease_state(now) {
        LeaseState::Attached => {
            let a = d.attached_to.clone().unwrap_or_default();
            return Err(ApiError::bad_request(format!(
                "A disk with name {} is currently in use by virtual machine {} running within hosted service {}, deployment {}.",
                d.name, a.role, a.hosted_service, a.deployment
            )));
        }
        LeaseState::Leased => {
            let a = d.attached_to.clone().unwrap_or_default();
            return Err(ApiError::conflict(format!(
                "Windows Azure is currently performing an operation on deployment '{}' that requires exclusive access. Please try again later for operation on disk or image '{}' associated with the deployment.",
                a.deployment, d.name
            )));
        }
        LeaseState::Free => {}
    }
    let key = d.name.clone();
    sub.disks.remove(&key);
    emu.register_sync(sub, &ctx.request_id, "DeleteDisk", 200);
    emu.persist(&st);
    Ok(HttpResponse::empty(200))
}
