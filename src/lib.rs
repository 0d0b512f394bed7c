//! ElastiCluster in Rust: start a compute cluster on a cloud, wait until every node answers
//! SSH, provision it with Ansible, and tear it down without leaking resources.
//!
//! Layers import downwards only: `cli` → `cluster` (lifecycle, setup orchestration) →
//! `providers` (the one door to each cloud) / `setup` / `ssh` → `config` / `storage` /
//! `progress` / `report` / `naming`. See ARCHITECTURE.md.

pub mod cli;
pub mod cluster;
pub mod config;
pub mod naming;
pub mod progress;
pub mod providers;
pub mod report;
pub mod setup;
pub mod ssh;
pub mod storage;
