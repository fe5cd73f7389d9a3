//! Tenants: who serves an event, which version of their plugin runs it, and hot swap.
//!
//! Each tenant has one [`Version`] serving at a time, behind an `ArcSwap`: an event loads
//! it once at its start (a few nanoseconds) and runs on it to its end, and a transaction
//! keeps the version its request route ran on for its failure, branch and onreply routes
//! and `t_continue`. A reload compiles, checks and self-tests the new component on the
//! calling thread (never a worker), then swaps it in; the old version stays alive as long
//! as an event or a transaction holds it, and its instances are freed afterwards.
//!
//! Isolation: each tenant has its own account (counters, instance limit, log rate, CPU
//! budget, quarantine), its own worker share and queue (`shares.rs`), its own registrar
//! location and nonces, only the tables it was granted, and only the events it was
//! granted.

use crate::config::{Config, EventGrants, Fallback, TenantConfig, TenantLimits};
use arc_swap::ArcSwap;
use sipwasm_proto::{SipMessage, Transport};
use sipwasm_routing::{LocalConfig, Source};
use sipwasm_runtime::{
    AccountLimits, EngineConfig, HealthPolicy, Plugin, PluginEngine, PluginSettings, PluginWorker,
    Report, RuntimeError, Standing, StatsSnapshot, TenantAccount,
};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// One loaded version of a tenant's plugin.
pub struct Version {
    /// The compiled, linked plugin.
    pub plugin: Arc<Plugin>,
    /// 1 for the plugin loaded at start, then one more per successful reload.
    pub number: u64,
    /// When it was swapped in.
    pub loaded_at: SystemTime,
    /// Time to read, compile (or take from the cache), link and self-test it.
    pub load_time: Duration,
}

impl Drop for Version {
    fn drop(&mut self) {
        // nothing serves on it any more (not current, no event, no transaction): workers
        // drop their instances of it
        self.plugin.retire();
    }
}

/// What happened to the last reload of a tenant.
#[derive(Clone, Debug, Default)]
pub struct ReloadStatus {
    /// Successful reloads.
    pub reloads: u64,
    /// Reloads refused (unreadable, not a plugin, failed self-test ...).
    pub failed_reloads: u64,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// When the last attempt was made.
    pub last_attempt: Option<SystemTime>,
}

/// A tenant.
pub struct Tenant {
    /// Its configuration.
    pub config: TenantConfig,
    /// Its place in [`Tenants::list`].
    index: usize,
    account: Arc<TenantAccount>,
    current: ArcSwap<Version>,
    local: OnceLock<Arc<LocalConfig>>,
    status: Mutex<ReloadStatus>,
    next_version: AtomicU64,
    /// Events of a kind the tenant was not granted.
    pub denied_events: AtomicU64,
    /// Fallback replies sent for its failed events.
    pub fallbacks: AtomicU64,
    /// A version running beside the live one on copies of its requests
    /// (`ctl shadow`), its decisions compared.
    shadow: arc_swap::ArcSwapOption<Shadow>,
}

/// Most differences a shadow keeps as samples (the newest).
const SHADOW_SAMPLES: usize = 20;

/// A plugin version in shadow: it sees a copy of each new request of its tenant, with
/// every side effect held back, and what it decides is compared with the live version.
pub struct Shadow {
    /// The version.
    pub version: Arc<Version>,
    /// The file it was loaded from (what `promote` makes the tenant's).
    pub path: std::path::PathBuf,
    /// Its bytes, as loaded.
    wasm: Vec<u8>,
    /// The tenant's state as the shadow sees it: read, never written.
    pub local: Arc<LocalConfig>,
    /// Requests both versions decided on.
    pub compared: AtomicU64,
    /// Requests they decided differently.
    pub differed: AtomicU64,
    /// Requests the shadow's route failed on (trap, deadline, error) where the live one
    /// did not.
    pub failed: AtomicU64,
    /// The newest differences.
    samples: Mutex<std::collections::VecDeque<serde_json::Value>>,
}

impl Shadow {
    /// Count one comparison of `live` and `shadow` for `request` (its first line and
    /// Call-ID); a difference is kept as a sample.
    pub fn record(
        &self,
        request: (&str, &str),
        live: &sipwasm_routing::shadow::Decision,
        shadow: &sipwasm_routing::shadow::Decision,
    ) {
        self.compared.fetch_add(1, Ordering::Relaxed);
        let differences = live.differences(shadow);
        if differences.is_empty() {
            return;
        }
        self.differed.fetch_add(1, Ordering::Relaxed);
        if shadow.ending == "error" && live.ending != "error" {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        let mut samples = self.samples.lock().expect("not poisoned");
        if samples.len() >= SHADOW_SAMPLES {
            samples.pop_front();
        }
        samples.push_back(serde_json::json!({
            "request": request.0,
            "call_id": request.1,
            "differences": differences,
            "live": live,
            "shadow": shadow,
        }));
    }

    /// Counters and samples, for `ctl shadow.show`.
    pub fn describe(&self) -> serde_json::Value {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        serde_json::json!({
            "version": self.version.number,
            "path": self.path.display().to_string(),
            "sha256": self.version.plugin.report().sha256,
            "compared": load(&self.compared),
            "differed": load(&self.differed),
            "failed": load(&self.failed),
            "samples": self.samples.lock().expect("not poisoned").iter().cloned().collect::<Vec<_>>(),
        })
    }
}

impl Tenant {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The version serving now.
    pub fn current(&self) -> Arc<Version> {
        self.current.load_full()
    }

    /// The version in shadow, if any.
    pub fn shadow(&self) -> Option<Arc<Shadow>> {
        self.shadow.load_full()
    }

    /// What a failed event gets.
    pub fn fallback(&self) -> &Fallback {
        &self.config.fallback
    }

    /// Events it receives.
    pub fn events(&self) -> EventGrants {
        self.config.events
    }

    /// Its view of the router (own location table and nonces, granted tables).
    pub fn local(&self) -> &Arc<LocalConfig> {
        self.local
            .get()
            .expect("tenants are bound when the server starts")
    }

    /// Counters of every version of its plugin.
    pub fn stats(&self) -> StatsSnapshot {
        self.account.stats()
    }

    /// Its place in [`Tenants::list`].
    pub fn index(&self) -> usize {
        self.index
    }

    /// Its account (standing, CPU budget, counters).
    pub fn account(&self) -> &Arc<TenantAccount> {
        &self.account
    }

    /// How its next event may be run.
    pub fn standing(&self) -> Standing {
        self.account.standing()
    }

    /// The last reload's outcome.
    pub fn reload_status(&self) -> ReloadStatus {
        self.status.lock().expect("not poisoned").clone()
    }
}

/// The tenant and version an event runs on; a transaction keeps the one its request
/// route ran on.
#[derive(Clone)]
pub struct Serving {
    /// The tenant.
    pub tenant: Arc<Tenant>,
    /// The version.
    pub version: Arc<Version>,
}

impl Serving {
    /// What an event dispatched to it carries: the transactions it creates are its
    /// tenant's, and it reaches no other tenant's.
    pub fn caller(&self) -> sipwasm_routing::Caller {
        sipwasm_routing::Caller {
            owner: self.tenant.clone(),
            version: self.version.clone(),
        }
    }

    /// The plugin to run.
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.version.plugin
    }
}

impl std::fmt::Debug for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.tenant.name(), self.version.number)
    }
}

/// The outcome of reloading one tenant.
#[derive(Clone, Debug)]
pub enum ReloadOutcome {
    /// A new version serves.
    Swapped {
        /// Its number.
        version: u64,
        /// Its SHA-256.
        sha256: String,
        /// Milliseconds from reading the file to serving.
        load_ms: u64,
    },
    /// The file is the one already serving.
    Unchanged {
        /// The version serving.
        version: u64,
    },
    /// The new file was refused; the old version keeps serving.
    Failed {
        /// Why.
        error: RuntimeError,
    },
}

/// Why tenants could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// The engine could not be built.
    #[error("plugin engine")]
    Engine(#[source] RuntimeError),
    /// A tenant's plugin did not load.
    #[error("tenant {tenant}")]
    Load {
        /// The tenant.
        tenant: String,
        /// What failed.
        #[source]
        error: RuntimeError,
    },
    /// `reload` of a tenant the configuration does not have.
    #[error("no tenant named {0:?}")]
    NoSuchTenant(String),
    /// `promote` of a tenant with no version in shadow.
    #[error("tenant {0:?} has no version in shadow")]
    NoShadow(String),
}

/// Every tenant, and the engine their plugins run on.
pub struct Tenants {
    engine: Arc<PluginEngine>,
    list: Vec<Arc<Tenant>>,
    default: usize,
    by_domain: HashMap<String, usize>,
    /// (transport, bound address) of listeners claimed by a tenant; set at start.
    by_listener: OnceLock<Vec<((Transport, SocketAddr), usize)>>,
    generation: AtomicU64,
    /// One reload at a time: two writes of one file must not race to swap.
    reloading: Mutex<()>,
}

fn read_plugin(cfg: &TenantConfig) -> Result<Vec<u8>, RuntimeError> {
    std::fs::read(&cfg.plugin_path).map_err(|e| RuntimeError::Io {
        path: cfg.plugin_path.clone(),
        source: Arc::new(e),
    })
}

/// Version `number` of the tenant's plugin from `wasm` (read at `t0`): compiled, linked,
/// instantiated and self-tested.
fn load_version(
    engine: &PluginEngine,
    cfg: &TenantConfig,
    account: &Arc<TenantAccount>,
    number: u64,
    wasm: &[u8],
    t0: Instant,
) -> Result<Version, RuntimeError> {
    let plugin = engine.load(wasm, settings(cfg, account))?;
    // instantiates once: a component that loads but cannot start is refused here
    plugin.self_test()?;
    Ok(Version {
        plugin,
        number,
        loaded_at: SystemTime::now(),
        load_time: t0.elapsed(),
    })
}

/// The runtime's share of a tenant's limits.
fn account_limits(l: &TenantLimits) -> AccountLimits {
    AccountLimits {
        max_instances: l.max_instances,
        log_rate: l.log_rate,
        health: HealthPolicy {
            cpu_budget: l.cpu_budget,
            quarantine_after: l.quarantine_after,
            window: l.quarantine_window,
            quarantine_first: l.quarantine_first,
            quarantine_max: l.quarantine_max,
        },
    }
}

fn settings(cfg: &TenantConfig, account: &Arc<TenantAccount>) -> PluginSettings {
    PluginSettings {
        name: cfg.name.clone(),
        deadline: cfg.deadline,
        memory_limit: cfg.memory_limit,
        config: cfg.plugin_config.clone(),
        udp_allow: cfg.udp_allow.clone(),
        account: account.clone(),
    }
}

impl Tenants {
    /// Build the engine (sized for every tenant) and load every tenant's plugin.
    pub fn load(cfg: &Config) -> Result<Arc<Tenants>, TenantError> {
        let threads = cfg.event_threads();
        // each event thread keeps an instance per tenant it served, twice over while a
        // swap overlaps two versions, plus one for each self-test
        let needed: usize = cfg
            .tenants
            .iter()
            .map(|t| match t.limits.max_instances {
                0 => threads,
                n => n.min(threads),
            })
            .map(|n| 2 * n + 1)
            .sum();
        let engine = PluginEngine::new(EngineConfig {
            epoch_tick: cfg.epoch_tick,
            max_instances: cfg
                .max_instances
                .max(u32::try_from(needed).unwrap_or(u32::MAX)),
            max_memory_bytes: cfg
                .tenants
                .iter()
                .map(|t| t.memory_limit)
                .max()
                .unwrap_or(0)
                .max(16 << 20),
            cache_dir: cfg.cache_dir.clone(),
        })
        .map_err(TenantError::Engine)?;
        let engine = Arc::new(engine);
        let mut loaded = Vec::new();
        for t in &cfg.tenants {
            let account = TenantAccount::new(t.name.as_str(), account_limits(&t.limits));
            let t0 = Instant::now();
            let version = read_plugin(t)
                .and_then(|wasm| load_version(&engine, t, &account, 1, &wasm, t0))
                .map_err(|error| TenantError::Load {
                    tenant: t.name.clone(),
                    error,
                })?;
            tracing::info!(tenant = %t.name, sha256 = %version.plugin.report().sha256, load_ms = version.load_time.as_millis() as u64, "plugin loaded");
            loaded.push((t.clone(), account, version));
        }
        Ok(Tenants::assemble(engine, loaded, cfg.default_tenant))
    }

    /// One tenant running `plugin` (loaded by the caller on `engine` from `path`, which a
    /// reload reads again), with `grants` (htables, dispatcher sets): the shape of a
    /// `[plugin]`-only configuration, for embedding and tests.
    pub fn single(
        engine: Arc<PluginEngine>,
        plugin: Arc<Plugin>,
        path: &Path,
        fallback: Fallback,
        grants: sipwasm_routing::Grants,
    ) -> Arc<Tenants> {
        let s = plugin.settings();
        let config = TenantConfig {
            name: plugin.name().to_string(),
            plugin_path: path.to_path_buf(),
            deadline: s.deadline,
            memory_limit: s.memory_limit,
            limits: {
                let l = plugin.account().limits();
                crate::config::TenantLimits {
                    max_instances: l.max_instances,
                    log_rate: l.log_rate,
                    cpu_budget: l.health.cpu_budget,
                    quarantine_after: l.health.quarantine_after,
                    quarantine_window: l.health.window,
                    quarantine_first: l.health.quarantine_first,
                    quarantine_max: l.health.quarantine_max,
                    ..Default::default()
                }
            },
            fallback,
            plugin_config: s.config,
            udp_allow: s.udp_allow,
            grants,
            events: EventGrants::default(),
            listen: Vec::new(),
            domains: Vec::new(),
            timers: Vec::new(),
        };
        let account = plugin.account().clone();
        let version = Version {
            plugin,
            number: 1,
            loaded_at: SystemTime::now(),
            load_time: Duration::ZERO,
        };
        Tenants::assemble(engine, vec![(config, account, version)], 0)
    }

    fn assemble(
        engine: Arc<PluginEngine>,
        loaded: Vec<(TenantConfig, Arc<TenantAccount>, Version)>,
        default: usize,
    ) -> Arc<Tenants> {
        let mut by_domain = HashMap::new();
        let mut list = Vec::new();
        for (i, (config, account, version)) in loaded.into_iter().enumerate() {
            for d in &config.domains {
                by_domain.insert(d.clone(), i);
            }
            list.push(Arc::new(Tenant {
                config,
                index: i,
                account,
                current: ArcSwap::from_pointee(version),
                local: OnceLock::new(),
                status: Mutex::new(ReloadStatus::default()),
                next_version: AtomicU64::new(2),
                denied_events: AtomicU64::new(0),
                fallbacks: AtomicU64::new(0),
                shadow: arc_swap::ArcSwapOption::empty(),
            }));
        }
        Arc::new(Tenants {
            engine,
            list,
            default,
            by_domain,
            by_listener: OnceLock::new(),
            generation: AtomicU64::new(0),
            reloading: Mutex::new(()),
        })
    }

    /// Give every tenant its view of the router, and map the listeners tenants claim
    /// (`configured[i]` was bound as `bound[i]`).
    pub fn bind(
        &self,
        local: &Arc<LocalConfig>,
        configured: &[sipwasm_transport::ListenSpec],
        bound: &[(Transport, SocketAddr)],
        state: Option<&Arc<crate::state::RedisState>>,
    ) {
        for t in &self.list {
            let grants = &t.config.grants;
            let everything = local
                .htables
                .specs()
                .all(|s| grants.htables.contains(&s.name))
                && local
                    .dispatcher
                    .dispatcher()
                    .set_ids()
                    .iter()
                    .all(|id| grants.dispatcher_sets.contains(id))
                && local
                    .address_groups
                    .groups()
                    .iter()
                    .all(|id| grants.address_groups.contains(id));
            let view = if everything && self.list.len() == 1 {
                // a lone tenant granted everything: the router's own state, as before
                // tenants
                local.clone()
            } else {
                let view = local.tenant_view(t.name(), grants);
                Arc::new(match state {
                    Some(state) => view
                        .with_location(sipwasm_routing::registrar::Location::shared(
                            state.location(t.name()),
                        ))
                        .with_nonce_ledger(state.nonces(t.name())),
                    None => view,
                })
            };
            // the tenant's cached registrations follow the other routers' changes
            if let (Some(state), Some(invalidator)) = (state, view.location.invalidator()) {
                state.watch(t.name(), invalidator);
            }
            let _ = t.local.set(view);
        }
        let mut map = Vec::new();
        for (i, t) in self.list.iter().enumerate() {
            for spec in &t.config.listen {
                for (c, b) in configured.iter().zip(bound) {
                    if c.transport == spec.transport && c.addr == spec.addr {
                        map.push((*b, i));
                    }
                }
            }
        }
        let _ = self.by_listener.set(map);
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<PluginEngine> {
        &self.engine
    }

    /// Every tenant.
    pub fn list(&self) -> &[Arc<Tenant>] {
        &self.list
    }

    /// The default tenant.
    pub fn default_tenant(&self) -> &Arc<Tenant> {
        &self.list[self.default]
    }

    /// A tenant by name.
    pub fn get(&self, name: &str) -> Option<&Arc<Tenant>> {
        self.list.iter().find(|t| t.name() == name)
    }

    /// Threads that run queued events (see [`crate::shares`]) for `workers` workers: none
    /// for a lone tenant without a worker share.
    pub fn queue_workers(&self, workers: usize) -> usize {
        crate::config::queue_workers(workers, self.list.iter().map(|t| &t.config.limits))
    }

    /// Bumped by every swap: workers then let go of instances of versions nobody uses.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// The tenant at `i` and the version serving it now.
    pub fn serving(&self, i: usize) -> Serving {
        let tenant = self.list[i].clone();
        let version = tenant.current();
        Serving { tenant, version }
    }

    fn by_listener(&self, source: &Source) -> Option<usize> {
        self.by_listener
            .get()?
            .iter()
            .find(|((t, a), _)| *t == source.transport && *a == source.local)
            .map(|(_, i)| *i)
    }

    fn by_host(&self, host: &[u8]) -> Option<usize> {
        if self.by_domain.is_empty() {
            return None;
        }
        let host = std::str::from_utf8(host).ok()?.to_ascii_lowercase();
        self.by_domain.get(&host).copied()
    }

    /// Who serves a SIP message: the tenant of the listener it came in on, else of its
    /// Request-URI domain, else of its To domain, else the default tenant.
    pub fn for_message(&self, msg: &SipMessage, source: &Source) -> Serving {
        if self.list.len() == 1 {
            return self.serving(0);
        }
        let b = msg.as_bytes();
        let i = self
            .by_listener(source)
            .or_else(|| msg.request_uri().and_then(|u| self.by_host(u.host(b))))
            .or_else(|| self.by_host(msg.to().uri.host(b)))
            .unwrap_or(self.default);
        self.serving(i)
    }

    /// Who serves a non-SIP packet or an MSRP frame: the listener's tenant, else the
    /// default one.
    pub fn for_source(&self, source: &Source) -> Serving {
        if self.list.len() == 1 {
            return self.serving(0);
        }
        self.serving(self.by_listener(source).unwrap_or(self.default))
    }

    /// Reload one tenant (or all): read its file again, compile, check and self-test it,
    /// and swap it in. Runs on the caller's thread; failures leave the old version
    /// serving, are logged and kept for `ctl plugins`.
    pub fn reload(&self, name: Option<&str>) -> Result<Vec<(String, ReloadOutcome)>, TenantError> {
        let targets: Vec<&Arc<Tenant>> = match name {
            Some(n) => vec![
                self.get(n)
                    .ok_or_else(|| TenantError::NoSuchTenant(n.to_string()))?,
            ],
            None => self.list.iter().collect(),
        };
        let _one_at_a_time = self.reloading.lock().expect("not poisoned");
        Ok(targets
            .into_iter()
            .map(|t| (t.name().to_string(), self.reload_one(t)))
            .collect())
    }

    /// Put the plugin at `path` in shadow beside `name`'s live version (replacing a shadow
    /// there was): loaded and self-tested as a reload would, with an account of its own
    /// (its failures do not quarantine the tenant). Its version number.
    pub fn shadow(&self, name: &str, path: &Path) -> Result<u64, TenantError> {
        let t = self
            .get(name)
            .ok_or_else(|| TenantError::NoSuchTenant(name.to_string()))?;
        let t0 = Instant::now();
        let load_error = |error| TenantError::Load {
            tenant: name.to_string(),
            error,
        };
        let wasm = std::fs::read(path)
            .map_err(|e| RuntimeError::Io {
                path: path.to_path_buf(),
                source: Arc::new(e),
            })
            .map_err(load_error)?;
        let account =
            TenantAccount::new(format!("{name} (shadow)"), account_limits(&t.config.limits));
        let number = t.next_version.fetch_add(1, Ordering::Relaxed);
        let version = load_version(&self.engine, &t.config, &account, number, &wasm, t0)
            .map_err(load_error)?;
        let shadow = Shadow {
            version: Arc::new(version),
            path: path.to_path_buf(),
            wasm,
            local: Arc::new(t.local().dry_view()),
            compared: AtomicU64::new(0),
            differed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            samples: Mutex::new(std::collections::VecDeque::new()),
        };
        tracing::info!(tenant = name, version = number, path = %path.display(), sha256 = %shadow.version.plugin.report().sha256, "shadow version running beside the live one");
        t.shadow.store(Some(Arc::new(shadow)));
        self.generation.fetch_add(1, Ordering::Relaxed);
        Ok(number)
    }

    /// Stop `name`'s shadow; what it had counted.
    pub fn stop_shadow(&self, name: &str) -> Result<Option<serde_json::Value>, TenantError> {
        let t = self
            .get(name)
            .ok_or_else(|| TenantError::NoSuchTenant(name.to_string()))?;
        let old = t.shadow.swap(None);
        if old.is_some() {
            tracing::info!(tenant = name, "shadow version stopped");
            self.generation.fetch_add(1, Ordering::Relaxed);
        }
        Ok(old.map(|s| s.describe()))
    }

    /// Make `name`'s shadow its live version: its file is written over the tenant's
    /// plugin file (so a later reload keeps it) and swapped in by the reload path.
    pub fn promote(&self, name: &str) -> Result<(ReloadOutcome, serde_json::Value), TenantError> {
        let t = self
            .get(name)
            .ok_or_else(|| TenantError::NoSuchTenant(name.to_string()))?
            .clone();
        let shadow = t
            .shadow()
            .ok_or_else(|| TenantError::NoShadow(name.to_string()))?;
        let target = &t.config.plugin_path;
        let tmp = target.with_extension("promote.tmp");
        let io = |e: std::io::Error| TenantError::Load {
            tenant: name.to_string(),
            error: RuntimeError::Io {
                path: target.clone(),
                source: Arc::new(e),
            },
        };
        std::fs::write(&tmp, &shadow.wasm).map_err(io)?;
        std::fs::rename(&tmp, target).map_err(io)?;
        let _one_at_a_time = self.reloading.lock().expect("not poisoned");
        let outcome = self.reload_one(&t);
        let counted = self.stop_shadow(name)?.unwrap_or_default();
        Ok((outcome, counted))
    }

    fn reload_one(&self, t: &Arc<Tenant>) -> ReloadOutcome {
        let now = SystemTime::now();
        let t0 = Instant::now();
        let old = t.current();
        // read once: the bytes compared are the bytes loaded
        let loaded = read_plugin(&t.config).and_then(|wasm| {
            if sipwasm_runtime::sha256_hex(&wasm) == old.plugin.report().sha256 {
                return Ok(None);
            }
            let number = t.next_version.load(Ordering::Relaxed);
            load_version(&self.engine, &t.config, &t.account, number, &wasm, t0).map(Some)
        });
        match loaded {
            Ok(None) => {
                t.status.lock().expect("not poisoned").last_attempt = Some(now);
                ReloadOutcome::Unchanged {
                    version: old.number,
                }
            }
            Ok(Some(v)) => {
                let number = v.number;
                t.next_version.fetch_add(1, Ordering::Relaxed);
                let sha256 = v.plugin.report().sha256.clone();
                let load_ms = v.load_time.as_millis() as u64;
                tracing::info!(tenant = %t.name(), version = number, previous = old.number, %sha256, load_ms, from_cache = v.plugin.report().from_cache, "new plugin version serving");
                t.current.store(Arc::new(v));
                self.generation.fetch_add(1, Ordering::Relaxed);
                // a new version starts with a clean record: quarantine lifted
                t.account.lift();
                let mut s = t.status.lock().expect("not poisoned");
                s.reloads += 1;
                s.last_error = None;
                s.last_attempt = Some(now);
                ReloadOutcome::Swapped {
                    version: number,
                    sha256,
                    load_ms,
                }
            }
            Err(error) => {
                let why = Report(&error).to_string();
                tracing::error!(tenant = %t.name(), version = old.number, "plugin reload refused, the old version keeps serving: {why}");
                let mut s = t.status.lock().expect("not poisoned");
                s.failed_reloads += 1;
                s.last_error = Some(why);
                s.last_attempt = Some(now);
                ReloadOutcome::Failed { error }
            }
        }
    }
}

/// How often a worker looks for instances of versions nobody uses any more, in events.
const SWEEP_EVERY: u32 = 4096;

/// A thread's plugin instances: one per plugin version it has run, created on first use
/// and dropped once the version is retired.
pub struct Workers {
    tenants: Arc<Tenants>,
    by_plugin: HashMap<u64, PluginWorker>,
    generation: u64,
    events: u32,
}

impl Workers {
    /// No instances yet.
    pub fn new(tenants: Arc<Tenants>) -> Self {
        let generation = tenants.generation();
        Workers {
            tenants,
            by_plugin: HashMap::new(),
            generation,
            events: 0,
        }
    }

    /// Create the default tenant's instance now, so a plugin that cannot start fails
    /// the server's start rather than its first message.
    pub fn warm_up(&mut self) -> Result<(), RuntimeError> {
        let v = self.tenants.default_tenant().current();
        self.get(&v.plugin).warm_up()
    }

    /// The worker for `plugin`.
    fn get(&mut self, plugin: &Arc<Plugin>) -> &mut PluginWorker {
        self.events = self.events.wrapping_add(1);
        let generation = self.tenants.generation();
        if generation != self.generation || self.events.is_multiple_of(SWEEP_EVERY) {
            self.generation = generation;
            self.by_plugin.retain(|_, w| !w.plugin().is_retired());
        }
        self.by_plugin
            .entry(plugin.id())
            .or_insert_with(|| PluginWorker::new(plugin.clone()))
    }

    /// Run `route` for `ctx` on `serving`'s plugin.
    pub fn run(
        &mut self,
        serving: &Serving,
        route: sipwasm_runtime::Route<'_>,
        mut ctx: sipwasm_routing::RouteContext,
    ) -> sipwasm_runtime::EventOutcome {
        ctx.set_caller(serving.caller());
        self.get(serving.plugin()).run(route, ctx)
    }

    /// Run `event_route[nosip:msg]` on `serving`'s plugin.
    pub fn run_nosip(
        &mut self,
        serving: &Serving,
        mut event: sipwasm_routing::RawEvent,
    ) -> sipwasm_runtime::RawOutcome {
        event.set_caller(serving.caller());
        self.get(serving.plugin()).run_nosip(event)
    }

    /// Run a timer or expiry event on `serving`'s plugin.
    pub fn run_timer(
        &mut self,
        serving: &Serving,
        mut event: sipwasm_routing::TimerEvent,
    ) -> sipwasm_runtime::TimerOutcome {
        event.set_caller(serving.caller());
        self.get(serving.plugin()).run_timer(event)
    }

    /// Run `event_route[msrp:frame-in]` on `serving`'s plugin.
    pub fn run_msrp(
        &mut self,
        serving: &Serving,
        mut event: sipwasm_routing::MsrpEvent,
    ) -> sipwasm_runtime::MsrpOutcome {
        event.set_caller(serving.caller());
        self.get(serving.plugin()).run_msrp(event)
    }

    /// Instances held (for tests).
    pub fn len(&self) -> usize {
        self.by_plugin.len()
    }

    /// True when none is held.
    pub fn is_empty(&self) -> bool {
        self.by_plugin.is_empty()
    }
}
