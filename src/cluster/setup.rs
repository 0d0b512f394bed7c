//! The setup step of the lifecycle: turn a started cluster's nodes and its template's setup
//! section into a neutral [`Inventory`], run the setup provider, then check on the frontend
//! that the scheduler really sees every worker ("honest ready").
//!
//! Knows nothing about clouds; never turns host-key checking off (the nodes' keys were
//! recorded in `<name>.known_hosts` when `start` first reached them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cluster::{ClusterState, NodeStatus};
use crate::config::ClusterTemplate;
use crate::setup::ansible::{playbooks, AnsibleSettings, AnsibleSetupProvider};
use crate::setup::{
    readiness, Host, Inventory, Readiness, SetupError, SetupOutcome, SetupProvider,
};

/// What one setup run found.
#[derive(Debug)]
pub struct SetupReport {
    pub outcome: SetupOutcome,
    pub readiness: Readiness,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterSetupError {
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("cluster `{cluster}`: node {node} has no known address yet — run `elasticluster start {template} -n {cluster}` again to bring it up")]
    NoAddress {
        cluster: String,
        template: String,
        node: String,
    },
    #[error("cluster `{0}` uses setup provider `{1}`, but only `ansible` is supported")]
    UnknownProvider(String, String),
}

/// The inventory of a cluster: every node whose kind has Ansible groups.
pub fn inventory(
    state: &ClusterState,
    template: &ClusterTemplate,
) -> Result<Inventory, ClusterSetupError> {
    let setup = &template.setup;
    let global = setup.global_vars.clone();
    let mut hosts = Vec::new();
    for node in &state.nodes {
        let Some(groups) = setup.groups.get(&node.kind) else {
            continue;
        };
        if groups.is_empty() || node.status == NodeStatus::Failed {
            continue;
        }
        let Some(addr) = node
            .preferred_ip
            .as_deref()
            .or(node.ips.first().map(String::as_str))
        else {
            return Err(ClusterSetupError::NoAddress {
                cluster: state.name.clone(),
                template: state.template.clone(),
                node: node.name.clone(),
            });
        };
        let Some((address, port)) = crate::ssh::split_addr(addr) else {
            return Err(ClusterSetupError::NoAddress {
                cluster: state.name.clone(),
                template: state.template.clone(),
                node: node.name.clone(),
            });
        };
        let vars: BTreeMap<String, String> = setup
            .vars_for(&node.kind)
            .into_iter()
            .filter(|(k, v)| global.get(k) != Some(v))
            .collect();
        hosts.push(Host {
            name: node.name.clone(),
            kind: node.kind.clone(),
            groups: groups.clone(),
            address,
            port,
            user: state.login.image_user.clone(),
            private_key: state.login.user_key_private.clone(),
            vars,
        });
    }
    Ok(Inventory {
        cluster_name: state.name.clone(),
        hosts,
        vars: global,
    })
}

/// The Ansible provider configured from the template's setup section.
pub fn provider(
    state: &ClusterState,
    template: &ClusterTemplate,
    storage_dir: &Path,
    verbosity: u8,
) -> Result<AnsibleSetupProvider, ClusterSetupError> {
    let setup = &template.setup;
    if !setup.provider.eq_ignore_ascii_case("ansible") {
        return Err(ClusterSetupError::UnknownProvider(
            state.name.clone(),
            setup.provider.clone(),
        ));
    }
    let playbook_path: Option<PathBuf> = match (&setup.playbook_path, &setup.bundled_playbook) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(rel)) => Some(playbooks::extract(storage_dir)?.join(rel)),
        (None, None) => None,
    };
    let join = |words: &[String]| -> Option<String> {
        if words.is_empty() {
            None
        } else {
            Some(
                shlex::try_join(words.iter().map(String::as_str))
                    .unwrap_or_else(|_| words.join(" ")),
            )
        }
    };
    let ansible_env = setup
        .ansible_env
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    Ok(AnsibleSetupProvider::new(AnsibleSettings {
        storage_dir: storage_dir.to_path_buf(),
        playbook_path,
        ansible_command: join(&setup.ansible_command).filter(|c| c != "ansible-playbook"),
        ansible_extra_args: join(&setup.ansible_extra_args),
        ansible_env,
        sudo: state.login.image_sudo,
        sudo_user: Some(state.login.image_user_sudo.clone()),
        verbosity,
    }))
}

/// Run the setup provider, then wait (up to `ready_timeout`) for the scheduler to see every worker.
pub fn run(
    state: &ClusterState,
    template: &ClusterTemplate,
    storage_dir: &Path,
    known_hosts: &Path,
    extra_args: &[String],
    verbosity: u8,
    ready_timeout: Duration,
) -> Result<SetupReport, ClusterSetupError> {
    let inv = inventory(state, template)?;
    let p = provider(state, template, storage_dir, verbosity)?;
    let outcome = p.setup(&inv, known_hosts, extra_args)?;
    let readiness = readiness::wait_ready(&inv, known_hosts, ready_timeout)?;
    Ok(SetupReport { outcome, readiness })
}
