//! `sipwasm:router/auth`

use crate::bindings::sipwasm::router::auth::{Algorithm, Error, Host, Kind};
use crate::state::HostState;
use sipwasm_proto::HeaderName;
use sipwasm_routing::auth::{self, AuthError, Realm};

fn realm_kind(k: Kind) -> Realm {
    match k {
        Kind::Www => Realm::Www,
        Kind::Proxy => Realm::Proxy,
    }
}

fn auth_error(e: AuthError) -> Error {
    match e {
        AuthError::NoCredentials => Error::NoCredentials,
        AuthError::Malformed(s) => Error::Malformed(s),
        AuthError::InvalidNonce => Error::InvalidNonce,
        AuthError::StaleNonce => Error::StaleNonce,
        AuthError::NonceReused => Error::NonceReused,
        AuthError::InvalidPassword => Error::InvalidPassword,
        AuthError::NoRequest => Error::NoRequest,
        e @ AuthError::NoHa1(_) => Error::Malformed(e.to_string()),
    }
}

impl HostState {
    /// The MSRP frame of the event, for `auth` on an MSRP AUTH request: only the WWW kind
    /// exists there (RFC 4976 §5).
    fn msrp_for(&mut self, kind: Kind) -> Option<&mut sipwasm_routing::MsrpEvent> {
        if self.sip().is_some() || kind != Kind::Www {
            return None;
        }
        self.msrp_mut()
    }

    /// A check that asks the routers' shared nonce ledger (Redis) waits on it without
    /// charging the wait to the CPU deadline; one without is charged like any other work.
    fn check_secret(
        &mut self,
        kind: Kind,
        realm: &str,
        secret: auth::Secret<'_>,
    ) -> Result<String, Error> {
        let check = |s: &mut Self| {
            if let Some(m) = s.msrp_for(kind) {
                return m.auth_check(realm, secret).map_err(auth_error);
            }
            let ctx = s.sip_mut().ok_or(Error::NoRequest)?;
            ctx.auth_check(realm, secret, realm_kind(kind), None)
                .map_err(auth_error)
        };
        let shared = self
            .event
            .as_ref()
            .is_some_and(|e| e.config().auth.is_shared());
        if shared {
            self.waiting(check)
        } else {
            check(self)
        }
    }
}

impl Host for HostState {
    fn challenge(
        &mut self,
        kind: Kind,
        realm: String,
        algorithms: Vec<Algorithm>,
        stale: bool,
    ) -> Result<(), Error> {
        let algs: Vec<auth::Algorithm> = algorithms
            .into_iter()
            .map(|a| match a {
                Algorithm::Md5 => auth::Algorithm::Md5,
                Algorithm::Sha256 => auth::Algorithm::Sha256,
            })
            .collect();
        if let Some(m) = self.msrp_for(kind) {
            return m
                .auth_challenge(&realm, &algs, stale)
                .map_err(|e| Error::ReplyFailed(e.to_string()));
        }
        let ctx = self.sip_mut().ok_or(Error::NoRequest)?;
        ctx.auth_challenge(&realm, realm_kind(kind), &algs, stale)
            .map_err(|e| Error::ReplyFailed(e.to_string()))
    }

    fn username(&mut self, kind: Kind, realm: String) -> Option<String> {
        if let Some(m) = self.msrp_for(kind) {
            return m.auth_username(&realm);
        }
        self.sip()?.auth_username(&realm, realm_kind(kind))
    }

    fn check(&mut self, kind: Kind, realm: String, password: String) -> Result<String, Error> {
        self.check_secret(kind, &realm, auth::Secret::Password(&password))
    }

    fn check_ha1(&mut self, kind: Kind, realm: String, ha1: String) -> Result<String, Error> {
        self.check_secret(kind, &realm, auth::Secret::Ha1(&ha1))
    }

    fn has_credentials(&mut self, kind: Kind, realm: String) -> bool {
        if let Some(m) = self.msrp_for(kind) {
            return m.auth_has_credentials(&realm);
        }
        self.sip()
            .is_some_and(|c| c.auth_has_credentials(&realm, realm_kind(kind)))
    }

    fn consume_credentials(&mut self, kind: Kind) -> bool {
        let header = match kind {
            Kind::Www => HeaderName::Authorization,
            Kind::Proxy => HeaderName::ProxyAuthorization,
        };
        self.sip_mut()
            .is_some_and(|c| c.consume_credentials(header))
    }
}
