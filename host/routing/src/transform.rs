//! Transformations (Kamailio developer guide, chapter 12): `{class.name,param,...}`
//! functions applied in a chain to a pseudo-variable value.

use crate::value::Value;
use sipwasm_proto::grammar;
use sipwasm_proto::name_addr;
use sipwasm_proto::uri::Uri;

/// One transformation of a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transform {
    /// `{s.len}`: length in bytes.
    SLen,
    /// `{s.int}`: the leading decimal integer (0 when there is none).
    SInt,
    /// `{s.substr,offset,length}`: negative offset counts from the end; length 0 means
    /// to the end.
    SSubstr(i64, i64),
    /// `{s.select,index,sep}`: the index-th field split on `sep`; negative from the end.
    SSelect(i64, u8),
    /// `{s.tolower}`
    SToLower,
    /// `{s.toupper}`
    SToUpper,
    /// `{s.trim}`: white space removed on both sides.
    STrim,
    /// `{s.rm,match}`: every occurrence of `match` removed.
    SRm(String),
    /// `{s.replace,match,repl}`: every occurrence of `match` replaced.
    SReplace(String, String),
    /// `{s.strip,n}`: the first n characters removed.
    SStrip(usize),
    /// `{s.striptail,n}`: the last n characters removed.
    SStripTail(usize),
    /// `{uri.user}`
    UriUser,
    /// `{uri.host}`
    UriHost,
    /// `{uri.port}`
    UriPort,
    /// `{uri.passwd}`
    UriPasswd,
    /// `{uri.params}`: every parameter as one string, without the leading `;`.
    UriParams,
    /// `{uri.param,name}`
    UriParam(String),
    /// `{uri.headers}`
    UriHeaders,
    /// `{uri.transport}`, `{uri.ttl}`, `{uri.maddr}`...: URI parameters with their own
    /// transformation names.
    UriNamedParam(&'static str),
    /// `{uri.scheme}`
    UriScheme,
    /// `{param.value,name[,sep]}`
    ParamValue(String, u8),
    /// `{param.in,name[,sep]}`: 1 when the parameter is present, else 0.
    ParamIn(String, u8),
    /// `{param.count[,sep]}`
    ParamCount(u8),
    /// `{param.name,index[,sep]}`
    ParamName(i64, u8),
    /// `{param.valueat,index[,sep]}`
    ParamValueAt(i64, u8),
    /// `{nameaddr.name}`: display name without quotes.
    NameaddrName,
    /// `{nameaddr.uri}`
    NameaddrUri,
    /// `{nameaddr.len}`
    NameaddrLen,
    /// `{tobody.uri}`
    TobodyUri,
    /// `{tobody.tag}`
    TobodyTag,
    /// `{tobody.user}`
    TobodyUser,
    /// `{tobody.host}`
    TobodyHost,
    /// `{tobody.display}`
    TobodyDisplay,
    /// `{tobody.params}`
    TobodyParams,
    /// `{msrpuri.user|host|port|session|proto|params|userinfo|scheme}`: a part of an
    /// MSRP URI (RFC 4975 §9).
    MsrpUri(MsrpUriPart),
}

/// Which part `{msrpuri.*}` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsrpUriPart {
    /// `user`
    User,
    /// `host`
    Host,
    /// `port`
    Port,
    /// `session`
    Session,
    /// `proto` (the transport)
    Proto,
    /// `params` (after the transport)
    Params,
    /// `userinfo`
    Userinfo,
    /// `scheme`
    Scheme,
}

/// Why a transformation spec is malformed.
pub type SpecError = String;

/// Why a transformation does not apply to a value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    /// An offset or index past either end of the value.
    #[error("{what} {index} out of range")]
    OutOfRange {
        /// Which transformation's index.
        what: &'static str,
        /// The index given.
        index: i64,
    },
    /// A `{uri.*}` transformation of something that is not a SIP URI.
    #[error("not a URI: {0}")]
    NotUri(sipwasm_proto::uri::UriError),
    /// A `{msrpuri.*}` transformation of something that is not an MSRP URI.
    #[error("not an MSRP URI: {0}")]
    NotMsrpUri(&'static str),
    /// A `{nameaddr.*}` or `{tobody.*}` transformation of something that is not a
    /// name-addr.
    #[error("not a name-addr: {0}")]
    NotNameAddr(&'static str),
}

fn int_param(p: &str) -> Result<i64, SpecError> {
    p.trim()
        .parse()
        .map_err(|_| format!("expected an integer parameter, got {p:?}"))
}

fn sep_param(p: Option<&&str>, default: u8) -> Result<u8, SpecError> {
    match p {
        None => Ok(default),
        Some(s) if s.len() == 1 => Ok(s.as_bytes()[0]),
        Some(s) => Err(format!("separator must be one character, got {s:?}")),
    }
}

/// Split transformation parameters on commas; `\,` and `\}` are literal.
fn split_params(s: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    out.last_mut().expect("never empty").push(n);
                }
            }
            ',' => out.push(String::new()),
            c => out.last_mut().expect("never empty").push(c),
        }
    }
    out
}

impl Transform {
    /// Parse the text between `{` and `}`, e.g. `s.select,1,:`.
    pub fn parse(body: &str) -> Result<Transform, SpecError> {
        let parts = split_params(body);
        let name = parts[0].as_str();
        let params: Vec<&str> = parts[1..].iter().map(String::as_str).collect();
        let want = |n: usize| -> Result<(), SpecError> {
            if params.len() == n {
                Ok(())
            } else {
                Err(format!(
                    "{{{name}}} takes {n} parameter(s), got {}",
                    params.len()
                ))
            }
        };
        let t = match name {
            "s.len" => want(0).map(|()| Transform::SLen)?,
            "s.int" => want(0).map(|()| Transform::SInt)?,
            "s.tolower" => want(0).map(|()| Transform::SToLower)?,
            "s.toupper" => want(0).map(|()| Transform::SToUpper)?,
            "s.trim" => want(0).map(|()| Transform::STrim)?,
            "s.substr" => {
                want(2)?;
                let len = int_param(params[1])?;
                if len < 0 {
                    return Err("s.substr length must not be negative".into());
                }
                Transform::SSubstr(int_param(params[0])?, len)
            }
            "s.select" => {
                want(2)?;
                Transform::SSelect(int_param(params[0])?, sep_param(params.get(1), b',')?)
            }
            "s.rm" => {
                want(1)?;
                Transform::SRm(params[0].to_string())
            }
            "s.replace" => {
                want(2)?;
                Transform::SReplace(params[0].to_string(), params[1].to_string())
            }
            "s.strip" | "s.striptail" => {
                want(1)?;
                let n = usize::try_from(int_param(params[0])?)
                    .map_err(|_| format!("{name} needs a non-negative count"))?;
                if name == "s.strip" {
                    Transform::SStrip(n)
                } else {
                    Transform::SStripTail(n)
                }
            }
            "uri.user" => want(0).map(|()| Transform::UriUser)?,
            "uri.host" => want(0).map(|()| Transform::UriHost)?,
            "uri.port" => want(0).map(|()| Transform::UriPort)?,
            "uri.passwd" => want(0).map(|()| Transform::UriPasswd)?,
            "uri.params" => want(0).map(|()| Transform::UriParams)?,
            "uri.headers" => want(0).map(|()| Transform::UriHeaders)?,
            "uri.scheme" => want(0).map(|()| Transform::UriScheme)?,
            "uri.transport" => want(0).map(|()| Transform::UriNamedParam("transport"))?,
            "uri.ttl" => want(0).map(|()| Transform::UriNamedParam("ttl"))?,
            "uri.uparam" => want(0).map(|()| Transform::UriNamedParam("user"))?,
            "uri.maddr" => want(0).map(|()| Transform::UriNamedParam("maddr"))?,
            "uri.method" => want(0).map(|()| Transform::UriNamedParam("method"))?,
            "uri.lr" => want(0).map(|()| Transform::UriNamedParam("lr"))?,
            "uri.r2" => want(0).map(|()| Transform::UriNamedParam("r2"))?,
            "uri.gr" => want(0).map(|()| Transform::UriNamedParam("gr"))?,
            "uri.param" => {
                want(1)?;
                Transform::UriParam(params[0].to_string())
            }
            "param.value" | "param.in" => {
                if params.is_empty() || params.len() > 2 {
                    return Err(format!("{{{name}}} takes a name and an optional separator"));
                }
                let sep = sep_param(params.get(1), b';')?;
                if name == "param.value" {
                    Transform::ParamValue(params[0].to_string(), sep)
                } else {
                    Transform::ParamIn(params[0].to_string(), sep)
                }
            }
            "param.count" => {
                if params.len() > 1 {
                    return Err("{param.count} takes an optional separator".into());
                }
                Transform::ParamCount(sep_param(params.first(), b';')?)
            }
            "param.name" | "param.valueat" => {
                if params.is_empty() || params.len() > 2 {
                    return Err(format!(
                        "{{{name}}} takes an index and an optional separator"
                    ));
                }
                let idx = int_param(params[0])?;
                let sep = sep_param(params.get(1), b';')?;
                if name == "param.name" {
                    Transform::ParamName(idx, sep)
                } else {
                    Transform::ParamValueAt(idx, sep)
                }
            }
            "nameaddr.name" => want(0).map(|()| Transform::NameaddrName)?,
            "nameaddr.uri" => want(0).map(|()| Transform::NameaddrUri)?,
            "nameaddr.len" => want(0).map(|()| Transform::NameaddrLen)?,
            "tobody.uri" => want(0).map(|()| Transform::TobodyUri)?,
            "tobody.tag" => want(0).map(|()| Transform::TobodyTag)?,
            "tobody.user" => want(0).map(|()| Transform::TobodyUser)?,
            "tobody.host" => want(0).map(|()| Transform::TobodyHost)?,
            "tobody.display" => want(0).map(|()| Transform::TobodyDisplay)?,
            "tobody.params" => want(0).map(|()| Transform::TobodyParams)?,
            "msrpuri.user" => want(0).map(|()| Transform::MsrpUri(MsrpUriPart::User))?,
            "msrpuri.host" => want(0).map(|()| Transform::MsrpUri(MsrpUriPart::Host))?,
            "msrpuri.port" => want(0).map(|()| Transform::MsrpUri(MsrpUriPart::Port))?,
            "msrpuri.session" => want(0).map(|()| Transform::MsrpUri(MsrpUriPart::Session))?,
            "msrpuri.proto" => want(0).map(|()| Transform::MsrpUri(MsrpUriPart::Proto))?,
            "msrpuri.params" => want(0).map(|()| Transform::MsrpUri(MsrpUriPart::Params))?,
            "msrpuri.userinfo" => want(0).map(|()| Transform::MsrpUri(MsrpUriPart::Userinfo))?,
            "msrpuri.scheme" => want(0).map(|()| Transform::MsrpUri(MsrpUriPart::Scheme))?,
            other => return Err(format!("unknown transformation {{{other}}}")),
        };
        Ok(t)
    }

    /// Apply to `v`. `$null` stays `$null` except for `{s.len}` (0), as in Kamailio.
    pub fn apply(&self, v: Value) -> Result<Value, TransformError> {
        let s = match v {
            Value::Null => {
                return Ok(match self {
                    Transform::SLen => Value::Int(0),
                    _ => Value::Null,
                });
            }
            Value::Int(i) => {
                if matches!(self, Transform::SInt) {
                    return Ok(Value::Int(i));
                }
                i.to_string()
            }
            Value::Str(s) => s,
        };
        let text = |b: &[u8]| Value::bytes(b);
        Ok(match self {
            Transform::SLen => Value::Int(s.len() as i64),
            Transform::SInt => Value::Int(leading_int(&s)),
            Transform::SSubstr(off, len) => {
                let n = s.len() as i64;
                let start = if *off < 0 { n + off } else { *off };
                if start < 0 || start >= n {
                    return Err(TransformError::OutOfRange {
                        what: "s.substr offset",
                        index: *off,
                    });
                }
                let end = if *len == 0 { n } else { (start + len).min(n) };
                text(&s.as_bytes()[start as usize..end as usize])
            }
            Transform::SSelect(idx, sep) => {
                let fields: Vec<&[u8]> = s.as_bytes().split(|c| c == sep).collect();
                let n = fields.len() as i64;
                let i = if *idx < 0 { n + idx } else { *idx };
                if i < 0 || i >= n {
                    return Err(TransformError::OutOfRange {
                        what: "s.select index",
                        index: *idx,
                    });
                }
                text(fields[i as usize])
            }
            Transform::SToLower => Value::Str(s.to_ascii_lowercase()),
            Transform::SToUpper => Value::Str(s.to_ascii_uppercase()),
            Transform::STrim => Value::Str(s.trim().to_string()),
            Transform::SRm(m) if m.is_empty() => Value::Str(s),
            Transform::SRm(m) => Value::Str(s.replace(m.as_str(), "")),
            Transform::SReplace(m, _) if m.is_empty() => Value::Str(s),
            Transform::SReplace(m, r) => Value::Str(s.replace(m.as_str(), r)),
            Transform::SStrip(k) => text(s.as_bytes().get(*k..).unwrap_or_default()),
            Transform::SStripTail(k) => text(&s.as_bytes()[..s.len().saturating_sub(*k)]),
            Transform::UriUser
            | Transform::UriHost
            | Transform::UriPort
            | Transform::UriPasswd
            | Transform::UriParams
            | Transform::UriParam(_)
            | Transform::UriHeaders
            | Transform::UriScheme
            | Transform::UriNamedParam(_) => {
                let b = s.as_bytes();
                let u = Uri::parse_standalone(b).map_err(TransformError::NotUri)?;
                uri_part(self, &u, b)
            }
            Transform::ParamValue(name, sep) => {
                match params_of(&s, *sep).find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                    Some((_, v)) => Value::Str(v.unwrap_or_default().to_string()),
                    None => Value::Null,
                }
            }
            Transform::ParamIn(name, sep) => {
                Value::Int(params_of(&s, *sep).any(|(n, _)| n.eq_ignore_ascii_case(name)) as i64)
            }
            Transform::ParamCount(sep) => Value::Int(params_of(&s, *sep).count() as i64),
            Transform::ParamName(idx, sep) | Transform::ParamValueAt(idx, sep) => {
                let all: Vec<(&str, Option<&str>)> = params_of(&s, *sep).collect();
                let n = all.len() as i64;
                let i = if *idx < 0 { n + idx } else { *idx };
                if i < 0 || i >= n {
                    return Err(TransformError::OutOfRange {
                        what: "parameter index",
                        index: *idx,
                    });
                }
                let (name, value) = all[i as usize];
                if matches!(self, Transform::ParamName(..)) {
                    Value::Str(name.to_string())
                } else {
                    Value::Str(value.unwrap_or_default().to_string())
                }
            }
            Transform::MsrpUri(part) => {
                let u = sipwasm_proto::msrp::MsrpUri::parse(s.trim())
                    .map_err(TransformError::NotMsrpUri)?;
                let opt = |v: Option<&str>| v.map_or(Value::Null, |x| Value::Str(x.to_string()));
                match part {
                    MsrpUriPart::User => opt(u.user),
                    MsrpUriPart::Userinfo => opt(u.userinfo),
                    MsrpUriPart::Host => Value::Str(u.host.to_string()),
                    MsrpUriPart::Port => u.port.map_or(Value::Null, |p| Value::Int(i64::from(p))),
                    MsrpUriPart::Session => opt(u.session),
                    MsrpUriPart::Proto => Value::Str(u.transport.to_string()),
                    MsrpUriPart::Params => Value::Str(u.params.to_string()),
                    MsrpUriPart::Scheme => Value::Str(u.scheme.to_string()),
                }
            }
            Transform::NameaddrName
            | Transform::NameaddrUri
            | Transform::NameaddrLen
            | Transform::TobodyUri
            | Transform::TobodyTag
            | Transform::TobodyUser
            | Transform::TobodyHost
            | Transform::TobodyDisplay
            | Transform::TobodyParams => {
                let b = s.as_bytes();
                let na = name_addr::parse_single(b, b).map_err(TransformError::NotNameAddr)?;
                match self {
                    Transform::NameaddrName | Transform::TobodyDisplay => {
                        match na.display_name(b) {
                            Some(d) => text(&d),
                            None => Value::Str(String::new()),
                        }
                    }
                    Transform::NameaddrUri | Transform::TobodyUri => text(na.uri.as_bytes(b)),
                    Transform::NameaddrLen => Value::Int(na.span.len() as i64),
                    Transform::TobodyTag => match na.tag(b) {
                        Some(t) => text(t),
                        None => Value::Null,
                    },
                    Transform::TobodyUser => text(na.uri.user(b).unwrap_or_default()),
                    Transform::TobodyHost => text(na.uri.host(b)),
                    Transform::TobodyParams => text(
                        grammar::trim(na.params.of(b))
                            .strip_prefix(b";")
                            .unwrap_or_default(),
                    ),
                    _ => unreachable!("handled by the outer match"),
                }
            }
        })
    }
}

fn uri_part(t: &Transform, u: &Uri, b: &[u8]) -> Value {
    let text = |x: &[u8]| Value::bytes(x);
    match t {
        Transform::UriUser => text(u.user(b).unwrap_or_default()),
        Transform::UriHost => text(u.host(b)),
        Transform::UriPort => match u.port {
            Some(p) => Value::Str(p.to_string()),
            None => Value::Str(String::new()),
        },
        Transform::UriPasswd => text(u.password(b).unwrap_or_default()),
        Transform::UriParams => text(u.params(b).strip_prefix(b";").unwrap_or_default()),
        Transform::UriHeaders => text(u.headers(b).unwrap_or_default()),
        Transform::UriScheme => text(u.scheme_span.of(b)),
        Transform::UriParam(name) => match u.param(b, name.as_bytes()) {
            Some(v) => text(v.unwrap_or_default()),
            None => Value::Str(String::new()),
        },
        Transform::UriNamedParam(name) => match u.param(b, name.as_bytes()) {
            Some(v) => text(v.unwrap_or_default()),
            None => Value::Str(String::new()),
        },
        _ => Value::Null,
    }
}

/// `name[=value]` pairs of a parameter string: white space around names and values is
/// ignored, a leading separator is allowed.
fn params_of(s: &str, sep: u8) -> impl Iterator<Item = (&str, Option<&str>)> {
    let s = s.trim();
    let s = s.strip_prefix(sep as char).unwrap_or(s);
    s.split(sep as char)
        .filter(|p| !p.trim().is_empty())
        .map(|p| match p.split_once('=') {
            Some((n, v)) => {
                let v = v.trim();
                let v = if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
                    &v[1..v.len() - 1]
                } else {
                    v
                };
                (n.trim(), Some(v))
            }
            None => (p.trim(), None),
        })
}

fn leading_int(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let n: String = digits.chars().take_while(char::is_ascii_digit).collect();
    let v = n.parse::<i64>().unwrap_or(0);
    if neg { -v } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(tr: &str, v: &str) -> Result<Value, TransformError> {
        Transform::parse(tr).unwrap().apply(Value::from(v))
    }

    fn s(x: &str) -> Result<Value, TransformError> {
        Ok(Value::from(x))
    }

    #[test]
    fn string_transformations() {
        assert_eq!(run("s.len", "abcd"), Ok(Value::Int(4)));
        assert_eq!(run("s.int", " 42abc"), Ok(Value::Int(42)));
        assert_eq!(run("s.int", "x"), Ok(Value::Int(0)));
        assert_eq!(run("s.substr,1,2", "abcd"), s("bc"));
        assert_eq!(run("s.substr,-2,0", "abcd"), s("cd"));
        assert_eq!(run("s.substr,2,10", "abcd"), s("cd"));
        assert_eq!(
            run("s.substr,9,1", "abcd"),
            Err(TransformError::OutOfRange {
                what: "s.substr offset",
                index: 9
            })
        );
        assert_eq!(run("s.select,1,:", "a:b:c"), s("b"));
        assert_eq!(run("s.select,-1,:", "a:b:c"), s("c"));
        assert!(run("s.select,5,:", "a:b:c").is_err());
        assert_eq!(run("s.select,0,\\,", "x,y"), s("x"));
        assert_eq!(run("s.tolower", "AbC"), s("abc"));
        assert_eq!(run("s.toupper", "AbC"), s("ABC"));
        assert_eq!(run("s.trim", "  x "), s("x"));
        assert_eq!(run("s.rm,-", "a-b-c"), s("abc"));
        assert_eq!(run("s.replace,a,o", "banana"), s("bonono"));
        assert_eq!(run("s.strip,2", "abcd"), s("cd"));
        assert_eq!(run("s.striptail,1", "abcd"), s("abc"));
        assert_eq!(
            Transform::SLen.apply(Value::Null),
            Ok(Value::Int(0)),
            "s.len of $null is 0"
        );
        assert_eq!(Transform::SToLower.apply(Value::Null), Ok(Value::Null));
        assert_eq!(Transform::SLen.apply(Value::Int(12345)), Ok(Value::Int(5)));
    }

    #[test]
    fn msrpuri_transformations() {
        let u = "msrp://bob@relay.example.com:2855/sk3;tcp;x=1";
        assert_eq!(run("msrpuri.user", u), s("bob"));
        assert_eq!(run("msrpuri.userinfo", u), s("bob"));
        assert_eq!(run("msrpuri.host", u), s("relay.example.com"));
        assert_eq!(run("msrpuri.port", u), Ok(Value::Int(2855)));
        assert_eq!(run("msrpuri.session", u), s("sk3"));
        assert_eq!(run("msrpuri.proto", u), s("tcp"));
        assert_eq!(run("msrpuri.params", u), s("x=1"));
        assert_eq!(run("msrpuri.scheme", u), s("msrp"));
        assert_eq!(run("msrpuri.user", "msrp://h/s;tcp"), Ok(Value::Null));
        assert!(matches!(
            run("msrpuri.host", "sip:a@b"),
            Err(TransformError::NotMsrpUri(_))
        ));
        assert!(Transform::parse("msrpuri.nope").is_err());
    }

    #[test]
    fn uri_and_param_transformations() {
        let u = "sip:alice:pw@example.com:5070;transport=tcp;lr?h=v";
        assert_eq!(run("uri.user", u), s("alice"));
        assert_eq!(run("uri.host", u), s("example.com"));
        assert_eq!(run("uri.port", u), s("5070"));
        assert_eq!(run("uri.passwd", u), s("pw"));
        assert_eq!(run("uri.params", u), s("transport=tcp;lr"));
        assert_eq!(run("uri.param,transport", u), s("tcp"));
        assert_eq!(run("uri.transport", u), s("tcp"));
        assert_eq!(run("uri.headers", u), s("h=v"));
        assert_eq!(run("uri.scheme", u), s("sip"));
        assert!(matches!(
            run("uri.user", "not a uri"),
            Err(TransformError::NotUri(_))
        ));
        let p = ";a=1; b = 2 ;c";
        assert_eq!(run("param.value,b", p), s("2"));
        assert_eq!(run("param.value,zz", p), Ok(Value::Null));
        assert_eq!(run("param.in,c", p), Ok(Value::Int(1)));
        assert_eq!(run("param.count", p), Ok(Value::Int(3)));
        assert_eq!(run("param.name,-1", p), s("c"));
        assert_eq!(run("param.valueat,0", p), s("1"));
        assert_eq!(run("param.value,y,&", "x=1&y=2"), s("2"));
    }

    #[test]
    fn nameaddr_and_tobody() {
        let v = "\"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774";
        assert_eq!(run("nameaddr.name", v), s("Alice"));
        assert_eq!(run("nameaddr.uri", v), s("sip:alice@atlanta.example.com"));
        assert_eq!(run("tobody.tag", v), s("1928301774"));
        assert_eq!(run("tobody.user", v), s("alice"));
        assert_eq!(run("tobody.host", v), s("atlanta.example.com"));
        assert_eq!(run("tobody.params", v), s("tag=1928301774"));
        assert_eq!(run("tobody.tag", "<sip:a@b>"), Ok(Value::Null));
    }

    #[test]
    fn bad_specs() {
        assert!(Transform::parse("s.nope").is_err());
        assert!(Transform::parse("s.substr,1").is_err());
        assert!(Transform::parse("s.select,x,:").is_err());
        assert!(Transform::parse("s.select,1,::").is_err());
        assert!(Transform::parse("s.len,1").is_err());
    }
}
