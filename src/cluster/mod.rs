//! TODO(cluster)
pub mod start;
pub mod stop;
