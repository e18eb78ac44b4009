//! The detect → MR clock (`imagebump_detect_to_mr_seconds`): when news of
//! a new image was first stored for a repository, until a run of that
//! repository delivers a change. The inbox starts it when it stores an
//! image push routed to the repository; the workers take it when a run
//! starts, and give it back when the run fails.

use std::collections::HashMap;
use std::sync::Mutex;

/// Per repository, the time of the first stored image push not yet
/// delivered. Shared by the inbox and the workers.
#[derive(Debug, Default)]
pub struct DetectClock {
    started: Mutex<HashMap<String, i64>>,
}

impl DetectClock {
    fn started(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.started.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the clock of `repos` at `at_ms` (a stored report of an image
    /// push; a replay is not news), unless already running.
    pub fn detected(&self, repos: &[String], at_ms: i64) {
        let mut started = self.started();
        for repo in repos {
            started.entry(repo.clone()).or_insert(at_ms);
        }
    }

    /// When a new image was first reported for `repo` since its last
    /// delivered change; forgets it.
    pub fn take(&self, repo: &str) -> Option<i64> {
        self.started().remove(repo)
    }

    /// Gives back a time [`take`](Self::take) returned (the run failed):
    /// the earlier of it and any newer report stays.
    pub fn restore(&self, repo: &str, at_ms: i64) {
        let mut started = self.started();
        let entry = started.entry(repo.to_string()).or_insert(at_ms);
        *entry = (*entry).min(at_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_the_first_push_and_is_taken_once() {
        let c = DetectClock::default();
        let both = ["prod".to_string(), "staging".to_string()];
        assert!(c.take("prod").is_none(), "nothing stored, no clock");
        c.detected(&both, 10);
        c.detected(&both[..1], 20);
        assert_eq!(c.take("prod"), Some(10));
        assert_eq!(c.take("prod"), None);
        assert_eq!(c.take("staging"), Some(10));

        // A failed run gives its time back; the earliest report stays.
        c.detected(&both[..1], 30);
        c.restore("prod", 20);
        assert_eq!(c.take("prod"), Some(20));
        c.restore("prod", 40);
        assert_eq!(c.take("prod"), Some(40));
    }
}
