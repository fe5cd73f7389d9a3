//! The requests `uac_req_send` sent and waits on (RFC 3261 §17.1.2, a non-INVITE client
//! transaction): over UDP each is sent again after T1, doubling up to T2 (after a
//! provisional reply: every T2), until a final reply or timer F (64·T1); over TCP and TLS
//! it is sent once. Their replies end here. Sans IO: the router feeds it the clock and the
//! replies, and sends what [`Outstanding::due`] returns.

use sipwasm_proto::{SipMessage, Transmit};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// RFC 3261's T1.
const T1: Duration = Duration::from_millis(500);
/// RFC 3261's T2.
const T2: Duration = Duration::from_secs(4);
/// Timer F: 64·T1.
const TIMER_F: Duration = Duration::from_secs(32);
/// Most requests waiting at once (past it `track` refuses: the plugin sees an error).
pub const MAX_OUTSTANDING: usize = 10_000;

#[derive(Debug)]
struct Entry {
    sent: Transmit,
    /// CSeq method, to tell its replies.
    method: String,
    /// When it is sent again (`None`: a reliable transport, never).
    next: Option<Instant>,
    interval: Duration,
    /// Timer F.
    give_up: Instant,
}

/// How a request ended, for the router's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// A final reply with this code.
    Answered(u16),
    /// No final reply within timer F.
    TimedOut,
}

/// The requests waiting for a final reply, by Call-ID.
#[derive(Debug, Default)]
pub struct Outstanding {
    waiting: Mutex<HashMap<String, Entry>>,
    /// How many wait: every reply the router gets asks, and most find none without a lock.
    count: AtomicUsize,
}

impl Outstanding {
    /// Wait on `sent` (just sent at `now`, a request of `method` with `call_id`); false
    /// when [`MAX_OUTSTANDING`] wait already.
    pub fn track(&self, call_id: &str, method: &str, sent: Transmit, now: Instant) -> bool {
        let mut waiting = crate::lock(&self.waiting);
        if waiting.len() >= MAX_OUTSTANDING {
            return false;
        }
        let next = (!sent.transport.is_stream()).then_some(now + T1);
        let earlier = waiting.insert(
            call_id.to_string(),
            Entry {
                sent,
                method: method.to_string(),
                next,
                interval: T1,
                give_up: now + TIMER_F,
            },
        );
        if earlier.is_none() {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    /// What is due at `now`: the retransmissions, and the requests that timed out (no
    /// longer waited on).
    pub fn due(&self, now: Instant) -> (Vec<Transmit>, Vec<(Transmit, Ended)>) {
        let mut waiting = crate::lock(&self.waiting);
        let mut again = Vec::new();
        let mut ended = Vec::new();
        waiting.retain(|_, e| {
            if now >= e.give_up {
                ended.push((e.sent.clone(), Ended::TimedOut));
                self.count.fetch_sub(1, Ordering::Relaxed);
                return false;
            }
            if let Some(at) = e.next
                && now >= at
            {
                again.push(e.sent.clone());
                e.interval = (e.interval * 2).min(T2);
                e.next = Some(now + e.interval);
            }
            true
        });
        (again, ended)
    }

    /// A reply: `None` when it answers no request waited on (from where it was sent);
    /// else it goes no further, and a final one ends the wait (`Some(Some(..))`).
    pub fn reply(&self, msg: &SipMessage, src: std::net::SocketAddr) -> Option<Option<Ended>> {
        if self.count.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let code = msg.status()?;
        let call_id = String::from_utf8_lossy(msg.call_id());
        let mut waiting = crate::lock(&self.waiting);
        let e = waiting.get_mut(call_id.as_ref())?;
        if e.sent.dest != src || msg.text(msg.cseq().method_span) != e.method.as_bytes() {
            return None;
        }
        if code < 200 {
            // a provisional: the request arrived; only T2 retransmissions now
            if e.next.is_some() {
                e.interval = T2;
                e.next = Some(Instant::now() + T2);
            }
            return Some(None);
        }
        waiting.remove(call_id.as_ref());
        self.count.fetch_sub(1, Ordering::Relaxed);
        Some(Some(Ended::Answered(code)))
    }

    /// Requests waiting.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// True when none waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use sipwasm_proto::Transport;

    fn sent(transport: Transport) -> Transmit {
        Transmit {
            transport,
            dest: "192.0.2.5:5060".parse().unwrap(),
            local: "127.0.0.1:5060".parse().unwrap(),
            conn: None,
            data: Bytes::from_static(b"MESSAGE sip:x SIP/2.0\r\n"),
            flags: Default::default(),
        }
    }

    fn reply(code: u16, call_id: &str) -> SipMessage {
        SipMessage::parse(Bytes::from(format!(
            "SIP/2.0 {code} X\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n\
             From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: {call_id}\r\n\
             CSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n"
        )))
        .unwrap()
    }

    #[test]
    fn udp_requests_are_sent_again_until_answered() {
        let o = Outstanding::default();
        let t0 = Instant::now();
        assert!(o.track("c1", "MESSAGE", sent(Transport::Udp), t0));
        assert!(o.due(t0 + Duration::from_millis(400)).0.is_empty());
        assert_eq!(o.due(t0 + Duration::from_millis(500)).0.len(), 1);
        // the next after 1 s, then 2 s, then every 4 s
        assert!(o.due(t0 + Duration::from_millis(1400)).0.is_empty());
        assert_eq!(o.due(t0 + Duration::from_millis(1500)).0.len(), 1);
        let src = "192.0.2.5:5060".parse().unwrap();
        // a reply from elsewhere, or for another method, is not its answer
        assert_eq!(
            o.reply(&reply(200, "c1"), "192.0.2.6:5060".parse().unwrap()),
            None
        );
        assert_eq!(o.reply(&reply(200, "c2"), src), None);
        assert_eq!(o.reply(&reply(100, "c1"), src), Some(None));
        assert_eq!(o.len(), 1);
        assert_eq!(
            o.reply(&reply(202, "c1"), src),
            Some(Some(Ended::Answered(202)))
        );
        assert!(o.is_empty());
        assert_eq!(o.reply(&reply(202, "c1"), src), None);
    }

    #[test]
    fn unanswered_requests_end_at_timer_f_and_streams_are_sent_once() {
        let o = Outstanding::default();
        let t0 = Instant::now();
        o.track("udp", "MESSAGE", sent(Transport::Udp), t0);
        o.track("tcp", "MESSAGE", sent(Transport::Tcp), t0);
        let mut resent = 0;
        for ms in (100..32_000).step_by(100) {
            let (again, ended) = o.due(t0 + Duration::from_millis(ms));
            resent += again.len();
            assert!(ended.is_empty());
        }
        // 0.5, 1.5, 3.5, 7.5, 11.5 ... 31.5 s: the UDP one only
        assert_eq!(resent, 10);
        let (_, ended) = o.due(t0 + TIMER_F);
        assert_eq!(ended.len(), 2);
        assert!(ended.iter().all(|(_, e)| *e == Ended::TimedOut));
        assert!(o.is_empty());
    }

    #[test]
    fn the_table_is_bounded() {
        let o = Outstanding::default();
        let t0 = Instant::now();
        for i in 0..MAX_OUTSTANDING {
            assert!(o.track(&format!("c{i}"), "MESSAGE", sent(Transport::Udp), t0));
        }
        assert!(!o.track("one-more", "MESSAGE", sent(Transport::Udp), t0));
    }
}
