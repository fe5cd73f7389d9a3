//! Stateless forwarding (`forward`, `forward_uri`).
//!
//! ```no_run
//! # fn f() -> sipwasm_sdk::Route {
//! sipwasm_sdk::forward::forward_uri("sip:127.0.0.1:5080;transport=tcp")?;
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::forward as wit;

pub use wit::Error;

impl From<Error> for crate::Stop {
    fn from(e: Error) -> Self {
        crate::Stop::Error(format!("{e:?}"))
    }
}

/// Forward to `$du`, else `$ru`.
pub fn forward() -> Result<(), Error> {
    wit::forward(None)
}

/// Forward to `uri`.
pub fn forward_uri(uri: impl AsRef<str>) -> Result<(), Error> {
    wit::forward(Some(uri.as_ref()))
}
