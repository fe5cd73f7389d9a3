//! Listener specifications (`udp:127.0.0.1:5060`, `tcp:[::1]:5060`) and binding them.

use sipwasm_proto::Transport;
use socket2::{Domain, Protocol, Socket, Type};
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

/// A listener to open: transport and address, and what to put in Via and Record-Route
/// instead of the bound address (`advertise`, for NAT and `0.0.0.0` listeners).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenSpec {
    /// Transport.
    pub transport: Transport,
    /// Address and port (port 0 picks a free one).
    pub addr: SocketAddr,
    /// `advertise HOST[:PORT]`: the address others must use to reach this listener.
    pub advertise: Option<Advertise>,
    /// `idle_timeout SECS` (TCP, TLS): close a connection of this listener idle this long,
    /// instead of `[tcp] idle_timeout_secs` (a connection carrying a registration stays
    /// open as long as the registration).
    pub idle_timeout: Option<Duration>,
    /// `client_cert required|optional` (TLS): ask connecting peers for a certificate
    /// signed by `[tls] client_ca` (mutual TLS, for trunks).
    pub client_cert: Option<ClientCert>,
}

/// Whether a TLS listener's peers must present a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientCert {
    /// A connection without a valid certificate is refused in the handshake.
    Required,
    /// A certificate presented must be valid; a peer may present none (routes see
    /// `$tls_peer_verified` 0).
    Optional,
}

impl ClientCert {
    fn as_str(self) -> &'static str {
        match self {
            ClientCert::Required => "required",
            ClientCert::Optional => "optional",
        }
    }
}

/// An advertised address: a host name or IP, and a port (the listener's when absent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advertise {
    /// Host name, IPv4, or IPv6 in brackets.
    pub host: String,
    /// Port.
    pub port: Option<u16>,
}

impl Advertise {
    /// `host:port` as it goes into a Via `sent-by` or a Record-Route URI.
    pub fn sent_by(&self, listener_port: u16) -> String {
        format!("{}:{}", self.host, self.port.unwrap_or(listener_port))
    }

    fn parse(s: &str) -> Option<Advertise> {
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (ip, after) = rest.split_once(']')?;
            ip.parse::<std::net::Ipv6Addr>().ok()?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p.parse().ok()?),
                None if after.is_empty() => None,
                None => return None,
            };
            (format!("[{ip}]"), port)
        } else {
            let (h, port) = match s.rsplit_once(':') {
                Some((h, p)) => (h, Some(p.parse().ok()?)),
                None => (s, None),
            };
            let ok = !h.is_empty()
                && h.len() <= 253
                && h.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-');
            if !ok {
                return None;
            }
            (h.to_ascii_lowercase(), port)
        };
        if port == Some(0) {
            return None;
        }
        Some(Advertise { host, port })
    }
}

/// Why a listener spec did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid listener {spec:?}: {reason} (expected PROTO:IP:PORT [advertise HOST[:PORT]] [idle_timeout SECS] [client_cert required|optional], e.g. udp:127.0.0.1:5060, tcp:[::1]:5060 idle_timeout 3600 or udp:0.0.0.0:5060 advertise 203.0.113.7:5060)"
)]
pub struct ListenSpecError {
    spec: String,
    reason: String,
}

impl FromStr for ListenSpec {
    type Err = ListenSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| ListenSpecError {
            spec: s.to_string(),
            reason: reason.to_string(),
        };
        let mut words = s.split_whitespace();
        let spec = words.next().ok_or_else(|| err("empty"))?;
        let mut advertise = None;
        let mut idle_timeout = None;
        let mut client_cert = None;
        while let Some(kw) = words.next() {
            let value = words
                .next()
                .ok_or_else(|| err(&format!("{kw} needs a value")))?;
            match kw.to_ascii_lowercase().as_str() {
                "advertise" if advertise.is_none() => {
                    advertise = Some(Advertise::parse(value).ok_or_else(|| {
                        err("advertise needs HOST[:PORT] (a name, an IP, or [IPv6])")
                    })?);
                }
                "idle_timeout" if idle_timeout.is_none() => {
                    let secs: u64 = value
                        .parse()
                        .ok()
                        .filter(|s| (1..=86_400).contains(s))
                        .ok_or_else(|| err("idle_timeout needs 1 to 86400 seconds"))?;
                    idle_timeout = Some(Duration::from_secs(secs));
                }
                "client_cert" if client_cert.is_none() => {
                    client_cert = Some(match value.to_ascii_lowercase().as_str() {
                        "required" => ClientCert::Required,
                        "optional" => ClientCert::Optional,
                        _ => return Err(err("client_cert is required or optional")),
                    });
                }
                _ => {
                    return Err(err(
                        "only \"advertise HOST[:PORT]\", \"idle_timeout SECS\" and \"client_cert required|optional\" (once each) may follow the address",
                    ));
                }
            }
        }
        let (proto, addr) = spec
            .split_once(':')
            .ok_or_else(|| err("missing protocol"))?;
        let transport: Transport = proto
            .parse()
            .map_err(|e: sipwasm_proto::transport::UnknownTransport| err(&e.to_string()))?;
        let addr: SocketAddr = addr
            .parse()
            .map_err(|_| err("not an IP:PORT (IPv6 addresses go in brackets)"))?;
        if idle_timeout.is_some() && !transport.is_stream() {
            return Err(err("idle_timeout is for tcp and tls listeners"));
        }
        if client_cert.is_some() && transport != Transport::Tls {
            return Err(err("client_cert is for tls listeners"));
        }
        Ok(ListenSpec {
            transport,
            addr,
            advertise,
            idle_timeout,
            client_cert,
        })
    }
}

impl fmt::Display for ListenSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.transport, self.addr)?;
        if let Some(a) = &self.advertise {
            write!(f, " advertise {}", a.sent_by(self.addr.port()))?;
        }
        if let Some(t) = self.idle_timeout {
            write!(f, " idle_timeout {}", t.as_secs())?;
        }
        if let Some(c) = self.client_cert {
            write!(f, " client_cert {}", c.as_str())?;
        }
        Ok(())
    }
}

/// A bound socket, ready to be served.
#[derive(Debug)]
pub enum BoundListener {
    /// A UDP socket (blocking, with a read timeout so workers notice shutdown).
    Udp(std::net::UdpSocket),
    /// A TCP listener (non-blocking, for tokio).
    Tcp(std::net::TcpListener),
    /// A TLS listener: TCP, with a handshake before anything is read.
    Tls(std::net::TcpListener),
}

impl BoundListener {
    /// The local address (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            BoundListener::Udp(s) => s.local_addr(),
            BoundListener::Tcp(s) | BoundListener::Tls(s) => s.local_addr(),
        }
    }

    /// The transport.
    pub fn transport(&self) -> Transport {
        match self {
            BoundListener::Udp(_) => Transport::Udp,
            BoundListener::Tcp(_) => Transport::Tcp,
            BoundListener::Tls(_) => Transport::Tls,
        }
    }
}

/// How often a blocked UDP worker wakes up to check for shutdown.
pub const UDP_POLL: Duration = Duration::from_millis(200);

impl ListenSpec {
    /// Bind the socket.
    pub fn bind(&self) -> std::io::Result<BoundListener> {
        let domain = Domain::for_address(self.addr);
        match self.transport {
            Transport::Udp => {
                let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
                if self.addr.is_ipv6() {
                    s.set_only_v6(true)?;
                }
                // a deep receive queue absorbs bursts while a worker runs a plugin
                let _ = s.set_recv_buffer_size(8 << 20);
                let _ = s.set_send_buffer_size(4 << 20);
                s.bind(&self.addr.into())?;
                let s: std::net::UdpSocket = s.into();
                s.set_read_timeout(Some(UDP_POLL))?;
                Ok(BoundListener::Udp(s))
            }
            Transport::Tcp | Transport::Tls => {
                let s = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
                if self.addr.is_ipv6() {
                    s.set_only_v6(true)?;
                }
                s.set_reuse_address(true)?;
                s.bind(&self.addr.into())?;
                s.listen(1024)?;
                let s: std::net::TcpListener = s.into();
                s.set_nonblocking(true)?;
                Ok(if self.transport == Transport::Tls {
                    BoundListener::Tls(s)
                } else {
                    BoundListener::Tcp(s)
                })
            }
            other => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                format!("{other} listeners are not supported"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_specs() {
        let s: ListenSpec = "udp:127.0.0.1:5060".parse().unwrap();
        assert_eq!(s.transport, Transport::Udp);
        assert_eq!(s.addr, "127.0.0.1:5060".parse().unwrap());
        let s: ListenSpec = "TCP:[::1]:5070".parse().unwrap();
        assert_eq!(s.transport, Transport::Tcp);
        assert_eq!(s.to_string(), "tcp:[::1]:5070");
        assert!("127.0.0.1:5060".parse::<ListenSpec>().is_err());
        assert!("sctp:127.0.0.1:5060".parse::<ListenSpec>().is_err());
        assert!("udp:::1:5060".parse::<ListenSpec>().is_err());
        assert!("udp:127.0.0.1".parse::<ListenSpec>().is_err());
    }

    #[test]
    fn parse_advertise() {
        let s: ListenSpec = "udp:0.0.0.0:5060 advertise 203.0.113.7:5080"
            .parse()
            .unwrap();
        assert_eq!(
            s.advertise.as_ref().unwrap().sent_by(5060),
            "203.0.113.7:5080"
        );
        assert_eq!(s.to_string(), "udp:0.0.0.0:5060 advertise 203.0.113.7:5080");
        let s: ListenSpec = "tcp:0.0.0.0:5060  ADVERTISE  SIP.Example.com"
            .parse()
            .unwrap();
        assert_eq!(
            s.advertise.as_ref().unwrap().sent_by(5060),
            "sip.example.com:5060"
        );
        let s: ListenSpec = "udp:[::]:5060 advertise [2001:db8::1]:5062"
            .parse()
            .unwrap();
        assert_eq!(s.advertise.unwrap().sent_by(5060), "[2001:db8::1]:5062");
        for bad in [
            "udp:0.0.0.0:5060 advertise",
            "udp:0.0.0.0:5060 advertise a b",
            "udp:0.0.0.0:5060 publish 1.2.3.4",
            "udp:0.0.0.0:5060 advertise bad_host",
            "udp:0.0.0.0:5060 advertise 1.2.3.4:0",
            "udp:0.0.0.0:5060 advertise [zz]:5060",
        ] {
            assert!(bad.parse::<ListenSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn parse_idle_timeout() {
        let s: ListenSpec = "tcp:0.0.0.0:5060 idle_timeout 3600 advertise 203.0.113.7"
            .parse()
            .unwrap();
        assert_eq!(s.idle_timeout, Some(Duration::from_secs(3600)));
        assert_eq!(
            s.to_string(),
            "tcp:0.0.0.0:5060 advertise 203.0.113.7:5060 idle_timeout 3600"
        );
        for bad in [
            "udp:0.0.0.0:5060 idle_timeout 60",
            "tcp:0.0.0.0:5060 idle_timeout 0",
            "tcp:0.0.0.0:5060 idle_timeout x",
            "tcp:0.0.0.0:5060 idle_timeout 1 idle_timeout 2",
            "tls:0.0.0.0:5061 idle_timeout",
        ] {
            assert!(bad.parse::<ListenSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn parse_client_cert() {
        let s: ListenSpec = "tls:0.0.0.0:5061 client_cert REQUIRED idle_timeout 60"
            .parse()
            .unwrap();
        assert_eq!(s.client_cert, Some(ClientCert::Required));
        assert_eq!(
            s.to_string(),
            "tls:0.0.0.0:5061 idle_timeout 60 client_cert required"
        );
        let s: ListenSpec = "tls:[::1]:5061 client_cert optional".parse().unwrap();
        assert_eq!(s.client_cert, Some(ClientCert::Optional));
        for bad in [
            "tcp:0.0.0.0:5060 client_cert required",
            "udp:0.0.0.0:5060 client_cert optional",
            "tls:0.0.0.0:5061 client_cert yes",
            "tls:0.0.0.0:5061 client_cert",
            "tls:0.0.0.0:5061 client_cert optional client_cert required",
        ] {
            assert!(bad.parse::<ListenSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn bind_port_zero() {
        let l = "udp:127.0.0.1:0"
            .parse::<ListenSpec>()
            .unwrap()
            .bind()
            .unwrap();
        assert_ne!(l.local_addr().unwrap().port(), 0);
        let l = "tcp:127.0.0.1:0"
            .parse::<ListenSpec>()
            .unwrap()
            .bind()
            .unwrap();
        assert_eq!(l.transport(), Transport::Tcp);
    }
}
