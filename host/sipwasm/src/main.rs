//! `sipwasm`: run the router, or check a plugin.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use sipwasm::config::{Config, LogFormat};
use sipwasm::server::Server;
use sipwasm_runtime::{EngineConfig, PluginEngine, PluginSettings};
use sipwasm_transport::ListenSpec;
use std::path::PathBuf;
use std::process::ExitCode;

/// jemalloc: its thread caches hand a freed block out again first (LIFO), so the dozens
/// of short-lived allocations of every message come back warm. mimalloc, used before,
/// pops a page's free list before it reuses what was just freed there, and nearly every
/// allocation of a proxied call missed the cache on the block it popped: with jemalloc
/// the router costs ~6 % less CPU per call at 1000 calls/s (BENCHMARKS.md). Its purging of
/// unused pages waits 10 s (`dirty_decay_ms`), longer than a transaction lingers.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Use 4 KiB pages. With transparent huge pages set to `always` (Debian's default on
/// some kernels), pages the allocator returns and takes back come as freshly cleared
/// 2 MiB pages: measured at 1000 proxied calls/s, ~7 % of the process's CPU in clearing.
fn tune_allocator() {
    // SAFETY: PR_SET_THP_DISABLE only sets a flag on this process; its arguments are plain
    // integers.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
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
        /// Share registrations with other routers in Redis at this URL
        /// (redis://HOST:PORT[/DB]), whatever the config's [state] says.
        #[arg(long, value_name = "URL")]
        state_url: Option<String>,
        /// Serve /metrics (Prometheus) and /health on this IP:PORT, whatever the
        /// config's [metrics] says.
        #[arg(long, value_name = "IP:PORT")]
        metrics_listen: Option<std::net::SocketAddr>,
    },
    /// Check that a component is a valid sipwasm plugin and list what it imports and exports.
    Check {
        /// The .wasm component.
        plugin: PathBuf,
    },
    /// Run a plugin over files of cases, without sockets: each case is a message in and
    /// what should come of it (reply, relay targets, headers, log lines, tables). Exits 1
    /// when a case fails.
    Test {
        /// `[PLUGIN.wasm] CASES.toml...`: the plugin (else the configuration's default
        /// tenant's), then the files of cases.
        #[arg(required = true, value_name = "PATHS")]
        paths: Vec<PathBuf>,
        /// The router configuration the plugin runs under (listeners, aliases, tables,
        /// limits); without it, one UDP and one TCP listener on 127.0.0.1:5060.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Print the HA1 hashes (MD5 and SHA-256, `:`-separated) of a user's password, for
    /// the config instead of the password itself. The password is read from standard
    /// input (not echoed on a terminal).
    Passwd {
        /// The user name.
        user: String,
        /// The realm (the domain the user registers in).
        realm: String,
    },
    /// Talk to a running router over its control socket (JSON-RPC).
    Ctl {
        /// The control socket (default: `[control] socket` of --config).
        #[arg(long, short)]
        socket: Option<PathBuf>,
        /// Read the socket path (and the token) from this configuration.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The `[control] token`, for the methods that change something (default: the
        /// config's, or $SIPWASM_CTL_TOKEN).
        #[arg(long, env = "SIPWASM_CTL_TOKEN", hide_env_values = true)]
        token: Option<String>,
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
    /// Router, transaction, security and per-tenant counters.
    Stats,
    /// Sources banned for failed authentications, and users throttled.
    Bans,
    /// Lift the ban of a source (every ban and throttle when none is given).
    Unban {
        /// The banned IP address.
        source: Option<std::net::IpAddr>,
    },
    /// Run FILE beside TENANT's live version on copies of its new requests (every side
    /// effect held back) and compare what the two decide; see the counts and the newest
    /// differences with `call shadow.show`, stop it with `call shadow.stop TENANT`.
    Shadow {
        /// Tenant name.
        tenant: String,
        /// The new plugin version (`.wasm`).
        file: PathBuf,
    },
    /// Make TENANT's shadow version its live one (its file replaces the tenant's; swapped
    /// in as a reload is).
    Promote {
        /// Tenant name.
        tenant: String,
    },
    /// Any method by name, kamcmd style: `call ul.show alice@example.com`, `call
    /// htable.seti calls n 0`, `call log.level debug`; `key=value` arguments pass named
    /// parameters instead (`call ul.dump tenant=acme`). See README "Operate it".
    Call {
        /// The method (`core.uptime`, `tenant.list`, `ul.dump`, `htable.get`, `tm.list` ...).
        method: String,
        /// Its parameters.
        params: Vec<String>,
    },
}

/// The parameter names the control methods take (`name=value` arguments).
const CTL_PARAMS: &[&str] = &[
    "tenant", "table", "aor", "key", "value", "filter", "source", "path", "state", "set", "uri",
];

/// `sipwasm ctl call` arguments as JSON-RPC params: positional, or named when every one
/// is `name=value` with a name some method takes (`log.level sipwasm=debug` is a
/// positional filter, not a parameter named `sipwasm`).
fn call_params(args: &[String]) -> serde_json::Value {
    use serde_json::Value;
    if args.is_empty() {
        return Value::Null;
    }
    let named: Option<serde_json::Map<String, Value>> = args
        .iter()
        .map(|a| {
            a.split_once('=')
                .filter(|(k, _)| CTL_PARAMS.contains(k))
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        })
        .collect();
    match named {
        Some(map) => Value::Object(map),
        None => Value::Array(args.iter().cloned().map(Value::String).collect()),
    }
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
            state_url,
            metrics_listen,
        } => run(
            config,
            listen,
            (log_format, log_level),
            state_url,
            metrics_listen,
        ),
        Command::Check { plugin } => check(plugin),
        Command::Passwd { user, realm } => passwd(&user, &realm),
        Command::Test { paths, config } => match test(paths, config) {
            Ok(true) => return ExitCode::SUCCESS,
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
        Command::Ctl {
            socket,
            config,
            token,
            request,
        } => ctl(socket, config, token, request),
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
    (log_format, log_level): (Option<LogFormatArg>, Option<String>),
    state_url: Option<String>,
    metrics_listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<()> {
    let mut cfg = Config::load(&config)?;
    if !listen.is_empty() {
        cfg.listen = listen;
    }
    if metrics_listen.is_some() {
        cfg.metrics_listen = metrics_listen;
    }
    if let Some(url) = state_url {
        cfg.state = cfg
            .state_section
            .with_url(&url)
            .map_err(|e| anyhow::anyhow!("--state-url: {e}"))?;
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
        // the control socket as soon as the router serves (the plugin watcher takes longer)
        let _control = match &cfg.control_socket {
            Some(path) => Some(sipwasm::control::serve(
                path,
                server.router().clone(),
                sipwasm::control::Access {
                    mode: cfg.control_mode,
                    token: cfg.control_token.clone(),
                },
            )?),
            None => None,
        };
        let _metrics = match cfg.metrics_listen {
            Some(addr) => Some(
                sipwasm::metrics::serve(addr, server.router().clone())
                    .with_context(|| format!("metrics listener on {addr}"))?,
            ),
            None => None,
        };
        let _watcher = if cfg.watch_plugins {
            Some(sipwasm::watch::start(tenants.clone())?)
        } else {
            None
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

fn passwd(user: &str, realm: &str) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let password = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("password of {user}@{realm}: "))?
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if password.is_empty() {
        anyhow::bail!("empty password");
    }
    println!(
        "{}",
        sipwasm_routing::auth::ha1_record(user, realm, &password)
    );
    Ok(())
}

fn ctl(
    socket: Option<PathBuf>,
    config: Option<PathBuf>,
    token: Option<String>,
    request: CtlRequest,
) -> anyhow::Result<()> {
    let config = config
        .map(|c| Config::load(&c).map(|cfg| (c, cfg)))
        .transpose()?;
    let token = token.or_else(|| config.as_ref().and_then(|(_, c)| c.control_token.clone()));
    let socket = match (socket, &config) {
        (Some(s), _) => s,
        (None, Some((path, c))) => c
            .control_socket
            .clone()
            .with_context(|| format!("{} has no [control] socket", path.display()))?,
        (None, None) => anyhow::bail!("give --socket PATH or --config FILE"),
    };
    let (method, params) = match &request {
        CtlRequest::Reload { tenant } => ("reload", serde_json::json!({ "tenant": tenant })),
        CtlRequest::Plugins => ("plugins", serde_json::Value::Null),
        CtlRequest::Stats => ("stats", serde_json::Value::Null),
        CtlRequest::Bans => ("bans", serde_json::Value::Null),
        CtlRequest::Unban { source } => ("unban", serde_json::json!({ "source": source })),
        CtlRequest::Shadow { tenant, file } => {
            // the router resolves paths from its own directory: send an absolute one
            let file = std::path::absolute(file).with_context(|| format!("{}", file.display()))?;
            (
                "shadow",
                serde_json::json!({ "tenant": tenant, "path": file.display().to_string() }),
            )
        }
        CtlRequest::Promote { tenant } => {
            ("shadow.promote", serde_json::json!({ "tenant": tenant }))
        }
        CtlRequest::Call { method, params } => (method.as_str(), call_params(params)),
    };
    let result = sipwasm::control::call(&socket, method, params, token.as_deref())?;
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

fn test(paths: Vec<PathBuf>, config: Option<PathBuf>) -> anyhow::Result<bool> {
    let (plugin, cases) = match paths.split_first() {
        Some((first, rest)) if first.extension().is_some_and(|e| e == "wasm") => {
            (Some(first.as_path()), rest)
        }
        _ => (None, paths.as_slice()),
    };
    if cases.is_empty() {
        anyhow::bail!("no files of cases");
    }
    sipwasm::testkit::run_files(config.as_deref(), plugin, cases)
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
