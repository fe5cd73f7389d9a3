//! The epoch ticker: advances the engine's epoch so CPU deadlines fire, and sleeps when no
//! plugin code has run for a while.
//!
//! Measured on this machine, each timer wake-up of a thread costs ~25 µs of CPU: a 1 ms tick
//! that never stops burns ~2.7% of a core on an idle router and adds several µs to every
//! message at moderate rates. So the ticker parks itself after a second without guest calls,
//! and a worker entering a call wakes it (one atomic load per call while it runs).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{JoinHandle, Thread};
use std::time::Duration;
use wasmtime::Engine;

/// Park after this long without a call.
const IDLE_BEFORE_PARKING: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Shared {
    /// Calls entered since start; the ticker compares snapshots to see activity.
    calls: AtomicU64,
    /// Calls running now: the ticker never parks under a running call.
    in_flight: AtomicU64,
    parked: AtomicBool,
    stop: AtomicBool,
}

/// Handle workers use to tell the ticker a guest call is starting.
#[derive(Clone, Debug)]
pub(crate) struct TickerHandle {
    shared: Arc<Shared>,
    thread: Thread,
}

impl TickerHandle {
    /// Call before entering guest code (the deadline only fires if the epoch moves); the
    /// guard marks the end of the call when dropped.
    #[inline]
    pub(crate) fn enter(&self) -> CallGuard<'_> {
        self.shared.in_flight.fetch_add(1, Ordering::SeqCst);
        self.shared.calls.fetch_add(1, Ordering::SeqCst);
        if self.shared.parked.load(Ordering::SeqCst) {
            self.thread.unpark();
        }
        CallGuard {
            shared: &self.shared,
        }
    }
}

/// A guest call in progress.
pub(crate) struct CallGuard<'a> {
    shared: &'a Shared,
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Owns the ticker thread; stops it when dropped.
pub(crate) struct EpochTicker {
    handle: TickerHandle,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub(crate) fn start(engine: Engine, tick: Duration) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            calls: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            parked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        let idle_ticks_limit = (IDLE_BEFORE_PARKING.as_nanos() / tick.as_nanos().max(1)) as u64;
        let thread = std::thread::Builder::new()
            .name("sipwasm-epoch".into())
            .spawn(move || {
                let mut seen = s.calls.load(Ordering::SeqCst);
                let mut idle = 0u64;
                while !s.stop.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                    let now = s.calls.load(Ordering::SeqCst);
                    if now != seen || s.in_flight.load(Ordering::SeqCst) > 0 {
                        seen = now;
                        idle = 0;
                        continue;
                    }
                    idle += 1;
                    if idle < idle_ticks_limit {
                        continue;
                    }
                    // Park, unless a call slipped in between the check and the flag: a
                    // worker increments `calls` before it reads `parked`.
                    s.parked.store(true, Ordering::SeqCst);
                    if s.calls.load(Ordering::SeqCst) == seen
                        && s.in_flight.load(Ordering::SeqCst) == 0
                        && !s.stop.load(Ordering::Relaxed)
                    {
                        std::thread::park();
                    }
                    s.parked.store(false, Ordering::SeqCst);
                    idle = 0;
                }
            })?;
        Ok(EpochTicker {
            handle: TickerHandle {
                shared,
                thread: thread.thread().clone(),
            },
            thread: Some(thread),
        })
    }

    pub(crate) fn handle(&self) -> TickerHandle {
        self.handle.clone()
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.handle.shared.stop.store(true, Ordering::Relaxed);
        self.handle.thread.unpark();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
