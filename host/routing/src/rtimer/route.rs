//! The timer event a plugin runs (`event_route[timer:NAME]`,
//! `event_route[htable:expired:TABLE]`) and `rtimer.once` from any event.

use super::{OneShot, RtimerError};
use crate::context::Transmit;
use crate::env::{LocalConfig, Source};
use crate::htable::HtValue;
use crate::pv::{PvError, PvName, PvSpec, RtimerKey, ShtRecordKey, TemplatePart};
use crate::scope::Scope;
use crate::value::Value;
use sipwasm_proto::Transport;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// What a [`TimerEvent`] is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimerKind {
    /// A configured timer ticked.
    Tick {
        /// Its name.
        name: String,
    },
    /// A one-shot timer is due.
    Once {
        /// Its name.
        name: String,
        /// Its data.
        data: String,
    },
    /// An entry of a table with `expired_event` expired.
    Expired {
        /// The table.
        table: String,
        /// The entry's key.
        key: String,
        /// Its value.
        value: HtValue,
    },
}

impl TimerKind {
    /// The `NAME` of `event_route[NAME]`: `timer:NAME` or `htable:expired:TABLE`.
    pub fn route_name(&self) -> String {
        match self {
            TimerKind::Tick { name } | TimerKind::Once { name, .. } => format!("timer:{name}"),
            TimerKind::Expired { table, .. } => format!("htable:expired:{table}"),
        }
    }
}

/// The state of one timer event.
#[derive(Debug, Clone)]
pub struct TimerEvent {
    scope: Scope,
    kind: TimerKind,
}

/// What a timer event names: its own keys, and `$null` for where a message came from
/// (there is none).
fn own_names(kind: &TimerKind, name: &PvName) -> Option<Value> {
    let text = |s: &str| Value::Str(s.to_string());
    Some(match (name, kind) {
        (PvName::Rtimer(RtimerKey::Name), TimerKind::Tick { name })
        | (PvName::Rtimer(RtimerKey::Name), TimerKind::Once { name, .. }) => text(name),
        (PvName::Rtimer(RtimerKey::Data), TimerKind::Once { data, .. }) => text(data),
        (PvName::ShtRecord(ShtRecordKey::Key), TimerKind::Expired { key, .. }) => text(key),
        (PvName::ShtRecord(ShtRecordKey::Value), TimerKind::Expired { value, .. }) => {
            value.to_value()
        }
        (
            PvName::Rtimer(_)
            | PvName::ShtRecord(_)
            | PvName::SrcIp
            | PvName::SrcPort
            | PvName::RcvIp
            | PvName::RcvPort
            | PvName::Proto,
            _,
        ) => Value::Null,
        _ => return None,
    })
}

impl TimerEvent {
    /// The event for `kind` at `now_unix` seconds.
    pub fn new(config: Arc<LocalConfig>, kind: TimerKind, now_unix: u64) -> Self {
        let nowhere = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0);
        let source = Source {
            transport: Transport::Udp,
            src: nowhere,
            local: nowhere,
            conn: None,
        };
        TimerEvent {
            scope: Scope::new(config, source, now_unix),
            kind,
        }
    }

    /// Run the event for `caller` (the router sets it before the event route).
    pub fn set_caller(&mut self, caller: crate::Caller) {
        self.scope.caller = Some(caller);
    }

    /// Who the event runs for.
    pub fn caller(&self) -> Option<&crate::Caller> {
        self.scope.caller.as_ref()
    }

    /// What the event is for.
    pub fn kind(&self) -> &TimerKind {
        &self.kind
    }

    /// Router-wide configuration and state (htables ...).
    pub fn config(&self) -> &Arc<LocalConfig> {
        &self.scope.config
    }

    /// The value of a pseudo-variable.
    pub fn pv_get(&self, spec: &PvSpec) -> Result<Value, PvError> {
        self.scope.get(spec, &|n| own_names(&self.kind, n))
    }

    /// Assign `$var(x)` or `$sht(t=>k)`; nothing else is writable in a timer event.
    pub fn pv_set(&mut self, spec: &PvSpec, value: Value) -> Result<(), PvError> {
        let kind = &self.kind;
        self.scope
            .set(spec, value, &|n| own_names(kind, n), "a timer event")
    }

    /// Reset `$var(x)` or delete `$sht(t=>k)`.
    pub fn pv_unset(&mut self, spec: &PvSpec) -> Result<(), PvError> {
        let kind = &self.kind;
        self.scope.unset(spec, &|n| own_names(kind, n))
    }

    /// Expand an xlog template.
    pub fn format(&self, parts: &[TemplatePart]) -> Result<String, PvError> {
        self.scope.format(parts, &|n| own_names(&self.kind, n))
    }

    /// `t_continue` from a timer: resume a transaction the plugin suspended (a one-shot
    /// timer carrying its ids is the way to resume one after a delay).
    pub fn t_continue(
        &mut self,
        index: u32,
        label: u32,
        route: &str,
    ) -> Result<(), crate::tm::TmError> {
        self.scope.t_continue(index, label, route)
    }

    /// Messages queued so far (`net.send-udp`).
    pub fn outbound_mut(&mut self) -> &mut Vec<Transmit> {
        &mut self.scope.outbound
    }

    /// Take what the event wants sent.
    pub fn take_outbound(&mut self) -> Vec<Transmit> {
        std::mem::take(&mut self.scope.outbound)
    }
}

/// `rtimer.once` from any event: checked here, kept by the router for `caller`'s tenant.
pub fn once(
    config: &LocalConfig,
    caller: Option<&crate::Caller>,
    name: &str,
    delay_ms: u32,
    data: &str,
) -> Result<(), RtimerError> {
    let shot = OneShot::new(name, delay_ms, data)?;
    config.services().schedule_once(caller, shot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::htable::HtableSpec;

    fn get(e: &TimerEvent, name: &str) -> Value {
        e.pv_get(&PvSpec::parse(name).unwrap()).unwrap()
    }

    #[test]
    fn events_name_their_route_and_answer_their_keys() {
        let config = Arc::new(
            LocalConfig::new(Vec::new(), Vec::new(), None).with_htables(&[HtableSpec {
                name: "t".into(),
                autoexpire: 0,
                max_entries: 10,
                expired_event: false,
            }]),
        );
        let tick = TimerEvent::new(config.clone(), TimerKind::Tick { name: "ta".into() }, 1_000);
        assert_eq!(tick.kind().route_name(), "timer:ta");
        assert_eq!(get(&tick, "$rtimer(name)"), Value::Str("ta".into()));
        assert_eq!(get(&tick, "$rtimer(data)"), Value::Null);
        assert_eq!(get(&tick, "$shtrecord(key)"), Value::Null);
        assert_eq!(get(&tick, "$si"), Value::Null);
        assert_eq!(get(&tick, "$ru"), Value::Null);
        assert_eq!(get(&tick, "$Ts"), Value::Int(1_000));
        let mut once = TimerEvent::new(
            config.clone(),
            TimerKind::Once {
                name: "later".into(),
                data: "call-1".into(),
            },
            1_000,
        );
        assert_eq!(get(&once, "$rtimer(data)"), Value::Str("call-1".into()));
        assert_eq!(get(&once, "$(rtimer(data){s.len})"), Value::Int(6));
        let var = PvSpec::parse("$var(x)").unwrap();
        once.pv_set(&var, Value::Int(3)).unwrap();
        assert_eq!(get(&once, "$var(x)"), Value::Int(3));
        let sht = PvSpec::parse("$sht(t=>$rtimer(data))").unwrap();
        once.pv_set(&sht, Value::Str("seen".into())).unwrap();
        assert_eq!(get(&once, "$sht(t=>call-1)"), Value::Str("seen".into()));
        assert!(
            once.pv_set(&PvSpec::parse("$rtimer(name)").unwrap(), Value::Null)
                .is_err()
        );
        let expired = TimerEvent::new(
            config,
            TimerKind::Expired {
                table: "t".into(),
                key: "k".into(),
                value: HtValue::Int(7),
            },
            1_000,
        );
        assert_eq!(expired.kind().route_name(), "htable:expired:t");
        assert_eq!(get(&expired, "$shtrecord(key)"), Value::Str("k".into()));
        assert_eq!(get(&expired, "$shtrecord(value)"), Value::Int(7));
        assert_eq!(get(&expired, "$rtimer(name)"), Value::Null);
        let parts = crate::pv::parse_template("$shtrecord(key)=$shtrecord(value)").unwrap();
        assert_eq!(expired.format(&parts).unwrap(), "k=7");
    }

    #[test]
    fn once_without_a_router_is_unavailable() {
        let config = LocalConfig::new(Vec::new(), Vec::new(), None);
        assert_eq!(
            once(&config, None, "x", 10, ""),
            Err(RtimerError::Unavailable)
        );
        assert!(matches!(
            once(&config, None, "bad name", 10, ""),
            Err(RtimerError::InvalidName(_))
        ));
    }
}
