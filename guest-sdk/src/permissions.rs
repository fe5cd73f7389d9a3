//! Who may send what, as Kamailio's `permissions` address table: groups of networks,
//! ports and transports from `[[permissions.address]]`. A match puts its entry's tag in
//! `$avp(peer_tag)`.
//!
//! ```no_run
//! use sipwasm_sdk::{core, permissions, sl};
//! # fn f() -> sipwasm_sdk::Route {
//! if !permissions::allow_source_address(1) {
//!     sl::send_reply(403, "Forbidden")?;
//!     return core::exit();
//! }
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::permissions as wit;

/// `allow_source_address(group)`: the request's source address, port and transport
/// match an entry of `group`.
pub fn allow_source_address(group: u32) -> bool {
    wit::allow_source_address(group)
}

/// `allow_address(group, ip, port)`; an error when `ip` is not an IP address.
pub fn allow_address(group: u32, ip: &str, port: u16) -> Result<bool, String> {
    wit::allow_address(group, ip, port)
}

/// `allow_source_address_group()`: the group of the first entry the source matches.
pub fn allow_source_address_group() -> Option<u32> {
    wit::allow_source_address_group()
}
