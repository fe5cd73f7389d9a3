//! # sipwasm-transport
//!
//! The router's network edge: UDP sockets read by blocking worker threads (as Kamailio's
//! UDP children read theirs), TCP listeners and connections on tokio, and one [`Sender`]
//! that puts any outbound message on the right socket or connection.
//!
//! TCP connections are isolated from each other: each has its own reader task (framing with
//! [`sipwasm_proto::framing`]) and writer task with a bounded queue, an idle timeout, a
//! deadline for completing a started message and a size limit, so a slow or stalled peer
//! only ever delays itself.
#![deny(missing_docs)]

pub mod listen;
pub mod tcp;
pub mod tls;
pub mod udp;

pub use listen::{Advertise, BoundListener, ListenSpec, ListenSpecError};
pub use tcp::{ConnectionTable, Incoming, TcpLimits};
pub use tls::{TlsContext, TlsError, TlsSettings};

use bytes::Bytes;
use sipwasm_proto::Transport;
pub use sipwasm_proto::transport::StreamFlags;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

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

/// Sends messages on the router's sockets and connections. Cheap to clone; usable from any
/// thread.
#[derive(Clone)]
pub struct Sender {
    udp: Arc<HashMap<SocketAddr, Arc<std::net::UdpSocket>>>,
    tcp: Option<ConnectionTable>,
}

impl Sender {
    /// A sender over these UDP sockets and, if TCP is enabled, this connection table.
    pub fn new(udp: Vec<Arc<std::net::UdpSocket>>, tcp: Option<ConnectionTable>) -> Self {
        let udp = udp
            .into_iter()
            .filter_map(|s| s.local_addr().ok().map(|a| (a, s)))
            .collect();
        Sender {
            udp: Arc::new(udp),
            tcp,
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

    /// True when a message to `dest` over `transport` can go without opening a connection:
    /// always for UDP; for streams, when connection `conn` or one to `dest` is open.
    pub fn has_flow(
        &self,
        transport: Transport,
        conn: Option<u64>,
        local: SocketAddr,
        dest: SocketAddr,
    ) -> bool {
        match transport {
            Transport::Udp => true,
            _ => self
                .tcp
                .as_ref()
                .is_some_and(|t| t.has_connection(transport, conn, local, dest)),
        }
    }

    /// Send `data` over `transport` from `local` to `dest`; for streams, on connection `conn`
    /// when it is still open, else on a new connection to `dest`.
    pub fn send(
        &self,
        transport: Transport,
        local: SocketAddr,
        dest: SocketAddr,
        conn: Option<u64>,
        data: Bytes,
    ) -> Result<(), SendError> {
        self.send_with(transport, local, dest, conn, data, StreamFlags::default())
    }

    /// [`Self::send`] with stream options: only on an open connection, or closing the
    /// connection after this message (no effect on UDP).
    pub fn send_with(
        &self,
        transport: Transport,
        local: SocketAddr,
        dest: SocketAddr,
        conn: Option<u64>,
        data: Bytes,
        flags: StreamFlags,
    ) -> Result<(), SendError> {
        match transport {
            Transport::Udp => {
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
                    .ok_or(SendError::NoSocket { transport, local })?;
                sock.send_to(&data, dest)
                    .map(|_| ())
                    .map_err(|error| SendError::Io { dest, error })
            }
            Transport::Tcp | Transport::Tls => match &self.tcp {
                Some(t) => t.send(transport, conn, local, dest, data, flags),
                None => Err(SendError::Unsupported(transport)),
            },
            _ => Err(SendError::Unsupported(transport)),
        }
    }
}
