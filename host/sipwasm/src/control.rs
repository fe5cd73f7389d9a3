//! `sipwasm ctl`: JSON-RPC 2.0 over a Unix socket, one request per line and one response
//! per line (Kamailio's `kamcmd`/jsonrpcs in spirit).
//!
//! Methods:
//! - `reload` (`{"tenant": NAME}` or no params for all): compile, check, self-test and
//!   swap in each tenant's `.wasm` file; answers one outcome per tenant.
//! - `plugins`: per tenant, the version serving, its SHA-256, when it was loaded, the
//!   last reload error and the tenant's counters.
//! - `stats`: the router's, the transaction layer's, `[security]`'s and every tenant's
//!   counters.
//! - `bans`: sources banned for failed authentications (seconds left, bans so far, the
//!   user they guessed at, requests dropped) and users throttled.
//! - `unban` (`{"source": IP}`, or no params for every ban and throttle): lift them.
//!
//! The socket is created with mode 0600: whoever can reach it can swap plugins.

use crate::server::Router;
use crate::tenants::{ReloadOutcome, Tenant};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::UNIX_EPOCH;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// Longest request line accepted.
const MAX_REQUEST: usize = 64 * 1024;

/// Why the control socket could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("control socket {}: {error}", path.display())]
pub struct ControlError {
    path: PathBuf,
    error: std::io::Error,
}

/// The listening control socket; the file is removed when this is dropped.
pub struct ControlServer {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Listen on `path` and answer `sipwasm ctl` requests about `router`. A stale socket file
/// (nobody listening) is replaced; a live one is an error (another router uses it).
pub fn serve(path: &Path, router: Arc<Router>) -> Result<ControlServer, ControlError> {
    let err = |error| ControlError {
        path: path.to_path_buf(),
        error,
    };
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "another process is listening on it",
            )));
        }
        std::fs::remove_file(path).map_err(err)?;
    }
    let listener = tokio::net::UnixListener::bind(path).map_err(err)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    }
    tracing::info!(socket = %path.display(), "control socket listening");
    let task = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, router.clone()));
                }
                Err(e) => {
                    tracing::warn!("control socket: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok(ControlServer {
        path: path.to_path_buf(),
        task,
    })
}

async fn connection(stream: tokio::net::UnixStream, router: Arc<Router>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        let mut limited = (&mut lines).take(MAX_REQUEST as u64 + 1);
        match limited.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let response = if line.len() > MAX_REQUEST {
            error_response(Value::Null, -32600, "request too large")
        } else if line.trim().is_empty() {
            continue;
        } else {
            answer(&line, &router).await
        };
        let mut out = response.to_string();
        out.push('\n');
        if write.write_all(out.as_bytes()).await.is_err() || line.len() > MAX_REQUEST {
            return;
        }
    }
}

fn error_response(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

async fn answer(line: &str, router: &Arc<Router>) -> Value {
    let request: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return error_response(Value::Null, -32700, &format!("parse error: {e}")),
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return error_response(id, -32600, "no method");
    };
    let params = request.get("params").cloned().unwrap_or(Value::Null);
    let result = match method {
        "reload" => reload(params, router).await,
        "plugins" => Ok(plugins(router)),
        "stats" => Ok(stats(router)),
        "bans" => Ok(bans(router)),
        "unban" => unban(params, router),
        other => return error_response(id, -32601, &format!("no method {other:?}")),
    };
    match result {
        Ok(v) => json!({"jsonrpc": "2.0", "id": id, "result": v}),
        Err(message) => error_response(id, -32602, &message),
    }
}

async fn reload(params: Value, router: &Arc<Router>) -> Result<Value, String> {
    let tenant = match &params {
        Value::Null => None,
        Value::Object(o) => match o.get("tenant") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err("tenant must be a string".into()),
        },
        Value::Array(a) => match a.first() {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err("tenant must be a string".into()),
        },
        _ => return Err("params must be an object or an array".into()),
    };
    let tenants = router.tenants().clone();
    // compiling is CPU work: off the I/O threads
    let outcomes = tokio::task::spawn_blocking(move || tenants.reload(tenant.as_deref()))
        .await
        .map_err(|e| format!("reload task: {e}"))?
        .map_err(|e| e.to_string())?;
    Ok(Value::Array(
        outcomes
            .into_iter()
            .map(|(tenant, outcome)| match outcome {
                ReloadOutcome::Swapped {
                    version,
                    sha256,
                    load_ms,
                } => json!({"tenant": tenant, "outcome": "swapped", "version": version,
                            "sha256": sha256, "load_ms": load_ms}),
                ReloadOutcome::Unchanged { version } => {
                    json!({"tenant": tenant, "outcome": "unchanged", "version": version})
                }
                ReloadOutcome::Failed { error } => {
                    json!({"tenant": tenant, "outcome": "failed",
                           "error": sipwasm_runtime::Report(&error).to_string()})
                }
            })
            .collect(),
    ))
}

fn counters(router: &Router, t: &Tenant) -> Value {
    let s = t.stats();
    let calls = t.local().calls.stats();
    let lane = router
        .share_of(t.index())
        .map(|(_, l)| l)
        .unwrap_or_default();
    json!({
        "events": s.events,
        "traps": s.traps,
        "timeouts": s.timeouts,
        "memory_cap": s.memory_cap,
        "route_errors": s.route_errors,
        "instantiations": s.instantiations,
        "instantiate_failures": s.instantiate_failures,
        "live_instances": s.live_instances,
        "logs_dropped": s.logs_dropped,
        "log_floods": s.log_floods,
        "cpu_ms": s.cpu_ns / 1_000_000,
        "quarantines": s.quarantines,
        "quarantine_refusals": s.quarantine_refusals,
        "budget_exhaustions": s.budget_exhaustions,
        "budget_refusals": s.budget_refusals,
        "queued": lane.queued,
        "queue_overflows": lane.overflowed,
        "fallbacks": t.fallbacks.load(Ordering::Relaxed),
        "denied_events": t.denied_events.load(Ordering::Relaxed),
        "dialogs": t.local().dialogs.len(),
        "calls": t.local().calls.total(),
        "calls_admitted": calls.admitted.load(Ordering::Relaxed),
        "calls_refused_concurrent": calls.refused_concurrent.load(Ordering::Relaxed),
        "calls_refused_per_minute": calls.refused_per_minute.load(Ordering::Relaxed),
        "dialogs_not_recorded": t.local().dialogs.not_recorded(),
    })
}

/// Where the tenant stands: its state, its limits and what it holds now.
fn standing(router: &Router, t: &Tenant) -> Value {
    let (state, quarantine_left, budget_left) = t.account().describe();
    let l = &t.config.limits;
    let share = router.share_of(t.index());
    let ms = |d: Option<std::time::Duration>| d.map(|d| d.as_millis() as u64);
    json!({
        "state": state,
        "quarantine_left_ms": ms(quarantine_left),
        "cpu_budget_left_ms": ms(budget_left),
        "cpu_ms_per_s": ms(l.cpu_budget),
        "worker_share": share.map(|(s, _)| (s.workers != usize::MAX).then_some(s.workers)),
        "queue": share.map(|(s, _)| s.queue),
        "running": share.map(|(_, x)| x.busy),
        "waiting": share.map(|(_, x)| x.waiting),
        "quarantine_after": l.quarantine_after,
    })
}

fn plugins(router: &Arc<Router>) -> Value {
    let tenants = router.tenants();
    Value::Array(
        tenants
            .list()
            .iter()
            .map(|t| {
                let v = t.current();
                let r = t.reload_status();
                let loaded_at = v
                    .loaded_at
                    .duration_since(UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                json!({
                    "tenant": t.name(),
                    "default": Arc::ptr_eq(t, tenants.default_tenant()),
                    "path": t.config.plugin_path.display().to_string(),
                    "version": v.number,
                    "sha256": v.plugin.report().sha256,
                    "loaded_at": loaded_at,
                    "load_ms": v.load_time.as_millis() as u64,
                    "from_cache": v.plugin.report().from_cache,
                    "reloads": r.reloads,
                    "failed_reloads": r.failed_reloads,
                    "last_error": r.last_error,
                    "standing": standing(router, t),
                    "counters": counters(router, t),
                })
            })
            .collect(),
    )
}

fn bans(router: &Arc<Router>) -> Value {
    let guard = router.guard();
    let now = crate::now_unix();
    json!({
        "bans": guard.bans(now).iter().map(|b| json!({
            "source": b.source.to_string(),
            "remaining_s": b.remaining,
            "bans": b.bans,
            "user": b.user,
            "dropped": b.dropped,
        })).collect::<Vec<_>>(),
        "throttled": guard.throttled(now).iter().map(|t| json!({
            "user": t.user,
            "failures": t.failures,
            "sources": t.sources,
            "refused": t.refused,
        })).collect::<Vec<_>>(),
    })
}

fn unban(params: Value, router: &Arc<Router>) -> Result<Value, String> {
    let source = match params.get("source").or_else(|| params.get(0)) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            s.parse::<std::net::IpAddr>()
                .map_err(|_| format!("{s:?} is not an IP address"))?,
        ),
        Some(_) => return Err("source must be a string".into()),
    };
    Ok(json!({ "lifted": router.guard().clear(source) }))
}

fn security(router: &Router) -> Value {
    let g = router.guard().stats();
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    json!({
        "auth_failures": load(&g.auth_failures),
        "bans": load(&g.bans),
        "banned_requests": load(&g.banned_requests),
        "throttles": load(&g.throttles),
        "throttle_refusals": load(&g.throttle_refusals),
        "scanners": load(&g.scanners),
        "untracked": load(&g.untracked),
    })
}

pub(crate) fn stats(router: &Arc<Router>) -> Value {
    let r = router.stats();
    let out = router.outlet().stats();
    let tm = &router.proxy().table().stats;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let tenants: serde_json::Map<String, Value> = router
        .tenants()
        .list()
        .iter()
        .map(|t| (t.name().to_string(), counters(router, t)))
        .collect();
    json!({
        "router": {
            "received": load(&r.received),
            "malformed": load(&r.malformed),
            "keepalives": load(&r.keepalives),
            "acks_absorbed": load(&r.acks_absorbed),
            "sent": load(&out.sent),
            "send_errors": load(&out.send_errors),
            "fallbacks": load(&r.fallbacks),
            "nosip_events": load(&r.nosip_events),
            "nosip_ignored": load(&r.nosip_ignored),
            "msrp_frames": load(&r.msrp_frames),
            "denied_events": load(&r.denied_events),
        },
        "transactions": {
            "live": router.proxy().table().len(),
            "created": load(&tm.created),
            "removed": load(&tm.removed),
            "retransmissions_absorbed": load(&tm.retransmissions_absorbed),
            "branches": load(&tm.branches),
            "failure_routes": load(&tm.failure_routes),
            "suspended": load(&tm.suspended),
            "resumed": load(&tm.resumed),
            "freed_by_worker": load(&tm.freed_by_worker),
            "freed_by_sweep": load(&tm.freed_by_sweep),
            "nat_pings": load(&tm.nat_pings),
        },
        "security": security(router),
        "tenants": tenants,
    })
}

/// Send one request to the router listening on `socket` and return its `result` (or the
/// error it answered).
pub fn call(socket: &Path, method: &str, params: Value) -> anyhow::Result<Value> {
    use anyhow::Context;
    use std::io::{BufRead, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(socket).with_context(|| {
        format!(
            "connecting to {} (is the router running with [control] socket set?)",
            socket.display()
        )
    })?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(120)))?;
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    stream.write_all(format!("{request}\n").as_bytes())?;
    let mut line = String::new();
    std::io::BufReader::new(&stream)
        .read_line(&mut line)
        .context("reading the answer")?;
    let response: Value = serde_json::from_str(&line).context("the answer is not JSON")?;
    if let Some(e) = response.get("error") {
        anyhow::bail!(
            "{}",
            e.get("message").and_then(Value::as_str).unwrap_or("error")
        );
    }
    Ok(response.get("result").cloned().unwrap_or(Value::Null))
}
