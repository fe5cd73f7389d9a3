//! Registrations shared by several routers in Redis (or Valkey): each tenant's location
//! tables under `{key_prefix}{tenant}:location:{table}:{aor}`, one hash per AOR (`v`: a
//! version, `b`: the bindings as JSON) that expires with its last binding. Writes are
//! compare-and-set on the version (a Lua script) and announce the change on the
//! `{key_prefix}changes` channel; every router drops its cached copy of what another
//! router changed, so a lookup costs a round trip only after a change, a restart or a
//! gap in the notices.
//!
//! Htables live there too when Redis is the backend: one hash per table
//! (`{key_prefix}htable:{table}`, a value per key) and a sorted set of expiry times
//! (`…:expiry`), changed only by Lua scripts, so `incr` is atomic across routers, an entry
//! expires on its own schedule and `max_entries` holds for all routers together.
//!
//! Digest nonces: routers sharing Redis sign them with one key (`[router] secret`, or
//! else a key the first router leaves in `{key_prefix}secret`), so a nonce one issued is
//! accepted by all, and each use is recorded in `{key_prefix}{tenant}:nonce:{id}` until
//! the nonce expires, so a nonce count used on one router is a replay on every other.
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
use sipwasm_routing::auth::{NONCE_LIFETIME, NonceLedger};
use sipwasm_routing::htable::{HtError, HtValue, HtableSpec, TableStore};
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

/// Record a use of nonce `KEYS[1]`: `ARGV[1]` its nonce count ('' without qop), kept
/// `ARGV[2]` more seconds (relative: the routers' clocks are not Redis'). 1 when new, 0
/// for a replay.
const NONCE_USE: &str = r"
if ARGV[1] == '' then
  if redis.call('HSETNX', KEYS[1], 'once', 1) == 0 then return 0 end
else
  local m = tonumber(redis.call('HGET', KEYS[1], 'nc') or '0')
  if tonumber(ARGV[1]) <= m then return 0 end
  redis.call('HSET', KEYS[1], 'nc', ARGV[1])
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
";

/// Leave `ARGV[1]` in `KEYS[1]` unless a key is there already; the key there.
const SHARED_SECRET: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
";

/// What every htable script starts with: `KEYS[1]` is the table's hash, `KEYS[2]` its
/// expiry times, `now` Redis' clock (the routers' clocks may differ; Redis' is the one
/// every router's entries are judged by). `live` drops `key` when it expired; `room` says
/// whether `key` can be stored (it exists, or the table is under `max` once the expired
/// entries are gone); `keep` records `key`'s expiry `ttl` seconds from now ('' for never).
const HTABLE_LIB: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function live(key)
  local e = redis.call('ZSCORE', KEYS[2], key)
  if e and tonumber(e) <= now then
    redis.call('HDEL', KEYS[1], key)
    redis.call('ZREM', KEYS[2], key)
    return false
  end
  return true
end
local function room(key, max)
  if redis.call('HEXISTS', KEYS[1], key) == 1 then return true end
  if redis.call('HLEN', KEYS[1]) < max then return true end
  local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
  for _, k in ipairs(gone) do redis.call('HDEL', KEYS[1], k) end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  return redis.call('HLEN', KEYS[1]) < max
end
local function keep(key, ttl)
  if ttl == '' then redis.call('ZREM', KEYS[2], key)
  else redis.call('ZADD', KEYS[2], now + tonumber(ttl), key) end
end
";

/// `ARGV`: key.
const HTABLE_GET: &str = r"
if not live(ARGV[1]) then return false end
return redis.call('HGET', KEYS[1], ARGV[1])
";

/// `ARGV`: key, encoded value, seconds to live, max entries.
const HTABLE_SET: &str = r"
if not room(ARGV[1], tonumber(ARGV[4])) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
keep(ARGV[1], ARGV[3])
return 1
";

/// `ARGV`: key.
const HTABLE_DELETE: &str = r"
if not live(ARGV[1]) then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('HDEL', KEYS[1], ARGV[1])
";

/// `ARGV`: key, by, seconds to live (for a key it creates: an existing one keeps its
/// expiry), max entries, then for bounds: min, max and -by (or '' for none). The new value
/// is read back as text (a Lua number would round integers over 2^53); outside the
/// bounds nothing changes and the answer is `{2, ''}`.
const HTABLE_INCR: &str = r"
live(ARGV[1])
local existed = redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1
if ARGV[5] ~= '' then
  -- out of bounds is told before a full table (as the memory tables tell it)
  local v = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
  if v and (v + tonumber(ARGV[2]) < tonumber(ARGV[5]) or v + tonumber(ARGV[2]) > tonumber(ARGV[6])) then
    return {2, ''}
  end
end
if not room(ARGV[1], tonumber(ARGV[4])) then return {0, 'full'} end
local r = redis.pcall('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if type(r) == 'table' and r.err then return {0, r.err} end
if ARGV[5] ~= '' and (r < tonumber(ARGV[5]) or r > tonumber(ARGV[6])) then
  if existed then redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[7])
  else redis.call('HDEL', KEYS[1], ARGV[1]) end
  return {2, ''}
end
if not existed then keep(ARGV[1], ARGV[3]) end
return {1, redis.call('HGET', KEYS[1], ARGV[1])}
";

/// Every live key and value, flat.
const HTABLE_DUMP: &str = r"
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local e = redis.call('ZSCORE', KEYS[2], all[i])
  if not e or tonumber(e) > now then
    out[#out + 1] = all[i]
    out[#out + 1] = all[i + 1]
  end
end
return out
";

/// Remove every entry; how many there were.
const HTABLE_FLUSH: &str = r"
local n = redis.call('HLEN', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2])
return n
";

/// Drops up to 1,000 expired entries.
const HTABLE_PURGE: &str = r"
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
for _, k in ipairs(gone) do
  redis.call('HDEL', KEYS[1], k)
  redis.call('ZREM', KEYS[2], k)
end
return #gone
";

/// How long an operator's command (`ctl ul.dump`) may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a router without `[router] secret` waits at start for Redis to give it the
/// routers' shared key.
const SECRET_WAIT: Duration = Duration::from_secs(10);

/// Why the state backend could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// No `[router] secret`, and the routers' shared key could not be read from Redis.
    #[error(
        "no [router] secret and Redis did not give the routers' shared key ({0}): set \
         [router] secret (the same on every router) to start without Redis"
    )]
    NoSecret(String),
    /// A certificate or key file for TLS to Redis could not be read.
    #[error("state backend TLS file {path}: {error}")]
    TlsFile {
        /// Which file.
        path: std::path::PathBuf,
        /// Why.
        error: std::io::Error,
    },
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
    htable_scripts: Arc<HtableScripts>,
    nonce_script: redis::Script,
}

/// The htable scripts, compiled once (their SHA1s are sent; the text only when Redis
/// does not know them yet).
struct HtableScripts {
    get: redis::Script,
    set: redis::Script,
    delete: redis::Script,
    incr: redis::Script,
    purge: redis::Script,
    dump: redis::Script,
    flush: redis::Script,
}

impl HtableScripts {
    fn new() -> HtableScripts {
        let script = |body: &str| redis::Script::new(&format!("{HTABLE_LIB}{body}"));
        HtableScripts {
            get: script(HTABLE_GET),
            set: script(HTABLE_SET),
            delete: script(HTABLE_DELETE),
            incr: script(HTABLE_INCR),
            purge: script(HTABLE_PURGE),
            dump: script(HTABLE_DUMP),
            flush: script(HTABLE_FLUSH),
        }
    }
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
        tls: Option<&sipwasm_config::RedisTls>,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Arc<RedisState>, StateError> {
        let client_error = |error| StateError::Client {
            url: shown(url),
            error,
        };
        let client = match tls {
            None => redis::Client::open(url).map_err(client_error)?,
            Some(tls) => {
                let read = |path: &std::path::Path| {
                    std::fs::read(path).map_err(|error| StateError::TlsFile {
                        path: path.to_path_buf(),
                        error,
                    })
                };
                let certificates = redis::TlsCertificates {
                    client_tls: match &tls.client_certificate {
                        Some((cert, key)) => Some(redis::ClientTlsConfig {
                            client_cert: read(cert)?,
                            client_key: read(key)?,
                        }),
                        None => None,
                    },
                    root_cert: tls.ca_file.as_deref().map(read).transpose()?,
                };
                redis::Client::build_with_tls(url, certificates).map_err(client_error)?
            }
        };
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(100))
            .set_max_delay(Duration::from_secs(1));
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
            htable_scripts: Arc::new(HtableScripts::new()),
            nonce_script: redis::Script::new(NONCE_USE),
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

    /// Where the table `spec` declares lives: in Redis, shared by every router.
    pub fn htable(self: &Arc<Self>, spec: &HtableSpec) -> Arc<dyn TableStore> {
        let key = format!("{}htable:{}", self.prefix, spec.name);
        Arc::new(RedisTable {
            state: self.clone(),
            table: spec.name.clone(),
            max_entries: spec.max_entries,
            expiry_key: format!("{key}:expiry"),
            key,
        })
    }

    /// Where `tenant`'s nonce uses are recorded.
    pub fn nonces(self: &Arc<Self>, tenant: &str) -> Arc<dyn NonceLedger> {
        Arc::new(RedisNonces {
            state: self.clone(),
            prefix: format!("{}{tenant}:nonce:", self.prefix),
        })
    }

    /// The key every router sharing this Redis signs with when the config gives none: the
    /// first router's, left in `{key_prefix}secret`. Redis is asked for up to
    /// [`SECRET_WAIT`]: a router signing with a key of its own would refuse the others'
    /// nonces, Record-Routes and Paths, and they its own, so it does not start without it.
    pub fn shared_secret(&self) -> Result<String, StateError> {
        let mut mine = [0u8; 32];
        getrandom::fill(&mut mine).map_err(|e| StateError::NoSecret(e.to_string()))?;
        let mine: String = mine.iter().map(|b| format!("{b:02x}")).collect();
        let key = format!("{}secret", self.prefix);
        let script = redis::Script::new(SHARED_SECRET);
        let deadline = std::time::Instant::now() + SECRET_WAIT;
        loop {
            let (key, mine, script) = (key.clone(), mine.clone(), script.clone());
            match self
                .run(async move |mut c| script.key(&key).arg(&mine).invoke_async(&mut c).await)
            {
                Ok(secret) => return Ok(secret),
                Err(e) if std::time::Instant::now() >= deadline => {
                    return Err(StateError::NoSecret(e.0));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(250)),
            }
        }
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
                // at most a second of 503s after Redis is back
                delay = (delay * 2).min(Duration::from_secs(1));
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
        self.run_within(self.timeout, true, op)
    }

    /// [`Self::run`] bounded by `timeout`; an operator's long command (`ctl ul.dump`)
    /// passes `false` for `health`: its timeout does not mark Redis down.
    fn run_within<T>(
        &self,
        timeout: Duration,
        health: bool,
        op: impl AsyncFn(redis::aio::ConnectionManager) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        if !self.up.load(Ordering::Relaxed) {
            // down: fail at once (the listener and health checks notice it coming back)
            // rather than hold every worker for the timeout
            return Err(StoreError("Redis unreachable".into()));
        }
        let conn = self.manager.clone();
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
                if health && note_up(&self.up, false, &e) {
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
        delay = (delay * 2).min(Duration::from_secs(1));
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

    fn aors(&self, table: Option<&str>, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        let prefix = format!("{}{}:location:", self.state.prefix, self.tenant);
        let pattern = match table {
            Some(t) => format!("{prefix}{t}:*"),
            None => format!("{prefix}*"),
        };
        // an operator's listing: its own, longer timeout, which does not mark Redis down
        let keys: Vec<String> =
            self.state
                .run_within(ADMIN_TIMEOUT, false, async move |mut c| {
                    use redis::AsyncCommands as _;
                    let options = redis::ScanOptions::default()
                        .with_pattern(&pattern)
                        .with_count(1000);
                    let mut keys = Vec::new();
                    let mut iter: redis::AsyncIter<'_, String> = c.scan_options(options).await?;
                    while let Some(key) = iter.next_item().await {
                        keys.push(key?);
                        if keys.len() >= limit {
                            break;
                        }
                    }
                    Ok(keys)
                })?;
        let mut out: Vec<(String, String)> = keys
            .iter()
            .filter_map(|k| k.strip_prefix(&prefix)?.split_once(':'))
            .map(|(t, aor)| (t.to_string(), aor.to_string()))
            .collect();
        // SCAN may return a key twice
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// One tenant's nonce uses in Redis.
#[derive(Debug)]
struct RedisNonces {
    state: Arc<RedisState>,
    /// `{key_prefix}{tenant}:nonce:`
    prefix: String,
}

impl NonceLedger for RedisNonces {
    fn record(&self, id: u64, issued: u64, nc: Option<u32>) -> Result<bool, String> {
        let key = format!("{}{id:016x}", self.prefix);
        let nc = nc.map(|n| n.to_string()).unwrap_or_default();
        // kept a little past the nonce's lifetime
        let until = (issued + NONCE_LIFETIME + 30)
            .saturating_sub(crate::now_unix())
            .max(1);
        let script = self.state.nonce_script.clone();
        let fresh: i64 = self
            .state
            .run(async move |mut c| {
                script
                    .key(&key)
                    .arg(&nc)
                    .arg(until)
                    .invoke_async(&mut c)
                    .await
            })
            .map_err(|e| e.0)?;
        Ok(fresh == 1)
    }

    fn reachable(&self) -> bool {
        self.state.is_up()
    }
}

/// One htable in Redis.
#[derive(Debug)]
struct RedisTable {
    state: Arc<RedisState>,
    table: String,
    max_entries: usize,
    /// The hash of values.
    key: String,
    /// The sorted set of expiry times.
    expiry_key: String,
}

/// A value as stored: an integer as its digits (so `HINCRBY` works on it), a string
/// behind an `s` (so `HINCRBY` refuses it).
fn encode(value: &HtValue) -> String {
    match value {
        HtValue::Int(i) => i.to_string(),
        HtValue::Str(s) => format!("s{s}"),
    }
}

fn decode(stored: String) -> Result<HtValue, HtError> {
    match stored.strip_prefix('s') {
        Some(s) => Ok(HtValue::Str(s.to_string())),
        None => stored
            .parse()
            .map(HtValue::Int)
            .map_err(|_| HtError::Unavailable(format!("stored value {stored:?} is not ours"))),
    }
}

/// An expiry as the scripts take it: seconds from now ('' for never), measured by Redis.
fn ttl_arg(expires_at: u64, now: u64) -> String {
    if expires_at == u64::MAX {
        String::new()
    } else {
        expires_at.saturating_sub(now).to_string()
    }
}

impl RedisTable {
    fn run<T: redis::FromRedisValue + Send + 'static>(
        &self,
        script: impl Fn(&HtableScripts) -> &redis::Script,
        args: Vec<String>,
    ) -> Result<T, HtError> {
        let script = script(&self.state.htable_scripts).clone();
        let (key, expiry_key) = (self.key.clone(), self.expiry_key.clone());
        self.state
            .run(async move |mut c| {
                let mut invocation = script.key(&key);
                invocation.key(&expiry_key);
                for a in &args {
                    invocation.arg(a);
                }
                invocation.invoke_async(&mut c).await
            })
            .map_err(|e| HtError::Unavailable(e.0))
    }
}

impl TableStore for RedisTable {
    fn is_shared(&self) -> bool {
        true
    }

    fn get(&self, key: &str, now: u64) -> Result<Option<HtValue>, HtError> {
        let _ = now; // Redis' clock judges expiry
        let stored: Option<String> = self.run(|s| &s.get, vec![key.to_string()])?;
        stored.map(decode).transpose()
    }

    fn set(&self, key: &str, value: HtValue, expires_at: u64, now: u64) -> Result<(), HtError> {
        let args = vec![
            key.to_string(),
            encode(&value),
            ttl_arg(expires_at, now),
            self.max_entries.to_string(),
        ];
        match self.run::<i64>(|s| &s.set, args)? {
            1 => Ok(()),
            _ => Err(HtError::Full(self.table.clone())),
        }
    }

    fn delete(&self, key: &str, now: u64) -> Result<bool, HtError> {
        let _ = now; // Redis' clock judges expiry
        let gone: i64 = self.run(|s| &s.delete, vec![key.to_string()])?;
        Ok(gone == 1)
    }

    fn incr(
        &self,
        key: &str,
        by: i64,
        bounds: Option<(i64, i64)>,
        expires_at: u64,
        now: u64,
    ) -> Result<Option<i64>, HtError> {
        let mut args = vec![
            key.to_string(),
            by.to_string(),
            ttl_arg(expires_at, now),
            self.max_entries.to_string(),
        ];
        match bounds {
            // (-by undoes it; i64::MIN has no negation: such a step is refused first)
            Some((min, max)) => args.extend([
                min.to_string(),
                max.to_string(),
                by.checked_neg()
                    .ok_or_else(|| HtError::TooLarge(format!("{key} - {by}")))?
                    .to_string(),
            ]),
            None => args.extend([String::new(), String::new(), String::new()]),
        }
        let (done, answer): (i64, String) = self.run(|s| &s.incr, args)?;
        match (done, answer.as_str()) {
            (1, n) => n
                .parse()
                .map(Some)
                .map_err(|_| HtError::Unavailable(format!("HINCRBY answered {n:?}"))),
            (2, _) => Ok(None),
            (_, "full") => Err(HtError::Full(self.table.clone())),
            (_, e) if e.contains("not an integer") => Err(HtError::NotAnInt(key.to_string())),
            (_, e) if e.contains("overflow") => Err(HtError::TooLarge(format!(
                "{key} + {by} overflows a 64-bit integer"
            ))),
            (_, e) => Err(HtError::Unavailable(e.to_string())),
        }
    }

    fn dump(&self, now: u64) -> Result<Vec<(String, HtValue)>, HtError> {
        let _ = now; // Redis' clock judges expiry
        let flat: Vec<(String, String)> = self.run(|s| &s.dump, Vec::new())?;
        flat.into_iter()
            .map(|(k, v)| decode(v).map(|v| (k, v)))
            .collect()
    }

    fn flush(&self) -> Result<usize, HtError> {
        let n: i64 = self.run(|s| &s.flush, Vec::new())?;
        Ok(n as usize)
    }

    fn size(&self) -> Result<usize, HtError> {
        let key = self.key.clone();
        let n: i64 = self
            .state
            .run(async move |mut c| redis::cmd("HLEN").arg(&key).query_async(&mut c).await)
            .map_err(|e| HtError::Unavailable(e.0))?;
        Ok(n as usize)
    }

    fn purge(&self, _now: u64) -> usize {
        // in the background: the timer thread that calls this must not wait on Redis
        let script = self.state.htable_scripts.purge.clone();
        let (key, expiry_key) = (self.key.clone(), self.expiry_key.clone());
        let (mut conn, table) = (self.state.manager.clone(), self.table.clone());
        if self.state.is_up() {
            self.state.runtime.spawn(async move {
                let gone: redis::RedisResult<i64> = script
                    .key(&key)
                    .key(&expiry_key)
                    .invoke_async(&mut conn)
                    .await;
                if let Err(e) = gone {
                    tracing::debug!(table, error = %e, "htable purge in Redis failed");
                }
            });
        }
        0
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
