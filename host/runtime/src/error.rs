//! Errors of the plugin runtime.

use std::path::PathBuf;

/// Why the runtime could not do something with a plugin.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The engine could not be built.
    #[error("wasm engine: {0}")]
    Engine(String),
    /// A file could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: String,
    },
    /// Not a valid component, or compilation failed.
    #[error("not a valid component: {0}")]
    Compile(String),
    /// The component does not fit the `sipwasm:router` world: an import the router does not
    /// provide, or a missing or mistyped export.
    #[error("component does not match the sipwasm:router plugin world: {0}")]
    World(String),
    /// Creating an instance failed (out of pool slots, a trap in a start function ...).
    #[error("instantiation failed: {0}")]
    Instantiate(String),
    /// The tenant already has as many live instances as its limit allows.
    #[error("the tenant's instance limit ({0}) is reached")]
    InstanceLimit(usize),
}
