//! What kube-apiserver adds on top of smd (apimachinery `managedfields/internal`):
//! managers keyed by name, operation, version and subresource; metadata fields nobody
//! owns; `before-first-apply`; updates that change nothing recording nothing; more than
//! ten update managers folded into `ancient-changes`; `managedFields: [{}]` clearing
//! them; the kubectl last-applied upgrade; and the encoding into
//! `metadata.managedFields`.
//!
//! Two entry points: [`apply`] for `PATCH` with `application/apply-patch+yaml`
//! (create-on-apply included) and [`update`] for every other write (create, update,
//! patch), which records the writer as an `Update` manager.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::conflict::{Conflict, Conflicts};
use crate::lastapplied::{self, KUBECTL};
use crate::managed::{self, Managed, ManagedFieldsError, ManagerId, Operation, unix_seconds};
use crate::path::{Path, PathElement};
use crate::schema::TypeNode;
use crate::set::FieldSet;
use crate::typed::ValidationErrors;
use crate::updater::{ApplyError, ManagedSet, Managers, Updater};
use crate::value::values_equal;

/// The most `Update` managers an object keeps; older ones are merged into
/// `ancient-changes` buckets, one per API version (apimachinery
/// `DefaultMaxUpdateManagers`).
pub const MAX_UPDATE_MANAGERS: usize = 10;

/// The manager that takes the fields an object had before its first apply.
pub const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// The bucket old update managers are merged into.
pub const ANCIENT_CHANGES: &str = "ancient-changes";

/// Stands for the writer while an update is compared, so that an update that changes
/// nothing leaves its writer's entry (and its time) alone.
const CURRENT_OPERATION: &str = "current-operation";

/// Longest manager name the apiserver accepts (`FieldManagerMaxLength`).
const MAX_MANAGER_LENGTH: usize = 128;

/// The resource a write goes to.
#[derive(Debug, Clone, Copy)]
pub struct Resource<'a, N> {
    /// The type of the whole object.
    pub schema: N,
    /// The group/version of the request, e.g. `apps/v1` (`v1` for the core group).
    /// Sets are recorded at it; an apply's `apiVersion` should match it.
    pub api_version: &'a str,
    /// The subresource written (`status`, `scale`), or empty for the main resource.
    pub subresource: &'a str,
    /// Fields this endpoint resets (the strategy's `GetResetFields`): `status` for the
    /// main resource of a kind with a status subresource, `spec` for `/status`. Nobody
    /// gains, loses or conflicts on them, and their values stay as the live object had
    /// them (absent on create).
    pub reset_fields: &'a FieldSet,
    /// The object a create starts from, as the apiserver's `New()` makes it; `None`
    /// means `{apiVersion, kind}`, which is right for custom resources. For built-in
    /// kinds Kubernetes starts from the Go zero value (`{"metadata":
    /// {"creationTimestamp": null}, "spec": {"strategy": {}, ...}, "status": {}}` for a
    /// Deployment), so a creator does not own the parents that value already has
    /// (`"f:spec"` without `"."`). Also the base of `before-first-apply`.
    pub empty: Option<&'a Value>,
}

/// Errors from [`apply`] and [`update`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// An apply without a field manager (400).
    #[error("fieldManager: Required value: is required for apply patch")]
    ManagerRequired,
    /// The apply patch is not an object (400).
    #[error("apply patch must be an object, got {0}")]
    PatchNotAnObject(String),
    /// The apply patch sets `metadata.managedFields` (400).
    #[error("metadata.managedFields must be nil")]
    ManagedFieldsInPatch,
    /// The live object's `managedFields` cannot be read (500).
    #[error("failed to decode managed fields: {0}")]
    DecodeManagedFields(#[source] ManagedFieldsError),
    /// The apply patch does not fit the schema, or repeats a list item (the
    /// apiserver answers 500).
    #[error("failed to create typed patch object ({object}): {errors}")]
    InvalidPatch {
        /// `namespace/name; group/version, Kind=Kind`.
        object: String,
        /// What does not fit.
        errors: ValidationErrors,
    },
    /// A non-forced apply changes fields other managers own (409); see
    /// [`Conflicts::to_status`].
    #[error("{0}")]
    Conflict(Conflicts),
}

impl Error {
    /// The HTTP status the apiserver answers with.
    pub fn status_code(&self) -> u16 {
        match self {
            Error::ManagerRequired | Error::PatchNotAnObject(_) | Error::ManagedFieldsInPatch => {
                400
            }
            Error::Conflict(_) => 409,
            _ => 500,
        }
    }
}

/// The outcome of a successful [`apply`].
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyResult {
    /// The object to store, `metadata.managedFields` included.
    pub object: Value,
    /// Whether anything but `managedFields` differs from the live object.
    pub changed: bool,
}

/// The manager name of a non-apply write: the `fieldManager` parameter, else the
/// User-Agent up to its first `/` without unprintable characters, at most 128 bytes
/// (apiserver `managerOrUserAgent`). An empty result is recorded as `unknown`.
pub fn manager_name(field_manager: Option<&str>, user_agent: Option<&str>) -> String {
    if let Some(m) = field_manager.filter(|m| !m.is_empty()) {
        return m.to_owned();
    }
    let prefix = user_agent.unwrap_or("").split('/').next().unwrap_or("");
    let mut out = String::new();
    for c in prefix.chars() {
        let printable = c == ' ' || !(c.is_control() || c.is_whitespace());
        if !printable {
            continue;
        }
        if out.len() + c.len_utf8() > MAX_MANAGER_LENGTH {
            break;
        }
        out.push(c);
    }
    out
}

/// Fields no manager ever owns (apimachinery `stripmeta.go`).
fn stripped() -> &'static FieldSet {
    static SET: OnceLock<FieldSet> = OnceLock::new();
    SET.get_or_init(|| {
        let mut paths = vec![
            Path::fields(["apiVersion"]),
            Path::fields(["kind"]),
            Path::fields(["metadata"]),
        ];
        for name in [
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        ] {
            paths.push(Path::fields(["metadata", name]));
        }
        FieldSet::from_paths(&paths)
    })
}

fn strip_meta(fields: &mut Managers, manager: &str) {
    if let Some(m) = fields.get_mut(manager) {
        m.fields = m.fields.difference(stripped());
        if m.fields.is_empty() {
            fields.remove(manager);
        }
    }
}

/// `namespace/name; group/version, Kind=Kind`, how apiserver errors name an object.
fn describe(obj: &Value) -> String {
    let text = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
    let api_version = text("/apiVersion");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    format!(
        "{}/{}; {group}/{version}, Kind={}",
        text("/metadata/namespace"),
        text("/metadata/name"),
        text("/kind")
    )
}

/// `metadata.managedFields` (`Value::pointer` would allocate for each token).
fn managed_fields_of(obj: &Value) -> Option<&Value> {
    obj.get("metadata")?.get("managedFields")
}

/// The object without `metadata.managedFields`, copied without copying them (they can
/// be as large as the object).
fn without_managed_fields(obj: &Value) -> Value {
    let Value::Object(root) = obj else {
        return obj.clone();
    };
    let mut out = Map::with_capacity(root.len());
    for (k, v) in root {
        let v = match (k.as_str(), v) {
            ("metadata", Value::Object(meta)) => Value::Object(
                meta.iter()
                    .filter(|(mk, _)| *mk != "managedFields")
                    .map(|(mk, mv)| (mk.clone(), mv.clone()))
                    .collect(),
            ),
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    Value::Object(out)
}

fn remove_managed_fields(obj: &mut Value) {
    if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
        meta.remove("managedFields");
    }
}

/// Writes `managed` into `obj`. `unchanged_from` is the live object when the managers
/// and times are exactly those it was decoded from: its list is then copied rather
/// than encoded again.
fn store_managed_fields(obj: &mut Value, managed: &Managed, unchanged_from: Option<&Value>) {
    let Value::Object(root) = obj else { return };
    let encoded = match unchanged_from.map(|l| managed_fields_of(l)) {
        Some(list) => list.cloned(),
        None => managed::encode(managed),
    };
    match encoded {
        Some(list) => {
            let meta = root
                .entry("metadata")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(meta) = meta {
                meta.insert("managedFields".into(), list);
            }
        }
        None => {
            if let Some(Value::Object(meta)) = root.get_mut("metadata") {
                meta.remove("managedFields");
            }
        }
    }
}

/// The empty object of the kind of `obj`: what the apiserver compares a create with.
fn empty_like<N>(res: &Resource<'_, N>, obj: &Value) -> Value {
    if let Some(empty) = res.empty {
        return empty.clone();
    }
    let mut m = Map::new();
    for key in ["apiVersion", "kind"] {
        if let Some(v) = obj.get(key) {
            m.insert(key.into(), v.clone());
        }
    }
    Value::Object(m)
}

fn updater<N>(res: &Resource<'_, N>) -> Updater {
    Updater::new().ignore_everywhere(res.reset_fields.clone())
}

/// Gives the values of the reset fields back their live state (removed when the live
/// object has none). Only paths of field names are restored.
fn restore(target: &mut Value, source: Option<&Value>, set: &FieldSet) {
    let Value::Object(t) = target else { return };
    let source = source.and_then(Value::as_object);
    for pe in set.members() {
        if let PathElement::Field(name) = pe {
            match source.and_then(|s| s.get(&**name)) {
                Some(v) => {
                    t.insert(name.to_string(), v.clone());
                }
                None => {
                    t.remove(&**name);
                }
            }
        }
    }
    for (pe, below) in set.children() {
        let PathElement::Field(name) = pe else {
            continue;
        };
        if set.has_member(pe) {
            continue;
        }
        let name: &str = name;
        let src = source.and_then(|s| s.get(name));
        if !t.get(name).is_some_and(Value::is_object) {
            if src.is_none_or(|s| !s.is_object()) {
                continue;
            }
            t.insert(name.to_owned(), Value::Object(Map::new()));
        }
        if let Some(child) = t.get_mut(name) {
            restore(child, src, below);
        }
    }
}

/// Records an update by `manager` (apimachinery `capManagers` → `buildManagerInfo` →
/// `managedFieldsUpdater` → `stripMeta` → smd `Update`).
fn record_update<N: TypeNode>(
    res: &Resource<'_, N>,
    managed: &mut Managed,
    old: &Value,
    new: &Value,
    manager: &str,
    now: &str,
) {
    let id = ManagerId::new(manager, Operation::Update, res.api_version, res.subresource).key();
    let mut fields = updater(res).update(
        res.schema,
        old,
        new,
        res.api_version,
        &managed.fields,
        CURRENT_OPERATION,
    );
    strip_meta(&mut fields, CURRENT_OPERATION);
    // Only a write that took some field counts: its fields join what the manager
    // already had, and its time becomes the entry's.
    if let Some(taken) = fields.remove(CURRENT_OPERATION) {
        let merged = match fields.get(&id) {
            Some(previous) => ManagedSet {
                fields: taken.fields.union(&previous.fields),
                ..taken
            },
            None => taken,
        };
        fields.insert(id.clone(), merged);
        managed.times.insert(id, now.to_owned());
    }
    managed.fields = fields;
    cap_update_managers(managed, MAX_UPDATE_MANAGERS);
}

/// Merges the oldest update managers into one `ancient-changes` bucket per API version
/// until at most `max` update managers are left (apimachinery `capManagers.go`).
fn cap_update_managers(managed: &mut Managed, max: usize) {
    let mut updaters: Vec<String> = managed
        .fields
        .iter()
        .filter(|(_, m)| !m.applied)
        .map(|(k, _)| k.clone())
        .collect();
    if updaters.len() <= max {
        return;
    }
    let seconds = |k: &String| managed.times.get(k).map_or(0, |t| unix_seconds(t));
    updaters.sort_by(|a, b| seconds(a).cmp(&seconds(b)).then_with(|| a.cmp(b)));
    let mut first_of_version: std::collections::BTreeMap<String, String> = Default::default();
    let mut length = updaters.len();
    for id in updaters {
        if length <= max {
            break;
        }
        let Some(set) = managed.fields.get(&id).cloned() else {
            continue;
        };
        let time = managed.times.get(&id).cloned();
        let version = set.api_version.clone();
        let bucket = ManagerId::new(ANCIENT_CHANGES, Operation::Update, &version, "").key();
        match first_of_version.get(&version) {
            Some(first) => {
                if !managed.fields.contains_key(&bucket)
                    && let Some(s) = managed.fields.remove(first)
                {
                    managed.fields.insert(bucket.clone(), s);
                }
                let existing = managed
                    .fields
                    .get(&bucket)
                    .map(|b| b.fields.clone())
                    .unwrap_or_default();
                managed.fields.insert(
                    bucket.clone(),
                    ManagedSet {
                        fields: set.fields.union(&existing),
                        ..set
                    },
                );
                managed.fields.remove(&id);
                length -= 1;
                // The bucket takes the time of the update merged last, the newest.
                match time {
                    Some(t) => managed.times.insert(bucket, t),
                    None => managed.times.remove(&bucket),
                };
            }
            None => {
                first_of_version.insert(version, id);
            }
        }
    }
}

/// Server-side apply: `PATCH` with `application/apply-patch+yaml`, by `manager`, on
/// `live` (`None` creates the object). `now` is the RFC 3339 time recorded for the
/// change.
///
/// The caller checks that the patch's `apiVersion` and `kind` match the resource and
/// fills in what a create needs (uid, creationTimestamp, …) afterwards; those fields
/// are never owned anyway.
pub fn apply<N: TypeNode>(
    res: &Resource<'_, N>,
    live: Option<&Value>,
    patch: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<ApplyResult, Error> {
    if manager.is_empty() {
        return Err(Error::ManagerRequired);
    }
    if !patch.is_object() {
        return Err(Error::PatchNotAnObject(patch.to_string()));
    }
    if patch
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .is_some_and(Value::is_array)
    {
        return Err(Error::ManagedFieldsInPatch);
    }
    let (live_obj, mut managed) = match live {
        Some(l) => {
            let managed = match managed_fields_of(l) {
                Some(list) => managed::decode(list).map_err(Error::DecodeManagedFields)?,
                None => Managed::default(),
            };
            (without_managed_fields(l), managed)
        }
        None => (empty_like(res, patch), Managed::default()),
    };
    let original = managed.clone();

    // Fields set before anyone applied belong to `before-first-apply`, so that the
    // first applier conflicts with them instead of silently taking them.
    if managed.fields.is_empty() {
        record_update(
            res,
            &mut managed,
            &empty_like(res, &live_obj),
            &live_obj,
            BEFORE_FIRST_APPLY,
            now,
        );
    }

    let id = ManagerId::new(manager, Operation::Apply, res.api_version, res.subresource).key();
    let updater = updater(res);
    let run = |force| {
        updater.apply(
            res.schema,
            &live_obj,
            patch,
            res.api_version,
            &managed.fields,
            &id,
            force,
        )
    };
    let invalid = |errors| Error::InvalidPatch {
        object: describe(patch),
        errors,
    };
    let applied = match run(force) {
        Ok(a) => a,
        Err(ApplyError::Invalid(errors)) => return Err(invalid(errors)),
        Err(ApplyError::Conflicts(conflicts)) if manager == KUBECTL => {
            // Upgrading from client-side apply: conflicts on fields the last-applied
            // annotation still describes are kubectl's own and are waived.
            let Some(allowed) =
                lastapplied::allowed_conflicts(res.schema, res.api_version, &live_obj)
            else {
                return Err(Error::Conflict(conflicts));
            };
            let remaining: Vec<Conflict> = conflicts
                .0
                .into_iter()
                .filter(|c| !allowed.has(c.path.elements()))
                .collect();
            if !remaining.is_empty() {
                return Err(Error::Conflict(Conflicts(remaining)));
            }
            run(true).map_err(|e| match e {
                ApplyError::Invalid(errors) => invalid(errors),
                ApplyError::Conflicts(c) => Error::Conflict(c),
            })?
        }
        Err(ApplyError::Conflicts(conflicts)) => return Err(Error::Conflict(conflicts)),
    };

    managed.fields = applied.managers;
    strip_meta(&mut managed.fields, &id);
    let (mut object, mut changed) = match applied.object {
        Some(o) => {
            managed.times.insert(id, now.to_owned());
            (o, true)
        }
        None => (live_obj, false),
    };
    if manager == KUBECTL && lastapplied::has_last_applied(&object) {
        let before = object.clone();
        lastapplied::update(&mut object, patch);
        changed |= object != before;
    }
    if !res.reset_fields.is_empty() && changed {
        // Only a changed object can have changed reset fields.
        let base = live.map(without_managed_fields);
        restore(&mut object, base.as_ref(), res.reset_fields);
        if let Some(b) = &base {
            changed = !values_equal(&object, b);
        }
    }
    changed |= live.is_none();
    store_managed_fields(&mut object, &managed, live.filter(|_| managed == original));
    Ok(ApplyResult { object, changed })
}

/// Field management for every write that is not an apply (create, update, patch):
/// `new` is the object about to be stored, `live` the stored one (`None` for a
/// create). Returns `new` with `metadata.managedFields` updated.
///
/// `manager` comes from [`manager_name`]. The writer takes the fields it changed or
/// added; a write that changes nothing records nothing. `managedFields` sent in `new`
/// replace the live ones (`[]` or `[{}]` clears them; a subresource write cannot
/// touch them), and an existing object without managed fields stays untracked until
/// its first apply. Both objects are trusted as they are (duplicate list items are
/// fine), so this cannot fail: the apiserver too never fails a write over field
/// management (`UpdateNoErrors`).
pub fn update<N: TypeNode>(
    res: &Resource<'_, N>,
    live: Option<&Value>,
    new: Value,
    manager: &str,
    now: &str,
) -> Value {
    let mut new = new;
    // Unreadable managed fields are dropped rather than failing the write.
    let live_managed = || {
        live.and_then(|l| managed_fields_of(l))
            .and_then(|list| managed::decode(list).ok())
            .map(|m| (m, true))
            .unwrap_or_default()
    };
    let (mut managed, from_live) = if !res.subresource.is_empty() {
        live_managed()
    } else {
        match managed_fields_of(&new) {
            Some(list) if managed::is_reset(list) => (Managed::default(), false),
            Some(list) => match managed::decode(list) {
                Ok(m) if !m.fields.is_empty() => (m, false),
                _ => live_managed(),
            },
            None => live_managed(),
        }
    };
    remove_managed_fields(&mut new);
    let old = match live {
        Some(l) => without_managed_fields(l),
        None => empty_like(res, &new),
    };
    if !res.reset_fields.is_empty() {
        restore(&mut new, live.map(|_| &old), res.reset_fields);
    }
    if managed.fields.is_empty() && live.is_some() {
        // No managed fields on an existing object: not tracked until the next apply.
        return new;
    }
    let original = from_live.then(|| managed.clone());
    record_update(res, &mut managed, &old, &new, manager, now);
    let unchanged = original.is_some_and(|o| o == managed);
    store_managed_fields(&mut new, &managed, live.filter(|_| unchanged));
    new
}
