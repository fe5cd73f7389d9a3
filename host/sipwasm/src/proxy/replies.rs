//! Replies: matched to their transaction and branch, onreply routes, forwarded or kept;
//! the dialog table kept up to date; replies of no transaction forwarded statelessly.

use super::*;

/// What a reply to a transaction's request does to the dialog table.
#[derive(Debug, PartialEq, Eq)]
enum DialogUpdate {
    /// Nothing.
    Nothing,
    /// A 2xx to a target refresh inside a dialog `loose_route` checked: both sides'
    /// targets move to their new Contacts (the answerer's is this one).
    RefreshTargets {
        /// The caller sent the request.
        by_caller: bool,
        /// The Contact URI of the reply.
        answerer: Option<String>,
    },
    /// A failure to a dialog-forming request: the early dialog with this callee tag ends.
    Fail {
        /// The reply's To tag.
        callee_tag: Vec<u8>,
    },
    /// A 1xx (early) or 2xx (confirmed) to a dialog-forming request starts its dialog,
    /// when this router record-routed it.
    Start {
        /// A 2xx.
        confirmed: bool,
    },
}

impl DialogUpdate {
    /// What reply `msg` (status `code`) of the request of `ctx` does.
    fn of(ctx: &RouteContext, msg: &SipMessage, code: u16) -> DialogUpdate {
        let req = ctx.msg();
        let b = msg.as_bytes();
        if ctx.has_totag() {
            return match ctx.dialog_side() {
                Some(by_caller)
                    if (200..300).contains(&code)
                        && sipwasm_routing::dialog::refreshes_target(req.method()) =>
                {
                    DialogUpdate::RefreshTargets {
                        by_caller,
                        answerer: msg
                            .contacts()
                            .first()
                            .map(|c| String::from_utf8_lossy(c.uri.as_bytes(b)).into_owned()),
                    }
                }
                _ => DialogUpdate::Nothing,
            };
        }
        if !sipwasm_routing::dialog::forms_dialog(req.method()) || code <= 100 {
            return DialogUpdate::Nothing;
        }
        if code >= 300 {
            return match msg.to().tag(b) {
                Some(tag) => DialogUpdate::Fail {
                    callee_tag: tag.to_vec(),
                },
                None => DialogUpdate::Nothing,
            };
        }
        DialogUpdate::Start {
            confirmed: code >= 200,
        }
    }
}

/// True when `msg`, a 2xx the transaction of `ctx` already saw or no longer waits for
/// (a branch's first 2xx after its timer fired), forms a dialog the table does not have
/// confirmed: it is recorded. (A retransmission of a 2xx already recorded changes nothing:
/// it skipped the onreply route that made the first one's Contact.)
fn late_2xx_unrecorded(ctx: &RouteContext, msg: &SipMessage) -> bool {
    let b = msg.as_bytes();
    !ctx.has_totag()
        && sipwasm_routing::dialog::forms_dialog(ctx.msg().method())
        && !ctx.config().dialogs.is_confirmed(
            msg.call_id(),
            msg.from().tag(b).unwrap_or_default(),
            msg.to().tag(b).unwrap_or_default(),
        )
}

impl Proxy {
    /// Keep the dialog table up to date with reply `msg` (`code`, from `source`) of
    /// `cell`'s request (see [`DialogUpdate`]).
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
        match DialogUpdate::of(ctx, msg, code) {
            DialogUpdate::Nothing => {}
            DialogUpdate::RefreshTargets {
                by_caller,
                answerer,
            } => dialogs.refresh_targets(
                req,
                by_caller,
                ctx.contact_out().as_deref(),
                answerer.as_deref(),
            ),
            DialogUpdate::Fail { callee_tag } => {
                let rb = req.as_bytes();
                dialogs.fail(
                    req.call_id(),
                    req.from().tag(rb).unwrap_or_default(),
                    &callee_tag,
                );
            }
            DialogUpdate::Start { confirmed } => {
                if let Some(start) = ctx.dialog_start(msg, source.src.ip()) {
                    not_recorded(dialogs, dialogs.start(&start, confirmed, now_unix()));
                }
            }
        }
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
                // a copy, or a branch's first 2xx after its timer fired, goes up as the first
                // 2xx did: through the onreply route (Kamailio runs it for every reply of a
                // transaction: its NAT fixes matter to a late answer most), what
                // uac_replace_from/to changed restored. The core queued the 2xx as it came,
                // its Via stripped, last; a 2xx is never dropped.
                let queued = out.pop();
                let (shown, _) = self.through_onreply(workers, id, &c, n, msg, &source, &mut out);
                let shown = c.user.ctx.uac_restore_reply(&shown).unwrap_or(shown);
                if let Some(mut copy) = queued {
                    copy.data = Bytes::from(sipwasm_tm::msg::strip_top_via(&shown));
                    out.push(copy);
                }
                // the late first 2xx: its dialog is real
                if late_2xx_unrecorded(&c.user.ctx, &shown) {
                    self.track_dialog(&c, &shown, shown.status().unwrap_or(0), &source);
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
                let code = msg.status().unwrap_or(0);
                let (mut msg, dropped) =
                    self.through_onreply(workers, id, &c, n, msg, &source, &mut out);
                if dropped && code < 200 {
                    self.finish(id, &c);
                    self.send_all(out);
                    drop(c);
                    return true;
                }
                // what uac_replace_from/to changed goes back as the sender wrote it
                if let Some(restored) = c.user.ctx.uac_restore_reply(&msg) {
                    msg = restored;
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

    /// Reply `msg` (to branch `n` of transaction `id`, in `c`) through the onreply route
    /// the transaction armed, if any: the reply as the route left it, and whether the route
    /// dropped it. What the route sent itself goes to `out`.
    #[allow(
        clippy::too_many_arguments,
        reason = "one internal step with its whole context"
    )]
    fn through_onreply(
        &self,
        workers: &mut Workers,
        id: CellId,
        c: &Cell<Saved>,
        n: u16,
        msg: SipMessage,
        source: &Source,
        out: &mut Vec<Transmit>,
    ) -> (SipMessage, bool) {
        let Some(route) = c.user.ctx.tm_state().on_reply.clone() else {
            return (msg, false);
        };
        let code = msg.status().unwrap_or(0);
        let mut ctx = c.user.ctx.with_message(msg.clone(), *source);
        let reason = String::from_utf8_lossy(msg.reason().unwrap_or_default()).into_owned();
        ctx.set_tx_info(Some(tx_info(id, c, code, reason, Some(n), false)));
        let mut outcome = workers.run(&c.user.serving, Route::OnReply(&route), ctx);
        out.extend(outcome.event.take_outbound());
        let dropped = outcome.result == Ok(Verdict::Drop) || outcome.event.is_dropped();
        if !outcome.event.lumps().is_empty()
            && let Ok(changed) = SipMessage::parse(Bytes::from(outcome.event.rendered()))
        {
            return (changed, dropped);
        }
        (msg, dropped)
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

#[cfg(test)]
mod tests {
    use super::*;
    use sipwasm_proto::Transport;

    fn message(text: &str) -> SipMessage {
        SipMessage::parse(Bytes::from(text.replace('\n', "\r\n"))).unwrap()
    }

    /// A message of alice's call to bob: its first line, the CSeq method, To tag and
    /// Contact.
    fn dialog_message(
        first: &str,
        method: &str,
        to_tag: Option<&str>,
        contact: &str,
    ) -> SipMessage {
        let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
        message(&format!(
            "{first}\n\
             Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1\n\
             From: <sip:alice@example.com>;tag=a1\n\
             To: <sip:bob@example.com>{to_tag}\n\
             Call-ID: c1@example.com\n\
             CSeq: 1 {method}\n\
             Contact: <{contact}>\n\
             Max-Forwards: 70\n\
             Content-Length: 0\n\n"
        ))
    }

    /// The context of `method` from alice, with a To tag when `to_tag` is given.
    fn request(method: &str, to_tag: Option<&str>) -> RouteContext {
        let msg = dialog_message(
            &format!("{method} sip:bob@example.com SIP/2.0"),
            method,
            to_tag,
            "sip:alice@192.0.2.1:5060",
        );
        let source = Source {
            transport: Transport::Udp,
            src: "192.0.2.1:5060".parse().unwrap(),
            local: "192.0.2.10:5060".parse().unwrap(),
            conn: None,
        };
        RouteContext::new(
            Arc::new(LocalConfig::new(Vec::new(), Vec::new(), None)),
            msg,
            source,
            0,
        )
    }

    /// A reply `code` to `ctx`'s request, with To tag `to_tag` when given.
    fn reply(ctx: &RouteContext, code: u16, to_tag: Option<&str>) -> SipMessage {
        let method = String::from_utf8_lossy(ctx.msg().method_text()).into_owned();
        dialog_message(
            &format!("SIP/2.0 {code} Reason"),
            &method,
            to_tag,
            "sip:bob@198.51.100.7:5060",
        )
    }

    #[test]
    fn replies_to_a_dialog_forming_request_start_confirm_or_end_its_dialog() {
        for method in ["INVITE", "SUBSCRIBE", "REFER"] {
            let ctx = request(method, None);
            let update = |code, tag| DialogUpdate::of(&ctx, &reply(&ctx, code, tag), code);
            assert_eq!(update(100, None), DialogUpdate::Nothing, "{method}");
            assert_eq!(
                update(180, Some("b1")),
                DialogUpdate::Start { confirmed: false }
            );
            assert_eq!(
                update(200, Some("b1")),
                DialogUpdate::Start { confirmed: true }
            );
            assert_eq!(
                update(486, Some("b1")),
                DialogUpdate::Fail {
                    callee_tag: b"b1".to_vec()
                }
            );
            // a failure made by a proxy on the way, with no To tag, ends no dialog
            assert_eq!(update(408, None), DialogUpdate::Nothing);
        }
    }

    #[test]
    fn replies_outside_dialogs_or_to_unchecked_in_dialog_requests_change_nothing() {
        let message = request("MESSAGE", None);
        assert_eq!(
            DialogUpdate::of(&message, &reply(&message, 200, Some("b1")), 200),
            DialogUpdate::Nothing
        );
        // a re-INVITE that loose_route did not check against its dialog refreshes no
        // target, and its failure ends nothing
        let reinvite = request("INVITE", Some("b1"));
        for code in [200, 491] {
            assert_eq!(
                DialogUpdate::of(&reinvite, &reply(&reinvite, code, Some("b1")), code),
                DialogUpdate::Nothing
            );
        }
    }

    #[test]
    fn a_late_2xx_is_recorded_only_for_a_dialog_forming_request_not_yet_confirmed() {
        let invite = request("INVITE", None);
        assert!(late_2xx_unrecorded(
            &invite,
            &reply(&invite, 200, Some("b1"))
        ));
        let reinvite = request("INVITE", Some("b1"));
        assert!(!late_2xx_unrecorded(
            &reinvite,
            &reply(&reinvite, 200, Some("b1"))
        ));
        let message = request("MESSAGE", None);
        assert!(!late_2xx_unrecorded(
            &message,
            &reply(&message, 200, Some("b1"))
        ));
    }
}
