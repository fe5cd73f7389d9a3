//! Telling SIP from other traffic on a SIP socket, by the first line only.
//!
//! Kamailio's nosip module hands every packet whose SIP parse fails to
//! `event_route[nosip:msg]`. sipwasm is stricter about what counts as "not SIP": a packet
//! whose first line *looks like* a SIP start line but is broken (a bad Request-URI, a
//! `SIP/7.0` version) is malformed SIP and gets its 400 or 505, as RFC 4475 demands; only a
//! packet whose first line is not a SIP start line at all is non-SIP. The check is cheap and
//! deliberately loose, so that every message of the RFC 4475 / RFC 5118 torture corpus
//! counts as SIP.

/// What the first line of some bytes says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sniff {
    /// A SIP start line (possibly a broken one).
    Sip,
    /// An MSRP frame (`MSRP <transact-id> ...`, RFC 4975).
    Msrp,
    /// Something else.
    NotSip,
    /// A stream that has not delivered its first line yet.
    NeedMore,
}

/// Longest first line a stream may take before it is judged without its end.
pub const FIRST_LINE_MAX: usize = 8192;

fn trim_end(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t' | b'\r'] = s {
        s = rest;
    }
    s
}

fn starts_with_sip_version(s: &[u8]) -> bool {
    s.len() >= 4 && s[..4].eq_ignore_ascii_case(b"SIP/")
}

/// True when `line` (without its line break) is shaped like a SIP status line
/// (`SIP/x.y ...`) or request line (`METHOD SP ... SP SIP/x.y`, or `METHOD SP sip:...`
/// missing its version).
pub fn is_sip_start_line(line: &[u8]) -> bool {
    let line = trim_end(line);
    if starts_with_sip_version(line) {
        return true;
    }
    let Some(first_sp) = line.iter().position(|&c| c == b' ') else {
        return false;
    };
    let method = &line[..first_sp];
    if method.is_empty() || !method.iter().all(|c| c.is_ascii_graphic()) {
        return false;
    }
    let last = match line.iter().rposition(|&c| c == b' ' || c == b'\t') {
        Some(p) => &line[p + 1..],
        None => return false,
    };
    if starts_with_sip_version(last) && last.len() <= 16 {
        return true;
    }
    // `METHOD sip:...` without a version: broken SIP (it gets a 400), not another protocol
    let rest = &line[first_sp + 1..];
    !rest.contains(&b' ')
        && [&b"sip:"[..], b"sips:", b"tel:"]
            .iter()
            .any(|s| rest.len() > s.len() && rest[..s.len()].eq_ignore_ascii_case(s))
}

/// Classify a datagram (or the head of a stream, with `complete == false`) by its first
/// line. Leading CR/LF (keep-alive bytes before a message) are skipped.
pub fn sniff(data: &[u8], complete: bool) -> Sniff {
    let start = data
        .iter()
        .position(|&c| c != b'\r' && c != b'\n')
        .unwrap_or(data.len());
    let rest = &data[start..];
    let line = match memchr::memchr(b'\n', rest) {
        Some(nl) => &rest[..nl],
        None if complete || rest.len() >= FIRST_LINE_MAX => rest,
        None => {
            // a stream: decide early when the bytes so far cannot start a SIP line
            return if rest.is_empty() || could_start_sip(rest) {
                Sniff::NeedMore
            } else {
                Sniff::NotSip
            };
        }
    };
    if is_sip_start_line(line) {
        Sniff::Sip
    } else if line.starts_with(b"MSRP ") {
        Sniff::Msrp
    } else {
        Sniff::NotSip
    }
}

/// True while an incomplete first line may still become a SIP start line.
fn could_start_sip(partial: &[u8]) -> bool {
    let n = partial.len().min(4);
    if partial[..n].eq_ignore_ascii_case(&b"SIP/"[..n]) {
        return true;
    }
    // a request line: a method token first (no control characters anywhere yet)
    partial
        .iter()
        .all(|&c| c == b' ' || c == b'\t' || c == b'\r' || c.is_ascii_graphic() || c >= 0x80)
        && partial[0].is_ascii_graphic()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_lines() {
        assert!(is_sip_start_line(b"INVITE sip:a@b SIP/2.0"));
        assert!(is_sip_start_line(b"OPTIONS sip:a@b SIP/7.0"));
        assert!(is_sip_start_line(b"OPTIONS sip:a@b SIP/2.0  \r"));
        assert!(is_sip_start_line(b"SIP/2.0 200 OK"));
        assert!(is_sip_start_line(b"sip/2.0 100"));
        assert!(!is_sip_start_line(b"GET / HTTP/1.1"));
        assert!(!is_sip_start_line(
            b":KREQUEST-RESUME-TRANSACTION:1:2:RESUME:"
        ));
        assert!(!is_sip_start_line(b"MSRP a786hjs2 SEND"));
        assert!(!is_sip_start_line(b""));
        assert!(!is_sip_start_line(b"\x00\x01 SIP/2.0"));
        // a request line without its version is broken SIP, not another protocol
        assert!(is_sip_start_line(b"INVITE sip:alan@jasomi.com"));
        assert!(!is_sip_start_line(b"GET http://example.com/ HTTP/1.1"));
        assert!(!is_sip_start_line(b"HELLO sip:"));
    }

    #[test]
    fn datagrams_and_streams() {
        assert_eq!(sniff(b"\r\nOPTIONS sip:a SIP/2.0\r\n", true), Sniff::Sip);
        assert_eq!(sniff(b"hello world", true), Sniff::NotSip);
        assert_eq!(sniff(b"OPTIONS sip:a@b SI", false), Sniff::NeedMore);
        assert_eq!(sniff(b"SI", false), Sniff::NeedMore);
        assert_eq!(sniff(b"\x16\x03\x01\x02", false), Sniff::NotSip);
        assert_eq!(sniff(b"hello\n", false), Sniff::NotSip);
        assert_eq!(sniff(b"MSRP a786hjs2 SEND\r\n", false), Sniff::Msrp);
        assert_eq!(sniff(b"", false), Sniff::NeedMore);
        assert_eq!(sniff(&[b'A'; FIRST_LINE_MAX], false), Sniff::NotSip);
    }
}
