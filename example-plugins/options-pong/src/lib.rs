//! Answers OPTIONS with 200 OK carrying Allow and Accept headers (a keep-alive / health
//! check responder); every other request gets 501 Not Implemented.
//!
//! The header values come from the plugin's config (`allow`, `accept`), with defaults.

use sipwasm_sdk::{Plugin, Route, config, core, export_plugin, sl};

struct OptionsPong {
    allow: String,
    accept: String,
}

impl Default for OptionsPong {
    fn default() -> Self {
        OptionsPong {
            allow: config::get("allow")
                .unwrap_or_else(|| "INVITE, ACK, CANCEL, BYE, OPTIONS".into()),
            accept: config::get("accept").unwrap_or_else(|| "application/sdp".into()),
        }
    }
}

impl Plugin for OptionsPong {
    fn request_route(&mut self) -> Route {
        if core::is_method("OPTIONS") {
            sl::append_to_reply(format!(
                "Allow: {}\r\nAccept: {}\r\n",
                self.allow, self.accept
            ))?;
            sl::send_reply(200, "OK")?;
            return core::exit();
        }
        sl::send_reply(501, "Not Implemented")?;
        Ok(())
    }
}

export_plugin!(OptionsPong);
