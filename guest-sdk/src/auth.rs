//! Digest authentication with a password, or its HA1, the plugin supplies (Kamailio's
//! `pv_www_authenticate` / `pv_proxy_authenticate`, flag 1 for HA1). The router counts
//! every failure: a source that keeps guessing is banned and a user guessed at from many
//! addresses throttled (`[security]`), so a plugin needs no log line per failure.
//!
//! ```no_run
//! use sipwasm_sdk::auth::{self, Kind};
//! use sipwasm_sdk::core;
//! # fn password_of(user: &str) -> Option<String> { None }
//! # fn f() -> sipwasm_sdk::Route {
//! let user = auth::username(Kind::Www, "example.com");
//! let ok = match user.as_deref().and_then(password_of) {
//!     Some(pw) => auth::check(Kind::Www, "example.com", &pw).is_ok(),
//!     None => false,
//! };
//! if !ok {
//!     auth::challenge(Kind::Www, "example.com")?;
//!     return core::exit();
//! }
//! # Ok(()) }
//! ```

use crate::bindings::sipwasm::router::auth as wit;

pub use wit::{Algorithm, Error, Kind};

impl From<Error> for crate::Stop {
    fn from(e: Error) -> Self {
        crate::Stop::Error(format!("{e:?}"))
    }
}

/// Answer 401 (WWW) or 407 (proxy) with an MD5 challenge for `realm`.
pub fn challenge(kind: Kind, realm: impl AsRef<str>) -> Result<(), Error> {
    wit::challenge(kind, realm.as_ref(), &[Algorithm::Md5], false)
}

/// Answer with challenges for each of `algorithms` (the first preferred); `stale` tells
/// the client its nonce expired.
pub fn challenge_with(
    kind: Kind,
    realm: impl AsRef<str>,
    algorithms: &[Algorithm],
    stale: bool,
) -> Result<(), Error> {
    wit::challenge(kind, realm.as_ref(), algorithms, stale)
}

/// The username of the credentials for `realm`.
pub fn username(kind: Kind, realm: impl AsRef<str>) -> Option<String> {
    wit::username(kind, realm.as_ref())
}

/// Check the credentials for `realm` against `password`; returns the username.
pub fn check(
    kind: Kind,
    realm: impl AsRef<str>,
    password: impl AsRef<str>,
) -> Result<String, Error> {
    wit::check(kind, realm.as_ref(), password.as_ref())
}

/// Check the credentials for `realm` against HA1 hashes (`H(user:realm:password)` in hex,
/// an MD5 and/or a SHA-256 one separated by `:`, as `sipwasm passwd USER REALM` prints
/// them): the config then holds no password. Returns the username.
pub fn check_ha1(
    kind: Kind,
    realm: impl AsRef<str>,
    ha1: impl AsRef<str>,
) -> Result<String, Error> {
    wit::check_ha1(kind, realm.as_ref(), ha1.as_ref())
}

/// True when the request has Digest credentials for `realm` (any when empty).
pub fn has_credentials(kind: Kind, realm: impl AsRef<str>) -> bool {
    wit::has_credentials(kind, realm.as_ref())
}

/// Remove the credentials header before forwarding.
pub fn consume_credentials(kind: Kind) -> bool {
    wit::consume_credentials(kind)
}
