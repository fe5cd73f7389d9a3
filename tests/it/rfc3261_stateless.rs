//! Stateless replies from the example plugins, with SIPp over UDP and TCP and with raw
//! sockets for exact header checks.

use crate::harness::*;
use std::time::Duration;

#[test]
fn tutorial_501_with_sipp_over_udp_and_tcp() {
    // the Rust plugin and its twins in C, Python and JavaScript
    for plugin_name in [
        "tutorial_501",
        "tutorial_501_c",
        "tutorial_501_py",
        "tutorial_501_js",
    ] {
        let r = TestRouter::start(plugin_name);
        for (transport, target) in [("u1", r.udp), ("t1", r.tcp)] {
            for (method, expect) in [("INVITE", 480), ("OPTIONS", 501), ("REGISTER", 501)] {
                let call = SippCall {
                    method,
                    user: "bob",
                    expect,
                    checks: &[],
                };
                sipp_ok(&call, target, transport, 10);
            }
        }
        // the ACKs of the 480s were absorbed by the router, not routed
        let absorbed = r
            .server()
            .router()
            .stats()
            .acks_absorbed
            .load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(absorbed, 20, "{plugin_name}: one ACK per rejected INVITE");
    }
}

#[test]
fn tutorial_501_replies_are_well_formed() {
    let r = TestRouter::start("tutorial_501");
    let c = UdpClient::new(r.udp);
    let reply = c.ask("INVITE", "bob", "").expect("a reply");
    assert_eq!(reply.status(), Some(480));
    assert_eq!(reply.reason(), Some(&b"Temporarily Unavailable"[..]));
    let b = reply.as_bytes();
    assert!(
        reply.to().tag(b).is_some(),
        "non-100 replies carry a To tag"
    );
    assert_eq!(reply.top_via().rport, Some(Some(c.local().port())));
    assert_eq!(hdr(&reply, "Server").as_deref(), Some("sipwasm-test"));
    let reply = c.ask("OPTIONS", "bob", "").expect("a reply");
    assert_eq!(
        (reply.status(), reply.reason()),
        (Some(501), Some(&b"Not Implemented"[..]))
    );
    // a retransmitted request gets the same To tag
    let req = request("MESSAGE", "bob", r.udp, c.local(), "UDP", "");
    c.send(req.as_bytes());
    let a = c.final_reply(Duration::from_secs(2)).unwrap();
    c.send(req.as_bytes());
    let b2 = c.final_reply(Duration::from_secs(2)).unwrap();
    assert_eq!(a.to().tag(a.as_bytes()), b2.to().tag(b2.as_bytes()));
}

#[test]
fn options_pong_with_sipp_checks_allow_and_accept() {
    let r = TestRouter::start("options_pong");
    let checks = [
        ("Allow", "^INVITE, ACK, CANCEL, BYE, OPTIONS$"),
        ("Accept", "^application/sdp$"),
    ];
    for (transport, target) in [("u1", r.udp), ("t1", r.tcp)] {
        sipp_ok(
            &SippCall {
                method: "OPTIONS",
                user: "ping",
                expect: 200,
                checks: &checks,
            },
            target,
            transport,
            20,
        );
        sipp_ok(
            &SippCall {
                method: "INVITE",
                user: "ping",
                expect: 501,
                checks: &[],
            },
            target,
            transport,
            5,
        );
    }
}

#[test]
fn options_pong_reads_its_config() {
    let mut opts = RouterOpts::default();
    opts.config.insert("allow".into(), "OPTIONS".into());
    opts.config.insert("accept".into(), "text/plain".into());
    let r = TestRouter::start_with("options_pong", opts);
    let reply = UdpClient::new(r.udp).ask("OPTIONS", "x", "").unwrap();
    assert_eq!(hdr(&reply, "Allow").as_deref(), Some("OPTIONS"));
    assert_eq!(hdr(&reply, "Accept").as_deref(), Some("text/plain"));
}

#[test]
fn headers_demo_builds_headers_from_the_request() {
    let r = TestRouter::start("headers_demo");
    let checks = [
        ("X-Caller", "^sipp$"),
        ("X-Callid-Len", "^[0-9]+$"),
        ("X-Ruri-User-Upper", "^SERVICE$"),
        ("X-Source", "^127\\.0\\.0\\.1:[0-9]+ over (udp|tcp)$"),
        ("X-Via-Count", "^1$"),
    ];
    for (transport, target) in [("u1", r.udp), ("t1", r.tcp)] {
        sipp_ok(
            &SippCall {
                method: "OPTIONS",
                user: "service",
                expect: 200,
                checks: &checks,
            },
            target,
            transport,
            10,
        );
    }
    // exact values with a raw client
    let c = UdpClient::new(r.udp);
    let reply = c
        .ask(
            "MESSAGE",
            "alice",
            "X-Echo: hello there\r\nX-Remove-Me: 1\r\n",
        )
        .unwrap();
    assert_eq!(reply.status(), Some(200));
    assert_eq!(hdr(&reply, "X-Caller").as_deref(), Some("tester"));
    let call_id_len = reply.call_id().len();
    assert_eq!(hdr(&reply, "X-Callid-Len"), Some(call_id_len.to_string()));
    assert_eq!(hdr(&reply, "X-Ruri-User-Upper").as_deref(), Some("ALICE"));
    assert_eq!(
        hdr(&reply, "X-Source"),
        Some(format!("{} over udp", c.local()))
    );
    assert_eq!(
        hdr(&reply, "X-From-Tag"),
        reply
            .from()
            .tag(reply.as_bytes())
            .map(|t| String::from_utf8_lossy(t).into_owned())
    );
    assert_eq!(hdr(&reply, "X-Echo").as_deref(), Some("hello there"));
    assert_eq!(
        hdr(&reply, "X-Lumps").as_deref(),
        Some("removed=1 still-present-until-sent=true")
    );
}

#[test]
fn ipv6_listeners() {
    let r = TestRouter::start_on(
        "headers_demo",
        RouterOpts::default(),
        &["udp:[::1]:0", "tcp:[::1]:0"],
    );
    assert!(r.udp.is_ipv6() && r.tcp.is_ipv6());
    let sock = std::net::UdpSocket::bind("[::1]:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let local = sock.local_addr().unwrap();
    let req = request("OPTIONS", "six", r.udp, local, "UDP", "");
    assert!(req.contains(&format!("Via: SIP/2.0/UDP [::1]:{};", local.port())));
    sock.send_to(req.as_bytes(), r.udp).unwrap();
    let mut buf = [0u8; 4096];
    let (n, from) = sock.recv_from(&mut buf).unwrap();
    assert_eq!(from, r.udp);
    let reply = sipwasm_proto::SipMessage::parse(bytes::Bytes::copy_from_slice(&buf[..n])).unwrap();
    assert_eq!(reply.status(), Some(200));
    assert_eq!(
        hdr(&reply, "X-Source"),
        Some(format!("::1:{} over udp", local.port()))
    );
    let mut tcp = TcpClient::connect(r.tcp);
    let reply = tcp.ask("OPTIONS", "six", "").unwrap();
    assert_eq!(reply.status(), Some(200));
    assert!(hdr(&reply, "X-Source").unwrap().ends_with(" over tcp"));
}
