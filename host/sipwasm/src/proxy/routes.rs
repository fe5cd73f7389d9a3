//! Branches and failure routes: each planned branch through its branch route and out,
//! DNS failover to a destination's next address, failure routes when every branch failed.

use super::*;

/// Most failure routes of one transaction in a row whose new branches all failed at once.
const MAX_FAILURE_ROUNDS: usize = 8;

/// Where a branch route sent its branch, when not where the plan said: its `$du`, else its
/// Request-URI (then resolved afresh).
fn moved_to<'a>(planned: &Branch, routed: &'a Branch) -> Option<&'a str> {
    (routed.uri != planned.uri || routed.dst_uri != planned.dst_uri)
        .then(|| routed.dst_uri.as_deref().unwrap_or(&routed.uri))
}

/// A branch that got no answer at all and was failed by its timer (408 made here): the
/// one kind of failure DNS failover retries besides a 503.
fn timed_out_unanswered(last_code: u16, final_reply: Option<&FinalReply>) -> bool {
    last_code == 0 && matches!(final_reply, Some(FinalReply::Local(408, _)))
}

/// What a failure route sees as the transaction's reply (`$T_reply_code`, the reason,
/// the branch, whether it was made here): the best failure, or a local 500 when no branch
/// has one.
fn failure_shown(best: Option<(usize, &FinalReply)>) -> (u16, String, Option<u16>, bool) {
    match best {
        Some((i, FinalReply::Received(m))) => (
            m.status().unwrap_or(500),
            String::from_utf8_lossy(m.reason().unwrap_or_default()).into_owned(),
            Some(i as u16),
            false,
        ),
        Some((i, FinalReply::Local(c, r))) => (*c, (*r).to_string(), Some(i as u16), true),
        // best() chooses among failures only: a 2xx never comes here
        Some((_, FinalReply::Forwarded(_))) | None => {
            (500, "Server Internal Error".into(), None, true)
        }
    }
}

/// The Digest challenges of the best reply, for `uac_auth` in the failure route.
fn challenges_of(best: Option<(usize, &FinalReply)>) -> Vec<(bool, String)> {
    let Some((_, FinalReply::Received(m))) = best else {
        return Vec::new();
    };
    let (proxy, name): (bool, &[u8]) = match m.status() {
        Some(401) => (false, b"WWW-Authenticate"),
        Some(407) => (true, b"Proxy-Authenticate"),
        _ => return Vec::new(),
    };
    m.headers_named(name)
        .take(8)
        .map(|v| (proxy, String::from_utf8_lossy(v).into_owned()))
        .collect()
}

impl Proxy {
    /// Build, branch-route and send each plan as a branch of `cell`. Returns how many were
    /// sent and wait for an answer (a branch whose flow is gone is added failed, 430).
    #[allow(
        clippy::too_many_arguments,
        reason = "one internal step with its whole context"
    )]
    pub(super) fn add_branches(
        &self,
        workers: &mut Workers,
        id: CellId,
        cell: &mut Cell<Saved>,
        ctx: &RouteContext,
        plans: &[sipwasm_routing::BranchPlan],
        now: Instant,
        out: &mut Vec<Transmit>,
    ) -> usize {
        let mut added = 0;
        for plan in plans {
            let n = cell.branches().len() as u16;
            // a branch route works on its own copy, with the branch as its main branch;
            // what it changes ($ru, $du, headers) is this branch's only
            let Some(route) = ctx.tm_state().on_branch.clone() else {
                if self.send_branch(id, cell, ctx, &plan.branch, &plan.hops, now, out) {
                    added += 1;
                }
                continue;
            };
            let mut copy = ctx.rerun();
            copy.set_main_branch(plan.branch.clone());
            copy.set_tx_info(Some(tx_info(id, cell, 0, String::new(), Some(n), false)));
            let outcome = workers.run(&cell.user.serving, Route::Branch(&route), copy);
            let dropped = outcome.result == Ok(Verdict::Drop) || outcome.event.is_dropped();
            let mut bctx = outcome.event;
            out.extend(bctx.take_outbound());
            if dropped {
                continue;
            }
            // a From/To the branch route replaced comes back restored in the replies
            cell.user.ctx.adopt_uac_restores(&bctx);
            let branch = bctx.main_branch();
            let hops = match moved_to(&plan.branch, &branch) {
                None => plan.hops.clone(),
                // the branch route sent it elsewhere
                Some(target) => match self.resolver.resolve(target) {
                    Ok(mut h) if !h.is_empty() => {
                        // (what t_relay did to the plan: inside a dialog, the other side's
                        // address only; none of them fails the branch below)
                        bctx.keep_reachable(&mut h);
                        h
                    }
                    Ok(_) | Err(_) => {
                        tracing::info!("branch route target {target} does not resolve");
                        continue;
                    }
                },
            };
            if self.send_branch(id, cell, &bctx, &branch, &hops, now, out) {
                added += 1;
            }
        }
        added
    }

    /// Build the request of `branch` (from `bctx`, the route's context or its branch
    /// route's) for the first of `hops` and add it to `cell`; the other hops are kept for
    /// DNS failover. True when a branch was sent and waits for its answer (a branch whose
    /// flow is gone is added already failed, 430).
    #[allow(
        clippy::too_many_arguments,
        reason = "one internal step with its whole context"
    )]
    pub(super) fn send_branch(
        &self,
        id: CellId,
        cell: &mut Cell<Saved>,
        bctx: &RouteContext,
        branch: &Branch,
        hops: &[NextHop],
        now: Instant,
        out: &mut Vec<Transmit>,
    ) -> bool {
        let Some((&hop, rest)) = hops.split_first() else {
            return false;
        };
        let Some(sock) = bctx.send_socket(&hop, branch.socket) else {
            tracing::info!("no {} socket to reach {}", hop.transport, hop.addr);
            return false;
        };
        let n = cell.branches().len() as u16;
        let param = branch_param(id, n);
        let target = Target {
            to: Destination {
                transport: hop.transport,
                dest: hop.addr,
                local: sock.addr,
                conn: branch.conn,
            },
            no_connect: branch.no_connect && hop.transport.is_stream(),
        };
        let invite = bctx.msg().method() == Method::Invite;
        // a request of a dialog goes to the other side only (its hops were kept to that
        // side's address, by t_relay or after a branch route sent it elsewhere): a branch
        // to none of them fails
        let failed = if !bctx.may_reach(hop.addr) {
            tracing::info!(dest = %hop.addr, "branch not sent: the request leaves its dialog");
            Some((403, "Forbidden"))
        } else if target.no_connect && !self.outlet.has_flow(target.to) {
            // the UA's connection is gone, and it cannot be connected to (RFC 5626 §5.3)
            tracing::info!(dest = %hop.addr, "branch not sent: the flow to the UA is gone");
            Some((430, "Flow Failed"))
        } else {
            None
        };
        if let Some((code, reason)) = failed {
            match cell.add_failed_branch(now, param, invite, target, code, reason) {
                Ok(_) => cell.user.branch_uris.push(branch.uri.clone()),
                Err(e) => tracing::info!("branch not added: {e}"),
            }
            // failed at once: nothing pending on it
            return false;
        }
        let data = build_request(
            bctx,
            &ForwardSpec {
                ruri: &branch.uri,
                path: &branch.path,
                hop,
                local: sock,
                branch: &param,
            },
        );
        // foreign header edits may have broken the request: parse it again before sending
        let request = if bctx.has_header_edits() {
            BranchRequest::parse(param, Bytes::from(data))
        } else {
            Ok(BranchRequest::built(param, Bytes::from(data), invite))
        };
        let added = request.and_then(|r| cell.add_branch(now, r, target, out));
        match added {
            Ok(n) => {
                cell.user.branch_uris.push(branch.uri.clone());
                self.table.stats.branches.fetch_add(1, Ordering::Relaxed);
                if !rest.is_empty() {
                    cell.user.failover.push(Failover {
                        branch: n,
                        ctx: bctx.rerun(),
                        target: branch.clone(),
                        hops: rest.to_vec(),
                    });
                }
                true
            }
            Err(e) => {
                tracing::info!("branch not added: {e}");
                false
            }
        }
    }

    /// DNS failover (Kamailio's `use_dns_failover`): branch `n` failed with a 503, or timed
    /// out without any answer; when its destination had further addresses, send it to the
    /// next one as a new branch. True when a branch was added.
    pub(super) fn dns_failover(
        &self,
        id: CellId,
        cell: &mut Cell<Saved>,
        n: u16,
        now: Instant,
        out: &mut Vec<Transmit>,
    ) -> bool {
        let Some(i) = cell.user.failover.iter().position(|f| f.branch == n) else {
            return false;
        };
        let f = cell.user.failover.swap_remove(i);
        tracing::debug!(branch = n, next = %f.hops[0].addr, "DNS failover");
        self.send_branch(id, cell, &f.ctx, &f.target, &f.hops, now, out)
    }

    /// Failover for the branches that timed out without any answer since the last check.
    pub(super) fn failover_timeouts(
        &self,
        id: CellId,
        cell: &mut Cell<Saved>,
        now: Instant,
        out: &mut Vec<Transmit>,
    ) -> bool {
        let timed_out: Vec<u16> = cell
            .user
            .failover
            .iter()
            .map(|f| f.branch)
            .filter(|&n| {
                let b = &cell.branches()[n as usize];
                timed_out_unanswered(b.last_code(), b.final_reply())
            })
            .collect();
        let mut any = false;
        for n in timed_out {
            any |= self.dns_failover(id, cell, n, now, out);
        }
        any
    }

    /// Every branch failed: run the failure route if one is set; unless it relayed again or
    /// replied, send the best reply upstream.
    pub(super) fn all_failed(
        &self,
        workers: &mut Workers,
        id: CellId,
        cell: &mut Cell<Saved>,
        now: Instant,
        out: &mut Vec<Transmit>,
    ) {
        // a round whose new branches all fail at once (their flows are gone) is followed
        // by another, when the failure route armed itself again; a bounded number
        for _ in 0..MAX_FAILURE_ROUNDS {
            let route = cell.user.ctx.tm_state().on_failure.clone();
            let Some(route) = route.filter(|_| !cell.final_sent()) else {
                break;
            };
            if self.failure_round(workers, id, cell, &route, now, out) > 0 || cell.final_sent() {
                return;
            }
        }
        cell.forward_best(now, out);
    }

    /// Run failure route `route` once and apply what it asked for; returns how many new
    /// branches wait for an answer.
    pub(super) fn failure_round(
        &self,
        workers: &mut Workers,
        id: CellId,
        cell: &mut Cell<Saved>,
        route: &str,
        now: Instant,
        out: &mut Vec<Transmit>,
    ) -> usize {
        self.table
            .stats
            .failure_routes
            .fetch_add(1, Ordering::Relaxed);
        let (code, reason, branch, local) = failure_shown(cell.best());
        let mut ctx = cell.user.ctx.rerun();
        // a failure route runs once per round: it must set itself again to run again
        ctx.t_on_failure("");
        let mut info = tx_info(id, cell, code, reason, branch, local);
        info.challenges = challenges_of(cell.best());
        info.branch_uri = cell
            .best()
            .and_then(|(i, _)| cell.user.branch_uris.get(i).cloned());
        ctx.set_tx_info(Some(info));
        let outcome = workers.run(&cell.user.serving, Route::Failure(route), ctx);
        let mut ctx = outcome.event;
        // stateless output of the failure route (a forward ...) goes out as is
        out.extend(ctx.take_outbound());
        let intents = ctx.take_intents();
        cell.user.ctx = ctx.rerun();
        cell.user.ctx.set_tx_info(None);
        let mut relayed = 0;
        for intent in intents {
            match intent {
                TmIntent::Relay(plans) => {
                    let c = cell.user.ctx.clone();
                    relayed += self.add_branches(workers, id, cell, &c, &plans, now, out);
                }
                TmIntent::Reply { code, reason } => {
                    let extra = ctx.reply_lumps();
                    if let Err(e) = cell.reply_local_with_body(
                        now,
                        code,
                        &reason,
                        &extra,
                        ctx.reply_body(),
                        out,
                    ) {
                        tracing::info!("t_reply in failure route: {e}");
                    }
                }
                TmIntent::NewTran | TmIntent::CancelInvite | TmIntent::Suspend => {}
            }
        }
        relayed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn branch(uri: &str, dst_uri: Option<&str>) -> Branch {
        Branch {
            uri: uri.into(),
            dst_uri: dst_uri.map(str::to_string),
            ..Branch::default()
        }
    }

    #[test]
    fn a_branch_route_moves_its_branch_by_request_uri_or_destination() {
        let planned = branch("sip:bob@192.0.2.7", None);
        assert_eq!(moved_to(&planned, &planned.clone()), None);
        assert_eq!(
            moved_to(&planned, &branch("sip:bob@192.0.2.8", None)),
            Some("sip:bob@192.0.2.8")
        );
        // $du wins over the Request-URI, whichever of them changed
        assert_eq!(
            moved_to(&planned, &branch("sip:bob@192.0.2.7", Some("sip:10.0.0.1"))),
            Some("sip:10.0.0.1")
        );
        let via_proxy = branch("sip:bob@192.0.2.7", Some("sip:10.0.0.1"));
        assert_eq!(
            moved_to(
                &via_proxy,
                &branch("sip:carol@192.0.2.7", Some("sip:10.0.0.1"))
            ),
            Some("sip:10.0.0.1")
        );
        assert_eq!(
            moved_to(&via_proxy, &branch("sip:bob@192.0.2.7", None)),
            Some("sip:bob@192.0.2.7")
        );
    }

    #[test]
    fn only_a_branch_silent_until_its_timer_counts_as_timed_out() {
        let timeout = FinalReply::Local(408, "Request Timeout");
        assert!(timed_out_unanswered(0, Some(&timeout)));
        // a 100 or 180 came: the next hop is alive, its address is not retried
        assert!(!timed_out_unanswered(180, Some(&timeout)));
        assert!(!timed_out_unanswered(
            0,
            Some(&FinalReply::Local(503, "Service Unavailable"))
        ));
        assert!(!timed_out_unanswered(0, None));
    }

    #[test]
    fn a_failure_route_sees_the_best_failure_or_a_local_500() {
        let busy = SipMessage::parse(Bytes::from_static(
            b"SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-1\r\n\
              From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\n\
              CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        ))
        .unwrap();
        let received = FinalReply::Received(Box::new(busy));
        assert_eq!(
            failure_shown(Some((1, &received))),
            (486, "Busy Here".into(), Some(1), false)
        );
        let timeout = FinalReply::Local(408, "Request Timeout");
        assert_eq!(
            failure_shown(Some((0, &timeout))),
            (408, "Request Timeout".into(), Some(0), true)
        );
        assert_eq!(
            failure_shown(None),
            (500, "Server Internal Error".into(), None, true)
        );
    }
}
