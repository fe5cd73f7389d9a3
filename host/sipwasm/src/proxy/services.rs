//! What routes ask of the proxy: name resolution, `t_check_trans`, `t_suspend`, `t_continue`.
//! Each call acts for the event's [`Caller`] only: a plugin sees its own tenant's
//! transactions, and nothing here reads who runs from anywhere but the event.

use super::*;
use crate::tenants::Version;
use sipwasm_routing::Caller;

/// The router's services for routes: DNS, transaction lookups, suspend and resume.
pub(super) struct ProxyServices {
    pub(super) resolver: Arc<Resolver>,
    /// The proxy's table, not owned: every cell in it holds its route's context, which
    /// holds these services; owning the table here would keep a stopped router's cells,
    /// tenants and plugin engine alive forever.
    pub(super) table: Weak<Transactions>,
    /// Transaction timers of the transactions `t_suspend` creates.
    pub(super) timers: TimerConfig,
}

/// The tenant and plugin version `caller` stands for (none for an event the router did
/// not dispatch to a tenant).
fn serving(caller: Option<&Caller>) -> Option<Serving> {
    let caller = caller?;
    Some(Serving {
        tenant: caller.owner.clone().downcast::<Tenant>().ok()?,
        version: caller.version.clone().downcast::<Version>().ok()?,
    })
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

    fn suspend(&self, ctx: &RouteContext) -> Result<(u32, u32), TmError> {
        let serving = serving(ctx.caller()).ok_or(TmError::NoTransaction)?;
        let table = self.table.upgrade().ok_or(TmError::NoTransaction)?;
        // the request route runs before its transaction's lock is taken, so creating
        // the cell here cannot deadlock; it sends nothing from inside the host call (the
        // proxy sends its 100 Trying when the route has returned)
        let replies: Arc<dyn LocalReplies> = Arc::new(SignedAsLocal(ctx.config().clone()));
        let (id, cell, _) = requests::insert_cell(&table, self.timers, replies, ctx, &serving);
        if table.get_for(id, &serving.tenant).is_none() {
            return Err(TmError::NoTransaction);
        }
        if cell.lock().expect("not poisoned").final_sent() {
            return Err(TmError::Invalid(
                "the transaction was already answered".into(),
            ));
        }
        table.suspend(id);
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
        if table.get_for(id, tenant).is_none() {
            // (another tenant's transaction is as good as none)
            return Err(TmError::NoTransaction);
        }
        if !table.unsuspend(id) {
            return Err(TmError::NotSuspended);
        }
        table
            .resumes
            .lock()
            .expect("not poisoned")
            .push_back((id, resume.route));
        Ok(())
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
