//! Virtual networks (azure-arm-api.md §4.1): the address space, inline subnets inside it and
//! not overlapping, each subnet's security group existing, and on an update no subnet in
//! use removed or renumbered. Also the subnet body shared with the subnet child resource.

use std::net::Ipv4Addr;

use serde_json::{json, Map, Value};

use super::{etag, find, valid_name, Built, PutContext};
use crate::arm::errors::ArmError;
use crate::arm::operations::HINT_VNET;
use crate::arm::render::Refs;
use crate::model::arm::{ArmResource, ResourceKind};
use crate::model::network::Prefix;
use crate::model::Subscription;

fn invalid_prefix(text: &Value, id: &str) -> ArmError {
    ArmError::new(
        400,
        "InvalidAddressPrefixFormat",
        format!("Address prefix {text} of resource {id} is not formatted correctly. It should follow CIDR notation, for example 10.0.0.0/24."),
    )
}

/// A subnet body (as stored inside its network) from a request's subnet object.
pub fn subnet_body(
    sub: &Subscription,
    vnet_id: &str,
    name: &str,
    props_in: &Value,
    state: &str,
) -> Result<(Value, Prefix), ArmError> {
    let id = format!("{vnet_id}/subnets/{name}");
    if !valid_name(name) {
        return Err(super::invalid_name(ResourceKind::VirtualNetwork, name));
    }
    let text = &props_in["addressPrefix"];
    let prefix = text
        .as_str()
        .and_then(Prefix::parse)
        .ok_or_else(|| invalid_prefix(text, &id))?;
    let mut props = Map::new();
    props.insert("provisioningState".into(), json!(state));
    props.insert("addressPrefix".into(), text.clone());
    if let Some(nsg) = props_in["networkSecurityGroup"]["id"].as_str() {
        let found = find(sub, nsg).filter(|r| r.kind == ResourceKind::NetworkSecurityGroup);
        let Some(n) = found else {
            return Err(ArmError::reference_not_found(nsg, &id));
        };
        props.insert("networkSecurityGroup".into(), json!({ "id": n.id() }));
    }
    if let Some(d) = props_in
        .get("defaultOutboundAccess")
        .filter(|d| d.is_boolean())
    {
        props.insert("defaultOutboundAccess".into(), d.clone());
    }
    props.insert("delegations".into(), json!([]));
    props.insert("privateEndpointNetworkPolicies".into(), json!("Disabled"));
    props.insert("privateLinkServiceNetworkPolicies".into(), json!("Enabled"));
    Ok((
        json!({
            "name": name,
            "id": id,
            "etag": etag(),
            "type": "Microsoft.Network/virtualNetworks/subnets",
            "properties": props,
        }),
        prefix,
    ))
}

/// The address space of a request (`properties.addressSpace.addressPrefixes`).
fn address_space(request: &Value, id: &str) -> Result<Vec<Prefix>, ArmError> {
    let list = request["properties"]["addressSpace"]["addressPrefixes"]
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            ArmError::new(
                400,
                "InvalidRequestFormat",
                format!("Cannot parse the request: the virtual network {id} needs properties.addressSpace.addressPrefixes."),
            )
        })?;
    list.iter()
        .map(|p| {
            p.as_str()
                .and_then(Prefix::parse)
                .ok_or_else(|| invalid_prefix(p, id))
        })
        .collect()
}

/// Check subnets against the space and each other; `name` names the network in messages.
pub fn check_subnets(
    space: &[Prefix],
    subnets: &[(String, Prefix)],
    name: &str,
) -> Result<(), ArmError> {
    for (i, (s, p)) in subnets.iter().enumerate() {
        if !space.iter().any(|a| p.within(a)) {
            return Err(ArmError::new(
                400,
                "NetcfgSubnetRangeOutsideVnet",
                format!("Subnet '{s}' is not valid because its IP address range is outside the IP address range of virtual network '{name}'."),
            ));
        }
        if p.len > 29 {
            return Err(ArmError::new(
                400,
                "InvalidCIDRNotation",
                format!("The address prefix of subnet '{s}' is too small: the smallest supported subnet is /29."),
            ));
        }
        if let Some((other, _)) = subnets[..i].iter().find(|(_, q)| q.overlaps(p)) {
            return Err(ArmError::new(
                400,
                "NetcfgSubnetRangesOverlap",
                format!("Subnet '{s}' is not valid because its IP address range overlaps with that of an existing subnet '{other}' in virtual network '{name}'."),
            ));
        }
    }
    Ok(())
}

/// On an update: a subnet with NICs may neither go nor change its prefix.
pub fn check_in_use(
    existing: Option<&ArmResource>,
    subnets: &[(String, Prefix)],
    refs: &Refs,
) -> Result<(), ArmError> {
    let Some(e) = existing else { return Ok(()) };
    for s in e.body["properties"]["subnets"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let sid = s["id"].as_str().unwrap_or_default();
        let Some(user) = refs.configs_of_subnet(sid).first() else {
            continue;
        };
        let name = s["name"].as_str().unwrap_or_default();
        let old = s["properties"]["addressPrefix"]
            .as_str()
            .and_then(Prefix::parse);
        match subnets.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            None => {
                return Err(ArmError::new(400, "InUseSubnetCannotBeDeleted", format!("Subnet {name} is in use by {user} and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.")))
            }
            Some((_, p)) if Some(*p) != old => {
                return Err(ArmError::new(400, "InUseSubnetCannotBeUpdated", format!("Subnet {name} is in use by {user} and cannot be updated.")))
            }
            _ => {}
        }
    }
    Ok(())
}

pub fn build(pc: &PutContext<'_>, request: &Value) -> Result<Built, ArmError> {
    let space = address_space(request, pc.id)?;
    let mut subnets = Vec::new();
    let mut bodies = Vec::new();
    for s in request["properties"]["subnets"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let name = s["name"].as_str().unwrap_or_default();
        let (body, prefix) = subnet_body(pc.sub, pc.id, name, &s["properties"], "Updating")?;
        subnets.push((name.to_string(), prefix));
        bodies.push(body);
    }
    check_subnets(&space, &subnets, pc.name)?;
    check_in_use(pc.existing, &subnets, &Refs::build(pc.sub))?;
    let texts: Vec<String> = request["properties"]["addressSpace"]["addressPrefixes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect();
    Ok(Built {
        body: json!({"properties": {
            "addressSpace": {"addressPrefixes": texts},
            "subnets": bodies,
            "virtualNetworkPeerings": [],
            "enableDdosProtection": false,
        }}),
        address: None,
        secs: pc.latency.vnet_put,
        hint: HINT_VNET,
    })
}

/// The subnet `subnet_id` names: its network's resource, its body, its prefix.
pub fn subnet_of<'a>(
    sub: &'a Subscription,
    subnet_id: &str,
) -> Option<(&'a ArmResource, &'a Value, Prefix)> {
    let (_, _, kind, _, rest) = crate::arm::urls::parse_id(subnet_id)?;
    if kind != ResourceKind::VirtualNetwork
        || rest.len() != 2
        || !rest[0].eq_ignore_ascii_case("subnets")
    {
        return None;
    }
    let vnet = find(sub, subnet_id)?;
    let s = vnet.body["properties"]["subnets"]
        .as_array()?
        .iter()
        .find(|s| {
            s["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(&rest[1]))
        })?;
    let prefix = s["properties"]["addressPrefix"]
        .as_str()
        .and_then(Prefix::parse)?;
    Some((vnet, s, prefix))
}

/// Private addresses already handed out in the subnet `subnet_id` (every NIC of the
/// subscription), except those of `except` (a NIC being replaced).
pub fn taken_in(sub: &Subscription, subnet_id: &str, except: &str) -> Vec<Ipv4Addr> {
    sub.arm
        .groups
        .values()
        .flat_map(|g| g.resources.values())
        .filter(|r| {
            r.kind == ResourceKind::NetworkInterface && !r.id().eq_ignore_ascii_case(except)
        })
        .flat_map(|r| {
            r.body["properties"]["ipConfigurations"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|c| {
            c["properties"]["subnet"]["id"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(subnet_id))
        })
        .filter_map(|c| c["properties"]["privateIPAddress"].as_str()?.parse().ok())
        .collect()
}
