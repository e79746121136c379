//! The ApplicationSet `clusterDecisionResource` generator, as Argo CD's `DuckTypeGenerator`
//! (`applicationset/generators/duck_type.go`): a ConfigMap names a resource type
//! (`apiVersion`, `kind` — read as the resource's *plural*, as upstream hands it to the
//! dynamic client), the generator picks objects of that type by `name` or `labelSelector`,
//! and each entry of their `status.<statusListKey>` list whose `matchKey` names a known
//! cluster yields one parameter set.
//!
//! The ConfigMap and the objects are read in the controller's namespace (Argo CD's), through
//! [`ControllerObjects`]; the plugin generator reads its ConfigMap and token Secret there too.
//!
//! Upstream's quirks kept: a ConfigMap without `matchKey` yields nothing (no error); a
//! decision's own keys are printed with Go's `%v` and overwrite `name`/`server`; `values`
//! are passed through as written (not templated, unlike the other generators).
//! Where upstream panics (a status that is not an object, a status list that is missing or
//! not a list, a decision that is not an object), this generator fails with an error.

use std::collections::BTreeMap;

use serde_json::Value;

use super::params::{Params, go_sprint};
use crate::cluster::{ClusterSecret, IN_CLUSTER_NAME, IN_CLUSTER_SERVER};

/// The resource type a `clusterDecisionResource` ConfigMap names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuckResource {
    /// The API group (the part of `apiVersion` before the first `/`).
    pub group: String,
    /// The version (the rest of `apiVersion`).
    pub version: String,
    /// The resource's plural name: the ConfigMap's `kind`, used as upstream uses it.
    pub resource: String,
}

/// Which objects of a [`DuckResource`] the generator reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// The object of this name (upstream lists with the field selector `metadata.name=`;
    /// no such object means an empty list).
    Name(String),
    /// The objects matching this label selector, in its string form.
    Labels(String),
}

/// What the clusterDecisionResource and plugin generators read from the controller's
/// namespace. Errors are the API's message (`configmaps "x" not found`).
pub trait ControllerObjects: Send + Sync {
    /// The controller's namespace (it appears in upstream's error messages).
    fn namespace(&self) -> &str;
    /// The `data` of the ConfigMap `name`.
    fn config_map(&self, name: &str) -> Result<BTreeMap<String, String>, String>;
    /// The `data` of the Secret `name`, each value decoded to text.
    fn secret(&self, name: &str) -> Result<BTreeMap<String, String>, String>;
    /// The objects of `resource` that `selection` picks, as JSON.
    fn list(&self, resource: &DuckResource, selection: &Selection) -> Result<Vec<Value>, String>;
}

/// A cluster as the generator matches it: `utils.ClusterSpecifier`.
struct Cluster<'a> {
    name: &'a str,
    server: &'a str,
}

/// `utils.ListClusters`: the cluster Secrets, and the in-cluster entry unless one of them
/// is for the in-cluster server.
fn known_clusters(secrets: &[ClusterSecret]) -> Vec<Cluster<'_>> {
    let mut clusters: Vec<Cluster<'_>> = secrets
        .iter()
        .map(|s| Cluster {
            name: &s.name,
            server: &s.server,
        })
        .collect();
    if !secrets.iter().any(|s| s.server == IN_CLUSTER_SERVER) {
        clusters.push(Cluster {
            name: IN_CLUSTER_NAME,
            server: IN_CLUSTER_SERVER,
        });
    }
    clusters
}

/// Go's `%v` of a value decoded by the API machinery's unstructured JSON, where a whole
/// number is an `int64` (printed in full) and only other numbers are `float64`.
fn sprint_unstructured(value: &Value) -> String {
    match value {
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(sprint_unstructured)
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            let inner: Vec<String> = sorted
                .iter()
                .map(|(k, v)| format!("{k}:{}", sprint_unstructured(v)))
                .collect();
            format!("map[{}]", inner.join(" "))
        }
        other => go_sprint(other),
    }
}

/// Whether a field of a Go struct decoded from `spec` would be non-nil (a map or slice
/// given, even empty).
fn given(spec: Option<&Value>, field: &str) -> bool {
    spec.and_then(|s| s.get(field))
        .is_some_and(|v| !v.is_null())
}

/// `DuckTypeGenerator.GenerateParams`; the error is Argo CD's message.
pub(crate) fn generate(
    objects: &dyn ControllerObjects,
    cluster_secrets: &[ClusterSecret],
    spec: &Value,
    go_template: bool,
) -> Result<Vec<Params>, String> {
    let text = |field: &str| spec.get(field).and_then(Value::as_str).unwrap_or_default();
    let clusters = known_clusters(cluster_secrets);
    let config_map_ref = text("configMapRef");
    // client-go refuses an empty name before asking the API server.
    let data = if config_map_ref.is_empty() {
        Err("resource name may not be empty".to_string())
    } else {
        objects.config_map(config_map_ref)
    }
    .map_err(|e| format!("error reading configMapRef: {e}"))?;
    let entry = |key: &str| data.get(key).map(String::as_str).unwrap_or_default();
    let api_version = entry("apiVersion");
    let kind = entry("kind");
    let resource_name = text("name");
    let version_index = api_version.find('/');
    if kind.is_empty() || version_index.is_none_or(|i| i < 1) {
        return Err("there is a problem with the apiVersion, kind or resourceName provided".into());
    }
    let selector = spec.get("labelSelector").filter(|s| !s.is_null());
    let has_selector = given(selector, "matchLabels") || given(selector, "matchExpressions");
    if resource_name.is_empty() != has_selector {
        return Err(
            "there is a problem with the definition of the ClusterDecisionResource generator"
                .into(),
        );
    }
    let (group, version) = api_version.split_at(version_index.unwrap_or_default());
    let resource = DuckResource {
        group: group.to_string(),
        version: version[1..].to_string(),
        resource: kind.to_string(),
    };
    let selection = if resource_name.is_empty() {
        let selector = selector.cloned().unwrap_or(Value::Null);
        let parsed = flotilla_core::labels::Selector::from_label_selector(&selector)
            .map_err(|e| format!("failed to get dynamic resources: {e}"))?;
        Selection::Labels(parsed.to_string())
    } else {
        Selection::Name(resource_name.to_string())
    };
    let resources = objects
        .list(&resource, &selection)
        .map_err(|e| format!("failed to get dynamic resources: {e}"))?;
    if resources.is_empty() {
        return Err("no clusterDecisionResources found".into());
    }
    let status_list_key = match entry("statusListKey") {
        "" => "clusters",
        key => key,
    };
    let match_key = entry("matchKey");
    if match_key.is_empty() {
        // Upstream logs a warning and generates nothing.
        return Ok(Vec::new());
    }
    let decisions = decisions_of(&resources, status_list_key)?;
    let values = spec.get("values").and_then(Value::as_object);
    let mut out = Vec::new();
    for decision in decisions {
        let Value::Object(decision) = decision else {
            return Err(format!(
                "clusterDecisionResource status.{status_list_key} holds a {}, not an object",
                json_kind(decision)
            ));
        };
        let wanted = match decision.get(match_key) {
            None | Some(Value::Null) => continue,
            Some(v) => sprint_unstructured(v),
        };
        if wanted.is_empty() {
            continue;
        }
        let Some(cluster) = clusters.iter().find(|c| c.name == wanted) else {
            continue;
        };
        let mut params = Params::new();
        params.insert("name".into(), Value::String(cluster.name.to_string()));
        params.insert("server".into(), Value::String(cluster.server.to_string()));
        for (key, value) in decision {
            params.insert(key.clone(), Value::String(sprint_unstructured(value)));
        }
        for (key, value) in values.into_iter().flatten() {
            let value = Value::String(value.as_str().unwrap_or_default().to_string());
            if go_template {
                let slot = params
                    .entry("values")
                    .or_insert_with(|| Value::Object(serde_json::Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(serde_json::Map::new());
                }
                if let Value::Object(map) = slot {
                    map.insert(key.clone(), value);
                }
            } else {
                params.insert(format!("values.{key}"), value);
            }
        }
        out.push(params);
    }
    Ok(out)
}

/// `buildClusterDecisions`: the `status.<key>` lists of the objects, those without a
/// status (or with an empty one) skipped.
fn decisions_of<'a>(resources: &'a [Value], key: &str) -> Result<Vec<&'a Value>, String> {
    let mut decisions = Vec::new();
    for resource in resources {
        let name = resource
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let status = match resource.get("status") {
            None | Some(Value::Null) => continue,
            Some(Value::Object(status)) if status.is_empty() => continue,
            Some(Value::Object(status)) => status,
            Some(other) => {
                return Err(format!(
                    "clusterDecisionResource {name}: status is a {}, not an object",
                    json_kind(other)
                ));
            }
        };
        match status.get(key) {
            Some(Value::Array(items)) => decisions.extend(items),
            Some(Value::Null) | None => {
                return Err(format!(
                    "clusterDecisionResource {name}: status.{key} is missing"
                ));
            }
            Some(other) => {
                return Err(format!(
                    "clusterDecisionResource {name}: status.{key} is a {}, not a list",
                    json_kind(other)
                ));
            }
        }
    }
    Ok(decisions)
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    //! The cases of Argo CD's `duck_type_test.go` (`TestGenerateParamsForDuckType` and
    //! `TestGenerateParamsForDuckTypeGoTemplate`), expected values from there, on an
    //! in-memory namespace that does what upstream's fake clients do.

    use super::*;
    use serde_json::json;

    struct Namespace {
        config_maps: BTreeMap<String, BTreeMap<String, String>>,
        resources: Vec<Value>,
        calls: std::sync::Mutex<Vec<(DuckResource, Selection)>>,
    }

    impl ControllerObjects for Namespace {
        fn namespace(&self) -> &str {
            "namespace"
        }
        fn config_map(&self, name: &str) -> Result<BTreeMap<String, String>, String> {
            self.config_maps
                .get(name)
                .cloned()
                .ok_or_else(|| format!("configmaps {name:?} not found"))
        }
        fn secret(&self, name: &str) -> Result<BTreeMap<String, String>, String> {
            Err(format!("secrets {name:?} not found"))
        }
        fn list(
            &self,
            resource: &DuckResource,
            selection: &Selection,
        ) -> Result<Vec<Value>, String> {
            self.calls
                .lock()
                .unwrap()
                .push((resource.clone(), selection.clone()));
            if resource.resource != "ducks" || resource.group != "mallard.io" {
                return Ok(Vec::new());
            }
            Ok(self
                .resources
                .iter()
                .filter(|r| match selection {
                    Selection::Name(name) => r["metadata"]["name"] == json!(name),
                    Selection::Labels(text) => {
                        let selector = flotilla_core::labels::Selector::parse(text).unwrap();
                        let labels: BTreeMap<String, String> =
                            serde_json::from_value(r["metadata"]["labels"].clone()).unwrap();
                        selector.matches(&labels)
                    }
                })
                .cloned()
                .collect())
        }
    }

    fn namespace(resource: Value) -> Namespace {
        let data = [
            ("apiVersion", "mallard.io/v1"),
            ("kind", "ducks"),
            ("statusListKey", "decisions"),
            ("matchKey", "clusterName"),
        ];
        Namespace {
            config_maps: BTreeMap::from([(
                "my-configmap".to_string(),
                data.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )]),
            resources: vec![resource],
            calls: Default::default(),
        }
    }

    fn clusters() -> Vec<ClusterSecret> {
        ["staging-01", "production-01"]
            .iter()
            .map(|name| {
                let b64 = |s: &str| {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD.encode(s)
                };
                ClusterSecret::from_secret(&json!({
                    "metadata": {"name": name, "namespace": "namespace",
                                 "labels": {"argocd.argoproj.io/secret-type": "cluster"}},
                    "data": {"config": b64("{}"), "name": b64(name),
                             "server": b64(&format!("https://{name}.example.com"))},
                }))
                .unwrap()
            })
            .collect()
    }

    fn duck(labels: &str, status: Value) -> Value {
        json!({"apiVersion": "mallard.io/v1", "kind": "Duck",
               "metadata": {"name": "quak", "namespace": "namespace", "labels": {"duck": labels}},
               "status": status})
    }

    fn all_species() -> Value {
        duck(
            "all-species",
            json!({"decisions": [{"clusterName": "staging-01"}, {"clusterName": "production-01"}]}),
        )
    }

    fn prod_only() -> Value {
        duck(
            "spotted",
            json!({"decisions": [{"clusterName": "production-01"}]}),
        )
    }

    fn empty() -> Value {
        duck("canvasback", json!({}))
    }

    fn run(resource: Value, spec: Value, go_template: bool) -> Result<Vec<Value>, String> {
        let mut spec = spec;
        spec["configMapRef"] = json!("my-configmap");
        let mut got: Vec<Value> = generate(&namespace(resource), &clusters(), &spec, go_template)?
            .into_iter()
            .map(Value::Object)
            .collect();
        // Upstream compares with ElementsMatch.
        got.sort_by_key(|v| v.to_string());
        Ok(got)
    }

    fn sorted(values: Value) -> Vec<Value> {
        let mut values = values.as_array().unwrap().clone();
        values.sort_by_key(|v| v.to_string());
        values
    }

    const DEFINITION: &str =
        "there is a problem with the definition of the ClusterDecisionResource generator";

    fn both_species() -> Vec<Value> {
        sorted(json!([
            {"clusterName": "production-01", "name": "production-01", "server": "https://production-01.example.com"},
            {"clusterName": "staging-01", "name": "staging-01", "server": "https://staging-01.example.com"},
        ]))
    }

    #[test]
    fn neither_name_nor_selector_is_a_definition_error() {
        for go in [false, true] {
            assert_eq!(run(all_species(), json!({}), go), Err(DEFINITION.into()));
        }
    }

    #[test]
    fn by_resource_name() {
        for go in [false, true] {
            assert_eq!(
                run(all_species(), json!({"name": "quak"}), go).unwrap(),
                both_species()
            );
        }
    }

    #[test]
    fn non_string_values_in_decisions_are_printed() {
        let resource = duck(
            "all-species",
            json!({"decisions": [{"clusterName": "staging-01", "reason": "", "score": 0}]}),
        );
        assert_eq!(
            run(resource, json!({"name": "quak"}), false).unwrap(),
            sorted(
                json!([{"clusterName": "staging-01", "reason": "", "score": "0",
                           "name": "staging-01", "server": "https://staging-01.example.com"}])
            )
        );
    }

    #[test]
    fn production_only_with_values() {
        assert_eq!(
            run(
                prod_only(),
                json!({"name": "quak", "values": {"foo": "bar"}}),
                false
            )
            .unwrap(),
            sorted(json!([{"clusterName": "production-01", "values.foo": "bar",
                           "name": "production-01", "server": "https://production-01.example.com"}]))
        );
        assert_eq!(
            run(
                prod_only(),
                json!({"name": "quak", "values": {"foo": "bar"}}),
                true
            )
            .unwrap(),
            sorted(
                json!([{"clusterName": "production-01", "values": {"foo": "bar"},
                           "name": "production-01", "server": "https://production-01.example.com"}])
            )
        );
    }

    #[test]
    fn an_empty_status_yields_nothing() {
        for go in [false, true] {
            assert_eq!(
                run(empty(), json!({"name": "quak"}), go).unwrap(),
                Vec::<Value>::new()
            );
            assert_eq!(
                run(
                    empty(),
                    json!({"labelSelector": {"matchLabels": {"duck": "canvasback"}}}),
                    go
                )
                .unwrap(),
                Vec::<Value>::new()
            );
        }
    }

    #[test]
    fn by_match_labels() {
        for go in [false, true] {
            assert_eq!(
                run(
                    all_species(),
                    json!({"labelSelector": {"matchLabels": {"duck": "all-species"}}}),
                    go
                )
                .unwrap(),
                both_species()
            );
        }
        assert_eq!(
            run(
                prod_only(),
                json!({"labelSelector": {"matchLabels": {"duck": "spotted"}}, "values": {"foo": "bar"}}),
                false
            )
            .unwrap(),
            sorted(json!([{"clusterName": "production-01", "values.foo": "bar",
                           "name": "production-01", "server": "https://production-01.example.com"}]))
        );
        assert_eq!(
            run(
                prod_only(),
                json!({"labelSelector": {"matchLabels": {"duck": "spotted"}}, "values": {"foo": "bar"}}),
                true
            )
            .unwrap(),
            sorted(json!([{"clusterName": "production-01", "values": {"foo": "bar"},
                           "name": "production-01", "server": "https://production-01.example.com"}]))
        );
    }

    #[test]
    fn by_match_expressions() {
        let selector = json!({"matchExpressions": [
            {"key": "duck", "operator": "In", "values": ["all-species", "marbled"]}]});
        for go in [false, true] {
            assert_eq!(
                run(all_species(), json!({"labelSelector": selector}), go).unwrap(),
                both_species()
            );
            assert_eq!(
                run(
                    all_species(),
                    json!({"name": "quak", "labelSelector": selector}),
                    go
                ),
                Err(DEFINITION.into())
            );
        }
    }

    // Beyond upstream's table: the other checks of `GenerateParams`.

    #[test]
    fn the_config_map_and_its_keys_are_checked_first() {
        let ns = namespace(all_species());
        let spec = json!({"configMapRef": "other", "name": "quak"});
        assert_eq!(
            generate(&ns, &clusters(), &spec, false),
            Err("error reading configMapRef: configmaps \"other\" not found".into())
        );
        assert_eq!(
            generate(&ns, &clusters(), &json!({"name": "quak"}), false),
            Err("error reading configMapRef: resource name may not be empty".into())
        );
        for (key, value) in [
            ("kind", ""),
            ("apiVersion", "v1"),
            ("apiVersion", "/v1"),
            ("apiVersion", ""),
        ] {
            let mut ns = namespace(all_species());
            let data = ns.config_maps.get_mut("my-configmap").unwrap();
            data.insert(key.to_string(), value.to_string());
            assert_eq!(
                generate(
                    &ns,
                    &clusters(),
                    &json!({"configMapRef": "my-configmap", "name": "quak"}),
                    false
                ),
                Err("there is a problem with the apiVersion, kind or resourceName provided".into()),
                "{key}={value:?}"
            );
            assert!(ns.calls.lock().unwrap().is_empty());
        }
    }

    #[test]
    fn the_resource_is_read_by_its_kind_as_plural() {
        let ns = namespace(all_species());
        let spec = json!({"configMapRef": "my-configmap", "name": "quak"});
        generate(&ns, &clusters(), &spec, false).unwrap();
        assert_eq!(
            ns.calls.lock().unwrap()[0],
            (
                DuckResource {
                    group: "mallard.io".into(),
                    version: "v1".into(),
                    resource: "ducks".into()
                },
                Selection::Name("quak".into())
            )
        );
    }

    #[test]
    fn no_matching_resource_is_an_error_and_no_match_key_yields_nothing() {
        assert_eq!(
            run(all_species(), json!({"name": "quak-different"}), false),
            Err("no clusterDecisionResources found".into())
        );
        let mut ns = namespace(all_species());
        ns.config_maps
            .get_mut("my-configmap")
            .unwrap()
            .remove("matchKey");
        let spec = json!({"configMapRef": "my-configmap", "name": "quak"});
        assert_eq!(generate(&ns, &clusters(), &spec, false), Ok(Vec::new()));
    }

    #[test]
    fn unknown_clusters_are_skipped_and_in_cluster_is_known() {
        let resource = duck(
            "x",
            json!({"decisions": [{"clusterName": "in-cluster"}, {"clusterName": "nowhere"},
                                 {"other": "staging-01"}, {"clusterName": ""}]}),
        );
        assert_eq!(
            run(resource, json!({"name": "quak"}), false).unwrap(),
            sorted(json!([{"clusterName": "in-cluster", "name": "in-cluster",
                           "server": "https://kubernetes.default.svc"}]))
        );
    }

    #[test]
    fn the_default_status_list_key_is_clusters() {
        let mut ns = namespace(duck(
            "x",
            json!({"clusters": [{"clusterName": "staging-01"}]}),
        ));
        ns.config_maps
            .get_mut("my-configmap")
            .unwrap()
            .remove("statusListKey");
        let spec = json!({"configMapRef": "my-configmap", "name": "quak"});
        let got = generate(&ns, &clusters(), &spec, false).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["server"], json!("https://staging-01.example.com"));
    }

    #[test]
    fn bad_input_is_an_error_where_upstream_panics() {
        assert_eq!(
            run(
                duck("x", json!({"decisions": "staging-01"})),
                json!({"name": "quak"}),
                false
            ),
            Err("clusterDecisionResource quak: status.decisions is a string, not a list".into())
        );
        assert_eq!(
            run(
                duck("x", json!({"other": []})),
                json!({"name": "quak"}),
                false
            ),
            Err("clusterDecisionResource quak: status.decisions is missing".into())
        );
        assert_eq!(
            run(
                duck("x", json!({"decisions": ["staging-01"]})),
                json!({"name": "quak"}),
                false
            ),
            Err("clusterDecisionResource status.decisions holds a string, not an object".into())
        );
    }

    #[test]
    fn a_bad_label_selector_is_an_error_before_listing() {
        let ns = namespace(all_species());
        let spec = json!({"configMapRef": "my-configmap",
                          "labelSelector": {"matchExpressions": [{"key": "duck", "operator": "Near"}]}});
        let error = generate(&ns, &clusters(), &spec, false).unwrap_err();
        assert_eq!(
            error,
            "failed to get dynamic resources: \"Near\" is not a valid label selector operator"
        );
        assert!(ns.calls.lock().unwrap().is_empty());
    }

    #[test]
    fn whole_numbers_print_as_int64() {
        assert_eq!(sprint_unstructured(&json!(1000000)), "1000000");
        assert_eq!(sprint_unstructured(&json!(1.5)), "1.5");
        assert_eq!(
            sprint_unstructured(&json!({"b": 2, "a": [1, "x"]})),
            "map[a:[1 x] b:2]"
        );
    }
}
