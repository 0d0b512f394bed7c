//! What a subscription may use, as Resource Manager lists it: locations, VM sizes per
//! location, the regional vCPU quota and its use (`usages`, limit `--max-cores`), and the
//! marketplace images — publisher `elasticluster`, offer `sandbox`, one sku per image the VM
//! backend can boot (the sku names the container image). Read-only.

use serde_json::{json, Value};

use super::errors::{json, ArmError, ArmResult};
use super::request::ArmRequest;
use crate::engine::Emulator;
use crate::model::vm_sizes::{family_label, VM_SIZES};

/// Programmatic location names and their display names.
pub const LOCATIONS: &[(&str, &str)] = &[
    ("eastus", "East US"),
    ("eastus2", "East US 2"),
    ("westus", "West US"),
    ("westus2", "West US 2"),
    ("westus3", "West US 3"),
    ("centralus", "Central US"),
    ("northcentralus", "North Central US"),
    ("southcentralus", "South Central US"),
    ("westcentralus", "West Central US"),
    ("canadacentral", "Canada Central"),
    ("brazilsouth", "Brazil South"),
    ("northeurope", "North Europe"),
    ("westeurope", "West Europe"),
    ("uksouth", "UK South"),
    ("francecentral", "France Central"),
    ("germanywestcentral", "Germany West Central"),
    ("swedencentral", "Sweden Central"),
    ("switzerlandnorth", "Switzerland North"),
    ("southeastasia", "Southeast Asia"),
    ("eastasia", "East Asia"),
    ("japaneast", "Japan East"),
    ("japanwest", "Japan West"),
    ("koreacentral", "Korea Central"),
    ("australiaeast", "Australia East"),
    ("australiasoutheast", "Australia Southeast"),
    ("centralindia", "Central India"),
    ("southindia", "South India"),
];

pub const PUBLISHER: &str = "elasticluster";
pub const OFFER: &str = "sandbox";
/// The one version every image has.
pub const IMAGE_VERSION: &str = "1.0.0";

/// The programmatic name of a location given by name or display name.
pub fn location(name: &str) -> Option<&'static str> {
    let squeezed: String = name.chars().filter(|c| !c.is_whitespace()).collect();
    LOCATIONS
        .iter()
        .find(|(l, _)| l.eq_ignore_ascii_case(&squeezed))
        .map(|(l, _)| *l)
}

fn unknown_location(loc: &str, what: &str) -> ArmError {
    let names: Vec<&str> = LOCATIONS.iter().map(|(l, _)| *l).collect();
    ArmError::new(
        404,
        "NoRegisteredProviderFound",
        format!("No registered resource provider found for location '{loc}' and API version for type '{what}'. The supported locations are '{}'.", names.join(",")),
    )
}

/// The location of a `…/locations/{loc}/…` path, or ARM's 404.
fn known_location(loc: &str, what: &str) -> Result<&'static str, ArmError> {
    location(loc).ok_or_else(|| unknown_location(loc, what))
}

/// The container image a publisher/offer/sku names, if the backend has it.
pub fn image(emu: &Emulator, publisher: &str, offer: &str, sku: &str) -> Option<String> {
    if !publisher.eq_ignore_ascii_case(PUBLISHER) || !offer.eq_ignore_ascii_case(OFFER) {
        return None;
    }
    emu.backend
        .images()
        .into_iter()
        .find(|i| i.name.eq_ignore_ascii_case(sku))
        .map(|i| i.name)
}

pub fn list_locations(ctx: &ArmRequest) -> ArmResult {
    let value: Vec<Value> = LOCATIONS
        .iter()
        .map(|(name, display)| {
            json!({
                "id": format!("{}/locations/{name}", ctx.sub_path()),
                "name": name,
                "type": "Region",
                "displayName": display,
                "regionalDisplayName": display,
                "metadata": {"regionType": "Physical"},
            })
        })
        .collect();
    Ok(json(200, &json!({ "value": value })))
}

pub fn vm_sizes(loc: &str) -> ArmResult {
    known_location(loc, "locations/vmSizes")?;
    let value: Vec<Value> = VM_SIZES.iter().map(size_json).collect();
    Ok(json(200, &json!({ "value": value })))
}

pub fn size_json(s: &crate::model::vm_sizes::VmSize) -> Value {
    json!({
        "name": s.name,
        "numberOfCores": s.cores,
        "osDiskSizeInMB": s.os_disk_mb,
        "resourceDiskSizeInMB": s.resource_disk_mb,
        "memoryInMB": s.memory_mb,
        "maxDataDiskCount": s.max_data_disks,
    })
}

pub fn usages(emu: &Emulator, ctx: &ArmRequest, loc: &str) -> ArmResult {
    let loc = known_location(loc, "locations/usages")?;
    let limit = emu.quotas.max_cores;
    let st = emu.lock();
    let arm = st
        .subscriptions
        .get(&ctx.subscription)
        .map(|s| s.arm.clone())
        .unwrap_or_default();
    drop(st);
    let usage = |value: &str, label: &str, current: u32, limit: u32| {
        json!({
            "unit": "Count",
            "currentValue": current,
            "limit": limit,
            "name": {"value": value, "localizedValue": label},
        })
    };
    let mut value = vec![
        usage("cores", "Total Regional vCPUs", arm.cores_in(loc), limit),
        usage(
            "virtualMachines",
            "Virtual Machines",
            arm.vm_count_in(loc),
            25000,
        ),
    ];
    let mut families: Vec<&str> = VM_SIZES.iter().map(|s| s.family).collect();
    families.dedup();
    families.sort_unstable();
    families.dedup();
    for f in families {
        let used: u32 = arm
            .groups
            .values()
            .flat_map(|g| g.resources.values())
            .filter_map(|r| r.vm.as_ref())
            .filter(|v| {
                crate::model::vm_sizes::vm_size(&v.spec.role_size).is_some_and(|s| s.family == f)
            })
            .map(|v| v.cores)
            .sum();
        value.push(usage(f, &family_label(f), used, limit));
    }
    Ok(json(200, &json!({ "value": value })))
}

fn image_id(ctx: &ArmRequest, loc: &str, tail: &str) -> String {
    format!(
        "/Subscriptions/{}/Providers/Microsoft.Compute/Locations/{loc}/Publishers/{PUBLISHER}{tail}",
        ctx.subscription
    )
}

fn artifact_not_found() -> ArmError {
    ArmError::new(404, "NotFound", "Artifact: VMImage was not found.")
}

/// `…/publishers`, `…/publishers/{p}/artifacttypes/vmimage/offers`, `…/offers/{o}/skus`,
/// `…/skus/{s}/versions` and `…/versions/{v}`: `parts` is what follows `locations/{loc}/`.
pub fn images(emu: &Emulator, ctx: &ArmRequest, loc: &str, parts: &[String]) -> ArmResult {
    let loc = known_location(loc, "locations/publishers")?;
    let p: Vec<&str> = parts.iter().map(String::as_str).collect();
    let entry = |name: &str, id: String| json!({"location": loc, "name": name, "id": id});
    let ours = |x: &str, y: &str| x.eq_ignore_ascii_case(y);
    match p.as_slice() {
        ["publishers"] => Ok(json(
            200,
            &json!([entry(PUBLISHER, image_id(ctx, loc, ""))]),
        )),
        ["publishers", pb, "artifacttypes", "vmimage", "offers"] if ours(pb, PUBLISHER) => {
            Ok(json(
                200,
                &json!([entry(
                    OFFER,
                    image_id(ctx, loc, &format!("/ArtifactTypes/VMImage/Offers/{OFFER}"))
                )]),
            ))
        }
        ["publishers", pb, "artifacttypes", "vmimage", "offers", of, "skus"]
            if ours(pb, PUBLISHER) && ours(of, OFFER) =>
        {
            let skus: Vec<Value> = emu
                .backend
                .images()
                .into_iter()
                .map(|i| {
                    let tail = format!("/ArtifactTypes/VMImage/Offers/{OFFER}/Skus/{}", i.name);
                    entry(&i.name, image_id(ctx, loc, &tail))
                })
                .collect();
            Ok(json(200, &Value::Array(skus)))
        }
        ["publishers", pb, "artifacttypes", "vmimage", "offers", of, "skus", sk, "versions", rest @ ..] =>
        {
            let Some(sku) = image(emu, pb, of, sk) else {
                return Err(artifact_not_found());
            };
            let tail = format!(
                "/ArtifactTypes/VMImage/Offers/{OFFER}/Skus/{sku}/Versions/{IMAGE_VERSION}"
            );
            match rest {
                [] => Ok(json(
                    200,
                    &json!([entry(IMAGE_VERSION, image_id(ctx, loc, &tail))]),
                )),
                [v] if *v == IMAGE_VERSION || v.eq_ignore_ascii_case("latest") => {
                    let mut e = entry(IMAGE_VERSION, image_id(ctx, loc, &tail));
                    e["properties"] = json!({
                        "osImage": {"operatingSystem": "Linux", "sizeInGb": 30},
                        "hyperVGeneration": "V1",
                        "architecture": "x64",
                    });
                    Ok(json(200, &e))
                }
                _ => Err(artifact_not_found()),
            }
        }
        _ => Err(artifact_not_found()),
    }
}
