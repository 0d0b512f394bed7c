//! One VM on the host: its overlay root (lower = image, upper/work per VM under the state
//! dir), first-boot provisioning written from the host into the overlay (hostname, hosts,
//! the Azure user with sudo and authorized_keys, sshd password policy), and the
//! systemd-nspawn process launched from its own cgroup and stopped again.
//! It must never write outside the VM's own directories (and the network's shared /home),
//! never follow a symlink a VM could have planted, and never kill a process it did not start.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::super::{VmError, VmSpec};
use super::net::VmNet;
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
    pub fn cgroups(&self) -> Vec<PathBuf> {
        let root = Path::new("/sys/fs/cgroup");
        if root.join("cgroup.controllers").exists() {
            // Pure cgroup v2 host (not this machine's hybrid layout; untested here).
            return vec![root.join(CGROUP_GROUP).join(&self.machine)];
        }
        CGROUP_HIERARCHIES
            .iter()
            .map(|h| Path::new("/sys/fs/cgroup").join(h))
            .filter(|h| h.is_dir())
            .map(|h| h.join(CGROUP_GROUP).join(&self.machine))
            .collect()
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

/// `base` joined with the relative form of `path`, refusing `..` and any existing symlink
/// on the way (a VM could have planted one to make the host write elsewhere).
fn safe_join(base: &Path, path: &str) -> Result<PathBuf, VmError> {
    let mut out = base.to_path_buf();
    for c in Path::new(path).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => {
                out.push(n);
                if fs::symlink_metadata(&out).is_ok_and(|m| m.file_type().is_symlink()) {
                    return Err(VmError::Host(format!(
                        "refusing to follow symlink {}",
                        out.display()
                    )));
                }
            }
            _ => {
                return Err(VmError::Host(format!(
                    "path `{path}` must be absolute without `..`"
                )))
            }
        }
    }
    Ok(out)
}

fn write_file(path: &Path, content: &str, mode: u32) -> Result<(), VmError> {
    let mut f = fs::File::create(path).map_err(|e| sys::io_err("cannot write", path, e))?;
    f.write_all(content.as_bytes())
        .map_err(|e| sys::io_err("cannot write", path, e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| sys::io_err("cannot chmod", path, e))
}

fn chown(path: &Path, uid: u32, gid: u32) -> Result<(), VmError> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        .map_err(|e| sys::io_err("cannot chown", path, e))
}

/// uid and gid of `user` in the VM's /etc/passwd.
fn lookup_user(merged: &Path, user: &str) -> Option<(u32, u32)> {
    let passwd = fs::read_to_string(merged.join("etc/passwd")).ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 4 && f[0] == user).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

pub fn validate_spec(spec: &VmSpec) -> Result<(), VmError> {
    let h = &spec.hostname;
    if h.is_empty()
        || h.len() > 63
        || !h.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        || h.starts_with('-')
    {
        return Err(VmError::Host(format!(
            "host name `{h}` is not a valid host name (1–63 letters, digits, `-`)"
        )));
    }
    let u = &spec.user;
    let ok_first = u
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if !ok_first
        || u.len() > 32
        || !u
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err(VmError::Host(format!(
            "user name `{u}` is not a valid Linux user name"
        )));
    }
    if u == "root" {
        return Err(VmError::Host("user name `root` is reserved".into()));
    }
    for (line, path) in &spec.authorized_keys {
        if !path.starts_with('/') || path.split('/').any(|c| c == "..") {
            return Err(VmError::Host(format!(
                "SSH key path `{path}` must be absolute without `..`"
            )));
        }
        if line.contains('\n') {
            return Err(VmError::Host(
                "an SSH public key must be a single line".into(),
            ));
        }
    }
    Ok(())
}

/// First-boot provisioning, from the host into the (not yet booted) overlay: what Azure's
/// Linux agent did from inside. Runs once per VM (the overlay keeps the result).
pub fn provision(
    merged: &Path,
    spec: &VmSpec,
    net: &VmNet,
    shared_home: Option<&Path>,
) -> Result<(), VmError> {
    let etc = safe_join(merged, "/etc")?;
    write_file(
        &etc.join("hostname"),
        &format!("{}\n", spec.hostname),
        0o644,
    )?;
    write_file(
        &etc.join("hosts"),
        &format!(
            "127.0.0.1\tlocalhost\n{}\t{}\n\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
            net.addr, spec.hostname
        ),
        0o644,
    )?;

    // The user, with passwordless sudo.
    if lookup_user(merged, &spec.user).is_none() {
        let home_flag = if shared_home.is_some() { "-M" } else { "-m" };
        sys::run(
            "useradd",
            [
                "--root".as_ref(),
                merged.as_os_str(),
                home_flag.as_ref(),
                "-s".as_ref(),
                "/bin/bash".as_ref(),
                "-G".as_ref(),
                "sudo".as_ref(),
                "-c".as_ref(),
                "Azure provisioned user".as_ref(),
                spec.user.as_str().as_ref(),
            ] as [&std::ffi::OsStr; 10],
        )?;
    }
    let (uid, gid) = lookup_user(merged, &spec.user)
        .ok_or_else(|| VmError::Host(format!("user `{}` missing after useradd", spec.user)))?;
    match &spec.password {
        Some(pw) => {
            let mut child = Command::new("chpasswd")
                .arg("--root")
                .arg(merged)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| VmError::Host(format!("cannot run chpasswd: {e}")))?;
            if let Some(mut stdin) = child.stdin.take() {
                let _ = writeln!(stdin, "{}:{}", spec.user, pw);
            }
            let out = child
                .wait_with_output()
                .map_err(|e| VmError::Host(format!("chpasswd: {e}")))?;
            if !out.status.success() {
                return Err(VmError::Host(format!(
                    "chpasswd failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
        }
        None => {
            // Not locked ('!'), just no password: key logins work whatever sshd's UsePAM says.
            sys::run(
                "usermod",
                [
                    "--root".as_ref(),
                    merged.as_os_str(),
                    "-p".as_ref(),
                    "*".as_ref(),
                    spec.user.as_str().as_ref(),
                ] as [&std::ffi::OsStr; 5],
            )?;
        }
    }
    let sudoers = safe_join(merged, "/etc/sudoers.d")?;
    fs::create_dir_all(&sudoers).map_err(|e| sys::io_err("cannot create", &sudoers, e))?;
    write_file(
        &sudoers.join("90-azure-user"),
        &format!("# Written by the emulator's provisioning (Azure agent stand-in)\n{} ALL=(ALL) NOPASSWD:ALL\n", spec.user),
        0o440,
    )?;

    // Home directory on the shared /home, from the image's skeleton.
    if let Some(shared) = shared_home {
        let home = safe_join(shared, &spec.user)?;
        if !home.exists() {
            fs::create_dir_all(&home).map_err(|e| sys::io_err("cannot create", &home, e))?;
            if let Ok(entries) = fs::read_dir(merged.join("etc/skel")) {
                for e in entries.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_file()) {
                        let dst = home.join(e.file_name());
                        fs::copy(e.path(), &dst)
                            .map_err(|err| sys::io_err("cannot copy skeleton to", &dst, err))?;
                        chown(&dst, uid, gid)?;
                    }
                }
            }
            chown(&home, uid, gid)?;
            fs::set_permissions(&home, fs::Permissions::from_mode(0o755))
                .map_err(|e| sys::io_err("cannot chmod", &home, e))?;
        }
    }

    // authorized_keys, grouped by target path.
    let mut by_path: Vec<(&str, Vec<&str>)> = Vec::new();
    for (line, path) in &spec.authorized_keys {
        match by_path.iter_mut().find(|(p, _)| p == path) {
            Some((_, lines)) => lines.push(line),
            None => by_path.push((path, vec![line])),
        }
    }
    for (path, lines) in by_path {
        let host_path = match (shared_home, path.strip_prefix("/home/")) {
            (Some(shared), Some(rest)) => safe_join(shared, rest)?,
            _ => safe_join(merged, path)?,
        };
        let parent = host_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        if !parent.exists() {
            fs::create_dir_all(&parent).map_err(|e| sys::io_err("cannot create", &parent, e))?;
            fs::set_permissions(&parent, fs::Permissions::from_mode(0o700))
                .map_err(|e| sys::io_err("cannot chmod", &parent, e))?;
            chown(&parent, uid, gid)?;
        }
        let mut content = String::new();
        if let Ok(existing) = fs::read_to_string(&host_path) {
            content = existing;
        }
        for l in lines {
            if !content.lines().any(|x| x.trim() == l.trim()) {
                if !content.is_empty() && !content.ends_with('\n') {
                    content.push('\n');
                }
                content.push_str(l.trim());
                content.push('\n');
            }
        }
        write_file(&host_path, &content, 0o600)?;
        chown(&host_path, uid, gid)?;
    }

    // sshd password policy, as the agent set it.
    let dropin = safe_join(merged, "/etc/ssh/sshd_config.d")?;
    fs::create_dir_all(&dropin).map_err(|e| sys::io_err("cannot create", &dropin, e))?;
    let pw = if spec.disable_ssh_password_authentication {
        "no"
    } else {
        "yes"
    };
    write_file(
        &dropin.join("50-azure-provisioning.conf"),
        &format!("# Written by the emulator's provisioning (DisableSshPasswordAuthentication)\nPasswordAuthentication {pw}\nKbdInteractiveAuthentication no\n"),
        0o644,
    )?;

    if spec.fail_provisioning {
        // Provisioning "fails": sshd never comes up, so the VM never answers.
        let units = safe_join(merged, "/etc/systemd/system")?;
        for unit in ["ssh.service", "ssh.socket", "ssh-hostkeys.service"] {
            let p = units.join(unit);
            let _ = fs::remove_file(&p);
            symlink("/dev/null", &p).map_err(|e| sys::io_err("cannot mask", &p, e))?;
        }
    }
    Ok(())
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

/// Boot the VM: nspawn from its own cgroup (so concurrent containers do not collide),
/// in the VM's netns, own process group (terminal signals go to the emulator only).
pub fn launch(
    paths: &VmPaths,
    net: &VmNet,
    hostname: &str,
    bind_home: Option<&Path>,
) -> Result<Launched, VmError> {
    let nspawn = systemd_nspawn()?;
    let cgroups = paths.cgroups();
    for cg in &cgroups {
        fs::create_dir_all(cg).map_err(|e| sys::io_err("cannot create cgroup", cg, e))?;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_join_refuses_escapes_and_symlinks() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(safe_join(dir.path(), "/home/../etc").is_err());
        let ok = safe_join(dir.path(), "/home/u/.ssh/authorized_keys").expect("plain path");
        assert!(ok.starts_with(dir.path()));
        fs::create_dir_all(dir.path().join("home")).expect("mkdir");
        symlink("/etc", dir.path().join("home/u")).expect("symlink");
        assert!(safe_join(dir.path(), "/home/u/.ssh/authorized_keys").is_err());
    }
}
