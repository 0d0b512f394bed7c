//! The virtual network sites a subscription's stored `NetworkConfiguration` document
//! declares (name, location, address prefixes, subnets), read by the deployment checks,
//! List Virtual Network Sites and the admin inventory; and IPv4 prefixes with Azure's rule
//! for handing out addresses in a subnet (`.4` upwards, freed ones reused). It only reads.

use std::net::Ipv4Addr;

use crate::xml::Node;

/// An IPv4 prefix `a.b.c.d/n` as the user wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    pub addr: Ipv4Addr,
    pub len: u8,
}

impl Prefix {
    /// `10.0.0.0/20` (the length is required; 0–32).
    pub fn parse(text: &str) -> Option<Prefix> {
        let (a, l) = text.trim().split_once('/')?;
        let len: u8 = l.parse().ok()?;
        (len <= 32).then_some(Prefix {
            addr: a.parse().ok()?,
            len,
        })
    }

    fn mask(&self) -> u32 {
        if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.len))
        }
    }

    pub fn network(&self) -> u32 {
        u32::from(self.addr) & self.mask()
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == self.network()
    }

    /// Whether `self` lies within `outer`.
    pub fn within(&self, outer: &Prefix) -> bool {
        self.len >= outer.len && outer.contains(Ipv4Addr::from(self.network()))
    }

    pub fn overlaps(&self, other: &Prefix) -> bool {
        self.contains(Ipv4Addr::from(other.network()))
            || other.contains(Ipv4Addr::from(self.network()))
    }

    /// The lowest address Azure would hand out that is not in `taken`: from the fifth
    /// (`.4`; the network address, the gateway and two DNS addresses are reserved) to the
    /// one before the broadcast address.
    pub fn first_free(&self, taken: &[Ipv4Addr]) -> Option<Ipv4Addr> {
        let size = 1u64 << (32 - u32::from(self.len));
        if size < 8 {
            return None;
        }
        (4..size - 1)
            .map(|n| Ipv4Addr::from(self.network() + n as u32))
            .find(|ip| !taken.contains(ip))
    }

    /// Whether Azure could hand out `ip` in this subnet (not reserved, not the broadcast).
    pub fn assignable(&self, ip: Ipv4Addr) -> bool {
        let size = 1u64 << (32 - u32::from(self.len));
        let n = u64::from(u32::from(ip).wrapping_sub(self.network()));
        self.contains(ip) && size >= 8 && (4..size - 1).contains(&n)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_addresses_start_at_four_and_skip_the_taken() {
        let p = Prefix::parse("10.1.2.0/24").unwrap();
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(p.first_free(&[]), Some(ip("10.1.2.4")));
        assert_eq!(
            p.first_free(&[ip("10.1.2.4"), ip("10.1.2.6")]),
            Some(ip("10.1.2.5"))
        );
        let all: Vec<Ipv4Addr> = (4..255).map(|n| ip(&format!("10.1.2.{n}"))).collect();
        assert_eq!(p.first_free(&all), None);
        assert!(p.assignable(ip("10.1.2.254")) && !p.assignable(ip("10.1.2.255")));
        assert!(!p.assignable(ip("10.1.2.3")) && !p.assignable(ip("10.1.3.4")));
        let wide = Prefix::parse("10.0.0.0/20").unwrap();
        assert_eq!(wide.first_free(&[]), Some(ip("10.0.0.4")));
        assert!(wide.contains(ip("10.0.15.200")) && !wide.contains(ip("10.0.16.1")));
        assert!(p.within(&Prefix::parse("10.1.0.0/16").unwrap()));
        assert!(!wide.within(&p));
        assert!(wide.overlaps(&Prefix::parse("10.0.8.0/24").unwrap()));
        assert_eq!(Prefix::parse("10.0.0.0"), None);
        assert_eq!(Prefix::parse("10.0.0.0/33"), None);
    }
}
