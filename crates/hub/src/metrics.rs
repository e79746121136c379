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

/// Prometheus' default buckets (`DefBuckets`), Argo CD's `argocd_appset_reconcile`'s.
const PROMETHEUS_DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Argo CD's `argocd_app_reconcile` buckets (seconds).
const ARGOCD_RECONCILE_BUCKETS: [f64; 7] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];

/// Flux's `gotk_reconcile_duration_seconds` buckets: Prometheus'
/// `ExponentialBucketsRange(10e-3, 1800, 10)`, ten from 10 ms to 30 minutes.
static FLUX_RECONCILE_BUCKETS: LazyLock<Vec<f64>> = LazyLock::new(|| {
    let (min, max, count) = (10e-3_f64, 1800_f64, 10);
    let growth = (max / min).powf(1.0 / (count - 1) as f64);
    (0..count).map(|i| min * growth.powf(i as f64)).collect()
});

#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    /// Observations at or below each bound (not cumulative; summed when rendered).
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new(&BUCKETS)
    }
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, seconds: f64) {
        if let Some(i) = self.bounds.iter().position(|b| seconds <= *b) {
            self.counts[i] += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, n) in self.bounds.iter().zip(&self.counts) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// Each Application's sync and health status, and what `argocd_app_info` says of it,
/// kept from the Application controller's watch ([`ApplicationStates::hook`]): the
/// `flotilla_applications` gauge is counted from it, as Argo CD counts its app metrics
/// from its informer, instead of listing every Application at each scrape (a list of
/// 3,750 Applications took ≈ 4% of the hub's CPU while a bench polled `/metrics`, and
/// held the drift heal back).
#[derive(Debug, Default)]
pub struct ApplicationStates {
    /// `namespace/name` → what its metrics say.
    by_app: Mutex<std::collections::HashMap<String, AppInfo>>,
    options: AppMetricsOptions,
}

/// Argo CD's opt-in app series: `--metrics-application-labels` and
/// `--metrics-application-conditions`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppMetricsOptions {
    /// Application labels copied to `argocd_app_labels` (as `label_<key>`, characters a
    /// Prometheus label name cannot hold written `_`).
    pub labels: Vec<String>,
    /// Condition types counted in `argocd_app_condition`.
    pub conditions: Vec<String>,
}

/// One Application as Argo CD's `collectApps` reads it for `argocd_app_info`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AppInfo {
    who: AppLabels,
    autosync: bool,
    /// The first source's repository, normalised as Argo CD's `NormalizeGitURL`.
    repo: String,
    /// The destination as written: server, else name (resolved when rendered).
    destination: (String, String),
    dest_namespace: String,
    sync: String,
    health: String,
    /// `delete` while being deleted, `sync` while an operation is asked, else empty.
    operation: &'static str,
    /// The values of the labels [`AppMetricsOptions::labels`] names, in its order
    /// (empty when unset).
    labels: Vec<String>,
    /// How many conditions of each type [`AppMetricsOptions::conditions`] names it has.
    conditions: BTreeMap<String, u64>,
}

impl AppInfo {
    fn of(app: &serde_json::Value, options: &AppMetricsOptions) -> AppInfo {
        let text = |pointer: &str| {
            app.at(pointer)
                .and_then(serde_json::Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let status = |pointer: &str| Some(text(pointer)).filter(|s| !s.is_empty());
        // Argo CD's `GetSource`: the first of several sources.
        let repo = match app.at("/spec/sources/0/repoURL") {
            Some(url) => url.as_str().unwrap_or(""),
            None => app
                .at("/spec/source/repoURL")
                .and_then(serde_json::Value::as_str)
                .unwrap_or(""),
        };
        let automated = app.at("/spec/syncPolicy/automated");
        AppInfo {
            who: AppLabels::of(app),
            autosync: automated.is_some_and(serde_json::Value::is_object)
                && automated.and_then(|a| a.get("enabled"))
                    != Some(&serde_json::Value::Bool(false)),
            repo: flotilla_fleet::argocd::project::normalize_git_url(repo),
            destination: (
                text("/spec/destination/server"),
                text("/spec/destination/name"),
            ),
            dest_namespace: text("/spec/destination/namespace"),
            sync: status("/status/sync/status").unwrap_or_else(|| "Unknown".into()),
            health: status("/status/health/status").unwrap_or_else(|| "Unknown".into()),
            operation: if app.at("/metadata/deletionTimestamp").is_some() {
                "delete"
            } else if app.at("/operation/sync").is_some() {
                "sync"
            } else {
                ""
            },
            labels: options
                .labels
                .iter()
                .map(|key| {
                    app.at("/metadata/labels")
                        .and_then(|l| l.get(key))
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or("")
                        .to_string()
                })
                .collect(),
            conditions: {
                let mut counts = BTreeMap::new();
                for condition in app
                    .at("/status/conditions")
                    .and_then(serde_json::Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let kind = condition.get("type").and_then(serde_json::Value::as_str);
                    if let Some(kind) = kind.filter(|k| options.conditions.iter().any(|c| c == k)) {
                        *counts.entry(kind.to_string()).or_default() += 1;
                    }
                }
                counts
            },
        }
    }
}

/// A Prometheus label name for an Application label key, as Argo CD's `NormalizeLabels`:
/// `label_` and the key with every character outside `[a-zA-Z0-9_]` written `_`.
fn label_name(key: &str) -> String {
    let key: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("label_{key}")
}

/// `name="value"` pairs sorted by name, as Prometheus' Go client writes them.
fn label_pairs(mut pairs: Vec<(String, String)>) -> String {
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| format!("{name}=\"{}\"", escape(value)))
        .collect::<Vec<_>>()
        .join(",")
}

impl ApplicationStates {
    /// States whose opt-in series `options` asks for.
    pub fn new(options: AppMetricsOptions) -> ApplicationStates {
        ApplicationStates {
            by_app: Mutex::default(),
            options,
        }
    }

    /// A hook for the Application controller's watch that keeps these states.
    pub fn hook(self: &std::sync::Arc<Self>) -> crate::controller::ApplicationHook {
        let states = self.clone();
        std::sync::Arc::new(move |app, present| states.observe(app, present))
    }

    /// Takes in one watch event: the Application as it is now, or gone.
    pub fn observe(&self, app: &serde_json::Value, present: bool) {
        let key = crate::application::AppReconciler::key_of(app);
        let mut by_app = crate::lock(&self.by_app);
        if present {
            by_app.insert(key, AppInfo::of(app, &self.options));
        } else {
            by_app.remove(&key);
        }
    }

    /// How many Applications have each (sync, health) status.
    pub fn counts(&self) -> BTreeMap<(String, String), u64> {
        let mut counts = BTreeMap::new();
        for info in crate::lock(&self.by_app).values() {
            *counts
                .entry((info.sync.clone(), info.health.clone()))
                .or_default() += 1;
        }
        counts
    }

    /// Argo CD's `argocd_app_info` gauge, one series per Application (its labels sorted
    /// by name, as Prometheus' Go client writes them); `server_of` resolves a
    /// destination (server, name) to the cluster's URL — empty when none answers, as
    /// Argo CD leaves it.
    pub fn render_argocd_info(&self, server_of: &dyn Fn(&str, &str) -> Option<String>) -> String {
        let by_app = crate::lock(&self.by_app);
        let mut apps: Vec<&AppInfo> = by_app.values().collect();
        apps.sort_by(|a, b| (&a.who.namespace, &a.who.name).cmp(&(&b.who.namespace, &b.who.name)));
        let mut out = String::from(
            "# HELP argocd_app_info Information about application.\n# TYPE argocd_app_info gauge\n",
        );
        for app in &apps {
            let (server, name) = &app.destination;
            let dest_server = server_of(server, name).unwrap_or_default();
            let _ = writeln!(
                out,
                "argocd_app_info{{autosync_enabled=\"{}\",dest_namespace=\"{}\",dest_server=\"{}\",health_status=\"{}\",name=\"{}\",namespace=\"{}\",operation=\"{}\",project=\"{}\",repo=\"{}\",sync_status=\"{}\"}} 1",
                app.autosync,
                escape(&app.dest_namespace),
                escape(&dest_server),
                escape(&app.health),
                escape(&app.who.name),
                escape(&app.who.namespace),
                app.operation,
                escape(&app.who.project),
                escape(&app.repo),
                escape(&app.sync),
            );
        }
        let who = |app: &AppInfo| {
            vec![
                ("name".to_string(), app.who.name.clone()),
                ("namespace".to_string(), app.who.namespace.clone()),
                ("project".to_string(), app.who.project.clone()),
            ]
        };
        if !self.options.labels.is_empty() {
            out.push_str("# HELP argocd_app_labels Argo Application labels converted to Prometheus labels\n# TYPE argocd_app_labels gauge\n");
            let names: Vec<String> = self.options.labels.iter().map(|k| label_name(k)).collect();
            for app in &apps {
                let mut pairs = who(app);
                pairs.extend(names.iter().cloned().zip(app.labels.iter().cloned()));
                let _ = writeln!(out, "argocd_app_labels{{{}}} 1", label_pairs(pairs));
            }
        }
        if !self.options.conditions.is_empty() {
            out.push_str("# HELP argocd_app_condition Report application conditions.\n# TYPE argocd_app_condition gauge\n");
            for app in &apps {
                for (kind, n) in &app.conditions {
                    let mut pairs = who(app);
                    pairs.push(("condition".to_string(), kind.clone()));
                    let _ = writeln!(out, "argocd_app_condition{{{}}} {n}", label_pairs(pairs));
                }
            }
        }
        out
    }
}

/// Argo CD's ApplicationSet collector for `appsets` (those the controller reconciles):
/// `argocd_appset_info` with the reason of the `ResourcesUpToDate` condition
/// (`Unknown` without one), `argocd_appset_owned_applications` (the Applications its
/// status lists) and, for the asked `label_keys` (`--metrics-applicationset-labels`),
/// `argocd_appset_labels`.
pub fn render_argocd_appsets(
    appsets: &[std::sync::Arc<serde_json::Value>],
    label_keys: &[String],
) -> String {
    let mut info = String::from(
        "# HELP argocd_appset_info Information about applicationset\n# TYPE argocd_appset_info gauge\n",
    );
    let mut owned = String::from(
        "# HELP argocd_appset_owned_applications Number of applications owned by the applicationset\n# TYPE argocd_appset_owned_applications gauge\n",
    );
    let mut labels = if label_keys.is_empty() {
        String::new()
    } else {
        String::from(
            "# HELP argocd_appset_labels Applicationset labels translated to Prometheus labels\n# TYPE argocd_appset_labels gauge\n",
        )
    };
    let mut sorted: Vec<&serde_json::Value> = appsets.iter().map(|a| a.as_ref()).collect();
    let text = |set: &serde_json::Value, pointer: &str| {
        set.at(pointer)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    sorted.sort_by_key(|set| {
        (
            text(set, "/metadata/namespace"),
            text(set, "/metadata/name"),
        )
    });
    for set in sorted {
        let (namespace, name) = (
            text(set, "/metadata/namespace"),
            text(set, "/metadata/name"),
        );
        let conditions = set
            .at("/status/conditions")
            .and_then(serde_json::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let status = conditions
            .iter()
            .rev()
            .find(|c| {
                c.get("type").and_then(serde_json::Value::as_str) == Some("ResourcesUpToDate")
            })
            .and_then(|c| c.get("reason").and_then(serde_json::Value::as_str))
            .unwrap_or("Unknown");
        let who = || {
            vec![
                ("namespace".to_string(), namespace.clone()),
                ("name".to_string(), name.clone()),
            ]
        };
        let mut pairs = who();
        pairs.push(("resource_update_status".to_string(), status.to_string()));
        let _ = writeln!(info, "argocd_appset_info{{{}}} 1", label_pairs(pairs));
        let resources = set
            .at("/status/resources")
            .and_then(serde_json::Value::as_array)
            .map_or(0, Vec::len);
        let _ = writeln!(
            owned,
            "argocd_appset_owned_applications{{{}}} {resources}",
            label_pairs(who())
        );
        if !label_keys.is_empty() {
            let mut pairs = who();
            for key in label_keys {
                let value = set
                    .at("/metadata/labels")
                    .and_then(|l| l.get(key))
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default();
                pairs.push((label_name(key), value.to_string()));
            }
            let _ = writeln!(labels, "argocd_appset_labels{{{}}} 1", label_pairs(pairs));
        }
    }
    [info, owned, labels].concat()
}

/// A registered cluster as the cluster series name it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisteredCluster {
    /// Its name.
    pub name: String,
    /// Its Secret's labels.
    pub labels: BTreeMap<String, String>,
}

/// What Argo CD's cluster series are drawn from.
#[derive(Debug, Clone, Copy)]
pub struct ClusterSeriesInput<'a> {
    /// The registered clusters, by server URL.
    pub registered: &'a BTreeMap<String, RegisteredCluster>,
    /// The clusters' last version answers.
    pub probes: &'a [(String, crate::cluster_versions::Probe)],
    /// What the drift watches of each cluster hold.
    pub caches: &'a BTreeMap<String, crate::drift::CacheStats>,
    /// Watch events taken in, by server, group and kind.
    pub events: &'a BTreeMap<(String, String, String), u64>,
    /// The cluster labels copied to `argocd_cluster_labels` (Argo CD's
    /// `--metrics-cluster-labels`); none: no such series.
    pub label_keys: &'a [String],
    /// Now, for the cache age.
    pub now: std::time::Instant,
}

/// Argo CD's cluster collector (`argocd_cluster_*`), for every cluster whose version the
/// hub has asked (the destinations of its Applications, as Argo CD keeps a cache only of
/// those) and that is still registered (or the hub itself). The connection is up when the
/// cluster answered its last version question (asked again every few seconds, see
/// [`crate::cluster_versions::ClusterVersions::keep_asking`]); the cache age counts from
/// the oldest of the watches' last listings (-1 before any); `argocd_cluster_labels`
/// names each asked label (`label_<key>`, empty when the Secret lacks it; none for the
/// hub itself, which has no Secret); `argocd_cluster_events_total` counts the watch
/// events of each kind.
pub fn render_argocd_clusters(input: ClusterSeriesInput<'_>) -> String {
    let ClusterSeriesInput {
        registered,
        probes,
        caches,
        events,
        label_keys,
        now,
    } = input;
    let mut info = String::from(
        "# HELP argocd_cluster_info Information about cluster.\n# TYPE argocd_cluster_info gauge\n",
    );
    let mut objects = String::from(
        "# HELP argocd_cluster_api_resource_objects Number of k8s resource objects in the cache.\n# TYPE argocd_cluster_api_resource_objects gauge\n",
    );
    let mut kinds = String::from(
        "# HELP argocd_cluster_api_resources Number of monitored kubernetes API resources.\n# TYPE argocd_cluster_api_resources gauge\n",
    );
    let mut age = String::from(
        "# HELP argocd_cluster_cache_age_seconds Cluster cache age in seconds.\n# TYPE argocd_cluster_cache_age_seconds gauge\n",
    );
    let mut connection = String::from(
        "# HELP argocd_cluster_connection_status The k8s cluster current connection status.\n# TYPE argocd_cluster_connection_status gauge\n",
    );
    let mut labels = if label_keys.is_empty() {
        String::new()
    } else {
        String::from(
            "# HELP argocd_cluster_labels Argo Cluster labels converted to Prometheus labels\n# TYPE argocd_cluster_labels gauge\n",
        )
    };
    let mut counted = String::from(
        "# HELP argocd_cluster_events_total Number of processes k8s resource events.\n# TYPE argocd_cluster_events_total counter\n",
    );
    for (server, probe) in probes {
        let cache = caches.get(server).copied().unwrap_or_default();
        // A cluster no longer registered (its Secret deleted) is left out.
        let cluster = registered.get(server);
        let name = match cluster {
            Some(cluster) => cluster.name.as_str(),
            None if crate::clusters::is_in_cluster(server, "") => {
                flotilla_fleet::cluster::IN_CLUSTER_NAME
            }
            None => continue,
        };
        if let Some(cluster) = cluster.filter(|_| !label_keys.is_empty()) {
            let mut pairs = vec![
                ("server".to_string(), server.clone()),
                ("name".to_string(), name.to_string()),
            ];
            for key in label_keys {
                // Argo CD's cluster labels leave the Secret's type label out.
                let value = cluster
                    .labels
                    .get(key)
                    .filter(|_| key != "argocd.argoproj.io/secret-type")
                    .cloned()
                    .unwrap_or_default();
                pairs.push((label_name(key), value));
            }
            let _ = writeln!(labels, "argocd_cluster_labels{{{}}} 1", label_pairs(pairs));
        }
        let of_server = events
            .range((server.clone(), String::new(), String::new())..)
            .take_while(|((events_server, _, _), _)| events_server == server);
        for ((_, group, kind), n) in of_server {
            let _ = writeln!(
                counted,
                "argocd_cluster_events_total{{group=\"{}\",kind=\"{}\",server=\"{}\"}} {n}",
                escape(group),
                escape(kind),
                escape(server)
            );
        }
        let version = escape(probe.version.as_deref().unwrap_or(""));
        let server = escape(server);
        let _ = writeln!(
            info,
            "argocd_cluster_info{{k8s_version=\"{version}\",name=\"{}\",server=\"{server}\"}} 1",
            escape(name)
        );
        let _ = writeln!(
            objects,
            "argocd_cluster_api_resource_objects{{server=\"{server}\"}} {}",
            cache.objects
        );
        let _ = writeln!(
            kinds,
            "argocd_cluster_api_resources{{server=\"{server}\"}} {}",
            cache.kinds
        );
        let seconds = cache
            .oldest_listing
            .map_or(-1, |at| now.saturating_duration_since(at).as_secs() as i64);
        let _ = writeln!(
            age,
            "argocd_cluster_cache_age_seconds{{server=\"{server}\"}} {seconds}"
        );
        let up = probe.reachable;
        let _ = writeln!(
            connection,
            "argocd_cluster_connection_status{{k8s_version=\"{version}\",server=\"{server}\"}} {}",
            u8::from(up)
        );
    }
    [info, objects, kinds, age, connection, labels, counted].concat()
}

/// Who an Application is in Argo CD's app metrics: its namespace, name and project.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AppLabels {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `spec.project` (`default` when empty, as Argo CD's `GetProject`).
    pub project: String,
}

impl AppLabels {
    /// The labels of `app`.
    pub fn of(app: &serde_json::Value) -> AppLabels {
        let text = |pointer: &str| {
            app.at(pointer)
                .and_then(serde_json::Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let project = text("/spec/project");
        AppLabels {
            namespace: text("/metadata/namespace"),
            name: text("/metadata/name"),
            project: if project.is_empty() {
                "default".into()
            } else {
                project
            },
        }
    }
}

/// An operation a status write ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedOperation {
    /// `Succeeded`, `Failed` or `Error`.
    pub phase: String,
    /// Whether it was a dry run.
    pub dry_run: bool,
    /// Whole seconds from its start to its end, as Argo CD's `IncAppSyncDuration` takes
    /// them (`finishedAt.Unix() - startedAt.Unix()`); 0 when either is unreadable.
    pub seconds: i64,
}

/// The operation a status write completed, as Argo CD's `IncSync` counts it, when
/// `after`'s `operationState` has ended and `before`'s was not that same ended operation.
pub fn completed_operation(
    before: Option<&serde_json::Value>,
    after: &serde_json::Value,
) -> Option<EndedOperation> {
    let state = after.get("operationState")?;
    let phase = state.get("phase").and_then(serde_json::Value::as_str)?;
    if !matches!(phase, "Succeeded" | "Failed" | "Error") {
        return None;
    }
    let identity = |s: &serde_json::Value| {
        (
            s.get("phase").cloned(),
            s.get("startedAt").cloned(),
            s.get("finishedAt").cloned(),
        )
    };
    let previous = before.and_then(|b| b.get("operationState"));
    if previous.is_some_and(|p| identity(p) == identity(state)) {
        return None;
    }
    let dry_run = state.at("/operation/sync/dryRun") == Some(&serde_json::Value::Bool(true));
    let second = |key: &str| {
        state
            .get(key)?
            .as_str()?
            .parse::<k8s_openapi::jiff::Timestamp>()
            .ok()
            .map(|t| t.as_second())
    };
    let seconds = match (second("startedAt"), second("finishedAt")) {
        (Some(start), Some(end)) => end - start,
        _ => 0,
    };
    Some(EndedOperation {
        phase: phase.to_string(),
        dry_run,
        seconds,
    })
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
    /// `argocd_app_sync_total`: (app, destination server, phase, dry run) → count.
    app_syncs: BTreeMap<(AppLabels, String, String, bool), u64>,
    /// `argocd_app_sync_duration_seconds_total`: (app, destination server) → seconds.
    app_sync_seconds: BTreeMap<(AppLabels, String), i64>,
    /// `argocd_app_reconcile`: (app namespace, destination server) → durations.
    app_reconciles: BTreeMap<(String, String), Histogram>,
    /// `argocd_appset_reconcile`: (namespace, name) → durations.
    appset_reconciles: BTreeMap<(String, String), Histogram>,
    /// `gotk_reconcile_duration_seconds`: (kind, name, namespace) → durations.
    flux_reconciles: BTreeMap<(String, String, String), Histogram>,
    /// `argocd_app_orphaned_resources_count`: (namespace, name) → (project, count).
    orphaned: BTreeMap<(String, String), (String, u64)>,
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

    /// An Application operation that ended (Argo CD's `argocd_app_sync_total` and
    /// `argocd_app_sync_duration_seconds_total`).
    pub fn app_sync(&self, app: AppLabels, dest_server: &str, ended: &EndedOperation) {
        let mut r = self.registry();
        *r.app_sync_seconds
            .entry((app.clone(), dest_server.to_string()))
            .or_default() += ended.seconds;
        *r.app_syncs
            .entry((
                app,
                dest_server.to_string(),
                ended.phase.clone(),
                ended.dry_run,
            ))
            .or_default() += 1;
    }

    /// One reconcile of an Application in `namespace` bound for `dest_server` (Argo CD's
    /// `argocd_app_reconcile`).
    pub fn app_reconcile(&self, namespace: &str, dest_server: &str, took: Duration) {
        self.registry()
            .app_reconciles
            .entry((namespace.to_string(), dest_server.to_string()))
            .or_insert_with(|| Histogram::new(&ARGOCD_RECONCILE_BUCKETS))
            .observe(took.as_secs_f64());
    }

    /// One reconcile of the ApplicationSet `namespace/name` (Argo CD's
    /// `argocd_appset_reconcile`).
    pub fn appset_reconcile(&self, namespace: &str, name: &str, took: Duration) {
        self.registry()
            .appset_reconciles
            .entry((namespace.to_string(), name.to_string()))
            .or_insert_with(|| Histogram::new(&PROMETHEUS_DEFAULT_BUCKETS))
            .observe(took.as_secs_f64());
    }

    /// Drops the series of a deleted ApplicationSet.
    pub fn forget_appset(&self, namespace: &str, name: &str) {
        self.registry()
            .appset_reconciles
            .remove(&(namespace.to_string(), name.to_string()));
    }

    /// How many orphaned resources the app's last look found (Argo CD's
    /// `SetOrphanedResourcesMetric`: 0 when its project does not look).
    pub fn orphaned_resources(&self, app: AppLabels, count: u64) {
        self.registry()
            .orphaned
            .insert((app.namespace, app.name), (app.project, count));
    }

    /// The Application `namespace/name` is gone: its per-app gauges go too.
    pub fn forget_app(&self, namespace: &str, name: &str) {
        self.registry()
            .orphaned
            .remove(&(namespace.to_string(), name.to_string()));
    }

    /// One reconcile of the Flux object `kind` `namespace/name`, its status written
    /// (Flux's `RecordDuration`).
    pub fn flux_reconcile(&self, kind: &str, namespace: &str, name: &str, took: Duration) {
        self.registry()
            .flux_reconciles
            .entry((kind.to_string(), name.to_string(), namespace.to_string()))
            .or_insert_with(|| Histogram::new(LazyLock::force(&FLUX_RECONCILE_BUCKETS).as_slice()))
            .observe(took.as_secs_f64());
    }

    /// The Flux object is gone: its series goes too (Flux's `DeleteDuration`).
    pub fn forget_flux(&self, kind: &str, namespace: &str, name: &str) {
        self.registry().flux_reconciles.remove(&(
            kind.to_string(),
            name.to_string(),
            namespace.to_string(),
        ));
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
        out.push_str("# HELP argocd_app_sync_total Number of application syncs.\n");
        out.push_str("# TYPE argocd_app_sync_total counter\n");
        for ((app, server, phase, dry_run), n) in &r.app_syncs {
            let _ = writeln!(
                out,
                "argocd_app_sync_total{{dest_server=\"{}\",dry_run=\"{dry_run}\",name=\"{}\",namespace=\"{}\",phase=\"{phase}\",project=\"{}\"}} {n}",
                escape(server),
                escape(&app.name),
                escape(&app.namespace),
                escape(&app.project),
            );
        }
        out.push_str("# HELP argocd_app_sync_duration_seconds_total Application sync performance in seconds total.\n");
        out.push_str("# TYPE argocd_app_sync_duration_seconds_total counter\n");
        for ((app, server), seconds) in &r.app_sync_seconds {
            let _ = writeln!(
                out,
                "argocd_app_sync_duration_seconds_total{{dest_server=\"{}\",name=\"{}\",namespace=\"{}\",project=\"{}\"}} {seconds}",
                escape(server),
                escape(&app.name),
                escape(&app.namespace),
                escape(&app.project),
            );
        }
        out.push_str(
            "# HELP argocd_app_reconcile Application reconciliation performance in seconds.\n",
        );
        out.push_str("# TYPE argocd_app_reconcile histogram\n");
        for ((namespace, server), h) in &r.app_reconciles {
            h.render(
                &mut out,
                "argocd_app_reconcile",
                &format!(
                    "dest_server=\"{}\",namespace=\"{}\"",
                    escape(server),
                    escape(namespace)
                ),
            );
        }
        out.push_str(
            "# HELP argocd_appset_reconcile Application reconciliation performance in seconds.\n",
        );
        out.push_str("# TYPE argocd_appset_reconcile histogram\n");
        for ((namespace, name), h) in &r.appset_reconciles {
            h.render(
                &mut out,
                "argocd_appset_reconcile",
                &format!(
                    "name=\"{}\",namespace=\"{}\"",
                    escape(name),
                    escape(namespace)
                ),
            );
        }
        out.push_str("# HELP argocd_app_orphaned_resources_count Number of orphaned resources per application\n");
        out.push_str("# TYPE argocd_app_orphaned_resources_count gauge\n");
        for ((namespace, name), (project, n)) in &r.orphaned {
            let _ = writeln!(
                out,
                "argocd_app_orphaned_resources_count{{name=\"{}\",namespace=\"{}\",project=\"{}\"}} {n}",
                escape(name),
                escape(namespace),
                escape(project)
            );
        }
        out.push_str("# HELP gotk_reconcile_duration_seconds The duration in seconds of a GitOps Toolkit resource reconciliation.\n");
        out.push_str("# TYPE gotk_reconcile_duration_seconds histogram\n");
        for ((kind, name, namespace), h) in &r.flux_reconciles {
            h.render(
                &mut out,
                "gotk_reconcile_duration_seconds",
                &format!(
                    "kind=\"{kind}\",name=\"{}\",namespace=\"{}\"",
                    escape(name),
                    escape(namespace)
                ),
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

    /// `argocd_app_info` as Argo CD's `collectApps` fills it: the first of several
    /// sources' repository through `NormalizeGitURL`, autosync off when `enabled: false`,
    /// the project `default` when unset, the destination resolved by name or left empty,
    /// `Unknown` before the first reconcile, the operation asked or the deletion.
    #[test]
    fn app_info_says_what_argo_cds_collector_says() {
        let states = ApplicationStates::default();
        states.observe(
            &serde_json::json!({
                "metadata": {"namespace": "argocd", "name": "web"},
                "spec": {"project": "team",
                         "sources": [{"repoURL": "git@GitHub.com:Org/Web.git"}, {"repoURL": "https://b"}],
                         "destination": {"name": "east", "namespace": "web"},
                         "syncPolicy": {"automated": {"prune": true}}},
                "status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}},
            }),
            true,
        );
        states.observe(
            &serde_json::json!({
                "metadata": {"namespace": "argocd", "name": "db", "deletionTimestamp": "2026-11-29T10:00:00Z"},
                "spec": {"source": {"repoURL": "https://git.example.com/db"},
                         "destination": {"server": "https://gone", "namespace": "db"},
                         "syncPolicy": {"automated": {"enabled": false}}},
                "operation": {"sync": {}},
            }),
            true,
        );
        states.observe(
            &serde_json::json!({
                "metadata": {"namespace": "argocd", "name": "cache"},
                "spec": {"source": {"repoURL": "https://git.example.com/cache"},
                         "destination": {"server": "https://east:6443", "namespace": "cache"}},
                "operation": {"sync": {}},
            }),
            true,
        );
        let text = states.render_argocd_info(&|server, name| match (server, name) {
            ("", "east") | ("https://east:6443", _) => Some("https://east:6443".to_string()),
            _ => None,
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "# HELP argocd_app_info Information about application.",
                "# TYPE argocd_app_info gauge",
                "argocd_app_info{autosync_enabled=\"false\",dest_namespace=\"cache\",dest_server=\"https://east:6443\",health_status=\"Unknown\",name=\"cache\",namespace=\"argocd\",operation=\"sync\",project=\"default\",repo=\"https://git.example.com/cache\",sync_status=\"Unknown\"} 1",
                "argocd_app_info{autosync_enabled=\"false\",dest_namespace=\"db\",dest_server=\"\",health_status=\"Unknown\",name=\"db\",namespace=\"argocd\",operation=\"delete\",project=\"default\",repo=\"https://git.example.com/db\",sync_status=\"Unknown\"} 1",
                "argocd_app_info{autosync_enabled=\"true\",dest_namespace=\"web\",dest_server=\"https://east:6443\",health_status=\"Healthy\",name=\"web\",namespace=\"argocd\",operation=\"\",project=\"team\",repo=\"git@github.com/org/web\",sync_status=\"Synced\"} 1",
            ]
        );
    }

    /// The opt-in series: `argocd_app_labels` with each asked label as `label_<key>`
    /// (empty when the app lacks it), `argocd_app_condition` counting the asked types.
    #[test]
    fn asked_labels_and_conditions_are_series_of_their_own() {
        let states = ApplicationStates::new(AppMetricsOptions {
            labels: vec!["team".into(), "example.com/tier".into()],
            conditions: vec!["SyncError".into(), "SharedResourceWarning".into()],
        });
        states.observe(
            &serde_json::json!({
                "metadata": {"namespace": "argocd", "name": "web",
                             "labels": {"team": "payments", "other": "x"}},
                "spec": {"project": "team"},
                "status": {"conditions": [
                    {"type": "SharedResourceWarning", "message": "a"},
                    {"type": "SharedResourceWarning", "message": "b"},
                    {"type": "OrphanedResourceWarning", "message": "c"}]},
            }),
            true,
        );
        let text = states.render_argocd_info(&|_, _| None);
        let series: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("argocd_app_labels") || l.starts_with("argocd_app_condition"))
            .collect();
        assert_eq!(
            series,
            [
                "argocd_app_labels{label_example_com_tier=\"\",label_team=\"payments\",name=\"web\",namespace=\"argocd\",project=\"team\"} 1",
                "argocd_app_condition{condition=\"SharedResourceWarning\",name=\"web\",namespace=\"argocd\",project=\"team\"} 2",
            ]
        );
        let plain = ApplicationStates::default();
        plain.observe(
            &serde_json::json!({"metadata": {"namespace": "argocd", "name": "web"}}),
            true,
        );
        let text = plain.render_argocd_info(&|_, _| None);
        assert!(
            !text.contains("argocd_app_labels") && !text.contains("argocd_app_condition"),
            "off unless asked, as upstream: {text}"
        );
    }

    /// Argo CD's cluster series, one set per cluster asked: its version and name, what
    /// its watches hold, and the connection down when it did not answer or a watch fails.
    #[test]
    fn cluster_series_say_what_argo_cds_collector_says() {
        use crate::cluster_versions::Probe;
        use crate::drift::CacheStats;
        let now = std::time::Instant::now();
        let later = now + Duration::from_secs(600);
        let probes = vec![
            (
                "https://east:6443".to_string(),
                Probe {
                    version: Some("v1.29.7".into()),
                    reachable: true,
                    expires: later,
                },
            ),
            (
                "https://kubernetes.default.svc".to_string(),
                Probe {
                    version: Some("v1.32.0".into()),
                    reachable: true,
                    expires: later,
                },
            ),
            (
                "https://gone:6443".to_string(),
                Probe {
                    version: Some("v1.31.0".into()),
                    reachable: true,
                    expires: later,
                },
            ),
            (
                "https://west:6443".to_string(),
                Probe {
                    version: Some("v1.30.1".into()),
                    reachable: false,
                    expires: later,
                },
            ),
        ];
        let registered = BTreeMap::from([
            (
                "https://east:6443".to_string(),
                RegisteredCluster {
                    name: "east".into(),
                    labels: BTreeMap::from([
                        ("env".to_string(), "prod".to_string()),
                        ("team.io/owner".to_string(), "payments".to_string()),
                        (
                            "argocd.argoproj.io/secret-type".to_string(),
                            "cluster".to_string(),
                        ),
                    ]),
                },
            ),
            (
                "https://west:6443".to_string(),
                RegisteredCluster {
                    name: "west".into(),
                    labels: BTreeMap::new(),
                },
            ),
        ]);
        let events = BTreeMap::from([
            (
                (
                    "https://east:6443".to_string(),
                    "apps".to_string(),
                    "Deployment".to_string(),
                ),
                7,
            ),
            (
                (
                    "https://east:6443".to_string(),
                    String::new(),
                    "ConfigMap".to_string(),
                ),
                2,
            ),
            (
                (
                    "https://gone:6443".to_string(),
                    String::new(),
                    "Pod".to_string(),
                ),
                1,
            ),
        ]);
        let label_keys = [
            "env".to_string(),
            "team.io/owner".to_string(),
            "argocd.argoproj.io/secret-type".to_string(),
        ];
        let caches = BTreeMap::from([(
            "https://east:6443".to_string(),
            CacheStats {
                kinds: 3,
                objects: 40,
                oldest_listing: Some(now),
            },
        )]);
        let input = ClusterSeriesInput {
            registered: &registered,
            probes: &probes,
            caches: &caches,
            events: &events,
            label_keys: &label_keys,
            now: now + Duration::from_secs(75),
        };
        let text = render_argocd_clusters(input);
        for line in [
            "argocd_cluster_labels{label_argocd_argoproj_io_secret_type=\"\",label_env=\"prod\",label_team_io_owner=\"payments\",name=\"east\",server=\"https://east:6443\"} 1",
            "argocd_cluster_labels{label_argocd_argoproj_io_secret_type=\"\",label_env=\"\",label_team_io_owner=\"\",name=\"west\",server=\"https://west:6443\"} 1",
            "argocd_cluster_events_total{group=\"apps\",kind=\"Deployment\",server=\"https://east:6443\"} 7",
            "argocd_cluster_events_total{group=\"\",kind=\"ConfigMap\",server=\"https://east:6443\"} 2",
            "argocd_cluster_info{k8s_version=\"v1.29.7\",name=\"east\",server=\"https://east:6443\"} 1",
            "argocd_cluster_info{k8s_version=\"v1.32.0\",name=\"in-cluster\",server=\"https://kubernetes.default.svc\"} 1",
            "argocd_cluster_api_resource_objects{server=\"https://east:6443\"} 40",
            "argocd_cluster_api_resources{server=\"https://east:6443\"} 3",
            "argocd_cluster_cache_age_seconds{server=\"https://east:6443\"} 75",
            "argocd_cluster_cache_age_seconds{server=\"https://west:6443\"} -1",
            "argocd_cluster_connection_status{k8s_version=\"v1.29.7\",server=\"https://east:6443\"} 1",
            "argocd_cluster_connection_status{k8s_version=\"v1.30.1\",server=\"https://west:6443\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(!text.contains("gone"), "no longer registered: {text}");
        assert_eq!(
            text.matches("argocd_cluster_labels{").count(),
            2,
            "none for the hub itself: {text}"
        );
        let without_labels = render_argocd_clusters(ClusterSeriesInput {
            label_keys: &[],
            ..input
        });
        assert!(
            !without_labels.contains("argocd_cluster_labels"),
            "{without_labels}"
        );
    }

    /// Argo CD's ApplicationSet collector: its info with the `ResourcesUpToDate` reason
    /// (the last such condition; `Unknown` without one), the Applications its status
    /// lists, and the asked labels (empty when missing).
    #[test]
    fn appset_series_say_what_argo_cds_collector_says() {
        let sets = [
            serde_json::json!({"metadata": {"namespace": "argocd", "name": "web",
                                            "labels": {"team": "payments"}},
                "status": {"conditions": [
                    {"type": "ErrorOccurred", "reason": "ApplicationSetUpToDate"},
                    {"type": "ResourcesUpToDate", "reason": "ApplicationSetUpToDate"}],
                    "resources": [{"name": "a"}, {"name": "b"}]}}),
            serde_json::json!({"metadata": {"namespace": "team", "name": "new"}}),
        ]
        .map(std::sync::Arc::new);
        let text = render_argocd_appsets(&sets, &["team".to_string()]);
        for line in [
            "argocd_appset_info{name=\"web\",namespace=\"argocd\",resource_update_status=\"ApplicationSetUpToDate\"} 1",
            "argocd_appset_info{name=\"new\",namespace=\"team\",resource_update_status=\"Unknown\"} 1",
            "argocd_appset_owned_applications{name=\"web\",namespace=\"argocd\"} 2",
            "argocd_appset_owned_applications{name=\"new\",namespace=\"team\"} 0",
            "argocd_appset_labels{label_team=\"payments\",name=\"web\",namespace=\"argocd\"} 1",
            "argocd_appset_labels{label_team=\"\",name=\"new\",namespace=\"team\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(!render_argocd_appsets(&sets, &[]).contains("argocd_appset_labels"));
        let m = Metrics::default();
        m.appset_reconcile("argocd", "web", Duration::from_millis(30));
        assert!(
            m.render().contains(
                "argocd_appset_reconcile_bucket{name=\"web\",namespace=\"argocd\",le=\"0.05\"} 1\n"
            ),
            "{}",
            m.render()
        );
        m.forget_appset("argocd", "web");
        assert!(!m.render().contains("argocd_appset_reconcile_bucket{"));
    }

    /// `argocd_app_orphaned_resources_count`: the last count per app, gone with the app.
    #[test]
    fn the_orphan_gauge_follows_the_last_look() {
        let m = Metrics::default();
        let web = AppLabels::of(
            &serde_json::json!({"metadata": {"namespace": "argocd", "name": "web"},
                                                   "spec": {"project": "team"}}),
        );
        m.orphaned_resources(web.clone(), 3);
        m.orphaned_resources(web, 1);
        let line = "argocd_app_orphaned_resources_count{name=\"web\",namespace=\"argocd\",project=\"team\"} 1\n";
        assert!(m.render().contains(line), "{}", m.render());
        m.forget_app("argocd", "web");
        assert!(!m.render().contains("argocd_app_orphaned_resources_count{"));
    }

    /// Argo CD's `IncSync`: an operation is counted once, when its state first reads
    /// ended (`Succeeded`, `Failed`, `Error`), with its dry-run flag; `IncAppSyncDuration`
    /// adds its whole seconds.
    #[test]
    fn an_ended_operation_is_counted_once() {
        let state = |phase: &str, started: &str| {
            serde_json::json!({"operationState": {"phase": phase, "startedAt": started,
                "finishedAt": "2026-11-29T10:00:05Z", "operation": {"sync": {"revision": "abc"}}}})
        };
        let ended = |phase: &str, dry_run: bool, seconds: i64| {
            Some(EndedOperation {
                phase: phase.into(),
                dry_run,
                seconds,
            })
        };
        let t1 = "2026-11-29T10:00:01.900Z";
        let running = serde_json::json!({"operationState": {"phase": "Running", "startedAt": t1}});
        assert_eq!(
            completed_operation(Some(&running), &state("Succeeded", t1)),
            ended("Succeeded", false, 4),
            "whole seconds apart, as Unix() - Unix()"
        );
        assert_eq!(
            completed_operation(None, &state("Failed", t1)),
            ended("Failed", false, 4)
        );
        assert_eq!(
            completed_operation(Some(&state("Succeeded", t1)), &state("Succeeded", t1)),
            None,
            "the same ended operation written again is not another sync"
        );
        assert_eq!(
            completed_operation(
                Some(&state("Succeeded", t1)),
                &state("Succeeded", "2026-11-29T10:00:02Z")
            ),
            ended("Succeeded", false, 3),
            "a new operation that ended the same way is"
        );
        assert_eq!(completed_operation(None, &running), None);
        assert_eq!(completed_operation(None, &serde_json::json!({})), None);
        let mut dry = state("Error", "not a time");
        dry["operationState"]["operation"]["sync"]["dryRun"] = serde_json::json!(true);
        assert_eq!(completed_operation(None, &dry), ended("Error", true, 0));

        let m = Metrics::default();
        let web =
            AppLabels::of(&serde_json::json!({"metadata": {"namespace": "argocd", "name": "web"}}));
        let done = ended("Succeeded", false, 4).unwrap();
        m.app_sync(web.clone(), "https://east", &done);
        m.app_sync(web, "https://east", &done);
        m.app_reconcile("argocd", "https://east", Duration::from_millis(300));
        m.app_reconcile("argocd", "https://east", Duration::from_secs(20));
        let text = m.render();
        for line in [
            "argocd_app_sync_total{dest_server=\"https://east\",dry_run=\"false\",name=\"web\",namespace=\"argocd\",phase=\"Succeeded\",project=\"default\"} 2\n",
            "argocd_app_sync_duration_seconds_total{dest_server=\"https://east\",name=\"web\",namespace=\"argocd\",project=\"default\"} 8\n",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        for (le, n) in [("0.25", 0), ("0.5", 1), ("16", 1), ("+Inf", 2)] {
            let line = format!(
                "argocd_app_reconcile_bucket{{dest_server=\"https://east\",namespace=\"argocd\",le=\"{le}\"}} {n}\n"
            );
            assert!(text.contains(&line), "{line} in\n{text}");
        }
    }

    /// Flux's histogram: Prometheus' `ExponentialBucketsRange(10e-3, 1800, 10)` bounds,
    /// one series per object, gone with the object.
    #[test]
    fn flux_reconciles_are_timed_per_object() {
        let bounds = &*FLUX_RECONCILE_BUCKETS;
        assert_eq!(bounds.len(), 10);
        assert!((bounds[0] - 0.01).abs() < 1e-12 && (bounds[9] - 1800.0).abs() < 1e-9);
        // Each bound about 3.8364 times the one before, as Go computes it.
        assert!(
            (bounds[1] / bounds[0] - 3.836_36).abs() < 1e-4,
            "{bounds:?}"
        );
        let m = Metrics::default();
        m.flux_reconcile(
            "Kustomization",
            "flux-system",
            "tenants",
            Duration::from_millis(30),
        );
        m.flux_reconcile(
            "GitRepository",
            "flux-system",
            "platform",
            Duration::from_secs(1),
        );
        let text = m.render();
        let series = "gotk_reconcile_duration_seconds_count{kind=\"Kustomization\",name=\"tenants\",namespace=\"flux-system\"} 1";
        assert!(text.contains(series), "{text}");
        assert!(text.contains("gotk_reconcile_duration_seconds_bucket{kind=\"Kustomization\",name=\"tenants\",namespace=\"flux-system\",le=\"0.01\"} 0"));
        m.forget_flux("Kustomization", "flux-system", "tenants");
        let text = m.render();
        assert!(!text.contains("name=\"tenants\""), "{text}");
        assert!(text.contains("kind=\"GitRepository\",name=\"platform\""));
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
