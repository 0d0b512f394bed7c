//! `setup`: run the setup (Ansible) on a started cluster and check it is ready. What an
//! interrupted `resize` or `remove-node` left (nodes half removed or half added) is finished
//! first, so the setup sees the nodes the cluster really has.

use super::configure::configure;
use super::grow::complete_additions;
use super::shrink::finish_removals;
use crate::cluster::provision::SetupScope;
use crate::cluster::{OpsError, Workspace};
use crate::report::Reporter;

#[derive(Debug, Clone, Default)]
pub struct SetupOptions {
    pub cluster: String,
    /// Appended to the ansible-playbook command line.
    pub extra: Vec<String>,
    /// Report as JSON events on stdout.
    pub json_events: bool,
    /// Run every task on every node even when the playbooks find every node as its last
    /// complete setup left it.
    pub full: bool,
}

pub fn setup(ws: &Workspace, opts: SetupOptions) -> Result<(), OpsError> {
    let report = ws.reporter(opts.json_events).for_cluster(&opts.cluster);
    report.phase("setup", "running", None);
    let result = set_up(ws, &opts, &report);
    super::start::finish(&report, "setup", &result);
    result
}

fn set_up(ws: &Workspace, opts: &SetupOptions, report: &Reporter) -> Result<(), OpsError> {
    let locked = ws.lock(&opts.cluster)?;
    let template = ws.template(&locked.state.template)?;
    // Opening the cloud makes sure a sandbox cluster's emulator (its SSH forwarding) runs.
    let session = locked.open()?;
    finish_removals(&session, true, report)?;
    complete_additions(&session, &template, &ws.progress(), "Completing", report)?;
    report.print(&format!("Configuring cluster `{}`...", session.name()));
    configure(
        &session,
        &template,
        if opts.full {
            SetupScope::AllNodesEveryTask
        } else {
            SetupScope::AllNodes
        },
        &opts.extra,
        ws.verbosity,
        report,
    )
}
