//! The plugins' timers: the configured ones (`[[plugin.rtimer]]`), the one-shots plugins
//! ask for (`rtimer.once`), and the sweep of htables with `expired_event`. One thread runs
//! them all, as Kamailio's rtimer runs its timers in a process of their own; each event
//! goes through its tenant's share like a message does (CPU deadline, budget, quarantine),
//! so a tenant's slow timer costs the others at most its deadline.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use sipwasm_routing::rtimer::MAX_PENDING;
use sipwasm_routing::{OneShot, RtimerError, TimerSpec};

/// How often htables with `expired_event` are swept.
const SWEEP: Duration = Duration::from_secs(1);
/// Most expiry events one sweep runs (the rest wait for the next).
pub(crate) const SWEEP_LIMIT: usize = 10_000;

/// What is due.
#[derive(Debug)]
pub(crate) enum Due {
    /// A configured timer of a tenant.
    Tick {
        /// The tenant's index.
        tenant: usize,
        /// The timer.
        timer: TimerSpec,
    },
    /// A one-shot timer of a tenant.
    Once {
        /// The tenant's index.
        tenant: usize,
        /// The timer.
        shot: OneShot,
    },
    /// The expiry sweep.
    Sweep,
}

struct Entry {
    at: Instant,
    seq: u64,
    due: Due,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

struct Schedule {
    heap: BinaryHeap<Reverse<Entry>>,
    /// One-shots waiting, per tenant.
    pending: Vec<u32>,
    seq: u64,
}

impl Schedule {
    fn push(&mut self, at: Instant, due: Due) {
        self.seq += 1;
        self.heap.push(Reverse(Entry {
            at,
            seq: self.seq,
            due,
        }));
    }
}

/// The timers of every tenant, and the thread's wake-up.
pub struct Rtimers {
    schedule: Mutex<Schedule>,
    wake: Condvar,
    stop: AtomicBool,
}

impl Rtimers {
    /// The schedule for `tenants` (each its configured timers, first ticks one interval
    /// from now), with the expiry sweep when `sweep` is set.
    pub(crate) fn new<'a>(
        tenants: impl IntoIterator<Item = &'a [TimerSpec]>,
        sweep: bool,
    ) -> Rtimers {
        let now = Instant::now();
        let mut schedule = Schedule {
            heap: BinaryHeap::new(),
            pending: Vec::new(),
            seq: 0,
        };
        for (tenant, timers) in tenants.into_iter().enumerate() {
            schedule.pending.push(0);
            for timer in timers {
                let at = now + timer.interval;
                let timer = timer.clone();
                schedule.push(at, Due::Tick { tenant, timer });
            }
        }
        if sweep {
            schedule.push(now + SWEEP, Due::Sweep);
        }
        Rtimers {
            schedule: Mutex::new(schedule),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Schedule> {
        self.schedule.lock().expect("not poisoned")
    }

    /// `rtimer.once` for the tenant at `tenant`: refused past [`MAX_PENDING`] waiting.
    pub(crate) fn once(&self, tenant: usize, shot: OneShot) -> Result<(), RtimerError> {
        let at = Instant::now() + shot.delay;
        let mut s = self.lock();
        let pending = s.pending.get_mut(tenant).ok_or(RtimerError::Unavailable)?;
        if *pending >= MAX_PENDING {
            return Err(RtimerError::TooMany(*pending));
        }
        *pending += 1;
        let earliest = s.heap.peek().is_none_or(|Reverse(e)| at < e.at);
        s.push(at, Due::Once { tenant, shot });
        drop(s);
        if earliest {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// One-shots waiting for the tenant at `tenant`.
    pub fn pending(&self, tenant: usize) -> u32 {
        self.lock().pending.get(tenant).copied().unwrap_or(0)
    }

    /// Wait for what is due next and take it, with when it was due; `None` once stopped.
    /// A configured timer is put back one interval on (a tick missed while the thread was
    /// busy is skipped, not run late in a burst); the sweep a second on.
    pub(crate) fn next_due(&self) -> Option<(Instant, Due)> {
        let mut s = self.lock();
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return None;
            }
            let now = Instant::now();
            let wait = match s.heap.peek() {
                Some(Reverse(e)) if e.at <= now => Duration::ZERO,
                Some(Reverse(e)) => e.at - now,
                None => Duration::from_secs(1),
            };
            if !wait.is_zero() {
                s = self.wake.wait_timeout(s, wait).expect("not poisoned").0;
                continue;
            }
            let Reverse(entry) = s.heap.pop().expect("peeked");
            match &entry.due {
                Due::Tick { tenant, timer } => {
                    let mut next = entry.at + timer.interval;
                    if next <= now {
                        next = now + timer.interval;
                    }
                    let due = Due::Tick {
                        tenant: *tenant,
                        timer: timer.clone(),
                    };
                    s.push(next, due);
                }
                Due::Once { tenant, .. } => {
                    if let Some(p) = s.pending.get_mut(*tenant) {
                        *p = p.saturating_sub(1);
                    }
                }
                Due::Sweep => s.push(now + SWEEP, Due::Sweep),
            }
            return Some((entry.at, entry.due));
        }
    }

    /// Stop [`Self::next_due`] (one-shots still waiting are not run).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let _s = self.lock();
        self.wake.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, ms: u64) -> TimerSpec {
        TimerSpec {
            name: name.into(),
            interval: Duration::from_millis(ms),
        }
    }

    #[test]
    fn ticks_come_in_order_and_come_back() {
        let t0: &[TimerSpec] = &[spec("fast", 200), spec("slow", 500)];
        let t1: &[TimerSpec] = &[];
        let timers = Rtimers::new([t0, t1], false);
        let start = Instant::now();
        let mut seen = Vec::new();
        for _ in 0..3 {
            let (at, due) = timers.next_due().unwrap();
            let Due::Tick { tenant, timer } = due else {
                panic!("{due:?}")
            };
            assert_eq!(tenant, 0);
            assert!(Instant::now() >= at);
            seen.push((at, timer.name));
        }
        let names: Vec<&str> = seen.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names, ["fast", "fast", "slow"]);
        // each tick one interval after the one before, not after the thread got to it
        assert_eq!(seen[1].0 - seen[0].0, Duration::from_millis(200));
        assert!(start.elapsed() >= Duration::from_millis(500));
    }

    #[test]
    fn one_shots_run_once_and_are_bounded_per_tenant() {
        let none: &[TimerSpec] = &[];
        let timers = Rtimers::new([none, none], false);
        let shot = |ms| OneShot::new("later", ms, "d").unwrap();
        timers.once(1, shot(30)).unwrap();
        timers.once(1, shot(10)).unwrap();
        assert_eq!(timers.pending(1), 2);
        let (_, first) = timers.next_due().unwrap();
        assert!(
            matches!(first, Due::Once { tenant: 1, ref shot } if shot.delay == Duration::from_millis(10))
        );
        let (_, second) = timers.next_due().unwrap();
        assert!(matches!(second, Due::Once { tenant: 1, .. }));
        assert_eq!(timers.pending(1), 0);
        for _ in 0..MAX_PENDING {
            timers.once(0, shot(60_000)).unwrap();
        }
        assert_eq!(
            timers.once(0, shot(1)),
            Err(RtimerError::TooMany(MAX_PENDING))
        );
        // another tenant's room is its own
        timers.once(1, shot(60_000)).unwrap();
        assert_eq!(timers.once(7, shot(1)), Err(RtimerError::Unavailable));
        timers.stop();
        assert!(timers.next_due().is_none());
    }

    #[test]
    fn an_earlier_one_shot_wakes_the_waiting_thread() {
        let none: &[TimerSpec] = &[];
        let timers = std::sync::Arc::new(Rtimers::new([none], false));
        timers
            .once(0, OneShot::new("late", 60_000, "").unwrap())
            .unwrap();
        let t = timers.clone();
        let waiter = std::thread::spawn(move || {
            let start = Instant::now();
            let (_, due) = t.next_due().unwrap();
            (start.elapsed(), due)
        });
        std::thread::sleep(Duration::from_millis(20));
        timers
            .once(0, OneShot::new("soon", 10, "").unwrap())
            .unwrap();
        let (took, due) = waiter.join().unwrap();
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert!(matches!(due, Due::Once { ref shot, .. } if shot.name == "soon"));
    }
}
