//! A loaded plugin: its compiled component, pre-linked for fast instantiation.

use crate::account::TenantAccount;
use crate::bindings;
use crate::cache::sha256_hex;
use crate::engine::PluginEngine;
use crate::error::{RuntimeError, cause};
pub(crate) mod instance;

use crate::state::{HostState, PluginMeta};
use crate::stats::{PluginStats, StatsSnapshot};
use instance::PluginInstance;
use sipwasm_routing::UdpAllow;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use wasmtime::Store;
use wasmtime::component::types::ComponentItem;

/// How a plugin runs.
#[derive(Clone, Debug)]
pub struct PluginSettings {
    /// Name used in logs and counters.
    pub name: String,
    /// CPU deadline per event.
    pub deadline: Duration,
    /// Memory cap per instance, in bytes.
    pub memory_limit: usize,
    /// The plugin's `[plugin.config]` table.
    pub config: BTreeMap<String, String>,
    /// Where `net.send-udp` may send (nothing by default).
    pub udp_allow: UdpAllow,
    /// The tenant this plugin runs for: counters, instance limit, log rate, CPU budget and quarantine
    /// are shared by every version loaded with the same account.
    pub account: Arc<TenantAccount>,
}

impl PluginSettings {
    /// Defaults: 10 ms per event, 16 MiB per instance, no config, an account of its own
    /// without limits.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        PluginSettings {
            account: TenantAccount::new(name.as_str(), crate::AccountLimits::default()),
            name,
            deadline: Duration::from_millis(10),
            memory_limit: 16 << 20,
            config: BTreeMap::new(),
            udp_allow: UdpAllow::default(),
        }
    }
}

/// Ids of loaded plugins, unique in the process.
static NEXT_PLUGIN_ID: AtomicU64 = AtomicU64::new(1);

/// What a component imports and exports, as `sipwasm check` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentReport {
    /// SHA-256 of the component bytes.
    pub sha256: String,
    /// Imported interfaces.
    pub imports: Vec<String>,
    /// Exported interfaces and functions.
    pub exports: Vec<String>,
    /// True when nothing had to be compiled: the compiled form came from the disk cache or
    /// from another plugin loaded from the same bytes.
    pub from_cache: bool,
}

/// A compiled, linked plugin. Cheap to instantiate; shared by every worker.
pub struct Plugin {
    pub(crate) meta: Arc<PluginMeta>,
    pub(crate) pre: wasmtime::component::InstancePre<HostState>,
    pub(crate) routes: bindings::exports::sipwasm::router::routes::GuestIndices,
    pub(crate) tm_routes: Option<bindings::exports::sipwasm::router::tm_routes::GuestIndices>,
    pub(crate) nosip_events: Option<bindings::exports::sipwasm::router::nosip_events::GuestIndices>,
    pub(crate) msrp_events: Option<bindings::exports::sipwasm::router::msrp_events::GuestIndices>,
    pub(crate) event_routes: Option<bindings::exports::sipwasm::router::event_routes::GuestIndices>,
    pub(crate) deadline: Duration,
    pub(crate) tick: Duration,
    pub(crate) deadline_ticks: u64,
    pub(crate) self_test: Option<bindings::exports::sipwasm::router::self_test::GuestIndices>,
    pub(crate) ticker: crate::ticker::TickerHandle,
    id: u64,
    retired: AtomicBool,
    /// Set once `reply-route` answered `unknown-route("reply_route")`: the plugin has no
    /// reply_route (the SDK's default), and it is not called again.
    pub(crate) no_reply_route: AtomicBool,
    /// Instances not running an event, shared by every worker thread; used instead of one
    /// instance per thread when the tenant has an instance limit.
    pub(crate) idle: std::sync::Mutex<Vec<PluginInstance>>,
    pub(crate) idle_returned: std::sync::Condvar,
    _compiled: crate::engine::CompiledUse,
    report: ComponentReport,
}

fn describe(engine: &wasmtime::Engine, items: Vec<(String, ComponentItem)>) -> Vec<String> {
    let mut out = Vec::new();
    for (name, item) in items {
        match item {
            ComponentItem::ComponentInstance(inst) => {
                let funcs: Vec<String> = inst.exports(engine).map(|(n, _)| n.to_string()).collect();
                if funcs.is_empty() {
                    out.push(name);
                } else {
                    out.push(format!("{name} ({})", funcs.join(", ")));
                }
            }
            _ => out.push(name),
        }
    }
    out
}

impl Plugin {
    pub(crate) fn new(
        engine: &PluginEngine,
        wasm: &[u8],
        settings: PluginSettings,
    ) -> Result<Plugin, RuntimeError> {
        if settings.memory_limit > engine.config().max_memory_bytes {
            return Err(RuntimeError::MemoryLimit {
                limit: settings.memory_limit,
                max: engine.config().max_memory_bytes,
            });
        }
        let sha256 = sha256_hex(wasm);
        let (component, from_cache, compiled_use) = engine.compile_shared(&sha256, wasm)?;
        let ty = component.component_type();
        let eng = engine.engine();
        let report = ComponentReport {
            sha256,
            imports: describe(
                eng,
                ty.imports(eng)
                    .map(|(n, i)| (n.to_string(), i.ty))
                    .collect(),
            ),
            exports: describe(
                eng,
                ty.exports(eng)
                    .map(|(n, i)| (n.to_string(), i.ty))
                    .collect(),
            ),
            from_cache,
        };
        let pre = engine
            .linker()
            .instantiate_pre(&component)
            .map_err(|e| RuntimeError::World(cause(e)))?;
        let routes = bindings::exports::sipwasm::router::routes::GuestIndices::new(&pre)
            .map_err(|e| RuntimeError::World(cause(e)))?;
        // optional: a plugin without transaction routes still loads
        let tm_routes = bindings::exports::sipwasm::router::tm_routes::GuestIndices::new(&pre).ok();
        let nosip_events =
            bindings::exports::sipwasm::router::nosip_events::GuestIndices::new(&pre).ok();
        let msrp_events =
            bindings::exports::sipwasm::router::msrp_events::GuestIndices::new(&pre).ok();
        let event_routes =
            bindings::exports::sipwasm::router::event_routes::GuestIndices::new(&pre).ok();
        let self_test = bindings::exports::sipwasm::router::self_test::GuestIndices::new(&pre).ok();
        Ok(Plugin {
            meta: Arc::new(PluginMeta {
                name: settings.name.into(),
                account: settings.account,
                memory_limit: settings.memory_limit,
                config: settings.config,
                udp_allow: settings.udp_allow,
            }),
            pre,
            routes,
            tm_routes,
            nosip_events,
            msrp_events,
            event_routes,
            deadline: settings.deadline,
            tick: engine.config().epoch_tick,
            deadline_ticks: engine.deadline_ticks(settings.deadline),
            ticker: engine.ticker(),
            self_test,
            id: NEXT_PLUGIN_ID.fetch_add(1, Ordering::Relaxed),
            retired: AtomicBool::new(false),
            no_reply_route: AtomicBool::new(false),
            idle: std::sync::Mutex::new(Vec::new()),
            idle_returned: std::sync::Condvar::new(),
            _compiled: compiled_use,
            report,
        })
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.meta.name
    }

    /// What the component imports and exports.
    pub fn report(&self) -> &ComponentReport {
        &self.report
    }

    /// Counters of the plugin's tenant (every version loaded with its account).
    pub fn stats(&self) -> StatsSnapshot {
        self.meta.account.stats()
    }

    /// The settings it was loaded with.
    pub fn settings(&self) -> PluginSettings {
        PluginSettings {
            name: self.meta.name.to_string(),
            deadline: self.deadline,
            memory_limit: self.meta.memory_limit,
            config: self.meta.config.clone(),
            udp_allow: self.meta.udp_allow.clone(),
            account: self.meta.account.clone(),
        }
    }

    /// The tenant account the plugin runs under.
    pub fn account(&self) -> &Arc<TenantAccount> {
        &self.meta.account
    }

    pub(crate) fn counters(&self) -> &PluginStats {
        &self.meta.account.stats
    }

    /// Unique in the process: two loads of the same file are two plugins.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Mark this plugin as replaced by a newer version: it keeps serving the events and
    /// transactions that started on it, and workers let go of its instances afterwards.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::Relaxed);
        // the shared idle instances hold the plugin: let them go with it
        self.idle.lock().expect("not poisoned").clear();
    }

    /// True once [`Self::retire`]d.
    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Relaxed)
    }

    /// True when the component exports `self-test`.
    pub fn has_self_test(&self) -> bool {
        self.self_test.is_some()
    }

    /// Instantiate afresh and run the component's `self-test` export, within the CPU
    /// deadline. `Ok` when it passes or there is none.
    pub fn self_test(self: &Arc<Self>) -> Result<(), RuntimeError> {
        self.instantiate()?.run_self_test()
    }

    /// True when the plugin exports failure/branch/onreply routes.
    pub fn has_tm_routes(&self) -> bool {
        self.tm_routes.is_some()
    }

    /// True when the plugin handles MSRP frames (exports `msrp-events`).
    pub fn has_msrp_events(&self) -> bool {
        self.msrp_events.is_some()
    }

    /// True when the plugin runs timer and expiry events (exports `event-routes`).
    pub fn has_event_routes(&self) -> bool {
        self.event_routes.is_some()
    }

    /// True when the plugin handles non-SIP packets (exports `nosip-events`).
    pub fn has_nosip_events(&self) -> bool {
        self.nosip_events.is_some()
    }

    /// A fresh instance in its own store.
    pub fn instantiate(self: &Arc<Self>) -> Result<PluginInstance, RuntimeError> {
        if let Err(limit) = self.meta.account.take_instance() {
            return Err(RuntimeError::InstanceLimit(limit));
        }
        // from here the reservation belongs to the instance (released when it drops) or is
        // given back below
        PluginStats::bump(&self.counters().instantiations);
        let mut store = Store::new(self.pre.engine(), HostState::new(self.meta.clone()));
        store.limiter(|s| &mut s.limits);
        // The epoch deadline fires after `deadline` of wall time; the callback then charges
        // only guest time (host waits such as DNS excluded) and extends or interrupts.
        let deadline = self.deadline;
        let tick = self.tick.as_nanos().max(1);
        store.epoch_deadline_callback(move |ctx| {
            let guest = ctx.data().guest_time();
            if guest >= deadline {
                return Ok(wasmtime::UpdateDeadline::Interrupt);
            }
            let left = (deadline - guest).as_nanos().div_ceil(tick) as u64;
            Ok(wasmtime::UpdateDeadline::Continue(left.max(1)))
        });
        // instantiation itself runs guest code (start functions): bound it too
        store.data_mut().start_call();
        store.set_epoch_deadline(self.deadline_ticks);
        let call = self.ticker.enter();
        let loaded = self.pre.instantiate(&mut store).and_then(|instance| {
            let routes = self.routes.load(&mut store, &instance)?;
            let tm_routes = match &self.tm_routes {
                Some(i) => Some(i.load(&mut store, &instance)?),
                None => None,
            };
            let nosip_events = match &self.nosip_events {
                Some(i) => Some(i.load(&mut store, &instance)?),
                None => None,
            };
            let msrp_events = match &self.msrp_events {
                Some(i) => Some(i.load(&mut store, &instance)?),
                None => None,
            };
            let event_routes = match &self.event_routes {
                Some(i) => Some(i.load(&mut store, &instance)?),
                None => None,
            };
            let self_test = match &self.self_test {
                Some(i) => Some(i.load(&mut store, &instance)?),
                None => None,
            };
            Ok(instance::Exports {
                routes,
                tm_routes,
                nosip_events,
                msrp_events,
                event_routes,
                self_test,
            })
        });
        drop(call);
        match loaded {
            Ok(exports) => Ok(PluginInstance::new(self.clone(), store, exports)),
            Err(e) => {
                self.meta.account.release_instance();
                PluginStats::bump(&self.counters().instantiate_failures);
                Err(RuntimeError::Instantiate(cause(e)))
            }
        }
    }
}

/// Loading plugins onto an engine (here rather than in [`crate::engine`], which knows
/// nothing of plugins).
impl PluginEngine {
    /// Load a plugin from a `.wasm` file.
    pub fn load_file(
        &self,
        path: &Path,
        settings: PluginSettings,
    ) -> Result<Arc<Plugin>, RuntimeError> {
        let wasm = std::fs::read(path).map_err(|e| RuntimeError::io(path, e))?;
        self.load(&wasm, settings)
    }

    /// Load a plugin from component bytes.
    pub fn load(&self, wasm: &[u8], settings: PluginSettings) -> Result<Arc<Plugin>, RuntimeError> {
        Plugin::new(self, wasm, settings).map(Arc::new)
    }
}
