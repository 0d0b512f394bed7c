//! Listing: the stored clusters, the templates of the configuration, and one cluster's
//! nodes (optionally refreshed from the cloud first).

use crate::cluster::nodes::apply_node_infos;
use crate::cluster::state::{ClusterState, NodeStatus};
use crate::cluster::{OpsError, Workspace};
use crate::providers::Registry;

#[derive(Debug, Clone, Default)]
pub struct ListNodesOptions {
    pub cluster: String,
    /// One-line JSON.
    pub json: bool,
    /// Indented JSON.
    pub pretty_json: bool,
    /// Ask the cloud first.
    pub update: bool,
}

/// `list`: the clusters in the storage directory.
pub fn list(ws: &Workspace) -> Result<(), OpsError> {
    let storage = ws.storage()?;
    let names = storage.list()?;
    if names.is_empty() {
        println!("No clusters found.");
        return Ok(());
    }
    println!();
    println!("The following clusters have been started.");
    println!("Please note that there's no guarantee that they are fully configured:");
    let mut failed = 0;
    for name in names {
        match storage.load::<ClusterState>(&name) {
            Ok(Some(state)) => {
                println!();
                println!("{}", state.name);
                println!("{}", "-".repeat(state.name.chars().count()));
                println!("  name:           {}", state.name);
                if state.name != state.template {
                    println!("  template:       {}", state.template);
                }
                for k in state.kinds() {
                    println!("  - {k} nodes: {}", state.nodes_of(k).count());
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!("{e}");
                failed += 1;
            }
        }
    }
    println!();
    if failed > 0 {
        return Err(OpsError::Failed(format!(
            "{failed} cluster state file(s) could not be read (see above)"
        )));
    }
    Ok(())
}

/// `list-templates`: the templates matching any of `patterns` (shell globs), each validated.
pub fn list_templates(ws: &Workspace, patterns_given: &[String]) -> Result<(), OpsError> {
    let config = ws.config()?;
    let mut patterns = Vec::new();
    for p in patterns_given {
        patterns.push(
            glob::Pattern::new(p)
                .map_err(|e| OpsError::Usage(format!("pattern `{p}` is not a valid glob: {e}")))?,
        );
    }
    let names = config.template_names();
    let matching: Vec<&String> = names
        .iter()
        .filter(|n| patterns.is_empty() || patterns.iter().any(|p| p.matches(n)))
        .collect();
    let mut good = Vec::new();
    let mut broken = Vec::new();
    for name in matching {
        match config.template(name, &Registry) {
            Ok(t) => good.push(t),
            Err(d) => broken.push((name.clone(), d)),
        }
    }
    // Templates not matching the patterns are only counted (validating them logs their
    // deprecation warnings; keep that quiet).
    let unmatched_valid = names
        .iter()
        .filter(|n| !patterns.is_empty() && !patterns.iter().any(|p| p.matches(n)))
        .filter(|n| config.template(n, &Registry).is_ok())
        .count();
    let valid_total = good.len() + unmatched_valid;
    println!("{valid_total} cluster templates found in configuration file.");
    if !patterns.is_empty() {
        println!(
            "{} cluster templates found matching pattern(s) '{}'",
            good.len(),
            patterns_given.join(", ")
        );
    }
    for t in &good {
        println!();
        println!("name:     {}", t.name);
        for (kind, k) in t.kinds_in_order() {
            println!("{kind} nodes: {}", k.count);
        }
    }
    if broken.is_empty() {
        return Ok(());
    }
    let mut msg = String::new();
    for (i, (name, d)) in broken.iter().enumerate() {
        if i > 0 {
            msg.push('\n');
        }
        msg.push_str(&format!("template `{name}` is not usable:\n{d}"));
    }
    Err(OpsError::Failed(msg))
}

/// `list-nodes`: a cluster's nodes as text or JSON (the shape in README.rst).
pub fn list_nodes(ws: &Workspace, opts: ListNodesOptions) -> Result<(), OpsError> {
    let state = if opts.update {
        refresh(ws, &opts.cluster)?
    } else {
        ws.load(&ws.storage()?, &opts.cluster)?
    };
    let view = state.view();
    let json = if opts.pretty_json {
        Some(serde_json::to_string_pretty(&view))
    } else if opts.json {
        Some(serde_json::to_string(&view))
    } else {
        None
    };
    match json {
        Some(j) => println!(
            "{}",
            j.map_err(|e| OpsError::Failed(format!("cannot encode JSON: {e}")))?
        ),
        None => print!("{}", state.nodes_listing()),
    }
    Ok(())
}

/// Ask the cloud for every node's status and addresses and store them.
fn refresh(ws: &Workspace, name: &str) -> Result<ClusterState, OpsError> {
    let locked = ws.lock(name)?;
    if locked.state.provider.is_empty() {
        return Ok(locked.state);
    }
    let reachable: std::collections::BTreeSet<String> = locked
        .state
        .nodes
        .iter()
        .filter(|n| n.status == NodeStatus::Reachable)
        .map(|n| n.name.clone())
        .collect();
    let session = locked.open()?;
    let infos = session
        .block_on(session.provider.nodes(session.ledger()))
        .map_err(OpsError::cloud(name))?;
    session.update(|s| apply_node_infos(s, &infos, &reachable))?;
    Ok(session.state())
}
