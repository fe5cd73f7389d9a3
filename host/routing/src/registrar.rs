//! The registrar (RFC 3261 §10.3) and location service: `save`, `lookup`, `registered`,
//! with in-memory tables whose bindings expire.

use crate::context::RouteContext;
use sipwasm_proto::grammar::Params;
use sipwasm_proto::uri::Uri;
use sipwasm_proto::values::parse_decimal;
use sipwasm_proto::{HeaderName, Method, NameAddr};
use std::collections::HashMap;
use std::sync::Mutex;

/// Expiry when the REGISTER gives none (seconds).
pub const DEFAULT_EXPIRES: u64 = 3600;
/// Shortest registration accepted; shorter non-zero ones get 423 (seconds).
pub const MIN_EXPIRES: u64 = 60;
/// Longest registration granted (seconds).
pub const MAX_EXPIRES: u64 = 86_400;
/// Most contacts per address-of-record.
pub const MAX_CONTACTS: usize = 16;

/// One registered contact.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    /// The Contact URI (as registered, URI headers included).
    pub contact: String,
    /// Unix time it expires.
    pub expires_at: u64,
    /// `q` preference, 0.0 to 1.0.
    pub q: f32,
    /// Call-ID of the REGISTER that made it.
    pub call_id: String,
    /// CSeq of that REGISTER.
    pub cseq: u32,
    /// Where the REGISTER came from, when it differs from the Contact (NAT): requests go
    /// there (`$du`).
    pub received: Option<String>,
}

/// Every location table (`"location"` by default), shared by all workers.
#[derive(Debug, Default)]
pub struct Location {
    tables: Mutex<HashMap<String, HashMap<String, Vec<Binding>>>>,
}

/// Why `save` or `lookup` failed; mirrors the WIT `registrar.error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrarError {
    /// `save` on something else than a REGISTER.
    #[error("not a REGISTER")]
    NotRegister,
    /// Malformed Contact, Expires or To; answered with 400.
    #[error("bad registration: {0}")]
    BadRequest(String),
    /// Expires shorter than [`MIN_EXPIRES`]; answered with 423.
    #[error("registration interval too brief")]
    IntervalTooBrief,
    /// A REGISTER older than the binding it would change; answered with 500.
    #[error("out-of-order REGISTER")]
    OutOfOrder,
    /// Too many contacts; answered with 403.
    #[error("too many contacts for one address-of-record")]
    TooManyContacts,
    /// `lookup`: nobody is registered there.
    #[error("not registered")]
    NotFound,
    /// No Request-URI (a reply).
    #[error("no request")]
    NoRequest,
}

/// The address-of-record of a SIP URI: `user@host` with the host lower-cased.
pub fn aor_of(uri: &[u8]) -> Option<String> {
    let u = Uri::parse_standalone(uri).ok()?;
    if !u.scheme.is_sip() {
        return None;
    }
    let host = String::from_utf8_lossy(u.host(uri)).to_ascii_lowercase();
    Some(match u.user(uri) {
        Some(user) => format!(
            "{}@{host}",
            String::from_utf8_lossy(&sipwasm_proto::uri::unescape(user))
        ),
        None => host,
    })
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

/// The contact as a Request-URI: without URI headers (`?Route=...` is not allowed there).
fn as_request_uri(contact: &str) -> String {
    contact.split('?').next().unwrap_or(contact).to_string()
}

fn parse_expires(v: &[u8]) -> Option<u64> {
    let v = sipwasm_proto::grammar::trim(v);
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // RFC 4475 scalar02: absurdly large values mean "as long as possible"
    Some(parse_decimal(v).unwrap_or(u64::MAX))
}

fn q_of(c: &NameAddr, b: &[u8]) -> f32 {
    Params::new(c.params.of(b))
        .get(b"q")
        .flatten()
        .and_then(|q| std::str::from_utf8(q).ok()?.parse::<f32>().ok())
        .map_or(1.0, |q| q.clamp(0.0, 1.0))
}

impl Location {
    /// Bindings of `aor` in `table` that have not expired at `now`, best first.
    pub fn bindings(&self, table: &str, aor: &str, now: u64) -> Vec<Binding> {
        let mut tables = self.tables.lock().expect("not poisoned");
        let Some(t) = tables.get_mut(table) else {
            return Vec::new();
        };
        let Some(list) = t.get_mut(aor) else {
            return Vec::new();
        };
        list.retain(|b| b.expires_at > now);
        let mut out = list.clone();
        if list.is_empty() {
            t.remove(aor);
        }
        out.sort_by(|a, b| b.q.total_cmp(&a.q));
        out
    }

    /// Drop every expired binding (called periodically by the router).
    pub fn purge(&self, now: u64) -> usize {
        let mut tables = self.tables.lock().expect("not poisoned");
        let mut removed = 0;
        for t in tables.values_mut() {
            t.retain(|_, list| {
                let before = list.len();
                list.retain(|b| b.expires_at > now);
                removed += before - list.len();
                !list.is_empty()
            });
        }
        removed
    }

    fn with_aor<R>(&self, table: &str, aor: &str, f: impl FnOnce(&mut Vec<Binding>) -> R) -> R {
        let mut tables = self.tables.lock().expect("not poisoned");
        let t = tables.entry(table.to_string()).or_default();
        let list = t.entry(aor.to_string()).or_default();
        let r = f(list);
        if list.is_empty() {
            t.remove(aor);
        }
        r
    }
}

impl RouteContext {
    fn registrar_reply(&mut self, code: u16, reason: &'static str, extra: &[String]) {
        for h in extra {
            let _ = self.append_to_reply(h);
        }
        let _ = self.send_reply(code, reason);
    }

    /// `save(table)`: process the REGISTER and answer it (200 with the current bindings,
    /// or 400 / 423 / 500 / 403 on error, as Kamailio's registrar does).
    pub fn registrar_save(&mut self, table: &str) -> Result<usize, RegistrarError> {
        match self.do_save(table) {
            Ok(bindings) => {
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
                    _ => {}
                }
                Err(e)
            }
        }
    }

    fn do_save(&mut self, table: &str) -> Result<Vec<Binding>, RegistrarError> {
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
            });
            return Ok(location.bindings(table, &aor, now));
        }
        let src = self.source;
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
            let expires = expires.min(MAX_EXPIRES);
            let received = Uri::parse_standalone(uri.as_bytes()).ok().and_then(|u| {
                let cb = uri.as_bytes();
                let same = sipwasm_proto::reply::parse_host_ip(u.host(cb)) == Some(src.src.ip())
                    && u.port_or_default(cb) == src.src.port();
                (!same).then(|| {
                    format!(
                        "sip:{};transport={}",
                        crate::forward::host_text(src.src),
                        src.transport.as_str()
                    )
                })
            });
            changes.push((uri, expires, q_of(c, b), received));
        }
        location.with_aor(table, &aor, |list| -> Result<(), RegistrarError> {
            for (uri, expires, q, received) in changes {
                let key = contact_key(&uri);
                match list.iter().position(|b| contact_key(&b.contact) == key) {
                    Some(i) => {
                        let existing = &list[i];
                        if existing.call_id == call_id && cseq <= existing.cseq {
                            return Err(RegistrarError::OutOfOrder);
                        }
                        if expires == 0 {
                            list.remove(i);
                        } else {
                            list[i] = Binding {
                                contact: uri,
                                expires_at: now + expires,
                                q,
                                call_id: call_id.clone(),
                                cseq,
                                received,
                            };
                        }
                    }
                    None if expires == 0 => {}
                    None => {
                        list.retain(|b| b.expires_at > now);
                        if list.len() >= MAX_CONTACTS {
                            return Err(RegistrarError::TooManyContacts);
                        }
                        list.push(Binding {
                            contact: uri,
                            expires_at: now + expires,
                            q,
                            call_id: call_id.clone(),
                            cseq,
                            received,
                        });
                    }
                }
            }
            Ok(())
        })?;
        Ok(location.bindings(table, &aor, now))
    }

    /// `lookup(table)`: point the request at the contacts registered for its Request-URI:
    /// the best one becomes `$ru` (and `$du` when registered from behind NAT), the others
    /// become branches for parallel forking. Returns how many contacts were found.
    pub fn registrar_lookup(&mut self, table: &str) -> Result<usize, RegistrarError> {
        let ruri = self.current_ruri().ok_or(RegistrarError::NoRequest)?;
        let aor = aor_of(ruri.as_bytes()).ok_or(RegistrarError::NotFound)?;
        let bindings = self.config.location.bindings(table, &aor, self.now_unix);
        let Some(first) = bindings.first() else {
            return Err(RegistrarError::NotFound);
        };
        self.new_ruri = Some(as_request_uri(&first.contact));
        self.dst_uri = first.received.clone();
        for b in &bindings[1..] {
            self.branches.push(as_request_uri(&b.contact));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{Alias, Listener, LocalConfig, Source};
    use bytes::Bytes;
    use sipwasm_proto::{SipMessage, Transport};
    use std::sync::Arc;

    fn cfg() -> Arc<LocalConfig> {
        Arc::new(LocalConfig::new(
            vec![Listener {
                transport: Transport::Udp,
                addr: "127.0.0.1:5060".parse().unwrap(),
            }],
            vec![Alias {
                host: "example.com".into(),
                port: None,
            }],
            None,
        ))
    }

    fn ctx(cfg: &Arc<LocalConfig>, text: &str, now: u64) -> RouteContext {
        let msg = SipMessage::parse(Bytes::copy_from_slice(text.as_bytes())).unwrap();
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
        assert_eq!(c.branches(), ["sip:alice@127.0.0.1:5070"]);
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

    #[test]
    fn dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(1_129_351_496), "Sat, 15 Oct 2005 04:44:56 GMT");
        assert!(sipwasm_proto::values::check_date(http_date(1_795_444_015).as_bytes()).is_ok());
    }
}
