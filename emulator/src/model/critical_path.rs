//! The best time any client could reach for a whole start or a whole stop of one layout
//! (subscriptions, virtual networks, storage accounts, cloud services and the roles in
//! each), given the latency model and every ordering Azure imposes:
//!
//! * start: a cloud service's certificates (serialised on the service) before its first
//!   deployment; its virtual network (one Set Network Configuration per subscription) before
//!   a deployment joins it; a role's storage account before the role; one Create Deployment
//!   per service, then Add Role serialised on the deployment; a role is ReadyRole
//!   `role_boot` after its operation;
//! * stop: Delete Deployment per service (all services at once; with `comp=media` the disks
//!   go with it, without it they stay attached `disk_detach` and leased
//!   `disk_lease_release`); a storage account only once no disk uses it; a virtual network
//!   (Set Network Configuration) only after the last deployment in it is gone; cloud
//!   services and storage accounts are deleted synchronously.
//!
//! Synchronous requests take no time here: the bound is Azure's share of the work, what a
//! client adds on top is its overhead. Pure arithmetic on plain data; it never reads the
//! clock or the emulator state (see [`Layout::of_state`] for building a layout from it).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::latency::LatencyModel;
use super::{Millis, State};

/// What a start creates and a stop deletes.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Layout {
    pub subscriptions: Vec<SubscriptionLayout>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SubscriptionLayout {
    pub id: String,
    /// Virtual network sites (all set by one Set Network Configuration).
    pub vnets: Vec<String>,
    pub storage_accounts: Vec<String>,
    pub cloud_services: Vec<ServiceLayout>,
    /// Disks no role holds any more, with the seconds (at scale 1) until they can be
    /// deleted (attached or leased after a delete without `comp=media`).
    pub loose_disks: Vec<LooseDisk>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ServiceLayout {
    pub name: String,
    /// Service certificates (Add Service Certificate holds the service: one at a time).
    pub certificates: usize,
    /// The virtual network its deployment joins.
    pub vnet: Option<String>,
    /// The storage account of each role's OS disk, one entry per role (empty: no
    /// deployment).
    pub roles: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LooseDisk {
    pub storage_account: String,
    /// Seconds at scale 1 until Delete Disk succeeds.
    pub busy_for: f64,
}

/// One step on a critical path.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Step {
    /// Which part of the command it belongs to (`preparation`, `vm_creation`, `boot`;
    /// `deployments`, `disks`, `after_deployments`).
    pub phase: &'static str,
    /// What Azure does (`add_role roleX in svc0`).
    pub step: String,
    /// Seconds after scaling.
    pub seconds: f64,
}

/// A critical path: its length (seconds after scaling), its steps in order, and their sum
/// per phase.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Bound {
    pub seconds: f64,
    pub phases: BTreeMap<&'static str, f64>,
    pub path: Vec<Step>,
}

/// Start and stop bounds of one layout.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Bounds {
    pub time_scale: f64,
    pub layout: Layout,
    pub start: Bound,
    /// Deployments deleted with `comp=media` (their disks go with them).
    pub stop: Bound,
    /// Deployments deleted without `comp=media`: disks detach, then release their leases,
    /// then go, before their storage accounts can.
    pub stop_without_media: Bound,
}

/// A finish time (seconds at scale 1) with the steps leading to it.
#[derive(Clone, Debug, Default)]
struct Path {
    at: f64,
    steps: Vec<(&'static str, String, f64)>,
}

impl Path {
    fn then(&self, phase: &'static str, step: String, secs: f64) -> Path {
        let mut steps = self.steps.clone();
        steps.push((phase, step, secs));
        Path {
            at: self.at + secs,
            steps,
        }
    }
    /// The later of two (the first on a tie).
    fn max(a: Path, b: Path) -> Path {
        if b.at > a.at {
            b
        } else {
            a
        }
    }
}

/// The storage account of a `https://ACCOUNT.blob.core.windows.net/...` media link.
fn account_of(media_link: &str) -> Option<String> {
    let rest = media_link
        .strip_prefix("https://")
        .or_else(|| media_link.strip_prefix("http://"))?;
    let host = rest.split('/').next()?;
    Some(
        host.strip_suffix(".blob.core.windows.net")?
            .to_ascii_lowercase(),
    )
}

impl Layout {
    /// `n_vms` VMs in one subscription, spread evenly over `n_services` cloud services with
    /// one virtual network and one storage account (40 VMs each, as the tool plans).
    pub fn balanced(n_vms: usize, n_services: usize) -> Layout {
        let n_services = n_services.clamp(1, n_vms.max(1));
        let n_accounts = n_vms.div_ceil(40).max(1);
        let accounts: Vec<String> = (0..n_accounts).map(|i| format!("sa{i}")).collect();
        let mut services: Vec<ServiceLayout> = (0..n_services)
            .map(|i| ServiceLayout {
                name: format!("cs{i}"),
                certificates: 1,
                vnet: Some("vn0".into()),
                roles: Vec::new(),
            })
            .collect();
        for i in 0..n_vms {
            services[i % n_services]
                .roles
                .push(accounts[i % n_accounts].clone());
        }
        Layout {
            subscriptions: vec![SubscriptionLayout {
                id: "sub".into(),
                vnets: vec!["vn0".into()],
                storage_accounts: accounts,
                cloud_services: services,
                loose_disks: Vec::new(),
            }],
        }
    }

    /// The layout the emulator holds now, per subscription; `scale` converts the remaining
    /// busy time of loose disks back to seconds at scale 1.
    pub fn of_state(st: &State, now: Millis, scale: f64) -> Layout {
        let scale = if scale > 0.0 { scale } else { 1.0 };
        let mut subscriptions = Vec::new();
        for (id, sub) in &st.subscriptions {
            let mut in_roles: BTreeSet<&str> = BTreeSet::new();
            let cloud_services = sub
                .hosted_services
                .values()
                .map(|h| {
                    let roles: Vec<String> = h
                        .deployment
                        .iter()
                        .flat_map(|d| d.roles.iter())
                        .map(|r| {
                            in_roles.insert(&r.os_disk.disk_name);
                            account_of(&r.os_disk.media_link).unwrap_or_default()
                        })
                        .collect();
                    ServiceLayout {
                        name: h.name.clone(),
                        certificates: h.certificates.len(),
                        vnet: h
                            .deployment
                            .as_ref()
                            .and_then(|d| d.virtual_network.clone()),
                        roles,
                    }
                })
                .collect();
            let loose_disks = sub
                .disks
                .values()
                .filter(|d| !in_roles.contains(d.name.as_str()))
                .map(|d| LooseDisk {
                    storage_account: account_of(&d.media_link).unwrap_or_default(),
                    busy_for: (d.lease_until.unwrap_or(0) - now).max(0) as f64 / 1000.0 / scale,
                })
                .collect();
            subscriptions.push(SubscriptionLayout {
                id: id.clone(),
                vnets: sub.network_sites().into_iter().map(|s| s.name).collect(),
                storage_accounts: sub.storage_accounts.keys().cloned().collect(),
                cloud_services,
                loose_disks,
            });
        }
        Layout { subscriptions }
    }

    pub fn n_roles(&self) -> usize {
        self.subscriptions
            .iter()
            .flat_map(|s| &s.cloud_services)
            .map(|c| c.roles.len())
            .sum()
    }
}

impl LatencyModel {
    fn bound(&self, p: Path) -> Bound {
        let mut phases: BTreeMap<&'static str, f64> = BTreeMap::new();
        let path: Vec<Step> = p
            .steps
            .into_iter()
            .map(|(phase, step, secs)| {
                let seconds = secs * self.time_scale;
                *phases.entry(phase).or_default() += seconds;
                Step {
                    phase,
                    step,
                    seconds,
                }
            })
            .collect();
        Bound {
            seconds: p.at * self.time_scale,
            phases,
            path,
        }
    }

    /// From nothing to every role of `layout` ReadyRole.
    pub fn start_bound(&self, layout: &Layout) -> Bound {
        let mut end = Path::default();
        for sub in &layout.subscriptions {
            let vnet = (!sub.vnets.is_empty()).then(|| {
                Path::default().then(
                    "preparation",
                    format!("set_network_configuration {}", sub.vnets.join(",")),
                    self.set_network_configuration,
                )
            });
            let account = |sa: &str| {
                Path::default().then(
                    "preparation",
                    format!("create_storage_account {sa}"),
                    self.create_storage_account,
                )
            };
            // Everything is created, used or not.
            for p in vnet
                .iter()
                .cloned()
                .chain(sub.storage_accounts.iter().map(|sa| account(sa.as_str())))
            {
                end = Path::max(end, p);
            }
            for cs in &sub.cloud_services {
                let mut gate = Path::default();
                if cs.certificates > 0 {
                    gate = gate.then(
                        "preparation",
                        format!("add_certificate ×{} {}", cs.certificates, cs.name),
                        self.add_certificate * cs.certificates as f64,
                    );
                }
                if let (Some(_), Some(v)) = (&cs.vnet, &vnet) {
                    gate = Path::max(gate, v.clone());
                }
                // Every storage account takes as long, so the order of the roles does
                // not change the chain.
                let mut chain: Option<Path> = None;
                for (i, sa) in cs.roles.iter().enumerate() {
                    let ready = if sub.storage_accounts.contains(sa) {
                        account(sa)
                    } else {
                        Path::default()
                    };
                    chain = Some(match chain {
                        None => Path::max(gate.clone(), ready).then(
                            "vm_creation",
                            format!("create_deployment {}", cs.name),
                            self.create_deployment,
                        ),
                        Some(prev) => Path::max(prev, ready).then(
                            "vm_creation",
                            format!("add_role #{} {}", i + 1, cs.name),
                            self.add_role,
                        ),
                    });
                }
                let done = match chain {
                    Some(c) => c.then("boot", format!("role_boot {}", cs.name), self.role_boot),
                    None => gate,
                };
                end = Path::max(end, done);
            }
        }
        self.bound(merge_role_steps(end))
    }

    /// From `layout` to nothing; `media`: deployments deleted with `comp=media`.
    pub fn stop_bound(&self, layout: &Layout, media: bool) -> Bound {
        let mut end = Path::default();
        for sub in &layout.subscriptions {
            let mut disks_free: BTreeMap<&str, Path> = BTreeMap::new();
            let mut last_deployment_in_vnet = Path::default();
            for cs in &sub.cloud_services {
                if cs.roles.is_empty() {
                    continue;
                }
                let gone = Path::default().then(
                    "deployments",
                    format!("delete_deployment {}", cs.name),
                    self.delete_deployment,
                );
                if cs.vnet.is_some() {
                    last_deployment_in_vnet = Path::max(last_deployment_in_vnet, gone.clone());
                }
                let free = if media {
                    gone.clone()
                } else {
                    gone.then(
                        "disks",
                        format!("disk_detach {}", cs.name),
                        self.disk_detach,
                    )
                    .then(
                        "disks",
                        format!("disk_lease_release {}", cs.name),
                        self.disk_lease_release,
                    )
                };
                for sa in &cs.roles {
                    let e = disks_free.entry(sa.as_str()).or_default();
                    *e = Path::max(std::mem::take(e), free.clone());
                }
                // Delete Hosted Service is synchronous once its deployment is gone.
                end = Path::max(end, gone);
            }
            for d in &sub.loose_disks {
                let free = Path::default().then(
                    "disks",
                    format!("disk busy ({})", d.storage_account),
                    d.busy_for,
                );
                let e = disks_free.entry(d.storage_account.as_str()).or_default();
                *e = Path::max(std::mem::take(e), free);
            }
            // Storage accounts go (synchronously) once their disks have.
            for (_, p) in disks_free {
                end = Path::max(end, p);
            }
            if !sub.vnets.is_empty() {
                end = Path::max(
                    end,
                    last_deployment_in_vnet.then(
                        "after_deployments",
                        format!("set_network_configuration (remove {})", sub.vnets.join(",")),
                        self.set_network_configuration,
                    ),
                );
            }
        }
        self.bound(end)
    }

    /// Both bounds of `layout` at this model's scale.
    pub fn bounds(&self, layout: &Layout) -> Bounds {
        Bounds {
            time_scale: self.time_scale,
            layout: layout.clone(),
            start: self.start_bound(layout),
            stop: self.stop_bound(layout, true),
            stop_without_media: self.stop_bound(layout, false),
        }
    }
}

/// Consecutive `add_role` steps of one service as one step (`add_role ×k svc`), so a path
/// through 49 Add Roles stays readable.
fn merge_role_steps(p: Path) -> Path {
    let mut steps: Vec<(&'static str, String, f64)> = Vec::new();
    let mut run: Option<(String, usize, f64)> = None;
    let flush = |run: &mut Option<(String, usize, f64)>, steps: &mut Vec<_>| {
        if let Some((svc, k, secs)) = run.take() {
            steps.push(("vm_creation", format!("add_role ×{k} {svc}"), secs));
        }
    };
    for (phase, step, secs) in p.steps {
        let svc = step
            .strip_prefix("add_role #")
            .and_then(|rest| rest.split_once(' '))
            .map(|(_, svc)| svc.to_string());
        match (svc, &mut run) {
            (Some(svc), Some((cur, k, total))) if *cur == svc => {
                *k += 1;
                *total += secs;
            }
            (Some(svc), _) => {
                flush(&mut run, &mut steps);
                run = Some((svc, 1, secs));
            }
            (None, _) => {
                flush(&mut run, &mut steps);
                steps.push((phase, step, secs));
            }
        }
    }
    flush(&mut run, &mut steps);
    Path { at: p.at, steps }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn start_waits_for_the_network_then_serialises_roles_per_deployment() {
        let m = LatencyModel::with_time_scale(1.0);
        // 200 VMs in 20 services: 10 per deployment.
        let b = m.start_bound(&Layout::balanced(200, 20));
        assert!(close(b.seconds, 34.0 + 53.0 + 9.0 * 43.0 + 90.0), "{b:?}");
        assert!(close(b.phases["preparation"], 34.0));
        assert!(close(b.phases["vm_creation"], 53.0 + 9.0 * 43.0));
        assert!(close(b.phases["boot"], 90.0));
        assert!(b.path[0].step.starts_with("set_network_configuration"));
        assert_eq!(b.path[2].step, "add_role ×9 cs0");
        // An uneven layout: the fullest service decides.
        let mut l = Layout::balanced(10, 2);
        l.subscriptions[0].cloud_services[1].roles.truncate(1);
        let b = m.start_bound(&l);
        assert!(close(b.seconds, 34.0 + 53.0 + 4.0 * 43.0 + 90.0));
    }

    #[test]
    fn certificates_gate_the_first_deployment() {
        let mut m = LatencyModel::with_time_scale(0.5);
        m.add_certificate = 50.0;
        let mut l = Layout::balanced(2, 2);
        l.subscriptions[0].cloud_services[0].certificates = 2;
        let b = m.start_bound(&l);
        assert!(close(b.seconds, (100.0 + 53.0 + 90.0) * 0.5), "{b:?}");
        assert_eq!(b.path[0].step, "add_certificate ×2 cs0");
        // Without a virtual network or certificates, the storage account gates.
        let mut l = Layout::balanced(1, 1);
        l.subscriptions[0].vnets.clear();
        l.subscriptions[0].cloud_services[0].vnet = None;
        l.subscriptions[0].cloud_services[0].certificates = 0;
        let b = LatencyModel::azure().start_bound(&l);
        assert!(close(b.seconds, 25.0 + 53.0 + 90.0));
    }

    #[test]
    fn several_subscriptions_run_side_by_side() {
        let m = LatencyModel::azure();
        let mut l = Layout::balanced(100, 10);
        let mut other = Layout::balanced(150, 10).subscriptions.remove(0);
        other.id = "sub2".into();
        l.subscriptions.push(other);
        let b = m.start_bound(&l);
        assert!(close(b.seconds, 34.0 + 53.0 + 14.0 * 43.0 + 90.0));
        assert_eq!(m.stop_bound(&l, true).seconds, 6.0 + 34.0);
    }

    #[test]
    fn stop_waits_for_deployments_then_the_network_and_for_disks_before_storage() {
        let m = LatencyModel::azure();
        let l = Layout::balanced(50, 5);
        let b = m.stop_bound(&l, true);
        assert!(close(b.seconds, 6.0 + 34.0), "{b:?}");
        assert!(close(b.phases["deployments"], 6.0));
        assert!(close(b.phases["after_deployments"], 34.0));
        let b = m.stop_bound(&l, false);
        assert!(close(b.seconds, 6.0 + 60.0 + 120.0), "{b:?}");
        assert!(close(b.phases["disks"], 180.0));
        // A disk still leased from an earlier delete holds its storage account.
        let mut l = Layout::balanced(1, 1);
        l.subscriptions[0].loose_disks.push(LooseDisk {
            storage_account: "sa0".into(),
            busy_for: 100.0,
        });
        assert!(close(m.stop_bound(&l, true).seconds, 100.0));
        // Nothing left: nothing to wait for.
        assert_eq!(m.stop_bound(&Layout::default(), true).seconds, 0.0);
        assert_eq!(m.start_bound(&Layout::default()).seconds, 0.0);
    }
}
