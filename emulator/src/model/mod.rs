//! The Azure-visible state of every subscription (hosted services, deployments, roles,
//! certificates, storage accounts, disks, network configuration, operations, locks; and
//! the Resource Manager groups and resources, `arm.rs`) as plain serialisable data,
//! persisted as one JSON file. It never talks to the network or to a VM backend; the API
//! layer does both around it.

pub mod arm;
pub mod catalog;
pub mod critical_path;
pub mod faults;
pub mod latency;
pub mod network;
pub mod vm_sizes;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::vm::{VmInfo, VmSpec};
use crate::xml::Node;

/// Milliseconds since the Unix epoch (wall clock, so deadlines survive restarts).
pub type Millis = i64;

pub fn now_ms() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

pub fn iso8601(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct State {
    /// Second and third octet of this emulator's loopback VIP block 127.A.B.0/24.
    pub vip_block: (u8, u8),
    pub subscriptions: BTreeMap<String, Subscription>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Subscription {
    pub id: String,
    /// Keyed by lower-case name (DNS names are case-insensitive).
    pub hosted_services: BTreeMap<String, HostedService>,
    pub storage_accounts: BTreeMap<String, StorageAccount>,
    pub disks: BTreeMap<String, Disk>,
    /// The whole `NetworkConfiguration` document last set (None: never set → 404).
    pub network: Option<Node>,
    /// Operation holding the subscription's network configuration.
    pub network_lock: Option<String>,
    pub operations: BTreeMap<String, Operation>,
    /// Azure Resource Manager groups and resources.
    #[serde(default)]
    pub arm: arm::ArmSubscription,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ExtProp {
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HostedService {
    pub name: String,
    /// Base64 as sent.
    pub label: String,
    pub description: Option<String>,
    pub location: Option<String>,
    pub affinity_group: Option<String>,
    pub extended_properties: Vec<ExtProp>,
    pub created: Millis,
    pub modified: Millis,
    pub vip: Ipv4Addr,
    pub certificates: Vec<Certificate>,
    pub deployment: Option<Deployment>,
    /// Operation holding exclusive access to the hosted service.
    pub lock: Option<String>,
}

impl Default for HostedService {
    fn default() -> Self {
        HostedService {
            name: String::new(),
            label: String::new(),
            description: None,
            location: None,
            affinity_group: None,
            extended_properties: Vec::new(),
            created: 0,
            modified: 0,
            vip: Ipv4Addr::LOCALHOST,
            certificates: Vec::new(),
            deployment: None,
            lock: None,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Certificate {
    pub thumbprint: String,
    /// Base64 DER.
    pub data: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum DeploymentPhase {
    /// Create Deployment is in progress.
    #[default]
    Deploying,
    Running,
    Deleting,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Deployment {
    pub name: String,
    pub slot: String,
    /// Plain text as sent (returned base64-encoded).
    pub label: String,
    pub private_id: String,
    pub phase: DeploymentPhase,
    pub virtual_network: Option<String>,
    pub created: Millis,
    pub modified: Millis,
    pub roles: Vec<Role>,
    /// Operation holding exclusive access to the deployment.
    pub lock: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct InputEndpoint {
    pub lb_set: Option<String>,
    pub local_port: u16,
    pub name: String,
    pub port: u16,
    pub protocol: String,
    pub enable_direct_server_return: bool,
    pub idle_timeout: Option<u32>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct OsDisk {
    pub host_caching: String,
    pub disk_label: Option<String>,
    pub disk_name: String,
    pub media_link: String,
    pub source_image: String,
    pub os: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum RolePhase {
    /// Its create/add operation is in progress.
    #[default]
    Creating,
    /// The operation succeeded; boot progresses from `ready_from`.
    Running,
    Stopped,
    Deleting,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SshKeyRef {
    pub fingerprint: String,
    pub path: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    pub hostname: String,
    pub user: String,
    pub password: Option<String>,
    pub disable_ssh_password_authentication: bool,
    pub public_keys: Vec<SshKeyRef>,
    pub key_pairs: Vec<SshKeyRef>,
    pub endpoints: Vec<InputEndpoint>,
    pub subnet_names: Vec<String>,
    pub static_ip: Option<String>,
    pub public_ips: Vec<String>,
    pub os_disk: OsDisk,
    pub role_size: String,
    pub provision_guest_agent: Option<bool>,
    pub phase: RolePhase,
    pub created: Millis,
    /// When the create operation finished (boot clock starts).
    pub ready_from: Option<Millis>,
    /// Shut down with `StoppedDeallocated`: no size, address or VIP until started again.
    #[serde(default)]
    pub deallocated: bool,
    /// What was handed to the backend.
    pub vm_spec: Option<VmSpec>,
    /// What the backend answered (addresses).
    pub vm: Option<VmInfo>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StorageAccount {
    pub name: String,
    pub label: String,
    pub description: Option<String>,
    pub location: Option<String>,
    pub affinity_group: Option<String>,
    pub account_type: String,
    pub extended_properties: Vec<ExtProp>,
    pub created: Millis,
    /// `Creating` while its create operation runs, then `Created`.
    pub status: String,
    pub primary_key: String,
    pub secondary_key: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Attachment {
    pub hosted_service: String,
    pub deployment: String,
    pub role: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Disk {
    pub name: String,
    pub os: String,
    pub location: String,
    pub size_gb: u32,
    pub media_link: String,
    pub source_image: String,
    pub created: Millis,
    /// The role using it (kept after a delete without comp=media until `detached_at`).
    pub attached_to: Option<Attachment>,
    /// Set when its role was deleted: `AttachedTo` clears at this time…
    pub detached_at: Option<Millis>,
    /// …and the blob lease is released at this time.
    pub lease_until: Option<Millis>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaseState {
    /// Attached to a role (existing or just deleted).
    Attached,
    /// Detached but the blob lease is not released yet.
    Leased,
    Free,
}

impl Disk {
    pub fn lease_state(&self, now: Millis) -> LeaseState {
        match (&self.attached_to, self.detached_at, self.lease_until) {
            (Some(_), None, _) => LeaseState::Attached,
            (Some(_), Some(d), _) if now < d => LeaseState::Attached,
            (_, _, Some(l)) if now < l => LeaseState::Leased,
            _ => LeaseState::Free,
        }
    }
    pub fn attachment(&self, now: Millis) -> Option<&Attachment> {
        match self.lease_state(now) {
            LeaseState::Attached => self.attached_to.as_ref(),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum OpStatus {
    #[default]
    InProgress,
    Succeeded,
    Failed,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct OpError {
    pub http_status: u16,
    pub code: String,
    pub message: String,
}

/// Azure's message for an internal error (also the classic API's 500 body).
pub const INTERNAL_ERROR_MESSAGE: &str =
    "The server encountered an internal error. Please retry the request.";

impl OpError {
    /// An operation that ended in Azure's 500 InternalError.
    pub fn internal() -> Self {
        OpError {
            http_status: 500,
            code: "InternalError".into(),
            message: INTERNAL_ERROR_MESSAGE.into(),
        }
    }
}

/// The state change an asynchronous operation applies when it completes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Pending {
    CreateStorage {
        name: String,
    },
    AddCertificate {
        service: String,
        cert: Certificate,
    },
    DeleteCertificate {
        service: String,
        thumbprint: String,
    },
    SetNetwork {
        doc: Node,
    },
    CreateDeployment {
        service: String,
    },
    AddRole {
        service: String,
        role: String,
    },
    DeleteRole {
        service: String,
        role: String,
        media: bool,
    },
    DeleteDeployment {
        service: String,
        media: bool,
    },
    DeleteHostedService {
        service: String,
    },
    PowerRole {
        service: String,
        role: String,
        start: bool,
        /// Shutdown with `PostShutdownAction` `StoppedDeallocated`.
        #[serde(default)]
        deallocate: bool,
    },
    /// Nothing to apply (the operation was decided Failed up front, e.g. duplicate ports).
    Nothing,
    /// An Azure Resource Manager operation.
    Arm(arm::ArmPending),
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Operation {
    pub id: String,
    pub status: OpStatus,
    pub http_status: Option<u16>,
    pub error: Option<OpError>,
    pub started: Millis,
    pub completes_at: Millis,
    pub pending: Option<Pending>,
    /// Decided at acceptance: the operation ends Failed with this error.
    pub fail_with: Option<OpError>,
    /// What it holds: `hs:<name>`, `dep:<service>`, `net`.
    pub locks: Vec<String>,
    pub kind: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {msg}")]
    Io { path: String, msg: String },
}

impl State {
    pub fn load(path: &Path) -> Result<Option<State>, StateError> {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| StateError::Io {
                    path: path.display().to_string(),
                    msg: format!("state file is not valid ({e}); move it away to start empty"),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StateError::Io {
                path: path.display().to_string(),
                msg: e.to_string(),
            }),
        }
    }

    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let data = serde_json::to_vec(self).map_err(|e| StateError::Io {
            path: path.display().to_string(),
            msg: e.to_string(),
        })?;
        write_atomically(path, &data)
    }
}

/// Write `data` to `path` through a temporary file renamed over it.
pub fn write_atomically(path: &Path, data: &[u8]) -> Result<(), StateError> {
    let err = |e: std::io::Error| StateError::Io {
        path: path.display().to_string(),
        msg: e.to_string(),
    };
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, data).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

impl Subscription {
    /// The virtual network sites of the configuration last set (none if never set).
    pub fn network_sites(&self) -> Vec<network::Site> {
        self.network
            .as_ref()
            .map(network::sites)
            .unwrap_or_default()
    }

    pub fn cores_in_use(&self) -> u32 {
        self.hosted_services
            .values()
            .filter_map(|h| h.deployment.as_ref())
            .flat_map(|d| d.roles.iter())
            .map(|r| catalog::role_size(&r.role_size).map(|s| s.1).unwrap_or(1))
            .sum()
    }
}

/// `{deployment}-{role}-0-{yyyyMMddHHmmss}{4 digits}` like Azure's auto-named OS disks.
pub fn os_disk_name(deployment: &str, role: &str, ms: Millis, salt: u32) -> String {
    let t = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    format!(
        "{deployment}-{role}-0-{}{:04}",
        t.format("%Y%m%d%H%M%S"),
        (ms.rem_euclid(1000) as u32 * 10 + salt) % 10000
    )
}
