//! Text operations on the message, as Kamailio's `textops` and `textopsx`: the body set,
//! removed, searched and rewritten, header values rewritten, multipart parts read. Each
//! body operation sees the body as the previous ones left it; the Content-Length is always
//! written from the body sent.
//!
//! ```no_run
//! use sipwasm_sdk::textops;
//! # fn f() -> sipwasm_sdk::Route {
//! // hide the internal address in the offer, and keep only the SDP of a multipart body
//! textops::subst_body(r"/IN IP4 10\.[0-9.]+/IN IP4 203.0.113.5/g")?;
//! textops::filter_body("application/sdp")?;
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::textops as wit;

pub use wit::Error;

impl From<Error> for crate::Stop {
    fn from(e: Error) -> Self {
        crate::Stop::Error(format!("textops: {e:?}"))
    }
}

/// `has_body()` with `""`, `has_body(type)` with a Content-Type.
pub fn has_body(content_type: &str) -> bool {
    wit::has_body(content_type)
}

/// The body as it will be sent.
pub fn get_body() -> Vec<u8> {
    wit::get_body()
}

/// `set_body(body, type)`; `content_type` `""` keeps the message's.
pub fn set_body(body: impl AsRef<[u8]>, content_type: &str) -> Result<(), Error> {
    wit::set_body(body.as_ref(), content_type)
}

/// `remove_body()`.
pub fn remove_body() -> Result<(), Error> {
    wit::remove_body()
}

/// `set_reply_body(body, type)`: the body of the replies this event sends.
pub fn set_reply_body(body: impl AsRef<[u8]>, content_type: &str) -> Result<(), Error> {
    wit::set_reply_body(body.as_ref(), content_type)
}

/// `search(re)`: a match in the message as it will be sent.
pub fn search(re: &str) -> Result<bool, Error> {
    wit::search(re)
}

/// `search_body(re)`.
pub fn search_body(re: &str) -> Result<bool, Error> {
    wit::search_body(re)
}

/// `search_hf(name, re)`.
pub fn search_hf(name: &str, re: &str) -> Result<bool, Error> {
    wit::search_hf(name, re)
}

/// `replace_body(re, text)`: the first match replaced by `text` (literally); how many.
pub fn replace_body(re: &str, text: &str) -> Result<u32, Error> {
    wit::replace_body(re, text, false)
}

/// `replace_body_all(re, text)`.
pub fn replace_body_all(re: &str, text: &str) -> Result<u32, Error> {
    wit::replace_body(re, text, true)
}

/// `subst_body('/re/repl/flags')`: sed-like; how many matches were replaced.
pub fn subst_body(expr: &str) -> Result<u32, Error> {
    wit::subst_body(expr)
}

/// `subst_hf(name, '/re/repl/flags', which)`: `which` is `"f"` (first), `"l"` (last) or
/// `"a"` (all headers called `name`).
pub fn subst_hf(name: &str, expr: &str, which: &str) -> Result<u32, Error> {
    wit::subst_hf(name, expr, which)
}

/// `get_body_part(type)`.
pub fn get_body_part(content_type: &str) -> Option<Vec<u8>> {
    wit::get_body_part(content_type)
}

/// `filter_body(type)`.
pub fn filter_body(content_type: &str) -> Result<bool, Error> {
    wit::filter_body(content_type)
}
