//! The location service: the bindings of each address of record, with their expiry,
//! flows and q values, in tables per tenant.

use crate::branch::target::{Branch, Q};
use crate::env::addr::{ConnId, Listener};
use sipwasm_proto::uri::Uri;
use sipwasm_proto::values::parse_decimal;
use std::collections::HashMap;
use std::sync::Mutex;

/// Expiry when the REGISTER gives none (seconds).
pub const DEFAULT_EXPIRES: u64 = 3600;
/// Shortest registration accepted; shorter non-zero ones get 423 (seconds).
pub const MIN_EXPIRES: u64 = 60;
/// Longest registration granted (seconds).
pub const MAX_EXPIRES: u64 = 86_400;
/// Most contacts per address-of-record.
pub const MAX_CONTACTS: usize = 16;

/// One registered contact.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    /// The Contact URI (as registered, URI headers included).
    pub contact: String,
    /// Unix time it expires.
    pub expires_at: u64,
    /// `q` preference in thousandths (1000 when the Contact gives none).
    pub q: Q,
    /// Call-ID of the REGISTER that made it.
    pub call_id: String,
    /// CSeq of that REGISTER.
    pub cseq: u32,
    /// Where the REGISTER came from (`sip:IP:PORT;transport=T`) when requests must go
    /// there instead of the Contact: a UA behind NAT, or on a stream (its connection's
    /// source port is not the one in its Contact). Requests get it as `$du`.
    pub received: Option<String>,
    /// The Path of the REGISTER (RFC 3327): edge proxies between the UA and us, as
    /// name-addrs; requests to the contact go through them.
    pub path: Vec<String>,
    /// The local socket the REGISTER arrived on: requests to the contact leave from it.
    pub socket: Option<Listener>,
    /// The connection the REGISTER arrived on, when it came over a stream straight from
    /// the UA: requests go over it, never over a new connection.
    pub flow: Option<ConnId>,
    /// RFC 5626 `+sip.instance`, when given.
    pub instance: Option<String>,
    /// RFC 5626 `reg-id`, when given with an instance: the binding is one flow of that
    /// instance.
    pub reg_id: Option<u32>,
    /// User-Agent of the REGISTER.
    pub user_agent: Option<String>,
}

impl Binding {
    /// True when requests reach it through NAT or a connection rather than at its Contact
    /// (it has a `received` address or a flow): what NAT pings are sent to.
    pub fn is_nated(&self) -> bool {
        self.received.is_some() || self.flow.is_some()
    }

    /// The branch a request to this contact becomes: the contact as Request-URI; `$du` the
    /// first Path hop or the received address; the Path; the socket and flow.
    pub fn branch(&self) -> Branch {
        let dst_uri = match self.path.first() {
            Some(first) => {
                let b = first.as_bytes();
                sipwasm_proto::name_addr::parse_single(b, b)
                    .ok()
                    .map(|na| String::from_utf8_lossy(na.uri.as_bytes(b)).into_owned())
            }
            None => self.received.clone(),
        };
        Branch {
            uri: sipwasm_proto::uri::as_request_uri(&self.contact).to_string(),
            dst_uri,
            path: self.path.clone(),
            socket: self.socket,
            // a UA on a stream is reached over its own connection only; behind a Path
            // the edge proxy is an ordinary next hop
            conn: self.flow,
            no_connect: self.flow.is_some(),
            q: Some(self.q),
        }
    }
}

/// Every location table (`"location"` by default), shared by all workers.
#[derive(Debug, Default)]
pub struct Location {
    tables: Mutex<HashMap<String, HashMap<String, Vec<Binding>>>>,
}

/// Why `save` or `lookup` failed; mirrors the WIT `registrar.error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistrarError {
    /// `save` on something else than a REGISTER.
    #[error("not a REGISTER")]
    NotRegister,
    /// Malformed Contact, Expires or To; answered with 400.
    #[error("bad registration: {0}")]
    BadRequest(String),
    /// Expires shorter than [`MIN_EXPIRES`]; answered with 423.
    #[error("registration interval too brief")]
    IntervalTooBrief,
    /// A REGISTER older than the binding it would change; answered with 500.
    #[error("out-of-order REGISTER")]
    OutOfOrder,
    /// Too many contacts; answered with 403.
    #[error("too many contacts for one address-of-record")]
    TooManyContacts,
    /// `lookup`: nobody is registered there.
    #[error("not registered")]
    NotFound,
    /// No Request-URI (a reply).
    #[error("no request")]
    NoRequest,
}

/// The address-of-record of a SIP URI: `user@host` with the host lower-cased.
pub fn aor_of(uri: &[u8]) -> Option<String> {
    let u = Uri::parse_standalone(uri).ok()?;
    if !u.scheme.is_sip() {
        return None;
    }
    let host = String::from_utf8_lossy(u.host(uri)).to_ascii_lowercase();
    Some(match u.user(uri) {
        Some(user) => format!(
            "{}@{host}",
            String::from_utf8_lossy(&sipwasm_proto::uri::unescape(user))
        ),
        None => host,
    })
}

pub(crate) fn parse_expires(v: &[u8]) -> Option<u64> {
    let v = sipwasm_proto::grammar::trim(v);
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // RFC 4475 scalar02: absurdly large values mean "as long as possible"
    Some(parse_decimal(v).unwrap_or(u64::MAX))
}

/// True when the comma-separated option tags of header `name` hold `tag`.
pub(crate) fn has_option_tag(msg: &sipwasm_proto::SipMessage, name: &[u8], tag: &str) -> bool {
    msg.headers_named(name).any(|v| {
        v.split(|&c| c == b',')
            .any(|t| sipwasm_proto::grammar::trim(t).eq_ignore_ascii_case(tag.as_bytes()))
    })
}

impl Location {
    /// Bindings of `aor` in `table` that have not expired at `now`, best first.
    pub fn bindings(&self, table: &str, aor: &str, now: u64) -> Vec<Binding> {
        let mut tables = crate::lock(&self.tables);
        let Some(t) = tables.get_mut(table) else {
            return Vec::new();
        };
        let Some(list) = t.get_mut(aor) else {
            return Vec::new();
        };
        list.retain(|b| b.expires_at > now);
        let mut out = list.clone();
        if list.is_empty() {
            t.remove(aor);
        }
        // stable: equal q values keep the order they registered in
        out.sort_by_key(|b| std::cmp::Reverse(b.q));
        out
    }

    /// Bind `binding` to `aor` in `table` as a REGISTER would (a binding with the same
    /// contact is replaced), without one: for tools that fill the table (the offline test
    /// kit's presets). The contact count of one AOR is capped as `save` caps it.
    pub fn insert(&self, table: &str, aor: &str, binding: Binding) -> Result<(), RegistrarError> {
        self.with_aor(table, aor, |list| {
            list.retain(|b| b.contact != binding.contact);
            if list.len() >= MAX_CONTACTS {
                return Err(RegistrarError::TooManyContacts);
            }
            list.push(binding);
            Ok(())
        })
    }

    /// Every binding of every table that has not expired at `now`.
    pub fn all_bindings(&self, now: u64) -> Vec<Binding> {
        let tables = crate::lock(&self.tables);
        tables
            .values()
            .flat_map(|t| t.values())
            .flatten()
            .filter(|b| b.expires_at > now)
            .cloned()
            .collect()
    }

    /// Drop every expired binding (called periodically by the router).
    pub fn purge(&self, now: u64) -> usize {
        let mut tables = crate::lock(&self.tables);
        let mut removed = 0;
        for t in tables.values_mut() {
            t.retain(|_, list| {
                let before = list.len();
                list.retain(|b| b.expires_at > now);
                removed += before - list.len();
                !list.is_empty()
            });
        }
        removed
    }

    pub(super) fn with_aor<R>(
        &self,
        table: &str,
        aor: &str,
        f: impl FnOnce(&mut Vec<Binding>) -> R,
    ) -> R {
        let mut tables = crate::lock(&self.tables);
        let t = tables.entry(table.to_string()).or_default();
        let list = t.entry(aor.to_string()).or_default();
        let r = f(list);
        if list.is_empty() {
            t.remove(aor);
        }
        r
    }
}
