//! What routes ask of the proxy: name resolution, `t_check_trans`, `t_suspend`, `t_continue`,
//! one-shot timers.
//! Each call acts for the event's [`Caller`] only: a plugin sees its own tenant's
//! transactions, and nothing here reads who runs from anywhere but the event.

use super::table::ResumeRefused;
use super::*;
use sipwasm_routing::Caller;

/// The router's services for routes: DNS, transaction lookups, suspend and resume.
pub(super) struct ProxyServices {
    pub(super) resolver: Arc<Resolver>,
    /// The proxy's table, not owned: every cell in it holds its route's context, which
    /// holds these services; owning the table here would keep a stopped router's cells,
    /// tenants and plugin engine alive forever.
    pub(super) table: Weak<Transactions>,
    /// TCP and TLS connections (none without stream listeners): who their peers are.
    pub(super) connections: Option<sipwasm_transport::ConnectionTable>,
    /// The plugins' timers (`rtimer.once` adds to them).
    pub(super) rtimers: Arc<crate::rtimer::Rtimers>,
    /// The requests `uac_req_send` waits on (the router sends them again, absorbs their
    /// replies).
    pub(super) uac_requests: Arc<sipwasm_routing::uac::Outstanding>,
}

/// The tenant `caller` stands for.
fn owner(caller: Option<&Caller>) -> Option<&Tenant> {
    caller?.owner.downcast_ref::<Tenant>()
}

impl Services for ProxyServices {
    fn resolve(&self, uri: &str) -> Result<Vec<NextHop>, ResolveError> {
        self.resolver.resolve(uri)
    }

    fn transaction_exists(&self, caller: Option<&Caller>, msg: &SipMessage) -> bool {
        let (Some(tenant), Some(table)) = (owner(caller), self.table.upgrade()) else {
            return false;
        };
        let what = if msg.method() == Method::Cancel {
            KeyFor::CancelTarget
        } else {
            KeyFor::Own
        };
        table
            .find(&ServerKey::of(msg, what))
            .is_some_and(|(id, _)| table.get_for(id, tenant).is_some())
    }

    fn suspend(&self, caller: Option<&Caller>) -> Result<(u32, u32), TmError> {
        let tenant = caller
            .and_then(|c| c.owner.clone().downcast::<Tenant>().ok())
            .ok_or(TmError::NoTransaction)?;
        let table = self.table.upgrade().ok_or(TmError::NoTransaction)?;
        // only an id now: the transaction is made under it when the route has returned
        // (the proxy applies the route's intents then, and sends its 100 Trying)
        let id = table.reserve(&tenant);
        table.stats.suspended.fetch_add(1, Ordering::Relaxed);
        Ok((id.index, id.label))
    }

    fn resume(&self, caller: Option<&Caller>, resume: Resume) -> Result<(), TmError> {
        let tenant = owner(caller).ok_or(TmError::NoTransaction)?;
        let table = self.table.upgrade().ok_or(TmError::NoTransaction)?;
        let id = CellId {
            index: resume.index,
            label: resume.label,
        };
        table
            .resume(id, tenant, resume.route)
            .map_err(|refused| match refused {
                ResumeRefused::NoTransaction => TmError::NoTransaction,
                ResumeRefused::NotSuspended => TmError::NotSuspended,
            })
    }

    fn tls_peer(&self, conn: u64) -> Option<Arc<sipwasm_proto::TlsPeer>> {
        self.connections.as_ref()?.tls_peer(conn)
    }

    fn track_request(
        &self,
        caller: Option<&Caller>,
        call_id: &str,
        branch: &str,
        method: &str,
        sent: &sipwasm_proto::Transmit,
    ) -> bool {
        // each tenant its own share of the table
        let Some(tenant) = owner(caller) else {
            return false;
        };
        self.uac_requests
            .track(
                tenant.index(),
                call_id,
                branch,
                method,
                sent.clone(),
                Instant::now(),
            )
            .is_ok()
    }

    fn schedule_once(
        &self,
        caller: Option<&Caller>,
        shot: sipwasm_routing::OneShot,
    ) -> Result<(), sipwasm_routing::RtimerError> {
        let tenant = owner(caller).ok_or(sipwasm_routing::RtimerError::Unavailable)?;
        self.rtimers.once(tenant.index(), shot)
    }
}

/// Transactions sign their local replies as stateless replies are signed: the To tag is
/// derived from the request the same way, so `sl` and `tm` replies to one request agree.
#[derive(Debug)]
pub(super) struct SignedAsLocal(pub(super) Arc<LocalConfig>);

impl LocalReplies for SignedAsLocal {
    fn to_tag(&self, request: &SipMessage) -> String {
        self.0.to_tag_for(request)
    }

    fn server_header(&self) -> Option<&str> {
        self.0.server_header()
    }
}
