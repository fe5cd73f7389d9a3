//! Non-SIP packets (`event_route[nosip:msg]`) and suspended transactions (`t_suspend` /
//! `t_continue`) with real sockets: raw UDP and TCP clients, an "application" socket that
//! receives the suspended ids, and SIPp callers and callees.

use crate::harness::*;
use sipwasm_proto::SipMessage;
use sipwasm_routing::{NosipFilter, UdpAllow};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A UDP socket on `ip` that plays the outside application.
struct App {
    sock: UdpSocket,
}

impl App {
    fn on(ip: &str) -> App {
        let sock = UdpSocket::bind((ip, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        App { sock }
    }

    fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    fn recv(&self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 65536];
        while Instant::now() < deadline {
            if let Ok((n, _)) = self.sock.recv_from(&mut buf) {
                return Some(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
        None
    }

    fn send(&self, to: SocketAddr, data: &str) {
        self.sock.send_to(data.as_bytes(), to).unwrap();
    }
}

/// The (tindex, tlabel, call-id) of a `SUSPENDED:i:l:call-id` datagram.
fn suspended_ids(msg: &str) -> (u32, u32, String) {
    let mut parts = msg.splitn(4, ':');
    assert_eq!(parts.next(), Some("SUSPENDED"), "{msg}");
    let i = parts.next().unwrap().parse().unwrap();
    let l = parts.next().unwrap().parse().unwrap();
    (i, l, parts.next().unwrap_or_default().to_string())
}

fn resume_opts(app: &App) -> RouterOpts {
    let mut o = RouterOpts::default();
    o.config.insert("app_addr".into(), app.addr().to_string());
    o.udp_allow = UdpAllow::parse(&[app.addr().to_string()]).unwrap();
    o.nosip = NosipFilter::new(32, "^:KREQUEST-", "").unwrap();
    o
}

fn status_of(data: &[u8]) -> u16 {
    SipMessage::parse(bytes::Bytes::copy_from_slice(data))
        .expect("router output parses")
        .status()
        .expect("a reply")
}

fn resume_packet(i: u32, l: u32) -> String {
    format!(":KREQUEST-RESUME-TRANSACTION:{i}:{l}:RESUME:")
}

#[test]
fn a_suspended_invite_is_resumed_by_a_nosip_packet_and_answered() {
    let app = App::on("127.0.0.1");
    let r = TestRouter::start_with("nosip_resume", resume_opts(&app));
    let caller = UdpClient::new(r.udp);
    let invite = request("INVITE", "bob", r.udp, caller.local(), "UDP", "");
    caller.send(invite.as_bytes());
    let trying = caller.recv(Duration::from_secs(2)).expect("100 Trying");
    assert_eq!(status_of(&trying), 100);
    let (i, l, call_id) = suspended_ids(&app.recv(Duration::from_secs(2)).expect("ids sent"));
    assert!(
        invite.contains(&format!("Call-ID: {call_id}\r\n")),
        "{call_id}"
    );
    // a retransmission while suspended is absorbed (100 again), the app hears nothing new
    caller.send(invite.as_bytes());
    assert_eq!(
        status_of(&caller.recv(Duration::from_secs(2)).unwrap()),
        100
    );
    assert_eq!(app.recv(Duration::from_millis(300)), None);
    assert!(
        caller.recv(Duration::from_millis(300)).is_none(),
        "nothing before the resume"
    );
    app.send(r.udp, &resume_packet(i, l));
    let ok = caller
        .final_reply(Duration::from_secs(2))
        .expect("200 after resume");
    assert_eq!(ok.status(), Some(200));
    assert!(hdr(&ok, "Contact").is_some_and(|c| c.contains(&r.udp.to_string())));
    // the same ids again: not suspended any more, and the sender is told
    app.send(r.udp, &resume_packet(i, l));
    let err = app.recv(Duration::from_secs(2)).expect("error answer");
    assert!(err.starts_with(&format!("ERROR:{i}:{l}:")), "{err}");
    let tm = &r.server().router().proxy().table().stats;
    assert_eq!(tm.suspended.load(Ordering::Relaxed), 1);
    assert_eq!(tm.resumed.load(Ordering::Relaxed), 1);
}

#[test]
fn untrusted_and_bad_resumes_are_refused_and_the_call_ends_with_408() {
    let app = App::on("127.0.0.1");
    let mut opts = resume_opts(&app);
    opts.timers.fr = Duration::from_millis(1500);
    let r = TestRouter::start_with("nosip_resume", opts);
    let caller = UdpClient::new(r.udp);
    caller.send(request("INVITE", "bob", r.udp, caller.local(), "UDP", "").as_bytes());
    let (i, l, _) = suspended_ids(&app.recv(Duration::from_secs(2)).expect("ids sent"));
    // the right ids from an untrusted address: ignored, no answer either way
    let stranger = App::on("127.0.0.2");
    stranger.send(r.udp, &resume_packet(i, l));
    assert_eq!(stranger.recv(Duration::from_millis(300)), None);
    // wrong label, unknown index: an error answer, nothing resumed
    app.send(r.udp, &resume_packet(i, l.wrapping_add(1000)));
    let err = app.recv(Duration::from_secs(2)).expect("error answer");
    assert!(err.contains("NoTransaction"), "{err}");
    app.send(r.udp, &resume_packet(i + 500, l));
    assert!(
        app.recv(Duration::from_secs(2))
            .unwrap()
            .contains("NoTransaction")
    );
    // malformed resume packets are not acted on at all
    app.send(r.udp, ":KREQUEST-RESUME-TRANSACTION:x:y:RESUME:");
    assert_eq!(app.recv(Duration::from_millis(200)), None);
    let (code, _) = caller
        .final_status(Duration::from_secs(4))
        .expect("a final reply");
    assert_eq!(code, 408, "the fr timer answers the never-resumed call");
    // after the timeout the ids are stale
    app.send(r.udp, &resume_packet(i, l));
    let late = app.recv(Duration::from_secs(2)).expect("error answer");
    assert!(late.starts_with("ERROR:"), "{late}");
    assert_eq!(
        r.server()
            .router()
            .proxy()
            .table()
            .stats
            .resumed
            .load(Ordering::Relaxed),
        0
    );
}

#[test]
fn cancel_of_a_suspended_invite_gets_487() {
    let app = App::on("127.0.0.1");
    let r = TestRouter::start_with("nosip_resume", resume_opts(&app));
    let caller = UdpClient::new(r.udp);
    let invite = request("INVITE", "bob", r.udp, caller.local(), "UDP", "");
    caller.send(invite.as_bytes());
    let (i, l, _) = suspended_ids(&app.recv(Duration::from_secs(2)).expect("ids sent"));
    let cancel = invite
        .replacen("INVITE sip:", "CANCEL sip:", 1)
        .replace(" INVITE\r\n", " CANCEL\r\n");
    caller.send(cancel.as_bytes());
    let mut codes = Vec::new();
    while let Some(d) = caller.recv(Duration::from_millis(700)) {
        let m = SipMessage::parse(d).unwrap();
        codes.push((m.status().unwrap(), m.cseq().method));
    }
    // the CANCEL is answered first, then the INVITE (the 487 may be retransmitted)
    let finals: Vec<_> = codes.iter().filter(|(c, _)| *c >= 200).collect();
    assert!(
        finals.len() >= 2
            && *finals[0] == (200, sipwasm_proto::Method::Cancel)
            && *finals[1] == (487, sipwasm_proto::Method::Invite),
        "{codes:?}"
    );
    app.send(r.udp, &resume_packet(i, l));
    assert!(
        app.recv(Duration::from_secs(2))
            .unwrap()
            .starts_with("ERROR:")
    );
}

#[test]
fn t_continue_from_another_request_keeps_the_suspended_state() {
    let app = App::on("127.0.0.1");
    let mut opts = RouterOpts::default();
    opts.config.insert("app".into(), app.addr().to_string());
    opts.udp_allow = UdpAllow::parse(&[app.addr().to_string()]).unwrap();
    let r = TestRouter::start_with("probe", opts);
    let caller = UdpClient::new(r.udp);
    caller.send(request("MESSAGE", "suspend", r.udp, caller.local(), "UDP", "").as_bytes());
    let got = app.recv(Duration::from_secs(2)).expect("ids sent");
    let fields: Vec<&str> = got.split(':').collect();
    assert_eq!(fields.len(), 6, "{got}");
    // $T(id_index)/$T(id_label) equal the returned ids; a second t_suspend is idempotent
    assert_eq!((fields[1], fields[2]), (fields[3], fields[4]), "{got}");
    assert_eq!(fields[5], "true");
    let (i, l) = (fields[1], fields[2]);
    let other = UdpClient::new(r.udp);
    let bad = other
        .ask("OPTIONS", "continue", "X-Resume: 4000000:1\r\n")
        .unwrap();
    assert_eq!(
        hdr(&bad, "X-Continue").unwrap(),
        "Err(Error::NoTransaction)"
    );
    let bad_route = other
        .ask(
            "OPTIONS",
            "continue",
            &format!("X-Resume: {i}:{l}:bad route\r\n"),
        )
        .unwrap();
    assert!(hdr(&bad_route, "X-Continue").unwrap().contains("Invalid"));
    let ok = other
        .ask("OPTIONS", "continue", &format!("X-Resume: {i}:{l}\r\n"))
        .unwrap();
    assert_eq!(hdr(&ok, "X-Continue").unwrap(), "Ok(())");
    let resumed = caller.final_reply(Duration::from_secs(2)).expect("resumed");
    assert_eq!(resumed.status(), Some(200));
    assert_eq!(hdr(&resumed, "X-Resumed").unwrap(), i);
    assert_eq!(hdr(&resumed, "X-Avp").unwrap(), "set-after-suspend");
    assert_eq!(hdr(&resumed, "X-Flag9").unwrap(), "true");
    assert_eq!(hdr(&resumed, "X-Rm").unwrap(), "MESSAGE");
    let again = other
        .ask("OPTIONS", "continue", &format!("X-Resume: {i}:{l}\r\n"))
        .unwrap();
    assert_eq!(
        hdr(&again, "X-Continue").unwrap(),
        "Err(Error::NotSuspended)"
    );
    // from a non-SIP packet too, and a suspended request cannot be relayed or answered
    // in the same route
    caller.send(request("MESSAGE", "twice", r.udp, caller.local(), "UDP", "").as_bytes());
    let twice = app.recv(Duration::from_secs(2)).expect("twice report");
    assert!(
        twice.starts_with("TWICE:Err(Error::Invalid(")
            && twice.matches("Err(Error::Invalid(").count() == 2,
        "{twice}"
    );
}

#[test]
fn net_send_udp_is_denied_unless_granted() {
    let app = App::on("127.0.0.1");
    let mut opts = RouterOpts::default();
    opts.config.insert("app".into(), app.addr().to_string());
    // no udp_allow: the suspend route's send fails, so the route fails and the request
    // gets the fallback answer; the transaction its t_suspend made goes with the failed
    // route (nothing could ever resume it)
    let r = TestRouter::start_with("probe", opts);
    let caller = UdpClient::new(r.udp);
    let message = request("MESSAGE", "suspend", r.udp, caller.local(), "UDP", "");
    caller.send(message.as_bytes());
    let reply = caller
        .final_reply(Duration::from_secs(3))
        .expect("fallback reply");
    assert_eq!(reply.status(), Some(500));
    assert_eq!(app.recv(Duration::from_millis(300)), None);
    let table = r.server().router().proxy().table();
    assert_eq!(table.len(), 0, "no transaction left suspended");
    // so a retransmission is routed again (a leftover transaction would swallow it)
    caller.send(message.as_bytes());
    let again = caller
        .final_reply(Duration::from_secs(3))
        .expect("fallback reply again");
    assert_eq!(again.status(), Some(500));
    assert_eq!(table.len(), 0);
}

fn echo_router(filter: NosipFilter) -> TestRouter {
    let opts = RouterOpts {
        nosip: filter,
        ..RouterOpts::default()
    };
    TestRouter::start_with("probe", opts)
}

#[test]
fn keepalives_and_short_packets_never_reach_the_plugin() {
    let r = echo_router(NosipFilter::default());
    let c = UdpClient::new(r.udp);
    for junk in [&b"\r\n\r\n"[..], b"\r\n", b"\0", b"ping", &[b'x'; 31]] {
        c.send(junk);
    }
    assert!(c.recv(Duration::from_millis(400)).is_none(), "no echo");
    let long = "this is not SIP but it is long enough to count";
    c.send(long.as_bytes());
    let echo = c.recv(Duration::from_secs(2)).expect("echo");
    // $rm is a SIP name: $null in a non-SIP event
    assert_eq!(
        &echo[..],
        format!("ECHO {} udp 127.0.0.1 <null>", long.len()).as_bytes()
    );
    let stats = r.server().router().stats();
    assert_eq!(stats.nosip_events.load(Ordering::Relaxed), 1);
    assert_eq!(stats.nosip_ignored.load(Ordering::Relaxed), 2);
    assert_eq!(stats.keepalives.load(Ordering::Relaxed), 2 + 1);
    assert_eq!(
        stats.malformed.load(Ordering::Relaxed),
        0,
        "non-SIP is not malformed SIP"
    );
    // a broken SIP message is still SIP: 400, not a nosip event
    let broken = request("OPTIONS", "pv", r.udp, c.local(), "UDP", "").replace("CSeq: ", "CSeq: x");
    c.send(broken.as_bytes());
    let (code, _) = c.final_status(Duration::from_secs(2)).expect("400");
    assert_eq!(code, 400);
}

#[test]
fn msg_match_selects_and_msg_skip_skips() {
    let r = echo_router(NosipFilter::new(8, "^(KREQUEST|GET) ", "^GET ").unwrap());
    let c = UdpClient::new(r.udp);
    c.send(b"GET / HTTP/1.0\r\nHost: probe\r\n\r\n");
    c.send(b"HELLO there, this does not match msg_match");
    assert!(c.recv(Duration::from_millis(400)).is_none());
    c.send(b"KREQUEST something");
    assert!(
        c.recv(Duration::from_secs(2))
            .unwrap()
            .starts_with(b"ECHO 18 udp")
    );
}

#[test]
fn a_tcp_connection_that_is_not_sip_gets_one_event_per_line() {
    use std::io::{Read, Write};
    let r = echo_router(NosipFilter::new(4, "", "").unwrap());
    let mut s = std::net::TcpStream::connect(r.tcp).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.write_all(b"first line of text\r\n\r\nsecond\nno")
        .unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline
        && got.len() < "ECHO 18 tcp 127.0.0.1 <null>ECHO 6 tcp 127.0.0.1 <null>".len()
    {
        let mut buf = [0u8; 256];
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    // the lines may be handled by different workers: either order
    let got = String::from_utf8_lossy(&got).into_owned();
    assert!(
        got == "ECHO 18 tcp 127.0.0.1 <null>ECHO 6 tcp 127.0.0.1 <null>"
            || got == "ECHO 6 tcp 127.0.0.1 <null>ECHO 18 tcp 127.0.0.1 <null>",
        "{got}"
    );
    // SIP on another connection is unaffected
    let mut sip = TcpClient::connect(r.tcp);
    assert_eq!(sip.ask("OPTIONS", "named", "").unwrap().status(), Some(200));
}

#[test]
fn suspended_sipp_calls_are_resumed_and_relayed_end_to_end() {
    let _sipp = sipp_lock();
    let app = App::on("127.0.0.1");
    let uas_port = free_port();
    let mut opts = resume_opts(&app);
    opts.config
        .insert("next_hop".into(), format!("sip:127.0.0.1:{uas_port}"));
    let r = TestRouter::start_with("nosip_resume", opts);
    let mut uas = Sipp::server(Scenario::Builtin("uas"), uas_port);
    uas.calls = 5;
    let uas = uas.spawn();
    // the application: resume every suspended call it hears about
    let stop = Arc::new(AtomicBool::new(false));
    let resumer = {
        let (stop, router) = (stop.clone(), r.udp);
        std::thread::spawn(move || {
            let mut resumed = 0;
            while !stop.load(Ordering::Relaxed) {
                if let Some(msg) = app.recv(Duration::from_millis(100)) {
                    let (i, l, _) = suspended_ids(&msg);
                    app.send(router, &resume_packet(i, l));
                    resumed += 1;
                }
            }
            resumed
        })
    };
    let mut uac = Sipp::client(Scenario::Builtin("uac"), r.udp);
    uac.calls = 5;
    uac.rate = 10;
    let out = uac.run();
    stop.store(true, Ordering::Relaxed);
    let resumed = resumer.join().unwrap();
    assert_calls("uac through suspend/resume", &out, 5);
    assert_calls("uas", &uas.wait(Duration::from_secs(10)), 5);
    assert_eq!(resumed, 5, "each INVITE suspended once");
}

#[test]
fn ten_thousand_non_sip_packets_during_sipp_calls_fail_no_call() {
    let _sipp = sipp_lock();
    let uas_port = free_port();
    let mut opts = RouterOpts::default();
    opts.config
        .insert("next_hop".into(), format!("sip:127.0.0.1:{uas_port}"));
    let r = TestRouter::start_with("kemi_proxy", opts);
    let mut uas = Sipp::server(Scenario::Builtin("uas"), uas_port);
    uas.calls = 100;
    let uas = uas.spawn();
    let flood = {
        let target = r.udp;
        std::thread::spawn(move || {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            let started = Instant::now();
            for n in 0..10_000u32 {
                let packet = format!("NOT-SIP packet number {n:05} with some padding\r\n");
                let _ = s.send_to(packet.as_bytes(), target);
                // about 5000 a second, bounded to 10 s whatever happens
                if n % 50 == 49 {
                    std::thread::sleep(Duration::from_millis(10));
                }
                if started.elapsed() > Duration::from_secs(10) {
                    break;
                }
            }
        })
    };
    let mut uac = Sipp::client(Scenario::Builtin("uac"), r.udp);
    uac.calls = 100;
    uac.rate = 50;
    let out = uac.run();
    flood.join().unwrap();
    assert_calls("uac during the flood", &out, 100);
    assert_calls(
        "uas during the flood",
        &uas.wait(Duration::from_secs(10)),
        100,
    );
    let stats = r.server().router().stats();
    let events = stats.nosip_events.load(Ordering::Relaxed);
    // UDP may drop some under load; most must have been handled as events
    assert!(events > 9_000, "only {events} non-SIP events");
    assert_eq!(stats.malformed.load(Ordering::Relaxed), 0);
}
