//! Addresses the faces hand out, decided in one place so the classic and the Resource
//! Manager faces never give away each other's: public addresses are loopback addresses of
//! the emulator's block `127.A.B.0/24` (classic VIPs, classic instance public IPs, ARM
//! public IPs); private addresses come from the subnet the user defined (`.4` upwards,
//! addresses of deleted VMs reused). It only reads the state.

use std::net::Ipv4Addr;

use crate::model::network::Prefix;
use crate::model::State;

/// Every loopback address of the block in use, in every subscription.
pub fn loopback_in_use(st: &State) -> Vec<Ipv4Addr> {
    let mut used = Vec::new();
    for sub in st.subscriptions.values() {
        for h in sub.hosted_services.values() {
            used.push(h.vip);
            used.extend(
                h.deployment
                    .iter()
                    .flat_map(|d| d.roles.iter())
                    .filter_map(|r| r.vm_spec.as_ref().and_then(|s| s.public_address)),
            );
        }
        used.extend(sub.arm.public_addresses());
    }
    used
}

/// The lowest free loopback address of the block, not in use and not in `also_taken`.
pub fn free_loopback(st: &State, also_taken: &[Ipv4Addr]) -> Option<Ipv4Addr> {
    let used = loopback_in_use(st);
    let (a, b) = st.vip_block;
    (1..=254u8)
        .map(|h| Ipv4Addr::new(127, a, b, h))
        .find(|ip| !used.contains(ip) && !also_taken.contains(ip))
}

/// The address a new VM gets in `subnet`: `wanted` when Azure could hand it out and it is
/// free, else the lowest free one from `.4`.
pub fn subnet_address(
    subnet: &Prefix,
    taken: &[Ipv4Addr],
    wanted: Option<Ipv4Addr>,
) -> Option<Ipv4Addr> {
    match wanted {
        Some(w) if subnet.assignable(w) && !taken.contains(&w) => Some(w),
        _ => subnet.first_free(taken),
    }
}
