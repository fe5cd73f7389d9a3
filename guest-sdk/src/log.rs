//! Logging to the router's log, tagged with the plugin name by the host.
//!
//! ```no_run
//! use sipwasm_sdk::{info, log, warn};
//! # fn f() -> sipwasm_sdk::Route {
//! info!("request from {}", sipwasm_sdk::pv::gete("$si")?);
//! log::xlog(log::Level::Info, "$rm from $fu to $ru")?;   // xlog: pseudo-variables expanded
//! warn!("something odd");
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::log as wit;

pub use wit::Level;

/// Log `message` at `level`.
pub fn log(level: Level, message: &str) {
    wit::log(level, message);
}

/// Expand pseudo-variables in `template` and log the result (Kamailio's `xlog`).
pub fn xlog(level: Level, template: impl AsRef<str>) -> Result<(), crate::pv::Error> {
    wit::xlog(level, template.as_ref())
}

/// Log at debug level, `format!` style.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Debug, &::std::format!($($arg)*)) };
}

/// Log at info level, `format!` style.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Info, &::std::format!($($arg)*)) };
}

/// Log at notice level, `format!` style.
#[macro_export]
macro_rules! notice {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Notice, &::std::format!($($arg)*)) };
}

/// Log at warning level, `format!` style.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Warn, &::std::format!($($arg)*)) };
}

/// Log at error level, `format!` style.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Error, &::std::format!($($arg)*)) };
}

/// Log at critical level, `format!` style.
#[macro_export]
macro_rules! crit {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Crit, &::std::format!($($arg)*)) };
}
