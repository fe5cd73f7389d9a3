//! Data lumps (Kamailio developer guide, chapter 14): changes to a message are recorded as
//! insertions and deletions at positions of the received buffer, and applied in one pass
//! when the message is sent.

use sipwasm_proto::header::{HeaderName, same_header};
use sipwasm_proto::{SipMessage, Span};

/// One change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lump {
    /// Insert `text` before byte `at` of the received message.
    Insert {
        /// Position in the received buffer.
        at: usize,
        /// Bytes to insert.
        text: Vec<u8>,
    },
    /// Delete a range of the received message.
    Delete(Span),
}

/// Why a header change was refused; mirrors the WIT `hdr.error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HdrError {
    /// Not well-formed header lines.
    #[error("invalid header text: {0}")]
    InvalidHeader(String),
    /// The anchor header is missing.
    #[error("no header named {0}")]
    NotFound(String),
}

/// Most header text one call may add.
pub const MAX_HEADER_TEXT: usize = 8 * 1024;
/// Most header text all the changes to one message may add: a plugin cannot build a
/// message larger than a peer accepts (or the router's memory holds) one call at a time.
pub const MAX_ADDED_TEXT: usize = 32 * 1024;

/// Refuse `t` when the text added so far plus `t` would pass [`MAX_ADDED_TEXT`].
pub fn check_added(added: &mut usize, t: &[u8]) -> Result<(), HdrError> {
    if *added + t.len() > MAX_ADDED_TEXT {
        return Err(HdrError::InvalidHeader(format!(
            "the changes would add more than {MAX_ADDED_TEXT} bytes of headers"
        )));
    }
    *added += t.len();
    Ok(())
}

/// Validate header text given by a plugin: one or more `Name: value` lines, each ending in
/// CRLF (added to the last line when missing), folded continuation lines allowed. Anything
/// that could end the header section or smuggle a body is refused.
pub fn check_header_lines(text: &str) -> Result<Vec<u8>, HdrError> {
    if text.len() > MAX_HEADER_TEXT {
        return Err(HdrError::InvalidHeader(format!(
            "{} bytes of header text (at most {MAX_HEADER_TEXT} a call)",
            text.len()
        )));
    }
    let mut out = text.as_bytes().to_vec();
    if !out.ends_with(b"\r\n") {
        if out.ends_with(b"\n") || out.ends_with(b"\r") {
            return Err(HdrError::InvalidHeader("line must end with CRLF".into()));
        }
        out.extend_from_slice(b"\r\n");
    }
    let body = &out[..out.len() - 2];
    if body.is_empty() {
        return Err(HdrError::InvalidHeader("empty header".into()));
    }
    for (i, line) in body.split(|&c| c == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.contains(&b'\r') {
            return Err(HdrError::InvalidHeader("bare CR".into()));
        }
        if line.is_empty() {
            return Err(HdrError::InvalidHeader(
                "empty line inside header text".into(),
            ));
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if i == 0 {
                return Err(HdrError::InvalidHeader(
                    "starts with a continuation line".into(),
                ));
            }
            continue;
        }
        let colon = line.iter().position(|&c| c == b':').ok_or_else(|| {
            HdrError::InvalidHeader(format!("no colon in {:?}", String::from_utf8_lossy(line)))
        })?;
        let name = sipwasm_proto::grammar::trim(&line[..colon]);
        if !sipwasm_proto::chars::all(&sipwasm_proto::chars::TOKEN, name) {
            return Err(HdrError::InvalidHeader(format!(
                "invalid header name {:?}",
                String::from_utf8_lossy(name)
            )));
        }
        if line.iter().any(|&c| c < 0x20 && c != b'\t') {
            return Err(HdrError::InvalidHeader(
                "control character in header".into(),
            ));
        }
    }
    // every line feed must be part of CRLF
    for (i, &c) in out.iter().enumerate() {
        if c == b'\n' && (i == 0 || out[i - 1] != b'\r') {
            return Err(HdrError::InvalidHeader("bare LF".into()));
        }
    }
    Ok(out)
}

/// The lumps recorded for one message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lumps {
    ops: Vec<Lump>,
    /// Bytes of header text added so far.
    added: usize,
    /// A new body, when one was set.
    body: Option<BodyEdit>,
}

/// A new body for the message (textops, sdpops): it replaces the received one when the
/// message is rendered, with a Content-Length that matches it (always written, whatever
/// the transport) and, when given, a new Content-Type. A later body replaces an earlier
/// one whole, so no edit of the body is ever applied twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyEdit {
    body: Vec<u8>,
    /// The new Content-Type value: `None` keeps the message's, `Some("")` removes it.
    content_type: Option<String>,
    /// The received body.
    body_span: Span,
    /// The received Content-Length lines, and the Content-Type lines when replaced.
    replaced: Vec<Span>,
    /// Where the header section of the received message ends.
    headers_end: usize,
}

impl BodyEdit {
    /// `body` for `msg`, with `content_type` (see [`BodyEdit::content_type`]).
    pub fn new(msg: &SipMessage, body: Vec<u8>, content_type: Option<String>) -> BodyEdit {
        let replaced = msg
            .headers()
            .iter()
            .filter(|h| {
                h.name == HeaderName::ContentLength
                    || (content_type.is_some() && h.name == HeaderName::ContentType)
            })
            .map(|h| h.line)
            .collect();
        BodyEdit {
            body,
            content_type,
            body_span: msg.body_span(),
            replaced,
            headers_end: msg.headers_end(),
        }
    }

    /// The new body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The new Content-Type: `None` when the message's stays, `Some("")` when removed.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }
}

/// The headers of `msg` called `name` (long or compact form, any case), in order.
pub(crate) fn headers_called<'m>(
    msg: &'m SipMessage,
    name: &'m str,
) -> impl Iterator<Item = &'m sipwasm_proto::Header> + 'm {
    let known = HeaderName::from_bytes(name.as_bytes());
    msg.headers().iter().filter(move |h| {
        if known != HeaderName::Other {
            h.name == known
        } else {
            h.name == HeaderName::Other && same_header(msg.text(h.name_span), name.as_bytes())
        }
    })
}

fn first_named<'m>(msg: &'m SipMessage, name: &'m str) -> Option<&'m sipwasm_proto::Header> {
    headers_called(msg, name).next()
}

impl Lumps {
    /// True when nothing was changed.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.body.is_none()
    }

    /// The recorded changes in call order.
    pub fn ops(&self) -> &[Lump] {
        &self.ops
    }

    /// Record an insertion.
    pub fn insert_at(&mut self, at: usize, text: Vec<u8>) {
        self.ops.push(Lump::Insert { at, text });
    }

    /// Record any change.
    pub fn push(&mut self, lump: Lump) {
        self.ops.push(lump);
    }

    /// Replace the bytes of `span` (a header value, a URI) with `text`; a second
    /// replacement of the same span replaces the first one's text instead of adding to it.
    pub fn replace_span(&mut self, span: Span, text: Vec<u8>) {
        if let Some(i) = self.replacement_at(span) {
            self.ops[i] = Lump::Insert {
                at: span.start as usize,
                text,
            };
            return;
        }
        self.ops.push(Lump::Insert {
            at: span.start as usize,
            text,
        });
        self.ops.push(Lump::Delete(span));
    }

    /// The text [`Self::replace_span`] put in place of `span`, if any.
    pub fn replaced(&self, span: Span) -> Option<&[u8]> {
        self.replacement_at(span).map(|i| match &self.ops[i] {
            Lump::Insert { text, .. } => text.as_slice(),
            Lump::Delete(_) => unreachable!("an insertion"),
        })
    }

    /// Where the insertion of a replacement of `span` is: an insertion at its start
    /// followed by its deletion.
    fn replacement_at(&self, span: Span) -> Option<usize> {
        self.ops.windows(2).position(|w| {
            matches!(&w[0], Lump::Insert { at, .. } if *at == span.start as usize)
                && w[1] == Lump::Delete(span)
        })
    }

    /// Replace the body (and an earlier replacement).
    pub fn set_body(&mut self, edit: BodyEdit) {
        self.body = Some(edit);
    }

    /// The body set, if any.
    pub fn body(&self) -> Option<&BodyEdit> {
        self.body.as_ref()
    }

    /// `hdr.append`: after the last header.
    pub fn append(&mut self, msg: &SipMessage, text: &str) -> Result<(), HdrError> {
        let t = check_header_lines(text)?;
        check_added(&mut self.added, &t)?;
        self.insert_at(msg.headers_end(), t);
        Ok(())
    }

    /// `hdr.append-after`: after the first header called `name`.
    pub fn append_after(
        &mut self,
        msg: &SipMessage,
        text: &str,
        name: &str,
    ) -> Result<(), HdrError> {
        self.insert_beside(msg, text, name, |line| line.end)
    }

    /// `hdr.insert`: before the first header.
    pub fn insert(&mut self, msg: &SipMessage, text: &str) -> Result<(), HdrError> {
        let t = check_header_lines(text)?;
        check_added(&mut self.added, &t)?;
        let at = msg
            .headers()
            .first()
            .map_or(msg.headers_end(), |h| h.line.start as usize);
        self.insert_at(at, t);
        Ok(())
    }

    /// `hdr.insert-before`: before the first header called `name`.
    pub fn insert_before(
        &mut self,
        msg: &SipMessage,
        text: &str,
        name: &str,
    ) -> Result<(), HdrError> {
        self.insert_beside(msg, text, name, |line| line.start)
    }

    /// Insert `text` at the position `at` picks in the line of the first header `name`.
    fn insert_beside(
        &mut self,
        msg: &SipMessage,
        text: &str,
        name: &str,
        at: fn(sipwasm_proto::Span) -> u32,
    ) -> Result<(), HdrError> {
        let t = check_header_lines(text)?;
        check_added(&mut self.added, &t)?;
        let h = first_named(msg, name).ok_or_else(|| HdrError::NotFound(name.to_string()))?;
        self.insert_at(at(h.line) as usize, t);
        Ok(())
    }

    /// `hdr.remove`: every header called `name`; returns how many.
    pub fn remove(&mut self, msg: &SipMessage, name: &str) -> u32 {
        let mut n = 0;
        for h in headers_called(msg, name) {
            self.ops.push(Lump::Delete(h.line));
            n += 1;
        }
        n
    }

    /// Apply the lumps to `base` (the received message) and return the new bytes.
    ///
    /// Insertions at the same position keep their call order; a deleted range is dropped
    /// once even when removed twice; insertions inside a deleted range come out where it
    /// ends (so a text inserted into a header line that is later deleted lands at the start
    /// of the next line: delete before inserting into the same line).
    pub fn apply(&self, base: &[u8]) -> Vec<u8> {
        self.apply_with(base, &[])
    }

    /// [`Self::apply`] with `extra` changes recorded after these, borrowed rather than
    /// copied into the lumps: what the forwarding code adds to every copy it sends.
    pub fn apply_with(&self, base: &[u8], extra: &[Edit<'_>]) -> Vec<u8> {
        // a new body: the old one and its Content-Length (and Content-Type) go, the new
        // ones come after everything else at the end of the headers
        let mut body_headers = Vec::new();
        let mut body_edits: Vec<Edit<'_>> = Vec::new();
        if let Some(b) = &self.body {
            if let Some(ct) = b.content_type.as_deref().filter(|ct| !ct.is_empty()) {
                body_headers.extend_from_slice(b"Content-Type: ");
                body_headers.extend_from_slice(ct.as_bytes());
                body_headers.extend_from_slice(b"\r\n");
            }
            body_headers
                .extend_from_slice(format!("Content-Length: {}\r\n", b.body.len()).as_bytes());
            body_edits.extend(b.replaced.iter().copied().map(Edit::Delete));
            body_edits.push(Edit::Delete(b.body_span));
            body_edits.push(Edit::Insert(b.headers_end, &body_headers));
            body_edits.push(Edit::Insert(b.body_span.end as usize, &b.body));
        }
        let edits = self
            .ops
            .iter()
            .map(Lump::as_edit)
            .chain(extra.iter().copied())
            .chain(body_edits.iter().copied());
        let count = self.ops.len() + extra.len() + body_edits.len();
        let mut inserts: Vec<(usize, usize, &[u8])> = Vec::with_capacity(count);
        let mut deletes: Vec<Span> = Vec::new();
        let mut added = 0;
        for (seq, e) in edits.enumerate() {
            match e {
                Edit::Insert(at, text) => {
                    added += text.len();
                    inserts.push((at, seq, text));
                }
                Edit::Delete(s) => deletes.push(s),
            }
        }
        let mut out = Vec::with_capacity(base.len() + added);
        inserts.sort_by_key(|&(at, seq, _)| (at, seq));
        deletes.sort_by_key(|s| s.start);
        let mut pos = 0usize;
        let mut ins = inserts.iter().peekable();
        let mut del = deletes.iter().peekable();
        loop {
            let next_ins = ins.peek().map(|i| i.0);
            let next_del = del.peek().map(|d| d.start as usize);
            match (next_ins, next_del) {
                (Some(i), d) if d.is_none_or(|d| i <= d) => {
                    let i = i.max(pos);
                    out.extend_from_slice(&base[pos..i.min(base.len())]);
                    pos = pos.max(i.min(base.len()));
                    out.extend_from_slice(ins.next().expect("peeked").2);
                }
                (_, Some(d)) => {
                    let span = del.next().expect("peeked");
                    if d > pos {
                        out.extend_from_slice(&base[pos..d]);
                    }
                    pos = pos.max(span.end as usize);
                }
                (None, None) => break,
                (Some(_), None) => unreachable!("covered by the first arm"),
            }
        }
        if pos < base.len() {
            out.extend_from_slice(&base[pos..]);
        }
        out
    }
}

/// A change with borrowed text: a [`Lump`] as applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edit<'a> {
    /// Insert the text before this byte of the received message.
    Insert(usize, &'a [u8]),
    /// Delete a range of the received message.
    Delete(Span),
}

impl Lump {
    fn as_edit(&self) -> Edit<'_> {
        match self {
            Lump::Insert { at, text } => Edit::Insert(*at, text),
            Lump::Delete(s) => Edit::Delete(*s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    const MSG: &str = "OPTIONS sip:a@b SIP/2.0\r\n\
Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
From: <sip:x@y>;tag=1\r\n\
To: <sip:a@b>\r\n\
Call-ID: c1\r\n\
CSeq: 1 OPTIONS\r\n\
X-Strip: a\r\n\
x-strip: b\r\n\
Content-Length: 0\r\n\r\n";

    fn msg() -> SipMessage {
        SipMessage::parse(Bytes::from_static(MSG.as_bytes())).unwrap()
    }

    #[test]
    fn every_operation() {
        let m = msg();
        let mut l = Lumps::default();
        l.append(&m, "X-Last: 1").unwrap();
        l.append(&m, "X-Last2: 2\r\n").unwrap();
        l.insert(&m, "X-First: 0\r\n").unwrap();
        l.append_after(&m, "X-After-Callid: 3\r\n", "i").unwrap();
        l.insert_before(&m, "X-Before-CSeq: 4\r\n", "cseq").unwrap();
        assert_eq!(l.remove(&m, "X-STRIP"), 2);
        assert_eq!(l.remove(&m, "X-None"), 0);
        let out = String::from_utf8(l.apply(m.as_bytes())).unwrap();
        assert_eq!(
            out,
            "OPTIONS sip:a@b SIP/2.0\r\n\
X-First: 0\r\n\
Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
From: <sip:x@y>;tag=1\r\n\
To: <sip:a@b>\r\n\
Call-ID: c1\r\n\
X-After-Callid: 3\r\n\
X-Before-CSeq: 4\r\n\
CSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\
X-Last: 1\r\n\
X-Last2: 2\r\n\r\n"
        );
        // the result is still a valid message
        let again = SipMessage::parse(Bytes::from(out)).unwrap();
        assert_eq!(again.header(b"X-Strip"), None);
        // the original is untouched: lumps are applied on send
        assert!(m.header(b"X-Strip").is_some());
    }

    #[test]
    fn remove_twice_and_insert_at_removed_header() {
        let m = msg();
        let mut l = Lumps::default();
        l.insert_before(&m, "X-New: 1\r\n", "X-Strip").unwrap();
        l.remove(&m, "X-Strip");
        l.remove(&m, "X-Strip");
        let out = String::from_utf8(l.apply(m.as_bytes())).unwrap();
        assert!(
            out.contains("CSeq: 1 OPTIONS\r\nX-New: 1\r\nContent-Length: 0\r\n"),
            "{out}"
        );
    }

    #[test]
    fn header_text_validation() {
        assert_eq!(check_header_lines("X-A: 1").unwrap(), b"X-A: 1\r\n");
        assert!(check_header_lines("X-A: 1\r\nX-B: 2\r\n").is_ok());
        assert!(check_header_lines("X-A: 1\r\n more\r\n").is_ok());
        assert!(check_header_lines("").is_err());
        assert!(check_header_lines("no colon").is_err());
        assert!(check_header_lines("X-A: 1\r\n\r\nbody").is_err());
        assert!(check_header_lines("X-A: 1\nX-B: 2").is_err());
        assert!(check_header_lines("Bad Name: 1").is_err());
        assert!(check_header_lines(" X: 1").is_err());
        assert!(check_header_lines("X: a\rb").is_err());
        let long = format!("X-Long: {}", "a".repeat(MAX_HEADER_TEXT));
        assert!(
            check_header_lines(&long).is_err(),
            "one call adds at most 8 KiB"
        );
        let mut added = 0;
        let chunk = vec![b'a'; 8000];
        for _ in 0..4 {
            check_added(&mut added, &chunk).unwrap();
        }
        assert!(check_added(&mut added, &chunk).is_err(), "32 KiB in all");
        let m = msg();
        let mut l = Lumps::default();
        assert_eq!(
            l.append_after(&m, "X: 1", "Nope"),
            Err(HdrError::NotFound("Nope".into()))
        );
    }
}
