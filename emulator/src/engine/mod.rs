//! The emulator's core, shared by every face: the Azure-visible state behind one lock and
//! its persistence, the VM backend, the latency and fault models, quotas, which management
//! certificate may manage which subscription, and the asynchronous-operation engine with
//! the effect each operation has when it completes. It never parses or renders a wire
//! format; the faces (`classic`, `admin`) do that around it.

pub mod addresses;
pub mod arm_effects;
pub mod effects;
pub mod operations;
pub mod persist;
pub mod role_status;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::model::faults::Faults;
use crate::model::latency::LatencyModel;
use crate::model::State;
use crate::vm::VmBackend;

/// Quota limits per subscription.
#[derive(Clone, Debug)]
pub struct Quotas {
    pub max_cores: u32,
    pub max_hosted_services: u32,
    pub max_storage_accounts: u32,
}

/// The running emulator's shared state and models.
pub struct Emulator {
    pub state: Mutex<State>,
    pub backend: Arc<dyn VmBackend>,
    pub latency: LatencyModel,
    pub faults: Mutex<Faults>,
    /// Thumbprint (upper hex) → subscriptions it may manage (lower case).
    pub certificates: HashMap<String, Vec<String>>,
    pub state_path: PathBuf,
    pub quotas: Quotas,
    /// Scheduled operation completions (aborted at shutdown).
    pub tasks: Mutex<Vec<tokio::task::AbortHandle>>,
    /// Saves the state soon after it changes (`persist.rs`).
    pub persister: persist::Persister,
}

impl Emulator {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state changed (called with the state lock held): the writer saves it within
    /// `persist::COALESCE`.
    pub fn persist(&self, _st: &State) {
        self.persister.mark();
    }

    /// Save now (shutdown), the writer stopped first.
    pub fn save_now(&self, st: &State) {
        self.persister.stop();
        let _writing = self
            .persister
            .writing
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Err(e) = st.save(&self.state_path) {
            tracing::error!("cannot persist state: {e}");
        }
    }

    /// Write serialised state atomically (the writer thread).
    pub fn write_state(&self, bytes: &[u8]) {
        let _writing = self
            .persister
            .writing
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if self.persister.is_stopped() {
            return;
        }
        if let Err(e) = crate::model::write_atomically(&self.state_path, bytes) {
            tracing::error!("cannot persist state: {e}");
        }
    }

    /// Is this a registered management certificate at all?
    pub fn known_certificate(&self, thumbprint: Option<&str>) -> bool {
        thumbprint.is_some_and(|t| self.certificates.contains_key(t))
    }

    /// May this thumbprint manage this subscription?
    pub fn authorised(&self, thumbprint: Option<&str>, subscription: &str) -> bool {
        let Some(t) = thumbprint else { return false };
        self.certificates
            .get(t)
            .is_some_and(|subs| subs.iter().any(|s| s.eq_ignore_ascii_case(subscription)))
    }

    /// The subscription id as registered (ids are case-insensitive in paths).
    pub fn canonical_subscription(&self, id: &str) -> String {
        let st = self.lock();
        st.subscriptions
            .keys()
            .find(|k| k.eq_ignore_ascii_case(id))
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }
}
