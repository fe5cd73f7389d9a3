//! Pseudo-variables, as `KSR.pv`: read and write the message and routing state by name.
//!
//! ```no_run
//! use sipwasm_sdk::pv;
//! # fn f() -> sipwasm_sdk::Route {
//! let ruri = pv::get("$ru")?;                       // Value::Str("sip:bob@example.com")
//! let user = pv::gete("$(ru{uri.user})")?;          // "bob"
//! let len = pv::get("$(ci{s.len})")?.as_int();      // Some(32)
//! pv::sets("$du", "sip:127.0.0.1:5080")?;
//! pv::seti("$var(tries)", 3)?;
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::pv as wit;

pub use sipwasm_value::Value;
pub use wit::Error;

impl From<wit::Value> for Value {
    fn from(v: wit::Value) -> Self {
        match v {
            wit::Value::Null => Value::Null,
            wit::Value::Int(i) => Value::Int(i),
            wit::Value::Str(s) => Value::Str(s),
        }
    }
}

/// The value of `name` (`KSR.pv.get`).
pub fn get(name: impl AsRef<str>) -> Result<Value, Error> {
    wit::get(name.as_ref()).map(Value::from)
}

/// The value as a string, `""` for `$null` (`KSR.pv.gete`).
pub fn gete(name: impl AsRef<str>) -> Result<String, Error> {
    Ok(match get(name)? {
        Value::Null => String::new(),
        v => v.to_string(),
    })
}

/// The value as a string, `"<null>"` for `$null` (`KSR.pv.getw`).
pub fn getw(name: impl AsRef<str>) -> Result<String, Error> {
    Ok(get(name)?.to_string())
}

/// The value as a string, `default` for `$null` (`KSR.pv.getvs`).
pub fn getvs(name: impl AsRef<str>, default: &str) -> Result<String, Error> {
    Ok(match get(name)? {
        Value::Null => default.to_string(),
        v => v.to_string(),
    })
}

/// The value as an integer, `default` for `$null` or a non-number (`KSR.pv.getvn`).
pub fn getvn(name: impl AsRef<str>, default: i64) -> Result<i64, Error> {
    Ok(get(name)?.as_int().unwrap_or(default))
}

/// Assign a string (`KSR.pv.sets`).
pub fn sets(name: impl AsRef<str>, value: impl AsRef<str>) -> Result<(), Error> {
    wit::set_str(name.as_ref(), value.as_ref())
}

/// Assign an integer (`KSR.pv.seti`).
pub fn seti(name: impl AsRef<str>, value: i64) -> Result<(), Error> {
    wit::set_int(name.as_ref(), value)
}

/// Reset to `$null` (`KSR.pv.unset`).
pub fn unset(name: impl AsRef<str>) -> Result<(), Error> {
    wit::unset(name.as_ref())
}

/// True when the value is `$null` (`KSR.pv.is_null`).
pub fn is_null(name: impl AsRef<str>) -> Result<bool, Error> {
    wit::is_null(name.as_ref())
}

/// Expand the pseudo-variables in `template`: `format("$rm from $si")`.
pub fn format(template: impl AsRef<str>) -> Result<String, Error> {
    wit::format(template.as_ref())
}

impl From<Error> for crate::Stop {
    fn from(e: Error) -> Self {
        crate::Stop::Error(e.to_string())
    }
}
