//! Text operations on the message (Kamailio's `textops` and `textopsx`): the body read,
//! set and removed, searched and rewritten with regular expressions (`replace_body`,
//! `subst_body`), header values rewritten (`subst_hf`), multipart parts read and kept
//! (`get_body_part`, `filter_body`), and the body of local replies (`set_reply_body`).
//!
//! Unlike Kamailio, each body operation sees the body as the previous ones left it (there
//! is no `msg_apply_changes` to call): the body is one value replaced whole, and the
//! Content-Length is written from it when the message is sent. Header operations work on
//! the headers as received, as Kamailio's lumps do. This module holds the pure parts
//! (expressions, multipart); `route` applies them to the message.

use regex::bytes::{Regex, RegexBuilder};
use std::ops::Range;

mod route;

/// Largest body a plugin may set or an edit may produce.
pub const MAX_BODY: usize = 64 * 1024;

/// Why a text operation failed; mirrors the WIT `textops.error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TextopsError {
    /// The regular expression does not compile (or is too large).
    #[error("invalid regular expression: {0}")]
    InvalidRegex(String),
    /// The substitution is not `/regex/replacement/flags`.
    #[error("invalid substitution: {0}")]
    InvalidSubst(String),
    /// The body or the result is larger than [`MAX_BODY`].
    #[error("{0}")]
    TooLarge(String),
    /// A Content-Type or header value that would break the message.
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// The event has no SIP message.
    #[error("no SIP message in this event")]
    NoMessage,
}

/// Compile a plugin's regular expression, bounded (a hostile pattern cannot blow up
/// memory), case-insensitive when asked.
pub fn regex(re: &str, case_insensitive: bool, dot_all: bool) -> Result<Regex, TextopsError> {
    RegexBuilder::new(re)
        .case_insensitive(case_insensitive)
        .dot_matches_new_line(dot_all)
        .size_limit(1 << 20)
        .dfa_size_limit(1 << 20)
        .build()
        .map_err(|e| TextopsError::InvalidRegex(e.to_string()))
}

/// A sed-like substitution: `/regex/replacement/flags` (Kamailio's `subst`), any
/// delimiter, `\<delimiter>` for the delimiter itself. The replacement may use `\0` to `\9`
/// for the match and its groups, `\\`, `\n`, `\r` and `\t`. Flags: `g` every match, `i`
/// case ignored, `s` `.` matching line ends too.
#[derive(Clone, Debug)]
pub struct Subst {
    re: Regex,
    /// In the regex crate's replacement syntax (`${N}`, `$$`).
    replacement: Vec<u8>,
    global: bool,
}

/// Split `s` at unescaped `delim`s, unescaping `\<delim>`.
fn split_fields(s: &str, delim: char) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&delim) {
            fields.last_mut().expect("one field").push(delim);
            chars.next();
        } else if c == '\\' {
            let f = fields.last_mut().expect("one field");
            f.push('\\');
            if let Some(n) = chars.next() {
                f.push(n);
            }
        } else if c == delim {
            fields.push(String::new());
        } else {
            fields.last_mut().expect("one field").push(c);
        }
    }
    fields
}

impl Subst {
    /// Parse `expr`.
    pub fn parse(expr: &str) -> Result<Subst, TextopsError> {
        let bad = |why: &str| TextopsError::InvalidSubst(format!("{expr:?}: {why}"));
        let delim = expr.chars().next().ok_or_else(|| bad("empty"))?;
        if delim.is_alphanumeric() || delim == '\\' || delim.is_whitespace() {
            return Err(bad("the delimiter must be a punctuation character"));
        }
        let fields = split_fields(&expr[delim.len_utf8()..], delim);
        let [re, repl, flags] = <[String; 3]>::try_from(fields)
            .map_err(|_| bad("expected /regex/replacement/flags"))?;
        let (mut global, mut icase, mut dot_all) = (false, false, false);
        for f in flags.chars() {
            match f {
                'g' => global = true,
                'i' => icase = true,
                's' => dot_all = true,
                other => return Err(bad(&format!("unknown flag {other:?}"))),
            }
        }
        let mut replacement = Vec::with_capacity(repl.len());
        let mut chars = repl.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(d @ '0'..='9') => {
                        replacement.extend_from_slice(format!("${{{d}}}").as_bytes())
                    }
                    Some('n') => replacement.push(b'\n'),
                    Some('r') => replacement.push(b'\r'),
                    Some('t') => replacement.push(b'\t'),
                    Some('\\') => replacement.push(b'\\'),
                    Some(other) => return Err(bad(&format!("unknown escape \\{other}"))),
                    None => return Err(bad("a lone \\ at the end")),
                },
                '$' => replacement.extend_from_slice(b"$$"),
                c => {
                    let mut buf = [0u8; 4];
                    replacement.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        Ok(Subst {
            re: regex(&re, icase, dot_all)?,
            replacement,
            global,
        })
    }

    /// `text` substituted, and how many matches were replaced; refused when the result
    /// would pass `limit` bytes (checked as it grows: a short pattern with a long
    /// replacement cannot make the host build a huge result first).
    pub fn apply(&self, text: &[u8], limit: usize) -> Result<(Vec<u8>, u32), TextopsError> {
        let mut out = Vec::with_capacity(text.len());
        let mut last = 0;
        let mut n = 0u32;
        for caps in self.re.captures_iter(text) {
            let m = caps.get(0).expect("group 0 is the match");
            out.extend_from_slice(&text[last..m.start()]);
            caps.expand(&self.replacement, &mut out);
            last = m.end();
            n += 1;
            if out.len() > limit {
                return Err(too_large_result(limit));
            }
            if !self.global {
                break;
            }
        }
        out.extend_from_slice(&text[last..]);
        if out.len() > limit {
            return Err(too_large_result(limit));
        }
        Ok((out, n))
    }
}

fn too_large_result(limit: usize) -> TextopsError {
    TextopsError::TooLarge(format!("the result would pass {limit} bytes"))
}

/// `text` with the first (or every) match of `re` replaced by `with`, taken literally;
/// how many were replaced. Refused past `limit` bytes, as [`Subst::apply`].
pub fn replace(
    re: &Regex,
    text: &[u8],
    with: &[u8],
    all: bool,
    limit: usize,
) -> Result<(Vec<u8>, u32), TextopsError> {
    let mut out = Vec::with_capacity(text.len());
    let mut last = 0;
    let mut n = 0u32;
    for m in re.find_iter(text) {
        out.extend_from_slice(&text[last..m.start()]);
        out.extend_from_slice(with);
        last = m.end();
        n += 1;
        if out.len() > limit {
            return Err(too_large_result(limit));
        }
        if !all {
            break;
        }
    }
    out.extend_from_slice(&text[last..]);
    if out.len() > limit {
        return Err(too_large_result(limit));
    }
    Ok((out, n))
}

/// True when the Content-Type `value` is `wanted` (`type/subtype`, parameters and case
/// ignored; `wanted` "" matches any).
pub fn content_type_is(value: &str, wanted: &str) -> bool {
    let media = value.split(';').next().unwrap_or("").trim();
    wanted.is_empty() || media.eq_ignore_ascii_case(wanted.trim())
}

/// Check a Content-Type a plugin gives: `type/subtype` with optional parameters, on one
/// line.
pub fn check_content_type(value: &str) -> Result<(), TextopsError> {
    let media = value.split(';').next().unwrap_or("").trim();
    let ok = media.split_once('/').is_some_and(|(t, s)| {
        !t.is_empty()
            && !s.is_empty()
            && media
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"/+-.!#$&^_".contains(&c))
    }) && !value.bytes().any(|c| c.is_ascii_control());
    if ok {
        Ok(())
    } else {
        Err(TextopsError::InvalidValue(format!(
            "content type {value:?} (expected type/subtype)"
        )))
    }
}

/// One part of a multipart body (RFC 2046).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// Its Content-Type ("text/plain" when it names none, as RFC 2046 says).
    pub content_type: String,
    /// Where its content is in the body.
    pub content: Range<usize>,
}

/// The `boundary` parameter of a multipart Content-Type.
fn boundary(content_type: &str) -> Option<String> {
    if !content_type_is_multipart(content_type) {
        return None;
    }
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty() && b.len() <= 70)
    })
}

fn content_type_is_multipart(value: &str) -> bool {
    value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
        .starts_with("multipart/")
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The parts of `body` when `content_type` is multipart with a boundary; `None` when it
/// is not multipart or the body does not follow its boundary.
pub fn multipart_parts(content_type: &str, body: &[u8]) -> Option<Vec<Part>> {
    let b = boundary(content_type)?;
    let delim = format!("--{b}");
    let delim = delim.as_bytes();
    // the first delimiter starts the body or a line
    let mut at = if body.starts_with(delim) {
        0
    } else {
        find(body, &[b"\r\n", delim].concat(), 0)? + 2
    };
    let mut parts = Vec::new();
    loop {
        let after = at + delim.len();
        if body.get(after..after + 2) == Some(b"--") {
            return Some(parts);
        }
        // the rest of the delimiter line
        let line_end = find(body, b"\r\n", after)? + 2;
        let next = find(body, &[b"\r\n", delim].concat(), line_end)?;
        let part = &body[line_end..next];
        let (head_len, content_start) = match find(part, b"\r\n\r\n", 0) {
            Some(p) => (p + 2, p + 4),
            None if part.starts_with(b"\r\n") => (0, 2),
            None => return None,
        };
        let headers = std::str::from_utf8(&part[..head_len]).ok()?;
        let content_type = headers
            .split("\r\n")
            .find_map(|h| {
                let (name, value) = h.split_once(':')?;
                let name = name.trim();
                (name.eq_ignore_ascii_case("content-type") || name.eq_ignore_ascii_case("c"))
                    .then(|| value.trim().to_string())
            })
            .unwrap_or_else(|| "text/plain".to_string());
        parts.push(Part {
            content_type,
            content: line_end + content_start..next,
        });
        if parts.len() > 64 {
            return None;
        }
        at = next + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutions_as_sed_writes_them() {
        let s = Subst::parse("/a(b+)c/[\\1]/g").unwrap();
        assert_eq!(
            s.apply(b"abc abbc x", 100).unwrap(),
            (b"[b] [bb] x".to_vec(), 2)
        );
        let s = Subst::parse("/a(b+)c/[\\1]/").unwrap();
        assert_eq!(s.apply(b"abc abbc", 100).unwrap().1, 1);
        let s = Subst::parse("#IN IP4 [0-9.]+#IN IP4 203.0.113.1#").unwrap();
        assert_eq!(
            s.apply(b"c=IN IP4 10.0.0.1\r\n", 100).unwrap().0,
            b"c=IN IP4 203.0.113.1\r\n"
        );
        let s = Subst::parse("/pcmu/PCMA/i").unwrap();
        assert_eq!(s.apply(b"PCMU", 100).unwrap().0, b"PCMA");
        // the delimiter escaped, a dollar kept literally, \\0 the whole match
        let s = Subst::parse("/a\\/b/$x<\\0>/").unwrap();
        assert_eq!(s.apply(b"a/b", 100).unwrap().0, b"$x<a/b>");
        assert_eq!(
            Subst::parse("/x/y/").unwrap().apply(b"none", 100).unwrap(),
            (b"none".to_vec(), 0)
        );
        // an empty pattern everywhere with a long replacement stops at the limit
        let s = Subst::parse(&format!("/x*/{}/g", "y".repeat(1000))).unwrap();
        assert!(matches!(
            s.apply(&[b'a'; 100], 10_000),
            Err(TextopsError::TooLarge(_))
        ));
        for bad in [
            "", "abc", "/a/b", "/a/b/c/d", "/a/b/q", "/(/x/", "/a/\\q/", "/a/b\\/",
        ] {
            assert!(Subst::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn replace_is_literal() {
        let re = regex("o+", false, false).unwrap();
        assert_eq!(
            replace(&re, b"foo boo", b"$1", false, 100).unwrap(),
            (b"f$1 boo".to_vec(), 1)
        );
        assert_eq!(
            replace(&re, b"foo boo", b"0", true, 100).unwrap(),
            (b"f0 b0".to_vec(), 2)
        );
        let empty = regex("", false, false).unwrap();
        assert!(replace(&empty, &[b'a'; 1000], &[b'b'; 1000], true, 64 * 1024).is_err());
        assert!(regex("(", false, false).is_err());
        assert!(regex("a{1000}{1000}", false, false).is_err());
    }

    #[test]
    fn content_types_compare_by_media_type() {
        assert!(content_type_is(
            "Application/SDP; charset=x",
            "application/sdp"
        ));
        assert!(content_type_is("text/plain", ""));
        assert!(!content_type_is("application/sdp", "application/pidf+xml"));
        assert!(check_content_type("application/pidf+xml").is_ok());
        assert!(check_content_type("multipart/mixed;boundary=abc").is_ok());
        assert!(check_content_type("sdp").is_err());
        assert!(check_content_type("text/plain\r\nX: y").is_err());
    }

    const MULTIPART: &[u8] = b"--unique-boundary-1\r\n\
Content-Type: application/sdp\r\n\
\r\n\
v=0\r\n\
m=audio 4000 RTP/AVP 0\r\n\
\r\n\
--unique-boundary-1\r\n\
Content-Type: application/isup; version=itu-t92+\r\n\
Content-Disposition: signal; handling=optional\r\n\
\r\n\
\x01\x00\x49\r\n\
--unique-boundary-1--\r\n";

    #[test]
    fn multipart_parts_are_found_by_their_boundary() {
        let ct = "multipart/mixed; boundary=\"unique-boundary-1\"";
        let parts = multipart_parts(ct, MULTIPART).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].content_type, "application/sdp");
        assert_eq!(
            &MULTIPART[parts[0].content.clone()],
            b"v=0\r\nm=audio 4000 RTP/AVP 0\r\n"
        );
        assert!(content_type_is(&parts[1].content_type, "application/isup"));
        assert_eq!(&MULTIPART[parts[1].content.clone()], b"\x01\x00\x49");
        assert!(multipart_parts("application/sdp", MULTIPART).is_none());
        assert!(multipart_parts("multipart/mixed;boundary=other", MULTIPART).is_none());
        assert!(multipart_parts(ct, b"--unique-boundary-1\r\nContent-Type: a/b\r\n").is_none());
    }
}
