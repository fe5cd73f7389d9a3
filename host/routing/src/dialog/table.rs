//! The dialog table: each dialog's two sides, where their messages come from and where
//! requests towards them may go, with lifetimes and per-source quotas.

use sipwasm_proto::uri::Uri;
use sipwasm_proto::{Method, SipMessage};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// How long an early dialog (1xx) lives without a 2xx, seconds.
pub const EARLY_LIFETIME: u64 = 300;
/// How long a confirmed call lives after its last in-dialog request, seconds (Kamailio's
/// `default_timeout`).
pub const CONFIRMED_LIFETIME: u64 = 43_200;
/// How long a subscription lives when neither its SUBSCRIBE nor the 2xx says (`Expires`),
/// seconds; an implicit REFER subscription too.
pub const SUBSCRIPTION_LIFETIME: u64 = 3600;
/// How long a dialog stays after its BYE (or its subscription's end), for
/// retransmissions and the last answers.
pub const ENDED_LIFETIME: u64 = 32;
/// How long NOTIFYs of a relayed SUBSCRIBE or REFER may reach the subscriber before the
/// 2xx records its dialog, seconds (the transaction's lifetime, and some).
pub const PENDING_LIFETIME: u64 = 64;
/// Most dialogs of one table: past it, new dialogs are not recorded (their in-dialog
/// requests are refused) and the router says so in its log.
pub const MAX_DIALOGS: usize = 500_000;
/// Most dialogs started by one source address (not a trusted peer): one host cannot
/// fill the table for everybody.
pub const MAX_PER_SOURCE: usize = 10_000;
/// Longest Call-ID or tag of a recorded dialog, bytes: what a real UA uses is far
/// shorter, and an entry's size stays bounded.
pub const MAX_ID_LEN: usize = 256;
/// Longest next-hop key of a recorded dialog, bytes.
pub const MAX_HOP_LEN: usize = 512;

/// The comparison key of a next-hop URI: scheme, user, host and port, and the parameters
/// that change where a request to it goes: `maddr` and `transport` (RFC 3263), and the
/// `alias` a nathelper function put in.
pub fn hop_key(uri: &str) -> Option<String> {
    let b = uri.as_bytes();
    let u = Uri::parse_standalone(b).ok()?;
    if !u.scheme.is_sip() {
        return None;
    }
    let param = |name: &[u8]| {
        String::from_utf8_lossy(u.param(b, name).flatten().unwrap_or_default()).into_owned()
    };
    let key = format!(
        "{}:{}@{}:{};alias={};maddr={};transport={}",
        String::from_utf8_lossy(u.scheme_span.of(b)).to_ascii_lowercase(),
        String::from_utf8_lossy(u.user(b).unwrap_or_default()),
        String::from_utf8_lossy(u.host(b)).to_ascii_lowercase(),
        u.port_or_default(b),
        param(b"alias"),
        param(b"maddr").to_ascii_lowercase(),
        param(b"transport").to_ascii_lowercase(),
    );
    (key.len() <= MAX_HOP_LEN).then_some(key)
}

/// The host of a SIP URI when it is an IP address.
fn host_ip(uri: &str) -> Option<IpAddr> {
    let b = uri.as_bytes();
    let u = Uri::parse_standalone(b).ok()?;
    sipwasm_proto::reply::parse_host_ip(u.host(b))
}

/// The `Expires` of `msg`, seconds (a huge one: as long as possible).
pub(super) fn expires_of(msg: &SipMessage) -> Option<u64> {
    msg.header_of(sipwasm_proto::HeaderName::Expires)
        .and_then(crate::registrar::location::parse_expires)
}

/// One side of a dialog at one passage.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Party {
    /// Where its dialog-forming message (the caller's request, the callee's reply) came
    /// from: the UA itself, or the proxy next to us on its side.
    source: IpAddr,
    /// The message came from a trusted peer: `next` is where requests towards it go.
    trusted: bool,
    /// [`hop_key`] of the next hop towards it that it brought: the proxy next to us on
    /// its side, else its Contact.
    next: Option<String>,
    /// `next` is its Contact (a target refresh moves it), not a proxy of the route set.
    is_contact: bool,
    /// Behind a trusted peer, the host of its Contact when that is an IP address: the UA
    /// sends its in-dialog requests itself.
    contact_ip: Option<IpAddr>,
}

impl Party {
    fn new(p: &PartyStart) -> Result<Party, StartError> {
        let next = hop_key(&p.next);
        if p.trusted && next.is_none() {
            return Err(StartError::Unusable(p.next.clone()));
        }
        Ok(Party {
            source: p.source,
            trusted: p.trusted,
            next,
            is_contact: p.is_contact,
            contact_ip: (p.trusted && p.is_contact)
                .then(|| host_ip(&p.next))
                .flatten(),
        })
    }

    /// True when a request from `ip` may be this party's.
    fn sends_from(&self, ip: IpAddr) -> bool {
        self.source == ip || self.contact_ip == Some(ip)
    }

    /// May a request with next hop `next` (`None`: a flow) go towards this party? Then:
    /// where it may be sent (`None`: where `next` says). `key` caches the [`hop_key`] of
    /// `next`, made only when a trusted party needs it (the usual party needs none).
    fn admits(
        &self,
        next: Option<&str>,
        key: &std::cell::OnceCell<Option<String>>,
    ) -> Option<Option<IpAddr>> {
        if !self.trusted {
            return Some(Some(self.source));
        }
        match next {
            None => Some(None),
            Some(n) => {
                let k = key.get_or_init(|| hop_key(n));
                (k.is_some() && *k == self.next).then_some(None)
            }
        }
    }

    /// The party's Contact is now `contact` (a target refresh its peer accepted).
    fn move_to(&mut self, contact: &str) {
        if let (true, true, Some(next)) = (self.trusted, self.is_contact, hop_key(contact)) {
            self.next = Some(next);
            self.contact_ip = host_ip(contact);
        }
    }
}

/// One passage of the dialog through this router: a request can spiral (come back to
/// the router after another proxy), and each passage has its own sides.
#[derive(Clone, Debug)]
struct Leg {
    /// Where the caller's request of this passage came from, and the next hop it brought
    /// first: tells this passage from the others.
    origin: (IpAddr, Option<String>),
    caller: Party,
    callee: Party,
}

/// Most passages of one dialog through the router.
const MAX_LEGS: usize = 4;

#[derive(Clone, Debug)]
struct Dialog {
    caller_tag: String,
    legs: Vec<Leg>,
    confirmed: bool,
    /// Formed by a SUBSCRIBE or REFER: ends with its subscription.
    subscription: bool,
    /// How long it lives after a request once confirmed, seconds.
    lifetime: u64,
    expires_at: u64,
    /// The source that started it, counted against [`MAX_PER_SOURCE`] (not a trusted
    /// peer) until it ends.
    creator: Option<IpAddr>,
    /// It ended (a BYE, its subscription's end): kept a while for late requests, never
    /// made to live longer again (it no longer counts against its source).
    ended: bool,
}

/// Why an in-dialog request may not go where it asks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    /// The router does not know the dialog.
    #[error("no such dialog here")]
    Unknown,
    /// The request does not come from where the side it claims to be sends from.
    #[error("the request does not come from a party of its dialog ({0})")]
    NotFromParty(IpAddr),
    /// The request's next hop is not the dialog's.
    #[error("the request leaves its dialog (to {0})")]
    ElsewhereThan(String),
}

/// Why a dialog was not recorded (its in-dialog requests will be refused).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// The table holds as many live dialogs as it may ([`MAX_DIALOGS`]).
    #[error("the dialog table is full ({0} dialogs)")]
    Full(usize),
    /// Its source started [`MAX_PER_SOURCE`] live dialogs already.
    #[error("{0} started {1} live dialogs already")]
    SourceQuota(IpAddr, usize),
    /// A Call-ID or tag longer than [`MAX_ID_LEN`].
    #[error("a Call-ID or tag longer than {MAX_ID_LEN} bytes")]
    TooLong,
    /// A trusted peer's next hop that is no SIP URI, or longer than [`MAX_HOP_LEN`].
    #[error("next hop {0:?} is no SIP URI of at most {MAX_HOP_LEN} bytes")]
    Unusable(String),
}

/// What `loose_route` learns from the dialog of an in-dialog request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checked {
    /// The caller sent it.
    pub by_caller: bool,
    /// The only address it may be sent to: where the other side's messages came from.
    /// `None` when that side came through a trusted peer, whose next hop the request's
    /// was compared with.
    pub reach: Option<IpAddr>,
}

/// Dialog key: Call-ID and the two tags, smaller first.
type Key = (String, String, String);

fn key(call_id: &[u8], a: &[u8], b: &[u8]) -> Key {
    let (a, b) = (
        String::from_utf8_lossy(a).into_owned(),
        String::from_utf8_lossy(b).into_owned(),
    );
    let (x, y) = if a <= b { (a, b) } else { (b, a) };
    (String::from_utf8_lossy(call_id).into_owned(), x, y)
}

/// Live entries per source address.
#[derive(Debug, Default)]
struct Quota(HashMap<IpAddr, usize>);

impl Quota {
    fn count(&self, ip: IpAddr) -> usize {
        self.0.get(&ip).copied().unwrap_or(0)
    }

    fn add(&mut self, ip: Option<IpAddr>) {
        if let Some(ip) = ip {
            *self.0.entry(ip).or_default() += 1;
        }
    }

    fn remove(&mut self, ip: Option<IpAddr>) {
        if let Some(ip) = ip
            && let Some(n) = self.0.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                self.0.remove(&ip);
            }
        }
    }
}

/// What a [`Counted`] table holds: entries that expire, each started by a source.
trait Expiring {
    fn expires_at(&self) -> u64;
    /// The source it counts against (none for a trusted peer).
    fn creator(&self) -> Option<IpAddr>;
}

impl Expiring for Dialog {
    fn expires_at(&self) -> u64 {
        self.expires_at
    }
    fn creator(&self) -> Option<IpAddr> {
        self.creator
    }
}

/// A subscription on its way: its subscriber, whom its NOTIFYs may reach.
#[derive(Clone, Debug)]
struct Pending {
    subscriber: Party,
    expires_at: u64,
    creator: Option<IpAddr>,
}

impl Expiring for Pending {
    fn expires_at(&self) -> u64 {
        self.expires_at
    }
    fn creator(&self) -> Option<IpAddr> {
        self.creator
    }
}

/// Entries, and how many each source started.
#[derive(Debug)]
struct Counted<K, V> {
    entries: HashMap<K, V>,
    per_source: Quota,
}

impl<K, V> Default for Counted<K, V> {
    fn default() -> Self {
        Counted {
            entries: HashMap::new(),
            per_source: Quota::default(),
        }
    }
}

impl<K: std::hash::Hash + Eq, V: Expiring> Counted<K, V> {
    /// Drop what ended or expired by `now`.
    fn sweep(&mut self, now: u64) {
        let per_source = &mut self.per_source;
        self.entries.retain(|_, v| {
            let keep = v.expires_at() > now;
            if !keep {
                per_source.remove(v.creator());
            }
            keep
        });
    }

    /// Make room for a new entry `k` started by `creator`: at most `capacity` entries,
    /// `per_source` of one source; a full table is swept first when `sweep` allows.
    fn admit(
        &mut self,
        k: &K,
        creator: Option<IpAddr>,
        (capacity, per_source): (usize, usize),
        sweep: impl FnOnce() -> bool,
        now: u64,
    ) -> Result<(), StartError> {
        if self.entries.contains_key(k) {
            return Ok(());
        }
        let over_quota = |t: &Self| creator.is_some_and(|ip| t.per_source.count(ip) >= per_source);
        if (self.entries.len() >= capacity || over_quota(self)) && sweep() {
            self.sweep(now);
        }
        if self.entries.len() >= capacity {
            return Err(StartError::Full(capacity));
        }
        if let Some(ip) = creator.filter(|_| over_quota(self)) {
            return Err(StartError::SourceQuota(ip, per_source));
        }
        self.per_source.add(creator);
        Ok(())
    }

    /// Remove `k`, giving its place back.
    fn remove(&mut self, k: &K) -> Option<V> {
        let v = self.entries.remove(k)?;
        self.per_source.remove(v.creator());
        Some(v)
    }
}

/// The dialogs of one router (or tenant), shared by its workers.
#[derive(Debug)]
pub struct Dialogs {
    /// Most dialogs (and most pending subscriptions) kept.
    capacity: usize,
    /// Most of them started by one source.
    per_source: usize,
    table: Mutex<Counted<Key, Dialog>>,
    /// RFC 6665 §4.1.2.4: a NOTIFY may come before the 2xx, and one that fails ends the
    /// subscription.
    pending: Mutex<Counted<(String, String), Pending>>,
    /// When a full table was last swept for expired dialogs (unix seconds): at most once
    /// a second, as each sweep walks the whole table.
    pub(super) last_sweep: AtomicU64,
    /// When a dialog that could not be recorded was last logged (unix seconds).
    last_logged: AtomicU64,
    /// Dialogs not recorded since start.
    not_recorded: AtomicU64,
}

impl Default for Dialogs {
    fn default() -> Self {
        Dialogs::with_capacity(MAX_DIALOGS, MAX_PER_SOURCE)
    }
}

/// One side of a dialog being recorded.
#[derive(Clone, Debug)]
pub struct PartyStart {
    /// Next hop towards it: the proxy next to us on its side, else its Contact (empty
    /// when it has none).
    pub next: String,
    /// `next` is its Contact.
    pub is_contact: bool,
    /// Where its message came from (the request's sender, the reply's sender).
    pub source: IpAddr,
    /// `source` is a trusted peer.
    pub trusted: bool,
}

/// What the proxy records when a dialog-forming request is answered.
#[derive(Clone, Debug)]
pub struct DialogStart {
    /// Call-ID.
    pub call_id: Vec<u8>,
    /// The caller's (From) tag.
    pub caller_tag: Vec<u8>,
    /// The callee's (To) tag, from the reply.
    pub callee_tag: Vec<u8>,
    /// The caller's side.
    pub caller: PartyStart,
    /// The callee's side.
    pub callee: PartyStart,
    /// Formed by a SUBSCRIBE or REFER.
    pub subscription: bool,
    /// How long it lives after a request once confirmed, seconds.
    pub lifetime: u64,
}

impl Dialogs {
    /// A table of at most `capacity` dialogs, `per_source` of them started by one
    /// source.
    pub fn with_capacity(capacity: usize, per_source: usize) -> Self {
        Dialogs {
            capacity,
            per_source,
            table: Mutex::default(),
            pending: Mutex::default(),
            last_sweep: AtomicU64::default(),
            last_logged: AtomicU64::default(),
            not_recorded: AtomicU64::default(),
        }
    }

    /// Record (or update) a dialog: early for a 1xx, confirmed for a 2xx.
    pub fn start(&self, d: &DialogStart, confirmed: bool, now: u64) -> Result<(), StartError> {
        let result = self.record(d, confirmed, now);
        if result.is_err() {
            self.not_recorded.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// Most entries of a table, and most of one source.
    fn limits(&self) -> (usize, usize) {
        (self.capacity, self.per_source)
    }

    /// True once per second: whether a full table may be swept now.
    fn may_sweep(&self, now: u64) -> bool {
        self.last_sweep.swap(now, Ordering::Relaxed) != now
    }

    fn record(&self, d: &DialogStart, confirmed: bool, now: u64) -> Result<(), StartError> {
        if [&d.call_id, &d.caller_tag, &d.callee_tag]
            .iter()
            .any(|s| s.len() > MAX_ID_LEN)
        {
            return Err(StartError::TooLong);
        }
        let caller = Party::new(&d.caller)?;
        let callee = Party::new(&d.callee)?;
        let creator = (!caller.trusted).then_some(caller.source);
        let k = key(&d.call_id, &d.caller_tag, &d.callee_tag);
        let mut t = crate::lock(&self.table);
        t.admit(&k, creator, self.limits(), || self.may_sweep(now), now)?;
        let early_until = now + EARLY_LIFETIME;
        let entry = t.entries.entry(k).or_insert_with(|| Dialog {
            caller_tag: String::from_utf8_lossy(&d.caller_tag).into_owned(),
            legs: Vec::with_capacity(1),
            confirmed: false,
            subscription: d.subscription,
            lifetime: d.lifetime,
            expires_at: early_until,
            creator,
            ended: false,
        });
        // a passage is told by where it came from; a later provisional or the 2xx may
        // bring the callee's final Contact
        let origin = (caller.source, caller.next.clone());
        match entry.legs.iter().position(|l| l.origin == origin) {
            Some(i) => entry.legs[i].callee = callee,
            None if entry.legs.len() < MAX_LEGS => entry.legs.push(Leg {
                origin,
                caller,
                callee,
            }),
            None => {}
        }
        if entry.ended {
            // a late 2xx or provisional of a dialog that ended does not revive it
        } else if confirmed {
            entry.confirmed = true;
            entry.lifetime = d.lifetime;
            entry.expires_at = now + d.lifetime;
        } else if !entry.confirmed {
            entry.expires_at = early_until;
        }
        Ok(())
    }

    /// True when dialog (Call-ID, tags) is known and confirmed.
    pub fn is_confirmed(&self, call_id: &[u8], a: &[u8], b: &[u8]) -> bool {
        let k = key(call_id, a, b);
        let t = crate::lock(&self.table);
        t.entries.get(&k).is_some_and(|d| d.confirmed)
    }

    /// A SUBSCRIBE or REFER (Call-ID, the subscriber's tag) was relayed: until its 2xx
    /// records the dialog, NOTIFYs of it may go to `subscriber` (and nowhere else).
    pub fn expect_notify(
        &self,
        call_id: &[u8],
        subscriber_tag: &[u8],
        subscriber: &PartyStart,
        now: u64,
    ) -> Result<(), StartError> {
        if call_id.len() > MAX_ID_LEN || subscriber_tag.len() > MAX_ID_LEN {
            return Err(StartError::TooLong);
        }
        let subscriber = Party::new(subscriber)?;
        let creator = (!subscriber.trusted).then_some(subscriber.source);
        let k = (
            String::from_utf8_lossy(call_id).into_owned(),
            String::from_utf8_lossy(subscriber_tag).into_owned(),
        );
        let mut p = crate::lock(&self.pending);
        // a repeated SUBSCRIBE (the retry after a challenge) replaces its entry
        p.remove(&k);
        // entries live a minute: sweeping a full table costs what filling it did
        p.admit(&k, creator, self.limits(), || true, now)?;
        p.entries.insert(
            k,
            Pending {
                subscriber,
                expires_at: now + PENDING_LIFETIME,
                creator,
            },
        );
        Ok(())
    }

    /// A NOTIFY of a subscription whose dialog is not recorded yet, towards `next`: where
    /// it may go, when it goes to the subscriber of a pending SUBSCRIBE or REFER.
    fn notify_before_2xx(&self, msg: &SipMessage, next: Option<&str>, now: u64) -> Option<Checked> {
        let b = msg.as_bytes();
        let k = (
            String::from_utf8_lossy(msg.call_id()).into_owned(),
            String::from_utf8_lossy(msg.to().tag(b).unwrap_or_default()).into_owned(),
        );
        let p = crate::lock(&self.pending);
        let s = p.entries.get(&k).filter(|s| s.expires_at > now)?;
        let reach = s.subscriber.admits(next, &std::cell::OnceCell::new())?;
        Some(Checked {
            by_caller: false,
            reach,
        })
    }

    /// True at most once a minute: whether a dialog that was not recorded gets a log line.
    pub fn log_now(&self, now: u64) -> bool {
        let last = self.last_logged.load(Ordering::Relaxed);
        (last == 0 || now >= last + 60)
            && self
                .last_logged
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Dialogs that could not be recorded since start.
    pub fn not_recorded(&self) -> u64 {
        self.not_recorded.load(Ordering::Relaxed)
    }

    /// A dialog-forming request was refused by the callee (`callee_tag`'s branch): its
    /// early dialog ends.
    pub fn fail(&self, call_id: &[u8], caller_tag: &[u8], callee_tag: &[u8]) {
        let k = key(call_id, caller_tag, callee_tag);
        let mut t = crate::lock(&self.table);
        if t.entries.get(&k).is_some_and(|d| !d.confirmed) {
            t.remove(&k);
        }
    }

    /// Check a request of dialog (Call-ID, From tag, To tag), received from `source`,
    /// whose next hop `loose_route` found is `next` (a Route after ours, or the
    /// Request-URI; `None`: a flow, whose signed token fixes the target): the side it
    /// claims to come from (its From tag) must send from `source`, and it may go to the
    /// other side only (see the module's text). Refreshes the dialog's lifetime; a BYE,
    /// or the end of its subscription, ends it.
    pub fn check(
        &self,
        msg: &SipMessage,
        source: IpAddr,
        next: Option<&str>,
        now: u64,
    ) -> Result<Checked, DialogError> {
        let b = msg.as_bytes();
        let from_tag = msg.from().tag(b).unwrap_or_default();
        let to_tag = msg.to().tag(b).unwrap_or_default();
        let k = key(msg.call_id(), from_tag, to_tag);
        let mut t = crate::lock(&self.table);
        let Counted {
            entries,
            per_source,
        } = &mut *t;
        let d = match entries.get_mut(&k) {
            Some(d) if d.expires_at > now => d,
            _ => {
                drop(t);
                if msg.method() == Method::Notify
                    && let Some(c) = self.notify_before_2xx(msg, next, now)
                {
                    return Ok(c);
                }
                return Err(DialogError::Unknown);
            }
        };
        let by_caller = d.caller_tag.as_bytes() == from_tag;
        let next_key = std::cell::OnceCell::new();
        let mut sender_known = false;
        let mut reach = None;
        for l in &d.legs {
            let (sender, peer) = if by_caller {
                (&l.caller, &l.callee)
            } else {
                (&l.callee, &l.caller)
            };
            if !sender.sends_from(source) {
                continue;
            }
            sender_known = true;
            if let Some(r) = peer.admits(next, &next_key) {
                reach = Some(r);
                break;
            }
        }
        let Some(reach) = reach else {
            return Err(match next {
                Some(next) if sender_known => DialogError::ElsewhereThan(next.to_string()),
                _ => DialogError::NotFromParty(source),
            });
        };
        let ends = match msg.method() {
            Method::Bye => true,
            Method::Subscribe => d.subscription && expires_of(msg) == Some(0),
            Method::Notify => {
                d.subscription
                    && msg.header(b"Subscription-State").is_some_and(|s| {
                        s.len() >= 10 && s[..10].eq_ignore_ascii_case(b"terminated")
                    })
            }
            _ => false,
        };
        if ends {
            d.expires_at = d.expires_at.min(now + ENDED_LIFETIME);
            // kept a while for late requests, no longer counted against its source: a
            // trunk's calls end as fast as they start
            d.ended = true;
            per_source.remove(d.creator.take());
        } else if d.confirmed && !d.ended {
            if d.subscription
                && msg.method() == Method::Subscribe
                && let Some(secs) = expires_of(msg)
            {
                d.lifetime = subscription_lifetime(secs);
            }
            d.expires_at = now + d.lifetime;
        }
        Ok(Checked { by_caller, reach })
    }

    /// A target refresh inside the dialog of `req` (a re-INVITE, UPDATE ... sent by the
    /// caller when `by_caller`) was answered 2xx: requests towards its sender go to
    /// `requester` (its Contact as forwarded), requests towards the answerer to
    /// `answerer` (the 2xx's Contact) from now on — each unless a proxy of the route set
    /// is that side's next hop (RFC 3261 §12.2.1.2, §12.2.2). Only sides behind trusted
    /// peers have a next hop to move.
    pub fn refresh_targets(
        &self,
        req: &SipMessage,
        by_caller: bool,
        requester: Option<&str>,
        answerer: Option<&str>,
    ) {
        let b = req.as_bytes();
        let from_tag = req.from().tag(b).unwrap_or_default();
        let to_tag = req.to().tag(b).unwrap_or_default();
        let k = key(req.call_id(), from_tag, to_tag);
        let mut t = crate::lock(&self.table);
        let Some(d) = t.entries.get_mut(&k) else {
            return;
        };
        for l in &mut d.legs {
            let (sender, peer) = if by_caller {
                (&mut l.caller, &mut l.callee)
            } else {
                (&mut l.callee, &mut l.caller)
            };
            if let Some(c) = requester {
                sender.move_to(c);
            }
            if let Some(c) = answerer {
                peer.move_to(c);
            }
        }
    }

    /// Drop the dialogs (and pending subscriptions) that ended or expired.
    pub fn purge(&self, now: u64) -> usize {
        crate::lock(&self.pending).sweep(now);
        let mut t = crate::lock(&self.table);
        let before = t.entries.len();
        t.sweep(now);
        before - t.entries.len()
    }

    /// Number of dialogs known.
    pub fn len(&self) -> usize {
        crate::lock(&self.table).entries.len()
    }

    /// True when none is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How long a subscription of `expires` seconds lives after its last request.
pub(super) fn subscription_lifetime(expires: u64) -> u64 {
    expires.clamp(1, CONFIRMED_LIFETIME) + ENDED_LIFETIME
}

/// Methods that form a dialog, and whose answers the proxy records.
pub fn forms_dialog(m: Method) -> bool {
    matches!(m, Method::Invite | Method::Subscribe | Method::Refer)
}

/// Methods that can refresh a dialog's remote target (RFC 3261 §12.2, RFC 3311, RFC 6665).
pub fn refreshes_target(m: Method) -> bool {
    matches!(
        m,
        Method::Invite | Method::Update | Method::Subscribe | Method::Notify | Method::Refer
    )
}
