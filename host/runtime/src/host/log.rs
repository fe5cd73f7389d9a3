//! `sipwasm:router/log`: every line carries the plugin name and the route it came from.

use crate::bindings::sipwasm::router::log::{Host, Level};
use crate::bindings::sipwasm::router::pv::Error as PvError;
use crate::state::HostState;

/// Longest message logged; longer ones are cut (a plugin must not flood the log with
/// megabyte lines).
const MAX_MESSAGE: usize = 8192;

impl HostState {
    pub(crate) fn log_line(&self, level: Level, message: &str) {
        let mut msg = message.trim_end_matches(['\r', '\n']);
        if msg.len() > MAX_MESSAGE {
            let mut cut = MAX_MESSAGE;
            while !msg.is_char_boundary(cut) {
                cut -= 1;
            }
            msg = &msg[..cut];
        }
        let plugin = &*self.meta.name;
        let route = self.route;
        match level {
            Level::Debug => tracing::debug!(target: "sipwasm::plugin", plugin, route, "{msg}"),
            Level::Info | Level::Notice => {
                tracing::info!(target: "sipwasm::plugin", plugin, route, "{msg}")
            }
            Level::Warn => tracing::warn!(target: "sipwasm::plugin", plugin, route, "{msg}"),
            Level::Error | Level::Crit => {
                tracing::error!(target: "sipwasm::plugin", plugin, route, "{msg}")
            }
        }
    }
}

impl Host for HostState {
    fn log(&mut self, level: Level, message: String) {
        self.log_line(level, &message);
    }

    fn xlog(&mut self, level: Level, template: String) -> Result<(), PvError> {
        let parts = self.template(&template).map_err(super::pv_error)?;
        let text = match (&self.event, &self.raw, &self.msrp) {
            (Some(ctx), _, _) => ctx.format(&parts).map_err(super::pv_error)?,
            (None, Some(raw), _) => raw.format(&parts).map_err(super::pv_error)?,
            (None, None, Some(m)) => m.format(&parts).map_err(super::pv_error)?,
            (None, None, None) => template,
        };
        self.log_line(level, &text);
        Ok(())
    }
}
