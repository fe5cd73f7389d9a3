//! Rate limits, as Kamailio's `ratelimit` module (`rl_check`): pipes and queues of the
//! router config; each tenant counts its own requests.
//!
//! ```no_run
//! use sipwasm_sdk::{core, ratelimit, sl};
//! # fn f() -> sipwasm_sdk::Route {
//! if core::is_method("INVITE") && !ratelimit::rl_check()? {
//!     sl::send_reply(503, "Server Unavailable")?;
//!     return core::exit();
//! }
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::ratelimit as wit;

pub use wit::Error;

impl From<Error> for crate::Stop {
    fn from(e: Error) -> Self {
        crate::Stop::Error(format!("ratelimit: {e:?}"))
    }
}

/// `rl_check()`: count the request against its method's pipe; true when it may pass.
pub fn rl_check() -> Result<bool, Error> {
    wit::check()
}

/// `rl_check_pipe(pipe)`: count the request against `pipe`.
pub fn rl_check_pipe(pipe: u32) -> Result<bool, Error> {
    wit::check_pipe(pipe)
}
