//! What the routing core asks of the router around it: name resolution (RFC 3263) and
//! transaction lookups. The router implements [`Services`] with DNS and its transaction
//! table; [`StaticServices`] resolves IP literals only, for tests and DNS-less setups.

use crate::rtimer::{OneShot, RtimerError};
use crate::tm::state::{Resume, TmError};
use sipwasm_proto::{SipMessage, Transport};
use std::any::Any;
use std::net::SocketAddr;
use std::sync::Arc;

pub(crate) mod hop;
pub use hop::*;

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

    /// `t_suspend`: reserve the (index, label) of the transaction `caller`'s request
    /// route is suspending, suspended from now on. The transaction itself is made under
    /// it when the route has returned (and sends its 100 Trying then); a route that fails
    /// gives the id up.
    fn suspend(&self, caller: Option<&Caller>) -> Result<(u32, u32), TmError> {
        let _ = caller;
        Err(TmError::Invalid("no transaction layer".into()))
    }

    /// `t_continue`: check that the ids name a suspended transaction and queue it for
    /// resuming in the named route once the calling event is done. A transaction is
    /// resumed once per suspension; only `caller`'s transactions can be.
    fn resume(&self, caller: Option<&Caller>, resume: Resume) -> Result<(), TmError> {
        let _ = (caller, resume);
        Err(TmError::NoTransaction)
    }

    /// Who is at the other end of TLS connection `conn`, by the certificate it presented
    /// (`$tls_peer_*`); `None` when it presented none or the connection is gone.
    fn tls_peer(&self, conn: u64) -> Option<Arc<sipwasm_proto::TlsPeer>> {
        let _ = conn;
        None
    }

    /// `uac_req_send`: wait on the request `caller`'s tenant just sent (`sent`, with
    /// `call_id`, Via `branch` and CSeq `method`): sent again over UDP until a final
    /// reply, its replies absorbed. False when the router, or the tenant, waits on too
    /// many already (the request is then not sent). Without a router, nothing waits: it
    /// goes once.
    fn track_request(
        &self,
        caller: Option<&Caller>,
        call_id: &str,
        branch: &str,
        method: &str,
        sent: &sipwasm_proto::Transmit,
    ) -> bool {
        let _ = (caller, call_id, branch, method, sent);
        true
    }

    /// `rtimer.once`: run `event_route[timer:NAME]` for `caller`'s tenant after the
    /// delay (bounded per tenant).
    fn schedule_once(&self, caller: Option<&Caller>, shot: OneShot) -> Result<(), RtimerError> {
        let _ = (caller, shot);
        Err(RtimerError::Unavailable)
    }
}

/// A shadow plugin version's services: what the live version's resolve and report, but
/// no transaction can be suspended or resumed (that would reach the live transactions).
pub struct DryServices(pub Arc<dyn Services>);

impl Services for DryServices {
    fn resolve(&self, uri: &str) -> Result<Vec<NextHop>, ResolveError> {
        self.0.resolve(uri)
    }

    fn transaction_exists(&self, caller: Option<&Caller>, msg: &SipMessage) -> bool {
        self.0.transaction_exists(caller, msg)
    }

    fn suspend(&self, _caller: Option<&Caller>) -> Result<(u32, u32), TmError> {
        Err(TmError::Invalid("a shadow version does not suspend".into()))
    }

    fn tls_peer(&self, conn: u64) -> Option<Arc<sipwasm_proto::TlsPeer>> {
        self.0.tls_peer(conn)
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
