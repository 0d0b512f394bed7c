//! Create Deployment, Add Role, Delete Role, Delete Deployment, Get Deployment, Get Role:
//! locks and quotas checked, the roles made ready for the backend (OS disk registered,
//! `VmSpec` built), the asynchronous operation begun. The VMs themselves are created by
//! the engine's effects once the operation runs.

use std::net::SocketAddr;
use std::sync::Arc;

use super::addresses::{self, RoleAddresses};
use super::find::{find_deployment, role_not_found, Which, MAX_ROLES};
use super::render;
use super::request::{parse_deployment, parse_role, DeploymentRequest};
use super::validate::{duplicate_port, validate_roles, AuthorizedKeys};
use crate::classic::errors::{ApiError, ApiResult};
use crate::classic::request::RequestContext;
use crate::engine::operations::{deployment_lock, service_lock, NewOperation};
use crate::engine::role_status::vm_statuses;
use crate::engine::Emulator;
use crate::http::HttpResponse;
use crate::ids::new_request_id;
use crate::model::{
    now_ms, os_disk_name, Attachment, Deployment, DeploymentPhase, Disk, HostedService, Pending,
    Role, RolePhase, Subscription,
};
use crate::vm::{EndpointSpec, VmSpec};
use crate::xml::XmlWriter;

/// Where new roles go.
struct Placement<'a> {
    /// The hosted service's key (lower-case name) and the service itself.
    service_key: &'a str,
    service: &'a HostedService,
    deployment: &'a str,
    virtual_network: Option<&'a str>,
}

/// Fill a new role's runtime fields, register its OS disk, build its `VmSpec`.
fn prepare_role(
    emu: &Emulator,
    sub: &mut Subscription,
    place: &Placement<'_>,
    mut role: Role,
    keys: AuthorizedKeys,
    salt: u32,
    addresses: RoleAddresses,
) -> Role {
    let now = now_ms();
    role.phase = RolePhase::Creating;
    role.created = now;
    let mut salt = salt;
    role.os_disk.disk_name = os_disk_name(place.deployment, &role.name, now, salt);
    while sub.disks.contains_key(&role.os_disk.disk_name) {
        salt += 1;
        role.os_disk.disk_name = os_disk_name(place.deployment, &role.name, now, salt);
    }
    let h = place.service;
    sub.disks.insert(
        role.os_disk.disk_name.clone(),
        Disk {
            name: role.os_disk.disk_name.clone(),
            os: "Linux".into(),
            location: h.location.clone().unwrap_or_default(),
            size_gb: 30,
            media_link: role.os_disk.media_link.clone(),
            source_image: role.os_disk.source_image.clone(),
            created: now,
            attached_to: Some(Attachment {
                hosted_service: h.name.clone(),
                deployment: place.deployment.to_string(),
                role: role.name.clone(),
            }),
            detached_at: None,
            lease_until: None,
        },
    );
    let id = format!(
        "{}/{}/{}/{}",
        sub.id, place.service_key, place.deployment, role.name
    );
    let fail_provisioning = emu.faults().vm_fails(&id);
    let mut endpoints: Vec<EndpointSpec> = role
        .endpoints
        .iter()
        .map(|e| EndpointSpec {
            name: e.name.clone(),
            protocol: e.protocol.clone(),
            public: SocketAddr::new(h.vip.into(), e.port),
            local_port: e.local_port,
        })
        .collect();
    if let Some(p) = addresses.public {
        endpoints.extend(addresses::public_endpoints(&role, p));
    }
    role.vm_spec = Some(VmSpec {
        id,
        hostname: role.hostname.clone(),
        user: role.user.clone(),
        password: role.password.clone(),
        disable_ssh_password_authentication: role.disable_ssh_password_authentication,
        authorized_keys: keys,
        image: role.os_disk.source_image.clone(),
        network: match place.virtual_network {
            Some(v) => format!("{}/{}", sub.id, v),
            None => format!("{}/{}", sub.id, place.service_key),
        },
        endpoints,
        wants_public_ip: !role.public_ips.is_empty(),
        role_size: role.role_size.clone(),
        fail_provisioning,
        subnet_address: addresses.subnet,
        public_address: addresses.public,
        custom_data: None,
    });
    role
}

pub fn create(emu: &Arc<Emulator>, ctx: &RequestContext, svc: &str) -> ApiResult {
    let DeploymentRequest {
        name,
        label,
        virtual_network,
        roles,
    } = parse_deployment(&ctx.body_xml()?)?;
    let key = svc.to_ascii_lowercase();
    let mut st = emu.lock();
    let planned = addresses::plan(&st, &ctx.subscription, virtual_network.as_deref(), &roles);
    let sub = ctx.subscription_mut(&mut st)?;
    let h = sub
        .hosted_services
        .get(&key)
        .cloned()
        .ok_or_else(ApiError::hosted_service_not_found)?;
    if h.lock.is_some() {
        return Err(ApiError::service_busy());
    }
    if h.deployment.is_some() {
        return Err(ApiError::conflict(
            "The specified deployment slot Production is occupied.",
        ));
    }
    let keys = validate_roles(emu, sub, &h, virtual_network.as_deref(), &[], &roles)?;
    let planned = planned?;
    let fail_with = duplicate_port(&[], &roles);
    let duration = emu.latency.scaled(emu.latency.create_deployment);
    let now = now_ms();
    let place = Placement {
        service_key: &key,
        service: &h,
        deployment: &name,
        virtual_network: virtual_network.as_deref(),
    };
    let prepared: Vec<Role> = roles
        .into_iter()
        .zip(keys)
        .zip(planned)
        .enumerate()
        .map(|(i, ((role, keys), addr))| prepare_role(emu, sub, &place, role, keys, i as u32, addr))
        .collect();
    if let Some(hm) = sub.hosted_services.get_mut(&key) {
        hm.deployment = Some(Deployment {
            name: name.clone(),
            slot: "Production".into(),
            label,
            private_id: new_request_id(),
            phase: DeploymentPhase::Deploying,
            virtual_network: virtual_network.clone(),
            created: now,
            modified: now,
            roles: prepared,
            lock: None,
        });
    }
    emu.begin_operation(
        sub,
        &ctx.request_id,
        NewOperation {
            kind: "CreateDeployment",
            duration,
            pending: Pending::CreateDeployment {
                service: key.clone(),
            },
            locks: vec![service_lock(&key), deployment_lock(&key)],
            fail_with,
        },
    );
    emu.persist(&st);
    Ok(HttpResponse::empty(202))
}

pub fn add_role(emu: &Arc<Emulator>, ctx: &RequestContext, svc: &str, dep: &str) -> ApiResult {
    let doc = ctx.body_xml()?;
    if doc.local() != "PersistentVMRole" {
        return Err(ApiError::invalid_xml());
    }
    let role = parse_role(&doc)?;
    let key = svc.to_ascii_lowercase();
    let mut st = emu.lock();
    let vnet = ctx
        .subscription(&st)?
        .hosted_services
        .get(&key)
        .and_then(|h| h.deployment.as_ref())
        .and_then(|d| d.virtual_network.clone());
    let planned = addresses::plan(
        &st,
        &ctx.subscription,
        vnet.as_deref(),
        std::slice::from_ref(&role),
    );
    let sub = ctx.subscription_mut(&mut st)?;
    let h = sub
        .hosted_services
        .get(&key)
        .cloned()
        .ok_or_else(ApiError::hosted_service_not_found)?;
    let d = find_deployment(&h, Which::Name(dep))?;
    if let Some(op) = &d.lock {
        return Err(ApiError::deployment_busy(op));
    }
    if h.lock.is_some() {
        return Err(ApiError::service_busy());
    }
    if d.roles.len() + 1 > MAX_ROLES {
        return Err(ApiError::bad_request(format!(
            "A deployment can contain at most {MAX_ROLES} roles."
        )));
    }
    let new_roles = std::slice::from_ref(&role);
    let keys = validate_roles(
        emu,
        sub,
        &h,
        d.virtual_network.as_deref(),
        &d.roles,
        new_roles,
    )?;
    let addr = planned?.into_iter().next().unwrap_or_default();
    let fail_with = duplicate_port(&d.roles, new_roles);
    let duration = emu.latency.scaled(emu.latency.add_role);
    let role_name = role.name.clone();
    let place = Placement {
        service_key: &key,
        service: &h,
        deployment: &d.name,
        virtual_network: d.virtual_network.as_deref(),
    };
    let salt = d.roles.len() as u32;
    let keys = keys.into_iter().next().unwrap_or_default();
    let prepared = prepare_role(emu, sub, &place, role, keys, salt, addr);
    if let Some(d) = sub
        .hosted_services
        .get_mut(&key)
        .and_then(|h| h.deployment.as_mut())
    {
        d.roles.push(prepared);
        d.modified = now_ms();
    }
    emu.begin_operation(
        sub,
        &ctx.request_id,
        NewOperation {
            kind: "AddRole",
            duration,
            pending: Pending::AddRole {
                service: key.clone(),
                role: role_name,
            },
            locks: vec![deployment_lock(&key)],
            fail_with,
        },
    );
    emu.persist(&st);
    Ok(HttpResponse::empty(202))
}

pub fn delete_role(
    emu: &Arc<Emulator>,
    ctx: &RequestContext,
    svc: &str,
    dep: &str,
    role: &str,
) -> ApiResult {
    let key = svc.to_ascii_lowercase();
    let mut st = emu.lock();
    let sub = ctx.subscription_mut(&mut st)?;
    let h = sub
        .hosted_services
        .get(&key)
        .ok_or_else(ApiError::hosted_service_not_found)?;
    let d = find_deployment(h, Which::Name(dep))?;
    let Some(r) = d.roles.iter().find(|r| r.name.eq_ignore_ascii_case(role)) else {
        return Err(role_not_found(role));
    };
    let role_name = r.name.clone();
    if let Some(op) = &d.lock {
        return Err(ApiError::deployment_busy(op));
    }
    if h.lock.is_some() {
        return Err(ApiError::service_busy());
    }
    if d.roles.len() == 1 {
        return Err(ApiError::bad_request(format!(
            "Role {role_name} is the only role present in the deployment and so cannot be removed. Please delete the deployment or add another role before removing this role."
        )));
    }
    if let Some(r) = sub
        .hosted_services
        .get_mut(&key)
        .and_then(|h| h.deployment.as_mut())
        .and_then(|d| d.roles.iter_mut().find(|r| r.name == role_name))
    {
        r.phase = RolePhase::Deleting;
    }
    let dur = emu.latency.scaled(emu.latency.delete_role);
    emu.begin_operation(
        sub,
        &ctx.request_id,
        NewOperation {
            kind: "DeleteRole",
            duration: dur,
            pending: Pending::DeleteRole {
                service: key.clone(),
                role: role_name,
                media: ctx.deletes_media(),
            },
            locks: vec![deployment_lock(&key)],
            fail_with: None,
        },
    );
    emu.persist(&st);
    Ok(HttpResponse::empty(202))
}

pub fn delete(emu: &Arc<Emulator>, ctx: &RequestContext, svc: &str, which: Which<'_>) -> ApiResult {
    let key = svc.to_ascii_lowercase();
    let mut st = emu.lock();
    let sub = ctx.subscription_mut(&mut st)?;
    let h = sub
        .hosted_services
        .get(&key)
        .ok_or_else(ApiError::hosted_service_not_found)?;
    let d = find_deployment(h, which)?;
    if let Some(op) = &d.lock {
        return Err(ApiError::deployment_busy(op));
    }
    if h.lock.is_some() {
        return Err(ApiError::service_busy());
    }
    if let Some(d) = sub
        .hosted_services
        .get_mut(&key)
        .and_then(|h| h.deployment.as_mut())
    {
        d.phase = DeploymentPhase::Deleting;
        for r in d.roles.iter_mut() {
            r.phase = RolePhase::Deleting;
        }
    }
    let dur = emu.latency.scaled(emu.latency.delete_deployment);
    emu.begin_operation(
        sub,
        &ctx.request_id,
        NewOperation {
            kind: "DeleteDeployment",
            duration: dur,
            pending: Pending::DeleteDeployment {
                service: key.clone(),
                media: ctx.deletes_media(),
            },
            locks: vec![service_lock(&key), deployment_lock(&key)],
            fail_with: None,
        },
    );
    emu.persist(&st);
    Ok(HttpResponse::empty(202))
}

pub async fn get(
    emu: &Arc<Emulator>,
    ctx: &RequestContext,
    svc: &str,
    which: Which<'_>,
) -> ApiResult {
    let (h, d) = {
        let st = emu.lock();
        let h = ctx
            .subscription(&st)?
            .hosted_services
            .get(&svc.to_ascii_lowercase())
            .cloned()
            .ok_or_else(ApiError::hosted_service_not_found)?;
        let d = find_deployment(&h, which)?.clone();
        (h, d)
    };
    let statuses = vm_statuses(emu, &d).await;
    let mut w = XmlWriter::with_root("Deployment");
    render::write_deployment(&mut w, emu, &ctx.subscription, &h, &d, &statuses);
    Ok(HttpResponse::xml(w.finish("Deployment")))
}

pub fn get_role(
    emu: &Arc<Emulator>,
    ctx: &RequestContext,
    svc: &str,
    dep: &str,
    role: &str,
) -> ApiResult {
    let st = emu.lock();
    let h = ctx
        .subscription(&st)?
        .hosted_services
        .get(&svc.to_ascii_lowercase())
        .ok_or_else(ApiError::hosted_service_not_found)?;
    let d = find_deployment(h, Which::Name(dep))?;
    let r = d
        .roles
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(role))
        .ok_or_else(|| role_not_found(role))?;
    let mut w = XmlWriter::with_root("PersistentVMRole");
    render::write_role_body(&mut w, h, r);
    Ok(HttpResponse::xml(w.finish("PersistentVMRole")))
}
