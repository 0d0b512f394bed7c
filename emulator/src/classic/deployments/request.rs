//! Reading Create Deployment and Add Role bodies: the `Deployment` element and each
//! `Role`/`PersistentVMRole` in Azure's element order (Linux provisioning, network
//! configuration, OS disk), with Azure's wording for what it refused. Checks that need the
//! subscription are in `validate`; nothing here looks at the state.

use super::find::MAX_ROLES;
use crate::classic::errors::ApiError;
use crate::model::{InputEndpoint, OsDisk, Role, SshKeyRef};
use crate::xml::Node;

/// What a Create Deployment body asks for.
pub struct DeploymentRequest {
    pub name: String,
    pub label: String,
    pub virtual_network: Option<String>,
    pub roles: Vec<Role>,
}

/// The `Deployment` element of Create Deployment.
pub fn parse_deployment(doc: &Node) -> Result<DeploymentRequest, ApiError> {
    if doc.local() != "Deployment" {
        return Err(ApiError::invalid_xml());
    }
    let mut fields = doc.walk();
    let name = fields.req_text("Name")?;
    let slot = fields.req_text("DeploymentSlot")?;
    let label = fields.req_text("Label")?;
    let role_list = fields.req("RoleList")?;
    let virtual_network = fields.opt_text("VirtualNetworkName");
    let _ = fields.opt("Dns");
    let _ = fields.opt("ReservedIPName");
    let _ = fields.opt("LoadBalancers");
    let _ = fields.opt("ReservedIPName");
    fields.finish()?;
    let mut roles = Vec::new();
    let mut role_elements = role_list.walk();
    for role in role_elements.many("Role") {
        roles.push(parse_role(role)?);
    }
    role_elements.finish()?;
    if roles.is_empty() {
        return Err(ApiError::bad_request(
            "RoleList has a missing, misspelled or out of order element.",
        ));
    }
    if !slot.eq_ignore_ascii_case("production") {
        return Err(ApiError::bad_request(
            "Virtual machine deployments can only be created in the Production slot.",
        ));
    }
    if roles.len() > MAX_ROLES {
        return Err(ApiError::bad_request(format!(
            "A deployment can contain at most {MAX_ROLES} roles."
        )));
    }
    Ok(DeploymentRequest {
        name,
        label,
        virtual_network,
        roles,
    })
}

fn parse_bool(s: &str) -> bool {
    s.eq_ignore_ascii_case("true")
}

fn parse_port(s: &str, what: &str) -> Result<u16, ApiError> {
    s.parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| ApiError::bad_request(format!("The {what} {s} is not a valid port number.")))
}

/// `PublicKeys/PublicKey` or `KeyPairs/KeyPair`: certificate fingerprint and target path.
fn parse_key_refs(list: Option<&Node>, item: &str) -> Result<Vec<SshKeyRef>, ApiError> {
    let mut refs = Vec::new();
    let Some(list) = list else {
        return Ok(refs);
    };
    let mut items = list.walk();
    for key in items.many(item) {
        let mut fields = key.walk();
        let fingerprint = fields.opt_text("Fingerprint");
        let path = fields.opt_text("Path");
        match (fingerprint, path) {
            (Some(f), Some(p)) if fields.finish().is_ok() => refs.push(SshKeyRef {
                fingerprint: f.to_ascii_uppercase(),
                path: p,
            }),
            _ => {
                let kind = if item == "PublicKey" {
                    "SSHPublicKey"
                } else {
                    "SSHKeyPair"
                };
                return Err(ApiError::bad_request(format!(
                    "Fingerprint and Path in {kind} should not be null or empty."
                )));
            }
        }
    }
    items.finish()?;
    Ok(refs)
}

/// A `Role` / `PersistentVMRole` element in Azure's order.
pub fn parse_role(element: &Node) -> Result<Role, ApiError> {
    let mut role = Role::default();
    let mut fields = element.walk();
    role.name = fields.req_text("RoleName")?;
    let _ = fields.opt("OsVersion");
    let role_type = fields.req_text("RoleType")?;
    if role_type != "PersistentVMRole" {
        return Err(ApiError::bad_request(format!(
            "The role type {role_type} is not valid. Only PersistentVMRole is supported."
        )));
    }
    let mut have_linux = false;
    if let Some(sets) = fields.opt("ConfigurationSets") {
        let mut set_elements = sets.walk();
        for set in set_elements.many("ConfigurationSet") {
            let mut set_fields = set.walk();
            let set_type = set_fields.req_text("ConfigurationSetType")?;
            match set_type.as_str() {
                "LinuxProvisioningConfiguration" => {
                    have_linux = true;
                    parse_linux_provisioning(&mut set_fields, &mut role)?;
                }
                "NetworkConfiguration" => parse_network_configuration(&mut set_fields, &mut role)?,
                "WindowsProvisioningConfiguration" => {
                    return Err(ApiError::bad_request(
                        "Windows virtual machines are not supported by this emulator; use a LinuxProvisioningConfiguration.",
                    ))
                }
                other => {
                    return Err(ApiError::bad_request(format!(
                        "The configuration set type {other} is not valid."
                    )))
                }
            }
            set_fields.finish()?;
        }
        set_elements.finish()?;
    }
    let _ = fields.opt("ResourceExtensionReferences");
    if fields.opt("VMImageName").is_some() {
        return Err(ApiError::bad_request(
            "VM images are not supported by this emulator; use OSVirtualHardDisk/SourceImageName.",
        ));
    }
    let _ = fields.opt("MediaLocation");
    let _ = fields.opt("AvailabilitySetName");
    if let Some(data_disks) = fields.opt("DataVirtualHardDisks") {
        if !data_disks.children.is_empty() {
            return Err(ApiError::bad_request(
                "Data disks are not supported by this emulator.",
            ));
        }
    }
    role.os_disk = parse_os_disk(fields.req("OSVirtualHardDisk")?)?;
    role.role_size = fields
        .opt_text("RoleSize")
        .unwrap_or_else(|| "Small".into());
    role.provision_guest_agent = fields
        .opt_text("ProvisionGuestAgent")
        .map(|v| parse_bool(&v));
    let _ = fields.opt("VMImageInput");
    let _ = fields.opt("DebugSettings");
    fields.finish()?;
    if !have_linux {
        return Err(ApiError::bad_request(
            "A LinuxProvisioningConfiguration set is required to create a virtual machine.",
        ));
    }
    Ok(role)
}

/// The rest of a `LinuxProvisioningConfiguration` set.
fn parse_linux_provisioning(
    fields: &mut crate::xml::Walk<'_>,
    role: &mut Role,
) -> Result<(), ApiError> {
    role.hostname = fields.req_text("HostName")?;
    role.user = fields.req_text("UserName")?;
    role.password = fields.opt_text("UserPassword");
    role.disable_ssh_password_authentication = fields
        .opt_text("DisableSshPasswordAuthentication")
        .is_some_and(|v| parse_bool(&v));
    if let Some(ssh) = fields.opt("SSH") {
        let mut keys = ssh.walk();
        role.public_keys = parse_key_refs(keys.opt("PublicKeys"), "PublicKey")?;
        role.key_pairs = parse_key_refs(keys.opt("KeyPairs"), "KeyPair")?;
        keys.finish()?;
    }
    let _ = fields.opt("CustomData");
    Ok(())
}

/// The rest of a `NetworkConfiguration` set: endpoints, subnets, static IP, public IPs.
fn parse_network_configuration(
    fields: &mut crate::xml::Walk<'_>,
    role: &mut Role,
) -> Result<(), ApiError> {
    if let Some(endpoints) = fields.opt("InputEndpoints") {
        let mut items = endpoints.walk();
        for endpoint in items.many("InputEndpoint") {
            role.endpoints.push(parse_input_endpoint(endpoint)?);
        }
        items.finish()?;
    }
    if let Some(subnets) = fields.opt("SubnetNames") {
        let mut items = subnets.walk();
        role.subnet_names = items
            .many("SubnetName")
            .into_iter()
            .map(|x| x.value().to_string())
            .collect();
        items.finish()?;
    }
    role.static_ip = fields.opt_text("StaticVirtualNetworkIPAddress");
    if let Some(public_ips) = fields.opt("PublicIPs") {
        let mut items = public_ips.walk();
        for public_ip in items.many("PublicIP") {
            let mut ip_fields = public_ip.walk();
            role.public_ips.push(ip_fields.req_text("Name")?);
            let _ = ip_fields.opt("IdleTimeoutInMinutes");
            let _ = ip_fields.opt("DomainNameLabel");
            ip_fields.finish()?;
        }
        items.finish()?;
    }
    let _ = fields.opt("NetworkInterfaces");
    Ok(())
}

fn parse_input_endpoint(endpoint: &Node) -> Result<InputEndpoint, ApiError> {
    let mut fields = endpoint.walk();
    let lb_set = fields.opt_text("LoadBalancedEndpointSetName");
    let local = fields.req_text("LocalPort")?;
    let name = fields.req_text("Name")?;
    let port = fields.req_text("Port")?;
    let _ = fields.opt("LoadBalancerProbe");
    let protocol = fields.req_text("Protocol")?.to_ascii_lowercase();
    let _ = fields.opt("Vip");
    let direct_server_return = fields
        .opt_text("EnableDirectServerReturn")
        .is_some_and(|v| parse_bool(&v));
    let _ = fields.opt("EndpointAcl");
    let _ = fields.opt("LoadBalancerName");
    let idle_timeout = fields
        .opt_text("IdleTimeoutInMinutes")
        .and_then(|v| v.parse().ok());
    fields.finish()?;
    if protocol != "tcp" && protocol != "udp" {
        return Err(ApiError::bad_request(format!(
            "The protocol {protocol} of endpoint {name} is not valid; use tcp or udp."
        )));
    }
    Ok(InputEndpoint {
        lb_set,
        local_port: parse_port(&local, "local port")?,
        name,
        port: parse_port(&port, "port")?,
        protocol,
        enable_direct_server_return: direct_server_return,
        idle_timeout,
    })
}

/// `OSVirtualHardDisk`: a new disk from `SourceImageName` at `MediaLink`.
fn parse_os_disk(element: &Node) -> Result<OsDisk, ApiError> {
    let mut fields = element.walk();
    let host_caching = fields
        .opt_text("HostCaching")
        .unwrap_or_else(|| "ReadWrite".into());
    let disk_label = fields.opt_text("DiskLabel");
    let disk_name = fields.opt_text("DiskName");
    let media_link = fields.opt_text("MediaLink");
    let source_image = fields.opt_text("SourceImageName");
    let _ = fields.opt("OS");
    let _ = fields.opt("RemoteSourceImageLink");
    let _ = fields.opt("IOType");
    let _ = fields.opt("ResizedSizeInGB");
    fields.finish()?;
    if disk_name.is_some() {
        return Err(ApiError::bad_request(
            "Attaching an existing OS disk (DiskName) is not supported by this emulator; give MediaLink and SourceImageName.",
        ));
    }
    let (Some(media_link), Some(source_image)) = (media_link, source_image) else {
        return Err(ApiError::bad_request(
            "OSVirtualHardDisk has a missing, misspelled or out of order element.",
        ));
    };
    Ok(OsDisk {
        host_caching,
        disk_label,
        disk_name: String::new(),
        media_link,
        source_image,
        os: "Linux".into(),
    })
}
