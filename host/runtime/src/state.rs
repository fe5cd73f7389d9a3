//! What a plugin's store holds: the event being routed, the plugin's identity, its memory
//! limit, a locked-down WASI context, and caches of parsed pseudo-variable names.

use crate::account::TenantAccount;
use sipwasm_routing::pv::{PvError, PvSpec, TemplatePart, parse_template};
use sipwasm_routing::{Event, MsrpEvent, RawEvent, RouteContext, UdpAllow};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Most parsed names kept per instance; the cache is cleared when full, so a plugin that
/// builds names dynamically cannot grow host memory without bound.
const PV_CACHE_MAX: usize = 1024;
/// Most host waits (name resolution, the shared store) an event is not charged for.
pub(crate) const MAX_HOST_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Per-instance memory cap, enforced on every `memory.grow`; what the instance holds is
/// counted in its tenant's account while it lives.
#[derive(Debug)]
pub(crate) struct MemoryLimit {
    pub(crate) max_bytes: usize,
    /// Set when the guest asked for more than `max_bytes`: if the event then traps, the
    /// failure is reported as a memory-cap hit.
    pub(crate) hit: bool,
    /// Linear memory this instance was granted, in the account's total.
    held: usize,
    account: Arc<TenantAccount>,
}

impl MemoryLimit {
    fn new(max_bytes: usize, account: Arc<TenantAccount>) -> MemoryLimit {
        MemoryLimit {
            max_bytes,
            hit: false,
            held: 0,
            account,
        }
    }
}

impl Drop for MemoryLimit {
    fn drop(&mut self) {
        self.account.memory_released(self.held);
    }
}

impl wasmtime::ResourceLimiter for MemoryLimit {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.hit = true;
            return Ok(false);
        }
        // called for a memory's first allocation too (current 0); a grow that then fails
        // in the engine is counted until the instance goes (an over-count, never under)
        let grown = desired.saturating_sub(current);
        self.held += grown;
        self.account.memory_taken(grown);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// What host functions need to know about their plugin.
#[derive(Debug)]
pub(crate) struct PluginMeta {
    pub(crate) name: Arc<str>,
    pub(crate) account: Arc<TenantAccount>,
    pub(crate) memory_limit: usize,
    pub(crate) config: BTreeMap<String, String>,
    pub(crate) udp_allow: UdpAllow,
}

/// The `T` of the plugin's `Store<T>`.
pub struct HostState {
    pub(crate) meta: Arc<PluginMeta>,
    /// The event being handled; none while the plugin is instantiated.
    pub(crate) event: Option<Event>,
    /// Datagrams `net.send-udp` queued in this event.
    pub(crate) udp_sent: usize,
    /// When the current call into the guest started.
    pub(crate) call_started: std::time::Instant,
    /// Time spent in host calls that wait (DNS): not charged to the CPU deadline.
    pub(crate) host_waited: std::time::Duration,
    /// Name of the route running, for log lines.
    pub(crate) route: &'static str,
    pub(crate) limits: MemoryLimit,
    /// Log lines refused in the current event (shared with the stdout/stderr sinks).
    pub(crate) log_drops: Arc<std::sync::atomic::AtomicU32>,
    /// Set when the event was cut for flooding the log.
    pub(crate) log_flood: Arc<std::sync::atomic::AtomicBool>,
    wasi: WasiCtx,
    table: ResourceTable,
    pv_cache: HashMap<String, Arc<PvSpec>>,
    template_cache: HashMap<String, Arc<Vec<TemplatePart>>>,
}

impl HostState {
    /// The SIP message's routing state, when the event is one.
    pub(crate) fn sip(&self) -> Option<&RouteContext> {
        self.event.as_ref().and_then(Event::sip)
    }

    /// [`Self::sip`], to change it.
    pub(crate) fn sip_mut(&mut self) -> Option<&mut RouteContext> {
        self.event.as_mut().and_then(Event::sip_mut)
    }

    /// The non-SIP packet, when the event is one.
    pub(crate) fn raw_mut(&mut self) -> Option<&mut RawEvent> {
        self.event.as_mut().and_then(Event::raw_mut)
    }

    /// The MSRP frame, when the event is one.
    pub(crate) fn msrp(&self) -> Option<&MsrpEvent> {
        self.event.as_ref().and_then(Event::msrp)
    }

    /// [`Self::msrp`], to change it.
    pub(crate) fn msrp_mut(&mut self) -> Option<&mut MsrpEvent> {
        self.event.as_mut().and_then(Event::msrp_mut)
    }

    pub(crate) fn new(meta: Arc<PluginMeta>) -> Self {
        let log_drops = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let log_flood = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sink = |stream| {
            crate::stdio::LogSink::new(
                meta.account.clone(),
                stream,
                log_drops.clone(),
                log_flood.clone(),
            )
        };
        let wasi = WasiCtx::builder()
            .stdout(sink(crate::stdio::Stream::Stdout))
            .stderr(sink(crate::stdio::Stream::Stderr))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        HostState {
            limits: MemoryLimit::new(meta.memory_limit, meta.account.clone()),
            meta,
            log_drops,
            log_flood,
            event: None,
            udp_sent: 0,
            call_started: std::time::Instant::now(),
            host_waited: std::time::Duration::ZERO,
            route: "",
            wasi,
            table: ResourceTable::new(),
            pv_cache: HashMap::new(),
            template_cache: HashMap::new(),
        }
    }

    /// Start charging a new guest call to the deadline.
    pub(crate) fn start_call(&mut self) {
        self.log_drops
            .store(0, std::sync::atomic::Ordering::Relaxed);
        self.log_flood
            .store(false, std::sync::atomic::Ordering::Relaxed);
        self.call_started = std::time::Instant::now();
        self.host_waited = std::time::Duration::ZERO;
    }

    /// Guest time of the current call: wall time minus host waits.
    pub(crate) fn guest_time(&self) -> std::time::Duration {
        self.call_started.elapsed().saturating_sub(self.host_waited)
    }

    /// Run a host operation that may wait (name resolution, the shared store) without
    /// charging the wait to the plugin's CPU deadline, up to [`MAX_HOST_WAIT`] an event:
    /// a plugin looping over such calls still meets its deadline in the end.
    pub(crate) fn waiting<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        let t0 = std::time::Instant::now();
        let r = f(self);
        self.host_waited = (self.host_waited + t0.elapsed()).min(MAX_HOST_WAIT);
        r
    }

    /// The parsed form of a pseudo-variable name, cached.
    pub(crate) fn spec(&mut self, name: &str) -> Result<Arc<PvSpec>, PvError> {
        if let Some(s) = self.pv_cache.get(name) {
            return Ok(s.clone());
        }
        let spec = Arc::new(PvSpec::parse(name)?);
        if self.pv_cache.len() >= PV_CACHE_MAX {
            self.pv_cache.clear();
        }
        self.pv_cache.insert(name.to_string(), spec.clone());
        Ok(spec)
    }

    /// The parsed form of an xlog template, cached.
    pub(crate) fn template(&mut self, template: &str) -> Result<Arc<Vec<TemplatePart>>, PvError> {
        if let Some(t) = self.template_cache.get(template) {
            return Ok(t.clone());
        }
        let parts = Arc::new(parse_template(template)?);
        if self.template_cache.len() >= PV_CACHE_MAX {
            self.template_cache.clear();
        }
        self.template_cache
            .insert(template.to_string(), parts.clone());
        Ok(parts)
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
