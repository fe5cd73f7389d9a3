//! Transmit UDP for plugins (`net.send-udp`): how a plugin tells an outside application
//! about a suspended transaction. Denied unless the config grants the destination.

use crate::context::Transmit;
use bytes::Bytes;
use sipwasm_proto::Transport;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Largest UDP payload (IPv4: 65535 - 8 - 20).
pub const MAX_UDP_PAYLOAD: usize = 65_507;

/// Most datagrams one event may send, so a plugin cannot turn one packet into a flood.
pub const MAX_SENDS_PER_EVENT: usize = 16;

/// Why a send was refused; mirrors the WIT `net.error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// The destination is not an `IP:PORT` address.
    #[error("invalid destination {0:?}: expected IP:PORT")]
    InvalidAddress(String),
    /// The config does not allow this destination.
    #[error("destination {0} is not allowed by the config (plugin.udp_allow)")]
    Denied(SocketAddr),
    /// The payload is larger than a datagram can be.
    #[error("payload of {0} bytes is larger than a UDP datagram")]
    TooLarge(usize),
    /// The event already sent as many datagrams as it may.
    #[error("at most {MAX_SENDS_PER_EVENT} datagrams per event")]
    TooMany,
    /// A `udp_allow` entry of the config that is none of its forms.
    #[error("bad udp_allow entry {0:?}: expected IP, IP:PORT, IP/PREFIX or IP/PREFIX:PORT")]
    BadGrant(String),
}

/// One allowed destination: an address (or network) and an optional port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Grant {
    net: IpAddr,
    prefix: u8,
    port: Option<u16>,
}

impl Grant {
    fn allows(&self, dst: SocketAddr) -> bool {
        if self.port.is_some_and(|p| p != dst.port()) {
            return false;
        }
        match (self.net, dst.ip()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The UDP destinations a plugin may send to (`udp_allow` in its config section).
/// Empty: every send is denied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UdpAllow {
    grants: Vec<Grant>,
}

impl UdpAllow {
    /// Parse entries of the forms `127.0.0.1:9999`, `[::1]:9999` (one destination),
    /// `127.0.0.1` (any port), `10.0.0.0/8` and `10.0.0.0/8:9999` (a network).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<UdpAllow, NetError> {
        let mut grants = Vec::new();
        for e in entries {
            let e = e.as_ref().trim();
            grants.push(parse_grant(e).ok_or_else(|| NetError::BadGrant(e.to_string()))?);
        }
        Ok(UdpAllow { grants })
    }

    /// True when `dst` is granted.
    pub fn allows(&self, dst: SocketAddr) -> bool {
        self.grants.iter().any(|g| g.allows(dst))
    }

    /// True when nothing is granted.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }

    /// Check a `send-udp` call and queue the datagram on `out` (sent after the event, from
    /// one of the router's UDP sockets).
    pub fn queue(
        &self,
        out: &mut Vec<Transmit>,
        sent_this_event: &mut usize,
        dst: &str,
        payload: Vec<u8>,
    ) -> Result<(), NetError> {
        let addr: SocketAddr = dst
            .trim()
            .parse()
            .map_err(|_| NetError::InvalidAddress(dst.to_string()))?;
        if !self.allows(addr) {
            return Err(NetError::Denied(addr));
        }
        if payload.len() > MAX_UDP_PAYLOAD {
            return Err(NetError::TooLarge(payload.len()));
        }
        if *sent_this_event >= MAX_SENDS_PER_EVENT {
            return Err(NetError::TooMany);
        }
        *sent_this_event += 1;
        out.push(Transmit {
            transport: Transport::Udp,
            dest: addr,
            // no particular socket: the transport picks one of the right family
            local: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            conn: None,
            data: Bytes::from(payload),
            flags: Default::default(),
        });
        Ok(())
    }
}

fn parse_grant(e: &str) -> Option<Grant> {
    if let Ok(sa) = e.parse::<SocketAddr>() {
        return Some(Grant {
            net: sa.ip(),
            prefix: if sa.is_ipv4() { 32 } else { 128 },
            port: Some(sa.port()),
        });
    }
    if let Ok(ip) = e
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Some(Grant {
            net: ip,
            prefix: if ip.is_ipv4() { 32 } else { 128 },
            port: None,
        });
    }
    let (net, rest) = e.split_once('/')?;
    let net: IpAddr = net
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    let (prefix, port) = match rest.split_once(':') {
        Some((p, port)) => (p, Some(port.parse::<u16>().ok()?)),
        None => (rest, None),
    };
    let prefix: u8 = prefix.parse().ok()?;
    let max = if net.is_ipv4() { 32 } else { 128 };
    (prefix <= max).then_some(Grant { net, prefix, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn grants() {
        let a = UdpAllow::parse(&[
            "127.0.0.1:9999",
            "10.0.0.0/8",
            "192.168.1.0/24:5000",
            "[::1]:7",
        ])
        .unwrap();
        assert!(a.allows(sa("127.0.0.1:9999")));
        assert!(!a.allows(sa("127.0.0.1:9998")));
        assert!(!a.allows(sa("127.0.0.2:9999")));
        assert!(a.allows(sa("10.200.3.4:1")));
        assert!(a.allows(sa("192.168.1.77:5000")));
        assert!(!a.allows(sa("192.168.1.77:5001")));
        assert!(!a.allows(sa("192.168.2.77:5000")));
        assert!(a.allows(sa("[::1]:7")));
        assert!(!a.allows(sa("[::2]:7")));
        assert!(
            UdpAllow::parse(&["0.0.0.0/0"])
                .unwrap()
                .allows(sa("8.8.8.8:53"))
        );
        assert!(
            UdpAllow::parse(&["127.0.0.1"])
                .unwrap()
                .allows(sa("127.0.0.1:1"))
        );
        for bad in [
            "",
            "localhost:9",
            "10.0.0.0/33",
            "1.2.3.4:99999",
            "1.2.3.4/8:x",
        ] {
            assert!(UdpAllow::parse(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn denied_by_default_and_bounded() {
        let mut out = Vec::new();
        let mut n = 0;
        let none = UdpAllow::default();
        assert_eq!(
            none.queue(&mut out, &mut n, "127.0.0.1:9", b"x".to_vec()),
            Err(NetError::Denied(sa("127.0.0.1:9")))
        );
        let a = UdpAllow::parse(&["127.0.0.1:9"]).unwrap();
        assert!(matches!(
            a.queue(&mut out, &mut n, "nowhere", vec![]),
            Err(NetError::InvalidAddress(_))
        ));
        assert_eq!(
            a.queue(
                &mut out,
                &mut n,
                "127.0.0.1:9",
                vec![0; MAX_UDP_PAYLOAD + 1]
            ),
            Err(NetError::TooLarge(MAX_UDP_PAYLOAD + 1))
        );
        for _ in 0..MAX_SENDS_PER_EVENT {
            a.queue(&mut out, &mut n, "127.0.0.1:9", b"hi".to_vec())
                .unwrap();
        }
        assert_eq!(
            a.queue(&mut out, &mut n, "127.0.0.1:9", b"hi".to_vec()),
            Err(NetError::TooMany)
        );
        assert_eq!(out.len(), MAX_SENDS_PER_EVENT);
        assert_eq!(out[0].dest, sa("127.0.0.1:9"));
        assert_eq!(&out[0].data[..], b"hi");
    }
}
