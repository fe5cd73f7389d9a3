//! What the events that carry no SIP message (a non-SIP packet, an MSRP frame) share:
//! where the bytes came from, the event time, `$var(x)`, `$sht(t=>k)`, and what the
//! event wants sent. Each event adds its own names (`$mb`, `$msrp(key)` ...) through the
//! `own` lookup; every other SIP name is `$null`, as in Kamailio's non-SIP event routes.

use crate::context::Transmit;

use crate::env::{LocalConfig, Source};
use crate::pv::{PvError, PvName, PvSpec, TemplatePart, expand, set_var, shared_value};
use crate::value::Value;
use std::sync::Arc;

/// An event's names beyond the shared ones: `Some` for a name it knows.
pub(crate) type OwnNames<'a> = &'a dyn Fn(&PvName) -> Option<Value>;

#[derive(Debug, Clone)]
pub(crate) struct Scope {
    pub(crate) config: Arc<LocalConfig>,
    pub(crate) source: Source,
    pub(crate) now_unix: u64,
    pub(crate) vars: Vec<(String, Value)>,
    pub(crate) outbound: Vec<Transmit>,
    /// Who the event runs for (see [`crate::Caller`]).
    pub(crate) caller: Option<crate::Caller>,
}

impl Scope {
    pub(crate) fn new(config: Arc<LocalConfig>, source: Source, now_unix: u64) -> Self {
        Scope {
            config,
            source,
            now_unix,
            vars: Vec::new(),
            outbound: Vec::new(),
            caller: None,
        }
    }

    /// `t_continue` from an event without a transaction of its own (a non-SIP packet, a
    /// timer): resume `caller`'s suspended transaction once the event is done.
    pub(crate) fn t_continue(
        &self,
        index: u32,
        label: u32,
        route: &str,
    ) -> Result<(), crate::tm::TmError> {
        crate::tm::check_resume_route(route)?;
        self.config.services().resume(
            self.caller.as_ref(),
            crate::tm::Resume {
                index,
                label,
                route: route.to_string(),
            },
        )
    }

    /// Queue `data` back to the sender, on the socket or connection it came in on.
    pub(crate) fn send_back(&mut self, data: bytes::Bytes) {
        let s = &self.source;
        self.outbound.push(Transmit {
            transport: s.transport,
            dest: s.src,
            local: s.local,
            conn: s.conn,
            data,
            flags: Default::default(),
        });
    }

    /// The value of `spec`, transformations applied.
    pub(crate) fn get(&self, spec: &PvSpec, own: OwnNames<'_>) -> Result<Value, PvError> {
        let mut v = match own(&spec.name) {
            Some(v) => v,
            None => match &spec.name {
                PvName::Sht { table, key } => {
                    let key = self.format(key, own)?;
                    crate::pv::sht_get(&self.config.htables, table, &key, self.now_unix)?
                }
                name => {
                    let tls_peer = || self.config.tls_peer(&self.source);
                    shared_value(name, &self.source, &tls_peer, self.now_unix, &self.vars)
                        .unwrap_or(Value::Null)
                }
            },
        };
        for t in &spec.transforms {
            v = t.apply(v).map_err(PvError::Transformation)?;
        }
        Ok(v)
    }

    /// Expand an xlog template.
    pub(crate) fn format(
        &self,
        parts: &[TemplatePart],
        own: OwnNames<'_>,
    ) -> Result<String, PvError> {
        expand(parts, |spec| self.get(spec, own))
    }

    /// Assign `$var(x)` or `$sht(t=>k)`; `what` names the event for the error.
    pub(crate) fn set(
        &mut self,
        spec: &PvSpec,
        value: Value,
        own: OwnNames<'_>,
        what: &str,
    ) -> Result<(), PvError> {
        if !spec.transforms.is_empty() || spec.index.is_some() {
            return Err(PvError::ReadOnly(
                "a name with transformations or an index".into(),
            ));
        }
        match &spec.name {
            PvName::Var(name) => {
                set_var(&mut self.vars, name, value);
                Ok(())
            }
            PvName::Sht { table, key } => {
                let key = self.format(key, own)?;
                crate::pv::sht_set(&self.config.htables, table, &key, value, self.now_unix)
            }
            other => Err(PvError::ReadOnly(format!(
                "{other:?} in {what} (only $var(x) and $sht(t=>k) are writable)"
            ))),
        }
    }

    /// Reset `$var(x)` or delete `$sht(t=>k)`.
    pub(crate) fn unset(&mut self, spec: &PvSpec, own: OwnNames<'_>) -> Result<(), PvError> {
        match &spec.name {
            PvName::Var(name) => {
                self.vars.retain(|(n, _)| n != name);
                Ok(())
            }
            PvName::Sht { .. } => self.set(spec, Value::Null, own, ""),
            other => Err(PvError::ReadOnly(format!("{other:?} cannot be unset"))),
        }
    }
}
