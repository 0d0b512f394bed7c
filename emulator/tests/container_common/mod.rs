//! Shared helpers for the container backend tests: the image (built once, cached), host
//! leak checks (namespaces, mounts, veths, bridges, processes), SSH key generation and
//! OpenSSH logins through the forwarders.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use azure_emulator::vm::container::{build_image, ImageOptions, DEFAULT_IMAGE, DEFAULT_IMAGE_DIR};

pub fn image_dir() -> PathBuf {
    std::env::var_os("AZURE_EMULATOR_IMAGE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_IMAGE_DIR))
}

/// Build (or reuse) the test image; every container test needs it.
pub fn ensure_image() -> PathBuf {
    let opts = ImageOptions {
        name: DEFAULT_IMAGE.to_string(),
        image_dir: image_dir(),
        force: false,
    };
    match build_image(&opts) {
        Ok(p) => p,
        Err(e) => panic!("cannot build image {DEFAULT_IMAGE}: {e}"),
    }
}

pub fn sh(cmd: &str) -> String {
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("run /bin/sh");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Host objects that carry `tag` (the backend's bridge name): netns, links, mounts, processes.
pub fn leftovers(tag: &str, state_dir: &Path) -> Vec<String> {
    let tail = tag.trim_start_matches("acb");
    let mut out = Vec::new();
    for l in sh("ip netns list").lines() {
        if l.contains(tag) {
            out.push(format!("netns {l}"));
        }
    }
    for l in sh("ip -o link show").lines() {
        if l.contains(tag) || l.contains(&format!("acv{tail}")) {
            out.push(format!("link {l}"));
        }
    }
    let sd = state_dir.to_string_lossy().to_string();
    for l in std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
    {
        if l.contains(&sd) {
            out.push(format!("mount {l}"));
        }
    }
    for h in ["systemd", "unified", ""] {
        let group = Path::new("/sys/fs/cgroup").join(h).join("azure-emulator");
        for e in std::fs::read_dir(&group).into_iter().flatten().flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{tag}-"))
            {
                out.push(format!("cgroup {}", e.path().display()));
            }
        }
    }
    for l in sh("ps -eo pid=,args=").lines() {
        if l.contains("systemd-nspawn") && (l.contains(tag) || l.contains(&sd)) {
            out.push(format!("process {l}"));
        }
    }
    out
}

/// Poll `f` until it returns Some or the deadline passes.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// An ed25519 client key in `dir`; returns (private key path, public key line).
pub fn ssh_keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(st.success());
    let pubkey = std::fs::read_to_string(key.with_extension("pub")).expect("read .pub");
    (key, pubkey.trim().to_string())
}

/// Run `cmd` over OpenSSH as `user@addr:port` with `key`; returns (exit code, stdout, stderr).
pub fn ssh(
    key: &Path,
    known_hosts: &Path,
    user: &str,
    addr: std::net::SocketAddr,
    cmd: &str,
) -> (i32, String, String) {
    let out = Command::new("ssh")
        .arg("-i")
        .arg(key)
        .arg("-p")
        .arg(addr.port().to_string())
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        .args([
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "ConnectTimeout=10",
            "-o",
            "LogLevel=ERROR",
            "-F",
            "/dev/null",
        ])
        .arg(format!("{user}@{}", addr.ip()))
        .arg(cmd)
        .output()
        .expect("run ssh");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

/// A free TCP port on `ip` (bind :0 and release).
pub fn free_port(ip: &str) -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind(format!("{ip}:0")).expect("bind :0");
    l.local_addr().expect("local addr")
}
