//! `sipwasm:router/permissions`: the address groups the tenant was granted.

use crate::bindings::sipwasm::router::permissions::Host;
use crate::state::HostState;

impl Host for HostState {
    fn allow_source_address(&mut self, group: u32) -> bool {
        self.sip_mut()
            .is_some_and(|c| c.allow_source_address(group))
    }

    fn allow_address(&mut self, group: u32, ip: String, port: u16) -> Result<bool, String> {
        match self.sip_mut() {
            Some(c) => c.allow_address(group, &ip, port).map_err(|e| e.to_string()),
            None => Err("no SIP request".into()),
        }
    }

    fn allow_source_address_group(&mut self) -> Option<u32> {
        self.sip_mut()?.allow_source_address_group()
    }
}
