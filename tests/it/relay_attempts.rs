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

/// Read SIP messages on `sock` for up to `wait`; the first one `pred` accepts.
fn recv_matching(
    sock: &UdpSocket,
    wait: Duration,
    pred: impl Fn(&sipwasm_proto::SipMessage) -> bool,
) -> Option<sipwasm_proto::SipMessage> {
    let deadline = std::time::Instant::now() + wait;
    let mut buf = [0u8; 65536];
    while std::time::Instant::now() < deadline {
        if let Ok((n, _)) = sock.recv_from(&mut buf)
            && let Ok(m) =
                sipwasm_proto::SipMessage::parse(bytes::Bytes::copy_from_slice(&buf[..n]))
            && pred(&m)
        {
            return Some(m);
        }
    }
    None
}

#[test]
fn a_caller_cannot_use_its_own_call_to_relay() {
    // anybody may call a user of the domain without credentials (as Kamailio's default
    // config allows), and gets the router's signed Record-Route back in the 180; neither
    // that nor an ACK to the ringing INVITE takes a request anywhere else
    use crate::pjsip::{Phone, PhoneOpts};
    let r = TestRouter::from_config_file(
        &root().join("config/examples/registrar-proxy.toml"),
        &["udp:127.0.0.1:0", "tcp:127.0.0.1:0"],
        |_| {},
    );
    let mut bob = Phone::start(&PhoneOpts::example("bob", r.udp, "udp"));
    assert_eq!(bob.register(), 200);
    let victim = UdpSocket::bind("127.0.0.1:0").unwrap();
    victim
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let v = victim.local_addr().unwrap();
    let mallory = UdpSocket::bind("127.0.0.1:0").unwrap();
    mallory
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let me = mallory.local_addr().unwrap();
    let invite = format!(
        "INVITE sip:bob@sipwasm.local SIP/2.0\r\n\
Via: SIP/2.0/UDP {me};branch=z9hG4bK-mallory-1;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:mallory@attacker.example>;tag=m1\r\n\
To: <sip:bob@sipwasm.local>\r\n\
Call-ID: mallory-call\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:mallory@{me}>\r\n\
Content-Length: 0\r\n\r\n"
    );
    mallory.send_to(invite.as_bytes(), r.udp).unwrap();
    let call = bob.incoming();
    // an "ACK" to the ringing INVITE, with the INVITE's branch and a To tag of choice
    let ack = format!(
        "ACK sip:victim@{v} SIP/2.0\r\n\
Via: SIP/2.0/UDP {me};branch=z9hG4bK-mallory-1;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:mallory@attacker.example>;tag=m1\r\n\
To: <sip:bob@sipwasm.local>;tag=anything\r\n\
Call-ID: mallory-call\r\n\
CSeq: 1 ACK\r\n\
Content-Length: 0\r\n\r\n"
    );
    mallory.send_to(ack.as_bytes(), r.udp).unwrap();
    // bob rings: mallory gets the 180 with the router's signed Record-Route
    bob.send(serde_json::json!({"cmd": "answer", "call": call, "code": 180}));
    let ringing = recv_matching(&mallory, Duration::from_secs(5), |m| {
        m.status() == Some(180)
    })
    .expect("the 180");
    let rr = hdr(&ringing, "Record-Route").expect("a Record-Route");
    let to = hdr(&ringing, "To").unwrap();
    for (n, method) in ["INVITE", "BYE", "MESSAGE"].iter().enumerate() {
        let replay = format!(
            "{method} sip:victim@{v} SIP/2.0\r\n\
Via: SIP/2.0/UDP {me};branch=z9hG4bK-mallory-r{n};rport\r\n\
Max-Forwards: 70\r\n\
Route: {rr}\r\n\
From: <sip:mallory@attacker.example>;tag=m1\r\n\
To: {to}\r\n\
Call-ID: mallory-call\r\n\
CSeq: {} {method}\r\n\
Contact: <sip:mallory@{me}>\r\n\
Content-Length: 0\r\n\r\n",
            n + 2
        );
        mallory.send_to(replay.as_bytes(), r.udp).unwrap();
        let answer = recv_matching(&mallory, Duration::from_secs(3), |m| {
            m.status().is_some_and(|c| c >= 200) && m.cseq().number == (n + 2) as u32
        })
        .unwrap_or_else(|| panic!("no answer to the replayed {method}"));
        assert_eq!(answer.status(), Some(403), "{method}");
    }
    let mut buf = [0u8; 4096];
    if let Ok((len, _)) = victim.recv_from(&mut buf) {
        panic!(
            "relayed to the victim:\n{}",
            String::from_utf8_lossy(&buf[..len])
        );
    }
    bob.send(serde_json::json!({"cmd": "hangup", "call": call, "code": 486}));
    bob.call_state(call, "DISCONNECTED");
}
