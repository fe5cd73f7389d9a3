//! `core`: flags, methods, `is_myself`, `drop`, `force_rport` and the advertised address.

use crate::context::RouteContext;
use sipwasm_proto::uri::Uri;

/// Why a core function failed; mirrors the WIT `core.error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    /// Flags are numbered 0..31.
    #[error("flag {0} out of range 0..31")]
    FlagOutOfRange(u32),
    /// Not a SIP URI.
    #[error("invalid URI: {0}")]
    InvalidUri(String),
}

const METHOD_LETTERS: &[(u8, &str)] = &[
    (b'I', "INVITE"),
    (b'A', "ACK"),
    (b'B', "BYE"),
    (b'C', "CANCEL"),
    (b'R', "REGISTER"),
    (b'M', "MESSAGE"),
    (b'O', "OPTIONS"),
    (b'S', "SUBSCRIBE"),
    (b'P', "PUBLISH"),
    (b'N', "NOTIFY"),
    (b'U', "UPDATE"),
    (b'K', "KDMQ"),
    (b'G', "GET"),
    (b'T', "POST"),
    (b'V', "PUT"),
    (b'D', "DELETE"),
    (b'E', "PRACK"),
    (b'F', "REFER"),
];

impl RouteContext {
    /// True when `force_rport` was called.
    pub fn forces_rport(&self) -> bool {
        self.force_rport
    }

    /// `force_rport` / `add_rport` (core): handle the request as if its top Via asked for
    /// `rport` (RFC 3581): it gets `rport=` and `received=` when forwarded, and replies go
    /// to its source port — what a UA behind NAT needs and does not always ask for.
    pub fn force_rport(&mut self) {
        self.force_rport = true;
    }

    /// `set_advertised_address(host)`: the address this request names as ours in our Via
    /// and the outgoing side's Record-Route (a router behind 1:1 NAT). Empty resets it.
    pub fn set_advertised_address(&mut self, host: &str) -> Result<(), CoreError> {
        let host = host.trim();
        if host.is_empty() {
            self.advertised.0 = None;
            return Ok(());
        }
        let ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            v6.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            host.len() <= 253
                && host
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-')
        };
        if !ok {
            return Err(CoreError::InvalidUri(format!(
                "{host:?} is not a host name, IPv4 address or [IPv6] address"
            )));
        }
        self.advertised.0 = Some(host.to_ascii_lowercase());
        Ok(())
    }

    /// `set_advertised_port(port)`: the port to name with it; 0 resets it.
    pub fn set_advertised_port(&mut self, port: u16) {
        self.advertised.1 = (port != 0).then_some(port);
    }

    fn flag_bit(flag: u32) -> Result<u32, CoreError> {
        if flag > 31 {
            return Err(CoreError::FlagOutOfRange(flag));
        }
        Ok(1 << flag)
    }

    /// `setflag`
    pub fn set_flag(&mut self, flag: u32) -> Result<(), CoreError> {
        self.flags |= Self::flag_bit(flag)?;
        Ok(())
    }

    /// `resetflag`
    pub fn reset_flag(&mut self, flag: u32) -> Result<(), CoreError> {
        self.flags &= !Self::flag_bit(flag)?;
        Ok(())
    }

    /// `isflagset`
    pub fn is_flag_set(&self, flag: u32) -> Result<bool, CoreError> {
        Ok(self.flags & Self::flag_bit(flag)? != 0)
    }

    /// The flags as a bit set.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// `is_method`
    pub fn is_method(&self, method: &str) -> bool {
        self.msg
            .method_text()
            .eq_ignore_ascii_case(method.as_bytes())
    }

    /// `is_method_in`
    pub fn is_method_in(&self, letters: &str) -> bool {
        let m = self.msg.method_text();
        letters.bytes().any(|l| {
            METHOD_LETTERS.iter().any(|(c, name)| {
                l.eq_ignore_ascii_case(c) && m.eq_ignore_ascii_case(name.as_bytes())
            })
        })
    }

    fn uri_is_myself(&self, text: &[u8]) -> Result<bool, CoreError> {
        let u = Uri::parse_standalone(text).map_err(|e| {
            CoreError::InvalidUri(format!("{}: {e}", String::from_utf8_lossy(text)))
        })?;
        if !u.scheme.is_sip() {
            return Ok(false);
        }
        Ok(self
            .config
            .is_myself(u.host(text), u.port, u.port_or_default(text)))
    }

    /// `is_myself(uri)`
    pub fn is_myself(&self, uri: &str) -> Result<bool, CoreError> {
        self.uri_is_myself(uri.as_bytes())
    }

    /// `is_myself_ruri`
    pub fn is_myself_ruri(&self) -> bool {
        self.current_ruri()
            .is_some_and(|u| self.uri_is_myself(u.as_bytes()).unwrap_or(false))
    }

    /// `is_myself_furi`
    pub fn is_myself_furi(&self) -> bool {
        let b = self.msg.as_bytes();
        self.uri_is_myself(self.msg.from().uri.as_bytes(b))
            .unwrap_or(false)
    }

    /// `is_myself_turi`
    pub fn is_myself_turi(&self) -> bool {
        let b = self.msg.as_bytes();
        self.uri_is_myself(self.msg.to().uri.as_bytes(b))
            .unwrap_or(false)
    }

    /// `is_myself_srcip`
    pub fn is_myself_srcip(&self) -> bool {
        let ip = self.source.src.ip();
        self.config.listeners().iter().any(|l| l.addr.ip() == ip)
    }

    /// `set_drop`
    pub fn set_drop(&mut self) {
        self.drop = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::fixtures::*;

    #[test]
    fn flags_methods_myself() {
        let mut c = ctx();
        c.set_flag(3).unwrap();
        assert!(c.is_flag_set(3).unwrap());
        c.reset_flag(3).unwrap();
        assert!(!c.is_flag_set(3).unwrap());
        assert_eq!(c.set_flag(32), Err(CoreError::FlagOutOfRange(32)));
        assert!(c.is_method("INVITE"));
        assert!(!c.is_method("OPTIONS"));
        assert!(c.is_method_in("OI"));
        assert!(c.is_method_in("oi"));
        assert!(!c.is_method_in("RBO"));
        assert!(c.is_myself("sip:127.0.0.1").unwrap());
        assert!(c.is_myself("sip:127.0.0.1:5060").unwrap());
        assert!(!c.is_myself("sip:127.0.0.1:5070").unwrap());
        assert!(c.is_myself("sip:x@EXAMPLE.com:9999").unwrap());
        assert!(!c.is_myself("sip:x@other.com").unwrap());
        assert!(c.is_myself("nope").is_err());
        assert!(c.is_myself_ruri());
        assert!(!c.is_myself_furi());
        assert!(c.is_myself_turi());
        assert!(!c.is_myself_srcip());
        c.set_drop();
        assert!(c.is_dropped());
    }
}
