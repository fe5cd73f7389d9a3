//! Flood detection per source address, as Kamailio's `pike` module (`pike_check_req`):
//! a source over `[pike]`'s density within a sampling unit is blocked until it calms
//! down.
//!
//! ```no_run
//! use sipwasm_sdk::{core, pike};
//! # fn f() -> sipwasm_sdk::Route {
//! if !pike::pike_check_req() {
//!     return core::drop(); // flooding: not even an answer
//! }
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::pike as wit;

pub use wit::Standing;

/// `pike_check_req()`: `true` while the request's source is under the limit.
pub fn pike_check_req() -> bool {
    check_req() == Standing::Allowed
}

/// The source's standing after this request ([`Standing::NewlyBlocked`] once, when it
/// goes over).
pub fn check_req() -> Standing {
    wit::check_req()
}

/// `pike_check_ip(ip)`: count a request against `ip`; `None` when it is not an IP
/// address.
pub fn pike_check_ip(ip: &str) -> Option<Standing> {
    wit::check_ip(ip)
}
