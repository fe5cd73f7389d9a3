//! Building the request a proxy sends on (RFC 3261 §16.6) and forwarding replies
//! statelessly (§16.11).

use crate::context::{Listener, RouteContext};
use crate::lumps::Lump;
use crate::services::NextHop;
use sipwasm_proto::reply::{parse_host_ip, via_fixup, write_fixed_via};
use sipwasm_proto::{HeaderName, SipMessage, Transport};
use std::hash::{BuildHasher, Hash};
use std::net::SocketAddr;

/// How to forward one copy of the request.
#[derive(Clone, Debug)]
pub struct ForwardSpec<'a> {
    /// The Request-URI it goes out with.
    pub ruri: &'a str,
    /// Where it goes.
    pub hop: NextHop,
    /// The local socket it leaves from.
    pub local: Listener,
    /// Our Via branch parameter.
    pub branch: &'a str,
}

/// Host text of an address for a Via or a Record-Route URI (IPv6 in brackets).
pub fn host_text(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

fn rr_uri(ctx: &RouteContext, l: &Listener, r2: bool, params: &str) -> String {
    let mut s = format!("<sip:{}", ctx.config().sent_by(l));
    if l.transport != Transport::Udp {
        s.push_str(";transport=");
        s.push_str(l.transport.as_str());
    }
    if r2 {
        s.push_str(";r2=on");
    }
    s.push_str(";lr");
    s.push_str(params);
    s.push('>');
    s
}

/// The request as it leaves on one branch: the route's lumps applied, the Request-URI
/// set, Max-Forwards decremented (or added), `received`/`rport` on the sender's Via, our
/// Via on top, Record-Route inserted when asked for (two entries when it changes socket),
/// Content-Length added for streams when missing.
pub fn build_request(ctx: &RouteContext, spec: &ForwardSpec<'_>) -> Vec<u8> {
    let msg = ctx.msg();
    let b = msg.as_bytes();
    let mut extra: Vec<Lump> = Vec::new();
    // Request-URI
    if let Some(u) = msg.request_uri()
        && u.as_bytes(b) != spec.ruri.as_bytes()
    {
        extra.push(Lump::Delete(u.whole));
        extra.push(Lump::Insert {
            at: u.whole.start as usize,
            text: spec.ruri.as_bytes().to_vec(),
        });
    }
    // Max-Forwards, unless process_maxfwd already did it
    if !ctx.maxfwd_processed() {
        match msg
            .headers()
            .iter()
            .find(|h| h.name == HeaderName::MaxForwards)
        {
            Some(h) => {
                let v = msg.max_forwards().unwrap_or(70).saturating_sub(1);
                extra.push(Lump::Delete(h.value));
                extra.push(Lump::Insert {
                    at: h.value.start as usize,
                    text: v.to_string().into_bytes(),
                });
            }
            None => extra.push(Lump::Insert {
                at: msg.headers_end(),
                text: b"Max-Forwards: 70\r\n".to_vec(),
            }),
        }
    }
    // the sender's Via gets received/rport (§18.2.1, RFC 3581)
    let top = msg.top_via();
    let fix = via_fixup(top, b, ctx.source().src);
    if fix.received.is_some() || fix.rport.is_some() {
        let mut fixed = Vec::new();
        write_fixed_via(&mut fixed, top, b, fix);
        extra.push(Lump::Delete(top.span));
        extra.push(Lump::Insert {
            at: top.span.start as usize,
            text: fixed,
        });
    }
    // our Via, first header
    let first_header = msg
        .headers()
        .first()
        .map_or(msg.headers_end(), |h| h.line.start as usize);
    extra.push(Lump::Insert {
        at: first_header,
        text: format!(
            "Via: SIP/2.0/{} {};branch={}\r\n",
            spec.local.transport.via_token(),
            ctx.config().sent_by(&spec.local),
            spec.branch
        )
        .into_bytes(),
    });
    // Record-Route: above any existing one
    if let Some(params) = ctx.record_route_params() {
        let incoming = Listener {
            transport: ctx.source().transport,
            addr: ctx.source().local,
        };
        let at = msg
            .headers()
            .iter()
            .find(|h| h.name == HeaderName::RecordRoute)
            .map_or(first_header, |h| h.line.start as usize);
        let text = if incoming == spec.local {
            format!(
                "Record-Route: {}\r\n",
                rr_uri(ctx, &incoming, false, params)
            )
        } else {
            // the proxy changes socket: one entry for each side (Kamailio's double RR)
            format!(
                "Record-Route: {}\r\nRecord-Route: {}\r\n",
                rr_uri(ctx, &spec.local, true, params),
                rr_uri(ctx, &incoming, true, params)
            )
        };
        extra.push(Lump::Insert {
            at,
            text: text.into_bytes(),
        });
    }
    if spec.hop.transport.is_stream() && msg.content_length().is_none() {
        extra.push(Lump::Insert {
            at: msg.headers_end(),
            text: format!("Content-Length: {}\r\n", msg.body().len()).into_bytes(),
        });
    }
    let mut all = ctx.lumps().clone();
    for l in extra {
        all.push(l);
    }
    all.apply(b)
}

/// The branch parameter of a stateless forward: the same for retransmissions of one
/// request, different for different requests (RFC 3261 §16.11).
pub fn stateless_branch(ctx: &RouteContext, ruri: &str, keys: &impl BuildHasher) -> String {
    let msg = ctx.msg();
    let b = msg.as_bytes();
    let mut_key = (
        msg.top_via().branch(b),
        msg.call_id(),
        msg.cseq().number,
        msg.method_text(),
        ruri,
    );
    let h = {
        let mut hasher = keys.build_hasher();
        mut_key.hash(&mut hasher);
        std::hash::Hasher::finish(&hasher)
    };
    format!("z9hG4bKsl.{h:016x}")
}

/// Where a reply that matches no transaction goes: its top Via must be ours (it is
/// removed); the next Via, with its `received`/`rport`, names the hop. `None` when the
/// reply is not for us, has no next Via, or points at a broadcast or unspecified address.
pub fn stateless_reply_hop(
    msg: &SipMessage,
    is_ours: impl Fn(&[u8], Option<u16>) -> bool,
) -> Option<NextHop> {
    let b = msg.as_bytes();
    let vias = msg.vias();
    let top = vias.first()?;
    if !is_ours(top.host(b), top.port) {
        return None;
    }
    let next = vias.get(1)?;
    let transport = Transport::from_token(next.transport(b))?;
    let ip = match next.received {
        Some(r) => parse_host_ip(r.of(b))?,
        None => parse_host_ip(next.host(b))?,
    };
    let bad = match ip {
        std::net::IpAddr::V4(v4) => v4.is_broadcast() || v4.is_unspecified() || v4.is_multicast(),
        std::net::IpAddr::V6(v6) => v6.is_unspecified() || v6.is_multicast(),
    };
    if bad {
        return None;
    }
    let default = if transport == Transport::Tls {
        5061
    } else {
        5060
    };
    let port = match next.rport {
        Some(Some(p)) => p,
        _ => next.port.unwrap_or(default),
    };
    Some(NextHop {
        transport,
        addr: SocketAddr::new(ip, port),
    })
}
