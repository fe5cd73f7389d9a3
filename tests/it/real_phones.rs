//! Real SIP stacks through the documented example: PJSIP softphones (pjsua2) with the
//! router as their outbound proxy — the set-up of every softphone and desk phone —
//! registering, calling and messaging through `config/examples/registrar-proxy.toml` as
//! README documents it, over UDP, TCP and TLS; one user on two devices (forking);
//! phones behind NAT.

use crate::harness::*;
use crate::pjsip::{Phone, PhoneOpts};
use serde_json::json;
use sipwasm_proto::Transport;
use std::path::PathBuf;
use std::time::Duration;

const SECS: Duration = Duration::from_secs(10);

/// The config of the example as README points a user at it (`registrar_proxy`), or of one
/// of its twins
/// (`registrar_proxy_py`: config/examples/registrar-proxy-py.toml).
fn config_of(plugin_name: &str) -> PathBuf {
    let twin = plugin_name
        .strip_prefix("registrar_proxy")
        .unwrap_or_default();
    root().join(format!(
        "config/examples/registrar-proxy{}.toml",
        twin.replace('_', "-")
    ))
}

/// A self-signed certificate for 127.0.0.1 and its files.
struct Cert {
    dir: PathBuf,
    cert: PathBuf,
}

impl Cert {
    fn new(name: &str) -> Cert {
        let dir =
            std::env::temp_dir().join(format!("sipwasm-phones-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let cert = dir.join("cert.pem");
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
        Cert { dir, cert }
    }

    fn settings(&self) -> sipwasm_transport::TlsSettings {
        sipwasm_transport::TlsSettings {
            certificate: self.cert.clone(),
            private_key: self.dir.join("key.pem"),
            ca_file: None,
            ..Default::default()
        }
    }
}

impl Drop for Cert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The example router on fresh ports, with a TLS listener too when `cert` is given,
/// running `plugin_name` (the example, or its twin in another language).
fn example_router(
    cert: Option<&Cert>,
    plugin_name: &str,
) -> (TestRouter, Option<std::net::SocketAddr>) {
    // built, for the config that names it
    plugin(plugin_name);
    let mut listen = vec!["udp:127.0.0.1:0", "tcp:127.0.0.1:0"];
    if cert.is_some() {
        listen.push("tls:127.0.0.1:0");
    }
    let r = TestRouter::from_config_file(&config_of(plugin_name), &listen, |cfg| {
        cfg.tls = cert.map(Cert::settings);
    });
    let tls = r.server().addr(Transport::Tls);
    (r, tls)
}

fn phone(
    user: &str,
    r: &TestRouter,
    tls: Option<std::net::SocketAddr>,
    transport: &'static str,
    cert: Option<&Cert>,
) -> Phone {
    let addr = match transport {
        "udp" => r.udp,
        "tcp" => r.tcp,
        _ => tls.expect("a TLS listener"),
    };
    let mut opts = PhoneOpts::example(user, addr, transport);
    opts.ca = cert.map(|c| c.cert.clone());
    Phone::start(&opts)
}

/// An OPTIONS from a plain UDP client to `user` of the example's domain, through the
/// router: the answer of the phone it reaches.
fn options_to(r: &TestRouter, user: &str) -> Option<u16> {
    let c = UdpClient::new(r.udp);
    let local = c.local();
    let text = format!(
        "OPTIONS sip:{user}@sipwasm.local SIP/2.0\r\n\
Via: SIP/2.0/UDP {local};branch=z9hG4bK-opt-{user};rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:monitor@elsewhere.example>;tag=m1\r\n\
To: <sip:{user}@sipwasm.local>\r\n\
Call-ID: options-{user}-{}\r\n\
CSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n",
        local.port()
    );
    c.send(text.as_bytes());
    c.final_status(SECS).map(|(code, _)| code)
}

/// Every step a phone user takes, between two phones over `transport`.
fn every_step(transport: &'static str) {
    every_step_with(transport, "registrar_proxy");
}

/// [`every_step`] with `plugin_name` as the router's plugin.
fn every_step_with(transport: &'static str, plugin_name: &str) {
    let cert = (transport == "tls").then(|| Cert::new("every-step"));
    let (r, tls) = example_router(cert.as_ref(), plugin_name);
    let mut alice = phone("alice", &r, tls, transport, cert.as_ref());
    let mut bob = phone("bob", &r, tls, transport, cert.as_ref());
    // registration through the outbound proxy, with digest authentication
    assert_eq!(alice.register(), 200);
    assert_eq!(bob.register(), 200);

    // a call with SDP: ringing, answered, media on both sides
    let a = alice.call("sip:bob@sipwasm.local");
    let b = bob.incoming();
    bob.send(json!({"cmd": "answer", "call": b, "code": 180}));
    assert_eq!(alice.call_state(a, "EARLY")["code"], 180);
    bob.send(json!({"cmd": "answer", "call": b, "code": 200}));
    alice.call_state(a, "CONFIRMED");
    bob.call_state(b, "CONFIRMED");
    alice.media_active(a);
    bob.media_active(b);
    alice.forget();
    bob.forget();
    // re-INVITEs along the route set, from either side
    alice.send(json!({"cmd": "reinvite", "call": a}));
    bob.request_in(b, "INVITE");
    alice.media_active(a);
    bob.send(json!({"cmd": "reinvite", "call": b}));
    alice.request_in(a, "INVITE");
    bob.media_active(b);
    // the caller hangs up
    alice.send(json!({"cmd": "hangup", "call": a}));
    bob.request_in(b, "BYE");
    bob.call_state(b, "DISCONNECTED");
    assert_eq!(alice.call_state(a, "DISCONNECTED")["code"], 200);

    // the other way round, and the callee hangs up
    let b2 = bob.call("sip:alice@sipwasm.local");
    let a2 = alice.incoming();
    alice.send(json!({"cmd": "answer", "call": a2, "code": 200}));
    bob.call_state(b2, "CONFIRMED");
    alice.call_state(a2, "CONFIRMED");
    alice.send(json!({"cmd": "hangup", "call": a2}));
    bob.request_in(b2, "BYE");
    bob.call_state(b2, "DISCONNECTED");
    alice.call_state(a2, "DISCONNECTED");

    // a ringing call canceled by the caller
    let a3 = alice.call("sip:bob@sipwasm.local");
    let b3 = bob.incoming();
    bob.send(json!({"cmd": "answer", "call": b3, "code": 180}));
    alice.call_state(a3, "EARLY");
    alice.send(json!({"cmd": "hangup", "call": a3}));
    assert_eq!(alice.call_state(a3, "DISCONNECTED")["code"], 487);
    bob.call_state(b3, "DISCONNECTED");

    // MESSAGE
    alice.send(json!({"cmd": "message", "to": "sip:bob@sipwasm.local", "text": "hello bob"}));
    let st = alice.expect("MESSAGE answered", SECS, |e| e["ev"] == "message_status");
    assert_eq!(st["code"], 200, "{st}");
    let m = bob.expect("MESSAGE delivered", SECS, |e| e["ev"] == "message");
    assert_eq!(m["text"], "hello bob");

    // OPTIONS from outside to a registered phone, over UDP to the router whatever the
    // phone's transport
    assert_eq!(options_to(&r, "bob"), Some(200));

    // unregistration: bob is not reachable any more
    assert_eq!(bob.unregister(), 200);
    let a4 = alice.call("sip:bob@sipwasm.local");
    assert_eq!(alice.call_state(a4, "DISCONNECTED")["code"], 404);
    assert_eq!(alice.unregister(), 200);
    assert_eq!(options_to(&r, "alice"), Some(404));
}

#[test]
fn pjsip_phones_over_udp() {
    every_step("udp");
}

#[test]
fn pjsip_phones_over_tcp() {
    every_step("tcp");
}

#[test]
fn pjsip_phones_over_tls() {
    every_step("tls");
}

/// The example's twins in C, Python and JavaScript (example-plugins/c/registrar-proxy.c,
/// python/registrar_proxy.py, js/registrar_proxy.js) do every step too.
#[test]
fn pjsip_phones_through_the_twins() {
    for plugin_name in [
        "registrar_proxy_c",
        "registrar_proxy_py",
        "registrar_proxy_js",
    ] {
        every_step_with("udp", plugin_name);
    }
}

/// The example's config with `voicemail` set, on fresh ports, running `plugin_name` (the
/// example or one of its twins).
fn example_with_voicemail(voicemail: &str, plugin_name: &str) -> TestRouter {
    let text = std::fs::read_to_string(config_of(plugin_name)).unwrap();
    let plugin = plugin(plugin_name);
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with("listen") {
            out.push_str("listen = [\"udp:127.0.0.1:0\", \"tcp:127.0.0.1:0\"]\n");
        } else if line.starts_with("path =") {
            out.push_str(&format!("path = {:?}\n", plugin.display().to_string()));
        } else if line.starts_with("cache_dir") {
            continue;
        } else {
            out.push_str(line);
            out.push('\n');
        }
        if line.starts_with("realm") {
            out.push_str(&format!("voicemail = {voicemail:?}\n"));
        }
    }
    TestRouter::from_config(&out).0
}

#[test]
fn one_user_on_two_devices() {
    one_user_on_two_devices_with("registrar_proxy");
}

/// The twins fork, fail over to voicemail and pick the best answer as the example does.
#[test]
fn one_user_on_two_devices_through_the_twins() {
    for plugin_name in [
        "registrar_proxy_c",
        "registrar_proxy_py",
        "registrar_proxy_js",
    ] {
        one_user_on_two_devices_with(plugin_name);
    }
}

fn one_user_on_two_devices_with(plugin_name: &str) {
    let carol_port = free_port();
    let r = example_with_voicemail(&format!("sip:127.0.0.1:{carol_port}"), plugin_name);
    let mut alice = Phone::start(&PhoneOpts::example("alice", r.udp, "udp"));
    let mut bob1 = Phone::start(&PhoneOpts::example("bob", r.udp, "udp"));
    let mut bob2 = Phone::start(&PhoneOpts::example("bob", r.tcp, "tcp"));
    let mut carol_opts = PhoneOpts::example("carol", r.udp, "udp");
    carol_opts.port = carol_port;
    let mut carol = Phone::start(&carol_opts);
    assert_eq!(alice.register(), 200);
    assert_eq!(bob1.register(), 200);
    assert_eq!(bob2.register(), 200);

    // parallel forking: both ring, one answers, the other is canceled
    let a = alice.call("sip:bob@sipwasm.local");
    let c1 = bob1.incoming();
    let c2 = bob2.incoming();
    bob1.send(json!({"cmd": "answer", "call": c1, "code": 180}));
    bob2.send(json!({"cmd": "answer", "call": c2, "code": 180}));
    alice.call_state(a, "EARLY");
    bob2.send(json!({"cmd": "answer", "call": c2, "code": 200}));
    alice.call_state(a, "CONFIRMED");
    bob2.call_state(c2, "CONFIRMED");
    bob1.call_state(c1, "DISCONNECTED");
    alice.send(json!({"cmd": "hangup", "call": a}));
    bob2.call_state(c2, "DISCONNECTED");
    alice.call_state(a, "DISCONNECTED");
    for p in [&mut alice, &mut bob1, &mut bob2] {
        p.forget();
    }

    // both busy: the caller gets one final answer, and the voicemail exactly one new
    // branch; the devices that said busy are not called again
    let a = alice.call("sip:bob@sipwasm.local");
    let c1 = bob1.incoming();
    let c2 = bob2.incoming();
    bob1.send(json!({"cmd": "hangup", "call": c1, "code": 486}));
    bob2.send(json!({"cmd": "hangup", "call": c2, "code": 486}));
    let vm = carol.incoming();
    carol.send(json!({"cmd": "answer", "call": vm, "code": 200}));
    alice.call_state(a, "CONFIRMED");
    assert!(
        bob1.never(Duration::from_secs(1), |e| e["ev"] == "incoming")
            && bob2.never(Duration::from_millis(100), |e| e["ev"] == "incoming"),
        "the failure route forked only the voicemail"
    );
    alice.send(json!({"cmd": "hangup", "call": a}));
    carol.call_state(vm, "DISCONNECTED");
    alice.call_state(a, "DISCONNECTED");
    assert!(
        carol.never(Duration::from_millis(300), |e| e["ev"] == "incoming"),
        "one branch to the voicemail"
    );
    for p in [&mut alice, &mut bob1, &mut bob2, &mut carol] {
        p.forget();
    }

    // everybody busy, the voicemail too: the caller gets one final answer, the best
    let a = alice.call("sip:bob@sipwasm.local");
    let c1 = bob1.incoming();
    let c2 = bob2.incoming();
    bob1.send(json!({"cmd": "hangup", "call": c1, "code": 486}));
    bob2.send(json!({"cmd": "hangup", "call": c2, "code": 486}));
    let vm = carol.incoming();
    carol.send(json!({"cmd": "hangup", "call": vm, "code": 486}));
    assert_eq!(alice.call_state(a, "DISCONNECTED")["code"], 486);
    assert!(
        alice.never(Duration::from_millis(500), |e| e["ev"] == "call"
            && e["state"] == "DISCONNECTED"),
        "no further answer"
    );
}
