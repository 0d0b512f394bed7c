//! Creating what the ledger plans: the resource group (synchronous), then at once the
//! network (security group, then the virtual network with its subnet) and one pipeline per
//! node (public IP → NIC once the subnet exists → VM). Every resource is marked `requested`
//! before its PUT is sent and `Created` once Azure accepted it; a VM whose PUT was sent by a
//! killed run is looked up before it is sent again. VM provisioning itself is followed by
//! `nodes()` (the lifecycle polls it), so a slow VM never holds up the others.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::warn;

use super::error::ArmError;
use super::model::ResourceGroup;
use super::model::{self, VmSpec};
use super::names::{
    compute_url, disk_name, network_url, ImageRef, TAG_BASE_NAME, TAG_NODE, TAG_OWNER,
};
use super::provider::{unconfirmed, ArmProvider, K_NIC, K_NSG, K_PIP, K_VNET};
use crate::providers::{
    ErrorKind, Events, Ledger, ProviderError, ProviderEvent, Resource, ResourceState,
};

type Gate = watch::Receiver<Option<Result<(), String>>>;

async fn wait_gate(rx: &mut Gate) -> Result<(), String> {
    match rx.wait_for(|v| v.is_some()).await {
        Ok(v) => v.clone().unwrap_or(Ok(())),
        Err(_) => Err("the network task ended unexpectedly".into()),
    }
}

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl ArmProvider {
    pub(super) async fn create_planned(
        &self,
        ledger: Arc<dyn Ledger>,
        events: Events,
    ) -> Result<Vec<(String, Result<(), String>)>, ProviderError> {
        let res = ledger.resources();
        let vms = Self::vms_of(&res);
        let Some(group) = Self::group_of(&res) else {
            return Ok(Vec::new());
        };
        events(ProviderEvent::Planned {
            resources: res
                .iter()
                .filter(|r| r.kind != super::provider::K_VM)
                .count(),
            vms: vms.len(),
        });
        self.ensure_group(&group, &ledger, &events).await?;
        let rg = group.name.clone();

        // The network, once.
        let (tx, gate) = watch::channel(None);
        let net: Vec<Resource> = [K_NSG, K_VNET]
            .iter()
            .filter_map(|k| res.iter().find(|r| r.kind == *k).cloned())
            .collect();
        {
            let me = self.clone();
            let (ledger, events) = (ledger.clone(), events.clone());
            let rg = rg.clone();
            tokio::spawn(async move {
                let out = me.ensure_network(&rg, &net, &ledger, &events).await;
                if let Err(e) = &out {
                    warn!("network of resource group {rg}: {e}");
                }
                tx.send_replace(Some(out));
            });
        }

        let key = std::fs::read_to_string(&self.inner.s.user_key_public)
            .map_err(|e| {
                ProviderError::new(
                    ErrorKind::Invalid,
                    format!(
                        "cannot read the SSH public key {}: {e} — check user_key_public in the login section",
                        self.inner.s.user_key_public.display()
                    ),
                )
            })?
            .trim()
            .to_string();
        let key = Arc::new(key);
        let by_node: BTreeMap<String, Vec<Resource>> = res
            .iter()
            .filter_map(|r| r.attr("node_of").map(|n| (n.to_string(), r.clone())))
            .fold(BTreeMap::new(), |mut m, (n, r)| {
                m.entry(n).or_insert_with(Vec::new).push(r);
                m
            });
        let mut js: JoinSet<(String, Result<(), String>)> = JoinSet::new();
        for vm in vms {
            let node = vm.node().unwrap_or(&vm.name).to_string();
            let parts = by_node.get(&node).cloned().unwrap_or_default();
            let me = self.clone();
            let (ledger, events) = (ledger.clone(), events.clone());
            let (rg, key, mut gate) = (rg.clone(), key.clone(), gate.clone());
            js.spawn(async move {
                let out = me
                    .create_node(&rg, &vm, &parts, &mut gate, &key, &ledger, &events)
                    .await;
                match &out {
                    Ok(()) => events(ProviderEvent::VmCreated {
                        node: node.clone(),
                        group: rg.clone(),
                    }),
                    Err(e) => {
                        warn!("VM {node}: {e}");
                        events(ProviderEvent::VmFailed {
                            node: node.clone(),
                            error: e.clone(),
                        })
                    }
                }
                (node, out)
            });
        }
        let mut all = Vec::new();
        while let Some(j) = js.join_next().await {
            all.push(j.map_err(|e| ProviderError::other(format!("VM task crashed: {e}")))?);
        }
        Ok(all)
    }

    /// The resource group; one being deleted (a previous cluster of the same name) is
    /// waited for.
    async fn ensure_group(
        &self,
        group: &Resource,
        ledger: &Arc<dyn Ledger>,
        events: &Events,
    ) -> Result<(), ProviderError> {
        if group.state == ResourceState::Created {
            return Ok(());
        }
        let s = &self.inner.s;
        let c = &self.inner.client;
        let owner = self.owner_id()?.to_string();
        let url = c.url(&self.inner.paths.group_url(&group.name));
        // A group of that name may be this cluster's (a killed run's create landed) or
        // another's: adopt it only when it carries our owner id; never PUT over it (that
        // would rewrite its tags).
        let existing: Option<ResourceGroup> = c
            .get_json(&url, &format!("looking up resource group {}", group.name))
            .await?;
        if let Some(found) =
            existing.filter(|g| g.properties.provisioning_state.as_deref() != Some("Deleting"))
        {
            let theirs = found.tags.get(TAG_OWNER);
            if theirs.map(String::as_str) != Some(owner.as_str()) {
                return Err(ProviderError::new(
                    ErrorKind::Conflict,
                    format!(
                        "resource group {} already exists and belongs to {} — choose another base_name, or stop the cluster that uses it",
                        group.name,
                        theirs
                            .map(|o| format!("the cluster with owner id {o}"))
                            .unwrap_or_else(|| "no elasticluster cluster (it carries no owner id)".into())
                    ),
                ));
            }
            ledger.set_state(group, ResourceState::Created)?;
            events(ProviderEvent::ResourceDone {
                kind: group.kind.clone(),
                name: group.name.clone(),
            });
            return Ok(());
        }
        let g = group.clone().with("requested", "1");
        ledger.record(std::slice::from_ref(&g))?;
        let tags = BTreeMap::from([
            (TAG_BASE_NAME.to_string(), s.base_name.clone()),
            (TAG_OWNER.to_string(), owner),
        ]);
        let body = model::resource_group(&s.location, &tags);
        let what = format!("creating resource group {}", g.name);
        let started = Instant::now();
        let patience = c.opts.scaled(c.opts.operation_timeout);
        loop {
            match c.put(&url, &body, &what, true).await {
                Ok(_) => break,
                Err(e)
                    if e.code() == Some("ResourceGroupBeingDeleted")
                        && started.elapsed() < patience =>
                {
                    tokio::time::sleep(c.opts.scaled(c.opts.poll_default)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        ledger.set_state(&g, ResourceState::Created)?;
        events(ProviderEvent::ResourceDone {
            kind: g.kind.clone(),
            name: g.name.clone(),
        });
        Ok(())
    }

    /// PUT `r` (unless already created) and mark it; `wait` follows the operation.
    #[allow(clippy::too_many_arguments)]
    async fn ensure(
        &self,
        r: &Resource,
        id: &str,
        body: serde_json::Value,
        wait: bool,
        what: &str,
        ledger: &Arc<dyn Ledger>,
        events: &Events,
    ) -> Result<(), String> {
        if r.state == ResourceState::Created {
            events(ProviderEvent::ResourceDone {
                kind: r.kind.clone(),
                name: r.name.clone(),
            });
            return Ok(());
        }
        let c = &self.inner.client;
        let r = r.clone().with("requested", "1");
        ledger.record(std::slice::from_ref(&r)).map_err(text)?;
        c.put(&c.url(id), &body, what, wait).await.map_err(text)?;
        ledger.set_state(&r, ResourceState::Created).map_err(text)?;
        events(ProviderEvent::ResourceDone {
            kind: r.kind.clone(),
            name: r.name.clone(),
        });
        Ok(())
    }

    async fn ensure_network(
        &self,
        rg: &str,
        net: &[Resource],
        ledger: &Arc<dyn Ledger>,
        events: &Events,
    ) -> Result<(), String> {
        let loc = &self.inner.s.location;
        let p = &self.inner.paths;
        if let Some(nsg) = net.iter().find(|r| r.kind == K_NSG) {
            let id = p.nsg(rg);
            let what = format!("creating network security group {}", nsg.name);
            self.ensure(
                nsg,
                &network_url(&id),
                model::nsg(loc),
                true,
                &what,
                ledger,
                events,
            )
            .await?;
        }
        if let Some(vnet) = net.iter().find(|r| r.kind == K_VNET) {
            let what = format!("creating virtual network {}", vnet.name);
            let body = model::vnet(loc, &p.nsg(rg));
            self.ensure(
                vnet,
                &network_url(&p.vnet(rg)),
                body,
                true,
                &what,
                ledger,
                events,
            )
            .await?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn create_node(
        &self,
        rg: &str,
        vm: &Resource,
        parts: &[Resource],
        gate: &mut Gate,
        ssh_key: &str,
        ledger: &Arc<dyn Ledger>,
        events: &Events,
    ) -> Result<(), String> {
        let s = &self.inner.s;
        let p = &self.inner.paths;
        let c = &self.inner.client;
        let node = vm.node().unwrap_or(&vm.name);
        let pip = parts.iter().find(|r| r.kind == K_PIP);
        if let Some(pip) = pip {
            let what = format!("creating public IP {}", pip.name);
            let body = model::public_ip(&s.location);
            self.ensure(
                pip,
                &network_url(&p.pip(rg, node)),
                body,
                true,
                &what,
                ledger,
                events,
            )
            .await?;
        }
        wait_gate(gate).await?;
        let nic_id = p.nic(rg, node);
        if let Some(nic) = parts.iter().find(|r| r.kind == K_NIC) {
            let pip_id = pip.map(|_| p.pip(rg, node));
            let body = model::nic(&s.location, &p.subnet(rg), pip_id.as_deref());
            let what = format!("creating network interface {}", nic.name);
            self.ensure(
                nic,
                &network_url(&nic_id),
                body,
                true,
                &what,
                ledger,
                events,
            )
            .await?;
        }
        if vm.state == ResourceState::Created {
            return Ok(());
        }
        let url = c.url(&compute_url(&p.vm(rg, node)));
        let what = format!("creating VM {node}");
        if unconfirmed(vm) {
            // A killed run may have sent this PUT already: do not send it twice.
            let seen: Option<serde_json::Value> = c.get_json(&url, &what).await.map_err(text)?;
            if seen.is_some() {
                return ledger.set_state(vm, ResourceState::Created).map_err(text);
            }
        }
        let image = ImageRef::parse(vm.attr("image").unwrap_or_default())?;
        let tags = BTreeMap::from([(TAG_NODE.to_string(), node.to_string())]);
        let body = model::vm(&VmSpec {
            location: &s.location,
            node,
            size: vm.attr("flavor").unwrap_or_default(),
            image: &image,
            user: vm.attr("user").unwrap_or_default(),
            ssh_key,
            nic_id: &nic_id,
            os_disk: &disk_name(node),
            custom_data: vm.attr("custom_data").map(str::to_string),
            tags: &tags,
        });
        let vm = vm.clone().with("requested", "1");
        ledger.record(std::slice::from_ref(&vm)).map_err(text)?;
        let out: Result<_, ArmError> = c.put(&url, &body, &what, false).await;
        out.map_err(text)?;
        ledger.set_state(&vm, ResourceState::Created).map_err(text)
    }
}
