//! `setup`: run the setup (Ansible) on a started cluster and check it is ready.

use crate::cluster::provision::setup_and_report;
use crate::cluster::{OpsError, Workspace};

#[derive(Debug, Clone, Default)]
pub struct SetupOptions {
    pub cluster: String,
    /// Appended to the ansible-playbook command line.
    pub extra: Vec<String>,
}

pub fn setup(ws: &Workspace, opts: SetupOptions) -> Result<(), OpsError> {
    let locked = ws.lock(&opts.cluster)?;
    let template = ws.template(&locked.state.template)?;
    // Opening the cloud makes sure a sandbox cluster's emulator (its SSH forwarding) runs.
    let session = locked.open()?;
    let state = session.state();
    println!("Configuring cluster `{}`...", state.name);
    setup_and_report(
        &state,
        &template,
        &session.storage,
        &opts.extra,
        ws.verbosity,
    )
}
