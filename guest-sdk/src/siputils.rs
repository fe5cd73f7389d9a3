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
