//! `sipwasm:router/dialog`

use crate::bindings::sipwasm::router::dialog::{CallLimit, Host};
use crate::state::HostState;
use sipwasm_routing::dialog::CallLimit as Limit;

impl Host for HostState {
    fn limit_calls(
        &mut self,
        user: String,
        concurrent: u32,
        per_minute: u32,
    ) -> Result<(), CallLimit> {
        let ctx = self.sip_mut().ok_or(CallLimit::NotACall)?;
        ctx.limit_calls(&user, concurrent, per_minute)
            .map_err(|e| match e {
                Limit::Concurrent(n) => CallLimit::Concurrent(n),
                Limit::PerMinute(n) => CallLimit::PerMinute(n),
                Limit::NotACall => CallLimit::NotACall,
            })
    }

    fn calls_of(&mut self, user: String) -> u32 {
        self.sip().map_or(0, |c| c.calls_of(&user))
    }
}
