//! Pseudo-variable names (Kamailio developer guide, chapter 11): parsing `$ru`,
//! `$hdr(Name)`, `$(hdr(Via)[1])`, `$(mb{s.select,1,:}{s.len})` into a [`PvSpec`].

mod sip;

use crate::transform::Transform;
use crate::value::Value;

/// Why a pseudo-variable operation failed; mirrors the WIT `pv.error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PvError {
    /// Not a pseudo-variable this router knows.
    #[error("unknown pseudo-variable {0}")]
    UnknownName(String),
    /// Malformed name.
    #[error("malformed pseudo-variable: {0}")]
    Syntax(String),
    /// Cannot be written.
    #[error("{0} is read-only")]
    ReadOnly(String),
    /// The value cannot be assigned.
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// A transformation does not apply to the value.
    #[error("transformation failed: {0}")]
    Transformation(crate::transform::TransformError),
}

/// Which pseudo-variable.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PvName {
    /// `$rm` method
    Method,
    /// `$ru` Request-URI
    RUri,
    /// `$rU` user of the Request-URI
    RUser,
    /// `$rd` host of the Request-URI
    RDomain,
    /// `$rp` port of the Request-URI
    RPort,
    /// `$rz` scheme of the Request-URI
    RScheme,
    /// `$rv` SIP version
    Version,
    /// `$du` destination URI
    DstUri,
    /// `$si` source IP
    SrcIp,
    /// `$sp` source port
    SrcPort,
    /// `$Ri` local IP the message arrived on
    RcvIp,
    /// `$Rp` local port the message arrived on
    RcvPort,
    /// `$pr` transport protocol
    Proto,
    /// `$fu` From URI
    FromUri,
    /// `$fU` From user
    FromUser,
    /// `$fd` From host
    FromDomain,
    /// `$ft` From tag
    FromTag,
    /// `$fn` From display name
    FromName,
    /// `$tu` To URI
    ToUri,
    /// `$tU` To user
    ToUser,
    /// `$td` To host
    ToDomain,
    /// `$tt` To tag
    ToTag,
    /// `$tn` To display name
    ToName,
    /// `$ci` Call-ID
    CallId,
    /// `$cs` CSeq number
    CSeq,
    /// `$ua` User-Agent
    UserAgent,
    /// `$ml` message length
    MsgLen,
    /// `$mb` whole message
    MsgBuf,
    /// `$rb` body
    Body,
    /// `$rs` reply status
    Status,
    /// `$rr` reply reason
    Reason,
    /// `$ct` Contact header value
    Contact,
    /// `$cl` Content-Length
    ContentLength,
    /// `$cT` Content-Type
    ContentType,
    /// `$mf` message flags
    Flags,
    /// `$Ts` current Unix time
    Time,
    /// `$tls_peer_verified`: 1 when the peer presented a certificate the listener's
    /// `client_cert` check verified, else 0
    TlsPeerVerified,
    /// `$tls_peer_subject`: the peer certificate's subject
    TlsPeerSubject,
    /// `$tls_peer_subject_cn`: its common name
    TlsPeerSubjectCn,
    /// `$tls_peer_issuer`: its issuer
    TlsPeerIssuer,
    /// `$tls_peer_san_hostname`: its first DNS subject alternative name
    TlsPeerSanHostname,
    /// `$hdr(Name)` header value
    Hdr(String),
    /// `$hdrc(Name)` number of headers called Name
    HdrCount(String),
    /// `$var(x)` script variable (per message)
    Var(String),
    /// `$avp(x)` attribute-value pair (kept with the transaction)
    Avp(String),
    /// `$T(field)` transaction information
    T(TField),
    /// `$sht(table=>key)`: a shared table entry; the key may hold pseudo-variables
    /// (`$sht(msrp=>$var(sessid)::srcaddr)`).
    Sht {
        /// Table name.
        table: String,
        /// The key, expanded when read.
        key: Vec<TemplatePart>,
    },
    /// `$msrp(key)`: a part of the MSRP frame of an `msrp:frame-in` event.
    Msrp(MsrpKey),
    /// `$rtimer(name)`, `$rtimer(data)`: the timer of an `event_route[timer:NAME]`.
    Rtimer(RtimerKey),
    /// `$shtrecord(key)`, `$shtrecord(value)`: the entry of an
    /// `event_route[htable:expired:TABLE]`.
    ShtRecord(ShtRecordKey),
    /// `$au` username of checked credentials
    AuthUser,
    /// `$ar` realm of checked credentials
    AuthRealm,
}

/// Keys of `$msrp(key)` (Kamailio's msrp module).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs, reason = "each is the key of the same name")]
pub enum MsrpKey {
    Buf,
    Body,
    BodyLen,
    BufLen,
    Code,
    Hdrs,
    Method,
    MsgId,
    Reason,
    TransId,
    SessId,
    CrtHop,
    PrevHop,
    NextHop,
    FirstHop,
    LastHop,
    PrevHops,
    NextHops,
    SrcAddr,
    SrcSock,
    ConId,
}

impl MsrpKey {
    fn parse(key: &str) -> Option<MsrpKey> {
        use MsrpKey::*;
        Some(match key {
            "buf" => Buf,
            "body" => Body,
            "bodylen" => BodyLen,
            "buflen" => BufLen,
            "code" => Code,
            "hdrs" => Hdrs,
            "method" => Method,
            "msgid" => MsgId,
            "reason" => Reason,
            "transid" => TransId,
            "sessid" => SessId,
            "crthop" => CrtHop,
            "prevhop" => PrevHop,
            "nexthop" => NextHop,
            "firsthop" => FirstHop,
            "lasthop" => LastHop,
            "prevhops" => PrevHops,
            "nexthops" => NextHops,
            "srcaddr" => SrcAddr,
            "srcsock" => SrcSock,
            "conid" => ConId,
            _ => return None,
        })
    }
}

/// Keys of `$rtimer(key)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtimerKey {
    /// The timer's name.
    Name,
    /// The data a one-shot timer was given (`$null` for a configured one).
    Data,
}

/// Keys of `$shtrecord(key)` (Kamailio's htable module).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShtRecordKey {
    /// The expired entry's key.
    Key,
    /// Its value.
    Value,
}

/// Fields of `$T(...)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TField {
    /// `$T(id_index)`
    IdIndex,
    /// `$T(id_label)`
    IdLabel,
    /// `$T(reply_code)`: the reply being processed (onreply) or the winning one (failure).
    ReplyCode,
    /// `$T(reply_reason)`
    ReplyReason,
    /// `$T(branch_index)`
    BranchIndex,
    /// `$T(reply_type)`: 1 when the reply was generated locally (timeout), else 0.
    ReplyType,
}

impl PvName {
    fn from_parts(class: &str, inner: Option<&str>, full: &str) -> Result<PvName, PvError> {
        let needs_inner = |n: PvName| match inner {
            None => Ok(n),
            Some(_) => Err(PvError::Syntax(format!("{full}: ${class} takes no name"))),
        };
        let inner_name = |what: &str| match inner {
            Some(i) if !i.is_empty() => Ok(i.to_string()),
            _ => Err(PvError::Syntax(format!(
                "{full}: ${what} needs a name in ()"
            ))),
        };
        Ok(match class {
            "rm" => needs_inner(PvName::Method)?,
            "ru" => needs_inner(PvName::RUri)?,
            "rU" => needs_inner(PvName::RUser)?,
            "rd" => needs_inner(PvName::RDomain)?,
            "rp" => needs_inner(PvName::RPort)?,
            "rz" => needs_inner(PvName::RScheme)?,
            "rv" => needs_inner(PvName::Version)?,
            "du" => needs_inner(PvName::DstUri)?,
            "si" => needs_inner(PvName::SrcIp)?,
            "sp" => needs_inner(PvName::SrcPort)?,
            "Ri" => needs_inner(PvName::RcvIp)?,
            "Rp" => needs_inner(PvName::RcvPort)?,
            "pr" | "proto" => needs_inner(PvName::Proto)?,
            "fu" | "from" => needs_inner(PvName::FromUri)?,
            "fU" => needs_inner(PvName::FromUser)?,
            "fd" => needs_inner(PvName::FromDomain)?,
            "ft" => needs_inner(PvName::FromTag)?,
            "fn" => needs_inner(PvName::FromName)?,
            "tu" | "to" => needs_inner(PvName::ToUri)?,
            "tU" => needs_inner(PvName::ToUser)?,
            "td" => needs_inner(PvName::ToDomain)?,
            "tt" => needs_inner(PvName::ToTag)?,
            "tn" => needs_inner(PvName::ToName)?,
            "ci" => needs_inner(PvName::CallId)?,
            "cs" => needs_inner(PvName::CSeq)?,
            "ua" => needs_inner(PvName::UserAgent)?,
            "ml" => needs_inner(PvName::MsgLen)?,
            "mb" => needs_inner(PvName::MsgBuf)?,
            "rb" => needs_inner(PvName::Body)?,
            "rs" => needs_inner(PvName::Status)?,
            "rr" => needs_inner(PvName::Reason)?,
            "ct" => needs_inner(PvName::Contact)?,
            "cl" => needs_inner(PvName::ContentLength)?,
            "cT" => needs_inner(PvName::ContentType)?,
            "mf" => needs_inner(PvName::Flags)?,
            "Ts" => needs_inner(PvName::Time)?,
            "tls_peer_verified" => needs_inner(PvName::TlsPeerVerified)?,
            "tls_peer_subject" => needs_inner(PvName::TlsPeerSubject)?,
            "tls_peer_subject_cn" => needs_inner(PvName::TlsPeerSubjectCn)?,
            "tls_peer_issuer" => needs_inner(PvName::TlsPeerIssuer)?,
            "tls_peer_san_hostname" => needs_inner(PvName::TlsPeerSanHostname)?,
            "hdr" => PvName::Hdr(inner_name("hdr")?),
            "hdrc" => PvName::HdrCount(inner_name("hdrc")?),
            "var" => PvName::Var(inner_name("var")?),
            "avp" => PvName::Avp(inner_name("avp")?),
            "au" => needs_inner(PvName::AuthUser)?,
            "rtimer" => PvName::Rtimer(match inner {
                Some("name") => RtimerKey::Name,
                Some("data") => RtimerKey::Data,
                other => {
                    return Err(PvError::Syntax(format!(
                        "{full}: unknown $rtimer key {other:?} (name, data)"
                    )));
                }
            }),
            "shtrecord" => PvName::ShtRecord(match inner {
                Some("key") => ShtRecordKey::Key,
                Some("value") => ShtRecordKey::Value,
                other => {
                    return Err(PvError::Syntax(format!(
                        "{full}: unknown $shtrecord key {other:?} (key, value)"
                    )));
                }
            }),
            "msrp" => {
                let key = inner_name("msrp")?;
                PvName::Msrp(
                    MsrpKey::parse(&key).ok_or_else(|| {
                        PvError::Syntax(format!("{full}: unknown $msrp key {key:?}"))
                    })?,
                )
            }
            "sht" => {
                let inner = inner_name("sht")?;
                let (table, key) = inner
                    .split_once("=>")
                    .ok_or_else(|| PvError::Syntax(format!("{full}: $sht takes (table=>key)")))?;
                let (table, key) = (table.trim(), key.trim());
                if table.is_empty() || key.is_empty() {
                    return Err(PvError::Syntax(format!("{full}: empty table or key")));
                }
                PvName::Sht {
                    table: table.to_string(),
                    key: parse_template(key)?,
                }
            }
            "ar" => needs_inner(PvName::AuthRealm)?,
            "T" => PvName::T(match inner {
                Some("id_index") => TField::IdIndex,
                Some("id_label") => TField::IdLabel,
                Some("reply_code") => TField::ReplyCode,
                Some("reply_reason") => TField::ReplyReason,
                Some("branch_index") => TField::BranchIndex,
                Some("reply_type") => TField::ReplyType,
                other => {
                    return Err(PvError::Syntax(format!(
                        "{full}: unknown $T field {other:?} (id_index, id_label, reply_code, reply_reason, branch_index, reply_type)"
                    )));
                }
            }),
            _ => return Err(PvError::UnknownName(full.to_string())),
        })
    }

    /// True for names a plugin may assign.
    pub fn is_writable(&self) -> bool {
        matches!(
            self,
            PvName::RUri
                | PvName::RUser
                | PvName::RDomain
                | PvName::DstUri
                | PvName::Var(_)
                | PvName::Avp(_)
                | PvName::Sht { .. }
        )
    }
}

/// An index into a multi-valued pseudo-variable (`$(hdr(Via)[1])`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PvIndex {
    /// The n-th value; negative counts from the end (-1 is the last).
    At(i32),
    /// `[*]`: all values joined with a comma.
    All,
}

/// A parsed pseudo-variable name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PvSpec {
    /// Which pseudo-variable.
    pub name: PvName,
    /// Index, if any.
    pub index: Option<PvIndex>,
    /// Transformations applied in order.
    pub transforms: Vec<Transform>,
}

fn is_class_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

impl PvSpec {
    /// Parse a whole name such as `$ru` or `$(hdr(X)[0]{s.len})`.
    pub fn parse(s: &str) -> Result<PvSpec, PvError> {
        let (spec, used) = PvSpec::parse_prefix(s)?;
        if used != s.len() {
            return Err(PvError::Syntax(format!(
                "{s}: unexpected {:?} after the name",
                &s[used..]
            )));
        }
        Ok(spec)
    }

    /// Parse the pseudo-variable at the start of `s` (which starts with `$`); returns it
    /// and the number of bytes it spans. Used for names and for xlog-style templates.
    pub fn parse_prefix(s: &str) -> Result<(PvSpec, usize), PvError> {
        let b = s.as_bytes();
        let syntax = |what: &str| PvError::Syntax(format!("{s}: {what}"));
        if b.first() != Some(&b'$') {
            return Err(syntax("must start with $"));
        }
        let bracketed = b.get(1) == Some(&b'(');
        let mut pos = if bracketed { 2 } else { 1 };
        let class_start = pos;
        while pos < b.len() && is_class_char(b[pos]) {
            pos += 1;
        }
        let class = &s[class_start..pos];
        if class.is_empty() {
            return Err(syntax("missing name after $"));
        }
        let mut inner = None;
        if b.get(pos) == Some(&b'(') {
            // the matching `)`: an inner name may hold names itself ($sht(t=>$var(k)))
            let mut depth = 0usize;
            let mut close = None;
            for (i, c) in s[pos..].bytes().enumerate() {
                match c {
                    b'(' => depth += 1,
                    b')' => {
                        depth -= 1;
                        if depth == 0 {
                            close = Some(i);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let close = close.ok_or_else(|| syntax("missing ) after inner name"))?;
            inner = Some(s[pos + 1..pos + close].trim());
            pos += close + 1;
        }
        let mut index = None;
        let mut transforms = Vec::new();
        if bracketed {
            if b.get(pos) == Some(&b'[') {
                let close = s[pos..]
                    .find(']')
                    .ok_or_else(|| syntax("missing ] after index"))?;
                let idx = s[pos + 1..pos + close].trim();
                index = Some(if idx == "*" {
                    PvIndex::All
                } else {
                    PvIndex::At(
                        idx.parse()
                            .map_err(|_| syntax("index must be an integer or *"))?,
                    )
                });
                pos += close + 1;
            }
            while b.get(pos) == Some(&b'{') {
                // find the closing brace, honouring `\}` escapes inside parameters
                let mut end = pos + 1;
                loop {
                    match b.get(end) {
                        None => return Err(syntax("missing } after transformation")),
                        Some(b'\\') => end += 2,
                        Some(b'}') => break,
                        Some(_) => end += 1,
                    }
                }
                let body = &s[pos + 1..end];
                transforms.push(
                    Transform::parse(body).map_err(|e| PvError::Syntax(format!("{s}: {e}")))?,
                );
                pos = end + 1;
            }
            if b.get(pos) != Some(&b')') {
                return Err(syntax("missing ) closing the name"));
            }
            pos += 1;
        }
        let full = &s[..pos];
        let name = PvName::from_parts(class, inner, full)?;
        if index.is_some() && !matches!(name, PvName::Hdr(_) | PvName::Avp(_)) {
            return Err(PvError::Syntax(format!(
                "{full}: only $hdr and $avp take an index"
            )));
        }
        Ok((
            PvSpec {
                name,
                index,
                transforms,
            },
            pos,
        ))
    }
}

/// A piece of an xlog-style template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplatePart {
    /// Literal text.
    Text(String),
    /// A pseudo-variable to expand.
    Pv(PvSpec),
}

/// Expand a template with `get` for its names (every event kind's `format`).
pub(crate) fn expand(
    parts: &[TemplatePart],
    get: impl Fn(&PvSpec) -> Result<Value, PvError>,
) -> Result<String, PvError> {
    use std::fmt::Write;
    let mut out = String::new();
    for p in parts {
        match p {
            TemplatePart::Text(t) => out.push_str(t),
            TemplatePart::Pv(spec) => {
                let _ = write!(out, "{}", get(spec)?);
            }
        }
    }
    Ok(out)
}

/// Assign `$var(name)` in `vars`.
pub(crate) fn set_var(vars: &mut Vec<(String, Value)>, name: &str, value: Value) {
    match vars.iter_mut().find(|(n, _)| n == name) {
        Some(slot) => slot.1 = value,
        None => vars.push((name.to_string(), value)),
    }
}

/// Split `template` into text and pseudo-variables. A `$` that does not start a name
/// (`$` at the end, `$ `, `$1`) is kept as text; an unknown or malformed name is an error.
pub fn parse_template(template: &str) -> Result<Vec<TemplatePart>, PvError> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        text.push_str(&rest[..dollar]);
        let at = &rest[dollar..];
        let starts_name = at
            .as_bytes()
            .get(1)
            .is_some_and(|&c| c == b'(' || c.is_ascii_alphabetic());
        if !starts_name {
            text.push('$');
            rest = &at[1..];
            continue;
        }
        let (spec, used) = PvSpec::parse_prefix(at)?;
        if !text.is_empty() {
            parts.push(TemplatePart::Text(std::mem::take(&mut text)));
        }
        parts.push(TemplatePart::Pv(spec));
        rest = &at[used..];
    }
    text.push_str(rest);
    if !text.is_empty() {
        parts.push(TemplatePart::Text(text));
    }
    Ok(parts)
}

/// The value of a name every event has, the same way whatever the event: where it came
/// from (its TLS peer too), its time, `$var(x)`; `None` for the names each event answers
/// itself. One evaluator for these, used by the SIP context and by the non-SIP events
/// alike.
pub(crate) fn shared_value(
    name: &PvName,
    source: &crate::env::addr::Source,
    tls_peer: &dyn Fn() -> Option<std::sync::Arc<sipwasm_proto::TlsPeer>>,
    now_unix: u64,
    vars: &[(String, Value)],
) -> Option<Value> {
    let text = |v: Option<&String>| v.map_or(Value::Null, |s| Value::Str(s.clone()));
    Some(match name {
        PvName::TlsPeerVerified => Value::Int(i64::from(tls_peer().is_some_and(|p| p.verified))),
        PvName::TlsPeerSubject => text(tls_peer().as_ref().map(|p| &p.subject)),
        PvName::TlsPeerSubjectCn => text(tls_peer().as_ref().and_then(|p| p.subject_cn.as_ref())),
        PvName::TlsPeerIssuer => text(tls_peer().as_ref().map(|p| &p.issuer)),
        PvName::TlsPeerSanHostname => text(tls_peer().as_ref().and_then(|p| p.san_dns.first())),
        PvName::SrcIp => Value::Str(source.src.ip().to_string()),
        PvName::SrcPort => Value::Int(i64::from(source.src.port())),
        PvName::RcvIp => Value::Str(source.local.ip().to_string()),
        PvName::RcvPort => Value::Int(i64::from(source.local.port())),
        PvName::Proto => Value::Str(source.transport.as_str().into()),
        PvName::Time => Value::Int(now_unix as i64),
        PvName::Var(name) => vars
            .iter()
            .find(|(n, _)| n == name)
            .map_or(Value::Null, |(_, v)| v.clone()),
        _ => return None,
    })
}

/// `$sht(table=>key)` read, with the key already expanded.
pub(crate) fn sht_get(
    tables: &crate::htable::Htables,
    table: &str,
    key: &str,
    now: u64,
) -> Result<Value, PvError> {
    tables
        .get(table, key, now)
        .map(|v| v.map_or(Value::Null, |v| v.to_value()))
        .map_err(|e| PvError::InvalidValue(e.to_string()))
}

/// `$sht(table=>key) = value`; `$null` deletes, as in Kamailio.
pub(crate) fn sht_set(
    tables: &crate::htable::Htables,
    table: &str,
    key: &str,
    value: Value,
    now: u64,
) -> Result<(), PvError> {
    let r = match value {
        Value::Null => tables.delete(table, key, now).map(|_| ()),
        Value::Int(i) => tables.set(table, key, crate::htable::HtValue::Int(i), now),
        Value::Str(s) => tables.set(table, key, crate::htable::HtValue::Str(s), now),
    };
    r.map_err(|e| PvError::InvalidValue(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_bracketed_names() {
        assert_eq!(PvSpec::parse("$ru").unwrap().name, PvName::RUri);
        assert_eq!(PvSpec::parse("$rU").unwrap().name, PvName::RUser);
        assert_eq!(PvSpec::parse("$(ru)").unwrap().name, PvName::RUri);
        assert_eq!(
            PvSpec::parse("$hdr(X-Foo)").unwrap().name,
            PvName::Hdr("X-Foo".into())
        );
        let s = PvSpec::parse("$(hdr(Via)[1])").unwrap();
        assert_eq!(s.index, Some(PvIndex::At(1)));
        let s = PvSpec::parse("$(hdr(Via)[*])").unwrap();
        assert_eq!(s.index, Some(PvIndex::All));
        let s = PvSpec::parse("$(mb{s.select,1,:}{s.len})").unwrap();
        assert_eq!(s.name, PvName::MsgBuf);
        assert_eq!(
            s.transforms,
            vec![Transform::SSelect(1, b':'), Transform::SLen]
        );
        let s = PvSpec::parse("$(hdr(X)[-1]{s.tolower})").unwrap();
        assert_eq!(s.index, Some(PvIndex::At(-1)));
        assert_eq!(
            PvSpec::parse("$var(x)").unwrap().name,
            PvName::Var("x".into())
        );
    }

    #[test]
    fn errors() {
        assert!(matches!(
            PvSpec::parse("$nosuch"),
            Err(PvError::UnknownName(_))
        ));
        assert!(matches!(PvSpec::parse("ru"), Err(PvError::Syntax(_))));
        assert!(matches!(PvSpec::parse("$(ru"), Err(PvError::Syntax(_))));
        assert!(matches!(
            PvSpec::parse("$(ru{s.nope})"),
            Err(PvError::Syntax(_))
        ));
        assert!(matches!(PvSpec::parse("$(ru[1])"), Err(PvError::Syntax(_))));
        assert!(matches!(PvSpec::parse("$hdr()"), Err(PvError::Syntax(_))));
        assert!(matches!(PvSpec::parse("$var"), Err(PvError::Syntax(_))));
        assert!(matches!(PvSpec::parse("$ru(x)"), Err(PvError::Syntax(_))));
        assert!(matches!(PvSpec::parse("$ru "), Err(PvError::Syntax(_))));
        assert!(matches!(
            PvSpec::parse("$(hdr(X)[a])"),
            Err(PvError::Syntax(_))
        ));
    }

    #[test]
    fn templates() {
        let parts = parse_template("from $fu to $(ru{uri.user}): 100$ and $").unwrap();
        assert_eq!(parts.len(), 5);
        assert_eq!(parts[0], TemplatePart::Text("from ".into()));
        assert!(matches!(&parts[1], TemplatePart::Pv(s) if s.name == PvName::FromUri));
        assert_eq!(parts[4], TemplatePart::Text(": 100$ and $".into()));
        assert!(parse_template("$nosuch").is_err());
        assert!(parse_template("$si.$sp").is_ok());
    }
}
