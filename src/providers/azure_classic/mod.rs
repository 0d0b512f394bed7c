//! Azure classic (Service Management API) provider: transport, XML models, operation
//! poller, layout planner, resources and teardown.
//!
//! Everything Azure-specific lives under this module; nothing here knows about Ansible or
//! about how the lifecycle stores its state.

pub mod config;
pub mod error;
pub mod identity;
pub mod layout;
pub mod provider;
pub mod resources;
pub mod subscriptions;
pub mod transport;
pub mod xml;

pub use error::AsmError;
