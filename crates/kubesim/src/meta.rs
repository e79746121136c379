//! The metadata rules every write goes through, as pure functions: identity,
//! name validation, namespace consistency, status/spec separation, generation,
//! finalizer rules and kind-specific defaults. `cluster` calls these under its
//! lock; nothing here touches the store.

use rand::Rng;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult, Cause};
use crate::resources::{GenerationRule, ResourceType};

/// Which part of an object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The main resource: `.status` is ignored when a status subresource exists.
    Main,
    /// The `/status` subresource: everything but `.status` is ignored.
    Status,
    /// A namespace's `/finalize` subresource: only `spec.finalizers` changes.
    Finalize,
}

/// The finalizer the API server puts on every CRD so its objects are deleted first.
pub const CRD_CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// The time format of every timestamp the API server writes (RFC 3339, seconds).
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A `metadata` string field, or "".
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// JSON Pointer lookups without allocating: `serde_json`'s `Value::pointer` unescapes
/// every token into a new string, and objects are looked into on every write.
pub(crate) trait Lookup {
    /// The value at `pointer` (RFC 6901), as `Value::pointer` finds it.
    fn at(&self, pointer: &str) -> Option<&Value>;
}

impl Lookup for Value {
    fn at(&self, pointer: &str) -> Option<&Value> {
        if pointer.contains('~') {
            return self.pointer(pointer);
        }
        if pointer.is_empty() {
            return Some(self);
        }
        pointer
            .strip_prefix('/')?
            .split('/')
            .try_fold(self, |target, token| match target {
                Value::Object(m) => m.get(token),
                Value::Array(items) => {
                    // As `Value::pointer`: no sign, no leading zeros.
                    if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
                        return None;
                    }
                    token.parse::<usize>().ok().and_then(|i| items.get(i))
                }
                _ => None,
            })
    }
}

/// `metadata.finalizers`, as strings.
pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.at("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the object is being deleted.
pub fn is_deleting(obj: &Value) -> bool {
    obj.at("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["metadata"]
        .as_object_mut()
        .expect("metadata was just made an object")
}

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// RFC 1123 subdomain, as apimachinery's `IsDNS1123Subdomain`, returning its messages.
pub fn dns_subdomain_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    if !s.split('.').all(is_dns_label) {
        errs.push(SUBDOMAIN_MSG.to_string());
    }
    errs
}

/// RFC 1123 label (namespaces).
pub fn dns_label_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !is_dns_label(s) {
        errs.push(LABEL_MSG.to_string());
    }
    errs
}

/// RFC 1035 label (services): must also start with a letter.
pub fn dns1035_label_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !is_dns_label(s) || !s.as_bytes()[0].is_ascii_lowercase() {
        errs.push(DNS1035_MSG.to_string());
    }
    errs
}

/// Path-segment names (RBAC objects): anything but `.`/`..` and `/`/`%`.
pub fn path_segment_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s == "." || s == ".." {
        errs.push(format!("may not be '{s}'"));
    }
    for bad in ['/', '%'] {
        if s.contains(bad) {
            errs.push(format!("may not contain '{bad}'"));
        }
    }
    errs
}

/// The name rule a kind uses (apimachinery's per-kind `ValidateXName`).
pub fn name_errors(rt: &ResourceType, name: &str) -> Vec<String> {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => dns_label_errors(name),
        ("", "Service") => dns1035_label_errors(name),
        ("rbac.authorization.k8s.io", _) => path_segment_errors(name),
        _ => dns_subdomain_errors(name),
    }
}

/// Check the parts of a body that must agree with the URL: apiVersion, kind and namespace.
/// `url_namespace` is `None` for cluster-scoped types.
pub fn check_identity(
    rt: &ResourceType,
    obj: &mut Value,
    url_namespace: Option<&str>,
) -> ApiResult<()> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the object provided is not a JSON object",
        ));
    }
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let expected = rt.api_version();
    if api_version.is_empty() && kind.is_empty() {
        // The real decoder defaults both from the URL for JSON bodies without them.
    } else if kind != rt.kind || api_version != expected {
        if api_version.is_empty() {
            return Err(ApiError::bad_request(
                "Object 'apiVersion' is missing in '…'",
            ));
        }
        if kind.is_empty() {
            return Err(ApiError::bad_request(format!(
                "Object 'Kind' is missing in '{}'",
                compact(obj)
            )));
        }
        if api_version != expected {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({api_version}) does not match the expected API version ({expected})"
            )));
        }
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            rt.kind
        )));
    }
    obj["apiVersion"] = json!(expected);
    obj["kind"] = json!(rt.kind);
    let body_ns = meta_str(obj, "namespace").to_string();
    match url_namespace {
        Some(ns) => {
            if !body_ns.is_empty() && body_ns != ns {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            metadata_mut(obj).insert("namespace".into(), json!(ns));
        }
        None => {
            metadata_mut(obj).remove("namespace");
        }
    }
    Ok(())
}

fn compact(obj: &Value) -> String {
    let s = obj.to_string();
    if s.len() > 200 {
        format!("{}…", &s[..200])
    } else {
        s
    }
}

const GENERATE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Metadata the server owns on create: name from generateName, uid, creationTimestamp,
/// generation; and the name validated. Fields the client may not set are cleared.
pub fn prepare_create(rt: &ResourceType, obj: &mut Value, now: &str) -> ApiResult<()> {
    decode_bytes(rt, obj)?;
    let meta = metadata_mut(obj);
    let name = meta
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let generate = meta
        .get("generateName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = if name.is_empty() && !generate.is_empty() {
        let mut rng = rand::rng();
        let suffix: String = (0..5)
            .map(|_| GENERATE_ALPHABET[rng.random_range(0..GENERATE_ALPHABET.len())] as char)
            .collect();
        // generateName is truncated so that the result still fits 63 characters.
        let base: String = generate.chars().take(63 - 5).collect();
        format!("{base}{suffix}")
    } else {
        name
    };
    if name.is_empty() {
        return Err(ApiError::invalid(
            &rt.group,
            &rt.kind,
            "",
            vec![Cause::required(
                "metadata.name",
                "name or generateName is required",
            )],
        ));
    }
    let errs = name_errors(rt, &name);
    if !errs.is_empty() {
        let causes = errs
            .iter()
            .map(|e| Cause::invalid("metadata.name", &json!(name), e))
            .collect();
        return Err(ApiError::invalid(&rt.group, &rt.kind, &name, causes));
    }
    meta.insert("name".into(), json!(name));
    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    meta.insert("creationTimestamp".into(), json!(now));
    meta.remove("deletionTimestamp");
    meta.remove("deletionGracePeriodSeconds");
    meta.remove("resourceVersion");
    meta.remove("selfLink");
    if rt.generation == GenerationRule::None {
        meta.remove("generation");
    } else {
        meta.insert("generation".into(), json!(1));
    }
    if rt.status_subresource && obj.get("status").is_some() {
        obj.as_object_mut()
            .expect("checked object")
            .remove("status");
    }
    apply_defaults(rt, obj, &name);
    Ok(())
}

/// The defaults a real API server fills in for the kinds clients commonly read back.
fn apply_defaults(rt: &ResourceType, obj: &mut Value, name: &str) {
    let set_default = |obj: &mut Value, pointer: &str, value: Value| {
        if obj.at(pointer).is_none_or(Value::is_null) {
            set_pointer(obj, pointer, value);
        }
    };
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => {
            set_pointer(
                obj,
                "/metadata/labels/kubernetes.io~1metadata.name",
                json!(name),
            );
            set_default(obj, "/spec/finalizers", json!(["kubernetes"]));
            set_pointer(obj, "/status", json!({"phase": "Active"}));
        }
        ("", "Secret") => decode_secret(obj),
        ("", "Service") => {
            set_default(obj, "/spec/type", json!("ClusterIP"));
            set_default(obj, "/spec/sessionAffinity", json!("None"));
            if obj.at("/spec/type").and_then(Value::as_str) != Some("ExternalName") {
                // Allocated from the service CIDR 10.96.0.0/12, stably per namespace/name.
                let ns = meta_str(obj, "namespace").to_string();
                let h = crate::workloads::fnv(&format!("{ns}/{name}"));
                let ip = format!("10.96.{}.{}", (h >> 8) % 256, 1 + h % 254);
                set_default(obj, "/spec/clusterIP", json!(ip));
                let assigned = obj.at("/spec/clusterIP").cloned().unwrap_or(json!(ip));
                set_default(obj, "/spec/clusterIPs", json!([assigned]));
                set_default(obj, "/spec/ipFamilies", json!(["IPv4"]));
                set_default(obj, "/spec/ipFamilyPolicy", json!("SingleStack"));
                set_default(obj, "/spec/internalTrafficPolicy", json!("Cluster"));
            }
            set_pointer(obj, "/status", json!({"loadBalancer": {}}));
            if let Some(ports) = obj.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
                for p in ports {
                    if p.get("protocol").is_none() {
                        p["protocol"] = json!("TCP");
                    }
                    if p.get("targetPort").is_none()
                        && let Some(port) = p.get("port").cloned()
                    {
                        p["targetPort"] = port;
                    }
                }
            }
        }
        ("", "Pod") => set_pointer(
            obj,
            "/status",
            json!({"phase": "Pending", "qosClass": "BestEffort"}),
        ),
        ("", "PersistentVolumeClaim") => set_pointer(obj, "/status", json!({"phase": "Pending"})),
        ("apps", "Deployment") => {
            set_default(obj, "/spec/replicas", json!(1));
            set_default(obj, "/spec/revisionHistoryLimit", json!(10));
            set_default(obj, "/spec/progressDeadlineSeconds", json!(600));
            set_default(
                obj,
                "/spec/strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
            );
        }
        ("apps", "StatefulSet") => {
            set_default(obj, "/spec/replicas", json!(1));
            set_default(obj, "/spec/podManagementPolicy", json!("OrderedReady"));
            set_default(obj, "/spec/revisionHistoryLimit", json!(10));
            set_default(
                obj,
                "/spec/updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            );
        }
        ("apps", "ReplicaSet") => set_default(obj, "/spec/replicas", json!(1)),
        ("apps", "DaemonSet") => {
            set_default(obj, "/spec/revisionHistoryLimit", json!(10));
            set_default(
                obj,
                "/spec/updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
            );
        }
        ("batch", "Job") => {
            set_default(obj, "/spec/parallelism", json!(1));
            set_default(obj, "/spec/completions", json!(1));
            set_default(obj, "/spec/backoffLimit", json!(6));
            set_default(obj, "/spec/completionMode", json!("NonIndexed"));
            set_default(obj, "/spec/suspend", json!(false));
            if obj.at("/spec/manualSelector").and_then(Value::as_bool) != Some(true) {
                generate_job_selector(obj, name);
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            // The server's cleanup finalizer: custom resources go before their definition.
            let mut f = finalizers(obj);
            if !f.iter().any(|x| x == CRD_CLEANUP_FINALIZER) {
                f.push(CRD_CLEANUP_FINALIZER.to_string());
                set_pointer(obj, "/metadata/finalizers", json!(f));
            }
        }
        ("batch", "CronJob") => {
            set_default(obj, "/spec/concurrencyPolicy", json!("Allow"));
            set_default(obj, "/spec/suspend", json!(false));
            set_default(obj, "/spec/successfulJobsHistoryLimit", json!(3));
            set_default(obj, "/spec/failedJobsHistoryLimit", json!(1));
        }
        _ => {}
    }
}

/// What the Job strategy does unless `manualSelector` is set: the pods' template gets the
/// job's name and uid as labels (the `batch.kubernetes.io/` ones and their legacy twins),
/// and the selector matches the uid; labels the manifest sets are kept.
fn generate_job_selector(obj: &mut Value, name: &str) {
    let uid = meta_str(obj, "uid").to_string();
    for (label, value) in [
        ("job-name", name),
        ("batch.kubernetes.io/job-name", name),
        ("controller-uid", uid.as_str()),
        ("batch.kubernetes.io/controller-uid", uid.as_str()),
    ] {
        let pointer = format!(
            "/spec/template/metadata/labels/{}",
            label.replace('/', "~1")
        );
        if obj.at(&pointer).is_none() {
            set_pointer(obj, &pointer, json!(value));
        }
    }
    let pointer = "/spec/selector/matchLabels/batch.kubernetes.io~1controller-uid";
    if obj.at(pointer).is_none() {
        set_pointer(obj, pointer, json!(uid));
    }
}

/// Decoding a Secret's `data` or a ConfigMap's `binaryData` (Go `[]byte`): line breaks
/// in the base64 are skipped and the value is kept canonical; a value that is not
/// base64 fails the request as the server's decoder does.
fn decode_bytes(rt: &ResourceType, obj: &mut Value) -> ApiResult<()> {
    let Some(field) = rt
        .group
        .is_empty()
        .then(|| flotilla_core::byte_fields::core_byte_field(&rt.kind))
        .flatten()
    else {
        return Ok(());
    };
    flotilla_core::byte_fields::canonicalise_field(obj, field)
        .map(|_| ())
        .map_err(|e| {
            ApiError::bad_request(format!(
                "{kind} in version \"v1\" cannot be handled as a {kind}: {e}",
                kind = rt.kind
            ))
        })
}

/// What decoding does to a Secret on every write: an empty or missing type is Opaque
/// (`SetDefaults_Secret`), and stringData is merged into data.
fn decode_secret(obj: &mut Value) {
    if obj
        .get("type")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        obj["type"] = json!("Opaque");
    }
    flotilla_core::secret::merge_string_data(obj);
}

/// Set a JSON pointer, creating intermediate objects.
pub fn set_pointer(obj: &mut Value, pointer: &str, value: Value) {
    let mut cur = obj;
    let parts: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    for (i, part) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let map = cur.as_object_mut().expect("made an object above");
        if i + 1 == parts.len() {
            map.insert(part.clone(), value);
            return;
        }
        cur = map.entry(part.clone()).or_insert_with(|| json!({}));
    }
}

/// Build the object an update stores, from the stored `old` and the client's `new`.
/// Returns `None` when nothing would change (the write is a no-op).
pub fn prepare_update(
    rt: &ResourceType,
    old: &Value,
    mut new: Value,
    part: Part,
) -> ApiResult<Option<Value>> {
    decode_bytes(rt, &mut new)?;
    let name = meta_str(old, "name").to_string();
    let old_rv = meta_str(old, "resourceVersion");
    let new_rv = meta_str(&new, "resourceVersion").to_string();
    if !new_rv.is_empty() && new_rv != old_rv {
        return Err(ApiError::stale(&rt.group, &rt.plural, &name));
    }
    if new_rv.is_empty() && rt.is_custom() && part == Part::Main {
        return Err(ApiError::invalid(
            &rt.group,
            &rt.kind,
            &name,
            vec![Cause::invalid(
                "metadata.resourceVersion",
                &json!("0x0"),
                "must be specified for an update",
            )],
        ));
    }
    let new_name = meta_str(&new, "name");
    if !new_name.is_empty() && new_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({new_name}) does not match the name on the URL ({name})"
        )));
    }
    if part == Part::Finalize {
        let finalizers = new
            .pointer_mut("/spec/finalizers")
            .map(Value::take)
            .unwrap_or(json!([]));
        if old.at("/spec/finalizers") == Some(&finalizers) {
            return Ok(None);
        }
        let mut merged = old.clone();
        set_pointer(&mut merged, "/spec/finalizers", finalizers);
        return Ok((merged != *old).then_some(merged));
    }
    if part == Part::Status {
        // A status write changes status only (and may not touch metadata or spec): compare
        // the status alone, and copy the stored object only when it changes.
        let status = new.get_mut("status").map(Value::take);
        if status.as_ref() == old.get("status") {
            return Ok(None);
        }
        let mut merged = old.clone();
        match status {
            Some(s) => merged["status"] = s,
            None => {
                if let Some(m) = merged.as_object_mut() {
                    m.remove("status");
                }
            }
        }
        return Ok(Some(merged));
    }
    // Server-owned metadata is carried over from the stored object.
    {
        let empty = Map::new();
        let old_meta = old
            .get("metadata")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let meta = metadata_mut(&mut new);
        meta.insert("name".into(), json!(name));
        for field in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match old_meta.get(field) {
                Some(v) => meta.insert(field.into(), v.clone()),
                None => meta.remove(field),
            };
        }
        meta.insert("resourceVersion".into(), json!(old_rv));
        meta.remove("selfLink");
        // managedFields stay as the client sent them: server-side apply's field manager
        // keeps the stored ones when the client sent none, and honours a rewrite.
        if !meta.contains_key("managedFields")
            && let Some(mf) = old_meta.get("managedFields")
        {
            meta.insert("managedFields".into(), mf.clone());
        }
    }
    if is_deleting(old) {
        let before = finalizers(old);
        let added: Vec<String> = finalizers(&new)
            .into_iter()
            .filter(|f| !before.contains(f))
            .collect();
        if !added.is_empty() {
            let list = added
                .iter()
                .map(|f| format!("{f:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ApiError::invalid(
                &rt.group,
                &rt.kind,
                &name,
                vec![Cause::forbidden(
                    "metadata.finalizers",
                    &format!(
                        "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{list}}}"
                    ),
                )],
            ));
        }
    }
    if rt.status_subresource {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
    if rt.kind == "Namespace" && rt.group.is_empty() {
        // spec.finalizers changes only through the finalize subresource.
        if let Some(f) = old.at("/spec/finalizers") {
            set_pointer(&mut new, "/spec/finalizers", f.clone());
        }
        set_pointer(
            &mut new,
            "/metadata/labels/kubernetes.io~1metadata.name",
            json!(name),
        );
    }
    // Decoding does to a Secret on every write what it does on create.
    if rt.group.is_empty() && rt.kind == "Secret" {
        decode_secret(&mut new);
    }
    let immutable = crate::immutable::violations(rt, old, &new);
    if !immutable.is_empty() {
        return Err(ApiError::invalid(&rt.group, &rt.kind, &name, immutable));
    }
    if generation_changed(rt.generation, old, &new) {
        let g = old
            .at("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        metadata_mut(&mut new).insert("generation".into(), json!(g + 1));
    }
    Ok((new != *old).then_some(new))
}

/// Whether a change from `old` to `new` bumps `metadata.generation` under `rule`.
pub fn generation_changed(rule: GenerationRule, old: &Value, new: &Value) -> bool {
    match rule {
        GenerationRule::None => false,
        GenerationRule::Spec => old.get("spec") != new.get("spec"),
        GenerationRule::Field(f) => old.get(f) != new.get(f),
        GenerationRule::AllButMetadataAndStatus => {
            // Compared in place: copying both objects (managedFields and status included)
            // to drop two keys cost more than the comparison.
            let counted = |key: &String| key != "metadata" && key != "status";
            let none = Map::new();
            let old = old.as_object().unwrap_or(&none);
            let new = new.as_object().unwrap_or(&none);
            old.keys().filter(|k| counted(k)).count() != new.keys().filter(|k| counted(k)).count()
                || old
                    .iter()
                    .filter(|(k, _)| counted(k))
                    .any(|(k, v)| new.get(k) != Some(v))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtin_type as rt;

    #[test]
    fn names_follow_the_kind_specific_rule() {
        assert!(name_errors(&rt("ConfigMap"), "a.b-c").is_empty());
        assert_eq!(name_errors(&rt("ConfigMap"), "A"), [SUBDOMAIN_MSG]);
        assert!(
            !name_errors(&rt("Namespace"), "a.b").is_empty(),
            "namespaces are labels"
        );
        assert!(
            !name_errors(&rt("Service"), "1abc").is_empty(),
            "services start with a letter"
        );
        assert!(name_errors(&rt("ClusterRole"), "system:view").is_empty());
        assert_eq!(
            dns_subdomain_errors(&"a".repeat(254))[0],
            "must be no more than 253 characters"
        );
    }

    #[test]
    fn a_job_gets_a_selector_on_its_uid_unless_it_brings_its_own() {
        let mut job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
            "spec": {"template": {"metadata": {"labels": {"app": "db"}}, "spec": {}}}});
        prepare_create(&rt("Job"), &mut job, "t").expect("valid");
        let uid = job["metadata"]["uid"].as_str().expect("a uid").to_string();
        assert_eq!(
            job["spec"]["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
        );
        let labels = &job["spec"]["template"]["metadata"]["labels"];
        for (label, value) in [
            ("app", "db"),
            ("job-name", "migrate"),
            ("batch.kubernetes.io/job-name", "migrate"),
            ("controller-uid", uid.as_str()),
            ("batch.kubernetes.io/controller-uid", uid.as_str()),
        ] {
            assert_eq!(labels[label], value, "{label}");
        }
        let mut manual = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "m"},
            "spec": {"manualSelector": true, "selector": {"matchLabels": {"app": "db"}},
                "template": {"metadata": {"labels": {"app": "db"}}, "spec": {}}}});
        prepare_create(&rt("Job"), &mut manual, "t").expect("valid");
        assert_eq!(
            manual["spec"]["selector"],
            json!({"matchLabels": {"app": "db"}})
        );
        assert_eq!(
            manual["spec"]["template"]["metadata"]["labels"],
            json!({"app": "db"})
        );
    }

    #[test]
    fn create_sets_identity_generation_and_clears_status() {
        let d = rt("Deployment");
        let mut obj = json!({"metadata": {"name": "web", "resourceVersion": "5"}, "spec": {}, "status": {"replicas": 3}});
        prepare_create(&d, &mut obj, "2026-01-01T00:00:00Z").expect("valid");
        assert_eq!(obj["metadata"]["generation"], 1);
        assert!(obj["metadata"]["uid"].is_string());
        assert!(obj["metadata"].get("resourceVersion").is_none());
        assert!(obj.get("status").is_none());
        assert_eq!(obj["spec"]["replicas"], 1);
    }

    #[test]
    fn generate_name_appends_five_characters() {
        let mut obj = json!({"metadata": {"generateName": "job-"}});
        prepare_create(&rt("ConfigMap"), &mut obj, "t").expect("valid");
        let name = obj["metadata"]["name"].as_str().expect("name");
        assert!(name.starts_with("job-") && name.len() == 9, "{name}");
    }

    #[test]
    fn update_bumps_generation_on_spec_change_only() {
        let d = rt("Deployment");
        let old = json!({"metadata": {"name": "web", "generation": 1, "resourceVersion": "7", "uid": "u"}, "spec": {"replicas": 1}, "status": {"replicas": 1}});
        let labels_only =
            json!({"metadata": {"name": "web", "labels": {"a": "b"}}, "spec": {"replicas": 1}});
        let new = prepare_update(&d, &old, labels_only, Part::Main)
            .expect("ok")
            .expect("changed");
        assert_eq!(new["metadata"]["generation"], 1);
        assert_eq!(
            new["status"]["replicas"], 1,
            "main resource keeps the stored status"
        );
        let spec = json!({"metadata": {"name": "web"}, "spec": {"replicas": 2}});
        let new = prepare_update(&d, &old, spec, Part::Main)
            .expect("ok")
            .expect("changed");
        assert_eq!(new["metadata"]["generation"], 2);
    }

    #[test]
    fn a_custom_resource_generation_follows_everything_but_metadata_and_status() {
        let rule = GenerationRule::AllButMetadataAndStatus;
        let old = json!({"apiVersion": "v1", "kind": "K", "metadata": {"name": "a"},
                         "spec": {"x": 1}, "extra": [1], "status": {"s": 1}});
        let changed = |new: Value| generation_changed(rule, &old, &new);
        assert!(
            !changed(
                json!({"extra": [1], "kind": "K", "apiVersion": "v1", "spec": {"x": 1},
                   "metadata": {"name": "a", "labels": {"l": "v"}}, "status": {"s": 2}})
            ),
            "metadata, status and key order do not count"
        );
        assert!(!changed(
            json!({"apiVersion": "v1", "kind": "K", "spec": {"x": 1}, "extra": [1]})
        ));
        assert!(changed(
            json!({"apiVersion": "v1", "kind": "K", "spec": {"x": 2}, "extra": [1]})
        ));
        assert!(
            changed(json!({"apiVersion": "v1", "kind": "K", "spec": {"x": 1}})),
            "a key removed"
        );
        assert!(
            changed(
                json!({"apiVersion": "v1", "kind": "K", "spec": {"x": 1}, "extra": [1], "more": 0})
            ),
            "a key added"
        );
        assert!(
            changed(json!({"apiVersion": "v1", "kind": "K", "spec": {"x": 1}, "other": [1]})),
            "a key renamed"
        );
    }

    #[test]
    fn update_with_stale_resource_version_conflicts_and_same_content_is_a_noop() {
        let cm = rt("ConfigMap");
        let old = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "resourceVersion": "7", "uid": "u"}, "data": {"a": "1"}});
        let stale = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "resourceVersion": "6"}, "data": {"a": "2"}});
        assert_eq!(
            prepare_update(&cm, &old, stale, Part::Main)
                .expect_err("stale")
                .code,
            409
        );
        let same = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "resourceVersion": "7", "uid": "u"}, "data": {"a": "1"}});
        assert!(
            prepare_update(&cm, &old, same, Part::Main)
                .expect("ok")
                .is_none()
        );
    }

    #[test]
    fn a_secret_written_without_a_type_is_opaque_and_its_type_cannot_change() {
        let secret = rt("Secret");
        let old = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "resourceVersion": "7"}, "type": "Opaque", "data": {"a": "MQ=="}});
        let untyped = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "Mg=="}});
        let stored = prepare_update(&secret, &old, untyped.clone(), Part::Main)
            .expect("valid")
            .expect("changed");
        assert_eq!(stored["type"], "Opaque");
        let mut tls = old.clone();
        tls["type"] = json!("kubernetes.io/tls");
        let err = prepare_update(&secret, &tls, untyped, Part::Main).expect_err("immutable");
        assert_eq!(err.code, 422);
        assert_eq!(
            err.message,
            r#"Secret "s" is invalid: type: Invalid value: "Opaque": field is immutable"#
        );
    }

    #[test]
    fn no_new_finalizers_while_deleting() {
        let cm = rt("ConfigMap");
        let old = json!({"metadata": {"name": "c", "resourceVersion": "7", "deletionTimestamp": "t", "finalizers": ["a"]}});
        let new = json!({"metadata": {"name": "c", "finalizers": ["a", "b"]}});
        let err = prepare_update(&cm, &old, new, Part::Main).expect_err("forbidden");
        assert!(
            err.message
                .contains("no new finalizers can be added if the object is being deleted"),
            "{}",
            err.message
        );
    }

    #[test]
    fn body_namespace_must_match_the_url() {
        let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "a"}});
        let err = check_identity(&rt("ConfigMap"), &mut obj, Some("b")).expect_err("mismatch");
        assert_eq!(err.code, 400);
        let mut obj = json!({"apiVersion": "apps/v1", "kind": "ConfigMap"});
        assert!(check_identity(&rt("ConfigMap"), &mut obj, Some("b")).is_err());
    }
}
