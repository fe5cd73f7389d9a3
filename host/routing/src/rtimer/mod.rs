//! Plugin timers: Kamailio's `rtimer` module, one-shot timers, and the htable expiry
//! event.
//!
//! A plugin's config section declares its timers ([`TimerSpec`]); the router ticks each
//! and runs `event_route[timer:NAME]` on the plugin. A route can also ask for one event
//! later ([`OneShot`], `rtimer.once`), which the router keeps per tenant (bounded). An
//! entry of a table with `expired_event` that expires runs `event_route[htable:expired:T]`.
//! All three are a [`TimerEvent`] (in `route`): no SIP message, no sender;
//! `$rtimer(name|data)`, `$shtrecord(key|value)`, `$var(x)` and `$sht(t=>k)`. This module
//! holds the checks the router's timer thread needs too.

use std::time::Duration;

mod route;
pub use route::*;

/// Longest delay of a one-shot timer.
pub const MAX_DELAY: Duration = Duration::from_secs(86_400);
/// Most bytes of a one-shot timer's data.
pub const MAX_DATA: usize = 1024;
/// Most one-shot timers one tenant may have waiting.
pub const MAX_PENDING: u32 = 1024;
/// Shortest interval of a configured timer.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// Most configured timers per plugin.
pub const MAX_TIMERS: usize = 32;

/// Why a timer was refused; mirrors the WIT `rtimer.error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RtimerError {
    /// Not 1-64 characters of `a-z A-Z 0-9 _ - .`.
    #[error("bad timer name {0:?} (1-64 characters of a-z, A-Z, 0-9, _, -, .)")]
    InvalidName(String),
    /// Delay or data too large.
    #[error("{0}")]
    OutOfRange(String),
    /// The tenant has [`MAX_PENDING`] waiting.
    #[error("{0} one-shot timers are waiting already")]
    TooMany(u32),
    /// Nothing runs timers for this event.
    #[error("no timers here")]
    Unavailable,
}

/// Check a timer name: it becomes part of the event route's name.
pub fn check_name(name: &str) -> Result<(), RtimerError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(RtimerError::InvalidName(name.to_string()))
    }
}

/// A configured timer (`[[plugin.rtimer]]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimerSpec {
    /// The `NAME` of `event_route[timer:NAME]`.
    pub name: String,
    /// Time between two ticks.
    pub interval: Duration,
}

/// One event later, once (`rtimer.once`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OneShot {
    /// The `NAME` of `event_route[timer:NAME]`.
    pub name: String,
    /// From now.
    pub delay: Duration,
    /// `$rtimer(data)` in the event.
    pub data: String,
}

impl OneShot {
    /// A one-shot timer as a plugin asked for it, checked.
    pub fn new(name: &str, delay_ms: u32, data: &str) -> Result<OneShot, RtimerError> {
        check_name(name)?;
        let delay = Duration::from_millis(u64::from(delay_ms));
        if delay > MAX_DELAY {
            return Err(RtimerError::OutOfRange(format!(
                "a delay of {delay_ms} ms (at most a day)"
            )));
        }
        if data.len() > MAX_DATA {
            return Err(RtimerError::OutOfRange(format!(
                "{} bytes of data (at most {MAX_DATA})",
                data.len()
            )));
        }
        Ok(OneShot {
            name: name.to_string(),
            delay,
            data: data.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("cleanup").is_ok());
        assert!(check_name("a.b-c_9").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a:b").is_err());
        assert!(check_name(&"x".repeat(65)).is_err());
        assert!(OneShot::new("x", 86_400_000, "").is_ok());
        assert!(matches!(
            OneShot::new("x", 86_400_001, ""),
            Err(RtimerError::OutOfRange(_))
        ));
        assert!(matches!(
            OneShot::new("x", 1, &"d".repeat(1025)),
            Err(RtimerError::OutOfRange(_))
        ));
        assert_eq!(
            OneShot::new("x y", 1, ""),
            Err(RtimerError::InvalidName("x y".into()))
        );
    }
}
