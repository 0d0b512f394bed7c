//! Ledger writes on blocking threads: a state write (fsync included) must never stall the
//! runtime that polls Azure, and writes that need not precede a request are awaited only
//! where the order matters (before the request they guard, or before the command reports).

use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;

use crate::providers::{Ledger, LedgerError, ProviderError, Resource};

pub(super) type Write = JoinHandle<Result<(), LedgerError>>;

/// Record `rs` (insert or replace) on a blocking thread.
pub(super) fn write_later(ledger: &Arc<dyn Ledger>, rs: Vec<Resource>) -> Write {
    let ledger = ledger.clone();
    tokio::task::spawn_blocking(move || {
        if rs.is_empty() {
            Ok(())
        } else {
            ledger.record(&rs)
        }
    })
}

/// Forget `rs` on a blocking thread.
pub(super) fn forget_later(ledger: &Arc<dyn Ledger>, rs: Vec<Resource>) -> Write {
    let ledger = ledger.clone();
    tokio::task::spawn_blocking(move || {
        if rs.is_empty() {
            Ok(())
        } else {
            ledger.forget_all(&rs)
        }
    })
}

/// Wait for a write; its error as text.
pub(super) async fn written(h: Write) -> Result<(), String> {
    match h.await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(e) => Err(format!("ledger write failed: {e}")),
    }
}

/// Writes to wait for before reporting.
#[derive(Default)]
pub(super) struct Pending(Mutex<Vec<Write>>);

impl Pending {
    pub(super) fn push(&self, w: Write) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(w);
    }

    /// Wait for every write pushed so far; the first error.
    pub(super) async fn all_written(&self) -> Result<(), ProviderError> {
        let writes: Vec<Write> =
            std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()));
        let mut first = Ok(());
        for w in writes {
            if let Err(e) = written(w).await {
                if first.is_ok() {
                    first = Err(ProviderError::other(format!(
                        "cannot update the cluster state: {e}"
                    )));
                }
            }
        }
        first
    }
}
