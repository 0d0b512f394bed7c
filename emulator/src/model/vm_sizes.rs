//! Azure Resource Manager VM sizes the emulator offers in every location: cores and memory
//! as recorded (`GET …/locations/westus/vmSizes`, azure-arm-api.md §5.6), the quota family
//! each counts against, and disk figures from Azure's published size tables. Plain data,
//! never changed at runtime.

/// One VM size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmSize {
    pub name: &'static str,
    pub cores: u32,
    pub memory_mb: u32,
    pub os_disk_mb: u32,
    pub resource_disk_mb: u32,
    pub max_data_disks: u32,
    /// Quota family (`usages` name).
    pub family: &'static str,
}

const fn size(
    name: &'static str,
    cores: u32,
    memory_mb: u32,
    resource_disk_mb: u32,
    max_data_disks: u32,
    family: &'static str,
) -> VmSize {
    VmSize {
        name,
        cores,
        memory_mb,
        os_disk_mb: 1_047_552,
        resource_disk_mb,
        max_data_disks,
        family,
    }
}

pub const VM_SIZES: &[VmSize] = &[
    size("Basic_A0", 1, 768, 20480, 1, "basicAFamily"),
    size("Standard_A1", 1, 1792, 71680, 2, "standardA0_A7Family"),
    size("Standard_B1ls", 1, 512, 4096, 2, "standardBSFamily"),
    size("Standard_B1ms", 1, 2048, 4096, 2, "standardBSFamily"),
    size("Standard_B1s", 1, 1024, 4096, 2, "standardBSFamily"),
    size("Standard_B2ms", 2, 8192, 16384, 4, "standardBSFamily"),
    size("Standard_B2s", 2, 4096, 8192, 4, "standardBSFamily"),
    size("Standard_B4ms", 4, 16384, 32768, 8, "standardBSFamily"),
    size("Standard_D2s_v3", 2, 8192, 16384, 4, "standardDSv3Family"),
    size("Standard_D4s_v3", 4, 16384, 32768, 8, "standardDSv3Family"),
    size("Standard_DS1_v2", 1, 3584, 7168, 4, "standardDSv2Family"),
    size("Standard_DS2_v2", 2, 7168, 14336, 8, "standardDSv2Family"),
    size("Standard_DS3_v2", 4, 14336, 28672, 16, "standardDSv2Family"),
    size("Standard_F2s", 2, 4096, 8192, 4, "standardFSFamily"),
];

/// A size by name (case-insensitive, as Azure matches them).
pub fn vm_size(name: &str) -> Option<&'static VmSize> {
    VM_SIZES.iter().find(|s| s.name.eq_ignore_ascii_case(name))
}

/// Localised name of a quota family (`usages`).
pub fn family_label(family: &str) -> String {
    let short = family
        .strip_prefix("standard")
        .or_else(|| family.strip_prefix("basic"))
        .unwrap_or(family)
        .trim_end_matches("Family");
    let tier = if family.starts_with("basic") {
        "Basic"
    } else {
        "Standard"
    };
    format!("{tier} {short} Family vCPUs")
}
