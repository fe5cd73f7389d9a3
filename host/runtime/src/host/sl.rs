//! `sipwasm:router/sl`

use crate::bindings::sipwasm::router::sl::{Error, Host};
use crate::state::HostState;
use sipwasm_routing::SlError;

fn sl_error(e: SlError) -> Error {
    match e {
        SlError::NoRequest => Error::NoRequest,
        SlError::InvalidReply(s) => Error::InvalidReply(s),
        SlError::InvalidHeader(s) => Error::InvalidHeader(s),
    }
}

impl Host for HostState {
    fn send_reply(&mut self, code: u16, reason: String) -> Result<(), Error> {
        let ctx = self.sip_mut().ok_or(Error::NoRequest)?;
        ctx.send_reply(code, &reason).map_err(sl_error)
    }

    fn send_reply_error(&mut self) -> Result<(), Error> {
        let ctx = self.sip_mut().ok_or(Error::NoRequest)?;
        ctx.send_reply_error().map_err(sl_error)
    }

    fn append_to_reply(&mut self, headers: String) -> Result<(), Error> {
        let ctx = self.sip_mut().ok_or(Error::NoRequest)?;
        ctx.append_to_reply(&headers).map_err(sl_error)
    }
}
