//! `sipwasm:router/nosip`

use crate::bindings::sipwasm::router::nosip::{Error, Host};
use crate::state::HostState;
use sipwasm_routing::NosipError;

impl Host for HostState {
    fn reply(&mut self, data: Vec<u8>) -> Result<(), Error> {
        let raw = self.raw_mut().ok_or(Error::NoPacket)?;
        raw.reply(data).map_err(|e| match e {
            NosipError::TooLarge(n) => Error::TooLarge(u32::try_from(n).unwrap_or(u32::MAX)),
            NosipError::TooMany => Error::TooMany,
            NosipError::NoPacket => Error::NoPacket,
        })
    }
}
