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

// Every operation may be a round trip to the routers' shared store (Redis): waits are
// not charged to the CPU deadline.
impl Host for HostState {
    fn get(&mut self, table: String, key: String) -> Result<Option<Value>, Error> {
        let cfg = self.router_config(&table)?;
        let v = self
            .waiting(|_| cfg.htables.get(&table, &key, now_unix()))
            .map_err(ht_error)?;
        Ok(v.map(|v| match v {
            HtValue::Int(i) => Value::Int(i),
            HtValue::Str(s) => Value::Str(s),
        }))
    }

    fn set(&mut self, table: String, key: String, value: Value) -> Result<(), Error> {
        let cfg = self.router_config(&table)?;
        let v = match value {
            Value::Int(i) => HtValue::Int(i),
            Value::Str(s) => HtValue::Str(s),
        };
        self.waiting(|_| cfg.htables.set(&table, &key, v, now_unix()))
            .map_err(ht_error)
    }

    fn delete(&mut self, table: String, key: String) -> Result<bool, Error> {
        let cfg = self.router_config(&table)?;
        self.waiting(|_| cfg.htables.delete(&table, &key, now_unix()))
            .map_err(ht_error)
    }

    fn incr(&mut self, table: String, key: String, by: i64) -> Result<i64, Error> {
        let cfg = self.router_config(&table)?;
        self.waiting(|_| cfg.htables.incr(&table, &key, by, now_unix()))
            .map_err(ht_error)
    }

    fn exists(&mut self, table: String, key: String) -> Result<bool, Error> {
        let cfg = self.router_config(&table)?;
        self.waiting(|_| cfg.htables.exists(&table, &key, now_unix()))
            .map_err(ht_error)
    }
}
