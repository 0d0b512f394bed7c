//! Get Deployment and Get Role bodies in Azure's element order: role instances (status,
//! addresses, endpoints, guest agent; a deallocated one only its name and state), roles as
//! they were requested, and the deployment's fixed fields (VIP unless every role is
//! deallocated, DNS suffix, downtime window). Rendering only.

use std::collections::HashMap;

use crate::classic::request::encode_base64;
use crate::engine::role_status::{instance_state, status_of, InstanceState};
use crate::engine::Emulator;
use crate::ids::{stable_guid, stable_hex};
use crate::model::{iso8601, now_ms, Deployment, DeploymentPhase, HostedService, Role, RolePhase};
use crate::vm::VmStatus;
use crate::xml::{escape_attribute, XmlWriter};

/// The service configuration (`.cscfg`) Azure returned for a VM deployment, base64.
fn service_configuration(d: &Deployment) -> String {
    let mut s = String::from("<ServiceConfiguration xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"http://schemas.microsoft.com/ServiceHosting/2008/10/ServiceConfiguration\">\r\n");
    for r in &d.roles {
        s.push_str(&format!(
            "  <Role name=\"{}\">\r\n    <Instances count=\"1\" />\r\n  </Role>\r\n",
            escape_attribute(&r.name)
        ));
    }
    s.push_str("</ServiceConfiguration>");
    encode_base64(s.as_bytes())
}

/// The role element body (shared by Get Deployment's RoleList and Get Role).
pub fn write_role_body(w: &mut XmlWriter, h: &HostedService, r: &Role) {
    w.leaf("RoleName", &r.name);
    w.empty("OsVersion");
    w.leaf("RoleType", "PersistentVMRole");
    w.open("ConfigurationSets");
    w.open_typed("ConfigurationSet", "NetworkConfigurationSet");
    w.leaf("ConfigurationSetType", "NetworkConfiguration");
    if !r.endpoints.is_empty() {
        w.open("InputEndpoints");
        for e in &r.endpoints {
            w.open("InputEndpoint");
            w.leaf_opt("LoadBalancedEndpointSetName", e.lb_set.as_deref());
            w.leaf("LocalPort", e.local_port.to_string());
            w.leaf("Name", &e.name);
            w.leaf("Port", e.port.to_string());
            w.leaf("Protocol", &e.protocol);
            w.leaf("Vip", h.vip.to_string());
            w.leaf(
                "EnableDirectServerReturn",
                if e.enable_direct_server_return {
                    "true"
                } else {
                    "false"
                },
            );
            if let Some(t) = e.idle_timeout {
                w.leaf("IdleTimeoutInMinutes", t.to_string());
            }
            w.close("InputEndpoint");
        }
        w.close("InputEndpoints");
    }
    if r.subnet_names.is_empty() {
        w.empty("SubnetNames");
    } else {
        w.open("SubnetNames");
        for s in &r.subnet_names {
            w.leaf("SubnetName", s);
        }
        w.close("SubnetNames");
    }
    w.leaf_opt("StaticVirtualNetworkIPAddress", r.static_ip.as_deref());
    if !r.public_ips.is_empty() {
        w.open("PublicIPs");
        for p in &r.public_ips {
            w.open("PublicIP").leaf("Name", p).close("PublicIP");
        }
        w.close("PublicIPs");
    }
    w.close("ConfigurationSet");
    w.close("ConfigurationSets");
    w.empty("ResourceExtensionReferences");
    w.empty("DataVirtualHardDisks");
    w.open("OSVirtualHardDisk");
    w.leaf("HostCaching", &r.os_disk.host_caching);
    w.leaf_opt("DiskLabel", r.os_disk.disk_label.as_deref());
    w.leaf("DiskName", &r.os_disk.disk_name);
    w.leaf("MediaLink", &r.os_disk.media_link);
    w.leaf("SourceImageName", &r.os_disk.source_image);
    w.leaf("OS", &r.os_disk.os);
    w.leaf("IOType", "Standard");
    w.close("OSVirtualHardDisk");
    w.leaf("RoleSize", &r.role_size);
    w.leaf(
        "ProvisionGuestAgent",
        if r.provision_guest_agent.unwrap_or(true) {
            "true"
        } else {
            "false"
        },
    );
}

/// The child elements of `<Deployment>` (Get Deployment, and Get Hosted Service with
/// embed-detail), with each role instance where its status progression is now.
pub fn write_deployment(
    w: &mut XmlWriter,
    emu: &Emulator,
    subscription: &str,
    h: &HostedService,
    d: &Deployment,
    statuses: &HashMap<String, VmStatus>,
) {
    let now = now_ms();
    w.leaf("Name", &d.name);
    w.leaf("DeploymentSlot", &d.slot);
    w.leaf("PrivateID", &d.private_id);
    let all_stopped = !d.roles.is_empty() && d.roles.iter().all(|r| r.phase == RolePhase::Stopped);
    w.leaf(
        "Status",
        match d.phase {
            DeploymentPhase::Deploying => "Deploying",
            DeploymentPhase::Deleting => "Deleting",
            DeploymentPhase::Running if all_stopped => "Suspended",
            DeploymentPhase::Running => "Running",
        },
    );
    w.leaf("Label", encode_base64(d.label.as_bytes()));
    w.leaf("Url", format!("http://{}.cloudapp.net/", h.name));
    w.leaf("Configuration", service_configuration(d));
    if d.roles.is_empty() {
        w.empty("RoleInstanceList");
    } else {
        w.open("RoleInstanceList");
        for r in &d.roles {
            let vm = status_of(statuses, r);
            let InstanceState {
                instance_status: status,
                power_state: power,
            } = instance_state(emu, r, &vm, now);
            let ready = status == "ReadyRole";
            let show_ip = r.vm.is_some();
            w.open("RoleInstance");
            w.leaf("RoleName", &r.name);
            w.leaf("InstanceName", &r.name);
            w.leaf("InstanceStatus", status);
            if status == "StoppedDeallocated" {
                // Azure slims a deallocated instance to its name and state.
                w.leaf("PowerState", power);
                w.close("RoleInstance");
                continue;
            }
            w.leaf("InstanceUpgradeDomain", "0");
            w.leaf("InstanceFaultDomain", "0");
            w.leaf("InstanceSize", &r.role_size);
            match &vm {
                VmStatus::Failed(m) if status == "ProvisioningFailed" => {
                    w.leaf("InstanceStateDetails", format!("Provisioning failed. {m}"))
                }
                _ => w.empty("InstanceStateDetails"),
            };
            if show_ip {
                if let Some(info) = &r.vm {
                    w.leaf("IpAddress", info.private_ip.to_string());
                }
                if !r.endpoints.is_empty() {
                    w.open("InstanceEndpoints");
                    for e in &r.endpoints {
                        w.open("InstanceEndpoint")
                            .leaf("Name", &e.name)
                            .leaf("Vip", h.vip.to_string())
                            .leaf("PublicPort", e.port.to_string())
                            .leaf("LocalPort", e.local_port.to_string())
                            .leaf("Protocol", &e.protocol)
                            .close("InstanceEndpoint");
                    }
                    w.close("InstanceEndpoints");
                }
            }
            w.leaf("PowerState", power);
            if ready {
                w.leaf("HostName", &r.hostname);
                w.leaf(
                    "RemoteAccessCertificateThumbprint",
                    stable_hex(&format!("{}/{}/{}", h.name, d.name, r.name)),
                );
            }
            w.open("GuestAgentStatus");
            w.leaf("ProtocolVersion", "1.0");
            w.leaf("Timestamp", iso8601(now));
            if ready {
                w.leaf("GuestAgentVersion", "WALinuxAgent-2.0.16");
                w.leaf("Status", "Ready");
                w.open("FormattedMessage")
                    .leaf("Language", "en-US")
                    .leaf(
                        "Message",
                        "GuestAgent is running and accepting new configurations.",
                    )
                    .close("FormattedMessage");
            } else {
                w.leaf("GuestAgentVersion", "Unknown");
                w.leaf("Status", "NotReady");
                w.open("FormattedMessage")
                    .leaf("Language", "en-US")
                    .leaf(
                        "Message",
                        format!("Status not available for role {}.", r.name),
                    )
                    .close("FormattedMessage");
            }
            w.close("GuestAgentStatus");
            if show_ip && !r.public_ips.is_empty() {
                if let Some(ip) = r.vm.as_ref().and_then(|v| v.public_ip) {
                    w.open("PublicIPs");
                    for p in &r.public_ips {
                        w.open("PublicIP")
                            .leaf("Name", p)
                            .leaf("Address", ip.to_string())
                            .close("PublicIP");
                    }
                    w.close("PublicIPs");
                }
            }
            w.close("RoleInstance");
        }
        w.close("RoleInstanceList");
    }
    w.leaf("UpgradeDomainCount", "1");
    if d.roles.is_empty() {
        w.empty("RoleList");
    } else {
        w.open("RoleList");
        for r in &d.roles {
            w.open_typed("Role", "PersistentVMRole");
            write_role_body(w, h, r);
            w.close("Role");
        }
        w.close("RoleList");
    }
    w.empty("SdkVersion");
    w.leaf("Locked", "false");
    w.leaf("RollbackAllowed", "false");
    w.leaf_opt("VirtualNetworkName", d.virtual_network.as_deref());
    w.leaf("CreatedTime", iso8601(d.created));
    w.leaf("LastModifiedTime", iso8601(d.modified));
    w.empty("ExtendedProperties");
    w.open("PersistentVMDowntime")
        .leaf("StartTime", iso8601(d.created - 86_400_000))
        .leaf("EndTime", iso8601(d.created + 86_400_000))
        .leaf("Status", "PersistentVMUpdateCompleted")
        .close("PersistentVMDowntime");
    // The VIP is released once every role is deallocated.
    let vip_released = !d.roles.is_empty()
        && d.roles
            .iter()
            .all(|r| r.phase == RolePhase::Stopped && r.deallocated);
    if vip_released {
        w.empty("VirtualIPs");
    } else {
        w.open("VirtualIPs")
            .open("VirtualIP")
            .leaf("Address", h.vip.to_string())
            .leaf("IsDnsProgrammed", "true")
            .leaf("Name", format!("{}ContractContract", d.name))
            .close("VirtualIP")
            .close("VirtualIPs");
    }
    w.leaf(
        "InternalDnsSuffix",
        format!("{}.e1.internal.cloudapp.net", h.name.to_ascii_lowercase()),
    );
    w.empty("LoadBalancers");
    if let Some(v) = &d.virtual_network {
        w.leaf(
            "VirtualNetworkId",
            stable_guid(&format!("{subscription}/{v}")),
        );
    }
}
