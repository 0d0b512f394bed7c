//! The cluster lifecycle: a cluster's state and views, the operations behind every command
//! (`ops`), the one context that gives them a locked cluster with its cloud open
//! (`session`), bringing nodes up and tearing them down through the provider door, and the
//! setup step (`provision`).
//!
//! Talks to clouds only through `providers` (never naming one), to nodes through `ssh` and
//! `setup`, and keeps state through `storage`.

pub mod bring_up;
mod error;
pub mod ledger;
pub mod nodes;
pub mod ops;
pub mod provision;
pub mod session;
pub mod state;
pub mod tear_down;
pub mod view;

pub use error::OpsError;
pub use session::{Locked, Session, Workspace};
pub use state::{
    parse_node_counts, ClusterState, FrontendError, LoginSnapshot, NodeRecord, NodeStatus,
    ResourceRecord, ResourceStatus,
};
pub use view::{ClusterView, NodeView};
