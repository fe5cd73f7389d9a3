//! The RFC 4475 and RFC 5118 torture messages, byte-exact in `tests-data/conformance/`
//! (copied from the shared corpus), run against the parser.
//!
//! Valid messages must parse and be read correctly; invalid ones must fail with the
//! expected [`ParseError`]. Section 3.3 messages (application layer) parse: what the router
//! answers to them is a routing decision tested at the router level.

use crate::header::HeaderName;
use crate::message::SipMessage;
use crate::method::Method;
use crate::reply::ReplyInfo;
use crate::uri::Scheme;
use crate::{ParseError, StartLine};
use bytes::Bytes;

macro_rules! corpus {
    ($dir:literal, $name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests-data/conformance/",
            $dir,
            "/",
            $name
        ))
    };
}

macro_rules! rfc4475 {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests-data/conformance/rfc4475/",
            $name,
            ".dat"
        ))
    };
}

/// RFC 5118 messages are archived with bare LF; the RFC intends CRLF. Converting changes
/// the body length, so Content-Length is recomputed too. (The archive's own values are off
/// in places anyway: `ipv6-in-sdp` declares 268 bytes for a 242-byte body.)
fn rfc5118(raw: &[u8]) -> SipMessageResult {
    let text = std::str::from_utf8(raw).expect("RFC 5118 messages are ASCII");
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let body = body.replace('\n', "\r\n");
    let mut out = String::new();
    for line in head.split('\n') {
        if line.starts_with("Content-Length:") {
            out.push_str(&format!("Content-Length: {}", body.len()));
        } else {
            out.push_str(line);
        }
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(&body);
    SipMessage::parse(Bytes::from(out))
}

type SipMessageResult = Result<SipMessage, ParseError>;

fn parse(raw: &[u8]) -> SipMessageResult {
    SipMessage::parse_slice(raw)
}

fn ok(name: &str, raw: &[u8]) -> SipMessage {
    match parse(raw) {
        Ok(m) => m,
        Err(e) => panic!("{name} must be accepted, got: {e}"),
    }
}

fn bad(name: &str, raw: &[u8]) -> ParseError {
    match parse(raw) {
        Ok(_) => panic!("{name} must be rejected"),
        Err(e) => e,
    }
}

fn header_err(e: &ParseError) -> Option<HeaderName> {
    match e {
        ParseError::Header { header, .. } => Some(*header),
        _ => None,
    }
}

#[test]
fn section_3_1_1_valid_messages_are_read_correctly() {
    // 3.1.1.1 wsinv: folding, odd case, white space everywhere
    let m = ok("wsinv", rfc4475!("wsinv"));
    let b = m.as_bytes();
    assert_eq!(m.method(), Method::Invite);
    assert_eq!(m.to().tag(b), Some(&b"1918181833n"[..]));
    assert_eq!(m.from().tag(b), Some(&b"98asjd8"[..]));
    assert_eq!(m.from().display_name(b).unwrap(), b"J Rosenberg \\\"");
    assert_eq!(m.max_forwards(), Some(68));
    assert_eq!((m.cseq().number, m.cseq().method), (9, Method::Invite));
    assert_eq!(m.vias().len(), 3);
    assert_eq!(m.vias()[1].host(b), b"spindle.example.com");
    assert_eq!(m.vias()[2].branch(b), Some(&b"z9hG4bK30239"[..]));
    assert_eq!(m.header(b"Subject"), Some(&b""[..]));
    assert_eq!(
        m.header(b"NewFangledHeader"),
        Some(&b"newfangled value\r\n continued newfangled value"[..])
    );
    assert_eq!(m.contacts().len(), 1);
    assert_eq!(m.contacts()[0].param(b, b"q"), Some(Some(&b"0.33"[..])));
    assert_eq!(m.routes().len(), 1);
    assert_eq!(m.content_length(), Some(150));
    assert_eq!(m.body().len(), 150);

    // 3.1.1.2 intmeth: unusual method, escapes and UTF-8
    let m = ok("intmeth", rfc4475!("intmeth"));
    let b = m.as_bytes();
    assert_eq!(m.method(), Method::Other);
    assert_eq!(
        m.method_text(),
        b"!interesting-Method0123456789_*+`.%indeed'~"
    );
    assert_eq!(m.cseq().number, 139122385);
    assert_eq!(
        m.request_uri().unwrap().password(b),
        Some(&b"&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"[..])
    );
    assert_eq!(m.from().tag(b), Some(&b"_token~1'+`*%!-."[..]));
    assert_eq!(m.call_id(), b"intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");

    // 3.1.1.3 esc01
    let m = ok("esc01", rfc4475!("esc01"));
    let b = m.as_bytes();
    assert_eq!(
        m.request_uri().unwrap().user(b),
        Some(&b"sips%3Auser%40example.com"[..])
    );
    assert_eq!(
        &*crate::uri::unescape(m.request_uri().unwrap().user(b).unwrap()),
        b"sips:user@example.com"
    );
    assert_eq!(m.call_id(), b"esc01.239409asdfakjkn23onasd0-3234");
    assert_eq!(
        m.header_of(HeaderName::ContentType),
        Some(&b"application/sdp"[..])
    );

    // 3.1.1.4 escnull
    let m = ok("escnull", rfc4475!("escnull"));
    assert_eq!(m.contacts().len(), 2);
    assert_eq!(m.content_length(), Some(0));

    // 3.1.1.5 esc02: an escaped method is an extension method; C%6Fntact is not Contact
    let m = ok("esc02", rfc4475!("esc02"));
    assert_eq!(m.method(), Method::Other);
    assert_eq!(m.method_text(), b"RE%47IST%45R");
    assert_eq!(m.contacts().len(), 2);
    assert_eq!(
        m.header(b"C%6Fntact"),
        Some(&b"<sip:alias2@host2.example.com>"[..])
    );

    // 3.1.1.6 lwsdisp
    let m = ok("lwsdisp", rfc4475!("lwsdisp"));
    assert_eq!(m.from().display_name(m.as_bytes()).unwrap(), b"caller");

    // 3.1.1.7 longreq
    let m = ok("longreq", rfc4475!("longreq"));
    assert_eq!(m.vias().len(), 34);
    assert!(m.to().display_name(m.as_bytes()).unwrap().len() > 80);
    assert_eq!(m.body().len(), 150);

    // 3.1.1.8 dblreq: only the first message of the datagram
    let m = ok("dblreq", rfc4475!("dblreq"));
    assert_eq!(m.method(), Method::Register);
    assert!(m.body().is_empty());
    assert!(m.len() < rfc4475!("dblreq").len());

    // 3.1.1.9 semiuri
    let m = ok("semiuri", rfc4475!("semiuri"));
    let b = m.as_bytes();
    assert_eq!(
        m.request_uri().unwrap().user(b),
        Some(&b"user;par=u%40example.net"[..])
    );
    assert_eq!(m.request_uri().unwrap().host(b), b"example.com");
    assert!(m.header(b"Accept").unwrap().ends_with(b"message/sipfrag"));

    // 3.1.1.10 transports
    let m = ok("transports", rfc4475!("transports"));
    let b = m.as_bytes();
    let t: Vec<&[u8]> = m.vias().iter().map(|v| v.transport(b)).collect();
    assert_eq!(t, [&b"UDP"[..], b"SCTP", b"TLS", b"UNKNOWN", b"TCP"]);

    // 3.1.1.11 mpart01
    let m = ok("mpart01", rfc4475!("mpart01"));
    assert_eq!(m.body().len(), 553);
    assert!(m.body().starts_with(b"--7a9cbec02ceef655"));

    // 3.1.1.12 unreason, 3.1.1.13 noreason
    let m = ok("unreason", rfc4475!("unreason"));
    assert_eq!(m.status(), Some(200));
    assert!(std::str::from_utf8(m.reason().unwrap()).is_ok());
    let m = ok("noreason", rfc4475!("noreason"));
    assert_eq!(m.status(), Some(100));
    assert_eq!(m.reason(), Some(&b""[..]));
}

#[test]
fn section_3_1_2_invalid_messages_are_rejected_for_the_right_reason() {
    let e = bad("badinv01", rfc4475!("badinv01"));
    assert_eq!(header_err(&e), Some(HeaderName::Via), "{e}");
    assert!(matches!(
        bad("clerr", rfc4475!("clerr")),
        ParseError::ContentLengthExceeds { declared: 9999, .. }
    ));
    assert_eq!(
        header_err(&bad("ncl", rfc4475!("ncl"))),
        Some(HeaderName::ContentLength)
    );
    assert_eq!(
        header_err(&bad("scalar02", rfc4475!("scalar02"))),
        Some(HeaderName::CSeq)
    );
    assert_eq!(
        header_err(&bad("scalarlg", rfc4475!("scalarlg"))),
        Some(HeaderName::CSeq)
    );
    assert_eq!(
        header_err(&bad("quotbal", rfc4475!("quotbal"))),
        Some(HeaderName::To)
    );
    assert!(matches!(
        bad("ltgtruri", rfc4475!("ltgtruri")),
        ParseError::RequestUri(_)
    ));
    assert!(matches!(
        bad("lwsruri", rfc4475!("lwsruri")),
        ParseError::RequestLine(_)
    ));
    assert!(matches!(
        bad("lwsstart", rfc4475!("lwsstart")),
        ParseError::RequestLine(_)
    ));
    assert!(matches!(
        bad("trws", rfc4475!("trws")),
        ParseError::RequestLine(_)
    ));
    assert_eq!(
        bad("escruri", rfc4475!("escruri")),
        ParseError::RequestUri("headers are not allowed in a Request-URI")
    );
    assert_eq!(
        header_err(&bad("baddate", rfc4475!("baddate"))),
        Some(HeaderName::Date)
    );
    assert_eq!(
        header_err(&bad("regbadct", rfc4475!("regbadct"))),
        Some(HeaderName::Contact)
    );
    assert_eq!(
        header_err(&bad("badaspec", rfc4475!("badaspec"))),
        Some(HeaderName::To)
    );
    assert_eq!(
        header_err(&bad("baddn", rfc4475!("baddn"))),
        Some(HeaderName::From)
    );
    let e = bad("badvers", rfc4475!("badvers"));
    assert_eq!(e, ParseError::VersionNotSupported("SIP/7.0".into()));
    assert_eq!(e.reply_code(), 505);
    assert_eq!(
        bad("mismatch01", rfc4475!("mismatch01")),
        ParseError::CSeqMethodMismatch
    );
    assert_eq!(
        bad("mismatch02", rfc4475!("mismatch02")),
        ParseError::CSeqMethodMismatch
    );
    assert!(matches!(
        bad("bigcode", rfc4475!("bigcode")),
        ParseError::StatusLine(_)
    ));
}

#[test]
fn rejected_requests_get_a_reply_when_one_can_be_built() {
    // Every 3.1.2 request except badinv01 (its top Via itself is broken) can be answered;
    // responses (scalarlg, bigcode) never are.
    let answerable: &[(&str, &[u8])] = &[
        ("clerr", rfc4475!("clerr")),
        ("ncl", rfc4475!("ncl")),
        ("scalar02", rfc4475!("scalar02")),
        ("quotbal", rfc4475!("quotbal")),
        ("ltgtruri", rfc4475!("ltgtruri")),
        ("lwsruri", rfc4475!("lwsruri")),
        ("lwsstart", rfc4475!("lwsstart")),
        ("trws", rfc4475!("trws")),
        ("escruri", rfc4475!("escruri")),
        ("baddate", rfc4475!("baddate")),
        ("regbadct", rfc4475!("regbadct")),
        ("badaspec", rfc4475!("badaspec")),
        ("baddn", rfc4475!("baddn")),
        ("badvers", rfc4475!("badvers")),
        ("mismatch01", rfc4475!("mismatch01")),
        ("mismatch02", rfc4475!("mismatch02")),
        ("insuf", rfc4475!("insuf")),
        ("multi01", rfc4475!("multi01")),
        ("mcl01", rfc4475!("mcl01")),
    ];
    for (name, raw) in answerable {
        assert!(
            ReplyInfo::salvage(raw).is_some(),
            "{name} should be answerable"
        );
    }
    for (name, raw) in [
        ("badinv01", &rfc4475!("badinv01")[..]),
        ("scalarlg", rfc4475!("scalarlg")),
        ("bigcode", rfc4475!("bigcode")),
    ] {
        assert!(
            ReplyInfo::salvage(raw).is_none(),
            "{name} cannot be answered"
        );
    }
}

#[test]
fn section_3_3_application_layer_messages() {
    // insuf: missing To, From, Call-ID, Max-Forwards -> 400
    assert!(matches!(
        bad("insuf", rfc4475!("insuf")),
        ParseError::Missing(_)
    ));
    // multi01 and mcl01: several values in single-value headers -> 400
    assert!(matches!(
        bad("multi01", rfc4475!("multi01")),
        ParseError::Duplicate(HeaderName::CSeq)
    ));
    assert_eq!(
        bad("mcl01", rfc4475!("mcl01")),
        ParseError::Duplicate(HeaderName::ContentLength)
    );
    // unknown URI schemes parse; the answer (416) is the routing layer's
    let m = ok("unkscm", rfc4475!("unkscm"));
    assert_eq!(m.request_uri().unwrap().scheme, Scheme::Other);
    let m = ok("novelsc", rfc4475!("novelsc"));
    assert_eq!(m.request_uri().unwrap().scheme, Scheme::Other);
    let m = ok("unksm2", rfc4475!("unksm2"));
    assert_eq!(m.to().uri.scheme, Scheme::Other);
    assert_eq!(m.contacts()[0].uri.scheme, Scheme::Other);
    let m = ok("bext01", rfc4475!("bext01"));
    assert!(m.header(b"Proxy-Require").is_some());
    let m = ok("invut", rfc4475!("invut"));
    assert_eq!(
        m.header(b"Content-Type"),
        Some(&b"application/unknownformat"[..])
    );
    let m = ok("regaut01", rfc4475!("regaut01"));
    assert!(
        m.header(b"Authorization")
            .unwrap()
            .starts_with(b"NoOneKnowsThisScheme")
    );
    // bcast: a response whose second Via is a broadcast address
    let m = ok("bcast", rfc4475!("bcast"));
    assert_eq!(m.vias()[1].host(m.as_bytes()), b"255.255.255.255");
    let m = ok("zeromf", rfc4475!("zeromf"));
    assert_eq!(m.max_forwards(), Some(0));
    // REGISTER Contact forms
    let m = ok("cparam01", rfc4475!("cparam01"));
    let b = m.as_bytes();
    assert_eq!(m.contacts()[0].param(b, b"unknownparam"), Some(None));
    assert_eq!(m.contacts()[0].uri.params(b), b"");
    let m = ok("cparam02", rfc4475!("cparam02"));
    let b = m.as_bytes();
    assert_eq!(m.contacts()[0].uri.param(b, b"unknownparam"), Some(None));
    let m = ok("regescrt", rfc4475!("regescrt"));
    let b = m.as_bytes();
    assert_eq!(
        m.contacts()[0].uri.headers(b),
        Some(&b"Route=%3Csip:sip.example.com%3E"[..])
    );
    let m = ok("sdp01", rfc4475!("sdp01"));
    assert_eq!(m.header(b"Accept"), Some(&b"text/nobodyKnowsThis"[..]));
    // 3.2 badbranch: no magic cookie, RFC 2543 matching applies
    let m = ok("badbranch", rfc4475!("badbranch"));
    assert!(!m.top_via().has_rfc3261_branch(m.as_bytes()));
    // 3.4 inv2543: RFC 2543 syntax (no Max-Forwards, no tag, no Content-Length, no branch)
    let m = ok("inv2543", rfc4475!("inv2543"));
    let b = m.as_bytes();
    assert_eq!(m.max_forwards(), None);
    assert_eq!(m.content_length(), None);
    assert_eq!(m.from().tag(b), None);
    assert_eq!(m.top_via().branch(b), None);
    assert!(m.body().starts_with(b"v=0"));
    assert_eq!(m.record_routes().len(), 1);
}

#[test]
fn rfc5118_ipv6_messages() {
    for (name, raw) in [
        ("ipv6-good", &corpus!("rfc5118", "ipv6-good")[..]),
        ("port-ambiguous", corpus!("rfc5118", "port-ambiguous")),
        ("port-unambiguous", corpus!("rfc5118", "port-unambiguous")),
        (
            "ipv6-correct-abnf-2-colons",
            corpus!("rfc5118", "ipv6-correct-abnf-2-colons"),
        ),
        ("ipv4-mapped-ipv6", corpus!("rfc5118", "ipv4-mapped-ipv6")),
        ("ipv6-in-sdp", corpus!("rfc5118", "ipv6-in-sdp")),
        ("mult-ip-in-header", corpus!("rfc5118", "mult-ip-in-header")),
        ("mult-ip-in-sdp", corpus!("rfc5118", "mult-ip-in-sdp")),
        (
            "via-received-param-no-delim",
            corpus!("rfc5118", "via-received-param-no-delim"),
        ),
        (
            "via-received-param-with-delim",
            corpus!("rfc5118", "via-received-param-with-delim"),
        ),
    ] {
        if let Err(e) = rfc5118(raw) {
            panic!("{name} must be accepted: {e}");
        }
    }
    let m = rfc5118(corpus!("rfc5118", "port-ambiguous")).unwrap();
    let b = m.as_bytes();
    assert_eq!(m.request_uri().unwrap().host(b), b"[2001:db8::10:5070]");
    assert_eq!(m.request_uri().unwrap().port, None);
    let m = rfc5118(corpus!("rfc5118", "port-unambiguous")).unwrap();
    assert_eq!(m.request_uri().unwrap().port, Some(5070));
    let m = rfc5118(corpus!("rfc5118", "mult-ip-in-header")).unwrap();
    assert_eq!(m.vias().len(), 3);
    assert_eq!(m.vias()[0].port, Some(6050));
    let m = rfc5118(corpus!("rfc5118", "via-received-param-no-delim")).unwrap();
    assert_eq!(
        m.top_via().received.unwrap().of(m.as_bytes()),
        b"2001:db8::9:255"
    );
    assert!(matches!(m.start(), StartLine::Request { .. }));

    for (name, raw) in [
        ("ipv6-bad", &corpus!("rfc5118", "ipv6-bad")[..]),
        (
            "ipv6-bug-abnf-3-colons",
            corpus!("rfc5118", "ipv6-bug-abnf-3-colons"),
        ),
    ] {
        match rfc5118(raw) {
            Err(ParseError::RequestUri(_)) => {}
            other => panic!("{name} must be rejected for its Request-URI, got {other:?}"),
        }
    }
    // the same messages archived with bare LF are accepted as they are
    assert!(parse(corpus!("rfc5118", "ipv6-good")).is_ok());
}

/// Every torture message is SIP to the nosip sniffer, valid or not: broken SIP gets its
/// 400/505, it never becomes a non-SIP event. (That includes `test.dat`, in the archive but
/// used by no section, whose request line has no SIP version.)
#[test]
fn every_corpus_message_sniffs_as_sip() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests-data/conformance");
    let mut seen = 0;
    for sub in ["rfc4475", "rfc5118"] {
        for entry in std::fs::read_dir(dir.join(sub)).expect("corpus directory") {
            let path = entry.expect("entry").path();
            let data = std::fs::read(&path).expect("corpus file");
            assert_eq!(
                crate::sniff::sniff(&data, true),
                crate::sniff::Sniff::Sip,
                "{}",
                path.display()
            );
            seen += 1;
        }
    }
    assert!(seen >= 60, "only {seen} corpus files");
}
