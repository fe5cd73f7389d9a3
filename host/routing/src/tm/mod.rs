//! `tm`, the transaction side of a route: `t_relay` and friends.
//!
//! Host calls only *record* what the route wants (a [`TmIntent`]); the router applies the
//! intents when the route returns. A route cannot run another route of the same plugin
//! from inside a host call, and this keeps branch routes, the transaction table and the
//! sockets out of the call.

use crate::context::RouteContext;
use crate::env::Listener;
use crate::services::{NextHop, ResolveError};
use sipwasm_proto::Method;
use sipwasm_proto::uri::Uri;
use std::time::Duration;

pub(crate) mod state;
pub use state::*;

impl RouteContext {
    /// Saved transaction settings.
    pub fn tm_state(&self) -> &TmState {
        &self.tm
    }

    /// Transaction information for `$T(...)`.
    pub fn tx_info(&self) -> Option<&TxInfo> {
        self.tx.as_ref()
    }

    /// Attach transaction information (for failure and onreply routes).
    pub fn set_tx_info(&mut self, info: Option<TxInfo>) {
        self.tx = info;
    }

    /// Take the recorded intents.
    pub fn take_intents(&mut self) -> Vec<TmIntent> {
        std::mem::take(&mut self.intents)
    }

    /// A copy of this state as the context of a later route run with `msg`, received as
    /// `source` (an onreply route gets the reply, from where it came: `$si` is the
    /// replier's).
    pub fn with_message(
        &self,
        msg: sipwasm_proto::SipMessage,
        source: crate::env::Source,
    ) -> RouteContext {
        let mut c = self.clone();
        c.msg = msg;
        c.source = source;
        c.contact_changed = false;
        c.contact_out = None;
        c.dialog = None;
        // the request's lumps carry offsets into the request: a reply starts with none
        c.lumps = Default::default();
        c.header_edits = false;
        c.record_route = None;
        c.outbound.clear();
        c.intents.clear();
        c.reply_lumps.clear();
        c.final_replied = false;
        c.drop = false;
        c
    }

    /// Prepare a saved state to run another route: fresh output queues, lumps kept.
    pub fn rerun(&self) -> RouteContext {
        let mut c = self.clone();
        c.outbound.clear();
        c.intents.clear();
        c.drop = false;
        c.final_replied = false;
        c
    }

    /// Set the Request-URI of this context (a branch route runs with the branch's).
    pub fn set_ruri(&mut self, ruri: String) {
        self.new_ruri = Some(ruri);
    }

    /// `t_on_reply`
    pub fn t_on_reply(&mut self, route: &str) {
        self.tm.on_reply = (!route.is_empty()).then(|| route.to_string());
    }

    /// `t_on_failure`
    pub fn t_on_failure(&mut self, route: &str) {
        self.tm.on_failure = (!route.is_empty()).then(|| route.to_string());
    }

    /// `t_on_branch`
    pub fn t_on_branch(&mut self, route: &str) {
        self.tm.on_branch = (!route.is_empty()).then(|| route.to_string());
    }

    /// `t_set_fr(fr_inv, fr)` in milliseconds; 0 keeps the current value.
    pub fn t_set_fr(&mut self, fr_inv_ms: u32, fr_ms: u32) -> Result<(), TmError> {
        if fr_inv_ms > 3_600_000 || fr_ms > 3_600_000 {
            return Err(TmError::Invalid("timeouts are at most one hour".into()));
        }
        if fr_inv_ms > 0 {
            self.tm.fr_inv = Some(Duration::from_millis(u64::from(fr_inv_ms)));
        }
        if fr_ms > 0 {
            self.tm.fr = Some(Duration::from_millis(u64::from(fr_ms)));
        }
        Ok(())
    }

    /// `t_newtran`: the transaction is created when the route returns.
    pub fn t_newtran(&mut self) -> Result<(), TmError> {
        if !self.msg.is_request() || self.msg.method() == Method::Ack {
            return Err(TmError::NoRequest);
        }
        if !self.intents.contains(&TmIntent::NewTran) {
            self.intents.push(TmIntent::NewTran);
        }
        Ok(())
    }

    fn check_not_suspended(&self) -> Result<(), TmError> {
        if self.intents.contains(&TmIntent::Suspend) {
            return Err(TmError::Invalid(
                "the transaction is suspended: resume it with t_continue first".into(),
            ));
        }
        Ok(())
    }

    /// `t_suspend`: create the transaction now (100 Trying for an INVITE), keep it waiting
    /// with its fr timer running, and return its ids for `t_continue`. The ids are also
    /// `$T(id_index)` / `$T(id_label)` from here on. Works in a request route.
    pub fn t_suspend(&mut self) -> Result<(u32, u32), TmError> {
        if !self.msg.is_request() || self.msg.method() == Method::Ack {
            return Err(TmError::NoRequest);
        }
        if self.msg.method() == Method::Cancel {
            return Err(TmError::Invalid("a CANCEL cannot be suspended".into()));
        }
        if let Some(tx) = &self.tx {
            if self.intents.contains(&TmIntent::Suspend) {
                return Ok((tx.index, tx.label));
            }
            return Err(TmError::Invalid(
                "t_suspend works in request routes only".into(),
            ));
        }
        if self.intents.iter().any(|i| {
            matches!(
                i,
                TmIntent::Relay(_) | TmIntent::Reply { .. } | TmIntent::CancelInvite
            )
        }) {
            return Err(TmError::Invalid(
                "the request was already relayed or replied".into(),
            ));
        }
        let (index, label) = self.config.services().suspend(self.caller.as_ref())?;
        self.tx = Some(TxInfo {
            index,
            label,
            ..TxInfo::default()
        });
        self.intents.push(TmIntent::Suspend);
        Ok((index, label))
    }

    /// `t_continue(tindex, tlabel, route)`: resume a suspended transaction in the named
    /// route once this event is done. Fails at once for unknown, stale or not suspended
    /// ids; a transaction is resumed at most once per suspension.
    pub fn t_continue(&mut self, index: u32, label: u32, route: &str) -> Result<(), TmError> {
        check_resume_route(route)?;
        self.config.services().resume(
            self.caller.as_ref(),
            Resume {
                index,
                label,
                route: route.to_string(),
            },
        )
    }

    /// `t_reply`: answer through the transaction (created if needed).
    pub fn t_reply(&mut self, code: u16, reason: &str) -> Result<(), TmError> {
        if !self.msg.is_request() || self.msg.method() == Method::Ack {
            return Err(TmError::NoRequest);
        }
        self.check_not_suspended()?;
        self.check_not_refused()?;
        if !(100..=699).contains(&code) || reason.contains(['\r', '\n']) {
            return Err(TmError::Invalid(format!("bad reply {code} {reason:?}")));
        }
        self.intents.push(TmIntent::Reply {
            code,
            reason: reason.to_string(),
        });
        if code >= 200 {
            self.final_replied = true;
        }
        Ok(())
    }

    /// `t_check_trans`: true when the request belongs to an existing transaction (for a
    /// CANCEL: the INVITE it cancels). Always false for an ACK, which routes only see when
    /// it is no failure's (those are absorbed by the transaction): the ACK of a 2xx is a
    /// request of the dialog, for `loose_route`.
    pub fn t_check_trans(&self) -> bool {
        // (an ACK that "matched" would go wherever its Request-URI says)
        self.msg.is_request()
            && self.msg.method() != Method::Ack
            && self
                .config
                .services()
                .transaction_exists(self.caller.as_ref(), &self.msg)
    }

    /// `t_is_canceled`
    pub fn t_is_canceled(&self) -> bool {
        self.tx.as_ref().is_some_and(|t| t.canceled)
    }

    /// `t_get_status_code`: the reply in hand (onreply/failure route), else the last sent.
    pub fn t_get_status_code(&self) -> Result<u16, TmError> {
        self.tx
            .as_ref()
            .map(|t| t.reply_code)
            .ok_or(TmError::NoTransaction)
    }

    /// The destinations of `uri`, best first; never empty.
    pub(crate) fn resolve_all(&self, uri: &str) -> Result<Vec<NextHop>, TmError> {
        let hops = self
            .config
            .services()
            .resolve(uri)
            .map_err(|e: ResolveError| TmError::NoDestination(e.to_string()))?;
        if hops.is_empty() {
            return Err(TmError::NoDestination(uri.to_string()));
        }
        Ok(hops)
    }

    pub(crate) fn check_hops(&self) -> Result<(), TmError> {
        if !self.maxfwd_done && self.msg.max_forwards() == Some(0) {
            return Err(TmError::TooManyHops);
        }
        Ok(())
    }

    /// `t_relay` / `t_relay_to(dst)`: forward statefully to the branches: the main one
    /// (its `$du`, else its Request-URI) when it is new, and every branch of the set,
    /// each to `dst` when given. The set is consumed: a failure route forks only what it
    /// adds. ACKs are forwarded statelessly (they have no transaction); a CANCEL matching
    /// an INVITE transaction cancels it.
    pub fn t_relay(&mut self, dst: Option<&str>) -> Result<(), TmError> {
        if !self.msg.is_request() {
            return Err(TmError::NoRequest);
        }
        if self
            .intents
            .iter()
            .any(|i| matches!(i, TmIntent::Relay(_) | TmIntent::CancelInvite))
        {
            return Err(TmError::AlreadyRelayed);
        }
        self.check_not_suspended()?;
        self.check_not_refused()?;
        match self.msg.method() {
            Method::Ack => return self.forward(dst),
            Method::Cancel if self.t_check_trans() => {
                self.intents.push(TmIntent::CancelInvite);
                return Ok(());
            }
            _ => {}
        }
        self.check_hops()?;
        if let Some(d) = dst {
            Self::validate_uri(d)?;
            // an explicit destination is a new one for the main branch
            self.ruri_new = true;
        }
        let mut plans = Vec::with_capacity(1 + self.branches.len());
        if self.ruri_new {
            // the main destination failing makes t_relay fail
            let branch = self.main_branch();
            let target = dst.or(branch.dst_uri.as_deref()).unwrap_or(&branch.uri);
            let hops = self.resolve_all(target)?;
            plans.push(BranchPlan { branch, hops });
        }
        // a branch that does not resolve is skipped, as in Kamailio
        for branch in &self.branches {
            let target = dst.or(branch.dst_uri.as_deref()).unwrap_or(&branch.uri);
            if let Ok(hops) = self.resolve_all(target) {
                plans.push(BranchPlan {
                    branch: branch.clone(),
                    hops,
                });
            }
        }
        if plans.is_empty() {
            // nothing relayed, nothing consumed: a failure route may still try otherwise
            return Err(TmError::NoDestination(
                "no branch to relay: set $ru or $du, append a branch or load contacts first".into(),
            ));
        }
        // a request of a dialog goes to the other side only: of the addresses a target
        // resolves to, only that side's (a dual-stack name keeps its matching address)
        let first = plans[0].hops[0].addr;
        plans.retain_mut(|p| self.keep_reachable(&mut p.hops));
        if plans.is_empty() {
            return Err(self.leaves_dialog(first));
        }
        // relayed: the set is consumed (a failure route forks only what it adds)
        self.branches.clear();
        self.ruri_new = false;
        self.intents.push(TmIntent::Relay(plans));
        Ok(())
    }

    /// The socket a request to `hop` leaves from: `forced` (a branch's `$fs`, the socket
    /// a contact registered on) when it fits the hop, else the one the request came in
    /// on, else the first of the hop's transport and address family.
    pub fn send_socket(&self, hop: &NextHop, forced: Option<Listener>) -> Option<Listener> {
        let incoming = Listener {
            transport: self.source.transport,
            addr: self.source.local,
        };
        forced
            .and_then(|f| self.config.pick_listener(hop, Some(f)).filter(|l| *l == f))
            .or_else(|| self.config.pick_listener(hop, Some(incoming)))
    }

    /// Check that `uri` is a URI a route may relay to.
    pub fn validate_uri(uri: &str) -> Result<(), TmError> {
        Uri::parse_standalone(uri.as_bytes())
            .map(|_| ())
            .map_err(|e| TmError::Invalid(format!("{uri:?}: {e}")))
    }
}
