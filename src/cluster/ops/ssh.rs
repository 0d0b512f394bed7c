//! `ssh` / `sftp`: the OpenSSH command line to a node (default: the frontend), with the
//! cluster's key and strict host-key checking against its known_hosts — through the node it
//! is reached through, if any. The command line runs it (it replaces the process).

use std::path::PathBuf;

use crate::cluster::state::{ClusterState, NodeRecord};
use crate::cluster::{OpsError, Workspace};
use crate::ssh::{proxy_command, split_address, ssh_command, SshTarget};

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
    let private_key = state.login.user_key_private.clone();
    let proxy = jump_host(&state, node)?.map(|j| proxy_command(&j, &private_key, &known_hosts));
    let t = SshTarget {
        user: node.image_user.clone(),
        host,
        port,
        private_key,
        known_hosts,
        proxy_command: proxy,
    };
    Ok(ssh_command(&opts.program, &t, &opts.extra))
}

/// The jump host of `node`, when it is reached through another node of the cluster.
pub(crate) fn jump_host(
    state: &ClusterState,
    node: &NodeRecord,
) -> Result<Option<crate::ssh::JumpHost>, OpsError> {
    let Some(via) = &node.via else {
        return Ok(None);
    };
    let hop = state
        .node(via)
        .and_then(|v| v.preferred_ip.as_deref().map(|a| (v, a)))
        .and_then(|(v, a)| split_address(a).ok().map(|(h, p)| (v, h, p)));
    match hop {
        Some((v, host, port)) => Ok(Some(crate::ssh::JumpHost {
            user: v.image_user.clone(),
            host,
            port,
        })),
        None => Err(OpsError::Failed(format!(
            "node `{}` of cluster `{}` is reached through `{via}`, whose address is not known — run `elasticluster list-nodes {} -u` to refresh it",
            node.name, state.name, state.name
        ))),
    }
}
