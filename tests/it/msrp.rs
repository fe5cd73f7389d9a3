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
