//! Record-Route and loose routing (Kamailio's `rr` module; RFC 3261 §16.4, §16.6, §16.12;
//! RFC 5626 §5.3 flow tokens), with every URI this router hands out signed.
//!
//! A Record-Route URI of this router carries `sig`, an HMAC (keyed per router, and per
//! tenant) over the Call-ID, the From tag of the dialog-forming request and the flow
//! token, if any. An in-dialog request (one with a To tag) is routed by [`loose_route`]
//! only when its top Route is such a URI, valid for its own Call-ID and tags, *and* its
//! next hop is the one its dialog recorded ([`crate::dialog`]: anybody who calls through
//! the router gets a signed Record-Route back, so the signature alone does not keep a
//! party of a dialog from sending "in-dialog" requests elsewhere). Anything else — a
//! forged Route, a Route to another host, a request leaving its dialog, a dialog this
//! router does not know — is answered 403 and can be neither relayed nor forwarded
//! afterwards. A Path URI of this router (`add_path`) is signed over its flow token and
//! `received`, is valid for initial requests only, and is the only thing that sends one
//! towards a UA's flow.
//!
//! [`loose_route`]: RouteContext::loose_route

use crate::context::RouteContext;

use crate::env::Listener;
use crate::lumps::Lump;
use sipwasm_proto::uri::Uri;
use sipwasm_proto::{HeaderName, Span, Transport};

pub(crate) mod uri;
pub use uri::*;

impl RouteContext {
    /// The parameters `record_route` asked for, when it was called.
    pub fn record_route_params(&self) -> Option<&RecordRoute> {
        self.record_route.as_ref()
    }

    /// For a reply: true unless it came through a proxy after this router — one that
    /// record-routed it (its top Record-Route is not one of ours), or the next Route its
    /// in-dialog request was sent to —, i.e. the UA that answered is next to us.
    pub(crate) fn replier_is_next_to_us(&self) -> bool {
        let b = self.msg.as_bytes();
        !self.to_route_proxy
            && self
                .msg
                .record_routes()
                .first()
                .is_none_or(|r| matches!(self.own_uri(r.uri.as_bytes(b)), Some(Own::Rr(..))))
    }

    /// True once `loose_route` refused the request (403 sent): it is not relayed.
    pub fn is_refused(&self) -> bool {
        self.refused
    }

    pub(crate) fn check_not_refused(&self) -> Result<(), crate::tm::TmError> {
        if self.refused {
            return Err(crate::tm::TmError::Invalid(
                "the request was refused by loose_route (403 sent)".into(),
            ));
        }
        Ok(())
    }

    /// `record_route` / `record_route_params(params)`: insert a Record-Route when the
    /// request is forwarded. For a UA using RFC 5626 outbound (the request comes straight
    /// from it and its Contact has `ob`), or a request that arrived through a flow token
    /// of ours, the URI carries the flow token, so requests of the dialog towards that UA
    /// go back over its flow.
    pub fn record_route(&mut self, params: &str) -> Result<(), RrError> {
        if !self.msg.is_request() {
            return Err(RrError::NoRequest);
        }
        let params = params.trim();
        if params.contains(['>', '<', '\r', '\n', ' ', ',', '"', '?']) {
            return Err(RrError::Invalid(format!(
                "bad Record-Route parameters {params:?}"
            )));
        }
        let params = if params.is_empty() || params.starts_with(';') {
            params.to_string()
        } else {
            format!(";{params}")
        };
        if let Some(p) = params.split(';').find(|p| {
            let name = p.split('=').next().unwrap_or_default().trim();
            RESERVED_PARAMS.iter().any(|r| r.eq_ignore_ascii_case(name))
        }) {
            return Err(RrError::Invalid(format!(
                "{p:?} is a parameter of the router's own"
            )));
        }
        let flow_token = self.outbound_flow_token();
        let sig = self.rr_signature(flow_token.as_deref().unwrap_or_default());
        self.record_route = Some(RecordRoute {
            params,
            flow_token,
            sig,
        });
        Ok(())
    }

    /// The flow token a Record-Route or Path of this request carries (Kamailio's
    /// `use_outbound`): the one of our top Route when the request came through it, else
    /// the request's own flow when its sender uses outbound (first hop, Contact with `ob`).
    pub(crate) fn outbound_flow_token(&self) -> Option<String> {
        let b = self.msg.as_bytes();
        if let Some(top) = self.msg.routes().first()
            && top.uri.param(b, b"ob").is_some()
            && let Some(Own::Rr(Some(flow), _) | Own::Path(Some(flow))) =
                self.own_uri(top.uri.as_bytes(b))
        {
            return Some(flow.token());
        }
        let first_hop = self.msg.vias().len() == 1;
        let ob = self
            .msg
            .contacts()
            .first()
            .is_some_and(|c| c.uri.param(b, b"ob").is_some());
        (first_hop && ob).then(|| Flow::of_source(&self.source).token())
    }

    /// The `sig` of a Record-Route URI of this router for this request.
    pub(crate) fn rr_signature(&self, user: &str) -> String {
        let b = self.msg.as_bytes();
        self.config.sign(&[
            b"rr",
            self.msg.call_id(),
            self.msg.from().tag(b).unwrap_or_default(),
            user.as_bytes(),
        ])
    }

    /// Check a URI naming this router: a preloaded Route, a Record-Route or Path URI we
    /// wrote, or a forgery. `None` when the URI is not this router's at all. A signed URI
    /// is ours whatever host it names (a per-request advertised address).
    fn own_uri(&self, text: &[u8]) -> Option<Own> {
        let u = Uri::parse_standalone(text).ok()?;
        if !u.scheme.is_sip() {
            return None;
        }
        let myself = self
            .config
            .is_myself(u.host(text), u.port, u.port_or_default(text));
        let user = u.user(text).unwrap_or_default();
        let received = u
            .param(text, b"received")
            .flatten()
            .map(sipwasm_proto::uri::unescape);
        let Some(sig) = u.param(text, b"sig").flatten() else {
            if !myself {
                return None;
            }
            // a plain Route to us; anything that would steer the request must be signed
            return Some(if !user.is_empty() || received.is_some() {
                Own::Forged
            } else {
                Own::Unsigned
            });
        };
        let b = self.msg.as_bytes();
        let call_id = self.msg.call_id();
        // an RFC 2543 peer has no From tag: we signed with an empty one
        let from = self.msg.from().tag(b).unwrap_or_default();
        let to = self.msg.to().tag(b).unwrap_or_default();
        // signed with the From tag of the first request: matched by the From tag, the
        // request goes the way the first one went (downstream), by the To tag it comes back
        let signed_with = |tag: &[u8]| {
            same_sig(
                self.config.sign(&[b"rr", call_id, tag, user]).as_bytes(),
                sig,
            )
        };
        let downstream = signed_with(from);
        if downstream || signed_with(to) {
            // a Record-Route names a flow by its token only: a `received` is not ours
            if received.is_some() {
                return Some(Own::Forged);
            }
            let user = String::from_utf8_lossy(user);
            return Some(match (user.is_empty(), Flow::from_token(&user)) {
                (true, _) => Own::Rr(None, downstream),
                (false, Some(flow)) => Own::Rr(Some(flow), downstream),
                (false, None) => Own::Forged,
            });
        }
        let received = received.map(|r| String::from_utf8_lossy(&r).into_owned());
        let as_path = (received.is_some() || !user.is_empty())
            && same_sig(
                self.config
                    .sign(&[
                        b"path",
                        user,
                        received.as_deref().unwrap_or_default().as_bytes(),
                    ])
                    .as_bytes(),
                sig,
            );
        if as_path {
            let user = String::from_utf8_lossy(user);
            let flow = Flow::from_token(&user)
                .or_else(|| received.as_deref().and_then(Flow::from_received));
            return Some(Own::Path(flow));
        }
        myself.then_some(Own::Forged)
    }

    /// True when this request arrived over `flow` (it comes from that UA).
    fn came_over(&self, flow: &Flow) -> bool {
        self.source.transport == flow.transport
            && self.source.src == flow.peer
            && flow.local.is_none_or(|l| l == self.source.local)
    }

    /// Send the request over `flow`: `$du`, the socket it belongs to, no new connection.
    fn route_to_flow(&mut self, flow: Flow) {
        self.dst_uri = Some(flow.dst_uri());
        self.force_socket = flow
            .local
            .map(|addr| Listener {
                transport: flow.transport,
                addr,
            })
            .filter(|l| self.config.listeners().contains(l));
        self.conn = None;
        self.no_connect = flow.transport.is_stream();
        self.ruri_new = true;
    }

    /// Refuse the request: 403, and nothing relays or forwards it afterwards.
    fn refuse(&mut self, why: &str) -> RrError {
        if !self.refused {
            let _ = self.append_to_reply(&format!(
                "Warning: 399 sipwasm \"{}\"\r\n",
                why.replace(['"', '\\'], "'")
            ));
            let _ = self.send_reply(403, "Forbidden");
            self.refused = true;
        }
        RrError::Forbidden(why.to_string())
    }

    /// `loose_route` (RFC 3261 §16.4, §16.12; Kamailio's `rr`): process the Route set.
    ///
    /// - No Route: [`Routed::NoRoute`].
    /// - In a dialog (To tag), the top Route must be a Record-Route this router wrote for
    ///   this dialog (signature checked); otherwise the request is answered 403 and
    ///   [`RrError::Forbidden`] returned. Our entries (both of a double Record-Route) are
    ///   removed; the next Route becomes `$du`; with none left the Request-URI is the
    ///   target. When the previous hop was a strict router, the Request-URI is our
    ///   Record-Route URI: the last Route becomes the Request-URI.
    /// - An initial request: Route entries naming this router (a UA's preloaded outbound
    ///   proxy) are removed; with none left the result is [`Routed::Preloaded`] and the
    ///   route decides where the request goes (Kamailio's -3); a foreign Route becomes
    ///   `$du` as RFC 3261 wants — so check who sends it before relaying. Kamailio's
    ///   default config does not call `loose_route` for initial requests at all.
    /// - A Route of ours with a flow token or a `received` address (RFC 5626, Path):
    ///   requests not coming over that flow go to it ([`Routed::Flow`]).
    /// - A next hop without `lr` (a strict router) gets the Request-URI, the Request-URI
    ///   appended to the Route set (RFC 3261 §16.6 step 6).
    pub fn loose_route(&mut self) -> Result<Routed, RrError> {
        if !self.msg.is_request() {
            return Err(RrError::NoRequest);
        }
        // the message is shared (a reference count), not copied
        let msg = self.msg.clone();
        let b = msg.as_bytes();
        let routes = msg.routes();
        if routes.is_empty() {
            return Ok(Routed::NoRoute);
        }
        let in_dialog = self.has_totag();
        let mut removed: Vec<usize> = Vec::with_capacity(3);
        let mut flow: Option<Flow> = None;
        let mut path_flow: Option<Flow> = None;
        let mut first = 0usize;
        let mut seals: Vec<(crate::uac::Side, String)> = Vec::new();
        let mut direction = true;
        // a strict router before us put our Record-Route URI into the Request-URI (§16.4)
        let mut strict = false;
        if in_dialog
            && let Some(u) = msg.request_uri()
            && let Some(Own::Rr(f, _)) = self.own_uri(u.as_bytes(b))
        {
            let last = routes.len() - 1;
            self.new_ruri =
                Some(String::from_utf8_lossy(routes[last].uri.as_bytes(b)).into_owned());
            self.ruri_new = true;
            removed.push(last);
            flow = f;
            strict = true;
        }
        // our entries on top: one, or the two of a double Record-Route
        while first < routes.len() && !removed.contains(&first) && first < 2 {
            let r = &routes[first];
            match self.own_uri(r.uri.as_bytes(b)) {
                None => break,
                Some(Own::Forged) => {
                    return Err(self.refuse("Route not issued by this router"));
                }
                Some(Own::Unsigned) if in_dialog && !strict => {
                    return Err(self.refuse("Route not issued by this router for this dialog"));
                }
                Some(Own::Path(_)) if in_dialog => {
                    // a Path entry brings initial requests to a UA; a dialog has its
                    // Record-Route
                    return Err(self.refuse("a Path entry is no route for a dialog"));
                }
                Some(Own::Unsigned) => {}
                // a Record-Route's flow token is for the requests of its dialog: on an
                // initial request (a replayed entry) it reaches no flow
                Some(Own::Rr(f, downstream)) => {
                    flow = flow.or(f.filter(|_| in_dialog));
                    // uac_replace_from/to of the first request: their seals
                    // (the two entries of a double Record-Route carry the same ones)
                    for side in [crate::uac::Side::From, crate::uac::Side::To] {
                        if let Some(Some(v)) = r.uri.param(b, side.rr_param().as_bytes())
                            && !seals.iter().any(|(s, _)| *s == side)
                        {
                            seals.push((side, String::from_utf8_lossy(v).into_owned()));
                        }
                    }
                    direction = downstream;
                }
                Some(Own::Path(f)) => path_flow = path_flow.or(f),
            }
            first += 1;
            if r.uri.param(b, b"r2").is_none() {
                break;
            }
        }
        if in_dialog && first == 0 && !strict {
            return Err(self.refuse("in-dialog request with a Route to another host"));
        }
        if in_dialog && !seals.is_empty() {
            self.uac_restore_in_dialog(&seals, direction);
        }
        removed.extend(0..first);
        if let Some(f) = flow.or(path_flow)
            && !self.came_over(&f)
        {
            if in_dialog {
                // the flow token is signed for this dialog; the dialog must still be one
                // this router knows
                self.check_dialog(None)?;
            }
            self.remove_route_entries(&removed);
            self.route_to_flow(f);
            return Ok(Routed::Flow);
        }
        let next = (first..routes.len()).find(|i| !removed.contains(i));
        let Some(next) = next else {
            if in_dialog {
                let target = self.current_ruri();
                self.check_dialog(target.as_deref())?;
            }
            self.remove_route_entries(&removed);
            return Ok(if in_dialog || strict {
                Routed::RouteSet
            } else {
                Routed::Preloaded
            });
        };
        let next_uri = &routes[next].uri;
        let next_text = String::from_utf8_lossy(next_uri.as_bytes(b)).into_owned();
        if in_dialog {
            self.check_dialog(Some(&next_text))?;
        }
        if next_uri.param(b, b"lr").is_none() {
            // the next hop is a strict router: it gets the request with its URI as the
            // Request-URI, and ours goes last into the Route set (§16.6 step 6)
            let ruri = self.current_ruri().unwrap_or_default();
            removed.push(next);
            self.remove_route_entries(&removed);
            let at = self.msg.headers_end();
            self.lumps
                .insert_at(at, format!("Route: <{ruri}>\r\n").into_bytes());
            self.new_ruri = Some(next_text);
        } else {
            self.remove_route_entries(&removed);
            self.dst_uri = Some(next_text);
        }
        self.to_route_proxy = true;
        self.ruri_new = true;
        Ok(Routed::RouteSet)
    }

    /// An in-dialog request may go on only when its dialog is one this router
    /// record-routed, it comes from the side it claims, and it goes to the other side:
    /// to the address that side's messages came from (checked when it is relayed), or,
    /// behind a trusted peer, to `next` when that is the side's next hop (`None`: a
    /// flow, whose signed token fixes the target). See [`crate::dialog`].
    fn check_dialog(&mut self, next: Option<&str>) -> Result<(), RrError> {
        match self
            .config
            .dialogs
            .check(&self.msg, self.source.src.ip(), next, self.now_unix)
        {
            Ok(c) => {
                self.dialog = Some(c);
                if self.msg.method() == sipwasm_proto::Method::Bye {
                    // the call is over: its place among the caller's calls is free
                    self.config.calls.hangup(self.msg.call_id());
                }
                Ok(())
            }
            Err(e) => Err(self.refuse(&e.to_string())),
        }
    }

    /// Refuse (403, like a forged request) a request checked against its dialog that
    /// would go to `dst`, not where the other side is (see [`RouteContext::may_reach`]).
    pub(crate) fn leaves_dialog(&mut self, dst: std::net::SocketAddr) -> crate::tm::TmError {
        let why = format!("the request leaves its dialog (to {dst})");
        self.refuse(&why);
        crate::tm::TmError::Invalid(why)
    }

    /// Remove the Route entries `indices` (of all Route headers in order) with lumps: a
    /// header line whose entries all go is deleted; otherwise each run of removed entries
    /// is cut with the comma that separates it from the entries that stay.
    fn remove_route_entries(&mut self, indices: &[usize]) {
        let msg = &self.msg;
        let routes = msg.routes();
        let mut cuts = Vec::new();
        for h in msg.headers().iter().filter(|h| h.name == HeaderName::Route) {
            // the entries of this header line, and which of them go
            let entries: Vec<(usize, Span)> = routes
                .iter()
                .enumerate()
                .filter(|(_, r)| r.span.start >= h.value.start && r.span.end <= h.value.end)
                .map(|(i, r)| (i, r.span))
                .collect();
            let gone: Vec<bool> = entries.iter().map(|(i, _)| indices.contains(i)).collect();
            if !gone.iter().any(|g| *g) {
                continue;
            }
            if gone.iter().all(|g| *g) {
                cuts.push(Lump::Delete(h.line));
                continue;
            }
            let mut k = 0;
            while k < entries.len() {
                if !gone[k] {
                    k += 1;
                    continue;
                }
                let first = k;
                while k + 1 < entries.len() && gone[k + 1] {
                    k += 1;
                }
                let last = k;
                let span = if last + 1 < entries.len() {
                    // up to the next entry that stays, separator included
                    Span::new(
                        entries[first].1.start as usize,
                        entries[last + 1].1.start as usize,
                    )
                } else {
                    // the run ends the line: from the end of the entry before it
                    Span::new(
                        entries[first - 1].1.end as usize,
                        entries[last].1.end as usize,
                    )
                };
                cuts.push(Lump::Delete(span));
                k += 1;
            }
        }
        for c in cuts {
            self.lumps.push(c);
        }
    }
}

/// Write the URI of our Record-Route entry for listener `l`, reachable at `host_port`,
/// into `out`.
pub(crate) fn write_rr_uri(
    out: &mut Vec<u8>,
    l: &Listener,
    host_port: &str,
    r2: bool,
    rr: &RecordRoute,
    uac_params: &str,
) {
    out.extend_from_slice(b"<sip:");
    let user = rr.flow_token.as_deref().unwrap_or_default();
    if !user.is_empty() {
        out.extend_from_slice(user.as_bytes());
        out.push(b'@');
    }
    out.extend_from_slice(host_port.as_bytes());
    if l.transport != Transport::Udp {
        out.extend_from_slice(b";transport=");
        out.extend_from_slice(l.transport.as_str().as_bytes());
    }
    if r2 {
        out.extend_from_slice(b";r2=on");
    }
    out.extend_from_slice(b";lr");
    if !user.is_empty() {
        out.extend_from_slice(b";ob");
    }
    out.extend_from_slice(rr.params.as_bytes());
    out.extend_from_slice(uac_params.as_bytes());
    out.extend_from_slice(b";sig=");
    out.extend_from_slice(rr.sig.as_bytes());
    out.push(b'>');
}

/// What a URI of this router that is checked for its signature turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Own {
    /// Ours by address, with no signature: a Route a UA preloaded.
    Unsigned,
    /// A Record-Route URI this router wrote for this request's dialog, with the flow
    /// token it carries, and whether the request goes the way the first one went.
    Rr(Option<Flow>, bool),
    /// A Path URI this router wrote (valid for initial requests only), with the flow its
    /// token or `received` names.
    Path(Option<Flow>),
    /// Something claims to be ours but is not (bad signature, or a flow token or
    /// `received` its signature does not cover).
    Forged,
}

/// Parameters of our own URIs that a plugin's `record_route_params` may not set.
const RESERVED_PARAMS: &[&str] = &[
    "sig",
    "received",
    "ob",
    "r2",
    "lr",
    "transport",
    "alias",
    "maddr",
];
