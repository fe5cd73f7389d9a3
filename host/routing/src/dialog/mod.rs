//! The dialogs this router record-routed (a minimal Kamailio `dialog` module): for each of
//! its two sides, where the side's messages come from and where requests towards it may
//! go.
//!
//! A signed Record-Route proves that this router record-routed *some* request with that
//! Call-ID and From tag, and anybody who calls through the router gets one back. What
//! keeps a party of a dialog from using it to reach any other address is this table.
//! `loose_route` accepts an in-dialog request only from the address of the side its From
//! tag names, and the request may then be sent only to the other side:
//!
//! - A side whose dialog-forming message (the caller's request, the callee's reply) came
//!   from anyone but a trusted peer is reached only at the IP address that message came
//!   from, whatever URI the request names: `t_relay` checks the destination it resolved.
//!   Its Contact and Record-Route are what the side says, and a caller could name any
//!   host there; its packets' source is where it really is.
//! - A side that came through a trusted peer (`[router] trusted_peers`: a load balancer or
//!   SBC that may not record-route) is reached at the next hop it brought — that peer's
//!   Record-Route, else the UA's Contact, compared with the request's next hop — and its
//!   UA may send from its Contact's address too. A target refresh (a re-INVITE or UPDATE
//!   with a new Contact) moves it once answered 2xx.
//!
//! A dialog the router does not know (it never saw its 1xx or 2xx, it was restarted since,
//! or the table was full) is refused. A NOTIFY may come before the 2xx of its SUBSCRIBE
//! (RFC 6665 §4.1.2.4): it may go to the subscriber, and only there.

use crate::context::RouteContext;
use crate::services::NextHop;
use sipwasm_proto::{Method, SipMessage};
use std::net::IpAddr;

pub mod calls;
pub(crate) mod table;
pub use calls::{CallLimit, CallTicket, Calls};
pub use table::*;

impl RouteContext {
    /// `limit-calls`: count this initial INVITE as a call of `user` when the user has
    /// fewer than `concurrent` calls up or ringing and started fewer than `per_minute` in
    /// the last minute (0: no limit). Counted until the transaction layer settles it (see
    /// [`calls`]); limiting the same user twice in one event counts once.
    pub fn limit_calls(
        &mut self,
        user: &str,
        concurrent: u32,
        per_minute: u32,
    ) -> Result<(), CallLimit> {
        if !self.msg.is_request() || self.msg.method() != Method::Invite || self.has_totag() {
            return Err(CallLimit::NotACall);
        }
        if self.calls.iter().any(|t| t.user() == user) {
            return Ok(());
        }
        let ticket = self.config.calls.admit(
            user,
            self.msg.call_id(),
            concurrent,
            per_minute,
            self.now_unix,
        )?;
        self.calls.push(std::sync::Arc::new(ticket));
        Ok(())
    }

    /// Calls of `user` up or ringing (Kamailio's `get_profile_size`).
    pub fn calls_of(&self, user: &str) -> u32 {
        self.config.calls.active(user)
    }

    /// The final response `code` of this request's transaction went upstream: the calls
    /// it counts are released (non-2xx) or established (2xx, dated by the request: its
    /// transaction lives minutes, the answered call's longest life is 12 hours).
    pub fn settle_calls(&self, code: u16) {
        for t in &self.calls {
            t.settle(code, self.now_unix);
        }
    }
}

impl RouteContext {
    /// Set when `loose_route` checked this in-dialog request against its dialog: true
    /// when the caller sent it.
    pub fn dialog_side(&self) -> Option<bool> {
        self.dialog.map(|c| c.by_caller)
    }

    /// True when this request may be sent to `dst`: it is no in-dialog request checked
    /// against an untrusted side, or `dst` is where that side's messages came from (the
    /// one address `t_relay`, `forward` and every branch the proxy sends accept).
    pub fn may_reach(&self, dst: std::net::SocketAddr) -> bool {
        self.dialog
            .and_then(|c| c.reach)
            .is_none_or(|ip| ip == dst.ip())
    }

    /// Keep of `hops` (a target's addresses) those [`Self::may_reach`] accepts (a
    /// dual-stack name keeps its matching address); with none of them, leave `hops` as
    /// they are and return false.
    pub fn keep_reachable(&self, hops: &mut Vec<NextHop>) -> bool {
        if !hops.iter().any(|h| self.may_reach(h.addr)) {
            return false;
        }
        hops.retain(|h| self.may_reach(h.addr));
        true
    }

    /// The Contact URI of this message as it goes out: the nathelper functions' version
    /// when they changed it, else as received.
    pub fn contact_out(&self) -> Option<String> {
        if let Some(c) = &self.contact_out {
            return Some(c.clone());
        }
        let b = self.msg.as_bytes();
        self.msg
            .contacts()
            .first()
            .map(|c| String::from_utf8_lossy(c.uri.as_bytes(b)).into_owned())
    }

    /// The caller's side of the dialog this route's request forms: where the request came
    /// from, and the next hop it brought — the proxy closest to us among those that
    /// record-routed it before us, else its Contact as we forward it.
    fn caller_side(&self) -> PartyStart {
        let req = &self.msg;
        let rb = req.as_bytes();
        let source = self.source.src.ip();
        let (next, is_contact) = match req.record_routes().first() {
            Some(r) => (
                String::from_utf8_lossy(r.uri.as_bytes(rb)).into_owned(),
                false,
            ),
            None => (self.contact_out().unwrap_or_default(), true),
        };
        PartyStart {
            next,
            is_contact,
            source,
            trusted: self.config.is_trusted_peer(source),
        }
    }

    /// This route's request was relayed: a SUBSCRIBE or REFER this router record-routed
    /// lets its NOTIFYs reach the subscriber before its 2xx records the dialog.
    pub fn expect_notifies(&self) -> Result<(), StartError> {
        let req = &self.msg;
        if !matches!(req.method(), Method::Subscribe | Method::Refer)
            || self.record_route.is_none()
            || self.has_totag()
        {
            return Ok(());
        }
        let tag = req.from().tag(req.as_bytes()).unwrap_or_default();
        self.config
            .dialogs
            .expect_notify(req.call_id(), tag, &self.caller_side(), self.now_unix)
    }

    /// What a reply `reply` (with a To tag, received from `reply_source`) of this route's
    /// dialog-forming request starts: the dialog's identifiers and its two sides. `None`
    /// when the request was not record-routed by this router, or the reply has no To tag.
    pub fn dialog_start(&self, reply: &SipMessage, reply_source: IpAddr) -> Option<DialogStart> {
        let sig = self.record_route.as_ref()?.sig.as_bytes();
        let req = &self.msg;
        let rb = req.as_bytes();
        let b = reply.as_bytes();
        let callee_tag = reply.to().tag(b).filter(|t| !t.is_empty())?;
        let is_ours = |r: &sipwasm_proto::name_addr::NameAddr, text: &[u8]| {
            r.uri.param(text, b"sig").flatten() == Some(sig)
        };
        // towards the callee: the entry above ours in the reply's Record-Route, else its
        // Contact. Ours is found by its signature, from the bottom (below it are the
        // entries of the request, which a plugin may have removed; a request that
        // spirals back to this router carries the entries of its earlier passages,
        // skipped here; a double Record-Route has two)
        let rrs = reply.record_routes();
        let earlier = req
            .record_routes()
            .iter()
            .filter(|r| is_ours(r, rb))
            .count();
        let mut ours = rrs
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, r)| is_ours(r, b))
            .nth(earlier)
            .map(|(i, _)| i);
        if let Some(i) = ours
            && i > 0
            && rrs[i].uri.param(b, b"r2").is_some()
            && rrs[i - 1].uri.param(b, b"r2").is_some()
            && is_ours(&rrs[i - 1], b)
        {
            ours = Some(i - 1);
        }
        let (next, is_contact) = match ours {
            Some(i) if i > 0 => (
                String::from_utf8_lossy(rrs[i - 1].uri.as_bytes(b)).into_owned(),
                false,
            ),
            _ => (
                reply
                    .contacts()
                    .first()
                    .map(|c| String::from_utf8_lossy(c.uri.as_bytes(b)).into_owned())
                    .unwrap_or_default(),
                true,
            ),
        };
        let subscription = req.method() != Method::Invite;
        Some(DialogStart {
            call_id: req.call_id().to_vec(),
            caller_tag: req.from().tag(rb).unwrap_or_default().to_vec(),
            callee_tag: callee_tag.to_vec(),
            caller: self.caller_side(),
            callee: PartyStart {
                next,
                is_contact,
                source: reply_source,
                trusted: self.config.is_trusted_peer(reply_source),
            },
            subscription,
            lifetime: if subscription {
                subscription_lifetime(
                    expires_of(reply)
                        .or_else(|| expires_of(req))
                        .unwrap_or(SUBSCRIPTION_LIFETIME),
                )
            } else {
                CONFIRMED_LIFETIME
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn hop_keys() {
        assert_eq!(
            hop_key("sip:Bob@Example.COM;transport=TCP"),
            Some("sip:Bob@example.com:5060;alias=;maddr=;transport=tcp".into())
        );
        assert_eq!(
            hop_key("sip:bob@10.0.0.1:5070;alias=1.2.3.4~5~1"),
            Some("sip:bob@10.0.0.1:5070;alias=1.2.3.4~5~1;maddr=;transport=".into())
        );
        assert_ne!(
            hop_key("sip:bob@10.0.0.1:5070"),
            hop_key("sip:bob@10.0.0.1:5071")
        );
        // where a request goes: maddr and transport count
        assert_ne!(
            hop_key("sip:bob@10.0.0.1:5070"),
            hop_key("sip:bob@10.0.0.1:5070;maddr=192.0.2.66")
        );
        assert_ne!(
            hop_key("sip:bob@10.0.0.1:5070"),
            hop_key("sip:bob@10.0.0.1:5070;transport=tcp")
        );
        assert_eq!(hop_key("tel:+123"), None);
        assert_eq!(hop_key(&format!("sip:{}@h", "u".repeat(600))), None);
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A side: its next hop, whether that is its Contact, its source, whether trusted.
    type Side = (&'static str, bool, &'static str, bool);

    fn start(caller: Side, callee: Side) -> DialogStart {
        let party = |(next, is_contact, source, trusted): Side| PartyStart {
            next: next.into(),
            is_contact,
            source: ip(source),
            trusted,
        };
        DialogStart {
            call_id: b"c1".to_vec(),
            caller_tag: b"a".to_vec(),
            callee_tag: b"b".to_vec(),
            caller: party(caller),
            callee: party(callee),
            subscription: false,
            lifetime: CONFIRMED_LIFETIME,
        }
    }

    /// A table holding one dialog of `caller` and `callee`, started at 100 s.
    fn table(caller: Side, callee: Side, confirmed: bool) -> Dialogs {
        let d = Dialogs::default();
        d.start(&start(caller, callee), confirmed, 100).unwrap();
        d
    }

    fn request(method: &str, from_tag: &str, to_tag: &str, extra: &str) -> SipMessage {
        SipMessage::parse(bytes::Bytes::from(format!(
            "{method} sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
From: <sip:a@example.com>;tag={from_tag}\r\nTo: <sip:b@example.com>;tag={to_tag}\r\n\
Call-ID: c1\r\nCSeq: 2 {method}\r\n{extra}Content-Length: 0\r\n\r\n"
        )))
        .unwrap()
    }

    const ALICE: &str = "sip:alice@192.0.2.1:5060";
    const BOB: &str = "sip:bob@198.51.100.2:5060";
    const VICTIM: &str = "sip:x@203.0.113.66:5060";
    const ALICE_IP: &str = "192.0.2.1";
    const BOB_IP: &str = "198.51.100.2";

    fn reach(by_caller: bool, to: &str) -> Result<Checked, DialogError> {
        Ok(Checked {
            by_caller,
            reach: Some(ip(to)),
        })
    }

    #[test]
    fn each_side_sends_from_where_it_is_and_reaches_only_the_other() {
        let d = table(
            (ALICE, true, ALICE_IP, false),
            (BOB, true, BOB_IP, false),
            true,
        );
        let by_alice = request("BYE", "a", "b", "");
        let by_bob = request("BYE", "b", "a", "");
        // whatever URI it names: only bob's address is where alice's request may go
        assert_eq!(
            d.check(&by_alice, ip(ALICE_IP), Some(VICTIM), 101),
            reach(true, BOB_IP)
        );
        assert_eq!(
            d.check(&by_bob, ip(BOB_IP), Some(ALICE), 101),
            reach(false, ALICE_IP)
        );
        // alice claiming to be bob (tags swapped) to reach "the caller", or a third host
        for (msg, from) in [(&by_bob, ALICE_IP), (&by_alice, "203.0.113.9")] {
            assert_eq!(
                d.check(msg, ip(from), Some(ALICE), 101),
                Err(DialogError::NotFromParty(ip(from)))
            );
        }
        // a flow (no next hop to compare): still only from a party, only to the other
        assert_eq!(
            d.check(&by_bob, ip(BOB_IP), None, 101),
            reach(false, ALICE_IP)
        );
        assert!(d.check(&by_bob, ip("203.0.113.9"), None, 101).is_err());
    }

    #[test]
    fn what_a_caller_names_is_not_where_it_is() {
        // review N1: the caller's Contact (or its Record-Route) is the victim
        let d = table(
            (VICTIM, true, ALICE_IP, false),
            (BOB, true, BOB_IP, false),
            false,
        );
        let swapped = request("INVITE", "b", "a", "");
        assert!(d.check(&swapped, ip(ALICE_IP), Some(VICTIM), 101).is_err());
        // bob's requests go to alice where her packets came from, not to the victim
        assert_eq!(
            d.check(&swapped, ip(BOB_IP), Some(VICTIM), 101),
            reach(false, ALICE_IP)
        );
        // and a Contact's host does not make anybody a party
        assert!(
            d.check(&swapped, ip("203.0.113.66"), Some(VICTIM), 101)
                .is_err()
        );
    }

    #[test]
    fn behind_a_trusted_peer_the_next_hop_it_brought_counts() {
        // alice's INVITE came through a load balancer at 192.0.2.200 that did not
        // record-route: alice sends her in-dialog requests herself, and is reached at her
        // Contact
        let d = table(
            (ALICE, true, "192.0.2.200", true),
            (BOB, true, BOB_IP, false),
            true,
        );
        let by_alice = request("BYE", "a", "b", "");
        for from in [ALICE_IP, "192.0.2.200"] {
            assert_eq!(
                d.check(&by_alice, ip(from), Some(BOB), 101),
                reach(true, BOB_IP)
            );
        }
        let by_bob = request("BYE", "b", "a", "");
        assert_eq!(
            d.check(&by_bob, ip(BOB_IP), Some(ALICE), 101),
            Ok(Checked {
                by_caller: false,
                reach: None
            })
        );
        assert_eq!(
            d.check(&by_bob, ip(BOB_IP), Some(VICTIM), 101),
            Err(DialogError::ElsewhereThan(VICTIM.into()))
        );
        // without the trust, alice's own address is not hers
        let d = table(
            (ALICE, true, "192.0.2.200", false),
            (BOB, true, BOB_IP, false),
            true,
        );
        assert!(d.check(&by_alice, ip(ALICE_IP), Some(BOB), 101).is_err());
    }

    #[test]
    fn target_refreshes_move_trusted_contacts_not_proxies() {
        let proxy = "sip:198.51.100.50;lr";
        let d = table(
            (ALICE, true, "192.0.2.200", true),
            (proxy, false, "198.51.100.50", true),
            true,
        );
        let reinvite = request("INVITE", "a", "b", "");
        let moved = "sip:alice@192.0.2.7:5090";
        d.refresh_targets(&reinvite, true, Some(moved), Some("sip:bob@10.1.1.1"));
        let by_bob = request("BYE", "b", "a", "");
        let bob_from = ip("198.51.100.50");
        assert!(d.check(&by_bob, bob_from, Some(ALICE), 101).is_err());
        assert!(d.check(&by_bob, bob_from, Some(moved), 101).is_ok());
        // bob is behind the proxy: its target stays the proxy
        let by_alice = request("BYE", "a", "b", "");
        assert!(
            d.check(&by_alice, ip("192.0.2.7"), Some(proxy), 101)
                .is_ok()
        );
    }

    #[test]
    fn what_is_not_recorded_and_why() {
        let d = Dialogs::default();
        let mut long = start((ALICE, true, ALICE_IP, false), (BOB, true, BOB_IP, false));
        long.call_id = vec![b'c'; MAX_ID_LEN + 1];
        assert_eq!(d.start(&long, true, 100), Err(StartError::TooLong));
        // a trusted peer's next hop must be usable; anybody else's does not matter
        let tel = start(
            ("tel:+1555", true, ALICE_IP, true),
            (BOB, true, BOB_IP, false),
        );
        assert!(matches!(
            d.start(&tel, true, 100),
            Err(StartError::Unusable(_))
        ));
        assert_eq!(d.not_recorded(), 2);
        assert!(d.is_empty());
        let tel = start(
            ("tel:+1555", true, ALICE_IP, false),
            (BOB, true, BOB_IP, false),
        );
        assert_eq!(d.start(&tel, true, 100), Ok(()));
        assert!(d.log_now(100));
        assert!(!d.log_now(130));
        assert!(d.log_now(161));
    }

    #[test]
    fn a_full_table_makes_room_from_expired_dialogs_once_a_second() {
        let d = Dialogs::with_capacity(2, 10);
        let mut s = start((ALICE, true, ALICE_IP, false), (BOB, true, BOB_IP, false));
        for tag in ["b1", "b2"] {
            s.callee_tag = tag.into();
            d.start(&s, false, 100).unwrap();
        }
        s.callee_tag = b"b3".to_vec();
        assert_eq!(d.start(&s, false, 101), Err(StartError::Full(2)));
        // an update of a known dialog is no new one
        s.callee_tag = b"b1".to_vec();
        assert_eq!(d.start(&s, true, 101), Ok(()));
        // b2 expires; the sweep of that second is done, the next second's finds it gone
        s.callee_tag = b"b3".to_vec();
        let later = 100 + EARLY_LIFETIME;
        d.last_sweep.store(later, Ordering::Relaxed);
        assert_eq!(d.start(&s, false, later), Err(StartError::Full(2)));
        assert_eq!(d.start(&s, false, later + 1), Ok(()));
        assert_eq!(d.len(), 2);
        assert_eq!(d.not_recorded(), 2);
    }

    #[test]
    fn one_source_starts_so_many_dialogs_and_no_more() {
        let d = Dialogs::with_capacity(100, 2);
        let mut s = start((ALICE, true, ALICE_IP, false), (BOB, true, BOB_IP, false));
        for tag in ["b1", "b2"] {
            s.callee_tag = tag.into();
            d.start(&s, true, 100).unwrap();
        }
        s.callee_tag = b"b3".to_vec();
        assert_eq!(
            d.start(&s, true, 100),
            Err(StartError::SourceQuota(ip(ALICE_IP), 2))
        );
        // another source may; a trusted peer is not counted
        let mut other = start(
            (ALICE, true, "192.0.2.9", false),
            (BOB, true, BOB_IP, false),
        );
        other.callee_tag = b"b3".to_vec();
        assert_eq!(d.start(&other, true, 100), Ok(()));
        let mut peer = start((ALICE, true, ALICE_IP, true), (BOB, true, BOB_IP, false));
        peer.callee_tag = b"b4".to_vec();
        assert_eq!(d.start(&peer, true, 100), Ok(()));
        // a dialog that ends gives its place back at once (it stays a while for late
        // requests, uncounted), and its purge gives nothing back twice
        let bye = request("BYE", "a", "b1", "");
        d.check(&bye, ip(ALICE_IP), None, 101).unwrap();
        s.callee_tag = b"b6".to_vec();
        assert_eq!(d.start(&s, true, 102), Ok(()));
        // an ended dialog is not made to live longer: not by a request of it, not by a
        // late 2xx (it no longer counts against its source)
        let info = request("INFO", "a", "b1", "");
        d.check(&info, ip(ALICE_IP), None, 110).unwrap();
        let mut late = s.clone();
        late.callee_tag = b"b1".to_vec();
        d.start(&late, true, 111).unwrap();
        assert_eq!(
            d.check(&info, ip(ALICE_IP), None, 102 + ENDED_LIFETIME),
            Err(DialogError::Unknown)
        );
        d.purge(101 + ENDED_LIFETIME);
        s.callee_tag = b"b5".to_vec();
        assert_eq!(
            d.start(&s, true, 101 + ENDED_LIFETIME),
            Err(StartError::SourceQuota(ip(ALICE_IP), 2))
        );
    }

    #[test]
    fn a_notify_may_come_before_the_2xx_of_its_subscribe() {
        // RFC 6665 §4.1.2.4: only to the subscriber, only NOTIFY, only for a while
        let d = Dialogs::default();
        let subscriber = PartyStart {
            next: ALICE.into(),
            is_contact: true,
            source: ip(ALICE_IP),
            trusted: false,
        };
        d.expect_notify(b"c1", b"a", &subscriber, 100).unwrap();
        let notify = request("NOTIFY", "b", "a", "");
        let notifier = ip(BOB_IP);
        assert_eq!(
            d.check(&notify, notifier, Some(VICTIM), 101),
            reach(false, ALICE_IP)
        );
        let bye = request("BYE", "b", "a", "");
        assert_eq!(
            d.check(&bye, notifier, Some(ALICE), 101),
            Err(DialogError::Unknown)
        );
        assert_eq!(
            d.check(&notify, notifier, Some(ALICE), 100 + PENDING_LIFETIME),
            Err(DialogError::Unknown)
        );
        d.purge(100 + PENDING_LIFETIME);
        assert_eq!(
            d.check(&notify, notifier, Some(ALICE), 101),
            Err(DialogError::Unknown),
            "purged"
        );
        // behind a trusted peer: to its next hop only
        let trusted = PartyStart {
            trusted: true,
            ..subscriber
        };
        d.expect_notify(b"c1", b"a", &trusted, 200).unwrap();
        assert!(d.check(&notify, notifier, Some(ALICE), 201).is_ok());
        assert!(d.check(&notify, notifier, Some(VICTIM), 201).is_err());
    }

    #[test]
    fn early_dialogs_end_with_a_failure_confirmed_ones_do_not() {
        let d = table(
            (ALICE, true, ALICE_IP, false),
            (BOB, true, BOB_IP, false),
            false,
        );
        d.fail(b"c1", b"a", b"b");
        assert!(d.is_empty());
        let s = start((ALICE, true, ALICE_IP, false), (BOB, true, BOB_IP, false));
        d.start(&s, true, 100).unwrap();
        assert!(d.is_confirmed(b"c1", b"b", b"a"));
        d.fail(b"c1", b"a", b"b");
        assert_eq!(d.len(), 1);
        // a BYE leaves it for its retransmissions only
        let by_alice = request("BYE", "a", "b", "");
        d.check(&by_alice, ip(ALICE_IP), Some(BOB), 200).unwrap();
        assert_eq!(d.purge(200 + ENDED_LIFETIME), 1);
    }

    #[test]
    fn subscriptions_live_as_long_as_they_say() {
        let d = Dialogs::default();
        let mut s = start((ALICE, true, ALICE_IP, false), (BOB, true, BOB_IP, false));
        s.subscription = true;
        s.lifetime = subscription_lifetime(600);
        d.start(&s, true, 100).unwrap();
        assert_eq!(d.purge(100 + 600 + ENDED_LIFETIME), 1, "expired");
        d.start(&s, true, 100).unwrap();
        // a refresh for an hour keeps it
        let refresh = request("SUBSCRIBE", "a", "b", "Expires: 3600\r\n");
        d.check(&refresh, ip(ALICE_IP), Some(BOB), 200).unwrap();
        assert_eq!(d.purge(100 + 600 + ENDED_LIFETIME), 0);
        // the notifier ends it
        let last = request(
            "NOTIFY",
            "b",
            "a",
            "Subscription-State: terminated;reason=timeout\r\n",
        );
        d.check(&last, ip(BOB_IP), Some(ALICE), 300).unwrap();
        assert_eq!(d.purge(300 + ENDED_LIFETIME), 1);
        // inside a call (REFER's NOTIFY) the call goes on
        let call = start((ALICE, true, ALICE_IP, false), (BOB, true, BOB_IP, false));
        d.start(&call, true, 100).unwrap();
        d.check(&last, ip(BOB_IP), Some(ALICE), 300).unwrap();
        assert_eq!(d.purge(300 + ENDED_LIFETIME), 0);
    }
}
