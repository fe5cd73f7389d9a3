//! MSRP on the SIP ports (`msrp:frame-in`): TCP connections that start with `MSRP ` are
//! framed as MSRP and each frame runs the plugin's event (the probe answers SENDs).

use crate::harness::*;
use bytes::BytesMut;
use sipwasm_proto::msrp::{MsrpFrame, MsrpFramer};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// An MSRP client on a TCP connection, or any stream (TLS) that reads with a short
/// timeout.
pub(crate) struct MsrpClient<S = TcpStream> {
    pub(crate) stream: S,
    buf: BytesMut,
    framer: MsrpFramer,
}

impl MsrpClient {
    fn connect(r: &TestRouter) -> MsrpClient {
        MsrpClient::over(TcpStream::connect(r.tcp).unwrap())
    }

    /// A client on an open connection (one the relay opened to an endpoint, too).
    fn over(stream: TcpStream) -> MsrpClient {
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        MsrpClient::wrap(stream)
    }
}

impl<S: Read + Write> MsrpClient<S> {
    /// A client on `stream`, whose reads must time out (100 ms or so).
    pub(crate) fn wrap(stream: S) -> MsrpClient<S> {
        MsrpClient {
            stream,
            buf: BytesMut::new(),
            framer: MsrpFramer::new(1 << 20),
        }
    }

    pub(crate) fn send(&mut self, data: &[u8]) {
        self.stream.write_all(data).unwrap();
    }

    pub(crate) fn recv(&mut self, timeout: Duration) -> Option<MsrpFrame> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(f) = self
                .framer
                .decode(&mut self.buf)
                .expect("router output frames")
            {
                return Some(f);
            }
            if Instant::now() > deadline {
                return None;
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => {}
            }
        }
    }
}

fn send_frame(tid: &str, to: &str, body: &str) -> String {
    format!(
        "MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: msrp://alice.example:7777/iau39;tcp\r\n\
Message-ID: m-{tid}\r\nByte-Range: 1-{n}/{n}\r\nContent-Type: text/plain\r\n\r\n{body}\r\n-------{tid}$\r\n",
        n = body.len()
    )
}

#[test]
fn msrp_frames_reach_the_plugin_which_answers_on_the_connection() {
    let r = TestRouter::start("probe");
    let relay = format!("msrp://{}/sess1;tcp", r.tcp);
    let mut c = MsrpClient::connect(&r);
    let frame = send_frame("tid0001", &relay, "Hey Bob, are you there?");
    // in two pieces
    c.send(&frame.as_bytes()[..30]);
    std::thread::sleep(Duration::from_millis(50));
    c.send(&frame.as_bytes()[30..]);
    let ok = c.recv(Duration::from_secs(2)).expect("200");
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.transact_id(), b"tid0001");
    assert_eq!(
        ok.to_path(),
        vec![&b"msrp://alice.example:7777/iau39;tcp"[..]]
    );
    assert_eq!(ok.from_path(), vec![relay.as_bytes()]);
    let h = |n: &str| String::from_utf8_lossy(ok.header(n.as_bytes()).unwrap()).into_owned();
    assert_eq!(h("X-Probe-Sessid"), "sess1");
    assert_eq!(h("X-Probe-Prevhop"), "msrp://alice.example:7777/iau39;tcp");
    assert_eq!(h("X-Probe-Bodylen"), "23");
    let local = c.stream.local_addr().unwrap();
    assert_eq!(h("X-Probe-Srcaddr"), format!("sip:{local};transport=tcp"));
    assert_eq!(h("X-Probe-Port"), r.tcp.port().to_string());
    // [msrp] sipmsg (on by default): the frame seen as a SIP-like request
    assert_eq!(h("X-Probe-Sip-View"), "MSRP|m-tid0001|MSRP tid0001 SEND");
    // two frames in one write, the second refused
    let two = send_frame("tid0002", &relay, "one") + &send_frame("tid0003", &relay, "fail");
    c.send(two.as_bytes());
    let a = c.recv(Duration::from_secs(2)).expect("first answer");
    let b = c.recv(Duration::from_secs(2)).expect("second answer");
    let mut got = vec![
        (a.transact_id().to_vec(), a.status()),
        (b.transact_id().to_vec(), b.status()),
    ];
    got.sort();
    assert_eq!(
        got,
        vec![
            (b"tid0002".to_vec(), Some(200)),
            (b"tid0003".to_vec(), Some(403))
        ]
    );
    // a REPORT gets no answer
    let report = send_frame("tid0004", &relay, "x").replacen(" SEND\r\n", " REPORT\r\n", 1);
    c.send(report.as_bytes());
    assert!(c.recv(Duration::from_millis(300)).is_none());
    // (handled, counted: the unanswered REPORT may still be on its way on a loaded machine)
    let frames = || {
        r.server()
            .router()
            .stats()
            .msrp_frames
            .load(Ordering::Relaxed)
    };
    wait_until(Duration::from_secs(5), || frames() >= 4);
    assert_eq!(frames(), 4);
}

#[test]
fn with_sipmsg_off_only_msrp_keys_read_the_frame() {
    let r = TestRouter::start_with(
        "probe",
        RouterOpts {
            msrp_sipmsg: false,
            ..RouterOpts::default()
        },
    );
    let mut c = MsrpClient::connect(&r);
    c.send(send_frame("tid0001", &format!("msrp://{}/s1;tcp", r.tcp), "hi").as_bytes());
    let ok = c.recv(Duration::from_secs(2)).expect("200");
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.header(b"X-Probe-Sessid"), Some(&b"s1"[..]));
    assert_eq!(
        ok.header(b"X-Probe-Sip-View"),
        Some(&b"<null>|<null>|<null>"[..])
    );
}

#[test]
fn a_broken_msrp_connection_is_closed_and_others_keep_working() {
    let r = TestRouter::start("probe");
    let relay = format!("msrp://{}/s;tcp", r.tcp);
    let mut good = MsrpClient::connect(&r);
    let mut bad = MsrpClient::connect(&r);
    bad.send(b"MSRP x SEND\r\nTo-Path: nowhere\r\n\r\n");
    assert!(
        closed_within(&mut bad.stream, Duration::from_secs(2)),
        "bad transaction id"
    );
    let mut worse = MsrpClient::connect(&r);
    worse.send(b"MSRP abcd SEND\r\nno colon here\r\n");
    assert!(
        closed_within(&mut worse.stream, Duration::from_secs(2)),
        "bad header line"
    );
    // a request broken after its paths: answered 400 on its way out
    let mut answerable = MsrpClient::connect(&r);
    answerable.send(
        format!(
            "MSRP abcd5678 SEND\r\nTo-Path: {relay}\r\nFrom-Path: msrp://127.0.0.1:1/a;tcp\r\nno colon here\r\n"
        )
        .as_bytes(),
    );
    let bad_request = answerable.recv(Duration::from_secs(2)).expect("400");
    assert_eq!(bad_request.status(), Some(400));
    assert_eq!(bad_request.transact_id(), b"abcd5678");
    assert_eq!(
        bad_request.to_path(),
        vec![&b"msrp://127.0.0.1:1/a;tcp"[..]]
    );
    assert!(closed_within(
        &mut answerable.stream,
        Duration::from_secs(2)
    ));
    good.send(send_frame("tid0009", &relay, "still here").as_bytes());
    assert_eq!(
        good.recv(Duration::from_secs(2)).expect("answer").status(),
        Some(200)
    );
    // SIP on TCP is unaffected
    assert_eq!(
        TcpClient::connect(r.tcp)
            .ask("OPTIONS", "named", "")
            .unwrap()
            .status(),
        Some(200)
    );
}

/// An MSRP endpoint the relay connects to.
struct Endpoint {
    listener: std::net::TcpListener,
}

impl Endpoint {
    fn new() -> Endpoint {
        Endpoint {
            listener: std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
        }
    }

    fn uri(&self, session: &str) -> String {
        format!(
            "msrp://{}/{session};tcp",
            self.listener.local_addr().unwrap()
        )
    }

    /// The relay's connection to this endpoint, as a client to read and write.
    fn accept(&self) -> MsrpClient {
        self.listener.set_nonblocking(false).unwrap();
        MsrpClient::over(self.listener.accept().unwrap().0)
    }
}

/// A 1 MiB binary message.
pub(crate) fn big_message() -> Vec<u8> {
    (0..1 << 20)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

/// `message` as 16 SEND frames of 64 KiB, `chunk0000` to `chunk0015`, built by `frame`
/// from the transaction id, the Byte-Range, the continuation flag and the chunk.
pub(crate) fn big_message_chunks(
    message: &[u8],
    frame: impl Fn(&str, &str, char, &[u8]) -> Vec<u8>,
) -> Vec<Vec<u8>> {
    let chunk = 64 << 10;
    message
        .chunks(chunk)
        .enumerate()
        .map(|(n, part)| {
            let start = n * chunk + 1;
            let end = start + part.len() - 1;
            let flag = if end == message.len() { '$' } else { '+' };
            frame(
                &format!("chunk{n:04}"),
                &format!("{start}-{end}/{}", message.len()),
                flag,
                part,
            )
        })
        .collect()
}

/// The 16 chunks of [`big_message_chunks`] as they arrive, checked to be in order.
pub(crate) fn receive_chunks<S: Read + Write>(c: &mut MsrpClient<S>) -> Vec<u8> {
    let mut received = Vec::new();
    for n in 0..16 {
        let f = c.recv(Duration::from_secs(5)).expect("chunk relayed");
        assert_eq!(
            f.transact_id(),
            format!("chunk{n:04}").as_bytes(),
            "in order"
        );
        received.extend_from_slice(f.body().unwrap());
    }
    received
}

fn paths(f: &MsrpFrame) -> (Vec<String>, Vec<String>) {
    let s = |v: Vec<&[u8]>| -> Vec<String> {
        v.into_iter()
            .map(|u| String::from_utf8_lossy(u).into_owned())
            .collect()
    };
    (s(f.to_path()), s(f.from_path()))
}

#[test]
fn frames_are_relayed_both_ways_and_a_1mb_message_arrives_whole_and_in_order() {
    let _load = sipp_lock();
    let r = TestRouter::start("probe");
    let relay = format!("msrp://{}/relay1;tcp", r.tcp);
    let bob = Endpoint::new();
    let bob_uri = bob.uri("bob");
    let mut alice = MsrpClient::connect(&r);
    let alice_uri = format!("msrp://{}/alice;tcp", alice.stream.local_addr().unwrap());
    let send = |tid: &str, range: &str, flag: char, body: &[u8]| -> Vec<u8> {
        let mut f = format!(
            "MSRP {tid} SEND\r\nTo-Path: {relay} {bob_uri}\r\nFrom-Path: {alice_uri}\r\n\
X-Probe-Relay: yes\r\nMessage-ID: big1\r\nByte-Range: {range}\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        f.extend_from_slice(body);
        f.extend_from_slice(format!("\r\n-------{tid}{flag}\r\n").as_bytes());
        f
    };
    alice.send(&send("tx000001", "1-5/5", '$', b"hello"));
    let mut b = bob.accept();
    let got = b.recv(Duration::from_secs(2)).expect("relayed to bob");
    assert_eq!(got.transact_id(), b"tx000001");
    assert_eq!(
        paths(&got),
        (
            vec![bob_uri.clone()],
            vec![relay.clone(), alice_uri.clone()]
        )
    );
    assert_eq!(got.body(), Some(&b"hello"[..]));
    // bob answers; the response travels back on alice's connection
    b.send(
        format!(
            "MSRP tx000001 200 OK\r\nTo-Path: {relay} {alice_uri}\r\nFrom-Path: {bob_uri}\r\n-------tx000001$\r\n"
        )
        .as_bytes(),
    );
    let ok = alice
        .recv(Duration::from_secs(2))
        .expect("200 relayed back");
    assert_eq!(ok.status(), Some(200));
    assert_eq!(
        paths(&ok),
        (
            vec![alice_uri.clone()],
            vec![relay.clone(), bob_uri.clone()]
        )
    );

    // 1 MiB in 64 KiB chunks, binary, relayed in order on the same connection to bob
    let message = big_message();
    for frame in big_message_chunks(&message, |tid, range, flag, part| {
        send(tid, range, flag, part)
    }) {
        alice.send(&frame);
    }
    assert!(
        receive_chunks(&mut b) == message,
        "the message arrived intact"
    );
    // no second connection to bob was opened
    bob.listener.set_nonblocking(true).unwrap();
    assert!(bob.listener.accept().is_err());
    // counted: both connections speak MSRP; the megabyte in, and out again
    let msrp = || sipwasm::control::stats(r.server().router())["msrp"].clone();
    let m = msrp();
    assert_eq!(m["connections"], 2, "{m}");
    assert_eq!(m["frames_received"], m["frames_sent"], "{m}");
    for bytes in [&m["bytes_received"], &m["bytes_sent"]] {
        assert!(bytes.as_u64().unwrap() > message.len() as u64, "{m}");
    }
    drop((alice, b));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while msrp()["connections"] != 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(msrp()["connections"], 0);
}

#[test]
fn relay_flag_1_never_opens_a_connection() {
    let r = TestRouter::start("probe");
    let relay = format!("msrp://{}/relay1;tcp", r.tcp);
    let nobody = Endpoint::new();
    let mut alice = MsrpClient::connect(&r);
    let frame = format!(
        "MSRP tx000002 SEND\r\nTo-Path: {relay} {}\r\nFrom-Path: msrp://127.0.0.1:1/a;tcp\r\n\
X-Probe-Relay: yes\r\nX-Probe-Flags: 1\r\nMessage-ID: m2\r\nByte-Range: 1-2/2\r\nContent-Type: text/plain\r\n\r\nhi\r\n-------tx000002$\r\n",
        nobody.uri("x")
    );
    alice.send(frame.as_bytes());
    // nothing connects to the next hop, and the request is answered for
    let answer = alice.recv(Duration::from_secs(2)).expect("answered");
    assert_eq!(answer.status(), Some(481));
    assert_eq!(answer.transact_id(), b"tx000002");
    nobody.listener.set_nonblocking(true).unwrap();
    assert!(nobody.listener.accept().is_err());
    // the 481 is sent from inside the failed send, before the router counts the error
    assert!(wait_until(Duration::from_secs(2), || {
        r.server()
            .router()
            .outlet()
            .stats()
            .send_errors
            .load(Ordering::Relaxed)
            >= 1
    }));
}

#[test]
fn a_request_for_an_unreachable_next_hop_gets_481_unless_it_asked_for_no_reports() {
    let r = TestRouter::start("probe");
    let relay = format!("msrp://{}/relay1;tcp", r.tcp);
    // a port nobody listens on: the connect is refused after the plugin relayed
    let dead = Endpoint::new();
    let dead_uri = dead.uri("x");
    drop(dead);
    let mut alice = MsrpClient::connect(&r);
    let send = |tid: &str, extra: &str| {
        format!(
            "MSRP {tid} SEND\r\nTo-Path: {relay} {dead_uri}\r\nFrom-Path: msrp://127.0.0.1:1/a;tcp\r\n\
X-Probe-Relay: yes\r\n{extra}Message-ID: {tid}\r\nByte-Range: 1-2/2\r\nContent-Type: text/plain\r\n\r\nhi\r\n-------{tid}$\r\n"
        )
    };
    alice.send(send("quiet001", "Failure-Report: no\r\n").as_bytes());
    alice.send(send("loud0001", "").as_bytes());
    let answer = alice.recv(Duration::from_secs(2)).expect("answered");
    assert_eq!(answer.status(), Some(481));
    assert_eq!(answer.comment(), Some(&b"Next Hop Unreachable"[..]));
    assert_eq!(
        answer.transact_id(),
        b"loud0001",
        "Failure-Report: no is not answered"
    );
    let (to, from) = paths(&answer);
    assert_eq!(to, vec!["msrp://127.0.0.1:1/a;tcp".to_string()]);
    assert_eq!(from, vec![relay.clone()]);
    assert!(alice.recv(Duration::from_millis(300)).is_none());
}

#[test]
fn relay_flag_2_closes_the_connection_after_the_frame() {
    let r = TestRouter::start("probe");
    let relay = format!("msrp://{}/relay2;tcp", r.tcp);
    let bob = Endpoint::new();
    let mut alice = MsrpClient::connect(&r);
    alice.send(
        format!(
            "MSRP tx000003 SEND\r\nTo-Path: {relay} {}\r\nFrom-Path: msrp://127.0.0.1:1/a;tcp\r\n\
X-Probe-Relay: yes\r\nX-Probe-Flags: 2\r\nMessage-ID: m3\r\nByte-Range: 1-3/3\r\nContent-Type: text/plain\r\n\r\nbye\r\n-------tx000003$\r\n",
            bob.uri("b")
        )
        .as_bytes(),
    );
    let mut at_bob = bob.accept();
    let got = at_bob.recv(Duration::from_secs(2)).expect("relayed");
    assert_eq!(got.body(), Some(&b"bye"[..]));
    // written, then closed by the relay
    assert!(closed_within(&mut at_bob.stream, Duration::from_secs(2)));
    // alice's own connection stays open
    alice.send(send_frame("tx000004", &relay, "still here").as_bytes());
    assert_eq!(
        alice
            .recv(Duration::from_secs(2))
            .expect("answered")
            .status(),
        Some(200)
    );
}

// ---------------------------------------------------------------- the msrp-relay example

/// The options the msrp-relay example needs: its `msrp` table.
pub(crate) fn relay_opts() -> RouterOpts {
    RouterOpts {
        htables: vec![sipwasm_routing::HtableSpec {
            name: "msrp".into(),
            autoexpire: 3600,
            max_entries: 1000,
            expired_event: false,
        }],
        ..RouterOpts::default()
    }
}

/// An MSRP client of the relay: its own URI is its connection's address.
pub(crate) struct Peer<S = TcpStream> {
    pub(crate) c: MsrpClient<S>,
    pub(crate) uri: String,
    seq: u32,
}

impl Peer {
    fn connect(r: &TestRouter, name: &str) -> Peer {
        let c = MsrpClient::connect(r);
        let uri = format!("msrp://{}/{name};tcp", c.stream.local_addr().unwrap());
        Peer::new(c, uri)
    }
}

impl<S: Read + Write> Peer<S> {
    /// A peer whose own URI is `uri`.
    pub(crate) fn new(c: MsrpClient<S>, uri: String) -> Peer<S> {
        Peer { c, uri, seq: 0 }
    }

    fn tid(&mut self) -> String {
        self.seq += 1;
        format!("t{:07}", self.seq)
    }

    fn auth(&mut self, relay: &str, authorization: Option<&str>) -> MsrpFrame {
        let tid = self.tid();
        let auth = authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
        self.c.send(
            format!(
                "MSRP {tid} AUTH\r\nTo-Path: {relay}\r\nFrom-Path: {}\r\n{auth}-------{tid}$\r\n",
                self.uri
            )
            .as_bytes(),
        );
        self.c.recv(Duration::from_secs(2)).expect("AUTH answered")
    }

    /// AUTH with the challenge answered: the Use-Path on success, else the status.
    pub(crate) fn login(&mut self, relay: &str, user: &str, password: &str) -> Result<String, u16> {
        let challenge = self.auth(relay, None);
        assert_eq!(challenge.status(), Some(401));
        let www =
            String::from_utf8_lossy(challenge.header(b"WWW-Authenticate").unwrap()).into_owned();
        let nonce = www
            .split("nonce=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_string();
        assert!(www.contains("realm=\"myrealm\""), "{www}");
        let mut c = sipwasm_routing::auth::Credentials {
            username: user.into(),
            realm: "myrealm".into(),
            nonce,
            uri: relay.into(),
            response: String::new(),
            algorithm: "MD5".into(),
            cnonce: Some("0a4f113b".into()),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            opaque: None,
        };
        c.response = sipwasm_routing::auth::digest_response(&c, password, "AUTH").unwrap();
        let header = format!(
            "Digest username=\"{user}\", realm=\"myrealm\", nonce=\"{}\", uri=\"{relay}\", \
response=\"{}\", algorithm=MD5, cnonce=\"0a4f113b\", qop=auth, nc=00000001",
            c.nonce, c.response
        );
        let answer = self.auth(relay, Some(&header));
        match answer.status() {
            Some(200) => {
                Ok(String::from_utf8_lossy(answer.header(b"Use-Path").unwrap()).into_owned())
            }
            other => Err(other.unwrap_or(0)),
        }
    }

    /// Answer request `tid` with 200 along `to_path` (the relay, then the sender).
    pub(crate) fn answer_ok(&mut self, tid: &str, to_path: &str) {
        self.c.send(
            format!(
                "MSRP {tid} 200 OK\r\nTo-Path: {to_path}\r\nFrom-Path: {}\r\n-------{tid}$\r\n",
                self.uri
            )
            .as_bytes(),
        );
    }

    pub(crate) fn send(&mut self, to_path: &str, body: &str) -> String {
        let tid = self.tid();
        self.c.send(
            format!(
                "MSRP {tid} SEND\r\nTo-Path: {to_path}\r\nFrom-Path: {}\r\nMessage-ID: {tid}\r\n\
Byte-Range: 1-{n}/{n}\r\nContent-Type: text/plain\r\n\r\n{body}\r\n-------{tid}$\r\n",
                self.uri,
                n = body.len()
            )
            .as_bytes(),
        );
        tid
    }
}

#[test]
fn the_msrp_relay_example_authenticates_and_relays_between_sessions() {
    // the Rust plugin and its twins in C, Python and JavaScript
    for plugin_name in [
        "msrp_relay",
        "msrp_relay_c",
        "msrp_relay_py",
        "msrp_relay_js",
    ] {
        authenticates_and_relays(plugin_name);
    }
}

fn authenticates_and_relays(plugin_name: &str) {
    let r = TestRouter::start_with(plugin_name, relay_opts());
    let relay = format!("msrp://{}/auth;tcp", r.tcp);
    let mut alice = Peer::connect(&r, "alice");
    let mut bob = Peer::connect(&r, "bob");
    // a wrong password is refused with a new challenge
    assert_eq!(alice.login(&relay, "alice", "wrong"), Err(401));
    let alice_path = alice.login(&relay, "alice", "xyz123").expect("alice in");
    let bob_path = bob.login(&relay, "bob", "xyz123").expect("bob in");
    // Use-Path: the relay as reached, and a session each
    assert!(
        alice_path.starts_with(&format!("msrp://{}/s.", r.tcp)),
        "{alice_path}"
    );
    assert!(alice_path.ends_with(";tcp"));
    assert_ne!(alice_path, bob_path);

    // alice -> bob's session: relayed on bob's own connection
    let tid = alice.send(&format!("{bob_path} {}", bob.uri), "hello bob");
    let got = bob.c.recv(Duration::from_secs(2)).expect("bob gets it");
    assert_eq!(got.method(), Some(&b"SEND"[..]));
    assert_eq!(got.body(), Some(&b"hello bob"[..]));
    assert_eq!(
        paths(&got),
        (
            vec![bob.uri.clone()],
            vec![bob_path.clone(), alice.uri.clone()]
        )
    );
    // bob's 200 goes back to alice, and so does a REPORT
    bob.answer_ok(&tid, &format!("{bob_path} {}", alice.uri));
    let ok = alice.c.recv(Duration::from_secs(2)).expect("200 back");
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.transact_id(), tid.as_bytes());
    bob.c.send(
        format!(
            "MSRP rep00001 REPORT\r\nTo-Path: {bob_path} {}\r\nFrom-Path: {}\r\nMessage-ID: {tid}\r\n\
Byte-Range: 1-9/9\r\nStatus: 000 200 OK\r\n-------rep00001$\r\n",
            alice.uri, bob.uri
        )
        .as_bytes(),
    );
    let report = alice
        .c
        .recv(Duration::from_secs(2))
        .expect("REPORT relayed");
    assert_eq!(report.method(), Some(&b"REPORT"[..]));

    // an unknown session
    alice.send(&format!("msrp://{}/s.nosuch;tcp {}", r.tcp, bob.uri), "?");
    assert_eq!(
        alice
            .c
            .recv(Duration::from_secs(2))
            .expect("answer")
            .status(),
        Some(481)
    );
    // more hops: "Received", then relayed to the next one
    let far = Endpoint::new();
    alice.send(
        &format!("{relay} {} {}", far.uri("hop2"), far.uri("hop3")),
        "far away",
    );
    let received = alice.c.recv(Duration::from_secs(2)).expect("answer");
    assert_eq!(received.status(), Some(200));
    assert_eq!(received.comment(), Some(&b"Received"[..]));
    let mut hop2 = far.accept();
    let relayed = hop2.recv(Duration::from_secs(2)).expect("relayed on");
    assert_eq!(relayed.body(), Some(&b"far away"[..]));

    // more hops, the next unreachable: "Received" was said, so a failure REPORT follows
    let dead = Endpoint::new();
    let (hop2, hop3) = (dead.uri("hop2"), dead.uri("hop3"));
    drop(dead);
    let tid = alice.send(&format!("{relay} {hop2} {hop3}"), "lost");
    let received = alice.c.recv(Duration::from_secs(2)).expect("answer");
    assert_eq!(
        (received.status(), received.transact_id()),
        (Some(200), tid.as_bytes())
    );
    let report = alice
        .c
        .recv(Duration::from_secs(2))
        .expect("failure REPORT");
    assert_eq!(report.method(), Some(&b"REPORT"[..]));
    assert_eq!(report.header(b"Message-ID"), Some(tid.as_bytes()));
    assert_eq!(report.header(b"Byte-Range"), Some(&b"1-4/4"[..]));
    assert_eq!(
        report.header(b"Status"),
        Some(&b"000 481 Next Hop Unreachable"[..])
    );
    assert_eq!(
        paths(&report),
        (vec![alice.uri.clone()], vec![relay.clone()])
    );

    // bob leaves: his session is known but his connection is gone (flag 1: none opened)
    let connections =
        || sipwasm::control::stats(r.server().router())["msrp"]["connections"].as_u64();
    let before = connections();
    drop(bob);
    // the relay keeps a half-closed connection 2 s for answers still on their way
    assert!(
        wait_until(Duration::from_secs(10), || connections() < before),
        "bob's connection closed"
    );
    let tid = alice.send(
        &format!("{bob_path} {}", "msrp://127.0.0.1:9/bob;tcp"),
        "gone?",
    );
    let gone = alice.c.recv(Duration::from_secs(2)).expect("answer");
    assert_eq!(
        (gone.status(), gone.transact_id()),
        (Some(481), tid.as_bytes())
    );
    assert_eq!(gone.comment(), Some(&b"Next Hop Unreachable"[..]));

    // SIP gets 403
    let m = UdpClient::new(r.udp).ask("OPTIONS", "x", "").unwrap();
    assert_eq!(m.status(), Some(403));
    assert_eq!(m.reason(), Some(&b"No SIP Here"[..]));
}
