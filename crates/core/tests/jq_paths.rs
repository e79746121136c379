//! `flotilla_core::jq` against the real jq: for Argo CD's documented ignore expressions
//! and the filters users write, removing the paths we name from an object gives what
//! `jq 'del(EXPR)'` — Argo CD's query — gives. jq is installed
//! by `scripts/test`; without it this test fails, saying so.

use std::process::Command;

use flotilla_core::jq::{JqPath, PathSeg};
use serde_json::{Value, json};

fn objects() -> Vec<Value> {
    vec![
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "annotations": {"autoscaling.alpha.kubernetes.io/behavior": "b", "a.b/c": "x"}},
            "spec": {"replicas": 3, "template": {"spec": {
                "initContainers": [{"name": "istio-init", "image": "i"}, {"name": "setup"}],
                "containers": [
                    {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}, {"name": "B"}, {"name": "A_2", "value": ""}]},
                    {"name": "istio-proxy", "image": "proxy:1", "resources": {"limits": {"cpu": "1"}}}
                ]
            }}},
            "status": {"conditions": [{"type": "Ready", "lastTransitionTime": "t1"}, {"type": "Synced"}]}
        }),
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "webhooks": [{"name": "a", "clientConfig": {"caBundle": "Zm9v"}}, {"name": "b", "clientConfig": {}}]
        }),
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "spec": {"sources": [
                {"repoURL": "https://git.example.com/org/repo1", "targetRevision": "main", "helm": {"parameters": [{"name": "image.tag", "value": "v1"}]}},
                {"repoURL": "https://git.example.com/test-org/test-repo", "targetRevision": "dev"}
            ]}
        }),
        json!({"data": {"config.yaml": "a: 1", "other": "x"}, "spec": "a string", "list": [1, 2, 3]}),
    ]
}

const EXPRESSIONS: &[&str] = &[
    ".spec.replicas",
    r#".data["config.yaml"]"#,
    ".spec.source.helm.values",
    r#".spec.sources[] | select(.repoURL == "https://git.example.com/org/repo1").targetRevision"#,
    ".webhooks[0].clientConfig.caBundle",
    r#".metadata.annotations."autoscaling.alpha.kubernetes.io/behavior""#,
    ".status?.conditions[]?.lastTransitionTime",
    r#".spec.template.spec.initContainers[] | select(.name == "istio-init")"#,
    ".webhooks[]?.clientConfig.caBundle",
    r#".spec.sources[] | select(.repoURL | contains("test-repo")).helm.parameters"#,
    r#".spec.template.spec.containers[] | select(.name | startswith("istio")) | .image"#,
    r#".spec.template.spec.containers[].env[]? | select(.name == "A" and .value != null)"#,
    r#".spec.template.spec.containers[].env[]? | select(.name | test("^A(_[0-9])?$"))"#,
    r#".spec.template.spec.containers[] | select(.name != "app") | .resources.limits"#,
    ".spec.template.spec.containers[-1].name",
    r#".metadata.annotations | select(.["a.b/c"] == "x")"#,
    r#".metadata.annotations | to_entries[] | select(.key | startswith("autoscaling")) | .value"#,
    ".list[1:]",
    ".list[-2:]",
    ".list[:1]",
    ".spec.template.spec.containers[] | .image, .name",
    r#"if .kind == "Deployment" then .spec.replicas else .data.other end"#,
    ".spec.template.spec.containers | first | .env | last",
    ".. | .lastTransitionTime? // empty",
    r#".spec.template.spec.containers[] | select(has("resources")) | .resources"#,
    "getpath([\"spec\", \"replicas\"])",
];

/// `$o | del(EXPR)` by jq — Argo CD's query — or `object` unchanged when jq fails on it
/// (Argo CD then skips the expression for that object).
fn jq_deleted(expression: &str, object: &Value) -> Value {
    let output = Command::new("jq")
        .args(["-c", "-n", "--argjson", "o", &object.to_string()])
        .arg(format!("$o | del({expression})"))
        .output()
        .unwrap_or_else(|e| panic!("jq is missing ({e}): scripts/test installs it"));
    if !output.status.success() {
        return object.clone();
    }
    serde_json::from_slice(&output.stdout).expect("jq prints the object")
}

/// `object` without `paths`, the later list items first so earlier indexes stay right.
fn deleted(object: &Value, mut paths: Vec<Vec<PathSeg>>) -> Value {
    let mut object = object.clone();
    paths.sort();
    for path in paths.iter().rev() {
        let Some((last, parents)) = path.split_last() else {
            continue;
        };
        let mut at = &mut object;
        for seg in parents {
            at = match seg {
                PathSeg::Key(k) => &mut at[k.as_str()],
                PathSeg::Index(i) => &mut at[*i],
            };
        }
        match (last, at) {
            (PathSeg::Key(k), Value::Object(map)) => {
                map.remove(k);
            }
            (PathSeg::Index(i), Value::Array(items)) if *i < items.len() => {
                items.remove(*i);
            }
            _ => {}
        }
    }
    object
}

#[test]
fn deleting_our_paths_equals_jqs_del_for_every_expression_and_object() {
    let mut compared = 0;
    let mut failures = Vec::new();
    for expression in EXPRESSIONS {
        let ours = JqPath::compile(expression).unwrap_or_else(|e| panic!("{expression}: {e}"));
        for object in objects() {
            // Nothing is removed when the expression fails on the object (jaq fails on a few
            // inputs jq yields no path for, e.g. a slice of null: the same result).
            let theirs = jq_deleted(expression, &object);
            let mine = deleted(&object, ours.paths(&object).unwrap_or_default());
            compared += 1;
            if mine != theirs {
                failures.push(format!(
                    "{expression} on {}: ours {mine:?}, jq {theirs:?}",
                    object["kind"]
                ));
            }
        }
    }
    println!(
        "jq del: {} of {compared} results equal",
        compared - failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
