//! The stateful proxy (RFC 3261 §16-17) with real clients: SIPp callers and callees, and
//! a scriptable UAS for exact checks of what the proxy sends.

use crate::harness::*;
use sipwasm_proto::{Method, SipMessage};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn proxy_opts(next_hop: &str) -> RouterOpts {
    let mut o = RouterOpts::default();
    o.config.insert("next_hop".into(), next_hop.into());
    o
}

#[test]
fn full_calls_through_the_kemi_proxy_over_udp_and_tcp() {
    let _sipp = sipp_lock();
    // the Rust plugin and its twins in C, Python and JavaScript
    for plugin_name in [
        "kemi_proxy",
        "kemi_proxy_c",
        "kemi_proxy_py",
        "kemi_proxy_js",
    ] {
        for (transport, suffix) in [("u1", ""), ("t1", ";transport=tcp")] {
            let uas_port = free_port();
            let r = TestRouter::start_with(
                plugin_name,
                proxy_opts(&format!("sip:127.0.0.1:{uas_port}{suffix}")),
            );
            let mut uas = Sipp::server(Scenario::Builtin("uas"), uas_port);
            uas.transport = transport;
            uas.calls = 10;
            let uas = uas.spawn();
            let target = if transport == "t1" { r.tcp } else { r.udp };
            let mut uac = Sipp::client(Scenario::Builtin("uac"), target);
            uac.transport = transport;
            uac.calls = 10;
            uac.rate = 20;
            let out = uac.run();
            let what = format!("{plugin_name} over {transport}");
            assert_calls(&format!("uac: {what}"), &out, 10);
            assert_calls(
                &format!("uas: {what}"),
                &uas.wait(Duration::from_secs(10)),
                10,
            );
            let tm = &r.server().router().proxy().table().stats;
            // INVITE and BYE of every call made a transaction; ACKs (2xx) were stateless
            assert_eq!(tm.created.load(Ordering::Relaxed), 20, "{what}");
        }
    }
}

/// The benchmark's plugin (the harness's `proxy.cfg`, line by line) proxies SIPp calls,
/// and answers Max-Forwards 0 with 483.
#[test]
fn the_proxy_cfg_benchmark_plugin_relays_calls() {
    let _sipp = sipp_lock();
    let uas_port = free_port();
    let r = TestRouter::start_with(
        "proxy_cfg",
        proxy_opts(&format!("sip:127.0.0.1:{uas_port}")),
    );
    let mut uas = Sipp::server(Scenario::Builtin("uas"), uas_port);
    uas.calls = 20;
    let uas = uas.spawn();
    let mut uac = Sipp::client(Scenario::Builtin("uac"), r.udp);
    uac.calls = 20;
    uac.rate = 40;
    assert_calls("uac", &uac.run(), 20);
    assert_calls("uas", &uas.wait(Duration::from_secs(10)), 20);
    let tm = &r.server().router().proxy().table().stats;
    assert_eq!(
        tm.created.load(Ordering::Relaxed),
        40,
        "INVITE and BYE of each call"
    );
    // the plugin has no reply_route: called for the first reply only (it says so), then
    // never again; 60 request routes (INVITE, ACK, BYE)
    let stats = r.plugin.stats();
    assert_eq!((stats.events, stats.route_errors), (61, 0));
    let c = UdpClient::new(r.udp);
    let zero = request("OPTIONS", "x", r.udp, c.local(), "UDP", "")
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    c.send(zero.as_bytes());
    let reply = c.final_reply(Duration::from_secs(2)).unwrap();
    assert_eq!(reply.status(), Some(483));
}

#[test]
fn forwarded_request_100_trying_and_hop_by_hop_ack() {
    let uas = FakeUas::new();
    let r = TestRouter::start_with("probe", proxy_opts(&uas.uri("callee")));
    let c = UdpClient::new(r.udp);
    let invite = request("INVITE", "relay", r.udp, c.local(), "UDP", "");
    c.send(invite.as_bytes());
    // 100 Trying from the proxy itself
    let trying = SipMessage::parse(c.recv(Duration::from_secs(2)).unwrap()).unwrap();
    assert_eq!(trying.status(), Some(100));
    let (fwd, from) = uas
        .recv_request(Duration::from_secs(2))
        .expect("forwarded INVITE");
    let b = fwd.as_bytes();
    // t_relay_to(dst) sends to dst and leaves the Request-URI alone (Kamailio semantics)
    assert_eq!(
        fwd.request_uri().unwrap().as_bytes(b),
        format!("sip:relay@{}", r.udp).as_bytes()
    );
    assert_eq!(fwd.max_forwards(), Some(69));
    assert_eq!(fwd.vias().len(), 2);
    assert!(fwd.top_via().branch(b).unwrap().starts_with(b"z9hG4bKsw."));
    assert_eq!(
        fwd.vias()[1].rport,
        Some(Some(c.local().port())),
        "rport filled in"
    );
    let rr = hdr(&fwd, "Record-Route").expect("Record-Route");
    assert!(
        rr.starts_with(&format!("<sip:{};lr;sig=", r.udp)),
        "a signed Record-Route: {rr}"
    );
    uas.respond(&fwd, from, 180, "Ringing", "uas1");
    let ringing = SipMessage::parse(c.recv(Duration::from_secs(2)).unwrap()).unwrap();
    assert_eq!(ringing.status(), Some(180));
    assert_eq!(ringing.vias().len(), 1, "the proxy's Via is gone");
    assert_eq!(
        hdr(&ringing, "X-Probe-Onreply").as_deref(),
        Some("seen"),
        "onreply route changes reach the caller"
    );
    uas.respond(&fwd, from, 486, "Busy Here", "uas1");
    // the proxy ACKs the 486 itself, with the branch of its INVITE
    let (ack, _) = uas
        .recv_request(Duration::from_secs(2))
        .expect("hop-by-hop ACK");
    assert_eq!(ack.method(), Method::Ack);
    assert_eq!(
        ack.top_via().branch(ack.as_bytes()),
        fwd.top_via().branch(b)
    );
    let busy = c.final_reply(Duration::from_secs(2)).unwrap();
    assert_eq!(busy.status(), Some(486));
    // the caller's ACK is absorbed by the proxy, not forwarded
    let caller_ack = invite
        .replacen("INVITE sip", "ACK sip", 1)
        .replace(
            &format!("CSeq: {} INVITE", busy.cseq().number),
            &format!("CSeq: {} ACK", busy.cseq().number),
        )
        .replace(
            &format!("To: <sip:relay@{}>", r.udp),
            &format!("To: <sip:relay@{}>;tag=uas1", r.udp),
        );
    c.send(caller_ack.as_bytes());
    assert!(uas.recv_request(Duration::from_millis(400)).is_none());
    let tm = &r.server().router().proxy().table().stats;
    assert!(wait_until(Duration::from_secs(1), || tm
        .acks_absorbed
        .load(Ordering::Relaxed)
        == 1));
}

/// Every 2xx of an INVITE goes through the onreply route the transaction armed (as
/// Kamailio runs it for every reply of a transaction): a callee's 200 sent again, and a
/// branch's first 200 after its final-response timer fired (its NAT fixes matter most).
#[test]
fn repeated_and_late_2xx_go_through_the_onreply_route() {
    let uas = FakeUas::new();
    let mut opts = proxy_opts(&uas.uri("callee"));
    opts.timers.fr_inv = Duration::from_millis(500);
    let r = TestRouter::start_with("probe", opts);
    let c = UdpClient::new(r.udp);
    let through_onreply = |m: &SipMessage| hdr(m, "X-Probe-Onreply").as_deref() == Some("seen");
    for late in [false, true] {
        let invite = request("INVITE", "relay", r.udp, c.local(), "UDP", "");
        c.send(invite.as_bytes());
        let (fwd, from) = std::iter::from_fn(|| uas.recv_request(Duration::from_secs(2)))
            .find(|(m, _)| m.method() == Method::Invite)
            .expect("forwarded INVITE");
        uas.respond(&fwd, from, 180, "Ringing", "uas1");
        let ringing = recv_matching(&c.sock, Duration::from_secs(2), |m| m.status() == Some(180))
            .expect("180");
        assert!(through_onreply(&ringing), "{ringing:?}");
        if late {
            // no answer within fr_inv: the caller hears 408, the callee gets a CANCEL
            let timeout = c.final_reply(Duration::from_secs(3)).expect("a 408");
            assert_eq!(timeout.status(), Some(408));
            let cancel = std::iter::from_fn(|| uas.recv_request(Duration::from_secs(2)))
                .find(|(m, _)| m.method() == Method::Cancel);
            assert!(cancel.is_some(), "the branch canceled");
            // ... but the callee had answered meanwhile: its 200 still reaches the caller
            uas.respond(&fwd, from, 200, "OK", "uas1");
            let ok = c.final_reply(Duration::from_secs(3)).expect("the late 200");
            assert_eq!(ok.status(), Some(200));
            assert!(through_onreply(&ok), "late 200 {ok:?}");
        } else {
            uas.respond(&fwd, from, 200, "OK", "uas1");
            let ok = c.final_reply(Duration::from_secs(3)).expect("the 200");
            assert!(through_onreply(&ok), "{ok:?}");
            uas.respond(&fwd, from, 200, "OK", "uas1");
            let again = c
                .final_reply(Duration::from_secs(3))
                .expect("the 200 again");
            assert_eq!(again.status(), Some(200));
            assert!(through_onreply(&again), "repeated 200 {again:?}");
            assert_eq!(again.as_bytes(), ok.as_bytes());
        }
    }
}

/// A transaction made by a worker ends on the timer thread but is freed by that worker
/// after its next event (or, when the worker gets no more events, by the timer thread a
/// second later): freeing across threads is what the graveyard avoids.
#[test]
fn finished_transactions_are_freed_by_the_worker_that_made_them() {
    let uas = FakeUas::new();
    let mut opts = proxy_opts(&uas.uri("callee"));
    opts.workers = 1;
    opts.timers.t1 = Duration::from_millis(20);
    opts.timers.t4 = Duration::from_millis(50);
    opts.timers.wait = Duration::from_millis(50);
    let r = TestRouter::start_with("probe", opts);
    let tm = &r.server().router().proxy().table().stats;
    let c = UdpClient::new(r.udp);
    let relay_once = || {
        let req = request("OPTIONS", "relay", r.udp, c.local(), "UDP", "");
        c.send(req.as_bytes());
        // this request's (with T1 at 20 ms a late copy of the one before may come first)
        let (fwd, from) = std::iter::from_fn(|| uas.recv_request(Duration::from_secs(2)))
            .find(|(m, _)| req.contains(&*String::from_utf8_lossy(m.call_id())))
            .expect("relayed");
        uas.respond(&fwd, from, 200, "OK", "uas1");
        assert_eq!(c.final_status(Duration::from_secs(2)).unwrap().0, 200);
    };
    relay_once();
    // it lingers `wait`, then the timer thread takes it out of the table
    assert!(wait_until(Duration::from_secs(2), || tm
        .removed
        .load(Ordering::Relaxed)
        == 1));
    let freed = || {
        (
            tm.freed_by_worker.load(Ordering::Relaxed),
            tm.freed_by_sweep.load(Ordering::Relaxed),
        )
    };
    assert_eq!(freed(), (0, 0), "buried, not freed");
    // the worker's next event (a keep-alive will do) frees it
    c.send(b"\r\n\r\n");
    assert!(wait_until(Duration::from_secs(1), || freed() == (1, 0)));

    // with no event after it, the timer thread frees it once it waited a second
    // (the clock starts before: a caller slow to read its reply must not shorten it)
    let ended = Instant::now();
    relay_once();
    assert!(wait_until(Duration::from_secs(4), || freed() == (1, 1)));
    assert!(
        ended.elapsed() >= Duration::from_millis(900),
        "swept after {:?}",
        ended.elapsed()
    );
}

#[test]
fn failure_route_fails_over_to_a_second_uas() {
    let first = FakeUas::new();
    let second = FakeUas::new();
    let mut opts = proxy_opts(&first.uri("callee"));
    opts.config
        .insert("second_hop".into(), second.uri("callee2"));
    let r = TestRouter::start_with("probe", opts);
    let c = UdpClient::new(r.udp);
    c.send(request("INVITE", "failover", r.udp, c.local(), "UDP", "").as_bytes());
    let (inv1, from1) = first.recv_request(Duration::from_secs(2)).unwrap();
    first.respond(&inv1, from1, 486, "Busy Here", "one");
    let (ack, _) = first.recv_request(Duration::from_secs(2)).unwrap();
    assert_eq!(ack.method(), Method::Ack);
    // the failure route relayed to the second callee: same call, a new branch
    let (inv2, from2) = second
        .recv_request(Duration::from_secs(2))
        .expect("serial fork");
    assert_eq!(inv2.call_id(), inv1.call_id());
    let b1 = inv1.top_via().branch(inv1.as_bytes()).unwrap().to_vec();
    let b2 = inv2.top_via().branch(inv2.as_bytes()).unwrap().to_vec();
    assert_ne!(b1, b2);
    assert!(
        b2.ends_with(b".1"),
        "branch 1 of the same transaction: {}",
        String::from_utf8_lossy(&b2)
    );
    second.respond(&inv2, from2, 200, "OK", "two");
    let ok = c.final_reply(Duration::from_secs(2)).unwrap();
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.to().tag(ok.as_bytes()), Some(&b"two"[..]));

    // both callees fail: the failure route answers 503 itself
    let c = UdpClient::new(r.udp);
    c.send(request("INVITE", "failover", r.udp, c.local(), "UDP", "").as_bytes());
    let (inv1, from1) = first.recv_request(Duration::from_secs(2)).unwrap();
    first.respond(&inv1, from1, 486, "Busy Here", "one");
    let (inv2, from2) = loop {
        let (m, f) = second.recv_request(Duration::from_secs(2)).unwrap();
        if m.method() == Method::Invite {
            break (m, f);
        }
    };
    second.respond(&inv2, from2, 404, "Not Found", "two");
    let reply = c.final_reply(Duration::from_secs(2)).unwrap();
    assert_eq!(reply.status(), Some(503));
    assert_eq!(reply.reason(), Some(&b"Failover Exhausted After 404"[..]));
}

#[test]
fn failover_with_sipp_callers_and_callees() {
    let _sipp = sipp_lock();
    let busy_port = free_port();
    let good_port = free_port();
    let mut opts = proxy_opts(&format!("sip:busy@127.0.0.1:{busy_port}"));
    opts.config.insert(
        "second_hop".into(),
        format!("sip:good@127.0.0.1:{good_port}"),
    );
    let r = TestRouter::start_with("probe", opts);
    let mut busy = Sipp::server(Scenario::File("uas_486.xml", vec![]), busy_port);
    busy.calls = 3;
    let busy = busy.spawn();
    let mut good = Sipp::server(Scenario::File("uas_rr.xml", vec![]), good_port);
    good.calls = 3;
    let good = good.spawn();
    let mut uac = Sipp::client(Scenario::File("uac_rr.xml", vec![]), r.udp);
    uac.service = Some("failover".into());
    uac.calls = 3;
    assert_calls("caller", &uac.run(), 3);
    assert_calls("busy callee", &busy.wait(Duration::from_secs(10)), 3);
    assert_calls("answering callee", &good.wait(Duration::from_secs(10)), 3);
    assert_eq!(
        r.server()
            .router()
            .proxy()
            .table()
            .stats
            .failure_routes
            .load(Ordering::Relaxed),
        3
    );
}

/// A callee that rings and waits to be canceled, in a thread.
fn ringing_callee(uas: FakeUas) -> std::thread::JoinHandle<Vec<Method>> {
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let (inv, from) = uas.recv_request(Duration::from_secs(5)).expect("INVITE");
        seen.push(inv.method());
        uas.respond(&inv, from, 180, "Ringing", "callee");
        let (cancel, from_c) = uas.recv_request(Duration::from_secs(5)).expect("CANCEL");
        seen.push(cancel.method());
        assert_eq!(
            cancel.top_via().branch(cancel.as_bytes()),
            inv.top_via().branch(inv.as_bytes()),
            "CANCEL uses the INVITE's branch"
        );
        uas.respond(&cancel, from_c, 200, "OK", "callee");
        uas.respond(&inv, from, 487, "Request Terminated", "callee");
        let (ack, _) = uas
            .recv_request(Duration::from_secs(5))
            .expect("ACK for the 487");
        seen.push(ack.method());
        seen
    })
}

#[test]
fn cancel_of_a_ringing_call_with_a_sipp_caller() {
    let _sipp = sipp_lock();
    let uas = FakeUas::new();
    let r = TestRouter::start_with("kemi_proxy", proxy_opts(&uas.uri("callee")));
    let callee = ringing_callee(uas);
    let mut uac = Sipp::client(Scenario::File("uac_cancel.xml", vec![]), r.udp);
    uac.service = Some("callee".into());
    assert_calls("canceling caller", &uac.run(), 1);
    assert_eq!(
        callee.join().unwrap(),
        [Method::Invite, Method::Cancel, Method::Ack]
    );
}

#[test]
fn retransmissions_are_absorbed_and_each_request_forwarded_once() {
    let _sipp = sipp_lock();
    // a MESSAGE answered after 2.2 s: the caller retransmits at 0.5, 1.5 s ...
    let uas = FakeUas::new();
    let r = TestRouter::start_with("kemi_proxy", proxy_opts(&uas.uri("late")));
    let callee = std::thread::spawn(move || {
        let (msg, from) = uas.recv_request(Duration::from_secs(5)).expect("MESSAGE");
        let copies = uas.collect(Duration::from_millis(2200));
        uas.respond(&msg, from, 200, "OK", "late");
        (msg, copies)
    });
    let mut uac = Sipp::client(Scenario::File("uac_message.xml", vec![]), r.udp);
    uac.service = Some("late".into());
    assert_calls("retransmitting caller", &uac.run(), 1);
    let (first, copies) = callee.join().unwrap();
    let branch = first.top_via().branch(first.as_bytes()).unwrap().to_vec();
    let mut branches: HashSet<Vec<u8>> = copies
        .iter()
        .map(|m| m.top_via().branch(m.as_bytes()).unwrap().to_vec())
        .collect();
    branches.insert(branch);
    assert_eq!(
        branches.len(),
        1,
        "one client transaction: {} copies, all with one branch",
        copies.len() + 1
    );
    let tm = &r.server().router().proxy().table().stats;
    assert!(
        tm.retransmissions_absorbed.load(Ordering::Relaxed) >= 2,
        "the caller's retransmissions were absorbed"
    );

    // an INVITE whose callee rings late: one branch, retransmitted by the proxy (Timer A)
    let uas = FakeUas::new();
    let r = TestRouter::start_with("kemi_proxy", proxy_opts(&uas.uri("late")));
    let callee = std::thread::spawn(move || {
        let (inv, from) = uas.recv_request(Duration::from_secs(5)).expect("INVITE");
        let copies = uas.collect(Duration::from_millis(1700));
        uas.respond(&inv, from, 180, "Ringing", "late");
        uas.respond(&inv, from, 200, "OK", "late");
        // ACK and BYE come straight from SIPp's built-in caller via the proxy
        let (ack, _) = uas.recv_request(Duration::from_secs(5)).expect("ACK");
        let (bye, from_b) = uas.recv_request(Duration::from_secs(5)).expect("BYE");
        uas.respond(&bye, from_b, 200, "OK", "late");
        (inv, copies, ack.method(), bye.method())
    });
    let mut uac = Sipp::client(Scenario::Builtin("uac"), r.udp);
    uac.service = Some("late".into());
    assert_calls("caller", &uac.run(), 1);
    let (inv, copies, ack, bye) = callee.join().unwrap();
    assert_eq!((ack, bye), (Method::Ack, Method::Bye));
    assert!(
        !copies.is_empty(),
        "the proxy retransmitted the INVITE while nothing came back"
    );
    for c in &copies {
        assert_eq!(c.method(), Method::Invite);
        assert_eq!(
            c.top_via().branch(c.as_bytes()),
            inv.top_via().branch(inv.as_bytes())
        );
    }
}

#[test]
fn register_with_auth_then_a_call_between_registered_users() {
    let _sipp = sipp_lock();
    let mut opts = RouterOpts::default();
    opts.config.insert("realm".into(), "sipwasm.test".into());
    opts.config.insert("user.alice".into(), "wonderland".into());
    opts.config.insert("user.bob".into(), "builder".into());
    opts.aliases.push(sipwasm_routing::Alias {
        host: "sipwasm.test".into(),
        port: None,
    });
    let r = TestRouter::start_with("registrar_proxy", opts);
    let vars = |user: &str, pw: &str| {
        vec![
            ("USER", user.to_string()),
            ("PASSWORD", pw.to_string()),
            ("DOMAIN", "sipwasm.test".to_string()),
        ]
    };
    // a wrong password is refused (SIPp gets a second 401 and fails the call)
    let mut wrong = Sipp::client(
        Scenario::File("uac_register.xml", vars("bob", "guess")),
        r.udp,
    );
    wrong.calls = 1;
    let out = wrong.run();
    assert_eq!(
        out.successful_calls, 0,
        "a wrong password must not register"
    );
    // bob registers from the port his callee will answer on
    let bob_port = free_port();
    let mut reg = Sipp::client(
        Scenario::File("uac_register.xml", vars("bob", "builder")),
        r.udp,
    );
    reg.port = Some(bob_port);
    assert_calls("bob registers", &reg.run(), 1);
    let mut bob = Sipp::server(Scenario::File("uas_rr.xml", vec![]), bob_port);
    bob.calls = 1;
    let bob = bob.spawn();
    // alice registers too, then calls bob with proxy authentication
    assert_calls(
        "alice registers",
        &Sipp::client(
            Scenario::File("uac_register.xml", vars("alice", "wonderland")),
            r.udp,
        )
        .run(),
        1,
    );
    let mut call_vars = vars("alice", "wonderland");
    call_vars.push(("CALLEE", "bob".into()));
    assert_calls(
        "alice calls bob",
        &Sipp::client(
            Scenario::File("uac_auth_call.xml", call_vars.clone()),
            r.udp,
        )
        .run(),
        1,
    );
    assert_calls("bob answers", &bob.wait(Duration::from_secs(10)), 1);
    // nobody registered as carol: 404 after authentication
    let mut refused_vars = vars("alice", "wonderland");
    refused_vars.extend([("CALLEE", "carol".to_string()), ("CODE", "404".to_string())]);
    assert_calls(
        "alice calls carol, who is not registered",
        &Sipp::client(Scenario::File("uac_auth_refused.xml", refused_vars), r.udp).run(),
        1,
    );
    // and a wrong password for the call gets a new challenge, never the callee
    let mut bad_vars = vars("alice", "guess");
    bad_vars.extend([("CALLEE", "bob".to_string()), ("CODE", "407".to_string())]);
    assert_calls(
        "alice with a wrong password",
        &Sipp::client(Scenario::File("uac_auth_refused.xml", bad_vars), r.udp).run(),
        1,
    );
}

#[test]
fn a_retransmission_racing_the_original_route_is_not_forwarded_twice() {
    let uas = FakeUas::new();
    let mut opts = proxy_opts(&uas.uri("callee"));
    opts.workers = 2;
    let r = TestRouter::start_with("probe", opts);
    let caller = UdpClient::new(r.udp);
    let invite = request("INVITE", "slowrelay", r.udp, caller.local(), "UDP", "");
    caller.send(invite.as_bytes());
    // the copy arrives while the first route (150 ms) still runs on the other worker
    std::thread::sleep(Duration::from_millis(30));
    caller.send(invite.as_bytes());
    let seen = uas.collect(Duration::from_millis(1200));
    // the proxy's own Timer A retransmissions share the branch: count client transactions
    let branches: HashSet<Vec<u8>> = seen
        .iter()
        .filter(|m| m.method() == Method::Invite)
        .map(|m| m.top_via().branch(m.as_bytes()).unwrap().to_vec())
        .collect();
    assert_eq!(
        branches.len(),
        1,
        "forwarded once: {} branches",
        branches.len()
    );
    let tm = &r.server().router().proxy().table().stats;
    assert_eq!(tm.branches.load(Ordering::Relaxed), 1);
    assert!(tm.retransmissions_absorbed.load(Ordering::Relaxed) >= 1);
}

#[test]
fn an_advertised_address_goes_into_via_and_record_route_and_is_myself() {
    let uas = FakeUas::new();
    let r = TestRouter::start_on(
        "probe",
        proxy_opts(&uas.uri("callee")),
        &[
            "udp:127.0.0.1:0 advertise proxy.example.net:5099",
            "tcp:127.0.0.1:0",
        ],
    );
    let caller = UdpClient::new(r.udp);
    caller.send(request("MESSAGE", "relay", r.udp, caller.local(), "UDP", "").as_bytes());
    let (fwd, from) = uas.recv_request(Duration::from_secs(2)).expect("relayed");
    let b = fwd.as_bytes();
    assert_eq!(fwd.top_via().host(b), b"proxy.example.net");
    assert_eq!(fwd.top_via().port, Some(5099));
    let rr = hdr(&fwd, "Record-Route").expect("Record-Route");
    assert!(
        rr.starts_with("<sip:proxy.example.net:5099;lr;sig="),
        "{rr}"
    );
    uas.respond(&fwd, from, 200, "OK", "callee");
    assert_eq!(
        caller.final_reply(Duration::from_secs(2)).unwrap().status(),
        Some(200)
    );
    // a request routed through the advertised address is ours: its Route entry is
    // consumed and it goes on to the next one
    let route = format!(
        "Route: <sip:proxy.example.net:5099;lr>, <sip:{};lr>\r\n",
        uas.addr
    );
    caller.send(request("BYE", "callee", r.udp, caller.local(), "UDP", &route).as_bytes());
    let (bye, _) = uas
        .recv_request(Duration::from_secs(2))
        .expect("routed BYE");
    let routes = hdr(&bye, "Route").unwrap_or_default();
    assert!(!routes.contains("proxy.example.net"), "{routes}");
}

#[test]
fn max_forwards_zero_gets_483() {
    let r = TestRouter::start_with("kemi_proxy", proxy_opts("sip:127.0.0.1:9"));
    let c = UdpClient::new(r.udp);
    let zero = request("OPTIONS", "x", r.udp, c.local(), "UDP", "")
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    c.send(zero.as_bytes());
    let reply = c.final_reply(Duration::from_secs(2)).unwrap();
    assert_eq!(
        (reply.status(), reply.reason()),
        (Some(483), Some(&b"Too Many Hops"[..]))
    );
}

#[test]
fn no_answer_ends_with_408_after_the_fr_timer() {
    let uas = FakeUas::new();
    let mut opts = proxy_opts(&uas.uri("silent"));
    opts.timers.fr = Duration::from_millis(800);
    let r = TestRouter::start_with("probe", opts);
    let c = UdpClient::new(r.udp);
    let t = Instant::now();
    c.send(request("MESSAGE", "relay", r.udp, c.local(), "UDP", "").as_bytes());
    let reply = c.final_reply(Duration::from_secs(3)).expect("408");
    assert_eq!(reply.status(), Some(408));
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(750) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    // the callee saw the request and its retransmissions, all one branch
    let got = uas.collect(Duration::from_millis(100));
    assert!(!got.is_empty());
}

#[test]
fn unreachable_destination_fails_the_relay() {
    let r = TestRouter::start_with("probe", proxy_opts("sip:nowhere.invalid"));
    let c = UdpClient::new(r.udp);
    let reply = c.ask("MESSAGE", "relay", "").unwrap();
    assert_eq!(reply.status(), Some(500));
    let reason = String::from_utf8_lossy(reply.reason().unwrap()).into_owned();
    assert!(
        reason.starts_with("relay failed: ") && reason.contains("NoDestination"),
        "{reason}"
    );
}

#[test]
fn stateless_forward_and_reply_back() {
    let uas = FakeUas::new();
    let r = TestRouter::start_with("probe", proxy_opts(&uas.uri("sl")));
    let c = UdpClient::new(r.udp);
    c.send(request("MESSAGE", "stateless", r.udp, c.local(), "UDP", "").as_bytes());
    let (fwd, from) = uas.recv_request(Duration::from_secs(2)).unwrap();
    assert!(
        fwd.top_via()
            .branch(fwd.as_bytes())
            .unwrap()
            .starts_with(b"z9hG4bKsl.")
    );
    uas.respond(&fwd, from, 202, "Accepted", "sl");
    let reply = c.final_reply(Duration::from_secs(2)).unwrap();
    assert_eq!(reply.status(), Some(202));
    assert_eq!(reply.vias().len(), 1);
    assert_eq!(
        r.server()
            .router()
            .proxy()
            .table()
            .stats
            .stateless_replies
            .load(Ordering::Relaxed),
        1
    );
}

#[test]
fn destination_from_dns_srv() {
    let uas = FakeUas::new();
    let dns = FakeDns::start(vec![
        (
            "_sip._udp.voice.test.".into(),
            Answer::Srv(10, 5, uas.addr.port(), "host1.voice.test.".into()),
        ),
        ("host1.voice.test.".into(), Answer::A([127, 0, 0, 1])),
    ]);
    let mut opts = proxy_opts("sip:bob@voice.test");
    opts.dns = sipwasm::dns::DnsSettings {
        servers: vec![dns.addr],
        timeout: Duration::from_secs(2),
    };
    let r = TestRouter::start_with("probe", opts);
    let c = UdpClient::new(r.udp);
    c.send(request("MESSAGE", "relay", r.udp, c.local(), "UDP", "").as_bytes());
    let (fwd, from) = uas
        .recv_request(Duration::from_secs(3))
        .expect("relayed via SRV");
    assert_eq!(
        fwd.request_uri().unwrap().as_bytes(fwd.as_bytes()),
        format!("sip:relay@{}", r.udp).as_bytes()
    );
    uas.respond(&fwd, from, 200, "OK", "srv");
    assert_eq!(
        c.final_reply(Duration::from_secs(2)).unwrap().status(),
        Some(200)
    );
    assert!(
        dns.queries()
            .iter()
            .any(|q| q.starts_with("_sip._udp.voice.test"))
    );
}

#[test]
fn dns_failover_to_the_next_srv_target_on_503_and_timeout() {
    // two SRV targets of equal priority, the heavier first most of the time: whichever
    // is tried first fails (503 or silence), the other gets the request
    let (a, b) = (FakeUas::new(), FakeUas::new());
    let dns = FakeDns::start(vec![
        (
            "_sip._udp.pool.test.".into(),
            Answer::Srv(10, 50, a.addr.port(), "a.pool.test.".into()),
        ),
        (
            "_sip._udp.pool.test.".into(),
            Answer::Srv(10, 50, b.addr.port(), "b.pool.test.".into()),
        ),
        ("a.pool.test.".into(), Answer::A([127, 0, 0, 1])),
        ("b.pool.test.".into(), Answer::A([127, 0, 0, 1])),
    ]);
    let mut opts = proxy_opts("sip:pool.test");
    opts.dns = sipwasm::dns::DnsSettings {
        servers: vec![dns.addr],
        timeout: Duration::from_secs(2),
    };
    opts.timers.fr = Duration::from_millis(700);
    let r = TestRouter::start_with("probe", opts);
    let first_of = |(m, from): (SipMessage, SocketAddr), uas: &FakeUas| (m, from, uas.addr);
    for failure in [503u16, 0] {
        let c = UdpClient::new(r.udp);
        c.send(request("MESSAGE", "relay", r.udp, c.local(), "UDP", "").as_bytes());
        // whichever target gets it first
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        let (first, second) = loop {
            if let Some(got) = a.recv_request(Duration::from_millis(50)) {
                break (first_of(got, &a), &b);
            }
            if let Some(got) = b.recv_request(Duration::from_millis(50)) {
                break (first_of(got, &b), &a);
            }
            assert!(std::time::Instant::now() < deadline, "nobody got it");
        };
        let (m, from, at) = first;
        let uas = if at == a.addr { &a } else { &b };
        if failure == 503 {
            uas.respond(&m, from, 503, "Service Unavailable", "down");
        }
        // failure 0: silence, until the fr timer (700 ms) fails it over
        let (fwd, from2) = second
            .recv_request(Duration::from_secs(3))
            .unwrap_or_else(|| panic!("no failover after {failure}"));
        second.respond(&fwd, from2, 200, "OK", "up");
        assert_eq!(
            c.final_reply(Duration::from_secs(3)).unwrap().status(),
            Some(200),
            "after {failure}"
        );
        // drain what the silent target got meanwhile (retransmissions)
        let _ = uas.collect(Duration::from_millis(100));
    }
}

#[test]
fn naptr_picks_the_transport() {
    // the domain prefers TCP through NAPTR: the request goes over TCP to its SRV target
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tcp.local_addr().unwrap().port();
    let dns = FakeDns::start(vec![
        (
            "naptr.test.".into(),
            Answer::Naptr(10, 10, "SIP+D2T", "_sip._tcp.naptr.test.".into()),
        ),
        (
            "naptr.test.".into(),
            Answer::Naptr(20, 10, "SIP+D2U", "_sip._udp.naptr.test.".into()),
        ),
        (
            "_sip._tcp.naptr.test.".into(),
            Answer::Srv(10, 1, port, "t.naptr.test.".into()),
        ),
        ("t.naptr.test.".into(), Answer::A([127, 0, 0, 1])),
    ]);
    let mut opts = proxy_opts("sip:naptr.test");
    opts.dns = sipwasm::dns::DnsSettings {
        servers: vec![dns.addr],
        timeout: Duration::from_secs(2),
    };
    let r = TestRouter::start_with("probe", opts);
    let c = UdpClient::new(r.udp);
    c.send(request("MESSAGE", "relay", r.udp, c.local(), "UDP", "").as_bytes());
    tcp.set_nonblocking(false).unwrap();
    let (mut conn, _) = tcp.accept().expect("the router connects over TCP");
    conn.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut buf = [0u8; 4096];
    let n = std::io::Read::read(&mut conn, &mut buf).unwrap();
    assert!(
        buf[..n].starts_with(b"MESSAGE sip:relay@"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    assert!(
        dns.queries()
            .iter()
            .any(|q| q.starts_with("naptr.test") && q.contains("NAPTR"))
    );
}

/// The answer a [`FakeDns`] gives for a name.
pub enum Answer {
    Srv(u16, u16, u16, String),
    A([u8; 4]),
    /// order, preference, service (`SIP+D2T`), replacement
    Naptr(u16, u16, &'static str, String),
}

/// A tiny authoritative DNS server on 127.0.0.1 for the SRV test.
pub struct FakeDns {
    pub addr: SocketAddr,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FakeDns {
    pub fn start(zone: Vec<(String, Answer)>) -> FakeDns {
        use hickory_proto::op::{Message, MessageType, ResponseCode};
        use hickory_proto::rr::rdata::{A, SRV};
        use hickory_proto::rr::{Name, RData, Record};
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (l, s) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !s.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(q) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let mut resp = Message::new(q.id, MessageType::Response, q.op_code);
                resp.metadata.authoritative = true;
                resp.metadata.recursion_desired = q.metadata.recursion_desired;
                let mut found = false;
                for query in &q.queries {
                    let name = query.name().to_ascii().to_lowercase();
                    l.lock()
                        .unwrap()
                        .push(format!("{name} {:?}", query.query_type()));
                    resp.add_query(query.clone());
                    for (zname, ans) in &zone {
                        if *zname != name {
                            continue;
                        }
                        let owner = Name::from_ascii(&name).unwrap();
                        let rec = match ans {
                            Answer::Srv(p, w, port, target)
                                if query.query_type() == hickory_proto::rr::RecordType::SRV =>
                            {
                                Record::from_rdata(
                                    owner,
                                    60,
                                    RData::SRV(SRV::new(
                                        *p,
                                        *w,
                                        *port,
                                        Name::from_ascii(target).unwrap(),
                                    )),
                                )
                            }
                            Answer::Naptr(order, pref, service, replacement)
                                if query.query_type() == hickory_proto::rr::RecordType::NAPTR =>
                            {
                                Record::from_rdata(
                                    owner,
                                    60,
                                    RData::NAPTR(hickory_proto::rr::rdata::NAPTR::new(
                                        *order,
                                        *pref,
                                        b"s".to_vec().into_boxed_slice(),
                                        service.as_bytes().to_vec().into_boxed_slice(),
                                        Vec::new().into_boxed_slice(),
                                        Name::from_ascii(replacement).unwrap(),
                                    )),
                                )
                            }
                            Answer::A(ip)
                                if query.query_type() == hickory_proto::rr::RecordType::A =>
                            {
                                Record::from_rdata(
                                    owner,
                                    60,
                                    RData::A(A::new(ip[0], ip[1], ip[2], ip[3])),
                                )
                            }
                            _ => continue,
                        };
                        resp.add_answer(rec);
                        found = true;
                    }
                }
                if !found {
                    resp.metadata.response_code = ResponseCode::NXDomain;
                }
                if let Ok(bytes) = resp.to_vec() {
                    let _ = sock.send_to(&bytes, from);
                }
            }
        });
        FakeDns { addr, log, stop }
    }

    pub fn queries(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// "Forwarded once": whatever else reached the callee is the proxy's own retransmission
/// (Timer A / E) of `first`, never a second client transaction.
fn only_retransmissions_of(first: &SipMessage, seen: &[SipMessage]) {
    for m in seen {
        assert_eq!(m.method(), first.method());
        assert_eq!(
            m.top_via().branch(m.as_bytes()),
            first.top_via().branch(first.as_bytes())
        );
    }
}

/// An RFC 4475 message from the corpus, its Via pointed back at `client`.
fn corpus_message(name: &str, via_host: &str, client: SocketAddr) -> Vec<u8> {
    let path = root().join(format!(
        "host/proto/tests-data/conformance/rfc4475/{name}.dat"
    ));
    let text = String::from_utf8(std::fs::read(path).unwrap()).unwrap();
    text.replacen(via_host, &client.to_string(), 1).into_bytes()
}

#[test]
fn rfc2543_transactions_are_matched_without_the_magic_cookie() {
    // inv2543: no branch, no Max-Forwards, no tags, no Content-Length
    let uas = FakeUas::new();
    let r = TestRouter::start_with("kemi_proxy", proxy_opts(&uas.uri("userb")));
    let c = UdpClient::new(r.udp);
    let invite = corpus_message("inv2543", "iftgw.example.com", c.local());
    c.send(&invite);
    let (fwd, from) = uas
        .recv_request(Duration::from_secs(2))
        .expect("forwarded INVITE");
    assert_eq!(
        fwd.max_forwards(),
        Some(10),
        "process_maxfwd(10) adds the missing header"
    );
    assert!(fwd.body().starts_with(b"v=0"));
    // the retransmission is absorbed and answered with the 100 again
    c.send(&invite);
    let statuses: Vec<u16> = std::iter::from_fn(|| c.recv(Duration::from_millis(300)))
        .filter_map(|b| SipMessage::parse(b).ok()?.status())
        .collect();
    assert_eq!(statuses, [100, 100]);
    only_retransmissions_of(&fwd, &uas.collect(Duration::from_millis(100)));
    uas.respond(&fwd, from, 486, "Busy Here", "b2543");
    let busy = c.final_reply(Duration::from_secs(2)).unwrap();
    assert_eq!(busy.status(), Some(486));
    let (ack, _) = uas.recv_request(Duration::from_secs(2)).unwrap();
    assert_eq!(ack.method(), Method::Ack);
    // the caller's ACK, RFC 2543 style: same top Via, the To tag of the reply
    let ack = String::from_utf8(invite)
        .unwrap()
        .replacen("INVITE sip:", "ACK sip:", 1)
        .replace("CSeq: 56 INVITE", "CSeq: 56 ACK")
        .replace("user=phone\r\nCall-ID", "user=phone;tag=b2543\r\nCall-ID");
    let ack = &ack[..ack.find("\r\n\r\n").unwrap() + 4];
    c.send(ack.as_bytes());
    let tm = &r.server().router().proxy().table().stats;
    assert!(wait_until(Duration::from_secs(1), || tm
        .acks_absorbed
        .load(Ordering::Relaxed)
        == 1));
    assert!(
        uas.collect(Duration::from_millis(200)).is_empty(),
        "the ACK stays hop by hop"
    );

    // badbranch: `branch=z9hG4bK` and nothing after the cookie
    let c = UdpClient::new(r.udp);
    let options = corpus_message("badbranch", "192.0.2.1", c.local());
    c.send(&options);
    let (fwd, from) = uas
        .recv_request(Duration::from_secs(2))
        .expect("forwarded OPTIONS");
    assert_eq!(fwd.max_forwards(), Some(2));
    c.send(&options);
    only_retransmissions_of(&fwd, &uas.collect(Duration::from_millis(300)));
    uas.respond(&fwd, from, 200, "OK", "opt");
    assert_eq!(
        c.final_reply(Duration::from_secs(2)).unwrap().status(),
        Some(200)
    );
    // retransmitted again after the answer: the stored 200 is sent again
    c.send(&options);
    assert_eq!(
        c.final_reply(Duration::from_secs(2)).unwrap().status(),
        Some(200)
    );
    only_retransmissions_of(&fwd, &uas.collect(Duration::from_millis(200)));
    assert!(tm.retransmissions_absorbed.load(Ordering::Relaxed) >= 3);
}

/// An in-dialog request from `from` (its tag `from_tag`, To tag `to_tag`) to `ruri` along
/// `route`, in call `call_id`.
fn dialog_request(
    method: &str,
    ruri: &str,
    from: &FakeUas,
    tags: (&str, &str),
    call_id: &str,
    cseq: u32,
    extra: &str,
) -> String {
    format!(
        "{method} {ruri} SIP/2.0\r\n\
Via: SIP/2.0/UDP {};branch=z9hG4bK-{call_id}-{method}-{cseq};rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:a@example.com>;tag={}\r\n\
To: <sip:b@example.com>;tag={}\r\n\
Call-ID: {call_id}\r\n\
CSeq: {cseq} {method}\r\n\
{extra}Content-Length: 0\r\n\r\n",
        from.addr, tags.0, tags.1
    )
}

/// A call from `alice` (tag a1) through the probe's `relay` to `bob`, who answers 200
/// (tag b1): returns the Record-Route of the dialog and the 200 alice got.
fn answered_call(
    r: &TestRouter,
    alice: &FakeUas,
    bob: &FakeUas,
    call: &str,
) -> (String, SipMessage) {
    let invite = format!(
        "INVITE sip:relay@{} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bK-{call};rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=a1\r\nTo: <sip:b@example.com>\r\n\
Call-ID: {call}\r\nCSeq: 1 INVITE\r\nContact: <{}>\r\nContent-Length: 0\r\n\r\n",
        r.udp,
        alice.addr,
        alice.uri("alice")
    );
    alice.sock.send_to(invite.as_bytes(), r.udp).unwrap();
    let (fwd, from) = bob
        .recv_request(Duration::from_secs(2))
        .expect("the INVITE");
    let route = hdr(&fwd, "Record-Route").expect("record-routed");
    bob.respond(&fwd, from, 200, "OK", "b1");
    let ok = recv_matching(&alice.sock, Duration::from_secs(2), |m| {
        m.status() == Some(200)
    })
    .expect("the 200");
    (route, ok)
}

#[test]
fn a_branch_route_cannot_take_a_dialog_request_elsewhere() {
    // t_relay checks where an in-dialog request goes; a branch route may change $du
    // after that (per-branch NAT handling does): the branch is still sent to the other
    // side of the dialog only, else it fails with 403 and nothing reaches the victim
    let bob = FakeUas::new();
    let r = TestRouter::start_with("probe", proxy_opts(&bob.uri("callee")));
    let alice = FakeUas::bind("127.0.0.2:0");
    let victim = FakeUas::bind("127.0.0.4:0");
    let call = "branch-du-1";
    let (route, _) = answered_call(&r, &alice, &bob, call);
    let message = |cseq: u32, du: &str| {
        dialog_request(
            "MESSAGE",
            &bob.uri("uas"),
            &alice,
            ("a1", "b1"),
            call,
            cseq,
            &format!("Route: {route}\r\nX-Branch-Du: {du}\r\n"),
        )
    };
    // to bob, through the branch route: relayed
    alice
        .sock
        .send_to(message(2, &bob.uri("uas")).as_bytes(), r.udp)
        .unwrap();
    let (m, from) = bob.recv_request(Duration::from_secs(2)).expect("relayed");
    assert_eq!(m.cseq().number, 2);
    bob.respond(&m, from, 200, "OK", "b1");
    // to the victim: refused
    alice
        .sock
        .send_to(message(3, &victim.uri("victim")).as_bytes(), r.udp)
        .unwrap();
    let answer = recv_matching(&alice.sock, Duration::from_secs(3), |m| {
        m.status().is_some_and(|c| c >= 200) && m.cseq().number == 3
    })
    .expect("an answer");
    assert_eq!(answer.status(), Some(403));
    assert!(victim.recv_request(Duration::from_millis(300)).is_none());
}

#[test]
fn a_target_refresh_moves_the_dialog_only_when_accepted() {
    // RFC 3261 §12.2: the remote target changes with the 2xx of a target refresh. A
    // re-INVITE with a new Contact that the callee refuses (491) leaves the caller where
    // it was: the callee's next request still reaches it there. (Contacts are the next
    // hops of a dialog whose messages come through a trusted peer; the others are
    // reached where their packets come from.)
    let bob = FakeUas::new();
    let mut opts = proxy_opts(&bob.uri("callee"));
    opts.trusted_peers = vec!["127.0.0.1/32".parse().unwrap()];
    let r = TestRouter::start_with("probe", opts);
    let alice = FakeUas::new();
    let alice_moved = FakeUas::new();
    let call = "refresh-1";
    let (route, ok) = answered_call(&r, &alice, &bob, call);
    assert_eq!(hdr(&ok, "Record-Route").as_deref(), Some(route.as_str()));
    let by_alice = |method: &str, cseq: u32, extra: &str| {
        dialog_request(
            method,
            &bob.uri("uas"),
            &alice,
            ("a1", "b1"),
            call,
            cseq,
            &format!("Route: {route}\r\n{extra}"),
        )
    };
    let by_bob = |method: &str, to: &FakeUas, cseq: u32| {
        dialog_request(
            method,
            &to.uri("alice"),
            &bob,
            ("b1", "a1"),
            call,
            cseq,
            &format!("Route: {route}\r\n"),
        )
    };
    alice
        .sock
        .send_to(by_alice("ACK", 1, "").as_bytes(), r.udp)
        .unwrap();
    let (ack, _) = bob.recv_request(Duration::from_secs(2)).expect("the ACK");
    assert_eq!(ack.method(), Method::Ack);
    // a re-INVITE moving alice, refused
    let moved = format!("Contact: <{}>\r\n", alice_moved.uri("alice"));
    alice
        .sock
        .send_to(by_alice("INVITE", 2, &moved).as_bytes(), r.udp)
        .unwrap();
    let (reinvite, from) = bob.recv_request(Duration::from_secs(2)).expect("re-INVITE");
    bob.respond(&reinvite, from, 491, "Request Pending", "b1");
    let pending = recv_matching(&alice.sock, Duration::from_secs(2), |m| {
        m.status() == Some(491)
    });
    assert!(pending.is_some(), "the 491");
    // bob's next request still goes to alice where she was
    bob.sock
        .send_to(by_bob("OPTIONS", &alice, 1).as_bytes(), r.udp)
        .unwrap();
    let (options, _) = alice
        .recv_request(Duration::from_secs(2))
        .expect("bob's OPTIONS reaches alice's old Contact");
    assert_eq!(options.method(), Method::Options);
    // accepted this time: from now on alice is at her new Contact
    alice
        .sock
        .send_to(by_alice("INVITE", 3, &moved).as_bytes(), r.udp)
        .unwrap();
    let (reinvite, from) = loop {
        let (m, from) = bob.recv_request(Duration::from_secs(2)).expect("re-INVITE");
        if m.cseq().number == 3 {
            break (m, from);
        }
    };
    bob.respond(&reinvite, from, 200, "OK", "b1");
    assert!(
        recv_matching(&alice.sock, Duration::from_secs(2), |m| {
            m.status() == Some(200) && m.cseq().number == 3
        })
        .is_some()
    );
    bob.sock
        .send_to(by_bob("OPTIONS", &alice, 2).as_bytes(), r.udp)
        .unwrap();
    let refused = recv_matching(&bob.sock, Duration::from_secs(2), |m| {
        m.status().is_some_and(|c| c >= 200) && m.cseq().number == 2
    })
    .expect("an answer");
    assert_eq!(
        refused.status(),
        Some(403),
        "the old target is no longer the dialog's"
    );
    bob.sock
        .send_to(by_bob("BYE", &alice_moved, 3).as_bytes(), r.udp)
        .unwrap();
    let (bye, _) = alice_moved
        .recv_request(Duration::from_secs(2))
        .expect("bob's BYE reaches alice's new Contact");
    assert_eq!(bye.method(), Method::Bye);
}

#[test]
fn a_notify_before_the_2xx_of_its_subscribe_reaches_the_subscriber() {
    // RFC 6665 §4.1.2.4: the notifier may send its first NOTIFY before its 2xx reaches
    // the router; refusing it would end the subscription
    let bob = FakeUas::new();
    let r = TestRouter::start_with("probe", proxy_opts(&bob.uri("callee")));
    let alice = FakeUas::new();
    // another host than alice's: nothing of her subscription may go there
    let victim = FakeUas::bind("127.0.0.4:0");
    let call = "subscribe-1";
    let subscribe = format!(
        "SUBSCRIBE sip:relay@{} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bK-sub-1;rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=a1\r\nTo: <sip:b@example.com>\r\n\
Call-ID: {call}\r\nCSeq: 1 SUBSCRIBE\r\nContact: <{}>\r\nEvent: presence\r\n\
Expires: 600\r\nContent-Length: 0\r\n\r\n",
        r.udp,
        alice.addr,
        alice.uri("alice")
    );
    alice.sock.send_to(subscribe.as_bytes(), r.udp).unwrap();
    let (fwd, from) = bob
        .recv_request(Duration::from_secs(2))
        .expect("the SUBSCRIBE");
    let route = hdr(&fwd, "Record-Route").expect("record-routed");
    let notify = |to: &FakeUas, cseq: u32| {
        dialog_request(
            "NOTIFY",
            &to.uri("alice"),
            &bob,
            ("b1", "a1"),
            call,
            cseq,
            &format!(
                "Route: {route}\r\nContact: <{}>\r\nEvent: presence\r\n\
Subscription-State: active;expires=600\r\n",
                bob.uri("bob")
            ),
        )
    };
    // to the subscriber: relayed; anywhere else: refused
    bob.sock
        .send_to(notify(&alice, 1).as_bytes(), r.udp)
        .unwrap();
    let (first, _) = alice
        .recv_request(Duration::from_secs(2))
        .expect("the NOTIFY that came before the 202");
    assert_eq!(first.method(), Method::Notify);
    bob.sock
        .send_to(notify(&victim, 2).as_bytes(), r.udp)
        .unwrap();
    let refused = recv_matching(&bob.sock, Duration::from_secs(2), |m| {
        m.status().is_some_and(|c| c >= 200) && m.cseq().number == 2
    })
    .expect("an answer");
    assert_eq!(refused.status(), Some(403));
    // the 202 records the dialog; later NOTIFYs follow it
    bob.respond(&fwd, from, 202, "Accepted", "b1");
    assert!(
        recv_matching(&alice.sock, Duration::from_secs(2), |m| m.status()
            == Some(202))
        .is_some()
    );
    bob.sock
        .send_to(notify(&alice, 3).as_bytes(), r.udp)
        .unwrap();
    let next = loop {
        let (m, _) = alice
            .recv_request(Duration::from_secs(2))
            .expect("the next NOTIFY");
        if m.cseq().number == 3 {
            break m;
        }
    };
    assert_eq!(next.method(), Method::Notify);
    assert!(victim.recv_request(Duration::from_millis(200)).is_none());
}
