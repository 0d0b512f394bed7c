//! Virtual network configuration: the whole-subscription `NetworkConfiguration` document
//! (GET as text/plain the way .NET pretty-printed it, PUT async under the subscription's
//! network lock; a site in an affinity group is refused, none can exist here). Listing
//! the sites is `network_sites`.

use std::sync::Arc;

use super::errors::{ApiError, ApiResult};
use super::request::RequestContext;
use crate::engine::operations::{NewOperation, NETWORK_LOCK};
use crate::engine::Emulator;
use crate::http::HttpResponse;
use crate::model::network::sites;
use crate::model::{catalog, Pending};
use crate::xml::{self, Node};

fn valid_prefix(p: &str) -> bool {
    let Some((ip, len)) = p.split_once('/') else {
        return false;
    };
    ip.parse::<std::net::Ipv4Addr>().is_ok() && len.parse::<u8>().is_ok_and(|l| l <= 32)
}

/// The document's structure in Azure's element order, names, locations and prefixes.
fn validate(doc: &Node) -> Result<(), ApiError> {
    if doc.local() != "NetworkConfiguration" {
        return Err(ApiError::bad_request("The network configuration is not valid: the root element must be NetworkConfiguration."));
    }
    let mut w = doc.walk();
    if let Some(vnc) = w.opt("VirtualNetworkConfiguration") {
        let mut vw = vnc.walk();
        let _ = vw.opt("Dns");
        let _ = vw.opt("LocalNetworkSites");
        if let Some(vs) = vw.opt("VirtualNetworkSites") {
            let mut sw = vs.walk();
            let mut seen = Vec::new();
            for s in sw.many("VirtualNetworkSite") {
                let name = s.attr("name").unwrap_or_default();
                if name.is_empty() {
                    return Err(ApiError::bad_request(
                        "The network configuration is not valid: a VirtualNetworkSite has no name.",
                    ));
                }
                if seen.contains(&name.to_ascii_lowercase()) {
                    return Err(ApiError::bad_request(format!("The network configuration is not valid: the virtual network site {name} is declared twice.")));
                }
                seen.push(name.to_ascii_lowercase());
                match (s.attr("Location"), s.attr("AffinityGroup")) {
                    // No affinity group can exist here (creating one is not supported).
                    (_, Some(a)) => {
                        return Err(ApiError::bad_request(format!(
                            "The affinity group {a} does not exist."
                        )))
                    }
                    (Some(l), None) if catalog::location(l).is_none() => {
                        return Err(ApiError::bad_request(format!(
                            "The location {l} of virtual network {name} is not valid."
                        )))
                    }
                    (Some(_), None) => {}
                    (None, None) => {
                        return Err(ApiError::bad_request(format!("Neither Affinity Group nor Location elemet is specified in virtual network site '{name}'. Either Affinity Group or Location must be specified for every virtual network.")))
                    }
                }
                let mut ew = s.walk();
                let space = ew.req("AddressSpace")?;
                let mut aw = space.walk();
                let prefixes = aw.many("AddressPrefix");
                aw.finish()?;
                if prefixes.is_empty() || prefixes.iter().any(|p| !valid_prefix(p.value())) {
                    return Err(ApiError::bad_request(format!(
                        "The address space of virtual network {name} is not valid."
                    )));
                }
                if let Some(sub) = ew.opt("Subnets") {
                    let mut subw = sub.walk();
                    for sn in subw.many("Subnet") {
                        let mut snw = sn.walk();
                        let p = snw.req("AddressPrefix")?;
                        let _ = snw.opt("NetworkSecurityGroup");
                        snw.finish()?;
                        if !valid_prefix(p.value()) || sn.attr("name").is_none() {
                            return Err(ApiError::bad_request(format!(
                                "A subnet of virtual network {name} is not valid."
                            )));
                        }
                    }
                    subw.finish()?;
                }
                let _ = ew.opt("DnsServersRef");
                let _ = ew.opt("Gateway");
                ew.finish()?;
            }
            sw.finish()?;
        }
        vw.finish()?;
    }
    w.finish()?;
    Ok(())
}

/// The whole `NetworkConfiguration` document, as .NET pretty-printed it (text/plain).
pub fn get_configuration(emu: &Arc<Emulator>, ctx: &RequestContext) -> ApiResult {
    let st = emu.lock();
    let sub = ctx.subscription(&st)?;
    let doc = sub.network.as_ref().ok_or_else(|| {
        ApiError::not_found("There is no network configuration for this subscription.")
    })?;
    Ok(HttpResponse::text(xml::pretty_dotnet(doc)))
}

/// Replace the whole document (async); removing a site a deployment uses fails the operation.
pub fn set_configuration(emu: &Arc<Emulator>, ctx: &RequestContext) -> ApiResult {
    let doc = ctx.body_xml()?;
    validate(&doc)?;
    let mut st = emu.lock();
    let sub = ctx.subscription_mut(&mut st)?;
    if let Some(op) = &sub.network_lock {
        return Err(ApiError::conflict(format!("Windows Azure is currently performing an operation with x-ms-requestid {op} on this subscription's virtual network configuration that requires exclusive access.")));
    }
    // Removing a site that deployments still use fails the operation.
    let new_sites: Vec<String> = sites(&doc)
        .into_iter()
        .map(|s| s.name.to_ascii_lowercase())
        .collect();
    let in_use = sub.hosted_services.values().find_map(|h| {
        let d = h.deployment.as_ref()?;
        let v = d.virtual_network.as_ref()?;
        (!new_sites.contains(&v.to_ascii_lowercase())).then(|| (v.clone(), d.name.clone()))
    });
    let fail = in_use.map(|(v, d)| {
        ApiError::bad_request(format!(
            "The virtual network {v} cannot be removed because it is in use by deployment {d}."
        ))
        .to_operation_error()
    });
    let dur = emu.latency.scaled(emu.latency.set_network_configuration);
    emu.begin_operation(
        sub,
        &ctx.request_id,
        NewOperation {
            kind: "SetNetworkConfiguration",
            duration: dur,
            pending: Pending::SetNetwork { doc },
            locks: vec![NETWORK_LOCK.into()],
            fail_with: fail,
        },
    );
    emu.persist(&st);
    Ok(HttpResponse::empty(202))
}
