//! `sipwasm:router/forward`

use crate::bindings::sipwasm::router::forward::{Error, Host};
use crate::state::HostState;
use sipwasm_routing::TmError;

impl Host for HostState {
    fn forward(&mut self, uri: Option<String>) -> Result<(), Error> {
        self.waiting(|s| {
            let ctx = s.sip_mut().ok_or(Error::NoRequest)?;
            ctx.forward(uri.as_deref()).map_err(|e| match e {
                TmError::TooManyHops => Error::TooManyHops,
                TmError::NoRequest => Error::NoRequest,
                other => Error::NoDestination(other.to_string()),
            })
        })
    }
}
