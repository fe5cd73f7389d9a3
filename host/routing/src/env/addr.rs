//! Addresses as routes see them: the router's listening sockets and aliases, the
//! connections of the transport, and where a message came from.

use sipwasm_proto::Transport;
use std::net::SocketAddr;

/// Identifies a TCP/TLS connection of the transport layer.
pub type ConnId = u64;

/// A local listening address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listener {
    /// Transport.
    pub transport: Transport,
    /// Bound address.
    pub addr: SocketAddr,
}

/// A domain (and optional port) the router answers for besides its addresses
/// (Kamailio's `alias`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alias {
    /// Lower-case host name or IP.
    pub host: String,
    /// Port, or any port when `None`.
    pub port: Option<u16>,
}

/// Host text of an address for a Via or a Record-Route URI (IPv6 in brackets).
pub fn host_text(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

/// `host` and `port` of a `host:port` text (IPv6 in brackets).
pub(crate) fn split_host_port(s: &str) -> (&str, &str) {
    match s.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, p),
        _ => (s, "5060"),
    }
}

/// Where and how a message was received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Source {
    /// Transport.
    pub transport: Transport,
    /// Sender.
    pub src: SocketAddr,
    /// Local address it arrived on.
    pub local: SocketAddr,
    /// Connection, for TCP/TLS.
    pub conn: Option<ConnId>,
}
