//! The wasmtime engine, shared by every plugin: Cranelift, the pooling allocator, epoch
//! interruption driven by a ticker thread, and the linker with the host interfaces.

use crate::bindings;
use crate::cache::ComponentCache;
use crate::error::{RuntimeError, cause};
use crate::state::HostState;
use crate::ticker::{EpochTicker, TickerHandle};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

/// Engine-wide settings.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// How often the epoch advances; CPU deadlines are counted in these ticks.
    pub epoch_tick: Duration,
    /// Instances the pooling allocator has room for, across all plugins.
    pub max_instances: u32,
    /// Largest linear memory any plugin may be granted.
    pub max_memory_bytes: usize,
    /// Where compiled components are cached; `None` compiles on every load.
    pub cache_dir: Option<PathBuf>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            epoch_tick: Duration::from_millis(5),
            max_instances: 128,
            max_memory_bytes: 64 << 20,
            cache_dir: None,
        }
    }
}

/// Compiled components in use, by SHA-256, with how many plugins use each: tenants (and
/// versions) loading the same file share one copy of its machine code.
pub(crate) type Compiled = Arc<Mutex<HashMap<String, (Component, usize)>>>;

/// A plugin's use of a shared compiled component; dropping it lets the code go when no
/// other plugin uses it.
pub(crate) struct CompiledUse {
    compiled: Compiled,
    sha256: String,
}

impl Drop for CompiledUse {
    fn drop(&mut self) {
        let mut map = self.compiled.lock().expect("not poisoned");
        if let Some((_, users)) = map.get_mut(&self.sha256) {
            *users -= 1;
            if *users == 0 {
                map.remove(&self.sha256);
            }
        }
    }
}

/// Compiles, caches and links plugins.
pub struct PluginEngine {
    engine: Engine,
    linker: Linker<HostState>,
    config: EngineConfig,
    cache: Option<ComponentCache>,
    compiled: Compiled,
    ticker: EpochTicker,
}

impl PluginEngine {
    /// Build the engine and start its epoch ticker.
    pub fn new(config: EngineConfig) -> Result<Self, RuntimeError> {
        let mut pool = PoolingAllocationConfig::default();
        let n = config.max_instances.max(1);
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(8))
            .total_memories(n.saturating_mul(2))
            .total_tables(n.saturating_mul(8))
            .max_core_instances_per_component(32)
            .max_memories_per_component(4)
            .max_tables_per_component(16)
            .max_memory_size(config.max_memory_bytes)
            // keep freed slots warm: re-instantiation after a trap stays cheap
            .max_unused_warm_slots(n);
        let mut cfg = Config::new();
        cfg.wasm_component_model(true)
            .epoch_interruption(true)
            .cranelift_opt_level(OptLevel::Speed)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&cfg).map_err(|e| RuntimeError::Engine {
            what: "configuring",
            source: cause(e),
        })?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| RuntimeError::Engine {
            what: "linking WASI",
            source: cause(e),
        })?;
        bindings::Plugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(|e| RuntimeError::Engine {
                what: "linking host interfaces",
                source: cause(e),
            })?;
        let cache = match &config.cache_dir {
            Some(dir) => Some(ComponentCache::new(dir)?),
            None => None,
        };
        let ticker = EpochTicker::start(engine.clone(), config.epoch_tick).map_err(|e| {
            RuntimeError::Engine {
                what: "starting the epoch ticker",
                source: cause(e),
            }
        })?;
        Ok(PluginEngine {
            engine,
            linker,
            config,
            cache,
            compiled: Compiled::default(),
            ticker,
        })
    }

    /// The configuration this engine was built with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The compiled form of `wasm` (SHA-256 `sha256`): shared with the plugins already
    /// using it, else from the disk cache, else compiled. The flag is true when no
    /// compilation was needed.
    pub(crate) fn compile_shared(
        &self,
        sha256: &str,
        wasm: &[u8],
    ) -> Result<(Component, bool, CompiledUse), RuntimeError> {
        let user = || CompiledUse {
            compiled: self.compiled.clone(),
            sha256: sha256.to_string(),
        };
        if let Some((c, users)) = self.compiled.lock().expect("not poisoned").get_mut(sha256) {
            *users += 1;
            return Ok((c.clone(), true, user()));
        }
        // compiled outside the lock: other loads go on meanwhile (two loads of one new
        // file may both compile; the second result is dropped)
        let (component, from_cache) = self.compile(wasm)?;
        let mut map = self.compiled.lock().expect("not poisoned");
        let entry = map
            .entry(sha256.to_string())
            .or_insert_with(|| (component, 0));
        entry.1 += 1;
        Ok((entry.0.clone(), from_cache, user()))
    }

    /// Compile `wasm` (or take it from the cache).
    pub(crate) fn compile(&self, wasm: &[u8]) -> Result<(Component, bool), RuntimeError> {
        match &self.cache {
            Some(cache) => cache.load_or_compile(&self.engine, wasm),
            None => Component::new(&self.engine, wasm)
                .map(|c| (c, false))
                .map_err(|e| RuntimeError::Compile(cause(e))),
        }
    }

    pub(crate) fn ticker(&self) -> TickerHandle {
        self.ticker.handle()
    }

    pub(crate) fn linker(&self) -> &Linker<HostState> {
        &self.linker
    }

    /// The number of epoch ticks that make up `deadline` (at least 1; one more than the
    /// exact count because the current tick is already partly gone).
    pub(crate) fn deadline_ticks(&self, deadline: Duration) -> u64 {
        let tick = self.config.epoch_tick.as_nanos().max(1);
        (deadline.as_nanos().div_ceil(tick) as u64).max(1) + 1
    }
}
