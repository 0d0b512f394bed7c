//! Catalogue data the emulator serves as Azure did: role sizes (with cores for quotas) and
//! locations. Facts from recorded 2015 responses; it never changes at runtime.

/// (Name, Cores, MemoryInMb, SupportedByWebWorkerRoles, SupportedByVirtualMachines,
/// MaxDataDiskCount, WebWorkerResourceDiskSizeInMb, VirtualMachineResourceDiskSizeInMb)
pub type RoleSizeRow = (&'static str, u32, u32, bool, bool, u32, u32, u32);

pub const ROLE_SIZES: &[RoleSizeRow] = &[
    ("A10", 8, 57344, true, true, 16, 1861268, 391828),
    ("A11", 16, 114688, true, true, 16, 1861268, 391828),
    ("A5", 2, 14336, true, true, 4, 501760, 138240),
    ("A6", 4, 28672, true, true, 8, 1024000, 291840),
    ("A7", 8, 57344, true, true, 16, 2088960, 619520),
    ("A8", 8, 57344, true, true, 16, 1861268, 391828),
    ("A9", 16, 114688, true, true, 16, 1861268, 391828),
    ("Basic_A0", 1, 768, false, true, 1, 0, 20480),
    ("Basic_A1", 1, 1792, false, true, 2, 0, 40960),
    ("Basic_A2", 2, 3584, false, true, 4, 0, 61440),
    ("Basic_A3", 4, 7168, false, true, 8, 0, 122880),
    ("Basic_A4", 8, 14336, false, true, 16, 0, 245760),
    ("Basic_D1", 1, 3584, false, true, 2, 0, 10240),
    ("Basic_D11", 2, 14336, false, true, 4, 0, 40960),
    ("Basic_D12", 4, 28672, false, true, 8, 0, 102400),
    ("Basic_D13", 8, 57344, false, true, 16, 0, 204800),
    ("Basic_D2", 2, 7168, false, true, 4, 0, 40960),
    ("Basic_D3", 4, 14336, false, true, 8, 0, 102400),
    ("Basic_D4", 8, 28672, false, true, 16, 0, 204800),
    ("Basic_D5", 16, 57344, false, true, 32, 0, 409600),
    ("ExtraLarge", 8, 14336, true, true, 16, 2088960, 619520),
    ("ExtraSmall", 1, 768, true, true, 1, 20480, 20480),
    ("Large", 4, 7168, true, true, 8, 1024000, 291840),
    ("Medium", 2, 3584, true, true, 4, 501760, 138240),
    ("Small", 1, 1792, true, true, 2, 230400, 71680),
    ("Standard_D1", 1, 3584, true, true, 2, 51200, 51200),
    ("Standard_D11", 2, 14336, true, true, 4, 102400, 102400),
    ("Standard_D12", 4, 28672, true, true, 8, 256000, 256000),
    ("Standard_D13", 8, 57344, true, true, 16, 512000, 512000),
    ("Standard_D14", 16, 114688, true, true, 32, 1024000, 1024000),
    ("Standard_D2", 2, 7168, true, true, 4, 102400, 102400),
    ("Standard_D3", 4, 14336, true, true, 8, 256000, 256000),
    ("Standard_D4", 8, 28672, true, true, 16, 512000, 512000),
    ("Standard_DS1", 1, 3584, false, true, 2, 0, 7168),
    ("Standard_DS11", 2, 14336, false, true, 4, 0, 28672),
    ("Standard_DS12", 4, 28672, false, true, 8, 0, 57344),
    ("Standard_DS13", 8, 57344, false, true, 16, 0, 114688),
    ("Standard_DS14", 16, 114688, false, true, 32, 0, 229376),
    ("Standard_DS2", 2, 7168, false, true, 4, 0, 14336),
    ("Standard_DS3", 4, 14336, false, true, 8, 0, 28672),
    ("Standard_DS4", 8, 28672, false, true, 16, 0, 57344),
    ("Standard_G1", 2, 28672, false, true, 4, 0, 393216),
    ("Standard_G2", 4, 57344, false, true, 8, 0, 786432),
    ("Standard_G3", 8, 114688, false, true, 16, 0, 1572864),
    ("Standard_G4", 16, 229376, false, true, 32, 0, 3145728),
    ("Standard_G5", 32, 458752, false, true, 64, 0, 6291456),
];

pub fn role_size(name: &str) -> Option<&'static RoleSizeRow> {
    ROLE_SIZES.iter().find(|r| r.0 == name)
}

pub const LOCATIONS: &[&str] = &[
    "East US",
    "West US",
    "Central US",
    "South Central US",
    "North Central US",
    "East US 2",
    "North Europe",
    "West Europe",
    "Southeast Asia",
    "East Asia",
    "Japan West",
    "Japan East",
    "Brazil South",
    "Australia Southeast",
    "Australia East",
    "Central India",
    "South India",
];

pub fn location(name: &str) -> Option<&'static str> {
    LOCATIONS
        .iter()
        .copied()
        .find(|l| l.eq_ignore_ascii_case(name))
}

/// Paired region for geo-replicated storage (GeoSecondaryRegion).
pub fn paired_region(name: &str) -> &'static str {
    match name {
        "East US" => "West US",
        "West US" => "East US",
        "Central US" => "East US 2",
        "East US 2" => "Central US",
        "North Central US" => "South Central US",
        "South Central US" => "North Central US",
        "North Europe" => "West Europe",
        "West Europe" => "North Europe",
        "Southeast Asia" => "East Asia",
        "East Asia" => "Southeast Asia",
        "Japan West" => "Japan East",
        "Japan East" => "Japan West",
        "Brazil South" => "South Central US",
        "Australia Southeast" => "Australia East",
        "Australia East" => "Australia Southeast",
        "Central India" => "South India",
        "South India" => "Central India",
        _ => "",
    }
}
