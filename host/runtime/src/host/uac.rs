//! `sipwasm:router/uac`: the router as a client (credentials, From/To replacement, its
//! own requests).

use crate::bindings::sipwasm::router::uac::{Error, Host, Request};
use crate::state::HostState;
use sipwasm_routing::uac::{UacError, UacRequest};

fn uac_error(e: UacError) -> Error {
    match e {
        UacError::NoChallenge(m) => Error::NoChallenge(m),
        UacError::InvalidArgument(m) => Error::InvalidArgument(m),
        UacError::NoRequest => Error::NoRequest,
        UacError::Unreachable(m) => Error::Unreachable(m),
    }
}

impl Host for HostState {
    fn auth(&mut self, realm: String, username: String, password: String) -> Result<(), Error> {
        let ctx = self.sip_mut().ok_or(Error::NoRequest)?;
        ctx.uac_auth(&realm, &username, &password)
            .map_err(uac_error)
    }

    fn replace_from(&mut self, display: String, uri: String) -> Result<(), Error> {
        let ctx = self.sip_mut().ok_or(Error::NoRequest)?;
        ctx.uac_replace_from(&display, &uri).map_err(uac_error)
    }

    fn replace_to(&mut self, display: String, uri: String) -> Result<(), Error> {
        let ctx = self.sip_mut().ok_or(Error::NoRequest)?;
        ctx.uac_replace_to(&display, &uri).map_err(uac_error)
    }

    fn req_send(&mut self, req: Request) -> Result<(), Error> {
        // from any event (a timer's included): the router's own request
        let event = self.event.as_mut().ok_or(Error::NoRequest)?;
        let config = event.config().clone();
        let caller = event.caller().cloned();
        let req = UacRequest {
            method: req.method,
            ruri: req.ruri,
            furi: req.furi,
            turi: req.turi,
            ouri: req.ouri,
            hdrs: req.hdrs,
            body: req.body,
        };
        sipwasm_routing::uac::req_send(&config, caller.as_ref(), event.outbound_mut(), &req)
            .map_err(uac_error)
    }
}
