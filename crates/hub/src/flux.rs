//! Flux on the hub: GitRepository, OCIRepository and Kustomization reconcilers
//! (kustomize-controller's and source-controller's semantics, status and multi-tenancy
//! lockdown).
//!
//! - A GitRepository is checked through the shared mirror cache ([`flotilla_source`]);
//!   its artifact is the commit's in-memory tree, kept for the Kustomizations that read it.
//! - An OCIRepository's artifact is pulled from its registry ([`oci_repository`]) and kept
//!   the same way.
//! - A Kustomization is built with [`flotilla_render::flux::build`] and applied with
//!   kustomize-controller's staged server-side apply ([`ssa`]) to the hub or to the cluster
//!   of `spec.kubeConfig`, impersonating `spec.serviceAccountName`; its inventory drives
//!   pruning and its status is what kustomize-controller writes.
//! - [`run_flux`] watches the kinds and runs the reconciles from a [`WorkQueue`]; every
//!   event recorded is also handed to the notification controller ([`notify`]).

mod cleanup;
pub mod conditions;
pub mod config_watch;
pub mod events;
pub mod gnupg;
pub mod helm_chart;
pub mod helm_release;
pub mod helm_repository;
mod history;
pub mod include;
pub mod kubeconfig;
pub mod notify;
pub mod oci_repository;
pub mod ssa;
mod vault_transit;

use flotilla_core::pointer::Pointer as _;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flotilla_fleet::flux::Kustomization;
use flotilla_render::flux::{BuildSpec, Owner, Strictness, Variables};
use flotilla_sync::Cluster;
use flotilla_sync::health::cel::{BoolExpr, HealthExprs};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};

use self::conditions::Conditions;
use self::ssa::ObjMeta;
use self::vault_transit::VAULT_TOKEN_KEY;
use crate::controller::object_key;
use crate::known::Known;
use crate::lock;
use crate::queue::WorkQueue;
use crate::sources::{Filter, SourceTree, Sources};

/// The Kustomization API group (the prefix of its events' annotations).
const KUSTOMIZE_GROUP: &str = "kustomize.toolkit.fluxcd.io";

/// The GitRepository API group (the prefix of its events' annotations).
const SOURCE_GROUP: &str = "source.toolkit.fluxcd.io";

/// The GitRepository resource (`source.toolkit.fluxcd.io/v1`).
pub fn git_repository_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(SOURCE_GROUP, "v1", "GitRepository"),
        "gitrepositories",
    )
}

/// The Kustomization resource (`kustomize.toolkit.fluxcd.io/v1`).
pub fn kustomization_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(KUSTOMIZE_GROUP, "v1", "Kustomization"),
        "kustomizations",
    )
}

/// Settings of the Flux controllers (kustomize-controller's flags where they exist).
#[derive(Debug, Clone)]
pub struct FluxOptions {
    /// Reconciles at once.
    pub workers: usize,
    /// `--no-cross-namespace-refs` (on by default here, as the multi-tenancy lockdown asks).
    pub no_cross_namespace_refs: bool,
    /// `--requeue-dependency`: retry period of a missing artifact or unready dependency.
    pub dependency_requeue: Duration,
    /// Poll period of health checks (kustomize-controller polls every 5 s).
    pub health_poll: Duration,
    /// A failed HelmRelease or Receiver is retried after this long.
    pub source_retry: Duration,
    /// A failed source (GitRepository, OCIRepository, HelmRepository, HelmChart) is
    /// retried after this long, doubled after each failure in a row up to
    /// `max_retry_delay` (source-controller's `--min-retry-delay` and
    /// `--max-retry-delay`: its work queue's exponential backoff).
    pub min_retry_delay: Duration,
    /// See `min_retry_delay`.
    pub max_retry_delay: Duration,
    /// What a tenant's `kubeConfig` Secret may hold besides inline credentials
    /// (`--insecure-kubeconfig-exec`, `--insecure-kubeconfig-tls`; both off).
    pub kubeconfig: kubeconfig::KubeconfigPolicy,
    /// `--default-service-account`: the service account (of the object's namespace)
    /// impersonated when an object names none; empty: such objects apply as the hub.
    /// Flux's multi-tenancy lockdown sets it, so a tenant that leaves
    /// `serviceAccountName` out does not apply as the controller.
    pub default_service_account: String,
    /// The notification controller's settings.
    pub notify: notify::NotifyOptions,
    /// `--watch-configs-label-selector`: ConfigMaps and Secrets matching it are watched,
    /// and a change requeues the Kustomizations and HelmReleases that read them
    /// (`reconcile.fluxcd.io/watch=Enabled` by default; `None`: no such watch, as the
    /// `DisableConfigWatchers` feature gate).
    pub watch_configs_label_selector: Option<String>,
    /// kustomize-controller's `--override-manager`: field managers (by name prefix) whose
    /// fields a Kustomization's apply takes over, as it does kubectl's.
    pub override_managers: Vec<String>,
}

impl Default for FluxOptions {
    fn default() -> Self {
        FluxOptions {
            workers: 8,
            no_cross_namespace_refs: true,
            dependency_requeue: Duration::from_secs(30),
            health_poll: Duration::from_secs(5),
            source_retry: Duration::from_secs(10),
            min_retry_delay: Duration::from_millis(750),
            max_retry_delay: Duration::from_secs(15 * 60),
            kubeconfig: kubeconfig::KubeconfigPolicy::default(),
            default_service_account: String::new(),
            notify: notify::NotifyOptions::default(),
            watch_configs_label_selector: Some(config_watch::DEFAULT_SELECTOR.into()),
            override_managers: Vec::new(),
        }
    }
}

/// The outcome of one reconcile: the status to write (`None`: leave it) and when to run
/// again (`None`: only on a change).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// New `status`.
    pub status: Option<Value>,
    /// Next run.
    pub requeue: Option<Duration>,
    /// Events to record about the object, in order.
    pub events: Vec<events::FluxEvent>,
}

/// The Flux reconcilers and the state they share.
pub struct FluxReconciler {
    hub: kube::Client,
    hub_config: kube::Config,
    sources: Sources,
    options: FluxOptions,
    /// `GitRepository/ns/name`, `OCIRepository/ns/name` or `HelmChart/ns/name` → its
    /// artifact (a chart's files at the root of the tree for a HelmChart).
    artifacts: Mutex<HashMap<String, SourceTree>>,
    /// HelmRepository `ns/name` → the index it last stored.
    helm_indexes: Mutex<HashMap<String, Arc<helm_repository::StoredIndex>>>,
    /// GitRepository `ns/name` → the source crate's object (keeps the last good artifact).
    repositories: Mutex<HashMap<String, flotilla_source::GitRepository>>,
    /// Source `Kind/ns/name` → its failures in a row (the retry backoff).
    source_failures: Mutex<HashMap<String, u32>>,
    /// Clients per target (hub or kubeconfig Secret version) and impersonated user.
    clusters: Mutex<HashMap<String, Cluster>>,
}

/// Whether the client cache key `key` is an earlier version of `current`'s kubeconfig
/// Secret for the same user (`secret:<ns>/<name>@<resourceVersion>|<user>`).
fn replaced_by(key: &str, current: &str) -> bool {
    let parts = |key: &str| -> Option<(String, String)> {
        let (origin, user) = key.rsplit_once('|')?;
        let (secret, _version) = origin.strip_prefix("secret:")?.rsplit_once('@')?;
        Some((secret.to_string(), user.to_string()))
    };
    key != current && parts(key).is_some() && parts(key) == parts(current)
}

/// `Duration` as Go's `time.Duration.String()` prints it (`30s`, `4m30s`, `1h0m0s`,
/// `2.536346081s`, `512.3ms`), to the nanosecond.
pub fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000_000_000 {
        let (unit, scale) = match nanos {
            0..1_000 => ("ns", 1),
            1_000..1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{}{unit}", decimal(nanos, scale));
    }
    let total = d.as_secs();
    let seconds = format!(
        "{}s",
        decimal(
            u128::from(total % 60) * 1_000_000_000 + u128::from(d.subsec_nanos()),
            1_000_000_000
        )
    );
    match (total / 3600, total % 3600 / 60) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

/// `value / scale` in decimal, without trailing zeros in the fraction.
fn decimal(value: u128, scale: u128) -> String {
    let (whole, fraction) = (value / scale, value % scale);
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = scale.ilog10() as usize;
    format!("{whole}.{fraction:0digits$}")
        .trim_end_matches('0')
        .to_string()
}

/// source-controller's events for a GitRepository reconcile: a failure is a Warning with
/// the Ready reason and message; a new artifact is `NewArtifact` "stored artifact for
/// commit '<short message>'" and the same artifact after a failure is `Succeeded`, both
/// with the revision annotation. (There is no tarball, so no digest annotation.)
fn git_repository_events(
    old_status: &Value,
    conditions: &Conditions,
    status: &Value,
    short_message: Option<String>,
) -> Vec<events::FluxEvent> {
    let ready_was_false = Conditions::from_status(old_status, 0, "").is("Ready", "False");
    if conditions.is("Ready", "False") {
        return vec![events::FluxEvent {
            warning: true,
            reason: conditions.reason("Ready").unwrap_or("error").to_string(),
            message: conditions.message("Ready").unwrap_or("").to_string(),
            metadata: BTreeMap::new(),
        }];
    }
    let Some(revision) = artifact_revision(status) else {
        return Vec::new();
    };
    let new = artifact_revision(old_status) != Some(revision);
    let reason = match (new, ready_was_false) {
        (true, _) => "NewArtifact",
        (false, true) => "Succeeded",
        (false, false) => return Vec::new(),
    };
    let commit = short_message.unwrap_or_else(|| revision.to_string());
    vec![events::FluxEvent {
        warning: false,
        reason: reason.to_string(),
        message: format!("stored artifact for commit '{commit}'"),
        metadata: BTreeMap::from([(format!("{SOURCE_GROUP}/revision"), revision.to_string())]),
    }]
}

/// `status.artifact.revision` of a GitRepository.
fn artifact_revision(status: &Value) -> Option<&str> {
    status.at("/artifact/revision").and_then(Value::as_str)
}

/// kustomize-controller's finalizer: a deleted Kustomization prunes its inventory first.
pub const FINALIZER: &str = "finalizers.fluxcd.io";

/// Sets `field` of `status` to `value`, or removes it when there is none.
fn set_or_remove(status: &mut Value, field: &str, value: Option<Value>) {
    match value {
        Some(value) => status[field] = value,
        None => {
            if let Some(obj) = status.as_object_mut() {
                obj.remove(field);
            }
        }
    }
}

/// A GitRepository's artifact with its includes copied in (as it is without any).
fn with_includes(
    tree: SourceTree,
    includes: &[(Value, SourceTree)],
    spec: &flotilla_source::GitRepositorySpec,
    namespace: &str,
) -> Result<SourceTree, include::IncludeError> {
    if includes.is_empty() {
        return Ok(tree);
    }
    let parts: Vec<include::Included<'_>> = spec
        .include
        .iter()
        .zip(includes)
        .map(|(include, (_, included))| include::Included {
            include,
            tree: included.tree.as_ref(),
        })
        .collect();
    let rules = flotilla_source::IgnoreRules::flux(spec.ignore.as_deref())?;
    let composed = include::compose(&tree.tree, &parts, &rules)?;
    let mut included = Vec::new();
    for (include, (_, source)) in spec.include.iter().zip(includes) {
        included.push(format!(
            "{namespace}/{}@{}",
            include.repository.name, source.revision
        ));
        included.extend(source.included.iter().cloned());
    }
    Ok(SourceTree {
        tree: Arc::new(composed),
        included,
        metadata: Default::default(),
        ..tree
    })
}

/// A core Secret that still carries SOPS metadata, without the annotation
/// `kustomize.toolkit.fluxcd.io/decrypt: disabled` (compared case-insensitively, as
/// kustomize-controller's `IsEncryptedSecret` and `IsDecryptionDisabled`).
fn still_encrypted(object: &Value) -> bool {
    flotilla_sync::diff::is_secret(object)
        && object.get("sops").is_some()
        && !flotilla_render::flux::decryption_disabled(object)
}

/// kustomize-controller's prefix for errors only a new generation can fix.
const TERMINAL_ERROR_MESSAGE: &str = "Reconciliation failed terminally due to configuration error";

/// How often `deletionPolicy: WaitForTermination` looks again (kustomize-controller: 2 s).
const TERMINATION_POLL: Duration = Duration::from_secs(2);

/// `spec.timeout`, else the interval less 30 s, at least 30 s.
fn kustomization_timeout(ks: &Kustomization) -> Duration {
    let interval = ks.interval().unwrap_or(Duration::from_secs(600));
    ks.spec
        .timeout
        .as_deref()
        .and_then(|t| flotilla_fleet::flux::parse_duration(t, true))
        .unwrap_or_else(|| interval.saturating_sub(Duration::from_secs(30)))
        .max(if ks.spec.timeout.is_some() {
            Duration::ZERO
        } else {
            Duration::from_secs(30)
        })
}

fn finalizers_of(obj: &Value) -> Vec<String> {
    obj.at("/metadata/finalizers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(String::from))
        .collect()
}

/// The `reconcile.fluxcd.io/requestedAt` annotation of `obj`.
fn requested_at(obj: &Value) -> Option<&str> {
    obj.at("/metadata/annotations")
        .and_then(|a| a.get(notify::receiver::REQUESTED_AT))
        .and_then(Value::as_str)
}

fn generation_of(obj: &Value) -> i64 {
    obj.at("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

impl FluxReconciler {
    /// Reconcilers that talk to the hub through `hub_config` (a copy of it, with
    /// impersonation set, serves Kustomizations with a service account).
    pub fn new(
        hub_config: kube::Config,
        sources: Sources,
        options: FluxOptions,
    ) -> Result<FluxReconciler, kube::Error> {
        let hub = kube::Client::try_from(hub_config.clone())?;
        Ok(FluxReconciler {
            hub,
            hub_config,
            sources,
            options,
            artifacts: Mutex::default(),
            helm_indexes: Mutex::default(),
            repositories: Mutex::default(),
            source_failures: Mutex::default(),
            clusters: Mutex::default(),
        })
    }

    /// After a failure of the source `Kind/ns/name`: the wait before its retry, doubled
    /// with each failure in a row (source-controller's work-queue backoff).
    fn source_failed(&self, source: &str) -> Duration {
        let mut failures = lock(&self.source_failures);
        let count = failures.entry(source.to_string()).or_default();
        *count = count.saturating_add(1);
        retry_delay(
            *count,
            self.options.min_retry_delay,
            self.options.max_retry_delay,
        )
    }

    /// After a success of the source `Kind/ns/name`: its backoff starts over.
    fn source_succeeded(&self, source: &str) {
        lock(&self.source_failures).remove(source);
    }

    /// Marks the mirrors of `url` (as written and as rewritten) stale, so the next
    /// checkout checks the remote; readers are not told, as a webhook's push tells them.
    fn refresh_remote(&self, url: &str) {
        let rewritten = flotilla_source::rewrite(url, &self.sources.mirrors().options().rewrites);
        for url in [url, rewritten.as_str()] {
            if let Ok(parsed) = flotilla_source::GitUrl::parse(url) {
                self.sources.mirrors().refresh(&parsed.identity());
            }
        }
    }

    /// The hub client.
    pub fn hub(&self) -> &kube::Client {
        &self.hub
    }

    /// The sources (for webhooks).
    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// The artifact of the source of `kind` (`GitRepository`, `OCIRepository`) at
    /// `namespace/name`.
    fn artifact(&self, kind: &str, key: &str) -> Option<SourceTree> {
        lock(&self.artifacts)
            .get(&oci_repository::artifact_key(kind, key))
            .cloned()
    }

    /// Drops what a deleted source left in memory (its artifact, a HelmRepository's index,
    /// a GitRepository's fetch state), as source-controller garbage-collects a deleted
    /// object's artifacts; readers then find the source gone.
    pub fn forget_source(&self, key: &str) {
        lock(&self.artifacts).remove(key);
        if let Some((kind, object)) = key.split_once('/') {
            match kind {
                HELM_REPO => {
                    lock(&self.helm_indexes).remove(object);
                }
                GIT => {
                    lock(&self.repositories).remove(object);
                }
                _ => {}
            }
        }
    }

    /// What a reader of the source at queue key `key` must rebuild on (its artifact's
    /// identity), if it has one.
    fn artifact_identity(&self, key: &str) -> Option<String> {
        if let Some(tree) = lock(&self.artifacts).get(key) {
            return Some(tree.identity());
        }
        let index_key = key.strip_prefix("HelmRepository/")?;
        lock(&self.helm_indexes)
            .get(index_key)
            .map(|index| index.revision.clone())
    }

    /// Reconciles one GitRepository: checks the remote, keeps the artifact, and returns
    /// source-controller's status. `now` stamps condition transitions.
    pub async fn reconcile_git_repository(&self, obj: &Value, now: &str) -> Outcome {
        let key = object_key(obj);
        let generation = generation_of(obj);
        let old_status = obj.get("status").cloned().unwrap_or(json!({}));
        let mut conditions = Conditions::from_status(&old_status, generation, now);
        // A terminal failure: Stalled and not Ready for `reason`, not retried.
        let stall = |mut conditions: Conditions, reason: &str, message: &str| {
            conditions.stalled(reason, message);
            conditions.set("Ready", "False", reason, message);
            let mut status = old_status.clone();
            status["conditions"] = conditions.to_value();
            status["observedGeneration"] = json!(generation);
            Outcome {
                status: Some(status),
                requeue: None,
                events: Vec::new(),
            }
        };
        let raw_spec = obj.get("spec").unwrap_or(&Value::Null);
        let spec: flotilla_source::GitRepositorySpec =
            match serde_json::from_value(raw_spec.clone()) {
                Ok(s) => s,
                Err(e) => return stall(conditions, "InvalidSpec", &format!("invalid spec: {e}")),
            };
        if spec.suspend {
            return Outcome {
                status: None,
                requeue: None,
                events: Vec::new(),
            };
        }
        if let Some(message) = unsupported_git_repository(raw_spec) {
            return stall(conditions, "UnsupportedFeature", &message);
        }
        let namespace = obj
            .at("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        // As source-controller: the includes are looked up before anything is fetched.
        let includes = match self.included_artifacts(namespace, &key, &spec).await {
            Ok(includes) => includes,
            Err((reason, message)) => {
                conditions.set("IncludeUnavailable", "True", reason, &message);
                conditions.set("Ready", "False", reason, &message);
                conditions.reconciling(
                    "ProgressingWithRetry",
                    &format!("processing object: new generation {generation}"),
                );
                let mut status = old_status.clone();
                status["conditions"] = conditions.to_value();
                return Outcome {
                    status: Some(status),
                    requeue: Some(self.options.dependency_requeue),
                    events: Vec::new(),
                };
            }
        };
        let access = match &spec.secret_ref {
            None => Ok(flotilla_source::Access::default()),
            Some(r) => self.access(namespace, &r.name).await,
        };
        // A new reconcile request (`flux reconcile source git`, a Receiver) checks the
        // remote now, whatever the last check's age.
        let requested = requested_at(obj);
        if let Some(at) = requested
            && old_status
                .get("lastHandledReconcileAt")
                .and_then(Value::as_str)
                != Some(at)
        {
            self.refresh_remote(&spec.url);
        }
        let mut repository = {
            let repos = lock(&self.repositories);
            repos.get(&key).cloned()
        }
        .unwrap_or_else(|| flotilla_source::GitRepository {
            name: key.clone(),
            generation,
            spec: spec.clone(),
            status: Default::default(),
        });
        repository.spec = spec.clone();
        repository.generation = generation;
        // Conditions come from the object (other writers, restarts); the source crate
        // updates them in place.
        repository.status.conditions = conditions.as_source_conditions();
        // Kept when what was fetched cannot be stored.
        let previous_artifact = repository.status.artifact.clone();
        let (action, checkout) = match access {
            Ok(access) => {
                let keys = match &spec.verify {
                    Some(verify) => self.trusted_keys(namespace, &verify.secret_ref.name).await,
                    None => Ok(flotilla_source::TrustedKeys::default()),
                };
                repository
                    .reconcile_verified(self.sources.mirrors(), access, keys)
                    .await
            }
            Err(message) => {
                repository.status.conditions = conditions.as_source_conditions();
                let mut c = Conditions::from_source(&repository.status.conditions, generation, now);
                c.set("FetchFailed", "True", "AuthenticationFailed", &message);
                c.set("Ready", "False", "AuthenticationFailed", &message);
                c.set(
                    "Reconciling",
                    "True",
                    "ProgressingWithRetry",
                    &format!("processing object: new generation {generation}"),
                );
                repository.status.conditions = c.as_source_conditions();
                (
                    flotilla_source::Action {
                        requeue_after: Some(self.options.source_retry),
                    },
                    None,
                )
            }
        };
        let mut failed = checkout.is_none();
        // Read only for a new artifact's event.
        let short_message = checkout
            .as_ref()
            .filter(|c| artifact_revision(&old_status) != Some(c.revision.as_str()))
            .and_then(|c| c.snapshot.short_message());
        if let Some(checkout) = checkout {
            let filter = Filter::artifact(&spec);
            let tree = match filter {
                Ok(filter) => self.sources.tree_of(checkout, &filter).await.map_err(|e| {
                    (
                        "ArchiveOperationFailed",
                        format!("failed to read the artifact: {e}"),
                    )
                }),
                // Checked before the checkout: unreachable unless the rules changed.
                Err(e) => Err((
                    "ArchiveOperationFailed",
                    format!("failed to read the artifact: {e}"),
                )),
            };
            let tree = tree.and_then(|tree| {
                with_includes(tree, &includes, &spec, namespace)
                    .map_err(|e| ("CopyFailure", e.to_string()))
            });
            let mut c = Conditions::from_source(&repository.status.conditions, generation, now);
            match tree {
                Ok(tree) => {
                    lock(&self.artifacts).insert(oci_repository::artifact_key(GIT, &key), tree);
                    c.delete("StorageOperationFailed");
                    c.delete("IncludeUnavailable");
                }
                Err((reason, message)) => {
                    failed = true;
                    c.set("Ready", "False", reason, &message);
                    c.set("StorageOperationFailed", "True", reason, &message);
                    match &previous_artifact {
                        Some(previous) => c.set(
                            "ArtifactInStorage",
                            "True",
                            "Succeeded",
                            &format!("stored artifact for revision '{}'", previous.revision),
                        ),
                        None => c.delete("ArtifactInStorage"),
                    }
                    repository.status.artifact = previous_artifact;
                }
            }
            repository.status.conditions = c.as_source_conditions();
        }
        let merged = conditions.merge_source(&repository.status.conditions);
        let mut status = old_status.clone();
        if let Some(obj) = status.as_object_mut() {
            obj.remove("artifact");
        }
        status["conditions"] = merged.to_value();
        if repository.status.observed_generation > 0 {
            status["observedGeneration"] = json!(repository.status.observed_generation);
        }
        if let Some(artifact) = &repository.status.artifact {
            let previous = old_status.get("artifact");
            let same = artifact_revision(&old_status) == Some(artifact.revision.as_str());
            let updated = if same {
                previous
                    .and_then(|a| a.get("lastUpdateTime"))
                    .cloned()
                    .unwrap_or(json!(now))
            } else {
                json!(now)
            };
            status["artifact"] = json!({
                "revision": artifact.revision,
                "path": format!("gitrepository/{key}/{}.tar.gz", artifact.commit),
                "url": format!("flotilla://gitrepository/{key}/{}.tar.gz", artifact.commit),
                "lastUpdateTime": updated,
            });
        }
        if let Some(ignore) = &repository.status.observed_ignore {
            status["observedIgnore"] = json!(ignore);
        }
        if !failed && repository.status.artifact.is_some() {
            let (included, observed) = if includes.is_empty() {
                (None, None)
            } else {
                let artifacts: Vec<&Value> = includes.iter().map(|(a, _)| a).collect();
                (Some(json!(artifacts)), Some(json!(spec.include)))
            };
            set_or_remove(&mut status, "includedArtifacts", included);
            set_or_remove(&mut status, "observedInclude", observed);
        }
        // Known only once this process produced an artifact (as observedIgnore).
        if repository.status.artifact.is_some() {
            let sparse = &repository.status.observed_sparse_checkout;
            for (field, value) in [
                (
                    "sourceVerificationMode",
                    repository
                        .status
                        .source_verification_mode
                        .as_ref()
                        .map(|m| json!(m)),
                ),
                (
                    "observedSparseCheckout",
                    (!sparse.is_empty()).then(|| json!(sparse)),
                ),
            ] {
                set_or_remove(&mut status, field, value);
            }
        }
        if let Some(at) = requested {
            status["lastHandledReconcileAt"] = json!(at);
        }
        let events = git_repository_events(&old_status, &merged, &status, short_message);
        let source = format!("{GIT}/{key}");
        if !failed {
            self.source_succeeded(&source);
        }
        lock(&self.repositories).insert(key, repository);
        let requeue = match (action.requeue_after, failed) {
            (None, _) => None,
            (Some(_), true) => Some(self.source_failed(&source)),
            (Some(interval), false) => Some(interval),
        };
        Outcome {
            status: Some(status),
            requeue,
            events,
        }
    }

    /// The artifacts `spec.include` names, found as source-controller's `fetchIncludes`
    /// finds them — each GitRepository must exist in `namespace` and have an artifact —
    /// with the `status.artifact` each shows. Otherwise the IncludeUnavailable reason and
    /// message. An include that includes this repository back is refused: each artifact
    /// would hold the other's previous one, nesting deeper at every interval.
    async fn included_artifacts(
        &self,
        namespace: &str,
        own_key: &str,
        spec: &flotilla_source::GitRepositorySpec,
    ) -> Result<Vec<(Value, SourceTree)>, (&'static str, String)> {
        let repos: Api<DynamicObject> =
            Api::namespaced_with(self.hub.clone(), namespace, &git_repository_resource());
        let mut out = Vec::with_capacity(spec.include.len());
        for include in &spec.include {
            let name = &include.repository.name;
            let object = match repos.get_opt(name).await {
                Ok(Some(object)) => serde_json::to_value(object).unwrap_or(Value::Null),
                Ok(None) => {
                    return Err((
                        "NotFound",
                        format!(
                            "could not get resource for include '{name}': gitrepositories.source.toolkit.fluxcd.io \"{name}\" not found"
                        ),
                    ));
                }
                Err(e) => {
                    return Err((
                        "NotFound",
                        format!(
                            "could not get resource for include '{name}': {}",
                            api_message(&e)
                        ),
                    ));
                }
            };
            let no_artifact = || {
                (
                    "NoArtifact",
                    format!("no artifact available for include '{name}'"),
                )
            };
            let artifact = object
                .at("/status/artifact")
                .cloned()
                .ok_or_else(no_artifact)?;
            // The tree this process read for that artifact (none yet after a restart).
            let tree = self
                .artifact(GIT, &format!("{namespace}/{name}"))
                .ok_or_else(no_artifact)?;
            let back = format!("{own_key}@");
            if tree.included.iter().any(|i| i.starts_with(&back)) {
                return Err((
                    "IncludeCycle",
                    format!(
                        "include '{name}' includes {own_key} back: the artifacts would nest without end"
                    ),
                ));
            }
            out.push((artifact, tree));
        }
        Ok(out)
    }

    /// The keys of a Kustomization's `spec.decryption.secretRef`: its `sops.vault-token`
    /// for `hc_vault` entries, its `*.agekey` entries
    /// as age identities, its `*.asc` entries imported into a GnuPG keyring (other key
    /// kinds are not read), in Flux's words when they cannot be had.
    async fn decryption_keys(
        &self,
        namespace: &str,
        decryption: &flotilla_render::flux::Decryption,
    ) -> Result<flotilla_render::sops::Identities, String> {
        let Some(secret_ref) = &decryption.secret_ref else {
            return Ok(flotilla_render::sops::Identities::none());
        };
        let name = &secret_ref.name;
        let data = self
            .secret_data_or(namespace, name)
            .await
            .map_err(|e| format!("cannot get sops decryption Secret '{namespace}/{name}': {e}"))?;
        let import_failed = |key: &str, why: String| {
            format!(
                "failed to import '{key}' data from sops decryption Secret '{namespace}/{name}': {why}"
            )
        };
        let mut identities = flotilla_render::sops::Identities::none();
        if let Some(token) = data.get(VAULT_TOKEN_KEY) {
            // kustomize-controller trims blanks and line breaks off the token.
            let token = String::from_utf8_lossy(token).trim().to_string();
            identities = identities.with_vault(Arc::new(
                flotilla_render::sops::VaultTransit::with_token(token),
            ));
        }
        for (key, value) in data.iter().filter(|(k, _)| k.ends_with(".agekey")) {
            let text = std::str::from_utf8(value)
                .map_err(|_| import_failed(key, "not UTF-8 text".into()))?;
            identities.extend(
                flotilla_render::sops::Identities::parse([text])
                    .map_err(|why| import_failed(key, why))?,
            );
        }
        let pgp: Vec<(String, Vec<u8>)> = data
            .into_iter()
            .filter(|(k, _)| k.ends_with(".asc"))
            .collect();
        if pgp.is_empty() {
            return Ok(identities);
        }
        // gpg (and the agent it starts) off the async workers.
        let keyring = tokio::task::spawn_blocking(move || {
            let keyring = gnupg::GnuPgKeyring::new()
                .map_err(|e| (pgp[0].0.clone(), format!("cannot create a GnuPG home: {e}")))?;
            for (key, value) in &pgp {
                keyring.import(value).map_err(|why| (key.clone(), why))?;
            }
            Ok::<_, (String, String)>(keyring)
        })
        .await
        .map_err(|e| format!("importing the PGP keys of '{namespace}/{name}': {e}"))?
        .map_err(|(key, why)| import_failed(&key, why))?;
        Ok(identities.with_pgp(Arc::new(keyring)))
    }

    /// The public keys a GitRepository's `spec.verify.secretRef` trusts.
    async fn trusted_keys(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<flotilla_source::TrustedKeys, String> {
        let data = self.secret_data(namespace, name).await?;
        Ok(flotilla_source::TrustedKeys::from_secret_data(
            data.iter().map(|(k, v)| (k.as_str(), v.as_slice())),
        ))
    }

    /// A GitRepository's `secretRef`: its credentials and the CA it trusts.
    async fn access(&self, namespace: &str, name: &str) -> Result<flotilla_source::Access, String> {
        let data = self.secret_data(namespace, name).await?;
        flotilla_source::Access::from_flux_secret(&format!("{namespace}/{name}"), &data)
    }

    /// A Secret's data in `namespace`, or Flux's words for why it could not be read.
    async fn secret_data(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<BTreeMap<String, Vec<u8>>, String> {
        self.secret_data_or(namespace, name)
            .await
            .map_err(|e| format!("failed to get secret '{namespace}/{name}': {e}"))
    }

    /// A Secret's data, or the API server's words for why it could not be read.
    async fn secret_data_or(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<BTreeMap<String, Vec<u8>>, String> {
        let secrets: Api<Secret> = Api::namespaced(self.hub.clone(), namespace);
        let secret = secrets
            .get_opt(name)
            .await
            .map_err(|e| api_message(&e))?
            .ok_or_else(|| format!("secrets \"{name}\" not found"))?;
        Ok(secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect())
    }

    /// The cluster a Kustomization applies to: the hub, or the kubeconfig in
    /// `spec.kubeConfig.secretRef`; as `spec.serviceAccountName` when set.
    async fn target(&self, ks: &Kustomization) -> Result<Cluster, String> {
        self.target_for(
            &ks.metadata.namespace,
            ks.spec.kube_config.as_ref(),
            &ks.spec.service_account_name,
        )
        .await
    }

    /// The cluster of an object in `namespace` with `kube_config` (none: the hub), as
    /// `service_account` of that namespace when one is named.
    async fn target_for(
        &self,
        namespace: &str,
        kube_config: Option<&flotilla_fleet::flux::KubeConfigRef>,
        service_account: &str,
    ) -> Result<Cluster, String> {
        let (mut config, origin) = match kube_config.and_then(|k| k.secret_ref.as_ref()) {
            None => (self.hub_config.clone(), "hub".to_string()),
            Some(secret_ref) => {
                let secrets: Api<Secret> = Api::namespaced(self.hub.clone(), namespace);
                let name = &secret_ref.name;
                let secret = secrets
                    .get_opt(name)
                    .await
                    .map_err(|e| format!("unable to read KubeConfig secret '{name}' error: {}", api_message(&e)))?
                    .ok_or_else(|| {
                        format!("unable to read KubeConfig secret '{name}' error: secrets \"{name}\" not found")
                    })?;
                let data = secret.data.unwrap_or_default();
                let keys: Vec<&str> = if secret_ref.key.is_empty() {
                    vec!["value", "value.yaml"]
                } else {
                    vec![secret_ref.key.as_str()]
                };
                let bytes = keys.iter().find_map(|k| data.get(*k)).ok_or_else(|| {
                    format!(
                        "KubeConfig secret '{name}' does not contain a '{}' key with a kubeconfig",
                        keys.join("' or '")
                    )
                })?;
                let text = String::from_utf8(bytes.0.clone()).map_err(|_| {
                    format!("KubeConfig secret '{name}': the kubeconfig is not UTF-8")
                })?;
                let mut kubeconfig = kube::config::Kubeconfig::from_yaml(&text)
                    .map_err(|e| format!("KubeConfig secret '{name}': {e}"))?;
                kubeconfig::sanitize(&mut kubeconfig, self.options.kubeconfig)
                    .map_err(|e| format!("KubeConfig secret '{name}': {e}"))?;
                let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                    .await
                    .map_err(|e| format!("KubeConfig secret '{name}': {e}"))?;
                // A tenant names this server: never the cloud metadata address.
                flotilla_source::egress::check_api_server(&config.cluster_url)
                    .await
                    .map_err(|e| format!("KubeConfig secret '{name}': {e}"))?;
                let version = secret.metadata.resource_version.unwrap_or_default();
                (config, format!("secret:{namespace}/{name}@{version}"))
            }
        };
        let service_account = self.service_account_for(service_account);
        let user = (!service_account.is_empty())
            .then(|| format!("system:serviceaccount:{namespace}:{service_account}"));
        let cache_key = format!("{origin}|{}", user.as_deref().unwrap_or(""));
        if let Some(c) = lock(&self.clusters).get(&cache_key) {
            return Ok(c.clone());
        }
        config.auth_info.impersonate = user;
        config.auth_info.impersonate_groups = None;
        let client = kube::Client::try_from(config).map_err(|e| e.to_string())?;
        let cluster = Cluster::new(client);
        let mut clusters = lock(&self.clusters);
        // A kubeconfig Secret that changed leaves its earlier client (and its open
        // connections) behind: only the current version's is kept.
        clusters.retain(|key, _| !replaced_by(key, &cache_key));
        clusters.insert(cache_key, cluster.clone());
        Ok(cluster)
    }

    /// Whether the service account the Kustomization impersonates exists on the hub (in
    /// its namespace); true when it impersonates none.
    async fn service_account_exists(&self, ks: &Kustomization) -> Result<bool, String> {
        let name = self.service_account_for(&ks.spec.service_account_name);
        if name.is_empty() {
            return Ok(true);
        }
        Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(
            self.hub.clone(),
            &ks.metadata.namespace,
        )
        .get_opt(name)
        .await
        .map(|found| found.is_some())
        .map_err(|e| api_message(&e))
    }

    /// The service account an object impersonates: the one it names, else
    /// `--default-service-account` (fluxcd/pkg's `Impersonator`), else none.
    fn service_account_for<'a>(&'a self, named: &'a str) -> &'a str {
        if named.is_empty() {
            &self.options.default_service_account
        } else {
            named
        }
    }

    /// Adds kustomize-controller's finalizer when it is missing.
    async fn ensure_finalizer(&self, obj: &Value) -> Result<(), String> {
        let mut finalizers = finalizers_of(obj);
        if finalizers.iter().any(|f| f == FINALIZER) {
            return Ok(());
        }
        finalizers.push(FINALIZER.to_string());
        self.set_finalizers(obj, finalizers).await
    }

    async fn set_finalizers(&self, obj: &Value, finalizers: Vec<String>) -> Result<(), String> {
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        crate::controller::write_finalizers(&self.hub, &resource_of(kind), obj, &finalizers)
            .await
            .map_err(|e| api_message(&e))
    }

    /// A Kustomization being deleted: its inventory is deleted when `spec.prune` is set
    /// (`deletionPolicy: MirrorPrune`, the default), `Delete` or `WaitForTermination` (which
    /// also waits for them to be gone), kept with `Orphan` or while suspended (as
    /// kustomize-controller does); then the finalizer goes.
    async fn finalize_kustomization(&self, obj: &Value, ks: &Kustomization) -> Outcome {
        let retry = Outcome {
            status: None,
            requeue: Some(self.options.dependency_requeue.min(Duration::from_secs(10))),
            events: Vec::new(),
        };
        let finalizers = finalizers_of(obj);
        if !finalizers.iter().any(|f| f == FINALIZER) {
            return Outcome {
                status: None,
                requeue: None,
                events: Vec::new(),
            };
        }
        let policy = obj
            .at("/spec/deletionPolicy")
            .and_then(Value::as_str)
            .unwrap_or("MirrorPrune");
        let delete = match policy {
            "Delete" | "WaitForTermination" => true,
            "Orphan" => false,
            _ => ks.spec.prune.unwrap_or(false),
        } && !ks.spec.suspend;
        let inventory: BTreeSet<ObjMeta> = ssa::inventory_entries(obj.at("/status/inventory"))
            .into_iter()
            .collect();
        // As kustomize-controller: when the service account to impersonate is gone,
        // nothing is pruned (the objects are reported) and the finalizer still goes.
        let delete = delete
            && !inventory.is_empty()
            && match self.service_account_exists(ks).await {
                Ok(true) => true,
                Ok(false) => {
                    let objects: Vec<String> = inventory.iter().map(ObjMeta::display).collect();
                    tracing::error!(
                        kustomization = %object_key(obj),
                        service_account = %ks.spec.service_account_name,
                        objects = ?objects,
                        "unable to prune objects: skip pruning, service account not found"
                    );
                    false
                }
                Err(message) => {
                    tracing::warn!(kustomization = %object_key(obj), %message, "finalizing");
                    return retry;
                }
            };
        if delete {
            let cluster = match self.target(ks).await {
                Ok(c) => c,
                Err(message) => {
                    tracing::warn!(kustomization = %object_key(obj), %message, "finalizing");
                    return retry;
                }
            };
            let pruned = ssa::prune(
                &cluster,
                &inventory,
                (&ks.metadata.name, &ks.metadata.namespace),
            )
            .await;
            if !pruned.errors.is_empty() {
                tracing::warn!(kustomization = %object_key(obj), errors = ?pruned.errors, "finalizing");
                return retry;
            }
            // WaitForTermination: the finalizer stays until what was deleted is gone, or
            // the timeout passes (then, as kustomize-controller, it is only reported).
            if policy == "WaitForTermination"
                && let Err(message) = ssa::wait_for_termination(
                    &cluster,
                    &pruned.deleted,
                    kustomization_timeout(ks),
                    TERMINATION_POLL,
                )
                .await
            {
                tracing::warn!(kustomization = %object_key(obj), %message, "finalizing");
            }
        }
        let remaining: Vec<String> = finalizers.into_iter().filter(|f| f != FINALIZER).collect();
        match self.set_finalizers(obj, remaining).await {
            Ok(()) => Outcome {
                status: None,
                requeue: None,
                events: Vec::new(),
            },
            Err(message) => {
                tracing::warn!(kustomization = %object_key(obj), %message, "removing the finalizer");
                retry
            }
        }
    }

    /// The data of the `Secret` or ConfigMap (any other kind) `name` in `namespace` on the
    /// hub, Secret values read as UTF-8 (lossily); `None` when it does not exist.
    async fn config_data(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, String> {
        let data = match kind {
            "Secret" => Api::<Secret>::namespaced(self.hub.clone(), namespace)
                .get_opt(name)
                .await
                .map(|s| {
                    s.map(|s| {
                        s.data
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                            .collect()
                    })
                }),
            _ => Api::<ConfigMap>::namespaced(self.hub.clone(), namespace)
                .get_opt(name)
                .await
                .map(|c| c.map(|c| c.data.unwrap_or_default().into_iter().collect())),
        };
        data.map_err(|e| api_message(&e))
    }

    /// The variables of `spec.postBuild`, `substituteFrom` read from the hub in the
    /// Kustomization's namespace.
    async fn variables(
        &self,
        namespace: &str,
        post_build: &flotilla_render::flux::PostBuild,
    ) -> Result<Variables, String> {
        let mut found: HashMap<(String, String), Result<Option<Variables>, String>> =
            HashMap::new();
        for r in &post_build.substitute_from {
            let data = self.config_data(&r.kind, namespace, &r.name).await;
            found.insert((r.kind.clone(), r.name.clone()), data);
        }
        flotilla_render::flux::variables(post_build, &|r| {
            found
                .get(&(r.kind.clone(), r.name.clone()))
                .cloned()
                .unwrap_or(Ok(None))
        })
        .map_err(|e| e.to_string())
    }

    /// Reconciles one Kustomization as kustomize-controller does and returns its status.
    pub async fn reconcile_kustomization(&self, obj: &Value, now: &str) -> Outcome {
        let generation = generation_of(obj);
        let old_status = obj.get("status").cloned().unwrap_or(json!({}));
        let mut run = KsRun {
            status: old_status.clone(),
            conditions: Conditions::from_status(&old_status, generation, now),
            generation,
            started: Instant::now(),
            revision: None,
            origin_revision: None,
            events: Vec::new(),
            built: None,
        };
        // kustomize-controller's `finalizeStatus` echoes the request it handled.
        if let Some(at) = requested_at(obj) {
            run.status["lastHandledReconcileAt"] = json!(at);
        }
        let ks: Kustomization = match serde_json::from_value::<Kustomization>(obj.clone())
            .map_err(|e| e.to_string())
            .and_then(|k| k.validate().map(|()| k).map_err(|e| e.to_string()))
        {
            Ok(k) => k,
            Err(message) => {
                run.conditions
                    .set("Ready", "False", "InvalidSpec", &message);
                run.conditions.stalled("InvalidSpec", &message);
                run.status["observedGeneration"] = json!(generation);
                return run.finish(None);
            }
        };
        if obj.at("/metadata/deletionTimestamp").is_some() {
            return self.finalize_kustomization(obj, &ks).await;
        }
        // The finalizer first, so a deletion that races the first apply still prunes.
        if let Err(message) = self.ensure_finalizer(obj).await {
            tracing::warn!(kustomization = %object_key(obj), %message, "adding the finalizer");
        }
        if ks.spec.suspend {
            return Outcome {
                status: None,
                requeue: None,
                events: Vec::new(),
            };
        }
        // Custom health checks, compiled before anything is fetched: a bad expression is a
        // configuration error that only a new generation can fix.
        let health_exprs = match health_check_exprs(obj.get("spec").unwrap_or(&Value::Null)) {
            Ok(exprs) => exprs,
            Err(e) => {
                let message = format!("{TERMINAL_ERROR_MESSAGE}: {e}");
                run.conditions.stalled("InvalidCELExpression", &message);
                run.fail("InvalidCELExpression", &message);
                run.status["observedGeneration"] = json!(run.generation);
                return run.finish(None);
            }
        };
        let interval = ks.interval().unwrap_or(Duration::from_secs(600));
        let retry = ks
            .spec
            .retry_interval
            .as_deref()
            .and_then(|r| flotilla_fleet::flux::parse_duration(r, true))
            .unwrap_or(interval);
        let timeout = kustomization_timeout(&ks);
        let dependency = self.options.dependency_requeue;

        // Source.
        if let Err(message) = ks.check_source_access(self.options.no_cross_namespace_refs) {
            run.conditions.stalled("AccessDenied", &message);
            run.fail("AccessDenied", &message);
            return run.finish(None);
        }
        let source_ns = ks.source_namespace().to_string();
        let source_name = ks.spec.source_ref.name.clone();
        let source_kind = ks.spec.source_ref.kind.as_str();
        let source_resource = match source_kind {
            GIT => git_repository_resource(),
            OCI => oci_repository::oci_repository_resource(),
            other => {
                let message = format!("source kind '{other}' is not supported by this hub");
                run.conditions
                    .set("Ready", "False", "ArtifactFailed", &message);
                return run.finish(Some(retry));
            }
        };
        let repos: Api<DynamicObject> =
            Api::namespaced_with(self.hub.clone(), &source_ns, &source_resource);
        let source = match repos.get_opt(&source_name).await {
            Ok(Some(s)) => serde_json::to_value(s).unwrap_or(Value::Null),
            Ok(None) => {
                let message = format!(
                    "{}.{SOURCE_GROUP} \"{source_name}\" not found",
                    source_resource.plural
                );
                run.conditions
                    .set("Ready", "False", "ArtifactFailed", &message);
                return run.finish(Some(retry));
            }
            Err(e) => {
                let message = format!(
                    "unable to get source '{source_ns}/{source_name}': {}",
                    api_message(&e)
                );
                run.conditions
                    .set("Ready", "False", "ArtifactFailed", &message);
                return run.finish(Some(retry));
            }
        };
        if source.at("/status/artifact").is_none() {
            let message = format!(
                "Source artifact not found, retrying in {}",
                go_duration(dependency)
            );
            run.conditions
                .set("Ready", "False", "ArtifactFailed", &message);
            return run.finish(Some(dependency));
        }
        let Some(tree) = self.artifact(source_kind, &format!("{source_ns}/{source_name}")) else {
            let message = format!(
                "Source is not ready, artifact not found, retrying in {}",
                go_duration(dependency)
            );
            run.conditions
                .set("Ready", "False", "ArtifactFailed", &message);
            return run.finish(Some(dependency));
        };
        let revision = tree.revision.clone();
        run.revision = Some(revision.clone());
        run.origin_revision = tree
            .metadata
            .get(oci_repository::OCI_REVISION)
            .filter(|r| !r.is_empty())
            .cloned();

        // Dependencies.
        if !ks.spec.depends_on.is_empty()
            && let Err(error) = self.check_dependencies(&ks, obj, &revision).await
        {
            let message = match error {
                DependencyError::NotReady(message) => message,
                DependencyError::Terminal(e) => {
                    let message = format!("{TERMINAL_ERROR_MESSAGE}: {e}");
                    run.conditions.stalled("InvalidCELExpression", &message);
                    run.fail("InvalidCELExpression", &message);
                    run.status["observedGeneration"] = json!(run.generation);
                    return run.finish(None);
                }
            };
            run.conditions
                .set("Ready", "False", "DependencyNotReady", &message);
            run.event(
                false,
                &format!(
                    "Dependencies do not meet ready condition, retrying in {}",
                    go_duration(dependency)
                ),
                &[],
            );
            return run.finish(Some(dependency));
        }

        run.conditions.reconciling(
            "Progressing",
            &format!(
                "Building manifests for revision {revision} with a timeout of {}",
                go_duration(timeout)
            ),
        );
        run.status["lastAttemptedRevision"] = json!(revision);

        // Build.
        let spec_value = obj.get("spec").cloned().unwrap_or(json!({}));
        let build_spec: BuildSpec = match serde_json::from_value(spec_value) {
            Ok(s) => s,
            Err(e) => {
                run.fail("BuildFailed", &e.to_string());
                return run.finish(Some(retry));
            }
        };
        let vars = match &build_spec.post_build {
            Some(post) => match self.variables(&ks.metadata.namespace, post).await {
                Ok(v) => v,
                Err(message) => {
                    run.fail("BuildFailed", &message);
                    return run.finish(Some(retry));
                }
            },
            None => Variables::new(),
        };
        let owner = Owner {
            name: ks.metadata.name.clone(),
            namespace: ks.metadata.namespace.clone(),
        };
        let keys = match &build_spec.decryption {
            Some(decryption) if decryption.provider != "sops" => {
                let message = format!(
                    "spec.decryption.provider: Unsupported value: \"{}\": supported values: \"sops\"",
                    decryption.provider
                );
                run.fail("BuildFailed", &message);
                return run.finish(Some(retry));
            }
            Some(decryption) => match self
                .decryption_keys(&ks.metadata.namespace, decryption)
                .await
            {
                Ok(keys) => keys,
                Err(message) => {
                    run.fail("BuildFailed", &message);
                    return run.finish(Some(retry));
                }
            },
            None => flotilla_render::sops::Identities::none(),
        };
        let build = || {
            flotilla_render::flux::build_with_keys(
                tree.tree.as_ref(),
                &build_spec,
                &owner,
                &vars,
                Strictness::Strict,
                &keys,
            )
        };
        let mut built = build();
        // The data keys of `hc_vault` entries come from Vault: asked for what the build
        // met, then the build runs once more.
        if let (Err(_), Some(vault)) = (&built, keys.vault()) {
            let wanted = vault.take_wanted();
            if !wanted.is_empty() {
                vault_transit::answer(vault, wanted).await;
                built = build();
            }
        }
        let objects = match built {
            Ok(o) => o,
            Err(e) => {
                let reason = match e {
                    flotilla_render::flux::FluxBuildError::PathNotFound { .. } => "ArtifactFailed",
                    _ => "BuildFailed",
                };
                run.fail(reason, &e.to_string());
                return run.finish(Some(retry));
            }
        };

        // Apply.
        run.conditions.reconciling(
            "Progressing",
            &format!(
                "Detecting drift for revision {revision} with a timeout of {}",
                go_duration(timeout)
            ),
        );
        let cluster = match self.target(&ks).await {
            Ok(c) => c,
            Err(message) => {
                run.fail("ReconciliationFailed", &message);
                return run.finish(Some(retry));
            }
        };
        // From here on each outcome is a snapshot of `status.history` (upstream builds
        // its client before the build, so a target failure is none).
        let mut snapshot = BTreeMap::from([("revision".to_string(), revision.to_string())]);
        if let Some(origin) = &run.origin_revision {
            snapshot.insert("originRevision".to_string(), origin.clone());
        }
        run.built = Some((build_digest(&objects), snapshot));
        // As kustomize-controller: a Secret still encrypted with SOPS is never applied.
        if let Some(secret) = objects.iter().find(|o| still_encrypted(o)) {
            let message = format!(
                "{} is SOPS encrypted, configuring decryption is required for this secret to be reconciled",
                ssa::ObjMeta::of(secret).display()
            );
            run.fail("ReconciliationFailed", &message);
            return run.finish(Some(retry));
        }
        let changes = match tokio::time::timeout(
            timeout,
            ssa::apply_all_staged(
                &cluster,
                objects,
                &ssa::ApplyOptions {
                    force: ks.spec.force,
                    override_managers: &self.options.override_managers,
                },
                Duration::from_secs(2),
            ),
        )
        .await
        {
            Ok(Ok(c)) => c,
            Ok(Err(failure)) => {
                run.fail("ReconciliationFailed", &failure.message);
                return run.finish(Some(retry));
            }
            Err(_) => {
                let message = format!("apply timed out after {}", go_duration(timeout));
                run.fail("ReconciliationFailed", &message);
                return run.finish(Some(retry));
            }
        };
        // The change set, one `Kind/namespace/name action` line per object that changed.
        let changed: Vec<String> = changes
            .iter()
            .filter(|c| matches!(c.action, ssa::Action::Created | ssa::Action::Configured))
            .map(|c| format!("{} {}", c.meta.display(), c.action.as_str()))
            .collect();
        if !changed.is_empty() {
            run.progress(&changed.join("\n"));
        }

        // Inventory and prune.
        let old_inventory = ssa::inventory_entries(old_status.get("inventory"));
        let mut inventory: BTreeSet<ObjMeta> = changes.iter().map(|c| c.meta.clone()).collect();
        let new_ids: HashSet<(String, String, String, String)> = inventory
            .iter()
            .map(|m| {
                (
                    m.namespace.clone(),
                    m.name.clone(),
                    m.group.clone(),
                    m.kind.clone(),
                )
            })
            .collect();
        let stale: BTreeSet<ObjMeta> = old_inventory
            .into_iter()
            .filter(|m| {
                !new_ids.contains(&(
                    m.namespace.clone(),
                    m.name.clone(),
                    m.group.clone(),
                    m.kind.clone(),
                ))
            })
            .collect();
        if ks.spec.prune.unwrap_or(false) && !stale.is_empty() {
            let pruned = ssa::prune(
                &cluster,
                &stale,
                (&ks.metadata.name, &ks.metadata.namespace),
            )
            .await;
            if !pruned.deleted.is_empty() {
                let deleted: Vec<String> = pruned
                    .deleted
                    .iter()
                    .map(|m| format!("{} deleted", m.display()))
                    .collect();
                run.progress(&deleted.join("\n"));
            }
            if !pruned.errors.is_empty() {
                inventory.extend(pruned.survivors);
                run.status["inventory"] = ssa::inventory_value(&inventory);
                run.fail("PruneFailed", &pruned.errors.join("\n"));
                return run.finish(Some(retry));
            }
        }
        run.status["inventory"] = ssa::inventory_value(&inventory);

        // Health.
        let checks: Vec<ObjMeta> = if ks.spec.wait {
            changes
                .iter()
                .filter(|c| c.action != ssa::Action::Skipped)
                .map(|c| c.meta.clone())
                .collect()
        } else {
            ks.spec
                .health_checks
                .iter()
                .filter(|h| {
                    !(h.kind == "Kustomization"
                        && h.name == ks.metadata.name
                        && (h.namespace.is_empty() || h.namespace == ks.metadata.namespace))
                })
                .map(|h| {
                    let api_version = if h.api_version.is_empty() {
                        "apps/v1"
                    } else {
                        &h.api_version
                    };
                    let (group, version) =
                        api_version.rsplit_once('/').unwrap_or(("", api_version));
                    ObjMeta {
                        namespace: if h.namespace.is_empty() {
                            ks.metadata.namespace.clone()
                        } else {
                            h.namespace.clone()
                        },
                        name: h.name.clone(),
                        group: group.to_string(),
                        kind: h.kind.clone(),
                        version: version.to_string(),
                    }
                })
                .collect()
        };
        if !ks.spec.wait && ks.spec.health_checks.is_empty() {
            run.conditions.delete("Healthy");
        } else {
            run.conditions.reconciling(
                "Progressing",
                &format!(
                    "Running health checks for revision {revision} with a timeout of {}",
                    go_duration(timeout)
                ),
            );
            let started = Instant::now();
            // kustomize-controller polls with fluxcd/pkg's Job reader (a Job is healthy once
            // complete) and the CEL readers of `healthCheckExprs`.
            if let Err(e) = ssa::wait_with(
                &cluster,
                &checks,
                timeout,
                self.options.health_poll,
                true,
                ssa::Until::JobsComplete,
                health_exprs.as_ref(),
            )
            .await
            {
                let message = format!(
                    "health check failed after {}: {e}",
                    go_duration(started.elapsed())
                );
                run.conditions
                    .set("Healthy", "False", "HealthCheckFailed", &message);
                run.fail("HealthCheckFailed", &message);
                return run.finish(Some(retry));
            }
            run.conditions.set(
                "Healthy",
                "True",
                "Succeeded",
                &format!("Health check passed in {}", go_duration(started.elapsed())),
            );
        }

        run.status["lastAppliedRevision"] = json!(revision);
        match &run.origin_revision {
            Some(origin) => run.status["lastAppliedOriginRevision"] = json!(origin),
            None => {
                if let Some(status) = run.status.as_object_mut() {
                    status.remove("lastAppliedOriginRevision");
                }
            }
        }
        run.conditions.set(
            "Ready",
            "True",
            "ReconciliationSucceeded",
            &format!("Applied revision: {revision}"),
        );
        let finished = format!(
            "Reconciliation finished in {}, next run in {}",
            go_duration(run.started.elapsed()),
            go_duration(interval)
        );
        let commit_status = format!("{KUSTOMIZE_GROUP}/commit_status");
        run.event(false, &finished, &[(&commit_status, "update")]);
        run.finish(Some(interval))
    }

    /// kustomize-controller's `checkDependencies`, dependency by dependency: it must exist;
    /// a `readyExpr` then decides alone (`self` the Kustomization, `dep` the dependency),
    /// else it must be Ready at its generation and, on the same source, have applied
    /// `revision`.
    async fn check_dependencies(
        &self,
        ks: &Kustomization,
        obj: &Value,
        revision: &str,
    ) -> Result<(), DependencyError> {
        for dep_ref in &ks.spec.depends_on {
            let namespace = if dep_ref.namespace.is_empty() {
                ks.metadata.namespace.clone()
            } else {
                dep_ref.namespace.clone()
            };
            let name = &dep_ref.name;
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.hub.clone(), &namespace, &kustomization_resource());
            let dep = match api.get_opt(name).await {
                Ok(Some(d)) => serde_json::to_value(d).unwrap_or(Value::Null),
                Ok(None) => {
                    return Err(DependencyError::NotReady(format!(
                        "unable to get '{namespace}/{name}' dependency: kustomizations.kustomize.toolkit.fluxcd.io {name:?} not found"
                    )));
                }
                Err(e) => {
                    return Err(DependencyError::NotReady(format!(
                        "unable to get '{namespace}/{name}' dependency: {}",
                        api_message(&e)
                    )));
                }
            };
            if !dep_ref.ready_expr.is_empty() {
                ready_by_expression(&dep_ref.ready_expr, obj, &dep, &namespace, name)?;
                continue;
            }
            flotilla_fleet::flux::dependency_ready(&namespace, name, &dep)
                .map_err(DependencyError::NotReady)?;
            let s = |p: &str| dep.at(p).and_then(Value::as_str).unwrap_or("");
            let dep_source_ns = if s("/spec/sourceRef/namespace").is_empty() {
                namespace.as_str()
            } else {
                s("/spec/sourceRef/namespace")
            };
            let same_source = s("/spec/sourceRef/name") == ks.spec.source_ref.name
                && s("/spec/sourceRef/kind") == ks.spec.source_ref.kind
                && dep_source_ns == ks.source_namespace();
            if same_source && s("/status/lastAppliedRevision") != revision {
                return Err(DependencyError::NotReady(format!(
                    "dependency '{namespace}/{name}' revision is not up to date"
                )));
            }
        }
        Ok(())
    }
}

/// A Kustomization's or HelmRelease's `spec.healthCheckExprs`, compiled (none when absent
/// or empty), or why not — a configuration error only a new generation can fix.
fn health_check_exprs(spec: &Value) -> Result<Option<HealthExprs>, String> {
    match spec.get("healthCheckExprs") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(checks)) => {
            HealthExprs::compile(checks).map(|exprs| Some(exprs).filter(|e| !e.is_empty()))
        }
        Some(_) => Err("spec.healthCheckExprs must be a list".to_string()),
    }
}

/// A dependency's `readyExpr` (Kustomization or HelmRelease): CEL over `self` (the
/// dependent object) and `dep`, in the controllers' words when it is false or does not
/// parse.
fn ready_by_expression(
    expression: &str,
    this: &Value,
    dep: &Value,
    namespace: &str,
    name: &str,
) -> Result<(), DependencyError> {
    let expr = BoolExpr::parse(expression).map_err(|e| {
        DependencyError::Terminal(format!("failed to evaluate dependency {name}: {e}"))
    })?;
    if expr
        .eval(&[("self", this), ("dep", dep)])
        .map_err(DependencyError::NotReady)?
    {
        Ok(())
    } else {
        Err(DependencyError::NotReady(format!(
            "dependency '{namespace}/{name}' is not ready according to readyExpr eval"
        )))
    }
}

/// Why the dependencies hold a Kustomization or a HelmRelease back.
enum DependencyError {
    /// Not yet: looked at again after the dependency requeue period.
    NotReady(String),
    /// A `readyExpr` that does not parse: only a new generation can fix it.
    Terminal(String),
}

/// The status being built during one Kustomization reconcile, and its events.
struct KsRun {
    status: Value,
    conditions: Conditions,
    generation: i64,
    started: Instant,
    /// The source revision, once known (the events' revision annotation).
    revision: Option<String>,
    /// The revision the source's artifact came from (an OCI artifact's
    /// `org.opencontainers.image.revision`), once known.
    origin_revision: Option<String>,
    events: Vec<events::FluxEvent>,
    /// Once built and about to apply: the build's digest and the snapshot's metadata,
    /// for `status.history`.
    built: Option<(String, BTreeMap<String, String>)>,
}

impl KsRun {
    /// kustomize-controller's `event`: the reason is the Ready reason at this point
    /// (`Progressing` mid-run), or the severity when there is none.
    fn event(&mut self, warning: bool, message: &str, extra: &[(&str, &str)]) {
        let severity = if warning { "error" } else { "info" };
        let reason = self
            .conditions
            .reason("Ready")
            .filter(|r| !r.is_empty())
            .unwrap_or(severity)
            .to_string();
        self.event_because(warning, &reason, message, extra);
    }

    /// A change made mid-run (applied or pruned objects): upstream's Ready is Unknown
    /// with `Progressing` then.
    fn progress(&mut self, message: &str) {
        self.event_because(false, "Progressing", message, &[]);
    }

    fn event_because(
        &mut self,
        warning: bool,
        reason: &str,
        message: &str,
        extra: &[(&str, &str)],
    ) {
        let mut metadata: BTreeMap<String, String> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if let Some(revision) = &self.revision {
            metadata.insert(format!("{KUSTOMIZE_GROUP}/revision"), revision.clone());
        }
        if let Some(origin) = &self.origin_revision {
            metadata.insert(format!("{KUSTOMIZE_GROUP}/originRevision"), origin.clone());
        }
        self.events.push(events::FluxEvent {
            warning,
            reason: reason.to_string(),
            message: message.to_string(),
            metadata,
        });
    }

    /// Ready=False for an error of the reconcile proper, with its Warning event.
    fn fail(&mut self, reason: &str, message: &str) {
        self.conditions.set("Ready", "False", reason, message);
        self.event(true, message, &[]);
    }

    /// kustomize-controller's `finalizeStatus`.
    fn finish(mut self, requeue: Option<Duration>) -> Outcome {
        if self.conditions.is("Ready", "True") {
            self.conditions.delete("Reconciling");
            self.conditions.delete("Stalled");
            self.status["observedGeneration"] = json!(self.generation);
        }
        if self.conditions.is("Ready", "False") {
            self.conditions.retry_reconciling();
        }
        if let Some((digest, metadata)) = &self.built {
            let reason = self
                .conditions
                .reason("Ready")
                .unwrap_or_default()
                .to_string();
            let mut snapshots = self.status["history"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            history::upsert(
                &mut snapshots,
                &history::Outcome {
                    digest,
                    at: &now_rfc3339(),
                    duration: &go_duration(self.started.elapsed()),
                    status: &reason,
                    metadata,
                },
            );
            self.status["history"] = Value::Array(snapshots);
        }
        self.status["conditions"] = self.conditions.to_value();
        Outcome {
            status: Some(self.status),
            requeue,
            events: self.events,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The controller loop.

const GIT: &str = "GitRepository";
const OCI: &str = "OCIRepository";
const KS: &str = "Kustomization";
const HELM_REPO: &str = "HelmRepository";
const HELM_CHART: &str = "HelmChart";
const HELM_RELEASE: &str = "HelmRelease";
const RECEIVER: &str = "Receiver";

/// The kinds the Flux loop reconciles, with their resource and metrics name.
const KINDS: [(&str, &str); 7] = [
    (GIT, "gitrepository"),
    (OCI, "ocirepository"),
    (HELM_REPO, "helmrepository"),
    (HELM_CHART, "helmchart"),
    (KS, "kustomization"),
    (HELM_RELEASE, "helmrelease"),
    (RECEIVER, "receiver"),
];

/// The API resource of one of [`KINDS`].
fn resource_of(kind: &str) -> ApiResource {
    match kind {
        GIT => git_repository_resource(),
        OCI => oci_repository::oci_repository_resource(),
        HELM_REPO => helm_repository::helm_repository_resource(),
        HELM_CHART => helm_chart::helm_chart_resource(),
        HELM_RELEASE => helm_release::helm_release_resource(),
        RECEIVER => notify::receiver::receiver_resource(),
        _ => kustomization_resource(),
    }
}

/// Whether `kind` is a source (its artifact read by others).
fn is_source_kind(kind: &str) -> bool {
    matches!(kind, GIT | OCI | HELM_REPO | HELM_CHART)
}

struct Loop {
    reconciler: Arc<FluxReconciler>,
    queue: WorkQueue,
    /// The GitRepositories and Kustomizations seen, by queue key.
    known: Known,
    /// GitRepository queue key → the queue keys reading it (Kustomizations building
    /// it, GitRepositories including it).
    readers: Mutex<HashMap<String, HashSet<String>>>,
    /// GitRepository queue key → its artifact's [`SourceTree::identity`] last reported
    /// (requeue readers on change).
    revisions: Mutex<HashMap<String, String>>,
    /// Repository identity (mirror) → GitRepository queue keys.
    urls: Mutex<HashMap<String, HashSet<String>>>,
    /// The Kustomizations' Kubernetes Events.
    kustomization_events: events::Recorder,
    /// The sources' Kubernetes Events.
    source_events: events::Recorder,
    /// The HelmReleases' Kubernetes Events.
    helm_events: events::Recorder,
    /// The Receivers' Kubernetes Events (never dispatched, as notification-controller's).
    receiver_events: events::Recorder,
    /// The event server every other event is handed to.
    notifications: Arc<notify::Notifications>,
}

/// What makes a Flux object worth reconciling again: spec, the reconcile request
/// annotation, deletion and identity. Status writes are ignored.
fn fingerprint(obj: &Value) -> u64 {
    crate::controller::hash_of(&[
        obj.get("spec"),
        obj.at("/metadata/annotations/reconcile.fluxcd.io~1requestedAt"),
        obj.at("/metadata/deletionTimestamp"),
        obj.at("/metadata/uid"),
    ])
}

/// Runs the Flux controllers until the hub watches end: the sources, Kustomizations,
/// HelmReleases and Receivers, and notification-controller's event server with its watches
/// of Alerts and Providers ([`notify`]).
pub async fn run_flux(reconciler: Arc<FluxReconciler>) {
    let (notifications, posted) = notify::Notifications::new(
        reconciler.hub.clone(),
        reconciler.options.notify.clone(),
        reconciler.options.no_cross_namespace_refs,
    );
    let state = Arc::new(Loop {
        kustomization_events: events::Recorder::new(reconciler.hub.clone(), "kustomize-controller"),
        source_events: events::Recorder::new(reconciler.hub.clone(), "source-controller"),
        helm_events: events::Recorder::new(reconciler.hub.clone(), "helm-controller"),
        receiver_events: events::Recorder::new(reconciler.hub.clone(), notify::CONTROLLER),
        notifications: notifications.clone(),
        reconciler,
        queue: WorkQueue::new(),
        known: Known::default(),
        readers: Mutex::default(),
        revisions: Mutex::default(),
        urls: Mutex::default(),
    });
    // Owned here: when this future is dropped (the hub stops), they stop with it.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..state.reconciler.options.workers.max(1) {
        tasks.spawn(worker(state.clone()));
    }
    // A push (webhook) requeues the GitRepositories of that repository at once.
    let (by_url, all) = (state.clone(), state.clone());
    tasks.spawn(crate::controller::requeue_on_push(
        state.reconciler.sources.mirrors().clone(),
        state.queue.clone(),
        move |identity| crate::controller::readers_of(&by_url.urls, identity),
        move || {
            let mut keys = all.known.keys();
            keys.retain(|k| k.starts_with(GIT));
            keys
        },
    ));
    for (kind, _) in KINDS {
        tasks.spawn(watch(state.clone(), kind, resource_of(kind)));
    }
    if let Some(selector) = state
        .reconciler
        .options
        .watch_configs_label_selector
        .clone()
    {
        for kind in [
            config_watch::ConfigKind::ConfigMap,
            config_watch::ConfigKind::Secret,
        ] {
            let readers = state.clone();
            tasks.spawn(config_watch::watch(
                state.reconciler.hub.clone(),
                kind,
                selector.clone(),
                move |kind, namespace, name| {
                    requeue_config_readers(&readers, kind, namespace, name)
                },
            ));
        }
    }
    tasks.spawn(notifications.clone().run(posted));
    tasks.spawn(notifications.clone().watch_alerts());
    tasks.spawn(notifications.watch_providers());
    while tasks.join_next().await.is_some() {}
}

async fn watch(state: Arc<Loop>, kind: &'static str, resource: ApiResource) {
    let api: Api<crate::raw::RawObject> = Api::all_with(state.reconciler.hub.clone(), &resource);
    let mut changes = std::pin::pin!(crate::controller::object_changes(api, kind));
    while let Some(change) = changes.next().await {
        match change {
            crate::controller::Change::Listed => {}
            crate::controller::Change::Gone(value) => {
                let key = format!("{kind}/{}", object_key(&value));
                let text = |pointer: &str| value.at(pointer).and_then(Value::as_str).unwrap_or("");
                crate::metrics::global().forget_flux(
                    kind,
                    text("/metadata/namespace"),
                    text("/metadata/name"),
                );
                state.known.forget(&key);
                state.reconciler.forget_source(&key);
                lock(&state.revisions).remove(&key);
            }
            crate::controller::Change::Present(value) => {
                let key = format!("{kind}/{}", object_key(&value));
                let print = fingerprint(&value);
                if state.known.observe(&key, value, print) {
                    state.queue.add(key);
                }
            }
        }
    }
}

async fn worker(state: Arc<Loop>) {
    while let Some(lease) = state.queue.next().await {
        let key = lease.key().to_string();
        let Some(object) = state.known.get(&key) else {
            continue;
        };
        let now = now_rfc3339();
        let kind = key.split('/').next().unwrap_or_default();
        let is_git = kind == GIT;
        let is_source = is_source_kind(kind);
        // Known as a reader before it looks for the artifact: a GitRepository that
        // finishes meanwhile then requeues it (it reruns once done), instead of it
        // waiting out the dependency requeue period.
        remember_reader(&state, &key, &object, is_source);
        let started = Instant::now();
        let reconciler = &state.reconciler;
        let outcome = crate::contained(async {
            match kind {
                GIT => reconciler.reconcile_git_repository(&object, &now).await,
                OCI => reconciler.reconcile_oci_repository(&object, &now).await,
                HELM_REPO => reconciler.reconcile_helm_repository(&object, &now).await,
                HELM_CHART => reconciler.reconcile_helm_chart(&object, &now).await,
                HELM_RELEASE => reconciler.reconcile_helm_release(&object, &now).await,
                RECEIVER => reconciler.reconcile_receiver(&object, &now).await,
                _ => reconciler.reconcile_kustomization(&object, &now).await,
            }
        })
        .await;
        let outcome = match outcome {
            Ok(o) => {
                let ready_false = o.status.as_ref().is_some_and(|s| {
                    s.get("conditions")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .any(|c| c["type"] == "Ready" && c["status"] == "False")
                });
                crate::metrics::global().reconcile(
                    KINDS
                        .iter()
                        .find(|(k, _)| *k == kind)
                        .map_or("kustomization", |(_, metric)| metric),
                    crate::metrics::Outcome::of(ready_false),
                    started.elapsed(),
                );
                o
            }
            Err(e) => {
                tracing::error!(key = %key, error = %e, "Flux reconcile panicked");
                drop(lease);
                state.queue.add_after(key, Duration::from_secs(10));
                continue;
            }
        };
        if let Some(status) = &outcome.status {
            let resource = resource_of(kind);
            let written = write_status(
                &state.reconciler.hub,
                &resource,
                StatusOn::Subresource,
                &object,
                status,
            )
            .await;
            match written {
                Ok(()) => state.known.set_status(&key, status.clone()),
                Err(e) => tracing::warn!(key = %key, error = %e, "writing Flux status"),
            }
        }
        // Once the status is written, as Flux's deferred `RecordDuration`; an object being
        // deleted (or gone meanwhile, its watch event handled first) loses its series
        // instead, as `IsDelete` makes it `DeleteDuration`.
        let text = |pointer: &str| object.at(pointer).and_then(Value::as_str).unwrap_or("");
        let (namespace, name) = (text("/metadata/namespace"), text("/metadata/name"));
        let metrics = crate::metrics::global();
        if object.at("/metadata/deletionTimestamp").is_some() || state.known.get(&key).is_none() {
            metrics.forget_flux(kind, namespace, name);
        } else {
            metrics.flux_reconcile(kind, namespace, name, started.elapsed());
        }
        // After the status write, as kustomize-controller emits them once its status is
        // patched.
        let (recorder, controller) = if is_source {
            (&state.source_events, "source-controller")
        } else if kind == HELM_RELEASE {
            (&state.helm_events, "helm-controller")
        } else if kind == RECEIVER {
            (&state.receiver_events, notify::CONTROLLER)
        } else {
            (&state.kustomization_events, "kustomize-controller")
        };
        for event in &outcome.events {
            // fluxcd/pkg's recorder: the object's `event.toolkit.fluxcd.io/` annotations
            // go with the event, to the Kubernetes Event and to the event server.
            let event = events::FluxEvent {
                metadata: notify::event::with_event_annotations(&object, &event.metadata),
                ..event.clone()
            };
            recorder.record(&object, &event, &now).await;
            if kind != RECEIVER {
                state.notifications.submit(notify::event::Event::recorded(
                    &object,
                    &event,
                    controller,
                    state.notifications.instance(),
                    &now,
                ));
            }
        }
        if is_git {
            remember_url(&state, &key, &object);
        }
        if is_source {
            // After the status write: a reader requeued earlier could read the source
            // before its artifact is in the status, and wait out the dependency period
            // (30 s) for nothing.
            after_source(&state, &key);
        }
        drop(lease);
        if let Some(delay) = outcome.requeue {
            state.queue.add_after(key, delay);
        }
    }
}

/// The digest of a build's objects for `status.history`: SHA-256 of their JSON, so the
/// same build gives the same digest (kustomize-controller digests its YAML output: the
/// numbers differ from Flux's, the equalities do not).
fn build_digest(objects: &[Value]) -> String {
    let json = serde_json::to_vec(objects).unwrap_or_default();
    format!("sha256:{}", flotilla_source::sha256_hex(&json))
}

/// The wait before the retry after `failures` failures in a row (one or more): client-go's
/// `ItemExponentialFailureRateLimiter`, `min × 2^(failures − 1)` up to `max`.
fn retry_delay(failures: u32, min: Duration, max: Duration) -> Duration {
    let exponent = failures.saturating_sub(1).min(31);
    min.saturating_mul(1u32 << exponent).min(max)
}

/// A watched ConfigMap or Secret changed: its Kustomizations and HelmReleases run again.
fn requeue_config_readers(
    state: &Loop,
    kind: config_watch::ConfigKind,
    namespace: &str,
    name: &str,
) {
    for key in state.known.keys() {
        let reader_kind = key.split('/').next().unwrap_or_default();
        if (reader_kind == KS || reader_kind == HELM_RELEASE)
            && state.known.get(&key).is_some_and(|object| {
                config_watch::reads(reader_kind == HELM_RELEASE, &object, kind, namespace, name)
            })
        {
            state.queue.add(key);
        }
    }
}

/// After a GitRepository run: remember its URL for pushes.
fn remember_url(state: &Loop, key: &str, object: &Value) {
    if let Some(url) = object.at("/spec/url").and_then(Value::as_str)
        && let Ok(parsed) = flotilla_source::GitUrl::parse(url)
    {
        lock(&state.urls)
            .entry(parsed.identity())
            .or_default()
            .insert(key.to_string());
        // The mirror cache rewrites URLs (insteadOf); pushes name the rewritten one.
        let rewritten =
            flotilla_source::rewrite(url, &state.reconciler.sources.mirrors().options().rewrites);
        if let Ok(parsed) = flotilla_source::GitUrl::parse(&rewritten) {
            lock(&state.urls)
                .entry(parsed.identity())
                .or_default()
                .insert(key.to_string());
        }
    }
}

/// After a source's run: requeue its readers (the Kustomizations that build it, the
/// GitRepositories that include it) when its artifact changed.
fn after_source(state: &Loop, key: &str) {
    // The queue key is the artifact's: `kind/namespace/name`.
    let Some(identity) = state.reconciler.artifact_identity(key) else {
        return;
    };
    let changed =
        lock(&state.revisions).insert(key.to_string(), identity.clone()) != Some(identity);
    if changed {
        let readers: Vec<String> = lock(&state.readers)
            .get(key)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        for reader in readers {
            state.queue.add(reader);
        }
    }
}

/// Records which sources `key` reads: a Kustomization its source, a GitRepository those
/// it includes (of its own namespace).
fn remember_reader(state: &Loop, key: &str, object: &Value, is_source: bool) {
    if key.starts_with(RECEIVER) {
        return;
    }
    let s = |p: &str| object.at(p).and_then(Value::as_str).unwrap_or("");
    let sources: Vec<String> = if key.starts_with(HELM_CHART) {
        // A HelmChart reads a source of its own namespace.
        vec![format!(
            "{}/{}/{}",
            s("/spec/sourceRef/kind"),
            s("/metadata/namespace"),
            s("/spec/sourceRef/name")
        )]
    } else if is_source {
        object
            .at("/spec/include")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|i| i.at("/repository/name").and_then(Value::as_str))
            .map(|name| format!("{GIT}/{}/{name}", s("/metadata/namespace")))
            .collect()
    } else if key.starts_with(HELM_RELEASE) {
        helm_release::chart_source_key(object).into_iter().collect()
    } else {
        let namespace = if s("/spec/sourceRef/namespace").is_empty() {
            s("/metadata/namespace")
        } else {
            s("/spec/sourceRef/namespace")
        };
        let kind = match s("/spec/sourceRef/kind") {
            "" => GIT,
            kind => kind,
        };
        vec![format!("{kind}/{namespace}/{}", s("/spec/sourceRef/name"))]
    };
    let mut readers = lock(&state.readers);
    for set in readers.values_mut() {
        set.remove(key);
    }
    for source in sources {
        readers.entry(source).or_default().insert(key.to_string());
    }
}

use crate::controller::{StatusOn, now_rfc3339, write_status};

/// What a GitRepository asks that this hub does not do, named rather than ignored (a
/// build without its submodules, or a fetch without the provider's login or the proxy,
/// would be wrong or fail later for a reason nobody could see).
fn unsupported_git_repository(spec: &Value) -> Option<String> {
    let refused = if spec.get("recurseSubmodules") == Some(&Value::Bool(true)) {
        "spec.recurseSubmodules (Git submodules)".to_string()
    } else if let Some(provider) = spec
        .get("provider")
        .and_then(Value::as_str)
        .filter(|p| !matches!(*p, "" | "generic"))
    {
        format!("spec.provider '{provider}' (the provider's login)")
    } else if spec.get("proxySecretRef").is_some_and(|v| !v.is_null()) {
        "spec.proxySecretRef".to_string()
    } else {
        return None;
    };
    Some(format!("{refused} is not supported by this hub"))
}

#[cfg(test)]
mod tests {
    /// source-controller's work queue backoff: 0.75 s, doubling, at most 15 minutes.
    #[test]
    fn a_failing_repository_backs_off_exponentially() {
        use std::time::Duration;
        let (min, max) = (Duration::from_millis(750), Duration::from_secs(900));
        let delays: Vec<Duration> = (1..=13).map(|n| super::retry_delay(n, min, max)).collect();
        assert_eq!(delays[0], Duration::from_millis(750));
        assert_eq!(delays[1], Duration::from_millis(1500));
        assert_eq!(delays[4], Duration::from_secs(12));
        assert_eq!(delays[10], Duration::from_millis(768_000));
        assert_eq!(delays[11], max);
        assert_eq!(super::retry_delay(u32::MAX, min, max), max);
    }
    use super::*;

    /// A kubeconfig Secret's new version replaces the client of its earlier ones for the
    /// same user; other Secrets, other users and the hub's own clients stay.
    #[test]
    fn a_changed_kubeconfig_secret_replaces_its_earlier_clients() {
        let current = "secret:team/remote@42|system:serviceaccount:team:deployer";
        assert!(replaced_by(
            "secret:team/remote@41|system:serviceaccount:team:deployer",
            current
        ));
        for kept in [
            current,
            "secret:team/remote@41|",
            "secret:team/other@41|system:serviceaccount:team:deployer",
            "secret:other/remote@41|system:serviceaccount:team:deployer",
            "hub|system:serviceaccount:team:deployer",
        ] {
            assert!(!replaced_by(kept, current), "{kept}");
        }
        assert!(!replaced_by("hub|", "hub|x"));
    }

    /// Submodules, a provider's login and a proxy are refused by name.
    #[test]
    fn git_repository_fields_this_hub_cannot_honour_are_named() {
        assert_eq!(
            unsupported_git_repository(&json!({"url": "https://x", "provider": "generic"})),
            None
        );
        assert_eq!(
            unsupported_git_repository(&json!({"recurseSubmodules": true})).as_deref(),
            Some("spec.recurseSubmodules (Git submodules) is not supported by this hub")
        );
        assert_eq!(
            unsupported_git_repository(&json!({"recurseSubmodules": false})),
            None
        );
        assert_eq!(
            unsupported_git_repository(&json!({"provider": "azure"})).as_deref(),
            Some("spec.provider 'azure' (the provider's login) is not supported by this hub")
        );
        assert!(unsupported_git_repository(&json!({"proxySecretRef": {"name": "p"}})).is_some());
    }

    #[test]
    fn durations_print_as_go_does() {
        // To the nanosecond, as `time.Since(start).String()` prints a reconcile's time.
        for (nanos, go) in [
            (30_000_000_000, "30s"),
            (270_000_000_000, "4m30s"),
            (600_000_000_000, "10m0s"),
            (3_600_000_000_000, "1h0m0s"),
            (1_500_000_000, "1.5s"),
            (250_000_000, "250ms"),
            (2_536_346_081, "2.536346081s"),
            (512_300_000, "512.3ms"),
            (1_500, "1.5µs"),
            (999, "999ns"),
            (62_000_000_001, "1m2.000000001s"),
        ] {
            assert_eq!(go_duration(Duration::from_nanos(nanos)), go, "{nanos} ns");
        }
    }

    #[test]
    fn a_git_repository_tells_of_new_artifacts_recoveries_and_failures() {
        let ready = |status: &str, reason: &str| {
            json!({"conditions": [{"type": "Ready", "status": status, "reason": reason,
                                   "message": "failed to checkout: no such ref"}],
                   "artifact": {"revision": "main@sha1:aaa"}})
        };
        let conditions = |s: &Value| Conditions::from_status(s, 1, "now");
        let ok = ready("True", "Succeeded");
        let failed = ready("False", "GitOperationFailed");
        let newer =
            json!({"conditions": ok["conditions"], "artifact": {"revision": "main@sha1:bbb"}});
        // A new revision: NewArtifact with the commit's short message and the revision.
        let events =
            git_repository_events(&ok, &conditions(&newer), &newer, Some("bump web".into()));
        // (Warning?, reason, message)
        let said = |e: &events::FluxEvent| (e.warning, e.reason.clone(), e.message.clone());
        assert_eq!(events.len(), 1);
        assert_eq!(
            said(&events[0]),
            (
                false,
                "NewArtifact".into(),
                "stored artifact for commit 'bump web'".into()
            )
        );
        assert_eq!(
            events[0].metadata["source.toolkit.fluxcd.io/revision"],
            "main@sha1:bbb"
        );
        // The same artifact: nothing, unless it recovers from a failure.
        assert!(git_repository_events(&ok, &conditions(&ok), &ok, None).is_empty());
        let recovered = git_repository_events(&failed, &conditions(&ok), &ok, None);
        assert_eq!(recovered[0].reason, "Succeeded");
        assert_eq!(
            recovered[0].message,
            "stored artifact for commit 'main@sha1:aaa'"
        );
        // A failure: a Warning with the Ready reason and message.
        let warned = git_repository_events(&ok, &conditions(&failed), &failed, None);
        assert_eq!(
            said(&warned[0]),
            (
                true,
                "GitOperationFailed".into(),
                "failed to checkout: no such ref".into()
            )
        );
    }

    #[test]
    fn only_core_secrets_with_sops_metadata_are_still_encrypted() {
        let secret = |annotations: Value| {
            json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "s", "annotations": annotations}, "sops": {"version": "3.9.0"}})
        };
        assert!(still_encrypted(&secret(json!({}))));
        assert!(!still_encrypted(&secret(
            json!({"kustomize.toolkit.fluxcd.io/decrypt": "Disabled"})
        )));
        let mut map = secret(json!({}));
        map["kind"] = json!("ConfigMap");
        assert!(!still_encrypted(&map));
        let mut plain = secret(json!({}));
        plain.as_object_mut().unwrap().remove("sops");
        assert!(!still_encrypted(&plain));
    }

    #[test]
    fn a_deleted_sources_artifact_and_index_are_forgotten() {
        let config = kube::Config::new("https://127.0.0.1:9".parse().unwrap());
        let mirrors = flotilla_source::MirrorCache::new(flotilla_source::CacheOptions::new(
            std::env::temp_dir().join("flotilla-forget-test"),
        ))
        .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // A client needs a runtime to exist; no request is made.
        let _guard = runtime.enter();
        let reconciler =
            FluxReconciler::new(config, Sources::new(mirrors), FluxOptions::default()).unwrap();
        let tree = SourceTree {
            commit: "1.0.0".into(),
            revision: "1.0.0".into(),
            tree: Arc::new(flotilla_render::kustomize::MemTree::from_files(Vec::<(
                String,
                Vec<u8>,
            )>::new(
            ))),
            included: Vec::new(),
            metadata: Default::default(),
        };
        lock(&reconciler.artifacts).insert("HelmChart/team/web".into(), tree.clone());
        lock(&reconciler.artifacts).insert("HelmChart/team/other".into(), tree);
        lock(&reconciler.helm_indexes).insert(
            "team/charts".into(),
            Arc::new(helm_repository::StoredIndex {
                url: "https://charts.example.com/".into(),
                revision: "sha256:00".into(),
                charts: Default::default(),
            }),
        );
        reconciler.forget_source("HelmChart/team/web");
        reconciler.forget_source("HelmRepository/team/charts");
        assert!(reconciler.artifact_identity("HelmChart/team/web").is_none());
        assert!(
            reconciler
                .artifact_identity("HelmRepository/team/charts")
                .is_none()
        );
        assert_eq!(
            reconciler
                .artifact_identity("HelmChart/team/other")
                .as_deref(),
            Some("1.0.0"),
            "only the deleted source's"
        );
    }

    #[test]
    fn fingerprints_ignore_status() {
        let a = json!({"metadata": {"uid": "1"}, "spec": {"x": 1}, "status": {"s": 1}});
        let mut b = a.clone();
        b["status"] = json!({"s": 2});
        assert_eq!(fingerprint(&a), fingerprint(&b));
        b["metadata"]["annotations"] = json!({"reconcile.fluxcd.io/requestedAt": "now"});
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }
}
