//! The Applications the ApplicationSet controller is writing, until the watch shows each
//! write back: that event is its own echo, no reason to reconcile the set again (without
//! this, generating a thousand Applications would reconcile the set as often), and while
//! any is unseen the watch's store is behind the controller's own writes.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long an echo is waited for. A write whose event never comes (an update the API
/// treats as a no-op) must not, for longer than this, swallow the next real change of
/// that Application nor keep the controller listing instead of reading the watch's store.
pub const ECHO_WAIT: Duration = Duration::from_secs(30);

/// Writes awaiting their echo, by `namespace/name`.
#[derive(Debug, Default)]
pub struct Echoes(Mutex<HashMap<String, Pending>>);

#[derive(Debug)]
struct Pending {
    writes: usize,
    /// When the latest of them was sent.
    since: Instant,
}

impl Pending {
    fn lapsed(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.since) >= ECHO_WAIT
    }
}

impl Echoes {
    fn map(&self) -> MutexGuard<'_, HashMap<String, Pending>> {
        crate::lock(&self.0)
    }

    /// A write of `key` is about to be sent.
    pub fn expect(&self, key: &str) {
        self.expect_at(key, Instant::now());
    }

    fn expect_at(&self, key: &str, now: Instant) {
        let mut map = self.map();
        let pending = map.entry(key.to_string()).or_insert(Pending {
            writes: 0,
            since: now,
        });
        pending.writes += 1;
        pending.since = now;
    }

    /// The write of `key` failed: no echo will come.
    pub fn cancel(&self, key: &str) {
        let mut map = self.map();
        if let Some(pending) = map.get_mut(key) {
            pending.writes -= 1;
            if pending.writes == 0 {
                map.remove(key);
            }
        }
    }

    /// Whether every write of ours has been seen by the watch (or waited for long enough).
    pub fn is_empty(&self) -> bool {
        self.is_empty_at(Instant::now())
    }

    fn is_empty_at(&self, now: Instant) -> bool {
        let mut map = self.map();
        map.retain(|_, pending| !pending.lapsed(now));
        map.is_empty()
    }

    /// Whether an event for `key` is the echo of our own write (consumes it).
    pub fn take(&self, key: &str) -> bool {
        self.take_at(key, Instant::now())
    }

    fn take_at(&self, key: &str, now: Instant) -> bool {
        let mut map = self.map();
        let Some(pending) = map.get_mut(key) else {
            return false;
        };
        if pending.lapsed(now) {
            map.remove(key);
            return false;
        }
        pending.writes -= 1;
        if pending.writes == 0 {
            map.remove(key);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_write_is_echoed_once_and_a_failed_one_not_at_all() {
        let echoes = Echoes::default();
        let t0 = Instant::now();
        echoes.expect_at("argocd/a", t0);
        echoes.expect_at("argocd/a", t0);
        echoes.expect_at("argocd/b", t0);
        echoes.cancel("argocd/b");
        assert!(
            !echoes.take_at("argocd/b", t0),
            "a failed write has no echo"
        );
        assert!(!echoes.is_empty_at(t0));
        assert!(echoes.take_at("argocd/a", t0 + Duration::from_secs(1)));
        assert!(echoes.take_at("argocd/a", t0 + Duration::from_secs(1)));
        assert!(
            !echoes.take_at("argocd/a", t0 + Duration::from_secs(1)),
            "a third event is someone else's change"
        );
        assert!(echoes.is_empty_at(t0 + Duration::from_secs(1)));
    }

    #[test]
    fn an_echo_that_never_comes_stops_being_waited_for() {
        let echoes = Echoes::default();
        let t0 = Instant::now();
        echoes.expect_at("argocd/a", t0);
        echoes.expect_at("argocd/b", t0);
        let later = t0 + ECHO_WAIT;
        // The store is no longer held for it…
        assert!(echoes.is_empty_at(later));
        // …and a late event counts as a change, not as the echo.
        echoes.expect_at("argocd/c", t0);
        assert!(!echoes.take_at("argocd/c", later));
        // A newer write of the same key waits afresh.
        echoes.expect_at("argocd/d", t0);
        echoes.expect_at("argocd/d", later);
        assert!(echoes.take_at("argocd/d", later + Duration::from_secs(1)));
    }
}
