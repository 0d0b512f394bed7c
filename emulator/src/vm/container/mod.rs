//! The `container` backend: each role is a real host booted with systemd-nspawn over an
//! overlay of a debootstrapped image, in its own network namespace on a per-emulator
//! bridge, reachable through loopback forwarders that play Azure's load balancer.
//! It must never change the host beyond what it records and removes again.
//!
//! Layout under `<state_dir>/container/`: `network.json` (the subnet and bridge this state
//! dir owns, re-taken after a restart), `vms/<role>-<hash>/` per VM (`vm.json`, overlay
//! `upper`/`work`/`merged`, `console.log`, `nspawn.pid`), `homes/<network>/` (shared /home).

mod boot;
mod forward;
pub mod image;
mod net;
mod sys;

use std::collections::HashMap;
use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{ImageInfo, VmBackend, VmError, VmInfo, VmSpec, VmStatus};
use boot::VmPaths;
use forward::Forwarder;
use net::{SubnetLease, VmNet};

pub use image::DEFAULT_IMAGE;

/// How long a VM may take from launch to an SSH banner before it is reported Failed.
const BOOT_DEADLINE: Duration = Duration::from_secs(600);

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

/// Default image cache directory.
pub const DEFAULT_IMAGE_DIR: &str = "/var/cache/azure-emulator/images";

/// Options of `azure-emulator build-image NAME`.
#[derive(Clone, Debug)]
pub struct ImageOptions {
    pub name: String,
    pub image_dir: PathBuf,
    /// Rebuild even when the cached image matches the recipe.
    pub force: bool,
}

/// Build (or reuse, when the recipe is unchanged) an image; returns its root directory.
/// Progress goes to stderr; takes ≈2–3 min when it really builds. Blocking.
pub fn build_image(opts: &ImageOptions) -> Result<PathBuf, VmError> {
    image::build(opts)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What `vm.json` records so a later run can find and clean a VM's host resources.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct VmRecord {
    spec: VmSpec,
    info: VmInfo,
    host: u8,
    lower: PathBuf,
    machine: String,
    netns: String,
    veth: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct NetworkRecord {
    subnet: u8,
    bridge: String,
}

struct Running {
    pid: u32,
    exited: Arc<AtomicBool>,
    probe_stop: Arc<AtomicBool>,
}

struct Vm {
    spec: VmSpec,
    info: VmInfo,
    host: u8,
    paths: VmPaths,
    net: VmNet,
    lower: PathBuf,
    status: Arc<Mutex<VmStatus>>,
    running: Mutex<Option<Running>>,
    forwarders: Mutex<Vec<Forwarder>>,
    /// Serialises start/stop/delete of this VM.
    op: Mutex<()>,
}

struct Inner {
    opts: ContainerOptions,
    root: PathBuf,
    index: u8,
    bridge: String,
    lease: Mutex<Option<SubnetLease>>,
    vms: Mutex<HashMap<String, Arc<Vm>>>,
    shut_down: AtomicBool,
}

pub struct ContainerBackend {
    inner: Arc<Inner>,
}

fn vm_key(id: &str) -> String {
    let last = id.rsplit('/').next().unwrap_or(id);
    let clean: String = last
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(24)
        .collect();
    format!("{clean}-{}", sys::short_hash(id.as_bytes(), 12))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let text = fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), VmError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| VmError::Host(format!("serialise {}: {e}", path.display())))?;
    let tmp = path.with_extension("json.tmp");
    fs::write(&tmp, text).map_err(|e| sys::io_err("cannot write", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| sys::io_err("cannot write", path, e))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, VmError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| VmError::Host(format!("host task failed: {e}")))
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
        image::image_root(&opts.image_dir, DEFAULT_IMAGE)?;
        let root = opts.state_dir.join("container");
        let vms_dir = root.join("vms");
        fs::create_dir_all(&vms_dir).map_err(|e| sys::io_err("cannot create", &vms_dir, e))?;

        let net_file = root.join("network.json");
        let preferred = read_json::<NetworkRecord>(&net_file).map(|r| (r.subnet, r.bridge));
        let mut lease = net::lease_subnet(preferred)?;
        let cleanup = Self::clean_stale(&vms_dir);
        if let Err(e) = cleanup.and_then(|_| net::create_bridge(&lease)) {
            lease.release();
            return Err(e);
        }
        let record = NetworkRecord {
            subnet: lease.index,
            bridge: lease.bridge.clone(),
        };
        if let Err(e) = write_json(&net_file, &record) {
            net::delete_bridge(&lease.bridge);
            lease.release();
            return Err(e);
        }
        tracing::info!(bridge = %lease.bridge, subnet = %format!("10.200.{}.0/24", lease.index), "container backend ready");
        Ok(ContainerBackend {
            inner: Arc::new(Inner {
                opts,
                root,
                index: lease.index,
                bridge: lease.bridge.clone(),
                lease: Mutex::new(Some(lease)),
                vms: Mutex::new(HashMap::new()),
                shut_down: AtomicBool::new(false),
            }),
        })
    }

    /// Stop containers, unmount overlays and remove namespaces an earlier run left behind.
    fn clean_stale(vms_dir: &Path) -> Result<(), VmError> {
        let Ok(entries) = fs::read_dir(vms_dir) else {
            return Ok(());
        };
        for e in entries.flatten() {
            Self::clean_stale_one(&e.path())?;
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

trait V4 {
    fn private_ip_v4(&self) -> std::net::Ipv4Addr;
}
impl V4 for VmInfo {
    fn private_ip_v4(&self) -> std::net::Ipv4Addr {
        match self.private_ip {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => std::net::Ipv4Addr::UNSPECIFIED,
        }
    }
}

impl Inner {
    fn shared_home(&self, network: &str) -> Option<PathBuf> {
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

    fn new_vm(&self, spec: &VmSpec, host: u8, lower: PathBuf) -> Vm {
        let net = VmNet::new(&self.bridge, self.index, host);
        let ip = IpAddr::V4(net.addr);
        Vm {
            spec: spec.clone(),
            info: VmInfo {
                private_ip: ip,
                public_ip: spec.wants_public_ip.then_some(ip),
            },
            host,
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

    fn record(&self, vm: &Vm) -> Result<(), VmError> {
        fs::create_dir_all(&vm.paths.dir)
            .map_err(|e| sys::io_err("cannot create", &vm.paths.dir, e))?;
        write_json(
            &vm.paths.dir.join("vm.json"),
            &VmRecord {
                spec: vm.spec.clone(),
                info: vm.info.clone(),
                host: vm.host,
                lower: vm.lower.clone(),
                machine: vm.paths.machine.clone(),
                netns: vm.net.netns.clone(),
                veth: vm.net.veth.clone(),
            },
        )
    }

    /// Mount, provision (first time only), plumb the network and launch nspawn.
    fn boot(&self, vm: &Vm) -> Result<(), VmError> {
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
                boot::provision(&vm.paths.merged(), &vm.spec, &vm.net, home.as_deref())?;
                fs::write(&marker, "").map_err(|e| sys::io_err("cannot write", &marker, e))?;
            }
            vm.net.create(&self.bridge)?;
            boot::launch(&vm.paths, &vm.net, &vm.spec.hostname, home.as_deref())
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
            let spawned = std::thread::Builder::new()
                .name(format!("probe-{}", vm.host))
                .spawn(move || {
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
    fn teardown(&self, vm: &Vm) {
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

    fn remove_dir(&self, vm: &Vm) -> Result<(), VmError> {
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

    fn status(&self, id: &str) -> VmStatus {
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
    fn shutdown_sync(&self) {
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
        net::delete_bridge(&self.bridge);
        if let Some(mut lease) = lock(&self.lease).take() {
            lease.release();
        }
    }

    fn allocate(&self, vms: &HashMap<String, Arc<Vm>>) -> Result<u8, VmError> {
        (net::FIRST_HOST..=net::LAST_HOST)
            .find(|h| !vms.values().any(|v| v.host == *h))
            .ok_or_else(|| {
                VmError::Exhausted(format!(
                    "all {} addresses of 10.200.{}.0/24 are taken by this emulator's VMs",
                    net::LAST_HOST - net::FIRST_HOST + 1,
                    self.index
                ))
            })
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Safety net for callers that never called shutdown() (e.g. a panicking test).
        self.shutdown_sync();
    }
}

async fn start_forwarders(vm: &Vm) -> Result<(), VmError> {
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
            )
            .await?,
        );
    }
    *lock(&vm.forwarders) = fwds;
    Ok(())
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
        boot::validate_spec(spec)?;
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
            let host = inner.allocate(&vms)?;
            let vm = Arc::new(inner.new_vm(spec, host, lower));
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
                    ContainerBackend::clean_stale_one(&v.paths.dir)?;
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
        let vm = lock(&inner.vms).remove(id);
        match vm {
            Some(vm) => {
                lock(&vm.forwarders).clear();
                blocking(move || {
                    let _op = lock(&vm.op);
                    inner.teardown(&vm);
                    inner.remove_dir(&vm)
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
                    ContainerBackend::clean_stale_one(&dir)?;
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
                let o = ip.octets();
                if o[0] != 10
                    || o[1] != 200
                    || o[2] != inner.index
                    || o[3] < net::FIRST_HOST
                    || o[3] > net::LAST_HOST
                {
                    return Err(VmError::Host(format!(
                        "VM `{}` had address {ip}, outside this emulator's subnet 10.200.{}.0/24",
                        spec.id, inner.index
                    )));
                }
                let vm = {
                    let mut map = lock(&inner.vms);
                    if map.contains_key(&spec.id) {
                        return Ok(());
                    }
                    if map.values().any(|v| v.host == o[3]) {
                        return Err(VmError::Host(format!(
                            "address {ip} of VM `{}` is taken twice",
                            spec.id
                        )));
                    }
                    let dir = inner.root.join("vms").join(vm_key(&spec.id));
                    let recorded = read_json::<VmRecord>(&dir.join("vm.json"))
                        .map(|r| r.lower)
                        .filter(|l| l.exists());
                    let lower = match recorded {
                        Some(l) => l,
                        None => image::image_root(&inner.opts.image_dir, &spec.image)?,
                    };
                    let vm = Arc::new(inner.new_vm(spec, o[3], lower));
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

impl ContainerBackend {
    fn clean_stale_one(dir: &Path) -> Result<(), VmError> {
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
            addr: rec.info.private_ip_v4(),
            gateway: rec.info.private_ip_v4(),
        }
        .delete();
        Ok(())
    }
}
