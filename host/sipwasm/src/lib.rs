//! # sipwasm
//!
//! The router: configuration, logging, and the server that ties the transport, the SIP
//! parser and the plugin runtime together. The binary (`sipwasm run`, `sipwasm check`) is
//! a thin CLI over this library; tests start servers in-process on port 0.
#![deny(missing_docs)]

pub use sipwasm_config as config;
pub mod dns;
pub mod graveyard;
pub mod logging;
pub mod metrics;
pub mod proxy;
pub mod rtimer;
pub mod server;
pub mod shares;
pub mod state;

use config::Config;

pub mod control;
pub mod tenants;
pub mod testkit;
pub mod watch;

/// Unix time in seconds, as routes and tables count it.
pub(crate) fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Server settings from a configuration.
pub fn server_settings(cfg: &Config) -> server::ServerSettings {
    server::ServerSettings {
        workers: cfg.workers,
        aliases: cfg.aliases.clone(),
        server_header: cfg.server_header.clone(),
        listen: cfg.listen.clone(),
        tcp: sipwasm_transport::TcpLimits {
            max_message: cfg.max_message_size,
            idle_timeout: std::time::Duration::from_secs(cfg.tcp.idle_timeout_secs),
            message_timeout: std::time::Duration::from_secs(cfg.tcp.message_timeout_secs),
            max_connections: cfg.tcp.max_connections,
            msrp_max_chunk: cfg.msrp.max_chunk_size,
            ..Default::default()
        },
        timers: cfg.timers,
        dns: cfg.dns.clone(),
        nosip: cfg.nosip.clone(),
        htables: cfg.htables.clone(),
        msrp_sipmsg: cfg.msrp.sipmsg,
        tls: cfg.tls.clone(),
        secret: cfg.secret.clone(),
        natping: cfg.natping.clone(),
        path_from: cfg.path_from.clone(),
        trusted_peers: cfg.trusted_peers.clone(),
        guard: cfg.guard.clone(),
        state: cfg.state.clone(),
        dispatcher: cfg.dispatcher.clone(),
        config_source: Some(cfg.source.clone()),
        proxy_require: cfg.proxy_require.clone(),
        pike: cfg.pike,
        address_groups: cfg.address_groups.clone(),
        ratelimit: cfg.ratelimit.clone(),
        advertise: cfg
            .listen
            .iter()
            .filter_map(|l| l.advertise.clone().map(|a| (l.transport, l.addr, a)))
            .collect(),
    }
}
