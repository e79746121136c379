//! Template rendering cases re-authored from Argo CD's `applicationset/utils/utils_test.go`
//! (`TestRenderTemplateParamsGoTemplate`, `TestRenderTemplateKeys`,
//! `Test_Render_Replace_no_panic_on_missing_closing_brace`, `TestRenderTemplateParamsFinalizers`),
//! with the outputs and error texts those tests expect.

mod support;

use flotilla_fleet::appset::{MemoryRepos, RenderParams, Renderer, generate_applications};
use serde_json::{Value, json};
use support::*;

fn go(text: &str, params: Value, options: &[&str]) -> Result<String, String> {
    let options: Vec<String> = options.iter().map(|o| o.to_string()).collect();
    let params = params.as_object().cloned().unwrap_or_default();
    Renderer::new(true, &options)
        .replace(text, &RenderParams::new(&params))
        .map_err(|e| e.to_string())
}

#[test]
fn go_template_cases_from_argo() {
    let image = json!({"replicas": 3, "image": {"name": "busybox", "version": "latest"}});
    let hpa = |enabled: bool| json!({"replicas": 3, "hpa": {"enabled": enabled, "minReplicas": 1, "maxReplicas": 5}});
    let cases: Vec<(&str, Value, &str)> = vec![
        ("{{ .one }}", json!({"one": "two"}), "two"),
        ("{{ .one }}", json!({"one": "{{one}}"}), "{{one}}"),
        ("{{.one}}{{.one}}", json!({"one": "two"}), "twotwo"),
        (
            "{{.one}} {{.three}}",
            json!({"one": "\"hello\" world", "three": "four"}),
            "\"hello\" world four",
        ),
        ("{{ .image.version }}", image.clone(), "latest"),
        (
            "{{ .image.name }}:{{ .image.version }}",
            image,
            "busybox:latest",
        ),
        (
            "{{ if .hpa.enabled }}{{ .hpa.maxReplicas }}{{ else }}{{ .replicas }}{{ end }}",
            hpa(true),
            "5",
        ),
        (
            "{{ if .hpa.enabled }}{{ .hpa.maxReplicas }}{{ else }}{{ .replicas }}{{ end }}",
            hpa(false),
            "3",
        ),
        (
            "{{ range .volumes }}[{{ .name }}]{{ end }}",
            json!({"volumes": [{"name": "volume-one", "emptyDir": {}}, {"name": "volume-two", "emptyDir": {}}]}),
            "[volume-one][volume-two]",
        ),
        (
            r#"{{ index .admin "admin-ca" }}, {{ index .admin "admin-jks" }}"#,
            json!({"admin": {"admin-ca": "value admin ca", "admin-jks": "value admin jks"}}),
            "value admin ca, value admin jks",
        ),
        (
            r#"{{ index .admin "admin-ca" }}, \\ "Hello world", {{ index .admin "admin-jks" }}"#,
            json!({"admin": {"admin-ca": r#"value "admin" ca with \"#, "admin-jks": "value admin jks"}}),
            r#"value "admin" ca with \, \\ "Hello world", value admin jks"#,
        ),
        ("{{.quote}}", json!({"quote": "\""}), "\""),
        (
            "--> {{.doesnotexist}} <--",
            json!({"unused": "this is not used"}),
            "--> <no value> <--",
        ),
        (
            "{{ toYaml . | indent 2 }}",
            json!({"foo": {"bar": {"bool": true, "number": 2, "str": "Hello world"}}}),
            "  foo:\n    bar:\n      bool: true\n      number: 2\n      str: Hello world",
        ),
        (
            r#"{{ get (fromYaml .value) "hello" }}"#,
            json!({"value": "hello: world"}),
            "world",
        ),
        (
            "{{ fromYamlArray .value | last }}",
            json!({"value": "- hello world\n- bonjour tout le monde"}),
            "bonjour tout le monde",
        ),
    ];
    let mut failures = Vec::new();
    for (text, params, want) in &cases {
        match go(text, params.clone(), &[]) {
            Ok(got) if got == *want => {}
            other => failures.push(format!("{text}: want {want:?}, got {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn go_template_errors_from_argo() {
    assert_eq!(
        go(
            "{{functiondoesnotexist}}",
            json!({"data": "a data string"}),
            &[]
        )
        .unwrap_err(),
        r#"failed to parse template {{functiondoesnotexist}}: template: base:1: function "functiondoesnotexist" not defined"#
    );
    assert_eq!(
        go(
            "--> {{.doesnotexist}} <--",
            json!({"unused": "this is not used"}),
            &["missingkey=error"]
        )
        .unwrap_err(),
        r#"failed to execute go template --> {{.doesnotexist}} <--: template: base:1:6: executing "base" at <.doesnotexist>: map has no entry for key "doesnotexist""#
    );
    // Argo CD expects `... can't evaluate field test in type interface {}` (Go names the map's
    // element type); flotilla-template names the value's type (`string`): reported.
    let err = go("{{.data.test}}", json!({"data": "a data string"}), &[]).unwrap_err();
    assert!(
        err.starts_with(r#"failed to execute go template {{.data.test}}: template: base:1:7: executing "base" at <.data.test>: can't evaluate field test in type "#),
        "{err}"
    );
    // Argo CD expects `... at <fromYaml .value>: error calling fromYaml: error unmarshaling
    // JSON: while decoding JSON: json: cannot unmarshal ...`. flotilla-template names only the
    // function (`<fromYaml>`; Go names the whole command, checked with Go) and its YAML error
    // lacks sigs.k8s.io/yaml's `while decoding JSON: `; both are reported to the template crate.
    let err = go(
        r#"{{ get (fromYaml .value) "hello" }}"#,
        json!({"value": "non\n compliant\n yaml"}),
        &[],
    )
    .unwrap_err();
    assert!(
        err.starts_with("failed to execute go template {{ get (fromYaml .value) \"hello\" }}: template: base:1:8: executing \"base\" at <fromYaml"),
        "{err}"
    );
    assert!(
        err.contains("error calling fromYaml: error unmarshaling JSON: "),
        "{err}"
    );
    assert!(
        err.ends_with(
            "json: cannot unmarshal string into Go value of type map[string]interface {}"
        ),
        "{err}"
    );
}

// TestRenderTemplateKeys and the "Test No Data" case: keys render in both modes; a parameter
// set without keys leaves the template as written.
#[test]
fn keys_render_and_empty_params_skip_rendering() {
    let repos = MemoryRepos::new();
    for (go_template, key, value) in [
        (false, "annotation-{{key}}", "annotation-{{value}}"),
        (true, "annotation-{{ .key }}", "annotation-{{ .value }}"),
    ] {
        let mut set = shell(go_template);
        set.spec.template = json!({"metadata": {"name": "app", "annotations": {key: value}},
            "spec": {"source": {"repoURL": "r"}, "destination": {"server": "s"}}});
        set.spec.generators =
            vec![json!({"list": {"elements": [{"key": "some-key", "value": "some-value"}]}})];
        let generated = generate_applications(&set, ctx(&repos, &[]));
        assert_eq!(generated.error, None);
        let annotations = &generated.applications[0].metadata.annotations;
        assert_eq!(
            annotations.get("annotation-some-key").map(String::as_str),
            Some("annotation-some-value")
        );
    }
    let mut set = shell(true);
    set.spec.template = json!({"metadata": {"name": "{{.data}}"}, "spec": {}});
    set.spec.generators = vec![json!({"list": {"elements": [{}]}})];
    let generated = generate_applications(&set, ctx(&repos, &[]));
    assert_eq!(generated.applications[0].metadata.name, "{{.data}}");
    assert!(generated.applications[0].metadata.finalizers.is_empty());
}

#[test]
fn legacy_unclosed_brace_is_an_error_not_a_panic() {
    let params = serde_json::Map::new();
    let err = Renderer::new(false, &[])
        .replace(
            "{{properly.closed}} {{improperly.closed}",
            &RenderParams::new(&params),
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid template: Cannot find end tag"),
        "{err}"
    );
}

// TestRenderTemplateParamsFinalizers.
#[test]
fn finalizers_follow_preserve_resources_on_deletion() {
    let repos = MemoryRepos::new();
    let cases: [(Option<Value>, Option<&str>, Vec<&str>); 5] = [
        (None, Some("existing-finalizer"), vec!["existing-finalizer"]),
        (None, None, vec!["resources-finalizer.argocd.argoproj.io"]),
        (
            Some(json!({})),
            None,
            vec!["resources-finalizer.argocd.argoproj.io"],
        ),
        (
            Some(json!({"preserveResourcesOnDeletion": true})),
            None,
            vec![],
        ),
        (
            Some(json!({"preserveResourcesOnDeletion": true})),
            Some("resources-finalizer.argocd.argoproj.io/background"),
            vec!["resources-finalizer.argocd.argoproj.io/background"],
        ),
    ];
    for (policy, existing, want) in cases {
        let mut set = shell(false);
        let mut meta = json!({"name": "{{n}}"});
        if let Some(f) = existing {
            meta["finalizers"] = json!([f]);
        }
        set.spec.template = json!({"metadata": meta, "spec": {}});
        set.spec.sync_policy = policy.map(|p| serde_json::from_value(p).unwrap());
        set.spec.generators = vec![json!({"list": {"elements": [{"n": "a"}]}})];
        let generated = generate_applications(&set, ctx(&repos, &[]));
        assert_eq!(generated.applications[0].metadata.finalizers, want);
    }
}

// TestRenderHelmValuesObjectJson/Yaml: strings inside helm.valuesObject are rendered too.
#[test]
fn helm_values_object_is_rendered() {
    let repos = MemoryRepos::new();
    let mut set = shell(true);
    set.spec.template = json!({"metadata": {"name": "app"}, "spec": {
        "source": {"repoURL": "r", "helm": {"valuesObject": {"some": {"string": "{{.test}}"}}}},
        "destination": {"server": "s"}}});
    set.spec.generators = vec![json!({"list": {"elements": [{"test": "Hello world"}]}})];
    let generated = generate_applications(&set, ctx(&repos, &[]));
    let helm = generated.applications[0]
        .spec
        .source
        .as_ref()
        .unwrap()
        .helm
        .as_ref()
        .unwrap();
    assert_eq!(
        helm.values_object,
        Some(json!({"some": {"string": "Hello world"}}))
    );
}
