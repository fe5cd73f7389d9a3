//! The location service: the bindings of each address of record, with their expiry,
//! flows and q values, in tables per tenant: in this process's memory, or in a
//! [`LocationStore`] several routers share (Redis), cached here and invalidated by the
//! store when another router writes.

use crate::branch::target::{Branch, Q};
use crate::env::addr::{ConnId, Listener};
use serde::{Deserialize, Serialize};
use sipwasm_proto::uri::Uri;
use sipwasm_proto::values::parse_decimal;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Expiry when the REGISTER gives none (seconds).
pub const DEFAULT_EXPIRES: u64 = 3600;
/// Shortest registration accepted; shorter non-zero ones get 423 (seconds).
pub const MIN_EXPIRES: u64 = 60;
/// Longest registration granted (seconds).
pub const MAX_EXPIRES: u64 = 86_400;
/// Most contacts per address-of-record.
pub const MAX_CONTACTS: usize = 16;

/// One registered contact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    #[serde(with = "listener_text")]
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
    /// The router that saved it, when routers share the table: another router reaches
    /// the contact without the socket and flow, which are that router's.
    #[serde(default)]
    pub owner: Option<Owner>,
}

/// The router that saved a binding into a shared table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// That router process ([`LocationStore::instance`]; a restarted router is another).
    pub instance: String,
    /// Its signed Path entry for the binding's flow (a stream from the UA): the other
    /// routers send requests for the contact through it, as RFC 5626 edge proxies do.
    pub flow_path: Option<String>,
}

/// `udp:IP:PORT` for a listener in a stored binding.
mod listener_text {
    use crate::env::addr::Listener;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(l: &Option<Listener>, s: S) -> Result<S::Ok, S::Error> {
        match l {
            Some(l) => s.serialize_some(&format!("{}:{}", l.transport.as_str(), l.addr)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Listener>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        let bad = || serde::de::Error::custom(format!("bad listener {text:?}"));
        let (transport, addr) = text.split_once(':').ok_or_else(bad)?;
        Ok(Some(Listener {
            transport: transport.parse().map_err(|_| bad())?,
            addr: addr.parse().map_err(|_| bad())?,
        }))
    }
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

/// The bindings of each AOR, by table.
type Tables = HashMap<String, HashMap<String, Vec<Binding>>>;

/// Every location table (`"location"` by default), shared by all workers: the tables
/// themselves, or with a [`LocationStore`] the cache of what was read from it.
#[derive(Default)]
pub struct Location {
    tables: Arc<Mutex<Tables>>,
    shared: Option<Shared>,
    /// A shadow's view: reads the live tables, keeps no change (see [`Location::dry`]).
    dry: bool,
}

/// A location table several routers share.
struct Shared {
    store: Arc<dyn LocationStore>,
    /// Bumped by every invalidation and by every write of this router: a copy read
    /// before one is not cached (it may be older than the change).
    generation: Arc<AtomicU64>,
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Location")
            .field("shared", &self.shared.is_some())
            .finish_non_exhaustive()
    }
}

/// Why the shared store could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("location store: {0}")]
pub struct StoreError(pub String);

/// Where location tables live when several routers share them (Redis): the copy of
/// record, which [`Location`] caches. Calls block the calling worker for one round trip.
pub trait LocationStore: Send + Sync {
    /// This router process, as [`Owner::instance`] names it.
    fn instance(&self) -> &str;
    /// The bindings of `aor` in `table`, expired ones included, and the version they are
    /// at (0: nothing stored).
    fn load(&self, table: &str, aor: &str) -> Result<(Vec<Binding>, u64), StoreError>;
    /// Store `bindings` (none: delete) as the next version, if the stored one is still
    /// `version`; `Ok(false)` when another router wrote first. Tells the other routers.
    fn store(
        &self,
        table: &str,
        aor: &str,
        version: u64,
        bindings: &[Binding],
    ) -> Result<bool, StoreError>;
    /// True while cached copies can be trusted: the store's change notices are being
    /// received (after a gap, every cached copy is dropped through [`Invalidator`]).
    fn cache_valid(&self) -> bool;
    /// The (table, AOR) pairs stored (of `table`, or of every table), at most `limit`
    /// (`ctl ul.dump`).
    fn aors(&self, table: Option<&str>, limit: usize) -> Result<Vec<(String, String)>, StoreError>;
}

/// Drops cached copies of a shared location table when the store says they changed.
#[derive(Clone)]
pub struct Invalidator {
    tables: std::sync::Weak<Mutex<Tables>>,
    generation: Arc<AtomicU64>,
}

impl Invalidator {
    /// `aor` of `table` changed (`None`: anything may have).
    pub fn invalidate(&self, changed: Option<(&str, &str)>) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let Some(tables) = self.tables.upgrade() else {
            return;
        };
        let mut tables = crate::lock(&tables);
        match changed {
            Some((table, aor)) => {
                if let Some(t) = tables.get_mut(table) {
                    t.remove(aor);
                }
            }
            None => tables.clear(),
        }
    }
}

/// How many times a REGISTER is re-applied when another router wrote the same AOR.
const STORE_ATTEMPTS: usize = 5;

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
    /// The shared store cannot be reached; `save` answered 503.
    #[error("the location store cannot be reached")]
    Unavailable,
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
    /// Tables kept in `store`, shared with other routers, cached here.
    pub fn shared(store: Arc<dyn LocationStore>) -> Location {
        Location {
            tables: Arc::default(),
            shared: Some(Shared {
                store,
                generation: Arc::default(),
            }),
            dry: false,
        }
    }

    /// The same tables for a shadow plugin version: lookups see the live registrations,
    /// a `save` answers as it would but changes nothing.
    pub fn dry(&self) -> Location {
        Location {
            tables: self.tables.clone(),
            shared: self.shared.as_ref().map(|s| Shared {
                store: s.store.clone(),
                generation: s.generation.clone(),
            }),
            dry: true,
        }
    }

    /// What the store calls when cached copies must go (`None` for memory tables).
    pub fn invalidator(&self) -> Option<Invalidator> {
        let shared = self.shared.as_ref()?;
        Some(Invalidator {
            tables: Arc::downgrade(&self.tables),
            generation: shared.generation.clone(),
        })
    }

    /// This router process, when the tables are shared.
    pub fn instance(&self) -> Option<&str> {
        self.shared.as_ref().map(|s| s.store.instance())
    }

    /// Bindings of `aor` in `table` that have not expired at `now`, best first. From a
    /// shared store: the cached copy while the store's notices arrive, else a fresh one
    /// (the cached one, however old, when the store cannot be reached; nothing without).
    pub fn bindings(&self, table: &str, aor: &str, now: u64) -> Vec<Binding> {
        let mut out = match &self.shared {
            None => self.local(table, aor, now),
            Some(shared) => self.shared_bindings(shared, table, aor, now),
        };
        // stable: equal q values keep the order they registered in
        out.sort_by_key(|b| std::cmp::Reverse(b.q));
        out
    }

    fn local(&self, table: &str, aor: &str, now: u64) -> Vec<Binding> {
        let mut tables = crate::lock(&self.tables);
        let Some(t) = tables.get_mut(table) else {
            return Vec::new();
        };
        let Some(list) = t.get_mut(aor) else {
            return Vec::new();
        };
        list.retain(|b| b.expires_at > now);
        let out = list.clone();
        if list.is_empty() {
            t.remove(aor);
        }
        out
    }

    fn shared_bindings(&self, shared: &Shared, table: &str, aor: &str, now: u64) -> Vec<Binding> {
        let cached = || {
            let tables = crate::lock(&self.tables);
            tables.get(table).and_then(|t| t.get(aor)).cloned()
        };
        let me = shared.store.instance();
        let live = |list: Vec<Binding>| -> Vec<Binding> {
            list.into_iter()
                .filter(|b| b.expires_at > now)
                .map(|b| b.seen_from(me))
                .collect()
        };
        if shared.store.cache_valid()
            && let Some(list) = cached()
        {
            return live(list);
        }
        let generation = shared.generation.load(Ordering::SeqCst);
        match shared.store.load(table, aor) {
            Ok((list, _)) => {
                self.cache(shared, generation, table, aor, &list);
                live(list)
            }
            Err(_) => live(cached().unwrap_or_default()),
        }
    }

    /// Keep `list` as the cached copy, unless a change (an invalidation, a write of this
    /// router) came since `generation`: the copy may be older than it, so none is kept.
    fn cache(&self, shared: &Shared, generation: u64, table: &str, aor: &str, list: &[Binding]) {
        let mut tables = crate::lock(&self.tables);
        // kept even while the store's notices do not arrive (not served then, unless the
        // store cannot be reached): they are all dropped when the notices come back
        if shared.generation.load(Ordering::SeqCst) == generation {
            tables
                .entry(table.to_string())
                .or_default()
                .insert(aor.to_string(), list.to_vec());
        } else if let Some(t) = tables.get_mut(table) {
            t.remove(aor);
        }
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
            list.push(binding.clone());
            Ok(())
        })
    }

    /// Every binding of every table that has not expired at `now`: with a shared store,
    /// the cached ones this router saved (it pings its own NATed contacts).
    pub fn all_bindings(&self, now: u64) -> Vec<Binding> {
        let me = self.instance();
        let tables = crate::lock(&self.tables);
        tables
            .values()
            .flat_map(|t| t.values())
            .flatten()
            .filter(|b| b.expires_at > now)
            .filter(|b| me.is_none() || b.owner.as_ref().map(|o| o.instance.as_str()) == me)
            .cloned()
            .collect()
    }

    /// Every AOR with live bindings at `now` (of `table`, or every table), sorted, at
    /// most `limit` (`ctl ul.dump`): from a shared store, what it holds now.
    pub fn dump(
        &self,
        table: Option<&str>,
        now: u64,
        limit: usize,
    ) -> Result<Vec<(String, String, Vec<Binding>)>, RegistrarError> {
        let wanted = |t: &str| table.is_none_or(|w| w == t);
        let mut out = Vec::new();
        match &self.shared {
            None => {
                let tables = crate::lock(&self.tables);
                for (t, aors) in tables.iter().filter(|(t, _)| wanted(t)) {
                    for (aor, list) in aors {
                        let live: Vec<Binding> = list
                            .iter()
                            .filter(|b| b.expires_at > now)
                            .cloned()
                            .collect();
                        if !live.is_empty() {
                            out.push((t.clone(), aor.clone(), live));
                        }
                    }
                }
            }
            Some(shared) => {
                let me = shared.store.instance();
                let stored = shared.store.aors(table, limit).map_err(|e| {
                    tracing::debug!("{e}");
                    RegistrarError::Unavailable
                })?;
                for (t, aor) in stored.into_iter().filter(|(t, _)| wanted(t)) {
                    let (list, _) = shared.store.load(&t, &aor).map_err(|e| {
                        tracing::debug!("{e}");
                        RegistrarError::Unavailable
                    })?;
                    let live: Vec<Binding> = list
                        .into_iter()
                        .filter(|b| b.expires_at > now)
                        .map(|b| b.seen_from(me))
                        .collect();
                    if !live.is_empty() {
                        out.push((t, aor, live));
                    }
                }
            }
        }
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out.truncate(limit);
        Ok(out)
    }

    /// Remove every binding of `aor` in `table` (`ctl ul.rm`); how many there were.
    pub fn remove(&self, table: &str, aor: &str, now: u64) -> Result<usize, RegistrarError> {
        let mut removed = 0;
        self.with_aor(table, aor, |list| {
            removed = list.iter().filter(|b| b.expires_at > now).count();
            list.clear();
            Ok(())
        })?;
        Ok(removed)
    }

    /// Drop every expired binding (called periodically by the router; a shared store
    /// expires its own).
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

    /// Apply `change` to the bindings of `aor`: in memory at once; in a shared store to
    /// a fresh copy, stored if nobody wrote in between (else read and applied again).
    pub(super) fn with_aor(
        &self,
        table: &str,
        aor: &str,
        mut change: impl FnMut(&mut Vec<Binding>) -> Result<(), RegistrarError>,
    ) -> Result<(), RegistrarError> {
        if self.dry {
            // a shadow: the change is made to a copy, which is dropped
            let mut copy = match &self.shared {
                None => crate::lock(&self.tables)
                    .get(table)
                    .and_then(|t| t.get(aor))
                    .cloned()
                    .unwrap_or_default(),
                Some(shared) => {
                    let loaded = shared.store.load(table, aor).map_err(|e| {
                        tracing::debug!("{e}");
                        RegistrarError::Unavailable
                    })?;
                    loaded.0
                }
            };
            return change(&mut copy);
        }
        let Some(shared) = &self.shared else {
            let mut tables = crate::lock(&self.tables);
            let t = tables.entry(table.to_string()).or_default();
            let list = t.entry(aor.to_string()).or_default();
            let r = change(list);
            if list.is_empty() {
                t.remove(aor);
            }
            return r;
        };
        let unavailable = |e: StoreError| {
            tracing::debug!("{e}");
            RegistrarError::Unavailable
        };
        for _ in 0..STORE_ATTEMPTS {
            let (mut list, version) = shared.store.load(table, aor).map_err(unavailable)?;
            change(&mut list)?;
            if shared
                .store
                .store(table, aor, version, &list)
                .map_err(unavailable)?
            {
                // a lookup that read the AOR before this write must not cache that copy
                let generation = shared.generation.fetch_add(1, Ordering::SeqCst) + 1;
                self.cache(shared, generation, table, aor, &list);
                return Ok(());
            }
        }
        Err(RegistrarError::Unavailable)
    }
}

impl Binding {
    /// The binding as router `me` reaches it: another router's socket and flow are not
    /// this one's, so its flow is reached through that router's Path entry.
    fn seen_from(mut self, me: &str) -> Binding {
        let Some(owner) = &self.owner else {
            return self;
        };
        if owner.instance != me {
            self.socket = None;
            if self.flow.take().is_some()
                && let Some(p) = &owner.flow_path
            {
                self.path.insert(0, p.clone());
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    /// A store in memory that can fail, lose its notices, and count its loads.
    #[derive(Default)]
    struct FakeStore {
        me: String,
        data: Mutex<HashMap<String, (Vec<Binding>, u64)>>,
        down: AtomicBool,
        deaf: AtomicBool,
        loads: AtomicU64,
        /// Another router writes before our next store: the first attempt conflicts.
        race: AtomicBool,
    }

    impl LocationStore for FakeStore {
        fn instance(&self) -> &str {
            &self.me
        }
        fn load(&self, table: &str, aor: &str) -> Result<(Vec<Binding>, u64), StoreError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError("down".into()));
            }
            self.loads.fetch_add(1, Ordering::SeqCst);
            let data = crate::lock(&self.data);
            Ok(data
                .get(&format!("{table}/{aor}"))
                .cloned()
                .unwrap_or_default())
        }
        fn store(
            &self,
            table: &str,
            aor: &str,
            version: u64,
            bindings: &[Binding],
        ) -> Result<bool, StoreError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError("down".into()));
            }
            let mut data = crate::lock(&self.data);
            let entry = data.entry(format!("{table}/{aor}")).or_default();
            if self.race.swap(false, Ordering::SeqCst) {
                entry.1 += 1;
            }
            if entry.1 != version {
                return Ok(false);
            }
            *entry = (bindings.to_vec(), version + 1);
            Ok(true)
        }
        fn cache_valid(&self) -> bool {
            !self.deaf.load(Ordering::SeqCst)
        }
        fn aors(
            &self,
            table: Option<&str>,
            limit: usize,
        ) -> Result<Vec<(String, String)>, StoreError> {
            let data = crate::lock(&self.data);
            Ok(data
                .keys()
                .filter_map(|k| k.split_once('/'))
                .filter(|(t, _)| table.is_none_or(|w| w == *t))
                .map(|(t, a)| (t.to_string(), a.to_string()))
                .take(limit)
                .collect())
        }
    }

    fn binding(contact: &str, owner: &str, flow: Option<u64>) -> Binding {
        Binding {
            contact: contact.into(),
            expires_at: 1000,
            q: 1000,
            call_id: "c".into(),
            cseq: 1,
            received: None,
            path: Vec::new(),
            socket: Some(Listener {
                transport: sipwasm_proto::Transport::Tcp,
                addr: "127.0.0.1:5060".parse().unwrap(),
            }),
            flow,
            instance: None,
            reg_id: None,
            user_agent: None,
            owner: Some(Owner {
                instance: owner.into(),
                flow_path: flow.map(|_| format!("<sip:tok@{owner}.example;lr;sig=x>")),
            }),
        }
    }

    fn shared(me: &str) -> (Arc<FakeStore>, Location) {
        let store = Arc::new(FakeStore {
            me: me.into(),
            ..FakeStore::default()
        });
        (store.clone(), Location::shared(store))
    }

    #[test]
    fn dump_and_remove_in_memory_and_in_a_shared_store() {
        let (_, shared_loc) = shared("a");
        for loc in [Location::default(), shared_loc] {
            loc.insert("location", "bob@x", binding("sip:bob@1.2.3.4", "a", None))
                .unwrap();
            loc.insert("location", "alice@x", binding("sip:al@1.2.3.5", "a", None))
                .unwrap();
            loc.insert("other", "carol@x", binding("sip:c@1.2.3.6", "a", None))
                .unwrap();
            let all = loc.dump(None, 10, 100).unwrap();
            let names: Vec<(&str, &str)> = all
                .iter()
                .map(|(t, a, _)| (t.as_str(), a.as_str()))
                .collect();
            assert_eq!(
                names,
                [
                    ("location", "alice@x"),
                    ("location", "bob@x"),
                    ("other", "carol@x")
                ]
            );
            assert_eq!(loc.dump(Some("other"), 10, 100).unwrap().len(), 1);
            assert_eq!(loc.dump(None, 10, 1).unwrap().len(), 1, "limited");
            assert!(loc.dump(None, 1000, 100).unwrap().is_empty(), "expired");
            assert_eq!(loc.remove("location", "bob@x", 10), Ok(1));
            assert!(loc.bindings("location", "bob@x", 10).is_empty());
            assert_eq!(loc.remove("location", "bob@x", 10), Ok(0));
        }
    }

    #[test]
    fn a_cached_copy_serves_lookups_until_it_is_invalidated() {
        let (store, loc) = shared("a");
        loc.insert("location", "bob@x", binding("sip:bob@1.2.3.4", "a", None))
            .unwrap();
        let loads = store.loads.load(Ordering::SeqCst);
        assert_eq!(loc.bindings("location", "bob@x", 10).len(), 1);
        assert_eq!(loc.bindings("location", "bob@x", 10).len(), 1);
        assert_eq!(
            store.loads.load(Ordering::SeqCst),
            loads,
            "served from the cache"
        );
        // another router unregisters bob: the notice drops the copy
        crate::lock(&store.data).clear();
        loc.invalidator()
            .unwrap()
            .invalidate(Some(("location", "bob@x")));
        assert!(loc.bindings("location", "bob@x", 10).is_empty());
        assert_eq!(store.loads.load(Ordering::SeqCst), loads + 1);
    }

    #[test]
    fn without_notices_every_lookup_reads_the_store_and_a_dead_store_leaves_the_cache() {
        let (store, loc) = shared("a");
        loc.insert("location", "bob@x", binding("sip:bob@1.2.3.4", "a", None))
            .unwrap();
        store.deaf.store(true, Ordering::SeqCst);
        let loads = store.loads.load(Ordering::SeqCst);
        loc.bindings("location", "bob@x", 10);
        loc.bindings("location", "bob@x", 10);
        assert_eq!(store.loads.load(Ordering::SeqCst), loads + 2);
        // the store goes away: lookups use what was cached, REGISTERs are refused
        store.down.store(true, Ordering::SeqCst);
        assert_eq!(loc.bindings("location", "bob@x", 10).len(), 1);
        assert!(loc.bindings("location", "nobody@x", 10).is_empty());
        let refused = loc.insert("location", "carol@x", binding("sip:c@1.2.3.5", "a", None));
        assert_eq!(refused, Err(RegistrarError::Unavailable));
    }

    #[test]
    fn a_copy_read_before_a_change_is_never_cached() {
        let (store, loc) = shared("a");
        loc.insert("location", "bob@x", binding("sip:bob@1.2.3.4", "a", None))
            .unwrap();
        let shared = loc.shared.as_ref().unwrap();
        // a lookup read an older copy, then this router wrote: the lookup's copy is not
        // kept, and neither is any copy of the AOR
        let before = shared.generation.load(Ordering::SeqCst) - 1;
        loc.cache(shared, before, "location", "bob@x", &[]);
        let loads = store.loads.load(Ordering::SeqCst);
        assert_eq!(loc.bindings("location", "bob@x", 10).len(), 1);
        assert_eq!(
            store.loads.load(Ordering::SeqCst),
            loads + 1,
            "read again, not cached"
        );
    }

    #[test]
    fn a_write_that_races_another_router_is_applied_again() {
        let (store, loc) = shared("a");
        loc.insert("location", "bob@x", binding("sip:bob@1.2.3.4", "a", None))
            .unwrap();
        store.race.store(true, Ordering::SeqCst);
        loc.insert("location", "bob@x", binding("sip:bob@1.2.3.9", "a", None))
            .unwrap();
        let stored = crate::lock(&store.data)["location/bob@x"].clone();
        assert_eq!(stored.0.len(), 2);
        assert_eq!(stored.1, 3, "one version lost to the race, then stored");
    }

    #[test]
    fn another_routers_flow_is_reached_through_its_path() {
        let (_, loc) = shared("b");
        loc.insert(
            "location",
            "bob@x",
            binding("sip:bob@10.0.0.5", "a", Some(7)),
        )
        .unwrap();
        loc.insert(
            "location",
            "bob@x",
            binding("sip:bob@10.0.0.6", "b", Some(9)),
        )
        .unwrap();
        let got = loc.bindings("location", "bob@x", 10);
        let theirs = got.iter().find(|b| b.contact.ends_with(".5")).unwrap();
        assert_eq!(theirs.flow, None);
        assert_eq!(theirs.socket, None);
        assert_eq!(
            theirs.path,
            vec!["<sip:tok@a.example;lr;sig=x>".to_string()]
        );
        let branch = theirs.branch();
        assert_eq!(
            branch.dst_uri.as_deref(),
            Some("sip:tok@a.example;lr;sig=x")
        );
        assert!(!branch.no_connect);
        let mine = got.iter().find(|b| b.contact.ends_with(".6")).unwrap();
        assert_eq!(mine.flow, Some(9));
        assert!(mine.path.is_empty());
        // NAT pings: only this router's own
        assert_eq!(loc.all_bindings(10).len(), 1);
    }

    #[test]
    fn a_binding_round_trips_through_json() {
        let b = binding("sip:bob@10.0.0.5", "a", Some(7));
        let json = serde_json::to_string(&b).unwrap();
        assert!(json.contains("\"tcp:127.0.0.1:5060\""), "{json}");
        assert_eq!(serde_json::from_str::<Binding>(&json).unwrap(), b);
    }
}
