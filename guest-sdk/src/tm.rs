//! Transactions, as Kamailio's `tm`: stateful forwarding, failure/onreply/branch routes.
//!
//! ```no_run
//! use sipwasm_sdk::{pv, sl, tm};
//! # fn f() -> sipwasm_sdk::Route {
//! pv::sets("$du", "sip:127.0.0.1:5080")?;
//! tm::t_on_failure("FAILOVER");
//! if tm::t_relay().is_err() {
//!     sl::send_reply(500, "Server error")?;
//! }
//! # Ok(()) }
//! ```
//!
//! `t_relay` and `t_reply` take effect when the route returns.

use crate::bindings::sipwasm::router::tm as wit;

pub use wit::Error;

impl From<Error> for crate::Stop {
    fn from(e: Error) -> Self {
        crate::Stop::Error(format!("{e:?}"))
    }
}

/// Forward statefully: the main branch (`$ru`, to `$du` when set) when it is new, and
/// every branch of the destination set, each with its own `$du`, Path and socket. The set
/// is consumed, so a failure route relays only what it adds.
pub fn t_relay() -> Result<(), Error> {
    wit::t_relay(None)
}

/// Forward statefully to `uri`.
pub fn t_relay_to(uri: impl AsRef<str>) -> Result<(), Error> {
    wit::t_relay(Some(uri.as_ref()))
}

/// Add a Request-URI to fork to in parallel.
pub fn append_branch(uri: impl AsRef<str>) -> Result<(), Error> {
    wit::append_branch(Some(uri.as_ref()))
}

/// Move the main branch as it is (`$ru`, `$du`, Path, socket) into the destination set
/// (`append_branch()` without a URI); `t_relay` then does not send it twice.
pub fn append_branch_current() -> Result<(), Error> {
    wit::append_branch(None)
}

/// Serial forking: order the destinations by q, highest first, for [`t_next_contacts`]
/// (`t_load_contacts`). Returns how many were loaded: 0 when there is one destination
/// (then relay as it is). Contacts of equal q make one group, forked in parallel.
///
/// ```no_run
/// use sipwasm_sdk::{registrar, tm};
/// # fn f() -> sipwasm_sdk::Route {
/// registrar::lookup("location")?;
/// if tm::t_load_contacts()? > 0 {
///     tm::t_next_contacts()?;          // the best group now, the others on failure
///     tm::t_on_failure("NEXT_CONTACTS");
/// }
/// tm::t_relay()?;
/// # Ok(()) }
/// ```
pub fn t_load_contacts() -> Result<u32, Error> {
    wit::t_load_contacts()
}

/// Take the next group of loaded contacts of equal q as the branches to relay
/// (`t_next_contacts`); false when none are left.
pub fn t_next_contacts() -> Result<bool, Error> {
    wit::t_next_contacts()
}

/// Run `branch_route[route]` for each branch before it is sent.
pub fn t_on_branch(route: impl AsRef<str>) {
    wit::t_on_branch(route.as_ref());
}

/// Run `onreply_route[route]` for each reply.
pub fn t_on_reply(route: impl AsRef<str>) {
    wit::t_on_reply(route.as_ref());
}

/// Run `failure_route[route]` when every branch failed.
pub fn t_on_failure(route: impl AsRef<str>) {
    wit::t_on_failure(route.as_ref());
}

/// Reply through the transaction.
pub fn t_reply(code: u16, reason: impl AsRef<str>) -> Result<(), Error> {
    wit::t_reply(code, reason.as_ref())
}

/// Create the transaction now.
pub fn t_newtran() -> Result<(), Error> {
    wit::t_newtran()
}

/// True when the request belongs to an existing transaction (a CANCEL: the INVITE it
/// cancels). Always false for an ACK: a failure's ACK is absorbed before any route runs,
/// a 2xx's ACK follows the dialog's route set (`rr::loose_route`).
pub fn t_check_trans() -> bool {
    wit::t_check_trans()
}

/// True when the transaction was canceled.
pub fn t_is_canceled() -> bool {
    wit::t_is_canceled()
}

/// Status of the reply in hand (onreply / failure route), or last sent.
pub fn t_get_status_code() -> Result<u16, Error> {
    wit::t_get_status_code()
}

/// Final-response timeouts in milliseconds (0 keeps the current value).
pub fn t_set_fr(fr_inv_ms: u32, fr_ms: u32) -> Result<(), Error> {
    wit::t_set_fr(fr_inv_ms, fr_ms)
}

/// Suspend the request's transaction (`t_suspend`, request routes only) and return its
/// `(tindex, tlabel)`: it is created now (100 Trying for an INVITE) and waits until
/// [`t_continue`] names it; its fr timer still runs (408 if it is never resumed).
pub fn t_suspend() -> Result<(u32, u32), Error> {
    wit::t_suspend()
}

/// Resume suspended transaction `(tindex, tlabel)` in `route[route]` ([`crate::Plugin::route`])
/// with the message and state its request route left, once the current event is done.
/// Works from any event: a non-SIP packet, another request. Unknown, stale or already
/// resumed ids fail at once (`Error::NoTransaction`, `Error::NotSuspended`).
pub fn t_continue(tindex: u32, tlabel: u32, route: impl AsRef<str>) -> Result<(), Error> {
    wit::t_continue(tindex, tlabel, route.as_ref())
}
