//! `openapi` in a kustomization: custom schemas (`path`, JSON or YAML) and the built-in
//! version (`version`), checked against `kubectl kustomize` on the fixtures under
//! `fixtures/openapi` (see `oracle.rs`). The fixtures' custom kind is a `Pipeline` whose
//! `steps` merge by `name` and `params` by `key` (`x-kubernetes-list-map-keys`, which
//! kyaml prefers to the patch merge key `name`), and whose `runner` refers to the
//! built-in `PodTemplateSpec` the custom schema does not define.
//!
//! kustomize keeps the schema in process-wide state, so the same schema file gives
//! different results depending on where it is named and what the build met before;
//! the tests pin each of those behaviours, surprising ones included.

use serde_json::Value;

use crate::oracle::{both_fail, documents, fixture, ours, same_output};

/// The object of `kind` in a build's output.
fn object<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in the output"))
}

/// The values of `key` in the list at `pointer`.
fn keys(object: &Value, pointer: &str, key: &str) -> Vec<String> {
    object
        .pointer(pointer)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("no list at {pointer}"))
        .iter()
        .map(|e| e[key].as_str().unwrap_or("").to_string())
        .collect()
}

const STEPS: &str = "/spec/steps";
const PARAMS: &str = "/spec/params";
const RUNNER: &str = "/spec/runner/spec/containers";
const CONTAINERS: &str = "/spec/template/spec/containers";
const VOLUMES: &str = "/spec/template/spec/volumes";

#[test]
fn without_a_schema_a_custom_resources_lists_are_replaced() {
    let docs = documents(&same_output("openapi/none", "."));
    let pipeline = object(&docs, "Pipeline");
    assert_eq!(keys(pipeline, STEPS, "name"), ["checkout"]);
    assert_eq!(keys(pipeline, PARAMS, "key"), ["a"]);
    // The built-in schema still merges a Deployment's lists.
    let web = object(&docs, "Deployment");
    assert_eq!(keys(web, CONTAINERS, "name"), ["web", "proxy"]);
}

#[test]
fn a_custom_schema_merges_by_its_keys_and_replaces_the_builtin_schema() {
    let docs = documents(&same_output("openapi/json", "."));
    let pipeline = object(&docs, "Pipeline");
    assert_eq!(keys(pipeline, STEPS, "name"), ["checkout", "test"]);
    // Merged by `key` (the list-map key), so the patch's new `name` renames element a.
    assert_eq!(keys(pipeline, PARAMS, "name"), ["renamed", "second"]);
    // A field the schema does not declare (labels under its ObjectMeta) merges.
    assert_eq!(pipeline["metadata"]["labels"]["app"], "ci");
    // The runner's `$ref` names nothing in the custom schema: replaced.
    assert_eq!(keys(pipeline, RUNNER, "name"), ["agent"]);
    // Named at the top, the custom schema stands alone: a Deployment is no longer known.
    let web = object(&docs, "Deployment");
    assert_eq!(keys(web, CONTAINERS, "name"), ["web"]);
    assert_eq!(keys(web, VOLUMES, "name"), ["data"]);
}

#[test]
fn a_yaml_schema_reads_as_the_json_one() {
    let yaml = same_output("openapi/yaml", ".");
    assert_eq!(
        documents(&yaml),
        documents(&ours("openapi/json", ".").expect("json"))
    );
}

#[test]
fn a_schema_named_in_a_base_or_in_the_overlay_applies_to_the_overlays_patches() {
    for dir in ["nested/schema_in_base", "nested/schema_in_overlay"] {
        let docs = documents(&same_output("openapi", dir));
        assert_eq!(
            keys(object(&docs, "Pipeline"), STEPS, "name"),
            ["checkout", "test"],
            "{dir}"
        );
    }
}

#[test]
fn a_version_named_in_the_overlay_wins_over_a_bases_schema() {
    let docs = documents(&same_output("openapi", "nested/version_in_overlay"));
    assert_eq!(keys(object(&docs, "Pipeline"), STEPS, "name"), ["checkout"]);
}

#[test]
fn a_components_schema_joins_the_builtin_one_once_a_custom_kind_was_seen() {
    // The Pipeline was read before the component: kyaml then reads the built-in schema
    // after the custom one, so the runner's PodTemplateSpec is the built-in one.
    let docs = documents(&same_output("openapi/component", "after_custom_kind"));
    let pipeline = object(&docs, "Pipeline");
    assert_eq!(keys(pipeline, STEPS, "name"), ["checkout", "test"]);
    assert_eq!(keys(pipeline, RUNNER, "name"), ["agent", "cache"]);
    // Only built-in kinds before it: the custom schema stands alone.
    let docs = documents(&same_output("openapi/component", "after_builtin_kinds"));
    assert_eq!(
        keys(object(&docs, "Deployment"), CONTAINERS, "name"),
        ["web"]
    );
}

#[test]
fn a_patch_before_the_schema_keeps_the_builtin_one_under_the_custom_definitions() {
    // A sibling base ran a strategic merge patch first: kyaml had read the built-in
    // schema, and the custom PodSpec (containers only) now replaces the built-in one.
    let docs = documents(&same_output("openapi/patched_before", "overlay"));
    let web = object(&docs, "Deployment");
    assert_eq!(keys(web, CONTAINERS, "name"), ["web", "proxy"]);
    assert_eq!(keys(web, VOLUMES, "name"), ["data"]);
    let docs = documents(&same_output("openapi/patched_before", "unpatched"));
    let web = object(&docs, "Deployment");
    assert_eq!(keys(web, CONTAINERS, "name"), ["web"]);
}

#[test]
fn crds_name_references_while_openapi_gives_merge_keys() {
    let docs = documents(&same_output("openapi/crds", "."));
    let pipeline = object(&docs, "Pipeline");
    assert_eq!(pipeline["spec"]["settingsRef"]["name"], "ci-settings");
    assert_eq!(keys(pipeline, STEPS, "name"), ["checkout", "test"]);
}

#[test]
fn a_schemas_paths_decide_which_kinds_are_cluster_scoped() {
    let docs = documents(&same_output("openapi/paths", "."));
    let ns = |kind: &str, name: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .map(|d| d["metadata"]["namespace"].clone())
            .unwrap_or_else(|| panic!("no {kind} {name}"))
    };
    // Pipelines are served only outside namespaces, Runners also inside.
    assert_eq!(ns("Pipeline", "build"), Value::Null);
    assert_eq!(ns("Runner", "agent"), "ci");
    // kustomize's own table still holds for the kinds it lists; a version it does not
    // list is scoped by the custom schema alone (here: not at all, so namespaced).
    assert_eq!(ns("ClusterRole", "reader"), Value::Null);
    assert_eq!(ns("ClusterRole", "legacy"), "ci");
}

#[test]
fn a_transformers_directory_sets_the_schema_before_the_patches_run() {
    let docs = documents(&same_output("openapi/transformer_dir", "."));
    let pipeline = object(&docs, "Pipeline");
    assert_eq!(keys(pipeline, STEPS, "name"), ["checkout", "test"]);
    assert_eq!(pipeline["metadata"]["labels"]["owner"], "ci");
}

#[test]
fn once_chosen_the_schema_ignores_what_kustomizations_below_ask() {
    // The base names an unknown version and a schema at once; the overlay chose first.
    same_output("openapi/ignored_below", "overlay");
}

#[test]
fn a_schema_that_is_never_needed_is_never_read() {
    same_output("openapi/never_read", ".");
}

#[test]
fn a_missing_schema_file_is_named() {
    let (ours, kubectl) = both_fail("openapi/errors", "missing");
    assert_eq!(
        ours,
        "missing/kustomization.yaml: field openapi.path: missing/schema.json: no such file or directory"
    );
    assert!(kubectl.contains("no such file or directory"), "{kubectl}");
}

#[test]
fn a_malformed_schema_fails_when_first_needed() {
    let (ours, kubectl) = both_fail("openapi/errors", "malformed_json");
    assert!(
        ours.starts_with(
            "malformed_json/kustomization.yaml: field openapi.path: invalid schema file malformed_json/schema.json: "
        ),
        "{ours}"
    );
    assert!(kubectl.contains("invalid schema file"), "{kubectl}");
    let (ours, kubectl) = both_fail("openapi/errors", "malformed_yaml");
    assert!(
        ours.contains("field openapi.path: invalid schema file malformed_yaml/schema.yaml"),
        "{ours}"
    );
    assert!(kubectl.contains("invalid schema file"), "{kubectl}");
}

#[test]
fn a_schema_path_out_of_the_kustomization_is_refused() {
    let (ours, kubectl) = both_fail("openapi/errors", "escape/app");
    assert_eq!(
        ours,
        "escape/app/kustomization.yaml: field openapi.path: security; file 'escape/schema.json' is not in or below 'escape/app'"
    );
    assert!(kubectl.contains("is not in or below"), "{kubectl}");
}

#[test]
fn an_unknown_version_and_a_version_beside_a_path_fail_in_kustomizes_words() {
    let (ours, kubectl) = both_fail("openapi/errors", "unknown_version");
    assert_eq!(
        ours,
        "unknown_version/kustomization.yaml: field openapi.version: the specified OpenAPI version is not built in (v1.20.4; kustomize v5.5.0 has only v1.21.2)"
    );
    assert!(
        kubectl.contains("the specified OpenAPI version is not built in"),
        "{kubectl}"
    );
    let (ours, kubectl) = both_fail("openapi/errors", "both");
    let words = "builtin version and custom schema provided, cannot use both";
    assert_eq!(
        ours,
        format!("both/kustomization.yaml: field openapi: {words}")
    );
    assert!(kubectl.contains(words), "{kubectl}");
    let (ours, kubectl) = both_fail("openapi/errors", "not_a_string");
    assert!(ours.contains("invalid Kustomization"), "{ours}");
    assert!(kubectl.contains("invalid Kustomization"), "{kubectl}");
}

#[test]
fn a_kustomization_below_is_checked_even_when_its_field_does_not_count() {
    // The file is read before kustomize decides the field is ignored.
    let (ours, kubectl) = both_fail("openapi/errors", "nested/missing_below_a_choice");
    assert!(
        ours.starts_with(
            "nested/base/kustomization.yaml: field openapi.path: nested/base/missing.json"
        ),
        "{ours}"
    );
    assert!(kubectl.contains("no such file or directory"), "{kubectl}");
    // Before anything was chosen, an unknown version below fails the build.
    let (ours, kubectl) = both_fail("openapi/errors", "nested/unknown_version_below");
    assert!(ours.contains("field openapi.version"), "{ours}");
    assert!(
        kubectl.contains("the specified OpenAPI version is not built in"),
        "{kubectl}"
    );
}

#[cfg(unix)]
#[test]
fn a_schema_symlink_leading_out_of_the_tree_is_refused() {
    let outside = tempfile::tempdir().expect("scratch dir");
    std::fs::copy(
        fixture("openapi/json/schema.json"),
        outside.path().join("schema.json"),
    )
    .expect("copying the schema");
    let repo = tempfile::tempdir().expect("scratch dir");
    for f in ["kustomization.yaml", "pipeline.yaml", "deployment.yaml"] {
        std::fs::copy(fixture("openapi/json").join(f), repo.path().join(f)).expect("copying");
    }
    std::os::unix::fs::symlink(
        outside.path().join("schema.json"),
        repo.path().join("schema.json"),
    )
    .expect("symlink");
    let tree = flotilla_render::kustomize::DirTree::new(repo.path()).expect("tree");
    let err = flotilla_render::kustomize::build(&tree, ".")
        .expect_err("the schema is outside the tree")
        .to_string();
    assert_eq!(
        err,
        "kustomization.yaml: field openapi.path: schema.json: escapes the root of the tree (a symlink leads outside the tree)"
    );
}

#[test]
fn a_list_keyed_by_several_fields_merges_when_all_keys_agree() {
    let docs = documents(&same_output("openapi/several_keys", "agree"));
    assert_eq!(
        keys(object(&docs, "Gateway"), "/spec/listeners", "name"),
        ["tls", "http"]
    );
}

/// kyaml matches elements of such a list on all its keys, the merge here on the patch
/// merge key alone: where that would give another result, the build is refused by name.
#[test]
fn a_merge_the_keys_would_decide_differently_is_refused() {
    for (dir, detail) in [
        (
            "conflict",
            "spec.listeners: the patch's element with port 443 has protocol UDP, the live one TCP",
        ),
        // kustomize drops the patch's element here (it lacks a key the live one has).
        (
            "missing_key",
            "spec.listeners: the patch's element with port 443 has protocol none, the live one TCP",
        ),
        (
            "builtin_ports",
            "spec.template.spec.containers.ports: the patch's element with containerPort 80 has protocol none, the live one TCP",
        ),
    ] {
        crate::oracle::reference("openapi/several_keys", dir)
            .unwrap_or_else(|e| panic!("kubectl kustomize {dir} fails: {e}"));
        let err = ours("openapi/several_keys", dir).expect_err(dir);
        assert!(
            err.starts_with(&format!(
                "{dir}/kustomization.yaml: strategic merge of a list keyed by several fields is not supported: (inline patch): {detail}"
            )),
            "{err}"
        );
    }
}

#[test]
fn a_custom_schema_is_read_as_kyaml_reads_it() {
    // `merge,retainKeys` merges; `replace` replaces; `x-kubernetes-list-type` alone does
    // not merge; a strategy beside a `$ref` is hidden by the definition it names; a
    // `$ref` to nothing describes nothing; `$patch: delete` removes an element; merged
    // elements come first in the patch's order.
    let docs = documents(&same_output("openapi/list_semantics", "."));
    let widget = object(&docs, "Widget");
    assert_eq!(
        keys(widget, "/spec/items", "name"),
        ["renamed", "three", "one"]
    );
    assert_eq!(keys(widget, "/spec/rules", "name"), ["r1"]);
    assert_eq!(keys(widget, "/spec/replaced", "name"), ["b"]);
    assert_eq!(keys(widget, "/spec/typed", "name"), ["b"]);
    assert_eq!(keys(widget, "/spec/hosts", "name"), ["h2"]);
    assert_eq!(keys(widget, "/spec/dangling", "name"), ["d2"]);
    assert_eq!(keys(widget, "/spec/nested/list", "k"), ["b", "a"]);
}

#[test]
fn a_remote_schema_is_refused() {
    // kustomize would download it; rendering never reaches the network.
    let tree = flotilla_render::kustomize::MemTree::from_files([(
        "kustomization.yaml",
        "openapi:\n  path: https://example.com/schema.json\n",
    )]);
    let err = flotilla_render::kustomize::build(&tree, ".").expect_err("remote");
    assert!(
        matches!(err, flotilla_render::kustomize::Error::Unsupported { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "kustomization.yaml: remote file is not supported: openapi.path https://example.com/schema.json"
    );
}
