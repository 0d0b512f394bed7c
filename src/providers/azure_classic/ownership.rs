//! Whose a classic resource is. Cloud services and storage accounts carry the cluster's
//! owner id in an extended property (and, for people in the portal, in their description);
//! a deployment in its label; a virtual network site, which has nowhere else to keep it, in
//! its name (`<base>vn<k>-<owner>`). This module writes those marks, reads them back from
//! Azure's listings, and lists what carries the cluster's naming pattern (`discover`).
//!
//! Reads only; never creates or deletes anything.

use futures_util::future::join_all;
use serde::Deserialize;

use super::error::AsmError;
use super::provider::{AzureClassicProvider, K_CLOUD_SERVICE, K_STORAGE, K_VM, K_VNET};
use super::resources as r;
use super::transport::AsmClient;
use crate::providers::{ClusterIdentity, Discovered, ProviderError, Resource, ResourceState};

/// Extended property holding the owner id.
pub const OWNER_PROPERTY: &str = "ElastiClusterOwner";
/// Extended property holding the cluster's name (for people; never used to decide).
pub const CLUSTER_PROPERTY: &str = "ElastiClusterCluster";

/// The marks a new resource gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerMark {
    pub owner_id: String,
    pub description: String,
    /// `(name, value)` extended properties.
    pub properties: Vec<(String, String)>,
}

impl OwnerMark {
    /// The marks of `identity`'s resources; `None` without an owner id (nothing may be
    /// created then).
    pub fn of(identity: &ClusterIdentity, base_name: &str) -> Option<OwnerMark> {
        let id = identity.owner_id.clone()?;
        let cluster: String = identity.name.chars().take(64).collect();
        Some(OwnerMark {
            description: format!(
                "elasticluster cluster {cluster} (base_name {base_name}) owner {id}"
            ),
            properties: vec![
                (OWNER_PROPERTY.into(), id.clone()),
                (CLUSTER_PROPERTY.into(), cluster),
            ],
            owner_id: id,
        })
    }

    /// A deployment's label (Azure keeps at most 100 characters).
    pub fn deployment_label(&self, cloud_service: &str) -> String {
        format!("{cloud_service} owner {}", self.owner_id)
    }
}

/// The owner id marked on a resource: the extended property, else the description's
/// `owner <id>` (what the portal shows, in case someone dropped the property).
pub fn owner_from(description: Option<&str>, properties: &[ExtProp]) -> Option<String> {
    if let Some(p) = properties.iter().find(|p| p.name == OWNER_PROPERTY) {
        let v = p.value.trim();
        return ClusterIdentity::is_owner_id(v).then(|| v.to_string());
    }
    let d = description?;
    let after = &d[d.rfind("owner ")? + "owner ".len()..];
    let id: String = after.chars().take_while(|c| !c.is_whitespace()).collect();
    ClusterIdentity::is_owner_id(&id).then_some(id)
}

/// Virtual network site name of subscription `k` of the cluster owning `owner`.
pub fn vnet_name(base: &str, k: usize, owner: &str) -> String {
    format!("{base}vn{k}-{owner}")
}

/// The owner id in a vnet name following the naming pattern, `Some(None)` for an old-style
/// name without one, `None` for a name that is not the cluster's pattern.
fn vnet_owner(base: &str, name: &str) -> Option<Option<String>> {
    let rest = name.strip_prefix(base)?.strip_prefix("vn")?;
    let (digits, owner) = match rest.split_once('-') {
        Some((d, o)) => (d, Some(o)),
        None => (rest, None),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match owner {
        None => Some(None),
        Some(o) if ClusterIdentity::is_owner_id(o) => Some(Some(o.to_string())),
        Some(_) => None,
    }
}

/// Whether `name` is `<base><infix><digits>`.
fn follows(base: &str, name: &str, infix: &str) -> bool {
    name.strip_prefix(base)
        .and_then(|rest| rest.strip_prefix(infix))
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

#[derive(Debug, Deserialize, Clone, Default, PartialEq, Eq)]
pub struct ExtProp {
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "Value", default)]
    pub value: String,
}

#[derive(Debug, Deserialize, Clone, Default)]
pub struct ExtProps {
    #[serde(rename = "ExtendedProperty", default)]
    pub items: Vec<ExtProp>,
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceProps {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub extended_properties: Option<ExtProps>,
}

/// A hosted service (List / Get Hosted Service(s)).
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(rename_all = "PascalCase")]
pub struct HostedServiceInfo {
    #[serde(default)]
    pub service_name: String,
    #[serde(default)]
    pub hosted_service_properties: ServiceProps,
}

#[derive(Debug, Deserialize, Clone, Default)]
pub struct HostedServiceList {
    #[serde(rename = "HostedService", default)]
    pub items: Vec<HostedServiceInfo>,
}

/// A storage account (its extended properties sit beside its properties).
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(rename_all = "PascalCase")]
pub struct StorageServiceInfo {
    #[serde(default)]
    pub service_name: String,
    #[serde(default)]
    pub storage_service_properties: ServiceProps,
    #[serde(default)]
    pub extended_properties: Option<ExtProps>,
}

#[derive(Debug, Deserialize, Clone, Default)]
pub struct StorageServiceList {
    #[serde(rename = "StorageService", default)]
    pub items: Vec<StorageServiceInfo>,
}

impl HostedServiceInfo {
    pub fn owner(&self) -> Option<String> {
        let p = &self.hosted_service_properties;
        let props = p.extended_properties.as_ref().map(|e| e.items.as_slice());
        owner_from(p.description.as_deref(), props.unwrap_or(&[]))
    }
}

impl StorageServiceInfo {
    pub fn owner(&self) -> Option<String> {
        let props = self
            .extended_properties
            .as_ref()
            .map(|e| e.items.as_slice());
        owner_from(
            self.storage_service_properties.description.as_deref(),
            props.unwrap_or(&[]),
        )
    }
}

/// `Ok(None)` when the hosted service does not exist in this subscription.
pub async fn hosted_service(
    c: &AsmClient,
    cs: &str,
) -> Result<Option<HostedServiceInfo>, AsmError> {
    match c.get_xml::<HostedServiceInfo>(&r::hs_path(cs)).await {
        Ok(h) => Ok(Some(h)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// `Ok(None)` when the storage account does not exist in this subscription.
pub async fn storage_account(
    c: &AsmClient,
    sa: &str,
) -> Result<Option<StorageServiceInfo>, AsmError> {
    match c
        .get_xml::<StorageServiceInfo>(&format!("services/storageservices/{sa}"))
        .await
    {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whose the existing resource `what` is, as an error unless it is `ours`.
pub fn require_ours(what: &str, found: Option<String>, ours: &str) -> Result<(), AsmError> {
    if found.as_deref() == Some(ours) {
        return Ok(());
    }
    Err(AsmError::NotOurs {
        what: what.to_string(),
        owner: found,
    })
}

impl AzureClassicProvider {
    /// The marks for what this provider creates (an error without an owner id).
    pub(super) fn mark(&self) -> Result<OwnerMark, ProviderError> {
        OwnerMark::of(&self.inner.s.identity, &self.inner.s.base_name).ok_or_else(|| {
            ProviderError::new(
                crate::providers::ErrorKind::Invalid,
                "this cluster has no owner id (its state is lost): nothing can be created for it",
            )
        })
    }

    /// Every resource of every configured subscription that follows the naming pattern.
    /// Every subscription at once, and in each every read at once (at 1,000 VMs, one
    /// deployment read after another took most of a second before a start or a stop).
    pub(super) async fn discover_all(&self) -> Result<Vec<Discovered>, ProviderError> {
        let base = self.inner.s.base_name.as_str();
        let each = self
            .inner
            .clients
            .iter()
            .map(|(id, c)| discover_in(base, id, c));
        let mut found = Vec::new();
        for part in join_all(each).await {
            found.extend(part?);
        }
        found.sort_by(|a, b| {
            let k = |d: &Discovered| {
                (
                    d.resource.kind.clone(),
                    d.resource.scope.clone(),
                    d.resource.name.clone(),
                )
            };
            k(a).cmp(&k(b))
        });
        Ok(found)
    }
}

/// What subscription `id` (client `c`) holds under the naming pattern of `base`.
async fn discover_in(base: &str, id: &str, c: &AsmClient) -> Result<Vec<Discovered>, AsmError> {
    let (services, accounts, vnets) = tokio::join!(
        c.get_xml::<HostedServiceList>("services/hostedservices"),
        c.get_xml::<StorageServiceList>("services/storageservices"),
        r::list_vnet_names(c)
    );
    let ours: Vec<_> = services?
        .items
        .into_iter()
        .filter(|hs| follows(base, &hs.service_name, "cs"))
        .collect();
    let deployments = join_all(ours.iter().map(|hs| r::get_deployment(c, &hs.service_name))).await;
    let mut found = Vec::new();
    for (hs, d) in ours.iter().zip(deployments) {
        let owner = hs.owner();
        let name = hs.service_name.clone();
        if let Some(d) = d? {
            for role in &d.role_list.items {
                found.push(Discovered {
                    resource: created(
                        Resource::new(K_VM, id, &role.role_name)
                            .in_parent(&name)
                            .with("cloud_service", &name),
                    ),
                    owner: owner.clone(),
                    label: format!("VM {} in {name}", role.role_name),
                });
            }
        }
        found.push(Discovered {
            resource: created(Resource::new(K_CLOUD_SERVICE, id, &name)),
            owner,
            label: format!("cloud service {name}"),
        });
    }
    for sa in accounts?.items {
        if follows(base, &sa.service_name, "sa") {
            found.push(Discovered {
                resource: created(Resource::new(K_STORAGE, id, &sa.service_name)),
                owner: sa.owner(),
                label: format!("storage account {}", sa.service_name),
            });
        }
    }
    for vn in vnets? {
        if let Some(owner) = vnet_owner(base, &vn) {
            found.push(Discovered {
                resource: created(Resource::new(K_VNET, id, &vn)),
                owner,
                label: format!("virtual network {vn}"),
            });
        }
    }
    Ok(found)
}

fn created(mut r: Resource) -> Resource {
    r.state = ResourceState::Created;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_is_read_from_the_property_then_the_description() {
        let id = "0123456789abcdef";
        let prop = |v: &str| ExtProp {
            name: OWNER_PROPERTY.into(),
            value: v.into(),
        };
        assert_eq!(owner_from(None, &[prop(id)]), Some(id.to_string()));
        assert_eq!(
            owner_from(Some("x owner 0123456789abcdee"), &[prop(id)]),
            Some(id.into())
        );
        assert_eq!(
            owner_from(
                Some("elasticluster cluster c (base_name b) owner 0123456789abcdef"),
                &[]
            ),
            Some(id.to_string())
        );
        assert_eq!(owner_from(Some("made by hand"), &[]), None);
        assert_eq!(owner_from(Some("owner NOT-AN-ID"), &[]), None);
        let m = OwnerMark::of(
            &ClusterIdentity {
                name: "c".into(),
                owner_id: Some(id.into()),
            },
            "abc",
        )
        .unwrap();
        assert_eq!(owner_from(Some(&m.description), &[]), Some(id.to_string()));
        assert!(OwnerMark::of(
            &ClusterIdentity {
                name: "c".into(),
                owner_id: None
            },
            "abc"
        )
        .is_none());
    }

    #[test]
    fn naming_patterns() {
        assert!(follows("abc", "abccs0", "cs"));
        assert!(follows("abc", "abccs12", "cs"));
        assert!(!follows("abc", "abccs", "cs"));
        assert!(!follows("abc", "abcccs0", "cs"));
        assert!(!follows("abc", "abcsacs0", "sa"));
        let id = "0123456789abcdef";
        assert_eq!(
            vnet_owner("abc", &vnet_name("abc", 0, id)),
            Some(Some(id.into()))
        );
        assert_eq!(vnet_owner("abc", "abcvn1"), Some(None));
        assert_eq!(vnet_owner("abc", "abcvn1-x"), None);
        assert_eq!(vnet_owner("abc", "othervn0"), None);
    }
}
