//! # sipwasm-config
//!
//! The router configuration file (TOML).
//!
//! ```toml
//! [router]
//! listen = ["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"]
//! workers = 2
//!
//! [plugin]
//! name = "tutorial-501"
//! path = "../target/wasm32-wasip2/plugin/tutorial_501.wasm"
//! ```
//!
//! Unknown keys are errors; every error names the file and the key. Relative paths are
//! relative to the directory of the config file.
#![deny(missing_docs)]

use serde::Deserialize;
use sipwasm_routing::Alias;
use sipwasm_transport::ListenSpec;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// DNS settings.
#[derive(Clone, Debug, Default)]
pub struct DnsSettings {
    /// Name servers to ask (`IP:PORT`); empty for the system's (`/etc/resolv.conf`).
    pub servers: Vec<std::net::SocketAddr>,
    /// Time allowed for one resolution.
    pub timeout: Duration,
}

/// What a tenant's account allows (the runtime's `AccountLimits` and `HealthPolicy`,
/// and the router's worker share).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TenantLimits {
    /// Most live instances at once (each worker thread keeps its own); 0: no limit.
    pub max_instances: usize,
    /// Log lines per second, with a burst of the same size; 0: no limit.
    pub log_rate: u32,
    /// Guest CPU time per second; `None`: no budget.
    pub cpu_budget: Option<Duration>,
    /// Events running at once; 0: no limit.
    pub worker_share: usize,
    /// Events waiting for a worker, past the share.
    pub queue: usize,
    /// Failures in the window that quarantine the tenant; 0: never.
    pub quarantine_after: u32,
    /// The window failures are counted in.
    pub quarantine_window: Duration,
    /// First quarantine period (doubles while it keeps failing).
    pub quarantine_first: Duration,
    /// Longest quarantine period.
    pub quarantine_max: Duration,
}

impl Default for TenantLimits {
    fn default() -> Self {
        TenantLimits {
            max_instances: 0,
            log_rate: 0,
            cpu_budget: None,
            worker_share: 0,
            queue: PluginSection::DEFAULT_QUEUE,
            quarantine_after: PluginSection::DEFAULT_QUARANTINE_AFTER,
            quarantine_window: Duration::from_secs(PluginSection::DEFAULT_QUARANTINE_WINDOW_S),
            quarantine_first: Duration::from_secs(PluginSection::DEFAULT_QUARANTINE_S),
            quarantine_max: Duration::from_secs(PluginSection::DEFAULT_QUARANTINE_MAX_S),
        }
    }
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// OS error.
        error: std::io::Error,
    },
    /// Not valid TOML, an unknown key, or a value of the wrong type.
    #[error("{}: {error}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The TOML error, with line, column and key.
        error: toml::de::Error,
    },
    /// A value that parses but is not acceptable.
    #[error("{}: {key}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key, as a dotted path.
        key: String,
        /// What is wrong.
        message: String,
    },
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

const fn default_max_message() -> usize {
    65_535
}

/// `[router]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterSection {
    /// Listeners, `PROTO:IP:PORT`.
    pub listen: Vec<String>,
    /// Worker threads per UDP socket, and for TCP messages.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Domains (optionally `host:port`) the router answers for in `is_myself`.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `Server` header of generated replies; empty (the default) for none: a version
    /// banner tells scanners which exploits to try.
    #[serde(default)]
    pub server_header: String,
    /// Largest SIP message accepted, in bytes.
    #[serde(default = "default_max_message")]
    pub max_message_size: usize,
    /// Key of the signatures on the Record-Route and Path URIs this router writes: set it
    /// (the same on every router of a deployment) so that dialogs survive a restart and
    /// routers accept each other's; without it the key is random per process.
    #[serde(default)]
    pub secret: Option<String>,
    /// Proxies next to this router that may not record-route (load balancers, SBCs of a
    /// carrier ...): IP addresses or networks (`10.0.0.0/8`). For a dialog whose request
    /// or reply came from one, the Contact and Record-Route it brought are the next hop,
    /// and the UAs behind it may send their in-dialog requests themselves. Anybody else
    /// is reached, inside a dialog, only at the address its messages came from.
    #[serde(default)]
    pub trusted_peers: Vec<String>,
}

/// `[tcp]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpSection {
    /// Close a connection idle for this many seconds.
    #[serde(default = "TcpSection::default_idle")]
    pub idle_timeout_secs: u64,
    /// A message must be complete within this many seconds once started.
    #[serde(default = "TcpSection::default_message_timeout")]
    pub message_timeout_secs: u64,
    /// Most open connections.
    #[serde(default = "TcpSection::default_max_connections")]
    pub max_connections: usize,
}

impl TcpSection {
    const fn default_idle() -> u64 {
        120
    }
    const fn default_message_timeout() -> u64 {
        10
    }
    const fn default_max_connections() -> usize {
        4096
    }
}

impl Default for TcpSection {
    fn default() -> Self {
        TcpSection {
            idle_timeout_secs: Self::default_idle(),
            message_timeout_secs: Self::default_message_timeout(),
            max_connections: Self::default_max_connections(),
        }
    }
}

/// What a request gets when its plugin crashes, times out or fails.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum FallbackSpec {
    /// `"drop"`: send nothing.
    Keyword(String),
    /// `{ code = 500, reason = "..." }`
    Reply {
        /// Status code.
        code: u16,
        /// Reason phrase.
        #[serde(default)]
        reason: Option<String>,
    },
}

/// The resolved fallback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fallback {
    /// Send nothing.
    Drop,
    /// Send this reply.
    Reply(u16, String),
}

/// `[plugin]` (the default tenant) or one `[[tenant]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSection {
    /// Name for logs, counters and `sipwasm ctl`.
    pub name: String,
    /// The `.wasm` component.
    pub path: PathBuf,
    /// CPU deadline per event, milliseconds.
    #[serde(default = "PluginSection::default_deadline")]
    pub deadline_ms: u64,
    /// Memory cap per instance, MiB.
    #[serde(default = "PluginSection::default_memory")]
    pub memory_mb: usize,
    /// Most live instances of the plugin at once; 0: one per worker thread.
    #[serde(default)]
    pub instances: usize,
    /// Log lines a second the plugin may write; 0: no limit. Default: no limit for
    /// `[plugin]`, 1000 for a `[[tenant]]`.
    #[serde(default)]
    pub log_rate: Option<u32>,
    /// Reply on failure: `"drop"` or `{ code = 500, reason = "..." }`.
    #[serde(default)]
    pub fallback: Option<FallbackSpec>,
    /// Settings the plugin reads with `config.get`.
    #[serde(default)]
    pub config: BTreeMap<String, toml::Value>,
    /// Where the plugin may send datagrams with `net.send-udp`: `IP:PORT`, `IP`,
    /// `IP/PREFIX` or `IP/PREFIX:PORT`. Empty (the default): nowhere.
    #[serde(default)]
    pub udp_allow: Vec<String>,
    /// The `[[htable]]`s the plugin may use. Default: all of them for `[plugin]`, none for
    /// a `[[tenant]]`.
    #[serde(default)]
    pub htables: Option<Vec<String>>,
    /// The dispatcher sets the plugin may select from. Default: all of them for
    /// `[plugin]`, none for a `[[tenant]]`.
    #[serde(default)]
    pub dispatcher_sets: Option<Vec<u32>>,
    /// The `[[permissions.address]]` groups the plugin may check against. Default: all
    /// of them for `[plugin]`, none for a `[[tenant]]`.
    #[serde(default)]
    pub address_groups: Option<Vec<u32>>,
    /// The events the plugin receives: `sip`, `nosip`, `msrp` (default: all).
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// Listeners (as written in `router.listen`) whose traffic this tenant serves.
    #[serde(default)]
    pub listen: Vec<String>,
    /// Request-URI or To domains this tenant serves.
    #[serde(default)]
    pub domains: Vec<String>,
    /// The tenant serving what no other tenant claims (`[plugin]` always is).
    #[serde(default)]
    pub default: bool,
    /// Guest CPU milliseconds a second the tenant may use; 0: no budget. Default: what
    /// its worker share can run, 1000 × (`workers` - 1, at least 1), when the config has
    /// several tenants; none for a lone one.
    #[serde(default)]
    pub cpu_ms_per_s: Option<u64>,
    /// Events of the tenant running at once; 0: no limit. Default: `workers - 1` (at
    /// least 1) when the config has several tenants, no limit for a lone one.
    #[serde(default)]
    pub worker_share: Option<usize>,
    /// Events waiting for a worker past the share; more are refused (fallback).
    #[serde(default = "PluginSection::default_queue")]
    pub queue: usize,
    /// Failures (deadline kills, traps, memory-cap hits, log floods) in the window that
    /// quarantine the tenant, when they are at least half its events; 0: never. Default:
    /// 3 when the config has several tenants, never for a lone one (its fallback for
    /// everything would protect nobody).
    #[serde(default)]
    pub quarantine_after: Option<u32>,
    /// The window failures are counted in, seconds.
    #[serde(default = "PluginSection::default_quarantine_window")]
    pub quarantine_window_s: u64,
    /// First quarantine period, seconds; doubles each time the tenant fails again.
    #[serde(default = "PluginSection::default_quarantine")]
    pub quarantine_s: u64,
    /// Longest quarantine period, seconds.
    #[serde(default = "PluginSection::default_quarantine_max")]
    pub quarantine_max_s: u64,
    /// `[[plugin.rtimer]]` / `[[tenant.rtimer]]`: the plugin's timers, each running
    /// `event_route[timer:NAME]` every `interval_ms`.
    #[serde(default)]
    pub rtimer: Vec<RtimerSection>,
}

/// One timer of a plugin (Kamailio's `rtimer` `timer` and `exec` in one).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtimerSection {
    /// The `NAME` of `event_route[timer:NAME]`.
    pub name: String,
    /// Milliseconds between two runs (at least 10).
    pub interval_ms: u64,
}

impl PluginSection {
    const DEFAULT_QUEUE: usize = 64;
    const DEFAULT_QUARANTINE_AFTER: u32 = 3;
    const DEFAULT_QUARANTINE_WINDOW_S: u64 = 10;
    const DEFAULT_QUARANTINE_S: u64 = 1;
    const DEFAULT_QUARANTINE_MAX_S: u64 = 300;
    /// `cpu_ms_per_s` of each tenant of a config with several, per worker of its share.
    const DEFAULT_CPU_MS_PER_S_PER_WORKER: u64 = 1000;

    const fn default_deadline() -> u64 {
        10
    }
    const fn default_memory() -> usize {
        16
    }
    const fn default_queue() -> usize {
        Self::DEFAULT_QUEUE
    }
    const fn default_quarantine_window() -> u64 {
        Self::DEFAULT_QUARANTINE_WINDOW_S
    }
    const fn default_quarantine() -> u64 {
        Self::DEFAULT_QUARANTINE_S
    }
    const fn default_quarantine_max() -> u64 {
        Self::DEFAULT_QUARANTINE_MAX_S
    }
}

/// Which events a tenant receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventGrants {
    /// SIP requests and replies.
    pub sip: bool,
    /// `event_route[nosip:msg]`
    pub nosip: bool,
    /// `event_route[msrp:frame-in]`
    pub msrp: bool,
}

impl Default for EventGrants {
    fn default() -> Self {
        EventGrants {
            sip: true,
            nosip: true,
            msrp: true,
        }
    }
}

/// A validated tenant: its plugin, what it serves, its limits and grants.
#[derive(Debug, Clone)]
pub struct TenantConfig {
    /// Name (logs, counters, `sipwasm ctl reload NAME`).
    pub name: String,
    /// Plugin file (absolute or relative to the working directory).
    pub plugin_path: PathBuf,
    /// CPU deadline per event.
    pub deadline: Duration,
    /// Memory cap per instance, bytes.
    pub memory_limit: usize,
    /// Instance limit (0: one per worker thread) and log rate (0: unlimited).
    pub limits: TenantLimits,
    /// Fallback on failure.
    pub fallback: Fallback,
    /// The plugin's own settings, as strings.
    pub plugin_config: BTreeMap<String, String>,
    /// Where the plugin may send UDP.
    pub udp_allow: sipwasm_routing::UdpAllow,
    /// The `[[htable]]`s and dispatcher sets granted (a `[plugin]` that lists none gets
    /// every one, resolved when the file is read).
    pub grants: sipwasm_routing::Grants,
    /// Events received.
    pub events: EventGrants,
    /// Listeners served, as `router.listen` entries.
    pub listen: Vec<ListenSpec>,
    /// Domains served (lower case).
    pub domains: Vec<String>,
    /// The plugin's timers.
    pub timers: Vec<sipwasm_routing::TimerSpec>,
}

/// `[runtime]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeSection {
    /// Where compiled components are cached; empty for no cache.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// Epoch tick in milliseconds: CPU deadlines fire between the deadline and one tick later.
    #[serde(default = "RuntimeSection::default_tick")]
    pub epoch_tick_ms: u64,
    /// Instances the pooling allocator holds (raised to what the tenants need).
    #[serde(default = "RuntimeSection::default_instances")]
    pub max_instances: u32,
    /// Reload a tenant when its `.wasm` file changes.
    #[serde(default = "RuntimeSection::default_watch")]
    pub watch_plugins: bool,
}

impl RuntimeSection {
    const fn default_tick() -> u64 {
        5
    }
    const fn default_instances() -> u32 {
        128
    }
    const fn default_watch() -> bool {
        true
    }
}

impl Default for RuntimeSection {
    fn default() -> Self {
        RuntimeSection {
            cache_dir: None,
            epoch_tick_ms: Self::default_tick(),
            max_instances: Self::default_instances(),
            watch_plugins: Self::default_watch(),
        }
    }
}

/// `[tm]`: transaction timers, milliseconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TmSection {
    /// RFC 3261 T1 (RTT estimate).
    #[serde(default = "TmSection::t1")]
    pub t1_ms: u64,
    /// T2 (longest retransmit interval).
    #[serde(default = "TmSection::t2")]
    pub t2_ms: u64,
    /// T4 (longest time a message lives in the network).
    #[serde(default = "TmSection::t4")]
    pub t4_ms: u64,
    /// Final-response timeout before any provisional (Kamailio `fr_timer`).
    #[serde(default = "TmSection::fr")]
    pub fr_timer_ms: u64,
    /// INVITE final-response timeout after a provisional (`fr_inv_timer`).
    #[serde(default = "TmSection::fr_inv")]
    pub fr_inv_timer_ms: u64,
    /// How long a finished transaction absorbs retransmissions (`wt_timer`); caps the
    /// RFC's 64*T1 timers D, J, L, M.
    #[serde(default = "TmSection::wait")]
    pub wait_timer_ms: u64,
}

impl TmSection {
    const fn t1() -> u64 {
        500
    }
    const fn t2() -> u64 {
        4000
    }
    const fn t4() -> u64 {
        5000
    }
    const fn fr() -> u64 {
        30_000
    }
    const fn fr_inv() -> u64 {
        120_000
    }
    const fn wait() -> u64 {
        5000
    }
}

impl Default for TmSection {
    fn default() -> Self {
        TmSection {
            t1_ms: Self::t1(),
            t2_ms: Self::t2(),
            t4_ms: Self::t4(),
            fr_timer_ms: Self::fr(),
            fr_inv_timer_ms: Self::fr_inv(),
            wait_timer_ms: Self::wait(),
        }
    }
}

/// `[dns]`
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DnsSection {
    /// Name servers (`IP:PORT`); empty for the system's.
    #[serde(default)]
    pub servers: Vec<String>,
    /// Time allowed for one resolution, milliseconds.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// `[nosip]`: which non-SIP packets reach the plugin's `nosip-events.msg`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NosipSection {
    /// Shorter packets (NAT keep-alives) are ignored; Kamailio hard-codes 32.
    #[serde(default = "NosipSection::min_size")]
    pub min_size: usize,
    /// Regular expression the packet must match; empty for all.
    #[serde(default)]
    pub msg_match: String,
    /// Regular expression that skips a packet; empty for none.
    #[serde(default)]
    pub msg_skip: String,
}

impl NosipSection {
    const fn min_size() -> usize {
        sipwasm_routing::nosip::DEFAULT_MIN_SIZE
    }
}

impl Default for NosipSection {
    fn default() -> Self {
        NosipSection {
            min_size: Self::min_size(),
            msg_match: String::new(),
            msg_skip: String::new(),
        }
    }
}

/// `[msrp]`: MSRP framing and what `msrp:frame-in` sees.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MsrpSection {
    /// Largest chunk body accepted, in bytes (Kamailio's is about 64 KiB).
    #[serde(default = "MsrpSection::max_chunk")]
    pub max_chunk_size: usize,
    /// Show the frame as a SIP-like request in `msrp:frame-in`, as the msrp module's
    /// `sipmsg` does: `$hdr(To-Path)`, `$hdr(MSRP-First-Line)`, `$rm` = `MSRP`... With
    /// `false` only `$msrp(key)` reads the frame.
    #[serde(default = "MsrpSection::sipmsg")]
    pub sipmsg: bool,
}

impl MsrpSection {
    const fn max_chunk() -> usize {
        sipwasm_proto::msrp::DEFAULT_MAX_CHUNK
    }
    const fn sipmsg() -> bool {
        true
    }
}

impl Default for MsrpSection {
    fn default() -> Self {
        MsrpSection {
            max_chunk_size: Self::max_chunk(),
            sipmsg: Self::sipmsg(),
        }
    }
}

/// `[[htable]]`: a shared table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HtableSection {
    /// Name plugins use.
    pub name: String,
    /// Seconds after the last set before an entry expires; 0 for never.
    #[serde(default)]
    pub autoexpire_secs: u64,
    /// Most entries.
    #[serde(default = "HtableSection::max_entries")]
    pub max_entries: usize,
    /// Run `event_route[htable:expired:NAME]` for each entry that expires, on every
    /// plugin granted the table (entries in this router's memory only: not with
    /// `[state] backend = "redis"`).
    #[serde(default)]
    pub expired_event: bool,
}

impl HtableSection {
    const fn max_entries() -> usize {
        100_000
    }
}

/// `[tls]`: the certificate of `tls:` listeners, the CAs client certificates must chain
/// to, and how peers are checked when connecting out.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// PEM certificate chain, leaf first.
    pub certificate: PathBuf,
    /// PEM private key.
    pub private_key: PathBuf,
    /// PEM CAs for outbound TLS (`sips`, `msrps` next hops); none: the system's store.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM CAs client certificates must chain to (listeners with `client_cert`).
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// Names a client certificate must carry (DNS alternative name or common name;
    /// `*.domain` for one label below it); empty: any certificate the CAs signed.
    #[serde(default)]
    pub client_names: Vec<String>,
    /// `[[tls.destination]]`: outbound exceptions, first match wins.
    #[serde(default)]
    pub destination: Vec<TlsDestinationSection>,
}

/// `[[tls.destination]]`: how outbound TLS checks some next hops.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsDestinationSection {
    /// `IP`, `IP:PORT`, `[IPv6]:PORT` or a network (`10.0.0.0/8`).
    pub address: String,
    /// The DNS name the certificate must carry instead of the address dialled.
    #[serde(default)]
    pub name: Option<String>,
    /// `false`: accept any certificate (labs only; logged at start).
    #[serde(default = "TlsDestinationSection::verify")]
    pub verify: bool,
}

impl TlsDestinationSection {
    const fn verify() -> bool {
        true
    }
}

impl TlsSection {
    /// The transport's settings, paths resolved; checks the destinations and that the
    /// listeners asking for client certificates have CAs to check them with.
    fn settings(
        &self,
        listen: &[ListenSpec],
        resolve: &dyn Fn(&Path) -> PathBuf,
    ) -> Result<sipwasm_transport::TlsSettings, Invalid> {
        if let Some(l) = listen.iter().find(|l| l.client_cert.is_some())
            && self.client_ca.is_none()
        {
            return Err(invalid(
                "tls.client_ca",
                format!(
                    "listener \"{l}\" asks for client certificates: [tls] client_ca must name the CAs that sign them"
                ),
            ));
        }
        if !self.client_names.is_empty() && self.client_ca.is_none() {
            return Err(invalid(
                "tls.client_names",
                "client_names needs client_ca (and a listener with client_cert)",
            ));
        }
        for (i, n) in self.client_names.iter().enumerate() {
            let host = n.strip_prefix("*.").unwrap_or(n);
            if !is_dns_name(host) {
                return Err(invalid(
                    format!("tls.client_names[{i}]"),
                    format!("{n:?} is not a DNS name (or *.domain)"),
                ));
            }
        }
        let mut destinations = Vec::new();
        for (i, d) in self.destination.iter().enumerate() {
            let key = |k: &str| format!("tls.destination[{i}].{k}");
            let (net, port) = match d.address.parse::<SocketAddr>() {
                Ok(a) => (ipnet::IpNet::from(a.ip()), Some(a.port())),
                Err(_) => (parse_net(key("address"), &d.address)?, None),
            };
            let check = match (&d.name, d.verify) {
                (Some(n), true) if is_dns_name(n) => {
                    sipwasm_transport::PeerCheck::Name(n.to_ascii_lowercase())
                }
                (Some(n), true) => {
                    return Err(invalid(key("name"), format!("{n:?} is not a DNS name")));
                }
                (None, false) => sipwasm_transport::PeerCheck::Insecure,
                (Some(_), false) => {
                    return Err(invalid(
                        key("verify"),
                        "a name is not checked when verify = false: keep one of them",
                    ));
                }
                (None, true) => {
                    return Err(invalid(
                        key("name"),
                        "say what to check instead: name = \"HOST\", or verify = false",
                    ));
                }
            };
            destinations.push(sipwasm_transport::TlsDestination { net, port, check });
        }
        Ok(sipwasm_transport::TlsSettings {
            certificate: resolve(&self.certificate),
            private_key: resolve(&self.private_key),
            ca_file: self.ca_file.as_deref().map(resolve),
            client_ca: self.client_ca.as_deref().map(resolve),
            client_names: self
                .client_names
                .iter()
                .map(|n| n.to_ascii_lowercase())
                .collect(),
            destinations,
        })
    }
}

/// A host name as certificates carry it: dot-separated labels of letters, digits and `-`.
fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        })
}

/// `[control]`: the `sipwasm ctl` socket.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ControlSection {
    /// Unix socket for `sipwasm ctl` (JSON-RPC); none when absent.
    #[serde(default)]
    pub socket: Option<PathBuf>,
    /// The socket file's mode, octal (`"0660"` lets the file's group in); "0600" when
    /// absent. Others may never be let in.
    #[serde(default)]
    pub mode: Option<String>,
    /// When set, the methods that change the router need it in the request (`sipwasm
    /// ctl --token`, or read from this file with `--config`).
    #[serde(default)]
    pub token: Option<String>,
}

impl ControlSection {
    /// The socket file's mode.
    fn file_mode(&self) -> Result<u32, String> {
        let Some(text) = &self.mode else {
            return Ok(0o600);
        };
        let mode = u32::from_str_radix(text.trim_start_matches("0o"), 8)
            .map_err(|_| format!("{text:?} is not an octal mode such as \"0660\""))?;
        if mode > 0o777 || mode & 0o007 != 0 {
            return Err(format!(
                "{text:?}: only the owner and the group may reach the control socket \
                 (it can swap plugins and read every registration)"
            ));
        }
        if mode & 0o600 != 0o600 {
            return Err(format!("{text:?}: the owner needs read and write"));
        }
        Ok(mode)
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]`
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// `text` or `json`.
    #[serde(default)]
    pub format: LogFormat,
    /// A tracing filter: `info`, `debug`, `sipwasm=debug,warn` ...
    #[serde(default)]
    pub level: Option<String>,
}

/// `[security]`: failed authentications, bans and scanners (see
/// `sipwasm_routing::auth::guard`). On by default: a router on a public address is
/// scanned and guessed at within minutes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySection {
    /// Failed authentications from one source address (an IPv6 /64) in the window that
    /// ban it; 0: never.
    #[serde(default = "default_auth_failures")]
    pub auth_failures: u32,
    /// Failed authentications against one user, from any addresses, in the window that
    /// throttle it (only addresses it authenticated from are checked); 0: never.
    #[serde(default = "default_user_failures")]
    pub user_failures: u32,
    /// The window, in seconds.
    #[serde(default = "default_window_s")]
    pub window_s: u64,
    /// The first ban, in seconds; each next ban of a source is twice as long.
    #[serde(default = "default_ban_s")]
    pub ban_s: u64,
    /// The longest ban, in seconds.
    #[serde(default = "default_ban_max_s")]
    pub ban_max_s: u64,
    /// What a banned source's requests get: `drop` (nothing) or `403`.
    #[serde(default = "default_ban_action")]
    pub ban_action: String,
    /// Addresses or networks never banned nor throttled (your SBCs, your carriers).
    #[serde(default)]
    pub exempt: Vec<String>,
    /// User-Agent substrings (case-insensitive) whose requests are dropped; the default
    /// is Kamailio's list of scanners; `[]` drops none.
    #[serde(default = "default_scanners")]
    pub scanners: Vec<String>,
}

impl Default for SecuritySection {
    fn default() -> Self {
        toml::from_str("").expect("every key has a default")
    }
}

fn default_auth_failures() -> u32 {
    sipwasm_routing::auth::guard::GuardPolicy::default().source_failures
}
fn default_user_failures() -> u32 {
    sipwasm_routing::auth::guard::GuardPolicy::default().user_failures
}
fn default_window_s() -> u64 {
    sipwasm_routing::auth::guard::GuardPolicy::default().window
}
fn default_ban_s() -> u64 {
    sipwasm_routing::auth::guard::GuardPolicy::default().ban
}
fn default_ban_max_s() -> u64 {
    sipwasm_routing::auth::guard::GuardPolicy::default().ban_max
}
fn default_ban_action() -> String {
    "drop".into()
}
fn default_scanners() -> Vec<String> {
    sipwasm_routing::auth::guard::GuardPolicy::default().scanners
}

impl SecuritySection {
    fn policy(&self) -> Result<sipwasm_routing::auth::guard::GuardPolicy, Invalid> {
        use sipwasm_routing::auth::guard::{BanAction, GuardPolicy};
        let action = match self.ban_action.as_str() {
            "drop" => BanAction::Drop,
            "403" => BanAction::Forbid,
            other => {
                return Err(invalid(
                    "security.ban_action",
                    format!("{other:?}: \"drop\" or \"403\""),
                ));
            }
        };
        if self.window_s == 0 || self.window_s > 86_400 {
            return Err(invalid("security.window_s", "must be 1 to 86400 seconds"));
        }
        if self.ban_s == 0 || self.ban_max_s < self.ban_s {
            return Err(invalid(
                "security.ban_s",
                "must be at least 1 second, and ban_max_s at least ban_s",
            ));
        }
        if self.scanners.iter().any(|s| s.is_empty()) {
            return Err(invalid(
                "security.scanners",
                "an empty pattern would drop every request",
            ));
        }
        let exempt = self
            .exempt
            .iter()
            .enumerate()
            .map(|(i, a)| parse_net(format!("security.exempt[{i}]"), a))
            .collect::<Result<_, _>>()?;
        let policy = GuardPolicy {
            source_failures: self.auth_failures,
            user_failures: self.user_failures,
            window: self.window_s,
            ban: self.ban_s,
            ban_max: self.ban_max_s,
            action,
            exempt,
            scanners: self.scanners.clone(),
        };
        sipwasm_routing::auth::guard::Guard::new(policy.clone())
            .map_err(|e| invalid("security.scanners", e.to_string()))?;
        Ok(policy)
    }
}

/// An IP address or a network (`10.0.0.0/8`).
fn parse_net(key: String, a: &str) -> Result<ipnet::IpNet, Invalid> {
    a.parse::<ipnet::IpNet>()
        .or_else(|_| a.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            invalid(
                key,
                format!("{a:?} is neither an IP address nor a network (10.0.0.0/8)"),
            )
        })
}

/// `[registrar]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrarSection {
    /// Addresses whose REGISTERs may carry a Path of their own (edge proxies of another
    /// make); a Path signed by this deployment's key is always kept.
    #[serde(default)]
    pub path_from: Vec<String>,
}

/// `[nathelper]`: NAT pinging of registered contacts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NathelperSection {
    /// Seconds between pings of a registered contact; 0 turns pinging off.
    #[serde(default)]
    pub natping_interval: u64,
    /// Ping only contacts behind NAT or on a connection.
    #[serde(default = "NathelperSection::default_nated_only")]
    pub ping_nated_only: bool,
    /// From URI of SIP pings; empty: CRLF CRLF keep-alives instead.
    #[serde(default)]
    pub sipping_from: String,
    /// Method of SIP pings.
    #[serde(default = "NathelperSection::default_method")]
    pub sipping_method: String,
}

impl NathelperSection {
    const fn default_nated_only() -> bool {
        true
    }
    fn default_method() -> String {
        "OPTIONS".into()
    }
}

impl Default for NathelperSection {
    fn default() -> Self {
        NathelperSection {
            natping_interval: 0,
            ping_nated_only: true,
            sipping_from: String::new(),
            sipping_method: Self::default_method(),
        }
    }
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `[router]`
    pub router: RouterSection,
    /// `[tcp]`
    #[serde(default)]
    pub tcp: TcpSection,
    /// `[plugin]`: the default tenant.
    #[serde(default)]
    pub plugin: Option<PluginSection>,
    /// `[[tenant]]`
    #[serde(default)]
    pub tenant: Vec<PluginSection>,
    /// `[control]`
    #[serde(default)]
    pub control: ControlSection,
    /// `[tls]`
    #[serde(default)]
    pub tls: Option<TlsSection>,
    /// `[runtime]`
    #[serde(default)]
    pub runtime: RuntimeSection,
    /// `[tm]`
    #[serde(default)]
    pub tm: TmSection,
    /// `[dns]`
    #[serde(default)]
    pub dns: DnsSection,
    /// `[nosip]`
    #[serde(default)]
    pub nosip: NosipSection,
    /// `[[htable]]`
    #[serde(default)]
    pub htable: Vec<HtableSection>,
    /// `[msrp]`
    #[serde(default)]
    pub msrp: MsrpSection,
    /// `[nathelper]`
    #[serde(default)]
    pub nathelper: NathelperSection,
    /// `[registrar]`
    #[serde(default)]
    pub registrar: RegistrarSection,
    /// `[log]`
    #[serde(default)]
    pub log: LogSection,
    /// `[security]`
    #[serde(default)]
    pub security: SecuritySection,
    /// `[state]`
    #[serde(default)]
    pub state: StateSection,
    /// `[metrics]`
    #[serde(default)]
    pub metrics: MetricsSection,
    /// `[dispatcher]`
    #[serde(default)]
    pub dispatcher: DispatcherSection,
    /// `[sanity]`
    #[serde(default)]
    pub sanity: SanitySection,
    /// `[pike]`
    #[serde(default)]
    pub pike: PikeSection,
    /// `[permissions]`
    #[serde(default)]
    pub permissions: PermissionsSection,
    /// `[ratelimit]`
    #[serde(default)]
    pub ratelimit: RatelimitSection,
}

/// `[ratelimit]`, its `[[ratelimit.pipe]]`s and `[[ratelimit.queue]]`s (Kamailio's
/// ratelimit module parameters).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatelimitSection {
    /// Seconds requests are counted over (`timer_interval`).
    #[serde(default = "RatelimitSection::interval")]
    pub timer_interval: u64,
    /// The pipes.
    #[serde(default)]
    pub pipe: Vec<PipeSection>,
    /// The queues.
    #[serde(default)]
    pub queue: Vec<QueueSection>,
}

/// One `[[ratelimit.pipe]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipeSection {
    /// Its id.
    pub id: u32,
    /// `TAILDROP` or `RED`.
    pub algorithm: String,
    /// Requests a second.
    pub limit: u32,
}

/// One `[[ratelimit.queue]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSection {
    /// The pipe.
    pub pipe: u32,
    /// The method, or `*` for every method no other queue names.
    pub method: String,
}

impl Default for RatelimitSection {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}

impl RatelimitSection {
    const fn interval() -> u64 {
        10
    }

    fn settings(&self) -> Result<sipwasm_routing::ratelimit::RateLimitSettings, Invalid> {
        use sipwasm_routing::ratelimit::{Algorithm, PipeSpec, QueueSpec};
        if !(1..=3600).contains(&self.timer_interval) {
            return Err(invalid("ratelimit.timer_interval", "1 to 3600 seconds"));
        }
        let mut pipes: Vec<PipeSpec> = Vec::new();
        for (i, p) in self.pipe.iter().enumerate() {
            let algorithm = match p.algorithm.as_str() {
                "TAILDROP" => Algorithm::TailDrop,
                "RED" => Algorithm::Red,
                other => {
                    return Err(invalid(
                        format!("ratelimit.pipe[{i}].algorithm"),
                        format!("{other:?}: TAILDROP or RED"),
                    ));
                }
            };
            if pipes.iter().any(|q| q.id == p.id) {
                return Err(invalid(
                    format!("ratelimit.pipe[{i}].id"),
                    format!("pipe {} is defined twice", p.id),
                ));
            }
            pipes.push(PipeSpec {
                id: p.id,
                algorithm,
                limit: p.limit,
            });
        }
        let mut queues = Vec::new();
        for (i, q) in self.queue.iter().enumerate() {
            if !pipes.iter().any(|p| p.id == q.pipe) {
                return Err(invalid(
                    format!("ratelimit.queue[{i}].pipe"),
                    format!("no [[ratelimit.pipe]] has id = {}", q.pipe),
                ));
            }
            let method = q.method.to_ascii_uppercase();
            if method.is_empty()
                || !(method == "*" || method.bytes().all(|b| b.is_ascii_alphabetic()))
            {
                return Err(invalid(
                    format!("ratelimit.queue[{i}].method"),
                    "a method name, or * for the rest",
                ));
            }
            queues.push(QueueSpec {
                pipe: q.pipe,
                method,
            });
        }
        Ok(sipwasm_routing::ratelimit::RateLimitSettings {
            interval: Duration::from_secs(self.timer_interval),
            pipes,
            queues,
        })
    }
}

/// `[sanity]`: what `sanity_check` accepts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SanitySection {
    /// Extensions a request may name in Proxy-Require (Kamailio's `proxy_require`):
    /// any other fails check 512 with 420.
    #[serde(default)]
    pub proxy_require: Vec<String>,
}

/// `[pike]`: flood detection (Kamailio's pike module parameters).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PikeSection {
    /// Seconds a sampling unit lasts.
    #[serde(default = "PikeSection::unit")]
    pub sampling_time_unit: u64,
    /// Requests from one address in a unit that block it.
    #[serde(default = "PikeSection::density")]
    pub reqs_density_per_unit: u32,
    /// Seconds an idle address is remembered.
    #[serde(default = "PikeSection::latency")]
    pub remove_latency: u64,
}

impl Default for PikeSection {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}

impl PikeSection {
    const fn unit() -> u64 {
        2
    }
    const fn density() -> u32 {
        30
    }
    const fn latency() -> u64 {
        120
    }

    fn settings(&self) -> Result<sipwasm_routing::pike::PikeSettings, Invalid> {
        if !(1..=3600).contains(&self.sampling_time_unit) {
            return Err(invalid("pike.sampling_time_unit", "1 to 3600 seconds"));
        }
        if self.reqs_density_per_unit == 0 {
            return Err(invalid("pike.reqs_density_per_unit", "at least 1"));
        }
        if self.remove_latency < self.sampling_time_unit {
            return Err(invalid(
                "pike.remove_latency",
                "at least one sampling_time_unit",
            ));
        }
        Ok(sipwasm_routing::pike::PikeSettings {
            sampling: Duration::from_secs(self.sampling_time_unit),
            density: self.reqs_density_per_unit,
            remove_latency: Duration::from_secs(self.remove_latency),
        })
    }
}

/// `[permissions]` and its `[[permissions.address]]` groups.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionsSection {
    /// The entries, each in a group.
    #[serde(default)]
    pub address: Vec<AddressSection>,
}

/// One `[[permissions.address]]`: a row of Kamailio's `address` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressSection {
    /// The group (1 and up).
    pub group: u32,
    /// An IP address or a network (`10.0.0.0/8`, `2001:db8::/32`).
    pub address: String,
    /// The source port; 0 (the default) matches any.
    #[serde(default)]
    pub port: u16,
    /// `udp`, `tcp`, `tls`; any when absent.
    #[serde(default)]
    pub transport: Option<String>,
    /// Handed to the route in `$avp(peer_tag)` on a match.
    #[serde(default)]
    pub tag: String,
}

impl PermissionsSection {
    fn entries(&self) -> Result<Vec<sipwasm_routing::permissions::AddressEntry>, Invalid> {
        self.address
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let key = |k: &str| format!("permissions.address[{i}].{k}");
                if a.group == 0 {
                    return Err(invalid(key("group"), "groups are numbered from 1"));
                }
                let net = match a.address.parse::<ipnet::IpNet>() {
                    Ok(n) => n,
                    Err(_) => a
                        .address
                        .parse::<std::net::IpAddr>()
                        .map(ipnet::IpNet::from)
                        .map_err(|_| {
                            invalid(
                                key("address"),
                                format!("{:?}: an IP address or a network (10.0.0.0/8)", a.address),
                            )
                        })?,
                };
                let transport = match a.transport.as_deref() {
                    None => None,
                    Some(t) => Some(t.parse::<sipwasm_proto::Transport>().map_err(|_| {
                        invalid(key("transport"), format!("{t:?}: udp, tcp or tls"))
                    })?),
                };
                Ok(sipwasm_routing::permissions::AddressEntry {
                    group: a.group,
                    net,
                    port: a.port,
                    transport,
                    tag: a.tag.clone(),
                })
            })
            .collect()
    }
}

/// `[dispatcher]` and its `[[dispatcher.destination]]`s (Kamailio's dispatcher module
/// parameters and `dispatcher.list`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatcherSection {
    /// Seconds between two probes of a destination (`ds_ping_interval`); 0: none.
    #[serde(default = "DispatcherSection::interval")]
    pub probing_interval: u64,
    /// Failed probes that take an active destination out (`ds_probing_threshold`).
    #[serde(default = "DispatcherSection::one")]
    pub probing_threshold: u32,
    /// Answered probes that bring an inactive one back (`ds_inactive_threshold`).
    #[serde(default = "DispatcherSection::one")]
    pub inactive_threshold: u32,
    /// 0: probe destinations flagged `probe` and those marked `p` (`ds_mark_dst("ip")`);
    /// 1: probe every destination (`ds_probing_mode`).
    #[serde(default)]
    pub probing_mode: u8,
    /// Replies besides 2xx that count as alive: codes ("404") or classes ("4xx")
    /// (`ds_ping_reply_codes`).
    #[serde(default)]
    pub ping_reply_codes: Vec<String>,
    /// `ds_ping_method`.
    #[serde(default = "DispatcherSection::method")]
    pub ping_method: String,
    /// `ds_ping_from`.
    #[serde(default = "DispatcherSection::from")]
    pub ping_from: String,
    /// An unanswered probe fails after this many milliseconds.
    #[serde(default = "DispatcherSection::timeout")]
    pub probe_timeout_ms: u64,
    /// The destinations, each in a set.
    #[serde(default)]
    pub destination: Vec<DestinationSection>,
}

/// One `[[dispatcher.destination]]`: a line of Kamailio's `dispatcher.list`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationSection {
    /// The set it belongs to.
    pub set: u32,
    /// `sip:IP[:PORT][;transport=tcp|tls]`.
    pub uri: String,
    /// Share for the weight algorithm (9).
    #[serde(default)]
    pub weight: u32,
    /// Higher first.
    #[serde(default)]
    pub priority: i32,
    /// Free text for the plugin.
    #[serde(default)]
    pub attrs: String,
    /// Probe it even while it answers calls (Kamailio's flag 8).
    #[serde(default)]
    pub probe: bool,
    /// Most calls at once for call-load balancing (10); 0: no limit.
    #[serde(default)]
    pub max_load: u32,
}

impl Default for DispatcherSection {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}

impl DispatcherSection {
    const fn interval() -> u64 {
        10
    }
    const fn one() -> u32 {
        1
    }
    fn method() -> String {
        "OPTIONS".into()
    }
    fn from() -> String {
        "sip:dispatcher@localhost".into()
    }
    const fn timeout() -> u64 {
        2000
    }

    /// The sets and the probe settings, checked (the destinations built once, as the
    /// router will).
    fn settings(&self) -> Result<Dispatcher, Invalid> {
        let mut sets: Vec<sipwasm_routing::dispatcher::SetSpec> = Vec::new();
        for d in &self.destination {
            let spec = sipwasm_routing::dispatcher::DestinationSpec {
                uri: d.uri.clone(),
                weight: d.weight,
                priority: d.priority,
                attrs: d.attrs.clone(),
                probe: d.probe,
                max_load: d.max_load,
            };
            match sets.iter_mut().find(|s| s.id == d.set) {
                Some(s) => s.destinations.push(spec),
                None => sets.push(sipwasm_routing::dispatcher::SetSpec {
                    id: d.set,
                    destinations: vec![spec],
                }),
            }
        }
        let mut reply_codes = Vec::new();
        for c in &self.ping_reply_codes {
            let range = match c.strip_suffix("xx").map(str::parse::<u16>) {
                Some(Ok(class @ 1..=6)) => (class * 100, class * 100 + 99),
                Some(_) => (0, 0),
                None => match c.parse::<u16>() {
                    Ok(code @ 100..=699) => (code, code),
                    _ => (0, 0),
                },
            };
            if range == (0, 0) {
                return Err(invalid(
                    "dispatcher.ping_reply_codes",
                    format!("{c:?}: a code (\"404\") or a class (\"4xx\")"),
                ));
            }
            reply_codes.push(range);
        }
        if self.probing_mode > 1 {
            return Err(invalid("dispatcher.probing_mode", "0 or 1"));
        }
        if self.probing_interval > 86_400 {
            return Err(invalid(
                "dispatcher.probing_interval",
                "0 (no probes) to 86400 seconds",
            ));
        }
        if self.probing_threshold == 0 || self.inactive_threshold == 0 {
            return Err(invalid(
                "dispatcher.probing_threshold",
                "probing_threshold and inactive_threshold are at least 1",
            ));
        }
        if !(100..=60_000).contains(&self.probe_timeout_ms) {
            return Err(invalid("dispatcher.probe_timeout_ms", "100 to 60000"));
        }
        if !self.ping_from.starts_with("sip:") && !self.ping_from.starts_with("sips:") {
            return Err(invalid("dispatcher.ping_from", "a sip: URI"));
        }
        if self.ping_method.is_empty() || !self.ping_method.bytes().all(|b| b.is_ascii_uppercase())
        {
            return Err(invalid("dispatcher.ping_method", "a method name (OPTIONS)"));
        }
        let probing = sipwasm_routing::dispatcher::Probing {
            interval: Duration::from_secs(self.probing_interval),
            threshold: self.probing_threshold,
            inactive_threshold: self.inactive_threshold,
            all: self.probing_mode == 1,
            reply_codes,
            method: self.ping_method.clone(),
            from: self.ping_from.clone(),
            timeout: Duration::from_millis(self.probe_timeout_ms),
        };
        sipwasm_routing::dispatcher::Dispatcher::new(sets.clone(), probing.clone())
            .map_err(|e| invalid(format!("dispatcher.destination (set {})", e.set), e.message))?;
        Ok(Dispatcher { sets, probing })
    }
}

/// The dispatcher's sets and probe settings, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dispatcher {
    /// The sets, in the order first named.
    pub sets: Vec<sipwasm_routing::dispatcher::SetSpec>,
    /// How destinations are probed.
    pub probing: sipwasm_routing::dispatcher::Probing,
}

impl Dispatcher {
    /// The set ids.
    pub fn set_ids(&self) -> Vec<u32> {
        self.sets.iter().map(|s| s.id).collect()
    }
}

/// `[metrics]`: the HTTP listener of `/metrics` (Prometheus) and `/health`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// `IP:PORT`; none: no HTTP listener.
    #[serde(default)]
    pub listen: Option<String>,
}

/// `[state]`: where registrations live: this process (`memory`, the default) or a Redis /
/// Valkey server several routers share.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSection {
    /// `memory` or `redis`.
    #[serde(default = "StateSection::default_backend")]
    pub backend: String,
    /// `redis://[user:password@]host:port[/db]`, `rediss://` for TLS.
    #[serde(default)]
    pub url: Option<String>,
    /// Put before every key; each tenant's keys then carry its name.
    #[serde(default = "StateSection::key_prefix")]
    pub key_prefix: String,
    /// How long a command may take before the router treats the server as down.
    #[serde(default = "StateSection::timeout_ms")]
    pub timeout_ms: u64,
    /// With `rediss://`: the CA (PEM) the server's certificate must chain to, instead of
    /// the system's roots (a private CA, as Redis' own TLS set-up uses).
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// With `rediss://`: a client certificate (PEM) for servers that require one
    /// (`tls-auth-clients yes`), with `tls_key_file`.
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// The key of `tls_cert_file` (PEM).
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
}

impl Default for StateSection {
    fn default() -> Self {
        StateSection {
            backend: Self::default_backend(),
            url: None,
            key_prefix: Self::key_prefix(),
            timeout_ms: Self::timeout_ms(),
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
        }
    }
}

impl StateSection {
    fn default_backend() -> String {
        "memory".into()
    }
    fn key_prefix() -> String {
        "sipwasm:".into()
    }
    const fn timeout_ms() -> u64 {
        500
    }

    /// Redis at `url` (`sipwasm run --state-url`), with this section's other settings.
    pub fn with_url(&self, url: &str) -> Result<StateBackend, String> {
        let redis = StateSection {
            backend: "redis".into(),
            url: Some(url.to_string()),
            ..self.clone()
        };
        redis.backend().map_err(|(_, message)| message)
    }

    /// The backend these settings name.
    fn backend(&self) -> Result<StateBackend, Invalid> {
        let redis = match (self.backend.as_str(), self.url.clone()) {
            ("memory", None) => return Ok(StateBackend::Memory),
            ("memory" | "redis", Some(url)) => url,
            ("redis", None) => {
                return Err(invalid(
                    "state.url",
                    "backend = \"redis\" needs url = \"redis://HOST:PORT\"",
                ));
            }
            (other, _) => {
                return Err(invalid(
                    "state.backend",
                    format!("{other:?}: memory or redis"),
                ));
            }
        };
        check_redis_url(&redis).map_err(|m| invalid("state.url", m))?;
        if !(1..=60_000).contains(&self.timeout_ms) {
            return Err(invalid("state.timeout_ms", "1 to 60000"));
        }
        let client_certificate = match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            (None, None) => None,
            (Some(_), None) => return Err(invalid("state.tls_key_file", "tls_cert_file needs it")),
            (None, Some(_)) => {
                return Err(invalid("state.tls_cert_file", "tls_key_file needs it"));
            }
        };
        let tls = (self.tls_ca_file.is_some() || client_certificate.is_some()).then(|| RedisTls {
            ca_file: self.tls_ca_file.clone(),
            client_certificate,
        });
        if tls.is_some() && !redis.starts_with("rediss://") {
            return Err(invalid(
                "state.url",
                "tls_ca_file, tls_cert_file and tls_key_file need a rediss:// URL",
            ));
        }
        Ok(StateBackend::Redis {
            url: redis,
            key_prefix: self.key_prefix.clone(),
            timeout: Duration::from_millis(self.timeout_ms),
            tls,
        })
    }

    /// These settings with their files relative to the config's directory.
    fn resolved(&self, resolve: &dyn Fn(&Path) -> PathBuf) -> StateSection {
        let path = |p: &Option<PathBuf>| p.as_deref().map(resolve);
        StateSection {
            tls_ca_file: path(&self.tls_ca_file),
            tls_cert_file: path(&self.tls_cert_file),
            tls_key_file: path(&self.tls_key_file),
            ..self.clone()
        }
    }
}

/// The files of a TLS connection to Redis beyond what `rediss://` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisTls {
    /// The CA to verify the server by, instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Certificate and key files the router shows the server.
    pub client_certificate: Option<(PathBuf, PathBuf)>,
}

fn check_redis_url(url: &str) -> Result<(), String> {
    let schemes = ["redis://", "rediss://", "redis+unix://", "unix://"];
    if schemes.iter().any(|s| url.starts_with(s)) {
        Ok(())
    } else {
        Err(format!(
            "{url:?} is not a redis:// (or rediss://, unix://) URL"
        ))
    }
}

/// Where the router keeps registrations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StateBackend {
    /// This process's memory: nothing to install, gone with the process.
    #[default]
    Memory,
    /// A Redis or Valkey server, shared by every router using it.
    Redis {
        /// Where.
        url: String,
        /// Before every key.
        key_prefix: String,
        /// Longest wait for an answer.
        timeout: Duration,
        /// Certificates for `rediss://`, if not the system's roots alone.
        tls: Option<RedisTls>,
    },
}

/// A validated configuration, paths resolved.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it was read from.
    pub source: PathBuf,
    /// Listeners.
    pub listen: Vec<ListenSpec>,
    /// Worker threads.
    pub workers: usize,
    /// Aliases for `is_myself`.
    pub aliases: Vec<Alias>,
    /// `Server` header, if any.
    pub server_header: Option<String>,
    /// Largest message.
    pub max_message_size: usize,
    /// TCP limits.
    pub tcp: TcpSection,
    /// Tenants; `tenants[default_tenant]` serves what no other claims.
    pub tenants: Vec<TenantConfig>,
    /// Index of the default tenant.
    pub default_tenant: usize,
    /// `sipwasm ctl` socket.
    pub control_socket: Option<PathBuf>,
    /// Its file mode.
    pub control_mode: u32,
    /// The token the changing control methods need, when set.
    pub control_token: Option<String>,
    /// TLS material, paths resolved.
    pub tls: Option<sipwasm_transport::TlsSettings>,
    /// Reload tenants when their files change.
    pub watch_plugins: bool,
    /// Which non-SIP packets reach the plugin.
    pub nosip: sipwasm_routing::NosipFilter,
    /// Shared tables.
    pub htables: Vec<sipwasm_routing::HtableSpec>,
    /// MSRP framing and view.
    pub msrp: MsrpSection,
    /// Compiled-component cache.
    pub cache_dir: Option<PathBuf>,
    /// Epoch tick.
    pub epoch_tick: Duration,
    /// Pooling allocator size.
    pub max_instances: u32,
    /// Transaction timers.
    pub timers: sipwasm_tm::TimerConfig,
    /// Name resolution.
    pub dns: DnsSettings,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_level: Option<String>,
    /// Key of the Record-Route and Path signatures (`[router] secret`).
    pub secret: Option<String>,
    /// NAT pinging.
    pub natping: sipwasm_routing::NatPing,
    /// `[registrar] path_from`.
    pub path_from: Vec<std::net::IpAddr>,
    /// `[router] trusted_peers`.
    pub trusted_peers: Vec<ipnet::IpNet>,
    /// `[security]`.
    pub guard: sipwasm_routing::auth::guard::GuardPolicy,
    /// `[state]`.
    pub state: StateBackend,
    /// `[state]` as written (for `--state-url`).
    pub state_section: StateSection,
    /// `[dispatcher]`: destination sets and probing.
    pub dispatcher: Dispatcher,
    /// `[sanity] proxy_require`.
    pub proxy_require: Vec<String>,
    /// `[pike]`.
    pub pike: sipwasm_routing::pike::PikeSettings,
    /// `[[permissions.address]]`.
    pub address_groups: Vec<sipwasm_routing::permissions::AddressEntry>,
    /// `[ratelimit]`.
    pub ratelimit: sipwasm_routing::ratelimit::RateLimitSettings,
    /// `[metrics] listen`.
    pub metrics_listen: Option<SocketAddr>,
}

impl Config {
    /// Read and validate `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Config::parse(&text, path)
    }

    /// Validate the TOML `text`, as if read from `path`: each section checks itself and
    /// makes its part's settings; what spans sections (tenants against listeners and
    /// tables, deadlines against the epoch tick) is checked here.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let file: ConfigFile = toml::from_str(text).map_err(|error| ConfigError::Parse {
            path: path.to_path_buf(),
            error,
        })?;
        let at = |(key, message): Invalid| ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            message,
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let router = file.router.check().map_err(at)?;
        let nosip = file.nosip.filter().map_err(at)?;
        let htables = HtableSection::specs(&file.htable).map_err(at)?;
        let dispatcher = file.dispatcher.settings().map_err(at)?;
        let address_groups = file.permissions.entries().map_err(at)?;
        let mut group_ids: Vec<u32> = address_groups.iter().map(|e| e.group).collect();
        group_ids.sort_unstable();
        group_ids.dedup();
        let (tenants, default_tenant) = tenants(
            &file,
            &router.listen,
            &htables,
            Shared {
                dispatcher_sets: &dispatcher.set_ids(),
                address_groups: &group_ids,
            },
            &resolve,
        )
        .map_err(at)?;
        if router
            .listen
            .iter()
            .any(|l| l.transport == sipwasm_proto::Transport::Tls)
            && file.tls.is_none()
        {
            return Err(at(invalid(
                "tls",
                "a tls: listener needs [tls] certificate and private_key",
            )));
        }
        let tls = match &file.tls {
            Some(t) => Some(t.settings(&router.listen, &resolve).map_err(at)?),
            None => None,
        };
        let shortest_deadline = tenants
            .iter()
            .map(|t| t.deadline)
            .min()
            .unwrap_or(Duration::from_millis(10));
        let r = &file.runtime;
        r.check(shortest_deadline).map_err(at)?;
        file.msrp.check().map_err(at)?;
        file.tcp.check().map_err(at)?;
        let nh = &file.nathelper;
        Ok(Config {
            source: path.to_path_buf(),
            listen: router.listen,
            workers: file.router.workers,
            aliases: router.aliases,
            server_header: (!file.router.server_header.is_empty())
                .then(|| file.router.server_header.clone()),
            max_message_size: file.router.max_message_size,
            tcp: file.tcp.clone(),
            tenants,
            default_tenant,
            control_socket: file.control.socket.as_deref().map(resolve),
            control_mode: file
                .control
                .file_mode()
                .map_err(|e| at(("control.mode".into(), e)))?,
            control_token: file.control.token.clone().filter(|t| !t.is_empty()),
            tls,
            watch_plugins: r.watch_plugins,
            nosip,
            htables,
            msrp: file.msrp.clone(),
            cache_dir: r.cache_dir.as_deref().map(resolve),
            epoch_tick: Duration::from_millis(r.epoch_tick_ms),
            timers: file.tm.timers().map_err(at)?,
            dns: file.dns.settings().map_err(at)?,
            max_instances: r.max_instances,
            log_format: file.log.format,
            log_level: file.log.level.clone(),
            secret: file.router.secret.clone(),
            natping: nh.natping().map_err(at)?,
            path_from: file.registrar.path_from().map_err(at)?,
            trusted_peers: router.trusted_peers,
            guard: file.security.policy().map_err(at)?,
            state: file.state.resolved(&resolve).backend().map_err(at)?,
            state_section: file.state.resolved(&resolve),
            dispatcher,
            proxy_require: file.sanity.proxy_require.clone(),
            pike: file.pike.settings().map_err(at)?,
            address_groups,
            ratelimit: file.ratelimit.settings().map_err(at)?,
            metrics_listen: match &file.metrics.listen {
                Some(a) => Some(a.parse().map_err(|_| {
                    at(invalid(
                        "metrics.listen",
                        format!("{a:?} is not IP:PORT (e.g. 127.0.0.1:9090)"),
                    ))
                })?),
                None => None,
            },
        })
    }
}

/// What is wrong with a value: its key (a dotted path) and why.
type Invalid = (String, String);

fn invalid(key: impl Into<String>, message: impl Into<String>) -> Invalid {
    (key.into(), message.into())
}

/// What `[router]` makes.
struct Router {
    listen: Vec<ListenSpec>,
    aliases: Vec<Alias>,
    trusted_peers: Vec<ipnet::IpNet>,
}

impl RouterSection {
    fn check(&self) -> Result<Router, Invalid> {
        let mut listen = Vec::new();
        for (i, spec) in self.listen.iter().enumerate() {
            listen.push(
                spec.parse::<ListenSpec>()
                    .map_err(|e| invalid(format!("router.listen[{i}]"), e.to_string()))?,
            );
        }
        if listen.is_empty() {
            return Err(invalid("router.listen", "at least one listener is needed"));
        }
        if self.workers == 0 || self.workers > 256 {
            return Err(invalid("router.workers", "must be 1 to 256"));
        }
        if !(1024..=1 << 24).contains(&self.max_message_size) {
            return Err(invalid(
                "router.max_message_size",
                "must be 1024 to 16777216 bytes",
            ));
        }
        let mut aliases = Vec::new();
        for (i, a) in self.aliases.iter().enumerate() {
            let key = || format!("router.aliases[{i}]");
            let (host, port) = match a.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') || h.ends_with(']') => (
                    h,
                    Some(
                        p.parse::<u16>()
                            .map_err(|_| invalid(key(), format!("bad port in {a:?}")))?,
                    ),
                ),
                _ => (a.as_str(), None),
            };
            if host.is_empty() {
                return Err(invalid(key(), "empty host"));
            }
            aliases.push(Alias {
                host: host.to_ascii_lowercase(),
                port,
            });
        }
        if let Some(secret) = &self.secret
            && secret.len() < 16
        {
            return Err(invalid("router.secret", "must be at least 16 characters"));
        }
        let mut trusted_peers = Vec::new();
        for (i, a) in self.trusted_peers.iter().enumerate() {
            trusted_peers.push(parse_net(format!("router.trusted_peers[{i}]"), a)?);
        }
        Ok(Router {
            listen,
            aliases,
            trusted_peers,
        })
    }
}

impl NosipSection {
    fn filter(&self) -> Result<sipwasm_routing::NosipFilter, Invalid> {
        if self.min_size > 65_535 {
            return Err(invalid("nosip.min_size", "must be 0 to 65535"));
        }
        sipwasm_routing::NosipFilter::new(self.min_size, &self.msg_match, &self.msg_skip)
            .map_err(|e| invalid("nosip", format!("bad regular expression: {e}")))
    }
}

impl HtableSection {
    fn specs(sections: &[HtableSection]) -> Result<Vec<sipwasm_routing::HtableSpec>, Invalid> {
        let mut htables: Vec<sipwasm_routing::HtableSpec> = Vec::new();
        for (i, h) in sections.iter().enumerate() {
            let key = format!("htable[{i}]");
            if h.name.is_empty()
                || !h
                    .name
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
            {
                return Err(invalid(key, format!("bad name {:?}", h.name)));
            }
            if htables.iter().any(|t| t.name == h.name) {
                return Err(invalid(key, format!("{:?} is declared twice", h.name)));
            }
            if h.max_entries == 0 || h.max_entries > 10_000_000 {
                return Err(invalid(key, "max_entries must be 1 to 10000000"));
            }
            htables.push(sipwasm_routing::HtableSpec {
                name: h.name.clone(),
                autoexpire: h.autoexpire_secs,
                max_entries: h.max_entries,
                expired_event: h.expired_event,
            });
        }
        Ok(htables)
    }
}

/// `[plugin]` and `[[tenant]]`: the tenants, and which one is the default.
fn tenants(
    file: &ConfigFile,
    listen: &[ListenSpec],
    htables: &[sipwasm_routing::HtableSpec],
    ids: Shared<'_>,
    resolve: &dyn Fn(&Path) -> PathBuf,
) -> Result<(Vec<TenantConfig>, usize), Invalid> {
    let mut sections: Vec<(String, &PluginSection)> = Vec::new();
    if let Some(p) = &file.plugin {
        sections.push(("plugin".into(), p));
    }
    for (i, t) in file.tenant.iter().enumerate() {
        sections.push((format!("tenant[{i}]"), t));
    }
    if sections.is_empty() {
        return Err(invalid(
            "plugin",
            "a [plugin] section or at least one [[tenant]] is needed",
        ));
    }
    let mut tenants = Vec::new();
    let mut default_tenant = None;
    for (key, section) in &sections {
        let is_plugin = key == "plugin";
        let shared = SharedRouter {
            workers: file.router.workers,
            several: sections.len() > 1,
            ids,
        };
        let t = tenant_config(section, key, is_plugin, shared, listen, htables, resolve)?;
        if tenants.iter().any(|o: &TenantConfig| o.name == t.name) {
            return Err(invalid(
                format!("{key}.name"),
                format!("{:?} is used by two tenants", t.name),
            ));
        }
        if is_plugin || section.default {
            if let Some(d) = default_tenant {
                let other: &TenantConfig = &tenants[d];
                return Err(invalid(
                    format!("{key}.default"),
                    format!("{:?} is already the default tenant", other.name),
                ));
            }
            default_tenant = Some(tenants.len());
        }
        tenants.push(t);
    }
    let Some(default_tenant) = default_tenant else {
        return Err(invalid(
            "tenant",
            "no default tenant: add a [plugin] section or `default = true` to one [[tenant]]",
        ));
    };
    for (i, t) in tenants.iter().enumerate() {
        for d in &t.domains {
            if let Some(o) = tenants[..i].iter().find(|o| o.domains.contains(d)) {
                return Err(invalid(
                    format!("{}.domains", sections[i].0),
                    format!("{d:?} is already served by tenant {:?}", o.name),
                ));
            }
        }
        for l in &t.listen {
            if let Some(o) = tenants[..i].iter().find(|o| o.listen.contains(l)) {
                return Err(invalid(
                    format!("{}.listen", sections[i].0),
                    format!("{l} is already served by tenant {:?}", o.name),
                ));
            }
        }
    }
    Ok((tenants, default_tenant))
}

impl RuntimeSection {
    fn check(&self, shortest_deadline: Duration) -> Result<(), Invalid> {
        if self.epoch_tick_ms == 0 || self.epoch_tick_ms > 1000 {
            return Err(invalid("runtime.epoch_tick_ms", "must be 1 to 1000"));
        }
        if Duration::from_millis(self.epoch_tick_ms) > shortest_deadline {
            return Err(invalid(
                "runtime.epoch_tick_ms",
                format!(
                    "a tick longer than the shortest deadline_ms ({}) makes the deadline late",
                    shortest_deadline.as_millis()
                ),
            ));
        }
        if self.max_instances == 0 || self.max_instances > 10_000 {
            return Err(invalid("runtime.max_instances", "must be 1 to 10000"));
        }
        Ok(())
    }
}

impl MsrpSection {
    fn check(&self) -> Result<(), Invalid> {
        if !(1024..=64 << 20).contains(&self.max_chunk_size) {
            return Err(invalid(
                "msrp.max_chunk_size",
                "must be 1024 to 67108864 bytes",
            ));
        }
        Ok(())
    }
}

impl TcpSection {
    fn check(&self) -> Result<(), Invalid> {
        if self.idle_timeout_secs == 0 || self.message_timeout_secs == 0 {
            return Err(invalid("tcp", "timeouts must be at least 1 second"));
        }
        Ok(())
    }
}

impl TmSection {
    fn timers(&self) -> Result<sipwasm_tm::TimerConfig, Invalid> {
        if self.t1_ms == 0 || self.t2_ms < self.t1_ms || self.t4_ms == 0 {
            return Err(invalid("tm", "need t1_ms > 0, t2_ms >= t1_ms, t4_ms > 0"));
        }
        if self.wait_timer_ms < self.t4_ms.min(64 * self.t1_ms) {
            return Err(invalid(
                "tm.wait_timer_ms",
                format!(
                    "must be at least T4 ({} ms)",
                    self.t4_ms.min(64 * self.t1_ms)
                ),
            ));
        }
        if self.fr_timer_ms < 100 || self.fr_inv_timer_ms < 100 {
            return Err(invalid(
                "tm",
                "final-response timeouts must be at least 100 ms",
            ));
        }
        Ok(sipwasm_tm::TimerConfig {
            t1: Duration::from_millis(self.t1_ms),
            t2: Duration::from_millis(self.t2_ms),
            t4: Duration::from_millis(self.t4_ms),
            fr: Duration::from_millis(self.fr_timer_ms),
            fr_inv: Duration::from_millis(self.fr_inv_timer_ms),
            wait: Duration::from_millis(self.wait_timer_ms),
        })
    }
}

impl DnsSection {
    fn settings(&self) -> Result<DnsSettings, Invalid> {
        let mut servers = Vec::new();
        for (i, s) in self.servers.iter().enumerate() {
            servers.push(s.parse::<std::net::SocketAddr>().map_err(|_| {
                invalid(format!("dns.servers[{i}]"), format!("{s:?} is not IP:PORT"))
            })?);
        }
        Ok(DnsSettings {
            servers,
            timeout: Duration::from_millis(self.timeout_ms.unwrap_or(2000)),
        })
    }
}

impl RegistrarSection {
    fn path_from(&self) -> Result<Vec<std::net::IpAddr>, Invalid> {
        self.path_from
            .iter()
            .enumerate()
            .map(|(i, a)| {
                a.parse::<std::net::IpAddr>().map_err(|_| {
                    invalid(
                        format!("registrar.path_from[{i}]"),
                        format!("{a:?} is not an IP address"),
                    )
                })
            })
            .collect()
    }
}

impl NathelperSection {
    fn natping(&self) -> Result<sipwasm_routing::NatPing, Invalid> {
        if self.natping_interval > 3600 {
            return Err(invalid(
                "nathelper.natping_interval",
                "must be 0 (off) to 3600 seconds",
            ));
        }
        if !self.sipping_from.is_empty()
            && sipwasm_proto::uri::Uri::parse_standalone(self.sipping_from.as_bytes())
                .map_or(true, |u| !u.scheme.is_sip())
        {
            return Err(invalid(
                "nathelper.sipping_from",
                format!("{:?} is not a SIP URI", self.sipping_from),
            ));
        }
        if self.sipping_method.is_empty()
            || !self.sipping_method.bytes().all(|c| c.is_ascii_uppercase())
        {
            return Err(invalid(
                "nathelper.sipping_method",
                "must be a method name (OPTIONS, INFO ...)",
            ));
        }
        Ok(sipwasm_routing::NatPing {
            interval: self.natping_interval,
            nated_only: self.ping_nated_only,
            from: (!self.sipping_from.is_empty()).then(|| self.sipping_from.clone()),
            method: self.sipping_method.clone(),
        })
    }
}

impl Config {
    /// The default tenant.
    pub fn default_tenant(&self) -> &TenantConfig {
        &self.tenants[self.default_tenant]
    }

    /// Threads that run plugin code: `workers` per UDP listener, `workers` for TCP, the
    /// timer thread, and the queue workers. Each keeps its own instance of a tenant's
    /// plugin.
    pub fn event_threads(&self) -> usize {
        use sipwasm_proto::Transport;
        let udp = self
            .listen
            .iter()
            .filter(|l| l.transport == Transport::Udp)
            .count();
        let tcp = self.listen.iter().any(|l| l.transport != Transport::Udp);
        self.workers * udp
            + if tcp { self.workers } else { 0 }
            + 1
            + queue_workers(self.workers, self.tenants.iter().map(|t| &t.limits))
    }
}

/// Threads that run the events queued past tenants' worker shares, or held back while a
/// tenant is not in good standing: `workers - 1` (at least 1) when the config has several
/// tenants or a worker share; none for a lone tenant without one (nothing is queued).
pub fn queue_workers<'a>(
    workers: usize,
    tenants: impl IntoIterator<Item = &'a TenantLimits>,
) -> usize {
    let (mut count, mut share) = (0, false);
    for l in tenants {
        count += 1;
        share |= l.worker_share != 0;
    }
    if count > 1 || share {
        workers.saturating_sub(1).max(1)
    } else {
        0
    }
}

/// What a tenant's defaults depend on.
#[derive(Clone, Copy)]
struct SharedRouter<'a> {
    workers: usize,
    /// More than one tenant: the limits that protect neighbours apply by default.
    several: bool,
    /// What a tenant may be granted.
    ids: Shared<'a>,
}

/// The ids of what tenants are granted by id.
#[derive(Clone, Copy)]
struct Shared<'a> {
    /// The `[[dispatcher.destination]]` sets.
    dispatcher_sets: &'a [u32],
    /// The `[[permissions.address]]` groups.
    address_groups: &'a [u32],
}

/// `granted` (a `[plugin]` without the key gets every id, a `[[tenant]]` none), each one
/// defined.
fn granted_ids(
    granted: &Option<Vec<u32>>,
    defined: &[u32],
    is_plugin: bool,
    what: &str,
) -> Result<Vec<u32>, String> {
    match granted {
        None if is_plugin => Ok(defined.to_vec()),
        None => Ok(Vec::new()),
        Some(ids) => {
            if let Some(id) = ids.iter().find(|id| !defined.contains(id)) {
                return Err(format!("no {what} {id}"));
            }
            Ok(ids.clone())
        }
    }
}

/// Validate one `[plugin]` / `[[tenant]]` section; errors name the key.
fn tenant_config(
    p: &PluginSection,
    key: &str,
    is_plugin: bool,
    router: SharedRouter<'_>,
    listeners: &[ListenSpec],
    htables: &[sipwasm_routing::HtableSpec],
    resolve: &dyn Fn(&Path) -> PathBuf,
) -> Result<TenantConfig, Invalid> {
    let bad = |k: &str, m: String| (format!("{key}.{k}"), m);
    if p.name.is_empty()
        || !p
            .name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
    {
        return Err(bad(
            "name",
            format!("{:?}: use letters, digits, '-', '_' or '.'", p.name),
        ));
    }
    if p.deadline_ms == 0 || p.deadline_ms > 60_000 {
        return Err(bad("deadline_ms", "must be 1 to 60000".into()));
    }
    if p.memory_mb == 0 || p.memory_mb > 4096 {
        return Err(bad("memory_mb", "must be 1 to 4096".into()));
    }
    if p.instances > 10_000 {
        return Err(bad("instances", "must be 0 to 10000".into()));
    }
    let cpu_ms_per_s = p.cpu_ms_per_s.unwrap_or(if router.several {
        // never below one event's deadline: the default must not refuse what it allows
        (PluginSection::DEFAULT_CPU_MS_PER_S_PER_WORKER
            * router.workers.saturating_sub(1).max(1) as u64)
            .max(p.deadline_ms)
    } else {
        0
    });
    if cpu_ms_per_s > 1_000_000 {
        return Err(bad("cpu_ms_per_s", "must be 0 to 1000000".into()));
    }
    if cpu_ms_per_s != 0 && cpu_ms_per_s < p.deadline_ms {
        return Err(bad(
            "cpu_ms_per_s",
            format!(
                "{cpu_ms_per_s} is less than deadline_ms ({}): one event could spend more \
                 than the budget holds",
                p.deadline_ms
            ),
        ));
    }
    let worker_share = p.worker_share.unwrap_or(if router.several {
        router.workers.saturating_sub(1).max(1)
    } else {
        0
    });
    if worker_share > 10_000 {
        return Err(bad("worker_share", "must be 0 to 10000".into()));
    }
    if !(1..=1_000_000).contains(&p.queue) {
        return Err(bad("queue", "must be 1 to 1000000".into()));
    }
    if !(1..=3600).contains(&p.quarantine_window_s) {
        return Err(bad("quarantine_window_s", "must be 1 to 3600".into()));
    }
    if !(1..=86_400).contains(&p.quarantine_s) {
        return Err(bad("quarantine_s", "must be 1 to 86400".into()));
    }
    if p.quarantine_max_s < p.quarantine_s || p.quarantine_max_s > 86_400 {
        return Err(bad(
            "quarantine_max_s",
            "must be quarantine_s to 86400".into(),
        ));
    }
    let fallback = match &p.fallback {
        None => Fallback::Reply(500, "Server Internal Error".into()),
        Some(FallbackSpec::Keyword(k)) if k == "drop" => Fallback::Drop,
        Some(FallbackSpec::Keyword(k)) => {
            return Err(bad(
                "fallback",
                format!("{k:?}: expected \"drop\" or {{ code = N, reason = \"...\" }}"),
            ));
        }
        Some(FallbackSpec::Reply { code, reason }) => {
            if !(300..=699).contains(code) {
                return Err(bad("fallback.code", "must be 300 to 699".into()));
            }
            let reason = reason
                .clone()
                .unwrap_or_else(|| "Server Internal Error".into());
            if reason.contains(['\r', '\n']) {
                return Err(bad("fallback.reason", "must be one line".into()));
            }
            Fallback::Reply(*code, reason)
        }
    };
    let mut plugin_config = BTreeMap::new();
    for (k, v) in &p.config {
        let s = match v {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => {
                return Err(bad(
                    &format!("config.{k}"),
                    "values must be strings, numbers or booleans".into(),
                ));
            }
        };
        plugin_config.insert(k.clone(), s);
    }
    let udp_allow = sipwasm_routing::UdpAllow::parse(&p.udp_allow)
        .map_err(|e| bad("udp_allow", e.to_string()))?;
    // resolved here to the names granted, so nothing downstream reads an absent list as
    // "everything"
    let htables_granted = match &p.htables {
        None if is_plugin => htables.iter().map(|h| h.name.clone()).collect(),
        None => Vec::new(),
        Some(names) => {
            for n in names {
                if !htables.iter().any(|h| &h.name == n) {
                    return Err(bad("htables", format!("no [[htable]] named {n:?}")));
                }
            }
            names.clone()
        }
    };
    let dispatcher_sets = granted_ids(
        &p.dispatcher_sets,
        router.ids.dispatcher_sets,
        is_plugin,
        "[[dispatcher.destination]] set",
    )
    .map_err(|m| bad("dispatcher_sets", m))?;
    let address_groups = granted_ids(
        &p.address_groups,
        router.ids.address_groups,
        is_plugin,
        "[[permissions.address]] group",
    )
    .map_err(|m| bad("address_groups", m))?;
    let events = match &p.events {
        None => EventGrants::default(),
        Some(list) => {
            let mut g = EventGrants {
                sip: false,
                nosip: false,
                msrp: false,
            };
            for e in list {
                match e.as_str() {
                    "sip" => g.sip = true,
                    "nosip" => g.nosip = true,
                    "msrp" => g.msrp = true,
                    other => {
                        return Err(bad(
                            "events",
                            format!("{other:?}: expected \"sip\", \"nosip\" or \"msrp\""),
                        ));
                    }
                }
            }
            g
        }
    };
    let mut listen = Vec::new();
    for (i, l) in p.listen.iter().enumerate() {
        let spec: ListenSpec = l.parse().map_err(|e: sipwasm_transport::ListenSpecError| {
            bad(&format!("listen[{i}]"), e.to_string())
        })?;
        if !listeners
            .iter()
            .any(|r| r.transport == spec.transport && r.addr == spec.addr)
        {
            return Err(bad(
                &format!("listen[{i}]"),
                format!("{l} is not one of router.listen"),
            ));
        }
        listen.push(spec);
    }
    let mut timers: Vec<sipwasm_routing::TimerSpec> = Vec::new();
    for (i, t) in p.rtimer.iter().enumerate() {
        let key = format!("rtimer[{i}]");
        sipwasm_routing::rtimer::check_name(&t.name).map_err(|e| bad(&key, e.to_string()))?;
        if timers.iter().any(|o| o.name == t.name) {
            return Err(bad(&key, format!("{:?} is declared twice", t.name)));
        }
        let interval = Duration::from_millis(t.interval_ms);
        if interval < sipwasm_routing::rtimer::MIN_INTERVAL {
            return Err(bad(&key, "interval_ms must be at least 10".into()));
        }
        timers.push(sipwasm_routing::TimerSpec {
            name: t.name.clone(),
            interval,
        });
    }
    if timers.len() > sipwasm_routing::rtimer::MAX_TIMERS {
        return Err(bad(
            "rtimer",
            format!("at most {} timers", sipwasm_routing::rtimer::MAX_TIMERS),
        ));
    }
    let mut domains = Vec::new();
    for (i, d) in p.domains.iter().enumerate() {
        if d.is_empty() || d.contains([':', ' ', '@', ';']) {
            return Err(bad(
                &format!("domains[{i}]"),
                format!("{d:?} is not a domain"),
            ));
        }
        domains.push(d.to_ascii_lowercase());
    }
    Ok(TenantConfig {
        name: p.name.clone(),
        plugin_path: resolve(&p.path),
        deadline: Duration::from_millis(p.deadline_ms),
        memory_limit: p.memory_mb << 20,
        limits: TenantLimits {
            max_instances: p.instances,
            log_rate: p.log_rate.unwrap_or(if is_plugin { 0 } else { 1000 }),
            cpu_budget: (cpu_ms_per_s != 0).then(|| Duration::from_millis(cpu_ms_per_s)),
            worker_share,
            queue: p.queue,
            quarantine_after: p.quarantine_after.unwrap_or(if router.several {
                PluginSection::DEFAULT_QUARANTINE_AFTER
            } else {
                0
            }),
            quarantine_window: Duration::from_secs(p.quarantine_window_s),
            quarantine_first: Duration::from_secs(p.quarantine_s),
            quarantine_max: Duration::from_secs(p.quarantine_max_s),
        },
        fallback,
        plugin_config,
        udp_allow,
        grants: sipwasm_routing::Grants {
            htables: htables_granted,
            dispatcher_sets,
            address_groups,
        },
        events,
        listen,
        domains,
        timers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[router]
listen = ["udp:127.0.0.1:5060", "tcp:[::1]:5060"]
workers = 2
aliases = ["Example.com", "sip.example.com:5070"]

[plugin]
name = "t"
path = "plugins/t.wasm"
fallback = { code = 503, reason = "Busy" }
[plugin.config]
next_hop = "sip:127.0.0.1:5080"
retries = 3

[runtime]
cache_dir = "cache"
"#;

    #[test]
    fn good_config_resolves_paths() {
        let c = Config::parse(GOOD, Path::new("/etc/sipwasm/router.toml")).unwrap();
        assert_eq!(c.listen.len(), 2);
        assert_eq!(
            c.default_tenant().plugin_path,
            Path::new("/etc/sipwasm/plugins/t.wasm")
        );
        assert_eq!(
            c.cache_dir.as_deref(),
            Some(Path::new("/etc/sipwasm/cache"))
        );
        assert_eq!(
            c.default_tenant().fallback,
            Fallback::Reply(503, "Busy".into())
        );
        assert_eq!(c.default_tenant().plugin_config["retries"], "3");
        assert_eq!(
            c.aliases[0],
            Alias {
                host: "example.com".into(),
                port: None
            }
        );
        assert_eq!(c.aliases[1].port, Some(5070));
        assert_eq!(c.default_tenant().deadline, Duration::from_millis(10));
        assert_eq!(c.default_tenant().memory_limit, 16 << 20);
    }

    #[test]
    fn plugin_timers_are_checked() {
        let with = |timers: &str| {
            let text = GOOD.replace("[runtime]", &format!("{timers}\n[runtime]"));
            Config::parse(&text, Path::new("r.toml")).map_err(|e| e.to_string())
        };
        let c = with(
            "[[plugin.rtimer]]\nname = \"ta\"\ninterval_ms = 1000\n\
             [[plugin.rtimer]]\nname = \"tb\"\ninterval_ms = 10",
        )
        .unwrap();
        let timers = &c.default_tenant().timers;
        assert_eq!(timers.len(), 2);
        assert_eq!(timers[0].name, "ta");
        assert_eq!(timers[1].interval, Duration::from_millis(10));
        let e = with("[[plugin.rtimer]]\nname = \"t\"\ninterval_ms = 9").unwrap_err();
        assert!(
            e.contains("plugin.rtimer[0]") && e.contains("at least 10"),
            "{e}"
        );
        let e = with("[[plugin.rtimer]]\nname = \"a:b\"\ninterval_ms = 100").unwrap_err();
        assert!(e.contains("bad timer name"), "{e}");
        let e = with(
            "[[plugin.rtimer]]\nname = \"t\"\ninterval_ms = 100\n\
             [[plugin.rtimer]]\nname = \"t\"\ninterval_ms = 200",
        )
        .unwrap_err();
        assert!(e.contains("declared twice"), "{e}");
        let e = with("[[plugin.rtimer]]\nname = \"t\"").unwrap_err();
        assert!(e.contains("interval_ms"), "{e}");
        let c = with("[[htable]]\nname = \"h\"\nexpired_event = true").unwrap();
        assert!(c.htables[0].expired_event);
    }

    #[test]
    fn trusted_peers_are_addresses_or_networks() {
        let text = GOOD.replace(
            "workers = 2",
            "workers = 2\ntrusted_peers = [\"10.0.0.0/8\", \"192.0.2.7\", \"2001:db8::/32\"]",
        );
        let c = Config::parse(&text, Path::new("r.toml")).unwrap();
        let nets: Vec<String> = c.trusted_peers.iter().map(|n| n.to_string()).collect();
        assert_eq!(nets, ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]);
        let text = GOOD.replace(
            "workers = 2",
            "workers = 2\ntrusted_peers = [\"lb.example.com\"]",
        );
        let e = Config::parse(&text, Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("router.trusted_peers[0]"), "{e}");
    }

    #[test]
    fn unknown_keys_are_named() {
        let text = GOOD.replace("workers = 2", "workerz = 2");
        let e = Config::parse(&text, Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("r.toml:"), "{e}");
        assert!(e.contains("workerz"), "{e}");
        let text = GOOD.replace("[runtime]", "[nathelper]\nnatping = 30\n[runtime]");
        let e = Config::parse(&text, Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("natping"), "{e}");
        let text = GOOD.replace("[runtime]", "[runtime]\nbogus = 1");
        let e = Config::parse(&text, Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn invalid_values_are_named() {
        let e = Config::parse(
            &GOOD.replace("udp:127.0.0.1:5060", "udp:nowhere"),
            Path::new("r.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("router.listen[0]"), "{e}");
        let e = Config::parse(
            &GOOD.replace("code = 503", "code = 200"),
            Path::new("r.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("plugin.fallback.code"), "{e}");
        let e = Config::parse(
            &GOOD.replace(
                "fallback = { code = 503, reason = \"Busy\" }",
                "fallback = \"ignore\"",
            ),
            Path::new("r.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("plugin.fallback"), "{e}");
        let drop = GOOD.replace(
            "fallback = { code = 503, reason = \"Busy\" }",
            "fallback = \"drop\"",
        );
        assert_eq!(
            Config::parse(&drop, Path::new("r.toml"))
                .unwrap()
                .default_tenant()
                .fallback,
            Fallback::Drop
        );
        let e = Config::parse(
            &GOOD.replace("workers = 2", "workers = 0"),
            Path::new("r.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("router.workers"), "{e}");
        let e = Config::parse(
            "[router]\nlisten = []\n[plugin]\nname=\"x\"\npath=\"y\"",
            Path::new("r.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("router.listen"), "{e}");
        let e = Config::parse(
            "[router]\nlisten=[\"udp:127.0.0.1:1\"]",
            Path::new("r.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("plugin"), "missing section named: {e}");
    }

    #[test]
    fn control_mode_and_token() {
        let c = Config::parse(GOOD, Path::new("r.toml")).unwrap();
        assert_eq!((c.control_mode, c.control_token.as_deref()), (0o600, None));
        let with = |extra: &str| {
            Config::parse(&format!("{GOOD}\n[control]\n{extra}"), Path::new("r.toml"))
        };
        let c = with("mode = \"0660\"\ntoken = \"t\"").unwrap();
        assert_eq!(
            (c.control_mode, c.control_token.as_deref()),
            (0o660, Some("t"))
        );
        for (bad, why) in [
            ("0666", "only the owner and the group"),
            ("0060", "owner needs read and write"),
            ("rw", "not an octal mode"),
        ] {
            let e = with(&format!("mode = \"{bad}\"")).unwrap_err().to_string();
            assert!(e.contains("control.mode") && e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn nosip_and_udp_grants() {
        let c = Config::parse(GOOD, Path::new("r.toml")).unwrap();
        assert_eq!(c.nosip.min_size, 32);
        assert!(c.nosip.msg_match.is_none() && c.nosip.msg_skip.is_none());
        assert!(
            c.default_tenant().udp_allow.is_empty(),
            "outbound UDP is denied by default"
        );
        let text = format!(
            "{GOOD}\n[nosip]\nmin_size = 8\nmsg_match = \"^KREQUEST-\"\nmsg_skip = \"^GET \"\n"
        )
        .replace(
            "fallback = {",
            "udp_allow = [\"127.0.0.1:9999\", \"10.0.0.0/8\"]\nfallback = {",
        );
        let c = Config::parse(&text, Path::new("r.toml")).unwrap();
        assert_eq!(c.nosip.min_size, 8);
        assert_eq!(c.nosip.check(b"KREQUEST-x"), Ok(()));
        assert!(c.nosip.check(b"GET / HTTP/1.0").is_err());
        assert!(
            c.default_tenant()
                .udp_allow
                .allows("127.0.0.1:9999".parse().unwrap())
        );
        assert!(
            !c.default_tenant()
                .udp_allow
                .allows("127.0.0.1:9998".parse().unwrap())
        );
        let e = Config::parse(
            &format!("{GOOD}\n[nosip]\nmsg_skip = \"(\"\n"),
            Path::new("r.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("nosip") && e.contains("regular expression"),
            "{e}"
        );
        let e = Config::parse(
            &GOOD.replace(
                "fallback = {",
                "udp_allow = [\"localhost:1\"]\nfallback = {",
            ),
            Path::new("r.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("plugin.udp_allow"), "{e}");
    }

    #[test]
    fn htables() {
        let text = format!(
            "{GOOD}\n[[htable]]\nname = \"msrp\"\nautoexpire_secs = 3600\n[[htable]]\nname = \"ipban\"\nmax_entries = 10\n"
        );
        let c = Config::parse(&text, Path::new("r.toml")).unwrap();
        assert_eq!(c.htables.len(), 2);
        assert_eq!(c.htables[0].autoexpire, 3600);
        assert_eq!(c.htables[1].max_entries, 10);
        // a [plugin] that lists no tables is granted each one, by name
        assert_eq!(c.default_tenant().grants.htables, ["msrp", "ipban"]);
        let twice = format!("{GOOD}\n[[htable]]\nname = \"a\"\n[[htable]]\nname = \"a\"\n");
        let e = Config::parse(&twice, Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("htable[1]"), "{e}");
    }

    const TENANTS: &str = r#"
[router]
listen = ["udp:127.0.0.1:5060", "udp:127.0.0.1:5070"]
workers = 2
[[htable]]
name = "t1"
[[htable]]
name = "t2"
[[tenant]]
name = "alpha"
path = "a.wasm"
default = true
[[tenant]]
name = "beta"
path = "b.wasm"
domains = ["Beta.Example.com"]
listen = ["udp:127.0.0.1:5070"]
htables = ["t2"]
events = ["sip", "msrp"]
instances = 2
log_rate = 10
deadline_ms = 5
"#;

    #[test]
    fn tenants_with_defaults_grants_and_limits() {
        let c = Config::parse(TENANTS, Path::new("/etc/r.toml")).unwrap();
        assert_eq!(c.tenants.len(), 2);
        assert_eq!(c.default_tenant().name, "alpha");
        let a = &c.tenants[0];
        assert_eq!(
            a.grants.htables,
            Vec::<String>::new(),
            "a [[tenant]] gets no table unless granted"
        );
        assert_eq!(
            a.limits.log_rate, 1000,
            "a [[tenant]] logs 1000 lines/s by default"
        );
        assert_eq!(a.events, EventGrants::default());
        let b = &c.tenants[1];
        assert_eq!(b.plugin_path, Path::new("/etc/b.wasm"));
        assert_eq!(b.domains, vec!["beta.example.com".to_string()]);
        assert_eq!(b.listen[0].addr.port(), 5070);
        assert_eq!(b.grants.htables, vec!["t2".to_string()]);
        assert!(b.events.sip && b.events.msrp && !b.events.nosip);
        assert_eq!(b.limits.max_instances, 2);
        assert_eq!(b.limits.log_rate, 10);
        assert_eq!(b.deadline, Duration::from_millis(5));
        // 2 UDP listeners x 2 workers + the timer thread + 1 queue worker
        assert_eq!(c.event_threads(), 6);
        // several tenants: budget, worker share and quarantine by default
        let l = &a.limits;
        assert_eq!(
            l.cpu_budget,
            Some(Duration::from_millis(1000)),
            "a second of CPU per worker of its share"
        );
        assert_eq!((l.worker_share, l.queue), (1, 64));
        assert_eq!(l.quarantine_after, 3);
        assert_eq!(l.quarantine_window, Duration::from_secs(10));
        assert_eq!(l.quarantine_first, Duration::from_secs(1));
        assert_eq!(l.quarantine_max, Duration::from_secs(300));
        // [plugin] alone: every table, no log limit, no budget, no share, no queue worker
        let c = Config::parse(GOOD, Path::new("r.toml")).unwrap();
        assert!(
            c.default_tenant().grants.htables.is_empty(),
            "no table declared"
        );
        let l = &c.default_tenant().limits;
        assert_eq!(l.log_rate, 0);
        assert_eq!((l.cpu_budget, l.worker_share), (None, 0));
        assert_eq!(l.quarantine_after, 0, "no quarantine for a lone tenant");
        assert_eq!(c.event_threads(), 2 + 2 + 1);
        // each set explicitly
        let text = TENANTS.replace(
            "deadline_ms = 5\n",
            "deadline_ms = 5\ncpu_ms_per_s = 0\nworker_share = 0\nqueue = 8\n\
             quarantine_after = 0\nquarantine_window_s = 30\nquarantine_s = 5\n\
             quarantine_max_s = 60\n",
        );
        let c = Config::parse(&text, Path::new("r.toml")).unwrap();
        let l = &c.tenants[1].limits;
        assert_eq!((l.cpu_budget, l.worker_share, l.queue), (None, 0, 8));
        assert_eq!(l.quarantine_after, 0);
        assert_eq!(l.quarantine_window, Duration::from_secs(30));
        assert_eq!(l.quarantine_first, Duration::from_secs(5));
        assert_eq!(l.quarantine_max, Duration::from_secs(60));
        // a lone tenant given a share gets a queue worker
        let c = Config::parse(
            &GOOD.replace("path = ", "worker_share = 1\npath = "),
            Path::new("r.toml"),
        )
        .unwrap();
        assert_eq!(c.default_tenant().limits.worker_share, 1);
        assert_eq!(c.event_threads(), 2 + 2 + 1 + 1);
    }

    #[test]
    fn tenant_mistakes_are_named() {
        let cases = [
            (TENANTS.replace("default = true\n", ""), "no default tenant"),
            (
                TENANTS.replace("name = \"beta\"", "name = \"alpha\""),
                "used by two tenants",
            ),
            (
                TENANTS.replace("htables = [\"t2\"]", "htables = [\"t3\"]"),
                "tenant[1].htables",
            ),
            (
                TENANTS.replace("events = [\"sip\", \"msrp\"]", "events = [\"web\"]"),
                "tenant[1].events",
            ),
            (
                TENANTS.replace(
                    "listen = [\"udp:127.0.0.1:5070\"]",
                    "listen = [\"udp:127.0.0.1:5080\"]",
                ),
                "not one of router.listen",
            ),
            (
                TENANTS.replace("name = \"beta\"", "name = \"be ta\""),
                "tenant[1].name",
            ),
            (
                format!("{TENANTS}\n[plugin]\nname = \"p\"\npath = \"p.wasm\"\n"),
                "already the default tenant",
            ),
            (
                format!(
                    "{TENANTS}\n[[tenant]]\nname = \"g\"\npath = \"g.wasm\"\ndomains = [\"beta.example.com\"]\n"
                ),
                "already served by tenant",
            ),
            (
                TENANTS.replace("deadline_ms = 5\n", "deadline_ms = 50\ncpu_ms_per_s = 20\n"),
                "tenant[1].cpu_ms_per_s",
            ),
            (
                TENANTS.replace("deadline_ms = 5\n", "queue = 0\n"),
                "tenant[1].queue",
            ),
            (
                TENANTS.replace(
                    "deadline_ms = 5\n",
                    "quarantine_s = 10\nquarantine_max_s = 5\n",
                ),
                "tenant[1].quarantine_max_s",
            ),
            (
                TENANTS.replace("deadline_ms = 5\n", "quarantine_window_s = 0\n"),
                "tenant[1].quarantine_window_s",
            ),
        ];
        for (text, needle) in cases {
            let e = Config::parse(&text, Path::new("r.toml"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "expected {needle:?} in {e}");
        }
    }

    #[test]
    fn msrp_section() {
        let c = Config::parse(GOOD, Path::new("r.toml")).unwrap();
        assert_eq!(c.msrp.max_chunk_size, 1 << 20);
        assert!(c.msrp.sipmsg);
        let c = Config::parse(
            &format!("{GOOD}\n[msrp]\nmax_chunk_size = 65536\nsipmsg = false\n"),
            Path::new("r.toml"),
        )
        .unwrap();
        assert_eq!(c.msrp.max_chunk_size, 65536);
        assert!(!c.msrp.sipmsg);
        let e = Config::parse(
            &format!("{GOOD}\n[msrp]\nmax_chunk_size = 10\n"),
            Path::new("r.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("msrp.max_chunk_size"), "{e}");
    }

    #[test]
    fn tls_listeners_need_a_certificate() {
        let text = GOOD.replace("\"tcp:[::1]:5060\"", "\"tls:127.0.0.1:5061\"");
        let e = Config::parse(&text, Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("tls") && e.contains("certificate"), "{e}");
        let text = format!("{text}\n[tls]\ncertificate = \"c.pem\"\nprivate_key = \"k.pem\"\n");
        let c = Config::parse(&text, Path::new("/etc/s/r.toml")).unwrap();
        let tls = c.tls.unwrap();
        assert_eq!(tls.certificate, Path::new("/etc/s/c.pem"));
        assert_eq!(tls.ca_file, None);
    }

    #[test]
    fn state_backends_and_the_metrics_listener() {
        let parse = |extra: &str| {
            Config::parse(&format!("{GOOD}\n{extra}"), Path::new("r.toml"))
                .map_err(|e| e.to_string())
        };
        let c = parse("").unwrap();
        assert_eq!(c.state, StateBackend::Memory);
        assert_eq!(c.metrics_listen, None);
        let c = parse(
            "[state]\nbackend = \"redis\"\nurl = \"redis://10.0.0.5:6379/2\"\ntimeout_ms = 80\n[metrics]\nlisten = \"127.0.0.1:9090\"",
        )
        .unwrap();
        assert_eq!(
            c.state,
            StateBackend::Redis {
                url: "redis://10.0.0.5:6379/2".into(),
                key_prefix: "sipwasm:".into(),
                timeout: Duration::from_millis(80),
                tls: None,
            }
        );
        assert_eq!(c.metrics_listen, Some("127.0.0.1:9090".parse().unwrap()));
        let c = parse(
            "[state]\nurl = \"rediss://r.example:6380\"\ntls_ca_file = \"ca.pem\"\ntls_cert_file = \"/etc/c.pem\"\ntls_key_file = \"k.pem\"",
        )
        .unwrap();
        assert!(matches!(
            c.state,
            StateBackend::Redis { tls: Some(RedisTls { ca_file: Some(ref ca), client_certificate: Some((ref cert, ref key)) }), .. }
                if ca == Path::new("ca.pem") && cert == Path::new("/etc/c.pem") && key == Path::new("k.pem")
        ));
        for (bad, key) in [
            ("[state]\nbackend = \"redis\"", "state.url"),
            ("[state]\nbackend = \"etcd\"", "state.backend"),
            (
                "[state]\nbackend = \"redis\"\nurl = \"http://x\"",
                "state.url",
            ),
            (
                "[state]\nurl = \"redis://x\"\ntimeout_ms = 0",
                "state.timeout_ms",
            ),
            ("[metrics]\nlisten = \"nowhere\"", "metrics.listen"),
            (
                "[state]\nurl = \"redis://x\"\ntls_ca_file = \"ca.pem\"",
                "state.url",
            ),
            (
                "[state]\nurl = \"rediss://x\"\ntls_cert_file = \"c.pem\"",
                "state.tls_key_file",
            ),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(key), "{bad}: {e}");
        }
        // --state-url: the section's other settings stay
        let c = parse("[state]\nkey_prefix = \"edge:\"").unwrap();
        let redis = c.state_section.with_url("redis://127.0.0.1:7000").unwrap();
        assert!(
            matches!(redis, StateBackend::Redis { ref key_prefix, .. } if key_prefix == "edge:")
        );
        assert!(c.state_section.with_url("localhost:6379").is_err());
    }

    #[test]
    fn mutual_tls_and_destinations() {
        let listener = "\"tls:127.0.0.1:5061 client_cert required\"";
        let with = |tls: &str| {
            let text = GOOD.replace("\"tcp:[::1]:5060\"", listener);
            let text =
                format!("{text}\n[tls]\ncertificate = \"c.pem\"\nprivate_key = \"k.pem\"\n{tls}");
            Config::parse(&text, Path::new("/etc/s/r.toml")).map_err(|e| e.to_string())
        };
        let e = with("").unwrap_err();
        assert!(e.contains("client_ca"), "{e}");
        let c = with(
            "client_ca = \"trunks.pem\"\nclient_names = [\"SBC.carrier.example\", \"*.pbx.example\"]\n\
             [[tls.destination]]\naddress = \"203.0.113.5:5061\"\nname = \"sbc.carrier.example\"\n\
             [[tls.destination]]\naddress = \"192.168.56.0/24\"\nverify = false\n",
        )
        .unwrap();
        let tls = c.tls.unwrap();
        assert_eq!(
            tls.client_ca.as_deref(),
            Some(Path::new("/etc/s/trunks.pem"))
        );
        assert_eq!(tls.client_names, ["sbc.carrier.example", "*.pbx.example"]);
        assert_eq!(tls.destinations.len(), 2);
        assert_eq!(tls.destinations[0].port, Some(5061));
        assert_eq!(
            tls.destinations[0].check,
            sipwasm_transport::PeerCheck::Name("sbc.carrier.example".into())
        );
        assert_eq!(tls.destinations[1].port, None);
        assert_eq!(
            tls.destinations[1].check,
            sipwasm_transport::PeerCheck::Insecure
        );
        for (bad, key) in [
            (
                "client_ca = \"a.pem\"\nclient_names = [\"not a name\"]",
                "client_names[0]",
            ),
            (
                "client_ca = \"a.pem\"\n[[tls.destination]]\naddress = \"nowhere\"\nverify = false",
                "destination[0].address",
            ),
            (
                "client_ca = \"a.pem\"\n[[tls.destination]]\naddress = \"10.0.0.1\"",
                "destination[0].name",
            ),
            (
                "client_ca = \"a.pem\"\n[[tls.destination]]\naddress = \"10.0.0.1\"\nname = \"a.b\"\nverify = false",
                "destination[0].verify",
            ),
            (
                "client_ca = \"a.pem\"\n[[tls.destination]]\naddress = \"10.0.0.1\"\nname = \"-:x\"",
                "destination[0].name",
            ),
        ] {
            let e = with(bad).unwrap_err();
            assert!(e.contains(key), "{bad}: {e}");
        }
    }
}
