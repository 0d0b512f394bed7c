//! What a subscription offers, as preflight reads it: its locations (List Locations), OS
//! images (List OS Images), role sizes (List Role Sizes) and whether a cloud service or
//! storage account name is free (the `isavailable` checks).
//!
//! Reads only; never creates anything.

use serde::Deserialize;

use super::error::AsmError;
use super::transport::AsmClient;
use super::xml;

#[derive(Debug, Deserialize, Clone, Default)]
pub struct RoleSizeNames {
    #[serde(rename = "RoleSize", default)]
    pub items: Vec<String>,
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ComputeCapabilities {
    #[serde(default)]
    pub virtual_machines_role_sizes: Option<RoleSizeNames>,
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Location {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub compute_capabilities: Option<ComputeCapabilities>,
}

impl Location {
    /// Role sizes VMs may use here, when Azure says.
    pub fn vm_sizes(&self) -> Option<&[String]> {
        self.compute_capabilities
            .as_ref()?
            .virtual_machines_role_sizes
            .as_ref()
            .map(|s| s.items.as_slice())
    }
}

#[derive(Debug, Deserialize, Clone, Default)]
struct Locations {
    #[serde(rename = "Location", default)]
    items: Vec<Location>,
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(rename_all = "PascalCase")]
struct OsImage {
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize, Clone, Default)]
struct Images {
    #[serde(rename = "OSImage", default)]
    items: Vec<OsImage>,
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(rename_all = "PascalCase")]
struct Availability {
    #[serde(default)]
    result: String,
    #[serde(default)]
    reason: Option<String>,
}

/// What one subscription offers.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub locations: Vec<Location>,
    pub images: Vec<String>,
    pub role_sizes: Vec<xml::RoleSize>,
}

impl Catalog {
    /// The three lists, read at the same time.
    pub async fn read(c: &AsmClient) -> Result<Catalog, AsmError> {
        let (locations, images, sizes): (Locations, Images, xml::RoleSizes) = tokio::try_join!(
            c.get_xml("locations"),
            c.get_xml("services/images"),
            c.get_xml("rolesizes")
        )?;
        Ok(Catalog {
            locations: locations.items,
            images: images.items.into_iter().map(|i| i.name).collect(),
            role_sizes: sizes.items,
        })
    }

    /// The location named `name` (Azure compares names without case).
    pub fn location(&self, name: &str) -> Option<&Location> {
        self.locations
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case(name.trim()))
    }

    pub fn has_image(&self, name: &str) -> bool {
        self.images.iter().any(|i| i == name)
    }

    /// The role size named `name` (Azure compares names without case).
    pub fn role_size(&self, name: &str) -> Option<&xml::RoleSize> {
        self.role_sizes
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }
}

/// Whether a name is free: `Ok(None)` when it is, `Ok(Some(reason))` when taken.
async fn available(c: &AsmClient, path: &str) -> Result<Option<String>, AsmError> {
    let a: Availability = c.get_xml(path).await?;
    if a.result.eq_ignore_ascii_case("true") {
        Ok(None)
    } else {
        Ok(Some(
            a.reason
                .filter(|r| !r.trim().is_empty())
                .unwrap_or_else(|| "the name is taken".into()),
        ))
    }
}

/// Check Hosted Service Name Availability.
pub async fn cloud_service_name_taken(c: &AsmClient, cs: &str) -> Result<Option<String>, AsmError> {
    available(
        c,
        &format!("services/hostedservices/operations/isavailable/{cs}"),
    )
    .await
}

/// Check Storage Account Name Availability.
pub async fn storage_account_name_taken(
    c: &AsmClient,
    sa: &str,
) -> Result<Option<String>, AsmError> {
    available(
        c,
        &format!("services/storageservices/operations/isavailable/{sa}"),
    )
    .await
}
