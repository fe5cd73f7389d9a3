//! Timers, as Kamailio's `rtimer` module: the timers your config section declares
//! (`[[plugin.rtimer]] name = "cleanup"`, `interval_ms = 5000`) run
//! [`Plugin::event_route`](crate::Plugin::event_route) with `"timer:cleanup"`; [`once`]
//! asks for one such event later. In the event, `$rtimer(name)` and `$rtimer(data)`
//! describe the timer; there is no SIP message.
//!
//! ```no_run
//! use sipwasm_sdk::{pv, rtimer, tm};
//! # fn f() -> sipwasm_sdk::Route {
//! // in request_route: hold the request, resume it in two seconds
//! let (index, label) = tm::t_suspend()?;
//! rtimer::once("resume", 2000, &format!("{index}:{label}"))?;
//! # Ok(()) }
//! # fn g() -> sipwasm_sdk::Route {
//! // in event_route("timer:resume")
//! let data = pv::gete("$rtimer(data)")?;
//! let (index, label) = data.split_once(':').unwrap_or_default();
//! tm::t_continue(index.parse().unwrap_or(0), label.parse().unwrap_or(0), "RESUME")?;
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::rtimer as wit;

pub use wit::Error;

impl From<Error> for crate::Stop {
    fn from(e: Error) -> Self {
        crate::Stop::Error(format!("rtimer: {e:?}"))
    }
}

/// Run `event_route[timer:NAME]` once, `delay_ms` from now, with `$rtimer(data)` set to
/// `data`.
pub fn once(name: impl AsRef<str>, delay_ms: u32, data: impl AsRef<str>) -> Result<(), Error> {
    wit::once(name.as_ref(), delay_ms, data.as_ref())
}
