//! `sipwasm:router/path`

use crate::bindings::sipwasm::router::path::{Error, Host};
use crate::state::HostState;
use sipwasm_routing::PathError;

fn path_error(e: PathError) -> Error {
    match e {
        PathError::NotRegister => Error::NotRegister,
        PathError::Invalid(s) => Error::Invalid(s),
    }
}

impl Host for HostState {
    fn add_path(&mut self, user: Option<String>) -> Result<(), Error> {
        let ctx = self.sip_mut().ok_or(Error::NotRegister)?;
        ctx.add_path(user.as_deref(), false).map_err(path_error)
    }

    fn add_path_received(&mut self, user: Option<String>) -> Result<(), Error> {
        let ctx = self.sip_mut().ok_or(Error::NotRegister)?;
        ctx.add_path(user.as_deref(), true).map_err(path_error)
    }
}
