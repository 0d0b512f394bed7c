//! `setup`: run the setup (Ansible) on a started cluster and check it is ready.

use crate::cluster::provision::setup_and_report;
use crate::cluster::{OpsError, Workspace};
use crate::report::Reporter;

#[derive(Debug, Clone, Default)]
pub struct SetupOptions {
    pub cluster: String,
    /// Appended to the ansible-playbook command line.
    pub extra: Vec<String>,
    /// Report as JSON events on stdout.
    pub json_events: bool,
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
    let state = session.state();
    report.print(&format!("Configuring cluster `{}`...", state.name));
    setup_and_report(
        &state,
        &template,
        &session.storage,
        &opts.extra,
        ws.verbosity,
        report,
    )
}
