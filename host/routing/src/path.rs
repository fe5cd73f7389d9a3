//! Path (RFC 3327) for an edge proxy in front of a registrar: Kamailio's `path` module.
//!
//! `add_path` puts a `Path` header for this router into a REGISTER it forwards, so that
//! the registrar sends requests for that contact back through it. The entry names the
//! socket the REGISTER leaves from (written when it is sent, as Kamailio does), carries
//! the UA's flow token when it uses RFC 5626 outbound (`;ob` on the first hop), and with
//! `add_path_received` the address the REGISTER came from (`;received=`). The URI is
//! signed: when a request comes back with it as Route, `loose_route` trusts its flow and
//! `received` only because this router wrote them.

use crate::context::RouteContext;

use crate::env::Listener;
use crate::rr::Flow;
pub use crate::rr::uri::AddPath;
use sipwasm_proto::{Method, Transport};

/// Why a path function failed; mirrors the WIT `path.error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Not a REGISTER.
    #[error("Path is for REGISTER requests")]
    NotRegister,
    /// A user part that does not fit in a URI.
    #[error("invalid argument: {0}")]
    Invalid(String),
}

/// Escape a value for a URI parameter (`sip:1.2.3.4:5060;transport=tcp` as
/// `sip:1.2.3.4:5060%3Btransport%3Dtcp`).
fn escape_param(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 8);
    for c in v.bytes() {
        if c.is_ascii_alphanumeric() || b"-_.!~*'()[]/&+$:".contains(&c) {
            s.push(c as char);
        } else {
            s.push_str(&format!("%{c:02X}"));
        }
    }
    s
}

impl RouteContext {
    /// `add_path([user])` / `add_path_received([user])`: put a Path entry for this router
    /// into the REGISTER when it is forwarded.
    pub fn add_path(&mut self, user: Option<&str>, received: bool) -> Result<(), PathError> {
        if !self.msg.is_request() || self.msg.method() != Method::Register {
            return Err(PathError::NotRegister);
        }
        if let Some(u) = user
            && (u.is_empty()
                || u.len() > 128
                || !u
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&c)))
        {
            return Err(PathError::Invalid(format!("bad Path user {u:?}")));
        }
        self.add_path = Some(AddPath {
            outbound: false,
            user: user.map(str::to_string),
            received,
        });
        Ok(())
    }

    /// What `add_path` asked for, if it was called.
    pub fn add_path_request(&self) -> Option<&AddPath> {
        self.add_path.as_ref()
    }

    /// The Path entry of this router for a REGISTER leaving from `local`: the user part is
    /// the plugin's, else the flow token of a UA using outbound (with `;ob` on the first
    /// hop); `received` names the REGISTER's source; `sig` covers both.
    pub(crate) fn path_entry(&self, local: &Listener, add: &AddPath) -> String {
        let token = match &add.user {
            Some(u) => Some(u.clone()),
            None => self.outbound_flow_token(),
        };
        let first_hop = self.msg.vias().len() == 1;
        let received = add
            .received
            .then(|| Flow::of_source(&self.source).dst_uri());
        let mut s = String::from("<sip:");
        if let Some(t) = &token {
            s.push_str(t);
            s.push('@');
        }
        s.push_str(&self.sent_by(local));
        if local.transport != Transport::Udp {
            s.push_str(";transport=");
            s.push_str(local.transport.as_str());
        }
        s.push_str(";lr");
        if let Some(r) = &received {
            s.push_str(";received=");
            s.push_str(&escape_param(r));
        }
        if (add.user.is_none() && token.is_some() && first_hop) || add.outbound {
            s.push_str(";ob");
        }
        s.push_str(";sig=");
        s.push_str(&self.config.sign(&[
            b"path",
            token.as_deref().unwrap_or_default().as_bytes(),
            received.as_deref().unwrap_or_default().as_bytes(),
        ]));
        s.push('>');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy_tests::{UDP, cfg, ctx_from, forwarded_udp};
    use crate::rr::{Routed, RrError};
    use bytes::Bytes;
    use sipwasm_proto::SipMessage;

    const REGISTER: &str = "REGISTER sip:example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.5:5060;branch=z9hG4bKr1;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=a\r\n\
To: <sip:alice@example.com>\r\n\
Call-ID: r1\r\n\
CSeq: 1 REGISTER\r\n\
Supported: path, outbound\r\n\
Contact: <sip:alice@192.168.1.5:5060;ob>;reg-id=1;+sip.instance=\"<urn:uuid:1>\"\r\n\
Content-Length: 0\r\n\r\n";

    /// The INVITE the registrar (10.9.9.9) sends the edge for alice, with `route` (the
    /// Path) as its Route.
    fn from_registrar(route: &str) -> RouteContext {
        let text = format!(
            "INVITE sip:alice@192.168.1.5:5060;ob SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bKreg\r\n\
Via: SIP/2.0/UDP 10.0.0.50:5060;branch=z9hG4bKbob\r\n\
Max-Forwards: 69\r\n\
Route: {route}\r\n\
From: <sip:bob@example.com>;tag=b\r\n\
To: <sip:alice@example.com>\r\n\
Call-ID: i1\r\n\
CSeq: 1 INVITE\r\n\
Content-Length: 0\r\n\r\n"
        );
        let msg = SipMessage::parse(Bytes::from(text)).unwrap();
        RouteContext::new(
            cfg(),
            msg,
            crate::env::Source {
                transport: Transport::Udp,
                src: "10.9.9.9:5060".parse().unwrap(),
                local: UDP.parse().unwrap(),
                conn: None,
            },
            0,
        )
    }

    fn edge_path(add: impl Fn(&mut RouteContext)) -> String {
        let mut c = ctx_from(REGISTER);
        add(&mut c);
        let out = forwarded_udp(&c, "sip:example.com", "10.9.9.9:5060");
        String::from_utf8_lossy(out.header(b"Path").expect("a Path header")).into_owned()
    }

    #[test]
    fn a_path_with_a_flow_token_brings_requests_back_to_the_flow() {
        // alice uses outbound: the Path carries her flow token and ob
        let path = edge_path(|c| c.add_path(None, false).unwrap());
        assert!(path.starts_with("<sip:"), "{path}");
        assert!(path.contains("@10.0.0.1:5060;lr;ob;sig="), "{path}");
        // the registrar's INVITE comes back with it: sent to alice's flow
        let mut c = from_registrar(&path);
        assert_eq!(c.loose_route(), Ok(Routed::Flow));
        assert_eq!(c.dst_uri(), Some("sip:192.0.2.1:40000;transport=udp"));
        let out = forwarded_udp(&c, "sip:alice@192.168.1.5:5060;ob", "192.0.2.1:40000");
        assert!(out.header(b"Route").is_none(), "our Path entry is consumed");
        // a Path we did not write steers nothing
        let forged = path
            .replace(";ob;", ";ob;x=1;")
            .replace("@10.0.0.1", "0@10.0.0.1");
        let mut c = from_registrar(&forged);
        assert!(matches!(c.loose_route(), Err(RrError::Forbidden(_))));
    }

    #[test]
    fn a_path_with_received_for_phones_without_outbound() {
        let plain = REGISTER.replace(";ob>;reg-id=1;+sip.instance=\"<urn:uuid:1>\"", ">");
        let mut c = ctx_from(&plain);
        c.add_path(None, true).unwrap();
        let out = forwarded_udp(&c, "sip:example.com", "10.9.9.9:5060");
        let path = String::from_utf8_lossy(out.header(b"Path").unwrap()).into_owned();
        assert!(
            path.starts_with(
                "<sip:10.0.0.1:5060;lr;received=sip:192.0.2.1:40000%3Btransport%3Dudp;sig="
            ),
            "{path}"
        );
        let mut c = from_registrar(&path);
        assert_eq!(c.loose_route(), Ok(Routed::Flow));
        assert_eq!(c.dst_uri(), Some("sip:192.0.2.1:40000;transport=udp"));
        // a user part of the plugin's own
        let path = edge_path(|c| c.add_path(Some("edge1"), false).unwrap());
        assert!(
            path.starts_with("<sip:edge1@10.0.0.1:5060;lr;sig="),
            "{path}"
        );
        let mut c = from_registrar(&path);
        assert_eq!(c.loose_route(), Ok(Routed::Preloaded));
        // only for REGISTER, and a sane user part
        let mut c = from_registrar("<sip:x;lr>");
        assert_eq!(c.add_path(None, false), Err(PathError::NotRegister));
        let mut c = ctx_from(REGISTER);
        assert!(matches!(
            c.add_path(Some("a b"), false),
            Err(PathError::Invalid(_))
        ));
    }
}
