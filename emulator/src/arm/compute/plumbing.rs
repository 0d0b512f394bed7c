//! A new VM's network and login as its PUT describes them: the NICs it names (existing, in
//! its location, not another VM's, one primary), the address, virtual network and public IP
//! with the ports its security group lets in that the VM is given, and the SSH keys of its
//! Linux profile (only at `/home/{user}/.ssh/authorized_keys`). Checks only; the VM is
//! made in `create.rs`.

use serde_json::{json, Map, Value};

use crate::arm::errors::ArmError;
use crate::arm::network::{self, nsg_ports};
use crate::arm::render::Refs;
use crate::arm::resources::find;
use crate::arm::urls;
use crate::model::arm::{ArmResource, ResourceKind};
use crate::model::Subscription;
use crate::vm::SubnetAddress;

fn param(target: &str, message: impl Into<String>) -> ArmError {
    ArmError::invalid_parameter(target, message)
}

/// What the checks found about the VM's network.
pub struct Plumbing {
    pub nics: Vec<Value>,
    pub subnet_address: SubnetAddress,
    pub network: String,
    pub public: Option<(std::net::Ipv4Addr, Vec<u16>)>,
}

pub fn plumbing(
    sub: &Subscription,
    vm_id: &str,
    location: &str,
    nics_in: &[Value],
) -> Result<Plumbing, ArmError> {
    if nics_in.is_empty() {
        return Err(param(
            "networkProfile",
            "Required parameter 'networkProfile' is missing (null).",
        ));
    }
    let refs = Refs::build(sub);
    let primaries = nics_in
        .iter()
        .filter(|n| n["properties"]["primary"] == true)
        .count();
    if nics_in.len() > 1 && primaries != 1 {
        return Err(param(
            "networkProfile.networkInterfaces",
            format!("Virtual machine {vm_id} must have one network interface set as the primary."),
        ));
    }
    let mut nics = Vec::new();
    let mut primary_nic: Option<&ArmResource> = None;
    for n in nics_in {
        let Some(id) = n["id"].as_str() else {
            return Err(param(
                "networkProfile.networkInterfaces.id",
                "Required parameter 'networkInterface.id' is missing (null).",
            ));
        };
        let Some(nic) = find(sub, id).filter(|r| r.kind == ResourceKind::NetworkInterface) else {
            return Err(ArmError::reference_not_found(id, vm_id));
        };
        if nic.body["location"] != location {
            return Err(ArmError::reference_not_found(id, vm_id));
        }
        if let Some(other) = refs
            .vm_of_nic(nic.id())
            .filter(|v| !v.eq_ignore_ascii_case(vm_id))
        {
            return Err(ArmError::new(
                400,
                "NicInUse",
                format!("Network Interface {} is used by existing resource {other}. In order to use it with a new resource, it must be dissociated first.", nic.id()),
            ));
        }
        let mut entry = json!({ "id": nic.id() });
        let mut props = Map::new();
        for k in ["primary", "deleteOption"] {
            if let Some(v) = n["properties"].get(k) {
                props.insert(k.into(), v.clone());
            }
        }
        if !props.is_empty() {
            entry["properties"] = Value::Object(props);
        }
        nics.push(entry);
        if primary_nic.is_none() || n["properties"]["primary"] == true {
            primary_nic = Some(nic);
        }
    }
    let nic = primary_nic.ok_or_else(|| param("networkProfile", "No network interface."))?;
    let configs = nic.body["properties"]["ipConfigurations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let config = configs
        .iter()
        .find(|c| c["properties"]["primary"] == true)
        .or_else(|| configs.first())
        .cloned()
        .unwrap_or_default();
    let subnet_id = config["properties"]["subnet"]["id"]
        .as_str()
        .unwrap_or_default();
    let (vnet, subnet, prefix) = network::subnet_of(sub, subnet_id)
        .ok_or_else(|| ArmError::reference_not_found(subnet_id, nic.id()))?;
    let ip = nic
        .address
        .ok_or_else(|| ArmError::reference_not_found(subnet_id, nic.id()))?;
    let network_key = match urls::parse_id(vnet.id()) {
        Some((_, vnet_group, _, vnet_name, _)) => format!("{}/{vnet_group}/{vnet_name}", sub.id),
        None => format!("{}/{}", sub.id, vnet.id()),
    }
    .to_ascii_lowercase();
    // The public IP forwards what the NIC's (else the subnet's) security group lets in;
    // a Basic IP without any group is open on SSH, a Standard one closed.
    let public = match config["properties"]["publicIPAddress"]["id"].as_str() {
        None => None,
        Some(pid) => {
            let pip = find(sub, pid).filter(|r| r.kind == ResourceKind::PublicIp);
            let nsg_id = nic.body["properties"]["networkSecurityGroup"]["id"]
                .as_str()
                .or_else(|| subnet["properties"]["networkSecurityGroup"]["id"].as_str());
            let ports = match nsg_id.and_then(|n| find(sub, n)) {
                Some(nsg) => nsg_ports(&nsg.body),
                None if pip.is_some_and(|p| p.body["sku"]["name"] == "Basic") => vec![22],
                None => Vec::new(),
            };
            pip.and_then(|p| p.address).map(|a| (a, ports))
        }
    };
    Ok(Plumbing {
        nics,
        subnet_address: SubnetAddress {
            ip,
            prefix: prefix.len,
        },
        network: network_key,
        public,
    })
}

/// The OpenSSH public key lines of `linuxConfiguration` with their paths.
pub fn ssh_keys(linux: &Value, user: &str) -> Result<Vec<(String, String)>, ArmError> {
    let mut keys = Vec::new();
    let want = format!("/home/{user}/.ssh/authorized_keys");
    for k in linux["ssh"]["publicKeys"].as_array().into_iter().flatten() {
        let path = k["path"].as_str().unwrap_or(&want);
        if path != want {
            return Err(param("linuxConfiguration.ssh.publicKeys.path", format!("Destination path for SSH public keys is currently limited to its default value {want}  due to a known issue in Linux provisioning agent.")));
        }
        let data = k["keyData"].as_str().unwrap_or_default().trim();
        let kinds = ["ssh-rsa ", "ssh-ed25519 ", "ecdsa-sha2-"];
        if !kinds.iter().any(|p| data.starts_with(p)) || data.contains('\n') {
            return Err(param(
                "linuxConfiguration.ssh.publicKeys.keyData",
                "The value of parameter linuxConfiguration.ssh.publicKeys.keyData is invalid.",
            ));
        }
        keys.push((data.to_string(), path.to_string()));
    }
    Ok(keys)
}
