//! A proxy transaction ("cell", as Kamailio's tm calls it): one server transaction towards
//! the caller and one client transaction per branch, with the response context of RFC 3261
//! §16.7. Pure: every entry point takes `now` and appends what to send to `out`; the caller
//! owns sockets, clocks and plugin calls.

use crate::key::CellId;
use crate::msg::{ack_for, cancel_for, strip_top_via};
use bytes::Bytes;
use sipwasm_proto::reply::{ReplyBuilder, ReplyInfo};
use sipwasm_proto::{Method, SipMessage, Transport};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// RFC 3261 timer values and the final-response timeouts of Kamailio's tm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate (500 ms).
    pub t1: Duration,
    /// Longest retransmit interval for non-INVITE requests and INVITE responses (4 s).
    pub t2: Duration,
    /// Longest time a message stays in the network (5 s).
    pub t4: Duration,
    /// Final-response timeout before any provisional (Kamailio `fr_timer`, 30 s; RFC
    /// Timer B/F are 64*T1).
    pub fr: Duration,
    /// Final-response timeout of an INVITE branch after a provisional (`fr_inv_timer`,
    /// 120 s).
    pub fr_inv: Duration,
    /// How long a finished transaction lingers to absorb retransmissions (Kamailio
    /// `wt_timer`, 5 s). It caps the RFC's 64*T1 timers D, J, L and M: a UAC that lost
    /// the final reply retransmits within T2 (4 s), so 5 s catch it, and at 1000 calls/s
    /// the 32 s of the RFC would hold six times as many transactions in memory.
    pub wait: Duration,
}

impl TimerConfig {
    /// Linger time of a finished transaction: 64*T1, at most [`Self::wait`].
    fn linger(&self) -> Duration {
        (64 * self.t1).min(self.wait)
    }
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            fr: Duration::from_secs(30),
            fr_inv: Duration::from_secs(120),
            wait: Duration::from_secs(5),
        }
    }
}

/// Where a message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// Transport.
    pub transport: Transport,
    /// Destination.
    pub dest: SocketAddr,
    /// Local socket to send from.
    pub local: SocketAddr,
    /// Connection to use, for streams.
    pub conn: Option<u64>,
}

impl Target {
    fn reliable(&self) -> bool {
        self.transport.is_stream()
    }
}

/// Something to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Send {
    /// Where.
    pub target: Target,
    /// What.
    pub data: Bytes,
}

/// State of the server transaction (RFC 3261 §17.2, RFC 6026 for Accepted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerState {
    /// No final response yet.
    Proceeding,
    /// Final sent; INVITE: waiting for the ACK of a non-2xx; non-INVITE: absorbing
    /// retransmissions.
    Completed,
    /// INVITE: ACK received.
    Confirmed,
    /// INVITE: 2xx sent; retransmitted INVITEs absorbed.
    Accepted,
    /// Done.
    Terminated,
}

/// State of a branch's client transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BranchState {
    /// Sent, nothing heard yet.
    Calling,
    /// A provisional response arrived.
    Proceeding,
    /// A final response arrived (non-2xx for INVITE).
    Completed,
    /// INVITE: a 2xx arrived (RFC 6026): 2xx retransmissions still pass.
    Accepted,
    /// Done.
    Terminated,
}

/// A branch's final answer.
#[derive(Clone, Debug)]
pub enum FinalReply {
    /// A response received from downstream.
    Received(Box<SipMessage>),
    /// Generated here (408 on timeout, 503 on a send failure ...).
    Local(u16, &'static str),
}

impl FinalReply {
    /// Its status code.
    pub fn code(&self) -> u16 {
        match self {
            FinalReply::Received(m) => m.status().unwrap_or(500),
            FinalReply::Local(c, _) => *c,
        }
    }
}

#[derive(Clone, Debug)]
enum CancelState {
    /// Not asked for.
    None,
    /// Asked for before any provisional: sent when one arrives (§9.1).
    Wanted,
    /// Sent; retransmitted over UDP until answered.
    Sent {
        data: Bytes,
        retrans_at: Option<Instant>,
        interval: Duration,
        give_up_at: Instant,
    },
    /// Answered or given up.
    Done,
}

/// One forwarded copy of the request and its client transaction.
#[derive(Clone, Debug)]
pub struct Branch {
    /// Our Via branch parameter.
    pub param: String,
    /// Where it went.
    pub target: Target,
    /// The request as sent. Kept as bytes: the parsed form is needed only for a CANCEL or
    /// an ACK, and a transaction lingers for seconds after it ends.
    request: Bytes,
    invite: bool,
    state: BranchState,
    retrans_at: Option<Instant>,
    interval: Duration,
    fr_at: Option<Instant>,
    end_at: Option<Instant>,
    ack: Option<Bytes>,
    cancel: CancelState,
    final_reply: Option<FinalReply>,
    last_code: u16,
}

impl Branch {
    /// The request as sent on this branch.
    pub fn request(&self) -> SipMessage {
        SipMessage::parse(self.request.clone())
            .expect("parsed when the branch was added; parsing is deterministic")
    }

    /// Client transaction state.
    pub fn state(&self) -> BranchState {
        self.state
    }

    /// Last status code received (0 for none).
    pub fn last_code(&self) -> u16 {
        self.last_code
    }

    /// The final answer of this branch, if any.
    pub fn final_reply(&self) -> Option<&FinalReply> {
        self.final_reply.as_ref()
    }
}

#[derive(Clone, Debug)]
struct ServerTx {
    invite: bool,
    target: Target,
    state: ServerState,
    last: Option<Bytes>,
    last_code: u16,
    final_to_tag: Option<Vec<u8>>,
    g_at: Option<Instant>,
    g_interval: Duration,
    end_at: Option<Instant>,
    /// Gives up on a cell that never got a branch or a reply.
    guard_at: Option<Instant>,
}

/// What a response to a branch means for the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseStep {
    /// Retransmission, a 100, or a late response: handled here.
    Absorbed,
    /// A new response: run the onreply route if any, then call [`Cell::relay_response`].
    Deliver,
    /// A retransmitted 2xx to an INVITE: forward it as is (already in `out`).
    Retransmitted2xx,
}

/// What [`Cell::relay_response`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relay {
    /// Sent upstream.
    Forwarded,
    /// Kept in the response context; other branches are still pending.
    Stored,
    /// Dropped (a provisional after the final, a final after a 2xx).
    Dropped,
    /// Every branch has a final non-2xx answer: run the failure route if any, then add
    /// branches or call [`Cell::forward_best`].
    AllFailed,
}

/// Why a reply or a branch was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CellError {
    /// A final response was already sent.
    #[error("the transaction was already answered with a final reply")]
    AlreadyReplied,
    /// The transaction was canceled.
    #[error("the transaction was canceled")]
    Canceled,
    /// The bytes given for a branch are not a request.
    #[error("branch request does not parse: {0}")]
    BadRequest(String),
}

/// A proxy transaction. `U` is the caller's state kept with it (saved route state).
#[derive(Debug)]
pub struct Cell<U> {
    /// `$T(id_index)`, `$T(id_label)`.
    pub id: CellId,
    /// The request as received.
    pub request: SipMessage,
    /// Where the request came from (for `received`/`rport` in local replies).
    pub src: SocketAddr,
    /// The caller's state.
    pub user: U,
    server: ServerTx,
    branches: Vec<Branch>,
    canceled: bool,
    failure_reported: bool,
    timers: TimerConfig,
    to_tag: String,
    server_header: Option<String>,
}

fn min_opt(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

impl<U> Cell<U> {
    /// A cell for `request` received from `src`, answered towards `reply_target`.
    /// `to_tag` is used in replies generated here.
    #[allow(
        clippy::too_many_arguments,
        reason = "one constructor, all parts needed"
    )]
    pub fn new(
        id: CellId,
        request: SipMessage,
        src: SocketAddr,
        reply_target: Target,
        timers: TimerConfig,
        to_tag: String,
        server_header: Option<String>,
        user: U,
        now: Instant,
    ) -> Self {
        let invite = request.method() == Method::Invite;
        Cell {
            id,
            src,
            server: ServerTx {
                invite,
                target: reply_target,
                state: ServerState::Proceeding,
                last: None,
                last_code: 0,
                final_to_tag: None,
                g_at: None,
                g_interval: timers.t1,
                end_at: None,
                guard_at: Some(now + timers.fr),
            },
            request,
            user,
            branches: Vec::with_capacity(1),
            canceled: false,
            failure_reported: false,
            timers,
            to_tag,
            server_header,
        }
    }

    /// Timer values of this cell.
    pub fn timers(&self) -> &TimerConfig {
        &self.timers
    }

    /// Change the final-response timeouts for branches added from now on (`t_set_fr`).
    pub fn set_fr(&mut self, fr_inv: Option<Duration>, fr: Option<Duration>) {
        if let Some(v) = fr_inv {
            self.timers.fr_inv = v;
        }
        if let Some(v) = fr {
            self.timers.fr = v;
        }
    }

    /// True for an INVITE transaction.
    pub fn is_invite(&self) -> bool {
        self.server.invite
    }

    /// The server transaction's state.
    pub fn server_state(&self) -> ServerState {
        self.server.state
    }

    /// Status of the last reply sent upstream (0 for none).
    pub fn last_reply_code(&self) -> u16 {
        self.server.last_code
    }

    /// True once a final reply went upstream.
    pub fn final_sent(&self) -> bool {
        self.server.last_code >= 200
    }

    /// True when a CANCEL for this transaction arrived.
    pub fn is_canceled(&self) -> bool {
        self.canceled
    }

    /// The branches.
    pub fn branches(&self) -> &[Branch] {
        &self.branches
    }

    /// The To tag of the final reply sent, for matching an ACK without an RFC 3261 branch.
    pub fn final_to_tag(&self) -> Option<&[u8]> {
        self.server.final_to_tag.as_deref()
    }

    /// The reply target upstream.
    pub fn reply_target(&self) -> Target {
        self.server.target
    }

    /// Build a reply generated here (100 Trying, 408, 487, t_reply ...).
    pub fn local_reply(&self, code: u16, reason: &str, extra_headers: &[&[u8]]) -> Vec<u8> {
        ReplyBuilder {
            code,
            reason,
            to_tag: Some(&self.to_tag),
            src: self.src,
            extra_headers,
            server: self.server_header.as_deref(),
            body: None,
        }
        .build(&ReplyInfo::from_request(&self.request))
    }

    /// Send `100 Trying` (INVITE only, before anything else).
    pub fn send_trying(&mut self, out: &mut Vec<Send>) {
        if self.server.invite && self.server.last.is_none() {
            let data = Bytes::from(self.local_reply(100, "Trying", &[]));
            self.server.last = Some(data.clone());
            self.server.last_code = 100;
            out.push(Send {
                target: self.server.target,
                data,
            });
        }
    }

    /// Send a reply upstream through the server transaction. `to_tag` is the tag of a
    /// final reply (for matching its ACK).
    pub fn reply(
        &mut self,
        now: Instant,
        code: u16,
        data: Bytes,
        to_tag: Option<Vec<u8>>,
        out: &mut Vec<Send>,
    ) -> Result<(), CellError> {
        let extra_2xx = self.server.invite
            && (200..300).contains(&code)
            && self.server.state == ServerState::Accepted;
        if self.server.state != ServerState::Proceeding && !extra_2xx {
            return Err(CellError::AlreadyReplied);
        }
        out.push(Send {
            target: self.server.target,
            data: data.clone(),
        });
        if extra_2xx {
            return Ok(());
        }
        self.server.last = Some(data);
        self.server.last_code = code;
        self.server.guard_at = None;
        if code < 200 {
            return Ok(());
        }
        self.server.final_to_tag = to_tag;
        let reliable = self.server.target.reliable();
        let t = self.timers;
        if self.server.invite && code < 300 {
            self.server.state = ServerState::Accepted;
            self.server.end_at = Some(now + t.linger());
        } else if self.server.invite {
            self.server.state = ServerState::Completed;
            if !reliable {
                self.server.g_interval = t.t1;
                self.server.g_at = Some(now + t.t1);
            }
            self.server.end_at = Some(now + 64 * t.t1);
        } else {
            self.server.state = ServerState::Completed;
            self.server.end_at = Some(if reliable { now } else { now + t.linger() });
        }
        Ok(())
    }

    /// Send a reply built here.
    pub fn reply_local(
        &mut self,
        now: Instant,
        code: u16,
        reason: &str,
        extra_headers: &[&[u8]],
        out: &mut Vec<Send>,
    ) -> Result<(), CellError> {
        let data = Bytes::from(self.local_reply(code, reason, extra_headers));
        let tag = (code >= 200).then(|| self.to_tag.as_bytes().to_vec());
        self.reply(now, code, data, tag, out)
    }

    /// A retransmission of the request arrived: resend the last reply if there is one.
    pub fn on_request_retransmission(&mut self, out: &mut Vec<Send>) {
        if matches!(
            self.server.state,
            ServerState::Proceeding | ServerState::Completed
        ) && let Some(last) = &self.server.last
        {
            out.push(Send {
                target: self.server.target,
                data: last.clone(),
            });
        }
    }

    /// The ACK of our non-2xx final reply arrived.
    pub fn on_ack(&mut self, now: Instant) {
        if self.server.state == ServerState::Completed && self.server.invite {
            self.server.state = ServerState::Confirmed;
            self.server.g_at = None;
            let reliable = self.server.target.reliable();
            self.server.end_at = Some(if reliable { now } else { now + self.timers.t4 });
        }
    }

    /// Add a branch for `data` (the request as it goes out) and send it. `data` is parsed
    /// first: a request that is not SIP any more is refused.
    pub fn add_branch(
        &mut self,
        now: Instant,
        param: String,
        data: Bytes,
        target: Target,
        out: &mut Vec<Send>,
    ) -> Result<u16, CellError> {
        let invite = SipMessage::parse(data.clone())
            .map_err(|e| CellError::BadRequest(e.to_string()))?
            .method()
            == Method::Invite;
        self.add_checked_branch(now, param, data, invite, target, out)
    }

    /// [`Self::add_branch`] for a request known to be well-formed (built by the host from
    /// a parsed request without foreign edits).
    pub fn add_checked_branch(
        &mut self,
        now: Instant,
        param: String,
        data: Bytes,
        invite: bool,
        target: Target,
        out: &mut Vec<Send>,
    ) -> Result<u16, CellError> {
        if self.canceled && self.server.invite {
            return Err(CellError::Canceled);
        }
        if self.final_sent() && !(self.server.invite && self.server.state == ServerState::Accepted)
        {
            return Err(CellError::AlreadyReplied);
        }
        let reliable = target.reliable();
        let t = self.timers;
        self.branches.push(Branch {
            param,
            target,
            request: data.clone(),
            invite,
            state: BranchState::Calling,
            retrans_at: (!reliable).then_some(now + t.t1),
            interval: t.t1,
            fr_at: Some(now + t.fr),
            end_at: None,
            ack: None,
            cancel: CancelState::None,
            final_reply: None,
            last_code: 0,
        });
        self.failure_reported = false;
        self.server.guard_at = None;
        out.push(Send { target, data });
        Ok((self.branches.len() - 1) as u16)
    }

    /// A branch could not be sent (no route, connection refused): it fails locally.
    pub fn fail_branch(&mut self, n: u16, code: u16, reason: &'static str) -> Relay {
        let Some(b) = self.branches.get_mut(n as usize) else {
            return Relay::Dropped;
        };
        if b.final_reply.is_none() {
            b.final_reply = Some(FinalReply::Local(code, reason));
            b.state = BranchState::Terminated;
            b.retrans_at = None;
            b.fr_at = None;
        }
        self.after_branch_final()
    }

    fn send_cancel(b: &mut Branch, now: Instant, t: &TimerConfig, out: &mut Vec<Send>) {
        let data = Bytes::from(cancel_for(&b.request()));
        let reliable = b.target.reliable();
        out.push(Send {
            target: b.target,
            data: data.clone(),
        });
        b.cancel = CancelState::Sent {
            data,
            retrans_at: (!reliable).then_some(now + t.t1),
            interval: t.t1,
            give_up_at: now + 64 * t.t1,
        };
    }

    /// Cancel every INVITE branch still waiting for a final answer (a CANCEL arrived, a
    /// 2xx or a 6xx won, or the fr timer fired).
    fn cancel_pending(&mut self, now: Instant, except: Option<usize>, out: &mut Vec<Send>) {
        let t = self.timers;
        for (i, b) in self.branches.iter_mut().enumerate() {
            if Some(i) == except || !b.invite || b.final_reply.is_some() {
                continue;
            }
            match (&b.cancel, b.state) {
                (CancelState::None, BranchState::Proceeding) => Self::send_cancel(b, now, &t, out),
                (CancelState::None, BranchState::Calling) => b.cancel = CancelState::Wanted,
                _ => {}
            }
        }
    }

    /// A CANCEL for this transaction arrived (RFC 3261 §16.10).
    pub fn on_cancel(&mut self, now: Instant, out: &mut Vec<Send>) {
        if !self.server.invite {
            return;
        }
        self.canceled = true;
        self.cancel_pending(now, None, out);
        if self.server.state == ServerState::Proceeding
            && self.branches.iter().all(|b| b.final_reply.is_some())
        {
            // nothing pending downstream: answer the INVITE ourselves
            let _ = self.reply_local(now, 487, "Request Terminated", &[], out);
        }
    }

    /// A response to branch `n` arrived.
    pub fn on_response(
        &mut self,
        now: Instant,
        n: u16,
        msg: &SipMessage,
        out: &mut Vec<Send>,
    ) -> ResponseStep {
        let t = self.timers;
        let Some(b) = self.branches.get_mut(n as usize) else {
            return ResponseStep::Absorbed;
        };
        let code = msg.status().unwrap_or(0);
        if msg.cseq().method == Method::Cancel {
            // the answer to our CANCEL: stop retransmitting it
            if code >= 200 && matches!(b.cancel, CancelState::Sent { .. }) {
                b.cancel = CancelState::Done;
            }
            return ResponseStep::Absorbed;
        }
        let reliable = b.target.reliable();
        match b.state {
            BranchState::Calling | BranchState::Proceeding if b.final_reply.is_some() => {
                // this branch already timed out: only tidy up the client transaction
                b.last_code = code;
                if code < 200 {
                    return ResponseStep::Absorbed;
                }
                if b.invite && code >= 300 {
                    let ack = Bytes::from(ack_for(&b.request(), msg));
                    out.push(Send {
                        target: b.target,
                        data: ack.clone(),
                    });
                    b.ack = Some(ack);
                    b.state = BranchState::Completed;
                    b.end_at = Some(if reliable { now } else { now + t.linger() });
                    ResponseStep::Absorbed
                } else if b.invite {
                    // a 2xx is always delivered (§16.7 step 5), even late
                    b.state = BranchState::Accepted;
                    b.end_at = Some(now + t.linger());
                    out.push(Send {
                        target: self.server.target,
                        data: Bytes::from(strip_top_via(msg)),
                    });
                    ResponseStep::Retransmitted2xx
                } else {
                    b.state = BranchState::Completed;
                    b.end_at = Some(if reliable { now } else { now + t.t4 });
                    ResponseStep::Absorbed
                }
            }
            BranchState::Calling | BranchState::Proceeding => {
                b.last_code = code;
                if code < 200 {
                    let first = b.state == BranchState::Calling;
                    b.state = BranchState::Proceeding;
                    if b.invite {
                        b.retrans_at = None;
                        if first {
                            b.fr_at = Some(now + t.fr_inv);
                        }
                        if matches!(b.cancel, CancelState::Wanted) {
                            Self::send_cancel(b, now, &t, out);
                        }
                    } else if !reliable {
                        b.interval = t.t2;
                        b.retrans_at = Some(now + t.t2);
                    }
                    return if code == 100 {
                        ResponseStep::Absorbed
                    } else {
                        ResponseStep::Deliver
                    };
                }
                b.retrans_at = None;
                b.fr_at = None;
                if b.invite && code >= 300 {
                    let ack = Bytes::from(ack_for(&b.request(), msg));
                    out.push(Send {
                        target: b.target,
                        data: ack.clone(),
                    });
                    b.ack = Some(ack);
                    b.state = BranchState::Completed;
                    b.end_at = Some(if reliable { now } else { now + t.linger() });
                } else if b.invite {
                    b.state = BranchState::Accepted;
                    b.end_at = Some(now + t.linger());
                } else {
                    b.state = BranchState::Completed;
                    b.end_at = Some(if reliable { now } else { now + t.t4 });
                }
                if matches!(b.cancel, CancelState::Wanted) {
                    b.cancel = CancelState::Done;
                }
                ResponseStep::Deliver
            }
            BranchState::Completed => {
                if let Some(ack) = &b.ack
                    && code >= 300
                {
                    out.push(Send {
                        target: b.target,
                        data: ack.clone(),
                    });
                }
                ResponseStep::Absorbed
            }
            BranchState::Accepted if (200..300).contains(&code) => {
                out.push(Send {
                    target: self.server.target,
                    data: Bytes::from(strip_top_via(msg)),
                });
                ResponseStep::Retransmitted2xx
            }
            BranchState::Accepted | BranchState::Terminated => ResponseStep::Absorbed,
        }
    }

    /// After [`Self::on_response`] returned `Deliver` (and the onreply route did not drop
    /// it): forward or store the response.
    pub fn relay_response(
        &mut self,
        now: Instant,
        n: u16,
        msg: SipMessage,
        out: &mut Vec<Send>,
    ) -> Relay {
        let code = msg.status().unwrap_or(0);
        if code < 200 {
            if self.final_sent() {
                return Relay::Dropped;
            }
            let data = Bytes::from(strip_top_via(&msg));
            return match self.reply(now, code, data, None, out) {
                Ok(()) => Relay::Forwarded,
                Err(_) => Relay::Dropped,
            };
        }
        if code < 300 {
            if self.final_sent()
                && !(self.server.invite && self.server.state == ServerState::Accepted)
            {
                return Relay::Dropped;
            }
            let tag = msg.to().tag(msg.as_bytes()).map(<[u8]>::to_vec);
            let data = Bytes::from(strip_top_via(&msg));
            if let Some(b) = self.branches.get_mut(n as usize) {
                b.final_reply = Some(FinalReply::Received(Box::new(msg)));
            }
            if self.server.invite {
                self.cancel_pending(now, Some(n as usize), out);
            }
            return match self.reply(now, code, data, tag, out) {
                Ok(()) => Relay::Forwarded,
                Err(_) => Relay::Dropped,
            };
        }
        if let Some(b) = self.branches.get_mut(n as usize) {
            b.final_reply = Some(FinalReply::Received(Box::new(msg)));
        }
        if code >= 600 && self.server.invite {
            self.cancel_pending(now, Some(n as usize), out);
        }
        self.after_branch_final()
    }

    fn after_branch_final(&mut self) -> Relay {
        if self.final_sent() {
            return Relay::Stored;
        }
        if self.branches.iter().all(|b| b.final_reply.is_some()) && !self.failure_reported {
            self.failure_reported = true;
            Relay::AllFailed
        } else {
            Relay::Stored
        }
    }

    /// The best final answer so far (RFC 3261 §16.7 step 6), ranked by [`response_rank`];
    /// the first received wins a tie.
    pub fn best(&self) -> Option<(usize, &FinalReply)> {
        let finals = self
            .branches
            .iter()
            .enumerate()
            .filter_map(|(i, b)| b.final_reply.as_ref().map(|f| (i, f)))
            .filter(|(_, f)| f.code() >= 300);
        let mut best: Option<(usize, &FinalReply)> = None;
        for (i, f) in finals {
            if best.is_none_or(|(_, b)| response_rank(f.code()) < response_rank(b.code())) {
                best = Some((i, f));
            }
        }
        best
    }

    /// Send the best final answer upstream (after all branches failed and the failure
    /// route, if any, added none). A 503 becomes 500 (§16.7 step 6).
    pub fn forward_best(&mut self, now: Instant, out: &mut Vec<Send>) {
        if self.final_sent() {
            return;
        }
        let chosen = self.best().map(|(_, f)| f.clone());
        let _ = match chosen {
            Some(FinalReply::Received(m)) if m.status() == Some(503) => {
                self.reply_local(now, 500, "Server Internal Error", &[], out)
            }
            Some(FinalReply::Received(m)) => {
                let code = m.status().unwrap_or(500);
                let tag = m.to().tag(m.as_bytes()).map(<[u8]>::to_vec);
                let mut data = strip_top_via(&m);
                if code == 401 || code == 407 {
                    self.add_other_challenges(&m, &mut data);
                }
                self.reply(now, code, Bytes::from(data), tag, out)
            }
            Some(FinalReply::Local(503, _)) => {
                self.reply_local(now, 500, "Server Internal Error", &[], out)
            }
            Some(FinalReply::Local(code, reason)) => self.reply_local(now, code, reason, &[], out),
            None => self.reply_local(now, 500, "Server Internal Error", &[], out),
        };
    }

    /// RFC 3261 §16.7 step 7: a 401/407 going upstream carries the WWW-Authenticate and
    /// Proxy-Authenticate values of every other 401/407 of this transaction, so the caller
    /// can answer all the challenges of a forked request at once.
    fn add_other_challenges(&self, chosen: &SipMessage, data: &mut Vec<u8>) {
        let mut lines = Vec::new();
        for b in &self.branches {
            let Some(FinalReply::Received(m)) = &b.final_reply else {
                continue;
            };
            if !matches!(m.status(), Some(401 | 407)) || m.as_bytes() == chosen.as_bytes() {
                continue;
            }
            for name in ["WWW-Authenticate", "Proxy-Authenticate"] {
                for v in m.headers_named(name.as_bytes()) {
                    let already = chosen.headers_named(name.as_bytes()).any(|c| c == v);
                    let line = [name.as_bytes(), b": ", v, b"\r\n"].concat();
                    if !already && !lines.contains(&line) {
                        lines.push(line);
                    }
                }
            }
        }
        if lines.is_empty() {
            return;
        }
        // before the empty line that ends the header section
        let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
            return;
        };
        let at = end + 2;
        let tail = data.split_off(at);
        for l in lines {
            data.extend_from_slice(&l);
        }
        data.extend_from_slice(&tail);
    }

    /// The earliest time [`Self::on_timer`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let s = &self.server;
        let mut d = min_opt(min_opt(s.g_at, s.end_at), s.guard_at);
        for b in &self.branches {
            d = min_opt(d, b.retrans_at);
            d = min_opt(d, b.fr_at);
            d = min_opt(d, b.end_at);
            if let CancelState::Sent {
                retrans_at,
                give_up_at,
                ..
            } = &b.cancel
            {
                d = min_opt(d, *retrans_at);
                d = min_opt(d, Some(*give_up_at));
            }
        }
        d
    }

    /// Run the timers due at `now`. Returns `AllFailed` when a timeout made every branch
    /// fail (run the failure route, then add branches or call [`Self::forward_best`]).
    pub fn on_timer(&mut self, now: Instant, out: &mut Vec<Send>) -> Relay {
        let t = self.timers;
        // server side
        if let Some(at) = self.server.g_at
            && at <= now
        {
            if let Some(last) = &self.server.last {
                out.push(Send {
                    target: self.server.target,
                    data: last.clone(),
                });
            }
            self.server.g_interval = (self.server.g_interval * 2).min(t.t2);
            self.server.g_at = Some(now + self.server.g_interval);
        }
        if let Some(at) = self.server.end_at
            && at <= now
        {
            self.server.state = ServerState::Terminated;
            self.server.g_at = None;
            self.server.end_at = None;
        }
        if let Some(at) = self.server.guard_at
            && at <= now
        {
            // neither a branch nor a reply came in time (a suspended or forgotten
            // transaction): answer it
            self.server.guard_at = None;
            if self.server.state == ServerState::Proceeding {
                let _ = self.reply_local(now, 408, "Request Timeout", &[], out);
            }
        }
        // branches
        let mut newly_failed = false;
        let mut cancel_on_timeout = Vec::new();
        for (i, b) in self.branches.iter_mut().enumerate() {
            if let Some(at) = b.retrans_at
                && at <= now
            {
                out.push(Send {
                    target: b.target,
                    data: b.request.clone(),
                });
                b.interval = if b.invite {
                    b.interval * 2
                } else {
                    (b.interval * 2).min(t.t2)
                };
                b.retrans_at = Some(now + b.interval);
            }
            if let Some(at) = b.fr_at
                && at <= now
            {
                b.fr_at = None;
                b.retrans_at = None;
                if b.final_reply.is_none() {
                    b.final_reply = Some(FinalReply::Local(408, "Request Timeout"));
                    newly_failed = true;
                    if b.invite && b.state == BranchState::Proceeding {
                        cancel_on_timeout.push(i);
                    }
                }
                // linger: a late final still gets its ACK (or, a 2xx, goes upstream)
                b.end_at = Some(now + t.linger());
            }
            if let Some(at) = b.end_at
                && at <= now
            {
                b.end_at = None;
                b.state = BranchState::Terminated;
            }
            if let CancelState::Sent {
                data,
                retrans_at,
                interval,
                give_up_at,
            } = &mut b.cancel
            {
                if *give_up_at <= now {
                    b.cancel = CancelState::Done;
                } else if let Some(at) = *retrans_at
                    && at <= now
                {
                    out.push(Send {
                        target: b.target,
                        data: data.clone(),
                    });
                    *interval = (*interval * 2).min(t.t2);
                    *retrans_at = Some(now + *interval);
                }
            }
        }
        for i in cancel_on_timeout {
            let b = &mut self.branches[i];
            if matches!(b.cancel, CancelState::None) {
                Self::send_cancel(b, now, &t, out);
            }
        }
        if newly_failed {
            return self.after_branch_final();
        }
        Relay::Stored
    }

    /// True when the server transaction and every branch are done: the cell can go.
    pub fn is_terminated(&self) -> bool {
        let server_done = self.server.state == ServerState::Terminated;
        let branches_done = self.branches.iter().all(|b| {
            b.state == BranchState::Terminated && !matches!(b.cancel, CancelState::Sent { .. })
        });
        server_done && branches_done
    }
}

/// Lower is better when choosing among final responses (RFC 3261 §16.7 step 6): 6xx, then
/// 3xx, 4xx, 5xx; within 4xx the ones the caller can act on (401, 407, 415, 420, 484)
/// first; then the lower code. The same order as Kamailio's `t_pick_branch`, so a plugin
/// ported from a Kamailio script sees the same `$T(reply_code)` in its failure route.
fn response_rank(code: u16) -> u32 {
    let xx = u32::from(code % 100);
    match code / 100 {
        6 => 1000 + xx,
        2 => xx,
        3 => 3000 + xx,
        4 if matches!(xx, 1 | 7 | 15 | 20 | 84) => 4000 + xx,
        4 => 4100 + xx,
        5 => 5000 + xx,
        _ => 10_000 + u32::from(code),
    }
}
