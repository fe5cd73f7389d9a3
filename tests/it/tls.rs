//! TLS listeners (rustls) carrying SIP and MSRP, mutual TLS (client certificates checked
//! against a CA and names, the peer's identity read by routes), and MSRP relayed out over
//! TLS (`msrps`) with the peer verified, with certificates generated here (rcgen).

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
    }
}

fn connect(addr: std::net::SocketAddr, m: &Material) -> TlsStream {
    connect_trusting(addr, m.der.clone(), None)
}

/// A TLS connection to `addr` trusting `root`, presenting `cert` if any.
fn connect_trusting(
    addr: std::net::SocketAddr,
    root: rustls::pki_types::CertificateDer<'static>,
    cert: Option<&Leaf>,
) -> TlsStream {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root).unwrap();
    let b = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match cert {
        Some(c) => b
            .with_client_auth_cert(vec![c.der.clone()], c.key())
            .unwrap(),
        None => b.with_no_client_auth(),
    };
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

/// A read timed out (the socket's read timeout): nothing came yet, the stream is fine.
fn no_data_yet(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// True when the peer closes `s` (end of stream, or a reset) within `timeout`.
fn tls_closed_within(s: &mut TlsStream, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut chunk = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut chunk) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if no_data_yet(&e) => {}
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

fn tls_router(m: &Material) -> TestRouter {
    let tls = sipwasm_transport::TlsSettings {
        certificate: m.cert.clone(),
        private_key: m.key.clone(),
        ..Default::default()
    };
    probe_with(tls, "tls:127.0.0.1:0")
}

fn tls_addr(r: &TestRouter) -> std::net::SocketAddr {
    r.server()
        .addr(sipwasm_proto::Transport::Tls)
        .expect("a TLS listener")
}

#[test]
fn sip_and_msrp_over_tls() {
    let m = material("in");
    let r = tls_router(&m);
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
            ..Default::default()
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
            ..Default::default()
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

/// A CA of the suite's own, with the router's certificate (for 127.0.0.1) signed by it,
/// written as PEM files; it signs client certificates too.
pub(crate) struct Pki {
    pub(crate) dir: PathBuf,
    ca: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

/// A certificate and its key, for a rustls client or server.
pub(crate) struct Leaf {
    der: rustls::pki_types::CertificateDer<'static>,
    key: Vec<u8>,
    /// Certificate and key as PEM.
    pub(crate) pem: (String, String),
}

impl Leaf {
    fn key(&self) -> rustls::pki_types::PrivateKeyDer<'static> {
        rustls::pki_types::PrivateKeyDer::Pkcs8(self.key.clone().into())
    }
}

impl Pki {
    pub(crate) fn new(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("sipwasm-pki-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "Trunk CA");
        let ca =
            rcgen::CertifiedIssuer::self_signed(p, rcgen::KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        let pki = Pki { dir, ca };
        let server = pki.leaf(
            &["127.0.0.1"],
            "router",
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        );
        std::fs::write(pki.dir.join("cert.pem"), &server.pem.0).unwrap();
        std::fs::write(pki.dir.join("key.pem"), &server.pem.1).unwrap();
        pki
    }

    /// A certificate for `names` (DNS names or IPs) with common name `cn`, signed by the CA.
    fn leaf(&self, names: &[&str], cn: &str, usage: rcgen::ExtendedKeyUsagePurpose) -> Leaf {
        let mut p =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        p.extended_key_usages = vec![usage];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.ca).unwrap();
        Leaf {
            der: cert.der().clone(),
            key: key.serialize_der(),
            pem: (cert.pem(), key.serialize_pem()),
        }
    }

    pub(crate) fn client(&self, names: &[&str], cn: &str) -> Leaf {
        self.leaf(names, cn, rcgen::ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn settings(&self) -> sipwasm_transport::TlsSettings {
        sipwasm_transport::TlsSettings {
            certificate: self.dir.join("cert.pem"),
            private_key: self.dir.join("key.pem"),
            ca_file: Some(self.dir.join("ca.pem")),
            client_ca: Some(self.dir.join("ca.pem")),
            ..Default::default()
        }
    }

    /// A TLS connection to the router (trusting this CA), presenting `cert` if any.
    fn connect(&self, addr: std::net::SocketAddr, cert: Option<&Leaf>) -> TlsStream {
        connect_trusting(addr, self.ca.der().clone(), cert)
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The probe plugin on UDP, TCP and the TLS listener `tls_listener`, with `tls`.
fn probe_with(tls: sipwasm_transport::TlsSettings, tls_listener: &str) -> TestRouter {
    let opts = RouterOpts {
        tls: Some(tls),
        ..RouterOpts::default()
    };
    TestRouter::start_on(
        "probe",
        opts,
        &["udp:127.0.0.1:0", "tcp:127.0.0.1:0", tls_listener],
    )
}

/// A certificate for `names` signed by nobody the router trusts.
fn self_signed_client(names: &[&str]) -> Leaf {
    let ck =
        rcgen::generate_simple_self_signed(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    Leaf {
        der: ck.cert.der().clone(),
        key: ck.signing_key.serialize_der(),
        pem: (ck.cert.pem(), ck.signing_key.serialize_pem()),
    }
}

/// Ask the probe for `$tls_peer_*` over `s`: the values, or `None` when the router
/// closed the connection (a refused certificate: with TLS 1.3 the client learns it on
/// its first read) or never answered.
fn peer_names(s: &mut TlsStream, addr: std::net::SocketAddr) -> Option<Vec<String>> {
    let local = s.sock.local_addr().unwrap();
    let names = [
        "$tls_peer_verified",
        "$tls_peer_san_hostname",
        "$tls_peer_subject_cn",
        "$tls_peer_issuer",
        "$tls_peer_subject",
    ];
    let extra: String = names.iter().map(|n| format!("X-Get: {n}\r\n")).collect();
    let req = request("OPTIONS", "pv", addr, local, "TLS", &extra);
    if s.write_all(req.as_bytes()).is_err() {
        return None;
    }
    let mut buf = BytesMut::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    let reply = loop {
        if let Ok(reply) = SipMessage::parse(buf.clone().freeze()) {
            break reply;
        }
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if no_data_yet(&e) && Instant::now() < deadline => {}
            // the handshake failed (an alert), the connection was closed, or time is up
            Err(_) => return None,
        }
    };
    assert_eq!(reply.status(), Some(200));
    Some(
        (0..names.len())
            .map(|i| hdr(&reply, &format!("X-Val-{i}")).unwrap_or_default())
            .collect(),
    )
}

#[test]
fn mutual_tls_admits_a_trunk_with_a_good_certificate_and_refuses_the_rest() {
    let pki = Pki::new("mutual");
    let tls = sipwasm_transport::TlsSettings {
        client_names: vec!["sbc.carrier.example".into(), "*.pbx.example".into()],
        ..pki.settings()
    };
    let r = probe_with(tls, "tls:127.0.0.1:0 client_cert required");
    let addr = tls_addr(&r);
    // the trunk: signed by the CA, named in client_names; the route sees who it is
    let trunk = pki.client(&["sbc.carrier.example"], "Carrier SBC");
    let got =
        peer_names(&mut pki.connect(addr, Some(&trunk)), addr).expect("the trunk is answered");
    assert_eq!(got[0], "1");
    assert_eq!(got[1], "sbc.carrier.example");
    assert_eq!(got[2], "Carrier SBC");
    assert_eq!(got[3], "CN=Trunk CA");
    assert_eq!(got[4], "CN=Carrier SBC");
    // a name under a wildcard entry
    let pbx = pki.client(&["east.pbx.example"], "PBX east");
    let got = peer_names(&mut pki.connect(addr, Some(&pbx)), addr).expect("a PBX is answered");
    assert_eq!(got[1], "east.pbx.example");
    // refused: no certificate, one the CA did not sign, one the CA signed for another name
    let unsigned = self_signed_client(&["sbc.carrier.example"]);
    let elsewhere = pki.client(&["sbc.other.example"], "sbc.other.example");
    let cases: [(&str, Option<&Leaf>); 3] = [
        ("no certificate", None),
        ("a self-signed certificate", Some(&unsigned)),
        ("a certificate for another name", Some(&elsewhere)),
    ];
    for (what, cert) in cases {
        let mut s = pki.connect(addr, cert);
        assert!(peer_names(&mut s, addr).is_none(), "{what}: answered");
    }
    // the refusals leave the listener serving
    let got = peer_names(&mut pki.connect(addr, Some(&trunk)), addr).expect("the trunk again");
    assert_eq!(got[0], "1");
}

#[test]
fn optional_client_certificates_are_checked_when_presented() {
    let pki = Pki::new("optional");
    let r = probe_with(pki.settings(), "tls:127.0.0.1:0 client_cert optional");
    let addr = tls_addr(&r);
    // a phone without a certificate is served; the route sees no verified peer
    let got =
        peer_names(&mut pki.connect(addr, None), addr).expect("a phone without a certificate");
    assert_eq!(got[0], "0");
    assert_eq!(got[1], "<null>");
    let trunk = pki.client(&["sbc.carrier.example"], "Carrier SBC");
    let got = peer_names(&mut pki.connect(addr, Some(&trunk)), addr).expect("the trunk");
    assert_eq!(
        (got[0].as_str(), got[1].as_str()),
        ("1", "sbc.carrier.example")
    );
    // a certificate presented must be good
    let unsigned = self_signed_client(&["sbc.carrier.example"]);
    assert!(peer_names(&mut pki.connect(addr, Some(&unsigned)), addr).is_none());
}

/// Relay an MSRP SEND through a router with `pki`'s material and `destinations` to a TLS
/// endpoint presenting `cert`: true when the endpoint received it.
fn relayed_to(
    pki: &Pki,
    destinations: &[(&str, sipwasm_transport::PeerCheck)],
    cert: &Leaf,
) -> bool {
    let bob = TcpListener::bind("127.0.0.1:0").unwrap();
    let bob_addr = bob.local_addr().unwrap();
    let destinations = destinations
        .iter()
        .map(|(net, check)| sipwasm_transport::TlsDestination {
            net: net.parse().unwrap(),
            port: Some(bob_addr.port()),
            check: check.clone(),
        })
        .collect();
    let tls = sipwasm_transport::TlsSettings {
        client_ca: None,
        destinations,
        ..pki.settings()
    };
    let r = probe_with(tls, "tls:127.0.0.1:0");
    let addr = tls_addr(&r);
    let server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der.clone()], cert.key())
        .unwrap();
    bob.set_nonblocking(true).unwrap();
    let bob_thread = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(3);
        let tcp = loop {
            match bob.accept() {
                Ok((tcp, _)) => break tcp,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => return None,
            }
        };
        tcp.set_nonblocking(false).unwrap();
        tcp.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut conn = rustls::ServerConnection::new(Arc::new(server)).unwrap();
        let mut tcp = tcp;
        // the handshake first: a router that refuses the certificate ends it with an alert
        while conn.is_handshaking() {
            match conn.complete_io(&mut tcp) {
                Ok(_) => {}
                Err(e) if no_data_yet(&e) && Instant::now() < deadline => {}
                Err(_) => return None,
            }
        }
        let mut s = rustls::StreamOwned::new(conn, tcp);
        let mut buf = BytesMut::new();
        recv_frame(&mut s, &mut buf)
    });
    let mut alice = pki.connect(addr, None);
    let relay = format!("msrps://{addr}/relay;tcp");
    let bob_uri = format!("msrps://{bob_addr}/bob;tcp");
    alice
        .write_all(
            format!(
                "MSRP tls00003 SEND\r\nTo-Path: {relay} {bob_uri}\r\nFrom-Path: msrps://127.0.0.1:1/a;tcp\r\n\
X-Probe-Relay: yes\r\nMessage-ID: m3\r\nByte-Range: 1-5/5\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------tls00003$\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
    bob_thread
        .join()
        .unwrap()
        .is_some_and(|f| f.body() == Some(&b"hello"[..]) && f.to_path() == vec![bob_uri.as_bytes()])
}

#[test]
fn outbound_tls_verifies_the_peer_unless_its_destination_says_otherwise() {
    use sipwasm_transport::PeerCheck;
    let pki = Pki::new("outbound");
    let server = rcgen::ExtendedKeyUsagePurpose::ServerAuth;
    // signed by the trusted CA for the address dialled: relayed
    let good = pki.leaf(&["127.0.0.1"], "bob", server.clone());
    assert!(relayed_to(&pki, &[], &good), "a good certificate");
    // signed by nobody trusted: refused, unless the destination is a lab one
    let unsigned = self_signed_client(&["127.0.0.1"]);
    assert!(
        !relayed_to(&pki, &[], &unsigned),
        "a self-signed certificate"
    );
    assert!(
        relayed_to(&pki, &[("127.0.0.1/32", PeerCheck::Insecure)], &unsigned),
        "verify = false"
    );
    // trusted but for a host name, not the address dialled: refused unless the
    // destination names it
    let named = pki.leaf(&["bob.example"], "bob", server);
    assert!(
        !relayed_to(&pki, &[], &named),
        "a certificate for a host name"
    );
    assert!(
        relayed_to(
            &pki,
            &[("127.0.0.1/32", PeerCheck::Name("bob.example".into()))],
            &named
        ),
        "name = bob.example"
    );
    assert!(
        !relayed_to(
            &pki,
            &[("127.0.0.1/32", PeerCheck::Name("carol.example".into()))],
            &named
        ),
        "name = carol.example"
    );
}

#[test]
fn a_pjsip_phone_with_a_client_certificate_registers_through_mutual_tls() {
    use crate::pjsip::{Phone, PhoneOpts};
    let pki = Pki::new("pjsip");
    plugin("registrar_proxy");
    let config = root().join("config/examples/registrar-proxy.toml");
    let tls = sipwasm_transport::TlsSettings {
        client_names: vec!["alice.phones.example".into()],
        ..pki.settings()
    };
    let r = TestRouter::from_config_file(
        &config,
        &[
            "udp:127.0.0.1:0",
            "tcp:127.0.0.1:0",
            "tls:127.0.0.1:0 client_cert required",
        ],
        |cfg| cfg.tls = Some(tls),
    );
    let addr = tls_addr(&r);
    let with_cert = |leaf: Option<&Leaf>, name: &str| {
        let mut opts = PhoneOpts::example("alice", addr, "tls");
        opts.ca = Some(pki.dir.join("ca.pem"));
        opts.client_cert = leaf.map(|l| {
            let (cert, key) = (
                pki.dir.join(format!("{name}.pem")),
                pki.dir.join(format!("{name}.key")),
            );
            std::fs::write(&cert, &l.pem.0).unwrap();
            std::fs::write(&key, &l.pem.1).unwrap();
            (cert, key)
        });
        Phone::start(&opts)
    };
    // PJSIP presenting a certificate the CA signed for a listed name: registered
    let good = pki.client(&["alice.phones.example"], "alice");
    assert_eq!(with_cert(Some(&good), "good").register(), 200);
    // no certificate, or one for a name not listed: the handshake or the name check
    // refuses the connection, no REGISTER gets through
    assert_ne!(with_cert(None, "none").register(), 200);
    let other = pki.client(&["mallory.phones.example"], "mallory");
    assert_ne!(with_cert(Some(&other), "other").register(), 200);
}
