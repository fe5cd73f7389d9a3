//! The documented example on a public address (issue 27): a password cracker at full
//! speed from one address, guessing from many addresses at one user, scanners, user
//! enumeration and replays against `config/examples/registrar-proxy.toml` with its
//! defaults; real phones (PJSIP) registering and calling through it all.
//!
//! The attackers send from other loopback addresses (127.0.0.2, 127.0.1.x ...) than the
//! phones (127.0.0.1): bans are per source address.

use crate::harness::*;
use crate::pjsip::{Phone, PhoneOpts};
use serde_json::{Value, json};
use sipwasm_proto::SipMessage;
use sipwasm_routing::auth::{Credentials, digest_response};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const REALM: &str = "sipwasm.local";
const SECS: Duration = Duration::from_secs(10);

fn example() -> std::path::PathBuf {
    root().join("config/examples/registrar-proxy.toml")
}

/// A SIP client that signs in as `user` from its own address, the way a password cracker
/// (SIPVicious' svcrack) does: a REGISTER, then one guess per challenge, each answer's
/// nonce for the next guess.
pub(crate) struct Client {
    sock: UdpSocket,
    router: SocketAddr,
    user: String,
    method: &'static str,
    cseq: u32,
    /// The nonce of the last challenge.
    nonce: Option<String>,
    /// The Authorization of the last request, for replays.
    last_auth: Option<String>,
    user_agent: Option<&'static str>,
}

impl Client {
    pub(crate) fn new(ip: &str, router: SocketAddr, user: &str) -> Client {
        let sock = UdpSocket::bind((ip, 0)).unwrap();
        Client {
            sock,
            router,
            user: user.into(),
            method: "REGISTER",
            cseq: 0,
            nonce: None,
            last_auth: None,
            user_agent: None,
        }
    }

    /// The digest for `password` against the last challenge.
    fn authorization(&self, password: &str) -> Option<String> {
        let nonce = self.nonce.clone()?;
        let header = if self.method == "REGISTER" {
            "Authorization"
        } else {
            "Proxy-Authorization"
        };
        let mut c = Credentials {
            username: self.user.clone(),
            realm: REALM.into(),
            nonce,
            uri: self.ruri(),
            response: String::new(),
            algorithm: "MD5".into(),
            cnonce: Some(format!("c{}", self.cseq)),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            opaque: None,
        };
        c.response = digest_response(&c, password, self.method).unwrap();
        Some(format!(
            "{header}: Digest username=\"{}\", realm=\"{REALM}\", nonce=\"{}\", uri=\"{}\", \
             response=\"{}\", algorithm=MD5, cnonce=\"{}\", qop=auth, nc=00000001\r\n",
            c.username,
            c.nonce,
            c.uri,
            c.response,
            c.cnonce.unwrap()
        ))
    }

    fn ruri(&self) -> String {
        match self.method {
            "REGISTER" => format!("sip:{REALM}"),
            // to bob, from the user: a call, a message ... of a user of the domain
            _ => format!("sip:bob@{REALM}"),
        }
    }

    /// Send one request with `auth` (a header line or nothing) and wait `wait` for its
    /// final answer: the answer, or `None` (dropped).
    fn send(&mut self, auth: &str, wait: Duration) -> Option<SipMessage> {
        self.cseq += 1;
        let local = self.sock.local_addr().unwrap();
        let (to, from) = if self.method == "REGISTER" {
            (self.user.clone(), self.user.clone())
        } else {
            ("bob".to_string(), self.user.clone())
        };
        let ua = self
            .user_agent
            .map(|u| format!("User-Agent: {u}\r\n"))
            .unwrap_or_default();
        let event = if self.method == "SUBSCRIBE" {
            "Event: presence\r\nExpires: 60\r\n"
        } else {
            ""
        };
        let text = format!(
            "{method} {ruri} SIP/2.0\r\n\
Via: SIP/2.0/UDP {local};branch=z9hG4bK-{cseq}-{port};rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:{from}@{REALM}>;tag=f{port}\r\n\
To: <sip:{to}@{REALM}>\r\n\
Call-ID: guess-{port}@{ip}\r\n\
CSeq: {cseq} {method}\r\n\
Contact: <sip:{from}@{local}>\r\n\
{ua}{event}{auth}Content-Length: 0\r\n\r\n",
            method = self.method,
            ruri = self.ruri(),
            cseq = self.cseq,
            port = local.port(),
            ip = local.ip(),
        );
        self.last_auth = Some(auth.to_string());
        self.sock.send_to(text.as_bytes(), self.router).unwrap();
        let deadline = Instant::now() + wait;
        let mut buf = vec![0u8; 65_536];
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            self.sock
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            let Ok(n) = self.sock.recv(&mut buf) else {
                return None;
            };
            let Ok(m) = SipMessage::parse(bytes::Bytes::copy_from_slice(&buf[..n])) else {
                continue;
            };
            // a late answer to an earlier guess is not this one's (nor is its nonce)
            if m.status().is_some_and(|s| s >= 200) && m.cseq().number == self.cseq {
                let challenge = m
                    .headers_named(b"WWW-Authenticate")
                    .chain(m.headers_named(b"Proxy-Authenticate"))
                    .next()
                    .map(|v| String::from_utf8_lossy(v).into_owned());
                if let Some(nonce) = challenge.as_deref().and_then(|c| {
                    c.split("nonce=\"")
                        .nth(1)?
                        .split('"')
                        .next()
                        .map(String::from)
                }) {
                    self.nonce = Some(nonce);
                }
                return Some(m);
            }
        }
        None
    }

    /// Ask for a challenge (a request without credentials): its status.
    pub(crate) fn challenge(&mut self, wait: Duration) -> Option<u16> {
        self.send("", wait).and_then(|m| m.status())
    }

    /// Answer the last challenge with `password`: the status, `None` when dropped.
    pub(crate) fn sign_in(&mut self, password: &str, wait: Duration) -> Option<u16> {
        let auth = self.authorization(password).expect("challenged before");
        self.send(&auth, wait).and_then(|m| m.status())
    }

    /// Send the next requests to `router` (another router of the same deployment).
    pub(crate) fn switch_to(&mut self, router: SocketAddr) {
        self.router = router;
    }

    /// The last request's credentials again (a replay).
    pub(crate) fn replay(&mut self, wait: Duration) -> Option<u16> {
        let auth = self.last_auth.clone().expect("sent before");
        self.send(&auth, wait).and_then(|m| m.status())
    }
}

/// What a cracking run got.
#[derive(Debug)]
struct Cracked {
    /// Guesses answered (a challenge: wrong).
    answered: usize,
    /// Guesses nobody answered (banned).
    dropped: usize,
    /// The password, if a guess was accepted.
    found: Option<String>,
}

/// A word list of `n` words with `secret` at `at`.
fn words(n: usize, secret: &str, at: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            if i == at {
                secret.to_string()
            } else {
                format!("guess{i}")
            }
        })
        .collect()
}

/// Try `list` as fast as answers come for at most `limit`; a guess without an answer
/// within `wait` moves on to the next word (a banned cracker keeps trying). Until the
/// example's ban (its 10th failure) it waits `answer_wait` instead: the ban tests count
/// on those answers, and on a loaded machine a slow answer is no drop.
fn crack(
    c: &mut Client,
    list: &[String],
    limit: Duration,
    answer_wait: Duration,
    wait: Duration,
) -> Cracked {
    let end = Instant::now() + limit;
    let mut out = Cracked {
        answered: 0,
        dropped: 0,
        found: None,
    };
    if c.challenge(answer_wait).is_none() {
        out.dropped += 1;
    }
    for w in list {
        if Instant::now() >= end {
            break;
        }
        let wait = if out.answered < 10 { answer_wait } else { wait };
        if c.nonce.is_none() {
            if c.challenge(wait).is_none() {
                out.dropped += 1;
            }
            continue;
        }
        match c.sign_in(w, wait) {
            Some(200) => {
                out.found = Some(w.clone());
                break;
            }
            Some(_) => out.answered += 1,
            None => out.dropped += 1,
        }
    }
    out
}

/// The example's config as it ships, run by the real binary with a control socket added
/// (the example has none) in a directory of the test's.
fn example_with_control(dir: &std::path::Path) -> std::path::PathBuf {
    let target = root().join("target");
    let text = std::fs::read_to_string(example())
        .unwrap()
        .replace("../../target", target.to_str().unwrap());
    let config = dir.join("registrar-proxy.toml");
    std::fs::write(
        &config,
        format!(
            "{text}\n[control]\nsocket = \"{}\"\n",
            dir.join("ctl.sock").display()
        ),
    )
    .unwrap();
    config
}

/// The measured attack, against the example with its defaults, through the real binary:
/// 1,000 guesses at alice's password at full speed from one address. The cracker is
/// banned after 10 guesses (its later ones dropped), never finds the password, and the
/// log says so once (source, user, count), not once per guess; `ctl bans` lists the ban
/// and `ctl unban` lifts it. alice herself signs in from her address meanwhile.
#[test]
fn the_example_bans_a_password_cracker_and_logs_it_once() {
    plugin("registrar_proxy");
    let dir = std::env::temp_dir().join(format!("sipwasm-cracker-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = example_with_control(&dir);
    let port = free_port();
    let r = crate::cli::Running::start(
        config.to_str().unwrap(),
        &["--listen", &format!("udp:127.0.0.1:{port}")],
    );
    r.wait_for("control socket listening", Duration::from_secs(60));
    let router: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let ctl = |args: &[&str]| -> Value {
        let (ok, out, err) = crate::cli::ctl(&config, args);
        assert!(ok, "{err}");
        serde_json::from_str(&out).expect("ctl prints JSON")
    };

    let mut cracker = Client::new("127.0.0.2", router, "alice");
    let list = words(1000, "alice-secret", 500);
    let got = crack(
        &mut cracker,
        &list,
        Duration::from_secs(6),
        Duration::from_secs(2),
        Duration::from_millis(100),
    );
    assert_eq!(got.found, None, "{got:?}");
    // the 10th failure bans: it is still answered, nothing after it
    assert_eq!(got.answered, 10, "{got:?}");
    assert!(got.dropped >= 20, "it kept trying, unanswered: {got:?}");

    // alice from her own address is not affected, and a typo once costs her nothing
    let mut alice = Client::new("127.0.0.1", router, "alice");
    assert_eq!(alice.challenge(SECS), Some(401));
    assert_eq!(alice.sign_in("alice-secert", SECS), Some(401));
    assert_eq!(alice.sign_in("alice-secret", SECS), Some(200));

    let bans = ctl(&["bans"]);
    assert_eq!(bans["bans"].as_array().unwrap().len(), 1, "{bans}");
    let ban = &bans["bans"][0];
    assert_eq!(ban["source"], "127.0.0.2/32", "{bans}");
    assert_eq!(ban["user"], "alice", "{bans}");
    assert_eq!(ban["bans"], 1, "{bans}");
    assert!(ban["remaining_s"].as_u64().unwrap() > 50, "{bans}");
    let stats = ctl(&["stats"]);
    // the cracker's 10 and alice's typo
    assert_eq!(stats["security"]["auth_failures"], 11, "{stats}");
    assert_eq!(stats["security"]["bans"], 1, "{stats}");
    assert!(
        stats["security"]["banned_requests"].as_u64().unwrap() >= got.dropped as u64,
        "{stats}"
    );

    // one line for the whole attack: the ban, with source, user and count
    let lines = r.lines_until_quiet(Duration::from_millis(500));
    let about: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("127.0.0.2") || l.contains("authentication"))
        .collect();
    assert_eq!(about.len(), 1, "{about:#?}");
    assert!(
        about[0].contains("source banned")
            && about[0].contains("user=alice")
            && about[0].contains("failures=10"),
        "{}",
        about[0]
    );

    // the operator lifts it: the cracker is answered again
    assert_eq!(ctl(&["unban", "127.0.0.2"])["lifted"], 1);
    assert_eq!(cracker.challenge(SECS), Some(401));
    assert!(ctl(&["bans"])["bans"].as_array().unwrap().is_empty());
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A ban lifts after its time, and the next one of the same source lasts twice as long
/// (ban_s shortened to 2 s for the test).
#[test]
fn a_ban_lifts_after_its_time_and_the_next_is_twice_as_long() {
    plugin("registrar_proxy");
    let r =
        TestRouter::from_config_file(&example(), &["udp:127.0.0.1:0", "tcp:127.0.0.1:0"], |cfg| {
            cfg.guard.ban = 2;
        });
    let wait = Duration::from_millis(100);
    let mut cracker = Client::new("127.0.0.3", r.udp, "bob");
    let list = words(30, "bob-secret", 29);
    let answer = Duration::from_secs(2);
    let first = crack(
        &mut cracker,
        &list[..12],
        Duration::from_secs(5),
        answer,
        wait,
    );
    assert_eq!(
        (first.answered, first.found.as_deref()),
        (10, None),
        "{first:?}"
    );
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let bans = r.server().router().guard().bans(now());
    assert_eq!((bans.len(), bans[0].bans), (1, 1), "{bans:?}");
    assert!(bans[0].remaining <= 2);
    std::thread::sleep(Duration::from_millis(2_200));
    // answered again, and banned again, for 4 s
    let second = crack(
        &mut cracker,
        &list[12..24],
        Duration::from_secs(5),
        answer,
        wait,
    );
    assert_eq!(
        (second.answered, second.found.as_deref()),
        (10, None),
        "{second:?}"
    );
    let bans = r.server().router().guard().bans(now());
    assert_eq!(bans[0].bans, 2, "{bans:?}");
    assert!((3..=4).contains(&bans[0].remaining), "{bans:?}");
}

/// Guessing at one user from 25 addresses, one guess each (no address reaches a ban):
/// the user is throttled; then even the right password from a new address is refused,
/// while alice's own address, where she signed in before, still gets in; another user is
/// not affected. A replayed nonce count is refused.
#[test]
fn a_user_guessed_at_from_many_addresses_is_throttled_not_locked_out() {
    plugin("registrar_proxy");
    let r =
        TestRouter::from_config_file(&example(), &["udp:127.0.0.1:0", "tcp:127.0.0.1:0"], |_| {});
    let mut alice = Client::new("127.0.0.1", r.udp, "alice");
    assert_eq!(alice.challenge(SECS), Some(401));
    assert_eq!(alice.sign_in("alice-secret", SECS), Some(200));
    // the same credentials again: a replay
    assert_eq!(alice.replay(SECS), Some(401));

    for i in 1..=25 {
        let mut c = Client::new(&format!("127.0.1.{i}"), r.udp, "alice");
        assert_eq!(c.challenge(SECS), Some(401));
        assert_eq!(c.sign_in(&format!("guess{i}"), SECS), Some(401));
    }
    let guard = r.server().router().guard();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(guard.bans(now).is_empty(), "{:?}", guard.bans(now));
    let throttled = guard.throttled(now);
    assert_eq!(throttled.len(), 1, "{throttled:?}");
    assert_eq!(throttled[0].user, "alice@sipwasm.local");

    // the right password from an address alice never used: refused unchecked
    let mut elsewhere = Client::new("127.0.1.99", r.udp, "alice");
    assert_eq!(elsewhere.challenge(SECS), Some(401));
    assert_eq!(elsewhere.sign_in("alice-secret", SECS), Some(401));
    // from hers: in
    assert_eq!(alice.challenge(SECS), Some(401));
    assert_eq!(alice.sign_in("alice-secret", SECS), Some(200));
    // bob from that other address: in
    let mut bob = Client::new("127.0.1.99", r.udp, "bob");
    assert_eq!(bob.challenge(SECS), Some(401));
    assert_eq!(bob.sign_in("bob-secret", SECS), Some(200));
}

/// Scanners are dropped by their User-Agent, counted; the same request from a phone is
/// answered.
#[test]
fn scanners_are_dropped_by_user_agent() {
    plugin("registrar_proxy");
    let r =
        TestRouter::from_config_file(&example(), &["udp:127.0.0.1:0", "tcp:127.0.0.1:0"], |_| {});
    for ua in [
        "friendly-scanner",
        "sipvicious",
        "sipcli/v1.8",
        "VaxSIPUserAgent/3.1",
    ] {
        let mut c = Client::new("127.0.0.4", r.udp, "alice");
        c.user_agent = Some(ua);
        assert_eq!(c.challenge(Duration::from_millis(300)), None, "{ua}");
    }
    let mut c = Client::new("127.0.0.4", r.udp, "alice");
    c.user_agent = Some("PJSUA v2.15 Linux");
    assert_eq!(c.challenge(SECS), Some(401));
    let s = r.server().router().guard().stats();
    assert_eq!(s.scanners.load(std::sync::atomic::Ordering::Relaxed), 4);
}

/// The status line and the header names of an answer: what would tell a known user from
/// an unknown one (values carry fresh nonces and tags).
fn shape(m: &SipMessage) -> (Option<u16>, Vec<String>) {
    let mut names: Vec<String> = m
        .headers()
        .iter()
        .map(|h| String::from_utf8_lossy(h.name.as_str().as_bytes()).to_ascii_lowercase())
        .collect();
    names.sort();
    (m.status(), names)
}

/// No method tells who exists: REGISTER, INVITE, MESSAGE, SUBSCRIBE and OPTIONS from a
/// known and an unknown user get the same answers, without credentials and with wrong
/// ones.
#[test]
fn known_and_unknown_users_get_the_same_answers() {
    plugin("registrar_proxy");
    let r =
        TestRouter::from_config_file(&example(), &["udp:127.0.0.1:0", "tcp:127.0.0.1:0"], |_| {});
    let mut n = 0;
    for method in ["REGISTER", "INVITE", "MESSAGE", "SUBSCRIBE", "OPTIONS"] {
        let mut seen = Vec::new();
        for user in ["alice", "zed"] {
            // a fresh address each time: no ban in the way
            n += 1;
            let mut c = Client::new(&format!("127.0.3.{n}"), r.udp, user);
            c.method = method;
            let bare = c.send("", SECS).expect("answered");
            let auth = c.authorization("wrong").expect("challenged");
            let wrong = c.send(&auth, SECS).expect("answered");
            seen.push((shape(&bare), shape(&wrong)));
        }
        assert_eq!(seen[0], seen[1], "{method}: alice vs zed");
        // and no version banner
        assert!(
            !seen[0].0.1.contains(&"server".to_string()),
            "{:?}",
            seen[0]
        );
        let code = seen[0].0.0;
        assert!(matches!(code, Some(401 | 407)), "{method}: {code:?}");
        assert_eq!(seen[0].1.0, code, "{method}");
    }
}

/// Real phones through the attack: PJSIP alice and bob register, and call each other,
/// while a cracker hammers alice's password from one address and a crowd guesses at
/// bob's from many.
#[test]
fn pjsip_phones_register_and_call_through_the_attack() {
    plugin("registrar_proxy");
    let r =
        TestRouter::from_config_file(&example(), &["udp:127.0.0.1:0", "tcp:127.0.0.1:0"], |_| {});
    let mut alice = Phone::start(&PhoneOpts::example("alice", r.udp, "udp"));
    let mut bob = Phone::start(&PhoneOpts::example("bob", r.tcp, "tcp"));
    assert_eq!(alice.register(), 200);
    assert_eq!(bob.register(), 200);

    let router = r.udp;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attack = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut cracker = Client::new("127.0.0.2", router, "alice");
            let list = words(100_000, "never", usize::MAX);
            let mut sent = 0;
            let mut crowd = 0u32;
            for chunk in list.chunks(50) {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let got = crack(
                    &mut cracker,
                    chunk,
                    Duration::from_secs(2),
                    Duration::from_millis(20),
                    Duration::from_millis(20),
                );
                assert_eq!(got.found, None);
                sent += chunk.len();
                // guesses at bob from new addresses of the crowd, one each
                for _ in 0..5 {
                    crowd += 1;
                    let mut c = Client::new(&format!("127.0.4.{}", 1 + crowd % 250), router, "bob");
                    if c.challenge(Duration::from_millis(200)).is_some() {
                        let _ = c.sign_in(&format!("guess{crowd}"), Duration::from_millis(200));
                    }
                }
            }
            sent
        })
    };
    // the attack in full swing: the cracker banned (and still sending), bob throttled
    let guard = r.server().router().guard();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let until = Instant::now() + Duration::from_secs(30);
    while !(guard
        .bans(now())
        .iter()
        .any(|b| b.source.to_string() == "127.0.0.2/32")
        && guard
            .throttled(now())
            .iter()
            .any(|t| t.user == "bob@sipwasm.local"))
    {
        assert!(
            Instant::now() < until,
            "no ban and throttle: {:?}",
            guard.bans(now())
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // through the attack: register again, call, message, hang up
    assert_eq!(alice.register(), 200);
    assert_eq!(bob.register(), 200);
    let a = alice.call("sip:bob@sipwasm.local");
    let b = bob.incoming();
    bob.send(json!({"cmd": "answer", "call": b, "code": 200}));
    alice.call_state(a, "CONFIRMED");
    bob.call_state(b, "CONFIRMED");
    alice.send(json!({"cmd": "message", "to": "sip:bob@sipwasm.local", "text": "still here"}));
    let st = alice.expect("MESSAGE answered", SECS, |e| e["ev"] == "message_status");
    assert_eq!(st["code"], 200, "{st}");
    bob.send(json!({"cmd": "hangup", "call": b}));
    alice.call_state(a, "DISCONNECTED");
    let b2 = bob.call("sip:alice@sipwasm.local");
    let a2 = alice.incoming();
    alice.send(json!({"cmd": "answer", "call": a2, "code": 200}));
    bob.call_state(b2, "CONFIRMED");
    alice.send(json!({"cmd": "hangup", "call": a2}));
    bob.call_state(b2, "DISCONNECTED");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = attack.join().unwrap();
    assert!(sent >= 200, "the attack ran: {sent} guesses");
    assert_eq!(alice.unregister(), 200);
    assert_eq!(bob.unregister(), 200);
}

#[test]
fn a_pjsip_phone_authenticates_with_sha256_digest() {
    // RFC 8760 with a real client: the probe challenges user `sha` with SHA-256 only and
    // saves the binding only when the response used it
    let r = TestRouter::start("probe");
    let mut opts = PhoneOpts::example("sha", r.udp, "udp");
    opts.password = "sha-secret".into();
    let mut phone = Phone::start(&opts);
    assert_eq!(
        phone.register(),
        200,
        "PJSIP answered the SHA-256 challenge"
    );
    // a wrong password is refused the same way
    opts.password = "not-the-secret".into();
    let mut wrong = Phone::start(&opts);
    assert_eq!(wrong.register(), 401);
}

/// The example with a gateway (a SIPp UAS on `gw_port`) and `settings` in its plugin
/// config.
fn example_with_gateway(gw_port: u16, settings: &[(&str, &str)]) -> TestRouter {
    twin_with_gateway("", gw_port, settings)
}

/// [`example_with_gateway`] for the example's twin in `lang` (`c`, `py`, `js`; `""`: the
/// example itself).
fn twin_with_gateway(lang: &str, gw_port: u16, settings: &[(&str, &str)]) -> TestRouter {
    let (plugin_name, config) = if lang.is_empty() {
        ("registrar_proxy".to_string(), example())
    } else {
        (
            format!("registrar_proxy_{lang}"),
            root().join(format!("config/examples/registrar-proxy-{lang}.toml")),
        )
    };
    plugin(&plugin_name);
    TestRouter::from_config_file(&config, &["udp:127.0.0.1:0", "tcp:127.0.0.1:0"], |cfg| {
        let c = &mut cfg.tenants[cfg.default_tenant].plugin_config;
        c.insert("gateway".into(), format!("sip:127.0.0.1:{gw_port}"));
        for (k, v) in settings {
            c.insert(k.to_string(), v.to_string());
        }
    })
}

/// `user` (password `user-secret`) calls `callee` of the example's domain.
fn call_vars(user: &str, callee: &str) -> Vec<(&'static str, String)> {
    vec![
        ("USER", user.to_string()),
        ("PASSWORD", format!("{user}-secret")),
        ("DOMAIN", REALM.to_string()),
        ("CALLEE", callee.to_string()),
    ]
}

fn tenant_calls(r: &TestRouter) -> std::sync::Arc<sipwasm_routing::dialog::Calls> {
    r.server()
        .router()
        .tenants()
        .default_tenant()
        .local()
        .calls
        .clone()
}

/// Toll fraud, concurrent calls: with `max_calls = 2`, five calls alice places within half
/// a second (each up for 3 s) through the example to its gateway: two go through, three
/// get 403; once those two hung up (BYE), alice calls again.
#[test]
fn concurrent_calls_per_user_are_limited() {
    let _sipp = sipp_lock();
    let gw_port = free_port();
    let r = example_with_gateway(
        gw_port,
        &[
            ("max_calls", "2"),
            ("calls_per_minute", "0"),
            ("allow_prefixes", "+1555"),
        ],
    );
    let mut gw = Sipp::server(Scenario::File("uas_rr.xml", vec![]), gw_port);
    gw.calls = 4;
    let gw = gw.spawn();
    let mut burst = Sipp::client(
        Scenario::File("uac_auth_call.xml", call_vars("alice", "+15550001")),
        r.udp,
    );
    burst.calls = 5;
    burst.rate = 10;
    burst.hold_ms = 3000;
    let out = burst.run();
    assert_eq!(
        (out.successful_calls, out.failed_calls),
        (2, 3),
        "{}",
        out.output
    );
    let calls = tenant_calls(&r);
    let refused = || {
        calls
            .stats()
            .refused_concurrent
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    assert_eq!(refused(), 3);
    // both hung up: their places are free
    assert_eq!(calls.active("alice"), 0);
    let mut again = Sipp::client(
        Scenario::File("uac_auth_call.xml", call_vars("alice", "+15550001")),
        r.udp,
    );
    again.calls = 2;
    assert_calls("alice calls again after hanging up", &again.run(), 2);
    assert_calls("the gateway answered", &gw.wait(Duration::from_secs(10)), 4);
    assert_eq!(refused(), 3);
}

/// Toll fraud, calls a minute and destinations: with `calls_per_minute = 3`, alice's
/// fourth and fifth calls in a row get 403 (a failed call counts too, and frees its place
/// at once); a number outside `allow_prefixes` is 403 for alice, while bob, who is
/// `granted`, reaches it; a name nobody registered is 404.
#[test]
fn calls_a_minute_and_destinations_are_limited() {
    let _sipp = sipp_lock();
    let gw_port = free_port();
    let r = example_with_gateway(
        gw_port,
        &[
            ("max_calls", "0"),
            ("calls_per_minute", "3"),
            ("allow_prefixes", "+1555, 1555"),
            ("granted", "bob"),
        ],
    );
    let mut gw = Sipp::server(Scenario::File("uas_rr.xml", vec![]), gw_port);
    gw.calls = 4;
    let gw = gw.spawn();
    let mut five = Sipp::client(
        Scenario::File("uac_auth_call.xml", call_vars("alice", "15550002")),
        r.udp,
    );
    five.calls = 5;
    five.rate = 20;
    let out = five.run();
    assert_eq!(
        (out.successful_calls, out.failed_calls),
        (3, 2),
        "{}",
        out.output
    );
    let calls = tenant_calls(&r);
    assert_eq!(
        calls
            .stats()
            .refused_per_minute
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    // a number outside allow_prefixes goes through for bob, who is granted
    assert_calls(
        "bob (granted) calls abroad",
        &Sipp::client(
            Scenario::File("uac_auth_call.xml", call_vars("bob", "+4420790001")),
            r.udp,
        )
        .run(),
        1,
    );
    assert_calls("the gateway answered", &gw.wait(Duration::from_secs(10)), 4);
    // alice, on a fresh minute (another router): abroad 403, a name nobody has 404
    drop(r);
    let r = example_with_gateway(gw_port, &[("allow_prefixes", "+1555")]);
    let refused = |user: &str, callee: &str, code: &str| {
        let mut v = call_vars(user, callee);
        v.push(("CODE", code.to_string()));
        Sipp::client(Scenario::File("uac_auth_refused.xml", v), r.udp).run()
    };
    assert_calls(
        "alice calls abroad",
        &refused("alice", "+4420790001", "403"),
        1,
    );
    assert_calls(
        "alice calls a name nobody has",
        &refused("alice", "carol", "404"),
        1,
    );
}

/// The destination rules of the twins in C, Python and JavaScript, as the example's: a
/// number with an allowed prefix reaches the gateway, one without is 403 unless the caller
/// is granted, a name nobody registered is 404.
#[test]
fn the_twins_keep_numbers_to_their_allowed_prefixes() {
    let _sipp = sipp_lock();
    for lang in ["c", "py", "js"] {
        let gw_port = free_port();
        let r = twin_with_gateway(
            lang,
            gw_port,
            &[("allow_prefixes", "+1555"), ("granted", "bob")],
        );
        let mut gw = Sipp::server(Scenario::File("uas_rr.xml", vec![]), gw_port);
        gw.calls = 2;
        let gw = gw.spawn();
        let call = |user: &str, callee: &str| {
            Sipp::client(
                Scenario::File("uac_auth_call.xml", call_vars(user, callee)),
                r.udp,
            )
            .run()
        };
        let refused = |user: &str, callee: &str, code: &str| {
            let mut v = call_vars(user, callee);
            v.push(("CODE", code.to_string()));
            Sipp::client(Scenario::File("uac_auth_refused.xml", v), r.udp).run()
        };
        assert_calls(
            &format!("{lang}: alice, allowed"),
            &call("alice", "+15550003"),
            1,
        );
        assert_calls(
            &format!("{lang}: bob, granted"),
            &call("bob", "+4420790001"),
            1,
        );
        assert_calls(
            &format!("{lang}: alice abroad"),
            &refused("alice", "+4420790001", "403"),
            1,
        );
        assert_calls(
            &format!("{lang}: alice to a name"),
            &refused("alice", "carol", "404"),
            1,
        );
        assert_calls(
            &format!("{lang}: the gateway"),
            &gw.wait(Duration::from_secs(10)),
            2,
        );
    }
}
