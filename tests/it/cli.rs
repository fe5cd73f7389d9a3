//! The `sipwasm` binary: `check`, and `run` with its config, `--listen` and log options.

use crate::harness::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The `sipwasm` binary of the profile these tests were built with, brought up to date
/// once per test run (`cargo test` builds the library these tests link, not the binary).
pub(crate) fn sipwasm_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().unwrap();
            let profile_dir = exe.parent().and_then(|d| d.parent()).unwrap().to_path_buf();
            // target/<dir>: `debug` is the `dev` profile, every other directory its own
            let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
                Some("debug") | None => "dev",
                Some(name) => name,
            };
            let mut cmd = Command::new(env!("CARGO"));
            cmd.current_dir(root()).args([
                "build",
                "-p",
                "sipwasm",
                "--bin",
                "sipwasm",
                "--profile",
                profile,
            ]);
            assert!(
                cmd.status().unwrap().success(),
                "building the sipwasm binary"
            );
            profile_dir.join("sipwasm")
        })
        .clone()
}

#[test]
fn check_lists_exports_and_imports() {
    let _machine = machine_share();
    for name in ["tutorial_501", "options_pong", "headers_demo", "probe"] {
        let out = Command::new(sipwasm_bin())
            .arg("check")
            .arg(plugin(name))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("is a sipwasm:router@0.1.0 plugin"),
            "{stdout}"
        );
        assert!(
            stdout.contains("sipwasm:router/routes@0.1.0 (verdict, route-error, request-route, reply-route, named-route)"),
            "{stdout}"
        );
        assert!(stdout.contains("sipwasm:router/sl@0.1.0"), "{stdout}");
        assert!(stdout.contains("sha256: "), "{stdout}");
    }
}

#[test]
fn check_rejects_what_is_not_a_plugin() {
    let _machine = machine_share();
    let dir = std::env::temp_dir().join(format!("sipwasm-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = dir.join("not-wasm.wasm");
    std::fs::write(&text, "hello").unwrap();
    // a core module (not a component)
    let core = dir.join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    for f in [&text, &core, &dir.join("missing.wasm")] {
        let out = Command::new(sipwasm_bin())
            .arg("check")
            .arg(f)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{}", f.display());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is not a usable sipwasm plugin"), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `sipwasm passwd USER REALM` prints the HA1 hashes of the password it reads: the ones
/// in config/examples/registrar-proxy.toml for alice.
#[test]
fn passwd_prints_the_ha1_hashes_of_the_example() {
    use std::io::Write;
    let mut child = Command::new(sipwasm_bin())
        .args(["passwd", "alice", "sipwasm.local"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"alice-secret\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    let example =
        std::fs::read_to_string(root().join("config/examples/registrar-proxy.toml")).unwrap();
    assert!(
        example.contains(&format!("\"ha1.alice\" = \"{}\"", printed.trim())),
        "{printed}"
    );
    assert_eq!(printed.trim().len(), 32 + 1 + 64);
}

#[test]
fn run_reports_config_errors_with_file_and_key() {
    let _machine = machine_share();
    let dir = std::env::temp_dir().join(format!("sipwasm-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        (
            "[router]\nlisten = [\"udp:127.0.0.1:5060\"]\nworkerz = 1\n[plugin]\nname = \"x\"\npath = \"x.wasm\"\n",
            "workerz",
        ),
        (
            "[router]\nlisten = [\"bogus\"]\n[plugin]\nname = \"x\"\npath = \"x.wasm\"\n",
            "router.listen[0]",
        ),
        (
            "[router]\nlisten = [\"udp:127.0.0.1:5060\"]\n[plugin]\nname = \"x\"\npath = \"missing.wasm\"\n",
            "missing.wasm",
        ),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let f = dir.join(format!("bad{i}.toml"));
        std::fs::write(&f, text).unwrap();
        let out = Command::new(sipwasm_bin())
            .args(["run", "--config"])
            .arg(&f)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "expected {needle:?} in: {err}");
        if i < 2 {
            assert!(
                err.contains(&format!("bad{i}.toml")),
                "the file is named: {err}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `sipwasm ctl --config CONFIG ARGS`: success, stdout, stderr.
pub(crate) fn ctl(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(sipwasm_bin())
        .args(["ctl", "--config", config.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub(crate) struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    _machine: MachineShare,
}

impl Running {
    pub(crate) fn start(config: &str, extra: &[&str]) -> Running {
        let machine = machine_share();
        let mut child = Command::new(sipwasm_bin())
            .args(["run", "--config", config])
            .args(extra)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            _machine: machine,
        }
    }

    /// Log lines until one contains `needle` (or the timeout).
    pub(crate) fn wait_for(&self, needle: &str, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let hit = l.contains(needle);
                    seen.push(l);
                    if hit {
                        return seen;
                    }
                }
                Err(_) => break,
            }
        }
        panic!(
            "no log line containing {needle:?}; saw:\n{}",
            seen.join("\n")
        );
    }

    /// The log lines written since the last look, after `settle` of quiet.
    pub(crate) fn lines_until_quiet(&self, settle: Duration) -> Vec<String> {
        let mut seen = Vec::new();
        while let Ok(l) = self.lines.recv_timeout(settle) {
            seen.push(l);
        }
        seen
    }

    fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("sipwasm did not stop on SIGTERM");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn run_with_listen_override_and_json_logs() {
    plugin("options_pong");
    let port = free_port();
    let config = root().join("config/examples/options-pong.toml");
    let udp = format!("udp:127.0.0.1:{port}");
    let tcp = format!("tcp:127.0.0.1:{port}");
    let r = Running::start(
        config.to_str().unwrap(),
        &["--listen", &udp, "--listen", &tcp, "--log-format", "json"],
    );
    let lines = r.wait_for("sipwasm listening", Duration::from_secs(60));
    let listening: serde_json::Value =
        serde_json::from_str(lines.last().unwrap()).expect("JSON log line");
    assert!(
        listening["message"]
            .as_str()
            .unwrap()
            .contains(&format!("udp:127.0.0.1:{port}, tcp:127.0.0.1:{port}")),
        "{listening}"
    );
    assert_eq!(listening["default_tenant"], "options-pong");
    assert_eq!(listening["tenants"], 1);
    let target = format!("127.0.0.1:{port}").parse().unwrap();
    assert_eq!(
        UdpClient::new(target)
            .ask("OPTIONS", "cli", "")
            .unwrap()
            .status(),
        Some(200)
    );
    assert_eq!(
        TcpClient::connect(target)
            .ask("OPTIONS", "cli", "")
            .unwrap()
            .status(),
        Some(200)
    );
    let status = r.stop();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
}

#[test]
fn plugin_logs_carry_the_plugin_name() {
    plugin("probe");
    let dir = std::env::temp_dir().join(format!("sipwasm-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let cfg = dir.join("probe.toml");
    std::fs::write(
        &cfg,
        format!(
            "[router]\nlisten = [\"udp:127.0.0.1:{port}\"]\nworkers = 1\n\
             [plugin]\nname = \"probe\"\npath = \"{}\"\n[log]\nlevel = \"debug\"\n",
            plugin("probe").display()
        ),
    )
    .unwrap();
    let r = Running::start(cfg.to_str().unwrap(), &[]);
    r.wait_for("sipwasm listening", Duration::from_secs(60));
    let target = format!("127.0.0.1:{port}").parse().unwrap();
    let c = UdpClient::new(target);
    let reply = c.ask("MESSAGE", "log", "").unwrap();
    assert_eq!(reply.status(), Some(200));
    let call_id = String::from_utf8_lossy(reply.call_id()).into_owned();
    let mut seen = r.wait_for("probe xlog MESSAGE", Duration::from_secs(5));
    seen.extend(r.wait_for("probe stderr line", Duration::from_secs(5)));
    let all = seen.join("\n");
    for needle in [
        "probe debug",
        "probe info from 127.0.0.1",
        "probe warn",
        &format!("probe xlog MESSAGE {call_id}"),
        "probe stdout line",
        "probe stderr line",
    ] {
        let line = seen
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} in\n{all}"));
        assert!(
            line.contains("plugin=\"probe\"") || line.contains("plugin=probe"),
            "{line}"
        );
    }
    // a crash is logged with the plugin name and counted
    let reply = c.ask("OPTIONS", "panic", "").unwrap();
    assert_eq!(reply.status(), Some(500));
    let seen = r.wait_for("event failed", Duration::from_secs(5));
    let failed = seen.last().unwrap();
    assert!(
        failed.contains("plugin=probe") && failed.contains("trap"),
        "{failed}"
    );
    assert!(
        seen.iter()
            .any(|l| l.contains("plugin panicked at ") && l.contains("probe was asked to panic")),
        "{}",
        seen.join("\n")
    );
    r.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn nosip_log_example_logs_non_sip_packets_and_nothing_for_keepalives() {
    plugin("nosip_log");
    let port = free_port();
    let config = root().join("config/examples/nosip-log.toml");
    let udp = format!("udp:127.0.0.1:{port}");
    let r = Running::start(config.to_str().unwrap(), &["--listen", &udp]);
    r.wait_for("sipwasm listening", Duration::from_secs(60));
    let target: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let c = UdpClient::new(target);
    // keep-alives, short junk and an HTTP probe (msg_skip): silence at the default level
    for junk in [
        &b"\r\n\r\n"[..],
        b"\r\n",
        b"short junk",
        b"GET /status HTTP/1.1\r\nHost: scanner.example\r\n\r\n",
    ] {
        c.send(junk);
    }
    std::thread::sleep(Duration::from_millis(300));
    c.send(b"hello from an application, not SIP at all");
    let seen = r.wait_for("non-sip packet received", Duration::from_secs(5));
    let line = seen.last().unwrap();
    assert!(
        line.contains(&format!(
            "content [[hello from an application, not SIP at all]] from [127.0.0.1:{}]",
            c.local().port()
        )),
        "{line}"
    );
    assert!(line.contains("nosip-log"), "{line}");
    let earlier = seen[..seen.len() - 1].join("\n");
    for quiet in [
        "short junk",
        "GET /status",
        "scanner",
        "keepalive",
        "malformed",
    ] {
        assert!(!earlier.contains(quiet), "{quiet:?} logged:\n{earlier}");
    }
    // SIP still gets an answer
    assert_eq!(c.ask("OPTIONS", "x", "").unwrap().status(), Some(501));
    assert!(r.stop().success());
}

/// `sipwasm ctl` against a running router: plugins, reload (good, unknown tenant, broken
/// file), stats; and SIGHUP reloading every tenant.
#[test]
fn ctl_and_sighup_drive_a_running_router() {
    let dir = std::env::temp_dir().join(format!("sipwasm-ctl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let wasm = dir.join("tenant.wasm");
    std::fs::write(&wasm, crate::tenants::swap_variant("0001", true)).unwrap();
    let port = free_port();
    let config = dir.join("router.toml");
    std::fs::write(
        &config,
        format!(
            r#"{sections}
[plugin]
name = "swap"
path = "tenant.wasm"
[[tenant]]
name = "other"
path = "{probe}"
domains = ["other.test"]
"#,
            sections = router_sections(&[&format!("udp:127.0.0.1:{port}")], 1),
            probe = plugin("probe").display(),
        ),
    )
    .unwrap();
    let r = Running::start(config.to_str().unwrap(), &[]);
    r.wait_for("sipwasm listening", Duration::from_secs(60));
    // the control socket is bound just after the listeners serve
    r.wait_for("control socket listening", Duration::from_secs(10));
    let ctl = |args: &[&str]| ctl(&config, args);
    let target = format!("127.0.0.1:{port}").parse().unwrap();
    let client = UdpClient::new(target);
    let version = || {
        client
            .ask("OPTIONS", "v", "")
            .and_then(|m| hdr(&m, "X-Version"))
            .unwrap_or_default()
    };
    assert_eq!(version(), "v0001");

    let (ok, out, err) = ctl(&["plugins"]);
    assert!(ok, "{err}");
    let plugins: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plugins.as_array().unwrap().len(), 2, "{out}");
    assert_eq!(plugins[0]["tenant"], "swap");
    assert_eq!(plugins[0]["version"], 1);
    assert_eq!(plugins[0]["default"], true);
    assert_eq!(plugins[1]["tenant"], "other");
    assert_eq!(plugins[0]["sha256"].as_str().unwrap().len(), 64);

    std::fs::write(&wasm, crate::tenants::swap_variant("0002", true)).unwrap();
    let (ok, out, err) = ctl(&["reload", "swap"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("\"swapped\""), "{out}");
    assert_eq!(version(), "v0002");
    let (ok, out, _) = ctl(&["reload", "swap"]);
    assert!(ok && out.contains("\"unchanged\""), "{out}");

    let (ok, _, err) = ctl(&["reload", "nope"]);
    assert!(!ok && err.contains("no tenant named"), "{err}");

    std::fs::write(&wasm, b"not a component").unwrap();
    let (ok, out, err) = ctl(&["reload", "swap"]);
    assert!(!ok, "{out}");
    assert!(err.contains("old version keeps serving"), "{err}");
    assert_eq!(version(), "v0002");
    let (_, out, _) = ctl(&["plugins"]);
    let plugins: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plugins[0]["version"], 2);
    assert!(plugins[0]["last_error"].is_string(), "{out}");
    assert_eq!(plugins[0]["failed_reloads"], 1);

    // SIGHUP reloads every tenant
    std::fs::write(&wasm, crate::tenants::swap_variant("0003", true)).unwrap();
    let pid = r.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while version() != "v0003" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(version(), "v0003");

    let (ok, out, err) = ctl(&["stats"]);
    assert!(ok, "{err}");
    let stats: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(stats["router"]["received"].as_u64().unwrap() >= 5, "{out}");
    assert!(
        stats["tenants"]["swap"]["events"].as_u64().unwrap() >= 5,
        "{out}"
    );
    assert_eq!(stats["tenants"]["other"]["events"], 0);

    assert!(r.stop().success());
    assert!(
        !dir.join("ctl.sock").exists(),
        "the socket is removed on exit"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The kamcmd-style methods of `sipwasm ctl call` against the running example: core,
/// tenants, registrations (show, dump, remove: the phone is gone at once), htables,
/// transactions, DNS cache, log level; the changing ones refused without the
/// `[control] token`, and the socket file has the configured mode.
#[test]
fn ctl_call_reads_and_changes_a_running_router_with_a_token() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("sipwasm-ctl-call-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let config = dir.join("router.toml");
    std::fs::write(
        &config,
        format!(
            r#"{sections}mode = "0660"
token = "s3cret"
[plugin]
name = "registrar-proxy"
path = "{plugin}"
[plugin.config]
realm = "sipwasm.local"
"user.alice" = "alice-secret"
[[htable]]
name = "calls"
"#,
            sections = router_sections(&[&format!("udp:127.0.0.1:{port}")], 1),
            plugin = plugin("registrar_proxy").display(),
        )
        .replace("[router]\n", "[router]\naliases = [\"sipwasm.local\"]\n"),
    )
    .unwrap();
    let r = Running::start(config.to_str().unwrap(), &[]);
    r.wait_for("control socket listening", Duration::from_secs(60));
    let socket = dir.join("ctl.sock");
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660, "[control] mode");
    let call = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["call"];
        all.extend_from_slice(args);
        let (ok, out, err) = ctl(&config, &all);
        assert!(ok, "ctl call {args:?}: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    // without the config (so without its token), over the socket itself
    let bare = |args: &[&str]| {
        Command::new(sipwasm_bin())
            .args(["ctl", "--socket", socket.to_str().unwrap(), "call"])
            .args(args)
            .env_remove("SIPWASM_CTL_TOKEN")
            .output()
            .unwrap()
    };
    let router: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut alice = crate::internet_facing::Client::new("127.0.0.1", router, "alice");
    assert_eq!(alice.challenge(Duration::from_secs(5)), Some(401));
    assert_eq!(
        alice.sign_in("alice-secret", Duration::from_secs(5)),
        Some(200)
    );

    assert_eq!(
        call(&["core.version"])["version"],
        env!("CARGO_PKG_VERSION")
    );
    assert!(call(&["core.uptime"])["uptime_s"].as_u64().is_some());
    let tenants = call(&["tenant.list"]);
    assert_eq!(tenants[0]["tenant"], "registrar-proxy", "{tenants}");
    assert_eq!(tenants[0]["default"], true);
    let stats = call(&["tenant.stats", "registrar-proxy"]);
    assert!(
        stats["registrar-proxy"]["counters"]["events"]
            .as_u64()
            .unwrap()
            >= 2,
        "{stats}"
    );

    let dump = call(&["ul.dump"]);
    assert_eq!(dump[0]["aor"], "alice@sipwasm.local", "{dump}");
    let show = call(&["ul.show", "alice@sipwasm.local"]);
    assert!(
        show["bindings"][0]["contact"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1"),
        "{show}"
    );
    assert!(show["bindings"][0]["expires_in"].as_u64().unwrap() > 0);
    let (ok, _, err) = ctl(&config, &["call", "ul.show", "bob@sipwasm.local"]);
    assert!(!ok && err.contains("not registered"), "{err}");

    // changing methods: refused without the token, done with it
    let refused = bare(&["htable.seti", "calls", "n", "41"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("needs the [control] token"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(
        bare(&["htable.get", "calls", "n"]).status.success(),
        "reads need none"
    );
    let with_token = Command::new(sipwasm_bin())
        .args([
            "ctl",
            "--socket",
            socket.to_str().unwrap(),
            "--token",
            "s3cret",
        ])
        .args(["call", "htable.seti", "calls", "n", "41"])
        .output()
        .unwrap();
    assert!(
        with_token.status.success(),
        "{}",
        String::from_utf8_lossy(&with_token.stderr)
    );
    assert_eq!(call(&["htable.get", "calls", "n"]), 41);
    // named parameters
    assert_eq!(
        call(&["htable.set", "table=calls", "key=s", "value=x"])["set"],
        "s"
    );
    assert_eq!(
        call(&["htable.dump", "calls"]),
        serde_json::json!({"n": 41, "s": "x"})
    );
    assert_eq!(call(&["htable.delete", "calls", "s"])["deleted"], true);
    assert_eq!(call(&["htable.flush", "calls"])["removed"], 1);
    assert_eq!(call(&["htable.get", "calls", "n"]), serde_json::Value::Null);

    assert!(call(&["tm.list"]).is_array());
    assert!(call(&["dns.cache"]).is_array());
    assert_eq!(call(&["log.level"])["filter"], "info");
    assert!(
        !bare(&["log.level", "debug"]).status.success(),
        "setting needs the token"
    );
    assert_eq!(
        call(&["log.level", "sipwasm=debug,info"])["filter"],
        "sipwasm=debug,info"
    );
    r.wait_for("log level changed", Duration::from_secs(5));

    // removing alice: her registration is gone at once
    assert_eq!(call(&["ul.rm", "alice@sipwasm.local"])["removed"], 1);
    assert_eq!(call(&["ul.dump"]), serde_json::json!([]));
    let (ok, _, err) = ctl(&config, &["call", "no.such"]);
    assert!(!ok && err.contains("no method"), "{err}");
    assert!(r.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_runs_cases_and_fails_on_a_difference() {
    let _machine = machine_share();
    let cases = root().join("example-plugins/cases/tutorial-501.toml");
    let config = root().join("config/examples/tutorial-501.toml");
    let run = |plugin_name: &str| {
        Command::new(sipwasm_bin())
            .arg("test")
            .arg(plugin(plugin_name))
            .arg(&cases)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap()
    };
    let out = run("tutorial_501");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("3 cases: 3 passed, 0 failed"), "{stdout}");
    // another plugin under the same cases: the differences, and exit status 1
    let out = run("options_pong");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL 1 an INVITE gets 480"), "{stdout}");
    assert!(
        stdout.contains("reply: expected \"480 Temporarily Unavailable\""),
        "{stdout}"
    );
    // without a plugin or configuration: an error, not a pass
    let out = Command::new(sipwasm_bin())
        .arg("test")
        .arg(&cases)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("give a plugin, or --config"));
}
