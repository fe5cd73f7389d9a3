//! SDP operations, as Kamailio's `sdpops` (and nathelper's c=/o= rewrite), on an
//! `application/sdp` body or the SDP part of a multipart one. Codec lists are names or
//! payload types separated by commas.
//!
//! ```no_run
//! use sipwasm_sdk::{sdpops, sl};
//! # fn f() -> sipwasm_sdk::Route {
//! if sdpops::sdp_content() {
//!     // transcoding-free trunk: G.711 and DTMF only
//!     sdpops::keep_codecs_by_name("PCMU,PCMA,telephone-event", "audio")?;
//!     if !sdpops::with_codecs_by_name("PCMU,PCMA")? {
//!         sl::send_reply(488, "Not Acceptable Here")?;
//!     }
//! }
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::sdpops as wit;

pub use wit::{Codec, Error};

impl From<Error> for crate::Stop {
    fn from(e: Error) -> Self {
        crate::Stop::Error(format!("sdpops: {e:?}"))
    }
}

/// `sdp_content()`: the message carries an SDP.
pub fn sdp_content() -> bool {
    wit::sdp_content()
}

/// `sdp_with_media(type)`.
pub fn with_media(media: &str) -> Result<bool, Error> {
    wit::with_media(media)
}

/// `sdp_with_codecs_by_name(list)`.
pub fn with_codecs_by_name(names: &str) -> Result<bool, Error> {
    wit::with_codecs_by_name(names)
}

/// `sdp_with_codecs_by_id(list)`.
pub fn with_codecs_by_id(ids: &str) -> Result<bool, Error> {
    wit::with_codecs_by_id(ids)
}

/// Every codec of every active stream.
pub fn list_codecs() -> Result<Vec<Codec>, Error> {
    wit::list_codecs()
}

/// `sdp_remove_codecs_by_name(list)`: how many went.
pub fn remove_codecs_by_name(names: &str) -> Result<u32, Error> {
    wit::remove_codecs_by_name(names)
}

/// `sdp_remove_codecs_by_id(list)`.
pub fn remove_codecs_by_id(ids: &str) -> Result<u32, Error> {
    wit::remove_codecs_by_id(ids)
}

/// `sdp_keep_codecs_by_name(list, media)`; `media` `""` for every stream.
pub fn keep_codecs_by_name(names: &str, media: &str) -> Result<u32, Error> {
    wit::keep_codecs_by_name(names, media)
}

/// `sdp_keep_codecs_by_id(list, media)`.
pub fn keep_codecs_by_id(ids: &str, media: &str) -> Result<u32, Error> {
    wit::keep_codecs_by_id(ids, media)
}

/// `sdp_remove_media(type)`.
pub fn remove_media(media: &str) -> Result<u32, Error> {
    wit::remove_media(media)
}

/// Every `c=` line to `ip`.
pub fn set_connection_address(ip: &str) -> Result<u32, Error> {
    wit::set_connection_address(ip)
}

/// The `o=` address to `ip`.
pub fn set_origin_address(ip: &str) -> Result<bool, Error> {
    wit::set_origin_address(ip)
}
