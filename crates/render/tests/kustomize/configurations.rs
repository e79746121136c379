//! `configurations` files merged with kustomize's defaults. Expected outputs were taken
//! from `kubectl kustomize` (kustomize v5.5): the merge keeps the first of two specs for
//! the same path when the first's kind is one the second selects, and tables are sorted
//! with named kinds first — so a spec for one kind replaces a default for every kind.

use flotilla_render::kustomize::{self, MemTree};
use serde_json::Value;

const RESOURCES: &str = "apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
---
apiVersion: v1
kind: Secret
metadata: {name: sec}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: dep}
spec: {template: {spec: {containers: [{name: c}]}}}
";

fn build(files: &[(&str, &str)]) -> Result<Vec<Value>, String> {
    let mut all = vec![
        ("r.yaml", RESOURCES.to_string()),
        ("base/r.yaml", RESOURCES.to_string()),
    ];
    all.extend(files.iter().map(|(p, t)| (*p, t.to_string())));
    let tree = MemTree::from_files(all);
    kustomize::build(&tree, ".").map_err(|e| e.to_string())
}

fn names(objects: &[Value]) -> Vec<&str> {
    objects
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap_or(""))
        .collect()
}

#[test]
fn a_name_prefix_spec_for_one_kind_replaces_the_default_for_all() {
    let objects = build(&[
        (
            "kustomization.yaml",
            "resources: [r.yaml]\nnamePrefix: p-\nnameSuffix: -s\nconfigurations: [c.yaml]\n",
        ),
        (
            "c.yaml",
            "namePrefix:\n- path: metadata/name\n  kind: Secret\n",
        ),
    ])
    .expect("build");
    // The suffix keeps its default; the prefix reaches only the Secret, once.
    assert_eq!(names(&objects), ["cm-s", "p-sec-s", "dep-s"]);

    // A kind-less spec beside it is hidden the same way.
    let objects = build(&[
        (
            "kustomization.yaml",
            "resources: [r.yaml]\nnamePrefix: p-\nconfigurations: [c.yaml]\n",
        ),
        (
            "c.yaml",
            "namePrefix:\n- path: metadata/name\n- path: metadata/name\n  kind: Secret\n",
        ),
    ])
    .expect("build");
    assert_eq!(names(&objects), ["cm", "p-sec", "dep"]);
}

#[test]
fn a_base_configuration_holds_in_its_overlays() {
    let objects = build(&[
        (
            "base/kustomization.yaml",
            "resources: [r.yaml]\nconfigurations: [c.yaml]\n",
        ),
        (
            "base/c.yaml",
            "commonAnnotations:\n- path: metadata/annotations\n  kind: Secret\n  create: true\n",
        ),
        (
            "kustomization.yaml",
            "resources: [base]\ncommonAnnotations: {team: x}\n",
        ),
    ])
    .expect("build");
    let annotated: Vec<&str> = objects
        .iter()
        .filter(|o| o["metadata"]["annotations"]["team"] == "x")
        .map(|o| o["kind"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(annotated, ["Secret"]);
    // The Deployment's pod template still gets it: that default has its own path.
    let dep = objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("dep");
    assert_eq!(
        dep["spec"]["template"]["metadata"]["annotations"]["team"],
        "x"
    );
}

#[test]
fn specs_that_disagree_on_create_are_a_conflict() {
    let error = build(&[
        (
            "kustomization.yaml",
            "resources: [r.yaml]\ncommonAnnotations: {team: x}\nconfigurations: [c.yaml]\n",
        ),
        (
            "c.yaml",
            "commonAnnotations:\n- path: metadata/annotations\n  kind: Secret\n",
        ),
    ])
    .expect_err("create: false against the default's create: true");
    assert!(error.contains("kustomization.yaml"), "{error}");
    assert!(
        error.contains("failed to merge CommonAnnotations fieldSpec: conflicting fieldspecs"),
        "{error}"
    );
}
