//! `CloudProvider` for Azure classic: the provider value (settings, one client per
//! subscription) and the door's methods, each implemented in its own module (`preflight`,
//! `ownership` for discovery, `plan`, `create`, `status`, `teardown`).
//!
//! Every resource is in the ledger as `Planned` before its create request is sent and is
//! marked `Created` when Azure confirms it; teardown forgets each resource only once Azure
//! says it is gone. Never touches SSH or Ansible.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;

use super::layout::{self, SUBNET_NAME};
use super::service_cert::{ssh_service_cert, SshServiceCert};
use super::transport::{AsmClient, ClientOptions, SubscriptionAccess};
use super::xml::RoleSpec;
use crate::providers::{
    CloudProvider, ClusterIdentity, Discovered, Events, Ledger, NodeInfo, NodeRequest, PlanSummary,
    Preflight, ProviderError, Resource, TeardownOptions, TeardownReport,
};

pub const K_CLOUD_SERVICE: &str = "cloud_service";
pub const K_CERTIFICATE: &str = "service_certificate";
pub const K_STORAGE: &str = "storage_account";
pub const K_VNET: &str = "vnet";
pub const K_VM: &str = "vm";

/// Everything the Azure provider needs, already validated by the config layer.
#[derive(Clone, Debug)]
pub struct AzureSettings {
    /// Index 0 = the cloud section's subscription, then `subscription_file` entries.
    pub subscriptions: Vec<SubscriptionAccess>,
    pub location: String,
    pub base_name: String,
    /// `[login] user_key_public` (OpenSSH RSA public key or a PEM certificate).
    pub user_key_public: PathBuf,
    /// `[login] user_key_private`.
    pub user_key_private: PathBuf,
    pub use_public_ips: bool,
    pub n_cloud_services: Option<usize>,
    pub n_storage_accounts: Option<usize>,
    pub client: ClientOptions,
    /// The cluster this provider works for; its owner id marks what is created.
    pub identity: ClusterIdentity,
}

pub(super) struct Inner {
    pub(super) s: AzureSettings,
    /// Subscription id → client.
    pub(super) clients: BTreeMap<String, AsmClient>,
    /// The SSH service certificate once built (checking the RSA key is slow: once per
    /// command, not once per step).
    ssh_cert: OnceLock<SshServiceCert>,
}

#[derive(Clone)]
pub struct AzureClassicProvider {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for AzureClassicProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureClassicProvider")
            .field("base_name", &self.inner.s.base_name)
            .finish_non_exhaustive()
    }
}

impl AzureClassicProvider {
    pub fn new(settings: AzureSettings) -> Result<Self, ProviderError> {
        if settings.subscriptions.is_empty() {
            return Err(ProviderError::other("no Azure subscription configured"));
        }
        // One HTTPS client per subscription, built side by side (each parses the system's
        // CA bundle, tens of milliseconds).
        let built: Vec<Result<AsmClient, _>> = std::thread::scope(|scope| {
            let handles: Vec<_> = settings
                .subscriptions
                .iter()
                .map(|a| scope.spawn(|| AsmClient::new(a, settings.client.clone())))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(super::AsmError::Config(
                            "building the HTTPS client failed".into(),
                        ))
                    })
                })
                .collect()
        });
        let mut clients = BTreeMap::new();
        for (a, c) in settings.subscriptions.iter().zip(built) {
            clients.insert(a.id.clone(), c?);
        }
        Ok(AzureClassicProvider {
            inner: Arc::new(Inner {
                s: settings,
                clients,
                ssh_cert: OnceLock::new(),
            }),
        })
    }

    pub(super) fn client(&self, scope: &str) -> Result<&AsmClient, ProviderError> {
        self.inner.clients.get(scope).ok_or_else(|| {
            ProviderError::other(format!(
                "the cluster state names subscription {scope}, which is not configured any more: \
                 add it back (cloud section or subscription_file) to manage these resources"
            ))
        })
    }

    pub(super) fn ssh_cert(&self) -> Result<SshServiceCert, ProviderError> {
        if let Some(c) = self.inner.ssh_cert.get() {
            return Ok(c.clone());
        }
        let c = ssh_service_cert(
            &self.inner.s.user_key_public,
            &self.inner.s.user_key_private,
            &format!("elasticluster {}", self.inner.s.base_name),
        )?;
        Ok(self.inner.ssh_cert.get_or_init(|| c).clone())
    }

    /// [`ssh_cert`](Self::ssh_cert) on a blocking thread, so that the RSA key check (tens
    /// of milliseconds) overlaps the requests the caller waits for at the same time.
    pub(super) async fn ssh_cert_aside(&self) -> Result<SshServiceCert, ProviderError> {
        if let Some(c) = self.inner.ssh_cert.get() {
            return Ok(c.clone());
        }
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.ssh_cert())
            .await
            .map_err(|e| {
                ProviderError::other(format!("building the SSH service certificate: {e}"))
            })?
    }

    pub(super) fn role_spec(&self, vm: &Resource, cert: &SshServiceCert) -> RoleSpec {
        let a = |k: &str| vm.attr(k).unwrap_or_default().to_string();
        let user = a("user");
        RoleSpec {
            role_name: vm.name.clone(),
            host_name: a("node"),
            ssh_fingerprint: cert.thumbprint.clone(),
            ssh_path: format!("/home/{user}/.ssh/authorized_keys"),
            user_name: user,
            ssh_public_port: a("ssh_port").parse().unwrap_or(layout::SSH_PORT_BASE),
            subnet_name: Some(SUBNET_NAME.to_string()),
            public_ip_name: self
                .inner
                .s
                .use_public_ips
                .then(|| format!("{}-pip", vm.name)),
            media_link: format!(
                "https://{}.blob.core.windows.net/vhds/{}.vhd",
                a("storage_account"),
                vm.name
            ),
            source_image_name: a("image"),
            role_size: a("flavor"),
        }
    }

    pub(super) fn vms_of(res: &[Resource]) -> Vec<Resource> {
        let mut v: Vec<Resource> = res.iter().filter(|r| r.kind == K_VM).cloned().collect();
        v.sort_by_key(|r| {
            r.attr("index")
                .and_then(|i| i.parse::<usize>().ok())
                .unwrap_or(usize::MAX)
        });
        v
    }
}

#[async_trait]
impl CloudProvider for AzureClassicProvider {
    async fn preflight(
        &self,
        nodes: &[NodeRequest],
        ledger: Arc<dyn Ledger>,
    ) -> Result<Preflight, ProviderError> {
        self.check_before_start(nodes, ledger).await
    }

    async fn discover(&self) -> Result<Vec<Discovered>, ProviderError> {
        self.discover_all().await
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
