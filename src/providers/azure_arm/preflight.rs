//! Preflight, before anything is created: the location offers every requested VM size, every
//! image exists there, and the regional vCPU quota (usages API) leaves room for the new
//! nodes. Each problem is one line naming the key to change.
//!
//! Only reads from Azure; never creates anything.

use std::collections::{BTreeMap, BTreeSet};

use tracing::warn;

use super::model::{ImageVersion, Usage, VmSize};
use super::names::ImageRef;
use std::sync::Arc;

use super::model::ResourceGroup;
use super::names::TAG_OWNER;
use super::provider::{ArmProvider, K_VM};
use crate::providers::{
    ErrorKind, Ledger, NodeRequest, Preflight, PreflightProblem, ProviderError,
};

fn invalid(msg: String) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, msg)
}

impl ArmProvider {
    /// The door's preflight: the nodes not yet in the ledger against the location's sizes,
    /// images and vCPU quota, and the resource group's name against other clusters. Problems
    /// are collected into the report; `Err` only when Azure could not be asked.
    pub(super) async fn preflight_report(
        &self,
        nodes: &[NodeRequest],
        ledger: Arc<dyn Ledger>,
    ) -> Result<Preflight, ProviderError> {
        let known: BTreeSet<String> = ledger
            .resources()
            .iter()
            .filter(|r| r.kind == K_VM)
            .filter_map(|r| r.node().map(str::to_string))
            .collect();
        let missing: Vec<NodeRequest> = nodes
            .iter()
            .filter(|n| !known.contains(&n.name))
            .cloned()
            .collect();
        let mut report = Preflight::default();
        match self.check_nodes(&missing).await {
            Ok(lines) => report.passed.extend(lines),
            Err(e) => match e.kind {
                ErrorKind::Transport | ErrorKind::Throttled | ErrorKind::Other => return Err(e),
                kind => report.problems.push(problem(kind, &e.message)),
            },
        }
        let s = &self.inner.s;
        let c = &self.inner.client;
        let group: Option<ResourceGroup> = c
            .get_json(
                &c.url(&self.inner.paths.group_url(&s.base_name)),
                &format!("looking up resource group {}", s.base_name),
            )
            .await
            .map_err(ProviderError::from)?;
        let ours = s.identity.owner_id.as_deref();
        match group.map(|g| g.tags.get(TAG_OWNER).cloned()) {
            None => report
                .passed
                .push(format!("resource group {} is free", s.base_name)),
            Some(owner) if owner.is_some() && owner.as_deref() == ours => report
                .passed
                .push(format!("resource group {} is this cluster's", s.base_name)),
            Some(owner) => report.problems.push(PreflightProblem {
                key: Some("base_name".into()),
                problem: format!(
                    "resource group {} already exists and belongs to {}",
                    s.base_name,
                    owner
                        .map(|o| format!("the cluster with owner id {o}"))
                        .unwrap_or_else(
                            || "no elasticluster cluster (it carries no owner id)".into()
                        )
                ),
                fix: "choose another base_name, or stop the cluster that uses it".into(),
            }),
        }
        let public = if s.use_public_ips {
            missing.len()
        } else {
            usize::from(missing.iter().any(|n| n.entry))
        };
        report.layout.push(format!(
            "resource group {} in {}: {} new VMs, {} with a public IP",
            s.base_name,
            s.location,
            missing.len(),
            public
        ));
        Ok(report)
    }

    /// Check `nodes` against what the subscription may use in the location; returns what
    /// was checked, one line each.
    pub async fn check_nodes(&self, nodes: &[NodeRequest]) -> Result<Vec<String>, ProviderError> {
        if nodes.is_empty() {
            return Ok(Vec::new());
        }
        let s = &self.inner.s;
        let c = &self.inner.client;
        let p = &self.inner.paths;
        let loc = &s.location;
        let sizes: Vec<VmSize> = c
            .list_existing(
                &c.url(&p.sizes_url(loc)),
                &format!("listing the VM sizes of location {loc}"),
            )
            .await
            .map_err(|e| match e.kind() {
                ErrorKind::Auth | ErrorKind::Throttled | ErrorKind::Transport => e.into(),
                _ => invalid(format!("location `{loc}`: {e}")),
            })?;
        if sizes.is_empty() {
            return Err(invalid(format!(
                "location `{loc}` offers no VM sizes to subscription {} — check `location` (a region name such as eastus)",
                s.subscription_id
            )));
        }
        let mut cores_needed: u64 = 0;
        let mut per_size: BTreeMap<String, usize> = BTreeMap::new();
        for n in nodes {
            let Some(size) = sizes
                .iter()
                .find(|z| z.name.eq_ignore_ascii_case(&n.flavor))
            else {
                let mut names: Vec<&str> = sizes.iter().map(|z| z.name.as_str()).collect();
                names.sort_by_key(|z| {
                    crate::config::diag::distance(
                        &z.to_ascii_lowercase(),
                        &n.flavor.to_ascii_lowercase(),
                    )
                });
                names.truncate(5);
                return Err(invalid(format!(
                    "flavor `{}` (node kind `{}`) is not a VM size of location {loc} — sizes there include {}",
                    n.flavor,
                    n.kind,
                    names.join(", ")
                )));
            };
            cores_needed += u64::from(size.number_of_cores);
            *per_size.entry(size.name.clone()).or_default() += 1;
        }
        let mut lines = vec![format!(
            "location {loc}: {}",
            per_size
                .iter()
                .map(|(z, n)| format!("{n} × {z}"))
                .collect::<Vec<_>>()
                .join(", ")
        )];
        lines.push(self.check_cores(cores_needed, nodes.len()).await?);
        let images: BTreeSet<&str> = nodes.iter().map(|n| n.image_id.as_str()).collect();
        for image_id in images {
            lines.push(self.check_image(image_id).await?);
        }
        Ok(lines)
    }

    async fn check_cores(&self, needed: u64, n: usize) -> Result<String, ProviderError> {
        let s = &self.inner.s;
        let c = &self.inner.client;
        let loc = &s.location;
        let usages: Vec<Usage> = match c
            .list(
                &c.url(&self.inner.paths.usages_url(loc)),
                &format!("reading the quotas of location {loc}"),
            )
            .await
        {
            Ok(u) => u,
            Err(e) if matches!(e.kind(), ErrorKind::Auth | ErrorKind::Transport) => {
                return Err(e.into())
            }
            Err(e) => {
                warn!("cannot read the quotas of location {loc} (not checked): {e}");
                return Ok(format!("{needed} vCPUs (quota not readable)"));
            }
        };
        let Some(total) = usages
            .iter()
            .find(|u| u.name.value.eq_ignore_ascii_case("cores"))
        else {
            return Ok(format!("{needed} vCPUs (no regional vCPU quota listed)"));
        };
        let free = (total.limit - total.current_value).max(0) as u64;
        if needed > free {
            return Err(ProviderError::new(
                ErrorKind::Quota,
                format!(
                    "location {loc}: the {n} new nodes need {needed} vCPUs but the regional vCPU quota leaves {free} (limit {}, in use {}) — ask for fewer or smaller nodes, or request a quota increase",
                    total.limit, total.current_value
                ),
            ));
        }
        Ok(format!(
            "{needed} vCPUs needed, {free} free of the regional quota of {}",
            total.limit
        ))
    }

    async fn check_image(&self, image_id: &str) -> Result<String, ProviderError> {
        let loc = &self.inner.s.location;
        let image = ImageRef::parse(image_id).map_err(invalid)?;
        let c = &self.inner.client;
        let versions: Vec<ImageVersion> = match c
            .get_json::<Vec<ImageVersion>>(
                &c.url(&self.inner.paths.image_versions_url(loc, &image)),
                &format!("looking up image {image}"),
            )
            .await
        {
            Ok(v) => v.unwrap_or_default(),
            Err(e) if matches!(e.kind(), ErrorKind::Auth | ErrorKind::Transport) => {
                return Err(e.into())
            }
            Err(e) => {
                return Err(invalid(format!(
                    "image_id `{image_id}`: {e} — check `image_id` (publisher/offer/sku/version)"
                )))
            }
        };
        let found = if image.version.eq_ignore_ascii_case("latest") {
            !versions.is_empty()
        } else {
            versions
                .iter()
                .any(|v| v.name.eq_ignore_ascii_case(&image.version))
        };
        if !found {
            let mut have: Vec<&str> = versions.iter().map(|v| v.name.as_str()).collect();
            have.sort_unstable();
            let latest: Vec<&str> = have.iter().rev().take(3).copied().collect();
            return Err(invalid(if have.is_empty() {
                format!(
                    "image_id `{image_id}` is not available in location {loc} — check `image_id` (publisher/offer/sku/version, e.g. canonical/0001-com-ubuntu-server-jammy/22_04-lts-gen2/latest)"
                )
            } else {
                format!(
                    "image_id `{image_id}`: version `{}` is not available in location {loc} — use `latest` or one of {}",
                    image.version,
                    latest.join(", ")
                )
            }));
        }
        Ok(format!("image {image} available"))
    }
}

/// One problem from a check's message (`what — what to do`), naming the key it mentions.
fn problem(kind: ErrorKind, message: &str) -> PreflightProblem {
    let (what, fix) = message
        .split_once(" — ")
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .unwrap_or_else(|| (message.to_string(), String::new()));
    let key = if kind == ErrorKind::Auth {
        Some("secret")
    } else {
        ["flavor", "image_id", "location", "base_name"]
            .into_iter()
            .find(|k| what.contains(&format!("{k} ")) || what.contains(&format!("`{k}`")))
            .or(match kind {
                ErrorKind::Quota => Some("flavor"),
                _ => None,
            })
    };
    PreflightProblem {
        key: key.map(str::to_string),
        problem: what,
        fix,
    }
}
