//! `sipwasm:router/statistics`: the tenant's own counters, from any event.

use crate::bindings::sipwasm::router::statistics::{Error, Host};
use crate::state::HostState;
use sipwasm_routing::statistics::{StatError, Statistics};
use std::sync::Arc;

fn stat_error(e: StatError) -> Error {
    match e {
        StatError::InvalidName(n) => Error::InvalidName(n),
        StatError::TooMany(n) => Error::TooMany(n),
    }
}

impl HostState {
    /// The counters of the current event's tenant.
    fn statistics(&self, name: &str) -> Result<Arc<Statistics>, Error> {
        match &self.event {
            Some(event) => Ok(event.config().statistics.clone()),
            // instantiation: no event, no tenant
            None => Err(Error::InvalidName(format!("{name} (no event)"))),
        }
    }
}

impl Host for HostState {
    fn update_stat(&mut self, name: String, by: i64) -> Result<i64, Error> {
        self.statistics(&name)?
            .update(&name, by)
            .map_err(stat_error)
    }

    fn reset_stat(&mut self, name: String) -> Result<(), Error> {
        self.statistics(&name)?.reset(&name).map_err(stat_error)
    }

    fn get_stat(&mut self, name: String) -> Result<i64, Error> {
        self.statistics(&name)?.get(&name).map_err(stat_error)
    }
}
