//! Time, as the service reads it: one [`Clock`], made by `serve`
//! (`cli/serve.rs`) and handed to the inbox, the workers, the poller, the
//! duties, the server and the tag cache, so that no part of the flow reads
//! the system clock by itself, and a caller can give them another.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

/// Milliseconds since the Unix epoch, from a source chosen once.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    /// The system's wall clock ([`now_ms`]).
    pub fn system() -> Clock {
        Clock(Arc::new(now_ms))
    }

    /// A clock that reads `now` (milliseconds since the Unix epoch).
    pub fn new(now: impl Fn() -> i64 + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now))
    }

    /// The time now, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Clock").field(&self.now_ms()).finish()
    }
}

/// The system's wall clock in milliseconds since the Unix epoch (0 before
/// it, saturating far after it).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
