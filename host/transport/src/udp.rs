//! UDP: blocking receive loops for worker threads.

use bytes::Bytes;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};

/// Largest datagram read; anything longer is truncated by the kernel and then fails to parse.
pub const MAX_DATAGRAM: usize = 65_535;

/// Receive datagrams on `socket` and hand each to `handle` until `stop` is set. Runs on a
/// dedicated thread; several threads may serve one socket. The socket's read timeout
/// bounds how long a stop takes to be noticed.
pub fn serve(socket: &UdpSocket, stop: &AtomicBool, handle: impl FnMut(Bytes, SocketAddr)) {
    #[cfg(target_os = "linux")]
    batched::serve(socket, stop, handle);
    #[cfg(not(target_os = "linux"))]
    serve_one_by_one(socket, stop, handle);
}

/// Whether a receive error only means "nothing yet" (the read timeout, a signal).
fn is_idle(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

#[cfg(not(target_os = "linux"))]
fn serve_one_by_one(
    socket: &UdpSocket,
    stop: &AtomicBool,
    mut handle: impl FnMut(Bytes, SocketAddr),
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    while !stop.load(Ordering::Relaxed) {
        match socket.recv_from(&mut buf) {
            Ok((n, src)) => handle(Bytes::copy_from_slice(&buf[..n]), src),
            Err(e) if is_idle(&e) => {}
            // e.g. ICMP errors reported on the socket: log and keep serving
            Err(e) => tracing::debug!("udp receive error: {e}"),
        }
    }
}

/// `recvmmsg(2)`: every datagram already queued comes in one system call. Under load a
/// worker finds several waiting each time it returns to the socket (at 1000 proxied
/// calls/s, the datagrams of a call took 1.9 receive calls instead of 6), and each
/// `recvfrom` costs a kernel entry and exit of its own.
#[cfg(target_os = "linux")]
mod batched {
    use super::*;
    use socket2::{SockAddr, SockAddrStorage};
    use std::mem::{replace, zeroed};
    use std::os::fd::AsRawFd;

    /// Datagrams read per call at most. Small: with several workers on one socket, a
    /// worker should not take a queue the others could serve.
    pub(super) const BATCH: usize = 8;

    pub(super) fn serve(
        socket: &UdpSocket,
        stop: &AtomicBool,
        mut handle: impl FnMut(Bytes, SocketAddr),
    ) {
        let fd = socket.as_raw_fd();
        let mut bufs = vec![0u8; BATCH * MAX_DATAGRAM];
        let mut addrs: [SockAddrStorage; BATCH] =
            std::array::from_fn(|_| SockAddrStorage::zeroed());
        // SAFETY: all-zero is a valid value of these plain C structs.
        let mut iovecs: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        for (i, chunk) in bufs.chunks_exact_mut(MAX_DATAGRAM).enumerate() {
            iovecs[i] = libc::iovec {
                iov_base: chunk.as_mut_ptr().cast(),
                iov_len: MAX_DATAGRAM,
            };
        }
        // The pointers stay valid: `bufs`, `addrs` and `iovecs` are neither moved nor
        // dropped before the loop ends.
        for i in 0..BATCH {
            let h = &mut headers[i].msg_hdr;
            h.msg_name = (&raw mut addrs[i]).cast();
            h.msg_iov = &raw mut iovecs[i];
            h.msg_iovlen = 1;
        }
        let name_len = addrs[0].size_of();
        while !stop.load(Ordering::Relaxed) {
            for h in &mut headers {
                h.msg_hdr.msg_namelen = name_len;
                h.msg_len = 0;
            }
            // SAFETY: `headers` describes BATCH writable buffers and address slots that
            // outlive the call; MSG_WAITFORONE blocks (up to the socket's read timeout) for
            // the first datagram only.
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    headers.as_mut_ptr(),
                    BATCH as libc::c_uint,
                    libc::MSG_WAITFORONE,
                    std::ptr::null_mut(),
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if !is_idle(&e) {
                    // e.g. ICMP errors reported on the socket: log and keep serving
                    tracing::debug!("udp receive error: {e}");
                }
                continue;
            }
            for (i, h) in headers.iter().take(n as usize).enumerate() {
                let len = (h.msg_len as usize).min(MAX_DATAGRAM);
                let storage = replace(&mut addrs[i], SockAddrStorage::zeroed());
                // SAFETY: the kernel wrote an address of this length into the storage.
                let from = unsafe { SockAddr::new(storage, h.msg_hdr.msg_namelen) };
                // (a family other than IP cannot reach a UDP/IP socket; skip it if it did)
                let Some(src) = from.as_socket() else {
                    continue;
                };
                let at = i * MAX_DATAGRAM;
                handle(Bytes::copy_from_slice(&bufs[at..at + len]), src);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ListenSpec;
    use std::sync::Arc;

    #[test]
    fn receives_until_stopped() {
        let crate::BoundListener::Udp(sock) = "udp:127.0.0.1:0"
            .parse::<ListenSpec>()
            .unwrap()
            .bind()
            .unwrap()
        else {
            unreachable!()
        };
        let addr = sock.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let t = {
            let stop = stop.clone();
            std::thread::spawn(move || serve(&sock, &stop, |b, _| tx.send(b).unwrap()))
        };
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.send_to(b"hello", addr).unwrap();
        assert_eq!(&rx.recv().unwrap()[..], b"hello");
        stop.store(true, Ordering::Relaxed);
        t.join().unwrap();
    }

    fn bound(spec: &str) -> UdpSocket {
        let crate::BoundListener::Udp(sock) = spec.parse::<ListenSpec>().unwrap().bind().unwrap()
        else {
            unreachable!()
        };
        sock
    }

    /// More datagrams queued than one receive call takes, empty to near the largest (a few,
    /// to stay within a default receive buffer), from two senders: all arrive, in order,
    /// each with its own source.
    #[test]
    fn queued_datagrams_arrive_in_order_with_their_sources() {
        for (listen, from) in [
            ("udp:127.0.0.1:0", "127.0.0.1:0"),
            ("udp:[::1]:0", "[::1]:0"),
        ] {
            let Ok(a) = UdpSocket::bind(from) else {
                continue; // no IPv6 on this host
            };
            let sock = bound(listen);
            let addr = sock.local_addr().unwrap();
            let b = UdpSocket::bind(from).unwrap();
            let mut sent = Vec::new();
            for i in 0..21usize {
                let (who, size) = if i % 3 == 0 {
                    (&b, 60_000 + i)
                } else {
                    (&a, i)
                };
                let data: Vec<u8> = (0..size).map(|j| (i + j) as u8).collect();
                who.send_to(&data, addr).unwrap();
                sent.push((data, who.local_addr().unwrap()));
            }
            let stop = Arc::new(AtomicBool::new(false));
            let (tx, rx) = std::sync::mpsc::channel();
            let t = {
                let stop = stop.clone();
                std::thread::spawn(move || serve(&sock, &stop, |d, src| tx.send((d, src)).unwrap()))
            };
            for (data, src) in &sent {
                let (got, from) = rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
                assert_eq!(got.len(), data.len());
                assert_eq!(&got[..], &data[..]);
                assert_eq!(from, *src);
            }
            stop.store(true, Ordering::Relaxed);
            t.join().unwrap();
        }
    }
}
