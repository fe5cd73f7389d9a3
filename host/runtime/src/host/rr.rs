//! `sipwasm:router/rr`

use crate::bindings::sipwasm::router::rr::{Error, Host};
use crate::state::HostState;
use sipwasm_routing::TmError;

fn rr_error(e: TmError) -> Error {
    match e {
        TmError::NoRequest => Error::NoRequest,
        other => Error::Invalid(other.to_string()),
    }
}

impl Host for HostState {
    fn record_route(&mut self) -> Result<(), Error> {
        let ctx = self.event.as_mut().ok_or(Error::NoRequest)?;
        ctx.record_route("").map_err(rr_error)
    }

    fn record_route_params(&mut self, params: String) -> Result<(), Error> {
        let ctx = self.event.as_mut().ok_or(Error::NoRequest)?;
        ctx.record_route(&params).map_err(rr_error)
    }

    fn loose_route(&mut self) -> bool {
        self.event.as_mut().is_some_and(|c| c.loose_route())
    }
}
