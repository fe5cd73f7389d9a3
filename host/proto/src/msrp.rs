//! MSRP frames (RFC 4975 §7.1, RFC 4976): a streaming, sans-IO framer and a zero-copy
//! frame model.
//!
//! ```text
//! MSRP a786hjs2 SEND
//! To-Path: msrp://relay.example.com:2855/sk3;tcp
//! From-Path: msrp://alice.example.com:7777/iau39;tcp
//! Message-ID: 87652
//! Byte-Range: 1-25/25
//! Content-Type: text/plain
//!
//! Hey Bob, are you there?
//! -------a786hjs2$
//! ```
//!
//! A frame ends with its end-line, `-------` + transaction id + a continuation flag (`$`
//! complete, `+` more chunks follow, `#` aborted). The body is opaque bytes (binary is
//! fine): the framer finds the end-line by search, remembering how far it has looked, so a
//! chunk that arrives in many reads is scanned once. "Need more bytes" is `Ok(None)`; an
//! error means the stream can no longer be an MSRP stream (answer 400 if the start line
//! was read, then close).

use crate::span::Span;
use bytes::{Bytes, BytesMut};
use nom::IResult;
use nom::Parser;
use nom::bytes::complete::{tag, take_while, take_while_m_n, take_while1};
use nom::character::complete::char;
use nom::combinator::{all_consuming, opt, rest};
use nom::sequence::preceded;

/// Longest start line accepted.
pub const MAX_START_LINE: usize = 1024;
/// Largest header section accepted (start line included).
pub const MAX_HEADERS: usize = 16 * 1024;
/// Default largest body of one chunk (1 MiB; Kamailio's limit is about 64 KiB).
pub const DEFAULT_MAX_CHUNK: usize = 1 << 20;

/// Why bytes cannot be an MSRP frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MsrpError {
    /// The first line is not `MSRP <transact-id> <method>` or `MSRP <transact-id> <code>`.
    #[error("bad MSRP start line: {0}")]
    StartLine(&'static str),
    /// A header line is malformed.
    #[error("bad MSRP header line: {0}")]
    Header(&'static str),
    /// The frame (or its header section so far) is larger than allowed.
    #[error("MSRP frame larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
}

/// The error response (`400 Bad Request`, `413`...) to a request the framer refused, when
/// enough of it can be read to address one (RFC 4975 §7.2): its start line names a
/// transaction and a method other than REPORT, and its To-Path and From-Path are there.
/// `None` when no response can be built: then the connection just closes.
pub fn error_response(buf: &[u8], code: u16, comment: &str) -> Option<Vec<u8>> {
    let head = &buf[..buf.len().min(16 * 1024)];
    let mut lines = head
        .split(|&c| c == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = std::str::from_utf8(lines.next()?).ok()?;
    let mut words = first.split(' ');
    if words.next()? != "MSRP" {
        return None;
    }
    let tid = words.next()?;
    let method = words.next()?;
    let tid_ok = (4..=32).contains(&tid.len())
        && tid
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b".-+%=".contains(&c));
    let is_request = !method.is_empty() && method.bytes().all(|c| c.is_ascii_uppercase());
    if !tid_ok || !is_request || method == "REPORT" {
        return None;
    }
    let mut to = None;
    let mut from = None;
    for line in lines.take_while(|l| !l.is_empty()) {
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let first_uri = value.split_ascii_whitespace().next().map(str::to_string);
        if name.eq_ignore_ascii_case("To-Path") && to.is_none() {
            to = first_uri;
        } else if name.eq_ignore_ascii_case("From-Path") && from.is_none() {
            from = first_uri;
        }
    }
    let (to, from) = (to?, from?);
    if MsrpUri::parse(&to).is_err() || MsrpUri::parse(&from).is_err() {
        return None;
    }
    Some(
        format!(
            "MSRP {tid} {code} {comment}\r\nTo-Path: {from}\r\nFrom-Path: {to}\r\n-------{tid}$\r\n"
        )
        .into_bytes(),
    )
}

/// The transaction response a relay sends back for a request it relayed but could not
/// deliver (the next hop could not be reached), when it has not answered it yet
/// (RFC 4975 §7.2, RFC 4976 §7.3.1). `relayed` is the request as it left this relay: its
/// first From-Path URI is this relay, the second the previous hop. `None` for a response,
/// a REPORT (never answered) or a frame without that path.
pub fn undelivered_response(relayed: &MsrpFrame, code: u16, comment: &str) -> Option<Vec<u8>> {
    let method = relayed.method()?;
    if method == b"REPORT" {
        return None;
    }
    let from = relayed.from_path();
    let (this_hop, previous) = (from.first()?, from.get(1)?);
    let tid = relayed.transact_id();
    let mut out = Vec::with_capacity(96 + this_hop.len() + previous.len() + 2 * tid.len());
    out.extend_from_slice(b"MSRP ");
    out.extend_from_slice(tid);
    out.extend_from_slice(format!(" {code} {comment}\r\nTo-Path: ").as_bytes());
    out.extend_from_slice(previous);
    out.extend_from_slice(b"\r\nFrom-Path: ");
    out.extend_from_slice(this_hop);
    out.extend_from_slice(b"\r\n-------");
    out.extend_from_slice(tid);
    out.extend_from_slice(b"$\r\n");
    Some(out)
}

/// The failure REPORT a relay sends back along the reverse path for a SEND it relayed and
/// already answered with 200 but could not deliver (RFC 4975 §7.1.2, RFC 4976 §7.3.1):
/// To-Path is the SEND's path back to its sender, From-Path this relay, with the SEND's
/// Message-ID, the Byte-Range of the chunk and `Status: 000 <code> <comment>`. `relayed`
/// is the SEND as it left this relay (first From-Path URI: this relay); `tid` the new
/// transaction's id. `None` when it is not a SEND, has no Message-ID, or no way back.
pub fn undelivered_report(
    relayed: &MsrpFrame,
    tid: &str,
    code: u16,
    comment: &str,
) -> Option<Vec<u8>> {
    if relayed.method()? != b"SEND" {
        return None;
    }
    let message_id = relayed.header(b"Message-ID")?;
    let from = relayed.from_path();
    let (this_hop, back) = from.split_first()?;
    if back.is_empty() {
        return None;
    }
    let body = relayed.body().map_or(0, <[u8]>::len);
    let range = chunk_range(relayed.header(b"Byte-Range"), body);
    let mut out = Vec::with_capacity(
        192 + message_id.len() + back.iter().map(|u| u.len() + 1).sum::<usize>(),
    );
    out.extend_from_slice(format!("MSRP {tid} REPORT\r\nTo-Path:").as_bytes());
    for uri in back {
        out.push(b' ');
        out.extend_from_slice(uri);
    }
    out.extend_from_slice(b"\r\nFrom-Path: ");
    out.extend_from_slice(this_hop);
    out.extend_from_slice(b"\r\nMessage-ID: ");
    out.extend_from_slice(message_id);
    out.extend_from_slice(
        format!("\r\nByte-Range: {range}\r\nStatus: 000 {code} {comment}\r\n-------{tid}$\r\n")
            .as_bytes(),
    );
    Some(out)
}

/// The Byte-Range a REPORT gives for a chunk: the chunk's own, with an unknown end (`*`)
/// made concrete from its body length; a SEND without one carries the whole message.
fn chunk_range(header: Option<&[u8]>, body: usize) -> String {
    let parsed = header
        .and_then(|h| std::str::from_utf8(h).ok())
        .and_then(|h| {
            let (range, total) = h.trim().split_once('/')?;
            let (start, _end) = range.split_once('-')?;
            Some((start.parse::<u64>().ok()?, total.to_string()))
        });
    match parsed {
        Some((start, total)) => {
            // a zero-length chunk is `1-0/0`
            let end = (start + body as u64).saturating_sub(1);
            format!("{start}-{end}/{total}")
        }
        None => format!("1-{body}/{body}"),
    }
}

/// The continuation flag of the end-line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Continuation {
    /// `$`: the last (or only) chunk of the message.
    Complete,
    /// `+`: more chunks follow.
    More,
    /// `#`: the sender aborted the message.
    Aborted,
}

impl Continuation {
    fn from_byte(b: u8) -> Option<Self> {
        match b {
            b'$' => Some(Continuation::Complete),
            b'+' => Some(Continuation::More),
            b'#' => Some(Continuation::Aborted),
            _ => None,
        }
    }

    /// The flag character.
    pub fn as_char(self) -> char {
        match self {
            Continuation::Complete => '$',
            Continuation::More => '+',
            Continuation::Aborted => '#',
        }
    }
}

/// The first line of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsrpStart {
    /// `MSRP <transact-id> <method>`
    Request {
        /// The method (`SEND`, `REPORT`, `AUTH`, or another upper-case token).
        method: Span,
    },
    /// `MSRP <transact-id> <code> [<comment>]`
    Response {
        /// Status code, 3 digits.
        code: u16,
        /// The comment (reason), possibly empty.
        comment: Span,
    },
}

/// One header line: name and value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsrpHeader {
    /// Header name as written.
    pub name: Span,
    /// Value, without the leading space and the line break.
    pub value: Span,
}

/// One complete MSRP frame (a request chunk or a response).
#[derive(Clone, Debug)]
pub struct MsrpFrame {
    buf: Bytes,
    start: MsrpStart,
    transact_id: Span,
    headers: Vec<MsrpHeader>,
    body: Option<Span>,
    end_line: Span,
    continuation: Continuation,
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'+' | b'%' | b'=')
}

/// `transact-id = ident`, `ident = ALPHANUM 3*31ident-char`.
fn transact_id(i: &[u8]) -> IResult<&[u8], &[u8]> {
    let (rest, first) = take_while_m_n(1, 1, |c: u8| c.is_ascii_alphanumeric())(i)?;
    let (rest2, more) = take_while_m_n(3, 31, is_ident_char)(rest)?;
    let len = first.len() + more.len();
    Ok((rest2, &i[..len]))
}

enum StartKind<'a> {
    Method(&'a [u8]),
    Status(&'a [u8], Option<&'a [u8]>),
}

fn start_line(i: &[u8]) -> IResult<&[u8], (&[u8], StartKind<'_>)> {
    let (i, _) = tag(&b"MSRP "[..])(i)?;
    let (i, tid) = transact_id(i)?;
    let (i, _) = char(' ')(i)?;
    if i.first().is_some_and(u8::is_ascii_digit) {
        let (i, code) = take_while_m_n(3, 3, |c: u8| c.is_ascii_digit())(i)?;
        let (i, comment) = all_consuming(opt(preceded(char(' '), rest))).parse(i)?;
        Ok((i, (tid, StartKind::Status(code, comment))))
    } else {
        let (i, method) = all_consuming(take_while1(|c: u8| c.is_ascii_uppercase())).parse(i)?;
        Ok((i, (tid, StartKind::Method(method))))
    }
}

fn header_line(i: &[u8]) -> IResult<&[u8], (&[u8], &[u8])> {
    let (i, name) = take_while1(|c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')(i)?;
    let (i, _) = char(':')(i)?;
    let (i, _) = take_while(|c| c == b' ' || c == b'\t')(i)?;
    let (i, value) = all_consuming(rest).parse(i)?;
    Ok((i, (name, value)))
}

/// Where the framer is in the frame at the front of the buffer.
#[derive(Clone, Debug, Default)]
struct Progress {
    /// The header section was read: start line, headers, and where the body starts (or
    /// the end-line, for a frame without body).
    head: Option<Head>,
    /// How far the end-line search has looked (offset into the buffer).
    scanned: usize,
}

#[derive(Clone, Debug)]
struct Head {
    start: MsrpStart,
    transact_id: Span,
    headers: Vec<MsrpHeader>,
    /// Offset of the body (after the empty line), or `None` when the headers ended with the
    /// end-line itself.
    body_start: Option<usize>,
    /// For a frame without body: where its end-line starts.
    end_at: Option<usize>,
}

/// Cuts MSRP frames out of a byte stream. Keeps the progress on the frame at the front of
/// the buffer, so one framer serves one connection.
#[derive(Clone, Debug)]
pub struct MsrpFramer {
    max_chunk: usize,
    progress: Progress,
}

fn line_end(buf: &[u8], from: usize) -> Option<usize> {
    memchr::memmem::find(&buf[from..], b"\r\n").map(|p| from + p)
}

impl MsrpFramer {
    /// A framer that refuses bodies larger than `max_chunk` bytes.
    pub fn new(max_chunk: usize) -> Self {
        MsrpFramer {
            max_chunk,
            progress: Progress::default(),
        }
    }

    fn read_head(&self, buf: &[u8]) -> Result<Option<Head>, MsrpError> {
        let Some(sl_end) = line_end(buf, 0) else {
            if buf.len() > MAX_START_LINE {
                return Err(MsrpError::StartLine("no line break within 1024 bytes"));
            }
            if !b"MSRP ".starts_with(&buf[..buf.len().min(5)]) {
                return Err(MsrpError::StartLine("does not start with \"MSRP \""));
            }
            return Ok(None);
        };
        if sl_end > MAX_START_LINE {
            return Err(MsrpError::StartLine("longer than 1024 bytes"));
        }
        let line = &buf[..sl_end];
        let (_, (tid, kind)) = start_line(line)
            .map_err(|_| MsrpError::StartLine("expected MSRP <transact-id> <method|code>"))?;
        let start = match kind {
            StartKind::Method(m) => MsrpStart::Request {
                method: Span::within(buf, m),
            },
            StartKind::Status(code, comment) => {
                if comment.is_some_and(|c| c.iter().any(|&b| b < 0x20 && b != b'\t')) {
                    return Err(MsrpError::StartLine("control character in the comment"));
                }
                MsrpStart::Response {
                    code: crate::values::parse_decimal(code).unwrap_or(0) as u16,
                    comment: comment.map_or(Span::new(sl_end, sl_end), |c| Span::within(buf, c)),
                }
            }
        };
        let transact_id = Span::within(buf, tid);
        let mut end_line = Vec::with_capacity(7 + tid.len());
        end_line.extend_from_slice(b"-------");
        end_line.extend_from_slice(tid);
        let mut headers = Vec::new();
        let mut pos = sl_end + 2;
        loop {
            let Some(le) = line_end(buf, pos) else {
                if buf.len() > MAX_HEADERS {
                    return Err(MsrpError::TooLarge { limit: MAX_HEADERS });
                }
                return Ok(None);
            };
            if le > MAX_HEADERS {
                return Err(MsrpError::TooLarge { limit: MAX_HEADERS });
            }
            let line = &buf[pos..le];
            if line.is_empty() {
                if matches!(start, MsrpStart::Response { .. }) {
                    return Err(MsrpError::Header("a response has no body"));
                }
                return Ok(Some(Head {
                    start,
                    transact_id,
                    headers,
                    body_start: Some(le + 2),
                    end_at: None,
                }));
            }
            if line.len() == end_line.len() + 1
                && line.starts_with(&end_line)
                && Continuation::from_byte(line[end_line.len()]).is_some()
            {
                return Ok(Some(Head {
                    start,
                    transact_id,
                    headers,
                    body_start: None,
                    end_at: Some(pos),
                }));
            }
            let (_, (name, value)) =
                header_line(line).map_err(|_| MsrpError::Header("expected Name: value"))?;
            if value.iter().any(|&b| b < 0x20 && b != b'\t') {
                return Err(MsrpError::Header("control character in a value"));
            }
            headers.push(MsrpHeader {
                name: Span::within(buf, name),
                value: Span::within(buf, value),
            });
            if headers.len() > 64 {
                return Err(MsrpError::Header("more than 64 header lines"));
            }
            pos = le + 2;
        }
    }

    /// Cut the next frame from the front of `buf`; `Ok(None)` while it is incomplete.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<MsrpFrame>, MsrpError> {
        if self.progress.head.is_none() {
            match self.read_head(buf)? {
                Some(h) => self.progress.head = Some(h),
                None => return Ok(None),
            }
        }
        let (tid, body_start, end_at) = {
            let head = self.progress.head.as_ref().expect("set above");
            (
                head.transact_id.of(buf).to_vec(),
                head.body_start,
                head.end_at,
            )
        };
        // the end-line: for a frame with a body, CRLF + dashes + id + flag + CRLF
        let (end_line_start, flag_at) = match (body_start, end_at) {
            (None, Some(at)) => (at, at + 7 + tid.len()),
            (Some(body_start), _) => {
                let mut needle = Vec::with_capacity(9 + tid.len());
                needle.extend_from_slice(b"\r\n-------");
                needle.extend_from_slice(&tid);
                let finder = memchr::memmem::Finder::new(&needle);
                let mut from = self.progress.scanned.max(body_start - 2);
                let found = loop {
                    let Some(p) = finder.find(&buf[from..]).map(|p| from + p) else {
                        // keep the tail that may hold the start of an end-line
                        self.progress.scanned =
                            buf.len().saturating_sub(needle.len() + 2).max(from);
                        if buf.len() - body_start > self.max_chunk + needle.len() + 3 {
                            return Err(MsrpError::TooLarge {
                                limit: self.max_chunk,
                            });
                        }
                        return Ok(None);
                    };
                    let flag = p + needle.len();
                    if buf.len() < flag + 3 {
                        self.progress.scanned = p;
                        return Ok(None);
                    }
                    if Continuation::from_byte(buf[flag]).is_some()
                        && &buf[flag + 1..flag + 3] == b"\r\n"
                    {
                        break p;
                    }
                    // the id followed by something else: part of the data
                    from = p + 1;
                };
                // (an empty body may share the blank line's CRLF with the end-line:
                // found is then before body_start)
                if found.saturating_sub(body_start) > self.max_chunk {
                    return Err(MsrpError::TooLarge {
                        limit: self.max_chunk,
                    });
                }
                (found + 2, found + needle.len())
            }
            (None, None) => unreachable!("a head has a body or an end-line"),
        };
        if buf.len() < flag_at + 3 {
            return Ok(None);
        }
        let continuation = Continuation::from_byte(buf[flag_at]).expect("checked");
        let head = self.progress.head.take().expect("set above");
        self.progress = Progress::default();
        let body = head
            .body_start
            .map(|s| Span::new(s, end_line_start.saturating_sub(2).max(s)));
        let total = flag_at + 3;
        Ok(Some(MsrpFrame {
            buf: buf.split_to(total).freeze(),
            start: head.start,
            transact_id: head.transact_id,
            headers: head.headers,
            body,
            end_line: Span::new(end_line_start, flag_at + 1),
            continuation,
        }))
    }
}

impl MsrpFrame {
    /// Parse one complete frame (a test helper and for frames built in memory).
    pub fn parse(data: &[u8]) -> Result<MsrpFrame, MsrpError> {
        let mut buf = BytesMut::from(data);
        let mut f = MsrpFramer::new(usize::MAX / 4);
        match f.decode(&mut buf)? {
            Some(frame) if buf.is_empty() => Ok(frame),
            Some(_) => Err(MsrpError::Header("bytes after the end-line")),
            None => Err(MsrpError::Header("no end-line")),
        }
    }

    /// The whole frame.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The shared buffer.
    pub fn bytes(&self) -> &Bytes {
        &self.buf
    }

    /// The start line kind.
    pub fn start(&self) -> MsrpStart {
        self.start
    }

    /// True for a request (SEND, REPORT, AUTH ...).
    pub fn is_request(&self) -> bool {
        matches!(self.start, MsrpStart::Request { .. })
    }

    /// The transaction id.
    pub fn transact_id(&self) -> &[u8] {
        self.transact_id.of(&self.buf)
    }

    /// The method of a request.
    pub fn method(&self) -> Option<&[u8]> {
        match self.start {
            MsrpStart::Request { method } => Some(method.of(&self.buf)),
            MsrpStart::Response { .. } => None,
        }
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            MsrpStart::Response { code, .. } => Some(code),
            MsrpStart::Request { .. } => None,
        }
    }

    /// The comment of a response.
    pub fn comment(&self) -> Option<&[u8]> {
        match self.start {
            MsrpStart::Response { comment, .. } => Some(comment.of(&self.buf)),
            MsrpStart::Request { .. } => None,
        }
    }

    /// Every header line in order.
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.headers
            .iter()
            .map(|h| (h.name.of(&self.buf), h.value.of(&self.buf)))
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The header section as written (start line excluded, up to the body or end-line).
    pub fn header_block(&self) -> &[u8] {
        match (self.headers.first(), self.headers.last()) {
            (Some(f), Some(l)) => &self.buf[f.name.start as usize..l.value.end as usize],
            _ => &[],
        }
    }

    /// The body (content) of a request chunk, if it has one.
    pub fn body(&self) -> Option<&[u8]> {
        self.body.map(|s| s.of(&self.buf))
    }

    /// The end-line without its line break (`-------<id><flag>`).
    pub fn end_line(&self) -> &[u8] {
        self.end_line.of(&self.buf)
    }

    /// The continuation flag.
    pub fn continuation(&self) -> Continuation {
        self.continuation
    }

    /// `To-Path` URIs, in order.
    pub fn to_path(&self) -> Vec<&[u8]> {
        self.path("To-Path")
    }

    /// `From-Path` URIs, in order.
    pub fn from_path(&self) -> Vec<&[u8]> {
        self.path("From-Path")
    }

    fn path(&self, name: &str) -> Vec<&[u8]> {
        self.header(name.as_bytes())
            .map(|v| v.split(|c| *c == b' ').filter(|u| !u.is_empty()).collect())
            .unwrap_or_default()
    }
}

/// The parts of an MSRP URI (RFC 4975 §9):
/// `msrp[s]://[userinfo@]host[:port][/session-id];transport[;params]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsrpUri<'a> {
    /// `msrp` or `msrps`.
    pub scheme: &'a str,
    /// Everything before `@`, when present.
    pub userinfo: Option<&'a str>,
    /// The user part of `userinfo` (before any `:`).
    pub user: Option<&'a str>,
    /// Host name, IPv4, or IPv6 in brackets.
    pub host: &'a str,
    /// Port, when written.
    pub port: Option<u16>,
    /// The session id (after the `/`), when present.
    pub session: Option<&'a str>,
    /// The transport (`tcp`, ...).
    pub transport: &'a str,
    /// The parameters after the transport, without the leading `;` (may be empty).
    pub params: &'a str,
}

impl<'a> MsrpUri<'a> {
    /// Parse `text` as an MSRP URI.
    pub fn parse(text: &'a str) -> Result<MsrpUri<'a>, &'static str> {
        let (scheme, rest) = text.split_once("://").ok_or("no scheme")?;
        if !(scheme.eq_ignore_ascii_case("msrp") || scheme.eq_ignore_ascii_case("msrps")) {
            return Err("scheme is not msrp or msrps");
        }
        let (before, after) = rest.split_once(';').ok_or("no transport")?;
        let (transport, params) = after.split_once(';').unwrap_or((after, ""));
        if transport.is_empty() || !transport.bytes().all(|c| c.is_ascii_alphanumeric()) {
            return Err("bad transport");
        }
        let (authority, session) = match before.split_once('/') {
            Some((a, s)) => (a, Some(s)),
            None => (before, None),
        };
        if session.is_some_and(|s| s.is_empty() || s.bytes().any(|c| c <= b' ' || c == b'/')) {
            return Err("bad session id");
        }
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (host, port) = if hostport.starts_with('[') {
            let end = hostport.find(']').ok_or("unclosed IPv6 reference")?;
            let host = &hostport[..=end];
            match &hostport[end + 1..] {
                "" => (host, None),
                p => (host, Some(p.strip_prefix(':').ok_or("bad port")?)),
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err("empty host");
        }
        let port = match port {
            Some(p) => Some(p.parse::<u16>().map_err(|_| "bad port")?),
            None => None,
        };
        Ok(MsrpUri {
            scheme,
            userinfo,
            user: userinfo.map(|u| u.split(':').next().unwrap_or(u)),
            host,
            port,
            session,
            transport,
            params,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SEND of RFC 4975 §7.1.
    const SEND: &[u8] = include_bytes!("../tests-data/msrp/rfc4975-send.msrp");

    const OK: &[u8] = b"MSRP a786hjs2 200 OK\r\n\
To-Path: msrp://alice.example.com:7777/iau39;tcp\r\n\
From-Path: msrp://relay.example.com:2855/sk3;tcp\r\n\
-------a786hjs2$\r\n";

    #[test]
    fn a_send_and_its_response() {
        let f = MsrpFrame::parse(SEND).unwrap();
        assert!(f.is_request());
        assert_eq!(f.method(), Some(&b"SEND"[..]));
        assert_eq!(f.transact_id(), b"a786hjs2");
        assert_eq!(f.body(), Some(&b"Hey Bob, are you there?"[..]));
        assert_eq!(f.continuation(), Continuation::Complete);
        assert_eq!(f.header(b"message-id"), Some(&b"87652"[..]));
        assert_eq!(
            f.to_path(),
            vec![
                &b"msrp://relay.example.com:2855/sk3;tcp"[..],
                b"msrp://bob.example.com:8888/9di4;tcp"
            ]
        );
        assert_eq!(f.end_line(), b"-------a786hjs2$");
        assert!(f.header_block().starts_with(b"To-Path: "));
        assert!(f.header_block().ends_with(b"text/plain"));
        let r = MsrpFrame::parse(OK).unwrap();
        assert_eq!(r.status(), Some(200));
        assert_eq!(r.comment(), Some(&b"OK"[..]));
        assert_eq!(r.body(), None);
        let no_comment =
            MsrpFrame::parse(b"MSRP abcd 481\r\nTo-Path: msrp://a/b;tcp\r\n-------abcd$\r\n")
                .unwrap();
        assert_eq!(no_comment.status(), Some(481));
        assert_eq!(no_comment.comment(), Some(&b""[..]));
    }

    #[test]
    fn an_empty_body_sharing_the_blank_line_with_the_end_line() {
        // found by fuzzing (fuzz/ msrp): the end-line right after the blank line made the
        // body's end come before its start (an overflow, a refused frame in release)
        let f = MsrpFrame::parse(
            b"MSRP tr01 SEND\r\nTo-Path: msrp://a:1/s;tcp\r\nFrom-Path: msrp://b:2/t;tcp\r\n\
Content-Type: text/plain\r\n\r\n-------tr01$\r\n",
        )
        .unwrap();
        assert_eq!(f.body(), Some(&b""[..]));
        assert_eq!(f.end_line(), b"-------tr01$");
        let mut framer = MsrpFramer::new(4);
        let mut buf = BytesMut::from(f.as_bytes());
        assert!(framer.decode(&mut buf).unwrap().is_some());
    }

    #[test]
    fn byte_by_byte_and_several_in_one_read() {
        let mut f = MsrpFramer::new(DEFAULT_MAX_CHUNK);
        let mut buf = BytesMut::new();
        for (i, b) in SEND.iter().enumerate() {
            buf.extend_from_slice(&[*b]);
            let r = f.decode(&mut buf).unwrap();
            if i + 1 < SEND.len() {
                assert!(r.is_none(), "complete at byte {i}");
            } else {
                assert_eq!(r.unwrap().as_bytes(), SEND);
            }
        }
        assert!(buf.is_empty());
        let mut buf = BytesMut::new();
        buf.extend_from_slice(SEND);
        buf.extend_from_slice(OK);
        buf.extend_from_slice(&SEND[..40]);
        assert_eq!(f.decode(&mut buf).unwrap().unwrap().as_bytes(), SEND);
        assert_eq!(f.decode(&mut buf).unwrap().unwrap().as_bytes(), OK);
        assert!(f.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(&SEND[40..]);
        assert_eq!(f.decode(&mut buf).unwrap().unwrap().as_bytes(), SEND);
    }

    #[test]
    fn binary_bodies_and_look_alike_end_lines() {
        let mut body: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        // almost end-lines inside the data: wrong flag, no CRLF after, another id
        body.extend_from_slice(b"\r\n-------abcd1234X\r\n-------abcd1234$ \r\n-------zzzz$\r\n");
        let mut frame = b"MSRP abcd1234 SEND\r\nTo-Path: msrp://b/s;tcp\r\nFrom-Path: msrp://a/t;tcp\r\nMessage-ID: 1\r\nByte-Range: 1-*/*\r\nContent-Type: application/octet-stream\r\n\r\n".to_vec();
        frame.extend_from_slice(&body);
        frame.extend_from_slice(b"\r\n-------abcd1234+\r\n");
        let mut f = MsrpFramer::new(DEFAULT_MAX_CHUNK);
        let mut buf = BytesMut::new();
        let mut got = None;
        for chunk in frame.chunks(4096) {
            buf.extend_from_slice(chunk);
            if let Some(fr) = f.decode(&mut buf).unwrap() {
                got = Some(fr);
            }
        }
        let got = got.expect("frame");
        assert_eq!(got.body().unwrap(), &body[..]);
        assert_eq!(got.continuation(), Continuation::More);
        assert!(buf.is_empty());
        let aborted = MsrpFrame::parse(
            b"MSRP abcd SEND\r\nTo-Path: msrp://b/s;tcp\r\nContent-Type: text/plain\r\n\r\n\r\n-------abcd#\r\n",
        )
        .unwrap();
        assert_eq!(aborted.continuation(), Continuation::Aborted);
        assert_eq!(aborted.body(), Some(&b""[..]));
    }

    #[test]
    fn msrp_uris() {
        let u = MsrpUri::parse("msrps://bob:pw@b.example.net:8145/foo;tcp;x=1").unwrap();
        assert_eq!(u.scheme, "msrps");
        assert_eq!(u.userinfo, Some("bob:pw"));
        assert_eq!(u.user, Some("bob"));
        assert_eq!(u.host, "b.example.net");
        assert_eq!(u.port, Some(8145));
        assert_eq!(u.session, Some("foo"));
        assert_eq!(u.transport, "tcp");
        assert_eq!(u.params, "x=1");
        let u = MsrpUri::parse("msrp://[2001:db8::1]:2855/s1;tcp").unwrap();
        assert_eq!(
            (u.host, u.port, u.params),
            ("[2001:db8::1]", Some(2855), "")
        );
        let u = MsrpUri::parse("msrp://relay.example.com;tcp").unwrap();
        assert_eq!((u.port, u.session, u.user), (None, None, None));
        for bad in [
            "sip:a@b",
            "msrp://a.example/s",
            "msrp://:1/s;tcp",
            "msrp://a:x/s;tcp",
            "msrp://a/;tcp",
            "msrp://a/s;",
        ] {
            assert!(MsrpUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn malformed_frames() {
        let bad = |data: &[u8]| {
            let mut f = MsrpFramer::new(1000);
            f.decode(&mut BytesMut::from(data))
        };
        assert!(matches!(
            bad(b"HTTP/1.1 200 OK\r\n"),
            Err(MsrpError::StartLine(_))
        ));
        assert!(matches!(bad(b"GET / "), Err(MsrpError::StartLine(_))));
        assert!(
            matches!(bad(b"MSRP ab SEND\r\n"), Err(MsrpError::StartLine(_))),
            "id too short"
        );
        assert!(matches!(
            bad(b"MSRP abcd send\r\n"),
            Err(MsrpError::StartLine(_))
        ));
        assert!(matches!(
            bad(b"MSRP abcd 20 OK\r\n"),
            Err(MsrpError::StartLine(_))
        ));
        assert!(matches!(
            bad(b"MSRP abcd SEND\r\nno colon\r\n"),
            Err(MsrpError::Header(_))
        ));
        assert!(matches!(
            bad(b"MSRP abcd 200 OK\r\nTo-Path: x\r\n\r\n"),
            Err(MsrpError::Header(_))
        ));
        assert!(matches!(bad(&[b'M'; 2000]), Err(MsrpError::StartLine(_))));
        // a body over the chunk limit
        let mut big = b"MSRP abcd SEND\r\nTo-Path: x\r\nContent-Type: t/p\r\n\r\n".to_vec();
        big.extend_from_slice(&[b'x'; 1200]);
        assert!(matches!(
            bad(&big),
            Err(MsrpError::TooLarge { limit: 1000 })
        ));
        // incomplete is not an error
        assert_eq!(bad(b"MSR").unwrap().map(|f| f.as_bytes().to_vec()), None);
        assert_eq!(
            bad(b"MSRP abcd SEND\r\nTo-Path: x\r\n")
                .unwrap()
                .map(|f| f.as_bytes().to_vec()),
            None
        );
    }

    #[test]
    fn error_responses_to_refused_requests() {
        let bad = b"MSRP abcd1234 SEND\r\nTo-Path: msrp://127.0.0.1:2855/r;tcp\r\n\
From-Path: msrp://127.0.0.1:4000/a;tcp\r\nBroken header line\r\n\r\nx\r\n-------abcd1234$\r\n";
        let mut f = MsrpFramer::new(1 << 20);
        let mut b = bytes::BytesMut::from(&bad[..]);
        assert!(f.decode(&mut b).is_err(), "the framer refuses it");
        let r = error_response(bad, 400, "Bad Request").expect("answerable");
        let r = MsrpFrame::parse(&r).expect("a valid response");
        assert_eq!(r.status(), Some(400));
        assert_eq!(r.transact_id(), b"abcd1234");
        assert_eq!(r.to_path(), vec![&b"msrp://127.0.0.1:4000/a;tcp"[..]]);
        assert_eq!(r.from_path(), vec![&b"msrp://127.0.0.1:2855/r;tcp"[..]]);
        // not answerable: a REPORT, a response, no paths, no transaction id
        for text in [
            &b"MSRP abcd1234 REPORT\r\nTo-Path: msrp://h:1/r;tcp\r\nFrom-Path: msrp://h:2/a;tcp\r\n"[..],
            b"MSRP abcd1234 200 OK\r\nTo-Path: msrp://h:1/r;tcp\r\nFrom-Path: msrp://h:2/a;tcp\r\n",
            b"MSRP abcd1234 SEND\r\nFrom-Path: msrp://h:2/a;tcp\r\n",
            b"MSRP ab SEND\r\nTo-Path: msrp://h:1/r;tcp\r\nFrom-Path: msrp://h:2/a;tcp\r\n",
            b"GET / HTTP/1.1\r\n",
        ] {
            assert!(error_response(text, 400, "Bad Request").is_none(), "{:?}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn answers_for_undelivered_requests() {
        // a SEND as this relay passed it on: itself first on From-Path, alice behind it
        let relayed = MsrpFrame::parse(
            b"MSRP t1234567 SEND\r\nTo-Path: msrp://10.0.0.9:9/b;tcp\r\n\
From-Path: msrp://relay:2855/r;tcp msrp://alice:7/a;tcp\r\nMessage-ID: m42\r\n\
Byte-Range: 11-*/30\r\nContent-Type: text/plain\r\n\r\n0123456789\r\n-------t1234567+\r\n",
        )
        .unwrap();
        let r = undelivered_response(&relayed, 481, "Next Hop Unreachable").unwrap();
        let r = MsrpFrame::parse(&r).expect("a valid response");
        assert_eq!((r.status(), r.transact_id()), (Some(481), &b"t1234567"[..]));
        assert_eq!(r.to_path(), vec![&b"msrp://alice:7/a;tcp"[..]]);
        assert_eq!(r.from_path(), vec![&b"msrp://relay:2855/r;tcp"[..]]);

        let rep = undelivered_report(&relayed, "rep0001", 481, "Next Hop Unreachable").unwrap();
        let rep = MsrpFrame::parse(&rep).expect("a valid REPORT");
        assert_eq!(rep.method(), Some(&b"REPORT"[..]));
        assert_eq!(rep.transact_id(), b"rep0001");
        assert_eq!(rep.to_path(), vec![&b"msrp://alice:7/a;tcp"[..]]);
        assert_eq!(rep.from_path(), vec![&b"msrp://relay:2855/r;tcp"[..]]);
        assert_eq!(rep.header(b"Message-ID"), Some(&b"m42"[..]));
        // the chunk's range, its unknown end made concrete
        assert_eq!(rep.header(b"Byte-Range"), Some(&b"11-20/30"[..]));
        assert_eq!(
            rep.header(b"Status"),
            Some(&b"000 481 Next Hop Unreachable"[..])
        );

        // a range-less SEND is the whole message; an empty one is 1-0/0
        assert_eq!(chunk_range(None, 5), "1-5/5");
        assert_eq!(chunk_range(Some(b"1-0/0"), 0), "1-0/0");

        // nothing to say: REPORTs, responses, no way back, no Message-ID (for a REPORT)
        let report = MsrpFrame::parse(
            b"MSRP tr000001 REPORT\r\nTo-Path: msrp://b:1/b;tcp\r\nFrom-Path: msrp://r:2/r;tcp msrp://a:3/a;tcp\r\n-------tr000001$\r\n",
        )
        .unwrap();
        assert!(undelivered_response(&report, 481, "x").is_none());
        assert!(undelivered_report(&report, "r1", 481, "x").is_none());
        let first_hop = MsrpFrame::parse(
            b"MSRP ts000002 SEND\r\nTo-Path: msrp://b:1/b;tcp\r\nFrom-Path: msrp://r:2/r;tcp\r\nMessage-ID: m\r\n-------ts000002$\r\n",
        )
        .unwrap();
        assert!(undelivered_response(&first_hop, 481, "x").is_none());
        assert!(undelivered_report(&first_hop, "r2", 481, "x").is_none());
        let no_id = MsrpFrame::parse(
            b"MSRP ts000003 SEND\r\nTo-Path: msrp://b:1/b;tcp\r\nFrom-Path: msrp://r:2/r;tcp msrp://a:3/a;tcp\r\n-------ts000003$\r\n",
        )
        .unwrap();
        assert!(undelivered_report(&no_id, "r3", 481, "x").is_none());
        assert!(undelivered_response(&no_id, 481, "x").is_some());
    }
}
