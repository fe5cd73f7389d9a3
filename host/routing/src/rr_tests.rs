//! The request a proxy sends on (RFC 3261 §16.6), Record-Route and loose routing
//! (§16.4, §16.12) with signed Record-Route URIs, flow tokens (RFC 5626 §5.3),
//! `force_rport` and advertised addresses, Max-Forwards.

use crate::context::RouteContext;

use crate::env::Source;
use crate::maxfwd::MaxFwd;
use crate::proxy_tests::{TCP, UDP, cfg, ctx_at, ctx_from, forwarded, forwarded_udp, hop, invite};
use crate::rr::{Flow, Routed, RrError};
use crate::tm::TmError;
use bytes::Bytes;
use sipwasm_proto::{SipMessage, Transport};

#[test]
fn the_forwarded_request_follows_16_6() {
    let mut c = ctx_from(&invite(""));
    c.hdr_append("X-Added: 1").unwrap();
    c.record_route("").unwrap();
    let out = forwarded_udp(&c, "sip:bob@10.0.0.9:5080", "10.0.0.9:5080");
    let b = out.as_bytes();
    assert_eq!(
        out.request_uri().unwrap().as_bytes(b),
        b"sip:bob@10.0.0.9:5080"
    );
    assert_eq!(out.max_forwards(), Some(69));
    assert_eq!(out.vias().len(), 2);
    assert_eq!(out.top_via().branch(b), Some(&b"z9hG4bKsw.1.2.0"[..]));
    assert_eq!(out.top_via().host(b), b"10.0.0.1");
    let theirs = &out.vias()[1];
    assert_eq!(theirs.rport, Some(Some(40000)), "rport filled in");
    assert_eq!(theirs.received.map(|r| r.of(b)), Some(&b"192.0.2.1"[..]));
    assert_eq!(out.record_routes().len(), 1);
    let sig = c.rr_signature("");
    assert_eq!(
        out.header(b"Record-Route").unwrap(),
        format!("<sip:10.0.0.1:5060;lr;sig={sig}>").as_bytes()
    );
    assert_eq!(out.header(b"X-Added"), Some(&b"1"[..]));
    assert_eq!(out.body(), b"hi");
}

#[test]
fn a_uri_s_headers_never_go_into_the_request_uri() {
    // found by fuzzing: `$ru` (or a registered Contact) with `?Subject=...` made a request
    // the next hop (and our own parser) rejects
    let c = ctx_from(&invite(""));
    for (target, ruri) in [
        (
            "sip:bob@10.0.0.9:5080?Subject=hi&X=1",
            "sip:bob@10.0.0.9:5080",
        ),
        ("sip:b?ob@10.0.0.9;lr?h=1", "sip:b?ob@10.0.0.9;lr"),
        ("sip:b?ob@10.0.0.9", "sip:b?ob@10.0.0.9"),
    ] {
        let out = forwarded_udp(&c, target, "10.0.0.9:5080");
        assert_eq!(
            out.request_uri().unwrap().as_bytes(out.as_bytes()),
            ruri.as_bytes()
        );
    }
}

#[test]
fn double_record_route_when_the_socket_changes_and_content_length_for_tcp() {
    let mut c = ctx_from(&invite("").replace("Content-Length: 2\r\n\r\nhi", "\r\n"));
    c.record_route("ftag=a").unwrap();
    let out = forwarded(
        &c,
        "sip:bob@10.0.0.9",
        hop("10.0.0.9:5060", Transport::Tcp),
        TCP,
        Transport::Tcp,
    );
    let rr: Vec<&[u8]> = out.headers_named(b"Record-Route").collect();
    let sig = c.rr_signature("");
    assert_eq!(
        rr,
        [
            format!("<sip:10.0.0.1:5061;transport=tcp;r2=on;lr;ftag=a;sig={sig}>").as_bytes(),
            format!("<sip:10.0.0.1:5060;r2=on;lr;ftag=a;sig={sig}>").as_bytes()
        ]
    );
    assert_eq!(out.content_length(), Some(0));
    assert_eq!(out.top_via().transport(out.as_bytes()), b"TCP");
}

#[test]
fn force_rport_and_advertised_address() {
    let plain = invite("").replace(";rport\r\n", "\r\n");
    let mut c = ctx_from(&plain);
    c.force_rport();
    c.set_advertised_address("203.0.113.7").unwrap();
    c.set_advertised_port(5999);
    c.record_route("").unwrap();
    let out = forwarded_udp(&c, "sip:bob@10.0.0.9", "10.0.0.9:5060");
    let b = out.as_bytes();
    assert_eq!(out.top_via().host(b), b"203.0.113.7");
    assert_eq!(out.top_via().port, Some(5999));
    let theirs = &out.vias()[1];
    assert_eq!(theirs.rport, Some(Some(40000)), "rport forced");
    assert!(
        out.header(b"Record-Route")
            .unwrap()
            .starts_with(b"<sip:203.0.113.7:5999;lr"),
        "a single Record-Route names the advertised address"
    );
    // replies go to the source port, with rport filled in
    c.send_reply(486, "Busy Here").unwrap();
    let r = c.take_outbound().pop().unwrap();
    assert_eq!(r.dest, "192.0.2.1:40000".parse().unwrap());
    let m = SipMessage::parse(r.data).unwrap();
    assert_eq!(m.top_via().rport, Some(Some(40000)));
    // without force_rport, a Via without rport is answered at its sent-by port
    let mut c = ctx_from(&plain);
    c.send_reply(486, "Busy Here").unwrap();
    assert_eq!(c.take_outbound()[0].dest.port(), 5070);
    assert!(c.set_advertised_address("bad host!").is_err());
}

#[test]
fn max_forwards() {
    let mut c = ctx_from(&invite(""));
    assert_eq!(c.process_maxfwd(10), Ok(MaxFwd::Decremented));
    let out = forwarded_udp(&c, "sip:bob@10.0.0.9", "10.0.0.9:5060");
    assert_eq!(
        out.max_forwards(),
        Some(9),
        "capped at the limit, then decremented"
    );
    let mut c = ctx_from(&invite("").replace("Max-Forwards: 70\r\n", ""));
    assert_eq!(c.process_maxfwd(10), Ok(MaxFwd::Added));
    let out = forwarded_udp(&c, "sip:bob@10.0.0.9", "10.0.0.9:5060");
    assert_eq!(out.max_forwards(), Some(10));
    let mut c = ctx_from(&invite("").replace("Max-Forwards: 70", "Max-Forwards: 0"));
    assert_eq!(c.process_maxfwd(10), Ok(MaxFwd::Exhausted));
    assert_eq!(c.t_relay(Some("sip:10.0.0.9")), Err(TmError::TooManyHops));
    assert_eq!(c.forward(Some("sip:10.0.0.9")), Err(TmError::TooManyHops));
}

/// The Record-Route headers this router puts into `request` when it goes out on `local`.
fn our_record_route(request: &str, local: &str, lt: Transport) -> Vec<String> {
    let mut c = ctx_from(request);
    c.record_route("").unwrap();
    let out = forwarded(&c, "sip:bob@10.0.0.9", hop("10.0.0.9:5060", lt), local, lt);
    out.headers_named(b"Record-Route")
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect()
}

/// `invite` as an in-dialog `method`: To tag `b` (From tag `a`), Route `routes`, sent to
/// `ruri`.
fn in_dialog(method: &str, routes: &str, ruri: &str) -> String {
    let extra = if routes.is_empty() {
        String::new()
    } else {
        format!("Route: {routes}\r\n")
    };
    invite(&extra)
        .replace(
            "To: <sip:bob@biloxi.example.com>",
            "To: <sip:bob@biloxi.example.com>;tag=b",
        )
        .replacen(
            "INVITE sip:bob@biloxi.example.com",
            &format!("{method} {ruri}"),
            1,
        )
        .replace("CSeq: 1 INVITE", &format!("CSeq: 2 {method}"))
}

/// `in_dialog` sent by the callee: From and To (and their tags) swapped.
fn from_callee(method: &str, routes: &str, ruri: &str) -> String {
    in_dialog(method, routes, ruri)
        .replace(
            "From: <sip:alice@atlanta.example.com>;tag=a",
            "From: <sip:bob@biloxi.example.com>;tag=X",
        )
        .replace(
            "To: <sip:bob@biloxi.example.com>;tag=b",
            "To: <sip:alice@atlanta.example.com>;tag=a",
        )
        .replace(";tag=X", ";tag=b")
}

/// The contact alice's INVITEs carry in these tests.
const ALICE: &str = "sip:alice@192.0.2.1:40000";

/// A dialog through this router, as the proxy records it: alice's INVITE (Call-ID
/// `call_id`, Contact [`ALICE`], or `over` as its context) record-routed by us and
/// leaving from `local`, answered 200 by bob at `bob_contact`, with `downstream` the
/// Record-Route entry of a proxy after us. Returns our Record-Route entries as sent.
fn dialog_with(
    mut c: RouteContext,
    local: &str,
    lt: Transport,
    downstream: Option<&str>,
    bob_contact: &str,
) -> Vec<String> {
    c.record_route("").unwrap();
    let out = forwarded(&c, "sip:bob@10.0.0.9", hop("10.0.0.9:5060", lt), local, lt);
    let ours: Vec<String> = out
        .headers_named(b"Record-Route")
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    let mut all: Vec<String> = downstream.iter().map(|d| d.to_string()).collect();
    all.extend(ours.iter().cloned());
    let call_id = String::from_utf8_lossy(c.msg().call_id()).into_owned();
    let reply = format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP alice.example.com:5070;branch=z9hG4bKa1\r\n\
Record-Route: {}\r\nFrom: <sip:alice@atlanta.example.com>;tag=a\r\n\
To: <sip:bob@biloxi.example.com>;tag=b\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
Contact: <{bob_contact}>\r\nContent-Length: 0\r\n\r\n",
        all.join(", ")
    );
    let reply = SipMessage::parse(Bytes::from(reply)).unwrap();
    let start = c
        .dialog_start(&reply, BOB_IP.parse().unwrap())
        .expect("a dialog starts");
    c.config()
        .dialogs
        .start(&start, true, 1_000_000)
        .expect("recorded");
    ours
}

/// Where bob's replies and requests come from in these tests.
const BOB_IP: &str = "10.0.0.9";

/// A context for `text` received over UDP from bob.
fn at_bob(text: &str) -> RouteContext {
    ctx_at(text, &format!("{BOB_IP}:5080"))
}

/// [`dialog_with`] for alice's INVITE over UDP.
fn dialog(
    call_id: &str,
    local: &str,
    lt: Transport,
    downstream: Option<&str>,
    bob: &str,
) -> Vec<String> {
    let inv = invite(&format!("Contact: <{ALICE}>\r\n"))
        .replace("Call-ID: c1", &format!("Call-ID: {call_id}"));
    dialog_with(ctx_from(&inv), local, lt, downstream, bob)
}

/// `in_dialog` in dialog `call_id`.
fn in_dialog_of(call_id: &str, method: &str, routes: &str, ruri: &str) -> String {
    in_dialog(method, routes, ruri).replace("Call-ID: c1", &format!("Call-ID: {call_id}"))
}

/// `from_callee` in dialog `call_id`.
fn from_callee_of(call_id: &str, method: &str, routes: &str, ruri: &str) -> String {
    from_callee(method, routes, ruri).replace("Call-ID: c1", &format!("Call-ID: {call_id}"))
}

#[test]
fn loose_routing_follows_our_signed_record_route() {
    // the Record-Route of the dialog-forming INVITE opens the dialog's in-dialog requests
    let bob = "sip:bob@10.0.0.9:5080";
    let rr = dialog(
        "d-loose",
        UDP,
        Transport::Udp,
        Some("<sip:p2.example.com;lr>"),
        bob,
    )
    .remove(0);
    let bye = in_dialog_of(
        "d-loose",
        "BYE",
        &format!("{rr}, <sip:p2.example.com;lr>\r\nRoute: <sip:p3.example.com;lr>"),
        bob,
    );
    let mut c = ctx_from(&bye);
    assert_eq!(c.loose_route(), Ok(Routed::RouteSet));
    assert_eq!(c.dst_uri(), Some("sip:p2.example.com;lr"));
    assert_eq!(c.dialog_side(), Some(true), "the caller sent it");
    let out = forwarded_udp(&c, bob, "10.0.0.9:5060");
    let routes: Vec<&[u8]> = out.headers_named(b"Route").collect();
    assert_eq!(
        routes,
        [&b"<sip:p2.example.com;lr>"[..], b"<sip:p3.example.com;lr>"]
    );
    // from the callee: From and To tags swapped, the signature still holds, and the
    // target is alice's Contact
    let mut c = at_bob(&from_callee_of("d-loose", "BYE", &rr, ALICE));
    assert_eq!(c.loose_route(), Ok(Routed::RouteSet));
    assert_eq!(
        c.dst_uri(),
        None,
        "the end of the route set: the Request-URI is the target"
    );
    assert_eq!(c.dialog_side(), Some(false));
    // both entries of a double Record-Route are ours and removed
    let rr2 = dialog("d-double", TCP, Transport::Tcp, None, bob);
    assert_eq!(rr2.len(), 2);
    let mut c = ctx_from(&in_dialog_of(
        "d-double",
        "BYE",
        &format!("{}, {}", rr2[0], rr2[1]),
        bob,
    ));
    assert_eq!(c.loose_route(), Ok(Routed::RouteSet));
    let out = forwarded_udp(&c, bob, "10.0.0.9:5060");
    assert_eq!(out.routes().len(), 0);
    assert!(out.header(b"Route").is_none());
    // the two entries in two header lines
    let mut c = ctx_from(&in_dialog_of(
        "d-double",
        "BYE",
        &format!("{}\r\nRoute: {}", rr2[0], rr2[1]),
        bob,
    ));
    assert_eq!(c.loose_route(), Ok(Routed::RouteSet));
    // no Route: nothing to do
    let mut c = ctx_from(&in_dialog("BYE", "", "sip:bob@10.0.0.9"));
    assert_eq!(c.loose_route(), Ok(Routed::NoRoute));
}

/// What the example plugin does with an in-dialog request — `loose_route`, the alias of
/// the Request-URI when no Route said where, `t_relay` — and whether it was refused
/// (403), whatever step refused it.
fn refused(mut c: RouteContext) -> bool {
    match c.loose_route() {
        Err(RrError::Forbidden(_)) => {
            assert!(c.t_relay(None).is_err(), "refused, yet relayed");
            return true;
        }
        Err(e) => panic!("{e}"),
        Ok(_) => {}
    }
    if c.dst_uri().is_none() {
        let _ = c.handle_ruri_alias();
    }
    let relayed = c.t_relay(None).is_ok();
    assert_eq!(relayed, !c.is_refused(), "not relayed for another reason");
    !relayed
}

#[test]
fn a_party_cannot_take_its_dialog_elsewhere() {
    // a caller who got our signed Record-Route back (anybody who calls through the
    // router does) sends "in-dialog" requests elsewhere: refused
    let bob = "sip:bob@10.0.0.9:5080";
    let victim = "sip:victim@127.0.0.1:5999";
    let rr = dialog("d-replay", UDP, Transport::Udp, None, bob).remove(0);
    for (what, text) in [
        (
            "another Request-URI",
            in_dialog_of("d-replay", "INVITE", &rr, victim),
        ),
        (
            "a Route after ours",
            in_dialog_of("d-replay", "INVITE", &format!("{rr}, <{victim};lr>"), bob),
        ),
        (
            "an alias in the Request-URI",
            in_dialog_of(
                "d-replay",
                "INVITE",
                &rr,
                "sip:bob@10.0.0.9:5080;alias=127.0.0.1~5999~1",
            ),
        ),
        (
            "a To tag of no dialog",
            in_dialog_of("d-replay", "BYE", &rr, bob).replace(";tag=b", ";tag=zz"),
        ),
        (
            "bob's target with a maddr",
            in_dialog_of(
                "d-replay",
                "BYE",
                &rr,
                "sip:bob@10.0.0.9:5080;maddr=127.0.0.1",
            ),
        ),
        (
            "alice with the tags swapped, to her own Contact",
            from_callee_of("d-replay", "BYE", &rr, ALICE),
        ),
        (
            "our Record-Route with `received` appended (not covered by its signature)",
            in_dialog_of(
                "d-replay",
                "BYE",
                &rr.replace(";sig=", ";received=sip:127.0.0.1:5999;sig="),
                bob,
            ),
        ),
    ] {
        assert!(refused(ctx_from(&text)), "{what}");
    }
    // bob may not send elsewhere than to alice either
    assert!(refused(at_bob(&from_callee_of(
        "d-replay", "BYE", &rr, victim
    ))));
    // each goes where the other is, whatever the transport or port its URI names
    for target in [bob, "sip:bob@10.0.0.9:5080;transport=tcp"] {
        assert!(!refused(ctx_from(&in_dialog_of(
            "d-replay", "INVITE", &rr, target
        ))));
    }
    assert!(!refused(at_bob(&from_callee_of(
        "d-replay", "BYE", &rr, ALICE
    ))));
    // a phone that moved to another address is not reached there (its peer's requests
    // follow its packets' source): what it writes in a Contact names no address
    assert!(refused(ctx_from(&in_dialog_of(
        "d-replay",
        "BYE",
        &rr,
        "sip:bob@10.0.0.10:5090",
    ))));
}

#[test]
fn of_a_dialog_request_s_destinations_only_the_other_side_is_kept() {
    // a branch set in a dialog: the branch to bob goes, the one to a victim is dropped
    // (as an address of a dual-stack name that is not the side's would be); with no
    // destination of the side left, the request is refused
    let bob = "sip:bob@10.0.0.9:5080";
    let victim = "sip:victim@127.0.0.1:5999";
    let rr = dialog("d-keep", UDP, Transport::Udp, None, bob).remove(0);
    let mut c = ctx_from(&in_dialog_of("d-keep", "INVITE", &rr, bob));
    c.loose_route().unwrap();
    assert!(!c.may_reach(victim_addr()) && c.may_reach("10.0.0.9:7000".parse().unwrap()));
    c.append_branch(Some(victim)).unwrap();
    c.t_relay(None).unwrap();
    let hops: Vec<_> = c
        .take_intents()
        .into_iter()
        .flat_map(|i| match i {
            crate::tm::TmIntent::Relay(plans) => plans,
            _ => Vec::new(),
        })
        .flat_map(|p| p.hops)
        .map(|h| h.addr.to_string())
        .collect();
    assert_eq!(hops, ["10.0.0.9:5080"]);
    assert!(!c.is_refused());
    let mut c = ctx_from(&in_dialog_of("d-keep", "INVITE", &rr, bob));
    c.loose_route().unwrap();
    c.pv_set(&crate::pv::PvSpec::parse("$du").unwrap(), victim.into())
        .unwrap();
    assert!(c.t_relay(None).is_err() && c.is_refused());
    assert!(c.forward(Some(victim)).is_err());
}

fn victim_addr() -> std::net::SocketAddr {
    "127.0.0.1:5999".parse().unwrap()
}

#[test]
fn a_caller_cannot_swap_the_tags_to_reach_what_it_named() {
    // review N1: the caller's Contact is the victim; with the From and To tags swapped,
    // its requests would claim to be bob's and go "to the caller"
    let bob = "sip:bob@10.0.0.9:5080";
    let victim = "sip:x@203.0.113.66:5060";
    let inv = invite(&format!("Contact: <{victim}>\r\n")).replace("Call-ID: c1", "Call-ID: d-swap");
    let rr = dialog_with(ctx_from(&inv), UDP, Transport::Udp, None, bob).remove(0);
    assert!(refused(ctx_from(&from_callee_of(
        "d-swap", "INVITE", &rr, victim
    ))));
    // bob's own requests go to alice where her packets come from, not to the victim
    assert!(refused(at_bob(&from_callee_of(
        "d-swap", "BYE", &rr, victim
    ))));
    let alice_there = "sip:alice@192.0.2.1:40000";
    assert!(!refused(at_bob(&from_callee_of(
        "d-swap",
        "BYE",
        &rr,
        alice_there
    ))));
    // the same with the victim as a "proxy" in alice's Record-Route
    let inv = invite(&format!(
        "Contact: <{ALICE}>\r\nRecord-Route: <sip:203.0.113.66;lr>\r\n"
    ))
    .replace("Call-ID: c1", "Call-ID: d-swap-rr");
    let rr = dialog_with(ctx_from(&inv), UDP, Transport::Udp, None, bob).remove(0);
    let routes = format!("{rr}, <sip:203.0.113.66;lr>");
    assert!(refused(ctx_from(&from_callee_of(
        "d-swap-rr",
        "INVITE",
        &routes,
        ALICE
    ))));
    assert!(
        refused(at_bob(&from_callee_of("d-swap-rr", "BYE", &routes, ALICE))),
        "not even bob's requests follow it"
    );
    assert!(!refused(at_bob(&from_callee_of(
        "d-swap-rr",
        "BYE",
        &rr,
        ALICE
    ))));
}

#[test]
fn behind_a_trusted_peer_the_contacts_and_their_refreshes_count() {
    // alice's INVITE comes through a load balancer that does not record-route, one of
    // `[router] trusted_peers` (198.18.0.0/15 in these tests): alice sends her in-dialog
    // requests herself and is reached at her Contact, which a target refresh moves
    let bob = "sip:bob@10.0.0.9:5080";
    let inv = invite(&format!("Contact: <{ALICE}>\r\n")).replace("Call-ID: c1", "Call-ID: d-lb");
    let rr = dialog_with(
        ctx_at(&inv, "198.18.0.1:5060"),
        UDP,
        Transport::Udp,
        None,
        bob,
    )
    .remove(0);
    assert!(!refused(ctx_from(&in_dialog_of("d-lb", "BYE", &rr, bob))));
    assert!(!refused(at_bob(&from_callee_of(
        "d-lb", "INFO", &rr, ALICE
    ))));
    assert!(refused(at_bob(&from_callee_of(
        "d-lb",
        "INFO",
        &rr,
        "sip:alice@192.0.2.1:40001"
    ))));
    // alice moves; once bob accepted (2xx), she is there and sends from there
    let mut c = ctx_from(&in_dialog_of("d-lb", "INVITE", &rr, bob));
    c.loose_route().unwrap();
    let moved = "sip:alice@192.0.2.7:5090";
    let msg = c.msg().clone();
    c.config()
        .dialogs
        .refresh_targets(&msg, true, Some(moved), None);
    assert!(refused(at_bob(&from_callee_of("d-lb", "INFO", &rr, ALICE))));
    assert!(!refused(at_bob(&from_callee_of(
        "d-lb", "INFO", &rr, moved
    ))));
    assert!(!refused(ctx_at(
        &in_dialog_of("d-lb", "INFO", &rr, bob),
        "192.0.2.7:5090"
    )));
}

#[test]
fn forged_in_dialog_requests_are_refused() {
    let victim = "sip:victim@127.0.0.1:5999";
    let rr = our_record_route(&invite(""), UDP, Transport::Udp).remove(0);
    let token = Flow {
        transport: Transport::Udp,
        local: Some(UDP.parse().unwrap()),
        peer: "127.0.0.1:5999".parse().unwrap(),
    }
    .token();
    for (what, routes) in [
        (
            "a Route to us without signature",
            "<sip:10.0.0.1:5060;lr>".to_string(),
        ),
        ("an alias of ours", "<sip:proxy.example.com;lr>".to_string()),
        (
            "a Route straight to another host",
            "<sip:127.0.0.1:5999;lr>".to_string(),
        ),
        (
            "a bad signature",
            "<sip:10.0.0.1:5060;lr;sig=0123456789abcdef>".to_string(),
        ),
        (
            "a forged flow token",
            format!("<sip:{token}@10.0.0.1:5060;lr;ob>"),
        ),
        (
            "our Route after another",
            format!("<sip:p9.example.com;lr>, {rr}"),
        ),
    ] {
        for method in ["INVITE", "BYE", "MESSAGE"] {
            let mut c = ctx_from(&in_dialog(method, &routes, victim));
            assert!(
                matches!(c.loose_route(), Err(RrError::Forbidden(_))),
                "{what}, {method}"
            );
            let reply = SipMessage::parse(c.take_outbound().pop().expect("a 403").data).unwrap();
            assert_eq!(reply.status(), Some(403), "{what}");
            assert!(c.is_refused());
            assert!(
                c.t_relay(None).is_err(),
                "{what}: no relay after the refusal"
            );
            assert!(c.forward(None).is_err(), "{what}: no forward either");
            c.send_reply(404, "Not here").unwrap();
            assert!(c.take_outbound().is_empty(), "the 403 was the final answer");
        }
    }
    // our signed Record-Route, but of another dialog (another Call-ID)
    let mut c = ctx_from(&in_dialog("BYE", &rr, victim).replace("Call-ID: c1", "Call-ID: c2"));
    assert!(matches!(c.loose_route(), Err(RrError::Forbidden(_))));
    // the same with the tags of another dialog
    let mut c = ctx_from(
        &in_dialog("BYE", &rr, victim)
            .replace(";tag=a", ";tag=x")
            .replace(";tag=b", ";tag=y"),
    );
    assert!(matches!(c.loose_route(), Err(RrError::Forbidden(_))));
    // a strict-routing style Request-URI naming the router does not make its Route a
    // target: only our own signed Record-Route URI in the Request-URI does
    for ruri in ["sip:10.0.0.1:5060", "sip:proxy.example.com"] {
        let mut c = ctx_from(&in_dialog("INVITE", &format!("<{victim}>"), ruri));
        assert!(
            matches!(c.loose_route(), Err(RrError::Forbidden(_))),
            "{ruri}"
        );
    }
}

#[test]
fn initial_requests_and_preloaded_routes() {
    // the case: a phone's outbound proxy as Route, the Request-URI an alias
    // domain: the Route goes, the Request-URI stays (no self-loop)
    let mut c = ctx_from(
        &invite("Route: <sip:10.0.0.1:5060;transport=udp;lr>\r\n").replace(
            "INVITE sip:bob@biloxi.example.com",
            "INVITE sip:bob@proxy.example.com",
        ),
    );
    assert_eq!(c.loose_route(), Ok(Routed::Preloaded));
    assert_eq!(
        c.current_ruri().as_deref(),
        Some("sip:bob@proxy.example.com")
    );
    assert_eq!(c.dst_uri(), None);
    let out = forwarded_udp(&c, "sip:bob@10.0.0.9", "10.0.0.9:5060");
    assert!(out.header(b"Route").is_none());
    // an initial request with a foreign preloaded route follows it (RFC 3261): a route
    // checks who sends it first (the examples drop Route headers of initial requests)
    let mut c = ctx_from(&invite(
        "Route: <sip:proxy.example.com;lr>, <sip:p2.example.com;lr>\r\n",
    ));
    assert_eq!(c.loose_route(), Ok(Routed::RouteSet));
    assert_eq!(c.dst_uri(), Some("sip:p2.example.com;lr"));
    // a preloaded Route of ours with a received or flow token we did not sign is refused
    let mut c = ctx_from(&invite(
        "Route: <sip:10.0.0.1:5060;lr;received=sip:127.0.0.1:5999>\r\n",
    ));
    assert!(matches!(c.loose_route(), Err(RrError::Forbidden(_))));
}

#[test]
fn strict_router_before_us() {
    // our Record-Route URI as the Request-URI: the last Route is the real target (§16.4)
    let bob = "sip:bob@10.0.0.9:5080";
    let rr = dialog(
        "d-strict",
        UDP,
        Transport::Udp,
        Some("<sip:p2.example.com;lr>"),
        bob,
    )
    .remove(0);
    let uri = rr.trim_start_matches('<').trim_end_matches('>').to_string();
    let mut c = ctx_from(&in_dialog_of(
        "d-strict",
        "BYE",
        &format!("<sip:p2.example.com;lr>, <{bob}>"),
        &uri,
    ));
    assert_eq!(c.loose_route(), Ok(Routed::RouteSet));
    assert_eq!(c.current_ruri().as_deref(), Some(bob));
    assert_eq!(c.dst_uri(), Some("sip:p2.example.com;lr"));
    let out = forwarded_udp(&c, bob, "10.0.0.9:5060");
    let routes: Vec<&[u8]> = out.headers_named(b"Route").collect();
    assert_eq!(routes, [&b"<sip:p2.example.com;lr>"[..]]);
    // a strict next hop gets the request as its Request-URI, ours goes last into the
    // Route set (§16.6 step 6)
    let rr = dialog(
        "d-strict2",
        UDP,
        Transport::Udp,
        Some("<sip:strict.example.com>"),
        bob,
    )
    .remove(0);
    let mut c = ctx_from(&in_dialog_of(
        "d-strict2",
        "BYE",
        &format!("{rr}, <sip:strict.example.com>"),
        bob,
    ));
    assert_eq!(c.loose_route(), Ok(Routed::RouteSet));
    assert_eq!(c.current_ruri().as_deref(), Some("sip:strict.example.com"));
    let out = forwarded_udp(&c, "sip:strict.example.com", "10.0.0.9:5060");
    let routes: Vec<&[u8]> = out.headers_named(b"Route").collect();
    assert_eq!(routes, [format!("<{bob}>").as_bytes()]);
}

/// A context for `text` received over TCP from `src`.
fn over_tcp(text: &str, src: &str) -> RouteContext {
    let msg = SipMessage::parse_slice(text.as_bytes()).unwrap();
    RouteContext::new(
        cfg(),
        msg,
        Source {
            transport: Transport::Tcp,
            src: src.parse().unwrap(),
            local: TCP.parse().unwrap(),
            conn: Some(7),
        },
        1_000_000,
    )
}

#[test]
fn flow_tokens_route_in_dialog_requests_back_over_the_flow() {
    // alice uses outbound (Contact with ob) and sends the INVITE straight to us over TCP
    let inv = invite("Contact: <sip:alice@192.168.1.5:5060;transport=tcp;ob>\r\n");
    let rr = dialog_with(
        over_tcp(&inv, "198.51.100.7:41000"),
        TCP,
        Transport::Tcp,
        None,
        "sip:bob@10.0.0.9",
    )
    .remove(0);
    assert!(rr.contains(";ob;"), "{rr}");
    // bob's BYE (from elsewhere) goes to alice's connection, not to her private Contact
    let bye = from_callee("BYE", &rr, "sip:alice@192.168.1.5:5060;transport=tcp;ob");
    let mut c = at_bob(&bye);
    assert_eq!(c.loose_route(), Ok(Routed::Flow));
    assert_eq!(c.dst_uri(), Some("sip:198.51.100.7:41000;transport=tcp"));
    let b = c.main_branch();
    assert!(b.no_connect, "a NATed UA is never connected to");
    assert_eq!(b.socket.map(|l| l.addr), Some(TCP.parse().unwrap()));
    // alice's own BYE over her flow is routed as usual (towards bob)
    let mut c = over_tcp(
        &in_dialog("BYE", &rr, "sip:bob@10.0.0.9"),
        "198.51.100.7:41000",
    );
    assert_eq!(c.loose_route(), Ok(Routed::RouteSet));
    assert_eq!(c.dst_uri(), None);
    // the token is bound to the dialog: in another Call-ID it is a forgery
    let mut c = at_bob(&bye.replace("Call-ID: c1", "Call-ID: c9"));
    assert!(matches!(c.loose_route(), Err(RrError::Forbidden(_))));
    // no ob, no token
    let mut c = over_tcp(
        &invite("Contact: <sip:alice@192.168.1.5:5060;transport=tcp>\r\n"),
        "198.51.100.7:41000",
    );
    c.record_route("").unwrap();
    assert_eq!(c.record_route_params().unwrap().flow_token, None);
}

#[test]
fn flow_token_round_trip() {
    for (t, local, peer) in [
        (Transport::Udp, "10.0.0.1:5060", "198.51.100.7:41000"),
        (Transport::Tls, "[2001:db8::1]:5061", "[2001:db8::7]:50000"),
    ] {
        let f = Flow {
            transport: t,
            local: Some(local.parse().unwrap()),
            peer: peer.parse().unwrap(),
        };
        assert_eq!(Flow::from_token(&f.token()), Some(f));
    }
    assert_eq!(Flow::from_token("zz"), None);
    assert_eq!(Flow::from_token("0101"), None);
    assert_eq!(Flow::from_token(""), None);
}

#[test]
fn record_routes_of_one_router_are_not_another_tenants() {
    let rr = dialog("d-tenant", UDP, Transport::Udp, None, "sip:bob@10.0.0.9").remove(0);
    let msg = SipMessage::parse(Bytes::from(in_dialog_of(
        "d-tenant",
        "BYE",
        &rr,
        "sip:bob@10.0.0.9",
    )))
    .unwrap();
    let source = *ctx_from(&invite("")).source();
    let tenant = std::sync::Arc::new(cfg().tenant_view("acme", &Default::default()));
    let mut c = RouteContext::new(tenant, msg.clone(), source, 0);
    assert!(matches!(c.loose_route(), Err(RrError::Forbidden(_))));
    let mut c = RouteContext::new(cfg(), msg, source, 0);
    assert_eq!(c.loose_route(), Ok(Routed::RouteSet));
}
