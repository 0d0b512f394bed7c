//! SSH readiness probe with ssh2: TCP connect, handshake, public-key authentication — the
//! same things Ansible will need — with short timeouts. Returns the server's host key.
//!
//! Runs on a blocking thread; never retries by itself (the caller decides the schedule).

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;

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
    let mut s = ssh2::Session::new().map_err(|e| ProbeError::Handshake(addr, e.to_string()))?;
    s.set_tcp_stream(tcp);
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
