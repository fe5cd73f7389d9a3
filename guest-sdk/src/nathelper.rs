//! NAT traversal for signalling, as Kamailio's `nathelper`.
//!
//! After Kamailio's default config (`route[NATDETECT]`, `route[DLGURI]`):
//!
//! ```no_run
//! use sipwasm_sdk::{core, nathelper, siputils};
//! # fn f() -> sipwasm_sdk::Route {
//! core::force_rport();                         // replies to the source port
//! if nathelper::nat_uac_test(19) {
//!     if core::is_method("REGISTER") {
//!         nathelper::fix_nated_register()?;
//!     } else if !siputils::has_totag() {
//!         nathelper::set_contact_alias(false)?;
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! and, for requests inside a dialog, once `loose_route` left no `$du`:
//! `nathelper::handle_ruri_alias()?`.

use crate::bindings::sipwasm::router::nathelper as wit;

pub use wit::Error;

impl From<Error> for crate::Stop {
    fn from(e: Error) -> Self {
        crate::Stop::Error(format!("{e:?}"))
    }
}

/// `nat_uac_test` bit: the Contact is a private IPv4 address.
pub const CONTACT_PRIVATE: u32 = 1;
/// The top Via host is not the source IP.
pub const VIA_RECEIVED: u32 = 2;
/// The top Via host is a private IPv4 address.
pub const VIA_PRIVATE: u32 = 4;
/// An SDP `c=` address is private.
pub const SDP_PRIVATE: u32 = 8;
/// The source port is not the Via port.
pub const VIA_PORT: u32 = 16;
/// The source is a private address.
pub const SOURCE_PRIVATE: u32 = 32;
/// The source port is not the Contact port.
pub const CONTACT_PORT: u32 = 128;
/// An SDP `c=` address is not the source IP.
pub const SDP_SOURCE: u32 = 256;

/// True when one of the tests in `flags` says the sender is behind NAT (Kamailio's bits;
/// the constants of this module). Kamailio's default config tests 19.
pub fn nat_uac_test(flags: u32) -> bool {
    wit::nat_uac_test(flags)
}

/// Rewrite the first Contact's host and port to the source address.
pub fn fix_nated_contact() -> Result<(), Error> {
    wit::fix_nated_contact()
}

/// Make `registrar::save` keep the REGISTER's source address for the binding.
pub fn fix_nated_register() -> Result<(), Error> {
    wit::fix_nated_register()
}

/// Add `;alias=IP~PORT~PROTO` of the source to the Contact unless it already is the
/// source (an `alias` the UA wrote itself is removed); true when added.
pub fn add_contact_alias() -> Result<bool, Error> {
    wit::add_contact_alias()
}

/// Add `;alias=IP~PORT~PROTO` of the source at the end of the Contact URI; `trim`
/// removes one it had first.
pub fn set_contact_alias(trim: bool) -> Result<(), Error> {
    wit::set_contact_alias(trim)
}

/// Send the request to the `alias` of its Request-URI and remove it; true when there was
/// one.
pub fn handle_ruri_alias() -> Result<bool, Error> {
    wit::handle_ruri_alias()
}

/// The same as [`crate::core::force_rport`] (Kamailio's `add_rport`).
pub fn add_rport() {
    wit::add_rport();
}
