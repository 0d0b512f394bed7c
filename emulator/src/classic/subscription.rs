//! Subscription-level reads: Get Subscription (quotas and current usage), List Locations,
//! List Role Sizes (and the compute capabilities other lists carry), from the catalogue
//! Azure served in 2015, and List Affinity Groups (always empty). Nothing here changes state.

use std::sync::Arc;

use super::errors::ApiResult;
use super::request::RequestContext;
use crate::engine::Emulator;
use crate::http::HttpResponse;
use crate::model::catalog;
use crate::xml::XmlWriter;

pub fn get(emu: &Arc<Emulator>, ctx: &RequestContext) -> ApiResult {
    let st = emu.lock();
    let sub = ctx.subscription(&st)?;
    let mut w = XmlWriter::with_root("Subscription");
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
    Ok(HttpResponse::xml(w.finish("Subscription")))
}

pub fn list_role_sizes() -> HttpResponse {
    let mut w = XmlWriter::with_root("RoleSizes");
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
    HttpResponse::xml(w.finish("RoleSizes"))
}

/// `<ComputeCapabilities>`: the role sizes web/worker roles and VMs may use (List
/// Locations and every List Hosted Services item carry it).
pub fn write_compute_capabilities(w: &mut XmlWriter) {
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
}

pub fn list_locations() -> HttpResponse {
    let mut w = XmlWriter::with_root("Locations");
    for l in catalog::LOCATIONS {
        w.open("Location");
        w.leaf("Name", l);
        w.leaf("DisplayName", l);
        w.open("AvailableServices");
        for s in ["Compute", "Storage", "PersistentVMRole", "HighMemory"] {
            w.leaf("AvailableService", s);
        }
        w.close("AvailableServices");
        write_compute_capabilities(&mut w);
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
    HttpResponse::xml(w.finish("Locations"))
}

/// List Affinity Groups: there are none (creating one is not supported).
pub fn list_affinity_groups() -> HttpResponse {
    HttpResponse::xml(XmlWriter::empty_document("AffinityGroups"))
}
