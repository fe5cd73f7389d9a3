//! Several routers sharing registrations in a real `redis-server` (Debian's, started here
//! on a loopback port): a phone registered on one router is reached through another (over
//! UDP directly, over TCP through the router holding its connection), a router restart
//! keeps the registrations, and Redis going away costs new REGISTERs (503, never a 200
//! that stored nothing) but not the calls to registrations already seen.

use crate::harness::*;
use crate::operate::{http_get, parse_openmetrics, sample};
use crate::pjsip::{Phone, PhoneOpts};
use serde_json::{Value, json};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECS: Duration = Duration::from_secs(10);

/// A `redis-server` of the test's own, keeping its data in a directory of its own
/// (append-only file: a restart keeps what was written).
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    /// TLS only, a password and a client certificate required: the CA and certificates.
    tls: Option<crate::tls::Pki>,
}

/// The password of a TLS Redis.
const REDIS_PASSWORD: &str = "s3cret-of-the-suite";

impl RedisServer {
    pub fn start(name: &str) -> RedisServer {
        let mut r = RedisServer::start_stopped(name);
        r.resume();
        r
    }

    /// A Redis that takes only TLS connections (`rediss://`) presenting a client
    /// certificate of the suite's CA and the password: as a managed Redis over a network
    /// is set up.
    pub fn start_tls(name: &str) -> RedisServer {
        let pki = crate::tls::Pki::new(&format!("redis-{name}"));
        let client = pki.client(&[], "router");
        std::fs::write(pki.dir.join("client.pem"), &client.pem.0).unwrap();
        std::fs::write(pki.dir.join("client.key"), &client.pem.1).unwrap();
        let mut r = RedisServer::start_stopped(name);
        r.tls = Some(pki);
        r.resume();
        r
    }

    fn start_stopped(name: &str) -> RedisServer {
        let dir = std::env::temp_dir().join(format!("sipwasm-redis-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        RedisServer {
            child: None,
            port: free_port(),
            dir,
            tls: None,
        }
    }

    /// What `redis-cli` needs to reach it.
    fn cli_args(&self) -> Vec<String> {
        let mut args = vec!["-p".to_string(), self.port.to_string()];
        if let Some(pki) = &self.tls {
            let file = |f: &str| pki.dir.join(f).to_string_lossy().into_owned();
            args.extend([
                "--tls".into(),
                "--cacert".into(),
                file("ca.pem"),
                "--cert".into(),
                file("client.pem"),
                "--key".into(),
                file("client.key"),
                "-a".into(),
                REDIS_PASSWORD.into(),
                "--no-auth-warning".into(),
            ]);
        }
        args
    }

    /// The TLS settings a router needs for it.
    pub fn router_tls(&self) -> Option<sipwasm::config::RedisTls> {
        self.tls.as_ref().map(|pki| sipwasm::config::RedisTls {
            ca_file: Some(pki.dir.join("ca.pem")),
            client_certificate: Some((pki.dir.join("client.pem"), pki.dir.join("client.key"))),
        })
    }

    /// Start it (again) on its port and directory; returns once it answers PING.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "already running");
        let port = self.port.to_string();
        let mut listen = vec!["--port", &port];
        let pki_files;
        if let Some(pki) = &self.tls {
            let file = |f: &str| pki.dir.join(f).to_string_lossy().into_owned();
            pki_files = [file("cert.pem"), file("key.pem"), file("ca.pem")];
            listen = vec![
                "--port",
                "0",
                "--tls-port",
                &port,
                "--tls-cert-file",
                &pki_files[0],
                "--tls-key-file",
                &pki_files[1],
                "--tls-ca-cert-file",
                &pki_files[2],
                "--tls-auth-clients",
                "yes",
                "--requirepass",
                REDIS_PASSWORD,
            ];
        }
        let child = Command::new("redis-server")
            .args(listen)
            .args(["--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server; scripts/ensure-tools installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not answer on port {}", self.port);
    }

    fn ping(&self) -> bool {
        use std::io::{Read, Write};
        if self.tls.is_some() {
            return redis_cli(self, &["PING"]) == "PONG";
        }
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
        let mut buf = [0u8; 16];
        s.write_all(b"PING\r\n").is_ok()
            && s.read(&mut buf)
                .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
    }

    /// Stop it (SIGTERM: it finishes writing) and wait for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM, to the pid of the child this test started (not yet reaped)
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    pub fn url(&self) -> String {
        match self.tls {
            None => format!("redis://127.0.0.1:{}/0", self.port),
            Some(_) => format!("rediss://:{REDIS_PASSWORD}@127.0.0.1:{}/0", self.port),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `state` of a `/health` answer.
fn health_state(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["state"].as_str().unwrap_or_default().to_string()
}

/// The registrar-proxy example on fresh ports, its registrations in `redis`.
fn example_on(redis: &RedisServer) -> TestRouter {
    twin_on(redis, "")
}

/// The example (`twin` ""), or its twin in another language ("c", "py", "js").
fn twin_on(redis: &RedisServer, twin: &str) -> TestRouter {
    let (name, file) = match twin {
        "" => (
            "registrar_proxy".to_string(),
            "registrar-proxy.toml".to_string(),
        ),
        t => (
            format!("registrar_proxy_{t}"),
            format!("registrar-proxy-{t}.toml"),
        ),
    };
    plugin(&name);
    let config = root().join("config/examples").join(file);
    let url = redis.url();
    let tls = redis.router_tls();
    TestRouter::from_config_file(&config, &["udp:127.0.0.1:0", "tcp:127.0.0.1:0"], |cfg| {
        cfg.state = cfg.state_section.with_url(&url).unwrap();
        if let sipwasm::config::StateBackend::Redis { tls: t, .. } = &mut cfg.state {
            t.clone_from(&tls);
        }
    })
}

fn phone(user: &str, r: &TestRouter, transport: &'static str) -> Phone {
    let addr = if transport == "tcp" { r.tcp } else { r.udp };
    Phone::start(&PhoneOpts::example(user, addr, transport))
}

/// A phone of another domain (a caller from outside, never registered here) using `r`
/// as its outbound proxy.
fn outsider(r: &TestRouter) -> Phone {
    let mut opts = PhoneOpts::example("carol", r.udp, "udp");
    opts.domain = "elsewhere.example".into();
    Phone::start(&opts)
}

/// An OPTIONS to `user` of the example's domain through router `r`: the answer.
fn options_to(r: &TestRouter, user: &str) -> Option<u16> {
    let c = UdpClient::new(r.udp);
    c.send(
        request(
            "OPTIONS",
            user,
            "127.0.0.1:1".parse().unwrap(),
            c.local(),
            "UDP",
            "",
        )
        .replace("@127.0.0.1:1", "@sipwasm.local")
        .as_bytes(),
    );
    c.final_status(SECS).map(|(code, _)| code)
}

/// A call from `caller` to `callee`'s user, answered, then hung up by the caller.
fn call(caller: &mut Phone, callee: &mut Phone, to: &str) {
    let a = caller.call(&format!("sip:{to}@sipwasm.local"));
    let b = callee.incoming();
    callee.send(json!({"cmd": "answer", "call": b, "code": 200}));
    caller.call_state(a, "CONFIRMED");
    callee.call_state(b, "CONFIRMED");
    caller.send(json!({"cmd": "hangup", "call": a}));
    callee.request_in(b, "BYE");
    callee.call_state(b, "DISCONNECTED");
    assert_eq!(caller.call_state(a, "DISCONNECTED")["code"], 200);
}

#[test]
fn phones_on_two_routers_reach_each_other_through_redis() {
    let redis = RedisServer::start("two");
    let a = example_on(&redis);
    let b = example_on(&redis);
    // bob on router A over TCP (A holds his connection), alice on router B over UDP
    let mut bob = phone("bob", &a, "tcp");
    let mut alice = phone("alice", &b, "udp");
    assert_eq!(bob.register(), 200);
    assert_eq!(alice.register(), 200);
    // B finds bob and reaches him through A, which holds his connection: A takes the
    // request B hands over (its own signed Path entry) without asking alice again
    assert_eq!(options_to(&b, "bob"), Some(200));
    call(&mut alice, &mut bob, "bob");
    // A finds alice and reaches her over UDP
    assert_eq!(options_to(&a, "alice"), Some(200));
    call(&mut bob, &mut alice, "alice");
    // a caller from another domain, through B, to bob on A
    let mut carol = outsider(&b);
    call(&mut carol, &mut bob, "bob");
    // the operator's view from either router: both phones (`ctl ul.dump`, from Redis)
    let dir = std::env::temp_dir().join(format!("sipwasm-ul-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("ctl.sock");
    let _control = a.in_runtime(|| {
        sipwasm::control::serve(&socket, a.server().router().clone(), Default::default()).unwrap()
    });
    let dump = sipwasm::control::call(&socket, "ul.dump", Value::Null, None).unwrap();
    let aors: Vec<&str> = dump
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["aor"].as_str())
        .collect();
    assert_eq!(aors, ["alice@sipwasm.local", "bob@sipwasm.local"], "{dump}");
    // an unregistration on one router is seen by the other at once (its cache dropped)
    assert_eq!(alice.unregister(), 200);
    assert_eq!(
        until_answer(|| options_to(&a, "alice"), Some(404)),
        Some(404)
    );
    // `ctl ul.rm` on A: B no longer finds bob
    let rm = sipwasm::control::call(&socket, "ul.rm", json!(["bob@sipwasm.local"]), None);
    assert_eq!(rm.unwrap()["removed"], 1);
    assert_eq!(until_answer(|| options_to(&b, "bob"), Some(404)), Some(404));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_twins_hand_over_calls_to_the_router_holding_the_connection() {
    let redis = RedisServer::start("twins");
    for twin in ["c", "py", "js"] {
        let a = twin_on(&redis, twin);
        let b = twin_on(&redis, twin);
        let mut bob = phone("bob", &a, "tcp");
        let mut alice = phone("alice", &b, "udp");
        assert_eq!(bob.register(), 200, "{twin}");
        assert_eq!(alice.register(), 200, "{twin}");
        call(&mut alice, &mut bob, "bob");
        assert_eq!(bob.unregister(), 200, "{twin}");
        assert_eq!(alice.unregister(), 200, "{twin}");
    }
}

/// Routers reach Redis over TLS (`rediss://` with a password, the suite's CA in
/// `tls_ca_file`, a client certificate: Redis requires all three) and share registrations
/// as over plain TCP; a router trusting another CA fails the handshake: it stores nothing
/// and says so (503 to a REGISTER, never a 200).
#[test]
fn routers_share_registrations_over_tls_to_redis() {
    let redis = RedisServer::start_tls("tls");
    let a = example_on(&redis);
    let b = example_on(&redis);
    let mut alice = phone("alice", &a, "udp");
    assert_eq!(alice.register(), 200);
    assert_eq!(options_to(&b, "alice"), Some(200));
    let keys = redis_cli(&redis, &["--scan", "--pattern", "*alice*"]);
    assert!(keys.contains("alice@sipwasm.local"), "{keys:?}");
    let other = crate::tls::Pki::new("redis-other-ca");
    let config = root().join("config/examples/registrar-proxy.toml");
    let (url, mut tls) = (redis.url(), redis.router_tls().unwrap());
    tls.ca_file = Some(other.dir.join("ca.pem"));
    let stranger =
        TestRouter::from_config_file(&config, &["udp:127.0.0.1:0", "tcp:127.0.0.1:0"], |cfg| {
            cfg.secret = Some("a secret: no key to agree on through Redis".into());
            cfg.state = sipwasm::config::StateBackend::Redis {
                url,
                key_prefix: "sipwasm:".into(),
                timeout: Duration::from_millis(500),
                tls: Some(tls),
            };
        });
    let mut bob = phone("bob", &stranger, "udp");
    assert_eq!(bob.register(), 503);
    assert_eq!(options_to(&stranger, "alice"), Some(404));
}

/// Without `[router] secret` the routers agree on a key through Redis; a router that
/// cannot reach Redis at start would sign with a key of its own (and refuse the others'
/// nonces, Record-Routes and Paths): it does not start, and says why.
#[test]
fn without_a_secret_a_router_does_not_start_while_redis_is_away() {
    let config = root().join("config/examples/registrar-proxy.toml");
    let dead = format!("redis://127.0.0.1:{}/0", free_port());
    // (built first: a build is not the router's wait)
    let bin = crate::cli::sipwasm_bin();
    let started = Instant::now();
    let out = Command::new(bin)
        .args(["run", "--config", config.to_str().unwrap()])
        .args(["--listen", "udp:127.0.0.1:0", "--state-url", &dead])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("set [router] secret"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn registrations_outlive_a_router_restart_and_redis_outages() {
    let mut redis = RedisServer::start("outage");
    let a = example_on(&redis);
    let mut alice = phone("alice", &a, "udp");
    assert_eq!(alice.register(), 200);
    drop(a);
    // a new router process on the same Redis knows alice
    let a2 = example_on(&redis);
    let b = example_on(&redis);
    // (the routers subscribe to the change notices as they start: a copy cached before
    // that is dropped then)
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(options_to(&a2, "alice"), Some(200));
    // Redis goes away: what B has seen still routes; nothing new can be stored, and the
    // phone is told so (503), not given a 200
    assert_eq!(options_to(&b, "alice"), Some(200));
    let metrics = b.serve_metrics();
    let (code, body) = http_get(metrics.addr(), "/health");
    assert_eq!(
        (code, health_state(&body)),
        (200, "up".to_string()),
        "{body}"
    );
    redis.stop();
    assert_eq!(options_to(&b, "alice"), Some(200), "from B's cache");
    let mut bob = phone("bob", &b, "udp");
    assert_eq!(bob.register(), 503);
    let (code, body) = http_get(metrics.addr(), "/health");
    assert_eq!(
        (code, health_state(&body)),
        (503, "down".to_string()),
        "{body}"
    );
    let (_, text) = http_get(metrics.addr(), "/metrics");
    let families = parse_openmetrics(&text);
    assert_eq!(
        sample(&families, "sipwasm_state_backend_up", &[]),
        Some(0.0)
    );
    // Redis is back with what it held: alice still registered, bob can register now
    redis.resume();
    let deadline = Instant::now() + SECS;
    let mut code = 0;
    while Instant::now() < deadline {
        code = bob.register();
        if code == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(code, 200, "REGISTER once Redis is back");
    assert_eq!(http_get(metrics.addr(), "/health").0, 200);
    assert_eq!(options_to(&a2, "bob"), Some(200));
    assert_eq!(options_to(&a2, "alice"), Some(200));
}

/// A nonce one router issued is accepted by another (they agree on a key through Redis:
/// the example sets no `[router] secret`), and its nonce count, used there, is a replay
/// on the first: refused.
#[test]
fn a_nonce_from_one_router_is_accepted_by_another_and_never_twice() {
    let redis = RedisServer::start("nonces");
    let a = example_on(&redis);
    let b = example_on(&redis);
    let mut alice = crate::internet_facing::Client::new("127.0.0.1", a.udp, "alice");
    assert_eq!(alice.challenge(SECS), Some(401), "A challenges");
    alice.switch_to(b.udp);
    assert_eq!(
        alice.sign_in("alice-secret", SECS),
        Some(200),
        "B takes A's nonce"
    );
    assert_eq!(alice.replay(SECS), Some(401), "a replay on B");
    alice.switch_to(a.udp);
    assert_eq!(alice.replay(SECS), Some(401), "the same nonce count on A");
    // a fresh challenge from B, answered on A
    alice.switch_to(b.udp);
    assert_eq!(alice.challenge(SECS), Some(401));
    alice.switch_to(a.udp);
    assert_eq!(
        alice.sign_in("alice-secret", SECS),
        Some(200),
        "A takes B's nonce"
    );
}

/// The probe on a fresh port with the `calls` (no expiry, 4 entries at most) and `short`
/// (2 s) tables in `redis`.
fn probe_on(redis: &RedisServer) -> TestRouter {
    let spec = |name: &str, autoexpire, max_entries| sipwasm_routing::HtableSpec {
        name: name.into(),
        autoexpire,
        max_entries,
        expired_event: false,
    };
    TestRouter::start_with(
        "probe",
        RouterOpts {
            htables: vec![spec("calls", 0, 4), spec("short", 2, 100)],
            state: sipwasm::config::StateBackend::Redis {
                url: redis.url(),
                key_prefix: "t:".into(),
                timeout: Duration::from_millis(500),
                tls: None,
            },
            ..RouterOpts::default()
        },
    )
}

/// The probe's answer to `X-Ht: spec` from router `r`.
fn ht(r: &TestRouter, spec: &str) -> String {
    let c = UdpClient::new(r.udp);
    let reply = c
        .ask("MESSAGE", "ht", &format!("X-Ht: {spec}\r\n"))
        .expect("reply");
    hdr(&reply, "X-Result").unwrap()
}

/// Htables in Redis: what one router sets another reads; `incr` from both at once loses
/// no count; `max_entries` holds for both together; an entry expires on its own
/// schedule; Redis away: a clear error, then the tables are back with their data.
#[test]
fn htables_in_redis_are_one_table_for_every_router() {
    let mut redis = RedisServer::start("htables");
    let a = probe_on(&redis);
    let b = probe_on(&redis);
    assert_eq!(ht(&a, "set calls alice ringing"), "Ok(())");
    assert_eq!(
        ht(&b, "get calls alice"),
        "Ok(Some(Value::Str(\"ringing\")))"
    );
    assert_eq!(
        ht(&b, "incr calls alice 1"),
        "Err(Error::NotAnInt(\"alice\"))"
    );
    // 2 x 2 clients, 50 increments each, at once
    std::thread::scope(|s| {
        for r in [&a, &b, &a, &b] {
            s.spawn(move || {
                for _ in 0..50 {
                    assert!(ht(r, "incr calls n 1").starts_with("Ok("));
                }
            });
        }
    });
    assert_eq!(ht(&a, "get calls n"), "Ok(Some(Value::Int(200)))");
    assert_eq!(ht(&b, "incr calls n -200"), "Ok(0)");
    // integers beyond a double's precision stay exact
    assert_eq!(ht(&a, "setint calls big 9007199254740993"), "Ok(())");
    assert_eq!(ht(&b, "incr calls big 2"), "Ok(9007199254740995)");
    // 4 entries at most, counted across the routers
    assert_eq!(ht(&b, "set calls bob x"), "Ok(())");
    assert_eq!(ht(&a, "set calls carol x"), "Err(Error::Full(\"calls\"))");
    assert_eq!(ht(&b, "delete calls bob"), "Ok(true)");
    assert_eq!(ht(&a, "exists calls bob"), "Ok(false)");
    assert_eq!(ht(&a, "set calls carol x"), "Ok(())");
    // per-key expiry: 2 s after its last set, on both routers
    // (margins of half a second and more: expiry times are whole seconds in memory)
    assert_eq!(ht(&a, "setint short k 7"), "Ok(())");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(ht(&b, "setint short j 8"), "Ok(())");
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(ht(&b, "get short k"), "Ok(None)", "expired");
    assert_eq!(ht(&a, "get short j"), "Ok(Some(Value::Int(8)))", "not yet");
    assert_eq!(
        ht(&a, "incr short k 1"),
        "Ok(1)",
        "an expired value counts as 0"
    );
    // Redis away: said so, nothing pretends to be stored; then back with the data
    redis.stop();
    let down = ht(&a, "set calls dave x");
    assert!(down.starts_with("Err(Error::Unavailable("), "{down}");
    assert!(ht(&b, "get calls alice").starts_with("Err(Error::Unavailable("));
    redis.resume();
    let ringing = "Ok(Some(Value::Str(\"ringing\")))".to_string();
    let back = until(|| ht(&b, "get calls alice"), ringing.clone(), SECS);
    assert_eq!(back, ringing);
    assert_eq!(
        until(|| ht(&a, "get calls dave"), "Ok(None)".to_string(), SECS),
        "Ok(None)"
    );
}

/// The example on `redis` without its per-user call limits (a load test's caller calls
/// more than a person would).
fn unlimited_on(redis: &RedisServer) -> TestRouter {
    plugin("registrar_proxy");
    let config = root().join("config/examples/registrar-proxy.toml");
    let url = redis.url();
    TestRouter::from_config_file(&config, &["udp:127.0.0.1:0", "tcp:127.0.0.1:0"], |cfg| {
        cfg.state = cfg.state_section.with_url(&url).unwrap();
        let c = &mut cfg.tenants[cfg.default_tenant].plugin_config;
        c.insert("max_calls".into(), "0".into());
        c.insert("calls_per_minute".into(), "0".into());
    })
}

/// `redis-cli` against `redis`: its output.
fn redis_cli(redis: &RedisServer, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(redis.cli_args())
        .args(args)
        .output()
        .expect("redis-cli (Debian redis-tools, with redis-server)");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Redis stopped and started in the middle of REGISTER and call load (SIPp, two routers):
/// every REGISTER is answered, 200 while Redis is up and 503 while it is away, never a
/// timeout; every 200 was stored (the AOR's version in Redis counts the writes: at least
/// one per 200, none lost to the restart); every call to a phone registered before goes
/// through, outage or not.
#[test]
fn redis_stopped_and_started_under_register_and_call_load_loses_nothing() {
    let _sipp = sipp_lock();
    let mut redis = RedisServer::start("load");
    let a = unlimited_on(&redis);
    let b = unlimited_on(&redis);
    let vars = |user: &str| {
        vec![
            ("USER", user.to_string()),
            ("PASSWORD", format!("{user}-secret")),
            ("DOMAIN", "sipwasm.local".to_string()),
            ("CALLEE", "bob".to_string()),
        ]
    };
    // bob is SIPp's UAS: registered from its port through A, then it answers there
    let uas_port = free_port();
    let bob = Sipp {
        port: Some(uas_port),
        ..Sipp::client(Scenario::File("uac_register.xml", vars("bob")), a.udp)
    }
    .run();
    assert_eq!(bob.successful_calls, 1, "{}", bob.output);
    const CALLS: u32 = 100;
    // 9 s at 50 a second: Redis is back after about 4, and the last ones are stored again
    const REGISTERS: u32 = 450;
    let uas = Sipp {
        calls: CALLS,
        // the suite's UAS keeps the Record-Route (the in-dialog requests come through B)
        ..Sipp::server(Scenario::File("uas_rr.xml", Vec::new()), uas_port)
    }
    .spawn();
    // alice calls bob through B (B looks him up, then keeps him cached) while alice
    // registers through A, 50 a second
    let calls = Sipp {
        calls: CALLS,
        rate: 20,
        hold_ms: 0,
        ..Sipp::client(Scenario::File("uac_auth_call.xml", vars("alice")), b.udp)
    }
    .spawn();
    let registers = Sipp {
        calls: REGISTERS,
        rate: 50,
        trace_messages: true,
        ..Sipp::client(
            Scenario::File("uac_register_or_503.xml", vars("alice")),
            a.udp,
        )
    }
    .spawn();
    std::thread::sleep(Duration::from_secs(2));
    redis.stop();
    std::thread::sleep(Duration::from_secs(2));
    redis.resume();
    let registers = registers.wait(Duration::from_secs(60));
    let calls = calls.wait(Duration::from_secs(60));
    let _ = uas.wait(Duration::from_secs(10));
    let statuses: std::collections::BTreeMap<&str, usize> = registers
        .messages
        .lines()
        .filter(|l| l.starts_with("SIP/2.0 "))
        .fold(Default::default(), |mut m, l| {
            *m.entry(l).or_default() += 1;
            m
        });
    assert_eq!(
        (registers.successful_calls, registers.failed_calls),
        (u64::from(REGISTERS), 0),
        "every REGISTER answered 200 or 503; answers: {statuses:?}"
    );
    let answered = |code: &str| {
        registers
            .messages
            .lines()
            .filter(|l| l.starts_with(&format!("SIP/2.0 {code} ")))
            .count() as u64
    };
    let (stored, refused) = (answered("200"), answered("503"));
    assert_eq!(stored + refused, u64::from(REGISTERS), "final answers");
    assert!(
        refused > 0,
        "the outage was hit: {stored} stored, {refused} refused"
    );
    let last = registers
        .messages
        .lines()
        .rfind(|l| l.starts_with("SIP/2.0 200 ") || l.starts_with("SIP/2.0 503 "));
    assert_eq!(
        last.map(|l| &l[..11]),
        Some("SIP/2.0 200"),
        "stored again once Redis is back: {stored} stored, {refused} refused"
    );
    assert_eq!(
        (calls.successful_calls, calls.failed_calls),
        (u64::from(CALLS), 0),
        "every call through B\n{}",
        calls.output
    );
    // alice's AOR: one version per write; the 200s were all stored, and kept through the
    // restart (a 503 may have stored too: a write whose answer was lost with the
    // connection)
    let key = redis_cli(&redis, &["--scan", "--pattern", "*location*alice*"]);
    let version: u64 = redis_cli(&redis, &["HGET", &key, "v"]).parse().unwrap();
    assert!(
        (stored..=stored + refused).contains(&version),
        "version {version} for {stored} stored, {refused} refused"
    );
    eprintln!("REGISTERs: {stored} stored, {refused} refused (503), alice at version {version}");
}

/// `probe` until it says `want`, for up to `within` (another router's change or ban
/// reaches this one as a notice: within milliseconds, not at once; Redis coming back is
/// noticed within the probing backoff); the last answer.
fn until<T: PartialEq>(mut probe: impl FnMut() -> T, want: T, within: Duration) -> T {
    let deadline = Instant::now() + within;
    loop {
        let got = probe();
        if got == want || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// [`until`] for SIP answers, within two seconds.
fn until_answer(probe: impl FnMut() -> Option<u16>, want: Option<u16>) -> Option<u16> {
    until(probe, want, Duration::from_secs(2))
}

#[test]
fn a_guesser_banned_by_one_router_is_dropped_by_all_until_the_operator_lifts_it() {
    use crate::internet_facing::Client;
    let redis = RedisServer::start("bans");
    let a = example_on(&redis);
    let b = example_on(&redis);
    std::thread::sleep(Duration::from_millis(300));
    let wait = Duration::from_millis(300);
    // a password guesser at router A, from 127.0.0.2, until A bans it
    let mut cracker = Client::new("127.0.0.2", a.udp, "alice");
    assert_eq!(cracker.challenge(SECS), Some(401));
    let mut guesses = 0;
    // the ten before the ban are answered: waited for as long as a loaded machine needs
    while guesses < 30
        && cracker
            .sign_in(
                &format!("guess{guesses}"),
                if guesses < 10 { SECS } else { wait },
            )
            .is_some()
    {
        guesses += 1;
    }
    assert!(guesses < 30, "A banned the guesser");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(a.server().router().guard().bans(now).len(), 1);
    // router B drops it too; a phone elsewhere is still answered
    let mut at_b = Client::new("127.0.0.2", b.udp, "alice");
    assert_eq!(
        until_answer(|| at_b.challenge(wait), None),
        None,
        "B drops the guesser"
    );
    let mut phone = Client::new("127.0.0.1", b.udp, "alice");
    assert_eq!(phone.challenge(SECS), Some(401));
    // a router started now learns the bans in force
    let c = example_on(&redis);
    let mut at_c = Client::new("127.0.0.2", c.udp, "alice");
    assert_eq!(
        until_answer(|| at_c.challenge(wait), None),
        None,
        "C drops the guesser"
    );
    // the operator lifts it on A: lifted everywhere
    let ip = "127.0.0.2".parse().unwrap();
    assert_eq!(a.server().router().guard().clear(Some(ip)), 1);
    assert_eq!(
        until_answer(|| at_b.challenge(wait), Some(401)),
        Some(401),
        "B lifted it"
    );
    assert_eq!(
        until_answer(|| at_c.challenge(wait), Some(401)),
        Some(401),
        "C lifted it"
    );
}

#[test]
fn the_binary_takes_a_state_url_and_a_metrics_listener_for_any_config() {
    use crate::cli::Running;
    let redis = RedisServer::start("cli");
    plugin("registrar_proxy");
    let config = root().join("config/examples/registrar-proxy.toml");
    let (port, metrics_port) = (free_port(), free_port());
    let udp = format!("udp:127.0.0.1:{port}");
    let metrics: std::net::SocketAddr = format!("127.0.0.1:{metrics_port}").parse().unwrap();
    let r = Running::start(
        config.to_str().unwrap(),
        &[
            "--listen",
            &udp,
            "--state-url",
            &redis.url(),
            "--metrics-listen",
            &metrics.to_string(),
        ],
    );
    r.wait_for("metrics and health listening", Duration::from_secs(60));
    let (code, body) = http_get(metrics, "/health");
    assert_eq!(
        (code, health_state(&body)),
        (200, "up".to_string()),
        "{body}"
    );
    // a phone registers through the binary; its binding is in Redis for any router
    let router: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut alice = Phone::start(&PhoneOpts::example("alice", router, "udp"));
    assert_eq!(alice.register(), 200);
    let other = example_on(&redis);
    assert_eq!(options_to(&other, "alice"), Some(200));
    let (_, text) = http_get(metrics, "/metrics");
    let families = parse_openmetrics(&text);
    assert_eq!(
        sample(&families, "sipwasm_state_backend_up", &[]),
        Some(1.0)
    );
}
