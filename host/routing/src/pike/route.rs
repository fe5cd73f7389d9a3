//! `pike_check_req` in a route.

use super::Standing;
use crate::context::RouteContext;

impl RouteContext {
    /// `pike_check_req()`: count this request against its source address.
    pub fn pike_check_req(&self) -> Standing {
        let standing = self
            .config
            .pike
            .check(self.source.src.ip(), std::time::Instant::now());
        if standing == Standing::NewlyBlocked {
            tracing::warn!(src = %self.source.src.ip(), "PIKE - BLOCKing ip: too many requests");
        }
        standing
    }

    /// `pike_check_ip(ip)`: count a request against `ip` (none when it is not an IP
    /// address).
    pub fn pike_check_ip(&self, ip: &str) -> Option<Standing> {
        let ip = ip.trim_matches(|c| c == '[' || c == ']').parse().ok()?;
        Some(self.config.pike.check(ip, std::time::Instant::now()))
    }
}
