//! The host side of each WIT interface, one module per interface. Each is a thin adapter
//! from the generated `Host` trait to [`sipwasm_routing::RouteContext`].

mod config;
mod core;
mod hdr;
mod log;
mod pv;
mod sl;

pub(crate) use pv::pv_error;
