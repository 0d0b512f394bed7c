//! Creating what the ledger plans: cloud services (with the SSH certificate), storage
//! accounts and virtual networks concurrently — the slowest kinds first, since every VM
//! waits for them — then one queue of VM creations per cloud service (`vm_queue`), all
//! queues at once. Each resource is marked `requested` before its request is sent and
//! `Created` once Azure says so.

use tokio::sync::watch;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tokio::task::JoinSet;
use tracing::warn;

use super::ledger_writes::{write_later, written};
use super::provider::{AzureClassicProvider, K_CERTIFICATE, K_CLOUD_SERVICE, K_STORAGE, K_VNET};
use super::resources as r;
use super::vm_queue::{Outcome, Queue};
use crate::providers::{
    Events, Ledger, ProviderError, ProviderEvent, Resource, ResourceState, ATTR_REQUESTED,
};

type Gate = watch::Sender<Option<Result<(), String>>>;

fn to_text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Azure's recorded time to create one (virtual network 34 s, storage account 25 s,
/// service certificate 20 s): the preparation tasks start in this order.
fn slowest_first(kind: &str) -> u8 {
    match kind {
        K_VNET => 0,
        K_STORAGE => 1,
        _ => 2,
    }
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
        let mut prep: Vec<Resource> = res
            .iter()
            .filter(|r| [K_CLOUD_SERVICE, K_STORAGE, K_VNET].contains(&r.kind.as_str()))
            .cloned()
            .collect();
        prep.sort_by_key(|r| slowest_first(&r.kind));
        events(ProviderEvent::Planned {
            resources: prep.len(),
            vms: vms.len(),
        });
        // One gate per preparation resource, opened when it exists.
        let mut gates: HashMap<(String, String), Gate> = HashMap::new();
        // In each subscription the virtual network's change is sent before anything else:
        // every VM waits for the network, the slowest to create, and among dozens of
        // requests at once (each a TLS handshake) its own would otherwise wait its turn.
        let mut network_sent: HashMap<String, watch::Receiver<bool>> = HashMap::new();
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
            let (sent, after_network) = if p.kind == K_VNET {
                let (tx, rx) = watch::channel(false);
                network_sent.insert(p.scope.clone(), rx);
                (Some(tx), None)
            } else {
                (None, network_sent.get(&p.scope).cloned())
            };
            let certs: Vec<Resource> = res
                .iter()
                .filter(|c| {
                    c.kind == K_CERTIFICATE && c.attr("cloud_service") == Some(p.name.as_str())
                })
                .cloned()
                .collect();
            tasks.spawn(async move {
                if let Some(mut rx) = after_network {
                    // Err: the network's task ended without an answer; go anyway.
                    let _ = rx.wait_for(|sent| *sent).await;
                }
                let out: Result<(), String> = async {
                    let c = me.client(&p.scope).map_err(to_text)?;
                    // Never asked for before: nothing of ours can be there, no need to look.
                    let fresh = !p.may_exist();
                    // From here on the outcome may be unknown if we are killed: say so.
                    let p = p.clone().with(ATTR_REQUESTED, "1");
                    written(write_later(&ledger, vec![p.clone()])).await?;
                    let loc = &me.inner.s.location;
                    let mut marks = Vec::new();
                    match p.kind.as_str() {
                        K_CLOUD_SERVICE => {
                            r::ensure_hosted_service(c, &p.name, loc, &mark, fresh).await.map_err(to_text)?;
                            for cr in &certs {
                                if cr.attr("thumbprint") == Some(cert.thumbprint.as_str()) {
                                    r::ensure_service_certificate(c, &p.name, &cert.thumbprint, &cert.data_base64(), fresh)
                                        .await
                                        .map_err(to_text)?;
                                    let mut cr = cr.clone();
                                    cr.state = ResourceState::Created;
                                    marks.push(cr);
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
                        K_STORAGE => r::ensure_storage_account(c, &p.name, loc, &mark, fresh).await.map_err(to_text)?,
                        K_VNET => {
                            let accepted = move || {
                                if let Some(tx) = sent {
                                    tx.send_replace(true);
                                }
                            };
                            r::ensure_vnet(c, &p.name, p.attr("location").unwrap_or(loc), accepted)
                                .await
                                .map_err(to_text)?
                        }
                        _ => {}
                    }
                    // It exists: the VMs waiting for it may go while its mark is written
                    // (a start killed meanwhile finds it `requested` and adopts it).
                    let mut done = p.clone();
                    done.state = ResourceState::Created;
                    marks.push(done);
                    let mark = write_later(&ledger, marks);
                    tx2.send_replace(Some(Ok(())));
                    written(mark).await?;
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
                // Already open when the resource exists; otherwise the VMs learn why not.
                tx2.send_if_modified(|v| {
                    if v.is_none() {
                        *v = Some(out);
                        true
                    } else {
                        false
                    }
                });
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
        let mut queues: JoinSet<Vec<Outcome>> = JoinSet::new();
        for ((scope, cs), members) in by_cs {
            let gate = |kind: &str, name: &str| {
                gates
                    .get(&(kind.to_string(), name.to_string()))
                    .map(|g| g.subscribe())
            };
            let vnet_gate = members
                .first()
                .and_then(|m| m.attr("vnet"))
                .and_then(|v| gate(K_VNET, v));
            let storage_gates = members
                .iter()
                .filter_map(|m| m.attr("storage_account"))
                .filter_map(|sa| gate(K_STORAGE, sa).map(|g| (sa.to_string(), g)))
                .collect();
            let queue = Queue {
                provider: self.clone(),
                ledger: ledger.clone(),
                cert: cert.clone(),
                events: events.clone(),
                label: mark.deployment_label(&cs),
                gates: [gate(K_CLOUD_SERVICE, &cs), vnet_gate]
                    .into_iter()
                    .flatten()
                    .collect(),
                storage_gates,
                scope,
                cloud_service: cs,
                members,
            };
            queues.spawn(queue.run());
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
