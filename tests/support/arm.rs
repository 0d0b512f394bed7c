//! The emulator's Azure Resource Manager face in-process, for the ARM provider's tests: an
//! emulator with a tenant and a service principal registered, provider settings pointing at
//! it, and what it still holds (its admin inventory), as `type name` strings.
#![allow(dead_code)]

use std::path::Path;

use azure_emulator::arm::ArmCredentials;
use azure_emulator::{EmulatorOptions, RunningEmulator};
use elasticluster::providers::azure_arm::secret::Secret;
use elasticluster::providers::azure_arm::token::Credentials;
use elasticluster::providers::azure_arm::{ArmOptions, ArmSettings};
use elasticluster::providers::ClusterIdentity;

use super::{Creds, SUB};

pub const TENANT: &str = "11111111-0000-4000-8000-00000000a4a4";
pub const CLIENT: &str = "22222222-0000-4000-8000-00000000a4a4";
pub const SECRET: &str = "emulated-client-secret";
/// The sandbox image, by ARM's publisher/offer/sku/version.
pub const IMAGE: &str = "elasticluster/sandbox/debian-12-elasticluster/latest";

/// An emulator (none backend) with the ARM face on, at `scale`, with `max_cores` vCPUs.
pub async fn emulator(creds: &Creds, state: &Path, scale: f64, max_cores: u32) -> RunningEmulator {
    azure_emulator::start(EmulatorOptions {
        state_dir: state.to_path_buf(),
        subscriptions: vec![(SUB.to_string(), creds.mgmt())],
        time_scale: scale,
        max_cores,
        arm: ArmCredentials {
            tenants: vec![TENANT.into()],
            clients: vec![(CLIENT.into(), SECRET.into())],
        },
        ..Default::default()
    })
    .await
    .expect("emulator starts")
}

/// Provider settings for cluster `base` (owner id `owner`) against `emu`.
pub fn settings(
    emu: &RunningEmulator,
    creds: &Creds,
    base: &str,
    public: bool,
    scale: f64,
    owner: &str,
) -> ArmSettings {
    let arm = emu.arm_url().expect("the ARM face is on").to_string();
    ArmSettings {
        subscription_id: SUB.into(),
        credentials: Credentials {
            authority: emu.authority_url().unwrap_or_default().to_string(),
            tenant: TENANT.into(),
            client_id: CLIENT.into(),
            secret: Secret::new(SECRET).into(),
            scope: format!("{arm}/.default"),
        },
        arm_endpoint: arm,
        ca_certificate: Some(emu.ca_pem_path().to_path_buf()),
        location: "eastus".into(),
        base_name: base.into(),
        use_public_ips: public,
        user_key_public: creds.ssh_pub(),
        identity: ClusterIdentity {
            name: base.into(),
            owner_id: Some(owner.into()),
        },
        options: ArmOptions {
            time_scale: scale,
            ..ArmOptions::default()
        },
    }
}

/// Every resource group and resource the emulator holds, as `type name`.
pub async fn leftovers(emu: &RunningEmulator) -> Vec<String> {
    let inv = emu.inventory().await;
    let mut out = Vec::new();
    for s in inv["subscriptions"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        for g in s["resource_groups"].as_array().into_iter().flatten() {
            out.push(format!(
                "resourceGroup {}",
                g["name"].as_str().unwrap_or("?")
            ));
            for r in g["resources"].as_array().into_iter().flatten() {
                let ty = r["type"].as_str().unwrap_or("?");
                let short = ty.rsplit('/').next().unwrap_or(ty);
                out.push(format!("{short} {}", r["name"].as_str().unwrap_or("?")));
            }
        }
    }
    out
}

/// The inventory entry of resource `name` (any group), if it is there.
pub async fn resource(emu: &RunningEmulator, name: &str) -> Option<serde_json::Value> {
    let inv = emu.inventory().await;
    inv["subscriptions"]
        .as_object()?
        .values()
        .flat_map(|s| s["resource_groups"].as_array().cloned().unwrap_or_default())
        .flat_map(|g| g["resources"].as_array().cloned().unwrap_or_default())
        .find(|r| r["name"] == name)
}

/// A counter of the ARM face (`tokens_issued`, `vms_created`, `throttled`).
pub fn counter(emu: &RunningEmulator, name: &str) -> u64 {
    emu.arm_counters()[name].as_u64().unwrap_or(0)
}
