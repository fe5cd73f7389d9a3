//! The URIs this router signs into Record-Route and Path: RFC 5626 flow tokens, the
//! signature check, and what a route asked to insert; what `loose_route` found and the
//! rr errors.

use sipwasm_proto::Transport;
use std::net::{IpAddr, SocketAddr};

/// What `record_route` asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordRoute {
    /// URI parameters after ours, with their leading `;` (`";ftag=abc"`), or empty.
    pub params: String,
    /// RFC 5626 flow token for the user part: in-dialog requests towards the UA that sent
    /// the dialog-forming request go back over its flow.
    pub flow_token: Option<String>,
    /// The URI's signature (over the Call-ID, From tag and flow token).
    pub sig: String,
}

/// What `loose_route` did; Kamailio's return codes in brackets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routed {
    /// No Route header: nothing done (-1).
    NoRoute,
    /// The next hop comes from the route set: `$du` is the next Route, or, at the end of
    /// the route set of a dialog, the Request-URI is the target (1).
    RouteSet,
    /// The next hop is a UA's flow (an RFC 5626 flow token, or the `received` of a Path
    /// this router wrote): `$du`, socket and connection point at it (2).
    Flow,
    /// An initial request (no To tag) whose Route named only this router: the entries
    /// were removed and routing is the route's to decide (-3, Kamailio's "preloaded").
    Preloaded,
}

impl Routed {
    /// True when the request now has its next hop from the route set (Kamailio's
    /// `loose_route() > 0`): relay it.
    pub fn is_routed(self) -> bool {
        matches!(self, Routed::RouteSet | Routed::Flow)
    }
}

/// Why an rr function failed; mirrors the WIT `rr.error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RrError {
    /// The event has no request.
    #[error("no request in this event")]
    NoRequest,
    /// Parameters that do not fit in a URI.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// The request's Route set was not issued by this router (a forged in-dialog request,
    /// a tampered flow token): it was answered 403 and will not be relayed.
    #[error("refused: {0}")]
    Forbidden(String),
}

/// An RFC 5626 flow: the transport, the local socket it arrived on, and the UA's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow {
    /// Transport.
    pub transport: Transport,
    /// The local socket (`None` for a `received` address, which names no socket).
    pub local: Option<SocketAddr>,
    /// Where the UA's messages come from (its NAT's public address).
    pub peer: SocketAddr,
}

/// Kamailio's number of a transport (`enum sip_protos`): in flow tokens and aliases.
pub(crate) fn proto_code(t: Transport) -> u8 {
    match t {
        Transport::Udp => 1,
        Transport::Tcp => 2,
        Transport::Tls => 3,
        // a transport a flow token cannot name: decoding it fails
        _ => 0,
    }
}

/// The transport of a [`proto_code`].
pub(crate) fn proto_of(code: u8) -> Option<Transport> {
    Some(match code {
        1 => Transport::Udp,
        2 => Transport::Tcp,
        3 => Transport::Tls,
        _ => return None,
    })
}

fn push_addr(out: &mut Vec<u8>, a: SocketAddr) {
    match a.ip() {
        IpAddr::V4(v4) => out.extend_from_slice(&v4.octets()),
        IpAddr::V6(v6) => out.extend_from_slice(&v6.octets()),
    }
    out.extend_from_slice(&a.port().to_be_bytes());
}

fn take_addr(b: &[u8], v6: bool) -> Option<(SocketAddr, &[u8])> {
    let n = if v6 { 16 } else { 4 };
    if b.len() < n + 2 {
        return None;
    }
    let ip: IpAddr = if v6 {
        <[u8; 16]>::try_from(&b[..16]).ok()?.into()
    } else {
        <[u8; 4]>::try_from(&b[..4]).ok()?.into()
    };
    let port = u16::from_be_bytes([b[n], b[n + 1]]);
    Some((SocketAddr::new(ip, port), &b[n + 2..]))
}

impl Flow {
    /// The flow a message arrived on.
    pub fn of_source(source: &crate::env::addr::Source) -> Flow {
        Flow {
            transport: source.transport,
            local: Some(source.local),
            peer: source.src,
        }
    }

    /// The token in a URI's user part: hex of the transport (bit 0x80 for IPv6), the
    /// local address and the UA's address. It is not secret; the URI's `sig` protects it.
    pub fn token(&self) -> String {
        let local = self.local.unwrap_or(SocketAddr::new(
            if self.peer.is_ipv4() {
                IpAddr::from([0u8; 4])
            } else {
                IpAddr::from([0u8; 16])
            },
            0,
        ));
        let mut raw = Vec::with_capacity(37);
        raw.push(proto_code(self.transport) | if self.peer.is_ipv6() { 0x80 } else { 0 });
        push_addr(&mut raw, local);
        push_addr(&mut raw, self.peer);
        let mut s = String::with_capacity(raw.len() * 2);
        for b in raw {
            use std::fmt::Write as _;
            write!(s, "{b:02x}").expect("writing to a String");
        }
        s
    }

    /// Read a token made by [`Self::token`].
    pub fn from_token(token: &str) -> Option<Flow> {
        if !token.len().is_multiple_of(2) || !token.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let raw: Vec<u8> = (0..token.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&token[i..i + 2], 16))
            .collect::<Result<_, _>>()
            .ok()?;
        let (&head, rest) = raw.split_first()?;
        let v6 = head & 0x80 != 0;
        let transport = proto_of(head & 0x7f)?;
        let (local, rest) = take_addr(rest, v6)?;
        let (peer, rest) = take_addr(rest, v6)?;
        if !rest.is_empty() {
            return None;
        }
        Some(Flow {
            transport,
            local: (local.port() != 0).then_some(local),
            peer,
        })
    }

    /// Read a `received` value (`sip:IP:PORT;transport=T`) as a flow with no socket.
    pub fn from_received(uri: &str) -> Option<Flow> {
        let t = crate::services::hop::UriTarget::of(uri).ok()?;
        let hop = t.literal()?;
        Some(Flow {
            transport: hop.transport,
            local: None,
            peer: hop.addr,
        })
    }

    /// The flow as a destination URI (`$du`).
    pub fn dst_uri(&self) -> String {
        format!(
            "sip:{};transport={}",
            crate::env::addr::host_text(self.peer),
            self.transport.as_str()
        )
    }
}

/// Compare two signatures in constant time.
pub(crate) fn same_sig(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What `add_path` asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddPath {
    /// User part of the Path URI (`add_path(user)`), instead of a flow token.
    pub user: Option<String>,
    /// Add `;received=` with the REGISTER's source (`add_path_received`).
    pub received: bool,
    /// Say `;ob` whatever the user part: the entry names a flow (a router's entry for a
    /// flow it holds, handed to the routers it shares registrations with), so the
    /// dialogs through it record-route that flow.
    pub outbound: bool,
}
