//! `sipwasm:router/dispatcher`: the router's destination sets, as the tenant was granted.

use crate::bindings::sipwasm::router::dispatcher::{Error, Host};
use crate::state::HostState;
use sipwasm_routing::dispatcher::DsError;

fn ds_error(e: DsError) -> Error {
    match e {
        DsError::UnknownSet(n) => Error::UnknownSet(n),
        DsError::UnknownAlgorithm(n) => Error::UnknownAlgorithm(n),
        DsError::NoneActive => Error::NoneActive,
        DsError::NoneLeft => Error::NoneLeft,
        DsError::Invalid(m) => Error::Invalid(m),
        DsError::NoRequest => Error::NoRequest,
    }
}

impl Host for HostState {
    fn select_dst(&mut self, set: u32, alg: u32, limit: u32) -> Result<(), Error> {
        let ctx = self.sip_mut().ok_or(Error::NoRequest)?;
        ctx.ds_select_dst(set, alg, limit).map_err(ds_error)
    }

    fn select_domain(&mut self, set: u32, alg: u32, limit: u32) -> Result<(), Error> {
        let ctx = self.sip_mut().ok_or(Error::NoRequest)?;
        ctx.ds_select_domain(set, alg, limit).map_err(ds_error)
    }

    fn next_dst(&mut self) -> Result<(), Error> {
        let ctx = self.sip_mut().ok_or(Error::NoRequest)?;
        ctx.ds_next_dst().map_err(ds_error)
    }

    fn mark_dst(&mut self, state: String) -> Result<(), Error> {
        let ctx = self.sip_mut().ok_or(Error::NoRequest)?;
        ctx.ds_mark_dst(&state).map_err(ds_error)
    }

    fn is_from_list(&mut self, set: Option<u32>) -> Option<u32> {
        self.sip().and_then(|c| c.ds_is_from_list(set))
    }

    fn load_unset(&mut self) -> bool {
        self.sip_mut().is_some_and(|c| c.ds_load_unset())
    }

    fn load_update(&mut self) -> bool {
        self.sip_mut().is_some_and(|c| c.ds_load_update())
    }
}
