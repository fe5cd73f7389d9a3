//! The timer thread: transaction deadlines (retransmissions, timeouts) and the periodic
//! housekeeping.

use super::*;

impl Proxy {
    /// Make sure the timer heap holds an entry no later than the cell's next deadline.
    pub(super) fn reschedule(&self, id: CellId, cell: &Cell<Saved>) {
        if let Some(at) = cell.next_deadline() {
            let queued = &cell.user.heap_at;
            if queued.get().is_none_or(|q| at < q) {
                queued.set(Some(at));
                self.table.schedule(id, at);
            }
        }
    }

    /// Run timers until [`Self::stop`]; failure routes after timeouts run on `worker`.
    pub fn timer_loop(&self, mut workers: Workers) {
        let mut last_purge = Instant::now();
        let mut last_ping = Instant::now();
        let mut ping_seq = 0u64;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            let due: Vec<(Instant, CellId)> = {
                let mut timers = self.table.timers.lock().expect("not poisoned");
                let now = Instant::now();
                // wake when the first granule holding a deadline ends, so that the
                // deadlines within one granule run in one batch: at 1000 calls/s there
                // are several thousand a second, each wake-up a context switch
                let wait = match timers.wheel.next_due() {
                    Some(at) if at <= now => Duration::ZERO,
                    Some(at) => (at - now).min(Duration::from_secs(1)),
                    None => Duration::from_secs(1),
                };
                if !wait.is_zero() {
                    timers.sleeping_until = Some(now + wait);
                    timers = self
                        .table
                        .wake
                        .wait_timeout(timers, wait)
                        .expect("not poisoned")
                        .0;
                    timers.sleeping_until = None;
                }
                let mut due = Vec::new();
                timers.wheel.pop_due(Instant::now(), &mut due);
                due
            };
            for (at, id) in due {
                let Some(cell) = self.table.get(id) else {
                    continue;
                };
                let now = Instant::now();
                let mut c = cell.lock().expect("not poisoned");
                // an entry superseded by an earlier one (already handled) only tidies up
                let current = c.user.heap_at.get() == Some(at);
                if current {
                    c.user.heap_at.set(None);
                }
                if !current || c.next_deadline().is_none_or(|d| d > now) {
                    if c.is_terminated() {
                        self.table.remove(id, &c.user.key);
                    } else if current {
                        // the deadline moved later since this entry was queued
                        self.reschedule(id, &c);
                    }
                    continue;
                }
                let mut out = Vec::new();
                let relay = c.on_timer(now, &mut out);
                // a branch that timed out unanswered tries its destination's next address
                let failed_over = !c.user.failover.is_empty()
                    && self.failover_timeouts(id, &mut c, now, &mut out);
                if relay == Relay::AllFailed && !failed_over {
                    self.all_failed(&mut workers, id, &mut c, now, &mut out);
                }
                self.finish(id, &c);
                drop(c);
                self.send_all(out);
            }
            // failure routes run by timeouts may have called t_continue
            self.run_resumes(&mut workers);
            self.table.sweep_graveyards(Instant::now());
            let ping = &self.natping;
            if ping.interval > 0 && last_ping.elapsed() >= Duration::from_secs(ping.interval) {
                last_ping = Instant::now();
                self.send_nat_pings(ping, &mut ping_seq);
            }
            if last_purge.elapsed() > Duration::from_secs(30) {
                last_purge = Instant::now();
                self.purge_expired(now_unix());
            }
        }
    }

    /// Stop the timer loop.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.table.wake.notify_all();
    }
}
