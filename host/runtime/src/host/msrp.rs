//! `sipwasm:router/msrp`

use crate::bindings::sipwasm::router::msrp::{Error, Host};
use crate::state::HostState;
use sipwasm_routing::MsrpReplyError;

impl Host for HostState {
    fn reply(&mut self, code: u16, text: String, headers: Option<String>) -> Result<(), Error> {
        let m = self.msrp.as_mut().ok_or(Error::NoRequest)?;
        m.reply(code, &text, headers.as_deref().unwrap_or(""))
            .map_err(|e| match e {
                MsrpReplyError::NoRequest => Error::NoRequest,
                MsrpReplyError::Report => Error::Report,
                MsrpReplyError::AlreadyReplied => Error::AlreadyReplied,
                other => Error::Invalid(other.to_string()),
            })
    }

    fn is_request(&mut self) -> bool {
        self.msrp.as_ref().is_some_and(|m| m.is_request())
    }

    fn is_reply(&mut self) -> bool {
        self.msrp.as_ref().is_some_and(|m| !m.is_request())
    }
}
