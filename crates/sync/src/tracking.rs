//! Which app an object belongs to, as Argo CD records it (`util/argo/resource_tracking.go`):
//! by `application.resourceTrackingMethod` the annotation
//! `argocd.argoproj.io/tracking-id: <app>:<group>/<kind>:<namespace>/<name>`, the label
//! `application.instanceLabelKey`, or both, with `installationID` stamped beside the
//! annotation. Every applied object also carries Flotilla's own instance label, which no
//! chart sets, so that watches and lists select the hub's objects server-side.

use flotilla_core::pointer::Pointer as _;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Argo CD's tracking annotation, `<app>:<group>/<kind>:<namespace>/<name>`.
pub const TRACKING_ANNOTATION: &str = "argocd.argoproj.io/tracking-id";

/// Argo CD's installation annotation: with `installationID` set, an object is tracked
/// only when it carries the same value.
pub const INSTALLATION_ID_ANNOTATION: &str = "argocd.argoproj.io/installation-id";

/// `application.instanceLabelKey`'s default.
pub const DEFAULT_INSTANCE_LABEL_KEY: &str = "app.kubernetes.io/instance";

/// Flotilla's selector label holding [`AppId::label_value`], on every applied object
/// whatever the tracking method, for label-selected lists and watches.
pub const INSTANCE_LABEL: &str = "app.flotilla.dev/instance";

/// `application.resourceTrackingMethod`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum TrackingMethod {
    /// The tracking annotation only (Argo CD 3's default).
    #[default]
    Annotation,
    /// The annotation, and the instance label truncated to 63 characters.
    AnnotationAndLabel,
    /// The instance label only: whatever carries it is the app's.
    Label,
}

impl TrackingMethod {
    /// The method `argocd-cm` names: `label`, `annotation+label`, and anything else (an
    /// unknown value included, as Argo CD's default branch takes it) the annotation.
    pub fn from_setting(value: &str) -> TrackingMethod {
        match value {
            "label" => TrackingMethod::Label,
            "annotation+label" => TrackingMethod::AnnotationAndLabel,
            _ => TrackingMethod::Annotation,
        }
    }
}

/// How objects name the app that owns them: Argo CD's tracking settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tracking {
    /// `application.resourceTrackingMethod`.
    pub method: TrackingMethod,
    /// `application.instanceLabelKey`.
    pub label_key: String,
    /// `installationID`, empty when unset.
    pub installation_id: String,
}

impl Default for Tracking {
    fn default() -> Self {
        Tracking {
            method: TrackingMethod::Annotation,
            label_key: DEFAULT_INSTANCE_LABEL_KEY.to_string(),
            installation_id: String::new(),
        }
    }
}

impl Tracking {
    /// The settings as `argocd-cm` gives them (`None` or empty: the default).
    pub fn from_settings(
        method: Option<&str>,
        label_key: Option<&str>,
        installation_id: Option<&str>,
    ) -> Tracking {
        Tracking {
            method: TrackingMethod::from_setting(method.unwrap_or("")),
            label_key: label_key
                .filter(|k| !k.is_empty())
                .unwrap_or(DEFAULT_INSTANCE_LABEL_KEY)
                .to_string(),
            installation_id: installation_id.unwrap_or("").to_string(),
        }
    }

    /// The tracking id the live `obj` carries, if it counts under these settings (Argo
    /// CD's `getAppInstanceValue`): none with another installation's id, or unparsable.
    pub fn tracking_id_of(&self, obj: &Value) -> Option<TrackingId> {
        let annotations = obj.at("/metadata/annotations");
        let annotation = |key: &str| annotations.and_then(|a| a.get(key)).and_then(Value::as_str);
        if !self.installation_id.is_empty()
            && annotation(INSTALLATION_ID_ANNOTATION) != Some(self.installation_id.as_str())
        {
            return None;
        }
        TrackingId::parse(annotation(TRACKING_ANNOTATION)?)
    }

    /// The app instance the live `obj` names (Argo CD's `GetAppName`): its instance label
    /// under label tracking, else its tracking id's app; `None` when it names none.
    pub fn app_of(&self, obj: &Value) -> Option<String> {
        let instance = match self.method {
            TrackingMethod::Label => obj
                .at("/metadata/labels")
                .and_then(|l| l.get(&self.label_key))
                .and_then(Value::as_str)?
                .to_string(),
            _ => self.tracking_id_of(obj)?.app,
        };
        (!instance.is_empty()).then_some(instance)
    }
}

/// A parsed tracking annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingId {
    /// The app instance ([`AppId::instance`]).
    pub app: String,
    /// The object it names.
    pub key: ObjectKey,
}

impl TrackingId {
    /// Reads `<app>:<group>/<kind>:<namespace>/<name>` as Argo CD's
    /// `ParseAppInstanceValue`: split at the first two `:`, each later part into exactly
    /// two at `/`.
    pub fn parse(value: &str) -> Option<TrackingId> {
        let mut parts = value.splitn(3, ':');
        let app = parts.next()?;
        let (gk, nn) = (parts.next()?, parts.next()?);
        fn two(s: &str) -> Option<(&str, &str)> {
            let (a, b) = s.split_once('/')?;
            (!b.contains('/')).then_some((a, b))
        }
        let (group, kind) = two(gk)?;
        let (namespace, name) = two(nn)?;
        Some(TrackingId {
            app: app.to_string(),
            key: ObjectKey {
                group: group.to_string(),
                kind: kind.to_string(),
                namespace: namespace.to_string(),
                name: name.to_string(),
            },
        })
    }

    /// Whether the id names `obj` itself (Argo CD's `isSelfReferencedObj`): a copy under
    /// another name or kind carries its original's id and is not tracked by it. A
    /// cluster-scoped object's id holds the app's destination namespace.
    pub fn names(&self, obj: &Value) -> bool {
        let key = ObjectKey::of(obj);
        (key.namespace == self.key.namespace || key.namespace.is_empty())
            && key.name == self.key.name
            && key.group == self.key.group
            && key.kind == self.key.kind
    }
}

/// The app that owns a set of objects: the name and namespace of the app object
/// (Application or Kustomization) on the hub, the instance its objects' tracking names,
/// and how they name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct AppId {
    /// Namespace of the app object.
    pub namespace: String,
    /// Name of the app object.
    pub name: String,
    /// What tracking calls it.
    #[serde(skip)]
    instance: String,
    /// How its objects are tracked.
    #[serde(skip)]
    pub tracking: Tracking,
}

impl AppId {
    /// An app identity whose instance is `<namespace>_<name>`, tracked by annotation.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> AppId {
        let (namespace, name) = (namespace.into(), name.into());
        AppId {
            instance: format!("{namespace}_{name}"),
            namespace,
            name,
            tracking: Tracking::default(),
        }
    }

    /// An Argo CD Application: its instance is Argo CD's `InstanceName`, the name alone in
    /// the control plane's namespace, `<namespace>_<name>` elsewhere.
    pub fn argo(
        namespace: impl Into<String>,
        name: impl Into<String>,
        control_plane: &str,
        tracking: Tracking,
    ) -> AppId {
        let (namespace, name) = (namespace.into(), name.into());
        let instance = if namespace.is_empty() || namespace == control_plane {
            name.clone()
        } else {
            format!("{namespace}_{name}")
        };
        AppId {
            namespace,
            name,
            instance,
            tracking,
        }
    }

    /// The instance the objects' tracking names.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Flotilla's selector label value: [`AppId::instance`] when it is a valid label value
    /// (≤ 63 characters), else a 52-character prefix and a hash, so that it stays unique.
    pub fn label_value(&self) -> String {
        let instance = self.instance();
        if instance.len() <= 63 {
            return instance.to_string();
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
        let s = |p: &str| obj.at(p).and_then(Value::as_str).unwrap_or("").to_string();
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

/// The tracking annotation value for `key` owned by `app` (Argo CD's
/// `BuildAppInstanceValue`); a cluster-scoped key takes `default_namespace`, the app's
/// destination namespace.
pub fn tracking_id(app: &AppId, key: &ObjectKey, default_namespace: &str) -> String {
    let namespace = match key.namespace.as_str() {
        "" => default_namespace,
        ns => ns,
    };
    format!(
        "{}:{}/{}:{}/{}",
        app.instance(),
        key.group,
        key.kind,
        namespace,
        key.name
    )
}

/// Argo CD's `TruncateLabel`: at most 63 characters, ending in a letter or digit.
fn truncate_label(value: &str) -> &str {
    if value.len() <= 63 {
        return value;
    }
    let mut end = 63;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end].trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
}

/// Marks `obj` as `app`'s (Argo CD's `SetAppInstance`), a cluster-scoped object's
/// tracking id naming `default_namespace`, and puts Flotilla's selector label on it.
pub fn stamp(obj: &mut Value, app: &AppId, default_namespace: &str) {
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
    let tracking = &app.tracking;
    if tracking.method != TrackingMethod::Label {
        let annotations = map_at(meta, "annotations");
        if tracking.installation_id.is_empty() {
            annotations.remove(INSTALLATION_ID_ANNOTATION);
        } else {
            annotations.insert(
                INSTALLATION_ID_ANNOTATION.into(),
                Value::String(tracking.installation_id.clone()),
            );
        }
        annotations.insert(
            TRACKING_ANNOTATION.into(),
            Value::String(tracking_id(app, &key, default_namespace)),
        );
    }
    let labels = map_at(meta, "labels");
    match tracking.method {
        // As Argo CD: the whole instance, which the server refuses beyond 63 characters.
        TrackingMethod::Label => {
            labels.insert(
                tracking.label_key.clone(),
                Value::String(app.instance().to_string()),
            );
        }
        TrackingMethod::AnnotationAndLabel => {
            labels.insert(
                tracking.label_key.clone(),
                Value::String(truncate_label(app.instance()).to_string()),
            );
        }
        TrackingMethod::Annotation => {}
    }
    labels.insert(INSTANCE_LABEL.into(), Value::String(app.label_value()));
}

/// The mapping at `field` of `meta`, made one when missing or not a mapping.
fn map_at<'a>(meta: &'a mut Map<String, Value>, field: &str) -> &'a mut Map<String, Value> {
    let map = meta
        .entry(field)
        .or_insert_with(|| Value::Object(Map::new()));
    if !map.is_object() {
        *map = Value::Object(Map::new());
    }
    map.as_object_mut().expect("made a mapping above")
}

/// Whether the live object `obj` is tracked by `app`: under label tracking its label
/// names the app; otherwise its tracking id (of this installation) names this app *and*
/// this very object (a copy of a tracked object, e.g. by a controller, is not).
pub fn is_tracked_by(obj: &Value, app: &AppId) -> bool {
    match app.tracking.method {
        TrackingMethod::Label => app.tracking.app_of(obj).as_deref() == Some(app.instance()),
        _ => app
            .tracking
            .tracking_id_of(obj)
            .is_some_and(|id| id.app == app.instance() && id.names(obj)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn argo(namespace: &str, name: &str, tracking: Tracking) -> AppId {
        AppId::argo(namespace, name, "argocd", tracking)
    }

    /// The values of Argo CD's `resource_tracking_test.go` and `InstanceName`.
    #[test]
    fn tracking_ids_are_argo_cds() {
        let app = argo("argocd", "guestbook", Tracking::default());
        assert_eq!(app.instance(), "guestbook");
        assert_eq!(
            argo("team-a", "web", Tracking::default()).instance(),
            "team-a_web"
        );
        assert_eq!(argo("", "web", Tracking::default()).instance(), "web");
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "prod"}});
        let key = ObjectKey::of(&obj);
        let id = tracking_id(&app, &key, "dest");
        assert_eq!(id, "guestbook:apps/Deployment:prod/web");
        assert_eq!(
            TrackingId::parse(&id),
            Some(TrackingId {
                app: "guestbook".into(),
                key
            })
        );
        // Cluster-scoped objects carry the destination namespace; the core group is empty.
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}});
        assert_eq!(
            tracking_id(&app, &ObjectKey::of(&ns), "dest"),
            "guestbook:/Namespace:dest/prod"
        );
        // Split at the first two colons; each part into exactly two at a slash.
        let parsed = TrackingId::parse("app:/ConfigMap:ns/a:b").unwrap();
        assert_eq!(parsed.key.name, "a:b");
        assert!(TrackingId::parse("app:apps/v1/Deployment:ns/web").is_none());
        assert!(TrackingId::parse("app:apps/Deployment:ns/web/x").is_none());
        assert!(TrackingId::parse("app:apps/Deployment").is_none());
        assert!(TrackingId::parse("nope").is_none());
    }

    #[test]
    fn annotation_tracking_stamps_the_id_and_the_selector_label_only() {
        let app = argo("argocd", "web", Tracking::default());
        let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "x",
                         "labels": {"app.kubernetes.io/instance": "chart-release"},
                         "annotations": {INSTALLATION_ID_ANNOTATION: "stale"}}});
        assert!(!is_tracked_by(&obj, &app));
        stamp(&mut obj, &app, "x");
        assert!(is_tracked_by(&obj, &app));
        assert_eq!(
            obj["metadata"]["annotations"],
            json!({TRACKING_ANNOTATION: "web:/ConfigMap:x/a"})
        );
        // The chart's own instance label is left alone.
        assert_eq!(
            obj["metadata"]["labels"],
            json!({"app.kubernetes.io/instance": "chart-release", INSTANCE_LABEL: "web"})
        );
        assert!(!is_tracked_by(
            &obj,
            &argo("argocd", "other", Tracking::default())
        ));
        // A copy under another name carries the original's id: not ours to prune.
        let mut copy = obj.clone();
        copy["metadata"]["name"] = json!("b");
        assert!(!is_tracked_by(&copy, &app));
        // A cluster-scoped object matches its id whatever namespace the id holds.
        let mut role = json!({"apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole", "metadata": {"name": "reader"}});
        stamp(&mut role, &app, "x");
        assert_eq!(
            role["metadata"]["annotations"][TRACKING_ANNOTATION],
            "web:rbac.authorization.k8s.io/ClusterRole:x/reader"
        );
        assert!(is_tracked_by(&role, &app));
    }

    #[test]
    fn an_installation_id_is_stamped_and_required() {
        let ours = Tracking::from_settings(None, None, Some("hub-1"));
        let app = argo("argocd", "web", ours.clone());
        let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "x"}});
        stamp(&mut obj, &app, "x");
        assert_eq!(
            obj["metadata"]["annotations"][INSTALLATION_ID_ANNOTATION],
            "hub-1"
        );
        assert!(is_tracked_by(&obj, &app));
        assert_eq!(ours.app_of(&obj).as_deref(), Some("web"));
        // Another installation's object, or one without an id, is not this one's.
        let theirs = argo(
            "argocd",
            "web",
            Tracking::from_settings(None, None, Some("hub-2")),
        );
        assert!(!is_tracked_by(&obj, &theirs));
        assert_eq!(theirs.tracking.app_of(&obj), None);
        let mut plain = obj.clone();
        plain["metadata"]["annotations"]
            .as_object_mut()
            .unwrap()
            .remove(INSTALLATION_ID_ANNOTATION);
        assert!(!is_tracked_by(&plain, &app));
        // Without an installation id, any id is read and a stale one removed.
        assert!(is_tracked_by(
            &obj,
            &argo("argocd", "web", Tracking::default())
        ));
        stamp(&mut obj, &argo("argocd", "web", Tracking::default()), "x");
        assert!(
            obj["metadata"]["annotations"]
                .get(INSTALLATION_ID_ANNOTATION)
                .is_none()
        );
    }

    #[test]
    fn label_tracking_uses_the_instance_label_key() {
        let tracking = Tracking::from_settings(Some("label"), Some("example.com/app"), None);
        let app = argo("team-a", "web", tracking.clone());
        let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "x"}});
        stamp(&mut obj, &app, "x");
        assert!(obj["metadata"].get("annotations").is_none());
        assert_eq!(obj["metadata"]["labels"]["example.com/app"], "team-a_web");
        assert!(is_tracked_by(&obj, &app));
        assert_eq!(tracking.app_of(&obj).as_deref(), Some("team-a_web"));
        // The label is all there is: a renamed copy is tracked too, as in Argo CD.
        let mut copy = obj.clone();
        copy["metadata"]["name"] = json!("b");
        assert!(is_tracked_by(&copy, &app));
        // Under annotation tracking the label alone tracks nothing.
        assert!(!is_tracked_by(
            &obj,
            &argo("team-a", "web", Tracking::default())
        ));
    }

    #[test]
    fn annotation_and_label_truncates_the_label_as_argo_cd() {
        let tracking = Tracking::from_settings(Some("annotation+label"), None, None);
        let name = format!("{}-{}", "a".repeat(62), "b".repeat(10));
        let app = argo("argocd", &name, tracking);
        let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "x"}});
        stamp(&mut obj, &app, "x");
        // 63 characters would end in `-`: that is dropped too.
        assert_eq!(
            obj["metadata"]["labels"][DEFAULT_INSTANCE_LABEL_KEY],
            "a".repeat(62)
        );
        assert_eq!(
            obj["metadata"]["annotations"][TRACKING_ANNOTATION],
            format!("{name}:/ConfigMap:x/a")
        );
        assert!(is_tracked_by(&obj, &app));
        assert_eq!(truncate_label("short-"), "short-");
    }

    #[test]
    fn unknown_methods_read_as_the_annotation() {
        assert_eq!(TrackingMethod::from_setting(""), TrackingMethod::Annotation);
        assert_eq!(
            TrackingMethod::from_setting("Label"),
            TrackingMethod::Annotation
        );
        assert_eq!(TrackingMethod::from_setting("label"), TrackingMethod::Label);
        assert_eq!(
            Tracking::from_settings(None, Some(""), None).label_key,
            DEFAULT_INSTANCE_LABEL_KEY
        );
    }

    #[test]
    fn long_instances_get_a_hashed_label_value() {
        let app = AppId::new("team-a", "x".repeat(80));
        let v = app.label_value();
        assert!(v.len() <= 63, "{v}");
        assert_ne!(v, AppId::new("team-a", "x".repeat(81)).label_value());
    }
}
