//! Shared test machinery: guest plugins built once, in-process routers on port 0, raw SIP
//! clients, and a SIPp runner.

use bytes::Bytes;
use sipwasm::config::Fallback;
use sipwasm::server::{Server, ServerSettings};
use sipwasm_proto::{SipMessage, Transport};
use sipwasm_runtime::{EngineConfig, PluginEngine, PluginSettings};
use sipwasm_transport::{ListenSpec, TcpLimits};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the repository")
        .to_path_buf()
}

const GUESTS: &[&str] = &[
    "tutorial_501",
    "options_pong",
    "headers_demo",
    "kemi_proxy",
    "registrar_proxy",
    "nosip_resume",
    "nosip_log",
    "msrp_relay",
    "outbound_edge",
    "edge_proxy",
    "probe",
    "proxy_cfg",
    "spin_forever",
    "eat_memory",
    "trap_on_header",
    "log_flood",
    "swap_version",
];

/// Path of a built guest component (`tutorial_501`, `probe` ...), building every guest
/// once per test run if any is missing.
pub fn plugin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let dir = root().join("target/wasm32-wasip2/plugin");
    BUILT.get_or_init(|| {
        if GUESTS
            .iter()
            .all(|g| dir.join(format!("{g}.wasm")).exists())
        {
            return;
        }
        let status = Command::new(root().join("scripts/build-plugins"))
            .status()
            .expect("running scripts/build-plugins");
        assert!(status.success(), "scripts/build-plugins failed");
    });
    // the C, Python and JavaScript guests (example-plugins/c, python, js), made by their
    // own scripts
    static BUILT_C: OnceLock<()> = OnceLock::new();
    static BUILT_PY: OnceLock<()> = OnceLock::new();
    static BUILT_JS: OnceLock<()> = OnceLock::new();
    let by_script = if name.ends_with("_c") {
        Some((&BUILT_C, "scripts/build-plugins-c"))
    } else if name.ends_with("_py") {
        Some((&BUILT_PY, "scripts/build-plugins-py"))
    } else if name.ends_with("_js") {
        Some((&BUILT_JS, "scripts/build-plugins-js"))
    } else {
        None
    };
    if let Some((built, script)) = by_script {
        built.get_or_init(|| {
            let status = Command::new(root().join(script))
                .status()
                .unwrap_or_else(|e| panic!("running {script}: {e}"));
            assert!(
                status.success(),
                "{script} failed (scripts/ensure-tools installs what it needs)"
            );
        });
    }
    let p = dir.join(format!("{name}.wasm"));
    assert!(p.exists(), "{} was not built", p.display());
    p
}

/// How a test router is set up.
#[derive(Clone)]
pub struct RouterOpts {
    pub workers: usize,
    pub deadline: Duration,
    pub memory_limit: usize,
    pub fallback: Fallback,
    pub config: BTreeMap<String, String>,
    pub tcp: TcpLimits,
    pub aliases: Vec<sipwasm_routing::Alias>,
    pub timers: sipwasm_tm::TimerConfig,
    pub dns: sipwasm::dns::DnsSettings,
    pub nosip: sipwasm_routing::NosipFilter,
    pub udp_allow: sipwasm_routing::UdpAllow,
    pub htables: Vec<sipwasm_routing::HtableSpec>,
    pub tls: Option<sipwasm_transport::TlsSettings>,
    pub msrp_sipmsg: bool,
    pub secret: Option<String>,
    pub natping: sipwasm_routing::NatPing,
    pub trusted_peers: Vec<ipnet::IpNet>,
    /// `[security]`: as a user gets it unless a test says otherwise.
    pub guard: sipwasm_routing::auth::guard::GuardPolicy,
    /// `[state]`: memory unless a test shares registrations in Redis.
    pub state: sipwasm::config::StateBackend,
    /// `[dispatcher]`: no sets unless a test balances over some.
    pub dispatcher: sipwasm::config::Dispatcher,
}

impl Default for RouterOpts {
    fn default() -> Self {
        RouterOpts {
            workers: 2,
            // The deadline is wall-clock time (epochs): on a test machine busy with other
            // tests and SIPp, a guest call can be descheduled for longer than a production
            // deadline. Tests of the deadline itself set a short one.
            deadline: Duration::from_millis(1000),
            memory_limit: 16 << 20,
            fallback: Fallback::Reply(500, "Server Internal Error".into()),
            config: BTreeMap::new(),
            tcp: TcpLimits::default(),
            aliases: Vec::new(),
            timers: sipwasm_tm::TimerConfig::default(),
            dns: sipwasm::dns::DnsSettings::default(),
            nosip: sipwasm_routing::NosipFilter::default(),
            udp_allow: sipwasm_routing::UdpAllow::default(),
            htables: Vec::new(),
            tls: None,
            msrp_sipmsg: true,
            secret: None,
            natping: sipwasm_routing::NatPing::default(),
            trusted_peers: Vec::new(),
            guard: sipwasm_routing::auth::guard::GuardPolicy::default(),
            state: Default::default(),
            dispatcher: Default::default(),
        }
    }
}

/// A router running in this process on 127.0.0.1, UDP and TCP on ephemeral ports.
pub struct TestRouter {
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    pub plugin: std::sync::Arc<sipwasm_runtime::Plugin>,
    server: Option<Server>,
    rt: tokio::runtime::Runtime,
    _watcher: Option<sipwasm::watch::PluginWatcher>,
    // last: released after the router has shut down
    _machine: MachineShare,
}

impl TestRouter {
    /// Start a router running the guest `plugin_name` with default options.
    pub fn start(plugin_name: &str) -> TestRouter {
        TestRouter::start_with(plugin_name, RouterOpts::default())
    }

    /// Start a router running the guest `plugin_name`.
    pub fn start_with(plugin_name: &str, opts: RouterOpts) -> TestRouter {
        TestRouter::start_on(plugin_name, opts, &["udp:127.0.0.1:0", "tcp:127.0.0.1:0"])
    }

    /// Start a router on the given listener specs (the first UDP and TCP ones are
    /// exposed as `udp` and `tcp`). `SIPWASM_TEST_LOG=debug` shows the routers' logs.
    pub fn start_on(plugin_name: &str, mut opts: RouterOpts, specs: &[&str]) -> TestRouter {
        if plugin_name.ends_with("_py") {
            // a Python guest gets the memory its example configs give it
            opts.memory_limit = opts.memory_limit.max(32 << 20);
        }
        let machine = machine_share();
        if let Ok(level) = std::env::var("SIPWASM_TEST_LOG") {
            sipwasm::logging::init(sipwasm::config::LogFormat::Text, Some(&level));
        }
        let engine = std::sync::Arc::new(
            PluginEngine::new(EngineConfig {
                max_instances: 16,
                max_memory_bytes: opts.memory_limit.max(16 << 20),
                cache_dir: Some(root().join("target/sipwasm-test-cache")),
                ..EngineConfig::default()
            })
            .expect("engine"),
        );
        let plugin = engine
            .load_file(
                &plugin(plugin_name),
                PluginSettings {
                    name: plugin_name.to_string(),
                    deadline: opts.deadline,
                    memory_limit: opts.memory_limit,
                    config: opts.config.clone(),
                    udp_allow: opts.udp_allow.clone(),
                    account: sipwasm_runtime::TenantAccount::new(plugin_name, Default::default()),
                },
            )
            .expect("plugin loads");
        let tenants = sipwasm::tenants::Tenants::single(
            engine,
            plugin.clone(),
            &self::plugin(plugin_name),
            opts.fallback.clone(),
            sipwasm_routing::Grants {
                htables: opts.htables.iter().map(|h| h.name.clone()).collect(),
                dispatcher_sets: opts.dispatcher.set_ids(),
                address_groups: Vec::new(),
            },
        );
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let listeners = specs
            .iter()
            .map(|s| s.parse::<ListenSpec>().unwrap().bind().unwrap())
            .collect();
        let settings = ServerSettings {
            workers: opts.workers,
            aliases: opts.aliases.clone(),
            server_header: Some("sipwasm-test".into()),
            listen: specs
                .iter()
                .map(|s| s.parse::<ListenSpec>().unwrap())
                .collect(),
            tcp: opts.tcp,
            timers: opts.timers,
            dns: opts.dns.clone(),
            nosip: opts.nosip.clone(),
            htables: opts.htables.clone(),
            msrp_sipmsg: opts.msrp_sipmsg,
            tls: opts.tls.clone(),
            secret: opts.secret.clone(),
            natping: opts.natping.clone(),
            path_from: Vec::new(),
            trusted_peers: opts.trusted_peers.clone(),
            guard: opts.guard.clone(),
            state: opts.state.clone(),
            dispatcher: opts.dispatcher.clone(),
            config_source: None,
            proxy_require: Vec::new(),
            pike: Default::default(),
            address_groups: Vec::new(),
            ratelimit: Default::default(),
            advertise: specs
                .iter()
                .map(|s| s.parse::<ListenSpec>().unwrap())
                .filter_map(|l| l.advertise.clone().map(|a| (l.transport, l.addr, a)))
                .collect(),
        };
        let server = rt
            .block_on(async { Server::start(settings, tenants, listeners) })
            .expect("server starts");
        TestRouter {
            udp: server.addr(Transport::Udp).unwrap(),
            tcp: server.addr(Transport::Tcp).unwrap(),
            plugin,
            server: Some(server),
            rt,
            _watcher: None,
            _machine: machine,
        }
    }

    /// Start a router from configuration `text` (as `sipwasm run` would, written to a
    /// file in a fresh directory, which is returned too): tenants, limits, grants. Use
    /// absolute plugin paths and port-0 listeners.
    pub fn from_config(text: &str) -> (TestRouter, PathBuf) {
        let machine = machine_share();
        if let Ok(level) = std::env::var("SIPWASM_TEST_LOG") {
            sipwasm::logging::init(sipwasm::config::LogFormat::Text, Some(&level));
        }
        let dir = std::env::temp_dir().join(format!(
            "sipwasm-cfg-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("router.toml");
        std::fs::write(&path, text).unwrap();
        let cfg = sipwasm::config::Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        (TestRouter::from_loaded(cfg, machine), dir)
    }

    /// Start a router from the configuration file at `path` as it is (an example of
    /// `config/examples/`), listening on `listen` instead of its own listeners (as
    /// `sipwasm run --listen` does), with what `adjust` adds (TLS material, NAT pinging).
    pub fn from_config_file(
        path: &Path,
        listen: &[&str],
        adjust: impl FnOnce(&mut sipwasm::config::Config),
    ) -> TestRouter {
        let machine = machine_share();
        if let Ok(level) = std::env::var("SIPWASM_TEST_LOG") {
            sipwasm::logging::init(sipwasm::config::LogFormat::Text, Some(&level));
        }
        let mut cfg = sipwasm::config::Config::load(path).unwrap_or_else(|e| panic!("{e}"));
        cfg.listen = listen.iter().map(|l| l.parse().unwrap()).collect();
        adjust(&mut cfg);
        TestRouter::from_loaded(cfg, machine)
    }

    fn from_loaded(mut cfg: sipwasm::config::Config, machine: MachineShare) -> TestRouter {
        // As RouterOpts::default: the deadline is wall-clock time, and on a test machine
        // busy with other tests the default tenant's production default (10 ms) can cut an
        // event that was only descheduled. A deadline a test set otherwise stays.
        let main = &mut cfg.tenants[cfg.default_tenant].deadline;
        if *main == Duration::from_millis(10) {
            *main = Duration::from_secs(1);
        }
        let tenants = sipwasm::tenants::Tenants::load(&cfg).unwrap_or_else(|e| panic!("{e}"));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let listeners = cfg.listen.iter().map(|l| l.bind().unwrap()).collect();
        let server = rt
            .block_on(async {
                Server::start(sipwasm::server_settings(&cfg), tenants.clone(), listeners)
            })
            .expect("server starts");
        let watcher = cfg
            .watch_plugins
            .then(|| sipwasm::watch::start(tenants.clone()).expect("watching plugin files"));
        TestRouter {
            udp: server.addr(Transport::Udp).unwrap(),
            tcp: server.addr(Transport::Tcp).unwrap(),
            plugin: tenants.default_tenant().current().plugin.clone(),
            server: Some(server),
            rt,
            _watcher: watcher,
            _machine: machine,
        }
    }

    /// Run `f` inside the router's tokio runtime (control socket, watcher ...).
    pub fn in_runtime<T>(&self, f: impl FnOnce() -> T) -> T {
        let _enter = self.rt.enter();
        f()
    }

    /// The router's tenants.
    pub fn tenants(&self) -> &std::sync::Arc<sipwasm::tenants::Tenants> {
        self.server().router().tenants()
    }

    /// The router's core counters.
    /// Serve `/metrics` and `/health` of this router on a free loopback port.
    pub fn serve_metrics(&self) -> sipwasm::metrics::MetricsServer {
        let _in_runtime = self.rt.enter();
        sipwasm::metrics::serve(
            "127.0.0.1:0".parse().unwrap(),
            self.server().router().clone(),
        )
        .expect("metrics listener")
    }

    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("running")
    }
}

impl Drop for TestRouter {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

static SEQ: AtomicU64 = AtomicU64::new(1);

/// A valid request from `local` to `target`, with unique Call-ID and branch.
/// `extra` header lines end in CRLF.
pub fn request(
    method: &str,
    user: &str,
    target: SocketAddr,
    local: SocketAddr,
    transport: &str,
    extra: &str,
) -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    format!(
        "{method} sip:{user}@{target} SIP/2.0\r\n\
Via: SIP/2.0/{transport} {local};branch=z9hG4bK-test-{n};rport\r\n\
Max-Forwards: 70\r\n\
From: \"Test\" <sip:tester@{local}>;tag=from-{n}\r\n\
To: <sip:{user}@{target}>\r\n\
Call-ID: call-{n}@sipwasm.test\r\n\
CSeq: {n} {method}\r\n\
Contact: <sip:tester@{local}>\r\n\
{extra}Content-Length: 0\r\n\r\n"
    )
}

/// A UDP SIP client bound to an ephemeral port.
pub struct UdpClient {
    pub sock: UdpSocket,
    pub target: SocketAddr,
}

impl UdpClient {
    pub fn new(target: SocketAddr) -> UdpClient {
        UdpClient::from_ip("127.0.0.1", target)
    }

    /// A client sending from `ip` (another of 127.0.0.0/8 is another source to the
    /// router).
    pub fn from_ip(ip: &str, target: SocketAddr) -> UdpClient {
        let sock = UdpSocket::bind((ip, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        UdpClient { sock, target }
    }

    pub fn local(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    pub fn send(&self, data: &[u8]) {
        self.sock.send_to(data, self.target).unwrap();
    }

    /// The next datagram within `timeout`.
    pub fn recv(&self, timeout: Duration) -> Option<Bytes> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 65536];
        while Instant::now() < deadline {
            match self.sock.recv_from(&mut buf) {
                Ok((n, _)) => return Some(Bytes::copy_from_slice(&buf[..n])),
                Err(_) => continue,
            }
        }
        None
    }

    /// The status code and bytes of the next final reply, without requiring the reply to
    /// be a complete message (a 400 to a request lacking From/To echoes what it had).
    pub fn final_status(&self, timeout: Duration) -> Option<(u16, String)> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let data = self.recv(deadline.saturating_duration_since(Instant::now()))?;
            let text = String::from_utf8_lossy(&data).into_owned();
            let code: u16 = text.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()?;
            if code >= 200 {
                return Some((code, text));
            }
        }
        None
    }

    /// Send a request built by [`request`] and wait for a final reply.
    pub fn ask(&self, method: &str, user: &str, extra: &str) -> Option<SipMessage> {
        let req = request(method, user, self.target, self.local(), "UDP", extra);
        self.send(req.as_bytes());
        self.final_reply(Duration::from_secs(3))
    }

    /// The next final (>= 200) reply, skipping provisional ones.
    pub fn final_reply(&self, timeout: Duration) -> Option<SipMessage> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let data = self.recv(deadline.saturating_duration_since(Instant::now()))?;
            let msg = SipMessage::parse(data).expect("router replies parse");
            if msg.status().is_some_and(|c| c >= 200) {
                return Some(msg);
            }
        }
        None
    }
}

/// A TCP SIP client.
pub struct TcpClient {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl TcpClient {
    pub fn connect(target: SocketAddr) -> TcpClient {
        let stream = TcpStream::connect(target).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        TcpClient {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, data: &[u8]) {
        self.stream.write_all(data).unwrap();
    }

    /// The next framed message within `timeout`, or `None` (timeout or connection closed).
    pub fn recv(&mut self, timeout: Duration) -> Option<SipMessage> {
        let mut framer = sipwasm_proto::framing::StreamFramer::new(1 << 20);
        let deadline = Instant::now() + timeout;
        loop {
            // the framer remembers how far it looked into the buffer: keep what it left
            let mut b = bytes::BytesMut::from(&self.buf[..]);
            let frame = framer.decode(&mut b);
            self.buf = b.to_vec();
            match frame {
                Ok(Some(sipwasm_proto::framing::Frame::Message(m))) => {
                    return Some(SipMessage::parse(m).expect("router replies parse"));
                }
                Ok(Some(sipwasm_proto::framing::Frame::Ping)) => continue,
                _ => {}
            }
            if Instant::now() >= deadline {
                return None;
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return None,
            }
        }
    }

    /// True when the server closed the connection within `timeout`.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        closed_within(&mut self.stream, timeout)
    }

    pub fn ask(&mut self, method: &str, user: &str, extra: &str) -> Option<SipMessage> {
        let local = self.stream.local_addr().unwrap();
        let target = self.stream.peer_addr().unwrap();
        let req = request(method, user, target, local, "TCP", extra);
        self.send(req.as_bytes());
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            let m = self.recv(deadline.saturating_duration_since(Instant::now()))?;
            if m.status().is_some_and(|c| c >= 200) {
                return Some(m);
            }
        }
        None
    }
}

/// True when the peer of `stream` (with a read timeout set) closed it within `timeout`;
/// what it sends meanwhile is discarded.
pub fn closed_within(stream: &mut TcpStream, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut chunk = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut chunk) {
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

/// Header value of a reply as a string.
pub fn hdr(msg: &SipMessage, name: &str) -> Option<String> {
    msg.header(name.as_bytes())
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

// ---------------------------------------------------------------- SIPp

/// Where SIPp is (the test script installs it).
pub fn sipp_path() -> PathBuf {
    which("sipp")
        .expect("SIPp (Debian package sip-tester) must be installed: scripts/test installs it")
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(cmd))
        .find(|p| p.is_file())
}

/// One request/response exchange for a SIPp scenario.
pub struct SippCall<'a> {
    /// Method sent.
    pub method: &'a str,
    /// R-URI user.
    pub user: &'a str,
    /// Final response expected.
    pub expect: u16,
    /// Regexes the named reply headers must match (`("X-Caller", "^sipp$")`).
    pub checks: &'a [(&'a str, &'a str)],
}

fn escape_xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A SIPp scenario for `call`: the request, an optional 100, the expected final response
/// with header checks, and the ACK when the request is an INVITE.
pub fn scenario(call: &SippCall<'_>) -> String {
    let m = call.method;
    let u = call.user;
    let mut checks = String::new();
    for (i, (h, re)) in call.checks.iter().enumerate() {
        // SIPp hands the header value with the space after the colon
        let re = match re.strip_prefix('^') {
            Some(rest) => format!("^[[:space:]]*{rest}"),
            None => re.to_string(),
        };
        checks.push_str(&format!(
            "<ereg regexp=\"{}\" search_in=\"hdr\" header=\"{}:\" check_it=\"true\" assign_to=\"c{i}\"/>",
            escape_xml(&re),
            escape_xml(h)
        ));
    }
    let (action, reference) = if checks.is_empty() {
        (String::new(), String::new())
    } else {
        let vars: Vec<String> = (0..call.checks.len()).map(|i| format!("c{i}")).collect();
        (
            format!("<action>{checks}</action>"),
            // SIPp refuses variables that are assigned and never read
            format!("<Reference variables=\"{}\"/>", vars.join(",")),
        )
    };
    let ack = if m == "INVITE" {
        format!(
            r#"<send><![CDATA[

      ACK sip:{u}@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-3]
      Max-Forwards: 70
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{u}@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Content-Length: 0

    ]]></send>"#
        )
    } else {
        String::new()
    };
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="{m} {u} expects {expect}">
  <send><![CDATA[

      {m} sip:{u}@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{u}@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 {m}
      Contact: <sip:sipp@[local_ip]:[local_port]>
      User-Agent: sipwasm-tests
      Content-Length: 0

    ]]></send>
  <recv response="100" optional="true"></recv>
  <recv response="{expect}">{action}</recv>
  {ack}
  {reference}
</scenario>
"#,
        expect = call.expect
    )
}

/// What a SIPp run reported.
#[derive(Debug)]
pub struct SippOutcome {
    pub success: bool,
    pub successful_calls: u64,
    pub failed_calls: u64,
    pub output: String,
    /// SIPp's message log, when `trace_messages` was set.
    pub messages: String,
}

static SIPP_LOCK: Mutex<()> = Mutex::new(());

/// The machine the tests share. Every router a test starts (and every `sipwasm` process
/// the CLI tests run) holds it shared; a test that measures latency holds it alone, so
/// that on a 2-core CI machine its numbers are not another test's load (a hostile-tenant
/// p99 of 18 ms against a 5 ms baseline, with the MSRP and TLS tests running beside it).
static MACHINE: parking_lot::RwLock<()> = parking_lot::RwLock::new(());

thread_local! {
    /// Set while this thread holds `MACHINE` alone: its own routers take no share.
    static ALONE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A share of the machine, held by a running router or `sipwasm` process.
pub struct MachineShare {
    _guard: Option<parking_lot::RwLockReadGuard<'static, ()>>,
}

/// Take a share of the machine: waits while a latency test has it alone. Recursive (a
/// test may run several routers at once) and a no-op inside the latency test itself.
pub fn machine_share() -> MachineShare {
    if ALONE.with(|a| a.get()) {
        return MachineShare { _guard: None };
    }
    MachineShare {
        _guard: Some(MACHINE.read_recursive()),
    }
}

/// The machine to this test alone, once every router of other tests has stopped.
pub struct MachineAlone {
    _guard: parking_lot::RwLockWriteGuard<'static, ()>,
}

pub fn machine_alone() -> MachineAlone {
    let guard = MACHINE.write();
    ALONE.with(|a| a.set(true));
    MachineAlone { _guard: guard }
}

impl Drop for MachineAlone {
    fn drop(&mut self) {
        ALONE.with(|a| a.set(false));
    }
}

/// The `[router]`, `[runtime]` and `[control]` sections a test config starts from: the
/// listeners (`"udp:127.0.0.1:0"` ...), `workers`, the shared cache of compiled plugins,
/// no file watching, and a control socket `ctl.sock` beside the config.
pub fn router_sections(listen: &[&str], workers: usize) -> String {
    let listen: Vec<String> = listen.iter().map(|l| format!("{l:?}")).collect();
    format!(
        "[router]\nlisten = [{}]\nworkers = {workers}\n[runtime]\ncache_dir = {:?}\n\
         watch_plugins = false\n[control]\nsocket = \"ctl.sock\"\n",
        listen.join(", "),
        root()
            .join("target/sipwasm-test-cache")
            .display()
            .to_string(),
    )
}

/// A port free for both UDP and TCP on 127.0.0.1 (SIPp picks 5060 when told 0).
pub fn free_port() -> u16 {
    loop {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = u.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Run `calls` of `scenario` against `target` over `transport` (`u1` or `t1`), bounded by
/// a global timeout.
pub fn run_sipp(
    scenario_xml: &str,
    target: SocketAddr,
    transport: &str,
    calls: u32,
    rate: u32,
) -> SippOutcome {
    // SIPp runs are light, but serialising them keeps timing-sensitive tests steady on
    // two cores
    let _guard = SIPP_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!(
        "sipwasm-sipp-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let sf = dir.join("scenario.xml");
    std::fs::write(&sf, scenario_xml).unwrap();
    let stat = dir.join("stat.csv");
    let out = Command::new(sipp_path())
        .current_dir(&dir)
        .args(["-sf", sf.to_str().unwrap()])
        .args(["-t", transport])
        .args(["-i", "127.0.0.1", "-p", &free_port().to_string()])
        .args(["-m", &calls.to_string(), "-r", &rate.to_string()])
        .args(["-timeout", "30s", "-recv_timeout", "5000", "-nostdin"])
        .args(["-trace_stat", "-stf", stat.to_str().unwrap(), "-fd", "1"])
        .arg(target.to_string())
        .output()
        .expect("running sipp");
    let output = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, failed) = parse_stat(&stat);
    let _ = std::fs::remove_dir_all(&dir);
    SippOutcome {
        success: out.status.success(),
        successful_calls: ok,
        failed_calls: failed,
        output,
        messages: String::new(),
    }
}

/// SIPp's `-trace_msg` log in `dir`, if any.
fn read_messages(dir: &Path) -> String {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with("_messages.log"))
        .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned())
        .collect()
}

/// Cumulative successful and failed calls from the last line of a SIPp stat file.
fn parse_stat(path: &Path) -> (u64, u64) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return (0, 0);
    };
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return (0, 0);
    };
    let cols: Vec<&str> = header.split(';').collect();
    let Some(last) = text.lines().last() else {
        return (0, 0);
    };
    let vals: Vec<&str> = last.split(';').collect();
    let get = |name: &str| {
        cols.iter()
            .position(|c| *c == name)
            .and_then(|i| vals.get(i))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (get("SuccessfulCall(C)"), get("FailedCall(C)"))
}

/// Run one SIPp scenario and assert every call succeeded.
pub fn sipp_ok(call: &SippCall<'_>, target: SocketAddr, transport: &str, calls: u32) {
    let out = run_sipp(&scenario(call), target, transport, calls, 50);
    assert!(
        out.success && out.successful_calls == u64::from(calls) && out.failed_calls == 0,
        "SIPp {} {} over {transport}: expected {} successful calls, got {} ok / {} failed\n{}",
        call.method,
        call.user,
        calls,
        out.successful_calls,
        out.failed_calls,
        out.output
    );
}

// ---------------------------------------------------------------- SIPp processes

/// Which scenario a SIPp run plays.
pub enum Scenario {
    /// A built-in one (`uac`, `uas`).
    Builtin(&'static str),
    /// A file of `tests/scenarios/`, with `{KEY}` placeholders replaced.
    File(&'static str, Vec<(&'static str, String)>),
}

/// A SIPp run to start.
pub struct Sipp {
    pub scenario: Scenario,
    /// Remote (the router), for clients.
    pub target: Option<SocketAddr>,
    /// `u1` or `t1`.
    pub transport: &'static str,
    /// Local port (a free one when `None`).
    pub port: Option<u16>,
    /// Calls before exiting.
    pub calls: u32,
    /// Calls per second.
    pub rate: u32,
    /// `-s` service (Request-URI user).
    pub service: Option<String>,
    /// Keep every message sent and received (`-trace_msg`) for the test to read.
    pub trace_messages: bool,
    /// How long a `<pause/>` without a duration lasts (`-d`), ms: how long a call stays
    /// up.
    pub hold_ms: u32,
    /// Answer OPTIONS (and INFO, NOTIFY, UPDATE) outside the scenario with 200 (`-aa`):
    /// a gateway that answers health probes.
    pub auto_answer: bool,
    /// The address it sends from (`-i`): another of 127.0.0.0/8 is another source to the
    /// router.
    pub local_ip: &'static str,
}

impl Sipp {
    pub fn client(scenario: Scenario, target: SocketAddr) -> Sipp {
        Sipp {
            scenario,
            target: Some(target),
            transport: "u1",
            port: None,
            calls: 1,
            rate: 10,
            service: None,
            trace_messages: false,
            hold_ms: 50,
            auto_answer: false,
            local_ip: "127.0.0.1",
        }
    }

    pub fn server(scenario: Scenario, port: u16) -> Sipp {
        Sipp {
            scenario,
            target: None,
            transport: "u1",
            port: Some(port),
            calls: 1,
            rate: 10,
            service: None,
            trace_messages: false,
            hold_ms: 50,
            auto_answer: false,
            local_ip: "127.0.0.1",
        }
    }

    fn command(&self, dir: &Path) -> Command {
        let mut cmd = Command::new(sipp_path());
        cmd.current_dir(dir);
        match &self.scenario {
            Scenario::Builtin(name) => {
                cmd.args(["-sn", name]);
            }
            Scenario::File(name, vars) => {
                let mut xml = std::fs::read_to_string(root().join("tests/scenarios").join(name))
                    .unwrap_or_else(|e| panic!("scenario {name}: {e}"));
                for (k, v) in vars {
                    xml = xml.replace(&format!("{{{k}}}"), v);
                }
                let f = dir.join(name);
                std::fs::write(&f, xml).unwrap();
                cmd.arg("-sf").arg(f);
            }
        }
        let port = self.port.unwrap_or_else(free_port);
        cmd.args([
            "-t",
            self.transport,
            "-i",
            self.local_ip,
            "-p",
            &port.to_string(),
        ])
        .args(["-m", &self.calls.to_string(), "-r", &self.rate.to_string()])
        .args(["-d", &self.hold_ms.to_string()])
        .args(["-timeout", "30s", "-recv_timeout", "8000", "-nostdin"])
        .args([
            "-trace_stat",
            "-stf",
            dir.join("stat.csv").to_str().unwrap(),
            "-fd",
            "1",
        ]);
        if let Some(s) = &self.service {
            cmd.args(["-s", s]);
        }
        if self.auto_answer {
            cmd.arg("-aa");
        }
        if self.trace_messages {
            cmd.arg("-trace_msg");
        } else if std::env::var_os("SIPWASM_SIPP_TRACE").is_some() {
            // keep SIPp's message and error logs (in the printed directory) for debugging
            eprintln!("sipp trace in {}", dir.display());
            cmd.args(["-trace_msg", "-trace_err"]);
        }
        if let Some(t) = self.target {
            cmd.arg(t.to_string());
        }
        cmd
    }

    fn workdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "sipwasm-sipp-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Run to completion.
    pub fn run(&self) -> SippOutcome {
        let dir = Sipp::workdir();
        let out = self.command(&dir).output().expect("running sipp");
        let (ok, failed) = parse_stat(&dir.join("stat.csv"));
        let messages = read_messages(&dir);
        if std::env::var_os("SIPWASM_SIPP_TRACE").is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        SippOutcome {
            success: out.status.success(),
            successful_calls: ok,
            failed_calls: failed,
            messages,
            output: format!(
                "{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }

    /// Start in the background (servers); killed when dropped.
    pub fn spawn(&self) -> SippProcess {
        let dir = Sipp::workdir();
        let child = self
            .command(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting sipp");
        // until it has bound its port (a fixed pause could be too short on a loaded
        // machine: over TCP the router's connection would be refused)
        match self.port {
            Some(port) => {
                let tcp = self.transport.starts_with('t');
                assert!(
                    wait_until(Duration::from_secs(10), || port_bound(port, tcp)),
                    "sipp did not bind port {port}"
                );
            }
            None => std::thread::sleep(Duration::from_millis(300)),
        }
        SippProcess {
            child: Some(child),
            dir,
        }
    }
}

/// A background SIPp.
pub struct SippProcess {
    child: Option<std::process::Child>,
    dir: PathBuf,
}

impl SippProcess {
    /// Stop it as pressing `q` would (SIGUSR1: no new calls, the ones under way end),
    /// then [`Self::wait`].
    pub fn stop(self, timeout: Duration) -> SippOutcome {
        if let Some(child) = &self.child {
            // SIGUSR1, to the pid of the SIPp this test started (not yet reaped)
            let _ = Command::new("kill")
                .args(["-USR1", &child.id().to_string()])
                .status();
        }
        self.wait(timeout)
    }

    /// Wait (bounded) for it to finish its calls; its counters.
    pub fn wait(mut self, timeout: Duration) -> SippOutcome {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Ok(Some(s)) = child.try_wait() {
                break Some(s);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let (ok, failed) = parse_stat(&self.dir.join("stat.csv"));
        SippOutcome {
            success: status.is_some_and(|s| s.success()),
            successful_calls: ok,
            failed_calls: failed,
            output: String::new(),
            messages: read_messages(&self.dir),
        }
    }
}

impl Drop for SippProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Held while a test runs several SIPp processes or pushes a large transfer.
pub struct SippLock {
    _sipp: std::sync::MutexGuard<'static, ()>,
    // dropped after `_sipp`: whoever holds the SIPp lock holds a share of the machine
    _machine: MachineShare,
}

/// Hold while a test runs several SIPp processes or pushes a large transfer, so
/// timing-sensitive tests do not compete for the two cores. Takes a share of the
/// machine first: a test that has it alone (and then takes this lock) never waits on a
/// test that holds this lock while waiting for a share.
pub fn sipp_lock() -> SippLock {
    let machine = machine_share();
    SippLock {
        _sipp: SIPP_LOCK.lock().unwrap_or_else(|e| e.into_inner()),
        _machine: machine,
    }
}

pub fn assert_calls(what: &str, out: &SippOutcome, calls: u32) {
    assert!(
        out.success && out.successful_calls == u64::from(calls) && out.failed_calls == 0,
        "{what}: expected {calls} successful calls, got {} ok / {} failed\n{}",
        out.successful_calls,
        out.failed_calls,
        out.output
    );
}

// ---------------------------------------------------------------- a scriptable UAS

/// A callee on UDP that tests drive message by message.
pub struct FakeUas {
    pub sock: UdpSocket,
    pub addr: SocketAddr,
}

impl FakeUas {
    pub fn new() -> FakeUas {
        FakeUas::bind("127.0.0.1:0")
    }

    /// A UAS on `addr` (another loopback address: a host apart from the router's).
    pub fn bind(addr: &str) -> FakeUas {
        let sock = UdpSocket::bind(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        FakeUas { sock, addr }
    }

    /// `sip:user@127.0.0.1:port`
    pub fn uri(&self, user: &str) -> String {
        format!("sip:{user}@{}", self.addr)
    }

    /// The next request within `timeout`, with where it came from.
    pub fn recv_request(&self, timeout: Duration) -> Option<(SipMessage, SocketAddr)> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 65536];
        while Instant::now() < deadline {
            if let Ok((n, from)) = self.sock.recv_from(&mut buf) {
                let m = SipMessage::parse_slice(&buf[..n]).expect("proxy output parses");
                if m.is_request() {
                    return Some((m, from));
                }
            }
        }
        None
    }

    /// Every request received within `dur`.
    pub fn collect(&self, dur: Duration) -> Vec<SipMessage> {
        let deadline = Instant::now() + dur;
        let mut out = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.recv_request(left) {
                Some((m, _)) => out.push(m),
                None => break,
            }
        }
        out
    }

    /// Answer `req` (received from `from`) with `code`.
    pub fn respond(
        &self,
        req: &SipMessage,
        from: SocketAddr,
        code: u16,
        reason: &str,
        to_tag: &str,
    ) {
        let contact = format!("Contact: <sip:uas@{}>\r\n", self.addr);
        let extra: Vec<&[u8]> = if (180..300).contains(&code) {
            vec![contact.as_bytes()]
        } else {
            Vec::new()
        };
        let data = sipwasm_proto::reply::ReplyBuilder {
            code,
            reason,
            to_tag: Some(to_tag),
            src: from,
            extra_headers: &extra,
            server: None,
            body: None,
            force_rport: false,
        }
        .build(&sipwasm_proto::reply::ReplyInfo::from_request(req));
        if std::env::var_os("SIPWASM_UAS_TRACE").is_some() {
            eprintln!(
                "UAS got:\n{}\nUAS sends:\n{}",
                String::from_utf8_lossy(req.as_bytes()),
                String::from_utf8_lossy(&data)
            );
        }
        self.sock.send_to(&data, from).unwrap();
    }
}

/// Read SIP messages on `sock` for up to `wait`; the first one `pred` accepts.
pub fn recv_matching(
    sock: &UdpSocket,
    wait: Duration,
    pred: impl Fn(&SipMessage) -> bool,
) -> Option<SipMessage> {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 65536];
    while Instant::now() < deadline {
        if let Ok((n, _)) = sock.recv_from(&mut buf)
            && let Ok(m) = SipMessage::parse_slice(&buf[..n])
            && pred(&m)
        {
            return Some(m);
        }
    }
    None
}

/// True when something on this machine has bound UDP `port` (with `tcp`: listens on TCP
/// `port`). Read from /proc: probing by binding the port could take it from its owner.
pub fn port_bound(port: u16, tcp: bool) -> bool {
    let tables: &[&str] = if tcp {
        &["/proc/net/tcp", "/proc/net/tcp6"]
    } else {
        &["/proc/net/udp", "/proc/net/udp6"]
    };
    let want = format!(":{port:04X}");
    tables.iter().any(|t| {
        std::fs::read_to_string(t).is_ok_and(|text| {
            text.lines().skip(1).any(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                // local_address is field 1; a TCP socket listens in state 0A
                fields.get(1).is_some_and(|local| local.ends_with(&want))
                    && (!tcp || fields.get(3) == Some(&"0A"))
            })
        })
    })
}

/// Poll `f` every 20 ms until it holds or `timeout` passes; its last answer.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}
