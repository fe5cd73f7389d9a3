//! Shared hash tables, as Kamailio's htable module (`$sht(table=>key)`, `sht_inc`). The
//! tables are declared in the router config (`[[htable]]`); every event sees them.
//!
//! ```no_run
//! use sipwasm_sdk::{htable, pv};
//! # fn f() -> sipwasm_sdk::Route {
//! let session = pv::gete("$ci")?;
//! htable::set_str("calls", &session, "ringing")?;
//! let n = htable::incr("calls", "count", 1)?;
//! if let Some(htable::Value::Str(state)) = htable::get("calls", &session)? {
//!     sipwasm_sdk::info!("{session}: {state} ({n} calls)");
//! }
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::htable as wit;

pub use wit::{Error, Value};

impl From<Error> for crate::Stop {
    fn from(e: Error) -> Self {
        crate::Stop::Error(format!("htable: {e:?}"))
    }
}

/// The value of `key` in `table`, `None` when missing or expired.
pub fn get(table: impl AsRef<str>, key: impl AsRef<str>) -> Result<Option<Value>, Error> {
    wit::get(table.as_ref(), key.as_ref())
}

/// Set `key` to a string.
pub fn set_str(
    table: impl AsRef<str>,
    key: impl AsRef<str>,
    value: impl Into<String>,
) -> Result<(), Error> {
    wit::set(table.as_ref(), key.as_ref(), &Value::Str(value.into()))
}

/// Set `key` to an integer.
pub fn set_int(table: impl AsRef<str>, key: impl AsRef<str>, value: i64) -> Result<(), Error> {
    wit::set(table.as_ref(), key.as_ref(), &Value::Int(value))
}

/// Remove `key`; true when it had a value.
pub fn delete(table: impl AsRef<str>, key: impl AsRef<str>) -> Result<bool, Error> {
    wit::delete(table.as_ref(), key.as_ref())
}

/// Set `key` to expire `seconds` from now (0: never) instead of after the table's
/// `autoexpire_secs` (`sht_setxs`, `sht_setxi`).
pub fn set_ex(
    table: impl AsRef<str>,
    key: impl AsRef<str>,
    value: &Value,
    seconds: u32,
) -> Result<(), Error> {
    wit::set_ex(table.as_ref(), key.as_ref(), value, seconds)
}

/// Add `by` to the integer at `key` (missing counts as 0); the new value. A key it
/// creates expires after the table's `autoexpire_secs`, whatever increments follow.
pub fn incr(table: impl AsRef<str>, key: impl AsRef<str>, by: i64) -> Result<i64, Error> {
    wit::incr(table.as_ref(), key.as_ref(), by)
}

/// [`incr`] unless the new value would leave `min..=max`: then nothing changes and the
/// answer is `None` (at most 10 calls up: `incr_within(t, user, 1, 0, 10)`).
pub fn incr_within(
    table: impl AsRef<str>,
    key: impl AsRef<str>,
    by: i64,
    min: i64,
    max: i64,
) -> Result<Option<i64>, Error> {
    wit::incr_within(table.as_ref(), key.as_ref(), by, min, max)
}

/// True when `key` has a value.
pub fn exists(table: impl AsRef<str>, key: impl AsRef<str>) -> Result<bool, Error> {
    wit::exists(table.as_ref(), key.as_ref())
}
