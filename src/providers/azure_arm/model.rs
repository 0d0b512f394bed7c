//! The JSON the provider sends (request bodies, built from the shapes in Azure's OpenAPI
//! examples) and the parts of Azure's answers it reads (unknown fields are ignored, as real
//! answers carry many more).
//!
//! Pure data; nothing here talks to Azure.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use super::names::{ImageRef, IPCONFIG, SUBNET, SUBNET_PREFIX, VNET_PREFIX};

pub fn resource_group(location: &str, tags: &BTreeMap<String, String>) -> Value {
    json!({ "location": location, "tags": tags })
}

/// The security group: SSH (TCP 22) from anywhere; traffic inside the network is allowed by
/// Azure's default rules.
pub fn nsg(location: &str) -> Value {
    json!({
        "location": location,
        "properties": {
            "securityRules": [{
                "name": "ssh",
                "properties": {
                    "description": "SSH to the cluster's nodes (elasticluster)",
                    "protocol": "Tcp",
                    "sourcePortRange": "*",
                    "destinationPortRange": "22",
                    "sourceAddressPrefix": "*",
                    "destinationAddressPrefix": "*",
                    "access": "Allow",
                    "priority": 1000,
                    "direction": "Inbound"
                }
            }]
        }
    })
}

/// The virtual network with its one subnet (the security group attached). Nodes without a
/// public IP keep outbound access through the subnet's default outbound access.
pub fn vnet(location: &str, nsg_id: &str) -> Value {
    json!({
        "location": location,
        "properties": {
            "addressSpace": { "addressPrefixes": [VNET_PREFIX] },
            "subnets": [{
                "name": SUBNET,
                "properties": {
                    "addressPrefix": SUBNET_PREFIX,
                    "networkSecurityGroup": { "id": nsg_id },
                    "defaultOutboundAccess": true
                }
            }]
        }
    })
}

/// A Standard, static public IPv4 address.
pub fn public_ip(location: &str) -> Value {
    json!({
        "location": location,
        "sku": { "name": "Standard", "tier": "Regional" },
        "properties": {
            "publicIPAllocationMethod": "Static",
            "publicIPAddressVersion": "IPv4",
            "idleTimeoutInMinutes": 4
        }
    })
}

pub fn nic(location: &str, subnet_id: &str, pip_id: Option<&str>) -> Value {
    let mut ipconfig = json!({
        "subnet": { "id": subnet_id },
        "privateIPAllocationMethod": "Dynamic"
    });
    if let Some(p) = pip_id {
        ipconfig["publicIPAddress"] = json!({ "id": p });
    }
    json!({
        "location": location,
        "properties": {
            "ipConfigurations": [{ "name": IPCONFIG, "properties": ipconfig }]
        }
    })
}

/// What a VM is made of.
pub struct VmSpec<'a> {
    pub location: &'a str,
    pub node: &'a str,
    pub size: &'a str,
    pub image: &'a ImageRef,
    pub user: &'a str,
    /// The OpenSSH public key line.
    pub ssh_key: &'a str,
    pub nic_id: &'a str,
    pub os_disk: &'a str,
    /// `image_userdata`, already base64.
    pub custom_data: Option<String>,
    pub tags: &'a BTreeMap<String, String>,
}

/// A Linux VM with SSH-key login only; its managed OS disk and its NIC are deleted with it.
pub fn vm(s: &VmSpec<'_>) -> Value {
    let mut os_profile = json!({
        "computerName": s.node,
        "adminUsername": s.user,
        "linuxConfiguration": {
            "disablePasswordAuthentication": true,
            "ssh": { "publicKeys": [{
                "path": format!("/home/{}/.ssh/authorized_keys", s.user),
                "keyData": s.ssh_key
            }]}
        }
    });
    if let Some(cd) = &s.custom_data {
        os_profile["customData"] = json!(cd);
    }
    json!({
        "location": s.location,
        "tags": s.tags,
        "properties": {
            "hardwareProfile": { "vmSize": s.size },
            "storageProfile": {
                "imageReference": s.image.json(),
                "osDisk": {
                    "name": s.os_disk,
                    "createOption": "FromImage",
                    "caching": "ReadWrite",
                    "managedDisk": { "storageAccountType": "Standard_LRS" },
                    "deleteOption": "Delete"
                }
            },
            "osProfile": os_profile,
            "networkProfile": { "networkInterfaces": [{
                "id": s.nic_id,
                "properties": { "primary": true, "deleteOption": "Delete" }
            }]}
        }
    })
}

// ---- answers ----

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    #[serde(default)]
    pub provisioning_state: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ResourceGroup {
    pub name: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub properties: State,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Vm {
    pub name: String,
    #[serde(default)]
    pub properties: State,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpConfigProps {
    #[serde(default, rename = "privateIPAddress")]
    pub private_ip_address: Option<String>,
    #[serde(default)]
    pub primary: Option<bool>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct IpConfig {
    #[serde(default)]
    pub properties: IpConfigProps,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NicProps {
    #[serde(default)]
    pub ip_configurations: Vec<IpConfig>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Nic {
    pub name: String,
    #[serde(default)]
    pub properties: NicProps,
}

impl Nic {
    /// The primary private address (the first one when none is marked primary).
    pub fn private_ip(&self) -> Option<&str> {
        let c = &self.properties.ip_configurations;
        c.iter()
            .find(|i| i.properties.primary == Some(true))
            .or_else(|| c.first())
            .and_then(|i| i.properties.private_ip_address.as_deref())
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipProps {
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub provisioning_state: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PublicIp {
    pub name: String,
    #[serde(default)]
    pub properties: PipProps,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Status {
    pub code: String,
    #[serde(default, rename = "displayStatus")]
    pub display_status: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct InstanceView {
    #[serde(default)]
    pub statuses: Vec<Status>,
}

impl InstanceView {
    /// `ProvisioningState/failed/Code: message`, if provisioning failed.
    pub fn failure(&self) -> Option<String> {
        self.statuses
            .iter()
            .find(|s| {
                s.code
                    .to_ascii_lowercase()
                    .starts_with("provisioningstate/failed")
            })
            .map(|s| {
                let code = s.code.splitn(3, '/').nth(2).unwrap_or("failed");
                match &s.message {
                    Some(m) if !m.is_empty() => format!("{code}: {m}"),
                    _ => code.to_string(),
                }
            })
    }

    /// `running`, `stopped`, … from `PowerState/…`.
    pub fn power_state(&self) -> Option<&str> {
        self.statuses
            .iter()
            .find_map(|s| s.code.strip_prefix("PowerState/"))
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VmSize {
    pub name: String,
    #[serde(default)]
    pub number_of_cores: u32,
    #[serde(default, rename = "memoryInMB")]
    pub memory_in_mb: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct UsageName {
    pub value: String,
    #[serde(default, rename = "localizedValue")]
    pub localized_value: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub current_value: i64,
    pub limit: i64,
    pub name: UsageName,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ImageVersion {
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_body_has_key_login_and_delete_options() {
        let img = ImageRef::parse("canonical/ubuntu/22_04/latest").unwrap();
        let tags = BTreeMap::from([("a".to_string(), "b".to_string())]);
        let v = vm(&VmSpec {
            location: "eastus",
            node: "compute001",
            size: "Standard_B2s",
            image: &img,
            user: "azureuser",
            ssh_key: "ssh-rsa AAAA me",
            nic_id: "/nic",
            os_disk: "compute001-osdisk",
            custom_data: Some("I2Nsb3Vk".into()),
            tags: &tags,
        });
        let p = &v["properties"];
        assert_eq!(
            p["osProfile"]["linuxConfiguration"]["disablePasswordAuthentication"],
            true
        );
        assert_eq!(
            p["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"][0]["path"],
            "/home/azureuser/.ssh/authorized_keys"
        );
        assert_eq!(p["osProfile"]["customData"], "I2Nsb3Vk");
        assert_eq!(p["storageProfile"]["osDisk"]["deleteOption"], "Delete");
        assert_eq!(
            p["networkProfile"]["networkInterfaces"][0]["properties"]["deleteOption"],
            "Delete"
        );
        let n = nic("eastus", "/subnet", None);
        assert!(n["properties"]["ipConfigurations"][0]["properties"]
            .get("publicIPAddress")
            .is_none());
    }

    #[test]
    fn instance_view_failure_and_power() {
        let iv: InstanceView = serde_json::from_str(r#"{"statuses":[{"code":"ProvisioningState/failed/AllocationFailed","message":"no capacity"},{"code":"PowerState/stopped"}]}"#).unwrap();
        assert_eq!(
            iv.failure().as_deref(),
            Some("AllocationFailed: no capacity")
        );
        assert_eq!(iv.power_state(), Some("stopped"));
    }
}
