//! Network interfaces (azure-arm-api.md §4.4): each IP configuration's subnet must exist in
//! the NIC's region, its public IP too and not be another NIC's; the private address is
//! taken from the subnet at once (`.4` upwards, addresses of deleted NICs reused; a Static
//! one must be free and assignable). The NIC is answered already `Succeeded`.

use serde_json::{json, Map, Value};

use super::vnet::{subnet_of, taken_in};
use super::{find, valid_name, Built, PutContext};
use crate::arm::errors::ArmError;
use crate::engine::addresses::subnet_address;
use crate::ids::stable_hex;
use crate::model::arm::ResourceKind;

pub fn build(pc: &PutContext<'_>, request: &Value) -> Result<Built, ArmError> {
    let configs = request["properties"]["ipConfigurations"]
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            ArmError::new(
                400,
                "InvalidRequestFormat",
                format!("Cannot parse the request: network interface {} needs at least one IP configuration.", pc.id),
            )
        })?;
    let mut out = Vec::new();
    let mut first_address = None;
    let mut taken_here = Vec::new();
    let any_primary = configs.iter().any(|c| c["properties"]["primary"] == true);
    // A configuration without a subnet is in the first one's (as Azure puts secondary ones).
    let first_subnet = configs
        .iter()
        .find_map(|c| c["properties"]["subnet"]["id"].as_str());
    for (i, c) in configs.iter().enumerate() {
        let name = c["name"].as_str().unwrap_or("ipconfig1");
        if !valid_name(name) {
            return Err(super::invalid_name(ResourceKind::NetworkInterface, name));
        }
        let cid = format!("{}/ipConfigurations/{name}", pc.id);
        let p = &c["properties"];
        let Some(subnet_id) = p["subnet"]["id"].as_str().or(first_subnet) else {
            return Err(ArmError::new(
                400,
                "InvalidRequestFormat",
                format!("Cannot parse the request: IP configuration {cid} needs a subnet."),
            ));
        };
        let Some((vnet, subnet, prefix)) = subnet_of(pc.sub, subnet_id) else {
            return Err(ArmError::reference_not_found(subnet_id, pc.id));
        };
        if vnet.body["location"] != pc.location {
            return Err(ArmError::new(
                400,
                "InvalidResourceReference",
                format!("Resource {subnet_id} referenced by resource {} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.", pc.id),
            ));
        }
        let subnet_id = subnet["id"].as_str().unwrap_or(subnet_id).to_string();
        let mut taken = taken_in(pc.sub, &subnet_id, pc.id);
        taken.extend(taken_here.iter().copied());
        let static_alloc = p["privateIPAllocationMethod"]
            .as_str()
            .is_some_and(|m| m.eq_ignore_ascii_case("Static"));
        let wanted = p["privateIPAddress"].as_str().and_then(|a| a.parse().ok());
        let kept = pc.existing.and_then(|e| {
            e.body["properties"]["ipConfigurations"]
                .as_array()?
                .iter()
                .find(|x| x["name"].as_str() == Some(name))
                .filter(|x| {
                    x["properties"]["subnet"]["id"]
                        .as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(&subnet_id))
                })
                .and_then(|x| x["properties"]["privateIPAddress"].as_str()?.parse().ok())
        });
        let address = if static_alloc {
            let Some(w) = wanted else {
                return Err(ArmError::new(400, "PrivateIPAddressIsRequired", format!("IP configuration {cid} must have a private IP address when its allocation method is Static.")));
            };
            if !prefix.contains(w) {
                return Err(ArmError::new(400, "PrivateIPAddressNotInSubnet", format!("IP configuration {cid} references the private IP address {w} which is not within the address prefix of subnet {subnet_id}.")));
            }
            if !prefix.assignable(w) {
                return Err(ArmError::new(400, "PrivateIPAddressInReservedRange", format!("Private static IP address {w} falls within reserved IP range of subnet prefix {}.", subnet["properties"]["addressPrefix"].as_str().unwrap_or_default())));
            }
            if taken.contains(&w) {
                return Err(ArmError::new(400, "PrivateIPAddressInUse", format!("IP configuration {cid} is using the private IP address {w} which is already allocated to another resource.")));
            }
            w
        } else {
            subnet_address(&prefix, &taken, kept).ok_or_else(|| {
                ArmError::new(400, "SubnetIsFull", format!("Subnet {} with address prefix {} does not have enough capacity for 1 IP addresses.", subnet["name"].as_str().unwrap_or_default(), subnet["properties"]["addressPrefix"].as_str().unwrap_or_default()))
            })?
        };
        taken_here.push(address);
        let primary = if any_primary {
            p["primary"] == true
        } else {
            i == 0
        };
        if primary || first_address.is_none() {
            first_address = Some(address);
        }
        let mut props = Map::new();
        props.insert("provisioningState".into(), json!("Succeeded"));
        props.insert("privateIPAddress".into(), json!(address.to_string()));
        props.insert(
            "privateIPAllocationMethod".into(),
            json!(if static_alloc { "Static" } else { "Dynamic" }),
        );
        props.insert("subnet".into(), json!({ "id": subnet_id }));
        if let Some(pip_id) = p["publicIPAddress"]["id"].as_str() {
            let Some(pip) = find(pc.sub, pip_id).filter(|r| r.kind == ResourceKind::PublicIp)
            else {
                return Err(ArmError::reference_not_found(pip_id, pc.id));
            };
            if pip.body["location"] != pc.location {
                return Err(ArmError::reference_not_found(pip_id, pc.id));
            }
            let used_by = crate::arm::render::Refs::build(pc.sub)
                .config_of_ip(pip.id())
                .map(str::to_string)
                .filter(|c| {
                    !c.to_ascii_lowercase()
                        .starts_with(&pc.id.to_ascii_lowercase())
                });
            if let Some(other) = used_by {
                return Err(ArmError::new(400, "PublicIPAddressInUse", format!("Resource {} is referenced by resource {other}; a public IP address can be associated with only one IP configuration.", pip.id())));
            }
            props.insert("publicIPAddress".into(), json!({ "id": pip.id() }));
        }
        props.insert("primary".into(), json!(primary));
        props.insert("privateIPAddressVersion".into(), json!("IPv4"));
        out.push(json!({
            "name": name,
            "id": cid,
            "etag": super::etag(),
            "type": "Microsoft.Network/networkInterfaces/ipConfigurations",
            "properties": props,
        }));
    }
    let mut props = json!({
        "ipConfigurations": out,
        "dnsSettings": {
            "dnsServers": [],
            "appliedDnsServers": [],
            "internalDomainNameSuffix": format!("{}.bx.internal.cloudapp.net", &stable_hex(pc.group.name.as_str())[..26]),
        },
        "enableAcceleratedNetworking": request["properties"]["enableAcceleratedNetworking"].as_bool().unwrap_or(false),
        "vnetEncryptionSupported": false,
        "enableIPForwarding": request["properties"]["enableIPForwarding"].as_bool().unwrap_or(false),
        "disableTcpStateTracking": false,
        "hostedWorkloads": [],
        "tapConfigurations": [],
        "nicType": "Standard",
        "allowPort25Out": true,
    });
    if let Some(nsg_id) = request["properties"]["networkSecurityGroup"]["id"].as_str() {
        let Some(n) = find(pc.sub, nsg_id).filter(|r| r.kind == ResourceKind::NetworkSecurityGroup)
        else {
            return Err(ArmError::reference_not_found(nsg_id, pc.id));
        };
        props["networkSecurityGroup"] = json!({ "id": n.id() });
    }
    Ok(Built {
        body: json!({"properties": props, "kind": "Regular"}),
        address: first_address,
        secs: 0.0,
        hint: 1,
    })
}
