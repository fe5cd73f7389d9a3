//! Registrations shared by several routers in Redis (or Valkey): each tenant's location
//! tables under `{key_prefix}{tenant}:location:{table}:{aor}`, one hash per AOR (`v`: a
//! version, `b`: the bindings as JSON) that expires with its last binding. Writes are
//! compare-and-set on the version (a Lua script) and announce the change on the
//! `{key_prefix}changes` channel; every router drops its cached copy of what another
//! router changed, so a lookup costs a round trip only after a change, a restart or a
//! gap in the notices.
//!
//! The guard's bans are shared too: a ban made by one router is published on
//! `{key_prefix}bans` and kept in the `{key_prefix}bans` hash until it ends, so every
//! router (one started later included) drops the guesser; `ctl unban` on one lifts it on
//! all.
//!
//! The workers are threads, not tasks: a call blocks its worker for one round trip on
//! the shared runtime (bounded by `timeout`). When Redis cannot be reached the router
//! keeps routing with what it has cached, refuses REGISTERs with 503 (nothing is
//! claimed stored that is not), logs once when Redis goes away and once when it is
//! back, and reconnects with growing delays.

use futures_util::StreamExt;
use sipwasm_routing::auth::guard::{Guard, Shared, source_key};
use sipwasm_routing::registrar::{Binding, Invalidator, LocationStore, StoreError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Store `ARGV[2]` (bindings; empty: none) as the next version of `KEYS[1]` if it is
/// still at version `ARGV[1]`, expiring at `ARGV[3]`; announce `ARGV[5]` on `ARGV[4]`. An
/// AOR left without bindings keeps its version for a day (a deleted key would start
/// again at 0, and a router holding an older read of version 1 could then overwrite a
/// newer version 1).
const COMPARE_AND_SET: &str = r"
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[1]) then return 0 end
if ARGV[2] == '' then
  redis.call('HSET', KEYS[1], 'v', v + 1, 'b', '[]')
  redis.call('EXPIRE', KEYS[1], 86400)
else
  redis.call('HSET', KEYS[1], 'v', v + 1, 'b', ARGV[2])
  redis.call('EXPIREAT', KEYS[1], ARGV[3])
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
";

/// Why the state backend could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The URL or client settings were refused.
    #[error("state backend {url}: {error}")]
    Client {
        /// The URL, without credentials.
        url: String,
        /// What was wrong.
        error: redis::RedisError,
    },
}

/// A connection to the Redis server all routers share, and the tenants' caches it keeps
/// fresh.
pub struct RedisState {
    manager: redis::aio::ConnectionManager,
    runtime: tokio::runtime::Handle,
    prefix: String,
    /// This process, in the notices it sends and the bindings it saves.
    instance: String,
    timeout: Duration,
    /// Redis answered the last command (a change is logged once); while not, commands
    /// fail at once.
    up: Arc<AtomicBool>,
    /// The change notices are being received: cached copies are good.
    listening: Arc<AtomicBool>,
    /// Each tenant's cache, by tenant name.
    caches: Arc<Mutex<HashMap<String, Invalidator>>>,
    /// The guard whose bans are shared, once the router has one.
    guard: Arc<std::sync::OnceLock<Arc<Guard>>>,
    script: redis::Script,
}

impl std::fmt::Debug for RedisState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisState")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `url` without a password, for logs.
fn shown(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, _)), Some(at)) => format!("{scheme}://***{}", &url[at..]),
        _ => url.to_string(),
    }
}

impl RedisState {
    /// Connect lazily to `url` (the router starts with Redis down, and serves from what it
    /// learns once it is up) and start listening for other routers' changes.
    pub fn start(
        url: &str,
        key_prefix: &str,
        timeout: Duration,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Arc<RedisState>, StateError> {
        let client_error = |error| StateError::Client {
            url: shown(url),
            error,
        };
        let client = redis::Client::open(url).map_err(client_error)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(100))
            .set_max_delay(Duration::from_secs(5));
        let manager = {
            let _in_runtime = runtime.enter();
            redis::aio::ConnectionManager::new_lazy_with_config(client.clone(), config)
                .map_err(client_error)?
        };
        let mut id = [0u8; 6];
        let _ = getrandom::fill(&mut id);
        let instance = format!(
            "{}-{}",
            std::process::id(),
            id.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let state = Arc::new(RedisState {
            manager,
            runtime: runtime.clone(),
            prefix: key_prefix.to_string(),
            instance,
            timeout,
            up: Arc::new(AtomicBool::new(true)),
            listening: Arc::default(),
            caches: Arc::default(),
            guard: Arc::default(),
            script: redis::Script::new(COMPARE_AND_SET),
        });
        runtime.spawn(listen(
            client,
            Listener {
                changes: state.channel(),
                bans: state.bans_key(),
                me: state.instance.clone(),
                listening: state.listening.clone(),
                up: state.up.clone(),
                caches: state.caches.clone(),
                guard: state.guard.clone(),
                url: shown(url),
            },
        ));
        tracing::info!(url = %shown(url), instance = %state.instance, "registrations are shared in Redis");
        Ok(state)
    }

    fn channel(&self) -> String {
        format!("{}changes", self.prefix)
    }

    /// The channel bans are announced on, and the hash they are kept in.
    fn bans_key(&self) -> String {
        format!("{}bans", self.prefix)
    }

    /// Share `guard`'s bans with the other routers, and take theirs (those in force now
    /// included).
    pub fn share_bans(self: &Arc<Self>, guard: &Arc<Guard>) {
        if self.guard.set(guard.clone()).is_err() {
            return;
        }
        let weak = Arc::downgrade(self);
        guard.share_with(Box::new(move |what| {
            if let Some(state) = weak.upgrade() {
                state.announce(what);
            }
        }));
        // the bans in force, kept by the routers that made them
        let (mut conn, key, guard) = (self.manager.clone(), self.bans_key(), guard.clone());
        self.runtime.spawn(async move {
            let kept: redis::RedisResult<HashMap<String, String>> =
                redis::cmd("HGETALL").arg(&key).query_async(&mut conn).await;
            let now = crate::now_unix();
            let mut ended = Vec::new();
            for (source, value) in kept.unwrap_or_default() {
                let parsed = value
                    .split_once(' ')
                    .and_then(|(until, user)| Some((until.parse::<u64>().ok()?, user)));
                match (source.parse(), parsed) {
                    (Ok(net), Some((until, user))) if until > now => {
                        guard.impose(net, until, user, now);
                    }
                    // ended (nothing else removes a field), or not ours to read
                    _ => ended.push(source),
                }
            }
            if !ended.is_empty() {
                let _: redis::RedisResult<()> = redis::cmd("HDEL")
                    .arg(&key)
                    .arg(&ended)
                    .query_async(&mut conn)
                    .await;
            }
        });
    }

    /// Tell the other routers about a ban made or lifted here (without holding up the
    /// worker: a lost announcement costs a ban on one router, not a request).
    fn announce(&self, what: Shared) {
        let mut conn = self.manager.clone();
        let key = self.bans_key();
        let me = self.instance.clone();
        self.runtime.spawn(async move {
            let mut pipe = redis::pipe();
            match &what {
                Shared::Ban {
                    source,
                    until,
                    user,
                } => {
                    pipe.hset(&key, source.to_string(), format!("{until} {user}"))
                        .publish(&key, format!("{me}\nban\n{source}\n{until}\n{user}"));
                }
                Shared::Lift(Some(source)) => {
                    pipe.hdel(&key, source.to_string())
                        .publish(&key, format!("{me}\nlift\n{source}"));
                }
                Shared::Lift(None) => {
                    pipe.del(&key).publish(&key, format!("{me}\nlift\n*"));
                }
            }
            let result: redis::RedisResult<()> = pipe.query_async(&mut conn).await;
            if let Err(e) = result {
                tracing::debug!(?what, "ban not shared: {e}");
            }
        });
    }

    /// The location store of `tenant`, whose cache `invalidator` drops.
    pub fn location(self: &Arc<Self>, tenant: &str) -> Arc<dyn LocationStore> {
        Arc::new(RedisLocation {
            state: self.clone(),
            tenant: tenant.to_string(),
        })
    }

    /// Keep `tenant`'s cache fresh with the change notices.
    pub fn watch(&self, tenant: &str, invalidator: Invalidator) {
        lock(&self.caches).insert(tenant.to_string(), invalidator);
    }

    /// This router process.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// True when Redis answered the last command.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// PING Redis with growing delays until it answers (the commands fail at once
    /// meanwhile).
    fn probe(&self) {
        let (mut conn, up, timeout) = (self.manager.clone(), self.up.clone(), self.timeout);
        self.runtime.spawn(async move {
            let mut delay = Duration::from_millis(100);
            while !up.load(Ordering::Relaxed) {
                tokio::time::sleep(delay).await;
                if pong(&mut conn, timeout).await {
                    note_up(&up, true, "");
                }
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        });
    }

    /// Ask Redis now (a PING, bounded by the timeout), for health checks.
    pub async fn ping(&self) -> bool {
        let up = pong(&mut self.manager.clone(), self.timeout).await;
        if note_up(&self.up, up, "no answer to PING") && !up {
            self.probe();
        }
        up
    }

    /// Run `op` on the connection from a worker thread, bounded by the timeout; notes
    /// (and logs once) Redis going away and coming back.
    fn run<T>(
        &self,
        op: impl AsyncFn(redis::aio::ConnectionManager) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        if !self.up.load(Ordering::Relaxed) {
            // down: fail at once (the listener and health checks notice it coming back)
            // rather than hold every worker for the timeout
            return Err(StoreError("Redis unreachable".into()));
        }
        let conn = self.manager.clone();
        let timeout = self.timeout;
        let fut = async move {
            let attempt = async || match tokio::time::timeout(timeout, op(conn.clone())).await {
                Ok(r) => r,
                Err(_) => Err(redis::RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer in {} ms", timeout.as_millis()),
                ))),
            };
            match attempt().await {
                // a connection Redis dropped (it restarted): the manager reconnects, once
                Err(e) if e.is_connection_dropped() || e.is_connection_refusal() => {
                    attempt().await.map_err(|e| e.to_string())
                }
                r => r.map_err(|e| e.to_string()),
            }
        };
        let result = match tokio::runtime::Handle::try_current() {
            // on a runtime thread (not the workers' case): let the runtime go on meanwhile
            Ok(_) => tokio::task::block_in_place(|| self.runtime.block_on(fut)),
            Err(_) => self.runtime.block_on(fut),
        };
        match result {
            Ok(v) => {
                note_up(&self.up, true, "");
                Ok(v)
            }
            Err(e) => {
                if note_up(&self.up, false, &e) {
                    self.probe();
                }
                Err(StoreError(e))
            }
        }
    }
}

/// Note whether Redis answers; a change is logged once, and reported (true).
fn note_up(up: &AtomicBool, answers: bool, why: &str) -> bool {
    let changed = up.swap(answers, Ordering::Relaxed) != answers;
    match (changed, answers) {
        (true, true) => tracing::info!("state backend (Redis) reachable again"),
        (true, false) => tracing::warn!(
            "state backend (Redis) unreachable: {why}; REGISTERs get 503, lookups use the cache"
        ),
        _ => {}
    }
    changed
}

/// True when Redis answers a PING within `timeout`.
async fn pong(conn: &mut redis::aio::ConnectionManager, timeout: Duration) -> bool {
    let ping = redis::cmd("PING");
    let answer = tokio::time::timeout(timeout, ping.query_async::<String>(conn)).await;
    matches!(answer, Ok(Ok(_)))
}

/// What the listening task needs.
struct Listener {
    changes: String,
    bans: String,
    me: String,
    listening: Arc<AtomicBool>,
    up: Arc<AtomicBool>,
    caches: Arc<Mutex<HashMap<String, Invalidator>>>,
    guard: Arc<std::sync::OnceLock<Arc<Guard>>>,
    url: String,
}

impl Listener {
    /// A registration change of another router: drop the cached copy.
    fn changed(&self, text: &str) {
        let mut parts = text.splitn(4, '\n');
        let (Some(from), Some(tenant), Some(table), Some(aor)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return;
        };
        if from != self.me
            && let Some(cache) = lock(&self.caches).get(tenant)
        {
            cache.invalidate(Some((table, aor)));
        }
    }

    /// A ban made or lifted by another router: the same here.
    fn banned(&self, text: &str) {
        let parts: Vec<&str> = text.splitn(5, '\n').collect();
        let Some(guard) = self.guard.get() else {
            return;
        };
        match parts.as_slice() {
            [from, ..] if *from == self.me => {}
            [_, "ban", source, until, user] => {
                if let (Ok(source), Ok(until)) = (source.parse(), until.parse()) {
                    guard.impose(source, until, user, crate::now_unix());
                }
            }
            [_, "lift", "*"] => {
                guard.lift(None);
            }
            [_, "lift", source] => {
                if let Ok(ip) = source.parse::<ipnet::IpNet>() {
                    guard.lift(Some(source_key(ip.addr())));
                }
            }
            _ => {}
        }
    }
}

/// Listen for other routers' changes and bans: drop the cached copies they name, ban
/// what they banned; after any gap (not yet subscribed, a lost connection), drop every
/// cached copy once subscribed again. Reconnects with growing delays.
async fn listen(client: redis::Client, l: Listener) {
    let mut delay = Duration::from_millis(100);
    let mut logged = false;
    loop {
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&[&l.changes, &l.bans]).await?;
            Ok::<_, redis::RedisError>(pubsub)
        }
        .await;
        match subscribed {
            Ok(mut pubsub) => {
                // whatever changed while nobody listened is unknown: forget it all
                for cache in lock(&l.caches).values() {
                    cache.invalidate(None);
                }
                l.listening.store(true, Ordering::SeqCst);
                note_up(&l.up, true, "");
                if logged {
                    tracing::info!(url = %l.url, "state change notices received again");
                }
                delay = Duration::from_millis(100);
                let mut messages = pubsub.on_message();
                while let Some(msg) = messages.next().await {
                    let Ok(text) = msg.get_payload::<String>() else {
                        continue;
                    };
                    if msg.get_channel_name() == l.bans {
                        l.banned(&text);
                    } else {
                        l.changed(&text);
                    }
                }
                l.listening.store(false, Ordering::SeqCst);
                tracing::warn!(url = %l.url, "state change notices lost: lookups go to Redis until they are back");
                logged = true;
            }
            Err(e) => {
                l.listening.store(false, Ordering::SeqCst);
                if !logged {
                    tracing::warn!(url = %l.url, "cannot listen for state changes: {e}; retrying");
                    logged = true;
                }
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// One tenant's location tables in Redis.
struct RedisLocation {
    state: Arc<RedisState>,
    tenant: String,
}

impl RedisLocation {
    fn key(&self, table: &str, aor: &str) -> String {
        format!(
            "{}{}:location:{table}:{aor}",
            self.state.prefix, self.tenant
        )
    }
}

impl LocationStore for RedisLocation {
    fn instance(&self) -> &str {
        &self.state.instance
    }

    fn load(&self, table: &str, aor: &str) -> Result<(Vec<Binding>, u64), StoreError> {
        let key = self.key(table, aor);
        let (version, bindings): (Option<u64>, Option<String>) =
            self.state.run(async move |mut c| {
                redis::cmd("HMGET")
                    .arg(&key)
                    .arg("v")
                    .arg("b")
                    .query_async(&mut c)
                    .await
            })?;
        let bindings = match bindings {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| StoreError(format!("stored bindings of {aor}: {e}")))?,
            None => Vec::new(),
        };
        Ok((bindings, version.unwrap_or(0)))
    }

    fn store(
        &self,
        table: &str,
        aor: &str,
        version: u64,
        bindings: &[Binding],
    ) -> Result<bool, StoreError> {
        let key = self.key(table, aor);
        let json = if bindings.is_empty() {
            String::new()
        } else {
            serde_json::to_string(bindings).map_err(|e| StoreError(e.to_string()))?
        };
        let expires_at = bindings.iter().map(|b| b.expires_at).max().unwrap_or(0);
        let notice = format!("{}\n{}\n{table}\n{aor}", self.state.instance, self.tenant);
        let channel = self.state.channel();
        let script = self.state.script.clone();
        let stored: i64 = self.state.run(async move |mut c| {
            script
                .key(&key)
                .arg(version)
                .arg(&json)
                .arg(expires_at)
                .arg(&channel)
                .arg(&notice)
                .invoke_async(&mut c)
                .await
        })?;
        Ok(stored == 1)
    }

    fn cache_valid(&self) -> bool {
        self.state.listening.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_logged_without_passwords() {
        assert_eq!(
            shown("redis://user:secret@10.0.0.1:6379/0"),
            "redis://***@10.0.0.1:6379/0"
        );
        assert_eq!(shown("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
