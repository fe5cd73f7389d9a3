//! sipwasm integration tests: real routers on 127.0.0.1 driven by SIPp, raw sockets and
//! the `sipwasm` binary. One test binary, one module per area.

mod harness;

mod bodies;
mod cli;
mod configs;
mod dispatcher;
mod edge;
mod internet_facing;
mod malformed;
mod msrp;
mod nat_traversal;
mod neighbours;
mod netlab;
mod nosip;
mod operate;
mod pjsip;
mod real_phones;
mod relay_attempts;
mod rfc3261_proxy;
mod rfc3261_stateless;
mod runtime;
mod sdks;
mod shared_state;
mod templates;
mod tenants;
mod testkit;
mod timers;
mod tls;
mod uac;
