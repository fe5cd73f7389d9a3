//! # sipwasm-transport
//!
//! The router's network edge: UDP sockets read by blocking worker threads (as Kamailio's
//! UDP children read theirs), TCP listeners and connections on tokio, and one [`Outlet`]
//! that puts every outbound message on the right socket or connection, and counts it.
//!
//! TCP connections are isolated from each other: each has its own reader task (framing with
//! [`sipwasm_proto::framing`]) and writer task with a bounded queue, an idle timeout, a
//! deadline for completing a started message and a size limit, so a slow or stalled peer
//! only ever delays itself.
#![deny(missing_docs)]

pub mod listen;
mod stream;
pub mod tcp;
pub mod tls;
pub mod udp;

pub use listen::{Advertise, BoundListener, ClientCert, ListenSpec, ListenSpecError};
pub use tcp::{ConnectionTable, Incoming, TcpLimits};
pub use tls::{PeerCheck, TlsContext, TlsDestination, TlsError, TlsSettings};

use sipwasm_proto::{Destination, Transport};
pub use sipwasm_proto::{StreamFlags, Transmit};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a message could not be sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// No local socket of that transport and address.
    #[error("no {transport} socket bound to {local}")]
    NoSocket {
        /// Transport.
        transport: Transport,
        /// Local address asked for.
        local: SocketAddr,
    },
    /// The socket refused the datagram.
    #[error("sending to {dest}: {error}")]
    Io {
        /// Destination.
        dest: SocketAddr,
        /// OS error.
        error: std::io::Error,
    },
    /// The connection's queue is full: the peer does not read. The connection is closed.
    #[error("connection to {0} is not draining its queue; closed")]
    Congested(SocketAddr),
    /// The transport is not available on this router.
    #[error("{0} is not enabled")]
    Unsupported(Transport),
    /// No connection to the destination is open, and none may be opened (MSRP flag 1).
    #[error("no open connection to {0}")]
    NoConnection(SocketAddr),
}

/// What an [`Outlet`] sent (`ctl stats`: `router.sent`, `router.send_errors`).
#[derive(Debug, Default)]
pub struct OutletStats {
    /// Messages sent (datagrams written, or queued on their connection).
    pub sent: AtomicU64,
    /// Messages that could not be sent.
    pub send_errors: AtomicU64,
    /// SIP replies sent, by class (`[0]`: 1xx ... `[5]`: 6xx).
    pub replies_sent: [AtomicU64; 6],
}

/// The class index (0 for 1xx ... 5 for 6xx) of a SIP reply's bytes; None for anything
/// else (requests, MSRP).
pub fn reply_class(data: &[u8]) -> Option<usize> {
    match data.strip_prefix(b"SIP/2.0 ")?.first()? {
        c @ b'1'..=b'6' => Some(usize::from(c - b'1')),
        _ => None,
    }
}

/// Where every message the router sends goes out: it puts a [`Transmit`] on the right
/// socket or connection and counts it. Cheap to clone (clones share the counters); usable
/// from any thread.
#[derive(Clone)]
pub struct Outlet {
    udp: Arc<HashMap<SocketAddr, Arc<std::net::UdpSocket>>>,
    tcp: Option<ConnectionTable>,
    stats: Arc<OutletStats>,
}

impl Outlet {
    /// An outlet over these UDP sockets and, if TCP is enabled, this connection table.
    pub fn new(udp: Vec<Arc<std::net::UdpSocket>>, tcp: Option<ConnectionTable>) -> Self {
        let udp = udp
            .into_iter()
            .filter_map(|s| s.local_addr().ok().map(|a| (a, s)))
            .collect();
        Outlet {
            udp: Arc::new(udp),
            tcp,
            stats: Arc::default(),
        }
    }

    /// Close a stream connection after what is queued on it (no-op for UDP).
    pub fn close(&self, transport: Transport, conn: u64) {
        if transport.is_stream()
            && let Some(t) = &self.tcp
        {
            t.close(conn);
        }
    }

    /// RFC 5923: stream connection `conn` also reaches its peer's IP at `port`.
    pub fn add_alias(&self, conn: u64, port: u16) {
        if let Some(t) = &self.tcp {
            t.add_alias(conn, port);
        }
    }

    /// Keep stream connection `conn` open at least `secs` seconds (a registration lives on
    /// it). No-op for UDP or a closed connection.
    pub fn keep_open(&self, conn: u64, secs: u64) {
        if let Some(t) = &self.tcp {
            t.keep_open(conn, secs);
        }
    }

    /// True when a message to `to` can go without opening a connection: always for UDP;
    /// for streams, when its connection or one to its address is open.
    pub fn has_flow(&self, to: Destination) -> bool {
        match to.transport {
            Transport::Udp => true,
            _ => self.tcp.as_ref().is_some_and(|t| t.has_connection(to)),
        }
    }

    /// Send one message: the debug trace of its first line, the counters, and an info
    /// line when it cannot go. True when it went (or was queued on its connection).
    pub fn send(&self, t: Transmit) -> bool {
        if tracing::enabled!(tracing::Level::DEBUG) {
            let first = t.data.split(|&c| c == b'\r').next().unwrap_or_default();
            tracing::debug!(dest = %t.dest, proto = %t.transport, "send {}", String::from_utf8_lossy(first));
        }
        let class = reply_class(&t.data);
        match self.put(t) {
            Ok(()) => {
                self.stats.sent.fetch_add(1, Ordering::Relaxed);
                if let Some(c) = class {
                    self.stats.replies_sent[c].fetch_add(1, Ordering::Relaxed);
                }
                true
            }
            Err(e) => {
                self.stats.send_errors.fetch_add(1, Ordering::Relaxed);
                tracing::info!("send failed: {e}");
                false
            }
        }
    }

    /// [`Self::send`] each, in order.
    pub fn send_all(&self, all: impl IntoIterator<Item = Transmit>) {
        for t in all {
            self.send(t);
        }
    }

    /// TCP and TLS connections open now.
    pub fn connections(&self) -> usize {
        self.tcp.as_ref().map_or(0, ConnectionTable::len)
    }

    /// Of those, the ones speaking MSRP.
    pub fn msrp_connections(&self) -> usize {
        self.tcp.as_ref().map_or(0, ConnectionTable::msrp_len)
    }

    /// What was sent and what could not be.
    pub fn stats(&self) -> &OutletStats {
        &self.stats
    }

    /// Put `t` on its socket, or for streams on connection `conn` while it is open, else on
    /// a new connection to `dest` (unless its flags forbid one).
    fn put(&self, t: Transmit) -> Result<(), SendError> {
        match t.transport {
            Transport::Udp => {
                let (dest, local) = (t.dest, t.local);
                let sock = self
                    .udp
                    .get(&local)
                    .or_else(|| {
                        // same family, any local address: the reply still leaves
                        self.udp
                            .iter()
                            .find(|(a, _)| a.is_ipv4() == dest.is_ipv4())
                            .map(|(_, s)| s)
                    })
                    .ok_or(SendError::NoSocket {
                        transport: t.transport,
                        local,
                    })?;
                sock.send_to(&t.data, dest)
                    .map(|_| ())
                    .map_err(|error| SendError::Io { dest, error })
            }
            Transport::Tcp | Transport::Tls => match &self.tcp {
                Some(c) => c.send(t),
                None => Err(SendError::Unsupported(t.transport)),
            },
            other => Err(SendError::Unsupported(other)),
        }
    }
}
