//! The plugin's settings: the `[plugin.config]` table of the router config.
//!
//! ```no_run
//! let next_hop = sipwasm_sdk::config::get("next_hop").unwrap_or("sip:127.0.0.1:5080".into());
//! ```

use crate::bindings::sipwasm::router::config as wit;

/// The value of `key`.
pub fn get(key: impl AsRef<str>) -> Option<String> {
    wit::get(key.as_ref())
}

/// Every key that is set, sorted.
pub fn keys() -> Vec<String> {
    wit::keys()
}
