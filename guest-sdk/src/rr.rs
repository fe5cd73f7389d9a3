//! Record-Route and loose routing, as Kamailio's `rr`.
//!
//! ```no_run
//! use sipwasm_sdk::{rr, tm};
//! # fn f() -> sipwasm_sdk::Route {
//! if rr::loose_route() {
//!     tm::t_relay()?;            // in-dialog request: follow the route set
//!     return sipwasm_sdk::core::exit();
//! }
//! rr::record_route()?;            // initial request: stay in the path
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::rr as wit;

pub use wit::Error;

impl From<Error> for crate::Stop {
    fn from(e: Error) -> Self {
        crate::Stop::Error(format!("{e:?}"))
    }
}

/// Insert a Record-Route when the request is forwarded.
pub fn record_route() -> Result<(), Error> {
    wit::record_route()
}

/// Insert a Record-Route with URI parameters.
pub fn record_route_params(params: impl AsRef<str>) -> Result<(), Error> {
    wit::record_route_params(params.as_ref())
}

/// Process Route headers; true when the request had some.
pub fn loose_route() -> bool {
    wit::loose_route()
}
