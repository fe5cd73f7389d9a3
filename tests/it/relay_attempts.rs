//! Nobody relays through the documented example without credentials: the tricks of
//! SIP toll fraud, each sent by a raw socket to `config/examples/registrar-proxy.toml`
//! with a "victim" socket as target. Each gets a final answer; the victim gets nothing.
//! (The victims are loopback sockets of the test: a relay could reach nothing else.)

use crate::harness::*;
use std::net::UdpSocket;
use std::time::Duration;

/// A request from `from_user@from_domain` at `client` for `ruri`, with `extra` headers
/// (Route, a To tag ...).
fn attempt(
    method: &str,
    ruri: &str,
    to_tag: bool,
    extra: &str,
    client: std::net::SocketAddr,
    n: u32,
) -> String {
    let tag = if to_tag { ";tag=forged" } else { "" };
    format!(
        "{method} {ruri} SIP/2.0\r\n\
Via: SIP/2.0/UDP {client};branch=z9hG4bK-relay-{n};rport\r\n\
Max-Forwards: 70\r\n\
{extra}From: <sip:mallory@attacker.example>;tag=m{n}\r\n\
To: <sip:victim@victim.example>{tag}\r\n\
Call-ID: relay-attempt-{n}\r\n\
CSeq: 1 {method}\r\n\
Contact: <sip:mallory@{client}>\r\n\
Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn the_example_is_not_an_open_relay() {
    let r = TestRouter::from_config_file(
        &root().join("config/examples/registrar-proxy.toml"),
        &["udp:127.0.0.1:0", "tcp:127.0.0.1:0"],
        |_| {},
    );
    let victim = UdpSocket::bind("127.0.0.1:0").unwrap();
    victim
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let v = victim.local_addr().unwrap();
    let router = r.udp;
    let target = format!("sip:victim@{v}");
    let route_us = format!("Route: <sip:{router};transport=udp;lr>\r\n");
    let route_victim = format!("Route: <sip:{v};lr>\r\n");
    let cases: Vec<(&str, &str, bool, String, String)> = vec![
        (
            "a preloaded Route to the router",
            "INVITE",
            false,
            target.clone(),
            route_us.clone(),
        ),
        (
            "a Route straight to another host",
            "INVITE",
            false,
            target.clone(),
            route_victim.clone(),
        ),
        (
            "a forged in-dialog INVITE",
            "INVITE",
            true,
            target.clone(),
            route_us.clone(),
        ),
        (
            "a forged in-dialog BYE",
            "BYE",
            true,
            target.clone(),
            route_us.clone(),
        ),
        (
            "a forged in-dialog BYE routed to the victim",
            "BYE",
            true,
            target.clone(),
            route_victim.clone(),
        ),
        (
            "a strict-routing Request-URI naming the router",
            "INVITE",
            false,
            format!("sip:{router}"),
            format!("Route: <{target}>\r\n"),
        ),
        (
            "a strict-routing Request-URI naming the router, in a dialog",
            "INVITE",
            true,
            format!("sip:{router}"),
            format!("Route: <{target}>\r\n"),
        ),
        (
            "a MESSAGE with a preloaded Route",
            "MESSAGE",
            false,
            target.clone(),
            route_us.clone(),
        ),
        (
            "a forged in-dialog MESSAGE",
            "MESSAGE",
            true,
            target.clone(),
            route_us,
        ),
        (
            "a plain Request-URI",
            "INVITE",
            false,
            target.clone(),
            String::new(),
        ),
        (
            "an alias domain with a foreign user part and a Route",
            "INVITE",
            false,
            "sip:victim@sipwasm.local".to_string(),
            route_victim,
        ),
    ];
    for (n, (what, method, to_tag, ruri, extra)) in cases.into_iter().enumerate() {
        let c = UdpClient::new(router);
        c.send(attempt(method, &ruri, to_tag, &extra, c.local(), n as u32).as_bytes());
        let answer = c.final_status(Duration::from_secs(3));
        let (code, reason) = answer.unwrap_or_else(|| panic!("{what}: no final answer"));
        assert!(
            matches!(code, 403 | 404 | 407 | 484),
            "{what}: answered {code} {reason}"
        );
        let mut buf = [0u8; 2048];
        if let Ok((len, _)) = victim.recv_from(&mut buf) {
            panic!(
                "{what}: relayed to the victim:\n{}",
                String::from_utf8_lossy(&buf[..len])
            );
        }
    }
}

/// The first header `name` of `msg`, or a panic.
fn must(msg: &sipwasm_proto::SipMessage, name: &str) -> String {
    hdr(msg, name).unwrap_or_else(|| panic!("no {name} in {msg:?}"))
}

#[test]
fn a_caller_cannot_use_its_own_call_to_relay() {
    // anybody may call a user of the domain without credentials (as Kamailio's default
    // config allows), and gets the router's signed Record-Route back in the 180. Mallory
    // (another host: 127.0.0.2) names a victim as her Contact and as a "proxy" in her
    // Record-Route, then tries every way of using the dialog to reach it: her own
    // direction, the tags swapped (claiming to be bob, to reach "the caller"), a maddr
    // on bob's target, an ACK to the ringing INVITE. Each is refused; bob's own
    // requests go where her packets come from, not to the victim.
    use crate::pjsip::{Phone, PhoneOpts};
    let r = TestRouter::from_config_file(
        &root().join("config/examples/registrar-proxy.toml"),
        &["udp:127.0.0.1:0", "tcp:127.0.0.1:0"],
        |_| {},
    );
    let mut bob = Phone::start(&PhoneOpts::example("bob", r.udp, "udp"));
    assert_eq!(bob.register(), 200);
    // the victim is another host than bob's: a request of the call may go to bob's
    // address only
    let victim = FakeUas::bind("127.0.0.4:0");
    let v = victim.addr;
    let mallory = FakeUas::bind("127.0.0.2:0");
    let me = mallory.addr;
    let request = |method: &str, ruri: &str, n: u32, from_tag: &str, to: &str, extra: &str| {
        format!(
            "{method} {ruri} SIP/2.0\r\n\
Via: SIP/2.0/UDP {me};branch=z9hG4bK-mallory-{n};rport\r\n\
Max-Forwards: 70\r\n\
{extra}From: <sip:mallory@attacker.example>;tag={from_tag}\r\n\
To: {to}\r\n\
Call-ID: mallory-call\r\n\
CSeq: {n} {method}\r\n\
Content-Length: 0\r\n\r\n"
        )
    };
    let invite = request(
        "INVITE",
        "sip:bob@sipwasm.local",
        1,
        "m1",
        "<sip:bob@sipwasm.local>",
        &format!("Contact: <sip:mallory@{v}>\r\nRecord-Route: <sip:{v};lr>\r\n"),
    );
    mallory.sock.send_to(invite.as_bytes(), r.udp).unwrap();
    let call = bob.incoming();
    // an "ACK" to the ringing INVITE, with the INVITE's branch and a To tag of choice
    let ack = request(
        "ACK",
        &format!("sip:victim@{v}"),
        1,
        "m1",
        "<sip:bob@sipwasm.local>;tag=anything",
        "",
    );
    mallory.sock.send_to(ack.as_bytes(), r.udp).unwrap();
    // bob rings: mallory gets the 180 with the router's signed Record-Route
    bob.send(serde_json::json!({"cmd": "answer", "call": call, "code": 180}));
    let ringing = recv_matching(&mallory.sock, Duration::from_secs(5), |m| {
        m.status() == Some(180)
    })
    .expect("the 180");
    let rr = must(&ringing, "Record-Route");
    assert!(
        !rr.contains(&v.to_string()),
        "the phone's own Record-Route was dropped: {rr}"
    );
    let to = must(&ringing, "To");
    let bob_tag = to.rsplit(";tag=").next().unwrap().to_string();
    let bob_contact = must(&ringing, "Contact");
    let bob_contact = bob_contact.trim_start_matches('<').trim_end_matches('>');
    // a second victim where a maddr on bob's target would send a request
    let bob_port = bob_contact
        .split(';')
        .next()
        .and_then(|hostport| hostport.rsplit(':').next())
        .unwrap();
    let victim2 = FakeUas::bind(&format!("127.0.0.3:{bob_port}"));
    let as_bob = format!("<sip:bob@sipwasm.local>;tag={bob_tag}");
    let mallory_to = "<sip:mallory@attacker.example>;tag=m1".to_string();
    let mut n = 1;
    for (what, method, ruri, swapped, routes, contact) in [
        (
            "her own direction",
            "INVITE",
            format!("sip:victim@{v}"),
            false,
            rr.clone(),
            "",
        ),
        (
            "her own direction",
            "BYE",
            format!("sip:victim@{v}"),
            false,
            rr.clone(),
            "",
        ),
        (
            "her own direction",
            "MESSAGE",
            format!("sip:victim@{v}"),
            false,
            rr.clone(),
            "",
        ),
        (
            "tags swapped, to her Contact",
            "INVITE",
            format!("sip:mallory@{v}"),
            true,
            rr.clone(),
            "",
        ),
        (
            "tags swapped, through her Record-Route",
            "INVITE",
            format!("sip:mallory@{v}"),
            true,
            format!("{rr}, <sip:{v};lr>"),
            "",
        ),
        (
            "tags swapped, a target refresh to the victim",
            "UPDATE",
            format!("sip:mallory@{v}"),
            true,
            rr.clone(),
            "yes",
        ),
        (
            "a maddr on bob's target",
            "MESSAGE",
            format!("{bob_contact};maddr=127.0.0.3"),
            false,
            rr.clone(),
            "",
        ),
    ] {
        n += 1;
        let (from_tag, to) = if swapped {
            (bob_tag.as_str(), mallory_to.clone())
        } else {
            ("m1", as_bob.clone())
        };
        let mut extra = format!("Route: {routes}\r\n");
        if !contact.is_empty() {
            extra.push_str(&format!("Contact: <sip:mallory@{v}>\r\n"));
        }
        let text = request(method, &ruri, n, from_tag, &to, &extra).replace(
            "From: <sip:mallory@attacker.example>",
            if swapped {
                "From: <sip:bob@sipwasm.local>"
            } else {
                "From: <sip:mallory@attacker.example>"
            },
        );
        mallory.sock.send_to(text.as_bytes(), r.udp).unwrap();
        let answer = recv_matching(&mallory.sock, Duration::from_secs(3), |m| {
            m.status().is_some_and(|c| c >= 200) && m.cseq().number == n
        })
        .unwrap_or_else(|| panic!("{what}: no answer to the {method}"));
        assert_eq!(answer.status(), Some(403), "{what}: {method}");
    }
    // a SUBSCRIBE of the same call (Call-ID and tag) opens NOTIFYs before its 2xx: to
    // mallory herself, not to the victim she names
    n += 1;
    let subscribe = request(
        "SUBSCRIBE",
        "sip:bob@sipwasm.local",
        n,
        "m1",
        "<sip:bob@sipwasm.local>",
        &format!("Contact: <sip:mallory@{v}>\r\nRecord-Route: <sip:{v};lr>\r\nEvent: presence\r\n"),
    );
    mallory.sock.send_to(subscribe.as_bytes(), r.udp).unwrap();
    let subscribed = n;
    recv_matching(&mallory.sock, Duration::from_secs(5), |m| {
        m.status().is_some_and(|c| c >= 200) && m.cseq().number == subscribed
    })
    .expect("the SUBSCRIBE answered");
    for routes in [rr.clone(), format!("{rr}, <sip:{v};lr>")] {
        n += 1;
        let notify = request(
            "NOTIFY",
            &format!("sip:mallory@{v}"),
            n,
            "notifier",
            &mallory_to,
            &format!("Route: {routes}\r\nEvent: presence\r\nSubscription-State: active\r\n"),
        );
        mallory.sock.send_to(notify.as_bytes(), r.udp).unwrap();
        let answer = recv_matching(&mallory.sock, Duration::from_secs(3), |m| {
            m.status().is_some_and(|c| c >= 200) && m.cseq().number == n
        })
        .expect("an answer to the NOTIFY");
        assert_eq!(answer.status(), Some(403), "a NOTIFY through {routes}");
    }
    // (the NOTIFY does reach the subscriber where she is: it was refused for where it
    // went, not for being unknown)
    n += 1;
    let notify = request(
        "NOTIFY",
        &format!("sip:mallory@{me}"),
        n,
        "notifier",
        &mallory_to,
        &format!("Route: {rr}\r\nEvent: presence\r\nSubscription-State: active\r\n"),
    );
    mallory.sock.send_to(notify.as_bytes(), r.udp).unwrap();
    let (relayed, from) = mallory
        .recv_request(Duration::from_secs(3))
        .expect("the NOTIFY relayed to the subscriber");
    assert_eq!(relayed.method(), sipwasm_proto::Method::Notify);
    mallory.respond(&relayed, from, 200, "OK", "m1");
    for (who, sock) in [("victim", &victim), ("victim of maddr", &victim2)] {
        if let Some((m, _)) = sock.recv_request(Duration::from_millis(300)) {
            panic!("relayed to the {who}:\n{m:?}");
        }
    }
    // bob answers; mallory's ACK follows the route set to him, and his BYE goes where
    // mallory's packets come from (the alias the example adds for a phone), not to the
    // Contact she named
    bob.send(serde_json::json!({"cmd": "answer", "call": call, "code": 200}));
    let ok = recv_matching(&mallory.sock, Duration::from_secs(5), |m| {
        m.status() == Some(200) && m.cseq().number == 1
    })
    .expect("the 200");
    let route = must(&ok, "Record-Route");
    let ack = request(
        "ACK",
        bob_contact,
        1,
        "m1",
        &as_bob,
        &format!("Route: {route}\r\n"),
    );
    mallory.sock.send_to(ack.as_bytes(), r.udp).unwrap();
    bob.call_state(call, "CONFIRMED");
    bob.send(serde_json::json!({"cmd": "hangup", "call": call}));
    let (bye, from) = std::iter::from_fn(|| mallory.recv_request(Duration::from_secs(10)))
        .find(|(m, _)| m.method() == sipwasm_proto::Method::Bye)
        .expect("bob's BYE reaches mallory");
    mallory.respond(&bye, from, 200, "OK", "m1");
    bob.call_state(call, "DISCONNECTED");
    if let Some((m, _)) = victim.recv_request(Duration::from_millis(300)) {
        panic!("relayed to the victim:\n{m:?}");
    }
}
