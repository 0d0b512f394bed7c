//! The `container` backend: each role is a real host booted with systemd-nspawn over an
//! overlay of a debootstrapped image, in its own network namespace on a per-emulator
//! bridge, reachable through loopback forwarders that play Azure's load balancer. A VM whose
//! private address a face chose in the user's subnet sits instead on its virtual network's
//! isolated segment (`segment.rs`) with exactly that address.
//! It must never change the host beyond what it records and removes again.
//!
//! Each VM is the size of its role size: cores as a cpuset, memory as a memory limit, and
//! the emulator's own lxcfs shows the VM those figures in /proc and /sys.
//!
//! Layout under `<state_dir>/container/`: `network.json` (the subnet and bridge this state
//! dir owns, re-taken after a restart), `vms/<role>-<hash>/` per VM (`vm.json`, overlay
//! `upper`/`work`/`merged`, `console.log`, `nspawn.pid`), `homes/<network>/` (shared /home),
//! `lxcfs/` (lxcfs's mount point; `lxcfs.pid`, `lxcfs.log`), `apt-cacher-ng/` (the
//! package cache's configuration, pid and logs; the VMs' apt goes through it).

mod apt_sources;
mod aptcache;
mod boot;
mod cache_relay;
mod forward;
pub mod image;
mod lxcfs;
mod net;
mod provision;
mod segment;
mod size;
mod sys;
mod vms;

use std::collections::HashMap;
use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{ImageInfo, VmBackend, VmError, VmInfo, VmSpec, VmStatus};
use aptcache::AptCache;
use lxcfs::Lxcfs;
use vms::{
    blocking, lock, read_json, start_forwarders, vm_key, write_json, BackendState, NetworkRecord,
    VmRecord,
};

pub use image::{build_image, ImageOptions, DEFAULT_IMAGE, DEFAULT_IMAGE_DIR};
pub use vms::ContainerOptions;

/// The systemd-nspawn VM backend.
pub struct ContainerBackend {
    inner: Arc<BackendState>,
}

impl ContainerBackend {
    /// Checks prerequisites (root, systemd-nspawn, images) and fails with a clear error.
    /// Takes a free `10.200.X.0/24` (the one this state dir had before, if any), creates
    /// the emulator's bridge, and cleans host resources a crashed earlier run left behind.
    pub fn new(opts: ContainerOptions) -> Result<Self, VmError> {
        sys::require_root("the container VM backend")?;
        sys::require_tool("systemd-nspawn", "systemd-container")?;
        sys::require_tool("ip", "iproute2")?;
        sys::require_tool("useradd", "passwd")?;
        sys::require_tool("lxcfs", "lxcfs")?;
        sys::require_tool("apt-cacher-ng", "apt-cacher-ng")?;
        image::image_root(&opts.image_dir, DEFAULT_IMAGE)?;
        let archives = apt_sources::host_archives()?;
        let root = opts.state_dir.join("container");
        let vms_dir = root.join("vms");
        fs::create_dir_all(&vms_dir).map_err(|e| sys::io_err("cannot create", &vms_dir, e))?;

        let net_file = root.join("network.json");
        let preferred = read_json::<NetworkRecord>(&net_file).map(|r| (r.subnet, r.bridge));
        let mut lease = net::lease_subnet(preferred)?;
        let cleanup = Self::clean_stale(&vms_dir);
        for stale in segment::stale(&format!("{}-s", lease.bridge)) {
            tracing::warn!(netns = %stale, "removing a network segment left by an earlier run");
            sys::run_quiet("ip", ["netns", "del", stale.as_str()]);
        }
        let lxcfs = match cleanup.and_then(|_| Lxcfs::start(&root)) {
            Ok(l) => l,
            Err(e) => {
                lease.release();
                return Err(e);
            }
        };
        if let Err(e) = net::create_bridge(&lease) {
            lxcfs.stop();
            lease.release();
            return Err(e);
        }
        let shared_cache = aptcache::shared_cache_dir(&opts.image_dir);
        let apt_cache = match AptCache::start(&root, lease.gateway(), &shared_cache, &archives) {
            Ok(c) => c,
            Err(e) => {
                lxcfs.stop();
                net::delete_bridge(&lease.bridge);
                lease.release();
                return Err(e);
            }
        };
        let record = NetworkRecord {
            subnet: lease.index,
            bridge: lease.bridge.clone(),
        };
        if let Err(e) = write_json(&net_file, &record) {
            apt_cache.stop();
            lxcfs.stop();
            net::delete_bridge(&lease.bridge);
            lease.release();
            return Err(e);
        }
        tracing::info!(bridge = %lease.bridge, subnet = %format!("10.200.{}.0/24", lease.index), "container backend ready");
        Ok(ContainerBackend {
            inner: Arc::new(BackendState {
                opts,
                root,
                index: lease.index,
                bridge: lease.bridge.clone(),
                segments: Mutex::new(segment::Segments::new(&lease.bridge)),
                lease: Mutex::new(Some(lease)),
                vms: Mutex::new(HashMap::new()),
                releasing: Mutex::new(Vec::new()),
                shut_down: AtomicBool::new(false),
                lxcfs,
                apt_cache,
            }),
        })
    }

    /// Stop containers, unmount overlays and remove namespaces an earlier run left behind.
    fn clean_stale(vms_dir: &Path) -> Result<(), VmError> {
        let Ok(entries) = fs::read_dir(vms_dir) else {
            return Ok(());
        };
        for e in entries.flatten() {
            vms::clean_stale_vm(&e.path())?;
        }
        Ok(())
    }

    /// The subnet this backend owns (`10.200.X.0/24`) and its bridge name.
    pub fn network(&self) -> (String, String) {
        (
            format!("10.200.{}.0/24", self.inner.index),
            self.inner.bridge.clone(),
        )
    }

    /// Where the VMs' apt reaches the emulator's package cache (bridge address, port).
    pub fn package_cache(&self) -> std::net::SocketAddrV4 {
        self.inner.apt_cache.addr()
    }

    /// Proportional memory (PSS, bytes) used by one VM's processes, if it runs.
    pub fn memory_usage(&self, id: &str) -> Option<u64> {
        let vm = lock(&self.inner.vms).get(id).cloned()?;
        lock(&vm.running).as_ref()?;
        Some(boot::memory_pss(&vm.paths))
    }

    /// The VM's console log (systemd's boot messages), for diagnostics.
    /// (Kept after shutdown with the VM's disk; removed by `delete`.)
    pub fn console_log(&self, id: &str) -> PathBuf {
        self.inner
            .root
            .join("vms")
            .join(vm_key(id))
            .join("console.log")
    }
}

#[async_trait]
impl VmBackend for ContainerBackend {
    fn name(&self) -> &'static str {
        "container"
    }

    /// Every image with a recipe (built or not: creating a VM from an unbuilt one fails
    /// with `ImageMissing` saying how to build it).
    fn images(&self) -> Vec<ImageInfo> {
        image::RECIPES.iter().map(|r| r.info()).collect()
    }

    async fn create(&self, spec: &VmSpec) -> Result<VmInfo, VmError> {
        let inner = &self.inner;
        if inner.shut_down.load(Ordering::SeqCst) {
            return Err(VmError::Host("the container backend is shut down".into()));
        }
        provision::validate_spec(spec)?;
        let lower = image::image_root(&inner.opts.image_dir, &spec.image)?;
        let vm = {
            let mut vms = lock(&inner.vms);
            if let Some(existing) = vms.get(&spec.id) {
                if existing.spec == *spec {
                    return Ok(existing.info.clone());
                }
                return Err(VmError::Host(format!(
                    "VM `{}` already exists with a different configuration",
                    spec.id
                )));
            }
            let slot = inner.allocate(&vms, spec)?;
            let vm = Arc::new(inner.new_vm(spec, slot, lower));
            vms.insert(spec.id.clone(), vm.clone());
            vm
        };
        let result = async {
            start_forwarders(&vm).await?;
            let (i, v) = (inner.clone(), vm.clone());
            blocking(move || {
                let _op = lock(&v.op);
                // A new VM gets a fresh disk, whatever an earlier VM of this id left.
                if v.paths.dir.exists() {
                    vms::clean_stale_vm(&v.paths.dir)?;
                    i.remove_dir(&v)?;
                }
                i.boot(&v)
            })
            .await?
        }
        .await;
        if let Err(e) = result {
            lock(&inner.vms).remove(&spec.id);
            lock(&vm.forwarders).clear();
            let (i, v) = (inner.clone(), vm.clone());
            let _ = blocking(move || {
                i.teardown(&v);
                let _ = i.remove_dir(&v);
            })
            .await;
            return Err(e);
        }
        Ok(vm.info.clone())
    }

    async fn status(&self, id: &str) -> VmStatus {
        self.inner.status(id)
    }

    async fn stop(&self, id: &str) -> Result<(), VmError> {
        let vm = lock(&self.inner.vms)
            .get(id)
            .cloned()
            .ok_or_else(|| VmError::NotFound(id.into()))?;
        let i = self.inner.clone();
        blocking(move || {
            let _op = lock(&vm.op);
            i.teardown(&vm);
            *lock(&vm.status) = VmStatus::Stopped;
        })
        .await
    }

    async fn start(&self, id: &str) -> Result<(), VmError> {
        let vm = lock(&self.inner.vms)
            .get(id)
            .cloned()
            .ok_or_else(|| VmError::NotFound(id.into()))?;
        let i = self.inner.clone();
        blocking(move || {
            let _op = lock(&vm.op);
            i.boot(&vm)
        })
        .await?
    }

    async fn delete(&self, id: &str) -> Result<(), VmError> {
        let inner = self.inner.clone();
        let vm = {
            let mut vms = lock(&inner.vms);
            let vm = vms.remove(id);
            if let Some(v) = &vm {
                lock(&inner.releasing).push((v.spec.network.clone(), v.net.addr));
            }
            vm
        };
        match vm {
            Some(vm) => {
                lock(&vm.forwarders).clear();
                blocking(move || {
                    let released = (vm.spec.network.clone(), vm.net.addr);
                    let out = {
                        let _op = lock(&vm.op);
                        inner.teardown(&vm);
                        inner.remove_dir(&vm)
                    };
                    release(&inner, &released);
                    // The segment goes with the last VM of its network.
                    if vm.net.segment.is_some()
                        && !lock(&inner.vms)
                            .values()
                            .any(|v| v.spec.network == vm.spec.network)
                    {
                        lock(&inner.segments).remove(&vm.spec.network);
                    }
                    out
                })
                .await?
            }
            None => {
                // Not booted by this run (e.g. never restored): clean what an earlier run left.
                let dir = inner.root.join("vms").join(vm_key(id));
                blocking(move || {
                    if !dir.exists() {
                        return Ok(());
                    }
                    vms::clean_stale_vm(&dir)?;
                    if !sys::mounts_under(&dir).is_empty() {
                        return Err(VmError::Host(format!(
                            "{} still has mounts; not removing it",
                            dir.display()
                        )));
                    }
                    fs::remove_dir_all(&dir).map_err(|e| sys::io_err("cannot remove", &dir, e))
                })
                .await?
            }
        }
    }

    async fn restore(&self, vms: &[(VmSpec, VmInfo, bool)]) -> Result<(), VmError> {
        let inner = &self.inner;
        let mut first_err = None;
        for (spec, info, running) in vms {
            let r = async {
                let IpAddr::V4(ip) = info.private_ip else {
                    return Err(VmError::Host(format!(
                        "VM `{}` has a non-IPv4 address",
                        spec.id
                    )));
                };
                let vm = {
                    let mut map = lock(&inner.vms);
                    if map.contains_key(&spec.id) {
                        return Ok(());
                    }
                    let slot = restored_slot(&inner.index, spec, ip, &map)?;
                    let dir = inner.root.join("vms").join(vm_key(&spec.id));
                    let recorded = read_json::<VmRecord>(&dir.join("vm.json"))
                        .map(|r| r.lower)
                        .filter(|l| l.exists());
                    let lower = match recorded {
                        Some(l) => l,
                        None => image::image_root(&inner.opts.image_dir, &spec.image)?,
                    };
                    let vm = Arc::new(inner.new_vm(spec, slot, lower));
                    map.insert(spec.id.clone(), vm.clone());
                    vm
                };
                start_forwarders(&vm).await?;
                if *running {
                    let (i, v) = (inner.clone(), vm.clone());
                    blocking(move || {
                        let _op = lock(&v.op);
                        i.boot(&v)
                    })
                    .await??;
                } else {
                    *lock(&vm.status) = VmStatus::Stopped;
                }
                Ok(())
            }
            .await;
            if let Err(e) = r {
                tracing::warn!(vm = %spec.id, "restore failed: {e}");
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn shutdown(&self) {
        let i = self.inner.clone();
        let _ = blocking(move || i.shutdown_sync()).await;
    }
}

fn release(inner: &vms::BackendState, released: &(String, Ipv4Addr)) {
    let mut r = lock(&inner.releasing);
    if let Some(i) = r.iter().position(|x| x == released) {
        r.remove(i);
    }
}

/// The slot a VM persisted with address `ip` gets back: its host number on the emulator's
/// bridge, or a free segment slot when a face chose its address.
fn restored_slot(
    index: &u8,
    spec: &VmSpec,
    ip: Ipv4Addr,
    map: &HashMap<String, Arc<vms::Vm>>,
) -> Result<u16, VmError> {
    if let Some(a) = spec.subnet_address {
        if a.ip != ip {
            return Err(VmError::Host(format!(
                "VM `{}` had address {ip}, not the {} chosen for it",
                spec.id, a.ip
            )));
        }
        if map
            .values()
            .any(|v| v.spec.network == spec.network && v.net.addr == ip)
        {
            return Err(VmError::Host(format!(
                "address {ip} of VM `{}` is taken twice in its network",
                spec.id
            )));
        }
        return (vms::FIRST_SEGMENT_SLOT..=u16::MAX)
            .find(|s| !map.values().any(|v| v.slot == *s))
            .ok_or_else(|| VmError::Exhausted("no free VM slot".into()));
    }
    let o = ip.octets();
    if o[0] != 10
        || o[1] != 200
        || o[2] != *index
        || o[3] < net::FIRST_HOST
        || o[3] > net::LAST_HOST
    {
        return Err(VmError::Host(format!(
            "VM `{}` had address {ip}, outside this emulator's subnet 10.200.{index}.0/24",
            spec.id
        )));
    }
    if map.values().any(|v| v.slot == u16::from(o[3])) {
        return Err(VmError::Host(format!(
            "address {ip} of VM `{}` is taken twice",
            spec.id
        )));
    }
    Ok(u16::from(o[3]))
}
