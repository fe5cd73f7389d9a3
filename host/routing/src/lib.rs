//! # sipwasm-routing
//!
//! The sans-IO routing core: everything one routing event reads and changes, independent of
//! sockets and of the plugin runtime. The runtime's host functions (`pv`, `sl`, `hdr`,
//! `core` ...) are thin adapters over [`RouteContext`]; what the event wants sent comes out
//! as [`Outbound`] messages for the transport.
//!
//! - [`pv`] — pseudo-variable names (`$ru`, `$(hdr(Via)[1])`, `$(mb{s.select,1,:})`)
//! - [`transform`] — transformations (`{s.len}`, `{uri.user}`, `{tobody.tag}` ...)
//! - [`lumps`] — header changes recorded as lumps and applied on send
//! - [`context`] — the per-event state, stateless replies, flags, `is_myself`
#![deny(missing_docs)]

pub mod context;
pub mod lumps;
pub mod pv;
pub mod transform;
pub mod value;

pub use context::{
    Alias, ConnId, CoreError, Listener, LocalConfig, Outbound, RouteContext, SlError, Source,
    reply_to_malformed,
};
pub use lumps::HdrError;
pub use pv::{PvError, PvSpec};
pub use value::Value;
