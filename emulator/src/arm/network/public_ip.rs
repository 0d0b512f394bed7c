//! Public IP addresses (azure-arm-api.md §4.3): SKU `Basic` (the default) or `Standard`
//! (Static only), allocation Static or Dynamic, an optional DNS label (lower case, unique
//! rule of Azure's pattern) with its `fqdn`. The address is a loopback address of the
//! emulator's block, taken at creation and kept for the resource's life; a Dynamic one is
//! shown only while its NIC's VM runs (see `render`).

use serde_json::{json, Value};

use super::{Built, PutContext};
use crate::arm::errors::ArmError;
use crate::arm::operations::HINT_PUBLIC_IP;
use crate::engine::addresses::free_loopback;

fn valid_label(label: &str) -> bool {
    let b = label.as_bytes();
    (3..=63).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.last()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

pub fn build(pc: &PutContext<'_>, request: &Value) -> Result<Built, ArmError> {
    let sku_name = request["sku"]["name"].as_str().unwrap_or("Basic");
    let sku = match sku_name.to_ascii_lowercase().as_str() {
        "basic" => "Basic",
        "standard" => "Standard",
        _ => {
            return Err(ArmError::new(
                400,
                "InvalidRequestFormat",
                format!("Cannot parse the request: the public IP SKU '{sku_name}' is not Basic or Standard."),
            ))
        }
    };
    let p = &request["properties"];
    let method = match p["publicIPAllocationMethod"].as_str() {
        None if sku == "Standard" => "Static",
        None => "Dynamic",
        Some(m) if m.eq_ignore_ascii_case("Static") => "Static",
        Some(m) if m.eq_ignore_ascii_case("Dynamic") => "Dynamic",
        Some(m) => {
            return Err(ArmError::new(
                400,
                "InvalidRequestFormat",
                format!(
                "Cannot parse the request: the allocation method '{m}' is not Static or Dynamic."
            ),
            ))
        }
    };
    if sku == "Standard" && method == "Dynamic" {
        return Err(ArmError::new(
            400,
            "StandardSkuPublicIPAddressesMustBeStatic",
            format!(
                "Standard sku publicIp {} must have AllocationMethod set to Static.",
                pc.id
            ),
        ));
    }
    let version = p["publicIPAddressVersion"].as_str().unwrap_or("IPv4");
    if !version.eq_ignore_ascii_case("IPv4") {
        return Err(ArmError::unsupported("An IPv6 public IP address"));
    }
    let mut props = json!({
        "publicIPAddressVersion": "IPv4",
        "publicIPAllocationMethod": method,
        "idleTimeoutInMinutes": p["idleTimeoutInMinutes"].as_u64().unwrap_or(4),
        "ipTags": [],
    });
    if let Some(label) = p["dnsSettings"]["domainNameLabel"].as_str() {
        if !valid_label(label) {
            return Err(ArmError::new(
                400,
                "InvalidDomainNameLabel",
                format!("The domain name label {label} is invalid. It must conform to the following regular expression: ^[a-z][a-z0-9-]{{1,61}}[a-z0-9]$."),
            ));
        }
        let taken = pc
            .sub
            .arm
            .groups
            .values()
            .flat_map(|g| g.resources.values())
            .filter(|r| !r.id().eq_ignore_ascii_case(pc.id))
            .any(|r| {
                r.body["properties"]["dnsSettings"]["domainNameLabel"] == label
                    && r.body["location"] == pc.location
            });
        if taken {
            return Err(ArmError::new(
                400,
                "DnsRecordInUse",
                format!("DNS record {label}.{}.cloudapp.azure.com is already used by another public IP.", pc.location),
            ));
        }
        props["dnsSettings"] = json!({
            "domainNameLabel": label,
            "fqdn": format!("{label}.{}.cloudapp.azure.com", pc.location),
        });
    }
    let address = match pc.existing.and_then(|e| e.address) {
        Some(a) => a,
        None => free_loopback(pc.state, &[]).ok_or_else(|| {
            ArmError::new(
                400,
                "PublicIPCountLimitReached",
                "Cannot create more public IP addresses: this emulator's block of 254 loopback addresses is used up.",
            )
        })?,
    };
    Ok(Built {
        body: json!({"sku": {"name": sku, "tier": "Regional"}, "properties": props}),
        address: Some(address),
        secs: pc.latency.public_ip_put,
        hint: HINT_PUBLIC_IP,
    })
}
