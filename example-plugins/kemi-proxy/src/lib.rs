//! The KEMI Lua example (`../shared/seeds/kamailio-kemi-lua.txt`), line by line: every
//! request is checked with `process_maxfwd(10)` (483 Too Many Hops), sent to `$du` with a
//! stateful `t_relay` (500 when that fails), with branch, onreply and failure routes that
//! log. The next hop comes from the plugin config (`next_hop`, default the seed's
//! `sip:127.0.0.1:5080`).
//!
//! The Lua it ports:
//!
//! ```lua
//! function ksr_request_route()
//!     KSR.info("===== request - from kamailio lua script\n");
//!     if KSR.maxfwd.process_maxfwd(10) < 0 then
//!         KSR.sl.send_reply(483, "Too Many Hops");
//!         return;
//!     end
//!     KSR.pv.sets("$du", "sip:127.0.0.1:5080")
//!     KSR.tm.t_on_branch("ksr_branch_route_one");
//!     KSR.tm.t_on_reply("ksr_onreply_route_one");
//!     KSR.tm.t_on_failure("ksr_failure_route_one");
//!     if KSR.tm.t_relay() < 0 then
//!         KSR.sl.send_reply(500, "Server error")
//!     end
//! end
//! function ksr_reply_route()         KSR.info("===== response - from kamailio lua script\n") end
//! function ksr_branch_route_one()    KSR.info("===== branch route - from kamailio lua script\n") end
//! function ksr_onreply_route_one()   KSR.info("===== onreply route - from kamailio lua script\n") end
//! function ksr_failure_route_one()   KSR.info("===== failure route - from kamailio lua script\n") end
//! ```

use sipwasm_sdk::{Plugin, Route, config, export_plugin, info, maxfwd, pv, sl, tm, unknown_route};

struct KemiProxy {
    next_hop: String,
}

impl Default for KemiProxy {
    fn default() -> Self {
        KemiProxy {
            next_hop: config::get("next_hop").unwrap_or_else(|| "sip:127.0.0.1:5080".into()),
        }
    }
}

impl Plugin for KemiProxy {
    fn request_route(&mut self) -> Route {
        info!("===== request - from kemi-proxy plugin");
        if maxfwd::process_maxfwd(10).is_err() {
            sl::send_reply(483, "Too Many Hops")?;
            return Ok(());
        }
        pv::sets("$du", &self.next_hop)?;
        tm::t_on_branch("ksr_branch_route_one");
        tm::t_on_reply("ksr_onreply_route_one");
        tm::t_on_failure("ksr_failure_route_one");
        if tm::t_relay().is_err() {
            sl::send_reply(500, "Server error")?;
        }
        Ok(())
    }

    fn reply_route(&mut self) -> Route {
        info!("===== response - from kemi-proxy plugin");
        Ok(())
    }

    fn branch_route(&mut self, name: &str) -> Route {
        match name {
            "ksr_branch_route_one" => {
                info!("===== branch route - from kemi-proxy plugin");
                Ok(())
            }
            other => unknown_route(other),
        }
    }

    fn onreply_route(&mut self, name: &str) -> Route {
        match name {
            "ksr_onreply_route_one" => {
                info!("===== onreply route - from kemi-proxy plugin");
                Ok(())
            }
            other => unknown_route(other),
        }
    }

    fn failure_route(&mut self, name: &str) -> Route {
        match name {
            "ksr_failure_route_one" => {
                info!("===== failure route - from kemi-proxy plugin");
                Ok(())
            }
            other => unknown_route(other),
        }
    }
}

export_plugin!(KemiProxy);
