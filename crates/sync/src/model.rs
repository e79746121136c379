//! What the engine reports: the plan, per-object results, the inventory and the app's
//! health.

use flotilla_core::pointer::Pointer as _;
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::health::{Health, HealthStatus};
use crate::order::Phase;
use crate::tracking::ObjectKey;

/// One object the app applied, as kept for pruning (Flux keeps the same in a
/// Kustomization's status inventory).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InventoryEntry {
    /// apiVersion it was applied with.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Namespace (`""` when cluster-scoped).
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl InventoryEntry {
    /// The entry for an object.
    pub fn of(obj: &Value) -> InventoryEntry {
        let s = |p: &str| obj.at(p).and_then(Value::as_str).unwrap_or("").to_string();
        InventoryEntry {
            api_version: s("/apiVersion"),
            kind: s("/kind"),
            namespace: s("/metadata/namespace"),
            name: s("/metadata/name"),
        }
    }

    /// Its key.
    pub fn key(&self) -> ObjectKey {
        ObjectKey {
            group: crate::tracking::group_of(&self.api_version).to_string(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

/// What an app has applied to one cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// The objects.
    pub entries: BTreeSet<InventoryEntry>,
}

/// How a desired or tracked object compares with the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ObjectState {
    /// Live equals desired (after normalisation and ignoreDifferences).
    Synced,
    /// Live differs.
    OutOfSync,
    /// Desired but absent.
    Missing,
    /// Tracked by the app but no longer desired: to prune.
    Extra,
}

/// One object of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanItem {
    /// Which object.
    pub key: ObjectKey,
    /// Its apiVersion.
    pub api_version: String,
    /// Its state.
    pub state: ObjectState,
    /// Unified diff from live to desired (Secret values masked); empty when synced.
    pub diff: String,
    /// Why the server's dry run could not predict the result, if it could not.
    pub message: Option<String>,
    /// Health of the live object (Missing when absent).
    pub health: Option<Health>,
    /// The desired object's sync wave (0 for an extra one, as Argo CD reports it).
    pub wave: i64,
    /// Deleting it waits for an approval (`Delete=confirm` or `Prune=confirm`).
    pub needs_deletion_confirmation: bool,
    /// An extra object annotated `argocd.argoproj.io/compare-options: IgnoreExtraneous`:
    /// it does not make the app out of sync.
    pub ignore_extraneous: bool,
}

/// The plan: every desired object and every extra tracked one, in sync order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    /// The objects.
    pub items: Vec<PlanItem>,
    /// Objects another app's tracking claims, worded as Argo CD's
    /// SharedResourceWarning (`Kind/name is part of applications a and b`).
    pub shared: Vec<String>,
}

impl Plan {
    /// Whether nothing differs (extra objects marked IgnoreExtraneous aside, as Argo
    /// CD leaves them out of the app's sync status).
    pub fn in_sync(&self) -> bool {
        self.items
            .iter()
            .all(|i| i.state == ObjectState::Synced || i.ignore_extraneous)
    }

    /// The whole diff, object after object.
    pub fn diff(&self) -> String {
        self.items.iter().map(|i| i.diff.as_str()).collect()
    }
}

/// What was done to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Action {
    /// Created.
    Created,
    /// Changed.
    Configured,
    /// Applied, and the server changed nothing.
    Unchanged,
    /// Deleted and created again (immutable field, with Replace/Force).
    Replaced,
    /// Deleted as no longer desired.
    Pruned,
    /// Not deleted though no longer desired (prune off, `Prune=false`, `Prune=confirm`).
    PruneSkipped,
    /// Not applied (Flux `ssa: Ignore`/`IfNotPresent`, ApplyOutOfSyncOnly, a Skip hook).
    Skipped,
    /// A hook ran and succeeded.
    HookSucceeded,
    /// A hook ran and failed.
    HookFailed,
    /// The API refused it.
    Failed,
}

/// The result of one object.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectResult {
    /// Which object.
    pub key: ObjectKey,
    /// Its apiVersion.
    pub api_version: String,
    /// What happened.
    pub action: Action,
    /// Details: the server's message on failure, why something was skipped.
    pub message: String,
    /// Phase it ran in.
    pub phase: Phase,
    /// Wave it ran in.
    pub wave: i64,
    /// Health of the object when the sync finished with it.
    pub health: Option<Health>,
    /// Whether it is a hook.
    pub hook: bool,
    /// Deleting it waits for an approval (`Delete=confirm` or `Prune=confirm`).
    pub needs_deletion_confirmation: bool,
    /// The object as applied: what a hook or recreate got back, else the manifest with
    /// the server's metadata and its last status seen (not serialised: may hold Secret
    /// data).
    #[serde(skip)]
    pub live: Option<Value>,
    /// The body that was applied (not serialised), for re-applying on drift; shared
    /// with the sync's own copy.
    #[serde(skip)]
    pub applied: Option<std::sync::Arc<Value>>,
}

/// The outcome of a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OperationPhase {
    /// Every object applied, every wave healthy, every hook succeeded.
    Succeeded,
    /// Something failed; SyncFail hooks ran.
    Failed,
    /// Nothing was done: the sync waits (for a prune to be confirmed), its message says
    /// for what.
    Running,
}

/// Everything a sync did.
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    /// Succeeded or failed.
    pub phase: OperationPhase,
    /// Why it failed, if it did.
    pub message: String,
    /// Whether nothing was changed (server-side dry run).
    pub dry_run: bool,
    /// Per object, in the order they were handled.
    pub results: Vec<ObjectResult>,
    /// The app's health at the end: the worst of its objects.
    pub health: HealthStatus,
    /// What the app now has in the cluster (for the next prune).
    pub inventory: Inventory,
    /// The plan, when one was computed (ApplyOutOfSyncOnly, dry run).
    pub plan: Option<Plan>,
    /// Objects another app's tracking claimed before the sync (see [`Plan::shared`]).
    pub shared: Vec<String>,
}

/// Progress of a running sync, for displays.
#[derive(Debug, Clone)]
pub enum Progress<'a> {
    /// A phase and wave starts with this many objects.
    Wave {
        /// Phase.
        phase: Phase,
        /// Wave.
        wave: i64,
        /// Objects in it.
        objects: usize,
    },
    /// One object is done.
    Object(&'a ObjectResult),
    /// Waiting for these objects to become healthy.
    Waiting {
        /// Objects not healthy yet.
        pending: Vec<ObjectKey>,
    },
}
