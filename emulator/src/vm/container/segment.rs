//! Isolated network segments for VMs whose private address a face chose in the user's
//! subnet: one network namespace per virtual network (the VM spec's `network` key) holding
//! a bridge that carries the gateway (`.1`) of each of its subnets and routes between them.
//! The segment has no other link, so any range the user picks is safe there and two
//! virtual networks may use the same one. The host reaches a segment's VMs only through
//! sockets made inside the segment's namespace ([`connect`]), which is how the endpoint
//! forwarders and the readiness probe talk to them.
//!
//! It must never touch a namespace it did not create (every name starts with the
//! emulator's bridge name), and never leave a pooled thread in another namespace.

use std::collections::{BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::super::VmError;
use super::cache_relay::CacheRelay;
use super::net::interface_exists;
use super::sys;

/// The bridge inside every segment namespace.
pub const SEGMENT_BRIDGE: &str = "br0";

/// `/run/netns/<name>`.
pub fn netns_path(name: &str) -> PathBuf {
    Path::new("/run/netns").join(name)
}

/// The segments of one backend: which namespace serves which network, and the gateways
/// already on its bridge.
#[derive(Debug)]
pub struct Segments {
    /// Prefix of every segment namespace: `<bridge>-s`.
    prefix: String,
    names: HashMap<String, String>,
    gateways: HashMap<String, BTreeSet<(Ipv4Addr, u8)>>,
    /// Per segment, the package cache relays on its gateways.
    relays: HashMap<String, Vec<CacheRelay>>,
    next: u32,
}

impl Segments {
    pub fn new(bridge: &str) -> Segments {
        Segments {
            prefix: format!("{bridge}-s"),
            names: HashMap::new(),
            gateways: HashMap::new(),
            relays: HashMap::new(),
            next: 0,
        }
    }

    /// The namespace name of `network`'s segment (chosen on first use, not yet created).
    pub fn name_of(&mut self, network: &str) -> String {
        if let Some(n) = self.names.get(network) {
            return n.clone();
        }
        let name = format!("{}{}", self.prefix, self.next);
        self.next += 1;
        self.names.insert(network.to_string(), name.clone());
        name
    }

    /// Create `network`'s segment if it does not exist, put `gateway/prefix` on its bridge,
    /// and relay `gateway:<cache port>` to the package `cache` on the host. Returns where
    /// the segment's VMs behind that gateway reach the cache.
    pub fn ensure(
        &mut self,
        network: &str,
        gateway: Ipv4Addr,
        prefix: u8,
        cache: SocketAddrV4,
    ) -> Result<SocketAddrV4, VmError> {
        let name = self.name_of(network);
        if !netns_path(&name).exists() {
            create(&name)?;
            self.gateways.remove(&name);
            self.relays.remove(&name);
        }
        let gws = self.gateways.entry(name.clone()).or_default();
        if !gws.contains(&(gateway, prefix)) {
            let cidr = format!("{gateway}/{prefix}");
            sys::run(
                "ip",
                [
                    "-n",
                    name.as_str(),
                    "addr",
                    "replace",
                    cidr.as_str(),
                    "dev",
                    SEGMENT_BRIDGE,
                ],
            )?;
            gws.insert((gateway, prefix));
        }
        let relay_addr = SocketAddrV4::new(gateway, cache.port());
        let relays = self.relays.entry(name.clone()).or_default();
        if !relays.iter().any(|r| r.addr() == relay_addr) {
            relays.push(CacheRelay::start(
                &netns_path(&name),
                relay_addr,
                SocketAddr::V4(cache),
            )?);
        }
        Ok(relay_addr)
    }

    /// Remove `network`'s segment (its last VM is gone).
    pub fn remove(&mut self, network: &str) {
        if let Some(name) = self.names.remove(network) {
            self.gateways.remove(&name);
            self.relays.remove(&name);
            delete(&name);
        }
    }

    /// Remove every segment of this backend, and any an earlier run left (same prefix).
    pub fn remove_all(&mut self) {
        self.relays.clear();
        for (_, name) in self.names.drain() {
            delete(&name);
        }
        self.gateways.clear();
        for name in stale(&self.prefix) {
            delete(&name);
        }
    }
}

/// Namespace names under /run/netns starting with `prefix`.
pub fn stale(prefix: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

fn create(name: &str) -> Result<(), VmError> {
    delete(name);
    let r = (|| {
        sys::run("ip", ["netns", "add", name])?;
        sys::run("ip", ["-n", name, "link", "set", "lo", "up"])?;
        sys::run(
            "ip",
            ["-n", name, "link", "add", SEGMENT_BRIDGE, "type", "bridge"],
        )?;
        sys::run("ip", ["-n", name, "link", "set", SEGMENT_BRIDGE, "up"])?;
        // Azure routes between the subnets of a virtual network.
        sys::run(
            "ip",
            [
                "netns",
                "exec",
                name,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ],
        )?;
        Ok(())
    })();
    if r.is_err() {
        delete(name);
    }
    r
}

fn delete(name: &str) {
    if netns_path(name).exists() {
        sys::run_quiet("ip", ["netns", "del", name]);
    }
}

/// Plug the host end `veth` of a VM's link into the segment `name`'s bridge.
pub fn attach(name: &str, veth: &str) -> Result<(), VmError> {
    sys::run("ip", ["link", "set", veth, "netns", name])?;
    sys::run(
        "ip",
        [
            "-n",
            name,
            "link",
            "set",
            veth,
            "master",
            SEGMENT_BRIDGE,
            "up",
        ],
    )?;
    Ok(())
}

/// Remove the host end `veth` of a VM's link from segment `name` (idempotent).
pub fn detach(name: &str, veth: &str) {
    if interface_exists(veth) {
        sys::run_quiet("ip", ["link", "del", veth]);
    }
    if netns_path(name).exists() {
        sys::run_quiet("ip", ["-n", name, "link", "del", veth]);
    }
}

/// Move the calling thread into the network namespace at `path` (for threads that only
/// ever talk to one segment, such as a VM's readiness probe).
pub fn enter(path: &Path) -> std::io::Result<()> {
    let f = std::fs::File::open(path)?;
    // SAFETY: setns(2) on an fd we own; it changes only the calling thread's namespace.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A TCP connection to `addr` made inside the namespace at `netns` (a fresh thread enters
/// it, connects and ends, so no shared thread ever changes namespace).
pub fn connect(netns: &Path, addr: SocketAddr, timeout: Duration) -> std::io::Result<TcpStream> {
    let path = netns.to_path_buf();
    std::thread::Builder::new()
        .name("segment-connect".into())
        .spawn(move || {
            enter(&path)?;
            TcpStream::connect_timeout(&addr, timeout)
        })?
        .join()
        .map_err(|_| std::io::Error::other("the connecting thread panicked"))?
}
