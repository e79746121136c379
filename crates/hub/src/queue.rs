//! A work queue of object keys: each key is queued at most once, handled by at most one
//! worker at a time, and handled again afterwards if it was triggered while in flight —
//! the guarantees a reconciler needs so that bursts of events (a commit touching a
//! thousand apps, a status write echoing back) cost one reconcile per key, not one per
//! event.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// The queue. Cheap to clone; clones share it.
#[derive(Clone, Default)]
pub struct WorkQueue {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    ready: Notify,
    /// Wakes the timer task: an earlier deadline, the queue closed or gone. Shared with
    /// that task, which holds the queue only weakly so as not to keep it alive.
    timers_changed: Arc<Notify>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The timer task ends when it finds the queue gone.
        self.timers_changed.notify_one();
    }
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
    /// Delayed adds, at most one per key (as client-go's delaying queue keeps them).
    timers: HashMap<String, Timer>,
    /// The same, by deadline.
    due: BTreeSet<(Instant, String)>,
    /// Whether the timer task runs.
    timer_task: bool,
    closed: bool,
}

/// A delayed add.
#[derive(Debug, Clone, Copy)]
struct Timer {
    at: Instant,
    /// For a follow-up: the key's lease count when it was asked for (it lapses once the
    /// key is handed out again).
    after_lease: Option<u64>,
}

impl State {
    fn lease_count(&self, key: &str) -> u64 {
        self.leases.get(key).copied().unwrap_or(0)
    }

    /// Whether `timer` still stands: a follow-up lapses when its key was handed out since.
    fn stands(&self, key: &str, timer: &Timer) -> bool {
        timer
            .after_lease
            .is_none_or(|leased| leased == self.lease_count(key))
    }

    /// Keeps `timer` for `key` unless a standing one is due no later; `true` when it is
    /// now the first due.
    fn schedule(&mut self, key: String, timer: Timer) -> bool {
        if let Some(pending) = self.timers.get(&key) {
            if self.stands(&key, pending) && pending.at <= timer.at {
                return false;
            }
            self.due.remove(&(pending.at, key.clone()));
        }
        self.due.insert((timer.at, key.clone()));
        self.timers.insert(key, timer);
        self.due.first().is_some_and(|(at, _)| *at == timer.at)
    }

    /// Takes the timers due by `now`: the keys to add.
    fn take_due(&mut self, now: Instant) -> Vec<String> {
        let mut keys = Vec::new();
        while let Some((at, _)) = self.due.first()
            && *at <= now
        {
            let Some((_, key)) = self.due.pop_first() else {
                break;
            };
            if let Some(timer) = self.timers.remove(&key)
                && self.stands(&key, &timer)
            {
                keys.push(key);
            }
        }
        keys
    }
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

    /// Queues `key` after `delay` (a periodic resync or a retry). A key waits for at most
    /// one delayed add: the earlier stands.
    pub fn add_after(&self, key: impl Into<String>, delay: Duration) {
        self.schedule(key.into(), delay, false);
    }

    /// Queues `key` after `delay` unless it is handed out before then: the reconcile that
    /// takes it schedules its own follow-up, so this one would only repeat it (a health
    /// recheck made moot by a health event, a resync made moot by a push).
    pub fn follow_up(&self, key: impl Into<String>, delay: Duration) {
        self.schedule(key.into(), delay, true);
    }

    fn schedule(&self, key: String, delay: Duration, follow_up: bool) {
        let mut state = self.state();
        if state.closed {
            return;
        }
        let timer = Timer {
            at: Instant::now() + delay,
            after_lease: follow_up.then(|| state.lease_count(&key)),
        };
        let first = state.schedule(key, timer);
        let start = !std::mem::replace(&mut state.timer_task, true);
        drop(state);
        if start {
            tokio::spawn(run_timers(
                Arc::downgrade(&self.inner),
                self.inner.timers_changed.clone(),
            ));
        } else if first {
            self.inner.timers_changed.notify_one();
        }
    }

    /// Forgets what the queue remembers of `key` (it was deleted).
    pub fn forget(&self, key: &str) {
        let mut state = self.state();
        state.leases.remove(key);
        if let Some(timer) = state.timers.remove(key) {
            state.due.remove(&(timer.at, key.to_string()));
        }
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

    /// Stops handing out keys once the queue is drained; adds are ignored and delayed
    /// adds dropped.
    pub fn close(&self) {
        {
            let mut state = self.state();
            state.closed = true;
            state.timers.clear();
            state.due.clear();
        }
        self.inner.ready.notify_waiters();
        self.inner.timers_changed.notify_one();
    }
}

/// The queue's one timer task: adds each delayed key when it is due. It holds the queue
/// weakly and ends when the queue is closed or dropped, so a stopped controller leaves no
/// timers behind.
async fn run_timers(queue: Weak<Inner>, changed: Arc<Notify>) {
    loop {
        let next = {
            let Some(inner) = queue.upgrade() else {
                return;
            };
            let queue = WorkQueue { inner };
            let (keys, next) = {
                let mut state = queue.state();
                if state.closed {
                    state.timer_task = false;
                    return;
                }
                let keys = state.take_due(Instant::now());
                (keys, state.due.first().map(|(at, _)| *at))
            };
            for key in keys {
                queue.add(key);
            }
            next
        };
        match next {
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = changed.notified() => {}
                }
            }
            None => changed.notified().await,
        }
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

    #[tokio::test(start_paused = true)]
    async fn a_key_waits_for_one_delayed_add_and_the_earlier_stands() {
        let q = WorkQueue::new();
        // A resync after each of three reconciles: one add, when the earliest is due.
        q.add_after("a", Duration::from_secs(5));
        q.add_after("a", Duration::from_secs(1));
        q.add_after("a", Duration::from_secs(10));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(q.len(), 1);
        drop(q.next().await.unwrap());
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert!(q.is_empty(), "the later ones were not kept");
        // A lapsed follow-up gives way to a later add.
        q.follow_up("b", Duration::from_secs(1));
        q.add("b");
        drop(q.next().await.unwrap());
        q.add_after("b", Duration::from_secs(3));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(q.is_empty());
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(q.next().await.unwrap().key(), "b");
        // A deleted key's delayed add is dropped.
        q.add_after("c", Duration::from_secs(1));
        q.forget("c");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(q.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_or_dropped_queue_leaves_no_timer_behind() {
        let tasks = || {
            tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks()
        };
        let settle = || async {
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
        };
        let before = tasks();
        let q = WorkQueue::new();
        for key in ["a", "b", "c"] {
            q.add_after(key, Duration::from_secs(3600));
            q.follow_up(key, Duration::from_secs(180));
        }
        settle().await;
        // One task for all the timers.
        assert_eq!(tasks(), before + 1);
        q.close();
        settle().await;
        assert_eq!(tasks(), before);
        q.add_after("a", Duration::from_secs(1));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(q.next().await.is_none(), "closed: nothing added later");

        // Dropped without being closed (its controller's tasks aborted).
        let q = WorkQueue::new();
        q.add_after("a", Duration::from_secs(3600));
        settle().await;
        assert_eq!(tasks(), before + 1);
        drop(q);
        settle().await;
        assert_eq!(tasks(), before);
    }
}
