//! One VM on the host: its overlay root (lower = image, upper/work per VM under the state
//! dir) and the systemd-nspawn process launched from its own cgroup, probed for sshd's
//! banner and stopped again (first-boot provisioning is in `provision`).
//! It must never write outside the VM's own directories and never kill a process it did
//! not start.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::super::VmError;
use super::net::VmNet;
use super::size::{self, VmSize};
use super::sys;

/// cgroup hierarchies nspawn's `--keep-unit` writes into (under the caller's cgroup).
const CGROUP_HIERARCHIES: &[&str] = &["systemd", "unified"];
const CGROUP_GROUP: &str = "azure-emulator";
/// Poweroff of a booted container takes ~2 s; give a loaded machine plenty more.
pub const STOP_DEADLINE: Duration = Duration::from_secs(30);

/// Host-side layout of one VM.
#[derive(Clone, Debug)]
pub struct VmPaths {
    pub dir: PathBuf,
    pub machine: String,
}

impl VmPaths {
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }
    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }
    pub fn merged(&self) -> PathBuf {
        self.dir.join("merged")
    }
    pub fn console_log(&self) -> PathBuf {
        self.dir.join("console.log")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("nspawn.pid")
    }
    /// Every cgroup of the VM: where nspawn runs (`name=systemd` and `unified`) and, on a
    /// cgroup v1 host, the cpuset and memory cgroups holding its size.
    pub fn cgroups(&self) -> Vec<PathBuf> {
        let root = Path::new("/sys/fs/cgroup");
        if size::unified_only() {
            // Pure cgroup v2 host (not this machine's hybrid layout; untested here).
            return vec![root.join(CGROUP_GROUP).join(&self.machine)];
        }
        let mut all: Vec<PathBuf> = CGROUP_HIERARCHIES
            .iter()
            .map(|h| Path::new("/sys/fs/cgroup").join(h))
            .filter(|h| h.is_dir())
            .map(|h| h.join(CGROUP_GROUP).join(&self.machine))
            .collect();
        all.extend(size::limit_cgroups(CGROUP_GROUP, &self.machine));
        all
    }
}

fn check_mount_path(p: &Path) -> Result<(), VmError> {
    let s = p.to_string_lossy();
    if s.contains([',', ':', '\n']) {
        return Err(VmError::Host(format!(
            "path {s} contains `,` or `:`, which overlayfs options cannot carry; use another --state-dir/--image-dir"
        )));
    }
    Ok(())
}

/// Mount the VM's overlay on `merged` (no-op if already mounted).
pub fn mount_overlay(paths: &VmPaths, lower: &Path) -> Result<(), VmError> {
    for d in [paths.upper(), paths.work(), paths.merged()] {
        fs::create_dir_all(&d).map_err(|e| sys::io_err("cannot create", &d, e))?;
        check_mount_path(&d)?;
    }
    check_mount_path(lower)?;
    if sys::is_mounted(&paths.merged()) {
        return Ok(());
    }
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        paths.upper().display(),
        paths.work().display()
    );
    sys::run(
        "mount",
        [
            "-t".as_ref(),
            "overlay".as_ref(),
            "overlay".as_ref(),
            "-o".as_ref(),
            opts.as_str().as_ref(),
            paths.merged().as_os_str(),
        ] as [&std::ffi::OsStr; 6],
    )?;
    Ok(())
}

/// Unmount everything below the VM dir (overlay, and anything a crash left).
pub fn unmount_all(paths: &VmPaths) -> Result<(), VmError> {
    let mut mounts = sys::mounts_under(&paths.dir);
    mounts.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for m in mounts {
        if !sys::run_quiet("umount", [m.as_os_str()]) {
            sys::run_quiet("umount", ["-l".as_ref(), m.as_os_str()]);
        }
    }
    let left = sys::mounts_under(&paths.dir);
    if left.is_empty() {
        Ok(())
    } else {
        Err(VmError::Host(format!(
            "cannot unmount {}",
            left[0].display()
        )))
    }
}

/// A running systemd-nspawn.
#[derive(Debug)]
pub struct Launched {
    pub pid: u32,
    pub exited: Arc<AtomicBool>,
}

fn systemd_nspawn() -> Result<PathBuf, VmError> {
    sys::require_tool("systemd-nspawn", "systemd-container")
}

/// Boot the VM: nspawn from its own cgroups (so concurrent containers do not collide,
/// and limited to the VM's size), in the VM's netns, own process group (terminal signals
/// go to the emulator only), with `binds` (lxcfs's files) bound read-only.
pub fn launch(
    paths: &VmPaths,
    net: &VmNet,
    hostname: &str,
    bind_home: Option<&Path>,
    vm_size: &VmSize,
    binds: &[std::ffi::OsString],
) -> Result<Launched, VmError> {
    let nspawn = systemd_nspawn()?;
    let cgroups = paths.cgroups();
    for cg in &cgroups {
        fs::create_dir_all(cg).map_err(|e| sys::io_err("cannot create cgroup", cg, e))?;
    }
    let unified = size::unified_only().then(|| cgroups.first()).flatten();
    size::apply(
        vm_size,
        &size::limit_cgroups(CGROUP_GROUP, &paths.machine),
        unified.map(PathBuf::as_path),
    )?;
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(paths.console_log())
        .map_err(|e| sys::io_err("cannot open", &paths.console_log(), e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| sys::io_err("cannot open", &paths.console_log(), e))?;
    // The shell only moves itself into the cgroups and execs nspawn; every value is a
    // positional argument, never part of the script.
    let script = r#"n="$1"; shift; i=0; while [ "$i" -lt "$n" ]; do echo $$ > "$1/cgroup.procs" || exit 97; shift; i=$((i+1)); done; exec "$@""#;
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(script)
        .arg("sh")
        .arg(cgroups.len().to_string());
    for cg in &cgroups {
        cmd.arg(cg);
    }
    cmd.arg(&nspawn)
        .arg("-D")
        .arg(paths.merged())
        .arg(format!("--machine={}", paths.machine))
        .arg(format!("--hostname={hostname}"))
        .arg(format!(
            "--network-namespace-path={}",
            net.netns_path().display()
        ))
        .args([
            "--register=no",
            "--keep-unit",
            "--boot",
            "--console=read-only",
        ])
        .args(["--resolv-conf=off", "--timezone=off", "--link-journal=no"]);
    cmd.args(binds);
    if let Some(home) = bind_home {
        let mut arg = std::ffi::OsString::from("--bind=");
        arg.push(home);
        arg.push(":/home");
        cmd.arg(arg);
    }
    cmd.stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| VmError::Host(format!("cannot start systemd-nspawn: {e}")))?;
    let pid = child.id();
    let _ = fs::write(paths.pid_file(), format!("{pid}\n"));
    let exited = Arc::new(AtomicBool::new(false));
    let flag = exited.clone();
    std::thread::Builder::new()
        .name(format!("nspawn-{pid}"))
        .spawn(move || {
            let _ = child.wait();
            flag.store(true, Ordering::SeqCst);
        })
        .map_err(|e| VmError::Host(format!("cannot start a waiter thread: {e}")))?;
    Ok(Launched { pid, exited })
}

/// Every pid in the VM's cgroups (recursively).
fn cgroup_pids(paths: &VmPaths) -> Vec<u32> {
    fn walk(dir: &Path, out: &mut Vec<u32>) {
        if let Ok(s) = fs::read_to_string(dir.join("cgroup.procs")) {
            out.extend(s.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
        }
        if let Ok(entries) = fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    walk(&e.path(), out);
                }
            }
        }
    }
    let mut out = Vec::new();
    for cg in paths.cgroups() {
        walk(&cg, &mut out);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Proportional memory (PSS, bytes) of every process of the VM.
pub fn memory_pss(paths: &VmPaths) -> u64 {
    cgroup_pids(paths)
        .into_iter()
        .filter_map(|pid| fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok())
        .map(|s| {
            s.lines()
                .find_map(|l| {
                    l.strip_prefix("Pss:")
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                })
                .unwrap_or(0)
                * 1024
        })
        .sum()
}

fn kill(pid: u32, sig: i32) {
    if let Ok(p) = i32::try_from(pid) {
        // SAFETY: plain kill(2) on a pid we started (or found in our own cgroup).
        unsafe {
            libc::kill(p, sig);
        }
    }
}

/// Stop the container: SIGTERM to nspawn (the container powers off), wait up to the
/// deadline, then SIGKILL nspawn and everything left in the VM's cgroups.
pub fn stop(paths: &VmPaths, pid: Option<u32>, exited: Option<&AtomicBool>) {
    let alive = |pid: u32| match exited {
        Some(f) => !f.load(Ordering::SeqCst) && sys::pid_alive(pid),
        None => {
            sys::pid_alive(pid)
                && sys::pid_comm(pid).is_some_and(|c| c.starts_with("systemd-nspawn"))
        }
    };
    if let Some(pid) = pid {
        if alive(pid) {
            kill(pid, libc::SIGTERM);
            let deadline = Instant::now() + STOP_DEADLINE;
            while alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if alive(pid) {
                tracing::warn!(machine = %paths.machine, "container did not power off in time; killing it");
                kill(pid, libc::SIGKILL);
            }
        }
    }
    // Whatever is left in the VM's cgroups (payload of a killed nspawn) goes too.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pids = cgroup_pids(paths);
        if pids.is_empty() || Instant::now() > deadline {
            break;
        }
        for p in pids {
            kill(p, libc::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = fs::remove_file(paths.pid_file());
    remove_cgroups(paths);
}

fn remove_cgroups(paths: &VmPaths) {
    fn rm(dir: &Path) {
        if let Ok(entries) = fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    rm(&e.path());
                }
            }
        }
        let _ = fs::remove_dir(dir);
    }
    for cg in paths.cgroups() {
        let deadline = Instant::now() + Duration::from_secs(5);
        while cg.exists() {
            rm(&cg);
            if !cg.exists() || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // The shared group directory goes when empty (other emulators may use it too).
    for cg in paths.cgroups() {
        if let Some(group) = cg.parent() {
            let _ = fs::remove_dir(group);
        }
    }
}

/// A pid recorded by an earlier run of this state dir, if that process is still nspawn.
pub fn stale_pid(paths: &VmPaths) -> Option<u32> {
    let pid: u32 = fs::read_to_string(paths.pid_file())
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (sys::pid_alive(pid) && sys::pid_comm(pid).is_some_and(|c| c.starts_with("systemd-nspawn")))
        .then_some(pid)
}

/// Is sshd answering with its banner on `addr`?
pub fn ssh_banner(addr: std::net::SocketAddr) -> bool {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match s.read(&mut buf[got..]) {
            Ok(0) | Err(_) => return false,
            Ok(n) => got += n,
        }
    }
    &buf == b"SSH-"
}
