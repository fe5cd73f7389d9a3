//! The uac functions on a SIP request, the restore of replies and of the dialog's later
//! requests, and `uac_req_send` from any event.

use super::{
    Dialog, Restore, Side, UacError, credentials_for, name_addr, name_addr_span, seal, unseal,
};
use crate::context::{RouteContext, Transmit};
use crate::env::LocalConfig;
use crate::lumps::{Lumps, check_header_lines};
use bytes::Bytes;
use sipwasm_proto::SipMessage;

/// A request for `uac_req_send` (Kamailio's `$uac_req(...)`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UacRequest {
    /// Method.
    pub method: String,
    /// Request-URI.
    pub ruri: String,
    /// From URI.
    pub furi: String,
    /// To URI.
    pub turi: String,
    /// Where to send it ("": the Request-URI).
    pub ouri: String,
    /// Further header lines.
    pub hdrs: String,
    /// Body.
    pub body: Vec<u8>,
}

/// Random lowercase hex of `n` bytes.
fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).expect("the OS has randomness");
    crate::auth::digest::hex(&bytes)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl RouteContext {
    /// `uac_replace_from(display, uri)`.
    pub fn uac_replace_from(&mut self, display: &str, uri: &str) -> Result<(), UacError> {
        self.uac_replace(Side::From, display, uri)
    }

    /// `uac_replace_to(display, uri)`.
    pub fn uac_replace_to(&mut self, display: &str, uri: &str) -> Result<(), UacError> {
        self.uac_replace(Side::To, display, uri)
    }

    fn uac_replace(&mut self, side: Side, display: &str, uri: &str) -> Result<(), UacError> {
        if !self.msg.is_request() {
            return Err(UacError::NoRequest);
        }
        if self.uac.restores.iter().any(|r| r.side == side) {
            return Err(UacError::InvalidArgument(format!(
                "the {side:?} header was replaced already"
            )));
        }
        let new = name_addr(display, uri)?;
        let b = self.msg.as_bytes();
        let na = side.of(&self.msg);
        let span = name_addr_span(na);
        let original = text(span.of(b));
        let old_uri = text(na.uri.as_bytes(b));
        self.lumps.replace_span(span, new.into_bytes());
        self.header_edits = true;
        self.uac.restores.push(Restore {
            side,
            name_addr: true,
            original,
        });
        if !self.has_totag() {
            let b = self.msg.as_bytes();
            let dialog = Dialog {
                call_id: self.msg.call_id(),
                from_tag: self.msg.from().tag(b).unwrap_or_default(),
            };
            let sealed = seal(&self.config, dialog, &old_uri, uri);
            self.uac
                .rr_params
                .push_str(&format!(";{}={sealed}", side.rr_param()));
        }
        Ok(())
    }

    /// Take the replacements a branch route made on its copy (`branch`), so that the
    /// transaction's replies are restored. Restoring a header a branch did not replace
    /// writes back what is there already, so one list serves every branch.
    pub fn adopt_uac_restores(&mut self, branch: &RouteContext) {
        for r in &branch.uac.restores {
            if !self.uac.restores.contains(r) {
                self.uac.restores.push(r.clone());
            }
        }
    }

    /// The Record-Route parameters the uac replacements add (`;vsf=...`).
    pub fn uac_rr_params(&self) -> &str {
        &self.uac.rr_params
    }

    /// The header line `uac_auth` made for the branches relayed from here.
    pub fn uac_credentials(&self) -> Option<&str> {
        self.uac.credentials.as_deref()
    }

    /// A later request of a dialog whose Record-Route carried `seals`: the replaced
    /// header gets its new URI again (going the way of the first request, `downstream`),
    /// or the other header its original one (coming back). Run by `loose_route`; a seal
    /// that does not open (another router's, a tampered one) changes nothing.
    pub(crate) fn uac_restore_in_dialog(&mut self, seals: &[(Side, String)], downstream: bool) {
        for (side, sealed) in seals {
            let header = if downstream { *side } else { side.other() };
            let b = self.msg.as_bytes();
            // the dialog's first From tag: this request's From tag going the same way,
            // its To tag coming back
            let first = if downstream {
                self.msg.from()
            } else {
                self.msg.to()
            };
            let dialog = Dialog {
                call_id: self.msg.call_id(),
                from_tag: first.tag(b).unwrap_or_default(),
            };
            let na = header.of(&self.msg);
            let span = na.uri.whole;
            let current = text(span.of(b));
            let Some(replacement) = unseal(&self.config, dialog, sealed, &current) else {
                tracing::debug!(header = ?header, "uac: a Record-Route seal that does not open for this request");
                continue;
            };
            // (applied once: a second seal of the same side finds it done)
            if self
                .uac
                .restores
                .iter()
                .any(|r| r.side == header && !r.name_addr)
            {
                continue;
            }
            self.lumps.replace_span(span, replacement.into_bytes());
            self.uac.restores.push(Restore {
                side: header,
                name_addr: false,
                original: current,
            });
        }
    }

    /// `reply` as the side that sent the request must see it: what uac replaced in the
    /// request put back. `None` when nothing was replaced (or the result did not parse).
    pub fn uac_restore_reply(&self, reply: &SipMessage) -> Option<SipMessage> {
        if self.uac.restores.is_empty() {
            return None;
        }
        let mut lumps = Lumps::default();
        for r in &self.uac.restores {
            let na = r.side.of(reply);
            let span = if r.name_addr {
                name_addr_span(na)
            } else {
                na.uri.whole
            };
            lumps.replace_span(span, r.original.clone().into_bytes());
        }
        SipMessage::parse(Bytes::from(lumps.apply(reply.as_bytes()))).ok()
    }

    /// `uac_auth()` in a failure route: credentials answering the best reply's
    /// challenge, for the branches relayed from here. As Kamailio's, the digest signs the
    /// failed branch's Request-URI, which becomes `$ru` (the next relay goes there again).
    pub fn uac_auth(
        &mut self,
        realm: &str,
        username: &str,
        password: &str,
    ) -> Result<(), UacError> {
        if !self.msg.is_request() {
            return Err(UacError::NoRequest);
        }
        let tx = self.tx_info().ok_or_else(|| {
            UacError::NoChallenge("uac_auth answers a 401/407 in a failure route".into())
        })?;
        let branch_uri = tx.branch_uri.clone();
        let uri = match &branch_uri {
            Some(uri) => uri.clone(),
            None => self.current_ruri().ok_or(UacError::NoRequest)?,
        };
        let method = text(self.msg.method_text());
        let line = credentials_for(
            &tx.challenges,
            realm,
            username,
            password,
            &method,
            &uri,
            &random_hex(8),
        )?;
        self.uac.credentials = Some(line);
        if branch_uri.is_some() {
            self.new_ruri = branch_uri;
        }
        Ok(())
    }
}

/// What [`build_request`] made: the bytes, the Call-ID and the Via branch.
struct Built {
    data: Vec<u8>,
    call_id: String,
    branch: String,
}

/// Build `req` as the router sends it from `via` (`host:port` of the listener) over
/// `transport`.
fn build_request(req: &UacRequest, transport: &str, via: &str) -> Result<Built, UacError> {
    let bad = |what: String| UacError::InvalidArgument(what);
    if req.method.is_empty() || !req.method.bytes().all(|c| c.is_ascii_alphabetic()) {
        return Err(bad(format!("method {:?}", req.method)));
    }
    // an INVITE's client transaction (its ACKs, its CANCEL) is more than a request sent
    // and waited on
    if ["INVITE", "ACK", "CANCEL"]
        .iter()
        .any(|m| req.method.eq_ignore_ascii_case(m))
    {
        return Err(bad(format!(
            "{}: uac_req_send sends requests outside dialogs that need no ACK",
            req.method
        )));
    }
    let call_id = random_hex(12);
    let branch = format!("z9hG4bK{}", random_hex(8));
    for (what, uri) in [
        ("ruri", &req.ruri),
        ("furi", &req.furi),
        ("turi", &req.turi),
    ] {
        super::name_addr("", uri).map_err(|e| bad(format!("{what}: {e}")))?;
    }
    let hdrs = if req.hdrs.is_empty() {
        Vec::new()
    } else {
        check_header_lines(&req.hdrs).map_err(|e| bad(format!("hdrs: {e}")))?
    };
    if req.body.len() > crate::textops::MAX_BODY {
        return Err(bad(format!("a body of {} bytes", req.body.len())));
    }
    let mut out = format!(
        "{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/{transport} {via};branch={branch};rport\r\n\
         Max-Forwards: 70\r\nFrom: <{furi}>;tag={tag}\r\nTo: <{turi}>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 {method}\r\n",
        method = req.method.to_ascii_uppercase(),
        ruri = req.ruri,
        furi = req.furi,
        turi = req.turi,
        tag = random_hex(6),
    )
    .into_bytes();
    out.extend_from_slice(&hdrs);
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", req.body.len()).as_bytes());
    out.extend_from_slice(&req.body);
    SipMessage::parse(Bytes::from(out.clone())).map_err(|e| bad(format!("the request: {e}")))?;
    Ok(Built {
        data: out,
        call_id,
        branch,
    })
}

/// `uac_req_send()` from any event: `req` built and queued on `outbound`, to the next
/// hop of `ouri` (or the Request-URI).
pub fn req_send(
    config: &LocalConfig,
    caller: Option<&crate::Caller>,
    outbound: &mut Vec<Transmit>,
    req: &UacRequest,
) -> Result<(), UacError> {
    if outbound.len() >= crate::net::MAX_SENDS_PER_EVENT {
        return Err(UacError::InvalidArgument(
            "too many messages in one event".into(),
        ));
    }
    let target = if req.ouri.is_empty() {
        &req.ruri
    } else {
        &req.ouri
    };
    let hop = config
        .services()
        .resolve(target)
        .map_err(|e| UacError::Unreachable(format!("{target}: {e}")))?
        .into_iter()
        .next()
        .ok_or_else(|| UacError::Unreachable(target.clone()))?;
    let listener = config
        .pick_listener(&hop, None)
        .ok_or_else(|| UacError::Unreachable(format!("no socket for {}", hop.addr)))?;
    let built = build_request(
        req,
        listener.transport.via_token(),
        &config.sent_by(&listener),
    )?;
    let sent = Transmit {
        transport: hop.transport,
        dest: hop.addr,
        local: listener.addr,
        conn: None,
        data: Bytes::from(built.data),
        flags: Default::default(),
    };
    let method = req.method.to_ascii_uppercase();
    if !config
        .services()
        .track_request(caller, &built.call_id, &built.branch, &method, &sent)
    {
        return Err(UacError::InvalidArgument(
            "too many requests wait for their answers (the router's, or this tenant's)".into(),
        ));
    }
    outbound.push(sent);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy_tests::{ctx_from, invite};

    fn reply_to(request: &[u8], code: u16) -> SipMessage {
        let req = SipMessage::parse(Bytes::copy_from_slice(request)).unwrap();
        let data = sipwasm_proto::reply::ReplyBuilder {
            code,
            reason: "OK",
            to_tag: Some("callee"),
            src: "192.0.2.1:5060".parse().unwrap(),
            extra_headers: &[],
            server: None,
            body: None,
            force_rport: false,
        }
        .build(&sipwasm_proto::reply::ReplyInfo::from_request(&req));
        SipMessage::parse(Bytes::from(data)).unwrap()
    }

    #[test]
    fn uac_auth_signs_the_failed_branchs_uri_and_goes_there_again() {
        let mut c = ctx_from(&invite(""));
        let challenge = (
            true,
            "Digest realm=\"carrier.test\", nonce=\"n1\", algorithm=MD5".to_string(),
        );
        // outside a failure route there is nothing to answer
        assert!(matches!(
            c.uac_auth("carrier.test", "trunk", "pw"),
            Err(UacError::NoChallenge(_))
        ));
        c.set_tx_info(Some(crate::tm::TxInfo {
            reply_code: 407,
            challenges: vec![challenge.clone()],
            branch_uri: Some("sip:+4930123@gw.carrier.test".into()),
            ..Default::default()
        }));
        c.uac_auth("carrier.test", "trunk", "pw").unwrap();
        let line = c.uac_credentials().unwrap().to_string();
        assert!(line.starts_with("Proxy-Authorization: Digest "), "{line}");
        assert!(
            line.contains("uri=\"sip:+4930123@gw.carrier.test\""),
            "{line}"
        );
        assert_eq!(
            c.current_ruri().as_deref(),
            Some("sip:+4930123@gw.carrier.test")
        );
        // without the branch's (a reply of no branch), the Request-URI as it is
        let mut c = ctx_from(&invite(""));
        c.set_tx_info(Some(crate::tm::TxInfo {
            reply_code: 407,
            challenges: vec![challenge],
            ..Default::default()
        }));
        c.uac_auth("carrier.test", "trunk", "pw").unwrap();
        assert!(
            c.uac_credentials()
                .unwrap()
                .contains("uri=\"sip:bob@biloxi.example.com\""),
            "{:?}",
            c.uac_credentials()
        );
    }

    #[test]
    fn from_is_replaced_out_and_restored_in_replies() {
        let mut c = ctx_from(&invite(""));
        c.uac_replace_from("Anonymous", "sip:anonymous@anonymous.invalid")
            .unwrap();
        assert!(c.uac_replace_from("", "sip:x@y").is_err());
        let sent = c.rendered();
        let out = SipMessage::parse(Bytes::from(sent.clone())).unwrap();
        let from = String::from_utf8_lossy(out.headers_named(b"From").next().unwrap()).into_owned();
        assert_eq!(
            from,
            "\"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=a"
        );
        assert!(c.uac_rr_params().starts_with(";vsf="));
        // the reply from downstream carries the new From; upstream gets the original
        let reply = reply_to(&sent, 200);
        let restored = c.uac_restore_reply(&reply).unwrap();
        assert_eq!(
            restored.headers_named(b"From").next().unwrap(),
            c.msg().headers_named(b"From").next().unwrap()
        );
        assert_eq!(restored.to().tag(restored.as_bytes()), Some(&b"callee"[..]));
    }

    #[test]
    fn later_requests_of_the_dialog_are_changed_both_ways() {
        let mut first = ctx_from(&invite(""));
        let b = first.msg().as_bytes();
        let original = String::from_utf8_lossy(first.msg().from().uri.as_bytes(b)).into_owned();
        first
            .uac_replace_from("", "sip:anonymous@anonymous.invalid")
            .unwrap();
        let sealed = first
            .uac_rr_params()
            .strip_prefix(";vsf=")
            .unwrap()
            .to_string();
        let seals = [(Side::From, sealed)];
        // the caller's BYE: From is the original, becomes the new URI
        let bye = invite("")
            .replace("INVITE sip", "BYE sip")
            .replace(" INVITE\r\n", " BYE\r\n")
            .replace(
                "To: <sip:bob@biloxi.example.com>",
                "To: <sip:bob@biloxi.example.com>;tag=callee",
            );
        let mut down = ctx_from(&bye);
        down.uac_restore_in_dialog(&seals, true);
        let out = SipMessage::parse(Bytes::from(down.rendered())).unwrap();
        assert_eq!(
            out.from().uri.as_bytes(out.as_bytes()),
            b"sip:anonymous@anonymous.invalid"
        );
        // the callee's BYE: To is the new URI, becomes the original
        let call_id = String::from_utf8_lossy(first.msg().call_id()).into_owned();
        let back = format!(
            "BYE sip:alice@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKb\r\n\
             From: <sip:bob@biloxi.example.com>;tag=callee\r\n\
             To: <sip:anonymous@anonymous.invalid>;tag=a\r\nCall-ID: {call_id}\r\n\
             CSeq: 9 BYE\r\nContent-Length: 0\r\n\r\n"
        );
        let mut up = ctx_from(&back);
        // another dialog's request: the seal does not open
        let mut stranger = ctx_from(&back.replace(&call_id, "another-call"));
        stranger.uac_restore_in_dialog(&seals, false);
        assert!(stranger.lumps().is_empty());
        up.uac_restore_in_dialog(&seals, false);
        let out = SipMessage::parse(Bytes::from(up.rendered())).unwrap();
        assert_eq!(out.to().uri.as_bytes(out.as_bytes()), original.as_bytes());
        // and its reply goes back to the callee with To as the callee knows it
        let reply = reply_to(out.as_bytes(), 200);
        let restored = up.uac_restore_reply(&reply).unwrap();
        assert_eq!(
            restored.to().uri.as_bytes(restored.as_bytes()),
            b"sip:anonymous@anonymous.invalid"
        );
        // a seal that does not open changes nothing
        let mut other = ctx_from(&bye);
        other.uac_restore_in_dialog(&[(Side::From, "00ff.0011".into())], true);
        assert!(other.lumps().is_empty());
        // a seal applied twice (two Record-Route entries of ours) changes the URI once
        let mut twice = ctx_from(&bye);
        twice.uac_restore_in_dialog(&seals, true);
        twice.uac_restore_in_dialog(&seals, true);
        let out = SipMessage::parse(Bytes::from(twice.rendered())).unwrap();
        assert_eq!(
            out.from().uri.as_bytes(out.as_bytes()),
            b"sip:anonymous@anonymous.invalid"
        );
    }

    #[test]
    fn requests_of_the_router_are_built_whole() {
        let req = UacRequest {
            method: "message".into(),
            ruri: "sip:bob@127.0.0.1:5090".into(),
            furi: "sip:router@example.com".into(),
            turi: "sip:bob@example.com".into(),
            hdrs: "Content-Type: text/plain\r\n".into(),
            body: b"hello".to_vec(),
            ..UacRequest::default()
        };
        let built = build_request(&req, "UDP", "127.0.0.1:5060").unwrap();
        let m = SipMessage::parse(Bytes::from(built.data)).unwrap();
        assert_eq!(m.call_id(), built.call_id.as_bytes());
        assert_eq!(
            m.top_via().branch(m.as_bytes()),
            Some(built.branch.as_bytes())
        );
        assert_eq!(m.method(), sipwasm_proto::Method::Message);
        assert_eq!(m.body(), b"hello");
        assert_eq!(m.content_length(), Some(5));
        assert!(m.from().tag(m.as_bytes()).is_some());
        let bad = UacRequest {
            hdrs: "X: a\r\n\r\nINVITE".into(),
            ..req.clone()
        };
        assert!(build_request(&bad, "UDP", "h").is_err());
        let bad = UacRequest {
            ruri: "nonsense".into(),
            ..req.clone()
        };
        assert!(build_request(&bad, "UDP", "h").is_err());
        let bad = UacRequest {
            method: "BAD METHOD".into(),
            ..req.clone()
        };
        assert!(build_request(&bad, "UDP", "h").is_err());
        let invite = UacRequest {
            method: "invite".into(),
            ..req
        };
        assert!(build_request(&invite, "UDP", "h").is_err());
    }
}
