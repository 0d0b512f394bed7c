//! Writes the emulator's state file off the request path: a change only marks the state
//! dirty; one writer thread serialises the latest state and replaces the file, at most once
//! per [`WRITE_INTERVAL`], so a burst of changes costs one write instead of one each (with
//! 1,000 VMs the file is megabytes, and writing it per change made the emulator, not the
//! modelled Azure, the slowest part of a start). Shutdown writes the final state itself.
//! It never changes the state, and never writes after [`Persister::stop`].

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

use super::Emulator;
use crate::model::{State, StateError};

/// Changes within this window share one write (a crash loses at most this much).
pub const WRITE_INTERVAL: Duration = Duration::from_millis(50);

#[derive(Default)]
struct Flags {
    dirty: bool,
    stopped: bool,
}

#[derive(Default)]
struct Shared {
    flags: Mutex<Flags>,
    wake: Condvar,
}

impl Shared {
    fn flags(&self) -> std::sync::MutexGuard<'_, Flags> {
        self.flags.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The state file's writer: [`mark`](Persister::mark) after a change,
/// [`stop`](Persister::stop) before the final synchronous write.
#[derive(Default)]
pub struct Persister {
    shared: Arc<Shared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Persister {
    /// Start the writer thread for `emu`'s state, written to `path`.
    pub fn start(&self, emu: Weak<Emulator>, path: PathBuf) {
        let shared = self.shared.clone();
        let handle = std::thread::Builder::new()
            .name("emulator-state-writer".into())
            .spawn(move || write_loop(&shared, &emu, &path));
        match handle {
            Ok(h) => {
                if let Ok(mut t) = self.thread.lock() {
                    *t = Some(h);
                }
            }
            Err(e) => tracing::error!("cannot start the state writer: {e}"),
        }
    }

    /// The state changed: it will be written within [`WRITE_INTERVAL`] (or by shutdown).
    pub fn mark(&self) {
        self.shared.flags().dirty = true;
        self.shared.wake.notify_one();
    }

    /// Stop the writer and wait for its write in progress, if any; the caller writes the
    /// final state.
    pub fn stop(&self) {
        self.shared.flags().stopped = true;
        self.shared.wake.notify_one();
        let handle = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

impl Drop for Persister {
    /// The emulator was dropped without shutdown: let the thread end (never join here, the
    /// writer thread itself may hold the last reference).
    fn drop(&mut self) {
        self.shared.flags().stopped = true;
        self.shared.wake.notify_one();
    }
}

fn write_loop(shared: &Shared, emu: &Weak<Emulator>, path: &std::path::Path) {
    loop {
        {
            let mut f = shared.flags();
            while !f.dirty && !f.stopped {
                f = shared.wake.wait(f).unwrap_or_else(|p| p.into_inner());
            }
            if f.stopped {
                return;
            }
            f.dirty = false;
        }
        let Some(emu) = emu.upgrade() else { return };
        // Encode under the lock (a consistent snapshot), write after releasing it.
        let encoded = serde_json::to_vec(&*emu.lock());
        drop(emu);
        let written = match encoded {
            Ok(data) => State::write_encoded(path, &data),
            Err(e) => Err(StateError::Io {
                path: path.display().to_string(),
                msg: e.to_string(),
            }),
        };
        if let Err(e) = written {
            tracing::error!("cannot persist state: {e}");
        }
        // Let changes gather for the next write (shutdown cuts the wait short).
        let f = shared.flags();
        let _ = shared
            .wake
            .wait_timeout_while(f, WRITE_INTERVAL, |f| !f.stopped);
    }
}
