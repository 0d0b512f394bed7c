//! Writing the state to disk without holding up requests: a change marks the state dirty
//! and a writer thread saves it at most every `COALESCE` (serialised under the state lock,
//! written outside it), so a burst of hundreds of changes costs a few writes instead of
//! hundreds; shutdown saves synchronously. A SIGKILL loses at most the last `COALESCE` of
//! changes. It never changes the state.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

use super::Emulator;

/// The longest a change waits before it is on disk.
pub const COALESCE: Duration = Duration::from_millis(50);

/// The dirty flag and the writer's wake-up.
#[derive(Debug, Default)]
pub struct Persister {
    dirty: Mutex<bool>,
    wake: Condvar,
    stopped: AtomicBool,
    /// Held while a file is written, so two writes never share the temporary file.
    pub writing: Mutex<()>,
}

impl Persister {
    /// The state changed: save it soon.
    pub fn mark(&self) {
        let mut d = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
        *d = true;
        self.wake.notify_one();
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Stop the writer (the caller saves once more itself).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Wait (at most `limit`) for a change: `Some(true)` changed, `Some(false)` nothing yet,
    /// `None` stopped.
    fn wait(&self, limit: Duration) -> Option<bool> {
        let d = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
        let (mut d, _) = self
            .wake
            .wait_timeout_while(d, limit, |d| !*d && !self.stopped.load(Ordering::SeqCst))
            .unwrap_or_else(|p| p.into_inner());
        if self.stopped.load(Ordering::SeqCst) {
            return None;
        }
        let changed = *d;
        *d = false;
        Some(changed)
    }
}

/// Start the writer thread of `emu` (it ends with the emulator or at `stop`).
pub fn start_writer(emu: &Arc<Emulator>) {
    let weak: Weak<Emulator> = Arc::downgrade(emu);
    let spawned = std::thread::Builder::new()
        .name("state-writer".into())
        .spawn(move || loop {
            {
                let Some(emu) = weak.upgrade() else { return };
                match emu.persister.wait(Duration::from_secs(1)) {
                    None => return,
                    Some(false) => continue,
                    Some(true) => {}
                }
            }
            // Let a burst of changes gather, then save them at once.
            std::thread::sleep(COALESCE);
            let Some(emu) = weak.upgrade() else { return };
            let data = {
                let st = emu.lock();
                serde_json::to_vec(&*st)
            };
            match data {
                Ok(bytes) => emu.write_state(&bytes),
                Err(e) => tracing::error!("cannot serialise the state: {e}"),
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the state writer ({e}); state is saved at shutdown only");
    }
}
