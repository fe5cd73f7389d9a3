//! What routes ask of the proxy: name resolution, `t_check_trans`, `t_suspend`, `t_continue`.

use super::*;

/// The router's services for routes: DNS, transaction lookups, suspend and resume.
pub(super) struct ProxyServices {
    pub(super) resolver: Arc<Resolver>,
    pub(super) proxy: Weak<Proxy>,
}

impl Services for ProxyServices {
    fn resolve(&self, uri: &str) -> Result<Vec<NextHop>, ResolveError> {
        self.resolver.resolve(uri)
    }

    fn transaction_exists(&self, msg: &SipMessage) -> bool {
        let Some(proxy) = self.proxy.upgrade() else {
            return false;
        };
        let what = if msg.method() == Method::Cancel {
            KeyFor::CancelTarget
        } else {
            KeyFor::Own
        };
        let Some(running) = crate::tenants::running() else {
            return false;
        };
        let Some((id, _)) = proxy.table.find(&ServerKey::of(msg, what)) else {
            return false;
        };
        if proxy.table.get_for(id, &running.tenant).is_none() {
            return false;
        }
        true
    }

    fn suspend(&self, ctx: &RouteContext) -> Result<(u32, u32), TmError> {
        let proxy = self.proxy.upgrade().ok_or(TmError::NoTransaction)?;
        // the request route runs before its transaction's lock is taken, so creating
        // the cell here (and sending 100 Trying) cannot deadlock
        let serving = crate::tenants::running().ok_or(TmError::NoTransaction)?;
        let (id, cell, _) = proxy.ensure_cell(ctx, &serving);
        if proxy.table.get_for(id, &serving.tenant).is_none() {
            return Err(TmError::NoTransaction);
        }
        if cell.lock().expect("not poisoned").final_sent() {
            return Err(TmError::Invalid(
                "the transaction was already answered".into(),
            ));
        }
        proxy.table.suspend(id);
        proxy.table.stats.suspended.fetch_add(1, Ordering::Relaxed);
        Ok((id.index, id.label))
    }

    fn resume(&self, resume: Resume) -> Result<(), TmError> {
        let proxy = self.proxy.upgrade().ok_or(TmError::NoTransaction)?;
        let id = CellId {
            index: resume.index,
            label: resume.label,
        };
        let running = crate::tenants::running().ok_or(TmError::NoTransaction)?;
        if proxy.table.get_for(id, &running.tenant).is_none() {
            // (another tenant's transaction is as good as none)
            return Err(TmError::NoTransaction);
        }
        if !proxy.table.unsuspend(id) {
            return Err(TmError::NotSuspended);
        }
        proxy
            .table
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
