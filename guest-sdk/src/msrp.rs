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

pub use wit::Error;

impl From<Error> for crate::Stop {
    fn from(e: Error) -> Self {
        crate::Stop::Error(format!("msrp: {e:?}"))
    }
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
