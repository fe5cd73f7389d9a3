//! The router's door against password guessing and scanners: what the default
//! `kamailio.cfg` does with pike and an htable of failed logins, and fail2ban with bans,
//! built into `auth` so that every plugin gets it.
//!
//! - Failed authentications (a response that does not match, a user nobody knows, a
//!   replayed nonce) are counted per source address and per user in a sliding window.
//!   A nonce that expired or predates a restart is no failure when the response is right:
//!   phones do that all day.
//! - A source past `source_failures` is banned (its requests dropped, or answered 403);
//!   each ban lasts twice as long as its previous one, up to `ban_max`. IPv6 sources are
//!   counted by /64: one host holds a whole prefix.
//! - A user past `user_failures` (from any number of addresses) is throttled: until a
//!   window passes without failures, only addresses the user authenticated from before
//!   have their credentials checked; from anywhere else the check fails without looking
//!   at the password, so a botnet learns nothing and the real user is not locked out.
//! - Every state change is logged once, with source, user and count; never a line per
//!   guess.
//!
//! Sans-IO: time is given in seconds by the caller.

use aho_corasick::AhoCorasick;
use ipnet::IpNet;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// What a banned source's requests get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BanAction {
    /// Nothing: a scanner learns nothing, not even that the server is there.
    Drop,
    /// `403 Forbidden`.
    Forbid,
}

/// User-Agents of SIP scanners and crackers (Kamailio's default `kamailio.cfg` list, and
/// sundayddr), matched as case-insensitive substrings.
pub const DEFAULT_SCANNERS: &[&str] = &[
    "friendly",
    "scanner",
    "sipcli",
    "sipvicious",
    "VaxSIPUserAgent",
    "pplsip",
    "sundayddr",
];

/// Thresholds and ban times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardPolicy {
    /// Failures from one source in the window that ban it; 0: never.
    pub source_failures: u32,
    /// Failures against one user in the window that throttle it; 0: never.
    pub user_failures: u32,
    /// The window, in seconds.
    pub window: u64,
    /// The first ban of a source, in seconds; each next one is twice as long.
    pub ban: u64,
    /// The longest ban, in seconds; a source quiet this long starts over at `ban`.
    pub ban_max: u64,
    /// What a banned source's requests get.
    pub action: BanAction,
    /// Sources never banned nor throttled (your own SBCs and carriers).
    pub exempt: Vec<IpNet>,
    /// User-Agent substrings of scanners, whose requests are dropped.
    pub scanners: Vec<String>,
}

impl Default for GuardPolicy {
    /// What stops a cracker with a word list: 10 failures a minute ban a source for a
    /// minute, then 2, 4 ... up to an hour; 20 failures a minute against one user throttle
    /// it.
    fn default() -> Self {
        GuardPolicy {
            source_failures: 10,
            user_failures: 20,
            window: 60,
            ban: 60,
            ban_max: 3600,
            action: BanAction::Drop,
            exempt: Vec::new(),
            scanners: DEFAULT_SCANNERS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl GuardPolicy {
    /// Nothing counted, banned or dropped (unit tests of other modules, benchmarks).
    pub fn off() -> Self {
        GuardPolicy {
            source_failures: 0,
            user_failures: 0,
            scanners: Vec::new(),
            ..GuardPolicy::default()
        }
    }
}

/// A scanner list that cannot be compiled.
#[derive(Debug, thiserror::Error)]
#[error("scanner User-Agent list: {0}")]
pub struct GuardError(String);

/// Sources and users remembered at most; past it, new ones are not tracked (counted in
/// `untracked`) until idle ones are forgotten.
const MAX_TRACKED: usize = 65_536;
/// Addresses remembered per user as ones it authenticated from.
const KNOWN_PER_USER: usize = 8;
/// How long a user's record (and the addresses it authenticated from) is kept idle.
const USER_MEMORY: u64 = 7 * 24 * 3600;
/// Failing addresses listed per throttled user (for the log).
const SOURCES_PER_USER: usize = 1024;

/// Counters, for `ctl` and metrics.
#[derive(Debug, Default)]
pub struct GuardStats {
    /// Failed authentications counted.
    pub auth_failures: AtomicU64,
    /// Bans imposed.
    pub bans: AtomicU64,
    /// Requests of banned sources dropped or refused.
    pub banned_requests: AtomicU64,
    /// Users throttled.
    pub throttles: AtomicU64,
    /// Checks refused without looking at the password (throttled user, unknown address).
    pub throttle_refusals: AtomicU64,
    /// Requests from scanners dropped.
    pub scanners: AtomicU64,
    /// Sources or users not tracked because the tables were full.
    pub untracked: AtomicU64,
}

/// What a request from a source gets at the door.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DoorVerdict {
    /// On to the plugin.
    Pass,
    /// Banned: dropped.
    Drop,
    /// Banned: answered 403.
    Forbid,
}

/// A change of state, logged once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A source was banned.
    Banned {
        /// The address (a /64 for IPv6).
        source: IpNet,
        /// The user of its last failure.
        user: String,
        /// Failures in the window.
        failures: u32,
        /// For how long, in seconds.
        secs: u64,
    },
    /// A ban ran out.
    BanOver {
        /// The address.
        source: IpNet,
        /// Requests dropped or refused during the ban.
        dropped: u64,
    },
    /// A user is throttled.
    Throttled {
        /// `user@realm`.
        user: String,
        /// Failures in the window.
        failures: u32,
        /// Distinct addresses they came from.
        sources: usize,
    },
    /// A user's throttle ended (a window without failures).
    ThrottleOver {
        /// `user@realm`.
        user: String,
        /// Checks refused meanwhile.
        refused: u64,
    },
}

impl Change {
    fn log(&self) {
        match self {
            Change::Banned {
                source,
                user,
                failures,
                secs,
            } => tracing::warn!(
                src = %source, user = %user, failures, ban_s = secs,
                "source banned: too many failed authentications"
            ),
            Change::BanOver { source, dropped } => {
                tracing::info!(src = %source, dropped, "ban over")
            }
            Change::Throttled {
                user,
                failures,
                sources,
            } => tracing::warn!(
                user = %user, failures, sources,
                "user throttled: failed authentications from many addresses; only addresses it authenticated from are checked"
            ),
            Change::ThrottleOver { user, refused } => {
                tracing::info!(user = %user, refused, "user throttle over")
            }
        }
    }
}

/// A ban, as `ctl` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BanInfo {
    /// The address (a /64 for IPv6).
    pub source: IpNet,
    /// Seconds left.
    pub remaining: u64,
    /// Bans of this source so far (this one included).
    pub bans: u32,
    /// The user of its last failure.
    pub user: String,
    /// Requests dropped or refused during this ban.
    pub dropped: u64,
}

/// A throttled user, as `ctl` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThrottleInfo {
    /// `user@realm`.
    pub user: String,
    /// Failures in the window.
    pub failures: u32,
    /// Distinct failing addresses.
    pub sources: usize,
    /// Checks refused.
    pub refused: u64,
}

#[derive(Debug, Default)]
struct Window(VecDeque<u64>);

impl Window {
    /// Record a failure at `now`; the failures in the last `window` seconds (at most
    /// `cap` are kept: the count only has to reach a threshold).
    fn push(&mut self, now: u64, window: u64, cap: u32) -> u32 {
        self.expire(now, window);
        self.0.push_back(now);
        while self.0.len() > cap.max(1) as usize {
            self.0.pop_front();
        }
        self.0.len() as u32
    }

    fn expire(&mut self, now: u64, window: u64) {
        while self.0.front().is_some_and(|&t| t + window <= now) {
            self.0.pop_front();
        }
    }

    fn last(&self) -> Option<u64> {
        self.0.back().copied()
    }
}

#[derive(Debug, Default)]
struct SourceRecord {
    failures: Window,
    banned_until: Option<u64>,
    bans: u32,
    last_user: String,
    dropped: u64,
    last_seen: u64,
}

#[derive(Debug, Default)]
struct UserRecord {
    /// `user@realm`, for the log and `ctl`.
    name: String,
    failures: Window,
    sources: HashSet<IpNet>,
    throttled: bool,
    refused: u64,
    known: Vec<(IpNet, u64)>,
    last_seen: u64,
}

#[derive(Debug, Default)]
struct State {
    sources: HashMap<IpNet, SourceRecord>,
    /// By a keyed hash of realm and user: no allocation per lookup, and no collisions an
    /// outsider could aim at.
    users: HashMap<u64, UserRecord>,
}

/// What this router's guard tells the routers it shares state with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shared {
    /// A source it banned, until (Unix time), for failures against `user`.
    Ban {
        /// The address (a /64 for IPv6).
        source: IpNet,
        /// When the ban ends.
        until: u64,
        /// The user of its last failure.
        user: String,
    },
    /// The operator lifted the ban of `source` (every ban when `None`).
    Lift(Option<IpNet>),
}

/// Called with what the other routers must learn (see [`Guard::share_with`]).
pub type ShareHook = Box<dyn Fn(Shared) + Send + Sync>;

/// Failed-authentication accounting, bans and throttles, shared by every tenant of a
/// router.
#[derive(Debug)]
pub struct Guard {
    policy: GuardPolicy,
    scanners: Option<AhoCorasick>,
    state: Mutex<State>,
    /// Bans not yet seen to run out: the door takes the lock only when there are some.
    active_bans: AtomicUsize,
    /// Users throttled (or whose throttle is not yet seen to end): checks look only when
    /// there are some.
    active_throttles: AtomicUsize,
    user_keys: std::hash::RandomState,
    stats: GuardStats,
    /// Tells the routers sharing state about bans made and lifted here.
    share: std::sync::OnceLock<Hooked>,
}

/// The share hook, printable.
struct Hooked(ShareHook);

impl std::fmt::Debug for Hooked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShareHook")
    }
}

impl Default for Guard {
    fn default() -> Self {
        Guard::new(GuardPolicy::default()).expect("the default scanner list compiles")
    }
}

/// The key a source is counted under: the address, or its /64 for IPv6 (an IPv4 address
/// written as IPv6 is the IPv4 one).
pub fn source_key(ip: IpAddr) -> IpNet {
    match ip {
        IpAddr::V4(v4) => IpNet::from(IpAddr::V4(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpNet::from(IpAddr::V4(v4)),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpNet::new(IpAddr::V6(Ipv6Addr::from(prefix)), 64).expect("64 is a valid length")
            }
        },
    }
}

fn user_key(realm: &str, user: &str) -> String {
    format!("{user}@{realm}")
}

impl Guard {
    /// A guard with `policy`.
    pub fn new(policy: GuardPolicy) -> Result<Self, GuardError> {
        let scanners = if policy.scanners.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .build(&policy.scanners)
                    .map_err(|e| GuardError(e.to_string()))?,
            )
        };
        Ok(Guard {
            policy,
            scanners,
            state: Mutex::new(State::default()),
            active_bans: AtomicUsize::new(0),
            active_throttles: AtomicUsize::new(0),
            user_keys: std::hash::RandomState::new(),
            stats: GuardStats::default(),
            share: std::sync::OnceLock::new(),
        })
    }

    /// Tell `hook` about every ban this guard makes and every ban the operator lifts
    /// (once; later calls are ignored): routers sharing state ban a guesser together.
    pub fn share_with(&self, hook: ShareHook) {
        let _ = self.share.set(Hooked(hook));
    }

    fn tell(&self, what: Shared) {
        if let Some(h) = self.share.get() {
            (h.0)(what);
        }
    }

    /// Ban `source` until `until` because another router did (not told back). A longer
    /// ban in force stays; an exempt source is never banned.
    pub fn impose(&self, source: IpNet, until: u64, user: &str, now: u64) {
        if until <= now || self.policy.source_failures == 0 || self.exempt(source.addr()) {
            return;
        }
        let mut state = crate::lock(&self.state);
        let Some(rec) = tracked(&mut state.sources, source, now, &self.policy, &self.stats) else {
            return;
        };
        if rec.banned_until.is_some_and(|u| u >= until) {
            return;
        }
        if rec.banned_until.is_none() {
            self.active_bans.fetch_add(1, Ordering::Relaxed);
            rec.bans += 1;
        }
        rec.banned_until = Some(until);
        rec.last_user = user.to_string();
        rec.last_seen = now;
        tracing::warn!(
            src = %source, user = %user, ban_s = until - now,
            "source banned: by another router sharing state"
        );
    }

    /// Lift a ban because the operator did on another router (not told back).
    pub fn lift(&self, source: Option<IpNet>) -> usize {
        self.clear_keys(source.map(|n| vec![n]))
    }

    /// The policy.
    pub fn policy(&self) -> &GuardPolicy {
        &self.policy
    }

    /// The counters.
    pub fn stats(&self) -> &GuardStats {
        &self.stats
    }

    fn user_id(&self, realm: &str, user: &str) -> u64 {
        use std::hash::BuildHasher;
        self.user_keys.hash_one((realm, user))
    }

    fn exempt(&self, ip: IpAddr) -> bool {
        self.policy.exempt.iter().any(|n| n.contains(&ip))
    }

    /// What a request from `ip` gets: on, or dropped/refused while its source is banned.
    pub fn admit(&self, ip: IpAddr, now: u64) -> DoorVerdict {
        if self.active_bans.load(Ordering::Relaxed) == 0 {
            return DoorVerdict::Pass;
        }
        let key = source_key(ip);
        let mut state = crate::lock(&self.state);
        let Some(rec) = state.sources.get_mut(&key) else {
            return DoorVerdict::Pass;
        };
        match rec.banned_until {
            Some(until) if now < until => {
                rec.dropped += 1;
                rec.last_seen = now;
                self.stats.banned_requests.fetch_add(1, Ordering::Relaxed);
                match self.policy.action {
                    BanAction::Drop => DoorVerdict::Drop,
                    BanAction::Forbid => DoorVerdict::Forbid,
                }
            }
            Some(_) => {
                self.end_ban(key, rec);
                DoorVerdict::Pass
            }
            None => DoorVerdict::Pass,
        }
    }

    fn end_ban(&self, source: IpNet, rec: &mut SourceRecord) -> Change {
        rec.banned_until = None;
        let change = Change::BanOver {
            source,
            dropped: std::mem::take(&mut rec.dropped),
        };
        self.active_bans.fetch_sub(1, Ordering::Relaxed);
        change.log();
        change
    }

    /// True when `user_agent` is a scanner's (counted).
    pub fn is_scanner(&self, user_agent: &[u8]) -> bool {
        let hit = self
            .scanners
            .as_ref()
            .is_some_and(|ac| ac.is_match(user_agent));
        if hit {
            self.stats.scanners.fetch_add(1, Ordering::Relaxed);
        }
        hit
    }

    /// May credentials of `user` from `ip` be checked? No while the user is throttled and
    /// `ip` is not one it authenticated from: that attempt counts as a failure, and the
    /// check fails without looking at the password.
    pub fn permits(&self, ip: IpAddr, realm: &str, user: &str, now: u64) -> bool {
        if self.policy.user_failures == 0 || self.active_throttles.load(Ordering::Relaxed) == 0 {
            return true;
        }
        let key = source_key(ip);
        let refused = {
            let mut state = crate::lock(&self.state);
            let Some(rec) = state.users.get_mut(&self.user_id(realm, user)) else {
                return true;
            };
            if !rec.throttled {
                return true;
            }
            if rec
                .failures
                .last()
                .is_none_or(|t| t + self.policy.window <= now)
            {
                rec.throttled = false;
                self.active_throttles.fetch_sub(1, Ordering::Relaxed);
                Change::ThrottleOver {
                    user: rec.name.clone(),
                    refused: std::mem::take(&mut rec.refused),
                }
                .log();
                return true;
            }
            let known = self.exempt(ip) || rec.known.iter().any(|(n, _)| *n == key);
            if !known {
                rec.refused += 1;
            }
            !known
        };
        if refused {
            self.stats.throttle_refusals.fetch_add(1, Ordering::Relaxed);
            self.failed(ip, realm, user, now);
        }
        !refused
    }

    /// A failed authentication of `user` from `ip`: the changes it made (a ban, a
    /// throttle), already logged.
    pub fn failed(&self, ip: IpAddr, realm: &str, user: &str, now: u64) -> Vec<Change> {
        self.stats.auth_failures.fetch_add(1, Ordering::Relaxed);
        let p = &self.policy;
        let key = source_key(ip);
        let mut changes = Vec::new();
        let mut state = crate::lock(&self.state);
        if p.source_failures > 0
            && !self.exempt(ip)
            && let Some(rec) = tracked(&mut state.sources, key, now, p, &self.stats)
        {
            if rec.banned_until.is_none() && rec.last_seen + p.ban_max <= now {
                // quiet for the longest ban: starts over
                rec.bans = 0;
            }
            rec.last_seen = now;
            rec.last_user = user.to_string();
            if rec.banned_until.is_some_and(|until| now >= until) {
                changes.push(self.end_ban(key, rec));
            }
            let failures = rec.failures.push(now, p.window, p.source_failures);
            if failures >= p.source_failures && rec.banned_until.is_none() {
                let secs = p
                    .ban
                    .saturating_mul(1u64 << rec.bans.min(20))
                    .min(p.ban_max.max(p.ban));
                rec.bans += 1;
                rec.banned_until = Some(now + secs);
                rec.failures = Window::default();
                self.active_bans.fetch_add(1, Ordering::Relaxed);
                self.stats.bans.fetch_add(1, Ordering::Relaxed);
                let change = Change::Banned {
                    source: key,
                    user: user.to_string(),
                    failures,
                    secs,
                };
                change.log();
                changes.push(change);
                self.tell(Shared::Ban {
                    source: key,
                    until: now + secs,
                    user: user.to_string(),
                });
            }
        }
        if p.user_failures > 0 {
            let id = self.user_id(realm, user);
            if let Some(rec) = tracked(&mut state.users, id, now, p, &self.stats) {
                if rec.name.is_empty() {
                    rec.name = user_key(realm, user);
                }
                rec.last_seen = now;
                let failures = rec.failures.push(now, p.window, p.user_failures);
                if rec.sources.len() < SOURCES_PER_USER {
                    rec.sources.insert(key);
                }
                if failures >= p.user_failures && !rec.throttled {
                    rec.throttled = true;
                    self.active_throttles.fetch_add(1, Ordering::Relaxed);
                    self.stats.throttles.fetch_add(1, Ordering::Relaxed);
                    let change = Change::Throttled {
                        user: rec.name.clone(),
                        failures,
                        sources: rec.sources.len(),
                    };
                    change.log();
                    changes.push(change);
                } else if !rec.throttled && failures <= 1 {
                    // a new window: the failing addresses of the last one are forgotten
                    rec.sources.retain(|s| *s == key);
                }
            }
        }
        changes
    }

    /// `user` authenticated from `ip`: an address it may keep using while throttled.
    pub fn succeeded(&self, ip: IpAddr, realm: &str, user: &str, now: u64) {
        if self.policy.user_failures == 0 {
            return;
        }
        let key = source_key(ip);
        let mut state = crate::lock(&self.state);
        let id = self.user_id(realm, user);
        let Some(rec) = tracked(&mut state.users, id, now, &self.policy, &self.stats) else {
            return;
        };
        if rec.name.is_empty() {
            rec.name = user_key(realm, user);
        }
        rec.last_seen = now;
        if let Some(k) = rec.known.iter_mut().find(|(n, _)| *n == key) {
            k.1 = now;
        } else {
            if rec.known.len() >= KNOWN_PER_USER {
                // the address used longest ago goes
                let oldest = (0..rec.known.len())
                    .min_by_key(|&i| rec.known[i].1)
                    .expect("not empty");
                rec.known.swap_remove(oldest);
            }
            rec.known.push((key, now));
        }
    }

    /// The bans in force.
    pub fn bans(&self, now: u64) -> Vec<BanInfo> {
        let state = crate::lock(&self.state);
        let mut v: Vec<BanInfo> = state
            .sources
            .iter()
            .filter_map(|(k, r)| {
                let until = r.banned_until.filter(|&u| u > now)?;
                Some(BanInfo {
                    source: *k,
                    remaining: until - now,
                    bans: r.bans,
                    user: r.last_user.clone(),
                    dropped: r.dropped,
                })
            })
            .collect();
        v.sort_by_key(|b| std::cmp::Reverse(b.remaining));
        v
    }

    /// The users throttled now.
    pub fn throttled(&self, now: u64) -> Vec<ThrottleInfo> {
        let state = crate::lock(&self.state);
        let mut v: Vec<ThrottleInfo> = state
            .users
            .values()
            .filter(|r| {
                r.throttled
                    && r.failures
                        .last()
                        .is_some_and(|t| t + self.policy.window > now)
            })
            .map(|r| ThrottleInfo {
                user: r.name.clone(),
                failures: r.failures.0.len() as u32,
                sources: r.sources.len(),
                refused: r.refused,
            })
            .collect();
        v.sort_by(|a, b| a.user.cmp(&b.user));
        v
    }

    /// Lift the ban of `source` (every ban when `None`) and forget its failures and past
    /// bans; with `None`, throttled users are released too. Returns how many bans and
    /// throttles were lifted.
    pub fn clear(&self, source: Option<IpAddr>) -> usize {
        let key = source.map(source_key);
        self.tell(Shared::Lift(key));
        self.clear_keys(key.map(|k| vec![k]))
    }

    fn clear_keys(&self, keys: Option<Vec<IpNet>>) -> usize {
        let mut state = crate::lock(&self.state);
        let mut lifted = 0;
        let mut forget = |rec: SourceRecord| {
            if rec.banned_until.is_some() {
                self.active_bans.fetch_sub(1, Ordering::Relaxed);
                lifted += 1;
            }
        };
        match &keys {
            Some(keys) => {
                for k in keys {
                    if let Some(rec) = state.sources.remove(k) {
                        forget(rec);
                    }
                }
            }
            None => {
                for (_, rec) in state.sources.drain() {
                    forget(rec);
                }
                self.active_throttles.store(0, Ordering::Relaxed);
                for rec in state.users.values_mut() {
                    if std::mem::take(&mut rec.throttled) {
                        lifted += 1;
                    }
                    rec.failures = Window::default();
                    rec.sources.clear();
                    rec.refused = 0;
                }
            }
        }
        if lifted > 0 {
            tracing::info!(
                src = ?keys,
                lifted,
                "bans lifted by the operator"
            );
        }
        lifted
    }
}

/// Records that forget themselves when idle.
trait Idle {
    fn idle(&self, now: u64, policy: &GuardPolicy) -> bool;
}

impl Idle for SourceRecord {
    fn idle(&self, now: u64, p: &GuardPolicy) -> bool {
        self.banned_until.is_none() && self.last_seen + p.window.max(p.ban_max) <= now
    }
}

impl Idle for UserRecord {
    fn idle(&self, now: u64, _: &GuardPolicy) -> bool {
        !self.throttled && self.last_seen + USER_MEMORY <= now
    }
}

/// The record of `key`, made when new; `None` when the table is full of live records.
fn tracked<'a, K: std::hash::Hash + Eq, R: Idle + Default>(
    table: &'a mut HashMap<K, R>,
    key: K,
    now: u64,
    policy: &GuardPolicy,
    stats: &GuardStats,
) -> Option<&'a mut R> {
    if table.len() >= MAX_TRACKED && !table.contains_key(&key) {
        table.retain(|_, r| !r.idle(now, policy));
        if table.len() >= MAX_TRACKED {
            stats.untracked.fetch_add(1, Ordering::Relaxed);
            return None;
        }
    }
    Some(table.entry(key).or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn policy() -> GuardPolicy {
        GuardPolicy {
            source_failures: 3,
            user_failures: 5,
            window: 10,
            ban: 60,
            ban_max: 200,
            ..GuardPolicy::default()
        }
    }

    #[test]
    fn bans_are_shared_with_the_other_routers() {
        let told = std::sync::Arc::new(Mutex::new(Vec::new()));
        let g = Guard::new(policy()).unwrap();
        let t = told.clone();
        g.share_with(Box::new(move |s| crate::lock(&t).push(s)));
        let a = ip("192.0.2.1");
        for _ in 0..3 {
            g.failed(a, "r", "alice", 100);
        }
        let key = source_key(a);
        let ban = Shared::Ban {
            source: key,
            until: 160,
            user: "alice".into(),
        };
        assert_eq!(crate::lock(&told).clone(), vec![ban]);
        // another router learns it: dropped there too, until then
        let other = Guard::new(policy()).unwrap();
        other.impose(key, 160, "alice", 101);
        assert_eq!(other.admit(a, 101), DoorVerdict::Drop);
        assert_eq!(other.bans(101).len(), 1);
        // a shorter ban learnt later does not shorten it
        other.impose(key, 120, "alice", 102);
        assert_eq!(other.bans(102)[0].remaining, 58);
        assert_eq!(other.admit(a, 160), DoorVerdict::Pass);
        // the operator lifts it on the first router: told, and lifted on the other
        other.impose(key, 300, "alice", 200);
        g.clear(Some(a));
        assert_eq!(crate::lock(&told).last(), Some(&Shared::Lift(Some(key))));
        assert_eq!(other.lift(Some(key)), 1);
        assert_eq!(other.admit(a, 201), DoorVerdict::Pass);
        // an exempt source is never banned, whoever says so
        let exempt = Guard::new(GuardPolicy {
            exempt: vec!["192.0.2.0/24".parse().unwrap()],
            ..policy()
        })
        .unwrap();
        exempt.impose(key, 300, "alice", 200);
        assert_eq!(exempt.admit(a, 201), DoorVerdict::Pass);
    }

    #[test]
    fn a_source_is_banned_at_the_threshold_and_each_ban_doubles() {
        let g = Guard::new(policy()).unwrap();
        let a = ip("192.0.2.1");
        assert_eq!(g.admit(a, 0), DoorVerdict::Pass);
        assert!(g.failed(a, "r", "alice", 0).is_empty());
        assert!(g.failed(a, "r", "alice", 1).is_empty());
        let c = g.failed(a, "r", "alice", 2);
        assert_eq!(
            c,
            vec![Change::Banned {
                source: source_key(a),
                user: "alice".into(),
                failures: 3,
                secs: 60
            }]
        );
        assert_eq!(g.admit(a, 3), DoorVerdict::Drop);
        assert_eq!(g.admit(a, 61), DoorVerdict::Drop);
        assert_eq!(g.admit(ip("192.0.2.2"), 3), DoorVerdict::Pass);
        assert_eq!(g.bans(3)[0].remaining, 59);
        assert_eq!(g.bans(3)[0].dropped, 2);
        // over at 62: it keeps trying and is banned for twice as long, then four times (at
        // most ban_max)
        assert_eq!(g.admit(a, 62), DoorVerdict::Pass);
        for t in 62..65 {
            g.failed(a, "r", "alice", t);
        }
        assert_eq!(g.bans(64)[0].remaining, 120);
        assert_eq!(g.admit(a, 64 + 120), DoorVerdict::Pass);
        for t in 200..203 {
            g.failed(a, "r", "alice", t);
        }
        assert_eq!(g.bans(202)[0].remaining, 200);
        assert_eq!(g.stats().bans.load(Ordering::Relaxed), 3);
        // quiet for ban_max after the ban: starts over at the first ban time
        let over = 202 + 200;
        assert_eq!(g.admit(a, over), DoorVerdict::Pass);
        for t in over + 200..over + 203 {
            g.failed(a, "r", "alice", t);
        }
        assert_eq!(g.bans(over + 202)[0].remaining, 60);
    }

    /// The attack of issue 27 (svcrack, 190 guesses a second from one address, a list of
    /// 1,000 words) against the defaults, for ten minutes: 40 guesses checked.
    #[test]
    fn the_defaults_hold_a_cracker_to_forty_guesses_in_ten_minutes() {
        let g = Guard::default();
        let a = ip("192.0.2.1");
        let mut checked = 0;
        for i in 0..190 * 600 {
            let now = i / 190;
            if g.admit(a, now) == DoorVerdict::Pass && g.permits(a, "r", "alice", now) {
                checked += 1;
                g.failed(a, "r", "alice", now);
            }
        }
        // 10 at 0 s, banned 60 s; 10 at 60 s, banned 120 s; 10 at 180 s, 240 s; 10 at 420 s,
        // banned 480 s: past the ten minutes
        assert_eq!(checked, 40);
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let g = Guard::new(policy()).unwrap();
        let a = ip("192.0.2.1");
        for t in [0, 6, 12, 18, 24, 30] {
            assert!(g.failed(a, "r", "alice", t).is_empty(), "at {t}");
        }
        assert_eq!(g.admit(a, 31), DoorVerdict::Pass);
    }

    #[test]
    fn forbid_and_exempt() {
        let g = Guard::new(GuardPolicy {
            action: BanAction::Forbid,
            exempt: vec!["10.0.0.0/8".parse().unwrap()],
            ..policy()
        })
        .unwrap();
        for t in 0..5 {
            g.failed(ip("10.1.2.3"), "r", "x", t);
            g.failed(ip("192.0.2.9"), "r", "y", t);
        }
        assert_eq!(g.admit(ip("10.1.2.3"), 5), DoorVerdict::Pass);
        assert_eq!(g.admit(ip("192.0.2.9"), 5), DoorVerdict::Forbid);
    }

    #[test]
    fn ipv6_sources_count_by_prefix() {
        let g = Guard::new(policy()).unwrap();
        g.failed(ip("2001:db8:1:2::1"), "r", "a", 0);
        g.failed(ip("2001:db8:1:2::2"), "r", "a", 0);
        g.failed(ip("2001:db8:1:2:ffff::3"), "r", "a", 0);
        assert_eq!(g.admit(ip("2001:db8:1:2::99"), 1), DoorVerdict::Drop);
        assert_eq!(g.admit(ip("2001:db8:1:3::1"), 1), DoorVerdict::Pass);
        assert_eq!(
            source_key(ip("::ffff:192.0.2.7")),
            source_key(ip("192.0.2.7"))
        );
    }

    #[test]
    fn a_user_attacked_from_many_addresses_is_throttled_but_not_locked_out() {
        let g = Guard::new(policy()).unwrap();
        let home = ip("198.51.100.7");
        g.succeeded(home, "r", "alice", 0);
        // five addresses, one guess each: no source banned, the user throttled
        let mut changes = Vec::new();
        for i in 1..=5 {
            let a = ip(&format!("192.0.2.{i}"));
            assert!(g.permits(a, "r", "alice", 1));
            changes.extend(g.failed(a, "r", "alice", 1));
        }
        assert_eq!(
            changes,
            vec![Change::Throttled {
                user: "alice@r".into(),
                failures: 5,
                sources: 5
            }]
        );
        assert!(g.bans(1).is_empty());
        // a sixth address is refused without a check; the refusal counts against it
        let sixth = ip("192.0.2.6");
        assert!(!g.permits(sixth, "r", "alice", 2));
        assert!(!g.permits(sixth, "r", "alice", 2));
        assert!(!g.permits(sixth, "r", "alice", 2));
        assert_eq!(g.admit(sixth, 3), DoorVerdict::Drop);
        assert_eq!(g.throttled(3)[0].refused, 3);
        // the user's own address goes on; other users are not affected
        assert!(g.permits(home, "r", "alice", 3));
        assert!(g.permits(sixth, "r", "bob", 3));
        // a window without failures ends it
        assert!(g.permits(ip("203.0.113.1"), "r", "alice", 2 + 10));
        assert!(g.throttled(12).is_empty());
    }

    #[test]
    fn clear_lifts_bans_and_throttles() {
        let g = Guard::new(policy()).unwrap();
        for t in 0..5 {
            g.failed(ip("192.0.2.1"), "r", "a", t);
            g.failed(ip("192.0.2.2"), "r", "a", t);
        }
        assert_eq!(g.bans(5).len(), 2);
        assert_eq!(g.clear(Some(ip("192.0.2.1"))), 1);
        assert_eq!(g.admit(ip("192.0.2.1"), 5), DoorVerdict::Pass);
        assert_eq!(g.admit(ip("192.0.2.2"), 5), DoorVerdict::Drop);
        assert_eq!(g.clear(None), 2);
        assert_eq!(g.admit(ip("192.0.2.2"), 5), DoorVerdict::Pass);
        assert!(g.throttled(5).is_empty());
        assert_eq!(g.active_bans.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn scanners_by_user_agent() {
        let g = Guard::default();
        assert!(g.is_scanner(b"friendly-scanner"));
        assert!(g.is_scanner(b"SIPVicious 0.3.4"));
        assert!(g.is_scanner(b"sipcli/v1.8"));
        assert!(!g.is_scanner(b"PJSUA v2.14 Linux"));
        assert!(!g.is_scanner(b"Zoiper rv2.10"));
        assert_eq!(g.stats().scanners.load(Ordering::Relaxed), 3);
        assert!(
            !Guard::new(GuardPolicy::off())
                .unwrap()
                .is_scanner(b"friendly-scanner")
        );
    }

    #[test]
    fn off_counts_nothing() {
        let g = Guard::new(GuardPolicy::off()).unwrap();
        for t in 0..100 {
            assert!(g.failed(ip("192.0.2.1"), "r", "a", t).is_empty());
        }
        assert_eq!(g.admit(ip("192.0.2.1"), 100), DoorVerdict::Pass);
        assert!(g.permits(ip("192.0.2.1"), "r", "a", 100));
    }
}
