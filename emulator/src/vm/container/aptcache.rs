//! The emulator's package cache: its own apt-cacher-ng (Debian package `apt-cacher-ng`)
//! on the VM bridge's host address and a free port, caching the host's configured Debian
//! archive (and nothing else: `ForceManaged`), the way Azure's images fetch packages from a
//! mirror inside Azure. Every VM's apt uses it from first boot (see `proxy_config`). The
//! cache directory persists across runs (`<image dir>/../apt-cacher-ng`), so only the first
//! run downloads; a concurrent emulator that finds it locked uses a private cache under its
//! state dir instead of sharing files with another apt-cacher-ng. One instance per state
//! dir (`<container dir>/apt-cacher-ng/`: `acng.conf`, `pid`, logs), stopped with the
//! backend; one left by a killed earlier run is stopped at the next start. It never
//! touches the host's own apt-cacher-ng (service, `/etc/apt-cacher-ng`, `/var/cache/apt-cacher-ng`).

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::super::VmError;
use super::sys::{self, FileLock};

/// How long apt-cacher-ng may take to listen.
const LISTEN_DEADLINE: Duration = Duration::from_secs(10);

/// How long it may take to stop on SIGTERM before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(5);

/// Where apt-cacher-ng keeps the files its instance needs (besides the cache).
fn paths(dir: &Path) -> (PathBuf, PathBuf) {
    let own = dir.join("apt-cacher-ng");
    let pid = own.join("pid");
    (own, pid)
}

/// The persistent, shared cache directory for an image directory: a sibling of it
/// (`/var/cache/azure-emulator/apt-cacher-ng` for the default image directory).
pub fn shared_cache_dir(image_dir: &Path) -> PathBuf {
    image_dir
        .parent()
        .unwrap_or(image_dir)
        .join("apt-cacher-ng")
}

/// A running apt-cacher-ng of this state dir.
pub struct AptCache {
    addr: SocketAddrV4,
    pid_file: PathBuf,
    child: Mutex<Option<Child>>,
    /// Held while this instance writes the shared cache.
    _cache_lock: Option<FileLock>,
}

impl AptCache {
    /// Start apt-cacher-ng on `listen` (the bridge's address) caching `archives` (the host's
    /// archive URLs), and wait until it answers. `dir` is the backend's state directory.
    pub fn start(
        dir: &Path,
        listen: Ipv4Addr,
        shared_cache: &Path,
        archives: &[String],
    ) -> Result<AptCache, VmError> {
        let program = sys::require_tool("apt-cacher-ng", "apt-cacher-ng")?;
        let (own, pid_file) = paths(dir);
        stop_stale(dir);
        fs::create_dir_all(own.join("log"))
            .map_err(|e| sys::io_err("cannot create", &own.join("log"), e))?;
        let lock_path = shared_cache.join(".azure-emulator.lock");
        let (cache_dir, cache_lock) = match FileLock::try_acquire(&lock_path) {
            Ok(Some(l)) => (shared_cache.to_path_buf(), Some(l)),
            Ok(None) | Err(_) => {
                tracing::warn!(
                    shared = %shared_cache.display(),
                    "the shared package cache is in use by another emulator; this one uses a private, empty cache"
                );
                (own.join("cache"), None)
            }
        };
        fs::create_dir_all(&cache_dir).map_err(|e| sys::io_err("cannot create", &cache_dir, e))?;
        let port = free_port(listen)?;
        let conf = config(&own, &cache_dir, &pid_file, listen, port, archives);
        let conf_dir = own.join("conf");
        fs::create_dir_all(&conf_dir).map_err(|e| sys::io_err("cannot create", &conf_dir, e))?;
        let conf_file = conf_dir.join("acng.conf");
        fs::write(&conf_file, conf).map_err(|e| sys::io_err("cannot write", &conf_file, e))?;
        let log_path = own.join("log/stdout.log");
        let log =
            fs::File::create(&log_path).map_err(|e| sys::io_err("cannot create", &log_path, e))?;
        let log2 = log
            .try_clone()
            .map_err(|e| sys::io_err("cannot open", &log_path, e))?;
        let mut child = {
            use std::os::unix::process::CommandExt;
            Command::new(program)
                .arg("-c")
                .arg(&conf_dir)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log2)
                .process_group(0)
                .spawn()
                .map_err(|e| VmError::Host(format!("cannot start apt-cacher-ng: {e}")))?
        };
        let addr = SocketAddrV4::new(listen, port);
        let started = Instant::now();
        while TcpStream::connect_timeout(&SocketAddr::V4(addr), Duration::from_millis(200)).is_err()
        {
            let exited = child.try_wait().ok().flatten();
            if exited.is_some() || started.elapsed() > LISTEN_DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                return Err(VmError::Host(format!(
                    "apt-cacher-ng did not listen on {addr} (see {})",
                    log_path.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        tracing::info!(%addr, cache = %cache_dir.display(), "package cache ready");
        Ok(AptCache {
            addr,
            pid_file,
            child: Mutex::new(Some(child)),
            _cache_lock: cache_lock,
        })
    }

    /// Where the VMs reach it.
    pub fn addr(&self) -> SocketAddrV4 {
        self.addr
    }

    /// The apt configuration a VM gets (`/etc/apt/apt.conf.d/00azure-emulator-proxy`),
    /// reaching the cache at `addr` (the cache itself, or a segment's relay to it).
    pub fn proxy_config(addr: SocketAddrV4) -> String {
        format!(
            "// Written by the Azure emulator at every boot: packages come through the\n\
             // emulator's package cache, as Azure's images use a mirror inside Azure.\n\
             Acquire::http::Proxy \"http://{}/\";\n",
            addr
        )
    }

    /// Stop it (after every VM is stopped). Idempotent; leaves no process behind.
    pub fn stop(&self) {
        let child = self.child.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(mut child) = child else { return };
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: kill(2) on our own child, not yet reaped.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let started = Instant::now();
        while child.try_wait().ok().flatten().is_none() {
            if started.elapsed() > STOP_DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = fs::remove_file(&self.pid_file);
    }
}

impl Drop for AptCache {
    fn drop(&mut self) {
        self.stop();
    }
}

/// apt-cacher-ng 3.7 cannot bind a port above 32767 ("Error resolving address for
/// binding"), so the kernel's ephemeral ports (from 32768) are no use: take apt-cacher-ng's
/// usual 3142 on the bridge address (each emulator has its own), else the first free one
/// of 20000–32767.
const PREFERRED_PORT: u16 = 3142;
const FALLBACK_PORTS: std::ops::RangeInclusive<u16> = 20000..=32767;

/// A port nobody listens on at `ip` now (apt-cacher-ng binds it right after).
fn free_port(ip: Ipv4Addr) -> Result<u16, VmError> {
    std::iter::once(PREFERRED_PORT)
        .chain(FALLBACK_PORTS)
        .find(|&p| TcpListener::bind((ip, p)).is_ok())
        .ok_or_else(|| VmError::Host(format!("no free port on {ip} for apt-cacher-ng")))
}

/// The instance's whole configuration (no file of the host's `/etc/apt-cacher-ng` is read).
fn config(
    own: &Path,
    cache: &Path,
    pid_file: &Path,
    listen: Ipv4Addr,
    port: u16,
    archives: &[String],
) -> String {
    let mut c = format!(
        "CacheDir: {}\nLogDir: {}\nSupportDir: /usr/lib/apt-cacher-ng\n\
         PidFile: {}\nSocketPath: {}\nBindAddress: {listen}\nPort: {port}\n\
         ForeGround: 1\nExThreshold: 4\n\
         # Only the archives below: a VM reaches nothing else through the cache.\n\
         ForceManaged: 1\n",
        cache.display(),
        own.join("log").display(),
        pid_file.display(),
        own.join("socket").display(),
    );
    for (i, url) in archives.iter().enumerate() {
        c.push_str(&format!("Remap-archive{i}: {url} ; {url}\n"));
    }
    c
}

/// Stop the apt-cacher-ng an earlier run of this state dir left (its pid file names it and
/// the process is still apt-cacher-ng).
pub fn stop_stale(dir: &Path) {
    let (_, pid_file) = paths(dir);
    let pid = fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .filter(|&p| sys::pid_alive(p) && sys::pid_comm(p).is_some_and(|c| c == "apt-cacher-ng"));
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        tracing::warn!(pid, "stopping an apt-cacher-ng left by an earlier run");
        // SAFETY: kill(2) on the apt-cacher-ng this state dir's earlier run started.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    let _ = fs::remove_file(&pid_file);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_serves_only_the_given_archives_on_the_bridge() {
        let c = config(
            Path::new("/s/apt-cacher-ng"),
            Path::new("/c"),
            Path::new("/s/apt-cacher-ng/pid"),
            Ipv4Addr::new(10, 200, 3, 1),
            41234,
            &["http://a/debian".into(), "http://a/debian-security".into()],
        );
        assert!(c.contains("BindAddress: 10.200.3.1\nPort: 41234\n"), "{c}");
        assert!(c.contains("ForceManaged: 1"), "{c}");
        assert!(c.contains("CacheDir: /c\n"), "{c}");
        assert!(
            c.contains("Remap-archive1: http://a/debian-security ; http://a/debian-security"),
            "{c}"
        );
        assert_eq!(
            shared_cache_dir(Path::new("/var/cache/azure-emulator/images")),
            Path::new("/var/cache/azure-emulator/apt-cacher-ng")
        );
    }
}
