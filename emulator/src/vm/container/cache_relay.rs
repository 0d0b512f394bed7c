//! The package cache as seen from an isolated segment. A segment has no route to the host
//! by design (any address range is safe there), so each of its subnet gateways gets a relay:
//! a listening socket made inside the segment's namespace on `gateway:port`, whose
//! connections are carried to the emulator's apt-cacher-ng on the host — the way Azure's
//! package mirror is reachable from inside any virtual network. It leads only to the cache,
//! listens nowhere else, and stops (listener and every relayed connection) when dropped.

use std::io;
use std::net::{Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::super::VmError;
use super::segment;

/// The cache answers on the host right away; a stuck connect means it is gone.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One gateway's relay to the package cache.
#[derive(Debug)]
pub struct CacheRelay {
    listen: SocketAddrV4,
    listener: Arc<TcpListener>,
    /// Both ends of every relayed connection, shut down when the relay stops.
    open: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl CacheRelay {
    /// Listen on `listen` inside the namespace at `netns` and relay to `cache` on the host.
    pub fn start(netns: &Path, listen: SocketAddrV4, cache: SocketAddr) -> Result<Self, VmError> {
        let listener = Arc::new(bind_in(netns, listen).map_err(|e| {
            VmError::Host(format!(
                "cannot listen for the package cache on {listen} in {}: {e}",
                netns.display()
            ))
        })?);
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let acceptor = {
            let (listener, open) = (listener.clone(), open.clone());
            std::thread::Builder::new()
                .name("cache-relay".into())
                .spawn(move || accept_loop(&listener, cache, &open))
                .map_err(|e| VmError::Host(format!("cannot start the package cache relay: {e}")))?
        };
        Ok(CacheRelay {
            listen,
            listener,
            open,
            acceptor: Some(acceptor),
        })
    }

    /// Where the segment's VMs reach the cache.
    pub fn addr(&self) -> SocketAddrV4 {
        self.listen
    }
}

impl Drop for CacheRelay {
    fn drop(&mut self) {
        // shutdown(2) on a listening socket wakes a blocked accept(2) with an error.
        // SAFETY: the fd belongs to `self.listener`, alive for this whole call.
        unsafe { libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR) };
        for s in lock(&self.open).drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

/// A listener bound inside the namespace at `netns` (a fresh thread enters it, binds and
/// ends; the socket stays in that namespace).
fn bind_in(netns: &Path, addr: SocketAddrV4) -> io::Result<TcpListener> {
    let path: PathBuf = netns.to_path_buf();
    std::thread::Builder::new()
        .name("segment-bind".into())
        .spawn(move || {
            segment::enter(&path)?;
            TcpListener::bind(addr)
        })?
        .join()
        .map_err(|_| io::Error::other("the binding thread panicked"))?
}

fn accept_loop(listener: &TcpListener, cache: SocketAddr, open: &Arc<Mutex<Vec<TcpStream>>>) {
    loop {
        let inbound = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // The listener was shut down (the relay stops) or is broken.
            Err(_) => return,
        };
        let outbound = match TcpStream::connect_timeout(&cache, CONNECT_TIMEOUT) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%cache, "the package cache refused a relayed connection: {e}");
                continue;
            }
        };
        let mut tracked = lock(open);
        // Forget connections that ended (both ends' peers gone).
        tracked.retain(|s| s.peer_addr().is_ok());
        for s in [&inbound, &outbound] {
            if let Ok(c) = s.try_clone() {
                tracked.push(c);
            }
        }
        drop(tracked);
        pipe(inbound, outbound);
    }
}

/// Copy both ways on two threads; each direction ends the other's write side when done.
fn pipe(a: TcpStream, b: TcpStream) {
    let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    for (mut from, mut to) in [(a, b), (b2, a2)] {
        let _ = std::thread::Builder::new()
            .name("cache-relay-conn".into())
            .spawn(move || {
                let _ = io::copy(&mut from, &mut to);
                let _ = to.shutdown(Shutdown::Write);
            });
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
