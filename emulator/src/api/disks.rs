//! OS disks: list/get, and delete (refused while attached or leased, `comp=media` also
//! deletes the blob). Disks are registered by the deployment code, never here.

use std::sync::Arc;

use crate::model::{iso, now_ms, Disk, LeaseState};
use crate::xml::W;

use super::*;

fn write_disk(w: &mut W, d: &Disk, now: i64) {
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
    w.leaf("CreatedTime", iso(d.created));
    w.leaf("IOType", "Standard");
}

pub fn list(emu: &Arc<Emu>, ctx: &Ctx) -> ApiResult {
    let st = emu.lock();
    let sub = sub_ref(&st, ctx)?;
    if sub.disks.is_empty() {
        return Ok(Resp::xml(W::empty_root("Disks")));
    }
    let now = now_ms();
    let mut w = W::root("Disks");
    for d in sub.disks.values() {
        w.open("Disk");
        write_disk(&mut w, d, now);
        w.close("Disk");
    }
    Ok(Resp::xml(w.finish("Disks")))
}

fn find<'a>(sub: &'a crate::model::Subscription, name: &str) -> Result<&'a Disk, ApiError> {
    sub.disks
        .values()
        .find(|d| d.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| ApiError::not_found("The disk with the specified name does not exist."))
}

pub fn get(emu: &Arc<Emu>, ctx: &Ctx, name: &str) -> ApiResult {
    let st = emu.lock();
    let d = find(sub_ref(&st, ctx)?, name)?;
    let mut w = W::root("Disk");
    write_disk(&mut w, d, now_ms());
    Ok(Resp::xml(w.finish("Disk")))
}

pub fn delete(emu: &Arc<Emu>, ctx: &Ctx, name: &str) -> ApiResult {
    let mut st = emu.lock();
    let sub = sub_mut(&mut st, ctx)?;
    let d = find(sub, name)?;
    let now = now_ms();
    match d.lease_state(now) {
        LeaseState::Attached => {
            let a = d.attached_to.clone().unwrap_or_default();
            return Err(ApiError::bad(format!(
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
    Ok(Resp::empty(200))
}
