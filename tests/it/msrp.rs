//! MSRP on the SIP ports (`msrp:frame-in`): TCP connections that start with `MSRP ` are
//! framed as MSRP and each frame runs the plugin's event (the probe answers SENDs).

use crate::harness::*;
use bytes::BytesMut;
use sipwasm_proto::msrp::{MsrpFrame, MsrpFramer};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

struct MsrpClient {
    stream: TcpStream,
    buf: BytesMut,
    framer: MsrpFramer,
}

impl MsrpClient {
    fn connect(r: &TestRouter) -> MsrpClient {
        let stream = TcpStream::connect(r.tcp).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        MsrpClient {
            stream,
            buf: BytesMut::new(),
            framer: MsrpFramer::new(1 << 20),
        }
    }

    fn send(&mut self, data: &[u8]) {
        self.stream.write_all(data).unwrap();
    }

    fn recv(&mut self, timeout: Duration) -> Option<MsrpFrame> {
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
    assert_eq!(
        r.server()
            .router()
            .stats()
            .msrp_frames
            .load(Ordering::Relaxed),
        4
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
        let (stream, _) = self.listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        MsrpClient {
            stream,
            buf: BytesMut::new(),
            framer: MsrpFramer::new(1 << 20),
        }
    }
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
    let message: Vec<u8> = (0..1 << 20)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let chunk = 64 << 10;
    for (n, part) in message.chunks(chunk).enumerate() {
        let start = n * chunk + 1;
        let end = start + part.len() - 1;
        let last = end == message.len();
        alice.send(&send(
            &format!("chunk{n:04}"),
            &format!("{start}-{end}/{}", message.len()),
            if last { '$' } else { '+' },
            part,
        ));
    }
    let mut received = Vec::new();
    for n in 0..16 {
        let f = b.recv(Duration::from_secs(5)).expect("chunk relayed");
        assert_eq!(
            f.transact_id(),
            format!("chunk{n:04}").as_bytes(),
            "in order"
        );
        received.extend_from_slice(f.body().unwrap());
    }
    assert!(received == message, "the message arrived intact");
    // no second connection to bob was opened
    bob.listener.set_nonblocking(true).unwrap();
    assert!(bob.listener.accept().is_err());
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
    // nothing connects to the next hop
    nobody.listener.set_nonblocking(true).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(nobody.listener.accept().is_err());
    assert!(
        r.server()
            .router()
            .stats()
            .send_errors
            .load(Ordering::Relaxed)
            >= 1
    );
}
