//! # sipwasm-routing
//!
//! The sans-IO routing core: everything one routing event reads and changes, independent of
//! sockets and of the plugin runtime. The runtime's host functions (`pv`, `sl`, `hdr`,
//! `core` ...) are thin adapters over [`RouteContext`]; what the event wants sent comes out
//! as [`Transmit`] messages for the transport.
//!
//! - [`pv`] — pseudo-variable names (`$ru`, `$(hdr(Via)[1])`, `$(mb{s.select,1,:})`)
//! - [`transform`] — transformations (`{s.len}`, `{uri.user}`, `{tobody.tag}` ...)
//! - [`lumps`] — header changes recorded as lumps and applied on send
//! - [`event`] — the event a plugin is called for: SIP, a non-SIP packet, or an MSRP frame
//! - [`env`] — the router's identity: listeners, aliases, keys, trusted peers, tables
//! - [`context`] — the state of one SIP event
//! - [`sl`], [`hdr`], [`core`] — stateless replies; header edits; flags, methods, `is_myself`
//! - [`tm`] — `t_relay` and friends (recorded as intents)
//! - [`forward`] — the request a proxy sends on, stateless `forward`, stateless replies
//! - [`maxfwd`] — `process_maxfwd`
//! - [`branch`] — the destination set: branches with their own `$du`, Path, socket, q
//! - [`rr`] — `record_route`, `loose_route`: signed Record-Route and Path URIs, flow tokens
//! - [`nathelper`] — NAT detection, Contact fixing and aliases
//! - [`path`] — `add_path` for an edge proxy in front of a registrar (RFC 3327)
//! - [`siputils`] — `has_totag`
//! - [`dialog`] — the dialogs this router record-routed: where their requests may go
//! - [`registrar`] — `save`, `lookup`, the location tables
//! - [`auth`] — digest challenges and checks
//! - [`services`] — what the router provides: name resolution, transaction lookups
//! - [`nosip`] — non-SIP packets (`event_route[nosip:msg]`): filters and the event state
//! - [`net`] — outbound UDP for plugins, allowed by config only
//! - [`htable`] — shared tables with autoexpire
#![deny(missing_docs)]

pub mod auth;
pub mod branch;
pub mod context;
pub mod core;
pub mod dialog;
pub mod dispatcher;
pub mod env;
pub mod event;
pub mod forward;
pub mod hdr;
pub mod htable;
pub mod lumps;
pub mod maxfwd;
pub mod msrp;
pub mod nathelper;
pub mod net;
pub mod nosip;
pub mod path;
pub mod permissions;
pub mod pike;
pub mod pv;
pub mod ratelimit;
pub mod registrar;
pub mod rr;
pub mod rtimer;
pub mod sanity;
mod scope;
pub mod sdpops;
pub mod services;
pub mod shadow;
pub mod siputils;
pub mod sl;
pub mod statistics;
pub mod textops;
pub mod tm;
pub mod transform;
pub mod uac;
pub mod value;

pub use branch::Branch;
pub use context::{RouteContext, Transmit};
pub use core::CoreError;
pub use env::{Alias, ConnId, Grants, Listener, LocalConfig, Source};
pub use event::Event;
pub use htable::{HtError, HtValue, HtableSpec, Htables, MemoryTable, TableStore};
pub use lumps::HdrError;
pub use maxfwd::MaxFwd;
pub use msrp::{MsrpEvent, MsrpRelayError, MsrpReplyError};
pub use nathelper::{NatError, NatPing};
pub use net::{NetError, UdpAllow};
pub use nosip::{NosipError, NosipFilter, RawEvent};
pub use path::PathError;
pub use pv::{PvError, PvSpec};
pub use rr::{Flow, RecordRoute, Routed, RrError};
pub use rtimer::{OneShot, RtimerError, TimerEvent, TimerKind, TimerSpec};
pub use services::{Caller, NextHop, ResolveError, Services, StaticServices};
pub use sl::{SlError, reply_to_malformed};
pub use tm::{BranchPlan, Resume, TmError, TmIntent, TmState, TxInfo};
pub use value::Value;
#[cfg(test)]
mod proxy_tests;
#[cfg(test)]
mod rr_tests;

/// Lock a table shared by every event (location, dialogs, htables, nonces). A panic in a
/// host function is caught around the plugin call (the event fails, the router goes on):
/// a table it left poisoned is used as it is rather than failing every later event.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
