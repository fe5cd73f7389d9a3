//! Transport protocols as they appear in Via headers, URIs and listener specs.

use bytes::Bytes;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

/// A SIP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Transport {
    /// UDP
    Udp,
    /// TCP
    Tcp,
    /// TLS over TCP
    Tls,
}

impl Transport {
    /// Lower-case name, as Kamailio's `$pr` (`udp`, `tcp`, `tls`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }

    /// Upper-case token for a Via header (`UDP`, `TCP`, `TLS`).
    pub const fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// True for stream transports (TCP, TLS).
    pub const fn is_stream(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// The transport a Via token or `transport=` parameter names, if supported.
    pub fn from_token(t: &[u8]) -> Option<Transport> {
        if t.eq_ignore_ascii_case(b"udp") {
            Some(Transport::Udp)
        } else if t.eq_ignore_ascii_case(b"tcp") {
            Some(Transport::Tcp)
        } else if t.eq_ignore_ascii_case(b"tls") {
            Some(Transport::Tls)
        } else {
            None
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for an unknown transport name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown transport {0:?} (expected udp, tcp or tls)")]
pub struct UnknownTransport(pub String);

impl FromStr for Transport {
    type Err = UnknownTransport;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Transport::from_token(s.as_bytes()).ok_or_else(|| UnknownTransport(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!("UDP".parse::<Transport>(), Ok(Transport::Udp));
        assert_eq!(Transport::Tcp.to_string(), "tcp");
        assert_eq!(Transport::Tls.via_token(), "TLS");
        assert!("sctp".parse::<Transport>().is_err());
    }
}

/// One message to send: what, where, and how. Every message the router sends is one of
/// these, whoever made it (a stateless reply, the transaction layer, a plugin's
/// `net.send-udp`, an MSRP relay), and the transport takes nothing else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Transport.
    pub transport: Transport,
    /// Destination (for streams: where to connect when `conn` is gone).
    pub dest: SocketAddr,
    /// Local address to send from (for UDP, the socket; for streams, which listener's
    /// connections may carry it).
    pub local: SocketAddr,
    /// Connection to use, for streams, while it is open.
    pub conn: Option<u64>,
    /// The message.
    pub data: Bytes,
    /// Stream options.
    pub flags: StreamFlags,
}

impl Transmit {
    /// `data` to `to`, with `flags`.
    pub fn new(to: Destination, data: Bytes, flags: StreamFlags) -> Self {
        Transmit {
            transport: to.transport,
            dest: to.dest,
            local: to.local,
            conn: to.conn,
            data,
            flags,
        }
    }

    /// Where this message goes.
    pub fn destination(&self) -> Destination {
        Destination {
            transport: self.transport,
            dest: self.dest,
            local: self.local,
            conn: self.conn,
        }
    }
}

/// Where a message goes and over what: the part of a [`Transmit`] that picks its flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Destination {
    /// Transport.
    pub transport: Transport,
    /// Destination address.
    pub dest: SocketAddr,
    /// Local address to send from.
    pub local: SocketAddr,
    /// Connection to use, for streams, while it is open.
    pub conn: Option<u64>,
}

/// How a message goes out on a stream (MSRP's relay and reply flags; nothing for SIP).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamFlags {
    /// Only on a connection that is already open: never connect (MSRP flag 1).
    pub no_connect: bool,
    /// Close the connection once this message is written (MSRP flag 2).
    pub close_after: bool,
    /// When not 0, a message that cannot be delivered is reported to the connection table's
    /// undelivered hook with this value (an MSRP relay answers for a request it could not
    /// pass on). Opaque to the transport.
    pub on_undelivered: u64,
}

impl StreamFlags {
    /// From the msrp module's bit flags: 1 = no new connection, 2 = close after sending.
    pub fn from_bits(bits: u32) -> Self {
        StreamFlags {
            no_connect: bits & 1 != 0,
            close_after: bits & 2 != 0,
            on_undelivered: 0,
        }
    }
}

/// Who is at the other end of a TLS connection, from the certificate it presented (a
/// listener with `client_cert`): what a route reads as `$tls_peer_*`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsPeer {
    /// The certificate chains to a `[tls] client_ca` (an unverified one never gets this
    /// far: the handshake fails).
    pub verified: bool,
    /// Subject distinguished name, RFC 4514 style (`CN=sbc.example, O=Carrier`).
    pub subject: String,
    /// The subject's common name.
    pub subject_cn: Option<String>,
    /// Issuer distinguished name.
    pub issuer: String,
    /// DNS names of the subject alternative name extension, in certificate order.
    pub san_dns: Vec<String>,
}

impl TlsPeer {
    /// True when the certificate names one of `allowed`: a DNS name of its subject
    /// alternative names, or its common name, equal to an entry (ASCII case ignored), or
    /// one label below an entry written `*.domain`.
    pub fn named_in(&self, allowed: &[String]) -> bool {
        let names = self.san_dns.iter().chain(self.subject_cn.as_ref());
        names
            .flat_map(|name| allowed.iter().map(move |a| (name, a)))
            .any(|(name, allowed)| name_matches(name, allowed))
    }
}

fn name_matches(name: &str, allowed: &str) -> bool {
    match allowed.strip_prefix("*.") {
        Some(domain) => name.split_once('.').is_some_and(|(label, rest)| {
            !label.is_empty() && label != "*" && rest.eq_ignore_ascii_case(domain)
        }),
        None => name.eq_ignore_ascii_case(allowed),
    }
}

#[cfg(test)]
mod tls_peer_tests {
    use super::*;

    fn peer(san: &[&str], cn: Option<&str>) -> TlsPeer {
        TlsPeer {
            verified: true,
            san_dns: san.iter().map(|s| s.to_string()).collect(),
            subject_cn: cn.map(str::to_string),
            ..TlsPeer::default()
        }
    }

    #[test]
    fn a_peer_is_named_by_a_san_or_its_common_name() {
        let allowed = vec!["sbc.carrier.example".to_string()];
        assert!(peer(&["x.example", "SBC.Carrier.example"], None).named_in(&allowed));
        assert!(peer(&[], Some("sbc.carrier.example")).named_in(&allowed));
        assert!(!peer(&["sbc.carrier.example.evil"], Some("evil")).named_in(&allowed));
        assert!(!peer(&[], None).named_in(&allowed));
    }

    #[test]
    fn a_wildcard_entry_allows_one_label_below_it() {
        let allowed = vec!["*.carrier.example".to_string()];
        assert!(peer(&["sbc1.carrier.example"], None).named_in(&allowed));
        assert!(!peer(&["carrier.example"], None).named_in(&allowed));
        assert!(!peer(&["a.b.carrier.example"], None).named_in(&allowed));
        // a wildcard certificate is not a name under the domain
        assert!(!peer(&["*.carrier.example"], None).named_in(&allowed));
        assert!(!peer(&[".carrier.example"], None).named_in(&allowed));
    }
}
