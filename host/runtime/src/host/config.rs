//! `sipwasm:router/config`: the plugin's own `[plugin.config]` table, nothing else.

use crate::bindings::sipwasm::router::config::Host;
use crate::state::HostState;

impl Host for HostState {
    fn get(&mut self, key: String) -> Option<String> {
        self.meta.config.get(&key).cloned()
    }

    fn keys(&mut self) -> Vec<String> {
        self.meta.config.keys().cloned().collect()
    }
}
