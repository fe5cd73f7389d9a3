//! What the fuzz targets share: a router identity, a source address, and walks over
//! every accessor of a parsed message, so a target reaches the lazy parsers behind them.
//!
//! The targets assert the router's own invariants besides "no panic": a request or reply
//! the router builds from a message it accepted parses again.

use bytes::Bytes;
use sipwasm_proto::{SipMessage, Transport, uri};
use sipwasm_routing::pv::PvSpec;
use sipwasm_routing::{Alias, Listener, LocalConfig, Transmit, RouteContext, Source};
use std::sync::{Arc, OnceLock};

/// A fresh identity: UDP and TCP listeners on 10.0.0.1:5060, alias `proxy.example.com`.
/// Fresh per input where a target writes into its tables (location, dialogs, nonces).
pub fn new_config() -> Arc<LocalConfig> {
    Arc::new(
        LocalConfig::new(
            vec![
                Listener {
                    transport: Transport::Udp,
                    addr: "10.0.0.1:5060".parse().expect("address"),
                },
                Listener {
                    transport: Transport::Tcp,
                    addr: "10.0.0.1:5060".parse().expect("address"),
                },
            ],
            vec![Alias {
                host: "proxy.example.com".into(),
                port: None,
            }],
            Some("sipwasm-fuzz".into()),
        )
        .with_secret(b"fuzz"),
    )
}

/// One identity for targets that only read.
pub fn shared_config() -> Arc<LocalConfig> {
    static CFG: OnceLock<Arc<LocalConfig>> = OnceLock::new();
    CFG.get_or_init(new_config).clone()
}

/// A UDP source behind NAT (private Contact addresses differ from it).
pub fn source() -> Source {
    Source {
        transport: Transport::Udp,
        src: "192.0.2.1:40000".parse().expect("address"),
        local: "10.0.0.1:5060".parse().expect("address"),
        conn: None,
    }
}

/// Pseudo-variables a route reads, with transformations over every header the router
/// parses lazily.
pub const PVS: &[&str] = &[
    "$rm",
    "$ru",
    "$rU",
    "$rd",
    "$rp",
    "$rz",
    "$rv",
    "$du",
    "$si",
    "$sp",
    "$Ri",
    "$Rp",
    "$pr",
    "$fu",
    "$fU",
    "$fd",
    "$ft",
    "$fn",
    "$tu",
    "$tU",
    "$td",
    "$tt",
    "$tn",
    "$ci",
    "$cs",
    "$ua",
    "$ml",
    "$mb",
    "$rb",
    "$rs",
    "$rr",
    "$ct",
    "$cl",
    "$cT",
    "$mf",
    "$Ts",
    "$au",
    "$ar",
    "$hdr(Via)",
    "$(hdr(Via)[1])",
    "$(hdr(Via)[-1])",
    "$(hdr(Route)[*])",
    "$hdrc(Via)",
    "$hdrc(Contact)",
    "$hdr(Expires)",
    "$hdr(Authorization)",
    "$(ct{tobody.uri}{uri.host})",
    "$(ct{nameaddr.name})",
    "$(ct{tobody.params})",
    "$(fu{uri.user})",
    "$(ru{uri.param,transport})",
    "$(ru{uri.params}{param.count,;})",
    "$(ru{uri.headers})",
    "$(ru{uri.maddr})",
    "$(ru{uri.passwd})",
    "$(tu{uri.port})",
    "$(hdr(Record-Route){nameaddr.uri}{uri.lr})",
    "$(hdr(Route)[0]{tobody.user})",
    "$(hdr(Via){s.select,1,;}{param.value,branch})",
    "$(rb{s.len})",
    "$(rb{s.substr,1,3})",
    "$(ci{s.toupper}{s.strip,2})",
    "$(ct{tobody.display}{s.trim})",
    "$(hdr(From){tobody.tag}{s.int})",
    "$(hdr(X){s.replace,a,b}{s.striptail,1})",
    "$(hdr(To){param.valueat,0}{s.rm,x})",
    "$(hdr(X){param.in,a,;})",
];

/// The parsed specs of [`PVS`].
pub fn pv_specs() -> &'static [PvSpec] {
    static SPECS: OnceLock<Vec<PvSpec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        PVS.iter()
            .map(|s| PvSpec::parse(s).unwrap_or_else(|e| panic!("{s}: {e}")))
            .collect()
    })
}

/// Call every accessor of `msg` (and of its URIs and parameters).
pub fn touch_message(msg: &SipMessage) {
    let b = msg.as_bytes();
    let _ = (
        msg.first_line(),
        msg.method(),
        msg.method_text(),
        msg.status(),
        msg.reason(),
    );
    if let Some(u) = msg.request_uri() {
        touch_uri(u, b);
    }
    for h in msg.headers() {
        let name = msg.text(h.name_span);
        let _ = msg.header(name);
        let _ = msg.headers_named(name).count();
        let _ = sipwasm_proto::header::HeaderName::from_bytes(name);
    }
    for v in msg.vias() {
        let _ = (
            v.branch(b),
            v.has_rfc3261_branch(b),
            v.transport(b),
            v.host(b),
        );
        let _ = (v.param(b, b"received"), v.param(b, b"alias"));
    }
    for na in [msg.from(), msg.to()]
        .into_iter()
        .chain(msg.contacts())
        .chain(msg.routes())
        .chain(msg.record_routes())
    {
        let _ = (na.tag(b), na.display_name(b), na.param(b, b"expires"));
        touch_uri(&na.uri, b);
    }
    let _ = (
        msg.call_id(),
        msg.cseq(),
        msg.max_forwards(),
        msg.content_length(),
    );
    let _ = (msg.contact_star(), msg.body(), msg.headers_end());
}

fn touch_uri(u: &sipwasm_proto::Uri, b: &[u8]) {
    let _ = (
        u.user(b),
        u.password(b),
        u.host(b),
        u.port_or_default(b),
        u.headers(b),
    );
    let _ = (
        u.param(b, b"transport"),
        u.param(b, b"maddr"),
        u.scheme.is_sip(),
    );
    for (name, value) in uri::uri_params(u.params(b)) {
        let _ = uri::unescape(name);
        let _ = value.map(uri::unescape);
    }
}

/// Read every pseudo-variable of [`PVS`].
pub fn read_pvs(ctx: &RouteContext) {
    for spec in pv_specs() {
        let _ = ctx.pv_get(spec);
    }
}

/// Everything `ctx` queued to send must be SIP that parses again (for the stream
/// transports too: the framer finds its end).
pub fn check_outbound(out: Vec<Transmit>, what: &str) {
    for o in out {
        if let Err(e) = SipMessage::parse(o.data.clone()) {
            panic!(
                "{what}: the router built a message it cannot parse ({e}):\n{}",
                String::from_utf8_lossy(&o.data)
            );
        }
    }
}

/// `data` as one message, when it parses.
pub fn parse(data: &[u8]) -> Option<SipMessage> {
    SipMessage::parse(Bytes::copy_from_slice(data)).ok()
}

/// The 400 (413, 505 ...) the router sends to a message it could not parse copies the headers it could
/// read (a request without To gets a reply without To): it need not be valid SIP, but it
/// must be one whole message a stream framer cuts out exactly, with nothing smuggled after.
pub fn check_reply_to_malformed(out: &Transmit) {
    let mut framer = sipwasm_proto::framing::StreamFramer::new(usize::MAX / 4);
    let mut buf = bytes::BytesMut::from(&out.data[..]);
    let text = || String::from_utf8_lossy(&out.data).into_owned();
    let code = out.data.get(8..12);
    assert!(
        out.data.starts_with(b"SIP/2.0 ") && matches!(code, Some([b'4' | b'5', _, _, b' '])),
        "not an error reply:\n{}",
        text()
    );
    match framer.decode(&mut buf) {
        Ok(Some(sipwasm_proto::framing::Frame::Message(m))) if buf.is_empty() => {
            assert_eq!(m.len(), out.data.len(), "{}", text())
        }
        other => panic!("the reply is not one message ({other:?}):\n{}", text()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pv_target_s_message_parses() {
        let text = include_bytes!("../seeds/pv-message.sip");
        if let Err(e) = sipwasm_proto::SipMessage::parse(bytes::Bytes::from_static(text)) {
            panic!("{e}");
        }
    }
}
