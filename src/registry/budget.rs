//! The request budget of each registry host, one per process: every run,
//! every env repository and `check` draw on the same [`Hosts`]
//! (docs/ARCHITECTURE.md, "Registries").
//!
//! A request to a host waits for three things, in this order:
//! - **First contact.** Until the host has answered once, its requests go
//!   one at a time: the first answer says whether the host counts a budget.
//! - **The budget the registry reports** (`ratelimit-*` headers, see
//!   [`parse_report`]). Requests sent since an answer count against what it
//!   said was left. While more than [`RESERVE_PERCENT`] of the limit is
//!   left, nothing changes; below that, the requests left are spread evenly
//!   until the window resets; with none left, the next request waits for
//!   the reset. A request that would wait longer than [`MAX_BUDGET_WAIT`]
//!   is not sent at all: it fails at once (the registry's budget is spared
//!   instead of spent on 429s).
//! - **The configured cap**: a token bucket (`governor`'s GCRA) of
//!   `max_rps_per_host` requests per second with bursts of
//!   `burst_per_host`.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota};
use reqwest::header::HeaderMap;

/// Below this share of its limit, a host's budget is spread until the
/// window resets (at least one request is always kept in reserve).
pub const RESERVE_PERCENT: u64 = 10;
/// The longest a request waits for a host's budget; past that it fails
/// without being sent. Equal to the longest `Retry-After` honoured.
pub const MAX_BUDGET_WAIT: Duration = super::MAX_RETRY_WAIT;
/// How long a reported budget lasts when the registry names no window
/// and no reset.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);
/// Answers whose windows end within this of each other (`ratelimit-reset`
/// counts whole seconds; at most half the window) report on the same
/// window.
const SAME_WINDOW: Duration = Duration::from_secs(1);

/// What one answer said of the host's budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    /// `ratelimit-remaining`.
    pub remaining: u64,
    /// `ratelimit-limit`.
    pub limit: Option<u64>,
    /// The `w=` parameter of either header: the window's length.
    pub window: Option<Duration>,
    /// `ratelimit-reset`: how long until the window resets.
    pub reset: Option<Duration>,
}

// Modelled on Docker Hub's headers (https://docs.docker.com/docker-hub/usage/pulls/: `ratelimit-limit: 100;w=21600`, `ratelimit-remaining: 76;w=21600`) and on RateLimit-Reset (delta seconds) of https://datatracker.ietf.org/doc/html/draft-ietf-httpapi-ratelimit-headers-07.
/// The budget an answer reports, if it has `ratelimit-remaining`.
pub fn parse_report(headers: &HeaderMap) -> Option<Report> {
    let field = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (remaining, w1) = parse_quota(field("ratelimit-remaining")?)?;
    let (limit, w2) = match field("ratelimit-limit").and_then(parse_quota) {
        Some((limit, w)) => (Some(limit), w),
        None => (None, None),
    };
    let reset = field("ratelimit-reset")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    Some(Report {
        remaining,
        limit,
        window: w1.or(w2).map(Duration::from_secs),
        reset,
    })
}

/// `76;w=21600` (or `76 ;w=21600`, or `76`): the number, and `w` if given.
fn parse_quota(value: &str) -> Option<(u64, Option<u64>)> {
    let mut parts = value.split(';');
    let number = parts.next()?.trim().parse().ok()?;
    let window = parts.find_map(|p| {
        let (key, value) = p.split_once('=')?;
        let seconds: u64 = key.trim().eq("w").then(|| value.trim().parse().ok())??;
        (seconds > 0).then_some(seconds)
    });
    Some((number, window))
}

/// The current window of a host's reported budget.
#[derive(Clone, Copy, Debug)]
struct Window {
    /// Requests left: the last answer's count, less what was sent since.
    remaining: u64,
    limit: Option<u64>,
    length: Option<Duration>,
    ends: Instant,
}

impl Window {
    /// The window `at` falls in: this one, the one after it when the limit
    /// and the length are known (a fresh budget), else `None` (unknown).
    fn at(self, at: Instant) -> Option<Window> {
        if at < self.ends {
            return Some(self);
        }
        let (limit, length) = (self.limit?, self.length?);
        let past = at.duration_since(self.ends).as_nanos();
        let windows = u32::try_from(past / length.as_nanos() + 1).ok()?;
        Some(Window {
            remaining: limit,
            ends: self.ends + length.checked_mul(windows)?,
            ..self
        })
    }

    /// At or below this many requests left, they are spread out.
    fn reserve(&self) -> u64 {
        self.limit
            .map_or(1, |l| (l * RESERVE_PERCENT).div_ceil(100))
            .max(1)
    }
}

/// What a host's answers said of its budget, and when the next request
/// may go.
#[derive(Clone, Copy, Debug, Default)]
pub struct Budget {
    window: Option<Window>,
    next: Option<Instant>,
}

impl Budget {
    /// Learns from an answer received at `now`. An answer about a window
    /// that requests have already moved past is ignored.
    pub fn observe(&mut self, report: Report, now: Instant) {
        let ends = now + report.reset.or(report.window).unwrap_or(DEFAULT_WINDOW);
        let slack = report
            .window
            .map_or(SAME_WINDOW, |w| (w / 2).min(SAME_WINDOW));
        let remaining = match self.window {
            Some(w) if ends + slack < w.ends => return,
            // Answers to requests sent together arrive in any order, and
            // requests sent since are not counted in them yet: the lower
            // count is the truer one.
            Some(w) if w.ends <= ends + slack && ends <= w.ends + slack => {
                w.remaining.min(report.remaining)
            }
            _ => report.remaining,
        };
        self.window = Some(Window {
            remaining,
            limit: report.limit,
            length: report.window,
            ends,
        });
    }

    /// How long a request made at `now` waits for the budget: `Ok` counts
    /// it against the budget, `Err` (a wait past [`MAX_BUDGET_WAIT`])
    /// leaves everything as it was.
    pub fn reserve(&mut self, now: Instant) -> Result<Duration, Duration> {
        let mut at = self.next.map_or(now, |n| n.max(now));
        let mut window = self.window.and_then(|w| w.at(at));
        let mut next = self.next;
        if let Some(w) = window.filter(|w| w.remaining == 0) {
            // Nothing left: the request goes when the window resets.
            at = w.ends;
            window = w.at(at);
        }
        if let Some(w) = window.as_mut() {
            if w.remaining == 0 {
                // A limit of 0: nothing is ever allowed.
                return Err(w.ends.saturating_duration_since(now));
            }
            next = Some(if w.remaining <= w.reserve() {
                let share = u32::try_from(w.remaining).unwrap_or(u32::MAX);
                at + (w.ends.saturating_duration_since(at) / share)
            } else {
                at
            });
            w.remaining -= 1;
        }
        let wait = at.saturating_duration_since(now);
        if wait > MAX_BUDGET_WAIT {
            return Err(wait);
        }
        *self = Budget { window, next };
        Ok(wait)
    }
}

/// Every registry host's budget (keyed by `host[:port]` of the URL asked).
pub struct Hosts {
    /// `None`: no configured cap.
    quota: Option<Quota>,
    hosts: Mutex<HashMap<String, Arc<Host>>>,
}

struct Host {
    name: String,
    limiter: Option<DefaultDirectRateLimiter>,
    budget: Mutex<Budget>,
    /// The host has answered once.
    answered: AtomicBool,
    /// Held by the one request in flight before the first answer.
    first: Arc<tokio::sync::Mutex<()>>,
}

/// Leave to send one request; give the answer's headers back with
/// [`Permit::answered`].
pub struct Permit {
    host: Arc<Host>,
    _first_contact: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Permit {
    /// The host answered: learns its budget from `headers` (and lets the
    /// requests waiting for a first answer go).
    pub fn answered(self, headers: &HeaderMap) {
        if let Some(report) = parse_report(headers) {
            crate::metrics::registry_budget(&self.host.name, report.remaining);
            let mut budget = self.host.budget.lock().unwrap_or_else(|p| p.into_inner());
            budget.observe(report, Instant::now());
        }
        self.host.answered.store(true, Ordering::Release);
    }
}

impl Hosts {
    /// `max_rps` requests per second per host with bursts of `burst`
    /// (`max_rps <= 0` or not finite: no cap; `burst` 0 counts as 1).
    pub fn new(max_rps: f64, burst: u32) -> Hosts {
        let quota = (max_rps.is_finite() && max_rps > 0.0)
            .then(|| Quota::with_period(Duration::from_secs_f64(1.0 / max_rps)))
            .flatten()
            .map(|q| q.allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN)));
        Hosts {
            quota,
            hosts: Mutex::default(),
        }
    }

    fn host(&self, name: &str) -> Arc<Host> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        let host = hosts.entry(name.to_string()).or_insert_with(|| {
            Arc::new(Host {
                name: name.to_string(),
                limiter: self.quota.map(DefaultDirectRateLimiter::direct),
                budget: Mutex::default(),
                answered: AtomicBool::new(false),
                first: Arc::default(),
            })
        });
        Arc::clone(host)
    }

    /// Waits until a request to `host` may go. `Err(wait)`: the host's
    /// reported budget allows none for longer than [`MAX_BUDGET_WAIT`].
    pub async fn acquire(&self, host: &str) -> Result<Permit, Duration> {
        let host = self.host(host);
        let first_contact = if host.answered.load(Ordering::Acquire) {
            None
        } else {
            let guard = Arc::clone(&host.first).lock_owned().await;
            (!host.answered.load(Ordering::Acquire)).then_some(guard)
        };
        let wait = {
            let mut budget = host.budget.lock().unwrap_or_else(|p| p.into_inner());
            budget.reserve(Instant::now())?
        };
        if !wait.is_zero() {
            tracing::debug!(
                host = host.name,
                wait_ms = wait.as_millis() as u64,
                "sparing the registry's budget"
            );
            tokio::time::sleep(wait).await;
        }
        if let Some(limiter) = &host.limiter {
            limiter.until_ready().await;
        }
        Ok(Permit {
            host,
            _first_contact: first_contact,
        })
    }
}

#[cfg(test)]
mod tests;
