//! `remove-node`: delete one node's VM and forget it (and its host key).

use super::{ask, Confirm};
use crate::cluster::nodes::forget_host_key;
use crate::cluster::{OpsError, Workspace};
use crate::report::Reporter;

#[derive(Debug, Clone, Default)]
pub struct RemoveNodeOptions {
    pub cluster: String,
    pub node: String,
    pub no_setup: bool,
    /// Report as JSON events on stdout.
    pub json_events: bool,
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
    session
        .block_on(
            session
                .provider
                .delete_nodes(std::slice::from_ref(&node.name), session.ledger()),
        )
        .map_err(|e| OpsError::Failed(format!("cluster `{name}`: node `{}`: {e}", node.name)))?;
    session.update(|s| s.nodes.retain(|n| n.name != node.name))?;
    forget_host_key(&session.known_hosts(), node.preferred_ip.as_deref());
    report.node("node", &node.name, "deleted", None);
    report.say(&format!(
        "Node `{}` of cluster `{name}` removed.",
        node.name
    ));
    if !opts.no_setup {
        report.say(&format!(
            "Run `elasticluster setup {name}` to reconfigure the remaining nodes."
        ));
    }
    Ok(())
}
