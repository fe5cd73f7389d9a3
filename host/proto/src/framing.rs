//! Cutting SIP messages out of a byte stream (TCP, TLS) by Content-Length
//! (RFC 3261 §18.3).
//!
//! "Need more bytes" and "bad bytes" are different outcomes: [`StreamFramer::decode`]
//! returns `Ok(None)` while a message is incomplete and leaves the buffer untouched, and an
//! error only when the stream cannot be a valid SIP stream any more (the connection is then
//! answered with 400 where possible and closed, since framing is lost).

use crate::values;
use bytes::{Bytes, BytesMut};

/// A unit cut from the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// One complete message (start line, headers, body), not yet parsed.
    Message(Bytes),
    /// A double-CRLF keep-alive ping (RFC 5626 §3.5.1); answer with a single CRLF.
    Ping,
}

/// Why a stream cannot be framed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The message (or its header section so far) is larger than allowed.
    #[error("message larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// Content-Length is malformed or repeated.
    #[error("cannot frame message: {0}")]
    BadContentLength(&'static str),
}

/// Frames SIP messages on a stream. One framer serves one connection: it remembers how
/// far it looked into the message at the front of the buffer, so a message that arrives a
/// byte at a time costs its length once, not its length squared (found by fuzzing).
#[derive(Clone, Debug)]
pub struct StreamFramer {
    max_message: usize,
    /// Bytes at the front already searched for the end of the header section.
    scanned: usize,
    /// The message at the front, once its header section is complete: its total length.
    total: Option<usize>,
}

impl StreamFramer {
    /// A framer that refuses messages longer than `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        StreamFramer {
            max_message,
            scanned: 0,
            total: None,
        }
    }

    /// Cut the next frame from the front of `buf`, which holds what the connection sent
    /// after the frames cut before.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if let Some(total) = self.total {
            return Ok(self.cut(buf, total));
        }
        let result = self.decode_head(buf);
        if !matches!(result, Ok(None)) {
            self.scanned = 0;
        }
        result
    }

    /// The message at the front, once `total` bytes are there.
    fn cut(&mut self, buf: &mut BytesMut, total: usize) -> Option<Frame> {
        if buf.len() < total {
            self.total = Some(total);
            return None;
        }
        self.total = None;
        self.scanned = 0;
        Some(Frame::Message(buf.split_to(total).freeze()))
    }

    fn decode_head(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        // Keep-alives and stray line breaks between messages (RFC 3261 §7.5).
        loop {
            if buf.starts_with(b"\r\n\r\n") {
                let _ = buf.split_to(4);
                return Ok(Some(Frame::Ping));
            }
            match buf.first() {
                Some(b'\r') if buf.len() < 4 && b"\r\n\r\n".starts_with(buf) => return Ok(None),
                Some(b'\r') if buf.starts_with(b"\r\n") => {
                    let _ = buf.split_to(2);
                }
                Some(b'\n') => {
                    let _ = buf.split_to(1);
                }
                _ => break,
            }
        }
        if buf.is_empty() {
            return Ok(None);
        }
        // the end of the header section may straddle what was searched and what is new
        let from = self.scanned.min(buf.len()).saturating_sub(3);
        let Some((headers_len, body_start)) =
            find_header_end(&buf[from..]).map(|(h, b)| (from + h, from + b))
        else {
            if buf.len() > self.max_message {
                return Err(FrameError::TooLarge {
                    limit: self.max_message,
                });
            }
            self.scanned = buf.len();
            return Ok(None);
        };
        let cl = content_length(&buf[..headers_len])?;
        let total = body_start + cl;
        if total > self.max_message {
            return Err(FrameError::TooLarge {
                limit: self.max_message,
            });
        }
        Ok(self.cut(buf, total))
    }
}

/// Frames the stream of a connection that is not SIP (nosip): one frame per line. LF ends
/// a line and a CR before it is dropped; empty lines (keep-alives) are skipped. A line
/// longer than the limit is an error, and the connection is closed.
#[derive(Clone, Copy, Debug)]
pub struct LineFramer {
    max_line: usize,
}

impl LineFramer {
    /// A framer that refuses lines longer than `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        LineFramer { max_line }
    }

    /// Cut the next non-empty line (without its line break) from the front of `buf`.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        loop {
            let Some(nl) = memchr::memchr(b'\n', buf) else {
                if buf.len() > self.max_line {
                    return Err(FrameError::TooLarge {
                        limit: self.max_line,
                    });
                }
                return Ok(None);
            };
            let mut line = buf.split_to(nl + 1).freeze();
            line.truncate(nl);
            if line.ends_with(b"\r") {
                line.truncate(nl - 1);
            }
            if line.len() > self.max_line {
                return Err(FrameError::TooLarge {
                    limit: self.max_line,
                });
            }
            if !line.is_empty() {
                return Ok(Some(line));
            }
        }
    }
}

/// End of the header section: (offset of the empty line, offset of the body).
fn find_header_end(buf: &[u8]) -> Option<(usize, usize)> {
    let crlf = memchr::memmem::find(buf, b"\r\n\r\n").map(|p| (p + 2, p + 4));
    let lf = memchr::memmem::find(buf, b"\n\n").map(|p| (p + 1, p + 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// The Content-Length of a header section; 0 when absent.
fn content_length(headers: &[u8]) -> Result<usize, FrameError> {
    let mut found: Option<usize> = None;
    // the start line is no header, and neither is a folded line: it continues the header
    // before it (found by fuzzing: ` Content-Length: 9` folded into a Subject framed a
    // body the parser did not see, a request smuggled on the stream)
    let mut lines = headers.split(|&c| c == b'\n').skip(1).peekable();
    while let Some(line) = lines.next() {
        if line.first().is_some_and(|&c| c == b' ' || c == b'\t') {
            continue;
        }
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            continue;
        };
        let name = crate::grammar::trim(&line[..colon]);
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let mut value = line[colon + 1..].to_vec();
        while let Some(cont) = lines
            .peek()
            .filter(|l| l.first().is_some_and(|c| *c == b' ' || *c == b'\t'))
        {
            value.extend_from_slice(cont);
            lines.next();
        }
        let v = values::parse_content_length(crate::grammar::trim(&value))
            .map_err(FrameError::BadContentLength)?;
        if found.is_some() {
            return Err(FrameError::BadContentLength("more than one Content-Length"));
        }
        found = Some(v as usize);
    }
    Ok(found.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"MESSAGE sip:a@b SIP/2.0\r\nl: 5\r\nVia: SIP/2.0/TCP h\r\n\r\nhello";

    #[test]
    fn a_folded_line_is_no_content_length() {
        let mut f = StreamFramer::new(65535);
        let mut buf = BytesMut::from(
            &b"MESSAGE sip:a@b SIP/2.0\r\nSubject: x\r\n Content-Length: 5\r\n\
Content-Length: 0\r\n\r\nhello"[..],
        );
        let Ok(Some(Frame::Message(m))) = f.decode(&mut buf) else {
            panic!("framed");
        };
        assert!(m.ends_with(b"\r\n\r\n"), "no body: {m:?}");
        assert_eq!(&buf[..], b"hello");
        // the parser agrees: Subject is `x Content-Length: 5`, the length 0
        let msg = crate::SipMessage::parse(Bytes::from(
            [
                &m[..m.len() - 2],
                b"To: <sip:a@b>\r\nFrom: <sip:c@d>;tag=1\r\nCall-ID: 1\r\n\
CSeq: 1 MESSAGE\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\r\n",
            ]
            .concat(),
        ))
        .unwrap();
        assert_eq!(msg.content_length(), Some(0));
        assert_eq!(
            msg.header(b"Subject"),
            Some(&b"x\r\n Content-Length: 5"[..])
        );
    }

    #[test]
    fn incomplete_then_complete() {
        let mut f = StreamFramer::new(65535);
        let mut buf = BytesMut::new();
        for (i, &b) in MSG.iter().enumerate() {
            buf.extend_from_slice(&[b]);
            let r = f.decode(&mut buf).unwrap();
            if i + 1 < MSG.len() {
                assert_eq!(r, None, "at byte {i}");
            } else {
                assert_eq!(r, Some(Frame::Message(Bytes::from_static(MSG))));
            }
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn several_in_one_read_with_keepalives() {
        let mut f = StreamFramer::new(65535);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(b"\r\n\r\n");
        buf.extend_from_slice(MSG);
        buf.extend_from_slice(b"\r\n");
        buf.extend_from_slice(MSG);
        assert_eq!(f.decode(&mut buf).unwrap(), Some(Frame::Ping));
        assert!(matches!(
            f.decode(&mut buf).unwrap(),
            Some(Frame::Message(_))
        ));
        assert!(matches!(
            f.decode(&mut buf).unwrap(),
            Some(Frame::Message(_))
        ));
        assert_eq!(f.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"\r\n\r");
        assert_eq!(f.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"\n");
        assert_eq!(f.decode(&mut buf).unwrap(), Some(Frame::Ping));
    }

    #[test]
    fn invalid_is_not_incomplete() {
        let mut f = StreamFramer::new(100);
        let mut buf = BytesMut::from(&b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n"[..]);
        assert!(matches!(
            f.decode(&mut buf),
            Err(FrameError::BadContentLength(_))
        ));
        let mut buf =
            BytesMut::from(&b"OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\nContent-Length: 1\r\n\r\nx"[..]);
        assert!(matches!(
            f.decode(&mut buf),
            Err(FrameError::BadContentLength(_))
        ));
        let mut buf = BytesMut::from(&[b'A'; 101][..]);
        assert_eq!(f.decode(&mut buf), Err(FrameError::TooLarge { limit: 100 }));
        let mut buf = BytesMut::from(&b"OPTIONS sip:a@b SIP/2.0\r\nl: 1000\r\n\r\n"[..]);
        assert_eq!(f.decode(&mut buf), Err(FrameError::TooLarge { limit: 100 }));
    }

    #[test]
    fn lines_of_a_non_sip_stream() {
        let f = LineFramer::new(10);
        let mut buf = BytesMut::from(&b"\r\n\r\nabc\r\n\ndef\nghi"[..]);
        assert_eq!(
            f.decode(&mut buf).unwrap(),
            Some(Bytes::from_static(b"abc"))
        );
        assert_eq!(
            f.decode(&mut buf).unwrap(),
            Some(Bytes::from_static(b"def"))
        );
        assert_eq!(f.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"\r\n");
        assert_eq!(
            f.decode(&mut buf).unwrap(),
            Some(Bytes::from_static(b"ghi"))
        );
        let mut buf = BytesMut::from(&b"0123456789A"[..]);
        assert_eq!(f.decode(&mut buf), Err(FrameError::TooLarge { limit: 10 }));
        let mut buf = BytesMut::from(&b"0123456789AB\n"[..]);
        assert_eq!(f.decode(&mut buf), Err(FrameError::TooLarge { limit: 10 }));
    }

    #[test]
    fn folded_content_length() {
        let mut f = StreamFramer::new(1000);
        let mut buf =
            BytesMut::from(&b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length:\r\n 2\r\n\r\nokNEXT"[..]);
        let Some(Frame::Message(m)) = f.decode(&mut buf).unwrap() else {
            panic!("no message")
        };
        assert!(m.ends_with(b"\r\n\r\nok"));
        assert_eq!(&buf[..], b"NEXT");
    }
}
