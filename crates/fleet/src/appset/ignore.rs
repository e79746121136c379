//! `spec.ignoreApplicationDifferences`: fields of a generated Application the ApplicationSet
//! leaves as the live Application has them. Argo CD removes the ignored fields from both
//! copies before comparing them and sends a merge patch between the two, so the server
//! keeps its values; an update here sends the whole object, so the live values are copied
//! into the generated one instead — the same result, and no update when only ignored
//! fields differ.
//!
//! jq path expressions are jq's language as [`flotilla_core::jq`] runs it, filters
//! included: a field they name in either copy takes the live value. An expression that
//! does not compile (or may not end) fails the set, as Argo CD's `BuildIgnoreDiffConfig`;
//! one that fails on an Application ignores nothing there, as Argo CD skips it.

use std::sync::Arc;

use flotilla_core::jq::{JqPath, PathSeg};
use serde_json::Value;

use crate::argocd::applicationset::ApplicationIgnoreDifferences;

/// The ignored fields of one rule: JSON pointers and compiled jq expressions.
#[derive(Debug, Clone)]
pub(crate) struct IgnoreRule {
    /// The Application it applies to; all when empty.
    name: String,
    pointers: Vec<String>,
    expressions: Vec<Arc<JqPath>>,
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
            let expressions = rule
                .jq_path_expressions
                .iter()
                .map(|expression| {
                    JqPath::compile(expression).map_err(|e| {
                        format!(
                            "failed to build ignore diff config: jqPathExpressions {expression:?}: {e}"
                        )
                    })
                })
                .collect::<Result<_, _>>()?;
            Ok(IgnoreRule {
                name: rule.name.clone(),
                pointers,
                expressions,
            })
        })
        .collect()
}

/// Gives `generated` (an Application as JSON) the live Application's value at every pointer
/// a rule for `name` ignores, or no value where the live one has none. A jq expression
/// names its fields in both copies. The identity and the operation stay the generated
/// ones, as Argo CD restores them after normalizing.
pub(crate) fn keep_ignored(rules: &[IgnoreRule], name: &str, live: &Value, generated: &mut Value) {
    for rule in rules.iter().filter(|r| r.name.is_empty() || r.name == name) {
        let mut pointers = rule.pointers.clone();
        for jq in &rule.expressions {
            // Found in either copy; pointers taken before any change, so list indexes
            // of the generated copy still mean what the expression chose.
            let mut found: Vec<Vec<PathSeg>> = Vec::new();
            found.extend(jq.paths(live).unwrap_or_default());
            found.extend(jq.paths(generated).unwrap_or_default());
            found.sort();
            found.dedup();
            pointers.extend(found.iter().map(|path| pointer(path)));
        }
        for pointer in pointers.iter().filter(|p| !protected(p)) {
            match live.pointer(pointer) {
                Some(value) => set(generated, pointer, value.clone()),
                None => remove(generated, pointer),
            }
        }
    }
}

/// The fields Argo CD puts back after normalizing: an ignore rule never changes them.
fn protected(pointer: &str) -> bool {
    [
        "",
        "/apiVersion",
        "/kind",
        "/metadata/name",
        "/metadata/namespace",
        "/operation",
    ]
    .iter()
    .any(|p| pointer == *p || pointer.starts_with(&format!("{p}/")) && !p.is_empty())
}

/// `path` as a JSON pointer (RFC 6901).
fn pointer(path: &[PathSeg]) -> String {
    let mut pointer = String::new();
    for seg in path {
        pointer.push('/');
        match seg {
            PathSeg::Key(k) => pointer.push_str(&k.replace('~', "~0").replace('/', "~1")),
            PathSeg::Index(i) => pointer.push_str(&i.to_string()),
        }
    }
    pointer
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

    // The rest of Argo CD's Test_applyIgnoreDifferences: its jq filters. Each expected
    // Application is the test's `expectedApp`.
    #[test]
    fn argo_cds_jq_filter_cases_keep_the_live_values() {
        // "ignore a one-off annotation with jq"
        assert_eq!(
            kept(
                &[rule(
                    "",
                    &[],
                    &[r#".metadata.annotations | select(.["foo.bar"] == "baz")"#]
                )],
                json!({"metadata": {"annotations": {"foo.bar": "baz", "some.other": "annotation"}}}),
                json!({"metadata": {"annotations": {"some.other": "annotation"}}}),
            ),
            json!({"metadata": {"annotations": {"foo.bar": "baz", "some.other": "annotation"}}})
        );
        // "ignore parameters added to a multi-source app in the cluster"
        assert_eq!(
            kept(
                &[rule(
                    "",
                    &[],
                    &[
                        r#".spec.sources[] | select(.repoURL | contains("test-repo")).helm.parameters"#
                    ]
                )],
                json!({"spec": {"sources": [{"repoURL": "https://git.example.com/test-org/test-repo",
                    "helm": {"parameters": [{"name": "test", "value": "hi"}]}}]}}),
                json!({"spec": {"sources": [{"repoURL": "https://git.example.com/test-org/test-repo"}]}}),
            ),
            json!({"spec": {"sources": [{"repoURL": "https://git.example.com/test-org/test-repo",
                "helm": {"parameters": [{"name": "test", "value": "hi"}]}}]}})
        );
        // "ignore helm parameter with jq": `.name` of a list fails in jq, so Argo CD skips
        // the expression and the generated parameters stand.
        let generated = json!({"spec": {"source": {"helm": {"parameters": [
            {"name": "image.tag", "value": "v1.0.0"}, {"name": "another", "value": "value"}]}}}});
        assert_eq!(
            kept(
                &[rule(
                    "",
                    &[],
                    &[r#".spec.source.helm.parameters | select(.name == "image.tag")"#]
                )],
                json!({"spec": {"source": {"helm": {"parameters": [
                    {"name": "image.tag", "value": "test"}, {"name": "another", "value": "value"}]}}}}),
                generated.clone(),
            ),
            generated
        );
    }

    #[test]
    fn a_filter_keeps_only_the_items_it_selects() {
        let rules = [rule(
            "",
            &[],
            &[r#".spec.sources[] | select(.repoURL == "https://a").targetRevision"#],
        )];
        assert_eq!(
            kept(
                &rules,
                json!({"spec": {"sources": [{"repoURL": "https://a", "targetRevision": "pinned"},
                                             {"repoURL": "https://b", "targetRevision": "old"}]}}),
                json!({"spec": {"sources": [{"repoURL": "https://a", "targetRevision": "main"},
                                             {"repoURL": "https://b", "targetRevision": "main"}]}}),
            ),
            json!({"spec": {"sources": [{"repoURL": "https://a", "targetRevision": "pinned"},
                                         {"repoURL": "https://b", "targetRevision": "main"}]}})
        );
    }

    #[test]
    fn identity_and_operation_are_never_taken_from_the_live_copy() {
        let live = json!({"metadata": {"name": "web", "namespace": "argocd", "labels": {"a": "live"}},
            "operation": {"sync": {"revision": "x"}}});
        let generated =
            json!({"metadata": {"name": "web", "namespace": "argocd", "labels": {"a": "gen"}}});
        assert_eq!(
            kept(
                &[rule("", &[], &[".metadata", ".operation"])],
                live,
                generated
            ),
            json!({"metadata": {"name": "web", "namespace": "argocd", "labels": {"a": "live"}}}),
            "the labels follow the live copy, the name and the absent operation stay"
        );
    }

    #[test]
    fn expressions_that_do_not_compile_or_may_not_end_fail_the_set() {
        for (expression, reason) in [
            (".spec.sources[", "expected"),
            (".spec | recurse(.sources)", "\"recurse\" is not allowed"),
        ] {
            let error = compile(&[rule("", &[], &[expression])]).unwrap_err();
            assert!(
                error.starts_with(&format!(
                    "failed to build ignore diff config: jqPathExpressions {expression:?}: "
                )) && error.contains(reason),
                "{error}"
            );
        }
    }
}
