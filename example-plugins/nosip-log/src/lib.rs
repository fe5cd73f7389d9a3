//! The nosip module's first example: log every non-SIP packet with its source.
//!
//! ```text
//! event_route[nosip:msg] {
//!     xlog("non-sip packet received - content [[$mb]] from [$si:$sp]\n");
//!     exit;
//! }
//! ```
//!
//! Which packets arrive is the router's `[nosip]` config (`msg_match`, `msg_skip`,
//! `min_size`). SIP requests get 501: this plugin routes nothing. A timer of its config
//! (`[[plugin.rtimer]]`, `event_route[timer:NAME]`) logs that it ran.

use sipwasm_sdk::{Plugin, Route, core, export_plugin, log, sl};

#[derive(Default)]
struct NosipLog;

impl Plugin for NosipLog {
    fn request_route(&mut self) -> Route {
        sl::send_reply(501, "Not Implemented")?;
        core::exit()
    }

    fn nosip_msg(&mut self) -> Route {
        log::xlog(
            log::Level::Info,
            "non-sip packet received - content [[$mb]] from [$si:$sp]",
        )?;
        core::exit()
    }

    fn event_route(&mut self, name: &str) -> Route {
        log::xlog(
            log::Level::Info,
            format!("timer $rtimer(name) ran ({name})"),
        )?;
        core::exit()
    }
}

export_plugin!(NosipLog);
