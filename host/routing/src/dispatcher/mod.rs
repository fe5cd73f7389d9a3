//! Kamailio's `dispatcher`: sets of destinations (gateways, media servers, proxies) a
//! request is load-balanced over, with health probes and failover.
//!
//! Sans-IO: the selection rules, the destination states and the probes' bookkeeping live
//! here; the router sends what [`Dispatcher::tick`] returns and hands the probes' replies
//! to [`Dispatcher::probe_reply`].
//!
//! States as Kamailio keeps them: a destination is active (`A`), trying (`T`: active, its
//! last probes failed but fewer than `probing_threshold`), inactive (`I`: skipped by every
//! selection) or disabled (`D`, by the operator); `P` says it is probed. An inactive
//! destination that answers `inactive_threshold` probes in a row is active again.

use crate::services::hop::{NextHop, UriTarget};
use sipwasm_proto::{SipMessage, Transport};
use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Most destinations in one set.
pub const MAX_DESTINATIONS: usize = 256;
/// Longest a call is counted for call-load balancing without `ds_load_update` at its end.
const LOAD_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// Most calls counted for call-load balancing; past it new calls are not counted (and
/// logged by the router as a plain selection would be).
const MAX_LOADS: usize = 1_000_000;

/// Why a dispatcher function refused; mirrors the WIT `dispatcher.error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DsError {
    /// No such set, or the tenant was not granted it.
    #[error("dispatcher set {0} is not defined (or not granted to this tenant)")]
    UnknownSet(u32),
    /// Not one of the algorithms Kamailio numbers 0-4, 6, 8-10.
    #[error("dispatcher algorithm {0} is not supported (0-4, 6, 8, 9, 10)")]
    UnknownAlgorithm(u32),
    /// Every destination of the set is inactive or disabled (Kamailio returns false).
    #[error("no active destination in the set")]
    NoneActive,
    /// `ds_next_dst`: nothing left to try.
    #[error("no further destination")]
    NoneLeft,
    /// `ds_mark_dst` with no selection, or a state that is not a, i, t, d, p.
    #[error("{0}")]
    Invalid(String),
    /// The event is not a SIP request.
    #[error("not a SIP request")]
    NoRequest,
}

/// One destination of the config: `uri` (an IP address: probes and `ds_is_from_list`
/// need it), Kamailio's flags, priority and attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestinationSpec {
    /// `sip:IP[:PORT][;transport=...]`.
    pub uri: String,
    /// Share of the weight-based algorithm (9).
    pub weight: u32,
    /// Higher first: the order of the set (and algorithm 8 takes the first active).
    pub priority: i32,
    /// Free text handed to the plugin (`$xavp(_dsdst_=>attrs)` in Kamailio).
    pub attrs: String,
    /// Probe it even when active (Kamailio's flag 8).
    pub probe: bool,
    /// Most calls at once for call-load balancing (10); 0: no limit.
    pub max_load: u32,
}

/// A set: its id and destinations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetSpec {
    /// The set id (`ds_select_dst(ID, ...)`).
    pub id: u32,
    /// Its destinations, in the config's order.
    pub destinations: Vec<DestinationSpec>,
}

/// How destinations are probed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probing {
    /// Between two probes of a destination (`ds_ping_interval`); zero: no probes.
    pub interval: Duration,
    /// Failed probes that make an active destination inactive (`ds_probing_threshold`).
    pub threshold: u32,
    /// Answered probes that make an inactive destination active (`ds_inactive_threshold`).
    pub inactive_threshold: u32,
    /// `false`: only destinations flagged `probe` and those marked `p` (Kamailio's
    /// `ds_probing_mode` 0); `true`: every destination (mode 1).
    pub all: bool,
    /// Reply codes that say "alive" besides 2xx (`ds_ping_reply_codes`), as ranges: a
    /// code is (c, c), a class such as 4xx (400, 499).
    pub reply_codes: Vec<(u16, u16)>,
    /// `ds_ping_method`.
    pub method: String,
    /// `ds_ping_from`.
    pub from: String,
    /// An unanswered probe fails after this long.
    pub timeout: Duration,
}

impl Default for Probing {
    fn default() -> Self {
        Probing {
            interval: Duration::from_secs(10),
            threshold: 1,
            inactive_threshold: 1,
            all: false,
            reply_codes: Vec::new(),
            method: "OPTIONS".into(),
            from: "sip:dispatcher@localhost".into(),
            timeout: Duration::from_secs(2),
        }
    }
}

impl Probing {
    fn alive(&self, code: u16) -> bool {
        (200..300).contains(&code)
            || self
                .reply_codes
                .iter()
                .any(|&(lo, hi)| (lo..=hi).contains(&code))
    }
}

const INACTIVE: u32 = 1;
const TRYING: u32 = 2;
const DISABLED: u32 = 4;
const PROBING: u32 = 8;

/// A destination with its state.
#[derive(Debug)]
struct Destination {
    spec: DestinationSpec,
    hop: NextHop,
    /// Host and port as written, for `ds_select_domain`.
    hostport: String,
    state: AtomicU32,
    /// Failed (while active) or answered (while inactive) probes in a row.
    streak: AtomicU32,
    /// Calls counted for call-load balancing (shared with its copy after a reload: the
    /// calls counted before end on either).
    load: Arc<AtomicU32>,
    /// Next probe due, milliseconds after the dispatcher's epoch.
    next_probe_ms: AtomicU64,
}

impl Destination {
    fn usable(&self) -> bool {
        self.state.load(Ordering::Relaxed) & (INACTIVE | DISABLED) == 0
    }
}

#[derive(Debug)]
struct Set {
    id: u32,
    /// Highest priority first, config order among equals.
    dsts: Vec<Arc<Destination>>,
    /// 100 slots filled in proportion to the weights (algorithm 9 walks them).
    weight_slots: Vec<usize>,
    next_rr: AtomicUsize,
    next_weight: AtomicUsize,
}

/// A probe sent and not answered yet.
#[derive(Debug)]
struct Outstanding {
    dst: Arc<Destination>,
    sent: Transmit,
    deadline: Instant,
    /// Next UDP retransmission and its interval (RFC 3261 timer E: T1 doubling to T2).
    resend_at: Instant,
    resend_every: Duration,
}

type Transmit = sipwasm_proto::transport::Transmit;

/// What the hashing algorithms hash, taken from the request.
#[derive(Clone, Copy, Debug, Default)]
pub struct Keys<'a> {
    /// Call-ID (0; call-load counts by it).
    pub call_id: &'a [u8],
    /// From URI (1).
    pub from_uri: &'a [u8],
    /// To URI (2).
    pub to_uri: &'a [u8],
    /// Request-URI (3).
    pub ruri: &'a [u8],
}

/// A destination chosen: its set and its place in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pick {
    /// The set.
    pub set: u32,
    /// Its index in the set (highest priority first).
    pub index: usize,
}

/// Where a destination sends a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Its URI (`$du`).
    pub uri: String,
    /// Its host and port (the Request-URI's, for `ds_select_domain`).
    pub hostport: String,
    /// Its attributes.
    pub attrs: String,
}

/// Writes a probe: `(Call-ID, the message to send)`, from a listener that reaches `hop`
/// (none: no listener does).
pub trait ProbeWriter {
    /// The probe of destination `uri` at `hop`, its Call-ID made of `kind` and `seq`.
    fn probe(
        &self,
        probing: &Probing,
        uri: &str,
        hop: &NextHop,
        kind: &str,
        seq: u64,
    ) -> Option<(String, Transmit)>;
}

/// Kamailio's selection algorithms, by their number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// 0: hash over the Call-ID.
    CallId,
    /// 1: hash over the From URI.
    FromUri,
    /// 2: hash over the To URI.
    ToUri,
    /// 3: hash over the Request-URI.
    RequestUri,
    /// 4: round-robin.
    RoundRobin,
    /// 6: random.
    Random,
    /// 8: the first active by priority.
    Priority,
    /// 9: weight-based (weights as shares of 100).
    Weight,
    /// 10: the least loaded (active calls, within `max_load`).
    CallLoad,
}

impl Algorithm {
    /// Kamailio's number.
    pub fn of(n: u32) -> Result<Algorithm, DsError> {
        Ok(match n {
            0 => Algorithm::CallId,
            1 => Algorithm::FromUri,
            2 => Algorithm::ToUri,
            3 => Algorithm::RequestUri,
            4 => Algorithm::RoundRobin,
            6 => Algorithm::Random,
            8 => Algorithm::Priority,
            9 => Algorithm::Weight,
            10 => Algorithm::CallLoad,
            n => return Err(DsError::UnknownAlgorithm(n)),
        })
    }
}

/// The destination sets of the router, with their states and the probes in flight.
#[derive(Debug)]
pub struct Dispatcher {
    sets: RwLock<Arc<Vec<Set>>>,
    probing: Probing,
    probes: Mutex<HashMap<String, Outstanding>>,
    /// Call-ID -> the destination counted for it (algorithm 10), and since when.
    loads: Mutex<HashMap<String, (Arc<Destination>, Instant)>>,
    seq: AtomicU64,
    epoch: Instant,
    /// State changes not yet logged by the router (`set`, uri, new state).
    changes: Mutex<Vec<(u32, String, String)>>,
    /// In every probe's Call-ID: a reply is taken for a probe's only if it names it (the
    /// sequence numbers alone could be guessed).
    token: String,
}

impl Default for Dispatcher {
    fn default() -> Self {
        Dispatcher::new(Vec::new(), Probing::default()).expect("no sets")
    }
}

/// Why the sets could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("dispatcher set {set}: {message}")]
pub struct SetError {
    /// The set.
    pub set: u32,
    /// What is wrong.
    pub message: String,
}

fn build(specs: &[SetSpec], old: &[Set]) -> Result<Vec<Set>, SetError> {
    let mut sets = Vec::new();
    for spec in specs {
        let err = |message: String| SetError {
            set: spec.id,
            message,
        };
        if sets.iter().any(|s: &Set| s.id == spec.id) {
            return Err(err("defined twice".into()));
        }
        if spec.destinations.is_empty() || spec.destinations.len() > MAX_DESTINATIONS {
            return Err(err(format!("1 to {MAX_DESTINATIONS} destinations")));
        }
        let mut dsts = Vec::new();
        for d in &spec.destinations {
            let target =
                UriTarget::of(&d.uri).map_err(|e| err(format!("destination {:?}: {e}", d.uri)))?;
            let hop = target.literal().ok_or_else(|| {
                err(format!(
                    "destination {:?}: the host must be an IP address (it is probed and matched by address)",
                    d.uri
                ))
            })?;
            // a destination kept across a reload keeps its state and load
            let kept = old
                .iter()
                .filter(|s| s.id == spec.id)
                .flat_map(|s| s.dsts.iter())
                .find(|o| o.spec.uri == d.uri);
            let (state, load) = kept.map_or((0, Arc::default()), |o| {
                (o.state.load(Ordering::Relaxed), o.load.clone())
            });
            let hostport = match target.port {
                Some(p) if target.host.contains(':') => format!("[{}]:{p}", target.host),
                Some(p) => format!("{}:{p}", target.host),
                None => target.host.clone(),
            };
            dsts.push(Arc::new(Destination {
                spec: d.clone(),
                hop,
                hostport,
                state: AtomicU32::new(state),
                streak: AtomicU32::new(0),
                load,
                next_probe_ms: AtomicU64::new(0),
            }));
        }
        // stable: equal priorities keep the config's order
        dsts.sort_by_key(|d| std::cmp::Reverse(d.spec.priority));
        let weight_slots = weight_slots(&dsts);
        sets.push(Set {
            id: spec.id,
            dsts,
            weight_slots,
            next_rr: AtomicUsize::new(0),
            next_weight: AtomicUsize::new(0),
        });
    }
    Ok(sets)
}

/// 100 slots shared out in proportion to the weights (largest remainders get the slots
/// left), interleaved so that a burst is spread as the weights say; no weights: one slot
/// each.
fn weight_slots(dsts: &[Arc<Destination>]) -> Vec<usize> {
    let total: u64 = dsts.iter().map(|d| u64::from(d.spec.weight)).sum();
    if total == 0 {
        return (0..dsts.len()).collect();
    }
    let exact: Vec<(u64, u64)> = dsts
        .iter()
        .map(|d| {
            let share = u64::from(d.spec.weight) * 100;
            (share / total, share % total)
        })
        .collect();
    let mut counts: Vec<u64> = exact.iter().map(|&(n, _)| n).collect();
    let left = 100 - counts.iter().sum::<u64>();
    let mut by_remainder: Vec<usize> = (0..dsts.len()).collect();
    by_remainder.sort_by_key(|&i| std::cmp::Reverse(exact[i].1));
    for &i in by_remainder.iter().take(left as usize) {
        counts[i] += 1;
    }
    // the k-th slot of destination i sits at k / count_i along the 100
    let mut spread: Vec<(u64, usize)> = Vec::with_capacity(100);
    for (i, &n) in counts.iter().enumerate() {
        for k in 0..n {
            spread.push((k * 1_000_000 / n, i));
        }
    }
    spread.sort();
    spread.into_iter().map(|(_, i)| i).collect()
}

/// A destination as `ds.list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DestinationInfo {
    /// Its set.
    pub set: u32,
    /// Its URI.
    pub uri: String,
    /// Kamailio's flags: `A`/`I`/`T`/`D`, then `P` when probed.
    pub state: String,
    /// Its priority.
    pub priority: i32,
    /// Its weight.
    pub weight: u32,
    /// Calls counted on it (call-load balancing).
    pub load: u32,
    /// Its attributes.
    pub attrs: String,
}

fn state_text(state: u32, probed: bool) -> String {
    let main = if state & DISABLED != 0 {
        'D'
    } else if state & INACTIVE != 0 {
        'I'
    } else if state & TRYING != 0 {
        'T'
    } else {
        'A'
    };
    let mut s = main.to_string();
    if probed {
        s.push('P');
    } else {
        s.push('X');
    }
    s
}

impl Dispatcher {
    /// The sets of the config, probed as `probing` says.
    pub fn new(sets: Vec<SetSpec>, probing: Probing) -> Result<Dispatcher, SetError> {
        Ok(Dispatcher {
            sets: RwLock::new(Arc::new(build(&sets, &[])?)),
            probing,
            probes: Mutex::default(),
            loads: Mutex::default(),
            seq: AtomicU64::new(0),
            epoch: Instant::now(),
            changes: Mutex::default(),
            token: {
                let mut b = [0u8; 8];
                let _ = getrandom::fill(&mut b);
                format!("ds{:016x}.", u64::from_le_bytes(b))
            },
        })
    }

    /// Replace the sets (`ds.reload`); destinations kept keep their state and load.
    pub fn reload(&self, sets: Vec<SetSpec>) -> Result<usize, SetError> {
        let mut current = self.sets.write().unwrap_or_else(|e| e.into_inner());
        let new = build(&sets, &current)?;
        let n = new.iter().map(|s| s.dsts.len()).sum();
        *current = Arc::new(new);
        Ok(n)
    }

    /// The ids of the sets.
    pub fn set_ids(&self) -> Vec<u32> {
        self.sets().iter().map(|s| s.id).collect()
    }

    /// True when no set is defined.
    pub fn is_empty(&self) -> bool {
        self.sets().is_empty()
    }

    fn sets(&self) -> Arc<Vec<Set>> {
        self.sets.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Every destination and its state (`ds.list`).
    pub fn list(&self) -> Vec<DestinationInfo> {
        let sets = self.sets();
        sets.iter()
            .flat_map(|s| {
                s.dsts.iter().map(|d| DestinationInfo {
                    set: s.id,
                    uri: d.spec.uri.clone(),
                    state: state_text(d.state.load(Ordering::Relaxed), self.probed(d)),
                    priority: d.spec.priority,
                    weight: d.spec.weight,
                    load: d.load.load(Ordering::Relaxed),
                    attrs: d.spec.attrs.clone(),
                })
            })
            .collect()
    }

    /// The state changes since the last call, for the router to log.
    pub fn take_changes(&self) -> Vec<(u32, String, String)> {
        std::mem::take(&mut crate::lock(&self.changes))
    }

    fn set_state(&self, set: u32, d: &Destination, state: u32) {
        let before = d.state.swap(state, Ordering::Relaxed);
        d.streak.store(0, Ordering::Relaxed);
        if before & (INACTIVE | DISABLED | TRYING) != state & (INACTIVE | DISABLED | TRYING) {
            crate::lock(&self.changes).push((
                set,
                d.spec.uri.clone(),
                state_text(state, self.probed(d)),
            ));
        }
    }

    fn probed(&self, d: &Destination) -> bool {
        !self.probing.interval.is_zero()
            && (self.probing.all || d.spec.probe || d.state.load(Ordering::Relaxed) & PROBING != 0)
    }

    /// `ds.set_state`: set `uri` of `set` to `state` (a, i, d, t, with p).
    pub fn set_state_of(&self, set: u32, uri: &str, state: &str) -> Result<(), DsError> {
        let bits = parse_state(state)?;
        let sets = self.sets();
        let s = sets
            .iter()
            .find(|s| s.id == set)
            .ok_or(DsError::UnknownSet(set))?;
        let d = s
            .dsts
            .iter()
            .find(|d| d.spec.uri == uri)
            .ok_or_else(|| DsError::Invalid(format!("no destination {uri} in set {set}")))?;
        self.set_state(set, d, bits);
        Ok(())
    }

    /// Which destination of `set` the request goes to first, with `alg`; every other
    /// usable one follows in the order failover tries them.
    fn order(&self, set: &Set, alg: Algorithm, keys: &Keys<'_>) -> Vec<usize> {
        let n = set.dsts.len();
        // fixed keys: routers sharing a set (and a restarted one) choose alike
        let hash = |bytes: &[u8]| {
            let mut h = std::hash::DefaultHasher::new();
            h.write(bytes);
            h.finish() as usize
        };
        let first = match alg {
            Algorithm::CallId => hash(keys.call_id),
            Algorithm::FromUri => hash(keys.from_uri),
            Algorithm::ToUri => hash(keys.to_uri),
            Algorithm::RequestUri => hash(keys.ruri),
            Algorithm::RoundRobin => set.next_rr.fetch_add(1, Ordering::Relaxed),
            Algorithm::Random => {
                let mut b = [0u8; 8];
                let _ = getrandom::fill(&mut b);
                u64::from_le_bytes(b) as usize
            }
            Algorithm::Priority => 0,
            Algorithm::Weight => {
                let slot = set.next_weight.fetch_add(1, Ordering::Relaxed);
                set.weight_slots[slot % set.weight_slots.len()]
            }
            Algorithm::CallLoad => {
                // the usable one with the fewest calls, below its limit
                let best = set
                    .dsts
                    .iter()
                    .enumerate()
                    .filter(|(_, d)| d.usable())
                    .filter(|(_, d)| {
                        d.spec.max_load == 0 || d.load.load(Ordering::Relaxed) < d.spec.max_load
                    })
                    .min_by_key(|(i, d)| (d.load.load(Ordering::Relaxed), *i));
                match best {
                    Some((i, _)) => i,
                    None => return Vec::new(),
                }
            }
        } % n;
        (0..n)
            .map(|k| (first + k) % n)
            .filter(|&i| set.dsts[i].usable())
            .collect()
    }

    /// `ds_select_dst(set, alg, limit)`: the destinations of `set` in the order they are
    /// tried, the first chosen by Kamailio's algorithm number `alg` over `keys`; at most
    /// `limit` (0: all usable). `count_load`: the call counts on the first (algorithm
    /// 10).
    pub fn select(
        &self,
        set: u32,
        alg: u32,
        limit: u32,
        keys: &Keys<'_>,
        count_load: bool,
    ) -> Result<Vec<Pick>, DsError> {
        let alg = Algorithm::of(alg)?;
        let sets = self.sets();
        let s = sets
            .iter()
            .find(|s| s.id == set)
            .ok_or(DsError::UnknownSet(set))?;
        let mut order = self.order(s, alg, keys);
        if limit > 0 {
            order.truncate(limit as usize);
        }
        let Some(&first) = order.first() else {
            return Err(DsError::NoneActive);
        };
        if alg == Algorithm::CallLoad && count_load {
            self.load_add(keys.call_id, &s.dsts[first]);
        }
        Ok(order.into_iter().map(|index| Pick { set, index }).collect())
    }

    fn destination(&self, pick: Pick) -> Option<Arc<Destination>> {
        self.sets()
            .iter()
            .find(|s| s.id == pick.set)
            .and_then(|s| s.dsts.get(pick.index))
            .cloned()
    }

    /// Where `pick` sends a request (none after a reload removed it).
    pub fn target(&self, pick: Pick) -> Option<Target> {
        self.destination(pick).map(|d| Target {
            uri: d.spec.uri.clone(),
            hostport: d.hostport.clone(),
            attrs: d.spec.attrs.clone(),
        })
    }

    /// The destination `uri` of `set` now (a reload may have moved or removed it).
    pub fn find(&self, set: u32, uri: &str) -> Option<Pick> {
        let sets = self.sets();
        let s = sets.iter().find(|s| s.id == set)?;
        let index = s.dsts.iter().position(|d| d.spec.uri == uri)?;
        Some(Pick { set, index })
    }

    /// True while `pick` is neither inactive nor disabled.
    pub fn usable(&self, pick: Pick) -> bool {
        self.destination(pick).is_some_and(|d| d.usable())
    }

    /// `ds_mark_dst(state)` on `pick`: `i`, `a`, `d`, `t`, with `p` to probe it ("ip"
    /// takes a gateway out until it answers again).
    pub fn mark(&self, pick: Pick, state: &str) -> Result<(), DsError> {
        let bits = parse_state(state)?;
        let d = self
            .destination(pick)
            .ok_or(DsError::UnknownSet(pick.set))?;
        self.set_state(pick.set, &d, bits);
        Ok(())
    }

    /// `ds_is_from_list(set)`: the set (the first, `None`: of all) holding a destination
    /// at `src` over `transport`.
    pub fn from_list(
        &self,
        src: std::net::SocketAddr,
        transport: Transport,
        set: Option<u32>,
    ) -> Option<u32> {
        self.sets()
            .iter()
            .filter(|s| set.is_none_or(|id| id == s.id))
            .find(|s| {
                s.dsts
                    .iter()
                    .any(|d| d.hop.addr == src && d.hop.transport == transport)
            })
            .map(|s| s.id)
    }

    fn load_add(&self, call_id: &[u8], d: &Arc<Destination>) {
        let key = String::from_utf8_lossy(call_id).into_owned();
        let mut loads = crate::lock(&self.loads);
        if loads.len() >= MAX_LOADS && !loads.contains_key(&key) {
            return;
        }
        if let Some((old, _)) = loads.insert(key, (d.clone(), Instant::now())) {
            old.load.fetch_sub(1, Ordering::Relaxed);
        }
        d.load.fetch_add(1, Ordering::Relaxed);
    }

    /// `ds_load_unset` (the call failed) and `ds_load_update` on a BYE or CANCEL (it
    /// ended): the call no longer counts on its destination. True when it did.
    pub fn load_end(&self, call_id: &[u8]) -> bool {
        let key = String::from_utf8_lossy(call_id);
        match crate::lock(&self.loads).remove(key.as_ref()) {
            Some((d, _)) => {
                d.load.fetch_sub(1, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// The probes due at `now` (new ones and UDP retransmissions), written by `writer`;
    /// probes unanswered past their timeout count as failures.
    pub fn tick(&self, now: Instant, writer: &dyn ProbeWriter) -> Vec<Transmit> {
        let mut out = Vec::new();
        let mut failed = Vec::new();
        {
            let mut probes = crate::lock(&self.probes);
            probes.retain(|_, p| {
                if now >= p.deadline {
                    failed.push(p.dst.clone());
                    return false;
                }
                if p.sent.transport == Transport::Udp && now >= p.resend_at {
                    out.push(p.sent.clone());
                    p.resend_every = (p.resend_every * 2).min(Duration::from_secs(4));
                    p.resend_at = now + p.resend_every;
                }
                true
            });
        }
        let sets = self.sets();
        for d in failed {
            self.probe_result(&sets, &d, false);
        }
        if self.probing.interval.is_zero() {
            return out;
        }
        let now_ms = now.saturating_duration_since(self.epoch).as_millis() as u64;
        let mut probes = crate::lock(&self.probes);
        for s in sets.iter() {
            for d in &s.dsts {
                if !self.probed(d)
                    || d.state.load(Ordering::Relaxed) & DISABLED != 0
                    || d.next_probe_ms.load(Ordering::Relaxed) > now_ms
                    || probes.values().any(|p| Arc::ptr_eq(&p.dst, d))
                {
                    continue;
                }
                d.next_probe_ms.store(
                    now_ms + self.probing.interval.as_millis() as u64,
                    Ordering::Relaxed,
                );
                let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
                let Some((call_id, sent)) =
                    writer.probe(&self.probing, &d.spec.uri, &d.hop, &self.token, seq)
                else {
                    continue;
                };
                out.push(sent.clone());
                let t1 = Duration::from_millis(500);
                probes.insert(
                    call_id,
                    Outstanding {
                        dst: d.clone(),
                        sent,
                        deadline: now + self.probing.timeout,
                        resend_at: now + t1,
                        resend_every: t1,
                    },
                );
            }
        }
        out
    }

    /// A reply to one of the probes (by its Call-ID and CSeq method, from the
    /// destination probed, `src`): true when it was one (absorbed).
    pub fn probe_reply(&self, msg: &SipMessage, src: std::net::SocketAddr) -> bool {
        let Some(code) = msg.status() else {
            return false;
        };
        let call_id = String::from_utf8_lossy(msg.call_id());
        if msg.text(msg.cseq().method_span) != self.probing.method.as_bytes() {
            return false;
        }
        let mut probes = crate::lock(&self.probes);
        match probes.get(call_id.as_ref()) {
            Some(p) if p.sent.dest == src => {}
            // not ours, or not from where the probe went: not taken for an answer
            _ => return false,
        }
        if code < 200 {
            return true;
        }
        let Some(p) = probes.remove(call_id.as_ref()) else {
            return false;
        };
        drop(probes);
        let alive = self.probing.alive(code);
        self.probe_result(&self.sets(), &p.dst, alive);
        true
    }

    fn probe_result(&self, sets: &[Set], d: &Arc<Destination>, alive: bool) {
        let Some(set) = sets
            .iter()
            .find(|s| s.dsts.iter().any(|x| Arc::ptr_eq(x, d)))
            .map(|s| s.id)
        else {
            return;
        };
        let state = d.state.load(Ordering::Relaxed);
        let probing = state & PROBING;
        if state & DISABLED != 0 {
            return;
        }
        let streak = d.streak.fetch_add(1, Ordering::Relaxed) + 1;
        match (state & INACTIVE != 0, alive) {
            (true, true) if streak >= self.probing.inactive_threshold => {
                // back: probed further only if flagged or all are
                self.set_state(set, d, 0);
            }
            (true, true) => {}
            (true, false) => d.streak.store(0, Ordering::Relaxed),
            (false, true) => {
                d.streak.store(0, Ordering::Relaxed);
                if state & TRYING != 0 {
                    self.set_state(set, d, probing);
                }
            }
            (false, false) if streak >= self.probing.threshold => {
                self.set_state(set, d, INACTIVE | PROBING);
            }
            (false, false) => {
                d.state.fetch_or(TRYING, Ordering::Relaxed);
            }
        }
    }

    /// Drop call-load entries older than a day (calls whose end was never reported).
    pub fn purge(&self) {
        crate::lock(&self.loads).retain(|_, (d, since)| {
            let keep = since.elapsed() < LOAD_MAX_AGE;
            if !keep {
                d.load.fetch_sub(1, Ordering::Relaxed);
            }
            keep
        });
    }

    /// The probe settings.
    pub fn probing(&self) -> &Probing {
        &self.probing
    }
}

/// The dispatcher as one tenant sees it: the sets it was granted; a shadow's view
/// changes no state (no marks, no call counts).
#[derive(Clone, Debug, Default)]
pub struct DsView {
    ds: Arc<Dispatcher>,
    /// `None`: every set (the router's own view, a `[plugin]` listing none).
    sets: Option<Arc<[u32]>>,
    dry: bool,
}

impl DsView {
    /// Every set of `ds`.
    pub fn new(ds: Arc<Dispatcher>) -> DsView {
        DsView {
            ds,
            sets: None,
            dry: false,
        }
    }

    /// Only `sets`.
    pub fn granted(&self, sets: &[u32]) -> DsView {
        DsView {
            sets: Some(sets.into()),
            ..self.clone()
        }
    }

    /// The same sets, changing nothing.
    pub fn dry(&self) -> DsView {
        DsView {
            dry: true,
            ..self.clone()
        }
    }

    /// The router's dispatcher.
    pub fn dispatcher(&self) -> &Arc<Dispatcher> {
        &self.ds
    }

    /// The sets granted (`None`: every one).
    pub fn granted_sets(&self) -> Option<&[u32]> {
        self.sets.as_deref()
    }

    /// True for a shadow's view: nothing may change.
    pub fn is_dry(&self) -> bool {
        self.dry
    }

    /// `set` is granted, or [`DsError::UnknownSet`].
    pub fn check(&self, set: u32) -> Result<(), DsError> {
        match &self.sets {
            Some(sets) if !sets.contains(&set) => Err(DsError::UnknownSet(set)),
            _ => Ok(()),
        }
    }
}

pub(crate) fn parse_state(state: &str) -> Result<u32, DsError> {
    let mut bits = None;
    let mut probing = 0;
    for c in state.chars() {
        match c.to_ascii_lowercase() {
            'a' => bits = Some(0),
            'i' => bits = Some(INACTIVE),
            't' => bits = Some(TRYING),
            'd' => bits = Some(DISABLED),
            'p' => probing = PROBING,
            _ => {
                return Err(DsError::Invalid(format!(
                    "state {state:?}: a, i, t or d, with p to probe"
                )));
            }
        }
    }
    match bits {
        Some(b) => Ok(b | probing),
        None if probing != 0 => Ok(INACTIVE | PROBING),
        None => Err(DsError::Invalid(format!(
            "state {state:?}: a, i, t or d, with p to probe"
        ))),
    }
}

mod route;
