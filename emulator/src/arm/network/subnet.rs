//! Subnets as child resources of a virtual network (`…/virtualNetworks/{vnet}/subnets/{s}`):
//! PUT (the network goes `Updating` until the modelled time has passed), GET, list and
//! DELETE (refused while a NIC uses the subnet; the subnet goes at once, the operation
//! announced reports success at its first poll).

use std::sync::Arc;

use serde_json::Value;

use super::vnet::{check_in_use, check_subnets, subnet_body};
use super::{valid_name, writable_group};
use crate::arm::errors::{empty, json, ArmError, ArmResult};
use crate::arm::operations::{self, HINT_DELETE, HINT_VNET};
use crate::arm::render::{self, Refs};
use crate::arm::request::ArmRequest;
use crate::arm::resources::group_in;
use crate::arm::ArmFace;
use crate::engine::Emulator;
use crate::model::arm::{ArmPending, ArmResource, ResourceKind};
use crate::model::network::Prefix;

fn vnet_missing(rg: &str, vnet: &str) -> ArmError {
    ArmError::resource_not_found("Microsoft.Network/virtualNetworks", vnet, rg)
}

fn subnet_missing(vnet: &str, name: &str, rg: &str) -> ArmError {
    ArmError::resource_not_found(
        "Microsoft.Network/virtualNetworks/subnets",
        &format!("{vnet}/{name}"),
        rg,
    )
}

/// The network's rendered subnets.
fn rendered(
    emu: &Emulator,
    ctx: &ArmRequest,
    rg: &str,
    vnet: &str,
) -> Result<Vec<Value>, ArmError> {
    let st = emu.lock();
    let (sub, g) = group_in(&st, ctx, rg)?;
    let v = g
        .resources
        .get(&ResourceKind::VirtualNetwork.key(vnet))
        .ok_or_else(|| vnet_missing(&g.name, vnet))?;
    let shown = render::resource(v, &Refs::build(sub), false);
    Ok(shown["properties"]["subnets"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

pub fn subnet_get(emu: &Emulator, ctx: &ArmRequest, rg: &str, vnet: &str, name: &str) -> ArmResult {
    rendered(emu, ctx, rg, vnet)?
        .into_iter()
        .find(|s| {
            s["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .map(|s| json(200, &s))
        .ok_or_else(|| subnet_missing(vnet, name, rg))
}

pub fn subnet_list(emu: &Emulator, ctx: &ArmRequest, rg: &str, vnet: &str) -> ArmResult {
    let items = rendered(emu, ctx, rg, vnet)?;
    crate::arm::groups::page(ctx, items)
}

fn prefixes(v: &ArmResource) -> Vec<(String, Prefix)> {
    v.body["properties"]["subnets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            Some((
                s["name"].as_str()?.to_string(),
                Prefix::parse(s["properties"]["addressPrefix"].as_str()?)?,
            ))
        })
        .collect()
}

pub fn subnet_put(
    face: &ArmFace,
    emu: &Arc<Emulator>,
    ctx: &ArmRequest,
    rg: &str,
    vnet: &str,
    name: &str,
) -> ArmResult {
    if !valid_name(name) {
        return Err(super::invalid_name(ResourceKind::VirtualNetwork, name));
    }
    let request = ctx.json_body()?;
    let mut st = emu.lock();
    let sub = st
        .subscriptions
        .get_mut(&ctx.subscription)
        .ok_or_else(|| ArmError::subscription_not_found(&ctx.subscription))?;
    let refs = Refs::build(sub);
    let key = ResourceKind::VirtualNetwork.key(vnet);
    let v = {
        let g = writable_group(sub, rg)?;
        g.resources
            .get(&key)
            .cloned()
            .ok_or_else(|| vnet_missing(&g.name, vnet))?
    };
    let location = v.body["location"].as_str().unwrap_or("eastus").to_string();
    if let Some(op) = v
        .operation
        .as_deref()
        .filter(|_| v.provisioning_state() != "Succeeded")
    {
        return Err(ArmError::another_operation(
            &crate::arm::urls::operation_url(ctx, "Microsoft.Network", &location, op),
        ));
    }
    let (subnet, prefix) = subnet_body(sub, v.id(), name, &request["properties"], "Updating")?;
    let mut all: Vec<(String, Prefix)> = prefixes(&v)
        .into_iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
        .collect();
    let existed = all.len() != prefixes(&v).len();
    all.push((name.to_string(), prefix));
    let space: Vec<Prefix> = v.body["properties"]["addressSpace"]["addressPrefixes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Prefix::parse(p.as_str()?))
        .collect();
    check_subnets(&space, &all, &v.name)?;
    check_in_use(Some(&v), &all, &refs)?;
    let d = face.latency.scaled(face.latency.subnet_put);
    let op = operations::begin(
        emu,
        sub,
        "ArmPutSubnet",
        d,
        ArmPending::Provision {
            group: rg.to_ascii_lowercase(),
            key: key.clone(),
        },
    );
    let g = writable_group(sub, rg)?;
    if let Some(vm) = g.resources.get_mut(&key) {
        let list = vm.body["properties"]["subnets"]
            .as_array_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        let mut list: Vec<Value> = list
            .into_iter()
            .filter(|s| {
                !s["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .collect();
        list.push(subnet.clone());
        vm.body["properties"]["subnets"] = Value::Array(list);
        vm.set_provisioning_state("Updating");
        vm.operation = Some(op.clone());
    }
    emu.persist(&st);
    let r = json(if existed { 200 } else { 201 }, &subnet);
    Ok(operations::announce(
        r,
        face,
        ctx,
        "Microsoft.Network",
        &location,
        &op,
        false,
        Some((d, HINT_VNET)),
    ))
}

pub fn subnet_delete(
    face: &ArmFace,
    emu: &Arc<Emulator>,
    ctx: &ArmRequest,
    rg: &str,
    vnet: &str,
    name: &str,
) -> ArmResult {
    let mut st = emu.lock();
    let sub = st
        .subscriptions
        .get_mut(&ctx.subscription)
        .ok_or_else(|| ArmError::subscription_not_found(&ctx.subscription))?;
    let refs = Refs::build(sub);
    let key = ResourceKind::VirtualNetwork.key(vnet);
    let g = writable_group(sub, rg)?;
    let Some(v) = g.resources.get_mut(&key) else {
        return Ok(empty(204));
    };
    let location = v.body["location"].as_str().unwrap_or("eastus").to_string();
    let Some(list) = v.body["properties"]["subnets"].as_array_mut() else {
        return Ok(empty(204));
    };
    let Some(i) = list.iter().position(|s| {
        s["name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    }) else {
        return Ok(empty(204));
    };
    let sid = list[i]["id"].as_str().unwrap_or_default().to_string();
    if let Some(user) = refs.configs_of_subnet(&sid).first() {
        return Err(ArmError::new(400, "InUseSubnetCannotBeDeleted", format!("Subnet {name} is in use by {user} and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.")));
    }
    list.remove(i);
    let op = operations::finished(emu, sub, "ArmDeleteSubnet");
    emu.persist(&st);
    Ok(operations::announce(
        empty(202),
        face,
        ctx,
        "Microsoft.Network",
        &location,
        &op,
        true,
        Some((std::time::Duration::ZERO, HINT_DELETE)),
    ))
}
