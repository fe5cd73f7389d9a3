//! The benchmark harness's reference proxy (`../shared/bench/kamailio/proxy.cfg`), line by
//! line, so that the side-by-side numbers compare the same routing logic: Max-Forwards
//! checked (483), an ACK of a known transaction relayed, every other request relayed
//! statefully to the next hop (`next_hop` from the plugin config, default
//! `sip:127.0.0.1:5090`, the harness's UAS), `sl_reply_error` when that fails. No
//! branch, onreply or failure routes, and no logging, as in the cfg.
//!
//! ```text
//! request_route {
//!     if (!mf_process_maxfwd_header("10")) {
//!         sl_send_reply("483", "Too Many Hops");
//!         exit;
//!     }
//!     if (is_method("ACK") && t_check_trans()) {
//!         t_relay();
//!         exit;
//!     }
//!     $du = "sip:127.0.0.1:" + UAS_PORT;
//!     if (!t_relay()) {
//!         sl_reply_error();
//!     }
//!     exit;
//! }
//! ```

use sipwasm_sdk::{Plugin, Route, config, core, export_plugin, maxfwd, pv, sl, tm};

struct ProxyCfg {
    next_hop: String,
}

impl Default for ProxyCfg {
    fn default() -> Self {
        ProxyCfg {
            next_hop: config::get("next_hop").unwrap_or_else(|| "sip:127.0.0.1:5090".into()),
        }
    }
}

impl Plugin for ProxyCfg {
    fn request_route(&mut self) -> Route {
        if maxfwd::process_maxfwd(10).is_err() {
            sl::send_reply(483, "Too Many Hops")?;
            return core::exit();
        }
        if core::is_method("ACK") && tm::t_check_trans() {
            let _ = tm::t_relay();
            return core::exit();
        }
        pv::sets("$du", &self.next_hop)?;
        if tm::t_relay().is_err() {
            sl::send_reply_error()?;
        }
        core::exit()
    }
}

export_plugin!(ProxyCfg);
