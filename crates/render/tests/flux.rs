//! Flux Kustomization builds: generated and existing kustomizations with the spec's
//! overlay, post-build substitution and kustomize-controller's post-processing. The
//! expectations follow fluxcd/pkg `kustomize` (generator, varsub) and `ssa/normalize`.

use std::collections::BTreeMap;

use flotilla_render::flux::{self, BuildSpec, FluxBuildError, Owner, Strictness};
use flotilla_render::kustomize::MemTree;
use serde_json::{Value, json};

fn owner() -> Owner {
    Owner {
        name: "apps".into(),
        namespace: "flux-system".into(),
    }
}

fn spec(value: Value) -> BuildSpec {
    serde_json::from_value(value).expect("a valid spec")
}

fn build(tree: &MemTree, spec_json: Value) -> Result<Vec<Value>, FluxBuildError> {
    let spec = spec(spec_json);
    let vars = match &spec.post_build {
        Some(pb) => flux::variables(pb, &|_| Ok(None))?,
        None => BTreeMap::new(),
    };
    flux::build(tree, &spec, &owner(), &vars, Strictness::Strict)
}

fn names(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conf\ndata:\n  k: v\n";

#[test]
fn a_directory_without_kustomization_gets_one_generated_from_its_yaml_files() {
    let tree = MemTree::from_files([
        ("deploy/cm.yaml", CM),
        ("deploy/notes.txt", "not yaml, ignored"),
        (
            "deploy/more/sa.yml",
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: runner\n",
        ),
        // a subdirectory with its own kustomization is one resource, not walked into
        (
            "deploy/base/kustomization.yaml",
            "namePrefix: base-\nresources: [svc.yaml]\n",
        ),
        (
            "deploy/base/svc.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n",
        ),
        (
            "deploy/base/stray.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: unlisted\n",
        ),
    ]);
    let objects = build(
        &tree,
        json!({"path": "./deploy", "targetNamespace": "team-a"}),
    )
    .unwrap();
    let mut got = names(&objects);
    got.sort();
    assert_eq!(
        got,
        [
            "ConfigMap/conf",
            "Service/base-web",
            "ServiceAccount/runner"
        ]
    );
    for o in &objects {
        assert_eq!(o["metadata"]["namespace"], "team-a", "{o}");
        assert_eq!(
            o["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"],
            "apps"
        );
        assert_eq!(
            o["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/namespace"],
            "flux-system"
        );
    }
    // kustomize-controller's normaliser gives ports a protocol.
    let svc = objects.iter().find(|o| o["kind"] == "Service").unwrap();
    assert_eq!(svc["spec"]["ports"][0]["protocol"], "TCP");
}

#[test]
fn an_empty_directory_builds_nothing() {
    let tree = MemTree::from_files([("empty/README.md", "# nothing")]);
    assert_eq!(
        build(&tree, json!({"path": "empty"})).unwrap(),
        Vec::<Value>::new()
    );
}

#[test]
fn the_spec_overlays_an_existing_kustomization() {
    let tree = MemTree::from_files([
        (
            "app/kustomization.yaml",
            "namePrefix: old-\nnamespace: dev\nresources: [deploy.yaml]\nimages:\n- name: nginx\n  newTag: \"1.0\"\n",
        ),
        (
            "app/deploy.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx\n        ports:\n        - containerPort: 80\n      - name: side\n        image: busybox\n",
        ),
        (
            "app/extra/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ncommonLabels:\n  tier: web\n",
        ),
    ]);
    let objects = build(
        &tree,
        json!({
            "path": "app",
            "namePrefix": "new-",
            "targetNamespace": "prod",
            "components": ["extra", "missing"],
            "ignoreMissingComponents": true,
            "images": [
                {"name": "nginx", "newTag": "1.27"},
                {"name": "busybox", "newName": "registry.local/busybox", "digest": "sha256:abc"}
            ],
            "patches": [{
                "patch": "- op: add\n  path: /metadata/annotations\n  value: {patched: \"yes\"}\n",
                "target": {"kind": "Deployment"}
            }],
            "commonMetadata": {"labels": {"team": "payments"}, "annotations": {"owner": "platform"}}
        }),
    )
    .unwrap();
    assert_eq!(names(&objects), ["Deployment/new-web"]);
    let d = &objects[0];
    assert_eq!(d["metadata"]["namespace"], "prod");
    assert_eq!(d["metadata"]["annotations"]["patched"], "yes");
    assert_eq!(d["metadata"]["annotations"]["owner"], "platform");
    assert_eq!(d["metadata"]["labels"]["team"], "payments");
    assert_eq!(d["metadata"]["labels"]["tier"], "web");
    let containers = &d["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers[0]["image"], "nginx:1.27");
    assert_eq!(containers[0]["ports"][0]["protocol"], "TCP");
    assert_eq!(containers[1]["image"], "registry.local/busybox@sha256:abc");
}

#[test]
fn bad_specs_and_sources_fail_with_upstreams_messages() {
    let tree = MemTree::from_files([
        ("ok/cm.yaml", CM),
        ("broken/bad.yaml", "apiVersion: v1\nkind: [unclosed\n"),
        (
            "noname/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: {a: b}\n",
        ),
    ]);
    let err = build(&tree, json!({"path": "./nowhere"})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "kustomization path not found: ./nowhere: no such file or directory"
    );
    let err = build(
        &tree,
        json!({"path": "ok", "components": ["https://github.com/x/y//c"]}),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "component path 'https://github.com/x/y//c' must be local and relative"
    );
    let err = build(&tree, json!({"path": "ok", "components": ["/etc"]})).unwrap_err();
    assert!(matches!(err, FluxBuildError::ComponentNotLocal(_)), "{err}");
    let err = build(&tree, json!({"path": "broken"})).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("failed to decode Kubernetes YAML from broken/bad.yaml"),
        "{err}"
    );
    let err = build(&tree, json!({"path": "../outside"})).unwrap_err();
    assert!(matches!(err, FluxBuildError::Tree(_)), "{err}");
    let err = build(&tree, json!({"path": "noname"})).unwrap_err();
    assert!(
        err.to_string().starts_with("kustomize build failed")
            || matches!(err, FluxBuildError::Identity(_)),
        "{err}"
    );
}

#[test]
fn post_build_substitutes_variables_from_the_spec_and_from_sources() {
    let tree = MemTree::from_files([(
        "app/deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-${cluster_env:=dev}\n  annotations:\n    script: echo $HOME $${literal}\nspec:\n  replicas: ${replicas}\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:${tag}\n",
    )]);
    let spec = spec(json!({
        "path": "app",
        "postBuild": {
            "substitute": {"tag": "1.27\n", "replicas": "3"},
            "substituteFrom": [
                {"kind": "ConfigMap", "name": "cluster-vars"},
                {"kind": "Secret", "name": "absent", "optional": true}
            ]
        }
    }));
    let read = |r: &flux::SubstituteReference| -> Result<Option<BTreeMap<String, String>>, String> {
        Ok(
            (r.kind == "ConfigMap" && r.name == "cluster-vars").then(|| {
                BTreeMap::from([
                    ("cluster_env".to_string(), "prod".to_string()),
                    ("tag".to_string(), "overridden-by-inline".to_string()),
                ])
            }),
        )
    };
    let vars = flux::variables(spec.post_build.as_ref().unwrap(), &read).unwrap();
    assert_eq!(vars["tag"], "1.27", "inline wins and newlines are removed");
    let objects = flux::build(&tree, &spec, &owner(), &vars, Strictness::Strict).unwrap();
    let d = &objects[0];
    assert_eq!(d["metadata"]["name"], "web-prod");
    // the substituted text is parsed again: a bare number becomes a number
    assert_eq!(d["spec"]["replicas"], json!(3));
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    assert_eq!(
        d["metadata"]["annotations"]["script"],
        "echo $HOME ${literal}"
    );

    // a required source that is missing
    let missing = |_: &flux::SubstituteReference| Ok(None);
    let err = flux::variables(
        &serde_json::from_value(json!({"substituteFrom": [{"kind": "ConfigMap", "name": "vars"}]}))
            .unwrap(),
        &missing,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "substitute from 'ConfigMap/vars' error: configmaps \"vars\" not found"
    );
}

#[test]
fn strict_substitution_names_the_object_and_the_variable() {
    let tree = MemTree::from_files([(
        "app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conf\ndata:\n  region: ${region}\n",
    )]);
    let s = spec(json!({"path": "app", "postBuild": {"substitute": {"other": "x"}}}));
    let vars = BTreeMap::from([("other".to_string(), "x".to_string())]);
    let err = flux::build(&tree, &s, &owner(), &vars, Strictness::Strict).unwrap_err();
    assert_eq!(
        err.to_string(),
        "post build failed for '~G_v1_ConfigMap/conf': envsubst error: variable substitution failed: variable not set (strict mode): \"region\""
    );
    let objects = flux::build(&tree, &s, &owner(), &vars, Strictness::Lenient).unwrap();
    // The text `region: ` is parsed again: an empty plain scalar is null, as upstream.
    assert_eq!(objects[0]["data"]["region"], Value::Null);

    let bad = BTreeMap::from([("1bad".to_string(), "x".to_string())]);
    let err = flux::build(&tree, &s, &owner(), &bad, Strictness::Strict).unwrap_err();
    assert!(
        err.to_string().starts_with("'1bad' var name is invalid"),
        "{err}"
    );
}

#[test]
fn substitution_is_skipped_without_variables_or_when_disabled() {
    let tree = MemTree::from_files([
        (
            "app/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conf\ndata:\n  env: ${env:=dev}\n",
        ),
        (
            "app/off.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: off\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\ndata:\n  env: ${env}\n",
        ),
    ]);
    let none = BTreeMap::new();
    // WithVariables (the default) and no variable: the text stays.
    let s = spec(json!({"path": "app", "postBuild": {}}));
    let objects = flux::build(&tree, &s, &owner(), &none, Strictness::Strict).unwrap();
    let conf = objects
        .iter()
        .find(|o| o["metadata"]["name"] == "conf")
        .unwrap();
    assert_eq!(conf["data"]["env"], "${env:=dev}");
    // Always: the defaults apply; the disabled object is left alone.
    let s = spec(json!({"path": "app", "postBuild": {"substituteStrategy": "Always"}}));
    let objects = flux::build(&tree, &s, &owner(), &none, Strictness::Strict).unwrap();
    let conf = objects
        .iter()
        .find(|o| o["metadata"]["name"] == "conf")
        .unwrap();
    assert_eq!(conf["data"]["env"], "dev");
    let off = objects
        .iter()
        .find(|o| o["metadata"]["name"] == "off")
        .unwrap();
    assert_eq!(off["data"]["env"], "${env}");
}

#[test]
fn secrets_string_data_is_folded_and_status_dropped() {
    let tree = MemTree::from_files([(
        "app/s.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  a: YQ==\nstringData:\n  b: bee\nstatus:\n  x: y\n",
    )]);
    let objects = build(&tree, json!({"path": "app"})).unwrap();
    let s = &objects[0];
    assert_eq!(s["data"], json!({"a": "YQ==", "b": "YmVl"}));
    assert!(s.get("stringData").is_none());
    assert!(s.get("status").is_none());
}

/// kustomize-controller builds without `--enable-helm`, so `helmCharts` fail there as
/// kustomize fails, even with the chart vendored.
#[test]
fn helm_charts_fail_as_kustomize_fails_without_enable_helm() {
    let tree = MemTree::from_files([
        (
            "app/kustomization.yaml",
            "helmCharts:\n- name: web\n  releaseName: r\n",
        ),
        (
            "app/charts/web/Chart.yaml",
            "apiVersion: v2\nname: web\nversion: 0.1.0\n",
        ),
    ]);
    let err = build(&tree, json!({"path": "app"})).unwrap_err();
    assert!(matches!(err, FluxBuildError::Build(_)), "{err}");
    assert!(
        err.to_string().contains(
            "app/kustomization.yaml: field helmCharts[0]: chart \"web\": must specify --enable-helm"
        ),
        "{err}"
    );
}
