//! The dialogs this router record-routed (a minimal Kamailio `dialog` module): for each,
//! where requests inside it may go next — towards the caller, its Contact or the proxy
//! before us; towards the callee, its Contact or the proxy after us — and where each
//! side's requests come from.
//!
//! A signed Record-Route proves that this router record-routed *some* request with that
//! Call-ID and From tag, and anybody who calls through the router gets one back. What
//! keeps a party of a dialog from using it to reach any other address is this table:
//! `loose_route` relays an in-dialog request only to the next hop its dialog recorded
//! for the other side, and only when the request comes from where the side it claims to
//! be (by its From tag) sends from — so a caller cannot swap the tags and use the
//! Contact it chose as "the caller" as its own destination. A target refresh (a
//! re-INVITE or UPDATE with a new Contact) moves a side's target once the other side
//! accepted it (its 2xx). A dialog the router does not know (it never saw its 1xx or
//! 2xx, it was restarted since, or the table was full) is refused.

use crate::context::RouteContext;
use sipwasm_proto::uri::Uri;
use sipwasm_proto::{Method, SipMessage};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// How long an early dialog (1xx) lives without a 2xx, seconds.
pub const EARLY_LIFETIME: u64 = 300;
/// How long a confirmed dialog lives after its last in-dialog request, seconds (Kamailio's
/// `default_timeout`).
pub const CONFIRMED_LIFETIME: u64 = 43_200;
/// How long a dialog stays after its BYE, for retransmissions and the BYE's answer.
pub const ENDED_LIFETIME: u64 = 32;
/// Most dialogs of one table: past it, new dialogs are not recorded (their in-dialog
/// requests are refused) and the router says so in its log.
pub const MAX_DIALOGS: usize = 500_000;
/// How long NOTIFYs of a relayed SUBSCRIBE or REFER may reach the subscriber before the
/// 2xx records its dialog, seconds (the transaction's lifetime, and some).
pub const PENDING_LIFETIME: u64 = 64;
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

/// One side of a dialog at one passage: where requests towards it go, and where its own
/// requests come from.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Party {
    /// [`hop_key`] of the next hop towards it.
    next: String,
    /// The next hop is the UA's Contact (a target refresh moves it), not a proxy of the
    /// route set (which never changes).
    is_contact: bool,
    /// Where its dialog-forming message (the caller's request, the callee's reply) came
    /// from: the UA itself, or the proxy next to us on its side.
    source: IpAddr,
    /// The host of its Contact, when that is its next hop and an IP address: a UA behind
    /// a proxy that did not record-route sends its in-dialog requests itself.
    contact_ip: Option<IpAddr>,
}

impl Party {
    fn new(p: &PartyStart) -> Result<Party, StartError> {
        let next = hop_key(&p.next).ok_or_else(|| StartError::Unusable(p.next.clone()))?;
        Ok(Party {
            next,
            is_contact: p.is_contact,
            source: p.source,
            contact_ip: p.is_contact.then(|| host_ip(&p.next)).flatten(),
        })
    }

    /// True when a request from `ip` may be this party's.
    fn sends_from(&self, ip: IpAddr) -> bool {
        self.source == ip || self.contact_ip == Some(ip)
    }

    /// The party's Contact is now `contact` (a target refresh its peer accepted).
    fn move_to(&mut self, contact: &str) {
        if let (true, Some(next)) = (self.is_contact, hop_key(contact)) {
            self.next = next;
            self.contact_ip = host_ip(contact);
        }
    }
}

/// One passage of the dialog through this router: a request can spiral (come back to
/// the router after another proxy), and each passage has its own next hops.
#[derive(Clone, Debug)]
struct Leg {
    /// The caller's next hop as first recorded: tells this passage from the others.
    origin: String,
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
    expires_at: u64,
}

/// A subscription on its way: its subscriber, whom its NOTIFYs may reach.
#[derive(Clone, Debug)]
struct Pending {
    subscriber: Party,
    expires_at: u64,
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
    /// A Call-ID or tag longer than [`MAX_ID_LEN`].
    #[error("a Call-ID or tag longer than {MAX_ID_LEN} bytes")]
    TooLong,
    /// A next hop that is no SIP URI, or longer than [`MAX_HOP_LEN`].
    #[error("next hop {0:?} is no SIP URI of at most {MAX_HOP_LEN} bytes")]
    Unusable(String),
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

/// The dialogs of one router (or tenant), shared by its workers.
#[derive(Debug)]
pub struct Dialogs {
    /// Most dialogs (and most pending subscriptions) kept.
    capacity: usize,
    table: Mutex<HashMap<Key, Dialog>>,
    /// SUBSCRIBEs and REFERs relayed and not answered yet, by Call-ID and the
    /// subscriber's tag: where their NOTIFYs go (RFC 6665 §4.1.2.4: a NOTIFY may come
    /// before the 2xx, and one that fails ends the subscription).
    pending: Mutex<HashMap<(String, String), Pending>>,
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
        Dialogs::with_capacity(MAX_DIALOGS)
    }
}

/// One side of a dialog being recorded.
#[derive(Clone, Debug)]
pub struct PartyStart {
    /// Next hop towards it: the proxy next to us on its side, else its Contact.
    pub next: String,
    /// `next` is its Contact.
    pub is_contact: bool,
    /// Where its message came from (the request's sender, the reply's sender).
    pub source: IpAddr,
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
}

impl Dialogs {
    /// A table of at most `capacity` dialogs.
    pub fn with_capacity(capacity: usize) -> Self {
        Dialogs {
            capacity,
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

    fn record(&self, d: &DialogStart, confirmed: bool, now: u64) -> Result<(), StartError> {
        if [&d.call_id, &d.caller_tag, &d.callee_tag]
            .iter()
            .any(|s| s.len() > MAX_ID_LEN)
        {
            return Err(StartError::TooLong);
        }
        let caller = Party::new(&d.caller)?;
        let callee = Party::new(&d.callee)?;
        let k = key(&d.call_id, &d.caller_tag, &d.callee_tag);
        let mut t = self.table.lock().expect("not poisoned");
        if t.len() >= self.capacity && !t.contains_key(&k) {
            if self.last_sweep.swap(now, Ordering::Relaxed) != now {
                t.retain(|_, d| d.expires_at > now);
            }
            if t.len() >= self.capacity {
                return Err(StartError::Full(self.capacity));
            }
        }
        let expires_at = now
            + if confirmed {
                CONFIRMED_LIFETIME
            } else {
                EARLY_LIFETIME
            };
        let entry = t.entry(k).or_insert_with(|| Dialog {
            caller_tag: String::from_utf8_lossy(&d.caller_tag).into_owned(),
            legs: Vec::with_capacity(1),
            confirmed,
            expires_at,
        });
        // a passage is told by where it came from; a later provisional or the 2xx may
        // bring the callee's final Contact
        match entry.legs.iter().position(|l| l.origin == caller.next) {
            Some(i) => entry.legs[i].callee = callee,
            None if entry.legs.len() < MAX_LEGS => entry.legs.push(Leg {
                origin: caller.next.clone(),
                caller,
                callee,
            }),
            None => {}
        }
        if confirmed || !entry.confirmed {
            entry.confirmed |= confirmed;
            entry.expires_at = expires_at;
        }
        Ok(())
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
        let k = (
            String::from_utf8_lossy(call_id).into_owned(),
            String::from_utf8_lossy(subscriber_tag).into_owned(),
        );
        let mut p = self.pending.lock().expect("not poisoned");
        if p.len() >= self.capacity && !p.contains_key(&k) {
            p.retain(|_, s| s.expires_at > now);
            if p.len() >= self.capacity {
                return Err(StartError::Full(self.capacity));
            }
        }
        p.insert(
            k,
            Pending {
                subscriber,
                expires_at: now + PENDING_LIFETIME,
            },
        );
        Ok(())
    }

    /// A NOTIFY of a subscription whose dialog is not recorded yet: true when it goes to
    /// the subscriber of a pending SUBSCRIBE or REFER.
    fn notify_before_2xx(&self, msg: &SipMessage, next: Option<&str>, now: u64) -> bool {
        let b = msg.as_bytes();
        let k = (
            String::from_utf8_lossy(msg.call_id()).into_owned(),
            String::from_utf8_lossy(msg.to().tag(b).unwrap_or_default()).into_owned(),
        );
        let p = self.pending.lock().expect("not poisoned");
        p.get(&k).is_some_and(|s| {
            s.expires_at > now
                && next.is_none_or(|n| hop_key(n).as_deref() == Some(s.subscriber.next.as_str()))
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
        let mut t = self.table.lock().expect("not poisoned");
        if t.get(&k).is_some_and(|d| !d.confirmed) {
            t.remove(&k);
        }
    }

    /// Check that a request of dialog (Call-ID, From tag, To tag), received from
    /// `source`, may go to `next` (the next hop `loose_route` found: a Route after ours,
    /// or the Request-URI; `None`: a flow, whose signed token fixes the target). The
    /// side the request claims to come from (its From tag) must send from `source`, and
    /// `next` must be the other side's next hop at that passage. Returns whether the
    /// sender is the caller. Refreshes the dialog's lifetime; a BYE ends it.
    pub fn check(
        &self,
        msg: &SipMessage,
        source: IpAddr,
        next: Option<&str>,
        now: u64,
    ) -> Result<bool, DialogError> {
        let b = msg.as_bytes();
        let from_tag = msg.from().tag(b).unwrap_or_default();
        let to_tag = msg.to().tag(b).unwrap_or_default();
        let k = key(msg.call_id(), from_tag, to_tag);
        let mut t = self.table.lock().expect("not poisoned");
        let d = match t.get_mut(&k) {
            Some(d) if d.expires_at > now => d,
            _ => {
                drop(t);
                if msg.method() == Method::Notify && self.notify_before_2xx(msg, next, now) {
                    return Ok(false);
                }
                return Err(DialogError::Unknown);
            }
        };
        let by_caller = d.caller_tag.as_bytes() == from_tag;
        let next_key = next.map(hop_key);
        let mut sender_known = false;
        let mut allowed = false;
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
            if next_key
                .as_ref()
                .is_none_or(|k| k.as_deref() == Some(peer.next.as_str()))
            {
                allowed = true;
                break;
            }
        }
        if !allowed {
            return Err(match next {
                Some(next) if sender_known => DialogError::ElsewhereThan(next.to_string()),
                _ => DialogError::NotFromParty(source),
            });
        }
        d.expires_at = if msg.method() == Method::Bye {
            now + ENDED_LIFETIME
        } else if d.confirmed {
            now + CONFIRMED_LIFETIME
        } else {
            d.expires_at
        };
        Ok(by_caller)
    }

    /// A target refresh inside the dialog of `req` (a re-INVITE, UPDATE ... sent by the
    /// caller when `by_caller`) was answered 2xx: requests towards its sender go to
    /// `requester` (its Contact as forwarded), requests towards the answerer to
    /// `answerer` (the 2xx's Contact) from now on — each unless a proxy of the route set
    /// is that side's next hop (RFC 3261 §12.2.1.2, §12.2.2).
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
        let mut t = self.table.lock().expect("not poisoned");
        let Some(d) = t.get_mut(&k) else {
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
        self.pending
            .lock()
            .expect("not poisoned")
            .retain(|_, s| s.expires_at > now);
        let mut t = self.table.lock().expect("not poisoned");
        let before = t.len();
        t.retain(|_, d| d.expires_at > now);
        before - t.len()
    }

    /// Number of dialogs known.
    pub fn len(&self) -> usize {
        self.table.lock().expect("not poisoned").len()
    }

    /// True when none is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
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
        self.dialog_side
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

    /// The caller's side of the dialog this route's request forms: the proxy closest to
    /// us among those that record-routed it before us, else its Contact as we forwarded
    /// it. A request with a single Via comes from the UA itself, which adds no
    /// Record-Route: one it brings is ignored (a caller naming another host as "its
    /// proxy").
    fn caller_side(&self) -> Option<PartyStart> {
        let req = &self.msg;
        let rb = req.as_bytes();
        let (next, is_contact) = match req.record_routes().first() {
            Some(r) if req.vias().len() > 1 => (
                String::from_utf8_lossy(r.uri.as_bytes(rb)).into_owned(),
                false,
            ),
            _ => (self.contact_out()?, true),
        };
        Some(PartyStart {
            next,
            is_contact,
            source: self.source.src.ip(),
        })
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
        let Some(subscriber) = self.caller_side() else {
            return Ok(());
        };
        let tag = req.from().tag(req.as_bytes()).unwrap_or_default();
        self.config
            .dialogs
            .expect_notify(req.call_id(), tag, &subscriber, self.now_unix)
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
        let caller = self.caller_side()?;
        let upstream = req.record_routes();
        // towards the callee: the entry above ours in the reply's Record-Route, else its
        // Contact. Ours is found by its signature, from the bottom (below it are the
        // entries of the request, which a plugin may have removed; a request that
        // spirals back to this router carries the entries of its earlier passages,
        // skipped here; a double Record-Route has two)
        let rrs = reply.record_routes();
        let earlier = upstream.iter().filter(|r| is_ours(r, rb)).count();
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
        let callee_next = match ours {
            Some(i) if i > 0 => (
                String::from_utf8_lossy(rrs[i - 1].uri.as_bytes(b)).into_owned(),
                false,
            ),
            _ => (
                String::from_utf8_lossy(reply.contacts().first()?.uri.as_bytes(b)).into_owned(),
                true,
            ),
        };
        Some(DialogStart {
            call_id: req.call_id().to_vec(),
            caller_tag: req.from().tag(rb).unwrap_or_default().to_vec(),
            callee_tag: callee_tag.to_vec(),
            caller,
            callee: PartyStart {
                next: callee_next.0,
                is_contact: callee_next.1,
                source: reply_source,
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

    fn start(caller: (&str, bool, &str), callee: (&str, bool, &str)) -> DialogStart {
        DialogStart {
            call_id: b"c1".to_vec(),
            caller_tag: b"a".to_vec(),
            callee_tag: b"b".to_vec(),
            caller: PartyStart {
                next: caller.0.into(),
                is_contact: caller.1,
                source: ip(caller.2),
            },
            callee: PartyStart {
                next: callee.0.into(),
                is_contact: callee.1,
                source: ip(callee.2),
            },
        }
    }

    fn request(method: &str, from_tag: &str, to_tag: &str) -> SipMessage {
        SipMessage::parse(bytes::Bytes::from(format!(
            "{method} sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
From: <sip:a@example.com>;tag={from_tag}\r\nTo: <sip:b@example.com>;tag={to_tag}\r\n\
Call-ID: c1\r\nCSeq: 2 {method}\r\nContent-Length: 0\r\n\r\n"
        )))
        .unwrap()
    }

    const ALICE: &str = "sip:alice@192.0.2.1:5060";
    const BOB: &str = "sip:bob@198.51.100.2:5060";
    const VICTIM: &str = "sip:x@203.0.113.66:5060";

    #[test]
    fn each_side_sends_from_where_it_is_and_only_to_the_other() {
        let d = Dialogs::default();
        d.start(
            &start((ALICE, true, "192.0.2.1"), (BOB, true, "198.51.100.2")),
            true,
            100,
        )
        .unwrap();
        let by_alice = request("BYE", "a", "b");
        let by_bob = request("BYE", "b", "a");
        assert_eq!(
            d.check(&by_alice, ip("192.0.2.1"), Some(BOB), 101),
            Ok(true)
        );
        assert_eq!(
            d.check(&by_bob, ip("198.51.100.2"), Some(ALICE), 101),
            Ok(false)
        );
        // the other side's target, or its own
        assert_eq!(
            d.check(&by_alice, ip("192.0.2.1"), Some(ALICE), 101),
            Err(DialogError::ElsewhereThan(ALICE.into()))
        );
        // alice claiming to be bob (tags swapped) to reach "the caller"
        assert_eq!(
            d.check(&by_bob, ip("192.0.2.1"), Some(ALICE), 101),
            Err(DialogError::NotFromParty(ip("192.0.2.1")))
        );
        // a third host
        assert_eq!(
            d.check(&by_alice, ip("203.0.113.9"), Some(BOB), 101),
            Err(DialogError::NotFromParty(ip("203.0.113.9")))
        );
        // a flow (no next hop to compare): still only from a party
        assert_eq!(d.check(&by_bob, ip("198.51.100.2"), None, 101), Ok(false));
        assert!(d.check(&by_bob, ip("203.0.113.9"), None, 101).is_err());
    }

    #[test]
    fn a_caller_naming_a_victim_as_its_contact_cannot_reach_it() {
        // review N1: the caller's Contact is the victim; with the tags swapped its
        // requests would go "to the caller"
        let d = Dialogs::default();
        d.start(
            &start((VICTIM, true, "192.0.2.1"), (BOB, true, "198.51.100.2")),
            false,
            100,
        )
        .unwrap();
        let swapped = request("INVITE", "b", "a");
        assert!(
            d.check(&swapped, ip("192.0.2.1"), Some(VICTIM), 101)
                .is_err()
        );
        // (bob's requests do go to the caller's Contact: that is bob's choice)
        assert_eq!(
            d.check(&swapped, ip("198.51.100.2"), Some(VICTIM), 101),
            Ok(false)
        );
    }

    #[test]
    fn a_ua_behind_a_proxy_that_did_not_record_route_sends_from_its_contact() {
        let d = Dialogs::default();
        // alice's INVITE came through a proxy at 192.0.2.200 that did not record-route
        d.start(
            &start((ALICE, true, "192.0.2.200"), (BOB, true, "198.51.100.2")),
            true,
            100,
        )
        .unwrap();
        let by_alice = request("BYE", "a", "b");
        assert_eq!(
            d.check(&by_alice, ip("192.0.2.1"), Some(BOB), 101),
            Ok(true)
        );
        assert_eq!(
            d.check(&by_alice, ip("192.0.2.200"), Some(BOB), 101),
            Ok(true)
        );
    }

    #[test]
    fn target_refreshes_move_contacts_not_proxies() {
        let d = Dialogs::default();
        let proxy = "sip:198.51.100.50;lr";
        d.start(
            &start((ALICE, true, "192.0.2.1"), (proxy, false, "198.51.100.50")),
            true,
            100,
        )
        .unwrap();
        let reinvite = request("INVITE", "a", "b");
        let moved = "sip:alice@192.0.2.1:5090";
        d.refresh_targets(&reinvite, true, Some(moved), Some("sip:bob@10.1.1.1"));
        let by_bob = request("BYE", "b", "a");
        assert!(
            d.check(&by_bob, ip("198.51.100.50"), Some(ALICE), 101)
                .is_err()
        );
        assert_eq!(
            d.check(&by_bob, ip("198.51.100.50"), Some(moved), 101),
            Ok(false)
        );
        // bob is behind the proxy: its target stays the proxy
        let by_alice = request("BYE", "a", "b");
        assert_eq!(
            d.check(&by_alice, ip("192.0.2.1"), Some(proxy), 101),
            Ok(true)
        );
    }

    #[test]
    fn what_is_not_recorded_and_why() {
        let d = Dialogs::default();
        let mut long = start((ALICE, true, "192.0.2.1"), (BOB, true, "198.51.100.2"));
        long.call_id = vec![b'c'; MAX_ID_LEN + 1];
        assert_eq!(d.start(&long, true, 100), Err(StartError::TooLong));
        let tel = start(
            ("tel:+1555", true, "192.0.2.1"),
            (BOB, true, "198.51.100.2"),
        );
        assert!(matches!(
            d.start(&tel, true, 100),
            Err(StartError::Unusable(_))
        ));
        assert_eq!(d.not_recorded(), 2);
        assert!(d.is_empty());
        assert!(d.log_now(100));
        assert!(!d.log_now(130));
        assert!(d.log_now(161));
    }

    #[test]
    fn a_notify_may_come_before_the_2xx_of_its_subscribe() {
        // RFC 6665 §4.1.2.4: only to the subscriber, only NOTIFY, only for a while
        let d = Dialogs::default();
        let subscriber = PartyStart {
            next: ALICE.into(),
            is_contact: true,
            source: ip("192.0.2.1"),
        };
        d.expect_notify(b"c1", b"a", &subscriber, 100).unwrap();
        let notify = request("NOTIFY", "b", "a");
        let notifier = ip("198.51.100.2");
        assert_eq!(d.check(&notify, notifier, Some(ALICE), 101), Ok(false));
        assert!(d.check(&notify, notifier, Some(VICTIM), 101).is_err());
        let bye = request("BYE", "b", "a");
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
    }

    #[test]
    fn a_full_table_makes_room_from_expired_dialogs_once_a_second() {
        let d = Dialogs::with_capacity(2);
        let mut s = start((ALICE, true, "192.0.2.1"), (BOB, true, "198.51.100.2"));
        for (tag, at) in [("b1", 100), ("b2", 100)] {
            s.callee_tag = tag.into();
            d.start(&s, false, at).unwrap();
        }
        s.callee_tag = b"b3".to_vec();
        assert_eq!(d.start(&s, false, 101), Err(StartError::Full(2)));
        // an update of a known dialog is no new one
        s.callee_tag = b"b1".to_vec();
        assert_eq!(d.start(&s, true, 101), Ok(()));
        // b2 expires; the sweep of second 101 is done, the next second's finds it gone
        s.callee_tag = b"b3".to_vec();
        let later = 100 + EARLY_LIFETIME;
        d.last_sweep.store(later, Ordering::Relaxed);
        assert_eq!(d.start(&s, false, later), Err(StartError::Full(2)));
        assert_eq!(d.start(&s, false, later + 1), Ok(()));
        assert_eq!(d.len(), 2);
        assert_eq!(d.not_recorded(), 2);
    }

    #[test]
    fn early_dialogs_end_with_a_failure_confirmed_ones_do_not() {
        let d = Dialogs::default();
        let s = start((ALICE, true, "192.0.2.1"), (BOB, true, "198.51.100.2"));
        d.start(&s, false, 100).unwrap();
        d.fail(b"c1", b"a", b"b");
        assert!(d.is_empty());
        d.start(&s, true, 100).unwrap();
        d.fail(b"c1", b"a", b"b");
        assert_eq!(d.len(), 1);
        // a BYE leaves it for its retransmissions only
        let by_alice = request("BYE", "a", "b");
        d.check(&by_alice, ip("192.0.2.1"), Some(BOB), 200).unwrap();
        assert_eq!(d.purge(200 + ENDED_LIFETIME), 1);
    }
}
