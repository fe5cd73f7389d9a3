//! NAT and forking with sockets that register a Contact other than their source (a phone
//! behind NAT names its private address): every branch reaches the address that
//! registered, a branch route changes its own branch only, a failure route forks only
//! what it adds, serial forking goes by q; and PJSIP phones that claim private addresses
//! call each other through the registrar-proxy example.

use crate::harness::*;
use crate::pjsip::{Phone, PhoneOpts};
use bytes::Bytes;
use serde_json::json;
use sipwasm_proto::SipMessage;
use std::net::SocketAddr;
use std::time::Duration;

const DOMAIN: &str = "nat.test";

/// REGISTER `user@nat.test` from `dev` with `contact` (a private address), through the
/// probe router; returns the answer's status.
fn register(dev: &FakeUas, router: SocketAddr, user: &str, contact: &str, n: u32) -> u16 {
    let local = dev.addr;
    let text = format!(
        "REGISTER sip:reg@{router} SIP/2.0\r\n\
Via: SIP/2.0/UDP {contact_host};branch=z9hG4bK-reg-{user}-{n};rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:{user}@{DOMAIN}>;tag=r{n}\r\n\
To: <sip:{user}@{DOMAIN}>\r\n\
Call-ID: reg-{user}-{local}\r\n\
CSeq: {n} REGISTER\r\n\
Contact: {contact}\r\n\
Expires: 300\r\n\
Content-Length: 0\r\n\r\n",
        contact_host = "10.99.0.254:5060"
    );
    dev.sock.send_to(text.as_bytes(), router).unwrap();
    let mut buf = vec![0u8; 65536];
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < deadline {
        if let Ok((len, _)) = dev.sock.recv_from(&mut buf)
            && let Ok(m) = SipMessage::parse_slice(&buf[..len])
            && m.status().is_some()
        {
            return m.status().unwrap();
        }
    }
    panic!("no answer to the REGISTER of {contact}");
}

/// An INVITE to probe user `probe` for the AOR `callee`, with `extra` headers.
fn invite(caller: &UdpClient, router: SocketAddr, probe: &str, callee: &str, extra: &str) {
    let text = request(
        "INVITE",
        probe,
        router,
        caller.local(),
        "UDP",
        &format!("X-Callee: {callee}@{DOMAIN}\r\n{extra}"),
    );
    caller.send(text.as_bytes());
}

/// The `X-Branch` values of a request.
fn branch_headers(m: &SipMessage) -> Vec<String> {
    m.headers_named(b"X-Branch")
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect()
}

#[test]
fn every_branch_reaches_the_address_that_registered() {
    let r = TestRouter::start("probe");
    let (bob1, bob2, carol) = (FakeUas::new(), FakeUas::new(), FakeUas::new());
    assert_eq!(
        register(&bob1, r.udp, "bob", "<sip:bob@10.99.0.1:5060>", 1),
        200
    );
    assert_eq!(
        register(&bob2, r.udp, "bob", "<sip:bob@10.99.0.2:5060>", 1),
        200
    );
    let alice = UdpClient::new(r.udp);
    invite(
        &alice,
        r.udp,
        "fork",
        "bob",
        &format!("X-Then: {}\r\n", carol.uri("carol")),
    );
    // each device gets the INVITE at the address it registered from, with its own
    // Request-URI and only its own branch route's header
    let mut got = Vec::new();
    for (dev, private) in [(&bob1, "10.99.0.1"), (&bob2, "10.99.0.2")] {
        let (inv, from) = dev
            .recv_request(Duration::from_secs(3))
            .unwrap_or_else(|| panic!("the branch to {private} did not reach its NAT address"));
        let b = inv.as_bytes();
        assert!(
            String::from_utf8_lossy(inv.request_uri().unwrap().as_bytes(b)).contains(private),
            "Request-URI is the registered contact"
        );
        let branches = branch_headers(&inv);
        assert_eq!(branches.len(), 1, "{branches:?}");
        assert!(branches[0].contains(private), "{branches:?}");
        assert!(
            branches[0].contains(&dev.addr.to_string()),
            "the branch route saw this branch's $du: {branches:?}"
        );
        got.push((dev, inv, from));
    }
    // both busy: the failure route forks to X-Then only
    for (i, (dev, inv, from)) in got.iter().enumerate() {
        dev.respond(inv, *from, 486, "Busy Here", &format!("busy{i}"));
    }
    let (inv, from) = carol
        .recv_request(Duration::from_secs(3))
        .expect("the failure route's branch");
    assert_eq!(branch_headers(&inv).len(), 1);
    carol.respond(&inv, from, 200, "OK", "carol");
    let reply = alice
        .final_reply(Duration::from_secs(3))
        .expect("200 upstream");
    assert_eq!(reply.status(), Some(200));
    for dev in [&bob1, &bob2] {
        let again: Vec<_> = dev
            .collect(Duration::from_millis(500))
            .into_iter()
            .filter(|m| m.method() == sipwasm_proto::Method::Invite)
            .collect();
        assert!(
            again.is_empty(),
            "a device that said busy got the INVITE again"
        );
    }
    assert!(
        carol
            .collect(Duration::from_millis(300))
            .iter()
            .all(|m| m.method() != sipwasm_proto::Method::Invite)
    );
}

#[test]
fn serial_forking_by_q() {
    let r = TestRouter::start("probe");
    let (best, second, last) = (FakeUas::new(), FakeUas::new(), FakeUas::new());
    assert_eq!(
        register(&best, r.udp, "dave", "<sip:dave@10.99.1.1:5060>;q=1.0", 1),
        200
    );
    assert_eq!(
        register(&second, r.udp, "dave", "<sip:dave@10.99.1.2:5060>;q=0.5", 1),
        200
    );
    assert_eq!(
        register(&last, r.udp, "dave", "<sip:dave@10.99.1.3:5060>;q=0.1", 1),
        200
    );
    let alice = UdpClient::new(r.udp);
    invite(&alice, r.udp, "serial", "dave", "");
    // one at a time, best q first; each failure brings the next
    for (i, dev) in [&best, &second].into_iter().enumerate() {
        let (inv, from) = dev
            .recv_request(Duration::from_secs(3))
            .expect("the next contact");
        assert!(
            last.collect(Duration::from_millis(100)).is_empty(),
            "not yet"
        );
        dev.respond(&inv, from, 480, "Temporarily Unavailable", &format!("u{i}"));
    }
    let (inv, from) = last
        .recv_request(Duration::from_secs(3))
        .expect("the last contact");
    last.respond(&inv, from, 200, "OK", "last");
    assert_eq!(
        alice.final_reply(Duration::from_secs(3)).unwrap().status(),
        Some(200)
    );
}

/// `caller` calls `callee`, who answers; a re-INVITE; the callee hangs up, or the caller.
fn call_and_hang_up(caller: &mut Phone, callee: &mut Phone, callee_hangs_up: bool) {
    let a = caller.call(&format!("sip:{}@sipwasm.local", callee.name));
    let b = callee.incoming();
    callee.send(json!({"cmd": "answer", "call": b, "code": 200}));
    caller.call_state(a, "CONFIRMED");
    callee.call_state(b, "CONFIRMED");
    // in-dialog requests both ways (the INVITE awaited next is the re-INVITE, not the
    // initial one's event)
    caller.forget();
    callee.forget();
    caller.send(json!({"cmd": "reinvite", "call": a}));
    callee.request_in(b, "INVITE");
    if callee_hangs_up {
        callee.send(json!({"cmd": "hangup", "call": b}));
    } else {
        caller.send(json!({"cmd": "hangup", "call": a}));
    }
    caller.call_state(a, "DISCONNECTED");
    callee.call_state(b, "DISCONNECTED");
}

/// PJSIP phones that claim private addresses (`--public-addr`, as a phone behind NAT
/// does) and do not learn their public one: the router answers and reaches them where
/// their packets come from, over UDP and TCP, with and without RFC 5626 outbound.
fn nated_phones(transport: &'static str, outbound: bool) {
    nated_phones_with(transport, outbound, "registrar-proxy");
}

/// [`nated_phones`] with the example's twin in `lang` (`registrar-proxy-py` ...): its own
/// config from config/examples.
fn nated_phones_with(transport: &'static str, outbound: bool, example: &str) {
    if let Some(lang) = example.strip_prefix("registrar-proxy-") {
        // the twin the config names, built
        plugin(&format!("registrar_proxy_{lang}"));
    }
    let r = TestRouter::from_config_file(
        &root().join(format!("config/examples/{example}.toml")),
        &["udp:127.0.0.1:0", "tcp:127.0.0.1:0"],
        |_| {},
    );
    let router = if transport == "udp" { r.udp } else { r.tcp };
    let phone = |user: &str, private: &str| {
        let mut o = PhoneOpts::example(user, router, transport);
        o.public_addr = Some(private.into());
        o.no_outbound = !outbound;
        Phone::start(&o)
    };
    let mut alice = phone("alice", "10.99.2.1");
    let mut bob = phone("bob", "10.99.2.2");
    assert_eq!(alice.register(), 200);
    assert_eq!(bob.register(), 200);
    call_and_hang_up(&mut alice, &mut bob, true);
    call_and_hang_up(&mut bob, &mut alice, false);
    alice.send(json!({"cmd": "message", "to": "sip:bob@sipwasm.local", "text": "behind nat"}));
    let st = alice.expect("MESSAGE answered", Duration::from_secs(10), |e| {
        e["ev"] == "message_status"
    });
    assert_eq!(st["code"], 200);
    bob.expect("MESSAGE delivered", Duration::from_secs(10), |e| {
        e["ev"] == "message"
    });
    let failed = r
        .server()
        .router()
        .outlet()
        .stats()
        .send_errors
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(failed, 0, "nothing was sent towards a private address");
}

#[test]
fn nated_pjsip_phones_over_udp() {
    nated_phones("udp", true);
}

/// The twins in C, Python and JavaScript detect and handle NAT as the example does.
#[test]
fn nated_pjsip_phones_through_the_twins() {
    for example in [
        "registrar-proxy-c",
        "registrar-proxy-py",
        "registrar-proxy-js",
    ] {
        nated_phones_with("udp", true, example);
    }
}

#[test]
fn nated_pjsip_phones_over_udp_without_outbound() {
    nated_phones("udp", false);
}

#[test]
fn nated_pjsip_phones_over_tcp() {
    nated_phones("tcp", true);
}

#[test]
fn nated_pjsip_phones_over_tcp_without_outbound() {
    nated_phones("tcp", false);
}

/// Read datagrams on `dev` for up to `wait`; the first one `pred` accepts.
fn datagram(
    dev: &FakeUas,
    wait: Duration,
    pred: impl Fn(&[u8]) -> bool,
) -> Option<(Vec<u8>, SocketAddr)> {
    let deadline = std::time::Instant::now() + wait;
    let mut buf = vec![0u8; 65536];
    while std::time::Instant::now() < deadline {
        if let Ok((n, from)) = dev.sock.recv_from(&mut buf)
            && pred(&buf[..n])
        {
            return Some((buf[..n].to_vec(), from));
        }
    }
    None
}

#[test]
fn registered_contacts_behind_nat_are_pinged() {
    for from in [Some("sip:pinger@nat.test"), None] {
        let opts = RouterOpts {
            natping: sipwasm_routing::NatPing {
                interval: 1,
                from: from.map(str::to_string),
                ..Default::default()
            },
            ..Default::default()
        };
        let r = TestRouter::start_with("probe", opts);
        let (nated, open) = (FakeUas::new(), FakeUas::new());
        assert_eq!(
            register(&nated, r.udp, "erin", "<sip:erin@10.99.3.1:5060>", 1),
            200
        );
        let contact = format!("<sip:frank@{}>", open.addr);
        assert_eq!(register(&open, r.udp, "frank", &contact, 1), 200);
        let (ping, sender) = datagram(&nated, Duration::from_secs(4), |_| true)
            .expect("a NAT ping to the address the contact registered from");
        assert_eq!(sender, r.udp, "from the socket it registered on");
        match from {
            Some(from) => {
                let m = SipMessage::parse(Bytes::from(ping)).expect("a SIP ping");
                assert!(m.is_request(), "{m:?}");
                assert_eq!(m.method_text(), b"OPTIONS");
                let b = m.as_bytes();
                assert_eq!(
                    m.request_uri().unwrap().as_bytes(b),
                    b"sip:erin@10.99.3.1:5060"
                );
                assert_eq!(m.from().uri.as_bytes(b), from.as_bytes());
                // the UA's answer is absorbed: it reaches neither a transaction nor the plugin
                nated.respond(&m, sender, 200, "OK", "erin");
                let router = r.server().router();
                assert!(wait_until(Duration::from_secs(2), || {
                    router
                        .stats()
                        .keepalives
                        .load(std::sync::atomic::Ordering::Relaxed)
                        > 0
                }));
            }
            None => assert_eq!(ping, b"\r\n\r\n", "a CRLF keep-alive"),
        }
        assert!(
            datagram(&open, Duration::from_millis(1500), |_| true).is_none(),
            "a contact reached at its own address is not pinged"
        );
        let pings = r
            .server()
            .router()
            .proxy()
            .table()
            .stats
            .nat_pings
            .load(std::sync::atomic::Ordering::Relaxed);
        assert!(pings >= 1, "{pings}");
    }
}

#[test]
fn crlf_keepalives_on_streams_get_their_pong() {
    // RFC 5626 §4.4.1: a double CRLF is answered with one, and keeps the connection
    let r = TestRouter::start("probe");
    let mut c = TcpClient::connect(r.tcp);
    c.stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    for _ in 0..3 {
        c.send(b"\r\n\r\n");
        let mut buf = [0u8; 8];
        let n = std::io::Read::read(&mut c.stream, &mut buf).expect("a pong");
        assert_eq!(&buf[..n], b"\r\n");
    }
    let reply = c
        .ask("OPTIONS", "count", "")
        .expect("the connection still works");
    assert_eq!(reply.status(), Some(200));
}

/// The outbound-edge example in front of the registrar-proxy example: PJSIP phones that
/// claim private addresses use the edge as their proxy; the registrar stores the edge's
/// Path and reaches the phones through it, over their flows.
fn through_an_edge(transport: &'static str, outbound: bool) {
    // the shipped configs as they are: the registrar keeps the Path of REGISTERs from
    // its `path_from` (the edge's address)
    let registrar = TestRouter::from_config_file(
        &root().join("config/examples/registrar-proxy.toml"),
        &["udp:127.0.0.1:0", "tcp:127.0.0.1:0"],
        |_| {},
    );
    let edge_text = std::fs::read_to_string(root().join("config/examples/outbound-edge.toml"))
        .unwrap()
        .replace(
            "listen = [\"udp:127.0.0.1:5070\", \"tcp:127.0.0.1:5070\"]",
            "listen = [\"udp:127.0.0.1:0\", \"tcp:127.0.0.1:0\"]",
        )
        .replace(
            "\"../../target/wasm32-wasip2/plugin/outbound_edge.wasm\"",
            &format!("{:?}", plugin("outbound_edge").display().to_string()),
        )
        .replace("cache_dir = \"../../target/sipwasm-cache\"", "")
        .replace(
            "registrar = \"sip:127.0.0.1:5060\"",
            &format!("registrar = \"sip:{}\"", registrar.udp),
        );
    let (edge, _dir) = TestRouter::from_config(&edge_text);
    let to_edge = if transport == "udp" {
        edge.udp
    } else {
        edge.tcp
    };
    let phone = |user: &str, private: &str| {
        let mut o = PhoneOpts::example(user, to_edge, transport);
        o.public_addr = Some(private.into());
        o.no_outbound = !outbound;
        Phone::start(&o)
    };
    let mut alice = phone("alice", "10.99.4.1");
    let mut bob = phone("bob", "10.99.4.2");
    assert_eq!(alice.register(), 200);
    assert_eq!(bob.register(), 200);
    call_and_hang_up(&mut alice, &mut bob, true);
    call_and_hang_up(&mut bob, &mut alice, false);
    alice.send(json!({"cmd": "message", "to": "sip:bob@sipwasm.local", "text": "via the edge"}));
    let st = alice.expect("MESSAGE answered", Duration::from_secs(10), |e| {
        e["ev"] == "message_status"
    });
    assert_eq!(st["code"], 200);
    bob.expect("MESSAGE delivered", Duration::from_secs(10), |e| {
        e["ev"] == "message"
    });
    // the registrar reached the phones through the edge's Path, never directly
    for r in [&registrar, &edge] {
        let errors = r
            .server()
            .router()
            .outlet()
            .stats()
            .send_errors
            .load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(errors, 0);
    }
}

#[test]
fn an_edge_proxy_in_front_of_the_registrar_over_udp() {
    through_an_edge("udp", true);
}

#[test]
fn an_edge_proxy_in_front_of_the_registrar_over_tcp() {
    through_an_edge("tcp", true);
}

#[test]
fn an_edge_proxy_in_front_of_the_registrar_for_phones_without_outbound() {
    through_an_edge("udp", false);
}

#[test]
fn a_registration_keeps_its_connection_open() {
    // connections of this listener close after 1 s of silence, unless a registration
    // lives on them
    let r = TestRouter::start_on(
        "probe",
        RouterOpts::default(),
        &["udp:127.0.0.1:0", "tcp:127.0.0.1:0 idle_timeout 1"],
    );
    let mut registered = TcpClient::connect(r.tcp);
    let local = registered.stream.local_addr().unwrap();
    let reg = request(
        "REGISTER",
        "reg",
        r.tcp,
        local,
        "TCP",
        "Contact: <sip:gina@10.99.5.1:5060;transport=tcp>\r\nExpires: 300\r\n",
    )
    .replace(
        &format!("To: <sip:reg@{}>", r.tcp),
        &format!("To: <sip:gina@{DOMAIN}>"),
    );
    registered.send(reg.as_bytes());
    assert_eq!(
        registered.recv(Duration::from_secs(3)).unwrap().status(),
        Some(200)
    );
    let mut idle = TcpClient::connect(r.tcp);
    assert_eq!(
        idle.ask("OPTIONS", "count", "").unwrap().status(),
        Some(200)
    );
    assert!(
        idle.closed_within(Duration::from_secs(4)),
        "an idle connection is closed"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        registered.ask("OPTIONS", "count", "").map(|m| m.status()),
        Some(Some(200)),
        "the registered connection is still open"
    );
    // and requests for the contact go over it
    let caller = UdpClient::new(r.udp);
    invite(&caller, r.udp, "fork", "gina", "");
    let inv = registered
        .recv(Duration::from_secs(3))
        .expect("the INVITE over the flow");
    assert!(inv.is_request());
}

#[test]
fn a_via_alias_over_plain_tcp_is_not_trusted() {
    // RFC 5923 reuse is for TLS (tls.rs tests it): over TCP, a Via `alias` does not make
    // the connection carry requests for the port it names
    let listening = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let lport = listening.local_addr().unwrap().port();
    drop(listening);
    let r = TestRouter::start_with("probe", {
        let mut o = RouterOpts::default();
        o.config.insert(
            "next_hop".into(),
            format!("sip:ua@127.0.0.1:{lport};transport=tcp"),
        );
        o
    });
    let mut ua = TcpClient::connect(r.tcp);
    let local = ua.stream.local_addr().unwrap();
    let hello = request("OPTIONS", "count", r.tcp, local, "TCP", "").replace(
        &format!("SIP/2.0/TCP {local};"),
        &format!("SIP/2.0/TCP 127.0.0.1:{lport};alias;"),
    );
    ua.send(hello.as_bytes());
    assert_eq!(ua.recv(Duration::from_secs(3)).unwrap().status(), Some(200));
    let caller = UdpClient::new(r.udp);
    caller.send(request("MESSAGE", "relay", r.udp, caller.local(), "UDP", "").as_bytes());
    assert!(
        ua.recv(Duration::from_secs(1)).is_none(),
        "the MESSAGE must not come over the aliased TCP connection"
    );
}

/// PJSIP phones behind a real NAT (network namespaces, nftables masquerade with random
/// ports): private Via and Contact, packets from the NAT's address. Registered, they call
/// each other both ways over UDP and TCP, and the router's NAT pings reach them through
/// the NAT binding and are answered.
#[test]
fn pjsip_phones_behind_a_real_nat() {
    let lab = match crate::netlab::NatLab::create() {
        Ok(lab) => lab,
        Err(why) => {
            eprintln!(
                "SKIPPED pjsip_phones_behind_a_real_nat: this machine cannot make network namespaces: {why}"
            );
            return;
        }
    };
    let r = TestRouter::from_config_file(
        &root().join("config/examples/registrar-proxy.toml"),
        &[
            &format!("udp:{}:0", lab.router_ip),
            &format!("tcp:{}:0", lab.router_ip),
        ],
        |cfg| {
            cfg.natping = sipwasm_routing::NatPing {
                interval: 1,
                from: Some("sip:pinger@sipwasm.local".into()),
                ..Default::default()
            };
        },
    );
    for (transport, router) in [("udp", r.udp), ("tcp", r.tcp)] {
        let phone = |user: &str, ip: &str| {
            let mut o = PhoneOpts::example(user, router, transport);
            o.bind = ip.into();
            o.netns = Some(lab.lan.clone());
            Phone::start(&o)
        };
        let mut alice = phone("alice", &lab.phone_ips[0]);
        let mut bob = phone("bob", &lab.phone_ips[1]);
        assert_eq!(alice.register(), 200, "{transport}");
        assert_eq!(bob.register(), 200, "{transport}");
        call_and_hang_up(&mut alice, &mut bob, true);
        call_and_hang_up(&mut bob, &mut alice, false);
        alice.send(
            json!({"cmd": "message", "to": "sip:bob@sipwasm.local", "text": "through the NAT"}),
        );
        let st = alice.expect("MESSAGE answered", Duration::from_secs(10), |e| {
            e["ev"] == "message_status"
        });
        assert_eq!(st["code"], 200, "{transport}");
        bob.expect("MESSAGE delivered", Duration::from_secs(10), |e| {
            e["ev"] == "message"
        });
    }
    // NAT pings went out through the NAT bindings and the phones answered them
    let router = r.server().router();
    let pings = router
        .proxy()
        .table()
        .stats
        .nat_pings
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(pings >= 2, "{pings} pings");
    assert!(
        router
            .stats()
            .keepalives
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1,
        "an answered ping"
    );
    let errors = router
        .outlet()
        .stats()
        .send_errors
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(errors, 0, "nothing was sent to a private address");
}

#[test]
fn a_contact_whose_connection_is_gone_gets_480_at_once() {
    // a phone registered over TCP and its connection closed: the branch fails with 430
    // (its flow is gone; nothing may connect to a phone behind NAT) and the caller gets
    // 480 at once, not after the fr timer; the transaction ends
    let r = TestRouter::start("probe");
    let mut phone = TcpClient::connect(r.tcp);
    let local = phone.stream.local_addr().unwrap();
    let reg = request(
        "REGISTER",
        "reg",
        r.tcp,
        local,
        "TCP",
        "Contact: <sip:hana@10.99.6.1:5060;transport=tcp>\r\n",
    )
    .replace(
        &format!("To: <sip:reg@{}>", r.tcp),
        &format!("To: <sip:hana@{DOMAIN}>"),
    );
    phone.send(reg.as_bytes());
    assert_eq!(
        phone.recv(Duration::from_secs(3)).unwrap().status(),
        Some(200)
    );
    drop(phone);
    let router = r.server().router();
    // until the router has seen the close (else the INVITE could go into the dead flow)
    assert!(
        wait_until(Duration::from_secs(5), || router.outlet().connections()
            == 0),
        "the phone's connection closed"
    );
    let caller = UdpClient::new(r.udp);
    let started = std::time::Instant::now();
    let inv = request(
        "INVITE",
        "fork",
        r.udp,
        caller.local(),
        "UDP",
        &format!("X-Callee: hana@{DOMAIN}\r\n"),
    );
    caller.send(inv.as_bytes());
    let reply = caller
        .final_reply(Duration::from_secs(3))
        .expect("a final answer");
    assert_eq!(reply.status(), Some(480));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // the caller's ACK completes the transaction
    let to = hdr(&reply, "To").unwrap();
    let ack = inv
        .replacen("INVITE sip:", "ACK sip:", 1)
        .replace(" INVITE\r\n", " ACK\r\n")
        .replace(&hdr_line(&inv, "To"), &format!("To: {to}"));
    caller.send(ack.as_bytes());
    assert!(
        wait_until(Duration::from_secs(10), || router
            .proxy()
            .table()
            .is_empty()),
        "the transaction ended"
    );
}

/// The whole `name:` line of a request text (without CRLF).
fn hdr_line(text: &str, name: &str) -> String {
    text.lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .unwrap_or_default()
        .to_string()
}
