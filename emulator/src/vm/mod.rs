//! VM backends: what an ASM role becomes when it "boots".
//!
//! The API layer (hosted services, deployments, roles) owns the Azure-visible state and
//! never touches the host; a backend owns the host-side resources of a VM (processes,
//! namespaces, mounts, forwarders) and never knows about XML or subscriptions.
//! Two backends: `none` (state only, nothing listens) and `container` (systemd-nspawn).
//! Addresses: a face may choose a VM's private address in the subnet the user defined
//! (`VmSpec::subnet_address`) and its public IP (`VmSpec::public_address`); the backend then
//! uses exactly those, and picks addresses itself only where the face chose none.

pub mod container;
pub mod none;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// One input endpoint of a role, as Azure's load balancer would expose it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSpec {
    /// Endpoint name from the request, e.g. `SSH` or `TCP-1222`.
    pub name: String,
    /// `tcp` or `udp` (lower case).
    pub protocol: String,
    /// `VIP:PublicPort`; the VIP is a loopback address chosen by the emulator per cloud service.
    pub public: SocketAddr,
    /// Port inside the VM.
    pub local_port: u16,
}

/// Everything a backend needs to boot one role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmSpec {
    /// Stable unique id, `<subscription>/<hosted service>/<deployment>/<role>`.
    pub id: String,
    /// `HostName` from the Linux provisioning configuration set.
    pub hostname: String,
    /// `UserName` from the Linux provisioning configuration set (created with passwordless sudo).
    pub user: String,
    /// `UserPassword`, if one was given.
    pub password: Option<String>,
    pub disable_ssh_password_authentication: bool,
    /// OpenSSH `authorized_keys` lines, already converted from the service certificates
    /// named by `PublicKeys/PublicKey/Fingerprint`, with the `Path` each one goes to:
    /// `(line, path)`, e.g. `("ssh-rsa AAAA…", "/home/azureuser/.ssh/authorized_keys")`.
    pub authorized_keys: Vec<(String, String)>,
    /// OS image name (`SourceImageName`).
    pub image: String,
    /// VMs with the same network key share one L2 segment (and, if enabled, one shared /home):
    /// `<subscription>/<virtual network name>` or `<subscription>/<hosted service>` without a vnet.
    pub network: String,
    pub endpoints: Vec<EndpointSpec>,
    /// Instance-level public IP requested (`PublicIPs/PublicIP`): the backend maps it to the VM's address.
    pub wants_public_ip: bool,
    pub role_size: String,
    /// Fault injection: boot a VM that never becomes reachable (Azure's provisioning failure).
    pub fail_provisioning: bool,
    /// The private address the face chose in the user's subnet: the VM gets it on a network
    /// segment shared only by the VMs with the same `network` (so any range is safe, and two
    /// virtual networks may use the same one). `None`: the backend picks an address itself.
    #[serde(default)]
    pub subnet_address: Option<SubnetAddress>,
    /// The public IP the face chose (a loopback address of the emulator's block): reported
    /// as [`VmInfo::public_ip`]; `endpoints` on it say which ports reach the VM.
    #[serde(default)]
    pub public_address: Option<Ipv4Addr>,
    /// Custom data (base64, as sent): written where Azure's Linux agent puts it,
    /// `/var/lib/waagent/CustomData`, before the first boot.
    #[serde(default)]
    pub custom_data: Option<String>,
}

/// An address in a subnet the user defined, as a face allocated it (Azure: `.4` upwards).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetAddress {
    pub ip: Ipv4Addr,
    /// The subnet's prefix length; its first address (`.1`) is the VMs' gateway.
    pub prefix: u8,
}

impl SubnetAddress {
    /// The subnet's gateway (its network address + 1, as in Azure).
    pub fn gateway(&self) -> Ipv4Addr {
        let mask = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix.min(32)))
        };
        Ipv4Addr::from((u32::from(self.ip) & mask) + 1)
    }
}

/// Addresses assigned at create time (known before the VM has finished booting).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmInfo {
    /// The role's private address (`IpAddress` in Get Deployment).
    pub private_ip: IpAddr,
    /// The instance-level public IP: `VmSpec::public_address`, or (legacy) the private
    /// address when `wants_public_ip` and the host reaches it directly.
    pub public_ip: Option<IpAddr>,
}

/// Boot progress as the backend sees it; the API layer maps it onto Azure's
/// `InstanceStatus`/`PowerState` progression.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VmStatus {
    /// Created, not yet accepting SSH.
    Booting,
    /// sshd inside accepts connections (Azure: ReadyRole / Started).
    Ready,
    /// Will never become ready (Azure: FailedStartingVM / ProvisioningFailed).
    Failed(String),
    /// Powered off, disk kept.
    Stopped,
    /// The backend does not know this id.
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    pub name: String,
    pub label: String,
    pub os: String,
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("image `{0}` is not available: {1}")]
    ImageMissing(String, String),
    #[error("host prerequisite missing: {0}")]
    Prerequisite(String),
    #[error("no free address: {0}")]
    Exhausted(String),
    #[error("VM `{0}` not found")]
    NotFound(String),
    #[error("{0}")]
    Host(String),
}

#[async_trait]
pub trait VmBackend: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// Images this backend can boot (served by List OS Images).
    fn images(&self) -> Vec<ImageInfo>;
    /// Allocate addresses and start booting; returns as soon as addresses are known.
    async fn create(&self, spec: &VmSpec) -> Result<VmInfo, VmError>;
    async fn status(&self, id: &str) -> VmStatus;
    /// Power off, keep the disk (Shutdown Role).
    async fn stop(&self, id: &str) -> Result<(), VmError>;
    /// Power on again after `stop` or an emulator restart.
    async fn start(&self, id: &str) -> Result<(), VmError>;
    /// Remove the VM and every host resource it used. Idempotent.
    async fn delete(&self, id: &str) -> Result<(), VmError>;
    /// At emulator start: bring back the VMs persisted state says exist (booting the running ones).
    async fn restore(&self, vms: &[(VmSpec, VmInfo, bool)]) -> Result<(), VmError>;
    /// At emulator exit: stop every VM and release every host resource (namespaces,
    /// bridges, mounts, forwarders, processes). State on disk is kept for `restore`.
    async fn shutdown(&self);
}
