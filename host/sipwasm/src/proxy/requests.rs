//! A request route's intents applied to its transaction (`t_relay`, `t_reply`,
//! `t_suspend`), resumed routes, CANCEL.

use super::*;

impl Proxy {
    /// Handle a request before routing: retransmissions and ACKs of our non-2xx replies are
    /// absorbed here. Returns true when the request was consumed.
    pub fn absorb_request(&self, msg: &SipMessage) -> bool {
        let now = Instant::now();
        match msg.method() {
            Method::Cancel => false,
            Method::Ack => {
                let key = ServerKey::of(msg, KeyFor::Own);
                let Some((id, cell)) = self.table.find(&key) else {
                    return false;
                };
                let mut c = cell.lock().expect("not poisoned");
                if c.server_state() != ServerState::Completed
                    && c.server_state() != ServerState::Confirmed
                {
                    // an ACK for a 2xx is end to end: it is routed
                    return false;
                }
                if key.is_rfc2543() && msg.to().tag(msg.as_bytes()) != c.final_to_tag() {
                    return false;
                }
                c.on_ack(now);
                self.table
                    .stats
                    .acks_absorbed
                    .fetch_add(1, Ordering::Relaxed);
                self.finish(id, &c);
                true
            }
            _ => {
                let Some((_, cell)) = self.table.find(&ServerKey::of(msg, KeyFor::Own)) else {
                    return false;
                };
                let mut out = Vec::new();
                cell.lock()
                    .expect("not poisoned")
                    .on_request_retransmission(&mut out);
                self.table
                    .stats
                    .retransmissions_absorbed
                    .fetch_add(1, Ordering::Relaxed);
                self.send_all(out);
                true
            }
        }
    }

    /// Create (or find) the transaction of the request in `ctx`; a new one sends its
    /// 100 Trying (for an INVITE) and gets its timers. `reserved`: the id `t_suspend`
    /// gave the route, which the transaction takes.
    pub(super) fn ensure_cell(
        &self,
        ctx: &RouteContext,
        serving: &Serving,
        reserved: Option<CellId>,
    ) -> (CellId, CellRef, bool) {
        let (id, cell, created) = self.insert_cell(ctx, serving, reserved);
        if created {
            let mut out = Vec::new();
            let mut c = cell.lock().expect("not poisoned");
            c.send_trying(&mut out);
            self.reschedule(id, &c);
            drop(c);
            self.send_all(out);
        }
        (id, cell, created)
    }

    /// Create (or find) the transaction of the request in `ctx` for `serving`, sending
    /// nothing: true when it is new.
    fn insert_cell(
        &self,
        ctx: &RouteContext,
        serving: &Serving,
        reserved: Option<CellId>,
    ) -> (CellId, CellRef, bool) {
        let key = ServerKey::of(ctx.msg(), KeyFor::Own);
        let home = HOME.with(|h| h.get().cloned());
        if let Some(id) = reserved {
            let parts = self.cell_parts(ctx, serving, key.clone());
            if let Some(cell) = self
                .table
                .insert_reserved(id, key.clone(), home.clone(), |id| parts.make(id))
            {
                return (id, cell, true);
            }
            tracing::debug!(
                index = id.index,
                label = id.label,
                "a retransmission made the transaction t_suspend reserved an id for"
            );
        }
        // made before the table's lock is taken, so that other workers do not wait on
        // these copies; a retransmission that finds its cell already made wastes them
        let parts = self.cell_parts(ctx, serving, key.clone());
        self.table
            .insert(key, &serving.tenant, home, |id| parts.make(id))
    }

    /// Everything a new cell for the request in `ctx` is made of but its id.
    fn cell_parts(&self, ctx: &RouteContext, serving: &Serving, key: ServerKey) -> CellParts {
        let mut timers = self.timers;
        if let Some(v) = ctx.tm_state().fr {
            timers.fr = v;
        }
        if let Some(v) = ctx.tm_state().fr_inv {
            timers.fr_inv = v;
        }
        CellParts {
            msg: ctx.msg().clone(),
            source: *ctx.source(),
            force_rport: ctx.forces_rport(),
            timers,
            replies: self.replies.clone(),
            saved: Saved {
                ctx: ctx.rerun(),
                key,
                serving: serving.clone(),
                failover: Vec::new(),
                branch_uris: Vec::new(),
                heap_at: std::cell::Cell::new(None),
            },
        }
    }

    /// A request route failed after `t_suspend`: the id it was given names nothing (its
    /// transaction is never made), and the request is answered by the tenant's fallback
    /// as if it had never existed (statelessly: the context no longer names a
    /// transaction).
    pub fn abandon(&self, ctx: &mut RouteContext) {
        let Some(tx) = ctx.tx_info() else {
            return;
        };
        self.table.release(CellId {
            index: tx.index,
            label: tx.label,
        });
        ctx.set_tx_info(None);
    }

    /// Apply what a request route asked for (after its own stateless output was sent).
    pub fn apply_request_intents(
        &self,
        workers: &mut Workers,
        serving: &Serving,
        mut ctx: RouteContext,
    ) {
        let intents = ctx.take_intents();
        if intents.is_empty() {
            return;
        }
        let reserved = ctx
            .tx_info()
            .filter(|_| intents.contains(&TmIntent::Suspend))
            .map(|tx| CellId {
                index: tx.index,
                label: tx.label,
            });
        let now = Instant::now();
        let mut cell: Option<(CellId, CellRef)> = None;
        // true while the cell's saved context is still the copy of `ctx` it was created
        // with: applying the first intent then needs no second copy
        let mut saved_is_ctx = false;
        for intent in intents {
            if intent == TmIntent::CancelInvite {
                self.cancel(&mut ctx, now);
                continue;
            }
            let (id, cref) = cell
                .get_or_insert_with(|| {
                    let (id, c, created) = self.ensure_cell(&ctx, serving, reserved);
                    saved_is_ctx = created;
                    (id, c)
                })
                .clone();
            let mut c = cref.lock().expect("not poisoned");
            if matches!(intent, TmIntent::Relay(_)) && (!c.branches().is_empty() || c.final_sent())
            {
                // a retransmission that arrived while the original's route was still
                // running (before its transaction existed) and was routed too: the
                // original already relayed or answered, this copy is absorbed
                self.table
                    .stats
                    .retransmissions_absorbed
                    .fetch_add(1, Ordering::Relaxed);
                let mut out = Vec::new();
                c.on_request_retransmission(&mut out);
                drop(c);
                self.send_all(out);
                continue;
            }
            let mut out = Vec::new();
            let fresh = std::mem::take(&mut saved_is_ctx);
            self.apply_on_cell(workers, id, &mut c, &ctx, fresh, intent, now, &mut out);
            self.finish(id, &c);
            drop(c);
            self.send_all(out);
        }
    }

    /// Apply one intent of a request route (or a resumed route) to its transaction.
    /// `saved_is_ctx`: the cell's saved context already is `ctx` made ready to rerun (the
    /// cell was just created from it), so it is not copied again.
    #[allow(
        clippy::too_many_arguments,
        reason = "one internal step with its whole context"
    )]
    pub(super) fn apply_on_cell(
        &self,
        workers: &mut Workers,
        id: CellId,
        c: &mut Cell<Saved>,
        ctx: &RouteContext,
        saved_is_ctx: bool,
        intent: TmIntent,
        now: Instant,
        out: &mut Vec<Transmit>,
    ) {
        match intent {
            TmIntent::NewTran | TmIntent::CancelInvite => {}
            TmIntent::Suspend => {
                // the transaction was made when the route returned, under the id
                // t_suspend reserved: what the route did after t_suspend is what the
                // resumed route starts from; its 100 Trying went when it was made
                if !saved_is_ctx {
                    c.user.ctx = ctx.rerun();
                }
                c.send_trying(out);
            }
            TmIntent::Reply { code, reason } => {
                let extra = ctx.reply_lumps();
                if let Err(e) =
                    c.reply_local_with_body(now, code, &reason, &extra, ctx.reply_body(), out)
                {
                    tracing::info!("t_reply {code}: {e}");
                }
            }
            TmIntent::Relay(plans) => {
                if !saved_is_ctx {
                    c.user.ctx = ctx.rerun();
                }
                c.user.ctx.set_tx_info(None);
                c.set_fr(ctx.tm_state().fr_inv, ctx.tm_state().fr);
                let sent = self.add_branches(workers, id, c, ctx, &plans, now, out);
                if sent == 0 && !c.final_sent() {
                    // nothing waits for an answer: the failure logic decides what goes back
                    self.all_failed(workers, id, c, now, out);
                } else if sent > 0 {
                    not_recorded(&ctx.config().dialogs, ctx.expect_notifies());
                }
            }
        }
    }

    /// Run the `t_continue`s accepted so far, each in its named route on the plugin
    /// version of its transaction. Called after every event, with no cell locked.
    pub fn run_resumes(&self, workers: &mut Workers) {
        loop {
            let next = self.table.resumes.lock().expect("not poisoned").pop_front();
            let Some((id, route)) = next else {
                return;
            };
            self.resume(workers, id, &route);
        }
    }

    pub(super) fn resume(&self, workers: &mut Workers, id: CellId, route: &str) {
        let Some(cell) = self.table.get(id) else {
            tracing::info!(
                index = id.index,
                label = id.label,
                "t_continue: the transaction ended before it could be resumed"
            );
            return;
        };
        let now = Instant::now();
        let mut c = cell.lock().expect("not poisoned");
        if c.final_sent() {
            tracing::info!(
                index = id.index,
                label = id.label,
                code = c.last_reply_code(),
                "t_continue: the transaction was answered meanwhile"
            );
            return;
        }
        self.table.stats.resumed.fetch_add(1, Ordering::Relaxed);
        let mut ctx = c.user.ctx.rerun();
        ctx.set_tx_info(Some(tx_info(id, &c, 0, String::new(), None, false)));
        let serving = c.user.serving.clone();
        let outcome = workers.run(&serving, Route::Named(route), ctx);
        let failed = outcome.result.is_err();
        let mut ctx = outcome.event;
        for (conn, secs) in ctx.take_keep_flows() {
            // a registration saved in the resumed route
            self.outlet
                .keep_open(conn, secs.saturating_add(crate::server::FLOW_GRACE_SECS));
        }
        let mut out = Vec::new();
        out.extend(ctx.take_outbound());
        let intents = ctx.take_intents();
        if failed {
            // a crashed route's half-done work is discarded; the caller gets the fallback
            if let Fallback::Reply(code, reason) = serving.tenant.fallback()
                && let Err(e) = c.reply_local(now, *code, reason, &[], &mut out)
            {
                tracing::info!("fallback reply after a failed resume route: {e}");
            }
        } else {
            for intent in intents {
                self.apply_on_cell(workers, id, &mut c, &ctx, false, intent, now, &mut out);
            }
        }
        self.finish(id, &c);
        drop(c);
        self.send_all(out);
    }

    pub(super) fn cancel(&self, ctx: &mut RouteContext, now: Instant) {
        // the CANCEL itself is answered hop by hop (§16.10), and first: sent after the
        // CANCELs downstream, the 200 could lose the race with the callee's 487 (forwarded
        // by another worker), and a caller expecting 200 then 487 gives up on the call
        let _ = ctx.send_reply(200, "Canceling");
        let mut out = Vec::new();
        out.extend(ctx.take_outbound());
        let key = ServerKey::of(ctx.msg(), KeyFor::CancelTarget);
        if let Some((id, cell)) = self.table.find(&key) {
            let mut c = cell.lock().expect("not poisoned");
            c.on_cancel(now, &mut out);
            self.finish(id, &c);
        }
        self.send_all(out);
    }
}

fn reply_target(source: &Source, msg: &SipMessage, force_rport: bool) -> Target {
    Target {
        to: Destination {
            transport: source.transport,
            dest: response_target_rport(msg.top_via(), msg.as_bytes(), source.src, force_rport),
            local: source.local,
            conn: source.conn,
        },
        // replies go back over the connection the request came on, or not at all
        // (Kamailio's set_reply_no_connect): a UA behind NAT cannot be connected to
        no_connect: source.transport.is_stream(),
    }
}

/// The parts of a new cell, made before the table's lock is taken.
struct CellParts {
    msg: SipMessage,
    source: Source,
    force_rport: bool,
    timers: TimerConfig,
    replies: Arc<dyn LocalReplies>,
    saved: Saved,
}

impl CellParts {
    fn make(self, id: CellId) -> Cell<Saved> {
        let mut c = Cell::new(
            id,
            self.msg.clone(),
            self.source.src,
            reply_target(&self.source, &self.msg, self.force_rport),
            self.timers,
            self.replies,
            self.saved,
            Instant::now(),
        );
        c.set_force_rport(self.force_rport);
        c
    }
}
