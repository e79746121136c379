//! Health of live objects: the Lua checks of `argocd-cm` ([`lua`]) before the checks
//! Argo CD bundles for custom resources ([`bundled`]), then Argo CD's built-in checks
//! ([`argocd`]), kstatus ([`kstatus`]) for every kind none of them covers, and the app's
//! health as the worst of its objects.

pub mod argocd;
pub mod bundled;
pub mod cel;
pub mod kstatus;
pub mod lua;

use flotilla_core::pointer::Pointer as _;
use std::sync::{Arc, RwLock};

use serde::Serialize;
use serde_json::Value;

/// Argo CD's health codes, declared from most to least healthy (Argo CD's `healthOrder`),
/// so `Ord` says which is worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum HealthStatus {
    /// The object is what it should be.
    Healthy,
    /// Paused or suspended on purpose (a paused Deployment, a suspended CronJob).
    Suspended,
    /// Not healthy yet, but may still become so.
    Progressing,
    /// Absent from the cluster.
    Missing,
    /// Failed, or will not become healthy without help.
    Degraded,
    /// Health could not be assessed.
    Unknown,
}

impl HealthStatus {
    /// Argo CD's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "Healthy",
            HealthStatus::Suspended => "Suspended",
            HealthStatus::Progressing => "Progressing",
            HealthStatus::Missing => "Missing",
            HealthStatus::Degraded => "Degraded",
            HealthStatus::Unknown => "Unknown",
        }
    }
}

impl std::fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A health verdict with its message (possibly empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    /// The code.
    pub status: HealthStatus,
    /// Why, in the upstream check's words.
    pub message: String,
    /// The object asks that its health not count for its app's
    /// (`argocd.argoproj.io/ignore-healthcheck: "true"`): left out of the app's health and
    /// of its entry in `status.resources`, though a sync wave still waits for it.
    #[serde(skip)]
    pub ignored: bool,
}

impl Health {
    pub(crate) fn new(status: HealthStatus, message: impl Into<String>) -> Health {
        Health {
            status,
            message: message.into(),
            ignored: false,
        }
    }
}

/// Argo CD's annotation asking that an object's health not count for its app's.
pub const IGNORE_HEALTHCHECK_ANNOTATION: &str = "argocd.argoproj.io/ignore-healthcheck";

/// The Lua checks in force, process-wide like Argo CD's settings: the sync engine, the
/// drift watches and the hooks all judge health alike.
static HEALTH_SCRIPTS: RwLock<Option<Arc<lua::HealthScripts>>> = RwLock::new(None);

/// Counts the changes of [`HEALTH_SCRIPTS`], so a health kept from before can tell.
static HEALTH_SCRIPTS_GENERATION: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0);

/// Puts `scripts` (read from `argocd-cm`) in force for every [`assess`]; `false` when
/// they are the ones already in force.
pub fn set_health_scripts(scripts: lua::HealthScripts) -> bool {
    let scripts = (!scripts.is_empty()).then(|| Arc::new(scripts));
    let mut current = HEALTH_SCRIPTS.write().unwrap_or_else(|e| e.into_inner());
    if *current == scripts {
        return false;
    }
    *current = scripts;
    HEALTH_SCRIPTS_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    true
}

/// Which [`set_health_scripts`] change is in force: a health assessed under another is
/// out of date.
pub fn health_scripts_generation() -> u64 {
    HEALTH_SCRIPTS_GENERATION.load(std::sync::atomic::Ordering::Relaxed)
}

/// The object's health by its kind's Lua check, if `argocd-cm` has one: a script that
/// fails makes it `Unknown` with the error, one that gives no status counts as healthy
/// (Argo CD shows no health for it and leaves it out of the app's).
fn scripted_health(obj: &Value) -> Option<Health> {
    let scripts = HEALTH_SCRIPTS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()?;
    let (group, _, kind) = group_kind(obj);
    let script = scripts.script_for(group, kind)?;
    Some(match lua::run(obj, script) {
        Ok(Some(health)) => health,
        Ok(None) => Health::new(HealthStatus::Healthy, ""),
        Err(message) => Health::new(HealthStatus::Unknown, message),
    })
}

/// The health Flotilla reports for a live object, in gitops-engine's order: "Pending
/// deletion" for an object being deleted; else an `argocd-cm` Lua check for its kind (the
/// user's override wins), else the check Argo CD bundles for the kind, else Argo CD's
/// built-in check where one applies; kstatus otherwise (Current → Healthy, InProgress and
/// Terminating → Progressing, Failed → Degraded, Unknown → Unknown).
pub fn assess(obj: &Value) -> Health {
    let mut health = assess_object(obj);
    health.ignored = obj
        .at("/metadata/annotations")
        .and_then(|a| a.get(IGNORE_HEALTHCHECK_ANNOTATION))
        .and_then(Value::as_str)
        == Some("true");
    health
}

/// [`assess`] without the annotation.
fn assess_object(obj: &Value) -> Health {
    if !argocd::pending_deletion(obj) {
        if let Some(h) = scripted_health(obj) {
            return h;
        }
        if let Some(h) = bundled::bundled_health(obj) {
            return h;
        }
    }
    if let Some(h) = argocd::resource_health(obj) {
        return h;
    }
    let k = kstatus::compute(obj);
    let status = match k.status {
        kstatus::Status::Current => HealthStatus::Healthy,
        kstatus::Status::InProgress | kstatus::Status::Terminating => HealthStatus::Progressing,
        kstatus::Status::Failed => HealthStatus::Degraded,
        kstatus::Status::NotFound => HealthStatus::Missing,
        kstatus::Status::Unknown => HealthStatus::Unknown,
    };
    Health::new(status, k.message)
}

/// The app's health from its objects': the worst of those that count (Argo CD's
/// `setApplicationHealth`; Healthy when none does).
pub fn app_worst<'a>(healths: impl IntoIterator<Item = &'a Health>) -> HealthStatus {
    worst(
        healths
            .into_iter()
            .filter(|h| !h.ignored)
            .map(|h| &h.status),
    )
}

/// The app's health: the worst status of its objects (Healthy when it has none).
pub fn worst<'a>(statuses: impl IntoIterator<Item = &'a HealthStatus>) -> HealthStatus {
    statuses
        .into_iter()
        .copied()
        .max()
        .unwrap_or(HealthStatus::Healthy)
}

// Field readers that behave like Go's typed conversion: absent or ill-typed reads as the
// zero value.

pub(crate) fn field<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = obj;
    for p in path {
        cur = cur.as_object()?.get(*p)?;
    }
    Some(cur)
}

pub(crate) fn str_at<'a>(obj: &'a Value, path: &[&str]) -> &'a str {
    field(obj, path).and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn int_at(obj: &Value, path: &[&str]) -> Option<i64> {
    field(obj, path).and_then(Value::as_i64)
}

pub(crate) fn conditions(obj: &Value) -> &[Value] {
    field(obj, &["status", "conditions"])
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub(crate) fn group_kind(obj: &Value) -> (&str, &str, &str) {
    let api_version = str_at(obj, &["apiVersion"]);
    let (group, version) = match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    (group, version, str_at(obj, &["kind"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_follows_argo_cd_order() {
        use HealthStatus::*;
        assert_eq!(worst(&[Healthy, Progressing, Suspended]), Progressing);
        assert_eq!(worst(&[Healthy, Missing, Degraded]), Degraded);
        assert_eq!(worst(&[Degraded, Unknown]), Unknown);
        assert_eq!(worst(&[]), Healthy);
    }
}
