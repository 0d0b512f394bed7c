//! Resource Manager bodies as a GET shows them: the stored body plus what Azure derives
//! from other resources at read time — a NIC's `virtualMachine` and MAC address, a public
//! IP's `ipConfiguration` and (Dynamic) `ipAddress`, a subnet's `ipConfigurations`, a
//! security group's `subnets` and `networkInterfaces`, a disk's `managedBy` — and a VM's
//! instance view. Read-only.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};

use super::operations::compute_time;
use super::urls;
use crate::model::arm::{ArmResource, PowerState, ResourceGroup, ResourceKind};
use crate::model::{iso8601, Subscription};

/// Who references whom in a subscription (ids lower case).
#[derive(Default)]
pub struct Refs {
    /// NIC id → VM id
    vm_of_nic: HashMap<String, String>,
    /// public IP id → ipConfiguration id
    config_of_ip: HashMap<String, String>,
    /// subnet id → ipConfiguration ids
    configs_of_subnet: HashMap<String, Vec<String>>,
    /// NSG id → subnet ids, NIC ids
    users_of_nsg: HashMap<String, (Vec<String>, Vec<String>)>,
    /// disk id → VM id
    vm_of_disk: HashMap<String, String>,
    running: HashSet<String>,
}

fn lower(v: &Value) -> Option<String> {
    v.as_str().map(str::to_ascii_lowercase)
}

impl Refs {
    /// What rendering a resource of `kind` needs: nothing for a VM (its own record says
    /// everything), so a VM GET, poll or list does not index the whole subscription.
    pub fn for_rendering(sub: &Subscription, kind: ResourceKind) -> Refs {
        match kind {
            ResourceKind::VirtualMachine => Refs::default(),
            _ => Refs::build(sub),
        }
    }

    pub fn build(sub: &Subscription) -> Refs {
        let mut r = Refs::default();
        for g in sub.arm.groups.values() {
            for res in g.resources.values() {
                let id = res.id().to_string();
                let p = &res.body["properties"];
                match res.kind {
                    ResourceKind::VirtualMachine => {
                        for n in p["networkProfile"]["networkInterfaces"]
                            .as_array()
                            .into_iter()
                            .flatten()
                        {
                            if let Some(nid) = lower(&n["id"]) {
                                r.vm_of_nic.insert(nid, id.clone());
                            }
                        }
                        if let Some(d) = lower(&p["storageProfile"]["osDisk"]["managedDisk"]["id"])
                        {
                            r.vm_of_disk.insert(d, id.clone());
                        }
                        if res
                            .vm
                            .as_ref()
                            .is_some_and(|v| v.power == PowerState::Running)
                        {
                            r.running.insert(id.to_ascii_lowercase());
                        }
                    }
                    ResourceKind::NetworkInterface => {
                        if let Some(nsg) = lower(&p["networkSecurityGroup"]["id"]) {
                            r.users_of_nsg.entry(nsg).or_default().1.push(id.clone());
                        }
                        for c in p["ipConfigurations"].as_array().into_iter().flatten() {
                            let cid = c["id"].as_str().unwrap_or_default().to_string();
                            if let Some(s) = lower(&c["properties"]["subnet"]["id"]) {
                                r.configs_of_subnet.entry(s).or_default().push(cid.clone());
                            }
                            if let Some(ip) = lower(&c["properties"]["publicIPAddress"]["id"]) {
                                r.config_of_ip.insert(ip, cid);
                            }
                        }
                    }
                    ResourceKind::VirtualNetwork => {
                        for s in p["subnets"].as_array().into_iter().flatten() {
                            if let Some(nsg) = lower(&s["properties"]["networkSecurityGroup"]["id"])
                            {
                                let sid = s["id"].as_str().unwrap_or_default().to_string();
                                r.users_of_nsg.entry(nsg).or_default().0.push(sid);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        r
    }

    /// The VM using NIC `nic_id`, if any.
    pub fn vm_of_nic(&self, nic_id: &str) -> Option<&str> {
        self.vm_of_nic
            .get(&nic_id.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn config_of_ip(&self, ip_id: &str) -> Option<&str> {
        self.config_of_ip
            .get(&ip_id.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn configs_of_subnet(&self, subnet_id: &str) -> &[String] {
        self.configs_of_subnet
            .get(&subnet_id.to_ascii_lowercase())
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    pub fn users_of_nsg(&self, nsg_id: &str) -> Vec<String> {
        self.users_of_nsg
            .get(&nsg_id.to_ascii_lowercase())
            .map(|(s, n)| s.iter().chain(n.iter()).cloned().collect())
            .unwrap_or_default()
    }

    pub fn vm_of_disk(&self, disk_id: &str) -> Option<&str> {
        self.vm_of_disk
            .get(&disk_id.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The NIC of an ipConfiguration id is attached to a running VM.
    fn config_running(&self, config_id: &str) -> bool {
        let nic = config_id
            .to_ascii_lowercase()
            .split("/ipconfigurations/")
            .next()
            .unwrap_or_default()
            .to_string();
        self.vm_of_nic
            .get(&nic)
            .is_some_and(|vm| self.running.contains(&vm.to_ascii_lowercase()))
    }
}

pub fn group(sub: &str, g: &ResourceGroup) -> Value {
    let mut b = json!({
        "id": urls::group_id(sub, &g.name),
        "name": g.name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": g.location,
        "properties": {"provisioningState": if g.deleting { "Deleting" } else { "Succeeded" }},
    });
    if let Some(t) = &g.tags {
        b["tags"] = t.clone();
    }
    b
}

/// The MAC address Azure shows for a NIC attached to a VM (stable per NIC).
fn mac_of(id: &str) -> String {
    let h = crate::ids::stable_hex(&id.to_ascii_lowercase());
    format!(
        "00-0D-3A-{}-{}-{}",
        &h[0..2].to_ascii_uppercase(),
        &h[2..4].to_ascii_uppercase(),
        &h[4..6].to_ascii_uppercase()
    )
}

/// A resource as GET shows it.
pub fn resource(r: &ArmResource, refs: &Refs, expand_instance_view: bool) -> Value {
    let mut b = r.body.clone();
    let id = r.id().to_string();
    match r.kind {
        ResourceKind::NetworkInterface => {
            if let Some(vm) = refs.vm_of_nic(&id) {
                b["properties"]["virtualMachine"] = json!({ "id": vm });
                b["properties"]["macAddress"] = json!(mac_of(&id));
            }
        }
        ResourceKind::PublicIp => {
            let config = refs.config_of_ip(&id).map(str::to_string);
            if let Some(c) = &config {
                b["properties"]["ipConfiguration"] = json!({ "id": c });
            }
            let dynamic = b["properties"]["publicIPAllocationMethod"] == "Dynamic";
            let shown = !dynamic || config.as_deref().is_some_and(|c| refs.config_running(c));
            if let (Some(a), true) = (r.address, shown) {
                b["properties"]["ipAddress"] = json!(a.to_string());
            }
        }
        ResourceKind::VirtualNetwork => {
            if let Some(subnets) = b["properties"]["subnets"].as_array_mut() {
                for s in subnets {
                    let sid = s["id"].as_str().unwrap_or_default().to_string();
                    let configs = refs.configs_of_subnet(&sid);
                    if !configs.is_empty() {
                        s["properties"]["ipConfigurations"] =
                            Value::Array(configs.iter().map(|c| json!({ "id": c })).collect());
                    }
                }
            }
        }
        ResourceKind::NetworkSecurityGroup => {
            let users = refs.users_of_nsg(&id);
            let (subnets, nics): (Vec<String>, Vec<String>) =
                users.into_iter().partition(|u| u.contains("/subnets/"));
            if !subnets.is_empty() {
                b["properties"]["subnets"] = subnets.iter().map(|s| json!({ "id": s })).collect();
            }
            if !nics.is_empty() {
                b["properties"]["networkInterfaces"] =
                    nics.iter().map(|s| json!({ "id": s })).collect();
            }
        }
        ResourceKind::Disk => match refs.vm_of_disk(&id) {
            Some(vm) => {
                b["managedBy"] = json!(vm);
                b["properties"]["diskState"] = json!("Attached");
            }
            None => b["properties"]["diskState"] = json!("Unattached"),
        },
        ResourceKind::VirtualMachine => {
            if expand_instance_view {
                b["properties"]["instanceView"] = instance_view(r);
            }
        }
    }
    b
}

/// `GET virtualMachines/{vm}/instanceView`.
pub fn instance_view(r: &ArmResource) -> Value {
    let state = r.provisioning_state().to_string();
    let vm = r.vm.as_ref();
    let now = crate::model::now_ms();
    let provisioning = match (state.as_str(), vm.and_then(|v| v.failure.as_ref())) {
        ("Failed", Some((code, message))) => json!({
            "code": format!("ProvisioningState/failed/{code}"),
            "level": "Error",
            "displayStatus": "Provisioning failed",
            "message": message,
            "time": compute_time(now),
        }),
        ("Failed", None) => {
            json!({"code": "ProvisioningState/failed", "level": "Error", "displayStatus": "Provisioning failed", "time": compute_time(now)})
        }
        (s, _) => json!({
            "code": format!("ProvisioningState/{}", s.to_ascii_lowercase()),
            "level": "Info",
            "displayStatus": if s == "Succeeded" { "Provisioning succeeded".to_string() } else { s.to_string() },
            "time": compute_time(now),
        }),
    };
    let mut statuses = vec![provisioning];
    if let Some(v) = vm {
        statuses.push(json!({
            "code": format!("PowerState/{}", v.power.code()),
            "level": "Info",
            "displayStatus": v.power.display(),
        }));
    }
    let disk = r.body["properties"]["storageProfile"]["osDisk"]["name"].clone();
    let ready = state == "Succeeded";
    json!({
        "computerName": r.body["properties"]["osProfile"]["computerName"],
        "osName": "debian",
        "osVersion": "12",
        "vmAgent": {
            "vmAgentVersion": "2.9.1.1",
            "statuses": [if ready {
                json!({"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Ready", "message": "Guest Agent is running", "time": compute_time(now)})
            } else {
                json!({"code": "ProvisioningState/Unavailable", "level": "Warning", "displayStatus": "Not Ready", "message": "VM status blob is found but not yet populated.", "time": compute_time(now)})
            }],
        },
        "disks": [{
            "name": disk,
            "statuses": [{"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded", "time": compute_time(r.created)}],
        }],
        "hyperVGeneration": "V1",
        "statuses": statuses,
    })
}

/// `GET resourceGroups/{rg}/resources` items.
pub fn generic(r: &ArmResource, refs: &Refs) -> Value {
    let full = resource(r, refs, false);
    let mut b = json!({
        "id": full["id"],
        "name": full["name"],
        "type": full["type"],
        "location": full["location"],
    });
    for k in ["tags", "sku", "kind", "managedBy"] {
        if let Some(v) = full.get(k) {
            b[k] = v.clone();
        }
    }
    b["createdTime"] = json!(iso8601(r.created));
    b
}
