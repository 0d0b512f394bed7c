//! SSH to cluster nodes: the readiness probe (ssh2), the cluster's `known_hosts`, and the
//! OpenSSH command lines for `elasticluster ssh` / `sftp`.
//!
//! Host keys are recorded at first contact and checked ever after; nothing here ever turns
//! host-key checking off or knows which cloud the node runs on.

pub mod command;
pub mod known_hosts;
pub mod probe;

pub use command::{ssh_command, SshTarget};
pub use known_hosts::{HostKey, KnownHosts};
pub use probe::{probe, ProbeError};

/// Split `host:port` / `[v6]:port` (port 22 when absent).
pub fn split_addr(a: &str) -> Option<(String, u16)> {
    if let Some(rest) = a.strip_prefix('[') {
        let (h, p) = rest.split_once("]:")?;
        return Some((h.to_string(), p.parse().ok()?));
    }
    match a.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((a.to_string(), 22)),
    }
}
