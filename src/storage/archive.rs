//! ZIP archives of a cluster's files (`export` / `import`): written atomically with mode
//! 0600, read back only when every entry is a plain file at the archive's root — no `..`,
//! no absolute path, no directory, no symlink, nothing too large — so an archive can never
//! write outside where it is unpacked.
//!
//! Knows nothing of what the files mean.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;

/// Largest entry accepted on import (a cluster state of 10,000 nodes is a few MB).
pub const MAX_ENTRY_BYTES: u64 = 64 * 1024 * 1024;

/// Why an archive could not be written or read; the message names the file.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot write `{}`: {detail}", .path.display())]
    Write { path: PathBuf, detail: String },
    #[error("`{}` is not a ZIP file written by `elasticluster export`: {detail}", .path.display())]
    NotAnArchive { path: PathBuf, detail: String },
    #[error("`{}` holds `{entry}`, which {why} — refusing the whole archive; nothing was written", .path.display())]
    UnsafeEntry {
        path: PathBuf,
        entry: String,
        why: &'static str,
    },
}

/// One file of an archive: its name at the root, a comment saying what it is, its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub comment: String,
    pub data: Vec<u8>,
}

/// Write `entries` into the ZIP file `path` (replacing it atomically), mode 0600.
pub fn write(path: &Path, entries: &[Entry]) -> Result<(), ArchiveError> {
    let fail = |detail: String| ArchiveError::Write {
        path: path.to_path_buf(),
        detail,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-export-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(|e| fail(e.to_string()))?;
    let mut zip = zip::ZipWriter::new(tmp);
    let options = SimpleFileOptions::default().unix_permissions(0o600);
    for e in entries {
        zip.start_file(e.name.as_str(), options)
            .map_err(|err| fail(err.to_string()))?;
        zip.write_all(&e.data)
            .map_err(|err| fail(err.to_string()))?;
    }
    zip.set_comment(
        entries
            .iter()
            .map(|e| format!("{}: {}", e.name, e.comment))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let tmp = zip.finish().map_err(|e| fail(e.to_string()))?;
    tmp.as_file().sync_all().map_err(|e| fail(e.to_string()))?;
    tmp.persist(path).map_err(|e| fail(e.error.to_string()))?;
    Ok(())
}

/// Read every entry of the ZIP file `path`, refusing the whole archive at the first entry
/// that is not a plain file at its root.
pub fn read(path: &Path) -> Result<BTreeMap<String, Vec<u8>>, ArchiveError> {
    let not_archive = |detail: String| ArchiveError::NotAnArchive {
        path: path.to_path_buf(),
        detail,
    };
    let file = std::fs::File::open(path).map_err(|e| not_archive(e.to_string()))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| not_archive(e.to_string()))?;
    let mut out = BTreeMap::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).map_err(|e| not_archive(e.to_string()))?;
        let raw = f.name().to_string();
        let unsafe_entry = |why| ArchiveError::UnsafeEntry {
            path: path.to_path_buf(),
            entry: printable(&raw),
            why,
        };
        if f.is_symlink() {
            return Err(unsafe_entry("is a symbolic link"));
        }
        if f.is_dir() {
            return Err(unsafe_entry("is a directory"));
        }
        let outside = raw.starts_with('/')
            || raw.split(['/', '\\']).any(|c| c == "..")
            || f.enclosed_name().is_none();
        if outside {
            return Err(unsafe_entry(
                "points outside the archive (`..` or an absolute path)",
            ));
        }
        if raw.contains(['/', '\\']) {
            return Err(unsafe_entry("is not at the archive's root"));
        }
        if f.size() > MAX_ENTRY_BYTES {
            return Err(unsafe_entry("is larger than 64 MiB"));
        }
        let mut data = Vec::with_capacity(f.size() as usize);
        (&mut f)
            .take(MAX_ENTRY_BYTES + 1)
            .read_to_end(&mut data)
            .map_err(|e| not_archive(format!("entry `{}`: {e}", printable(&raw))))?;
        if out.insert(raw.clone(), data).is_some() {
            return Err(unsafe_entry("appears twice"));
        }
    }
    Ok(out)
}

/// A name as it may be shown on a terminal: control characters escaped, at most 80 chars.
fn printable(s: &str) -> String {
    let escaped: String = s.chars().flat_map(char::escape_default).collect();
    match escaped.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &escaped[..i]),
        None => escaped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_names_and_bytes_and_mode() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c.zip");
        let entries = vec![
            Entry {
                name: "c.toml".into(),
                comment: "cluster-file".into(),
                data: b"x = 1\n".to_vec(),
            },
            Entry {
                name: "c.known_hosts".into(),
                comment: "known_hosts".into(),
                data: Vec::new(),
            },
        ];
        write(&p, &entries).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = read(&p).unwrap();
        assert_eq!(back["c.toml"], b"x = 1\n");
        assert!(back["c.known_hosts"].is_empty());
        assert_eq!(back.len(), 2);
    }

    #[test]
    fn control_characters_are_escaped_and_long_names_cut() {
        assert_eq!(printable("a\u{1b}[31mb"), "a\\u{1b}[31mb");
        assert_eq!(printable(&"x".repeat(200)).chars().count(), 81);
    }
}
