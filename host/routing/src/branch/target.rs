//! One target of the destination set, and its q value.

use crate::env::addr::{ConnId, Listener};

/// A q value in thousandths (`q=0.5` is 500), as Kamailio keeps it.
pub type Q = u16;

/// The q value of `text` (`"0.7"`, `"1"`, `"0.125"`), or `None` when it is not one
/// (RFC 3261 `qvalue`: 0 to 1 with at most three decimals).
pub fn parse_q(text: &str) -> Option<Q> {
    let t = text.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if frac.len() > 3 || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let whole = match int {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    let mut thousandths: u16 = 0;
    for (i, d) in frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .enumerate()
    {
        thousandths += u16::from(d - b'0') * [100, 10, 1][i];
    }
    let q = whole + thousandths;
    (q <= 1000).then_some(q)
}

/// One branch of the destination set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Branch {
    /// The Request-URI it goes out with.
    pub uri: String,
    /// Where it is sent instead of the Request-URI's host (`$du`): the registered
    /// contact's source address behind NAT, the first Path hop, an outbound proxy.
    pub dst_uri: Option<String>,
    /// Route set put in front of the request (the binding's Path, RFC 3327), as
    /// name-addrs (`<sip:edge.example.com;lr>`).
    pub path: Vec<String>,
    /// The local socket to send from (`$fs`): the one the contact registered on, so a
    /// NAT binding sees the same 5-tuple.
    pub socket: Option<Listener>,
    /// The connection the contact registered over, used while it is open.
    pub conn: Option<ConnId>,
    /// Never open a new connection for this branch (a UA behind NAT reached over a stream
    /// it opened): with no connection open to its destination the branch fails (430).
    pub no_connect: bool,
    /// The branch's q value, when it has one.
    pub q: Option<Q>,
}

/// Most branches in a destination set, as Kamailio's `max_branches` (12).
pub const MAX_BRANCHES: usize = 12;
