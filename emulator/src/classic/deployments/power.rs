//! Role power operations: Start/Shutdown/Restart Role (`…/roleinstances/{role}/Operations`)
//! and Reboot/Reimage Role Instance (`?comp=reboot|reimage`, libcloud's reboot), each an
//! asynchronous operation holding the deployment.

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
    let _ = w.opt("PostShutdownAction");
    w.finish()?;
    let start = match (doc.local(), ty.as_str()) {
        ("StartRoleOperation", "StartRoleOperation") => true,
        ("RestartRoleOperation", "RestartRoleOperation") => true,
        ("ShutdownRoleOperation", "ShutdownRoleOperation") => false,
        _ => return Err(ApiError::bad_request("The operation type is not valid.")),
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
    let dur = emu.latency.scaled(emu.latency.role_power_operation);
    emu.begin_operation(
        sub,
        &ctx.request_id,
        NewOperation {
            kind: "RoleOperation",
            duration: dur,
            pending: Pending::PowerRole {
                service: key.clone(),
                role: role_name,
                start,
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
            },
            locks: vec![deployment_lock(&key)],
            fail_with: None,
        },
    );
    emu.persist(&st);
    Ok(HttpResponse::empty(202))
}
