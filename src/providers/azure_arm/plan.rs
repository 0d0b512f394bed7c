//! Planning: preflight (sizes, images, quota), then every resource of the cluster recorded
//! as `Planned` in one ledger write before anything is created — the resource group (named
//! `base_name`; one that exists already and is not this cluster's is refused), the
//! security group, the network, and per node a
//! public IP (every node, or only the entry node with `use_public_ips = no`), a NIC and the
//! VM. Nodes added to a running cluster join its group.

use std::collections::BTreeSet;
use std::sync::Arc;

use base64::Engine;

use super::model::ResourceGroup;
use super::names::TAG_OWNER;
use super::names::{self, nic_name, pip_name, ImageRef};
use super::provider::{ArmProvider, K_GROUP, K_NIC, K_NSG, K_PIP, K_VM, K_VNET};
use crate::providers::{ErrorKind, Ledger, NodeRequest, PlanSummary, ProviderError, Resource};

impl ArmProvider {
    pub(super) async fn plan_nodes(
        &self,
        nodes: &[NodeRequest],
        ledger: Arc<dyn Ledger>,
    ) -> Result<PlanSummary, ProviderError> {
        self.owner_id()?;
        for n in nodes {
            ImageRef::parse(&n.image_id).map_err(|e| {
                ProviderError::new(ErrorKind::Invalid, format!("node kind `{}`: {e}", n.kind))
            })?;
        }
        let res = ledger.resources();
        let existing = Self::vms_of(&res);
        let have: BTreeSet<&str> = existing.iter().filter_map(|v| v.node()).collect();
        let want: BTreeSet<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
        if !existing.is_empty() {
            if have == want {
                return Ok(PlanSummary {
                    lines: vec![format!("resuming: {} VMs already planned", existing.len())],
                    notes: Vec::new(),
                });
            }
            if !have.is_subset(&want) {
                return Err(ProviderError::other(format!(
                    "the cluster already has VMs planned for {} and the request is for {}: stop the cluster first",
                    have.iter().copied().collect::<Vec<_>>().join(", "),
                    want.iter().copied().collect::<Vec<_>>().join(", ")
                )));
            }
        }
        let added: Vec<&NodeRequest> = nodes
            .iter()
            .filter(|n| !have.contains(n.name.as_str()))
            .collect();
        if added.is_empty() {
            return Ok(PlanSummary::default());
        }
        let added_owned: Vec<NodeRequest> = added.iter().map(|n| (*n).clone()).collect();
        let mut lines = self.check_nodes(&added_owned).await?;

        let s = &self.inner.s;
        let sub = s.subscription_id.as_str();
        let mut rs = Vec::new();
        let group = match Self::group_of(&res) {
            Some(g) => g.name,
            None => {
                let g = names::group_name(&s.base_name);
                self.refuse_foreign_group(&g).await?;
                rs.push(
                    Resource::new(K_GROUP, sub, &g)
                        .with("location", &s.location)
                        .with("base_name", &s.base_name),
                );
                rs.push(Resource::new(K_NSG, sub, names::NSG).in_parent(&g));
                rs.push(Resource::new(K_VNET, sub, names::VNET).in_parent(&g));
                g
            }
        };
        // The entry node (the frontend) always gets a public address; with
        // `use_public_ips = no` it is the only one.
        let entry_known =
            existing.iter().any(|v| v.attr("entry").is_some()) || added.iter().any(|n| n.entry);
        let first_index = existing
            .iter()
            .filter_map(|v| v.attr("index").and_then(|i| i.parse::<usize>().ok()))
            .max()
            .map_or(0, |m| m + 1);
        for (i, (index, n)) in (first_index..).zip(&added).enumerate() {
            let entry = n.entry || (!entry_known && i == 0 && existing.is_empty());
            let public = s.use_public_ips || entry;
            if public {
                rs.push(
                    Resource::new(K_PIP, sub, &pip_name(&n.name))
                        .in_parent(&group)
                        .with("node_of", &n.name),
                );
            }
            rs.push(
                Resource::new(K_NIC, sub, &nic_name(&n.name))
                    .in_parent(&group)
                    .with("node_of", &n.name),
            );
            let mut vm = Resource::new(K_VM, sub, &n.name)
                .in_parent(&group)
                .with("node", &n.name)
                .with("kind", &n.kind)
                .with("index", index)
                .with("flavor", &n.flavor)
                .with("image", &n.image_id)
                .with("user", &n.image_user)
                .with("public", if public { "yes" } else { "no" });
            if entry {
                vm = vm.with("entry", "yes");
            }
            if let Some(ud) = &n.image_userdata {
                vm = vm.with(
                    "custom_data",
                    base64::engine::general_purpose::STANDARD.encode(ud.as_bytes()),
                );
            }
            rs.push(vm);
        }
        ledger.record(&rs)?;
        let public = rs.iter().filter(|r| r.kind == K_PIP).count();
        lines.insert(
            0,
            format!(
                "{} VMs in resource group {group} ({public} with a public IP), subscription {sub}",
                added.len()
            ),
        );
        Ok(PlanSummary {
            lines,
            notes: Vec::new(),
        })
    }
}

impl ArmProvider {
    /// A new cluster's group must not exist yet unless it is this cluster's (its owner id
    /// tag): otherwise it is another cluster's (same `base_name`) or a group nobody owns.
    /// One being deleted is waited for when it is created.
    async fn refuse_foreign_group(&self, g: &str) -> Result<(), ProviderError> {
        let c = &self.inner.client;
        let what = format!("looking up resource group {g}");
        let found: Option<ResourceGroup> = c
            .get_json(&c.url(&self.inner.paths.group_url(g)), &what)
            .await?;
        let ours = self.inner.s.identity.owner_id.as_deref();
        match found {
            Some(rg)
                if rg.properties.provisioning_state.as_deref() != Some("Deleting")
                    && rg.tags.get(TAG_OWNER).map(String::as_str) != ours =>
            {
                Err(ProviderError::new(
                    ErrorKind::Conflict,
                    format!(
                        "resource group `{g}` already exists in subscription {} and belongs to {}: another cluster with base_name `{}` uses it (or one not fully stopped) — stop that cluster, or set another base_name",
                        self.inner.s.subscription_id,
                        rg.tags
                            .get(TAG_OWNER)
                            .map(|o| format!("owner id {o}"))
                            .unwrap_or_else(|| "no cluster (no owner id)".into()),
                        self.inner.s.base_name
                    ),
                ))
            }
            _ => Ok(()),
        }
    }
}
