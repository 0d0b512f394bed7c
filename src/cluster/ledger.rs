//! The provider `Ledger` backed by the cluster state file: every change to the resource list
//! is written atomically (temp file + fsync + rename) before the call returns, so a crash at
//! any moment loses nothing the provider was told about.
//!
//! Cloud-agnostic: it stores the provider's resources as opaque records.

use std::sync::Mutex;

use super::state::{ClusterState, ResourceRecord, ResourceStatus};
use crate::providers::{Ledger, LedgerError, Resource, ResourceState};
use crate::storage::Storage;

pub struct StateLedger {
    storage: Storage,
    state: Mutex<ClusterState>,
    /// A dry run: every write is refused.
    read_only: bool,
}

impl std::fmt::Debug for StateLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateLedger").finish_non_exhaustive()
    }
}

fn to_record(r: &Resource) -> ResourceRecord {
    ResourceRecord {
        kind: r.kind.clone(),
        name: r.name.clone(),
        subscription: r.scope.clone(),
        parent: r.parent.clone(),
        status: match r.state {
            ResourceState::Planned => ResourceStatus::Planned,
            ResourceState::Created => ResourceStatus::Created,
            ResourceState::Deleting => ResourceStatus::Deleting,
        },
        attrs: r.attrs.clone(),
    }
}

/// The state's resources as the ledger gives them to providers.
pub fn resources_of(state: &ClusterState) -> Vec<Resource> {
    state.resources.iter().map(from_record).collect()
}

fn from_record(r: &ResourceRecord) -> Resource {
    Resource {
        kind: r.kind.clone(),
        scope: r.subscription.clone(),
        name: r.name.clone(),
        state: match r.status {
            ResourceStatus::Planned => ResourceState::Planned,
            ResourceStatus::Created => ResourceState::Created,
            ResourceStatus::Deleting => ResourceState::Deleting,
        },
        parent: r.parent.clone(),
        attrs: r.attrs.clone(),
    }
}

impl StateLedger {
    pub fn new(storage: Storage, state: ClusterState) -> Self {
        StateLedger {
            storage,
            state: Mutex::new(state),
            read_only: false,
        }
    }

    /// A ledger that refuses every change (dry runs: nothing may be written or created).
    pub fn read_only(storage: Storage, state: ClusterState) -> Self {
        StateLedger {
            read_only: true,
            ..Self::new(storage, state)
        }
    }

    /// A copy of the current state.
    pub fn state(&self) -> ClusterState {
        match self.state.lock() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Change the state (nodes, addresses…) and persist it.
    pub fn update(&self, f: impl FnOnce(&mut ClusterState)) -> Result<(), LedgerError> {
        if self.read_only {
            return Err(LedgerError(
                "a dry run changes nothing (this is a bug: report it)".into(),
            ));
        }
        let mut s = self
            .state
            .lock()
            .map_err(|_| LedgerError("state lock poisoned".into()))?;
        f(&mut s);
        self.storage
            .save(&*s)
            .map_err(|e| LedgerError(e.to_string()))
    }
}

impl Ledger for StateLedger {
    fn record(&self, rs: &[Resource]) -> Result<(), LedgerError> {
        self.update(|s| {
            for r in rs {
                let rec = to_record(r);
                match s.resources.iter_mut().find(|x| {
                    x.kind == rec.kind && x.subscription == rec.subscription && x.name == rec.name
                }) {
                    Some(x) => *x = rec,
                    None => s.resources.push(rec),
                }
            }
        })
    }

    fn forget(&self, kind: &str, scope: &str, name: &str) -> Result<(), LedgerError> {
        self.update(|s| {
            s.resources
                .retain(|x| !(x.kind == kind && x.subscription == scope && x.name == name))
        })
    }

    fn forget_all(&self, rs: &[Resource]) -> Result<(), LedgerError> {
        self.update(|s| {
            s.resources.retain(|x| {
                !rs.iter()
                    .any(|r| x.kind == r.kind && x.subscription == r.scope && x.name == r.name)
            })
        })
    }

    fn resources(&self) -> Vec<Resource> {
        self.state().resources.iter().map(from_record).collect()
    }
}
