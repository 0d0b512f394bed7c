//! Small host helpers for the container backend: running host commands with typed errors,
//! advisory file locks, privilege and tool checks, mount-table queries.
//! Nothing here decides policy; it must never run a command through a shell with
//! user-controlled text.

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::super::VmError;

/// Run a host command; non-zero exit becomes `VmError::Host` with the command's stderr.
pub fn run<I, S>(program: &str, args: I) -> Result<String, VmError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let out = Command::new(program)
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| VmError::Host(format!("cannot run `{program}`: {e}")))?;
    if !out.status.success() {
        let shown: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        return Err(VmError::Host(format!(
            "`{program} {}` failed ({}): {}",
            shown.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Like [`run`] but ignores failure (for idempotent clean-up of things that may be gone).
pub fn run_quiet<I, S>(program: &str, args: I) -> bool
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Find an executable in PATH (plus the sbin directories a non-login root shell may lack).
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"];
    std::env::split_paths(&path)
        .chain(extra.iter().map(PathBuf::from))
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

pub fn require_root(what: &str) -> Result<(), VmError> {
    if is_root() {
        Ok(())
    } else {
        Err(VmError::Prerequisite(format!(
            "{what} needs root (namespaces, bridges, mounts and systemd-nspawn); run it as root"
        )))
    }
}

pub fn require_tool(program: &str, package: &str) -> Result<PathBuf, VmError> {
    which(program).ok_or_else(|| {
        VmError::Prerequisite(format!(
            "`{program}` not found; install it with `apt-get install {package}`"
        ))
    })
}

/// An exclusive `flock` held for the lifetime of the value.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    fn open(path: &Path) -> Result<File, VmError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| VmError::Host(format!("cannot create {}: {e}", dir.display())))?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| VmError::Host(format!("cannot open lock file {}: {e}", path.display())))
    }

    /// Returns `Ok(None)` when another process holds the lock. Safe against the file being
    /// unlinked by its previous holder between our open and our flock.
    pub fn try_acquire(path: &Path) -> Result<Option<FileLock>, VmError> {
        loop {
            let file = Self::open(path)?;
            // SAFETY: flock on a valid, owned fd.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc != 0 {
                let err = std::io::Error::last_os_error();
                if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                    return Ok(None);
                }
                return Err(VmError::Host(format!("flock {}: {err}", path.display())));
            }
            if Self::same_inode(&file, path) {
                return Ok(Some(FileLock {
                    file,
                    path: path.to_owned(),
                }));
            }
        }
    }

    /// Blocks until the lock is ours.
    pub fn acquire(path: &Path) -> Result<FileLock, VmError> {
        loop {
            let file = Self::open(path)?;
            // SAFETY: flock on a valid, owned fd.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc != 0 {
                let err = std::io::Error::last_os_error();
                return Err(VmError::Host(format!("flock {}: {err}", path.display())));
            }
            if Self::same_inode(&file, path) {
                return Ok(FileLock {
                    file,
                    path: path.to_owned(),
                });
            }
        }
    }

    fn same_inode(file: &File, path: &Path) -> bool {
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
            _ => false,
        }
    }

    /// Release the lock and remove its file (nobody can be holding it but us).
    pub fn release_and_remove(self) {
        let _ = std::fs::remove_file(&self.path);
        drop(self.file);
    }
}

/// Is `path` a mount point (listed in /proc/self/mountinfo)?
pub fn is_mounted(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines()
        .any(|l| l.split(' ').nth(4).map(unescape_mount) == Some(want.to_string()))
}

/// Every mount point at or below `dir`.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    info.lines()
        .filter_map(|l| l.split(' ').nth(4).map(unescape_mount))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect()
}

fn unescape_mount(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Is a process with this pid alive (and not a zombie)?
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

pub fn pid_comm(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Short lowercase-hex SHA-256 of `data`.
pub fn short_hash(data: &[u8], len: usize) -> String {
    let digest = openssl::sha::sha256(data);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex[..len.min(hex.len())].to_string()
}

pub fn io_err(what: impl std::fmt::Display, path: &Path, e: std::io::Error) -> VmError {
    VmError::Host(format!("{what} {}: {e}", path.display()))
}
