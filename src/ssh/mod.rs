//! SSH to cluster nodes: the readiness probe (ssh2), the cluster's `known_hosts`, and the
//! OpenSSH command lines for `elasticluster ssh` / `sftp`.
//!
//! Host keys are recorded at first contact and checked ever after; nothing here ever turns
//! host-key checking off or knows which cloud the node runs on.

pub mod command;
pub mod known_hosts;
pub mod probe;

pub use command::{ssh_command, SshTarget};
pub use known_hosts::{HostKey, KnownHosts};
pub use probe::{probe, ProbeError};
