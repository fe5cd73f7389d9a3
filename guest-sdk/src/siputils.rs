//! Checks of Kamailio's `siputils`.
//!
//! ```no_run
//! use sipwasm_sdk::{rr, siputils};
//! # fn f() -> sipwasm_sdk::Route {
//! if siputils::has_totag() {
//!     let _ = rr::loose_route()?;   // a request inside a dialog
//! }
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::siputils as wit;

/// True when the request has a To tag: it belongs to a dialog (`has_totag`).
pub fn has_totag() -> bool {
    wit::has_totag()
}

pub use wit::Error;

impl From<Error> for crate::Stop {
    fn from(e: Error) -> Self {
        crate::Stop::Error(format!("siputils: {e:?}"))
    }
}

/// `is_e164(number)`: `+` and 2 to 15 digits.
pub fn is_e164(number: &str) -> bool {
    wit::is_e164(number)
}

/// `is_uri_user_e164(uri)`: the user part of `uri` is an E.164 number.
pub fn is_uri_user_e164(uri: &str) -> bool {
    wit::is_uri_user_e164(uri)
}

/// `is_user(user)`: the credentials `auth` checked carry that user name.
pub fn is_user(user: &str) -> bool {
    wit::is_user(user)
}

/// `uri_param(name)` / `uri_param(name, value)` on the Request-URI.
pub fn uri_param(name: &str, value: Option<&str>) -> bool {
    wit::uri_param(name, value)
}

/// `add_uri_param(param)`: `name` or `name=value` added to the Request-URI.
pub fn add_uri_param(param: &str) -> Result<(), Error> {
    wit::add_uri_param(param)
}

/// `tel2sip(uri, hostpart)`: `None` when `uri` is not a `tel:` URI.
pub fn tel2sip(uri: &str, hostpart: &str) -> Result<Option<String>, Error> {
    wit::tel2sip(uri, hostpart)
}
