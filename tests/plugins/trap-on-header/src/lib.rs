//! Hostile test plugin: a request carrying an `X-Trap` header makes the plugin trap (a
//! query of death); any other request is answered 200 `X-Alive: yes`.

use sipwasm_sdk::{Plugin, Route, export_plugin, hdr, sl};

#[derive(Default)]
struct TrapOnHeader;

impl Plugin for TrapOnHeader {
    fn request_route(&mut self) -> Route {
        if hdr::is_present("X-Trap") {
            // an out-of-bounds style failure: wasm `unreachable`
            std::process::abort();
        }
        sl::append_to_reply("X-Alive: yes\r\n")?;
        sl::send_reply(200, "OK")?;
        Ok(())
    }
}

export_plugin!(TrapOnHeader);
