//! Azure emulator: Azure's management APIs over HTTPS — the classic Service Management
//! face (client certificates, ASM XML, async operations, exclusivity, quotas, faults) and
//! the Azure Resource Manager face (bearer tokens from its own identity platform, JSON,
//! long-running operations, throttling) — with VMs that are real hosts through a backend.
//!
//! Layers, each using only the ones above it in this list:
//! `ids`, `xml`, `tls`, `http`, `vm`, `model` (plain data and models) → `engine` (shared
//! state, async operations and their effects) → the faces `classic` (ASM, under
//! `/<subscription>/`), `arm` (Resource Manager under `/subscriptions/`, the identity
//! platform under `/<tenant>/oauth2/…`) and `admin` (`/_emulator/`), which never use each
//! other → `server` (TLS, HTTP, dispatch) → this file.
//!
//! Library entry point: [`start`] with [`EmulatorOptions`] returns a [`RunningEmulator`]
//! (used by the binary, by this crate's tests and by the tool's tests). It never exits the
//! process or prints; `main` does that.

pub mod admin;
pub mod arm;
pub mod classic;
pub mod engine;
pub mod http;
pub mod ids;
pub mod model;
mod server;
pub mod tls;
pub mod vm;
pub mod xml;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rand::Rng;

pub use model::critical_path::{Bound, Bounds, Layout};
pub use model::latency::{latency_model, LatencyModel};

use engine::{Emulator, Quotas};
use model::faults::{FaultRates, FaultSpecError, Faults};
use model::{RolePhase, State, Subscription};
use vm::{VmBackend, VmError};

/// Which VM backend roles become.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackendKind {
    /// State only: roles reach ReadyRole, nothing listens.
    #[default]
    None,
    /// systemd-nspawn containers (issue 4).
    Container,
}

/// Everything `start` needs. `Default` gives a none-backend emulator on 127.0.0.1:0 with
/// Azure's timings (time scale 1) and no faults; set `state_dir` and `subscriptions`.
#[derive(Clone)]
pub struct EmulatorOptions {
    pub state_dir: PathBuf,
    pub listen: SocketAddr,
    /// (subscription id, management certificate path: PEM or DER .cer).
    pub subscriptions: Vec<(String, PathBuf)>,
    pub backend: BackendKind,
    /// Container backend: bind one host dir per virtual network as /home.
    pub shared_home: bool,
    pub image_dir: PathBuf,
    /// Multiplies every modelled duration (0.01 for fast tests).
    pub time_scale: f64,
    /// Fault spec, see [`model::faults::FaultRates::parse`].
    pub faults: String,
    pub seed: u64,
    pub max_cores: u32,
    pub max_hosted_services: u32,
    pub max_storage_accounts: u32,
    /// Use this backend instead of `backend` (tests).
    pub custom_backend: Option<Arc<dyn VmBackend>>,
    /// The ARM face's tenants and service principals (none: no ARM face).
    pub arm: arm::ArmCredentials,
}

pub const DEFAULT_IMAGE_DIR: &str = "/var/cache/azure-emulator/images";

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            state_dir: PathBuf::from("azure-emulator-state"),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            subscriptions: Vec::new(),
            backend: BackendKind::None,
            shared_home: false,
            image_dir: PathBuf::from(DEFAULT_IMAGE_DIR),
            time_scale: 1.0,
            faults: String::new(),
            seed: 0,
            max_cores: 100,
            max_hosted_services: 20,
            max_storage_accounts: 100,
            custom_backend: None,
            arm: arm::ArmCredentials::default(),
        }
    }
}

impl std::fmt::Debug for EmulatorOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorOptions")
            .field("state_dir", &self.state_dir)
            .field("listen", &self.listen)
            .field("subscriptions", &self.subscriptions)
            .field("backend", &self.backend)
            .field("time_scale", &self.time_scale)
            .field("faults", &self.faults)
            .field("seed", &self.seed)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("state dir {path}: {msg}")]
    StateDir { path: PathBuf, msg: String },
    #[error("--subscription {0}: {1}")]
    Subscription(String, String),
    #[error("no subscription registered: give at least one --subscription ID=CERT.pem")]
    NoSubscription,
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    State(#[from] model::StateError),
    #[error("--faults: {0}")]
    Faults(#[from] FaultSpecError),
    #[error("--time-scale must be a number >= 0 (got {0})")]
    TimeScale(f64),
    #[error("VM backend: {0}")]
    Backend(#[from] VmError),
    #[error("cannot listen on {addr}: {msg}")]
    Listen { addr: SocketAddr, msg: String },
    #[error("--arm-client needs at least one --arm-tenant (the tenant its tokens are asked from)")]
    ArmWithoutTenant,
    #[error("--arm-tenant needs at least one --arm-client (a service principal that may ask for tokens)")]
    ArmWithoutClient,
    #[error("--arm-client {0}: the client id must not be empty and the secret must be at least 1 character")]
    ArmClient(String),
}

/// A started emulator. Dropping it without `shutdown` leaves the server running until the
/// runtime ends; call `shutdown().await` to stop VMs and persist state.
pub struct RunningEmulator {
    url: String,
    ca: PathBuf,
    state_dir: PathBuf,
    emu: Arc<Emulator>,
    arm: Option<Arc<arm::ArmFace>>,
    stop: tokio::sync::watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

impl RunningEmulator {
    /// `https://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }
    pub fn ca_pem_path(&self) -> &Path {
        &self.ca
    }
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }
    /// The latency model in force.
    pub fn latency(&self) -> &LatencyModel {
        &self.emu.latency
    }
    /// The same JSON written to `<state-dir>/endpoint.json`.
    pub fn endpoint_json(&self) -> String {
        endpoint_json(&self.url, &self.ca, self.arm.is_some())
    }
    /// The Resource Manager endpoint (`None` without the ARM face).
    pub fn arm_url(&self) -> Option<&str> {
        self.arm.as_ref().map(|_| self.url.as_str())
    }
    /// The identity platform's base URL (token endpoint `{this}/{tenant}/oauth2/v2.0/token`).
    pub fn authority_url(&self) -> Option<&str> {
        self.arm_url()
    }
    /// The ARM latency model in force.
    pub fn arm_latency(&self) -> Option<&arm::latency::ArmLatency> {
        self.arm.as_deref().map(|a| &a.latency)
    }
    /// Tokens issued, VMs created, requests throttled by the ARM face.
    pub fn arm_counters(&self) -> serde_json::Value {
        self.arm
            .as_deref()
            .map(arm::admin::counters)
            .unwrap_or_default()
    }
    /// Make every ARM token issued so far invalid (as if they had all expired).
    pub fn revoke_arm_tokens(&self) -> std::io::Result<()> {
        match &self.arm {
            Some(a) => a.revoke_tokens(),
            None => Ok(()),
        }
    }
    /// Start and stop critical paths of everything the emulator holds now (what
    /// `GET /_emulator/bounds` returns): ask after a start, before its stop.
    pub fn bounds(&self) -> Bounds {
        admin::bounds(&self.emu)
    }
    /// Inventory JSON (what `GET /_emulator/inventory` returns).
    pub async fn inventory(&self) -> serde_json::Value {
        admin::inventory(&self.emu).await
    }
    /// Change fault rates at runtime (same syntax as `--faults`).
    pub fn set_faults(&self, spec: &str) -> Result<(), Error> {
        let (rates, seed) = FaultRates::parse(spec)?;
        self.emu.faults().set(rates, seed);
        Ok(())
    }
    /// Stop serving, stop every VM (backend.shutdown), persist state.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
        let tasks: Vec<_> = self
            .emu
            .tasks
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for t in tasks {
            t.abort();
        }
        self.emu.backend.shutdown().await;
        let st = self.emu.lock();
        self.emu.save_now(&st);
    }
}

fn endpoint_json(url: &str, ca: &Path, arm: bool) -> String {
    let mut v = serde_json::json!({
        "url": url,
        "ca": ca.display().to_string(),
        "pid": std::process::id(),
    });
    if arm {
        // One listener serves Resource Manager and the identity platform too.
        v["arm_url"] = serde_json::json!(url);
        v["authority_url"] = serde_json::json!(url);
    }
    v.to_string()
}

fn load_subscriptions(subs: &[(String, PathBuf)]) -> Result<HashMap<String, Vec<String>>, Error> {
    let mut certs: HashMap<String, Vec<String>> = HashMap::new();
    for (id, path) in subs {
        if id.is_empty() || id.contains('/') {
            return Err(Error::Subscription(
                id.clone(),
                "the subscription id must be a non-empty path segment (a GUID)".into(),
            ));
        }
        let cert = tls::load_certificate(path)
            .map_err(|e| Error::Subscription(id.clone(), e.to_string()))?;
        let t = tls::thumbprint(&cert)?;
        certs.entry(t).or_default().push(id.to_ascii_lowercase());
    }
    Ok(certs)
}

/// Start the emulator: generate or reuse TLS files, load or create state, restore VMs,
/// bind, write `endpoint.json`, serve.
pub async fn start(opts: EmulatorOptions) -> Result<RunningEmulator, Error> {
    if !(opts.time_scale >= 0.0 && opts.time_scale.is_finite()) {
        return Err(Error::TimeScale(opts.time_scale));
    }
    if opts.subscriptions.is_empty() {
        return Err(Error::NoSubscription);
    }
    let creds = &opts.arm;
    match (creds.tenants.is_empty(), creds.clients.is_empty()) {
        (true, false) => return Err(Error::ArmWithoutTenant),
        (false, true) => return Err(Error::ArmWithoutClient),
        _ => {}
    }
    if let Some((id, _)) = creds
        .clients
        .iter()
        .find(|(id, secret)| id.trim().is_empty() || secret.is_empty())
    {
        return Err(Error::ArmClient(id.clone()));
    }
    let (rates, spec_seed) = FaultRates::parse(&opts.faults)?;
    let seed = spec_seed.unwrap_or(opts.seed);
    let certificates = load_subscriptions(&opts.subscriptions)?;
    let dir = &opts.state_dir;
    std::fs::create_dir_all(dir).map_err(|e| Error::StateDir {
        path: dir.clone(),
        msg: e.to_string(),
    })?;
    let dir = dir.canonicalize().map_err(|e| Error::StateDir {
        path: dir.clone(),
        msg: e.to_string(),
    })?;
    let identity = tls::ensure_server_identity(&dir)?;
    let acceptor = Arc::new(tls::acceptor(&identity)?);
    let state_path = dir.join("state.json");
    let mut state = match State::load(&state_path)? {
        Some(s) => s,
        None => {
            let mut rng = rand::rng();
            State {
                vip_block: (rng.random_range(1..=254), rng.random_range(1..=254)),
                ..Default::default()
            }
        }
    };
    for (id, _) in &opts.subscriptions {
        if !state
            .subscriptions
            .keys()
            .any(|k| k.eq_ignore_ascii_case(id))
        {
            state.subscriptions.insert(
                id.clone(),
                Subscription {
                    id: id.clone(),
                    ..Default::default()
                },
            );
        }
    }
    let backend: Arc<dyn VmBackend> = match (&opts.custom_backend, opts.backend) {
        (Some(b), _) => b.clone(),
        (None, BackendKind::None) => Arc::new(vm::none::NoneBackend::new()),
        (None, BackendKind::Container) => Arc::new(vm::container::ContainerBackend::new(
            vm::container::ContainerOptions {
                state_dir: dir.join("vms"),
                image_dir: opts.image_dir.clone(),
                shared_home: opts.shared_home,
            },
        )?),
    };
    // Bring back the VMs state says exist.
    let mut restore: Vec<_> = state
        .subscriptions
        .values()
        .flat_map(|s| s.hosted_services.values())
        .filter_map(|h| h.deployment.as_ref())
        .flat_map(|d| d.roles.iter())
        .filter_map(|r| match (&r.vm_spec, &r.vm) {
            (Some(s), Some(i)) => Some((s.clone(), i.clone(), r.phase != RolePhase::Stopped)),
            _ => None,
        })
        .collect();
    // Resource Manager VMs too: running unless powered off or deallocated.
    restore.extend(
        state
            .subscriptions
            .values()
            .flat_map(|s| s.arm.groups.values())
            .flat_map(|g| g.resources.values())
            .filter_map(|r| r.vm.as_ref())
            .filter_map(|v| {
                let off = matches!(
                    v.power,
                    model::arm::PowerState::Stopped | model::arm::PowerState::Deallocated
                );
                v.info.clone().map(|i| (v.spec.clone(), i, !off))
            }),
    );
    backend.restore(&restore).await?;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| Error::Listen {
            addr: opts.listen,
            msg: e.to_string(),
        })?;
    let local = listener.local_addr().map_err(|e| Error::Listen {
        addr: opts.listen,
        msg: e.to_string(),
    })?;
    let host = if local.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        local.ip().to_string()
    };
    let url = format!("https://{host}:{}", local.port());
    let emu = Arc::new(Emulator {
        state: Mutex::new(state),
        backend,
        latency: LatencyModel::with_time_scale(opts.time_scale),
        faults: Mutex::new(Faults::new(rates, seed)),
        certificates,
        state_path,
        quotas: Quotas {
            max_cores: opts.max_cores,
            max_hosted_services: opts.max_hosted_services,
            max_storage_accounts: opts.max_storage_accounts,
        },
        tasks: Mutex::new(Vec::new()),
        persister: Default::default(),
    });
    engine::persist::start_writer(&emu);
    {
        let st = emu.lock();
        st.save(&emu.state_path)?;
    }
    let arm = if opts.arm.clients.is_empty() {
        None
    } else {
        let key = dir.join("arm-token-key");
        let face = arm::ArmFace::new(&opts.arm, key.clone(), opts.time_scale, url.clone())
            .map_err(|e| Error::StateDir {
                path: key,
                msg: e.to_string(),
            })?;
        Some(Arc::new(face))
    };
    let ep = endpoint_json(&url, &identity.ca_pem, arm.is_some());
    std::fs::write(dir.join("endpoint.json"), &ep).map_err(|e| Error::StateDir {
        path: dir.join("endpoint.json"),
        msg: e.to_string(),
    })?;
    emu.resume_operations();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(server::serve(
        listener,
        acceptor,
        emu.clone(),
        arm.clone(),
        stop_rx,
    ));
    tracing::info!("Azure emulator listening on {url}");
    Ok(RunningEmulator {
        url,
        ca: identity.ca_pem,
        state_dir: dir,
        emu,
        arm,
        stop,
        server,
    })
}
