//! Core functions of `KSR`: flags, method tests, `is_myself`, and ending a route.
//!
//! ```no_run
//! use sipwasm_sdk::{core, sl};
//! # fn f() -> sipwasm_sdk::Route {
//! if core::is_method_in("IR") {          // INVITE or REGISTER
//!     core::set_flag(1)?;
//! }
//! if !core::is_myself_ruri() {
//!     sl::send_reply(403, "Relaying Forbidden")?;
//!     return core::exit();
//! }
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::core as wit;
use crate::{Route, Stop};

pub use wit::Error;

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Error(e.to_string())
    }
}

/// Stop processing the message: `return core::exit();` (Kamailio's `exit`).
pub fn exit() -> Route {
    Err(Stop::Exit)
}

/// Stop processing and drop the message: `return core::drop();` (Kamailio's `drop`).
pub fn drop() -> Route {
    Err(Stop::Drop)
}

/// Mark the message not to be sent on when the event ends, and keep running
/// (`KSR.set_drop`).
pub fn set_drop() {
    wit::set_drop();
}

/// Handle the request as if its top Via asked for `rport` (`force_rport`): replies go to
/// its source port, and its Via gets `rport`/`received` when forwarded.
pub fn force_rport() {
    wit::force_rport();
}

/// Name `host` instead of the socket's address in our Via and outgoing Record-Route of
/// this request (`set_advertised_address`); `""` resets.
pub fn set_advertised_address(host: impl AsRef<str>) -> Result<(), Error> {
    wit::set_advertised_address(host.as_ref())
}

/// The port to name with it (`set_advertised_port`); 0 resets.
pub fn set_advertised_port(port: u16) {
    wit::set_advertised_port(port);
}

/// Set message flag `flag` (0..31).
pub fn set_flag(flag: u32) -> Result<(), Error> {
    wit::set_flag(flag)
}

/// Clear message flag `flag`.
pub fn reset_flag(flag: u32) -> Result<(), Error> {
    wit::reset_flag(flag)
}

/// Test message flag `flag`.
pub fn is_flag_set(flag: u32) -> Result<bool, Error> {
    wit::is_flag_set(flag)
}

/// True when the method is `method` (ignoring case; for replies the CSeq method).
pub fn is_method(method: impl AsRef<str>) -> bool {
    wit::is_method(method.as_ref())
}

/// True when the method is one of those given by letter (`"IABC"`: INVITE, ACK, BYE,
/// CANCEL; see the WIT docs for all letters).
pub fn is_method_in(letters: impl AsRef<str>) -> bool {
    wit::is_method_in(letters.as_ref())
}

/// True when `uri` points at this router.
pub fn is_myself(uri: impl AsRef<str>) -> Result<bool, Error> {
    wit::is_myself(uri.as_ref())
}

/// `is_myself` on the Request-URI.
pub fn is_myself_ruri() -> bool {
    wit::is_myself_ruri()
}

/// `is_myself` on the From URI.
pub fn is_myself_furi() -> bool {
    wit::is_myself_furi()
}

/// `is_myself` on the To URI.
pub fn is_myself_turi() -> bool {
    wit::is_myself_turi()
}

/// True when the message came from one of the router's own addresses.
pub fn is_myself_srcip() -> bool {
    wit::is_myself_srcip()
}
