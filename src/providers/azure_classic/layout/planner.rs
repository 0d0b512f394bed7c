//! Layout planner: decides the `Layout` for a list of nodes and the subscriptions' free quota.
//!
//! Pure and deterministic. Azure serialises operations per deployment, so start time is about
//! prep + create-deployment + (VMs per service − 1) × add-role: by default VMs are spread over
//! as many cloud services as the quota allows (≤ 50 roles per deployment). No cluster size is
//! rejected for arithmetic reasons — only for real lack of quota. Never talks to Azure.

use super::{
    cloud_service_name, role_name, storage_account_name, valid_base_name, vnet_name, Layout,
    PlanError, PlanInput, SubscriptionLayout, VmPlacement, MAX_VMS_PER_CLOUD_SERVICE,
    SSH_PORT_BASE, VMS_PER_STORAGE_ACCOUNT,
};

fn div_ceil(a: usize, b: usize) -> usize {
    a.div_ceil(b.max(1))
}

/// Decide the layout.
pub fn plan(input: &PlanInput<'_>) -> Result<Layout, PlanError> {
    let base = input.base_name;
    if !valid_base_name(base) {
        return Err(PlanError::BadBaseName(base.to_string()));
    }
    let n = input.nodes.len();
    let mut notes = Vec::new();
    if n == 0 {
        return Ok(Layout {
            subscriptions: Vec::new(),
            vms: Vec::new(),
            notes,
        });
    }
    // Per-subscription capacities.
    struct Cap {
        cs: usize,
        sa: usize,
        vms: usize,
    }
    let caps: Vec<Cap> = input
        .subscriptions
        .iter()
        .map(|s| {
            let vm_by_cores = match (s.free_cores, input.cores_per_vm) {
                (Some(c), Some(per)) if per > 0 => c / per,
                _ => usize::MAX,
            };
            let usable = s.free_hosted_services > 0 && s.free_storage_accounts > 0;
            Cap {
                cs: if usable { s.free_hosted_services } else { 0 },
                sa: s.free_storage_accounts,
                vms: if usable {
                    vm_by_cores.min(
                        s.free_hosted_services
                            .saturating_mul(MAX_VMS_PER_CLOUD_SERVICE),
                    )
                } else {
                    0
                },
            }
        })
        .collect();
    let total_vm_cap: usize = caps.iter().map(|c| c.vms).fold(0, usize::saturating_add);
    if total_vm_cap < n {
        let detail = input
            .subscriptions
            .iter()
            .map(|s| {
                format!(
                    "subscription {} has {} free cloud services, {} free storage accounts, {} free cores",
                    s.id,
                    s.free_hosted_services,
                    s.free_storage_accounts,
                    s.free_cores.map_or("unknown".to_string(), |c| c.to_string())
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let per = input
            .cores_per_vm
            .map(|c| format!(" (each VM needs {c} cores)"))
            .unwrap_or_default();
        return Err(PlanError::Quota {
            n,
            detail: format!("{detail}{per}"),
        });
    }
    let total_cs_cap: usize = caps.iter().map(|c| c.cs).sum();
    let min_cs = div_ceil(n, MAX_VMS_PER_CLOUD_SERVICE);
    let mut k = match input.n_cloud_services {
        Some(want) => {
            let mut k = want;
            if k < min_cs {
                notes.push(format!(
                    "n_cloud_services = {want} cannot hold {n} VMs (at most {MAX_VMS_PER_CLOUD_SERVICE} per cloud service); using {min_cs}"
                ));
                k = min_cs;
            }
            if k > n {
                notes.push(format!(
                    "n_cloud_services = {want} is more than the {n} VMs; using {n}"
                ));
                k = n;
            }
            if k > total_cs_cap {
                notes.push(format!(
                    "n_cloud_services = {want} exceeds the free cloud-service quota; using {total_cs_cap}"
                ));
                k = total_cs_cap;
            }
            k
        }
        None => n.min(total_cs_cap),
    };
    k = k.max(min_cs.min(total_cs_cap));

    // Cloud-service slots → subscriptions, round robin over subscriptions with room.
    let mut slot_sub: Vec<usize> = Vec::with_capacity(k);
    let mut cs_used = vec![0usize; caps.len()];
    while slot_sub.len() < k {
        let before = slot_sub.len();
        for (s, c) in caps.iter().enumerate() {
            if slot_sub.len() == k {
                break;
            }
            // a subscription takes no more services than it can fill with VMs
            if cs_used[s] < c.cs && cs_used[s] < c.vms {
                cs_used[s] += 1;
                slot_sub.push(s);
            }
        }
        if slot_sub.len() == before {
            break;
        }
    }
    slot_sub.sort(); // services of one subscription are contiguous: stable global numbering
                     // VMs → slots: the emptiest slot whose subscription still has VM capacity.
    let mut slot_vms: Vec<Vec<usize>> = vec![Vec::new(); slot_sub.len()];
    let mut sub_vms = vec![0usize; caps.len()];
    for i in 0..n {
        let best = (0..slot_sub.len())
            .filter(|&j| {
                slot_vms[j].len() < MAX_VMS_PER_CLOUD_SERVICE
                    && sub_vms[slot_sub[j]] < caps[slot_sub[j]].vms
            })
            .min_by_key(|&j| (slot_vms[j].len(), j));
        let Some(j) = best else {
            return Err(PlanError::Quota {
                n,
                detail: format!("only {i} VMs fit in {} cloud services", slot_sub.len()),
            });
        };
        slot_vms[j].push(i);
        sub_vms[slot_sub[j]] += 1;
    }
    // Drop empty slots (possible when cores bind), then name services by global index.
    let slots: Vec<(usize, Vec<usize>)> = slot_sub
        .into_iter()
        .zip(slot_vms)
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let used_subs: Vec<usize> = {
        let mut u: Vec<usize> = slots.iter().map(|(s, _)| *s).collect();
        u.dedup();
        u
    };
    // Storage accounts per used subscription.
    let mut sa_count: Vec<usize> = vec![0; caps.len()];
    match input.n_storage_accounts {
        Some(want) => {
            let mut want = want;
            if want < used_subs.len() {
                notes.push(format!(
                    "n_storage_accounts = {want} is fewer than the {} subscriptions used; using {}",
                    used_subs.len(),
                    used_subs.len()
                ));
                want = used_subs.len();
            }
            let mut left = want;
            loop {
                let before = left;
                for &s in &used_subs {
                    if left > 0 && sa_count[s] < caps[s].sa && sa_count[s] < sub_vms[s] {
                        sa_count[s] += 1;
                        left -= 1;
                    }
                }
                if left == 0 || left == before {
                    break;
                }
            }
            if left > 0 {
                notes.push(format!(
                    "n_storage_accounts = {want} is more than quota or VMs allow; using {}",
                    want - left
                ));
            }
        }
        None => {
            for &s in &used_subs {
                sa_count[s] =
                    div_ceil(sub_vms[s], VMS_PER_STORAGE_ACCOUNT).clamp(1, caps[s].sa.max(1));
            }
        }
    }
    // Assemble names.
    let mut subscriptions = Vec::new();
    let mut vms: Vec<Option<VmPlacement>> = vec![None; n];
    let mut cs_index = 0usize;
    let mut sa_index = 0usize;
    for &s in &used_subs {
        let sas: Vec<String> = (0..sa_count[s])
            .map(|j| storage_account_name(base, sa_index + j))
            .collect();
        sa_index += sas.len();
        let mut css = Vec::new();
        let mut pos_in_sub = 0usize;
        for (_, members) in slots.iter().filter(|(ss, _)| *ss == s) {
            let cs = cloud_service_name(base, cs_index);
            cs_index += 1;
            for &i in members {
                let node = &input.nodes[i];
                vms[i] = Some(VmPlacement {
                    node: node.clone(),
                    index: i,
                    subscription: s,
                    cloud_service: cs.clone(),
                    storage_account: sas[pos_in_sub % sas.len()].clone(),
                    role_name: role_name(base, node),
                    ssh_port: SSH_PORT_BASE.saturating_add(u16::try_from(i).unwrap_or(u16::MAX)),
                });
                pos_in_sub += 1;
            }
            css.push(cs);
        }
        subscriptions.push(SubscriptionLayout {
            index: s,
            id: input.subscriptions[s].id.clone(),
            vnet: vnet_name(base, s),
            cloud_services: css,
            storage_accounts: sas,
        });
    }
    let vms: Vec<VmPlacement> = vms.into_iter().flatten().collect();
    Ok(Layout {
        subscriptions,
        vms,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::super::SubscriptionQuota;
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn nodes(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                if i == 0 {
                    "frontend001".to_string()
                } else {
                    format!("compute{i:03}")
                }
            })
            .collect()
    }
    fn sub(id: &str, hs: usize, sa: usize, cores: Option<usize>) -> SubscriptionQuota {
        SubscriptionQuota {
            id: id.into(),
            free_hosted_services: hs,
            free_storage_accounts: sa,
            free_cores: cores,
        }
    }

    fn check(l: &Layout, n: usize, subs: &[SubscriptionQuota]) {
        assert_eq!(l.vms.len(), n);
        let mut per_cs = BTreeMap::<&str, Vec<&VmPlacement>>::new();
        for v in &l.vms {
            per_cs.entry(&v.cloud_service).or_default().push(v);
        }
        for (cs, vs) in &per_cs {
            assert!(
                vs.len() <= MAX_VMS_PER_CLOUD_SERVICE,
                "{cs} has {}",
                vs.len()
            );
            let ports: BTreeSet<u16> = vs.iter().map(|v| v.ssh_port).collect();
            assert_eq!(ports.len(), vs.len(), "duplicate port in {cs}");
            let subs_of: BTreeSet<usize> = vs.iter().map(|v| v.subscription).collect();
            assert_eq!(subs_of.len(), 1);
        }
        for s in &l.subscriptions {
            assert!(s.cloud_services.len() <= subs[s.index].free_hosted_services);
            assert!(s.storage_accounts.len() <= subs[s.index].free_storage_accounts);
            assert!(!s.storage_accounts.is_empty());
            for sa in &s.storage_accounts {
                assert!(
                    (3..=24).contains(&sa.len())
                        && sa
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
                    "{sa}"
                );
            }
            for cs in &s.cloud_services {
                assert!(per_cs.contains_key(cs.as_str()), "empty service {cs}");
            }
        }
        // every VM's storage account is in its own subscription
        for v in &l.vms {
            let s = l
                .subscriptions
                .iter()
                .find(|s| s.index == v.subscription)
                .unwrap();
            assert!(s.storage_accounts.contains(&v.storage_account));
            assert!(s.cloud_services.contains(&v.cloud_service));
        }
        let roles: BTreeSet<&str> = l.vms.iter().map(|v| v.role_name.as_str()).collect();
        assert_eq!(roles.len(), n);
    }

    #[test]
    fn every_size_from_1_to_200_is_accepted_with_default_quota() {
        let subs = [sub("s0", 20, 100, None)];
        for n in 1..=200 {
            let ns = nodes(n);
            let l = plan(&PlanInput {
                base_name: "base1",
                nodes: &ns,
                subscriptions: &subs,
                cores_per_vm: None,
                n_cloud_services: None,
                n_storage_accounts: None,
            })
            .unwrap_or_else(|e| panic!("{n}: {e}"));
            check(&l, n, &subs);
            assert_eq!(l.n_cloud_services(), n.min(20), "{n}");
            assert_eq!(l.max_vms_per_cloud_service(), n.div_ceil(n.min(20)), "{n}");
            assert_eq!(
                l.n_storage_accounts(),
                n.div_ceil(VMS_PER_STORAGE_ACCOUNT),
                "{n}"
            );
            // deterministic
            let again = plan(&PlanInput {
                base_name: "base1",
                nodes: &ns,
                subscriptions: &subs,
                cores_per_vm: None,
                n_cloud_services: None,
                n_storage_accounts: None,
            })
            .unwrap();
            assert_eq!(again, l);
        }
    }

    #[test]
    fn large_clusters_over_several_subscriptions_and_overrides() {
        let subs = [
            sub("a", 20, 100, None),
            sub("b", 5, 3, None),
            sub("c", 0, 10, None),
        ];
        for n in [1, 21, 45, 60, 250, 1000, 1250] {
            let ns = nodes(n);
            let l = plan(&PlanInput {
                base_name: "abc",
                nodes: &ns,
                subscriptions: &subs,
                cores_per_vm: None,
                n_cloud_services: None,
                n_storage_accounts: None,
            })
            .unwrap();
            check(&l, n, &subs);
            assert!(l.subscriptions.iter().all(|s| s.index != 2));
        }
        let ns = nodes(1251);
        let e = plan(&PlanInput {
            base_name: "abc",
            nodes: &ns,
            subscriptions: &subs,
            cores_per_vm: None,
            n_cloud_services: None,
            n_storage_accounts: None,
        })
        .unwrap_err();
        assert!(matches!(e, PlanError::Quota { .. }));
        // overrides: 1..60 with n_cloud_services = 3, n_storage_accounts = 2
        let one = [sub("s0", 20, 100, None)];
        for n in 1..=60 {
            let ns = nodes(n);
            let l = plan(&PlanInput {
                base_name: "base1",
                nodes: &ns,
                subscriptions: &one,
                cores_per_vm: None,
                n_cloud_services: Some(3),
                n_storage_accounts: Some(2),
            })
            .unwrap();
            check(&l, n, &one);
            assert_eq!(l.n_cloud_services(), n.min(3));
            assert_eq!(l.n_storage_accounts(), n.min(2));
        }
        // too few services asked for 120 VMs: raised to 3, with a note
        let ns = nodes(120);
        let l = plan(&PlanInput {
            base_name: "base1",
            nodes: &ns,
            subscriptions: &one,
            cores_per_vm: None,
            n_cloud_services: Some(1),
            n_storage_accounts: None,
        })
        .unwrap();
        assert_eq!(l.n_cloud_services(), 3);
        assert_eq!(l.notes.len(), 1);
    }

    #[test]
    fn cores_quota_is_respected_and_reported() {
        let subs = [sub("a", 20, 100, Some(10)), sub("b", 20, 100, Some(4))];
        let ns = nodes(7);
        let l = plan(&PlanInput {
            base_name: "abc",
            nodes: &ns,
            subscriptions: &subs,
            cores_per_vm: Some(2),
            n_cloud_services: None,
            n_storage_accounts: None,
        })
        .unwrap();
        check(&l, 7, &subs);
        assert_eq!(l.vms.iter().filter(|v| v.subscription == 0).count(), 5);
        let ns = nodes(8);
        let e = plan(&PlanInput {
            base_name: "abc",
            nodes: &ns,
            subscriptions: &subs,
            cores_per_vm: Some(2),
            n_cloud_services: None,
            n_storage_accounts: None,
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("subscription a has 20 free cloud services") && e.contains("2 cores"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_base_name_is_refused_and_services_are_numbered_by_index() {
        let ns = nodes(2);
        let subs = [sub("s", 20, 100, None)];
        let e = plan(&PlanInput {
            base_name: "Bad",
            nodes: &ns,
            subscriptions: &subs,
            cores_per_vm: None,
            n_cloud_services: None,
            n_storage_accounts: None,
        });
        assert!(matches!(e, Err(PlanError::BadBaseName(_))));
        let l = plan(&PlanInput {
            base_name: "abc",
            nodes: &ns,
            subscriptions: &subs,
            cores_per_vm: None,
            n_cloud_services: None,
            n_storage_accounts: None,
        })
        .unwrap();
        assert_eq!(l.vms[0].cloud_service, "abccs0");
        assert_eq!(l.vms[1].cloud_service, "abccs1");
        assert_eq!(l.vms[1].ssh_port, 1223);
    }
}
