//! `msrp-relay`: the example configuration of Kamailio's msrp module, line by line, as a
//! sipwasm plugin. sipwasm is an MSRP relay (RFC 4976) on its SIP ports:
//!
//! - SIP requests get 403 "No SIP Here".
//! - MSRP responses are relayed back along their path.
//! - AUTH for this relay: digest authentication (realm and password from the config,
//!   `myrealm` / `xyz123` as in the module doc; the digest method is `AUTH`). A client
//!   without valid credentials gets 401 with a challenge; an authenticated one gets a new
//!   session id, its address and socket are stored in the `msrp` htable under it, and the
//!   200 carries `Use-Path: msrp://<the address the AUTH came in on>/<session>;tcp`
//!   (`msrps://` when it came over TLS).
//!   AUTH for a further hop is relayed.
//! - SEND with more than one hop after this one: 200 "Received", then relayed.
//! - SEND to one of this relay's sessions: relayed on the connection of the client that
//!   authenticated it (never a new connection); 481 "No Such Session" when unknown.
//! - Anything else is relayed.

use sipwasm_sdk::auth::{self, Kind};
use sipwasm_sdk::{Plugin, Route, config, core, export_plugin, htable, msrp, pv, sl};

struct MsrpRelay {
    realm: String,
    password: String,
    /// AUTHs accepted by this instance (the `$var(cnt)` of the module doc).
    count: u64,
}

impl Default for MsrpRelay {
    fn default() -> Self {
        MsrpRelay {
            realm: config::get("realm").unwrap_or_else(|| "myrealm".into()),
            password: config::get("password").unwrap_or_else(|| "xyz123".into()),
            count: 0,
        }
    }
}

/// The table sessions are kept in (`[[htable]] name = "msrp"`).
const TABLE: &str = "msrp";

impl MsrpRelay {
    fn auth(&mut self) -> Route {
        if pv::getvn("$msrp(nexthops)", 0)? > 0 {
            msrp::relay()?;
            return core::exit();
        }
        // frame for this relay: check the credentials (the password could come from a
        // database keyed by the username)
        if auth::check(Kind::Www, &self.realm, &self.password).is_err() {
            if auth::challenge(Kind::Www, &self.realm).is_err() {
                msrp::reply(500, "Server Error", None)?;
            }
            return core::exit();
        }
        self.count += 1;
        // a session id nobody can guess from outside: time, counter, and a mix of the
        // client's address and the instance's nonce-bearing credentials
        let seed = pv::gete("$msrp(srcaddr)")? + &pv::gete("$hdr(Authorization)")?;
        let sessid = format!(
            "s.{}.{}.{:x}",
            pv::gete("$Ts")?,
            self.count,
            fnv1a(seed.as_bytes())
        );
        htable::set_str(
            TABLE,
            format!("{sessid}::srcaddr"),
            pv::gete("$msrp(srcaddr)")?,
        )?;
        htable::set_str(
            TABLE,
            format!("{sessid}::srcsock"),
            pv::gete("$msrp(srcsock)")?,
        )?;
        // Use-Path: this relay as the client reached it (msrps over TLS), plus the session id
        let scheme = if pv::gete("$pr")? == "tls" {
            "msrps"
        } else {
            "msrp"
        };
        let use_path = pv::format(format!("Use-Path: {scheme}://$Ri:$Rp/{sessid};tcp"))?;
        msrp::reply(200, "OK", Some(&use_path))?;
        core::exit()
    }

    fn send(&mut self) -> Route {
        if pv::getvn("$msrp(nexthops)", 0)? > 1 {
            msrp::reply(200, "Received", None)?;
            msrp::relay()?;
            return core::exit();
        }
        let sessid = pv::gete("$msrp(sessid)")?;
        let addr = htable::get(TABLE, format!("{sessid}::srcaddr"))?;
        let sock = htable::get(TABLE, format!("{sessid}::srcsock"))?;
        let (Some(htable::Value::Str(addr)), Some(htable::Value::Str(sock))) = (addr, sock) else {
            // one more hop, but no address for it in the table
            msrp::reply(481, "No Such Session", None)?;
            return core::exit();
        };
        msrp::relay_flags(1);
        msrp::set_dst(&addr, &sock)?;
        msrp::relay()?;
        core::exit()
    }
}

/// FNV-1a, enough to spread session ids.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl Plugin for MsrpRelay {
    fn request_route(&mut self) -> Route {
        sl::send_reply(403, "No SIP Here")?;
        core::exit()
    }

    fn msrp_frame_in(&mut self) -> Route {
        msrp::reply_flags(1);
        if msrp::is_reply() {
            msrp::relay()?;
            return core::exit();
        }
        match pv::gete("$msrp(method)")?.as_str() {
            "AUTH" => self.auth(),
            "SEND" => self.send(),
            _ => {
                msrp::relay()?;
                core::exit()
            }
        }
    }
}

export_plugin!(MsrpRelay);
