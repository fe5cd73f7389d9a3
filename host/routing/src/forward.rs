//! `forward`: the request a proxy sends on (RFC 3261 §16.6), built for `t_relay`'s
//! branches and sent statelessly by `forward`; replies forwarded statelessly (§16.11).

use crate::context::{RouteContext, Transmit};
use crate::tm::TmError;
use bytes::Bytes;

use crate::env::Listener;
use crate::lumps::Edit;
use crate::rr::write_rr_uri;
use crate::services::NextHop;
use sipwasm_proto::Span;
use sipwasm_proto::reply::{parse_host_ip, via_fixup_rport, write_fixed_via};
use sipwasm_proto::{HeaderName, SipMessage, Transport};
use std::hash::{BuildHasher, Hash};
use std::io::Write as _;
use std::net::SocketAddr;

/// How to forward one copy of the request.
#[derive(Clone, Debug)]
pub struct ForwardSpec<'a> {
    /// The Request-URI it goes out with.
    pub ruri: &'a str,
    /// Route entries put in front of the request's Route set (a binding's Path).
    pub path: &'a [String],
    /// Where it goes.
    pub hop: NextHop,
    /// The local socket it leaves from.
    pub local: Listener,
    /// Our Via branch parameter.
    pub branch: &'a str,
}

/// The request as it leaves on one branch: the route's lumps applied, the Request-URI
/// set, Max-Forwards decremented (or added), `received`/`rport` on the sender's Via, our
/// Via on top, Record-Route inserted when asked for (two entries when it changes socket),
/// Content-Length added for streams when missing.
pub fn build_request(ctx: &RouteContext, spec: &ForwardSpec<'_>) -> Vec<u8> {
    let msg = ctx.msg();
    let b = msg.as_bytes();
    // the texts this adds, written one after another into `scratch`; the edits borrow
    // them once it is complete
    let mut scratch: Vec<u8> = Vec::with_capacity(256);
    let mut inserts: Vec<(usize, std::ops::Range<usize>)> = Vec::with_capacity(6);
    let mut deletes: Vec<Span> = Vec::with_capacity(3);
    let mut insert = |at: usize, scratch: &mut Vec<u8>, write: &dyn Fn(&mut Vec<u8>)| {
        let from = scratch.len();
        write(scratch);
        inserts.push((at, from..scratch.len()));
    };
    // Request-URI
    let ruri = sipwasm_proto::uri::as_request_uri(spec.ruri);
    if let Some(u) = msg.request_uri()
        && u.as_bytes(b) != ruri.as_bytes()
    {
        deletes.push(u.whole);
        insert(u.whole.start as usize, &mut scratch, &|s| {
            s.extend_from_slice(ruri.as_bytes())
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
                deletes.push(h.value);
                insert(h.value.start as usize, &mut scratch, &|s| {
                    write!(s, "{v}").expect("writing to a Vec")
                });
            }
            None => insert(msg.headers_end(), &mut scratch, &|s| {
                s.extend_from_slice(b"Max-Forwards: 70\r\n")
            }),
        }
    }
    // the sender's Via gets received/rport (§18.2.1, RFC 3581)
    let top = msg.top_via();
    let fix = via_fixup_rport(top, b, ctx.source().src, ctx.forces_rport());
    if fix.received.is_some() || fix.rport.is_some() {
        deletes.push(top.span);
        insert(top.span.start as usize, &mut scratch, &|s| {
            write_fixed_via(s, top, b, fix)
        });
    }
    // our Via, first header
    let first_header = msg
        .headers()
        .first()
        .map_or(msg.headers_end(), |h| h.line.start as usize);
    insert(first_header, &mut scratch, &|s| {
        s.extend_from_slice(b"Via: SIP/2.0/");
        s.extend_from_slice(spec.local.transport.via_token().as_bytes());
        s.push(b' ');
        s.extend_from_slice(ctx.sent_by(&spec.local).as_bytes());
        s.extend_from_slice(b";branch=");
        s.extend_from_slice(spec.branch.as_bytes());
        s.extend_from_slice(b"\r\n");
    });
    // Record-Route: above any existing one
    if let Some(rr) = ctx.record_route_params() {
        let incoming = Listener {
            transport: ctx.source().transport,
            addr: ctx.source().local,
        };
        let at = msg
            .headers()
            .iter()
            .find(|h| h.name == HeaderName::RecordRoute)
            .map_or(first_header, |h| h.line.start as usize);
        insert(at, &mut scratch, &|s| {
            if incoming == spec.local {
                s.extend_from_slice(b"Record-Route: ");
                // one socket: `set_advertised_address` names it (a router behind 1:1 NAT)
                write_rr_uri(
                    s,
                    &incoming,
                    &ctx.sent_by(&incoming),
                    false,
                    rr,
                    ctx.uac_rr_params(),
                );
                s.extend_from_slice(b"\r\n");
            } else {
                // the proxy changes socket: one entry for each side (Kamailio's double
                // RR); the outgoing side's follows `set_advertised_address`, the
                // incoming side's is what the sender reached
                s.extend_from_slice(b"Record-Route: ");
                write_rr_uri(
                    s,
                    &spec.local,
                    &ctx.sent_by(&spec.local),
                    true,
                    rr,
                    ctx.uac_rr_params(),
                );
                s.extend_from_slice(b"\r\nRecord-Route: ");
                write_rr_uri(
                    s,
                    &incoming,
                    &ctx.config().sent_by(&incoming),
                    true,
                    rr,
                    ctx.uac_rr_params(),
                );
                s.extend_from_slice(b"\r\n");
            }
        });
    }
    // add_path: our Path entry above the ones already there, naming the socket this
    // copy leaves from (RFC 3327 §5.1)
    if let Some(add) = ctx.add_path_request() {
        let at = msg
            .headers()
            .iter()
            .find(|h| h.name_span.of(b).eq_ignore_ascii_case(b"Path"))
            .map_or(msg.headers_end(), |h| h.line.start as usize);
        let entry = ctx.path_entry(&spec.local, add);
        insert(at, &mut scratch, &|s| {
            s.extend_from_slice(b"Path: ");
            s.extend_from_slice(entry.as_bytes());
            s.extend_from_slice(b"\r\n");
        });
    }
    // the branch's Path: a Route set in front of the request's own (RFC 3327 §5.3)
    if !spec.path.is_empty() {
        let at = msg
            .headers()
            .iter()
            .find(|h| h.name == HeaderName::Route)
            .map_or(first_header, |h| h.line.start as usize);
        insert(at, &mut scratch, &|s| {
            s.extend_from_slice(b"Route: ");
            for (i, p) in spec.path.iter().enumerate() {
                if i > 0 {
                    s.extend_from_slice(b", ");
                }
                s.extend_from_slice(p.as_bytes());
            }
            s.extend_from_slice(b"\r\n");
        });
    }
    // uac_auth's credentials for the next hop's challenge
    if let Some(line) = ctx.uac_credentials() {
        insert(msg.headers_end(), &mut scratch, &|s| {
            s.extend_from_slice(line.as_bytes())
        });
    }
    // (a new body brings its own Content-Length)
    if spec.hop.transport.is_stream()
        && msg.content_length().is_none()
        && ctx.lumps().body().is_none()
    {
        insert(msg.headers_end(), &mut scratch, &|s| {
            write!(s, "Content-Length: {}\r\n", msg.body().len()).expect("writing to a Vec")
        });
    }
    let edits: Vec<Edit<'_>> = deletes
        .into_iter()
        .map(Edit::Delete)
        .chain(
            inserts
                .into_iter()
                .map(|(at, r)| Edit::Insert(at, &scratch[r])),
        )
        .collect();
    ctx.lumps().apply_with(b, &edits)
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

impl RouteContext {
    /// `forward` / `forward_uri(uri)`: send the request on statelessly (RFC 3261 §16.11)
    /// to `dst`, else the main branch's `$du`, else its Request-URI.
    pub fn forward(&mut self, dst: Option<&str>) -> Result<(), TmError> {
        if !self.msg.is_request() {
            return Err(TmError::NoRequest);
        }
        self.check_not_refused()?;
        self.check_hops()?;
        let branch = self.main_branch();
        let target = dst.or(branch.dst_uri.as_deref()).unwrap_or(&branch.uri);
        let mut hops = self.resolve_all(target)?;
        if !self.keep_reachable(&mut hops) {
            return Err(self.leaves_dialog(hops[0].addr));
        }
        let hop = hops[0];
        let local = self.send_socket(&hop, branch.socket).ok_or_else(|| {
            TmError::NoDestination(format!("no {} socket for {}", hop.transport, hop.addr))
        })?;
        let stateless = stateless_branch(self, &branch.uri, self.config.hash_keys());
        let data = build_request(
            self,
            &ForwardSpec {
                ruri: &branch.uri,
                path: &branch.path,
                hop,
                local,
                branch: &stateless,
            },
        );
        self.outbound.push(Transmit {
            transport: hop.transport,
            dest: hop.addr,
            local: local.addr,
            conn: branch.conn,
            data: Bytes::from(data),
            flags: sipwasm_proto::transport::StreamFlags {
                no_connect: branch.no_connect,
                ..Default::default()
            },
        });
        Ok(())
    }
}
