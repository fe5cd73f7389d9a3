//! Hostile tenants beside a good one (issue 25): one router, 2 workers, a good default
//! tenant (options-pong) and hostile tenants by domain (an endless loop under a 20 ms
//! deadline, a memory bomb under a 16 MiB cap, a trap on a header). The good tenant gets
//! 500 OPTIONS a second, open loop, while a second client floods the hostile domains; every
//! good request must be answered, with a p99 under attack of at most twice the baseline
//! plus a millisecond.

use crate::harness::*;
use sipwasm_proto::SipMessage;
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The good tenant's rate, requests a second.
const GOOD_RATE: u32 = 500;
/// The flood over every hostile domain together, requests a second.
const FLOOD_RATE: u32 = 300;

/// The issue's three kinds, and a fourth for the 20-tenant variant: the probe busy for
/// 15 ms of its 20 ms deadline on every request, which never fails.
const HOSTILE: [&str; 4] = ["spin_forever", "eat_memory", "trap_on_header", "probe"];

/// The router of these tests on `listen`: 2 workers, the good tenant (options-pong) as
/// the default one, and `tenants` (TOML) beside it.
fn config_on(listen: &[&str], tenants: &str) -> String {
    format!(
        "{}\n[plugin]\nname = \"good\"\npath = {:?}\n{tenants}",
        router_sections(listen, 2),
        plugin("options_pong").display().to_string(),
    )
}

fn config_with(tenants: &str) -> String {
    config_on(&["udp:127.0.0.1:0", "tcp:127.0.0.1:0"], tenants)
}

/// The kind of hostile tenant `i` of `n`: the issue's three for 3, all four beyond.
fn kind(i: usize, n: usize) -> &'static str {
    HOSTILE[i % n.min(HOSTILE.len())]
}

/// `n` hostile tenants (`h0.test` ...), cycling through the kinds.
fn config(hostile: usize) -> String {
    let mut tenants = String::new();
    for i in 0..hostile {
        let kind = kind(i, hostile);
        tenants.push_str(&format!(
            r#"
[[tenant]]
name = "h{i}-{kind}"
path = "{path}"
domains = ["h{i}.test"]
deadline_ms = 20
memory_mb = 16
fallback = {{ code = 503, reason = "Hostile Unavailable" }}
"#,
            path = plugin(kind).display(),
        ));
    }
    config_with(&tenants)
}

fn options(n: u64, domain: &str, local: SocketAddr, extra: &str) -> String {
    format!(
        "OPTIONS sip:ping@{domain} SIP/2.0\r\n\
Via: SIP/2.0/UDP {local};branch=z9hG4bK-nb-{n};rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:tester@{local}>;tag=f{n}\r\n\
To: <sip:ping@{domain}>\r\n\
Call-ID: nb-{n}@{local}\r\n\
CSeq: 1 OPTIONS\r\n\
{extra}Content-Length: 0\r\n\r\n"
    )
}

/// Number in the Call-ID `nb-N@...` of a reply, and its status.
fn reply_of(buf: &[u8]) -> Option<(u64, u16)> {
    let m = SipMessage::parse(bytes::Bytes::copy_from_slice(buf)).ok()?;
    let status = m.status()?;
    let id = hdr(&m, "Call-ID")?;
    let n = id.strip_prefix("nb-")?.split('@').next()?.parse().ok()?;
    Some((n, status))
}

/// Send `count` requests at `rate` a second (open loop: on schedule, whatever the
/// answers) from one socket; a second thread takes the replies. Returns, per request,
/// its latency and status when answered within a second of the last send.
fn paced(
    target: SocketAddr,
    rate: u32,
    count: u64,
    request: impl Fn(u64, SocketAddr) -> String + Send + 'static,
) -> std::thread::JoinHandle<Vec<Option<(Duration, u16)>>> {
    std::thread::spawn(move || {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.connect(target).unwrap();
        let local = sock.local_addr().unwrap();
        let rx = sock.try_clone().unwrap();
        let sent_at: Arc<Vec<std::sync::OnceLock<Instant>>> =
            Arc::new((0..count).map(|_| std::sync::OnceLock::new()).collect());
        let done = Arc::new(AtomicBool::new(false));
        let receiver = {
            let (sent_at, done) = (sent_at.clone(), done.clone());
            std::thread::spawn(move || {
                rx.set_read_timeout(Some(Duration::from_millis(50)))
                    .unwrap();
                let mut got: HashMap<u64, (Duration, u16)> = HashMap::new();
                let mut buf = [0u8; 4096];
                loop {
                    match rx.recv(&mut buf) {
                        Ok(n) => {
                            let now = Instant::now();
                            if let Some((i, status)) = reply_of(&buf[..n])
                                && status >= 200
                                && let Some(t0) = sent_at.get(i as usize).and_then(|t| t.get())
                            {
                                got.entry(i).or_insert((now - *t0, status));
                            }
                        }
                        Err(_) if done.load(Ordering::Relaxed) => break,
                        Err(_) => {}
                    }
                }
                got
            })
        };
        let period = Duration::from_secs(1) / rate;
        let start = Instant::now();
        for i in 0..count {
            let due = start + period * i as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let req = request(i, local);
            let _ = sent_at[i as usize].set(Instant::now());
            let _ = sock.send(req.as_bytes());
        }
        std::thread::sleep(Duration::from_secs(1));
        done.store(true, Ordering::Relaxed);
        let got = receiver.join().unwrap();
        (0..count).map(|i| got.get(&i).copied()).collect()
    })
}

struct Run {
    good: Vec<Option<(Duration, u16)>>,
    flood: Vec<Option<(Duration, u16)>>,
    ctl: serde_json::Value,
}

impl Run {
    fn latencies(&self) -> Vec<Duration> {
        let mut v: Vec<Duration> = self.good.iter().flatten().map(|(d, _)| *d).collect();
        v.sort();
        v
    }

    fn percentile(&self, p: usize) -> Duration {
        let v = self.latencies();
        v[(v.len() * p / 100).min(v.len() - 1)]
    }

    fn unanswered(&self) -> usize {
        self.good
            .iter()
            .filter(|r| !matches!(r, Some((_, 200))))
            .count()
    }
}

/// `seconds` of the good tenant's load, with the flood over `hostile` tenants when
/// `attack`.
fn run(hostile: usize, attack: bool, seconds: u64) -> Run {
    let (router, dir) = TestRouter::from_config(&config(hostile));
    let _control = router.in_runtime(|| {
        sipwasm::control::serve(
            &dir.join("ctl.sock"),
            router.server().router().clone(),
            Default::default(),
        )
        .unwrap()
    });
    let target = router.udp;
    let flood = attack.then(|| {
        paced(
            target,
            FLOOD_RATE,
            u64::from(FLOOD_RATE) * seconds,
            move |n, local| {
                let i = n as usize % hostile;
                let request = |extra| options(n, &format!("h{i}.test"), local, extra);
                match kind(i, hostile) {
                    "trap_on_header" => request("X-Trap: 1\r\n"),
                    "probe" => request("X-Busy-Ms: 15\r\n").replace("sip:ping@", "sip:busy@"),
                    _ => request(""),
                }
            },
        )
    });
    let good = paced(
        target,
        GOOD_RATE,
        u64::from(GOOD_RATE) * seconds,
        move |n, local| options(n, &target.to_string(), local, ""),
    )
    .join()
    .unwrap();
    let flood = flood.map(|f| f.join().unwrap()).unwrap_or_default();
    let ctl = sipwasm::control::call(
        &dir.join("ctl.sock"),
        "plugins",
        serde_json::Value::Null,
        None,
    )
    .expect("ctl plugins");
    Run { good, flood, ctl }
}

fn hostile_neighbours(hostile: usize) {
    let _alone = machine_alone();
    let mut base = run(hostile, false, 4);
    assert_eq!(base.unanswered(), 0, "baseline: good requests unanswered");
    let mut under = run(hostile, true, 8);
    let mut bound = 2 * base.percentile(99) + Duration::from_millis(1);
    if under.percentile(99) > bound {
        // one burst of the machine's own noise can spoil a p99 of runs apart: measure the
        // baseline again and attack again once, which fails only if the flood really hurts
        eprintln!(
            "{hostile} hostile tenants: p99 {:?} over {bound:?}: run again",
            under.percentile(99)
        );
        base = run(hostile, false, 4);
        assert_eq!(base.unanswered(), 0, "baseline: good requests unanswered");
        under = run(hostile, true, 8);
        bound = 2 * base.percentile(99) + Duration::from_millis(1);
    }
    let report = format!(
        "{hostile} hostile tenants: good p50/p99 {:?}/{:?} alone, {:?}/{:?} under attack \
         (bound {bound:?}); flood answered {}/{} ({} with 503, {} with 200)",
        base.percentile(50),
        base.percentile(99),
        under.percentile(50),
        under.percentile(99),
        under.flood.iter().flatten().count(),
        under.flood.len(),
        under
            .flood
            .iter()
            .flatten()
            .filter(|(_, s)| *s == 503)
            .count(),
        under
            .flood
            .iter()
            .flatten()
            .filter(|(_, s)| *s == 200)
            .count(),
    );
    eprintln!("{report}\n{:#}", under.ctl);
    if std::env::var_os("NEIGHBOURS_TRACE").is_some() {
        for (i, r) in under.good.iter().enumerate() {
            if !matches!(r, Some((d, _)) if *d < Duration::from_millis(2)) {
                eprintln!("good #{i} at {} ms: {r:?}", i * 2);
            }
        }
    }
    assert_eq!(under.unanswered(), 0, "good requests unanswered: {report}");
    assert!(under.percentile(99) <= bound, "{report}");
}

#[test]
fn three_hostile_tenants_leave_the_good_one_its_latency() {
    hostile_neighbours(3);
}

#[test]
fn twenty_hostile_tenants_leave_the_good_one_its_latency() {
    hostile_neighbours(20);
}

/// One router with the good tenant and `extra` tenants (TOML).
fn router_with(extra: &str) -> (TestRouter, std::path::PathBuf) {
    TestRouter::from_config(&config_with(extra))
}

fn plugins_json(router: &TestRouter, dir: &std::path::Path) -> serde_json::Value {
    let _control = router.in_runtime(|| {
        sipwasm::control::serve(
            &dir.join("ctl.sock"),
            router.server().router().clone(),
            Default::default(),
        )
        .unwrap()
    });
    sipwasm::control::call(
        &dir.join("ctl.sock"),
        "plugins",
        serde_json::Value::Null,
        None,
    )
    .expect("ctl plugins")
}

fn tenant_json<'a>(plugins: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    plugins
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["tenant"] == name)
        .unwrap_or_else(|| panic!("no tenant {name} in {plugins:#}"))
}

fn status_of(c: &UdpClient, domain: &str, user: &str, extra: &str) -> Option<u16> {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    c.send(
        options(n, domain, c.local(), extra)
            .replace("sip:ping@", &format!("sip:{user}@"))
            .as_bytes(),
    );
    c.final_reply(Duration::from_secs(2))
        .and_then(|m| m.status())
}

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1 << 40);

#[test]
fn a_tenant_over_its_cpu_budget_gets_its_fallback_until_it_refills() {
    // guest time is wall time: other tests' load would stretch the events
    let _alone = machine_alone();
    let (router, dir) = router_with(&format!(
        r#"
[[tenant]]
name = "heavy"
path = "{probe}"
domains = ["heavy.test"]
deadline_ms = 50
cpu_ms_per_s = 100
fallback = {{ code = 503, reason = "Over Budget" }}
"#,
        probe = plugin("probe").display()
    ));
    let c = UdpClient::new(router.udp);
    // 30 ms of guest time an event: the fourth overdraws the 100 ms the budget holds
    let busy = "X-Busy-Ms: 30\r\n";
    let codes: Vec<Option<u16>> = (0..8)
        .map(|_| status_of(&c, "heavy.test", "busy", busy))
        .collect();
    assert_eq!(&codes[..4], &[Some(200); 4], "{codes:?}");
    assert_eq!(&codes[4..], &[Some(503); 4], "{codes:?}");
    // its neighbour is not touched
    assert_eq!(
        status_of(&c, &router.udp.to_string(), "ping", ""),
        Some(200)
    );
    let p = plugins_json(&router, &dir);
    let heavy = tenant_json(&p, "heavy");
    assert_eq!(heavy["standing"]["state"], "over-budget", "{heavy:#}");
    assert_eq!(heavy["standing"]["cpu_ms_per_s"], 100);
    assert_eq!(heavy["counters"]["budget_exhaustions"], 1);
    assert_eq!(heavy["counters"]["budget_refusals"], 4);
    assert_eq!(
        heavy["counters"]["quarantines"], 0,
        "over budget is no failure"
    );
    assert!(heavy["counters"]["cpu_ms"].as_u64().unwrap() >= 120);
    // 100 ms a second: after 400 ms the 20 ms overdrawn are paid back and more
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(status_of(&c, "heavy.test", "busy", busy), Some(200));
}

#[test]
fn a_tenant_at_its_worker_share_queues_then_overflows() {
    let _alone = machine_alone();
    let (router, dir) = router_with(&format!(
        r#"
[[tenant]]
name = "slow"
path = "{probe}"
domains = ["slow.test"]
deadline_ms = 100
cpu_ms_per_s = 1000
worker_share = 1
queue = 2
fallback = {{ code = 503, reason = "Queue Full" }}
"#,
        probe = plugin("probe").display()
    ));
    let c = UdpClient::new(router.udp);
    let good = UdpClient::new(router.udp);
    // both known: the good tenant cheap, the slow one heavy (its events run on the queue
    // workers only)
    assert_eq!(
        status_of(&good, &router.udp.to_string(), "ping", ""),
        Some(200)
    );
    assert_eq!(
        status_of(&c, "slow.test", "busy", "X-Busy-Ms: 40\r\n"),
        Some(200)
    );
    // six at once, 40 ms each: one runs, two wait (three if the first was taken before
    // the last arrived), the rest find the queue full
    // the clock starts before the first send: started in the reader thread, it could start
    // after the router had begun the first event (CI saw a 40 ms event measured as 37 ms)
    let t0 = Instant::now();
    let replies = {
        let sock = c.sock.try_clone().unwrap();
        std::thread::spawn(move || {
            sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut codes = Vec::new();
            let mut buf = [0u8; 4096];
            while codes.len() < 6 {
                let Ok(n) = sock.recv(&mut buf) else { break };
                if let Some((_, status)) = reply_of(&buf[..n])
                    && status >= 200
                {
                    codes.push((status, t0.elapsed()));
                }
            }
            codes
        })
    };
    for _ in 0..6 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let r = options(n, "slow.test", c.local(), "X-Busy-Ms: 40\r\n")
            .replace("sip:ping@", "sip:busy@");
        c.send(r.as_bytes());
    }
    // the good tenant meanwhile answers at once: the slow one holds one worker only
    let g0 = Instant::now();
    assert_eq!(
        status_of(&good, &router.udp.to_string(), "ping", ""),
        Some(200)
    );
    let good_took = g0.elapsed();
    let codes = replies.join().unwrap();
    let ok: Vec<_> = codes.iter().filter(|(s, _)| *s == 200).collect();
    let full: Vec<_> = codes.iter().filter(|(s, _)| *s == 503).collect();
    let p = plugins_json(&router, &dir);
    let slow = tenant_json(&p, "slow");
    assert_eq!(ok.len() + full.len(), 6, "{codes:?} {slow:#}");
    assert!((2..=3).contains(&ok.len()), "{codes:?} {slow:#}");
    // one at a time, 40 ms each
    for (i, (_, t)) in ok.iter().enumerate() {
        assert!(
            *t >= Duration::from_millis(38) * (i as u32 + 1),
            "{codes:?}"
        );
    }
    // the overflow is answered at once: before the first event's 40 ms are over (told
    // against it, not a clock: the reader may be descheduled, not the order of replies)
    let first_ok = ok.iter().map(|(_, t)| *t).min().unwrap();
    assert!(full.iter().all(|(_, t)| *t <= first_ok), "{codes:?}");
    // nor does the good tenant wait behind the slow one's events
    assert!(
        good_took < Duration::from_millis(38),
        "good tenant took {good_took:?}"
    );
    assert_eq!(slow["standing"]["worker_share"], 1, "{slow:#}");
    assert_eq!(slow["standing"]["queue"], 2);
    assert_eq!(slow["counters"]["queue_overflows"], full.len());
    // every event waited for a queue worker, the first (unproven) too
    assert_eq!(slow["counters"]["queued"], 1 + ok.len());
    assert_eq!(tenant_json(&p, "good")["standing"]["worker_share"], 1);
}

#[test]
fn quarantine_is_logged_once_per_change_and_lifted_by_a_swap() {
    let dir = std::env::temp_dir().join(format!("sipwasm-quarantine-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.wasm");
    std::fs::copy(plugin("trap_on_header"), &bad).unwrap();
    let port = free_port();
    let config = dir.join("router.toml");
    std::fs::write(
        &config,
        config_on(
            &[&format!("udp:127.0.0.1:{port}")],
            r#"
[[tenant]]
name = "bad"
path = "bad.wasm"
domains = ["bad.test"]
fallback = { code = 503, reason = "Bad Unavailable" }
"#,
        ),
    )
    .unwrap();
    let r = crate::cli::Running::start(config.to_str().unwrap(), &[]);
    r.wait_for("control socket listening", Duration::from_secs(60));
    let ctl = |args: &[&str]| -> serde_json::Value {
        let (ok, out, err) = crate::cli::ctl(&config, args);
        assert!(ok, "{err}");
        serde_json::from_str(&out).expect("ctl prints JSON")
    };
    let target: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let c = UdpClient::new(target);
    // 50 trapping requests: three failures quarantine it, the rest get the fallback
    // without running the plugin
    let codes: Vec<Option<u16>> = (0..50)
        .map(|_| status_of(&c, "bad.test", "x", "X-Trap: 1\r\n"))
        .collect();
    assert!(codes.iter().all(|s| *s == Some(503)), "{codes:?}");
    let p = ctl(&["plugins"]);
    let bad_t = tenant_json(&p, "bad");
    assert_eq!(bad_t["standing"]["state"], "quarantined", "{bad_t:#}");
    assert_eq!(bad_t["counters"]["traps"], 3);
    assert_eq!(bad_t["counters"]["quarantines"], 1);
    assert_eq!(bad_t["counters"]["quarantine_refusals"], 47);
    let left = bad_t["standing"]["quarantine_left_ms"].as_u64().unwrap();
    assert!((1..=1000).contains(&left), "{left}");
    // on probation after a second; one more failure quarantines it for twice as long
    std::thread::sleep(Duration::from_millis(left + 50));
    assert_eq!(status_of(&c, "bad.test", "x", "X-Trap: 1\r\n"), Some(503));
    let p = ctl(&["plugins"]);
    let bad_t = tenant_json(&p, "bad");
    assert_eq!(bad_t["counters"]["quarantines"], 2, "{bad_t:#}");
    assert!(bad_t["standing"]["quarantine_left_ms"].as_u64().unwrap() > 1500);
    // the good tenant never noticed
    assert_eq!(status_of(&c, &target.to_string(), "ping", ""), Some(200));
    // one line per change, whatever the number of requests
    let lines = r.lines_until_quiet(Duration::from_millis(300));
    let count = |needle: &str| lines.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(count("plugin quarantined"), 2, "{lines:#?}");
    assert_eq!(count("on probation"), 1, "{lines:#?}");
    // a new version lifts the quarantine at once
    std::fs::copy(plugin("options_pong"), &bad).unwrap();
    let swapped = ctl(&["reload", "bad"]);
    assert_eq!(swapped[0]["outcome"], "swapped", "{swapped:#}");
    r.wait_for("quarantine and failures forgotten", Duration::from_secs(5));
    assert_eq!(status_of(&c, "bad.test", "x", "X-Trap: 1\r\n"), Some(200));
    let p = ctl(&["plugins"]);
    assert_eq!(tenant_json(&p, "bad")["standing"]["state"], "healthy");
    let _ = std::fs::remove_dir_all(&dir);
}
