//! Networking of the container backend: one bridge per emulator on a free `10.200.X.0/24`
//! (held by a flock under /run so no two emulators ever share it), and per VM a network
//! namespace with a veth whose host end sits on the bridge — or, for a VM whose address a
//! face chose in the user's subnet, on its virtual network's isolated segment (`segment`).
//! Addresses on the bridge: `.1` is the bridge (the VMs' default gateway), VMs get `.4`
//! upwards (Azure reserves the first three).
//! It must never touch interfaces, namespaces or routes it did not create.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::super::{SubnetAddress, VmError};
use super::segment;
use super::sys::{self, FileLock};

pub const LOCK_DIR: &str = "/run/azure-emulator/subnets";
/// First VM address (Azure hands out `.4` first) and last usable one.
pub const FIRST_HOST: u8 = 4;
pub const LAST_HOST: u8 = 254;

pub fn subnet_addr(index: u8, host: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 200, index, host)
}

/// A `10.200.X.0/24` this process holds exclusively, and the bridge that carries it.
#[derive(Debug)]
pub struct SubnetLease {
    pub index: u8,
    pub bridge: String,
    lock: Option<FileLock>,
}

impl SubnetLease {
    pub fn gateway(&self) -> Ipv4Addr {
        subnet_addr(self.index, 1)
    }

    /// Release the flock (and remove its file).
    pub fn release(&mut self) {
        if let Some(lock) = self.lock.take() {
            lock.release_and_remove();
        }
    }
}

fn lock_path_in(dir: &Path, index: u8) -> PathBuf {
    dir.join(format!("{index}.lock"))
}

/// IPv4 networks (address, prefix) that appear on this host's interfaces or routes.
fn host_networks() -> Vec<(u32, u8)> {
    let mut nets = Vec::new();
    let mut add = |cidr: &str| {
        let (a, p) = cidr.split_once('/').unwrap_or((cidr, "32"));
        if let (Ok(addr), Ok(prefix)) = (a.parse::<Ipv4Addr>(), p.parse::<u8>()) {
            if prefix <= 32 {
                nets.push((u32::from(addr), prefix));
            }
        }
    };
    if let Ok(out) = sys::run("ip", ["-4", "-o", "addr", "show"]) {
        for line in out.lines() {
            let mut it = line.split_whitespace();
            while let Some(tok) = it.next() {
                if tok == "inet" {
                    if let Some(c) = it.next() {
                        add(c);
                    }
                }
            }
        }
    }
    if let Ok(out) = sys::run("ip", ["-4", "route", "show", "table", "all"]) {
        for line in out.lines() {
            let first = line
                .split_whitespace()
                .find(|t| t.contains('.') || *t == "default");
            if let Some(c) = first {
                if c != "default" {
                    add(c);
                }
            }
        }
    }
    nets
}

fn overlaps(a: (u32, u8), b: (u32, u8)) -> bool {
    let p = a.1.min(b.1);
    let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
    (a.0 & mask) == (b.0 & mask)
}

fn subnet_in_use(index: u8, nets: &[(u32, u8)]) -> bool {
    let mine = (u32::from(subnet_addr(index, 0)), 24);
    nets.iter().any(|n| n.1 > 0 && overlaps(mine, *n))
}

/// Take `preferred` (a state dir's earlier choice) or else any free subnet.
pub fn lease_subnet(preferred: Option<(u8, String)>) -> Result<SubnetLease, VmError> {
    lease_subnet_in(preferred, &host_networks(), Path::new(LOCK_DIR))
}

fn lease_subnet_in(
    preferred: Option<(u8, String)>,
    nets: &[(u32, u8)],
    lock_dir: &Path,
) -> Result<SubnetLease, VmError> {
    let lock_path = |index: u8| lock_path_in(lock_dir, index);
    if let Some((index, bridge)) = preferred {
        let lock = FileLock::try_acquire(&lock_path(index))?.ok_or_else(|| {
            VmError::Exhausted(format!(
                "subnet 10.200.{index}.0/24 recorded in this state dir is held by another running emulator \
                 (lock {}); stop it or use another --state-dir",
                lock_path(index).display()
            ))
        })?;
        // Our own stale bridge (previous run of this state dir crashed) is fine: it is rebuilt.
        let ours = interface_exists(&bridge);
        if subnet_in_use(index, nets) && !ours {
            return Err(VmError::Exhausted(format!(
                "subnet 10.200.{index}.0/24 recorded in this state dir is now used on this host by something else"
            )));
        }
        return Ok(SubnetLease {
            index,
            bridge,
            lock: Some(lock),
        });
    }
    let start: u8 = rand::random();
    for k in 0..=255u16 {
        let index = start.wrapping_add(k as u8);
        if subnet_in_use(index, nets) {
            continue;
        }
        if let Some(lock) = FileLock::try_acquire(&lock_path(index))? {
            // A fresh name nobody uses (create_bridge replaces an existing one of its name).
            let bridge = (0u32..)
                .map(|n| {
                    let seed = format!(
                        "{index}-{}-{:?}-{n}",
                        std::process::id(),
                        std::time::SystemTime::now()
                    );
                    format!("acb{}", sys::short_hash(seed.as_bytes(), 6))
                })
                .find(|b| !interface_exists(b))
                .unwrap_or_default();
            return Ok(SubnetLease {
                index,
                bridge,
                lock: Some(lock),
            });
        }
    }
    Err(VmError::Exhausted(
        "every 10.200.X.0/24 subnet is in use on this host (by other emulators or routes); \
         stop an emulator or free an address range"
            .into(),
    ))
}

pub fn interface_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// (Re)create the bridge with the gateway address, up.
pub fn create_bridge(lease: &SubnetLease) -> Result<(), VmError> {
    if interface_exists(&lease.bridge) {
        sys::run_quiet("ip", ["link", "del", lease.bridge.as_str()]);
    }
    sys::run(
        "ip",
        ["link", "add", lease.bridge.as_str(), "type", "bridge"],
    )?;
    let cidr = format!("{}/24", lease.gateway());
    let r = sys::run(
        "ip",
        ["addr", "add", cidr.as_str(), "dev", lease.bridge.as_str()],
    )
    .and_then(|_| sys::run("ip", ["link", "set", lease.bridge.as_str(), "up"]));
    if let Err(e) = r {
        sys::run_quiet("ip", ["link", "del", lease.bridge.as_str()]);
        return Err(e);
    }
    Ok(())
}

pub fn delete_bridge(name: &str) {
    if interface_exists(name) {
        sys::run_quiet("ip", ["link", "del", name]);
    }
}

/// Names of one VM's host-side network objects.
#[derive(Clone, Debug)]
pub struct VmNet {
    pub netns: String,
    pub veth: String,
    pub addr: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    /// The segment namespace the VM's link is plugged into (`None`: the emulator's bridge).
    pub segment: Option<String>,
}

impl VmNet {
    /// A VM on the emulator's bridge at `10.200.<index>.<host>`.
    pub fn new(bridge: &str, index: u8, host: u8) -> VmNet {
        let tag = bridge.trim_start_matches("acb");
        VmNet {
            netns: format!("{bridge}-{host}"),
            veth: format!("acv{tag}-{host}"),
            addr: subnet_addr(index, host),
            prefix: 24,
            gateway: subnet_addr(index, 1),
            segment: None,
        }
    }

    /// A VM with the address a face chose, on segment `segment` (names use `slot`).
    pub fn on_segment(bridge: &str, slot: u16, address: SubnetAddress, segment: &str) -> VmNet {
        let tag = bridge.trim_start_matches("acb");
        VmNet {
            netns: format!("{bridge}-{slot}"),
            veth: format!("acv{tag}-{slot}"),
            addr: address.ip,
            prefix: address.prefix,
            gateway: address.gateway(),
            segment: Some(segment.to_string()),
        }
    }

    pub fn netns_path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.netns)
    }

    /// Where the host must make sockets to reach this VM (`None`: the host's own namespace).
    pub fn reach_via(&self) -> Option<PathBuf> {
        self.segment.as_deref().map(segment::netns_path)
    }

    /// Namespace + veth (`eth0` inside, address and default route set) on `bridge`, or on
    /// the VM's segment.
    pub fn create(&self, bridge: &str) -> Result<(), VmError> {
        self.delete();
        let r = (|| {
            let ns = self.netns.as_str();
            sys::run("ip", ["netns", "add", ns])?;
            // The VM's MAC follows from its address, so a reused address keeps its MAC
            // and other VMs' ARP caches stay right.
            let o = self.addr.octets();
            let mac = format!("02:ac:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3]);
            sys::run(
                "ip",
                [
                    "link",
                    "add",
                    self.veth.as_str(),
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth0",
                    "address",
                    mac.as_str(),
                    "netns",
                    ns,
                ],
            )?;
            match &self.segment {
                Some(seg) => segment::attach(seg, &self.veth)?,
                None => {
                    sys::run(
                        "ip",
                        ["link", "set", self.veth.as_str(), "master", bridge, "up"],
                    )?;
                }
            }
            sys::run("ip", ["-n", ns, "link", "set", "lo", "up"])?;
            let cidr = format!("{}/{}", self.addr, self.prefix);
            sys::run(
                "ip",
                ["-n", ns, "addr", "add", cidr.as_str(), "dev", "eth0"],
            )?;
            sys::run("ip", ["-n", ns, "link", "set", "eth0", "up"])?;
            let gw = self.gateway.to_string();
            sys::run(
                "ip",
                ["-n", ns, "route", "add", "default", "via", gw.as_str()],
            )?;
            Ok(())
        })();
        if r.is_err() {
            self.delete();
        }
        r
    }

    /// Remove veth and namespace; idempotent.
    pub fn delete(&self) {
        match &self.segment {
            Some(seg) => segment::detach(seg, &self.veth),
            None => {
                if interface_exists(&self.veth) {
                    sys::run_quiet("ip", ["link", "del", self.veth.as_str()]);
                }
            }
        }
        if self.netns_path().exists() {
            sys::run_quiet("ip", ["netns", "del", self.netns.as_str()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_detection() {
        let n = |s: &str, p| {
            (
                u32::from(s.parse::<Ipv4Addr>().unwrap_or(Ipv4Addr::UNSPECIFIED)),
                p,
            )
        };
        assert!(subnet_in_use(7, &[n("10.200.7.1", 24)]));
        assert!(subnet_in_use(7, &[n("10.200.0.0", 16)]));
        assert!(!subnet_in_use(
            7,
            &[n("10.200.8.1", 24), n("192.0.2.2", 24)]
        ));
        assert!(
            !subnet_in_use(7, &[n("0.0.0.0", 0)]),
            "a default route does not occupy a subnet"
        );
    }

    #[test]
    fn exhaustion_and_held_subnets_are_clear_errors() {
        let locks = tempfile::tempdir().expect("lock dir");
        let all = [(u32::from(Ipv4Addr::new(10, 200, 0, 0)), 16)];
        let err = lease_subnet_in(None, &all, locks.path())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("every 10.200.X.0/24 subnet is in use"),
            "{err}"
        );

        let mut first = lease_subnet_in(None, &[], locks.path()).expect("a free subnet");
        let second = lease_subnet_in(None, &[], locks.path()).expect("another free subnet");
        assert_ne!(first.index, second.index, "two leases never share a subnet");
        assert_ne!(first.bridge, second.bridge);
        let held = lease_subnet_in(Some((first.index, first.bridge.clone())), &[], locks.path());
        let err = held.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("held by another running emulator"), "{err}");
        let index = first.index;
        first.release();
        let again = lease_subnet_in(Some((index, "acbgone".into())), &[], locks.path())
            .expect("re-take after release");
        assert_eq!(again.index, index);
    }

    #[test]
    fn interface_names_fit_the_kernel_limit() {
        let v = VmNet::new("acb123abc", 200, 254);
        assert!(v.veth.len() <= 15, "{}", v.veth);
        assert_eq!(v.addr, Ipv4Addr::new(10, 200, 200, 254));
        let a = SubnetAddress {
            ip: Ipv4Addr::new(10, 0, 1, 7),
            prefix: 20,
        };
        let s = VmNet::on_segment("acb123abc", u16::MAX, a, "acb123abc-s0");
        assert!(s.veth.len() <= 15, "{}", s.veth);
        assert_eq!(s.gateway, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(s.prefix, 20);
    }
}
