//! Teardown: delete every resource the ledger lists, forgetting each only once Azure says it
//! is gone; an entry never confirmed created that turns out to be another cluster's is
//! forgotten untouched.
//!
//! Subscriptions go concurrently, each as a pipeline: all deployments (with their disks'
//! media) first, then every class of [`AFTER_DEPLOYMENTS`] at the same time. What could not
//! be deleted stays in the ledger and in the report, with Azure's reason.

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::task::JoinSet;
use tracing::info;

use super::error::AsmError;
use super::ledger_writes::{forget_later, Pending};
use super::ownership;
use super::provider::{
    AzureClassicProvider, K_CERTIFICATE, K_CLOUD_SERVICE, K_STORAGE, K_VM, K_VNET,
};
use super::resources as r;
use super::transport::AsmClient;
use crate::providers::{
    Events, Ledger, ProviderError, ProviderEvent, Resource, ResourceState, TeardownOptions,
    TeardownReport, ATTR_REQUESTED,
};

/// A kind of resource deleted after the deployments.
struct Class {
    kind: &'static str,
    /// How messages name it.
    label: &'static str,
    /// One request at a time (Azure serialises network-configuration writes).
    one_at_a_time: bool,
}

/// Deleted concurrently with each other once the deployments are gone: cloud services;
/// storage accounts (after the disks leased from them); virtual networks (kept when a
/// deployment in them could not be deleted).
const AFTER_DEPLOYMENTS: [Class; 3] = [
    Class {
        kind: K_CLOUD_SERVICE,
        label: "cloud service",
        one_at_a_time: false,
    },
    Class {
        kind: K_STORAGE,
        label: "storage account",
        one_at_a_time: false,
    },
    Class {
        kind: K_VNET,
        label: "virtual network",
        one_at_a_time: true,
    },
];

/// What every deletion task of one subscription shares.
struct Subscription {
    client: AsmClient,
    resources: Vec<Resource>,
    ledger: Arc<dyn Ledger>,
    /// Forgetting what went (written while the next deletions run).
    writes: Pending,
    events: Events,
    /// Cloud services whose deployment was (or may have been) there.
    deployments: BTreeSet<String>,
    /// Cloud services whose deployment could not be deleted.
    failed_deployments: BTreeSet<String>,
}

impl AzureClassicProvider {
    pub(super) async fn delete_everything(
        &self,
        ledger: Arc<dyn Ledger>,
        opts: TeardownOptions,
        events: Events,
    ) -> Result<TeardownReport, ProviderError> {
        let _ = opts;
        let left_alone = self.forget_what_is_not_ours(&ledger).await?;
        let res = ledger.resources();
        let deployments: BTreeSet<(&str, &str)> = res
            .iter()
            .filter(|r| r.kind == K_VM)
            .filter_map(|r| Some((r.scope.as_str(), r.attr("cloud_service")?)))
            .collect();
        events(ProviderEvent::Planned {
            resources: res
                .iter()
                .filter(|r| AFTER_DEPLOYMENTS.iter().any(|c| c.kind == r.kind))
                .count()
                + deployments.len(),
            vms: res.iter().filter(|r| r.kind == K_VM).count(),
        });
        let mut scopes: BTreeSet<String> = res.iter().map(|r| r.scope.clone()).collect();
        scopes.retain(|s| !s.is_empty());
        let mut js: JoinSet<Result<TeardownReport, ProviderError>> = JoinSet::new();
        for scope in scopes {
            let client = self.client(&scope)?.clone();
            let resources: Vec<Resource> =
                res.iter().filter(|r| r.scope == scope).cloned().collect();
            let (ledger, events) = (ledger.clone(), events.clone());
            js.spawn(teardown_subscription(client, resources, ledger, events));
        }
        let mut report = TeardownReport {
            left_alone,
            ..TeardownReport::default()
        };
        while let Some(j) = js.join_next().await {
            let part =
                j.map_err(|e| ProviderError::other(format!("teardown task failed: {e}")))??;
            report.deleted.extend(part.deleted);
            report.remaining.extend(part.remaining);
        }
        Ok(report)
    }

    /// Ledger entries never confirmed created whose resource exists with another owner id
    /// (or none): a create that found the name taken. Forget them (a cloud service with its
    /// certificates and VMs) without touching them; `(resource, owner)` for the report.
    async fn forget_what_is_not_ours(
        &self,
        ledger: &Arc<dyn Ledger>,
    ) -> Result<Vec<(String, String)>, ProviderError> {
        let ours = self.inner.s.identity.owner_id.clone();
        let res = ledger.resources();
        let mut left = Vec::new();
        let mut forget: Vec<Resource> = Vec::new();
        for m in res.iter().filter(|m| m.state != ResourceState::Created) {
            let c = self.client(&m.scope)?;
            let (label, owner) = match m.kind.as_str() {
                K_CLOUD_SERVICE => match ownership::hosted_service(c, &m.name).await? {
                    Some(h) => ("cloud service", h.owner()),
                    None => continue,
                },
                K_STORAGE => match ownership::storage_account(c, &m.name).await? {
                    Some(s) => ("storage account", s.owner()),
                    None => continue,
                },
                // Its name carries the owner id it was planned with (ours); an old-style
                // name proves nothing, so one that exists is left alone.
                K_VNET
                    if ours
                        .as_ref()
                        .is_some_and(|o| m.name.ends_with(&format!("-{o}"))) =>
                {
                    continue
                }
                K_VNET if r::list_vnet_names(c).await?.contains(&m.name) => {
                    ("virtual network", None)
                }
                _ => continue,
            };
            if owner.is_some() && owner == ours {
                continue;
            }
            let shown = owner.clone().unwrap_or_else(|| "no owner id".into());
            info!(
                "{label} {} is not this cluster's ({shown}): leaving it alone",
                m.name
            );
            left.push((format!("{label} {}", m.name), shown));
            forget.push(m.clone());
            if m.kind == K_CLOUD_SERVICE {
                forget.extend(
                    res.iter()
                        .filter(|x| x.attr("cloud_service") == Some(m.name.as_str()))
                        .cloned(),
                );
            }
        }
        if !forget.is_empty() {
            ledger.forget_all(&forget)?;
        }
        Ok(left)
    }
}

/// Tear down everything of one subscription: deployments, then the other classes.
async fn teardown_subscription(
    client: AsmClient,
    resources: Vec<Resource>,
    ledger: Arc<dyn Ledger>,
    events: Events,
) -> Result<TeardownReport, ProviderError> {
    // VMs whose cloud service is not (or no longer) in the ledger still need their
    // deployment gone.
    let deployments: BTreeSet<String> = resources
        .iter()
        .filter_map(|r| match r.kind.as_str() {
            K_CLOUD_SERVICE => Some(r.name.clone()),
            K_VM => r.attr("cloud_service").map(str::to_string),
            _ => None,
        })
        .collect();
    let mut sub = Subscription {
        client,
        resources,
        ledger,
        writes: Pending::default(),
        events,
        deployments,
        failed_deployments: BTreeSet::new(),
    };
    let mut report = delete_deployments(&mut sub).await?;
    let sub = Arc::new(sub);
    let mut js: JoinSet<Result<TeardownReport, ProviderError>> = JoinSet::new();
    for class in &AFTER_DEPLOYMENTS {
        let sub = sub.clone();
        js.spawn(async move { delete_class(class, &sub).await });
    }
    while let Some(j) = js.join_next().await {
        let part = j.map_err(|e| ProviderError::other(e.to_string()))??;
        report.deleted.extend(part.deleted);
        report.remaining.extend(part.remaining);
    }
    sub.writes.all_written().await?;
    Ok(report)
}

/// Every deployment at once, with its disks' media; forget the VMs of each that went.
async fn delete_deployments(sub: &mut Subscription) -> Result<TeardownReport, ProviderError> {
    let mut report = TeardownReport::default();
    let mut js: JoinSet<(String, Result<bool, AsmError>)> = JoinSet::new();
    for cs in sub.deployments.iter().cloned() {
        let c = sub.client.clone();
        js.spawn(async move {
            let out = r::delete_deployment_if_any(&c, &cs).await;
            (cs, out)
        });
    }
    while let Some(j) = js.join_next().await {
        let (cs, out) = j.map_err(|e| ProviderError::other(e.to_string()))?;
        match out {
            Ok(existed) => {
                if existed {
                    (sub.events)(ProviderEvent::Deleted {
                        kind: "deployment".into(),
                        name: cs.clone(),
                    });
                }
                let gone: Vec<Resource> = sub
                    .resources
                    .iter()
                    .filter(|v| v.kind == K_VM && v.attr("cloud_service") == Some(cs.as_str()))
                    .cloned()
                    .collect();
                sub.writes.push(forget_later(&sub.ledger, gone));
            }
            Err(e) => {
                report
                    .remaining
                    .push((format!("deployment {cs}"), e.to_string()));
                sub.failed_deployments.insert(cs);
            }
        }
    }
    Ok(report)
}

/// Delete every resource of `class`, after what must go before it.
async fn delete_class(
    class: &'static Class,
    sub: &Subscription,
) -> Result<TeardownReport, ProviderError> {
    let mut report = TeardownReport::default();
    let mut members: Vec<Resource> = Vec::new();
    for m in sub.resources.iter().filter(|r| r.kind == class.kind) {
        match kept_because(class, m, sub) {
            Some(why) => report
                .remaining
                .push((format!("{} {}", class.label, m.name), why)),
            None => members.push(m.clone()),
        }
    }
    if members.is_empty() {
        return Ok(report);
    }
    if class.kind == K_STORAGE {
        delete_leftover_disks(sub, &members, &mut report).await;
    }
    if class.one_at_a_time {
        for m in members {
            let out = delete_one(&sub.client, &m).await;
            record_outcome(class, sub, &m, out, &mut report)?;
        }
    } else {
        let mut js: JoinSet<(Resource, Result<(), AsmError>)> = JoinSet::new();
        for m in members {
            let c = sub.client.clone();
            js.spawn(async move {
                let out = delete_one(&c, &m).await;
                (m, out)
            });
        }
        while let Some(j) = js.join_next().await {
            let (m, out) = j.map_err(|e| ProviderError::other(e.to_string()))?;
            record_outcome(class, sub, &m, out, &mut report)?;
        }
    }
    Ok(report)
}

/// Why `m` must stay (its deployment, or one in its network, is still there).
fn kept_because(class: &Class, m: &Resource, sub: &Subscription) -> Option<String> {
    match class.kind {
        // Its deployment is already reported as remaining.
        K_CLOUD_SERVICE if sub.failed_deployments.contains(&m.name) => {
            Some(format!("kept: deployment {} could not be deleted", m.name))
        }
        K_VNET if !sub.failed_deployments.is_empty() => {
            Some("kept: a deployment in it could not be deleted".into())
        }
        _ => None,
    }
}

/// Disks that outlived their deployment (ours by attachment or by media link) hold leases
/// on their storage account: delete them first.
async fn delete_leftover_disks(
    sub: &Subscription,
    storage: &[Resource],
    report: &mut TeardownReport,
) {
    let accounts: BTreeSet<&str> = storage.iter().map(|s| s.name.as_str()).collect();
    let ours = |d: &super::xml::Disk| {
        d.attached_to
            .as_ref()
            .is_some_and(|a| sub.deployments.contains(&a.hosted_service_name))
            || d.media_link.as_deref().is_some_and(|m| {
                accounts
                    .iter()
                    .any(|sa| m.contains(&format!("//{sa}.blob.")))
            })
    };
    if let Err(e) = r::delete_leftover_disks(&sub.client, ours).await {
        report.remaining.push((
            format!("disks in subscription {}", sub.client.subscription()),
            e.to_string(),
        ));
    }
}

/// Delete one resource; one whose create request may still be landing (killed mid-create)
/// is first given time to appear.
async fn delete_one(c: &AsmClient, m: &Resource) -> Result<(), AsmError> {
    match m.kind.as_str() {
        K_CLOUD_SERVICE => r::delete_hosted_service(c, &m.name).await,
        K_STORAGE => {
            if unconfirmed(m) {
                settle(c, || r::storage_account_exists(c, &m.name)).await?;
            }
            r::delete_storage_account(c, &m.name).await
        }
        K_VNET => {
            if unconfirmed(m) {
                settle(c, || async {
                    Ok(r::list_vnet_names(c).await?.iter().any(|n| n == &m.name))
                })
                .await?;
            }
            r::remove_vnet(c, &m.name).await
        }
        _ => Ok(()),
    }
}

/// Forget what went (a cloud service takes its certificates along) and report it.
fn record_outcome(
    class: &Class,
    sub: &Subscription,
    m: &Resource,
    out: Result<(), AsmError>,
    report: &mut TeardownReport,
) -> Result<(), ProviderError> {
    let what = format!("{} {}", class.label, m.name);
    if let Err(e) = out {
        report.remaining.push((what, e.to_string()));
        return Ok(());
    }
    let mut gone: Vec<Resource> = sub
        .resources
        .iter()
        .filter(|x| x.kind == K_CERTIFICATE && x.attr("cloud_service") == Some(m.name.as_str()))
        .filter(|_| class.kind == K_CLOUD_SERVICE)
        .cloned()
        .collect();
    gone.push(m.clone());
    sub.writes.push(forget_later(&sub.ledger, gone));
    (sub.events)(ProviderEvent::Deleted {
        kind: m.kind.clone(),
        name: m.name.clone(),
    });
    report.deleted.push(what);
    Ok(())
}

/// A create request was sent but its outcome never recorded (the run was killed).
fn unconfirmed(r: &Resource) -> bool {
    r.state == ResourceState::Planned && r.attr(ATTR_REQUESTED).is_some()
}

/// Wait (up to the client's `settle` time) for a resource whose create request may still
/// be landing.
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
