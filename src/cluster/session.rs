//! The one place every command gets its cluster from: [`Workspace`] (the global options:
//! configuration file, storage directory, verbosity) → [`Locked`] (the cluster's lock taken
//! and its state loaded) → [`Session`] (the cloud opened through the provider registry —
//! starting the sandbox emulator when the cluster lives there, and storing where it now
//! runs — the state-backed ledger, and the async runtime the lifecycle runs on).
//!
//! Commands never wire these steps by hand; nothing here names a cloud.

use std::path::PathBuf;
use std::sync::Arc;

use super::error::OpsError;
use super::ledger::StateLedger;
use super::state::ClusterState;
use crate::config::{ClusterTemplate, Config};
use crate::progress::Progress;
use crate::providers::{self, CloudProvider, ClusterIdentity, Ledger, OpenEnv};
use crate::report::{ReportMode, Reporter};
use crate::storage::{ClusterLock, Storage};

/// The options every command runs with.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub config_path: PathBuf,
    pub storage_dir: PathBuf,
    /// `-v` count: 0 shows progress bars, more shows logs instead.
    pub verbosity: u8,
}

impl Workspace {
    /// Load the configuration files.
    pub fn config(&self) -> Result<Config, OpsError> {
        Ok(Config::load(&self.config_path)?)
    }

    /// Load the configuration and validate one template, the cloud's keys included.
    pub fn template(&self, name: &str) -> Result<ClusterTemplate, OpsError> {
        self.config()?
            .template(name, &providers::Registry)
            .map_err(OpsError::Template)
    }

    /// Open (and create if needed) the storage directory.
    pub fn storage(&self) -> Result<Storage, OpsError> {
        Ok(Storage::open(&self.storage_dir)?)
    }

    /// A stored cluster, or a clear "no such cluster" error.
    pub fn load(&self, storage: &Storage, name: &str) -> Result<ClusterState, OpsError> {
        storage.load(name)?.ok_or_else(|| {
            OpsError::Failed(format!(
                "no cluster named `{name}` in {} — `elasticluster list` shows the clusters there; start one with `elasticluster start TEMPLATE -n {name}`",
                storage.dir().display()
            ))
        })
    }

    /// The reporter of a command: JSON events with `--json-events`, lines for people
    /// otherwise.
    pub fn reporter(&self, json_events: bool) -> Reporter {
        Reporter::new(if json_events {
            ReportMode::Json
        } else {
            ReportMode::Text
        })
    }

    /// Progress bars, unless logs were asked for.
    pub fn progress(&self) -> Progress {
        Progress::new(self.verbosity == 0)
    }

    /// Take the lock of the stored cluster `name` and load its state.
    pub fn lock(&self, name: &str) -> Result<Locked, OpsError> {
        let storage = self.storage()?;
        let lock = storage.lock(name)?;
        let state = self.load(&storage, name)?;
        Ok(Locked {
            storage,
            lock: Some(lock),
            state,
            saving: Saving::Stored,
        })
    }

    /// Take the lock of `name` and load its state if there is one (`stop --force` works
    /// without): `Err((storage, lock))` when there is none.
    pub fn lock_maybe(
        &self,
        name: &str,
    ) -> Result<Result<Locked, (Storage, ClusterLock)>, OpsError> {
        let storage = self.storage()?;
        let lock = storage.lock(name)?;
        Ok(match storage.load(name)? {
            Some(state) => Ok(Locked {
                storage,
                lock: Some(lock),
                state,
                saving: Saving::Stored,
            }),
            None => Err((storage, lock)),
        })
    }

    /// Take the lock of `name` and make its state: `make` gets the stored state, if any.
    /// Nothing is saved yet: the state is written by the first change made through the
    /// session ([`Session::update`], the ledger) — so checks that fail leave no trace.
    pub fn lock_or_plan(
        &self,
        name: &str,
        make: impl FnOnce(Option<ClusterState>) -> Result<ClusterState, OpsError>,
    ) -> Result<Locked, OpsError> {
        let storage = self.storage()?;
        let lock = storage.lock(name)?;
        let stored = storage.load(name)?;
        let saving = if stored.is_some() {
            Saving::Stored
        } else {
            Saving::New
        };
        let state = make(stored)?;
        Ok(Locked {
            storage,
            lock: Some(lock),
            state,
            saving,
        })
    }

    /// Like [`Workspace::lock_or_plan`] for a dry run: no lock is taken and nothing can ever
    /// be saved (the ledger refuses every write).
    pub fn dry(
        &self,
        name: &str,
        make: impl FnOnce(Option<ClusterState>) -> Result<ClusterState, OpsError>,
    ) -> Result<Locked, OpsError> {
        let storage = self.storage()?;
        let state = make(storage.load(name)?)?;
        Ok(Locked {
            storage,
            lock: None,
            state,
            saving: Saving::Never,
        })
    }

    /// A stored cluster, read without its lock (for `ssh`, `sftp`, `list-nodes`), with its
    /// cloud's local services running (a sandbox cluster's addresses are forwarded by its
    /// emulator). Nothing is saved.
    pub fn peek(&self, name: &str) -> Result<(Storage, ClusterState), OpsError> {
        let storage = self.storage()?;
        let state = self.load(&storage, name)?;
        if !state.provider.is_empty() {
            open_cloud(&storage, &state)?;
        }
        Ok((storage, state))
    }
}

/// Whether and how a cluster's state is on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Saving {
    /// Stored: every change is saved.
    Stored,
    /// Not stored yet: saved by its first change.
    New,
    /// A dry run: never saved.
    Never,
}

/// A cluster whose lock is held (except for a dry run) and whose state is loaded.
#[derive(Debug)]
pub struct Locked {
    pub storage: Storage,
    lock: Option<ClusterLock>,
    pub state: ClusterState,
    saving: Saving,
}

impl Locked {
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// Open the cluster's cloud; its settings are stored again if the cloud moved them (a
    /// state of an older build gets its owner id first).
    pub fn open(mut self) -> Result<Session, OpsError> {
        let mut changed = false;
        if self.state.owner_id.is_none() {
            self.state.owner_id = Some(ClusterIdentity::new_owner_id());
            changed = true;
        }
        let (provider, settings) = open_cloud(&self.storage, &self.state)?;
        if settings != self.state.provider {
            self.state.provider = settings;
            changed = true;
        }
        if changed && self.saving == Saving::Stored {
            self.storage.save(&self.state)?;
        }
        let runtime = runtime().map_err(OpsError::failed)?;
        let ledger = match self.saving {
            Saving::Never => StateLedger::read_only(self.storage.clone(), self.state),
            Saving::Stored | Saving::New => StateLedger::new(self.storage.clone(), self.state),
        };
        Ok(Session {
            ledger: Arc::new(ledger),
            storage: self.storage,
            _lock: self.lock,
            provider,
            runtime,
        })
    }

    /// Delete the cluster's local files (state, known_hosts, inventory) while holding its lock.
    pub fn remove(self) -> Result<(), OpsError> {
        Ok(self.storage.remove(&self.state.name)?)
    }
}

/// A locked cluster with its cloud open.
pub struct Session {
    pub storage: Storage,
    _lock: Option<ClusterLock>,
    pub ledger: Arc<StateLedger>,
    pub provider: Arc<dyn CloudProvider>,
    runtime: tokio::runtime::Runtime,
}

impl Session {
    /// A copy of the current state.
    pub fn state(&self) -> ClusterState {
        self.ledger.state()
    }

    pub fn name(&self) -> String {
        self.ledger.state().name
    }

    /// The ledger as the provider sees it.
    pub fn ledger(&self) -> Arc<dyn Ledger> {
        self.ledger.clone()
    }

    /// Change the state and save it.
    pub fn update(&self, f: impl FnOnce(&mut ClusterState)) -> Result<(), OpsError> {
        self.ledger.update(f).map_err(OpsError::failed)
    }

    /// Run an async lifecycle step to completion.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// The cluster's known_hosts file.
    pub fn known_hosts(&self) -> PathBuf {
        self.storage.known_hosts_path(&self.name())
    }

    /// Give the lock back without opening anything else (the state is already on disk).
    pub fn into_locked(self) -> Locked {
        Locked {
            state: self.ledger.state(),
            storage: self.storage,
            lock: self._lock,
            saving: Saving::Stored,
        }
    }
}

/// Open the provider for a state's stored cloud settings.
pub(crate) fn open_cloud(
    storage: &Storage,
    state: &ClusterState,
) -> Result<(Arc<dyn CloudProvider>, toml::Table), OpsError> {
    let mut on_line = |line: &str| eprintln!("sandbox: {line}");
    let opened = providers::open(
        &state.provider,
        &mut OpenEnv {
            storage_dir: storage.dir(),
            on_line: &mut on_line,
            identity: &state.identity(),
        },
    )
    .map_err(OpsError::cloud(&state.name))?;
    Ok((opened.provider, opened.settings))
}

/// A multi-threaded runtime for one command.
pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
}
