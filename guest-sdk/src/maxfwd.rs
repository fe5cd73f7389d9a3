//! Max-Forwards, as Kamailio's `maxfwd`.
//!
//! ```no_run
//! use sipwasm_sdk::{core, maxfwd, sl};
//! # fn f() -> sipwasm_sdk::Route {
//! if maxfwd::process_maxfwd(10).is_err() {
//!     sl::send_reply(483, "Too Many Hops")?;
//!     return core::exit();
//! }
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::maxfwd as wit;

pub use wit::{Error, Outcome};

impl From<Error> for crate::Stop {
    fn from(e: Error) -> Self {
        crate::Stop::Error(format!("{e:?}"))
    }
}

/// Decrement Max-Forwards (or add it with `limit`); `Err(Exhausted)` when it is 0.
pub fn process_maxfwd(limit: u32) -> Result<Outcome, Error> {
    wit::process_maxfwd(limit)
}
