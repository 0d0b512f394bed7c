//! VM deployments and roles: Create Deployment, Add/Get/Delete Role, Get/Delete
//! Deployment, role power operations; request validation in Azure's element order; the
//! instance-status progression driven by the backend's VmStatus; OS disk registration and
//! leases. VMs are created and deleted only through the VmBackend.

use std::collections::HashMap;
use std::sync::Arc;

use crate::model::{
    catalog, now_ms, os_disk_name, Attachment, Deployment, DeploymentPhase, Disk, HostedService,
    InputEndpoint, Millis, OpError, OsDisk, Pending, Role, RolePhase, SshKeyRef, Subscription,
};
use crate::tls;
use crate::vm::{EndpointSpec, VmSpec, VmStatus};
use crate::xml::{Node, W};

use super::storage::account_of_media_link;
use super::*;

const MAX_ROLES: usize = 50;

fn no_deployments() -> ApiError {
    ApiError::not_found("No deployments were found.")
}

fn parse_bool(s: &str) -> bool {
    s.eq_ignore_ascii_case("true")
}

fn parse_port(s: &str, what: &str) -> Result<u16, ApiError> {
    s.parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| ApiError::bad(format!("The {what} {s} is not a valid port number.")))
}

fn parse_key_refs(n: Option<&Node>, item: &str) -> Result<Vec<SshKeyRef>, ApiError> {
    let mut v = Vec::new();
    if let Some(n) = n {
        let mut w = n.walk();
        for k in w.many(item) {
            let mut kw = k.walk();
            let fp = kw.opt_text("Fingerprint");
            let path = kw.opt_text("Path");
            match (fp, path) {
                (Some(f), Some(p)) if kw.finish().is_ok() => v.push(SshKeyRef {
                    fingerprint: f.to_ascii_uppercase(),
                    path: p,
                }),
                _ => {
                    let kind = if item == "PublicKey" {
                        "SSHPublicKey"
                    } else {
                        "SSHKeyPair"
                    };
                    return Err(ApiError::bad(format!(
                        "Fingerprint and Path in {kind} should not be null or empty."
                    )));
                }
            }
        }
        w.finish()?;
    }
    Ok(v)
}

/// Parse a `Role` / `PersistentVMRole` element in Azure's order.
pub fn parse_role(n: &Node) -> Result<Role, ApiError> {
    let mut role = Role::default();
    let mut w = n.walk();
    role.name = w.req_text("RoleName")?;
    let _ = w.opt("OsVersion");
    let rt = w.req_text("RoleType")?;
    if rt != "PersistentVMRole" {
        return Err(ApiError::bad(format!(
            "The role type {rt} is not valid. Only PersistentVMRole is supported."
        )));
    }
    let mut have_linux = false;
    if let Some(sets) = w.opt("ConfigurationSets") {
        let mut sw = sets.walk();
        for set in sw.many("ConfigurationSet") {
            let mut cw = set.walk();
            let ty = cw.req_text("ConfigurationSetType")?;
            match ty.as_str() {
                "LinuxProvisioningConfiguration" => {
                    have_linux = true;
                    role.hostname = cw.req_text("HostName")?;
                    role.user = cw.req_text("UserName")?;
                    role.password = cw.opt_text("UserPassword");
                    role.disable_ssh_password_authentication = cw
                        .opt_text("DisableSshPasswordAuthentication")
                        .is_some_and(|v| parse_bool(&v));
                    if let Some(ssh) = cw.opt("SSH") {
                        let mut kw = ssh.walk();
                        role.public_keys = parse_key_refs(kw.opt("PublicKeys"), "PublicKey")?;
                        role.key_pairs = parse_key_refs(kw.opt("KeyPairs"), "KeyPair")?;
                        kw.finish()?;
                    }
                    let _ = cw.opt("CustomData");
                }
                "NetworkConfiguration" => {
                    if let Some(eps) = cw.opt("InputEndpoints") {
                        let mut ew = eps.walk();
                        for ep in ew.many("InputEndpoint") {
                            let mut iw = ep.walk();
                            let lb_set = iw.opt_text("LoadBalancedEndpointSetName");
                            let local = iw.req_text("LocalPort")?;
                            let name = iw.req_text("Name")?;
                            let port = iw.req_text("Port")?;
                            let _ = iw.opt("LoadBalancerProbe");
                            let protocol = iw.req_text("Protocol")?.to_ascii_lowercase();
                            let _ = iw.opt("Vip");
                            let dsr = iw
                                .opt_text("EnableDirectServerReturn")
                                .is_some_and(|v| parse_bool(&v));
                            let _ = iw.opt("EndpointAcl");
                            let _ = iw.opt("LoadBalancerName");
                            let idle = iw
                                .opt_text("IdleTimeoutInMinutes")
                                .and_then(|v| v.parse().ok());
                            iw.finish()?;
                            if protocol != "tcp" && protocol != "udp" {
                                return Err(ApiError::bad(format!(
                                    "The protocol {protocol} of endpoint {name} is not valid; use tcp or udp."
                                )));
                            }
                            role.endpoints.push(InputEndpoint {
                                lb_set,
                                local_port: parse_port(&local, "local port")?,
                                name,
                                port: parse_port(&port, "port")?,
                                protocol,
                                enable_direct_server_return: dsr,
                                idle_timeout: idle,
                            });
                        }
                        ew.finish()?;
                    }
                    if let Some(sn) = cw.opt("SubnetNames") {
                        let mut snw = sn.walk();
                        role.subnet_names = snw
                            .many("SubnetName")
                            .into_iter()
                            .map(|x| x.value().to_string())
                            .collect();
                        snw.finish()?;
                    }
                    role.static_ip = cw.opt_text("StaticVirtualNetworkIPAddress");
                    if let Some(pips) = cw.opt("PublicIPs") {
                        let mut pw = pips.walk();
                        for p in pw.many("PublicIP") {
                            let mut ppw = p.walk();
                            role.public_ips.push(ppw.req_text("Name")?);
                            let _ = ppw.opt("IdleTimeoutInMinutes");
                            let _ = ppw.opt("DomainNameLabel");
                            ppw.finish()?;
                        }
                        pw.finish()?;
                    }
                    let _ = cw.opt("NetworkInterfaces");
                }
                "WindowsProvisioningConfiguration" => {
                    return Err(ApiError::bad(
                        "Windows virtual machines are not supported by this emulator; use a LinuxProvisioningConfiguration.",
                    ))
                }
                other => {
                    return Err(ApiError::bad(format!(
                        "The configuration set type {other} is not valid."
                    )))
                }
            }
            cw.finish()?;
        }
        sw.finish()?;
    }
    let _ = w.opt("ResourceExtensionReferences");
    if w.opt("VMImageName").is_some() {
        return Err(ApiError::bad(
            "VM images are not supported by this emulator; use OSVirtualHardDisk/SourceImageName.",
        ));
    }
    let _ = w.opt("MediaLocation");
    let _ = w.opt("AvailabilitySetName");
    if let Some(dd) = w.opt("DataVirtualHardDisks") {
        if !dd.children.is_empty() {
            return Err(ApiError::bad(
                "Data disks are not supported by this emulator.",
            ));
        }
    }
    let os = w.req("OSVirtualHardDisk")?;
    let mut ow = os.walk();
    let host_caching = ow
        .opt_text("HostCaching")
        .unwrap_or_else(|| "ReadWrite".into());
    let disk_label = ow.opt_text("DiskLabel");
    let disk_name = ow.opt_text("DiskName");
    let media_link = ow.opt_text("MediaLink");
    let source_image = ow.opt_text("SourceImageName");
    let _ = ow.opt("OS");
    let _ = ow.opt("RemoteSourceImageLink");
    let _ = ow.opt("IOType");
    let _ = ow.opt("ResizedSizeInGB");
    ow.finish()?;
    if disk_name.is_some() {
        return Err(ApiError::bad(
            "Attaching an existing OS disk (DiskName) is not supported by this emulator; give MediaLink and SourceImageName.",
        ));
    }
    let (Some(media_link), Some(source_image)) = (media_link, source_image) else {
        return Err(ApiError::bad(
            "OSVirtualHardDisk has a missing, misspelled or out of order element.",
        ));
    };
    role.os_disk = OsDisk {
        host_caching,
        disk_label,
        disk_name: String::new(),
        media_link,
        source_image,
        os: "Linux".into(),
    };
    role.role_size = w.opt_text("RoleSize").unwrap_or_else(|| "Small".into());
    role.provision_guest_agent = w.opt_text("ProvisionGuestAgent").map(|v| parse_bool(&v));
    let _ = w.opt("VMImageInput");
    let _ = w.opt("DebugSettings");
    w.finish()?;
    if !have_linux {
        return Err(ApiError::bad(
            "A LinuxProvisioningConfiguration set is required to create a virtual machine.",
        ));
    }
    Ok(role)
}

/// Checks that need the subscription; returns the converted authorized_keys per role.
#[allow(clippy::too_many_arguments)]
fn validate_roles(
    emu: &Emu,
    sub: &Subscription,
    h: &HostedService,
    vnet: Option<&str>,
    existing: &[Role],
    new: &[Role],
) -> Result<Vec<Vec<(String, String)>>, ApiError> {
    let images: Vec<String> = emu.backend.images().into_iter().map(|i| i.name).collect();
    let site = match vnet {
        Some(v) => Some(
            sub.network
                .as_ref()
                .map(super::network::sites)
                .unwrap_or_default()
                .into_iter()
                .find(|s| s.name.eq_ignore_ascii_case(v))
                .ok_or_else(|| ApiError::bad(format!("The virtual network {v} does not exist.")))?,
        ),
        None => None,
    };
    let mut keys = Vec::new();
    let mut names: Vec<String> = existing
        .iter()
        .map(|r| r.name.to_ascii_lowercase())
        .collect();
    let mut links: Vec<String> = sub
        .disks
        .values()
        .map(|d| d.media_link.to_ascii_lowercase())
        .collect();
    for r in new {
        if r.name.is_empty() || r.name.len() > 64 {
            return Err(ApiError::bad(format!(
                "The role name {} is not valid.",
                r.name
            )));
        }
        if names.contains(&r.name.to_ascii_lowercase()) {
            return Err(ApiError::conflict(format!(
                "A role named {} already exists in the deployment.",
                r.name
            )));
        }
        names.push(r.name.to_ascii_lowercase());
        if catalog::role_size(&r.role_size).is_none() {
            return Err(ApiError::bad(format!(
                "The value '{}' for RoleSize is not valid.",
                r.role_size
            )));
        }
        if !images.contains(&r.os_disk.source_image) {
            return Err(ApiError::bad(format!(
                "The image {} does not exist.",
                r.os_disk.source_image
            )));
        }
        let sa = account_of_media_link(&r.os_disk.media_link).ok_or_else(|| {
            ApiError::bad(format!(
                "The MediaLink {} is not a valid blob URL.",
                r.os_disk.media_link
            ))
        })?;
        if !sub.storage_accounts.contains_key(&sa) {
            return Err(ApiError::bad(format!(
                "The storage account '{sa}' was not found."
            )));
        }
        let link = r.os_disk.media_link.to_ascii_lowercase();
        if links.contains(&link) {
            return Err(ApiError::conflict(format!(
                "A lease conflict occurred with the blob {}.",
                r.os_disk.media_link
            )));
        }
        links.push(link);
        match &site {
            Some(s) => {
                for sn in &r.subnet_names {
                    if !s.subnets.iter().any(|(n, _)| n.eq_ignore_ascii_case(sn)) {
                        return Err(ApiError::bad(format!(
                            "The subnet {sn} does not exist in virtual network {}.",
                            s.name
                        )));
                    }
                }
            }
            None => {
                if !r.subnet_names.is_empty() {
                    return Err(ApiError::bad(
                        "Subnets can only be given for a deployment in a virtual network.",
                    ));
                }
            }
        }
        let mut lines = Vec::new();
        for k in &r.public_keys {
            let cert = h
                .certificates
                .iter()
                .find(|c| c.thumbprint.eq_ignore_ascii_case(&k.fingerprint))
                .ok_or_else(|| {
                    ApiError::bad(format!(
                        "The certificate with thumbprint {} was not found.",
                        k.fingerprint
                    ))
                })?;
            let line = b64_decode(&cert.data)
                .and_then(|d| openssl::x509::X509::from_der(&d).ok())
                .and_then(|c| tls::ssh_public_key(&c))
                .ok_or_else(|| {
                    ApiError::bad(format!(
                        "The certificate with thumbprint {} does not hold an RSA public key.",
                        k.fingerprint
                    ))
                })?;
            lines.push((line, k.path.clone()));
        }
        for k in &r.key_pairs {
            if !h
                .certificates
                .iter()
                .any(|c| c.thumbprint.eq_ignore_ascii_case(&k.fingerprint))
            {
                return Err(ApiError::bad(format!(
                    "The certificate with thumbprint {} was not found.",
                    k.fingerprint
                )));
            }
        }
        keys.push(lines);
    }
    let inc: u32 = new
        .iter()
        .map(|r| catalog::role_size(&r.role_size).map(|s| s.1).unwrap_or(1))
        .sum();
    let current = sub.cores_in_use();
    if current + inc > emu.quotas.max_cores {
        return Err(quota_error(
            "cores count",
            emu.quotas.max_cores,
            current,
            inc,
        ));
    }
    Ok(keys)
}

/// Duplicate public ports fail the operation like Azure.
fn duplicate_port(existing: &[Role], new: &[Role]) -> Option<OpError> {
    let mut seen: Vec<(u16, String)> = Vec::new();
    for r in existing.iter().chain(new.iter()) {
        for e in &r.endpoints {
            let k = (e.port, e.protocol.clone());
            if seen.contains(&k) {
                return Some(ApiError::bad(format!("Port {} is already in use by one of the endpoints in this deployment. Ensure that the port numbers are unique across endpoints within a deployment.", e.port)).op_error());
            }
            seen.push(k);
        }
    }
    None
}

/// Fill runtime fields, register the OS disk, build the VmSpec.
#[allow(clippy::too_many_arguments)]
fn prepare_role(
    emu: &Emu,
    sub: &mut Subscription,
    h_key: &str,
    h: &HostedService,
    dep: &str,
    vnet: Option<&str>,
    mut r: Role,
    keys: Vec<(String, String)>,
    op_ms: i64,
    salt: u32,
) -> Role {
    let now = now_ms();
    r.phase = RolePhase::Creating;
    r.created = now;
    r.op_duration_ms = op_ms;
    let mut salt = salt;
    r.os_disk.disk_name = os_disk_name(dep, &r.name, now, salt);
    while sub.disks.contains_key(&r.os_disk.disk_name) {
        salt += 1;
        r.os_disk.disk_name = os_disk_name(dep, &r.name, now, salt);
    }
    sub.disks.insert(
        r.os_disk.disk_name.clone(),
        Disk {
            name: r.os_disk.disk_name.clone(),
            os: "Linux".into(),
            location: h.location.clone().unwrap_or_default(),
            size_gb: 30,
            media_link: r.os_disk.media_link.clone(),
            source_image: r.os_disk.source_image.clone(),
            created: now,
            attached_to: Some(Attachment {
                hosted_service: h.name.clone(),
                deployment: dep.to_string(),
                role: r.name.clone(),
            }),
            detached_at: None,
            lease_until: None,
        },
    );
    let id = format!("{}/{}/{}/{}", sub.id, h_key, dep, r.name);
    let fail = emu.faults().vm_fails(&id);
    r.vm_spec = Some(VmSpec {
        id,
        hostname: r.hostname.clone(),
        user: r.user.clone(),
        password: r.password.clone(),
        disable_ssh_password_authentication: r.disable_ssh_password_authentication,
        authorized_keys: keys,
        image: r.os_disk.source_image.clone(),
        network: match vnet {
            Some(v) => format!("{}/{}", sub.id, v),
            None => format!("{}/{}", sub.id, h_key),
        },
        endpoints: r
            .endpoints
            .iter()
            .map(|e| EndpointSpec {
                name: e.name.clone(),
                protocol: e.protocol.clone(),
                public: std::net::SocketAddr::new(h.vip.into(), e.port),
                local_port: e.local_port,
            })
            .collect(),
        wants_public_ip: !r.public_ips.is_empty(),
        role_size: r.role_size.clone(),
        fail_provisioning: fail,
    });
    r
}

pub fn create(emu: &Arc<Emu>, ctx: &Ctx, svc: &str) -> ApiResult {
    let doc = ctx.body_xml()?;
    if doc.local() != "Deployment" {
        return Err(ApiError::invalid_xml());
    }
    let mut w = doc.walk();
    let name = w.req_text("Name")?;
    let slot = w.req_text("DeploymentSlot")?;
    let label = w.req_text("Label")?;
    let rl = w.req("RoleList")?;
    let vnet = w.opt_text("VirtualNetworkName");
    let _ = w.opt("Dns");
    let _ = w.opt("ReservedIPName");
    let _ = w.opt("LoadBalancers");
    let _ = w.opt("ReservedIPName");
    w.finish()?;
    let mut roles = Vec::new();
    let mut rw = rl.walk();
    for r in rw.many("Role") {
        roles.push(parse_role(r)?);
    }
    rw.finish()?;
    if roles.is_empty() {
        return Err(ApiError::bad(
            "RoleList has a missing, misspelled or out of order element.",
        ));
    }
    if !slot.eq_ignore_ascii_case("production") {
        return Err(ApiError::bad(
            "Virtual machine deployments can only be created in the Production slot.",
        ));
    }
    if roles.len() > MAX_ROLES {
        return Err(ApiError::bad(format!(
            "A deployment can contain at most {MAX_ROLES} roles."
        )));
    }
    let key = svc.to_ascii_lowercase();
    let mut st = emu.lock();
    let sub = sub_mut(&mut st, ctx)?;
    let h = sub
        .hosted_services
        .get(&key)
        .cloned()
        .ok_or_else(super::services::not_found)?;
    if h.lock.is_some() {
        return Err(busy_service());
    }
    if h.deployment.is_some() {
        return Err(ApiError::conflict(
            "The specified deployment slot Production is occupied.",
        ));
    }
    let keys = validate_roles(emu, sub, &h, vnet.as_deref(), &[], &roles)?;
    let fail = duplicate_port(&[], &roles);
    let dur = emu.latency.d(emu.latency.create_deployment);
    let now = now_ms();
    let prepared: Vec<Role> = roles
        .into_iter()
        .zip(keys)
        .enumerate()
        .map(|(i, (r, k))| {
            prepare_role(
                emu,
                sub,
                &key,
                &h,
                &name,
                vnet.as_deref(),
                r,
                k,
                dur.as_millis() as i64,
                i as u32,
            )
        })
        .collect();
    let private_id = new_request_id();
    if let Some(hm) = sub.hosted_services.get_mut(&key) {
        hm.deployment = Some(Deployment {
            name: name.clone(),
            slot: "Production".into(),
            label,
            private_id,
            phase: DeploymentPhase::Deploying,
            virtual_network: vnet.clone(),
            created: now,
            modified: now,
            roles: prepared,
            lock: None,
        });
    }
    emu.begin_op(
        sub,
        &ctx.request_id,
        "CreateDeployment",
        dur,
        Pending::CreateDeployment {
            service: key.clone(),
        },
        vec![format!("hs:{key}"), format!("dep:{key}")],
        fail,
    );
    emu.persist(&st);
    Ok(Resp::empty(202))
}

/// Find the deployment by name (or slot) with Azure's 404 wording.
fn find_dep<'a>(
    h: &'a HostedService,
    name: Option<&str>,
    slot: Option<&str>,
) -> Result<&'a Deployment, ApiError> {
    let d = h.deployment.as_ref().ok_or_else(no_deployments)?;
    if let Some(n) = name {
        if !d.name.eq_ignore_ascii_case(n) {
            return Err(ApiError::not_found(format!(
                "The deployment name '{n}' does not exist."
            )));
        }
    }
    if let Some(s) = slot {
        if !s.eq_ignore_ascii_case("production") {
            return Err(no_deployments());
        }
    }
    Ok(d)
}

pub fn add_role(emu: &Arc<Emu>, ctx: &Ctx, svc: &str, dep: &str) -> ApiResult {
    let doc = ctx.body_xml()?;
    if doc.local() != "PersistentVMRole" {
        return Err(ApiError::invalid_xml());
    }
    let role = parse_role(&doc)?;
    let key = svc.to_ascii_lowercase();
    let mut st = emu.lock();
    let sub = sub_mut(&mut st, ctx)?;
    let h = sub
        .hosted_services
        .get(&key)
        .cloned()
        .ok_or_else(super::services::not_found)?;
    let d = find_dep(&h, Some(dep), None)?;
    if let Some(op) = &d.lock {
        return Err(busy_deployment(op));
    }
    if h.lock.is_some() {
        return Err(busy_service());
    }
    if d.roles.len() + 1 > MAX_ROLES {
        return Err(ApiError::bad(format!(
            "A deployment can contain at most {MAX_ROLES} roles."
        )));
    }
    let keys = validate_roles(
        emu,
        sub,
        &h,
        d.virtual_network.as_deref(),
        &d.roles,
        std::slice::from_ref(&role),
    )?;
    let fail = duplicate_port(&d.roles, std::slice::from_ref(&role));
    let dur = emu.latency.d(emu.latency.add_role);
    let role_name = role.name.clone();
    let dep_name = d.name.clone();
    let vnet = d.virtual_network.clone();
    let salt = d.roles.len() as u32;
    let prepared = prepare_role(
        emu,
        sub,
        &key,
        &h,
        &dep_name,
        vnet.as_deref(),
        role,
        keys.into_iter().next().unwrap_or_default(),
        dur.as_millis() as i64,
        salt,
    );
    if let Some(d) = sub
        .hosted_services
        .get_mut(&key)
        .and_then(|h| h.deployment.as_mut())
    {
        d.roles.push(prepared);
        d.modified = now_ms();
    }
    emu.begin_op(
        sub,
        &ctx.request_id,
        "AddRole",
        dur,
        Pending::AddRole {
            service: key.clone(),
            role: role_name,
        },
        vec![format!("dep:{key}")],
        fail,
    );
    emu.persist(&st);
    Ok(Resp::empty(202))
}

pub fn delete_role(emu: &Arc<Emu>, ctx: &Ctx, svc: &str, dep: &str, role: &str) -> ApiResult {
    let key = svc.to_ascii_lowercase();
    let mut st = emu.lock();
    let sub = sub_mut(&mut st, ctx)?;
    let h = sub
        .hosted_services
        .get(&key)
        .ok_or_else(super::services::not_found)?;
    let d = find_dep(h, Some(dep), None)?;
    let Some(r) = d.roles.iter().find(|r| r.name.eq_ignore_ascii_case(role)) else {
        return Err(ApiError::not_found(format!(
            "Role {role} was not found in the currently deployed service."
        )));
    };
    let role_name = r.name.clone();
    if let Some(op) = &d.lock {
        return Err(busy_deployment(op));
    }
    if h.lock.is_some() {
        return Err(busy_service());
    }
    if d.roles.len() == 1 {
        return Err(ApiError::bad(
            "The role cannot be deleted because it is the only role of the deployment. Delete the deployment instead.",
        ));
    }
    if let Some(r) = sub
        .hosted_services
        .get_mut(&key)
        .and_then(|h| h.deployment.as_mut())
        .and_then(|d| d.roles.iter_mut().find(|r| r.name == role_name))
    {
        r.phase = RolePhase::Deleting;
    }
    let dur = emu.latency.d(emu.latency.delete_role);
    emu.begin_op(
        sub,
        &ctx.request_id,
        "DeleteRole",
        dur,
        Pending::DeleteRole {
            service: key.clone(),
            role: role_name,
            media: ctx.comp_media(),
        },
        vec![format!("dep:{key}")],
        None,
    );
    emu.persist(&st);
    Ok(Resp::empty(202))
}

pub fn delete(
    emu: &Arc<Emu>,
    ctx: &Ctx,
    svc: &str,
    name: Option<&str>,
    slot: Option<&str>,
) -> ApiResult {
    let key = svc.to_ascii_lowercase();
    let mut st = emu.lock();
    let sub = sub_mut(&mut st, ctx)?;
    let h = sub
        .hosted_services
        .get(&key)
        .ok_or_else(super::services::not_found)?;
    let d = find_dep(h, name, slot)?;
    if let Some(op) = &d.lock {
        return Err(busy_deployment(op));
    }
    if h.lock.is_some() {
        return Err(busy_service());
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
    let dur = emu.latency.d(emu.latency.delete_deployment);
    emu.begin_op(
        sub,
        &ctx.request_id,
        "DeleteDeployment",
        dur,
        Pending::DeleteDeployment {
            service: key.clone(),
            media: ctx.comp_media(),
        },
        vec![format!("hs:{key}"), format!("dep:{key}")],
        None,
    );
    emu.persist(&st);
    Ok(Resp::empty(202))
}

pub fn role_operation(emu: &Arc<Emu>, ctx: &Ctx, svc: &str, dep: &str, role: &str) -> ApiResult {
    let doc = ctx.body_xml()?;
    let mut w = doc.walk();
    let ty = w.req_text("OperationType")?;
    let _ = w.opt("PostShutdownAction");
    w.finish()?;
    let start = match (doc.local(), ty.as_str()) {
        ("StartRoleOperation", "StartRoleOperation") => true,
        ("RestartRoleOperation", "RestartRoleOperation") => true,
        ("ShutdownRoleOperation", "ShutdownRoleOperation") => false,
        _ => return Err(ApiError::bad("The operation type is not valid.")),
    };
    let key = svc.to_ascii_lowercase();
    let mut st = emu.lock();
    let sub = sub_mut(&mut st, ctx)?;
    let h = sub
        .hosted_services
        .get(&key)
        .ok_or_else(super::services::not_found)?;
    let d = find_dep(h, Some(dep), None)?;
    let Some(r) = d.roles.iter().find(|r| r.name.eq_ignore_ascii_case(role)) else {
        return Err(ApiError::not_found("Role instance name is not valid."));
    };
    let role_name = r.name.clone();
    if let Some(op) = &d.lock {
        return Err(busy_deployment(op));
    }
    let dur = emu.latency.d(emu.latency.role_power_operation);
    emu.begin_op(
        sub,
        &ctx.request_id,
        "RoleOperation",
        dur,
        Pending::PowerRole {
            service: key.clone(),
            role: role_name,
            start,
        },
        vec![format!("dep:{key}")],
        None,
    );
    emu.persist(&st);
    Ok(Resp::empty(202))
}

/// `POST …/roleinstances/{role}?comp=reboot|reimage` (libcloud's reboot).
pub fn reboot_instance(emu: &Arc<Emu>, ctx: &Ctx, svc: &str, dep: &str, role: &str) -> ApiResult {
    let comp = ctx.q("comp").unwrap_or_default().to_ascii_lowercase();
    if comp != "reboot" && comp != "reimage" {
        return Err(ApiError::new(
            400,
            "MissingOrInvalidRequiredQueryParameter",
            "A required query parameter was not specified for this request or was specified incorrectly.",
        ));
    }
    let key = svc.to_ascii_lowercase();
    let mut st = emu.lock();
    let sub = sub_mut(&mut st, ctx)?;
    let h = sub
        .hosted_services
        .get(&key)
        .ok_or_else(super::services::not_found)?;
    let d = find_dep(h, Some(dep), None)?;
    let Some(r) = d.roles.iter().find(|r| r.name.eq_ignore_ascii_case(role)) else {
        return Err(ApiError::not_found("Role instance name is not valid."));
    };
    let role_name = r.name.clone();
    if let Some(op) = &d.lock {
        return Err(busy_deployment(op));
    }
    let dur = emu.latency.d(emu.latency.role_power_operation);
    emu.begin_op(
        sub,
        &ctx.request_id,
        "RebootRoleInstance",
        dur,
        Pending::PowerRole {
            service: key.clone(),
            role: role_name,
            start: true,
        },
        vec![format!("dep:{key}")],
        None,
    );
    emu.persist(&st);
    Ok(Resp::empty(202))
}

/// Create (through the backend) the VMs of a Create Deployment / Add Role operation that
/// have no VM yet. Called before the operation's modelled duration elapses.
pub async fn create_pending_vms(emu: &Arc<Emu>, sub_id: &str, op_id: &str) {
    let specs: Vec<(String, String, VmSpec)> = {
        let st = emu.lock();
        let Some(sub) = st.subscriptions.get(sub_id) else {
            return;
        };
        let Some(op) = sub.operations.get(op_id) else {
            return;
        };
        if op.fail_with.is_some() {
            return;
        }
        let (svc, only) = match &op.pending {
            Some(Pending::CreateDeployment { service }) => (service.clone(), None),
            Some(Pending::AddRole { service, role }) => (service.clone(), Some(role.clone())),
            _ => return,
        };
        let Some(d) = sub
            .hosted_services
            .get(&svc)
            .and_then(|h| h.deployment.as_ref())
        else {
            return;
        };
        d.roles
            .iter()
            .filter(|r| r.vm.is_none() && only.as_ref().is_none_or(|o| *o == r.name))
            .filter_map(|r| r.vm_spec.clone().map(|s| (svc.clone(), r.name.clone(), s)))
            .collect()
    };
    for (svc, role, spec) in specs {
        let res = emu.backend.create(&spec).await;
        let mut st = emu.lock();
        let Some(sub) = st.subscriptions.get_mut(sub_id) else {
            return;
        };
        match res {
            Ok(info) => {
                if let Some(r) = sub
                    .hosted_services
                    .get_mut(&svc)
                    .and_then(|h| h.deployment.as_mut())
                    .and_then(|d| d.roles.iter_mut().find(|r| r.name == role))
                {
                    r.vm = Some(info);
                }
                emu.persist(&st);
            }
            Err(e) => {
                tracing::error!("backend could not create VM {}: {e}", spec.id);
                if let Some(op) = sub.operations.get_mut(op_id) {
                    op.fail_with = Some(OpError {
                        http_status: 500,
                        code: "InternalError".into(),
                        message: format!(
                            "The server encountered an internal error. Please retry the request. (VM backend: {e})"
                        ),
                    });
                }
                emu.persist(&st);
                return;
            }
        }
    }
}

fn release_disk(sub: &mut Subscription, r: &Role, media: bool, now: Millis, emu: &Emu) {
    if media {
        sub.disks.remove(&r.os_disk.disk_name);
    } else if let Some(d) = sub.disks.get_mut(&r.os_disk.disk_name) {
        let detach = now + emu.latency.d(emu.latency.disk_detach).as_millis() as i64;
        d.detached_at = Some(detach);
        d.lease_until =
            Some(detach + emu.latency.d(emu.latency.disk_lease_release).as_millis() as i64);
    }
}

fn vm_id(r: &Role) -> Option<String> {
    r.vm_spec.as_ref().map(|s| s.id.clone())
}

pub fn apply(emu: &Emu, sub: &mut Subscription, p: &Pending, now: Millis, after: &mut Vec<After>) {
    match p {
        Pending::CreateDeployment { service } => {
            if let Some(d) = sub
                .hosted_services
                .get_mut(service)
                .and_then(|h| h.deployment.as_mut())
            {
                d.phase = DeploymentPhase::Running;
                d.modified = now;
                for r in d.roles.iter_mut() {
                    r.phase = RolePhase::Running;
                    r.ready_from = Some(now);
                }
            }
        }
        Pending::AddRole { service, role } => {
            if let Some(r) = sub
                .hosted_services
                .get_mut(service)
                .and_then(|h| h.deployment.as_mut())
                .and_then(|d| d.roles.iter_mut().find(|r| &r.name == role))
            {
                r.phase = RolePhase::Running;
                r.ready_from = Some(now);
            }
        }
        Pending::DeleteRole {
            service,
            role,
            media,
        } => {
            let removed = sub
                .hosted_services
                .get_mut(service)
                .and_then(|h| h.deployment.as_mut())
                .and_then(|d| {
                    d.modified = now;
                    let i = d.roles.iter().position(|r| &r.name == role)?;
                    Some(d.roles.remove(i))
                });
            if let Some(r) = removed {
                release_disk(sub, &r, *media, now, emu);
                if let Some(id) = vm_id(&r) {
                    after.push(After::DeleteVm(id));
                }
            }
        }
        Pending::DeleteDeployment { service, media } => {
            let d = sub
                .hosted_services
                .get_mut(service)
                .and_then(|h| h.deployment.take());
            if let Some(d) = d {
                for r in &d.roles {
                    release_disk(sub, r, *media, now, emu);
                    if let Some(id) = vm_id(r) {
                        after.push(After::DeleteVm(id));
                    }
                }
            }
        }
        Pending::DeleteHostedService { service } => {
            if let Some(h) = sub.hosted_services.remove(service) {
                if let Some(d) = h.deployment {
                    for r in &d.roles {
                        release_disk(sub, r, true, now, emu);
                        if let Some(id) = vm_id(r) {
                            after.push(After::DeleteVm(id));
                        }
                    }
                }
            }
        }
        Pending::PowerRole {
            service,
            role,
            start,
        } => {
            if let Some(r) = sub
                .hosted_services
                .get_mut(service)
                .and_then(|h| h.deployment.as_mut())
                .and_then(|d| d.roles.iter_mut().find(|r| &r.name == role))
            {
                if let Some(id) = vm_id(r) {
                    if *start {
                        r.phase = RolePhase::Running;
                        r.ready_from = Some(now);
                        after.push(After::StartVm(id));
                    } else {
                        r.phase = RolePhase::Stopped;
                        after.push(After::StopVm(id));
                    }
                }
            }
        }
        _ => {}
    }
}

pub fn rollback(sub: &mut Subscription, p: &Pending, after: &mut Vec<After>) {
    match p {
        Pending::CreateDeployment { service } => {
            let d = sub
                .hosted_services
                .get_mut(service)
                .and_then(|h| h.deployment.take());
            if let Some(d) = d {
                for r in &d.roles {
                    sub.disks.remove(&r.os_disk.disk_name);
                    if let Some(id) = vm_id(r) {
                        after.push(After::DeleteVm(id));
                    }
                }
            }
        }
        Pending::AddRole { service, role } => {
            let removed = sub
                .hosted_services
                .get_mut(service)
                .and_then(|h| h.deployment.as_mut())
                .and_then(|d| {
                    let i = d.roles.iter().position(|r| &r.name == role)?;
                    Some(d.roles.remove(i))
                });
            if let Some(r) = removed {
                sub.disks.remove(&r.os_disk.disk_name);
                if let Some(id) = vm_id(&r) {
                    after.push(After::DeleteVm(id));
                }
            }
        }
        Pending::DeleteRole { service, .. }
        | Pending::DeleteDeployment { service, .. }
        | Pending::DeleteHostedService { service } => {
            if let Some(d) = sub
                .hosted_services
                .get_mut(service)
                .and_then(|h| h.deployment.as_mut())
            {
                d.phase = DeploymentPhase::Running;
                for r in d.roles.iter_mut() {
                    if r.phase == RolePhase::Deleting {
                        r.phase = RolePhase::Running;
                    }
                }
            }
        }
        _ => {}
    }
}

/// Azure's (InstanceStatus, PowerState) for a role now.
pub fn instance_status(
    emu: &Emu,
    r: &Role,
    vm: &VmStatus,
    now: Millis,
) -> (&'static str, &'static str) {
    match r.phase {
        RolePhase::Creating => {
            if now < r.created + r.op_duration_ms / 2 {
                ("CreatingVM", "Starting")
            } else {
                ("StartingVM", "Starting")
            }
        }
        RolePhase::Deleting => ("StoppingVM", "Stopping"),
        RolePhase::Stopped => ("StoppedVM", "Stopped"),
        RolePhase::Running => {
            let boot = emu.latency.d(emu.latency.role_boot).as_millis() as i64;
            let elapsed = now - r.ready_from.unwrap_or(r.created);
            match vm {
                VmStatus::Stopped => ("StoppedVM", "Stopped"),
                _ if elapsed < boot / 3 => ("RoleStateUnknown", "Starting"),
                VmStatus::Ready if elapsed >= boot => ("ReadyRole", "Started"),
                VmStatus::Failed(_) if elapsed >= boot => ("ProvisioningFailed", "Started"),
                VmStatus::Unknown if elapsed >= boot => ("RoleStateUnknown", "Unknown"),
                _ => ("Provisioning", "Started"),
            }
        }
    }
}

fn short_hash(s: &str) -> String {
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in s.bytes() {
        h ^= b as u128;
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    format!("{h:032x}")
}

fn cscfg(d: &Deployment) -> String {
    let mut s = String::from("<ServiceConfiguration xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"http://schemas.microsoft.com/ServiceHosting/2008/10/ServiceConfiguration\">\r\n");
    for r in &d.roles {
        s.push_str(&format!(
            "  <Role name=\"{}\">\r\n    <Instances count=\"1\" />\r\n  </Role>\r\n",
            crate::xml::escape_attr(&r.name)
        ));
    }
    s.push_str("</ServiceConfiguration>");
    b64(&s)
}

/// Backend status of every role (queried outside the state lock).
pub async fn vm_statuses(emu: &Emu, d: &Deployment) -> HashMap<String, VmStatus> {
    let mut m = HashMap::new();
    for r in &d.roles {
        if let (Some(spec), Some(_)) = (&r.vm_spec, &r.vm) {
            m.insert(r.name.clone(), emu.backend.status(&spec.id).await);
        }
    }
    m
}

/// The role element body (shared by Get Deployment's RoleList and Get Role).
fn write_role_body(w: &mut W, h: &HostedService, r: &Role) {
    w.leaf("RoleName", &r.name);
    w.empty("OsVersion");
    w.leaf("RoleType", "PersistentVMRole");
    w.open("ConfigurationSets");
    w.open_typed("ConfigurationSet", "NetworkConfigurationSet");
    w.leaf("ConfigurationSetType", "NetworkConfiguration");
    if !r.endpoints.is_empty() {
        w.open("InputEndpoints");
        for e in &r.endpoints {
            w.open("InputEndpoint");
            w.leaf_opt("LoadBalancedEndpointSetName", e.lb_set.as_deref());
            w.leaf("LocalPort", e.local_port.to_string());
            w.leaf("Name", &e.name);
            w.leaf("Port", e.port.to_string());
            w.leaf("Protocol", &e.protocol);
            w.leaf("Vip", h.vip.to_string());
            w.leaf(
                "EnableDirectServerReturn",
                if e.enable_direct_server_return {
                    "true"
                } else {
                    "false"
                },
            );
            if let Some(t) = e.idle_timeout {
                w.leaf("IdleTimeoutInMinutes", t.to_string());
            }
            w.close("InputEndpoint");
        }
        w.close("InputEndpoints");
    }
    if r.subnet_names.is_empty() {
        w.empty("SubnetNames");
    } else {
        w.open("SubnetNames");
        for s in &r.subnet_names {
            w.leaf("SubnetName", s);
        }
        w.close("SubnetNames");
    }
    w.leaf_opt("StaticVirtualNetworkIPAddress", r.static_ip.as_deref());
    if !r.public_ips.is_empty() {
        w.open("PublicIPs");
        for p in &r.public_ips {
            w.open("PublicIP").leaf("Name", p).close("PublicIP");
        }
        w.close("PublicIPs");
    }
    w.close("ConfigurationSet");
    w.close("ConfigurationSets");
    w.empty("ResourceExtensionReferences");
    w.empty("DataVirtualHardDisks");
    w.open("OSVirtualHardDisk");
    w.leaf("HostCaching", &r.os_disk.host_caching);
    w.leaf_opt("DiskLabel", r.os_disk.disk_label.as_deref());
    w.leaf("DiskName", &r.os_disk.disk_name);
    w.leaf("MediaLink", &r.os_disk.media_link);
    w.leaf("SourceImageName", &r.os_disk.source_image);
    w.leaf("OS", &r.os_disk.os);
    w.close("OSVirtualHardDisk");
    w.leaf("RoleSize", &r.role_size);
    w.leaf(
        "ProvisionGuestAgent",
        if r.provision_guest_agent.unwrap_or(true) {
            "true"
        } else {
            "false"
        },
    );
}

/// Render `<Deployment>` (with namespaces when `root`).
pub async fn render_deployment(
    emu: &Emu,
    sub: &str,
    h: &HostedService,
    d: &Deployment,
    root: bool,
) -> String {
    let statuses = vm_statuses(emu, d).await;
    let now = now_ms();
    let mut w = if root {
        W::root("Deployment")
    } else {
        let mut w = W::default();
        w.open("Deployment");
        w
    };
    w.leaf("Name", &d.name);
    w.leaf("DeploymentSlot", &d.slot);
    w.leaf("PrivateID", &d.private_id);
    let all_stopped = !d.roles.is_empty() && d.roles.iter().all(|r| r.phase == RolePhase::Stopped);
    w.leaf(
        "Status",
        match d.phase {
            DeploymentPhase::Deploying => "Deploying",
            DeploymentPhase::Deleting => "Deleting",
            DeploymentPhase::Running if all_stopped => "Suspended",
            DeploymentPhase::Running => "Running",
        },
    );
    w.leaf("Label", b64(&d.label));
    w.leaf("Url", format!("http://{}.cloudapp.net/", h.name));
    w.leaf("Configuration", cscfg(d));
    if d.roles.is_empty() {
        w.empty("RoleInstanceList");
    } else {
        w.open("RoleInstanceList");
        for r in &d.roles {
            let vm = statuses.get(&r.name).cloned().unwrap_or(VmStatus::Booting);
            let (status, power) = instance_status(emu, r, &vm, now);
            let ready = status == "ReadyRole";
            let show_ip = r.vm.is_some() && status != "CreatingVM";
            w.open("RoleInstance");
            w.leaf("RoleName", &r.name);
            w.leaf("InstanceName", &r.name);
            w.leaf("InstanceStatus", status);
            w.leaf("InstanceUpgradeDomain", "0");
            w.leaf("InstanceFaultDomain", "0");
            w.leaf("InstanceSize", &r.role_size);
            match &vm {
                VmStatus::Failed(m) if status == "ProvisioningFailed" => {
                    w.leaf("InstanceStateDetails", format!("Provisioning failed. {m}"))
                }
                _ => w.empty("InstanceStateDetails"),
            };
            if show_ip {
                if let Some(info) = &r.vm {
                    w.leaf("IpAddress", info.private_ip.to_string());
                }
                if !r.endpoints.is_empty() {
                    w.open("InstanceEndpoints");
                    for e in &r.endpoints {
                        w.open("InstanceEndpoint")
                            .leaf("Name", &e.name)
                            .leaf("Vip", h.vip.to_string())
                            .leaf("PublicPort", e.port.to_string())
                            .leaf("LocalPort", e.local_port.to_string())
                            .leaf("Protocol", &e.protocol)
                            .close("InstanceEndpoint");
                    }
                    w.close("InstanceEndpoints");
                }
            }
            w.leaf("PowerState", power);
            if ready {
                w.leaf("HostName", &r.hostname);
                w.leaf(
                    "RemoteAccessCertificateThumbprint",
                    short_hash(&format!("{}/{}/{}", h.name, d.name, r.name)),
                );
            }
            w.open("GuestAgentStatus");
            w.leaf("ProtocolVersion", "1.0");
            w.leaf("Timestamp", crate::model::iso(now));
            if ready {
                w.leaf("GuestAgentVersion", "WALinuxAgent-2.0.16");
                w.leaf("Status", "Ready");
                w.open("FormattedMessage")
                    .leaf("Language", "en-US")
                    .leaf(
                        "Message",
                        "GuestAgent is running and accepting new configurations.",
                    )
                    .close("FormattedMessage");
            } else {
                w.leaf("GuestAgentVersion", "Unknown");
                w.leaf("Status", "NotReady");
                w.open("FormattedMessage")
                    .leaf("Language", "en-US")
                    .leaf(
                        "Message",
                        format!("Status not available for role {}.", r.name),
                    )
                    .close("FormattedMessage");
            }
            w.close("GuestAgentStatus");
            if show_ip && !r.public_ips.is_empty() {
                if let Some(ip) = r.vm.as_ref().and_then(|v| v.public_ip) {
                    w.open("PublicIPs");
                    for p in &r.public_ips {
                        w.open("PublicIP")
                            .leaf("Name", p)
                            .leaf("Address", ip.to_string())
                            .close("PublicIP");
                    }
                    w.close("PublicIPs");
                }
            }
            w.close("RoleInstance");
        }
        w.close("RoleInstanceList");
    }
    w.leaf("UpgradeDomainCount", "1");
    if d.roles.is_empty() {
        w.empty("RoleList");
    } else {
        w.open("RoleList");
        for r in &d.roles {
            w.open_typed("Role", "PersistentVMRole");
            write_role_body(&mut w, h, r);
            w.close("Role");
        }
        w.close("RoleList");
    }
    w.empty("SdkVersion");
    w.leaf("Locked", "false");
    w.leaf("RollbackAllowed", "false");
    w.leaf_opt("VirtualNetworkName", d.virtual_network.as_deref());
    w.leaf("CreatedTime", crate::model::iso(d.created));
    w.leaf("LastModifiedTime", crate::model::iso(d.modified));
    w.empty("ExtendedProperties");
    w.open("PersistentVMDowntime")
        .leaf("StartTime", crate::model::iso(d.created - 86_400_000))
        .leaf("EndTime", crate::model::iso(d.created + 86_400_000))
        .leaf("Status", "PersistentVMUpdateCompleted")
        .close("PersistentVMDowntime");
    w.open("VirtualIPs")
        .open("VirtualIP")
        .leaf("Address", h.vip.to_string())
        .leaf("IsDnsProgrammed", "true")
        .leaf("Name", format!("{}ContractContract", d.name))
        .close("VirtualIP")
        .close("VirtualIPs");
    w.leaf(
        "InternalDnsSuffix",
        format!("{}.e1.internal.cloudapp.net", h.name.to_ascii_lowercase()),
    );
    w.empty("LoadBalancers");
    if let Some(v) = &d.virtual_network {
        w.leaf(
            "VirtualNetworkId",
            super::network::pseudo_guid(&format!("{sub}/{v}")),
        );
    }
    w.finish("Deployment")
}

pub async fn get(
    emu: &Arc<Emu>,
    ctx: &Ctx,
    svc: &str,
    name: Option<&str>,
    slot: Option<&str>,
) -> ApiResult {
    let (h, d) = {
        let st = emu.lock();
        let h = sub_ref(&st, ctx)?
            .hosted_services
            .get(&svc.to_ascii_lowercase())
            .cloned()
            .ok_or_else(super::services::not_found)?;
        let d = find_dep(&h, name, slot)?.clone();
        (h, d)
    };
    Ok(Resp::xml(
        render_deployment(emu, &ctx.sub, &h, &d, true).await,
    ))
}

pub fn get_role(emu: &Arc<Emu>, ctx: &Ctx, svc: &str, dep: &str, role: &str) -> ApiResult {
    let st = emu.lock();
    let h = sub_ref(&st, ctx)?
        .hosted_services
        .get(&svc.to_ascii_lowercase())
        .ok_or_else(super::services::not_found)?;
    let d = find_dep(h, Some(dep), None)?;
    let r = d
        .roles
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(role))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Role {role} was not found in the currently deployed service."
            ))
        })?;
    let mut w = W::root("PersistentVMRole");
    write_role_body(&mut w, h, r);
    Ok(Resp::xml(w.finish("PersistentVMRole")))
}
