//! Locating SIP servers (RFC 3263) with a cache: IP literals directly; an explicit port
//! means A/AAAA; otherwise SRV (`_sip._udp`, `_sip._tcp`, `_sips._tcp`), then A/AAAA on
//! 5060. NAPTR is not consulted (RFC 3263 §4.1 lets a client skip it when it supports the
//! transports SRV offers).

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use sipwasm_proto::Transport;
use sipwasm_routing::services::UriTarget;
use sipwasm_routing::{NextHop, ResolveError};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an answer is reused.
const CACHE_TTL: Duration = Duration::from_secs(60);
/// Most cached names.
const CACHE_MAX: usize = 10_000;

/// DNS settings.
#[derive(Clone, Debug, Default)]
pub struct DnsSettings {
    /// Name servers to ask (`IP:PORT`); empty for the system's (`/etc/resolv.conf`).
    pub servers: Vec<SocketAddr>,
    /// Time allowed for one resolution.
    pub timeout: Duration,
}

/// A resolution result and when it stops being valid, by target.
type Cache = HashMap<String, (Instant, Result<Vec<NextHop>, ResolveError>)>;

/// A caching RFC 3263 resolver usable from worker threads.
pub struct Resolver {
    inner: Option<TokioResolver>,
    runtime: tokio::runtime::Handle,
    timeout: Duration,
    cache: Mutex<Cache>,
}

impl Resolver {
    /// A resolver whose lookups run on `runtime`. Without any usable DNS configuration it
    /// still resolves IP literals and `localhost`.
    pub fn new(settings: &DnsSettings, runtime: tokio::runtime::Handle) -> Self {
        let timeout = if settings.timeout.is_zero() {
            Duration::from_secs(2)
        } else {
            settings.timeout
        };
        let built = if settings.servers.is_empty() {
            TokioResolver::builder_tokio().map(|mut b| {
                b.options_mut().timeout = timeout;
                b.build()
            })
        } else {
            let servers = settings
                .servers
                .iter()
                .map(|s| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = s.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = s.port();
                    NameServerConfig::new(s.ip(), true, vec![udp, tcp])
                })
                .collect();
            let mut b = TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, Vec::new(), servers),
                TokioRuntimeProvider::default(),
            );
            b.options_mut().timeout = timeout;
            b.options_mut().attempts = 1;
            Ok(b.build())
        };
        let inner = match built {
            Ok(Ok(r)) => Some(r),
            Ok(Err(e)) | Err(e) => {
                tracing::warn!("DNS unavailable, only IP literals will resolve: {e}");
                None
            }
        };
        Resolver {
            inner,
            runtime,
            timeout,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Next hops for a SIP URI, best first.
    pub fn resolve(&self, uri: &str) -> Result<Vec<NextHop>, ResolveError> {
        let t = UriTarget::of(uri)?;
        if let Some(hop) = t.literal() {
            return Ok(vec![hop]);
        }
        let key = format!(
            "{}|{:?}|{:?}",
            t.host.to_ascii_lowercase(),
            t.port,
            t.transport
        );
        if let Some((at, r)) = self.cache.lock().expect("not poisoned").get(&key)
            && at.elapsed() < CACHE_TTL
        {
            return r.clone();
        }
        let result = match &self.inner {
            None if t.host.eq_ignore_ascii_case("localhost") => Ok(vec![NextHop {
                transport: t.transport.unwrap_or(Transport::Udp),
                addr: SocketAddr::new([127, 0, 0, 1].into(), t.port.unwrap_or(5060)),
            }]),
            None => Err(ResolveError::NotFound(t.host.clone())),
            Some(r) => {
                let timeout = self.timeout;
                self.runtime.block_on(async {
                    match tokio::time::timeout(timeout, lookup(r, &t)).await {
                        Ok(res) => res,
                        Err(_) => Err(ResolveError::NotFound(format!("{} (DNS timeout)", t.host))),
                    }
                })
            }
        };
        let mut cache = self.cache.lock().expect("not poisoned");
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, (Instant::now(), result.clone()));
        result
    }
}

async fn addresses(r: &TokioResolver, host: &str, port: u16, transport: Transport) -> Vec<NextHop> {
    match r.lookup_ip(host).await {
        Ok(ips) => ips
            .iter()
            .map(|ip| NextHop {
                transport,
                addr: SocketAddr::new(ip, port),
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

async fn srv(r: &TokioResolver, name: &str, transport: Transport) -> Vec<NextHop> {
    let Ok(records) = r.srv_lookup(name).await else {
        return Vec::new();
    };
    let mut entries: Vec<_> = records
        .answers()
        .iter()
        .filter_map(|rec| match &rec.data {
            hickory_resolver::proto::rr::RData::SRV(s) => {
                Some((s.priority, s.weight, s.port, s.target.to_utf8()))
            }
            _ => None,
        })
        .collect();
    // RFC 2782: lowest priority first; within a priority, heavier first (deterministic)
    entries.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut out = Vec::new();
    for (_, _, port, target) in entries {
        let target = target.trim_end_matches('.');
        if target.is_empty() {
            continue;
        }
        out.extend(addresses(r, target, port, transport).await);
    }
    out
}

async fn lookup(r: &TokioResolver, t: &UriTarget) -> Result<Vec<NextHop>, ResolveError> {
    let host = t.host.trim_end_matches('.');
    let default_port = |tr: Transport| if tr == Transport::Tls { 5061 } else { 5060 };
    let hops = match (t.port, t.transport) {
        (Some(port), tr) => addresses(r, host, port, tr.unwrap_or(Transport::Udp)).await,
        (None, Some(tr)) => {
            let service = match tr {
                Transport::Tls => format!("_sips._tcp.{host}."),
                other => format!("_sip._{}.{host}.", other.as_str()),
            };
            let mut h = srv(r, &service, tr).await;
            if h.is_empty() {
                h = addresses(r, host, default_port(tr), tr).await;
            }
            h
        }
        (None, None) => {
            let mut h = srv(r, &format!("_sip._udp.{host}."), Transport::Udp).await;
            if h.is_empty() {
                h = srv(r, &format!("_sip._tcp.{host}."), Transport::Tcp).await;
            }
            if h.is_empty() {
                h = addresses(r, host, 5060, Transport::Udp).await;
            }
            h
        }
    };
    if hops.is_empty() {
        Err(ResolveError::NotFound(t.host.clone()))
    } else {
        Ok(hops)
    }
}
