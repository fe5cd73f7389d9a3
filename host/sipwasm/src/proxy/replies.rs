//! Replies: matched to their transaction and branch, onreply routes, forwarded or kept;
//! the dialog table kept up to date; replies of no transaction forwarded statelessly.

use super::*;

impl Proxy {
    /// Keep the dialog table up to date with reply `msg` (`code`, from `source`) of
    /// `cell`'s request: a dialog-forming request this router record-routed starts an
    /// early dialog with a 1xx, confirms it with a 2xx, drops it with a failure; a 2xx to
    /// a target refresh inside a dialog moves both sides' targets to their new Contacts.
    pub(super) fn track_dialog(
        &self,
        cell: &Cell<Saved>,
        msg: &SipMessage,
        code: u16,
        source: &Source,
    ) {
        let ctx = &cell.user.ctx;
        let req = ctx.msg();
        let dialogs = &ctx.config().dialogs;
        let b = msg.as_bytes();
        if ctx.has_totag() {
            if (200..300).contains(&code)
                && sipwasm_routing::dialog::refreshes_target(req.method())
                && let Some(by_caller) = ctx.dialog_side()
            {
                let answerer = msg
                    .contacts()
                    .first()
                    .map(|c| String::from_utf8_lossy(c.uri.as_bytes(b)).into_owned());
                dialogs.refresh_targets(
                    req,
                    by_caller,
                    ctx.contact_out().as_deref(),
                    answerer.as_deref(),
                );
            }
            return;
        }
        if !sipwasm_routing::dialog::forms_dialog(req.method()) || code <= 100 {
            return;
        }
        if code >= 300 {
            if let Some(tag) = msg.to().tag(b) {
                let rb = req.as_bytes();
                dialogs.fail(req.call_id(), req.from().tag(rb).unwrap_or_default(), tag);
            }
            return;
        }
        let Some(start) = ctx.dialog_start(msg, source.src.ip()) else {
            return;
        };
        not_recorded(dialogs, dialogs.start(&start, code >= 200, now_unix()));
    }

    /// The transaction and branch a reply belongs to, with the tenant and version its
    /// routes run on.
    pub fn match_reply(&self, msg: &SipMessage) -> Option<MatchedReply> {
        let (id, branch) = msg
            .top_via()
            .branch(msg.as_bytes())
            .and_then(parse_branch)?;
        let cell = self.table.get(id)?;
        let serving = cell.lock().expect("not poisoned").user.serving.clone();
        Some(MatchedReply {
            id,
            branch,
            cell,
            serving,
        })
    }

    /// A reply that passed `reply_route`: match it to a branch, run the onreply route, and
    /// forward or keep it. A reply that matches no transaction is forwarded statelessly when
    /// its top Via is ours. Returns false when it was not ours at all.
    pub fn on_reply(
        &self,
        workers: &mut Workers,
        matched: Option<MatchedReply>,
        msg: SipMessage,
        source: Source,
    ) -> bool {
        let now = Instant::now();
        let Some(MatchedReply {
            id,
            branch: n,
            cell,
            ..
        }) = matched
        else {
            return self.stateless_reply(msg);
        };
        let mut out = Vec::new();
        let mut c = cell.lock().expect("not poisoned");
        match c.on_response(now, n, &msg, &mut out) {
            ResponseStep::Retransmitted2xx => {
                // also a branch's first 2xx after its timer fired: its dialog is real (a
                // retransmission of a 2xx already recorded changes nothing: it skipped
                // the onreply route that made the first one's Contact)
                let req = c.user.ctx.msg();
                let b = msg.as_bytes();
                if !c.user.ctx.has_totag()
                    && !c.user.ctx.config().dialogs.is_confirmed(
                        msg.call_id(),
                        msg.from().tag(b).unwrap_or_default(),
                        msg.to().tag(b).unwrap_or_default(),
                    )
                    && sipwasm_routing::dialog::forms_dialog(req.method())
                {
                    self.track_dialog(&c, &msg, msg.status().unwrap_or(0), &source);
                }
            }
            ResponseStep::Absorbed => {
                // a callee's failure the caller does not need (its 487 after our CANCEL):
                // its early dialog ends all the same
                let code = msg.status().unwrap_or(0);
                if code >= 300 {
                    self.track_dialog(&c, &msg, code, &source);
                }
            }
            ResponseStep::Deliver => {
                let mut msg = msg;
                let code = msg.status().unwrap_or(0);
                if let Some(route) = c.user.ctx.tm_state().on_reply.clone() {
                    let mut ctx = c.user.ctx.with_message(msg.clone(), source);
                    let reason =
                        String::from_utf8_lossy(msg.reason().unwrap_or_default()).into_owned();
                    ctx.set_tx_info(Some(tx_info(id, &c, code, reason, Some(n), false)));
                    let mut outcome = workers.run(&c.user.serving, Route::OnReply(&route), ctx);
                    out.extend(outcome.ctx.take_outbound());
                    let dropped = outcome.result == Ok(Verdict::Drop) || outcome.ctx.is_dropped();
                    if !outcome.ctx.lumps().is_empty()
                        && let Ok(changed) = SipMessage::parse(Bytes::from(outcome.ctx.rendered()))
                    {
                        msg = changed;
                    }
                    if dropped && code < 200 {
                        self.finish(id, &c);
                        self.send_all(out);
                        drop(c);
                        return true;
                    }
                }
                self.track_dialog(&c, &msg, code, &source);
                if code == 503 {
                    // the next address of the destination gets its chance first (the 503
                    // then is one failed branch among others)
                    self.dns_failover(id, &mut c, n, now, &mut out);
                } else if code >= 200 {
                    // answered: its destination's other addresses are not needed
                    c.user.failover.retain(|f| f.branch != n);
                }
                if c.relay_response(now, n, msg, &mut out) == Relay::AllFailed {
                    self.all_failed(workers, id, &mut c, now, &mut out);
                }
            }
        }
        self.finish(id, &c);
        // sent before the cell is unlocked: a 180 handled by one worker must leave before
        // the 200 another worker handles next (replies of one transaction keep their order)
        self.send_all(out);
        drop(c);
        true
    }

    pub(super) fn stateless_reply(&self, msg: SipMessage) -> bool {
        let local = &self.local;
        let hop = stateless_reply_hop(&msg, |host, port| local.is_myself(host, port, 5060));
        let Some(hop) = hop else {
            return false;
        };
        let Some(sock) = local.pick_listener(&hop, None) else {
            return false;
        };
        let data = Bytes::from(sipwasm_tm::msg::strip_top_via(&msg));
        self.table
            .stats
            .stateless_replies
            .fetch_add(1, Ordering::Relaxed);
        self.outlet.send(Transmit {
            transport: hop.transport,
            dest: hop.addr,
            local: sock.addr,
            conn: None,
            data,
            // a reply never opens a connection (its sender's is the one to use)
            flags: sipwasm_transport::StreamFlags {
                no_connect: hop.transport.is_stream(),
                ..Default::default()
            },
        });
        true
    }
}
