//! Azure's load balancer stand-in: an in-process TCP forwarder per input endpoint, listening
//! on `VIP:PublicPort` (a loopback address) and relaying each connection to the VM's
//! `address:LocalPort` — from inside the VM's segment namespace when it has one. Dropping
//! a `Forwarder` closes the listener and every relayed connection. It must never listen
//! anywhere but the address it was given.

use std::net::SocketAddr;
use std::path::PathBuf;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::super::VmError;
use super::segment;

/// A stopped VM has no address on the bridge: give up on it like a load balancer would,
/// instead of holding the client for the kernel's two-minute SYN timeout.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug)]
pub struct Forwarder {
    task: JoinHandle<()>,
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Forwarder {
    /// Bind `public` now (so a taken port is an error at create time) and relay in the
    /// background to `target`, reached from the namespace at `via` when given.
    pub async fn start(
        public: SocketAddr,
        target: SocketAddr,
        via: Option<PathBuf>,
    ) -> Result<Forwarder, VmError> {
        let listener = TcpListener::bind(public).await.map_err(|e| {
            VmError::Host(format!(
                "cannot listen on endpoint {public}: {e} (is another process using that port?)"
            ))
        })?;
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((mut inbound, _)) = accepted else { continue };
                        let via = via.clone();
                        conns.spawn(async move {
                            match connect(target, via).await {
                                Ok(mut outbound) => {
                                    let _ = inbound.set_nodelay(true);
                                    let _ = outbound.set_nodelay(true);
                                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                                }
                                Err(e) => tracing::debug!(%public, %target, "endpoint target refused: {e}"),
                            }
                        });
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(Forwarder { task })
    }
}

/// Connect to `target` from the host, or from inside the namespace at `via`.
async fn connect(target: SocketAddr, via: Option<PathBuf>) -> std::io::Result<TcpStream> {
    match via {
        None => tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target))
            .await
            .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into())),
        Some(ns) => {
            let stream =
                tokio::task::spawn_blocking(move || segment::connect(&ns, target, CONNECT_TIMEOUT))
                    .await
                    .map_err(std::io::Error::other)??;
            stream.set_nonblocking(true)?;
            TcpStream::from_std(stream)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn relays_both_ways_and_stops_listening_when_dropped() {
        let backend = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let target = backend.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = backend.accept().await {
                let mut buf = [0u8; 5];
                if s.read_exact(&mut buf).await.is_ok() {
                    let _ = s.write_all(&buf.map(|b| b.to_ascii_uppercase())).await;
                }
            }
        });
        // Any 127/8 address works as a VIP without configuring an alias.
        let probe = std::net::TcpListener::bind("127.0.0.7:0").expect("free port");
        let public = probe.local_addr().expect("addr");
        drop(probe);
        let fwd = Forwarder::start(public, target, None)
            .await
            .expect("forwarder");
        let mut c = TcpStream::connect(public).await.expect("connect");
        c.write_all(b"hello").await.expect("write");
        let mut buf = [0u8; 5];
        c.read_exact(&mut buf).await.expect("read");
        assert_eq!(&buf, b"HELLO");
        drop(fwd);
        tokio::task::yield_now().await;
        let mut refused = false;
        for _ in 0..100 {
            if TcpStream::connect(public).await.is_err() {
                refused = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(refused, "listener still open after drop");
    }
}
