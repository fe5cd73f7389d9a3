//! `sanity_check` in a route: the checks, and Kamailio's reply for the one that failed.

use super::{BadFlags, Failure, check};
use crate::context::RouteContext;

impl RouteContext {
    /// `sanity_check(msg_checks, uri_checks)`: `Ok(None)` when the request passes;
    /// otherwise the failure, its reply already sent (none for a reply, an ACK, or a
    /// check Kamailio fails silently).
    pub fn sanity_check(
        &mut self,
        msg_checks: u32,
        uri_checks: u32,
    ) -> Result<Option<Failure>, BadFlags> {
        let failure = match check(
            &self.msg,
            self.source.transport,
            msg_checks,
            uri_checks,
            self.config.proxy_require(),
        )? {
            Ok(()) => return Ok(None),
            Err(f) => f,
        };
        let answer = self.msg.is_request() && self.msg.method() != sipwasm_proto::Method::Ack;
        if let (Some((code, reason)), true) = (failure.reply, answer) {
            if let Some(h) = &failure.header {
                // (a header the parser took apart cannot be refused here)
                let _ = self.append_to_reply(h);
            }
            if let Err(e) = self.send_reply(code, reason) {
                tracing::debug!("sanity reply {code} not sent: {e}");
            }
        }
        Ok(Some(failure))
    }
}
