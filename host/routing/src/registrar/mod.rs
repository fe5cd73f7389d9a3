//! The registrar (RFC 3261 §10.3) and location service: `save`, `lookup`, `registered`,
//! with in-memory tables whose bindings expire.

use crate::branch::{Q, parse_q};
use crate::context::RouteContext;
use crate::env::Listener;
use sipwasm_proto::grammar::Params;
use sipwasm_proto::uri::Uri;
use sipwasm_proto::{HeaderName, Method, NameAddr};

pub(crate) mod location;
pub use location::*;

impl RouteContext {
    fn registrar_reply(&mut self, code: u16, reason: &'static str, extra: &[String]) {
        for h in extra {
            let _ = self.append_to_reply(h);
        }
        let _ = self.send_reply(code, reason);
    }

    /// `save(table)`: process the REGISTER and answer it (200 with the current bindings,
    /// or 400 / 423 / 500 / 403 on error, as Kamailio's registrar does).
    ///
    /// What a binding keeps besides the contact: the socket the REGISTER came in on; the
    /// source address as `received` when the UA is behind NAT (its Contact is not where
    /// the REGISTER came from) or on a stream; the connection, for a UA that registered
    /// over TCP or TLS directly; the Path (RFC 3327) when edge proxies put one in, which
    /// the 200 echoes to a UA that supports it; and the RFC 5626 instance and reg-id: a binding with both is one
    /// flow of that instance, replaced by the instance's next REGISTER with the same
    /// reg-id, and the 200 then says `Require: outbound`.
    pub fn registrar_save(&mut self, table: &str) -> Result<usize, RegistrarError> {
        match self.do_save(table) {
            Ok((bindings, path, outbound)) => {
                let now = self.now_unix;
                let mut headers: Vec<String> = bindings
                    .iter()
                    .map(|b| {
                        format!(
                            "Contact: <{}>;expires={}\r\n",
                            b.contact,
                            b.expires_at.saturating_sub(now)
                        )
                    })
                    .collect();
                // the Path is stored whatever the UA says (an edge proxy adds it; many
                // phones do not say `Supported: path`), and echoed to the UAs that say
                // it (RFC 3327 §5.3; Kamailio's path_mode 1)
                if !path.is_empty() && has_option_tag(&self.msg, b"Supported", "path") {
                    headers.push(format!("Path: {}\r\n", path.join(", ")));
                }
                if outbound {
                    headers.push("Require: outbound\r\n".into());
                }
                headers.push("Supported: path, outbound\r\n".into());
                headers.push(format!("Date: {}\r\n", http_date(now)));
                let n = bindings.len();
                self.registrar_reply(200, "OK", &headers);
                Ok(n)
            }
            Err(e) => {
                match &e {
                    RegistrarError::BadRequest(_) => self.registrar_reply(400, "Bad Request", &[]),
                    RegistrarError::IntervalTooBrief => self.registrar_reply(
                        423,
                        "Interval Too Brief",
                        &[format!("Min-Expires: {MIN_EXPIRES}\r\n")],
                    ),
                    RegistrarError::OutOfOrder => {
                        self.registrar_reply(500, "Server Internal Error", &[])
                    }
                    RegistrarError::TooManyContacts => {
                        self.registrar_reply(403, "Too Many Contacts", &[])
                    }
                    // the shared table cannot be written: never a 200 that stored nothing
                    RegistrarError::Unavailable => self.registrar_reply(
                        503,
                        "Service Unavailable",
                        &["Retry-After: 30\r\n".to_string()],
                    ),
                    _ => {}
                }
                Err(e)
            }
        }
    }

    /// The bindings after the REGISTER, the Path to echo, and whether an outbound flow
    /// was registered.
    fn do_save(
        &mut self,
        table: &str,
    ) -> Result<(Vec<Binding>, Vec<String>, bool), RegistrarError> {
        let msg = self.msg.clone();
        if msg.method() != Method::Register {
            return Err(RegistrarError::NotRegister);
        }
        let b = msg.as_bytes();
        let aor = aor_of(msg.to().uri.as_bytes(b))
            .ok_or_else(|| RegistrarError::BadRequest("To is not a SIP URI".into()))?;
        let now = self.now_unix;
        let header_expires = match msg.header_of(HeaderName::Expires) {
            Some(v) => Some(
                parse_expires(v).ok_or_else(|| RegistrarError::BadRequest("bad Expires".into()))?,
            ),
            None => None,
        };
        let call_id = String::from_utf8_lossy(msg.call_id()).into_owned();
        let cseq = msg.cseq().number;
        let mut path = path_of(&msg)?;
        if !path.is_empty() && !self.path_is_trusted(&path) {
            // a Path steers every request for the contact: only an edge proxy of this
            // deployment (its entry signed with our key) or a listed source may set one,
            // never the phone itself
            path.clear();
        }
        let location = &self.config.location;
        if msg.contact_star() {
            // `Contact: *` with Expires: 0 removes everything (§10.2.2)
            if header_expires != Some(0) {
                return Err(RegistrarError::BadRequest(
                    "Contact: * needs Expires: 0".into(),
                ));
            }
            location.with_aor(table, &aor, |list| {
                list.retain(|b| b.call_id == call_id && b.cseq >= cseq);
                Ok(())
            })?;
            return Ok((location.bindings(table, &aor, now), path, false));
        }
        let src = self.source;
        let socket = Listener {
            transport: src.transport,
            addr: src.local,
        };
        // the UA's own connection, when it talks to us directly over a stream
        let flow = if path.is_empty() { src.conn } else { None };
        let source_uri = crate::rr::Flow::of_source(&src).dst_uri();
        let user_agent = msg
            .header_of(HeaderName::UserAgent)
            .map(|u| String::from_utf8_lossy(u).into_owned());
        let nated = self.nated_register;
        let mut changes = Vec::new();
        for c in msg.contacts() {
            let uri = String::from_utf8_lossy(c.uri.as_bytes(b)).into_owned();
            if !c.uri.scheme.is_sip() && c.uri.scheme != sipwasm_proto::Scheme::Tel {
                return Err(RegistrarError::BadRequest(format!(
                    "unsupported Contact {uri}"
                )));
            }
            let expires = match Params::new(c.params.of(b)).get(b"expires") {
                Some(Some(v)) => parse_expires(v)
                    .ok_or_else(|| RegistrarError::BadRequest("bad expires parameter".into()))?,
                Some(None) => {
                    return Err(RegistrarError::BadRequest("expires without value".into()));
                }
                None => header_expires.unwrap_or(DEFAULT_EXPIRES),
            };
            if expires != 0 && expires < MIN_EXPIRES {
                return Err(RegistrarError::IntervalTooBrief);
            }
            let instance = contact_param(c, b, b"+sip.instance");
            let reg_id = match contact_param(c, b, b"reg-id") {
                Some(v) => Some(
                    v.parse::<u32>()
                        .map_err(|_| RegistrarError::BadRequest(format!("bad reg-id {v:?}")))?,
                ),
                None => None,
            };
            changes.push(Change {
                uri,
                expires: expires.min(MAX_EXPIRES),
                q: q_of(c, b),
                // reg-id only means something with an instance (RFC 5626 §4.2)
                reg_id: reg_id.filter(|_| instance.is_some()),
                instance,
            });
        }
        let outbound = changes.iter().any(|c| c.reg_id.is_some() && c.expires > 0)
            && path.first().is_none_or(|p| path_has_ob(p));
        // with routers sharing the table: who saved it, and for a flow the signed Path
        // entry through which the others reach it
        let owner = location.instance().map(|instance| Owner {
            instance: instance.to_string(),
            flow_path: flow.map(|_| {
                let token = crate::rr::Flow::of_source(&src).token();
                let add = crate::rr::uri::AddPath {
                    user: Some(token),
                    received: false,
                    outbound: true,
                };
                self.path_entry(&socket, &add)
            }),
        });
        location.with_aor(table, &aor, |list| -> Result<(), RegistrarError> {
            for ch in &changes {
                // behind NAT or on a stream, requests go where the REGISTER came from;
                // behind an edge proxy, to the Path
                let received = if !path.is_empty() {
                    None
                } else if nated || src.transport.is_stream() || !contact_is_source(&ch.uri, src.src)
                {
                    Some(source_uri.clone())
                } else {
                    None
                };
                let binding = Binding {
                    contact: ch.uri.clone(),
                    expires_at: now + ch.expires,
                    q: ch.q,
                    call_id: call_id.clone(),
                    cseq,
                    received,
                    path: path.clone(),
                    socket: Some(socket),
                    flow,
                    instance: ch.instance.clone(),
                    reg_id: ch.reg_id,
                    user_agent: user_agent.clone(),
                    owner: owner.clone(),
                };
                let key = contact_key(&ch.uri);
                // an outbound flow is the binding of (instance, reg-id) whatever its
                // Contact (RFC 5626 §6); other bindings are matched by Contact URI
                let same = |b: &Binding| match (&ch.instance, ch.reg_id) {
                    (Some(i), Some(r)) => {
                        b.instance.as_deref() == Some(i.as_str()) && b.reg_id == Some(r)
                    }
                    _ => b.reg_id.is_none() && contact_key(&b.contact) == key,
                };
                match list.iter().position(same) {
                    Some(i) => {
                        let existing = &list[i];
                        if existing.call_id == call_id && cseq <= existing.cseq {
                            return Err(RegistrarError::OutOfOrder);
                        }
                        if ch.expires == 0 {
                            list.remove(i);
                        } else {
                            list[i] = binding;
                        }
                    }
                    None if ch.expires == 0 => {}
                    None => {
                        list.retain(|b| b.expires_at > now);
                        if list.len() >= MAX_CONTACTS {
                            return Err(RegistrarError::TooManyContacts);
                        }
                        list.push(binding);
                    }
                }
            }
            Ok(())
        })?;
        let bindings = location.bindings(table, &aor, now);
        // a connection that carries a registration must stay open as long as it does
        if let Some(conn) = flow
            && let Some(until) = bindings
                .iter()
                .filter(|b| b.flow == Some(conn))
                .map(|b| b.expires_at)
                .max()
        {
            self.keep_flow(conn, until.saturating_sub(now));
        }
        Ok((bindings, path, outbound))
    }

    /// `lookup(table)`: point the request at the contacts registered for its Request-URI,
    /// best q first: the first becomes the main branch (`$ru`, and `$du` when it is
    /// reached through NAT, a connection or a Path), the others branches of the set, each
    /// with its own destination, Path, socket and flow. Returns how many contacts were
    /// found.
    pub fn registrar_lookup(&mut self, table: &str) -> Result<usize, RegistrarError> {
        let ruri = self.current_ruri().ok_or(RegistrarError::NoRequest)?;
        let aor = aor_of(ruri.as_bytes()).ok_or(RegistrarError::NotFound)?;
        let bindings = self.config.location.bindings(table, &aor, self.now_unix);
        let Some(first) = bindings.first() else {
            return Err(RegistrarError::NotFound);
        };
        self.set_main_branch(first.branch());
        for b in &bindings[1..] {
            // past Kamailio's branch limit the lowest-q contacts are left out
            if self.push_branch(b.branch()).is_err() {
                break;
            }
        }
        Ok(bindings.len())
    }

    /// `registered(table)`: true when the Request-URI's AOR (or `uri`'s) has a binding.
    pub fn registrar_registered(&self, table: &str, uri: Option<&str>) -> bool {
        let target = match uri {
            Some(u) => u.to_string(),
            None => match self.current_ruri() {
                Some(u) => u,
                None => return false,
            },
        };
        aor_of(target.as_bytes()).is_some_and(|aor| {
            !self
                .config
                .location
                .bindings(table, &aor, self.now_unix)
                .is_empty()
        })
    }
}

impl RouteContext {
    /// True when a REGISTER's Path may be stored: its first entry is a Path URI signed
    /// with this router's key (an edge proxy of the deployment, `[router] secret`), or the
    /// REGISTER comes from an address of `[registrar] path_from`.
    fn path_is_trusted(&self, path: &[String]) -> bool {
        if self.config.path_from().contains(&self.source.src.ip()) {
            return true;
        }
        let Some(first) = path.first() else {
            return false;
        };
        let b = first.as_bytes();
        let Ok(na) = sipwasm_proto::name_addr::parse_single(b, b) else {
            return false;
        };
        let Some(Some(sig)) = na.uri.param(b, b"sig") else {
            return false;
        };
        let user = na.uri.user(b).unwrap_or_default();
        let received = na
            .uri
            .param(b, b"received")
            .flatten()
            .map(sipwasm_proto::uri::unescape)
            .unwrap_or_default();
        crate::rr::same_sig(
            self.config.sign(&[b"path", user, &received]).as_bytes(),
            sig,
        )
    }
}

/// True when `contact`'s host and port are `src` (the UA is not behind NAT).
fn contact_is_source(contact: &str, src: std::net::SocketAddr) -> bool {
    Uri::parse_standalone(contact.as_bytes()).is_ok_and(|u| {
        let cb = contact.as_bytes();
        sipwasm_proto::reply::parse_host_ip(u.host(cb)) == Some(src.ip())
            && u.port_or_default(cb) == src.port()
    })
}

/// True when a Path entry's URI carries `ob` (the edge proxy does RFC 5626 outbound).
fn path_has_ob(entry: &str) -> bool {
    let b = entry.as_bytes();
    sipwasm_proto::name_addr::parse_single(b, b).is_ok_and(|na| na.uri.param(b, b"ob").is_some())
}

/// RFC 1123 date for `Date` headers.
pub fn http_date(unix: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix / 86_400;
    let secs = unix % 86_400;
    // civil-from-days (Howard Hinnant)
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// What one REGISTER asks of a binding.
struct Change {
    uri: String,
    expires: u64,
    q: Q,
    instance: Option<String>,
    reg_id: Option<u32>,
}

/// The value of a Contact header parameter, quotes removed (`+sip.instance="<urn:...>"`).
fn contact_param(c: &NameAddr, b: &[u8], name: &[u8]) -> Option<String> {
    let v = Params::new(c.params.of(b)).get(name).flatten()?;
    let v = sipwasm_proto::grammar::trim(v);
    let v = if v.len() >= 2 && v[0] == b'"' && v[v.len() - 1] == b'"' {
        &v[1..v.len() - 1]
    } else {
        v
    };
    Some(String::from_utf8_lossy(v).into_owned())
}

/// The entries of every `Path` header of `msg`, as name-addr texts, in order.
fn path_of(msg: &sipwasm_proto::SipMessage) -> Result<Vec<String>, RegistrarError> {
    let b = msg.as_bytes();
    let mut out = Vec::new();
    for v in msg.headers_named(b"Path") {
        let mut list = Vec::new();
        sipwasm_proto::name_addr::parse_list(b, v, true, &mut list)
            .map_err(|e| RegistrarError::BadRequest(format!("bad Path: {e}")))?;
        out.extend(
            list.iter()
                .map(|na| String::from_utf8_lossy(na.span.of(b)).into_owned()),
        );
    }
    Ok(out)
}

fn q_of(c: &NameAddr, b: &[u8]) -> Q {
    Params::new(c.params.of(b))
        .get(b"q")
        .flatten()
        .and_then(|q| parse_q(std::str::from_utf8(q).ok()?))
        .unwrap_or(1000)
}

/// A key comparing two contact URIs the way that matters for bindings: scheme, user,
/// host (case-insensitive), port.
fn contact_key(uri: &str) -> String {
    let b = uri.as_bytes();
    match Uri::parse_standalone(b) {
        Ok(u) => format!(
            "{}:{}@{}:{}",
            String::from_utf8_lossy(u.scheme_span.of(b)).to_ascii_lowercase(),
            String::from_utf8_lossy(u.user(b).unwrap_or_default()),
            String::from_utf8_lossy(u.host(b)).to_ascii_lowercase(),
            u.port_or_default(b)
        ),
        Err(_) => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{Listener, LocalConfig, Source};
    use bytes::Bytes;
    use sipwasm_proto::{SipMessage, Transport};
    use std::sync::Arc;

    use crate::context::fixtures::cfg;

    fn ctx(cfg: &Arc<LocalConfig>, text: &str, now: u64) -> RouteContext {
        let msg = SipMessage::parse_slice(text.as_bytes()).unwrap();
        RouteContext::new(
            cfg.clone(),
            msg,
            Source {
                transport: Transport::Udp,
                src: "127.0.0.1:5070".parse().unwrap(),
                local: "127.0.0.1:5060".parse().unwrap(),
                conn: None,
            },
            now,
        )
    }

    fn register(contact: &str, extra: &str, cseq: u32) -> String {
        format!(
            "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{cseq}\r\n\
From: <sip:alice@example.com>;tag=a\r\nTo: <sip:alice@example.com>\r\nCall-ID: reg-1\r\n\
CSeq: {cseq} REGISTER\r\nContact: {contact}\r\n{extra}Content-Length: 0\r\n\r\n"
        )
    }

    fn reply(c: &mut RouteContext) -> SipMessage {
        SipMessage::parse(c.take_outbound().pop().expect("a reply").data).unwrap()
    }

    #[test]
    fn save_lookup_expire() {
        let cfg = cfg();
        let mut c = ctx(
            &cfg,
            &register("<sip:alice@127.0.0.1:5070>;q=0.5", "Expires: 120\r\n", 1),
            1000,
        );
        assert_eq!(c.registrar_save("location"), Ok(1));
        let r = reply(&mut c);
        assert_eq!(r.status(), Some(200));
        assert_eq!(
            r.header(b"Contact"),
            Some(&b"<sip:alice@127.0.0.1:5070>;expires=120"[..])
        );
        // a second contact with a higher q
        let mut c = ctx(
            &cfg,
            &register("<sip:alice@127.0.0.1:5071>;q=0.9;expires=300", "", 2),
            1000,
        );
        assert_eq!(c.registrar_save("location"), Ok(2));
        // lookup: the best contact is the R-URI, the other a branch; 127.0.0.1:5071 is not
        // where the REGISTER came from, so $du points at the source (NAT)
        let invite = "INVITE sip:alice@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bKi\r\n\
From: <sip:bob@example.com>;tag=b\r\nTo: <sip:alice@example.com>\r\nCall-ID: inv\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        let mut c = ctx(&cfg, invite, 1001);
        assert_eq!(c.registrar_lookup("location"), Ok(2));
        assert_eq!(c.current_ruri().unwrap(), "sip:alice@127.0.0.1:5071");
        assert_eq!(c.dst_uri(), Some("sip:127.0.0.1:5070;transport=udp"));
        let uris: Vec<&str> = c.branches().iter().map(|b| b.uri.as_str()).collect();
        assert_eq!(uris, ["sip:alice@127.0.0.1:5070"]);
        assert!(c.registrar_registered("location", Some("sip:alice@example.com")));
        assert!(!c.registrar_registered("other", Some("sip:alice@example.com")));
        // after 120 s only the second remains; after 300 s nothing
        let mut c = ctx(&cfg, invite, 1121);
        assert_eq!(c.registrar_lookup("location"), Ok(1));
        let mut c = ctx(&cfg, invite, 1301);
        assert_eq!(
            c.registrar_lookup("location"),
            Err(RegistrarError::NotFound)
        );
        assert_eq!(cfg.location.purge(1301), 0, "lookup already dropped them");
    }

    #[test]
    fn unregister_star_and_errors() {
        let cfg = cfg();
        let mut c = ctx(&cfg, &register("<sip:alice@127.0.0.1:5070>", "", 1), 0);
        c.registrar_save("location").unwrap();
        // out-of-order REGISTER (same Call-ID, lower CSeq): 500
        let mut c = ctx(&cfg, &register("<sip:alice@127.0.0.1:5070>", "", 1), 1);
        assert_eq!(
            c.registrar_save("location"),
            Err(RegistrarError::OutOfOrder)
        );
        assert_eq!(reply(&mut c).status(), Some(500));
        // too brief: 423 with Min-Expires
        let mut c = ctx(
            &cfg,
            &register("<sip:alice@127.0.0.1:5070>;expires=10", "", 5),
            1,
        );
        assert_eq!(
            c.registrar_save("location"),
            Err(RegistrarError::IntervalTooBrief)
        );
        let r = reply(&mut c);
        assert_eq!(r.status(), Some(423));
        assert_eq!(r.header(b"Min-Expires"), Some(&b"60"[..]));
        // Contact: * without Expires: 0 is a 400; with it, everything goes
        let mut c = ctx(&cfg, &register("*", "", 6), 2);
        assert!(c.registrar_save("location").is_err());
        assert_eq!(reply(&mut c).status(), Some(400));
        let mut c = ctx(&cfg, &register("*", "Expires: 0\r\n", 7), 2);
        assert_eq!(c.registrar_save("location"), Ok(0));
        assert_eq!(reply(&mut c).header(b"Contact"), None);
    }

    #[test]
    fn rfc4475_contact_forms() {
        // cparam01: addr-spec, `unknownparam` belongs to the header: the URI has no params
        let cfg = cfg();
        let mut c = ctx(
            &cfg,
            &register("sip:+19725552222@gw1.example.net;unknownparam", "", 1),
            0,
        );
        c.registrar_save("location").unwrap();
        let b = cfg.location.bindings("location", "alice@example.com", 0);
        assert_eq!(b[0].contact, "sip:+19725552222@gw1.example.net");
        // cparam02: in <>, the parameter belongs to the URI
        let cfg2 = super::tests::cfg();
        let mut c = ctx(
            &cfg2,
            &register("<sip:+19725552222@gw1.example.net;unknownparam>", "", 1),
            0,
        );
        c.registrar_save("location").unwrap();
        let b = cfg2.location.bindings("location", "alice@example.com", 0);
        assert_eq!(
            b[0].contact,
            "sip:+19725552222@gw1.example.net;unknownparam"
        );
        // regescrt: URI headers are kept in the binding, dropped from the Request-URI
        let cfg3 = super::tests::cfg();
        let mut c = ctx(
            &cfg3,
            &register(
                "<sip:user@example.com?Route=%3Csip:sip.example.com%3E>",
                "",
                1,
            ),
            0,
        );
        c.registrar_save("location").unwrap();
        let b = cfg3.location.bindings("location", "alice@example.com", 0);
        assert_eq!(
            b[0].contact,
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E"
        );
        let invite = "INVITE sip:alice@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bKi\r\n\
From: <sip:bob@example.com>;tag=b\r\nTo: <sip:alice@example.com>\r\nCall-ID: inv\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        let mut c = ctx(&cfg3, invite, 1);
        c.registrar_lookup("location").unwrap();
        assert_eq!(c.current_ruri().unwrap(), "sip:user@example.com");
    }

    fn ctx_from(cfg: &Arc<LocalConfig>, text: &str, now: u64, source: Source) -> RouteContext {
        let msg = SipMessage::parse_slice(text.as_bytes()).unwrap();
        RouteContext::new(cfg.clone(), msg, source, now)
    }

    const INVITE: &str = "INVITE sip:alice@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bKi\r\n\
From: <sip:bob@example.com>;tag=b\r\nTo: <sip:alice@example.com>\r\nCall-ID: inv\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn every_contact_keeps_its_own_nat_address_socket_and_flow() {
        let cfg = cfg();
        // a phone behind NAT registers over UDP: private Contact, public source
        let nat = Source {
            transport: Transport::Udp,
            src: "198.51.100.7:40001".parse().unwrap(),
            local: "127.0.0.1:5060".parse().unwrap(),
            conn: None,
        };
        let mut c = ctx_from(
            &cfg,
            &register("<sip:alice@192.168.1.5:5060>;q=0.5", "", 1),
            0,
            nat,
        );
        c.registrar_save("location").unwrap();
        // a second device over TCP: its connection is its flow
        let tcp = Source {
            transport: Transport::Tcp,
            src: "198.51.100.8:51000".parse().unwrap(),
            local: "127.0.0.1:5061".parse().unwrap(),
            conn: Some(42),
        };
        let mut c = ctx_from(
            &cfg,
            &register("<sip:alice@10.1.1.9:5060;transport=tcp>", "", 1)
                .replace("Call-ID: reg-1", "Call-ID: reg-2"),
            0,
            tcp,
        );
        c.registrar_save("location").unwrap();
        assert_eq!(c.take_keep_flows(), [(42, DEFAULT_EXPIRES)]);
        // lookup: each branch has its own destination; the second device (q=1) first
        let mut c = ctx(&cfg, INVITE, 1);
        assert_eq!(c.registrar_lookup("location"), Ok(2));
        let main = c.main_branch();
        assert_eq!(main.uri, "sip:alice@10.1.1.9:5060;transport=tcp");
        assert_eq!(
            main.dst_uri.as_deref(),
            Some("sip:198.51.100.8:51000;transport=tcp")
        );
        assert_eq!(main.conn, Some(42));
        assert!(main.no_connect);
        assert_eq!(main.socket.unwrap().addr, "127.0.0.1:5061".parse().unwrap());
        let other = &c.branches()[0];
        assert_eq!(other.uri, "sip:alice@192.168.1.5:5060");
        assert_eq!(
            other.dst_uri.as_deref(),
            Some("sip:198.51.100.7:40001;transport=udp"),
            "the second contact keeps its received address too"
        );
        assert_eq!(other.q, Some(500));
        assert!(!other.no_connect);
        // a phone that is not behind NAT is reached at its Contact
        let cfg = super::tests::cfg();
        let mut c = ctx(&cfg, &register("<sip:alice@127.0.0.1:5070>", "", 1), 0);
        c.registrar_save("location").unwrap();
        let mut c = ctx(&cfg, INVITE, 1);
        c.registrar_lookup("location").unwrap();
        assert_eq!(c.dst_uri(), None);
        // ... unless the route says it is (fix_nated_register)
        let mut c = ctx(&cfg, &register("<sip:alice@127.0.0.1:5070>", "", 2), 0);
        c.fix_nated_register().unwrap();
        c.registrar_save("location").unwrap();
        let mut c = ctx(&cfg, INVITE, 1);
        c.registrar_lookup("location").unwrap();
        assert_eq!(c.dst_uri(), Some("sip:127.0.0.1:5070;transport=udp"));
    }

    #[test]
    fn path_is_stored_echoed_and_routed() {
        // a phone cannot set a Path: it would steer every request for its contact
        let cfg = cfg();
        let phone = Source {
            transport: Transport::Udp,
            src: "198.51.100.7:40001".parse().unwrap(),
            local: "127.0.0.1:5060".parse().unwrap(),
            conn: None,
        };
        let own = "Path: <sip:10.0.0.5:5060;lr>\r\nSupported: path\r\n";
        let mut c = ctx_from(&cfg, &register("<sip:alice@192.168.1.5>", own, 1), 0, phone);
        c.registrar_save("location").unwrap();
        assert_eq!(reply(&mut c).header(b"Path"), None);
        let b = &cfg.location.bindings("location", "alice@example.com", 0)[0];
        assert!(b.path.is_empty());
        assert_eq!(
            b.received.as_deref(),
            Some("sip:198.51.100.7:40001;transport=udp")
        );
        // an edge proxy of another make, listed in [registrar] path_from
        let cfg = Arc::new(
            LocalConfig::new(
                vec![Listener {
                    transport: Transport::Udp,
                    addr: "127.0.0.1:5060".parse().unwrap(),
                }],
                Vec::new(),
                None,
            )
            .with_path_from(vec!["10.9.9.9".parse().unwrap()]),
        );
        let edge = Source {
            transport: Transport::Udp,
            src: "10.9.9.9:5060".parse().unwrap(),
            local: "127.0.0.1:5060".parse().unwrap(),
            conn: None,
        };
        let path = "Path: <sip:edge.example.com;lr;received=sip:198.51.100.7:40001>\r\n";
        // without Supported: path, the Path is stored but not echoed
        let mut c = ctx_from(&cfg, &register("<sip:alice@192.168.1.5>", path, 1), 0, edge);
        c.registrar_save("location").unwrap();
        let r = reply(&mut c);
        assert_eq!(r.status(), Some(200));
        assert_eq!(r.header(b"Path"), None);
        assert_eq!(
            cfg.location.bindings("location", "alice@example.com", 0)[0]
                .path
                .len(),
            1
        );
        let with_support =
            format!("{path}Supported: path, outbound\r\nPath: <sip:p2.example.com;lr>\r\n");
        let mut c = ctx_from(
            &cfg,
            &register("<sip:alice@192.168.1.5>", &with_support, 2),
            0,
            edge,
        );
        c.registrar_save("location").unwrap();
        let r = reply(&mut c);
        assert_eq!(r.status(), Some(200));
        assert_eq!(
            r.header(b"Path"),
            Some(
                &b"<sip:edge.example.com;lr;received=sip:198.51.100.7:40001>, <sip:p2.example.com;lr>"[..]
            )
        );
        assert_eq!(r.header(b"Require"), None, "no reg-id: no outbound");
        // lookup: $du is the first Path hop, the whole Path goes in front as Route
        let mut c = ctx(&cfg, INVITE, 1);
        c.registrar_lookup("location").unwrap();
        let b = c.main_branch();
        assert_eq!(
            b.dst_uri.as_deref(),
            Some("sip:edge.example.com;lr;received=sip:198.51.100.7:40001")
        );
        assert_eq!(b.path.len(), 2);
        assert!(!b.no_connect, "the edge proxy is an ordinary next hop");
        let out = crate::forward::build_request(
            &c,
            &crate::forward::ForwardSpec {
                ruri: &b.uri,
                path: &b.path,
                hop: crate::services::NextHop {
                    transport: Transport::Udp,
                    addr: "10.9.9.9:5060".parse().unwrap(),
                },
                local: crate::env::Listener {
                    transport: Transport::Udp,
                    addr: "127.0.0.1:5060".parse().unwrap(),
                },
                branch: "z9hG4bKx",
            },
        );
        let out = SipMessage::parse(Bytes::from(out)).unwrap();
        assert_eq!(out.routes().len(), 2);
        assert!(
            out.header(b"Route")
                .unwrap()
                .starts_with(b"<sip:edge.example.com;lr")
        );
    }

    #[test]
    fn outbound_flows_by_instance_and_reg_id() {
        let cfg = cfg();
        let contact = |port: u16, reg_id: u32| {
            format!(
                "<sip:alice@192.168.1.5:{port};transport=tcp;ob>;reg-id={reg_id};+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\""
            )
        };
        let src = |conn: u64| Source {
            transport: Transport::Tcp,
            src: "198.51.100.7:50000".parse().unwrap(),
            local: "127.0.0.1:5061".parse().unwrap(),
            conn: Some(conn),
        };
        let mut c = ctx_from(
            &cfg,
            &register(&contact(5060, 1), "Supported: outbound, path\r\n", 1),
            0,
            src(1),
        );
        c.registrar_save("location").unwrap();
        let r = reply(&mut c);
        assert_eq!(r.header(b"Require"), Some(&b"outbound"[..]));
        // the same instance and reg-id over a new connection (another Contact port): the
        // flow is replaced, not added
        let mut c = ctx_from(
            &cfg,
            &register(&contact(5062, 1), "", 1).replace("Call-ID: reg-1", "Call-ID: reg-9"),
            0,
            src(2),
        );
        c.registrar_save("location").unwrap();
        let b = cfg.location.bindings("location", "alice@example.com", 0);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].flow, Some(2));
        assert_eq!(b[0].reg_id, Some(1));
        // a second flow of the instance (reg-id 2): a second binding
        let mut c = ctx_from(&cfg, &register(&contact(5064, 2), "", 3), 0, src(3));
        c.registrar_save("location").unwrap();
        assert_eq!(
            cfg.location
                .bindings("location", "alice@example.com", 0)
                .len(),
            2
        );
        assert!(matches!(
            ctx_from(
                &cfg,
                &register("<sip:a@h>;reg-id=x;+sip.instance=\"<urn:x>\"", "", 4),
                0,
                src(3)
            )
            .registrar_save("location"),
            Err(RegistrarError::BadRequest(_))
        ));
    }

    #[test]
    fn dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(1_129_351_496), "Sat, 15 Oct 2005 04:44:56 GMT");
        assert!(sipwasm_proto::values::check_date(http_date(1_795_444_015).as_bytes()).is_ok());
    }
}
