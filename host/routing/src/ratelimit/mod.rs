//! Kamailio's `ratelimit`: pipes that let through a number of requests a second, counted
//! over `timer_interval` (10 s), and queues that send a method's requests to a pipe.
//! Algorithms as Kamailio's: TAILDROP accepts while the interval's count stays within
//! `limit × interval`; RED lets one request in `load` through, `load` being how many
//! times the last interval went over (every request while it did not).

use sipwasm_proto::Method;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How a pipe drops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// Everything over the limit is dropped.
    TailDrop,
    /// Random early detection, Kamailio's way: one in `load` accepted.
    Red,
}

/// One pipe of `[[ratelimit.pipe]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipeSpec {
    /// Its id.
    pub id: u32,
    /// How it drops.
    pub algorithm: Algorithm,
    /// Requests a second.
    pub limit: u32,
}

/// One queue of `[[ratelimit.queue]]`: a method's requests go to a pipe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSpec {
    /// The pipe.
    pub pipe: u32,
    /// The method (upper case); `*` for every method no other queue names.
    pub method: String,
}

/// `[ratelimit]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Kamailio's `timer_interval`.
    pub interval: Duration,
    /// The pipes.
    pub pipes: Vec<PipeSpec>,
    /// The queues.
    pub queues: Vec<QueueSpec>,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            interval: Duration::from_secs(10),
            pipes: Vec::new(),
            queues: Vec::new(),
        }
    }
}

/// Why `rl_check` could not decide.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RlError {
    /// No pipe of that id.
    #[error("no ratelimit pipe {0}")]
    UnknownPipe(u32),
    /// No queue names the request's method (and none is `*`).
    #[error("no ratelimit queue for {0}")]
    NoQueue(String),
}

#[derive(Debug)]
struct Pipe {
    spec: PipeSpec,
    /// Requests in the current interval.
    counter: u64,
    /// RED: how many times the last interval went over its allowance (0: it did not).
    load: u64,
}

#[derive(Debug)]
struct Window {
    pipes: Vec<Pipe>,
    /// The interval `counter` counts, from the epoch.
    interval: u64,
}

/// One view's pipes and their counters.
#[derive(Debug)]
pub struct RateLimits {
    settings: RateLimitSettings,
    window: Mutex<Window>,
    epoch: Instant,
    /// Requests refused so far (`ctl stats`, `/metrics`).
    pub dropped: std::sync::atomic::AtomicU64,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits::new(RateLimitSettings::default())
    }
}

impl RateLimits {
    /// Pipes as `settings` says, counting from now.
    pub fn new(settings: RateLimitSettings) -> RateLimits {
        let pipes = settings
            .pipes
            .iter()
            .map(|spec| Pipe {
                spec: spec.clone(),
                counter: 0,
                load: 0,
            })
            .collect();
        RateLimits {
            settings,
            window: Mutex::new(Window { pipes, interval: 0 }),
            epoch: Instant::now(),
            dropped: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The same pipes, counts of its own.
    pub fn fresh(&self) -> RateLimits {
        RateLimits::new(self.settings.clone())
    }

    /// The pipe a request of `method` goes to (`method_text` for methods without a
    /// [`Method`] of their own).
    pub fn pipe_of(&self, method: Method, method_text: &str) -> Result<u32, RlError> {
        let name = match method {
            Method::Other => method_text.to_ascii_uppercase(),
            m => m.to_string(),
        };
        let exact = self
            .settings
            .queues
            .iter()
            .find(|q| q.method.eq_ignore_ascii_case(&name));
        // Kamailio takes the last `*` queue
        let any = self.settings.queues.iter().rev().find(|q| q.method == "*");
        exact.or(any).map(|q| q.pipe).ok_or(RlError::NoQueue(name))
    }

    /// `rl_check_pipe(pipe)` at `now`: count one request; true when it may pass.
    pub fn check(&self, pipe: u32, now: Instant) -> Result<bool, RlError> {
        let ms = self.settings.interval.as_millis().max(1) as u64;
        let interval = now.saturating_duration_since(self.epoch).as_millis() as u64 / ms;
        let secs = self.settings.interval.as_secs().max(1);
        let mut w = crate::lock(&self.window);
        if w.interval != interval {
            // the timer's tick: RED's load from the interval that ended, counters reset
            let ended_last = w.interval + 1 == interval;
            for p in &mut w.pipes {
                let allowance = u64::from(p.spec.limit) * secs;
                p.load = if ended_last && allowance > 0 {
                    p.counter / allowance
                } else {
                    0
                };
                p.counter = 0;
            }
            w.interval = interval;
        }
        let p = w
            .pipes
            .iter_mut()
            .find(|p| p.spec.id == pipe)
            .ok_or(RlError::UnknownPipe(pipe))?;
        p.counter += 1;
        let pass = match p.spec.algorithm {
            Algorithm::TailDrop => p.counter <= u64::from(p.spec.limit) * secs,
            Algorithm::Red => p.load == 0 || p.counter % p.load == 0,
        };
        if !pass {
            self.dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(pass)
    }
}

mod route;

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(algorithm: Algorithm) -> RateLimits {
        RateLimits::new(RateLimitSettings {
            interval: Duration::from_secs(1),
            pipes: vec![PipeSpec {
                id: 1,
                algorithm,
                limit: 10,
            }],
            queues: vec![
                QueueSpec {
                    pipe: 1,
                    method: "INVITE".into(),
                },
                QueueSpec {
                    pipe: 2,
                    method: "*".into(),
                },
            ],
        })
    }

    #[test]
    fn taildrop_lets_the_limit_through_each_interval() {
        let rl = limits(Algorithm::TailDrop);
        let t0 = rl.epoch;
        let passed = (0..25)
            .filter(|i| rl.check(1, t0 + Duration::from_millis(*i)).unwrap())
            .count();
        assert_eq!(passed, 10);
        assert!(
            rl.check(1, t0 + Duration::from_millis(1000)).unwrap(),
            "a new interval"
        );
        assert_eq!(rl.check(3, t0), Err(RlError::UnknownPipe(3)));
        assert_eq!(rl.pipe_of(Method::Invite, "INVITE"), Ok(1));
        assert_eq!(rl.pipe_of(Method::Other, "foo"), Ok(2));
    }

    #[test]
    fn red_lets_one_in_load_through_after_an_overloaded_interval() {
        let rl = limits(Algorithm::Red);
        let t0 = rl.epoch;
        // 30 in the first second: all pass (no load known yet), load 3 next
        for i in 0..30 {
            assert!(rl.check(1, t0 + Duration::from_millis(i)).unwrap());
        }
        let passed = (0..30)
            .filter(|i| rl.check(1, t0 + Duration::from_millis(1000 + i)).unwrap())
            .count();
        assert_eq!(passed, 10);
    }
}
