//! Network security groups (azure-arm-api.md §4.2): the rules as sent, checked (protocol,
//! access, direction, priority 100–4096 unique per direction), each with its id, and the
//! six default rules Azure adds to every group. The TCP ports a group lets in are what a
//! VM's public IP forwards (`allowed_tcp_ports`).

use serde_json::{json, Value};

use super::{etag, valid_name, Built, PutContext};
use crate::arm::errors::ArmError;

const DEFAULT_RULES: [(&str, &str, &str, &str, &str, u32, &str); 6] = [
    (
        "AllowVnetInBound",
        "Allow inbound traffic from all VMs in VNET",
        "VirtualNetwork",
        "VirtualNetwork",
        "Allow",
        65000,
        "Inbound",
    ),
    (
        "AllowAzureLoadBalancerInBound",
        "Allow inbound traffic from azure load balancer",
        "AzureLoadBalancer",
        "*",
        "Allow",
        65001,
        "Inbound",
    ),
    (
        "DenyAllInBound",
        "Deny all inbound traffic",
        "*",
        "*",
        "Deny",
        65500,
        "Inbound",
    ),
    (
        "AllowVnetOutBound",
        "Allow outbound traffic from all VMs to all VMs in VNET",
        "VirtualNetwork",
        "VirtualNetwork",
        "Allow",
        65000,
        "Outbound",
    ),
    (
        "AllowInternetOutBound",
        "Allow outbound traffic from all VMs to Internet",
        "*",
        "Internet",
        "Allow",
        65001,
        "Outbound",
    ),
    (
        "DenyAllOutBound",
        "Deny all outbound traffic",
        "*",
        "*",
        "Deny",
        65500,
        "Outbound",
    ),
];

fn one_of(value: &Value, allowed: &[&str]) -> Option<String> {
    let v = value.as_str()?;
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(v))
        .map(|a| a.to_string())
}

fn unsupported(rule: &str, field: &str, value: &Value) -> ArmError {
    ArmError::new(
        400,
        "SecurityRuleParameterContainsUnsupportedValue",
        format!("Security rule parameter {field} for rule with Id {rule} contains unsupported value {value}."),
    )
}

pub fn build(pc: &PutContext<'_>, request: &Value) -> Result<Built, ArmError> {
    let rules_in = request["properties"]["securityRules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut rules = Vec::new();
    let mut seen: Vec<(u64, String, String)> = Vec::new();
    for r in rules_in {
        let name = r["name"].as_str().unwrap_or_default().to_string();
        if !valid_name(&name) {
            return Err(super::invalid_name(
                crate::model::arm::ResourceKind::NetworkSecurityGroup,
                &name,
            ));
        }
        let rid = format!("{}/securityRules/{name}", pc.id);
        let p = &r["properties"];
        let protocol = one_of(&p["protocol"], &["Tcp", "Udp", "Icmp", "Esp", "Ah", "*"])
            .ok_or_else(|| unsupported(&rid, "Protocol", &p["protocol"]))?;
        let access = one_of(&p["access"], &["Allow", "Deny"])
            .ok_or_else(|| unsupported(&rid, "Access", &p["access"]))?;
        let direction = one_of(&p["direction"], &["Inbound", "Outbound"])
            .ok_or_else(|| unsupported(&rid, "Direction", &p["direction"]))?;
        let priority = p["priority"]
            .as_u64()
            .filter(|x| (100..=4096).contains(x))
            .ok_or_else(|| {
                ArmError::new(
                    400,
                    "SecurityRuleInvalidPriority",
                    format!("Security rule {rid} has invalid Priority. Value provided: {}. Allowed range 100-4096.", p["priority"]),
                )
            })?;
        if let Some((_, other, _)) = seen
            .iter()
            .find(|(pr, _, d)| *pr == priority && *d == direction)
        {
            return Err(ArmError::new(
                400,
                "SecurityRuleConflict",
                format!("Security rule {other} conflicts with rule {name}. Rules cannot have the same Priority and Direction. To learn more, see aka.ms/nsgrules."),
            ));
        }
        seen.push((priority, name.clone(), direction.clone()));
        let mut props = p.as_object().cloned().unwrap_or_default();
        props.insert("protocol".into(), json!(protocol));
        props.insert("access".into(), json!(access));
        props.insert("direction".into(), json!(direction));
        let mut ordered = serde_json::Map::new();
        ordered.insert("provisioningState".into(), json!("Updating"));
        ordered.append(&mut props);
        rules.push(json!({
            "name": name,
            "id": rid,
            "etag": etag(),
            "type": "Microsoft.Network/networkSecurityGroups/securityRules",
            "properties": ordered,
        }));
    }
    let defaults: Vec<Value> = DEFAULT_RULES
        .iter()
        .map(
            |(name, description, source, dest, access, priority, direction)| {
                json!({
                    "name": name,
                    "id": format!("{}/defaultSecurityRules/{name}", pc.id),
                    "etag": etag(),
                    "type": "Microsoft.Network/networkSecurityGroups/defaultSecurityRules",
                    "properties": {
                        "provisioningState": "Succeeded",
                        "description": description,
                        "protocol": "*",
                        "sourcePortRange": "*",
                        "destinationPortRange": "*",
                        "sourceAddressPrefix": source,
                        "destinationAddressPrefix": dest,
                        "access": access,
                        "priority": priority,
                        "direction": direction,
                        "sourcePortRanges": [],
                        "destinationPortRanges": [],
                        "sourceAddressPrefixes": [],
                        "destinationAddressPrefixes": [],
                    },
                })
            },
        )
        .collect();
    Ok(Built {
        body: json!({"properties": {"securityRules": rules, "defaultSecurityRules": defaults}}),
        address: None,
        secs: pc.latency.nsg_put,
        hint: crate::arm::operations::HINT_VNET,
    })
}

/// TCP ports (at most 64 of them) an NSG body lets in from anywhere; `*` counts as SSH.
pub fn allowed_tcp_ports(nsg: &Value) -> Vec<u16> {
    let mut ports = Vec::new();
    let mut rules: Vec<&Value> = nsg["properties"]["securityRules"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    rules.sort_by_key(|r| r["properties"]["priority"].as_u64().unwrap_or(u64::MAX));
    for r in rules {
        let p = &r["properties"];
        let inbound = p["direction"] == "Inbound" && p["access"] == "Allow";
        let tcp = p["protocol"] == "Tcp" || p["protocol"] == "*";
        if !inbound || !tcp {
            continue;
        }
        let mut ranges: Vec<String> = p["destinationPortRanges"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect();
        if let Some(one) = p["destinationPortRange"].as_str() {
            ranges.push(one.to_string());
        }
        for range in ranges {
            if range == "*" {
                ports.push(22);
                continue;
            }
            let (a, b) = range.split_once('-').unwrap_or((&range, &range));
            if let (Ok(a), Ok(b)) = (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
                for port in a..=b.min(a.saturating_add(63)) {
                    ports.push(port);
                }
            }
        }
    }
    ports.sort_unstable();
    ports.dedup();
    ports.truncate(64);
    ports
}
