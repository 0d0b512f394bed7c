//! TODO(providers)
pub mod azure_classic;
