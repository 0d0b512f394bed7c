//! Creating what the ledger plans: cloud services (with the SSH certificate), storage
//! accounts and virtual networks concurrently, then one queue of VM creations per cloud
//! service (Azure serialises role operations per deployment), all queues at once. Each
//! resource is marked `requested` before its request is sent and `Created` once Azure says so.

use tokio::sync::watch;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use tokio::task::JoinSet;
use tracing::warn;

use super::provider::{AzureClassicProvider, K_CERTIFICATE, K_CLOUD_SERVICE, K_STORAGE, K_VNET};
use super::resources as r;
use crate::providers::{
    Events, Ledger, ProviderError, ProviderEvent, Resource, ResourceState, ATTR_REQUESTED,
};

type Gate = watch::Sender<Option<Result<(), String>>>;

async fn wait_gate(rx: &mut watch::Receiver<Option<Result<(), String>>>) -> Result<(), String> {
    match rx.wait_for(|v| v.is_some()).await {
        Ok(v) => v.clone().unwrap_or(Ok(())),
        Err(_) => Err("preparation task ended unexpectedly".into()),
    }
}

fn to_text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl AzureClassicProvider {
    pub(super) async fn create_planned(
        &self,
        ledger: Arc<dyn Ledger>,
        events: Events,
    ) -> Result<Vec<(String, Result<(), String>)>, ProviderError> {
        let res = ledger.resources();
        let mark = Arc::new(self.mark()?);
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
            let mark = mark.clone();
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
                    let c = me.client(&p.scope).map_err(to_text)?;
                    // From here on the outcome may be unknown if we are killed: say so.
                    let p = p.clone().with(ATTR_REQUESTED, "1");
                    ledger.record(std::slice::from_ref(&p)).map_err(to_text)?;
                    let loc = &me.inner.s.location;
                    match p.kind.as_str() {
                        K_CLOUD_SERVICE => {
                            r::ensure_hosted_service(c, &p.name, loc, &mark).await.map_err(to_text)?;
                            for cr in &certs {
                                if cr.attr("thumbprint") == Some(cert.thumbprint.as_str()) {
                                    r::ensure_service_certificate(c, &p.name, &cert.thumbprint, &cert.data_base64())
                                        .await
                                        .map_err(to_text)?;
                                    ledger.set_state(cr, ResourceState::Created).map_err(to_text)?;
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
                        K_STORAGE => r::ensure_storage_account(c, &p.name, loc, &mark).await.map_err(to_text)?,
                        K_VNET => r::ensure_vnet(c, &p.name, p.attr("location").unwrap_or(loc)).await.map_err(to_text)?,
                        _ => {}
                    }
                    ledger.set_state(&p, ResourceState::Created).map_err(to_text)?;
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
            let label = mark.deployment_label(&cs);
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
                    let m = &m.clone().with(ATTR_REQUESTED, "1");
                    if let Err(e) = ledger.record(std::slice::from_ref(m)) {
                        results.push((node, Err(e.to_string())));
                        continue;
                    }
                    let out = if have_deployment {
                        r::add_role(&c, &cs, &spec).await
                    } else {
                        r::create_deployment(&c, &cs, &label, &spec, m.attr("vnet")).await
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
                Err(e) => return Err(ProviderError::other(format!("VM queue crashed: {e}"))),
            }
        }
        while tasks.join_next().await.is_some() {}
        Ok(all)
    }
}
