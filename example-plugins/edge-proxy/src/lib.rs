//! An edge proxy in front of a set of gateways (a carrier trunk, a media-server farm),
//! after the examples of Kamailio's documentation: a flooding source is dropped (pike),
//! a broken request answered (sanity), a source outside the customers' address group
//! refused (permissions); new calls are spread over the gateways of a dispatcher set, a
//! gateway that answers 5xx or nothing within a short final-response timer is taken out
//! of service (`ds_mark_dst("ip")`) and the call goes to the next one, and OPTIONS probes
//! bring the gateway back once it answers again.
//!
//! ```text
//! request_route:
//!     not from a gateway and pike_check_req fails -> drop (no answer to a flood)
//!     sanity_check(3047, 7) fails                  -> exit (answered by the check)
//!     maxfwd 10, else 483
//!     OPTIONS to the edge itself                 -> 200 (peers' keep-alives)
//!     in a dialog: loose_route and relay, else 404
//!     CANCEL: relay when its INVITE is ours
//!     not from the customers (allow_source_address(customers)) -> 403
//!     INVITE over its ratelimit pipe (rl_check)                 -> 503 "Limiting"
//!     record_route; ds_select_dst(set, alg), else 503 "No Gateway Available"
//!     t_set_fr(0, fr_ms); t_on_failure(GW_FAILED); t_relay
//! failure_route[GW_FAILED]:
//!     canceled: nothing; 408 (no answer), 500, 502, 503: ds_mark_dst("ip"),
//!     ds_next_dst, t_relay again (the final reply of the last is the caller's)
//! ```
//!
//! Config keys: `set` (the dispatcher set, default 1), `algorithm` (Kamailio's number,
//! default 4, round-robin), `fr_ms` (how long a gateway may stay silent before the next
//! is tried, default 2000), `customers` (the permissions address group that may place
//! calls, default 1).

use sipwasm_sdk::{
    Plugin, Route, config, core, dispatcher, export_plugin, maxfwd, permissions, pike, ratelimit,
    rr, sanity, siputils, sl, tm, unknown_route,
};

struct EdgeProxy {
    set: u32,
    algorithm: u32,
    fr_ms: u32,
    customers: u32,
}

impl Default for EdgeProxy {
    fn default() -> Self {
        let number = |key: &str, default: u32| {
            config::get(key)
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        EdgeProxy {
            set: number("set", 1),
            algorithm: number("algorithm", 4),
            fr_ms: number("fr_ms", 2000),
            customers: number("customers", 1),
        }
    }
}

impl EdgeProxy {
    /// Relay to the destination selected, failing over in `GW_FAILED`.
    fn to_gateway(&self) -> Route {
        tm::t_set_fr(0, self.fr_ms)?;
        tm::t_on_failure("GW_FAILED");
        if tm::t_relay().is_err() {
            sl::send_reply_error()?;
        }
        core::exit()
    }
}

impl Plugin for EdgeProxy {
    fn request_route(&mut self) -> Route {
        let from_gateway = dispatcher::is_from_list(Some(self.set)).is_some();
        if !from_gateway && !pike::pike_check_req() {
            // flooding: not even an answer
            return core::drop();
        }
        if !sanity::sanity_check_defaults()? {
            // answered by the check
            return core::exit();
        }
        if maxfwd::process_maxfwd(10).is_err() {
            sl::send_reply(483, "Too Many Hops")?;
            return core::exit();
        }
        if siputils::has_totag() {
            // a forged route set is answered 403 and `?` ends the route
            if rr::loose_route()?.is_routed() {
                if tm::t_relay().is_err() {
                    sl::send_reply_error()?;
                }
                return core::exit();
            }
            if !core::is_method("ACK") {
                sl::send_reply(404, "Not here")?;
            }
            return core::exit();
        }
        if core::is_method("OPTIONS") && core::is_myself_ruri() {
            sl::send_reply(200, "OK")?;
            return core::exit();
        }
        if core::is_method("CANCEL") {
            if tm::t_check_trans() && tm::t_relay().is_err() {
                sl::send_reply_error()?;
            }
            return core::exit();
        }
        if core::is_method("ACK") {
            return core::exit();
        }
        if !permissions::allow_source_address(self.customers) {
            sl::send_reply(403, "Forbidden")?;
            return core::exit();
        }
        if core::is_method("INVITE") {
            match ratelimit::rl_check() {
                Ok(true) | Err(ratelimit::Error::NoQueue(_)) => {}
                Ok(false) => {
                    sl::append_to_reply("Retry-After: 5\r\n")?;
                    sl::send_reply(503, "Limiting")?;
                    return core::exit();
                }
                Err(e) => return Err(e.into()),
            }
            rr::record_route()?;
        }
        if !dispatcher::select_dst(self.set, self.algorithm)? {
            sl::send_reply(503, "No Gateway Available")?;
            return core::exit();
        }
        self.to_gateway()
    }

    fn failure_route(&mut self, name: &str) -> Route {
        match name {
            "GW_FAILED" => {
                if tm::t_is_canceled() {
                    return Ok(());
                }
                let code = tm::t_get_status_code()?;
                // the gateway's trouble (no answer, 500, 502, 503), not the callee's: a 6xx
                // is final everywhere (RFC 3261 §16.7), a 486 or 404 the callee's answer
                if matches!(code, 408 | 500 | 502 | 503) {
                    // out of service until it answers the probes again
                    dispatcher::mark_dst("ip")?;
                    if dispatcher::next_dst()? {
                        return self.to_gateway();
                    }
                }
                Ok(())
            }
            other => unknown_route(other),
        }
    }
}

export_plugin!(EdgeProxy);
