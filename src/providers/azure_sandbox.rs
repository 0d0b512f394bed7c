//! The sandbox: a cloud section with `emulator = yes` makes the tool start (or reuse) the
//! bundled Azure emulator, whose VMs are real hosts (systemd-nspawn containers), so a
//! whole cluster runs on this machine with no Azure account. One emulator process serves
//! the classic clusters and the Azure Resource Manager (ARM) clusters of a sandbox.
//!
//! This module only manages the emulator process and its credentials, kept under the
//! storage directory: a generated subscription id and management certificate (classic), and
//! a generated tenant, client id and client secret registered with the emulator (ARM). It
//! never talks to either API itself and is never used for a real Azure cloud section. The
//! command line and endpoint file it expects are in `ARM-EMULATOR-CONTRACT.md`'s terms.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::azure_classic::identity::new_identity_pem;

/// The emulator program, looked for next to this program and on `PATH`.
pub const EMULATOR_PROGRAMS: &[&str] = &["azure-emulator"];
/// The name messages use.
pub const EMULATOR_PROGRAM: &str = "azure-emulator";

/// The emulator option that registers an ARM service principal; a build whose `serve
/// --help` does not list it has no ARM face.
pub const ARM_CLIENT_FLAG: &str = "--arm-client";

/// Images the sandbox's clusters boot (built by `azure-emulator build-image` on first use):
/// everything preinstalled, and a cloud's stock base image (packages come from the
/// emulator's package cache).
pub const SANDBOX_IMAGES: &[&str] = &["debian-12-elasticluster", "debian-12-stock"];

/// How to reach the running sandbox emulator, in the terms of an Azure cloud section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxEndpoint {
    pub management_url: String,
    pub ca_certificate: PathBuf,
    pub subscription_id: String,
    /// Management certificate + key (PEM), registered with the emulator for the subscription.
    pub certificate: PathBuf,
    /// Process id of the emulator.
    pub pid: u32,
    /// Its Azure Resource Manager face, when the emulator has one.
    pub arm: Option<ArmAccess>,
}

/// How to reach the sandbox emulator's ARM face, in the terms of an ARM cloud section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArmAccess {
    /// ARM endpoint (`https://127.0.0.1:PORT`).
    pub arm_url: String,
    /// Token host (`{authority}/{tenant}/oauth2/v2.0/token`).
    pub authority_url: String,
    pub tenant_id: String,
    pub client_id: String,
    /// File holding the client secret (mode 0600).
    pub secret_file: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "the sandbox needs root (it creates network namespaces and containers): re-run as root"
    )]
    NotRoot,
    #[error("cannot find the `azure-emulator` program next to `{0}` or on PATH: build it with `cargo build --release -p azure-emulator`")]
    EmulatorNotFound(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("generating the sandbox management certificate: {0}")]
    Certificate(#[from] openssl::error::ErrorStack),
    #[error("building the VM image `{image}` failed (exit {code}); last output: {tail}")]
    ImageBuild {
        image: String,
        code: i32,
        tail: String,
    },
    #[error("the sandbox emulator did not start within {secs} s; see its log {log}: {tail}")]
    StartTimeout {
        secs: u64,
        log: PathBuf,
        tail: String,
    },
    #[error("the sandbox emulator (`{}`) has no Azure Resource Manager face, which this cluster needs: build it from this release (`cargo build --release --workspace`); a running older one is replaced once no sandbox cluster uses it", .0.display())]
    NoArmFace(PathBuf),
    #[error(
        "the sandbox emulator exited while starting (status {status}); see its log {log}: {tail}"
    )]
    StartFailed {
        status: String,
        log: PathBuf,
        tail: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SandboxError + '_ {
    move |source| SandboxError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Deserialize)]
struct EndpointFile {
    url: String,
    ca: PathBuf,
    pid: u32,
    /// ARM face (emulators that have one).
    #[serde(default)]
    arm_url: Option<String>,
    #[serde(default)]
    authority_url: Option<String>,
}

/// Files of one sandbox under `<storage>/sandbox` (or the cloud section's `emulator_state_dir`).
#[derive(Clone, Debug)]
pub struct Sandbox {
    dir: PathBuf,
}

impl Sandbox {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Sandbox { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn emulator_state_dir(&self) -> PathBuf {
        self.dir.join("emulator")
    }

    fn endpoint_file(&self) -> PathBuf {
        self.emulator_state_dir().join("endpoint.json")
    }

    pub fn log_file(&self) -> PathBuf {
        self.dir.join("emulator.log")
    }

    fn certificate_path(&self) -> PathBuf {
        self.dir.join("management.pem")
    }

    fn subscription_file(&self) -> PathBuf {
        self.dir.join("subscription-id")
    }

    fn arm_tenant_file(&self) -> PathBuf {
        self.dir.join("arm-tenant-id")
    }

    fn arm_client_file(&self) -> PathBuf {
        self.dir.join("arm-client-id")
    }

    /// The client secret of the sandbox's ARM service principal (mode 0600).
    pub fn arm_secret_file(&self) -> PathBuf {
        self.dir.join("arm-client-secret")
    }

    /// The generated ARM tenant and client id, and the secret (created on first use).
    fn arm_identity(&self) -> Result<(String, String), SandboxError> {
        let tenant = read_or_make(&self.arm_tenant_file(), random_guid)?;
        let client = read_or_make(&self.arm_client_file(), random_guid)?;
        read_or_make(&self.arm_secret_file(), || {
            let b: [u8; 24] = rand::random();
            b.iter().map(|x| format!("{x:02x}")).collect()
        })?;
        Ok((tenant, client))
    }

    /// The generated subscription id and management certificate (created on first use).
    fn credentials(&self) -> Result<(String, PathBuf), SandboxError> {
        fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
            .map_err(io_err(&self.dir))?;
        let sub_path = self.subscription_file();
        let subscription = match fs::read_to_string(&sub_path) {
            Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
            _ => {
                let id = random_guid();
                write_private(&sub_path, format!("{id}\n").as_bytes())?;
                id
            }
        };
        let cert = self.certificate_path();
        if !cert.exists() {
            write_private(
                &cert,
                &new_identity_pem("elasticluster-sandbox-management", 3650, None)?,
            )?;
        }
        Ok((subscription, cert))
    }

    /// The running emulator, if its endpoint file names a live process.
    pub fn running(&self) -> Option<SandboxEndpoint> {
        let text = fs::read_to_string(self.endpoint_file()).ok()?;
        let ep: EndpointFile = serde_json::from_str(&text).ok()?;
        if !pid_alive(ep.pid) {
            return None;
        }
        let subscription_id = fs::read_to_string(self.subscription_file())
            .ok()?
            .trim()
            .to_string();
        let read = |p: PathBuf| fs::read_to_string(p).ok().map(|s| s.trim().to_string());
        let arm = match (ep.arm_url, ep.authority_url) {
            (Some(arm_url), Some(authority_url)) => Some(ArmAccess {
                arm_url,
                authority_url,
                tenant_id: read(self.arm_tenant_file())?,
                client_id: read(self.arm_client_file())?,
                secret_file: self.arm_secret_file(),
            }),
            _ => None,
        };
        Some(SandboxEndpoint {
            management_url: ep.url,
            ca_certificate: ep.ca,
            subscription_id,
            certificate: self.certificate_path(),
            pid: ep.pid,
            arm,
        })
    }

    /// Start the emulator (building the VM image first if needed) or reuse the running one.
    /// `on_line` receives progress lines (image build steps, start-up).
    pub fn ensure_running(
        &self,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<SandboxEndpoint, SandboxError> {
        if let Some(ep) = self.running() {
            return Ok(ep);
        }
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(SandboxError::NotRoot);
        }
        let (subscription, cert) = self.credentials()?;
        let (tenant, client) = self.arm_identity()?;
        let program = emulator_program()?;
        let with_arm = has_arm_face(&program);

        for image in SANDBOX_IMAGES {
            build_image(&program, image, on_line)?;
        }

        on_line(if with_arm {
            "starting the Azure emulator (classic and Resource Manager)"
        } else {
            "starting the Azure-classic emulator"
        });
        let state = self.emulator_state_dir();
        fs::create_dir_all(&state).map_err(io_err(&state))?;
        let _ = fs::remove_file(self.endpoint_file());
        let log_path = self.log_file();
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&log_path)
            .map_err(io_err(&log_path))?;
        let log_err = log.try_clone().map_err(io_err(&log_path))?;
        let mut cmd = Command::new(&program);
        cmd.arg("serve")
            .arg("--state-dir")
            .arg(&state)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--backend",
                "container",
                "--shared-home",
            ])
            .arg("--time-scale")
            .arg(time_scale())
            .arg("--subscription")
            .arg(format!("{subscription}={}", cert.display()));
        if with_arm {
            // The secret by file: a command line is visible to every local user.
            cmd.arg("--arm-tenant")
                .arg(&tenant)
                .arg(ARM_CLIENT_FLAG)
                .arg(format!("{client}=@{}", self.arm_secret_file().display()));
        }
        cmd.stdin(Stdio::null()).stdout(log).stderr(log_err);
        // SAFETY: setsid is async-signal-safe; it detaches the emulator from our terminal and
        // process group so it outlives this command (it is stopped with the last sandbox cluster).
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(io_err(&program))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(ep) = self.running() {
                if ep.pid == child.id() {
                    return Ok(ep);
                }
            }
            if let Some(status) = child.try_wait().map_err(io_err(&program))? {
                return Err(SandboxError::StartFailed {
                    status: status.to_string(),
                    log: log_path.clone(),
                    tail: log_tail(&log_path),
                });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(SandboxError::StartTimeout {
                    secs: 60,
                    log: log_path.clone(),
                    tail: log_tail(&log_path),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stop the emulator (it stops every VM it started) and wait for it to exit.
    pub fn stop(&self) -> Result<bool, SandboxError> {
        let Some(ep) = self.running() else {
            return Ok(false);
        };
        // SAFETY: plain kill(2) on a pid read from our own endpoint file.
        unsafe {
            libc::kill(ep.pid as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while pid_alive(ep.pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = fs::remove_file(self.endpoint_file());
        Ok(true)
    }
}

/// Azure's modelled latencies (≈50 s per deployment) are honest but slow for a sandbox on one
/// machine; the sandbox runs them 10× faster unless ELASTICLUSTER_SANDBOX_TIME_SCALE says otherwise.
fn time_scale() -> String {
    std::env::var("ELASTICLUSTER_SANDBOX_TIME_SCALE")
        .ok()
        .filter(|v| v.parse::<f64>().map(|f| f > 0.0).unwrap_or(false))
        .unwrap_or_else(|| "0.1".to_string())
}

/// Key of a cluster's stored provider settings naming the sandbox directory it runs in
/// (the same for every Azure provider, so one emulator serves them all).
pub const SETTINGS_KEY: &str = "sandbox_dir";

/// The cluster whose settings named sandbox `dir` is gone: stop the emulator (and so its
/// VMs) unless one of `others` (the settings of the clusters still stored) uses it too.
/// Returns what to tell the user.
pub fn stop_if_unused(dir: &Path, others: &[toml::Table]) -> Option<String> {
    let in_use = others.iter().any(|o| {
        o.get(SETTINGS_KEY)
            .and_then(|v| v.as_str())
            .is_some_and(|d| Path::new(d) == dir)
    });
    if in_use {
        return None;
    }
    match Sandbox::new(dir).stop() {
        Ok(true) => Some("Stopped the sandbox emulator (no sandbox cluster left).".into()),
        Ok(false) => None,
        Err(e) => Some(format!("warning: could not stop the sandbox emulator: {e}")),
    }
}

fn emulator_program() -> Result<PathBuf, SandboxError> {
    let me = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("elasticluster"));
    for name in EMULATOR_PROGRAMS {
        let beside = me.with_file_name(name);
        if beside.is_file() {
            return Ok(beside);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for name in EMULATOR_PROGRAMS {
            for dir in std::env::split_paths(&path) {
                let p = dir.join(name);
                if p.is_file() {
                    return Ok(p);
                }
            }
        }
    }
    Err(SandboxError::EmulatorNotFound(me))
}

/// Whether this emulator build serves ARM (its `serve --help` lists [`ARM_CLIENT_FLAG`]).
fn has_arm_face(program: &Path) -> bool {
    Command::new(program)
        .args(["serve", "--help"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(ARM_CLIENT_FLAG))
}

/// Build `image` (or find it cached), passing its progress lines to `on_line`.
fn build_image(
    program: &Path,
    image: &str,
    on_line: &mut dyn FnMut(&str),
) -> Result<(), SandboxError> {
    on_line(&format!(
        "checking the VM image `{image}` (built once, a few minutes)"
    ));
    let mut child = Command::new(program)
        .args(["build-image", image])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io_err(program))?;
    let mut tail = Vec::<String>::new();
    if let Some(err) = child.stderr.take() {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            on_line(&line);
            tail.push(line);
            if tail.len() > 5 {
                tail.remove(0);
            }
        }
    }
    let status = child.wait().map_err(io_err(program))?;
    if !status.success() {
        return Err(SandboxError::ImageBuild {
            image: image.into(),
            code: status.code().unwrap_or(-1),
            tail: tail.join(" | "),
        });
    }
    Ok(())
}

/// The program [`Sandbox::ensure_running`] would start, if installed.
pub fn emulator_path() -> Option<PathBuf> {
    emulator_program().ok()
}

/// The trimmed content of `path`, or `make()` written there (mode 0600) first.
fn read_or_make(path: &Path, make: impl FnOnce() -> String) -> Result<String, SandboxError> {
    match fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        _ => {
            let v = make();
            write_private(path, format!("{v}\n").as_bytes())?;
            Ok(v)
        }
    }
}

fn pid_alive(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    // A zombie still answers kill(0); read the state instead.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .map(|rest| !rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(3).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), SandboxError> {
    let mut f = fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(data).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

fn random_guid() -> String {
    let b: [u8; 16] = rand::random();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_generated_once_and_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sb = Sandbox::new(dir.path().join("sb"));
        let (sub, cert) = sb.credentials().expect("credentials");
        let (tenant, client) = sb.arm_identity().expect("arm identity");
        assert_eq!(sb.arm_identity().expect("again"), (tenant.clone(), client));
        assert_eq!(tenant.len(), 36);
        let secret_mode = fs::metadata(sb.arm_secret_file())
            .expect("secret")
            .permissions()
            .mode();
        assert_eq!(secret_mode & 0o777, 0o600);
        let (sub2, cert2) = sb.credentials().expect("credentials again");
        assert_eq!(sub, sub2);
        assert_eq!(cert, cert2);
        assert_eq!(sub.len(), 36);
        let mode = fs::metadata(&cert).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let pem = fs::read(&cert).expect("read");
        assert!(pem.starts_with(b"-----BEGIN PRIVATE KEY-----"));
        openssl::x509::X509::from_pem(&pem).expect("certificate after the key");
    }

    #[test]
    fn no_endpoint_means_not_running() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sb = Sandbox::new(dir.path());
        assert!(sb.running().is_none());
        fs::create_dir_all(sb.emulator_state_dir()).expect("mkdir");
        // A pid that cannot exist: the emulator is not running.
        fs::write(
            sb.endpoint_file(),
            r#"{"url":"https://127.0.0.1:1","ca":"/x","pid":999999999}"#,
        )
        .expect("write");
        assert!(sb.running().is_none());
        assert!(!sb.stop().expect("stop"));
    }

    #[test]
    fn arm_fields_of_the_endpoint_file_are_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sb = Sandbox::new(dir.path());
        sb.credentials().expect("credentials");
        let (tenant, client) = sb.arm_identity().expect("arm identity");
        fs::create_dir_all(sb.emulator_state_dir()).expect("mkdir");
        let me = std::process::id();
        fs::write(
            sb.endpoint_file(),
            format!(r#"{{"url":"https://127.0.0.1:1","ca":"/x","pid":{me},"arm_url":"https://127.0.0.1:2","authority_url":"https://127.0.0.1:3"}}"#),
        )
        .expect("write");
        let ep = sb.running().expect("our own pid is alive");
        let arm = ep.arm.expect("arm face");
        assert_eq!(arm.arm_url, "https://127.0.0.1:2");
        assert_eq!(arm.authority_url, "https://127.0.0.1:3");
        assert_eq!((arm.tenant_id, arm.client_id), (tenant, client));
        fs::write(
            sb.endpoint_file(),
            format!(r#"{{"url":"https://127.0.0.1:1","ca":"/x","pid":{me}}}"#),
        )
        .expect("write");
        assert!(sb.running().expect("running").arm.is_none());
    }
}
