//! Header changes, as `KSR.hdr`. Changes are applied when the message is sent on, so
//! [`is_present`] and [`get`] keep seeing the message as received.
//!
//! ```no_run
//! use sipwasm_sdk::hdr;
//! # fn f() -> sipwasm_sdk::Route {
//! hdr::append("X-Routed-By: sipwasm\r\n")?;
//! hdr::insert_before("X-First: 1\r\n", "Call-ID")?;
//! hdr::remove("X-Internal")?;
//! if hdr::is_present("X-Debug") {
//!     let v = hdr::get("X-Debug").unwrap_or_default();
//! }
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::hdr as wit;

pub use wit::Error;

impl From<Error> for crate::Stop {
    fn from(e: Error) -> Self {
        crate::Stop::Error(e.to_string())
    }
}

/// Add header lines after the last header.
pub fn append(headers: impl AsRef<str>) -> Result<(), Error> {
    wit::append(headers.as_ref())
}

/// Add header lines after the first header called `name`.
pub fn append_after(headers: impl AsRef<str>, name: impl AsRef<str>) -> Result<(), Error> {
    wit::append_after(headers.as_ref(), name.as_ref())
}

/// Add header lines before the first header.
pub fn insert(headers: impl AsRef<str>) -> Result<(), Error> {
    wit::insert(headers.as_ref())
}

/// Add header lines before the first header called `name`.
pub fn insert_before(headers: impl AsRef<str>, name: impl AsRef<str>) -> Result<(), Error> {
    wit::insert_before(headers.as_ref(), name.as_ref())
}

/// Remove every header called `name`; returns how many.
pub fn remove(name: impl AsRef<str>) -> Result<u32, Error> {
    wit::remove(name.as_ref())
}

/// True when the received message has a header called `name`.
pub fn is_present(name: impl AsRef<str>) -> bool {
    wit::is_present(name.as_ref())
}

/// Value of the first header called `name` in the received message.
pub fn get(name: impl AsRef<str>) -> Option<String> {
    wit::get(name.as_ref())
}
