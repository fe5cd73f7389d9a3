//! Kamailio 101, tutorial 3 ("Routing Blocks & Structure") as a sipwasm plugin:
//! INVITE gets 480 Temporarily Unavailable, anything else 501 Not Implemented from the
//! `RESPOND_501` named route, with the tutorial's log lines.
//!
//! The Kamailio config it reproduces:
//!
//! ```text
//! request_route {
//!     xlog("Hello, I am in the request_route");
//!     if (method == "INVITE") {
//!         sl_reply("480", "Temporarily Unavailable");
//!         exit;
//!     }
//!     route(RESPOND_501);
//!     xlog("Back in request_route");
//! }
//! route[RESPOND_501] {
//!     xlog("Now I am in the respond 501 route");
//!     sl_reply("501", "Not Implemented");
//!     exit;
//! }
//! ```

use sipwasm_sdk::{Plugin, Route, core, export_plugin, info, sl, unknown_route};

#[derive(Default)]
struct Tutorial;

impl Plugin for Tutorial {
    fn request_route(&mut self) -> Route {
        info!("Hello, I am in the request_route");
        if core::is_method("INVITE") {
            sl::send_reply(480, "Temporarily Unavailable")?;
            return core::exit();
        }
        self.route("RESPOND_501")?;
        // not reached: RESPOND_501 ends with exit, as in the tutorial
        info!("Back in request_route");
        Ok(())
    }

    fn route(&mut self, name: &str) -> Route {
        match name {
            "RESPOND_501" => {
                info!("Now I am in the respond 501 route");
                sl::send_reply(501, "Not Implemented")?;
                core::exit()
            }
            other => unknown_route(other),
        }
    }
}

export_plugin!(Tutorial);
