//! Subscription-level reads: Get Subscription (quotas and usage), List Locations, List Role
//! Sizes, OS images (from the VM backend) and Get Operation Status.

use std::sync::Arc;

use crate::model::{catalog, OpStatus};
use crate::xml::W;

use super::*;

pub fn get_subscription(emu: &Arc<Emu>, ctx: &Ctx) -> ApiResult {
    let st = emu.lock();
    let sub = sub_ref(&st, ctx)?;
    let mut w = W::root("Subscription");
    w.leaf("SubscriptionID", &sub.id);
    w.leaf("SubscriptionName", "Azure classic emulator");
    w.leaf("SubscriptionStatus", "Active");
    w.leaf("AccountAdminLiveEmailId", "admin@emulator.invalid");
    w.leaf("ServiceAdminLiveEmailId", "admin@emulator.invalid");
    w.leaf("MaxCoreCount", emu.quotas.max_cores.to_string());
    w.leaf(
        "MaxStorageAccounts",
        emu.quotas.max_storage_accounts.to_string(),
    );
    w.leaf(
        "MaxHostedServices",
        emu.quotas.max_hosted_services.to_string(),
    );
    w.leaf("CurrentCoreCount", sub.cores_in_use().to_string());
    w.leaf(
        "CurrentHostedServices",
        sub.hosted_services.len().to_string(),
    );
    w.leaf(
        "CurrentStorageAccounts",
        sub.storage_accounts.len().to_string(),
    );
    w.leaf("MaxVirtualNetworkSites", "50");
    w.leaf("MaxLocalNetworkSites", "20");
    w.leaf("MaxDnsServers", "20");
    w.leaf("OfferCategories", "Azure_Platform_All");
    w.leaf("AADTenantID", "00000000-0000-0000-0000-000000000000");
    w.leaf("CreatedTime", "2014-01-01T00:00:00Z");
    w.leaf("MaxReservedIPs", "20");
    w.leaf("CurrentReservedIPs", "0");
    w.leaf("MaxPublicIPCount", "5");
    w.leaf("CurrentNetworkSecurityGroups", "0");
    w.leaf("MaxNetworkSecurityGroups", "100");
    w.leaf("MaxNetworkSecurityRulesPerGroup", "200");
    w.leaf("MaxRouteTables", "100");
    w.leaf("MaxRoutesPerRouteTable", "100");
    Ok(Resp::xml(w.finish("Subscription")))
}

pub fn list_role_sizes() -> Resp {
    let mut w = W::root("RoleSizes");
    for (name, cores, mem, ww, vm, disks, wwdisk, vmdisk) in catalog::ROLE_SIZES {
        w.open("RoleSize");
        w.leaf("Name", name);
        w.leaf("Label", format!("{name} ({cores} cores, {mem} MB)"));
        w.leaf("Cores", cores.to_string());
        w.leaf("MemoryInMb", mem.to_string());
        w.leaf("SupportedByWebWorkerRoles", ww.to_string());
        w.leaf("SupportedByVirtualMachines", vm.to_string());
        w.leaf("MaxDataDiskCount", disks.to_string());
        w.leaf("WebWorkerResourceDiskSizeInMb", wwdisk.to_string());
        w.leaf("VirtualMachineResourceDiskSizeInMb", vmdisk.to_string());
        w.close("RoleSize");
    }
    Resp::xml(w.finish("RoleSizes"))
}

pub fn list_locations() -> Resp {
    let mut w = W::root("Locations");
    for l in catalog::LOCATIONS {
        w.open("Location");
        w.leaf("Name", l);
        w.leaf("DisplayName", l);
        w.open("AvailableServices");
        for s in ["Compute", "Storage", "PersistentVMRole", "HighMemory"] {
            w.leaf("AvailableService", s);
        }
        w.close("AvailableServices");
        w.open("ComputeCapabilities");
        w.open("WebWorkerRoleSizes");
        for r in catalog::ROLE_SIZES.iter().filter(|r| r.3) {
            w.leaf("RoleSize", r.0);
        }
        w.close("WebWorkerRoleSizes");
        w.open("VirtualMachinesRoleSizes");
        for r in catalog::ROLE_SIZES.iter().filter(|r| r.4) {
            w.leaf("RoleSize", r.0);
        }
        w.close("VirtualMachinesRoleSizes");
        w.close("ComputeCapabilities");
        w.open("StorageCapabilities").open("StorageAccountTypes");
        for t in [
            "Standard_LRS",
            "Standard_ZRS",
            "Standard_GRS",
            "Standard_RAGRS",
        ] {
            w.leaf("StorageAccountType", t);
        }
        w.close("StorageAccountTypes").close("StorageCapabilities");
        w.close("Location");
    }
    Resp::xml(w.finish("Locations"))
}

fn write_image(w: &mut W, i: &crate::vm::ImageInfo) {
    w.leaf("Category", "Public");
    w.leaf("Label", &i.label);
    w.leaf("Location", catalog::LOCATIONS.join(";"));
    w.leaf("LogicalSizeInGB", "30");
    w.leaf("Name", &i.name);
    w.leaf("OS", &i.os);
    w.leaf("Eula", "");
    w.leaf("Description", &i.description);
    w.leaf("ImageFamily", &i.label);
    w.leaf("PublishedDate", "2024-01-01T00:00:00Z");
    w.leaf("IsPremium", "false");
    w.leaf("PrivacyUri", "");
    w.leaf("RecommendedVMSize", "Small");
    w.leaf("PublisherName", "Azure classic emulator");
    w.leaf("IOType", "Standard");
}

pub fn list_images(emu: &Arc<Emu>) -> Resp {
    let images = emu.backend.images();
    if images.is_empty() {
        return Resp::xml(W::empty_root("Images"));
    }
    let mut w = W::root("Images");
    for i in &images {
        w.open("OSImage");
        write_image(&mut w, i);
        w.close("OSImage");
    }
    Resp::xml(w.finish("Images"))
}

pub fn get_image(emu: &Arc<Emu>, name: &str) -> ApiResult {
    let i = emu
        .backend
        .images()
        .into_iter()
        .find(|i| i.name == name)
        .ok_or_else(|| ApiError::not_found("The image with the specified name does not exist."))?;
    let mut w = W::root("OSImage");
    write_image(&mut w, &i);
    Ok(Resp::xml(w.finish("OSImage")))
}

pub fn get_operation(emu: &Arc<Emu>, ctx: &Ctx, id: &str) -> ApiResult {
    let st = emu.lock();
    let sub = sub_ref(&st, ctx)?;
    let op = sub
        .operations
        .get(&id.to_ascii_lowercase())
        .ok_or_else(|| {
            ApiError::not_found(format!("The operation request ID {id} was not found."))
        })?;
    let mut w = W::root("Operation");
    w.leaf("ID", guid_form(&op.id));
    match op.status {
        OpStatus::InProgress => {
            w.leaf("Status", "InProgress");
        }
        OpStatus::Succeeded => {
            w.leaf("Status", "Succeeded");
            w.leaf("HttpStatusCode", op.http_status.unwrap_or(200).to_string());
        }
        OpStatus::Failed => {
            w.leaf("Status", "Failed");
            w.leaf("HttpStatusCode", op.http_status.unwrap_or(500).to_string());
            if let Some(e) = &op.error {
                w.open("Error")
                    .leaf("Code", &e.code)
                    .leaf("Message", &e.message)
                    .close("Error");
            }
        }
    }
    Ok(Resp::xml(w.finish("Operation")))
}
