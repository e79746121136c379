//! The hub's own metrics, kept in one process-wide registry and rendered in the
//! Prometheus text format by `flotilla controller`'s `/metrics`: reconciles and their
//! durations per controller, apply latency and errors per destination cluster, drift
//! events per cluster.
//!
//! A handful of counters and histograms does not need a metrics library: each record is
//! one short lock, and rendering walks a few maps.

use flotilla_core::pointer::Pointer as _;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

/// Upper bounds (seconds) of the duration buckets: 5 ms to 60 s.
const BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Debug, Clone, Default)]
struct Histogram {
    /// Observations at or below each bound (not cumulative; summed when rendered).
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            self.counts[i] += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(self.counts) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// Each Application's sync and health status, kept from the Application controller's
/// watch ([`ApplicationStates::hook`]): the `flotilla_applications` gauge is counted from
/// it, as Argo CD counts its app metrics from its informer, instead of listing every
/// Application at each scrape (a list of 3,750 Applications took ≈ 4% of the hub's CPU
/// while a bench polled `/metrics`, and held the drift heal back).
#[derive(Debug, Default)]
pub struct ApplicationStates {
    /// `namespace/name` → (sync, health).
    by_app: Mutex<std::collections::HashMap<String, (String, String)>>,
}

impl ApplicationStates {
    /// A hook for the Application controller's watch that keeps these states.
    pub fn hook(self: &std::sync::Arc<Self>) -> crate::controller::ApplicationHook {
        let states = self.clone();
        std::sync::Arc::new(move |app, present| states.observe(app, present))
    }

    /// Takes in one watch event: the Application as it is now, or gone.
    pub fn observe(&self, app: &serde_json::Value, present: bool) {
        let key = crate::application::AppReconciler::key_of(app);
        let mut by_app = crate::lock(&self.by_app);
        if !present {
            by_app.remove(&key);
            return;
        }
        let field = |pointer: &str| {
            app.at(pointer)
                .and_then(serde_json::Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or("Unknown")
                .to_string()
        };
        by_app.insert(
            key,
            (field("/status/sync/status"), field("/status/health/status")),
        );
    }

    /// How many Applications have each (sync, health) status.
    pub fn counts(&self) -> BTreeMap<(String, String), u64> {
        let mut counts = BTreeMap::new();
        for state in crate::lock(&self.by_app).values() {
            *counts.entry(state.clone()).or_default() += 1;
        }
        counts
    }
}

/// How a reconcile ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// It did what it set out to do (an app may still be unhealthy).
    Success,
    /// It failed and will be retried.
    Error,
}

impl Outcome {
    /// `Error` when the reconcile failed.
    pub fn of(failed: bool) -> Outcome {
        if failed {
            Outcome::Error
        } else {
            Outcome::Success
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Error => "error",
        }
    }
}

#[derive(Debug, Default)]
struct Registry {
    reconciles: BTreeMap<(&'static str, Outcome), u64>,
    reconcile_seconds: BTreeMap<&'static str, Histogram>,
    phase_seconds: BTreeMap<(&'static str, &'static str), Histogram>,
    apply_seconds: BTreeMap<String, Histogram>,
    apply_errors: BTreeMap<String, u64>,
    drift_events: BTreeMap<String, u64>,
}

/// The registry. One per process: [`global`].
#[derive(Debug, Default)]
pub struct Metrics {
    registry: Mutex<Registry>,
}

/// The process-wide registry every controller records into.
pub fn global() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::default);
    &METRICS
}

impl Metrics {
    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        crate::lock(&self.registry)
    }

    /// One reconcile of `controller` (`application`, `applicationset`, `gitrepository`,
    /// `kustomization`).
    pub fn reconcile(&self, controller: &'static str, outcome: Outcome, took: Duration) {
        let mut r = self.registry();
        *r.reconciles.entry((controller, outcome)).or_default() += 1;
        r.reconcile_seconds
            .entry(controller)
            .or_default()
            .observe(took.as_secs_f64());
    }

    /// One phase of a reconcile of `controller` (`source`, `render`, `sync`, `health`…).
    pub fn phase(&self, controller: &'static str, phase: &'static str, took: Duration) {
        self.registry()
            .phase_seconds
            .entry((controller, phase))
            .or_default()
            .observe(took.as_secs_f64());
    }

    /// One sync of an application's objects into the cluster at `server`.
    pub fn apply(&self, server: &str, took: Duration, ok: bool) {
        let mut r = self.registry();
        r.apply_seconds
            .entry(server.to_string())
            .or_default()
            .observe(took.as_secs_f64());
        if !ok {
            *r.apply_errors.entry(server.to_string()).or_default() += 1;
        }
    }

    /// A change to a managed object made by someone else, seen in the cluster at `server`.
    pub fn drift(&self, server: &str) {
        *self
            .registry()
            .drift_events
            .entry(server.to_string())
            .or_default() += 1;
    }

    /// Drift events seen so far, over all clusters.
    pub fn drift_total(&self) -> u64 {
        self.registry().drift_events.values().sum()
    }

    /// Everything, in the Prometheus text format.
    pub fn render(&self) -> String {
        let r = self.registry();
        let mut out = String::new();
        out.push_str("# HELP flotilla_reconciles_total Reconciles by controller and result.\n");
        out.push_str("# TYPE flotilla_reconciles_total counter\n");
        for ((controller, outcome), n) in &r.reconciles {
            let _ = writeln!(
                out,
                "flotilla_reconciles_total{{controller=\"{controller}\",result=\"{}\"}} {n}",
                outcome.as_str()
            );
        }
        out.push_str("# HELP flotilla_reconcile_duration_seconds Time one reconcile took.\n");
        out.push_str("# TYPE flotilla_reconcile_duration_seconds histogram\n");
        for (controller, h) in &r.reconcile_seconds {
            h.render(
                &mut out,
                "flotilla_reconcile_duration_seconds",
                &format!("controller=\"{controller}\""),
            );
        }
        out.push_str(
            "# HELP flotilla_reconcile_phase_seconds Time one phase of a reconcile took.\n",
        );
        out.push_str("# TYPE flotilla_reconcile_phase_seconds histogram\n");
        for ((controller, phase), h) in &r.phase_seconds {
            h.render(
                &mut out,
                "flotilla_reconcile_phase_seconds",
                &format!("controller=\"{controller}\",phase=\"{phase}\""),
            );
        }
        out.push_str(
            "# HELP flotilla_apply_duration_seconds Time a sync of one application took, per destination.\n",
        );
        out.push_str("# TYPE flotilla_apply_duration_seconds histogram\n");
        for (server, h) in &r.apply_seconds {
            h.render(
                &mut out,
                "flotilla_apply_duration_seconds",
                &format!("server=\"{}\"", escape(server)),
            );
        }
        out.push_str("# HELP flotilla_apply_errors_total Failed syncs per destination.\n");
        out.push_str("# TYPE flotilla_apply_errors_total counter\n");
        for (server, n) in &r.apply_errors {
            let _ = writeln!(
                out,
                "flotilla_apply_errors_total{{server=\"{}\"}} {n}",
                escape(server)
            );
        }
        out.push_str(
            "# HELP flotilla_drift_events_total Changes to managed objects made by others, per cluster.\n",
        );
        out.push_str("# TYPE flotilla_drift_events_total counter\n");
        for (server, n) in &r.drift_events {
            let _ = writeln!(
                out,
                "flotilla_drift_events_total{{server=\"{}\"}} {n}",
                escape(server)
            );
        }
        out
    }
}

/// A label value as the text format wants it (backslash, quote and newline escaped).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_counters_add_up() {
        let m = Metrics::default();
        m.reconcile("application", Outcome::Success, Duration::from_millis(3));
        m.reconcile("application", Outcome::Success, Duration::from_millis(200));
        m.reconcile("application", Outcome::Error, Duration::from_secs(90));
        m.apply("https://c1", Duration::from_millis(20), true);
        m.apply("https://c1", Duration::from_millis(20), false);
        m.drift("https://c1");
        m.drift("https://c\"2");
        let text = m.render();
        let line = |prefix: &str| {
            text.lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            line("flotilla_reconciles_total{controller=\"application\",result=\"success\"}"),
            "2"
        );
        assert_eq!(
            line("flotilla_reconciles_total{controller=\"application\",result=\"error\"}"),
            "1"
        );
        // 3 ms is in the first bucket; 200 ms in 0.25; 90 s only in +Inf.
        let bucket = |le: &str| {
            line(&format!(
                "flotilla_reconcile_duration_seconds_bucket{{controller=\"application\",le=\"{le}\"}}"
            ))
        };
        assert_eq!(bucket("0.005"), "1");
        assert_eq!(bucket("0.1"), "1");
        assert_eq!(bucket("0.25"), "2");
        assert_eq!(bucket("60"), "2");
        assert_eq!(bucket("+Inf"), "3");
        assert_eq!(
            line("flotilla_reconcile_duration_seconds_count{controller=\"application\"}"),
            "3"
        );
        assert_eq!(
            line("flotilla_apply_errors_total{server=\"https://c1\"}"),
            "1"
        );
        assert_eq!(
            line("flotilla_apply_duration_seconds_count{server=\"https://c1\"}"),
            "2"
        );
        assert_eq!(
            line("flotilla_drift_events_total{server=\"https://c\\\"2\"}"),
            "1"
        );
        assert_eq!(m.drift_total(), 2);
    }

    #[test]
    fn application_states_follow_the_watch() {
        let states = ApplicationStates::default();
        let app = |name: &str, sync: &str, health: &str| {
            serde_json::json!({"metadata": {"namespace": "argocd", "name": name},
                               "status": {"sync": {"status": sync}, "health": {"status": health}}})
        };
        states.observe(&app("a", "Synced", "Healthy"), true);
        states.observe(&app("b", "OutOfSync", "Progressing"), true);
        // Not reconciled yet: Unknown, as the gauge always said.
        states.observe(
            &serde_json::json!({"metadata": {"namespace": "argocd", "name": "c"}}),
            true,
        );
        states.observe(&app("b", "Synced", "Healthy"), true);
        let key = |s: &str, h: &str| (s.to_string(), h.to_string());
        assert_eq!(
            states.counts(),
            BTreeMap::from([
                (key("Synced", "Healthy"), 2),
                (key("Unknown", "Unknown"), 1)
            ])
        );
        states.observe(&app("a", "Synced", "Healthy"), false);
        assert_eq!(states.counts()[&key("Synced", "Healthy")], 1);
    }
}
