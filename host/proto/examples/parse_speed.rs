//! Time the parser on the messages of a proxied SIPp call: the INVITE as SIPp's uac sends
//! it and a 180 as the router's upstream sees it (two Vias, `received`, `rport`).
//!
//! ```sh
//! cargo run --profile ci -p sipwasm-proto --example parse_speed
//! # instructions instead of time (repeatable on a noisy machine):
//! N=1000 valgrind --tool=callgrind target/ci/examples/parse_speed
//! ```

use bytes::Bytes;
use sipwasm_proto::SipMessage;
use std::time::Instant;

const INVITE: &str = "INVITE sip:service@127.0.0.1:5080 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-29243-1-0\r\n\
From: sipp <sip:sipp@127.0.0.1:5061>;tag=29243SIPpTag001\r\n\
To: service <sip:service@127.0.0.1:5080>\r\n\
Call-ID: 1-29243@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: sip:sipp@127.0.0.1:5061\r\n\
Max-Forwards: 70\r\n\
Subject: Performance Test\r\n\
Content-Type: application/sdp\r\n\
Content-Length:   129\r\n\
\r\n\
v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 6000 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

const RINGING: &str = "SIP/2.0 180 Ringing\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKabcdef0123.0,SIP/2.0/UDP 127.0.0.1:5061;received=127.0.0.1;rport=5061;branch=z9hG4bK-29243-1-0\r\n\
From: sipp <sip:sipp@127.0.0.1:5061>;tag=29243SIPpTag001\r\n\
To: service <sip:service@127.0.0.1:5080>;tag=29300SIPpTag011\r\n\
Call-ID: 1-29243@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:127.0.0.1:5090;transport=UDP>\r\n\
Content-Length: 0\r\n\
\r\n";

fn time(name: &str, message: &'static str, n: u32) {
    let t = Instant::now();
    for _ in 0..n {
        let bytes = Bytes::from_static(std::hint::black_box(message.as_bytes()));
        std::hint::black_box(SipMessage::parse(bytes).expect("a valid message"));
    }
    let ns = t.elapsed().as_nanos() as f64 / f64::from(n);
    println!("{name}: {ns:.0} ns per parse");
}

fn main() {
    let n = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    for _ in 0..3 {
        time("INVITE", INVITE, n);
        time("180", RINGING, n);
    }
}
