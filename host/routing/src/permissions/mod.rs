//! Kamailio's `permissions` address groups: which sources may send what. Each entry of a
//! group is a network (an address or CIDR), a port (0: any) and a transport (any when
//! none), with an optional tag the route reads (`$avp(peer_tag)`).

use ipnet::IpNet;
use sipwasm_proto::Transport;
use std::net::IpAddr;

/// One entry of an address group (a row of Kamailio's `address` table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressEntry {
    /// The group.
    pub group: u32,
    /// The network; a single address is a /32 or /128.
    pub net: IpNet,
    /// The source port; 0 matches any.
    pub port: u16,
    /// The transport; `None` matches any.
    pub transport: Option<Transport>,
    /// Handed to the route in `$avp(peer_tag)` when this entry matches.
    pub tag: String,
}

impl AddressEntry {
    fn matches(&self, ip: IpAddr, port: u16, transport: Option<Transport>) -> bool {
        // an IPv4 peer reached over an IPv6 socket shows as ::ffff:a.b.c.d
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.net.contains(&ip)
            && (self.port == 0 || self.port == port)
            && match (self.transport, transport) {
                (None, _) | (_, None) => true,
                (Some(want), Some(got)) => want == got,
            }
    }
}

/// The address groups of the config, as a tenant may use them.
#[derive(Clone, Debug, Default)]
pub struct AddressGroups {
    entries: std::sync::Arc<[AddressEntry]>,
    /// `None`: every group (the router's own view, a `[plugin]` listing none).
    granted: Option<std::sync::Arc<[u32]>>,
}

impl AddressGroups {
    /// Every entry, every group granted.
    pub fn new(entries: Vec<AddressEntry>) -> AddressGroups {
        AddressGroups {
            entries: entries.into(),
            granted: None,
        }
    }

    /// The same entries, only `groups` usable.
    pub fn granted(&self, groups: &[u32]) -> AddressGroups {
        AddressGroups {
            entries: self.entries.clone(),
            granted: Some(groups.into()),
        }
    }

    /// The group ids of the entries.
    pub fn groups(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.entries.iter().map(|e| e.group).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    fn usable(&self, group: u32) -> bool {
        self.granted.as_ref().is_none_or(|g| g.contains(&group))
    }

    /// `allow_address(group, ip, port)` (`transport` too when known): the first entry of
    /// `group` that matches.
    pub fn find(
        &self,
        group: u32,
        ip: IpAddr,
        port: u16,
        transport: Option<Transport>,
    ) -> Option<&AddressEntry> {
        if !self.usable(group) {
            return None;
        }
        self.entries
            .iter()
            .find(|e| e.group == group && e.matches(ip, port, transport))
    }

    /// `allow_source_address_group()`: the first entry of any usable group that
    /// matches, in the config's order.
    pub fn find_any(
        &self,
        ip: IpAddr,
        port: u16,
        transport: Option<Transport>,
    ) -> Option<&AddressEntry> {
        self.entries
            .iter()
            .find(|e| self.usable(e.group) && e.matches(ip, port, transport))
    }
}

mod route;

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        group: u32,
        net: &str,
        port: u16,
        transport: Option<Transport>,
        tag: &str,
    ) -> AddressEntry {
        AddressEntry {
            group,
            net: net.parse().unwrap(),
            port,
            transport,
            tag: tag.into(),
        }
    }

    fn groups() -> AddressGroups {
        AddressGroups::new(vec![
            entry(1, "10.0.0.0/8", 0, None, "carrier"),
            entry(1, "192.0.2.7/32", 5060, Some(Transport::Udp), "pbx"),
            entry(2, "2001:db8::/32", 0, Some(Transport::Tls), ""),
        ])
    }

    #[test]
    fn networks_ports_and_transports_decide() {
        let g = groups();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            g.find(1, ip("10.1.2.3"), 40000, Some(Transport::Tcp))
                .map(|e| e.tag.as_str()),
            Some("carrier")
        );
        assert!(g.find(2, ip("10.1.2.3"), 40000, None).is_none());
        assert!(
            g.find(1, ip("192.0.2.7"), 5060, Some(Transport::Udp))
                .is_some()
        );
        assert!(
            g.find(1, ip("192.0.2.7"), 5061, Some(Transport::Udp))
                .is_none()
        );
        assert!(
            g.find(1, ip("192.0.2.7"), 5060, Some(Transport::Tcp))
                .is_none()
        );
        assert!(
            g.find(1, ip("::ffff:10.9.9.9"), 1, None).is_some(),
            "mapped IPv4"
        );
        assert_eq!(
            g.find_any(ip("2001:db8::5"), 5061, Some(Transport::Tls))
                .map(|e| e.group),
            Some(2)
        );
        assert!(
            g.find_any(ip("2001:db8::5"), 5061, Some(Transport::Udp))
                .is_none()
        );
        assert_eq!(g.groups(), vec![1, 2]);
    }

    #[test]
    fn a_tenant_sees_only_its_groups() {
        let g = groups().granted(&[2]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(g.find(1, ip("10.1.2.3"), 1, None).is_none());
        assert!(g.find_any(ip("10.1.2.3"), 1, None).is_none());
        assert!(g.find(2, ip("2001:db8::1"), 1, None).is_some());
    }
}
