//! Where a URI leads before and after name resolution (RFC 3263): the URI's own host,
//! port and transport, and the resolved next hops.

use sipwasm_proto::Transport;
use sipwasm_proto::reply::parse_host_ip;
use sipwasm_proto::uri::{Scheme, Uri};
use std::net::SocketAddr;

/// A resolved next hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NextHop {
    /// Transport to use.
    pub transport: Transport,
    /// Address.
    pub addr: SocketAddr,
}

/// Why a destination could not be resolved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// Not a SIP URI, or an unsupported transport.
    #[error("cannot route to {0}")]
    Unroutable(String),
    /// DNS has no usable record.
    #[error("no address for {0}")]
    NotFound(String),
}

/// What a SIP URI asks for before any DNS: host, explicit port, explicit transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UriTarget {
    /// Host without brackets (`maddr` if present).
    pub host: String,
    /// Explicit port.
    pub port: Option<u16>,
    /// Explicit transport (`transport=` parameter, or TLS for `sips:`).
    pub transport: Option<Transport>,
    /// True for `sips:`.
    pub secure: bool,
}

impl UriTarget {
    /// Read the routing-relevant parts of a SIP URI.
    pub fn of(uri: &str) -> Result<UriTarget, ResolveError> {
        let b = uri.as_bytes();
        let u = Uri::parse_standalone(b).map_err(|_| ResolveError::Unroutable(uri.to_string()))?;
        if !u.scheme.is_sip() {
            return Err(ResolveError::Unroutable(uri.to_string()));
        }
        let secure = u.scheme == Scheme::Sips;
        let transport = match u.param(b, b"transport").flatten() {
            Some(t) => Some(
                Transport::from_token(t)
                    .ok_or_else(|| ResolveError::Unroutable(uri.to_string()))?,
            ),
            None if secure => Some(Transport::Tls),
            None => None,
        };
        let host = match u.param(b, b"maddr").flatten() {
            Some(m) => m,
            None => u.host(b),
        };
        let host = String::from_utf8_lossy(host)
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        Ok(UriTarget {
            host,
            port: u.port,
            transport,
            secure,
        })
    }

    /// The next hop when the host is an IP literal (no DNS needed).
    pub fn literal(&self) -> Option<NextHop> {
        let ip = parse_host_ip(self.host.as_bytes())?;
        let transport = self.transport.unwrap_or(Transport::Udp);
        let port = self.port.unwrap_or(if transport == Transport::Tls {
            5061
        } else {
            5060
        });
        Some(NextHop {
            transport,
            addr: SocketAddr::new(ip, port),
        })
    }
}
