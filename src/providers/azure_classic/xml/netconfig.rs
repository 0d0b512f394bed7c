//! The subscription-wide network configuration: read, add our site, remove our site —
//! every byte we do not own kept as it was.

use super::{esc, NS_I, VNET_NS};

// ---------------------------------------------------------------------------------------
// Network configuration: get → modify → put, preserving everything we do not own
// ---------------------------------------------------------------------------------------

/// The subscription-wide document used when none has ever been set (GET gave 404).
pub fn empty_network_config() -> String {
    format!(
        "<NetworkConfiguration xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"{NS_I}\" xmlns=\"{VNET_NS}\">\
         <VirtualNetworkConfiguration><Dns/><VirtualNetworkSites/></VirtualNetworkConfiguration></NetworkConfiguration>"
    )
}

/// A `VirtualNetworkSite` element for our cluster.
pub fn vnet_site(
    name: &str,
    location: &str,
    address_prefix: &str,
    subnet: &str,
    subnet_prefix: &str,
) -> String {
    format!(
        "<VirtualNetworkSite name=\"{}\" Location=\"{}\"><AddressSpace><AddressPrefix>{}</AddressPrefix></AddressSpace>\
         <Subnets><Subnet name=\"{}\"><AddressPrefix>{}</AddressPrefix></Subnet></Subnets></VirtualNetworkSite>",
        esc(name),
        esc(location),
        esc(address_prefix),
        esc(subnet),
        esc(subnet_prefix)
    )
}

/// Byte spans of interesting elements in a network configuration document.
#[derive(Default, Debug)]
struct NetSpans {
    /// `(name, start, end)` of each VirtualNetworkSite element.
    sites: Vec<(String, usize, usize)>,
    /// Position right before `</VirtualNetworkSites>` or span of an empty `<VirtualNetworkSites/>`.
    sites_close: Option<usize>,
    sites_empty: Option<(usize, usize)>,
    vnc_close: Option<usize>,
    vnc_empty: Option<(usize, usize)>,
    root_close: Option<usize>,
}

fn local(name: &str) -> &str {
    match name.rfind(':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

#[allow(deprecated)] // `unescape_value` is the simple, version-independent form we need
fn name_attr(e: &quick_xml::events::BytesStart<'_>) -> String {
    e.attributes()
        .flatten()
        .find(|a| AsRef::<str>::as_ref(&a.key) == "name")
        .and_then(|a| a.unescape_value().ok().map(|c| c.into_owned()))
        .unwrap_or_default()
}

fn scan_netconfig(doc: &str) -> Result<NetSpans, String> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(doc);
    let mut spans = NetSpans::default();
    let mut stack: Vec<String> = Vec::new();
    let mut site_start: Option<(String, usize)> = None;
    loop {
        let before = r.buffer_position() as usize;
        let ev = r
            .read_event()
            .map_err(|e| format!("network configuration is not valid XML: {e}"))?;
        let after = r.buffer_position() as usize;
        match ev {
            Event::Start(e) => {
                let n = local(e.name().as_ref()).to_string();
                if n == "VirtualNetworkSite"
                    && stack.last().map(String::as_str) == Some("VirtualNetworkSites")
                {
                    let name = name_attr(&e);
                    site_start = Some((name, before));
                }
                stack.push(n);
            }
            Event::Empty(e) => {
                let n = local(e.name().as_ref()).to_string();
                if n == "VirtualNetworkSites" {
                    spans.sites_empty = Some((before, after));
                } else if n == "VirtualNetworkConfiguration" {
                    spans.vnc_empty = Some((before, after));
                } else if n == "VirtualNetworkSite" {
                    let name = name_attr(&e);
                    spans.sites.push((name, before, after));
                }
            }
            Event::End(e) => {
                let n = local(e.name().as_ref()).to_string();
                stack.pop();
                if n == "VirtualNetworkSite" {
                    if let Some((name, start)) = site_start.take() {
                        spans.sites.push((name, start, after));
                    }
                } else if n == "VirtualNetworkSites" {
                    spans.sites_close = Some(before);
                } else if n == "VirtualNetworkConfiguration" {
                    spans.vnc_close = Some(before);
                } else if n == "NetworkConfiguration" {
                    spans.root_close = Some(before);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if spans.root_close.is_none() {
        return Err("network configuration has no NetworkConfiguration element".into());
    }
    Ok(spans)
}

/// Names of the virtual network sites in a network configuration document.
pub fn netconfig_site_names(doc: &str) -> Result<Vec<String>, String> {
    let doc = doc.trim_start_matches('\u{feff}');
    Ok(scan_netconfig(doc)?
        .sites
        .into_iter()
        .map(|s| s.0)
        .collect())
}

/// Add `site_xml` (named `name`) to the document; `None` when it is already there.
pub fn netconfig_add_site(doc: &str, name: &str, site_xml: &str) -> Result<Option<String>, String> {
    let doc = doc.trim_start_matches('\u{feff}');
    let s = scan_netconfig(doc)?;
    if s.sites.iter().any(|(n, _, _)| n == name) {
        return Ok(None);
    }
    let splice = |at: usize, end: usize, text: &str| {
        let mut o = String::with_capacity(doc.len() + text.len());
        o.push_str(&doc[..at]);
        o.push_str(text);
        o.push_str(&doc[end..]);
        o
    };
    let out = if let Some(at) = s.sites_close {
        splice(at, at, site_xml)
    } else if let Some((a, b)) = s.sites_empty {
        splice(
            a,
            b,
            &format!("<VirtualNetworkSites>{site_xml}</VirtualNetworkSites>"),
        )
    } else if let Some(at) = s.vnc_close {
        splice(
            at,
            at,
            &format!("<VirtualNetworkSites>{site_xml}</VirtualNetworkSites>"),
        )
    } else if let Some((a, b)) = s.vnc_empty {
        splice(
            a,
            b,
            &format!("<VirtualNetworkConfiguration><VirtualNetworkSites>{site_xml}</VirtualNetworkSites></VirtualNetworkConfiguration>"),
        )
    } else {
        let at = s.root_close.unwrap_or(doc.len());
        splice(
            at,
            at,
            &format!("<VirtualNetworkConfiguration><VirtualNetworkSites>{site_xml}</VirtualNetworkSites></VirtualNetworkConfiguration>"),
        )
    };
    Ok(Some(out))
}

/// Remove the site named `name`; `None` when it is not there.
pub fn netconfig_remove_site(doc: &str, name: &str) -> Result<Option<String>, String> {
    let doc = doc.trim_start_matches('\u{feff}');
    let s = scan_netconfig(doc)?;
    let Some((_, a, b)) = s.sites.iter().find(|(n, _, _)| n == name) else {
        return Ok(None);
    };
    Ok(Some(format!("{}{}", &doc[..*a], &doc[*b..])))
}

#[cfg(test)]
mod tests {
    use super::*;

    const XP_NET: &str = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<NetworkConfiguration xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"http://schemas.microsoft.com/ServiceHosting/2011/07/NetworkConfiguration\">\r\n  <VirtualNetworkConfiguration>\r\n    <Dns>\r\n      <DnsServers>\r\n        <DnsServer name=\"dns-cli-1\" IPAddress=\"66.77.88.98\" />\r\n      </DnsServers>\r\n    </Dns>\r\n    <VirtualNetworkSites>\r\n      <VirtualNetworkSite name=\"classic-cli-vnet2\" Location=\"South Central US\">\r\n        <AddressSpace>\r\n          <AddressPrefix>192.168.2.0/16</AddressPrefix>\r\n        </AddressSpace>\r\n        <Subnets>\r\n          <Subnet name=\"backend\">\r\n            <AddressPrefix>192.168.2.0/24</AddressPrefix>\r\n          </Subnet>\r\n        </Subnets>\r\n      </VirtualNetworkSite>\r\n    </VirtualNetworkSites>\r\n  </VirtualNetworkConfiguration>\r\n</NetworkConfiguration>";

    #[test]
    fn network_config_merge_keeps_other_sites() {
        let site = vnet_site("basevn0", "East US", "10.0.0.0/8", "subnet1", "10.0.0.0/11");
        let added = netconfig_add_site(XP_NET, "basevn0", &site)
            .unwrap()
            .unwrap();
        assert_eq!(
            netconfig_site_names(&added).unwrap(),
            ["classic-cli-vnet2", "basevn0"]
        );
        assert!(added.contains("dns-cli-1"));
        assert!(netconfig_add_site(&added, "basevn0", &site)
            .unwrap()
            .is_none());
        let removed = netconfig_remove_site(&added, "basevn0").unwrap().unwrap();
        assert_eq!(removed, XP_NET.trim_start_matches('\u{feff}'));
        assert!(netconfig_remove_site(&removed, "basevn0")
            .unwrap()
            .is_none());
        // from nothing
        let fresh = netconfig_add_site(&empty_network_config(), "basevn0", &site)
            .unwrap()
            .unwrap();
        assert_eq!(netconfig_site_names(&fresh).unwrap(), ["basevn0"]);
        let back = netconfig_remove_site(&fresh, "basevn0").unwrap().unwrap();
        assert!(netconfig_site_names(&back).unwrap().is_empty());
        // no VirtualNetworkSites element at all
        let bare = format!("<NetworkConfiguration xmlns=\"{VNET_NS}\"><VirtualNetworkConfiguration><Dns/></VirtualNetworkConfiguration></NetworkConfiguration>");
        let a = netconfig_add_site(&bare, "basevn0", &site)
            .unwrap()
            .unwrap();
        assert_eq!(netconfig_site_names(&a).unwrap(), ["basevn0"]);
        assert!(netconfig_add_site("<oops", "x", &site).is_err());
    }
}
