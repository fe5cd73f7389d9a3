//! Cells driven with a virtual clock: every timer of RFC 3261 §17 without sleeping.

use crate::*;
use bytes::Bytes;
use sipwasm_proto::{Destination, Method, SipMessage, Transmit, Transport};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CALLER: &str = "192.0.2.1:5060";
const PROXY: &str = "10.0.0.1:5060";
const CALLEE: &str = "10.0.0.2:5080";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn udp(dest: &str) -> Target {
    on(Transport::Udp, dest)
}

fn tcp(dest: &str) -> Target {
    on(Transport::Tcp, dest)
}

fn on(transport: Transport, dest: &str) -> Target {
    Target {
        to: Destination {
            transport,
            dest: addr(dest),
            local: addr(PROXY),
            conn: None,
        },
        no_connect: false,
    }
}

fn request(method: &str) -> SipMessage {
    let s = format!(
        "{method} sip:bob@{CALLEE} SIP/2.0\r\n\
Via: SIP/2.0/UDP {CALLER};branch=z9hG4bKcaller1\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@a.example>;tag=alice\r\n\
To: <sip:bob@b.example>\r\n\
Call-ID: call-1\r\n\
CSeq: 1 {method}\r\n\
Content-Length: 0\r\n\r\n"
    );
    SipMessage::parse(Bytes::from(s)).unwrap()
}

/// The request as a proxy forwards it: our Via on top.
fn branch_request(req: &SipMessage, param: &str) -> Bytes {
    let text = String::from_utf8_lossy(req.as_bytes()).replacen(
        "Via: ",
        &format!("Via: SIP/2.0/UDP {PROXY};branch={param}\r\nVia: "),
        1,
    );
    let text = text.replacen("Max-Forwards: 70", "Max-Forwards: 69", 1);
    Bytes::from(text)
}

/// A response from the callee to branch `param`.
fn response(code: u16, method: &str, param: &str, to_tag: Option<&str>) -> SipMessage {
    let tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    let s = format!(
        "SIP/2.0 {code} Whatever\r\n\
Via: SIP/2.0/UDP {PROXY};branch={param}\r\n\
Via: SIP/2.0/UDP {CALLER};branch=z9hG4bKcaller1\r\n\
From: <sip:alice@a.example>;tag=alice\r\n\
To: <sip:bob@b.example>{tag}\r\n\
Call-ID: call-1\r\n\
CSeq: 1 {method}\r\n\
Content-Length: 0\r\n\r\n"
    );
    SipMessage::parse(Bytes::from(s)).unwrap()
}

struct Clock(Instant);

impl Clock {
    fn at(&self, ms: u64) -> Instant {
        self.0 + Duration::from_millis(ms)
    }
}

/// Signs local replies with a fixed tag and no `Server` header.
#[derive(Debug)]
struct TestReplies;

impl LocalReplies for TestReplies {
    fn to_tag(&self, _: &SipMessage) -> String {
        "proxytag".into()
    }
    fn server_header(&self) -> Option<&str> {
        None
    }
}

fn cell(method: &str, reply_to: Target) -> (Cell<()>, Clock) {
    let clock = Clock(Instant::now());
    let id = CellId { index: 1, label: 7 };
    let c = Cell::new(
        id,
        request(method),
        addr(CALLER),
        reply_to,
        TimerConfig::default(),
        Arc::new(TestReplies),
        (),
        clock.at(0),
    );
    (c, clock)
}

fn parsed(s: &Transmit) -> SipMessage {
    SipMessage::parse(s.data.clone()).unwrap()
}

fn status(s: &Transmit) -> Option<u16> {
    parsed(s).status()
}

/// The status of a reply and the tag of its To.
fn status_and_tag(s: &Transmit) -> (Option<u16>, Option<String>) {
    let r = parsed(s);
    let tag = r
        .to()
        .tag(r.as_bytes())
        .map(|t| String::from_utf8_lossy(t).into_owned());
    (r.status(), tag)
}

/// Add branch `n` at `ms` towards `to`, as a proxy relays: its branch parameter (what the
/// cell sent is dropped).
fn fork(c: &mut Cell<()>, clock: &Clock, ms: u64, n: u16, to: Target) -> String {
    let p = branch_param(c.id, n);
    let data = branch_request(&c.request, &p);
    c.add_branch(
        clock.at(ms),
        BranchRequest::parse(p.clone(), data).unwrap(),
        to,
        &mut Vec::new(),
    )
    .unwrap();
    p
}

/// A cell for `method` from `caller`, relayed at once to `callee` as branch 0: with its
/// branch parameter.
fn forked(method: &str, caller: Target, callee: Target) -> (Cell<()>, Clock, String) {
    let (mut c, clock) = cell(method, caller);
    let p = fork(&mut c, &clock, 0, 0, callee);
    (c, clock, p)
}

/// Fork to `n` callees at once (10.0.0.10:5080, 10.0.0.11:5080 ...): their branch
/// parameters.
fn fork_parallel(c: &mut Cell<()>, clock: &Clock, n: u16) -> Vec<String> {
    (0..n)
        .map(|i| fork(c, clock, 0, i, udp(&format!("10.0.0.{}:5080", 10 + i))))
        .collect()
}

/// `response` seen by branch `n` at `ms` and relayed as the proxy does: what the cell
/// made of it.
fn answer(
    c: &mut Cell<()>,
    clock: &Clock,
    ms: u64,
    n: u16,
    response: SipMessage,
    out: &mut Vec<Transmit>,
) -> (ResponseStep, Relay) {
    let step = c.on_response(clock.at(ms), n, &response, out);
    (step, c.relay_response(clock.at(ms), n, response, out))
}

/// What the cell answers to a retransmission of its request.
fn retransmitted(c: &mut Cell<()>) -> Vec<Transmit> {
    let mut out = Vec::new();
    c.on_request_retransmission(&mut out);
    out
}

/// The final response the cell sends up when its branches are done, at `ms`.
fn best_forwarded(c: &mut Cell<()>, clock: &Clock, ms: u64) -> Transmit {
    let mut out = Vec::new();
    c.forward_best(clock.at(ms), &mut out);
    out.remove(0)
}

/// Run the timers up to `until`: by then the transaction has ended.
fn assert_terminated_by(c: &mut Cell<()>, clock: &Clock, until: u64) {
    run_until(c, clock, until);
    assert!(c.is_terminated());
}

/// Run every timer up to `until` in deadline order; collect what was sent with its time.
fn run_until(c: &mut Cell<()>, clock: &Clock, until: u64) -> Vec<(u64, Transmit)> {
    let mut sent = Vec::new();
    while let Some(d) = c.next_deadline() {
        if d > clock.at(until) {
            break;
        }
        let mut out = Vec::new();
        let _ = c.on_timer(d, &mut out);
        let ms = d.duration_since(clock.0).as_millis() as u64;
        sent.extend(out.into_iter().map(|s| (ms, s)));
    }
    sent
}

#[test]
fn invite_to_200_over_udp() {
    let (mut c, clock) = cell("INVITE", udp(CALLER));
    let mut out = Vec::new();
    c.send_trying(&mut out);
    assert_eq!(status(&out[0]), Some(100));
    assert_eq!(out[0].dest, addr(CALLER));
    out.clear();
    let p = branch_param(c.id, 0);
    let data = branch_request(&c.request, &p);
    assert_eq!(
        c.add_branch(
            clock.at(0),
            BranchRequest::parse(p.clone(), data).unwrap(),
            udp(CALLEE),
            &mut out
        ),
        Ok(0)
    );
    assert_eq!(out.len(), 1);
    // Timer A: retransmissions at 500 and 1500 ms until a provisional arrives
    let sent = run_until(&mut c, &clock, 1600);
    let times: Vec<u64> = sent.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, [500, 1500]);
    let mut out = Vec::new();
    let ringing = response(180, "INVITE", &p, Some("bob"));
    assert_eq!(
        answer(&mut c, &clock, 1700, 0, ringing, &mut out),
        (ResponseStep::Deliver, Relay::Forwarded)
    );
    let up = parsed(&out[0]);
    assert_eq!(up.status(), Some(180));
    assert_eq!(up.vias().len(), 1, "our Via is removed");
    // no more retransmissions after the provisional
    assert!(run_until(&mut c, &clock, 10_000).is_empty());
    let mut out = Vec::new();
    let ok = response(200, "INVITE", &p, Some("bob"));
    assert_eq!(
        answer(&mut c, &clock, 11_000, 0, ok.clone(), &mut out),
        (ResponseStep::Deliver, Relay::Forwarded)
    );
    assert_eq!(status(&out[0]), Some(200));
    assert_eq!(c.server_state(), ServerState::Accepted);
    // a lingering transaction keeps neither the 2xx nor the request it forwarded
    let b = &c.branches()[0];
    assert!(matches!(b.final_reply(), Some(FinalReply::Forwarded(200))));
    assert!(b.request().is_none());
    // a retransmitted 2xx is forwarded; a retransmitted INVITE is absorbed
    let mut out = Vec::new();
    assert_eq!(
        c.on_response(clock.at(11_500), 0, &ok, &mut out),
        ResponseStep::Retransmitted2xx
    );
    assert_eq!(status(&out[0]), Some(200));
    assert!(retransmitted(&mut c).is_empty());
    // everything ends after 64*T1
    assert!(!c.is_terminated());
    assert_terminated_by(&mut c, &clock, 11_000 + 32_000);
}

#[test]
fn non_2xx_is_acked_hop_by_hop_and_retransmitted_upstream_until_acked() {
    let (mut c, clock, p) = forked("INVITE", udp(CALLER), udp(CALLEE));
    let mut out = Vec::new();
    let busy = response(486, "INVITE", &p, Some("bob"));
    assert_eq!(
        c.on_response(clock.at(100), 0, &busy, &mut out),
        ResponseStep::Deliver
    );
    let ack = parsed(&out[0]);
    assert_eq!(ack.method(), Method::Ack);
    assert_eq!(out[0].dest, addr(CALLEE));
    assert_eq!(ack.top_via().branch(ack.as_bytes()), Some(p.as_bytes()));
    let mut out = Vec::new();
    assert_eq!(
        c.relay_response(clock.at(100), 0, busy.clone(), &mut out),
        Relay::AllFailed
    );
    assert!(
        out.is_empty(),
        "nothing goes upstream before the failure route"
    );
    c.forward_best(clock.at(100), &mut out);
    assert_eq!(status(&out[0]), Some(486));
    assert_eq!(c.final_to_tag(), Some(&b"bob"[..]));
    assert!(
        c.branches()[0].request().is_none(),
        "the ACK is kept, not the INVITE"
    );
    // the callee retransmits its 486: we resend the ACK
    let mut out = Vec::new();
    assert_eq!(
        c.on_response(clock.at(600), 0, &busy, &mut out),
        ResponseStep::Absorbed
    );
    assert_eq!(parsed(&out[0]).method(), Method::Ack);
    // Timer G retransmits the 486 upstream at 600, 1600, 3600 ... until the ACK
    let sent = run_until(&mut c, &clock, 4000);
    let g: Vec<u64> = sent
        .iter()
        .filter(|(_, s)| s.dest == addr(CALLER))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(g, [600, 1600, 3600]);
    c.on_ack(clock.at(4000));
    assert_eq!(c.server_state(), ServerState::Confirmed);
    assert!(
        run_until(&mut c, &clock, 8000)
            .iter()
            .all(|(_, s)| s.dest != addr(CALLER))
    );
    assert_terminated_by(&mut c, &clock, 100 + 32_000 + 1);
}

#[test]
fn no_answer_times_out_with_408() {
    let (mut c, clock) = cell("INVITE", udp(CALLER));
    fork(&mut c, &clock, 0, 0, udp(CALLEE));
    // Timer A doubles: 0.5, 1.5, 3.5, 7.5, 15.5 s; fr fires at 30 s
    let mut retrans = Vec::new();
    let mut failed_at = None;
    while let Some(d) = c.next_deadline() {
        if d > clock.at(31_000) {
            break;
        }
        let mut out = Vec::new();
        if c.on_timer(d, &mut out) == Relay::AllFailed {
            failed_at = Some(d.duration_since(clock.0).as_millis());
        }
        retrans.extend(out.iter().map(|_| d.duration_since(clock.0).as_millis()));
    }
    assert_eq!(retrans, [500, 1500, 3500, 7500, 15500]);
    assert_eq!(failed_at, Some(30_000));
    let mut out = Vec::new();
    c.forward_best(clock.at(30_000), &mut out);
    assert_eq!(
        status_and_tag(&out[0]),
        (Some(408), Some("proxytag".into()))
    );
}

#[test]
fn fr_inv_after_ringing_cancels_the_branch() {
    let (mut c, clock) = cell("INVITE", udp(CALLER));
    c.set_fr(Some(Duration::from_secs(5)), None);
    let p = fork(&mut c, &clock, 0, 0, udp(CALLEE));
    let mut out = Vec::new();
    let ringing = response(180, "INVITE", &p, Some("bob"));
    answer(&mut c, &clock, 100, 0, ringing, &mut out);
    let mut out = Vec::new();
    assert_eq!(c.on_timer(clock.at(5100), &mut out), Relay::AllFailed);
    let cancel = parsed(&out[0]);
    assert_eq!(cancel.method(), Method::Cancel);
    assert_eq!(out[0].dest, addr(CALLEE));
    c.forward_best(clock.at(5100), &mut out);
    assert_eq!(status(out.last().unwrap()), Some(408));
    // the callee answers the CANCEL and then 487s the INVITE: ACKed, not forwarded
    let mut out = Vec::new();
    let ok_cancel = response(200, "CANCEL", &p, Some("bob"));
    assert_eq!(
        c.on_response(clock.at(5200), 0, &ok_cancel, &mut out),
        ResponseStep::Absorbed
    );
    let terminated = response(487, "INVITE", &p, Some("bob"));
    assert_eq!(
        c.on_response(clock.at(5210), 0, &terminated, &mut out),
        ResponseStep::Absorbed
    );
    assert_eq!(parsed(&out[0]).method(), Method::Ack);
}

#[test]
fn cancel_from_the_caller() {
    let (mut c, clock, p) = forked("INVITE", udp(CALLER), udp(CALLEE));
    // CANCEL before any provisional: held back (§9.1) ...
    let mut out = Vec::new();
    c.on_cancel(clock.at(50), &mut out);
    assert!(out.is_empty());
    assert!(c.is_canceled());
    // ... and sent when the 180 arrives
    let ringing = response(180, "INVITE", &p, Some("bob"));
    c.on_response(clock.at(100), 0, &ringing, &mut out);
    assert_eq!(parsed(&out[0]).method(), Method::Cancel);
    // the CANCEL is retransmitted over UDP until answered
    let sent = run_until(&mut c, &clock, 700);
    assert!(
        sent.iter()
            .any(|(_, s)| parsed(s).method() == Method::Cancel)
    );
    let mut out = Vec::new();
    c.on_response(
        clock.at(800),
        0,
        &response(200, "CANCEL", &p, Some("bob")),
        &mut out,
    );
    let terminated = response(487, "INVITE", &p, Some("bob"));
    assert_eq!(
        answer(&mut c, &clock, 900, 0, terminated, &mut out),
        (ResponseStep::Deliver, Relay::AllFailed)
    );
    c.forward_best(clock.at(900), &mut out);
    assert_eq!(status(out.last().unwrap()), Some(487));
    // no new branch after a CANCEL
    let p1 = branch_param(c.id, 1);
    assert_eq!(
        c.add_branch(
            clock.at(900),
            BranchRequest::parse(p1.clone(), branch_request(&c.request, &p1)).unwrap(),
            udp(CALLEE),
            &mut out
        ),
        Err(CellError::Canceled)
    );
}

#[test]
fn serial_forking_after_a_failure() {
    let (mut c, clock) = cell("INVITE", udp(CALLER));
    let p0 = fork(&mut c, &clock, 0, 0, udp(CALLEE));
    let mut out = Vec::new();
    let busy = response(486, "INVITE", &p0, Some("bob"));
    assert_eq!(
        answer(&mut c, &clock, 10, 0, busy, &mut out).1,
        Relay::AllFailed
    );
    // the failure route relays somewhere else
    let p1 = branch_param(c.id, 1);
    let mut out = Vec::new();
    assert_eq!(
        c.add_branch(
            clock.at(20),
            BranchRequest::parse(p1.clone(), branch_request(&c.request, &p1)).unwrap(),
            udp("10.0.0.3:5090"),
            &mut out
        ),
        Ok(1)
    );
    let ok = response(200, "INVITE", &p1, Some("carol"));
    assert_eq!(
        c.on_response(clock.at(30), 1, &ok, &mut out),
        ResponseStep::Deliver
    );
    let mut out = Vec::new();
    assert_eq!(
        c.relay_response(clock.at(30), 1, ok, &mut out),
        Relay::Forwarded
    );
    assert_eq!(status_and_tag(&out[0]), (Some(200), Some("carol".into())));
}

#[test]
fn parallel_forking_picks_the_best_and_2xx_cancels_the_rest() {
    let (mut c, clock) = cell("INVITE", udp(CALLER));
    let ps = fork_parallel(&mut c, &clock, 3);
    // branch 0 rings, branch 1 says 404, branch 2 answers: 200 goes up, branch 0 is canceled
    let mut out = Vec::new();
    let r0 = response(180, "INVITE", &ps[0], Some("x"));
    answer(&mut c, &clock, 10, 0, r0, &mut out);
    let r1 = response(404, "INVITE", &ps[1], Some("y"));
    assert_eq!(answer(&mut c, &clock, 20, 1, r1, &mut out).1, Relay::Stored);
    let mut out = Vec::new();
    let r2 = response(200, "INVITE", &ps[2], Some("z"));
    assert_eq!(
        answer(&mut c, &clock, 30, 2, r2, &mut out).1,
        Relay::Forwarded
    );
    let methods: Vec<_> = out
        .iter()
        .map(|s| (s.dest, parsed(s).method(), parsed(s).status()))
        .collect();
    assert!(
        methods.contains(&(addr("10.0.0.10:5080"), Method::Cancel, None)),
        "{methods:?}"
    );
    assert!(
        methods.contains(&(addr(CALLER), Method::Invite, Some(200))),
        "{methods:?}"
    );

    // best selection: 6xx beats everything, else the lowest class
    let (mut c, clock) = cell("INVITE", udp(CALLER));
    let ps = fork_parallel(&mut c, &clock, 3);
    let mut out = Vec::new();
    for (n, code) in [(0u16, 503u16), (1, 404), (2, 486)] {
        let r = response(code, "INVITE", &ps[n as usize], Some("t"));
        answer(&mut c, &clock, 10, n, r, &mut out);
    }
    assert_eq!(c.best().map(|(i, f)| (i, f.code())), Some((1, 404)));
    assert_eq!(status(&best_forwarded(&mut c, &clock, 10)), Some(404));
}

#[test]
fn challenges_of_all_branches_are_aggregated_into_the_401_or_407_sent_up() {
    let (mut c, clock) = cell("INVITE", udp(CALLER));
    let ps = fork_parallel(&mut c, &clock, 3);
    let challenge = |code: u16, n: usize, header: &str| {
        let text = String::from_utf8_lossy(response(code, "INVITE", &ps[n], Some("t")).as_bytes())
            .replacen(
                "Content-Length: 0",
                &format!("{header}\r\nContent-Length: 0"),
                1,
            );
        SipMessage::parse(Bytes::from(text)).unwrap()
    };
    let finals = [
        challenge(
            407,
            0,
            "Proxy-Authenticate: Digest realm=\"b\", nonce=\"2\"",
        ),
        challenge(401, 1, "WWW-Authenticate: Digest realm=\"a\", nonce=\"1\""),
        response(486, "INVITE", &ps[2], Some("t")),
    ];
    let mut out = Vec::new();
    for (n, r) in finals.into_iter().enumerate() {
        c.on_response(clock.at(10), n as u16, &r, &mut out);
        c.relay_response(clock.at(10), n as u16, r, &mut out);
    }
    let mut out = Vec::new();
    c.forward_best(clock.at(10), &mut out);
    let up = parsed(&out[0]);
    assert_eq!(up.status(), Some(401), "401 ranks first");
    let www: Vec<&[u8]> = up.headers_named(b"WWW-Authenticate").collect();
    let proxy: Vec<&[u8]> = up.headers_named(b"Proxy-Authenticate").collect();
    assert_eq!(www, [&b"Digest realm=\"a\", nonce=\"1\""[..]]);
    assert_eq!(proxy, [&b"Digest realm=\"b\", nonce=\"2\""[..]]);
    assert_eq!(up.vias().len(), 1, "our Via is off");
}

/// The failed branches' finals, each on its own branch, and the code `best` picks.
fn best_of(codes: &[u16]) -> u16 {
    let (mut c, clock) = cell("INVITE", udp(CALLER));
    let mut out = Vec::new();
    for n in 0..codes.len() {
        let p = branch_param(c.id, n as u16);
        let dest = format!("10.0.0.{}:5080", 10 + n);
        c.add_branch(
            clock.at(0),
            BranchRequest::parse(p.clone(), branch_request(&c.request, &p)).unwrap(),
            udp(&dest),
            &mut out,
        )
        .unwrap();
    }
    for (n, code) in codes.iter().enumerate() {
        let r = response(*code, "INVITE", &branch_param(c.id, n as u16), Some("t"));
        c.on_response(clock.at(10), n as u16, &r, &mut out);
        c.relay_response(clock.at(10), n as u16, r, &mut out);
    }
    c.best().unwrap().1.code()
}

#[test]
fn best_response_ranking_matches_kamailio() {
    assert_eq!(best_of(&[486, 404]), 404, "the lower code within a class");
    assert_eq!(best_of(&[404, 407]), 407, "an actionable 4xx first");
    assert_eq!(best_of(&[484, 401]), 401);
    assert_eq!(best_of(&[500, 486, 302]), 302, "3xx before 4xx before 5xx");
    assert_eq!(best_of(&[302, 603]), 603, "6xx first");
    assert_eq!(best_of(&[503, 408]), 408);
}

#[test]
fn a_6xx_ends_the_search_and_503_becomes_500() {
    let (mut c, clock) = cell("INVITE", udp(CALLER));
    let p0 = fork(&mut c, &clock, 0, 0, udp(CALLEE));
    let p1 = fork(&mut c, &clock, 0, 1, udp("10.0.0.3:5080"));
    let mut out = Vec::new();
    let r = response(180, "INVITE", &p1, Some("q"));
    c.on_response(clock.at(5), 1, &r, &mut out);
    let mut out = Vec::new();
    let decline = response(603, "INVITE", &p0, Some("d"));
    assert_eq!(
        answer(&mut c, &clock, 10, 0, decline, &mut out).1,
        Relay::Stored
    );
    assert!(
        out.iter()
            .any(|s| parsed(s).method() == Method::Cancel && s.dest == addr("10.0.0.3:5080"))
    );
    let r = response(487, "INVITE", &p1, Some("q"));
    assert_eq!(
        answer(&mut c, &clock, 20, 1, r, &mut out).1,
        Relay::AllFailed
    );
    assert_eq!(c.best().map(|(_, f)| f.code()), Some(603));

    let (mut c, clock, p0) = forked("INVITE", udp(CALLER), udp(CALLEE));
    let mut out = Vec::new();
    let r = response(503, "INVITE", &p0, Some("u"));
    answer(&mut c, &clock, 5, 0, r, &mut out);
    assert_eq!(status(&best_forwarded(&mut c, &clock, 5)), Some(500));
}

#[test]
fn non_invite_timers_e_and_j() {
    let (mut c, clock) = cell("MESSAGE", udp(CALLER));
    let mut out = Vec::new();
    c.send_trying(&mut out);
    assert!(out.is_empty(), "no 100 for non-INVITE");
    let p = fork(&mut c, &clock, 0, 0, udp(CALLEE));
    // Timer E: 0.5, 1.5, 3.5, then every T2 (4 s)
    let times: Vec<u64> = run_until(&mut c, &clock, 12_000)
        .iter()
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(times, [500, 1500, 3500, 7500, 11500]);
    // the caller's retransmission is absorbed (nothing to resend yet)
    assert!(retransmitted(&mut c).is_empty());
    let ok = response(200, "MESSAGE", &p, Some("bob"));
    assert_eq!(
        answer(&mut c, &clock, 12_000, 0, ok, &mut out),
        (ResponseStep::Deliver, Relay::Forwarded)
    );
    assert_eq!(c.server_state(), ServerState::Completed);
    // now a retransmitted request gets the 200 again (Timer J keeps it 64*T1)
    assert_eq!(status(&retransmitted(&mut c)[0]), Some(200));
    assert_terminated_by(&mut c, &clock, 12_000 + 32_000);
}

#[test]
fn tcp_has_no_retransmissions_and_short_lingering() {
    let (mut c, clock, p) = forked("MESSAGE", tcp(CALLER), tcp(CALLEE));
    let mut out = Vec::new();
    assert!(run_until(&mut c, &clock, 20_000).is_empty());
    let ok = response(200, "MESSAGE", &p, None);
    answer(&mut c, &clock, 20_000, 0, ok, &mut out);
    run_until(&mut c, &clock, 20_000);
    assert!(
        c.is_terminated(),
        "Timer J and K are zero on reliable transports"
    );
}

#[test]
fn a_cell_without_branch_or_reply_answers_408_after_fr() {
    let (mut c, clock) = cell("INVITE", udp(CALLER));
    let mut out = Vec::new();
    c.send_trying(&mut out);
    let sent = run_until(&mut c, &clock, 30_000);
    let r = parsed(&sent.last().unwrap().1);
    assert_eq!(r.status(), Some(408));
}

#[test]
fn local_replies_and_their_retransmissions() {
    let (mut c, clock) = cell("INVITE", udp(CALLER));
    let mut out = Vec::new();
    c.send_trying(&mut out);
    c.reply_local(
        clock.at(10),
        486,
        "Busy Here",
        &[b"X-Why: test\r\n"],
        &mut out,
    )
    .unwrap();
    // 100 Trying carries no To tag (RFC 3261 §8.2.6.2); a final reply carries ours, and
    // its ACK is matched by it
    let trying = parsed(&out[0]);
    assert_eq!(trying.to().tag(trying.as_bytes()), None);
    let r = parsed(&out[1]);
    assert_eq!(r.status(), Some(486));
    assert_eq!(r.header(b"X-Why"), Some(&b"test"[..]));
    assert_eq!(r.to().tag(r.as_bytes()), Some(&b"proxytag"[..]));
    assert_eq!(c.final_to_tag(), Some(&b"proxytag"[..]));
    assert_eq!(
        c.reply_local(clock.at(20), 200, "OK", &[], &mut out),
        Err(CellError::AlreadyReplied)
    );
    assert_eq!(status(&retransmitted(&mut c)[0]), Some(486));
}

#[test]
fn a_branch_that_is_not_sip_any_more_is_refused() {
    let (mut c, clock) = cell("INVITE", udp(CALLER));
    let mut out = Vec::new();
    let p = branch_param(c.id, 0);
    let text = String::from_utf8(branch_request(&c.request, &p).to_vec()).unwrap();
    // a plugin's header edit added a second CSeq
    let broken = text.replacen("CSeq:", "CSeq: 9 BYE\r\nCSeq:", 1);
    let r = BranchRequest::parse(p.clone(), Bytes::from(broken));
    assert!(matches!(r, Err(CellError::BadRequest(_))), "{r:?}");
    assert!(out.is_empty());
    let data = branch_request(&c.request, &p);
    assert_eq!(
        c.add_branch(
            clock.at(0),
            BranchRequest::parse(p, data).unwrap(),
            udp(CALLEE),
            &mut out
        )
        .ok(),
        Some(0)
    );
}
