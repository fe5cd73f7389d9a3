//! The dialogs this router record-routed (a minimal Kamailio `dialog` module): for each,
//! where requests inside it may go next — towards the caller, its Contact or the proxy
//! before us; towards the callee, its Contact or the proxy after us.
//!
//! A signed Record-Route proves that this router record-routed *some* request with that
//! Call-ID and From tag, and anybody who calls through the router gets one back. What
//! keeps a party of a dialog from using it to reach any other address is this table:
//! `loose_route` relays an in-dialog request only to the next hop its dialog recorded
//! (target refreshes — a re-INVITE or UPDATE with a new Contact — move it). A dialog the
//! router does not know (it never saw its 1xx or 2xx, or it was restarted since) is
//! refused.

use crate::context::RouteContext;
use sipwasm_proto::uri::Uri;
use sipwasm_proto::{Method, SipMessage};
use std::collections::HashMap;
use std::sync::Mutex;

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

/// The comparison key of a next-hop URI: scheme, user, host and port, and the `alias` a
/// nathelper function put in (it decides where the request really goes).
pub fn hop_key(uri: &str) -> Option<String> {
    let b = uri.as_bytes();
    let u = Uri::parse_standalone(b).ok()?;
    if !u.scheme.is_sip() {
        return None;
    }
    let alias = u.param(b, b"alias").flatten().unwrap_or_default();
    Some(format!(
        "{}:{}@{}:{};{}",
        String::from_utf8_lossy(u.scheme_span.of(b)).to_ascii_lowercase(),
        String::from_utf8_lossy(u.user(b).unwrap_or_default()),
        String::from_utf8_lossy(u.host(b)).to_ascii_lowercase(),
        u.port_or_default(b),
        String::from_utf8_lossy(alias)
    ))
}

/// One side of a dialog: where its requests go.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Side {
    /// [`hop_key`] of the next hop.
    next: String,
    /// The next hop is the UA's Contact (a target refresh moves it), not a proxy of the
    /// route set (which never changes).
    is_contact: bool,
}

/// One passage of the dialog through this router: a request can spiral (come back to
/// the router after another proxy), and each passage has its own next hops.
#[derive(Clone, Debug)]
struct Leg {
    to_caller: Side,
    to_callee: Side,
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

/// Why an in-dialog request may not go where it asks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    /// The router does not know the dialog.
    #[error("no such dialog here")]
    Unknown,
    /// The request's next hop is not the dialog's.
    #[error("the request leaves its dialog (to {0})")]
    ElsewhereThan(String),
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
#[derive(Debug, Default)]
pub struct Dialogs {
    table: Mutex<HashMap<Key, Dialog>>,
    /// Set once the table was full, so the log says it once.
    full_logged: std::sync::atomic::AtomicBool,
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
    /// Next hop towards the caller: the proxy before us, else its Contact as forwarded.
    pub to_caller: (String, bool),
    /// Next hop towards the callee: the proxy after us, else its Contact as forwarded.
    pub to_callee: (String, bool),
}

impl Dialogs {
    /// Record (or update) a dialog: early for a 1xx, confirmed for a 2xx. False when the
    /// table is full.
    pub fn start(&self, d: &DialogStart, confirmed: bool, now: u64) -> bool {
        let (Some(to_caller), Some(to_callee)) = (hop_key(&d.to_caller.0), hop_key(&d.to_callee.0))
        else {
            return false;
        };
        let k = key(&d.call_id, &d.caller_tag, &d.callee_tag);
        let mut t = self.table.lock().expect("not poisoned");
        if t.len() >= MAX_DIALOGS && !t.contains_key(&k) {
            t.retain(|_, d| d.expires_at > now);
            if t.len() >= MAX_DIALOGS {
                return false;
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
        let leg = Leg {
            to_caller: Side {
                next: to_caller,
                is_contact: d.to_caller.1,
            },
            to_callee: Side {
                next: to_callee,
                is_contact: d.to_callee.1,
            },
        };
        // a passage is told by where it came from; a later provisional or the 2xx may
        // bring the callee's final Contact
        match entry
            .legs
            .iter()
            .position(|l| l.to_caller.next == leg.to_caller.next)
        {
            Some(i) => entry.legs[i].to_callee = leg.to_callee,
            None if entry.legs.len() < MAX_LEGS => entry.legs.push(leg),
            None => {}
        }
        if confirmed || !entry.confirmed {
            entry.confirmed |= confirmed;
            entry.expires_at = expires_at;
        }
        true
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

    /// Check that a request of dialog (Call-ID, From tag, To tag) may go to `next` (the
    /// next hop `loose_route` found: a Route after ours, or the Request-URI). Returns
    /// whether the sender is the caller. Refreshes the dialog's lifetime; a BYE ends it.
    pub fn check(
        &self,
        msg: &SipMessage,
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
            _ => return Err(DialogError::Unknown),
        };
        let from_caller = d.caller_tag.as_bytes() == from_tag;
        if let Some(next) = next {
            let key = hop_key(next);
            let allowed = d.legs.iter().any(|l| {
                let expected = if from_caller {
                    &l.to_callee
                } else {
                    &l.to_caller
                };
                key.as_deref() == Some(expected.next.as_str())
            });
            if !allowed {
                return Err(DialogError::ElsewhereThan(next.to_string()));
            }
        }
        d.expires_at = if msg.method() == Method::Bye {
            now + ENDED_LIFETIME
        } else if d.confirmed {
            now + CONFIRMED_LIFETIME
        } else {
            d.expires_at
        };
        Ok(from_caller)
    }

    /// A target refresh (a re-INVITE, UPDATE ... with a Contact) by the caller, or by the
    /// callee: requests towards it go to `contact` from now on, unless they go to a
    /// proxy first.
    pub fn refresh_target(&self, msg: &SipMessage, by_caller: bool, contact: &str) {
        let Some(next) = hop_key(contact) else {
            return;
        };
        let b = msg.as_bytes();
        let from_tag = msg.from().tag(b).unwrap_or_default();
        let to_tag = msg.to().tag(b).unwrap_or_default();
        let k = key(msg.call_id(), from_tag, to_tag);
        let mut t = self.table.lock().expect("not poisoned");
        if let Some(d) = t.get_mut(&k) {
            for l in &mut d.legs {
                let side = if by_caller {
                    &mut l.to_caller
                } else {
                    &mut l.to_callee
                };
                if side.is_contact {
                    side.next = next.clone();
                }
            }
        }
    }

    /// Drop the dialogs that ended or expired.
    pub fn purge(&self, now: u64) -> usize {
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

    /// True the first time the table is found full (for a single log line).
    pub fn first_full(&self) -> bool {
        !self
            .full_logged
            .swap(true, std::sync::atomic::Ordering::Relaxed)
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

    /// What a reply `reply` (with a To tag) of this route's dialog-forming request starts:
    /// the dialog's identifiers and the next hops of its two directions. `None` when the
    /// request was not record-routed by this router, or the reply has no To tag.
    pub fn dialog_start(&self, reply: &SipMessage) -> Option<DialogStart> {
        self.record_route.as_ref()?;
        let req = &self.msg;
        let rb = req.as_bytes();
        let b = reply.as_bytes();
        let callee_tag = reply.to().tag(b).filter(|t| !t.is_empty())?;
        // towards the caller: the proxy closest to us among those that record-routed it
        // before us, else its Contact as we forwarded it
        let to_caller = match req.record_routes().first() {
            Some(r) => (
                String::from_utf8_lossy(r.uri.as_bytes(rb)).into_owned(),
                false,
            ),
            None => (self.contact_out()?, true),
        };
        // towards the callee: the entry above ours in the reply's Record-Route, else its
        // Contact. The reply's list is [entries added after us..., ours (one, or two with
        // r2), the request's N entries]: ours end N from the bottom (a request that spirals
        // back to this router has our entries twice; this one's are found by position)
        let rrs = reply.record_routes();
        let n = req.record_routes().len();
        let mut ours = rrs.len().checked_sub(n + 1);
        if let Some(i) = ours
            && i > 0
            && rrs[i].uri.param(b, b"r2").is_some()
            && rrs[i - 1].uri.param(b, b"r2").is_some()
            && rrs[i - 1].uri.param(b, b"sig") == rrs[i].uri.param(b, b"sig")
        {
            ours = Some(i - 1);
        }
        let to_callee = match ours {
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
            to_caller,
            to_callee,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_keys() {
        assert_eq!(
            hop_key("sip:Bob@Example.COM;transport=tcp"),
            Some("sip:Bob@example.com:5060;".into())
        );
        assert_eq!(
            hop_key("sip:bob@10.0.0.1:5070;alias=1.2.3.4~5~1"),
            Some("sip:bob@10.0.0.1:5070;1.2.3.4~5~1".into())
        );
        assert_ne!(
            hop_key("sip:bob@10.0.0.1:5070"),
            hop_key("sip:bob@10.0.0.1:5071")
        );
        assert_eq!(hop_key("tel:+123"), None);
    }
}
