//! What Azure says about the cluster's VMs — provisioning state from one list of the
//! group's VMs, addresses from one list of its NICs and one of its public IPs, whatever the
//! number of nodes — and deleting some VMs (dropped or removed nodes) with their NIC and
//! public IP. A node without a public IP is reported as reached through the entry node.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::task::JoinSet;

use super::model::{InstanceView, Nic, PublicIp, Vm};
use super::names::{compute_url, network_url, nic_name, pip_name};
use super::provider::{unconfirmed, ArmProvider};
use crate::providers::{Ledger, NodeInfo, NodePhase, ProviderError, Resource, ResourceState};

impl ArmProvider {
    pub(super) async fn node_infos(
        &self,
        ledger: Arc<dyn Ledger>,
    ) -> Result<Vec<NodeInfo>, ProviderError> {
        let res = ledger.resources();
        let vms = Self::vms_of(&res);
        let group = Self::group_of(&res);
        let exists = group
            .as_ref()
            .is_some_and(|g| g.state == ResourceState::Created || unconfirmed(g));
        let (listed, nics, pips) = match &group {
            Some(g) if exists => {
                let c = &self.inner.client;
                let p = &self.inner.paths;
                let what = format!("listing the VMs of resource group {}", g.name);
                let (vu, nu, pu) = (
                    c.url(&p.vms_url(&g.name)),
                    c.url(&p.nics_url(&g.name)),
                    c.url(&p.pips_url(&g.name)),
                );
                let (v, n, i) = tokio::join!(
                    c.list::<Vm>(&vu, &what),
                    c.list::<Nic>(&nu, &what),
                    c.list::<PublicIp>(&pu, &what),
                );
                (v?, n?, i?)
            }
            _ => (Vec::new(), Vec::new(), Vec::new()),
        };
        let listed: BTreeMap<String, Vm> = listed
            .into_iter()
            .map(|v| (v.name.to_ascii_lowercase(), v))
            .collect();
        let nics: BTreeMap<String, Nic> = nics
            .into_iter()
            .map(|n| (n.name.to_ascii_lowercase(), n))
            .collect();
        let pips: BTreeMap<String, PublicIp> = pips
            .into_iter()
            .map(|n| (n.name.to_ascii_lowercase(), n))
            .collect();
        let entry = vms
            .iter()
            .find(|v| v.attr("entry").is_some())
            .or_else(|| vms.iter().find(|v| v.attr("public") == Some("yes")))
            .and_then(|v| v.node())
            .map(str::to_string);
        let rg = group.map(|g| g.name).unwrap_or_default();
        let mut out = Vec::new();
        for vm in &vms {
            let node = vm.node().unwrap_or(&vm.name).to_string();
            let mut info = NodeInfo {
                name: node.clone(),
                instance_id: format!("{rg}/{node}"),
                phase: if vm.state == ResourceState::Planned {
                    NodePhase::Creating
                } else {
                    NodePhase::Gone
                },
                ssh_host: None,
                ssh_port: None,
                private_ip: nics
                    .get(&nic_name(&node).to_ascii_lowercase())
                    .and_then(|n| n.private_ip())
                    .map(str::to_string),
                cloud_status: "not found".into(),
                via: None,
            };
            let Some(v) = listed.get(&node.to_ascii_lowercase()) else {
                out.push(info);
                continue;
            };
            let state = v
                .properties
                .provisioning_state
                .clone()
                .unwrap_or_else(|| "Unknown".into());
            info.cloud_status = state.clone();
            let public = vm.attr("public") == Some("yes");
            let address = if public {
                pips.get(&pip_name(&node).to_ascii_lowercase())
                    .and_then(|p| p.properties.ip_address.clone())
            } else {
                info.via = entry.clone().filter(|e| e != &node);
                info.private_ip.clone()
            };
            info.phase = match state.as_str() {
                "Succeeded" if address.is_some() => NodePhase::Running,
                "Succeeded" => NodePhase::Booting("Succeeded, no address yet".into()),
                "Failed" => NodePhase::Failed(self.failure_of(&rg, &node).await),
                "Deleting" => NodePhase::Failed("the VM is being deleted".into()),
                other => NodePhase::Booting(other.to_string()),
            };
            if address.is_some() {
                info.ssh_host = address;
                info.ssh_port = Some(22);
            }
            out.push(info);
        }
        Ok(out)
    }

    /// Why provisioning failed, from the VM's instance view.
    async fn failure_of(&self, rg: &str, node: &str) -> String {
        let c = &self.inner.client;
        let url = c.url(&self.inner.paths.instance_view_url(rg, node));
        match c
            .get_json::<InstanceView>(&url, &format!("reading VM {node}"))
            .await
        {
            Ok(Some(iv)) => iv
                .failure()
                .map(|f| format!("provisioning failed: {f}"))
                .unwrap_or_else(|| "provisioning failed".into()),
            _ => "provisioning failed".into(),
        }
    }

    pub(super) async fn delete_vms(
        &self,
        names: &[String],
        ledger: Arc<dyn Ledger>,
    ) -> Result<(), ProviderError> {
        let doomed: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        let res = ledger.resources();
        let Some(group) = Self::group_of(&res) else {
            return Ok(());
        };
        let mut js: JoinSet<Result<(), ProviderError>> = JoinSet::new();
        for vm in Self::vms_of(&res) {
            let node = vm.node().unwrap_or(&vm.name).to_string();
            if !doomed.contains(node.as_str()) {
                continue;
            }
            let parts: Vec<Resource> = res
                .iter()
                .filter(|r| r.attr("node_of") == Some(node.as_str()))
                .cloned()
                .chain(std::iter::once(vm.clone()))
                .collect();
            let me = self.clone();
            let ledger = ledger.clone();
            let rg = group.name.clone();
            let touched = group.state == ResourceState::Created || unconfirmed(&group);
            js.spawn(async move {
                for r in &parts {
                    ledger.set_state(r, ResourceState::Deleting)?;
                }
                if touched {
                    me.delete_node_resources(&rg, &node).await?;
                }
                ledger.forget_all(&parts)?;
                Ok(())
            });
        }
        while let Some(j) = js.join_next().await {
            j.map_err(|e| ProviderError::other(e.to_string()))??;
        }
        Ok(())
    }

    /// VM (its OS disk and NIC go with it), then the NIC in case it was never attached,
    /// then the public IP.
    async fn delete_node_resources(&self, rg: &str, node: &str) -> Result<(), ProviderError> {
        let c = &self.inner.client;
        let p = &self.inner.paths;
        c.delete(
            &c.url(&compute_url(&p.vm(rg, node))),
            &format!("deleting VM {node}"),
        )
        .await?;
        c.delete(
            &c.url(&network_url(&p.nic(rg, node))),
            &format!("deleting network interface {}", nic_name(node)),
        )
        .await?;
        c.delete(
            &c.url(&network_url(&p.pip(rg, node))),
            &format!("deleting public IP {}", pip_name(node)),
        )
        .await?;
        Ok(())
    }
}
