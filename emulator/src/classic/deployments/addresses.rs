//! The addresses of new roles: a role whose network configuration names a subnet of the
//! deployment's virtual network gets the next free address of that subnet (`.4` upwards,
//! or its `StaticVirtualNetworkIPAddress` when that one is free; addresses of deleted roles
//! are reused), and such a role's instance public IP is a loopback address of the
//! emulator's block, through which its SSH port and its endpoints' ports reach it. Roles
//! without a subnet keep the backend's own addresses.

use std::net::{Ipv4Addr, SocketAddr};

use crate::classic::errors::ApiError;
use crate::engine::addresses::{free_loopback, subnet_address};
use crate::model::network::Prefix;
use crate::model::{Role, State};
use crate::vm::{EndpointSpec, SubnetAddress};

/// What one new role gets.
#[derive(Clone, Debug, Default)]
pub struct RoleAddresses {
    pub subnet: Option<SubnetAddress>,
    pub public: Option<Ipv4Addr>,
}

/// Addresses already handed out in virtual network `vnet` of subscription `sub`.
fn taken_in(st: &State, sub: &str, vnet: &str) -> Vec<Ipv4Addr> {
    st.subscriptions
        .values()
        .filter(|s| s.id.eq_ignore_ascii_case(sub))
        .flat_map(|s| s.hosted_services.values())
        .filter_map(|h| h.deployment.as_ref())
        .filter(|d| {
            d.virtual_network
                .as_deref()
                .is_some_and(|v| v.eq_ignore_ascii_case(vnet))
        })
        .flat_map(|d| d.roles.iter())
        .filter_map(|r| r.vm_spec.as_ref().and_then(|s| s.subnet_address))
        .map(|a| a.ip)
        .collect()
}

/// Addresses for `roles` joining a deployment in `vnet` (one entry per role, in order).
/// A virtual network or subnet that does not exist gets nothing here (the role checks
/// refuse it); a full subnet is Azure's 400.
pub fn plan(
    st: &State,
    sub: &str,
    vnet: Option<&str>,
    roles: &[Role],
) -> Result<Vec<RoleAddresses>, ApiError> {
    let Some(vnet) = vnet else {
        return Ok(vec![RoleAddresses::default(); roles.len()]);
    };
    let site = st
        .subscriptions
        .values()
        .find(|s| s.id.eq_ignore_ascii_case(sub))
        .and_then(|s| {
            s.network_sites()
                .into_iter()
                .find(|site| site.name.eq_ignore_ascii_case(vnet))
        });
    let mut taken = taken_in(st, sub, vnet);
    let mut public_taken = Vec::new();
    let mut out = Vec::new();
    for r in roles {
        let subnet = r.subnet_names.first().and_then(|n| {
            site.as_ref()?
                .subnets
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(n))
                .map(|(name, prefix)| (name.clone(), prefix.clone()))
        });
        let Some((name, prefix_text)) = subnet else {
            out.push(RoleAddresses::default());
            continue;
        };
        let prefix = Prefix::parse(&prefix_text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "The address prefix {prefix_text} of subnet {name} is not valid."
            ))
        })?;
        let wanted = r.static_ip.as_deref().and_then(|s| s.parse().ok());
        let ip = subnet_address(&prefix, &taken, wanted).ok_or_else(|| {
            ApiError::bad_request(format!(
                "The subnet {name} of virtual network {vnet} has no free address for role {}.",
                r.name
            ))
        })?;
        taken.push(ip);
        let public = if r.public_ips.is_empty() {
            None
        } else {
            let p = free_loopback(st, &public_taken).ok_or_else(|| {
                ApiError::new(
                    503,
                    "ServerBusy",
                    "No free public IP address in this emulator's block (254 addresses).",
                )
            })?;
            public_taken.push(p);
            Some(p)
        };
        out.push(RoleAddresses {
            subnet: Some(SubnetAddress {
                ip,
                prefix: prefix.len,
            }),
            public,
        });
    }
    Ok(out)
}

/// The forwarded ports of an instance public IP: SSH and every endpoint's local port.
pub fn public_endpoints(role: &Role, public: Ipv4Addr) -> Vec<EndpointSpec> {
    let mut ports: Vec<(u16, String)> = vec![(22, "tcp".into())];
    for e in &role.endpoints {
        let k = (e.local_port, e.protocol.to_ascii_lowercase());
        if !ports.contains(&k) {
            ports.push(k);
        }
    }
    ports
        .into_iter()
        .map(|(port, protocol)| EndpointSpec {
            name: format!("PublicIP-{port}"),
            protocol,
            public: SocketAddr::new(public.into(), port),
            local_port: port,
        })
        .collect()
}
