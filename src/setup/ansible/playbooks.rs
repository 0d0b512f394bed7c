//! The project's playbooks, embedded in the binary at build time and written out to
//! `<storage>/playbooks/<content-hash>/` on first use.
//!
//! The directory name is a hash of the content, so a new binary never reuses playbooks
//! of an older one and an existing directory is never rewritten (it is created under a
//! temporary name and renamed into place). Hidden entries (lint caches, `.ansible-lint`)
//! are not part of the runtime set.

use std::fs;
use std::path::{Path, PathBuf};

use include_dir::{include_dir, Dir, DirEntry};

use crate::setup::SetupError;

static PLAYBOOKS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/playbooks");

/// Name of the main playbook inside the extracted directory.
pub const SITE_PLAYBOOK: &str = "site.yml";
/// Directory (inside the extracted one) holding the summary callback plugin.
pub const CALLBACK_DIR: &str = "callback_plugins";

/// Embedded files with their paths relative to `playbooks/`, sorted, hidden entries left out.
pub fn files() -> Vec<(&'static Path, &'static [u8])> {
    let mut out = Vec::new();
    collect(&PLAYBOOKS, &mut out);
    out.sort_by(|a, b| a.0.cmp(b.0));
    out
}

fn collect(dir: &'static Dir<'static>, out: &mut Vec<(&'static Path, &'static [u8])>) {
    for entry in dir.entries() {
        let hidden = entry
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.') || n == "__pycache__");
        if hidden {
            continue;
        }
        match entry {
            DirEntry::Dir(d) => collect(d, out),
            DirEntry::File(f) => out.push((f.path(), f.contents())),
        }
    }
}

/// Short hex digest of the embedded playbooks (paths and contents).
pub fn version_hash() -> String {
    let mut hasher = openssl::sha::Sha256::new();
    for (path, contents) in files() {
        let p = path.to_string_lossy();
        hasher.update(&(p.len() as u64).to_le_bytes());
        hasher.update(p.as_bytes());
        hasher.update(&(contents.len() as u64).to_le_bytes());
        hasher.update(contents);
    }
    hasher
        .finish()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Makes sure `<storage>/playbooks/<hash>/` holds the embedded playbooks and returns it.
pub fn extract(storage: &Path) -> Result<PathBuf, SetupError> {
    let base = storage.join("playbooks");
    let target = base.join(version_hash());
    if target.join(SITE_PLAYBOOK).is_file() {
        return Ok(target);
    }
    fs::create_dir_all(&base).map_err(|source| SetupError::Io {
        action: "cannot create directory",
        path: base.clone(),
        source,
    })?;
    let tmp = tempfile::Builder::new()
        .prefix(".extract-")
        .tempdir_in(&base)
        .map_err(|source| SetupError::Io {
            action: "cannot create a temporary directory in",
            path: base.clone(),
            source,
        })?;
    for (rel, contents) in files() {
        let dest = tmp.path().join(rel);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(|source| SetupError::Io {
                action: "cannot create directory",
                path: parent.to_path_buf(),
                source,
            })?;
        }
        fs::write(&dest, contents).map_err(|source| SetupError::Io {
            action: "cannot write",
            path: dest.clone(),
            source,
        })?;
    }
    let tmp_path = tmp.keep();
    match fs::rename(&tmp_path, &target) {
        Ok(()) => Ok(target),
        // Another process extracted the same version first: use theirs.
        Err(_) if target.join(SITE_PLAYBOOK).is_file() => {
            let _ = fs::remove_dir_all(&tmp_path);
            Ok(target)
        }
        Err(source) => {
            let _ = fs::remove_dir_all(&tmp_path);
            Err(SetupError::Io {
                action: "cannot move extracted playbooks to",
                path: target,
                source,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_set_has_site_and_roles_but_no_hidden_files() {
        let files = files();
        let names: Vec<String> = files
            .iter()
            .map(|(p, _)| p.to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().any(|n| n == "site.yml"));
        assert!(names.iter().any(|n| n == "roles/slurm/tasks/main.yml"));
        assert!(names
            .iter()
            .any(|n| n == "callback_plugins/elasticluster_summary.py"));
        assert!(!names
            .iter()
            .any(|n| n.split('/').any(|c| c.starts_with('.'))));
    }

    #[test]
    fn extract_is_idempotent_and_versioned() {
        let dir = tempfile::tempdir().unwrap();
        let a = extract(dir.path()).unwrap();
        let b = extract(dir.path()).unwrap();
        assert_eq!(a, b);
        assert!(a.ends_with(version_hash()));
        let site = fs::read(a.join("site.yml")).unwrap();
        assert_eq!(site, PLAYBOOKS.get_file("site.yml").unwrap().contents());
        // only the versioned directory is left (no temporary leftovers)
        let entries: Vec<_> = fs::read_dir(dir.path().join("playbooks"))
            .unwrap()
            .collect();
        assert_eq!(entries.len(), 1);
    }
}
