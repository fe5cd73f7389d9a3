//! Stateless replies, as Kamailio's `sl` module.
//!
//! ```no_run
//! use sipwasm_sdk::sl;
//! # fn f() -> sipwasm_sdk::Route {
//! sl::append_to_reply("Retry-After: 30\r\n")?;
//! sl::send_reply(480, "Temporarily Unavailable")?;
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::sl as wit;

pub use wit::Error;

impl From<Error> for crate::Stop {
    fn from(e: Error) -> Self {
        crate::Stop::Error(e.to_string())
    }
}

/// Reply to the current request (`sl_send_reply`). An ACK is never answered.
pub fn send_reply(code: u16, reason: impl AsRef<str>) -> Result<(), Error> {
    wit::send_reply(code, reason.as_ref())
}

/// Reply describing the last internal error (`sl_reply_error`).
pub fn send_reply_error() -> Result<(), Error> {
    wit::send_reply_error()
}

/// Add header lines to every reply this event sends (`append_to_reply`).
pub fn append_to_reply(headers: impl AsRef<str>) -> Result<(), Error> {
    wit::append_to_reply(headers.as_ref())
}
