//! URIs: `sip:` and `sips:` (RFC 3261 §19.1), `tel:` (RFC 3966) and any other absolute URI,
//! kept opaque.

use crate::chars;
use crate::grammar::{self, HostKind, Params};
use crate::span::Span;
use std::borrow::Cow;
use std::fmt;

/// The scheme of a [`Uri`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:`
    Tel,
    /// Anything else (`http:`, `urn:`, `isbn:` ...); the rest of the URI is opaque.
    Other,
}

impl Scheme {
    /// True for `sip` and `sips`.
    pub fn is_sip(self) -> bool {
        matches!(self, Scheme::Sip | Scheme::Sips)
    }
}

/// Why a URI failed to parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UriError(pub &'static str);

/// A parsed URI as spans into the buffer it was parsed from (its *base*).
///
/// Accessors take that base; [`SipMessage`](crate::SipMessage) offers shortcuts that pass
/// the message buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uri {
    /// Scheme.
    pub scheme: Scheme,
    /// The whole URI.
    pub whole: Span,
    /// The scheme as written.
    pub scheme_span: Span,
    /// User part (sip/sips), or the number of a tel URI.
    pub user: Option<Span>,
    /// Password after `user:`.
    pub password: Option<Span>,
    /// Host (with brackets for IPv6); for other schemes the opaque part.
    pub host: Span,
    /// What the host is.
    pub host_kind: HostKind,
    /// Explicit port.
    pub port: Option<u16>,
    /// The parameter section from its first `;` (empty when there are none).
    pub params: Span,
    /// The header section after `?`.
    pub headers: Option<Span>,
}

fn err<T>(what: &'static str) -> Result<T, UriError> {
    Err(UriError(what))
}

/// Length of the prefix of `s` made of `class` characters and `%HH` escapes; `Err` on a
/// malformed escape.
fn component_len(s: &[u8], class: &[bool; 256]) -> Result<usize, UriError> {
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if chars::is(class, c) {
            i += 1;
        } else if c == b'%' {
            if s.len() < i + 3 || !s[i + 1].is_ascii_hexdigit() || !s[i + 2].is_ascii_hexdigit() {
                return err("malformed %-escape");
            }
            i += 3;
        } else {
            break;
        }
    }
    Ok(i)
}

fn whole_component(s: &[u8], class: &[bool; 256], what: &'static str) -> Result<(), UriError> {
    if component_len(s, class)? != s.len() {
        return err(what);
    }
    Ok(())
}

impl Uri {
    /// Parse `text`, a sub-slice of `base` that is exactly one URI.
    pub fn parse(base: &[u8], text: &[u8]) -> Result<Uri, UriError> {
        let whole = Span::within(base, text);
        let colon = text
            .iter()
            .position(|&c| c == b':')
            .ok_or(UriError("no scheme"))?;
        let scheme_text = &text[..colon];
        if scheme_text.is_empty()
            || !scheme_text[0].is_ascii_alphabetic()
            || !scheme_text[1..]
                .iter()
                .all(|&c| chars::is(&chars::SCHEME, c))
        {
            return err("invalid scheme");
        }
        let scheme = if scheme_text.eq_ignore_ascii_case(b"sip") {
            Scheme::Sip
        } else if scheme_text.eq_ignore_ascii_case(b"sips") {
            Scheme::Sips
        } else if scheme_text.eq_ignore_ascii_case(b"tel") {
            Scheme::Tel
        } else {
            Scheme::Other
        };
        let rest = &text[colon + 1..];
        let mut uri = Uri {
            scheme,
            whole,
            scheme_span: Span::within(base, scheme_text),
            user: None,
            password: None,
            host: Span::within(base, &rest[..0]),
            host_kind: HostKind::Name,
            port: None,
            params: Span::within(base, &rest[rest.len()..]),
            headers: None,
        };
        match scheme {
            Scheme::Sip | Scheme::Sips => parse_sip(base, rest, &mut uri)?,
            Scheme::Tel => parse_tel(base, rest, &mut uri)?,
            Scheme::Other => {
                if rest.is_empty()
                    || rest
                        .iter()
                        .any(|&c| c <= b' ' || c == 0x7f || matches!(c, b'<' | b'>' | b'"'))
                {
                    return err("invalid characters in URI");
                }
                uri.host = Span::within(base, rest);
            }
        }
        Ok(uri)
    }

    /// Parse a URI that is its own base (a string from a plugin, a header value copy).
    pub fn parse_standalone(text: &[u8]) -> Result<Uri, UriError> {
        Uri::parse(text, text)
    }

    /// The whole URI text.
    pub fn as_bytes<'a>(&self, base: &'a [u8]) -> &'a [u8] {
        self.whole.of(base)
    }

    /// User part, as written (escapes kept).
    pub fn user<'a>(&self, base: &'a [u8]) -> Option<&'a [u8]> {
        self.user.map(|s| s.of(base))
    }

    /// Password, as written.
    pub fn password<'a>(&self, base: &'a [u8]) -> Option<&'a [u8]> {
        self.password.map(|s| s.of(base))
    }

    /// Host as written (IPv6 with brackets).
    pub fn host<'a>(&self, base: &'a [u8]) -> &'a [u8] {
        self.host.of(base)
    }

    /// The port to use: the explicit one, else 5061 for sips and TLS, else 5060.
    pub fn port_or_default(&self, base: &[u8]) -> u16 {
        self.port.unwrap_or_else(|| {
            let tls = self.scheme == Scheme::Sips
                || self
                    .param(base, b"transport")
                    .flatten()
                    .is_some_and(|t| t.eq_ignore_ascii_case(b"tls"));
            if tls { 5061 } else { 5060 }
        })
    }

    /// Parameter section (from the first `;`).
    pub fn params<'a>(&self, base: &'a [u8]) -> &'a [u8] {
        self.params.of(base)
    }

    /// Value of URI parameter `name`: `Some(None)` when present without value.
    pub fn param<'a>(&self, base: &'a [u8], name: &[u8]) -> Option<Option<&'a [u8]>> {
        uri_params(self.params.of(base))
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Header section after `?`.
    pub fn headers<'a>(&self, base: &'a [u8]) -> Option<&'a [u8]> {
        self.headers.map(|s| s.of(base))
    }

    /// Move every span by `by` bytes (after the text was copied to a new buffer).
    pub fn shifted(mut self, by: usize) -> Uri {
        self.whole = self.whole.shift(by);
        self.scheme_span = self.scheme_span.shift(by);
        self.user = self.user.map(|s| s.shift(by));
        self.password = self.password.map(|s| s.shift(by));
        self.host = self.host.shift(by);
        self.params = self.params.shift(by);
        self.headers = self.headers.map(|s| s.shift(by));
        self
    }
}

/// `uri` as a Request-URI: without its headers, which RFC 3261 §19.1.5 puts into a request
/// made from the URI, never into its Request-URI (a `$ru` or a registered Contact with
/// `?...` would otherwise make a request the next hop rejects; found by fuzzing).
pub fn as_request_uri(uri: &str) -> &str {
    if !uri.contains('?') {
        return uri;
    }
    match Uri::parse_standalone(uri.as_bytes()) {
        // the `?` before the headers goes too
        Ok(Uri {
            headers: Some(h), ..
        }) => &uri[..h.start as usize - 1],
        Ok(_) | Err(_) => uri,
    }
}

/// Iterate `;name[=value]` URI parameters (no white space allowed inside URIs).
pub fn uri_params(section: &[u8]) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
    section
        .split(|&c| c == b';')
        .skip(1)
        .map(|p| match p.iter().position(|&c| c == b'=') {
            Some(eq) => (&p[..eq], Some(&p[eq + 1..])),
            None => (p, None),
        })
}

fn parse_sip<'a>(base: &'a [u8], rest: &'a [u8], uri: &mut Uri) -> Result<(), UriError> {
    // `@` may appear only as the end of the userinfo: neither host, parameters nor
    // headers allow it, so the first `@` splits userinfo from hostport.
    let after_userinfo = match rest.iter().position(|&c| c == b'@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let (user, password) = match userinfo.iter().position(|&c| c == b':') {
                Some(c) => (&userinfo[..c], Some(&userinfo[c + 1..])),
                None => (userinfo, None),
            };
            if user.is_empty() {
                return err("empty user part");
            }
            whole_component(user, &chars::USER, "invalid character in user part")?;
            uri.user = Some(Span::within(base, user));
            if let Some(pw) = password {
                whole_component(pw, &chars::PASSWORD, "invalid character in password")?;
                uri.password = Some(Span::within(base, pw));
            }
            &rest[at + 1..]
        }
        None => rest,
    };
    let (mut i, (host, kind)) =
        grammar::host(after_userinfo).map_err(|_| UriError("invalid host"))?;
    uri.host = Span::within(base, host);
    uri.host_kind = kind;
    if let Some(p) = i.strip_prefix(b":") {
        let (r, port) = grammar::port(p).map_err(|_| UriError("invalid port"))?;
        uri.port = Some(port);
        i = r;
    }
    let params_start = i;
    while let Some(p) = i.strip_prefix(b";") {
        let n = component_len(p, &chars::PARAM)?;
        if n == 0 {
            return err("empty URI parameter");
        }
        i = &p[n..];
        if let Some(v) = i.strip_prefix(b"=") {
            let n = component_len(v, &chars::PARAM)?;
            if n == 0 {
                return err("empty URI parameter value");
            }
            i = &v[n..];
        }
    }
    uri.params = Span::within(base, &params_start[..params_start.len() - i.len()]);
    if let Some(h) = i.strip_prefix(b"?") {
        let mut j = h;
        loop {
            let n = component_len(j, &chars::HNV)?;
            if n == 0 {
                return err("empty URI header name");
            }
            j = j[n..]
                .strip_prefix(b"=")
                .ok_or(UriError("URI header without ="))?;
            let n = component_len(j, &chars::HNV)?;
            j = &j[n..];
            match j.strip_prefix(b"&") {
                Some(next) => j = next,
                None => break,
            }
        }
        uri.headers = Some(Span::within(base, &h[..h.len() - j.len()]));
        i = j;
    }
    if !i.is_empty() {
        return err("unexpected characters after URI");
    }
    Ok(())
}

fn parse_tel<'a>(base: &'a [u8], rest: &'a [u8], uri: &mut Uri) -> Result<(), UriError> {
    let end = rest.iter().position(|&c| c == b';').unwrap_or(rest.len());
    let number = &rest[..end];
    if number.is_empty()
        || !number
            .iter()
            .all(|&c| chars::is(&chars::TEL, c) || c.is_ascii_hexdigit())
    {
        return err("invalid telephone number");
    }
    uri.user = Some(Span::within(base, number));
    uri.host = Span::within(base, &rest[end..end]);
    let params = &rest[end..];
    for (name, value) in uri_params(params) {
        let value_ok = value.is_none_or(|v| component_len(v, &chars::PARAM) == Ok(v.len()));
        if name.is_empty() || component_len(name, &chars::PARAM)? != name.len() || !value_ok {
            return err("invalid tel URI parameter");
        }
    }
    uri.params = Span::within(base, params);
    Ok(())
}

/// Decode `%HH` escapes. Returns the input unchanged when it has none.
pub fn unescape(s: &[u8]) -> Cow<'_, [u8]> {
    if !s.contains(&b'%') {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(s[i + 1]), hex(s[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    Cow::Owned(out)
}

/// A URI as text, for `Display` of a parsed URI with its base.
pub struct DisplayUri<'a>(pub &'a Uri, pub &'a [u8]);

impl fmt::Display for DisplayUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.0.as_bytes(self.1)))
    }
}

/// Parameters of a header (not a URI): re-exported for convenience.
pub fn header_params(section: &[u8]) -> Params<'_> {
    Params::new(section)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Uri {
        Uri::parse_standalone(s.as_bytes()).unwrap()
    }

    #[test]
    fn sip_uri_parts() {
        let s = b"sips:alice:secret@[2001:db8::1]:5071;transport=tcp;lr?subject=hi&x=";
        let u = Uri::parse_standalone(s).unwrap();
        assert_eq!(u.scheme, Scheme::Sips);
        assert_eq!(u.user(s), Some(&b"alice"[..]));
        assert_eq!(u.password(s), Some(&b"secret"[..]));
        assert_eq!(u.host(s), b"[2001:db8::1]");
        assert_eq!(u.host_kind, HostKind::Ipv6);
        assert_eq!(u.port, Some(5071));
        assert_eq!(u.params(s), b";transport=tcp;lr");
        assert_eq!(u.param(s, b"TRANSPORT"), Some(Some(&b"tcp"[..])));
        assert_eq!(u.param(s, b"lr"), Some(None));
        assert_eq!(u.headers(s), Some(&b"subject=hi&x="[..]));
    }

    #[test]
    fn torture_uris() {
        // RFC 4475 intmeth: user part with ; ? , / and a password
        let s = b"sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com";
        let u = Uri::parse_standalone(s).unwrap();
        assert_eq!(
            u.user(s),
            Some(&b"1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"[..])
        );
        assert_eq!(u.host(s), b"example.com");
        // semiuri
        let s = b"sip:user;par=u%40example.net@example.com";
        let u = Uri::parse_standalone(s).unwrap();
        assert_eq!(u.user(s), Some(&b"user;par=u%40example.net"[..]));
        assert_eq!(u.params(s), b"");
        // esc01 / escnull
        assert!(Uri::parse_standalone(b"sip:%75se%72@example.com").is_ok());
        assert!(Uri::parse_standalone(b"sip:null-%00-null@example.com").is_ok());
        assert!(
            Uri::parse_standalone(b"sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
                .is_ok()
        );
        assert!(Uri::parse_standalone(b"sip:a%zz@example.com").is_err());
        // RFC 5118
        assert!(Uri::parse_standalone(b"sip:2001:db8::10").is_err());
        assert!(Uri::parse_standalone(b"sip:[2001:db8::10:5070]").is_ok());
        assert_eq!(p("sip:[2001:db8::10]:5070").port, Some(5070));
        assert!(Uri::parse_standalone(b"sip:user@[2001:db8:::192.0.2.1]").is_err());
        assert!(Uri::parse_standalone(b"sip:user@[2001:db8::192.0.2.1]").is_ok());
        // white space is never part of a URI
        assert!(Uri::parse_standalone(b"sip:user@example.com; lr").is_err());
        assert!(Uri::parse_standalone(b" sip:t.watson@example.org").is_err());
    }

    #[test]
    fn other_schemes() {
        let s = b"tel:+1-201-555-0123;phone-context=example.com";
        let u = Uri::parse_standalone(s).unwrap();
        assert_eq!(u.scheme, Scheme::Tel);
        assert_eq!(u.user(s), Some(&b"+1-201-555-0123"[..]));
        assert_eq!(
            u.param(s, b"phone-context"),
            Some(Some(&b"example.com"[..]))
        );
        for s in [
            "nobodyKnowsThisScheme:totallyopaquecontent",
            "soap.beep://192.0.2.103:3002",
            "isbn:2983792873",
            "http://www.example.com",
            "name:John_Smith",
        ] {
            assert_eq!(p(s).scheme, Scheme::Other, "{s}");
        }
        assert!(Uri::parse_standalone(b"<sip:user@example.com>").is_err());
    }

    #[test]
    fn default_ports_and_unescape() {
        let s = b"sip:a@b;transport=TLS";
        assert_eq!(Uri::parse_standalone(s).unwrap().port_or_default(s), 5061);
        let s = b"sip:a@b";
        assert_eq!(Uri::parse_standalone(s).unwrap().port_or_default(s), 5060);
        assert_eq!(&*unescape(b"%75se%72"), b"user");
        assert_eq!(&*unescape(b"a%2"), b"a%2");
        assert_eq!(&*unescape(b"100%"), b"100%");
    }
}
