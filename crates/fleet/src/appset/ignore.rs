//! `spec.ignoreApplicationDifferences`: fields of a generated Application the ApplicationSet
//! leaves as the live Application has them. Argo CD removes the ignored fields from both
//! copies before comparing them and sends a merge patch between the two, so the server
//! keeps its values; an update here sends the whole object, so the live values are copied
//! into the generated one instead — the same result, and no update when only ignored
//! fields differ.
//!
//! jq path expressions are accepted when they are plain paths (`.spec.syncPolicy.automated`,
//! `.spec.sources[0].helm`); filters (`| select(...)`) and iteration (`[]`) are refused
//! with an error rather than silently ignored.

use serde_json::Value;

use crate::argocd::applicationset::ApplicationIgnoreDifferences;

/// The ignored fields of one rule, as JSON pointers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IgnoreRule {
    /// The Application it applies to; all when empty.
    name: String,
    pointers: Vec<String>,
}

/// The rules of an ApplicationSet, or why they cannot be used.
pub(crate) fn compile(rules: &[ApplicationIgnoreDifferences]) -> Result<Vec<IgnoreRule>, String> {
    rules
        .iter()
        .map(|rule| {
            let mut pointers = Vec::new();
            for pointer in &rule.json_pointers {
                if !pointer.is_empty() && !pointer.starts_with('/') {
                    return Err(format!(
                        "failed to build ignore diff config: JSON pointer {pointer:?} does not start with \"/\""
                    ));
                }
                pointers.push(pointer.clone());
            }
            for expression in &rule.jq_path_expressions {
                pointers.push(jq_path_pointer(expression).ok_or_else(|| {
                    format!(
                        "failed to build ignore diff config: jqPathExpressions {expression:?} is not supported: only paths of fields and indexes (.spec.source.targetRevision, .spec.sources[0].helm)"
                    )
                })?);
            }
            Ok(IgnoreRule {
                name: rule.name.clone(),
                pointers,
            })
        })
        .collect()
}

/// Gives `generated` (an Application as JSON) the live Application's value at every pointer
/// a rule for `name` ignores, or no value where the live one has none.
pub(crate) fn keep_ignored(rules: &[IgnoreRule], name: &str, live: &Value, generated: &mut Value) {
    for rule in rules.iter().filter(|r| r.name.is_empty() || r.name == name) {
        for pointer in &rule.pointers {
            match live.pointer(pointer) {
                Some(value) => set(generated, pointer, value.clone()),
                None => remove(generated, pointer),
            }
        }
    }
}

/// The tokens of a pointer, unescaped (RFC 6901).
fn tokens(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// Sets `value` at `pointer`, creating the objects on the way; a path through a list
/// element that does not exist is left alone.
fn set(root: &mut Value, pointer: &str, value: Value) {
    let tokens = tokens(pointer);
    let Some((last, parents)) = tokens.split_last() else {
        *root = value;
        return;
    };
    let mut current = root;
    for token in parents {
        current = match current {
            Value::Object(map) => map
                .entry(token.clone())
                .or_insert_with(|| Value::Object(Default::default())),
            Value::Array(items) => match token.parse::<usize>().ok().and_then(|i| items.get_mut(i))
            {
                Some(item) => item,
                None => return,
            },
            other => {
                *other = Value::Object(Default::default());
                other
                    .as_object_mut()
                    .expect("made an object above")
                    .entry(token.clone())
                    .or_insert_with(|| Value::Object(Default::default()))
            }
        };
    }
    match current {
        Value::Object(map) => {
            map.insert(last.clone(), value);
        }
        Value::Array(items) => {
            if let Some(item) = last.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                *item = value;
            }
        }
        other => {
            let mut map = serde_json::Map::new();
            map.insert(last.clone(), value);
            *other = Value::Object(map);
        }
    }
}

/// Removes what `pointer` names, if anything.
fn remove(root: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    match root.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.shift_remove(&last);
        }
        Some(Value::Array(items)) => {
            if let Some(i) = last.parse::<usize>().ok().filter(|i| *i < items.len()) {
                items.remove(i);
            }
        }
        _ => {}
    }
}

/// A jq path made of fields and indexes (`.a.b`, `.a["b.c"]`, `."b-c"`, `.a[0]`) as a
/// JSON pointer; `None` for anything else.
fn jq_path_pointer(expression: &str) -> Option<String> {
    let escape = |t: &str| t.replace('~', "~0").replace('/', "~1");
    let mut pointer = String::new();
    let mut rest = expression.trim();
    while !rest.is_empty() {
        if let Some(after) = rest
            .strip_prefix("[\"")
            .or_else(|| rest.strip_prefix(".[\""))
        {
            let (key, tail) = quoted(after)?;
            rest = tail.strip_prefix(']')?;
            pointer.push('/');
            pointer.push_str(&escape(&key));
        } else if let Some(after) = rest.strip_prefix('[').or_else(|| rest.strip_prefix(".[")) {
            let end = after.find(']')?;
            let index: usize = after[..end].parse().ok()?;
            pointer.push('/');
            pointer.push_str(&index.to_string());
            rest = &after[end + 1..];
        } else if let Some(after) = rest.strip_prefix(".\"") {
            let (key, tail) = quoted(after)?;
            rest = tail;
            pointer.push('/');
            pointer.push_str(&escape(&key));
        } else if let Some(after) = rest.strip_prefix('.') {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let field = &after[..end];
            if field.is_empty() || field.starts_with(|c: char| c.is_ascii_digit()) {
                return None;
            }
            pointer.push('/');
            pointer.push_str(field);
            rest = &after[end..];
        } else {
            return None;
        }
    }
    (!pointer.is_empty()).then_some(pointer)
}

/// A double-quoted jq string's text (`\"` and `\\` escapes) and what follows it.
fn quoted(text: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &text[i + 1..])),
            '\\' => out.push(chars.next()?.1),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(name: &str, pointers: &[&str], jq: &[&str]) -> ApplicationIgnoreDifferences {
        ApplicationIgnoreDifferences {
            name: name.to_string(),
            json_pointers: pointers.iter().map(|p| p.to_string()).collect(),
            jq_path_expressions: jq.iter().map(|p| p.to_string()).collect(),
        }
    }

    fn kept(rules: &[ApplicationIgnoreDifferences], live: Value, generated: Value) -> Value {
        let rules = compile(rules).unwrap();
        let mut generated = generated;
        keep_ignored(&rules, "web", &live, &mut generated);
        generated
    }

    // The cases of Argo CD's Test_applyIgnoreDifferences that need no jq filter: the live
    // Application after the update holds the live values of what is ignored.

    #[test]
    fn an_ignored_target_revision_keeps_the_live_one() {
        let rules = [rule("", &[], &[".spec.source.targetRevision"])];
        assert_eq!(
            kept(
                &rules,
                json!({"spec": {"source": {"targetRevision": "foo"}}}),
                json!({"spec": {"source": {"targetRevision": "bar"}}}),
            ),
            json!({"spec": {"source": {"targetRevision": "foo"}}})
        );
    }

    #[test]
    fn ignored_auto_sync_is_neither_added_nor_removed() {
        let rules = [rule("", &[], &[".spec.syncPolicy.automated"])];
        // In the set, not in the cluster: not added.
        assert_eq!(
            kept(
                &rules,
                json!({"spec": {"syncPolicy": {"retry": {"limit": 5}}}}),
                json!({"spec": {"syncPolicy": {"automated": {"selfHeal": true}, "retry": {"limit": 5}}}}),
            ),
            json!({"spec": {"syncPolicy": {"retry": {"limit": 5}}}})
        );
        // In the cluster, not in the set: kept.
        assert_eq!(
            kept(
                &rules,
                json!({"spec": {"syncPolicy": {"automated": {"selfHeal": true}, "retry": {"limit": 5}}}}),
                json!({"spec": {"syncPolicy": {"retry": {"limit": 5}}}}),
            ),
            json!({"spec": {"syncPolicy": {"retry": {"limit": 5}, "automated": {"selfHeal": true}}}})
        );
    }

    #[test]
    fn an_ignored_plugin_by_json_pointer_and_images_in_one_of_many_sources() {
        let rules = [rule("", &["/spec/source/plugin"], &[])];
        let live = json!({"spec": {"source": {"plugin": {"parameters": [{"name": "url", "string": "https://example.com"}]}}}});
        let generated = json!({"spec": {"source": {"plugin": {"parameters": [{"name": "url", "string": "https://example.com/wrong"}]}}}});
        assert_eq!(kept(&rules, live.clone(), generated), live);
        // TestCreateOrUpdateDoesNotRevertIgnoredKustomizeImagesMultiSource.
        let rules = [rule("", &["/spec/sources/1/kustomize/images"], &[])];
        let live = json!({"spec": {"sources": [
            {"repoURL": "a"},
            {"repoURL": "b", "kustomize": {"images": ["app:v2"]}},
        ]}});
        let generated = json!({"spec": {"sources": [{"repoURL": "a"}, {"repoURL": "b"}]}});
        assert_eq!(kept(&rules, live.clone(), generated), live);
    }

    #[test]
    fn a_named_rule_applies_to_its_application_only() {
        let rules = [rule("api", &["/spec/source/targetRevision"], &[])];
        let generated = json!({"spec": {"source": {"targetRevision": "bar"}}});
        assert_eq!(
            kept(
                &rules,
                json!({"spec": {"source": {"targetRevision": "foo"}}}),
                generated.clone()
            ),
            generated
        );
    }

    #[test]
    fn jq_paths_of_fields_and_indexes_are_pointers_and_filters_are_refused() {
        assert_eq!(
            jq_path_pointer(".spec.source.targetRevision").as_deref(),
            Some("/spec/source/targetRevision")
        );
        assert_eq!(
            jq_path_pointer(r#".metadata.annotations["foo.bar/x"]"#).as_deref(),
            Some("/metadata/annotations/foo.bar~1x")
        );
        assert_eq!(
            jq_path_pointer(r#".spec.sources[1]."helm-x""#).as_deref(),
            Some("/spec/sources/1/helm-x")
        );
        for filter in [
            r#".spec.source.helm.parameters | select(.name == "image.tag")"#,
            ".spec.sources[].helm",
            "spec.source",
            ".",
            "",
        ] {
            assert!(jq_path_pointer(filter).is_none(), "{filter}");
        }
        let error = compile(&[rule("", &[], &[".spec.sources[] | .helm"])]).unwrap_err();
        assert!(
            error.starts_with(
                r#"failed to build ignore diff config: jqPathExpressions ".spec.sources[] | .helm" is not supported"#
            ),
            "{error}"
        );
    }
}
