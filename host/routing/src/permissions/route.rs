//! The permissions functions of a route (`allow_source_address` ...).

use super::AddressEntry;
use crate::context::RouteContext;
use crate::value::Value;

/// `$avp` name of the matching entry's tag (Kamailio's `peer_tag_avp`).
const PEER_TAG_AVP: &str = "peer_tag";

/// `allow_address` was given something that is not an IP address.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IP address")]
pub struct NotAnAddress(pub String);

impl RouteContext {
    /// `allow_source_address(group)`: the request's source address, port and transport
    /// match an entry of `group`; its tag goes to `$avp(peer_tag)`.
    pub fn allow_source_address(&mut self, group: u32) -> bool {
        let src = self.source.src;
        let entry = self
            .config
            .address_groups
            .find(group, src.ip(), src.port(), Some(self.source.transport))
            .cloned();
        self.peer_tag(entry).is_some()
    }

    /// `allow_address(group, ip, port)`: `ip` and `port` match an entry of `group`.
    pub fn allow_address(&mut self, group: u32, ip: &str, port: u16) -> Result<bool, NotAnAddress> {
        let addr = ip
            .trim_matches(|c| c == '[' || c == ']')
            .parse()
            .map_err(|_| NotAnAddress(ip.chars().take(64).collect()))?;
        let entry = self
            .config
            .address_groups
            .find(group, addr, port, None)
            .cloned();
        Ok(self.peer_tag(entry).is_some())
    }

    /// `allow_source_address_group()`: the group of the first entry the request's source
    /// matches.
    pub fn allow_source_address_group(&mut self) -> Option<u32> {
        let src = self.source.src;
        let entry = self
            .config
            .address_groups
            .find_any(src.ip(), src.port(), Some(self.source.transport))
            .cloned();
        self.peer_tag(entry).map(|e| e.group)
    }

    fn peer_tag(&mut self, entry: Option<AddressEntry>) -> Option<AddressEntry> {
        if let Some(e) = &entry
            && !e.tag.is_empty()
        {
            self.avps.retain(|(n, _)| n != PEER_TAG_AVP);
            self.avps
                .push((PEER_TAG_AVP.into(), Value::Str(e.tag.clone())));
        }
        entry
    }
}
