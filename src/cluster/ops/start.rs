//! `start`: make (or resume) a cluster from a template, bring its nodes up, set it up.

use super::configure::configure;
use super::grow::create_nodes;
use super::shrink::finish_removals;
use crate::cluster::provision::SetupScope;
use crate::cluster::state::{parse_node_counts, ClusterState};
use crate::cluster::{OpsError, Workspace};
use crate::storage::validate_cluster_name;

#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// `[cluster/TEMPLATE]` to start.
    pub template: String,
    /// Cluster name (default: the template name).
    pub name: Option<String>,
    /// `--nodes N:KIND[,N:KIND...]` overrides.
    pub nodes: Option<String>,
    /// Only start the VMs.
    pub no_setup: bool,
}

pub fn start(ws: &Workspace, opts: StartOptions) -> Result<(), OpsError> {
    let mut template = ws.template(&opts.template)?;
    if let Some(spec) = &opts.nodes {
        let counts =
            parse_node_counts(spec).map_err(|e| OpsError::Usage(format!("--nodes: {e}")))?;
        template
            .override_counts(&counts)
            .map_err(|e| OpsError::Usage(format!("--nodes: {e}")))?;
    }
    let name = opts.name.clone().unwrap_or_else(|| template.name.clone());
    validate_cluster_name(&name)?;
    let locked = ws.lock_or_create(&name, |existing| match existing {
        Some(existing) if existing.template != template.name => Err(OpsError::Failed(format!(
            "cluster `{name}` already exists and was started from template `{}` — pick another name with -n NAME",
            existing.template
        ))),
        Some(existing) => {
            eprintln!("Resuming cluster `{name}`: creating only what is missing.");
            Ok(existing)
        }
        None => Ok(ClusterState::plan(&name, &template)),
    })?;
    let session = locked.open()?;
    finish_removals(&session, true)?;
    let out = create_nodes(&session, &template, &ws.progress(), "Starting")?;
    let st = session.state();
    eprintln!("Cluster `{name}` has {} nodes up.", out.ready.len());
    if opts.no_setup {
        println!("{}", st.nodes_listing());
        return Ok(());
    }
    println!("Configuring the cluster `{name}` (this too may take a while...)");
    configure(&session, &template, SetupScope::AllNodes, &[], ws.verbosity)
}
