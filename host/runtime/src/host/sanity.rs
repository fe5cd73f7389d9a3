//! `sipwasm:router/sanity`: Kamailio's sanity checks, answered as Kamailio answers them.

use crate::bindings::sipwasm::router::sanity::{Error, Failure, Host};
use crate::state::HostState;

impl Host for HostState {
    fn check(&mut self, msg_checks: u32, uri_checks: u32) -> Result<(), Error> {
        let ctx = self.sip_mut().ok_or(Error::NoRequest)?;
        match ctx.sanity_check(msg_checks, uri_checks) {
            Ok(None) => Ok(()),
            Ok(Some(f)) => {
                let (code, reason) = f.reply.unwrap_or((0, ""));
                Err(Error::Failed(Failure {
                    check: f.check,
                    code,
                    reason: reason.to_string(),
                }))
            }
            Err(_) => Err(Error::BadFlags),
        }
    }
}
