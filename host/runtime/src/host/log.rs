//! `sipwasm:router/log`: every line carries the plugin name and the route it came from.

use crate::account::{LogGate, MAX_DROPPED_PER_EVENT};
use crate::bindings::sipwasm::router::log::{Host, Level};
use crate::bindings::sipwasm::router::pv::Error as PvError;
use crate::state::HostState;
use std::sync::atomic::Ordering;

/// Longest message logged; longer ones are cut (a plugin must not flood the log with
/// megabyte lines).
const MAX_MESSAGE: usize = 8192;

impl HostState {
    /// May a line be written? `Err` traps the guest: the event flooded the log.
    fn log_gate(&self) -> wasmtime::Result<bool> {
        match self.meta.account.log_gate(&self.log_drops) {
            LogGate::Write => Ok(true),
            LogGate::Drop => Ok(false),
            LogGate::Flood => {
                self.log_flood.store(true, Ordering::Relaxed);
                Err(wasmtime::Error::msg(format!(
                    "log flood: more than {MAX_DROPPED_PER_EVENT} lines over the log rate in one event"
                )))
            }
        }
    }

    fn write_line(&self, level: Level, message: &str) {
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

impl HostState {
    fn xlog_write(&mut self, level: Level, template: String) -> Result<(), PvError> {
        let parts = self.template(&template).map_err(super::pv_error)?;
        let text = match &self.event {
            Some(event) => event.format(&parts).map_err(super::pv_error)?,
            None => template,
        };
        self.write_line(level, &text);
        Ok(())
    }
}

impl Host for HostState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        if self.log_gate()? {
            self.write_line(level, &message);
        }
        Ok(())
    }

    fn xlog(&mut self, level: Level, template: String) -> wasmtime::Result<Result<(), PvError>> {
        // the budget is checked before the (costly) expansion: a flood costs little
        if !self.log_gate()? {
            return Ok(Ok(()));
        }
        Ok(self.xlog_write(level, template))
    }
}
