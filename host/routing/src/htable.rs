//! Shared hash tables (Kamailio's htable module): named tables declared in the router
//! config, each with an `autoexpire` time, holding string or integer values that every
//! event of every worker can read and change.
//!
//! An entry expires `autoexpire` seconds after it was last set (0: never). Expired
//! entries are invisible at once and removed by [`Htables::purge`], which the router runs
//! from its timer thread. Sizes are bounded so a plugin cannot grow host memory without
//! limit: keys up to 256 bytes, values up to 8 KiB, `max_entries` per table.
//!
//! A table lives in a [`TableStore`]: this process's memory ([`MemoryTable`]), or, when
//! several routers share state, Redis (the router crate's `state` module), where `incr`
//! is atomic across routers and the expiry is kept per key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Longest key.
pub const MAX_KEY: usize = 256;
/// Longest string value.
pub const MAX_VALUE: usize = 8 * 1024;

/// A stored value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HtValue {
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
}

/// Why a table operation failed; mirrors the WIT `htable.error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HtError {
    /// No table of that name is configured.
    #[error("no htable named {0:?}")]
    UnknownTable(String),
    /// `incr` on a string value.
    #[error("the value of {0:?} is not an integer")]
    NotAnInt(String),
    /// Key or value too large.
    #[error("{0}")]
    TooLarge(String),
    /// The table holds `max_entries` entries already.
    #[error("htable {0:?} is full")]
    Full(String),
    /// The shared store (Redis) did not answer.
    #[error("htable store unavailable: {0}")]
    Unavailable(String),
}

/// How a table is declared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HtableSpec {
    /// Name used by plugins.
    pub name: String,
    /// Seconds after the last set before an entry expires; 0 for never.
    pub autoexpire: u64,
    /// Most entries.
    pub max_entries: usize,
    /// Run `event_route[htable:expired:NAME]` for each entry that expires (the router's
    /// timer sweeps such tables every second; entries in this process's memory only).
    pub expired_event: bool,
}

impl HtableSpec {
    /// When an entry set at `now` expires (Unix seconds; `u64::MAX` for never).
    pub fn expiry(&self, now: u64) -> u64 {
        if self.autoexpire == 0 {
            u64::MAX
        } else {
            now.saturating_add(self.autoexpire)
        }
    }
}

/// Where one table's entries live. The size checks are done before a call; the store
/// keeps `spec.max_entries` (expired entries make room) and the expiry of each entry.
pub trait TableStore: Send + Sync + std::fmt::Debug {
    /// The live value of `key`.
    fn get(&self, key: &str, now: u64) -> Result<Option<HtValue>, HtError>;
    /// Set `key`, live until `expires_at`.
    fn set(&self, key: &str, value: HtValue, expires_at: u64, now: u64) -> Result<(), HtError>;
    /// Remove `key`; true when it had a live value.
    fn delete(&self, key: &str, now: u64) -> Result<bool, HtError>;
    /// Add `by` to the integer at `key` (missing or expired: 0); the new value. A key it
    /// creates lives until `expires_at`; an existing one keeps its expiry. With `bounds`,
    /// a new value outside them changes nothing and is `None`.
    fn incr(
        &self,
        key: &str,
        by: i64,
        bounds: Option<(i64, i64)>,
        expires_at: u64,
        now: u64,
    ) -> Result<Option<i64>, HtError>;
    /// Drop expired entries; how many went (a shared store may do it in the background
    /// and answer 0).
    fn purge(&self, now: u64) -> usize;
    /// Remove up to `limit` expired entries and hand them over (for the expiry event). A
    /// store that expires keys by itself has none to give.
    fn take_expired(&self, now: u64, limit: usize) -> Vec<(String, HtValue)> {
        let _ = limit;
        self.purge(now);
        Vec::new()
    }
    /// Every live entry, in no order (`ctl htable.dump`).
    fn dump(&self, now: u64) -> Result<Vec<(String, HtValue)>, HtError>;
    /// Remove every entry; how many there were (`ctl htable.flush`).
    fn flush(&self) -> Result<usize, HtError>;
    /// Entries held, expired ones not yet purged included (`ctl stats`, `/metrics`).
    fn size(&self) -> Result<usize, HtError>;
    /// True when another process holds the entries (each operation may wait on it).
    fn is_shared(&self) -> bool {
        false
    }
}

/// `current + by`; an overflow is refused, as Redis' HINCRBY refuses it, not wrapped.
fn add(key: &str, current: i64, by: i64) -> Result<i64, HtError> {
    current
        .checked_add(by)
        .ok_or_else(|| HtError::TooLarge(format!("{key} + {by} overflows a 64-bit integer")))
}

#[derive(Debug)]
struct Entry {
    value: HtValue,
    /// Unix seconds; `u64::MAX` for never.
    expires_at: u64,
}

/// A table in this process's memory.
#[derive(Debug)]
pub struct MemoryTable {
    table: String,
    max_entries: usize,
    /// Expired entries wait for the expiry sweep (their event) instead of making room.
    keeps_expired: bool,
    entries: Mutex<HashMap<String, Entry>>,
}

impl MemoryTable {
    /// An empty table as `spec` declares it.
    pub fn new(spec: &HtableSpec) -> MemoryTable {
        MemoryTable {
            table: spec.name.clone(),
            max_entries: spec.max_entries,
            keeps_expired: spec.expired_event,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Room for one more entry besides `key` (expired entries are dropped to make it).
    fn has_room(&self, entries: &mut HashMap<String, Entry>, key: &str, now: u64) -> bool {
        if entries.len() < self.max_entries || entries.contains_key(key) {
            return true;
        }
        if self.keeps_expired {
            // their expiry events come first: the sweep (every second) makes the room
            return false;
        }
        entries.retain(|_, e| e.expires_at > now);
        entries.len() < self.max_entries
    }
}

impl TableStore for MemoryTable {
    fn get(&self, key: &str, now: u64) -> Result<Option<HtValue>, HtError> {
        let entries = crate::lock(&self.entries);
        Ok(entries
            .get(key)
            .filter(|e| e.expires_at > now)
            .map(|e| e.value.clone()))
    }

    fn set(&self, key: &str, value: HtValue, expires_at: u64, now: u64) -> Result<(), HtError> {
        let mut entries = crate::lock(&self.entries);
        if !self.has_room(&mut entries, key, now) {
            return Err(HtError::Full(self.table.clone()));
        }
        entries.insert(key.to_string(), Entry { value, expires_at });
        Ok(())
    }

    fn delete(&self, key: &str, now: u64) -> Result<bool, HtError> {
        let mut entries = crate::lock(&self.entries);
        Ok(entries.remove(key).is_some_and(|e| e.expires_at > now))
    }

    fn incr(
        &self,
        key: &str,
        by: i64,
        bounds: Option<(i64, i64)>,
        expires_at: u64,
        now: u64,
    ) -> Result<Option<i64>, HtError> {
        let mut entries = crate::lock(&self.entries);
        let (current, expires_at) = match entries.get(key).filter(|e| e.expires_at > now) {
            None => (0, expires_at),
            Some(Entry {
                value: HtValue::Int(i),
                expires_at,
            }) => (*i, *expires_at),
            Some(_) => return Err(HtError::NotAnInt(key.to_string())),
        };
        let new = add(key, current, by)?;
        if bounds.is_some_and(|(lo, hi)| !(lo..=hi).contains(&new)) {
            return Ok(None);
        }
        if !self.has_room(&mut entries, key, now) {
            return Err(HtError::Full(self.table.clone()));
        }
        entries.insert(
            key.to_string(),
            Entry {
                value: HtValue::Int(new),
                expires_at,
            },
        );
        Ok(Some(new))
    }

    fn purge(&self, now: u64) -> usize {
        let mut entries = crate::lock(&self.entries);
        let before = entries.len();
        entries.retain(|_, e| e.expires_at > now);
        before - entries.len()
    }

    fn take_expired(&self, now: u64, limit: usize) -> Vec<(String, HtValue)> {
        let mut entries = crate::lock(&self.entries);
        let keys: Vec<String> = entries
            .iter()
            .filter(|(_, e)| e.expires_at <= now)
            .map(|(k, _)| k.clone())
            .take(limit)
            .collect();
        keys.into_iter()
            .filter_map(|k| entries.remove(&k).map(|e| (k, e.value)))
            .collect()
    }

    fn dump(&self, now: u64) -> Result<Vec<(String, HtValue)>, HtError> {
        let entries = crate::lock(&self.entries);
        Ok(entries
            .iter()
            .filter(|(_, e)| e.expires_at > now)
            .map(|(k, e)| (k.clone(), e.value.clone()))
            .collect())
    }

    fn flush(&self) -> Result<usize, HtError> {
        let mut entries = crate::lock(&self.entries);
        let n = entries.len();
        entries.clear();
        Ok(n)
    }

    fn size(&self) -> Result<usize, HtError> {
        Ok(crate::lock(&self.entries).len())
    }
}

/// A shadow's view of a table: reads go to the live one, writes answer without writing.
#[derive(Debug)]
struct DryTable {
    live: Arc<dyn TableStore>,
}

impl TableStore for DryTable {
    fn get(&self, key: &str, now: u64) -> Result<Option<HtValue>, HtError> {
        self.live.get(key, now)
    }

    fn set(&self, _key: &str, _value: HtValue, _expires_at: u64, _now: u64) -> Result<(), HtError> {
        Ok(())
    }

    fn delete(&self, key: &str, now: u64) -> Result<bool, HtError> {
        Ok(self.live.get(key, now)?.is_some())
    }

    fn incr(
        &self,
        key: &str,
        by: i64,
        bounds: Option<(i64, i64)>,
        _expires_at: u64,
        now: u64,
    ) -> Result<Option<i64>, HtError> {
        let new = match self.live.get(key, now)? {
            None => by,
            Some(HtValue::Int(i)) => add(key, i, by)?,
            Some(HtValue::Str(_)) => return Err(HtError::NotAnInt(key.to_string())),
        };
        Ok(Some(new).filter(|n| bounds.is_none_or(|(lo, hi)| (lo..=hi).contains(n))))
    }

    fn purge(&self, _now: u64) -> usize {
        0
    }

    fn dump(&self, now: u64) -> Result<Vec<(String, HtValue)>, HtError> {
        self.live.dump(now)
    }

    fn flush(&self) -> Result<usize, HtError> {
        self.live.size()
    }

    fn size(&self) -> Result<usize, HtError> {
        self.live.size()
    }

    fn is_shared(&self) -> bool {
        self.live.is_shared()
    }
}

#[derive(Debug)]
struct Table {
    spec: HtableSpec,
    store: Arc<dyn TableStore>,
}

/// Every configured table.
#[derive(Debug, Default)]
pub struct Htables {
    tables: HashMap<String, Arc<Table>>,
}

fn check_key(key: &str) -> Result<(), HtError> {
    if key.len() > MAX_KEY {
        return Err(HtError::TooLarge(format!(
            "key of {} bytes (at most {MAX_KEY})",
            key.len()
        )));
    }
    Ok(())
}

impl Htables {
    /// Tables as declared, in this process's memory.
    pub fn new(specs: &[HtableSpec]) -> Self {
        Self::with_stores(specs, |spec| Arc::new(MemoryTable::new(spec)))
    }

    /// Tables as declared, each in the store `store` makes for it (Redis when several
    /// routers share them).
    pub fn with_stores(
        specs: &[HtableSpec],
        mut store: impl FnMut(&HtableSpec) -> Arc<dyn TableStore>,
    ) -> Self {
        Htables {
            tables: specs
                .iter()
                .map(|s| {
                    (
                        s.name.clone(),
                        Arc::new(Table {
                            spec: s.clone(),
                            store: store(s),
                        }),
                    )
                })
                .collect(),
        }
    }

    /// The same tables for a shadow plugin version: reads see the live entries, writes
    /// answer as they would and change nothing.
    pub fn dry(&self) -> Htables {
        Htables {
            tables: self
                .tables
                .iter()
                .map(|(n, t)| {
                    let store: Arc<dyn TableStore> = Arc::new(DryTable {
                        live: t.store.clone(),
                    });
                    (
                        n.clone(),
                        Arc::new(Table {
                            spec: t.spec.clone(),
                            store,
                        }),
                    )
                })
                .collect(),
        }
    }

    /// A view holding only the tables named in `names` (the same tables, not copies):
    /// what a tenant granted those tables sees.
    pub fn subset(&self, names: &[String]) -> Htables {
        Htables {
            tables: self
                .tables
                .iter()
                .filter(|(n, _)| names.contains(n))
                .map(|(n, t)| (n.clone(), t.clone()))
                .collect(),
        }
    }

    /// The declared tables.
    pub fn specs(&self) -> impl Iterator<Item = &HtableSpec> {
        self.tables.values().map(|t| &t.spec)
    }

    fn table(&self, name: &str) -> Result<&Table, HtError> {
        self.tables
            .get(name)
            .map(|t| &**t)
            .ok_or_else(|| HtError::UnknownTable(name.to_string()))
    }

    /// True when `table` lives in another process (its operations may wait on it).
    pub fn is_shared(&self, table: &str) -> bool {
        self.tables.get(table).is_some_and(|t| t.store.is_shared())
    }

    /// The live value of `key`.
    pub fn get(&self, table: &str, key: &str, now: u64) -> Result<Option<HtValue>, HtError> {
        self.table(table)?.store.get(key, now)
    }

    /// True when `key` has a live value.
    pub fn exists(&self, table: &str, key: &str, now: u64) -> Result<bool, HtError> {
        self.get(table, key, now).map(|v| v.is_some())
    }

    /// Set `key` (its expiry restarts).
    pub fn set(&self, table: &str, key: &str, value: HtValue, now: u64) -> Result<(), HtError> {
        let expiry = self.table(table)?.spec.expiry(now);
        self.set_until(table, key, value, expiry, now)
    }

    /// Set `key` to expire `seconds` from now (0: never) instead of after the table's
    /// `autoexpire` (Kamailio's `sht_setxs` / `sht_setxi`).
    pub fn set_ex(
        &self,
        table: &str,
        key: &str,
        value: HtValue,
        seconds: u32,
        now: u64,
    ) -> Result<(), HtError> {
        let expiry = match seconds {
            0 => u64::MAX,
            s => now.saturating_add(u64::from(s)),
        };
        self.set_until(table, key, value, expiry, now)
    }

    fn set_until(
        &self,
        table: &str,
        key: &str,
        value: HtValue,
        expires_at: u64,
        now: u64,
    ) -> Result<(), HtError> {
        let t = self.table(table)?;
        check_key(key)?;
        if let HtValue::Str(s) = &value
            && s.len() > MAX_VALUE
        {
            return Err(HtError::TooLarge(format!(
                "value of {} bytes (at most {MAX_VALUE})",
                s.len()
            )));
        }
        t.store.set(key, value, expires_at, now)
    }

    /// Remove `key`; true when it had a live value.
    pub fn delete(&self, table: &str, key: &str, now: u64) -> Result<bool, HtError> {
        self.table(table)?.store.delete(key, now)
    }

    /// Add `by` to the integer at `key` (a missing or expired key counts as 0) and return
    /// the new value. A key it creates expires after the table's `autoexpire`; later
    /// increments keep that expiry (a counter over a fixed window).
    pub fn incr(&self, table: &str, key: &str, by: i64, now: u64) -> Result<i64, HtError> {
        let t = self.table(table)?;
        check_key(key)?;
        let new = t.store.incr(key, by, None, t.spec.expiry(now), now)?;
        Ok(new.expect("no bounds, a value"))
    }

    /// [`Self::incr`] unless the new value would leave `min..=max`: then nothing changes
    /// and the answer is `None` (a counter with a ceiling: calls up, requests in a window).
    pub fn incr_within(
        &self,
        table: &str,
        key: &str,
        by: i64,
        (min, max): (i64, i64),
        now: u64,
    ) -> Result<Option<i64>, HtError> {
        let t = self.table(table)?;
        check_key(key)?;
        t.store
            .incr(key, by, Some((min, max)), t.spec.expiry(now), now)
    }

    /// Every live entry of `table`, sorted by key.
    pub fn dump(&self, table: &str, now: u64) -> Result<Vec<(String, HtValue)>, HtError> {
        let mut all = self.table(table)?.store.dump(now)?;
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all)
    }

    /// Entries held per table, by name (sorted).
    pub fn sizes(&self) -> Vec<(String, Result<usize, HtError>)> {
        let mut out: Vec<_> = self
            .tables
            .iter()
            .map(|(name, t)| (name.clone(), t.store.size()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Remove every entry of `table`; how many there were.
    pub fn flush(&self, table: &str) -> Result<usize, HtError> {
        self.table(table)?.store.flush()
    }

    /// Drop expired entries of every table; returns how many went. Tables with
    /// `expired_event` are left to [`Self::take_expired`], which runs their event.
    pub fn purge(&self, now: u64) -> usize {
        self.tables
            .values()
            .filter(|t| !t.spec.expired_event)
            .map(|t| t.store.purge(now))
            .sum()
    }

    /// The expired entries of the tables with `expired_event`, removed: (table, key,
    /// value) for `event_route[htable:expired:TABLE]`. At most `limit` per call (the rest
    /// waits for the next sweep), so one sweep cannot hold the timer up for long.
    pub fn take_expired(&self, now: u64, limit: usize) -> Vec<(String, String, HtValue)> {
        let mut out = Vec::new();
        for t in self.tables.values().filter(|t| t.spec.expired_event) {
            if out.len() >= limit {
                break;
            }
            out.extend(
                t.store
                    .take_expired(now, limit - out.len())
                    .into_iter()
                    .map(|(k, v)| (t.spec.name.clone(), k, v)),
            );
        }
        out
    }

    /// True when some table runs an expiry event.
    pub fn has_expired_events(&self) -> bool {
        self.tables.values().any(|t| t.spec.expired_event)
    }
}

impl HtValue {
    pub(crate) fn to_value(&self) -> crate::value::Value {
        match self {
            HtValue::Int(i) => crate::value::Value::Int(*i),
            HtValue::Str(s) => crate::value::Value::Str(s.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables() -> Htables {
        Htables::new(&[
            HtableSpec {
                name: "msrp".into(),
                autoexpire: 60,
                max_entries: 3,
                expired_event: false,
            },
            HtableSpec {
                name: "forever".into(),
                autoexpire: 0,
                max_entries: 100,
                expired_event: false,
            },
        ])
    }

    #[test]
    fn set_get_delete_and_expiry() {
        let h = tables();
        h.set("msrp", "s1", HtValue::Str("tcp:1.2.3.4:5".into()), 100)
            .unwrap();
        assert_eq!(
            h.get("msrp", "s1", 159).unwrap(),
            Some(HtValue::Str("tcp:1.2.3.4:5".into()))
        );
        assert!(h.exists("msrp", "s1", 159).unwrap());
        // 60 s after the last set it is gone, before any purge
        assert_eq!(h.get("msrp", "s1", 160).unwrap(), None);
        assert_eq!(h.purge(160), 1);
        // set-ex (sht_setxi): an expiry of its own, in a table that otherwise keeps 60 s
        h.set_ex("msrp", "short", HtValue::Int(1), 5, 200).unwrap();
        assert!(h.exists("msrp", "short", 204).unwrap());
        assert!(!h.exists("msrp", "short", 205).unwrap());
        h.set_ex("msrp", "kept", HtValue::Int(1), 0, 200).unwrap();
        assert!(h.exists("msrp", "kept", u64::MAX - 1).unwrap());
        h.delete("msrp", "kept", 200).unwrap();
        h.set("forever", "k", HtValue::Int(1), 0).unwrap();
        assert_eq!(
            h.get("forever", "k", u64::MAX - 1).unwrap(),
            Some(HtValue::Int(1))
        );
        h.set("forever", "j", HtValue::Str("v".into()), 0).unwrap();
        assert_eq!(
            h.dump("forever", 5).unwrap(),
            vec![
                ("j".to_string(), HtValue::Str("v".into())),
                ("k".to_string(), HtValue::Int(1))
            ]
        );
        assert_eq!(h.flush("forever").unwrap(), 2);
        h.set("forever", "k", HtValue::Int(1), 0).unwrap();
        assert!(h.delete("forever", "k", 5).unwrap());
        assert!(!h.delete("forever", "k", 5).unwrap());
        assert_eq!(
            h.get("nope", "k", 0),
            Err(HtError::UnknownTable("nope".into()))
        );
    }

    #[test]
    fn expired_entries_of_event_tables_are_handed_over_once() {
        let spec = |name: &str, expired_event| HtableSpec {
            name: name.into(),
            autoexpire: 10,
            max_entries: 100,
            expired_event,
        };
        let t = Htables::new(&[spec("ev", true), spec("quiet", false)]);
        assert!(t.has_expired_events());
        for k in ["a", "b", "c"] {
            t.set("ev", k, HtValue::Int(1), 100).unwrap();
        }
        t.set_ex("ev", "long", HtValue::Str("x".into()), 1000, 100)
            .unwrap();
        t.set("quiet", "q", HtValue::Int(1), 100).unwrap();
        assert!(t.take_expired(109, 10).is_empty());
        // the generic purge leaves event tables to their sweep
        assert_eq!(t.purge(110), 1);
        let first = t.take_expired(110, 2);
        assert_eq!(first.len(), 2);
        let rest = t.take_expired(110, 10);
        assert_eq!(rest.len(), 1);
        let mut keys: Vec<_> = first
            .iter()
            .chain(&rest)
            .map(|(_, k, _)| k.clone())
            .collect();
        keys.sort();
        assert_eq!(keys, ["a", "b", "c"]);
        assert!(
            first
                .iter()
                .all(|(t, _, v)| t == "ev" && *v == HtValue::Int(1))
        );
        assert!(t.take_expired(200, 10).is_empty());
        assert!(t.exists("ev", "long", 200).unwrap());
        // a full event table keeps its expired entries for their events: no silent room
        let full = Htables::new(&[HtableSpec {
            max_entries: 2,
            ..spec("ev", true)
        }]);
        full.set("ev", "a", HtValue::Int(1), 100).unwrap();
        full.set("ev", "b", HtValue::Int(2), 100).unwrap();
        assert!(matches!(
            full.set("ev", "c", HtValue::Int(3), 200),
            Err(HtError::Full(_))
        ));
        assert_eq!(full.take_expired(200, 10).len(), 2);
        full.set("ev", "c", HtValue::Int(3), 200).unwrap();
    }

    #[test]
    fn incr_and_limits() {
        let h = tables();
        assert_eq!(h.incr("msrp", "n", 1, 10).unwrap(), 1);
        assert_eq!(h.incr("msrp", "n", 5, 20).unwrap(), 6);
        // the expiry set when it was created (at 10) is kept: a fixed window
        assert_eq!(h.get("msrp", "n", 69).unwrap(), Some(HtValue::Int(6)));
        assert_eq!(h.get("msrp", "n", 70).unwrap(), None);
        assert_eq!(
            h.incr("msrp", "n", 1, 80).unwrap(),
            1,
            "expired counts as 0"
        );
        // within bounds: a ceiling refuses and changes nothing
        assert_eq!(h.incr_within("msrp", "n", 1, (0, 2), 80).unwrap(), Some(2));
        assert_eq!(h.incr_within("msrp", "n", 1, (0, 2), 80).unwrap(), None);
        assert_eq!(h.get("msrp", "n", 80).unwrap(), Some(HtValue::Int(2)));
        assert_eq!(h.incr_within("msrp", "n", -3, (0, 2), 80).unwrap(), None);
        h.set("msrp", "s", HtValue::Str("x".into()), 80).unwrap();
        assert_eq!(
            h.incr("msrp", "s", 1, 80),
            Err(HtError::NotAnInt("s".into()))
        );
        h.set("msrp", "t", HtValue::Int(0), 80).unwrap();
        assert_eq!(
            h.set("msrp", "u", HtValue::Int(0), 80),
            Err(HtError::Full("msrp".into()))
        );
        // expired entries make room
        h.set("msrp", "u", HtValue::Int(0), 200).unwrap();
        assert!(matches!(
            h.set("forever", &"k".repeat(300), HtValue::Int(0), 0),
            Err(HtError::TooLarge(_))
        ));
        assert!(matches!(
            h.set("forever", "k", HtValue::Str("v".repeat(MAX_VALUE + 1)), 0),
            Err(HtError::TooLarge(_))
        ));
    }

    #[test]
    fn a_subset_shares_the_granted_tables_only() {
        let all = tables();
        let view = all.subset(&["forever".to_string()]);
        view.set("forever", "k", HtValue::Int(1), 0).unwrap();
        assert_eq!(all.get("forever", "k", 0).unwrap(), Some(HtValue::Int(1)));
        assert!(matches!(
            view.get("msrp", "k", 0),
            Err(HtError::UnknownTable(_))
        ));
    }
}
