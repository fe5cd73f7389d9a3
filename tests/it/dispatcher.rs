//! The dispatcher with real peers: the `edge-proxy` example (config/examples/edge-proxy.toml)
//! in front of two SIPp gateways that answer OPTIONS probes (`-aa`), SIPp callers through
//! it. Calls are spread round-robin; a gateway killed is taken out by the failure route
//! (its calls fail over after the 2 s final-response timer) and by the probes, and comes
//! back once it answers them again.

use crate::harness::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The edge-proxy example with its two gateways on `gateways` and probes every second.
/// Pike at the example's 30 requests in 2 s would take SIPp's 20 calls a second (60
/// requests) for a flood: these tests raise it (`tests/it/edge.rs` floods the default).
pub(crate) fn edge_proxy(gateways: [u16; 2]) -> TestRouter {
    edge_proxy_with(gateways, |cfg| cfg.pike.density = 100_000)
}

/// [`edge_proxy`], with what `adjust` changes in its config.
pub(crate) fn edge_proxy_with(
    gateways: [u16; 2],
    adjust: impl FnOnce(&mut sipwasm::config::Config),
) -> TestRouter {
    plugin("edge_proxy");
    let config = root().join("config/examples/edge-proxy.toml");
    TestRouter::from_config_file(&config, &["udp:127.0.0.1:0", "tcp:127.0.0.1:0"], |cfg| {
        let ds = &mut cfg.dispatcher;
        assert_eq!(ds.sets.len(), 1, "the example has one set");
        let example: Vec<&str> = ds.sets[0]
            .destinations
            .iter()
            .map(|d| d.uri.as_str())
            .collect();
        assert_eq!(example, ["sip:127.0.0.1:5081", "sip:127.0.0.1:5082"]);
        for (d, port) in ds.sets[0].destinations.iter_mut().zip(gateways) {
            d.uri = format!("sip:127.0.0.1:{port}");
        }
        ds.probing.interval = Duration::from_secs(1);
        // two probes unanswered within 1.5 s take a gateway out: one slow answer of a
        // SIPp gateway on a loaded machine does not
        ds.probing.timeout = Duration::from_millis(1500);
        ds.probing.threshold = 2;
        adjust(cfg);
    })
}

/// A gateway: answers calls (record-routed) and every OPTIONS probe, until stopped.
pub(crate) fn gateway(port: u16) -> SippProcess {
    let mut s = Sipp::server(Scenario::File("uas_rr.xml", vec![]), port);
    // (SIPp counts each probe it answers as a call of its own: no -m limit)
    s.calls = 100_000;
    s.auto_answer = true;
    s.spawn()
}

/// The calls a gateway answered, once stopped.
pub(crate) fn served(gateway: SippProcess) -> u64 {
    // its statistics are written every second (-fd 1): the last calls are in the file
    // after the next write, whatever it writes when stopped
    std::thread::sleep(Duration::from_millis(1500));
    gateway.stop(Duration::from_secs(10)).successful_calls
}

/// `calls` calls through the edge at 20 a second: (successful, failed).
fn calls(r: &TestRouter, calls: u32) -> (u64, u64, String) {
    calls_at(r, calls, 20)
}

/// `calls` calls through the edge at `rate` a second: (successful, failed).
pub(crate) fn calls_at(r: &TestRouter, calls: u32, rate: u32) -> (u64, u64, String) {
    let mut uac = Sipp::client(Scenario::File("uac_rr.xml", vec![]), r.udp);
    uac.calls = calls;
    uac.rate = rate;
    let out = uac.run();
    (out.successful_calls, out.failed_calls, out.output)
}

/// The state (`AP`, `IP` ...) of each gateway, as `ctl dispatcher.list` shows it.
fn states(socket: &std::path::Path) -> Vec<String> {
    let list = sipwasm::control::call(socket, "dispatcher.list", Value::Null, None).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|d| d["state"].as_str().unwrap().to_string())
        .collect()
}

fn until_states(socket: &std::path::Path, want: [&str; 2]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = states(socket);
        if now == want || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn calls_are_spread_over_the_gateways_and_fail_over_while_one_is_down() {
    let _load = sipp_lock();
    let ports = [free_port(), free_port()];
    let r = edge_proxy(ports);
    let dir = std::env::temp_dir().join(format!("sipwasm-ds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("ctl.sock");
    let _control = r.in_runtime(|| {
        sipwasm::control::serve(&socket, r.server().router().clone(), Default::default()).unwrap()
    });

    // both up: round-robin gives each gateway exactly half
    let (a, b) = (gateway(ports[0]), gateway(ports[1]));
    assert_eq!(until_states(&socket, ["AP", "AP"]), ["AP", "AP"]);
    let (ok, failed, out) = calls(&r, 20);
    assert_eq!((ok, failed), (20, 0), "{out}");
    assert_eq!((served(a), served(b)), (10, 10), "each gateway's share");

    // both up again (their stop took them out meanwhile), then the second is killed: its
    // calls go to the first after 2 s of silence, the failure route and the probes take
    // it out, and no call is lost
    let (a, b) = (gateway(ports[0]), gateway(ports[1]));
    assert_eq!(until_states(&socket, ["AP", "AP"]), ["AP", "AP"]);
    drop(b);
    let (ok, failed, out) = calls(&r, 10);
    assert_eq!((ok, failed), (10, 0), "{out}");
    assert_eq!(until_states(&socket, ["AP", "IP"]), ["AP", "IP"]);
    // while it is out, every call goes straight to the first: no 2 s wait
    let started = Instant::now();
    let (ok, failed, out) = calls(&r, 10);
    assert_eq!((ok, failed), (10, 0), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    // it is back: it answers the probes within a few seconds and takes its share again
    let b = gateway(ports[1]);
    assert_eq!(until_states(&socket, ["AP", "AP"]), ["AP", "AP"]);
    let (ok, failed, out) = calls(&r, 10);
    assert_eq!((ok, failed), (10, 0), "{out}");
    assert_eq!(served(b), 5, "the second gateway's share once back");
    drop(a);

    // the operator takes a gateway out by hand and puts it back
    let set = |state: &str, port: u16| {
        sipwasm::control::call(
            &socket,
            "dispatcher.set_state",
            json!([state, 1, format!("sip:127.0.0.1:{port}")]),
            None,
        )
    };
    set("d", ports[0]).unwrap();
    assert_eq!(states(&socket)[0], "DP");
    assert!(set("x", ports[0]).is_err());
    set("a", ports[0]).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// No gateway answers: the caller gets the 503 of the example once both are out, at
/// once (no timer to wait for).
#[test]
fn with_every_gateway_down_callers_get_503_at_once() {
    let ports = [free_port(), free_port()];
    let r = edge_proxy(ports);
    // the probes take both out
    let deadline = Instant::now() + Duration::from_secs(10);
    while r
        .server()
        .router()
        .local()
        .dispatcher
        .dispatcher()
        .list()
        .iter()
        .any(|d| !d.state.starts_with('I'))
    {
        assert!(Instant::now() < deadline, "both gateways taken out");
        std::thread::sleep(Duration::from_millis(100));
    }
    let c = UdpClient::new(r.udp);
    let started = Instant::now();
    let reply = c.ask("INVITE", "bob", "").expect("an answer");
    assert_eq!(reply.status(), Some(503));
    assert!(started.elapsed() < Duration::from_secs(1));
}
