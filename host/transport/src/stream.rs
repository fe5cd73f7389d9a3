//! How the bytes of one connection are cut, sans-IO: what it speaks is decided by its first
//! line (SIP, MSRP, or anything else, taken a line at a time for `nosip`), then each
//! framer cuts units from the front of the buffer.

use bytes::{Bytes, BytesMut};
use sipwasm_proto::framing::{Frame, FrameError, LineFramer, StreamFramer};
use sipwasm_proto::msrp::{MsrpError, MsrpFrame, MsrpFramer};
use sipwasm_proto::sniff::{Sniff, sniff};

/// The framer of a connection, once its first bytes told what it speaks.
#[derive(Debug)]
pub(crate) enum Framing {
    /// Nothing but line breaks (keep-alives) yet: the SIP framer consumes those.
    Undecided(StreamFramer),
    /// SIP messages, framed by Content-Length.
    Sip(StreamFramer),
    /// Not SIP: one event per line (nosip).
    Lines(LineFramer),
    /// MSRP frames (RFC 4975).
    Msrp(MsrpFramer),
}

/// What a framer found at the front of the buffer.
#[derive(Debug)]
pub(crate) enum Cut {
    /// A complete unit for the workers: a SIP message, a line of a non-SIP connection
    /// (`nosip`), or an MSRP frame (`msrp`, its bytes in `data`).
    Unit {
        data: Bytes,
        nosip: bool,
        msrp: Option<MsrpFrame>,
    },
    /// A double-CRLF keep-alive (RFC 5626 §3.5.1): answer with one CRLF.
    Ping,
    /// Nothing complete yet: read more.
    More,
    /// The stream cannot be framed any more; the connection ends.
    Lost(Lost),
}

/// Why a stream's framing is lost.
#[derive(Debug)]
pub(crate) enum Lost {
    /// SIP: answered 400 when the front of the buffer is a request, then closed.
    Sip(FrameError),
    /// A non-SIP line too long: closed, nobody answers.
    Line(FrameError),
    /// MSRP: answered when it can be (RFC 4975 §7.2), then closed.
    Msrp(MsrpError),
}

impl Framing {
    /// A connection's framing before its first line: messages up to `max_message` bytes,
    /// MSRP chunks up to `max_chunk`.
    pub(crate) fn new(max_message: usize) -> Self {
        Framing::Undecided(StreamFramer::new(max_message))
    }

    /// Decide what the connection speaks once `buf` holds more than line breaks (a first
    /// line longer than `max_message` is left to the SIP framer, which refuses it). True
    /// when it was decided to be a non-SIP connection (worth a debug line).
    pub(crate) fn decide(&mut self, buf: &[u8], max_message: usize, max_chunk: usize) -> bool {
        let Framing::Undecided(sip) = self else {
            return false;
        };
        if buf.iter().all(|&c| c == b'\r' || c == b'\n') {
            return false;
        }
        *self = match sniff(buf, false) {
            Sniff::Sip => Framing::Sip(sip.clone()),
            Sniff::Msrp => Framing::Msrp(MsrpFramer::new(max_chunk)),
            Sniff::NotSip => Framing::Lines(LineFramer::new(max_message)),
            Sniff::NeedMore if buf.len() > max_message => Framing::Sip(sip.clone()),
            Sniff::NeedMore => return false,
        };
        matches!(self, Framing::Lines(_))
    }

    /// True for MSRP, whose chunks are large (read them in few calls).
    pub(crate) fn is_msrp(&self) -> bool {
        matches!(self, Framing::Msrp(_))
    }

    /// Cut the next unit from the front of `buf`.
    pub(crate) fn cut(&mut self, buf: &mut BytesMut) -> Cut {
        match self {
            // undecided: only keep-alives are consumed until the first line is in
            Framing::Undecided(_) if !buf.starts_with(b"\r") && !buf.starts_with(b"\n") => {
                Cut::More
            }
            Framing::Undecided(sip) | Framing::Sip(sip) => match sip.decode(buf) {
                Ok(Some(Frame::Ping)) => Cut::Ping,
                Ok(Some(Frame::Message(data))) => Cut::Unit {
                    data,
                    nosip: false,
                    msrp: None,
                },
                Ok(None) => Cut::More,
                Err(e) => Cut::Lost(Lost::Sip(e)),
            },
            Framing::Lines(lines) => match lines.decode(buf) {
                Ok(Some(data)) => Cut::Unit {
                    data,
                    nosip: true,
                    msrp: None,
                },
                Ok(None) => Cut::More,
                Err(e) => Cut::Lost(Lost::Line(e)),
            },
            Framing::Msrp(msrp) => match msrp.decode(buf) {
                Ok(Some(frame)) => Cut::Unit {
                    data: frame.bytes().clone(),
                    nosip: false,
                    msrp: Some(frame),
                },
                Ok(None) => Cut::More,
                Err(e) => Cut::Lost(Lost::Msrp(e)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decide and cut everything in `stream`, as the reader does after each read.
    fn cut_all(stream: &[u8]) -> (Framing, Vec<Cut>) {
        let mut f = Framing::new(4096);
        let mut buf = BytesMut::from(stream);
        let mut out = Vec::new();
        loop {
            f.decide(&buf, 4096, 4096);
            match f.cut(&mut buf) {
                Cut::More => break,
                lost @ Cut::Lost(_) => {
                    out.push(lost);
                    break;
                }
                other => out.push(other),
            }
        }
        (f, out)
    }

    const OPTIONS: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\
Content-Length: 0\r\n\r\n";

    #[test]
    fn keep_alives_before_the_first_line_then_sip() {
        let stream = [&b"\r\n\r\n"[..], OPTIONS, b"\r\n\r\n"].concat();
        let (f, cuts) = cut_all(&stream);
        assert!(matches!(f, Framing::Sip(_)));
        assert!(matches!(cuts[0], Cut::Ping));
        assert!(
            matches!(&cuts[1], Cut::Unit { data, nosip: false, msrp: None } if data == OPTIONS)
        );
        assert!(matches!(cuts[2], Cut::Ping));
        assert_eq!(cuts.len(), 3);
    }

    #[test]
    fn a_non_sip_connection_is_cut_in_lines() {
        let (f, cuts) = cut_all(b"HELLO there\r\nsecond\n");
        assert!(matches!(f, Framing::Lines(_)));
        let lines: Vec<&[u8]> = cuts
            .iter()
            .map(|c| match c {
                Cut::Unit {
                    data, nosip: true, ..
                } => &data[..],
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(lines, [&b"HELLO there"[..], b"second"]);
    }

    #[test]
    fn msrp_frames_come_with_their_parse() {
        let frame =
            b"MSRP a786hjs2 SEND\r\nTo-Path: msrp://b:1/s;tcp\r\nFrom-Path: msrp://a:2/t;tcp\r\n\
Content-Type: text/plain\r\n\r\nhi\r\n-------a786hjs2$\r\n";
        let (f, cuts) = cut_all(frame);
        assert!(f.is_msrp());
        assert!(
            matches!(&cuts[0], Cut::Unit { msrp: Some(m), .. } if m.body() == Some(&b"hi"[..]))
        );
    }

    #[test]
    fn lost_framing_ends_the_stream() {
        let bad = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: x\r\n\r\n";
        let (_, cuts) = cut_all(bad);
        assert!(matches!(cuts.last(), Some(Cut::Lost(Lost::Sip(_)))));
        // a non-SIP connection's line too long
        let long = [&b"HELLO\r\n"[..], &[b'x'; 5000]].concat();
        let (_, cuts) = cut_all(&long);
        assert!(matches!(cuts.last(), Some(Cut::Lost(Lost::Line(_)))));
        // a first line longer than any message: the SIP framer refuses it
        let (_, cuts) = cut_all(&[b'x'; 5000]);
        assert!(matches!(cuts.last(), Some(Cut::Lost(Lost::Sip(_)))));
        let (_, cuts) = cut_all(b"MSRP a786hjs2 SEND\r\nnot a header\r\n\r\n");
        assert!(matches!(cuts.last(), Some(Cut::Lost(Lost::Msrp(_)))));
    }
}
