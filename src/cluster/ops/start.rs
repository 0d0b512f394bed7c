//! `start`: make (or resume) a cluster from a template, check before creating anything,
//! bring its nodes up, set it up. `--dry-run` stops after the checks and prints them.
//!
//! A new cluster's state is saved only once every check passed; an existing one first
//! follows the configuration (`follow`). Nothing is created when a resource under the
//! cluster's names belongs to another cluster.

use super::checks::{check_all, print_dry_run, refuse_dry_run, refuse_problems};
use super::configure::configure;
use super::follow::follow_config;
use super::grow::create_nodes;
use super::shrink::finish_removals;
use crate::cluster::provision::SetupScope;
use crate::cluster::state::{parse_node_counts, ClusterState};
use crate::cluster::{OpsError, Workspace};
use crate::report::Reporter;
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
    /// Check and print what would be done; create and save nothing.
    pub dry_run: bool,
    /// Report as JSON events on stdout.
    pub json_events: bool,
}

pub fn start(ws: &Workspace, opts: StartOptions) -> Result<(), OpsError> {
    let shown_name = opts.name.as_deref().unwrap_or(&opts.template);
    let report = ws.reporter(opts.json_events).for_cluster(shown_name);
    report.phase("start", "running", None);
    let result = start_checked(ws, &opts, &report);
    finish(&report, "start", &result);
    result
}

fn start_checked(ws: &Workspace, opts: &StartOptions, report: &Reporter) -> Result<(), OpsError> {
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
    let mut notes = Vec::new();
    let make = |existing: Option<ClusterState>| {
        match existing {
        Some(existing) if existing.template != template.name => Err(OpsError::Failed(format!(
            "cluster `{name}` already exists and was started from template `{}` — pick another name with -n NAME",
            existing.template
        ))),
        Some(mut existing) => {
            notes = follow_config(&mut existing, &template)?.notes;
            Ok(existing)
        }
        None => Ok(ClusterState::plan(&name, &template)),
    }
    };
    let locked = if opts.dry_run {
        ws.dry(&name, make)?
    } else {
        ws.lock_or_plan(&name, make)?
    };
    let resuming = !locked.state.resources.is_empty();
    let session = locked.open()?;
    let pf = check_all(&session, &template, opts.no_setup)?;
    if opts.dry_run {
        for n in &notes {
            report.say(n);
        }
        print_dry_run(report, &name, &template.name, &pf);
        return refuse_dry_run(&name, &pf);
    }
    refuse_problems(&name, &pf)?;
    if resuming {
        report.say(&format!(
            "Resuming cluster `{name}`: creating only what is missing."
        ));
    }
    for n in &notes {
        report.say(n);
    }
    // Every check passed: from here on the state is on disk before the cloud is asked.
    session.update(|_| {})?;
    bring_up_and_set_up(ws, &session, &template, opts, report)
}

fn bring_up_and_set_up(
    ws: &Workspace,
    session: &crate::cluster::Session,
    template: &crate::config::ClusterTemplate,
    opts: &StartOptions,
    report: &Reporter,
) -> Result<(), OpsError> {
    let name = session.name();
    finish_removals(session, true, report)?;
    let out = create_nodes(session, template, &ws.progress(), "Starting", report)?;
    let st = session.state();
    report.say(&format!(
        "Cluster `{name}` has {} nodes up.",
        out.ready.len()
    ));
    if opts.no_setup {
        report.print(&st.nodes_listing());
        return Ok(());
    }
    report.print(&format!(
        "Configuring the cluster `{name}` (this too may take a while...)"
    ));
    configure(
        session,
        template,
        SetupScope::AllNodes,
        &[],
        ws.verbosity,
        report,
    )
}

/// The operation's last event: `ok`, or `failed` with the error.
pub(super) fn finish(report: &Reporter, event: &str, result: &Result<(), OpsError>) {
    match result {
        Ok(()) => report.phase(event, "ok", None),
        Err(e) => report.phase(event, "failed", Some(&e.to_string())),
    }
}
