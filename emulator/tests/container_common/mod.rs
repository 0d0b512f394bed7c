//! Shared helpers for the container backend tests: the image (built once, cached), host
//! leak checks (namespaces, mounts, veths, bridges, cgroups, processes), SSH key generation and
//! OpenSSH logins through the forwarders, a backend and VM specs driven the way the API
//! layer drives them.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use azure_emulator::vm::container::{
    build_image, ContainerBackend, ContainerOptions, ImageOptions, DEFAULT_IMAGE, DEFAULT_IMAGE_DIR,
};
use azure_emulator::vm::{EndpointSpec, VmBackend, VmSpec, VmStatus};

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

pub fn shell_stdout(cmd: &str) -> String {
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
    for l in shell_stdout("ip netns list").lines() {
        if l.contains(tag) {
            out.push(format!("netns {l}"));
        }
    }
    for l in shell_stdout("ip -o link show").lines() {
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
    // The VM's cgroups: nspawn's (hierarchy roots) and its size's (below this process's
    // own cpuset and memory cgroups).
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut groups: Vec<PathBuf> = ["systemd", "unified", ""]
        .iter()
        .map(|h| Path::new("/sys/fs/cgroup").join(h).join("azure-emulator"))
        .collect();
    for c in ["cpuset", "memory"] {
        if let Some(rel) = own
            .lines()
            .find_map(|l| l.split_once(&format!(":{c}:")).map(|(_, p)| p))
        {
            groups.push(
                Path::new("/sys/fs/cgroup")
                    .join(c)
                    .join(rel.trim_start_matches('/'))
                    .join("azure-emulator"),
            );
        }
    }
    for group in groups {
        for e in std::fs::read_dir(&group).into_iter().flatten().flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{tag}-"))
            {
                out.push(format!("cgroup {}", e.path().display()));
            }
        }
    }
    for l in shell_stdout("ps -eo pid=,args=").lines() {
        if (l.contains("systemd-nspawn") && (l.contains(tag) || l.contains(&sd)))
            || (l.contains("lxcfs") && l.contains(&sd))
            || (l.contains("apt-cacher-ng") && l.contains(&sd))
        {
            out.push(format!("process {l}"));
        }
    }
    out
}

/// `leftovers` less what the backend itself holds while it runs (its bridge, its lxcfs,
/// its apt-cacher-ng): what the VMs left once they are deleted.
pub fn vm_leftovers(tag: &str, state_dir: &Path) -> Vec<String> {
    leftovers(tag, state_dir)
        .into_iter()
        .filter(|l| !(l.starts_with("link") && l.contains(&format!(" {tag}:"))))
        .filter(|l| !l.contains("/container/lxcfs"))
        .filter(|l| !l.contains("/container/apt-cacher-ng"))
        .collect()
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

pub const BOOT_TIMEOUT: Duration = Duration::from_secs(180);

pub fn container_backend(state: &Path, shared_home: bool) -> ContainerBackend {
    ensure_image();
    ContainerBackend::new(ContainerOptions {
        state_dir: state.to_path_buf(),
        image_dir: image_dir(),
        shared_home,
    })
    .unwrap_or_else(|e| panic!("container backend: {e}"))
}

/// A random loopback VIP per test (the whole 127/8 is loopback).
pub fn random_vip() -> String {
    let r: u32 = rand::random();
    format!(
        "127.{}.{}.{}",
        100 + (r % 100),
        (r >> 8) % 250 + 1,
        (r >> 16) % 250 + 2
    )
}

/// A VM whose SSH endpoint is `public`, logging in as `azureuser` with `pubkey`.
pub fn ssh_vm_spec(
    id: &str,
    hostname: &str,
    pubkey: &str,
    public: SocketAddr,
    network: &str,
) -> VmSpec {
    VmSpec {
        id: format!("sub/hs/dep/{id}"),
        hostname: hostname.to_string(),
        user: "azureuser".to_string(),
        password: None,
        disable_ssh_password_authentication: true,
        authorized_keys: vec![(
            pubkey.to_string(),
            "/home/azureuser/.ssh/authorized_keys".to_string(),
        )],
        image: DEFAULT_IMAGE.to_string(),
        network: network.to_string(),
        endpoints: vec![EndpointSpec {
            name: "SSH".into(),
            protocol: "tcp".into(),
            public,
            local_port: 22,
        }],
        wants_public_ip: false,
        role_size: "Small".to_string(),
        fail_provisioning: false,
        subnet_address: None,
        public_address: None,
        custom_data: None,
    }
}

/// Poll until the backend says Ready (panics on Failed/Unknown or after BOOT_TIMEOUT).
pub async fn wait_ready(b: &ContainerBackend, id: &str) {
    let deadline = std::time::Instant::now() + BOOT_TIMEOUT;
    loop {
        match b.status(id).await {
            VmStatus::Ready => return,
            VmStatus::Booting => {}
            other => panic!("{id}: {other:?}; {}", console_tail(b, id)),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{id} not Ready after {BOOT_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// (exit code, stdout, stderr) of `cmd` on the VM behind `addr`, off the async runtime.
pub async fn ssh_async(
    key: &Path,
    kh: &Path,
    addr: SocketAddr,
    cmd: &str,
) -> (i32, String, String) {
    let (key, kh, cmd) = (key.to_path_buf(), kh.to_path_buf(), cmd.to_string());
    tokio::task::spawn_blocking(move || ssh(&key, &kh, "azureuser", addr, &cmd))
        .await
        .expect("ssh task")
}

/// The last lines of a VM's console log, for failure messages.
pub fn console_tail(b: &ContainerBackend, id: &str) -> String {
    let path = b.console_log(id);
    let log = std::fs::read_to_string(&path).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(30).collect();
    format!(
        "console ({}), last lines:\n{}",
        path.display(),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    )
}
