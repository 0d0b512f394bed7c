//! The one door between the cluster lifecycle and a cloud: the [`CloudProvider`] trait and
//! the cloud-neutral values that cross it (who the cluster is, node requests, node facts,
//! progress events, preflight findings, discovered resources, teardown reports).
//!
//! Nothing here names a cloud; nothing in a cloud's folder knows about SSH or Ansible.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::error::ProviderError;
use super::ledger::{Ledger, Resource};

/// Length of an owner id: lowercase hexadecimal digits, so a cloud may put it into a
/// resource name (3–24 lowercase letters/digits is the tightest rule a cloud has).
pub const OWNER_ID_LEN: usize = 16;

/// The cluster a provider is opened for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterIdentity {
    /// The cluster's name (for messages and for descriptions people read in the cloud's
    /// portal; never used to decide ownership: two storage directories may hold clusters of
    /// the same name).
    pub name: String,
    /// The cluster's owner id: [`OWNER_ID_LEN`] random lowercase hex digits, made at the
    /// cluster's first start and kept in its state for its whole life. Every resource a
    /// provider creates carries it where the cloud keeps such a thing (a tag, a property, a
    /// description, or the resource's own name); [`CloudProvider::discover`] reads it back.
    /// `None` only when the cluster's state is lost (`stop NAME --force` from the template):
    /// such a provider may discover and delete, but `plan` and `create` must refuse.
    pub owner_id: Option<String>,
}

impl ClusterIdentity {
    /// A fresh owner id from the operating system's random source.
    pub fn new_owner_id() -> String {
        format!("{:016x}", rand::random::<u64>())
    }

    /// Whether `s` has the form of an owner id.
    pub fn is_owner_id(s: &str) -> bool {
        s.len() == OWNER_ID_LEN
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
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

/// Options of [`CloudProvider::teardown`]. None today: resources the ledger lost are
/// adopted by the lifecycle (from [`CloudProvider::discover`], owner id checked) before
/// teardown is called, so a provider deletes exactly what its ledger lists.
#[derive(Clone, Debug, Default)]
pub struct TeardownOptions {}

#[derive(Clone, Debug, Default)]
pub struct TeardownReport {
    /// What was deleted, as people name it (`cloud service abccs0`).
    pub deleted: Vec<String>,
    /// `(resource, why it is still there)`.
    pub remaining: Vec<(String, String)>,
    /// `(resource, owner id or "no owner id")`: ledger entries that turned out to be another's
    /// (a create that found the name taken). They were forgotten, not deleted.
    pub left_alone: Vec<(String, String)>,
}

/// A resource found in the cloud by the cluster's naming pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovered {
    /// As the ledger would record it (state `Created`): recording it is enough for
    /// [`CloudProvider::teardown`] to delete it.
    pub resource: Resource,
    /// The owner id it carries; `None` when it carries none (made by hand, or by a build
    /// from before owner ids). Resources inside another (a VM in a cloud service) carry
    /// their container's.
    pub owner: Option<String>,
    /// How people name it (`cloud service abccs0`, `VM abc-frontend001 in abccs0`).
    pub label: String,
}

/// One reason a start would fail, found before anything was created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreflightProblem {
    /// The configuration key whose value causes it (`location`, `image_id`, `flavor`,
    /// `subscription_id`, `certificate`, `base_name`…), when one does.
    pub key: Option<String>,
    /// What is wrong, one line, in the cloud's words where it gave some.
    pub problem: String,
    /// What to do, one line.
    pub fix: String,
}

/// What [`CloudProvider::preflight`] found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Preflight {
    /// The checks that passed, one line each (`location East US exists`).
    pub passed: Vec<String>,
    /// Everything that would make the start fail; empty means go.
    pub problems: Vec<PreflightProblem>,
    /// The layout the start would use (one line per group of resources).
    pub layout: Vec<String>,
    /// Quota use once the start is done, one line per subscription, account or quota.
    pub quotas: Vec<String>,
    /// The cloud's model of how long creating the missing nodes takes, until every one
    /// runs (SSH and setup not included).
    pub expected_start: Option<Duration>,
}

/// The only way the lifecycle touches a cloud.
///
/// Ownership, for every method: a provider never changes or deletes a resource that carries
/// another owner id than its [`ClusterIdentity::owner_id`], and never adopts a resource that
/// carries none. Names alone prove nothing (another cluster, from another storage directory
/// or another template with the same naming settings, makes the same names).
#[async_trait]
pub trait CloudProvider: Send + Sync {
    /// Check, reading only, that `plan` + `create` for these nodes can succeed — the
    /// credentials are accepted, the account/subscription and region exist, every node's
    /// image and size exist, the quotas cover what is still to create, and every name the
    /// plan would use is free or carries this cluster's owner id — and say what the start
    /// would do: the layout, the quota use and the expected duration.
    ///
    /// Takes the same inputs as `plan` (`nodes`: every node the cluster should have;
    /// `ledger`: what is already recorded, read only). Never creates, changes or deletes
    /// anything, in the cloud or in the ledger. Every problem is one
    /// [`PreflightProblem`] naming the configuration key that causes it; all are collected
    /// (never stop at the first). `Err` only when the checks themselves could not run (no
    /// answer from the cloud).
    async fn preflight(
        &self,
        nodes: &[NodeRequest],
        ledger: Arc<dyn Ledger>,
    ) -> Result<Preflight, ProviderError>;

    /// Every resource in the cloud whose name follows this cluster's naming pattern, in
    /// every place (subscription, region…) the provider's settings reach, whoever owns it,
    /// each with the owner id it carries. Sorted by kind, then scope, then name.
    ///
    /// Reads only; works without an owner id (`stop NAME --force` after the state was lost).
    /// The lifecycle decides what to do with the findings: refuse to start when one is not
    /// this cluster's, adopt into the ledger only those carrying this cluster's owner id.
    async fn discover(&self) -> Result<Vec<Discovered>, ProviderError>;

    /// Decide where every node goes and record every resource as `Planned` in one atomic
    /// ledger write, before anything is created. Nodes already in the ledger keep their place.
    /// Refuses (`ErrorKind::Invalid`) without an owner id.
    async fn plan(
        &self,
        nodes: &[NodeRequest],
        ledger: Arc<dyn Ledger>,
    ) -> Result<PlanSummary, ProviderError>;

    /// Create everything the ledger has that does not exist yet, marking each `Created`.
    /// Per-node failures do not abort the others: the result lists each node's outcome.
    ///
    /// Sets [`ATTR_REQUESTED`](super::ATTR_REQUESTED) on a resource (one ledger write)
    /// before sending its create request. Everything created carries the owner id; a
    /// resource found existing is adopted (marked `Created`) only when it carries this
    /// cluster's owner id — otherwise it stays `Planned`, untouched, and every node that
    /// needs it fails with a message naming the resource and the owner id it carries (or
    /// that it carries none). Refuses (`ErrorKind::Invalid`) without an owner id.
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

    /// Delete every resource in the ledger, in the order the cloud needs, forgetting each as
    /// it goes. What could not be deleted stays in the ledger and is reported with the
    /// cloud's reason. A ledger entry that was never confirmed created (`Planned`) and turns
    /// out to exist carrying another owner id, or none, is forgotten without being touched
    /// and reported in [`TeardownReport::left_alone`]; `Created` entries are the cluster's
    /// by record (also those of states from before owner ids).
    async fn teardown(
        &self,
        ledger: Arc<dyn Ledger>,
        opts: TeardownOptions,
        events: Events,
    ) -> Result<TeardownReport, ProviderError>;
}
