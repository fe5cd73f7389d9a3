//! The state of one `msrp:frame-in` event: the MSRP frame, where it came from, `$var(x)`,
//! and what the plugin wants sent (a response on the same connection).

use crate::context::Transmit;

use crate::env::{LocalConfig, Source};
use crate::pv::{MsrpKey, PvError, PvName, PvSpec, TemplatePart};
use crate::scope::Scope;
use crate::value::Value;
use bytes::Bytes;
use sipwasm_proto::msrp::{MsrpFrame, MsrpUri};
use std::sync::Arc;

/// Why `msrp.reply` failed; mirrors the WIT `msrp.error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MsrpReplyError {
    /// The event has no MSRP request (no frame, or the frame is a response).
    #[error("no MSRP request to answer")]
    NoRequest,
    /// RFC 4975 §7.1.2: REPORT requests are never answered.
    #[error("REPORT requests get no response")]
    Report,
    /// Bad code, text or header lines.
    #[error("invalid response: {0}")]
    Invalid(String),
    /// Already answered in this event.
    #[error("the request was already answered")]
    AlreadyReplied,
}

/// Why `msrp.relay`, `msrp.forward` or `msrp.set-dst` failed; mirrors the WIT
/// `msrp.relay-error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MsrpRelayError {
    /// The frame has no next hop: its To-Path has fewer than two URIs (and no
    /// destination was set).
    #[error("no next hop in To-Path")]
    NoNextHop,
    /// A URI or address that cannot be used: not an MSRP/SIP URI, a host name (only IP
    /// addresses are relayed to), a transport other than TCP.
    #[error("bad address: {0}")]
    BadAddress(String),
    /// The frame was already relayed in this event.
    #[error("the frame was already relayed")]
    AlreadyRelayed,
}

/// An address the relay sends to: `msrp://IP:PORT/...;tcp`, `msrps://...` (TLS), or
/// `sip:IP:PORT;transport=tcp|tls` (the form of `$msrp(srcaddr)`).
fn parse_addr(
    text: &str,
) -> Result<(std::net::SocketAddr, sipwasm_proto::Transport), MsrpRelayError> {
    use sipwasm_proto::Transport;
    let bad = || MsrpRelayError::BadAddress(text.to_string());
    let (host, port, transport) = if let Some(rest) = text.strip_prefix("sip:") {
        let (hostport, params) = rest.split_once(';').unwrap_or((rest, ""));
        let transport = params
            .split(';')
            .find_map(|p| p.strip_prefix("transport="))
            .unwrap_or("tcp");
        let transport = match Transport::from_token(transport.as_bytes()) {
            Some(t @ (Transport::Tcp | Transport::Tls)) => t,
            _ => {
                return Err(MsrpRelayError::BadAddress(format!(
                    "{text}: only tcp and tls are relayed to"
                )));
            }
        };
        let (host, port) = hostport.rsplit_once(':').ok_or_else(bad)?;
        (
            host.to_string(),
            port.parse::<u16>().map_err(|_| bad())?,
            transport,
        )
    } else {
        let u = MsrpUri::parse(text).map_err(|_| bad())?;
        if !u.transport.eq_ignore_ascii_case("tcp") {
            return Err(MsrpRelayError::BadAddress(format!(
                "{text}: only tcp is relayed to"
            )));
        }
        let transport = if u.scheme.eq_ignore_ascii_case("msrps") {
            Transport::Tls
        } else {
            Transport::Tcp
        };
        (u.host.to_string(), u.port.unwrap_or(2855), transport)
    };
    let ip: std::net::IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| MsrpRelayError::BadAddress(format!("{text}: not an IP address")))?;
    Ok((std::net::SocketAddr::new(ip, port), transport))
}

/// `sock` as `tcp:IP:PORT` or `tls:IP:PORT` (the form of `$msrp(srcsock)`).
fn parse_sock(text: &str) -> Result<std::net::SocketAddr, MsrpRelayError> {
    let bad = || MsrpRelayError::BadAddress(text.to_string());
    let (proto, rest) = text.split_once(':').ok_or_else(bad)?;
    if !proto.eq_ignore_ascii_case("tcp") && !proto.eq_ignore_ascii_case("tls") {
        return Err(bad());
    }
    let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
    let ip: std::net::IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| bad())?;
    Ok(std::net::SocketAddr::new(
        ip,
        port.parse().map_err(|_| bad())?,
    ))
}

/// `frame` with its To-Path and From-Path header values replaced.
fn with_paths(f: &MsrpFrame, to: &str, from: &str) -> Vec<u8> {
    let buf = f.as_bytes();
    let block = f.header_block();
    let start = block.as_ptr() as usize - buf.as_ptr() as usize;
    let end = start + block.len();
    let mut out = Vec::with_capacity(buf.len() + from.len());
    out.extend_from_slice(&buf[..start]);
    let mut first = true;
    for (name, value) in f.headers() {
        if !first {
            out.extend_from_slice(b"\r\n");
        }
        first = false;
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        if name.eq_ignore_ascii_case(b"To-Path") {
            out.extend_from_slice(to.as_bytes());
        } else if name.eq_ignore_ascii_case(b"From-Path") {
            out.extend_from_slice(from.as_bytes());
        } else {
            out.extend_from_slice(value);
        }
    }
    out.extend_from_slice(&buf[end..]);
    out
}

/// What the router sends back when a request it relayed cannot be delivered, kept in the
/// message's `on_undelivered` value (the connection the request came on, shifted, and one
/// of these).
const UNDELIVERED_RESPOND: u64 = 1;
const UNDELIVERED_REPORT: u64 = 2;

/// The status an undelivered request is answered with: the session cannot be reached
/// through this relay (RFC 4975 §10: 481, the session does not exist).
const UNDELIVERED_CODE: u16 = 481;
const UNDELIVERED_COMMENT: &str = "Next Hop Unreachable";

/// The answer for a relayed request that could not be delivered (`tag` is the message's
/// `on_undelivered` value, `data` the request as it left): the connection to send it on
/// and the bytes. A request the plugin had not answered gets `481 Next Hop Unreachable`
/// back (RFC 4975 §7.2); a SEND it had answered with 2xx gets a failure REPORT along the
/// reverse path (RFC 4975 §7.1.2, RFC 4976 §7.3.1).
pub fn undelivered_answer(tag: u64, data: &[u8]) -> Option<(u64, Bytes)> {
    let frame = MsrpFrame::parse(data).ok()?;
    let answer = match tag & 3 {
        UNDELIVERED_RESPOND => {
            sipwasm_proto::msrp::undelivered_response(&frame, UNDELIVERED_CODE, UNDELIVERED_COMMENT)
        }
        UNDELIVERED_REPORT => sipwasm_proto::msrp::undelivered_report(
            &frame,
            &report_transaction_id(),
            UNDELIVERED_CODE,
            UNDELIVERED_COMMENT,
        ),
        _ => None,
    }?;
    Some((tag >> 2, Bytes::from(answer)))
}

/// A transaction id for a REPORT this router originates: unique in the process, and
/// unlikely to be another process's (random start).
fn report_transaction_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: std::sync::OnceLock<AtomicU64> = std::sync::OnceLock::new();
    let next = NEXT.get_or_init(|| {
        // seeded as the nonce ids of `auth::AuthState`
        let mut first = [0u8; 8];
        getrandom::fill(&mut first).expect("the OS random generator works");
        AtomicU64::new(u64::from_le_bytes(first) >> 16)
    });
    format!(
        "sw{:012x}",
        next.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff_ffff
    )
}

/// The state of one MSRP frame event.
#[derive(Debug, Clone)]
pub struct MsrpEvent {
    scope: Scope,
    frame: MsrpFrame,
    /// The status of the response the plugin sent, if any.
    reply_code: Option<u16>,
    relayed: bool,
    /// Index in the outbound messages of the request `relay` passed on: the one the
    /// router answers for if it cannot be delivered.
    relayed_request: Option<usize>,
    /// `msrp.set-dst`: where to relay instead of the next To-Path hop, and from which
    /// local socket.
    dst: Option<(
        std::net::SocketAddr,
        sipwasm_proto::Transport,
        Option<std::net::SocketAddr>,
    )>,
    relay_flags: sipwasm_proto::transport::StreamFlags,
    reply_flags: sipwasm_proto::transport::StreamFlags,
    /// The AUTH credentials went through the guard (see `RouteContext::auth_noted`).
    auth_noted: bool,
}

fn text(b: &[u8]) -> Value {
    Value::bytes(b)
}

/// `$msrp(key)` of `f` received as `source`.
fn key(f: &MsrpFrame, source: &Source, k: MsrpKey) -> Value {
    let to = f.to_path();
    let from = f.from_path();
    let opt = |b: Option<&[u8]>| b.map_or(Value::Null, text);
    match k {
        MsrpKey::Buf => text(f.as_bytes()),
        MsrpKey::BufLen => Value::Int(f.as_bytes().len() as i64),
        MsrpKey::Body => opt(f.body()),
        MsrpKey::BodyLen => Value::Int(f.body().map_or(0, <[u8]>::len) as i64),
        MsrpKey::Code => f.status().map_or(Value::Null, |c| Value::Int(i64::from(c))),
        MsrpKey::Reason => opt(f.comment()),
        MsrpKey::Hdrs => text(f.header_block()),
        MsrpKey::Method => opt(f.method()),
        MsrpKey::MsgId => opt(f.header(b"Message-ID")),
        MsrpKey::TransId => text(f.transact_id()),
        // this hop: the first To-Path URI; the session id is its path part
        MsrpKey::CrtHop => opt(to.first().copied()),
        MsrpKey::SessId => to
            .first()
            .and_then(|u| std::str::from_utf8(u).ok())
            .and_then(|u| MsrpUri::parse(u).ok())
            .and_then(|u| u.session)
            .map_or(Value::Null, |s| Value::Str(s.to_string())),
        MsrpKey::NextHop => opt(to.get(1).copied()),
        MsrpKey::LastHop => opt(to.last().copied()),
        MsrpKey::PrevHop => opt(from.first().copied()),
        MsrpKey::FirstHop => opt(from.last().copied()),
        MsrpKey::NextHops => Value::Int(to.len().saturating_sub(1) as i64),
        MsrpKey::PrevHops => Value::Int(from.len() as i64),
        MsrpKey::SrcAddr => Value::Str(format!(
            "sip:{};transport={}",
            crate::env::host_text(source.src),
            source.transport.as_str()
        )),
        MsrpKey::SrcSock => Value::Str(format!(
            "{}:{}",
            source.transport.as_str(),
            crate::env::host_text(source.local)
        )),
        MsrpKey::ConId => source.conn.map_or(Value::Null, |c| Value::Int(c as i64)),
    }
}

/// The names only an MSRP frame has: `$msrp(key)`, `$mb`, `$ml`, and with `sipmsg` the
/// SIP-like request view. Without it the SIP names are `$null`, as on the msrp module's
/// empty message.
fn own_names(f: &MsrpFrame, source: &Source, sipmsg: bool, name: &PvName) -> Option<Value> {
    match name {
        PvName::Msrp(k) => Some(key(f, source, *k)),
        PvName::MsgBuf => Some(text(f.as_bytes())),
        PvName::MsgLen => Some(Value::Int(f.as_bytes().len() as i64)),
        _ if sipmsg => sip_view(f, name),
        _ => None,
    }
}

/// The header that carries the frame's first line in the SIP view.
const FIRST_LINE: &str = "MSRP-First-Line";

/// The frame as the msrp module's `sipmsg` shows it to routing logic: a request
/// `MSRP sip:a@127.0.0.1 SIP/2.0` (Call-ID `a`, CSeq `1 MSRP`, From tag `a`, no body)
/// whose headers are an `MSRP-First-Line` with the frame's first line, then the frame's
/// headers.
fn sip_view(f: &MsrpFrame, name: &PvName) -> Option<Value> {
    let first_line = || {
        let b = f.as_bytes();
        text(&b[..b.iter().position(|&c| c == b'\r').unwrap_or(b.len())])
    };
    Some(match name {
        PvName::Hdr(h) if h.eq_ignore_ascii_case(FIRST_LINE) => first_line(),
        PvName::Hdr(h) => f.header(h.as_bytes()).map_or(Value::Null, text),
        PvName::HdrCount(h) if h.eq_ignore_ascii_case(FIRST_LINE) => Value::Int(1),
        PvName::HdrCount(h) => Value::Int(
            f.headers()
                .filter(|(n, _)| n.eq_ignore_ascii_case(h.as_bytes()))
                .count() as i64,
        ),
        PvName::Method => Value::Str("MSRP".into()),
        PvName::RUri => Value::Str("sip:a@127.0.0.1".into()),
        PvName::RUser | PvName::CallId | PvName::FromTag => Value::Str("a".into()),
        PvName::RDomain => Value::Str("127.0.0.1".into()),
        PvName::RPort => Value::Int(5060),
        PvName::RScheme => Value::Str("sip".into()),
        PvName::Version => Value::Str("SIP/2.0".into()),
        PvName::CSeq => Value::Int(1),
        PvName::ContentType => f.header(b"Content-Type").map_or(Value::Null, text),
        PvName::ContentLength => Value::Int(0),
        _ => return None,
    })
}

impl MsrpEvent {
    /// Run the event for `caller` (the router sets it before the event route).
    pub fn set_caller(&mut self, caller: crate::Caller) {
        self.scope.caller = Some(caller);
    }

    /// Who the event runs for.
    pub fn caller(&self) -> Option<&crate::Caller> {
        self.scope.caller.as_ref()
    }

    /// The event for `frame` received as described by `source`.
    pub fn new(config: Arc<LocalConfig>, frame: MsrpFrame, source: Source, now_unix: u64) -> Self {
        MsrpEvent {
            scope: Scope::new(config, source, now_unix),
            frame,
            reply_code: None,
            relayed: false,
            relayed_request: None,
            dst: None,
            relay_flags: Default::default(),
            reply_flags: Default::default(),
            auth_noted: false,
        }
    }

    /// `msrp_set_dst(addr, sock)`: relay to `addr` (`msrp://IP:PORT/...;tcp` or
    /// `sip:IP:PORT;transport=tcp`) from local socket `sock` (`tcp:IP:PORT`, empty for
    /// any) instead of the next To-Path hop.
    pub fn set_dst(&mut self, addr: &str, sock: &str) -> Result<(), MsrpRelayError> {
        let (dest, transport) = parse_addr(addr)?;
        let local = if sock.is_empty() {
            None
        } else {
            Some(parse_sock(sock)?)
        };
        self.dst = Some((dest, transport, local));
        Ok(())
    }

    /// `msrp_relay_flags(flags)`: 1 = only on an open connection, 2 = close it after.
    pub fn set_relay_flags(&mut self, bits: u32) {
        self.relay_flags = sipwasm_proto::transport::StreamFlags::from_bits(bits);
    }

    /// `msrp_reply_flags(flags)`: as [`Self::set_relay_flags`], for `msrp.reply`.
    pub fn set_reply_flags(&mut self, bits: u32) {
        self.reply_flags = sipwasm_proto::transport::StreamFlags::from_bits(bits);
    }

    /// `msrp_relay()` (RFC 4976 §7.3): this hop takes itself off the front of To-Path
    /// and puts itself first on From-Path, and the frame goes to the new first To-Path
    /// URI (or to the `set-dst` destination), on an open connection to it when there is
    /// one. Requests and responses alike: a response travels back along the path the
    /// request came.
    pub fn relay(&mut self) -> Result<(), MsrpRelayError> {
        let f = &self.frame;
        let to = f.to_path();
        let from = f.from_path();
        let (Some(this_hop), Some(next)) = (to.first(), to.get(1)) else {
            return Err(MsrpRelayError::NoNextHop);
        };
        let join = |v: &[&[u8]]| {
            v.iter()
                .map(|u| String::from_utf8_lossy(u).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let new_to = join(&to[1..]);
        let mut from_hops = vec![*this_hop];
        from_hops.extend(from.iter().copied());
        let new_from = join(&from_hops);
        let next = String::from_utf8_lossy(next).into_owned();
        self.send_with_paths(&new_to, &new_from, &next)?;
        // REPORTs are never answered, so nothing is owed for one
        if self.frame.method().is_some_and(|m| m != b"REPORT") {
            self.relayed_request = Some(self.scope.outbound.len() - 1);
        }
        Ok(())
    }

    /// `msrp.forward(to-path, from-path)`: send the frame with these paths to the first
    /// URI of `to_path` (or the `set-dst` destination).
    pub fn forward(&mut self, to_path: &str, from_path: &str) -> Result<(), MsrpRelayError> {
        let first = to_path
            .split_ascii_whitespace()
            .next()
            .ok_or(MsrpRelayError::NoNextHop)?
            .to_string();
        if to_path.contains(['\r', '\n']) || from_path.contains(['\r', '\n']) {
            return Err(MsrpRelayError::BadAddress("a path spans lines".into()));
        }
        self.send_with_paths(to_path, from_path, &first)
    }

    fn send_with_paths(&mut self, to: &str, from: &str, next: &str) -> Result<(), MsrpRelayError> {
        if self.relayed {
            return Err(MsrpRelayError::AlreadyRelayed);
        }
        let (dest, transport, local) = match self.dst {
            Some(d) => d,
            None => {
                let (d, t) = parse_addr(next)?;
                (d, t, None)
            }
        };
        let data = with_paths(&self.frame, to, from);
        let s = &self.scope.source;
        // the connection the frame came in on is the way back only when it leads to
        // `dest`; otherwise the transport finds (or opens) one to `dest`
        let conn = s.conn.filter(|_| s.src == dest && s.transport == transport);
        self.scope.outbound.push(Transmit {
            transport,
            dest,
            local: local.unwrap_or(s.local),
            conn,
            data: Bytes::from(data),
            flags: self.relay_flags,
        });
        self.relayed = true;
        Ok(())
    }

    /// The frame.
    pub fn frame(&self) -> &MsrpFrame {
        &self.frame
    }

    /// Router-wide configuration and state.
    pub fn config(&self) -> &Arc<LocalConfig> {
        &self.scope.config
    }

    /// The value of a pseudo-variable: `$msrp(key)`, the SIP view (`$hdr(Name)`, `$rm`...)
    /// unless `[msrp] sipmsg` is off, `$var(x)`, `$sht`, the addresses.
    pub fn pv_get(&self, spec: &PvSpec) -> Result<Value, PvError> {
        let (source, sipmsg) = (self.scope.source, self.scope.config.msrp_sipmsg());
        self.scope
            .get(spec, &|n| own_names(&self.frame, &source, sipmsg, n))
    }

    /// Assign `$var(x)` or `$sht(t=>k)`.
    pub fn pv_set(&mut self, spec: &PvSpec, value: Value) -> Result<(), PvError> {
        let (frame, source) = (&self.frame, self.scope.source);
        let sipmsg = self.scope.config.msrp_sipmsg();
        self.scope.set(
            spec,
            value,
            &|n| own_names(frame, &source, sipmsg, n),
            "an MSRP event",
        )
    }

    /// Reset `$var(x)` or delete `$sht(t=>k)`.
    pub fn pv_unset(&mut self, spec: &PvSpec) -> Result<(), PvError> {
        let (frame, source) = (&self.frame, self.scope.source);
        let sipmsg = self.scope.config.msrp_sipmsg();
        self.scope
            .unset(spec, &|n| own_names(frame, &source, sipmsg, n))
    }

    /// Expand an xlog template.
    pub fn format(&self, parts: &[TemplatePart]) -> Result<String, PvError> {
        let (source, sipmsg) = (self.scope.source, self.scope.config.msrp_sipmsg());
        self.scope
            .format(parts, &|n| own_names(&self.frame, &source, sipmsg, n))
    }

    /// True when the frame is a request.
    pub fn is_request(&self) -> bool {
        self.frame.is_request()
    }

    /// `msrp_reply(code, text[, hdrs])`: answer the request on its connection
    /// (RFC 4975 §7.2): To-Path is the first From-Path URI, From-Path this hop (the first
    /// To-Path URI); `headers` are extra `Name: value` lines.
    pub fn reply(&mut self, code: u16, reason: &str, headers: &str) -> Result<(), MsrpReplyError> {
        let f = &self.frame;
        let Some(method) = f.method() else {
            return Err(MsrpReplyError::NoRequest);
        };
        if method == b"REPORT" {
            return Err(MsrpReplyError::Report);
        }
        if self.reply_code.is_some() {
            return Err(MsrpReplyError::AlreadyReplied);
        }
        if !(200..=999).contains(&code) || reason.contains(['\r', '\n']) {
            return Err(MsrpReplyError::Invalid(format!(
                "bad status {code} {reason:?}"
            )));
        }
        let mut extra = String::new();
        for line in headers.split("\r\n").filter(|l| !l.is_empty()) {
            let Some((name, _)) = line.split_once(':') else {
                return Err(MsrpReplyError::Invalid(format!(
                    "{line:?} is not Name: value"
                )));
            };
            if name.is_empty() || !name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
                return Err(MsrpReplyError::Invalid(format!("bad header name {name:?}")));
            }
            extra.push_str(line);
            extra.push_str("\r\n");
        }
        let tid = String::from_utf8_lossy(f.transact_id()).into_owned();
        let to = f
            .from_path()
            .first()
            .map(|u| String::from_utf8_lossy(u).into_owned())
            .ok_or_else(|| MsrpReplyError::Invalid("the request has no From-Path".into()))?;
        let from = f
            .to_path()
            .first()
            .map(|u| String::from_utf8_lossy(u).into_owned())
            .ok_or_else(|| MsrpReplyError::Invalid("the request has no To-Path".into()))?;
        let data = format!(
            "MSRP {tid} {code} {reason}\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n{extra}-------{tid}$\r\n"
        );
        self.reply_code = Some(code);
        self.scope.send_back(Bytes::from(data));
        if let Some(out) = self.scope.outbound.last_mut() {
            out.flags = self.reply_flags;
        }
        Ok(())
    }

    fn authorization(&self) -> impl Iterator<Item = &[u8]> {
        self.frame
            .headers()
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"Authorization"))
            .map(|(_, v)| v)
    }

    /// Digest credentials for `realm` (any when empty) in an `Authorization` header.
    pub fn auth_has_credentials(&self, realm: &str) -> bool {
        self.auth_username(realm).is_some()
    }

    /// The username of the credentials for `realm`, before checking them.
    pub fn auth_username(&self, realm: &str) -> Option<String> {
        crate::auth::username_in(self.authorization(), realm)
    }

    /// Check the AUTH request's credentials for `realm` against `secret` (RFC 4976 §5:
    /// the digest method is the frame's, `AUTH`); nonces and the guard as for SIP.
    pub fn auth_check<'a>(
        &mut self,
        realm: &str,
        secret: impl Into<crate::auth::Secret<'a>>,
    ) -> Result<String, crate::auth::AuthError> {
        let method = self
            .frame
            .method()
            .ok_or(crate::auth::AuthError::NoRequest)?;
        let method = String::from_utf8_lossy(method).into_owned();
        self.auth_noted = true;
        crate::auth::check_guarded(
            &self.scope.config,
            self.authorization(),
            realm,
            secret.into(),
            &method,
            self.scope.source.src.ip(),
            self.scope.now_unix,
        )
        .map(|c| c.username)
    }

    /// Answer 401 with a `WWW-Authenticate` challenge per algorithm (the first preferred).
    pub fn auth_challenge(
        &mut self,
        realm: &str,
        algorithms: &[crate::auth::Algorithm],
        stale: bool,
    ) -> Result<(), MsrpReplyError> {
        if !std::mem::replace(&mut self.auth_noted, true) {
            crate::auth::note_unchecked(
                &self.scope.config,
                self.authorization(),
                realm,
                self.scope.source.src.ip(),
                self.scope.now_unix,
            );
        }
        let algs = if algorithms.is_empty() {
            &[crate::auth::Algorithm::Md5][..]
        } else {
            algorithms
        };
        let headers: Vec<String> = algs
            .iter()
            .map(|a| {
                let v = crate::auth::challenge_value(
                    &self.scope.config.auth,
                    self.scope.now_unix,
                    realm,
                    *a,
                    stale,
                );
                format!("WWW-Authenticate: {v}")
            })
            .collect();
        self.reply(401, "Unauthorized", &headers.join("\r\n"))
    }

    /// Messages queued for sending after the event.
    pub fn outbound_mut(&mut self) -> &mut Vec<Transmit> {
        &mut self.scope.outbound
    }

    /// Take what the event wants sent. A relayed request is marked with what to send back
    /// if it cannot be delivered (see [`undelivered_answer`]), now that the event's own
    /// answer, if any, is known: nothing when the request says `Failure-Report: no` or the
    /// plugin refused it; a REPORT for a SEND it accepted; else an error response.
    pub fn take_outbound(&mut self) -> Vec<Transmit> {
        if let (Some(i), Some(conn)) = (self.relayed_request.take(), self.scope.source.conn) {
            let f = &self.frame;
            let reports_failures = !f
                .header(b"Failure-Report")
                .is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"no"));
            let mode = match self.reply_code {
                None => UNDELIVERED_RESPOND,
                Some(200..=299) if f.method() == Some(b"SEND") => UNDELIVERED_REPORT,
                Some(_) => 0,
            };
            if reports_failures
                && mode != 0
                && let Some(out) = self.scope.outbound.get_mut(i)
            {
                out.flags.on_undelivered = (conn << 2) | mode;
            }
        }
        std::mem::take(&mut self.scope.outbound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sipwasm_proto::Transport;

    /// The SEND of RFC 4975 §7.1.
    const SEND: &[u8] = include_bytes!("../../proto/tests-data/msrp/rfc4975-send.msrp");

    fn event(data: &[u8]) -> MsrpEvent {
        MsrpEvent::new(
            Arc::new(LocalConfig::new(Vec::new(), Vec::new(), None)),
            MsrpFrame::parse(data).unwrap(),
            Source {
                transport: Transport::Tcp,
                src: "127.0.0.1:40000".parse().unwrap(),
                local: "127.0.0.1:2855".parse().unwrap(),
                conn: Some(7),
            },
            1,
        )
    }

    fn get(e: &MsrpEvent, n: &str) -> Value {
        e.pv_get(&PvSpec::parse(n).unwrap()).unwrap()
    }

    #[test]
    fn msrp_keys() {
        let e = event(SEND);
        let s = |x: &str| Value::Str(x.into());
        assert_eq!(get(&e, "$msrp(method)"), s("SEND"));
        assert_eq!(get(&e, "$msrp(transid)"), s("a786hjs2"));
        assert_eq!(get(&e, "$msrp(msgid)"), s("87652"));
        assert_eq!(get(&e, "$msrp(body)"), s("Hey Bob, are you there?"));
        assert_eq!(get(&e, "$msrp(bodylen)"), Value::Int(23));
        assert_eq!(get(&e, "$msrp(buflen)"), Value::Int(SEND.len() as i64));
        assert_eq!(
            get(&e, "$msrp(crthop)"),
            s("msrp://relay.example.com:2855/sk3;tcp")
        );
        assert_eq!(get(&e, "$msrp(sessid)"), s("sk3"));
        assert_eq!(
            get(&e, "$msrp(nexthop)"),
            s("msrp://bob.example.com:8888/9di4;tcp")
        );
        assert_eq!(
            get(&e, "$msrp(lasthop)"),
            s("msrp://bob.example.com:8888/9di4;tcp")
        );
        assert_eq!(
            get(&e, "$msrp(prevhop)"),
            s("msrp://alice.example.com:7777/iau39;tcp")
        );
        assert_eq!(
            get(&e, "$msrp(firsthop)"),
            s("msrp://alice.example.com:7777/iau39;tcp")
        );
        assert_eq!(get(&e, "$msrp(nexthops)"), Value::Int(1));
        assert_eq!(get(&e, "$msrp(prevhops)"), Value::Int(1));
        assert_eq!(
            get(&e, "$msrp(srcaddr)"),
            s("sip:127.0.0.1:40000;transport=tcp")
        );
        assert_eq!(get(&e, "$msrp(srcsock)"), s("tcp:127.0.0.1:2855"));
        assert_eq!(get(&e, "$msrp(conid)"), Value::Int(7));
        assert_eq!(get(&e, "$msrp(code)"), Value::Null);
        assert_eq!(get(&e, "$hdr(Byte-Range)"), s("1-25/25"));
        assert_eq!(get(&e, "$(msrp(crthop){msrpuri.port})"), Value::Int(2855));
        assert!(PvSpec::parse("$msrp(nosuch)").is_err());
    }

    #[test]
    fn replies_follow_rfc_4975() {
        let mut e = event(SEND);
        e.reply(200, "OK", "X-Note: relayed\r\n").unwrap();
        assert_eq!(e.reply(200, "OK", ""), Err(MsrpReplyError::AlreadyReplied));
        let out = e.take_outbound();
        assert_eq!(out[0].conn, Some(7));
        let r = MsrpFrame::parse(&out[0].data).unwrap();
        assert_eq!(r.status(), Some(200));
        assert_eq!(r.transact_id(), b"a786hjs2");
        assert_eq!(
            r.to_path(),
            vec![&b"msrp://alice.example.com:7777/iau39;tcp"[..]]
        );
        assert_eq!(
            r.from_path(),
            vec![&b"msrp://relay.example.com:2855/sk3;tcp"[..]]
        );
        assert_eq!(r.header(b"X-Note"), Some(&b"relayed"[..]));
        let report = String::from_utf8_lossy(SEND).replacen(" SEND\r\n", " REPORT\r\n", 1);
        assert_eq!(
            event(report.as_bytes()).reply(200, "OK", ""),
            Err(MsrpReplyError::Report)
        );
        let mut e = event(SEND);
        assert!(matches!(
            e.reply(99, "x", ""),
            Err(MsrpReplyError::Invalid(_))
        ));
        assert!(matches!(
            e.reply(200, "OK", "bad line"),
            Err(MsrpReplyError::Invalid(_))
        ));
        let response =
            b"MSRP a786hjs2 200 OK\r\nTo-Path: msrp://a/b;tcp\r\nFrom-Path: msrp://c/d;tcp\r\n-------a786hjs2$\r\n";
        assert_eq!(
            event(response).reply(200, "OK", ""),
            Err(MsrpReplyError::NoRequest)
        );
    }

    const SEND_IP: &[u8] = b"MSRP tx01 SEND\r\n\
To-Path: msrp://127.0.0.1:2855/relay;tcp msrp://127.0.0.1:9000/bob;tcp\r\n\
From-Path: msrp://127.0.0.1:40000/alice;tcp\r\n\
Message-ID: m1\r\n\
Content-Type: text/plain\r\n\
\r\n\
hi\r\n\
-------tx01$\r\n";

    #[test]
    fn relay_moves_this_hop_from_to_path_to_from_path() {
        let mut e = event(SEND_IP);
        e.relay().unwrap();
        assert_eq!(e.relay(), Err(MsrpRelayError::AlreadyRelayed));
        let out = e.take_outbound();
        assert_eq!(out.len(), 1);
        let o = &out[0];
        assert_eq!(o.dest, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(o.conn, None, "not back on the connection it came in on");
        let relayed = MsrpFrame::parse(&o.data).expect("still a frame");
        assert_eq!(
            relayed.to_path(),
            vec![&b"msrp://127.0.0.1:9000/bob;tcp"[..]]
        );
        assert_eq!(
            relayed.from_path(),
            vec![
                &b"msrp://127.0.0.1:2855/relay;tcp"[..],
                &b"msrp://127.0.0.1:40000/alice;tcp"[..]
            ]
        );
        assert_eq!(relayed.body(), Some(&b"hi"[..]));
        assert_eq!(relayed.header(b"Message-ID"), Some(&b"m1"[..]));
        assert_eq!(relayed.end_line(), b"-------tx01$");
    }

    #[test]
    fn relay_destinations_and_flags() {
        // no next hop
        let mut e = event(SEND);
        let only_me = std::str::from_utf8(SEND)
            .unwrap()
            .replace(" msrp://bob.example.com:8888/9di4;tcp", "");
        let mut alone = event(only_me.as_bytes());
        assert_eq!(alone.relay(), Err(MsrpRelayError::NoNextHop));
        // a host name is not relayed to
        assert!(matches!(e.relay(), Err(MsrpRelayError::BadAddress(_))));
        // set-dst: the sender's connection, by its srcaddr form, with flags
        e.set_dst("sip:127.0.0.1:40000;transport=tcp", "tcp:127.0.0.1:2855")
            .unwrap();
        e.set_relay_flags(3);
        e.relay().unwrap();
        let o = &e.take_outbound()[0];
        assert_eq!(o.dest, "127.0.0.1:40000".parse().unwrap());
        assert_eq!(o.conn, Some(7), "back on the connection it came from");
        assert!(o.flags.no_connect && o.flags.close_after);
        e.set_dst("msrps://127.0.0.1:1/x;tcp", "").unwrap();
        e.relayed = false;
        e.relay().unwrap();
        let o = &e.take_outbound()[0];
        assert_eq!(o.transport, sipwasm_proto::Transport::Tls, "msrps is TLS");
        assert!(e.set_dst("msrp://127.0.0.1:1/x;udp", "").is_err());
        assert!(
            e.set_dst("msrp://127.0.0.1:1/x;tcp", "udp:1.2.3.4:5")
                .is_err()
        );
        // forward with explicit paths
        let mut f = event(SEND_IP);
        f.forward(
            "msrp://127.0.0.1:9001/x;tcp",
            "msrp://127.0.0.1:2855/relay;tcp",
        )
        .unwrap();
        let o = &f.take_outbound()[0];
        assert_eq!(o.dest, "127.0.0.1:9001".parse().unwrap());
        let relayed = MsrpFrame::parse(&o.data).unwrap();
        assert_eq!(relayed.to_path(), vec![&b"msrp://127.0.0.1:9001/x;tcp"[..]]);
        // reply flags
        let mut r = event(SEND_IP);
        r.set_reply_flags(2);
        r.reply(200, "OK", "").unwrap();
        assert!(r.take_outbound()[0].flags.close_after);
    }

    #[test]
    fn undelivered_relayed_requests_are_answered_as_the_rfcs_say() {
        // not answered by the plugin: a 481 response to alice on connection 7
        let mut e = event(SEND_IP);
        e.relay().unwrap();
        let out = e.take_outbound();
        assert_eq!(out[0].flags.on_undelivered, (7 << 2) | UNDELIVERED_RESPOND);
        let (conn, answer) = undelivered_answer(out[0].flags.on_undelivered, &out[0].data).unwrap();
        assert_eq!(conn, 7);
        let answer = MsrpFrame::parse(&answer).unwrap();
        assert_eq!(answer.status(), Some(481));
        assert_eq!(answer.transact_id(), b"tx01");
        assert_eq!(
            answer.to_path(),
            vec![&b"msrp://127.0.0.1:40000/alice;tcp"[..]]
        );
        assert_eq!(
            answer.from_path(),
            vec![&b"msrp://127.0.0.1:2855/relay;tcp"[..]]
        );

        // answered 200 first (as the example does for further hops): a REPORT
        let mut e = event(SEND_IP);
        e.reply(200, "Received", "").unwrap();
        e.relay().unwrap();
        let out = e.take_outbound();
        let relayed = out.iter().find(|o| o.flags.on_undelivered != 0).unwrap();
        assert_eq!(relayed.flags.on_undelivered & 3, UNDELIVERED_REPORT);
        let (conn, report) =
            undelivered_answer(relayed.flags.on_undelivered, &relayed.data).unwrap();
        assert_eq!(conn, 7);
        let report = MsrpFrame::parse(&report).unwrap();
        assert_eq!(report.method(), Some(&b"REPORT"[..]));
        assert_eq!(report.header(b"Message-ID"), Some(&b"m1"[..]));
        assert_eq!(
            report.header(b"Status"),
            Some(&b"000 481 Next Hop Unreachable"[..])
        );
        assert_eq!(
            report.to_path(),
            vec![&b"msrp://127.0.0.1:40000/alice;tcp"[..]]
        );
        // REPORT ids are unique
        let again = undelivered_answer(relayed.flags.on_undelivered, &relayed.data)
            .unwrap()
            .1;
        assert_ne!(
            MsrpFrame::parse(&again).unwrap().transact_id(),
            report.transact_id()
        );

        // nothing owed: Failure-Report: no, a refusal, a relayed REPORT or response
        let quiet = String::from_utf8_lossy(SEND_IP)
            .replace("Message-ID: m1", "Message-ID: m1\r\nFailure-Report: no");
        let mut e = event(quiet.as_bytes());
        e.relay().unwrap();
        assert_eq!(e.take_outbound()[0].flags.on_undelivered, 0);
        let mut e = event(SEND_IP);
        e.reply(403, "Forbidden", "").unwrap();
        e.relay().unwrap();
        assert!(
            e.take_outbound()
                .iter()
                .all(|o| o.flags.on_undelivered == 0)
        );
        let report = String::from_utf8_lossy(SEND_IP).replace("tx01 SEND", "tx01 REPORT");
        let mut e = event(report.as_bytes());
        e.relay().unwrap();
        assert_eq!(e.take_outbound()[0].flags.on_undelivered, 0);
        let mut e = event(SEND_IP);
        e.forward(
            "msrp://127.0.0.1:9000/bob;tcp",
            "msrp://127.0.0.1:2855/relay;tcp",
        )
        .unwrap();
        assert_eq!(
            e.take_outbound()[0].flags.on_undelivered,
            0,
            "forward: the plugin's paths"
        );
    }

    #[test]
    fn the_sip_view_follows_the_sipmsg_option() {
        let e = event(SEND);
        let s = |v: &str| Value::Str(v.into());
        assert_eq!(get(&e, "$hdr(MSRP-First-Line)"), s("MSRP a786hjs2 SEND"));
        assert_eq!(get(&e, "$hdr(message-id)"), s("87652"));
        assert_eq!(get(&e, "$hdrc(To-Path)"), Value::Int(1));
        assert_eq!(get(&e, "$hdrc(Via)"), Value::Int(0));
        assert_eq!(get(&e, "$rm"), s("MSRP"));
        assert_eq!(get(&e, "$ru"), s("sip:a@127.0.0.1"));
        assert_eq!(get(&e, "$ci"), s("a"));
        assert_eq!(get(&e, "$cT"), s("text/plain"));
        // sipmsg off: only $msrp(key) reads the frame
        let off = MsrpEvent::new(
            Arc::new(LocalConfig::new(Vec::new(), Vec::new(), None).with_msrp_sipmsg(false)),
            MsrpFrame::parse(SEND).unwrap(),
            e.scope.source,
            1,
        );
        for name in [
            "$hdr(To-Path)",
            "$hdr(MSRP-First-Line)",
            "$rm",
            "$ru",
            "$ci",
        ] {
            assert_eq!(get(&off, name), Value::Null, "{name}");
        }
        assert_eq!(get(&off, "$msrp(msgid)"), s("87652"));
        assert_eq!(get(&off, "$msrp(method)"), s("SEND"));
    }
}
