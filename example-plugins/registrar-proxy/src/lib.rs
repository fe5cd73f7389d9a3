//! A registrar and proxy for a small domain, shaped after Kamailio's default
//! `kamailio.cfg` (`request_route`, `route[REQINIT]`, `route[NATDETECT]`,
//! `route[WITHINDLG]`, `route[AUTH]`, `route[REGISTRAR]`, `route[LOCATION]`,
//! `route[RELAY]`), for phones that use it as their outbound proxy:
//!
//! - REGISTER needs digest authentication (401) against the users in the plugin config
//!   (`"ha1.alice" = "<what sipwasm passwd alice REALM prints>"`, or a plain password as
//!   `"user.alice" = "secret"`), then `save("location")` stores the bindings (a phone
//!   behind NAT is reached where its REGISTER came from); failures are counted by the
//!   router, which bans guessing sources (`[security]`);
//! - an initial INVITE, MESSAGE, OPTIONS, SUBSCRIBE ... from a user needs proxy
//!   authentication (407); requests for foreign domains are refused (403, no open relay);
//!   then they go to the callee's registered contacts (`lookup`, forking to all of them),
//!   or get `404 Not Found`; `record_route` keeps the proxy in the dialog;
//! - requests inside a dialog follow their route set (`loose_route`), which only this
//!   router's own signed Record-Route opens: a forged one is answered 403;
//! - Route headers an initial request brings (the phone's outbound proxy setting) are
//!   dropped, never followed; CANCEL goes to the transaction it cancels.
//!
//! - with `voicemail` set (`"sip:vm.example.com:5090"`), a call nobody answers (486
//!   Busy Here, 408 Request Timeout, 480 Temporarily Unavailable) goes there instead, as
//!   `sip:<callee>@<voicemail host>` (Kamailio's `route[TOVOICEMAIL]`): one new branch,
//!   the phones that already failed are not called again.
//!
//! - toll fraud: a user has at most `max_calls` calls up or ringing and starts at most
//!   `calls_per_minute` a minute (`dialog.limit-calls`; 403 past them); with `gateway`
//!   set (a carrier), a number nobody registered (`+` and digits) goes there only when it
//!   starts with one of `allow_prefixes`, or the caller is one of `granted`: anything else
//!   is 403, never a call somebody else pays for.
//!
//! Config keys: `realm` (default `sipwasm.local`), `ha1.<name>` (HA1 hashes),
//! `user.<name>` (a password), `voicemail`, `max_calls`, `calls_per_minute` (0 or absent:
//! no limit), `gateway`, `allow_prefixes` and `granted` (comma-separated).

use sipwasm_sdk::auth::{self, Kind};
use sipwasm_sdk::{
    Plugin, Route, config, core, dialog, export_plugin, hdr, info, maxfwd, nathelper, pv,
    registrar, rr, siputils, sl, tm, unknown_route,
};
use std::collections::HashMap;

/// Message flag: the sender is behind NAT (Kamailio's `FLT_NATS`).
const FLT_NATS: u32 = 5;

/// What a user's credentials are checked against.
enum Secret {
    Password(String),
    Ha1(String),
}

struct RegistrarProxy {
    realm: String,
    users: HashMap<String, Secret>,
    /// Where unanswered calls go: a SIP URI whose host (and port) is the voicemail
    /// server.
    voicemail: Option<String>,
    /// Calls a user may have up or ringing, and start a minute (0: no limit).
    max_calls: u32,
    calls_per_minute: u32,
    /// Where numbers nobody registered go (a carrier), if anywhere.
    gateway: Option<String>,
    /// Numbers anybody may call through the gateway start with one of these.
    allow_prefixes: Vec<String>,
    /// Users who may call any number.
    granted: Vec<String>,
}

/// `key` of the config as a comma-separated list.
fn list(key: &str) -> Vec<String> {
    config::get(key)
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `key` of the config as a number (0 when absent).
fn number(key: &str) -> u32 {
    config::get(key)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// A telephone number: `+` and digits, or digits.
fn is_number(user: &str) -> bool {
    let digits = user.strip_prefix('+').unwrap_or(user);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

impl Default for RegistrarProxy {
    fn default() -> Self {
        let users = config::keys()
            .into_iter()
            .filter_map(|k| {
                let value = config::get(&k)?;
                if let Some(name) = k.strip_prefix("ha1.") {
                    return Some((name.to_string(), Secret::Ha1(value)));
                }
                Some((
                    k.strip_prefix("user.")?.to_string(),
                    Secret::Password(value),
                ))
            })
            .collect();
        RegistrarProxy {
            realm: config::get("realm").unwrap_or_else(|| "sipwasm.local".into()),
            users,
            voicemail: config::get("voicemail"),
            max_calls: number("max_calls"),
            calls_per_minute: number("calls_per_minute"),
            gateway: config::get("gateway"),
            allow_prefixes: list("allow_prefixes"),
            granted: list("granted"),
        }
    }
}

impl RegistrarProxy {
    /// Check the credentials of `kind`; challenge and end the route when they are missing
    /// or wrong. Returns the authenticated user.
    fn authenticate(&self, kind: Kind) -> Result<String, sipwasm_sdk::Stop> {
        let user = auth::username(kind, &self.realm);
        let result = match user.as_deref().and_then(|u| self.users.get(u)) {
            Some(Secret::Ha1(ha1)) => auth::check_ha1(kind, &self.realm, ha1),
            Some(Secret::Password(password)) => auth::check(kind, &self.realm, password),
            // an unknown user is challenged like a wrong password (the router counts it
            // as a failure too): nothing tells who exists
            None => Err(auth::Error::NoCredentials),
        };
        match result {
            Ok(user) => {
                auth::consume_credentials(kind);
                Ok(user)
            }
            Err(e) => {
                // no log line per failure: the router counts them and logs bans once
                let stale = matches!(e, auth::Error::StaleNonce);
                auth::challenge_with(kind, &self.realm, &[auth::Algorithm::Md5], stale)?;
                Err(sipwasm_sdk::Stop::Exit)
            }
        }
    }

    /// `route[REQINIT]`: symmetric signalling, hop limit.
    fn reqinit(&mut self) -> Route {
        core::force_rport();
        if maxfwd::process_maxfwd(10).is_err() {
            sl::send_reply(483, "Too Many Hops")?;
            return core::exit();
        }
        if core::is_method("OPTIONS") && core::is_myself_ruri() && pv::is_null("$rU")? {
            // a phone checking that its proxy is alive
            sl::send_reply(200, "Keepalive")?;
            return core::exit();
        }
        Ok(())
    }

    /// `route[NATDETECT]`: a sender behind NAT is answered and reached where its packets
    /// come from.
    fn natdetect(&mut self) -> Route {
        let from_a_phone = pv::getvn("$hdrc(Via)", 0)? == 1;
        if nathelper::nat_uac_test(
            nathelper::VIA_PORT | nathelper::VIA_RECEIVED | nathelper::CONTACT_PRIVATE,
        ) {
            if core::is_method("REGISTER") {
                nathelper::fix_nated_register()?;
            }
            core::set_flag(FLT_NATS)?;
        }
        if from_a_phone && !core::is_method("REGISTER") && !pv::is_null("$hdr(Contact)")? {
            // the other side's requests of this dialog find a phone where its packets
            // come from (the alias; none when its Contact already says so, and any alias
            // the phone wrote itself goes), also after a target refresh — behind NAT or
            // not: what a phone writes in its Contact never sends the router's requests
            // to another host. Only for a phone (one Via), not a proxy; a MESSAGE has no
            // Contact: nothing to do (a Contact that is no SIP URI is left as it is)
            let _ = nathelper::add_contact_alias();
        }
        Ok(())
    }

    /// `route[WITHINDLG]`: requests of a dialog follow the route set this router's
    /// Record-Route made; anything else is not ours to route.
    fn within_dialog(&mut self) -> Route {
        // a Route set this router did not issue is answered 403, and `?` ends here
        if rr::loose_route()?.is_routed() {
            if pv::is_null("$du")? {
                // the other end is behind NAT: its Contact carries where it really is
                nathelper::handle_ruri_alias()?;
            }
            return self.relay();
        }
        if core::is_method("ACK") {
            // an ACK outside the route set: the ACKs of failures are absorbed by the
            // transaction layer before this route runs, anything else is nobody's to relay
            return core::exit();
        }
        sl::send_reply(404, "Not here")?;
        core::exit()
    }

    /// A request another router of the deployment hands over for a phone whose
    /// connection this router holds (routers sharing registrations, `[state]`): its one
    /// Route is this router's signed Path entry for that flow, and `loose_route` sends it
    /// over the flow. The other router authenticated the caller; a forged entry gets 403.
    fn handed_over(&mut self) -> Result<bool, sipwasm_sdk::Stop> {
        if pv::getvn("$hdrc(Route)", 0)? != 1 || pv::gete("$hdr(Route)")?.contains(',') {
            return Ok(false);
        }
        let uri = pv::gete("$(hdr(Route){nameaddr.uri})")?;
        if !uri.contains('@') || !uri.contains(";sig=") || !core::is_myself(&uri)? {
            return Ok(false);
        }
        Ok(rr::loose_route()? == rr::Routed::Flow)
    }

    /// `route[AUTH]`: who may send what. Users register and call with credentials; only
    /// requests for this router's domain are served (not an open relay).
    fn auth(&mut self) -> Route {
        if core::is_method("REGISTER") {
            let user = self.authenticate(Kind::Www)?;
            if pv::gete("$tU")? != user {
                sl::send_reply(403, "Forbidden: To does not match your credentials")?;
                return core::exit();
            }
            return Ok(());
        }
        if core::is_myself_furi() {
            let user = self.authenticate(Kind::Proxy)?;
            if pv::gete("$fU")? != user {
                sl::send_reply(403, "Forbidden: From does not match your credentials")?;
                return core::exit();
            }
            if core::is_method("INVITE")
                && dialog::limit_calls(&user, self.max_calls, self.calls_per_minute).is_err()
            {
                // the router logs the limit (once a minute per user) and counts it
                sl::send_reply(403, "Forbidden: too many calls")?;
                return core::exit();
            }
        }
        if !core::is_myself_ruri() {
            sl::send_reply(403, "Not relaying")?;
            return core::exit();
        }
        Ok(())
    }

    /// A number nobody registered: to the gateway, when a user of ours calls it and may
    /// (an allowed prefix, or granted); 403 when not; 404 for anything else.
    fn route_number(&mut self) -> Route {
        let callee = pv::gete("$rU")?;
        let Some(gateway) = self.gateway.clone().filter(|_| is_number(&callee)) else {
            sl::send_reply(404, "Not Found")?;
            return core::exit();
        };
        let caller = pv::gete("$fU")?;
        let allowed = self
            .allow_prefixes
            .iter()
            .any(|p| callee.starts_with(p.as_str()))
            || self.granted.contains(&caller);
        if !core::is_myself_furi() || !allowed {
            info!("call from {caller} to {callee} refused: not an allowed destination");
            sl::send_reply(403, "Forbidden: destination not allowed")?;
            return core::exit();
        }
        let host = gateway.strip_prefix("sip:").unwrap_or(&gateway);
        pv::sets("$ru", format!("sip:{callee}@{host}"))?;
        self.relay()
    }

    /// `route[RELAY]`.
    fn relay(&mut self) -> Route {
        if core::is_method("INVITE") {
            tm::t_on_reply("MANAGE_REPLY");
            if self.voicemail.is_some() {
                tm::t_on_failure("MANAGE_FAILURE");
            }
        }
        if tm::t_relay().is_err() {
            sl::send_reply_error()?;
        }
        core::exit()
    }
}

impl Plugin for RegistrarProxy {
    fn request_route(&mut self) -> Route {
        self.reqinit()?;
        self.natdetect()?;
        if core::is_method("CANCEL") {
            if tm::t_check_trans() {
                return self.relay();
            }
            return core::exit();
        }
        if siputils::has_totag() {
            return self.within_dialog();
        }
        if core::is_method("ACK") {
            // an ACK without a To tag belongs to nothing
            return core::exit();
        }
        // only initial requests from here on
        if self.handed_over()? {
            // the dialog's requests come back this way, to the same flow
            if core::is_method_in("ISF") {
                rr::record_route()?;
            }
            return self.relay();
        }
        self.auth()?;
        // Route headers of an initial request (a phone's outbound proxy) are not followed
        hdr::remove("Route")?;
        if pv::getvn("$hdrc(Via)", 0)? == 1 {
            // a phone adds no Record-Route: one it brings names no proxy of the dialog
            hdr::remove("Record-Route")?;
        }
        if core::is_method_in("ISF") {
            rr::record_route()?;
        }
        if core::is_method("REGISTER") {
            let n = registrar::save("location")?;
            info!(
                "registered {} with {n} contact(s) from {}:{}",
                pv::gete("$tU")?,
                pv::gete("$si")?,
                pv::gete("$sp")?
            );
            return core::exit();
        }
        if pv::is_null("$rU")? {
            sl::send_reply(484, "Address Incomplete")?;
            return core::exit();
        }
        // the callee's number, for the voicemail route (lookup changes $rU)
        pv::sets("$avp(oexten)", &pv::gete("$rU")?)?;
        if registrar::lookup("location").is_err() {
            return self.route_number();
        }
        self.relay()
    }

    fn failure_route(&mut self, name: &str) -> Route {
        match name {
            "MANAGE_FAILURE" => {
                if tm::t_is_canceled() {
                    return core::exit();
                }
                let code = tm::t_get_status_code()?;
                let Some(vm) = self.voicemail.as_deref() else {
                    return core::exit();
                };
                if matches!(code, 486 | 408 | 480) {
                    // `route[TOVOICEMAIL]`: one new branch; the contacts that failed were
                    // consumed by the first relay and are not called again
                    let host = vm.strip_prefix("sip:").unwrap_or(vm);
                    let user = pv::gete("$avp(oexten)")?;
                    pv::unset("$du")?;
                    pv::sets("$ru", format!("sip:{user}@{host}"))?;
                    info!("{} to voicemail after {code}", user);
                    if tm::t_relay().is_err() {
                        sl::send_reply_error()?;
                    }
                }
                core::exit()
            }
            other => unknown_route(other),
        }
    }

    fn onreply_route(&mut self, name: &str) -> Route {
        match name {
            "MANAGE_REPLY" => {
                // a callee behind NAT: the caller's requests of the dialog find it through
                // the alias of its Contact
                if !pv::is_null("$hdr(Contact)")? {
                    // (a Contact that is no SIP URI is left as it is)
                    let _ = nathelper::add_contact_alias();
                }
                Ok(())
            }
            other => unknown_route(other),
        }
    }
}

export_plugin!(RegistrarProxy);
