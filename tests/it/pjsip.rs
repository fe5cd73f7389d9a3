//! Real SIP phones for the tests: PJSIP user agents (pjsua2, `tests/pjsip/phone.py`), one
//! process each, driven by JSON lines. The Python environment with pjsua2 is made by
//! `scripts/ensure-tools` (pinned version), or here on first use.

use crate::harness::root;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The Python interpreter of the pjsua2 environment, made once per test run if missing.
pub fn pjsip_python() -> PathBuf {
    static READY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    READY
        .get_or_init(|| {
            let python = root().join("target/pjsip-venv/bin/python");
            if !python.exists() {
                let status = Command::new(root().join("scripts/ensure-tools"))
                    .status()
                    .expect("running scripts/ensure-tools");
                assert!(status.success(), "scripts/ensure-tools failed");
            }
            assert!(python.exists(), "{} was not made", python.display());
            python
        })
        .clone()
}

/// How a phone is set up.
#[derive(Clone, Debug)]
pub struct PhoneOpts {
    pub user: String,
    pub password: String,
    pub domain: String,
    /// The router as outbound proxy (`sip:IP:PORT;transport=T;lr`).
    pub proxy: String,
    pub transport: &'static str,
    /// A CA to verify the router's TLS certificate with.
    pub ca: Option<PathBuf>,
    /// A client certificate and its key (PEM files), presented over TLS.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// Address the phone claims in Via and Contact (a phone behind NAT).
    pub public_addr: Option<String>,
    /// Learn the public address from the registrar's Via and re-register (PJSIP's own
    /// NAT handling, on by default in PJSIP; off here unless asked, so that the router's
    /// handling is what the tests see).
    pub contact_rewrite: bool,
    /// No RFC 5626 (`;ob`, reg-id, instance).
    pub no_outbound: bool,
    /// Registration expiry asked for, seconds.
    pub expires: u32,
    /// The phone's own SIP port (0: any).
    pub port: u16,
    /// Local address of its SIP and media sockets.
    pub bind: String,
    /// A network namespace to run it in (`ip netns exec`).
    pub netns: Option<String>,
}

impl PhoneOpts {
    /// A user of the registrar-proxy example, the router at `router` over `transport`.
    pub fn example(user: &str, router: std::net::SocketAddr, transport: &'static str) -> Self {
        PhoneOpts {
            user: user.into(),
            password: format!("{user}-secret"),
            domain: "sipwasm.local".into(),
            proxy: format!("sip:{router};transport={transport};lr"),
            transport,
            ca: None,
            client_cert: None,
            public_addr: None,
            contact_rewrite: false,
            no_outbound: false,
            expires: 300,
            port: 0,
            bind: "127.0.0.1".into(),
            netns: None,
        }
    }
}

/// A running phone.
pub struct Phone {
    pub name: String,
    child: Child,
    stdin: ChildStdin,
    events: mpsc::Receiver<Value>,
    /// Every event received so far, for failure messages.
    seen: Vec<Value>,
    /// Events no `expect` has taken yet: a later `expect` may want one that came early.
    pending: std::collections::VecDeque<Value>,
    log: PathBuf,
}

impl Phone {
    /// Start a phone; returns once its SIP stack is up.
    pub fn start(opts: &PhoneOpts) -> Phone {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = std::env::temp_dir().join(format!(
            "sipwasm-phone-{}-{n}-{}.log",
            std::process::id(),
            opts.user
        ));
        let mut cmd = match &opts.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(pjsip_python());
                c
            }
            None => Command::new(pjsip_python()),
        };
        cmd.arg(root().join("tests/pjsip/phone.py"))
            .args(["--bind", &opts.bind])
            .args(["--user", &opts.user, "--password", &opts.password])
            .args(["--domain", &opts.domain, "--proxy", &opts.proxy])
            .args(["--transport", opts.transport])
            .args(["--expires", &opts.expires.to_string()])
            .args(["--port", &opts.port.to_string()])
            .arg("--log")
            .arg(&log);
        if let Some((cert, key)) = &opts.client_cert {
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        if let Some(ca) = &opts.ca {
            cmd.arg("--ca").arg(ca);
        }
        if let Some(a) = &opts.public_addr {
            cmd.args(["--public-addr", a]);
        }
        if opts.contact_rewrite {
            cmd.arg("--contact-rewrite");
        }
        if opts.no_outbound {
            cmd.arg("--no-outbound");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the PJSIP phone");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let mut phone = Phone {
            name: opts.user.clone(),
            child,
            stdin,
            events,
            seen: Vec::new(),
            pending: std::collections::VecDeque::new(),
            log,
        };
        phone.expect("ready", Duration::from_secs(20), |e| e["ev"] == "ready");
        phone
    }

    /// Send a command (`{"cmd": ...}`).
    pub fn send(&mut self, cmd: Value) {
        writeln!(self.stdin, "{cmd}").expect("the phone reads commands");
        self.stdin.flush().unwrap();
    }

    /// Wait for an event `pred` accepts (one that came earlier and was not taken counts
    /// too); panic with what the phone did and its SIP log otherwise.
    pub fn expect(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(i) = self.pending.iter().position(&pred) {
            return self.pending.remove(i).expect("found at i");
        }
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.events.recv_timeout(left) {
                Ok(e) => {
                    self.seen.push(e.clone());
                    if e["ev"] == "error" {
                        self.fail(&format!("{what}: the phone refused a command: {e}"));
                    }
                    if pred(&e) {
                        return e;
                    }
                    self.pending.push_back(e);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.fail(&format!("{what}: the phone exited"));
                }
            }
        }
        self.fail(&format!("{what}: not within {timeout:?}"))
    }

    /// Forget the events no `expect` took: later checks see only what comes next.
    pub fn forget(&mut self) {
        self.pending.clear();
    }

    /// True when no event `pred` accepts arrives within `wait` (nor came before).
    pub fn never(&mut self, wait: Duration, pred: impl Fn(&Value) -> bool) -> bool {
        if self.pending.iter().any(&pred) {
            return false;
        }
        let deadline = Instant::now() + wait;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if let Ok(e) = self.events.recv_timeout(left) {
                self.seen.push(e.clone());
                let hit = pred(&e);
                self.pending.push_back(e);
                if hit {
                    return false;
                }
            }
        }
        true
    }

    fn fail(&self, why: &str) -> ! {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(120).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "phone {}: {why}\nevents:\n{}\nPJSIP log (last lines):\n{}",
            self.name,
            self.seen
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
            tail.join("\n")
        )
    }

    /// Register and wait for the answer; returns its status.
    pub fn register(&mut self) -> u64 {
        self.send(json!({"cmd": "register"}));
        let e = self.expect("registration", Duration::from_secs(10), |e| {
            e["ev"] == "reg" && e["code"].as_u64().is_some_and(|c| c >= 200)
        });
        e["code"].as_u64().unwrap()
    }

    /// Unregister and wait for the answer; returns its status.
    pub fn unregister(&mut self) -> u64 {
        self.send(json!({"cmd": "unregister"}));
        let e = self.expect("unregistration", Duration::from_secs(10), |e| {
            e["ev"] == "reg" && e["code"].as_u64().is_some_and(|c| c >= 200)
        });
        e["code"].as_u64().unwrap()
    }

    /// Call `to`; returns the call id.
    pub fn call(&mut self, to: &str) -> u64 {
        self.send(json!({"cmd": "call", "to": to}));
        let e = self.expect("the call to start", Duration::from_secs(5), |e| {
            e["ev"] == "calling"
        });
        e["call"].as_u64().unwrap()
    }

    /// Wait for an incoming call; returns its id.
    pub fn incoming(&mut self) -> u64 {
        let e = self.expect("an incoming call", Duration::from_secs(10), |e| {
            e["ev"] == "incoming"
        });
        e["call"].as_u64().unwrap()
    }

    /// Wait until call `call` reaches `state` (PJSIP's: EARLY, CONFIRMED, DISCONNECTED
    /// ...); returns the event (with the last status `code`).
    pub fn call_state(&mut self, call: u64, state: &str) -> Value {
        self.expect(
            &format!("call {call} {state}"),
            Duration::from_secs(15),
            |e| e["ev"] == "call" && e["call"] == call && e["state"] == state,
        )
    }

    /// Wait for call `call`'s media to be active.
    pub fn media_active(&mut self, call: u64) {
        self.expect(
            &format!("media of call {call}"),
            Duration::from_secs(10),
            |e| e["ev"] == "media" && e["call"] == call && e["active"].as_u64() > Some(0),
        );
    }

    /// A request of `method` arriving in call `call`.
    pub fn request_in(&mut self, call: u64, method: &str) {
        self.expect(
            &format!("{method} in call {call}"),
            Duration::from_secs(10),
            |e| e["ev"] == "request_in" && e["call"] == call && e["method"] == method,
        );
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "{}", json!({"cmd": "quit"}));
        let _ = self.stdin.flush();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                // SIPWASM_KEEP_PHONE_LOGS=1 keeps every phone's PJSIP log (to debug a test)
                if std::env::var_os("SIPWASM_KEEP_PHONE_LOGS").is_none() {
                    let _ = std::fs::remove_file(&self.log);
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
