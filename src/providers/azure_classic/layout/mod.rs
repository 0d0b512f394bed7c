//! Layout of a cluster on Azure classic: which VM goes into which cloud service, storage
//! account and subscription. Here are the names — `<base_name>`-prefixed and derived from
//! (base_name, index) only, so they can be found again —, Azure's limits, and the `Layout`
//! the planner (`planner`) decides. Never talks to Azure.

mod planner;

pub use planner::plan;

use serde::{Deserialize, Serialize};

/// Azure's limit of roles (VMs) in one deployment.
pub const MAX_VMS_PER_CLOUD_SERVICE: usize = 50;
/// Standard storage accounts comfortably hold this many OS disks (IOPS budget).
pub const VMS_PER_STORAGE_ACCOUNT: usize = 40;
/// First public SSH port on a cloud service VIP (`1222 + index`, as the original).
pub const SSH_PORT_BASE: u16 = 1222;

/// Hosted service (cloud service) name; the deployment has the same name.
pub fn cloud_service_name(base: &str, k: usize) -> String {
    format!("{base}cs{k}")
}
/// Storage account name (3–24 lowercase letters/digits: base ≤ 15 + "sa" + index).
pub fn storage_account_name(base: &str, k: usize) -> String {
    format!("{base}sa{k}")
}
/// Virtual network site name of subscription `s`.
pub fn vnet_name(base: &str, s: usize) -> String {
    format!("{base}vn{s}")
}
pub const SUBNET_NAME: &str = "subnet1";
/// Role (VM) name of a node.
pub fn role_name(base: &str, node: &str) -> String {
    format!("{base}-{node}")
}

/// Valid as a storage account name (and therefore as everything else we derive).
pub fn valid_base_name(base: &str) -> bool {
    (3..=15).contains(&base.len())
        && base
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Free quota of one subscription (from Get Subscription), plus its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionQuota {
    pub id: String,
    pub free_hosted_services: usize,
    pub free_storage_accounts: usize,
    /// `None` when unknown (then cores are not checked).
    pub free_cores: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct PlanInput<'a> {
    pub base_name: &'a str,
    /// Node names in start order (the index of a node is its position here).
    pub nodes: &'a [String],
    pub subscriptions: &'a [SubscriptionQuota],
    /// Cores of the chosen role size, if known.
    pub cores_per_vm: Option<usize>,
    pub n_cloud_services: Option<usize>,
    pub n_storage_accounts: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmPlacement {
    pub node: String,
    /// Position of the node in the plan (stable; gives the SSH port).
    pub index: usize,
    pub subscription: usize,
    pub cloud_service: String,
    pub storage_account: String,
    pub role_name: String,
    pub ssh_port: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionLayout {
    pub index: usize,
    pub id: String,
    pub vnet: String,
    pub cloud_services: Vec<String>,
    pub storage_accounts: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    pub subscriptions: Vec<SubscriptionLayout>,
    pub vms: Vec<VmPlacement>,
    /// Adjustments made to the user's overrides, worth a warning.
    pub notes: Vec<String>,
}

impl Layout {
    pub fn max_vms_per_cloud_service(&self) -> usize {
        let mut counts = std::collections::BTreeMap::<&str, usize>::new();
        for v in &self.vms {
            *counts.entry(&v.cloud_service).or_default() += 1;
        }
        counts.values().copied().max().unwrap_or(0)
    }
    pub fn n_cloud_services(&self) -> usize {
        self.subscriptions
            .iter()
            .map(|s| s.cloud_services.len())
            .sum()
    }
    pub fn n_storage_accounts(&self) -> usize {
        self.subscriptions
            .iter()
            .map(|s| s.storage_accounts.len())
            .sum()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("base_name `{0}` is not usable: it must be 3–15 lowercase letters or digits")]
    BadBaseName(String),
    #[error("not enough Azure quota for {n} VMs: {detail} — free some quota, raise it with Azure support, or add subscriptions with `subscription_file`")]
    Quota { n: usize, detail: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_derived_from_base_and_index() {
        assert_eq!(cloud_service_name("abc", 3), "abccs3");
        assert_eq!(
            storage_account_name("abcdefghijklmno", 999),
            "abcdefghijklmnosa999"
        );
        assert_eq!(role_name("abc", "compute001"), "abc-compute001");
        assert!(!valid_base_name("ab"));
        assert!(!valid_base_name("aBc"));
        assert!(!valid_base_name("a_bc"));
    }
}
