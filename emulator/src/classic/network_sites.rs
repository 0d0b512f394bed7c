//! List Virtual Network Sites: the sites of the stored `NetworkConfiguration` document in
//! Azure's element order, with whether a deployment uses them, the DNS servers they
//! reference and their gateway. Rendering only; the document is `network`'s.

use std::sync::Arc;

use super::errors::ApiResult;
use super::request::RequestContext;
use crate::engine::Emulator;
use crate::http::HttpResponse;
use crate::ids::stable_guid;
use crate::xml::{Node, XmlWriter};

/// List Virtual Network Sites, in Azure's element order: `InUse` when a deployment is in
/// the site, its DNS servers resolved from `DnsServersRef`, its gateway when configured.
pub fn list(emu: &Arc<Emulator>, ctx: &RequestContext) -> ApiResult {
    let st = emu.lock();
    let sub = ctx.subscription(&st)?;
    let all = sub.network_sites();
    let Some(doc) = sub.network.as_ref().filter(|_| !all.is_empty()) else {
        return Ok(HttpResponse::xml(XmlWriter::empty_document(
            "VirtualNetworkSites",
        )));
    };
    let mut w = XmlWriter::with_root("VirtualNetworkSites");
    for s in all {
        let in_use = sub.hosted_services.values().any(|h| {
            h.deployment
                .as_ref()
                .and_then(|d| d.virtual_network.as_ref())
                .is_some_and(|v| v.eq_ignore_ascii_case(&s.name))
        });
        w.open("VirtualNetworkSite");
        w.leaf("Name", &s.name);
        w.leaf(
            "Id",
            stable_guid(&format!("{}/{}", ctx.subscription, s.name)),
        );
        w.leaf("State", "Created");
        if in_use {
            w.leaf("InUse", "true");
        }
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
        if let Some(site) = site_node(doc, &s.name) {
            write_site_dns(&mut w, doc, site);
            write_site_gateway(&mut w, doc, site);
        }
        w.leaf("Location", &s.location);
        w.close("VirtualNetworkSite");
    }
    Ok(HttpResponse::xml(w.finish("VirtualNetworkSites")))
}

fn configuration_child<'a>(doc: &'a Node, list: &str) -> Option<&'a Node> {
    doc.child("VirtualNetworkConfiguration")
        .and_then(|c| c.child(list))
}

/// The site's element in the stored document.
fn site_node<'a>(doc: &'a Node, name: &str) -> Option<&'a Node> {
    configuration_child(doc, "VirtualNetworkSites")?
        .children_named("VirtualNetworkSite")
        .find(|s| s.attr("name") == Some(name))
}

/// `<Dns>`: the subscription's DNS servers the site references, name and address.
fn write_site_dns(w: &mut XmlWriter, doc: &Node, site: &Node) {
    let Some(refs) = site.child("DnsServersRef") else {
        return;
    };
    let declared = configuration_child(doc, "Dns").and_then(|d| d.child("DnsServers"));
    let servers: Vec<(&str, &str)> = refs
        .children_named("DnsServerRef")
        .filter_map(|r| {
            let name = r.attr("name")?;
            let server = declared?
                .children_named("DnsServer")
                .find(|d| d.attr("name") == Some(name))?;
            Some((name, server.attr("IPAddress").unwrap_or_default()))
        })
        .collect();
    if servers.is_empty() {
        return;
    }
    w.open("Dns").open("DnsServers");
    for (name, address) in servers {
        w.open("DnsServer")
            .leaf("Name", name)
            .leaf("Address", address)
            .close("DnsServer");
    }
    w.close("DnsServers").close("Dns");
}

/// `<Gateway>` of a site whose configuration has one: the local network sites it connects
/// to (their prefixes and VPN gateway address from the document) and the client pool.
fn write_site_gateway(w: &mut XmlWriter, doc: &Node, site: &Node) {
    let Some(gateway) = site.child("Gateway") else {
        return;
    };
    let locals = configuration_child(doc, "LocalNetworkSites");
    w.open("Gateway").leaf("Profile", "Small");
    let refs: Vec<&Node> = gateway
        .child("ConnectionsToLocalNetwork")
        .map(|c| c.children_named("LocalNetworkSiteRef").collect())
        .unwrap_or_default();
    if refs.is_empty() {
        w.empty("Sites");
    } else {
        w.open("Sites");
        for r in refs {
            let name = r.attr("name").unwrap_or_default();
            let local = locals.and_then(|l| {
                l.children_named("LocalNetworkSite")
                    .find(|s| s.attr("name") == Some(name))
            });
            w.open("LocalNetworkSite").leaf("Name", name);
            w.open("AddressSpace");
            write_prefixes(
                w,
                local
                    .and_then(|l| l.child("AddressSpace"))
                    .map(|a| a.children_named("AddressPrefix").collect())
                    .unwrap_or_default(),
            );
            w.close("AddressSpace");
            w.leaf(
                "VpnGatewayAddress",
                local
                    .and_then(|l| l.child("VPNGatewayAddress"))
                    .map(Node::value)
                    .unwrap_or_default(),
            );
            w.open("Connections");
            for c in r.children_named("Connection") {
                w.open("Connection")
                    .leaf("Type", c.attr("type").unwrap_or("IPsec"))
                    .close("Connection");
            }
            w.close("Connections");
            w.close("LocalNetworkSite");
        }
        w.close("Sites");
    }
    w.open("VPNClientAddressPool");
    write_prefixes(
        w,
        gateway
            .child("VPNClientAddressPool")
            .map(|p| p.children_named("AddressPrefix").collect())
            .unwrap_or_default(),
    );
    w.close("VPNClientAddressPool");
    w.empty("VnetNames");
    w.close("Gateway");
}

fn write_prefixes(w: &mut XmlWriter, prefixes: Vec<&Node>) {
    if prefixes.is_empty() {
        w.empty("AddressPrefixes");
        return;
    }
    w.open("AddressPrefixes");
    for p in prefixes {
        w.leaf("AddressPrefix", p.value());
    }
    w.close("AddressPrefixes");
}
