//! The plugin runtime through the probe plugin: every host interface, and what happens
//! when a plugin crashes, loops, eats memory or fails.

use crate::harness::*;
use bytes::Bytes;
use sipwasm::config::Fallback;
use sipwasm_proto::{SipMessage, Transport};
use sipwasm_routing::{LocalConfig, RouteContext, Source};
use sipwasm_runtime::{
    EngineConfig, EventError, PluginEngine, PluginSettings, PluginWorker, Route, Verdict,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn single_worker() -> RouterOpts {
    RouterOpts {
        workers: 1,
        ..RouterOpts::default()
    }
}

fn count(c: &UdpClient) -> u64 {
    let r = c.ask("OPTIONS", "count", "").expect("count reply");
    hdr(&r, "X-Count").unwrap().parse().unwrap()
}

#[test]
fn pseudo_variables_through_the_plugin() {
    let r = TestRouter::start("probe");
    let c = UdpClient::new(r.udp);
    let names = [
        "$rm",
        "$rU",
        "$si",
        "$sp",
        "$pr",
        "$(ci{s.len})",
        "$(fu{uri.user}{s.toupper})",
        "$ft",
        "$tt",
        "$(hdr(X-Get)[1])",
        "$hdr(X-Extra)",
        "$(hdr(X-Extra){s.select,1,:})",
        "$nosuch",
        "$(ru{s.nope})",
        "$du",
        "$var(never)",
        "$cs",
    ];
    let extra: String = names
        .iter()
        .map(|n| format!("X-Get: {n}\r\n"))
        .collect::<String>()
        + "X-Extra: a:b:c\r\n";
    let reply = c.ask("MESSAGE", "pv", &extra).unwrap();
    assert_eq!(reply.status(), Some(200));
    let v = |i: usize| hdr(&reply, &format!("X-Val-{i}")).unwrap_or_default();
    assert_eq!(v(0), "MESSAGE");
    assert_eq!(v(1), "pv");
    assert_eq!(v(2), "127.0.0.1");
    assert_eq!(v(3), c.local().port().to_string());
    assert_eq!(v(4), "udp");
    assert_eq!(v(5), reply.call_id().len().to_string());
    assert_eq!(v(6), "TESTER");
    assert!(v(7).starts_with("from-"));
    assert_eq!(v(8), "<null>");
    assert_eq!(v(9), "$rU");
    assert_eq!(v(10), "a:b:c");
    assert_eq!(v(11), "b");
    assert!(v(12).contains("UnknownName(\"$nosuch\")"), "{}", v(12));
    assert!(v(13).contains("Syntax("), "{}", v(13));
    assert_eq!(v(14), "<null>");
    assert_eq!(v(15), "<null>");
    assert_eq!(v(16), reply.cseq().number.to_string());
}

#[test]
fn writable_pseudo_variables_and_config() {
    let mut opts = RouterOpts::default();
    opts.config.insert("greeting".into(), "hello".into());
    let r = TestRouter::start_with("probe", opts);
    let c = UdpClient::new(r.udp);
    let reply = c.ask("MESSAGE", "set", "").unwrap();
    assert_eq!(
        hdr(&reply, "X-Ruri"),
        Some(format!("sip:alice@example.net:{}", r.udp.port()))
    );
    assert_eq!(hdr(&reply, "X-Du").as_deref(), Some("sip:127.0.0.1:5999"));
    assert_eq!(hdr(&reply, "X-Var").as_deref(), Some("42"));
    assert!(hdr(&reply, "X-Si-Write").unwrap().contains("ReadOnly"));
    assert!(hdr(&reply, "X-Bad-Ru").unwrap().contains("InvalidValue"));
    assert!(hdr(&reply, "X-Unknown").unwrap().contains("UnknownName"));
    assert_eq!(hdr(&reply, "X-Config").as_deref(), Some("hello"));
}

#[test]
fn header_functions() {
    let r = TestRouter::start("probe");
    let reply = UdpClient::new(r.udp)
        .ask("MESSAGE", "hdrops", "X-Remove-Me: bye\r\n")
        .unwrap();
    let h = |n: &str| hdr(&reply, n).unwrap_or_default();
    assert_eq!(h("X-Append"), "Ok(())");
    assert_eq!(h("X-AppendAfter"), "Ok(())");
    assert!(h("X-AppendAfterMissing").contains("NotFound"));
    assert_eq!(h("X-Insert"), "Ok(())");
    assert_eq!(h("X-InsertBefore"), "Ok(())");
    assert!(h("X-Invalid").contains("InvalidHeader"));
    assert_eq!(h("X-Remove"), "Ok(1)");
    assert_eq!(
        h("X-Present"),
        "true",
        "lumps do not change the received message"
    );
    assert_eq!(h("X-Get"), "Some(\"bye\")");
    assert!(h("X-ReplyHdrInvalid").contains("InvalidHeader"));
}

#[test]
fn flags_methods_and_myself() {
    let r = TestRouter::start("probe");
    let reply = UdpClient::new(r.udp).ask("OPTIONS", "flags", "").unwrap();
    let h = |n: &str| hdr(&reply, n).unwrap_or_default();
    assert_eq!(h("X-Flag5"), "true");
    assert!(h("X-Flag40").contains("FlagOutOfRange"));
    assert_eq!(h("X-Is-Options"), "true");
    assert_eq!(h("X-Method-In"), "true");
    assert_eq!(
        h("X-Myself-Ruri"),
        "true",
        "the R-URI is the router's own address"
    );

    assert_eq!(h("X-Mf"), "32");
}

#[test]
fn an_instance_is_reused_until_it_fails() {
    let r = TestRouter::start_with("probe", single_worker());
    let c = UdpClient::new(r.udp);
    let first = count(&c);
    assert_eq!(
        count(&c),
        first + 1,
        "the same instance serves the next event"
    );
    assert_eq!(count(&c), first + 2);

    // a trap: fallback 500, then a fresh instance
    let reply = c.ask("OPTIONS", "panic", "").unwrap();
    assert_eq!(reply.status(), Some(500));
    assert_eq!(count(&c), 1, "a fresh instance after a trap");

    // a route error is not a crash: the instance stays
    assert_eq!(c.ask("OPTIONS", "fail", "").unwrap().status(), Some(500));
    assert_eq!(
        c.ask("OPTIONS", "badroute", "").unwrap().status(),
        Some(500)
    );
    assert_eq!(count(&c), 4);

    let stats = r.plugin.stats();
    assert_eq!(stats.traps, 1);
    assert_eq!(stats.route_errors, 2);
}

#[test]
fn cpu_deadline_cuts_an_infinite_loop() {
    let r = TestRouter::start_with(
        "probe",
        RouterOpts {
            // every event runs under it, the counting ones too: short enough to show the
            // cut, long enough that a descheduled count is not cut on a loaded machine
            deadline: Duration::from_millis(100),
            ..single_worker()
        },
    );
    let c = UdpClient::new(r.udp);
    for _ in 0..3 {
        let t = Instant::now();
        let reply = c
            .ask("OPTIONS", "spin", "")
            .expect("fallback after the deadline");
        let took = t.elapsed();
        assert_eq!(reply.status(), Some(500));
        assert!(took >= Duration::from_millis(95), "cut too early: {took:?}");
        assert!(took < Duration::from_secs(2), "cut too late: {took:?}");
        assert_eq!(count(&c), 1, "fresh instance after a timeout");
        // (fewer failures than half the events: no quarantine)
        assert_eq!(count(&c), 2);
    }
    assert_eq!(r.plugin.stats().timeouts, 3);
    assert_eq!(r.plugin.stats().quarantines, 0);
}

#[test]
fn memory_cap_stops_a_hoarder() {
    // a deadline long enough that the cap, not the clock, stops the plugin
    let r = TestRouter::start_with(
        "probe",
        RouterOpts {
            deadline: Duration::from_millis(500),
            ..single_worker()
        },
    );
    let c = UdpClient::new(r.udp);
    let reply = c.ask("OPTIONS", "eat", "").expect("fallback");
    assert_eq!(reply.status(), Some(500));
    assert_eq!(r.plugin.stats().memory_cap, 1, "{:?}", r.plugin.stats());
    assert_eq!(count(&c), 1);
}

#[test]
fn fallback_is_configurable() {
    let r = TestRouter::start_with(
        "probe",
        RouterOpts {
            fallback: Fallback::Reply(503, "Plugin Unavailable".into()),
            ..single_worker()
        },
    );
    let c = UdpClient::new(r.udp);
    let reply = c.ask("OPTIONS", "panic", "").unwrap();
    assert_eq!(
        (reply.status(), reply.reason()),
        (Some(503), Some(&b"Plugin Unavailable"[..]))
    );
    let r = TestRouter::start_with(
        "probe",
        RouterOpts {
            fallback: Fallback::Drop,
            ..single_worker()
        },
    );
    let c = UdpClient::new(r.udp);
    let req = request("OPTIONS", "panic", r.udp, c.local(), "UDP", "");
    c.send(req.as_bytes());
    assert!(
        c.final_reply(Duration::from_millis(500)).is_none(),
        "drop sends nothing"
    );
    assert_eq!(count(&c), 1);
}

#[test]
fn exit_in_a_named_route_ends_the_event() {
    let r = TestRouter::start("probe");
    let c = UdpClient::new(r.udp);
    let req = request("OPTIONS", "exit", r.udp, c.local(), "UDP", "");
    c.send(req.as_bytes());
    assert!(
        c.final_reply(Duration::from_millis(500)).is_none(),
        "exit stopped the caller before its reply"
    );
    assert_eq!(c.ask("OPTIONS", "nobody", "").unwrap().status(), Some(404));
}

/// The runtime API without sockets: named routes and verdicts.
#[test]
fn named_routes_run_by_name() {
    let engine = PluginEngine::new(EngineConfig {
        max_instances: 4,
        cache_dir: Some(root().join("target/sipwasm-test-cache")),
        ..EngineConfig::default()
    })
    .unwrap();
    let plugin = engine
        .load_file(&plugin("probe"), PluginSettings::new("probe"))
        .unwrap();
    let mut worker = PluginWorker::new(plugin.clone());
    let local = Arc::new(LocalConfig::new(Vec::new(), Vec::new(), None));
    let src: std::net::SocketAddr = "127.0.0.1:5099".parse().unwrap();
    let msg = |user: &str| {
        let text = request(
            "OPTIONS",
            user,
            "127.0.0.1:5060".parse().unwrap(),
            src,
            "UDP",
            "",
        );
        SipMessage::parse(Bytes::from(text)).unwrap()
    };
    let ctx = |m| {
        RouteContext::new(
            local.clone(),
            m,
            Source {
                transport: Transport::Udp,
                src,
                local: "127.0.0.1:5060".parse().unwrap(),
                conn: None,
            },
            0,
        )
    };
    let mut out = worker.run(Route::Named("named"), ctx(msg("x")));
    assert_eq!(out.result, Ok(Verdict::Exit));
    let sent = out.event.take_outbound();
    let reply = SipMessage::parse(sent[0].data.clone()).unwrap();
    assert_eq!(hdr(&reply, "X-Named").as_deref(), Some("yes"));
    let out = worker.run(Route::Named("NOT_A_ROUTE"), ctx(msg("x")));
    assert_eq!(
        out.result,
        Err(EventError::UnknownRoute("NOT_A_ROUTE".into()))
    );
    let out = worker.run(Route::Request, ctx(msg("noreply")));
    assert_eq!(out.result, Ok(Verdict::Exit));
    let out = worker.run(Route::Named("hdrops"), ctx(msg("x")));
    assert_eq!(out.result, Ok(Verdict::Exit));
    let rendered = String::from_utf8(out.event.rendered()).unwrap();
    assert!(
        rendered.contains("\r\nX-C: 3\r\nVia: "),
        "insert puts X-C first: {rendered}"
    );
    assert!(rendered.contains("X-D: 4\r\nCSeq: "), "{rendered}");
    assert!(rendered.ends_with("X-A: 1\r\n\r\n"), "{rendered}");
}

#[test]
fn htables_are_shared_by_every_worker_and_event_kind() {
    let opts = RouterOpts {
        workers: 2,
        htables: vec![sipwasm_routing::HtableSpec {
            name: "calls".into(),
            autoexpire: 0,
            max_entries: 3,
            expired_event: false,
        }],
        nosip: sipwasm_routing::NosipFilter::new(4, "", "").unwrap(),
        ..RouterOpts::default()
    };
    let r = TestRouter::start_with("probe", opts);
    let c = UdpClient::new(r.udp);
    let ht = |spec: &str| {
        let reply = c
            .ask("MESSAGE", "ht", &format!("X-Ht: {spec}\r\n"))
            .expect("reply");
        hdr(&reply, "X-Result").unwrap()
    };
    assert_eq!(ht("set calls alice ringing"), "Ok(())");
    assert_eq!(ht("setint calls n 40"), "Ok(())");
    // many events, both workers: everyone sees the same table
    for _ in 0..6 {
        assert_eq!(ht("get calls alice"), "Ok(Some(Value::Str(\"ringing\")))");
    }
    assert_eq!(ht("incr calls n 2"), "Ok(42)");
    assert_eq!(ht("incr calls alice 1"), "Err(Error::NotAnInt(\"alice\"))");
    assert_eq!(ht("exists calls bob"), "Ok(false)");
    assert_eq!(ht("set calls bob x"), "Ok(())");
    assert_eq!(ht("set calls carol x"), "Err(Error::Full(\"calls\"))");
    assert_eq!(ht("get nosuch k"), "Err(Error::UnknownTable(\"nosuch\"))");
    // from a non-SIP event too
    c.send(b"HT:get calls n");
    let got = c.recv(Duration::from_secs(2)).expect("nosip answer");
    assert_eq!(&got[..], b"HT Ok(Some(Value::Int(42)))");
    // the same entries as $sht(table=>key)
    let pv = c
        .ask(
            "MESSAGE",
            "pv",
            "X-Get: $sht(calls=>n)\r\nX-Get: $sht(calls=>$rU)\r\n",
        )
        .unwrap();
    assert_eq!(hdr(&pv, "X-Val-0").unwrap(), "42");
    assert_eq!(hdr(&pv, "X-Val-1").unwrap(), "<null>", "no entry named pv");
    assert_eq!(ht("delete calls alice"), "Ok(true)");
    assert_eq!(ht("get calls alice"), "Ok(None)");
}
