//! Hostile test plugin: every SIP request loops forever. The router must cut each event at
//! the tenant's CPU deadline, answer with the fallback, and back off after repeated
//! failures instead of re-instantiating in a tight loop.

use sipwasm_sdk::{Plugin, Route, export_plugin};

#[derive(Default)]
struct SpinForever;

impl Plugin for SpinForever {
    fn request_route(&mut self) -> Route {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

export_plugin!(SpinForever);
