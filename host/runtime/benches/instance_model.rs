//! Which instance model to use, measured: a fresh instance per message vs one reused
//! instance per worker, and the cost of the plugin call itself against the same routing
//! logic written natively against `RouteContext`.
//!
//! ```sh
//! scripts/build-plugins
//! cargo bench -p sipwasm-runtime --bench instance_model
//! ```
//!
//! The plugin is `options-pong`: `is-method`, `append-to-reply` and `send-reply` per OPTIONS
//! (three host calls), the same work the stateless benchmark measures end to end.

use bytes::Bytes;
use sipwasm_proto::{SipMessage, Transport};
use sipwasm_routing::{LocalConfig, RouteContext, Source};
use sipwasm_runtime::{EngineConfig, PluginEngine, PluginSettings, PluginWorker, Route};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

const OPTIONS: &[u8] = b"OPTIONS sip:service@127.0.0.1:5080 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4711-1-0\r\n\
Max-Forwards: 70\r\n\
From: sipp <sip:sipp@127.0.0.1:5061>;tag=4711SIPpTag001\r\n\
To: <sip:service@127.0.0.1:5080>\r\n\
Call-ID: 1-4711@127.0.0.1\r\n\
CSeq: 1 OPTIONS\r\n\
Contact: <sip:sipp@127.0.0.1:5061>\r\n\
Accept: application/sdp\r\n\
User-Agent: sip-bench\r\n\
Content-Length: 0\r\n\r\n";

fn ctx(local: &Arc<LocalConfig>, msg: &SipMessage) -> RouteContext {
    RouteContext::new(
        local.clone(),
        msg.clone(),
        Source {
            transport: Transport::Udp,
            src: "127.0.0.1:5061".parse().unwrap(),
            local: "127.0.0.1:5080".parse().unwrap(),
            conn: None,
        },
        0,
    )
}

fn per_op(label: &str, n: u32, mut f: impl FnMut()) -> f64 {
    // warm up, then measure
    for _ in 0..(n / 10).max(10) {
        f();
    }
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    let us = t.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    println!("{label:<58} {us:>8.2} µs/message  (n={n})");
    us
}

fn main() {
    let wasm = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/wasm32-wasip2/plugin/options_pong.wasm");
    assert!(
        wasm.exists(),
        "run scripts/build-plugins first ({} missing)",
        wasm.display()
    );
    let engine = PluginEngine::new(EngineConfig {
        max_instances: 8,
        ..EngineConfig::default()
    })
    .unwrap();
    let plugin = engine
        .load_file(&wasm, PluginSettings::new("options-pong"))
        .unwrap();
    let local = Arc::new(LocalConfig::new(
        Vec::new(),
        Vec::new(),
        Some("sipwasm".into()),
    ));
    let msg = SipMessage::parse(Bytes::from_static(OPTIONS)).unwrap();

    let parse = per_op("parse the OPTIONS (for scale)", 200_000, || {
        black_box(SipMessage::parse(Bytes::from_static(black_box(OPTIONS))).unwrap());
    });

    let native = per_op(
        "native Rust: same route on RouteContext (no wasm)",
        200_000,
        || {
            let mut c = ctx(&local, &msg);
            if c.is_method("OPTIONS") {
                c.append_to_reply(
                    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\nAccept: application/sdp\r\n",
                )
                .unwrap();
                c.send_reply(200, "OK").unwrap();
            }
            black_box(c.take_outbound());
        },
    );

    let mut worker = PluginWorker::new(plugin.clone());
    worker.warm_up().unwrap();
    let reused = per_op(
        "wasm, one instance reused per worker (chosen)",
        200_000,
        || {
            let mut out = worker.run(Route::Request, ctx(&local, &msg));
            assert!(out.result.is_ok());
            black_box(out.event.take_outbound());
        },
    );

    let fresh = per_op("wasm, a fresh instance per message", 5_000, || {
        let mut inst = plugin.instantiate().unwrap();
        let mut out = inst.run(Route::Request, ctx(&local, &msg));
        assert!(out.result.is_ok());
        black_box(out.event.take_outbound());
    });

    let inst_only = per_op("instantiation alone", 5_000, || {
        black_box(plugin.instantiate().unwrap());
    });

    println!();
    println!(
        "plugin overhead per message (reused - native): {:.2} µs",
        reused - native
    );
    println!(
        "fresh instance costs {:.1}x the reused call ({:.2} µs of it instantiation)",
        fresh / reused,
        inst_only
    );
    println!("parse: {parse:.2} µs");
}
