//! Cutting SIP messages (and CRLF keep-alives) out of a TCP/TLS byte stream that arrives in
//! pieces; also the line framer. The first byte picks the piece size.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sipwasm_proto::framing::{Frame, LineFramer, StreamFramer};

fuzz_target!(|data: &[u8]| {
    let Some((&step, stream)) = data.split_first() else {
        return;
    };
    let step = usize::from(step).max(1);
    let mut framer = StreamFramer::new(4096);
    let lines = LineFramer::new(256);
    let (mut buf, mut line_buf) = (BytesMut::new(), BytesMut::new());
    let mut framed = 0;
    for piece in stream.chunks(step) {
        buf.extend_from_slice(piece);
        line_buf.extend_from_slice(piece);
        loop {
            match framer.decode(&mut buf) {
                Ok(Some(Frame::Message(m))) => {
                    framed += m.len();
                    if let Ok(msg) = sipwasm_proto::SipMessage::parse(m) {
                        sipwasm_fuzz::touch_message(&msg);
                    }
                }
                Ok(Some(Frame::Ping)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
        while let Ok(Some(_)) = lines.decode(&mut line_buf) {}
    }
    assert!(framed <= stream.len(), "framed more than was received");
});
