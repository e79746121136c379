//! `replacements` end to end: inline and from files, select/reject, list selectors,
//! delimiters, and the errors upstream gives. The conformance corpus covers the
//! generator and overlay interplay; these pin the rest.

use flotilla_render::kustomize::{self, MemTree};
use serde_json::Value;

const DEPLOY: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {tier: front}
spec:
  template:
    spec:
      containers:
      - name: app
        image: registry.example.com/app:1.0
      - name: side
        image: proxy:2
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: worker
spec:
  template:
    spec:
      containers:
      - name: app
        image: registry.example.com/app:1.0
";

const SOURCE: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: versions
data:
  tag: '2.5'
  full: other.example.com/app:3.1
";

fn build(kustomization: &str, extra: &[(&str, &str)]) -> Result<Vec<Value>, String> {
    let mut files = vec![
        ("kustomization.yaml", kustomization.to_string()),
        ("deploy.yaml", DEPLOY.to_string()),
        ("source.yaml", SOURCE.to_string()),
    ];
    files.extend(extra.iter().map(|(p, t)| (*p, t.to_string())));
    let tree = MemTree::from_files(files);
    kustomize::build(&tree, ".").map_err(|e| e.to_string())
}

fn image(objs: &[Value], name: &str, container: usize) -> String {
    objs.iter()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == name)
        .and_then(|o| o["spec"]["template"]["spec"]["containers"][container]["image"].as_str())
        .unwrap_or("")
        .to_string()
}

#[test]
fn delimiter_replaces_one_part_of_selected_containers_only() {
    let objs = build(
        "resources: [deploy.yaml, source.yaml]
replacements:
- source: {kind: ConfigMap, name: versions, fieldPath: data.tag}
  targets:
  - select: {kind: Deployment}
    reject: [{name: worker}]
    fieldPaths: ['spec.template.spec.containers.[name=app].image']
    options: {delimiter: ':', index: 1}
",
        &[],
    )
    .unwrap();
    assert_eq!(image(&objs, "web", 0), "registry.example.com/app:2.5");
    assert_eq!(image(&objs, "web", 1), "proxy:2");
    assert_eq!(image(&objs, "worker", 0), "registry.example.com/app:1.0");
}

#[test]
fn replacements_from_a_file_with_a_list_and_wildcard_paths() {
    let objs = build(
        "resources: [deploy.yaml, source.yaml]
replacements:
- path: repl.yaml
",
        &[(
            "repl.yaml",
            "- source: {kind: ConfigMap, name: versions, fieldPath: data.full}
  targets:
  - select: {kind: Deployment, name: worker}
    fieldPaths: ['spec.template.spec.containers.*.image']
",
        )],
    )
    .unwrap();
    assert_eq!(image(&objs, "worker", 0), "other.example.com/app:3.1");
    assert_eq!(image(&objs, "web", 0), "registry.example.com/app:1.0");
}

#[test]
fn label_selected_targets_and_created_fields() {
    let objs = build(
        "resources: [deploy.yaml, source.yaml]
replacements:
- source: {kind: ConfigMap, name: versions, fieldPath: data.tag}
  targets:
  - select: {labelSelector: tier=front}
    fieldPaths: [metadata.annotations.version]
    options: {create: true}
",
        &[],
    )
    .unwrap();
    let web = objs
        .iter()
        .find(|o| o["metadata"]["name"] == "web")
        .unwrap();
    assert_eq!(web["metadata"]["annotations"]["version"], "2.5");
    let worker = objs
        .iter()
        .find(|o| o["metadata"]["name"] == "worker")
        .unwrap();
    assert!(worker["metadata"].get("annotations").is_none());
}

#[test]
fn missing_source_ambiguous_source_and_missing_target_field_are_errors() {
    let missing = build(
        "resources: [deploy.yaml]
replacements:
- source: {kind: ConfigMap, name: nope}
  targets: [{select: {kind: Deployment}}]
",
        &[],
    )
    .unwrap_err();
    assert!(missing.contains("nothing selected by"), "{missing}");
    let ambiguous = build(
        "resources: [deploy.yaml]
replacements:
- source: {kind: Deployment}
  targets: [{select: {kind: Deployment}}]
",
        &[],
    )
    .unwrap_err();
    assert!(ambiguous.contains("multiple matches"), "{ambiguous}");
    let no_field = build(
        "resources: [deploy.yaml, source.yaml]
replacements:
- source: {kind: ConfigMap, name: versions, fieldPath: data.tag}
  targets: [{select: {name: web}, fieldPaths: [spec.nothing.here]}]
",
        &[],
    )
    .unwrap_err();
    assert!(
        no_field.contains("unable to find field \"spec.nothing.here\""),
        "{no_field}"
    );
}

#[test]
fn replacement_file_outside_the_kustomization_is_refused() {
    let tree = MemTree::from_files([
        (
            "app/kustomization.yaml",
            "resources: [cm.yaml]\nreplacements:\n- path: ../secret-repl.yaml\n",
        ),
        (
            "app/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n",
        ),
        (
            "secret-repl.yaml",
            "source: {kind: ConfigMap}\ntargets: []\n",
        ),
    ]);
    let err = kustomize::build(&tree, "app").unwrap_err().to_string();
    assert!(err.starts_with("app/kustomization.yaml:"), "{err}");
    assert!(err.contains("security"), "{err}");
}
