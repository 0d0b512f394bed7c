//! `<storage>/<cluster>.known_hosts` in OpenSSH format (`[ip]:port` for ports other than 22).
//!
//! Never replaces a recorded key with a different one: a changed key is an error for the
//! caller to report.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostKey {
    /// e.g. `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`.
    pub key_type: String,
    /// Base64 of the key blob.
    pub base64: String,
}

/// OpenSSH's host pattern for an address.
pub fn host_pattern(ip: &str, port: u16) -> String {
    if port == 22 {
        ip.to_string()
    } else {
        format!("[{ip}]:{port}")
    }
}

#[derive(Debug, Default)]
pub struct KnownHosts {
    path: PathBuf,
    /// host pattern → keys recorded for it.
    entries: BTreeMap<String, Vec<HostKey>>,
}

#[derive(Debug, thiserror::Error)]
pub enum KnownHostsError {
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("host key of {host} changed (recorded {recorded}, offered {offered}); if the node was really replaced, remove its line from {}", .path.display())]
    Changed {
        host: String,
        recorded: String,
        offered: String,
        path: PathBuf,
    },
}

impl KnownHosts {
    /// Load the file (missing = empty).
    pub fn load(path: &Path) -> Result<Self, KnownHostsError> {
        let mut kh = KnownHosts {
            path: path.to_path_buf(),
            entries: BTreeMap::new(),
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(kh),
            Err(source) => {
                return Err(KnownHostsError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        for line in text.lines() {
            let mut it = line.split_whitespace();
            let (Some(hosts), Some(t), Some(k)) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            if hosts.starts_with('#') {
                continue;
            }
            for h in hosts.split(',') {
                kh.entries.entry(h.to_string()).or_default().push(HostKey {
                    key_type: t.to_string(),
                    base64: k.to_string(),
                });
            }
        }
        Ok(kh)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn get(&self, ip: &str, port: u16) -> &[HostKey] {
        self.entries
            .get(&host_pattern(ip, port))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Record `key` for the host (trust on first use). `Ok(true)` when it was new.
    pub fn check_or_add(
        &mut self,
        ip: &str,
        port: u16,
        key: &HostKey,
    ) -> Result<bool, KnownHostsError> {
        let host = host_pattern(ip, port);
        let known = self.entries.entry(host.clone()).or_default();
        if known.contains(key) {
            return Ok(false);
        }
        if let Some(same_type) = known.iter().find(|k| k.key_type == key.key_type) {
            return Err(KnownHostsError::Changed {
                host,
                recorded: format!(
                    "{} {}…",
                    same_type.key_type,
                    &same_type.base64[..same_type.base64.len().min(16)]
                ),
                offered: format!(
                    "{} {}…",
                    key.key_type,
                    &key.base64[..key.base64.len().min(16)]
                ),
                path: self.path.clone(),
            });
        }
        known.push(key.clone());
        Ok(true)
    }

    /// Forget a host (its node was deleted).
    pub fn remove(&mut self, ip: &str, port: u16) {
        self.entries.remove(&host_pattern(ip, port));
    }

    /// Write atomically (temp file + fsync + rename), mode 0600.
    pub fn save(&self) -> Result<(), KnownHostsError> {
        let io = |source| KnownHostsError::Io {
            path: self.path.clone(),
            source,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        for (host, keys) in &self.entries {
            for k in keys {
                writeln!(tmp, "{host} {} {}", k.key_type, k.base64).map_err(io)?;
            }
        }
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&self.path).map_err(|e| io(e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_checks_and_round_trips() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c.known_hosts");
        let mut kh = KnownHosts::load(&p).unwrap();
        let k1 = HostKey {
            key_type: "ssh-ed25519".into(),
            base64: "AAAAC3NzaC1lZDI1NTE5AAAAIA1".into(),
        };
        let k2 = HostKey {
            key_type: "ssh-ed25519".into(),
            base64: "AAAAC3NzaC1lZDI1NTE5AAAAIB2".into(),
        };
        assert!(kh.check_or_add("10.0.0.1", 1222, &k1).unwrap());
        assert!(!kh.check_or_add("10.0.0.1", 1222, &k1).unwrap());
        assert!(kh.check_or_add("10.0.0.2", 22, &k2).unwrap());
        kh.save().unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("[10.0.0.1]:1222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA1"));
        assert!(
            text.contains("\n10.0.0.2 ssh-ed25519") || text.starts_with("10.0.0.2 ssh-ed25519")
        );
        let mut again = KnownHosts::load(&p).unwrap();
        assert_eq!(again.get("10.0.0.1", 1222), std::slice::from_ref(&k1));
        let e = again
            .check_or_add("10.0.0.1", 1222, &k2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("changed"), "{e}");
        again.remove("10.0.0.1", 1222);
        assert!(again.get("10.0.0.1", 1222).is_empty());
    }
}
