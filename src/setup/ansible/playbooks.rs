//! The project's playbooks, embedded in the binary at build time and written out to
//! `<storage>/playbooks/<content-hash>/` on first use.
//!
//! The directory name is a hash of the content, so a new binary never reuses playbooks
//! of an older one; a directory is created under a temporary name and renamed into place,
//! only this user may write to it (0700/0600), and it is verified against the embedded
//! content before every use (re-extracted when it differs). Hidden entries (lint caches,
//! `.ansible-lint`) are not part of the runtime set.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
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

fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> SetupError + 'a {
    move |source| SetupError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Makes sure `<storage>/playbooks/<hash>/` holds exactly the embedded playbooks — only
/// this user may write there (directories 0700, files 0600) and every file equals the
/// embedded one, checked before each use — and returns it. A directory that fails the
/// check is replaced by a fresh extraction (it may have been tampered with: its tasks run
/// as root on every node).
pub fn extract(storage: &Path) -> Result<PathBuf, SetupError> {
    let base = storage.join("playbooks");
    let target = base.join(version_hash());
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&base)
        .map_err(io_err("cannot create directory", &base))?;
    fs::set_permissions(&base, fs::Permissions::from_mode(0o700))
        .map_err(io_err("cannot restrict the permissions of", &base))?;
    if target.exists() {
        match verify(&target) {
            Ok(()) => return Ok(target),
            Err(why) => {
                tracing::warn!(
                    "extracted playbooks in {} are not the embedded ones ({why}): extracting them again",
                    target.display()
                );
                remove_tree(&base, &target)?;
            }
        }
    }
    let tmp = tempfile::Builder::new()
        .prefix(".extract-")
        .permissions(fs::Permissions::from_mode(0o700))
        .tempdir_in(&base)
        .map_err(io_err("cannot create a temporary directory in", &base))?;
    for (rel, contents) in files() {
        let dest = tmp.path().join(rel);
        if let Some(parent) = dest.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(io_err("cannot create directory", parent))?;
        }
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&dest)
            .map_err(io_err("cannot write", &dest))?;
        f.write_all(contents)
            .map_err(io_err("cannot write", &dest))?;
    }
    let tmp_path = tmp.keep();
    match fs::rename(&tmp_path, &target) {
        Ok(()) => verify(&target)
            .map(|()| target.clone())
            .map_err(|why| SetupError::Io {
                action: "the playbooks just extracted do not verify",
                path: target.clone(),
                source: std::io::Error::other(why),
            }),
        // Another process extracted the same version first: use theirs once verified.
        Err(_) if verify(&target).is_ok() => {
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

/// Move `dir` aside (atomically, so nobody uses it half-deleted) and delete it.
fn remove_tree(base: &Path, dir: &Path) -> Result<(), SetupError> {
    let aside = base.join(format!(".stale-{}-{}", std::process::id(), version_hash()));
    let _ = fs::remove_dir_all(&aside);
    fs::rename(dir, &aside).map_err(io_err("cannot move aside", dir))?;
    fs::remove_dir_all(&aside).map_err(io_err("cannot delete", &aside))
}

/// `Ok` when `dir` holds exactly the embedded files, with their contents, and nothing but
/// this user can change any of it (no symlinks, directories 0700, files 0600, all owned by
/// this user). `Err` says the first difference.
pub fn verify(dir: &Path) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let mut expected: std::collections::BTreeMap<PathBuf, &[u8]> = files()
        .into_iter()
        .map(|(p, c)| (p.to_path_buf(), c))
        .collect();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let meta = fs::symlink_metadata(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        if !meta.is_dir() || meta.uid() != me || meta.mode() & 0o077 != 0 {
            return Err(format!(
                "{} is not a directory of this user with mode 0700",
                d.display()
            ));
        }
        let entries = fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for e in entries {
            let e = e.map_err(|e| format!("{}: {e}", d.display()))?;
            let path = e.path();
            let meta =
                fs::symlink_metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if meta.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
            let Some(want) = expected.remove(&rel) else {
                return Err(format!(
                    "{} is not one of the embedded files",
                    rel.display()
                ));
            };
            if !meta.is_file() || meta.uid() != me || meta.mode() & 0o077 != 0 {
                return Err(format!(
                    "{} is not a file of this user with mode 0600",
                    rel.display()
                ));
            }
            let have = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if have != want {
                return Err(format!("{} differs from the embedded file", rel.display()));
            }
        }
    }
    match expected.keys().next() {
        Some(missing) => Err(format!("{} is missing", missing.display())),
        None => Ok(()),
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

    #[test]
    fn private_modes_and_tampering_is_undone_before_use() {
        let dir = tempfile::tempdir().unwrap();
        let a = extract(dir.path()).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("playbooks")), 0o700);
        assert_eq!(mode(&a), 0o700);
        assert_eq!(mode(&a.join("roles")), 0o700);
        assert_eq!(mode(&a.join("site.yml")), 0o600);
        let embedded = PLAYBOOKS.get_file("site.yml").unwrap().contents();
        // a changed task, an extra callback plugin, a loosened mode: each is undone
        fs::write(
            a.join("site.yml"),
            "- hosts: all\n  tasks: [{shell: evil}]\n",
        )
        .unwrap();
        assert!(verify(&a).unwrap_err().contains("site.yml differs"));
        let b = extract(dir.path()).unwrap();
        assert_eq!(fs::read(b.join("site.yml")).unwrap(), embedded);
        fs::write(b.join(CALLBACK_DIR).join("x.py"), "import os").unwrap();
        assert!(verify(&b)
            .unwrap_err()
            .contains("not one of the embedded files"));
        let c = extract(dir.path()).unwrap();
        assert!(!c.join(CALLBACK_DIR).join("x.py").exists());
        fs::set_permissions(c.join("roles"), fs::Permissions::from_mode(0o777)).unwrap();
        assert!(verify(&c).unwrap_err().contains("mode 0700"));
        let d = extract(dir.path()).unwrap();
        assert_eq!(mode(&d.join("roles")), 0o700);
        assert!(verify(&d).is_ok());
        let left: Vec<_> = fs::read_dir(dir.path().join("playbooks"))
            .unwrap()
            .collect();
        assert_eq!(left.len(), 1, "no stale copies left");
    }
}
