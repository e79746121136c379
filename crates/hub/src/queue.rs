//! A work queue of object keys: each key is queued at most once, handled by at most one
//! worker at a time, and handled again afterwards if it was triggered while in flight —
//! the guarantees a reconciler needs so that bursts of events (a commit touching a
//! thousand apps, a status write echoing back) cost one reconcile per key, not one per
//! event.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

/// The queue. Cheap to clone; clones share it.
#[derive(Clone, Default)]
pub struct WorkQueue {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    ready: Notify,
}

#[derive(Default)]
struct State {
    queue: VecDeque<String>,
    queued: HashSet<String>,
    in_flight: HashSet<String>,
    /// Triggered while in flight: queued again when the worker is done.
    dirty: HashSet<String>,
    /// How many times each key was handed out (see [`WorkQueue::follow_up`]).
    leases: HashMap<String, u64>,
    closed: bool,
}

/// A key taken from the queue; dropping it marks the key done.
pub struct Lease {
    queue: WorkQueue,
    key: String,
}

impl Lease {
    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.queue.done(&self.key);
    }
}

impl WorkQueue {
    /// An empty queue.
    pub fn new() -> WorkQueue {
        WorkQueue::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        crate::lock(&self.inner.state)
    }

    /// Queues `key` unless it is queued already; if it is being handled, it is handled
    /// once more afterwards.
    pub fn add(&self, key: impl Into<String>) {
        let key = key.into();
        let mut state = self.state();
        if state.closed || state.queued.contains(&key) {
            return;
        }
        if state.in_flight.contains(&key) {
            state.dirty.insert(key);
            return;
        }
        state.queued.insert(key.clone());
        state.queue.push_back(key);
        drop(state);
        self.inner.ready.notify_one();
    }

    /// Queues `key` after `delay` (a periodic resync or a retry).
    pub fn add_after(&self, key: impl Into<String>, delay: Duration) {
        let key = key.into();
        let queue = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            queue.add(key);
        });
    }

    /// Queues `key` after `delay` unless it is handed out before then: the reconcile that
    /// takes it schedules its own follow-up, so this one would only repeat it (a health
    /// recheck made moot by a health event, a resync made moot by a push).
    pub fn follow_up(&self, key: impl Into<String>, delay: Duration) {
        let key = key.into();
        let leased = self.state().leases.get(&key).copied().unwrap_or(0);
        let queue = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if queue.state().leases.get(&key).copied().unwrap_or(0) == leased {
                queue.add(key);
            }
        });
    }

    /// Forgets what the queue remembers of `key` (it was deleted).
    pub fn forget(&self, key: &str) {
        self.state().leases.remove(key);
    }

    /// The next key, waiting for one; `None` once the queue is closed and drained.
    pub async fn next(&self) -> Option<Lease> {
        loop {
            let notified = self.inner.ready.notified();
            {
                let mut state = self.state();
                if let Some(key) = state.queue.pop_front() {
                    state.queued.remove(&key);
                    *state.leases.entry(key.clone()).or_default() += 1;
                    state.in_flight.insert(key.clone());
                    // More work may be waiting for another worker.
                    if !state.queue.is_empty() {
                        self.inner.ready.notify_one();
                    }
                    return Some(Lease {
                        queue: self.clone(),
                        key,
                    });
                }
                if state.closed {
                    self.inner.ready.notify_waiters();
                    return None;
                }
            }
            notified.await;
        }
    }

    fn done(&self, key: &str) {
        let mut state = self.state();
        state.in_flight.remove(key);
        if state.dirty.remove(key) && !state.closed {
            state.queued.insert(key.to_string());
            state.queue.push_back(key.to_string());
            drop(state);
            self.inner.ready.notify_one();
        }
    }

    /// Keys waiting (not counting those being handled).
    pub fn len(&self) -> usize {
        self.state().queue.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops handing out keys once the queue is drained; adds are ignored.
    pub fn close(&self) {
        self.state().closed = true;
        self.inner.ready.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_is_queued_once_and_rerun_when_triggered_in_flight() {
        let q = WorkQueue::new();
        q.add("a");
        q.add("a");
        q.add("b");
        assert_eq!(q.len(), 2);
        let a = q.next().await.unwrap();
        assert_eq!(a.key(), "a");
        // Triggered while in flight: not handed to a second worker now…
        q.add("a");
        let b = q.next().await.unwrap();
        assert_eq!(b.key(), "b");
        assert!(q.is_empty());
        // …but queued again once the first is done.
        drop(a);
        assert_eq!(q.len(), 1);
        let again = q.next().await.unwrap();
        assert_eq!(again.key(), "a");
        drop(again);
        drop(b);
        assert!(q.is_empty());
        q.close();
        assert!(q.next().await.is_none());
    }

    #[tokio::test]
    async fn waiting_workers_wake_for_new_keys() {
        let q = WorkQueue::new();
        let worker = {
            let q = q.clone();
            tokio::spawn(async move { q.next().await.map(|l| l.key().to_string()) })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        q.add("late");
        assert_eq!(worker.await.unwrap().as_deref(), Some("late"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_follow_up_is_dropped_when_the_key_was_handed_out_since() {
        let q = WorkQueue::new();
        q.follow_up("a", Duration::from_secs(1));
        q.follow_up("b", Duration::from_secs(1));
        // `a` is handed out (by an event) before its follow-up is due.
        q.add("a");
        drop(q.next().await.unwrap());
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(q.len(), 1);
        assert_eq!(q.next().await.unwrap().key(), "b");
        // A follow-up scheduled after the last hand-out stands.
        q.follow_up("a", Duration::from_secs(1));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(q.next().await.unwrap().key(), "a");
    }
}
