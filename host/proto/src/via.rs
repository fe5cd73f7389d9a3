//! The Via header (RFC 3261 §20.42, RFC 3581 `rport`, RFC 5118 IPv6 forms).

use crate::grammar::{self, HostKind, Params};
use crate::span::Span;
use nom::Parser;
use nom::combinator::opt;
use nom::sequence::preceded;

/// One `via-parm`: a Via header may carry several, separated by commas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Via {
    /// Index of the header line that holds this entry.
    pub header: u16,
    /// The whole entry, `SIP/2.0/UDP host;params`.
    pub span: Span,
    /// `SIP/2.0`, as written (possibly with white space around the slash).
    pub protocol: Span,
    /// Transport token (`UDP`, `TCP`, `TLS`, `SCTP`, or anything else).
    pub transport: Span,
    /// sent-by host (IPv6 with brackets).
    pub host: Span,
    /// What the host is.
    pub host_kind: HostKind,
    /// sent-by port.
    pub port: Option<u16>,
    /// Parameter section from its first `;` (empty when none).
    pub params: Span,
    /// `branch` value.
    pub branch: Option<Span>,
    /// `received` value.
    pub received: Option<Span>,
    /// `rport`: `None` when absent, `Some(None)` without a value, `Some(Some(p))` with one.
    pub rport: Option<Option<u16>>,
    /// `maddr` value.
    pub maddr: Option<Span>,
    /// `ttl` value.
    pub ttl: Option<u8>,
}

impl Via {
    /// The branch parameter, when present.
    pub fn branch<'a>(&self, base: &'a [u8]) -> Option<&'a [u8]> {
        self.branch.map(|s| s.of(base))
    }

    /// True when the branch starts with RFC 3261's magic cookie `z9hG4bK`.
    pub fn has_rfc3261_branch(&self, base: &[u8]) -> bool {
        self.branch(base)
            .is_some_and(|b| b.len() > 7 && b.starts_with(b"z9hG4bK"))
    }

    /// Transport token as written.
    pub fn transport<'a>(&self, base: &'a [u8]) -> &'a [u8] {
        self.transport.of(base)
    }

    /// sent-by host as written.
    pub fn host<'a>(&self, base: &'a [u8]) -> &'a [u8] {
        self.host.of(base)
    }

    /// Value of parameter `name`.
    pub fn param<'a>(&self, base: &'a [u8], name: &[u8]) -> Option<Option<&'a [u8]>> {
        Params::new(self.params.of(base)).get(name)
    }
}

/// Why a Via value is invalid.
pub type ViaError = &'static str;

/// Parse a whole Via header value (one or more comma-separated entries) into `out`.
pub fn parse_via_value(
    base: &[u8],
    value: &[u8],
    header: u16,
    out: &mut Vec<Via>,
) -> Result<(), ViaError> {
    let mut i = value;
    loop {
        let (rest, via) = via_parm(base, i, header)?;
        out.push(via);
        let (rest, ()) = grammar::sws_many(rest).map_err(|_| "invalid Via")?;
        if rest.is_empty() {
            return Ok(());
        }
        match grammar::comma(rest) {
            Ok((next, ())) => i = next,
            Err(_) => return Err("unexpected characters after Via entry"),
        }
    }
}

fn via_parm<'a>(base: &[u8], i: &'a [u8], header: u16) -> Result<(&'a [u8], Via), ViaError> {
    let start = i;
    let (i, name) = grammar::token(i).map_err(|_| "missing protocol name")?;
    let (i, version) = preceded(grammar::slash, grammar::token)
        .parse(i)
        .map_err(|_| "missing protocol version")?;
    let protocol_end = version.as_ptr() as usize + version.len() - start.as_ptr() as usize;
    let (i, transport) = preceded(grammar::slash, grammar::token)
        .parse(i)
        .map_err(|_| "missing transport")?;
    let _ = name;
    let (i, ()) = grammar::lws(i).map_err(|_| "missing white space before sent-by")?;
    let (i, (host, host_kind)) = grammar::host(i).map_err(|_| "invalid sent-by host")?;
    let (i, port) = opt(preceded(grammar::colon, grammar::port))
        .parse(i)
        .map_err(|_: nom::Err<nom::error::Error<&[u8]>>| "invalid sent-by port")?;
    let (rest, params) = grammar::params(i).map_err(|_| "invalid Via parameter")?;
    let mut via = Via {
        header,
        span: Span::within(base, &start[..start.len() - rest.len()]),
        protocol: Span::within(base, &start[..protocol_end]),
        transport: Span::within(base, transport),
        host: Span::within(base, host),
        host_kind,
        port,
        params: Span::within(base, params),
        branch: None,
        received: None,
        rport: None,
        maddr: None,
        ttl: None,
    };
    for (name, value) in Params::new(params) {
        if name.eq_ignore_ascii_case(b"branch") {
            let v = value.ok_or("branch without value")?;
            if !crate::chars::all(&crate::chars::TOKEN, v) {
                return Err("branch is not a token");
            }
            via.branch = Some(Span::within(base, v));
        } else if name.eq_ignore_ascii_case(b"received") {
            let v = value.ok_or("received without value")?;
            match grammar::received_addr(v) {
                Ok((&[], _)) => {}
                _ => return Err("received is not an IP address"),
            }
            via.received = Some(Span::within(base, v));
        } else if name.eq_ignore_ascii_case(b"rport") {
            via.rport = Some(match value {
                None => None,
                Some(v) => match grammar::port(v) {
                    Ok((&[], p)) => Some(p),
                    _ => return Err("rport is not a port number"),
                },
            });
        } else if name.eq_ignore_ascii_case(b"maddr") {
            let v = value.ok_or("maddr without value")?;
            match grammar::host(v) {
                Ok((&[], _)) => {}
                _ => return Err("maddr is not a host"),
            }
            via.maddr = Some(Span::within(base, v));
        } else if name.eq_ignore_ascii_case(b"ttl") {
            let v = value.ok_or("ttl without value")?;
            via.ttl = Some(
                std::str::from_utf8(v)
                    .ok()
                    .filter(|s| s.len() <= 3 && s.bytes().all(|c| c.is_ascii_digit()))
                    .and_then(|s| s.parse::<u8>().ok())
                    .ok_or("ttl is not 0..255")?,
            );
        }
    }
    Ok((rest, via))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vias(value: &str) -> Result<Vec<Via>, ViaError> {
        let mut out = Vec::new();
        parse_via_value(value.as_bytes(), value.as_bytes(), 0, &mut out).map(|()| out)
    }

    #[test]
    fn simple_via() {
        let s = "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport";
        let v = vias(s).unwrap();
        assert_eq!(v.len(), 1);
        let b = s.as_bytes();
        assert_eq!(v[0].transport(b), b"UDP");
        assert_eq!(v[0].host(b), b"192.0.2.1");
        assert_eq!(v[0].port, Some(5060));
        assert_eq!(v[0].branch(b), Some(&b"z9hG4bK776asdhds"[..]));
        assert!(v[0].has_rfc3261_branch(b));
        assert_eq!(v[0].rport, Some(None));
        assert_eq!(v[0].span.of(b), b);
        assert_eq!(v[0].protocol.of(b), b"SIP/2.0");
    }

    #[test]
    fn folded_and_listed() {
        // RFC 4475 wsinv
        let s = "SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw";
        let v = vias(s).unwrap();
        assert_eq!(v[0].transport(s.as_bytes()), b"UDP");
        assert!(!v[0].has_rfc3261_branch(s.as_bytes()));
        let s = "SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8  ,\r\n SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n z9hG4bK30239";
        let v = vias(s).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].host(s.as_bytes()), b"spindle.example.com");
        assert_eq!(v[1].branch(s.as_bytes()), Some(&b"z9hG4bK30239"[..]));
        assert_eq!(v[1].transport(s.as_bytes()), b"UDP");
    }

    #[test]
    fn ipv6_forms() {
        let s = "SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3";
        let v = vias(s).unwrap();
        assert_eq!(v[0].host_kind, HostKind::Ipv6);
        assert_eq!(v[0].received.unwrap().of(s.as_bytes()), b"2001:db8::9:255");
        let s = "SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKas3-111";
        assert!(vias(s).is_ok());
        assert_eq!(
            vias("SIP/2.0/UDP [::ffff:192.0.2.10]:19823;branch=z9hG4bKbh19").unwrap()[0].port,
            Some(19823)
        );
    }

    #[test]
    fn invalid_vias() {
        assert!(vias("SIP/2.0/UDP 192.0.2.15;;,;,,").is_err());
        assert!(vias("SIP/2.0/UDP").is_err());
        assert!(vias("SIP/2.0 192.0.2.1").is_err());
        assert!(vias("SIP/2.0/UDP host;rport=99999").is_err());
        assert!(vias("SIP/2.0/UDP host;received=host.example.com").is_err());
        assert!(vias("SIP/2.0/UDP host;ttl=300").is_err());
        assert!(vias("SIP/2.0/UDP host x").is_err());
    }
}
