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
        None,
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
