//! The resource ledger a provider writes through: every resource is recorded (`Planned`)
//! before its create request is sent and forgotten only once the cloud says it is gone, so a
//! crash at any moment leaves a record of everything that may exist.
//!
//! Nothing here knows how the ledger is stored (the lifecycle backs it with the cluster state
//! file) or which cloud the resources belong to.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// Attribute naming the node whose VM a resource is.
pub const ATTR_NODE: &str = "node";

/// Attribute a provider sets (value `1`, in one ledger write) right before it sends a
/// resource's create request. A `Planned` resource without it never reached the cloud, so
/// the lifecycle may re-plan or forget it freely (e.g. when the configuration changed).
pub const ATTR_REQUESTED: &str = "requested";

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
    /// The resource it belongs to, if any (e.g. a VM's cloud service), for people reading
    /// the state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Provider-defined facts needed to find or delete it later; [`ATTR_NODE`] names the
    /// node a VM resource embodies.
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
            parent: None,
            attrs: BTreeMap::new(),
        }
    }
    /// Set the resource this one belongs to.
    pub fn in_parent(mut self, parent: &str) -> Self {
        self.parent = Some(parent.to_string());
        self
    }
    /// The node this resource is the VM of, if it is one.
    pub fn node(&self) -> Option<&str> {
        self.attr(ATTR_NODE)
    }
    /// Whether it exists in the cloud or may (confirmed, or its create request was sent).
    pub fn may_exist(&self) -> bool {
        self.state != ResourceState::Planned || self.attr(ATTR_REQUESTED).is_some()
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

/// The ledger could not be written (the message says which file and why).
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
