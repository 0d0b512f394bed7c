//! VM PUT (azure-arm-api.md §5.1, §5.2): the synchronous checks Azure makes before it
//! accepts a VM — size offered (`SkuNotAvailable`), image known (`PlatformImageNotFound`,
//! target `imageReference`), Linux profile (admin user, SSH key path and data, password
//! rule, custom data), NICs existing and free (`plumbing.rs`), the regional vCPU quota
//! (`OperationNotAllowed` with Azure's message) — then the VM's body (`Creating`), its OS
//! disk, and the VM handed to the backend: its address the NIC's, its public IP the NIC's
//! public IP with the ports the security group lets in.

use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Value};

use super::plumbing::{plumbing, ssh_keys};
use crate::arm::catalog::{self, IMAGE_VERSION};
use crate::arm::errors::{json, ArmError, ArmResult};
use crate::arm::operations::{self, compute_time, HINT_VM};
use crate::arm::render::{self, Refs};
use crate::arm::request::ArmRequest;
use crate::arm::resources::{body_location, writable_group};
use crate::arm::{urls, ArmFace};
use crate::engine::Emulator;
use crate::ids::{guid_form, new_request_id, stable_hex};
use crate::model::arm::{ArmPending, ArmResource, ArmVm, PowerState, ResourceKind};
use crate::model::now_ms;
use crate::model::vm_sizes::vm_size;
use crate::vm::{EndpointSpec, VmSpec};

/// User names Azure refuses for `adminUsername`.
const RESERVED_USERS: &[&str] = &[
    "administrator",
    "admin",
    "user",
    "user1",
    "test",
    "user2",
    "test1",
    "user3",
    "admin1",
    "1",
    "123",
    "a",
    "actuser",
    "adm",
    "admin2",
    "aspnet",
    "backup",
    "console",
    "david",
    "guest",
    "john",
    "owner",
    "root",
    "server",
    "sql",
    "support",
    "support_388945a0",
    "sys",
    "test2",
    "test3",
    "user4",
    "user5",
];

fn valid_vm_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.ends_with('.')
        && !name.ends_with('-')
        && !name.chars().any(|c| {
            c.is_whitespace() || c.is_control() || "~!@#$%^&*()=+_[]{}\\|;:.'\",<>/?".contains(c)
        })
}

fn valid_host_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.chars().all(|c| c.is_ascii_digit())
}

fn valid_user(u: &str) -> bool {
    (1..=32).contains(&u.len())
        && u.chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && u.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn param(target: &str, message: impl Into<String>) -> ArmError {
    ArmError::invalid_parameter(target, message)
}

pub async fn put(
    face: &ArmFace,
    emu: &Arc<Emulator>,
    ctx: &ArmRequest,
    rg: &str,
    name: &str,
) -> ArmResult {
    if !valid_vm_name(name) {
        return Err(ArmError::new(400, "InvalidResourceName", format!("The resource name '{name}' for type 'Microsoft.Compute/virtualMachines' is not valid.")));
    }
    let request = ctx.json_body()?;
    let location = body_location(&request, ResourceKind::VirtualMachine)?;
    let p = &request["properties"];
    let mut st = emu.lock();
    let sub = st
        .subscriptions
        .get_mut(&ctx.subscription)
        .ok_or_else(|| ArmError::subscription_not_found(&ctx.subscription))?;
    let key = ResourceKind::VirtualMachine.key(name);
    let group = writable_group(sub, rg)?;
    let group_name = group.name.clone();
    if let Some(existing) = group.resources.get_mut(&key) {
        // An update: tags only (everything else is fixed at creation here).
        if let Some(t) = request.get("tags").filter(|t| t.is_object()) {
            existing.body["tags"] = t.clone();
        }
        let e = existing.clone();
        let refs = Refs::for_rendering(sub, e.kind);
        let shown = render::resource(&e, &refs, false);
        let running = e
            .operation
            .clone()
            .filter(|_| e.provisioning_state() != "Succeeded");
        let op =
            running.unwrap_or_else(|| operations::finished(emu, sub, "ArmUpdateVirtualMachine"));
        emu.persist(&st);
        return Ok(operations::announce(
            json(200, &shown),
            face,
            ctx,
            "Microsoft.Compute",
            location,
            &op,
            false,
            None,
        ));
    }
    let vm_id = urls::resource_id(
        &ctx.subscription,
        &group_name,
        ResourceKind::VirtualMachine,
        name,
    );
    let size_name = p["hardwareProfile"]["vmSize"].as_str().unwrap_or_default();
    let sku_refused = |s: &str| {
        ArmError::new(409, "SkuNotAvailable", format!("The requested size for resource '{vm_id}' is currently not available in location '{location}' zones '' for subscription '{}'. Please try another size or deploy to a different location or zones. See https://aka.ms/azureskunotavailable for details.{s}", ctx.subscription))
    };
    let Some(size) = vm_size(size_name) else {
        return Err(sku_refused(""));
    };
    let image = &p["storageProfile"]["imageReference"];
    if image.get("id").is_some() {
        return Err(ArmError::unsupported(
            "An image reference by id (custom or gallery images)",
        ));
    }
    let field = |k: &str| image[k].as_str().unwrap_or_default().to_string();
    let version = image["version"].as_str().unwrap_or("latest");
    let container_image = catalog::image(emu, &field("publisher"), &field("offer"), &field("sku"))
        .filter(|_| version.eq_ignore_ascii_case("latest") || version == IMAGE_VERSION);
    let Some(container_image) = container_image else {
        return Err(ArmError::new(404, "PlatformImageNotFound", format!("The platform image '{}:{}:{}:{version}' is not available. Verify that all fields in the storage profile are correct. For more details about storage profile information, please refer to https://aka.ms/storageprofile", field("publisher"), field("offer"), field("sku"))).target("imageReference"));
    };
    let os_disk = &p["storageProfile"]["osDisk"];
    if let Some(c) = os_disk["createOption"]
        .as_str()
        .filter(|c| !c.eq_ignore_ascii_case("FromImage"))
    {
        return Err(ArmError::unsupported(&format!(
            "An OS disk with createOption '{c}'"
        )));
    }
    if p["storageProfile"]["dataDisks"]
        .as_array()
        .is_some_and(|d| !d.is_empty())
    {
        return Err(ArmError::unsupported("Data disks"));
    }
    let disk_size = os_disk["diskSizeGB"].as_u64().unwrap_or(30);
    if disk_size < 30 {
        return Err(param("osDisk.diskSizeGB", format!("The specified disk size {disk_size} GB is smaller than the size of the corresponding disk in the VM image: 30 GB. This is not allowed. Please choose equal or greater size or do not specify an explicit size.")));
    }
    let account = os_disk["managedDisk"]["storageAccountType"]
        .as_str()
        .unwrap_or("Standard_LRS");
    if !["Standard_LRS", "StandardSSD_LRS", "Premium_LRS"]
        .iter()
        .any(|a| a.eq_ignore_ascii_case(account))
    {
        return Err(param(
            "osDisk.managedDisk.storageAccountType",
            format!("Storage account type '{account}' is not supported for an OS disk."),
        ));
    }
    let disk_name = os_disk["name"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!(
                "{name}_OsDisk_1_{}",
                stable_hex(&format!("{vm_id}/{}", now_ms()))
            )
        });
    let disk_key = ResourceKind::Disk.key(&disk_name);
    if sub
        .arm
        .groups
        .get(&rg.to_ascii_lowercase())
        .is_some_and(|g| g.resources.contains_key(&disk_key))
    {
        return Err(ArmError::new(409, "ConflictingUserInput", format!("Disk {disk_name} already exists in resource group {group_name}. Only CreateOption.Attach is supported.")).target(&format!("/disks/{disk_name}")));
    }
    let os = &p["osProfile"];
    if os.get("windowsConfiguration").is_some() {
        return Err(ArmError::unsupported("A Windows VM"));
    }
    let computer = os["computerName"].as_str().unwrap_or(name);
    if !valid_host_name(computer) {
        return Err(param("computerName", format!("Linux host name cannot exceed 64 characters in length or contain the following characters: ~ ! @ # $ % ^ & * ( ) = + _ [ ] {{ }} \\ | ; : ' \" , < > / ?. ('{computer}')")));
    }
    let user = os["adminUsername"].as_str().unwrap_or_default();
    if user.is_empty() {
        return Err(param(
            "adminUsername",
            "Required parameter 'adminUsername' is missing (null).",
        ));
    }
    if RESERVED_USERS.contains(&user.to_ascii_lowercase().as_str()) || !valid_user(user) {
        return Err(param(
            "adminUsername",
            "The Admin Username specified is not allowed.",
        ));
    }
    let linux = &os["linuxConfiguration"];
    let keys = ssh_keys(linux, user)?;
    let no_password = match &linux["disablePasswordAuthentication"] {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    };
    let password = os["adminPassword"].as_str().map(str::to_string);
    if no_password && keys.is_empty() {
        return Err(param("linuxConfiguration.ssh.publicKeys", "Authentication using either SSH or by user name and password must be enabled in Linux profile."));
    }
    if !no_password && password.is_none() {
        return Err(param(
            "adminPassword",
            "Required parameter 'adminPassword' is missing (null).",
        ));
    }
    let custom_data = match os["customData"].as_str() {
        None => None,
        Some(c) => {
            let ok = c.len() <= 87380
                && base64::engine::general_purpose::STANDARD
                    .decode(c.trim())
                    .is_ok();
            if !ok {
                return Err(param("customData", "Custom data in OSProfile must be in Base64 encoding and with a maximum length of 87380 characters."));
            }
            Some(c.to_string())
        }
    };
    if p["networkProfile"]
        .get("networkInterfaceConfigurations")
        .is_some()
    {
        return Err(ArmError::unsupported(
            "Network interfaces created by the VM (networkInterfaceConfigurations)",
        ));
    }
    let nics_in = p["networkProfile"]["networkInterfaces"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let net = plumbing(sub, &vm_id, location, &nics_in)?;
    let used = sub.arm.cores_in(location);
    let limit = emu.quotas.max_cores;
    if used + size.cores > limit {
        return Err(ArmError::new(409, "OperationNotAllowed", format!("Operation could not be completed as it results in exceeding approved Total Regional Cores quota. Additional details - Deployment Model: Resource Manager, Location: {location}, Current Limit: {limit}, Current Usage: {used}, Additional Required: {}, (Minimum) New Limit Required: {}. Submit a request for Quota increase at https://aka.ms/ProdportalCRP by specifying parameters listed in the ‘Details’ section for deployment to succeed. Please read more about quota limits at https://docs.microsoft.com/en-us/azure/azure-supportability/regional-quota-requests", size.cores, used + size.cores)));
    }
    let spec_id = format!("{}/{}/{}", ctx.subscription, group_name, name).to_ascii_lowercase();
    if emu.faults().sku_fails(&spec_id) {
        return Err(sku_refused(&format!(
            " Following SKUs have failed for Capacity Restrictions: {}",
            size.name
        )));
    }
    let fail_provisioning = emu.faults().vm_fails(&spec_id);
    let endpoints: Vec<EndpointSpec> = net
        .public
        .iter()
        .flat_map(|(a, ports)| {
            ports.iter().map(move |port| EndpointSpec {
                name: format!("PublicIP-{port}"),
                protocol: "tcp".into(),
                public: std::net::SocketAddr::new((*a).into(), *port),
                local_port: *port,
            })
        })
        .collect();
    let spec = VmSpec {
        id: spec_id,
        hostname: computer.to_string(),
        user: user.to_string(),
        password: if no_password { None } else { password },
        disable_ssh_password_authentication: no_password,
        authorized_keys: keys.clone(),
        image: container_image,
        network: net.network.clone(),
        endpoints,
        wants_public_ip: net.public.is_some(),
        role_size: size.name.to_string(),
        fail_provisioning,
        subnet_address: Some(net.subnet_address),
        public_address: net.public.as_ref().map(|(a, _)| *a),
        custom_data,
    };
    let now = now_ms();
    let disk_id = urls::resource_id(
        &ctx.subscription,
        &group_name,
        ResourceKind::Disk,
        &disk_name,
    );
    let mut linux_out = json!({
        "disablePasswordAuthentication": no_password,
        "provisionVMAgent": true,
        "patchSettings": {"patchMode": "ImageDefault", "assessmentMode": "ImageDefault"},
        "enableVMAgentPlatformUpdates": false,
    });
    if !keys.is_empty() {
        linux_out["ssh"] = json!({"publicKeys": keys.iter().map(|(k, path)| json!({"path": path, "keyData": k})).collect::<Vec<_>>()});
    }
    let mut body = json!({
        "name": name,
        "id": vm_id,
        "type": "Microsoft.Compute/virtualMachines",
        "location": location,
    });
    if let Some(t) = request.get("tags").filter(|t| t.is_object()) {
        body["tags"] = t.clone();
    }
    body["properties"] = json!({
        "vmId": guid_form(&new_request_id()),
        "hardwareProfile": {"vmSize": size.name},
        "storageProfile": {
            "imageReference": {"publisher": field("publisher"), "offer": field("offer"), "sku": field("sku"), "version": version, "exactVersion": IMAGE_VERSION},
            "osDisk": {
                "osType": "Linux",
                "name": disk_name,
                "createOption": "FromImage",
                "caching": os_disk["caching"].as_str().unwrap_or("ReadWrite"),
                "managedDisk": {"storageAccountType": account, "id": disk_id},
                "deleteOption": os_disk["deleteOption"].as_str().unwrap_or("Detach"),
                "diskSizeGB": disk_size,
            },
            "dataDisks": [],
        },
        "osProfile": {
            "computerName": computer,
            "adminUsername": user,
            "linuxConfiguration": linux_out,
            "secrets": [],
            "allowExtensionOperations": true,
            "requireGuestProvisionSignal": true,
        },
        "networkProfile": {"networkInterfaces": net.nics},
        "provisioningState": "Creating",
        "timeCreated": compute_time(now),
    });
    if let Some(d) = p.get("diagnosticsProfile") {
        body["properties"]["diagnosticsProfile"] = d.clone();
    }
    let disk = json!({
        "name": disk_name,
        "id": disk_id,
        "type": "Microsoft.Compute/disks",
        "location": location,
        "sku": {"name": account, "tier": if account.starts_with("Premium") { "Premium" } else { "Standard" }},
        "properties": {
            "osType": "Linux",
            "hyperVGeneration": "V1",
            "creationData": {"createOption": "FromImage", "imageReference": {"id": format!("/Subscriptions/{}/Providers/Microsoft.Compute/Locations/{location}/Publishers/{}/ArtifactTypes/VMImage/Offers/{}/Skus/{}/Versions/{IMAGE_VERSION}", ctx.subscription, field("publisher"), field("offer"), field("sku"))}},
            "diskSizeGB": disk_size,
            "diskSizeBytes": disk_size * 1024 * 1024 * 1024,
            "encryption": {"type": "EncryptionAtRestWithPlatformKey"},
            "networkAccessPolicy": "AllowAll",
            "publicNetworkAccess": "Enabled",
            "timeCreated": compute_time(now),
            "provisioningState": "Succeeded",
            "uniqueId": guid_form(&new_request_id()),
        },
    });
    let d = face.latency.scaled(face.latency.vm_create);
    let op = operations::begin(
        emu,
        sub,
        "ArmCreateVirtualMachine",
        d,
        ArmPending::CreateVm {
            group: rg.to_ascii_lowercase(),
            key: key.clone(),
        },
    );
    let g = writable_group(sub, rg)?;
    g.resources.insert(
        disk_key,
        ArmResource {
            kind: ResourceKind::Disk,
            name: disk_name.clone(),
            body: disk,
            operation: None,
            created: now,
            address: None,
            vm: None,
        },
    );
    let vm = ArmResource {
        kind: ResourceKind::VirtualMachine,
        name: name.to_string(),
        body,
        operation: Some(op.clone()),
        created: now,
        address: None,
        vm: Some(ArmVm {
            spec,
            info: None,
            cores: size.cores,
            power: PowerState::Starting,
            failure: None,
        }),
    };
    g.resources.insert(key, vm.clone());
    face.counters
        .vms_created
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let refs = Refs::for_rendering(sub, vm.kind);
    let shown = render::resource(&vm, &refs, false);
    emu.persist(&st);
    Ok(operations::announce(
        json(201, &shown),
        face,
        ctx,
        "Microsoft.Compute",
        location,
        &op,
        false,
        Some((d, HINT_VM)),
    ))
}
