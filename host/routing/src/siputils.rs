//! Kamailio's `siputils` checks.

use crate::context::RouteContext;

impl RouteContext {
    /// `has_totag()`: true when the request has a non-empty To tag, i.e. it belongs to a
    /// dialog (an in-dialog request), as Kamailio's siputils decides.
    pub fn has_totag(&self) -> bool {
        self.msg.is_request()
            && self
                .msg
                .to()
                .tag(self.msg.as_bytes())
                .is_some_and(|t| !t.is_empty())
    }
}
