//! Kamailio's `sanity` module: checks of a request beyond what parsing it took, each a
//! bit of `msg_checks` (and, for 1024, `uri_checks`), with Kamailio's values, order,
//! replies and silences. Pure: [`check`] says what failed; the route answers.
//!
//! The parser already refuses a request without From, To, Call-ID, CSeq or Via, with a
//! CSeq number of 2^31 or more, or with a Content-Length longer than what came: those
//! checks pass here for what reaches a route, and stay for the flags' sake.

use crate::auth::digest::parse_credential_fields;
use sipwasm_proto::grammar::Params;
use sipwasm_proto::header::HeaderName;
use sipwasm_proto::uri::{Scheme, Uri};
use sipwasm_proto::{SipMessage, Transport};

/// R-URI SIP version.
pub const RURI_SIP_VERSION: u32 = 1;
/// R-URI scheme.
pub const RURI_SCHEME: u32 = 2;
/// From, To, Call-ID, CSeq and Via present, the first four once.
pub const REQUIRED_HEADERS: u32 = 4;
/// Via SIP version (always passes, as in Kamailio).
pub const VIA_SIP_VERSION: u32 = 8;
/// Via protocol (always passes, as in Kamailio).
pub const VIA_PROTOCOL: u32 = 16;
/// CSeq method is the request's.
pub const CSEQ_METHOD: u32 = 32;
/// CSeq number below 2^31.
pub const CSEQ_VALUE: u32 = 64;
/// Content-Length is the body's length.
pub const CONTENT_LENGTH: u32 = 128;
/// Expires is a number below 2^32.
pub const EXPIRES_VALUE: u32 = 256;
/// Every Proxy-Require extension is supported.
pub const PROXY_REQUIRE: u32 = 512;
/// The URIs `uri_checks` names parse.
pub const PARSE_URIS: u32 = 1024;
/// Digest credentials carry a username, nonce and response.
pub const DIGEST: u32 = 2048;
/// From and To carry one tag at most.
pub const DUPLICATE_TAGS: u32 = 4096;
/// As [`DIGEST`], other schemes passing.
pub const AUTHORIZATION: u32 = 8192;
/// The first Via has a sent-by and a branch.
pub const VIA1_HEADER: u32 = 16384;
/// RFC 3261 branch magic cookie, `;lr` on every Route and Record-Route.
pub const RFC3261_COMPLIANCE: u32 = 32768;
/// Sizes (message 16384, headers 8192, body 8192, a header 2048, method 32, URI 256).
pub const SIZES: u32 = 65536;
/// Every check.
pub const ALL: u32 = 131071;
/// Kamailio's `default_checks`.
pub const DEFAULT_CHECKS: u32 = 3047;

/// `uri_checks`: the Request-URI.
pub const URI_RURI: u32 = 1;
/// `uri_checks`: the From URI.
pub const URI_FROM: u32 = 2;
/// `uri_checks`: the To URI.
pub const URI_TO: u32 = 4;
/// `uri_checks`: the first Contact URI.
pub const URI_CONTACT: u32 = 8;
/// Kamailio's `uri_checks` default.
pub const DEFAULT_URI_CHECKS: u32 = 7;

/// A failed check: the reply Kamailio sends for it (none for the silent ones).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The check's bit.
    pub check: u32,
    /// The reply, `None` for a check that fails silently.
    pub reply: Option<(u16, &'static str)>,
    /// A header line for the reply (`Unsupported: ext` for 420).
    pub header: Option<String>,
}

impl Failure {
    fn silent(check: u32) -> Failure {
        Failure {
            check,
            reply: None,
            header: None,
        }
    }

    fn reply(check: u32, code: u16, reason: &'static str) -> Failure {
        Failure {
            check,
            reply: Some((code, reason)),
            header: None,
        }
    }
}

/// Why the flags themselves are refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("sanity flags: msg_checks 1..=131071, uri_checks 1..=15")]
pub struct BadFlags;

/// Run the checks `msg_checks` (and `uri_checks` for 1024) on `msg`, received over
/// `transport`, in Kamailio's order; the first failure. `proxy_require` lists the
/// extensions this router supports (`[sanity] proxy_require`).
pub fn check(
    msg: &SipMessage,
    transport: Transport,
    msg_checks: u32,
    uri_checks: u32,
    proxy_require: &[String],
) -> Result<Result<(), Failure>, BadFlags> {
    if !(1..=ALL).contains(&msg_checks) || !(1..=15).contains(&uri_checks) {
        return Err(BadFlags);
    }
    if !msg.is_request() {
        return Ok(Ok(()));
    }
    let on = |bit: u32| msg_checks & bit != 0;
    let run = || -> Result<(), Failure> {
        if on(SIZES) {
            sizes(msg)?;
        }
        if on(RURI_SIP_VERSION) {
            let line = msg.first_line();
            let version = line.rsplit(|&c| c == b' ').next().unwrap_or_default();
            if version != b"SIP/2.0" {
                return Err(Failure::reply(
                    RURI_SIP_VERSION,
                    505,
                    "Version Not Supported (R-URI)",
                ));
            }
        }
        if on(RURI_SCHEME) && msg.request_uri().is_none_or(|u| u.scheme == Scheme::Other) {
            return Err(Failure::reply(
                RURI_SCHEME,
                416,
                "Unsupported URI Scheme in Request URI",
            ));
        }
        if on(REQUIRED_HEADERS) {
            let once = [
                HeaderName::From,
                HeaderName::To,
                HeaderName::CallId,
                HeaderName::CSeq,
            ];
            let count = |n: HeaderName| msg.headers().iter().filter(|h| h.name == n).count();
            if once.iter().any(|&n| count(n) != 1) || msg.vias().is_empty() {
                return Err(Failure::silent(REQUIRED_HEADERS));
            }
        }
        if on(VIA1_HEADER) {
            let via = msg.top_via();
            if via.host.is_empty() || via.branch.is_none() {
                return Err(Failure::silent(VIA1_HEADER));
            }
        }
        if on(RFC3261_COMPLIANCE) {
            let base = msg.as_bytes();
            let cookie = msg
                .top_via()
                .branch
                .is_some_and(|b| b.of(base).starts_with(b"z9hG4bK"));
            let loose = |entries: &[sipwasm_proto::NameAddr]| {
                entries
                    .iter()
                    .all(|r| Params::new(r.uri.params.of(base)).get(b"lr").is_some())
            };
            if !cookie || !loose(msg.routes()) || !loose(msg.record_routes()) {
                return Err(Failure::silent(RFC3261_COMPLIANCE));
            }
        }
        if on(CSEQ_METHOD) && msg.text(msg.cseq().method_span) != msg.method_text() {
            return Err(Failure::reply(
                CSEQ_METHOD,
                400,
                "CSeq method does not match request method",
            ));
        }
        if on(CSEQ_VALUE) && msg.cseq().number >= 1 << 31 {
            return Err(Failure::reply(CSEQ_VALUE, 400, "CSeq number is illegal"));
        }
        if on(CONTENT_LENGTH)
            && let Some(cl) = msg.content_length()
        {
            // a datagram's bytes after the body are not counted (RFC 4475 `dblreq`)
            let received = msg.len().saturating_sub(msg.body_span().start as usize);
            let mismatch = if transport == Transport::Udp {
                (received as u64) < u64::from(cl)
            } else {
                received as u64 != u64::from(cl)
            };
            if mismatch || msg.body().len() as u64 != u64::from(cl) {
                return Err(Failure::reply(
                    CONTENT_LENGTH,
                    400,
                    "Content-Length mis-match",
                ));
            }
        }
        if on(EXPIRES_VALUE)
            && let Some(v) = msg.header_of(HeaderName::Expires)
        {
            let v = sipwasm_proto::grammar::trim(v);
            if v.is_empty() {
                return Err(Failure::reply(
                    EXPIRES_VALUE,
                    400,
                    "Missing number in Expires header",
                ));
            }
            let fits = v.len() <= 10
                && v.iter().all(u8::is_ascii_digit)
                && std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .is_some_and(|n| n < 1 << 32);
            if !fits {
                return Err(Failure::reply(
                    EXPIRES_VALUE,
                    400,
                    "Expires value is illegal",
                ));
            }
        }
        if on(PROXY_REQUIRE) {
            for value in msg.headers_named(b"Proxy-Require") {
                for token in value.split(|&c| c == b',') {
                    let token = sipwasm_proto::grammar::trim(token);
                    if token.is_empty() {
                        continue;
                    }
                    if !proxy_require.iter().any(|p| p.as_bytes() == token) {
                        return Err(Failure {
                            check: PROXY_REQUIRE,
                            reply: Some((420, "Bad Proxy Require Extension")),
                            header: Some(format!(
                                "Unsupported: {}\r\n",
                                String::from_utf8_lossy(token)
                            )),
                        });
                    }
                }
            }
        }
        if on(PARSE_URIS) {
            parse_uris(msg, uri_checks)?;
        }
        if on(DIGEST) || on(AUTHORIZATION) {
            let other_schemes_pass = !on(DIGEST);
            for name in [&b"Authorization"[..], b"Proxy-Authorization"] {
                for value in msg.headers_named(name) {
                    digest(value, other_schemes_pass)?;
                }
            }
        }
        if on(DUPLICATE_TAGS) {
            let base = msg.as_bytes();
            let tags = |params: sipwasm_proto::Span| {
                Params::new(params.of(base))
                    .filter(|(n, _)| n.eq_ignore_ascii_case(b"tag"))
                    .count()
            };
            if tags(msg.from().params) > 1 {
                return Err(Failure::reply(DUPLICATE_TAGS, 400, "Many From Tag Params"));
            }
            if tags(msg.to().params) > 1 {
                return Err(Failure::reply(DUPLICATE_TAGS, 400, "Many To Tag Params"));
            }
        }
        Ok(())
    };
    Ok(run())
}

fn sizes(msg: &SipMessage) -> Result<(), Failure> {
    let silent = || Failure::silent(SIZES);
    let base = msg.as_bytes();
    let uri_too_long = |u: &Uri| u.whole.of(base).len() > 256;
    if msg.len() > 16384
        || msg.headers_end() > 8192
        || msg.body().len() > 8192
        || msg.headers().iter().any(|h| h.line.of(base).len() > 2048)
        || msg.method_text().len() > 32
        || msg.request_uri().is_some_and(uri_too_long)
        || uri_too_long(&msg.from().uri)
        || uri_too_long(&msg.to().uri)
    {
        return Err(silent());
    }
    Ok(())
}

fn parse_uris(msg: &SipMessage, uri_checks: u32) -> Result<(), Failure> {
    let base = msg.as_bytes();
    let parses = |u: &Uri| Uri::parse_standalone(u.whole.of(base)).is_ok();
    let bad = |reason| Err(Failure::reply(PARSE_URIS, 400, reason));
    if uri_checks & URI_RURI != 0 && !msg.request_uri().is_some_and(parses) {
        return bad("Bad Request URI");
    }
    if uri_checks & URI_FROM != 0 && !parses(&msg.from().uri) {
        return bad("Invalid From Header");
    }
    if uri_checks & URI_TO != 0 && !parses(&msg.to().uri) {
        return bad("Invalid To Header");
    }
    if uri_checks & URI_CONTACT != 0
        && !msg.contact_star()
        && let Some(first) = msg.contacts().first()
        && !parses(&first.uri)
    {
        return bad("Bad Contact URI");
    }
    Ok(())
}

fn digest(value: &[u8], other_schemes_pass: bool) -> Result<(), Failure> {
    let value = sipwasm_proto::grammar::trim(value);
    let is_digest = value
        .get(..6)
        .is_some_and(|s| s.eq_ignore_ascii_case(b"Digest"));
    if !is_digest {
        return if other_schemes_pass {
            Ok(())
        } else {
            Err(Failure::silent(DIGEST))
        };
    }
    let c = parse_credential_fields(value)
        .map_err(|_| Failure::reply(DIGEST, 400, "Bad Auth Credentials"))?;
    let empty = if c.username.is_empty() {
        "Auth Empty User"
    } else if c.nonce.is_empty() {
        "Auth Empty Nonce"
    } else if c.response.is_empty() {
        "Auth Empty Response"
    } else {
        return Ok(());
    };
    Err(Failure::reply(DIGEST, 400, empty))
}

mod route;

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn msg(text: &str) -> SipMessage {
        SipMessage::parse(Bytes::from(text.replace('\n', "\r\n"))).unwrap()
    }

    const INVITE: &str = "INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1
From: <sip:alice@example.com>;tag=a
To: <sip:bob@example.com>
Call-ID: c1
CSeq: 1 INVITE
Contact: <sip:alice@10.0.0.1>
Max-Forwards: 70
Content-Length: 0

";

    fn with(extra: &str) -> SipMessage {
        msg(&INVITE.replace("Max-Forwards: 70\n", &format!("Max-Forwards: 70\n{extra}")))
    }

    fn run(m: &SipMessage, checks: u32) -> Option<Failure> {
        check(
            m,
            Transport::Udp,
            checks,
            DEFAULT_URI_CHECKS,
            &["ext-ok".into()],
        )
        .unwrap()
        .err()
    }

    #[test]
    fn a_good_request_passes_every_check() {
        assert_eq!(run(&msg(INVITE), ALL), None);
        assert_eq!(
            check(&msg(INVITE), Transport::Udp, 0, 7, &[]),
            Err(BadFlags)
        );
    }

    #[test]
    fn each_check_answers_as_kamailio() {
        let code = |m: &SipMessage, checks| run(m, checks).and_then(|f| f.reply);
        // (a CSeq method other than the request's is refused by the parser already)
        assert_eq!(
            code(&with("Expires: 12a\n"), DEFAULT_CHECKS),
            Some((400, "Expires value is illegal"))
        );
        assert_eq!(
            code(&with("Expires: 4294967296\n"), DEFAULT_CHECKS),
            Some((400, "Expires value is illegal"))
        );
        assert_eq!(run(&with("Expires: 4294967295\n"), DEFAULT_CHECKS), None);
        let f = run(&with("Proxy-Require: ext-ok, sec-agree\n"), DEFAULT_CHECKS).unwrap();
        assert_eq!(f.reply, Some((420, "Bad Proxy Require Extension")));
        assert_eq!(f.header.as_deref(), Some("Unsupported: sec-agree\r\n"));
        assert_eq!(run(&with("Proxy-Require: ext-ok\n"), DEFAULT_CHECKS), None);
        assert_eq!(
            code(
                &with(
                    "Authorization: Digest username=\"\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", response=\"r\"\n"
                ),
                DEFAULT_CHECKS
            ),
            Some((400, "Auth Empty User"))
        );
        // a Basic scheme fails the default checks without a reply, passes 8192 alone
        let basic = with("Authorization: Basic YTpi\n");
        assert_eq!(run(&basic, DEFAULT_CHECKS), Some(Failure::silent(DIGEST)));
        assert_eq!(run(&basic, AUTHORIZATION), None);
        assert_eq!(
            code(
                &msg(&INVITE.replace(";tag=a", ";tag=a;tag=b")),
                DUPLICATE_TAGS
            ),
            Some((400, "Many From Tag Params"))
        );
        assert_eq!(
            code(
                &msg(&INVITE.replace("INVITE sip:bob", "INVITE http:bob")),
                DEFAULT_CHECKS
            ),
            Some((416, "Unsupported URI Scheme in Request URI"))
        );
        // silent ones
        let old_branch = msg(&INVITE.replace("branch=z9hG4bK-1", "branch=1"));
        assert_eq!(
            run(&old_branch, DEFAULT_CHECKS),
            None,
            "not a default check"
        );
        assert_eq!(
            run(&old_branch, RFC3261_COMPLIANCE),
            Some(Failure::silent(RFC3261_COMPLIANCE))
        );
        assert_eq!(
            run(&with("Route: <sip:p.example.com>\n"), RFC3261_COMPLIANCE),
            Some(Failure::silent(RFC3261_COMPLIANCE))
        );
        assert_eq!(
            run(&with("Route: <sip:p.example.com;lr>\n"), RFC3261_COMPLIANCE),
            None
        );
        let long = with(&format!("X-Long: {}\n", "a".repeat(3000)));
        assert_eq!(run(&long, SIZES), Some(Failure::silent(SIZES)));
        assert_eq!(run(&long, DEFAULT_CHECKS), None);
    }

    #[test]
    fn content_length_counts_the_body() {
        let m = msg(&INVITE.replace("Content-Length: 0\n\n", "Content-Length: 2\n\nhi"));
        assert_eq!(run(&m, CONTENT_LENGTH), None);
        assert_eq!(
            check(&m, Transport::Tcp, CONTENT_LENGTH, 7, &[]).unwrap(),
            Ok(())
        );
    }
}
