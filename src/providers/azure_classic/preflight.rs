//! Checks before anything is created (`start`, and `start --dry-run` which stops after
//! them): every subscription accepts the management certificate, the location, images and
//! role sizes exist, the quotas cover what is still to create, the names the plan would use
//! are free or already this cluster's, and the SSH key can become a service certificate.
//! Also what the start would do: layout, quota use, expected duration (Azure's recorded
//! timings, see [`expected_start`]).
//!
//! Reads only: never creates, changes or deletes anything, never writes the ledger.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use super::catalog::{self, Catalog};
use super::error::AsmError;
use super::layout::{self, PlanInput, SubscriptionQuota};
use super::ownership;
use super::provider::{AzureClassicProvider, K_CLOUD_SERVICE, K_STORAGE};
use super::resources as r;
use super::transport::{AsmClient, ClientOptions};
use super::xml;
use crate::providers::{
    Ledger, NodeRequest, Preflight, PreflightProblem, ProviderError, ResourceState,
};
use futures_util::future::join_all;

/// Azure's recorded timings (seconds) of the steps on a start's critical path — the same
/// numbers the bundled emulator's latency model uses.
const CREATE_STORAGE_ACCOUNT: f64 = 25.0;
const ADD_CERTIFICATE: f64 = 20.0;
const SET_NETWORK_CONFIGURATION: f64 = 34.0;
const CREATE_DEPLOYMENT: f64 = 53.0;
const ADD_ROLE: f64 = 43.0;
const ROLE_BOOT: f64 = 90.0;

/// How long creating `n_vms` VMs takes when at most `per_service` share a cloud service:
/// storage account, network and certificate in parallel, then the deployment with its
/// first VM, the others one by one (Azure serialises them per deployment), then the last
/// one's boot. Scaled by `ELASTICLUSTER_TIME_SCALE` like every other time constant.
pub fn expected_start(n_vms: usize, per_service: usize) -> Option<Duration> {
    if n_vms == 0 {
        return None;
    }
    let secs = CREATE_STORAGE_ACCOUNT
        .max(ADD_CERTIFICATE)
        .max(SET_NETWORK_CONFIGURATION)
        + CREATE_DEPLOYMENT
        + per_service.saturating_sub(1) as f64 * ADD_ROLE
        + ROLE_BOOT;
    Some(Duration::from_secs_f64(
        secs * ClientOptions::env_time_scale(),
    ))
}

fn problem(key: Option<&str>, problem: String, fix: impl Into<String>) -> PreflightProblem {
    PreflightProblem {
        key: key.map(str::to_string),
        problem,
        fix: fix.into(),
    }
}

/// A reachable subscription: its id, client, quotas and catalogue.
struct Reached<'a> {
    id: String,
    client: &'a AsmClient,
    info: xml::Subscription,
    catalog: Catalog,
}

impl Reached<'_> {
    fn quota(&self) -> SubscriptionQuota {
        let i = &self.info;
        let free = |max: Option<u32>, cur: Option<u32>, default_max: u32| {
            max.unwrap_or(default_max).saturating_sub(cur.unwrap_or(0)) as usize
        };
        SubscriptionQuota {
            id: self.id.clone(),
            free_hosted_services: free(i.max_hosted_services, i.current_hosted_services, 20),
            free_storage_accounts: free(i.max_storage_accounts, i.current_storage_accounts, 100),
            free_cores: i
                .max_core_count
                .map(|m| m.saturating_sub(i.current_core_count.unwrap_or(0)) as usize),
        }
    }
}

/// What the start still has to create.
#[derive(Default)]
struct ToCreate {
    /// `(scope, name)` of cloud services and storage accounts.
    cloud_services: Vec<(String, String)>,
    storage_accounts: Vec<(String, String)>,
    /// Flavors of the VMs still to create.
    flavors: Vec<String>,
    max_per_service: usize,
}

impl AzureClassicProvider {
    pub(super) async fn check_before_start(
        &self,
        nodes: &[NodeRequest],
        ledger: Arc<dyn Ledger>,
    ) -> Result<Preflight, ProviderError> {
        let s = &self.inner.s;
        let mut pf = Preflight::default();
        let mut reached = Vec::new();
        // Every subscription at once, each read in one round of requests.
        let mut reads = Vec::new();
        for a in &s.subscriptions {
            let c = self.client(&a.id)?;
            reads.push(async move {
                let (info, catalog) = tokio::join!(r::get_subscription(c), Catalog::read(c));
                (a, c, info, catalog)
            });
        }
        // The service certificate is built while the subscriptions are read.
        let (read, cert) = tokio::join!(join_all(reads), self.ssh_cert_aside());
        for (a, c, info, catalog) in read {
            let info = match info {
                Ok(i) => i,
                Err(e) => {
                    pf.problems.push(subscription_problem(&a.id, e)?);
                    continue;
                }
            };
            pf.passed.push(format!(
                "subscription {}: the management certificate is accepted",
                a.id
            ));
            reached.push(Reached {
                id: a.id.clone(),
                client: c,
                info,
                catalog: catalog.map_err(ProviderError::from)?,
            });
        }
        if let Err(e) = cert {
            pf.problems.push(problem(
                Some("user_key_public"),
                e.to_string(),
                "point `user_key_public` at the OpenSSH RSA public key of `user_key_private`",
            ));
        }
        if reached.is_empty() {
            return Ok(pf);
        }
        self.check_catalog(nodes, &reached, &mut pf);
        let todo = self.what_to_create(nodes, &ledger, &reached, &mut pf);
        self.check_names(&todo, &reached, &mut pf).await?;
        pf.expected_start = expected_start(todo.flavors.len(), todo.max_per_service);
        Ok(pf)
    }

    /// Location, images and role sizes, in every reachable subscription.
    fn check_catalog(&self, nodes: &[NodeRequest], reached: &[Reached<'_>], pf: &mut Preflight) {
        let location = self.inner.s.location.as_str();
        let kinds_of = |pick: fn(&NodeRequest) -> &str| {
            let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for n in nodes {
                m.entry(pick(n).to_string())
                    .or_default()
                    .insert(n.kind.clone());
            }
            m
        };
        let images = kinds_of(|n| n.image_id.as_str());
        let flavors = kinds_of(|n| n.flavor.as_str());
        let mut bad_location = Vec::new();
        let mut missing_images: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut missing_sizes: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut not_here: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for sub in reached {
            let loc = sub.catalog.location(location);
            if loc.is_none() {
                bad_location.push(sub);
            }
            for image in images.keys() {
                if !sub.catalog.has_image(image) {
                    missing_images.entry(image).or_default().push(&sub.id);
                }
            }
            for flavor in flavors.keys() {
                let known = sub.catalog.role_size(flavor).is_some();
                let here = loc
                    .and_then(|l| l.vm_sizes())
                    .is_none_or(|sizes| sizes.iter().any(|x| x.eq_ignore_ascii_case(flavor)));
                if !known {
                    missing_sizes.entry(flavor).or_default().push(&sub.id);
                } else if !here {
                    not_here.entry(flavor).or_default().push(&sub.id);
                }
            }
        }
        match bad_location.first() {
            Some(sub) => {
                let names: Vec<&str> = sub
                    .catalog
                    .locations
                    .iter()
                    .map(|l| l.name.as_str())
                    .collect();
                pf.problems.push(problem(
                    Some("location"),
                    format!(
                        "{} is not a location of subscription {} (List Locations)",
                        shown(location),
                        sub.id
                    ),
                    format!("use one of: {}", names.join(", ")),
                ));
            }
            None => pf.passed.push(format!("location {location} exists")),
        }
        for (image, kinds) in &images {
            match missing_images.get(image.as_str()) {
                Some(subs) => pf.problems.push(problem(
                    Some("image_id"),
                    format!(
                        "image {} (node kinds {}) does not exist in subscription {} (List OS Images)",
                        shown(image),
                        join(kinds),
                        subs.join(", ")
                    ),
                    match closest(image, &reached[0].catalog.images) {
                        Some(c) => format!("fix `image_id`; did you mean `{c}`?"),
                        None => "set `image_id` to the name of an OS image of the subscription".into(),
                    },
                )),
                None => pf.passed.push(format!("image {image} exists")),
            }
        }
        let names: Vec<&str> = reached[0]
            .catalog
            .role_sizes
            .iter()
            .map(|x| x.name.as_str())
            .collect();
        for (flavor, kinds) in &flavors {
            if let Some(subs) = missing_sizes.get(flavor.as_str()) {
                pf.problems.push(problem(
                    Some("flavor"),
                    format!(
                        "role size {} (node kinds {}) does not exist in subscription {} (List Role Sizes)",
                        shown(flavor),
                        join(kinds),
                        subs.join(", ")
                    ),
                    match closest(flavor, &names) {
                        Some(c) => format!("fix `flavor`; did you mean `{c}`?"),
                        None => format!("use one of: {}", names.join(", ")),
                    },
                ));
            } else if let Some(subs) = not_here.get(flavor.as_str()) {
                pf.problems.push(problem(
                    Some("flavor"),
                    format!(
                        "role size {} (node kinds {}) is not offered for VMs in {} by subscription {} (List Locations)",
                        shown(flavor),
                        join(kinds),
                        shown(location),
                        subs.join(", ")
                    ),
                    "choose a size the location offers, or another `location`",
                ));
            } else {
                pf.passed.push(format!("role size {flavor} exists"));
            }
        }
    }

    /// The layout (a fresh plan, or what the ledger still lacks) and the quota check.
    fn what_to_create(
        &self,
        nodes: &[NodeRequest],
        ledger: &Arc<dyn Ledger>,
        reached: &[Reached<'_>],
        pf: &mut Preflight,
    ) -> ToCreate {
        let s = &self.inner.s;
        let cores_of = |flavor: &str| {
            reached[0]
                .catalog
                .role_size(flavor)
                .and_then(|x| x.cores)
                .map(|c| c as usize)
        };
        let res = ledger.resources();
        let vms = Self::vms_of(&res);
        let mut todo = ToCreate::default();
        let quotas: Vec<SubscriptionQuota> = reached.iter().map(Reached::quota).collect();
        if vms.is_empty() {
            let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
            let cores = nodes.iter().filter_map(|n| cores_of(&n.flavor)).max();
            match layout::plan(&PlanInput {
                base_name: &s.base_name,
                nodes: &names,
                subscriptions: &quotas,
                cores_per_vm: cores,
                n_cloud_services: s.n_cloud_services,
                n_storage_accounts: s.n_storage_accounts,
            }) {
                Ok(l) => {
                    pf.layout.push(format!(
                        "{} VMs in {} cloud services (at most {} per service), {} storage accounts, {} subscription(s)",
                        l.vms.len(),
                        l.n_cloud_services(),
                        l.max_vms_per_cloud_service(),
                        l.n_storage_accounts(),
                        l.subscriptions.len()
                    ));
                    for sub in &l.subscriptions {
                        pf.layout.push(format!(
                            "subscription {}: cloud services {}; storage accounts {}",
                            sub.id,
                            sub.cloud_services.join(", "),
                            sub.storage_accounts.join(", ")
                        ));
                        for cs in &sub.cloud_services {
                            todo.cloud_services.push((sub.id.clone(), cs.clone()));
                        }
                        for sa in &sub.storage_accounts {
                            todo.storage_accounts.push((sub.id.clone(), sa.clone()));
                        }
                    }
                    for n in &l.notes {
                        pf.layout.push(format!("note: {n}"));
                    }
                    todo.max_per_service = l.max_vms_per_cloud_service();
                }
                Err(layout::PlanError::Quota { n, detail }) => pf.problems.push(quota_problem(
                    nodes,
                    format!("not enough Azure quota for {n} VMs: {detail}"),
                )),
                Err(e) => {
                    pf.problems
                        .push(problem(Some("base_name"), e.to_string(), "fix `base_name`"))
                }
            }
            todo.flavors = nodes.iter().map(|n| n.flavor.clone()).collect();
        } else {
            let planned: BTreeSet<&str> = vms.iter().filter_map(|v| v.node()).collect();
            let mut per_service: BTreeMap<&str, usize> = BTreeMap::new();
            for v in vms.iter().filter(|v| v.state != ResourceState::Created) {
                todo.flavors
                    .push(v.attr("flavor").unwrap_or_default().to_string());
                *per_service
                    .entry(v.attr("cloud_service").unwrap_or_default())
                    .or_default() += 1;
            }
            let added: Vec<&NodeRequest> = nodes
                .iter()
                .filter(|n| !planned.contains(n.name.as_str()))
                .collect();
            todo.flavors.extend(added.iter().map(|n| n.flavor.clone()));
            for r in res.iter().filter(|r| r.state != ResourceState::Created) {
                let key = (r.scope.clone(), r.name.clone());
                match r.kind.as_str() {
                    K_CLOUD_SERVICE => todo.cloud_services.push(key),
                    K_STORAGE => todo.storage_accounts.push(key),
                    _ => {}
                }
            }
            let n_services = res.iter().filter(|r| r.kind == K_CLOUD_SERVICE).count();
            todo.max_per_service = per_service.values().copied().max().unwrap_or(0)
                + added.len().div_ceil(n_services.max(1));
            pf.layout.push(format!(
                "resuming: {} VMs planned, {} still to create ({} new nodes), {} cloud services and {} storage accounts still to create",
                vms.len(),
                todo.flavors.len(),
                added.len(),
                todo.cloud_services.len(),
                todo.storage_accounts.len()
            ));
        }
        // Cores of every VM still to create, against the free cores of all subscriptions.
        let needed: usize = todo.flavors.iter().filter_map(|f| cores_of(f)).sum();
        let free: Option<usize> = quotas.iter().map(|q| q.free_cores).sum();
        let quota_reported = pf.problems.iter().any(|p| p.problem.contains("quota"));
        if let Some(free) = free.filter(|f| needed > *f && !quota_reported) {
            pf.problems.push(quota_problem(
                nodes,
                format!("the VMs still to create need {needed} cores, the subscriptions have {free} free"),
            ));
        }
        for sub in reached {
            let i = &sub.info;
            let count = |v: &[(String, String)]| v.iter().filter(|(s, _)| *s == sub.id).count();
            let line = |what: &str, cur: Option<u32>, add: usize, max: Option<u32>| {
                format!(
                    "{what} {} + {add} of {}",
                    cur.unwrap_or(0),
                    max.map_or("?".to_string(), |m| m.to_string())
                )
            };
            pf.quotas.push(format!(
                "subscription {}: {}; {}; {}",
                sub.id,
                line(
                    "cores",
                    i.current_core_count,
                    if reached.len() == 1 { needed } else { 0 },
                    i.max_core_count
                ),
                line(
                    "cloud services",
                    i.current_hosted_services,
                    count(&todo.cloud_services),
                    i.max_hosted_services
                ),
                line(
                    "storage accounts",
                    i.current_storage_accounts,
                    count(&todo.storage_accounts),
                    i.max_storage_accounts
                ),
            ));
        }
        todo
    }

    /// The names still to create are free, or already this cluster's.
    async fn check_names(
        &self,
        todo: &ToCreate,
        reached: &[Reached<'_>],
        pf: &mut Preflight,
    ) -> Result<(), ProviderError> {
        let ours = self.inner.s.identity.owner_id.clone();
        for (label, list) in [
            ("cloud service", &todo.cloud_services),
            ("storage account", &todo.storage_accounts),
        ] {
            let mut free = 0;
            // Every name at once (at 1,000 VMs, 125 checks one after another took most of
            // a second); the results are read in the list's order.
            let checks = list.iter().map(|(scope, name)| async move {
                let c = reached.iter().find(|s| &s.id == scope)?.client;
                let taken = if label == "cloud service" {
                    catalog::cloud_service_name_taken(c, name).await
                } else {
                    catalog::storage_account_name_taken(c, name).await
                };
                Some((scope, name, c, taken))
            });
            for (scope, name, c, taken) in join_all(checks).await.into_iter().flatten() {
                let reason = match taken {
                    Ok(None) => {
                        free += 1;
                        continue;
                    }
                    Ok(Some(reason)) => reason,
                    Err(e) if e.status() == Some(400) => {
                        pf.problems.push(problem(
                            Some("base_name"),
                            format!(
                                "{label} name `{name}` is not valid: {}",
                                e.azure_message().unwrap_or("rejected")
                            ),
                            "choose another `base_name`",
                        ));
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
                let owner = if label == "cloud service" {
                    ownership::hosted_service(c, name).await?.map(|h| h.owner())
                } else {
                    ownership::storage_account(c, name)
                        .await?
                        .map(|s| s.owner())
                };
                match owner {
                    Some(o) if o.is_some() && o == ours => {
                        free += 1;
                    }
                    Some(o) => pf.problems.push(problem(
                        Some("base_name"),
                        format!(
                            "{label} {name} exists in subscription {scope} and is not this cluster's ({})",
                            o.map(|o| format!("owner id {o}")).unwrap_or_else(|| "no owner id".into())
                        ),
                        "stop the cluster that owns it, or choose another `base_name`",
                    )),
                    None => pf.problems.push(problem(
                        Some("base_name"),
                        format!("{label} name `{name}` is taken by another Azure customer ({reason})"),
                        "choose another `base_name`",
                    )),
                }
            }
            if free > 0 && free == list.len() {
                pf.passed
                    .push(format!("{label} names free: {free} of {free}"));
            }
        }
        Ok(())
    }
}

/// A subscription that could not be read: whose key is wrong. Transport failures are
/// errors (the checks could not run).
fn subscription_problem(id: &str, e: AsmError) -> Result<PreflightProblem, ProviderError> {
    Ok(match &e {
        AsmError::Forbidden {
            certificate,
            thumbprint,
            message,
            ..
        } => problem(
            Some("certificate"),
            format!("Azure refused the management certificate for subscription {id}: {message}"),
            format!(
                "upload `{certificate}` (thumbprint {thumbprint}) to subscription {id}, or fix `certificate` / `subscription_id`"
            ),
        ),
        _ if e.is_not_found() => problem(
            Some("subscription_id"),
            format!("subscription {id} does not exist ({})", e.azure_message().unwrap_or("not found")),
            "fix `subscription_id` (see the Azure portal's subscription list)",
        ),
        AsmError::Transport { .. } | AsmError::BadResponse { .. } => return Err(e.into()),
        _ => problem(
            Some("subscription_id"),
            format!("subscription {id}: {e}"),
            "check `subscription_id` and `certificate`",
        ),
    })
}

fn quota_problem(nodes: &[NodeRequest], detail: String) -> PreflightProblem {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for n in nodes {
        *counts.entry(n.kind.as_str()).or_default() += 1;
    }
    let biggest = counts
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(k, _)| format!("{k}_nodes"));
    let key = biggest.clone().unwrap_or_else(|| "nodes".into());
    problem(
        biggest.as_deref(),
        detail,
        format!("lower `{key}`, free or raise the quota (Azure support), or add subscriptions with `subscription_file`"),
    )
}

fn join(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// A value as messages show it: quoted, control characters escaped, cut to 80 characters.
fn shown(v: &str) -> String {
    crate::config::shown(v)
}

/// The candidate closest to `word` (within distance 3), for "did you mean".
fn closest<'a>(word: &str, candidates: &'a [impl AsRef<str>]) -> Option<&'a str> {
    crate::config::closest_word(word, candidates.iter().map(|c| c.as_ref()), 3)
}
