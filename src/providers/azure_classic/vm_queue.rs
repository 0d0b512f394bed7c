//! One cloud service's queue of VM creations: Create Deployment with the first VM, then Add
//! Role for each further one — one at a time, since Azure serialises role operations per
//! deployment. Each VM is marked `requested` in the ledger before its request is sent and
//! `Created` once Azure says so.
//!
//! Ledger writes are kept off the chain of requests: the mark of the next VM is written
//! while the current one is being created (with the `Created` marks of the ones before),
//! on a blocking thread, so the next request leaves as soon as Azure is done. Never sends
//! a VM's request before its mark is on disk.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use tokio::sync::watch;
use tracing::{info, warn};

use super::ledger_writes::{write_later, written};
use super::provider::AzureClassicProvider;
use super::resources as r;
use super::service_cert::SshServiceCert;
use super::transport::AsmClient;
use crate::providers::{Events, Ledger, ProviderEvent, Resource, ResourceState, ATTR_REQUESTED};

/// Opened (`Some(Ok)`) when a preparation resource exists, `Some(Err)` when it cannot.
pub(super) type GateRx = watch::Receiver<Option<Result<(), String>>>;

pub(super) async fn wait_gate(rx: &mut GateRx) -> Result<(), String> {
    match rx.wait_for(|v| v.is_some()).await {
        Ok(v) => v.clone().unwrap_or(Ok(())),
        Err(_) => Err("preparation task ended unexpectedly".into()),
    }
}

/// Everything one queue needs.
pub(super) struct Queue {
    pub provider: AzureClassicProvider,
    pub ledger: Arc<dyn Ledger>,
    pub cert: Arc<SshServiceCert>,
    pub events: Events,
    pub scope: String,
    pub cloud_service: String,
    pub label: String,
    /// Its VMs, in creation order.
    pub members: Vec<Resource>,
    /// Cloud service (with its certificate) and virtual network.
    pub gates: Vec<GateRx>,
    /// Storage account name → its gate.
    pub storage_gates: HashMap<String, GateRx>,
}

/// A VM's outcome: (node, Ok or why not).
pub(super) type Outcome = (String, Result<(), String>);

fn node_of(m: &Resource) -> String {
    m.attr("node").unwrap_or(&m.name).to_string()
}

impl Queue {
    fn fail(&self, m: &Resource, why: String, out: &mut Vec<Outcome>) {
        (self.events)(ProviderEvent::VmFailed {
            node: node_of(m),
            error: why.clone(),
        });
        out.push((node_of(m), Err(why)));
    }

    fn created(&self, m: &Resource, out: &mut Vec<Outcome>) {
        (self.events)(ProviderEvent::VmCreated {
            node: node_of(m),
            group: self.cloud_service.clone(),
        });
        out.push((node_of(m), Ok(())));
    }

    pub(super) async fn run(mut self) -> Vec<Outcome> {
        let mut out = Vec::new();
        for g in std::mem::take(&mut self.gates).iter_mut() {
            if let Err(e) = wait_gate(g).await {
                for m in &self.members {
                    self.fail(m, e.clone(), &mut out);
                }
                return out;
            }
        }
        let c = match self.provider.client(&self.scope) {
            Ok(c) => c.clone(),
            Err(e) => {
                for m in &self.members {
                    self.fail(m, e.to_string(), &mut out);
                }
                return out;
            }
        };
        let existing = match r::get_deployment(&c, &self.cloud_service).await {
            Ok(d) => d,
            Err(e) => {
                for m in &self.members {
                    self.fail(m, e.to_string(), &mut out);
                }
                return out;
            }
        };
        let mut have_deployment = existing.is_some();
        let existing_roles: BTreeSet<String> = existing
            .map(|d| d.role_list.items.into_iter().map(|r| r.role_name).collect())
            .unwrap_or_default();
        // Already there (a resumed start): adopt them in one write.
        let (done, todo): (Vec<Resource>, Vec<Resource>) = std::mem::take(&mut self.members)
            .into_iter()
            .partition(|m| m.state == ResourceState::Created || existing_roles.contains(&m.name));
        let adopt: Vec<Resource> = done
            .iter()
            .filter(|m| m.state != ResourceState::Created)
            .map(|m| with_state(m, ResourceState::Created))
            .collect();
        let adopted = written(write_later(&self.ledger, adopt)).await;
        for m in &done {
            match &adopted {
                Ok(()) => self.created(m, &mut out),
                Err(e) => self.fail(m, e.clone(), &mut out),
            }
        }
        self.create_all(&c, todo, &mut have_deployment, &mut out)
            .await;
        out
    }

    /// Create `todo` one by one; see the module comment for the ledger writes.
    async fn create_all(
        &mut self,
        c: &AsmClient,
        todo: Vec<Resource>,
        have_deployment: &mut bool,
        out: &mut Vec<Outcome>,
    ) {
        let requested: Vec<Resource> = todo
            .iter()
            .map(|m| m.clone().with(ATTR_REQUESTED, "1"))
            .collect();
        // The write holding the next VM's mark, and the VMs whose `Created` mark it carries.
        let mut next_mark = requested
            .first()
            .map(|m| (write_later(&self.ledger, vec![m.clone()]), Vec::new()));
        // Created, their mark not yet handed to a write.
        let mut unsaved: Vec<(usize, Resource)> = Vec::new();
        for (k, m) in requested.iter().enumerate() {
            let Some((mark, carried)) = next_mark.take() else {
                break;
            };
            let marked = written(mark).await;
            self.carried_result(&carried, &marked, out);
            // The mark of the VM after this one (and the `Created` marks so far) is written
            // while this one is created.
            next_mark = requested.get(k + 1).map(|next| {
                let mut rs = vec![next.clone()];
                rs.extend(unsaved.iter().map(|(_, r)| r.clone()));
                (write_later(&self.ledger, rs), std::mem::take(&mut unsaved))
            });
            if let Err(e) = marked {
                self.fail(m, e, out);
                continue;
            }
            if let Some(g) = m
                .attr("storage_account")
                .and_then(|sa| self.storage_gates.get_mut(sa))
            {
                if let Err(e) = wait_gate(g).await {
                    self.fail(m, e, out);
                    continue;
                }
            }
            let spec = self.provider.role_spec(m, &self.cert);
            let sent = if *have_deployment {
                r::add_role(c, &self.cloud_service, &spec).await
            } else {
                r::create_deployment(c, &self.cloud_service, &self.label, &spec, m.attr("vnet"))
                    .await
            };
            let result = match sent {
                Ok(()) => Ok(()),
                // The request may have reached Azure before a retry was refused (409 "already
                // exists" after a timed-out attempt): our role in our deployment is ours.
                Err(e) => match r::get_deployment(c, &self.cloud_service).await {
                    Ok(Some(d)) => {
                        *have_deployment = true;
                        if d.role_list.items.iter().any(|r| r.role_name == m.name) {
                            info!("VM {}: created by an earlier attempt ({e})", node_of(m));
                            Ok(())
                        } else {
                            Err(e.to_string())
                        }
                    }
                    _ => Err(e.to_string()),
                },
            };
            match result {
                Ok(()) => {
                    *have_deployment = true;
                    self.created(m, out);
                    unsaved.push((out.len() - 1, with_state(m, ResourceState::Created)));
                }
                Err(e) => {
                    warn!("VM {}: {e}", node_of(m));
                    self.fail(m, e, out);
                }
            }
        }
        // The last `Created` marks.
        if let Some((mark, carried)) = next_mark.take() {
            let marked = written(mark).await;
            self.carried_result(&carried, &marked, out);
        }
        if !unsaved.is_empty() {
            let rs = unsaved.iter().map(|(_, r)| r.clone()).collect();
            let marked = written(write_later(&self.ledger, rs)).await;
            self.carried_result(&unsaved, &marked, out);
        }
    }

    /// A write that carried `Created` marks failed: those VMs exist in Azure but not as
    /// created in the ledger, so they count as failed (the lifecycle deletes them).
    fn carried_result(
        &self,
        carried: &[(usize, Resource)],
        marked: &Result<(), String>,
        out: &mut [Outcome],
    ) {
        if let Err(e) = marked {
            for (i, _) in carried {
                if let Some(o) = out.get_mut(*i) {
                    o.1 = Err(e.clone());
                }
            }
        }
    }
}

fn with_state(m: &Resource, state: ResourceState) -> Resource {
    let mut r = m.clone();
    r.state = state;
    r
}
