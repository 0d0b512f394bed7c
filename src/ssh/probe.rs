//! SSH readiness probe with ssh2: TCP connect, handshake, public-key authentication — the
//! same things Ansible will need — with short timeouts. Returns the server's host key.
//! A node reached through a jump host is probed over `ssh -W` through it (OpenSSH, with the
//! cluster's known_hosts and strict checking for the outer hop), exactly as Ansible and
//! `elasticluster ssh` will reach it.
//!
//! Runs on a blocking thread; never retries by itself (the caller decides the schedule).

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;

use super::command::{forward_spec, jump_argv, JumpHost};
use super::known_hosts::HostKey;

#[derive(Debug, thiserror::Error, Clone)]
pub enum ProbeError {
    #[error("TCP connect to {0} failed: {1}")]
    Connect(SocketAddr, String),
    #[error("SSH handshake with {0} failed: {1}")]
    Handshake(SocketAddr, String),
    #[error("{addr} refused key {key} for user {user}: {detail}")]
    Auth {
        addr: SocketAddr,
        user: String,
        key: String,
        detail: String,
    },
    #[error("cannot reach {addr} through {via}: {detail}")]
    Jump {
        addr: SocketAddr,
        via: String,
        detail: String,
    },
}

fn key_type_name(t: ssh2::HostKeyType) -> &'static str {
    match t {
        ssh2::HostKeyType::Rsa => "ssh-rsa",
        ssh2::HostKeyType::Dss => "ssh-dss",
        ssh2::HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        ssh2::HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        ssh2::HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        ssh2::HostKeyType::Ed25519 => "ssh-ed25519",
        _ => "unknown",
    }
}

fn probe_blocking(
    addr: SocketAddr,
    user: &str,
    key: &Path,
    timeout: Duration,
) -> Result<HostKey, ProbeError> {
    let tcp = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| ProbeError::Connect(addr, e.to_string()))?;
    let _ = tcp.set_read_timeout(Some(timeout));
    let _ = tcp.set_write_timeout(Some(timeout));
    session_over(tcp, addr, user, key, timeout)
}

/// Probe `addr` through `jump`: `ssh -W addr jump` carries the connection over a socket pair.
fn probe_via_blocking(
    addr: SocketAddr,
    jump: &JumpHost,
    known_hosts: &Path,
    user: &str,
    key: &Path,
    timeout: Duration,
) -> Result<HostKey, ProbeError> {
    let via = format!("{}@{}", jump.user, forward_spec(&jump.host, jump.port));
    let jump_err = |detail: String| ProbeError::Jump {
        addr,
        via: via.clone(),
        detail,
    };
    let (ours, theirs) = UnixStream::pair().map_err(|e| jump_err(e.to_string()))?;
    let theirs_out = theirs.try_clone().map_err(|e| jump_err(e.to_string()))?;
    let argv = jump_argv(
        jump,
        key,
        known_hosts,
        &forward_spec(&addr.ip().to_string(), addr.port()),
        Some(timeout),
    );
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::from(OwnedFd::from(theirs_out)))
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            jump_err(format!(
                "cannot run `ssh`: {e} — install the OpenSSH client"
            ))
        })?;
    let _ = ours.set_read_timeout(Some(timeout));
    let _ = ours.set_write_timeout(Some(timeout));
    let out = session_over(ours, addr, user, key, timeout);
    let _ = child.kill();
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let _ = child.wait();
    match out {
        // The outer hop failed (host key, auth, forwarding refused): its words say why.
        Err(ProbeError::Handshake(..)) if !stderr.trim().is_empty() => Err(jump_err(
            stderr
                .lines()
                .map(str::trim)
                .rfind(|l| !l.is_empty())
                .unwrap_or_default()
                .to_string(),
        )),
        other => other,
    }
}

/// Handshake and public-key authentication over an established byte stream.
fn session_over<S: AsRawFd + 'static>(
    stream: S,
    addr: SocketAddr,
    user: &str,
    key: &Path,
    timeout: Duration,
) -> Result<HostKey, ProbeError> {
    let mut s = ssh2::Session::new().map_err(|e| ProbeError::Handshake(addr, e.to_string()))?;
    s.set_tcp_stream(stream);
    s.set_timeout(u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX));
    s.handshake()
        .map_err(|e| ProbeError::Handshake(addr, e.to_string()))?;
    let (blob, t) = s
        .host_key()
        .ok_or_else(|| ProbeError::Handshake(addr, "server sent no host key".into()))?;
    let host_key = HostKey {
        key_type: key_type_name(t).to_string(),
        base64: base64::engine::general_purpose::STANDARD.encode(blob),
    };
    s.userauth_pubkey_file(user, None, key, None)
        .map_err(|e| ProbeError::Auth {
            addr,
            user: user.to_string(),
            key: key.display().to_string(),
            detail: e.to_string(),
        })?;
    if !s.authenticated() {
        return Err(ProbeError::Auth {
            addr,
            user: user.to_string(),
            key: key.display().to_string(),
            detail: "not authenticated".into(),
        });
    }
    let _ = s.disconnect(None, "probe done", None);
    Ok(host_key)
}

/// Probe one node; returns its host key on success.
pub async fn probe(
    addr: SocketAddr,
    user: String,
    key: PathBuf,
    timeout: Duration,
) -> Result<HostKey, ProbeError> {
    tokio::task::spawn_blocking(move || probe_blocking(addr, &user, &key, timeout))
        .await
        .unwrap_or_else(|e| {
            Err(ProbeError::Handshake(
                addr,
                format!("probe thread failed: {e}"),
            ))
        })
}

/// Probe a node reached through `jump` (see the module doc); `known_hosts` must already
/// hold the jump host's key.
pub async fn probe_via(
    addr: SocketAddr,
    jump: JumpHost,
    known_hosts: PathBuf,
    user: String,
    key: PathBuf,
    timeout: Duration,
) -> Result<HostKey, ProbeError> {
    tokio::task::spawn_blocking(move || {
        probe_via_blocking(addr, &jump, &known_hosts, &user, &key, timeout)
    })
    .await
    .unwrap_or_else(|e| {
        Err(ProbeError::Handshake(
            addr,
            format!("probe thread failed: {e}"),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closed_port_is_a_connect_error_fast() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let e = probe(
            addr,
            "u".into(),
            "/nonexistent".into(),
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, ProbeError::Connect(..)), "{e}");
    }

    #[tokio::test]
    async fn non_ssh_server_is_a_handshake_error() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            if let Ok((mut s, _)) = l.accept() {
                use std::io::Write;
                let _ = s.write_all(b"HTTP/1.0 400 nope\r\n\r\n");
            }
        });
        let e = probe(
            addr,
            "u".into(),
            "/nonexistent".into(),
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, ProbeError::Handshake(..)), "{e}");
        let _ = t.join();
    }
}
