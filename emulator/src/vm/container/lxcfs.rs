//! The emulator's own lxcfs (Debian package `lxcfs`): a FUSE filesystem whose
//! `/proc/meminfo`, `/proc/cpuinfo`, `/proc/stat`, … and `/sys/devices/system/cpu/online`
//! answer each reader with the memory limit and CPUs of the reader's cgroups. Bound over
//! those files in a VM, they make `free`, `nproc`, Ansible's facts, slurmd and GridEngine
//! see the VM's size instead of the host's. One instance per state dir (mounted at
//! `<container dir>/lxcfs`, pid in `lxcfs.pid`), stopped with the backend, and one left
//! by a killed earlier run is stopped at the next start. It never touches another lxcfs.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::super::VmError;
use super::sys;

/// Files of the lxcfs tree bound over the VM's own (LXC binds the same set, less
/// loadavg, which lxcfs serves only with `-l`).
const VIRTUALISED: &[&str] = &[
    "proc/cpuinfo",
    "proc/diskstats",
    "proc/meminfo",
    "proc/stat",
    "proc/swaps",
    "proc/uptime",
    "sys/devices/system/cpu/online",
];

/// Where the lxcfs tree appears inside a VM (LXC's convention).
const IN_VM: &str = "/var/lib/lxcfs";

/// How long lxcfs may take to mount itself.
const MOUNT_DEADLINE: Duration = Duration::from_secs(10);

/// A running lxcfs of this state dir.
pub struct Lxcfs {
    mountpoint: PathBuf,
    pid_file: PathBuf,
    child: Mutex<Option<Child>>,
}

fn paths(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (
        dir.join("lxcfs"),
        dir.join("lxcfs.pid"),
        dir.join("lxcfs.log"),
    )
}

impl Lxcfs {
    /// Start lxcfs on `<dir>/lxcfs` and wait until it is mounted.
    pub fn start(dir: &Path) -> Result<Lxcfs, VmError> {
        let lxcfs = sys::require_tool("lxcfs", "lxcfs")?;
        let (mountpoint, pid_file, log_path) = paths(dir);
        if mountpoint.to_string_lossy().contains([',', ':', '\n']) {
            return Err(VmError::Host(format!(
                "path {} contains `,` or `:`, which systemd-nspawn binds cannot carry; use another --state-dir",
                mountpoint.display()
            )));
        }
        stop_stale(dir);
        fs::create_dir_all(&mountpoint)
            .map_err(|e| sys::io_err("cannot create", &mountpoint, e))?;
        let log =
            fs::File::create(&log_path).map_err(|e| sys::io_err("cannot create", &log_path, e))?;
        let log2 = log
            .try_clone()
            .map_err(|e| sys::io_err("cannot open", &log_path, e))?;
        let mut child = {
            use std::os::unix::process::CommandExt;
            Command::new(lxcfs)
                .arg("--foreground")
                .arg(format!("--pidfile={}", pid_file.display()))
                .arg(&mountpoint)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log2)
                .process_group(0)
                .spawn()
                .map_err(|e| VmError::Host(format!("cannot start lxcfs: {e}")))?
        };
        let started = Instant::now();
        while !sys::is_mounted(&mountpoint) {
            let exited = child.try_wait().ok().flatten();
            if exited.is_some() || started.elapsed() > MOUNT_DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                return Err(VmError::Host(format!(
                    "lxcfs did not mount {} (see {})",
                    mountpoint.display(),
                    log_path.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Lxcfs {
            mountpoint,
            pid_file,
            child: Mutex::new(Some(child)),
        })
    }

    /// systemd-nspawn arguments binding the virtualised files into a VM. The tree goes to
    /// `/var/lib/lxcfs` first: nspawn mounts binds below `/proc` from inside the container
    /// (after mounting /proc there), so their sources are paths in the VM; it mounts the
    /// others from outside, with host paths.
    pub fn nspawn_binds(&self) -> Vec<OsString> {
        let bind = |source: &Path, dest: &str| {
            let mut arg = OsString::from("--bind-ro=");
            arg.push(source);
            arg.push(format!(":{dest}"));
            arg
        };
        let mut args = vec![bind(&self.mountpoint, IN_VM)];
        for f in VIRTUALISED {
            let source = if f.starts_with("proc/") {
                Path::new(IN_VM).join(f)
            } else {
                self.mountpoint.join(f)
            };
            args.push(bind(&source, &format!("/{f}")));
        }
        args
    }

    /// Unmount and stop (after every VM using it is stopped). Idempotent.
    pub fn stop(&self) {
        let child = self.child.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(mut child) = child else { return };
        // Once unmounted (lazily if need be) nothing reads from it: no need to wait the
        // ~2 s lxcfs takes to notice, SIGKILL is safe.
        unmount(&self.mountpoint);
        let _ = child.kill();
        let _ = child.wait();
        let _ = fs::remove_file(&self.pid_file);
    }
}

impl Drop for Lxcfs {
    fn drop(&mut self) {
        self.stop();
    }
}

fn unmount(mountpoint: &Path) {
    if sys::is_mounted(mountpoint) && !sys::run_quiet("umount", [mountpoint.as_os_str()]) {
        sys::run_quiet("umount", ["-l".as_ref(), mountpoint.as_os_str()]);
    }
}

/// Stop the lxcfs an earlier run of this state dir left (its pid file names it and the
/// process is still lxcfs) and unmount what it left.
pub fn stop_stale(dir: &Path) {
    let (mountpoint, pid_file, _) = paths(dir);
    unmount(&mountpoint);
    let pid = fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .filter(|&p| sys::pid_alive(p) && sys::pid_comm(p).is_some_and(|c| c == "lxcfs"));
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        tracing::warn!(pid, "stopping an lxcfs left by an earlier run");
        // SAFETY: kill(2) on the lxcfs this state dir's earlier run started (unmounted above).
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    let _ = fs::remove_file(&pid_file);
}
