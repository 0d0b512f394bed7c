//! Virtual network configuration: the whole-subscription `NetworkConfiguration` document
//! (GET text/plain as .NET pretty-printed it, PUT async) and List Virtual Network Sites.

use std::sync::Arc;

use crate::model::{catalog, Pending};
use crate::xml::{self, Node, W};

use super::*;

pub const VNET_NS: &str =
    "http://schemas.microsoft.com/ServiceHosting/2011/07/NetworkConfiguration";

/// (name, location, address prefixes, subnets (name, prefix)) of every site.
pub struct Site {
    pub name: String,
    pub location: String,
    pub prefixes: Vec<String>,
    pub subnets: Vec<(String, String)>,
}

pub fn sites(doc: &Node) -> Vec<Site> {
    let mut v = Vec::new();
    let Some(vnc) = doc.child("VirtualNetworkConfiguration") else {
        return v;
    };
    let Some(vs) = vnc.child("VirtualNetworkSites") else {
        return v;
    };
    for s in vs.children_named("VirtualNetworkSite") {
        v.push(Site {
            name: s.attr("name").unwrap_or_default().to_string(),
            location: s
                .attr("Location")
                .or(s.attr("AffinityGroup"))
                .unwrap_or_default()
                .to_string(),
            prefixes: s
                .child("AddressSpace")
                .map(|a| {
                    a.children_named("AddressPrefix")
                        .map(|p| p.value().to_string())
                        .collect()
                })
                .unwrap_or_default(),
            subnets: s
                .child("Subnets")
                .map(|ss| {
                    ss.children_named("Subnet")
                        .map(|n| {
                            (
                                n.attr("name").unwrap_or_default().to_string(),
                                n.child("AddressPrefix")
                                    .map(|p| p.value().to_string())
                                    .unwrap_or_default(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    v
}

fn valid_prefix(p: &str) -> bool {
    let Some((ip, len)) = p.split_once('/') else {
        return false;
    };
    ip.parse::<std::net::Ipv4Addr>().is_ok() && len.parse::<u8>().is_ok_and(|l| l <= 32)
}

fn validate(doc: &Node) -> Result<(), ApiError> {
    if doc.local() != "NetworkConfiguration" {
        return Err(ApiError::bad("The network configuration is not valid: the root element must be NetworkConfiguration."));
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
                    return Err(ApiError::bad(
                        "The network configuration is not valid: a VirtualNetworkSite has no name.",
                    ));
                }
                if seen.contains(&name.to_ascii_lowercase()) {
                    return Err(ApiError::bad(format!("The network configuration is not valid: the virtual network site {name} is declared twice.")));
                }
                seen.push(name.to_ascii_lowercase());
                if let Some(l) = s.attr("Location") {
                    if catalog::location(l).is_none() {
                        return Err(ApiError::bad(format!(
                            "The location {l} of virtual network {name} is not valid."
                        )));
                    }
                } else if s.attr("AffinityGroup").is_none() {
                    return Err(ApiError::bad(format!(
                        "The virtual network {name} must have a Location."
                    )));
                }
                let mut ew = s.walk();
                let space = ew.req("AddressSpace")?;
                let mut aw = space.walk();
                let prefixes = aw.many("AddressPrefix");
                aw.finish()?;
                if prefixes.is_empty() || prefixes.iter().any(|p| !valid_prefix(p.value())) {
                    return Err(ApiError::bad(format!(
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
                            return Err(ApiError::bad(format!(
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

pub fn get(emu: &Arc<Emu>, ctx: &Ctx) -> ApiResult {
    let st = emu.lock();
    let sub = sub_ref(&st, ctx)?;
    let doc = sub.network.as_ref().ok_or_else(|| {
        ApiError::not_found("There is no network configuration for this subscription.")
    })?;
    Ok(Resp {
        status: 200,
        content_type: Some("text/plain"),
        body: xml::pretty_dotnet(doc).into_bytes(),
        headers: Vec::new(),
    })
}

pub fn set(emu: &Arc<Emu>, ctx: &Ctx) -> ApiResult {
    let doc = ctx.body_xml()?;
    validate(&doc)?;
    let mut st = emu.lock();
    let sub = sub_mut(&mut st, ctx)?;
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
        ApiError::bad(format!(
            "The virtual network {v} cannot be removed because it is in use by deployment {d}."
        ))
        .op_error()
    });
    let dur = emu.latency.d(emu.latency.set_network_configuration);
    emu.begin_op(
        sub,
        &ctx.request_id,
        "SetNetworkConfiguration",
        dur,
        Pending::SetNetwork { doc },
        vec!["net".into()],
        fail,
    );
    emu.persist(&st);
    Ok(Resp::empty(202))
}

pub fn pseudo_guid(s: &str) -> String {
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in s.bytes() {
        h ^= b as u128;
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    let x = format!("{h:032x}");
    super::guid_form(&x)
}

pub fn list_sites(emu: &Arc<Emu>, ctx: &Ctx) -> ApiResult {
    let st = emu.lock();
    let sub = sub_ref(&st, ctx)?;
    let all = sub.network.as_ref().map(sites).unwrap_or_default();
    if all.is_empty() {
        return Ok(Resp::xml(W::empty_root("VirtualNetworkSites")));
    }
    let mut w = W::root("VirtualNetworkSites");
    for s in all {
        w.open("VirtualNetworkSite");
        w.leaf("Name", &s.name);
        w.leaf("Id", pseudo_guid(&format!("{}/{}", ctx.sub, s.name)));
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
    Ok(Resp::xml(w.finish("VirtualNetworkSites")))
}
