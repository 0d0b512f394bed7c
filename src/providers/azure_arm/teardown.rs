//! Teardown: delete the cluster's resource group — which takes every VM, disk, NIC, public
//! IP, security group and network in it along — wait until Azure says it is gone, then
//! forget its resources. With `--force`, groups found by tag or `base_name` (see
//! [`ArmProvider::discover`]) go too. A group whose create request a killed run may have
//! sent is watched for a while before it is taken as never created.
//!
//! What could not be deleted stays in the ledger and in the report, with Azure's reason.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinSet;

use super::model::ResourceGroup;
use super::names::{TAG_BASE_NAME, TAG_OWNER};
use super::provider::{unconfirmed, ArmProvider, K_GROUP, K_VM};
use crate::providers::{
    Discovered, Events, Ledger, ProviderError, ProviderEvent, Resource, ResourceState,
    TeardownOptions, TeardownReport,
};

/// What became of one resource group.
enum GroupOutcome {
    Deleted,
    /// Nothing was ever sent for it.
    NeverSent,
    /// Its create was never confirmed and the group there carries this owner id (or none).
    LeftAlone(Option<String>),
}

impl ArmProvider {
    pub(super) async fn delete_everything(
        &self,
        ledger: Arc<dyn Ledger>,
        _opts: TeardownOptions,
        events: Events,
    ) -> Result<TeardownReport, ProviderError> {
        let res = ledger.resources();
        let mut groups: BTreeSet<String> = res
            .iter()
            .filter(|r| r.kind == K_GROUP)
            .map(|r| r.name.clone())
            .collect();
        groups.extend(res.iter().filter_map(|r| r.parent.clone()));
        events(ProviderEvent::Planned {
            resources: groups.len(),
            vms: res.iter().filter(|r| r.kind == K_VM).count(),
        });
        let mut js: JoinSet<(String, Vec<Resource>, Result<GroupOutcome, ProviderError>)> =
            JoinSet::new();
        for g in groups {
            let members: Vec<Resource> = res
                .iter()
                .filter(|r| {
                    r.parent.as_deref() == Some(g.as_str()) || (r.kind == K_GROUP && r.name == g)
                })
                .cloned()
                .collect();
            let me = self.clone();
            let ledger = ledger.clone();
            js.spawn(async move {
                let out = me.delete_group(&g, &members, &ledger).await;
                (g, members, out)
            });
        }
        let mut report = TeardownReport::default();
        while let Some(j) = js.join_next().await {
            let (g, members, out) =
                j.map_err(|e| ProviderError::other(format!("teardown task failed: {e}")))?;
            match out {
                Ok(GroupOutcome::NeverSent) => ledger.forget_all(&members)?,
                Ok(GroupOutcome::LeftAlone(owner)) => {
                    ledger.forget_all(&members)?;
                    report.left_alone.push((
                        format!("resource group {g}"),
                        owner.unwrap_or_else(|| "none".into()),
                    ));
                }
                Ok(GroupOutcome::Deleted) => {
                    ledger.forget_all(&members)?;
                    events(ProviderEvent::Deleted {
                        kind: K_GROUP.into(),
                        name: g.clone(),
                    });
                    report
                        .deleted
                        .push(format!("resource group {g} ({} resources)", members.len()));
                }
                Err(e) => report
                    .remaining
                    .push((format!("resource group {g}"), e.to_string())),
            }
        }
        Ok(report)
    }

    /// Delete one group and wait until it is gone — unless nothing was ever sent for it, or
    /// its create was never confirmed and the group that exists carries another owner id
    /// (then it is another cluster's and stays untouched).
    async fn delete_group(
        &self,
        g: &str,
        members: &[Resource],
        ledger: &Arc<dyn Ledger>,
    ) -> Result<GroupOutcome, ProviderError> {
        let record = members.iter().find(|r| r.kind == K_GROUP);
        let never_sent = record
            .is_some_and(|r| r.state == ResourceState::Planned && r.attr("requested").is_none());
        if never_sent {
            return Ok(GroupOutcome::NeverSent);
        }
        let c = &self.inner.client;
        let url = c.url(&self.inner.paths.group_url(g));
        if let Some(r) = record {
            if unconfirmed(r) {
                // Its PUT may still land: give it the settle time to show up.
                let deadline = Instant::now() + c.opts.scaled(c.opts.settle);
                loop {
                    let seen: Option<ResourceGroup> = c
                        .get_json(&url, &format!("looking up resource group {g}"))
                        .await?;
                    if let Some(seen) = &seen {
                        let owner = seen.tags.get(TAG_OWNER).cloned();
                        if owner.is_none() || owner != self.inner.s.identity.owner_id {
                            return Ok(GroupOutcome::LeftAlone(owner));
                        }
                        break;
                    }
                    if Instant::now() >= deadline {
                        break;
                    }
                    tokio::time::sleep(c.opts.scaled(c.opts.retry_base)).await;
                }
            }
            ledger.set_state(r, ResourceState::Deleting)?;
        }
        c.delete(
            &c.url(&self.inner.paths.group_delete_url(g)),
            &format!("deleting resource group {g}"),
        )
        .await?;
        Ok(GroupOutcome::Deleted)
    }

    /// Resource groups of this subscription named after this `base_name` or tagged with it,
    /// each with the owner id it carries.
    pub(super) async fn discover_groups(&self) -> Result<Vec<Discovered>, ProviderError> {
        let c = &self.inner.client;
        let base = &self.inner.s.base_name;
        let sub = &self.inner.s.subscription_id;
        let groups: Vec<ResourceGroup> = c
            .list(
                &c.url(&self.inner.paths.groups_url()),
                "listing the resource groups",
            )
            .await?;
        let mut found: Vec<Discovered> = groups
            .into_iter()
            .filter(|g| {
                g.name.eq_ignore_ascii_case(base)
                    || g.tags.get(TAG_BASE_NAME).is_some_and(|v| v == base)
            })
            .map(|g| {
                let mut resource = Resource::new(K_GROUP, sub, &g.name);
                resource.state = ResourceState::Created;
                Discovered {
                    label: format!("resource group {}", g.name),
                    owner: g.tags.get(TAG_OWNER).cloned(),
                    resource,
                }
            })
            .collect();
        found.sort_by(|a, b| a.resource.name.cmp(&b.resource.name));
        Ok(found)
    }
}
