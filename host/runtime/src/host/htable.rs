//! `sipwasm:router/htable`: the router's shared tables, from any event.

use crate::bindings::sipwasm::router::htable::{Error, Host, Value};
use crate::state::HostState;
use sipwasm_routing::{HtError, HtValue, LocalConfig};
use std::sync::Arc;

fn ht_error(e: HtError) -> Error {
    match e {
        HtError::UnknownTable(t) => Error::UnknownTable(t),
        HtError::NotAnInt(k) => Error::NotAnInt(k),
        HtError::TooLarge(s) => Error::TooLarge(s),
        HtError::Full(t) => Error::Full(t),
        HtError::Unavailable(why) => Error::Unavailable(why),
    }
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl HostState {
    /// The router state of the current event (SIP or not).
    fn router_config(&self, table: &str) -> Result<Arc<LocalConfig>, Error> {
        match &self.event {
            Some(event) => Ok(event.config().clone()),
            // instantiation: no event, no tables
            None => Err(Error::UnknownTable(format!("{table} (no event)"))),
        }
    }
}

impl HostState {
    /// Run `op` on the tables of the current event; a table several routers share (Redis)
    /// is waited on without charging the wait to the CPU deadline, a table in memory is
    /// charged like any other work.
    fn tables<T>(
        &mut self,
        table: &str,
        op: impl FnOnce(&sipwasm_routing::Htables, u64) -> Result<T, HtError>,
    ) -> Result<T, Error> {
        let cfg = self.router_config(table)?;
        let now = now_unix();
        let r = if cfg.htables.is_shared(table) {
            self.waiting(|_| op(&cfg.htables, now))
        } else {
            op(&cfg.htables, now)
        };
        r.map_err(ht_error)
    }
}

fn ht_value(v: Value) -> HtValue {
    match v {
        Value::Int(i) => HtValue::Int(i),
        Value::Str(s) => HtValue::Str(s),
    }
}

impl Host for HostState {
    fn get(&mut self, table: String, key: String) -> Result<Option<Value>, Error> {
        let v = self.tables(&table, |t, now| t.get(&table, &key, now))?;
        Ok(v.map(|v| match v {
            HtValue::Int(i) => Value::Int(i),
            HtValue::Str(s) => Value::Str(s),
        }))
    }

    fn set(&mut self, table: String, key: String, value: Value) -> Result<(), Error> {
        let v = ht_value(value);
        self.tables(&table, |t, now| t.set(&table, &key, v, now))
    }

    fn set_ex(
        &mut self,
        table: String,
        key: String,
        value: Value,
        seconds: u32,
    ) -> Result<(), Error> {
        let v = ht_value(value);
        self.tables(&table, |t, now| t.set_ex(&table, &key, v, seconds, now))
    }

    fn incr_within(
        &mut self,
        table: String,
        key: String,
        by: i64,
        min: i64,
        max: i64,
    ) -> Result<Option<i64>, Error> {
        self.tables(&table, |t, now| {
            t.incr_within(&table, &key, by, (min, max), now)
        })
    }

    fn delete(&mut self, table: String, key: String) -> Result<bool, Error> {
        self.tables(&table, |t, now| t.delete(&table, &key, now))
    }

    fn incr(&mut self, table: String, key: String, by: i64) -> Result<i64, Error> {
        self.tables(&table, |t, now| t.incr(&table, &key, by, now))
    }

    fn exists(&mut self, table: String, key: String) -> Result<bool, Error> {
        self.tables(&table, |t, now| t.exists(&table, &key, now))
    }
}
