//! Locating SIP servers (RFC 3263) with a cache: IP literals directly; an explicit port
//! means A/AAAA; an explicit transport (or `sips:`) means its SRV records, then A/AAAA;
//! with neither, NAPTR picks the transports (`SIP+D2U`, `SIP+D2T`, `SIPS+D2T`, in its
//! order and preference), else SRV for UDP then TCP, then A/AAAA on 5060.
//!
//! Every address of every target is returned, in the order to try them: SRV priority
//! first, and within a priority RFC 2782's weighted random order, drawn anew for each
//! request (so the weights spread the load), then each target's addresses. The proxy sends
//! to the first and fails over to the next on a 503 or a timeout without answer.

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

pub use sipwasm_config::DnsSettings;

/// One SRV target (or a plain name's addresses) and its addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// SRV priority (lower first); 0 for a plain name.
    pub priority: u16,
    /// SRV weight within its priority.
    pub weight: u16,
    /// Its addresses, in the resolver's order.
    pub hops: Vec<NextHop>,
}

/// A resolution result and when it stops being valid, by target.
type Cache = HashMap<String, (Instant, Result<Vec<Target>, ResolveError>)>;

/// The order to try `targets` in: priority groups in their order (the caller sorted them),
/// each in RFC 2782's weighted random order — each draw `pick(total)` from `0..=total`
/// takes the first target whose running sum of weights reaches it, so a weight-0 target
/// (placed first) is taken only on a draw of 0 — then every target's addresses.
pub fn weighted_order(targets: &[Target], mut pick: impl FnMut(u32) -> u32) -> Vec<NextHop> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < targets.len() {
        let p = targets[i].priority;
        let end = i + targets[i..].iter().take_while(|t| t.priority == p).count();
        // RFC 2782: zero-weight entries first in the list, then draw by running sums
        let mut group: Vec<&Target> = targets[i..end].iter().collect();
        group.sort_by_key(|t| t.weight != 0);
        while !group.is_empty() {
            let total: u32 = group.iter().map(|t| u32::from(t.weight)).sum();
            let r = pick(total).min(total);
            let mut sum = 0;
            let chosen = group
                .iter()
                .position(|t| {
                    sum += u32::from(t.weight);
                    sum >= r && (t.weight > 0 || total == 0 || r == 0)
                })
                .unwrap_or(0);
            out.extend(group.remove(chosen).hops.iter().copied());
        }
        i = end;
    }
    // an address reached through two targets is tried once
    let mut seen = std::collections::HashSet::new();
    out.retain(|h| seen.insert(*h));
    out
}

/// A draw in `0..=n` for [`weighted_order`], from a randomly keyed hasher.
fn random_pick(n: u32) -> u32 {
    use std::hash::BuildHasher as _;
    thread_local! {
        static DRAWS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }
    let k = DRAWS.with(|d| {
        d.set(d.get().wrapping_add(1));
        d.get()
    });
    let x = std::collections::hash_map::RandomState::new().hash_one(k);
    (x % (u64::from(n) + 1)) as u32
}

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

    /// What the cache holds (`ctl dns.cache`): per looked-up target (`host|port|transport`),
    /// seconds since it was resolved and what it resolved to (`transport:address` per hop,
    /// in priority order), or the error; sorted, expired entries left out.
    pub fn cached(&self) -> Vec<(String, u64, Result<Vec<String>, String>)> {
        let cache = self.cache.lock().expect("not poisoned");
        let mut out: Vec<_> = cache
            .iter()
            .filter(|(_, (at, _))| at.elapsed() < CACHE_TTL)
            .map(|(key, (at, r))| {
                let hops = match r {
                    Ok(targets) => Ok(targets
                        .iter()
                        .flat_map(|t| &t.hops)
                        .map(|h| format!("{}:{}", h.transport, h.addr))
                        .collect()),
                    Err(e) => Err(e.to_string()),
                };
                (key.clone(), at.elapsed().as_secs(), hops)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
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
        let cached = match self.cache.lock().expect("not poisoned").get(&key) {
            Some((at, r)) if at.elapsed() < CACHE_TTL => Some(r.clone()),
            _ => None,
        };
        let result = match cached {
            Some(r) => r,
            None => {
                let result = self.lookup(&t);
                let mut cache = self.cache.lock().expect("not poisoned");
                if cache.len() >= CACHE_MAX {
                    cache.clear();
                }
                cache.insert(key, (Instant::now(), result.clone()));
                result
            }
        };
        result.map(|targets| weighted_order(&targets, random_pick))
    }

    fn lookup(&self, t: &UriTarget) -> Result<Vec<Target>, ResolveError> {
        match &self.inner {
            None if t.host.eq_ignore_ascii_case("localhost") => Ok(vec![Target {
                priority: 0,
                weight: 0,
                hops: vec![NextHop {
                    transport: t.transport.unwrap_or(Transport::Udp),
                    addr: SocketAddr::new([127, 0, 0, 1].into(), t.port.unwrap_or(5060)),
                }],
            }]),
            None => Err(ResolveError::NotFound(t.host.clone())),
            Some(r) => {
                let timeout = self.timeout;
                self.runtime.block_on(async {
                    match tokio::time::timeout(timeout, lookup(r, t, timeout)).await {
                        Ok(res) => res,
                        Err(_) => Err(ResolveError::NotFound(format!("{} (DNS timeout)", t.host))),
                    }
                })
            }
        }
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

/// The SRV targets of `name`, by priority, with their addresses.
async fn srv(r: &TokioResolver, name: &str, transport: Transport) -> Vec<Target> {
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
    // lowest priority first; the order within a priority is drawn per request
    entries.sort_by_key(|e| e.0);
    let mut out = Vec::new();
    for (priority, weight, port, target) in entries {
        let target = target.trim_end_matches('.');
        if target.is_empty() {
            // "." : the service is decidedly not available here (RFC 2782)
            continue;
        }
        let hops = addresses(r, target, port, transport).await;
        if !hops.is_empty() {
            out.push(Target {
                priority,
                weight,
                hops,
            });
        }
    }
    out
}

/// The transports NAPTR offers for `host` (RFC 3263 §4.1): SRV names with their
/// transport, in the records' order and preference; only services this router speaks.
async fn naptr(r: &TokioResolver, host: &str) -> Vec<(Transport, String)> {
    let Ok(records) = r
        .lookup(
            format!("{host}."),
            hickory_resolver::proto::rr::RecordType::NAPTR,
        )
        .await
    else {
        return Vec::new();
    };
    let mut entries: Vec<_> = records
        .answers()
        .iter()
        .filter_map(|rec| match &rec.data {
            hickory_resolver::proto::rr::RData::NAPTR(n) => {
                let service = String::from_utf8_lossy(&n.services).to_ascii_uppercase();
                let transport = match service.as_str() {
                    "SIP+D2U" => Transport::Udp,
                    "SIP+D2T" => Transport::Tcp,
                    "SIPS+D2T" => Transport::Tls,
                    _ => return None,
                };
                // only the "s" flag (an SRV lookup follows) is for SIP
                if !n.flags.eq_ignore_ascii_case(b"s") {
                    return None;
                }
                Some((n.order, n.preference, transport, n.replacement.to_utf8()))
            }
            _ => None,
        })
        .collect();
    entries.sort_by_key(|e| (e.0, e.1));
    entries
        .into_iter()
        .map(|(_, _, t, name)| (t, name))
        .collect()
}

fn plain(hops: Vec<NextHop>) -> Vec<Target> {
    if hops.is_empty() {
        Vec::new()
    } else {
        vec![Target {
            priority: 0,
            weight: 0,
            hops,
        }]
    }
}

async fn lookup(
    r: &TokioResolver,
    t: &UriTarget,
    timeout: Duration,
) -> Result<Vec<Target>, ResolveError> {
    let host = t.host.trim_end_matches('.');
    let default_port = |tr: Transport| if tr == Transport::Tls { 5061 } else { 5060 };
    let srv_name = |tr: Transport| match tr {
        Transport::Tls => format!("_sips._tcp.{host}."),
        other => format!("_sip._{}.{host}.", other.as_str()),
    };
    let targets = match (t.port, t.transport) {
        (Some(port), tr) => plain(addresses(r, host, port, tr.unwrap_or(Transport::Udp)).await),
        (None, Some(tr)) => {
            let mut h = srv(r, &srv_name(tr), tr).await;
            if h.is_empty() {
                h = plain(addresses(r, host, default_port(tr), tr).await);
            }
            h
        }
        (None, None) => {
            let mut h = Vec::new();
            // the transports the domain's NAPTR records prefer, each tried in turn: every
            // one that resolves is a further failover target
            // NAPTR gets a quarter of the time: a resolver that drops NAPTR queries must
            // not cost the SRV and A/AAAA lookups that follow
            let offered = tokio::time::timeout(timeout / 4, naptr(r, host))
                .await
                .unwrap_or_default();
            for (tr, name) in offered {
                let found = srv(r, &name, tr).await;
                let base = h
                    .iter()
                    .map(|x: &Target| x.priority)
                    .max()
                    .map_or(0, |p| p + 1);
                // a later NAPTR record only after every target of an earlier one
                h.extend(found.into_iter().map(|mut x| {
                    x.priority = x.priority.saturating_add(base);
                    x
                }));
            }
            if h.is_empty() {
                h = srv(r, &srv_name(Transport::Udp), Transport::Udp).await;
            }
            if h.is_empty() {
                h = srv(r, &srv_name(Transport::Tcp), Transport::Tcp).await;
            }
            if h.is_empty() {
                h = plain(addresses(r, host, 5060, Transport::Udp).await);
            }
            h
        }
    };
    if targets.is_empty() {
        Err(ResolveError::NotFound(t.host.clone()))
    } else {
        Ok(targets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(priority: u16, weight: u16, last: u8) -> Target {
        Target {
            priority,
            weight,
            hops: vec![NextHop {
                transport: Transport::Udp,
                addr: SocketAddr::new([10, 0, 0, last].into(), 5060),
            }],
        }
    }

    fn lasts(hops: &[NextHop]) -> Vec<u8> {
        hops.iter()
            .map(|h| match h.addr.ip() {
                std::net::IpAddr::V4(v4) => v4.octets()[3],
                std::net::IpAddr::V6(_) => 0,
            })
            .collect()
    }

    #[test]
    fn priorities_first_then_weights() {
        let t = [target(10, 0, 1), target(20, 60, 2), target(20, 40, 3)];
        // the draw picks by running sums of weights within the priority
        assert_eq!(lasts(&weighted_order(&t, |_| 10)), [1, 2, 3]);
        assert_eq!(lasts(&weighted_order(&t, |_| 61)), [1, 3, 2]);
        // weights spread the load: 60/40 over many draws
        let mut first = [0u32; 4];
        for _ in 0..10_000 {
            first[lasts(&weighted_order(&t[1..], random_pick))[0] as usize] += 1;
        }
        let share = f64::from(first[2]) / 10_000.0;
        assert!((0.55..0.65).contains(&share), "{share}");
        // a weight-0 target comes after the weighted ones, unless all are 0
        let z = [target(1, 0, 1), target(1, 5, 2)];
        assert_eq!(lasts(&weighted_order(&z, |n| n)), [2, 1]);
        let zeros = [target(1, 0, 1), target(1, 0, 2)];
        assert_eq!(lasts(&weighted_order(&zeros, |_| 0)).len(), 2);
        // an address reached twice is tried once
        let dup = [target(1, 1, 7), target(2, 1, 7)];
        assert_eq!(lasts(&weighted_order(&dup, random_pick)), [7]);
    }
}
