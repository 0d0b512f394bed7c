//! `resize`: remove nodes of some kinds (idle ones first, drained before their VMs go)
//! and/or add nodes (settings from the template), then reconfigure: new nodes get the whole
//! setup, the nodes already set up only what depends on the list of nodes.

use std::time::Duration;

use super::configure::configure;
use super::drain::{removal_order, DrainPolicy, DEFAULT_DRAIN_TIMEOUT};
use super::grow::complete_additions;
use super::shrink::{finish_removals, remove_nodes};
use super::start::finish;
use super::{ask, Confirm};
use crate::cluster::provision::SetupScope;
use crate::cluster::state::{parse_node_counts, NodeRecord, NodeStatus};
use crate::cluster::{OpsError, Workspace};
use crate::report::Reporter;

#[derive(Debug, Clone)]
pub struct ResizeOptions {
    pub cluster: String,
    /// `-a N:KIND[,N:KIND...]`.
    pub add: Option<String>,
    /// `-r N:KIND[,N:KIND...]`.
    pub remove: Option<String>,
    /// Template for new nodes' settings (default: the cluster's).
    pub template: Option<String>,
    pub no_setup: bool,
    /// How long to wait for the jobs of leaving nodes (`--drain-timeout`).
    pub drain_timeout: Duration,
    /// Kill the jobs of leaving nodes instead of waiting; remove nodes the scheduler cannot
    /// be asked about.
    pub force: bool,
    /// Report as JSON events on stdout.
    pub json_events: bool,
}

impl Default for ResizeOptions {
    fn default() -> Self {
        ResizeOptions {
            cluster: String::new(),
            add: None,
            remove: None,
            template: None,
            no_setup: false,
            drain_timeout: Duration::from_secs(DEFAULT_DRAIN_TIMEOUT),
            force: false,
            json_events: false,
        }
    }
}

fn counts(flag: &str, spec: &Option<String>) -> Result<Vec<(String, u32)>, OpsError> {
    match spec {
        Some(s) => parse_node_counts(s).map_err(|e| OpsError::Usage(format!("{flag}: {e}"))),
        None => Ok(Vec::new()),
    }
}

pub fn resize(ws: &Workspace, opts: ResizeOptions, confirm: Confirm<'_>) -> Result<(), OpsError> {
    let report = ws.reporter(opts.json_events).for_cluster(&opts.cluster);
    report.phase("resize", "running", None);
    let result = resize_cluster(ws, &opts, confirm, &report);
    finish(&report, "resize", &result);
    result
}

fn resize_cluster(
    ws: &Workspace,
    opts: &ResizeOptions,
    confirm: Confirm<'_>,
    report: &Reporter,
) -> Result<(), OpsError> {
    let add = counts("--add", &opts.add)?;
    let remove = counts("--remove", &opts.remove)?;
    if add.is_empty() && remove.is_empty() {
        return Err(OpsError::Usage(
            "nothing to do — give -a N:KIND and/or -r N:KIND".into(),
        ));
    }
    let locked = ws.lock(&opts.cluster)?;
    let name = locked.name().to_string();
    // The cluster's own template sets it up; -t only gives new nodes their settings.
    let own = ws.template(&locked.state.template)?;
    let tname = opts
        .template
        .clone()
        .unwrap_or_else(|| locked.state.template.clone());
    let source = if tname == own.name {
        own.clone()
    } else {
        ws.template(&tname)?
    };
    let staying = |kind: &str| -> Vec<NodeRecord> {
        locked
            .state
            .nodes_of(kind)
            .filter(|n| n.status != NodeStatus::Deleting)
            .cloned()
            .collect()
    };
    for (kind, n) in &remove {
        let have = staying(kind).len();
        if *n as usize > have {
            return Err(OpsError::Failed(format!(
                "cannot remove {n} {kind} nodes from cluster `{name}`: it has {have}"
            )));
        }
    }
    for (kind, _) in &add {
        if !source.kinds.contains_key(kind) {
            return Err(OpsError::Usage(format!(
                "--add: template `{tname}` has no `{kind}` nodes to copy settings from (give `{kind}_nodes` there, or -t TEMPLATE)"
            )));
        }
    }
    let session = locked.open()?;
    finish_removals(&session, true, report)?;
    // Idle nodes leave first (the scheduler is asked); without a scheduler, the last ones.
    let st = session.state();
    let mut leaving: Vec<NodeRecord> = Vec::new();
    for (kind, n) in &remove {
        let candidates: Vec<NodeRecord> = st
            .nodes_of(kind)
            .filter(|n| n.status != NodeStatus::Deleting)
            .cloned()
            .collect();
        let ordered = removal_order(&st, &own.setup, &session.known_hosts(), &candidates);
        leaving.extend(ordered.into_iter().take(*n as usize));
    }
    if !leaving.is_empty() {
        let names: Vec<&str> = leaving.iter().map(|n| n.name.as_str()).collect();
        ask(
            confirm,
            &format!(
                "Do you really want to delete nodes {} of cluster `{name}`?",
                names.join(", ")
            ),
            &format!("resize would delete nodes {}", names.join(", ")),
            "nothing was changed",
        )?;
        let policy = DrainPolicy {
            timeout: opts.drain_timeout,
            force: opts.force,
        };
        remove_nodes(&session, &own.setup, &leaving, policy, report)?;
        report.say(&format!(
            "Removed nodes {} of cluster `{name}`.",
            names.join(", ")
        ));
    }
    if !add.is_empty() {
        session.update(|s| {
            // Never the name of a node that left: schedulers and caches remember names.
            let mut namer = s.namer();
            let image_user = s.login.image_user.clone();
            for (kind, n) in &add {
                let Some(k) = source.kinds.get(kind) else {
                    continue;
                };
                for _ in 0..*n {
                    s.nodes.push(NodeRecord {
                        name: namer.next(kind),
                        kind: kind.clone(),
                        instance_id: None,
                        flavor: k.flavor.clone(),
                        image_id: k.image_id.clone(),
                        image_user: image_user.clone(),
                        security_group: k.security_group.clone(),
                        image_userdata: k.image_userdata.clone(),
                        status: NodeStatus::Planned,
                        preferred_ip: None,
                        ips: Vec::new(),
                        private_ip: None,
                        configured: false,
                        via: None,
                    });
                }
            }
        })?;
    }
    // New nodes, and any an interrupted command left half made.
    complete_additions(&session, &own, &ws.progress(), "Resizing", report)?;
    let st = session.state();
    if opts.no_setup {
        report.print(&st.nodes_listing());
        return Ok(());
    }
    report.print(&format!(
        "Configuring the cluster `{name}` (this too may take a while...)"
    ));
    configure(
        &session,
        &own,
        SetupScope::MembershipChange,
        &[],
        ws.verbosity,
        report,
    )
}
