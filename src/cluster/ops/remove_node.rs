//! `remove-node`: drain one node (waiting for its jobs, or killing them with `--force`),
//! delete its VM, forget it, then reconfigure the remaining nodes.

use std::time::Duration;

use super::configure::configure;
use super::drain::{DrainPolicy, DEFAULT_DRAIN_TIMEOUT};
use super::grow::complete_additions;
use super::shrink::{finish_removals, remove_nodes};
use super::{ask, Confirm};
use crate::cluster::provision::SetupScope;
use crate::cluster::{OpsError, Workspace};
use crate::report::Reporter;

#[derive(Debug, Clone)]
pub struct RemoveNodeOptions {
    pub cluster: String,
    pub node: String,
    pub no_setup: bool,
    /// How long to wait for the node's jobs (`--drain-timeout`).
    pub drain_timeout: Duration,
    /// Kill the node's jobs instead of waiting; remove it even when the scheduler cannot
    /// be asked about it.
    pub force: bool,
    /// Report as JSON events on stdout.
    pub json_events: bool,
}

impl Default for RemoveNodeOptions {
    fn default() -> Self {
        RemoveNodeOptions {
            cluster: String::new(),
            node: String::new(),
            no_setup: false,
            drain_timeout: Duration::from_secs(DEFAULT_DRAIN_TIMEOUT),
            force: false,
            json_events: false,
        }
    }
}

pub fn remove_node(
    ws: &Workspace,
    opts: RemoveNodeOptions,
    confirm: Confirm<'_>,
) -> Result<(), OpsError> {
    let report = ws.reporter(opts.json_events).for_cluster(&opts.cluster);
    report.phase("remove_node", "running", None);
    let result = remove(ws, &opts, confirm, &report);
    super::start::finish(&report, "remove_node", &result);
    result
}

fn remove(
    ws: &Workspace,
    opts: &RemoveNodeOptions,
    confirm: Confirm<'_>,
    report: &Reporter,
) -> Result<(), OpsError> {
    let locked = ws.lock(&opts.cluster)?;
    let name = locked.name().to_string();
    let node = super::ssh::target(&locked.state, Some(&opts.node))?.clone();
    let template = ws.template(&locked.state.template)?;
    ask(
        confirm,
        &format!(
            "Do you really want to remove node `{}` of cluster `{name}` and delete its VM?",
            node.name
        ),
        &format!("remove-node deletes the VM of node `{}`", node.name),
        "nothing was deleted",
    )?;
    let session = locked.open()?;
    // A removal of this very node that an earlier command got past the drain is finished
    // here; it needs no second drain.
    let finished = finish_removals(&session, true, report)?;
    if !finished.contains(&node.name) {
        let policy = DrainPolicy {
            timeout: opts.drain_timeout,
            force: opts.force,
        };
        remove_nodes(
            &session,
            &template.setup,
            std::slice::from_ref(&node),
            policy,
            report,
        )?;
    }
    report.say(&format!(
        "Node `{}` of cluster `{name}` removed.",
        node.name
    ));
    if opts.no_setup {
        report.say(&format!(
            "Not reconfiguring (--no-setup): the scheduler may list `{}` until `elasticluster setup {name}`.",
            node.name
        ));
        return Ok(());
    }
    complete_additions(&session, &template, &ws.progress(), "Completing", report)?;
    report.print(&format!("Reconfiguring the cluster `{name}`..."));
    configure(
        &session,
        &template,
        SetupScope::MembershipChange,
        &[],
        ws.verbosity,
        report,
    )
}
