//! Asynchronous operations the way Azure ran them: a mutating request is accepted (202 with
//! its request id), recorded `InProgress` with the exclusive locks it holds, completed after
//! the modelled duration (its effect applied, or rolled back when it was decided to fail),
//! and its locks released; pollers see the outcome through Get Operation Status.
//! Operations in flight survive a restart. Synchronous requests are recorded as Succeeded
//! operations too. It never decides what an operation means (see `effects`).

use std::sync::Arc;
use std::time::Duration;

use super::effects::{self, HostAction};
use super::Emulator;
use crate::model::{now_ms, OpError, OpStatus, Operation, Pending, Subscription};

/// Lock of the subscription's network configuration.
pub const NETWORK_LOCK: &str = "net";

/// Lock of a hosted service (key: its lower-case name).
pub fn service_lock(service: &str) -> String {
    format!("hs:{service}")
}

/// Lock of a hosted service's deployment.
pub fn deployment_lock(service: &str) -> String {
    format!("dep:{service}")
}

/// How many finished operations a subscription remembers.
const KEEP_OPERATIONS: usize = 5_000;

/// An asynchronous operation to start.
pub struct NewOperation {
    /// Operation name (`CreateDeployment`, …), for the inventory and fault decisions.
    pub kind: &'static str,
    pub duration: Duration,
    /// The state change it applies when it completes.
    pub pending: Pending,
    /// Locks it holds until then (already checked free by the caller).
    pub locks: Vec<String>,
    /// Decided at acceptance: the operation ends Failed with this error.
    pub fail_with: Option<OpError>,
}

impl Emulator {
    /// Register a synchronous mutating request as a Succeeded operation (Azure let clients
    /// poll the request id of 200/201 responses too).
    pub fn register_sync(&self, sub: &mut Subscription, id: &str, kind: &str, status: u16) {
        let now = now_ms();
        sub.operations.insert(
            id.to_string(),
            Operation {
                id: id.to_string(),
                status: OpStatus::Succeeded,
                http_status: Some(status),
                started: now,
                completes_at: now,
                kind: kind.into(),
                ..Default::default()
            },
        );
        forget_old_operations(sub);
    }

    /// Accept an asynchronous operation: record it, take its locks and schedule its
    /// completion. An `opfail` fault may decide here that it will fail.
    pub fn begin_operation(self: &Arc<Self>, sub: &mut Subscription, id: &str, op: NewOperation) {
        let now = now_ms();
        let mut fail_with = op.fail_with;
        if fail_with.is_none() && self.faults().op_fails(&format!("{} {}", op.kind, sub.id)) {
            fail_with = Some(OpError::internal());
        }
        for lock in &op.locks {
            set_lock(sub, lock, Some(id.to_string()));
        }
        sub.operations.insert(
            id.to_string(),
            Operation {
                id: id.to_string(),
                status: OpStatus::InProgress,
                started: now,
                completes_at: now + op.duration.as_millis() as i64,
                pending: Some(op.pending),
                fail_with,
                locks: op.locks,
                kind: op.kind.into(),
                ..Default::default()
            },
        );
        forget_old_operations(sub);
        self.schedule(sub.id.clone(), id.to_string());
    }

    fn schedule(self: &Arc<Self>, sub: String, id: String) {
        let me = self.clone();
        let handle = tokio::spawn(async move { me.run_operation(sub, id).await });
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(handle.abort_handle());
    }

    async fn run_operation(self: Arc<Self>, sub: String, id: String) {
        // 1. Boot the VMs this operation creates (addresses are known before it completes).
        effects::create_pending_vms(&self, &sub, &id).await;
        // 2. Wait for the modelled duration.
        let due = {
            let st = self.lock();
            st.subscriptions
                .get(&sub)
                .and_then(|s| s.operations.get(&id))
                .map(|o| o.completes_at)
        };
        let Some(due) = due else { return };
        let wait = due - now_ms();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
        // 2b. A Resource Manager VM create also waits for its guest.
        super::arm_effects::wait_guest(&self, &sub, &id).await;
        // 3. Apply the outcome; 4. host-side work after the state change (outside the lock).
        for action in self.complete_operation(&sub, &id) {
            effects::run_host_action(&self, action).await;
        }
    }

    fn complete_operation(&self, sub_id: &str, id: &str) -> Vec<HostAction> {
        let mut st = self.lock();
        let Some(sub) = st.subscriptions.get_mut(sub_id) else {
            return Vec::new();
        };
        let Some(op) = sub.operations.get(id).cloned() else {
            return Vec::new();
        };
        if op.status != OpStatus::InProgress {
            return Vec::new();
        }
        let mut actions = Vec::new();
        let outcome = match (&op.fail_with, op.pending.as_ref()) {
            (Some(e), Some(p)) => {
                effects::roll_back(sub, p, id, e, &mut actions);
                Err(e.clone())
            }
            (None, Some(p)) => {
                effects::apply(self, sub, p, id, now_ms(), &mut actions);
                Ok(())
            }
            (_, None) => Ok(()),
        };
        for lock in &op.locks {
            if lock_holder(sub, lock).as_deref() == Some(id) {
                set_lock(sub, lock, None);
            }
        }
        if let Some(o) = sub.operations.get_mut(id) {
            o.pending = None;
            match outcome {
                Ok(()) => {
                    o.status = OpStatus::Succeeded;
                    o.http_status = Some(200);
                }
                Err(e) => {
                    o.status = OpStatus::Failed;
                    o.http_status = Some(e.http_status);
                    o.error = Some(e);
                }
            }
        }
        self.persist(&st);
        actions
    }

    /// After a restart: reschedule every operation still in progress.
    pub fn resume_operations(self: &Arc<Self>) {
        let in_progress: Vec<(String, String)> = {
            let st = self.lock();
            st.subscriptions
                .values()
                .flat_map(|s| {
                    s.operations
                        .values()
                        .filter(|o| o.status == OpStatus::InProgress)
                        .map(move |o| (s.id.clone(), o.id.clone()))
                })
                .collect()
        };
        for (sub, id) in in_progress {
            self.schedule(sub, id);
        }
    }
}

fn forget_old_operations(sub: &mut Subscription) {
    if sub.operations.len() <= KEEP_OPERATIONS {
        return;
    }
    let mut done: Vec<(i64, String)> = sub
        .operations
        .values()
        .filter(|o| o.status != OpStatus::InProgress)
        .map(|o| (o.started, o.id.clone()))
        .collect();
    done.sort();
    for (_, id) in done
        .into_iter()
        .take(sub.operations.len() - KEEP_OPERATIONS)
    {
        sub.operations.remove(&id);
    }
}

/// The operation holding a lock, if any.
pub fn lock_holder(sub: &Subscription, lock: &str) -> Option<String> {
    if lock == NETWORK_LOCK {
        return sub.network_lock.clone();
    }
    if let Some(service) = lock.strip_prefix("hs:") {
        return sub
            .hosted_services
            .get(service)
            .and_then(|s| s.lock.clone());
    }
    if let Some(service) = lock.strip_prefix("dep:") {
        return sub
            .hosted_services
            .get(service)
            .and_then(|s| s.deployment.as_ref())
            .and_then(|d| d.lock.clone());
    }
    None
}

fn set_lock(sub: &mut Subscription, lock: &str, holder: Option<String>) {
    if lock == NETWORK_LOCK {
        sub.network_lock = holder;
    } else if let Some(service) = lock.strip_prefix("hs:") {
        if let Some(s) = sub.hosted_services.get_mut(service) {
            s.lock = holder;
        }
    } else if let Some(service) = lock.strip_prefix("dep:") {
        if let Some(d) = sub
            .hosted_services
            .get_mut(service)
            .and_then(|s| s.deployment.as_mut())
        {
            d.lock = holder;
        }
    }
}
