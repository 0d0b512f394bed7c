//! `export` / `import`: a cluster's state, known_hosts and inventory (and, with
//! `--save-keys`, its SSH key pair) in a ZIP file, to manage the cluster from another
//! storage directory or machine.
//!
//! Import checks everything before writing anything: a bad archive, an unknown schema, a name
//! in use or a key that is nowhere leaves the storage directory untouched.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cluster::state::ClusterState;
use crate::cluster::{OpsError, Workspace};
use crate::storage::archive::{self, Entry};
use crate::storage::{parse_state, validate_cluster_name, with_pub, Storage};

/// Archive names of the key pair (`--save-keys`); the state, known_hosts and inventory keep
/// their storage names (`NAME.toml`, `NAME.known_hosts`, `NAME.inventory`).
const PRIVATE_KEY_ENTRY: &str = "ssh-key";
const PUBLIC_KEY_ENTRY: &str = "ssh-key.pub";

#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    pub cluster: String,
    /// Replace the ZIP file if it exists.
    pub overwrite: bool,
    /// Also store the SSH key pair.
    pub save_keys: bool,
    /// Default `NAME.zip`.
    pub output_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub file: PathBuf,
    pub rename: Option<String>,
}

/// `export`: write the cluster's files into a ZIP (mode 0600).
pub fn export(ws: &Workspace, opts: ExportOptions) -> Result<(), OpsError> {
    let locked = ws.lock(&opts.cluster)?;
    let state = &locked.state;
    let name = state.name.clone();
    let mut out = opts
        .output_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{name}.zip")));
    if out.extension().is_none_or(|e| e != "zip") {
        out.as_mut_os_string().push(".zip");
    }
    if out.exists() && !opts.overwrite {
        return Err(OpsError::Failed(format!(
            "ZIP file `{}` already exists — pass --overwrite or -o ANOTHER.zip",
            out.display()
        )));
    }
    let storage = &locked.storage;
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| {
            OpsError::Failed(format!(
                "cannot read `{}`: {e} — nothing was written",
                path.display()
            ))
        })
    };
    let mut entries = vec![Entry {
        name: format!("{name}.toml"),
        comment: "cluster-file".into(),
        data: read(&storage.state_path(&name))?,
    }];
    for (path, comment) in [
        (storage.known_hosts_path(&name), "known_hosts"),
        (storage.inventory_path(&name), "inventory"),
    ] {
        if path.exists() {
            entries.push(Entry {
                name: file_name(&path),
                comment: comment.into(),
                data: read(&path)?,
            });
        }
    }
    if opts.save_keys {
        entries.push(Entry {
            name: PRIVATE_KEY_ENTRY.into(),
            comment: "private key".into(),
            data: read(&state.login.user_key_private)?,
        });
        entries.push(Entry {
            name: PUBLIC_KEY_ENTRY.into(),
            comment: "public key".into(),
            data: read(&state.login.user_key_public)?,
        });
        eprintln!(
            "warning: `{}` holds the private SSH key of cluster `{name}` ({}): anyone with the file can log into every node. It is written with mode 0600; keep it so.",
            out.display(),
            state.login.user_key_private.display()
        );
    }
    archive::write(&out, &entries).map_err(OpsError::failed)?;
    println!("Cluster '{name}' correctly exported into {}", out.display());
    Ok(())
}

/// `import`: recreate a cluster exported with `export` in this storage directory.
pub fn import(ws: &Workspace, opts: ImportOptions) -> Result<(), OpsError> {
    let zip = &opts.file;
    let mut files = archive::read(zip).map_err(OpsError::failed)?;
    let state_entry = single_state_entry(zip, &files)?;
    let text = String::from_utf8(files.remove(&state_entry).unwrap_or_default()).map_err(|_| {
        OpsError::Failed(format!(
            "`{}`: `{state_entry}` is not UTF-8 text — it was not written by `elasticluster export`",
            zip.display()
        ))
    })?;
    let mut state: ClusterState =
        parse_state(&zip.join(&state_entry), &text).map_err(OpsError::failed)?;
    let old = state.name.clone();
    let new = opts.rename.clone().unwrap_or_else(|| old.clone());
    validate_cluster_name(&new)?;
    let storage = ws.storage()?;
    if exists(&storage, &new)? {
        return Err(taken(&storage, &new));
    }
    let keys = (
        files.remove(PRIVATE_KEY_ENTRY),
        files.remove(PUBLIC_KEY_ENTRY),
    );
    let mut writes: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let mut renames: BTreeMap<String, String> = BTreeMap::new();
    match keys {
        (Some(private), Some(public)) => {
            let key = storage.imported_key_path(&new);
            for (from, to) in [
                (&state.login.user_key_private, key.clone()),
                (&state.login.user_key_public, with_pub(&key)),
            ] {
                renames.insert(from.display().to_string(), to.display().to_string());
            }
            writes.push((key.clone(), private));
            writes.push((with_pub(&key), public));
        }
        (None, None) => {
            for key in [&state.login.user_key_private, &state.login.user_key_public] {
                if !key.is_file() {
                    return Err(OpsError::Failed(format!(
                        "cluster `{old}` uses the SSH key `{}`, which is neither in `{}` nor on this machine — export the cluster with `elasticluster export {old} --save-keys`, or put the key back at that path",
                        key.display(),
                        zip.display()
                    )));
                }
            }
        }
        _ => {
            return Err(OpsError::Failed(format!(
                "`{}` holds only half of the SSH key pair (both `{PRIVATE_KEY_ENTRY}` and `{PUBLIC_KEY_ENTRY}` are needed) — export the cluster again with --save-keys",
                zip.display()
            )))
        }
    }
    // Everything is checked: take the name (and check again under its lock).
    let _lock = storage.lock(&new)?;
    if exists(&storage, &new)? {
        return Err(taken(&storage, &new));
    }
    for (suffix, to) in [
        ("known_hosts", storage.known_hosts_path(&new)),
        ("inventory", storage.inventory_path(&new)),
    ] {
        if let Some(data) = files.remove(&format!("{old}.{suffix}")) {
            writes.push((to, rewrite_bytes(data, &renames)));
        }
    }
    state.name = new.clone();
    rewrite_paths(&mut state, &renames);
    write_all(&storage, &writes)?;
    if let Err(e) = storage.save(&state) {
        for (path, _) in &writes {
            let _ = std::fs::remove_file(path);
        }
        return Err(e.into());
    }
    println!(
        "Successfully imported cluster `{new}` from ZIP {} to {}",
        zip.display(),
        storage.dir().display()
    );
    Ok(())
}

fn exists(storage: &Storage, name: &str) -> Result<bool, OpsError> {
    Ok(storage.load::<ClusterState>(name)?.is_some() || storage.state_path(name).exists())
}

fn taken(storage: &Storage, name: &str) -> OpsError {
    OpsError::Failed(format!(
        "a cluster named `{name}` already exists in {} — import it under another name with --rename NAME",
        storage.dir().display()
    ))
}

/// The one `NAME.toml` entry of an export.
fn single_state_entry(zip: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<String, OpsError> {
    let states: Vec<&String> = files.keys().filter(|n| n.ends_with(".toml")).collect();
    match states.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(OpsError::Failed(format!(
            "`{}` holds no cluster state (`NAME.toml`) — give a ZIP written by `elasticluster export`",
            zip.display()
        ))),
        _ => Err(OpsError::Failed(format!(
            "`{}` holds {} cluster states — give a ZIP written by `elasticluster export` (one cluster each)",
            zip.display(),
            states.len()
        ))),
    }
}

/// Point every path of the state (login keys, and any string of the cloud's settings that
/// named a moved file) at its new place.
fn rewrite_paths(state: &mut ClusterState, renames: &BTreeMap<String, String>) {
    let moved = |p: &PathBuf| {
        renames
            .get(&p.display().to_string())
            .map(PathBuf::from)
            .unwrap_or_else(|| p.clone())
    };
    state.login.user_key_private = moved(&state.login.user_key_private);
    state.login.user_key_public = moved(&state.login.user_key_public);
    for (_, value) in state.provider.iter_mut() {
        rewrite_value(value, renames);
    }
}

fn rewrite_value(value: &mut toml::Value, renames: &BTreeMap<String, String>) {
    match value {
        toml::Value::String(s) => {
            if let Some(to) = renames.get(s.as_str()) {
                *s = to.clone();
            }
        }
        toml::Value::Array(items) => items.iter_mut().for_each(|v| rewrite_value(v, renames)),
        toml::Value::Table(t) => t.iter_mut().for_each(|(_, v)| rewrite_value(v, renames)),
        _ => {}
    }
}

/// The inventory names the key files too.
fn rewrite_bytes(data: Vec<u8>, renames: &BTreeMap<String, String>) -> Vec<u8> {
    match String::from_utf8(data) {
        Ok(mut text) => {
            for (from, to) in renames {
                text = text.replace(from.as_str(), to);
            }
            text.into_bytes()
        }
        Err(e) => e.into_bytes(),
    }
}

/// Write every file (0600, atomically); on a failure remove the ones already written.
fn write_all(storage: &Storage, writes: &[(PathBuf, Vec<u8>)]) -> Result<(), OpsError> {
    for (i, (path, data)) in writes.iter().enumerate() {
        if let Err(e) = storage.write_atomic(path, data) {
            for (done, _) in &writes[..i] {
                let _ = std::fs::remove_file(done);
            }
            return Err(e.into());
        }
    }
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
