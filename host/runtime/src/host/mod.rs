//! The host side of each WIT interface, one module per interface. Each is a thin adapter
//! from the generated `Host` trait to [`sipwasm_routing::RouteContext`].

mod auth;
mod config;
mod core;
mod dialog;
mod dispatcher;
mod forward;
mod hdr;
mod htable;
mod log;
mod maxfwd;
mod msrp;
mod nathelper;
mod net;
mod nosip;
mod path;
mod permissions;
mod pike;
mod pv;
mod ratelimit;
mod registrar;
mod rr;
mod rtimer;
mod sanity;
mod sdpops;
mod siputils;
mod sl;
mod statistics;
mod textops;
mod tm;
mod uac;

pub(crate) use pv::pv_error;
