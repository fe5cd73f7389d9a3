//! @NAME@: a sipwasm routing plugin. OPTIONS is answered 200 OK, anything else 404 Not Here,
//! each request logged with its source. Its cases are example-plugins/cases/@NAME@.toml.

use sipwasm_sdk::{Plugin, Route, core, export_plugin, log, sl};

#[derive(Default)]
struct Router;

impl Plugin for Router {
    fn request_route(&mut self) -> Route {
        log::xlog(log::Level::Info, "$rm from $si:$sp")?;
        if core::is_method("OPTIONS") {
            sl::send_reply(200, "OK")?;
            return core::exit();
        }
        sl::send_reply(404, "Not Here")?;
        core::exit()
    }
}

export_plugin!(Router);
