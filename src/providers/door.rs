//! The one door between the cluster lifecycle and a cloud: the [`CloudProvider`] trait and
//! the cloud-neutral values that cross it (node requests, node facts, progress events,
//! teardown reports).
//!
//! Nothing here names a cloud; nothing in a cloud's folder knows about SSH or Ansible.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::error::ProviderError;
use super::ledger::Ledger;

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
    /// Text handed to the VM at its first boot (`image_userdata`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_userdata: Option<String>,
    /// The node users and the tool reach first (the frontend, see `ssh_to`). A cloud that
    /// gives only some nodes an address reachable from outside gives one to this node and
    /// reports the others as reached through it ([`NodeInfo::via`]).
    #[serde(default)]
    pub entry: bool,
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
    /// The cloud's id of the VM.
    pub instance_id: String,
    pub phase: NodePhase,
    /// Address and port SSH answers on, once known.
    pub ssh_host: Option<String>,
    pub ssh_port: Option<u16>,
    pub private_ip: Option<String>,
    /// The cloud's own words for the status, for messages.
    pub cloud_status: String,
    /// Name of the node this one is reached through: its `ssh_host` is an address inside
    /// the cluster's network, reachable only from that node (a jump host for SSH). `None`:
    /// reached directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
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
