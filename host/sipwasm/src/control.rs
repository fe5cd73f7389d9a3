//! `sipwasm ctl`: JSON-RPC 2.0 over a Unix socket, one request per line and one response
//! per line (Kamailio's `kamcmd`/jsonrpcs in spirit).
//!
//! Methods (Kamailio's names where it has them; `params` by position or by name):
//! - `reload` (`{"tenant": NAME}` or no params for all): compile, check, self-test and
//!   swap in each tenant's `.wasm` file; answers one outcome per tenant.
//! - `plugins`: per tenant, the version serving, its SHA-256, when it was loaded, the
//!   last reload error and the tenant's counters.
//! - `stats`: the router's, the transaction layer's, `[security]`'s and every tenant's
//!   counters.
//! - `bans`: sources banned for failed authentications (seconds left, bans so far, the
//!   user they guessed at, requests dropped) and users throttled.
//! - `unban` (`{"source": IP}`, or no params for every ban and throttle): lift them.
//! - `core.version`, `core.uptime`.
//! - `tenant.list`; `tenant.stats [tenant]`: standing and counters.
//! - `ul.dump [table] [tenant]`, `ul.show aor [table] [tenant]`, `ul.rm aor [table]
//!   [tenant]`: registrations (with Redis, what all routers share).
//! - `htable.dump table`, `htable.get table key`, `htable.set table key value` (a
//!   string), `htable.seti table key value` (an integer), `htable.delete table key`,
//!   `htable.flush table`.
//! - `tm.list`: live transactions.
//! - `dns.cache`: resolved next hops and their age.
//! - `log.level [filter]`: the log filter, or set it (`debug`, `sipwasm=debug,warn`).
//! - `shadow tenant path`: run the plugin at `path` beside the tenant's live version on
//!   copies of its new requests, side effects held back, decisions compared;
//!   `shadow.show [tenant]` (counts and the newest differences), `shadow.stop tenant`,
//!   `shadow.promote tenant` (its file becomes the tenant's, swapped in as a reload).
//!
//! The socket is created with mode `[control] mode` (0600 by default): whoever can reach
//! it can read everything. With `[control] token` set, the methods that change anything
//! (reload, unban, ul.rm, htable.set/seti/delete/flush, shadow, shadow.stop,
//! shadow.promote, log.level with a filter) also
//! need `"token"` in the request.

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

/// Most entries a listing method answers with (AORs, transactions).
const MAX_LISTED: usize = 10_000;

/// Who may do what on the control socket.
#[derive(Clone, Debug)]
pub struct Access {
    /// The socket file's mode (who can connect at all).
    pub mode: u32,
    /// Needed by the methods that change something, when set.
    pub token: Option<String>,
}

impl Default for Access {
    fn default() -> Self {
        Access {
            mode: 0o600,
            token: None,
        }
    }
}

/// `given` equals `token`, compared in a time that does not depend on where they differ.
fn same_secret(given: Option<&str>, token: &str) -> bool {
    let Some(given) = given else { return false };
    let (a, b) = (given.as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// True for the methods that change the router (and need the token when one is set).
fn changes(method: &str, params: &Value) -> bool {
    match method {
        "reload"
        | "unban"
        | "ul.rm"
        | "htable.set"
        | "htable.seti"
        | "htable.delete"
        | "htable.flush"
        | "shadow"
        | "shadow.stop"
        | "shadow.promote"
        | "dispatcher.set_state"
        | "dispatcher.reload" => true,
        "log.level" => arg(params, 0, "filter").is_some(),
        _ => false,
    }
}

/// Parameter `name` of object params, or `index` of array params, as text.
fn arg(params: &Value, index: usize, name: &str) -> Option<String> {
    let v = match params {
        Value::Object(o) => o.get(name),
        Value::Array(a) => a.get(index),
        _ => None,
    }?;
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// [`arg`], required.
fn need(params: &Value, index: usize, name: &str) -> Result<String, String> {
    arg(params, index, name).ok_or_else(|| format!("missing parameter {name}"))
}

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
pub fn serve(
    path: &Path,
    router: Arc<Router>,
    access: Access,
) -> Result<ControlServer, ControlError> {
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
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(access.mode))
            .map_err(err)?;
    }
    tracing::info!(socket = %path.display(), "control socket listening");
    let access = Arc::new(access);
    let task = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, router.clone(), access.clone()));
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

async fn connection(stream: tokio::net::UnixStream, router: Arc<Router>, access: Arc<Access>) {
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
            answer(&line, &router, &access).await
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

async fn answer(line: &str, router: &Arc<Router>, access: &Access) -> Value {
    let request: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return error_response(Value::Null, -32700, &format!("parse error: {e}")),
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return error_response(id, -32600, "no method");
    };
    let params = request.get("params").cloned().unwrap_or(Value::Null);
    if let Some(token) = &access.token
        && changes(method, &params)
        && !same_secret(request.get("token").and_then(Value::as_str), token)
    {
        tracing::warn!(method, "control request refused: no or wrong token");
        return error_response(id, -32001, "this method needs the [control] token");
    }
    let result = match method {
        "reload" => reload(params, router).await,
        _ => {
            let (router, method_name) = (router.clone(), method.to_string());
            // some read or write Redis (a blocking round trip): off the I/O threads
            match tokio::task::spawn_blocking(move || call_sync(&method_name, &params, &router))
                .await
            {
                Ok(Some(r)) => r,
                Ok(None) => {
                    return error_response(id, -32601, &format!("no method {method:?}"));
                }
                Err(e) => Err(format!("{method}: {e}")),
            }
        }
    };
    match result {
        Ok(v) => json!({"jsonrpc": "2.0", "id": id, "result": v}),
        Err(message) => error_response(id, -32602, &message),
    }
}

/// Every method but `reload`; `None` for an unknown one.
fn call_sync(method: &str, params: &Value, router: &Arc<Router>) -> Option<Result<Value, String>> {
    Some(match method {
        "plugins" => Ok(tenants_json(router, true)),
        "stats" => Ok(stats(router)),
        "bans" => Ok(bans(router)),
        "unban" => unban(params, router),
        "core.version" => Ok(json!({
            "name": "sipwasm",
            "version": env!("CARGO_PKG_VERSION"),
        })),
        "core.uptime" => Ok(uptime(router)),
        "tenant.list" => Ok(tenants_json(router, false)),
        "tenant.stats" => tenant_stats(params, router),
        "ul.dump" => ul_dump(params, router),
        "ul.show" => ul_show(params, router),
        "ul.rm" => ul_rm(params, router),
        "htable.dump" | "htable.get" | "htable.set" | "htable.seti" | "htable.delete"
        | "htable.flush" => htable(method, params, router),
        "tm.list" => Ok(Value::Array(router.proxy().transactions(MAX_LISTED))),
        "dns.cache" => Ok(dns_cache(router)),
        "log.level" => log_level(params),
        "shadow" => shadow(params, router),
        "shadow.show" => shadow_show(params, router),
        "shadow.stop" => shadow_stop(params, router),
        "shadow.promote" => shadow_promote(params, router),
        "dispatcher.list" => Ok(json!(router.local().dispatcher.dispatcher().list())),
        "dispatcher.set_state" => dispatcher_set_state(params, router),
        "dispatcher.reload" => dispatcher_reload(router),
        _ => return None,
    })
}

/// `dispatcher.set_state STATE SET URI` (Kamailio's RPC, same order): "ip" takes a
/// destination out until it answers probes, "a" puts it back, "d" disables it.
fn dispatcher_set_state(params: &Value, router: &Router) -> Result<Value, String> {
    let state = need(params, 0, "state")?;
    let set = need(params, 1, "set")?;
    let set = set
        .parse()
        .map_err(|_| format!("set {set:?} is not a number"))?;
    let uri = need(params, 2, "uri")?;
    router
        .local()
        .dispatcher
        .dispatcher()
        .set_state_of(set, &uri, &state)
        .map_err(|e| e.to_string())?;
    tracing::info!(set, %uri, %state, "dispatcher destination state set by ctl");
    Ok(json!({"set": set, "uri": uri, "state": state}))
}

/// `dispatcher.reload`: the destinations of the config file the router started with
/// (destinations kept keep their state and call counts; the probe settings stay).
fn dispatcher_reload(router: &Router) -> Result<Value, String> {
    let path = router
        .config_source()
        .ok_or("the router was not started from a config file")?;
    let cfg = sipwasm_config::Config::load(path).map_err(|e| e.to_string())?;
    let n = router
        .local()
        .dispatcher
        .dispatcher()
        .reload(cfg.dispatcher.sets)
        .map_err(|e| e.to_string())?;
    tracing::info!(destinations = n, "dispatcher sets reloaded by ctl");
    Ok(json!({"destinations": n}))
}

/// `shadow tenant path`: run the plugin at `path` beside the tenant's live version.
fn shadow(params: &Value, router: &Router) -> Result<Value, String> {
    let t = tenant_of(params, 0, router)?;
    let path = need(params, 1, "path")?;
    let version = router
        .tenants()
        .shadow(t.name(), std::path::Path::new(&path))
        .map_err(|e| sipwasm_runtime::Report(&e).to_string())?;
    Ok(json!({"tenant": t.name(), "shadow_version": version, "live_version": t.current().number}))
}

fn shadow_stop(params: &Value, router: &Router) -> Result<Value, String> {
    let t = tenant_of(params, 0, router)?;
    let counted = router
        .tenants()
        .stop_shadow(t.name())
        .map_err(|e| e.to_string())?;
    Ok(json!({"tenant": t.name(), "stopped": counted}))
}

fn shadow_show(params: &Value, router: &Router) -> Result<Value, String> {
    let chosen: Vec<Arc<Tenant>> = match arg(params, 0, "tenant") {
        None => router.tenants().list().to_vec(),
        Some(_) => vec![tenant_of(params, 0, router)?],
    };
    Ok(Value::Object(
        chosen
            .iter()
            .filter_map(|t| t.shadow().map(|s| (t.name().to_string(), s.describe())))
            .collect(),
    ))
}

fn shadow_promote(params: &Value, router: &Router) -> Result<Value, String> {
    let t = tenant_of(params, 0, router)?;
    let (outcome, counted) = router
        .tenants()
        .promote(t.name())
        .map_err(|e| sipwasm_runtime::Report(&e).to_string())?;
    match outcome {
        ReloadOutcome::Swapped { version, .. } => Ok(
            json!({"tenant": t.name(), "outcome": "swapped", "version": version, "shadow": counted}),
        ),
        ReloadOutcome::Unchanged { version } => Ok(
            json!({"tenant": t.name(), "outcome": "unchanged", "version": version, "shadow": counted}),
        ),
        ReloadOutcome::Failed { error } => Err(format!(
            "promote of {}: {}",
            t.name(),
            sipwasm_runtime::Report(&error)
        )),
    }
}

fn uptime(router: &Router) -> Value {
    let since = |t: std::time::SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let now = std::time::SystemTime::now();
    json!({
        "now": since(now),
        "up_since": since(router.started()),
        "uptime_s": now.duration_since(router.started()).map_or(0, |d| d.as_secs()),
    })
}

/// The tenant named by `tenant` in `params` (the default one when none is).
fn tenant_of(params: &Value, index: usize, router: &Router) -> Result<Arc<Tenant>, String> {
    let tenants = router.tenants();
    match arg(params, index, "tenant") {
        None => Ok(tenants.default_tenant().clone()),
        Some(name) => tenants
            .get(&name)
            .cloned()
            .ok_or_else(|| format!("no tenant {name:?}")),
    }
}

fn tenant_stats(params: &Value, router: &Router) -> Result<Value, String> {
    let tenants = router.tenants();
    let chosen: Vec<Arc<Tenant>> = match arg(params, 0, "tenant") {
        None => tenants.list().to_vec(),
        Some(_) => vec![tenant_of(params, 0, router)?],
    };
    Ok(Value::Object(
        chosen
            .iter()
            .map(|t| {
                (
                    t.name().to_string(),
                    json!({"standing": standing(router, t), "counters": counters(router, t)}),
                )
            })
            .collect(),
    ))
}

/// A binding as `ctl` shows it: as stored, with the seconds it has left.
fn binding_json(b: &sipwasm_routing::registrar::Binding, now: u64) -> Value {
    let mut v = serde_json::to_value(b).unwrap_or(Value::Null);
    v["expires_in"] = b.expires_at.saturating_sub(now).into();
    v
}

fn ul_dump(params: &Value, router: &Router) -> Result<Value, String> {
    let table = arg(params, 0, "table");
    let t = tenant_of(params, 1, router)?;
    let now = crate::now_unix();
    let all = t
        .local()
        .location
        .dump(table.as_deref(), now, MAX_LISTED)
        .map_err(|e| e.to_string())?;
    Ok(Value::Array(
        all.iter()
            .map(|(table, aor, list)| {
                json!({"table": table, "aor": aor,
                       "bindings": list.iter().map(|b| binding_json(b, now)).collect::<Vec<_>>()})
            })
            .collect(),
    ))
}

fn ul_show(params: &Value, router: &Router) -> Result<Value, String> {
    let aor = need(params, 0, "aor")?;
    let table = arg(params, 1, "table").unwrap_or_else(|| "location".into());
    let t = tenant_of(params, 2, router)?;
    let now = crate::now_unix();
    let list = t.local().location.bindings(&table, &aor, now);
    if list.is_empty() {
        return Err(format!("{aor} is not registered in {table}"));
    }
    Ok(json!({"table": table, "aor": aor,
              "bindings": list.iter().map(|b| binding_json(b, now)).collect::<Vec<_>>()}))
}

fn ul_rm(params: &Value, router: &Router) -> Result<Value, String> {
    let aor = need(params, 0, "aor")?;
    let table = arg(params, 1, "table").unwrap_or_else(|| "location".into());
    let t = tenant_of(params, 2, router)?;
    let removed = t
        .local()
        .location
        .remove(&table, &aor, crate::now_unix())
        .map_err(|e| e.to_string())?;
    tracing::info!(
        aor,
        table,
        tenant = t.name(),
        removed,
        "registrations removed by ctl"
    );
    Ok(json!({ "removed": removed }))
}

fn ht_json(v: &sipwasm_routing::HtValue) -> Value {
    match v {
        sipwasm_routing::HtValue::Int(i) => json!(i),
        sipwasm_routing::HtValue::Str(s) => json!(s),
    }
}

fn htable(method: &str, params: &Value, router: &Router) -> Result<Value, String> {
    use sipwasm_routing::HtValue;
    let tables = &router.local().htables;
    let table = need(params, 0, "table")?;
    let now = crate::now_unix();
    let e = |e: sipwasm_routing::HtError| e.to_string();
    match method {
        "htable.dump" => Ok(Value::Object(
            tables
                .dump(&table, now)
                .map_err(e)?
                .iter()
                .map(|(k, v)| (k.clone(), ht_json(v)))
                .collect(),
        )),
        "htable.flush" => {
            let n = tables.flush(&table).map_err(e)?;
            tracing::info!(table, removed = n, "htable flushed by ctl");
            Ok(json!({ "removed": n }))
        }
        _ => {
            let key = need(params, 1, "key")?;
            match method {
                "htable.get" => Ok(tables
                    .get(&table, &key, now)
                    .map_err(e)?
                    .as_ref()
                    .map_or(Value::Null, ht_json)),
                "htable.delete" => {
                    Ok(json!({"deleted": tables.delete(&table, &key, now).map_err(e)?}))
                }
                _ => {
                    let value = need(params, 2, "value")?;
                    let value = if method == "htable.seti" {
                        HtValue::Int(
                            value
                                .parse()
                                .map_err(|_| format!("{value:?} is not an integer"))?,
                        )
                    } else {
                        HtValue::Str(value)
                    };
                    tables.set(&table, &key, value, now).map_err(e)?;
                    Ok(json!({"set": key}))
                }
            }
        }
    }
}

fn dns_cache(router: &Router) -> Value {
    Value::Array(
        router
            .proxy()
            .resolver()
            .cached()
            .into_iter()
            .map(|(target, age, r)| match r {
                Ok(hops) => json!({"target": target, "age_s": age, "hops": hops}),
                Err(e) => json!({"target": target, "age_s": age, "error": e}),
            })
            .collect(),
    )
}

fn log_level(params: &Value) -> Result<Value, String> {
    if let Some(filter) = arg(params, 0, "filter") {
        crate::logging::set_level(&filter)?;
    }
    Ok(json!({ "filter": crate::logging::level() }))
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
        "memory_bytes": s.memory_bytes,
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
        "pike_blocked": t.local().pike.blocked_total.load(Ordering::Relaxed),
        "pike_sources": t.local().pike.len(),
        "ratelimit_dropped": t.local().ratelimit.dropped.load(Ordering::Relaxed),
        "calls": t.local().calls.total(),
        "calls_admitted": calls.admitted.load(Ordering::Relaxed),
        "calls_refused_concurrent": calls.refused_concurrent.load(Ordering::Relaxed),
        "calls_refused_per_minute": calls.refused_per_minute.load(Ordering::Relaxed),
        "dialogs_not_recorded": t.local().dialogs.not_recorded(),
        "swaps": t.reload_status().reloads,
        "shadow_compared": t.shadow().map_or(0, |s| s.compared.load(Ordering::Relaxed)),
        "shadow_differed": t.shadow().map_or(0, |s| s.differed.load(Ordering::Relaxed)),
        "shadow_failed": t.shadow().map_or(0, |s| s.failed.load(Ordering::Relaxed)),
        "event_time_us": event_times(&s.event_times),
        "plugin_stats": t.local().statistics.snapshot(),
    })
}

/// A tenant's events by guest CPU time: `{"50": n, "100": n, ..., "+Inf": n}`, the
/// events of each bucket (up to its bound, past the one before).
fn event_times(times: &sipwasm_runtime::EventTimes) -> Value {
    let bounds = sipwasm_runtime::EVENT_TIME_BOUNDS_US
        .iter()
        .map(|b| b.to_string())
        .chain(["+Inf".to_string()]);
    Value::Object(bounds.zip(times.iter().map(|&n| json!(n))).collect())
}

/// SIP requests received by method, replies received and sent by class.
fn sip(router: &Router) -> Value {
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let classes = |counts: &[std::sync::atomic::AtomicU64; 6]| -> Value {
        Value::Object(
            counts
                .iter()
                .enumerate()
                .map(|(i, c)| (format!("{}xx", i + 1), json!(load(c))))
                .collect(),
        )
    };
    let r = router.stats();
    json!({
        "requests": Value::Object(
            crate::server::METHODS
                .iter()
                .zip(&r.requests)
                .map(|(m, c)| (m.as_str().to_string(), json!(load(c))))
                .collect(),
        ),
        "replies_received": classes(&r.replies),
        "replies_sent": classes(&router.outlet().stats().replies_sent),
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

/// Every tenant: who it is and the version it runs (`tenant.list`), with its reload
/// history, standing and counters when `detailed` (`plugins`).
fn tenants_json(router: &Router, detailed: bool) -> Value {
    let tenants = router.tenants();
    Value::Array(
        tenants
            .list()
            .iter()
            .map(|t| {
                let v = t.current();
                let mut out = json!({
                    "tenant": t.name(),
                    "default": Arc::ptr_eq(t, tenants.default_tenant()),
                    "domains": t.config.domains,
                    "path": t.config.plugin_path.display().to_string(),
                    "version": v.number,
                    "state": t.account().describe().0,
                });
                if detailed {
                    let r = t.reload_status();
                    let loaded_at = v
                        .loaded_at
                        .duration_since(UNIX_EPOCH)
                        .map_or(0.0, |d| d.as_secs_f64());
                    let more = json!({
                        "sha256": v.plugin.report().sha256,
                        "loaded_at": loaded_at,
                        "load_ms": v.load_time.as_millis() as u64,
                        "from_cache": v.plugin.report().from_cache,
                        "reloads": r.reloads,
                        "failed_reloads": r.failed_reloads,
                        "last_error": r.last_error,
                        "standing": standing(router, t),
                        "counters": counters(router, t),
                    });
                    if let (Some(o), Value::Object(m)) = (out.as_object_mut(), more) {
                        o.extend(m);
                    }
                }
                out
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

fn unban(params: &Value, router: &Arc<Router>) -> Result<Value, String> {
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

/// Every counter `ctl stats` shows: the router's, the transaction layer's, `[security]`'s, SIP
/// requests and replies, htable sizes and each tenant's (`/metrics` is made from it).
pub fn stats(router: &Arc<Router>) -> Value {
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
            "timer_events": load(&r.timer_events),
            "timer_events_refused": load(&r.timer_events_refused),
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
        "msrp": {
            "frames_received": load(&r.msrp_frames),
            "bytes_received": load(&r.msrp_bytes),
            "frames_sent": load(&r.msrp_frames_sent),
            "bytes_sent": load(&r.msrp_bytes_sent),
            "connections": router.outlet().msrp_connections(),
        },
        "security": security(router),
        "sip": sip(router),
        "htables": Value::Object(
            router
                .local()
                .htables
                .sizes()
                .into_iter()
                .filter_map(|(name, n)| n.ok().map(|n| (name, json!(n))))
                .collect(),
        ),
        "tenants": tenants,
    })
}

/// Send one request to the router listening on `socket` and return its `result` (or the
/// error it answered).
pub fn call(
    socket: &Path,
    method: &str,
    params: Value,
    token: Option<&str>,
) -> anyhow::Result<Value> {
    use anyhow::Context;
    use std::io::{BufRead, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(socket).with_context(|| {
        format!(
            "connecting to {} (is the router running with [control] socket set?)",
            socket.display()
        )
    })?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(120)))?;
    let mut request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    if let Some(token) = token {
        request["token"] = token.into();
    }
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
