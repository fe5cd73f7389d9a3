//! Prometheus metrics and a health check over HTTP (`[metrics] listen`, or
//! `sipwasm run --metrics-listen IP:PORT`):
//!
//! - `GET /metrics`: the OpenMetrics text format (which Prometheus reads), made at each
//!   scrape from the very counters `sipwasm ctl stats` shows, so the two always agree:
//!   `sipwasm_router_*`, `sipwasm_transactions_*`, `sipwasm_security_*`, and
//!   `sipwasm_tenant_*{tenant="..."}`, plus the stream connections and the state
//!   backend's health.
//! - `GET /health`: 200 when the router serves (its listeners up, every tenant's plugin
//!   loaded, the state backend reachable), else 503; a JSON body says what is wrong.

use crate::server::Router;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;

/// The ones of `ctl stats` that go up and down; every other number only grows.
const GAUGES: &[&str] = &[
    "live",
    "live_instances",
    "memory_bytes",
    "queued",
    "dialogs",
    "calls",
    "connections",
    "pike_sources",
];

/// The HTTP listener; stops when dropped.
pub struct MetricsServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl MetricsServer {
    /// Where it listens (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serve `/metrics` and `/health` of `router` on `addr`. Must be called within a tokio
/// runtime.
pub fn serve(addr: SocketAddr, router: Arc<Router>) -> std::io::Result<MetricsServer> {
    let std_listener = std::net::TcpListener::bind(addr)?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let listener = tokio::net::TcpListener::from_std(std_listener)?;
    tracing::info!(%addr, "metrics and health listening (GET /metrics, /health)");
    let task = tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("metrics listener: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let router = router.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let router = router.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(&req, &router).await) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    Ok(MetricsServer { addr, task })
}

async fn answer<B>(req: &Request<B>, router: &Arc<Router>) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, kind: &str, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", kind)
            .body(Full::new(Bytes::from(body)))
            .expect("a valid response")
    };
    if req.method() != hyper::Method::GET {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
    }
    match req.uri().path() {
        "/metrics" => {
            // the htable sizes may be a Redis round trip: off the I/O threads
            let r = router.clone();
            match tokio::task::spawn_blocking(move || render(&r)).await {
                Ok(text) => reply(
                    StatusCode::OK,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    text,
                ),
                Err(e) => reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    format!("{e}\n"),
                ),
            }
        }
        "/health" => {
            let state_up = match router.state() {
                Some(s) => Some(s.ping().await),
                None => None,
            };
            let (healthy, body) = health(router, state_up);
            let status = if healthy {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            reply(status, "application/json", format!("{body}\n"))
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "GET /metrics or /health\n".into(),
        ),
    }
}

/// Liveness and readiness: the listeners are up (the router would not run otherwise),
/// each tenant has its plugin, and the state backend (if any) answered (`state_up`).
pub fn health(router: &Router, state_up: Option<bool>) -> (bool, Value) {
    let tenants: Vec<Value> = router
        .tenants()
        .list()
        .iter()
        .map(|t| json!({"name": t.name(), "plugin": t.current().plugin.name()}))
        .collect();
    let state = match state_up {
        None => "memory",
        Some(true) => "up",
        Some(false) => "down",
    };
    let healthy = state != "down";
    (
        healthy,
        json!({
            "status": if healthy { "ok" } else { "state backend unreachable" },
            "listeners": router.local().listeners().len(),
            "tenants": tenants,
            "state": state,
        }),
    )
}

/// The metrics text for one scrape.
pub fn render(router: &Arc<Router>) -> String {
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register_collector(Box::new(Snapshot {
        stats: crate::control::stats(router),
        connections: router.outlet().connections(),
        state_up: router.state().map(|s| s.is_up()),
    }));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)
        .expect("writing to a String cannot fail");
    text
}

/// The counters of one scrape.
#[derive(Debug)]
struct Snapshot {
    stats: Value,
    connections: usize,
    state_up: Option<bool>,
}

/// A counter family with a sample per entry of `counts` (`{"INVITE": n, ...}`), the
/// entry's name as label `label`.
fn labelled(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    label: &str,
    counts: &Value,
) -> std::fmt::Result {
    let Some(counts) = counts.as_object() else {
        return Ok(());
    };
    let kind = ConstCounter::new(0u64).metric_type();
    let mut family = e.encode_descriptor(name, help, None, kind)?;
    for (value, n) in counts {
        let n = n.as_u64().unwrap_or_default();
        ConstCounter::new(n).encode(family.encode_family(&[(label, value.as_str())])?)?;
    }
    Ok(())
}

/// Guest CPU time per event, a histogram per tenant (`event_time_us` of `ctl stats`).
struct EventTimes {
    sum_seconds: f64,
    buckets: Vec<(f64, u64)>,
}

impl EncodeMetric for EventTimes {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::MetricEncoder<'_>,
    ) -> std::fmt::Result {
        let count = self.buckets.iter().map(|(_, n)| n).sum();
        encoder.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            self.sum_seconds,
            count,
            &self.buckets,
            None,
        )
    }

    fn metric_type(&self) -> prometheus_client::metrics::MetricType {
        prometheus_client::metrics::MetricType::Histogram
    }
}

fn histogram(
    e: &mut DescriptorEncoder<'_>,
    tenants: &serde_json::Map<String, Value>,
) -> std::fmt::Result {
    let mut family = e.encode_descriptor(
        "sipwasm_tenant_event_cpu_seconds",
        "Guest CPU time per event",
        None,
        prometheus_client::metrics::MetricType::Histogram,
    )?;
    for (tenant, t) in tenants {
        let Some(times) = t.get("event_time_us").and_then(Value::as_object) else {
            continue;
        };
        let buckets = times
            .iter()
            .map(|(bound, n)| {
                let le = bound.parse::<f64>().map_or(f64::INFINITY, |us| us / 1e6);
                (le, n.as_u64().unwrap_or_default())
            })
            .collect::<Vec<_>>();
        let mut buckets = buckets;
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let sum_seconds = t.get("cpu_ms").and_then(Value::as_u64).unwrap_or_default() as f64 / 1e3;
        EventTimes {
            sum_seconds,
            buckets,
        }
        .encode(family.encode_family(&[("tenant", tenant.as_str())])?)?;
    }
    Ok(())
}

/// The plugins' own counters (`statistics`): a gauge (they may go down) per tenant and
/// name.
fn plugin_stats(
    e: &mut DescriptorEncoder<'_>,
    tenants: &serde_json::Map<String, Value>,
) -> std::fmt::Result {
    let kind = ConstGauge::new(0i64).metric_type();
    let mut family = e.encode_descriptor(
        "sipwasm_plugin_stat",
        "Counters the plugins define (statistics.update-stat)",
        None,
        kind,
    )?;
    for (tenant, t) in tenants {
        let Some(stats) = t.get("plugin_stats").and_then(Value::as_object) else {
            continue;
        };
        for (name, v) in stats {
            let labels = [("tenant", tenant.as_str()), ("name", name.as_str())];
            ConstGauge::new(v.as_i64().unwrap_or_default())
                .encode(family.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

fn gauge(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: i64) -> std::fmt::Result {
    let g = ConstGauge::new(v);
    g.encode(e.encode_descriptor(name, help, None, g.metric_type())?)
}

impl Collector for Snapshot {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> std::fmt::Result {
        for section in ["router", "transactions", "msrp", "security"] {
            let Some(fields) = self.stats.get(section).and_then(Value::as_object) else {
                continue;
            };
            for (field, v) in fields {
                let Some(v) = v.as_u64() else { continue };
                let name = format!("sipwasm_{section}_{field}");
                let help = format!("ctl stats: {section}.{field}");
                if GAUGES.contains(&field.as_str()) {
                    gauge(&mut e, &name, &help, v as i64)?;
                } else {
                    let c = ConstCounter::new(v);
                    c.encode(e.encode_descriptor(&name, &help, None, c.metric_type())?)?;
                }
            }
        }
        let sip = &self.stats["sip"];
        labelled(
            &mut e,
            "sipwasm_sip_requests",
            "SIP requests received",
            "method",
            &sip["requests"],
        )?;
        labelled(
            &mut e,
            "sipwasm_sip_replies_received",
            "SIP replies received",
            "class",
            &sip["replies_received"],
        )?;
        labelled(
            &mut e,
            "sipwasm_sip_replies_sent",
            "SIP replies sent",
            "class",
            &sip["replies_sent"],
        )?;
        if let Some(tables) = self.stats.get("htables").and_then(Value::as_object)
            && !tables.is_empty()
        {
            let kind = ConstGauge::new(0i64).metric_type();
            let mut family = e.encode_descriptor(
                "sipwasm_htable_entries",
                "Entries of each htable (with Redis: the one table every router shares)",
                None,
                kind,
            )?;
            for (table, n) in tables {
                let n = n.as_i64().unwrap_or_default();
                ConstGauge::new(n).encode(family.encode_family(&[("table", table.as_str())])?)?;
            }
        }
        if let Some(tenants) = self.stats.get("tenants").and_then(Value::as_object) {
            histogram(&mut e, tenants)?;
            plugin_stats(&mut e, tenants)?;
            // one family per counter, a sample per tenant
            let fields: Vec<&String> = tenants
                .values()
                .filter_map(Value::as_object)
                .flat_map(|t| t.iter().filter(|(_, v)| v.is_number()).map(|(k, _)| k))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            for field in fields {
                let seconds = field == "cpu_ms";
                let name = if seconds {
                    "sipwasm_tenant_cpu_seconds".to_string()
                } else {
                    format!("sipwasm_tenant_{field}")
                };
                let help = format!("ctl stats: tenants.NAME.{field}");
                let is_gauge = GAUGES.contains(&field.as_str());
                let kind = if is_gauge {
                    ConstGauge::new(0i64).metric_type()
                } else {
                    ConstCounter::new(0u64).metric_type()
                };
                let mut family = e.encode_descriptor(&name, &help, None, kind)?;
                for (tenant, t) in tenants {
                    let Some(v) = t.get(field.as_str()).and_then(Value::as_u64) else {
                        continue;
                    };
                    let labels = [("tenant", tenant.as_str())];
                    let sample = family.encode_family(&labels)?;
                    if is_gauge {
                        ConstGauge::new(v as i64).encode(sample)?;
                    } else if seconds {
                        ConstCounter::new(v as f64 / 1000.0).encode(sample)?;
                    } else {
                        ConstCounter::new(v).encode(sample)?;
                    }
                }
            }
        }
        gauge(
            &mut e,
            "sipwasm_stream_connections",
            "TCP and TLS connections open",
            self.connections as i64,
        )?;
        if let Some(up) = self.state_up {
            gauge(
                &mut e,
                "sipwasm_state_backend_up",
                "1 while the shared state backend (Redis) answers",
                i64::from(up),
            )?;
        }
        Ok(())
    }
}
