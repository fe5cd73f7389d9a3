//! Load balancing with health probes and failover, as Kamailio's `dispatcher` module
//! (`ds_select_dst`, `ds_next_dst`, `ds_mark_dst`, `ds_is_from_list`, ...). The sets are
//! `[[dispatcher.destination]]`s of the router config; algorithms go by Kamailio's
//! numbers (0 Call-ID hash, 4 round-robin, 8 priority, 9 weight, 10 call load, ...).
//!
//! ```no_run
//! use sipwasm_sdk::{dispatcher, sl, tm};
//! # fn request() -> sipwasm_sdk::Route {
//! // request_route: spread calls over set 1, round-robin; failover in "gw_failed"
//! if !dispatcher::select_dst(1, 4)? {
//!     sl::send_reply(503, "No gateway")?;
//!     return Ok(());
//! }
//! tm::t_on_failure("gw_failed");
//! tm::t_relay()?;
//! # Ok(()) }
//! # fn failure() -> sipwasm_sdk::Route {
//! // failure_route[gw_failed]: on the gateway's trouble (no answer, 500, 502, 503) it is
//! // out until it answers probes; try the next (never after a 6xx: final everywhere)
//! let code = tm::t_get_status_code()?;
//! if matches!(code, 408 | 500 | 502 | 503) {
//!     dispatcher::mark_dst("ip")?;
//!     if dispatcher::next_dst()? {
//!         tm::t_on_failure("gw_failed");
//!         tm::t_relay()?;
//!     }
//! }
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::dispatcher as wit;

pub use wit::Error;

impl From<Error> for crate::Stop {
    fn from(e: Error) -> Self {
        crate::Stop::Error(format!("dispatcher: {e:?}"))
    }
}

/// `ds_select_dst(set, alg)`: `$du` becomes a destination of `set`, every other active
/// one kept for [`next_dst`]. `false` when none is active.
pub fn select_dst(set: u32, alg: u32) -> Result<bool, Error> {
    select_dst_limit(set, alg, 0)
}

/// `ds_select_dst(set, alg, limit)`: at most `limit` destinations in all (0: no limit).
pub fn select_dst_limit(set: u32, alg: u32, limit: u32) -> Result<bool, Error> {
    found(wit::select_dst(set, alg, limit))
}

/// `ds_select_domain(set, alg)`: the Request-URI's host and port become the
/// destination's, instead of `$du`. `false` when none is active.
pub fn select_domain(set: u32, alg: u32) -> Result<bool, Error> {
    found(wit::select_domain(set, alg, 0))
}

/// `ds_next_dst` (and `ds_next_domain`): the next destination kept by the selection;
/// `false` when every one was tried.
pub fn next_dst() -> Result<bool, Error> {
    found(wit::next_dst())
}

/// `ds_mark_dst(state)`: "ip" takes the destination last selected out of service until
/// it answers probes; "a" active, "i" inactive, "d" disabled, "t" trying.
pub fn mark_dst(state: &str) -> Result<(), Error> {
    wit::mark_dst(state)
}

/// `ds_is_from_list(set)`: the set (`None`: any granted) whose destination sent the
/// request.
pub fn is_from_list(set: Option<u32>) -> Option<u32> {
    wit::is_from_list(set)
}

/// `ds_load_unset`: the call (balanced with algorithm 10) failed.
pub fn load_unset() -> bool {
    wit::load_unset()
}

/// `ds_load_update`: on its BYE or CANCEL, the call ends.
pub fn load_update() -> bool {
    wit::load_update()
}

fn found(r: Result<(), Error>) -> Result<bool, Error> {
    match r {
        Ok(()) => Ok(true),
        Err(Error::NoneActive | Error::NoneLeft) => Ok(false),
        Err(e) => Err(e),
    }
}
