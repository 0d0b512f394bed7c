//! SSH to cluster nodes: the readiness probe (ssh2), the cluster's `known_hosts`, and the
//! OpenSSH command lines for `elasticluster ssh` / `sftp`.
//!
//! A node may be reached through another one (a jump host): the probe, `ssh`/`sftp` and the
//! readiness check then go through it with the same key and known_hosts.
//!
//! Host keys are recorded at first contact and checked ever after; nothing here ever turns
//! host-key checking off or knows which cloud the node runs on.

pub mod command;
pub mod known_hosts;
pub mod probe;

pub use command::{forward_spec, jump_argv, proxy_command, ssh_command, JumpHost, SshTarget};
pub use known_hosts::{HostKey, KnownHosts};
pub use probe::{probe, probe_via, ProbeError};

/// Splits `host:port`, `[v6]:port`, `[v6]` or a bare host into (address, port); port 22
/// when none is given.
pub fn split_address(addr: &str) -> Result<(String, u16), String> {
    let addr = addr.trim();
    if let Some(rest) = addr.strip_prefix('[') {
        let (host, tail) = rest
            .split_once(']')
            .ok_or_else(|| format!("`{addr}`: missing `]`"))?;
        let port = match tail.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| format!("`{addr}`: bad port"))?,
            None if tail.is_empty() => 22,
            None => return Err(format!("`{addr}`: unexpected text after `]`")),
        };
        return Ok((host.to_string(), port));
    }
    match addr.rsplit_once(':') {
        // More than one colon without brackets: a bare IPv6 address.
        Some((host, _)) if host.contains(':') => Ok((addr.to_string(), 22)),
        Some((host, port)) => Ok((
            host.to_string(),
            port.parse().map_err(|_| format!("`{addr}`: bad port"))?,
        )),
        None if addr.is_empty() => Err("empty address".into()),
        None => Ok((addr.to_string(), 22)),
    }
}
