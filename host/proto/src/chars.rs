//! Character classes of the RFC 3261 grammar as 256-entry lookup tables.

const fn class(extra: &[u8], alnum: bool) -> [bool; 256] {
    let mut t = [false; 256];
    if alnum {
        let mut c = b'0';
        while c <= b'9' {
            t[c as usize] = true;
            c += 1;
        }
        let mut c = b'a';
        while c <= b'z' {
            t[c as usize] = true;
            t[(c - 32) as usize] = true;
            c += 1;
        }
    }
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
}

const fn union(a: [bool; 256], b: [bool; 256]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = a[i] || b[i];
        i += 1;
    }
    t
}

/// `token` (RFC 3261 §25.1): alphanum and `-.!%*_+`'~`.
pub const TOKEN: [bool; 256] = class(b"-.!%*_+`'~", true);
/// `word` (Call-ID): token characters plus `()<>:\"/[]?{}`.
pub const WORD: [bool; 256] = union(TOKEN, class(b"()<>:\\\"/[]?{}", false));
/// `unreserved`: alphanum and the marks `-_.!~*'()`.
pub const UNRESERVED: [bool; 256] = class(b"-_.!~*'()", true);
/// Characters of the user part of a SIP URI other than escapes.
pub const USER: [bool; 256] = union(UNRESERVED, class(b"&=+$,;?/", false));
/// Characters of the password of a SIP URI other than escapes.
pub const PASSWORD: [bool; 256] = union(UNRESERVED, class(b"&=+$,", false));
/// `paramchar` of URI parameters other than escapes.
pub const PARAM: [bool; 256] = union(UNRESERVED, class(b"[]/:&+$", false));
/// Characters of URI header names and values other than escapes.
pub const HNV: [bool; 256] = union(UNRESERVED, class(b"[]/?:+$", false));
/// Characters of a host name or IPv4 address.
pub const HOST: [bool; 256] = class(b"-._", true);
/// Characters of a telephone number in a tel URI (RFC 3966, loosely).
pub const TEL: [bool; 256] = class(b"+-.()*#", true);
/// Characters of a URI scheme after its first letter.
pub const SCHEME: [bool; 256] = class(b"+-.", true);

/// SP or HTAB.
#[inline]
pub const fn is_wsp(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// True for a character of `class`.
#[inline]
pub fn is(class: &[bool; 256], c: u8) -> bool {
    class[c as usize]
}

/// True when every byte of `s` is in `class` and `s` is not empty.
pub fn all(class: &[bool; 256], s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&c| class[c as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_match_the_rfc() {
        assert!(all(&TOKEN, b"z9hG4bK-.!%*_+`'~"));
        assert!(!is(&TOKEN, b':'));
        assert!(!is(&TOKEN, b'"'));
        assert!(all(&WORD, b"intmeth.word%ZK-!.*_+'"));
        assert!(all(&WORD, b"word`~)(><:\\/\"][?}{"));
        assert!(all(
            &USER,
            b"1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
        ));
        assert!(!is(&USER, b'@'));
        assert!(!is(&PARAM, b'@'));
        assert!(!is(&HNV, b'@'));
        assert!(is_wsp(b'\t') && !is_wsp(b'\r'));
    }
}
