//! `sipwasm:router/siputils`

use crate::bindings::sipwasm::router::siputils::Host;
use crate::state::HostState;

impl Host for HostState {
    fn has_totag(&mut self) -> bool {
        self.sip().is_some_and(|c| c.has_totag())
    }
}
