//! Health of live objects: Argo CD's built-in checks ([`argocd`]), kstatus ([`kstatus`])
//! for every kind Argo CD has no built-in check for, and the app's health as the worst of
//! its objects.

pub mod argocd;
pub mod kstatus;

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
}

impl Health {
    pub(crate) fn new(status: HealthStatus, message: impl Into<String>) -> Health {
        Health {
            status,
            message: message.into(),
        }
    }
}

/// The health Flotilla reports for a live object: Argo CD's built-in check where one
/// applies (plus its CronJob rule), kstatus otherwise (Current → Healthy, InProgress and
/// Terminating → Progressing, Failed → Degraded, Unknown → Unknown).
pub fn assess(obj: &Value) -> Health {
    if let Some(h) = argocd::resource_health(obj) {
        return h;
    }
    if let Some(h) = argocd::cronjob_health(obj) {
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
