//! `CloudProvider` for Azure Resource Manager: the provider value (settings, one client and
//! token cache per service principal) and the door's methods, each implemented in its own
//! module (`plan` with `preflight`, `create`, `status`, `teardown` with `discover`).
//!
//! Every resource is in the ledger as `Planned` before its create request is sent and is
//! marked `Created` when Azure accepted it; teardown forgets resources only once Azure says
//! they are gone. Never touches SSH or Ansible.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use super::client::{http_client, ArmClient, ArmOptions};
use super::names::Paths;
use super::token::{Credentials, TokenCache};
use crate::providers::{
    CloudProvider, ClusterIdentity, Discovered, ErrorKind, Events, Ledger, NodeInfo, NodeRequest,
    PlanSummary, Preflight, ProviderError, Resource, TeardownOptions, TeardownReport,
};

/// Ledger kinds.
pub const K_GROUP: &str = "resource_group";
pub const K_NSG: &str = "network_security_group";
pub const K_VNET: &str = "virtual_network";
pub const K_PIP: &str = "public_ip";
pub const K_NIC: &str = "network_interface";
pub const K_VM: &str = "vm";

/// Everything the ARM provider needs, already validated.
#[derive(Clone, Debug)]
pub struct ArmSettings {
    pub subscription_id: String,
    pub credentials: Credentials,
    /// e.g. `https://management.azure.com`.
    pub arm_endpoint: String,
    pub ca_certificate: Option<PathBuf>,
    /// Programmatic name, e.g. `eastus`.
    pub location: String,
    pub base_name: String,
    /// `false`: only the entry node gets a public IP; the others are reached through it.
    pub use_public_ips: bool,
    /// `[login] user_key_public` (an OpenSSH public key line).
    pub user_key_public: PathBuf,
    /// The cluster this provider works for; its owner id tags the resource group.
    pub identity: ClusterIdentity,
    pub options: ArmOptions,
}

pub(super) struct Inner {
    pub(super) s: ArmSettings,
    pub(super) client: ArmClient,
    pub(super) paths: Paths,
}

#[derive(Clone)]
pub struct ArmProvider {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for ArmProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmProvider")
            .field("subscription", &self.inner.s.subscription_id)
            .field("base_name", &self.inner.s.base_name)
            .finish_non_exhaustive()
    }
}

impl ArmProvider {
    pub fn new(settings: ArmSettings) -> Result<Self, ProviderError> {
        let http = http_client(settings.ca_certificate.as_ref(), &settings.options)
            .map_err(|e| ProviderError::new(ErrorKind::Invalid, e))?;
        let tokens = Arc::new(TokenCache::new(
            settings.credentials.clone(),
            http.clone(),
            settings.options.max_attempts.min(4),
            settings.options.scaled(settings.options.retry_base),
        ));
        let client = ArmClient::new(
            http,
            &settings.arm_endpoint,
            &settings.subscription_id,
            tokens,
            settings.options.clone(),
        );
        let paths = Paths {
            subscription: settings.subscription_id.clone(),
        };
        Ok(ArmProvider {
            inner: Arc::new(Inner {
                s: settings,
                client,
                paths,
            }),
        })
    }

    pub fn client(&self) -> &ArmClient {
        &self.inner.client
    }

    pub fn paths(&self) -> &Paths {
        &self.inner.paths
    }

    /// The owner id of the cluster, which `plan` and `create` need (a provider opened
    /// without one may only discover and delete).
    pub(super) fn owner_id(&self) -> Result<&str, ProviderError> {
        self.inner.s.identity.owner_id.as_deref().ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "cluster `{}` has no owner id: nothing can be created for it (only `stop --force` works without its state)",
                    self.inner.s.identity.name
                ),
            )
        })
    }

    /// VMs of the ledger, in node order.
    pub(super) fn vms_of(res: &[Resource]) -> Vec<Resource> {
        let mut v: Vec<Resource> = res.iter().filter(|r| r.kind == K_VM).cloned().collect();
        v.sort_by_key(|r| {
            r.attr("index")
                .and_then(|i| i.parse::<usize>().ok())
                .unwrap_or(usize::MAX)
        });
        v
    }

    /// The cluster's resource group, as the ledger records it.
    pub(super) fn group_of(res: &[Resource]) -> Option<Resource> {
        res.iter().find(|r| r.kind == K_GROUP).cloned()
    }
}

/// A create request was sent, but its outcome never recorded (the run was killed).
pub(super) fn unconfirmed(r: &Resource) -> bool {
    r.state == crate::providers::ResourceState::Planned && r.attr("requested").is_some()
}

#[async_trait]
impl CloudProvider for ArmProvider {
    async fn preflight(
        &self,
        nodes: &[NodeRequest],
        ledger: Arc<dyn Ledger>,
    ) -> Result<Preflight, ProviderError> {
        self.preflight_report(nodes, ledger).await
    }

    async fn discover(&self) -> Result<Vec<Discovered>, ProviderError> {
        self.discover_groups().await
    }

    async fn plan(
        &self,
        nodes: &[NodeRequest],
        ledger: Arc<dyn Ledger>,
    ) -> Result<PlanSummary, ProviderError> {
        self.plan_nodes(nodes, ledger).await
    }

    async fn create(
        &self,
        ledger: Arc<dyn Ledger>,
        events: Events,
    ) -> Result<Vec<(String, Result<(), String>)>, ProviderError> {
        self.create_planned(ledger, events).await
    }

    async fn nodes(&self, ledger: Arc<dyn Ledger>) -> Result<Vec<NodeInfo>, ProviderError> {
        self.node_infos(ledger).await
    }

    async fn delete_nodes(
        &self,
        names: &[String],
        ledger: Arc<dyn Ledger>,
    ) -> Result<(), ProviderError> {
        self.delete_vms(names, ledger).await
    }

    async fn teardown(
        &self,
        ledger: Arc<dyn Ledger>,
        opts: TeardownOptions,
        events: Events,
    ) -> Result<TeardownReport, ProviderError> {
        self.delete_everything(ledger, opts, events).await
    }
}
