//! Proxy behaviour of the routing core: the request that goes on (RFC 3261 §16.6),
//! Record-Route and loose routing, Max-Forwards, relay intents, digest auth end to end.

use crate::auth::{Algorithm, AuthError, Credentials, Realm, digest_response, parse_credentials};
use crate::context::RouteContext;
use crate::env::{Alias, Listener, LocalConfig, Source};
use crate::forward::{ForwardSpec, build_request, stateless_reply_hop};
use crate::pv::PvSpec;
use crate::services::NextHop;
use crate::tm::{TmError, TmIntent};
use crate::value::Value;
use bytes::Bytes;
use sipwasm_proto::{SipMessage, Transport};
use std::sync::Arc;

pub(crate) const UDP: &str = "10.0.0.1:5060";
pub(crate) const TCP: &str = "10.0.0.1:5061";

/// One router identity for all contexts of a test (nonce secret, hash keys).
pub(crate) fn cfg() -> Arc<LocalConfig> {
    static CFG: std::sync::OnceLock<Arc<LocalConfig>> = std::sync::OnceLock::new();
    CFG.get_or_init(new_cfg).clone()
}

fn new_cfg() -> Arc<LocalConfig> {
    Arc::new(
        LocalConfig::new(
            vec![
                Listener {
                    transport: Transport::Udp,
                    addr: UDP.parse().unwrap(),
                },
                Listener {
                    transport: Transport::Tcp,
                    addr: TCP.parse().unwrap(),
                },
            ],
            vec![Alias {
                host: "proxy.example.com".into(),
                port: None,
            }],
            None,
        )
        // the benchmarking network stands for load balancers that do not record-route
        .with_trusted_peers(vec!["198.18.0.0/15".parse().unwrap()]),
    )
}

pub(crate) fn ctx_from(text: &str) -> RouteContext {
    ctx_at(text, "192.0.2.1:40000")
}

/// A context for `text` under `config`.
fn ctx_in(config: &Arc<LocalConfig>, text: &str) -> RouteContext {
    let mut c = ctx_from(text);
    c.config = config.clone();
    c
}

/// A context for `text` received over UDP from `src`.
pub(crate) fn ctx_at(text: &str, src: &str) -> RouteContext {
    let msg = SipMessage::parse_slice(text.as_bytes()).unwrap();
    RouteContext::new(
        cfg(),
        msg,
        Source {
            transport: Transport::Udp,
            src: src.parse().unwrap(),
            local: UDP.parse().unwrap(),
            conn: None,
        },
        1_000_000,
    )
}

/// An INVITE carrying `body` (of `content_type`, when given), with two Subject headers.
pub(crate) fn ctx_with_body(body: &str, content_type: Option<&str>) -> RouteContext {
    let ct = content_type.map_or(String::new(), |c| format!("Content-Type: {c}\r\n"));
    let text = format!(
        "INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1\r\n\
From: <sip:alice@example.com>;tag=1\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: c1\r\n\
CSeq: 1 INVITE\r\n\
Subject: hello world\r\n\
Subject: second\r\n\
{ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    crate::proxy_tests::ctx_from(&text)
}

pub(crate) fn invite(extra: &str) -> String {
    format!(
        "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP alice.example.com:5070;branch=z9hG4bKa1;rport\r\n\
Max-Forwards: 70\r\n\
{extra}From: <sip:alice@atlanta.example.com>;tag=a\r\n\
To: <sip:bob@biloxi.example.com>\r\n\
Call-ID: c1\r\n\
CSeq: 1 INVITE\r\n\
Content-Type: text/plain\r\n\
Content-Length: 2\r\n\r\nhi"
    )
}

pub(crate) fn hop(s: &str, t: Transport) -> NextHop {
    NextHop {
        transport: t,
        addr: s.parse().unwrap(),
    }
}

/// [`forwarded`] over UDP from [`UDP`] to `to`.
pub(crate) fn forwarded_udp(c: &RouteContext, ruri: &str, to: &str) -> SipMessage {
    forwarded(c, ruri, hop(to, Transport::Udp), UDP, Transport::Udp)
}

pub(crate) fn forwarded(
    c: &RouteContext,
    ruri: &str,
    h: NextHop,
    local: &str,
    lt: Transport,
) -> SipMessage {
    let data = build_request(
        c,
        &ForwardSpec {
            ruri,
            hop: h,
            local: Listener {
                transport: lt,
                addr: local.parse().unwrap(),
            },
            path: &[],
            branch: "z9hG4bKsw.1.2.0",
        },
    );
    SipMessage::parse(Bytes::from(data)).unwrap()
}

#[test]
fn relay_intents_and_stateless_forward() {
    let mut c = ctx_from(&invite(""));
    c.pv_set(
        &PvSpec::parse("$du").unwrap(),
        Value::from("sip:10.0.0.9:5080"),
    )
    .unwrap();
    c.append_branch(Some("sip:bob@10.0.0.10")).unwrap();
    c.append_branch(Some("sip:bob@unresolvable.invalid"))
        .unwrap();
    c.t_on_failure("FAIL");
    c.t_relay(None).unwrap();
    assert_eq!(c.t_relay(None), Err(TmError::AlreadyRelayed));
    let intents = c.take_intents();
    let TmIntent::Relay(plans) = &intents[0] else {
        panic!("{intents:?}")
    };
    assert_eq!(plans.len(), 2, "the unresolvable branch is skipped");
    assert_eq!(plans[0].hop().addr, "10.0.0.9:5080".parse().unwrap());
    assert_eq!(plans[0].branch.uri, "sip:bob@biloxi.example.com");
    assert_eq!(plans[1].branch.uri, "sip:bob@10.0.0.10");
    assert_eq!(c.tm_state().on_failure.as_deref(), Some("FAIL"));
    assert!(c.branches().is_empty(), "t_relay consumed the branch set");
    assert!(!c.ruri_is_new());
    // nothing resolvable: an error for the route
    let mut c = ctx_from(&invite(""));
    assert!(matches!(c.t_relay(None), Err(TmError::NoDestination(_))));
    // stateless forward sends at once, with a branch that is stable for retransmissions
    let mut c = ctx_from(&invite(""));
    c.forward(Some("sip:10.0.0.9:5080")).unwrap();
    let mut again = ctx_from(&invite(""));
    again.forward(Some("sip:10.0.0.9:5080")).unwrap();
    let a = c.take_outbound().pop().unwrap();
    let b = again.take_outbound().pop().unwrap();
    assert_eq!(a.dest, "10.0.0.9:5080".parse().unwrap());
    let ma = SipMessage::parse(a.data).unwrap();
    let mb = SipMessage::parse(b.data).unwrap();
    assert_eq!(
        ma.top_via().branch(ma.as_bytes()),
        mb.top_via().branch(mb.as_bytes())
    );
    assert!(
        ma.top_via()
            .branch(ma.as_bytes())
            .unwrap()
            .starts_with(b"z9hG4bKsl.")
    );
    // an ACK is relayed statelessly: no transaction intent
    let ack = invite("")
        .replace("INVITE sip", "ACK sip")
        .replace("1 INVITE", "1 ACK");
    let mut c = ctx_from(&ack);
    c.t_relay(Some("sip:10.0.0.9")).unwrap();
    assert!(c.take_intents().is_empty());
    assert_eq!(c.take_outbound().len(), 1);
}

#[test]
fn replies_without_a_transaction_follow_the_next_via() {
    let reply = "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKsl.1\r\n\
Via: SIP/2.0/UDP alice.example.com:5070;branch=z9hG4bKa1;rport=40000;received=192.0.2.1\r\n\
From: <sip:alice@atlanta.example.com>;tag=a\r\nTo: <sip:bob@b>;tag=b\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    let m = SipMessage::parse(Bytes::from_static(reply.as_bytes())).unwrap();
    let ours = |h: &[u8], p: Option<u16>| h == b"10.0.0.1" && p == Some(5060);
    assert_eq!(
        stateless_reply_hop(&m, ours),
        Some(hop("192.0.2.1:40000", Transport::Udp))
    );
    assert_eq!(stateless_reply_hop(&m, |_, _| false), None, "not our Via");
    let bcast = reply.replace("received=192.0.2.1", "received=255.255.255.255");
    let m = SipMessage::parse(Bytes::from(bcast)).unwrap();
    assert_eq!(
        stateless_reply_hop(&m, ours),
        None,
        "never to a broadcast address"
    );
}

#[test]
fn digest_auth_round_trip() {
    let mut c = ctx_from(&invite(""));
    c.auth_challenge(
        "myrealm",
        Realm::Proxy,
        &[Algorithm::Sha256, Algorithm::Md5],
        false,
    )
    .unwrap();
    let challenge = SipMessage::parse(c.take_outbound().pop().unwrap().data).unwrap();
    assert_eq!(challenge.status(), Some(407));
    let offers: Vec<&[u8]> = challenge.headers_named(b"Proxy-Authenticate").collect();
    assert_eq!(offers.len(), 2);
    let text = String::from_utf8_lossy(offers[1]).into_owned();
    assert!(
        text.contains("algorithm=MD5") && text.contains("qop=\"auth\""),
        "{text}"
    );
    let nonce = text
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let creds = |nc: &str, password: &str| {
        let mut cr = Credentials {
            username: "alice".into(),
            realm: "myrealm".into(),
            nonce: nonce.clone(),
            uri: "sip:bob@biloxi.example.com".into(),
            response: String::new(),
            algorithm: "MD5".into(),
            cnonce: Some("c0ffee".into()),
            qop: Some("auth".into()),
            nc: Some(nc.into()),
            opaque: None,
        };
        cr.response = digest_response(&cr, password, "INVITE").unwrap();
        format!(
            "Proxy-Authorization: Digest username=\"alice\", realm=\"myrealm\", nonce=\"{nonce}\", uri=\"{}\", response=\"{}\", algorithm=MD5, cnonce=\"c0ffee\", qop=auth, nc={nc}\r\n",
            cr.uri, cr.response
        )
    };
    let mut c = ctx_from(&invite(&creds("00000001", "secret")));
    assert!(c.auth_has_credentials("myrealm", Realm::Proxy));
    assert_eq!(
        c.auth_username("myrealm", Realm::Proxy).as_deref(),
        Some("alice")
    );
    assert_eq!(
        c.auth_check("myrealm", "wrong", Realm::Proxy, None),
        Err(AuthError::InvalidPassword)
    );
    assert_eq!(
        c.auth_check("myrealm", "secret", Realm::Proxy, None),
        Ok("alice".into())
    );
    assert_eq!(
        c.pv_get(&PvSpec::parse("$au").unwrap()).unwrap(),
        Value::from("alice")
    );
    // the same nonce count again is a replay
    let mut c = ctx_from(&invite(&creds("00000001", "secret")));
    assert_eq!(
        c.auth_check("myrealm", "secret", Realm::Proxy, None),
        Err(AuthError::NonceReused)
    );
    let mut c = ctx_from(&invite(&creds("00000002", "secret")));
    assert_eq!(
        c.auth_check("myrealm", "secret", Realm::Proxy, None),
        Ok("alice".into())
    );
    assert!(c.consume_credentials(sipwasm_proto::HeaderName::ProxyAuthorization));
    assert!(!c.auth_has_credentials("otherrealm", Realm::Proxy));
    assert!(!c.auth_has_credentials("myrealm", Realm::Www));
    let _ = parse_credentials(b"Digest username=\"x\", nonce=\"n\", response=\"r\"").unwrap();
}

/// Proxy-Authorization of `user` with `password` for a nonce `config` issued at 1000.
fn credentials_for(
    config: &Arc<LocalConfig>,
    user: &str,
    password: &str,
    algorithm: Algorithm,
) -> String {
    let alg = match algorithm {
        Algorithm::Md5 => "MD5",
        Algorithm::Sha256 => "SHA-256",
    };
    let mut cr = Credentials {
        username: user.into(),
        realm: "myrealm".into(),
        nonce: config.auth.new_nonce(1_000),
        uri: "sip:bob@biloxi.example.com".into(),
        response: String::new(),
        algorithm: alg.into(),
        cnonce: Some("c0ffee".into()),
        qop: Some("auth".into()),
        nc: Some("00000001".into()),
        opaque: None,
    };
    cr.response = digest_response(&cr, password, "INVITE").unwrap();
    format!(
        "Proxy-Authorization: Digest username=\"{user}\", realm=\"myrealm\", nonce=\"{}\", uri=\"{}\", response=\"{}\", algorithm={alg}, cnonce=\"c0ffee\", qop=auth, nc=00000001\r\n",
        cr.nonce, cr.uri, cr.response
    )
}

#[test]
fn ha1_instead_of_the_password_md5_and_sha256() {
    let config = new_cfg();
    let ha1 = crate::auth::ha1_record("alice", "myrealm", "secret");
    for alg in [Algorithm::Md5, Algorithm::Sha256] {
        let creds = credentials_for(&config, "alice", "secret", alg);
        let mut c = ctx_in(&config, &invite(&creds));
        c.now_unix = 1_001;
        assert_eq!(
            c.auth_check(
                "myrealm",
                crate::auth::Secret::Ha1(&ha1),
                Realm::Proxy,
                None
            ),
            Ok("alice".into()),
            "{alg:?}"
        );
        // the hash of the algorithm the client chose must be there
        let mut c = ctx_in(&config, &invite(&creds));
        c.now_unix = 1_001;
        let other = if alg == Algorithm::Md5 {
            &ha1[33..]
        } else {
            &ha1[..32]
        };
        assert!(matches!(
            c.auth_check(
                "myrealm",
                crate::auth::Secret::Ha1(other),
                Realm::Proxy,
                None
            ),
            Err(AuthError::NoHa1(_))
        ));
    }
    // a wrong password against HA1 is a wrong password
    let creds = credentials_for(&config, "alice", "guess", Algorithm::Md5);
    let mut c = ctx_in(&config, &invite(&creds));
    c.now_unix = 1_001;
    assert_eq!(
        c.auth_check(
            "myrealm",
            crate::auth::Secret::Ha1(&ha1),
            Realm::Proxy,
            None
        ),
        Err(AuthError::InvalidPassword)
    );
}

#[test]
fn the_guard_counts_wrong_responses_and_unknown_users_not_stale_nonces() {
    use std::sync::atomic::Ordering::Relaxed;
    let config = new_cfg();
    let failures = || config.guard.stats().auth_failures.load(Relaxed);
    let run = |creds: &str, now: u64, password: Option<&str>| {
        let mut c = ctx_in(&config, &invite(creds));
        c.now_unix = now;
        let r = password.map(|p| c.auth_check("myrealm", p, Realm::Proxy, None));
        if !matches!(r, Some(Ok(_))) {
            c.auth_challenge("myrealm", Realm::Proxy, &[Algorithm::Md5], false)
                .unwrap();
        }
        r
    };
    // no credentials: a challenge, no failure
    assert_eq!(run("", 1_001, None), None);
    assert_eq!(failures(), 0);
    // a wrong password: one failure (checked, then challenged: counted once)
    let wrong = credentials_for(&config, "alice", "guess", Algorithm::Md5);
    assert_eq!(
        run(&wrong, 1_001, Some("secret")),
        Some(Err(AuthError::InvalidPassword))
    );
    assert_eq!(failures(), 1);
    // an unknown user: the plugin has no password and only challenges; a failure too
    let unknown = credentials_for(&config, "mallory", "x", Algorithm::Md5);
    assert_eq!(run(&unknown, 1_001, None), None);
    assert_eq!(failures(), 2);
    // the right response to an expired nonce: stale, no failure
    let right = credentials_for(&config, "alice", "secret", Algorithm::Md5);
    assert_eq!(
        run(
            &right,
            1_000 + crate::auth::NONCE_LIFETIME + 10,
            Some("secret")
        ),
        Some(Err(AuthError::StaleNonce))
    );
    assert_eq!(failures(), 2);
    // a replay: a failure
    assert_eq!(run(&right, 1_001, Some("secret")), Some(Ok("alice".into())));
    assert_eq!(
        run(&right, 1_001, Some("secret")),
        Some(Err(AuthError::NonceReused))
    );
    assert_eq!(failures(), 3);
}

#[test]
fn an_onreply_context_starts_without_the_requests_lumps() {
    let mut c = ctx_from(&invite(""));
    c.process_maxfwd(10).unwrap();
    c.record_route("").unwrap();
    assert_ne!(c.rendered(), c.msg.as_bytes(), "the request has lumps");
    let reply = "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP alice.example.com:5070;branch=z9hG4bKa1;rport=5070\r\n\
From: <sip:alice@atlanta.example.com>;tag=a\r\n\
To: <sip:bob@biloxi.example.com>;tag=b\r\n\
Call-ID: c1\r\n\
CSeq: 1 INVITE\r\n\
Content-Length: 0\r\n\r\n";
    let r = c.with_message(
        SipMessage::parse(Bytes::from_static(reply.as_bytes())).unwrap(),
        *c.source(),
    );
    assert_eq!(r.rendered(), reply.as_bytes());
    assert_eq!(r.flags, c.flags, "transaction-scoped state is kept");
}

/// A transaction layer that suspends with fixed ids and accepts one resume of them.
struct FakeTm {
    resumed: std::sync::Mutex<Vec<crate::tm::Resume>>,
}

impl crate::services::Services for FakeTm {
    fn resolve(&self, uri: &str) -> Result<Vec<NextHop>, crate::services::ResolveError> {
        crate::services::StaticServices.resolve(uri)
    }

    fn transaction_exists(
        &self,
        _caller: Option<&crate::services::Caller>,
        _msg: &SipMessage,
    ) -> bool {
        false
    }

    fn suspend(&self, _caller: Option<&crate::services::Caller>) -> Result<(u32, u32), TmError> {
        Ok((7, 42))
    }

    fn resume(
        &self,
        _caller: Option<&crate::services::Caller>,
        resume: crate::tm::Resume,
    ) -> Result<(), TmError> {
        if (resume.index, resume.label) != (7, 42) {
            return Err(TmError::NoTransaction);
        }
        let mut done = self.resumed.lock().unwrap();
        if !done.is_empty() {
            return Err(TmError::NotSuspended);
        }
        done.push(resume);
        Ok(())
    }
}

#[test]
fn t_suspend_sets_the_ids_and_blocks_relay_and_reply_in_the_same_route() {
    let tm = Arc::new(FakeTm {
        resumed: std::sync::Mutex::new(Vec::new()),
    });
    let config = Arc::new(LocalConfig::new(Vec::new(), Vec::new(), None).with_services(tm.clone()));
    let msg = SipMessage::parse(Bytes::from(invite(""))).unwrap();
    let source = Source {
        transport: Transport::Udp,
        src: "192.0.2.1:40000".parse().unwrap(),
        local: UDP.parse().unwrap(),
        conn: None,
    };
    let mut c = RouteContext::new(config.clone(), msg.clone(), source, 1);
    assert_eq!(c.t_suspend(), Ok((7, 42)));
    assert_eq!(c.t_suspend(), Ok((7, 42)), "idempotent within the route");
    let get = |c: &RouteContext, n: &str| c.pv_get(&PvSpec::parse(n).unwrap()).unwrap();
    assert_eq!(get(&c, "$T(id_index)"), Value::Int(7));
    assert_eq!(get(&c, "$T(id_label)"), Value::Int(42));
    assert!(matches!(
        c.t_relay(Some("sip:192.0.2.9")),
        Err(TmError::Invalid(_))
    ));
    assert!(matches!(c.t_reply(200, "OK"), Err(TmError::Invalid(_))));
    assert_eq!(c.take_intents(), vec![TmIntent::Suspend]);
    // a resumed route (a fresh run of the saved state) may relay
    let mut resumed = c.rerun();
    assert!(resumed.t_relay(Some("sip:192.0.2.9")).is_ok());
    // t_continue checks ids and route names at once
    let mut other = RouteContext::new(config, msg, source, 1);
    assert!(matches!(
        other.t_continue(7, 42, ""),
        Err(TmError::Invalid(_))
    ));
    assert!(matches!(
        other.t_continue(7, 42, "A B"),
        Err(TmError::Invalid(_))
    ));
    assert_eq!(
        other.t_continue(7, 41, "RESUME"),
        Err(TmError::NoTransaction)
    );
    assert_eq!(other.t_continue(7, 42, "RESUME"), Ok(()));
    assert_eq!(
        other.t_continue(7, 42, "RESUME"),
        Err(TmError::NotSuspended)
    );
    assert_eq!(tm.resumed.lock().unwrap()[0].route, "RESUME");
    // not for ACK or CANCEL, and not without a transaction layer
    let ack = invite("")
        .replacen("INVITE sip:", "ACK sip:", 1)
        .replace(" INVITE\r\n", " ACK\r\n");
    assert_eq!(ctx_from(&ack).t_suspend(), Err(TmError::NoRequest));
    let cancel = invite("")
        .replacen("INVITE sip:", "CANCEL sip:", 1)
        .replace(" INVITE\r\n", " CANCEL\r\n");
    assert!(matches!(
        ctx_from(&cancel).t_suspend(),
        Err(TmError::Invalid(_))
    ));
    assert!(matches!(
        ctx_from(&invite("")).t_suspend(),
        Err(TmError::Invalid(_))
    ));
}
