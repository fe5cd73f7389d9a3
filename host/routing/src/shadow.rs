//! Shadow roll-outs: what two plugin versions decided for the same request, compared.
//! The live version's decision is taken from its route's state before the router acts on
//! it; the shadow version ran on a copy of the request with every side effect held back
//! (see [`crate::env::LocalConfig::dry_view`]), and its state is only read here.

use crate::context::RouteContext;
use crate::tm::state::TmIntent;

/// What a request route decided.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    /// How the route ended: `continue`, `exit`, `drop`, or `error`.
    pub ending: &'static str,
    /// The status codes it answered with (stateless or through the transaction).
    pub replies: Vec<u16>,
    /// Where it relayed the request: each branch's Request-URI, with ` via <$du>`.
    pub relayed: Vec<String>,
    /// The header lines of the request as it would be forwarded (its header changes
    /// applied), when it changed any.
    pub headers: Option<Vec<String>>,
    /// It asked for a Record-Route.
    pub record_route: bool,
}

impl Decision {
    /// The decision in `ctx` after a route that ended as `ending`.
    pub fn of(ctx: &RouteContext, ending: &'static str) -> Decision {
        let mut replies: Vec<u16> = ctx
            .outbound
            .iter()
            .filter_map(|t| {
                let code = t.data.strip_prefix(b"SIP/2.0 ")?.get(..3)?;
                std::str::from_utf8(code).ok()?.parse().ok()
            })
            .collect();
        let mut relayed = Vec::new();
        for intent in &ctx.intents {
            match intent {
                TmIntent::Reply { code, .. } => replies.push(*code),
                TmIntent::Relay(plans) => {
                    relayed.extend(plans.iter().map(|p| match &p.branch.dst_uri {
                        Some(du) => format!("{} via {du}", p.branch.uri),
                        None => p.branch.uri.clone(),
                    }))
                }
                TmIntent::NewTran | TmIntent::CancelInvite | TmIntent::Suspend => {}
            }
        }
        let headers = (!ctx.lumps.is_empty()).then(|| {
            let out = ctx.lumps.apply(ctx.msg.as_bytes());
            let head = out
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(&out[..], |end| &out[..end]);
            String::from_utf8_lossy(head)
                .split("\r\n")
                .skip(1)
                .map(str::to_string)
                .collect()
        });
        Decision {
            ending,
            replies,
            relayed,
            headers,
            record_route: ctx.record_route.is_some(),
        }
    }

    /// The parts in which `other` decided differently.
    pub fn differences(&self, other: &Decision) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.ending != other.ending {
            out.push("ending");
        }
        if self.replies != other.replies {
            out.push("replies");
        }
        if self.relayed != other.relayed {
            out.push("relayed");
        }
        if self.headers != other.headers {
            out.push("headers");
        }
        if self.record_route != other.record_route {
            out.push("record_route");
        }
        out
    }
}

impl RouteContext {
    /// The same request, as received, for a shadow version seeing the router's state as
    /// `config` (a [`crate::env::LocalConfig::dry_view`]).
    pub fn for_shadow(&self, config: std::sync::Arc<crate::env::LocalConfig>) -> RouteContext {
        RouteContext::new(config, self.msg.clone(), self.source, self.now_unix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::LocalConfig;
    use std::sync::Arc;

    fn ctx() -> RouteContext {
        let msg = sipwasm_proto::SipMessage::parse(bytes::Bytes::from_static(
            b"MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1\r\n\
From: <sip:alice@example.com>;tag=a\r\nTo: <sip:bob@example.com>\r\nCall-ID: c1\r\n\
CSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        ))
        .unwrap();
        let source = crate::env::Source {
            transport: sipwasm_proto::Transport::Udp,
            src: "10.0.0.1:5060".parse().unwrap(),
            local: "10.0.0.2:5060".parse().unwrap(),
            conn: None,
        };
        RouteContext::new(
            Arc::new(LocalConfig::new(Vec::new(), Vec::new(), None)),
            msg,
            source,
            1000,
        )
    }

    #[test]
    fn replies_relays_and_header_changes_are_told_apart() {
        let mut answered = ctx();
        answered.send_reply(488, "Not Acceptable Here").unwrap();
        let a = Decision::of(&answered, "exit");
        assert_eq!(a.replies, [488]);
        let mut changed = ctx();
        changed
            .lumps
            .append(&changed.msg.clone(), "X-Tag: 1\r\n")
            .unwrap();
        let b = Decision::of(&changed, "continue");
        assert!(
            b.headers
                .as_ref()
                .unwrap()
                .contains(&"X-Tag: 1".to_string())
        );
        assert_eq!(a.differences(&b), ["ending", "replies", "headers"]);
        assert!(a.differences(&a.clone()).is_empty());
    }
}
