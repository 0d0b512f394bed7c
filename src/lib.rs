//! ElastiCluster in Rust: start a compute cluster on Azure classic, wait until every node
//! answers SSH, provision it with Ansible, and tear it down without leaking resources.
//!
//! Data flows one way: `config` validates into templates → `cluster` (lifecycle) →
//! `providers` (the one door to a cloud) and `ssh` / `setup`; `storage` persists state.

pub mod cli;
pub mod cluster;
pub mod config;
pub mod progress;
pub mod providers;
pub mod sandbox;
pub mod setup;
pub mod ssh;
pub mod storage;
