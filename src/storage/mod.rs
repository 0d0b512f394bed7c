//! Cluster state on disk: one `<name>.toml` per cluster (versioned schema) in the storage
//! directory, plus the reserved `<name>.known_hosts` and `<name>.inventory`, and a per-cluster
//! `<name>.lock` taken with `flock` by every mutating command.
//!
//! Writes are atomic (temporary file in the same directory, fsync, rename, fsync directory)
//! and files are created mode 0600, so a crash never leaves a half-written state file; the
//! temporary files a crash leaves are removed by the next write. A storage directory others
//! may write to is refused. Lock files are never deleted (see [`Storage::lock`]).
//! This module never talks to a cloud and never interprets the state beyond its schema version.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

pub mod archive;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Version of the state-file schema written by this build. A file with another version is
/// refused (newer: "use a newer elasticluster"; older or malformed: named as such).
pub const SCHEMA_VERSION: u32 = 1;

/// A document kept as `<name>.toml`: it knows its cluster name and carries
/// `schema_version` (checked before the rest is read).
pub trait StoredState: Serialize + DeserializeOwned {
    /// The cluster name, which is also the file name.
    fn name(&self) -> &str;
}

/// Storage failures; each message names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot create storage directory `{}`: {source} — pass another one with -s DIR", .path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("storage directory `{}` is writable by group or others (mode {mode:04o}): whoever can write there can change cluster states and the playbooks that run as root on every node — run `chmod go-w {}` (or pass another directory with -s DIR)", .path.display(), .path.display())]
    Unsafe { path: PathBuf, mode: u32 },
    #[error("`{name}` cannot be used as a cluster name: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("cluster `{name}` is in use by another elasticluster command (lock {}) — wait for it to finish and retry", .path.display())]
    Locked { name: String, path: PathBuf },
    #[error("cannot {action} `{}`: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state file `{}` is damaged: {message} — fix or move it away (the cloud resources it lists may still exist)", .path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("state file `{}` has schema version {found}, this build reads version {SCHEMA_VERSION} — use a newer elasticluster", .path.display())]
    NewerSchema { path: PathBuf, found: i64 },
    #[error("cannot serialize the state of cluster `{name}`: {message}")]
    Serialize { name: String, message: String },
}

/// The first line of a state file.
fn state_header(name: &str) -> String {
    format!(
        "# elasticluster state of cluster `{name}` — written by elasticluster, edit with care.\n"
    )
}

fn io<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> StorageError + 'a {
    move |source| StorageError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// The storage directory.
#[derive(Debug, Clone)]
pub struct Storage {
    dir: PathBuf,
}

/// Held while a command mutates a cluster; released on drop (or process exit).
#[derive(Debug)]
pub struct ClusterLock {
    name: String,
    _file: File,
}

impl ClusterLock {
    /// The cluster this lock is for.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Read a state document (`path` only names it in messages): its `schema_version` must be
/// this build's, with a message that says what is wrong otherwise.
pub fn parse_state<S: StoredState>(path: &Path, text: &str) -> Result<S, StorageError> {
    let corrupt = |message: String| StorageError::Corrupt {
        path: path.to_path_buf(),
        message,
    };
    let table: toml::Table = toml::from_str(text).map_err(|e| corrupt(e.message().to_string()))?;
    match table.get("schema_version") {
        Some(toml::Value::Integer(v)) if *v == i64::from(SCHEMA_VERSION) => {}
        Some(toml::Value::Integer(v)) if *v > i64::from(SCHEMA_VERSION) => {
            return Err(StorageError::NewerSchema {
                path: path.to_path_buf(),
                found: *v,
            })
        }
        Some(toml::Value::Integer(v)) => {
            return Err(corrupt(format!("unknown schema_version {v}")))
        }
        Some(other) => {
            return Err(corrupt(format!(
                "schema_version is a {}, not a whole number (this build writes {SCHEMA_VERSION})",
                other.type_str()
            )))
        }
        None => return Err(corrupt("no schema_version".into())),
    }
    toml::from_str(text).map_err(|e| corrupt(e.message().to_string()))
}

/// `path` with `.pub` appended (the public half of an SSH key file).
pub fn with_pub(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

/// Check that `name` is usable as a cluster (and file) name.
pub fn validate_cluster_name(name: &str) -> Result<(), StorageError> {
    let bad = |reason| {
        Err(StorageError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > 64 {
        return bad("it is longer than 64 characters");
    }
    if name.starts_with(['.', '-']) {
        return bad("it must not start with `.` or `-`");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return bad("only letters, digits, `-`, `_` and `.` are allowed");
    }
    Ok(())
}

impl Storage {
    /// Use `dir`, creating it (mode 0700) if needed. A directory group or others may write
    /// to is refused.
    pub fn open(dir: &Path) -> Result<Storage, StorageError> {
        if !dir.is_dir() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|source| StorageError::CreateDir {
                    path: dir.to_path_buf(),
                    source,
                })?;
        }
        let mode = std::fs::metadata(dir)
            .map_err(io("inspect", dir))?
            .permissions()
            .mode()
            & 0o7777;
        if mode & 0o022 != 0 {
            return Err(StorageError::Unsafe {
                path: dir.to_path_buf(),
                mode,
            });
        }
        Ok(Storage {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn state_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.toml"))
    }

    pub fn known_hosts_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.known_hosts"))
    }

    pub fn inventory_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.inventory"))
    }

    /// The setup's cache of the nodes' facts (a directory).
    pub fn fact_cache_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.facts"))
    }

    /// Where `import` puts the SSH private key that came in the archive (the public key
    /// gets `.pub` appended).
    pub fn imported_key_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.key"))
    }

    pub fn lock_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.lock"))
    }

    /// Take the cluster's lock without waiting; `Locked` if another process holds it.
    ///
    /// The lock file is never deleted by this build; should it be deleted anyway (by hand,
    /// or by an older build) between our `open` and `flock`, the lock we got is on a file
    /// nobody else can find — so the lock counts only when the path still names the file
    /// we locked, and otherwise we try again.
    pub fn lock(&self, name: &str) -> Result<ClusterLock, StorageError> {
        validate_cluster_name(name)?;
        let path = self.lock_path(name);
        for _ in 0..20 {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .open(&path)
                .map_err(io("open lock file", &path))?;
            // SAFETY: flock on a file descriptor we own; no memory is shared.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc != 0 {
                let err = std::io::Error::last_os_error();
                if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                    return Err(StorageError::Locked {
                        name: name.to_string(),
                        path,
                    });
                }
                return Err(StorageError::Io {
                    action: "lock",
                    path,
                    source: err,
                });
            }
            let held = file.metadata().map_err(io("inspect lock file", &path))?;
            let same = std::fs::metadata(&path)
                .is_ok_and(|now| now.dev() == held.dev() && now.ino() == held.ino());
            if same {
                return Ok(ClusterLock {
                    name: name.to_string(),
                    _file: file,
                });
            }
        }
        Err(StorageError::Locked {
            name: name.to_string(),
            path,
        })
    }

    /// Write the state atomically (the caller should hold the cluster's lock).
    pub fn save<S: StoredState>(&self, state: &S) -> Result<(), StorageError> {
        let name = state.name();
        validate_cluster_name(name)?;
        let text = toml::to_string_pretty(state).map_err(|e| StorageError::Serialize {
            name: name.to_string(),
            message: e.to_string(),
        })?;
        let text = format!("{}{text}", state_header(name));
        self.remove_legacy_temporaries(name);
        self.write_atomic(&self.state_path(name), text.as_bytes())
    }

    /// Temporary copies of `name`'s state left by a `kill -9` of a build that named them
    /// `.tmp-XXXXXX` (no owner in the name; their first line says whose they are).
    fn remove_legacy_temporaries(&self, name: &str) {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let header = state_header(name);
        for e in rd.filter_map(Result::ok) {
            let file_name = e.file_name();
            let Some(n) = file_name.to_str() else {
                continue;
            };
            let legacy = n
                .strip_prefix(".tmp-")
                .is_some_and(|r| r.len() == 6 && r.bytes().all(|b| b.is_ascii_alphanumeric()));
            if !legacy {
                continue;
            }
            let mut first = [0u8; 256];
            let n_read = File::open(e.path())
                .and_then(|mut f| std::io::Read::read(&mut f, &mut first))
                .unwrap_or(0);
            if first[..n_read].starts_with(header.as_bytes()) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// Temporary files of `path` that a killed write left behind (every write of `path`
    /// happens under its cluster's lock, so none of them is in use).
    fn remove_stale_temporaries(&self, dir: &Path, prefix: &str) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.filter_map(Result::ok) {
            if e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(prefix))
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// Atomically replace `path` (inside the storage dir) with `data`, mode 0600. The
    /// temporary file is `.tmp-<file name>-XXXXXX`; those a killed write left are removed
    /// first.
    pub fn write_atomic(&self, path: &Path, data: &[u8]) -> Result<(), StorageError> {
        let dir = path.parent().unwrap_or(&self.dir);
        let prefix = format!(
            ".tmp-{}-",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        self.remove_stale_temporaries(dir, &prefix);
        let mut tmp = tempfile::Builder::new()
            .prefix(&prefix)
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .tempfile_in(dir)
            .map_err(io("create a temporary file in", dir))?;
        tmp.write_all(data).map_err(io("write", tmp.path()))?;
        tmp.as_file().sync_all().map_err(io("sync", tmp.path()))?;
        tmp.persist(path).map_err(|e| StorageError::Io {
            action: "replace",
            path: path.to_path_buf(),
            source: e.error,
        })?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io("sync directory", dir))?;
        Ok(())
    }

    /// Load a cluster's state; `Ok(None)` if there is no such cluster.
    pub fn load<S: StoredState>(&self, name: &str) -> Result<Option<S>, StorageError> {
        validate_cluster_name(name)?;
        let path = self.state_path(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("read", &path)(e)),
        };
        let state: S = parse_state(&path, &text)?;
        if state.name() != name {
            return Err(StorageError::Corrupt {
                path,
                message: format!("it holds cluster `{}`", state.name()),
            });
        }
        Ok(Some(state))
    }

    /// Names of all stored clusters, sorted.
    pub fn list(&self) -> Result<Vec<String>, StorageError> {
        let rd = std::fs::read_dir(&self.dir).map_err(io("list", &self.dir))?;
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let n = e.file_name().into_string().ok()?;
                let stem = n.strip_suffix(".toml")?.to_string();
                validate_cluster_name(&stem).ok()?;
                Some(stem)
            })
            .collect();
        names.sort();
        Ok(names)
    }

    /// Delete the state, known_hosts, inventory, fact cache and imported key files of a
    /// cluster (missing ones are fine). The caller should hold the cluster's lock. The lock
    /// file stays: deleting it while held would let two later commands each lock a different
    /// file of that name.
    pub fn remove(&self, name: &str) -> Result<(), StorageError> {
        validate_cluster_name(name)?;
        let facts = self.fact_cache_path(name);
        match std::fs::remove_dir_all(&facts) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("delete", &facts)(e)),
        }
        for path in [
            self.state_path(name),
            self.known_hosts_path(name),
            self.inventory_path(name),
            self.imported_key_path(name),
            with_pub(&self.imported_key_path(name)),
        ] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("delete", &path)(e)),
            }
        }
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}
