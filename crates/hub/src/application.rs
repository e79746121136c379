//! The Application reconciler: source → render → sync (the operation the app asks for, or
//! its automated policy's) or compare → status, written
//! where Argo CD writes it (`status.sync`, `status.health`, `status.resources`,
//! `status.operationState`, `status.conditions`, `status.reconciledAt`).

mod status;

use flotilla_core::pointer::Pointer as _;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use flotilla_fleet::Application;
use flotilla_fleet::argocd::application::{
    ApplicationDestination, ApplicationSource, RetryStrategy, SyncPolicy,
};
use flotilla_fleet::cluster::ClusterSecret;
use flotilla_source::Request;
use flotilla_sync::{AppId, Inventory, InventoryEntry, SyncOptions};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use crate::clusters::{ClusterRegistry, IN_CLUSTER_SERVER};
use crate::lock;
use crate::operation::{
    OperationRun, Requested, Step, end_operation, operation_refused, operation_terminated,
};
use crate::render::{self, AppContext, SourceType};
use crate::retry::LastSync;
use crate::sources::{Sources, argo_reference};
use kube::runtime::reflector::ObjectRef;
use status::Target;

/// Where AppProjects are read from (Argo CD's namespace).
pub const PROJECT_NAMESPACE: &str = "argocd";

/// Argo CD's cascading-deletion finalizer (also with `/foreground` or `/background`).
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";

/// What the reconciler shares across applications.
pub struct AppReconciler {
    /// The hub itself (also the in-cluster destination).
    pub hub: kube::Client,
    /// The registered clusters.
    pub clusters: Arc<RwLock<ClusterRegistry>>,
    /// Repositories.
    pub sources: Sources,
    /// How long a remote check of a repository is reused.
    pub source_interval: Duration,
    /// The hub's own client configuration (for syncs to the in-cluster destination that
    /// impersonate a service account); set by [`crate::run::start`].
    pub hub_config: Option<kube::Config>,
    /// Per destination server and impersonated user: the client its syncs write with,
    /// and the registration it was made from (one connection pool each, as for the hub's
    /// own clients).
    impersonated: Mutex<HashMap<(String, String), ImpersonatingClient>>,
    /// Per destination server: the sync engine's view (keeps discovery cached), made from
    /// the registration it was made from (`None`: the hub itself).
    sync_clusters: Mutex<HashMap<String, SyncCluster>>,
    /// Per application key: what it applied last, for pruning.
    inventories: Mutex<HashMap<String, Inventory>>,
    /// Watches on the kinds applications applied (set by the controller loop).
    drift: Mutex<Option<crate::drift::DriftWatches>>,
    /// Each destination's Kubernetes version (Helm's `.Capabilities.KubeVersion`, the
    /// cluster metrics).
    pub versions: Arc<crate::cluster_versions::ClusterVersions>,
    /// The Applications the controller's watch keeps (set by the controller loop): which
    /// apps exist, for orphaned resources.
    applications: Mutex<Option<Arc<crate::known::Known>>>,
    /// Last successful syncs: an app with nothing new is only looked at, not applied.
    settled: crate::settled::Settled,
    /// The AppProjects, kept by a watch once it has listed them (until then: a GET each).
    projects: Mutex<Option<kube::runtime::reflector::Store<kube::api::DynamicObject>>>,
    /// Projects the store lacked and the API confirmed missing, and when: asked again
    /// only after [`MISSING_PROJECT_RECHECK`] (the `default` project is often absent, and
    /// every reconcile checks its project).
    missing_projects: Mutex<HashMap<String, std::time::Instant>>,
    /// Helm charts loaded once per commit.
    charts: Arc<render::ChartCache>,
    /// `argocd-cm`'s settings (kept by [`crate::argocd_cm::run`]): system-wide
    /// ignoreDifferences added to every app's own, and the kinds never managed.
    pub settings: crate::argocd_cm::Settings,
    /// The pause after each sync wave but the last (`ARGOCD_SYNC_WAVE_DELAY`).
    pub wave_delay: Duration,
    /// How self-heal attempts of one revision are spaced (Argo CD's `--self-heal-*`).
    pub self_heal: SelfHealPacing,
}

/// An app that seems settled is still applied in full after this long: shorter than the
/// controller's default resync (180 s), so each periodic resync is a full one.
const FULL_SYNC_EVERY: Duration = Duration::from_secs(150);

/// Argo CD's delay between sync waves, unless `ARGOCD_SYNC_WAVE_DELAY` says otherwise.
pub const DEFAULT_WAVE_DELAY: Duration = Duration::from_secs(2);

/// How long a project the API said was missing is taken as missing without asking again.
const MISSING_PROJECT_RECHECK: Duration = Duration::from_secs(10);

/// The outcome of one reconcile: the status to write and what the app read.
#[derive(Debug, Clone)]
pub struct Reconciled {
    /// The new `status`.
    pub status: Value,
    /// The repository URLs the app reads, one per source (for webhook-triggered
    /// refreshes).
    pub repo_urls: Vec<String>,
    /// Whether it ended in an error worth retrying soon.
    pub failed: bool,
    /// When to look at the app again, when its sync says (a retry's backoff).
    pub requeue_after: Option<Duration>,
    /// The operation the app asked for has completed: it is removed with the status.
    pub operation_done: bool,
    /// Why the reconcile stopped before it could sync, as Argo CD words the condition.
    stopped: Option<String>,
    /// The `status.operationState` written while the operation ran (what the hub has
    /// now, which the status write must start from).
    pub running: Option<Value>,
}

impl Reconciled {
    /// An outcome that only moves an operation along: `status` (the previous one with a
    /// new `operationState`), whether the operation completed, when to look again.
    pub(crate) fn operation_only(
        status: serde_json::Map<String, Value>,
        operation_done: bool,
        requeue_after: Option<Duration>,
    ) -> Reconciled {
        Reconciled {
            status: Value::Object(status),
            repo_urls: Vec::new(),
            failed: false,
            requeue_after,
            operation_done,
            stopped: None,
            running: None,
        }
    }
}

impl AppReconciler {
    /// A reconciler over the hub, its clusters and the repositories.
    pub fn new(
        hub: kube::Client,
        clusters: Arc<RwLock<ClusterRegistry>>,
        sources: Sources,
        source_interval: Duration,
    ) -> AppReconciler {
        AppReconciler {
            hub,
            clusters,
            sources,
            source_interval,
            hub_config: None,
            impersonated: Mutex::default(),
            sync_clusters: Mutex::default(),
            inventories: Mutex::default(),
            drift: Mutex::default(),
            versions: Arc::default(),
            applications: Mutex::default(),
            settled: crate::settled::Settled::new(FULL_SYNC_EVERY),
            projects: Mutex::default(),
            missing_projects: Mutex::default(),
            charts: Arc::default(),
            settings: crate::argocd_cm::Settings::default(),
            wave_delay: DEFAULT_WAVE_DELAY,
            self_heal: SelfHealPacing::default(),
        }
    }

    /// Keeps the AppProjects in memory from a watch (as Argo CD's informer does), so a
    /// reconcile reads its project without a request; `changed` is told the name of each
    /// project created, changed or deleted after the first listing (Argo CD refreshes
    /// the project's Applications). Runs until the watch ends.
    pub async fn run_project_cache(self: Arc<Self>, changed: impl Fn(&str) + Send + 'static) {
        use futures::StreamExt as _;
        let resource = app_project_resource();
        let api: kube::Api<kube::api::DynamicObject> =
            kube::Api::namespaced_with(self.hub.clone(), PROJECT_NAMESPACE, &resource);
        let writer = kube::runtime::reflector::store::Writer::new(resource);
        let reader = writer.as_reader();
        let mut events = kube::runtime::reflector(
            writer,
            crate::controller::watch_with_backoff(api, kube::runtime::watcher::Config::default()),
        )
        .boxed();
        while let Some(event) = events.next().await {
            match event {
                Ok(kube::runtime::watcher::Event::InitDone) => {
                    *lock(&self.projects) = Some(reader.clone());
                }
                Ok(
                    kube::runtime::watcher::Event::Apply(project)
                    | kube::runtime::watcher::Event::Delete(project),
                ) => changed(project.metadata.name.as_deref().unwrap_or_default()),
                _ => {}
            }
        }
    }

    /// The resourceVersion of the app's AppProject as the cache holds it (a project
    /// change ends the settled shortcut).
    fn project_version(&self, app: &Application) -> Option<String> {
        self.cached_project(project_name(app))??
            .metadata
            .resource_version
    }

    /// The AppProject `name` from the watch-kept store: `None` until the store has
    /// listed the projects, then whether it exists.
    fn cached_project(&self, name: &str) -> Option<Option<kube::api::DynamicObject>> {
        let store = lock(&self.projects).clone()?;
        Some(
            store
                .get(&ObjectRef::new_with(name, app_project_resource()).within(PROJECT_NAMESPACE))
                .map(|p| (*p).clone()),
        )
    }

    /// The AppProject `name` as the cache holds it, as JSON (none before the cache has
    /// listed, or when there is no such project).
    pub fn cached_project_value(&self, name: &str) -> Option<Value> {
        let project = self.cached_project(name)??;
        serde_json::to_value(project).ok()
    }

    /// Drift watches to extend with every kind an application applies.
    pub fn set_drift_watches(&self, watches: crate::drift::DriftWatches) {
        *lock(&self.drift) = Some(watches);
    }

    /// Reads which Applications exist from `store` (the controller loop's).
    pub fn set_applications(&self, store: Arc<crate::known::Known>) {
        *lock(&self.applications) = Some(store);
    }

    /// Whether the Application of tracked `instance` exists (`<namespace>_<name>`, or the
    /// name alone in Argo CD's namespace); taken to exist while the controller's watch has
    /// not listed them all.
    fn application_exists(&self, instance: &str) -> bool {
        let Some(store) = lock(&self.applications).clone() else {
            return true;
        };
        !store.listed() || store.contains(&application_key(instance))
    }

    /// The drift watches, once the controller has set them.
    pub fn drift_watches(&self) -> Option<crate::drift::DriftWatches> {
        lock(&self.drift).clone()
    }

    /// The checkout an app's source asks for.
    fn source_request(&self, repo_url: &str, target_revision: &str) -> Request {
        let mut request = Request::new(repo_url, argo_reference(target_revision));
        request.interval = self.source_interval;
        request
    }

    /// The checkout the (first) source of the Application `object` asks for, when it is
    /// a Git repository (not a chart of a Helm repository, nor an OCI artifact).
    pub fn source_request_of(&self, object: &Value) -> Option<Request> {
        let source = object
            .at("/spec/sources/0")
            .or_else(|| object.at("/spec/source"))?;
        let field = |f: &str| source.get(f).and_then(Value::as_str);
        if field("chart").is_some_and(|c| !c.is_empty())
            || field("repoURL").is_some_and(is_oci_source)
        {
            return None;
        }
        Some(self.source_request(field("repoURL")?, field("targetRevision").unwrap_or("")))
    }

    /// Fetches and reads `request` for an Application of `project` (its repository
    /// Secrets first) unless it is fresh, so that a reconcile finds it ready. Errors are
    /// left to the reconcile to report (the mirror keeps a failed check).
    pub async fn prefetch(&self, request: &Request, project: &str) {
        if self.sources.mirrors().fresh_commit(request).is_none() {
            let _ = self.sources.for_project(project).tree(request).await;
        }
    }

    /// `namespace/name` of an Application object.
    pub fn key_of(app: &Value) -> String {
        crate::controller::object_key(app)
    }

    /// Reconciles one Application (as read from the hub) and returns its new status: runs
    /// the operation it asks for, else syncs it as its policy says, else compares it.
    pub async fn reconcile(&self, object: &Value, now: &str) -> Reconciled {
        let previous = object.get("status").unwrap_or(&NO_STATUS);
        let now_at = now
            .parse::<Timestamp>()
            .unwrap_or_else(|_| Timestamp::now());
        let run = match Requested::of(object) {
            None => None,
            Some(Err(message)) => return operation_refused(previous, &message, now),
            Some(Ok(requested)) => {
                let state = previous.get("operationState");
                match crate::operation::step(state, &requested, now_at) {
                    Step::Wait(after) => {
                        let status = previous.as_object().cloned().unwrap_or_default();
                        return Reconciled::operation_only(status, false, Some(after));
                    }
                    Step::Terminate {
                        started_at,
                        retries,
                    } => {
                        return operation_terminated(
                            previous,
                            &requested,
                            &started_at,
                            retries,
                            now,
                        );
                    }
                    Step::Begin => Some(OperationRun {
                        requested,
                        started_at: now.to_string(),
                        retries: 0,
                    }),
                    Step::Attempt {
                        started_at,
                        retries,
                    } => Some(OperationRun {
                        requested,
                        started_at,
                        retries,
                    }),
                }
            }
        };
        let mut reconciled = self.reconcile_with(object, run.as_ref(), now).await;
        if let (Some(run), Some(reason)) = (&run, reconciled.stopped.take()) {
            // What kept the sync from running ends the operation, or waits for its retry.
            let ended = crate::retry::after_failure(
                &run.requested.retry,
                run.retries,
                "Error",
                &reason,
                now_at,
            );
            end_operation(&mut reconciled, run, &ended, None, now);
        }
        reconciled
    }

    /// Reconciles `object` for the operation `run` (none: as its policy says): the
    /// Application decoded, then its phases.
    async fn reconcile_with(
        &self,
        object: &Value,
        run: Option<&OperationRun>,
        now: &str,
    ) -> Reconciled {
        let pass = Pass {
            object,
            key: Self::key_of(object),
            previous: object.get("status").unwrap_or(&NO_STATUS),
            run,
            now,
        };
        let (app, sources) = match app_to_reconcile(object, run) {
            Ok(decoded) => decoded,
            Err(e) => return pass.failed("InvalidSpecError", format!("invalid Application: {e}")),
        };
        let repo_urls = sources.iter().map(|s| s.repo_url.clone()).collect();
        let reconciled = self
            .reconcile_app(&pass, app, sources)
            .await
            .unwrap_or_else(|stopped| stopped);
        // Every outcome names the repositories the app reads.
        Reconciled {
            repo_urls,
            ..reconciled
        }
    }

    /// The phases of a reconcile of `app`, which reads `sources`: spec checks, sources,
    /// the settled shortcut, the retry wait, render, project, sync windows, then a sync
    /// or a comparison. A phase that fails ends it (`Err`); the outcome's `repo_urls` are
    /// the caller's to set.
    async fn reconcile_app(
        &self,
        pass: &Pass<'_>,
        app: Application,
        sources: Vec<ApplicationSource>,
    ) -> Result<Reconciled, Reconciled> {
        let invalid = |message: String| pass.failed("InvalidSpecError", message);
        let not_compared = |message: String| pass.failed("ComparisonError", message);
        let cluster = self
            .check_spec(pass.object, &app, &sources)
            .await
            .map_err(invalid)?;

        // Sources.
        let multiple = !app.spec.sources.is_empty();
        let interval = self.fetch_interval(pass);
        let phase = std::time::Instant::now();
        let (trees, render_sources) = self
            .fetch_trees(&sources, multiple, interval, app.spec.project_or_default())
            .await
            .map_err(not_compared)?;
        crate::metrics::global().phase("application", "source", phase.elapsed());
        let target = Target::new(multiple, &trees, &sources);

        // Settled: nothing new since the last successful sync and no drift seen — only
        // look at the objects' health, without rendering or applying.
        let context = self.render_context(&app, &cluster).await;
        let settledness = self.settledness(pass, &app, &target, &context);
        if settledness.only_look(pass.run)
            && let Some(looked) = self.settled_health(pass, &cluster).await
        {
            return Ok(looked);
        }

        // A failed sync waiting for its retry (Argo CD's backoff) is left until then.
        let now_at = pass
            .now
            .parse::<Timestamp>()
            .unwrap_or_else(|_| Timestamp::now());
        let last_sync = crate::retry::last_sync(pass.previous, &target.recorded, now_at);
        let no_policy = SyncPolicy::default();
        let policy = app.spec.sync_policy.as_ref().unwrap_or(&no_policy);
        if let Some(wait) = retry_wait(&last_sync, pass.run, policy) {
            return Ok(status::waiting_for_retry(pass.previous, wait));
        }

        // Render (CPU work off the async workers).
        let project = app.spec.project_or_default().to_string();
        let phase = std::time::Instant::now();
        let rendered = self
            .render_trees(trees, render_sources, multiple, context, project, interval)
            .await;
        crate::metrics::global().phase("application", "render", phase.elapsed());
        let rendered = rendered.map_err(not_compared)?;
        // Kinds argocd-cm excludes (and Argo CD's core exclusions) are never managed: left
        // out with a warning, and never pruned.
        let filter = self.resource_filter();
        let (desired, excluded) = without_excluded(rendered.objects, &filter, &cluster.server);
        // PreDelete/PostDelete hooks in the render: their finalizers, before the status says
        // anything (Argo CD sets them first, so a deletion cannot miss its hooks).
        if let Some(finalizers) =
            crate::delete_hooks::finalizers_for(&finalizers_of(pass.object), &desired)
        {
            self.set_finalizers(pass.object, &finalizers).await;
        }

        // The project: what it does not permit is never applied (Argo CD's InvalidSpecError).
        let phase = std::time::Instant::now();
        let sync_cluster = self.sync_cluster(&cluster);
        let server = cluster.server.clone();
        let checked = self
            .check_project(&app, Some((&desired, &sync_cluster)))
            .await;
        crate::metrics::global().phase("application", "project", phase.elapsed());
        let project = checked.map_err(invalid)?;
        // A cluster registered for some namespaces (Argo CD's namespaced mode) manages
        // nothing elsewhere: the live state cannot be loaded, nothing is applied.
        if let Some(unmanaged) = unmanaged_object(
            cluster.registration.as_deref(),
            &desired,
            &sync_cluster,
            &app,
        )
        .await
        {
            return Err(not_compared(format!(
                "Failed to load live state: {unmanaged}"
            )));
        }
        // The project's sync windows: an automated sync they block waits (Argo CD's "Sync
        // prevented by sync window") and the app is only compared meanwhile; a retry that
        // began while allowed may overrun. Invalid windows block, and say why.
        let window = sync_window(pass, project.as_ref(), &app, &last_sync, now_at);
        let window_open = window == Ok(true);
        if !window_open {
            // Whatever the window held back (drift included) is looked at again in full.
            self.settled.forget(&pass.key);
            if let Some(run) = pass.run {
                // The operation waits, Running, for the window to open.
                return Ok(status::blocked_by_window(
                    pass.previous,
                    run,
                    &window,
                    now_at,
                ));
            }
        }

        // Sync (automated) or compare.
        let mut opts = sync_options(&app, pass.run, policy).map_err(invalid)?;
        opts.wave_delay = self.wave_delay;
        // `ignoreDifferences`: left out of the comparison, out of drift, and with
        // RespectIgnoreDifferences out of the applies.
        opts.ignore_differences = self
            .ignore_differences(&pass.key, &app)
            .map_err(not_compared)?;
        // Who syncs: the operation asked for, else the automated policy; else the app is
        // only compared. Each with its retry strategy, retries so far and start.
        let attempt = match pass.run {
            Some(run) => Some(operation_attempt(run, &mut opts)),
            None => automated_attempt(
                policy,
                &last_sync,
                window_open,
                &settledness,
                &mut opts,
                pass.now,
            ),
        };
        // Argo CD's sync impersonation: whom a sync of this app — and the dry runs of its
        // comparison — run as (only when `argocd-cm` enables it; live state is still read
        // as the hub).
        let sync_as = self
            .sync_identity(project.as_ref(), &app, &cluster, &sync_cluster)
            .await;
        let app_id = self.app_id(&app);
        // Read only by a reconcile that goes on to sync or compare.
        let orphaned = match &project {
            Some(project) => {
                self.orphaned_warning(
                    project,
                    (&app, &app_id, pass.previous),
                    &desired,
                    (&sync_cluster, &server),
                )
                .await
            }
            None => None,
        };
        let mut ready = Ready {
            pass,
            app_id,
            sync_as,
            inventory: self.managed_inventory(&pass.key, pass.previous, &filter, &server),
            draft: status::Draft {
                status: status::started(pass, target.multiple, &rendered.types, &desired),
                target: &target,
                destination: serde_json::to_value(&app.spec.destination).unwrap_or(Value::Null),
                excluded,
                orphaned,
                history_limit: app.spec.revision_history_limit,
                now: pass.now,
                now_at,
            },
            server,
            cluster: sync_cluster,
            desired,
            opts,
            fingerprint: settledness.fingerprint,
        };
        let automated = policy.automation().is_some();
        let failed_before = failed_for_good(&last_sync);
        Ok(match attempt {
            Some(mut attempt) if attempt.self_heal.is_some() => {
                // The objects are kept for the sync that may follow.
                let plan = self.plan(&ready, ready.desired.clone()).await;
                match self_heal_decision(
                    &plan,
                    pass.previous,
                    ready.opts.prune,
                    now_at,
                    self.self_heal,
                ) {
                    SelfHeal::Sync { resources, count } => {
                        ready.opts.resources = resources;
                        ready.opts.skip_hooks = true;
                        attempt.self_heal = Some(count);
                        self.sync(ready, attempt).await
                    }
                    SelfHeal::Compare { wait } => {
                        // In sync with these inputs: the settled shortcut may look at
                        // health alone again until something changes.
                        if plan.as_ref().is_ok_and(flotilla_sync::Plan::in_sync) {
                            self.settled.record(&pass.key, ready.fingerprint);
                        } else if wait.is_some()
                            && let Some(watches) = self.drift_watches()
                        {
                            // Backing off: the drift is still to heal when it ends.
                            watches.mark_drifted(&pass.key);
                        }
                        let mut compared =
                            self.compared(ready, plan, &window, failed_before, automated);
                        compared.requeue_after = wait.or(compared.requeue_after);
                        compared
                    }
                }
            }
            Some(attempt) => self.sync(ready, attempt).await,
            None => self.compare(ready, &window, failed_before, automated).await,
        })
    }

    /// The app's destination (its server and client), once its spec passes the checks
    /// Argo CD makes before any source is read; else the InvalidSpecError message.
    async fn check_spec(
        &self,
        object: &Value,
        app: &Application,
        sources: &[ApplicationSource],
    ) -> Result<Destination, String> {
        if sources.is_empty() {
            return Err(missing_sources(object).into());
        }
        check_refs(sources)?;
        let destination = &app.spec.destination;
        let cluster = self
            .destination(&destination.server, &destination.name)
            .ok_or_else(|| {
                let disabled = !self.settings.in_cluster_enabled()
                    && crate::clusters::is_in_cluster(&destination.server, "");
                if disabled {
                    // Argo CD's words, through `GetDestinationCluster`.
                    format!(
                        "error getting cluster by server {:?}: rpc error: code = NotFound desc = cluster {IN_CLUSTER_SERVER:?} is disabled",
                        destination.server
                    )
                } else {
                    unknown_destination(destination)
                }
            })?;
        // As Argo CD, the project's source repositories are checked before any source is
        // read: a repository it does not permit is never fetched.
        self.check_project(app, None).await?;
        Ok(cluster)
    }

    /// How long a check of a source's remote is reused by this reconcile.
    fn fetch_interval(&self, pass: &Pass<'_>) -> Duration {
        // A hard refresh asks the remotes again now (Argo CD bypasses its caches).
        let hard_refresh = pass
            .object
            .at("/metadata/annotations/argocd.argoproj.io~1refresh")
            .and_then(Value::as_str)
            == Some("hard");
        // So does a sync asked for by hand (Argo CD's API server resolves its revision).
        if hard_refresh || pass.run.is_some() {
            Duration::ZERO
        } else {
            self.source_interval
        }
    }

    /// What the settled shortcut of the app goes by (the drift seen is taken).
    fn settledness(
        &self,
        pass: &Pass<'_>,
        app: &Application,
        target: &Target,
        context: &AppContext,
    ) -> Settledness {
        let fingerprint = crate::settled::fingerprint(
            &target.revisions.join(","),
            pass.object.get("spec").unwrap_or(&Value::Null),
            &(context, self.project_version(app), self.settings.version()),
        );
        let self_heal = app
            .spec
            .sync_policy
            .as_ref()
            .and_then(|p| p.automation())
            .is_some_and(|a| a.self_heal);
        let drifted = self_heal
            && self
                .drift_watches()
                .is_some_and(|watches| watches.take_drifted(&pass.key));
        let freshness = self.settled.freshness(&pass.key, fingerprint);
        // A refresh asks for a comparison with what is live (Argo CD's `refresh`), which
        // the shortcut would skip: an object carrying the app's tracking that appeared
        // by another hand is found so.
        let refresh_requested = pass
            .object
            .at("/metadata/annotations/argocd.argoproj.io~1refresh")
            .is_some();
        Settledness {
            fingerprint,
            self_heal,
            drifted,
            freshness,
            refresh_requested,
        }
    }

    /// A settled app's status with the health of its objects read again, or `None` when
    /// one cannot be read (then it is rendered and synced as any other).
    async fn settled_health(&self, pass: &Pass<'_>, cluster: &Destination) -> Option<Reconciled> {
        let inventory = self.inventory(&pass.key, pass.previous);
        let sync_cluster = self.sync_cluster(cluster);
        let phase = std::time::Instant::now();
        let healths = crate::settled::live_health(&sync_cluster, &inventory).await;
        crate::metrics::global().phase("application", "health", phase.elapsed());
        let healths = healths?;
        let mut status = pass.previous.as_object().cloned().unwrap_or_default();
        status.insert("reconciledAt".into(), json!(pass.now));
        Some(status::refreshed_health(status, &healths))
    }

    /// argocd-cm's resource exclusions and inclusions, as they are now.
    /// Argo CD's OrphanedResourceWarning for the app's destination namespace, when its
    /// project asks (`orphanedResources`, `warn` unset or true) and there are orphans:
    /// everything live there (kinds `argocd-cm` excludes left out) that neither the app
    /// manages nor another existing app's tracking names. When the namespace cannot be
    /// read, the warning the app had stays: it is no reason to fail the app, nor to clear
    /// or flap the condition.
    async fn orphaned_warning(
        &self,
        project: &flotilla_fleet::argocd::project::AppProject,
        (app, app_id, previous): (&Application, &AppId, &Value),
        desired: &[Value],
        (cluster, server): (&flotilla_sync::Cluster, &str),
    ) -> Option<String> {
        let labels = crate::metrics::AppLabels {
            namespace: app.metadata.namespace.clone(),
            name: app.metadata.name.clone(),
            project: app.spec.project_or_default().to_string(),
        };
        let namespace = app.spec.destination.namespace.as_str();
        let Some(settings) = project
            .spec
            .orphaned_resources
            .as_ref()
            .filter(|_| !namespace.is_empty())
        else {
            // Argo CD's gauge says 0 when the project does not look.
            crate::metrics::global().orphaned_resources(labels, 0);
            return None;
        };
        let filter = self.resource_filter();
        let keep = |r: &kube::api::ApiResource| !filter.excludes(&r.group, &r.kind, server);
        let objects = match flotilla_sync::namespace_objects(cluster, namespace, &keep).await {
            Ok(objects) => objects,
            Err(e) => {
                tracing::debug!(app = %app.metadata.name, error = %e, "orphaned resources");
                return status::condition_message(previous, status::ORPHANED_RESOURCE_WARNING);
            }
        };
        let desired: HashSet<flotilla_sync::ObjectKey> = desired
            .iter()
            .map(|o| {
                let mut key = flotilla_sync::ObjectKey::of(o);
                if key.namespace.is_empty() {
                    key.namespace = namespace.to_string();
                }
                key
            })
            .collect();
        let managed = |o: &Value| {
            flotilla_sync::tracking::is_tracked_by(o, app_id)
                || desired.contains(&flotilla_sync::ObjectKey::of(o))
        };
        // Objects of an app that no longer exists are orphans, as in Argo CD.
        let another_app = |o: &Value| {
            app_id
                .tracking
                .app_of(o)
                .is_some_and(|owner| owner != app_id.instance() && self.application_exists(&owner))
        };
        let found =
            flotilla_fleet::argocd::orphans::orphaned(project, &objects, &managed, &another_app);
        crate::metrics::global().orphaned_resources(labels, found.len() as u64);
        (settings.is_warn() && !found.is_empty())
            .then(|| flotilla_fleet::argocd::orphans::warning(found.len()))
    }

    fn resource_filter(&self) -> crate::argocd_cm::ResourceFilter {
        self.settings
            .filter
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The app's `ignoreDifferences` and argocd-cm's system-wide ones, which the drift
    /// watches of `key` are told too; or why they are invalid.
    fn ignore_differences(
        &self,
        key: &str,
        app: &Application,
    ) -> Result<Vec<flotilla_sync::ignore::IgnoreRule>, String> {
        let mut rules = ignore_rules(app)?;
        rules.extend(
            self.settings
                .ignore
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned(),
        );
        if let Some(watches) = self.drift_watches() {
            watches.set_ignore_rules(key, &rules);
        }
        Ok(rules)
    }

    /// The app's inventory without the kinds `filter` excludes on `server`.
    fn managed_inventory(
        &self,
        key: &str,
        previous: &Value,
        filter: &crate::argocd_cm::ResourceFilter,
        server: &str,
    ) -> Inventory {
        let mut inventory = self.inventory(key, previous);
        inventory.entries.retain(|e| {
            let group = e.api_version.rsplit_once('/').map_or("", |(g, _)| g);
            !filter.excludes(group, &e.kind, server)
        });
        inventory
    }

    /// Syncs the `ready` app as `attempt` says; the status its report, or its failure,
    /// writes.
    async fn sync(&self, mut ready: Ready<'_>, mut attempt: Attempt<'_>) -> Reconciled {
        let pass = ready.pass;
        // An automated sync that waits for pruning to be confirmed is the same operation
        // on each look: its start stays, so an approval given since is seen as one.
        if attempt.run.is_none()
            && let Some(since) = waiting_for_prune_confirmation_since(pass.previous)
        {
            attempt.started = since;
        }
        ready.opts.prune_confirmed = Some(deletion_approved_since(pass.object, &attempt.started));
        // Seen Running while it syncs, as Argo CD writes it first: a script
        // polling the phase must not read the last operation's.
        let running = match attempt.run {
            Some(run) => crate::operation::write_running(&self.hub, pass.object, run).await,
            None => None,
        };
        match ready.sync_as.take() {
            None => {}
            Some(Ok(impersonated)) => ready.cluster = impersonated,
            Some(Err(refused)) => {
                self.settled.forget(&pass.key);
                return status::after_sync_error(ready.draft, &attempt, &refused, running);
            }
        }
        let report = self.run_sync(&mut ready, attempt.run.is_some()).await;
        match &report {
            Ok(r)
                if r.phase == flotilla_sync::OperationPhase::Succeeded && attempt.run.is_none() =>
            {
                self.settled.record(&pass.key, ready.fingerprint);
            }
            _ => self.settled.forget(&pass.key),
        }
        match report {
            Ok(report) if report.phase == flotilla_sync::OperationPhase::Running => {
                status::waiting_for_confirmation(
                    ready.draft,
                    &attempt,
                    &report,
                    &ready.opts,
                    running,
                )
            }
            Ok(report) => {
                if !ready.opts.dry_run {
                    self.remember_inventory(&pass.key, report.inventory.clone());
                    self.watch_kinds(&ready.server, &ready.cluster, &report.inventory)
                        .await;
                }
                status::after_sync(ready.draft, &attempt, &report, &ready.opts, running)
            }
            Err(e) => status::after_sync_error(ready.draft, &attempt, &e.to_string(), running),
        }
    }

    /// Runs the sync of the `ready` app's objects (taken from it) and records its time
    /// and outcome in the metrics; a `terminable` one (an operation's) stops between
    /// waves once the operation is terminated.
    async fn run_sync(
        &self,
        ready: &mut Ready<'_>,
        terminable: bool,
    ) -> Result<flotilla_sync::SyncReport, flotilla_sync::SyncError> {
        // `argocd app terminate-op` (phase Terminating) stops it between waves.
        let watching = terminable.then(|| {
            let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
            ready.opts.terminate = Some(flag.clone());
            tokio::spawn(crate::operation::watch_for_termination(
                self.hub.clone(),
                ready.pass.object.clone(),
                flag,
            ))
        });
        let applying = std::time::Instant::now();
        let report = flotilla_sync::sync(
            &ready.cluster,
            &ready.app_id,
            std::mem::take(&mut ready.desired),
            &ready.opts,
            Some(&ready.inventory),
            &|_| {},
        )
        .await;
        if let Some(watching) = watching {
            watching.abort();
        }
        if let Ok(report) = &report
            && report.results.iter().any(changed_a_definition)
        {
            self.versions.rediscover(&ready.server);
        }
        crate::metrics::global().phase("application", "sync", applying.elapsed());
        crate::metrics::global().apply(
            &ready.server,
            applying.elapsed(),
            report
                .as_ref()
                .is_ok_and(|r| r.phase == flotilla_sync::OperationPhase::Succeeded),
        );
        report
    }

    /// Compares the `ready` app with its destination, applying nothing; the status the
    /// comparison writes, with why a sync is held back: a closed `window` (an
    /// `automated` app is looked at again on the next minute) or the SyncError of a
    /// revision whose sync `failed_before`.
    async fn compare(
        &self,
        mut ready: Ready<'_>,
        window: &Result<bool, String>,
        failed_before: Option<&str>,
        automated: bool,
    ) -> Reconciled {
        // As Argo CD's server-side diff: the dry runs go as the sync would. A refused
        // identity is an UnknownError and nothing is dry-run: the hub never stands in
        // for the account (Argo CD's enforced mode fails the dry run rather than fall
        // back to the controller's credentials).
        match ready.sync_as.take() {
            None => {}
            Some(Ok(impersonated)) => ready.cluster = impersonated,
            Some(Err(refused)) => return ready.pass.failed("UnknownError", refused),
        }
        let desired = std::mem::take(&mut ready.desired);
        let plan = self.plan(&ready, desired).await;
        self.compared(ready, plan, window, failed_before, automated)
    }

    /// The comparison of `desired`, the `ready` app's objects, with its destination.
    async fn plan(
        &self,
        ready: &Ready<'_>,
        desired: Vec<Value>,
    ) -> Result<flotilla_sync::Plan, flotilla_sync::SyncError> {
        flotilla_sync::plan(
            &ready.cluster,
            &ready.app_id,
            desired,
            &ready.opts,
            Some(&ready.inventory),
        )
        .await
    }

    /// The status a comparison (`plan`) writes ([`Self::compare`]).
    fn compared(
        &self,
        ready: Ready<'_>,
        plan: Result<flotilla_sync::Plan, flotilla_sync::SyncError>,
        window: &Result<bool, String>,
        failed_before: Option<&str>,
        automated: bool,
    ) -> Reconciled {
        match plan {
            Ok(plan) => status::after_compare(ready.draft, &plan, window, failed_before, automated),
            Err(e) => ready.pass.failed("ComparisonError", e.to_string()),
        }
    }

    /// The trees of `sources` (a checkout, an OCI artifact, or a chart from a Helm
    /// repository) and the
    /// sources as rendered (a chart's `path` cleared: Argo CD ignores it for a chart), or
    /// Argo CD's `Failed to load target state` message.
    async fn fetch_trees(
        &self,
        sources: &[ApplicationSource],
        multiple: bool,
        interval: Duration,
        project: &str,
    ) -> Result<(Vec<crate::sources::SourceTree>, Vec<ApplicationSource>), String> {
        // The project's own repository Secrets first, as Argo CD's `GetRepository`.
        let scoped = self.sources.for_project(project);
        let mut trees = Vec::with_capacity(sources.len());
        let mut render_sources = sources.to_vec();
        for (i, source) in sources.iter().enumerate() {
            // Argo CD's `IsOCI` comes first: an `oci://` source is an artifact, its
            // `chart` field ignored (Argo CD 3.x) and its path kept.
            let fetched = if is_oci_source(&source.repo_url) {
                scoped
                    .oci_artifact(&source.repo_url, &source.target_revision, interval)
                    .await
            } else if source.chart.is_empty() {
                let mut request = self.source_request(&source.repo_url, &source.target_revision);
                request.interval = interval;
                scoped.tree(&request).await
            } else {
                scoped
                    .chart(
                        &source.repo_url,
                        &source.chart,
                        &source.target_revision,
                        interval,
                    )
                    .await
                    .inspect(|_| render_sources[i].path.clear())
            };
            match fetched {
                Ok(tree) => trees.push(tree),
                Err(e) => {
                    let which = if multiple {
                        format!(
                            "failed to generate manifest for source {} of {}: ",
                            i + 1,
                            sources.len()
                        )
                    } else {
                        String::new()
                    };
                    return Err(format!("Failed to load target state: {which}{e}"));
                }
            }
        }
        Ok((trees, render_sources))
    }

    /// Renders fetched trees off the async workers, or Argo CD's message for why not.
    ///
    /// A kustomization's `helmCharts` entry whose chart is not in its chartHome stops
    /// the (pure) build with the chart to pull: it is fetched here, at the I/O edge, as
    /// kustomize's `helm pull` would fetch it ([`Sources::kustomize_chart`], charts read
    /// at most once per `interval`), and the render runs again with it — each distinct
    /// chart once, at most [`MAX_KUSTOMIZE_CHART_PULLS`] of them. A chart that cannot
    /// be fetched is the render's failure (a ComparisonError: nothing is applied or
    /// pruned), naming the kustomization, the chart and the repository.
    /// Before any render, Argo CD's kustomize settings check: see
    /// [`unregistered_kustomize_version`].
    async fn render_trees(
        &self,
        trees: Vec<crate::sources::SourceTree>,
        render_sources: Vec<ApplicationSource>,
        multiple: bool,
        mut context: AppContext,
        project: String,
        interval: Duration,
    ) -> Result<RenderedSources, String> {
        let count = render_sources.len();
        let failed = |i: usize, e: &dyn std::fmt::Display| {
            format!(
                "Failed to load target state: failed to generate manifest for source {} of {count}: {e}",
                i + 1,
            )
        };
        let registered = self.settings.kustomize_versions().map_err(|e| {
            format!("Failed to load target state: failed to get Kustomize settings: {e}")
        })?;
        if let Some((i, version)) = unregistered_kustomize_version(&render_sources, &registered) {
            return Err(failed(
                i,
                &format_args!(
                    "error getting kustomize binary path: kustomize version {version} is not registered"
                ),
            ));
        }
        let trees = Arc::new(trees);
        let render_sources = Arc::new(render_sources);
        let mut pulled = std::collections::HashSet::new();
        loop {
            let charts = self.charts.clone();
            let (trees, render_sources) = (trees.clone(), render_sources.clone());
            let (round_context, round_project) = (context.clone(), project.clone());
            let rendered = tokio::task::spawn_blocking(move || {
                render_all(
                    &trees,
                    &render_sources,
                    multiple,
                    &charts,
                    &round_context,
                    &round_project,
                )
            })
            .await;
            let (i, pull) = match rendered {
                Ok(Ok(done)) => return Ok(done),
                Ok(Err((
                    i,
                    render::RenderError::Kustomize(
                        flotilla_render::kustomize::Error::ChartNotPulled(pull),
                    ),
                ))) if pulled.len() < MAX_KUSTOMIZE_CHART_PULLS
                    && pulled.insert((
                        pull.repo.clone(),
                        pull.name.clone(),
                        pull.version.clone(),
                    )) =>
                {
                    (i, pull)
                }
                Ok(Err((
                    i,
                    render::RenderError::Kustomize(
                        flotilla_render::kustomize::Error::ChartNotPulled(pull),
                    ),
                ))) if pulled.len() >= MAX_KUSTOMIZE_CHART_PULLS => {
                    return Err(failed(
                        i,
                        &format_args!(
                            "kustomize: {pull}: not pulled: an Application's kustomizations may pull at most {MAX_KUSTOMIZE_CHART_PULLS} charts"
                        ),
                    ));
                }
                Ok(Err((i, e))) => return Err(failed(i, &e)),
                Err(e) => return Err(format!("render task: {e}")),
            };
            let chart = self
                .sources
                .for_project(&project)
                .kustomize_chart(&pull.repo, &pull.name, &pull.version, interval)
                .await
                .map_err(|e| failed(i, &format_args!("kustomize: {pull}: helm pull: {e}")))?;
            context.kustomize_charts.insert(&pull, chart.tree);
        }
    }

    /// One stage of the deletion hooks of `kind`: running them, or (`cleanup`) deleting
    /// them by policy — the app rendered again at its target, its hooks checked against
    /// its project. A destination gone ends the stage (nothing can run there).
    async fn delete_hook_stage(
        &self,
        object: &Value,
        kind: crate::delete_hooks::DeleteHook,
        cleanup: bool,
    ) -> Result<crate::delete_hooks::Step, String> {
        let (app, sources) = app_to_reconcile(object, None).map_err(|e| e.to_string())?;
        let destination = &app.spec.destination;
        let Some(cluster) = self.destination(&destination.server, &destination.name) else {
            return Ok(crate::delete_hooks::Step::Done);
        };
        let multiple = !app.spec.sources.is_empty();
        let (trees, render_sources) = self
            .fetch_trees(
                &sources,
                multiple,
                self.source_interval,
                app.spec.project_or_default(),
            )
            .await?;
        let project = app.spec.project_or_default().to_string();
        let context = self.render_context(&app, &cluster).await;
        let rendered = self
            .render_trees(
                trees,
                render_sources,
                multiple,
                context,
                project,
                self.source_interval,
            )
            .await?;
        let hooks: Vec<Value> = rendered
            .objects
            .into_iter()
            .filter(|o| kind.is(o))
            .collect();
        let sync_cluster = self.sync_cluster(&cluster);
        self.check_project(&app, Some((&hooks, &sync_cluster)))
            .await?;
        let namespace = destination_namespace(destination);
        if cleanup {
            crate::delete_hooks::clean_up(&sync_cluster, kind, &hooks, namespace).await
        } else {
            let app_id = self.app_id(&app);
            crate::delete_hooks::execute(&sync_cluster, &app_id, kind, &hooks, namespace).await
        }
    }

    /// Writes the Application's finalizers, unless it changed since it was read (the
    /// next reconcile tries again).
    async fn set_finalizers(&self, object: &Value, finalizers: &[String]) {
        let resource = crate::controller::application_resource();
        if let Err(e) =
            crate::controller::write_finalizers(&self.hub, &resource, object, finalizers).await
        {
            tracing::warn!(app = %Self::key_of(object), error = %e, "setting the deletion hooks' finalizers");
        }
    }

    /// An Application being deleted: with Argo CD's resources finalizer, every object it
    /// tracks is deleted first (cascading deletion). Returns the finalizers to keep, or an
    /// error message (the finalizer stays, the deletion waits).
    pub async fn finalize(&self, object: &Value) -> Result<Finalized, String> {
        use crate::delete_hooks::{CLEANUP, DeleteHook, Step};
        let finalizers = finalizers_of(object);
        let without = |gone: &str| -> Vec<String> {
            finalizers.iter().filter(|f| *f != gone).cloned().collect()
        };
        // Argo CD's order: PreDelete hooks, the resources, PostDelete hooks, then each
        // kind's hooks deleted; one stage per pass, its finalizer removed when done.
        let pre = DeleteHook::PreDelete.finalizer().to_string();
        let post = DeleteHook::PostDelete.finalizer().to_string();
        let stages = [
            (pre.clone(), DeleteHook::PreDelete, false),
            (post.clone(), DeleteHook::PostDelete, false),
            (format!("{pre}{CLEANUP}"), DeleteHook::PreDelete, true),
            (format!("{post}{CLEANUP}"), DeleteHook::PostDelete, true),
        ];
        let cascading = finalizers
            .iter()
            .any(|f| f.starts_with(RESOURCES_FINALIZER));
        for (finalizer, kind, cleanup) in &stages {
            // The resources go after the PreDelete hooks and before the rest.
            if !finalizers.contains(finalizer) || (cascading && *finalizer != pre) {
                continue;
            }
            return match self.delete_hook_stage(object, *kind, *cleanup).await? {
                Step::Done => Ok(Finalized::Keep(without(finalizer))),
                Step::Waiting(message) => Ok(Finalized::Waiting(message)),
            };
        }
        let (ours, keep): (Vec<String>, Vec<String>) = finalizers
            .iter()
            .cloned()
            .partition(|f| f.starts_with(RESOURCES_FINALIZER));
        if ours.is_empty() {
            return Ok(Finalized::Keep(keep));
        }
        let key = Self::key_of(object);
        let app: Application = decode_application(object).map_err(|e| e.to_string())?;
        let destination = &app.spec.destination;
        let Some(cluster) = self.destination(&destination.server, &destination.name) else {
            // The cluster is gone: nothing can be deleted there (Argo CD lets the
            // Application go once its cluster is unregistered).
            return Ok(Finalized::Keep(keep));
        };
        let previous = object.get("status").unwrap_or(&NO_STATUS);
        let inventory = self.inventory(&key, previous);
        let sync_cluster = self.sync_cluster(&cluster);
        let mut opts = SyncOptions {
            prune: true,
            allow_empty: true,
            destination_namespace: destination_namespace(destination).to_string(),
            prune_propagation: if ours.iter().any(|f| f.ends_with("/background")) {
                flotilla_sync::options::Propagation::Background
            } else {
                flotilla_sync::options::Propagation::Foreground
            },
            app_deletion: Some(deletion_approved(object)),
            ..SyncOptions::default()
        };
        // The app's `Delete=` option; the others do not bear on a deletion.
        let entries: Vec<&str> = app
            .spec
            .sync_policy
            .iter()
            .flat_map(|p| p.sync_options.iter())
            .map(String::as_str)
            .filter(|o| o.starts_with("Delete="))
            .collect();
        opts.apply_argo(&entries).map_err(|e| e.to_string())?;
        let app_id = self.app_id(&app);
        let report = flotilla_sync::sync(
            &sync_cluster,
            &app_id,
            Vec::new(),
            &opts,
            Some(&inventory),
            &|_| {},
        )
        .await
        .map_err(|e| e.to_string())?;
        if report.phase != flotilla_sync::OperationPhase::Succeeded {
            return Err(report.message);
        }
        if let Some(waiting) = report
            .results
            .iter()
            .find(|r| r.message == flotilla_sync::DELETION_NEEDS_CONFIRMATION)
        {
            return Err(format!(
                "{} {}/{} needs its deletion approved (annotation argocd.argoproj.io/deletion-approved on the Application)",
                waiting.key.kind, waiting.key.namespace, waiting.key.name
            ));
        }
        // As Argo CD, the Application goes only once what it deleted is gone (an object
        // with finalizers of its own, a foreground deletion's dependents).
        let remaining = still_present(&sync_cluster, &report.results).await;
        if remaining > 0 {
            return Ok(Finalized::Waiting(format!(
                "{remaining} objects remaining for deletion"
            )));
        }
        self.forget(&key);
        Ok(Finalized::Keep(keep))
    }

    /// Checks the app against its AppProject (read from the `argocd` namespace, where
    /// Argo CD keeps projects): its source repositories only (`None`), or everything with
    /// the rendered `objects`, whose scopes (namespaced or not) the destination
    /// `cluster`'s discovery tells, as Argo CD's check asks the API (a namespaced object
    /// is often written without a namespace). Argo CD creates the permissive `default`
    /// project itself; here a missing `default` permits everything.
    async fn check_project(
        &self,
        app: &Application,
        objects: Option<(&[Value], &flotilla_sync::Cluster)>,
    ) -> Result<Option<flotilla_fleet::AppProject>, String> {
        let name = project_name(app);
        let found = match self.cached_project(name) {
            Some(Some(found)) => Some(found),
            // Not in the store, though listed: a project created a moment ago may not
            // have reached the watch yet, so the API is asked before the project is
            // called missing — once per recheck period, not on every reconcile.
            Some(None)
                if lock(&self.missing_projects)
                    .get(name)
                    .is_some_and(|at| at.elapsed() < MISSING_PROJECT_RECHECK) =>
            {
                None
            }
            Some(None) | None => {
                let resource = app_project_resource();
                let api: kube::Api<kube::api::DynamicObject> =
                    kube::Api::namespaced_with(self.hub.clone(), PROJECT_NAMESPACE, &resource);
                let found = api
                    .get_opt(name)
                    .await
                    .map_err(|e| format!("reading AppProject {name}: {e}"))?;
                let mut missing = lock(&self.missing_projects);
                match &found {
                    None => missing.insert(name.to_string(), std::time::Instant::now()),
                    Some(_) => missing.remove(name),
                };
                found
            }
        };
        let Some(found) = found else {
            if name != "default" {
                return Err(format!(
                    "Application referencing project {name} which does not exist"
                ));
            }
            // Argo CD's own default project names no source namespaces.
            let default = flotilla_fleet::AppProject::default_project(PROJECT_NAMESPACE);
            namespace_permitted(app, &default)?;
            return Ok(None);
        };
        let mut project: flotilla_fleet::AppProject =
            serde_json::from_value(serde_json::to_value(&found).unwrap_or(Value::Null))
                .map_err(|e| format!("AppProject {name}: {e}"))?;
        // Its project-scoped repositories are source repositories of its own
        // (`GetAppProjectByName`).
        project.spec.source_repos.extend(
            self.sources
                .repo_credentials()
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .project_repositories(name),
        );
        namespace_permitted(app, &project)?;
        let violations = match objects {
            None => project.check_sources(app),
            Some((objects, cluster)) => {
                let scopes = scopes_of(cluster, objects).await;
                let secrets = self
                    .clusters
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .secrets();
                project.check(app, objects, &secrets, &|api_version, kind| {
                    scopes
                        .get(&(api_version.to_string(), kind.to_string()))
                        .copied()
                })
            }
        };
        if violations.is_empty() {
            return Ok(Some(project));
        }
        let messages: Vec<&str> = violations.iter().map(|v| v.message()).collect();
        Err(messages.join("; "))
    }

    /// Whom a sync of `app` runs as when `argocd-cm` enables sync impersonation (Argo
    /// CD's `DeriveServiceAccountToImpersonate`, and its messages when it may not run):
    /// the destination's sync engine as the project's service account for it, the hub
    /// itself when none matches and impersonation is not enforced; `None` when disabled.
    async fn sync_identity(
        &self,
        project: Option<&flotilla_fleet::AppProject>,
        app: &Application,
        destination: &Destination,
        cluster: &flotilla_sync::Cluster,
    ) -> Option<Result<flotilla_sync::Cluster, String>> {
        let impersonation = self.settings.impersonation();
        if !impersonation.enabled {
            return None;
        }
        let derived = match project {
            Some(project) => project.service_account_to_impersonate(app, &destination.server),
            // The default project, absent here, names no service accounts.
            None => Ok(None),
        };
        Some(match derived {
            Err(e) => Err(format!(
                "failed to derive service account to impersonate: {e}"
            )),
            Ok(None) if impersonation.enforced => Err(format!(
                "no matching service account found for destination server {} and namespace {}",
                destination.server, app.spec.destination.namespace
            )),
            Ok(None) => Ok(cluster.clone()),
            Ok(Some(user)) => self.impersonating(destination, cluster, &user).await,
        })
    }

    /// The destination's sync engine writing as `user`: a client that impersonates it,
    /// the discovery and the watch-kept cache of `cluster` (the hub's reads) kept.
    async fn impersonating(
        &self,
        destination: &Destination,
        cluster: &flotilla_sync::Cluster,
        user: &str,
    ) -> Result<flotilla_sync::Cluster, String> {
        let key = (destination.server.clone(), user.to_string());
        if let Some((registration, client)) = lock(&self.impersonated).get(&key)
            && same_connection(registration, &destination.registration)
        {
            return Ok(cluster.with_writer(client.clone()));
        }
        let config = match &destination.registration {
            Some(registration) => crate::clusters::config_of(registration)
                .await
                .map_err(|e| format!("impersonating {user}: {e}"))?,
            None => self.hub_config.clone().ok_or_else(|| {
                format!("impersonating {user}: the hub's own configuration is not known")
            })?,
        };
        let mut config = config;
        config.auth_info.impersonate = Some(user.to_string());
        config.auth_info.impersonate_groups = None;
        let client = kube::Client::try_from(config)
            .map_err(|e| format!("impersonating {user}: cannot build a client: {e}"))?;
        lock(&self.impersonated).insert(key, (destination.registration.clone(), client.clone()));
        Ok(cluster.with_writer(client))
    }

    /// The server URL of `app`'s destination as the metrics name it (empty when no
    /// cluster answers to it).
    pub fn destination_server(&self, app: &Value) -> String {
        let text = |pointer: &str| app.at(pointer).and_then(Value::as_str).unwrap_or("");
        self.clusters
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .server_of(
                text("/spec/destination/server"),
                text("/spec/destination/name"),
            )
            .unwrap_or_default()
    }

    /// The destination's client: registered clusters by URL or name, and the hub itself
    /// as Argo CD's in-cluster destination.
    fn destination(&self, server: &str, name: &str) -> Option<Destination> {
        let registry = self.clusters.read().unwrap_or_else(|e| e.into_inner());
        let found = registry.destination(server, name);
        // `cluster.inClusterEnabled: "false"` disables the hub as a destination, whether
        // a cluster Secret names its address or not (Argo CD's `GetCluster`).
        let in_cluster_enabled = self.settings.in_cluster_enabled();
        if !in_cluster_enabled
            && found.is_none_or(|c| crate::clusters::is_in_cluster(&c.secret.server, ""))
        {
            return None;
        }
        if let Some(c) = found {
            return Some(Destination {
                server: c.secret.server.clone(),
                client: c.client.clone(),
                registration: Some(c.secret.clone()),
            });
        }
        crate::clusters::is_in_cluster(server, name).then(|| Destination {
            server: IN_CLUSTER_SERVER.to_string(),
            client: self.hub.clone(),
            registration: None,
        })
    }

    /// The app's identity on its clusters, tracked as `argocd-cm` says.
    fn app_id(&self, app: &Application) -> AppId {
        AppId::argo(
            app.metadata.namespace.clone(),
            app.metadata.name.clone(),
            PROJECT_NAMESPACE,
            self.settings.tracking(),
        )
    }

    /// The sync engine's view of `destination`, kept while its registration stays the
    /// same: a changed one (rotated credentials, other namespaces) gets a new view and
    /// new watches.
    fn sync_cluster(&self, destination: &Destination) -> flotilla_sync::Cluster {
        let server = &destination.server;
        let mut map = lock(&self.sync_clusters);
        if let Some((registration, cluster)) = map.get(server)
            && same_connection(registration, &destination.registration)
        {
            return cluster.clone();
        }
        let scope = destination
            .registration
            .as_ref()
            .map(|r| flotilla_sync::ClusterScope {
                namespaces: r.namespaces.clone(),
                cluster_resources: r.cluster_resources,
            })
            .unwrap_or_default();
        let mut cluster = flotilla_sync::Cluster::new(destination.client.clone());
        if let Some(watches) = self.drift_watches() {
            if map.contains_key(server) {
                watches.forget_server(server);
            }
            cluster = cluster.with_live_cache(watches.view(server, &scope));
        }
        let cluster = cluster.with_scope(scope);
        map.insert(
            server.clone(),
            (destination.registration.clone(), cluster.clone()),
        );
        cluster
    }

    /// Drops what the hub keeps for destinations no longer registered (their cluster
    /// Secret deleted; the hub itself stays): the sync engine's view and its drift
    /// watches, which would otherwise go on watching, and reconnecting to, a cluster
    /// nothing deploys to.
    pub fn forget_unregistered(&self) {
        let gone: Vec<String> = {
            let registry = self.clusters.read().unwrap_or_else(|e| e.into_inner());
            let mut map = lock(&self.sync_clusters);
            let gone: Vec<String> = map
                .keys()
                .filter(|server| {
                    registry.by_server(server).is_none()
                        && !crate::clusters::is_in_cluster(server, "")
                })
                .cloned()
                .collect();
            for server in &gone {
                map.remove(server);
            }
            gone
        };
        if let Some(watches) = self.drift_watches() {
            for server in &gone {
                tracing::info!(%server, "cluster unregistered: its watches stop");
                watches.forget_server(server);
            }
        }
    }

    /// [`forget_unregistered`](Self::forget_unregistered) every `every`, until dropped.
    pub async fn keep_forgetting_unregistered(self: Arc<Self>, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            self.forget_unregistered();
        }
    }

    /// What `app` renders against on `cluster`: `argocd-cm`'s build options and the
    /// destination's Kubernetes and API versions.
    async fn render_context(&self, app: &Application, cluster: &Destination) -> AppContext {
        let mut context = app_context(app, self.settings.kustomize_build_options());
        context.kube_version = self
            .versions
            .version(&cluster.server, &cluster.client)
            .await;
        context.api_versions = self
            .versions
            .api_versions(&cluster.server, &cluster.client)
            .await;
        context
    }

    /// The app's inventory: from memory, or after a restart from `status.resources`.
    fn inventory(&self, key: &str, status: &Value) -> Inventory {
        if let Some(inv) = lock(&self.inventories).get(key) {
            return inv.clone();
        }
        let mut inventory = Inventory::default();
        for r in status
            .get("resources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let group = s("group");
            let version = s("version");
            inventory.entries.insert(InventoryEntry {
                api_version: if group.is_empty() {
                    version
                } else {
                    format!("{group}/{version}")
                },
                kind: s("kind"),
                namespace: s("namespace"),
                name: s("name"),
            });
        }
        inventory
    }

    /// Starts drift watches for every kind in `inventory` on the cluster at `server`.
    async fn watch_kinds(
        &self,
        server: &str,
        cluster: &flotilla_sync::Cluster,
        inventory: &Inventory,
    ) {
        let Some(watches) = self.drift_watches() else {
            return;
        };
        let mut kinds = std::collections::BTreeSet::new();
        for e in &inventory.entries {
            kinds.insert((e.api_version.clone(), e.kind.clone()));
        }
        for (api_version, kind) in kinds {
            if let Ok(resolved) = cluster.resolve(&api_version, &kind).await {
                watches.ensure(server, cluster, &resolved);
            }
        }
    }

    fn remember_inventory(&self, key: &str, inventory: Inventory) {
        lock(&self.inventories).insert(key.to_string(), inventory);
    }

    /// Forgets an application (it was deleted).
    pub fn forget(&self, key: &str) {
        lock(&self.inventories).remove(key);
        self.settled.forget(key);
        if let Some((namespace, name)) = key.split_once('/') {
            crate::metrics::global().forget_app(namespace, name);
        }
    }
}

/// A client that impersonates a user and the registration it was made from (`None`: the
/// hub itself).
type ImpersonatingClient = (Option<Arc<ClusterSecret>>, kube::Client);

/// The sync engine's view of a cluster and the registration it was made from (`None`:
/// the hub itself).
type SyncCluster = (Option<Arc<ClusterSecret>>, flotilla_sync::Cluster);

/// Whether two registrations (`None`: the hub itself) reach the cluster the same way.
fn same_connection(a: &Option<Arc<ClusterSecret>>, b: &Option<Arc<ClusterSecret>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a.same_connection(b),
        (None, None) => true,
        _ => false,
    }
}

/// An Application's destination cluster, as the registry has it now.
struct Destination {
    /// Its API server URL.
    server: String,
    /// A client for it.
    client: kube::Client,
    /// Its cluster Secret (`None`: the hub itself, Argo CD's in-cluster destination).
    registration: Option<Arc<ClusterSecret>>,
}

/// The first of `objects` that a cluster registered in namespaced mode does not manage,
/// and why (see [`ClusterSecret::unmanaged_object`]); the kinds' scopes from `cluster`'s
/// discovery.
async fn unmanaged_object(
    registration: Option<&ClusterSecret>,
    objects: &[Value],
    cluster: &flotilla_sync::Cluster,
    app: &Application,
) -> Option<String> {
    let registration = registration.filter(|r| !r.namespaces.is_empty())?;
    let scopes = scopes_of(cluster, objects).await;
    registration.unmanaged_object(
        objects,
        &|api_version, kind| {
            scopes
                .get(&(api_version.to_string(), kind.to_string()))
                .copied()
        },
        destination_namespace(&app.spec.destination),
    )
}

/// One reconcile of one Application: what every phase reads.
struct Pass<'a> {
    /// The Application as read from the hub.
    object: &'a Value,
    /// Its `namespace/name`.
    key: String,
    /// Its status as read.
    previous: &'a Value,
    /// The operation it runs, if it asks for one.
    run: Option<&'a OperationRun>,
    /// The time of this reconcile, as the status writes it.
    now: &'a str,
}

impl Pass<'_> {
    /// The reconcile stopped early: the condition `kind` with `message` (see
    /// [`status::failed`]).
    fn failed(&self, kind: &str, message: String) -> Reconciled {
        status::failed(self.previous, kind, message, self.now)
    }
}

/// The Application in `object` as this reconcile checks it (the operation `run`'s sources
/// or revisions, if any, in place of its own), and the sources it reads.
fn app_to_reconcile(
    object: &Value,
    run: Option<&OperationRun>,
) -> Result<(Application, Vec<ApplicationSource>), serde_json::Error> {
    let mut app = decode_application(object)?;
    // An operation syncs its own sources or revisions, checked as the app's would be.
    if let Some(run) = run {
        run.requested.sync.apply_to(&mut app.spec);
    }
    // `spec.sources`, when set, replaces `spec.source` (Argo CD's `GetSources`).
    let sources = app.spec.effective_sources().into_iter().cloned().collect();
    Ok((app, sources))
}

/// Why the Application `object`, which has no sources, is invalid.
fn missing_sources(object: &Value) -> &'static str {
    if object.at("/spec/sourceHydrator").is_some() {
        // Argo CD renders the dry source and commits it to the sync branch with
        // its commit server; deploying that branch alone would hide that nothing
        // hydrates it.
        "spec.sourceHydrator is not supported: Flotilla does not hydrate (render and commit) the dry source; deploy the hydrated branch with spec.source"
    } else {
        "spec.source or spec.sources is required"
    }
}

/// The namespace of the app's namespaced objects that have none: its destination's, else
/// `default`.
fn destination_namespace(destination: &ApplicationDestination) -> &str {
    if destination.namespace.is_empty() {
        "default"
    } else {
        &destination.namespace
    }
}

/// Argo CD's message for a `destination` that names no known cluster.
fn unknown_destination(destination: &ApplicationDestination) -> String {
    if destination.server.is_empty() {
        format!("there are no clusters with this name: {}", destination.name)
    } else {
        format!(
            "there are no clusters with this URL: {}",
            destination.server
        )
    }
}

/// What the settled shortcut (see [`crate::settled`]) goes by, and what the sync after it
/// is told of it.
struct Settledness {
    /// The inputs of this sync.
    fingerprint: u64,
    /// The app's automated policy heals drift.
    self_heal: bool,
    /// The drift watches saw its objects change.
    drifted: bool,
    /// Its last successful sync, against these inputs.
    freshness: crate::settled::Freshness,
    /// `argocd.argoproj.io/refresh` asks for a comparison.
    refresh_requested: bool,
}

impl Settledness {
    /// Whether the app is only looked at (its objects' health), not rendered nor applied:
    /// no operation, selfHeal, no drift, and nothing new since its last successful sync.
    fn only_look(&self, run: Option<&OperationRun>) -> bool {
        run.is_none()
            && self.self_heal
            && !self.drifted
            && !self.refresh_requested
            && self.freshness == crate::settled::Freshness::Settled
    }
}

/// How long the failed automated sync of the target still waits for its retry, when it
/// does (an operation does not wait so).
fn retry_wait(
    last_sync: &LastSync,
    run: Option<&OperationRun>,
    policy: &SyncPolicy,
) -> Option<Duration> {
    match last_sync {
        LastSync::Retrying { wait, .. }
            if run.is_none() && policy.automation().is_some() && !wait.is_zero() =>
        {
            Some(*wait)
        }
        _ => None,
    }
}

/// Whether the project's sync windows let this sync run now (`project` none: no
/// windows): the operation's, or an automated one, whose retry keeps the time it began.
fn sync_window(
    pass: &Pass<'_>,
    project: Option<&flotilla_fleet::AppProject>,
    app: &Application,
    last_sync: &LastSync,
    now_at: Timestamp,
) -> Result<bool, String> {
    let started_at = match pass.run {
        Some(run) => Some(run.started_at.as_str()),
        None => matches!(last_sync, LastSync::Retrying { .. })
            .then(|| pass.previous.at("/operationState/startedAt"))
            .flatten()
            .and_then(Value::as_str),
    };
    let retrying_since = started_at
        .and_then(|t| t.parse::<Timestamp>().ok())
        .map(|t| t.as_second());
    let manual = pass.run.is_some_and(|run| !run.requested.is_automated());
    project.map_or(Ok(true), |project| {
        flotilla_fleet::argocd::sync_windows::can_sync(
            &project.sync_windows_of(app),
            manual,
            retrying_since,
            now_at.as_second(),
        )
    })
}

/// The sync options of the app, for its destination namespace: its policy's `syncOptions`
/// (or the operation's), and the metadata of a namespace they create; or why an option
/// is invalid.
fn sync_options(
    app: &Application,
    run: Option<&OperationRun>,
    policy: &SyncPolicy,
) -> Result<SyncOptions, String> {
    let mut opts = SyncOptions {
        destination_namespace: destination_namespace(&app.spec.destination).to_string(),
        ..SyncOptions::default()
    };
    // An operation's sync options are its own (Argo CD's API server copies the app's
    // into an operation it makes; one written by hand has what it says).
    let entries: Vec<&str> = match run {
        Some(run) => run.requested.sync.sync_options.iter(),
        None => policy.sync_options.iter(),
    }
    .map(String::as_str)
    .collect();
    opts.apply_argo(&entries).map_err(|e| e.to_string())?;
    // Argo CD's `client-side-apply-migration-manager` annotation names the manager the
    // migration takes fields from (while the migration is on).
    if let Some(manager) = app
        .metadata
        .annotations
        .get(flotilla_sync::takeover::CSA_MANAGER_ANNOTATION)
        .filter(|m| !m.is_empty())
        && opts.csa_migration_manager.is_some()
    {
        opts.csa_migration_manager = Some(manager.clone());
    }
    if opts.create_namespace {
        opts.namespace_metadata =
            policy
                .managed_namespace_metadata
                .as_ref()
                .map(|m| flotilla_sync::NamespaceMetadata {
                    labels: m.labels.clone(),
                    annotations: m.annotations.clone(),
                });
    }
    Ok(opts)
}

/// A sync about to run: the operation it runs (none: the automated policy's sync), its
/// retry strategy, the retries so far and when it started.
struct Attempt<'a> {
    run: Option<&'a OperationRun>,
    strategy: RetryStrategy,
    retries: i64,
    started: String,
    /// An automated sync of a revision that already synced (selfHeal): Argo CD syncs
    /// only the OutOfSync resources then, without hooks, and counts the attempts in
    /// `operation.sync.selfHealAttemptsCount` (this one's count once decided).
    self_heal: Option<i64>,
}

impl Attempt<'_> {
    /// A dry run or a selective sync (a self-heal is one) changes neither what the app
    /// is compared as nor its history.
    fn is_full(&self) -> bool {
        self.self_heal.is_none() && self.run.is_none_or(|run| run.requested.sync.is_full())
    }
}

/// The sync of the operation `run`, with its own flags in `opts`.
fn operation_attempt<'a>(run: &'a OperationRun, opts: &mut SyncOptions) -> Attempt<'a> {
    let op = &run.requested.sync;
    opts.prune = op.prune;
    opts.dry_run = op.dry_run;
    opts.force |= op.force();
    opts.resources = op.resources.clone();
    opts.skip_hooks = op.skips_hooks();
    // Argo CD guards only automated syncs against an empty render.
    opts.allow_empty = true;
    Attempt {
        run: Some(run),
        strategy: run.requested.retry.clone(),
        retries: run.retries,
        started: run.started_at.clone(),
        self_heal: None,
    }
}

/// The sync of the automated `policy`, with its flags in `opts`, when it syncs now;
/// `None` when the app is only compared.
fn automated_attempt<'a>(
    policy: &SyncPolicy,
    last_sync: &LastSync,
    window_open: bool,
    settledness: &Settledness,
    opts: &mut SyncOptions,
    now: &str,
) -> Option<Attempt<'a>> {
    // Argo CD's automated sync without selfHeal syncs a new revision or a new source,
    // not drift in the cluster: then the app is only compared.
    let already_synced = *last_sync == LastSync::Synced;
    let automated = policy
        .automation()
        .filter(|a| failed_for_good(last_sync).is_none() && (a.self_heal || !already_synced))
        .filter(|_| window_open)?;
    opts.prune = automated.prune;
    opts.allow_empty = automated.allow_empty;
    opts.periodic =
        crate::settled::periodic(settledness.drifted, settledness.freshness, already_synced);
    let retries = match last_sync {
        LastSync::Retrying { retries, .. } => *retries,
        LastSync::Failed { .. } | LastSync::Clear | LastSync::Synced => 0,
    };
    Some(Attempt {
        run: None,
        strategy: RetryStrategy::automated(policy.retry.as_ref()),
        retries,
        // A self-heal compares first; with inputs changed since (the spec, the project,
        // the render context) or unknown (a restart), the whole app is synced again,
        // as what the objects alone cannot show (managed namespace metadata) may differ.
        self_heal: (already_synced
            && matches!(
                settledness.freshness,
                crate::settled::Freshness::Settled | crate::settled::Freshness::Expired
            ))
        .then_some(0),
        started: now.to_string(),
    })
}

/// What a selfHeal app whose revision already synced does now (Argo CD's `autoSync`
/// once `alreadyAttemptedSync` said it succeeded).
#[derive(Debug, PartialEq)]
enum SelfHeal {
    /// Sync only these OutOfSync resources, this being self-heal attempt `count`.
    Sync {
        resources: Vec<flotilla_sync::SelectedResource>,
        count: i64,
    },
    /// Only compare: nothing to heal (in sync, or only pruning with prune off, or the
    /// comparison failed), or the backoff still runs for `wait`.
    Compare { wait: Option<Duration> },
}

/// How Argo CD's controller spaces the self-heal attempts of one revision, counted from
/// the last operation's end (`selfHealRemainingBackoff`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SelfHealPacing {
    /// `--self-heal-backoff-timeout-seconds` (not 0), `--self-heal-backoff-factor` and
    /// `--self-heal-backoff-cap-seconds` (0: no cap): none before the first attempt,
    /// then `initial` × `factor`^(n−1), at most `cap` — `wait.Backoff.Step` n times.
    Backoff {
        /// The first wait.
        initial: Duration,
        /// What each wait is multiplied by (0: all alike).
        factor: f64,
        /// The longest wait (zero: none).
        cap: Duration,
    },
    /// `--self-heal-timeout-seconds`, with the backoff off: the same wait after every
    /// operation, the first attempt's included.
    Timeout(Duration),
}

impl Default for SelfHealPacing {
    /// Argo CD's defaults: 2 s, factor 3, cap 300 s.
    fn default() -> Self {
        SelfHealPacing::Backoff {
            initial: Duration::from_secs(2),
            factor: 3.0,
            cap: Duration::from_secs(300),
        }
    }
}

impl SelfHealPacing {
    /// How long after the last operation's end the next attempt may run, `attempts`
    /// having been made.
    pub fn wait(self, attempts: i64) -> Duration {
        let (initial, factor, cap) = match self {
            SelfHealPacing::Timeout(timeout) => return timeout,
            SelfHealPacing::Backoff {
                initial,
                factor,
                cap,
            } => (initial, factor, cap),
        };
        // `wait.Backoff.Step`, `attempts` times; past the cap every step returns it, so
        // the loop stops there (or after enough steps to overflow any duration).
        let (cap, mut duration, mut steps) = (cap.as_secs_f64(), initial.as_secs_f64(), attempts);
        let mut delay = 0.0;
        for _ in 0..attempts.clamp(0, 128) {
            delay = duration;
            if steps < 1 {
                break;
            }
            steps -= 1;
            if factor != 0.0 {
                duration *= factor;
                if cap > 0.0 && duration > cap {
                    duration = cap;
                    steps = 0;
                }
            }
        }
        Duration::try_from_secs_f64(delay).unwrap_or(Duration::MAX)
    }
}

/// Argo CD's `autoSync` for a revision that already synced, selfHeal on: the app must
/// be OutOfSync, only pruning with prune off is no reason, the attempts so far
/// (`selfHealAttemptsCount` of the last operation) hold it back for
/// [`self_heal_backoff`] after that operation finished; then the resources not Synced
/// are synced, as `Kind`, group and name.
fn self_heal_decision(
    plan: &Result<flotilla_sync::Plan, flotilla_sync::SyncError>,
    previous: &Value,
    prune: bool,
    now: Timestamp,
    pacing: SelfHealPacing,
) -> SelfHeal {
    let Ok(found) = plan else {
        return SelfHeal::Compare { wait: None };
    };
    let out_of_sync: Vec<&flotilla_sync::PlanItem> = found
        .items
        .iter()
        .filter(|i| i.state != flotilla_sync::ObjectState::Synced && !i.ignore_extraneous)
        .collect();
    let prune_only = out_of_sync
        .iter()
        .all(|i| i.state == flotilla_sync::ObjectState::Extra);
    if out_of_sync.is_empty() || (prune_only && !prune) {
        return SelfHeal::Compare { wait: None };
    }
    let operation = previous.at("/operationState");
    let attempts = operation
        .and_then(|o| o.at("/operation/sync/selfHealAttemptsCount"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let since_finished = operation
        .and_then(|o| o.get("finishedAt"))
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<Timestamp>().ok())
        .and_then(|at| Duration::try_from(now.duration_since(at)).ok())
        .unwrap_or_default();
    let wait = pacing.wait(attempts).saturating_sub(since_finished);
    if !wait.is_zero() {
        return SelfHeal::Compare { wait: Some(wait) };
    }
    let resources = out_of_sync
        .iter()
        .filter(|i| prune || i.state != flotilla_sync::ObjectState::Extra)
        .map(|i| flotilla_sync::SelectedResource {
            group: i.key.group.clone(),
            kind: i.key.kind.clone(),
            name: i.key.name.clone(),
            namespace: String::new(),
        })
        .collect();
    SelfHeal::Sync {
        resources,
        count: attempts + 1,
    }
}

/// The SyncError of a revision of a source whose sync failed for good: it is not synced
/// again automatically, selfHeal or not (Argo CD's `alreadyAttemptedSync`).
fn failed_for_good(last_sync: &LastSync) -> Option<&str> {
    match last_sync {
        LastSync::Failed { message } => Some(message.as_str()),
        LastSync::Retrying { .. } | LastSync::Clear | LastSync::Synced => None,
    }
}

/// An app rendered and checked, about to be synced or compared: what either works on.
struct Ready<'a> {
    pass: &'a Pass<'a>,
    app_id: AppId,
    /// The destination's server.
    server: String,
    /// The destination's sync engine.
    cluster: flotilla_sync::Cluster,
    /// The objects to apply (the excluded kinds left out).
    desired: Vec<Value>,
    /// With sync impersonation: the destination as the impersonated service account, or
    /// why a sync may not run (`None`: the sync runs as the hub).
    sync_as: Option<Result<flotilla_sync::Cluster, String>>,
    opts: SyncOptions,
    /// What the app applied before (the excluded kinds left out: never pruned).
    inventory: Inventory,
    /// The inputs of this sync, recorded when it succeeds (the settled shortcut).
    fingerprint: u64,
    /// What the status is written from.
    draft: status::Draft<'a>,
}

/// The status of an Application that has none yet (read like an empty one).
static NO_STATUS: Value = Value::Null;

/// The Application in `object` without its status and managedFields: the reconciler reads
/// neither from the typed form, and they are most of the object (decoding them cost more
/// than the rest of a settled Application's reconcile).
fn decode_application(object: &Value) -> Result<Application, serde_json::Error> {
    if !object.is_object() {
        return serde_json::from_value(object.clone());
    }
    serde_json::from_value(crate::raw::statusless(object)?)
}

fn source_type_name(kind: SourceType) -> &'static str {
    match kind {
        SourceType::Helm => "Helm",
        SourceType::Kustomize => "Kustomize",
        SourceType::Directory => "Directory",
    }
}

fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

/// Whether `source`'s Helm value files or file parameters read through one of `refs`
/// (`$name/…`).
fn reads_through(source: &ApplicationSource, refs: &[String]) -> bool {
    let Some(helm) = source.helm.as_ref() else {
        return false;
    };
    let through = |file: &str| {
        let name = file.split_once('/').map_or(file, |(name, _)| name);
        refs.iter().any(|r| r == name)
    };
    helm.value_files.iter().any(|f| through(f))
        || helm.file_parameters.iter().any(|p| through(&p.path))
}

/// Whether `finalizer` is one of the deletion stages [`AppReconciler::finalize`] runs
/// (the resources, the deletion hooks and their cleanups), not another controller's.
pub fn is_deletion_stage(finalizer: &str) -> bool {
    finalizer.starts_with(RESOURCES_FINALIZER)
        || finalizer.starts_with(crate::delete_hooks::PRE_DELETE_FINALIZER)
        || finalizer.starts_with(crate::delete_hooks::POST_DELETE_FINALIZER)
}

/// Where an Application's deletion stands after one pass of [`AppReconciler::finalize`].
#[derive(Debug, PartialEq, Eq)]
pub enum Finalized {
    /// A stage is done: the finalizers to keep (those of the stages still to come and
    /// any of others).
    Keep(Vec<String>),
    /// A stage is under way (hooks running, objects terminating): look again soon.
    Waiting(String),
}

/// The finalizers of an object.
fn finalizers_of(object: &Value) -> Vec<String> {
    object
        .at("/metadata/finalizers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(String::from))
        .collect()
}

/// The first source naming a `kustomize.version` that `argocd-cm` does not register, as
/// Argo CD's `GetKustomizeBinaryPath` refuses it (a registered version builds with
/// Flotilla's kustomize); `argocd-cm` registering a version twice fails every app before
/// (`GetKustomizeSettings`, in [`AppReconciler::render_trees`]).
fn unregistered_kustomize_version<'a>(
    sources: &'a [ApplicationSource],
    registered: &std::collections::BTreeSet<String>,
) -> Option<(usize, &'a str)> {
    sources.iter().enumerate().find_map(|(i, source)| {
        let version = source.kustomize.as_ref().map(|k| k.version.as_str())?;
        (!version.is_empty() && !registered.contains(version)).then_some((i, version))
    })
}

/// What the renderer needs of `app`, with `argocd-cm`'s `kustomize.buildOptions`.
fn app_context(app: &Application, kustomize_build_options: String) -> AppContext {
    AppContext {
        app_name: app.metadata.name.clone(),
        instance_name: instance_name(app),
        namespace: app.spec.destination.namespace.clone(),
        kube_version: None,
        api_versions: Default::default(),
        env: None,
        kustomize_build_options,
        kustomize_charts: Default::default(),
    }
}

/// Argo CD's `getAppProj` check: an Application outside Argo CD's namespace may use
/// only a project whose `sourceNamespaces` name its namespace.
fn namespace_permitted(
    app: &Application,
    project: &flotilla_fleet::AppProject,
) -> Result<(), String> {
    let namespace = app.metadata.namespace.as_str();
    if project.is_app_namespace_permitted(namespace, PROJECT_NAMESPACE) {
        return Ok(());
    }
    Err(format!(
        "application '{}' in namespace '{namespace}' is not permitted to use project '{}'",
        app.metadata.name, project.metadata.name
    ))
}

/// The key (`namespace/name`) of the Application a tracked `instance` names: the inverse
/// of Argo CD's `InstanceName` (Application namespaces and names have no `_`).
pub(crate) fn application_key(instance: &str) -> String {
    match instance.split_once('_') {
        Some((namespace, name)) => format!("{namespace}/{name}"),
        None => format!("{PROJECT_NAMESPACE}/{instance}"),
    }
}

/// Argo CD's `InstanceName`: the name alone for an Application in Argo CD's own
/// namespace, `<namespace>_<name>` elsewhere.
fn instance_name(app: &Application) -> String {
    let id = AppId::argo(
        app.metadata.namespace.as_str(),
        app.metadata.name.as_str(),
        PROJECT_NAMESPACE,
        Default::default(),
    );
    id.instance().to_string()
}

/// The app's `ignoreDifferences`, every jq expression checked.
fn ignore_rules(app: &Application) -> Result<Vec<flotilla_sync::ignore::IgnoreRule>, String> {
    let Some(value) = app.spec.ignore_differences.as_ref() else {
        return Ok(Vec::new());
    };
    let rules: Vec<flotilla_sync::ignore::IgnoreRule> = serde_json::from_value(value.clone())
        .map_err(|e| format!("spec.ignoreDifferences: {e}"))?;
    for rule in &rules {
        rule.validate().map_err(|e| format!("spec.{e}"))?;
    }
    Ok(rules)
}

/// Whether each kind of `objects` is namespaced, by `(apiVersion, kind)`, as the
/// cluster's discovery (cached per cluster) says; kinds it does not serve are left out.
async fn scopes_of(
    cluster: &flotilla_sync::Cluster,
    objects: &[Value],
) -> HashMap<(String, String), bool> {
    let mut scopes = HashMap::new();
    for object in objects {
        let text = |field: &str| {
            object
                .get(field)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let key = (text("apiVersion").to_string(), text("kind").to_string());
        if scopes.contains_key(&key) {
            continue;
        }
        if let Ok(resolved) = cluster.resolve(&key.0, &key.1).await {
            scopes.insert(key, resolved.namespaced);
        }
    }
    scopes
}

/// Whether a sync's `result` made, changed or deleted a CustomResourceDefinition: the
/// cluster's API versions may have moved.
fn changed_a_definition(result: &flotilla_sync::ObjectResult) -> bool {
    use flotilla_sync::Action;
    result.key.group == "apiextensions.k8s.io"
        && result.key.kind == "CustomResourceDefinition"
        && matches!(
            result.action,
            Action::Created | Action::Configured | Action::Replaced | Action::Pruned
        )
}

/// How long from `now` until a second past the next whole minute, when sync windows
/// next open or close.
fn until_next_minute(now: Timestamp) -> std::time::Duration {
    let second = now.as_second().rem_euclid(60) as u64;
    std::time::Duration::from_secs(61 - second)
}

/// The app's project (`default` when it names none, as Argo CD does).
fn project_name(app: &Application) -> &str {
    if app.spec.project.is_empty() {
        "default"
    } else {
        app.spec.project.as_str()
    }
}

/// The AppProject resource on the hub.
fn app_project_resource() -> kube::api::ApiResource {
    kube::api::ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk("argoproj.io", "v1alpha1", "AppProject"),
        "appprojects",
    )
}

/// Container images of the desired objects, sorted and unique (`status.summary.images`).
fn images_of(objects: &[Value]) -> Vec<String> {
    let mut images = std::collections::BTreeSet::new();
    fn walk(v: &Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                for key in ["containers", "initContainers"] {
                    if let Some(Value::Array(cs)) = m.get(key) {
                        for c in cs {
                            if let Some(image) = c.get("image").and_then(Value::as_str) {
                                out.insert(image.to_string());
                            }
                        }
                    }
                }
                for v in m.values() {
                    walk(v, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    for o in objects {
        walk(o, &mut images);
    }
    images.into_iter().collect()
}

/// `desired` without the objects `filter` excludes on `server`, and Argo CD's
/// ExcludedResourceWarning message for each (`Resource <group>/<kind> <name> is excluded in
/// the settings`).
fn without_excluded(
    desired: Vec<Value>,
    filter: &crate::argocd_cm::ResourceFilter,
    server: &str,
) -> (Vec<Value>, Vec<String>) {
    let mut kept = Vec::with_capacity(desired.len());
    let mut excluded = Vec::new();
    for object in desired {
        let text = |p: &str| object.at(p).and_then(Value::as_str).unwrap_or("");
        let group = text("/apiVersion").rsplit_once('/').map_or("", |(g, _)| g);
        if filter.excludes(group, text("/kind"), server) {
            excluded.push(format!(
                "Resource {group}/{} {} is excluded in the settings",
                text("/kind"),
                text("/metadata/name")
            ));
        } else {
            kept.push(object);
        }
    }
    (kept, excluded)
}

/// Argo CD's checks of `ref` names (`GetRefSources`): letters, digits, `_` and `-`
/// only, each used once.
fn check_refs(sources: &[ApplicationSource]) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for source in sources.iter().filter(|s| !s.reference.is_empty()) {
        let name = &source.reference;
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "sources.ref {name} cannot contain any special characters except '_' and '-'"
            ));
        }
        if !seen.insert(name) {
            return Err("invalid sources: multiple sources had the same `ref` key".into());
        }
    }
    Ok(())
}

/// Whether a source of a multi-source Application only lends its files to others'
/// `$ref` value files: Argo CD renders nothing for it (an OCI source is always
/// rendered, as Argo CD's repo-server skips only Git ref sources).
fn is_ref_only(source: &ApplicationSource) -> bool {
    !source.reference.is_empty()
        && source.path.is_empty()
        && source.chart.is_empty()
        && !is_oci_source(&source.repo_url)
}

/// Argo CD's `IsOCI`: a source whose `repoURL` has the `oci://` scheme is an OCI
/// artifact (Argo CD 3.1's OCI source type), whatever else it says.
fn is_oci_source(repo_url: &str) -> bool {
    repo_url.starts_with("oci://")
}

/// How many distinct charts one render of an Application may pull for its
/// kustomizations' `helmCharts` (a bound on the render-and-pull rounds).
const MAX_KUSTOMIZE_CHART_PULLS: usize = 32;

/// What an Application's sources rendered to.
struct RenderedSources {
    /// Every source's objects, in source order.
    objects: Vec<Value>,
    /// Each source's type (none for a ref-only source).
    types: Vec<Option<SourceType>>,
}

/// Renders every source (not the ref-only ones of a multi-source Application) into one
/// list of objects; the index of the source that failed otherwise.
fn render_all(
    trees: &[crate::sources::SourceTree],
    sources: &[ApplicationSource],
    multiple: bool,
    charts: &render::ChartCache,
    context: &AppContext,
    project: &str,
) -> Result<RenderedSources, (usize, render::RenderError)> {
    let refs: Vec<(String, &dyn flotilla_render::kustomize::Tree)> = sources
        .iter()
        .zip(trees)
        .filter(|(s, _)| !s.reference.is_empty())
        .map(|(s, t)| {
            (
                format!("${}", s.reference),
                t.tree.as_ref() as &dyn flotilla_render::kustomize::Tree,
            )
        })
        .collect();
    let mut objects = Vec::new();
    let mut types = Vec::with_capacity(sources.len());
    // Ref sources that are Helm charts: Argo CD refuses files read through them.
    let chart_refs: Vec<String> = sources
        .iter()
        .filter(|s| !s.reference.is_empty() && !s.chart.is_empty())
        .map(|s| format!("${}", s.reference))
        .collect();
    // Ref sources that are OCI artifacts: Argo CD resolves a `$ref` with a Git client.
    let oci_refs: Vec<(String, &str)> = sources
        .iter()
        .filter(|s| !s.reference.is_empty() && s.chart.is_empty() && is_oci_source(&s.repo_url))
        .map(|s| (format!("${}", s.reference), s.repo_url.as_str()))
        .collect();
    for (i, (source, tree)) in sources.iter().zip(trees).enumerate() {
        if multiple && is_ref_only(source) {
            types.push(None);
            continue;
        }
        if multiple && reads_through(source, &chart_refs) {
            return Err((i, render::RenderError::ChartRef));
        }
        if multiple
            && let Some((_, url)) = oci_refs
                .iter()
                .find(|(name, _)| reads_through(source, std::slice::from_ref(name)))
        {
            return Err((i, render::RenderError::RefNotGit(url.to_string())));
        }
        let instance = if context.instance_name.is_empty() {
            &context.app_name
        } else {
            &context.instance_name
        };
        let source = render::with_parameter_overrides(tree.tree.as_ref(), source, instance)
            .map_err(|e| (i, e))?;
        let source = source.as_ref();
        // The path as rendered (`.` is the root): the source type is what is there.
        let kind = render::app_path(source)
            .and_then(|path| render::source_type(tree.tree.as_ref(), &path, source));
        let context = AppContext {
            env: Some(render::build_env(&render::BuildEnvOf {
                app_name: instance,
                namespace: &context.namespace,
                project,
                revision: &tree.commit,
                source,
            })),
            ..context.clone()
        };
        let rendered = render::render_source_cached(
            tree.tree.as_ref(),
            Some((charts, &tree.commit)),
            source,
            &context,
            multiple.then_some(refs.as_slice()),
        )
        .map_err(|e| (i, e))?;
        objects.extend(rendered);
        types.push(kind.ok());
    }
    Ok(RenderedSources { objects, types })
}

/// How many of the objects a sync pruned are still there (terminating).
async fn still_present(
    cluster: &flotilla_sync::Cluster,
    results: &[flotilla_sync::ObjectResult],
) -> usize {
    let mut remaining = 0;
    for r in results
        .iter()
        .filter(|r| r.action == flotilla_sync::Action::Pruned)
    {
        let Ok(resolved) = cluster.resolve(&r.api_version, &r.key.kind).await else {
            continue;
        };
        let namespace = (!r.key.namespace.is_empty()).then_some(r.key.namespace.as_str());
        if let Ok(Some(_)) = cluster.api(&resolved, namespace).get_opt(&r.key.name).await {
            remaining += 1;
        }
    }
    remaining
}

/// Argo CD's `IsDeletionConfirmed`: `argocd.argoproj.io/deletion-approved` holds a time at
/// or after the Application's deletion.
/// Argo CD's `IsDeletionConfirmed(since)`: the app's `argocd.argoproj.io/deletion-approved`
/// annotation is a time no earlier than `since` (the operation's start).
fn deletion_approved_since(object: &Value, since: &str) -> bool {
    let approved = object
        .at("/metadata/annotations/argocd.argoproj.io~1deletion-approved")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<Timestamp>().ok());
    match (approved, since.parse::<Timestamp>()) {
        (Some(approved), Ok(since)) => approved >= since,
        _ => false,
    }
}

/// The start of the automated sync the last status shows waiting for pruning to be
/// confirmed, if it does.
fn waiting_for_prune_confirmation_since(status: &Value) -> Option<String> {
    let state = status.get("operationState")?;
    let text = |key: &str| state.get(key).and_then(Value::as_str);
    (text("phase")? == "Running"
        && text("message")?.starts_with(flotilla_sync::WAITING_FOR_PRUNE_CONFIRMATION)
        && state.at("/operation/initiatedBy/automated") == Some(&Value::Bool(true)))
    .then(|| text("startedAt").map(str::to_string))
    .flatten()
}

fn deletion_approved(object: &Value) -> bool {
    object
        .at("/metadata/deletionTimestamp")
        .and_then(Value::as_str)
        .is_some_and(|deleted| deletion_approved_since(object, deleted))
}

/// Labels of a cluster for the ApplicationSet clusters generator.
pub fn cluster_labels(registry: &ClusterRegistry) -> BTreeMap<String, BTreeMap<String, String>> {
    registry
        .clusters()
        .map(|c| (c.secret.name.clone(), c.secret.labels.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Argo CD's defaults (`--self-heal-backoff-timeout-seconds=2`, factor 3, cap 300 s)
    /// through `wait.Backoff.Step` n times: 0 before the first attempt.
    #[test]
    fn self_heal_backs_off_as_argo_cds_controller() {
        let pacing = SelfHealPacing::default();
        let seconds: Vec<u64> = (0..8).map(|n| pacing.wait(n).as_secs()).collect();
        assert_eq!(seconds, [0, 2, 6, 18, 54, 162, 300, 300]);
        assert_eq!(pacing.wait(i64::MAX), Duration::from_secs(300));
        // Other settings, as `wait.Backoff` steps them.
        let slow = SelfHealPacing::Backoff {
            initial: Duration::from_secs(10),
            factor: 2.0,
            cap: Duration::ZERO,
        };
        let seconds: Vec<u64> = (0..5).map(|n| slow.wait(n).as_secs()).collect();
        assert_eq!(seconds, [0, 10, 20, 40, 80]);
        assert_eq!(slow.wait(i64::MAX), Duration::MAX, "no cap: it only grows");
        let flat = SelfHealPacing::Backoff {
            initial: Duration::from_secs(7),
            factor: 0.0,
            cap: Duration::from_secs(300),
        };
        assert_eq!(flat.wait(4), Duration::from_secs(7));
        // With the backoff off, `--self-heal-timeout-seconds` after every operation.
        let fixed = SelfHealPacing::Timeout(Duration::from_secs(5));
        assert_eq!(fixed.wait(0), Duration::from_secs(5));
        assert_eq!(fixed.wait(9), Duration::from_secs(5));
    }

    /// Only an OutOfSync app heals; only pruning with prune off does not; the last
    /// operation's count and end decide the wait; the resources are the ones not Synced.
    #[test]
    fn a_self_heal_syncs_what_is_not_synced_once_its_backoff_ends() {
        let item = |name: &str, state| flotilla_sync::PlanItem {
            key: flotilla_sync::ObjectKey {
                group: "apps".into(),
                kind: "Deployment".into(),
                namespace: "web".into(),
                name: name.into(),
            },
            api_version: "apps/v1".into(),
            state,
            diff: String::new(),
            message: None,
            health: None,
            wave: 0,
            needs_deletion_confirmation: false,
            ignore_extraneous: false,
        };
        use flotilla_sync::ObjectState::{Extra, OutOfSync, Synced};
        let plan = |items| {
            Ok(flotilla_sync::Plan {
                items,
                shared: Vec::new(),
            })
        };
        let now: Timestamp = "2026-11-29T10:00:10Z".parse().unwrap();
        let last = |count: i64, finished: &str| {
            json!({"operationState": {"finishedAt": finished,
                   "operation": {"sync": {"selfHealAttemptsCount": count}}}})
        };
        let decide = |items, previous: &Value, prune| {
            self_heal_decision(
                &plan(items),
                previous,
                prune,
                now,
                SelfHealPacing::default(),
            )
        };
        let compare = SelfHeal::Compare { wait: None };
        assert_eq!(decide(vec![item("a", Synced)], &json!({}), true), compare);
        assert_eq!(
            decide(vec![item("a", Synced), item("b", Extra)], &json!({}), false),
            compare
        );
        let SelfHeal::Sync { resources, count } = decide(
            vec![item("a", Synced), item("b", OutOfSync), item("c", Extra)],
            &last(0, "2026-11-29T10:00:09Z"),
            false,
        ) else {
            panic!("a drifted object heals at once the first time");
        };
        assert_eq!(count, 1);
        let names: Vec<&str> = resources.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["b"], "nothing pruned with prune off");
        assert!(resources[0].namespace.is_empty() && resources[0].group == "apps");
        assert_eq!(
            decide(
                vec![item("b", OutOfSync)],
                &last(2, "2026-11-29T10:00:08Z"),
                true
            ),
            SelfHeal::Compare {
                wait: Some(Duration::from_secs(4))
            },
            "the third attempt waits 6 s after the second ended"
        );
        assert!(matches!(
            decide(
                vec![item("b", OutOfSync)],
                &last(2, "2026-11-29T10:00:00Z"),
                true
            ),
            SelfHeal::Sync { count: 3, .. }
        ));
    }

    /// A value file or file parameter read through a ref source that is a Helm chart
    /// is found (Argo CD refuses it); other refs and plain paths are not.
    #[test]
    fn reads_through_a_chart_ref_are_found() {
        let source = |helm: Value| -> ApplicationSource {
            serde_json::from_value(json!({"repoURL": "r", "chart": "web", "helm": helm})).unwrap()
        };
        let refs = ["$charts".to_string()];
        assert!(reads_through(
            &source(json!({"valueFiles": ["$charts/values.yaml"]})),
            &refs
        ));
        assert!(reads_through(
            &source(json!({"fileParameters": [{"name": "x", "path": "$charts/x.txt"}]})),
            &refs
        ));
        assert!(!reads_through(
            &source(json!({"valueFiles": ["$values/v.yaml", "v.yaml"]})),
            &refs
        ));
        assert!(!reads_through(
            &source(json!({"valueFiles": ["$chartsx/v.yaml"]})),
            &refs
        ));
    }

    /// Argo CD's `InstanceName` (what `ARGOCD_APP_NAME` and `.argocd-source-<app>.yaml`
    /// use): the name in Argo CD's namespace, `<namespace>_<name>` elsewhere.
    #[test]
    fn instance_names_are_argo_cds() {
        let named = |namespace: &str| {
            let app = decode_application(&json!({
                "metadata": {"name": "web", "namespace": namespace},
                "spec": {"destination": {}, "source": {"repoURL": "r"}},
            }))
            .unwrap();
            instance_name(&app)
        };
        assert_eq!(named("argocd"), "web");
        assert_eq!(named(""), "web");
        assert_eq!(named("team-a"), "team-a_web");
    }
}
