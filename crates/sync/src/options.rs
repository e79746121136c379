//! Sync options: the app-wide set (Argo CD `syncPolicy.syncOptions` and the sync
//! operation's flags) and the per-object ones from annotations (Argo CD
//! `argocd.argoproj.io/sync-options`, Flux `kustomize.toolkit.fluxcd.io/*`).

use flotilla_core::pointer::Pointer as _;
use std::time::Duration;

use serde_json::Value;

use crate::ignore::IgnoreRule;
use crate::tracking::ObjectKey;

/// Argo CD's per-object options annotation (comma-separated `Key=value`).
pub const SYNC_OPTIONS_ANNOTATION: &str = "argocd.argoproj.io/sync-options";
/// Flux's server-side apply policy annotation.
pub const FLUX_SSA_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/ssa";
/// Flux's prune opt-out annotation (`disabled`).
pub const FLUX_PRUNE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/prune";
/// Flux's recreate-on-immutable-change annotation (`enabled`).
pub const FLUX_FORCE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/force";

/// How pruned objects' dependents are deleted (Argo CD `PrunePropagationPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Dependents first (Argo CD's default).
    Foreground,
    /// The garbage collector deletes dependents afterwards.
    Background,
    /// Dependents are kept.
    Orphan,
}

/// Retries of one API call that failed for a transient reason (5xx, 429, network).
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Attempts after the first.
    pub limit: u32,
    /// First delay.
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            limit: 4,
            initial: Duration::from_millis(100),
            max: Duration::from_secs(3),
        }
    }
}

/// Options of one sync (or plan) of an app.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Delete tracked objects no longer desired.
    pub prune: bool,
    /// Ask the server to validate and answer, but change nothing.
    pub dry_run: bool,
    /// Allow a sync whose render is empty to prune everything (`allowEmpty`).
    pub allow_empty: bool,
    /// `CreateNamespace=true`: create the destination namespace.
    pub create_namespace: bool,
    /// With `create_namespace`, the labels and annotations the namespace is kept with
    /// (Argo CD's `managedNamespaceMetadata`): then the namespace is applied on every
    /// sync, existing or not, and the metadata others wrote is left alone.
    pub namespace_metadata: Option<NamespaceMetadata>,
    /// `PruneLast=true`: prune after every wave, not in the pruned object's wave.
    pub prune_last: bool,
    /// `ApplyOutOfSyncOnly=true`: apply only objects the plan finds out of sync or missing.
    pub apply_out_of_sync_only: bool,
    /// `Replace=true`: replace objects instead of applying them (an immutable-field
    /// change still fails); with `Force=true` they are deleted and created again.
    pub replace: bool,
    /// `Force=true`: delete and create again an object the server refuses to change
    /// (kubectl `apply --force`); with `Replace=true`, every object applied.
    pub force: bool,
    /// `ServerSideApply=true`: Argo CD's server-side apply, where `Force=true` only takes
    /// fields over from other managers (every apply here is server-side either way).
    pub server_side_apply: bool,
    /// A re-apply with nothing new (a periodic backstop, a restart): `Force=true,Replace=true`
    /// objects are applied in place and recreated only when refused, as Argo CD does not
    /// sync an app that is in sync (a Job would otherwise run again at every backstop).
    pub periodic: bool,
    /// Take fields over from other managers (server-side apply `force`); on by default as
    /// Argo CD and Flux do, so Git wins over hand edits.
    pub force_conflicts: bool,
    /// `PrunePropagationPolicy=…`.
    pub prune_propagation: Propagation,
    /// `Validate=false` turns the server's field validation off.
    pub validate: bool,
    /// `FailOnSharedResource=true`: refuse to sync when another app's tracking claims
    /// one of the objects.
    pub fail_on_shared_resource: bool,
    /// `RespectIgnoreDifferences=true`: leave ignored fields as the cluster has them.
    pub respect_ignore_differences: bool,
    /// Fields left out of diffs (Argo CD `ignoreDifferences`).
    pub ignore_differences: Vec<IgnoreRule>,
    /// Namespace for namespaced objects that have none (the app's destination).
    pub destination_namespace: String,
    /// How long a wave may take to become healthy before the sync fails.
    pub health_timeout: Duration,
    /// How often health is polled between waves.
    pub health_poll: Duration,
    /// Transient API failures.
    pub retry: Retry,
    /// Objects applied at once within a wave and kind.
    pub concurrency: usize,
    /// How long to wait after applying a wave that is not the last, before its health is
    /// awaited (Argo CD's `ARGOCD_SYNC_WAVE_DELAY`: other controllers get a chance to see
    /// the change first, so a stale status is not taken as the new one's).
    pub wave_delay: std::time::Duration,
    /// A selective sync (Argo CD's `operation.sync.resources`): only these objects are
    /// applied or pruned, the others are left as they are and stay tracked. Empty: all.
    pub resources: Vec<SelectedResource>,
    /// Hooks do not run (Argo CD's `apply` sync strategy, and any selective sync).
    pub skip_hooks: bool,
    /// The app's `Prune=false`/`Prune=confirm`: how an object without its own `Prune=`
    /// annotation is pruned (gitops-engine's `WithDefaultPruneOption`).
    pub default_prune: PruneMode,
    /// The app's `Delete=false`/`Delete=confirm`: whether its objects go when the
    /// Application is deleted (an object's own `Delete=` annotation wins).
    pub default_delete: PruneMode,
    /// The prune is the Application's cascading deletion: Argo CD's `shouldBeDeleted`
    /// decides instead of the prune options (CRDs, `Delete=false` and Helm's
    /// `resource-policy: keep` stay); `true` once a `Delete=confirm` deletion is approved.
    pub app_deletion: Option<bool>,
    /// Set to stop the sync between waves and while it waits for health (Argo CD's
    /// terminated operation): it ends Failed with [`TERMINATED`].
    pub terminate: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Objects to prune with `Prune=confirm`: `None` reports them not pruned and syncs
    /// the rest; `Some(false)` holds the whole sync back, Running, until they are
    /// approved (gitops-engine's `WithPruneConfirmed(false)`); `Some(true)` (approved)
    /// prunes them.
    pub prune_confirmed: Option<bool>,
    /// The client-side apply manager whose fields pass to Flotilla's on apply (Argo CD's
    /// `ClientSideApplyMigration`: `kubectl-client-side-apply` unless the Application's
    /// annotation names another); `None` with `ClientSideApplyMigration=false`. Argo CD's
    /// own manager's always do (see [`crate::takeover`]).
    pub csa_migration_manager: Option<String>,
}

/// The message of a sync stopped by [`SyncOptions::terminate`] (gitops-engine's words).
pub const TERMINATED: &str = "Operation terminated";

impl SyncOptions {
    /// Whether the sync was asked to stop.
    pub fn terminated(&self) -> bool {
        self.terminate
            .as_ref()
            .is_some_and(|t| t.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// One object of a selective sync, as Argo CD's `SyncOperationResource` names it: group,
/// kind and name must be the object's; an empty namespace stands for any.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct SelectedResource {
    /// API group, empty for the core group.
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Namespace (empty: any).
    pub namespace: String,
}

impl SelectedResource {
    /// Argo CD's `HasIdentity`.
    pub fn matches(&self, key: &ObjectKey) -> bool {
        self.name == key.name
            && self.kind == key.kind
            && self.group == key.group
            && (self.namespace.is_empty() || self.namespace == key.namespace)
    }
}

/// Labels and annotations of a managed namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceMetadata {
    /// Labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Annotations.
    pub annotations: std::collections::BTreeMap<String, String>,
}

impl Default for SyncOptions {
    fn default() -> SyncOptions {
        SyncOptions {
            prune: false,
            dry_run: false,
            allow_empty: false,
            create_namespace: false,
            namespace_metadata: None,
            prune_last: false,
            apply_out_of_sync_only: false,
            replace: false,
            force: false,
            server_side_apply: false,
            periodic: false,
            force_conflicts: true,
            prune_propagation: Propagation::Foreground,
            validate: true,
            fail_on_shared_resource: false,
            respect_ignore_differences: false,
            ignore_differences: Vec::new(),
            destination_namespace: "default".to_string(),
            health_timeout: Duration::from_secs(300),
            health_poll: Duration::from_millis(100),
            retry: Retry::default(),
            concurrency: 32,
            wave_delay: std::time::Duration::ZERO,
            resources: Vec::new(),
            skip_hooks: false,
            default_prune: PruneMode::Allow,
            default_delete: PruneMode::Allow,
            app_deletion: None,
            terminate: None,
            prune_confirmed: None,
            csa_migration_manager: Some(crate::takeover::DEFAULT_CSA_MANAGER.to_string()),
        }
    }
}

impl SyncOptions {
    /// The managers whose fields an apply hands to Flotilla's: Argo CD's own (server- and
    /// client-side) and the client-side apply migration's.
    pub fn predecessors(&self) -> Vec<crate::takeover::Predecessor> {
        use crate::takeover::{ARGOCD_MANAGER, Predecessor};
        let mut out = vec![
            Predecessor {
                manager: ARGOCD_MANAGER.to_string(),
                operation: "Apply",
            },
            Predecessor::updates_of(ARGOCD_MANAGER),
        ];
        out.extend(
            self.csa_migration_manager
                .as_deref()
                .filter(|m| *m != ARGOCD_MANAGER)
                .map(Predecessor::updates_of),
        );
        out
    }
}

/// A `syncOptions` entry that is not understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("sync option {option:?}: {reason}")]
pub struct OptionError {
    /// The entry as given.
    pub option: String,
    /// Why it was refused.
    pub reason: String,
}

impl SyncOptions {
    /// Whether the sync takes `key` in: every object, unless the sync is selective.
    pub fn selects(&self, key: &ObjectKey) -> bool {
        self.resources.is_empty() || self.resources.iter().any(|r| r.matches(key))
    }

    /// Applies Argo CD `syncOptions` entries (`CreateNamespace=true`, `PruneLast=true`, …).
    /// Options Flotilla always behaves as set (`ServerSideApply=true`) are accepted; unknown
    /// keys and values are errors naming the entry.
    pub fn apply_argo(&mut self, entries: &[&str]) -> Result<(), OptionError> {
        for entry in entries {
            let err = |reason: &str| OptionError {
                option: entry.to_string(),
                reason: reason.to_string(),
            };
            let (key, value) = entry
                .split_once('=')
                .ok_or_else(|| err("expected Key=value"))?;
            let flag = || match value {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(err("expected true or false")),
            };
            match key.trim() {
                "CreateNamespace" => self.create_namespace = flag()?,
                "PruneLast" => self.prune_last = flag()?,
                "ApplyOutOfSyncOnly" => self.apply_out_of_sync_only = flag()?,
                "Replace" => self.replace = flag()?,
                "Force" => self.force = flag()?,
                "Validate" => self.validate = flag()?,
                "RespectIgnoreDifferences" => self.respect_ignore_differences = flag()?,
                "FailOnSharedResource" => self.fail_on_shared_resource = flag()?,
                "PrunePropagationPolicy" => {
                    self.prune_propagation = match value {
                        "foreground" => Propagation::Foreground,
                        "background" => Propagation::Background,
                        "orphan" => Propagation::Orphan,
                        _ => return Err(err("expected foreground, background or orphan")),
                    }
                }
                "ServerSideApply" => self.server_side_apply = flag()?,
                "Prune" => {
                    self.default_prune =
                        prune_mode(value).ok_or_else(|| err("expected true, false or confirm"))?
                }
                "Delete" => {
                    self.default_delete =
                        prune_mode(value).ok_or_else(|| err("expected true, false or confirm"))?
                }
                // Always on: every apply is server-side.
                "SkipDryRunOnMissingResource" => {
                    flag()?;
                }
                // Argo CD 3 moves the fields a client-side `kubectl apply` owned over to
                // its server-side manager unless this is false.
                "ClientSideApplyMigration" => {
                    if !flag()? {
                        self.csa_migration_manager = None;
                    } else if self.csa_migration_manager.is_none() {
                        self.csa_migration_manager =
                            Some(crate::takeover::DEFAULT_CSA_MANAGER.to_string());
                    }
                }
                _ => return Err(err("unknown option")),
            }
        }
        Ok(())
    }
}

/// `true`, `false` or `confirm` of a `Prune=`/`Delete=` option.
fn prune_mode(value: &str) -> Option<PruneMode> {
    match value {
        "true" => Some(PruneMode::Allow),
        "false" => Some(PruneMode::Disabled),
        "confirm" => Some(PruneMode::Confirm),
        _ => None,
    }
}

/// Whether an object's own `argocd.argoproj.io/sync-options` hold `option` (gitops-engine's
/// `HasAnnotationOption`: entries split on `,` and trimmed).
pub fn has_sync_option(obj: &Value, option: &str) -> bool {
    obj.at("/metadata/annotations")
        .and_then(|a| a.get(SYNC_OPTIONS_ANNOTATION))
        .and_then(Value::as_str)
        .is_some_and(|options| options.split(',').any(|entry| entry.trim() == option))
}

/// Whether deleting `obj` waits for an approval: its own or the app's `Delete=confirm` or
/// `Prune=confirm` (Argo CD's `isObjRequiresDeletionConfirmation`).
pub fn needs_deletion_confirmation(obj: &Value, app: &SyncOptions) -> bool {
    ObjectOptions::of(obj, app).deletion_needs_confirmation(obj, app)
}

/// An object's own `Delete=` option (`argocd.argoproj.io/sync-options`), else the app's.
pub fn delete_mode(obj: &Value, app: &SyncOptions) -> PruneMode {
    obj.at("/metadata/annotations")
        .and_then(|a| a.get(SYNC_OPTIONS_ANNOTATION))
        .and_then(Value::as_str)
        .unwrap_or("")
        .split(',')
        .filter_map(|entry| entry.trim().strip_prefix("Delete="))
        .find_map(prune_mode)
        .unwrap_or(app.default_delete)
}

/// Whether and how an object may be pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneMode {
    /// Pruned when prune is on.
    Allow,
    /// Never pruned (`Prune=false`, Flux `prune: disabled`).
    Disabled,
    /// Pruned only with explicit confirmation (`Prune=confirm`); reported, not deleted.
    Confirm,
}

/// Flux's server-side apply policy for one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsaPolicy {
    /// Apply with force: Git wins (the default).
    Override,
    /// Apply, keeping fields other managers set (with server-side apply this is what
    /// Override does too: fields we do not send are never touched).
    Merge,
    /// Create when absent, never update.
    IfNotPresent,
    /// Never apply.
    Ignore,
}

/// When an object is deleted and created again instead of applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recreate {
    /// Never: a change the server refuses fails the sync.
    Never,
    /// When the server refuses the change as invalid (an immutable field): Argo CD's
    /// `Force=true` (kubectl `apply --force`), Flux's `force`.
    WhenRefused,
    /// Whenever it is applied and exists: Argo CD's `Force=true,Replace=true` (kubectl
    /// `replace --force`), so a Job runs again at every sync.
    Always,
}

impl Recreate {
    /// Argo CD's choice from the Replace, Force and ServerSideApply options. Namespaces
    /// and CRDs are never recreated (their contents would go with them); Argo CD updates
    /// them in place.
    fn argo(replace: bool, force: bool, server_side_apply: bool, kind: &str) -> Recreate {
        if matches!(kind, "Namespace" | "CustomResourceDefinition") || !force {
            Recreate::Never
        } else if replace {
            Recreate::Always
        } else if server_side_apply {
            // `--server-side --force-conflicts`: conflicts are taken over, nothing deleted.
            Recreate::Never
        } else {
            Recreate::WhenRefused
        }
    }
}

/// The options one object's annotations select.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectOptions {
    /// Pruning.
    pub prune: PruneMode,
    /// Whether it is deleted and created again instead of applied.
    pub recreate: Recreate,
    /// Server-side field validation.
    pub validate: bool,
    /// Flux's apply policy.
    pub ssa: SsaPolicy,
    /// Skip the dry run when the kind does not exist yet (its CRD is in the same sync).
    pub skip_dry_run_on_missing: bool,
}

impl ObjectOptions {
    /// [`needs_deletion_confirmation`] for `obj`, whose options these are.
    pub fn deletion_needs_confirmation(&self, obj: &Value, app: &SyncOptions) -> bool {
        self.prune == PruneMode::Confirm || delete_mode(obj, app) == PruneMode::Confirm
    }

    /// The options of `obj` given the app's.
    pub fn of(obj: &Value, app: &SyncOptions) -> ObjectOptions {
        let mut o = ObjectOptions {
            prune: app.default_prune,
            recreate: Recreate::Never,
            validate: app.validate,
            ssa: SsaPolicy::Override,
            skip_dry_run_on_missing: false,
        };
        let annotations = obj.at("/metadata/annotations");
        let get = |k: &str| annotations.and_then(|a| a.get(k)).and_then(Value::as_str);
        let (mut replace, mut force, mut server_side_apply) =
            (app.replace, app.force, app.server_side_apply);
        for entry in get(SYNC_OPTIONS_ANNOTATION)
            .unwrap_or("")
            .split(',')
            .map(str::trim)
        {
            match entry {
                "Prune=true" => o.prune = PruneMode::Allow,
                "Prune=false" => o.prune = PruneMode::Disabled,
                "Prune=confirm" => o.prune = PruneMode::Confirm,
                "Replace=true" => replace = true,
                "Force=true" => force = true,
                "ServerSideApply=true" => server_side_apply = true,
                "Validate=false" => o.validate = false,
                "SkipDryRunOnMissingResource=true" => o.skip_dry_run_on_missing = true,
                _ => {}
            }
        }
        if get(FLUX_PRUNE_ANNOTATION) == Some("disabled") {
            o.prune = PruneMode::Disabled;
        }
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        o.recreate = Recreate::argo(replace, force, server_side_apply, kind);
        if get(FLUX_FORCE_ANNOTATION) == Some("enabled") && o.recreate == Recreate::Never {
            o.recreate = Recreate::WhenRefused;
        }
        o.ssa = match get(FLUX_SSA_ANNOTATION)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("merge") => SsaPolicy::Merge,
            Some("ifnotpresent") => SsaPolicy::IfNotPresent,
            Some("ignore") => SsaPolicy::Ignore,
            _ => SsaPolicy::Override,
        };
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Argo CD's app-level `Prune=` and `Delete=` options: `true`, `false`, `confirm`; an
    /// object's own `Prune=` annotation wins over the app's.
    #[test]
    fn app_level_prune_and_delete_options_set_the_defaults() {
        let mut o = SyncOptions::default();
        o.apply_argo(&["Prune=confirm", "Delete=false"]).unwrap();
        assert_eq!(
            (o.default_prune, o.default_delete),
            (PruneMode::Confirm, PruneMode::Disabled)
        );
        let plain = serde_json::json!({"kind": "ConfigMap", "metadata": {"name": "a"}});
        assert_eq!(ObjectOptions::of(&plain, &o).prune, PruneMode::Confirm);
        let own = serde_json::json!({"kind": "ConfigMap", "metadata": {"name": "a",
            "annotations": {SYNC_OPTIONS_ANNOTATION: "Prune=true,Delete=true"}}});
        assert_eq!(ObjectOptions::of(&own, &o).prune, PruneMode::Allow);
        assert_eq!(delete_mode(&own, &o), PruneMode::Allow);
        assert_eq!(delete_mode(&plain, &o), PruneMode::Disabled);
        let refused = o.apply_argo(&["Delete=maybe"]).unwrap_err();
        assert_eq!(refused.reason, "expected true, false or confirm");
    }

    #[test]
    fn argo_sync_options_parse_and_unknown_ones_are_named() {
        let mut o = SyncOptions::default();
        o.apply_argo(&[
            "CreateNamespace=true",
            "ClientSideApplyMigration=false",
            "PruneLast=true",
            "PrunePropagationPolicy=orphan",
            "ServerSideApply=true",
        ])
        .unwrap();
        assert!(o.create_namespace && o.prune_last);
        assert_eq!(o.csa_migration_manager, None);
        assert_eq!(
            o.predecessors().len(),
            2,
            "Argo CD's own manager is still taken over"
        );
        assert_eq!(o.prune_propagation, Propagation::Orphan);
        let e = o.apply_argo(&["Bogus=true"]).unwrap_err();
        assert_eq!(e.to_string(), "sync option \"Bogus=true\": unknown option");
        assert!(o.apply_argo(&["PruneLast=yes"]).is_err());
    }

    #[test]
    fn per_object_annotations_from_argo_and_flux() {
        let app = SyncOptions::default();
        let obj = json!({"metadata": {"annotations": {
            SYNC_OPTIONS_ANNOTATION: "Prune=false, Replace=true",
            FLUX_SSA_ANNOTATION: "IfNotPresent"}}});
        let o = ObjectOptions::of(&obj, &app);
        assert_eq!(o.prune, PruneMode::Disabled);
        assert_eq!(o.recreate, Recreate::Never, "Replace=true alone replaces");
        assert_eq!(o.ssa, SsaPolicy::IfNotPresent);
        let flux = json!({"metadata": {"annotations": {
            FLUX_PRUNE_ANNOTATION: "disabled", FLUX_FORCE_ANNOTATION: "enabled"}}});
        let o = ObjectOptions::of(&flux, &app);
        assert_eq!(
            (o.prune, o.recreate),
            (PruneMode::Disabled, Recreate::WhenRefused)
        );
    }

    /// Argo CD: `Replace=true` replaces (kubectl replace: an immutable field still fails);
    /// `Force=true` with client-side apply deletes and creates when the apply is refused;
    /// with `ServerSideApply=true` it only forces conflicts; `Force=true,Replace=true`
    /// is `kubectl replace --force`, every time. Namespaces and CRDs are updated instead.
    #[test]
    fn replace_and_force_choose_when_an_object_is_recreated() {
        let cases = [
            ("Deployment", "", Recreate::Never),
            ("Deployment", "Replace=true", Recreate::Never),
            ("Deployment", "Force=true", Recreate::WhenRefused),
            (
                "Deployment",
                "Force=true,ServerSideApply=true",
                Recreate::Never,
            ),
            ("Job", "Force=true,Replace=true", Recreate::Always),
            (
                "Job",
                "Replace=true,Force=true,ServerSideApply=true",
                Recreate::Always,
            ),
            ("Namespace", "Force=true,Replace=true", Recreate::Never),
            ("CustomResourceDefinition", "Force=true", Recreate::Never),
        ];
        for (kind, options, want) in cases {
            let obj = json!({"kind": kind, "metadata": {"annotations": {
                SYNC_OPTIONS_ANNOTATION: options}}});
            let from_annotation = ObjectOptions::of(&obj, &SyncOptions::default()).recreate;
            assert_eq!(from_annotation, want, "{kind} annotated {options:?}");
            let mut app = SyncOptions::default();
            app.apply_argo(
                &options
                    .split(',')
                    .filter(|o| !o.is_empty())
                    .collect::<Vec<_>>(),
            )
            .unwrap();
            let plain = json!({"kind": kind});
            let from_app = ObjectOptions::of(&plain, &app).recreate;
            assert_eq!(from_app, want, "{kind} in an app with {options:?}");
        }
        // An object's annotation adds to the app's options.
        let mut app = SyncOptions::default();
        app.apply_argo(&["Force=true"]).unwrap();
        let job = json!({"kind": "Job", "metadata": {"annotations": {
            SYNC_OPTIONS_ANNOTATION: "Replace=true"}}});
        assert_eq!(ObjectOptions::of(&job, &app).recreate, Recreate::Always);
    }
}
