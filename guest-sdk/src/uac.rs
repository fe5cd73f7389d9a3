//! The router as a client, as Kamailio's `uac` module: answer a carrier's challenge in a
//! failure route ([`auth`]), replace From and To on the way out and have them restored in
//! replies and later requests of the dialog ([`replace_from`], [`replace_to`]), send a
//! request of the router's own ([`req_send`]).
//!
//! ```no_run
//! use sipwasm_sdk::{config, pv, tm, uac};
//! # fn failure_route() -> sipwasm_sdk::Route {
//! // failure_route: the carrier asked for credentials
//! let code = pv::gete("$T(reply_code)")?;
//! if code == "401" || code == "407" {
//!     let user = config::get("trunk_user").unwrap_or_default();
//!     let password = config::get("trunk_password").unwrap_or_default();
//!     uac::auth("carrier.example.com", &user, &password)?;
//!     tm::t_relay()?;
//! }
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::uac as wit;

pub use wit::{Error, Request};

impl From<Error> for crate::Stop {
    fn from(e: Error) -> Self {
        crate::Stop::Error(format!("uac: {e:?}"))
    }
}

/// `uac_auth()`: credentials for `realm` answering the failure route's 401/407 (a
/// challenge for another realm is not answered), for the next relay.
pub fn auth(realm: &str, username: &str, password: &str) -> Result<(), Error> {
    wit::auth(realm, username, password)
}

/// `uac_replace_from(display, uri)` (`""` display: none).
pub fn replace_from(display: &str, uri: &str) -> Result<(), Error> {
    wit::replace_from(display, uri)
}

/// `uac_replace_to(display, uri)`.
pub fn replace_to(display: &str, uri: &str) -> Result<(), Error> {
    wit::replace_to(display, uri)
}

/// `uac_req_send()`: `req` sent from the router (again over UDP until answered; not
/// INVITE, ACK or CANCEL).
pub fn req_send(req: &Request) -> Result<(), Error> {
    wit::req_send(req)
}
