//! NAT traversal for SIP signalling: Kamailio's `nathelper` module.
//!
//! A UA behind NAT puts its private address into Via and Contact. `nat_uac_test` detects
//! that; the rest makes requests and replies reach the UA at the address its packets
//! come from: `fix_nated_contact` rewrites its Contact, `fix_nated_register` makes the
//! registrar keep the source address of a REGISTER, and the alias functions carry that
//! address inside the Contact (`;alias=IP~PORT~PROTO`) so that `handle_ruri_alias` can
//! send the dialog's later requests there. (`force_rport` lives in `core`.)

use crate::context::RouteContext;
use crate::lumps::Lump;
use sipwasm_proto::reply::parse_host_ip;
use sipwasm_proto::uri::Uri;
use sipwasm_proto::{Span, Transport};
use std::net::{IpAddr, SocketAddr};

/// `nat_uac_test` flag: the Contact host is a private IPv4 address (RFC 1918, RFC 6598).
pub const NAT_CONTACT_PRIVATE: u32 = 1;
/// The top Via host is not the source IP.
pub const NAT_VIA_RECEIVED: u32 = 2;
/// The top Via host is a private IPv4 address.
pub const NAT_VIA_PRIVATE: u32 = 4;
/// An SDP `c=` line holds a private IPv4 address.
pub const NAT_SDP_PRIVATE: u32 = 8;
/// The source port is not the top Via port.
pub const NAT_VIA_PORT: u32 = 16;
/// The source IP is a private IPv4 address.
pub const NAT_SOURCE_PRIVATE: u32 = 32;
/// Received over WebSocket (never, here).
pub const NAT_WEBSOCKET: u32 = 64;
/// The source port is not the Contact port.
pub const NAT_CONTACT_PORT: u32 = 128;
/// An SDP session `c=` address is not the source IP.
pub const NAT_SDP_SOURCE: u32 = 256;

/// Why a nathelper function failed; mirrors the WIT `nathelper.error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NatError {
    /// The event has no SIP message.
    #[error("no SIP message in this event")]
    NoMessage,
    /// The message has no usable Contact (none, `*`, not a SIP URI).
    #[error("no Contact to change: {0}")]
    NoContact(String),
    /// The Contact was already changed in this event (Kamailio refuses a second change).
    #[error("the Contact was already changed")]
    AlreadyChanged,
    /// A malformed `alias` parameter.
    #[error("invalid alias: {0}")]
    Invalid(String),
}

/// True for the addresses Kamailio's nathelper calls private: RFC 1918, RFC 6598 shared
/// address space, and 192.0.0.0/24 (IETF protocol assignments, `nat_addr_mode` 1).
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            o[0] == 10
                || (o[0] == 172 && (16..32).contains(&o[1]))
                || (o[0] == 192 && o[1] == 168)
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        }
        IpAddr::V6(_) => false,
    }
}

/// `IP~PORT~PROTO` for `addr` over `t`, IPv6 in brackets.
pub fn alias_value(addr: SocketAddr, t: Transport) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    };
    // the digit is Kamailio's `enum sip_protos`, as in a flow token
    format!("{ip}~{}~{}", addr.port(), crate::rr::proto_code(t))
}

/// Read an alias value back: the address and transport.
pub fn parse_alias(v: &str) -> Option<(SocketAddr, Transport)> {
    let mut parts = v.split('~');
    let ip = parse_host_ip(parts.next()?.as_bytes())?;
    let port: u16 = parts.next()?.parse().ok()?;
    let t = crate::rr::proto_of(parts.next()?.parse().ok()?)?;
    if parts.next().is_some() || port == 0 {
        return None;
    }
    Some((SocketAddr::new(ip, port), t))
}

/// Every `c=` address of an SDP body (session and media level).
fn sdp_addresses(body: &[u8]) -> impl Iterator<Item = IpAddr> + '_ {
    body.split(|&c| c == b'\n').filter_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let rest = line
            .strip_prefix(b"c=IN IP4 ")
            .or_else(|| line.strip_prefix(b"c=IN IP6 "))?;
        let addr = rest.split(|&c| c == b'/' || c == b' ').next()?;
        std::str::from_utf8(addr).ok()?.parse().ok()
    })
}

/// The text of URI `u` (in `b`) with `edits` applied: (start, end, replacement) ranges of
/// `b` inside the URI, in order.
fn uri_with(b: &[u8], u: &Uri, edits: &[(usize, usize, &str)]) -> String {
    let mut out = String::with_capacity(u.whole.len() + 48);
    let mut at = u.whole.start as usize;
    for &(start, end, text) in edits {
        out.push_str(&String::from_utf8_lossy(&b[at..start]));
        out.push_str(text);
        at = end;
    }
    out.push_str(&String::from_utf8_lossy(&b[at..u.whole.end as usize]));
    out
}

/// The `;alias=...` parameters of URI `u` (in `b`): their spans, `;` included.
fn alias_params(b: &[u8], u: &Uri) -> Vec<(usize, usize)> {
    let mut cuts = Vec::new();
    if u.params.is_empty() {
        return cuts;
    }
    let params = u.params.of(b);
    let start = u.params.start as usize;
    let mut i = 0;
    while i < params.len() {
        let next = params[i + 1..]
            .iter()
            .position(|&c| c == b';')
            .map_or(params.len(), |p| i + 1 + p);
        let p = &params[i + 1..next];
        let name = p.split(|&c| c == b'=').next().unwrap_or_default();
        if name.eq_ignore_ascii_case(b"alias") {
            cuts.push((start + i, start + next));
        }
        i = next;
    }
    cuts
}

/// Where the host and port of a URI end (its parameters or headers start).
fn hostport_end(u: &Uri) -> usize {
    if !u.params.is_empty() {
        u.params.start as usize
    } else if let Some(h) = u.headers {
        h.start as usize - 1
    } else {
        u.whole.end as usize
    }
}

impl RouteContext {
    /// `nat_uac_test(flags)`: true when any test of `flags` says the sender is behind NAT
    /// (Kamailio's bits: 1 private Contact, 2 Via host is not the source IP, 4 private Via,
    /// 8 private SDP address, 16 source port is not the Via port, 32 private source,
    /// 64 WebSocket, 128 source port is not the Contact port, 256 SDP address is not the
    /// source IP). Kamailio's default config uses 19 (16 + 2 + 1).
    pub fn nat_uac_test(&self, flags: u32) -> bool {
        let m = &self.msg;
        let b = m.as_bytes();
        let src = self.source.src;
        let via = m.top_via();
        let contact = m.contacts().first().map(|c| &c.uri);
        let test = |bit: u32| flags & bit != 0;
        if test(NAT_VIA_PORT) && src.port() != via.port.unwrap_or(5060) {
            return true;
        }
        if test(NAT_VIA_RECEIVED) && parse_host_ip(via.host(b)) != Some(src.ip()) {
            return true;
        }
        if test(NAT_CONTACT_PRIVATE)
            && contact
                .and_then(|u| parse_host_ip(u.host(b)))
                .is_some_and(is_private)
        {
            return true;
        }
        if test(NAT_SDP_PRIVATE)
            && sdp_addresses(m.body()).any(|ip| !ip.is_unspecified() && is_private(ip))
        {
            return true;
        }
        if test(NAT_VIA_PRIVATE) && parse_host_ip(via.host(b)).is_some_and(is_private) {
            return true;
        }
        if test(NAT_SOURCE_PRIVATE) && is_private(src.ip()) {
            return true;
        }
        if test(NAT_CONTACT_PORT)
            && contact.is_some_and(|u| u.scheme.is_sip() && u.port.unwrap_or(5060) != src.port())
        {
            return true;
        }
        test(NAT_SDP_SOURCE)
            && sdp_addresses(m.body()).any(|ip| !ip.is_unspecified() && ip != src.ip())
    }

    /// The first Contact's URI, checked for a change.
    fn contact_to_change(&self) -> Result<Uri, NatError> {
        if self.contact_changed {
            return Err(NatError::AlreadyChanged);
        }
        if self.msg.contact_star() {
            return Err(NatError::NoContact("Contact: *".into()));
        }
        let c = self
            .msg
            .contacts()
            .first()
            .ok_or_else(|| NatError::NoContact("no Contact header".into()))?;
        if !c.uri.scheme.is_sip() {
            return Err(NatError::NoContact("not a SIP URI".into()));
        }
        Ok(c.uri)
    }

    /// Insert `text` into the first Contact at `at`, wrapping an addr-spec in `<>` so that
    /// its parameters stay header parameters.
    fn edit_contact(&mut self, at: usize, text: String, delete: Option<Span>) {
        let c = self.msg.contacts()[0];
        if let Some(d) = delete {
            self.lumps.push(Lump::Delete(d));
        }
        if c.angle {
            self.lumps.insert_at(at, text.into_bytes());
        } else {
            self.lumps
                .insert_at(c.uri.whole.start as usize, b"<".to_vec());
            self.lumps.insert_at(at, text.into_bytes());
            // an addr-spec's `;params` are header parameters: the URI ends before them
            self.lumps.insert_at(at, b">".to_vec());
        }
        self.contact_changed = true;
    }

    /// `fix_nated_contact()`: rewrite the first Contact's host and port to the source
    /// address of the message (the change only shows in what is sent on).
    pub fn fix_nated_contact(&mut self) -> Result<(), NatError> {
        let u = self.contact_to_change()?;
        let src = crate::env::host_text(self.source.src);
        let start = u.host.start as usize;
        let end = hostport_end(&u);
        self.contact_out = Some(uri_with(self.msg.as_bytes(), &u, &[(start, end, &src)]));
        // `edit_contact` wraps an addr-spec; its `>` goes after the URI, i.e. at `end`
        // once the old host and port are gone
        self.edit_contact(end, src, Some(Span::new(start, end)));
        Ok(())
    }

    /// `fix_nated_register()`: the registrar keeps the source address of this REGISTER as
    /// the binding's `received` address, whatever its Contact says.
    pub fn fix_nated_register(&mut self) -> Result<(), NatError> {
        if !self.msg.is_request() {
            return Err(NatError::NoMessage);
        }
        self.nated_register = true;
        Ok(())
    }

    /// True when `fix_nated_register` was called.
    pub fn is_nated_register(&self) -> bool {
        self.nated_register
    }

    /// `add_contact_alias()`: unless the Contact already is the source address over the
    /// same transport, add `;alias=IP~PORT~PROTO` of the source right after its host and
    /// port. An `alias` the UA wrote itself is removed first: the parameter is this
    /// router's, and would send the other side's requests wherever the UA says. A reply
    /// that a proxy after this router record-routed is left alone: requests of the
    /// dialog go to that proxy, which knows where its UA is. True when added.
    pub fn add_contact_alias(&mut self) -> Result<bool, NatError> {
        let u = self.contact_to_change()?;
        if !self.msg.is_request() && !self.replier_is_next_to_us() {
            return Ok(false);
        }
        let b = self.msg.as_bytes();
        let src = self.source.src;
        let uri_transport = u
            .param(b, b"transport")
            .flatten()
            .and_then(Transport::from_token)
            .unwrap_or(Transport::Udp);
        let is_source = parse_host_ip(u.host(b)) == Some(src.ip())
            && u.port.unwrap_or(5060) == src.port()
            && uri_transport == self.source.transport;
        let cuts = alias_params(b, &u);
        if is_source && cuts.is_empty() {
            return Ok(false);
        }
        let text = if is_source {
            String::new()
        } else {
            format!(";alias={}", alias_value(src, self.source.transport))
        };
        let at = hostport_end(&u);
        let mut edits: Vec<(usize, usize, &str)> = vec![(at, at, &text)];
        edits.extend(cuts.iter().map(|&(s, e)| (s, e, "")));
        self.contact_out = Some(uri_with(b, &u, &edits));
        for (start, stop) in cuts {
            self.lumps.push(Lump::Delete(Span::new(start, stop)));
        }
        if is_source {
            self.contact_changed = true;
            return Ok(false);
        }
        self.edit_contact(at, text, None);
        Ok(true)
    }

    /// `set_contact_alias([trim])`: add `;alias=IP~PORT~PROTO` of the source at the end of
    /// the Contact URI, always; `trim` first removes an alias it already had.
    pub fn set_contact_alias(&mut self, trim: bool) -> Result<(), NatError> {
        let u = self.contact_to_change()?;
        let b = self.msg.as_bytes();
        let cuts = if trim {
            alias_params(b, &u)
        } else {
            Vec::new()
        };
        let end = u
            .headers
            .map_or(u.whole.end as usize, |h| h.start as usize - 1);
        let text = format!(
            ";alias={}",
            alias_value(self.source.src, self.source.transport)
        );
        let mut edits: Vec<(usize, usize, &str)> = cuts.iter().map(|&(s, e)| (s, e, "")).collect();
        edits.push((end, end, &text));
        self.contact_out = Some(uri_with(b, &u, &edits));
        for (start, stop) in cuts {
            self.lumps.push(Lump::Delete(Span::new(start, stop)));
        }
        self.edit_contact(end, text, None);
        Ok(())
    }

    /// `handle_ruri_alias()`: when the Request-URI carries `;alias=IP~PORT~PROTO` (a
    /// Contact an alias function rewrote, now a dialog's remote target), send the request
    /// there (`$du`) and remove the parameter from the Request-URI. True when it did.
    pub fn handle_ruri_alias(&mut self) -> Result<bool, NatError> {
        let ruri = self.current_ruri().ok_or(NatError::NoMessage)?;
        let rb = ruri.as_bytes();
        let u = Uri::parse_standalone(rb).map_err(|e| NatError::Invalid(e.to_string()))?;
        let Some(Some(v)) = u.param(rb, b"alias") else {
            return Ok(false);
        };
        let v = String::from_utf8_lossy(v).into_owned();
        let (addr, t) = parse_alias(&v)
            .ok_or_else(|| NatError::Invalid(format!("{v:?} is not IP~PORT~PROTO")))?;
        // the Request-URI without `;alias=...`
        let params = u.params.of(rb);
        let mut kept = String::new();
        for p in params.split(|&c| c == b';').skip(1) {
            let name = p.split(|&c| c == b'=').next().unwrap_or_default();
            if !name.eq_ignore_ascii_case(b"alias") {
                kept.push(';');
                kept.push_str(&String::from_utf8_lossy(p));
            }
        }
        let mut new = String::with_capacity(ruri.len());
        new.push_str(&ruri[..u.params.start as usize]);
        new.push_str(&kept);
        new.push_str(&ruri[u.params.end as usize..]);
        self.new_ruri = Some(new);
        self.dst_uri = Some(
            crate::rr::Flow {
                transport: t,
                local: None,
                peer: addr,
            }
            .dst_uri(),
        );
        // a UA behind NAT on a stream is reached over its own connection only
        self.no_connect = t.is_stream();
        self.ruri_new = true;
        Ok(true)
    }
}

/// NAT pinging of registered contacts (nathelper's `natping_interval`, `ping_nated_only`,
/// `sipping_from`, `sipping_method`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatPing {
    /// Seconds between two pings of a contact; 0: no pinging.
    pub interval: u64,
    /// Ping only contacts reached through NAT or a connection (a `received` address, a
    /// flow), not the ones reached at their Contact.
    pub nated_only: bool,
    /// With a From URI the ping is a SIP request (`sipping_method`, OPTIONS by default) the
    /// UA answers; without, a bare CRLF CRLF keep-alive.
    pub from: Option<String>,
    /// Method of SIP pings.
    pub method: String,
}

impl Default for NatPing {
    fn default() -> Self {
        NatPing {
            interval: 0,
            nated_only: true,
            from: None,
            method: "OPTIONS".into(),
        }
    }
}

/// The keep-alive a NAT ping without `sipping_from` sends: CRLF CRLF (RFC 5626 §4.4.1's
/// ping; SIP stacks take it for a keep-alive, as they do on streams).
pub const CRLF_PING: &[u8] = b"\r\n\r\n";

impl crate::env::LocalConfig {
    /// True for an answer to one of this router's NAT pings.
    pub fn is_nat_ping_reply(&self, msg: &sipwasm_proto::SipMessage) -> bool {
        !msg.is_request()
            && msg.vias().len() == 1
            && msg.call_id().starts_with(self.ping_prefix.as_bytes())
    }

    /// The pings due for the registered contacts of every location table at `now`:
    /// one to each contact whose registration is reached through NAT or a connection
    /// (every contact when `nated_only` is off), sent from the socket it registered on,
    /// over its own connection for streams. Contacts behind a Path are the edge proxy's
    /// to keep alive. `seq` makes each ping's Via branch and Call-ID unique.
    pub fn nat_pings(
        &self,
        ping: &NatPing,
        now: u64,
        seq: &mut u64,
    ) -> Vec<crate::context::Transmit> {
        let mut out = Vec::new();
        for b in self.location.all_bindings(now) {
            if !b.path.is_empty() || (ping.nated_only && !b.is_nated()) {
                continue;
            }
            let branch = b.branch();
            let target = branch.dst_uri.as_deref().unwrap_or(&branch.uri);
            let Some(hop) = crate::services::UriTarget::of(target)
                .ok()
                .and_then(|t| t.literal())
            else {
                continue;
            };
            let Some(socket) = b.socket.filter(|s| s.transport == hop.transport) else {
                continue;
            };
            *seq += 1;
            let data = match &ping.from {
                None => bytes::Bytes::from_static(CRLF_PING),
                Some(from) => {
                    bytes::Bytes::from(self.sip_ping(ping, from, &branch.uri, &socket, *seq))
                }
            };
            out.push(crate::context::Transmit {
                transport: hop.transport,
                dest: hop.addr,
                local: socket.addr,
                conn: branch.conn,
                data,
                flags: sipwasm_proto::transport::StreamFlags {
                    // a ping never opens a connection: it keeps one alive
                    no_connect: true,
                    ..Default::default()
                },
            });
        }
        out
    }

    fn sip_ping(
        &self,
        ping: &NatPing,
        from: &str,
        contact: &str,
        socket: &crate::env::Listener,
        seq: u64,
    ) -> String {
        self.ping_request(&ping.method, from, contact, socket, "", seq)
            .1
    }

    /// A keep-alive or probe request (`method`, e.g. OPTIONS) from `from` to `target`,
    /// leaving from `socket`, and its Call-ID: this router's ping prefix, then `kind`
    /// and `seq`, so that its answer is recognised and absorbed.
    pub fn ping_request(
        &self,
        method: &str,
        from: &str,
        target: &str,
        socket: &crate::env::Listener,
        kind: &str,
        seq: u64,
    ) -> (String, String) {
        let sent_by = self.sent_by(socket);
        let host = sent_by
            .rsplit_once(':')
            .map_or(sent_by.as_ref(), |(h, _)| h);
        let call_id = format!("{prefix}{kind}{seq:x}@{host}", prefix = self.ping_prefix);
        let text = format!(
            "{method} {target} SIP/2.0\r\n\
Via: SIP/2.0/{t} {sent_by};branch=z9hG4bKnp.{kind}{seq:x};rport\r\n\
From: <{from}>;tag={tag}\r\n\
To: <{target}>\r\n\
Call-ID: {call_id}\r\n\
CSeq: 1 {method}\r\n\
Max-Forwards: 70\r\n\
Content-Length: 0\r\n\r\n",
            t = socket.transport.via_token(),
            tag = self.to_tag_from((kind, "ping-from", seq)),
        );
        (call_id, text)
    }
}

/// The dispatcher's OPTIONS probes: the same request as a NAT ping (answers absorbed by
/// Call-ID), from a listener that reaches the destination.
impl crate::dispatcher::ProbeWriter for crate::env::LocalConfig {
    fn probe(
        &self,
        probing: &crate::dispatcher::Probing,
        uri: &str,
        hop: &crate::services::hop::NextHop,
        kind: &str,
        seq: u64,
    ) -> Option<(String, crate::context::Transmit)> {
        let listener = self.pick_listener(hop, None)?;
        let (call_id, text) =
            self.ping_request(&probing.method, &probing.from, uri, &listener, kind, seq);
        let sent = crate::context::Transmit {
            transport: hop.transport,
            dest: hop.addr,
            local: listener.addr,
            conn: None,
            data: text.into(),
            flags: Default::default(),
        };
        Some((call_id, sent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy_tests::{UDP, ctx_from, forwarded, hop, invite};

    /// The INVITE of a phone behind NAT: private Via and Contact, public source
    /// (192.0.2.1:40000 in `ctx_from`).
    fn nated(contact: &str) -> String {
        invite(&format!("Contact: {contact}\r\n"))
            .replace("alice.example.com:5070", "192.168.1.5:5060")
            .replace("Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi", "Content-Type: application/sdp\r\nContent-Length: 26\r\n\r\nv=0\r\nc=IN IP4 192.168.1.5\r\n")
    }

    fn sent_contact(c: &RouteContext) -> String {
        let out = forwarded(
            c,
            "sip:bob@10.0.0.9",
            hop("10.0.0.9:5060", Transport::Udp),
            UDP,
            Transport::Udp,
        );
        String::from_utf8_lossy(out.header(b"Contact").unwrap()).into_owned()
    }

    #[test]
    fn nat_uac_test_bits() {
        let c = ctx_from(&nated("<sip:alice@192.168.1.5:5060>"));
        assert!(c.nat_uac_test(NAT_CONTACT_PRIVATE));
        assert!(c.nat_uac_test(NAT_VIA_RECEIVED));
        assert!(c.nat_uac_test(NAT_VIA_PRIVATE));
        assert!(c.nat_uac_test(NAT_SDP_PRIVATE));
        assert!(c.nat_uac_test(NAT_VIA_PORT));
        assert!(!c.nat_uac_test(NAT_SOURCE_PRIVATE), "192.0.2.1 is public");
        assert!(c.nat_uac_test(NAT_CONTACT_PORT));
        assert!(c.nat_uac_test(NAT_SDP_SOURCE));
        assert!(!c.nat_uac_test(NAT_WEBSOCKET));
        assert!(c.nat_uac_test(19));
        // a phone with a public address that sends from its Contact
        let open = invite("Contact: <sip:alice@192.0.2.1:40000>\r\n")
            .replace("alice.example.com:5070", "192.0.2.1:40000");
        let c = ctx_from(&open);
        assert!(!c.nat_uac_test(19 | 4 | 8 | 32 | 128 | 256));
        assert!(is_private("100.64.1.1".parse().unwrap()));
        assert!(is_private("172.31.0.1".parse().unwrap()));
        assert!(!is_private("172.32.0.1".parse().unwrap()));
    }

    #[test]
    fn fix_nated_contact_rewrites_host_and_port() {
        let mut c = ctx_from(&nated(
            "<sip:alice@192.168.1.5:5060;transport=udp>;expires=60",
        ));
        c.fix_nated_contact().unwrap();
        assert_eq!(
            sent_contact(&c),
            "<sip:alice@192.0.2.1:40000;transport=udp>;expires=60"
        );
        assert_eq!(c.fix_nated_contact(), Err(NatError::AlreadyChanged));
        // an addr-spec gets brackets, so that its parameters stay the header's
        let mut c = ctx_from(&nated("sip:alice@192.168.1.5;expires=60"));
        c.fix_nated_contact().unwrap();
        assert_eq!(sent_contact(&c), "<sip:alice@192.0.2.1:40000>;expires=60");
        let mut c = ctx_from(&invite("Contact: *\r\n"));
        assert!(matches!(c.fix_nated_contact(), Err(NatError::NoContact(_))));
    }

    #[test]
    fn aliases_round_trip_through_the_request_uri() {
        let mut c = ctx_from(&nated("<sip:alice@192.168.1.5:5060;transport=udp>"));
        assert_eq!(c.add_contact_alias(), Ok(true));
        let contact = sent_contact(&c);
        assert_eq!(
            contact,
            "<sip:alice@192.168.1.5:5060;alias=192.0.2.1~40000~1;transport=udp>"
        );
        // the callee's BYE later has that Contact as Request-URI
        let uri = contact.trim_start_matches('<').trim_end_matches('>');
        let bye = invite("")
            .replacen(
                "INVITE sip:bob@biloxi.example.com",
                &format!("BYE {uri}"),
                1,
            )
            .replace("CSeq: 1 INVITE", "CSeq: 1 BYE");
        let mut c = ctx_from(&bye);
        assert_eq!(c.handle_ruri_alias(), Ok(true));
        assert_eq!(
            c.current_ruri().as_deref(),
            Some("sip:alice@192.168.1.5:5060;transport=udp")
        );
        assert_eq!(c.dst_uri(), Some("sip:192.0.2.1:40000;transport=udp"));
        assert_eq!(c.handle_ruri_alias(), Ok(false), "once only");
        // not needed when the Contact is the source
        let open = invite("Contact: <sip:alice@192.0.2.1:40000>\r\n");
        let mut c = ctx_from(&open);
        assert_eq!(c.add_contact_alias(), Ok(false));
        assert!(c.lumps().is_empty(), "nothing changed");
        // an alias the UA wrote itself is not where it is: dropped, and replaced by the
        // source when that is needed
        let open = invite("Contact: <sip:alice@192.0.2.1:40000;alias=203.0.113.66~5060~1;ob>\r\n");
        let mut c = ctx_from(&open);
        assert_eq!(c.add_contact_alias(), Ok(false));
        assert_eq!(sent_contact(&c), "<sip:alice@192.0.2.1:40000;ob>");
        assert_eq!(
            c.contact_out().as_deref(),
            Some("sip:alice@192.0.2.1:40000;ob")
        );
        let mut c = ctx_from(&nated("<sip:alice@192.168.1.5;alias=203.0.113.66~5060~1>"));
        assert_eq!(c.add_contact_alias(), Ok(true));
        assert_eq!(
            sent_contact(&c),
            "<sip:alice@192.168.1.5;alias=192.0.2.1~40000~1>"
        );
        // a callee's answer: aliased when it comes straight from the UA, not through a
        // proxy after us that record-routed it (requests go to that proxy)
        let reply = |rr: &str| {
            format!(
                "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n{rr}\
From: <sip:a@example.com>;tag=a\r\nTo: <sip:b@example.com>;tag=b\r\nCall-ID: r1\r\n\
CSeq: 1 INVITE\r\nContact: <sip:bob@192.168.1.9:5060>\r\nContent-Length: 0\r\n\r\n"
            )
        };
        assert_eq!(ctx_from(&reply("")).add_contact_alias(), Ok(true));
        let via_edge = reply("Record-Route: <sip:edge.example.com;lr>\r\n");
        assert_eq!(ctx_from(&via_edge).add_contact_alias(), Ok(false));
        // set_contact_alias always adds, at the end; trim drops an older one
        let mut c = ctx_from(&nated("<sip:alice@192.168.1.5;alias=10.0.0.1~1~1;ob>"));
        c.set_contact_alias(true).unwrap();
        assert_eq!(
            sent_contact(&c),
            "<sip:alice@192.168.1.5;ob;alias=192.0.2.1~40000~1>"
        );
        // over TCP, the alias means "only on its connection"
        let bye = invite("")
            .replacen(
                "INVITE sip:bob@biloxi.example.com",
                "BYE sip:alice@10.0.0.7;alias=[2001:db8::7]~5070~2",
                1,
            )
            .replace("CSeq: 1 INVITE", "CSeq: 1 BYE");
        let mut c = ctx_from(&bye);
        assert_eq!(c.handle_ruri_alias(), Ok(true));
        assert_eq!(c.dst_uri(), Some("sip:[2001:db8::7]:5070;transport=tcp"));
        assert!(c.main_branch().no_connect);
        let bad = bye.replace("~2", "~9");
        assert!(matches!(
            ctx_from(&bad).handle_ruri_alias(),
            Err(NatError::Invalid(_))
        ));
        assert_eq!(
            parse_alias("[2001:db8::1]~5060~3"),
            Some(("[2001:db8::1]:5060".parse().unwrap(), Transport::Tls))
        );
        assert_eq!(parse_alias("1.2.3.4~0~1"), None);
    }
}
