//! `helmCharts` (kustomize's HelmChartInflationGenerator) with `--enable-helm`, inflated by
//! Flotilla's Helm renderer.
//!
//! There is no `helm` binary here, so `kubectl kustomize --enable-helm` cannot inflate a
//! chart itself. The differential tests therefore give `kubectl kustomize` (kustomize
//! v5.5.0) the chart already rendered — by our Helm renderer, which is itself checked
//! against Helm's conformance corpus (`tests/helm.rs`) — as a plain resource beside the
//! same transformers: what kustomize does *around* the generator is then compared byte
//! for byte. The byte-compared cases check the behaviours kustomize's
//! `api/krusty/helmchartinflationgenerator_test.go` pins, over charts of our own.

use std::path::Path;

use flotilla_render::helm;
use flotilla_render::kustomize::{self, BuildOptions, DirTree, MemTree};
use serde_json::{Value, json};

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("creating dirs");
    }
    std::fs::write(p, text).expect("writing file");
}

fn helm_on() -> BuildOptions {
    BuildOptions {
        enable_helm: true,
        ..BuildOptions::default()
    }
}

fn build(tree: &dyn kustomize::Tree, dir: &str) -> Result<String, String> {
    kustomize::build_yaml_with(tree, dir, &helm_on()).map_err(|e| e.to_string())
}

// A chart of our own: a Deployment reading a ConfigMap, a Service, a test hook and a CRD.
const SHOP: &[(&str, &str)] = &[
    (
        "Chart.yaml",
        "apiVersion: v2\nname: shop\nversion: 1.2.3\nappVersion: \"2.0\"\n",
    ),
    (
        "values.yaml",
        "replicas: 1\nimage:\n  repository: nginx\n  tag: \"1.25\"\nservice:\n  port: 80\ngreeting: hello\n",
    ),
    (
        "templates/_helpers.tpl",
        "{{- define \"shop.fullname\" -}}\n{{ printf \"%s-%s\" .Release.Name .Chart.Name | trunc 63 | trimSuffix \"-\" }}\n{{- end }}\n{{- define \"shop.labels\" -}}\napp.kubernetes.io/name: {{ .Chart.Name }}\napp.kubernetes.io/instance: {{ .Release.Name }}\nhelm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}\n{{- end }}\n",
    ),
    (
        "templates/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ include \"shop.fullname\" . }}\n  labels:\n    {{- include \"shop.labels\" . | nindent 4 }}\ndata:\n  greeting: {{ .Values.greeting | quote }}\n  namespace: {{ .Release.Namespace }}\n  install: {{ .Release.IsInstall | quote }}\n",
    ),
    (
        "templates/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ include \"shop.fullname\" . }}\n  labels:\n    {{- include \"shop.labels\" . | nindent 4 }}\nspec:\n  replicas: {{ .Values.replicas }}\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: {{ .Chart.Name }}\n  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: {{ .Chart.Name }}\n    spec:\n      containers:\n      - name: web\n        image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n        envFrom:\n        - configMapRef:\n            name: {{ include \"shop.fullname\" . }}\n",
    ),
    (
        "templates/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ include \"shop.fullname\" . }}\n  labels:\n    {{- include \"shop.labels\" . | nindent 4 }}\nspec:\n  selector:\n    app.kubernetes.io/name: {{ .Chart.Name }}\n  ports:\n  - port: {{ .Values.service.port }}\n    targetPort: 8080\n",
    ),
    (
        "templates/tests/ping.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ include \"shop.fullname\" . }}-ping\n  annotations:\n    helm.sh/hook: test\nspec:\n  containers:\n  - name: ping\n    image: busybox\n",
    ),
    (
        "crds/widget.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.shop.example.com\nspec:\n  group: shop.example.com\n  names:\n    kind: Widget\n    plural: widgets\n  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n",
    ),
];

fn write_chart(root: &Path, dir: &str, files: &[(&str, &str)]) {
    for (rel, text) in files {
        write(root, &format!("{dir}/{rel}"), text);
    }
}

/// The transformers both kustomizations share.
const TRANSFORMERS: &str = "namespace: shop-prod\nnamePrefix: prod-\ncommonLabels:\n  team: web\ncommonAnnotations:\n  owner: platform\nimages:\n- name: nginx\n  newTag: \"1.27\"\nreplicas:\n- name: prod-main-shop\n  count: 5\npatches:\n- target:\n    kind: Service\n  patch: |-\n    - op: replace\n      path: /spec/ports/0/targetPort\n      value: 9090\n- patch: |-\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: main-shop\n    spec:\n      template:\n        spec:\n          containers:\n          - name: web\n            env:\n            - name: EXTRA\n              value: \"1\"\n";

/// kustomize's transformers over a chart (namespace, prefix, labels, annotations, images,
/// replicas, JSON and strategic merge patches, the ConfigMap reference renamed): our
/// build with `helmCharts` equals `kubectl kustomize` of the same kustomization with the
/// chart's rendering as its resource.
#[test]
fn transformers_apply_to_a_charts_objects_as_kubectl_kustomize_applies_them() {
    let dir = tempfile::tempdir().expect("scratch dir");
    let root = dir.path();
    write_chart(root, "helm/charts/shop", SHOP);
    write(
        root,
        "helm/kustomization.yaml",
        &format!(
            "{TRANSFORMERS}helmCharts:\n- name: shop\n  releaseName: main\n  namespace: shop-prod\n  includeCRDs: true\n  skipTests: true\n  valuesInline:\n    replicas: 2\n    greeting: hi\n"
        ),
    );
    // The reference: the same chart rendered with the same values as `helm template` is
    // given them (`--set`, not our merge of valuesInline), as a plain resource.
    let chart_tree = DirTree::new(root).expect("tree");
    let mut opts = helm::RenderOptions {
        release_name: "main".into(),
        namespace: "shop-prod".into(),
        include_crds: true,
        skip_tests: true,
        ..helm::RenderOptions::default()
    };
    opts.values.set = vec!["replicas=2".into(), "greeting=hi".into()];
    let rendered = helm::render(&chart_tree, "helm/charts/shop", &opts).expect("renders");
    write(root, "plain/rendered.yaml", &rendered.text);
    write(
        root,
        "plain/kustomization.yaml",
        &format!("{TRANSFORMERS}resources:\n- rendered.yaml\n"),
    );
    let reference = crate::oracle::kubectl_kustomize(&root.join("plain"))
        .unwrap_or_else(|e| panic!("kubectl kustomize failed: {e}"));
    let tree = DirTree::new(root).expect("tree");
    let ours = build(&tree, "helm").unwrap_or_else(|e| panic!("our build failed: {e}"));
    assert_eq!(ours, reference, "ours (left) vs kubectl kustomize (right)");
    // The check can fail: the chart's objects are all there and transformed.
    assert!(
        ours.contains("name: prod-main-shop\n  namespace: shop-prod"),
        "{ours}"
    );
    assert!(ours.contains("kind: CustomResourceDefinition"), "{ours}");
    assert!(!ours.contains("-ping"), "{ours}");
}

/// kustomize's generator order: the chart's objects come after the kustomization's
/// resources and its ConfigMap generator's output (seen with `sortOptions: fifo`), and
/// the name prefix reaches the chart's references too.
#[test]
fn charts_follow_resources_and_configmap_generators_as_kubectl_kustomize_orders_them() {
    let dir = tempfile::tempdir().expect("scratch dir");
    let root = dir.path();
    write_chart(root, "helm/charts/shop", SHOP);
    let own = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: own\ndata:\n  a: b\n";
    write(root, "helm/own.yaml", own);
    write(root, "plain/own.yaml", own);
    let common = "sortOptions:\n  order: fifo\nconfigMapGenerator:\n- name: gen\n  literals: [k=v]\nnamePrefix: x-\n";
    write(
        root,
        "helm/kustomization.yaml",
        &format!("{common}resources: [own.yaml]\nhelmCharts:\n- name: shop\n  releaseName: r1\n"),
    );
    let chart_tree = DirTree::new(root).expect("tree");
    let opts = helm::RenderOptions {
        release_name: "r1".into(),
        ..helm::RenderOptions::default()
    };
    let rendered = helm::render(&chart_tree, "helm/charts/shop", &opts).expect("renders");
    // As a second kustomization below, the rendered chart comes after the generator's
    // ConfigMap, where the generator puts it.
    write(root, "plain/chart/rendered.yaml", &rendered.text);
    write(
        root,
        "plain/chart/kustomization.yaml",
        "resources: [rendered.yaml]\n",
    );
    write(
        root,
        "plain/gen/kustomization.yaml",
        "configMapGenerator:\n- name: gen\n  literals: [k=v]\n",
    );
    write(
        root,
        "plain/kustomization.yaml",
        "sortOptions:\n  order: fifo\nnamePrefix: x-\nresources: [own.yaml, gen, chart]\n",
    );
    let reference = crate::oracle::kubectl_kustomize(&root.join("plain"))
        .unwrap_or_else(|e| panic!("kubectl kustomize failed: {e}"));
    let tree = DirTree::new(root).expect("tree");
    let ours = build(&tree, "helm").unwrap_or_else(|e| panic!("our build failed: {e}"));
    assert_eq!(ours, reference, "ours (left) vs kubectl kustomize (right)");
    let kinds: Vec<String> = crate::oracle::documents(&ours)
        .iter()
        .map(|d| {
            format!(
                "{}/{}",
                d["kind"].as_str().unwrap_or(""),
                d["metadata"]["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(kinds[0], "ConfigMap/x-own");
    assert!(kinds[1].starts_with("ConfigMap/x-gen-"), "{kinds:?}");
    assert_eq!(kinds[2], "ConfigMap/x-r1-shop");
}

// ---- the behaviours kustomize's krusty tests pin (api/krusty/helmchartinflationgenerator_test.go:
// skipTests, nameTemplate, apiVersions, additionalValuesFiles, a pulled chart under overlays),
// each over a chart and values of our own; the expected text follows from the chart and those rules.

const PROBE: &[(&str, &str)] = &[
    (
        "Chart.yaml",
        "apiVersion: v2\nname: probe\nversion: 1.0.0\n",
    ),
    (
        "values.yaml",
        "image: example/web:1.0\npullPolicy: Always\n",
    ),
    (
        "templates/deploy.yaml",
        "{{- $api := \"apps/v1\" }}{{ if .Capabilities.APIVersions.Has \"foo/v1\" }}{{ $api = \"foo/v1\" }}{{ end -}}\napiVersion: {{ $api }}\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {{ .Values.ns | default .Release.Namespace }}\n  labels:\n    chart: {{ .Chart.Name }}-{{ .Chart.Version }}\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: test\n  template:\n    spec:\n      containers:\n      - image: {{ .Values.image }}\n        imagePullPolicy: {{ .Values.pullPolicy }}\n",
    ),
    (
        "templates/probe.yaml",
        "apiVersion: {{ if .Capabilities.APIVersions.Has \"foo/v1\" }}foo/v1{{ else }}apps/v1{{ end }}\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}\n  annotations:\n    helm.sh/hook: test\n",
    ),
];

fn probe_tree(kustomization: &str) -> MemTree {
    let mut files: Vec<(String, String)> = PROBE
        .iter()
        .map(|(p, t)| (format!("charts/probe/{p}"), t.to_string()))
        .collect();
    files.push(("kustomization.yaml".into(), kustomization.into()));
    files.push((
        "charts/valuesFiles/file1.yaml".into(),
        "image: example/web:one\npullPolicy: Never\n".into(),
    ));
    files.push(("charts/valuesFiles/file2.yaml".into(), "ns: two\n".into()));
    MemTree::from_files(files)
}

const KRUSTY_DEPLOY: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    chart: probe-1.0.0
  name: web
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels:
      app: test
  template:
    spec:
      containers:
      - image: example/web:1.0
        imagePullPolicy: Always
";

/// `TestHelmChartInflationGeneratorSkipTests`.
#[test]
fn krusty_skip_tests() {
    let tree =
        probe_tree("helmCharts:\n  - name: probe\n    releaseName: probe\n    skipTests: true\n");
    assert_eq!(build(&tree, "").unwrap(), KRUSTY_DEPLOY);
}

/// `TestHelmChartInflationGeneratorNameTemplate`: no releaseName, the name template's.
#[test]
fn krusty_name_template() {
    let tree = probe_tree("helmCharts:\n  - name: probe\n    nameTemplate: name-template\n");
    let expected = format!(
        "{KRUSTY_DEPLOY}---\napiVersion: apps/v1\nkind: Pod\nmetadata:\n  annotations:\n    helm.sh/hook: test\n  name: name-template\n"
    );
    assert_eq!(build(&tree, "").unwrap(), expected);
}

/// `TestHelmChartInflationGeneratorApiVersions`.
#[test]
fn krusty_api_versions() {
    let tree = probe_tree(
        "helmCharts:\n  - name: probe\n    releaseName: probe\n    apiVersions:\n    - foo/v1\n",
    );
    let expected = format!(
        "{}---\napiVersion: foo/v1\nkind: Pod\nmetadata:\n  annotations:\n    helm.sh/hook: test\n  name: probe\n",
        KRUSTY_DEPLOY.replace("apiVersion: apps/v1", "apiVersion: foo/v1")
    );
    assert_eq!(build(&tree, "").unwrap(), expected);
}

/// `TestHelmChartInflationGeneratorMultipleValuesFiles`: each additional file over the
/// chart's values, in order.
#[test]
fn krusty_multiple_values_files() {
    let tree = probe_tree(
        "helmCharts:\n  - name: probe\n    releaseName: probe\n    additionalValuesFiles:\n    - charts/valuesFiles/file1.yaml\n    - charts/valuesFiles/file2.yaml\n",
    );
    let expected = "apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    chart: probe-1.0.0
  name: web
  namespace: two
spec:
  replicas: 1
  selector:
    matchLabels:
      app: test
  template:
    spec:
      containers:
      - image: example/web:one
        imagePullPolicy: Never
---
apiVersion: apps/v1
kind: Pod
metadata:
  annotations:
    helm.sh/hook: test
  name: probe
";
    assert_eq!(build(&tree, "").unwrap(), expected);
}

// A chart of our own kept where `helm pull` puts a chart.
const GAME: &[(&str, &str)] = &[
    (
        "Chart.yaml",
        "apiVersion: v1\nname: arcade\nversion: 2.4.0\n",
    ),
    ("values.yaml", "rcon:\n  password: change-me\nport: 7777\n"),
    (
        "templates/_name.tpl",
        "{{- define \"game.full\" }}{{ .Release.Name }}-{{ .Chart.Name }}{{ end -}}\n{{- define \"game.labels\" }}\n    app: {{ include \"game.full\" . }}\n    chart: {{ .Chart.Name }}-{{ .Chart.Version }}\n    heritage: {{ .Release.Service }}\n    release: {{ .Release.Name }}\n{{- end -}}\n",
    ),
    (
        "templates/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ include \"game.full\" . }}\n  labels:{{ include \"game.labels\" . }}\ntype: Opaque\ndata:\n  rcon-password: {{ .Values.rcon.password | b64enc | quote }}\n",
    ),
    (
        "templates/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ include \"game.full\" . }}\n  labels:{{ include \"game.labels\" . }}\nspec:\n  type: ClusterIP\n  ports:\n  - name: arcade\n    port: {{ .Values.port }}\n    targetPort: arcade\n    protocol: TCP\n  selector:\n    app: {{ include \"game.full\" . }}\n",
    ),
];

/// `TestHelmChartProdVsDev`'s base: the chart as kustomize inflates it.
const GAME_BASE: &str = "apiVersion: v1
data:
  rcon-password: Y2hhbmdlLW1l
kind: Secret
metadata:
  labels:
    app: play-arcade
    chart: arcade-2.4.0
    heritage: Helm
    release: play
  name: play-arcade
type: Opaque
---
apiVersion: v1
kind: Service
metadata:
  labels:
    app: play-arcade
    chart: arcade-2.4.0
    heritage: Helm
    release: play
  name: play-arcade
spec:
  ports:
  - name: arcade
    port: 7777
    protocol: TCP
    targetPort: arcade
  selector:
    app: play-arcade
  type: ClusterIP
";

/// `TestHelmChartProdVsDev`: a base inflating a chart kept where `helm pull` would have
/// put it (`charts/arcade-2.4.0/arcade`, as `repo` and `version` are set), and
/// overlays putting it in two namespaces with two prefixes.
/// (kustomize v5.5.0 does not yet pass an overlay's namespace down to the chart's
/// `.Release.Namespace`; later versions do.)
#[test]
fn krusty_prod_vs_dev() {
    let mut files: Vec<(String, String)> = GAME
        .iter()
        .map(|(p, t)| {
            (
                format!("base/charts/arcade-2.4.0/arcade/{p}"),
                t.to_string(),
            )
        })
        .collect();
    files.extend([
        (
            "base/kustomization.yaml".to_string(),
            "helmCharts:\n- name: arcade\n  repo: https://charts.example.com\n  version: 2.4.0\n  releaseName: play\n".to_string(),
        ),
        ("prod/kustomization.yaml".into(), "namespace: prod\nnamePrefix: live-\nresources:\n- ../base\n".into()),
        ("dev/kustomization.yaml".into(), "namespace: dev\nnamePrefix: trial-\nresources:\n- ../base\n".into()),
        // kustomize's test harness builds with `Reorder: none`; `kubectl kustomize` sorts
        // unless told so.
        ("both/kustomization.yaml".into(), "sortOptions:\n  order: fifo\nresources:\n- ../dev\n- ../prod\n".into()),
    ]);
    let tree = MemTree::from_files(files);
    let base = GAME_BASE;
    assert_eq!(build(&tree, "base").unwrap(), base);
    let overlay = |prefix: &str, ns: &str| {
        base.replace(
            "  name: play-arcade\n",
            &format!("  name: {prefix}play-arcade\n  namespace: {ns}\n"),
        )
    };
    assert_eq!(build(&tree, "prod").unwrap(), overlay("live-", "prod"));
    assert_eq!(
        build(&tree, "both").unwrap(),
        format!(
            "{}---\n{}",
            overlay("trial-", "dev"),
            overlay("live-", "prod")
        )
    );
}

// ---- values, release and output options: a chart that prints what it was given.

const ECHO: &[(&str, &str)] = &[
    ("Chart.yaml", "apiVersion: v2\nname: echo\nversion: 0.1.0\n"),
    (
        "values.yaml",
        "a:\n  x: 1\n  y: 1\nlist: [1, 2]\nkeep: chart\n",
    ),
    (
        "templates/values.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-values\n  namespace: {{ .Release.Namespace }}\ndata:\n  values: {{ toJson .Values | quote }}\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n",
    ),
    (
        "templates/test.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}-test\n  annotations:\n    helm.sh/hook: test\n",
    ),
    (
        "templates/hook.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{ .Release.Name }}-migrate\n  annotations:\n    helm.sh/hook: pre-install\n",
    ),
    (
        "crds/thing.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: things.echo.example.com\n",
    ),
];

fn echo_tree(kustomization: &str, extra: &[(&str, &str)]) -> MemTree {
    let mut files: Vec<(String, String)> = ECHO
        .iter()
        .map(|(p, t)| (format!("app/charts/echo/{p}"), t.to_string()))
        .collect();
    files.push(("app/kustomization.yaml".into(), kustomization.into()));
    for (p, t) in extra {
        files.push((p.to_string(), t.to_string()));
    }
    MemTree::from_files(files)
}

fn objects(tree: &MemTree, opts: &BuildOptions) -> Vec<Value> {
    kustomize::build_with(tree, "app", opts).unwrap_or_else(|e| panic!("build failed: {e}"))
}

/// The values the chart saw, from its ConfigMap.
fn values_seen(tree: &MemTree) -> Value {
    let objs = objects(tree, &helm_on());
    let cm = objs
        .iter()
        .find(|o| o["kind"] == "ConfigMap")
        .expect("the values ConfigMap");
    serde_json::from_str(cm["data"]["values"].as_str().expect("a string")).expect("JSON")
}

fn chart_with(fields: &str) -> String {
    format!("helmCharts:\n- name: echo\n  releaseName: r\n{fields}")
}

#[test]
fn chart_defaults_alone() {
    let tree = echo_tree(&chart_with(""), &[]);
    assert_eq!(
        values_seen(&tree),
        json!({"a": {"x": 1, "y": 1}, "keep": "chart", "list": [1, 2]})
    );
}

/// `valuesMerge: override` (the default): inline over the values file, maps merged,
/// lists replaced.
#[test]
fn values_inline_overrides_the_values_file() {
    for merge in ["", "  valuesMerge: override\n"] {
        let tree = echo_tree(
            &chart_with(&format!(
                "{merge}  valuesFile: mine.yaml\n  valuesInline:\n    a: {{x: 2}}\n    list: [3]\n    extra: 1\n"
            )),
            &[("app/mine.yaml", "keep: file\na:\n  y: 5\n")],
        );
        assert_eq!(
            values_seen(&tree),
            json!({"a": {"x": 2, "y": 5}, "keep": "file", "list": [3], "extra": 1}),
            "valuesMerge {merge:?}"
        );
    }
}

/// `valuesMerge: merge`: the values file wins where both set a value (kyaml's merge with
/// the file as the source).
#[test]
fn values_merge_lets_the_file_win() {
    let tree = echo_tree(
        &chart_with(
            "  valuesMerge: merge\n  valuesInline:\n    a: {x: 2, z: 3}\n    list: [3]\n    extra: 1\n",
        ),
        &[],
    );
    assert_eq!(
        values_seen(&tree),
        json!({"a": {"x": 1, "y": 1, "z": 3}, "keep": "chart", "list": [1, 2], "extra": 1})
    );
}

/// `valuesMerge: replace`: the values file is not read; the chart's defaults still apply
/// under the inline values, as Helm coalesces them.
#[test]
fn values_replace_drops_the_values_file() {
    let tree = echo_tree(
        &chart_with(
            "  valuesMerge: replace\n  valuesFile: missing.yaml\n  valuesInline:\n    a: {x: 2}\n",
        ),
        &[],
    );
    assert_eq!(
        values_seen(&tree),
        json!({"a": {"x": 2, "y": 1}, "keep": "chart", "list": [1, 2]})
    );
}

/// additionalValuesFiles come after the first values file, each over the one before.
#[test]
fn additional_values_files_layer_in_order() {
    let tree = echo_tree(
        &chart_with(
            "  valuesInline: {keep: inline}\n  additionalValuesFiles: [v/one.yaml, v/two.yaml]\n",
        ),
        &[
            ("app/v/one.yaml", "keep: one\na: {x: 10}\n"),
            ("app/v/two.yaml", "a: {y: 20}\n"),
        ],
    );
    assert_eq!(
        values_seen(&tree),
        json!({"a": {"x": 10, "y": 20}, "keep": "one", "list": [1, 2]})
    );
}

/// valuesInline is read as kustomize decodes the kustomization (YAML 1.1): `yes` is true.
#[test]
fn values_inline_reads_yaml_1_1_booleans() {
    let tree = echo_tree(&chart_with("  valuesInline:\n    keep: yes\n"), &[]);
    assert_eq!(values_seen(&tree)["keep"], json!(true));
}

#[test]
fn release_namespace_crds_tests_and_hooks() {
    let names = |k: &str, opts: &BuildOptions| -> Vec<String> {
        objects(&echo_tree(k, &[]), opts)
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap(),
                    o["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect()
    };
    let on = helm_on();
    assert_eq!(
        names(&chart_with(""), &on),
        ["ConfigMap/r-values", "Job/r-migrate", "Pod/r-test"]
    );
    assert_eq!(
        names(&chart_with("  includeCRDs: true\n  skipTests: true\n"), &on),
        [
            "CustomResourceDefinition/things.echo.example.com",
            "ConfigMap/r-values",
            "Job/r-migrate"
        ]
    );
    assert_eq!(
        names(&chart_with("  skipHooks: true\n"), &on),
        ["ConfigMap/r-values"]
    );
    let objs = objects(
        &echo_tree(
            &chart_with("  namespace: team-a\n  kubeVersion: \"1.16\"\n"),
            &[],
        ),
        &on,
    );
    assert_eq!(objs[0]["metadata"]["namespace"], "team-a");
    // Helm 4 keeps the version as written, with a `v` (Helm 3 printed v1.16.0).
    assert_eq!(objs[0]["data"]["kube"], "v1.16");
    // No releaseName: `helm template`'s own default, whatever `--generate-name` says.
    let objs = objects(&echo_tree("helmCharts:\n- name: echo\n", &[]), &on);
    assert_eq!(objs[0]["metadata"]["name"], "release-name-values");
    assert_eq!(objs[0]["metadata"]["namespace"], "default");
    // nameTemplate is a Go template with Sprig.
    let objs = objects(
        &echo_tree(
            "helmCharts:\n- name: echo\n  nameTemplate: '{{ \"ABC\" | lower }}-x'\n",
            &[],
        ),
        &on,
    );
    assert_eq!(objs[0]["metadata"]["name"], "abc-x-values");
    // The build's --helm-kube-version wins over the chart's kubeVersion.
    let flags = BuildOptions {
        enable_helm: true,
        helm_kube_version: Some("1.29.3".into()),
        ..BuildOptions::default()
    };
    let objs = objects(
        &echo_tree(&chart_with("  kubeVersion: \"1.16\"\n"), &[]),
        &flags,
    );
    assert_eq!(objs[0]["data"]["kube"], "v1.29.3");
}

/// The deprecated `helmChartInflationGenerator`, converted as kustomize converts it.
#[test]
fn the_deprecated_generator_field_is_converted() {
    let tree = MemTree::from_files(
        ECHO.iter()
            .map(|(p, t)| (format!("app/vendor/echo/{p}"), t.to_string()))
            .chain([(
                "app/kustomization.yaml".to_string(),
                "helmChartInflationGenerator:\n- chartName: echo\n  chartHome: vendor\n  releaseName: old\n  valuesLocal: {keep: local}\n".to_string(),
            )]),
    );
    let objs = objects(&tree, &helm_on());
    assert_eq!(objs[0]["metadata"]["name"], "old-values");
    assert!(
        objs[0]["data"]["values"]
            .as_str()
            .unwrap()
            .contains("\"keep\":\"local\"")
    );
}

// ---- refusals: each names the kustomization, the field and the chart.

fn fails(tree: &dyn kustomize::Tree, opts: &BuildOptions) -> String {
    match kustomize::build_with(tree, "app", opts) {
        Ok(objs) => panic!("built {} objects", objs.len()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn without_enable_helm_the_build_fails_as_kustomize_does() {
    let tree = echo_tree(&chart_with(""), &[]);
    let msg = fails(&tree, &BuildOptions::default());
    assert_eq!(
        msg,
        "app/kustomization.yaml: field helmCharts[0]: chart \"echo\": must specify --enable-helm (kustomize inflates Helm charts only when the build enables Helm)"
    );
    // kubectl kustomize says the same words.
    let dir = tempfile::tempdir().expect("scratch dir");
    write(dir.path(), "kustomization.yaml", &chart_with(""));
    let reference = crate::oracle::kubectl_kustomize(dir.path()).unwrap_err();
    assert!(
        reference.contains("must specify --enable-helm"),
        "{reference}"
    );
    // An empty list asks for nothing.
    let empty = echo_tree("helmCharts: []\nhelmGlobals: {chartHome: x}\n", &[]);
    assert!(kustomize::build(&empty, "app").is_ok());
}

#[test]
fn a_chart_missing_from_chart_home_is_named() {
    let tree = echo_tree("helmCharts:\n- name: nope\n  releaseName: r\n", &[]);
    assert_eq!(
        fails(&tree, &helm_on()),
        "app/kustomization.yaml: field helmCharts[0]: chart \"nope\": no repo specified for pull, no chart found at 'app/charts/nope'"
    );
}

fn not_pulled(tree: &dyn kustomize::Tree, opts: &BuildOptions) -> kustomize::ChartPull {
    match kustomize::build_with(tree, "app", opts) {
        Err(kustomize::Error::ChartNotPulled(pull)) => *pull,
        other => panic!("expected ChartNotPulled, got {other:?}"),
    }
}

/// Where kustomize runs `helm pull`, the build stops and names what to pull.
#[test]
fn a_remote_chart_not_pulled_names_what_to_pull() {
    let tree = echo_tree(
        "helmCharts:\n- name: echo\n  releaseName: r\n- name: web\n  repo: https://charts.example.com\n  version: 1.0.0\n",
        &[],
    );
    let pull = not_pulled(&tree, &helm_on());
    assert_eq!(
        pull,
        kustomize::ChartPull {
            repo: "https://charts.example.com".into(),
            name: "web".into(),
            version: "1.0.0".into(),
            file: "app/kustomization.yaml".into(),
            field: "helmCharts[1]".into(),
        }
    );
    assert_eq!(
        kustomize::Error::ChartNotPulled(Box::new(pull)).to_string(),
        "app/kustomization.yaml: field helmCharts[1]: chart \"web\" version 1.0.0 of repository https://charts.example.com: not in chartHome and not pulled"
    );
    // Without a version, the latest is asked for (`helm pull` without `--version`).
    let latest = echo_tree(
        "helmCharts:\n- name: web\n  repo: oci://registry.example.com/charts\n",
        &[],
    );
    let pull = not_pulled(&latest, &helm_on());
    assert_eq!(
        (
            pull.repo.as_str(),
            pull.name.as_str(),
            pull.version.as_str()
        ),
        ("oci://registry.example.com/charts", "web", "")
    );
    assert!(
        kustomize::Error::ChartNotPulled(Box::new(pull))
            .to_string()
            .contains("chart \"web\" version latest of repository oci://")
    );
    // A chart pulled for another version is not this one.
    let mut opts = helm_on();
    opts.pulled_charts.insert(
        &kustomize::ChartPull {
            repo: "https://charts.example.com".into(),
            name: "web".into(),
            version: "2.0.0".into(),
            ..not_pulled(&tree, &helm_on())
        },
        std::sync::Arc::new(MemTree::new()),
    );
    assert_eq!(not_pulled(&tree, &opts).version, "1.0.0");
}

fn game_chart() -> std::sync::Arc<MemTree> {
    std::sync::Arc::new(MemTree::from_files(GAME.iter().copied()))
}

/// A pulled chart builds exactly as the same chart kept where `helm pull --untar` puts
/// it (`krusty_prod_vs_dev`, whose output kustomize's own test pins), through overlays.
#[test]
fn a_pulled_chart_builds_as_the_same_chart_in_chart_home() {
    let tree = MemTree::from_files([
        (
            "base/kustomization.yaml",
            "helmCharts:\n- name: arcade\n  repo: https://charts.example.com\n  version: 2.4.0\n  releaseName: play\n",
        ),
        (
            "prod/kustomization.yaml",
            "namespace: prod\nnamePrefix: live-\nresources:\n- ../base\n",
        ),
    ]);
    let pull = match kustomize::build_with(&tree, "prod", &helm_on()) {
        Err(kustomize::Error::ChartNotPulled(pull)) => *pull,
        other => panic!("expected ChartNotPulled, got {other:?}"),
    };
    assert_eq!(pull.file, "base/kustomization.yaml");
    let mut opts = helm_on();
    opts.pulled_charts.insert(&pull, game_chart());
    let built = |dir| kustomize::build_yaml_with(&tree, dir, &opts).expect("builds");
    assert_eq!(built("base"), GAME_BASE);
    assert_eq!(
        built("prod"),
        GAME_BASE.replace(
            "  name: play-arcade\n",
            "  name: live-play-arcade\n  namespace: prod\n"
        )
    );
}

/// Every option of the local path applies to a pulled chart: without a version the chart
/// is pulled into chartHome itself, where the local chart lies, so both builds read the
/// same paths.
#[test]
fn a_pulled_chart_takes_every_option_a_local_chart_takes() {
    let fields = "  namespace: ns\n  includeCRDs: true\n  skipTests: true\n  kubeVersion: \"1.29.0\"\n  apiVersions: [foo/v1]\n  valuesInline:\n    a: {x: 2}\n  additionalValuesFiles: [more.yaml]\n";
    let extra = [("app/more.yaml", "keep: more\n")];
    let local = echo_tree(&chart_with(fields), &extra);
    let remote_kustomization = format!(
        "{}  repo: https://charts.example.com/stable\n{fields}",
        chart_with("")
    );
    let remote = MemTree::from_files(
        std::iter::once(("app/kustomization.yaml", remote_kustomization.as_str())).chain(extra),
    );
    let mut opts = helm_on();
    let pull = not_pulled(&remote, &opts);
    assert_eq!(pull.version, "");
    opts.pulled_charts.insert(
        &pull,
        std::sync::Arc::new(MemTree::from_files(ECHO.iter().copied())),
    );
    let expected = objects(&local, &helm_on());
    assert_eq!(
        expected.len(),
        3,
        "the CRD, the values ConfigMap and the hook"
    );
    assert_eq!(objects(&remote, &opts), expected);
    // A valuesFile inside the pulled chart is read as kustomize reads it after the pull.
    let with_file = |t: &str| {
        t.replace(
            "  valuesInline:\n    a: {x: 2}\n",
            "  valuesFile: charts/echo/values.yaml\n",
        )
    };
    let local = echo_tree(&with_file(&chart_with(fields)), &extra);
    let remote = MemTree::from_files(
        std::iter::once((
            "app/kustomization.yaml",
            with_file(&remote_kustomization).as_str(),
        ))
        .chain(extra),
    );
    assert_eq!(objects(&remote, &opts), objects(&local, &helm_on()));
}

/// What could not be pulled is refused before anyone is asked to pull it.
#[test]
fn charts_that_cannot_be_pulled_are_refused_by_field() {
    let chart = |fields: &str| echo_tree(&format!("helmCharts:\n- {fields}\n"), &[]);
    for (fields, expected) in [
        (
            "name: a/b\n  repo: https://charts.example.com",
            "field helmCharts[0].name: chart \"a/b\": a chart name must not be a path",
        ),
        (
            "name: ..\n  repo: https://charts.example.com",
            "field helmCharts[0].name: chart \"..\": a chart name must not be a path",
        ),
        (
            "name: web\n  repo: https://charts.example.com\n  version: ../../x",
            "field helmCharts[0].version: chart \"web\": \"../../x\" is not a chart version",
        ),
        (
            "name: web\n  repo: ftp://charts.example.com",
            "field helmCharts[0].repo: chart \"web\": \"ftp://charts.example.com\" is not a Helm repository URL (http://, https://) or an OCI registry (oci://)",
        ),
        (
            "name: web\n  repo: charts.example.com/stable",
            "field helmCharts[0].repo: chart \"web\": \"charts.example.com/stable\" is not a Helm repository URL",
        ),
    ] {
        let msg = fails(&chart(fields), &helm_on());
        assert!(
            msg.starts_with(&format!("app/kustomization.yaml: {expected}")),
            "{fields}: {msg}"
        );
    }
}

#[test]
fn a_chart_home_out_of_the_kustomization_is_refused() {
    let tree = echo_tree(
        "helmGlobals:\n  chartHome: ../elsewhere\nhelmCharts:\n- name: echo\n",
        &[(
            "elsewhere/echo/Chart.yaml",
            "apiVersion: v2\nname: echo\nversion: 1.0.0\n",
        )],
    );
    assert_eq!(
        fails(&tree, &helm_on()),
        "app/kustomization.yaml: field helmCharts[0]: chart \"echo\": helmGlobals.chartHome: security; chart home 'elsewhere' is not in or below 'app'"
    );
    let tree = echo_tree(
        "helmGlobals:\n  chartHome: ../../up\nhelmCharts:\n- name: echo\n",
        &[],
    );
    let msg = fails(&tree, &helm_on());
    assert!(
        msg.contains("helmCharts[0]: chart \"echo\": helmGlobals.chartHome:"),
        "{msg}"
    );
    assert!(msg.contains("escapes the root"), "{msg}");
}

#[cfg(unix)]
#[test]
fn a_chart_directory_symlinked_out_of_the_tree_is_refused() {
    let dir = tempfile::tempdir().expect("scratch dir");
    let root = dir.path().join("root");
    write_chart(dir.path(), "outside/echo", ECHO);
    write(&root, "app/kustomization.yaml", &chart_with(""));
    std::fs::create_dir_all(root.join("app/charts")).unwrap();
    std::os::unix::fs::symlink(
        dir.path().join("outside/echo"),
        root.join("app/charts/echo"),
    )
    .unwrap();
    let tree = DirTree::new(&root).unwrap();
    let msg = fails(&tree, &helm_on());
    assert!(
        msg.starts_with("app/kustomization.yaml: field helmCharts[0]: chart \"echo\": app/charts/echo: escapes the root of the tree (a symlink leads outside the tree)"),
        "{msg}"
    );
}

#[test]
fn values_files_out_of_the_kustomization_are_refused() {
    let extra = [("shared/v.yaml", "keep: shared\n")];
    let tree = echo_tree(&chart_with("  valuesFile: ../shared/v.yaml\n"), &extra);
    assert_eq!(
        fails(&tree, &helm_on()),
        "app/kustomization.yaml: field helmCharts[0].valuesFile: chart \"echo\": app/kustomization.yaml: security; file 'shared/v.yaml' is not in or below 'app'"
    );
    let tree = echo_tree(
        &chart_with("  additionalValuesFiles: [../shared/v.yaml]\n"),
        &extra,
    );
    assert_eq!(
        fails(&tree, &helm_on()),
        "app/kustomization.yaml: field helmCharts[0].additionalValuesFiles[0]: chart \"echo\": could not load additionalValuesFile: app/kustomization.yaml: security; file 'shared/v.yaml' is not in or below 'app'"
    );
}

#[test]
fn bad_fields_are_named() {
    let tree = echo_tree(&chart_with("  valuesInline: [a, b]\n"), &[]);
    assert_eq!(
        fails(&tree, &helm_on()),
        "app/kustomization.yaml: field helmCharts[0].valuesInline: chart \"echo\": expected a mapping of values, got a list"
    );
    let tree = echo_tree(
        &chart_with("  valuesMerge: deep\n  valuesInline: {a: 1}\n"),
        &[],
    );
    assert_eq!(
        fails(&tree, &helm_on()),
        "app/kustomization.yaml: field helmCharts[0].valuesMerge: chart \"echo\": valuesMerge must be one of [merge override replace], not \"deep\""
    );
    let tree = echo_tree(&chart_with("  valuesInline: {a: 1}\n"), &[]);
    assert_eq!(
        fails(&tree, &helm_on()),
        "app/kustomization.yaml: field helmCharts[0].valuesInline: chart \"echo\": could not merge values: wrong node kind: expected MappingNode but got ScalarNode"
    );
    let tree = echo_tree(&chart_with("  releaseNme: x\n"), &[]);
    assert_eq!(
        fails(&tree, &helm_on()),
        "app/kustomization.yaml: field helmCharts[0].releaseNme: unknown field"
    );
    let tree = echo_tree(&chart_with("  nameTemplate: other\n"), &[]);
    assert!(
        fails(&tree, &helm_on()).contains("cannot set --name-template and also specify a name")
    );
    // A template error is Helm's, under the chart's name.
    let tree = echo_tree(
        &chart_with(""),
        &[(
            "app/charts/echo/templates/bad.yaml",
            "{{ fail \"no way\" }}\n",
        )],
    );
    let msg = fails(&tree, &helm_on());
    assert!(
        msg.starts_with(
            "app/kustomization.yaml: field helmCharts[0]: chart \"echo\": helm template: "
        ),
        "{msg}"
    );
    assert!(msg.contains("no way"), "{msg}");
}
