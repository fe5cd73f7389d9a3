//! # sipwasm-tm
//!
//! Sans-IO SIP transactions for a stateful proxy (RFC 3261 §16-17, RFC 6026): a [`Cell`]
//! holds the server transaction towards the caller and one client transaction per branch,
//! with retransmission timers A-M, `100 Trying`, hop-by-hop ACKs for non-2xx responses,
//! CANCEL, and the response context that picks what goes upstream. No sockets, no clock:
//! every entry point takes `now` and returns what to send, and [`Cell::next_deadline`] says
//! when to call [`Cell::on_timer`] again, so the unit tests drive it with a virtual clock.
#![deny(missing_docs)]

pub mod cell;
pub mod key;
pub mod msg;
pub mod wheel;

pub use cell::{
    Branch, BranchRequest, BranchState, Cell, CellError, FinalReply, LocalReplies, Relay,
    ResponseStep, ServerState, Target, TimerConfig,
};
pub use key::{BRANCH_PREFIX, CellId, KeyFor, ServerKey, branch_param, parse_branch};
pub use wheel::TimerWheel;

#[cfg(test)]
mod tests;
