//! `sipwasm:router/core`

use crate::bindings::sipwasm::router::core::{Error, Host};
use crate::state::HostState;
use sipwasm_routing::CoreError;

fn core_error(e: CoreError) -> Error {
    match e {
        CoreError::FlagOutOfRange(f) => Error::FlagOutOfRange(f),
        CoreError::InvalidUri(s) => Error::InvalidUri(s),
    }
}

impl Host for HostState {
    fn set_flag(&mut self, flag: u32) -> Result<(), Error> {
        match self.sip_mut() {
            Some(c) => c.set_flag(flag).map_err(core_error),
            None => Ok(()),
        }
    }

    fn reset_flag(&mut self, flag: u32) -> Result<(), Error> {
        match self.sip_mut() {
            Some(c) => c.reset_flag(flag).map_err(core_error),
            None => Ok(()),
        }
    }

    fn is_flag_set(&mut self, flag: u32) -> Result<bool, Error> {
        match self.sip() {
            Some(c) => c.is_flag_set(flag).map_err(core_error),
            None => Ok(false),
        }
    }

    fn is_method(&mut self, method: String) -> bool {
        self.sip().is_some_and(|c| c.is_method(&method))
    }

    fn is_method_in(&mut self, letters: String) -> bool {
        self.sip().is_some_and(|c| c.is_method_in(&letters))
    }

    fn is_myself(&mut self, uri: String) -> Result<bool, Error> {
        match self.sip() {
            Some(c) => c.is_myself(&uri).map_err(core_error),
            None => Ok(false),
        }
    }

    fn is_myself_ruri(&mut self) -> bool {
        self.sip().is_some_and(|c| c.is_myself_ruri())
    }

    fn is_myself_furi(&mut self) -> bool {
        self.sip().is_some_and(|c| c.is_myself_furi())
    }

    fn is_myself_turi(&mut self) -> bool {
        self.sip().is_some_and(|c| c.is_myself_turi())
    }

    fn is_myself_srcip(&mut self) -> bool {
        self.sip().is_some_and(|c| c.is_myself_srcip())
    }

    fn set_drop(&mut self) {
        if let Some(c) = self.sip_mut() {
            c.set_drop();
        }
    }

    fn force_rport(&mut self) {
        if let Some(c) = self.sip_mut() {
            c.force_rport();
        }
    }

    fn set_advertised_address(&mut self, host: String) -> Result<(), Error> {
        match self.sip_mut() {
            Some(c) => c.set_advertised_address(&host).map_err(core_error),
            None => Ok(()),
        }
    }

    fn set_advertised_port(&mut self, port: u16) {
        if let Some(c) = self.sip_mut() {
            c.set_advertised_port(port);
        }
    }
}
