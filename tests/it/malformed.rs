//! Bad input never hurts the router: the torture corpus, garbage datagrams and hostile TCP
//! peers, each followed by a valid OPTIONS that must still be answered.

use crate::harness::*;
use sipwasm::config::Fallback;
use sipwasm_transport::TcpLimits;
use std::path::PathBuf;
use std::time::Duration;

fn corpus_dir() -> PathBuf {
    root().join("host/proto/tests-data/conformance")
}

/// The RFC 4475 messages the router must reject with 400 (505 for badvers).
const REJECTED_REQUESTS: &[&str] = &[
    "badinv01",
    "clerr",
    "ncl",
    "scalar02",
    "quotbal",
    "ltgtruri",
    "lwsruri",
    "lwsstart",
    "trws",
    "escruri",
    "baddate",
    "regbadct",
    "badaspec",
    "baddn",
    "badvers",
    "mismatch01",
    "mismatch02",
    "insuf",
    "multi01",
    "mcl01",
    "test",
];

/// Responses: dropped whatever they contain.
const RESPONSES: &[&str] = &["scalarlg", "bigcode", "unreason", "noreason", "bcast"];

/// Put our own top Via (with rport) in front, so the router's answer reaches this client;
/// the message's own defects stay as they are.
fn with_our_via(raw: &[u8], client: std::net::SocketAddr) -> Vec<u8> {
    let first_end = raw.iter().position(|&c| c == b'\n').unwrap() + 1;
    let mut out = raw[..first_end].to_vec();
    out.extend_from_slice(
        format!("Via: SIP/2.0/UDP {client};branch=z9hG4bK-torture;rport\r\n").as_bytes(),
    );
    out.extend_from_slice(&raw[first_end..]);
    out
}

fn assert_still_serving(c: &UdpClient) {
    let reply = c
        .ask("OPTIONS", "alive", "")
        .expect("the router still answers OPTIONS");
    assert_eq!(reply.status(), Some(501));
}

#[test]
fn rfc4475_corpus_over_udp() {
    let r = TestRouter::start("tutorial_501");
    let c = UdpClient::new(r.udp);
    let mut names: Vec<String> = std::fs::read_dir(corpus_dir().join("rfc4475"))
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".dat")
                .to_string()
        })
        .collect();
    names.sort();
    assert_eq!(names.len(), 50);
    let known: Vec<&str> = REJECTED_REQUESTS.iter().chain(RESPONSES).copied().collect();
    let valid = names
        .iter()
        .filter(|n| !known.contains(&n.as_str()))
        .count();
    assert_eq!(valid, 50 - REJECTED_REQUESTS.len() - RESPONSES.len());
    for name in &names {
        let raw = std::fs::read(corpus_dir().join(format!("rfc4475/{name}.dat"))).unwrap();
        let msg = with_our_via(&raw, c.local());
        c.send(&msg);
        if RESPONSES.contains(&name.as_str()) {
            let got = c.final_status(Duration::from_millis(300));
            assert!(
                got.is_none(),
                "{name}: a response is never answered, got {got:?}"
            );
        } else if REJECTED_REQUESTS.contains(&name.as_str()) {
            let (code, text) = c
                .final_status(Duration::from_secs(2))
                .unwrap_or_else(|| panic!("{name}: expected a 4xx/5xx"));
            let want = if name == "badvers" { 505 } else { 400 };
            assert_eq!(code, want, "{name}: {text}");
            assert!(
                text.contains("\r\nWarning: 399 sipwasm \""),
                "{name}: {text}"
            );
        } else {
            // valid (or application-level) requests reach the plugin
            let reply = c
                .final_reply(Duration::from_secs(2))
                .unwrap_or_else(|| panic!("{name}: the plugin should answer"));
            let method = reply.cseq().method;
            let want = if method == sipwasm_proto::Method::Invite {
                480
            } else {
                501
            };
            assert_eq!(reply.status(), Some(want), "{name}");
        }
        assert_still_serving(&c);
    }
}

#[test]
fn rfc5118_corpus_over_udp() {
    let r = TestRouter::start("tutorial_501");
    let c = UdpClient::new(r.udp);
    for entry in std::fs::read_dir(corpus_dir().join("rfc5118")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        // the archive uses LF; send CRLF with a Content-Length that matches, as in the
        // parser's conformance tests
        let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
        let body = body.replace('\n', "\r\n");
        let mut msg = String::new();
        for line in head.split('\n') {
            if line.starts_with("Content-Length:") {
                msg.push_str(&format!("Content-Length: {}\r\n", body.len()));
            } else {
                msg.push_str(line);
                msg.push_str("\r\n");
            }
        }
        msg.push_str("\r\n");
        msg.push_str(&body);
        c.send(&with_our_via(msg.as_bytes(), c.local()));
        let (code, text) = c
            .final_status(Duration::from_secs(2))
            .unwrap_or_else(|| panic!("{name}: expected an answer"));
        let want = match name.as_str() {
            // rejected for their Request-URI; the 400 echoes their (invalid) To
            "ipv6-bad" | "ipv6-bug-abnf-3-colons" => 400,
            _ if msg.starts_with("INVITE ") => 480,
            _ => 501,
        };
        assert_eq!(code, want, "{name}: {text}");
        assert_still_serving(&c);
    }
}

#[test]
fn garbage_datagrams_are_survived() {
    let r = TestRouter::start("tutorial_501");
    let c = UdpClient::new(r.udp);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut junk = Vec::new();
    for len in [1usize, 7, 64, 300, 1400, 9000] {
        let mut b = Vec::with_capacity(len);
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            b.push(seed as u8);
        }
        junk.push(b);
    }
    junk.push(vec![b'A'; 65_000]);
    junk.push(vec![0u8; 100]);
    junk.push(b"INVITE".to_vec());
    junk.push(b"INVITE sip:x@y SIP/2.0\r\n".to_vec());
    junk.push(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1\r\n\r\n".to_vec());
    junk.push(b"\r\n\r\n".to_vec());
    junk.push(b"\xff\xfe\xfd SIP/2.0\r\n\r\n".to_vec());
    let mut many_headers = request("OPTIONS", "x", r.udp, c.local(), "UDP", "");
    let extra: String = (0..400).map(|i| format!("X-H{i}: v\r\n")).collect();
    many_headers = many_headers.replacen(
        "Max-Forwards: 70\r\n",
        &format!("Max-Forwards: 70\r\n{extra}"),
        1,
    );
    junk.push(many_headers.into_bytes());
    for j in &junk {
        c.send(j);
    }
    // the header flood is answerable: 400 with a Warning
    let reply = c
        .final_reply(Duration::from_secs(2))
        .expect("400 for too many headers");
    assert_eq!(reply.status(), Some(400));
    assert!(
        hdr(&reply, "Warning")
            .unwrap()
            .contains("too many header lines")
    );
    assert_still_serving(&c);
    // broken SIP is counted as malformed; bytes that are not SIP at all are non-SIP
    // packets (ignored when short, else handed to the plugin's default nosip route)
    let stats = r.server().router().stats();
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let malformed = load(&stats.malformed);
    let not_sip = load(&stats.nosip_ignored) + load(&stats.nosip_events);
    assert!(malformed >= 3, "malformed count {malformed}");
    assert!(
        malformed + not_sip >= 12,
        "{malformed} malformed + {not_sip} not SIP"
    );
}

#[test]
fn tcp_garbage_on_one_connection_does_not_disturb_another() {
    let r = TestRouter::start("tutorial_501");
    let mut good = TcpClient::connect(r.tcp);
    assert_eq!(good.ask("OPTIONS", "a", "").unwrap().status(), Some(501));

    // a well-framed but malformed request: 400, and the connection stays usable
    let mut bad = TcpClient::connect(r.tcp);
    let local = bad.stream.local_addr().unwrap();
    let req = request("OPTIONS", "x", r.tcp, local, "TCP", "Max-Forwards: 69\r\n");
    bad.send(req.as_bytes());
    assert_eq!(
        bad.recv(Duration::from_secs(2)).unwrap().status(),
        Some(400)
    );
    assert_eq!(bad.ask("OPTIONS", "again", "").unwrap().status(), Some(501));

    // unframeable bytes: the connection is closed
    let mut worse = TcpClient::connect(r.tcp);
    worse.send(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: -5\r\n\r\n");
    assert!(worse.closed_within(Duration::from_secs(2)));

    // an oversized message: 513 if answerable, then closed
    let mut huge = TcpClient::connect(r.tcp);
    huge.send(&vec![b'X'; 70_000]);
    assert!(huge.closed_within(Duration::from_secs(2)));

    assert_eq!(good.ask("OPTIONS", "b", "").unwrap().status(), Some(501));
}

#[test]
fn tcp_oversized_request_gets_513() {
    let r = TestRouter::start("tutorial_501");
    let mut c = TcpClient::connect(r.tcp);
    let local = c.stream.local_addr().unwrap();
    let big_header = format!("X-Big: {}\r\n", "b".repeat(70_000));
    let req = request("OPTIONS", "x", r.tcp, local, "TCP", &big_header);
    c.send(req.as_bytes());
    let reply = c.recv(Duration::from_secs(2)).expect("513");
    assert_eq!(reply.status(), Some(513));
    assert!(c.closed_within(Duration::from_secs(2)));
}

#[test]
fn slow_tcp_peers_only_delay_themselves() {
    let opts = RouterOpts {
        workers: 1,
        fallback: Fallback::Drop,
        tcp: TcpLimits {
            // long enough that the others' 21 round trips fit well inside it on a loaded
            // machine: they must not wait for the stalled peer's cut
            message_timeout: Duration::from_secs(3),
            idle_timeout: Duration::from_secs(4),
            ..TcpLimits::default()
        },
        ..RouterOpts::default()
    };
    let r = TestRouter::start_with("tutorial_501", opts);
    // a peer that starts a message and stalls, and one that says nothing
    let mut stalled = TcpClient::connect(r.tcp);
    stalled.send(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;bra");
    let mut silent = TcpClient::connect(r.tcp);
    // meanwhile others are served at once, over TCP and UDP
    let started = std::time::Instant::now();
    let mut other = TcpClient::connect(r.tcp);
    for _ in 0..20 {
        assert_eq!(
            other.ask("OPTIONS", "fast", "").unwrap().status(),
            Some(501)
        );
    }
    assert_eq!(
        UdpClient::new(r.udp)
            .ask("OPTIONS", "udp", "")
            .unwrap()
            .status(),
        Some(501)
    );
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    // the stalled message is cut after message_timeout, the silent peer after idle_timeout
    assert!(stalled.closed_within(Duration::from_secs(5)));
    assert!(silent.closed_within(Duration::from_secs(6)));
}
