//! One ApplicationSet reconcile, as Argo CD's `ApplicationSetReconciler.Reconcile` does it:
//! gather the clusters and repository contents, generate, plan against the Applications the
//! set controls, create/update/delete them on the hub, and write the status conditions.

use flotilla_core::pointer::Pointer as _;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use flotilla_fleet::appset::progressive;
use flotilla_fleet::appset::{
    self, Condition, ConditionStatus, GeneratorContext, Plan, ReconcileInput, error_conditions,
    plan_reconcile, reason, updated_status,
};
use flotilla_fleet::argocd::application::{Application, RESOURCES_FINALIZER};
use flotilla_fleet::argocd::applicationset::{ApplicationSet, ControllerPolicy};
use flotilla_fleet::cluster::ClusterSecret;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};

use super::controller_objects::HubControllerObjects;
use super::echoes::Echoes;
use super::pull_requests::{HubForges, ScmPolicy};
use super::repos::HubRepos;
use crate::clusters::ClusterRegistry;
use crate::controller::application_resource;
use crate::known::Known;
use crate::sources::Sources;

/// The project every Argo CD installation has (its API server creates it at start).
const DEFAULT_PROJECT: &str = "default";

/// Settings of the ApplicationSet controller.
#[derive(Debug, Clone)]
pub struct AppSetOptions {
    /// ApplicationSets reconciled at once.
    pub workers: usize,
    /// A failed reconcile is retried after this long.
    pub retry: Duration,
    /// The controller's `--policy` and `--enable-policy-override`.
    pub policy: ControllerPolicy,
    /// `--preserved-annotations` / `--preserved-labels`: kept from every live
    /// Application.
    pub preserved: flotilla_fleet::argocd::applicationset::PreservedFields,
    /// Argo CD's `applicationsetcontroller.enable.new.git.file.globbing`.
    pub new_git_file_globbing: bool,
    /// A repository checked less than this long ago is not asked again (a push trigger
    /// overrides it).
    pub source_interval: Duration,
    /// Applications read per request when a set's current Applications are listed: pages
    /// keep the listing's transient memory to one page on a big fleet.
    pub list_page: u32,
    /// Argo CD's `--max-resources-status-count`: at most this many entries in a set's
    /// `status.resources` (0: no limit); `status.resourcesCount` counts them all.
    pub max_resources_status_count: usize,
    /// Argo CD's `--enable-progressive-syncs`: a `RollingSync` strategy syncs the set's
    /// Applications step by step (off: they sync as their own policies say).
    pub enable_progressive_syncs: bool,
    /// Which forge APIs the pull request generator may call, and which Secrets it may
    /// read tokens from.
    pub scm: ScmPolicy,
    /// Namespaces besides the controller's whose ApplicationSets are reconciled (Argo CD's
    /// `--applicationset-namespaces`: globs, or `/regular expressions/`); the others' are
    /// left alone, without status, as Argo CD's controller filters them out of its watch.
    pub applicationset_namespaces: Vec<String>,
}

impl Default for AppSetOptions {
    fn default() -> Self {
        AppSetOptions {
            workers: 4,
            retry: Duration::from_secs(5),
            policy: ControllerPolicy::default(),
            preserved: Default::default(),
            new_git_file_globbing: false,
            source_interval: Duration::from_secs(60),
            list_page: 500,
            max_resources_status_count: appset::DEFAULT_MAX_RESOURCES_STATUS_COUNT,
            enable_progressive_syncs: false,
            scm: ScmPolicy::default(),
            applicationset_namespaces: Vec::new(),
        }
    }
}

/// The ApplicationSet resource on the hub.
pub fn applicationset_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "ApplicationSet"),
        "applicationsets",
    )
}

fn appproject_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "AppProject"),
        "appprojects",
    )
}

/// What the reconciler needs: the hub, the clusters it knows, the repositories.
pub struct AppSetReconciler {
    /// The hub.
    pub hub: kube::Client,
    /// The controller's namespace (Argo CD's): where the clusterDecisionResource and plugin
    /// generators read their ConfigMaps, Secrets and resources.
    pub namespace: String,
    /// The registered clusters (the clusters generator's input).
    pub clusters: Arc<RwLock<ClusterRegistry>>,
    /// Repository contents (the git generator's input).
    pub sources: Sources,
    /// Settings.
    pub options: AppSetOptions,
    /// Applications this controller is writing (their watch events are its own echo).
    pub echoes: Echoes,
    /// The Applications as the hub's watch keeps them. A plan starts from them — as Argo
    /// CD's reads its informer — once the watch has listed them and has shown every write of
    /// ours; until then (and to retry a plan that met a change the watch had not shown
    /// yet) the Applications are listed from the API.
    pub applications: Arc<Known>,
}

/// What one reconcile did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Reconcile again after this long without an event (Argo CD's `RequeueAfter`).
    pub requeue_after: Option<Duration>,
    /// Something failed: retry soon.
    pub failed: bool,
    /// Identities of the repositories the generators read.
    pub repositories: BTreeSet<String>,
    /// Lower-case identities of the repositories whose pull requests the generators
    /// listed (a webhook's pull request event for one requeues the set).
    pub pull_request_repositories: BTreeSet<String>,
    /// The status now on the hub, when it was written or is unchanged.
    pub status: Option<Value>,
}

/// How often a reverse deletion looks again at the Application it waits for.
const REVERSE_DELETION_POLL: Duration = Duration::from_secs(10);

/// Argo CD's reason for a `RollingSync` without steps.
const ROLLOUT_ERROR: &str = "ApplicationSetRolloutError";

/// What [`AppSetReconciler::apply`] did.
struct Applied {
    plan: Plan,
    /// `status.resources` and `status.resourcesCount`.
    resources: (Vec<Value>, usize),
    rollout: Rollout,
}

/// What a progressive sync decided.
enum Rollout {
    /// None ran; `had_statuses`: the set carries entries of an earlier one, to remove.
    Off { had_statuses: bool },
    /// The new `status.applicationStatus` and the rollout's conditions.
    Ran(progressive::Rollout),
}

/// What a status write carries besides the conditions.
#[derive(Default)]
struct Written {
    /// `status.resources` and its count.
    resources: Option<(Vec<Value>, usize)>,
    /// `status.applicationStatus` (empty: removed).
    application_status: Option<Vec<progressive::AppProgress>>,
    /// The set asks for a `RollingSync`.
    rolling_sync: bool,
}

/// A failed step: Argo CD's condition reason and message.
struct Failure {
    reason: &'static str,
    message: String,
    /// A write met an Application other than the one planned against (409: it exists,
    /// or changed; 404: it is gone): the plan's view was behind the API.
    stale: bool,
}

impl Failure {
    fn new(reason: &'static str, message: String) -> Failure {
        Failure {
            reason,
            message,
            stale: false,
        }
    }
}

impl AppSetReconciler {
    /// Whether ApplicationSets in `namespace` are reconciled (`IsNamespaceAllowed` over the
    /// controller's namespace and `--applicationset-namespaces`).
    pub fn reconciles_namespace(&self, namespace: &str) -> bool {
        namespace == self.namespace
            || flotilla_fleet::glob::match_string_in_list(
                &self.options.applicationset_namespaces,
                namespace,
            )
    }

    /// Reconciles one ApplicationSet (as the watch last saw it).
    pub async fn reconcile(&self, object: &Value, now: &str) -> Outcome {
        if object.at("/metadata/deletionTimestamp").is_some() {
            return self.finalize(object).await;
        }
        let set = match ApplicationSet::from_value(object) {
            Ok(set) => set,
            Err(e) => {
                let message = format!("invalid ApplicationSet: {e}");
                let conditions = error_conditions(false, reason::PARAMS_GENERATION_ERROR, &message);
                let status = self
                    .write_status(object, &conditions, Written::default(), now)
                    .await;
                // A spec change requeues it; retrying the same spec cannot help.
                return Outcome {
                    status,
                    ..Outcome::default()
                };
            }
        };
        let clusters = self
            .clusters
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .secrets();
        let mut outcome = Outcome {
            requeue_after: appset::requeue_after(&set),
            ..Outcome::default()
        };
        if self.options.enable_progressive_syncs
            && progressive::deletes_in_reverse(&set)
            && !set
                .metadata
                .finalizers
                .iter()
                .any(|f| f == RESOURCES_FINALIZER)
        {
            // Its deletion must wait for the Applications to go in order.
            let mut finalizers = set.metadata.finalizers.clone();
            finalizers.push(RESOURCES_FINALIZER.to_string());
            if let Err(e) = self.set_finalizers(&set, &finalizers).await {
                tracing::warn!(appset = %set.metadata.name, error = %e, "adding the resources finalizer");
                return Outcome {
                    failed: true,
                    ..Outcome::default()
                };
            }
        }
        let rolling_sync = progressive::is_rolling_sync(&set);
        let (conditions, written) = match self.apply(&set, &clusters, &mut outcome, now).await {
            Ok(Applied {
                plan,
                resources,
                rollout,
            }) => {
                let mut conditions = plan.conditions;
                let mut written = Written {
                    resources: Some(resources),
                    rolling_sync,
                    ..Written::default()
                };
                match rollout {
                    Rollout::Off { had_statuses } => {
                        // Entries of a rollout no longer asked for go.
                        written.application_status = had_statuses.then(Vec::new);
                    }
                    Rollout::Ran(rollout) => {
                        conditions.extend(rollout.conditions);
                        written.application_status = Some(rollout.statuses);
                    }
                }
                (conditions, written)
            }
            Err(failure) => {
                outcome.failed = true;
                if failure.reason == ROLLOUT_ERROR {
                    // Looked at again, as Argo CD does, since a spec change alone fixes it.
                    outcome.failed = false;
                    outcome.requeue_after = Some(Duration::from_secs(180));
                }
                (
                    error_conditions(true, failure.reason, &failure.message),
                    Written {
                        rolling_sync,
                        ..Written::default()
                    },
                )
            }
        };
        if conditions
            .iter()
            .any(|c| c.kind == "ErrorOccurred" && c.status == ConditionStatus::True)
            && outcome.requeue_after.is_none()
        {
            // `ReconcileRequeueOnValidationError`: an invalid set is looked at again.
            outcome.requeue_after = Some(Duration::from_secs(180));
        }
        outcome.status = self.write_status(object, &conditions, written, now).await;
        if outcome.status.is_none() {
            outcome.failed = true;
        }
        outcome
    }

    /// Generates, plans and applies; on success the plan (its conditions), the set's
    /// `status.resources` from the Applications it owned when listed, and what a
    /// progressive sync decided.
    async fn apply(
        &self,
        set: &ApplicationSet,
        clusters: &[ClusterSecret],
        outcome: &mut Outcome,
        now: &str,
    ) -> Result<Applied, Failure> {
        let namespace = set.metadata.namespace.as_str();
        let projects = self.projects(namespace).await?;
        // The git generator reads with the template's project's repository Secrets too.
        let sources = match flotilla_fleet::appset::repository_project(set) {
            Some(project) => self.sources.for_project(&project),
            None => self.sources.clone(),
        };
        let repos = Arc::new(HubRepos::new(
            sources,
            tokio::runtime::Handle::current(),
            self.options.source_interval,
        ));
        let mut generated = {
            let (set, clusters, projects, repos) = (
                set.clone(),
                clusters.to_vec(),
                projects.clone(),
                repos.clone(),
            );
            let globbing = self.options.new_git_file_globbing;
            let forges = Arc::new(HubForges::new(
                self.hub.clone(),
                namespace,
                tokio::runtime::Handle::current(),
                self.options.scm.clone(),
            ));
            let listing = forges.clone();
            let controller_objects = Arc::new(HubControllerObjects::new(
                self.hub.clone(),
                &self.namespace,
                tokio::runtime::Handle::current(),
            ));
            let generated = tokio::task::spawn_blocking(move || {
                appset::generate_applications(
                    &set,
                    GeneratorContext {
                        repos: repos.as_ref(),
                        cluster_secrets: &clusters,
                        new_git_file_globbing: globbing,
                        projects: Some(&projects),
                        pull_requests: Some(forges.as_ref()),
                        scm_providers: Some(forges.as_ref()),
                        controller_objects: Some(controller_objects.as_ref()),
                        plugins: Some(controller_objects.as_ref()),
                    },
                )
            })
            .await;
            outcome.pull_request_repositories = listing.listed_repositories();
            generated.map_err(|e| {
                Failure::new(
                    reason::PARAMS_GENERATION_ERROR,
                    format!("generating Applications: {e}"),
                )
            })?
        };
        outcome.repositories = repos.identities();
        if generated.error.is_some() {
            outcome.failed = true;
        }
        let names: Vec<String> = generated
            .applications
            .iter()
            .map(|a| a.metadata.name.clone())
            .collect();
        let wanted: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        let watched = self.applications.listed() && self.echoes.is_empty();
        let mut existing = if watched {
            self.watched_applications(set, &wanted)
        } else {
            self.listed_applications(set, &wanted).await?
        };
        let rollout = self.rollout(set, &existing, &mut generated, now)?;
        let plan_for = |existing: &[Application]| {
            plan_reconcile(ReconcileInput {
                appset: set,
                generated: &generated,
                existing,
                controller: self.options.policy,
                global_preserved: &self.options.preserved,
                projects: Some(&projects),
                clusters,
            })
        };
        let mut plan = plan_for(&existing);
        match self.execute(set, &plan).await {
            // The watch had not shown someone else's change yet: once more, from the API.
            Err(failure) if watched && failure.stale => {
                tracing::debug!(appset = %set.metadata.name, message = %failure.message, "planned from a watch behind the API; listing");
                existing = self.listed_applications(set, &wanted).await?;
                plan = plan_for(&existing);
                self.execute(set, &plan).await?;
            }
            result => result?,
        }
        // What the set owns now: its Applications as this pass left them (Argo CD lists
        // the new ones at the reconcile their creation requeues; this pass's own writes
        // requeue nothing here, so it counts them at once).
        let after = after_plan(existing, &plan);
        // Owned only: an unowned Application adopted by name is not the set's yet.
        let owned: Vec<&Application> = after
            .iter()
            .filter(|app| {
                controlling_set(&app.metadata.owner_references) == Some(set.metadata.name.as_str())
            })
            .collect();
        let (resources, count) = appset::limit_resource_statuses(
            appset::resource_statuses(&owned),
            self.options.max_resources_status_count,
        );
        if resources.len() < count {
            tracing::warn!(appset = %set.metadata.name, count, kept = resources.len(), "status.resources truncated to --max-resources-status-count");
        }
        Ok(Applied {
            plan,
            resources: (resources, count),
            rollout,
        })
    }

    /// A progressive sync (`PerformProgressiveSyncs`, `SyncDesiredApplications`): with
    /// progressive syncs on and a `RollingSync` strategy, the statuses of the set's
    /// Applications move on, and `generated` gets automated sync turned off and the sync
    /// operations of the Applications whose turn it is.
    fn rollout(
        &self,
        set: &ApplicationSet,
        existing: &[Application],
        generated: &mut appset::Generated,
        now: &str,
    ) -> Result<Rollout, Failure> {
        let had_statuses = set
            .status
            .as_ref()
            .and_then(|s| s.get("applicationStatus"))
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if !self.options.enable_progressive_syncs || !progressive::is_rolling_sync(set) {
            return Ok(Rollout::Off { had_statuses });
        }
        if !progressive::has_rollout_steps(set) {
            return Err(Failure::new(
                ROLLOUT_ERROR,
                "No steps defined for rollout".into(),
            ));
        }
        if generated.error.is_some() {
            // Nothing is written when generation failed; the statuses wait too.
            return Ok(Rollout::Off {
                had_statuses: false,
            });
        }
        let owned: Vec<Application> = existing
            .iter()
            .filter(|app| {
                controlling_set(&app.metadata.owner_references) == Some(set.metadata.name.as_str())
            })
            .cloned()
            .collect();
        let rollout = progressive::rollout(set, &owned, &generated.applications, now)
            .map_err(|message| Failure::new(reason::UPDATE_APPLICATION_ERROR, message))?;
        progressive::with_rollout_syncs(&rollout, &mut generated.applications);
        Ok(Rollout::Ran(rollout))
    }

    /// The AppProjects in `namespace`, and `default`, which Argo CD always has.
    async fn projects(&self, namespace: &str) -> Result<Vec<String>, Failure> {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.hub.clone(), namespace, &appproject_resource());
        let list = api
            .list_metadata(&ListParams::default())
            .await
            .map_err(|e| {
                Failure::new(
                    reason::PARAMS_GENERATION_ERROR,
                    format!("listing AppProjects: {}", api_message(&e)),
                )
            })?;
        let mut names: BTreeSet<String> = list
            .items
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect();
        names.insert(DEFAULT_PROJECT.to_string());
        Ok(names.into_iter().collect())
    }

    /// `getCurrentApplications` from the watch-kept store (see [`AppSetReconciler::applications`]).
    fn watched_applications(
        &self,
        set: &ApplicationSet,
        wanted: &BTreeSet<&str>,
    ) -> Vec<Application> {
        let prefix = format!("{}/", set.metadata.namespace);
        let watched = self
            .applications
            .values_where(|key| key.starts_with(&prefix));
        let mut owned = Vec::new();
        keep_owned(
            set,
            wanted,
            watched.iter().map(|app| app.as_ref()),
            &mut owned,
        );
        owned
    }

    /// `getCurrentApplications` from the API: the Applications in the set's namespace
    /// whose controller owner is an ApplicationSet of this name — plus unowned ones bearing
    /// a generated name, which Argo CD's create-or-update adopts.
    async fn listed_applications(
        &self,
        set: &ApplicationSet,
        wanted: &BTreeSet<&str>,
    ) -> Result<Vec<Application>, Failure> {
        // Without managedFields, which planning never reads (on an Application they are as
        // large as its spec): decoded as JSON once, not into typed metadata first.
        let api: Api<crate::raw::UnmanagedObject> = Api::namespaced_with(
            self.hub.clone(),
            &set.metadata.namespace,
            &application_resource(),
        );
        let mut owned = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut params = ListParams::default().limit(self.options.list_page.max(1));
            if let Some(t) = &token {
                params = params.continue_token(t);
            }
            let page = api.list(&params).await.map_err(|e| {
                Failure::new(
                    reason::UPDATE_APPLICATION_ERROR,
                    format!("error getting current applications: {}", api_message(&e)),
                )
            })?;
            token = page.metadata.continue_.filter(|t| !t.is_empty());
            let items: Vec<Value> = page.items.into_iter().map(Value::from).collect();
            keep_owned(set, wanted, items.iter(), &mut owned);
            if token.is_none() {
                return Ok(owned);
            }
        }
    }

    /// Creates, updates, then deletes, stopping before deletions when a write failed (as
    /// Argo CD does). Within a step every write is tried; the error of the first failing
    /// name is reported.
    async fn execute(&self, set: &ApplicationSet, plan: &Plan) -> Result<(), Failure> {
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.hub.clone(),
            &set.metadata.namespace,
            &application_resource(),
        );
        let allow_update = set.effective_policy(self.options.policy).allow_update();
        let write_reason = if allow_update {
            reason::UPDATE_APPLICATION_ERROR
        } else {
            reason::CREATE_APPLICATION_ERROR
        };
        let post = PostParams {
            field_manager: Some(crate::bootstrap::FIELD_MANAGER.into()),
            ..PostParams::default()
        };
        let (api, post) = (&api, &post);
        let request = &kube::core::Request::new(crate::controller::url_path(
            &application_resource(),
            &set.metadata.namespace,
        ));
        let mut writes: Vec<Write<'_>> = Vec::new();
        for app in &plan.create {
            writes.push(Box::pin(async move {
                let name = app.metadata.name.clone();
                let echo = format!("{}/{name}", set.metadata.namespace);
                self.echoes.expect(&echo);
                let result = async {
                    crate::controller::send(&self.hub, request.create(post, body_of(app)?))
                        .await
                        .map_err(|e| WriteError::of(&e))?;
                    tracing::info!(appset = %set.metadata.name, app = %name, "created Application");
                    Ok(())
                }
                .await;
                if result.is_err() {
                    self.echoes.cancel(&echo);
                }
                (name, result)
            }));
        }
        for app in &plan.update {
            writes.push(Box::pin(async move {
                let name = app.metadata.name.clone();
                let echo = format!("{}/{name}", set.metadata.namespace);
                self.echoes.expect(&echo);
                let result = async {
                    crate::controller::send(&self.hub, request.replace(&name, post, body_of(app)?))
                        .await
                        .map_err(|e| WriteError::of(&e))?;
                    tracing::info!(appset = %set.metadata.name, app = %name, "updated Application");
                    Ok(())
                }
                .await;
                if result.is_err() {
                    self.echoes.cancel(&echo);
                }
                (name, result)
            }));
        }
        if let Some(failure) = first_failure(write_reason, failures(writes).await) {
            return Err(failure);
        }
        let mut deletes: Vec<Write<'_>> = Vec::new();
        for deletion in &plan.delete {
            deletes.push(Box::pin(async move {
                let result = self.delete(api, deletion).await.map_err(WriteError::from);
                if result.is_ok() {
                    tracing::info!(appset = %set.metadata.name, app = %deletion.name, cascade = deletion.cascade, "deleted Application");
                }
                (deletion.name.clone(), result)
            }));
        }
        if let Some(failure) =
            first_failure(reason::DELETE_APPLICATION_ERROR, failures(deletes).await)
        {
            return Err(failure);
        }
        Ok(())
    }

    /// `deleteInCluster` for one Application: the resources finalizer is removed first
    /// when its destination is gone (nothing could delete its resources), then it is
    /// deleted; the Application controller honours whatever finalizer remains.
    async fn delete(
        &self,
        api: &Api<DynamicObject>,
        deletion: &appset::Deletion,
    ) -> Result<(), String> {
        if deletion.strip_resources_finalizer {
            let live = match api.get_opt(&deletion.name).await {
                Ok(Some(live)) => live,
                Ok(None) => return Ok(()),
                Err(e) => return Err(api_message(&e)),
            };
            let finalizers: Vec<String> = live
                .metadata
                .finalizers
                .clone()
                .unwrap_or_default()
                .into_iter()
                .filter(|f| f != RESOURCES_FINALIZER)
                .collect();
            let patch = json!({"metadata": {
                "finalizers": finalizers,
                "resourceVersion": live.metadata.resource_version,
            }});
            api.patch(
                &deletion.name,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .map_err(|e| api_message(&e))?;
        }
        match api.delete(&deletion.name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(api_message(&e)),
        }
    }

    /// The set is being deleted: Kubernetes' garbage collector deletes the Applications it
    /// owns; when the policy forbids deletions they are orphaned first
    /// (`removeOwnerReferencesOnDeleteAppSet`), and the set's resources finalizer is
    /// removed so the deletion completes.
    async fn finalize(&self, object: &Value) -> Outcome {
        let failed = Outcome {
            failed: true,
            ..Outcome::default()
        };
        let Ok(set) = ApplicationSet::from_value(object) else {
            return Outcome::default();
        };
        let reverse = progressive::deletes_in_reverse(&set);
        let allow_delete = set.effective_policy(self.options.policy).allow_delete();
        let owned = if reverse || !allow_delete {
            let Ok(owned) = self.listed_applications(&set, &BTreeSet::new()).await else {
                return failed;
            };
            owned
        } else {
            Vec::new()
        };
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.hub.clone(),
            &set.metadata.namespace,
            &application_resource(),
        );
        if reverse {
            // `PerformReverseDeletion`: one Application at a time, the last step's first;
            // the set waits (its Applications' deletions requeue it) until each is gone.
            let wait = Outcome {
                requeue_after: Some(REVERSE_DELETION_POLL),
                ..Outcome::default()
            };
            for name in progressive::reverse_deletion_order(&set, &owned) {
                let Some(app) = owned.iter().find(|a| a.metadata.name == name) else {
                    continue;
                };
                if app.metadata.extra.contains_key("deletionTimestamp") {
                    return wait;
                }
                return match api.delete(&name, &DeleteParams::default()).await {
                    Ok(_) => wait,
                    Err(kube::Error::Api(s)) if s.code == 404 => wait,
                    Err(e) => {
                        tracing::warn!(app = %name, error = %api_message(&e), "deleting in reverse order");
                        failed
                    }
                };
            }
        }
        if !allow_delete {
            for app in owned {
                let patch = json!({"metadata": {"ownerReferences": null}});
                if let Err(e) = api
                    .patch(
                        &app.metadata.name,
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await
                {
                    tracing::warn!(app = %app.metadata.name, error = %api_message(&e), "orphaning Application");
                    return failed;
                }
            }
        }
        if set
            .metadata
            .finalizers
            .iter()
            .any(|f| f == RESOURCES_FINALIZER)
        {
            let finalizers: Vec<String> = set
                .metadata
                .finalizers
                .iter()
                .filter(|f| *f != RESOURCES_FINALIZER)
                .cloned()
                .collect();
            if let Err(e) = self.set_finalizers(&set, &finalizers).await {
                tracing::warn!(appset = %set.metadata.name, error = %e, "removing finalizer");
                return failed;
            }
        }
        Outcome::default()
    }

    /// Writes the set's `metadata.finalizers`, on the condition that the set is still the
    /// version read (a finalizer someone added meanwhile is not lost; the conflict fails
    /// this reconcile, and the next one reads again).
    async fn set_finalizers(
        &self,
        set: &ApplicationSet,
        finalizers: &[String],
    ) -> Result<(), String> {
        let read = json!({"metadata": {
            "name": set.metadata.name,
            "namespace": set.metadata.namespace,
            "resourceVersion": set.metadata.extra.get("resourceVersion"),
        }});
        crate::controller::write_finalizers(
            &self.hub,
            &applicationset_resource(),
            &read,
            finalizers,
        )
        .await
        .map_err(|e| api_message(&e))
    }

    /// `setApplicationSetStatusCondition` (and `updateResourcesStatus` when `resources` is
    /// given): merges `conditions` into the status and writes it to the status subresource
    /// when it changed. Returns the status on the hub.
    async fn write_status(
        &self,
        object: &Value,
        conditions: &[Condition],
        written: Written,
        now: &str,
    ) -> Option<Value> {
        let previous = object.get("status");
        let (conditions, health) = updated_status(previous, conditions, written.rolling_sync, now);
        let mut status = previous
            .filter(|s| s.is_object())
            .cloned()
            .unwrap_or_else(|| json!({}));
        status["conditions"] = Value::Array(conditions);
        status["health"] = health;
        let mut patch =
            json!({"status": {"conditions": status["conditions"], "health": status["health"]}});
        if let Some(statuses) = written.application_status {
            let statuses = serde_json::to_value(statuses).unwrap_or(Value::Null);
            set_or_remove(
                &mut status,
                &mut patch,
                "applicationStatus",
                statuses
                    .as_array()
                    .is_some_and(|a| !a.is_empty())
                    .then_some(statuses),
            );
        }
        if let Some((resources, count)) = written.resources {
            // Both `omitempty`: an empty list and a zero count are left out.
            set_or_remove(
                &mut status,
                &mut patch,
                "resources",
                (!resources.is_empty()).then_some(Value::Array(resources)),
            );
            set_or_remove(
                &mut status,
                &mut patch,
                "resourcesCount",
                (count > 0).then_some(json!(count)),
            );
        }
        if previous == Some(&status) {
            return Some(status);
        }
        let namespace = object
            .at("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let name = object
            .at("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.hub.clone(), namespace, &applicationset_resource());
        match api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Some(status),
            Err(kube::Error::Api(s)) if s.code == 404 => None,
            Err(e) => {
                tracing::warn!(appset = name, error = %api_message(&e), "writing ApplicationSet status");
                None
            }
        }
    }
}

/// The name of the ApplicationSet that controls an Application (`.metadata.controller`
/// index of Argo CD: the controller owner reference of kind ApplicationSet).
pub(crate) fn controller_owner(app: &Value) -> Option<&str> {
    controlling_set(
        app.at("/metadata/ownerReferences")
            .and_then(Value::as_array)?,
    )
}

/// The ApplicationSet among `references` that is the controller owner, by name.
fn controlling_set(references: &[Value]) -> Option<&str> {
    references
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .filter(|r| {
            r.get("kind").and_then(Value::as_str) == Some("ApplicationSet")
                && r.get("apiVersion").and_then(Value::as_str) == Some(API_VERSION)
        })
        .and_then(|r| r.get("name").and_then(Value::as_str))
}

/// The JSON body that creates or replaces `app`.
fn body_of(app: &Application) -> Result<Vec<u8>, String> {
    // Written straight from the typed form (a JSON tree on the way cost as much again).
    let typed;
    let app = if app.api_version == API_VERSION && app.kind == "Application" {
        app
    } else {
        typed = Application {
            api_version: API_VERSION.into(),
            kind: "Application".into(),
            ..app.clone()
        };
        &typed
    };
    serde_json::to_vec(app).map_err(|e| format!("Application {}: {e}", app.metadata.name))
}

/// `existing` after `plan` ran: the deleted ones gone, the updated ones replaced, the
/// created ones added.
fn after_plan(mut existing: Vec<Application>, plan: &appset::Plan) -> Vec<Application> {
    let deleted: std::collections::HashSet<&str> =
        plan.delete.iter().map(|d| d.name.as_str()).collect();
    existing.retain(|app| !deleted.contains(app.metadata.name.as_str()));
    let at: HashMap<String, usize> = existing
        .iter()
        .enumerate()
        .map(|(i, app)| (app.metadata.name.clone(), i))
        .collect();
    for updated in &plan.update {
        match at.get(&updated.metadata.name) {
            Some(&i) => existing[i] = updated.clone(),
            None => existing.push(updated.clone()),
        }
    }
    existing.extend(plan.create.iter().cloned());
    existing
}

/// Sets `field` of `status` to `value` (removes it for `None`) and says the same in the
/// merge `patch` of the status.
fn set_or_remove(status: &mut Value, patch: &mut Value, field: &str, value: Option<Value>) {
    match value {
        Some(value) => {
            patch["status"][field] = value.clone();
            status[field] = value;
        }
        None => {
            if let Some(fields) = status.as_object_mut() {
                fields.remove(field);
            }
            patch["status"][field] = Value::Null;
        }
    }
}

/// The apiVersion of Argo CD's kinds (Applications and ApplicationSets).
const API_VERSION: &str = "argoproj.io/v1alpha1";

/// The API server's own message (what Argo CD shows), not kube's wrapper text.
fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

/// Application writes in flight at once: a generator yielding thousands of Applications
/// should not wait for each round trip in turn.
const CONCURRENT_WRITES: usize = 16;

/// One write of an Application: its name and how it went.
type Write<'a> = futures::future::BoxFuture<'a, (String, Result<(), WriteError>)>;

/// Why a write of an Application failed.
#[derive(Debug)]
struct WriteError {
    message: String,
    /// The API answered 409 (it exists; it changed) or 404 (it is gone).
    stale: bool,
}

impl WriteError {
    fn of(e: &kube::Error) -> WriteError {
        WriteError {
            message: api_message(e),
            stale: matches!(e, kube::Error::Api(s) if s.code == 409 || s.code == 404),
        }
    }
}

impl From<String> for WriteError {
    fn from(message: String) -> WriteError {
        WriteError {
            message,
            stale: false,
        }
    }
}

/// The step's failure from its writes' failures: the first name's message; stale when
/// any was.
fn first_failure(reason: &'static str, failed: BTreeMap<String, WriteError>) -> Option<Failure> {
    let stale = failed.values().any(|e| e.stale);
    let (_, first) = failed.into_iter().next()?;
    Some(Failure {
        reason,
        message: first.message,
        stale,
    })
}

/// Runs `writes` `CONCURRENT_WRITES` at a time; every write is tried, and the failures
/// come back by name.
async fn failures(writes: Vec<Write<'_>>) -> BTreeMap<String, WriteError> {
    use futures::StreamExt as _;
    futures::stream::iter(writes)
        .buffer_unordered(CONCURRENT_WRITES)
        .filter_map(|(name, result)| async move { result.err().map(|e| (name, e)) })
        .collect()
        .await
}

/// Of some Applications, those of `set` (by controller owner, or unowned with a generated
/// name) into `owned`.
fn keep_owned<'a>(
    set: &ApplicationSet,
    wanted: &BTreeSet<&str>,
    items: impl Iterator<Item = &'a Value>,
    owned: &mut Vec<Application>,
) {
    for value in items {
        let name = value
            .at("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let take = match controller_owner(value) {
            Some(owner) => owner == set.metadata.name,
            None => wanted.contains(name),
        };
        if !take {
            continue;
        }
        match Application::from_value(value) {
            Ok(mut app) => {
                app.api_version = API_VERSION.into();
                app.kind = "Application".into();
                owned.push(app);
            }
            Err(e) => tracing::warn!(app = name, error = %e, "unreadable Application"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_application_is_written_with_its_api_version_and_kind_once() {
        let bare = Application::from_value(&json!({
            "metadata": {"name": "web", "namespace": "argocd"},
            "spec": {"project": "default",
                     "source": {"repoURL": "https://git.example/web", "path": "deploy"},
                     "destination": {"server": "https://kubernetes.default.svc"}},
        }))
        .unwrap();
        let typed = Application {
            api_version: API_VERSION.into(),
            kind: "Application".into(),
            ..bare.clone()
        };
        for app in [&bare, &typed] {
            let text = String::from_utf8(body_of(app).unwrap()).unwrap();
            assert_eq!(text.matches("\"apiVersion\"").count(), 1, "{text}");
            assert_eq!(text.matches("\"kind\"").count(), 1, "{text}");
            let body: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(body["apiVersion"], API_VERSION);
            assert_eq!(body["kind"], "Application");
            assert_eq!(body["metadata"]["name"], "web");
            assert_eq!(body["spec"]["project"], "default");
        }
    }

    #[test]
    fn the_controller_owner_must_be_an_applicationset() {
        let owned = json!({"metadata": {"ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "x"},
            {"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "name": "set", "controller": true},
        ]}});
        assert_eq!(controller_owner(&owned), Some("set"));
        let not_controller = json!({"metadata": {"ownerReferences": [
            {"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "name": "set"},
        ]}});
        assert_eq!(controller_owner(&not_controller), None);
        let other_kind = json!({"metadata": {"ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "set", "controller": true},
        ]}});
        assert_eq!(controller_owner(&other_kind), None);
    }

    #[test]
    fn errors_mark_the_set_degraded_with_argo_cd_conditions() {
        let conditions = error_conditions(false, reason::PARAMS_GENERATION_ERROR, "boom");
        let (written, health) = updated_status(None, &conditions, false, "2026-11-26T16:00:00Z");
        assert_eq!(health["status"], "Degraded");
        let kinds: Vec<&str> = written
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            ["ErrorOccurred", "ParametersGenerated", "ResourcesUpToDate"]
        );
        assert_eq!(written[1]["status"], "False");
    }
}
