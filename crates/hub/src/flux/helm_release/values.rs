//! A HelmRelease's values as helm-controller composes them (fluxcd/pkg `chartutil`
//! `ChartValuesFromReferences`): each `valuesFrom` entry in order — merged as a values
//! file, or placed at its `targetPath` with Helm's `--set` rules — then `spec.values`
//! merged last; and the config digest of the result (`DigestValues`).

use std::collections::{BTreeMap, HashMap};

use flotilla_fleet::helm_release::ValuesReference;
use flotilla_render::helm::{Table, merge_values, read_values, set_value};
use serde_json::Value;

/// The data of a referenced ConfigMap or Secret, as looked up: `Ok(None)` when it does not
/// exist, `Err` with the API's message when the lookup failed.
pub type Lookup = Result<Option<BTreeMap<String, String>>, String>;

/// Why a `valuesFrom` entry could not be resolved, worded as fluxcd/pkg words it.
fn reference_error(namespace: &str, reference: &ValuesReference, reason: &str) -> String {
    format!(
        "could not resolve{} {} chart values reference '{namespace}/{}' with key '{}': {reason}",
        if reference.optional { " optional" } else { "" },
        reference.kind,
        reference.name,
        reference.key(),
    )
}

/// The values of a release: `references` resolved through `lookup` (kind, name → data),
/// in order, then `inline` merged over them. `namespace` is the HelmRelease's (every
/// reference is read there).
pub fn compose(
    namespace: &str,
    references: &[ValuesReference],
    inline: Option<&Value>,
    lookup: &HashMap<(String, String), Lookup>,
) -> Result<Table, String> {
    let inline = match inline {
        Some(Value::Object(map)) => map.clone(),
        _ => Table::new(),
    };
    let mut result = Table::new();
    for reference in references {
        let found = lookup
            .get(&(reference.kind.clone(), reference.name.clone()))
            .cloned()
            .unwrap_or(Ok(None));
        let data = match found {
            Err(message) => return Err(reference_error(namespace, reference, &message)),
            Ok(None) if reference.optional => continue,
            Ok(None) => {
                let plural = if reference.kind == "Secret" {
                    "secrets"
                } else {
                    "configmaps"
                };
                let reason = format!("{plural} \"{}\" not found", reference.name);
                return Err(reference_error(namespace, reference, &reason));
            }
            Ok(Some(data)) => data,
        };
        let Some(text) = data.get(reference.key()) else {
            if reference.optional {
                continue;
            }
            return Err(reference_error(namespace, reference, "key not found"));
        };
        if !reference.target_path.is_empty() {
            // As upstream: the inline values go in first, so a targetPath wins over them.
            result = merge_values(result, inline.clone());
            place_at_path(&mut result, &reference.target_path, text).map_err(|e| {
                reference_error(namespace, reference, &format!("failed to merge value: {e}"))
            })?;
            continue;
        }
        let values = read_values(text).map_err(|e| {
            reference_error(
                namespace,
                reference,
                &format!("failed to read values data: {e}"),
            )
        })?;
        result = merge_values(result, values);
    }
    Ok(merge_values(result, inline))
}

/// fluxcd/pkg `ReplacePathValue`: `path=value` with Helm's `--set` rules; a value wrapped
/// in single or double quotes loses them and is set as a string (`--set-string`).
fn place_at_path(values: &mut Table, path: &str, value: &str) -> Result<(), String> {
    let quoted = |q: char| {
        value.len() >= 2 && value.starts_with(q) && value.ends_with(q)
            || value == "'"
            || value == "\""
    };
    if quoted('\'') || quoted('"') {
        let trimmed = value.trim_matches(['\'', '"']);
        return set_value(values, &format!("{path}={trimmed}"), true);
    }
    set_value(values, &format!("{path}={value}"), false)
}

/// The config digest helm-controller records (`status.lastAttemptedConfigDigest`,
/// `history[].configDigest`): sha256 of the values as YAML with sorted keys; empty
/// values digest the empty input.
pub fn config_digest(values: &Table) -> String {
    if values.is_empty() {
        return flotilla_fleet::helm_release::sha256_digest(b"");
    }
    let yaml = flotilla_template::to_yaml(&flotilla_template::Value::from(&Value::Object(
        values.clone(),
    )));
    flotilla_fleet::helm_release::sha256_digest(yaml.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table(v: Value) -> Table {
        match v {
            Value::Object(m) => m,
            _ => panic!("not a table"),
        }
    }

    fn reference(kind: &str, name: &str) -> ValuesReference {
        ValuesReference {
            kind: kind.into(),
            name: name.into(),
            ..Default::default()
        }
    }

    fn data(pairs: &[(&str, &str)]) -> Lookup {
        Ok(Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ))
    }

    /// fluxcd/pkg chartutil `TestDigestValues`, expected digests as upstream's test has them.
    #[test]
    fn config_digests_match_fluxs_test_vectors() {
        assert_eq!(
            config_digest(&Table::new()),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let values = table(json!({
            "replicas": 3,
            "image": {"tag": "latest", "repository": "nginx"},
            "ports": [{"protocol": "TCP", "port": 8080}, {"port": 9090, "protocol": "UDP"}],
        }));
        assert_eq!(
            config_digest(&values),
            "sha256:fcdc2b0de1581a3633ada4afee3f918f6eaa5b5ab38c3fef03d5b48d3f85d9f6"
        );
        let numeric_keys = table(json!({
            "replicas": 3,
            "test": {
                "632bd82398e71231a98004b6": "value4",
                "632bd817c559818a52307da2": "value3",
                "632bd80ddf416cf32fd50679": "value2",
                "632bd80235a05f4192aefade": "value1",
            },
        }));
        assert_eq!(
            config_digest(&numeric_keys),
            "sha256:8a980fcbeadd6f05818f07e8aec14070c22250ca3d96af1fcd5f93b3e85b4d70"
        );
    }

    #[test]
    fn references_merge_in_order_and_inline_values_win() {
        let lookup = HashMap::from([
            (
                ("ConfigMap".to_string(), "base".to_string()),
                data(&[("values.yaml", "replicas: 1\nimage:\n  tag: v1\n")]),
            ),
            (
                ("Secret".to_string(), "prod".to_string()),
                data(&[("override.yaml", "image:\n  tag: v2\n")]),
            ),
        ]);
        let mut prod = reference("Secret", "prod");
        prod.values_key = "override.yaml".into();
        let values = compose(
            "team",
            &[reference("ConfigMap", "base"), prod],
            Some(&json!({"replicas": 3})),
            &lookup,
        )
        .unwrap();
        let values = Value::Object(values);
        // Inline values keep their JSON integer; file values are floats as Helm reads them.
        assert_eq!(values["replicas"], json!(3));
        assert_eq!(values["image"], json!({"tag": "v2"}));
    }

    #[test]
    fn a_target_path_places_the_data_and_beats_inline_values() {
        let lookup = HashMap::from([(
            ("Secret".to_string(), "db".to_string()),
            data(&[
                ("password", "s3cr3t"),
                ("port", "5432"),
                ("quoted", "'5432'"),
            ]),
        )]);
        let at = |key: &str, path: &str| ValuesReference {
            kind: "Secret".into(),
            name: "db".into(),
            values_key: key.into(),
            target_path: path.into(),
            optional: false,
        };
        let values = compose(
            "team",
            &[
                at("password", "db.auth.password"),
                at("port", "db.port"),
                at("quoted", "db.portString"),
            ],
            Some(&json!({"db": {"auth": {"password": "inline"}}})),
            &lookup,
        )
        .unwrap();
        let values = Value::Object(values);
        assert_eq!(values["db"]["port"], json!(5432), "typed as --set types it");
        assert_eq!(
            values["db"]["portString"],
            json!("5432"),
            "quotes: a string"
        );
        // The inline values are merged last again, so they win over the targetPath.
        assert_eq!(values["db"]["auth"]["password"], json!("inline"));
    }

    #[test]
    fn missing_references_are_errors_unless_optional() {
        let lookup = HashMap::from([(
            ("ConfigMap".to_string(), "present".to_string()),
            data(&[("other", "a: 1")]),
        )]);
        let err = compose("team", &[reference("Secret", "gone")], None, &lookup).unwrap_err();
        assert_eq!(
            err,
            "could not resolve Secret chart values reference 'team/gone' with key 'values.yaml': secrets \"gone\" not found"
        );
        let err = compose("team", &[reference("ConfigMap", "present")], None, &lookup).unwrap_err();
        assert_eq!(
            err,
            "could not resolve ConfigMap chart values reference 'team/present' with key 'values.yaml': key not found"
        );
        let mut optional = reference("ConfigMap", "present");
        optional.optional = true;
        let mut gone = reference("Secret", "gone");
        gone.optional = true;
        assert_eq!(
            compose("team", &[optional, gone], None, &lookup).unwrap(),
            Table::new()
        );
    }

    #[test]
    fn a_values_document_that_is_not_a_map_is_an_error_naming_the_reference() {
        let lookup = HashMap::from([(
            ("ConfigMap".to_string(), "list".to_string()),
            data(&[("values.yaml", "- a\n- b\n")]),
        )]);
        let err = compose("team", &[reference("ConfigMap", "list")], None, &lookup).unwrap_err();
        assert!(
            err.starts_with("could not resolve ConfigMap chart values reference 'team/list' with key 'values.yaml': failed to read values data: "),
            "{err}"
        );
    }
}
