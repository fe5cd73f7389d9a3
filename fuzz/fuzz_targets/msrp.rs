//! The MSRP framer (a stream in pieces; the first byte picks the piece size), every
//! accessor of a frame, its URIs, the error and undelivered answers, and `$msrp(...)`.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sipwasm_proto::msrp::{self, MsrpFramer, MsrpUri};
use sipwasm_routing::MsrpEvent;
use sipwasm_routing::pv::PvSpec;
use std::sync::OnceLock;

const KEYS: &[&str] = &[
    "buf", "body", "bodylen", "buflen", "code", "hdrs", "method", "msgid", "reason", "transid",
    "sessid", "crthop", "prevhop", "nexthop", "firsthop", "lasthop", "prevhops", "nexthops",
    "srcaddr", "srcsock", "conid",
];

fn specs() -> &'static [PvSpec] {
    static SPECS: OnceLock<Vec<PvSpec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        KEYS.iter()
            .map(|k| format!("$msrp({k})"))
            .chain(["$(msrp(nexthop){msrpuri.host})".to_string()])
            .chain(["$(msrp(firsthop){msrpuri.session}{s.len})".to_string()])
            .map(|s| PvSpec::parse(&s).unwrap_or_else(|e| panic!("{s}: {e}")))
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&step, stream)) = data.split_first() else {
        return;
    };
    let step = usize::from(step).max(1);
    let mut framer = MsrpFramer::new(2048);
    let mut buf = BytesMut::new();
    let _ = msrp::error_response(stream, 400, "Bad Request");
    for piece in stream.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            let frame = match framer.decode(&mut buf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => return,
            };
            let _ = (
                frame.start(),
                frame.is_request(),
                frame.transact_id(),
                frame.method(),
            );
            let _ = (
                frame.status(),
                frame.comment(),
                frame.header_block(),
                frame.body(),
            );
            let _ = (
                frame.end_line(),
                frame.continuation(),
                frame.headers().count(),
            );
            let _ = frame.header(b"Message-ID");
            for uri in frame.to_path().into_iter().chain(frame.from_path()) {
                let _ = std::str::from_utf8(uri).map(MsrpUri::parse);
            }
            let _ = msrp::undelivered_response(&frame, 481, "No Session");
            let event = MsrpEvent::new(
                sipwasm_fuzz::shared_config(),
                frame,
                sipwasm_fuzz::source(),
                1_000_000,
            );
            for spec in specs() {
                let _ = event.pv_get(spec);
            }
        }
    }
});
