//! # sipwasm
//!
//! The router: configuration, logging, and the server that ties the transport, the SIP
//! parser and the plugin runtime together. The binary (`sipwasm run`, `sipwasm check`) is
//! a thin CLI over this library; tests start servers in-process on port 0.
#![deny(missing_docs)]

pub mod config;
pub mod dns;
pub mod logging;
pub mod proxy;
pub mod server;

use config::Config;
use sipwasm_runtime::{EngineConfig, Plugin, PluginEngine, PluginSettings};
use std::sync::Arc;

/// Build the plugin engine and load the configured plugin.
pub fn load_plugin(cfg: &Config) -> anyhow::Result<(PluginEngine, Arc<Plugin>)> {
    let engine = PluginEngine::new(EngineConfig {
        epoch_tick: cfg.epoch_tick,
        max_instances: cfg.max_instances,
        max_memory_bytes: cfg.memory_limit.max(16 << 20),
        cache_dir: cfg.cache_dir.clone(),
    })?;
    let settings = PluginSettings {
        name: cfg.plugin_name.clone(),
        deadline: cfg.deadline,
        memory_limit: cfg.memory_limit,
        config: cfg.plugin_config.clone(),
        udp_allow: cfg.udp_allow.clone(),
    };
    let plugin = engine
        .load_file(&cfg.plugin_path, settings)
        .map_err(|e| anyhow::anyhow!("plugin {}: {e}", cfg.plugin_name))?;
    Ok((engine, plugin))
}

/// Server settings from a configuration.
pub fn server_settings(cfg: &Config) -> server::ServerSettings {
    server::ServerSettings {
        workers: cfg.workers,
        aliases: cfg.aliases.clone(),
        server_header: cfg.server_header.clone(),
        fallback: cfg.fallback.clone(),
        tcp: sipwasm_transport::TcpLimits {
            max_message: cfg.max_message_size,
            idle_timeout: std::time::Duration::from_secs(cfg.tcp.idle_timeout_secs),
            message_timeout: std::time::Duration::from_secs(cfg.tcp.message_timeout_secs),
            max_connections: cfg.tcp.max_connections,
            ..Default::default()
        },
        timers: cfg.timers,
        dns: cfg.dns.clone(),
        nosip: cfg.nosip.clone(),
        htables: cfg.htables.clone(),
        advertise: cfg
            .listen
            .iter()
            .filter_map(|l| l.advertise.clone().map(|a| (l.transport, l.addr, a)))
            .collect(),
    }
}
