//! Registrar and location service, as Kamailio's `registrar`.
//!
//! ```no_run
//! use sipwasm_sdk::{core, registrar, sl, tm};
//! # fn f() -> sipwasm_sdk::Route {
//! if core::is_method("REGISTER") {
//!     registrar::save("location")?;          // answers the REGISTER itself
//!     return core::exit();
//! }
//! if registrar::lookup("location").is_err() {
//!     sl::send_reply(404, "Not Found")?;
//!     return core::exit();
//! }
//! tm::t_relay()?;
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::registrar as wit;

pub use wit::Error;

impl From<Error> for crate::Stop {
    fn from(e: Error) -> Self {
        crate::Stop::Error(format!("{e:?}"))
    }
}

/// Store the REGISTER's bindings and answer it; returns how many contacts are bound.
pub fn save(table: impl AsRef<str>) -> Result<u32, Error> {
    wit::save(table.as_ref())
}

/// Point the request at the registered contacts; returns how many there are.
pub fn lookup(table: impl AsRef<str>) -> Result<u32, Error> {
    wit::lookup(table.as_ref())
}

/// True when the Request-URI has a binding.
pub fn registered(table: impl AsRef<str>) -> bool {
    wit::registered(table.as_ref(), None)
}

/// True when `uri` has a binding.
pub fn registered_uri(table: impl AsRef<str>, uri: impl AsRef<str>) -> bool {
    wit::registered(table.as_ref(), Some(uri.as_ref()))
}
