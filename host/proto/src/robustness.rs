//! Robustness: thousands of mutations of the torture corpus through the parser, the reply
//! builder and the stream framer. Nothing may panic; whatever parses must print a reply that
//! parses again (parse → print → parse).

use crate::framing::{Frame, StreamFramer};
use crate::message::SipMessage;
use crate::reply::{ReplyBuilder, ReplyInfo};
use bytes::{Bytes, BytesMut};

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b" ",
    b"\t",
    b";",
    b",",
    b":",
    b"<",
    b">",
    b"\"",
    b"\\",
    b"%",
    b"@",
    b"[",
    b"]",
    b"\r\n ",
    b"\0",
    b"\xff",
    b"SIP/2.0",
    b"Via:",
    b"l: 99999",
    b";branch=",
    b"z9hG4bK",
];

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut m = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        if m.is_empty() {
            m.push(b'x');
        }
        let at = rng.below(m.len());
        match rng.below(6) {
            0 => m[at] = rng.next() as u8,
            1 => {
                m.remove(at);
            }
            2 => {
                let piece = INTERESTING[rng.below(INTERESTING.len())];
                m.splice(at..at, piece.iter().copied());
            }
            3 => m.truncate(at),
            4 => {
                // duplicate a line
                let start = m[..at]
                    .iter()
                    .rposition(|&c| c == b'\n')
                    .map_or(0, |p| p + 1);
                let end = m[at..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(m.len(), |p| at + p + 1);
                let line = m[start..end].to_vec();
                m.splice(start..start, line);
            }
            _ => {
                let len = rng.below(8);
                let from = rng.below(m.len());
                let chunk: Vec<u8> = m[from..(from + len).min(m.len())].to_vec();
                m.splice(at..at, chunk);
            }
        }
    }
    m
}

fn corpus() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests-data/conformance");
    let mut out = Vec::new();
    for sub in ["rfc4475", "rfc5118"] {
        for e in std::fs::read_dir(format!("{dir}/{sub}")).unwrap() {
            out.push(std::fs::read(e.unwrap().path()).unwrap());
        }
    }
    out
}

fn check_one(raw: &[u8]) {
    let src = "192.0.2.1:5060".parse().unwrap();
    match SipMessage::parse_slice(raw) {
        Ok(msg) => {
            // every accessor works on whatever parsed
            let b = msg.as_bytes();
            let _ = (
                msg.method(),
                msg.call_id(),
                msg.cseq(),
                msg.body(),
                msg.headers_end(),
            );
            for v in msg.vias() {
                let _ = (v.branch(b), v.host(b), v.transport(b));
            }
            if msg.is_request() {
                let reply = ReplyBuilder::new(404, "Not Found", Some("t"), src)
                    .build(&ReplyInfo::from_request(&msg));
                let again = SipMessage::parse(Bytes::from(reply));
                let again = again.unwrap_or_else(|e| {
                    panic!(
                        "reply to {:?} does not parse: {e}",
                        String::from_utf8_lossy(raw)
                    )
                });
                assert_eq!(again.call_id(), msg.call_id());
                assert_eq!(again.cseq().number, msg.cseq().number);
                assert_eq!(again.vias().len(), msg.vias().len());
            }
        }
        Err(_) => {
            if let Some(info) = ReplyInfo::salvage(raw) {
                let _ = ReplyBuilder::new(400, "Bad Request", Some("t"), src).build(&info);
            }
        }
    }
}

#[test]
fn mutated_corpus_never_panics_and_replies_round_trip() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let corpus = corpus();
    for base in &corpus {
        check_one(base);
        for _ in 0..1500 {
            check_one(&mutate(&mut rng, base));
        }
    }
}

#[test]
fn framer_survives_random_chunking_and_garbage() {
    let mut rng = Rng(0x0f00_dbab_e000_0002);
    for base in corpus() {
        for _ in 0..50 {
            // one framer a connection
            let mut framer = StreamFramer::new(8192);
            let stream = if rng.below(3) == 0 {
                mutate(&mut rng, &base)
            } else {
                base.clone()
            };
            let mut buf = BytesMut::new();
            let mut pos = 0;
            'feed: while pos < stream.len() {
                let n = 1 + rng.below(200);
                buf.extend_from_slice(&stream[pos..(pos + n).min(stream.len())]);
                pos += n;
                loop {
                    match framer.decode(&mut buf) {
                        Ok(Some(Frame::Message(m))) => {
                            assert!(m.len() <= 8192);
                            let _ = SipMessage::parse(m);
                        }
                        Ok(Some(Frame::Ping)) => {}
                        Ok(None) => break,
                        Err(_) => break 'feed,
                    }
                }
            }
        }
    }
}
