//! nom parsers for the building blocks of the RFC 3261 grammar (§25.1): linear white
//! space with folding, tokens, quoted strings, separators, hosts and generic parameters.
//!
//! Every parser works on `&[u8]` sub-slices of the message buffer and returns sub-slices,
//! so callers turn results into [`Span`](crate::Span)s without copying.

use crate::chars::{self, is_wsp};
use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, digit1};
use nom::combinator::{opt, value};
use nom::sequence::{pair, preceded};
use nom::{IResult, Parser};
use std::net::Ipv6Addr;

/// Result of the parsers in this module.
pub type PResult<'a, T> = IResult<&'a [u8], T>;

fn fail<T>(i: &[u8]) -> PResult<'_, T> {
    Err(nom::Err::Error(nom::error::Error::new(
        i,
        nom::error::ErrorKind::Verify,
    )))
}

/// A line terminator: CRLF, or a bare LF as many implementations (and RFC 5118's archive)
/// send.
pub fn line_end(i: &[u8]) -> PResult<'_, &[u8]> {
    alt((tag(&b"\r\n"[..]), tag(&b"\n"[..]))).parse(i)
}

/// `*WSP`
pub fn wsp0(i: &[u8]) -> PResult<'_, &[u8]> {
    take_while(is_wsp)(i)
}

/// `1*WSP`
pub fn wsp1(i: &[u8]) -> PResult<'_, &[u8]> {
    take_while1(is_wsp)(i)
}

/// `LWS = [*WSP CRLF] 1*WSP`: white space, possibly folded onto the next line.
pub fn lws(i: &[u8]) -> PResult<'_, ()> {
    // Written out rather than as `alt((recognize((wsp0, line_end, wsp1)), wsp1))`: it is
    // tried around every separator of every header the parser reads.
    let n = wsp_len(i);
    let folded = match &i[n..] {
        [b'\r', b'\n', ..] => Some(n + 2),
        [b'\n', ..] => Some(n + 1),
        _ => None,
    };
    if let Some(k) = folded {
        let m = wsp_len(&i[k..]);
        if m > 0 {
            return Ok((&i[k + m..], ()));
        }
    }
    if n > 0 {
        return Ok((&i[n..], ()));
    }
    Err(nom::Err::Error(nom::error::Error::new(
        i,
        nom::error::ErrorKind::TakeWhile1,
    )))
}

/// Length of the run of SP and HTAB at the start of `i`.
#[inline]
fn wsp_len(i: &[u8]) -> usize {
    i.iter().position(|&c| !is_wsp(c)).unwrap_or(i.len())
}

/// True when `i` starts with a character that may begin LWS.
#[inline]
fn may_start_lws(i: &[u8]) -> bool {
    matches!(i.first(), Some(b' ' | b'\t' | b'\r' | b'\n'))
}

/// `SWS = [LWS]`
#[inline]
pub fn sws(i: &[u8]) -> PResult<'_, ()> {
    if !may_start_lws(i) {
        return Ok((i, ()));
    }
    Ok(lws(i).unwrap_or((i, ())))
}

/// Any run of LWS, including several folds in a row (tolerated inside header values).
pub fn sws_many(mut i: &[u8]) -> PResult<'_, ()> {
    while let Ok((rest, ())) = lws(i) {
        if rest.len() == i.len() {
            break;
        }
        i = rest;
    }
    Ok((i, ()))
}

/// `token`
#[inline]
pub fn token(i: &[u8]) -> PResult<'_, &[u8]> {
    let n = i
        .iter()
        .position(|&c| !chars::is(&chars::TOKEN, c))
        .unwrap_or(i.len());
    if n == 0 {
        return Err(nom::Err::Error(nom::error::Error::new(
            i,
            nom::error::ErrorKind::TakeWhile1,
        )));
    }
    Ok((&i[n..], &i[..n]))
}

/// `SWS c SWS`. The usual case, `c` with no white space before it, is answered without
/// trying LWS.
#[inline]
fn sep_char(i: &[u8], c: u8) -> PResult<'_, ()> {
    let (j, ()) = sws(i)?;
    if j.first() != Some(&c) {
        return Err(nom::Err::Error(nom::error::Error::new(
            j,
            nom::error::ErrorKind::Char,
        )));
    }
    sws(&j[1..])
}

/// `SEMI = SWS ";" SWS`
#[inline]
pub fn semi(i: &[u8]) -> PResult<'_, ()> {
    sep_char(i, b';')
}

/// `COMMA = SWS "," SWS`
pub fn comma(i: &[u8]) -> PResult<'_, ()> {
    sep_char(i, b',')
}

/// `EQUAL = SWS "=" SWS`
#[inline]
pub fn equal(i: &[u8]) -> PResult<'_, ()> {
    sep_char(i, b'=')
}

/// `SLASH = SWS "/" SWS`
pub fn slash(i: &[u8]) -> PResult<'_, ()> {
    sep_char(i, b'/')
}

/// `COLON = SWS ":" SWS`
pub fn colon(i: &[u8]) -> PResult<'_, ()> {
    sep_char(i, b':')
}

/// `LAQUOT = SWS "<"`
pub fn laquot(i: &[u8]) -> PResult<'_, ()> {
    value((), pair(sws, char('<'))).parse(i)
}

/// `RAQUOT = ">" SWS`
pub fn raquot(i: &[u8]) -> PResult<'_, ()> {
    value((), pair(char('>'), sws)).parse(i)
}

/// `quoted-string = SWS DQUOTE *(qdtext / quoted-pair) DQUOTE` without the leading SWS.
/// Returns the whole string including its quotes.
pub fn quoted_string(i: &[u8]) -> PResult<'_, &[u8]> {
    if i.first() != Some(&b'"') {
        return fail(i);
    }
    let mut pos = 1;
    loop {
        match i.get(pos) {
            None => return fail(i),
            Some(b'"') => return Ok((&i[pos + 1..], &i[..pos + 1])),
            Some(b'\\') => match i.get(pos + 1) {
                // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
                Some(&c) if c <= 0x7f && c != b'\n' && c != b'\r' => pos += 2,
                _ => return fail(i),
            },
            Some(b'\r' | b'\n') => match lws(&i[pos..]) {
                Ok((rest, ())) => pos = i.len() - rest.len(),
                Err(_) => return fail(i),
            },
            Some(&c) if c == b'\t' || c >= 0x20 && c != 0x7f => pos += 1,
            Some(_) => return fail(i),
        }
    }
}

/// The content of a quoted string with its quotes removed and quoted-pairs resolved.
pub fn unquote(q: &[u8]) -> Vec<u8> {
    let inner = q
        .strip_prefix(b"\"")
        .and_then(|s| s.strip_suffix(b"\""))
        .unwrap_or(q);
    let mut out = Vec::with_capacity(inner.len());
    let mut it = inner.iter();
    while let Some(&c) = it.next() {
        if c == b'\\' {
            if let Some(&n) = it.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// What kind of host a [`host`] parse found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKind {
    /// A DNS name.
    Name,
    /// A dotted-quad IPv4 address.
    Ipv4,
    /// A bracketed IPv6 reference `[...]`.
    Ipv6,
}

/// `host = hostname / IPv4address / IPv6reference`.
///
/// Host names are accepted leniently (underscores, labels starting with a digit), but
/// something that looks like an IPv4 address must be one, and an IPv6 reference must be a
/// valid address (RFC 5118 §4.4 rejects the historical three-colon form).
pub fn host(i: &[u8]) -> PResult<'_, (&[u8], HostKind)> {
    if i.first() == Some(&b'[') {
        let end = match i.iter().position(|&c| c == b']') {
            Some(e) => e,
            None => return fail(i),
        };
        let inner = &i[1..end];
        let ok = std::str::from_utf8(inner)
            .ok()
            .and_then(|s| s.parse::<Ipv6Addr>().ok())
            .is_some();
        if !ok {
            return fail(i);
        }
        return Ok((&i[end + 1..], (&i[..end + 1], HostKind::Ipv6)));
    }
    // one pass over the run of host characters, noting which kinds it holds
    let mut n = 0;
    let mut kinds = 0u8;
    while let Some(&c) = i.get(n) {
        let k = HOST_KINDS[c as usize];
        if k == 0 {
            break;
        }
        kinds |= k;
        n += 1;
    }
    if n == 0 {
        return fail(i);
    }
    let (h, rest) = i.split_at(n);
    if kinds & HOST_OTHER == 0 {
        if !is_ipv4(h) {
            return fail(i);
        }
        return Ok((rest, (h, HostKind::Ipv4)));
    }
    if kinds & HOST_DOT != 0 && (h[0] == b'.' || h.windows(2).any(|w| w == b"..")) {
        return fail(i);
    }
    Ok((rest, (h, HostKind::Name)))
}

/// [`HOST_KINDS`]: a letter, `-` or `_`.
const HOST_OTHER: u8 = 1;
/// [`HOST_KINDS`]: a digit.
const HOST_DIGIT: u8 = 2;
/// [`HOST_KINDS`]: `.`.
const HOST_DOT: u8 = 4;

/// What each character is in a host ([`chars::HOST`]); 0 for characters that end it.
static HOST_KINDS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        if chars::HOST[c] {
            t[c] = match c as u8 {
                b'0'..=b'9' => HOST_DIGIT,
                b'.' => HOST_DOT,
                _ => HOST_OTHER,
            };
        }
        c += 1;
    }
    t
};

/// A dotted-quad IPv4 address as `std::net::Ipv4Addr` accepts it (four decimal octets up
/// to 255, no leading zeros), checked on the bytes.
fn is_ipv4(h: &[u8]) -> bool {
    let mut octets = 0;
    let mut value = 0u32;
    let mut digits = 0;
    for &c in h {
        if c == b'.' {
            if digits == 0 || octets == 3 {
                return false;
            }
            octets += 1;
            digits = 0;
            value = 0;
            continue;
        }
        if !c.is_ascii_digit() || (digits == 1 && value == 0) {
            // not a digit, or a digit after a leading zero
            return false;
        }
        value = value * 10 + u32::from(c - b'0');
        digits += 1;
        if value > 255 {
            return false;
        }
    }
    octets == 3 && digits > 0
}

/// `port = 1*DIGIT`, within 0..=65535.
pub fn port(i: &[u8]) -> PResult<'_, u16> {
    let (rest, d) = digit1(i)?;
    if d.len() > 5 {
        return fail(i);
    }
    let n = d.iter().fold(0u32, |n, &c| n * 10 + u32::from(c - b'0'));
    match u16::try_from(n) {
        Ok(p) => Ok((rest, p)),
        Err(_) => fail(i),
    }
}

/// An IP address as the value of a Via `received` parameter: IPv4, IPv6 with or without
/// brackets (RFC 5118 §4.5).
pub fn received_addr(i: &[u8]) -> PResult<'_, &[u8]> {
    if i.first() == Some(&b'[') {
        return host(i).map(|(r, (h, _))| (r, h));
    }
    let (rest, a) = take_while1(|c: u8| c.is_ascii_hexdigit() || c == b'.' || c == b':')(i)?;
    let s = std::str::from_utf8(a).unwrap_or("");
    if s.parse::<std::net::IpAddr>().is_err() {
        return fail(i);
    }
    Ok((rest, a))
}

/// `generic-param = token [ EQUAL gen-value ]`, `gen-value = token / host / quoted-string`.
pub fn generic_param(i: &[u8]) -> PResult<'_, (&[u8], Option<&[u8]>)> {
    let (i, name) = token(i)?;
    let (i, value) = opt(preceded(equal, gen_value)).parse(i)?;
    Ok((i, (name, value)))
}

fn gen_value(i: &[u8]) -> PResult<'_, &[u8]> {
    match i.first() {
        Some(b'"') => quoted_string(i),
        Some(b'[') => host(i).map(|(r, (h, _))| (r, h)),
        _ => {
            // IPv6 addresses without brackets, as RFC 5118 allows in `received`, unless the
            // characters go on as a token. Only a value with a `:` can be one: an address
            // without a colon (IPv4) is made of token characters and reads the same as a
            // token, so the address is tried only where the token stops at a colon.
            let token = token(i);
            let stop = match &token {
                Ok((rest, _)) => *rest,
                Err(_) => i,
            };
            if stop.first() == Some(&b':')
                && let Ok((rest, a)) = received_addr(i)
                && !rest.first().is_some_and(|&c| chars::is(&chars::TOKEN, c))
            {
                return Ok((rest, a));
            }
            token
        }
    }
}

/// `*( SEMI generic-param )`: returns the whole parameter section as one slice (starting at
/// the first `;`), which [`Params`] iterates later.
pub fn params(i: &[u8]) -> PResult<'_, &[u8]> {
    let mut rest = i;
    loop {
        let Ok((after, _)) = preceded(semi, generic_param).parse(rest) else {
            // A `;` that does not start a valid parameter is an error, not the end.
            if let Ok((_, ())) = semi(rest) {
                return fail(rest);
            }
            break;
        };
        rest = after;
    }
    // Trailing white space belongs to whatever follows the parameters.
    let mut end = i.len() - rest.len();
    while end > 0 && matches!(i[end - 1], b' ' | b'\t' | b'\r' | b'\n') {
        end -= 1;
    }
    Ok((&i[end..], &i[..end]))
}

/// Iterates `;name[=value]` pairs of a parameter section returned by [`params`].
#[derive(Clone)]
pub struct Params<'a> {
    rest: &'a [u8],
}

impl<'a> Params<'a> {
    /// Iterate the parameters in `section`.
    pub fn new(section: &'a [u8]) -> Self {
        Params { rest: section }
    }

    /// The value of the first parameter called `name` (case-insensitive).
    /// `Some(None)` when present without a value.
    pub fn get(self, name: &[u8]) -> Option<Option<&'a [u8]>> {
        self.into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

impl<'a> Iterator for Params<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        let (rest, item) = preceded(semi, generic_param).parse(self.rest).ok()?;
        self.rest = rest;
        Some(item)
    }
}

/// Trim white space (including folded line breaks) on both ends.
pub fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &s[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lws_accepts_folding_and_plain_space() {
        assert_eq!(lws(b"  x"), Ok((&b"x"[..], ())));
        assert_eq!(lws(b" \r\n  x"), Ok((&b"x"[..], ())));
        assert_eq!(lws(b"\r\n\tx"), Ok((&b"x"[..], ())));
        assert!(lws(b"\r\nx").is_err());
        assert_eq!(sws(b"\r\nx"), Ok((&b"\r\nx"[..], ())));
    }

    #[test]
    fn quoted_strings() {
        let (rest, q) = quoted_string(br#""J Rosenberg \\\""  <x"#).unwrap();
        assert_eq!(q, br#""J Rosenberg \\\"""#);
        assert_eq!(rest, b"  <x");
        assert_eq!(unquote(q), br#"J Rosenberg \""#);
        assert!(quoted_string(br#""Mr. J. User <sip:j.user@example.com>"#).is_err());
        // quoted-pair may escape control characters but not CR or LF
        assert!(quoted_string(b"\"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f\"").is_ok());
        assert!(quoted_string(b"\"a\\\r\"").is_err());
        // UTF-8 inside
        assert!(quoted_string("\"Ω ok\"".as_bytes()).is_ok());
    }

    #[test]
    fn hosts() {
        assert_eq!(host(b"example.com:5060").unwrap().1.1, HostKind::Name);
        assert_eq!(
            host(b"192.0.2.1;x").unwrap().1,
            (&b"192.0.2.1"[..], HostKind::Ipv4)
        );
        assert_eq!(
            host(b"[2001:db8::10]:5070").unwrap(),
            (&b":5070"[..], (&b"[2001:db8::10]"[..], HostKind::Ipv6))
        );
        assert!(host(b"[2001:db8:::192.0.2.1]").is_err());
        assert!(host(b"999.1.1.1").is_err());
        assert!(host(b"[::ffff:192.0.2.10]").is_ok());
        assert!(port(b"65536").is_err());
        assert_eq!(port(b"5060;").unwrap(), (&b";"[..], 5060));
    }

    #[test]
    fn params_section_and_iteration() {
        let (rest, p) = params(b";branch=z9hG4bK1 ; rport;received=[::1] ,next").unwrap();
        assert_eq!(rest, b" ,next");
        let all: Vec<_> = Params::new(p).collect();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0], (&b"branch"[..], Some(&b"z9hG4bK1"[..])));
        assert_eq!(all[1], (&b"rport"[..], None));
        assert_eq!(Params::new(p).get(b"RECEIVED"), Some(Some(&b"[::1]"[..])));
        assert!(params(b";;,").is_err());
        assert!(params(b"; tag = \r\n  abc").is_ok());
        let (_, p) = params(b";received=2001:db8::9:255;branch=z9hG4bKas3").unwrap();
        assert_eq!(
            Params::new(p).get(b"received"),
            Some(Some(&b"2001:db8::9:255"[..]))
        );
    }

    #[test]
    fn ipv4_and_port_checks_agree_with_std() {
        for text in [
            "10.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "256.0.0.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            "1.2.3.",
            ".1.2.3",
            "1234.1.1.1",
            "0.00.0.0",
            "9.99.199.249",
            "",
            ".",
            "....",
        ] {
            assert_eq!(
                is_ipv4(text.as_bytes()),
                text.parse::<std::net::Ipv4Addr>().is_ok(),
                "{text:?}"
            );
        }
        for text in ["0", "5060", "65535", "65536", "99999", "00080"] {
            assert_eq!(
                port(text.as_bytes()).ok().map(|(_, p)| p),
                text.parse::<u16>().ok(),
                "{text:?}"
            );
        }
        assert!(lws(b"x").is_err() && lws(b"").is_err());
        assert_eq!(lws(b" \r\n\tx").unwrap().0, b"x");
    }

    /// `gen_value` as it was written first, a received address tried before every token:
    /// the fast path must read every value the same.
    fn gen_value_reference(i: &[u8]) -> PResult<'_, &[u8]> {
        match i.first() {
            Some(b'"') => quoted_string(i),
            Some(b'[') => host(i).map(|(r, (h, _))| (r, h)),
            _ => {
                if let Ok((rest, a)) = received_addr(i)
                    && !rest.first().is_some_and(|&c| chars::is(&chars::TOKEN, c))
                {
                    return Ok((rest, a));
                }
                token(i)
            }
        }
    }

    #[test]
    fn parameter_values_read_as_the_grammar_says() {
        for text in [
            "z9hG4bK-29243-1-0;rport",
            "127.0.0.1;branch=x",
            "2001:db8::9:255;branch=z",
            "::1",
            "::1x",
            "fe80::1x;a",
            "abc:def",
            "1.2.3.4:5060",
            "29243SIPpTag001",
            "5061",
            "deadbeef",
            "cafe:",
            ":",
            ";",
            "",
            "\"q\" x",
            "[::1]:5",
            "a.b.c",
            "0:0:0:0:0:0:0:0",
        ] {
            let b = text.as_bytes();
            assert_eq!(gen_value(b), gen_value_reference(b), "{text:?}");
        }
    }

    #[test]
    fn separators_with_and_without_white_space() {
        for text in [
            ";x",
            " ;x",
            " ; x",
            "\r\n ;\r\n x",
            ";\r\nx",
            "x",
            "",
            " \r\n",
            ";",
        ] {
            let reference = delimited_reference(text.as_bytes());
            assert_eq!(semi(text.as_bytes()), reference, "{text:?}");
        }
    }

    /// `SWS ";" SWS` with nom's combinators, as `semi` was first written.
    fn delimited_reference(i: &[u8]) -> PResult<'_, ()> {
        use nom::sequence::delimited;
        value((), delimited(opt(lws), char(';'), opt(lws))).parse(i)
    }
}
