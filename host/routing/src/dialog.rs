//! The dialogs this router record-routed (a minimal Kamailio `dialog` module): for each of
//! its two sides, where the side's messages come from and where requests towards it may
//! go.
//!
//! A signed Record-Route proves that this router record-routed *some* request with that
//! Call-ID and From tag, and anybody who calls through the router gets one back. What
//! keeps a party of a dialog from using it to reach any other address is this table.
//! `loose_route` accepts an in-dialog request only from the address of the side its From
//! tag names, and the request may then be sent only to the other side:
//!
//! - A side whose dialog-forming message (the caller's request, the callee's reply) came
//!   from anyone but a trusted peer is reached only at the IP address that message came
//!   from, whatever URI the request names: `t_relay` checks the destination it resolved.
//!   Its Contact and Record-Route are what the side says, and a caller could name any
//!   host there; its packets' source is where it really is.
//! - A side that came through a trusted peer (`[router] trusted_peers`: a load balancer or
//!   SBC that may not record-route) is reached at the next hop it brought — that peer's
//!   Record-Route, else the UA's Contact, compared with the request's next hop — and its
//!   UA may send from its Contact's address too. A target refresh (a re-INVITE or UPDATE
//!   with a new Contact) moves it once answered 2xx.
//!
//! A dialog the router does not know (it never saw its 1xx or 2xx, it was restarted since,
//! or the table was full) is refused. A NOTIFY may come before the 2xx of its SUBSCRIBE
//! (RFC 6665 §4.1.2.4): it may go to the subscriber, and only there.

use crate::context::RouteContext;
use crate::services::NextHop;
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
fn expires_of(msg: &SipMessage) -> Option<u64> {
    msg.header_of(sipwasm_proto::HeaderName::Expires)
        .and_then(crate::registrar::parse_expires)
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
    /// peer).
    creator: Option<IpAddr>,
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
    last_sweep: AtomicU64,
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
        if confirmed {
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
        let d = match t.entries.get_mut(&k) {
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
        } else if d.confirmed {
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
fn subscription_lifetime(expires: u64) -> u64 {
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

impl RouteContext {
    /// Set when `loose_route` checked this in-dialog request against its dialog: true
    /// when the caller sent it.
    pub fn dialog_side(&self) -> Option<bool> {
        self.dialog.map(|c| c.by_caller)
    }

    /// True when this request may be sent to `dst`: it is no in-dialog request checked
    /// against an untrusted side, or `dst` is where that side's messages came from (the
    /// one address `t_relay`, `forward` and every branch the proxy sends accept).
    pub fn may_reach(&self, dst: std::net::SocketAddr) -> bool {
        self.dialog
            .and_then(|c| c.reach)
            .is_none_or(|ip| ip == dst.ip())
    }

    /// Keep of `hops` (a target's addresses) those [`Self::may_reach`] accepts (a
    /// dual-stack name keeps its matching address); with none of them, leave `hops` as
    /// they are and return false.
    pub fn keep_reachable(&self, hops: &mut Vec<NextHop>) -> bool {
        if !hops.iter().any(|h| self.may_reach(h.addr)) {
            return false;
        }
        hops.retain(|h| self.may_reach(h.addr));
        true
    }

    /// The Contact URI of this message as it goes out: the nathelper functions' version
    /// when they changed it, else as received.
    pub fn contact_out(&self) -> Option<String> {
        if let Some(c) = &self.contact_out {
            return Some(c.clone());
        }
        let b = self.msg.as_bytes();
        self.msg
            .contacts()
            .first()
            .map(|c| String::from_utf8_lossy(c.uri.as_bytes(b)).into_owned())
    }

    /// The caller's side of the dialog this route's request forms: where the request came
    /// from, and the next hop it brought — the proxy closest to us among those that
    /// record-routed it before us, else its Contact as we forward it.
    fn caller_side(&self) -> PartyStart {
        let req = &self.msg;
        let rb = req.as_bytes();
        let source = self.source.src.ip();
        let (next, is_contact) = match req.record_routes().first() {
            Some(r) => (
                String::from_utf8_lossy(r.uri.as_bytes(rb)).into_owned(),
                false,
            ),
            None => (self.contact_out().unwrap_or_default(), true),
        };
        PartyStart {
            next,
            is_contact,
            source,
            trusted: self.config.is_trusted_peer(source),
        }
    }

    /// This route's request was relayed: a SUBSCRIBE or REFER this router record-routed
    /// lets its NOTIFYs reach the subscriber before its 2xx records the dialog.
    pub fn expect_notifies(&self) -> Result<(), StartError> {
        let req = &self.msg;
        if !matches!(req.method(), Method::Subscribe | Method::Refer)
            || self.record_route.is_none()
            || self.has_totag()
        {
            return Ok(());
        }
        let tag = req.from().tag(req.as_bytes()).unwrap_or_default();
        self.config
            .dialogs
            .expect_notify(req.call_id(), tag, &self.caller_side(), self.now_unix)
    }

    /// What a reply `reply` (with a To tag, received from `reply_source`) of this route's
    /// dialog-forming request starts: the dialog's identifiers and its two sides. `None`
    /// when the request was not record-routed by this router, or the reply has no To tag.
    pub fn dialog_start(&self, reply: &SipMessage, reply_source: IpAddr) -> Option<DialogStart> {
        let sig = self.record_route.as_ref()?.sig.as_bytes();
        let req = &self.msg;
        let rb = req.as_bytes();
        let b = reply.as_bytes();
        let callee_tag = reply.to().tag(b).filter(|t| !t.is_empty())?;
        let is_ours = |r: &sipwasm_proto::name_addr::NameAddr, text: &[u8]| {
            r.uri.param(text, b"sig").flatten() == Some(sig)
        };
        // towards the callee: the entry above ours in the reply's Record-Route, else its
        // Contact. Ours is found by its signature, from the bottom (below it are the
        // entries of the request, which a plugin may have removed; a request that
        // spirals back to this router carries the entries of its earlier passages,
        // skipped here; a double Record-Route has two)
        let rrs = reply.record_routes();
        let earlier = req
            .record_routes()
            .iter()
            .filter(|r| is_ours(r, rb))
            .count();
        let mut ours = rrs
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, r)| is_ours(r, b))
            .nth(earlier)
            .map(|(i, _)| i);
        if let Some(i) = ours
            && i > 0
            && rrs[i].uri.param(b, b"r2").is_some()
            && rrs[i - 1].uri.param(b, b"r2").is_some()
            && is_ours(&rrs[i - 1], b)
        {
            ours = Some(i - 1);
        }
        let (next, is_contact) = match ours {
            Some(i) if i > 0 => (
                String::from_utf8_lossy(rrs[i - 1].uri.as_bytes(b)).into_owned(),
                false,
            ),
            _ => (
                reply
                    .contacts()
                    .first()
                    .map(|c| String::from_utf8_lossy(c.uri.as_bytes(b)).into_owned())
                    .unwrap_or_default(),
                true,
            ),
        };
        let subscription = req.method() != Method::Invite;
        Some(DialogStart {
            call_id: req.call_id().to_vec(),
            caller_tag: req.from().tag(rb).unwrap_or_default().to_vec(),
            callee_tag: callee_tag.to_vec(),
            caller: self.caller_side(),
            callee: PartyStart {
                next,
                is_contact,
                source: reply_source,
                trusted: self.config.is_trusted_peer(reply_source),
            },
            subscription,
            lifetime: if subscription {
                subscription_lifetime(
                    expires_of(reply)
                        .or_else(|| expires_of(req))
                        .unwrap_or(SUBSCRIPTION_LIFETIME),
                )
            } else {
                CONFIRMED_LIFETIME
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_keys() {
        assert_eq!(
            hop_key("sip:Bob@Example.COM;transport=TCP"),
            Some("sip:Bob@example.com:5060;alias=;maddr=;transport=tcp".into())
        );
        assert_eq!(
            hop_key("sip:bob@10.0.0.1:5070;alias=1.2.3.4~5~1"),
            Some("sip:bob@10.0.0.1:5070;alias=1.2.3.4~5~1;maddr=;transport=".into())
        );
        assert_ne!(
            hop_key("sip:bob@10.0.0.1:5070"),
            hop_key("sip:bob@10.0.0.1:5071")
        );
        // where a request goes: maddr and transport count
        assert_ne!(
            hop_key("sip:bob@10.0.0.1:5070"),
            hop_key("sip:bob@10.0.0.1:5070;maddr=192.0.2.66")
        );
        assert_ne!(
            hop_key("sip:bob@10.0.0.1:5070"),
            hop_key("sip:bob@10.0.0.1:5070;transport=tcp")
        );
        assert_eq!(hop_key("tel:+123"), None);
        assert_eq!(hop_key(&format!("sip:{}@h", "u".repeat(600))), None);
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A side: its next hop, whether that is its Contact, its source, whether trusted.
    type Side = (&'static str, bool, &'static str, bool);

    fn start(caller: Side, callee: Side) -> DialogStart {
        let party = |(next, is_contact, source, trusted): Side| PartyStart {
            next: next.into(),
            is_contact,
            source: ip(source),
            trusted,
        };
        DialogStart {
            call_id: b"c1".to_vec(),
            caller_tag: b"a".to_vec(),
            callee_tag: b"b".to_vec(),
            caller: party(caller),
            callee: party(callee),
            subscription: false,
            lifetime: CONFIRMED_LIFETIME,
        }
    }

    /// A table holding one dialog of `caller` and `callee`, started at 100 s.
    fn table(caller: Side, callee: Side, confirmed: bool) -> Dialogs {
        let d = Dialogs::default();
        d.start(&start(caller, callee), confirmed, 100).unwrap();
        d
    }

    fn request(method: &str, from_tag: &str, to_tag: &str, extra: &str) -> SipMessage {
        SipMessage::parse(bytes::Bytes::from(format!(
            "{method} sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
From: <sip:a@example.com>;tag={from_tag}\r\nTo: <sip:b@example.com>;tag={to_tag}\r\n\
Call-ID: c1\r\nCSeq: 2 {method}\r\n{extra}Content-Length: 0\r\n\r\n"
        )))
        .unwrap()
    }

    const ALICE: &str = "sip:alice@192.0.2.1:5060";
    const BOB: &str = "sip:bob@198.51.100.2:5060";
    const VICTIM: &str = "sip:x@203.0.113.66:5060";
    const ALICE_IP: &str = "192.0.2.1";
    const BOB_IP: &str = "198.51.100.2";

    fn reach(by_caller: bool, to: &str) -> Result<Checked, DialogError> {
        Ok(Checked {
            by_caller,
            reach: Some(ip(to)),
        })
    }

    #[test]
    fn each_side_sends_from_where_it_is_and_reaches_only_the_other() {
        let d = table(
            (ALICE, true, ALICE_IP, false),
            (BOB, true, BOB_IP, false),
            true,
        );
        let by_alice = request("BYE", "a", "b", "");
        let by_bob = request("BYE", "b", "a", "");
        // whatever URI it names: only bob's address is where alice's request may go
        assert_eq!(
            d.check(&by_alice, ip(ALICE_IP), Some(VICTIM), 101),
            reach(true, BOB_IP)
        );
        assert_eq!(
            d.check(&by_bob, ip(BOB_IP), Some(ALICE), 101),
            reach(false, ALICE_IP)
        );
        // alice claiming to be bob (tags swapped) to reach "the caller", or a third host
        for (msg, from) in [(&by_bob, ALICE_IP), (&by_alice, "203.0.113.9")] {
            assert_eq!(
                d.check(msg, ip(from), Some(ALICE), 101),
                Err(DialogError::NotFromParty(ip(from)))
            );
        }
        // a flow (no next hop to compare): still only from a party, only to the other
        assert_eq!(
            d.check(&by_bob, ip(BOB_IP), None, 101),
            reach(false, ALICE_IP)
        );
        assert!(d.check(&by_bob, ip("203.0.113.9"), None, 101).is_err());
    }

    #[test]
    fn what_a_caller_names_is_not_where_it_is() {
        // review N1: the caller's Contact (or its Record-Route) is the victim
        let d = table(
            (VICTIM, true, ALICE_IP, false),
            (BOB, true, BOB_IP, false),
            false,
        );
        let swapped = request("INVITE", "b", "a", "");
        assert!(d.check(&swapped, ip(ALICE_IP), Some(VICTIM), 101).is_err());
        // bob's requests go to alice where her packets came from, not to the victim
        assert_eq!(
            d.check(&swapped, ip(BOB_IP), Some(VICTIM), 101),
            reach(false, ALICE_IP)
        );
        // and a Contact's host does not make anybody a party
        assert!(
            d.check(&swapped, ip("203.0.113.66"), Some(VICTIM), 101)
                .is_err()
        );
    }

    #[test]
    fn behind_a_trusted_peer_the_next_hop_it_brought_counts() {
        // alice's INVITE came through a load balancer at 192.0.2.200 that did not
        // record-route: alice sends her in-dialog requests herself, and is reached at her
        // Contact
        let d = table(
            (ALICE, true, "192.0.2.200", true),
            (BOB, true, BOB_IP, false),
            true,
        );
        let by_alice = request("BYE", "a", "b", "");
        for from in [ALICE_IP, "192.0.2.200"] {
            assert_eq!(
                d.check(&by_alice, ip(from), Some(BOB), 101),
                reach(true, BOB_IP)
            );
        }
        let by_bob = request("BYE", "b", "a", "");
        assert_eq!(
            d.check(&by_bob, ip(BOB_IP), Some(ALICE), 101),
            Ok(Checked {
                by_caller: false,
                reach: None
            })
        );
        assert_eq!(
            d.check(&by_bob, ip(BOB_IP), Some(VICTIM), 101),
            Err(DialogError::ElsewhereThan(VICTIM.into()))
        );
        // without the trust, alice's own address is not hers
        let d = table(
            (ALICE, true, "192.0.2.200", false),
            (BOB, true, BOB_IP, false),
            true,
        );
        assert!(d.check(&by_alice, ip(ALICE_IP), Some(BOB), 101).is_err());
    }

    #[test]
    fn target_refreshes_move_trusted_contacts_not_proxies() {
        let proxy = "sip:198.51.100.50;lr";
        let d = table(
            (ALICE, true, "192.0.2.200", true),
            (proxy, false, "198.51.100.50", true),
            true,
        );
        let reinvite = request("INVITE", "a", "b", "");
        let moved = "sip:alice@192.0.2.7:5090";
        d.refresh_targets(&reinvite, true, Some(moved), Some("sip:bob@10.1.1.1"));
        let by_bob = request("BYE", "b", "a", "");
        let bob_from = ip("198.51.100.50");
        assert!(d.check(&by_bob, bob_from, Some(ALICE), 101).is_err());
        assert!(d.check(&by_bob, bob_from, Some(moved), 101).is_ok());
        // bob is behind the proxy: its target stays the proxy
        let by_alice = request("BYE", "a", "b", "");
        assert!(
            d.check(&by_alice, ip("192.0.2.7"), Some(proxy), 101)
                .is_ok()
        );
    }

    #[test]
    fn what_is_not_recorded_and_why() {
        let d = Dialogs::default();
        let mut long = start((ALICE, true, ALICE_IP, false), (BOB, true, BOB_IP, false));
        long.call_id = vec![b'c'; MAX_ID_LEN + 1];
        assert_eq!(d.start(&long, true, 100), Err(StartError::TooLong));
        // a trusted peer's next hop must be usable; anybody else's does not matter
        let tel = start(
            ("tel:+1555", true, ALICE_IP, true),
            (BOB, true, BOB_IP, false),
        );
        assert!(matches!(
            d.start(&tel, true, 100),
            Err(StartError::Unusable(_))
        ));
        assert_eq!(d.not_recorded(), 2);
        assert!(d.is_empty());
        let tel = start(
            ("tel:+1555", true, ALICE_IP, false),
            (BOB, true, BOB_IP, false),
        );
        assert_eq!(d.start(&tel, true, 100), Ok(()));
        assert!(d.log_now(100));
        assert!(!d.log_now(130));
        assert!(d.log_now(161));
    }

    #[test]
    fn a_full_table_makes_room_from_expired_dialogs_once_a_second() {
        let d = Dialogs::with_capacity(2, 10);
        let mut s = start((ALICE, true, ALICE_IP, false), (BOB, true, BOB_IP, false));
        for tag in ["b1", "b2"] {
            s.callee_tag = tag.into();
            d.start(&s, false, 100).unwrap();
        }
        s.callee_tag = b"b3".to_vec();
        assert_eq!(d.start(&s, false, 101), Err(StartError::Full(2)));
        // an update of a known dialog is no new one
        s.callee_tag = b"b1".to_vec();
        assert_eq!(d.start(&s, true, 101), Ok(()));
        // b2 expires; the sweep of that second is done, the next second's finds it gone
        s.callee_tag = b"b3".to_vec();
        let later = 100 + EARLY_LIFETIME;
        d.last_sweep.store(later, Ordering::Relaxed);
        assert_eq!(d.start(&s, false, later), Err(StartError::Full(2)));
        assert_eq!(d.start(&s, false, later + 1), Ok(()));
        assert_eq!(d.len(), 2);
        assert_eq!(d.not_recorded(), 2);
    }

    #[test]
    fn one_source_starts_so_many_dialogs_and_no_more() {
        let d = Dialogs::with_capacity(100, 2);
        let mut s = start((ALICE, true, ALICE_IP, false), (BOB, true, BOB_IP, false));
        for tag in ["b1", "b2"] {
            s.callee_tag = tag.into();
            d.start(&s, true, 100).unwrap();
        }
        s.callee_tag = b"b3".to_vec();
        assert_eq!(
            d.start(&s, true, 100),
            Err(StartError::SourceQuota(ip(ALICE_IP), 2))
        );
        // another source may; a trusted peer is not counted
        let mut other = start(
            (ALICE, true, "192.0.2.9", false),
            (BOB, true, BOB_IP, false),
        );
        other.callee_tag = b"b3".to_vec();
        assert_eq!(d.start(&other, true, 100), Ok(()));
        let mut peer = start((ALICE, true, ALICE_IP, true), (BOB, true, BOB_IP, false));
        peer.callee_tag = b"b4".to_vec();
        assert_eq!(d.start(&peer, true, 100), Ok(()));
        // a dialog that ends gives its place back
        let bye = request("BYE", "a", "b1", "");
        d.check(&bye, ip(ALICE_IP), None, 101).unwrap();
        d.purge(101 + ENDED_LIFETIME);
        assert_eq!(d.start(&s, true, 200), Ok(()));
    }

    #[test]
    fn a_notify_may_come_before_the_2xx_of_its_subscribe() {
        // RFC 6665 §4.1.2.4: only to the subscriber, only NOTIFY, only for a while
        let d = Dialogs::default();
        let subscriber = PartyStart {
            next: ALICE.into(),
            is_contact: true,
            source: ip(ALICE_IP),
            trusted: false,
        };
        d.expect_notify(b"c1", b"a", &subscriber, 100).unwrap();
        let notify = request("NOTIFY", "b", "a", "");
        let notifier = ip(BOB_IP);
        assert_eq!(
            d.check(&notify, notifier, Some(VICTIM), 101),
            reach(false, ALICE_IP)
        );
        let bye = request("BYE", "b", "a", "");
        assert_eq!(
            d.check(&bye, notifier, Some(ALICE), 101),
            Err(DialogError::Unknown)
        );
        assert_eq!(
            d.check(&notify, notifier, Some(ALICE), 100 + PENDING_LIFETIME),
            Err(DialogError::Unknown)
        );
        d.purge(100 + PENDING_LIFETIME);
        assert_eq!(
            d.check(&notify, notifier, Some(ALICE), 101),
            Err(DialogError::Unknown),
            "purged"
        );
        // behind a trusted peer: to its next hop only
        let trusted = PartyStart {
            trusted: true,
            ..subscriber
        };
        d.expect_notify(b"c1", b"a", &trusted, 200).unwrap();
        assert!(d.check(&notify, notifier, Some(ALICE), 201).is_ok());
        assert!(d.check(&notify, notifier, Some(VICTIM), 201).is_err());
    }

    #[test]
    fn early_dialogs_end_with_a_failure_confirmed_ones_do_not() {
        let d = table(
            (ALICE, true, ALICE_IP, false),
            (BOB, true, BOB_IP, false),
            false,
        );
        d.fail(b"c1", b"a", b"b");
        assert!(d.is_empty());
        let s = start((ALICE, true, ALICE_IP, false), (BOB, true, BOB_IP, false));
        d.start(&s, true, 100).unwrap();
        assert!(d.is_confirmed(b"c1", b"b", b"a"));
        d.fail(b"c1", b"a", b"b");
        assert_eq!(d.len(), 1);
        // a BYE leaves it for its retransmissions only
        let by_alice = request("BYE", "a", "b", "");
        d.check(&by_alice, ip(ALICE_IP), Some(BOB), 200).unwrap();
        assert_eq!(d.purge(200 + ENDED_LIFETIME), 1);
    }

    #[test]
    fn subscriptions_live_as_long_as_they_say() {
        let d = Dialogs::default();
        let mut s = start((ALICE, true, ALICE_IP, false), (BOB, true, BOB_IP, false));
        s.subscription = true;
        s.lifetime = subscription_lifetime(600);
        d.start(&s, true, 100).unwrap();
        assert_eq!(d.purge(100 + 600 + ENDED_LIFETIME), 1, "expired");
        d.start(&s, true, 100).unwrap();
        // a refresh for an hour keeps it
        let refresh = request("SUBSCRIBE", "a", "b", "Expires: 3600\r\n");
        d.check(&refresh, ip(ALICE_IP), Some(BOB), 200).unwrap();
        assert_eq!(d.purge(100 + 600 + ENDED_LIFETIME), 0);
        // the notifier ends it
        let last = request(
            "NOTIFY",
            "b",
            "a",
            "Subscription-State: terminated;reason=timeout\r\n",
        );
        d.check(&last, ip(BOB_IP), Some(ALICE), 300).unwrap();
        assert_eq!(d.purge(300 + ENDED_LIFETIME), 1);
        // inside a call (REFER's NOTIFY) the call goes on
        let call = start((ALICE, true, ALICE_IP, false), (BOB, true, BOB_IP, false));
        d.start(&call, true, 100).unwrap();
        d.check(&last, ip(BOB_IP), Some(ALICE), 300).unwrap();
        assert_eq!(d.purge(300 + ENDED_LIFETIME), 0);
    }
}
