//! `name-addr` / `addr-spec` values with header parameters: From, To, Contact, Route,
//! Record-Route (RFC 3261 §20.10, §20.20, §20.30, §20.39).

use crate::grammar::{self, Params};
use crate::span::Span;
use crate::uri::Uri;

/// One address of a From/To/Contact/Route header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameAddr {
    /// The whole entry including its parameters.
    pub span: Span,
    /// Display name as written: a quoted string with its quotes, or a run of tokens.
    pub display: Option<Span>,
    /// The URI.
    pub uri: Uri,
    /// True for the `<...>` form.
    pub angle: bool,
    /// Header parameters from the first `;` (empty when none).
    pub params: Span,
}

impl NameAddr {
    /// Value of header parameter `name`: `Some(None)` when present without a value.
    pub fn param<'a>(&self, base: &'a [u8], name: &[u8]) -> Option<Option<&'a [u8]>> {
        Params::new(self.params.of(base)).get(name)
    }

    /// The `tag` parameter.
    pub fn tag<'a>(&self, base: &'a [u8]) -> Option<&'a [u8]> {
        self.param(base, b"tag").flatten()
    }

    /// Display name without quotes (quoted-pairs resolved), if any.
    pub fn display_name(&self, base: &[u8]) -> Option<Vec<u8>> {
        self.display.map(|d| {
            let d = d.of(base);
            if d.starts_with(b"\"") {
                grammar::unquote(d)
            } else {
                d.to_vec()
            }
        })
    }
}

/// Why an address is invalid.
pub type NameAddrError = &'static str;

/// Parse one address at the start of `i` (leading white space allowed).
pub fn name_addr<'a>(base: &[u8], i: &'a [u8]) -> Result<(&'a [u8], NameAddr), NameAddrError> {
    let (i, ()) = grammar::sws_many(i).map_err(|_| "invalid white space")?;
    let start = i;
    let (i, display, angle_at) = match i.first() {
        None => return Err("empty address"),
        Some(b'"') => {
            let (r, q) = grammar::quoted_string(i).map_err(|_| "unterminated quoted string")?;
            let (r, ()) = grammar::sws(r).map_err(|_| "invalid white space")?;
            if r.first() != Some(&b'<') {
                return Err("display name not followed by <");
            }
            (r, Some(q), true)
        }
        Some(b'<') => (i, None, true),
        Some(_) => match display_tokens(i) {
            Some((r, d)) => (r, Some(d), true),
            None => (i, None, false),
        },
    };
    let (rest, uri, uri_end) = if angle_at {
        // name-addr: `<` URI `>` with nothing else between the brackets
        let inner = &i[1..];
        let close = inner
            .iter()
            .position(|&c| c == b'>')
            .ok_or("missing > after URI")?;
        let text = &inner[..close];
        if text.first().is_some_and(|c| c.is_ascii_whitespace())
            || text.last().is_some_and(|c| c.is_ascii_whitespace())
        {
            return Err("white space inside <>");
        }
        let uri = Uri::parse(base, text).map_err(|e| e.0)?;
        (&inner[close + 1..], uri, true)
    } else {
        // addr-spec: the URI ends at the first `;`, `,` or white space; a URI with `?`,
        // `;` or `,` of its own must be written in angle brackets (RFC 3261 §20).
        let end = i
            .iter()
            .position(|&c| matches!(c, b';' | b',' | b' ' | b'\t' | b'\r' | b'\n'))
            .unwrap_or(i.len());
        let text = &i[..end];
        if text.contains(&b'?') {
            return Err("URI with headers must be enclosed in <>");
        }
        if text.contains(&b'<') || text.contains(&b'>') {
            return Err("unbalanced <>");
        }
        let uri = Uri::parse(base, text).map_err(|e| e.0)?;
        (&i[end..], uri, false)
    };
    let _ = uri_end;
    let (rest, params) = grammar::params(rest).map_err(|_| "invalid header parameter")?;
    let entry = NameAddr {
        span: Span::within(base, &start[..start.len() - rest.len()]),
        display: display.map(|d| Span::within(base, d)),
        uri,
        angle: angle_at,
        params: Span::within(base, params),
    };
    Ok((rest, entry))
}

/// `*(token LWS)` followed by `<`: a display name made of tokens. Returns the input at `<`
/// and the display text, or `None` when this is not a name-addr.
fn display_tokens(i: &[u8]) -> Option<(&[u8], &[u8])> {
    let start = i;
    let mut j = i;
    loop {
        let (after_token, _) = grammar::token(j).ok()?;
        let end = start.len() - after_token.len();
        let (after_ws, ()) = grammar::sws_many(after_token).ok()?;
        if after_ws.first() == Some(&b'<') {
            return Some((after_ws, &start[..end]));
        }
        if after_ws.len() == after_token.len() {
            // no white space: something that is neither a token nor `<` follows
            return None;
        }
        j = after_ws;
    }
}

/// A header that holds exactly one address (From, To).
pub fn parse_single(base: &[u8], value: &[u8]) -> Result<NameAddr, NameAddrError> {
    let (rest, na) = name_addr(base, value)?;
    if !grammar::trim(rest).is_empty() {
        return Err("unexpected characters after address");
    }
    Ok(na)
}

/// A comma-separated list of addresses (Contact, Route, Record-Route).
///
/// `angle_required` enforces the name-addr form (Route, Record-Route).
pub fn parse_list(
    base: &[u8],
    value: &[u8],
    angle_required: bool,
    out: &mut Vec<NameAddr>,
) -> Result<(), NameAddrError> {
    let mut i = value;
    loop {
        let (rest, na) = name_addr(base, i)?;
        if angle_required && !na.angle {
            return Err("address must be in <>");
        }
        out.push(na);
        let (rest, ()) = grammar::sws_many(rest).map_err(|_| "invalid white space")?;
        if rest.is_empty() {
            return Ok(());
        }
        match grammar::comma(rest) {
            Ok((next, ())) => i = next,
            Err(_) => return Err("unexpected characters after address"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Result<NameAddr, NameAddrError> {
        parse_single(s.as_bytes(), s.as_bytes())
    }

    #[test]
    fn forms() {
        let s = "\"Alice \\\"A\\\"\" <sip:alice@example.com;transport=tcp>;tag=1928301774;x";
        let na = one(s).unwrap();
        let b = s.as_bytes();
        assert_eq!(na.display_name(b).unwrap(), b"Alice \"A\"");
        assert_eq!(na.uri.user(b), Some(&b"alice"[..]));
        assert_eq!(na.tag(b), Some(&b"1928301774"[..]));
        assert_eq!(na.param(b, b"x"), Some(None));
        assert!(na.angle);

        let s = "sip:caller@example.net;tag=134161461246";
        let na = one(s).unwrap();
        assert!(!na.angle);
        assert_eq!(na.uri.params(s.as_bytes()), b"");
        assert_eq!(na.tag(s.as_bytes()), Some(&b"134161461246"[..]));

        // RFC 4475 wsinv, lwsdisp, intmeth
        let s = "\r\n sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n";
        assert_eq!(one(s).unwrap().tag(s.as_bytes()), Some(&b"1918181833n"[..]));
        let s =
            "\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8";
        assert_eq!(one(s).unwrap().tag(s.as_bytes()), Some(&b"98asjd8"[..]));
        let s = "caller<sip:caller@example.com>;tag=323";
        assert_eq!(
            one(s).unwrap().display_name(s.as_bytes()).unwrap(),
            b"caller"
        );
        let s = "token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"\u{440}\u{430}\";tag=_token~1'+`*%!-.";
        assert_eq!(
            one(s).unwrap().tag(s.as_bytes()),
            Some(&b"_token~1'+`*%!-."[..])
        );
    }

    #[test]
    fn torture_rejections() {
        assert!(one("\"Mr. J. User <sip:j.user@example.com>").is_err()); // quotbal
        assert!(one("\"Watson, Thomas\" < sip:t.watson@example.org >").is_err()); // badaspec
        assert!(one("Bell, Alexander <sip:a.g.bell@example.com>;tag=43").is_err()); // baddn
        assert!(one("sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_err()); // regbadct
        assert!(one("<sip:user@example.com?Route=%3Csip:sip.example.com%3E>").is_ok()); // regescrt
        assert!(one("\"Joe\" <sip:joe@example.org>;;;;").is_err()); // badinv01
    }

    #[test]
    fn lists() {
        let s = "<sip:a@x>;expires=60, \"B\" <sip:b@y>;q=0.5,sip:c@z";
        let mut v = Vec::new();
        parse_list(s.as_bytes(), s.as_bytes(), false, &mut v).unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[1].param(s.as_bytes(), b"q"), Some(Some(&b"0.5"[..])));
        let mut v = Vec::new();
        assert!(parse_list(s.as_bytes(), s.as_bytes(), true, &mut v).is_err());
        let s = "<sip:services.example.com;lr;unknownwith=value;unknown-no-value>";
        let mut v = Vec::new();
        parse_list(s.as_bytes(), s.as_bytes(), true, &mut v).unwrap();
        assert_eq!(v[0].uri.param(s.as_bytes(), b"lr"), Some(None));
    }
}
