//! `rl_check` in a route.

use super::RlError;
use crate::context::RouteContext;

impl RouteContext {
    /// `rl_check()`: count the request against the pipe its method's queue names (the
    /// CSeq method for a reply); true when it may pass.
    pub fn rl_check(&self) -> Result<bool, RlError> {
        let method = self.msg.cseq().method;
        let text = String::from_utf8_lossy(self.msg.text(self.msg.cseq().method_span)).into_owned();
        let pipe = self.config.ratelimit.pipe_of(method, &text)?;
        self.rl_check_pipe(pipe)
    }

    /// `rl_check_pipe(pipe)`: count the request against `pipe`.
    pub fn rl_check_pipe(&self, pipe: u32) -> Result<bool, RlError> {
        self.config.ratelimit.check(pipe, std::time::Instant::now())
    }
}
