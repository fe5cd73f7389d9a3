//! Path (RFC 3327) for an edge proxy in front of a registrar, as Kamailio's `path`.
//!
//! ```no_run
//! use sipwasm_sdk::{core, path, tm};
//! # fn f() -> sipwasm_sdk::Route {
//! if core::is_method("REGISTER") {
//!     path::add_path_received()?;            // requests for the phone come back here
//!     tm::t_relay_to("sip:registrar.example.com")?;
//!     return core::exit();
//! }
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::path as wit;

pub use wit::Error;

impl From<Error> for crate::Stop {
    fn from(e: Error) -> Self {
        crate::Stop::Error(format!("{e:?}"))
    }
}

/// Put a Path entry for this router into the forwarded REGISTER (`add_path`); for a UA
/// using outbound it carries the UA's flow token.
pub fn add_path() -> Result<(), Error> {
    wit::add_path(None)
}

/// [`add_path`] with `user` as the URI's user part (`add_path("user")`).
pub fn add_path_user(user: impl AsRef<str>) -> Result<(), Error> {
    wit::add_path(Some(user.as_ref()))
}

/// [`add_path`] with `;received=` naming where the REGISTER came from
/// (`add_path_received`): requests for the contact go back to that address.
pub fn add_path_received() -> Result<(), Error> {
    wit::add_path_received(None)
}
