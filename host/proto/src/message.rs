//! The SIP message model and its parser.
//!
//! Parsing is lazy where that is safe and strict where the router depends on it, as in
//! Kamailio: one pass locates every header line; then the headers a router acts on (Via,
//! From, To, Call-ID, CSeq, Max-Forwards, Content-Length, Date, and in requests Contact,
//! Route and Record-Route) are validated and kept in parsed form; a response's address
//! lists are parsed when first read, and every other header stays a located span whose
//! value is read on demand. Nothing is copied: all parts are [`Span`]s into one
//! shared [`Bytes`] buffer.

use crate::error::{ParseError, Result};
use crate::grammar;
use crate::header::{Header, HeaderName, same_header};
use crate::method::Method;
use crate::name_addr::{self, NameAddr};
use crate::span::Span;
use crate::uri::Uri;
use crate::values::{self, CSeq};
use crate::via::{self, Via};
use bytes::Bytes;
use std::sync::{Arc, OnceLock};

/// Most header lines a message may have; more is treated as an attack.
pub const MAX_HEADERS: usize = 256;

/// The first line of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartLine {
    /// `Method SP Request-URI SP SIP/2.0`
    Request {
        /// Method.
        method: Method,
        /// Method as written.
        method_span: Span,
        /// Request-URI.
        uri: Uri,
    },
    /// `SIP/2.0 SP Status-Code SP Reason-Phrase`
    Response {
        /// Status code, 100..=699.
        code: u16,
        /// Reason phrase (may be empty).
        reason: Span,
    },
}

/// A parsed SIP request or response.
///
/// Cloning is cheap (one reference count): transactions, route contexts and branches
/// keep copies of the same message.
#[derive(Clone, Debug)]
pub struct SipMessage {
    p: Arc<Parsed>,
}

/// A message's bytes and the index the parser builds over them.
#[derive(Debug)]
struct Parsed {
    /// Kept here rather than beside the `Arc`: a datagram's `Bytes` is then never
    /// cloned, and a first clone of a `Bytes` made from a `Vec` allocates.
    buf: Bytes,
    start: StartLine,
    start_line: Span,
    headers: Vec<Header>,
    headers_end: usize,
    body: Span,
    vias: Vec<Via>,
    from: NameAddr,
    to: NameAddr,
    call_id: Span,
    cseq: CSeq,
    max_forwards: Option<u8>,
    content_length: Option<u32>,
    /// Contact, Route and Record-Route: parsed (and validated) with the rest of a request;
    /// a response's on first read, since a proxy forwards responses without acting on them.
    addresses: OnceLock<Addresses>,
}

/// The address lists of a message.
#[derive(Debug, Default)]
struct Addresses {
    contacts: Vec<NameAddr>,
    contact_star: bool,
    routes: Vec<NameAddr>,
    record_routes: Vec<NameAddr>,
}

impl Addresses {
    /// Parse every Contact, Route and Record-Route header of `headers`.
    fn parse(b: &[u8], headers: &[Header]) -> Result<Addresses> {
        // sized for one entry per header line, so that a single address does not get
        // room for four
        let count = |name| headers.iter().filter(|h| h.name == name).count();
        let mut a = Addresses {
            contacts: Vec::with_capacity(count(HeaderName::Contact)),
            contact_star: false,
            routes: Vec::with_capacity(count(HeaderName::Route)),
            record_routes: Vec::with_capacity(count(HeaderName::RecordRoute)),
        };
        for h in headers {
            let v = h.value.of(b);
            let bad = |detail| ParseError::header(h.name, detail);
            match h.name {
                HeaderName::Contact if v == b"*" => a.contact_star = true,
                HeaderName::Contact => {
                    name_addr::parse_list(b, v, false, &mut a.contacts).map_err(bad)?;
                }
                HeaderName::Route => {
                    name_addr::parse_list(b, v, true, &mut a.routes).map_err(bad)?;
                }
                HeaderName::RecordRoute => {
                    name_addr::parse_list(b, v, true, &mut a.record_routes).map_err(bad)?;
                }
                _ => {}
            }
        }
        if a.contact_star && !a.contacts.is_empty() {
            return Err(ParseError::header(
                HeaderName::Contact,
                "* mixed with addresses",
            ));
        }
        Ok(a)
    }
}

/// Index of the first byte after the line that starts at `pos` and the end of its content
/// (before CR LF or LF); `None` when there is no line terminator.
fn line_at(buf: &[u8], pos: usize) -> Option<(usize, usize)> {
    let nl = memchr::memchr(b'\n', &buf[pos..])? + pos;
    let content_end = if nl > pos && buf[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    Some((content_end, nl + 1))
}

/// Parse `SIP/<major>.<minor>`; `Ok(true)` for 2.0, `Ok(false)` for another valid version.
fn check_version(v: &[u8]) -> std::result::Result<bool, ()> {
    if v.len() < 7 || !v[..4].eq_ignore_ascii_case(b"SIP/") {
        return Err(());
    }
    let mut parts = v[4..].splitn(2, |&c| c == b'.');
    let major = parts.next().unwrap_or_default();
    let minor = parts.next().ok_or(())?;
    if major.is_empty()
        || minor.is_empty()
        || !major.iter().all(u8::is_ascii_digit)
        || !minor.iter().all(u8::is_ascii_digit)
    {
        return Err(());
    }
    Ok(values::parse_decimal(major) == Some(2) && values::parse_decimal(minor) == Some(0))
}

fn parse_request_line(buf: &[u8], line: &[u8]) -> Result<StartLine> {
    let sp1 = line
        .iter()
        .position(|&c| c == b' ')
        .ok_or(ParseError::RequestLine("missing Request-URI"))?;
    let method = &line[..sp1];
    if !crate::chars::all(&crate::chars::TOKEN, method) {
        return Err(ParseError::RequestLine("method is not a token"));
    }
    let rest = &line[sp1 + 1..];
    let sp2 = rest
        .iter()
        .rposition(|&c| c == b' ')
        .ok_or(ParseError::RequestLine("missing SIP version"))?;
    let uri_text = &rest[..sp2];
    let version = &rest[sp2 + 1..];
    if version.is_empty() {
        return Err(ParseError::RequestLine("white space after the SIP version"));
    }
    if uri_text.is_empty() || uri_text.contains(&b' ') || uri_text.contains(&b'\t') {
        return Err(ParseError::RequestLine(
            "elements must be separated by exactly one space",
        ));
    }
    match check_version(version) {
        Ok(true) => {}
        Ok(false) => {
            return Err(ParseError::VersionNotSupported(
                String::from_utf8_lossy(version).into_owned(),
            ));
        }
        Err(()) => return Err(ParseError::RequestLine("malformed SIP version")),
    }
    let uri = Uri::parse(buf, uri_text).map_err(|e| ParseError::RequestUri(e.0))?;
    if uri.headers.is_some() {
        return Err(ParseError::RequestUri(
            "headers are not allowed in a Request-URI",
        ));
    }
    Ok(StartLine::Request {
        method: Method::from_bytes(method),
        method_span: Span::within(buf, method),
        uri,
    })
}

fn parse_status_line(buf: &[u8], line: &[u8]) -> Result<StartLine> {
    let sp = line
        .iter()
        .position(|&c| c == b' ')
        .ok_or(ParseError::StatusLine("missing status code"))?;
    match check_version(&line[..sp]) {
        Ok(true) => {}
        Ok(false) => {
            return Err(ParseError::VersionNotSupported(
                String::from_utf8_lossy(&line[..sp]).into_owned(),
            ));
        }
        Err(()) => return Err(ParseError::StatusLine("malformed SIP version")),
    }
    let rest = &line[sp + 1..];
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits != 3 || !(rest.len() == 3 || rest[3] == b' ') {
        return Err(ParseError::StatusLine("status code must be three digits"));
    }
    let code = values::parse_decimal(&rest[..3]).unwrap_or(0) as u16;
    if !(100..=699).contains(&code) {
        return Err(ParseError::StatusLine("status code must be 100 to 699"));
    }
    let reason = rest.get(4..).unwrap_or(&rest[3..]);
    if reason.iter().any(|&c| c < 0x20 && c != b'\t') {
        return Err(ParseError::StatusLine("control character in reason phrase"));
    }
    Ok(StartLine::Response {
        code,
        reason: Span::within(buf, reason),
    })
}

/// Locate the header lines starting at `pos`. Returns them with the offset of the empty line
/// that ends the header section and the offset of the body.
///
/// A datagram may end right after its last header line without the empty line; that is
/// accepted as a message without body. A last line without its line break is not: what
/// the router appends to the header section would continue it (found by fuzzing).
fn locate_headers(buf: &[u8], mut pos: usize, out: &mut Vec<Header>) -> Result<(usize, usize)> {
    const CUT: ParseError = ParseError::HeaderLine("the message ends inside a header line");
    // a CR not ending a line would end one for some reader downstream (a header of the
    // sender's making in whatever copies the value: found by fuzzing)
    const BARE_CR: ParseError = ParseError::HeaderLine("a CR that ends no line");
    loop {
        if pos >= buf.len() {
            return Ok((buf.len(), buf.len()));
        }
        let (content_end, mut next) = line_at(buf, pos).ok_or(CUT)?;
        if content_end == pos {
            // the empty line
            return Ok((pos, next));
        }
        if crate::chars::is_wsp(buf[pos]) {
            return Err(ParseError::HeaderLine("continuation line without a header"));
        }
        let line = &buf[pos..content_end];
        if memchr::memchr(b'\r', line).is_some() {
            return Err(BARE_CR);
        }
        let name_len = line
            .iter()
            .position(|&c| c == b':' || crate::chars::is_wsp(c))
            .unwrap_or(line.len());
        let name = &line[..name_len];
        if !crate::chars::all(&crate::chars::TOKEN, name) {
            return Err(ParseError::HeaderLine("invalid header name"));
        }
        let after_name = &line[name_len..];
        let colon = after_name
            .iter()
            .position(|&c| !crate::chars::is_wsp(c))
            .filter(|&p| after_name[p] == b':')
            .ok_or(ParseError::HeaderLine("missing colon after header name"))?;
        let value_start = pos + name_len + colon + 1;
        // extend over folded continuation lines
        let mut value_end = content_end;
        while next < buf.len() && crate::chars::is_wsp(buf[next]) {
            let (ce, n) = line_at(buf, next).ok_or(CUT)?;
            if memchr::memchr(b'\r', &buf[next..ce]).is_some() {
                return Err(BARE_CR);
            }
            value_end = ce;
            next = n;
        }
        let raw_value = &buf[value_start..value_end];
        let value = grammar::trim(raw_value);
        let value_span = if value.is_empty() {
            Span::new(value_end, value_end)
        } else {
            Span::within(buf, value)
        };
        if out.len() == MAX_HEADERS {
            return Err(ParseError::HeaderLine("too many header lines"));
        }
        out.push(Header {
            name: HeaderName::from_bytes(name),
            name_span: Span::new(pos, pos + name_len),
            value: value_span,
            line: Span::new(pos, next),
        });
        pos = next;
    }
}

impl SipMessage {
    /// Parse one message from `buf`.
    ///
    /// `buf` is a whole datagram or a frame cut by [`crate::framing`]. Leading CR LF are
    /// skipped (RFC 3261 §7.5). When Content-Length is present the body is exactly that
    /// long: extra trailing bytes in a datagram are ignored (RFC 4475 `dblreq`) and a
    /// value larger than what was received is an error. Without Content-Length the body
    /// is the rest of the buffer.
    pub fn parse(buf: Bytes) -> Result<SipMessage> {
        Self::parse_or_return(buf).map_err(|(e, _)| e)
    }

    /// [`Self::parse`] of a copy of `raw`, for bytes the caller does not own (a receive
    /// buffer, a test's text).
    pub fn parse_slice(raw: &[u8]) -> Result<SipMessage> {
        Self::parse(Bytes::copy_from_slice(raw))
    }

    /// [`Self::parse`] that hands `buf` back with the error, for callers that answer or
    /// pass on what did not parse without keeping a second handle to it.
    pub fn parse_or_return(buf: Bytes) -> std::result::Result<SipMessage, (ParseError, Bytes)> {
        match Self::index(&buf) {
            Ok(mut p) => {
                let end = p.body.end as usize;
                p.buf = if end == buf.len() {
                    buf
                } else {
                    buf.slice(..end)
                };
                Ok(SipMessage { p: Arc::new(p) })
            }
            Err(e) => Err((e, buf)),
        }
    }

    /// Index a message; [`Parsed::buf`] is left empty for the caller to fill.
    fn index(b: &[u8]) -> Result<Parsed> {
        let skip = b
            .iter()
            .position(|&c| c != b'\r' && c != b'\n')
            .ok_or(ParseError::Empty)?;
        let (line_end, mut pos) = line_at(b, skip).ok_or(ParseError::Truncated)?;
        let line = &b[skip..line_end];
        let start = if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"SIP/") {
            parse_status_line(b, line)?
        } else {
            parse_request_line(b, line)?
        };
        let mut headers = Vec::with_capacity(16);
        let (headers_end, body_start) = locate_headers(b, pos, &mut headers)?;
        pos = body_start;

        let mut vias = Vec::with_capacity(2);
        let mut from = None;
        let mut to = None;
        let mut call_id = None;
        let mut cseq = None;
        let mut max_forwards = None;
        let mut content_length = None;
        let mut seen_single = 0u64;
        for (idx, h) in headers.iter().enumerate() {
            let v = h.value.of(b);
            let bad = |detail| ParseError::header(h.name, detail);
            if h.name.is_single() {
                let bit = 1u64 << (h.name as u32);
                if seen_single & bit != 0 {
                    return Err(ParseError::Duplicate(h.name));
                }
                seen_single |= bit;
            }
            match h.name {
                HeaderName::Via => {
                    via::parse_via_value(b, v, idx as u16, &mut vias).map_err(bad)?;
                }
                HeaderName::From => from = Some(name_addr::parse_single(b, v).map_err(bad)?),
                HeaderName::To => to = Some(name_addr::parse_single(b, v).map_err(bad)?),
                HeaderName::CallId => {
                    values::check_call_id(v).map_err(bad)?;
                    call_id = Some(h.value);
                }
                HeaderName::CSeq => cseq = Some(values::parse_cseq(b, v).map_err(bad)?),
                HeaderName::MaxForwards => {
                    max_forwards = Some(values::parse_max_forwards(v).map_err(bad)?);
                }
                HeaderName::ContentLength => {
                    content_length = Some(values::parse_content_length(v).map_err(bad)?);
                }
                HeaderName::Date => values::check_date(v).map_err(bad)?,
                _ => {}
            }
        }
        let to = to.ok_or(ParseError::Missing(HeaderName::To))?;
        let from = from.ok_or(ParseError::Missing(HeaderName::From))?;
        let call_id = call_id.ok_or(ParseError::Missing(HeaderName::CallId))?;
        let cseq = cseq.ok_or(ParseError::Missing(HeaderName::CSeq))?;
        if vias.is_empty() {
            return Err(ParseError::Missing(HeaderName::Via));
        }
        if let StartLine::Request { method_span, .. } = start
            && method_span.of(b) != cseq.method_span.of(b)
        {
            return Err(ParseError::CSeqMethodMismatch);
        }
        let addresses = OnceLock::new();
        if matches!(start, StartLine::Request { .. }) {
            let _ = addresses.set(Addresses::parse(b, &headers)?);
        }
        let available = b.len() - pos;
        let body_len = match content_length {
            Some(cl) if cl as usize > available => {
                return Err(ParseError::ContentLengthExceeds {
                    declared: cl as usize,
                    available,
                });
            }
            Some(cl) => cl as usize,
            None => available,
        };
        let end = pos + body_len;
        Ok(Parsed {
            buf: Bytes::new(),
            start,
            start_line: Span::new(skip, line_end),
            headers,
            headers_end,
            body: Span::new(pos, end),
            vias,
            from,
            to,
            call_id,
            cseq,
            max_forwards,
            content_length,
            addresses,
        })
    }

    /// The message bytes (ending with the body).
    pub fn bytes(&self) -> &Bytes {
        &self.p.buf
    }

    /// The message bytes as a slice: the base for every [`Span`] of this message.
    pub fn as_bytes(&self) -> &[u8] {
        &self.p.buf
    }

    /// Bytes a span of this message covers.
    pub fn text(&self, span: Span) -> &[u8] {
        span.of(&self.p.buf)
    }

    /// Length of the message in bytes.
    pub fn len(&self) -> usize {
        self.p.buf.len()
    }

    /// Never true: a parsed message has at least a start line.
    pub fn is_empty(&self) -> bool {
        self.p.buf.is_empty()
    }

    /// The start line.
    pub fn start(&self) -> &StartLine {
        &self.p.start
    }

    /// The first line without its terminator.
    pub fn first_line(&self) -> &[u8] {
        self.text(self.p.start_line)
    }

    /// True for requests.
    pub fn is_request(&self) -> bool {
        matches!(self.p.start, StartLine::Request { .. })
    }

    /// The method: of the request line for requests, of CSeq for responses.
    pub fn method(&self) -> Method {
        match self.p.start {
            StartLine::Request { method, .. } => method,
            StartLine::Response { .. } => self.p.cseq.method,
        }
    }

    /// The method name as written (request line, or CSeq for responses).
    pub fn method_text(&self) -> &[u8] {
        match self.p.start {
            StartLine::Request { method_span, .. } => self.text(method_span),
            StartLine::Response { .. } => self.text(self.p.cseq.method_span),
        }
    }

    /// The Request-URI of a request.
    pub fn request_uri(&self) -> Option<&Uri> {
        match &self.p.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// Status code of a response.
    pub fn status(&self) -> Option<u16> {
        match self.p.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// Reason phrase of a response.
    pub fn reason(&self) -> Option<&[u8]> {
        match self.p.start {
            StartLine::Response { reason, .. } => Some(self.text(reason)),
            StartLine::Request { .. } => None,
        }
    }

    /// All header lines in order.
    pub fn headers(&self) -> &[Header] {
        &self.p.headers
    }

    /// Offset of the empty line that ends the header section: where headers are appended.
    pub fn headers_end(&self) -> usize {
        self.p.headers_end
    }

    /// Value of the first header called `name` (long or compact form, any case).
    pub fn header(&self, name: &[u8]) -> Option<&[u8]> {
        let known = HeaderName::from_bytes(name);
        self.p
            .headers
            .iter()
            .find(|h| self.is_named(h, known, name))
            .map(|h| self.text(h.value))
    }

    fn is_named(&self, h: &Header, known: HeaderName, name: &[u8]) -> bool {
        if known != HeaderName::Other {
            h.name == known
        } else {
            h.name == HeaderName::Other && same_header(self.text(h.name_span), name)
        }
    }

    /// Values of every header called `name`, in order.
    pub fn headers_named<'a>(&'a self, name: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        let known = HeaderName::from_bytes(name);
        self.p
            .headers
            .iter()
            .filter(move |h| self.is_named(h, known, name))
            .map(|h| self.text(h.value))
    }

    /// Value of the first header of a known kind.
    pub fn header_of(&self, name: HeaderName) -> Option<&[u8]> {
        self.p
            .headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| self.text(h.value))
    }

    /// Every Via entry, topmost first (several may share one header line).
    pub fn vias(&self) -> &[Via] {
        &self.p.vias
    }

    /// The topmost Via.
    pub fn top_via(&self) -> &Via {
        &self.p.vias[0]
    }

    /// From.
    pub fn from(&self) -> &NameAddr {
        &self.p.from
    }

    /// To.
    pub fn to(&self) -> &NameAddr {
        &self.p.to
    }

    /// Call-ID value.
    pub fn call_id(&self) -> &[u8] {
        self.text(self.p.call_id)
    }

    /// CSeq.
    pub fn cseq(&self) -> &CSeq {
        &self.p.cseq
    }

    /// Max-Forwards, when present.
    pub fn max_forwards(&self) -> Option<u8> {
        self.p.max_forwards
    }

    /// Content-Length, when present.
    pub fn content_length(&self) -> Option<u32> {
        self.p.content_length
    }

    /// The address lists. A request's were checked by [`Self::parse`]; a response's are
    /// parsed here on first use, and a malformed list reads as empty (the response was
    /// accepted to be forwarded, which does not depend on them).
    fn addresses(&self) -> &Addresses {
        self.p
            .addresses
            .get_or_init(|| Addresses::parse(&self.p.buf, &self.p.headers).unwrap_or_default())
    }

    /// Contact addresses (empty for `Contact: *`).
    pub fn contacts(&self) -> &[NameAddr] {
        &self.addresses().contacts
    }

    /// True for `Contact: *`.
    pub fn contact_star(&self) -> bool {
        self.addresses().contact_star
    }

    /// Route entries in order.
    pub fn routes(&self) -> &[NameAddr] {
        &self.addresses().routes
    }

    /// Record-Route entries in order.
    pub fn record_routes(&self) -> &[NameAddr] {
        &self.addresses().record_routes
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        self.text(self.p.body)
    }

    /// Where the body starts.
    pub fn body_span(&self) -> Span {
        self.p.body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
X-Custom: one\r\n\
x-custom: two\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

    fn parse(b: &[u8]) -> Result<SipMessage> {
        SipMessage::parse_slice(b)
    }

    #[test]
    fn request_fields() {
        let m = parse(INVITE).unwrap();
        assert!(m.is_request());
        assert_eq!(m.method(), Method::Invite);
        let base = m.as_bytes();
        assert_eq!(m.request_uri().unwrap().user(base), Some(&b"bob"[..]));
        assert_eq!(m.vias().len(), 1);
        assert_eq!(m.from().tag(base), Some(&b"1928301774"[..]));
        assert_eq!(m.to().tag(base), None);
        assert_eq!(m.call_id(), b"a84b4c76e66710@pc33.atlanta.example.com");
        assert_eq!(m.cseq().number, 314159);
        assert_eq!(m.max_forwards(), Some(70));
        assert_eq!(m.body(), b"v=0\n");
        assert_eq!(m.header(b"x-CUSTOM"), Some(&b"one"[..]));
        assert_eq!(m.headers_named(b"X-Custom").count(), 2);
        assert_eq!(m.header(b"i"), Some(m.call_id()));
        assert_eq!(m.contacts().len(), 1);
        assert_eq!(&base[m.headers_end()..m.headers_end() + 2], b"\r\n");
        assert_eq!(m.first_line(), b"INVITE sip:bob@biloxi.example.com SIP/2.0");
        let h = m.headers()[1];
        assert_eq!(m.text(h.line), b"Max-Forwards: 70\r\n");
    }

    #[test]
    fn a_datagram_may_end_after_a_header_line_not_inside_one() {
        let lines = "OPTIONS sip:a@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
To: <sip:a@x>\r\nFrom: <sip:b@x>;tag=1\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n";
        let m = parse(lines.as_bytes()).expect("no empty line: a message without body");
        assert_eq!(m.headers_end(), lines.len());
        // found by fuzzing: a header appended at the end would continue the last line
        let cut = &lines[..lines.len() - 2];
        assert!(matches!(
            parse(cut.as_bytes()),
            Err(ParseError::HeaderLine(_))
        ));
        let folded = format!("{lines}X: a\r\n b");
        assert!(matches!(
            parse(folded.as_bytes()),
            Err(ParseError::HeaderLine(_))
        ));
    }

    #[test]
    fn a_bare_cr_in_a_header_line_is_refused() {
        // found by fuzzing: what copies the value (a forwarded request, a 400) would carry a
        // line break of the sender's making
        let ok = "OPTIONS sip:a@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
To: <sip:a@x>\r\nFrom: <sip:b@x>;tag=1\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n";
        assert!(parse(format!("{ok}Subject: a\r\n b\r\n\r\n").as_bytes()).is_ok());
        for bad in [
            "Subject: a\rContent-Length: 9\r\n",
            "Subject: a\r\n b\rc\r\n",
        ] {
            assert!(matches!(
                parse(format!("{ok}{bad}\r\n").as_bytes()),
                Err(ParseError::HeaderLine(_))
            ));
        }
    }

    #[test]
    fn response_fields() {
        let m = parse(b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:b@x>;tag=2\r\nFrom: <sip:a@x>;tag=1\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert_eq!(m.status(), Some(180));
        assert_eq!(m.reason(), Some(&b"Ringing"[..]));
        assert_eq!(m.method(), Method::Invite);
    }

    #[test]
    fn parse_or_return_hands_back_what_did_not_parse_and_keeps_what_did() {
        let bad = Bytes::from_static(b"INVITE sip:bob@example.com SIP/2.0\r\nVia: \r\n\r\n");
        let (err, back) = SipMessage::parse_or_return(bad.clone()).unwrap_err();
        assert_eq!(back, bad);
        assert_eq!(
            err,
            SipMessage::parse(bad).unwrap_err(),
            "the same error as parse"
        );
        // bytes past Content-Length are cut off, the rest is the message
        let mut extra = INVITE.to_vec();
        extra.extend_from_slice(b"trailing junk");
        let m = SipMessage::parse_or_return(Bytes::from(extra)).unwrap();
        assert_eq!(m.as_bytes(), INVITE);
        let copy = m.clone();
        assert_eq!(
            copy.as_bytes().as_ptr(),
            m.as_bytes().as_ptr(),
            "clones share"
        );
    }

    #[test]
    fn a_response_address_lists_are_read_on_demand_and_never_reject_it() {
        let ok = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:b@x>;tag=2\r\nFrom: <sip:a@x>;tag=1\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nRecord-Route: <sip:p1;lr>, <sip:p2;lr>\r\nContact: <sip:b@10.0.0.2>\r\nContent-Length: 0\r\n\r\n";
        let m = parse(ok).unwrap();
        assert_eq!(m.record_routes().len(), 2);
        assert_eq!(m.contacts()[0].uri.host(m.as_bytes()), b"10.0.0.2");
        // the same malformed Contact: a request is rejected, a response forwarded
        let bad_contact = "Contact: <sip:b@10.0.0.2\r\n";
        let response =
            String::from_utf8_lossy(ok).replace("Contact: <sip:b@10.0.0.2>\r\n", bad_contact);
        let m = parse(response.as_bytes()).unwrap();
        assert!(m.contacts().is_empty());
        assert_eq!(
            m.record_routes().len(),
            0,
            "a malformed list reads as empty, all of it"
        );
        let request = String::from_utf8_lossy(INVITE).replace(
            "Contact: <sip:alice@pc33.atlanta.example.com>\r\n",
            bad_contact,
        );
        assert!(matches!(
            parse(request.as_bytes()).unwrap_err(),
            ParseError::Header {
                header: HeaderName::Contact,
                ..
            }
        ));
    }

    #[test]
    fn leading_crlf_and_trailing_bytes() {
        let mut b = b"\r\n\r\n".to_vec();
        b.extend_from_slice(INVITE);
        b.extend_from_slice(b"garbage");
        let m = parse(&b).unwrap();
        assert_eq!(m.body(), b"v=0\n");
        assert!(m.as_bytes().ends_with(b"v=0\n"));
    }

    #[test]
    fn errors() {
        assert_eq!(parse(b"\r\n\r\n").unwrap_err(), ParseError::Empty);
        let short = &INVITE[..INVITE.len() - 2];
        assert!(matches!(
            parse(short).unwrap_err(),
            ParseError::ContentLengthExceeds {
                declared: 4,
                available: 2
            }
        ));
        let no_colon = b"OPTIONS sip:a@b SIP/2.0\r\nVia SIP/2.0/UDP h\r\n\r\n";
        assert!(matches!(
            parse(no_colon).unwrap_err(),
            ParseError::HeaderLine(_)
        ));
    }
}
