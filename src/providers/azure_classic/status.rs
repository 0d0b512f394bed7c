//! What Azure says about the cluster's VMs (instance status, addresses, SSH endpoint), and
//! deleting some of them (dropped or removed nodes): one role at a time, or the whole
//! deployment when none of its roles is kept.

use super::xml::Deployment;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use tokio::task::JoinSet;

use super::error::AsmError;
use super::provider::{AzureClassicProvider, K_VM};
use super::resources as r;
use crate::providers::{Ledger, NodeInfo, NodePhase, ProviderError, Resource, ResourceState};

/// A cloud service: (subscription, name).
type ServiceKey = (String, String);

impl AzureClassicProvider {
    pub(super) async fn node_infos(
        &self,
        ledger: Arc<dyn Ledger>,
    ) -> Result<Vec<NodeInfo>, ProviderError> {
        let vms = Self::vms_of(&ledger.resources());
        let mut services: BTreeSet<(String, String)> = BTreeSet::new();
        for vm in &vms {
            services.insert((
                vm.scope.clone(),
                vm.attr("cloud_service").unwrap_or_default().to_string(),
            ));
        }
        let mut js: JoinSet<Result<(ServiceKey, Option<Deployment>), AsmError>> = JoinSet::new();
        for (scope, cs) in services {
            let c = self.client(&scope)?.clone();
            js.spawn(async move {
                let d = r::get_deployment(&c, &cs).await?;
                Ok(((scope, cs), d))
            });
        }
        let mut deps = HashMap::new();
        while let Some(j) = js.join_next().await {
            let (k, d) = j.map_err(|e| ProviderError::other(e.to_string()))??;
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

    pub(super) async fn delete_vms(
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
            j.map_err(|e| ProviderError::other(e.to_string()))??;
        }
        Ok(())
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
            via: None,
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
