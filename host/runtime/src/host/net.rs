//! `sipwasm:router/net`: outbound UDP to destinations the config grants.

use crate::bindings::sipwasm::router::net::{Error, Host};
use crate::state::HostState;
use sipwasm_routing::NetError;

impl Host for HostState {
    fn send_udp(&mut self, dst: String, payload: Vec<u8>) -> Result<(), Error> {
        let out = match &mut self.event {
            Some(event) => event.outbound_mut(),
            // instantiation (no event): nothing would ever send it
            None => return Err(Error::Denied(format!("{dst}: no event"))),
        };
        let result = self
            .meta
            .udp_allow
            .queue(out, &mut self.udp_sent, &dst, payload);
        result.map_err(|e| {
            tracing::debug!(plugin = %self.meta.name, "net.send-udp refused: {e}");
            match e {
                NetError::InvalidAddress(a) => Error::InvalidAddress(a),
                NetError::Denied(a) => Error::Denied(a.to_string()),
                NetError::TooLarge(n) => Error::TooLarge(u32::try_from(n).unwrap_or(u32::MAX)),
                NetError::TooMany => Error::TooMany,
                other => Error::Denied(other.to_string()),
            }
        })
    }
}
