//! `sipwasm:router/ratelimit`: the tenant's own counts in the config's pipes.

use crate::bindings::sipwasm::router::ratelimit::{Error, Host};
use crate::state::HostState;
use sipwasm_routing::ratelimit::RlError;

fn rl_error(e: RlError) -> Error {
    match e {
        RlError::UnknownPipe(p) => Error::UnknownPipe(p),
        RlError::NoQueue(m) => Error::NoQueue(m),
    }
}

impl Host for HostState {
    fn check(&mut self) -> Result<bool, Error> {
        self.sip()
            .ok_or(Error::NoRequest)?
            .rl_check()
            .map_err(rl_error)
    }

    fn check_pipe(&mut self, pipe: u32) -> Result<bool, Error> {
        self.sip()
            .ok_or(Error::NoRequest)?
            .rl_check_pipe(pipe)
            .map_err(rl_error)
    }
}
