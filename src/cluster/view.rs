//! The views of a cluster for people and scripts: ElastiCluster's summary and `list-nodes`
//! text, and the stable `list-nodes --json` shape (fields are only ever added).

use serde::Serialize;

use super::state::{ClusterState, NodeStatus};

/// `list-nodes --json`: the stable JSON shape (see README).
#[derive(Debug, Serialize)]
pub struct ClusterView<'a> {
    pub name: &'a str,
    pub template: &'a str,
    pub cloud: &'a str,
    pub ssh_to: Option<&'a str>,
    /// Name of the default ssh node, null if none.
    pub frontend: Option<&'a str>,
    pub nodes: Vec<NodeView<'a>>,
}

/// One node in `list-nodes --json`.
#[derive(Debug, Serialize)]
pub struct NodeView<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub status: NodeStatus,
    pub instance_id: Option<&'a str>,
    pub flavor: &'a str,
    pub image_id: &'a str,
    pub image_user: &'a str,
    pub preferred_ip: Option<&'a str>,
    pub ips: &'a [String],
    pub private_ip: Option<&'a str>,
    /// The node `preferred_ip` is reached through (SSH jump host), null when direct.
    pub via: Option<&'a str>,
}

impl ClusterState {
    /// The `--json` view.
    pub fn view(&self) -> ClusterView<'_> {
        ClusterView {
            name: &self.name,
            template: &self.template,
            cloud: &self.cloud,
            ssh_to: self.ssh_to.as_deref(),
            frontend: self.frontend().ok().map(|n| n.name.as_str()),
            nodes: self
                .nodes
                .iter()
                .map(|n| NodeView {
                    name: &n.name,
                    kind: &n.kind,
                    status: n.status,
                    instance_id: n.instance_id.as_deref(),
                    flavor: &n.flavor,
                    image_id: &n.image_id,
                    image_user: &n.image_user,
                    preferred_ip: n.preferred_ip.as_deref(),
                    ips: &n.ips,
                    private_ip: n.private_ip.as_deref(),
                    via: n.via.as_deref(),
                })
                .collect(),
        }
    }

    /// ElastiCluster's cluster summary (used by start, setup, resize, list-nodes).
    pub fn summary(&self) -> String {
        let frontend = match self.frontend() {
            Ok(n) => n.name.clone(),
            Err(e) => {
                tracing::error!("Unable to get information on the frontend node: {e}");
                "unknown".to_string()
            }
        };
        let mut s = String::new();
        s.push('\n');
        s.push_str(&format!("Cluster name:     {}\n", self.name));
        s.push_str(&format!("Cluster template: {}\n", self.template));
        s.push_str(&format!("Default ssh to node: {frontend}\n"));
        for k in self.kinds() {
            s.push_str(&format!("- {k} nodes: {}\n", self.nodes_of(k).count()));
        }
        s.push_str("\nTo login on the frontend node, run the command:\n\n");
        s.push_str(&format!("    elasticluster ssh {}\n\n", self.name));
        s.push_str("To upload or download files to the cluster, use the command:\n\n");
        s.push_str(&format!("    elasticluster sftp {}\n", self.name));
        s
    }

    /// `list-nodes` text: summary, then per kind the nodes with their addresses.
    pub fn nodes_listing(&self) -> String {
        let mut s = self.summary();
        for k in self.kinds() {
            s.push_str(&format!("\n{k} nodes:\n\n"));
            for n in self.nodes_of(k) {
                s.push_str(&format!("  - {}\n", n.name));
                s.push_str(&format!(
                    "    connection IP: {}\n",
                    n.preferred_ip.as_deref().unwrap_or("")
                ));
                if let Some(via) = &n.via {
                    s.push_str(&format!("    reached through: {via}\n"));
                }
                s.push_str(&format!("    IPs:    {}\n", n.ips.join(", ")));
                s.push_str(&format!(
                    "    instance id:   {}\n",
                    n.instance_id.as_deref().unwrap_or("")
                ));
                s.push_str(&format!("    instance flavor: {}\n", n.flavor));
                s.push_str(&format!("    status:        {}\n\n", n.status));
            }
        }
        s
    }
}
