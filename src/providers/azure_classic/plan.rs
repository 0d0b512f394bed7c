//! Planning: where every VM goes (subscription, cloud service, storage account, SSH port)
//! within the quotas Azure reports, recorded in the ledger as `Planned` in one write before
//! anything is created; and placing nodes added to a running cluster (into a new cloud
//! service when all of its are full).

use super::layout::{self, PlanInput, SubscriptionQuota};
use futures_util::future::join_all;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tracing::warn;

use super::ownership;
use super::provider::{
    AzureClassicProvider, K_CERTIFICATE, K_CLOUD_SERVICE, K_STORAGE, K_VM, K_VNET,
};
use super::resources as r;
use crate::providers::{Ledger, NodeRequest, PlanSummary, ProviderError, Resource};

impl AzureClassicProvider {
    pub(super) async fn plan_nodes(
        &self,
        nodes: &[NodeRequest],
        ledger: Arc<dyn Ledger>,
    ) -> Result<PlanSummary, ProviderError> {
        let s = &self.inner.s;
        let owner = self.mark()?.owner_id;
        let existing = Self::vms_of(&ledger.resources());
        let have: BTreeSet<&str> = existing.iter().filter_map(|v| v.attr("node")).collect();
        let want: BTreeSet<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
        if !existing.is_empty() {
            if have == want {
                return Ok(PlanSummary {
                    lines: vec![format!("resuming: {} VMs already planned", existing.len())],
                    notes: Vec::new(),
                });
            }
            if have.is_subset(&want) {
                let added: Vec<&NodeRequest> = nodes
                    .iter()
                    .filter(|n| !have.contains(n.name.as_str()))
                    .collect();
                return self.plan_additions(&added, &existing, &owner, ledger).await;
            }
            return Err(ProviderError::other(format!(
                "the cluster already has VMs planned for {} and the request is for {}: \
                 stop the cluster first (adding nodes to an existing Azure cluster is not supported yet)",
                have.iter().copied().collect::<Vec<_>>().join(", "),
                want.iter().copied().collect::<Vec<_>>().join(", ")
            )));
        }
        if nodes.is_empty() {
            return Ok(PlanSummary::default());
        }
        // the largest flavor decides the cores check (conservative)
        let flavor = nodes[0].flavor.clone();
        // The service certificate is built while the quotas are read.
        let (quotas, cert) = tokio::join!(self.quotas(&flavor), self.ssh_cert_aside());
        let (quotas, cores) = quotas?;
        let cert = cert?;
        let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
        let mut l = layout::plan(&PlanInput {
            base_name: &s.base_name,
            nodes: &names,
            subscriptions: &quotas,
            cores_per_vm: cores,
            n_cloud_services: s.n_cloud_services,
            n_storage_accounts: s.n_storage_accounts,
        })?;
        for sub in &mut l.subscriptions {
            sub.vnet = ownership::vnet_name(&s.base_name, sub.index, &owner);
        }
        let mut rs = Vec::new();
        for sub in &l.subscriptions {
            for cs in &sub.cloud_services {
                rs.push(Resource::new(K_CLOUD_SERVICE, &sub.id, cs).with("sub", sub.index));
                rs.push(
                    Resource::new(
                        K_CERTIFICATE,
                        &sub.id,
                        &format!("{cs}/sha1-{}", cert.thumbprint),
                    )
                    .in_parent(cs)
                    .with("cloud_service", cs)
                    .with("thumbprint", &cert.thumbprint),
                );
            }
            for sa in &sub.storage_accounts {
                rs.push(Resource::new(K_STORAGE, &sub.id, sa).with("sub", sub.index));
            }
            rs.push(
                Resource::new(K_VNET, &sub.id, &sub.vnet)
                    .with("sub", sub.index)
                    .with("location", &s.location),
            );
        }
        for (vm, req) in l.vms.iter().zip(nodes) {
            let sub = &s.subscriptions[vm.subscription];
            rs.push(
                Resource::new(K_VM, &sub.id, &vm.role_name)
                    .with("node", &vm.node)
                    .with("kind", &req.kind)
                    .with("index", vm.index)
                    .in_parent(&vm.cloud_service)
                    .with("cloud_service", &vm.cloud_service)
                    .with("storage_account", &vm.storage_account)
                    .with(
                        "vnet",
                        ownership::vnet_name(&s.base_name, vm.subscription, &owner),
                    )
                    .with("ssh_port", vm.ssh_port)
                    .with("image", &req.image_id)
                    .with("flavor", &req.flavor)
                    .with("user", &req.image_user),
            );
        }
        ledger.record(&rs)?;
        let mut lines = vec![format!(
            "{} VMs in {} cloud services (at most {} per service), {} storage accounts, {} subscription(s)",
            l.vms.len(),
            l.n_cloud_services(),
            l.max_vms_per_cloud_service(),
            l.n_storage_accounts(),
            l.subscriptions.len()
        )];
        for n in &l.notes {
            warn!("{n}");
        }
        lines.extend(l.subscriptions.iter().map(|s| {
            format!(
                "subscription {}: cloud services {}; storage {}; vnet {}",
                s.id,
                s.cloud_services.join(","),
                s.storage_accounts.join(","),
                s.vnet
            )
        }));
        Ok(PlanSummary {
            lines,
            notes: l.notes,
        })
    }

    async fn quotas(
        &self,
        cores_flavor: &str,
    ) -> Result<(Vec<SubscriptionQuota>, Option<usize>), ProviderError> {
        let mut quotas = Vec::new();
        let mut clients = Vec::new();
        for a in &self.inner.s.subscriptions {
            clients.push((a, self.client(&a.id)?));
        }
        // Every subscription's quotas and the role sizes at the same time.
        let first = clients[0].1;
        let (subs, sizes) = tokio::join!(
            join_all(clients.iter().map(|(_, c)| r::get_subscription(c))),
            r::role_size_cores(first, cores_flavor)
        );
        let cores = match sizes {
            Ok(v) => v.map(|c| c as usize),
            Err(e) => {
                warn!("cannot read role sizes (cores quota not checked): {e}");
                None
            }
        };
        for ((a, _), sub) in clients.iter().zip(subs) {
            let sub = sub?;
            let free = |max: Option<u32>, cur: Option<u32>, default_max: u32| {
                max.unwrap_or(default_max).saturating_sub(cur.unwrap_or(0)) as usize
            };
            quotas.push(SubscriptionQuota {
                id: a.id.clone(),
                free_hosted_services: free(
                    sub.max_hosted_services,
                    sub.current_hosted_services,
                    20,
                ),
                free_storage_accounts: free(
                    sub.max_storage_accounts,
                    sub.current_storage_accounts,
                    100,
                ),
                free_cores: sub
                    .max_core_count
                    .map(|m| m.saturating_sub(sub.current_core_count.unwrap_or(0)) as usize),
            });
        }
        Ok((quotas, cores))
    }

    /// Place nodes added to a running cluster into its existing cloud services (the emptiest
    /// first, at most 50 each) and storage accounts, and record them as `Planned`. When every
    /// service is full, a new one is planned (with the SSH certificate) in a subscription
    /// where the cluster has a storage account and the quota allows another service.
    async fn plan_additions(
        &self,
        added: &[&NodeRequest],
        existing: &[Resource],
        owner: &str,
        ledger: Arc<dyn Ledger>,
    ) -> Result<PlanSummary, ProviderError> {
        let res = ledger.resources();
        let mut cs_load: BTreeMap<(String, String), usize> = res
            .iter()
            .filter(|r| r.kind == K_CLOUD_SERVICE)
            .map(|r| ((r.scope.clone(), r.name.clone()), 0))
            .collect();
        let mut sa_load: BTreeMap<(String, String), usize> = res
            .iter()
            .filter(|r| r.kind == K_STORAGE)
            .map(|r| ((r.scope.clone(), r.name.clone()), 0))
            .collect();
        for vm in existing {
            let a = |k: &str| vm.attr(k).unwrap_or_default().to_string();
            *cs_load
                .entry((vm.scope.clone(), a("cloud_service")))
                .or_default() += 1;
            *sa_load
                .entry((vm.scope.clone(), a("storage_account")))
                .or_default() += 1;
        }
        let first_index = existing
            .iter()
            .filter_map(|v| v.attr("index").and_then(|i| i.parse::<usize>().ok()))
            .max()
            .map_or(0, |m| m + 1);
        let mut rs = Vec::new();
        let mut new_services: Vec<String> = Vec::new();
        // Free cloud-service quota per subscription, asked for once if needed.
        let mut free_services: Option<BTreeMap<String, usize>> = None;
        for (next_index, req) in (first_index..).zip(added) {
            let roomy = cs_load
                .iter()
                .filter(|(_, n)| **n < layout::MAX_VMS_PER_CLOUD_SERVICE)
                .min_by_key(|(k, n)| (**n, (*k).clone()))
                .map(|(k, _)| k.clone());
            let (scope, cs) = match roomy {
                Some(k) => k,
                None => {
                    if free_services.is_none() {
                        let (quotas, _) = self.quotas(&req.flavor).await?;
                        free_services = Some(
                            quotas
                                .into_iter()
                                .map(|q| (q.id, q.free_hosted_services))
                                .collect(),
                        );
                    }
                    let free = free_services.get_or_insert_with(BTreeMap::new);
                    let k = self.new_cloud_service(&cs_load, &sa_load, free)?;
                    rs.extend(self.cloud_service_resources(&k.0, &k.1)?);
                    new_services.push(k.1.clone());
                    cs_load.insert(k.clone(), 0);
                    k
                }
            };
            let Some((_, sa)) = sa_load
                .iter()
                .filter(|((s, _), _)| s == &scope)
                .min_by_key(|(k, n)| (**n, (*k).clone()))
                .map(|(k, _)| k.clone())
            else {
                return Err(ProviderError::other(format!(
                    "the cluster has no storage account in subscription {scope}"
                )));
            };
            *cs_load.entry((scope.clone(), cs.clone())).or_default() += 1;
            *sa_load.entry((scope.clone(), sa.clone())).or_default() += 1;
            let sub_index = self
                .inner
                .s
                .subscriptions
                .iter()
                .position(|s| s.id == scope)
                .unwrap_or(0);
            let vnet = existing
                .iter()
                .find(|v| v.scope == scope)
                .and_then(|v| v.attr("vnet"))
                .map(str::to_string)
                .unwrap_or_else(|| ownership::vnet_name(&self.inner.s.base_name, sub_index, owner));
            let port =
                layout::SSH_PORT_BASE.saturating_add(u16::try_from(next_index).unwrap_or(u16::MAX));
            rs.push(
                Resource::new(
                    K_VM,
                    &scope,
                    &layout::role_name(&self.inner.s.base_name, &req.name),
                )
                .with("node", &req.name)
                .with("kind", &req.kind)
                .with("index", next_index)
                .in_parent(&cs)
                .with("cloud_service", &cs)
                .with("storage_account", &sa)
                .with("vnet", &vnet)
                .with("ssh_port", port)
                .with("image", &req.image_id)
                .with("flavor", &req.flavor)
                .with("user", &req.image_user),
            );
        }
        ledger.record(&rs)?;
        let mut lines = vec![format!(
            "adding {} VMs to the cluster's {} cloud services",
            added.len(),
            cs_load.len()
        )];
        if !new_services.is_empty() {
            lines.push(format!(
                "every cloud service was full: new cloud service(s) {}",
                new_services.join(", ")
            ));
        }
        Ok(PlanSummary {
            lines,
            notes: Vec::new(),
        })
    }

    /// A new cloud service for a cluster whose services are all full: in a subscription
    /// where it has a storage account and the quota allows one more (which it then uses),
    /// named after the highest index the cluster has used.
    fn new_cloud_service(
        &self,
        cs_load: &BTreeMap<(String, String), usize>,
        sa_load: &BTreeMap<(String, String), usize>,
        free: &mut BTreeMap<String, usize>,
    ) -> Result<(String, String), ProviderError> {
        let base = &self.inner.s.base_name;
        let with_storage: BTreeSet<&str> = sa_load.keys().map(|(s, _)| s.as_str()).collect();
        let Some(scope) = self
            .inner
            .s
            .subscriptions
            .iter()
            .map(|a| a.id.as_str())
            .find(|id| with_storage.contains(id) && free.get(*id).copied().unwrap_or(0) > 0)
        else {
            return Err(ProviderError::other(format!(
                "every cloud service of the cluster already holds {} VMs and no subscription it uses has cloud-service quota left: free some, ask Azure support for more, or stop and start a larger cluster",
                layout::MAX_VMS_PER_CLOUD_SERVICE
            )));
        };
        if let Some(n) = free.get_mut(scope) {
            *n -= 1;
        }
        let next = cs_load
            .keys()
            .filter_map(|(_, name)| {
                name.strip_prefix(base.as_str())
                    .and_then(|r| r.strip_prefix("cs"))
                    .and_then(|d| d.parse::<usize>().ok())
            })
            .max()
            .map_or(0, |m| m + 1);
        Ok((scope.to_string(), layout::cloud_service_name(base, next)))
    }

    /// A cloud service and its SSH certificate, as `Planned` ledger entries.
    fn cloud_service_resources(
        &self,
        scope: &str,
        cs: &str,
    ) -> Result<Vec<Resource>, ProviderError> {
        let cert = self.ssh_cert()?;
        let sub_index = self
            .inner
            .s
            .subscriptions
            .iter()
            .position(|s| s.id == scope)
            .unwrap_or(0);
        Ok(vec![
            Resource::new(K_CLOUD_SERVICE, scope, cs).with("sub", sub_index),
            Resource::new(
                K_CERTIFICATE,
                scope,
                &format!("{cs}/sha1-{}", cert.thumbprint),
            )
            .in_parent(cs)
            .with("cloud_service", cs)
            .with("thumbprint", &cert.thumbprint),
        ])
    }
}
