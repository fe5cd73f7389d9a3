//! UDP: blocking receive loops for worker threads.

use bytes::Bytes;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};

/// Largest datagram read; anything longer is truncated by the kernel and then fails to parse.
pub const MAX_DATAGRAM: usize = 65_535;

/// Receive datagrams on `socket` and hand each to `handle` until `stop` is set. Runs on a
/// dedicated thread; several threads may serve one socket.
pub fn serve(socket: &UdpSocket, stop: &AtomicBool, mut handle: impl FnMut(Bytes, SocketAddr)) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    while !stop.load(Ordering::Relaxed) {
        match socket.recv_from(&mut buf) {
            Ok((n, src)) => handle(Bytes::copy_from_slice(&buf[..n]), src),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                // e.g. ICMP errors reported on the socket: log and keep serving
                tracing::debug!("udp receive error: {e}");
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
}
