//! Plugin timers (`rtimer`): the timers of a plugin's config section, one-shot timers,
//! a suspended INVITE resumed by a one-shot timer, htable expiry events, and a timer
//! that spins (cut at the deadline while the router keeps serving). The probe plugin
//! reports each event to an "application" socket with `net.send-udp`.

use crate::harness::*;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

/// The application socket the probe's timer events report to.
struct App(UdpSocket);

impl App {
    fn new() -> App {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        App(sock)
    }

    fn addr(&self) -> String {
        self.0.local_addr().unwrap().to_string()
    }

    /// Every datagram for `window`, with when it came.
    fn collect(&self, window: Duration) -> Vec<(Instant, String)> {
        let end = Instant::now() + window;
        let mut buf = [0u8; 2048];
        let mut out = Vec::new();
        while Instant::now() < end {
            if let Ok(n) = self.0.recv(&mut buf) {
                out.push((
                    Instant::now(),
                    String::from_utf8_lossy(&buf[..n]).into_owned(),
                ));
            }
        }
        out
    }

    /// The first datagram starting with `prefix` within `timeout`.
    fn wait_for(&self, prefix: &str, timeout: Duration) -> Option<(Instant, String)> {
        let end = Instant::now() + timeout;
        let mut buf = [0u8; 2048];
        while Instant::now() < end {
            if let Ok(n) = self.0.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                if text.starts_with(prefix) {
                    return Some((Instant::now(), text));
                }
            }
        }
        None
    }
}

/// A router running the probe with `timers` (TOML of `[[plugin.rtimer]]` entries) and
/// two tables: `short` (1 s, expiry events) and `quiet` (1 s, none).
fn probe_router(app: &App, deadline_ms: u64, timers: &str) -> (TestRouter, std::path::PathBuf) {
    let text = format!(
        "{}[plugin]\nname = \"probe\"\npath = {:?}\ndeadline_ms = {deadline_ms}\n\
         udp_allow = [{:?}]\n[plugin.config]\napp = {:?}\n{timers}\n\
         [[htable]]\nname = \"short\"\nautoexpire_secs = 1\nexpired_event = true\n\
         [[htable]]\nname = \"quiet\"\nautoexpire_secs = 1\n",
        router_sections(&["udp:127.0.0.1:0", "tcp:127.0.0.1:0"], 2),
        plugin("probe").display().to_string(),
        app.addr(),
        app.addr(),
    );
    TestRouter::from_config(&text)
}

fn result_of(client: &UdpClient, user: &str, extra: &str) -> String {
    let reply = client.ask("OPTIONS", user, extra).expect("a reply");
    hdr(&reply, "X-Result").unwrap_or_default()
}

#[test]
fn configured_timers_tick_and_one_shots_run_once_with_their_data() {
    let app = App::new();
    let (r, _dir) = probe_router(
        &app,
        1000,
        "[[plugin.rtimer]]\nname = \"tick\"\ninterval_ms = 100\n",
    );
    let client = UdpClient::new(r.udp);

    let seen = app.collect(Duration::from_millis(1500));
    let ticks: Vec<_> = seen
        .iter()
        .filter(|(_, m)| m.starts_with("EVENT timer:tick tick "))
        .collect();
    // 100 ms apart: 15 in the window, give or take a busy machine
    assert!(
        (8..=17).contains(&ticks.len()),
        "{} ticks: {seen:?}",
        ticks.len()
    );
    // a timer event has no sender
    assert!(ticks[0].1.ends_with(" <null>"), "{}", ticks[0].1);

    let asked = Instant::now();
    assert_eq!(
        result_of(
            &client,
            "once",
            "X-Timer-Name: later\r\nX-Delay-Ms: 400\r\nX-Timer-Data: call-7\r\n"
        ),
        "Ok(())"
    );
    let (at, msg) = app
        .wait_for("EVENT timer:later", Duration::from_secs(3))
        .expect("the one-shot ran");
    assert!(msg.starts_with("EVENT timer:later later call-7 "), "{msg}");
    let after = at - asked;
    assert!(
        after >= Duration::from_millis(380) && after < Duration::from_millis(2500),
        "{after:?}"
    );
    let again = app.collect(Duration::from_millis(800));
    assert!(
        !again
            .iter()
            .any(|(_, m)| m.starts_with("EVENT timer:later")),
        "ran twice: {again:?}"
    );
    // ticks went on meanwhile
    assert!(again.iter().any(|(_, m)| m.starts_with("EVENT timer:tick")));

    // refused with a reason, the router answering as before
    assert!(
        result_of(&client, "once", "X-Timer-Name: a:b\r\nX-Delay-Ms: 10\r\n")
            .contains("InvalidName"),
    );
    assert!(
        result_of(
            &client,
            "once",
            "X-Timer-Name: x\r\nX-Delay-Ms: 86400001\r\n"
        )
        .contains("OutOfRange"),
    );
}

#[test]
fn a_one_shot_timer_resumes_a_suspended_invite() {
    let app = App::new();
    let (r, _dir) = probe_router(&app, 1000, "");
    let client = UdpClient::new(r.udp);
    let asked = Instant::now();
    let reply = client
        .ask("INVITE", "later", "X-Delay-Ms: 600\r\n")
        .expect("an answer once resumed");
    let took = asked.elapsed();
    assert_eq!(reply.status(), Some(200));
    assert_eq!(reply.reason(), Some(&b"Resumed"[..]));
    assert_eq!(hdr(&reply, "X-Rm").as_deref(), Some("INVITE"));
    assert!(took >= Duration::from_millis(580), "{took:?}");
}

#[test]
fn expired_entries_of_an_event_table_run_the_expiry_route_once() {
    let app = App::new();
    let (r, _dir) = probe_router(&app, 1000, "");
    let client = UdpClient::new(r.udp);
    assert_eq!(
        result_of(&client, "ht", "X-Ht: set short k1 v1\r\n"),
        "Ok(())"
    );
    assert_eq!(
        result_of(&client, "ht", "X-Ht: setint short k2 42\r\n"),
        "Ok(())"
    );
    assert_eq!(
        result_of(&client, "ht", "X-Ht: set quiet q v\r\n"),
        "Ok(())"
    );
    // both, within 10 s (a 1 s autoexpire swept once a second: about 3 s, more on a loaded
    // machine)
    let mut seen = Vec::new();
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end
        && seen
            .iter()
            .filter(|(_, m): &&(Instant, String)| m.starts_with("EVENT htable:expired:"))
            .count()
            < 2
    {
        seen.extend(app.collect(Duration::from_millis(200)));
    }
    let expired: Vec<&String> = seen
        .iter()
        .map(|(_, m)| m)
        .filter(|m| m.starts_with("EVENT htable:expired:"))
        .collect();
    assert_eq!(expired.len(), 2, "{seen:?}");
    assert!(
        expired
            .iter()
            .any(|m| m.starts_with("EVENT htable:expired:short <null> <null> k1 v1 ")),
        "{expired:?}"
    );
    assert!(
        expired
            .iter()
            .any(|m| m.starts_with("EVENT htable:expired:short <null> <null> k2 42 ")),
        "{expired:?}"
    );
    // once: the sweeps since found nothing more
    let later = app.collect(Duration::from_millis(1500));
    assert!(
        !later
            .iter()
            .any(|(_, m)| m.starts_with("EVENT htable:expired:")),
        "{later:?}"
    );
}

#[test]
fn a_timer_that_spins_is_cut_at_the_deadline_and_the_rest_goes_on() {
    let app = App::new();
    let (r, _dir) = probe_router(
        &app,
        50,
        "[[plugin.rtimer]]\nname = \"spin\"\ninterval_ms = 200\n\
         [[plugin.rtimer]]\nname = \"tick\"\ninterval_ms = 100\n",
    );
    let client = UdpClient::new(r.udp);
    let started = Instant::now();
    let mut answered = 0;
    while started.elapsed() < Duration::from_secs(2) {
        let reply = client.ask("OPTIONS", "named", "").expect("served");
        assert_eq!(reply.status(), Some(200));
        answered += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(answered >= 10, "{answered}");
    let seen = app.collect(Duration::from_millis(1000));
    let ticks = seen
        .iter()
        .filter(|(_, m)| m.starts_with("EVENT timer:tick"))
        .count();
    // each spin costs the timer thread its 50 ms deadline: ticks slow, never stop
    assert!(ticks >= 4, "{ticks} ticks: {seen:?}");
    let kills = r.plugin.stats().timeouts;
    assert!(kills >= 5, "{kills} spins cut");
}
