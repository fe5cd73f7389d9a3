//! A registrar and proxy for a small domain, in the spirit of "Kamailio 101" tutorials 4
//! and 5 (taking registrations, first call):
//!
//! - REGISTER needs digest authentication (401) against the users in the plugin config
//!   (`"user.alice" = "secret"`), then `save("location")` stores the bindings;
//! - an INVITE or MESSAGE from a user needs proxy authentication (407), then goes to the
//!   callee's registered contacts (`lookup`), or gets `404 Not Found`;
//! - requests inside a dialog follow their Route set (`loose_route`); the proxy stays in the
//!   path with `record_route`.
//!
//! Config keys: `realm` (default the first alias or `sipwasm.local`), `user.<name>`.

use sipwasm_sdk::auth::{self, Kind};
use sipwasm_sdk::{
    Plugin, Route, config, core, export_plugin, info, maxfwd, pv, registrar, rr, sl, tm, warn,
};
use std::collections::HashMap;

struct RegistrarProxy {
    realm: String,
    users: HashMap<String, String>,
}

impl Default for RegistrarProxy {
    fn default() -> Self {
        let users = config::keys()
            .into_iter()
            .filter_map(|k| {
                let name = k.strip_prefix("user.")?.to_string();
                Some((name, config::get(&k)?))
            })
            .collect();
        RegistrarProxy {
            realm: config::get("realm").unwrap_or_else(|| "sipwasm.local".into()),
            users,
        }
    }
}

impl RegistrarProxy {
    /// Check the credentials of `kind`; challenge and end the route when they are missing
    /// or wrong. Returns the authenticated user.
    fn authenticate(&self, kind: Kind) -> Result<String, sipwasm_sdk::Stop> {
        let user = auth::username(kind, &self.realm);
        let result = match user.as_deref().and_then(|u| self.users.get(u)) {
            Some(password) => auth::check(kind, &self.realm, password),
            None => Err(auth::Error::NoCredentials),
        };
        match result {
            Ok(user) => {
                auth::consume_credentials(kind);
                Ok(user)
            }
            Err(e) => {
                if !matches!(e, auth::Error::NoCredentials) {
                    warn!("authentication failed for {:?}: {e:?}", user);
                }
                let stale = matches!(e, auth::Error::StaleNonce);
                auth::challenge_with(kind, &self.realm, &[auth::Algorithm::Md5], stale)?;
                Err(sipwasm_sdk::Stop::Exit)
            }
        }
    }
}

impl Plugin for RegistrarProxy {
    fn request_route(&mut self) -> Route {
        if maxfwd::process_maxfwd(10).is_err() {
            sl::send_reply(483, "Too Many Hops")?;
            return core::exit();
        }
        // requests inside a dialog: follow the route set
        if rr::loose_route() {
            tm::t_relay()?;
            return core::exit();
        }
        if core::is_method("ACK") {
            // an ACK without Route belongs to a transaction we already answered
            return core::exit();
        }
        if core::is_method("CANCEL") {
            if tm::t_check_trans() {
                tm::t_relay()?;
            }
            return core::exit();
        }
        if core::is_method("REGISTER") {
            let user = self.authenticate(Kind::Www)?;
            if pv::gete("$tU")? != user {
                sl::send_reply(403, "Forbidden: To does not match your credentials")?;
                return core::exit();
            }
            let n = registrar::save("location")?;
            info!("registered {user} with {n} contact(s)");
            return core::exit();
        }
        if core::is_method_in("IM") {
            self.authenticate(Kind::Proxy)?;
        }
        rr::record_route()?;
        if registrar::lookup("location").is_err() {
            sl::send_reply(404, "Not Found")?;
            return core::exit();
        }
        if tm::t_relay().is_err() {
            sl::send_reply(500, "Server Internal Error")?;
        }
        core::exit()
    }
}

export_plugin!(RegistrarProxy);
