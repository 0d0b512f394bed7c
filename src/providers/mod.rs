//! The one door between the cluster lifecycle and a cloud: the `CloudProvider` trait, the
//! resource `Ledger` through which a provider records what it is about to create (before
//! sending the request) and what it has created, and the node facts a provider reports.
//!
//! Nothing here knows how the ledger is stored (the lifecycle backs it with the cluster
//! state file) and nothing in the lifecycle knows which cloud it talks to.

pub mod azure_classic;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Where a resource is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceState {
    /// Recorded; its create request may or may not have reached the cloud.
    Planned,
    /// The cloud confirmed it exists.
    Created,
    /// A delete request may have been sent.
    Deleting,
}

/// One cloud resource a provider owns, as the ledger keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// Provider-defined kind, e.g. `cloud_service`, `storage_account`, `vm`.
    pub kind: String,
    /// Where the name is unique, e.g. the subscription id.
    pub scope: String,
    pub name: String,
    pub state: ResourceState,
    /// Provider-defined facts needed to find or delete it later.
    #[serde(default)]
    pub attrs: BTreeMap<String, String>,
}

impl Resource {
    pub fn new(kind: &str, scope: &str, name: &str) -> Self {
        Resource {
            kind: kind.into(),
            scope: scope.into(),
            name: name.into(),
            state: ResourceState::Planned,
            attrs: BTreeMap::new(),
        }
    }
    pub fn with(mut self, k: &str, v: impl ToString) -> Self {
        self.attrs.insert(k.into(), v.to_string());
        self
    }
    pub fn attr(&self, k: &str) -> Option<&str> {
        self.attrs.get(k).map(String::as_str)
    }
    pub fn same(&self, o: &Resource) -> bool {
        self.kind == o.kind && self.scope == o.scope && self.name == o.name
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot record cluster state: {0}")]
pub struct LedgerError(pub String);

/// Durable record of a cluster's cloud resources. Every method returns only after the change
/// is on disk (atomically), so a crash right after it loses nothing.
pub trait Ledger: Send + Sync {
    /// Insert or replace (by kind + scope + name) all of `rs` in one atomic write.
    fn record(&self, rs: &[Resource]) -> Result<(), LedgerError>;
    /// Remove one resource (it no longer exists in the cloud).
    fn forget(&self, kind: &str, scope: &str, name: &str) -> Result<(), LedgerError>;
    fn resources(&self) -> Vec<Resource>;

    /// Remove several resources; implementations should make it one write.
    fn forget_all(&self, rs: &[Resource]) -> Result<(), LedgerError> {
        for r in rs {
            self.forget(&r.kind, &r.scope, &r.name)?;
        }
        Ok(())
    }

    fn set_state(&self, r: &Resource, state: ResourceState) -> Result<(), LedgerError> {
        let mut r = r.clone();
        r.state = state;
        self.record(&[r])
    }
}

/// A ledger in memory (tests; commands that must not persist).
#[derive(Default, Debug)]
pub struct MemoryLedger(Mutex<Vec<Resource>>);

impl Ledger for MemoryLedger {
    fn record(&self, rs: &[Resource]) -> Result<(), LedgerError> {
        let mut v = self
            .0
            .lock()
            .map_err(|_| LedgerError("ledger lock poisoned".into()))?;
        for r in rs {
            match v.iter_mut().find(|x| x.same(r)) {
                Some(x) => *x = r.clone(),
                None => v.push(r.clone()),
            }
        }
        Ok(())
    }
    fn forget(&self, kind: &str, scope: &str, name: &str) -> Result<(), LedgerError> {
        let mut v = self
            .0
            .lock()
            .map_err(|_| LedgerError("ledger lock poisoned".into()))?;
        v.retain(|x| !(x.kind == kind && x.scope == scope && x.name == name));
        Ok(())
    }
    fn resources(&self) -> Vec<Resource> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// A node the lifecycle wants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRequest {
    /// e.g. `frontend001`.
    pub name: String,
    /// e.g. `frontend`.
    pub kind: String,
    pub image_id: String,
    pub flavor: String,
    /// Linux user created on the VM.
    pub image_user: String,
}

/// What the cloud says about a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "phase", content = "detail")]
pub enum NodePhase {
    /// Not created yet (or its create request is in flight).
    Creating,
    /// Exists, not ready yet.
    Booting(String),
    /// Running and reported ready by the cloud.
    Running,
    /// The cloud says it will not come up (e.g. provisioning failed).
    Failed(String),
    /// Does not exist in the cloud.
    Gone,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub name: String,
    /// Cloud id of the VM (Azure: the role name).
    pub instance_id: String,
    pub phase: NodePhase,
    /// Address and port SSH answers on, once known.
    pub ssh_host: Option<String>,
    pub ssh_port: Option<u16>,
    pub private_ip: Option<String>,
    /// The cloud's own words for the status, for messages (e.g. `ReadyRole/Started`).
    pub cloud_status: String,
}

/// Progress events a provider emits while it works.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderEvent {
    /// Count of resources / VMs about to be handled.
    Planned {
        resources: usize,
        vms: usize,
    },
    ResourceDone {
        kind: String,
        name: String,
    },
    VmCreated {
        node: String,
        group: String,
    },
    VmFailed {
        node: String,
        error: String,
    },
    Deleted {
        kind: String,
        name: String,
    },
}

pub type Events = Arc<dyn Fn(ProviderEvent) + Send + Sync>;

/// A no-op event sink.
pub fn no_events() -> Events {
    Arc::new(|_| {})
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanSummary {
    /// Human-readable description of the layout (one line per group).
    pub lines: Vec<String>,
    /// Adjustments worth a warning.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct TeardownOptions {
    /// Also delete cloud resources carrying the cluster's naming pattern that the ledger
    /// does not know about.
    pub force: bool,
}

#[derive(Clone, Debug, Default)]
pub struct TeardownReport {
    pub deleted: Vec<String>,
    /// `(resource, why it is still there)`.
    pub remaining: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error(transparent)]
    Azure(Box<azure_classic::AsmError>),
    #[error(transparent)]
    Plan(#[from] azure_classic::layout::PlanError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("{0}")]
    Other(String),
}

impl From<azure_classic::AsmError> for ProviderError {
    fn from(e: azure_classic::AsmError) -> Self {
        ProviderError::Azure(Box::new(e))
    }
}

/// The only way the lifecycle touches a cloud.
#[async_trait]
pub trait CloudProvider: Send + Sync {
    /// Decide where every node goes and record every resource as `Planned` in one atomic
    /// ledger write, before anything is created. Nodes already in the ledger keep their place.
    async fn plan(
        &self,
        nodes: &[NodeRequest],
        ledger: Arc<dyn Ledger>,
    ) -> Result<PlanSummary, ProviderError>;

    /// Create everything the ledger has that does not exist yet, marking each `Created`.
    /// Per-node failures do not abort the others: the result lists each node's outcome.
    async fn create(
        &self,
        ledger: Arc<dyn Ledger>,
        events: Events,
    ) -> Result<Vec<(String, Result<(), String>)>, ProviderError>;

    /// Current phase and addresses of every node in the ledger.
    async fn nodes(&self, ledger: Arc<dyn Ledger>) -> Result<Vec<NodeInfo>, ProviderError>;

    /// Delete these nodes' VMs (e.g. unreachable ones) and forget them.
    async fn delete_nodes(
        &self,
        names: &[String],
        ledger: Arc<dyn Ledger>,
    ) -> Result<(), ProviderError>;

    /// Delete every resource in the ledger (and with `force` whatever carries the cluster's
    /// names), forgetting each as it goes. What could not be deleted stays in the ledger.
    async fn teardown(
        &self,
        ledger: Arc<dyn Ledger>,
        opts: TeardownOptions,
        events: Events,
    ) -> Result<TeardownReport, ProviderError>;
}

/// The provider settings snapshot to store in the cluster state for a template.
/// `endpoint` replaces the cloud section's subscription and URL (the sandbox emulator).
pub fn snapshot_for_template(
    t: &crate::config::ClusterTemplate,
    endpoint: Option<azure_classic::config::Endpoint>,
) -> Result<toml::Table, ProviderError> {
    match &t.cloud {
        crate::config::CloudConfig::AzureClassic(cloud) => {
            azure_classic::config::AzureSnapshot::from_config(cloud, &t.azure, &t.login, endpoint)?
                .to_table()
        }
    }
}

/// The provider a cluster state was started with (`None`: the state names no provider).
pub fn from_snapshot(t: &toml::Table) -> Result<Option<Arc<dyn CloudProvider>>, ProviderError> {
    match azure_classic::config::AzureSnapshot::from_table(t)? {
        None => Ok(None),
        Some(s) => Ok(Some(Arc::new(
            azure_classic::provider::AzureClassicProvider::new(s.settings())?,
        ))),
    }
}
