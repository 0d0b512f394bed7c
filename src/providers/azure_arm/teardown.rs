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
use tracing::info;

use super::model::ResourceGroup;
use super::names::TAG_BASE_NAME;
use super::provider::{unconfirmed, ArmProvider, K_GROUP, K_VM};
use crate::providers::{
    Events, Ledger, ProviderError, ProviderEvent, Resource, ResourceState, TeardownOptions,
    TeardownReport,
};

impl ArmProvider {
    pub(super) async fn delete_everything(
        &self,
        ledger: Arc<dyn Ledger>,
        opts: TeardownOptions,
        events: Events,
    ) -> Result<TeardownReport, ProviderError> {
        if opts.force {
            self.adopt_discovered(&ledger).await?;
        }
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
        let mut js: JoinSet<(String, Vec<Resource>, Result<bool, ProviderError>)> = JoinSet::new();
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
                Ok(sent) => {
                    ledger.forget_all(&members)?;
                    if sent {
                        events(ProviderEvent::Deleted {
                            kind: K_GROUP.into(),
                            name: g.clone(),
                        });
                        report
                            .deleted
                            .push(format!("resource group {g} ({} resources)", members.len()));
                    }
                }
                Err(e) => report
                    .remaining
                    .push((format!("resource group {g}"), e.to_string())),
            }
        }
        Ok(report)
    }

    /// Delete one group and wait until it is gone. `Ok(false)`: nothing was ever sent for
    /// it, so there was nothing to delete.
    async fn delete_group(
        &self,
        g: &str,
        members: &[Resource],
        ledger: &Arc<dyn Ledger>,
    ) -> Result<bool, ProviderError> {
        let record = members.iter().find(|r| r.kind == K_GROUP);
        let never_sent = record
            .is_some_and(|r| r.state == ResourceState::Planned && r.attr("requested").is_none());
        if never_sent {
            return Ok(false);
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
                    if seen.is_some() || Instant::now() >= deadline {
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
        Ok(true)
    }

    /// Resource groups of this subscription that belong to clusters with this `base_name`:
    /// named after it, or tagged `elasticluster-base-name` with it.
    pub async fn discover(&self) -> Result<Vec<String>, ProviderError> {
        let c = &self.inner.client;
        let base = &self.inner.s.base_name;
        let groups: Vec<ResourceGroup> = c
            .list(
                &c.url(&self.inner.paths.groups_url()),
                "listing the resource groups",
            )
            .await?;
        Ok(groups
            .into_iter()
            .filter(|g| {
                g.name.eq_ignore_ascii_case(base)
                    || g.tags.get(TAG_BASE_NAME).is_some_and(|v| v == base)
            })
            .map(|g| g.name)
            .collect())
    }

    /// `--force`: put every discovered group in the ledger.
    async fn adopt_discovered(&self, ledger: &Arc<dyn Ledger>) -> Result<(), ProviderError> {
        let known = ledger.resources();
        let sub = &self.inner.s.subscription_id;
        let new: Vec<Resource> = self
            .discover()
            .await?
            .into_iter()
            .filter(|g| !known.iter().any(|k| k.kind == K_GROUP && &k.name == g))
            .map(|g| {
                let mut r = Resource::new(K_GROUP, sub, &g);
                r.state = ResourceState::Created;
                r
            })
            .collect();
        if !new.is_empty() {
            info!(
                "--force: also deleting resource groups {}",
                new.iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            ledger.record(&new)?;
        }
        Ok(())
    }
}
