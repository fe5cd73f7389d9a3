//! Non-SIP packets on SIP sockets: Kamailio's nosip module.
//!
//! A UDP datagram whose first line is not a SIP start line, or a line of a TCP connection
//! that did not start with SIP, becomes an `event_route[nosip:msg]` event when it passes
//! the [`NosipFilter`]: at least `min_size` bytes (NAT keep-alives are shorter), matching
//! `msg_match` and not matching `msg_skip`. The event is a [`RawEvent`]: the packet
//! (`$mb`, `$ml`), where it came from (`$si $sp $Ri $Rp $pr`), `$var(x)` for the plugin,
//! and what the plugin wants done afterwards (a reply to the sender, `t_continue`s,
//! outbound UDP).

use crate::context::Transmit;

use crate::env::{LocalConfig, Source};
use crate::pv::{PvError, PvName, PvSpec, TemplatePart};
use crate::scope::Scope;
use crate::tm::TmError;
use crate::value::Value;
use bytes::Bytes;
use regex::bytes::Regex;
use sipwasm_proto::Transport;
use std::sync::Arc;

/// Kamailio's hard-coded threshold: shorter packets are NAT keep-alives.
pub const DEFAULT_MIN_SIZE: usize = 32;

/// Which non-SIP packets reach the plugin.
#[derive(Clone, Debug)]
pub struct NosipFilter {
    /// Packets shorter than this are ignored.
    pub min_size: usize,
    /// When set, only packets matching it reach the plugin (`msg_match`).
    pub msg_match: Option<Regex>,
    /// When set, packets matching it are skipped (`msg_skip`).
    pub msg_skip: Option<Regex>,
}

impl Default for NosipFilter {
    fn default() -> Self {
        NosipFilter {
            min_size: DEFAULT_MIN_SIZE,
            msg_match: None,
            msg_skip: None,
        }
    }
}

/// Why a packet did not reach the plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skipped {
    /// Shorter than `min_size`.
    TooShort,
    /// `msg_match` is set and does not match.
    NoMatch,
    /// `msg_skip` matches.
    SkipMatch,
}

impl NosipFilter {
    /// A filter from config text; empty patterns mean no filter.
    pub fn new(min_size: usize, msg_match: &str, msg_skip: &str) -> Result<Self, regex::Error> {
        let compile = |p: &str| -> Result<Option<Regex>, regex::Error> {
            if p.is_empty() {
                Ok(None)
            } else {
                // a bounded automaton: a hostile pattern cannot blow up memory
                regex::bytes::RegexBuilder::new(p)
                    .size_limit(1 << 20)
                    .build()
                    .map(Some)
            }
        };
        Ok(NosipFilter {
            min_size,
            msg_match: compile(msg_match)?,
            msg_skip: compile(msg_skip)?,
        })
    }

    /// Whether `packet` goes to the plugin (both patterns apply to the whole packet).
    pub fn check(&self, packet: &[u8]) -> Result<(), Skipped> {
        if packet.len() < self.min_size {
            return Err(Skipped::TooShort);
        }
        if self.msg_match.as_ref().is_some_and(|r| !r.is_match(packet)) {
            return Err(Skipped::NoMatch);
        }
        if self.msg_skip.as_ref().is_some_and(|r| r.is_match(packet)) {
            return Err(Skipped::SkipMatch);
        }
        Ok(())
    }
}

/// Why `nosip.reply` failed; mirrors the WIT `nosip.error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NosipError {
    /// The event is not a non-SIP packet.
    #[error("no non-SIP packet in this event")]
    NoPacket,
    /// The reply is larger than the transport can carry in one piece.
    #[error("reply of {0} bytes is too large")]
    TooLarge(usize),
    /// The event already replied as often as it may.
    #[error("at most {MAX_REPLIES} replies per packet")]
    TooMany,
}

/// Most replies one packet may get.
pub const MAX_REPLIES: usize = 8;

/// The state of one `nosip:msg` event.
#[derive(Debug, Clone)]
pub struct RawEvent {
    scope: Scope,
    data: Bytes,
    replies: usize,
}

/// The names only a non-SIP packet has.
fn own_names(data: &Bytes, name: &PvName) -> Option<Value> {
    match name {
        PvName::MsgBuf => Some(Value::bytes(data)),
        PvName::MsgLen => Some(Value::Int(data.len() as i64)),
        _ => None,
    }
}

impl RawEvent {
    /// Run the event for `caller` (the router sets it before the event route).
    pub fn set_caller(&mut self, caller: crate::Caller) {
        self.scope.caller = Some(caller);
    }

    /// Who the event runs for.
    pub fn caller(&self) -> Option<&crate::Caller> {
        self.scope.caller.as_ref()
    }

    /// The event for `data` received as described by `source`, at `now_unix` seconds.
    pub fn new(config: Arc<LocalConfig>, data: Bytes, source: Source, now_unix: u64) -> Self {
        RawEvent {
            scope: Scope::new(config, source, now_unix),
            data,
            replies: 0,
        }
    }

    /// The packet.
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// Where it came from.
    pub fn source(&self) -> &Source {
        &self.scope.source
    }

    /// Router-wide configuration and state (htables ...).
    pub fn config(&self) -> &Arc<LocalConfig> {
        &self.scope.config
    }

    /// The value of a pseudo-variable: the packet, its addresses, `$var(x)` and
    /// `$sht(t=>k)`; every name about a SIP message is `$null` here, as in Kamailio's
    /// nosip event.
    pub fn pv_get(&self, spec: &PvSpec) -> Result<Value, PvError> {
        self.scope.get(spec, &|n| own_names(&self.data, n))
    }

    /// Assign `$var(x)` or `$sht(t=>k)`; nothing else is writable in a non-SIP event.
    pub fn pv_set(&mut self, spec: &PvSpec, value: Value) -> Result<(), PvError> {
        let data = &self.data;
        self.scope
            .set(spec, value, &|n| own_names(data, n), "a non-SIP event")
    }

    /// Reset `$var(x)` or delete `$sht(t=>k)`.
    pub fn pv_unset(&mut self, spec: &PvSpec) -> Result<(), PvError> {
        let data = &self.data;
        self.scope.unset(spec, &|n| own_names(data, n))
    }

    /// Expand an xlog template.
    pub fn format(&self, parts: &[TemplatePart]) -> Result<String, PvError> {
        self.scope.format(parts, &|n| own_names(&self.data, n))
    }

    /// `nosip.reply`: send `data` back to the sender, from the socket (or on the
    /// connection) the packet came in on.
    pub fn reply(&mut self, data: Vec<u8>) -> Result<(), NosipError> {
        let limit = if self.scope.source.transport == Transport::Udp {
            crate::net::MAX_UDP_PAYLOAD
        } else {
            1 << 20
        };
        if data.len() > limit {
            return Err(NosipError::TooLarge(data.len()));
        }
        if self.replies >= MAX_REPLIES {
            return Err(NosipError::TooMany);
        }
        self.replies += 1;
        self.scope.send_back(Bytes::from(data));
        Ok(())
    }

    /// `t_continue` from a non-SIP event (the nosip module's use case).
    pub fn t_continue(&mut self, index: u32, label: u32, route: &str) -> Result<(), TmError> {
        self.scope.t_continue(index, label, route)
    }

    /// Messages queued so far.
    pub fn outbound_mut(&mut self) -> &mut Vec<Transmit> {
        &mut self.scope.outbound
    }

    /// Take what the event wants sent.
    pub fn take_outbound(&mut self) -> Vec<Transmit> {
        std::mem::take(&mut self.scope.outbound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pv::parse_template;

    fn event(data: &'static [u8]) -> RawEvent {
        let config = Arc::new(LocalConfig::new(Vec::new(), Vec::new(), None));
        RawEvent::new(
            config,
            Bytes::from_static(data),
            Source {
                transport: Transport::Udp,
                src: "127.0.0.1:4000".parse().unwrap(),
                local: "127.0.0.1:5060".parse().unwrap(),
                conn: None,
            },
            1_700_000_000,
        )
    }

    fn get(e: &RawEvent, name: &str) -> Value {
        e.pv_get(&PvSpec::parse(name).unwrap()).unwrap()
    }

    #[test]
    fn filter_as_the_nosip_module() {
        let f = NosipFilter::default();
        assert_eq!(f.check(b"\r\n\r\n"), Err(Skipped::TooShort));
        assert_eq!(f.check(&[b'x'; 31]), Err(Skipped::TooShort));
        assert_eq!(f.check(&[b'x'; 32]), Ok(()));
        let f = NosipFilter::new(4, "^KREQUEST-", "").unwrap();
        assert_eq!(f.check(b"KREQUEST-RESUME"), Ok(()));
        assert_eq!(f.check(b"GET / HTTP/1.0"), Err(Skipped::NoMatch));
        let f = NosipFilter::new(4, "", "^GET ").unwrap();
        assert_eq!(f.check(b"GET / HTTP/1.0"), Err(Skipped::SkipMatch));
        assert_eq!(f.check(b"POST / HTTP/1.0"), Ok(()));
        // binary packets are matched as bytes
        let f = NosipFilter::new(1, r"(?-u)^\x16\x03", "").unwrap();
        assert_eq!(f.check(b"\x16\x03\x01\xff"), Ok(()));
        assert!(NosipFilter::new(1, "(", "").is_err());
    }

    #[test]
    fn resume_packets_are_parsed_with_transformations_on_mb() {
        let mut e = event(b":KREQUEST-RESUME-TRANSACTION:4242:8686:RESUME:");
        assert_eq!(get(&e, "$ml"), Value::Int(46));
        // the packet starts with the separator, so field 0 is empty and the ids are
        // fields 2 and 3 (the seed's example says 1 and 2; Kamailio's s.select counts
        // the same way we do)
        assert_eq!(
            get(&e, "$(mb{s.select,1,:})"),
            Value::Str("KREQUEST-RESUME-TRANSACTION".into())
        );
        assert_eq!(get(&e, "$(mb{s.select,2,:})"), Value::Str("4242".into()));
        assert_eq!(get(&e, "$(mb{s.select,3,:})"), Value::Str("8686".into()));
        assert_eq!(get(&e, "$(mb{s.select,4,:})"), Value::Str("RESUME".into()));
        assert_eq!(get(&e, "$si"), Value::Str("127.0.0.1".into()));
        assert_eq!(get(&e, "$sp"), Value::Int(4000));
        assert_eq!(get(&e, "$Rp"), Value::Int(5060));
        assert_eq!(get(&e, "$pr"), Value::Str("udp".into()));
        assert_eq!(get(&e, "$rm"), Value::Null);
        assert_eq!(get(&e, "$ci"), Value::Null);
        let var = PvSpec::parse("$var(tindex)").unwrap();
        e.pv_set(&var, Value::Str("4242".into())).unwrap();
        assert_eq!(get(&e, "$var(tindex)"), Value::Str("4242".into()));
        assert!(
            e.pv_set(&PvSpec::parse("$ru").unwrap(), Value::Null)
                .is_err()
        );
        let parts = parse_template("non-sip packet [$mb] from [$si:$sp]").unwrap();
        assert_eq!(
            e.format(&parts).unwrap(),
            "non-sip packet [:KREQUEST-RESUME-TRANSACTION:4242:8686:RESUME:] from [127.0.0.1:4000]"
        );
    }

    #[test]
    fn replies_go_back_on_the_same_socket_and_are_bounded() {
        let mut e = event(b"PING from an application, long enough");
        e.reply(b"PONG".to_vec()).unwrap();
        let out = e.take_outbound();
        assert_eq!(out[0].dest, "127.0.0.1:4000".parse().unwrap());
        assert_eq!(out[0].local, "127.0.0.1:5060".parse().unwrap());
        for _ in 0..MAX_REPLIES - 1 {
            e.reply(b"x".to_vec()).unwrap();
        }
        assert_eq!(e.reply(b"x".to_vec()), Err(NosipError::TooMany));
        assert!(matches!(
            event(b"x").reply(vec![0; 70_000]),
            Err(NosipError::TooLarge(70_000))
        ));
    }

    #[test]
    fn sht_with_a_dynamic_key_as_in_the_msrp_seed() {
        let config = Arc::new(
            LocalConfig::new(Vec::new(), Vec::new(), None).with_htables(&[
                crate::htable::HtableSpec {
                    name: "msrp".into(),
                    autoexpire: 60,
                    max_entries: 10,
                    expired_event: false,
                },
            ]),
        );
        let mut e = RawEvent::new(
            config,
            Bytes::from_static(b"x"),
            *event(b"x").source(),
            1_000,
        );
        let set = |e: &mut RawEvent, n: &str, v: Value| e.pv_set(&PvSpec::parse(n).unwrap(), v);
        set(&mut e, "$var(sessid)", Value::Str("s.1.2".into())).unwrap();
        let name = "$sht(msrp=>$var(sessid)::srcaddr)";
        assert_eq!(get(&e, name), Value::Null);
        set(
            &mut e,
            name,
            Value::Str("sip:127.0.0.1:40000;transport=tcp".into()),
        )
        .unwrap();
        assert_eq!(
            get(&e, "$sht(msrp=>s.1.2::srcaddr)"),
            Value::Str("sip:127.0.0.1:40000;transport=tcp".into())
        );
        assert_eq!(
            get(&e, "$(sht(msrp=>s.1.2::srcaddr){s.len})"),
            Value::Int(33)
        );
        e.pv_unset(&PvSpec::parse(name).unwrap()).unwrap();
        assert_eq!(get(&e, name), Value::Null);
        assert!(
            e.pv_get(&PvSpec::parse("$sht(nosuch=>k)").unwrap())
                .is_err()
        );
        assert!(PvSpec::parse("$sht(msrp)").is_err());
        assert!(PvSpec::parse("$sht(=>k)").is_err());
    }

    #[test]
    fn t_continue_without_a_transaction_layer_is_an_error() {
        let mut e = event(b"x");
        assert_eq!(e.t_continue(1, 2, "RESUME"), Err(TmError::NoTransaction));
        assert!(matches!(
            e.t_continue(1, 2, "bad name"),
            Err(TmError::Invalid(_))
        ));
    }
}
