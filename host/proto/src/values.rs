//! Single-value headers the router relies on: CSeq, Call-ID, Max-Forwards,
//! Content-Length, and the Date format.

use crate::chars;
use crate::grammar;
use crate::method::Method;
use crate::span::Span;
use nom::Parser;
use nom::bytes::complete::{tag, take_while_m_n};
use nom::character::complete::char;

/// The CSeq header: sequence number and method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number, below 2^31 (RFC 3261 §8.1.1.5).
    pub number: u32,
    /// Method.
    pub method: Method,
    /// Method as written.
    pub method_span: Span,
}

/// Parse a CSeq value: `1*DIGIT LWS Method`.
pub fn parse_cseq(base: &[u8], value: &[u8]) -> Result<CSeq, &'static str> {
    let digits = value.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return Err("missing sequence number");
    }
    let number = parse_decimal(&value[..digits])
        .filter(|n| *n < 1 << 31)
        .ok_or("sequence number must be below 2^31")?;
    let (rest, ()) = grammar::lws(&value[digits..]).map_err(|_| "missing white space")?;
    let (rest, method) = grammar::token(rest).map_err(|_| "missing method")?;
    if !rest.is_empty() {
        return Err("unexpected characters after method");
    }
    Ok(CSeq {
        number: number as u32,
        method: Method::from_bytes(method),
        method_span: Span::within(base, method),
    })
}

/// A decimal number of at most 19 digits (no overflow), `None` otherwise.
pub fn parse_decimal(d: &[u8]) -> Option<u64> {
    if d.is_empty() || d.len() > 19 || !d.iter().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(d.iter().fold(0u64, |n, &c| n * 10 + u64::from(c - b'0')))
}

/// Check a Call-ID: `word [ "@" word ]`.
pub fn check_call_id(value: &[u8]) -> Result<(), &'static str> {
    let mut parts = value.splitn(2, |&c| c == b'@');
    let first = parts.next().unwrap_or_default();
    if !chars::all(&chars::WORD, first) {
        return Err("invalid characters in Call-ID");
    }
    if let Some(second) = parts.next()
        && !chars::all(&chars::WORD, second)
    {
        return Err("invalid characters in Call-ID");
    }
    Ok(())
}

/// Parse Max-Forwards: `1*DIGIT`, 0..=255.
pub fn parse_max_forwards(value: &[u8]) -> Result<u8, &'static str> {
    parse_decimal(value)
        .filter(|n| *n <= 255)
        .map(|n| n as u8)
        .ok_or("must be a number from 0 to 255")
}

/// Parse Content-Length: `1*DIGIT` that fits in 32 bits.
pub fn parse_content_length(value: &[u8]) -> Result<u32, &'static str> {
    parse_decimal(value)
        .filter(|n| *n <= u64::from(u32::MAX))
        .map(|n| n as u32)
        .ok_or("must be a non-negative number")
}

/// Check a Date value: `rfc1123-date = wkday "," SP date1 SP time SP "GMT"`.
pub fn check_date(value: &[u8]) -> Result<(), &'static str> {
    const DAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let two = || take_while_m_n(2, 2, |c: u8| c.is_ascii_digit());
    let parsed: nom::IResult<&[u8], _> = (
        take_while_m_n(3, 3, |c: u8| c.is_ascii_alphabetic()),
        tag(&b", "[..]),
        two(),
        char(' '),
        take_while_m_n(3, 3, |c: u8| c.is_ascii_alphabetic()),
        char(' '),
        take_while_m_n(4, 4, |c: u8| c.is_ascii_digit()),
        char(' '),
        (two(), char(':'), two(), char(':'), two()),
        tag(&b" GMT"[..]),
    )
        .parse(value);
    let (rest, (day, _, mday, _, month, _, _, _, (h, _, m, _, s), _)) =
        parsed.map_err(|_| "not an RFC 1123 date in GMT")?;
    let num = |d: &[u8]| parse_decimal(d).unwrap_or(99);
    if !rest.is_empty()
        || !DAYS.contains(&day)
        || !MONTHS.contains(&month)
        || !(1..=31).contains(&num(mday))
        || num(h) > 23
        || num(m) > 59
        || num(s) > 60
    {
        return Err("not an RFC 1123 date in GMT");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cseq() {
        let v = b"0009\r\n  INVITE";
        let c = parse_cseq(v, v).unwrap();
        assert_eq!((c.number, c.method), (9, Method::Invite));
        assert_eq!(c.method_span.of(v), b"INVITE");
        assert!(
            parse_cseq(
                b"36893488147419103232 REGISTER",
                b"36893488147419103232 REGISTER"
            )
            .is_err()
        );
        assert!(parse_cseq(b"2147483648 INVITE", b"2147483648 INVITE").is_err());
        assert!(parse_cseq(b"2147483647 INVITE", b"2147483647 INVITE").is_ok());
        assert!(parse_cseq(b"1INVITE", b"1INVITE").is_err());
        assert!(parse_cseq(b"1 INVITE x", b"1 INVITE x").is_err());
    }

    #[test]
    fn small_headers() {
        assert_eq!(parse_max_forwards(b"0068"), Ok(68));
        assert!(parse_max_forwards(b"300").is_err());
        assert!(parse_max_forwards(b"-1").is_err());
        assert_eq!(parse_content_length(b"150"), Ok(150));
        assert!(parse_content_length(b"-999").is_err());
        assert!(parse_content_length(b"99999999999").is_err());
        assert!(check_call_id(b"intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{").is_ok());
        assert!(check_call_id(b"a b").is_err());
        assert!(check_call_id(b"a@b@c").is_err());
        assert!(check_call_id(b"").is_err());
    }

    #[test]
    fn dates() {
        assert!(check_date(b"Sat, 15 Oct 2005 04:44:56 GMT").is_ok());
        assert!(check_date(b"Fri, 01 Jan 2010 16:00:00 EST").is_err());
        assert!(check_date(b"Xyz, 01 Jan 2010 16:00:00 GMT").is_err());
        assert!(check_date(b"Fri, 01 Foo 2010 16:00:00 GMT").is_err());
    }
}
