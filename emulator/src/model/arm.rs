//! The Azure Resource Manager side of a subscription as plain data: resource groups and the
//! resources in them (network security groups, virtual networks, public IPs, network
//! interfaces, VMs, managed disks). Each resource keeps the JSON body ARM shows for it, plus
//! the few typed facts the emulator acts on (addresses, the VM handed to the backend, its
//! cores for the quota). Persisted with the rest of the state; it renders no response and
//! never talks to a backend.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Millis;
use crate::vm::{VmInfo, VmSpec};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ArmSubscription {
    /// Keyed by lower-case name (ARM names are case-insensitive, case-preserving).
    pub groups: BTreeMap<String, ResourceGroup>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ResourceGroup {
    /// As created.
    pub name: String,
    pub location: String,
    /// A JSON object, or `None` when the group has no tags.
    pub tags: Option<Value>,
    /// A delete is in progress (`provisioningState: Deleting`).
    pub deleting: bool,
    pub created: Millis,
    /// Keyed by [`ResourceKind::key`].
    pub resources: BTreeMap<String, ArmResource>,
}

/// The resource types the emulator serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ResourceKind {
    NetworkSecurityGroup,
    VirtualNetwork,
    PublicIp,
    NetworkInterface,
    VirtualMachine,
    Disk,
}

pub const ALL_KINDS: [ResourceKind; 6] = [
    ResourceKind::NetworkSecurityGroup,
    ResourceKind::VirtualNetwork,
    ResourceKind::PublicIp,
    ResourceKind::NetworkInterface,
    ResourceKind::VirtualMachine,
    ResourceKind::Disk,
];

impl ResourceKind {
    /// `Microsoft.Network` or `Microsoft.Compute`.
    pub fn namespace(self) -> &'static str {
        match self {
            ResourceKind::VirtualMachine | ResourceKind::Disk => "Microsoft.Compute",
            _ => "Microsoft.Network",
        }
    }

    /// The type segment as ARM spells it (`virtualMachines`).
    pub fn type_name(self) -> &'static str {
        match self {
            ResourceKind::NetworkSecurityGroup => "networkSecurityGroups",
            ResourceKind::VirtualNetwork => "virtualNetworks",
            ResourceKind::PublicIp => "publicIPAddresses",
            ResourceKind::NetworkInterface => "networkInterfaces",
            ResourceKind::VirtualMachine => "virtualMachines",
            ResourceKind::Disk => "disks",
        }
    }

    /// `Microsoft.Compute/virtualMachines`.
    pub fn full_type(self) -> String {
        format!("{}/{}", self.namespace(), self.type_name())
    }

    /// The kind a path names (namespace and type, any case).
    pub fn from_path(namespace: &str, type_name: &str) -> Option<ResourceKind> {
        ALL_KINDS.into_iter().find(|k| {
            k.namespace().eq_ignore_ascii_case(namespace)
                && k.type_name().eq_ignore_ascii_case(type_name)
        })
    }

    pub fn is_compute(self) -> bool {
        self.namespace() == "Microsoft.Compute"
    }

    /// The key of a resource of this kind named `name` in its group's map.
    pub fn key(self, name: &str) -> String {
        format!(
            "{}/{}",
            self.type_name().to_ascii_lowercase(),
            name.to_ascii_lowercase()
        )
    }
}

/// A VM's power state as the instance view reports it (`PowerState/<this>`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PowerState {
    #[default]
    Starting,
    Running,
    Stopping,
    Stopped,
    Deallocating,
    Deallocated,
}

impl PowerState {
    pub fn code(self) -> &'static str {
        match self {
            PowerState::Starting => "starting",
            PowerState::Running => "running",
            PowerState::Stopping => "stopping",
            PowerState::Stopped => "stopped",
            PowerState::Deallocating => "deallocating",
            PowerState::Deallocated => "deallocated",
        }
    }

    pub fn display(self) -> &'static str {
        match self {
            PowerState::Starting => "VM starting",
            PowerState::Running => "VM running",
            PowerState::Stopping => "VM stopping",
            PowerState::Stopped => "VM stopped",
            PowerState::Deallocating => "VM deallocating",
            PowerState::Deallocated => "VM deallocated",
        }
    }
}

/// What the emulator keeps about a VM beyond its body.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ArmVm {
    /// What is (or will be) handed to the backend.
    pub spec: VmSpec,
    /// What the backend answered, once created.
    pub info: Option<VmInfo>,
    /// vCPUs of its size (regional quota).
    pub cores: u32,
    pub power: PowerState,
    /// Why its provisioning failed (`ProvisioningState/failed/<code>` and message).
    pub failure: Option<(String, String)>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ArmResource {
    pub kind: ResourceKind,
    /// As created.
    pub name: String,
    /// What ARM shows (`id`, `name`, `type`, `location`, `tags`, `properties` with
    /// `provisioningState`, …); `customData` is never kept here.
    pub body: Value,
    /// The long-running operation working on it, if any.
    pub operation: Option<String>,
    pub created: Millis,
    /// A public IP's address (loopback) or a NIC's private address.
    pub address: Option<Ipv4Addr>,
    pub vm: Option<ArmVm>,
}

impl ArmResource {
    pub fn provisioning_state(&self) -> &str {
        self.body["properties"]["provisioningState"]
            .as_str()
            .unwrap_or("Succeeded")
    }

    pub fn set_provisioning_state(&mut self, state: &str) {
        if let Some(p) = self
            .body
            .get_mut("properties")
            .and_then(Value::as_object_mut)
        {
            p.insert("provisioningState".into(), Value::String(state.into()));
        }
    }

    /// `id` of the body.
    pub fn id(&self) -> &str {
        self.body["id"].as_str().unwrap_or_default()
    }
}

/// A VM power action (`POST virtualMachines/{vm}/{action}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PowerAction {
    Start,
    PowerOff,
    Restart,
    Deallocate,
}

/// What an ARM long-running operation does when it completes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ArmPending {
    /// A network resource's PUT is done: `provisioningState` → `Succeeded`.
    Provision { group: String, key: String },
    /// A VM is created: booted by the backend when the operation starts, `Succeeded` once
    /// the modelled time has passed and the guest is ready.
    CreateVm { group: String, key: String },
    /// A resource goes (with what its `deleteOption`s take along).
    Delete { group: String, key: String },
    /// A whole group goes, with everything in it.
    DeleteGroup { group: String },
    Power {
        group: String,
        key: String,
        action: PowerAction,
    },
}

impl ArmSubscription {
    /// Every public IP address in use (every group).
    pub fn public_addresses(&self) -> Vec<Ipv4Addr> {
        self.groups
            .values()
            .flat_map(|g| g.resources.values())
            .filter(|r| r.kind == ResourceKind::PublicIp)
            .filter_map(|r| r.address)
            .collect()
    }

    /// vCPUs of the VMs in `location` (regional quota usage).
    pub fn cores_in(&self, location: &str) -> u32 {
        self.groups
            .values()
            .flat_map(|g| g.resources.values())
            .filter(|r| {
                r.body["location"]
                    .as_str()
                    .is_some_and(|l| l.eq_ignore_ascii_case(location))
            })
            .filter_map(|r| r.vm.as_ref().map(|v| v.cores))
            .sum()
    }

    pub fn vm_count_in(&self, location: &str) -> u32 {
        self.groups
            .values()
            .flat_map(|g| g.resources.values())
            .filter(|r| r.vm.is_some())
            .filter(|r| {
                r.body["location"]
                    .as_str()
                    .is_some_and(|l| l.eq_ignore_ascii_case(location))
            })
            .count() as u32
    }
}
