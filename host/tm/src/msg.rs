//! Messages a transaction layer builds: the response with our Via removed, the ACK for a
//! non-2xx final response (§17.1.1.3), the CANCEL of a branch (§9.1).

use sipwasm_proto::{HeaderName, SipMessage};
use std::io::Write;

/// The response with its top via-parm (ours) removed, ready to go upstream (§16.7 step 3).
pub fn strip_top_via(msg: &SipMessage) -> Vec<u8> {
    let b = msg.as_bytes();
    let top = msg.top_via();
    let header = msg.headers()[top.header as usize];
    let mut out = Vec::with_capacity(b.len());
    let others_in_line = msg.vias().iter().filter(|v| v.header == top.header).count() > 1;
    if !others_in_line {
        out.extend_from_slice(&b[..header.line.start as usize]);
        out.extend_from_slice(&b[header.line.end as usize..]);
    } else {
        // `Via: ours, theirs`: cut from our entry to the start of the next one
        let next = msg
            .vias()
            .iter()
            .find(|v| v.header == top.header && v.span.start > top.span.start)
            .expect("another via-parm in this line");
        out.extend_from_slice(&b[..top.span.start as usize]);
        out.extend_from_slice(&b[next.span.start as usize..]);
    }
    out
}

fn copy_header(out: &mut Vec<u8>, msg: &SipMessage, name: HeaderName) {
    for h in msg.headers().iter().filter(|h| h.name == name) {
        out.extend_from_slice(msg.text(h.name_span));
        out.extend_from_slice(b": ");
        out.extend_from_slice(msg.text(h.value));
        out.extend_from_slice(b"\r\n");
    }
}

/// Request line, top Via, Max-Forwards, From, Call-ID of `request` for an ACK or CANCEL.
fn head(out: &mut Vec<u8>, method: &str, request: &SipMessage) {
    let b = request.as_bytes();
    let ruri = request
        .request_uri()
        .map(|u| u.as_bytes(b))
        .unwrap_or_default();
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(ruri);
    out.extend_from_slice(b" SIP/2.0\r\nVia: ");
    out.extend_from_slice(request.top_via().span.of(b));
    out.extend_from_slice(b"\r\nMax-Forwards: 70\r\n");
    copy_header(out, request, HeaderName::From);
    copy_header(out, request, HeaderName::CallId);
}

/// The ACK a client INVITE transaction sends for a non-2xx final `response` to `request`
/// (the INVITE as we sent it): same Request-URI, top Via, From, Call-ID, CSeq number and
/// Route headers, the To of the response.
pub fn ack_for(request: &SipMessage, response: &SipMessage) -> Vec<u8> {
    let mut out = Vec::with_capacity(request.len());
    head(&mut out, "ACK", request);
    copy_header(&mut out, response, HeaderName::To);
    let _ = write!(out, "CSeq: {} ACK\r\n", request.cseq().number);
    copy_header(&mut out, request, HeaderName::Route);
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    out
}

/// The CANCEL of a branch whose INVITE is `request` (as we sent it).
pub fn cancel_for(request: &SipMessage) -> Vec<u8> {
    let mut out = Vec::with_capacity(request.len());
    head(&mut out, "CANCEL", request);
    copy_header(&mut out, request, HeaderName::To);
    let _ = write!(out, "CSeq: {} CANCEL\r\n", request.cseq().number);
    copy_header(&mut out, request, HeaderName::Route);
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:b@10.0.0.2 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKsw.1.2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bKup;received=192.0.2.9\r\n\
Max-Forwards: 69\r\n\
Route: <sip:p2;lr>\r\n\
From: <sip:a@x>;tag=f\r\n\
To: <sip:b@x>\r\n\
Call-ID: c1\r\n\
CSeq: 7 INVITE\r\n\
Content-Length: 0\r\n\r\n";

    /// Text or bytes as we would receive them.
    fn msg(raw: impl AsRef<[u8]>) -> SipMessage {
        SipMessage::parse_slice(raw.as_ref()).unwrap()
    }

    #[test]
    fn strip_our_via_from_responses() {
        let r = msg(
            "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKsw.1.2.0\r\nVia: SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bKup\r\nFrom: <sip:a@x>;tag=f\r\nTo: <sip:b@x>;tag=t\r\nCall-ID: c1\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n",
        );
        let out = msg(strip_top_via(&r));
        assert_eq!(out.vias().len(), 1);
        assert_eq!(
            out.top_via().branch(out.as_bytes()),
            Some(&b"z9hG4bKup"[..])
        );
        // several via-parms in one header line
        let r = msg(
            "SIP/2.0 200 OK\r\nv: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKsw.1.2.0 , SIP/2.0/TCP 192.0.2.9;branch=z9hG4bKup\r\nFrom: <sip:a@x>;tag=f\r\nTo: <sip:b@x>;tag=t\r\nCall-ID: c1\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n",
        );
        let out = msg(strip_top_via(&r));
        assert_eq!(out.vias().len(), 1);
        assert!(
            out.as_bytes()
                .starts_with(b"SIP/2.0 200 OK\r\nv: SIP/2.0/TCP 192.0.2.9")
        );
    }

    #[test]
    fn ack_and_cancel_follow_the_rfc() {
        let inv = msg(INVITE);
        let resp = msg(
            "SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKsw.1.2.0\r\nFrom: <sip:a@x>;tag=f\r\nTo: <sip:b@x>;tag=callee\r\nCall-ID: c1\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n",
        );
        let ack = msg(ack_for(&inv, &resp));
        let b = ack.as_bytes();
        assert_eq!(ack.method(), sipwasm_proto::Method::Ack);
        assert_eq!(ack.request_uri().unwrap().as_bytes(b), b"sip:b@10.0.0.2");
        assert_eq!(ack.vias().len(), 1);
        assert_eq!(ack.top_via().branch(b), Some(&b"z9hG4bKsw.1.2.0"[..]));
        assert_eq!(ack.to().tag(b), Some(&b"callee"[..]));
        assert_eq!(ack.cseq().number, 7);
        assert_eq!(ack.routes().len(), 1);
        let cancel = msg(cancel_for(&inv));
        let b = cancel.as_bytes();
        assert_eq!(cancel.method(), sipwasm_proto::Method::Cancel);
        assert_eq!(cancel.to().tag(b), None);
        assert_eq!(cancel.top_via().branch(b), Some(&b"z9hG4bKsw.1.2.0"[..]));
        assert_eq!(cancel.cseq().method, sipwasm_proto::Method::Cancel);
    }
}
