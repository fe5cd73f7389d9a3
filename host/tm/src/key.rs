//! Matching requests to server transactions (RFC 3261 §17.2.3, with the RFC 2543 rules for
//! branches without the magic cookie) and responses to our branches.

use sipwasm_proto::{Method, SipMessage};

/// Identifies a cell: `$T(id_index)` and `$T(id_label)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellId {
    /// Slot in the table.
    pub index: u32,
    /// Distinguishes successive cells of one slot.
    pub label: u32,
}

/// The server transaction a request belongs to: RFC 3261 matching (top Via branch,
/// sent-by, method) or, for a top Via without the magic cookie, RFC 2543 matching
/// (Request-URI, Call-ID, From tag, CSeq number, top Via, method).
///
/// One allocation holding length-prefixed fields: every live transaction keeps its key
/// in the table.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServerKey(Box<[u8]>);

impl ServerKey {
    /// True for RFC 2543 matching.
    pub fn is_rfc2543(&self) -> bool {
        self.0.first() == Some(&2)
    }

    /// The RFC 3261 §17.2.3 key: branch, sent-by (`host:port`, host lower-cased) and
    /// method, in one allocation (this runs for every request and ACK).
    fn rfc3261(branch: &[u8], host: &[u8], port: u16, method: &[u8]) -> ServerKey {
        use std::io::Write;
        // exact: `into_boxed_slice` reallocates a Vec whose capacity exceeds its length
        let port_digits = port.checked_ilog10().unwrap_or(0) as usize + 1;
        let len = 1 + 12 + branch.len() + host.len() + 1 + port_digits + method.len();
        let mut out = Vec::with_capacity(len);
        out.push(1);
        out.extend_from_slice(&(branch.len() as u32).to_le_bytes());
        out.extend_from_slice(branch);
        // sent-by's length goes before it: written once its port text is
        let len_at = out.len();
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(host);
        out[len_at + 4..].make_ascii_lowercase();
        write!(out, ":{port}").expect("writing to a Vec");
        let sent_by = (out.len() - len_at - 4) as u32;
        out[len_at..len_at + 4].copy_from_slice(&sent_by.to_le_bytes());
        out.extend_from_slice(&(method.len() as u32).to_le_bytes());
        out.extend_from_slice(method);
        debug_assert_eq!(out.len(), len);
        ServerKey(out.into_boxed_slice())
    }

    fn build(kind: u8, fields: &[&[u8]]) -> ServerKey {
        let len = 1 + fields.iter().map(|f| 4 + f.len()).sum::<usize>();
        let mut out = Vec::with_capacity(len);
        out.push(kind);
        for f in fields {
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
            out.extend_from_slice(f);
        }
        ServerKey(out.into_boxed_slice())
    }
}

/// Which transaction of a request to look for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFor {
    /// The request's own transaction (an ACK maps to its INVITE).
    Own,
    /// The INVITE a CANCEL targets.
    CancelTarget,
}

impl ServerKey {
    /// The key of the transaction `msg` (a request) belongs to.
    pub fn of(msg: &SipMessage, what: KeyFor) -> ServerKey {
        let b = msg.as_bytes();
        let method: &[u8] = match (msg.method(), what) {
            (Method::Ack, _) | (_, KeyFor::CancelTarget) => b"INVITE",
            _ => msg.method_text(),
        };
        let via = msg.top_via();
        if via.has_rfc3261_branch(b) {
            ServerKey::rfc3261(
                via.branch(b).unwrap_or_default(),
                via.host(b),
                via.port.unwrap_or(5060),
                method,
            )
        } else {
            let ruri = msg.request_uri().map(|u| u.as_bytes(b)).unwrap_or_default();
            let cseq = msg.cseq().number.to_le_bytes();
            // a missing From tag and an empty one must differ
            let tag = msg.from().tag(b);
            let has_tag = [u8::from(tag.is_some())];
            ServerKey::build(
                2,
                &[
                    ruri,
                    msg.call_id(),
                    &has_tag,
                    tag.unwrap_or_default(),
                    &cseq,
                    via.span.of(b),
                    method,
                ],
            )
        }
    }
}

/// Prefix of the branches of our client transactions: `z9hG4bK` + `sw.`.
pub const BRANCH_PREFIX: &str = "z9hG4bKsw.";

/// The Via branch of branch `n` of cell `id`.
pub fn branch_param(id: CellId, n: u16) -> String {
    use std::fmt::Write as _;
    // sized for the longest (8 + 8 + 5 digits): one allocation, not one per growth
    let mut s = String::with_capacity(BRANCH_PREFIX.len() + 23);
    write!(s, "{BRANCH_PREFIX}{:x}.{:x}.{n}", id.index, id.label).expect("writing to a String");
    s
}

/// The cell and branch a branch parameter of ours names.
pub fn parse_branch(branch: &[u8]) -> Option<(CellId, u16)> {
    let rest = std::str::from_utf8(branch.strip_prefix(BRANCH_PREFIX.as_bytes())?).ok()?;
    let mut it = rest.split('.');
    let index = u32::from_str_radix(it.next()?, 16).ok()?;
    let label = u32::from_str_radix(it.next()?, 16).ok()?;
    let n = it.next()?.parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    Some((CellId { index, label }, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(s: &str) -> SipMessage {
        SipMessage::parse_slice(s.as_bytes()).unwrap()
    }

    const INVITE: &str = "INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP H:5070;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=f\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn ack_and_cancel_map_to_the_invite() {
        let inv = msg(INVITE);
        let ack = msg(&INVITE
            .replace("INVITE sip", "ACK sip")
            .replace("1 INVITE", "1 ACK"));
        let cancel = msg(&INVITE
            .replace("INVITE sip", "CANCEL sip")
            .replace("1 INVITE", "1 CANCEL"));
        let k = ServerKey::of(&inv, KeyFor::Own);
        assert_eq!(ServerKey::of(&ack, KeyFor::Own), k);
        assert_eq!(ServerKey::of(&cancel, KeyFor::CancelTarget), k);
        assert_ne!(ServerKey::of(&cancel, KeyFor::Own), k);
        // sent-by host is case-insensitive, the port defaults to 5060
        let other = msg(&INVITE.replace("H:5070", "h:5070"));
        assert_eq!(ServerKey::of(&other, KeyFor::Own), k);
        let other = msg(&INVITE.replace("H:5070", "h"));
        assert_ne!(ServerKey::of(&other, KeyFor::Own), k);
    }

    #[test]
    fn rfc2543_matching() {
        let old = INVITE.replace(";branch=z9hG4bK1", ";branch=abc");
        let k = ServerKey::of(&msg(&old), KeyFor::Own);
        assert!(k.is_rfc2543());
        assert!(!ServerKey::of(&msg(INVITE), KeyFor::Own).is_rfc2543());
        let ack = old
            .replace("INVITE sip", "ACK sip")
            .replace("1 INVITE", "1 ACK");
        assert_eq!(ServerKey::of(&msg(&ack), KeyFor::Own), k);
        let other_cseq = old.replace("CSeq: 1", "CSeq: 2");
        assert_ne!(ServerKey::of(&msg(&other_cseq), KeyFor::Own), k);
    }

    #[test]
    fn branch_params_round_trip() {
        let id = CellId {
            index: 77,
            label: 0xdead,
        };
        let b = branch_param(id, 3);
        assert!(b.starts_with("z9hG4bK"));
        assert!(sipwasm_proto::chars::all(
            &sipwasm_proto::chars::TOKEN,
            b.as_bytes()
        ));
        assert_eq!(parse_branch(b.as_bytes()), Some((id, 3)));
        assert_eq!(parse_branch(b"z9hG4bK1234"), None);
        assert_eq!(parse_branch(b"z9hG4bKsw.1.2.3.4"), None);
    }

    /// (In a debug build `rfc3261` also asserts that its capacity was exact: no realloc.)
    #[test]
    fn the_rfc3261_key_is_the_generic_layout() {
        for (host, port) in [
            (&b"Example.COM"[..], 5060u16),
            (b"10.0.0.1", 0),
            (b"h", 65535),
            (b"h", 9),
            (b"h", 10),
        ] {
            let sent_by = [host.to_ascii_lowercase(), format!(":{port}").into_bytes()].concat();
            assert_eq!(
                ServerKey::rfc3261(b"z9hG4bKx", host, port, b"INVITE"),
                ServerKey::build(1, &[b"z9hG4bKx", &sent_by, b"INVITE"])
            );
        }
    }
}
