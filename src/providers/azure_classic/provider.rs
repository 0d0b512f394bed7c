//! `CloudProvider` for Azure classic: plan into the ledger, create with one queue per cloud
//! service (queues of different services run concurrently), report node status, delete.
//!
//! Every resource is in the ledger as `Planned` before its create request is sent and is
//! marked `Created` when Azure confirms it; teardown forgets each resource only once Azure
//! says it is gone. Never touches SSH or Ansible.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

use super::error::AsmError;
use super::identity::{ssh_service_cert, SshServiceCert};
use super::layout::{self, PlanInput, SubscriptionQuota, SUBNET_NAME};
use super::resources as r;
use super::transport::{AsmClient, ClientOptions, SubscriptionAccess};
use super::xml::{Deployment, RoleSpec};
use crate::providers::{
    CloudProvider, Events, Ledger, NodeInfo, NodePhase, NodeRequest, PlanSummary, ProviderError,
    ProviderEvent, Resource, ResourceState, TeardownOptions, TeardownReport,
};

pub const K_CLOUD_SERVICE: &str = "cloud_service";
pub const K_CERTIFICATE: &str = "service_certificate";
pub const K_STORAGE: &str = "storage_account";
pub const K_VNET: &str = "vnet";
pub const K_VM: &str = "vm";

/// Everything the Azure provider needs, already validated by the config layer.
#[derive(Clone, Debug)]
pub struct AzureSettings {
    /// Index 0 = the cloud section's subscription, then `subscription_file` entries.
    pub subscriptions: Vec<SubscriptionAccess>,
    pub location: String,
    pub base_name: String,
    /// `[login] user_key_public` (OpenSSH RSA public key or a PEM certificate).
    pub user_key_public: PathBuf,
    /// `[login] user_key_private`.
    pub user_key_private: PathBuf,
    pub use_public_ips: bool,
    pub n_cloud_services: Option<usize>,
    pub n_storage_accounts: Option<usize>,
    pub client: ClientOptions,
}

struct Inner {
    s: AzureSettings,
    /// Subscription id → client.
    clients: BTreeMap<String, AsmClient>,
}

#[derive(Clone)]
pub struct AzureClassicProvider {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AzureClassicProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureClassicProvider")
            .field("base_name", &self.inner.s.base_name)
            .finish_non_exhaustive()
    }
}

type Gate = watch::Sender<Option<Result<(), String>>>;

async fn wait_gate(rx: &mut watch::Receiver<Option<Result<(), String>>>) -> Result<(), String> {
    match rx.wait_for(|v| v.is_some()).await {
        Ok(v) => v.clone().unwrap_or(Ok(())),
        Err(_) => Err("preparation task ended unexpectedly".into()),
    }
}

impl AzureClassicProvider {
    pub fn new(settings: AzureSettings) -> Result<Self, ProviderError> {
        if settings.subscriptions.is_empty() {
            return Err(ProviderError::Other(
                "no Azure subscription configured".into(),
            ));
        }
        let mut clients = BTreeMap::new();
        for a in &settings.subscriptions {
            clients.insert(a.id.clone(), AsmClient::new(a, settings.client.clone())?);
        }
        Ok(AzureClassicProvider {
            inner: Arc::new(Inner {
                s: settings,
                clients,
            }),
        })
    }

    fn client(&self, scope: &str) -> Result<&AsmClient, ProviderError> {
        self.inner.clients.get(scope).ok_or_else(|| {
            ProviderError::Other(format!(
                "the cluster state names subscription {scope}, which is not configured any more: \
                 add it back (cloud section or subscription_file) to manage these resources"
            ))
        })
    }

    fn ssh_cert(&self) -> Result<SshServiceCert, ProviderError> {
        Ok(ssh_service_cert(
            &self.inner.s.user_key_public,
            &self.inner.s.user_key_private,
            &format!("elasticluster {}", self.inner.s.base_name),
        )?)
    }

    fn role_spec(&self, vm: &Resource, cert: &SshServiceCert) -> RoleSpec {
        let a = |k: &str| vm.attr(k).unwrap_or_default().to_string();
        let user = a("user");
        RoleSpec {
            role_name: vm.name.clone(),
            host_name: a("node"),
            ssh_fingerprint: cert.thumbprint.clone(),
            ssh_path: format!("/home/{user}/.ssh/authorized_keys"),
            user_name: user,
            ssh_public_port: a("ssh_port").parse().unwrap_or(layout::SSH_PORT_BASE),
            subnet_name: Some(SUBNET_NAME.to_string()),
            public_ip_name: self
                .inner
                .s
                .use_public_ips
                .then(|| format!("{}-pip", vm.name)),
            media_link: format!(
                "https://{}.blob.core.windows.net/vhds/{}.vhd",
                a("storage_account"),
                vm.name
            ),
            source_image_name: a("image"),
            role_size: a("flavor"),
        }
    }

    async fn quotas(
        &self,
        cores_flavor: &str,
    ) -> Result<(Vec<SubscriptionQuota>, Option<usize>), ProviderError> {
        let mut quotas = Vec::new();
        let mut cores = None;
        for a in &self.inner.s.subscriptions {
            let c = self.client(&a.id)?;
            let sub = r::get_subscription(c).await?;
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
            if cores.is_none() {
                match r::role_size_cores(c, cores_flavor).await {
                    Ok(v) => cores = v.map(|c| c as usize),
                    Err(e) => warn!("cannot read role sizes (cores quota not checked): {e}"),
                }
            }
        }
        Ok((quotas, cores))
    }

    /// Place nodes added to a running cluster into its existing cloud services (the emptiest
    /// first, at most 50 each) and storage accounts, and record them as `Planned`.
    fn plan_additions(
        &self,
        added: &[&NodeRequest],
        existing: &[Resource],
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
        for (next_index, req) in (first_index..).zip(added) {
            let Some(((scope, cs), _)) = cs_load
                .iter()
                .filter(|(_, n)| **n < layout::MAX_VMS_PER_CLOUD_SERVICE)
                .min_by_key(|(k, n)| (**n, (*k).clone()))
                .map(|(k, n)| (k.clone(), *n))
            else {
                return Err(ProviderError::Other(format!(
                    "every cloud service of the cluster already holds {} VMs: stop and start a larger cluster instead",
                    layout::MAX_VMS_PER_CLOUD_SERVICE
                )));
            };
            let Some((_, sa)) = sa_load
                .iter()
                .filter(|((s, _), _)| s == &scope)
                .min_by_key(|(k, n)| (**n, (*k).clone()))
                .map(|(k, _)| k.clone())
            else {
                return Err(ProviderError::Other(format!(
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
                .unwrap_or_else(|| layout::vnet_name(&self.inner.s.base_name, sub_index));
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
        Ok(PlanSummary {
            lines: vec![format!(
                "adding {} VMs to the cluster's {} cloud services",
                rs.len(),
                cs_load.len()
            )],
            notes: Vec::new(),
        })
    }

    fn vms_of(res: &[Resource]) -> Vec<Resource> {
        let mut v: Vec<Resource> = res.iter().filter(|r| r.kind == K_VM).cloned().collect();
        v.sort_by_key(|r| {
            r.attr("index")
                .and_then(|i| i.parse::<usize>().ok())
                .unwrap_or(usize::MAX)
        });
        v
    }

    fn node_info(&self, vm: &Resource, dep: Option<&Deployment>) -> NodeInfo {
        let node = vm.attr("node").unwrap_or(&vm.name).to_string();
        let planned_port: Option<u16> = vm.attr("ssh_port").and_then(|p| p.parse().ok());
        let mut info = NodeInfo {
            name: node,
            instance_id: vm.name.clone(),
            phase: if vm.state == ResourceState::Planned {
                NodePhase::Creating
            } else {
                NodePhase::Gone
            },
            ssh_host: None,
            ssh_port: None,
            private_ip: None,
            cloud_status: "not found".into(),
        };
        let Some(dep) = dep else { return info };
        let Some(inst) = dep.instance(&vm.name) else {
            return info;
        };
        info.cloud_status = format!(
            "{}/{}",
            inst.instance_status,
            inst.power_state.as_deref().unwrap_or("-")
        );
        if let Some(d) = inst
            .instance_state_details
            .as_deref()
            .filter(|d| !d.is_empty())
        {
            info.cloud_status.push_str(&format!(" ({d})"));
        }
        info.private_ip = inst.ip_address.clone();
        if self.inner.s.use_public_ips {
            info.ssh_host = inst
                .public_ips
                .as_ref()
                .and_then(|p| p.items.iter().find_map(|i| i.address.clone()));
            info.ssh_port = Some(22);
        } else {
            let ep = inst
                .endpoints()
                .iter()
                .find(|e| {
                    e.local_port == Some(22)
                        && (planned_port.is_none() || e.public_port == planned_port)
                })
                .or_else(|| inst.endpoints().iter().find(|e| e.local_port == Some(22)));
            match ep {
                Some(e) => {
                    info.ssh_host = e.vip.clone().or_else(|| dep.vip().map(str::to_string));
                    info.ssh_port = e.public_port;
                }
                None => {
                    info.ssh_host = dep.vip().map(str::to_string);
                    info.ssh_port = planned_port;
                }
            }
        }
        info.phase = if inst.is_ready() {
            NodePhase::Running
        } else if inst.is_failed() {
            NodePhase::Failed(info.cloud_status.clone())
        } else {
            NodePhase::Booting(info.cloud_status.clone())
        };
        info
    }
}

/// A create request was sent but its outcome never recorded (the run was killed).
fn unconfirmed(r: &Resource) -> bool {
    r.state == ResourceState::Planned && r.attr("requested").is_some()
}

/// Wait (up to `settle`) for a resource whose create request may still be landing.
async fn settle<F, Fut>(c: &AsmClient, exists: F) -> Result<(), AsmError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<bool, AsmError>>,
{
    let deadline = std::time::Instant::now() + c.opts.settle;
    while !exists().await? {
        if std::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(c.opts.poll_max).await;
    }
    Ok(())
}

fn err_s(e: impl std::fmt::Display) -> String {
    e.to_string()
}

#[async_trait]
impl CloudProvider for AzureClassicProvider {
    async fn plan(
        &self,
        nodes: &[NodeRequest],
        ledger: Arc<dyn Ledger>,
    ) -> Result<PlanSummary, ProviderError> {
        let s = &self.inner.s;
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
                return self.plan_additions(&added, &existing, ledger);
            }
            return Err(ProviderError::Other(format!(
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
        let (quotas, cores) = self.quotas(&flavor).await?;
        let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
        let l = layout::plan(&PlanInput {
            base_name: &s.base_name,
            nodes: &names,
            subscriptions: &quotas,
            cores_per_vm: cores,
            n_cloud_services: s.n_cloud_services,
            n_storage_accounts: s.n_storage_accounts,
        })?;
        let cert = self.ssh_cert()?;
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
                    .with("cloud_service", &vm.cloud_service)
                    .with("storage_account", &vm.storage_account)
                    .with("vnet", layout::vnet_name(&s.base_name, vm.subscription))
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

    async fn create(
        &self,
        ledger: Arc<dyn Ledger>,
        events: Events,
    ) -> Result<Vec<(String, Result<(), String>)>, ProviderError> {
        let res = ledger.resources();
        let cert = Arc::new(self.ssh_cert()?);
        let vms = Self::vms_of(&res);
        let prep: Vec<Resource> = res
            .iter()
            .filter(|r| [K_CLOUD_SERVICE, K_STORAGE, K_VNET].contains(&r.kind.as_str()))
            .cloned()
            .collect();
        events(ProviderEvent::Planned {
            resources: prep.len(),
            vms: vms.len(),
        });
        // One gate per preparation resource, opened when it exists.
        let mut gates: HashMap<(String, String), Gate> = HashMap::new();
        let mut tasks: JoinSet<()> = JoinSet::new();
        for p in &prep {
            let (tx, _) = watch::channel(None);
            let key = (p.kind.clone(), p.name.clone());
            if p.state == ResourceState::Created {
                tx.send_replace(Some(Ok(())));
                events(ProviderEvent::ResourceDone {
                    kind: p.kind.clone(),
                    name: p.name.clone(),
                });
                gates.insert(key, tx);
                continue;
            }
            let tx2 = tx.clone();
            gates.insert(key, tx);
            let me = self.clone();
            let p = p.clone();
            let ledger = ledger.clone();
            let cert = cert.clone();
            let events = events.clone();
            let certs: Vec<Resource> = res
                .iter()
                .filter(|c| {
                    c.kind == K_CERTIFICATE && c.attr("cloud_service") == Some(p.name.as_str())
                })
                .cloned()
                .collect();
            tasks.spawn(async move {
                let out: Result<(), String> = async {
                    let c = me.client(&p.scope).map_err(err_s)?;
                    // From here on the outcome may be unknown if we are killed: say so.
                    let p = p.clone().with("requested", "1");
                    ledger.record(std::slice::from_ref(&p)).map_err(err_s)?;
                    let loc = &me.inner.s.location;
                    let desc = format!("elasticluster {}", me.inner.s.base_name);
                    match p.kind.as_str() {
                        K_CLOUD_SERVICE => {
                            r::ensure_hosted_service(c, &p.name, loc, &desc).await.map_err(err_s)?;
                            for cr in &certs {
                                if cr.attr("thumbprint") == Some(cert.thumbprint.as_str()) {
                                    r::ensure_service_certificate(c, &p.name, &cert.thumbprint, &cert.data_base64())
                                        .await
                                        .map_err(err_s)?;
                                    ledger.set_state(cr, ResourceState::Created).map_err(err_s)?;
                                } else {
                                    return Err(format!(
                                        "the SSH key changed since cloud service {} was planned (certificate {} expected): \
                                         restore the key or stop the cluster",
                                        p.name,
                                        cr.attr("thumbprint").unwrap_or("?")
                                    ));
                                }
                            }
                        }
                        K_STORAGE => r::ensure_storage_account(c, &p.name, loc, &desc).await.map_err(err_s)?,
                        K_VNET => r::ensure_vnet(c, &p.name, p.attr("location").unwrap_or(loc)).await.map_err(err_s)?,
                        _ => {}
                    }
                    ledger.set_state(&p, ResourceState::Created).map_err(err_s)?;
                    events(ProviderEvent::ResourceDone {
                        kind: p.kind.clone(),
                        name: p.name.clone(),
                    });
                    Ok(())
                }
                .await;
                if let Err(e) = &out {
                    warn!("{} {}: {e}", p.kind, p.name);
                }
                tx2.send_replace(Some(out));
            });
        }
        // One queue per cloud service.
        let mut by_cs: BTreeMap<(String, String), Vec<Resource>> = BTreeMap::new();
        for vm in &vms {
            by_cs
                .entry((
                    vm.scope.clone(),
                    vm.attr("cloud_service").unwrap_or_default().to_string(),
                ))
                .or_default()
                .push(vm.clone());
        }
        let mut queues: JoinSet<Vec<(String, Result<(), String>)>> = JoinSet::new();
        for ((scope, cs), members) in by_cs {
            let gate = |kind: &str, name: &str| {
                gates
                    .get(&(kind.to_string(), name.to_string()))
                    .map(|g| g.subscribe())
            };
            let cs_gate = gate(K_CLOUD_SERVICE, &cs);
            let vnet_gate = members
                .first()
                .and_then(|m| m.attr("vnet"))
                .and_then(|v| gate(K_VNET, v));
            let sa_gates: HashMap<String, _> = members
                .iter()
                .filter_map(|m| m.attr("storage_account"))
                .filter_map(|sa| gate(K_STORAGE, sa).map(|g| (sa.to_string(), g)))
                .collect();
            let me = self.clone();
            let ledger = ledger.clone();
            let cert = cert.clone();
            let events = events.clone();
            queues.spawn(async move {
                let node_of = |m: &Resource| m.attr("node").unwrap_or(&m.name).to_string();
                let mut results = Vec::new();
                let fail_all =
                    |why: String,
                     members: &[Resource],
                     results: &mut Vec<(String, Result<(), String>)>| {
                        for m in members {
                            events(ProviderEvent::VmFailed {
                                node: node_of(m),
                                error: why.clone(),
                            });
                            results.push((node_of(m), Err(why.clone())));
                        }
                    };
                for g in [cs_gate, vnet_gate].into_iter().flatten() {
                    let mut g = g;
                    if let Err(e) = wait_gate(&mut g).await {
                        fail_all(e, &members, &mut results);
                        return results;
                    }
                }
                let c = match me.client(&scope) {
                    Ok(c) => c.clone(),
                    Err(e) => {
                        fail_all(e.to_string(), &members, &mut results);
                        return results;
                    }
                };
                let existing = match r::get_deployment(&c, &cs).await {
                    Ok(d) => d,
                    Err(e) => {
                        fail_all(e.to_string(), &members, &mut results);
                        return results;
                    }
                };
                let mut have_deployment = existing.is_some();
                let existing_roles: BTreeSet<String> = existing
                    .map(|d| d.role_list.items.into_iter().map(|r| r.role_name).collect())
                    .unwrap_or_default();
                let mut sa_gates = sa_gates;
                for m in &members {
                    let node = node_of(m);
                    if m.state == ResourceState::Created || existing_roles.contains(&m.name) {
                        if m.state != ResourceState::Created {
                            if let Err(e) = ledger.set_state(m, ResourceState::Created) {
                                results.push((node, Err(e.to_string())));
                                continue;
                            }
                        }
                        events(ProviderEvent::VmCreated {
                            node: node.clone(),
                            group: cs.clone(),
                        });
                        results.push((node, Ok(())));
                        continue;
                    }
                    if let Some(g) = m
                        .attr("storage_account")
                        .and_then(|sa| sa_gates.get_mut(sa))
                    {
                        if let Err(e) = wait_gate(g).await {
                            events(ProviderEvent::VmFailed {
                                node: node.clone(),
                                error: e.clone(),
                            });
                            results.push((node, Err(e)));
                            continue;
                        }
                    }
                    let spec = me.role_spec(m, &cert);
                    let m = &m.clone().with("requested", "1");
                    if let Err(e) = ledger.record(std::slice::from_ref(m)) {
                        results.push((node, Err(e.to_string())));
                        continue;
                    }
                    let out = if have_deployment {
                        r::add_role(&c, &cs, &spec).await
                    } else {
                        r::create_deployment(&c, &cs, &spec, m.attr("vnet")).await
                    };
                    match out {
                        Ok(()) => {
                            have_deployment = true;
                            if let Err(e) = ledger.set_state(m, ResourceState::Created) {
                                results.push((node, Err(e.to_string())));
                                continue;
                            }
                            events(ProviderEvent::VmCreated {
                                node: node.clone(),
                                group: cs.clone(),
                            });
                            results.push((node, Ok(())));
                        }
                        Err(e) => {
                            // a failed create may still have left a deployment behind
                            if !have_deployment {
                                if let Ok(Some(_)) = r::get_deployment(&c, &cs).await {
                                    have_deployment = true;
                                }
                            }
                            warn!("VM {node}: {e}");
                            events(ProviderEvent::VmFailed {
                                node: node.clone(),
                                error: e.to_string(),
                            });
                            results.push((node, Err(e.to_string())));
                        }
                    }
                }
                results
            });
        }
        let mut all = Vec::new();
        while let Some(r) = queues.join_next().await {
            match r {
                Ok(v) => all.extend(v),
                Err(e) => return Err(ProviderError::Other(format!("VM queue crashed: {e}"))),
            }
        }
        while tasks.join_next().await.is_some() {}
        Ok(all)
    }

    async fn nodes(&self, ledger: Arc<dyn Ledger>) -> Result<Vec<NodeInfo>, ProviderError> {
        let vms = Self::vms_of(&ledger.resources());
        let mut services: BTreeSet<(String, String)> = BTreeSet::new();
        for vm in &vms {
            services.insert((
                vm.scope.clone(),
                vm.attr("cloud_service").unwrap_or_default().to_string(),
            ));
        }
        let mut js: JoinSet<Result<((String, String), Option<Deployment>), AsmError>> =
            JoinSet::new();
        for (scope, cs) in services {
            let c = self.client(&scope)?.clone();
            js.spawn(async move {
                let d = r::get_deployment(&c, &cs).await?;
                Ok(((scope, cs), d))
            });
        }
        let mut deps = HashMap::new();
        while let Some(j) = js.join_next().await {
            let (k, d) = j.map_err(|e| ProviderError::Other(e.to_string()))??;
            deps.insert(k, d);
        }
        Ok(vms
            .iter()
            .map(|vm| {
                let key = (
                    vm.scope.clone(),
                    vm.attr("cloud_service").unwrap_or_default().to_string(),
                );
                self.node_info(vm, deps.get(&key).and_then(|d| d.as_ref()))
            })
            .collect())
    }

    async fn delete_nodes(
        &self,
        names: &[String],
        ledger: Arc<dyn Ledger>,
    ) -> Result<(), ProviderError> {
        let vms = Self::vms_of(&ledger.resources());
        let doomed: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        let mut by_cs: BTreeMap<(String, String), (Vec<Resource>, usize)> = BTreeMap::new();
        for vm in &vms {
            let e = by_cs
                .entry((
                    vm.scope.clone(),
                    vm.attr("cloud_service").unwrap_or_default().to_string(),
                ))
                .or_default();
            if doomed.contains(vm.attr("node").unwrap_or(&vm.name)) {
                e.0.push(vm.clone());
            } else {
                e.1 += 1;
            }
        }
        let mut js: JoinSet<Result<(), ProviderError>> = JoinSet::new();
        for ((scope, cs), (gone, keep)) in by_cs {
            if gone.is_empty() {
                continue;
            }
            let c = self.client(&scope)?.clone();
            let ledger = ledger.clone();
            js.spawn(async move {
                for m in &gone {
                    ledger.set_state(m, ResourceState::Deleting)?;
                }
                let dep = r::get_deployment(&c, &cs).await?;
                let roles_left = dep.as_ref().map(|d| {
                    d.role_list
                        .items
                        .iter()
                        .filter(|r| !gone.iter().any(|g| g.name == r.role_name))
                        .count()
                });
                if keep == 0 || roles_left == Some(0) {
                    if dep.is_some() {
                        r::delete_deployment(&c, &cs).await?;
                    }
                } else {
                    for m in &gone {
                        r::delete_role(&c, &cs, &m.name).await?;
                        ledger.forget(K_VM, &m.scope, &m.name)?;
                    }
                }
                for m in &gone {
                    ledger.forget(K_VM, &m.scope, &m.name)?;
                }
                Ok(())
            });
        }
        while let Some(j) = js.join_next().await {
            j.map_err(|e| ProviderError::Other(e.to_string()))??;
        }
        Ok(())
    }

    async fn teardown(
        &self,
        ledger: Arc<dyn Ledger>,
        opts: TeardownOptions,
        events: Events,
    ) -> Result<TeardownReport, ProviderError> {
        let base = self.inner.s.base_name.clone();
        let mut report = TeardownReport::default();
        if opts.force {
            // Adopt whatever carries our naming pattern in every configured subscription.
            let pat = |name: &str, infix: &str| {
                name.strip_prefix(&base)
                    .and_then(|r| r.strip_prefix(infix))
                    .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            };
            let mut adopt = Vec::new();
            for (id, c) in &self.inner.clients {
                for hs in r::list_hosted_services(c).await? {
                    if pat(&hs, "cs") {
                        adopt.push(Resource::new(K_CLOUD_SERVICE, id, &hs));
                    }
                }
                for sa in r::list_storage_accounts(c).await? {
                    if pat(&sa, "sa") {
                        adopt.push(Resource::new(K_STORAGE, id, &sa));
                    }
                }
                for vn in r::list_vnet_names(c).await? {
                    if pat(&vn, "vn") {
                        adopt.push(Resource::new(K_VNET, id, &vn));
                    }
                }
            }
            let known = ledger.resources();
            let new: Vec<Resource> = adopt
                .into_iter()
                .filter(|a| !known.iter().any(|k| k.same(a)))
                .map(|mut a| {
                    a.state = ResourceState::Created;
                    a
                })
                .collect();
            if !new.is_empty() {
                info!(
                    "--force: also deleting {} resources found by name",
                    new.len()
                );
                ledger.record(&new)?;
            }
        }
        let res = ledger.resources();
        // Every subscription is torn down concurrently, each as a pipeline: all deployments
        // (with media) first; then, at the same time, the cloud services, leftover disks and
        // storage accounts, and the vnet (which only waits for the deployments).
        let mut scopes: BTreeSet<String> = res.iter().map(|r| r.scope.clone()).collect();
        scopes.retain(|s| !s.is_empty());
        let mut js: JoinSet<Result<TeardownReport, ProviderError>> = JoinSet::new();
        for scope in scopes {
            let c = self.client(&scope)?.clone();
            let ledger = ledger.clone();
            let events = events.clone();
            let mine: Vec<Resource> = res.iter().filter(|r| r.scope == scope).cloned().collect();
            js.spawn(async move { teardown_subscription(c, mine, ledger, events).await });
        }
        while let Some(j) = js.join_next().await {
            let part =
                j.map_err(|e| ProviderError::Other(format!("teardown task failed: {e}")))??;
            report.deleted.extend(part.deleted);
            report.remaining.extend(part.remaining);
        }
        Ok(report)
    }
}

/// Tear down everything of one subscription (see `teardown`).
async fn teardown_subscription(
    c: AsmClient,
    res: Vec<Resource>,
    ledger: Arc<dyn Ledger>,
    events: Events,
) -> Result<TeardownReport, ProviderError> {
    let mut report = TeardownReport::default();
    let services: BTreeSet<String> = res
        .iter()
        .filter(|r| r.kind == K_CLOUD_SERVICE)
        .map(|r| r.name.clone())
        .collect();
    // VMs whose cloud service is not (or no longer) in the ledger still need their deployment gone.
    let mut deployments = services.clone();
    deployments.extend(
        res.iter()
            .filter(|r| r.kind == K_VM)
            .filter_map(|r| r.attr("cloud_service").map(str::to_string)),
    );
    // 1. Deployments, concurrently.
    let mut js: JoinSet<(String, Result<(), AsmError>)> = JoinSet::new();
    for cs in deployments.iter().cloned() {
        let c = c.clone();
        js.spawn(async move {
            let out = r::delete_deployment(&c, &cs).await;
            (cs, out)
        });
    }
    let mut failed = false;
    while let Some(j) = js.join_next().await {
        let (cs, out) = j.map_err(|e| ProviderError::Other(e.to_string()))?;
        match out {
            Ok(()) => {
                let gone: Vec<Resource> = res
                    .iter()
                    .filter(|v| v.kind == K_VM && v.attr("cloud_service") == Some(cs.as_str()))
                    .cloned()
                    .collect();
                ledger.forget_all(&gone)?;
            }
            Err(e) => {
                failed = true;
                report
                    .remaining
                    .push((format!("deployment {cs}"), e.to_string()));
            }
        }
    }
    // 2. Cloud services, storage (after leftover disks) and the vnet, concurrently.
    let mut js: JoinSet<Result<TeardownReport, ProviderError>> = JoinSet::new();
    for cs in services {
        if report
            .remaining
            .iter()
            .any(|(w, _)| w == &format!("deployment {cs}"))
        {
            continue;
        }
        let (c, ledger, events, res) = (c.clone(), ledger.clone(), events.clone(), res.clone());
        js.spawn(async move {
            let mut rep = TeardownReport::default();
            match r::delete_hosted_service(&c, &cs).await {
                Ok(()) => {
                    for cr in res.iter().filter(|x| {
                        x.kind == K_CERTIFICATE && x.attr("cloud_service") == Some(cs.as_str())
                    }) {
                        ledger.forget(K_CERTIFICATE, &cr.scope, &cr.name)?;
                    }
                    ledger.forget(K_CLOUD_SERVICE, c.subscription(), &cs)?;
                    events(ProviderEvent::Deleted {
                        kind: K_CLOUD_SERVICE.into(),
                        name: cs.clone(),
                    });
                    rep.deleted.push(format!("cloud service {cs}"));
                }
                Err(e) => rep
                    .remaining
                    .push((format!("cloud service {cs}"), e.to_string())),
            }
            Ok(rep)
        });
    }
    let storage: Vec<Resource> = res
        .iter()
        .filter(|r| r.kind == K_STORAGE)
        .cloned()
        .collect();
    {
        let (c, ledger, events) = (c.clone(), ledger.clone(), events.clone());
        let deployments = deployments.clone();
        js.spawn(async move {
            let mut rep = TeardownReport::default();
            if storage.is_empty() {
                return Ok(rep);
            }
            let sas: BTreeSet<String> = storage.iter().map(|s| s.name.clone()).collect();
            let ours = |d: &super::xml::Disk| {
                d.attached_to
                    .as_ref()
                    .is_some_and(|a| deployments.contains(&a.hosted_service_name))
                    || d.media_link
                        .as_deref()
                        .is_some_and(|m| sas.iter().any(|sa| m.contains(&format!("//{sa}.blob."))))
            };
            if let Err(e) = r::delete_leftover_disks(&c, ours).await {
                rep.remaining.push((
                    format!("disks in subscription {}", c.subscription()),
                    e.to_string(),
                ));
            }
            let mut sj: JoinSet<(Resource, Result<(), AsmError>)> = JoinSet::new();
            for sa in storage {
                let c = c.clone();
                sj.spawn(async move {
                    let out = async {
                        if unconfirmed(&sa) {
                            settle(&c, || r::storage_account_exists(&c, &sa.name)).await?;
                        }
                        r::delete_storage_account(&c, &sa.name).await
                    }
                    .await;
                    (sa, out)
                });
            }
            while let Some(j) = sj.join_next().await {
                let (sa, out) = j.map_err(|e| ProviderError::Other(e.to_string()))?;
                match out {
                    Ok(()) => {
                        ledger.forget(K_STORAGE, &sa.scope, &sa.name)?;
                        events(ProviderEvent::Deleted {
                            kind: K_STORAGE.into(),
                            name: sa.name.clone(),
                        });
                        rep.deleted.push(format!("storage account {}", sa.name));
                    }
                    Err(e) => rep
                        .remaining
                        .push((format!("storage account {}", sa.name), e.to_string())),
                }
            }
            Ok(rep)
        });
    }
    let vnets: Vec<Resource> = res.iter().filter(|r| r.kind == K_VNET).cloned().collect();
    {
        let (c, ledger, events) = (c.clone(), ledger.clone(), events.clone());
        js.spawn(async move {
            let mut rep = TeardownReport::default();
            // One network-configuration write at a time per subscription.
            for vn in vnets {
                if failed {
                    rep.remaining.push((
                        format!("virtual network {}", vn.name),
                        "kept: a deployment in it could not be deleted".into(),
                    ));
                    continue;
                }
                let out = async {
                    if unconfirmed(&vn) {
                        settle(&c, || async {
                            Ok(r::list_vnet_names(&c).await?.iter().any(|n| n == &vn.name))
                        })
                        .await?;
                    }
                    r::remove_vnet(&c, &vn.name).await
                }
                .await;
                match out {
                    Ok(()) => {
                        ledger.forget(K_VNET, &vn.scope, &vn.name)?;
                        events(ProviderEvent::Deleted {
                            kind: K_VNET.into(),
                            name: vn.name.clone(),
                        });
                        rep.deleted.push(format!("virtual network {}", vn.name));
                    }
                    Err(e) => rep
                        .remaining
                        .push((format!("virtual network {}", vn.name), e.to_string())),
                }
            }
            Ok(rep)
        });
    }
    while let Some(j) = js.join_next().await {
        let part = j.map_err(|e| ProviderError::Other(e.to_string()))??;
        report.deleted.extend(part.deleted);
        report.remaining.extend(part.remaining);
    }
    Ok(report)
}
