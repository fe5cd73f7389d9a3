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

/// mimalloc's `purge_delay` option (milliseconds; index in its option enum, checked by a
/// test against the option's documented default of 1000).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keep a proxy's memory churn out of the kernel. Transactions live for the wait timer
/// (seconds), so pages mimalloc frees are needed again soon: by default it hands them back
/// after 1 s and faults them in again, and with transparent huge pages (Debian's default
/// is `always`) each such fault clears 2 MiB. Measured at 1000 proxied calls/s: ~15 % of
/// the process's CPU in page clearing and allocator slow paths. Pages are returned after
/// 10 s idle instead, and the process uses 4 KiB pages.
fn tune_allocator() {
    // SAFETY: PR_SET_THP_DISABLE only sets a flag on this process; its arguments are plain
    // integers.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    // An operator's MIMALLOC_PURGE_DELAY (read by mimalloc itself) wins.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: setting an option is thread-safe in mimalloc; the value is a plain integer.
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10_000);
        }
    }
}

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
    /// Talk to a running router over its control socket (JSON-RPC).
    Ctl {
        /// The control socket (default: `[control] socket` of --config).
        #[arg(long, short)]
        socket: Option<PathBuf>,
        /// Read the socket path from this configuration.
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        request: CtlRequest,
    },
}

#[derive(Subcommand)]
enum CtlRequest {
    /// Reload a tenant's plugin file (all tenants when none is named).
    Reload {
        /// Tenant name.
        tenant: Option<String>,
    },
    /// Tenants, the plugin version each runs, its SHA-256, load time, errors and counters.
    Plugins,
    /// Router, transaction and per-tenant counters.
    Stats,
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            config,
            listen,
            log_format,
            log_level,
        } => run(config, listen, log_format, log_level),
        Command::Check { plugin } => check(plugin),
        Command::Ctl {
            socket,
            config,
            request,
        } => ctl(socket, config, request),
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
    let tenants = sipwasm::tenants::Tenants::load(&cfg)?;
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
        // handlers first: a SIGTERM right after "listening" must stop, not kill, the router
        let signals = Signals::install()?;
        let server = Server::start(sipwasm::server_settings(&cfg), tenants.clone(), listeners)?;
        let _watcher = if cfg.watch_plugins {
            Some(sipwasm::watch::start(tenants.clone())?)
        } else {
            None
        };
        let _control = match &cfg.control_socket {
            Some(path) => Some(sipwasm::control::serve(path, server.router().clone())?),
            None => None,
        };
        server.run_until(signals.wait(tenants)).await;
        Ok::<_, anyhow::Error>(())
    })
}

/// SIGINT/SIGTERM stop the router; SIGHUP reloads every tenant's plugin.
struct Signals {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("watching SIGTERM")?,
            hup: signal(SignalKind::hangup()).context("watching SIGHUP")?,
        })
    }

    async fn wait(mut self, tenants: std::sync::Arc<sipwasm::tenants::Tenants>) {
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return,
                _ = self.term.recv() => return,
                _ = self.hup.recv() => {
                    tracing::info!("SIGHUP: reloading every tenant's plugin");
                    let t = tenants.clone();
                    // compiling is CPU work: off the I/O threads, and the signal loop goes on
                    tokio::task::spawn_blocking(move || t.reload(None));
                }
            }
        }
    }
}

fn ctl(
    socket: Option<PathBuf>,
    config: Option<PathBuf>,
    request: CtlRequest,
) -> anyhow::Result<()> {
    let socket = match (socket, config) {
        (Some(s), _) => s,
        (None, Some(c)) => Config::load(&c)?
            .control_socket
            .with_context(|| format!("{} has no [control] socket", c.display()))?,
        (None, None) => anyhow::bail!("give --socket PATH or --config FILE"),
    };
    let (method, params) = match &request {
        CtlRequest::Reload { tenant } => ("reload", serde_json::json!({ "tenant": tenant })),
        CtlRequest::Plugins => ("plugins", serde_json::Value::Null),
        CtlRequest::Stats => ("stats", serde_json::Value::Null),
    };
    let result = sipwasm::control::call(&socket, method, params)?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    if let CtlRequest::Reload { .. } = request {
        let failed: Vec<&str> = result
            .as_array()
            .into_iter()
            .flatten()
            .filter(|o| o["outcome"] == "failed")
            .filter_map(|o| o["tenant"].as_str())
            .collect();
        if !failed.is_empty() {
            anyhow::bail!(
                "reload refused for {}: the old version keeps serving",
                failed.join(", ")
            );
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        // SAFETY: reading an option.
        let default = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        assert_eq!(default, 1000, "mimalloc's option enum changed");
    }
}
