//! TCP: listeners, per-connection reader and writer tasks, and the connection table.

use crate::SendError;
use crate::listen::ClientCert;
use crate::stream::{Cut, Framing, Lost};
use bytes::{Bytes, BytesMut};
use sipwasm_proto::framing::FrameError;
use sipwasm_proto::msrp::{MsrpError, MsrpFrame};
use sipwasm_proto::transport::{StreamFlags, Transmit};
use sipwasm_proto::{Destination, TlsPeer, Transport};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A message received on a connection, for the workers.
#[derive(Clone, Debug)]
pub struct Incoming {
    /// The framed message bytes.
    pub data: Bytes,
    /// Transport.
    pub transport: Transport,
    /// Peer.
    pub src: SocketAddr,
    /// Local end.
    pub local: SocketAddr,
    /// Connection id.
    pub conn: u64,
    /// Set when the stream could not be framed: `data` is what was buffered, the
    /// connection is being closed, and the router answers with an error if it can.
    pub framing_error: Option<FrameError>,
    /// True for a line of a connection that does not speak SIP (nosip).
    pub nosip: bool,
    /// An MSRP frame, on a connection that speaks MSRP (`data` is its bytes).
    pub msrp: Option<MsrpFrame>,
}

/// Limits per connection.
#[derive(Clone, Copy, Debug)]
pub struct TcpLimits {
    /// Largest message accepted.
    pub max_message: usize,
    /// Close after this long without receiving anything.
    pub idle_timeout: Duration,
    /// A started message must be complete within this time (slow-loris guard).
    pub message_timeout: Duration,
    /// Writes that take longer than this close the connection.
    pub write_timeout: Duration,
    /// Messages queued for one connection before it counts as stalled.
    pub send_queue: usize,
    /// Most open connections; more are refused.
    pub max_connections: usize,
    /// How long to try connecting out.
    pub connect_timeout: Duration,
    /// Largest MSRP chunk body.
    pub msrp_max_chunk: usize,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_message: 65_535,
            idle_timeout: Duration::from_secs(120),
            message_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            send_queue: 256,
            max_connections: 4096,
            connect_timeout: Duration::from_secs(5),
            msrp_max_chunk: sipwasm_proto::msrp::DEFAULT_MAX_CHUNK,
        }
    }
}

struct Conn {
    tx: mpsc::Sender<Bytes>,
    /// TCP or TLS.
    transport: Transport,
    peer: SocketAddr,
    local: SocketAddr,
    /// Signalled by [`ConnectionTable::close`].
    closed: Arc<tokio::sync::Notify>,
    /// Unix time until which the connection stays open however idle it is.
    keep_until: Arc<AtomicU64>,
    /// Other ports of the peer's address this connection also reaches (RFC 5923 `alias`
    /// of the peer's Via): requests to its listening port reuse it.
    alias_ports: Vec<u16>,
    /// The peer closed it (or it failed): it lingers to write what is queued, but is no
    /// flow to reach the peer any more.
    closing: bool,
    /// The certificate the peer presented on a listener with `client_cert`.
    tls_peer: Option<Arc<TlsPeer>>,
}

struct Table {
    conns: Mutex<HashMap<u64, Conn>>,
    next_id: AtomicU64,
    limits: TcpLimits,
    /// One lane per worker; a connection always uses the same lane, so its messages and
    /// frames are handled one after the other, in the order they came.
    lanes: Vec<async_channel::Sender<Incoming>>,
    runtime: tokio::runtime::Handle,
    tls: Option<Arc<crate::tls::TlsContext>>,
    /// Messages for destinations being connected to, in order: they are written first
    /// once the connection is up, before anything sent on it later, and no second
    /// connection is opened meanwhile.
    pending: Mutex<HashMap<(Transport, SocketAddr), Pending>>,
    /// Told about each message sent with [`StreamFlags::on_undelivered`] that could not be
    /// delivered.
    undelivered: std::sync::OnceLock<UndeliveredHook>,
    /// Open connections that speak MSRP.
    msrp_open: Arc<AtomicU64>,
}

/// Counts a connection among those speaking MSRP while it lives.
struct MsrpOpen(Arc<AtomicU64>);

impl MsrpOpen {
    fn new(open: &Arc<AtomicU64>) -> MsrpOpen {
        open.fetch_add(1, Ordering::Relaxed);
        MsrpOpen(open.clone())
    }
}

impl Drop for MsrpOpen {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What waits for a connection being opened: the messages, each with its
/// [`StreamFlags::on_undelivered`] value.
#[derive(Default)]
struct Pending {
    data: Vec<(Bytes, u64)>,
    close_after: bool,
}

/// Called with the table, a message's [`StreamFlags::on_undelivered`] value and the
/// message when the message could not be delivered: no connection could be opened, or
/// none was open and none could be (`no_connect`), or the connection was congested. Runs
/// on the sending worker thread or on a tokio task (a failed connect); on a task it must
/// not block, which [`ConnectionTable::send_on`] does not there.
pub type UndeliveredHook = Arc<dyn Fn(&ConnectionTable, u64, Bytes) + Send + Sync>;

/// Every open TCP connection, by id. Cheap to clone.
#[derive(Clone)]
pub struct ConnectionTable {
    inner: Arc<Table>,
}

/// Why a connection ended, for the log.
#[derive(Debug)]
#[allow(
    dead_code,
    reason = "fields are read through Debug in the close log line"
)]
enum Closed {
    Eof,
    Idle,
    SlowMessage,
    Frame(FrameError),
    /// A line of a non-SIP connection was too long: nobody answers, close at once.
    Line(FrameError),
    /// An MSRP connection sent what cannot be an MSRP frame.
    Msrp(MsrpError),
    /// The same, answered with an error response before closing.
    MsrpAnswered(MsrpError),
    Io(std::io::Error),
    WorkersGone,
}

impl ConnectionTable {
    /// A table whose connections deliver messages to `incoming` and run on `runtime`.
    pub fn new(
        limits: TcpLimits,
        incoming: async_channel::Sender<Incoming>,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        Self::with_tls(limits, vec![incoming], runtime, None)
    }

    /// A table whose connections each deliver to one of `lanes` (one per worker), that
    /// also serves TLS listeners and connects out with TLS (`tls`).
    pub fn with_tls(
        limits: TcpLimits,
        lanes: Vec<async_channel::Sender<Incoming>>,
        runtime: tokio::runtime::Handle,
        tls: Option<Arc<crate::tls::TlsContext>>,
    ) -> Self {
        ConnectionTable {
            inner: Arc::new(Table {
                conns: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                limits,
                lanes,
                runtime,
                tls,
                pending: Mutex::new(HashMap::new()),
                undelivered: std::sync::OnceLock::new(),
                msrp_open: Arc::default(),
            }),
        }
    }

    /// Install the hook told about undelivered messages (once; later calls are ignored).
    pub fn set_undelivered_hook(&self, hook: UndeliveredHook) {
        let _ = self.inner.undelivered.set(hook);
    }

    fn report_undelivered(&self, tag: u64, data: Bytes) {
        if tag != 0
            && let Some(hook) = self.inner.undelivered.get()
        {
            hook(self, tag, data);
        }
    }

    /// Queue `data` on connection `conn` if it is open (never connects). False when it is
    /// not, or the peer does not read.
    pub fn send_on(&self, conn: u64, data: Bytes) -> bool {
        matches!(self.queue(conn, data), Ok(true))
    }

    /// Number of open connections.
    pub fn len(&self) -> usize {
        self.inner.conns.lock().expect("not poisoned").len()
    }

    /// Number of open connections speaking MSRP (a relayed session holds one on each
    /// side, unless its peers share a connection among sessions).
    pub fn msrp_len(&self) -> usize {
        self.inner.msrp_open.load(Ordering::Relaxed) as usize
    }

    /// True when no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Accept connections on `listener` (TCP, or TLS when `transport` says so) until the
    /// task is dropped.
    pub async fn accept_loop(self, listener: std::net::TcpListener, transport: Transport) {
        self.accept_loop_with(listener, transport, None, None).await;
    }

    /// [`Self::accept_loop`] with the idle timeout of this listener (`idle_timeout` in its
    /// spec) instead of the table's, and its `client_cert` setting (TLS).
    pub async fn accept_loop_with(
        self,
        listener: std::net::TcpListener,
        transport: Transport,
        idle_timeout: Option<Duration>,
        client_cert: Option<ClientCert>,
    ) {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("cannot serve TCP listener: {e}");
                return;
            }
        };
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    if self.len() >= self.inner.limits.max_connections {
                        tracing::warn!(%peer, "refusing TCP connection: {} open", self.inner.limits.max_connections);
                        drop(stream);
                        continue;
                    }
                    if transport == Transport::Tls {
                        self.accept_tls(stream, peer, idle_timeout, client_cert);
                    } else {
                        self.start(stream, peer, idle_timeout);
                    }
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning
                    tracing::warn!("TCP accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// The TLS handshake of an accepted connection, bounded by the message timeout, then
    /// the connection as any other. On a listener with `client_cert`, the certificate the
    /// peer presented (verified by the handshake) must carry one of `[tls] client_names`.
    fn accept_tls(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        idle: Option<Duration>,
        client_cert: Option<ClientCert>,
    ) {
        let Some(tls) = self.inner.tls.clone() else {
            tracing::warn!(%peer, "TLS connection refused: no [tls] certificate configured");
            return;
        };
        let table = self.clone();
        let timeout = self.inner.limits.message_timeout;
        self.inner.runtime.spawn(async move {
            let Ok(local) = stream.local_addr() else {
                return;
            };
            let Some((acceptor, names)) = tls.acceptor(client_cert) else {
                tracing::warn!(%peer, "TLS connection refused: client_cert without [tls] client_ca");
                return;
            };
            let _ = stream.set_nodelay(true);
            match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                Ok(Ok(s)) => {
                    let presented = s.get_ref().1.peer_certificates();
                    let tls_peer = presented.and_then(crate::tls::peer_of).map(Arc::new);
                    if presented.is_some() && !names.is_empty() {
                        // a certificate whose names cannot be read names none (fail closed)
                        match &tls_peer {
                            Some(p) if p.named_in(names) => {}
                            Some(p) => {
                                tracing::info!(%peer, subject = %p.subject, names = ?p.san_dns, "TLS connection refused: the client certificate names none of [tls] client_names");
                                return;
                            }
                            None => {
                                tracing::info!(%peer, "TLS connection refused: the client certificate's names cannot be read");
                                return;
                            }
                        }
                    }
                    let (r, w) = tokio::io::split(s);
                    let first = Vec::new();
                    table.start_io(r, w, (Transport::Tls, tls_peer), peer, local, first, idle);
                }
                Ok(Err(e)) => tracing::info!(%peer, "TLS handshake failed: {e}"),
                Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
            }
        });
    }

    /// Register a connected TCP stream and spawn its reader and writer.
    fn start(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        idle: Option<Duration>,
    ) -> Option<(u64, mpsc::Sender<Bytes>)> {
        let local = stream.local_addr().ok()?;
        let _ = stream.set_nodelay(true);
        let (reader, writer) = stream.into_split();
        Some(self.start_io(
            reader,
            writer,
            (Transport::Tcp, None),
            peer,
            local,
            Vec::new(),
            idle,
        ))
    }

    /// Register a connection (TCP or TLS halves) and spawn its reader and writer.
    #[allow(
        clippy::too_many_arguments,
        reason = "one internal constructor, all parts needed"
    )]
    fn start_io<R, W>(
        &self,
        reader: R,
        writer: W,
        (transport, tls_peer): (Transport, Option<Arc<TlsPeer>>),
        peer: SocketAddr,
        local: SocketAddr,
        first: Vec<Bytes>,
        idle: Option<Duration>,
    ) -> (u64, mpsc::Sender<Bytes>)
    where
        R: tokio::io::AsyncRead + Unpin + Send + 'static,
        W: tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(self.inner.limits.send_queue);
        let closed = Arc::new(tokio::sync::Notify::new());
        // idle time allowed: the listener's, raised while a registration lives on it
        let idle = idle.unwrap_or(self.inner.limits.idle_timeout);
        let keep_until = Arc::new(AtomicU64::new(0));
        self.inner.conns.lock().expect("not poisoned").insert(
            id,
            Conn {
                tx: tx.clone(),
                transport,
                peer,
                local,
                closed: closed.clone(),
                keep_until: keep_until.clone(),
                alias_ports: Vec::new(),
                closing: false,
                tls_peer,
            },
        );
        tracing::debug!(conn = id, %peer, %local, %transport, "connection open");
        let table = self.clone();
        let limits = self.inner.limits;
        let writer_task =
            self.inner
                .runtime
                .spawn(write_loop(writer, first, rx, limits.write_timeout));
        self.inner.runtime.spawn(async move {
            let why = table
                .read_loop(reader, id, transport, peer, local, (idle, keep_until))
                .await;
            if let Some(c) = table.inner.conns.lock().expect("not poisoned").get_mut(&id) {
                c.closing = true;
            }
            // Replies may still be on their way: after a framing error the router answers
            // and then closes the connection itself; after EOF (a half-close) the peer may
            // still read. Keep the connection registered for a bounded time.
            let linger = match why {
                Closed::Frame(_) => Some(Duration::from_secs(5)),
                // the error response is queued: let it go out before the close
                Closed::MsrpAnswered(_) => Some(Duration::from_millis(200)),
                Closed::Eof => Some(Duration::from_secs(2)),
                _ => None,
            };
            if let Some(d) = linger {
                let _ = tokio::time::timeout(d, closed.notified()).await;
            }
            tracing::debug!(conn = id, %peer, "TCP connection closed: {why:?}");
            table.inner.conns.lock().expect("not poisoned").remove(&id);
            // the writer ends when the last sender is gone; give queued replies a moment
            let _ = tokio::time::timeout(Duration::from_secs(1), writer_task).await;
        });
        (id, tx)
    }

    async fn read_loop<R: tokio::io::AsyncRead + Unpin>(
        &self,
        mut reader: R,
        id: u64,
        transport: Transport,
        peer: SocketAddr,
        local: SocketAddr,
        (allowed, keep_until): (Duration, Arc<AtomicU64>),
    ) -> Closed {
        let limits = self.inner.limits;
        let mut framing = Framing::new(limits.max_message);
        let mut buf = BytesMut::with_capacity(4096);
        let mut message_started: Option<Instant> = None;
        let mut msrp_open = None;
        loop {
            if framing.decide(&buf, limits.max_message, limits.msrp_max_chunk) {
                tracing::debug!(conn = id, %peer, "TCP connection is not SIP: line mode");
            }
            if msrp_open.is_none() && framing.is_msrp() {
                msrp_open = Some(MsrpOpen::new(&self.inner.msrp_open));
            }
            // deliver every complete unit already buffered
            loop {
                match framing.cut(&mut buf) {
                    Cut::Unit { data, nosip, msrp } => {
                        message_started = None;
                        let msg = Incoming {
                            data,
                            transport,
                            src: peer,
                            local,
                            conn: id,
                            framing_error: None,
                            nosip,
                            msrp,
                        };
                        if self.lane(id).send(msg).await.is_err() {
                            return Closed::WorkersGone;
                        }
                    }
                    Cut::Ping => {
                        // RFC 5626 keep-alive: answer the double CRLF with one CRLF
                        let _ = self.queue(id, Bytes::from_static(b"\r\n"));
                    }
                    Cut::More => break,
                    Cut::Lost(Lost::Line(e)) => return Closed::Line(e),
                    Cut::Lost(Lost::Sip(e)) => {
                        // answer 400 if the head of the buffer is a request we can reply
                        // to, then close
                        let _ = self
                            .lane(id)
                            .send(Incoming {
                                data: buf.split().freeze(),
                                transport,
                                src: peer,
                                local,
                                conn: id,
                                framing_error: Some(e.clone()),
                                nosip: false,
                                msrp: None,
                            })
                            .await;
                        return Closed::Frame(e);
                    }
                    Cut::Lost(Lost::Msrp(e)) => {
                        // answer what can be answered (RFC 4975 §7.2), then close
                        let (code, comment) = match e {
                            MsrpError::TooLarge { .. } => (413, "Message Too Large"),
                            _ => (400, "Bad Request"),
                        };
                        if let Some(r) = sipwasm_proto::msrp::error_response(&buf, code, comment) {
                            let _ = self.queue(id, Bytes::from(r));
                            return Closed::MsrpAnswered(e);
                        }
                        return Closed::Msrp(e);
                    }
                }
            }
            if buf.is_empty() {
                message_started = None;
            } else if message_started.is_none() {
                message_started = Some(Instant::now());
            }
            // idle: this connection's allowance, or longer while a registration lives on it
            let idle = {
                let kept = keep_until
                    .load(Ordering::Relaxed)
                    .saturating_sub(unix_now());
                allowed.max(Duration::from_secs(kept))
            };
            let wait = match message_started {
                Some(t) => limits.message_timeout.saturating_sub(t.elapsed()).min(idle),
                None => idle,
            };
            if wait.is_zero() {
                return Closed::SlowMessage;
            }
            // MSRP chunks are large: read them in few calls
            buf.reserve(if framing.is_msrp() { 64 * 1024 } else { 4096 });
            match tokio::time::timeout(wait, reader.read_buf(&mut buf)).await {
                Ok(Ok(0)) => return Closed::Eof,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Closed::Io(e),
                Err(_) if message_started.is_some() => return Closed::SlowMessage,
                // a registration made meanwhile keeps it open longer
                Err(_) if keep_until.load(Ordering::Relaxed) > unix_now() => {}
                Err(_) => return Closed::Idle,
            }
        }
    }

    /// Close connection `id` once what is queued on it is written.
    pub fn close(&self, id: u64) {
        if let Some(c) = self.inner.conns.lock().expect("not poisoned").remove(&id) {
            c.closed.notify_one();
        }
    }

    /// Queue `data` on connection `id`. A full queue means the peer reads slower than we
    /// send: a worker thread waits for room (up to the write timeout: backpressure, as a
    /// relay pushing a large message needs), a tokio task does not; when the queue stays
    /// full the peer stopped reading, and the connection is dropped.
    fn queue(&self, id: u64, data: Bytes) -> Result<bool, SendError> {
        let (tx, peer) = {
            let mut conns = self.inner.conns.lock().expect("not poisoned");
            let Some(c) = conns.get(&id) else {
                return Ok(false);
            };
            match c.tx.try_send(data) {
                Ok(()) => return Ok(true),
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    conns.remove(&id);
                    return Ok(false);
                }
                Err(mpsc::error::TrySendError::Full(data)) => {
                    if tokio::runtime::Handle::try_current().is_ok() {
                        let peer = c.peer;
                        conns.remove(&id);
                        return Err(SendError::Congested(peer));
                    }
                    (Some((c.tx.clone(), data)), c.peer)
                }
            }
        };
        let Some((tx, mut data)) = tx else {
            return Ok(false);
        };
        let give_up = std::time::Instant::now() + self.inner.limits.write_timeout;
        loop {
            match tx.try_send(data) {
                Ok(()) => return Ok(true),
                Err(mpsc::error::TrySendError::Closed(_)) => return Ok(false),
                Err(mpsc::error::TrySendError::Full(d)) => {
                    if std::time::Instant::now() >= give_up {
                        self.inner.conns.lock().expect("not poisoned").remove(&id);
                        return Err(SendError::Congested(peer));
                    }
                    data = d;
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
    }

    /// Send on connection `conn` if it is open; else on an open connection to `dest` from
    /// `local`; else (unless `flags.no_connect`) connect to `dest` in the background and
    /// send. With `flags.close_after` the connection is closed once `data` is written.
    ///
    /// A message with [`StreamFlags::on_undelivered`] set that cannot be delivered, now or
    /// once the connect fails, goes to the undelivered hook as well.
    pub fn send(&self, t: Transmit) -> Result<(), SendError> {
        let kept = (t.flags.on_undelivered != 0).then(|| t.data.clone());
        let on_undelivered = t.flags.on_undelivered;
        let sent = self.send_or_connect(t);
        if let (Err(_), Some(data)) = (&sent, kept) {
            self.report_undelivered(on_undelivered, data);
        }
        sent
    }

    /// Queue `data` on open connection `id` and close it after when `flags` say so; false
    /// when the connection is gone meanwhile.
    fn queue_then_close(
        &self,
        id: u64,
        data: &Bytes,
        flags: StreamFlags,
    ) -> Result<bool, SendError> {
        if !self.queue(id, data.clone())? {
            return Ok(false);
        }
        if flags.close_after {
            self.close(id);
        }
        Ok(true)
    }

    fn send_or_connect(&self, t: Transmit) -> Result<(), SendError> {
        let Transmit {
            transport,
            dest,
            local,
            conn,
            data,
            flags,
        } = t;
        let existing = conn
            .filter(|id| self.is_open(*id))
            .or_else(|| self.find(transport, local, dest));
        if let Some(id) = existing
            && self.queue_then_close(id, &data, flags)?
        {
            return Ok(());
        }
        if flags.no_connect {
            return Err(SendError::NoConnection(dest));
        }
        let connector = match transport {
            Transport::Tls => Some(
                self.inner
                    .tls
                    .as_ref()
                    .and_then(|t| t.connector_for(dest))
                    .ok_or(SendError::Unsupported(transport))?,
            ),
            _ => None,
        };
        let key = (transport, dest);
        {
            let mut pending = self.inner.pending.lock().expect("not poisoned");
            if let Some(p) = pending.get_mut(&key) {
                // a connection to `dest` is being opened: this goes after what waits
                p.data.push((data, flags.on_undelivered));
                p.close_after |= flags.close_after;
                return Ok(());
            }
            // a connect may have completed since the lookup above
            if let Some(id) = self.find(transport, local, dest) {
                drop(pending);
                if self.queue_then_close(id, &data, flags)? {
                    return Ok(());
                }
                pending = self.inner.pending.lock().expect("not poisoned");
            }
            pending.insert(
                key,
                Pending {
                    data: vec![(data, flags.on_undelivered)],
                    close_after: flags.close_after,
                },
            );
        }
        let table = self.clone();
        let timeout = self.inner.limits.connect_timeout;
        self.inner.runtime.spawn(async move {
            let connected = tokio::time::timeout(timeout, async {
                let stream = TcpStream::connect(dest).await?;
                let _ = stream.set_nodelay(true);
                let local = stream.local_addr()?;
                match connector {
                    None => {
                        let (r, w) = stream.into_split();
                        table.open_pending(key, r, w, local);
                    }
                    Some((c, name)) => {
                        // the certificate must chain to a trusted CA and carry `name`
                        let s = c.connect(name, stream).await?;
                        let (r, w) = tokio::io::split(s);
                        table.open_pending(key, r, w, local);
                    }
                }
                Ok::<_, std::io::Error>(())
            })
            .await;
            let failed = match connected {
                Ok(Ok(())) => return,
                Ok(Err(e)) => format!("connect failed: {e}"),
                Err(_) => "connect timed out".to_string(),
            };
            let waiting = table
                .inner
                .pending
                .lock()
                .expect("not poisoned")
                .remove(&key)
                .map_or_else(Vec::new, |p| p.data);
            tracing::info!(%dest, %transport, dropped = waiting.len(), "{failed}");
            for (data, tag) in waiting {
                table.report_undelivered(tag, data);
            }
        });
        Ok(())
    }

    /// The connection to `key` is up: register it with what waited for it written first,
    /// atomically with respect to `send` (which checks the pending messages first).
    fn open_pending<R, W>(&self, key: (Transport, SocketAddr), r: R, w: W, local: SocketAddr)
    where
        R: tokio::io::AsyncRead + Unpin + Send + 'static,
        W: tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let mut pending = self.inner.pending.lock().expect("not poisoned");
        let p = pending.remove(&key).unwrap_or_default();
        let first = p.data.into_iter().map(|(data, _)| data).collect();
        let (id, _) = self.start_io(r, w, (key.0, None), key.1, local, first, None);
        drop(pending);
        if p.close_after {
            self.close(id);
        }
    }

    /// An open connection of `transport` to `dest` from `local`'s address.
    fn find(&self, transport: Transport, local: SocketAddr, dest: SocketAddr) -> Option<u64> {
        let conns = self.inner.conns.lock().expect("not poisoned");
        let usable = |c: &Conn| {
            !c.closing
                && c.transport == transport
                && (local.ip().is_unspecified() || c.local.ip() == local.ip())
        };
        // the connection whose peer is `dest` first; one that only has it as an alias
        // (RFC 5923) when there is none
        conns
            .iter()
            .find(|(_, c)| c.peer == dest && usable(c))
            .or_else(|| {
                conns.iter().find(|(_, c)| {
                    c.peer.ip() == dest.ip() && c.alias_ports.contains(&dest.port()) && usable(c)
                })
            })
            .map(|(id, _)| *id)
    }

    /// Let connection `conn` also reach its peer's address at `port` (RFC 5923 connection
    /// reuse: the peer's Via named that port with `alias`). Only the peer's own IP can be
    /// aliased, so a connection never captures another host's traffic.
    pub fn add_alias(&self, conn: u64, port: u16) {
        let mut conns = self.inner.conns.lock().expect("not poisoned");
        if let Some(c) = conns.get_mut(&conn)
            && c.peer.port() != port
            && !c.alias_ports.contains(&port)
            && c.alias_ports.len() < 4
        {
            c.alias_ports.push(port);
        }
    }

    /// Keep connection `conn` open for at least `secs` more seconds, however idle (a
    /// registration lives on it: Kamailio's `tcp_persistent_flag`). False when it is not
    /// open.
    pub fn keep_open(&self, conn: u64, secs: u64) -> bool {
        let conns = self.inner.conns.lock().expect("not poisoned");
        let Some(c) = conns.get(&conn) else {
            return false;
        };
        let until = unix_now().saturating_add(secs);
        c.keep_until.fetch_max(until, Ordering::Relaxed);
        true
    }

    /// True when the connection `to` names is open, or one to its address over its
    /// transport is.
    pub fn has_connection(&self, to: Destination) -> bool {
        let live = |id: u64| {
            self.inner
                .conns
                .lock()
                .expect("not poisoned")
                .get(&id)
                .is_some_and(|c| !c.closing)
        };
        to.conn.is_some_and(live) || self.find(to.transport, to.local, to.dest).is_some()
    }

    fn lane(&self, id: u64) -> &async_channel::Sender<Incoming> {
        let lanes = &self.inner.lanes;
        &lanes[(id % lanes.len() as u64) as usize]
    }

    /// The certificate the peer of connection `id` presented (a TLS listener with
    /// `client_cert`), while the connection is open.
    pub fn tls_peer(&self, id: u64) -> Option<Arc<TlsPeer>> {
        let conns = self.inner.conns.lock().expect("not poisoned");
        conns.get(&id)?.tls_peer.clone()
    }

    fn is_open(&self, id: u64) -> bool {
        self.inner
            .conns
            .lock()
            .expect("not poisoned")
            .contains_key(&id)
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn write_loop<W: tokio::io::AsyncWrite + Unpin>(
    mut writer: W,
    first: Vec<Bytes>,
    mut rx: mpsc::Receiver<Bytes>,
    write_timeout: Duration,
) {
    /// What one write may gather from messages already queued: under load (a relay
    /// pushing chunks) one syscall carries many messages instead of one each.
    const GATHER: usize = 64 * 1024;
    let mut first = first.into_iter();
    let mut batch = bytes::BytesMut::new();
    loop {
        let data = match first.next() {
            Some(d) => d,
            None => match rx.recv().await {
                Some(d) => d,
                None => break,
            },
        };
        let mut data = data;
        if data.len() < GATHER {
            // more already waiting? write them together
            while batch.len() + data.len() < GATHER {
                let next = match first.next() {
                    Some(d) => d,
                    None => match rx.try_recv() {
                        Ok(d) => d,
                        Err(_) => break,
                    },
                };
                batch.extend_from_slice(&data);
                data = next;
            }
            if !batch.is_empty() {
                batch.extend_from_slice(&data);
                data = batch.split().freeze();
            }
        }
        match tokio::time::timeout(write_timeout, writer.write_all(&data)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!("TCP write failed: {e}");
                break;
            }
            Err(_) => {
                tracing::info!("TCP write timed out; closing");
                break;
            }
        }
    }
    let _ = writer.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    const MSG: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 2\r\n\r\nhi";

    async fn setup(
        limits: TcpLimits,
    ) -> (
        ConnectionTable,
        async_channel::Receiver<Incoming>,
        SocketAddr,
    ) {
        let (tx, rx) = async_channel::bounded(16);
        let table = ConnectionTable::new(limits, tx, tokio::runtime::Handle::current());
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(table.clone().accept_loop(l, Transport::Tcp));
        (table, rx, addr)
    }

    #[tokio::test]
    async fn frames_messages_and_answers_pings() {
        let (table, rx, addr) = setup(TcpLimits::default()).await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"\r\n\r\n").await.unwrap();
        let mut pong = [0u8; 2];
        c.read_exact(&mut pong).await.unwrap();
        assert_eq!(&pong, b"\r\n");
        // two messages, the second split across writes
        c.write_all(MSG).await.unwrap();
        c.write_all(&MSG[..10]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        c.write_all(&MSG[10..]).await.unwrap();
        let a = rx.recv().await.unwrap();
        let b = rx.recv().await.unwrap();
        assert_eq!(&a.data[..], MSG);
        assert_eq!(&b.data[..], MSG);
        assert_eq!(a.conn, b.conn);
        // reply on the same connection
        table
            .send(Transmit {
                transport: Transport::Tcp,
                conn: Some(a.conn),
                local: a.local,
                dest: a.src,
                data: Bytes::from_static(b"SIP/2.0 200 OK\r\n\r\n"),
                flags: Default::default(),
            })
            .unwrap();
        let mut got = [0u8; 18];
        c.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"SIP/2.0 200 OK\r\n\r\n");
    }

    #[tokio::test]
    async fn a_connection_that_is_not_sip_is_framed_by_lines() {
        let (_table, rx, addr) = setup(TcpLimits::default()).await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"\r\n:KREQUEST-RESUME").await.unwrap();
        c.write_all(b"-TRANSACTION:1:2:RESUME:\r\n\r\nsecond line\n")
            .await
            .unwrap();
        let first = rx.recv().await.unwrap();
        assert!(first.nosip);
        assert_eq!(&first.data[..], b":KREQUEST-RESUME-TRANSACTION:1:2:RESUME:");
        let second = rx.recv().await.unwrap();
        assert_eq!(&second.data[..], b"second line");
        assert!(second.nosip && second.framing_error.is_none());
        // a SIP-looking line later on the same connection is still just a line
        c.write_all(b"OPTIONS sip:a@b SIP/2.0\r\n").await.unwrap();
        assert!(rx.recv().await.unwrap().nosip);
    }

    #[tokio::test]
    async fn stalled_partial_message_is_cut() {
        let limits = TcpLimits {
            message_timeout: Duration::from_millis(200),
            ..TcpLimits::default()
        };
        let (table, _rx, addr) = setup(limits).await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(&MSG[..20]).await.unwrap();
        let mut buf = [0u8; 8];
        let n = tokio::time::timeout(Duration::from_secs(2), c.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 0, "server closed the slow connection");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(table.is_empty());
    }

    #[tokio::test]
    async fn oversized_message_closes_connection() {
        let limits = TcpLimits {
            max_message: 100,
            ..TcpLimits::default()
        };
        let (table, rx, addr) = setup(limits).await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(&[b'A'; 300]).await.unwrap();
        // the unframeable bytes go to the workers once (for a 400 when possible); the
        // router then closes the connection
        let junk = rx.recv().await.unwrap();
        assert!(junk.data.len() >= 100);
        assert_eq!(
            junk.framing_error,
            Some(FrameError::TooLarge { limit: 100 })
        );
        table
            .send(Transmit {
                transport: Transport::Tcp,
                conn: Some(junk.conn),
                local: junk.local,
                dest: junk.src,
                data: Bytes::from_static(b"X"),
                flags: Default::default(),
            })
            .unwrap();
        table.close(junk.conn);
        let mut buf = [0u8; 8];
        let n = tokio::time::timeout(Duration::from_secs(2), c.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], b"X", "the answer is written before the close");
        let n = tokio::time::timeout(Duration::from_secs(2), c.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 0);
    }

    #[tokio::test]
    async fn outbound_connection_when_none_is_open() {
        let (table, _rx, _addr) = setup(TcpLimits::default()).await;
        let peer = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dest = peer.local_addr().unwrap();
        table
            .send(Transmit {
                transport: Transport::Tcp,
                conn: None,
                local: "127.0.0.1:0".parse().unwrap(),
                dest,
                data: Bytes::from_static(b"hello"),
                flags: Default::default(),
            })
            .unwrap();
        let (mut s, _) = peer.accept().await.unwrap();
        let mut got = [0u8; 5];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");
        assert_eq!(table.len(), 1);
    }

    #[tokio::test]
    async fn undelivered_messages_go_to_the_hook() {
        let (table, _rx, addr) = setup(TcpLimits::default()).await;
        let (seen_tx, seen_rx) = std::sync::mpsc::channel();
        table.set_undelivered_hook(Arc::new(move |_, tag, data| {
            seen_tx.send((tag, data)).unwrap();
        }));
        // a port nobody listens on: the connect fails after send returned
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead_addr = dead.local_addr().unwrap();
        drop(dead);
        let flags = StreamFlags {
            on_undelivered: 7,
            ..StreamFlags::default()
        };
        // the last one untagged: not reported
        for (m, flags) in [
            (&b"one"[..], flags),
            (b"two", flags),
            (b"quiet", StreamFlags::default()),
        ] {
            table
                .send(Transmit {
                    transport: Transport::Tcp,
                    conn: None,
                    local: addr,
                    dest: dead_addr,
                    data: Bytes::from_static(m),
                    flags,
                })
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let got: Vec<_> = seen_rx.try_iter().collect();
        assert_eq!(
            got,
            vec![
                (7, Bytes::from_static(b"one")),
                (7, Bytes::from_static(b"two"))
            ]
        );
        // flag 1 with nothing open: refused at once, and reported
        let err = table.send(Transmit {
            transport: Transport::Tcp,
            conn: None,
            local: addr,
            dest: dead_addr,
            data: Bytes::from_static(b"three"),
            flags: StreamFlags {
                no_connect: true,
                on_undelivered: 9,
                ..StreamFlags::default()
            },
        });
        assert!(matches!(err, Err(SendError::NoConnection(_))));
        assert_eq!(
            seen_rx.try_recv().unwrap(),
            (9, Bytes::from_static(b"three"))
        );
        // send_on: only an open connection
        assert!(!table.send_on(12345, Bytes::from_static(b"x")));
    }
}
