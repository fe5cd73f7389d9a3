//! Digest authentication (RFC 3261 §22, RFC 2617, RFC 8760): challenges with nonces that
//! expire and cannot be replayed, and credential checks against a password or HA1 the
//! plugin supplies (Kamailio's `pv_www_authenticate` / `pv_auth_check` style). MD5 and
//! SHA-256, `qop=auth`. Every check and challenge goes through the [`guard::Guard`]:
//! failures are counted, guessing sources banned, attacked users throttled.

use crate::context::RouteContext;
use crate::env::LocalConfig;
use crate::lumps::Lump;
use sipwasm_proto::HeaderName;
use std::net::IpAddr;

pub(crate) mod digest;
pub mod guard;
pub use digest::*;

/// Check the credentials for `realm` among `values` against `secret`, through the guard:
/// a throttled user's credentials from an address it never authenticated from fail
/// unchecked; a wrong response or a replayed nonce counts as a failure of `ip` and the
/// user; a success makes `ip` one of the user's addresses. The one path for SIP and MSRP.
pub(crate) fn check_guarded<'a>(
    config: &LocalConfig,
    values: impl Iterator<Item = &'a [u8]>,
    realm: &str,
    secret: Secret<'_>,
    method: &str,
    ip: IpAddr,
    now: u64,
) -> Result<Credentials, AuthError> {
    let c = credentials_in(values, realm).ok_or(AuthError::NoCredentials)??;
    let guard = &config.guard;
    if !guard.permits(ip, &c.realm, &c.username, now) {
        return Err(AuthError::InvalidPassword);
    }
    match check_parsed(&c, secret, method, &config.auth, now) {
        Ok(()) => {
            guard.succeeded(ip, &c.realm, &c.username, now);
            Ok(c)
        }
        Err(e @ (AuthError::InvalidPassword | AuthError::NonceReused)) => {
            guard.failed(ip, &c.realm, &c.username, now);
            Err(e)
        }
        // a stale nonce or one from before a restart, with the right response, is what
        // phones send every day: no failure
        Err(e) => Err(e),
    }
}

/// A challenge answers credentials nobody checked (an unknown user: the plugin had no
/// password to check them with): a failure like a wrong password, so that guessing
/// names costs the same as guessing passwords.
pub(crate) fn note_unchecked<'a>(
    config: &LocalConfig,
    values: impl Iterator<Item = &'a [u8]>,
    realm: &str,
    ip: IpAddr,
    now: u64,
) {
    if let Some(Ok(c)) = credentials_in(values, realm) {
        config.guard.failed(ip, &c.realm, &c.username, now);
    }
}

impl RouteContext {
    fn credential_values(&self, kind: Realm) -> impl Iterator<Item = &[u8]> {
        self.msg
            .headers_named(kind.credentials_header().as_str().as_bytes())
    }

    /// `has_credentials(realm)`: Digest credentials for `realm` (any realm when empty).
    pub fn auth_has_credentials(&self, realm: &str, kind: Realm) -> bool {
        matches!(
            credentials_in(self.credential_values(kind), realm),
            Some(Ok(_))
        )
    }

    /// The username of the credentials for `realm`, before checking them (to look up the
    /// password).
    pub fn auth_username(&self, realm: &str, kind: Realm) -> Option<String> {
        username_in(self.credential_values(kind), realm)
    }

    /// Check the credentials for `realm` against `secret` (a password, or HA1 hashes).
    /// `method` overrides the request method in the digest.
    pub fn auth_check<'a>(
        &mut self,
        realm: &str,
        secret: impl Into<Secret<'a>>,
        kind: Realm,
        method: Option<&str>,
    ) -> Result<String, AuthError> {
        if !self.msg.is_request() && method.is_none() {
            return Err(AuthError::NoRequest);
        }
        let method = method.map_or_else(
            || String::from_utf8_lossy(self.msg.method_text()).into_owned(),
            str::to_string,
        );
        self.auth_noted = true;
        let c = check_guarded(
            &self.config,
            self.credential_values(kind),
            realm,
            secret.into(),
            &method,
            self.source.src.ip(),
            self.now_unix,
        )?;
        self.auth_user = Some((c.username.clone(), c.realm.clone()));
        Ok(c.username)
    }

    /// The challenge header value for `realm`.
    pub fn auth_challenge_value(&self, realm: &str, algorithm: Algorithm, stale: bool) -> String {
        challenge_value(&self.config.auth, self.now_unix, realm, algorithm, stale)
    }

    /// `auth_challenge`: answer 401 (WWW) or 407 (proxy) with a challenge per algorithm
    /// (the first is preferred).
    pub fn auth_challenge(
        &mut self,
        realm: &str,
        kind: Realm,
        algorithms: &[Algorithm],
        stale: bool,
    ) -> Result<(), crate::sl::SlError> {
        let (code, reason, header) = match kind {
            Realm::Www => (401, "Unauthorized", "WWW-Authenticate"),
            Realm::Proxy => (407, "Proxy Authentication Required", "Proxy-Authenticate"),
        };
        if !std::mem::replace(&mut self.auth_noted, true) {
            note_unchecked(
                &self.config,
                self.credential_values(kind),
                realm,
                self.source.src.ip(),
                self.now_unix,
            );
        }
        let algs = if algorithms.is_empty() {
            &[Algorithm::Md5][..]
        } else {
            algorithms
        };
        for a in algs {
            let v = self.auth_challenge_value(realm, *a, stale);
            self.append_to_reply(&format!("{header}: {v}\r\n"))?;
        }
        self.send_reply(code, reason)
    }
}

impl RouteContext {
    /// Remove the credentials header checked by `auth` (`consume_credentials`).
    pub fn consume_credentials(&mut self, header: HeaderName) -> bool {
        let lines: Vec<_> = self
            .msg
            .headers()
            .iter()
            .filter(|h| h.name == header)
            .map(|h| h.line)
            .collect();
        for l in &lines {
            self.lumps.push(Lump::Delete(*l));
        }
        !lines.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_escaped_multibyte_character_in_a_quoted_value() {
        // found by fuzzing: `\` before a two-byte character made the parser slice inside
        // it, a panic in a host call any caller could trigger
        let c =
            parse_credentials("Digest username=\"a\\º b\", nonce=\"n\", response=\"r\"".as_bytes())
                .unwrap();
        assert_eq!(c.username, "aº b");
        assert!(parse_credentials("Digest username=\"a\\".as_bytes()).is_err());
    }

    /// RFC 2617 §3.5 example.
    #[test]
    fn rfc2617_example() {
        let c = Credentials {
            username: "Mufasa".into(),
            realm: "testrealm@host.com".into(),
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093".into(),
            uri: "/dir/index.html".into(),
            response: String::new(),
            algorithm: "MD5".into(),
            cnonce: Some("0a4f113b".into()),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            opaque: None,
        };
        assert_eq!(
            digest_response(&c, "Circle Of Life", "GET").unwrap(),
            "6629fae49393a05397450978507c4ef1"
        );
    }

    /// RFC 7616 §3.9.1 (SHA-256).
    #[test]
    fn rfc7616_sha256_example() {
        let c = Credentials {
            username: "Mufasa".into(),
            realm: "http-auth@example.org".into(),
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v".into(),
            uri: "/dir/index.html".into(),
            response: String::new(),
            algorithm: "SHA-256".into(),
            cnonce: Some("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ".into()),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            opaque: None,
        };
        assert_eq!(
            digest_response(&c, "Circle of Life", "GET").unwrap(),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn parse_header() {
        let c = parse_credentials(
            br#"Digest username="alice", realm="myrealm",nonce="abc", uri="sip:example.com", response="DEADBEEF", algorithm=MD5, cnonce="x\"y", qop=auth, nc=00000001"#,
        )
        .unwrap();
        assert_eq!(c.username, "alice");
        assert_eq!(c.response, "deadbeef");
        assert_eq!(c.cnonce.as_deref(), Some("x\"y"));
        assert_eq!(c.qop.as_deref(), Some("auth"));
        assert!(parse_credentials(b"Basic abc").is_err());
        assert!(parse_credentials(br#"Digest username="a""#).is_err());
    }

    /// A ledger of nonce uses as Redis keeps it for several routers; `down` makes it
    /// fail.
    #[derive(Debug, Default)]
    struct Ledger {
        uses: std::sync::Mutex<std::collections::HashMap<u64, u32>>,
        down: std::sync::atomic::AtomicBool,
    }

    impl NonceLedger for Ledger {
        fn record(&self, id: u64, _issued: u64, nc: Option<u32>) -> Result<bool, String> {
            if self.down.load(std::sync::atomic::Ordering::Relaxed) {
                return Err("down".into());
            }
            let mut uses = self.uses.lock().unwrap();
            let max = uses.entry(id).or_default();
            let nc = nc.unwrap_or(1);
            Ok(nc > std::mem::replace(max, (*max).max(nc)))
        }
        fn reachable(&self) -> bool {
            !self.down.load(std::sync::atomic::Ordering::Relaxed)
        }
    }

    #[test]
    fn a_shared_secret_shares_nonces_only_with_a_shared_ledger() {
        use crate::env::LocalConfig;
        let router = || LocalConfig::new(Vec::new(), Vec::new(), None).with_secret(b"s");
        // memory backend: each router (and each restart) has its own nonces, since each
        // keeps its own record of their uses
        let (a, b) = (router(), router());
        let n = a.auth.new_nonce(1000);
        assert_eq!(
            b.auth.verify(&n, Some(1), 1001),
            Err(AuthError::InvalidNonce)
        );
        // one ledger for both: one key for both
        let ledger = std::sync::Arc::new(Ledger::default());
        let a = router().with_nonce_ledger(ledger.clone());
        let b = router().with_nonce_ledger(ledger);
        let n = a.auth.new_nonce(1000);
        assert_eq!(b.auth.verify(&n, Some(1), 1001), Ok(()));
        assert_eq!(
            a.auth.verify(&n, Some(1), 1001),
            Err(AuthError::NonceReused)
        );
    }

    #[test]
    fn routers_sharing_a_key_and_a_ledger_accept_each_others_nonces_once() {
        let ledger = std::sync::Arc::new(Ledger::default());
        let a = AuthState::with_key([7; 32]).with_ledger(ledger.clone());
        let b = AuthState::with_key([7; 32]).with_ledger(ledger.clone());
        let n = a.new_nonce(1000);
        assert_eq!(b.verify(&n, Some(1), 1001), Ok(()), "B takes A's nonce");
        assert_eq!(
            a.verify(&n, Some(1), 1001),
            Err(AuthError::NonceReused),
            "A never saw nc 1 itself, the ledger did"
        );
        assert_eq!(a.verify(&n, Some(2), 1001), Ok(()));
        // the ledger away: a router takes its own nonces (its record refuses their
        // replays), another router's are stale (nobody to ask whether they were used)
        ledger
            .down
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let m = b.new_nonce(1000);
        assert_eq!(b.verify(&m, Some(1), 1001), Ok(()));
        assert_eq!(b.verify(&m, Some(1), 1001), Err(AuthError::NonceReused));
        if a.origin != b.origin {
            assert_eq!(b.verify(&n, Some(3), 1001), Err(AuthError::StaleNonce));
        }
        // another key: not ours
        assert_eq!(
            AuthState::with_key([8; 32]).verify(&n, Some(9), 1001),
            Err(AuthError::InvalidNonce)
        );
    }

    #[test]
    fn nonces_expire_and_cannot_be_replayed() {
        let s = AuthState::new();
        let n = s.new_nonce(1000);
        assert_eq!(s.verify(&n, Some(1), 1001), Ok(()));
        assert_eq!(s.verify(&n, Some(2), 1002), Ok(()));
        assert_eq!(s.verify(&n, Some(2), 1002), Err(AuthError::NonceReused));
        assert_eq!(
            s.verify(&n, Some(3), 1000 + NONCE_LIFETIME + 1),
            Err(AuthError::StaleNonce)
        );
        let m = s.new_nonce(1000);
        assert_eq!(s.verify(&m, None, 1001), Ok(()));
        assert_eq!(s.verify(&m, None, 1001), Err(AuthError::NonceReused));
        let mut forged = s.new_nonce(1000);
        forged.replace_range(0..1, "1");
        assert_eq!(s.verify(&forged, None, 1001), Err(AuthError::InvalidNonce));
        assert_eq!(
            AuthState::new().verify(&s.new_nonce(1000), None, 1001),
            Err(AuthError::InvalidNonce)
        );
    }
}
