//! Outbound UDP, to destinations the router config grants (`udp_allow` in `[plugin]`);
//! denied otherwise. At most 16 datagrams per event, sent when the event ends.
//!
//! ```no_run
//! use sipwasm_sdk::net;
//! # fn f() -> sipwasm_sdk::Route {
//! net::send_udp("127.0.0.1:9999", "SUSPENDED:1:2:call-id")?;
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::net as wit;

pub use wit::Error;

impl From<Error> for crate::Stop {
    fn from(e: Error) -> Self {
        crate::Stop::Error(format!("net: {e:?}"))
    }
}

/// Send `payload` to `dst` (`"IP:PORT"`) from one of the router's UDP sockets.
pub fn send_udp(dst: impl AsRef<str>, payload: impl AsRef<[u8]>) -> Result<(), Error> {
    wit::send_udp(dst.as_ref(), payload.as_ref())
}
