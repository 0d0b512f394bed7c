//! The container backend's state and one VM's life on the host: the VM table, what is
//! recorded on disk (`vm.json`, `network.json`) so a later run can clean up, booting
//! (overlay, provisioning, network, systemd-nspawn, the readiness probe), teardown, the
//! endpoint forwarders, and cleaning what a crashed run left. It must never change the
//! host beyond what it records and removes again.

use std::collections::HashMap;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::super::{VmError, VmInfo, VmSpec, VmStatus};
use super::aptcache::AptCache;
use super::boot::{self, VmPaths};
use super::forward::Forwarder;
use super::lxcfs::Lxcfs;
use super::net::{self, SubnetLease, VmNet};
use super::provision;
use super::segment::{self, Segments};
use super::size;
use super::sys;

/// How long a VM may take from launch to an SSH banner before it is reported Failed.
const BOOT_DEADLINE: Duration = Duration::from_secs(600);
/// First slot of VMs on a segment (slots below are host numbers on the emulator's bridge).
pub(super) const FIRST_SEGMENT_SLOT: u16 = 256;

/// Options of the container backend (set from the emulator's command line).
#[derive(Clone, Debug)]
pub struct ContainerOptions {
    /// Where instance overlays, logs and backend state live (under the emulator state dir).
    pub state_dir: PathBuf,
    /// Image cache directory (default `/var/cache/azure-emulator/images`).
    pub image_dir: PathBuf,
    /// Bind one host directory per virtual network as `/home` in every VM of that network
    /// (stand-in for the NFS export this kernel cannot serve).
    pub shared_home: bool,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What `vm.json` records so a later run can find and clean a VM's host resources.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct VmRecord {
    pub(super) spec: VmSpec,
    pub(super) info: VmInfo,
    #[serde(alias = "host")]
    pub(super) slot: u16,
    pub(super) lower: PathBuf,
    pub(super) machine: String,
    pub(super) netns: String,
    pub(super) veth: String,
    /// The segment namespace its link was plugged into, if any.
    #[serde(default)]
    pub(super) segment: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct NetworkRecord {
    pub(super) subnet: u8,
    pub(super) bridge: String,
}

pub(super) struct Running {
    pub(super) pid: u32,
    pub(super) exited: Arc<AtomicBool>,
    pub(super) probe_stop: Arc<AtomicBool>,
}

pub(super) struct Vm {
    pub(super) spec: VmSpec,
    pub(super) info: VmInfo,
    /// Host number on the emulator's bridge (below [`FIRST_SEGMENT_SLOT`]) or a segment
    /// VM's slot; names its namespace and veth.
    pub(super) slot: u16,
    pub(super) paths: VmPaths,
    pub(super) net: VmNet,
    pub(super) lower: PathBuf,
    pub(super) status: Arc<Mutex<VmStatus>>,
    pub(super) running: Mutex<Option<Running>>,
    pub(super) forwarders: Mutex<Vec<Forwarder>>,
    /// Serialises start/stop/delete of this VM.
    pub(super) op: Mutex<()>,
}

/// The backend's state: its options, state directory, subnet and bridge, and VM table.
pub(super) struct BackendState {
    pub(super) opts: ContainerOptions,
    pub(super) root: PathBuf,
    pub(super) index: u8,
    pub(super) bridge: String,
    pub(super) lease: Mutex<Option<SubnetLease>>,
    pub(super) vms: Mutex<HashMap<String, Arc<Vm>>>,
    pub(super) segments: Mutex<Segments>,
    /// (network, address) of deleted VMs still being torn down: a new VM with the same
    /// address (and so the same MAC) waits until the old one is off its segment.
    pub(super) releasing: Mutex<Vec<(String, Ipv4Addr)>>,
    pub(super) shut_down: AtomicBool,
    /// Shows each VM its own size in /proc and /sys.
    pub(super) lxcfs: Lxcfs,
    /// The package cache the VMs' apt uses.
    pub(super) apt_cache: AptCache,
}

pub(super) fn vm_key(id: &str) -> String {
    let last = id.rsplit('/').next().unwrap_or(id);
    let clean: String = last
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(24)
        .collect();
    format!("{clean}-{}", sys::short_hash(id.as_bytes(), 12))
}

pub(super) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let text = fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

pub(super) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), VmError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| VmError::Host(format!("serialise {}: {e}", path.display())))?;
    let tmp = path.with_extension("json.tmp");
    fs::write(&tmp, text).map_err(|e| sys::io_err("cannot write", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| sys::io_err("cannot write", path, e))
}

pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, VmError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| VmError::Host(format!("host task failed: {e}")))
}

/// The VM's private IPv4 address (unspecified for an IPv6 record, which this backend never writes).
fn ipv4_of(info: &VmInfo) -> Ipv4Addr {
    match info.private_ip {
        IpAddr::V4(a) => a,
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    }
}

impl BackendState {
    pub(super) fn shared_home(&self, network: &str) -> Option<PathBuf> {
        self.opts.shared_home.then(|| {
            let clean: String = network
                .rsplit('/')
                .next()
                .unwrap_or(network)
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .take(24)
                .collect();
            self.root.join("homes").join(format!(
                "{clean}-{}",
                sys::short_hash(network.as_bytes(), 12)
            ))
        })
    }

    pub(super) fn new_vm(&self, spec: &VmSpec, slot: u16, lower: PathBuf) -> Vm {
        let net = match (spec.subnet_address, u8::try_from(slot)) {
            (Some(a), _) => {
                let seg = lock(&self.segments).name_of(&spec.network);
                VmNet::on_segment(&self.bridge, slot, a, &seg)
            }
            (None, Ok(host)) => VmNet::new(&self.bridge, self.index, host),
            (None, Err(_)) => VmNet::new(&self.bridge, self.index, 0),
        };
        let ip = IpAddr::V4(net.addr);
        let public_ip = match spec.public_address {
            Some(p) => Some(IpAddr::V4(p)),
            // Legacy: the host reaches a VM on the emulator's bridge directly.
            None => (spec.wants_public_ip && net.segment.is_none()).then_some(ip),
        };
        Vm {
            spec: spec.clone(),
            info: VmInfo {
                private_ip: ip,
                public_ip,
            },
            slot,
            paths: VmPaths {
                dir: self.root.join("vms").join(vm_key(&spec.id)),
                machine: net.netns.clone(),
            },
            net,
            lower,
            status: Arc::new(Mutex::new(VmStatus::Booting)),
            running: Mutex::new(None),
            forwarders: Mutex::new(Vec::new()),
            op: Mutex::new(()),
        }
    }

    pub(super) fn record(&self, vm: &Vm) -> Result<(), VmError> {
        fs::create_dir_all(&vm.paths.dir)
            .map_err(|e| sys::io_err("cannot create", &vm.paths.dir, e))?;
        write_json(
            &vm.paths.dir.join("vm.json"),
            &VmRecord {
                spec: vm.spec.clone(),
                info: vm.info.clone(),
                slot: vm.slot,
                lower: vm.lower.clone(),
                machine: vm.paths.machine.clone(),
                netns: vm.net.netns.clone(),
                veth: vm.net.veth.clone(),
                segment: vm.net.segment.clone(),
            },
        )
    }

    /// Mount, provision (first time only), plumb the network and launch nspawn.
    pub(super) fn boot(&self, vm: &Vm) -> Result<(), VmError> {
        if lock(&vm.running).is_some() {
            return Ok(());
        }
        self.record(vm)?;
        let home = self.shared_home(&vm.spec.network);
        if let Some(h) = &home {
            fs::create_dir_all(h).map_err(|e| sys::io_err("cannot create", h, e))?;
        }
        let r = (|| {
            boot::mount_overlay(&vm.paths, &vm.lower)?;
            let marker = vm.paths.dir.join("provisioned");
            if !marker.exists() {
                provision::provision(&vm.paths.merged(), &vm.spec, &vm.net, home.as_deref())?;
                fs::write(&marker, "").map_err(|e| sys::io_err("cannot write", &marker, e))?;
            }
            // A VM on a segment reaches the package cache through its gateway's relay.
            let cache = match vm.net.segment {
                Some(_) => lock(&self.segments).ensure(
                    &vm.spec.network,
                    vm.net.gateway,
                    vm.net.prefix,
                    self.apt_cache.addr(),
                )?,
                None => self.apt_cache.addr(),
            };
            self.wait_released(&vm.spec.network, vm.net.addr);
            // At every boot: the cache's port may differ after an emulator restart.
            provision::write_apt_proxy(&vm.paths.merged(), &AptCache::proxy_config(cache))?;
            vm.net.create(&self.bridge)?;
            let vm_size = size::for_role(&vm.spec.role_size, vm.slot)?;
            boot::launch(
                &vm.paths,
                &vm.net,
                &vm.spec.hostname,
                home.as_deref(),
                &vm_size,
                &self.lxcfs.nspawn_binds(),
            )
        })();
        let launched = match r {
            Ok(l) => l,
            Err(e) => {
                self.teardown(vm);
                return Err(e);
            }
        };
        let probe_stop = Arc::new(AtomicBool::new(false));
        if vm.spec.fail_provisioning {
            *lock(&vm.status) =
                VmStatus::Failed("provisioning failed: the VM's agent never reported ready".into());
        } else {
            *lock(&vm.status) = VmStatus::Booting;
            let status = vm.status.clone();
            let stop = probe_stop.clone();
            let exited = launched.exited.clone();
            let addr = SocketAddr::new(vm.info.private_ip, 22);
            let log = vm.paths.console_log();
            let via = vm.net.reach_via();
            let spawned = std::thread::Builder::new()
                .name(format!("probe-{}", vm.slot))
                .spawn(move || {
                    // A segment VM is reached from inside its segment (this thread only).
                    if let Some(ns) = via {
                        if let Err(e) = segment::enter(&ns) {
                            *lock(&status) = VmStatus::Failed(format!(
                                "cannot reach the VM's network {}: {e}",
                                ns.display()
                            ));
                            return;
                        }
                    }
                    let start = Instant::now();
                    loop {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        if exited.load(Ordering::SeqCst) {
                            *lock(&status) = VmStatus::Failed(format!(
                                "the VM's container exited during boot (see {})",
                                log.display()
                            ));
                            return;
                        }
                        if boot::ssh_banner(addr) {
                            *lock(&status) = VmStatus::Ready;
                            return;
                        }
                        if start.elapsed() > BOOT_DEADLINE {
                            *lock(&status) = VmStatus::Failed(format!(
                                "sshd did not answer within {} s (see {})",
                                BOOT_DEADLINE.as_secs(),
                                log.display()
                            ));
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(200));
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!("cannot start the readiness probe: {e}");
            }
        }
        *lock(&vm.running) = Some(Running {
            pid: launched.pid,
            exited: launched.exited,
            probe_stop,
        });
        Ok(())
    }

    /// Stop the container and release its mount, namespace, veth and cgroups. Idempotent.
    pub(super) fn teardown(&self, vm: &Vm) {
        let running = lock(&vm.running).take();
        match running {
            Some(r) => {
                r.probe_stop.store(true, Ordering::SeqCst);
                boot::stop(&vm.paths, Some(r.pid), Some(&r.exited));
            }
            None => boot::stop(&vm.paths, boot::stale_pid(&vm.paths), None),
        }
        if let Err(e) = boot::unmount_all(&vm.paths) {
            tracing::warn!(machine = %vm.paths.machine, "{e}");
        }
        vm.net.delete();
    }

    pub(super) fn remove_dir(&self, vm: &Vm) -> Result<(), VmError> {
        if !sys::mounts_under(&vm.paths.dir).is_empty() {
            return Err(VmError::Host(format!(
                "{} still has mounts; not removing it",
                vm.paths.dir.display()
            )));
        }
        if vm.paths.dir.exists() {
            fs::remove_dir_all(&vm.paths.dir)
                .map_err(|e| sys::io_err("cannot remove", &vm.paths.dir, e))?;
        }
        Ok(())
    }

    pub(super) fn status(&self, id: &str) -> VmStatus {
        let Some(vm) = lock(&self.vms).get(id).cloned() else {
            return VmStatus::Unknown;
        };
        let running = lock(&vm.running);
        match running.as_ref() {
            None => VmStatus::Stopped,
            Some(r) => {
                let s = lock(&vm.status).clone();
                if r.exited.load(Ordering::SeqCst) && s == VmStatus::Ready {
                    VmStatus::Failed(format!(
                        "the VM's container exited (see {})",
                        vm.paths.console_log().display()
                    ))
                } else {
                    s
                }
            }
        }
    }

    /// Stop everything (concurrently), remove the bridge and give up the subnet.
    pub(super) fn shutdown_sync(&self) {
        if self.shut_down.swap(true, Ordering::SeqCst) {
            return;
        }
        let vms: Vec<Arc<Vm>> = lock(&self.vms).drain().map(|(_, v)| v).collect();
        for vm in &vms {
            lock(&vm.forwarders).clear();
        }
        std::thread::scope(|s| {
            for vm in &vms {
                s.spawn(|| {
                    let _op = lock(&vm.op);
                    self.teardown(vm);
                });
            }
        });
        lock(&self.segments).remove_all();
        self.apt_cache.stop();
        self.lxcfs.stop();
        net::delete_bridge(&self.bridge);
        if let Some(mut lease) = lock(&self.lease).take() {
            lease.release();
        }
    }

    /// A free slot for a new VM: a host number on the emulator's bridge, or (for a VM on a
    /// segment) a slot above them; a segment address may not be taken twice in its network.
    pub(super) fn allocate(
        &self,
        vms: &HashMap<String, Arc<Vm>>,
        spec: &VmSpec,
    ) -> Result<u16, VmError> {
        if let Some(a) = spec.subnet_address {
            if let Some(other) = vms
                .values()
                .find(|v| v.spec.network == spec.network && v.net.addr == a.ip)
            {
                return Err(VmError::Host(format!(
                    "address {} of network {} is already VM `{}`'s",
                    a.ip, spec.network, other.spec.id
                )));
            }
            return (FIRST_SEGMENT_SLOT..=u16::MAX)
                .find(|s| !vms.values().any(|v| v.slot == *s))
                .ok_or_else(|| VmError::Exhausted("no free VM slot".into()));
        }
        (net::FIRST_HOST..=net::LAST_HOST)
            .map(u16::from)
            .find(|h| !vms.values().any(|v| v.slot == *h))
            .ok_or_else(|| {
                VmError::Exhausted(format!(
                    "all {} addresses of 10.200.{}.0/24 are taken by this emulator's VMs",
                    net::LAST_HOST - net::FIRST_HOST + 1,
                    self.index
                ))
            })
    }

    /// Wait (bounded) until no deleted VM with `addr` in `network` is still being torn down.
    fn wait_released(&self, network: &str, addr: Ipv4Addr) {
        let deadline = Instant::now() + boot::STOP_DEADLINE + Duration::from_secs(15);
        while lock(&self.releasing)
            .iter()
            .any(|(n, a)| n == network && *a == addr)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for BackendState {
    fn drop(&mut self) {
        // Safety net for callers that never called shutdown() (e.g. a panicking test).
        self.shutdown_sync();
    }
}

pub(super) async fn start_forwarders(vm: &Vm) -> Result<(), VmError> {
    let via = vm.net.reach_via();
    let mut fwds = Vec::new();
    for ep in &vm.spec.endpoints {
        if ep.protocol != "tcp" {
            tracing::warn!(endpoint = %ep.name, protocol = %ep.protocol, "only TCP endpoints are forwarded");
            continue;
        }
        fwds.push(
            Forwarder::start(
                ep.public,
                SocketAddr::new(vm.info.private_ip, ep.local_port),
                via.clone(),
            )
            .await?,
        );
    }
    *lock(&vm.forwarders) = fwds;
    Ok(())
}

/// Stop, unmount and unplug what an earlier run left of the VM recorded in `dir`.
pub(super) fn clean_stale_vm(dir: &Path) -> Result<(), VmError> {
    let Some(rec) = read_json::<VmRecord>(&dir.join("vm.json")) else {
        return Ok(());
    };
    let paths = VmPaths {
        dir: dir.to_path_buf(),
        machine: rec.machine.clone(),
    };
    if let Some(pid) = boot::stale_pid(&paths) {
        tracing::warn!(machine = %rec.machine, pid, "stopping a container left by an earlier run");
    }
    boot::stop(&paths, boot::stale_pid(&paths), None);
    boot::unmount_all(&paths)?;
    VmNet {
        netns: rec.netns,
        veth: rec.veth,
        addr: ipv4_of(&rec.info),
        prefix: 32,
        gateway: ipv4_of(&rec.info),
        segment: rec.segment,
    }
    .delete();
    Ok(())
}
