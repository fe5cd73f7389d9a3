//! Operating a router: `/metrics`, read by the Prometheus project's own OpenMetrics parser
//! (`prometheus_client`, Python) and checked against the counters `ctl stats` shows, and
//! `/health`.

use crate::harness::*;
use crate::pjsip::pjsip_python;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;

/// `GET path` on `addr`: the status and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status");
    (status, body.to_string())
}

/// `text` read by `prometheus_client.openmetrics.parser`: each family by name, with its
/// type and samples (`name`, `labels`, `value`); the parser refuses what is not
/// OpenMetrics.
pub fn parse_openmetrics(text: &str) -> Value {
    let script = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = {}
for f in text_string_to_metric_families(sys.stdin.read()):
    out[f.name] = {"type": f.type, "samples": [
        {"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]}
print(json.dumps(out))
"#;
    let mut child = Command::new(pjsip_python())
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "not OpenMetrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The value of the sample of family `family` whose labels include `labels`.
pub fn sample(families: &Value, family: &str, labels: &[(&str, &str)]) -> Option<f64> {
    families[family]["samples"]
        .as_array()?
        .iter()
        .find(|s| labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .and_then(|s| s["value"].as_f64())
}

#[test]
fn metrics_parse_as_openmetrics_and_agree_with_ctl_stats() {
    let r = TestRouter::start_with(
        "probe",
        RouterOpts {
            htables: vec![sipwasm_routing::HtableSpec {
                name: "calls".into(),
                autoexpire: 0,
                max_entries: 10,
                expired_event: false,
            }],
            ..RouterOpts::default()
        },
    );
    let c = UdpClient::new(r.udp);
    for _ in 0..5 {
        assert_eq!(c.ask("OPTIONS", "named", "").unwrap().status(), Some(200));
    }
    let set = c
        .ask("MESSAGE", "ht", "X-Ht: set calls alice ringing\r\n")
        .unwrap();
    assert_eq!(hdr(&set, "X-Result").unwrap(), "Ok(())");
    // the plugin's own counters (statistics)
    let stat = |spec: &str| {
        let m = c
            .ask("MESSAGE", "stat", &format!("X-Stat: {spec}\r\n"))
            .unwrap();
        hdr(&m, "X-Result").unwrap()
    };
    assert_eq!(stat("update calls_in 2"), "Ok(2)");
    assert_eq!(stat("update calls_in 3"), "Ok(5)");
    assert_eq!(stat("update active -1"), "Ok(-1)");
    assert_eq!(stat("get calls_in"), "Ok(5)");
    assert_eq!(
        stat("update Bad-Name 1"),
        "Err(Error::InvalidName(\"Bad-Name\"))"
    );
    assert_eq!(stat("reset active"), "Ok(())");
    let m = r.serve_metrics();
    let (code, text) = http_get(m.addr(), "/metrics");
    assert_eq!(code, 200);
    let families = parse_openmetrics(&text);
    let router = r.server().router();
    let received = router.stats().received.load(Ordering::Relaxed) as f64;
    assert_eq!(
        sample(&families, "sipwasm_router_received", &[]),
        Some(received)
    );
    assert_eq!(families["sipwasm_router_received"]["type"], "counter");
    assert_eq!(families["sipwasm_transactions_live"]["type"], "gauge");
    let events = sample(&families, "sipwasm_tenant_events", &[("tenant", "probe")]).unwrap();
    assert!(events >= 5.0, "{events}");
    // the tenant's memory: its live instances' linear memory, each within the cap
    let probe = [("tenant", "probe")];
    let memory = sample(&families, "sipwasm_tenant_memory_bytes", &probe).unwrap();
    let instances = sample(&families, "sipwasm_tenant_live_instances", &probe).unwrap();
    assert_eq!(families["sipwasm_tenant_memory_bytes"]["type"], "gauge");
    assert!(
        instances >= 1.0 && memory >= 65536.0 * instances,
        "{memory} {instances}"
    );
    assert!(
        memory <= instances * (32 << 20) as f64,
        "{memory} {instances}"
    );
    assert!(sample(&families, "sipwasm_security_auth_failures", &[]).is_some());
    assert_eq!(
        sample(&families, "sipwasm_stream_connections", &[]),
        Some(0.0)
    );
    // requests by method, replies by class, the plugin's time per event, htable sizes
    assert!(sample(&families, "sipwasm_sip_requests", &[("method", "OPTIONS")]).unwrap() >= 5.0);
    assert_eq!(
        sample(&families, "sipwasm_sip_requests", &[("method", "MESSAGE")]),
        Some(7.0)
    );
    assert!(sample(&families, "sipwasm_sip_replies_sent", &[("class", "2xx")]).unwrap() >= 6.0);
    assert_eq!(
        sample(
            &families,
            "sipwasm_sip_replies_received",
            &[("class", "2xx")]
        ),
        Some(0.0)
    );
    let times = &families["sipwasm_tenant_event_cpu_seconds"];
    assert_eq!(times["type"], "histogram", "{times}");
    let count = times["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "sipwasm_tenant_event_cpu_seconds_count")
        .and_then(|s| s["value"].as_f64())
        .unwrap();
    assert!(count >= 6.0, "{times}");
    assert_eq!(
        sample(&families, "sipwasm_htable_entries", &[("table", "calls")]),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &families,
            "sipwasm_plugin_stat",
            &[("tenant", "probe"), ("name", "calls_in")]
        ),
        Some(5.0)
    );
    assert_eq!(
        sample(
            &families,
            "sipwasm_plugin_stat",
            &[("tenant", "probe"), ("name", "active")]
        ),
        Some(0.0)
    );
    let stats = sipwasm::control::stats(r.server().router());
    assert_eq!(
        stats["tenants"]["probe"]["plugin_stats"]["calls_in"], 5,
        "{stats}"
    );
    // no state backend: nothing said about one
    assert!(families.get("sipwasm_state_backend_up").is_none());
    let (code, body) = http_get(m.addr(), "/health");
    assert_eq!(code, 200, "{body}");
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["state"], "memory");
    assert_eq!(health["tenants"][0]["plugin"], "probe");
    assert_eq!(http_get(m.addr(), "/nothing").0, 404);
}
