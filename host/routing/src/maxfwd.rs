//! `maxfwd`: `process_maxfwd(limit)`, Kamailio's maxfwd module.

use crate::context::RouteContext;
use crate::lumps::Lump;
use crate::tm::TmError;
use sipwasm_proto::HeaderName;

/// Outcome of `process_maxfwd`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaxFwd {
    /// The header was missing and was added with the limit.
    Added,
    /// The value was decremented (and capped at the limit).
    Decremented,
    /// The value is 0: answer 483 Too Many Hops.
    Exhausted,
}

impl RouteContext {
    /// True once `process_maxfwd` ran (forwarding then leaves Max-Forwards alone).
    pub fn maxfwd_processed(&self) -> bool {
        self.maxfwd_done
    }

    /// `process_maxfwd(limit)` (maxfwd module).
    pub fn process_maxfwd(&mut self, limit: u32) -> Result<MaxFwd, TmError> {
        if !self.msg.is_request() {
            return Err(TmError::NoRequest);
        }
        if limit == 0 || limit > 255 {
            return Err(TmError::Invalid("limit must be 1 to 255".into()));
        }
        if self.maxfwd_done {
            return Err(TmError::Invalid("process_maxfwd already ran".into()));
        }
        let msg = &self.msg;
        match msg
            .headers()
            .iter()
            .find(|h| h.name == HeaderName::MaxForwards)
        {
            None => {
                let at = msg.headers_end();
                self.lumps
                    .insert_at(at, format!("Max-Forwards: {limit}\r\n").into_bytes());
                self.maxfwd_done = true;
                Ok(MaxFwd::Added)
            }
            Some(h) => {
                let v = u32::from(msg.max_forwards().unwrap_or(0));
                if v == 0 {
                    return Ok(MaxFwd::Exhausted);
                }
                let new = v.min(limit) - 1;
                let span = h.value;
                self.lumps.push(Lump::Delete(span));
                self.lumps
                    .insert_at(span.start as usize, new.to_string().into_bytes());
                self.maxfwd_done = true;
                Ok(MaxFwd::Decremented)
            }
        }
    }
}
