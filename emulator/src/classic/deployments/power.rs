//! Role power operations: Start/Shutdown/Restart Role (`…/roleinstances/{role}/Operations`,
//! Shutdown with `PostShutdownAction` Stopped or StoppedDeallocated) and Reboot/Reimage Role
//! Instance (`?comp=reboot|reimage`, libcloud's reboot), each an asynchronous operation
//! holding the deployment.

use std::sync::Arc;

use super::find::{find_deployment, Which};
use crate::classic::errors::{ApiError, ApiResult};
use crate::classic::request::RequestContext;
use crate::engine::operations::{deployment_lock, NewOperation};
use crate::engine::Emulator;
use crate::http::HttpResponse;
use crate::model::Pending;

pub fn role_operation(
    emu: &Arc<Emulator>,
    ctx: &RequestContext,
    svc: &str,
    dep: &str,
    role: &str,
) -> ApiResult {
    let doc = ctx.body_xml()?;
    let mut w = doc.walk();
    let ty = w.req_text("OperationType")?;
    let post_shutdown = w.opt_text("PostShutdownAction");
    w.finish()?;
    let lat = &emu.latency;
    let (start, seconds) = match (doc.local(), ty.as_str()) {
        ("StartRoleOperation", "StartRoleOperation") => (true, lat.start_role),
        ("RestartRoleOperation", "RestartRoleOperation") => (true, lat.role_power_operation),
        ("ShutdownRoleOperation", "ShutdownRoleOperation") => (false, lat.role_power_operation),
        _ => return Err(ApiError::bad_request("The operation type is not valid.")),
    };
    // Stopped (the default) keeps the VM provisioned; StoppedDeallocated releases it.
    let deallocate = match post_shutdown.as_deref() {
        None | Some("Stopped") => false,
        Some("StoppedDeallocated") => !start,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "The value {other} of PostShutdownAction is not valid; use Stopped or StoppedDeallocated."
            )))
        }
    };
    let key = svc.to_ascii_lowercase();
    let mut st = emu.lock();
    let sub = ctx.subscription_mut(&mut st)?;
    let h = sub
        .hosted_services
        .get(&key)
        .ok_or_else(ApiError::hosted_service_not_found)?;
    let d = find_deployment(h, Which::Name(dep))?;
    let Some(r) = d.roles.iter().find(|r| r.name.eq_ignore_ascii_case(role)) else {
        return Err(ApiError::not_found("Role instance name is not valid."));
    };
    let role_name = r.name.clone();
    if let Some(op) = &d.lock {
        return Err(ApiError::deployment_busy(op));
    }
    emu.begin_operation(
        sub,
        &ctx.request_id,
        NewOperation {
            kind: "RoleOperation",
            duration: emu.latency.scaled(seconds),
            pending: Pending::PowerRole {
                service: key.clone(),
                role: role_name,
                start,
                deallocate,
            },
            locks: vec![deployment_lock(&key)],
            fail_with: None,
        },
    );
    emu.persist(&st);
    Ok(HttpResponse::empty(202))
}

/// `POST …/roleinstances/{role}?comp=reboot|reimage` (libcloud's reboot).
pub fn reboot_instance(
    emu: &Arc<Emulator>,
    ctx: &RequestContext,
    svc: &str,
    dep: &str,
    role: &str,
) -> ApiResult {
    let comp = ctx
        .query_param("comp")
        .unwrap_or_default()
        .to_ascii_lowercase();
    if comp != "reboot" && comp != "reimage" {
        return Err(ApiError::missing_query_parameter());
    }
    let key = svc.to_ascii_lowercase();
    let mut st = emu.lock();
    let sub = ctx.subscription_mut(&mut st)?;
    let h = sub
        .hosted_services
        .get(&key)
        .ok_or_else(ApiError::hosted_service_not_found)?;
    let d = find_deployment(h, Which::Name(dep))?;
    let Some(r) = d.roles.iter().find(|r| r.name.eq_ignore_ascii_case(role)) else {
        return Err(ApiError::not_found("Role instance name is not valid."));
    };
    let role_name = r.name.clone();
    if let Some(op) = &d.lock {
        return Err(ApiError::deployment_busy(op));
    }
    let dur = emu.latency.scaled(emu.latency.role_power_operation);
    emu.begin_operation(
        sub,
        &ctx.request_id,
        NewOperation {
            kind: "RebootRoleInstance",
            duration: dur,
            pending: Pending::PowerRole {
                service: key.clone(),
                role: role_name,
                start: true,
                deallocate: false,
            },
            locks: vec![deployment_lock(&key)],
            fail_with: None,
        },
    );
    emu.persist(&st);
    Ok(HttpResponse::empty(202))
}
