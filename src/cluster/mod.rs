//! TODO(cluster)
pub mod access;
pub mod start;
pub mod stop;
