//! What the routing core asks of the router around it: name resolution (RFC 3263) and
//! transaction lookups. The router implements [`Services`] with DNS and its transaction
//! table; [`StaticServices`] resolves IP literals only, for tests and DNS-less setups.

use crate::context::RouteContext;
use crate::tm::{Resume, TmError};
use sipwasm_proto::reply::parse_host_ip;
use sipwasm_proto::uri::{Scheme, Uri};
use sipwasm_proto::{SipMessage, Transport};
use std::any::Any;
use std::net::SocketAddr;
use std::sync::Arc;

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

/// Who an event runs for, as the router dispatched it: the tenant that owns what the
/// event creates, and the plugin version running it. Opaque to routing, which only hands
/// it back to [`Services`]: a plugin reaches its own tenant's transactions and nothing
/// else, because its event carries this and no ambient "current tenant" exists.
#[derive(Clone)]
pub struct Caller {
    /// The tenant.
    pub owner: Arc<dyn Any + Send + Sync>,
    /// The plugin version.
    pub version: Arc<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Caller")
    }
}

/// Services the router provides to routes.
pub trait Services: Send + Sync {
    /// Next hops for `uri`, in preference order (RFC 3263: transport from the URI, then
    /// SRV, then A/AAAA).
    fn resolve(&self, uri: &str) -> Result<Vec<NextHop>, ResolveError>;

    /// True when `msg` matches an existing transaction of `caller` (for a CANCEL: the
    /// INVITE it cancels), as Kamailio's `t_check_trans`.
    fn transaction_exists(&self, caller: Option<&Caller>, msg: &SipMessage) -> bool;

    /// `t_suspend`: create (or find) the transaction of the request in `ctx` for its
    /// caller, mark it suspended and return its (index, label). Nothing is sent from
    /// here: the 100 Trying goes out when the route has returned.
    fn suspend(&self, ctx: &RouteContext) -> Result<(u32, u32), TmError> {
        let _ = ctx;
        Err(TmError::Invalid("no transaction layer".into()))
    }

    /// `t_continue`: check that the ids name a suspended transaction and queue it for
    /// resuming in the named route once the calling event is done. A transaction is
    /// resumed once per suspension; only `caller`'s transactions can be.
    fn resume(&self, caller: Option<&Caller>, resume: Resume) -> Result<(), TmError> {
        let _ = (caller, resume);
        Err(TmError::NoTransaction)
    }
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

/// Resolves IP literals and `localhost` only; no transactions.
#[derive(Clone, Copy, Debug, Default)]
pub struct StaticServices;

impl Services for StaticServices {
    fn resolve(&self, uri: &str) -> Result<Vec<NextHop>, ResolveError> {
        let t = UriTarget::of(uri)?;
        if let Some(hop) = t.literal() {
            return Ok(vec![hop]);
        }
        if t.host.eq_ignore_ascii_case("localhost") {
            let transport = t.transport.unwrap_or(Transport::Udp);
            return Ok(vec![NextHop {
                transport,
                addr: SocketAddr::new([127, 0, 0, 1].into(), t.port.unwrap_or(5060)),
            }]);
        }
        Err(ResolveError::NotFound(t.host))
    }

    fn transaction_exists(&self, _caller: Option<&Caller>, _msg: &SipMessage) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_targets() {
        let t = UriTarget::of("sip:bob@10.0.0.1:5080;transport=tcp").unwrap();
        assert_eq!(
            t.literal(),
            Some(NextHop {
                transport: Transport::Tcp,
                addr: "10.0.0.1:5080".parse().unwrap()
            })
        );
        let t = UriTarget::of("sip:[::1]").unwrap();
        assert_eq!(t.literal().unwrap().addr, "[::1]:5060".parse().unwrap());
        let t = UriTarget::of("sip:x@example.com;maddr=192.0.2.7").unwrap();
        assert_eq!(t.host, "192.0.2.7");
        let t = UriTarget::of("sips:x@example.com").unwrap();
        assert_eq!(t.transport, Some(Transport::Tls));
        assert!(t.literal().is_none());
        assert!(UriTarget::of("tel:+123").is_err());
        assert!(UriTarget::of("sip:x@h;transport=sctp").is_err());
        assert_eq!(
            StaticServices.resolve("sip:localhost:5090").unwrap()[0].addr,
            "127.0.0.1:5090".parse().unwrap()
        );
        assert!(StaticServices.resolve("sip:nowhere.invalid").is_err());
    }
}
