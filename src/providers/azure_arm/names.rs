//! Names, ids and URLs of a cluster's ARM resources (see README.md in this folder for the
//! full list of operations). One resource group per cluster holds everything: a network
//! security group allowing SSH, a virtual network with one subnet, and per node a public IP
//! (when it has one), a NIC and a VM whose OS disk and NIC go with it.
//!
//! Pure functions: nothing here talks to Azure.

/// api-versions, one per resource provider.
pub const RESOURCES_API: &str = "2021-04-01";
pub const NETWORK_API: &str = "2023-09-01";
pub const COMPUTE_API: &str = "2024-07-01";

pub const NSG: &str = "cluster-nsg";
pub const VNET: &str = "cluster-vnet";
pub const SUBNET: &str = "cluster-subnet";
pub const VNET_PREFIX: &str = "10.0.0.0/16";
pub const SUBNET_PREFIX: &str = "10.0.0.0/20";
pub const IPCONFIG: &str = "ipconfig1";

/// Tag on every resource group this tool creates, with `base_name` as its value.
pub const TAG_BASE_NAME: &str = "elasticluster-base-name";
/// Tag carrying the owner id of the cluster that made the resource group.
pub const TAG_OWNER: &str = "elasticluster-owner";
/// Tag on every VM: the node it is.
pub const TAG_NODE: &str = "elasticluster-node";

pub fn nic_name(node: &str) -> String {
    format!("{node}-nic")
}
pub fn pip_name(node: &str) -> String {
    format!("{node}-pip")
}
pub fn disk_name(node: &str) -> String {
    format!("{node}-osdisk")
}

/// A cluster's resource group: named after `base_name` (which, as for Azure classic,
/// identifies the cluster in the subscription) and tagged with it.
pub fn group_name(base_name: &str) -> String {
    base_name.to_string()
}

/// Paths (ids) of one subscription's resources; URLs add `?api-version=`.
#[derive(Clone, Debug)]
pub struct Paths {
    pub subscription: String,
}

impl Paths {
    pub fn sub(&self) -> String {
        format!("/subscriptions/{}", self.subscription)
    }
    pub fn group(&self, rg: &str) -> String {
        format!("{}/resourcegroups/{rg}", self.sub())
    }
    pub fn groups_url(&self) -> String {
        format!("{}/resourcegroups?api-version={RESOURCES_API}", self.sub())
    }
    pub fn group_url(&self, rg: &str) -> String {
        format!("{}?api-version={RESOURCES_API}", self.group(rg))
    }
    /// `DELETE` of a whole group; VMs are deleted without a guest shutdown.
    pub fn group_delete_url(&self, rg: &str) -> String {
        format!(
            "{}?forceDeletionTypes=Microsoft.Compute/virtualMachines&api-version={RESOURCES_API}",
            self.group(rg)
        )
    }
    fn network(&self, rg: &str, kind: &str, name: &str) -> String {
        format!(
            "{}/resourceGroups/{rg}/providers/Microsoft.Network/{kind}/{name}",
            self.sub()
        )
    }
    pub fn nsg(&self, rg: &str) -> String {
        self.network(rg, "networkSecurityGroups", NSG)
    }
    pub fn vnet(&self, rg: &str) -> String {
        self.network(rg, "virtualNetworks", VNET)
    }
    pub fn subnet(&self, rg: &str) -> String {
        format!("{}/subnets/{SUBNET}", self.vnet(rg))
    }
    pub fn pip(&self, rg: &str, node: &str) -> String {
        self.network(rg, "publicIPAddresses", &pip_name(node))
    }
    pub fn nic(&self, rg: &str, node: &str) -> String {
        self.network(rg, "networkInterfaces", &nic_name(node))
    }
    pub fn pips_url(&self, rg: &str) -> String {
        format!(
            "{}/resourceGroups/{rg}/providers/Microsoft.Network/publicIPAddresses?api-version={NETWORK_API}",
            self.sub()
        )
    }
    pub fn nics_url(&self, rg: &str) -> String {
        format!(
            "{}/resourceGroups/{rg}/providers/Microsoft.Network/networkInterfaces?api-version={NETWORK_API}",
            self.sub()
        )
    }
    pub fn vm(&self, rg: &str, node: &str) -> String {
        format!(
            "{}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{node}",
            self.sub()
        )
    }
    pub fn vms_url(&self, rg: &str) -> String {
        format!(
            "{}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines?api-version={COMPUTE_API}",
            self.sub()
        )
    }
    pub fn instance_view_url(&self, rg: &str, node: &str) -> String {
        format!(
            "{}/instanceView?api-version={COMPUTE_API}",
            self.vm(rg, node)
        )
    }
    fn compute_location(&self, location: &str) -> String {
        format!(
            "{}/providers/Microsoft.Compute/locations/{location}",
            self.sub()
        )
    }
    pub fn sizes_url(&self, location: &str) -> String {
        format!(
            "{}/vmSizes?api-version={COMPUTE_API}",
            self.compute_location(location)
        )
    }
    pub fn usages_url(&self, location: &str) -> String {
        format!(
            "{}/usages?api-version={COMPUTE_API}",
            self.compute_location(location)
        )
    }
    pub fn image_versions_url(&self, location: &str, image: &ImageRef) -> String {
        format!(
            "{}/publishers/{}/artifacttypes/vmimage/offers/{}/skus/{}/versions?api-version={COMPUTE_API}",
            self.compute_location(location),
            image.publisher,
            image.offer,
            image.sku
        )
    }
}

/// `?api-version=` for a network or compute id.
pub fn network_url(id: &str) -> String {
    format!("{id}?api-version={NETWORK_API}")
}
pub fn compute_url(id: &str) -> String {
    format!("{id}?api-version={COMPUTE_API}")
}

/// A marketplace image: `image_id = publisher/offer/sku/version` (ElastiCluster's
/// spelling; `publisher:offer:sku:version`, the Azure CLI's, is accepted too).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    pub publisher: String,
    pub offer: String,
    pub sku: String,
    pub version: String,
}

impl ImageRef {
    pub fn parse(image_id: &str) -> Result<ImageRef, String> {
        let s = image_id.trim();
        let sep = if s.contains('/') { '/' } else { ':' };
        let parts: Vec<&str> = s.splitn(4, sep).map(str::trim).collect();
        match parts.as_slice() {
            [p, o, k, v] if [p, o, k, v].iter().all(|x| !x.is_empty() && !x.contains(['/', ':', '?', '#', ' '])) => {
                Ok(ImageRef {
                    publisher: p.to_string(),
                    offer: o.to_string(),
                    sku: k.to_string(),
                    version: v.to_string(),
                })
            }
            _ => Err(format!(
                "image_id `{s}` is not publisher/offer/sku/version (e.g. canonical/0001-com-ubuntu-server-jammy/22_04-lts-gen2/latest)"
            )),
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "publisher": self.publisher,
            "offer": self.offer,
            "sku": self.sku,
            "version": self.version,
        })
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.publisher, self.offer, self.sku, self.version
        )
    }
}

/// ARM's programmatic name of a location (`East US` → `eastus`).
pub fn location_name(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_in_both_spellings() {
        let i = ImageRef::parse("canonical/ubuntuserver/16.04.0-LTS/latest").unwrap();
        assert_eq!(i.offer, "ubuntuserver");
        assert_eq!(i.version, "latest");
        let j = ImageRef::parse("Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest")
            .unwrap();
        assert_eq!(j.sku, "22_04-lts-gen2");
        assert!(ImageRef::parse("debian-12-elasticluster").is_err());
        assert!(ImageRef::parse("a/b/c").is_err());
        assert!(ImageRef::parse("a/b//d").is_err());
    }

    #[test]
    fn locations_get_their_programmatic_name() {
        assert_eq!(location_name("East US"), "eastus");
        assert_eq!(location_name("westeurope"), "westeurope");
    }

    #[test]
    fn urls_carry_api_versions() {
        let p = Paths {
            subscription: "s".into(),
        };
        assert_eq!(
            p.group_url("g"),
            "/subscriptions/s/resourcegroups/g?api-version=2021-04-01"
        );
        assert!(network_url(&p.subnet("g")).ends_with(
            "/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/cluster-vnet/subnets/cluster-subnet?api-version=2023-09-01"
        ));
        assert!(compute_url(&p.vm("g", "frontend001")).ends_with(
            "/providers/Microsoft.Compute/virtualMachines/frontend001?api-version=2024-07-01"
        ));
    }
}
