//! A cluster's persistent state: its nodes, the ledger of cloud resources it created (or is
//! about to create), the cloud's stored settings, and the config snapshot needed to act
//! without the config file. Frontend selection and `--nodes N:KIND` parsing live here too.
//!
//! Pure data: `storage` persists it, providers fill in the resources through the ledger.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::ClusterTemplate;
use crate::naming::{node_name, parse_node_name, validate_kind, NodeNamer};
use crate::providers::ClusterIdentity;
use crate::storage::{StoredState, SCHEMA_VERSION};

/// Everything known about one started (or starting) cluster. Serialized as
/// `<storage>/<name>.toml`. New fields must have serde defaults so old files still load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterState {
    pub schema_version: u32,
    /// Cluster name (`start -n NAME`, default: the template name).
    pub name: String,
    /// Template it was started from (`[cluster/TEMPLATE]`).
    pub template: String,
    /// Config file the template came from, for information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_file: Option<PathBuf>,
    /// Name of the `[cloud/X]` section used.
    pub cloud: String,
    /// Name of the `[setup/X]` section used.
    #[serde(default)]
    pub setup: String,
    /// Login snapshot: who to ssh as, with which key.
    pub login: LoginSnapshot,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_to: Option<String>,
    /// Creation time, RFC 3339.
    #[serde(default)]
    pub created: String,
    /// The highest index each kind's removed nodes had: a node added later never takes the
    /// name of one that left (schedulers and caches remember names).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub retired_up_to: BTreeMap<String, u32>,
    /// Random owner id made at the first start (see `providers::ClusterIdentity`); every
    /// cloud resource of the cluster carries it. States of older builds get one when next
    /// opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    /// Nodes in creation order.
    #[serde(default)]
    pub nodes: Vec<NodeRecord>,
    /// Every cloud resource this cluster created or is about to create. A resource is
    /// recorded as `Planned` and saved BEFORE its create request is sent.
    #[serde(default)]
    pub resources: Vec<ResourceRecord>,
    /// The cloud's settings (its `provider` key names the cloud), written by the provider.
    #[serde(default)]
    pub provider: toml::Table,
}

/// The `[login/X]` values needed to reach the nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginSnapshot {
    pub image_user: String,
    #[serde(default = "default_sudo_user")]
    pub image_user_sudo: String,
    #[serde(default = "default_true")]
    pub image_sudo: bool,
    #[serde(default)]
    pub user_key_name: String,
    pub user_key_private: PathBuf,
    pub user_key_public: PathBuf,
}

fn default_sudo_user() -> String {
    "root".into()
}
fn default_true() -> bool {
    true
}

/// Life-cycle status of a node as far as elasticluster knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    /// Named, nothing requested yet.
    #[default]
    Planned,
    /// Create request sent.
    Creating,
    /// The cloud accepted/finished the create.
    Created,
    /// The cloud reports it running.
    Running,
    /// Answers SSH.
    Reachable,
    /// Could not be created or reached.
    Failed,
    /// Delete requested.
    Deleting,
}

impl std::fmt::Display for NodeStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            NodeStatus::Planned => "planned",
            NodeStatus::Creating => "creating",
            NodeStatus::Created => "created",
            NodeStatus::Running => "running",
            NodeStatus::Reachable => "reachable",
            NodeStatus::Failed => "failed",
            NodeStatus::Deleting => "deleting",
        };
        f.write_str(s)
    }
}

/// One node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// `frontend001`, …
    pub name: String,
    pub kind: String,
    /// The cloud's id of its VM, once requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    pub flavor: String,
    pub image_id: String,
    pub image_user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_userdata: Option<String>,
    #[serde(default)]
    pub status: NodeStatus,
    /// Address used for SSH, `host:port` (`[v6]:port` for IPv6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_ip: Option<String>,
    /// All known addresses (`host:port` or `host`).
    #[serde(default)]
    pub ips: Vec<String>,
    /// Address inside the cluster network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ip: Option<String>,
    /// The node went through a whole setup that succeeded: when nodes join or leave later,
    /// it only needs what depends on the list of nodes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub configured: bool,
    /// The node `preferred_ip` is reached through (a jump host for SSH): the address is
    /// inside the cluster network. `None`: reached directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// Status of a cloud resource in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ResourceStatus {
    /// About to be created (the request may or may not have reached the cloud).
    #[default]
    Planned,
    Created,
    Deleting,
}

/// One cloud resource (cloud service, storage account, vnet, deployment, disk, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceRecord {
    /// Provider-defined resource kind, e.g. `cloud_service`.
    pub kind: String,
    pub name: String,
    /// Subscription id it lives in.
    pub subscription: String,
    /// Name of the resource it belongs to, if any (e.g. a deployment's cloud service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(default)]
    pub status: ResourceStatus,
    #[serde(default)]
    pub attrs: BTreeMap<String, String>,
}

/// Why no frontend node can be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrontendError {
    #[error("cluster `{0}` has no nodes")]
    NoNodes(String),
    #[error("ssh_to `{ssh_to}` names no node or kind of cluster `{cluster}` — fix ssh_to in the template or pass -n NODE")]
    BadSshTo { cluster: String, ssh_to: String },
}

impl ClusterState {
    /// A new cluster named `name` from `template`: one `Planned` node per requested node,
    /// named `<kind>NNN`, kinds in config order.
    pub fn plan(name: &str, template: &ClusterTemplate) -> ClusterState {
        let mut namer = NodeNamer::new();
        let mut nodes = Vec::new();
        for (kind, k) in template.kinds_in_order() {
            for _ in 0..k.count {
                nodes.push(NodeRecord {
                    name: namer.next(kind),
                    kind: kind.to_string(),
                    instance_id: None,
                    flavor: k.flavor.clone(),
                    image_id: k.image_id.clone(),
                    image_user: template.login.image_user.clone(),
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
        ClusterState {
            schema_version: SCHEMA_VERSION,
            name: name.to_string(),
            template: template.name.clone(),
            config_file: Some(template.source.clone()),
            cloud: template.cloud_name.clone(),
            setup: template.setup_name.clone(),
            login: LoginSnapshot {
                image_user: template.login.image_user.clone(),
                image_user_sudo: template.login.image_user_sudo.clone(),
                image_sudo: template.login.image_sudo,
                user_key_name: template.login.user_key_name.clone(),
                user_key_private: template.login.user_key_private.clone(),
                user_key_public: template.login.user_key_public.clone(),
            },
            ssh_to: template.ssh_to.clone(),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            retired_up_to: BTreeMap::new(),
            owner_id: Some(ClusterIdentity::new_owner_id()),
            nodes,
            resources: Vec::new(),
            provider: template.cloud.clone(),
        }
    }

    /// Who the cluster is, for its cloud.
    pub fn identity(&self) -> ClusterIdentity {
        ClusterIdentity {
            name: self.name.clone(),
            owner_id: self.owner_id.clone(),
        }
    }

    /// Kinds in the order their first node appears.
    pub fn kinds(&self) -> Vec<&str> {
        let mut kinds: Vec<&str> = Vec::new();
        for n in &self.nodes {
            if !kinds.contains(&n.kind.as_str()) {
                kinds.push(&n.kind);
            }
        }
        kinds
    }

    /// Nodes of `kind`, in order.
    pub fn nodes_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a NodeRecord> + 'a {
        self.nodes.iter().filter(move |n| n.kind == kind)
    }

    /// A node by name.
    pub fn node(&self, name: &str) -> Option<&NodeRecord> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The default node to ssh into: `ssh_to` as a node name, then as a kind; otherwise the
    /// first node of the kinds `ssh`, `login`, `frontend`, `master`; otherwise the first node
    /// of the alphabetically first kind.
    pub fn frontend(&self) -> Result<&NodeRecord, FrontendError> {
        if self.nodes.is_empty() {
            return Err(FrontendError::NoNodes(self.name.clone()));
        }
        if let Some(to) = &self.ssh_to {
            if let Some(n) = self.node(to) {
                return Ok(n);
            }
            if let Some(n) = self.nodes_of(to).next() {
                return Ok(n);
            }
            tracing::warn!(
                "ssh_to `{to}` matches no node of cluster `{}`; using the default frontend",
                self.name
            );
        }
        for k in ["ssh", "login", "frontend", "master"] {
            if let Some(n) = self.nodes_of(k).next() {
                return Ok(n);
            }
        }
        let mut kinds = self.kinds();
        kinds.sort_unstable();
        kinds
            .first()
            .and_then(|k| self.nodes_of(k).next())
            .ok_or_else(|| FrontendError::NoNodes(self.name.clone()))
    }

    /// Remember the names of nodes that leave, so that [`Self::namer`] never hands them out
    /// again.
    pub fn retire<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) {
        for name in names {
            if let Some((kind, index)) = parse_node_name(name) {
                let top = self.retired_up_to.entry(kind.to_string()).or_default();
                *top = (*top).max(index);
            }
        }
    }

    /// Names for new nodes: after the highest index of each kind in use or retired.
    pub fn namer(&self) -> NodeNamer {
        self.namer_besides(self.nodes.iter().map(|n| n.name.as_str()))
    }

    /// Names for new nodes besides `in_use` (the nodes kept): never a retired name.
    pub fn namer_besides<'a>(&self, in_use: impl IntoIterator<Item = &'a str>) -> NodeNamer {
        let mut namer = NodeNamer::with_used(in_use);
        for (kind, top) in &self.retired_up_to {
            for index in 1..=*top {
                namer.mark_used(&node_name(kind, index));
            }
        }
        namer
    }

    /// Resource ledger entry by kind and name.
    pub fn resource_mut(&mut self, kind: &str, name: &str) -> Option<&mut ResourceRecord> {
        self.resources
            .iter_mut()
            .find(|r| r.kind == kind && r.name == name)
    }
}

/// Parse `--nodes` / `resize -a` specs: `N:KIND[,N:KIND...]`.
pub fn parse_node_counts(spec: &str) -> Result<Vec<(String, u32)>, String> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((n, kind)) = part.split_once(':') else {
            return Err(format!(
                "`{part}` is not of the form N:KIND (e.g. 2:compute)"
            ));
        };
        let n: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("`{}` in `{part}` is not a whole number", n.trim()))?;
        let kind = kind.trim();
        validate_kind(kind).map_err(|e| e.to_string())?;
        out.push((kind.to_string(), n));
    }
    if out.is_empty() {
        return Err(format!(
            "`{spec}` names no nodes — write N:KIND[,N:KIND...]"
        ));
    }
    Ok(out)
}

impl StoredState for ClusterState {
    fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, kind: &str) -> NodeRecord {
        NodeRecord {
            name: name.into(),
            kind: kind.into(),
            instance_id: None,
            flavor: "Small".into(),
            image_id: "img".into(),
            image_user: "u".into(),
            security_group: None,
            image_userdata: None,
            status: NodeStatus::Planned,
            preferred_ip: None,
            ips: vec![],
            private_ip: None,
            configured: false,
            via: None,
        }
    }

    fn state(nodes: Vec<NodeRecord>, ssh_to: Option<&str>) -> ClusterState {
        ClusterState {
            schema_version: 1,
            name: "c".into(),
            template: "t".into(),
            config_file: None,
            cloud: "x".into(),
            setup: "s".into(),
            login: LoginSnapshot {
                image_user: "u".into(),
                image_user_sudo: "root".into(),
                image_sudo: true,
                user_key_name: "k".into(),
                user_key_private: "/k".into(),
                user_key_public: "/k.pub".into(),
            },
            ssh_to: ssh_to.map(str::to_string),
            created: String::new(),
            retired_up_to: BTreeMap::new(),
            owner_id: None,
            nodes,
            resources: vec![],
            provider: toml::Table::new(),
        }
    }

    #[test]
    fn frontend_selection() {
        let nodes = vec![
            node("compute001", "compute"),
            node("frontend001", "frontend"),
        ];
        assert_eq!(
            state(nodes.clone(), None).frontend().unwrap().name,
            "frontend001"
        );
        assert_eq!(
            state(nodes.clone(), Some("compute"))
                .frontend()
                .unwrap()
                .name,
            "compute001"
        );
        let only = vec![node("b001", "b"), node("a001", "a")];
        assert_eq!(state(only, None).frontend().unwrap().name, "a001");
        assert!(state(vec![], None).frontend().is_err());
    }

    #[test]
    fn names_of_removed_nodes_are_not_given_again() {
        let mut st = state(
            vec![
                node("compute001", "compute"),
                node("compute002", "compute"),
                node("compute003", "compute"),
            ],
            None,
        );
        st.retire(["compute003", "compute001"]);
        st.nodes.retain(|n| n.name == "compute002");
        let mut namer = st.namer();
        assert_eq!(namer.next("compute"), "compute004");
        assert_eq!(namer.next("gpu"), "gpu001");
        // the record survives a save and load
        let back: ClusterState = toml::from_str(&toml::to_string(&st).unwrap()).unwrap();
        assert_eq!(back.namer().next("compute"), "compute004");
    }

    #[test]
    fn node_count_specs() {
        assert_eq!(
            parse_node_counts("2:compute,1:frontend").unwrap(),
            vec![("compute".to_string(), 2), ("frontend".to_string(), 1)]
        );
        assert!(parse_node_counts("two:compute").is_err());
        assert!(parse_node_counts("2").is_err());
        assert!(parse_node_counts("2:bad_kind").is_err());
    }
}
