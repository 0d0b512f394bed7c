//! `elasticluster ssh NAME [-n NODE] [-- COMMAND...]`.

use super::{CliError, Context};
use crate::cluster::{ClusterState, NodeRecord};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Cluster to connect to.
    pub cluster: String,
    /// Node to connect to (default: the frontend, see `ssh_to`).
    #[arg(short = 'n', long = "node", value_name = "NODE")]
    pub node: Option<String>,
    /// Command (and arguments) to run instead of a login shell (after `--`).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<String>,
}

/// The node to connect to: `-n NODE` or the frontend.
pub(crate) fn target<'a>(
    state: &'a ClusterState,
    node: Option<&str>,
) -> Result<&'a NodeRecord, CliError> {
    match node {
        Some(n) => state.node(n).ok_or_else(|| {
            let names: Vec<&str> = state.nodes.iter().map(|n| n.name.as_str()).collect();
            CliError::Failed(format!(
                "node `{n}` not found in cluster `{}` — its nodes are: {}",
                state.name,
                names.join(", ")
            ))
        }),
        None => state
            .frontend()
            .map_err(|e| CliError::Failed(format!("{e}"))),
    }
}

/// Replace this process with `ssh`/`sftp` to the chosen node (strict host-key checking
/// against the cluster's known_hosts).
pub(crate) fn exec_to(
    ctx: &Context,
    program: &str,
    cluster: &str,
    node: Option<&str>,
    extra: &[String],
) -> Result<(), CliError> {
    use std::os::unix::process::CommandExt;
    let storage = ctx.storage()?;
    let mut state = ctx.cluster(&storage, cluster)?;
    // A sandbox cluster's endpoints are forwarded by its emulator: make sure it runs. (The
    // stored URL is refreshed by commands that hold the cluster lock; ssh does not need it.)
    crate::sandbox::ensure_for_state(&mut state, &mut |l| eprintln!("sandbox: {l}"))
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let node = target(&state, node)?;
    let Some((host, port)) = node
        .preferred_ip
        .as_deref()
        .and_then(|a| crate::ssh::split_address(a).ok())
    else {
        return Err(CliError::Failed(format!(
            "node `{}` of cluster `{}` has no known address — run `elasticluster list-nodes {} -u` to refresh it",
            node.name, state.name, state.name
        )));
    };
    let kh = storage.known_hosts_path(&state.name);
    if !kh.exists() {
        return Err(CliError::Failed(format!(
            "{} is missing: without the recorded host keys the connection cannot be verified — re-run `elasticluster start {}` to record them",
            kh.display(),
            state.template
        )));
    }
    let t = crate::ssh::SshTarget {
        user: node.image_user.clone(),
        host,
        port,
        private_key: state.login.user_key_private.clone(),
        known_hosts: kh,
        proxy_command: None,
    };
    let argv = crate::ssh::ssh_command(program, &t, extra);
    let err = std::process::Command::new(&argv[0]).args(&argv[1..]).exec();
    Err(CliError::Failed(format!(
        "cannot run `{program}`: {err} — install the OpenSSH client"
    )))
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    exec_to(ctx, "ssh", &args.cluster, args.node.as_deref(), &args.args)
}
