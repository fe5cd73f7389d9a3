//! What the failed-authentication accounting (`auth::guard`, `[security]`) costs on the
//! registrar path: a digest check of a REGISTER with the guard as configured by default
//! against the same check with it off, and the door every request passes (ban lookup and
//! scanner match on its User-Agent).
//!
//! ```sh
//! cargo bench -p sipwasm-routing --bench auth_guard
//! ```
//!
//! The shared SIPp harness has no digest-REGISTER scenario, so the registrar path is timed
//! here, in-process, per check; the end-to-end cost per request is the stateless
//! comparison with the previous commit (`bench/compare-previous stateless`).

use sipwasm_proto::{SipMessage, Transport};
use sipwasm_routing::auth::guard::{Guard, GuardPolicy};
use sipwasm_routing::auth::{Credentials, Realm, digest_response};
use sipwasm_routing::{LocalConfig, RouteContext, Source};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

const REALM: &str = "sipwasm.local";
const ROUNDS: u32 = 20_000;

fn local(policy: GuardPolicy) -> Arc<LocalConfig> {
    Arc::new(LocalConfig::new(Vec::new(), Vec::new(), None).with_guard(Guard::new(policy).unwrap()))
}

/// A REGISTER of `user` from `src` answering `nonce` with `password`, nonce count `nc`.
fn register(user: &str, nonce: &str, password: &str, nc: u32, src: SocketAddr) -> SipMessage {
    let mut c = Credentials {
        username: user.into(),
        realm: REALM.into(),
        nonce: nonce.into(),
        uri: format!("sip:{REALM}"),
        response: String::new(),
        algorithm: "MD5".into(),
        cnonce: Some("0a4f113b".into()),
        qop: Some("auth".into()),
        nc: Some(format!("{nc:08x}")),
        opaque: None,
    };
    c.response = digest_response(&c, password, "REGISTER").unwrap();
    let text = format!(
        "REGISTER sip:{REALM} SIP/2.0\r\n\
Via: SIP/2.0/UDP {src};branch=z9hG4bK-{nc};rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:{user}@{REALM}>;tag=a{nc}\r\n\
To: <sip:{user}@{REALM}>\r\n\
Call-ID: reg-{nc}@bench\r\n\
CSeq: {nc} REGISTER\r\n\
Contact: <sip:{user}@{src}>\r\n\
User-Agent: PJSUA v2.15 Linux-6.1/x86_64\r\n\
Authorization: Digest username=\"{user}\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{}\", response=\"{}\", algorithm=MD5, cnonce=\"0a4f113b\", qop=auth, nc={:08x}\r\n\
Content-Length: 0\r\n\r\n",
        c.uri, c.response, nc
    );
    SipMessage::parse(bytes::Bytes::from(text)).unwrap()
}

fn source(i: u32) -> SocketAddr {
    // many addresses, so that failures spread as a botnet's would and nobody is banned
    // early (a banned source is dropped at the door, before any check)
    SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), 5060)
}

/// Mean time of one check over `msgs`, cycling; `ok` says what each must give.
fn time_checks(local: &Arc<LocalConfig>, msgs: &[(SipMessage, SocketAddr)], ok: bool) -> Duration {
    let start = Instant::now();
    for (i, (m, src)) in msgs.iter().cycle().take(ROUNDS as usize).enumerate() {
        let mut ctx = RouteContext::new(
            local.clone(),
            m.clone(),
            Source {
                transport: Transport::Udp,
                src: *src,
                local: "127.0.0.1:5060".parse().unwrap(),
                conn: None,
            },
            1_000,
        );
        let r = ctx.auth_check(REALM, "alice-secret", Realm::Www, None);
        assert_eq!(r.is_ok(), ok, "round {i}: {r:?}");
        black_box(r).ok();
    }
    start.elapsed() / ROUNDS
}

fn checks(policy: GuardPolicy) -> (Duration, Duration) {
    let l = local(policy);
    // successful sign-ins: one nonce, the count growing (a phone re-registering)
    let nonce = l.auth.new_nonce(1_000);
    let good: Vec<(SipMessage, SocketAddr)> = (1..=ROUNDS)
        .map(|nc| {
            (
                register("alice", &nonce, "alice-secret", nc, source(1)),
                source(1),
            )
        })
        .collect();
    let ok = time_checks(&l, &good, true);
    // wrong passwords, 20,000 users from 20,000 addresses, once each: nobody banned nor
    // throttled, every check computes the digest
    let nonce = l.auth.new_nonce(1_000);
    let bad: Vec<(SipMessage, SocketAddr)> = (1..=ROUNDS)
        .map(|i| {
            (
                register(&format!("u{i}"), &nonce, "guess", i, source(i)),
                source(i),
            )
        })
        .collect();
    let failed = time_checks(&l, &bad, false);
    (ok, failed)
}

fn door(label: &str, policy: GuardPolicy) -> Duration {
    let g = Guard::new(policy).unwrap();
    let ua = b"PJSUA v2.15 Linux-6.1/x86_64";
    let start = Instant::now();
    for i in 0..ROUNDS * 10 {
        let ip = source(i % 50_000).ip();
        black_box(g.admit(ip, 1_000));
        black_box(g.is_scanner(black_box(ua)));
    }
    let d = start.elapsed() / (ROUNDS * 10);
    println!("{label:>8}: the door (ban lookup + scanner match) {d:>8.2?} per request");
    d
}

fn main() {
    // the registrar's digest check, MD5, qop=auth: guard off (as before issue 27) and on
    // five times each, alternating, the median: neither order nor warm-up favours one
    let mut off = Vec::new();
    let mut on = Vec::new();
    for _ in 0..5 {
        off.push(checks(GuardPolicy::off()));
        on.push(checks(GuardPolicy::default()));
    }
    let median = |v: &mut Vec<(Duration, Duration)>| {
        let mut good: Vec<Duration> = v.iter().map(|x| x.0).collect();
        let mut bad: Vec<Duration> = v.iter().map(|x| x.1).collect();
        good.sort();
        bad.sort();
        (good[good.len() / 2], bad[bad.len() / 2])
    };
    let (ok_off, bad_off) = median(&mut off);
    let (ok_on, bad_on) = median(&mut on);
    println!("     off: good check {ok_off:>8.2?}   failed check {bad_off:>8.2?}   (median of 5)");
    println!(" default: good check {ok_on:>8.2?}   failed check {bad_on:>8.2?}");
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "ratio on/off: good {:.2}, failed {:.2}",
        ratio(ok_on, ok_off),
        ratio(bad_on, bad_off)
    );
    door("off", GuardPolicy::off());
    door("default", GuardPolicy::default());
}
