//! `sipwasm:router/rtimer`: one-shot timers, from any event of the tenant.

use crate::bindings::sipwasm::router::rtimer::{Error, Host};
use crate::state::HostState;
use sipwasm_routing::RtimerError;

fn rtimer_error(e: RtimerError) -> Error {
    match e {
        RtimerError::InvalidName(n) => Error::InvalidName(n),
        RtimerError::OutOfRange(m) => Error::OutOfRange(m),
        RtimerError::TooMany(n) => Error::TooMany(n),
        RtimerError::Unavailable => Error::Unavailable,
    }
}

impl Host for HostState {
    fn once(&mut self, name: String, delay_ms: u32, data: String) -> Result<(), Error> {
        // instantiation runs no event: there is no tenant to run the timer for
        let event = self.event.as_ref().ok_or(Error::Unavailable)?;
        sipwasm_routing::rtimer::once(event.config(), event.caller(), &name, delay_ms, &data)
            .map_err(rtimer_error)
    }
}
