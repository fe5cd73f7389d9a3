//! `sl`: stateless replies (`sl_send_reply`, `sl_reply_error`, `append_to_reply`), and the
//! reply to a message the parser rejected.

use crate::context::RouteContext;
use crate::env::{LocalConfig, Source};
use crate::lumps::check_header_lines;
use bytes::Bytes;
use sipwasm_proto::reply::{ReplyBuilder, ReplyInfo, response_target, response_target_rport};
use sipwasm_proto::{Method, Transmit};

/// Why a stateless reply was not sent; mirrors the WIT `sl.error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SlError {
    /// There is no request to answer.
    #[error("no request to reply to")]
    NoRequest,
    /// Bad code or reason.
    #[error("invalid reply: {0}")]
    InvalidReply(String),
    /// Bad header text.
    #[error("invalid header: {0}")]
    InvalidHeader(String),
}

impl RouteContext {
    /// Header lines added with `append_to_reply`.
    pub fn reply_lumps(&self) -> Vec<&[u8]> {
        self.reply_lumps.iter().map(Vec::as_slice).collect()
    }

    /// Send a stateless reply (`sl_send_reply`). In a failure route the transaction exists
    /// and the reply goes through it (as `t_reply`), so it is retransmitted and final.
    pub fn send_reply(&mut self, code: u16, reason: &str) -> Result<(), SlError> {
        if !self.msg.is_request() {
            return Err(SlError::NoRequest);
        }
        if self.refused && self.final_replied {
            // loose_route answered it 403: that was the final word
            return Ok(());
        }
        if self.tx.is_some() {
            return self
                .t_reply(code, reason)
                .map_err(|e| SlError::InvalidReply(e.to_string()));
        }
        if !(100..=699).contains(&code) {
            return Err(SlError::InvalidReply(format!(
                "status code {code} out of 100..=699"
            )));
        }
        if reason.bytes().any(|c| c == b'\r' || c == b'\n') {
            return Err(SlError::InvalidReply("CR or LF in reason phrase".into()));
        }
        if self.msg.method() == Method::Ack {
            // ACK is never answered (RFC 3261 §17.2.1); Kamailio's sl skips it too.
            return Ok(());
        }
        let tag = self.config.to_tag_for(&self.msg);
        let extra: Vec<&[u8]> = self.reply_lumps.iter().map(Vec::as_slice).collect();
        let info = ReplyInfo::from_request(&self.msg);
        let data = ReplyBuilder {
            code,
            reason,
            to_tag: Some(&tag),
            src: self.source.src,
            extra_headers: &extra,
            server: self.config.server_header(),
            body: self.reply_body(),
            force_rport: self.force_rport,
        }
        .build(&info);
        let dest = response_target_rport(
            self.msg.top_via(),
            self.msg.as_bytes(),
            self.source.src,
            self.force_rport,
        );
        self.outbound.push(Transmit {
            transport: self.source.transport,
            dest,
            local: self.source.local,
            conn: self.source.conn,
            data: Bytes::from(data),
            // over a stream, a reply goes back on the request's connection or not at all
            // (Kamailio's set_reply_no_connect): a UA behind NAT cannot be connected to
            flags: sipwasm_proto::transport::StreamFlags {
                no_connect: self.source.transport.is_stream(),
                ..Default::default()
            },
        });
        if code >= 200 {
            self.final_replied = true;
        }
        Ok(())
    }

    /// Reply describing the last internal error (`sl_reply_error`).
    pub fn send_reply_error(&mut self) -> Result<(), SlError> {
        let (code, reason) = self.last_error.unwrap_or((500, "Server Internal Error"));
        self.send_reply(code, reason)
    }

    /// Record the last internal error for `send_reply_error`.
    pub fn set_last_error(&mut self, code: u16, reason: &'static str) {
        self.last_error = Some((code, reason));
    }

    /// Add headers to replies sent by this event (a reply lump).
    pub fn append_to_reply(&mut self, headers: &str) -> Result<(), SlError> {
        let t = check_header_lines(headers).map_err(|e| SlError::InvalidHeader(e.to_string()))?;
        let mut added = self.reply_lumps.iter().map(Vec::len).sum();
        crate::lumps::check_added(&mut added, &t)
            .map_err(|e| SlError::InvalidHeader(e.to_string()))?;
        self.reply_lumps.push(t);
        Ok(())
    }
}

/// The reply to a request the parser rejected (400, or 505 for a bad version), when one
/// can be built: see [`ReplyInfo::salvage`].
pub fn reply_to_malformed(
    config: &LocalConfig,
    buf: &[u8],
    source: &Source,
    error: &sipwasm_proto::ParseError,
) -> Option<Transmit> {
    let info = ReplyInfo::salvage(buf)?;
    let warning = format!(
        "Warning: 399 sipwasm \"{}\"\r\n",
        error.to_string().replace(['"', '\\'], "'")
    );
    let extra: [&[u8]; 1] = [warning.as_bytes()];
    let tag = config.to_tag_from(buf);
    let data = ReplyBuilder {
        code: error.reply_code(),
        reason: error.reply_reason(),
        to_tag: Some(&tag),
        src: source.src,
        extra_headers: &extra,
        server: config.server_header(),
        body: None,
        force_rport: false,
    }
    .build(&info);
    Some(Transmit {
        transport: source.transport,
        dest: response_target(info.top_via(), info.base(), source.src),
        local: source.local,
        conn: source.conn,
        data: Bytes::from(data),
        flags: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::fixtures::*;

    #[test]
    fn replies_and_reply_lumps() {
        let mut c = ctx();
        c.append_to_reply("X-Reason: test").unwrap();
        assert!(c.append_to_reply("bad header").is_err());
        c.send_reply(480, "Temporarily Unavailable").unwrap();
        assert!(c.final_replied());
        let out = c.take_outbound();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].dest, "10.0.0.1:5070".parse().unwrap());
        let r = SipMessage::parse(out[0].data.clone()).unwrap();
        assert_eq!(r.status(), Some(480));
        assert_eq!(r.header(b"X-Reason"), Some(&b"test"[..]));
        assert_eq!(r.header(b"Server"), Some(&b"sipwasm-test"[..]));
        let tag = r.to().tag(r.as_bytes()).unwrap();
        assert!(c.config().is_local_to_tag(tag));
        assert_eq!(tag, c.config().to_tag_for(c.msg()).as_bytes());
        assert!(matches!(
            c.send_reply(99, "x"),
            Err(SlError::InvalidReply(_))
        ));
        assert!(matches!(
            c.send_reply(200, "a\r\nb"),
            Err(SlError::InvalidReply(_))
        ));
        c.send_reply_error().unwrap();
        let r = SipMessage::parse(c.take_outbound()[0].data.clone()).unwrap();
        assert_eq!(r.status(), Some(500));
    }

    #[test]
    fn ack_is_never_answered_and_replies_have_no_request() {
        let ack = REQ.replace("INVITE", "ACK");
        let msg = SipMessage::parse(Bytes::from(ack)).unwrap();
        let mut c = RouteContext::new(cfg(), msg, *ctx().source(), 0);
        c.send_reply(200, "OK").unwrap();
        assert!(c.take_outbound().is_empty());
        let resp = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        let msg = SipMessage::parse(Bytes::from_static(resp.as_bytes())).unwrap();
        let mut c = RouteContext::new(cfg(), msg, *ctx().source(), 0);
        assert_eq!(c.send_reply(200, "OK"), Err(SlError::NoRequest));
        assert_eq!(get(&c, "$rs"), Value::Int(200));
        assert_eq!(get(&c, "$rm"), s("INVITE"));
        assert_eq!(get(&c, "$ru"), Value::Null);
        assert!(c.is_method("invite"));
    }

    #[test]
    fn malformed_request_gets_400_with_warning() {
        let bad = REQ.replace("CSeq: 7 INVITE", "CSeq: 7 OPTIONS");
        let err = SipMessage::parse(Bytes::from(bad.clone())).unwrap_err();
        let out = reply_to_malformed(&cfg(), bad.as_bytes(), ctx().source(), &err).unwrap();
        let r = SipMessage::parse(out.data).unwrap();
        assert_eq!(r.status(), Some(400));
        assert!(
            r.header(b"Warning")
                .unwrap()
                .starts_with(b"399 sipwasm \"CSeq method")
        );
    }
}
