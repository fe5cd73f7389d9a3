//! The dispatcher functions of a route (`ds_select_dst` ...): the destinations still to
//! try ride in the transaction's AVPs (`$avp(_dsdst_)`, as Kamailio keeps them in an
//! xavp), so a failure route finds them in the request's saved context.

use super::{DsError, DsView, Keys, Pick, parse_state};
use crate::context::RouteContext;
use crate::value::Value;

/// `$avp` name of the destinations still to try after a selection, the current first.
const DST_AVP: &str = "_dsdst_";
/// `$avp` name of the current destination's attributes.
const ATTRS_AVP: &str = "_dsattrs_";

/// A selection as it is kept in the AVPs: by set and URI (a reload may reorder the set),
/// checked against the tenant's grants whenever used (a plugin can write the AVP).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Listed {
    set: u32,
    uri: String,
    /// `ds_select_domain`: the Request-URI is rewritten, not `$du`.
    domain: bool,
}

impl Listed {
    fn text(&self) -> String {
        format!("{} {} {}", self.set, self.domain, self.uri)
    }

    fn parse(text: &str) -> Option<Listed> {
        let mut it = text.splitn(3, ' ');
        Some(Listed {
            set: it.next()?.parse().ok()?,
            domain: it.next()? == "true",
            uri: it.next()?.to_string(),
        })
    }

    /// Where it is now, if the tenant may use it.
    fn pick(&self, view: &DsView) -> Option<Pick> {
        view.check(self.set).ok()?;
        view.dispatcher().find(self.set, &self.uri)
    }
}

impl RouteContext {
    fn ds(&self) -> DsView {
        self.config.dispatcher.clone()
    }

    /// `ds_select_dst(set, alg, limit)`: `$du` becomes a destination of `set` chosen by
    /// Kamailio's algorithm number `alg`; up to `limit - 1` more (0: all) are kept for
    /// `ds_next_dst` in a failure route.
    pub fn ds_select_dst(&mut self, set: u32, alg: u32, limit: u32) -> Result<(), DsError> {
        self.ds_select(set, alg, limit, false)
    }

    /// `ds_select_domain(set, alg, limit)`: the same, the Request-URI's host and port
    /// rewritten instead of `$du`.
    pub fn ds_select_domain(&mut self, set: u32, alg: u32, limit: u32) -> Result<(), DsError> {
        self.ds_select(set, alg, limit, true)
    }

    fn ds_select(&mut self, set: u32, alg: u32, limit: u32, domain: bool) -> Result<(), DsError> {
        if !self.msg.is_request() {
            return Err(DsError::NoRequest);
        }
        let view = self.ds();
        view.check(set)?;
        let ruri = self.current_ruri().unwrap_or_default();
        let base = self.msg.as_bytes();
        let keys = Keys {
            call_id: self.msg.call_id(),
            from_uri: self.msg.from().uri.as_bytes(base),
            to_uri: self.msg.to().uri.as_bytes(base),
            ruri: ruri.as_bytes(),
        };
        let picks = view
            .dispatcher()
            .select(set, alg, limit, &keys, !view.is_dry())?;
        let listed: Vec<Listed> = picks
            .into_iter()
            .filter_map(|pick| view.dispatcher().target(pick))
            .map(|t| Listed {
                set,
                uri: t.uri,
                domain,
            })
            .collect();
        self.ds_keep(&listed);
        let first = listed.first().ok_or(DsError::NoneActive)?;
        self.ds_apply(&view, first);
        Ok(())
    }

    /// The selections still listed, the current first.
    fn ds_listed(&self) -> Vec<Listed> {
        self.avps
            .iter()
            .filter(|(n, _)| n == DST_AVP)
            .filter_map(|(_, v)| match v {
                Value::Str(s) => Listed::parse(s),
                _ => None,
            })
            .collect()
    }

    fn ds_keep(&mut self, listed: &[Listed]) {
        self.avps.retain(|(n, _)| n != DST_AVP);
        for l in listed {
            self.avps.push((DST_AVP.into(), Value::Str(l.text())));
        }
    }

    /// Send the request to `listed`'s destination.
    fn ds_apply(&mut self, view: &DsView, listed: &Listed) {
        let Some(target) = listed.pick(view).and_then(|p| view.dispatcher().target(p)) else {
            return;
        };
        if listed.domain {
            let ruri = self.current_ruri().unwrap_or_default();
            let Some(new) = with_hostport(&ruri, &target.hostport) else {
                return;
            };
            self.set_ruri(new);
        } else {
            self.dst_uri = Some(target.uri);
        }
        self.ruri_new = true;
        self.avps.retain(|(n, _)| n != ATTRS_AVP);
        self.avps.push((ATTRS_AVP.into(), Value::Str(target.attrs)));
    }

    /// `ds_next_dst` (and `ds_next_domain`): the next destination kept by the selection
    /// that is still usable.
    pub fn ds_next_dst(&mut self) -> Result<(), DsError> {
        let view = self.ds();
        let mut listed = self.ds_listed();
        if listed.is_empty() {
            return Err(DsError::NoneLeft);
        }
        listed.remove(0);
        // skip what went down (or away, or out of the tenant's grants) since the selection
        while listed
            .first()
            .is_some_and(|l| !l.pick(&view).is_some_and(|p| view.dispatcher().usable(p)))
        {
            listed.remove(0);
        }
        self.ds_keep(&listed);
        let Some(next) = listed.first() else {
            return Err(DsError::NoneLeft);
        };
        self.ds_apply(&view, next);
        Ok(())
    }

    /// `ds_mark_dst(state)` on the destination last selected.
    pub fn ds_mark_dst(&mut self, state: &str) -> Result<(), DsError> {
        let view = self.ds();
        let Some(current) = self.ds_listed().into_iter().next() else {
            return Err(DsError::Invalid("no destination was selected".into()));
        };
        let Some(pick) = current.pick(&view) else {
            return Err(DsError::UnknownSet(current.set));
        };
        if view.is_dry() {
            return parse_state(state).map(|_| ());
        }
        view.dispatcher().mark(pick, state)
    }

    /// `ds_is_from_list(set)`: the set (of those granted) whose destination sent the
    /// request.
    pub fn ds_is_from_list(&self, set: Option<u32>) -> Option<u32> {
        let view = self.ds();
        let ds = view.dispatcher();
        let (src, transport) = (self.source.src, self.source.transport);
        match (view.granted_sets(), set) {
            (_, Some(id)) => view
                .check(id)
                .ok()
                .and(ds.from_list(src, transport, Some(id))),
            (None, None) => ds.from_list(src, transport, None),
            (Some(sets), None) => sets
                .iter()
                .find_map(|&id| ds.from_list(src, transport, Some(id))),
        }
    }

    /// `ds_load_unset`: the call of this request failed; it no longer counts.
    pub fn ds_load_unset(&mut self) -> bool {
        let view = self.ds();
        !view.is_dry() && view.dispatcher().load_end(self.msg.call_id())
    }

    /// `ds_load_update`: a BYE or CANCEL ends the call's count on its destination.
    pub fn ds_load_update(&mut self) -> bool {
        let view = self.ds();
        matches!(
            self.msg.method(),
            sipwasm_proto::Method::Bye | sipwasm_proto::Method::Cancel
        ) && !view.is_dry()
            && view.dispatcher().load_end(self.msg.call_id())
    }
}

/// `ruri` with its host and port replaced by `hostport`.
fn with_hostport(ruri: &str, hostport: &str) -> Option<String> {
    let (scheme, rest) = ruri.split_once(':')?;
    let (userinfo, hostpart) = match rest.rfind('@') {
        Some(at) => (&rest[..=at], &rest[at + 1..]),
        None => ("", rest),
    };
    let tail = hostpart.find([';', '?']).map_or("", |i| &hostpart[i..]);
    Some(format!("{scheme}:{userinfo}{hostport}{tail}"))
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;
    use crate::context::fixtures::*;
    use std::collections::HashMap;
    use std::time::{Duration, Instant};

    fn dst(uri: &str) -> DestinationSpec {
        DestinationSpec {
            uri: uri.into(),
            weight: 0,
            priority: 0,
            attrs: String::new(),
            probe: false,
            max_load: 0,
        }
    }

    fn two(probing: Probing) -> Arc<Dispatcher> {
        Arc::new(
            Dispatcher::new(
                vec![SetSpec {
                    id: 1,
                    destinations: vec![dst("sip:127.0.0.1:5081"), dst("sip:127.0.0.1:5082")],
                }],
                probing,
            )
            .unwrap(),
        )
    }

    /// The fixture's request with Call-ID `call_id`, routed by a router balancing over
    /// `ds`.
    fn ctx_on(ds: &Arc<Dispatcher>, call_id: &str) -> RouteContext {
        let text = REQ.replace("Call-ID: cid-123@h", &format!("Call-ID: {call_id}"));
        let mut c = ctx();
        c.msg = SipMessage::parse(Bytes::from(text)).unwrap();
        let identity = Arc::try_unwrap(cfg()).expect("a fresh identity");
        c.config = Arc::new(identity.with_dispatcher(ds.clone()));
        c
    }

    #[test]
    fn round_robin_alternates_and_failover_takes_the_other() {
        let ds = two(Probing::default());
        let mut seen = Vec::new();
        for _ in 0..4 {
            let mut c = ctx_on(&ds, "a");
            c.ds_select_dst(1, 4, 0).unwrap();
            seen.push(c.dst_uri().unwrap().to_string());
            // failover: the other one, then nothing
            c.ds_next_dst().unwrap();
            assert_ne!(c.dst_uri().unwrap(), seen.last().unwrap());
            assert_eq!(c.ds_next_dst(), Err(DsError::NoneLeft));
        }
        assert_eq!(seen[0], seen[2]);
        assert_ne!(seen[0], seen[1]);
    }

    #[test]
    fn hashing_on_the_call_id_is_stable_and_spreads() {
        let ds = two(Probing::default());
        let pick = |id: &str| {
            let mut c = ctx_on(&ds, id);
            c.ds_select_dst(1, 0, 0).unwrap();
            c.dst_uri().unwrap().to_string()
        };
        assert_eq!(pick("call-1"), pick("call-1"));
        let distinct: std::collections::HashSet<String> =
            (0..64).map(|i| pick(&format!("c{i}"))).collect();
        assert_eq!(distinct.len(), 2);
    }

    #[test]
    fn an_inactive_destination_is_skipped_until_probes_bring_it_back() {
        let ds = two(Probing {
            all: true,
            interval: Duration::from_secs(1),
            ..Probing::default()
        });
        let mut c = ctx_on(&ds, "x");
        c.ds_select_dst(1, 8, 0).unwrap();
        assert_eq!(c.dst_uri(), Some("sip:127.0.0.1:5081"));
        c.ds_mark_dst("ip").unwrap();
        assert_eq!(ds.list()[0].state, "IP");
        for _ in 0..3 {
            let mut c = ctx_on(&ds, "y");
            c.ds_select_dst(1, 8, 0).unwrap();
            assert_eq!(c.dst_uri(), Some("sip:127.0.0.1:5082"));
            assert_eq!(c.ds_next_dst(), Err(DsError::NoneLeft));
        }
        // a probe answered 200: active again
        let local = cfg();
        let now = Instant::now();
        let sent = ds.tick(now, &*local);
        assert_eq!(sent.len(), 2, "both probed (all)");
        let call_id = |t: &crate::context::Transmit| {
            let m = SipMessage::parse(t.data.clone()).unwrap();
            assert_eq!(m.method_text(), b"OPTIONS");
            String::from_utf8_lossy(m.call_id()).into_owned()
        };
        let first = call_id(&sent[0]);
        let reply = |call_id: &str, code: u16| {
            sipwasm_proto::SipMessage::parse(bytes::Bytes::from(format!(
                "SIP/2.0 {code} OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n\
From: <sip:d@l>;tag=1\r\nTo: <sip:x@y>;tag=2\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            )))
            .unwrap()
        };
        let gw1: std::net::SocketAddr = "127.0.0.1:5081".parse().unwrap();
        assert!(
            !ds.probe_reply(&reply(&first, 200), "192.0.2.66:5081".parse().unwrap()),
            "an answer from elsewhere is not taken"
        );
        assert!(ds.probe_reply(&reply(&first, 200), gw1));
        assert!(!ds.probe_reply(&reply(&first, 200), gw1), "once");
        assert_eq!(ds.list()[0].state, "AP");
        assert_eq!(
            ds.take_changes(),
            vec![
                (1, "sip:127.0.0.1:5081".into(), "IP".into()),
                (1, "sip:127.0.0.1:5081".into(), "AP".into())
            ]
        );
        // the other one does not answer: inactive after the timeout, UDP resent meanwhile
        let resent = ds.tick(now + Duration::from_millis(600), &*local);
        assert_eq!(resent.len(), 1);
        ds.tick(now + Duration::from_secs(3), &*local);
        assert_eq!(ds.list()[1].state, "IP");
        let mut c = ctx_on(&ds, "z");
        c.ds_select_dst(1, 8, 0).unwrap();
        assert_eq!(c.dst_uri(), Some("sip:127.0.0.1:5081"));
        // a non-accepted final reply is a failure too (the probes of 3 s, resent)
        let sent = ds.tick(now + Duration::from_secs(4), &*local);
        assert_eq!(sent.len(), 2);
        let first = sent
            .iter()
            .find(|t| t.data.starts_with(b"OPTIONS sip:127.0.0.1:5081 "))
            .unwrap();
        assert!(ds.probe_reply(&reply(&call_id(first), 503), gw1));
        assert_eq!(ds.list()[0].state, "IP");
        let mut c = ctx_on(&ds, "z");
        assert_eq!(c.ds_select_dst(1, 8, 0), Err(DsError::NoneActive));
    }

    #[test]
    fn weights_share_the_calls_and_priority_orders() {
        let mut a = dst("sip:10.0.0.1");
        a.weight = 75;
        let mut b = dst("sip:10.0.0.2");
        b.weight = 25;
        b.priority = 5;
        let ds = Arc::new(
            Dispatcher::new(
                vec![SetSpec {
                    id: 2,
                    destinations: vec![a, b],
                }],
                Probing::default(),
            )
            .unwrap(),
        );
        let mut counts = HashMap::<String, u32>::new();
        for _ in 0..100 {
            let mut c = ctx_on(&ds, "w");
            c.ds_select_dst(2, 9, 1).unwrap();
            *counts.entry(c.dst_uri().unwrap().into()).or_default() += 1;
            assert_eq!(c.ds_next_dst(), Err(DsError::NoneLeft), "limit 1");
        }
        assert_eq!(counts["sip:10.0.0.1"], 75);
        assert_eq!(counts["sip:10.0.0.2"], 25);
        // priority: the higher one first
        let mut c = ctx_on(&ds, "p");
        c.ds_select_dst(2, 8, 0).unwrap();
        assert_eq!(c.dst_uri(), Some("sip:10.0.0.2"));
    }

    #[test]
    fn equal_weights_share_by_largest_remainder_and_a_reload_keeps_the_failover_list() {
        let three: Vec<DestinationSpec> = ["sip:10.0.0.1", "sip:10.0.0.2", "sip:10.0.0.3"]
            .iter()
            .map(|u| DestinationSpec {
                weight: 1,
                ..dst(u)
            })
            .collect();
        let ds = Arc::new(
            Dispatcher::new(
                vec![SetSpec {
                    id: 1,
                    destinations: three.clone(),
                }],
                Probing::default(),
            )
            .unwrap(),
        );
        let mut counts = HashMap::<String, u32>::new();
        for _ in 0..100 {
            let mut c = ctx_on(&ds, "w");
            c.ds_select_dst(1, 9, 1).unwrap();
            *counts.entry(c.dst_uri().unwrap().into()).or_default() += 1;
        }
        let mut shares: Vec<u32> = counts.values().copied().collect();
        shares.sort_unstable();
        assert_eq!(shares, vec![33, 33, 34]);
        // a selection made before a reload that reorders the set fails over to the
        // destinations it listed, by URI
        let mut c = ctx_on(&ds, "r");
        c.ds_select_dst(1, 8, 0).unwrap();
        assert_eq!(c.dst_uri(), Some("sip:10.0.0.1"));
        let mut reordered = three;
        reordered[2].priority = 10;
        reordered.remove(1);
        ds.reload(vec![SetSpec {
            id: 1,
            destinations: reordered,
        }])
        .unwrap();
        c.ds_next_dst().unwrap();
        assert_eq!(c.dst_uri(), Some("sip:10.0.0.3"), "10.0.0.2 is gone");
        assert_eq!(c.ds_next_dst(), Err(DsError::NoneLeft));
    }

    #[test]
    fn call_load_takes_the_least_loaded_and_forgets_ended_calls() {
        let ds = two(Probing::default());
        let pick = |id: &str| {
            let mut c = ctx_on(&ds, id);
            c.ds_select_dst(1, 10, 0).unwrap();
            c.dst_uri().unwrap().to_string()
        };
        let first = pick("one");
        let second = pick("two");
        assert_ne!(first, second);
        assert!(ds.load_end(b"one"));
        assert!(!ds.load_end(b"one"));
        assert_eq!(pick("three"), first);
        assert_eq!(ds.list().iter().map(|d| d.load).sum::<u32>(), 2);
    }

    #[test]
    fn domain_selection_rewrites_the_request_uri_host() {
        let ds = two(Probing::default());
        let mut c = ctx_on(&ds, "d");
        c.ds_select_domain(1, 8, 0).unwrap();
        let ruri = c.current_ruri().unwrap();
        assert!(ruri.contains("@127.0.0.1:5081"), "{ruri}");
        assert_eq!(c.dst_uri(), None);
        assert_eq!(
            with_hostport("sip:bob@a.example:5060;transport=udp", "10.0.0.1:5090").unwrap(),
            "sip:bob@10.0.0.1:5090;transport=udp"
        );
    }

    #[test]
    fn source_matches_its_set_and_config_errors_are_named() {
        let ds = two(Probing::default());
        let c = ctx_on(&ds, "s");
        // the fixture's source is 10.0.0.1:5070
        assert_eq!(c.ds_is_from_list(None), None);
        let near = Arc::new(
            Dispatcher::new(
                vec![
                    SetSpec {
                        id: 4,
                        destinations: vec![dst("sip:10.0.0.1:5070;transport=tcp")],
                    },
                    SetSpec {
                        id: 5,
                        destinations: vec![dst("sip:10.0.0.1:5070")],
                    },
                ],
                Probing::default(),
            )
            .unwrap(),
        );
        assert_eq!(ctx_on(&near, "s").ds_is_from_list(None), Some(5));
        assert_eq!(ctx_on(&near, "s").ds_is_from_list(Some(4)), None);
        let e = Dispatcher::new(
            vec![SetSpec {
                id: 3,
                destinations: vec![dst("sip:gw.example.com")],
            }],
            Probing::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("IP address"), "{e}");
        assert_eq!(
            Algorithm::of(13).unwrap_err(),
            DsError::UnknownAlgorithm(13)
        );
        assert!(parse_state("x").is_err());
        assert_eq!(parse_state("ip").unwrap(), INACTIVE | PROBING);
    }
}
