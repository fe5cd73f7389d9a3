//! The pseudo-variables of a SIP message: read (`$ru`, `$hdr(X)`, `$fu` ... with
//! transformations), written (`$ru`, `$du`, `$rU`, `$var(x)`, `$avp(x)` ...), and xlog
//! templates over them.

use crate::context::RouteContext;
use crate::pv::{PvError, PvIndex, PvName, PvSpec, TemplatePart};
use crate::value::Value;
use sipwasm_proto::HeaderName;
use sipwasm_proto::uri::{Scheme, Uri};

/// Item `i` of `items`, counting from the end when negative (`$(hdr(Via)[-1])`).
fn nth<T>(items: &[T], i: i32) -> Option<&T> {
    let n = items.len() as i64;
    let i = if i < 0 {
        n + i64::from(i)
    } else {
        i64::from(i)
    };
    usize::try_from(i).ok().and_then(|i| items.get(i))
}

fn text(b: &[u8]) -> Value {
    Value::bytes(b)
}

fn opt_text(b: Option<&[u8]>) -> Value {
    b.map_or(Value::Null, text)
}

/// Rebuild a sip/sips URI with a new user or host.
fn rebuild_uri(base: &[u8], u: &Uri, user: Option<&str>, host: Option<&str>) -> String {
    let mut s = String::with_capacity(base.len() + 16);
    s.push_str(&String::from_utf8_lossy(u.scheme_span.of(base)));
    s.push(':');
    let user_text = match user {
        Some(new) => (!new.is_empty()).then(|| new.to_string()),
        None => u
            .user(base)
            .map(|x| String::from_utf8_lossy(x).into_owned()),
    };
    if let Some(user_text) = user_text {
        s.push_str(&user_text);
        if let Some(pw) = u.password(base) {
            s.push(':');
            s.push_str(&String::from_utf8_lossy(pw));
        }
        s.push('@');
    }
    match host {
        Some(h) => s.push_str(h),
        None => s.push_str(&String::from_utf8_lossy(u.host(base))),
    }
    if let Some(p) = u.port {
        s.push(':');
        s.push_str(&p.to_string());
    }
    s.push_str(&String::from_utf8_lossy(u.params(base)));
    if let Some(h) = u.headers(base) {
        s.push('?');
        s.push_str(&String::from_utf8_lossy(h));
    }
    s
}

impl RouteContext {
    /// The value of a pseudo-variable, transformations applied.
    pub fn pv_get(&self, spec: &PvSpec) -> Result<Value, PvError> {
        let mut v = self.pv_base(spec)?;
        for t in &spec.transforms {
            v = t.apply(v).map_err(PvError::Transformation)?;
        }
        Ok(v)
    }

    fn ruri_part(&self, f: impl Fn(&Uri, &[u8]) -> Value) -> Value {
        match self.current_ruri() {
            Some(s) => match Uri::parse_standalone(s.as_bytes()) {
                Ok(u) => f(&u, s.as_bytes()),
                Err(_) => Value::Null,
            },
            None => Value::Null,
        }
    }

    fn pv_base(&self, spec: &PvSpec) -> Result<Value, PvError> {
        let m = &self.msg;
        let b = m.as_bytes();
        Ok(match &spec.name {
            PvName::Method => text(m.method_text()),
            PvName::RUri => self.current_ruri().map_or(Value::Null, Value::Str),
            PvName::RUser => self.ruri_part(|u, b| opt_text(u.user(b))),
            PvName::RDomain => self.ruri_part(|u, b| text(u.host(b))),
            PvName::RPort => self.ruri_part(|u, b| Value::Int(i64::from(u.port_or_default(b)))),
            PvName::RScheme => self.ruri_part(|u, b| text(u.scheme_span.of(b))),
            PvName::Version => Value::Str("SIP/2.0".into()),
            PvName::DstUri => self.dst_uri.clone().map_or(Value::Null, Value::Str),
            PvName::FromUri => text(m.from().uri.as_bytes(b)),
            PvName::FromUser => opt_text(m.from().uri.user(b)),
            PvName::FromDomain => text(m.from().uri.host(b)),
            PvName::FromTag => opt_text(m.from().tag(b)),
            PvName::FromName => m.from().display_name(b).map_or(Value::Null, |d| text(&d)),
            PvName::ToUri => text(m.to().uri.as_bytes(b)),
            PvName::ToUser => opt_text(m.to().uri.user(b)),
            PvName::ToDomain => text(m.to().uri.host(b)),
            PvName::ToTag => opt_text(m.to().tag(b)),
            PvName::ToName => m.to().display_name(b).map_or(Value::Null, |d| text(&d)),
            PvName::CallId => text(m.call_id()),
            PvName::CSeq => Value::Int(i64::from(m.cseq().number)),
            PvName::UserAgent => opt_text(m.header_of(HeaderName::UserAgent)),
            PvName::MsgLen => Value::Int(m.len() as i64),
            PvName::MsgBuf => text(b),
            PvName::Body => text(m.body()),
            PvName::Status => m.status().map_or(Value::Null, |c| Value::Int(i64::from(c))),
            PvName::Reason => opt_text(m.reason()),
            PvName::Contact => opt_text(m.header_of(HeaderName::Contact)),
            PvName::ContentLength => Value::Int(i64::from(
                m.content_length().unwrap_or(m.body().len() as u32),
            )),
            PvName::ContentType => opt_text(m.header_of(HeaderName::ContentType)),
            PvName::Flags => Value::Int(i64::from(self.flags)),
            PvName::HdrCount(name) => Value::Int(m.headers_named(name.as_bytes()).count() as i64),
            PvName::Hdr(name) => {
                let values = || m.headers_named(name.as_bytes());
                match spec.index {
                    None => opt_text(values().next()),
                    Some(PvIndex::All) => {
                        let all: Vec<&[u8]> = values().collect();
                        if all.is_empty() {
                            Value::Null
                        } else {
                            text(&all.join(&b","[..]))
                        }
                    }
                    Some(PvIndex::At(i)) => {
                        let all: Vec<&[u8]> = values().collect();
                        nth(&all, i).map_or(Value::Null, |v| text(v))
                    }
                }
            }
            PvName::SrcIp
            | PvName::SrcPort
            | PvName::RcvIp
            | PvName::RcvPort
            | PvName::Proto
            | PvName::Time
            | PvName::TlsPeerVerified
            | PvName::TlsPeerSubject
            | PvName::TlsPeerSubjectCn
            | PvName::TlsPeerIssuer
            | PvName::TlsPeerSanHostname
            | PvName::Var(_) => crate::pv::shared_value(
                &spec.name,
                &self.source,
                &|| self.config.tls_peer(&self.source),
                self.now_unix,
                &self.vars,
            )
            .expect("a shared name"),
            PvName::Avp(name) => {
                let values: Vec<&Value> = self
                    .avps
                    .iter()
                    .rev()
                    .filter(|(n, _)| n == name)
                    .map(|(_, v)| v)
                    .collect();
                match spec.index {
                    None => values.first().map_or(Value::Null, |v| (*v).clone()),
                    Some(PvIndex::All) => {
                        if values.is_empty() {
                            Value::Null
                        } else {
                            Value::Str(
                                values
                                    .iter()
                                    .rev()
                                    .map(|v| v.to_string())
                                    .collect::<Vec<_>>()
                                    .join(","),
                            )
                        }
                    }
                    Some(PvIndex::At(i)) => nth(&values, i).map_or(Value::Null, |v| (*v).clone()),
                }
            }
            PvName::T(field) => match &self.tx {
                None => Value::Null,
                Some(tx) => tx.field(*field),
            },
            PvName::Sht { table, key } => {
                let key = self.format(key)?;
                crate::pv::sht_get(&self.config.htables, table, &key, self.now_unix)?
            }
            // only an MSRP event has a frame
            PvName::Msrp(_) | PvName::Rtimer(_) | PvName::ShtRecord(_) => Value::Null,
            PvName::AuthUser => self
                .auth_user
                .as_ref()
                .map_or(Value::Null, |(u, _)| Value::Str(u.clone())),
            PvName::AuthRealm => self
                .auth_user
                .as_ref()
                .map_or(Value::Null, |(_, r)| Value::Str(r.clone())),
        })
    }

    /// Assign a pseudo-variable. Only `$ru $rU $rd $du $var(x)` are writable.
    pub fn pv_set(&mut self, spec: &PvSpec, value: Value) -> Result<(), PvError> {
        if !spec.transforms.is_empty() || spec.index.is_some() {
            return Err(PvError::ReadOnly(
                "a name with transformations or an index".into(),
            ));
        }
        let as_text = |v: &Value| match v {
            Value::Str(s) => Ok(s.clone()),
            Value::Int(i) => Ok(i.to_string()),
            Value::Null => Err(PvError::InvalidValue("$null; use unset".into())),
        };
        match &spec.name {
            PvName::Var(name) => {
                crate::pv::set_var(&mut self.vars, name, value);
                Ok(())
            }
            PvName::Avp(name) => {
                // as in Kamailio, assigning an AVP adds a value on top of the others
                if self.avps.len() >= 1024 {
                    return Err(PvError::InvalidValue("too many AVPs".into()));
                }
                self.avps.push((name.clone(), value));
                Ok(())
            }
            PvName::RUri => {
                if !self.msg.is_request() {
                    return Err(PvError::InvalidValue("$ru is only for requests".into()));
                }
                let s = as_text(&value)?;
                let u = Uri::parse_standalone(s.as_bytes())
                    .map_err(|e| PvError::InvalidValue(format!("{s:?} is not a URI: {e}")))?;
                if u.scheme == Scheme::Other {
                    return Err(PvError::InvalidValue(format!(
                        "{s:?} is not a sip, sips or tel URI"
                    )));
                }
                self.new_ruri = Some(s);
                self.ruri_new = true;
                Ok(())
            }
            PvName::RUser | PvName::RDomain => {
                let current = self
                    .current_ruri()
                    .ok_or_else(|| PvError::InvalidValue("no Request-URI in a reply".into()))?;
                let u = Uri::parse_standalone(current.as_bytes())
                    .map_err(|e| PvError::InvalidValue(e.to_string()))?;
                if !u.scheme.is_sip() {
                    return Err(PvError::InvalidValue(
                        "the Request-URI is not a SIP URI".into(),
                    ));
                }
                let v = as_text(&value)?;
                let new = if spec.name == PvName::RUser {
                    rebuild_uri(current.as_bytes(), &u, Some(&v), None)
                } else {
                    if v.is_empty() {
                        return Err(PvError::InvalidValue("empty host".into()));
                    }
                    rebuild_uri(current.as_bytes(), &u, None, Some(&v))
                };
                Uri::parse_standalone(new.as_bytes())
                    .map_err(|e| PvError::InvalidValue(format!("{new:?}: {e}")))?;
                self.new_ruri = Some(new);
                self.ruri_new = true;
                Ok(())
            }
            PvName::Sht { table, key } => {
                let key = self.format(key)?;
                crate::pv::sht_set(&self.config.htables, table, &key, value, self.now_unix)
            }
            PvName::DstUri => {
                let s = as_text(&value)?;
                if s.is_empty() {
                    self.dst_uri = None;
                    return Ok(());
                }
                let u = Uri::parse_standalone(s.as_bytes())
                    .map_err(|e| PvError::InvalidValue(format!("{s:?} is not a URI: {e}")))?;
                if !u.scheme.is_sip() {
                    return Err(PvError::InvalidValue(format!(
                        "{s:?} is not a sip or sips URI"
                    )));
                }
                self.dst_uri = Some(s);
                // a new destination makes the main branch worth sending again, as in
                // Kamailio ("dst_uri changed, re-use the current uri for forking")
                self.ruri_new = true;
                Ok(())
            }
            _ => Err(PvError::ReadOnly(format!("{:?}", spec.name))),
        }
    }

    /// Reset a pseudo-variable to `$null`.
    pub fn pv_unset(&mut self, spec: &PvSpec) -> Result<(), PvError> {
        match &spec.name {
            PvName::Var(name) => {
                self.vars.retain(|(n, _)| n != name);
                Ok(())
            }
            PvName::Avp(name) => {
                self.avps.retain(|(n, _)| n != name);
                Ok(())
            }
            PvName::DstUri => {
                self.dst_uri = None;
                Ok(())
            }
            PvName::Sht { table, key } => {
                let key = self.format(key)?;
                crate::pv::sht_set(
                    &self.config.htables,
                    table,
                    &key,
                    Value::Null,
                    self.now_unix,
                )
            }
            _ => Err(PvError::ReadOnly(format!(
                "{:?} cannot be unset",
                spec.name
            ))),
        }
    }

    /// Expand an xlog template.
    pub fn format(&self, parts: &[TemplatePart]) -> Result<String, PvError> {
        crate::pv::expand(parts, |spec| self.pv_get(spec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::fixtures::*;

    /// Services that know one TLS connection's peer.
    struct OnePeer(std::sync::Arc<sipwasm_proto::TlsPeer>);

    impl crate::services::Services for OnePeer {
        fn resolve(
            &self,
            uri: &str,
        ) -> Result<Vec<crate::services::NextHop>, crate::services::ResolveError> {
            crate::services::StaticServices.resolve(uri)
        }
        fn transaction_exists(
            &self,
            _: Option<&crate::Caller>,
            _: &sipwasm_proto::SipMessage,
        ) -> bool {
            false
        }
        fn tls_peer(&self, conn: u64) -> Option<std::sync::Arc<sipwasm_proto::TlsPeer>> {
            (conn == 7).then(|| self.0.clone())
        }
    }

    #[test]
    fn tls_peer_names_come_from_the_connection() {
        let peer = sipwasm_proto::TlsPeer {
            verified: true,
            subject: "CN=Carrier SBC, O=Carrier".into(),
            subject_cn: Some("Carrier SBC".into()),
            issuer: "CN=Trunk CA".into(),
            san_dns: vec!["sbc.carrier.example".into(), "sbc2.carrier.example".into()],
        };
        let config = crate::env::LocalConfig::new(Vec::new(), Vec::new(), None)
            .with_services(std::sync::Arc::new(OnePeer(std::sync::Arc::new(peer))));
        let mut c = ctx();
        c.config = std::sync::Arc::new(config);
        // plain UDP: no peer
        assert_eq!(get(&c, "$tls_peer_verified"), Value::Int(0));
        assert_eq!(get(&c, "$tls_peer_san_hostname"), Value::Null);
        c.source.transport = Transport::Tls;
        c.source.conn = Some(7);
        assert_eq!(get(&c, "$tls_peer_verified"), Value::Int(1));
        assert_eq!(get(&c, "$tls_peer_subject_cn"), s("Carrier SBC"));
        assert_eq!(get(&c, "$tls_peer_subject"), s("CN=Carrier SBC, O=Carrier"));
        assert_eq!(get(&c, "$tls_peer_issuer"), s("CN=Trunk CA"));
        assert_eq!(get(&c, "$tls_peer_san_hostname"), s("sbc.carrier.example"));
        assert_eq!(get(&c, "$(tls_peer_san_hostname{s.len})"), Value::Int(19));
        // another connection, one without a certificate
        c.source.conn = Some(8);
        assert_eq!(get(&c, "$tls_peer_verified"), Value::Int(0));
        assert_eq!(get(&c, "$tls_peer_subject_cn"), Value::Null);
        assert!(
            !PvSpec::parse("$tls_peer_verified")
                .unwrap()
                .name
                .is_writable()
        );
    }

    #[test]
    fn read_pseudo_variables() {
        let c = ctx();
        assert_eq!(get(&c, "$rm"), s("INVITE"));
        assert_eq!(get(&c, "$ru"), s("sip:bob@example.com:5080;transport=udp"));
        assert_eq!(get(&c, "$rU"), s("bob"));
        assert_eq!(get(&c, "$rd"), s("example.com"));
        assert_eq!(get(&c, "$rp"), Value::Int(5080));
        assert_eq!(get(&c, "$rz"), s("sip"));
        assert_eq!(get(&c, "$du"), Value::Null);
        assert_eq!(get(&c, "$si"), s("10.0.0.1"));
        assert_eq!(get(&c, "$sp"), Value::Int(5070));
        assert_eq!(get(&c, "$Ri"), s("127.0.0.1"));
        assert_eq!(get(&c, "$Rp"), Value::Int(5060));
        assert_eq!(get(&c, "$pr"), s("udp"));
        assert_eq!(get(&c, "$fu"), s("sip:alice@atlanta.example.com"));
        assert_eq!(get(&c, "$fU"), s("alice"));
        assert_eq!(get(&c, "$fd"), s("atlanta.example.com"));
        assert_eq!(get(&c, "$ft"), s("f1"));
        assert_eq!(get(&c, "$fn"), s("Alice A"));
        assert_eq!(get(&c, "$tu"), s("sip:bob@example.com"));
        assert_eq!(get(&c, "$tU"), s("bob"));
        assert_eq!(get(&c, "$td"), s("example.com"));
        assert_eq!(get(&c, "$tt"), Value::Null);
        assert_eq!(get(&c, "$ci"), s("cid-123@h"));
        assert_eq!(get(&c, "$cs"), Value::Int(7));
        assert_eq!(get(&c, "$ua"), s("test-ua"));
        assert_eq!(get(&c, "$ml"), Value::Int(REQ.len() as i64));
        assert_eq!(get(&c, "$mb"), s(REQ));
        assert_eq!(get(&c, "$rb"), s("one:two:six"));
        assert_eq!(get(&c, "$rs"), Value::Null);
        assert_eq!(get(&c, "$hdr(X-Multi)"), s("a"));
        assert_eq!(get(&c, "$(hdr(X-Multi)[1])"), s("b"));
        assert_eq!(get(&c, "$(hdr(X-Multi)[-1])"), s("b"));
        assert_eq!(get(&c, "$(hdr(X-Multi)[5])"), Value::Null);
        assert_eq!(get(&c, "$(hdr(x-multi)[*])"), s("a,b"));
        assert_eq!(get(&c, "$hdr(X-None)"), Value::Null);
        assert_eq!(get(&c, "$hdrc(X-Multi)"), Value::Int(2));
        assert_eq!(get(&c, "$hdr(i)"), s("cid-123@h"));
        assert_eq!(get(&c, "$Ts"), Value::Int(1_700_000_000));
        assert_eq!(get(&c, "$cl"), Value::Int(11));
        assert_eq!(get(&c, "$cT"), s("text/plain"));
    }

    #[test]
    fn transformations_on_message_values() {
        let c = ctx();
        assert_eq!(get(&c, "$(rb{s.select,1,:})"), s("two"));
        assert_eq!(get(&c, "$(ci{s.len})"), Value::Int(9));
        assert_eq!(get(&c, "$(ci{s.substr,0,3})"), s("cid"));
        assert_eq!(get(&c, "$(fu{uri.user}{s.toupper})"), s("ALICE"));
        assert_eq!(get(&c, "$(ru{uri.param,transport})"), s("udp"));
        assert_eq!(get(&c, "$(hdr(From){tobody.tag})"), s("f1"));
        assert_eq!(
            get(&c, "$(hdr(From){nameaddr.uri})"),
            s("sip:alice@atlanta.example.com")
        );
        assert_eq!(get(&c, "$(hdr(From){param.value,tag})"), s("f1"));
        assert!(matches!(
            c.pv_get(&PvSpec::parse("$(ua{uri.user})").unwrap()),
            Err(PvError::Transformation(_))
        ));
    }

    #[test]
    fn write_pseudo_variables() {
        let mut c = ctx();
        let set = |c: &mut RouteContext, n: &str, v: Value| c.pv_set(&PvSpec::parse(n).unwrap(), v);
        set(&mut c, "$var(x)", Value::Int(3)).unwrap();
        assert_eq!(get(&c, "$var(x)"), Value::Int(3));
        set(&mut c, "$var(x)", s("str")).unwrap();
        assert_eq!(get(&c, "$var(x)"), s("str"));
        c.pv_unset(&PvSpec::parse("$var(x)").unwrap()).unwrap();
        assert_eq!(get(&c, "$var(x)"), Value::Null);
        set(&mut c, "$rU", s("carol")).unwrap();
        assert_eq!(
            get(&c, "$ru"),
            s("sip:carol@example.com:5080;transport=udp")
        );
        set(&mut c, "$rd", s("biloxi.example.com")).unwrap();
        assert_eq!(
            get(&c, "$ru"),
            s("sip:carol@biloxi.example.com:5080;transport=udp")
        );
        set(&mut c, "$rU", s("")).unwrap();
        assert_eq!(
            get(&c, "$ru"),
            s("sip:biloxi.example.com:5080;transport=udp")
        );
        set(&mut c, "$ru", s("sip:dave@10.0.0.9")).unwrap();
        assert_eq!(get(&c, "$rU"), s("dave"));
        assert!(matches!(
            set(&mut c, "$ru", s("not a uri")),
            Err(PvError::InvalidValue(_))
        ));
        set(&mut c, "$du", s("sip:127.0.0.1:5080")).unwrap();
        assert_eq!(get(&c, "$du"), s("sip:127.0.0.1:5080"));
        c.pv_unset(&PvSpec::parse("$du").unwrap()).unwrap();
        assert_eq!(get(&c, "$du"), Value::Null);
        assert!(matches!(
            set(&mut c, "$du", s("http://x")),
            Err(PvError::InvalidValue(_))
        ));
        assert!(matches!(
            set(&mut c, "$si", s("1.2.3.4")),
            Err(PvError::ReadOnly(_))
        ));
        assert!(matches!(
            set(&mut c, "$(var(x){s.len})", s("1")),
            Err(PvError::ReadOnly(_))
        ));
    }

    #[test]
    fn format_templates() {
        let c = ctx();
        let parts = crate::pv::parse_template("$rm from $fU ($si:$sp) tag=$tt").unwrap();
        assert_eq!(
            c.format(&parts).unwrap(),
            "INVITE from alice (10.0.0.1:5070) tag=<null>"
        );
    }
}
