//! `start` of an existing cluster: its plan follows the current template. What never
//! reached the cloud is planned again from the configuration (a fixed image, size, count or
//! location takes effect); what exists and differs is listed with the way out (`stop`,
//! `resize`, `remove-node`), and then nothing is changed. A value the user has since
//! changed is never silently reused.
//!
//! Works on the state in memory; the caller saves it (or not, for a dry run).

use std::collections::BTreeSet;

use crate::cluster::ledger::resources_of;
use crate::cluster::state::{ClusterState, LoginSnapshot, NodeRecord, NodeStatus};
use crate::cluster::OpsError;
use crate::config::{shown, ClusterTemplate};
use crate::providers;

/// What following the configuration changed (for the user).
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Followed {
    /// Lines saying what was planned again.
    pub notes: Vec<String>,
}

/// Make `state` follow `template`; `Err` (nothing changed) listing every existing thing that
/// differs from the configuration.
pub(super) fn follow_config(
    state: &mut ClusterState,
    template: &ClusterTemplate,
) -> Result<Followed, OpsError> {
    let name = state.name.clone();
    let resources = resources_of(state);
    let existing: Vec<providers::Resource> = resources
        .iter()
        .filter(|r| r.may_exist())
        .cloned()
        .collect();
    let touched: BTreeSet<String> = existing
        .iter()
        .filter_map(|r| r.node().map(str::to_string))
        .collect();
    let mut conflicts = Vec::new();
    let mut notes = Vec::new();

    let settings = providers::follow_config(&state.provider, &template.cloud, &existing)
        .map_err(OpsError::cloud(&name))?;
    for c in &settings.conflicts {
        conflicts.push(format!(
            "`{}`: the cluster's cloud resources have {}, the configuration now says {} — stop the cluster (`elasticluster stop {name}`) and start it again to use the new value",
            c.key,
            shown(&c.stored),
            shown(&c.configured)
        ));
    }

    let login = &template.login;
    let kept: Vec<&NodeRecord> = state
        .nodes
        .iter()
        .filter(|n| touched.contains(&n.name))
        .collect();
    if !kept.is_empty() {
        let old = &state.login;
        for (key, was, now) in [
            (
                "image_user",
                old.image_user.clone(),
                login.image_user.clone(),
            ),
            (
                "user_key_private",
                old.user_key_private.display().to_string(),
                login.user_key_private.display().to_string(),
            ),
            (
                "user_key_public",
                old.user_key_public.display().to_string(),
                login.user_key_public.display().to_string(),
            ),
        ] {
            if was != now {
                conflicts.push(format!(
                    "`{key}`: the cluster's nodes were made with {}, the configuration now says {} — stop the cluster (`elasticluster stop {name}`) and start it again to use the new value",
                    shown(&was),
                    shown(&now)
                ));
            }
        }
    }
    for n in &kept {
        match template.kinds.get(&n.kind) {
            None => conflicts.push(format!(
                "node `{}` exists but template `{}` has no `{}` nodes any more — remove it with `elasticluster remove-node {name} {}`, or stop the cluster",
                n.name, template.name, n.kind, n.name
            )),
            Some(k) => {
                for (key, was, now) in [
                    ("image_id", &n.image_id, &k.image_id),
                    ("flavor", &n.flavor, &k.flavor),
                ] {
                    if was != now {
                        conflicts.push(format!(
                            "node `{}` exists with {key} {}, the configuration now says {} — remove it with `elasticluster remove-node {name} {}` (the next start makes it again from the configuration), or stop the cluster",
                            n.name,
                            shown(was),
                            shown(now),
                            n.name
                        ));
                    }
                }
            }
        }
    }
    // A node an interrupted removal left `deleting` is going: the next step deletes it
    // (`finish_removals`), so it does not count, and a replacement is planned if needed.
    for (kind, k) in template.kinds_in_order() {
        let have = kept
            .iter()
            .filter(|n| n.status != NodeStatus::Deleting && n.kind == kind)
            .count();
        if have > k.count as usize {
            conflicts.push(format!(
                "{have} `{kind}` nodes exist, the configuration now asks for {} — remove {} with `elasticluster resize {name} -r {}:{kind}`, or stop the cluster",
                k.count,
                have - k.count as usize,
                have - k.count as usize
            ));
        }
    }
    if !conflicts.is_empty() {
        let sep = if conflicts.len() == 1 { " " } else { "\n  " };
        let msg = format!(
            "cluster `{name}` exists and differs from template `{}` where it cannot follow (nothing was changed):{sep}{}",
            template.name,
            conflicts.join("\n  ")
        );
        return Err(OpsError::Failed(msg));
    }

    // Everything may follow: replan what never reached the cloud.
    let before: Vec<String> = state.nodes.iter().map(|n| n.name.clone()).collect();
    let kept: Vec<NodeRecord> = state
        .nodes
        .iter()
        .filter(|n| touched.contains(&n.name))
        .cloned()
        .collect();
    // Never the name of a node that left the cluster (see `ClusterState::retire`).
    let mut namer = state.namer_besides(kept.iter().map(|n| n.name.as_str()));
    let mut nodes = kept.clone();
    for (kind, k) in template.kinds_in_order() {
        let have = kept
            .iter()
            .filter(|n| n.status != NodeStatus::Deleting && n.kind == kind)
            .count();
        for _ in have..k.count as usize {
            nodes.push(NodeRecord {
                name: namer.next(kind),
                kind: kind.to_string(),
                instance_id: None,
                flavor: k.flavor.clone(),
                image_id: k.image_id.clone(),
                image_user: login.image_user.clone(),
                security_group: k.security_group.clone(),
                image_userdata: k.image_userdata.clone(),
                status: NodeStatus::Planned,
                preferred_ip: None,
                ips: Vec::new(),
                private_ip: None,
                via: None,
                configured: false,
            });
        }
    }
    let replanned = nodes.iter().filter(|n| !touched.contains(&n.name)).count();
    let dropped = before.len() - kept.len();
    if dropped > 0 || replanned > 0 {
        notes.push(format!(
            "{replanned} nodes planned again from the configuration ({} exist already; {dropped} planned before never reached the cloud).",
            kept.len()
        ));
    }
    if existing.is_empty() {
        state.resources.clear();
    } else {
        state.resources.retain(|r| {
            let node = r.attrs.get(providers::ATTR_NODE);
            node.is_none_or(|n| touched.contains(n))
        });
    }
    state.nodes = nodes;
    state.provider = settings.settings;
    state.login = LoginSnapshot {
        image_user: login.image_user.clone(),
        image_user_sudo: login.image_user_sudo.clone(),
        image_sudo: login.image_sudo,
        user_key_name: login.user_key_name.clone(),
        user_key_private: login.user_key_private.clone(),
        user_key_public: login.user_key_public.clone(),
    };
    state.ssh_to = template.ssh_to.clone();
    state.setup = template.setup_name.clone();
    state.cloud = template.cloud_name.clone();
    state.config_file = Some(template.source.clone());
    Ok(Followed { notes })
}
