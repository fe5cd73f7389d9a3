//! The event a plugin is called for, one kind at a time: a SIP message (request, reply or a
//! transaction's later routes), a packet that is not SIP (`event_route[nosip:msg]`), or an
//! MSRP frame (`event_route[msrp:frame-in]`). What every kind offers (pseudo-variables,
//! templates, the router state, what it wants sent) is answered here once; a host call
//! that only makes sense for one kind asks for it ([`Event::sip_mut`] ...).

use crate::context::{RouteContext, Transmit};

use crate::env::LocalConfig;
use crate::msrp::MsrpEvent;
use crate::nosip::RawEvent;
use crate::pv::{PvError, PvSpec, TemplatePart};
use crate::rtimer::TimerEvent;
use crate::value::Value;
use std::sync::Arc;

/// One event.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one event at a time, moved into the plugin's store and back, as the SIP context \
              alone was; a Box would allocate for every message"
)]
pub enum Event {
    /// A SIP message.
    Sip(RouteContext),
    /// A packet that is not SIP.
    Raw(RawEvent),
    /// An MSRP frame.
    Msrp(MsrpEvent),
    /// A timer (`event_route[timer:NAME]`, `event_route[htable:expired:T]`).
    Timer(TimerEvent),
}

impl Event {
    /// The SIP message's routing state, when the event is one.
    pub fn sip(&self) -> Option<&RouteContext> {
        match self {
            Event::Sip(c) => Some(c),
            _ => None,
        }
    }

    /// [`Self::sip`], to change it.
    pub fn sip_mut(&mut self) -> Option<&mut RouteContext> {
        match self {
            Event::Sip(c) => Some(c),
            _ => None,
        }
    }

    /// The non-SIP packet, when the event is one.
    pub fn raw_mut(&mut self) -> Option<&mut RawEvent> {
        match self {
            Event::Raw(r) => Some(r),
            _ => None,
        }
    }

    /// The MSRP frame, when the event is one.
    pub fn msrp(&self) -> Option<&MsrpEvent> {
        match self {
            Event::Msrp(m) => Some(m),
            _ => None,
        }
    }

    /// [`Self::msrp`], to change it.
    pub fn msrp_mut(&mut self) -> Option<&mut MsrpEvent> {
        match self {
            Event::Msrp(m) => Some(m),
            _ => None,
        }
    }

    /// Who the event runs for.
    pub fn caller(&self) -> Option<&crate::Caller> {
        match self {
            Event::Sip(c) => c.caller(),
            Event::Raw(r) => r.caller(),
            Event::Msrp(m) => m.caller(),
            Event::Timer(t) => t.caller(),
        }
    }

    /// The router state the event sees (its tenant's tables).
    pub fn config(&self) -> &Arc<LocalConfig> {
        match self {
            Event::Sip(c) => c.config(),
            Event::Raw(r) => r.config(),
            Event::Msrp(m) => m.config(),
            Event::Timer(t) => t.config(),
        }
    }

    /// The value of a pseudo-variable, transformations applied.
    pub fn pv_get(&self, spec: &PvSpec) -> Result<Value, PvError> {
        match self {
            Event::Sip(c) => c.pv_get(spec),
            Event::Raw(r) => r.pv_get(spec),
            Event::Msrp(m) => m.pv_get(spec),
            Event::Timer(t) => t.pv_get(spec),
        }
    }

    /// Assign a pseudo-variable.
    pub fn pv_set(&mut self, spec: &PvSpec, value: Value) -> Result<(), PvError> {
        match self {
            Event::Sip(c) => c.pv_set(spec, value),
            Event::Raw(r) => r.pv_set(spec, value),
            Event::Msrp(m) => m.pv_set(spec, value),
            Event::Timer(t) => t.pv_set(spec, value),
        }
    }

    /// Unset a pseudo-variable.
    pub fn pv_unset(&mut self, spec: &PvSpec) -> Result<(), PvError> {
        match self {
            Event::Sip(c) => c.pv_unset(spec),
            Event::Raw(r) => r.pv_unset(spec),
            Event::Msrp(m) => m.pv_unset(spec),
            Event::Timer(t) => t.pv_unset(spec),
        }
    }

    /// Expand an xlog template.
    pub fn format(&self, parts: &[TemplatePart]) -> Result<String, PvError> {
        match self {
            Event::Sip(c) => c.format(parts),
            Event::Raw(r) => r.format(parts),
            Event::Msrp(m) => m.format(parts),
            Event::Timer(t) => t.format(parts),
        }
    }

    /// What the event wants sent (`net.send-udp` adds to it).
    pub fn outbound_mut(&mut self) -> &mut Vec<Transmit> {
        match self {
            Event::Sip(c) => c.outbound_mut(),
            Event::Raw(r) => r.outbound_mut(),
            Event::Msrp(m) => m.outbound_mut(),
            Event::Timer(t) => t.outbound_mut(),
        }
    }
}
