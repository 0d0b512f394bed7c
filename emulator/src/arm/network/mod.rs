//! Microsoft.Network resources (azure-arm-api.md §4): network security groups, virtual
//! networks with their subnets, public IPs and network interfaces. What every one shares is
//! here — PUT (201 on create, 200 on update, the body with `provisioningState: Updating`,
//! `Azure-AsyncOperation` and `Retry-After`; a NIC answers already `Succeeded`), GET, list,
//! and DELETE (202 + both operation headers, 204 when absent, 400 while in use) — and each
//! type's body and checks are in its own module.

mod nic;
mod nsg;
mod public_ip;
mod subnet;
mod vnet;

use std::net::Ipv4Addr;
use std::sync::Arc;

use serde_json::{json, Value};

use super::deletion::delete_resource;
use super::errors::{json, ArmError, ArmResult};
use super::operations;
use super::render::{self, Refs};
use super::request::ArmRequest;
use super::resources::group_in;
pub use super::resources::{body_location, find, writable_group};
use super::{urls, ArmFace};
use crate::engine::Emulator;
use crate::ids::{guid_form, new_request_id, stable_guid};
use crate::model::arm::{ArmPending, ArmResource, ResourceGroup, ResourceKind};
use crate::model::{now_ms, State, Subscription};

pub use nsg::allowed_tcp_ports as nsg_ports;
pub use subnet::{subnet_delete, subnet_get, subnet_list, subnet_put};
pub use vnet::subnet_of;

/// A new `W/"…"` etag.
pub fn etag() -> String {
    format!("W/\"{}\"", guid_form(&new_request_id()))
}

/// Network resource names: 1–80 characters, letters, digits, `_ . -`, starting with a letter
/// or digit and ending with one or `_`.
pub fn valid_name(name: &str) -> bool {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    ok_chars
        && (1..=80).contains(&name.len())
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub fn invalid_name(kind: ResourceKind, name: &str) -> ArmError {
    ArmError::new(
        400,
        "InvalidResourceName",
        format!("Resource name {name} is invalid. The name can be up to 80 characters long. It must begin with a word character, and it must end with a word character or with '_'. The name may contain word characters or '.', '-', '_'. (type {})", kind.full_type()),
    )
}

/// What a type's builder made of a PUT body.
pub struct Built {
    /// `properties` (without `provisioningState`) and any top-level extras (`sku`, `kind`).
    pub body: Value,
    pub address: Option<Ipv4Addr>,
    /// Seconds at scale 1; 0 = synchronous (answered already `Succeeded`).
    pub secs: f64,
    pub hint: u64,
}

/// Everything a builder may look at.
pub struct PutContext<'a> {
    pub state: &'a State,
    pub sub: &'a Subscription,
    pub group: &'a ResourceGroup,
    pub name: &'a str,
    pub id: &'a str,
    pub location: &'static str,
    pub existing: Option<&'a ArmResource>,
    pub latency: &'a super::latency::ArmLatency,
}

/// PUT of a network resource.
pub async fn put(
    face: &ArmFace,
    emu: &Arc<Emulator>,
    ctx: &ArmRequest,
    rg: &str,
    kind: ResourceKind,
    name: &str,
) -> ArmResult {
    if !valid_name(name) {
        return Err(invalid_name(kind, name));
    }
    let request = ctx.json_body()?;
    let location = body_location(&request, kind)?;
    if kind == ResourceKind::NetworkInterface {
        // Answered synchronously, but it takes its time.
        tokio::time::sleep(face.latency.scaled(face.latency.nic_put)).await;
    }
    let mut st = emu.lock();
    let key = kind.key(name);
    let (built, id, existing) = {
        let state: &State = &st;
        let (sub_ro, group_ro) = group_in(state, ctx, rg)?;
        if group_ro.deleting {
            return Err(ArmError::group_being_deleted(&group_ro.name));
        }
        let existing = group_ro.resources.get(&key);
        let id = existing
            .map(|r| r.id().to_string())
            .unwrap_or_else(|| urls::resource_id(&ctx.subscription, &group_ro.name, kind, name));
        if let Some(e) = existing {
            if let Some(op) = e
                .operation
                .as_deref()
                .filter(|_| e.provisioning_state() != "Succeeded")
            {
                return Err(ArmError::another_operation(&urls::operation_url(
                    ctx,
                    kind.namespace(),
                    location,
                    op,
                )));
            }
            if e.body["location"].as_str() != Some(location) {
                return Err(ArmError::new(
                    400,
                    "InvalidResourceLocation",
                    format!("The resource '{name}' already exists in location '{}' in resource group '{}'. A resource with the same name cannot be created in location '{location}'. Please select a new resource name.", e.body["location"].as_str().unwrap_or_default(), group_ro.name),
                ));
            }
        }
        let pc = PutContext {
            state,
            sub: sub_ro,
            group: group_ro,
            name,
            id: &id,
            location,
            existing,
            latency: &face.latency,
        };
        let built = match kind {
            ResourceKind::NetworkSecurityGroup => nsg::build(&pc, &request)?,
            ResourceKind::VirtualNetwork => vnet::build(&pc, &request)?,
            ResourceKind::PublicIp => public_ip::build(&pc, &request)?,
            ResourceKind::NetworkInterface => nic::build(&pc, &request)?,
            _ => return Err(ArmError::no_route(&ctx.path)),
        };
        (built, id, existing.cloned())
    };
    let existing = existing.as_ref();
    let created = existing.is_none();
    let guid = existing
        .and_then(|e| {
            e.body["properties"]["resourceGuid"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_else(|| stable_guid(&format!("{id}/{}", now_ms())));
    let mut body = json!({
        "name": name,
        "id": id,
        "etag": etag(),
        "type": kind.full_type(),
        "location": location,
    });
    if let Some(t) = request.get("tags").filter(|t| t.is_object()) {
        body["tags"] = t.clone();
    }
    if let Some(extra) = built.body.as_object() {
        for (k, v) in extra {
            body[k] = v.clone();
        }
    }
    let state = if built.secs > 0.0 {
        "Updating"
    } else {
        "Succeeded"
    };
    let mut props = body["properties"].as_object().cloned().unwrap_or_default();
    let mut ordered = serde_json::Map::new();
    ordered.insert("provisioningState".into(), json!(state));
    ordered.insert("resourceGuid".into(), json!(guid));
    ordered.append(&mut props);
    body["properties"] = Value::Object(ordered);
    let sub = st
        .subscriptions
        .get_mut(&ctx.subscription)
        .ok_or_else(|| ArmError::subscription_not_found(&ctx.subscription))?;
    let group_key = rg.to_ascii_lowercase();
    let (op, duration) = if built.secs > 0.0 {
        let d = face.latency.scaled(built.secs);
        let op = operations::begin(
            emu,
            sub,
            kind_name(kind, "Put"),
            d,
            ArmPending::Provision {
                group: group_key.clone(),
                key: key.clone(),
            },
        );
        (op, Some(d))
    } else {
        (operations::finished(emu, sub, kind_name(kind, "Put")), None)
    };
    let g = writable_group(sub, rg)?;
    let created_at = existing.map(|e| e.created).unwrap_or_else(now_ms);
    let resource = ArmResource {
        kind,
        name: existing
            .map(|e| e.name.clone())
            .unwrap_or_else(|| name.to_string()),
        body,
        operation: duration.map(|_| op.clone()),
        created: created_at,
        address: built.address,
        vm: None,
    };
    g.resources.insert(key, resource.clone());
    let refs = Refs::build(sub);
    let shown = render::resource(&resource, &refs, false);
    emu.persist(&st);
    let r = json(if created { 201 } else { 200 }, &shown);
    Ok(operations::announce(
        r,
        face,
        ctx,
        kind.namespace(),
        location,
        &op,
        false,
        duration.map(|d| (d, built.hint)),
    ))
}

/// `Arm<Verb><Type>` operation names (`ArmPutVirtualNetwork`).
pub fn kind_name(kind: ResourceKind, verb: &str) -> &'static str {
    match (verb, kind) {
        ("Put", ResourceKind::NetworkSecurityGroup) => "ArmPutNetworkSecurityGroup",
        ("Put", ResourceKind::VirtualNetwork) => "ArmPutVirtualNetwork",
        ("Put", ResourceKind::PublicIp) => "ArmPutPublicIPAddress",
        ("Put", ResourceKind::NetworkInterface) => "ArmPutNetworkInterface",
        ("Put", ResourceKind::VirtualMachine) => "ArmCreateVirtualMachine",
        ("Delete", ResourceKind::NetworkSecurityGroup) => "ArmDeleteNetworkSecurityGroup",
        ("Delete", ResourceKind::VirtualNetwork) => "ArmDeleteVirtualNetwork",
        ("Delete", ResourceKind::PublicIp) => "ArmDeletePublicIPAddress",
        ("Delete", ResourceKind::NetworkInterface) => "ArmDeleteNetworkInterface",
        ("Delete", ResourceKind::VirtualMachine) => "ArmDeleteVirtualMachine",
        ("Delete", ResourceKind::Disk) => "ArmDeleteDisk",
        _ => "ArmOperation",
    }
}

/// Why a resource may not go now (400 while another uses it), if so.
fn in_use(kind: ResourceKind, r: &ArmResource, refs: &Refs) -> Option<ArmError> {
    let id = r.id();
    match kind {
        ResourceKind::NetworkInterface => refs.vm_of_nic(id).map(|vm| {
            ArmError::new(400, "NicInUse", format!("Network Interface {id} is used by existing resource {vm}. In order to delete the network interface, it must be dissociated from the resource. To learn more, see aka.ms/deletenic."))
        }),
        ResourceKind::PublicIp => refs.config_of_ip(id).map(|c| {
            ArmError::new(400, "PublicIPAddressCannotBeDeleted", format!("Public IP address {id} can not be deleted since it is still allocated to resource {c}. In order to delete the public IP, disassociate/detach the Public IP address from the resource.  To learn how to do this, see aka.ms/deletepublicip."))
        }),
        ResourceKind::VirtualNetwork => {
            for s in r.body["properties"]["subnets"].as_array().into_iter().flatten() {
                let sid = s["id"].as_str().unwrap_or_default();
                if let Some(c) = refs.configs_of_subnet(sid).first() {
                    let name = s["name"].as_str().unwrap_or_default();
                    return Some(ArmError::new(400, "InUseSubnetCannotBeDeleted", format!("Subnet {name} is in use by {c} and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.")));
                }
            }
            None
        }
        ResourceKind::NetworkSecurityGroup => {
            let users = refs.users_of_nsg(id);
            (!users.is_empty()).then(|| {
                ArmError::new(400, "InUseNetworkSecurityGroupCannotBeDeleted", format!("Network security group {id} cannot be deleted because it is in use by the following resources: {}. In order to delete the Network security group, remove the association with the resource(s). To learn how to do this, see aka.ms/deletensg.", users.join(", ")))
            })
        }
        _ => None,
    }
}

/// DELETE of a network resource (refused while another resource still uses it).
pub fn delete(
    face: &ArmFace,
    emu: &Arc<Emulator>,
    ctx: &ArmRequest,
    rg: &str,
    kind: ResourceKind,
    name: &str,
) -> ArmResult {
    delete_resource(face, emu, ctx, rg, kind, name, |sub, r| {
        if let Some(e) = in_use(kind, r, &Refs::build(sub)) {
            return Err(e);
        }
        Ok(match kind {
            ResourceKind::VirtualNetwork | ResourceKind::NetworkSecurityGroup => {
                face.latency.network_delete
            }
            _ => face.latency.small_delete,
        })
    })
}
