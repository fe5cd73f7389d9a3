//! Non-SIP packets, as Kamailio's nosip module: override [`crate::Plugin::nosip_msg`]
//! (`event_route[nosip:msg]`) and read the packet with `pv::get("$mb")`.
//!
//! ```no_run
//! use sipwasm_sdk::{info, nosip, pv, tm};
//! # fn f() -> sipwasm_sdk::Route {
//! // :KREQUEST-RESUME-TRANSACTION:<tindex>:<tlabel>:<route>:
//! if pv::gete("$si")? == "127.0.0.1" {
//!     let index = pv::gete("$(mb{s.select,2,:})")?.parse().unwrap_or(0);
//!     let label = pv::gete("$(mb{s.select,3,:})")?.parse().unwrap_or(0);
//!     let route = pv::gete("$(mb{s.select,4,:})")?;
//!     if let Err(e) = tm::t_continue(index, label, &route) {
//!         nosip::reply(format!("ERROR {e:?}\n"))?;
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Which packets arrive is set in the router config (`[nosip]`: `min_size`, `msg_match`,
//! `msg_skip`); keep-alives never do.

use crate::bindings::sipwasm::router::nosip as wit;

pub use wit::Error;

impl From<Error> for crate::Stop {
    fn from(e: Error) -> Self {
        crate::Stop::Error(format!("nosip: {e:?}"))
    }
}

/// Send `data` back to the packet's sender, on the socket or connection it came in on
/// (when the event ends).
pub fn reply(data: impl AsRef<[u8]>) -> Result<(), Error> {
    wit::reply(data.as_ref())
}
