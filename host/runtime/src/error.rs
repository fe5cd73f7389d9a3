//! Errors of the plugin runtime. Each keeps what caused it as its `source()` (wasmtime's
//! own chain of contexts included), so whoever prints one shows as much as it needs:
//! [`Report`] prints the whole chain on one line.

use std::error::Error;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// What an error of the runtime was caused by (shared: the errors are `Clone`).
pub type Cause = Arc<dyn Error + Send + Sync>;

/// `e` as a [`Cause`], its own chain kept.
pub(crate) fn cause(e: impl Into<Box<dyn Error + Send + Sync>>) -> Cause {
    Arc::from(e.into())
}

/// Why an event did not complete normally.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The CPU deadline was reached.
    #[error("CPU deadline exceeded")]
    Timeout,
    /// The guest trapped after the memory cap refused to grow its memory.
    #[error("memory cap reached: {0}")]
    MemoryCap(String),
    /// The guest trapped (panic, unreachable, out-of-bounds access ...).
    #[error("trap: {0}")]
    Trap(String),
    /// The route does not exist in the plugin.
    #[error("no route named {0:?}")]
    UnknownRoute(String),
    /// The route reported failure.
    #[error("route failed: {0}")]
    RouteFailed(String),
    /// No instance could be created.
    #[error("{0}")]
    Instantiate(String),
    /// The event went on logging far past its tenant's log rate and was cut.
    #[error(
        "log flood: cut after {} refused log lines",
        crate::account::MAX_DROPPED_PER_EVENT
    )]
    LogFlood,
    /// A host function panicked during the event (a bug of the router, not the plugin's).
    #[error("a host function panicked: {0}")]
    HostPanic(String),
    /// The tenant is quarantined or spent its CPU budget: the event was not run.
    #[error("{}", match .0 {
        crate::Refusal::Quarantined => "the tenant is quarantined after repeated failures",
        crate::Refusal::OverBudget => "the tenant spent its CPU budget",
    })]
    Refused(crate::Refusal),
}

impl EventError {
    /// True when the instance is unusable afterwards (the component model forbids entering
    /// an instance that trapped).
    pub fn discards_instance(&self) -> bool {
        matches!(
            self,
            EventError::Timeout
                | EventError::MemoryCap(_)
                | EventError::Trap(_)
                | EventError::LogFlood
        )
    }
}

/// Why the runtime could not do something with a plugin.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The engine could not be built.
    #[error("wasm engine: {what}")]
    Engine {
        /// The step that failed.
        what: &'static str,
        /// Why.
        #[source]
        source: Cause,
    },
    /// A file could not be read or written.
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// Not a valid component, or compilation failed.
    #[error("not a valid component")]
    Compile(#[source] Cause),
    /// The component does not fit the `sipwasm:router` world: an import the router does not
    /// provide, or a missing or mistyped export.
    #[error("component does not match the sipwasm:router plugin world")]
    World(#[source] Cause),
    /// The plugin asks for more memory than the engine gives any instance.
    #[error("memory limit {limit} exceeds the engine maximum {max}")]
    MemoryLimit {
        /// The plugin's cap, bytes.
        limit: usize,
        /// The engine's, bytes.
        max: usize,
    },
    /// Creating an instance failed (out of pool slots, a trap in a start function ...).
    #[error("instantiation failed")]
    Instantiate(#[source] Cause),
    /// The tenant already has as many live instances as its limit allows.
    #[error("the tenant's instance limit ({0}) is reached")]
    InstanceLimit(usize),
    /// The plugin's `self-test` export reported a failure.
    #[error("self-test failed: {0}")]
    SelfTestFailed(String),
    /// The plugin's `self-test` export did not complete (trap, deadline, memory cap).
    #[error("self-test did not complete")]
    SelfTestCrashed(#[source] EventError),
}

impl RuntimeError {
    /// A file error.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RuntimeError::Io {
            path: path.into(),
            source: Arc::new(source),
        }
    }
}

/// An error and every cause under it, `: `-separated, on one line: what a log line, a
/// command's output or a stored status shows.
pub struct Report<'a>(pub &'a (dyn Error + 'a));

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(e) = next {
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_shows_the_whole_chain_once() {
        let inner = wasmtime::Error::msg("bad magic").context("parsing the component");
        let e = RuntimeError::Compile(cause(inner));
        assert_eq!(e.to_string(), "not a valid component");
        assert_eq!(
            Report(&e).to_string(),
            "not a valid component: parsing the component: bad magic"
        );
        let io = RuntimeError::io("/x.wasm", std::io::Error::other("gone"));
        assert_eq!(Report(&io).to_string(), "/x.wasm: gone");
    }
}
