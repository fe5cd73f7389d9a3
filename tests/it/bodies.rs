//! Bodies and SDP (`textops`, `sdpops`) with real offers: raw requests for every
//! operation, SIPp calls whose offer the probe plugin edits on the way to a SIPp callee
//! that checks it, and a PJSIP phone's own offer edited on its way to a callee.

use crate::harness::*;
use crate::pjsip::{Phone, PhoneOpts};
use sipwasm_proto::SipMessage;
use sipwasm_routing::sdpops::Sdp;
use std::time::Duration;

const OFFER: &str = "v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 10.1.2.3\r\n\
s=-\r\n\
c=IN IP4 10.1.2.3\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 8 18 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:18 G729/8000\r\n\
a=fmtp:18 annexb=no\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
m=video 51372 RTP/AVP 96\r\n\
a=rtpmap:96 H264/90000\r\n";

/// A MESSAGE to the probe's `body` route with `body` of `content_type` and `extra`
/// headers; its reply.
fn body_probe(client: &UdpClient, content_type: &str, body: &str, extra: &str) -> SipMessage {
    let target = client.target;
    let local = client.local();
    let req = request("MESSAGE", "body", target, local, "UDP", extra).replace(
        "Content-Length: 0\r\n\r\n",
        &format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    client.send(req.as_bytes());
    client
        .final_reply(Duration::from_secs(3))
        .expect("the probe answers")
}

/// A reply's Content-Length matches the bytes after its header section (the parser cuts
/// a body to the Content-Length, so the body alone would always match).
fn length_is_right(m: &SipMessage) {
    let raw = m.as_bytes();
    let head = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header section")
        + 4;
    assert_eq!(m.content_length(), Some((raw.len() - head) as u32));
}

#[test]
fn sdp_codecs_media_and_addresses_are_edited_and_the_length_follows() {
    let r = TestRouter::start("probe");
    let client = UdpClient::new(r.udp);

    let reply = body_probe(&client, "application/sdp", OFFER, "");
    assert_eq!(hdr(&reply, "X-Has-Sdp").as_deref(), Some("true"));
    assert_eq!(
        hdr(&reply, "X-Codecs").as_deref(),
        Some(
            "audio/0/PCMU/8000 audio/8/PCMA/8000 audio/18/G729/8000 \
             audio/101/telephone-event/8000 video/96/H264/90000"
        )
    );
    assert_eq!(reply.body(), OFFER.as_bytes());
    length_is_right(&reply);

    let reply = body_probe(
        &client,
        "application/sdp",
        OFFER,
        "X-Sdp-Keep: PCMA, telephone-event\r\nX-Sdp-Drop-Media: video\r\n\
         X-Sdp-Conn: 203.0.113.9\r\n",
    );
    assert_eq!(
        hdr(&reply, "X-Codecs").as_deref(),
        Some("audio/8/PCMA/8000 audio/101/telephone-event/8000")
    );
    let body = String::from_utf8(reply.body().to_vec()).unwrap();
    assert!(body.contains("m=audio 49170 RTP/AVP 8 101\r\n"), "{body}");
    assert!(body.contains("c=IN IP4 203.0.113.9\r\n"), "{body}");
    assert!(body.contains("o=alice 2890844526 2890844526 IN IP4 203.0.113.9\r\n"));
    assert!(!body.contains("G729") && !body.contains("annexb") && !body.contains("m=video"));
    length_is_right(&reply);
    assert!(reply.body().len() < OFFER.len());

    // a substitution after the SDP edits sees their result
    let reply = body_probe(
        &client,
        "application/sdp",
        OFFER,
        "X-Sdp-Remove: PCMU\r\nX-Subst-Body: /a=rtpmap:8 PCMA/a=rtpmap:8 pcma/\r\n",
    );
    let body = String::from_utf8(reply.body().to_vec()).unwrap();
    assert!(body.contains("a=rtpmap:8 pcma/8000\r\n"), "{body}");
    assert!(!body.contains("PCMU"));
    length_is_right(&reply);

    // a broken SDP or a bad argument fails the event (the probe's fallback 500)
    let broken = body_probe(
        &client,
        "application/sdp",
        "v=0\r\nnonsense\r\n",
        "X-Sdp-Remove: PCMU\r\n",
    );
    assert_eq!(broken.status(), Some(500));
    let bad = body_probe(&client, "application/sdp", OFFER, "X-Subst-Body: /(/x/\r\n");
    assert_eq!(bad.status(), Some(500));
    // no SDP at all
    let text = body_probe(&client, "text/plain", "hello", "");
    assert_eq!(hdr(&text, "X-Has-Sdp").as_deref(), Some("false"));
    assert_eq!(hdr(&text, "X-Codecs").as_deref(), Some("Error::NoSdp"));
}

#[test]
fn multipart_bodies_give_their_parts_and_keep_one() {
    let r = TestRouter::start("probe");
    let client = UdpClient::new(r.udp);
    let multipart = format!(
        "--b1\r\nContent-Type: application/sdp\r\n\r\n{OFFER}\r\n--b1\r\n\
         Content-Type: application/isup; version=itu-t92+\r\n\r\nISUP-BYTES\r\n--b1--\r\n"
    );
    let ct = "multipart/mixed;boundary=b1";
    let reply = body_probe(
        &client,
        ct,
        &multipart,
        "X-Part-Type: application/isup\r\nX-Sdp-Remove: G729\r\n",
    );
    assert_eq!(hdr(&reply, "X-Part").as_deref(), Some("ISUP-BYTES"));
    // the SDP part was edited in place, the other part kept
    let body = String::from_utf8(reply.body().to_vec()).unwrap();
    assert!(body.contains("m=audio 49170 RTP/AVP 0 8 101\r\n"), "{body}");
    assert!(body.ends_with("ISUP-BYTES\r\n--b1--\r\n"), "{body}");
    length_is_right(&reply);
    // filter_body keeps the SDP alone
    let reply = body_probe(
        &client,
        ct,
        &multipart,
        "X-Filter-Body: application/sdp\r\nX-Part-Type: application/isup\r\n",
    );
    assert_eq!(reply.body(), OFFER.as_bytes());
    assert_eq!(hdr(&reply, "X-Part").as_deref(), Some("none"));
}

/// `calls` SIPp calls through the probe's `sdp` route (codecs `keep`, addresses to
/// 203.0.113.9), to a SIPp callee on `port` whose offer must have the audio codecs
/// `audio` (payload types) and lack `absent`; the callee's outcome.
fn edited_calls(
    r: &TestRouter,
    port: u16,
    keep: &str,
    audio: &str,
    absent: &str,
    calls: u32,
) -> SippOutcome {
    let checks = vec![
        ("HAS", format!("m=audio [0-9]+ RTP/AVP {audio}")),
        ("ALSO", "c=IN IP4 203\\.0\\.113\\.9".to_string()),
        ("HASNOT", absent.to_string()),
    ];
    let mut callee = Sipp::server(Scenario::File("uas_sdp_check.xml", checks), port);
    callee.calls = calls;
    let callee = callee.spawn();
    std::thread::sleep(Duration::from_millis(300));
    let vars = vec![
        ("KEEP", keep.to_string()),
        ("CONN", "203.0.113.9".to_string()),
    ];
    let mut caller = Sipp::client(Scenario::File("uac_sdp_offer.xml", vars), r.udp);
    caller.service = Some("sdp".into());
    caller.calls = calls;
    let out = caller.run();
    let callee = callee.wait(Duration::from_secs(10));
    // (a callee whose check failed still answers: only its own count says so)
    if callee.failed_calls == 0 {
        assert_calls("callers", &out, calls);
    }
    callee
}

#[test]
fn sipp_offers_are_edited_on_the_way_to_a_sipp_callee_that_checks_them() {
    let _load = sipp_lock();
    let port = free_port();
    let mut opts = RouterOpts::default();
    opts.config
        .insert("next_hop".into(), format!("sip:127.0.0.1:{port}"));
    let r = TestRouter::start_with("probe", opts);
    let callee = edited_calls(
        &r,
        port,
        "PCMA,telephone-event",
        "8 101",
        "PCMU|G729|m=video|annexb",
        5,
    );
    assert_calls("callee (each offer checked)", &callee, 5);
    // the same callee fails a call whose offer is not as it wants: its checks can fail
    let callee = edited_calls(&r, port, "PCMU,PCMA,telephone-event", "8 101", "PCMU", 1);
    assert_eq!(
        (callee.successful_calls, callee.failed_calls),
        (0, 1),
        "{}",
        callee.output
    );
}

#[test]
fn a_pjsip_phones_offer_is_edited_on_its_way_to_the_callee() {
    let uas = FakeUas::new();
    let mut opts = RouterOpts::default();
    opts.config.insert("next_hop".into(), uas.uri("callee"));
    opts.config
        .insert("sdp_keep".into(), "PCMU,telephone-event".into());
    opts.config.insert("sdp_conn".into(), "198.51.100.7".into());
    let r = TestRouter::start_with("probe", opts);
    let mut phone = Phone::start(&PhoneOpts::example("alice", r.udp, "udp"));
    let call = phone.call("sip:sdp@sipwasm.local");
    let (invite, from) = uas
        .recv_request(Duration::from_secs(10))
        .expect("the INVITE reaches the callee");
    assert_eq!(invite.method(), sipwasm_proto::Method::Invite);
    assert_eq!(invite.content_length(), Some(invite.body().len() as u32));
    let sdp = Sdp::parse(invite.body()).expect("the edited offer parses");
    let codecs: Vec<String> = sdp
        .codecs()
        .into_iter()
        .filter(|c| c.media == "audio")
        .map(|c| c.name.to_ascii_uppercase())
        .collect();
    assert!(codecs.contains(&"PCMU".to_string()), "{codecs:?}");
    assert!(
        codecs.iter().all(|c| c == "PCMU" || c == "TELEPHONE-EVENT"),
        "{codecs:?}"
    );
    let text = String::from_utf8_lossy(invite.body()).into_owned();
    assert!(text.contains("c=IN IP4 198.51.100.7\r\n"), "{text}");
    assert!(!text.contains("c=IN IP4 127.0.0.1"), "{text}");
    uas.respond(&invite, from, 488, "Not Acceptable Here", "uas-1");
    let ended = phone.call_state(call, "DISCONNECTED");
    assert_eq!(ended["code"], 488, "{ended}");
}
