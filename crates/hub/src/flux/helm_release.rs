//! Flux `HelmRelease` (helm.toolkit.fluxcd.io/v2), as helm-controller v1.6 reconciles it:
//! the HelmChart made from `spec.chart` (server-side applied as `helm-controller`), or the
//! `chartRef` source; `dependsOn`; the source's readiness; the values ([`values`]); then
//! the release's state read from Helm's own records in the storage namespace and the
//! action it calls for — install, upgrade, unlock, or nothing — run by [`action`] against
//! the hub or `spec.kubeConfig`'s cluster, impersonating `spec.serviceAccountName`.
//! Conditions (`Released`, `Ready`, `Reconciling`, `Stalled`), messages, events,
//! `status.history` snapshots and the failure counters are helm-controller's.
//!
//! Remediation: with the default `retries: 0` a failed install or upgrade stalls as
//! upstream (`Failed to install after 1 attempt(s)`); with retries a failed install is
//! uninstalled and a failed upgrade rolled back (or uninstalled) before the next attempt.
//! `strategy: RetryOnFailure` remediates nothing: the failed release is upgraded again
//! every `retryInterval`, for ever, and a success clears the failure counters.
//! Kustomize post-renderers run as Helm 4's `combined` strategy runs them; drift
//! detection ([`drift`]) looks at a release in sync at each reconcile; Helm tests run
//! after each release. CEL health checks are refused by name.

pub mod action;
pub mod drift;
pub mod hooks;
pub mod values;

use flotilla_core::pointer::Pointer as _;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use flotilla_fleet::helm_release::{HelmRelease, short_release_name};
use flotilla_render::helm::storage::{Release, Status};
use flotilla_render::helm::{Chart, Table};
use flotilla_sync::Cluster;

use super::{DependencyError, ready_by_expression};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};

use super::conditions::Conditions;
use super::events::FluxEvent;
use super::{FINALIZER, FluxReconciler, Outcome, api_message, generation_of, go_duration};
use crate::controller::object_key;

/// The HelmRelease API group.
pub const HELM_GROUP: &str = "helm.toolkit.fluxcd.io";

/// The HelmRelease resource (`helm.toolkit.fluxcd.io/v2`).
pub fn helm_release_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(HELM_GROUP, "v2", "HelmRelease"),
        "helmreleases",
    )
}

/// The queue key of the chart source a HelmRelease reads: its `chartRef`, or the
/// HelmChart it creates from `spec.chart`.
pub fn chart_source_key(object: &Value) -> Option<String> {
    let s = |p: &str| object.at(p).and_then(Value::as_str).unwrap_or("");
    let namespace = s("/metadata/namespace");
    if object.at("/spec/chartRef").is_some() {
        let ref_namespace = match s("/spec/chartRef/namespace") {
            "" => namespace,
            other => other,
        };
        return Some(format!(
            "{}/{ref_namespace}/{}",
            s("/spec/chartRef/kind"),
            s("/spec/chartRef/name")
        ));
    }
    object.at("/spec/chart")?;
    let chart_namespace = match s("/spec/chart/spec/sourceRef/namespace") {
        "" => namespace,
        other => other,
    };
    Some(format!(
        "HelmChart/{chart_namespace}/{namespace}-{}",
        s("/metadata/name")
    ))
}

/// What this hub does not do, named (Stalled) rather than ignored.
fn unsupported(spec: &Value) -> Option<String> {
    let set = |p: &str| spec.at(p).is_some_and(|v| !v.is_null());
    let named = |p: &str| spec.at(p).and_then(Value::as_str).unwrap_or("");
    let refused = if spec
        .at("/postRenderers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|p| p.get("kustomize").is_none())
    {
        "a spec.postRenderers entry without kustomize"
    } else if set("/chart/spec/verify") {
        "spec.chart.spec.verify"
    } else if named("/chartRef/kind") == "ExternalArtifact" {
        "spec.chartRef of kind ExternalArtifact"
    } else if named("/chart/spec/sourceRef/kind") == "Bucket" {
        "spec.chart.spec.sourceRef of kind Bucket"
    } else if set("/kubeConfig/configMapRef") {
        "spec.kubeConfig.configMapRef"
    } else if spec.at("/install/serverSideApply") == Some(&json!(false))
        || named("/upgrade/serverSideApply") == "disabled"
        || named("/rollback/serverSideApply") == "disabled"
    {
        "client-side apply (serverSideApply: false)"
    } else {
        return None;
    };
    Some(format!("{refused} is not supported by this hub"))
}

/// One reconcile's status under construction, its events, and how it ends.
struct Run {
    status: Value,
    conditions: Conditions,
    events: Vec<FluxEvent>,
    /// Event annotations (`helm.toolkit.fluxcd.io/revision`, `/token`).
    metadata: BTreeMap<String, String>,
    /// Tests are on and their failures count (Ready follows `TestSuccess`).
    tests_gate: bool,
}

impl Run {
    fn event(&mut self, warning: bool, reason: &str, message: &str) {
        self.events.push(FluxEvent {
            warning,
            reason: reason.to_string(),
            message: message.to_string(),
            metadata: self.metadata.clone(),
        });
    }

    fn finish(mut self, requeue: Option<Duration>) -> Outcome {
        self.status["conditions"] = self.conditions.to_value();
        Outcome {
            status: Some(self.status),
            requeue,
            events: self.events,
        }
    }

    /// Ready=False for a prerequisite, Reconciling kept as upstream leaves it.
    fn not_ready(&mut self, reason: &str, message: &str) {
        self.conditions.set("Ready", "False", reason, message);
    }

    /// helm-controller's `summarize`: Ready follows `Remediated` (a remediated release is
    /// not Ready), else `TestSuccess` when tests gate the release, else `Released`.
    fn summarize(&mut self) {
        let source = ["Remediated", "TestSuccess", "Released"]
            .into_iter()
            .filter(|t| *t != "TestSuccess" || self.tests_gate)
            .find_map(|t| self.conditions.get(t).cloned().map(|c| (t, c)));
        let Some((type_, condition)) = source else {
            return;
        };
        let s = |k: &str| condition.get(k).and_then(Value::as_str).unwrap_or_default();
        let status = if type_ == "Remediated" {
            "False"
        } else {
            s("status")
        };
        let (reason, message) = (s("reason").to_string(), s("message").to_string());
        self.conditions.set("Ready", status, &reason, &message);
        if status == "True" {
            self.conditions.delete("Stalled");
        }
    }

    /// A release in sync: nothing to do, and a failure or remediation reported earlier
    /// is over (helm-controller's `InSync` handling).
    fn in_sync(&mut self) {
        self.conditions.delete("Reconciling");
        self.conditions.delete("Stalled");
        let failed_before = matches!(
            self.conditions.reason("Released"),
            Some("InstallFailed" | "UpgradeFailed")
        );
        if self.conditions.get("Remediated").is_some() || failed_before {
            self.conditions.delete("Remediated");
            let message = self
                .status
                .at("/history/0")
                .map(in_sync_message)
                .unwrap_or_default();
            self.conditions
                .set("Released", "True", "UpgradeSucceeded", &message);
        }
        self.summarize();
    }

    fn counter(&self, field: &str) -> i64 {
        self.status.get(field).and_then(Value::as_i64).unwrap_or(0)
    }

    /// Whether the failures counted in `counter` have used up `action`'s retries.
    fn retries_spent(&self, release: &HelmRelease, action: &str, counter: &str) -> bool {
        let retries = remediation_retries(release, action);
        let failures = self.counter(counter);
        failures > 0 && retries >= 0 && failures > retries
    }

    /// helm-controller's terminal `RetriesExceeded` stall.
    fn retries_exceeded(mut self, action: &str, counter: &str, generation: i64) -> Outcome {
        let message = format!(
            "Failed to {action} after {} attempt(s)",
            self.counter(counter)
        );
        self.conditions.stalled("RetriesExceeded", &message);
        self.summarize();
        self.status["observedGeneration"] = json!(generation);
        self.finish(None)
    }

    fn bump(&mut self, field: &str) {
        let next = self.counter(field) + 1;
        self.status[field] = json!(next);
    }

    /// `RetryOnFailure` after a failure: no remediation, no stall, the next attempt
    /// after `interval` (helm-controller's `ErrRetryAfterInterval`).
    fn retry_after(mut self, interval: Duration) -> Outcome {
        let message = format!("retrying after {}", go_duration(interval));
        self.conditions
            .reconciling("ProgressingWithRetry", &message);
        self.finish(Some(interval))
    }

    /// A release action succeeded under `RetryOnFailure`: its failures no longer count
    /// (helm-controller's `ClearFailures`).
    fn clear_failures(&mut self) {
        if let Some(status) = self.status.as_object_mut() {
            for counter in ["failures", "installFailures", "upgradeFailures"] {
                status.remove(counter);
            }
        }
    }
}

/// What a Helm action runs with.
struct Prepared {
    chart: Chart,
    values: Table,
    config_digest: String,
    cluster: Cluster,
}

/// A reconcile that ends before any Helm action, the run's conditions saying why; when
/// to run again.
struct Stop(Option<Duration>);

/// Why the chart source could not be had.
enum Refusal {
    /// A source in another namespace under the lockdown (terminal).
    AccessDenied(String),
    /// The HelmChart of `spec.chart` could not be applied (retried).
    ChartNotApplied(String),
}

/// The release's state in Helm's storage (helm-controller's `DetermineReleaseState`).
enum State {
    Absent,
    Locked(Release),
    Failed(Release),
    /// Deployed, but not what the spec asks (or not known to this HelmRelease).
    OutOfSync(Release),
    InSync,
}

/// A snapshot of a release record for `status.history` (helm-controller's `Snapshot`).
fn snapshot(release: &Release, config_digest: &str, action: &str) -> Value {
    let info = release.info.clone().unwrap_or_default();
    let chart = release.chart.as_ref();
    let text =
        |v: &Option<flotilla_render::helm::storage::Timestamp>| v.as_ref().map(|t| t.to_string());
    let digest = flotilla_fleet::helm_release::sha256_digest(
        serde_json::to_string(&json!({
            "name": release.name,
            "version": release.version,
            "info": info,
            "chartMetadata": chart.map(|c| &c.metadata),
            "config": release.config,
            "manifest": release.manifest,
            "namespace": release.namespace,
        }))
        .unwrap_or_default()
        .as_bytes(),
    );
    let mut snapshot = json!({
        "apiVersion": "v2",
        "digest": digest,
        "name": release.name,
        "namespace": release.namespace,
        "version": release.version,
        "status": info.status.as_ref().map_or("unknown", |s| s.as_str()),
        "action": action,
        "chartName": chart.map(|c| c.metadata.name.clone()).unwrap_or_default(),
        "chartVersion": chart.map(|c| c.metadata.version.clone()).unwrap_or_default(),
        "configDigest": config_digest,
        "firstDeployed": text(&info.first_deployed),
        "lastDeployed": text(&info.last_deployed),
    });
    let app_version = chart
        .map(|c| c.metadata.app_version.clone())
        .unwrap_or_default();
    if !app_version.is_empty() {
        snapshot["appVersion"] = json!(app_version);
    }
    snapshot
}

/// `namespace/name.vN`, as helm-controller names a release in messages.
fn full_name(release: &Release) -> String {
    format!(
        "{}/{}.v{}",
        release.namespace, release.name, release.version
    )
}

/// The chart at the root of an artifact's tree, or in its one top directory (a chart
/// pushed to an OCI registry unpacks as `<name>/Chart.yaml`).
fn load_chart(tree: &flotilla_render::kustomize::MemTree) -> Result<Chart, String> {
    use flotilla_render::kustomize::{EntryKind, Tree};
    if let Ok(Some(EntryKind::File)) = tree.entry("Chart.yaml") {
        return flotilla_render::helm::load_dir(tree, "").map_err(|e| e.to_string());
    }
    let dirs: Vec<String> = tree
        .list("")
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|(_, kind)| *kind == EntryKind::Dir)
        .map(|(name, _)| name)
        .filter(|name| {
            matches!(
                tree.entry(&format!("{name}/Chart.yaml")),
                Ok(Some(EntryKind::File))
            )
        })
        .collect();
    match dirs.as_slice() {
        [one] => flotilla_render::helm::load_dir(tree, one).map_err(|e| e.to_string()),
        _ => Err("no chart found in the artifact (Chart.yaml missing)".into()),
    }
}

impl FluxReconciler {
    /// Reconciles one HelmRelease as helm-controller does and returns its status.
    pub async fn reconcile_helm_release(&self, obj: &Value, now: &str) -> Outcome {
        let generation = generation_of(obj);
        let old_status = obj.get("status").cloned().unwrap_or(json!({}));
        let mut run = Run {
            status: old_status.clone(),
            conditions: Conditions::from_status(&old_status, generation, now),
            events: Vec::new(),
            metadata: BTreeMap::new(),
            tests_gate: false,
        };
        let release: HelmRelease = match serde_json::from_value::<HelmRelease>(obj.clone())
            .map_err(|e| e.to_string())
            .and_then(|r| r.validate().map(|()| r).map_err(|e| e.to_string()))
        {
            Ok(r) => r,
            Err(message) => {
                run.conditions.stalled("InvalidSpec", &message);
                run.not_ready("InvalidSpec", &message);
                run.status["observedGeneration"] = json!(generation);
                return run.finish(None);
            }
        };
        if obj.at("/metadata/deletionTimestamp").is_some() {
            return self.finalize_helm_release(obj, &release, run).await;
        }
        if let Some(requested) = obj
            .at("/metadata/annotations/reconcile.fluxcd.io~1requestedAt")
            .and_then(Value::as_str)
        {
            run.status["lastHandledReconcileAt"] = json!(requested);
        }
        if let Err(message) = self.ensure_finalizer(obj).await {
            tracing::warn!(helmrelease = %object_key(obj), %message, "adding the finalizer");
        }
        if release.spec.suspend {
            return Outcome {
                status: None,
                requeue: None,
                events: Vec::new(),
            };
        }
        let spec_value = obj.get("spec").cloned().unwrap_or(json!({}));
        if let Some(message) = unsupported(&spec_value) {
            run.conditions.stalled("UnsupportedFeature", &message);
            run.not_ready("UnsupportedFeature", &message);
            run.status["observedGeneration"] = json!(generation);
            return run.finish(None);
        }
        // Custom health checks (helm-controller compiles them before anything else).
        let health_exprs = match super::health_check_exprs(&spec_value) {
            Ok(exprs) => exprs,
            Err(e) => {
                let message = format!("{}: {e}", super::TERMINAL_ERROR_MESSAGE);
                run.conditions.stalled("InvalidCELExpression", &message);
                run.not_ready("InvalidCELExpression", &message);
                run.event(true, "InvalidCELExpression", &e);
                run.status["observedGeneration"] = json!(generation);
                return run.finish(None);
            }
        };
        let drift_detection = match DriftDetection::of(&spec_value) {
            Ok(detection) => detection,
            Err(message) => {
                run.conditions.stalled("InvalidSpec", &message);
                run.not_ready("InvalidSpec", &message);
                run.status["observedGeneration"] = json!(generation);
                return run.finish(None);
            }
        };
        let tests = helm_tests(
            &spec_value,
            &release,
            old_status["lastAttemptedReleaseAction"].as_str(),
        );
        run.tests_gate = tests.as_ref().is_some_and(|t| !t.ignore_failures);
        if tests.is_none() {
            run.conditions.delete("TestSuccess");
        }
        let interval = release.interval().unwrap_or(Duration::from_secs(600));
        let retry = self.options.source_retry.max(Duration::from_secs(10));

        let Prepared {
            chart,
            values,
            config_digest,
            cluster,
        } = match self
            .prerequisites(&release, obj, generation, retry, &mut run)
            .await
        {
            Ok(prepared) => prepared,
            Err(Stop(requeue)) => return run.finish(requeue),
        };
        let chart_version = chart.metadata.version.clone();
        let chart_name = chart.metadata.name.clone();

        // A new target (storage namespace, release namespace or name, or chart name under
        // the default `Reinstall` strategy): the old release is uninstalled first, as
        // helm-controller does, or its objects would stay behind or collide.
        if let Some(reason) = target_changed(&old_status, &release, &chart_name, &spec_value) {
            tracing::info!(
                helmrelease = %object_key(obj),
                "release target configuration changed ({reason}): running uninstall for current release"
            );
            let Stop(requeue) = self
                .uninstall_previous_target(&cluster, &release, &old_status, retry, &mut run)
                .await;
            return run.finish(requeue);
        }

        // Failures are counted per generation, chart version and values.
        let s = |field: &str| {
            old_status
                .get(field)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        if old_status
            .get("lastAttemptedGeneration")
            .and_then(Value::as_i64)
            != Some(generation)
            || s("lastAttemptedRevision") != chart_version
            || s("lastAttemptedConfigDigest") != config_digest
        {
            for field in ["failures", "installFailures", "upgradeFailures"] {
                if let Some(map) = run.status.as_object_mut() {
                    map.remove(field);
                }
            }
        }
        run.status["lastAttemptedGeneration"] = json!(generation);
        run.status["lastAttemptedRevision"] = json!(chart_version);
        run.status["lastAttemptedConfigDigest"] = json!(config_digest);
        run.status["storageNamespace"] = json!(release.storage_namespace());

        let release_name = short_release_name(&release.release_name());
        let releases =
            match action::history(&cluster, release.storage_namespace(), &release_name).await {
                Ok(r) => r,
                Err(e) => {
                    let message = format!("Could not determine release state: {e}");
                    run.not_ready("StateError", &message);
                    return run.finish(Some(retry));
                }
            };
        // As helm-controller: a new generation whose post-renderers or common metadata
        // changed is out of sync even when chart and values are not.
        let post_renderers_digest = spec_digest(&spec_value, "postRenderers");
        let common_metadata_digest = spec_digest(&spec_value, "commonMetadata");
        let observed = |field: &str| old_status.get(field).and_then(Value::as_str).unwrap_or("");
        let rendering_changed = old_status.get("observedGeneration").and_then(Value::as_i64)
            != Some(generation)
            && (observed("observedPostRenderersDigest") != post_renderers_digest
                || observed("observedCommonMetadataDigest") != common_metadata_digest);
        let mut state = release_state(
            &releases,
            &run.status,
            &chart_name,
            &chart_version,
            &config_digest,
        );
        // As helm-controller: a release whose tests failed, failures counting, is failed.
        let tests_failed = run
            .status
            .at("/history/0/testHooks")
            .and_then(Value::as_object)
            .is_some_and(|hooks| hooks.values().any(|h| h["phase"] == "Failed"));
        if run.tests_gate
            && tests_failed
            && let (State::InSync, Some(latest)) = (&state, releases.last())
        {
            state = State::Failed(latest.clone());
        }
        if rendering_changed
            && let State::InSync = state
            && let Some(latest) = releases.last()
        {
            state = State::OutOfSync(latest.clone());
        }
        let label = if matches!(state, State::Absent) {
            "install"
        } else {
            "upgrade"
        };
        let timeout = release.action_settings(label == "upgrade").timeout;
        let common = release.spec.common_metadata.clone().unwrap_or_default();
        let post_renderers: Vec<Value> = spec_value
            .get("postRenderers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let previous = match state {
            State::InSync => {
                run.in_sync();
                // What the checks of a release in sync apply with (no install settings).
                let plan = action::Plan {
                    release: &release_name,
                    health_exprs: health_exprs.as_ref(),
                    namespace: release.release_namespace(),
                    storage_namespace: release.storage_namespace(),
                    owner: (&release.metadata.name, &release.metadata.namespace),
                    values: &values,
                    crds: "Skip",
                    create_namespace: false,
                    wait: false,
                    wait_for_jobs: false,
                    cleanup_on_fail: false,
                    take_ownership: true,
                    reuse_values: false,
                    validate_schema: true,
                    hooks: false,
                    timeout: release.timeout(),
                    max_history: release.max_history(),
                    common_labels: common.labels.clone(),
                    common_annotations: common.annotations.clone(),
                    post_renderers: &post_renderers,
                };
                if let (Some(detection), Some(latest)) = (&drift_detection, releases.last()) {
                    self.handle_drift(&cluster, &plan, latest, detection, &mut run)
                        .await;
                } else {
                    run.conditions.delete("Drifted");
                }
                let untested = run.status.at("/history/0/testHooks").is_none();
                if let (Some(tests), Some(latest), true) = (&tests, releases.last(), untested) {
                    // A failed test counts against the action that made the release.
                    let action_name = match old_status["lastAttemptedReleaseAction"].as_str() {
                        Some("upgrade") => "upgrade",
                        _ => "install",
                    };
                    run = match self
                        .test_or_fail(
                            &cluster,
                            &release,
                            &plan,
                            latest,
                            tests,
                            action_name,
                            &config_digest,
                            generation,
                            run,
                        )
                        .await
                    {
                        Ok(run) => run,
                        Err(failed) => return failed,
                    };
                }
                run.status["observedGeneration"] = json!(generation);
                return run.finish(Some(interval));
            }
            State::Locked(stale) => {
                if !unlock_stale(&cluster, release.storage_namespace(), &stale, &mut run).await {
                    run.summarize();
                    return run.finish(Some(retry));
                }
                // The unlocked release is now a failed one: upgrade it.
                Some(stale)
            }
            State::Failed(failed) => {
                let action_name = old_status
                    .get("lastAttemptedReleaseAction")
                    .and_then(Value::as_str)
                    .unwrap_or("install");
                // `RetryOnFailure` upgrades a failed release whatever the counters say.
                let retried = release
                    .action_settings(action_name == "upgrade")
                    .retry
                    .is_some();
                if !retried && run.retries_spent(&release, action_name, "failures") {
                    return run.retries_exceeded(action_name, "failures", generation);
                }
                Some(failed)
            }
            State::OutOfSync(deployed) => {
                if run.retries_spent(&release, "upgrade", "upgradeFailures") {
                    return run.retries_exceeded("upgrade", "upgradeFailures", generation);
                }
                Some(deployed)
            }
            State::Absent => {
                if run.retries_spent(&release, "install", "installFailures") {
                    return run.retries_exceeded("install", "installFailures", generation);
                }
                None
            }
        };

        // The action.
        let is_upgrade = previous.is_some();
        let progress = format!(
            "Running '{label}' action with timeout of {}",
            go_duration(timeout)
        );
        run.conditions.reconciling("Progressing", &progress);
        let settings = release.action_settings(is_upgrade);
        let plan = action::Plan {
            release: &release_name,
            health_exprs: health_exprs.as_ref(),
            namespace: release.release_namespace(),
            storage_namespace: release.storage_namespace(),
            owner: (&release.metadata.name, &release.metadata.namespace),
            values: &values,
            crds: settings.crds,
            create_namespace: release
                .spec
                .install
                .as_ref()
                .is_some_and(|i| i.create_namespace)
                && !release.spec.target_namespace.is_empty(),
            wait: settings.wait,
            wait_for_jobs: settings.wait_for_jobs,
            cleanup_on_fail: settings.cleanup_on_fail,
            take_ownership: settings.take_ownership,
            reuse_values: settings.reuse_values,
            validate_schema: settings.validate_schema,
            hooks: settings.hooks,
            timeout,
            max_history: release.max_history(),
            common_labels: common.labels.clone(),
            common_annotations: common.annotations.clone(),
            post_renderers: &post_renderers,
        };
        let version = releases.last().map_or(1, |r| r.version + 1);
        let chart_ref = format!("{chart_name}@{chart_version}");
        run.status["lastAttemptedReleaseAction"] = json!(label);
        let started = std::time::Instant::now();
        let outcome =
            action::install_or_upgrade(&cluster, &chart, &plan, version, previous.as_ref()).await;
        run.status["lastAttemptedReleaseActionDuration"] = json!(go_duration(
            Duration::from_millis(started.elapsed().as_millis() as u64)
        ));
        let (ok_reason, failed_reason) = if is_upgrade {
            ("UpgradeSucceeded", "UpgradeFailed")
        } else {
            ("InstallSucceeded", "InstallFailed")
        };
        let verb = if is_upgrade { "upgrade" } else { "install" };
        match outcome {
            Ok(done) => {
                let message = format!(
                    "Helm {verb} succeeded for release {} with chart {chart_ref}",
                    full_name(&done.release)
                );
                run.conditions.set("Released", "True", ok_reason, &message);
                if settings.retry.is_some() {
                    run.clear_failures();
                }
                run.conditions.delete("Remediated");
                run.conditions.delete("Reconciling");
                run.conditions.delete("Stalled");
                let entry = snapshot(&done.release, &config_digest, verb);
                let mut history = vec![entry];
                if is_upgrade
                    && let Some(prior) = run
                        .status
                        .get("history")
                        .and_then(Value::as_array)
                        .and_then(|h| h.first())
                {
                    let mut prior = prior.clone();
                    prior["status"] = json!("superseded");
                    history.push(prior);
                }
                run.status["history"] = json!(history);
                run.status["inventory"] = inventory(&done.objects, plan.namespace);
                for (field, digest) in [
                    ("observedPostRenderersDigest", &post_renderers_digest),
                    ("observedCommonMetadataDigest", &common_metadata_digest),
                ] {
                    set_or_remove(&mut run.status, field, digest);
                }
                run.event(false, ok_reason, &message);
                // Test failures now count for this action's remediation.
                let tests = helm_tests(&spec_value, &release, Some(label));
                run.tests_gate = tests.as_ref().is_some_and(|t| !t.ignore_failures);
                if let Some(tests) = &tests {
                    run = match self
                        .test_or_fail(
                            &cluster,
                            &release,
                            &plan,
                            &done.release,
                            tests,
                            verb,
                            &config_digest,
                            generation,
                            run,
                        )
                        .await
                    {
                        Ok(run) => run,
                        Err(failed) => return failed,
                    };
                } else {
                    run.summarize();
                }
                run.status["observedGeneration"] = json!(generation);
                run.finish(Some(interval))
            }
            Err(failure) => {
                let message = format!(
                    "Helm {verb} failed for release {}/{} with chart {chart_ref}: {}",
                    plan.namespace,
                    release.release_name(),
                    failure.message.trim()
                );
                run.conditions
                    .set("Released", "False", failed_reason, &message);
                run.event(true, failed_reason, &message);
                run.summarize();
                if !failure.recorded
                    && let Some(interval) = settings.retry
                {
                    return run.retry_after(interval);
                }
                if !failure.recorded {
                    run.conditions.retry_reconciling();
                    return run.finish(Some(retry));
                }
                self.failed_release(
                    &cluster,
                    &release,
                    &plan,
                    verb,
                    &config_digest,
                    generation,
                    run,
                )
                .await
            }
        }
    }

    /// Helm tests of a release that just deployed (or was never tested): `TestSuccess`,
    /// its events and the snapshot's `testHooks`; `Err` when a test failed and failures
    /// count.
    async fn test_release(
        &self,
        cluster: &Cluster,
        plan: &action::Plan<'_>,
        record: &Release,
        tests: &hooks::TestSpec,
        run: &mut Run,
    ) -> Result<(), ()> {
        let mut record = record.clone();
        let outcome = hooks::run_tests(cluster, plan.storage_namespace, &mut record, tests).await;
        let hooks: serde_json::Map<String, Value> = record
            .hooks
            .iter()
            .filter(|h| h.events.iter().any(|e| e == "test") && !h.last_run.phase.is_empty())
            .map(|h| {
                let time = |t: &Option<flotilla_render::helm::storage::Timestamp>| {
                    t.as_ref().map(|t| t.to_string())
                };
                (
                    h.name.clone(),
                    json!({"lastStarted": time(&h.last_run.started_at),
                           "lastCompleted": time(&h.last_run.completed_at),
                           "phase": h.last_run.phase}),
                )
            })
            .collect();
        if let Some(latest) = run.status.pointer_mut("/history/0") {
            latest["testHooks"] = Value::Object(hooks);
        }
        let name = format!("{} with chart {}", full_name(&record), chart_of(&record));
        match outcome {
            Ok(count) => {
                let detail = match count {
                    0 => "no test hooks".to_string(),
                    1 => "1 test hook completed successfully".to_string(),
                    n => format!("{n} test hooks completed successfully"),
                };
                let message = format!("Helm test succeeded for release {name}: {detail}");
                run.conditions
                    .set("TestSuccess", "True", "TestSucceeded", &message);
                run.event(false, "TestSucceeded", &message);
                Ok(())
            }
            Err(e) => {
                let message = format!("Helm test failed for release {name}: {e}");
                run.conditions
                    .set("TestSuccess", "False", "TestFailed", &message);
                run.event(true, "TestFailed", &message);
                if tests.ignore_failures {
                    Ok(())
                } else {
                    Err(())
                }
            }
        }
    }

    /// Helm tests of `record`, then the summary; a failed test that counts fails the
    /// release for `action` ([`Self::failed_release`]: remediated, retried or stalled),
    /// which is the reconcile's outcome.
    #[allow(clippy::too_many_arguments)]
    async fn test_or_fail(
        &self,
        cluster: &Cluster,
        release: &HelmRelease,
        plan: &action::Plan<'_>,
        record: &Release,
        tests: &hooks::TestSpec,
        action: &str,
        config_digest: &str,
        generation: i64,
        mut run: Run,
    ) -> Result<Run, Outcome> {
        let failed = self
            .test_release(cluster, plan, record, tests, &mut run)
            .await
            .is_err();
        run.summarize();
        if !failed {
            return Ok(run);
        }
        Err(self
            .failed_release(
                cluster,
                release,
                plan,
                action,
                config_digest,
                generation,
                run,
            )
            .await)
    }

    /// A release whose install, upgrade or tests failed with its record written:
    /// helm-controller's failure counters, the failed snapshot, then under
    /// `RetryOnFailure` the next attempt (an upgrade) after its interval; otherwise
    /// remediation by the action's policy, then the next attempt at once or, retries
    /// spent, the stall.
    #[allow(clippy::too_many_arguments)]
    async fn failed_release(
        &self,
        cluster: &Cluster,
        release: &HelmRelease,
        plan: &action::Plan<'_>,
        verb: &str,
        config_digest: &str,
        generation: i64,
        mut run: Run,
    ) -> Outcome {
        let counter = failure_counter(verb);
        run.bump("failures");
        run.bump(counter);
        let policy = RemediationPolicy::of(release, verb);
        let failures = run.counter(counter);
        let exhausted = policy.retries >= 0 && failures > policy.retries;
        let failed = action::history(cluster, plan.storage_namespace, plan.release)
            .await
            .ok()
            .and_then(|records| records.last().cloned());
        if let Some(failed) = &failed {
            let earlier = run
                .status
                .get("history")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut entry = snapshot(failed, config_digest, verb);
            // A failed test leaves the record it tested: its snapshot is replaced, the
            // test results kept.
            let same = |s: &Value| s["version"] == json!(failed.version);
            if let Some(tested) = earlier.first().filter(|s| same(s))
                && let Some(hooks) = tested.get("testHooks")
            {
                entry["testHooks"] = hooks.clone();
            }
            let history: Vec<Value> = std::iter::once(entry)
                .chain(earlier.into_iter().skip_while(same))
                .take(5)
                .collect();
            run.status["history"] = json!(history);
        }
        if let Some(interval) = release.action_settings(verb == "upgrade").retry {
            return run.retry_after(interval);
        }
        if (!exhausted || policy.remediate_last_failure)
            && let Some(failed) = failed
        {
            let remediated = self
                .remediate(cluster, release, plan, &policy, &failed, &mut run)
                .await;
            if let Err(stall) = remediated {
                run.conditions.stalled("MissingRollbackTarget", &stall);
                run.summarize();
                run.status["observedGeneration"] = json!(generation);
                return run.finish(None);
            }
        }
        if exhausted {
            return run.retries_exceeded(verb, counter, generation);
        }
        // Remediated: the next attempt runs at once, as helm-controller requeues.
        run.conditions.retry_reconciling();
        run.finish(Some(REMEDIATION_REQUEUE))
    }

    /// Drift detection of a release in sync: `Drifted` and its events, and with
    /// `mode: enabled` the drifted objects applied again (helm-controller's
    /// `CorrectClusterDrift`).
    async fn handle_drift(
        &self,
        cluster: &Cluster,
        plan: &action::Plan<'_>,
        latest: &Release,
        detection: &DriftDetection,
        run: &mut Run,
    ) {
        let drifts = match action::detect_drift(cluster, plan, latest, &detection.ignore).await {
            Ok(drifts) => drifts,
            Err(e) => {
                tracing::warn!(release = %full_name(latest), error = %e, "detecting drift");
                return;
            }
        };
        if drifts.is_empty() {
            run.conditions.set(
                "Drifted",
                "False",
                "NoDriftDetected",
                "No drift detected against the cluster state",
            );
            return;
        }
        let found: Vec<drift::Drifted> = drifts.iter().map(|d| d.drifted.clone()).collect();
        let message = format!(
            "Cluster state of release {} has drifted from the desired state:\n{}",
            full_name(latest),
            drift::summary(&found)
        );
        run.conditions
            .set("Drifted", "True", "DriftDetected", &message);
        run.event(true, "DriftDetected", &message);
        if !detection.correct {
            return;
        }
        let (changes, errors) = action::correct_drift(cluster, &drifts).await;
        if errors.is_empty() {
            run.event(
                false,
                "DriftCorrected",
                &format!(
                    "Cluster state of release {} has been corrected:\n{}",
                    full_name(latest),
                    changes.join("\n")
                ),
            );
            return;
        }
        let mut message = format!(
            "Failed to {}correct cluster state of release {}:\n{}",
            if changes.is_empty() { "" } else { "partially " },
            full_name(latest),
            errors.join("\n")
        );
        if !changes.is_empty() {
            message.push_str(&format!(
                "\n\nSuccessful corrections:\n{}",
                changes.join("\n")
            ));
        }
        run.event(true, "DriftCorrectionFailed", &message);
    }

    /// helm-controller's remediation of a failed release: uninstall it, or roll back to
    /// the revision before it (`Remediated`, events, the failure counted when it fails).
    /// `Err` names a rollback with nothing to roll back to (terminal).
    async fn remediate(
        &self,
        cluster: &Cluster,
        release: &HelmRelease,
        plan: &action::Plan<'_>,
        policy: &RemediationPolicy,
        failed: &Release,
        run: &mut Run,
    ) -> Result<(), String> {
        let name = format!("{} with chart {}", full_name(failed), chart_of(failed));
        if policy.uninstall {
            let outcome = action::uninstall(
                cluster,
                plan.storage_namespace,
                plan.release,
                &release.uninstall_settings(),
            )
            .await;
            match outcome {
                Ok(()) => {
                    let message =
                        format!("Helm uninstall remediation for release {name} succeeded");
                    run.conditions
                        .set("Remediated", "True", "UninstallSucceeded", &message);
                    run.event(false, "UninstallSucceeded", &message);
                    if let Some(latest) = run.status.pointer_mut("/history/0") {
                        latest["status"] = json!("uninstalled");
                    }
                }
                Err(e) => {
                    let message =
                        format!("Helm uninstall remediation for release {name} failed: {e}");
                    run.conditions
                        .set("Remediated", "False", "UninstallFailed", &message);
                    run.event(true, "UninstallFailed", &message);
                    run.bump("failures");
                }
            }
            run.summarize();
            return Ok(());
        }
        let records = action::history(cluster, plan.storage_namespace, plan.release)
            .await
            .unwrap_or_default();
        let Some(target) = records
            .iter()
            .rev()
            .filter(|r| r.version < failed.version)
            .find(|r| {
                matches!(
                    r.info.as_ref().and_then(|i| i.status.as_ref()),
                    Some(Status::Deployed | Status::Superseded)
                )
            })
        else {
            return Err(
                "Failed to perform remediation: missing target release for rollback: required to rollback"
                    .into(),
            );
        };
        let previous = format!("{} with chart {}", full_name(target), chart_of(target));
        let settings = release.rollback_settings();
        let rollback_plan = action::Plan {
            timeout: settings.timeout,
            wait: settings.wait,
            wait_for_jobs: settings.wait_for_jobs,
            hooks: settings.hooks,
            cleanup_on_fail: settings.cleanup_on_fail,
            ..plan.clone()
        };
        match action::rollback(cluster, &rollback_plan, target, failed, failed.version + 1).await {
            Ok(rolled_back) => {
                let message = format!("Helm rollback to previous release {previous} succeeded");
                run.conditions
                    .set("Remediated", "True", "RollbackSucceeded", &message);
                run.event(false, "RollbackSucceeded", &message);
                let entry = snapshot(
                    &rolled_back,
                    &values::config_digest(&rolled_back.config),
                    "rollback",
                );
                let earlier = run
                    .status
                    .get("history")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let history: Vec<Value> = std::iter::once(entry).chain(earlier).take(5).collect();
                run.status["history"] = json!(history);
            }
            Err(e) => {
                let message = format!(
                    "Helm rollback to previous release {previous} failed: {}",
                    e.message.trim()
                );
                run.conditions
                    .set("Remediated", "False", "RollbackFailed", &message);
                run.event(true, "RollbackFailed", &message);
                run.bump("failures");
            }
        }
        run.summarize();
        Ok(())
    }

    /// Everything a Helm action needs, in helm-controller's order: the chart source (the
    /// HelmChart of `spec.chart` applied, or the chartRef), the dependencies, the source's
    /// readiness and artifact, the values, the chart, the target cluster. On the way out
    /// the run holds the conditions that say why not.
    async fn prerequisites(
        &self,
        release: &HelmRelease,
        object: &Value,
        generation: i64,
        retry: Duration,
        run: &mut Run,
    ) -> Result<Prepared, Stop> {
        // The HelmChart of `spec.chart`, or the chartRef.
        let source = match self.chart_source(release, run).await {
            Ok(source) => source,
            Err(Refusal::AccessDenied(message)) => {
                run.conditions.stalled("AccessDenied", &message);
                run.not_ready("AccessDenied", &message);
                run.event(true, "AccessDenied", &message);
                run.status["observedGeneration"] = json!(generation);
                return Err(Stop(None));
            }
            Err(Refusal::ChartNotApplied(message)) => {
                run.not_ready("ArtifactFailed", &message);
                return Err(Stop(Some(retry)));
            }
        };
        run.conditions
            .reconciling("Progressing", "Fulfilling prerequisites");

        // Dependencies.
        match self.helm_dependencies_ready(release, object).await {
            Ok(()) => {}
            Err(DependencyError::NotReady(message)) => {
                run.not_ready("DependencyNotReady", &message);
                run.event(false, "DependencyNotReady", &message);
                return Err(Stop(Some(self.options.dependency_requeue)));
            }
            Err(DependencyError::Terminal(e)) => {
                let message = format!("{}: {e}", super::TERMINAL_ERROR_MESSAGE);
                run.conditions.stalled("InvalidCELExpression", &message);
                run.not_ready("InvalidCELExpression", &message);
                run.event(true, "InvalidCELExpression", &e);
                return Err(Stop(None));
            }
        }

        // The source's readiness and artifact.
        let (kind, source_namespace, source_name) = source;
        let tree = match self
            .ready_chart_source(&kind, &source_namespace, &source_name)
            .await
        {
            Ok(tree) => tree,
            Err((reason, message)) => {
                run.not_ready(reason, &message);
                return Err(Stop(Some(self.options.dependency_requeue)));
            }
        };

        // Values.
        let values = match self.helm_values(release).await {
            Ok(values) => values,
            Err(message) => {
                run.not_ready("ValuesError", &message);
                run.event(true, "ValuesError", &message);
                return Err(Stop(Some(retry)));
            }
        };
        let config_digest = values::config_digest(&values);

        // The chart.
        let mut chart = match load_chart(&tree.tree) {
            Ok(chart) => chart,
            Err(e) => {
                let message = format!("Could not load chart: {e}");
                run.not_ready("ArtifactFailed", &message);
                run.event(true, "ArtifactFailed", &message);
                return Err(Stop(Some(retry)));
            }
        };
        if kind == "OCIRepository" {
            // As helm-controller: the version carries the artifact's digest.
            let digest = tree.revision.rsplit_once('@').map_or("", |(_, d)| d);
            let hex = digest.trim_start_matches("sha256:");
            if hex.len() >= 12 {
                let version = format!(
                    "{}+{}",
                    chart.metadata.version.split('+').next().unwrap_or_default(),
                    &hex[..12]
                );
                chart.metadata.version = version.clone();
                chart.metadata.raw.insert("version".into(), json!(version));
                run.status["lastAttemptedRevisionDigest"] = json!(digest);
            }
        }
        run.metadata.insert(
            format!("{HELM_GROUP}/revision"),
            chart.metadata.version.clone(),
        );
        run.metadata
            .insert(format!("{HELM_GROUP}/token"), config_digest.clone());

        let cluster = match self
            .target_for(
                &release.metadata.namespace,
                release.spec.kube_config.as_ref(),
                &release.spec.service_account_name,
            )
            .await
        {
            Ok(cluster) => cluster,
            Err(message) => {
                run.not_ready("RESTClientError", &message);
                return Err(Stop(Some(retry)));
            }
        };
        Ok(Prepared {
            chart,
            values,
            config_digest,
            cluster,
        })
    }

    /// helm-controller on a release target change: the release the status names is
    /// uninstalled (from its storage namespace, by its name), history and failures are
    /// cleared, and the new target is installed at the next run.
    async fn uninstall_previous_target(
        &self,
        cluster: &Cluster,
        release: &HelmRelease,
        old_status: &Value,
        retry: Duration,
        run: &mut Run,
    ) -> Stop {
        let old_storage = old_status["storageNamespace"].as_str().unwrap_or_default();
        let old_name = old_status
            .at("/history/0/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let uninstalled = action::uninstall(
            cluster,
            old_storage,
            old_name,
            &release.uninstall_settings(),
        )
        .await;
        if let Err(e) = uninstalled {
            let message = format!("Helm uninstall failed for the release's previous target: {e}");
            run.not_ready("UninstallFailed", &message);
            run.event(true, "UninstallFailed", &message);
            return Stop(Some(retry));
        }
        if let Some(map) = run.status.as_object_mut() {
            for field in [
                "history",
                "failures",
                "installFailures",
                "upgradeFailures",
                "storageNamespace",
                "inventory",
            ] {
                map.remove(field);
            }
        }
        Stop(Some(REMEDIATION_REQUEUE))
    }

    /// The chart source of a HelmRelease as `(kind, namespace, name)`: for `spec.chart`
    /// its HelmChart applied (and a HelmChart left by an earlier spec deleted).
    async fn chart_source(
        &self,
        release: &HelmRelease,
        run: &mut Run,
    ) -> Result<(String, String, String), Refusal> {
        let hr_namespace = &release.metadata.namespace;
        let previous_chart = run
            .status
            .get("helmChart")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let (kind, namespace, name) = match (&release.spec.chart, &release.spec.chart_ref) {
            (_, Some(chart_ref)) => {
                let namespace = if chart_ref.namespace.is_empty() {
                    hr_namespace.clone()
                } else {
                    chart_ref.namespace.clone()
                };
                (chart_ref.kind.clone(), namespace, chart_ref.name.clone())
            }
            _ => (
                "HelmChart".to_string(),
                release.helm_chart_namespace().to_string(),
                release.helm_chart_name(),
            ),
        };
        if self.options.no_cross_namespace_refs && &namespace != hr_namespace {
            return Err(Refusal::AccessDenied(format!(
                "cross-namespace references are not allowed: cannot access {kind} {namespace}/{name}"
            )));
        }
        let wanted = format!("{namespace}/{name}");
        let made_here = release.spec.chart.is_some();
        if !previous_chart.is_empty() && (!made_here || previous_chart != wanted) {
            self.delete_helm_chart(&previous_chart).await;
            if let Some(map) = run.status.as_object_mut() {
                map.remove("helmChart");
            }
        }
        if made_here {
            self.apply_helm_chart(release, &namespace, &name)
                .await
                .map_err(Refusal::ChartNotApplied)?;
        }
        if made_here {
            run.status["helmChart"] = json!(wanted);
        }
        Ok((kind, namespace, name))
    }

    /// Server-side applies the HelmChart of `spec.chart` as helm-controller does.
    async fn apply_helm_chart(
        &self,
        release: &HelmRelease,
        namespace: &str,
        name: &str,
    ) -> Result<(), String> {
        let Some(template) = &release.spec.chart else {
            return Ok(());
        };
        let spec = &template.spec;
        let mut labels = template
            .metadata
            .as_ref()
            .map(|m| m.labels.clone())
            .unwrap_or_default();
        labels.insert(action::NAME_LABEL.into(), release.metadata.name.clone());
        labels.insert(
            action::NAMESPACE_LABEL.into(),
            release.metadata.namespace.clone(),
        );
        let mut body = json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "HelmChart",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {
                "chart": spec.chart,
                "version": if spec.version.is_empty() { "*" } else { &spec.version },
                "sourceRef": {"kind": spec.source_ref.kind, "name": spec.source_ref.name},
                "interval": spec.interval.clone().unwrap_or_else(|| release.spec.interval.clone()),
                "reconcileStrategy": if spec.reconcile_strategy.is_empty() { "ChartVersion" } else { &spec.reconcile_strategy },
            },
        });
        if let Some(annotations) = template.metadata.as_ref().map(|m| &m.annotations)
            && !annotations.is_empty()
        {
            body["metadata"]["annotations"] = json!(annotations);
        }
        if !spec.values_files.is_empty() {
            body["spec"]["valuesFiles"] = json!(spec.values_files);
        }
        if spec.ignore_missing_values_files {
            body["spec"]["ignoreMissingValuesFiles"] = json!(true);
        }
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.hub.clone(),
            namespace,
            &super::helm_chart::helm_chart_resource(),
        );
        api.patch(
            name,
            &PatchParams::apply(action::FIELD_MANAGER),
            &Patch::Apply(&body),
        )
        .await
        .map(drop)
        .map_err(|e| format!("failed to run server-side apply: {}", api_message(&e)))
    }

    /// Deletes the HelmChart at `namespace/name` (gone already is fine).
    async fn delete_helm_chart(&self, key: &str) {
        let Some((namespace, name)) = key.split_once('/') else {
            return;
        };
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.hub.clone(),
            namespace,
            &super::helm_chart::helm_chart_resource(),
        );
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                tracing::warn!(helmchart = %key, error = %api_message(&e), "deleting a HelmChart")
            }
        }
    }

    /// helm-controller's dependency check: each HelmRelease of `dependsOn` exists; its
    /// `readyExpr` (CEL over `self` and `dep`) then decides alone, else it must have
    /// observed its generation and be Ready.
    async fn helm_dependencies_ready(
        &self,
        release: &HelmRelease,
        object: &Value,
    ) -> Result<(), DependencyError> {
        let entries = object
            .at("/spec/dependsOn")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (i, (namespace, name)) in release.dependencies().into_iter().enumerate() {
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.hub.clone(), &namespace, &helm_release_resource());
            let dependency = match api.get_opt(&name).await {
                Ok(Some(d)) => serde_json::to_value(d).unwrap_or(Value::Null),
                Ok(None) => {
                    return Err(DependencyError::NotReady(format!(
                        "unable to get '{namespace}/{name}' dependency: helmreleases.{HELM_GROUP} \"{name}\" not found"
                    )));
                }
                Err(e) => {
                    return Err(DependencyError::NotReady(format!(
                        "unable to get '{namespace}/{name}' dependency: {}",
                        api_message(&e)
                    )));
                }
            };
            let ready_expr = entries
                .get(i)
                .and_then(|entry| entry.get("readyExpr"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if !ready_expr.is_empty() {
                ready_by_expression(ready_expr, object, &dependency, &namespace, &name)?;
                continue;
            }
            if !is_ready(&dependency) {
                return Err(DependencyError::NotReady(format!(
                    "dependency '{namespace}/{name}' is not ready"
                )));
            }
        }
        Ok(())
    }

    /// The chart source's artifact once the source is ready (helm-controller's
    /// `SourceNotReady` and `ArtifactFailed` otherwise).
    async fn ready_chart_source(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<crate::sources::SourceTree, (&'static str, String)> {
        let resource = super::resource_of(kind);
        let api: Api<DynamicObject> = Api::namespaced_with(self.hub.clone(), namespace, &resource);
        let source = match api.get_opt(name).await {
            Ok(Some(s)) => serde_json::to_value(s).unwrap_or(Value::Null),
            Ok(None) => {
                return Err((
                    "ArtifactFailed",
                    format!(
                        "could not get Source object: {}.{} \"{name}\" not found",
                        resource.plural, resource.group
                    ),
                ));
            }
            Err(e) => {
                return Err((
                    "ArtifactFailed",
                    format!("could not get Source object: {}", api_message(&e)),
                ));
            }
        };
        let not_ready = |detail: &str| {
            (
                "SourceNotReady",
                format!("{kind} '{namespace}/{name}' is not ready: {detail}"),
            )
        };
        let conditions = Conditions::from_status(
            source.get("status").unwrap_or(&Value::Null),
            generation_of(&source),
            "",
        );
        if source
            .at("/status/observedGeneration")
            .and_then(Value::as_i64)
            != Some(generation_of(&source))
        {
            let detail = match conditions.get("Ready") {
                Some(c) if c["status"] == "False" => {
                    c["message"].as_str().unwrap_or_default().to_string()
                }
                _ => "latest generation of object has not been reconciled".to_string(),
            };
            return Err(not_ready(&detail));
        }
        if conditions.is("Stalled", "True") {
            return Err(not_ready(conditions.message("Stalled").unwrap_or_default()));
        }
        if source.at("/status/artifact").is_none() {
            return Err(not_ready("does not have an artifact"));
        }
        self.artifact(kind, &format!("{namespace}/{name}"))
            .ok_or_else(|| {
                (
                    "ArtifactFailed",
                    format!(
                        "Source not ready: artifact not found. Retrying in {}",
                        go_duration(self.options.dependency_requeue)
                    ),
                )
            })
    }

    /// The composed values: `valuesFrom` read from the HelmRelease's namespace.
    async fn helm_values(&self, release: &HelmRelease) -> Result<Table, String> {
        let namespace = &release.metadata.namespace;
        let mut found: HashMap<(String, String), values::Lookup> = HashMap::new();
        for reference in &release.spec.values_from {
            let key = (reference.kind.clone(), reference.name.clone());
            if found.contains_key(&key) {
                continue;
            }
            let data = self
                .config_data(&reference.kind, namespace, &reference.name)
                .await;
            found.insert(key, data);
        }
        values::compose(
            namespace,
            &release.spec.values_from,
            release.spec.values.as_ref(),
            &found,
        )
    }

    /// A HelmRelease being deleted: unless suspended, its release uninstalled (the
    /// objects deleted, the records too unless `uninstall.keepHistory`) and its HelmChart
    /// deleted; then the finalizer goes.
    async fn finalize_helm_release(&self, obj: &Value, release: &HelmRelease, run: Run) -> Outcome {
        let finalizers = super::finalizers_of(obj);
        if !finalizers.iter().any(|f| f == FINALIZER) {
            return Outcome {
                status: None,
                requeue: None,
                events: Vec::new(),
            };
        }
        let storage_namespace = run
            .status
            .get("storageNamespace")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if !release.spec.suspend && !storage_namespace.is_empty() {
            let service_account = self.service_account_for(&release.spec.service_account_name);
            let sa_missing = !service_account.is_empty()
                && release.spec.kube_config.is_none()
                && matches!(
                    Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(
                        self.hub.clone(),
                        &release.metadata.namespace
                    )
                    .get_opt(service_account)
                    .await,
                    Ok(None)
                );
            if sa_missing {
                tracing::error!(
                    helmrelease = %object_key(obj),
                    service_account = %service_account,
                    "skipping Helm uninstall: the service account to impersonate is gone"
                );
            } else {
                let uninstalled = match self
                    .target_for(
                        &release.metadata.namespace,
                        release.spec.kube_config.as_ref(),
                        &release.spec.service_account_name,
                    )
                    .await
                {
                    Ok(cluster) => {
                        action::uninstall(
                            &cluster,
                            &storage_namespace,
                            &short_release_name(&release.release_name()),
                            &release.uninstall_settings(),
                        )
                        .await
                    }
                    Err(e) => Err(e),
                };
                if let Err(e) = uninstalled {
                    let message = format!("Helm uninstall failed: {e}");
                    let mut run = run;
                    run.not_ready("UninstallFailed", &message);
                    run.event(true, "UninstallFailed", &message);
                    return run.finish(Some(self.options.source_retry));
                }
            }
            if let Some(chart) = obj.at("/status/helmChart").and_then(Value::as_str) {
                self.delete_helm_chart(chart).await;
            }
        }
        let remaining: Vec<String> = finalizers.into_iter().filter(|f| f != FINALIZER).collect();
        if let Err(message) = self.set_finalizers(obj, remaining).await {
            tracing::warn!(helmrelease = %object_key(obj), %message, "removing the finalizer");
            return Outcome {
                status: None,
                requeue: Some(self.options.source_retry),
                events: Vec::new(),
            };
        }
        Outcome {
            status: None,
            requeue: None,
            events: Vec::new(),
        }
    }
}

/// Whether a Flux object has observed its generation and is Ready.
fn is_ready(object: &Value) -> bool {
    let generation = generation_of(object);
    let observed = object
        .at("/status/observedGeneration")
        .and_then(Value::as_i64)
        .unwrap_or(-1);
    let ready = object
        .at("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True");
    observed == generation && ready
}

/// helm-controller's unlock of a release stuck `pending-*`: the record marked failed and
/// `Released=False PendingRelease` with its event; false when the record could not be
/// written.
async fn unlock_stale(
    cluster: &Cluster,
    storage_namespace: &str,
    stale: &Release,
    run: &mut Run,
) -> bool {
    let from = stale
        .info
        .as_ref()
        .and_then(|i| i.status.clone())
        .unwrap_or(Status::Unknown);
    let what = format!(
        "Helm release {} with chart {} in {} state",
        full_name(stale),
        chart_of(stale),
        from.as_str()
    );
    let (message, failed) = match action::unlock(cluster, storage_namespace, stale).await {
        Ok(()) => (format!("Unlocked {what}"), false),
        Err(e) => (format!("Unlock of {what} failed: {e}"), true),
    };
    run.conditions
        .set("Released", "False", "PendingRelease", &message);
    run.event(failed, "PendingRelease", &message);
    !failed
}

/// The status field counting `action`'s failures.
fn failure_counter(action: &str) -> &'static str {
    if action == "upgrade" {
        "upgradeFailures"
    } else {
        "installFailures"
    }
}

/// `remediation.retries` of `install` or `upgrade` (0 by default; negative: for ever).
fn remediation_retries(release: &HelmRelease, action: &str) -> i64 {
    RemediationPolicy::of(release, action).retries
}

/// helm-controller's digest of a part of the spec (`sha256` of its JSON; empty when the
/// part is unset).
fn spec_digest(spec: &Value, field: &str) -> String {
    match spec.get(field) {
        None | Some(Value::Null) => String::new(),
        Some(part) => flotilla_fleet::helm_release::sha256_digest(
            format!("{}\n", serde_json::to_string(part).unwrap_or_default()).as_bytes(),
        ),
    }
}

/// Sets `status[field]`, or removes it when `value` is empty.
fn set_or_remove(status: &mut Value, field: &str, value: &str) {
    if value.is_empty() {
        if let Some(map) = status.as_object_mut() {
            map.remove(field);
        }
    } else {
        status[field] = json!(value);
    }
}

/// helm-controller's `ReleaseTargetChanged`: what changed since the last release, if
/// anything that makes it another release.
fn target_changed(
    status: &Value,
    release: &HelmRelease,
    chart_name: &str,
    spec: &Value,
) -> Option<&'static str> {
    let s = |p: &str| status.at(p).and_then(Value::as_str).unwrap_or_default();
    let stored = s("/storageNamespace");
    if stored.is_empty() || status.at("/history/0").is_none() {
        return None;
    }
    let reinstall_on_chart_name = spec
        .at("/upgrade/chartNameChangeStrategy")
        .and_then(Value::as_str)
        .unwrap_or("Reinstall")
        == "Reinstall";
    if release.storage_namespace() != stored {
        Some("storage namespace")
    } else if release.release_namespace() != s("/history/0/namespace") {
        Some("release namespace")
    } else if short_release_name(&release.release_name()) != s("/history/0/name") {
        Some("release name")
    } else if reinstall_on_chart_name && chart_name != s("/history/0/chartName") {
        Some("chart name")
    } else {
        None
    }
}

/// `chart@version` of a record.
fn chart_of(release: &Release) -> String {
    release
        .chart
        .as_ref()
        .map(|c| format!("{}@{}", c.metadata.name, c.metadata.version))
        .unwrap_or_default()
}

/// The Released message of a release in sync, from its snapshot.
fn in_sync_message(snapshot: &Value) -> String {
    let s = |k: &str| snapshot.get(k).and_then(Value::as_str).unwrap_or_default();
    format!(
        "Helm upgrade succeeded for release {}/{}.v{} with chart {}@{}",
        s("namespace"),
        s("name"),
        snapshot.get("version").and_then(Value::as_u64).unwrap_or(0),
        s("chartName"),
        s("chartVersion")
    )
}

/// `spec.driftDetection` when it is on (`warn` or `enabled`).
struct DriftDetection {
    /// `enabled`: drifted objects are applied again.
    correct: bool,
    /// `ignore` rules.
    ignore: Vec<action::IgnoreRule>,
}

impl DriftDetection {
    /// The settings of `spec`, `None` when detection is off; a rule that cannot be used
    /// is an error naming it.
    fn of(spec: &Value) -> Result<Option<DriftDetection>, String> {
        let correct = match spec
            .at("/driftDetection/mode")
            .and_then(Value::as_str)
            .unwrap_or("disabled")
        {
            "enabled" => true,
            "warn" => false,
            "disabled" => return Ok(None),
            other => {
                return Err(format!(
                    "spec.driftDetection.mode: Unsupported value: \"{other}\": supported values: \"enabled\", \"warn\", \"disabled\""
                ));
            }
        };
        let mut ignore = Vec::new();
        let rules = spec
            .at("/driftDetection/ignore")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (i, rule) in rules.iter().enumerate() {
            let paths: Vec<String> = rule
                .get("paths")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect();
            let mut target = Vec::new();
            let mut selectors = Vec::new();
            for (field, value) in rule
                .get("target")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                // fluxcd/pkg's `SelectorRegex`: an empty field selects everything.
                let pattern = value.as_str().unwrap_or_default();
                if pattern.is_empty() {
                    continue;
                }
                let at = |e: &dyn std::fmt::Display| {
                    format!("spec.driftDetection.ignore[{i}].target.{field}: {e}")
                };
                let metadata = match field.as_str() {
                    "labelSelector" => Some("labels"),
                    "annotationSelector" => Some("annotations"),
                    _ => None,
                };
                if let Some(metadata) = metadata {
                    let selector = pattern
                        .parse::<flotilla_core::labels::Selector>()
                        .map_err(|e| at(&format!("invalid selector: {e}")))?;
                    selectors.push((metadata, selector));
                    continue;
                }
                let field: &'static str = match field.as_str() {
                    "group" => "group",
                    "version" => "version",
                    "kind" => "kind",
                    "name" => "name",
                    "namespace" => "namespace",
                    other => {
                        return Err(format!(
                            "spec.driftDetection.ignore[{i}].target.{other} is not supported by this hub"
                        ));
                    }
                };
                let regex = regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| at(&e))?;
                target.push((field, regex));
            }
            ignore.push(action::IgnoreRule {
                paths,
                target,
                selectors,
            });
        }
        Ok(Some(DriftDetection { correct, ignore }))
    }
}

/// `spec.test` when `enable` is set: the timeout (default `spec.timeout`), whether
/// failures are ignored (the remediation of `action`, the last install or upgrade, says
/// so, else `ignoreFailures`) and `filters`.
fn helm_tests(
    spec: &Value,
    release: &HelmRelease,
    action: Option<&str>,
) -> Option<hooks::TestSpec> {
    let default_timeout = release.timeout();
    let test = spec.get("test")?;
    if test.get("enable").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    Some(hooks::TestSpec {
        timeout: test
            .get("timeout")
            .and_then(Value::as_str)
            .and_then(|t| flotilla_fleet::flux::parse_duration(t, true))
            .unwrap_or(default_timeout),
        ignore_failures: release.ignores_test_failures(
            action,
            test.get("ignoreFailures").and_then(Value::as_bool) == Some(true),
        ),
        filters: test
            .get("filters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|f| {
                let name = f.get("name")?.as_str()?.to_string();
                Some((
                    name,
                    f.get("exclude").and_then(Value::as_bool) == Some(true),
                ))
            })
            .collect(),
    })
}

/// How long after a remediation the next attempt waits (helm-controller requeues at
/// once; a second keeps a failing chart from spinning).
const REMEDIATION_REQUEUE: Duration = Duration::from_secs(1);

/// `install.remediation` or `upgrade.remediation` with helm-controller's defaults.
struct RemediationPolicy {
    /// Retries (negative: for ever).
    retries: i64,
    /// Remediate the failure that exhausts the retries.
    remediate_last_failure: bool,
    /// Uninstall (installs, and upgrades with `strategy: uninstall`) rather than roll back.
    uninstall: bool,
}

impl RemediationPolicy {
    fn of(release: &HelmRelease, action: &str) -> RemediationPolicy {
        let upgrade = action == "upgrade";
        let remediation = release.action_settings(upgrade).remediation;
        let retries = remediation.map_or(0, |r| r.retries);
        RemediationPolicy {
            retries,
            remediate_last_failure: remediation
                .and_then(|r| r.remediate_last_failure)
                .unwrap_or(upgrade && retries > 0),
            uninstall: !upgrade || remediation.is_some_and(|r| r.strategy == "uninstall"),
        }
    }
}

/// helm-controller's `DetermineReleaseState`, from Helm's records (oldest first) and the
/// HelmRelease's last snapshot.
fn release_state(
    records: &[Release],
    status: &Value,
    chart_name: &str,
    chart_version: &str,
    config_digest: &str,
) -> State {
    let Some(latest) = records.last() else {
        return State::Absent;
    };
    let latest_status = latest
        .info
        .as_ref()
        .and_then(|i| i.status.clone())
        .unwrap_or(Status::Unknown);
    if latest_status.is_pending() {
        return State::Locked(latest.clone());
    }
    let snapshot = status
        .at("/history/0")
        .filter(|s| s.get("version").and_then(Value::as_u64) == Some(u64::from(latest.version)));
    match latest_status {
        Status::Uninstalled => State::Absent,
        Status::Failed => State::Failed(latest.clone()),
        Status::Deployed => {
            let Some(snapshot) = snapshot else {
                // Not made by this HelmRelease (or its history was lost): adopt it.
                return State::OutOfSync(latest.clone());
            };
            let s = |k: &str| snapshot.get(k).and_then(Value::as_str).unwrap_or_default();
            if s("chartName") != chart_name
                || s("chartVersion") != chart_version
                || s("configDigest") != config_digest
            {
                State::OutOfSync(latest.clone())
            } else {
                State::InSync
            }
        }
        _ => State::OutOfSync(latest.clone()),
    }
}

/// `status.inventory`: `{entries: [{id: "<ns>_<name>_<group>_<kind>", v: "<version>"}]}`.
fn inventory(objects: &[super::ssa::ObjMeta], namespace: &str) -> Value {
    let entries: Vec<Value> = objects
        .iter()
        .map(|m| {
            let ns = if m.namespace.is_empty()
                && m.kind != "CustomResourceDefinition"
                && m.kind != "Namespace"
            {
                namespace
            } else {
                &m.namespace
            };
            json!({"id": format!("{ns}_{}_{}_{}", m.name, m.group, m.kind), "v": m.version})
        })
        .collect();
    json!({"entries": entries})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// fluxcd/pkg's `SelectorRegex`: anchored regular expressions for the names, label
    /// and annotation selectors over the release's object, an empty field selecting
    /// everything; a selector that does not parse is named.
    #[test]
    fn drift_ignore_targets_select_by_names_labels_and_annotations() {
        let detection = |ignore: Value| {
            DriftDetection::of(&json!({"driftDetection": {"mode": "warn", "ignore": ignore}}))
        };
        let rules = detection(json!([
            {"paths": ["/data"], "target": {"kind": "Config.*", "labelSelector": "tier in (web, api),!canary"}},
            {"paths": ["/spec"], "target": {"annotationSelector": "team=payments", "name": ""}},
        ]))
        .unwrap()
        .unwrap()
        .ignore;
        let object = |kind: &str, labels: Value, annotations: Value| {
            json!({"apiVersion": "v1", "kind": kind,
                   "metadata": {"name": "x", "labels": labels, "annotations": annotations}})
        };
        let web = object("ConfigMap", json!({"tier": "web"}), Value::Null);
        let canary = object(
            "ConfigMap",
            json!({"tier": "web", "canary": "yes"}),
            Value::Null,
        );
        let secret = object("Secret", json!({"tier": "web"}), Value::Null);
        let unlabelled = object("ConfigMap", Value::Null, Value::Null);
        assert!(rules[0].matches(&web));
        assert!(!rules[0].matches(&canary));
        assert!(!rules[0].matches(&secret));
        assert!(!rules[0].matches(&unlabelled));
        let payments = object("Service", Value::Null, json!({"team": "payments"}));
        assert!(rules[1].matches(&payments));
        assert!(!rules[1].matches(&web));

        let Err(message) =
            detection(json!([{"paths": ["/x"], "target": {"labelSelector": "tier in web"}}]))
        else {
            panic!("a selector that does not parse is refused");
        };
        assert!(
            message.starts_with(
                "spec.driftDetection.ignore[0].target.labelSelector: invalid selector: "
            ),
            "{message}"
        );
    }
}
