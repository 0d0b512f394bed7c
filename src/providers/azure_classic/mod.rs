//! Azure classic (Service Management API): its configuration keys, the settings kept in the
//! cluster state, transport (management certificate, `x-ms-version`, retries), XML models,
//! operation poller, layout planner, owner marks, and the provider's preflight / discover /
//! plan / create / status / teardown.
//!
//! Everything Azure-classic lives in this folder; nothing here knows about Ansible or about
//! how the lifecycle stores its state.

mod catalog;
mod create;
pub mod error;
pub mod identity;
pub mod keys;
pub mod kind;
pub mod layout;
mod ledger_writes;
mod openssh_key;
pub mod ownership;
mod plan;
mod poll;
mod preflight;
pub mod provider;
pub mod resources;
pub mod service_cert;
pub mod snapshot;
mod status;
pub mod subscriptions;
mod teardown;
pub mod transport;
mod vm_queue;
pub mod xml;

pub use error::AsmError;
