//! `sipwasm:router/pike`: flood detection per source address, the tenant's own counts.

use crate::bindings::sipwasm::router::pike::{Host, Standing};
use crate::state::HostState;
use sipwasm_routing::pike::Standing as PikeStanding;

fn standing(s: PikeStanding) -> Standing {
    match s {
        PikeStanding::Allowed => Standing::Allowed,
        PikeStanding::NewlyBlocked => Standing::NewlyBlocked,
        PikeStanding::Blocked => Standing::Blocked,
    }
}

impl Host for HostState {
    fn check_req(&mut self) -> Standing {
        // outside a SIP event there is no source to count
        self.sip()
            .map_or(Standing::Allowed, |c| standing(c.pike_check_req()))
    }

    fn check_ip(&mut self, ip: String) -> Option<Standing> {
        self.sip()?.pike_check_ip(&ip).map(standing)
    }
}
