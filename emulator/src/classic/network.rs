//! Virtual network configuration: the whole-subscription `NetworkConfiguration` document
//! (GET as text/plain the way .NET pretty-printed it, PUT async under the subscription's
//! network lock) and List Virtual Network Sites.

use std::sync::Arc;

use super::errors::{ApiError, ApiResult};
use super::request::RequestContext;
use crate::engine::operations::{NewOperation, NETWORK_LOCK};
use crate::engine::Emulator;
use crate::http::HttpResponse;
use crate::ids::stable_guid;
use crate::model::network::sites;
use crate::model::{catalog, Pending};
use crate::xml::{self, Node, XmlWriter};

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
                if let Some(l) = s.attr("Location") {
                    if catalog::location(l).is_none() {
                        return Err(ApiError::bad_request(format!(
                            "The location {l} of virtual network {name} is not valid."
                        )));
                    }
                } else if s.attr("AffinityGroup").is_none() {
                    return Err(ApiError::bad_request(format!(
                        "The virtual network {name} must have a Location."
                    )));
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

pub fn list_sites(emu: &Arc<Emulator>, ctx: &RequestContext) -> ApiResult {
    let st = emu.lock();
    let sub = ctx.subscription(&st)?;
    let all = sub.network_sites();
    if all.is_empty() {
        return Ok(HttpResponse::xml(XmlWriter::empty_document(
            "VirtualNetworkSites",
        )));
    }
    let mut w = XmlWriter::with_root("VirtualNetworkSites");
    for s in all {
        w.open("VirtualNetworkSite");
        w.leaf("Name", &s.name);
        w.leaf(
            "Id",
            stable_guid(&format!("{}/{}", ctx.subscription, s.name)),
        );
        w.leaf("State", "Created");
        w.open("AddressSpace").open("AddressPrefixes");
        for p in &s.prefixes {
            w.leaf("AddressPrefix", p);
        }
        w.close("AddressPrefixes").close("AddressSpace");
        if s.subnets.is_empty() {
            w.empty("Subnets");
        } else {
            w.open("Subnets");
            for (n, p) in &s.subnets {
                w.open("Subnet")
                    .leaf("Name", n)
                    .leaf("AddressPrefix", p)
                    .close("Subnet");
            }
            w.close("Subnets");
        }
        w.leaf("Location", &s.location);
        w.close("VirtualNetworkSite");
    }
    Ok(HttpResponse::xml(w.finish("VirtualNetworkSites")))
}
