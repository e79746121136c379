//! A kustomization's `crds`: OpenAPI definitions of custom types (the
//! `{"<package>.<Kind>": {"Schema": …, "Dependencies": […]}}` form `openapi-gen` writes)
//! whose property extensions name the fields kustomize should treat as names,
//! references, labels and annotations (kustomize's `LoadConfigFromCRDs`).
//!
//! | extension | the property is |
//! |---|---|
//! | `x-kubernetes-annotation` | a map given `commonAnnotations` |
//! | `x-kubernetes-label-selector` | a map given `commonLabels` |
//! | `x-kubernetes-identity` | a name given `namePrefix` |
//! | `x-kubernetes-object-ref-api-version` + `-kind` | a reference, by its `name` key (or `x-kubernetes-object-ref-name-key`), to that kind |

use serde_json::{Map, Value};

use super::fieldspec::{FieldSpec, NameBackReference, TransformerConfig};
use super::resource::Gvk;

/// The configuration the definitions in `definitions` ask for. Only definitions that look
/// like a Kubernetes type (`kind`, `apiVersion` and `metadata` properties) are read; the
/// kind is the last `.`-separated part of the definition's name.
pub(crate) fn config_of(definitions: &Map<String, Value>) -> Result<TransformerConfig, String> {
    let mut config = TransformerConfig::default();
    for (name, definition) in definitions {
        let properties = properties_of(definition);
        let is_type = ["kind", "apiVersion", "metadata"]
            .iter()
            .all(|p| properties.is_some_and(|props| props.contains_key(*p)));
        if !is_type {
            continue;
        }
        let kind = name.rsplit('.').next().unwrap_or(name);
        let gvk = Gvk {
            kind: kind.to_string(),
            ..Gvk::default()
        };
        let mut found = TransformerConfig::default();
        let mut visiting = vec![name.as_str()];
        collect(
            &mut found,
            &gvk,
            definitions,
            name,
            &mut Vec::new(),
            &mut visiting,
        );
        config.merge(&found)?;
    }
    Ok(config)
}

fn properties_of(definition: &Value) -> Option<&Map<String, Value>> {
    definition
        .pointer("/Schema/properties")
        .and_then(Value::as_object)
}

/// Adds what the properties of definition `name` (at `path` inside a `gvk` object) ask
/// for, following `$ref`s to other definitions. A definition already being walked is not
/// walked again: a type that contains itself would otherwise never end.
fn collect<'a>(
    config: &mut TransformerConfig,
    gvk: &Gvk,
    definitions: &'a Map<String, Value>,
    name: &str,
    path: &mut Vec<String>,
    visiting: &mut Vec<&'a str>,
) {
    let Some(properties) = definitions.get(name).and_then(properties_of) else {
        return;
    };
    for (property, schema) in properties {
        path.push(property.clone());
        let extension = |key: &str| schema.get(key).and_then(Value::as_str);
        let here = |path: &[String]| {
            FieldSpec::new(&gvk.group, &gvk.version, &gvk.kind, &path.join("/"), false)
        };
        if extension("x-kubernetes-annotation").is_some() {
            config.common_annotations.push(here(path));
        }
        if extension("x-kubernetes-label-selector").is_some() {
            config.common_labels.push(here(path));
        }
        if extension("x-kubernetes-identity").is_some() {
            config.name_prefix.push(here(path));
        }
        if let (Some(version), Some(kind)) = (
            extension("x-kubernetes-object-ref-api-version"),
            extension("x-kubernetes-object-ref-kind"),
        ) {
            let key = extension("x-kubernetes-object-ref-name-key").unwrap_or("name");
            let mut referrer = path.clone();
            referrer.push(key.to_string());
            config.name_reference.push(NameBackReference {
                gvk: Gvk {
                    group: String::new(),
                    version: version.to_string(),
                    kind: kind.to_string(),
                },
                referrers: vec![here(&referrer)],
            });
        }
        if let Some((target, _)) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| definitions.get_key_value(r))
            && !visiting.contains(&target.as_str())
        {
            visiting.push(target);
            collect(config, gvk, definitions, target, path, visiting);
            visiting.pop();
        }
        path.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn definitions(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("an object")
    }

    #[test]
    fn extensions_name_the_fields_of_each_table() {
        let defs = definitions(json!({
            "example.com/v1.Widget": {"Schema": {"properties": {
                "kind": {}, "apiVersion": {}, "metadata": {},
                "spec": {"$ref": "example.com/v1.WidgetSpec"}}}},
            "example.com/v1.WidgetSpec": {"Schema": {"properties": {
                "notes": {"x-kubernetes-annotation": ""},
                "match": {"x-kubernetes-label-selector": ""},
                "alias": {"x-kubernetes-identity": ""},
                "config": {"x-kubernetes-object-ref-api-version": "v1",
                    "x-kubernetes-object-ref-kind": "ConfigMap",
                    "x-kubernetes-object-ref-name-key": "ref"}}}},
            // Not a Kubernetes type: no kind, apiVersion and metadata.
            "example.com/v1.Loose": {"Schema": {"properties": {
                "alias": {"x-kubernetes-identity": ""}}}}
        }));
        let config = config_of(&defs).expect("config");
        let paths = |specs: &[FieldSpec]| -> Vec<(String, String)> {
            specs
                .iter()
                .map(|s| (s.gvk.kind.clone(), s.path_string()))
                .collect()
        };
        let widget = |p: &str| vec![("Widget".to_string(), p.to_string())];
        assert_eq!(paths(&config.common_annotations), widget("spec/notes"));
        assert_eq!(paths(&config.common_labels), widget("spec/match"));
        assert_eq!(paths(&config.name_prefix), widget("spec/alias"));
        let [reference] = config.name_reference.as_slice() else {
            panic!("one back-reference: {:?}", config.name_reference);
        };
        assert_eq!(
            (reference.gvk.version.as_str(), reference.gvk.kind.as_str()),
            ("v1", "ConfigMap")
        );
        assert_eq!(paths(&reference.referrers), widget("spec/config/ref"));
    }

    #[test]
    fn a_type_that_contains_itself_is_walked_once() {
        let defs = definitions(json!({
            "example.com/v1.Tree": {"Schema": {"properties": {
                "kind": {}, "apiVersion": {}, "metadata": {},
                "child": {"$ref": "example.com/v1.Tree"},
                "alias": {"x-kubernetes-identity": ""}}}}
        }));
        let config = config_of(&defs).expect("config");
        let paths: Vec<String> = config
            .name_prefix
            .iter()
            .map(FieldSpec::path_string)
            .collect();
        assert_eq!(paths, ["alias"]);
    }
}
