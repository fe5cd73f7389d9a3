//! # sipwasm-runtime
//!
//! The plugin runtime, and the only crate of sipwasm that knows wasmtime. It wraps the
//! engine narrowly:
//!
//! - components compiled once with Cranelift and cached on disk ([`EngineConfig::cache_dir`]);
//! - instances created from a pre-linked `InstancePre` with the pooling allocator;
//! - a CPU deadline per event (epoch interruption, default 10 ms) and a memory cap per
//!   instance (default 16 MiB);
//! - no ambient capabilities: WASI is linked so that guests built with a standard library
//!   load, but with no preopened directories, no environment, no arguments and all
//!   network access denied; stdout and stderr go to the router log;
//! - one host module per WIT interface (`pv`, `sl`, `hdr`, `log`, `core`, `config`, `tm`,
//!   `nosip`, `net` ...), each
//!   a thin adapter over [`sipwasm_routing::RouteContext`], with a tracing span per call.
//!
//! ```no_run
//! use sipwasm_runtime::{EngineConfig, PluginEngine, PluginSettings, PluginWorker, Route};
//! # fn ctx() -> sipwasm_routing::RouteContext { unimplemented!() }
//! let engine = PluginEngine::new(EngineConfig::default())?;
//! let plugin = engine.load_file("tutorial_501.wasm".as_ref(), PluginSettings::new("tutorial-501"))?;
//! let mut worker = PluginWorker::new(plugin);
//! let outcome = worker.run(Route::Request, ctx());
//! # Ok::<(), sipwasm_runtime::RuntimeError>(())
//! ```
#![deny(missing_docs)]

mod account;
mod bindings;
mod cache;
mod engine;
mod error;
pub mod health;
mod host;
mod plugin;
mod state;
mod stats;
mod stdio;
mod ticker;

pub use account::{AccountLimits, TenantAccount};
pub use cache::sha256_hex;
pub use engine::{EngineConfig, PluginEngine};
pub use error::{EventError, Report, RuntimeError};
pub use health::{HealthPolicy, Refusal, Standing};
pub use plugin::instance::{
    EventOutcome, MsrpOutcome, Outcome, PluginInstance, PluginWorker, RawOutcome, Route,
    TimerOutcome, Verdict,
};
pub use plugin::{ComponentReport, Plugin, PluginSettings};
pub use stats::{EVENT_TIME_BOUNDS_US, EventTimes, StatsSnapshot};
