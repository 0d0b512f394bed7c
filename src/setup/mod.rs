//! TODO(setup)
pub mod ansible;
