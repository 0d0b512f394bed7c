//! `resize`: remove the last nodes of some kinds and/or add nodes (settings from the
//! template), then set the cluster up again.

use super::grow::create_nodes;
use super::start::finish;
use super::{ask, Confirm};
use crate::cluster::nodes::forget_host_key;
use crate::cluster::provision::setup_and_report;
use crate::cluster::state::{parse_node_counts, NodeRecord, NodeStatus};
use crate::cluster::{OpsError, Workspace};
use crate::naming::NodeNamer;
use crate::report::Reporter;

#[derive(Debug, Clone, Default)]
pub struct ResizeOptions {
    pub cluster: String,
    /// `-a N:KIND[,N:KIND...]`.
    pub add: Option<String>,
    /// `-r N:KIND[,N:KIND...]`.
    pub remove: Option<String>,
    /// Template for new nodes' settings (default: the cluster's).
    pub template: Option<String>,
    pub no_setup: bool,
    /// Report as JSON events on stdout.
    pub json_events: bool,
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
    let tname = opts
        .template
        .clone()
        .unwrap_or_else(|| locked.state.template.clone());
    let template = ws.template(&tname)?;
    for (kind, n) in &remove {
        let have = locked.state.nodes_of(kind).count();
        if *n as usize > have {
            return Err(OpsError::Failed(format!(
                "cannot remove {n} {kind} nodes from cluster `{name}`: it has {have}"
            )));
        }
    }
    for (kind, _) in &add {
        if !template.kinds.contains_key(kind) {
            return Err(OpsError::Usage(format!(
                "--add: template `{tname}` has no `{kind}` nodes to copy settings from (give `{kind}_nodes` there, or -t TEMPLATE)"
            )));
        }
    }
    // The last nodes of each kind go.
    let mut doomed: Vec<NodeRecord> = Vec::new();
    for (kind, n) in &remove {
        let of_kind: Vec<_> = locked.state.nodes_of(kind).cloned().collect();
        doomed.extend(of_kind.into_iter().rev().take(*n as usize));
    }
    if !doomed.is_empty() {
        let names: Vec<&str> = doomed.iter().map(|n| n.name.as_str()).collect();
        ask(
            confirm,
            &format!(
                "Do you really want to delete nodes {} of cluster `{name}`?",
                names.join(", ")
            ),
            &format!("resize would delete nodes {}", names.join(", ")),
            "nothing was changed",
        )?;
    }
    let session = locked.open()?;
    if !doomed.is_empty() {
        let names: Vec<String> = doomed.iter().map(|n| n.name.clone()).collect();
        session
            .block_on(session.provider.delete_nodes(&names, session.ledger()))
            .map_err(OpsError::cloud(&name))?;
        session.update(|s| s.nodes.retain(|n| !names.contains(&n.name)))?;
        for n in &doomed {
            forget_host_key(&session.known_hosts(), n.preferred_ip.as_deref());
            report.node("node", &n.name, "deleted", None);
        }
        report.say(&format!(
            "Removed nodes {} of cluster `{name}`.",
            names.join(", ")
        ));
    }
    if !add.is_empty() {
        session.update(|s| {
            let mut namer = NodeNamer::with_used(s.nodes.iter().map(|n| n.name.as_str()));
            let image_user = s.login.image_user.clone();
            for (kind, n) in &add {
                let Some(k) = template.kinds.get(kind) else {
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
                        via: None,
                    });
                }
            }
        })?;
        create_nodes(&session, &template, &ws.progress(), "Resizing", report)?;
    }
    let st = session.state();
    if opts.no_setup {
        report.print(&st.nodes_listing());
        return Ok(());
    }
    report.print(&format!(
        "Configuring the cluster `{name}` (this too may take a while...)"
    ));
    setup_and_report(&st, &template, &session.storage, &[], ws.verbosity, report)
}
