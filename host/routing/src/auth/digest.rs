//! Digest computation and the nonces this router issued: parsing credentials, checking
//! responses, building challenges, remembering which nonces were used.

use md5::Md5;
use sha2::{Digest, Sha256};
use sipwasm_proto::HeaderName;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// How long a nonce is accepted (seconds).
pub const NONCE_LIFETIME: u64 = 300;
/// Nonces remembered for replay detection before the oldest are dropped.
const MAX_TRACKED: usize = 100_000;

/// Digest algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// `MD5`
    Md5,
    /// `SHA-256`
    Sha256,
}

impl Algorithm {
    /// Its name in `algorithm=`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// The algorithm `algorithm=` names, when we speak it.
    pub fn from_name(s: &str) -> Option<Algorithm> {
        if s.eq_ignore_ascii_case("MD5") {
            Some(Algorithm::Md5)
        } else if s.eq_ignore_ascii_case("SHA-256") {
            Some(Algorithm::Sha256)
        } else {
            None
        }
    }

    fn hash(self, data: &str) -> String {
        match self {
            Algorithm::Md5 => hex(&Md5::digest(data.as_bytes())),
            Algorithm::Sha256 => hex(&Sha256::digest(data.as_bytes())),
        }
    }
}

/// `b` as lowercase hex.
pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Which header pair a challenge uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Realm {
    /// 401 with WWW-Authenticate, answered in Authorization (registrars, MSRP AUTH).
    Www,
    /// 407 with Proxy-Authenticate, answered in Proxy-Authorization.
    Proxy,
}

impl Realm {
    pub(super) fn credentials_header(self) -> HeaderName {
        match self {
            Realm::Www => HeaderName::Authorization,
            Realm::Proxy => HeaderName::ProxyAuthorization,
        }
    }
}

/// Why credentials were refused; mirrors the WIT `auth.error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No Digest credentials for the realm.
    #[error("no credentials")]
    NoCredentials,
    /// Malformed credentials.
    #[error("malformed credentials: {0}")]
    Malformed(String),
    /// The nonce is not ours or was tampered with.
    #[error("invalid nonce")]
    InvalidNonce,
    /// The nonce expired: challenge again with `stale=true`.
    #[error("stale nonce")]
    StaleNonce,
    /// The nonce (or nonce count) was used before: a replay.
    #[error("nonce replayed")]
    NonceReused,
    /// The response does not match the password.
    #[error("invalid password")]
    InvalidPassword,
    /// The event has no request.
    #[error("no request")]
    NoRequest,
    /// The HA1 given has no hash for the algorithm the client chose.
    #[error("no {0} HA1 for this user")]
    NoHa1(&'static str),
}

#[derive(Debug)]
struct NonceUse {
    issued: u64,
    max_nc: u32,
    used_without_qop: bool,
}

/// Where the uses of nonces are recorded when several routers accept each other's
/// nonces (Redis): a nonce count (or a nonce without qop) used on one router is refused
/// on every other.
pub trait NonceLedger: Send + Sync + std::fmt::Debug {
    /// Record that nonce `id` (issued at `issued`) was used with `nc` (None: without
    /// qop). Ok(true) when that use is new; Ok(false) for a replay; Err when the ledger
    /// could not be asked (the router's own record still holds).
    fn record(&self, id: u64, issued: u64, nc: Option<u32>) -> Result<bool, String>;
    /// False while the ledger is known to be out of reach (a call would fail at once).
    fn reachable(&self) -> bool {
        true
    }
}

/// The nonce key and replay tracking of a router (or a tenant).
#[derive(Debug)]
pub struct AuthState {
    key: [u8; 32],
    /// The top 16 bits of every nonce id this process issues: with the shared ledger out
    /// of reach, only its own nonces are accepted (its own record is complete for them).
    pub(super) origin: u16,
    next_id: AtomicU64,
    used: Mutex<HashMap<u64, NonceUse>>,
    shared: Option<std::sync::Arc<dyn NonceLedger>>,
}

impl Default for AuthState {
    fn default() -> Self {
        Self::new()
    }
}

impl AuthState {
    /// A fresh random key: nonces only this process accepts.
    pub fn new() -> Self {
        let mut key = [0u8; 32];
        // without randomness nonces would be forgeable; refuse to run rather than degrade
        getrandom::fill(&mut key).expect("the OS random generator works");
        Self::with_key(key)
    }

    /// Nonces signed with `key`: every router holding the same key accepts them. Ids
    /// start at a random point, so routers sharing a key do not issue the same one.
    pub fn with_key(key: [u8; 32]) -> Self {
        let mut first = [0u8; 8];
        getrandom::fill(&mut first).expect("the OS random generator works");
        let origin = u16::from_le_bytes([first[0], first[1]]);
        // the counter starts at a random point of its 47 bits (it never reaches the
        // origin's bits)
        let counter = u64::from_le_bytes(first) >> 17;
        AuthState {
            key,
            origin,
            next_id: AtomicU64::new((u64::from(origin) << 48) | counter),
            used: Mutex::new(HashMap::new()),
            shared: None,
        }
    }

    /// The key of the nonces, for deriving a tenant's.
    pub(crate) fn key(&self) -> &[u8; 32] {
        &self.key
    }

    /// Record nonce uses in `ledger` too, so a replay on another router is refused.
    pub fn with_ledger(mut self, ledger: std::sync::Arc<dyn NonceLedger>) -> Self {
        self.shared = Some(ledger);
        self
    }

    /// True when the uses are recorded in a ledger other routers share (a check may wait
    /// on it).
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    fn mac(&self, ts: u64, id: u64) -> String {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(ts.to_be_bytes());
        h.update(id.to_be_bytes());
        hex(&h.finalize()[..16])
    }

    /// A new nonce: issue time, id, and a MAC over both.
    pub fn new_nonce(&self, now: u64) -> String {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{now:010x}{id:016x}{}", self.mac(now, id))
    }

    /// Check `nonce`'s MAC and age, and that `nc` (with qop) grows or the nonce (without
    /// qop) is used once, here and, when shared, on every router.
    pub(super) fn verify(&self, nonce: &str, nc: Option<u32>, now: u64) -> Result<(), AuthError> {
        if nonce.len() != 10 + 16 + 32 || !nonce.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(AuthError::InvalidNonce);
        }
        let ts = u64::from_str_radix(&nonce[..10], 16).map_err(|_| AuthError::InvalidNonce)?;
        let id = u64::from_str_radix(&nonce[10..26], 16).map_err(|_| AuthError::InvalidNonce)?;
        if self.mac(ts, id) != nonce[26..] {
            return Err(AuthError::InvalidNonce);
        }
        if now > ts + NONCE_LIFETIME || ts > now + 5 {
            return Err(AuthError::StaleNonce);
        }
        let mine = (id >> 48) as u16 == self.origin;
        if self.shared.is_some() && !mine && !self.shared_answers() {
            // another router's nonce and nobody to ask whether it was used there: stale,
            // so the phone takes a fresh nonce of this router (checked here alone)
            return Err(AuthError::StaleNonce);
        }
        self.record_here(id, ts, nc, now)?;
        match self.shared.as_ref().map(|l| l.record(id, ts, nc)) {
            Some(Ok(false)) => Err(AuthError::NonceReused),
            // the ledger failed now: this router's own nonce is known to its own record
            // (a use of it on another router just before the ledger went away is the one
            // replay left open, for as long as it is away); another's is stale
            Some(Err(_)) if !mine => Err(AuthError::StaleNonce),
            None | Some(Ok(true)) | Some(Err(_)) => Ok(()),
        }
    }

    /// The shared ledger can be asked now (it was not known to be away).
    fn shared_answers(&self) -> bool {
        self.shared.as_ref().is_some_and(|l| l.reachable())
    }

    fn record_here(&self, id: u64, ts: u64, nc: Option<u32>, now: u64) -> Result<(), AuthError> {
        let mut used = crate::lock(&self.used);
        if used.len() >= MAX_TRACKED {
            used.retain(|_, u| now <= u.issued + NONCE_LIFETIME);
        }
        let entry = used.entry(id).or_insert(NonceUse {
            issued: ts,
            max_nc: 0,
            used_without_qop: false,
        });
        match nc {
            Some(nc) => {
                if nc <= entry.max_nc {
                    return Err(AuthError::NonceReused);
                }
                entry.max_nc = nc;
            }
            None => {
                if entry.used_without_qop {
                    return Err(AuthError::NonceReused);
                }
                entry.used_without_qop = true;
            }
        }
        Ok(())
    }
}

/// Parsed Digest credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    /// `username`
    pub username: String,
    /// `realm`
    pub realm: String,
    /// `nonce`
    pub nonce: String,
    /// `uri`
    pub uri: String,
    /// `response`
    pub response: String,
    /// `algorithm` (MD5 when absent)
    pub algorithm: String,
    /// `cnonce`
    pub cnonce: Option<String>,
    /// `qop`
    pub qop: Option<String>,
    /// `nc`
    pub nc: Option<String>,
    /// `opaque` (of a challenge, echoed in the credentials answering it)
    pub opaque: Option<String>,
}

/// Parse `Digest k=v, k="v", ...`; username, nonce and response are required.
pub fn parse_credentials(value: &[u8]) -> Result<Credentials, AuthError> {
    let c = parse_credential_fields(value)?;
    if c.username.is_empty() || c.nonce.is_empty() || c.response.is_empty() {
        return Err(AuthError::Malformed(
            "username, nonce and response are required".into(),
        ));
    }
    Ok(c)
}

/// Parse `Digest k=v, k="v", ...`, any of them empty or missing (sanity tells which).
pub fn parse_credential_fields(value: &[u8]) -> Result<Credentials, AuthError> {
    let text = std::str::from_utf8(value).map_err(|_| AuthError::Malformed("not UTF-8".into()))?;
    let text = text.trim();
    let rest = text
        .get(..6)
        .filter(|s| s.eq_ignore_ascii_case("Digest"))
        .map(|_| &text[6..])
        .ok_or_else(|| AuthError::Malformed("not a Digest scheme".into()))?;
    let mut c = Credentials {
        algorithm: "MD5".into(),
        ..Credentials::default()
    };
    let bytes = rest.as_bytes();
    let mut pos = 0;
    while pos < bytes.len() {
        while pos < bytes.len() && matches!(bytes[pos], b' ' | b'\t' | b',' | b'\r' | b'\n') {
            pos += 1;
        }
        if pos >= bytes.len() {
            break;
        }
        let key_start = pos;
        while pos < bytes.len() && bytes[pos] != b'=' {
            pos += 1;
        }
        let key = rest[key_start..pos].trim().to_ascii_lowercase();
        if pos >= bytes.len() {
            return Err(AuthError::Malformed(format!(
                "parameter {key} without value"
            )));
        }
        pos += 1;
        while pos < bytes.len() && matches!(bytes[pos], b' ' | b'\t') {
            pos += 1;
        }
        let value = if bytes.get(pos) == Some(&b'"') {
            pos += 1;
            let mut v = String::new();
            loop {
                match bytes.get(pos) {
                    None => return Err(AuthError::Malformed("unterminated quoted value".into())),
                    Some(b'\\') => {
                        // the escaped character may be any UTF-8 one (found by fuzzing: a
                        // byte at a time cut one in two, and slicing there panicked)
                        match rest[pos + 1..].chars().next() {
                            Some(ch) => {
                                v.push(ch);
                                pos += 1 + ch.len_utf8();
                            }
                            None => pos += 1,
                        }
                    }
                    Some(b'"') => {
                        pos += 1;
                        break;
                    }
                    Some(_) => {
                        let ch = rest[pos..].chars().next().expect("in bounds");
                        v.push(ch);
                        pos += ch.len_utf8();
                    }
                }
            }
            v
        } else {
            let start = pos;
            while pos < bytes.len() && bytes[pos] != b',' {
                pos += 1;
            }
            rest[start..pos].trim().to_string()
        };
        match key.as_str() {
            "username" => c.username = value,
            "realm" => c.realm = value,
            "nonce" => c.nonce = value,
            "uri" => c.uri = value,
            "response" => c.response = value.to_ascii_lowercase(),
            "algorithm" => c.algorithm = value,
            "cnonce" => c.cnonce = Some(value),
            "qop" => c.qop = Some(value),
            "nc" => c.nc = Some(value),
            "opaque" => c.opaque = Some(value),
            _ => {}
        }
    }
    Ok(c)
}

/// What credentials are checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Secret<'a> {
    /// The password.
    Password(&'a str),
    /// HA1 hashes (`H(user:realm:password)`, hex), one per algorithm, separated by `:`
    /// (`sipwasm passwd` prints them): a 32-digit one for MD5, a 64-digit one for
    /// SHA-256. The config then holds no password (Kamailio's `pv_auth_check` flag 1).
    Ha1(&'a str),
}

impl<'a> From<&'a str> for Secret<'a> {
    fn from(password: &'a str) -> Self {
        Secret::Password(password)
    }
}

impl Algorithm {
    /// Hex digits of a hash.
    fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 => 32,
            Algorithm::Sha256 => 64,
        }
    }

    /// `H(user:realm:password)`, hex.
    pub fn ha1(self, user: &str, realm: &str, password: &str) -> String {
        self.hash(&format!("{user}:{realm}:{password}"))
    }
}

/// The HA1 hashes `sipwasm passwd` prints for a user: MD5 and SHA-256, `:`-separated.
pub fn ha1_record(user: &str, realm: &str, password: &str) -> String {
    format!(
        "{}:{}",
        Algorithm::Md5.ha1(user, realm, password),
        Algorithm::Sha256.ha1(user, realm, password)
    )
}

/// The expected `response` for `c`, given the password (or HA1) and the request method.
pub fn digest_response<'a>(
    c: &Credentials,
    secret: impl Into<Secret<'a>>,
    method: &str,
) -> Result<String, AuthError> {
    let alg = Algorithm::from_name(&c.algorithm)
        .ok_or_else(|| AuthError::Malformed(format!("unsupported algorithm {}", c.algorithm)))?;
    let ha1 = match secret.into() {
        Secret::Password(p) => alg.ha1(&c.username, &c.realm, p),
        Secret::Ha1(hashes) => hashes
            .split(':')
            .map(str::trim)
            .find(|h| h.len() == alg.hex_len() && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| AuthError::NoHa1(alg.name()))?
            .to_ascii_lowercase(),
    };
    let ha2 = alg.hash(&format!("{method}:{}", c.uri));
    Ok(match &c.qop {
        Some(qop) if qop.eq_ignore_ascii_case("auth") => {
            let nc =
                c.nc.as_deref()
                    .ok_or_else(|| AuthError::Malformed("qop without nc".into()))?;
            let cnonce = c
                .cnonce
                .as_deref()
                .ok_or_else(|| AuthError::Malformed("qop without cnonce".into()))?;
            alg.hash(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", c.nonce))
        }
        Some(other) => return Err(AuthError::Malformed(format!("unsupported qop {other}"))),
        None => alg.hash(&format!("{ha1}:{}:{ha2}", c.nonce)),
    })
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The first Digest credentials for `realm` (any realm when empty) among header values.
pub(super) fn credentials_in<'a>(
    values: impl Iterator<Item = &'a [u8]>,
    realm: &str,
) -> Option<Result<Credentials, AuthError>> {
    let mut found = None;
    for v in values {
        match parse_credentials(v) {
            Ok(c) if realm.is_empty() || c.realm == realm => return Some(Ok(c)),
            Ok(_) => {}
            Err(e) => found = Some(Err(e)),
        }
    }
    found
}

/// Check parsed credentials against `secret`, with `method` in the digest: the response
/// first, then the nonce (MAC, age, replay) against `state`.
pub fn check_parsed(
    c: &Credentials,
    secret: Secret<'_>,
    method: &str,
    state: &AuthState,
    now: u64,
) -> Result<(), AuthError> {
    let expected = digest_response(c, secret, method)?;
    if !constant_time_eq(expected.as_bytes(), c.response.as_bytes()) {
        return Err(AuthError::InvalidPassword);
    }
    let nc = match &c.nc {
        Some(nc) => {
            Some(u32::from_str_radix(nc, 16).map_err(|_| AuthError::Malformed("bad nc".into()))?)
        }
        None => None,
    };
    state.verify(&c.nonce, nc, now)
}

/// The username of the credentials for `realm` among `values`, unchecked.
pub fn username_in<'a>(values: impl Iterator<Item = &'a [u8]>, realm: &str) -> Option<String> {
    credentials_in(values, realm)?.ok().map(|c| c.username)
}

/// A challenge header value for `realm` with a fresh nonce.
pub fn challenge_value(
    state: &AuthState,
    now: u64,
    realm: &str,
    algorithm: Algorithm,
    stale: bool,
) -> String {
    let nonce = state.new_nonce(now);
    let mut v = format!(
        "Digest realm=\"{}\", nonce=\"{nonce}\", qop=\"auth\", algorithm={}",
        realm.replace(['"', '\\'], ""),
        algorithm.name()
    );
    if stale {
        v.push_str(", stale=true");
    }
    v
}
