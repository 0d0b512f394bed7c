//! Azure Resource Manager (ARM), today's Azure API: a service principal's token from the
//! identity platform, one resource group per cluster with its network, public IPs, NICs and
//! Linux VMs, long-running operations, throttling, preflight, teardown by group.
//!
//! Which operations, paths, api-versions and JSON this provider uses is written down in
//! `README.md` next to this file (the emulator's ARM face must serve exactly those).
//! Everything ARM lives in this folder; nothing here knows about Ansible or about how the
//! lifecycle stores its state, and the client secret is never logged or stored.

mod client;
mod create;
pub mod error;
pub mod keys;
pub mod kind;
mod lro;
pub mod model;
pub mod names;
mod plan;
mod preflight;
pub mod provider;
pub mod secret;
pub mod snapshot;
mod status;
mod teardown;
pub mod token;

pub use client::{ArmClient, ArmOptions, Reply};
pub use error::ArmError;
pub use provider::{ArmProvider, ArmSettings};
