//! `sipwasm:router/maxfwd`

use crate::bindings::sipwasm::router::maxfwd::{Error, Host, Outcome};
use crate::state::HostState;
use sipwasm_routing::{MaxFwd, TmError};

impl Host for HostState {
    fn process_maxfwd(&mut self, limit: u32) -> Result<Outcome, Error> {
        let ctx = self.sip_mut().ok_or(Error::NoRequest)?;
        match ctx.process_maxfwd(limit) {
            Ok(MaxFwd::Added) => Ok(Outcome::Added),
            Ok(MaxFwd::Decremented) => Ok(Outcome::Decremented),
            Ok(MaxFwd::Exhausted) => Err(Error::Exhausted),
            Err(TmError::NoRequest) => Err(Error::NoRequest),
            Err(e) => Err(Error::Invalid(e.to_string())),
        }
    }
}
