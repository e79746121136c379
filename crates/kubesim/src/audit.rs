//! The audit log: one JSON line per API request, so tests can prove who did what.

use std::io::Write;
use std::path::Path;

use parking_lot::Mutex;
use serde::Serialize;

/// One request, as the log records it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// RFC 3339 time the request finished.
    pub time: String,
    /// Cluster name.
    pub cluster: String,
    /// The authenticated user.
    pub user: String,
    /// The authenticated user's groups.
    pub groups: Vec<String>,
    /// The impersonated user, when the request impersonated one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impersonated_user: Option<String>,
    /// The impersonated groups.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub impersonated_groups: Vec<String>,
    /// Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: String,
    /// API group ("" for core).
    pub group: String,
    /// Resource (plural).
    pub resource: String,
    /// Subresource, if any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subresource: String,
    /// Namespace, if any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Object name, if any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// HTTP status code of the response.
    pub code: u16,
    /// Whether the request was a dry run (`dryRun=All`): it changed nothing.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// Where audit lines go.
pub struct AuditLog {
    out: Mutex<std::fs::File>,
}

impl AuditLog {
    /// Append to `path` (created if missing).
    pub fn open(path: &Path) -> std::io::Result<AuditLog> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(AuditLog {
            out: Mutex::new(file),
        })
    }

    /// Write one entry as a line; a failing disk must not fail the request.
    pub fn record(&self, entry: &Entry) {
        if let Ok(mut line) = serde_json::to_vec(entry) {
            line.push(b'\n');
            let _ = self.out.lock().write_all(&line);
        }
    }
}

/// The Kubernetes verb of a request.
pub fn verb(method: &str, has_name: bool, watch: bool) -> &'static str {
    match (method, has_name, watch) {
        (_, _, true) => "watch",
        ("GET" | "HEAD", true, _) => "get",
        ("GET" | "HEAD", false, _) => "list",
        ("POST", _, _) => "create",
        ("PUT", _, _) => "update",
        ("PATCH", _, _) => "patch",
        ("DELETE", true, _) => "delete",
        ("DELETE", false, _) => "deletecollection",
        _ => "unknown",
    }
}
