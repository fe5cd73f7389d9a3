//! Calls per user, against toll fraud: how many a user has up or ringing, and how many it
//! started in the last minute (what Kamailio operators build from dialog profiles,
//! `get_profile_size` and an htable, in one call: `dialog.limit-calls`).
//!
//! An admitted call is a [`CallTicket`] carried by the INVITE's routing context, and so by
//! its transaction. The transaction layer settles it: a final non-2xx sent upstream, or a
//! request never relayed (the ticket dropped with its event), frees the place at once; a
//! 2xx keeps it until a BYE of the dialog passes `loose_route`, or, for a dialog this
//! router does not record-route, until `CONFIRMED_LIFETIME` runs out. Sans-IO: time in
//! seconds is given by the caller.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Why a call was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallLimit {
    /// The user has this many calls up or ringing: the most allowed.
    #[error("{0} calls up or ringing")]
    Concurrent(u32),
    /// The user started this many calls in the last minute: the most allowed.
    #[error("{0} calls in the last minute")]
    PerMinute(u32),
    /// Only an initial INVITE is a call.
    #[error("not an initial INVITE")]
    NotACall,
}

/// Users remembered at most: past it, new users' calls are not limited (and counted in
/// `untracked`) until idle ones are forgotten.
const MAX_USERS: usize = 100_000;
/// The rate window, seconds.
const MINUTE: u64 = 60;

/// Counters, for `ctl` and metrics.
#[derive(Debug, Default)]
pub struct CallStats {
    /// Calls admitted.
    pub admitted: AtomicU64,
    /// Calls refused: too many up or ringing.
    pub refused_concurrent: AtomicU64,
    /// Calls refused: too many in the last minute.
    pub refused_per_minute: AtomicU64,
    /// Calls not limited because the table of users was full.
    pub untracked: AtomicU64,
}

#[derive(Debug, Default)]
struct UserCalls {
    /// Calls up or ringing.
    active: u32,
    /// When its calls of the last minute started (at most the per-minute limit kept).
    started: VecDeque<u64>,
    /// Refusals since the last log line, and when that was.
    refused: u64,
    logged: Option<u64>,
    last_seen: u64,
}

#[derive(Debug, Default)]
struct State {
    users: HashMap<String, UserCalls>,
    /// Calls answered: Call-ID -> (user, when), until their BYE.
    up: HashMap<Vec<u8>, (String, u64)>,
    last_purge: u64,
}

/// The calls of one tenant's users.
#[derive(Debug, Default)]
pub struct Calls {
    state: Mutex<State>,
    stats: CallStats,
}

const SETUP: u8 = 0;
const UP: u8 = 1;
const OVER: u8 = 2;

/// One admitted call, counted until it is settled: released (a failure, or dropped
/// before any answer) or established (a 2xx: counted until its BYE).
#[derive(Debug)]
pub struct CallTicket {
    calls: Arc<Calls>,
    user: String,
    call_id: Vec<u8>,
    phase: AtomicU8,
}

impl CallTicket {
    /// The user the call is counted for.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// A final non-2xx went upstream: the place is free.
    pub fn release(&self) {
        if self
            .phase
            .compare_exchange(SETUP, OVER, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.calls.end(&self.user);
        }
    }

    /// A 2xx went upstream: counted until the dialog's BYE ([`Calls::hangup`]).
    pub fn establish(&self, now: u64) {
        if self
            .phase
            .compare_exchange(SETUP, UP, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            let mut s = crate::lock(&self.calls.state);
            // a second call with the same Call-ID (a forking loop, a buggy UA) ends the
            // first one's count: one entry per Call-ID
            if let Some((user, _)) = s.up.insert(self.call_id.clone(), (self.user.clone(), now)) {
                end_locked(&mut s, &user);
            }
        }
    }

    /// Settle by the final response `code` sent upstream.
    pub fn settle(&self, code: u16, now: u64) {
        match code {
            200..=299 => self.establish(now),
            300.. => self.release(),
            _ => {}
        }
    }
}

impl Drop for CallTicket {
    fn drop(&mut self) {
        // never answered (no transaction, or it went away): not a call any more
        self.release();
    }
}

fn end_locked(s: &mut State, user: &str) {
    if let Some(u) = s.users.get_mut(user) {
        u.active = u.active.saturating_sub(1);
    }
}

impl Calls {
    /// The counters.
    pub fn stats(&self) -> &CallStats {
        &self.stats
    }

    /// Admit a call of `user` (Call-ID `call_id`) when it has fewer than `concurrent`
    /// calls up or ringing and started fewer than `per_minute` in the last minute (0: no
    /// limit): the ticket that counts it. A refusal is logged once a minute per user at
    /// most, with the count of refusals since.
    pub fn admit(
        self: &Arc<Self>,
        user: &str,
        call_id: &[u8],
        concurrent: u32,
        per_minute: u32,
        now: u64,
    ) -> Result<CallTicket, CallLimit> {
        let mut s = crate::lock(&self.state);
        self.purge_locked(&mut s, now);
        if !s.users.contains_key(user) && s.users.len() >= MAX_USERS {
            s.users
                .retain(|_, u| u.active > 0 || u.last_seen + MINUTE > now);
            if s.users.len() >= MAX_USERS {
                self.stats.untracked.fetch_add(1, Ordering::Relaxed);
                drop(s);
                return Ok(self.ticket(user, call_id, false));
            }
        }
        let u = s.users.entry(user.to_string()).or_default();
        u.last_seen = now;
        while u.started.front().is_some_and(|&t| t + MINUTE <= now) {
            u.started.pop_front();
        }
        let refusal = if concurrent > 0 && u.active >= concurrent {
            self.stats
                .refused_concurrent
                .fetch_add(1, Ordering::Relaxed);
            Some(CallLimit::Concurrent(u.active))
        } else if per_minute > 0 && u.started.len() as u32 >= per_minute {
            self.stats
                .refused_per_minute
                .fetch_add(1, Ordering::Relaxed);
            Some(CallLimit::PerMinute(u.started.len() as u32))
        } else {
            None
        };
        if let Some(limit) = refusal {
            u.refused += 1;
            if u.logged.is_none_or(|t| t + MINUTE <= now) {
                tracing::warn!(
                    user,
                    refused = u.refused,
                    "call limit hit: {limit} (this line once a minute per user at most)"
                );
                u.logged = Some(now);
                u.refused = 0;
            }
            return Err(limit);
        }
        u.active += 1;
        u.started.push_back(now);
        while u.started.len() > per_minute.max(1) as usize {
            u.started.pop_front();
        }
        self.stats.admitted.fetch_add(1, Ordering::Relaxed);
        drop(s);
        Ok(self.ticket(user, call_id, true))
    }

    fn ticket(self: &Arc<Self>, user: &str, call_id: &[u8], counted: bool) -> CallTicket {
        CallTicket {
            calls: self.clone(),
            user: user.to_string(),
            call_id: call_id.to_vec(),
            phase: AtomicU8::new(if counted { SETUP } else { OVER }),
        }
    }

    fn end(&self, user: &str) {
        end_locked(&mut crate::lock(&self.state), user);
    }

    /// The BYE of call `call_id` passed: its place is free.
    pub fn hangup(&self, call_id: &[u8]) {
        let mut s = crate::lock(&self.state);
        if s.up.is_empty() {
            return;
        }
        if let Some((user, _)) = s.up.remove(call_id) {
            end_locked(&mut s, &user);
        }
    }

    /// Calls of `user` up or ringing (Kamailio's `get_profile_size`).
    pub fn active(&self, user: &str) -> u32 {
        crate::lock(&self.state)
            .users
            .get(user)
            .map_or(0, |u| u.active)
    }

    /// Calls up or ringing, all users.
    pub fn total(&self) -> u64 {
        crate::lock(&self.state)
            .users
            .values()
            .map(|u| u64::from(u.active))
            .sum()
    }

    /// Answered calls whose BYE this router never saw (it does not record-route them)
    /// end after `CONFIRMED_LIFETIME`; checked once a minute.
    fn purge_locked(&self, s: &mut State, now: u64) {
        if s.last_purge + MINUTE > now {
            return;
        }
        s.last_purge = now;
        let lifetime = super::table::CONFIRMED_LIFETIME;
        let over: Vec<Vec<u8>> =
            s.up.iter()
                .filter(|(_, (_, since))| since + lifetime <= now)
                .map(|(k, _)| k.clone())
                .collect();
        for k in over {
            if let Some((user, _)) = s.up.remove(&k) {
                end_locked(s, &user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_calls_are_limited_and_freed_by_a_failure_or_a_bye() {
        let calls = Arc::new(Calls::default());
        let a = calls.admit("alice", b"c1", 2, 0, 0).unwrap();
        let b = calls.admit("alice", b"c2", 2, 0, 0).unwrap();
        assert_eq!(
            calls.admit("alice", b"c3", 2, 0, 0).unwrap_err(),
            CallLimit::Concurrent(2)
        );
        // another user is not affected
        let _bob = calls.admit("bob", b"c4", 2, 0, 0).unwrap();
        assert_eq!(calls.active("alice"), 2);
        // a failure frees a place at once, settling twice changes nothing
        a.settle(486, 1);
        a.settle(486, 1);
        drop(a);
        assert_eq!(calls.active("alice"), 1);
        // an answered call holds its place after its transaction is gone, until the BYE
        b.settle(200, 1);
        drop(b);
        assert_eq!(calls.active("alice"), 1);
        let c = calls.admit("alice", b"c5", 2, 0, 2).unwrap();
        assert_eq!(calls.active("alice"), 2);
        calls.hangup(b"c2");
        calls.hangup(b"c2");
        assert_eq!(calls.active("alice"), 1);
        // never answered (the plugin replied itself): dropped with its event, freed
        drop(c);
        assert_eq!(calls.active("alice"), 0);
        assert_eq!(calls.stats().refused_concurrent.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn calls_per_minute_are_limited_in_a_sliding_minute() {
        let calls = Arc::new(Calls::default());
        for t in 0..3 {
            calls
                .admit("alice", format!("c{t}").as_bytes(), 0, 3, t)
                .unwrap()
                .release();
        }
        assert_eq!(
            calls.admit("alice", b"c9", 0, 3, 30).unwrap_err(),
            CallLimit::PerMinute(3)
        );
        // the first started at 0: a place again at 60
        assert!(calls.admit("alice", b"c10", 0, 3, 60).is_ok());
        assert_eq!(
            calls.admit("alice", b"c11", 0, 3, 60).unwrap_err(),
            CallLimit::PerMinute(3)
        );
    }

    #[test]
    fn answered_calls_without_a_bye_end_after_their_lifetime() {
        let calls = Arc::new(Calls::default());
        calls.admit("alice", b"c1", 1, 0, 0).unwrap().settle(200, 0);
        assert!(calls.admit("alice", b"c2", 1, 0, 100).is_err());
        let later = super::super::table::CONFIRMED_LIFETIME + 100;
        assert!(calls.admit("alice", b"c3", 1, 0, later).is_ok());
    }
}
