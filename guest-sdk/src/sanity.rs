//! Checks of a request before it is routed, as Kamailio's `sanity` module
//! (`sanity_check`): the flags are Kamailio's, and a failed check is answered as
//! Kamailio answers it (400, 416, 420, 505 ...; nothing for the silent ones).
//!
//! ```no_run
//! use sipwasm_sdk::{core, sanity};
//! # fn f() -> sipwasm_sdk::Route {
//! if !sanity::sanity_check_defaults()? {
//!     return core::exit(); // answered already
//! }
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::sanity as wit;

pub use wit::{Error, Failure};

impl From<Error> for crate::Stop {
    fn from(e: Error) -> Self {
        crate::Stop::Error(format!("sanity: {e:?}"))
    }
}

/// Kamailio's `default_checks` (3047).
pub const DEFAULT_CHECKS: u32 = 3047;
/// Kamailio's `uri_checks` (7: Request-URI, From, To).
pub const DEFAULT_URI_CHECKS: u32 = 7;

/// `sanity_check(msg_checks, uri_checks)`: `true` when the request passes; `false` when
/// it failed a check (answered already; [`check`] says which).
pub fn sanity_check(msg_checks: u32, uri_checks: u32) -> Result<bool, Error> {
    match check(msg_checks, uri_checks) {
        Ok(()) => Ok(true),
        Err(Error::Failed(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `sanity_check()` with Kamailio's default flags.
pub fn sanity_check_defaults() -> Result<bool, Error> {
    sanity_check(DEFAULT_CHECKS, DEFAULT_URI_CHECKS)
}

/// The checks, with the failure in full ([`Error::Failed`]: its bit and the reply sent).
pub fn check(msg_checks: u32, uri_checks: u32) -> Result<(), Error> {
    wit::check(msg_checks, uri_checks)
}
