//! The plugin's own counters, as Kamailio's `statistics` module (`update_stat`,
//! `reset_stat`, `$stat(name)`): they show in `/metrics` as
//! `sipwasm_plugin_stat{tenant, name}` and in `sipwasm ctl stats`.
//!
//! ```no_run
//! use sipwasm_sdk::{core, statistics};
//! # fn f() -> sipwasm_sdk::Route {
//! if core::is_method("INVITE") {
//!     statistics::update_stat("invites", 1)?;
//! }
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::statistics as wit;

pub use wit::Error;

impl From<Error> for crate::Stop {
    fn from(e: Error) -> Self {
        crate::Stop::Error(format!("statistics: {e:?}"))
    }
}

/// Add `by` (negative: subtract) to counter `name` (created at 0); the new value.
pub fn update_stat(name: impl AsRef<str>, by: i64) -> Result<i64, Error> {
    wit::update_stat(name.as_ref(), by)
}

/// Set counter `name` back to 0.
pub fn reset_stat(name: impl AsRef<str>) -> Result<(), Error> {
    wit::reset_stat(name.as_ref())
}

/// The value of counter `name`, 0 when never updated.
pub fn get_stat(name: impl AsRef<str>) -> Result<i64, Error> {
    wit::get_stat(name.as_ref())
}
