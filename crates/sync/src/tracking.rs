//! Which app an object belongs to: a tracking annotation with the app and the object's
//! own identity (as Argo CD's `argocd.argoproj.io/tracking-id`), and a label carrying the
//! app instance so watches and lists can select managed objects server-side.

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Annotation `<instance>:<group>/<kind>:<namespace>/<name>` on every applied object.
pub const TRACKING_ANNOTATION: &str = "flotilla.dev/tracking-id";

/// Label holding [`AppId::label_value`], for label-selected lists and watches.
pub const INSTANCE_LABEL: &str = "app.flotilla.dev/instance";

/// The app that owns a set of objects: the name and namespace of the app object
/// (Application or Kustomization) on the hub.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct AppId {
    /// Namespace of the app object.
    pub namespace: String,
    /// Name of the app object.
    pub name: String,
}

impl AppId {
    /// An app identity.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> AppId {
        AppId {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// `<namespace>_<name>`, as Argo CD names apps outside its own namespace.
    pub fn instance(&self) -> String {
        format!("{}_{}", self.namespace, self.name)
    }

    /// The instance label value: [`AppId::instance`] when it is a valid label value
    /// (≤ 63 characters), else a 52-character prefix and a hash, so that it stays unique.
    pub fn label_value(&self) -> String {
        let instance = self.instance();
        if instance.len() <= 63 {
            return instance;
        }
        let digest = Sha256::digest(instance.as_bytes());
        let hash: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
        let mut prefix: String = instance.chars().take(52).collect();
        while prefix.ends_with(['-', '_', '.']) {
            prefix.pop();
        }
        format!("{prefix}-{hash}")
    }

    /// The label selector for this app's objects.
    pub fn selector(&self) -> String {
        format!("{INSTANCE_LABEL}={}", self.label_value())
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The identity of an object regardless of API version (as Argo CD keys resources).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ObjectKey {
    /// API group, `""` for the core group.
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace, `""` for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// The key of an object (`apiVersion`, `kind`, `metadata.namespace`, `metadata.name`).
    pub fn of(obj: &Value) -> ObjectKey {
        let s = |p: &str| {
            obj.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let api_version = s("/apiVersion");
        ObjectKey {
            group: group_of(&api_version).to_string(),
            kind: s("/kind"),
            namespace: s("/metadata/namespace"),
            name: s("/metadata/name"),
        }
    }
}

impl fmt::Display for ObjectKey {
    /// `group/Kind namespace/name`, with the group and namespace left out when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.group.is_empty() {
            write!(f, "{}/", self.group)?;
        }
        write!(f, "{} ", self.kind)?;
        if !self.namespace.is_empty() {
            write!(f, "{}/", self.namespace)?;
        }
        f.write_str(&self.name)
    }
}

/// The group of an `apiVersion` (`""` for `v1`).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

/// The tracking annotation value for `key` owned by `app`.
pub fn tracking_id(app: &AppId, key: &ObjectKey) -> String {
    format!(
        "{}:{}/{}:{}/{}",
        app.instance(),
        key.group,
        key.kind,
        key.namespace,
        key.name
    )
}

/// Parses a tracking annotation into the app instance and the object key it names.
pub fn parse_tracking_id(value: &str) -> Option<(String, ObjectKey)> {
    let (instance, rest) = value.split_once(':')?;
    let (gk, nn) = rest.split_once(':')?;
    let (group, kind) = gk.split_once('/')?;
    let (namespace, name) = nn.split_once('/')?;
    if instance.is_empty() || kind.is_empty() || name.is_empty() {
        return None;
    }
    Some((
        instance.to_string(),
        ObjectKey {
            group: group.to_string(),
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        },
    ))
}

/// Puts the tracking annotation and instance label on `obj`.
pub fn stamp(obj: &mut Value, app: &AppId) {
    let key = ObjectKey::of(obj);
    let Some(meta) = obj
        .as_object_mut()
        .map(|o| {
            o.entry("metadata")
                .or_insert_with(|| Value::Object(Map::new()))
        })
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let mut put = |field: &str, k: &str, v: String| {
        let map = meta
            .entry(field)
            .or_insert_with(|| Value::Object(Map::new()));
        if !map.is_object() {
            *map = Value::Object(Map::new());
        }
        if let Some(m) = map.as_object_mut() {
            m.insert(k.to_string(), Value::String(v));
        }
    };
    put("annotations", TRACKING_ANNOTATION, tracking_id(app, &key));
    put("labels", INSTANCE_LABEL, app.label_value());
}

/// Whether the live object `obj` is tracked by `app`: its tracking annotation names this
/// app *and* this very object (a copy of a tracked object, e.g. by a controller, is not).
pub fn is_tracked_by(obj: &Value, app: &AppId) -> bool {
    let Some(value) = obj
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(TRACKING_ANNOTATION))
        .and_then(Value::as_str)
    else {
        return false;
    };
    match parse_tracking_id(value) {
        Some((instance, key)) => instance == app.instance() && key == ObjectKey::of(obj),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tracking_id_round_trips_and_matches_argo_cd_shape() {
        let app = AppId::new("argocd", "guestbook");
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "prod"}});
        let key = ObjectKey::of(&obj);
        let id = tracking_id(&app, &key);
        assert_eq!(id, "argocd_guestbook:apps/Deployment:prod/web");
        assert_eq!(
            parse_tracking_id(&id),
            Some(("argocd_guestbook".into(), key))
        );
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}});
        assert_eq!(
            tracking_id(&app, &ObjectKey::of(&ns)),
            "argocd_guestbook:/Namespace:/prod"
        );
    }

    #[test]
    fn only_objects_naming_themselves_are_tracked() {
        let app = AppId::new("hub", "web");
        let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "x"}});
        assert!(!is_tracked_by(&obj, &app));
        stamp(&mut obj, &app);
        assert!(is_tracked_by(&obj, &app));
        assert_eq!(obj["metadata"]["labels"][INSTANCE_LABEL], "hub_web");
        assert!(!is_tracked_by(&obj, &AppId::new("hub", "other")));
        // A copy under another name carries the original's annotation: not ours to prune.
        let mut copy = obj.clone();
        copy["metadata"]["name"] = json!("b");
        assert!(!is_tracked_by(&copy, &app));
    }

    #[test]
    fn long_instances_get_a_hashed_label_value() {
        let app = AppId::new("team-a", "x".repeat(80));
        let v = app.label_value();
        assert!(v.len() <= 63, "{v}");
        assert_ne!(v, AppId::new("team-a", "x".repeat(81)).label_value());
        assert!(parse_tracking_id("nope").is_none());
        assert!(parse_tracking_id(":/Kind:ns/name").is_none());
    }
}
