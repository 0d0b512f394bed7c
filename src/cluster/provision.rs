//! The setup step of the lifecycle: the setup layer's neutral inputs ([`Inventory`],
//! [`AnsibleSettings`]) from the cluster state and validated configuration, the Ansible run,
//! the readiness check, and the honest report ("ready", or exit 4 saying what is missing).
//!
//! The translation never invents an address for a node.

use std::path::Path;
use std::time::Duration;

use super::error::OpsError;
use super::state::{ClusterState, LoginSnapshot, NodeRecord};
use crate::config::{ClusterTemplate, Setup};
use crate::report::Reporter;
use crate::setup::ansible::{AnsibleSettings, AnsibleSetupProvider};
use crate::setup::readiness::{self, Readiness};
use crate::setup::{Host, Inventory, SetupError, SetupOutcome, SetupProvider};

/// Which nodes get the whole setup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupScope {
    /// Every node (`start`, `setup`): facts are gathered afresh everywhere — unless every
    /// node still is as its last complete setup with the same inputs left it, which the
    /// playbooks check first (then nothing else runs).
    AllNodes,
    /// Every node, every task, whatever that check finds (`setup --full`).
    AllNodesEveryTask,
    /// Nodes joined or left (`resize`, `remove-node`): the nodes configured before get only
    /// what depends on the list of nodes, with their cached facts; the others get it all.
    MembershipChange,
}

/// What `start`/`setup` need to print at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupReport {
    pub outcome: SetupOutcome,
    pub readiness: Readiness,
}

/// The whole setup step: inventory from the state, Ansible run, then the readiness check
/// on the frontend (polled up to `ready_timeout`). `known_hosts` is the cluster's file
/// (`Storage::known_hosts_path`), `extra_args` come from `setup NAME -- …`; with
/// `quiet_stdout` (JSON events on stdout) Ansible's output goes to stderr.
/// `scope` says which nodes get the whole setup.
/// Blocking: call it from `spawn_blocking` in async code.
#[allow(clippy::too_many_arguments)]
pub fn setup_cluster(
    state: &ClusterState,
    setup: &Setup,
    storage_dir: &Path,
    known_hosts: &Path,
    extra_args: &[String],
    verbosity: u8,
    ready_timeout: Duration,
    quiet_stdout: bool,
    scope: SetupScope,
) -> Result<SetupReport, SetupError> {
    let mut inventory = inventory_for(state, setup, &state.login)?;
    if scope == SetupScope::MembershipChange {
        inventory.membership_only = inventory
            .hosts
            .iter()
            .filter(|h| state.node(&h.name).is_some_and(|n| n.configured))
            .map(|h| h.name.clone())
            .collect();
    }
    let provider = AnsibleSetupProvider::new(ansible_settings(
        setup,
        &state.login,
        storage_dir,
        verbosity,
    ))
    .with_output_to_stderr(quiet_stdout)
    .with_every_task(every_task(scope, state, &inventory));
    let outcome = provider.setup(&inventory, known_hosts, extra_args)?;
    let readiness = readiness::wait_ready(&inventory, known_hosts, ready_timeout)?;
    Ok(SetupReport { outcome, readiness })
}

/// Whether the playbooks run every task on every node without first checking the nodes
/// against what their last complete setup recorded: on `setup --full`, and when a node of
/// the inventory was never set up (the first setup after `start`, or a node that failed),
/// which the check could only find, at the cost of one module run per node.
fn every_task(scope: SetupScope, state: &ClusterState, inventory: &Inventory) -> bool {
    match scope {
        SetupScope::AllNodesEveryTask => true,
        SetupScope::AllNodes => inventory
            .hosts
            .iter()
            .any(|h| !state.node(&h.name).is_some_and(|n| n.configured)),
        SetupScope::MembershipChange => false,
    }
}

use crate::ssh::split_address;

/// Run the setup on a started cluster and tell the user honestly whether it is ready:
/// `Ok` only when the scheduler sees every worker; otherwise [`OpsError::NotReady`] naming
/// what is missing and how to re-run.
pub fn setup_and_report(
    state: &ClusterState,
    template: &ClusterTemplate,
    storage: &crate::storage::Storage,
    extra: &[String],
    verbosity: u8,
    events: &Reporter,
    scope: SetupScope,
) -> Result<(), OpsError> {
    let name = &state.name;
    let timeout = Duration::from_secs(template.startup_timeout.clamp(30, 300));
    events.phase("provision", "running", None);
    let report = setup_cluster(
        state,
        &template.setup,
        storage.dir(),
        &storage.known_hosts_path(name),
        extra,
        verbosity,
        timeout,
        events.is_json(),
        scope,
    );
    let not_ready = |why: String| {
        OpsError::NotReady(format!(
            "WARNING: YOUR CLUSTER IS NOT READY YET! {why}\nFix the cause and re-run `elasticluster setup {name}`."
        ))
    };
    let result = match report {
        Err(e) => Err(not_ready(e.to_string())),
        Ok(r) if !r.readiness.ready => Err(not_ready(not_ready_reason(&r.readiness))),
        Ok(r) => {
            match r.outcome.changed {
                Some(false) => events.print(&format!(
                    "Setup of `{name}` changed nothing (already configured)."
                )),
                Some(true) => events.print(&format!("Setup of `{name}` done.")),
                None => {}
            }
            events.print(&format!("Your cluster `{name}` is ready!"));
            events.print(&state.summary());
            Ok(())
        }
    };
    match &result {
        Ok(()) => events.phase("provision", "ready", None),
        Err(e) => events.phase("provision", "not_ready", Some(&e.to_string())),
    }
    result
}

/// Why the readiness check failed, in one sentence.
fn not_ready_reason(r: &Readiness) -> String {
    let mut what = Vec::new();
    if !r.missing.is_empty() {
        what.push(format!(
            "the scheduler does not see every worker (missing: {})",
            r.missing.join(", ")
        ));
    }
    if !r.extra.is_empty() {
        what.push(format!(
            "the scheduler lists nodes that are not the cluster's (a node that left?: {})",
            r.extra.join(", ")
        ));
    }
    if what.is_empty() {
        what.push("the scheduler is not ready".to_string());
    }
    format!("{}: {}", what.join("; "), r.detail)
}

/// The inventory of a cluster: every node whose kind has `<kind>_groups`, reached at its
/// `preferred_ip` as its `image_user` with the login's private key, with the variables of
/// the setup configuration (`Setup::vars_for`). A node's known private address is passed
/// as `cluster_private_ip` (the playbooks use it for /etc/hosts, slurm.conf, NFS exports).
pub fn inventory_for(
    state: &ClusterState,
    setup: &Setup,
    login: &LoginSnapshot,
) -> Result<Inventory, SetupError> {
    let global = setup.global_vars.clone();
    let mut hosts = Vec::new();
    for node in &state.nodes {
        let Some(groups) = setup.groups.get(&node.kind).filter(|g| !g.is_empty()) else {
            continue;
        };
        let mut host = host_for(&state.name, node, groups, setup, &global, login)?;
        host.jump = super::ops::jump_host(state, node)
            .map_err(|e| SetupError::BadInventory(e.to_string()))?;
        hosts.push(host);
    }
    Ok(Inventory {
        cluster_name: state.name.clone(),
        hosts,
        vars: global,
        membership_only: Vec::new(),
    })
}

fn host_for(
    cluster: &str,
    node: &NodeRecord,
    groups: &[String],
    setup: &Setup,
    global: &std::collections::BTreeMap<String, String>,
    login: &LoginSnapshot,
) -> Result<Host, SetupError> {
    let preferred = node.preferred_ip.as_deref().ok_or_else(|| {
        SetupError::BadInventory(format!(
            "node {} has no known address, so it cannot be set up: run `elasticluster list-nodes -u {cluster}` to refresh the addresses, then `elasticluster setup {cluster}`",
            node.name
        ))
    })?;
    let (address, port) = split_address(preferred)
        .map_err(|e| SetupError::BadInventory(format!("address of node {}: {e}", node.name)))?;
    let mut vars: std::collections::BTreeMap<String, String> = setup
        .vars_for(&node.kind)
        .into_iter()
        .filter(|(k, v)| global.get(k) != Some(v))
        .collect();
    if let Some(private) = &node.private_ip {
        if !private.is_empty() && !vars.contains_key("cluster_private_ip") {
            vars.insert("cluster_private_ip".into(), private.clone());
        }
    }
    Ok(Host {
        name: node.name.clone(),
        kind: node.kind.clone(),
        groups: groups.to_vec(),
        address,
        port,
        user: if node.image_user.is_empty() {
            login.image_user.clone()
        } else {
            node.image_user.clone()
        },
        private_key: login.user_key_private.clone(),
        jump: None,
        vars,
    })
}

/// Provider settings from the setup configuration and the login snapshot.
/// `verbosity` is the CLI's `-v` count.
pub fn ansible_settings(
    setup: &Setup,
    login: &LoginSnapshot,
    storage_dir: &Path,
    verbosity: u8,
) -> AnsibleSettings {
    AnsibleSettings {
        storage_dir: storage_dir.to_path_buf(),
        playbook_path: setup.playbook_path.clone(),
        bundled_playbook: setup.bundled_playbook.clone(),
        ansible_command: setup.ansible_command.clone(),
        ansible_extra_args: setup.ansible_extra_args.clone(),
        ansible_env: setup.ansible_env.clone(),
        sudo: login.image_sudo,
        sudo_user: Some(login.image_user_sudo.clone()),
        verbosity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn state() -> ClusterState {
        toml::from_str(
            r#"
schema_version = 1
name = "mycluster"
template = "slurm"
cloud = "mycloud"
[login]
image_user = "clusteruser"
user_key_private = "/k/id_rsa"
user_key_public = "/k/id_rsa.pub"
[[nodes]]
name = "frontend001"
kind = "frontend"
flavor = "Small"
image_id = "img"
image_user = "clusteruser"
preferred_ip = "127.0.0.1:1222"
private_ip = "10.0.0.4"
[[nodes]]
name = "compute001"
kind = "compute"
flavor = "Small"
image_id = "img"
image_user = "clusteruser"
preferred_ip = "127.0.0.1:1223"
[[nodes]]
name = "monitor001"
kind = "monitor"
flavor = "Small"
image_id = "img"
image_user = "clusteruser"
"#,
        )
        .unwrap()
    }

    fn setup() -> Setup {
        let m = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        Setup {
            provider: "ansible".into(),
            playbook_path: None,
            bundled_playbook: None,
            ansible_command: vec!["ansible-playbook".into()],
            ansible_extra_args: vec![],
            ansible_env: BTreeMap::new(),
            groups: [
                ("frontend".to_string(), vec!["slurm_master".to_string()]),
                ("compute".to_string(), vec!["slurm_workers".to_string()]),
            ]
            .into(),
            global_vars: m(&[("shared_home", "none"), ("x", "g")]),
            kind_vars: [("compute".to_string(), m(&[("x", "k")]))].into(),
        }
    }

    #[test]
    fn inventory_from_state_and_config() {
        let st = state();
        let inv = inventory_for(&st, &setup(), &st.login).unwrap();
        assert_eq!(inv.cluster_name, "mycluster");
        // monitor has no groups: left out (it also has no address, which is then fine)
        let names: Vec<&str> = inv.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["frontend001", "compute001"]);
        let f = &inv.hosts[0];
        assert_eq!((f.address.as_str(), f.port), ("127.0.0.1", 1222));
        assert_eq!(f.groups, ["slurm_master"]);
        assert_eq!(
            f.vars.get("cluster_private_ip").map(String::as_str),
            Some("10.0.0.4")
        );
        assert!(
            !f.vars.contains_key("x"),
            "global values stay in [all:vars]"
        );
        let c = &inv.hosts[1];
        assert_eq!(c.vars.get("x").map(String::as_str), Some("k"));
        assert_eq!(
            inv.vars.get("shared_home").map(String::as_str),
            Some("none")
        );
        assert_eq!(c.private_key, Path::new("/k/id_rsa"));
    }

    /// The check against the nodes' records is skipped only where it could find nothing
    /// but "never set up": a plain `setup` of a cluster set up before checks first.
    #[test]
    fn every_task_when_full_or_a_node_was_never_set_up() {
        let mut st = state();
        let inv = inventory_for(&st, &setup(), &st.login).unwrap();
        assert!(every_task(SetupScope::AllNodes, &st, &inv), "first setup");
        assert!(every_task(SetupScope::AllNodesEveryTask, &st, &inv));
        st.nodes[0].configured = true;
        assert!(
            every_task(SetupScope::AllNodes, &st, &inv),
            "compute001 new"
        );
        st.nodes[1].configured = true;
        assert!(
            !every_task(SetupScope::AllNodes, &st, &inv),
            "set up before"
        );
        assert!(every_task(SetupScope::AllNodesEveryTask, &st, &inv));
        assert!(!every_task(SetupScope::MembershipChange, &st, &inv));
    }

    #[test]
    fn node_without_address_is_a_clear_error() {
        let mut st = state();
        st.nodes[1].preferred_ip = None;
        let err = inventory_for(&st, &setup(), &st.login.clone())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("compute001") && err.contains("elasticluster setup mycluster"),
            "{err}"
        );
    }

    #[test]
    fn addresses() {
        assert_eq!(
            split_address("127.0.0.1:1222").unwrap(),
            ("127.0.0.1".into(), 1222)
        );
        assert_eq!(split_address("10.0.0.4").unwrap(), ("10.0.0.4".into(), 22));
        assert_eq!(
            split_address("[fe80::1]:2222").unwrap(),
            ("fe80::1".into(), 2222)
        );
        assert_eq!(split_address("fe80::1").unwrap(), ("fe80::1".into(), 22));
        assert!(split_address("host:port").is_err());
        assert!(split_address("").is_err());
    }
}
