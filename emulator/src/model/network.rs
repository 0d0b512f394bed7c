//! The virtual network sites a subscription's stored `NetworkConfiguration` document
//! declares (name, location, address prefixes, subnets), read by the deployment checks,
//! List Virtual Network Sites and the admin inventory. It only reads the document.

use crate::xml::Node;

/// One `VirtualNetworkSite`.
pub struct Site {
    pub name: String,
    pub location: String,
    pub prefixes: Vec<String>,
    /// (name, address prefix).
    pub subnets: Vec<(String, String)>,
}

/// Every site of the document, in document order.
pub fn sites(doc: &Node) -> Vec<Site> {
    let Some(sites) = doc
        .child("VirtualNetworkConfiguration")
        .and_then(|c| c.child("VirtualNetworkSites"))
    else {
        return Vec::new();
    };
    sites
        .children_named("VirtualNetworkSite")
        .map(|site| Site {
            name: site.attr("name").unwrap_or_default().to_string(),
            location: site
                .attr("Location")
                .or(site.attr("AffinityGroup"))
                .unwrap_or_default()
                .to_string(),
            prefixes: site
                .child("AddressSpace")
                .map(|space| {
                    space
                        .children_named("AddressPrefix")
                        .map(|p| p.value().to_string())
                        .collect()
                })
                .unwrap_or_default(),
            subnets: site
                .child("Subnets")
                .map(|subnets| {
                    subnets
                        .children_named("Subnet")
                        .map(|subnet| {
                            (
                                subnet.attr("name").unwrap_or_default().to_string(),
                                subnet
                                    .child("AddressPrefix")
                                    .map(|p| p.value().to_string())
                                    .unwrap_or_default(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}
