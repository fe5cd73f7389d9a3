//! Hostile test plugin: every SIP request allocates (and touches) memory until the
//! tenant's memory cap refuses to grow the instance's linear memory.

use sipwasm_sdk::{Plugin, Route, export_plugin};

#[derive(Default)]
struct EatMemory {
    hoard: Vec<Vec<u8>>,
}

impl Plugin for EatMemory {
    fn request_route(&mut self) -> Route {
        loop {
            // 1 MiB at a time, written so that the pages are really used
            self.hoard.push(vec![0xA5; 1 << 20]);
        }
    }
}

export_plugin!(EatMemory);
