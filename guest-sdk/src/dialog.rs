//! Calls per user, against toll fraud: limit a user's calls up or ringing, and the calls
//! it starts a minute, in one call (what Kamailio operators build from the `dialog`
//! module's profiles and `get_profile_size`). The router counts the call until the
//! transaction layer settles it: a failure frees its place at once, a 2xx keeps it until
//! the BYE.
//!
//! ```no_run
//! use sipwasm_sdk::{core, dialog, pv, sl};
//! # fn f() -> sipwasm_sdk::Route {
//! if core::is_method("INVITE") && dialog::limit_calls(pv::gete("$fU")?, 4, 20).is_err() {
//!     sl::send_reply(403, "Too many calls")?;
//!     return core::exit();
//! }
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::dialog as wit;

pub use wit::CallLimit;

impl From<CallLimit> for crate::Stop {
    fn from(e: CallLimit) -> Self {
        crate::Stop::Error(format!("{e:?}"))
    }
}

/// Count this initial INVITE as a call of `user` when it has fewer than `concurrent`
/// calls up or ringing and started fewer than `per_minute` in the last minute (0: no
/// limit).
pub fn limit_calls(
    user: impl AsRef<str>,
    concurrent: u32,
    per_minute: u32,
) -> Result<(), CallLimit> {
    wit::limit_calls(user.as_ref(), concurrent, per_minute)
}

/// Calls of `user` up or ringing (`get_profile_size`).
pub fn calls_of(user: impl AsRef<str>) -> u32 {
    wit::calls_of(user.as_ref())
}
