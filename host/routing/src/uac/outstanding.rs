//! The requests `uac_req_send` sent and waits on (RFC 3261 §17.1.2, a non-INVITE client
//! transaction): over UDP each is sent again after T1, doubling up to T2 (after a
//! provisional reply: every T2), until a final reply or timer F (64·T1); over TCP and TLS
//! it is sent once. Their replies (one Via, our branch, from where it went) end here; over
//! UDP a final's copies too, for timer K (T4) after it (a copy we sent as the final crossed
//! it is answered again).
//! Bounded: 10,000 requests waiting (and as many answered ones absorbing copies, which
//! no tenant's share holds), and per tenant 1,000 and 4 MiB. Sans IO: the router feeds
//! it the clock and the replies, and sends what [`Outstanding::due`] returns.

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
/// Timer K (T4): how long a request answered over UDP still absorbs its final's copies.
const TIMER_K: Duration = Duration::from_secs(5);
/// Most requests waiting at once (past it `track` refuses: the plugin sees an error).
pub const MAX_OUTSTANDING: usize = 10_000;
/// Most requests one tenant may have waiting: one tenant cannot take the table.
pub const MAX_PER_OWNER: usize = 1_000;
/// Most bytes of requests one tenant may have waiting (they are kept to be sent again).
pub const MAX_BYTES_PER_OWNER: usize = 4 << 20;

#[derive(Debug)]
struct Entry {
    /// Whose request it is (the router's key for the tenant).
    owner: usize,
    /// Our Via branch: a reply must carry it.
    branch: String,
    sent: Transmit,
    /// CSeq method, to tell its replies.
    method: String,
    /// When it is sent again (`None`: a reliable transport, never).
    next: Option<Instant>,
    interval: Duration,
    /// Timer F; once answered, timer K.
    give_up: Instant,
    /// Answered over UDP: only absorbing copies of the final until timer K (its owner's
    /// share of the table already given back, its bytes dropped).
    answered: bool,
}

/// How a request ended, for the router's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// A final reply with this code.
    Answered(u16),
    /// No final reply within timer F.
    TimedOut,
}

#[derive(Debug, Default)]
struct Table {
    by_call_id: HashMap<String, Entry>,
    counts: Counts,
}

/// What the entries hold, kept as they come and go (one place for the arithmetic).
#[derive(Debug, Default)]
struct Counts {
    /// Requests and bytes waiting, per owner.
    owners: HashMap<usize, (usize, usize)>,
    /// Entries answered, only absorbing copies (timer K): not counted as waiting.
    answered: usize,
}

impl Counts {
    /// `e` is in the table now.
    fn add(&mut self, e: &Entry) {
        let o = self.owners.entry(e.owner).or_default();
        o.0 += 1;
        o.1 += e.sent.data.len();
    }

    /// `e` waits no longer: its owner's share back (an answered entry gave it back).
    fn release(&mut self, e: &Entry) {
        if e.answered {
            return;
        }
        if let Some((n, bytes)) = self.owners.get_mut(&e.owner) {
            *n -= 1;
            *bytes -= e.sent.data.len();
            if *n == 0 {
                self.owners.remove(&e.owner);
            }
        }
    }

    /// `e` leaves the table.
    fn forget(&mut self, e: &Entry) {
        self.release(e);
        self.answered -= usize::from(e.answered);
    }

    /// `e` got its final at `now` over UDP: it only absorbs copies until timer K, holding
    /// no share and no bytes.
    fn answer(&mut self, e: &mut Entry, now: Instant) {
        self.release(e);
        self.answered += 1;
        e.answered = true;
        e.next = None;
        e.give_up = now + TIMER_K;
        e.sent.data = bytes::Bytes::new();
    }
}

/// Why a request was not taken on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The router waits on [`MAX_OUTSTANDING`] requests.
    Full,
    /// Its owner waits on [`MAX_PER_OWNER`] requests or [`MAX_BYTES_PER_OWNER`] bytes.
    OwnerFull,
}

/// The requests waiting for a final reply, by Call-ID.
#[derive(Debug, Default)]
pub struct Outstanding {
    waiting: Mutex<Table>,
    /// How many wait: every reply the router gets asks, and most find none without a lock.
    count: AtomicUsize,
}

impl Outstanding {
    /// Wait on `sent` (just sent at `now` for `owner`, a request of `method` with
    /// `call_id` and Via `branch`).
    pub fn track(
        &self,
        owner: usize,
        call_id: &str,
        branch: &str,
        method: &str,
        sent: Transmit,
        now: Instant,
    ) -> Result<(), Refused> {
        let mut t = crate::lock(&self.waiting);
        let Table { by_call_id, counts } = &mut *t;
        if by_call_id.len() - counts.answered >= MAX_OUTSTANDING {
            return Err(Refused::Full);
        }
        let (n, bytes) = counts.owners.get(&owner).copied().unwrap_or((0, 0));
        if n >= MAX_PER_OWNER || bytes + sent.data.len() > MAX_BYTES_PER_OWNER {
            return Err(Refused::OwnerFull);
        }
        let next = (!sent.transport.is_stream()).then_some(now + T1);
        let entry = Entry {
            owner,
            branch: branch.to_string(),
            sent,
            method: method.to_string(),
            next,
            interval: T1,
            give_up: now + TIMER_F,
            answered: false,
        };
        counts.add(&entry);
        match by_call_id.insert(call_id.to_string(), entry) {
            Some(earlier) => counts.forget(&earlier),
            None => {
                self.count.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// What is due at `now`: the retransmissions, and the requests that timed out (no
    /// longer waited on). Answered ones past timer K are forgotten.
    pub fn due(&self, now: Instant) -> (Vec<Transmit>, Vec<(Transmit, Ended)>) {
        let mut t = crate::lock(&self.waiting);
        let Table { by_call_id, counts } = &mut *t;
        let mut again = Vec::new();
        let mut ended = Vec::new();
        by_call_id.retain(|_, e| {
            if now >= e.give_up {
                if !e.answered {
                    ended.push((e.sent.clone(), Ended::TimedOut));
                }
                counts.forget(e);
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

    /// A reply at `now`: `None` when it answers no request waited on (from where it was
    /// sent); else it goes no further, and a final one ends the wait (`Some(Some(..))`).
    pub fn reply(
        &self,
        msg: &SipMessage,
        src: std::net::SocketAddr,
        now: Instant,
    ) -> Option<Option<Ended>> {
        // the router's own requests carry one Via, its own: a reply to a proxied request
        // (two or more) is told apart without the lock
        if self.count.load(Ordering::Relaxed) == 0 || msg.vias().len() != 1 {
            return None;
        }
        let code = msg.status()?;
        let b = msg.as_bytes();
        let branch = msg.top_via().branch(b)?;
        let call_id = String::from_utf8_lossy(msg.call_id());
        let mut t = crate::lock(&self.waiting);
        let Table { by_call_id, counts } = &mut *t;
        let e = by_call_id.get_mut(call_id.as_ref())?;
        if e.sent.dest != src
            || e.branch.as_bytes() != branch
            || msg.text(msg.cseq().method_span) != e.method.as_bytes()
        {
            return None;
        }
        if e.answered {
            // a copy of the final (timer K)
            return Some(None);
        }
        if code < 200 {
            // a provisional: the request arrived; from the next one on, every T2
            // (RFC 3261 §17.1.2.2: the pending Timer E fires as set)
            e.interval = T2;
            return Some(None);
        }
        if e.sent.transport.is_stream() || counts.answered >= MAX_OUTSTANDING {
            // a reliable transport: no copies to absorb (nor room to keep absorbing them)
            if let Some(e) = by_call_id.remove(call_id.as_ref()) {
                counts.forget(&e);
            }
            self.count.fetch_sub(1, Ordering::Relaxed);
        } else {
            counts.answer(e, now);
        }
        Some(Some(Ended::Answered(code)))
    }

    /// Requests and bytes `owner` has waiting.
    pub fn waiting_for(&self, owner: usize) -> (usize, usize) {
        let t = crate::lock(&self.waiting);
        t.counts.owners.get(&owner).copied().unwrap_or_default()
    }

    /// Requests waiting (or, answered over UDP, absorbing copies of their final).
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
        assert!(
            o.track(1, "c1", "z9hG4bK1", "MESSAGE", sent(Transport::Udp), t0)
                .is_ok()
        );
        // another of the same owner, waiting throughout
        let size = sent(Transport::Udp).data.len();
        o.track(1, "c9", "z9hG4bK9", "MESSAGE", sent(Transport::Tcp), t0)
            .unwrap();
        assert!(o.due(t0 + Duration::from_millis(400)).0.is_empty());
        assert_eq!(o.due(t0 + Duration::from_millis(500)).0.len(), 1);
        // the next after 1 s, then 2 s, then every 4 s
        assert!(o.due(t0 + Duration::from_millis(1400)).0.is_empty());
        assert_eq!(o.due(t0 + Duration::from_millis(1500)).0.len(), 1);
        let src = "192.0.2.5:5060".parse().unwrap();
        // a reply from elsewhere, or for another method, is not its answer
        assert_eq!(
            o.reply(&reply(200, "c1"), "192.0.2.6:5060".parse().unwrap(), t0),
            None
        );
        assert_eq!(o.reply(&reply(200, "c2"), src, t0), None);
        // another branch (a reply to something else with the same Call-ID), or a reply
        // with two Vias (a proxied request's): not its answer either
        let other_branch = SipMessage::parse(Bytes::from(
            String::from_utf8_lossy(reply(200, "c1").as_bytes()).replace("z9hG4bK1", "z9hG4bK2"),
        ))
        .unwrap();
        assert_eq!(o.reply(&other_branch, src, t0), None);
        let proxied = SipMessage::parse(Bytes::from(
            String::from_utf8_lossy(reply(200, "c1").as_bytes()).replace(
                "Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n",
                "Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx\r\n",
            ),
        ))
        .unwrap();
        assert_eq!(o.reply(&proxied, src, t0), None);
        assert_eq!(o.reply(&reply(100, "c1"), src, t0), Some(None));
        assert_eq!(o.len(), 2);
        assert_eq!(
            o.reply(&reply(202, "c1"), src, t0),
            Some(Some(Ended::Answered(202)))
        );
        // a copy of the final (the UAS answering a copy we sent as its final crossed it)
        // is absorbed until timer K, and nothing more is sent
        assert_eq!(o.reply(&reply(202, "c1"), src, t0), Some(None));
        let (again, ended) = o.due(t0 + Duration::from_secs(4));
        assert!(again.is_empty() && ended.is_empty());
        // its owner's share is back at once, once
        assert_eq!(o.waiting_for(1), (1, size));
        let (again, ended) = o.due(t0 + TIMER_K);
        assert!(again.is_empty() && ended.is_empty());
        assert_eq!(o.waiting_for(1), (1, size));
        assert_eq!(o.len(), 1);
        assert_eq!(o.reply(&reply(202, "c1"), src, t0 + TIMER_K), None);
    }

    #[test]
    fn over_a_stream_an_answer_ends_the_wait_at_once() {
        let o = Outstanding::default();
        let t0 = Instant::now();
        o.track(1, "c1", "z9hG4bK1", "MESSAGE", sent(Transport::Tcp), t0)
            .unwrap();
        let src = "192.0.2.5:5060".parse().unwrap();
        assert_eq!(
            o.reply(&reply(200, "c1"), src, t0),
            Some(Some(Ended::Answered(200)))
        );
        assert!(o.is_empty());
        assert_eq!(o.waiting_for(1), (0, 0));
        assert_eq!(o.reply(&reply(200, "c1"), src, t0), None);
    }

    #[test]
    fn answered_requests_hold_no_room_of_the_waiting() {
        // a tenant whose requests are answered at once cannot fill the table with the
        // answered ones (absorbing copies for timer K)
        let o = Outstanding::default();
        let t0 = Instant::now();
        let src = "192.0.2.5:5060".parse().unwrap();
        for i in 0..MAX_OUTSTANDING + 10 {
            let id = format!("c{i}");
            o.track(1, &id, "z9hG4bK1", "MESSAGE", sent(Transport::Udp), t0)
                .unwrap();
            assert_eq!(
                o.reply(&reply(200, &id), src, t0),
                Some(Some(Ended::Answered(200)))
            );
        }
        // as many answered as the table takes are kept, the rest forgotten at once
        assert_eq!(o.len(), MAX_OUTSTANDING);
        o.track(2, "other", "z9hG4bK1", "MESSAGE", sent(Transport::Udp), t0)
            .unwrap();
        assert_eq!(o.waiting_for(1), (0, 0));
        o.due(t0 + TIMER_K);
        assert_eq!(o.len(), 1);
    }

    #[test]
    fn unanswered_requests_end_at_timer_f_and_streams_are_sent_once() {
        let o = Outstanding::default();
        let t0 = Instant::now();
        o.track(1, "udp", "z9hG4bK1", "MESSAGE", sent(Transport::Udp), t0)
            .unwrap();
        o.track(1, "tcp", "z9hG4bK1", "MESSAGE", sent(Transport::Tcp), t0)
            .unwrap();
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
            let owner = i / MAX_PER_OWNER;
            let id = format!("c{i}");
            o.track(owner, &id, "b", "MESSAGE", sent(Transport::Udp), t0)
                .unwrap();
        }
        assert_eq!(
            o.track(99, "one-more", "b", "MESSAGE", sent(Transport::Udp), t0),
            Err(Refused::Full)
        );
        // one owner cannot take the table: its own bound comes first
        let o = Outstanding::default();
        for i in 0..MAX_PER_OWNER {
            let id = format!("c{i}");
            o.track(7, &id, "b", "MESSAGE", sent(Transport::Udp), t0)
                .unwrap();
        }
        assert_eq!(
            o.track(7, "more", "b", "MESSAGE", sent(Transport::Udp), t0),
            Err(Refused::OwnerFull)
        );
        o.track(8, "other", "b", "MESSAGE", sent(Transport::Udp), t0)
            .unwrap();
        // nor hold more than its bytes
        let o = Outstanding::default();
        let mut big = sent(Transport::Udp);
        big.data = Bytes::from(vec![b'x'; MAX_BYTES_PER_OWNER / 2]);
        o.track(3, "a", "b", "MESSAGE", big.clone(), t0).unwrap();
        o.track(3, "b", "b", "MESSAGE", big.clone(), t0).unwrap();
        assert_eq!(
            o.track(3, "c", "b", "MESSAGE", big.clone(), t0),
            Err(Refused::OwnerFull)
        );
        // the room comes back as they end
        o.due(t0 + TIMER_F);
        o.track(3, "c", "b", "MESSAGE", big, t0 + TIMER_F).unwrap();
        assert_eq!(o.len(), 1);
    }
}
