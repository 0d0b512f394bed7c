//! `ssh` / `sftp`: the OpenSSH command line to a node (default: the frontend), with the
//! cluster's key and strict host-key checking against its known_hosts. The command line
//! runs it (it replaces the process).

use std::path::PathBuf;

use crate::cluster::state::{ClusterState, NodeRecord};
use crate::cluster::{OpsError, Workspace};
use crate::ssh::{split_address, ssh_command, SshTarget};

#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub cluster: String,
    /// `-n NODE` (default: the frontend, see `ssh_to`).
    pub node: Option<String>,
    /// `ssh` or `sftp`.
    pub program: String,
    /// Appended after the target (a command for ssh, options for sftp).
    pub extra: Vec<String>,
}

/// The node to connect to: `node` or the frontend.
pub(super) fn target<'a>(
    state: &'a ClusterState,
    node: Option<&str>,
) -> Result<&'a NodeRecord, OpsError> {
    match node {
        Some(n) => state.node(n).ok_or_else(|| {
            let names: Vec<&str> = state.nodes.iter().map(|n| n.name.as_str()).collect();
            OpsError::Failed(format!(
                "node `{n}` not found in cluster `{}` — its nodes are: {}",
                state.name,
                names.join(", ")
            ))
        }),
        None => state.frontend().map_err(OpsError::failed),
    }
}

/// The argv of `ssh`/`sftp` to the chosen node.
pub fn connect_command(ws: &Workspace, opts: &ConnectOptions) -> Result<Vec<String>, OpsError> {
    let (storage, state) = ws.peek(&opts.cluster)?;
    let node = target(&state, opts.node.as_deref())?;
    let Some((host, port)) = node
        .preferred_ip
        .as_deref()
        .and_then(|a| split_address(a).ok())
    else {
        return Err(OpsError::Failed(format!(
            "node `{}` of cluster `{}` has no known address — run `elasticluster list-nodes {} -u` to refresh it",
            node.name, state.name, state.name
        )));
    };
    let known_hosts: PathBuf = storage.known_hosts_path(&state.name);
    if !known_hosts.exists() {
        return Err(OpsError::Failed(format!(
            "{} is missing: without the recorded host keys the connection cannot be verified — re-run `elasticluster start {}` to record them",
            known_hosts.display(),
            state.template
        )));
    }
    let t = SshTarget {
        user: node.image_user.clone(),
        host,
        port,
        private_key: state.login.user_key_private.clone(),
        known_hosts,
        proxy_command: None,
    };
    Ok(ssh_command(&opts.program, &t, &opts.extra))
}
