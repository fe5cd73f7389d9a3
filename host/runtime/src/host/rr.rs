//! `sipwasm:router/rr`

use crate::bindings::sipwasm::router::rr::{Error, Host, Routed};
use crate::state::HostState;
use sipwasm_routing::RrError;

fn rr_error(e: RrError) -> Error {
    match e {
        RrError::NoRequest => Error::NoRequest,
        RrError::Invalid(s) => Error::Invalid(s),
        RrError::Forbidden(s) => Error::Forbidden(s),
    }
}

impl Host for HostState {
    fn record_route(&mut self) -> Result<(), Error> {
        let ctx = self.sip_mut().ok_or(Error::NoRequest)?;
        ctx.record_route("").map_err(rr_error)
    }

    fn record_route_params(&mut self, params: String) -> Result<(), Error> {
        let ctx = self.sip_mut().ok_or(Error::NoRequest)?;
        ctx.record_route(&params).map_err(rr_error)
    }

    fn loose_route(&mut self) -> Result<Routed, Error> {
        let ctx = self.sip_mut().ok_or(Error::NoRequest)?;
        Ok(match ctx.loose_route().map_err(rr_error)? {
            sipwasm_routing::Routed::NoRoute => Routed::NoRoute,
            sipwasm_routing::Routed::RouteSet => Routed::RouteSet,
            sipwasm_routing::Routed::Flow => Routed::Flow,
            sipwasm_routing::Routed::Preloaded => Routed::Preloaded,
        })
    }
}
