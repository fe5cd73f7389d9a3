//! `sipwasm`: run the router, or check a plugin.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use sipwasm::config::{Config, LogFormat};
use sipwasm::server::Server;
use sipwasm_runtime::{EngineConfig, PluginEngine, PluginSettings};
use sipwasm_transport::ListenSpec;
use std::path::PathBuf;
use std::process::ExitCode;

/// glibc's per-thread arenas grow and trim their heaps (mprotect, page faults) as
/// transactions come and go: ~12 % of the proxy worker's CPU under load. mimalloc keeps
/// freed pages for reuse.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "sipwasm",
    version,
    about = "SIP router with WebAssembly routing plugins"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the router with a configuration file.
    Run {
        /// The TOML configuration.
        #[arg(long, short)]
        config: PathBuf,
        /// Listen on PROTO:IP:PORT instead of the config's listeners (repeatable),
        /// e.g. --listen udp:127.0.0.1:5070 --listen tcp:127.0.0.1:5070, or
        /// --listen "udp:0.0.0.0:5060 advertise 203.0.113.7:5060".
        #[arg(long = "listen", value_name = "PROTO:IP:PORT")]
        listen: Vec<ListenSpec>,
        /// Log format (overrides the config).
        #[arg(long, value_enum)]
        log_format: Option<LogFormatArg>,
        /// Log filter such as info or debug (overrides the config; RUST_LOG wins).
        #[arg(long)]
        log_level: Option<String>,
    },
    /// Check that a component is a valid sipwasm plugin and list what it imports and exports.
    Check {
        /// The .wasm component.
        plugin: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            config,
            listen,
            log_format,
            log_level,
        } => run(config, listen, log_format, log_level),
        Command::Check { plugin } => check(plugin),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sipwasm: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    config: PathBuf,
    listen: Vec<ListenSpec>,
    log_format: Option<LogFormatArg>,
    log_level: Option<String>,
) -> anyhow::Result<()> {
    let mut cfg = Config::load(&config)?;
    if !listen.is_empty() {
        cfg.listen = listen;
    }
    let format = match log_format {
        Some(LogFormatArg::Json) => LogFormat::Json,
        Some(LogFormatArg::Text) => LogFormat::Text,
        None => cfg.log_format,
    };
    sipwasm::logging::init(format, log_level.as_deref().or(cfg.log_level.as_deref()));
    let (_engine, plugin) = sipwasm::load_plugin(&cfg)?;
    let listeners = cfg
        .listen
        .iter()
        .map(|spec| spec.bind().with_context(|| format!("binding {spec}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.workers.clamp(1, 4))
        .thread_name("sipwasm-io")
        .enable_all()
        .build()
        .context("starting the I/O runtime")?;
    rt.block_on(async {
        let server = Server::start(sipwasm::server_settings(&cfg), plugin, listeners)?;
        server.run_until(shutdown_signal()).await;
        Ok::<_, anyhow::Error>(())
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot watch SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn check(path: PathBuf) -> anyhow::Result<()> {
    let engine = PluginEngine::new(EngineConfig {
        max_instances: 2,
        ..EngineConfig::default()
    })?;
    let name = path.file_stem().map_or_else(
        || "plugin".to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    let plugin = engine
        .load_file(&path, PluginSettings::new(name))
        .with_context(|| format!("{} is not a usable sipwasm plugin", path.display()))?;
    plugin
        .instantiate()
        .with_context(|| format!("{} loads but cannot be instantiated", path.display()))?;
    let r = plugin.report();
    println!("ok: {} is a sipwasm:router@0.1.0 plugin", path.display());
    println!("sha256: {}", r.sha256);
    println!("exports:");
    for e in &r.exports {
        println!("  {e}");
    }
    println!("imports:");
    for i in &r.imports {
        let note = if i.starts_with("wasi:filesystem") {
            "  [no directories are preopened: no file access]"
        } else if i.starts_with("wasi:sockets") {
            "  [denied: no network access]"
        } else if i.starts_with("wasi:cli/environment") {
            "  [empty environment, no arguments]"
        } else {
            ""
        };
        println!("  {i}{note}");
    }
    Ok(())
}
