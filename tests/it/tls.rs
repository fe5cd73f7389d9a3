//! TLS listeners (rustls) carrying SIP and MSRP, and MSRP relayed out over TLS (`msrps`),
//! with a certificate generated here (rcgen).

use crate::harness::*;
use bytes::BytesMut;
use sipwasm_proto::SipMessage;
use sipwasm_proto::msrp::{MsrpFrame, MsrpFramer};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A self-signed certificate for 127.0.0.1, written as PEM files.
struct Material {
    cert: PathBuf,
    key: PathBuf,
    der: rustls::pki_types::CertificateDer<'static>,
    key_der: Vec<u8>,
}

fn material(name: &str) -> Material {
    let dir = std::env::temp_dir().join(format!("sipwasm-tls-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    Material {
        cert,
        key,
        der: ck.cert.der().clone(),
        key_der: ck.signing_key.serialize_der(),
    }
}

fn connect(addr: std::net::SocketAddr, m: &Material) -> TlsStream {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(m.der.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

/// Read until `done` says the buffer holds a whole answer (bounded).
fn read_until<S: Read>(
    s: &mut S,
    buf: &mut BytesMut,
    mut done: impl FnMut(&mut BytesMut) -> bool,
) -> bool {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if done(buf) {
            return true;
        }
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk) {
            Ok(0) => return done(buf),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => {}
        }
    }
    false
}

/// True when the peer closes `s` (end of stream, or a reset) within `timeout`.
fn tls_closed_within(s: &mut TlsStream, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut chunk = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut chunk) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

fn recv_frame<S: Read>(s: &mut S, buf: &mut BytesMut) -> Option<MsrpFrame> {
    let mut framer = MsrpFramer::new(1 << 20);
    let mut out = None;
    read_until(s, buf, |b| {
        if out.is_none() {
            out = framer.decode(b).unwrap();
        }
        out.is_some()
    });
    out
}

fn tls_router(m: &Material, ca: bool) -> TestRouter {
    let opts = RouterOpts {
        tls: Some(sipwasm_transport::TlsSettings {
            certificate: m.cert.clone(),
            private_key: m.key.clone(),
            ca_file: ca.then(|| m.cert.clone()),
        }),
        ..RouterOpts::default()
    };
    TestRouter::start_on(
        "probe",
        opts,
        &["udp:127.0.0.1:0", "tcp:127.0.0.1:0", "tls:127.0.0.1:0"],
    )
}

fn tls_addr(r: &TestRouter) -> std::net::SocketAddr {
    r.server()
        .addr(sipwasm_proto::Transport::Tls)
        .expect("a TLS listener")
}

#[test]
fn sip_and_msrp_over_tls() {
    let m = material("in");
    let r = tls_router(&m, false);
    let addr = tls_addr(&r);
    // SIP: OPTIONS over TLS, answered on the same connection
    let mut s = connect(addr, &m);
    let local = s.sock.local_addr().unwrap();
    s.write_all(request("OPTIONS", "named", addr, local, "TLS", "").as_bytes())
        .unwrap();
    let mut buf = BytesMut::new();
    let mut reply = None;
    assert!(read_until(&mut s, &mut buf, |b| {
        if let Ok(msg) = SipMessage::parse(b.clone().freeze()) {
            reply = Some(msg);
            true
        } else {
            false
        }
    }));
    let reply = reply.unwrap();
    assert_eq!(reply.status(), Some(200));
    assert_eq!(hdr(&reply, "X-Named").as_deref(), Some("yes"));
    // MSRP over TLS: msrps URIs, $msrp(srcaddr) says tls
    let mut s = connect(addr, &m);
    let relay = format!("msrps://{addr}/sess;tcp");
    s.write_all(
        format!(
            "MSRP tls00001 SEND\r\nTo-Path: {relay}\r\nFrom-Path: msrps://127.0.0.1:1/a;tcp\r\n\
Message-ID: m1\r\nByte-Range: 1-2/2\r\nContent-Type: text/plain\r\n\r\nhi\r\n-------tls00001$\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut buf = BytesMut::new();
    let ok = recv_frame(&mut s, &mut buf).expect("200 over TLS");
    assert_eq!(ok.status(), Some(200));
    let srcaddr = String::from_utf8_lossy(ok.header(b"X-Probe-Srcaddr").unwrap()).into_owned();
    assert!(srcaddr.ends_with(";transport=tls"), "{srcaddr}");
    // a client that does not speak TLS does not disturb the listener
    let mut plain = TcpStream::connect(addr).unwrap();
    plain
        .write_all(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n\r\n")
        .unwrap();
    drop(plain);
    let mut again = connect(addr, &m);
    again
        .write_all(request("OPTIONS", "named", addr, local, "TLS", "").as_bytes())
        .unwrap();
    let mut buf = BytesMut::new();
    assert!(read_until(&mut again, &mut buf, |b| SipMessage::parse(
        b.clone().freeze()
    )
    .is_ok()));
}

#[test]
fn msrp_is_relayed_out_over_tls() {
    let m = material("out");
    let r = tls_router(&m, true);
    let addr = tls_addr(&r);
    // bob: a TLS MSRP endpoint with the same certificate (the router trusts it)
    let bob = TcpListener::bind("127.0.0.1:0").unwrap();
    let bob_uri = format!("msrps://{}/bob;tcp", bob.local_addr().unwrap());
    let server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![m.der.clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(m.key_der.clone().into()),
        )
        .unwrap();
    let bob_thread = std::thread::spawn(move || {
        let (tcp, _) = bob.accept().unwrap();
        tcp.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let conn = rustls::ServerConnection::new(Arc::new(server)).unwrap();
        let mut s = rustls::StreamOwned::new(conn, tcp);
        let mut buf = BytesMut::new();
        recv_frame(&mut s, &mut buf)
    });
    let mut alice = connect(addr, &m);
    let relay = format!("msrps://{addr}/relay;tcp");
    alice
        .write_all(
            format!(
                "MSRP tls00002 SEND\r\nTo-Path: {relay} {bob_uri}\r\nFrom-Path: msrps://127.0.0.1:1/a;tcp\r\n\
X-Probe-Relay: yes\r\nMessage-ID: m2\r\nByte-Range: 1-5/5\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------tls00002$\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
    let got = bob_thread
        .join()
        .unwrap()
        .expect("bob got the frame over TLS");
    assert_eq!(got.body(), Some(&b"hello"[..]));
    assert_eq!(got.to_path(), vec![bob_uri.as_bytes()]);
}

#[test]
fn the_msrp_relay_example_works_over_tls() {
    use crate::msrp::{
        MsrpClient, Peer, big_message, big_message_chunks, receive_chunks, relay_opts,
    };
    let _load = sipp_lock();
    let m = material("example");
    let opts = RouterOpts {
        tls: Some(sipwasm_transport::TlsSettings {
            certificate: m.cert.clone(),
            private_key: m.key.clone(),
            ca_file: None,
        }),
        ..relay_opts()
    };
    let r = TestRouter::start_on(
        "msrp_relay",
        opts,
        &["udp:127.0.0.1:0", "tcp:127.0.0.1:0", "tls:127.0.0.1:0"],
    );
    let addr = tls_addr(&r);
    let relay = format!("msrps://{addr}/auth;tcp");
    let peer = |name: &str| {
        let s = connect(addr, &m);
        let uri = format!("msrps://{}/{name};tcp", s.sock.local_addr().unwrap());
        Peer::new(MsrpClient::wrap(s), uri)
    };
    let (mut alice, mut bob) = (peer("alice"), peer("bob"));
    assert_eq!(alice.login(&relay, "alice", "wrong"), Err(401));
    let alice_path = alice.login(&relay, "alice", "xyz123").expect("alice in");
    let bob_path = bob.login(&relay, "bob", "xyz123").expect("bob in");
    assert!(
        alice_path.starts_with(&format!("msrps://{addr}/s.")) && alice_path.ends_with(";tcp"),
        "{alice_path}"
    );
    assert_ne!(alice_path, bob_path);
    // alice -> bob's session, relayed on bob's own TLS connection
    let tid = alice.send(&format!("{bob_path} {}", bob.uri), "hello over tls");
    let got = bob.c.recv(Duration::from_secs(2)).expect("bob gets it");
    assert_eq!(got.body(), Some(&b"hello over tls"[..]));
    assert_eq!(got.to_path(), vec![bob.uri.as_bytes()]);
    assert_eq!(
        got.from_path(),
        vec![bob_path.as_bytes(), alice.uri.as_bytes()]
    );
    // bob's 200 goes back to alice over hers
    bob.answer_ok(&tid, &format!("{bob_path} {}", alice.uri));
    let ok = alice.c.recv(Duration::from_secs(2)).expect("200 back");
    assert_eq!((ok.status(), ok.transact_id()), (Some(200), tid.as_bytes()));
    // and so does bob's REPORT
    bob.c.send(
        format!(
            "MSRP rep00001 REPORT\r\nTo-Path: {bob_path} {}\r\nFrom-Path: {}\r\nMessage-ID: {tid}\r\n\
Byte-Range: 1-14/14\r\nStatus: 000 200 OK\r\n-------rep00001$\r\n",
            alice.uri, bob.uri
        )
        .as_bytes(),
    );
    let report = alice
        .c
        .recv(Duration::from_secs(2))
        .expect("REPORT relayed");
    assert_eq!(report.method(), Some(&b"REPORT"[..]));
    assert_eq!(report.header(b"Message-ID"), Some(tid.as_bytes()));
    // a broken request on another TLS connection: 400, that connection closes, and the
    // sessions carry on
    let mut broken = MsrpClient::wrap(connect(addr, &m));
    broken.send(
        format!(
            "MSRP abcd5678 SEND\r\nTo-Path: {relay}\r\nFrom-Path: msrps://127.0.0.1:1/x;tcp\r\nno colon here\r\n"
        )
        .as_bytes(),
    );
    let refused = broken.recv(Duration::from_secs(2)).expect("400");
    assert_eq!(
        (refused.status(), refused.transact_id()),
        (Some(400), &b"abcd5678"[..])
    );
    assert!(tls_closed_within(
        &mut broken.stream,
        Duration::from_secs(2)
    ));
    // 1 MiB in 64 KiB chunks, binary, arrives whole and in order over TLS
    let message = big_message();
    let chunks = big_message_chunks(&message, |tid, range, flag, part| {
        let mut f = format!(
            "MSRP {tid} SEND\r\nTo-Path: {bob_path} {}\r\nFrom-Path: {}\r\nMessage-ID: big\r\n\
Byte-Range: {range}\r\nContent-Type: application/octet-stream\r\n\r\n",
            bob.uri, alice.uri
        )
        .into_bytes();
        f.extend_from_slice(part);
        f.extend_from_slice(format!("\r\n-------{tid}{flag}\r\n").as_bytes());
        f
    });
    for frame in chunks {
        alice.c.send(&frame);
    }
    assert!(
        receive_chunks(&mut bob.c) == message,
        "the message arrived intact"
    );
    // an unknown session
    let tid = alice.send(&format!("msrps://{addr}/s.nosuch;tcp {}", bob.uri), "?");
    let unknown = alice.c.recv(Duration::from_secs(2)).expect("answer");
    assert_eq!(
        (unknown.status(), unknown.transact_id()),
        (Some(481), tid.as_bytes())
    );
}

#[test]
fn a_via_alias_over_tls_lets_the_connection_carry_requests_to_its_sender() {
    // RFC 5923: a UA on TLS says `alias` in its Via; requests to its listening port (the
    // Via's) go over its connection instead of a new one (none could be opened here)
    let m = material("alias");
    let listening = TcpListener::bind("127.0.0.1:0").unwrap();
    let lport = listening.local_addr().unwrap().port();
    drop(listening);
    let mut opts = RouterOpts {
        tls: Some(sipwasm_transport::TlsSettings {
            certificate: m.cert.clone(),
            private_key: m.key.clone(),
            ca_file: Some(m.cert.clone()),
        }),
        ..RouterOpts::default()
    };
    opts.config.insert(
        "next_hop".into(),
        format!("sip:ua@127.0.0.1:{lport};transport=tls"),
    );
    let r = TestRouter::start_on(
        "probe",
        opts,
        &["udp:127.0.0.1:0", "tcp:127.0.0.1:0", "tls:127.0.0.1:0"],
    );
    let addr = r.server().addr(sipwasm_proto::Transport::Tls).unwrap();
    let mut s = connect(addr, &m);
    let local = s.sock.local_addr().unwrap();
    let hello = request("OPTIONS", "count", addr, local, "TLS", "").replace(
        &format!("SIP/2.0/TLS {local};"),
        &format!("SIP/2.0/TLS 127.0.0.1:{lport};alias;"),
    );
    s.write_all(hello.as_bytes()).unwrap();
    let mut buf = BytesMut::new();
    assert!(read_until(&mut s, &mut buf, |b| b
        .windows(4)
        .any(|w| w == b"\r\n\r\n")));
    assert!(
        buf.starts_with(b"SIP/2.0 200"),
        "{:?}",
        String::from_utf8_lossy(&buf)
    );
    buf.clear();
    let caller = UdpClient::new(r.udp);
    caller.send(request("MESSAGE", "relay", r.udp, caller.local(), "UDP", "").as_bytes());
    assert!(
        read_until(&mut s, &mut buf, |b| b.starts_with(b"MESSAGE ")
            && b.windows(4).any(|w| w == b"\r\n\r\n")),
        "the MESSAGE over the aliased connection: {:?}",
        String::from_utf8_lossy(&buf)
    );
}
