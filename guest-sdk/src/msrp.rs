//! MSRP frames, as Kamailio's msrp module: override [`crate::Plugin::msrp_frame_in`]
//! (`event_route[msrp:frame-in]`) and read the frame with `pv::get("$msrp(key)")`.
//!
//! ```no_run
//! use sipwasm_sdk::{msrp, pv};
//! # fn f() -> sipwasm_sdk::Route {
//! if msrp::is_request() && pv::gete("$msrp(method)")? == "SEND" {
//!     msrp::reply(200, "OK", None)?;
//! }
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::msrp as wit;

pub use wit::{Error, RelayError};

impl From<Error> for crate::Stop {
    fn from(e: Error) -> Self {
        crate::Stop::Error(format!("msrp: {e:?}"))
    }
}

impl From<RelayError> for crate::Stop {
    fn from(e: RelayError) -> Self {
        crate::Stop::Error(format!("msrp relay: {e:?}"))
    }
}

/// Relay the frame, request or response (`msrp_relay`, RFC 4976): to the next To-Path
/// hop (or the [`set_dst`] destination), this hop moved from To-Path to From-Path.
pub fn relay() -> Result<(), RelayError> {
    wit::relay()
}

/// Send the frame with these To-Path and From-Path values to the first To-Path URI.
pub fn forward(to_path: &str, from_path: &str) -> Result<(), RelayError> {
    wit::forward(to_path, from_path)
}

/// Relay to `addr` (`msrp://IP:PORT/...;tcp`, or a stored `$msrp(srcaddr)`) from local
/// socket `sock` (`tcp:IP:PORT`, or a stored `$msrp(srcsock)`; `""` for any).
pub fn set_dst(addr: &str, sock: &str) -> Result<(), RelayError> {
    wit::set_dst(addr, sock)
}

/// Relay flags: 1 = only on an open connection, 2 = close it after sending.
pub fn relay_flags(flags: u32) {
    wit::relay_flags(flags)
}

/// The same flags for [`reply`].
pub fn reply_flags(flags: u32) {
    wit::reply_flags(flags)
}

/// Answer the request on its connection (`msrp_reply`); `headers` are extra
/// `Name: value` lines separated by CRLF.
pub fn reply(code: u16, text: impl AsRef<str>, headers: Option<&str>) -> Result<(), Error> {
    wit::reply(code, text.as_ref(), headers)
}

/// True when the frame is a request.
pub fn is_request() -> bool {
    wit::is_request()
}

/// True when the frame is a response.
pub fn is_reply() -> bool {
    wit::is_reply()
}
