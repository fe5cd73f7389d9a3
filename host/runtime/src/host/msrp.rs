//! `sipwasm:router/msrp`

use crate::bindings::sipwasm::router::msrp::{Error, Host, RelayError};
use crate::state::HostState;
use sipwasm_routing::{MsrpEvent, MsrpRelayError, MsrpReplyError};

fn relay_error(e: MsrpRelayError) -> RelayError {
    match e {
        MsrpRelayError::NoNextHop => RelayError::NoNextHop,
        MsrpRelayError::AlreadyRelayed => RelayError::AlreadyRelayed,
        other => RelayError::BadAddress(other.to_string()),
    }
}

impl HostState {
    fn with_frame(
        &mut self,
        f: impl FnOnce(&mut MsrpEvent) -> Result<(), MsrpRelayError>,
    ) -> Result<(), RelayError> {
        let m = self.msrp_mut().ok_or(RelayError::NoFrame)?;
        f(m).map_err(relay_error)
    }
}

impl Host for HostState {
    fn reply(&mut self, code: u16, text: String, headers: Option<String>) -> Result<(), Error> {
        let m = self.msrp_mut().ok_or(Error::NoRequest)?;
        m.reply(code, &text, headers.as_deref().unwrap_or(""))
            .map_err(|e| match e {
                MsrpReplyError::NoRequest => Error::NoRequest,
                MsrpReplyError::Report => Error::Report,
                MsrpReplyError::AlreadyReplied => Error::AlreadyReplied,
                other => Error::Invalid(other.to_string()),
            })
    }

    fn relay(&mut self) -> Result<(), RelayError> {
        self.with_frame(MsrpEvent::relay)
    }

    fn forward(&mut self, to_path: String, from_path: String) -> Result<(), RelayError> {
        self.with_frame(|m| m.forward(&to_path, &from_path))
    }

    fn set_dst(&mut self, addr: String, sock: String) -> Result<(), RelayError> {
        self.with_frame(|m| m.set_dst(&addr, &sock))
    }

    fn relay_flags(&mut self, flags: u32) {
        if let Some(m) = self.msrp_mut() {
            m.set_relay_flags(flags);
        }
    }

    fn reply_flags(&mut self, flags: u32) {
        if let Some(m) = self.msrp_mut() {
            m.set_reply_flags(flags);
        }
    }

    fn is_request(&mut self) -> bool {
        self.msrp().is_some_and(|m| m.is_request())
    }

    fn is_reply(&mut self) -> bool {
        self.msrp().is_some_and(|m| !m.is_request())
    }
}
