//! Record-Route and loose routing, as Kamailio's `rr`.
//!
//! The usual shape of a proxy, after Kamailio's default config: requests inside a dialog
//! follow their route set; initial requests drop the Route headers a phone preloaded,
//! pass the route's checks, and are record-routed before they are relayed.
//!
//! ```no_run
//! use sipwasm_sdk::{core, hdr, rr, siputils, sl, tm};
//! # fn f() -> sipwasm_sdk::Route {
//! if siputils::has_totag() {
//!     // a forged Route is answered 403 by the router, and `?` ends the route
//!     if rr::loose_route()?.is_routed() {
//!         tm::t_relay()?;
//!         return core::exit();
//!     }
//!     if core::is_method("ACK") {
//!         return core::exit();   // outside the route set: nobody's to relay
//!     }
//!     sl::send_reply(404, "Not here")?;
//!     return core::exit();
//! }
//! hdr::remove("Route")?;          // initial request: preloaded Routes are not followed
//! // ... authenticate, look up ...
//! rr::record_route()?;            // stay in the path of the dialog
//! tm::t_relay()?;
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::rr as wit;

pub use wit::{Error, Routed};

impl From<Error> for crate::Stop {
    fn from(e: Error) -> Self {
        match e {
            // the router already answered 403: the route just ends
            Error::Forbidden(_) => crate::Stop::Exit,
            other => crate::Stop::Error(format!("{other:?}")),
        }
    }
}

impl Routed {
    /// True when the next hop came from the route set (Kamailio's `loose_route() > 0`):
    /// relay the request.
    pub fn is_routed(self) -> bool {
        matches!(self, Routed::RouteSet | Routed::Flow)
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

/// Process the Route headers (see [`Routed`]). In a dialog the top Route must be this
/// router's Record-Route for this dialog: otherwise the router answers 403 and this
/// returns [`Error::Forbidden`], which `?` turns into the end of the route. An in-dialog
/// request with no Route ([`Routed::NoRoute`] and a To tag) was checked against no dialog:
/// answer it 404 as the examples do, do not relay it.
pub fn loose_route() -> Result<Routed, Error> {
    wit::loose_route()
}
