//! Behaviour of `helm::render` beyond the golden corpus: the seed's per-region values,
//! Argo CD's `source.helm` mapping, hooks and install order in the returned objects,
//! schema validation, error messages, and the security limits (archives escaping the
//! chart, `.Files.Get` outside it, recursive `include`, oversized values).

use flotilla_render::helm::{self, Error, RenderOptions, argo};
use flotilla_render::kustomize::{DirTree, MemTree};
use serde_json::json;

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-{{ .Chart.Name }}
  namespace: {{ .Release.Namespace }}
  labels:
    region: {{ .Values.region | quote }}
spec:
  replicas: {{ .Values.replicas }}
  template:
    spec:
      containers:
      - name: app
        image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
"#;

/// The seed's layout: a chart in `deploy/` with one values file per region.
fn seed_repo() -> MemTree {
    MemTree::from_files([
        (
            "deploy/Chart.yaml",
            "apiVersion: v2\nname: guestbook\nversion: 0.1.0\nappVersion: \"1.4.2\"\n",
        ),
        (
            "deploy/values.yaml",
            "region: none\nreplicas: 1\nimage:\n  repository: ghcr.io/acme/guestbook\n",
        ),
        (
            "deploy/values-eu-west-1.yaml",
            "region: eu-west-1\nreplicas: 3\n",
        ),
        (
            "deploy/values-us-east-1.yaml",
            "region: us-east-1\nreplicas: 5\nimage:\n  tag: \"2.0.0\"\n",
        ),
        ("deploy/templates/deployment.yaml", DEPLOYMENT),
        (
            "deploy/templates/_helpers.tpl",
            "{{- define \"x\" }}unused{{ end }}",
        ),
        (
            "deploy/templates/NOTES.txt",
            "Thanks for installing {{ .Chart.Name }}",
        ),
        ("envs/prod.yaml", "replicas: 7\n"),
    ])
}

#[test]
fn seed_each_region_renders_its_values() {
    let repo = seed_repo();
    for (region, replicas, tag) in [("eu-west-1", 3, "1.4.2"), ("us-east-1", 5, "2.0.0")] {
        let helm = argo::HelmSource {
            value_files: vec![format!("values-{region}.yaml")],
            ..Default::default()
        };
        let app = argo::AppContext {
            app_name: format!("guestbook-{region}"),
            namespace: "guestbook".into(),
            ..Default::default()
        };
        let out = argo::render(&repo, "deploy", &helm, &app).unwrap();
        let objects = out.objects();
        assert_eq!(objects.len(), 1, "NOTES.txt and partials are not emitted");
        let d = objects[0];
        assert_eq!(
            d["metadata"]["name"],
            format!("guestbook-{region}-guestbook")
        );
        assert_eq!(d["metadata"]["namespace"], "guestbook");
        assert_eq!(d["metadata"]["labels"]["region"], region);
        assert_eq!(d["spec"]["replicas"], replicas);
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["image"],
            format!("ghcr.io/acme/guestbook:{tag}")
        );
        assert_eq!(out.notes, "Thanks for installing guestbook");
        assert!(
            out.text
                .starts_with("---\n# Source: guestbook/templates/deployment.yaml\n")
        );
    }
}

#[test]
fn argo_maps_every_helm_field() {
    let repo = {
        let mut t = seed_repo();
        t.insert("deploy/crds/crd.yaml", b"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: things.acme.io\n".to_vec()).unwrap();
        t.insert("deploy/files/motd.txt", b"hello, world".to_vec())
            .unwrap();
        t.insert("deploy/templates/cm.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: motd\ndata:\n  motd: {{ .Values.motd | quote }}\n  tag: {{ .Values.image.tag | quote }}\n  csv: {{ .Values.csv | quote }}\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n  api: {{ .Capabilities.APIVersions.Has \"acme.io/v1\" | quote }}\n".to_vec()).unwrap();
        t
    };
    let helm = argo::parse_source(&json!({
        "valueFiles": ["values-eu-west-1.yaml", "../envs/prod.yaml", "missing.yaml"],
        "ignoreMissingValueFiles": true,
        "values": "region: from-values\n",
        "valuesObject": {"region": "from-object"},
        "parameters": [
            {"name": "image.tag", "value": "123", "forceString": true},
            {"name": "csv", "value": "a,b"}
        ],
        "fileParameters": [{"name": "motd", "path": "files/motd.txt"}],
        "releaseName": "gb",
        "namespace": "web",
        "kubeVersion": "1.31.2",
        "apiVersions": ["acme.io/v1"],
        "skipCrds": false
    }))
    .unwrap();
    let app = argo::AppContext {
        app_name: "ignored".into(),
        namespace: "ignored".into(),
        ..Default::default()
    };
    let out = argo::render(&repo, "deploy", &helm, &app).unwrap();
    let objects = out.objects();
    assert_eq!(
        objects[0]["kind"], "CustomResourceDefinition",
        "CRDs first unless skipCrds"
    );
    let owned: Vec<serde_json::Value> = objects.iter().map(|o| (*o).clone()).collect();
    assert_eq!(
        out.clone().into_objects(),
        owned,
        "moved out in the same order"
    );
    let cm = objects.iter().find(|o| o["kind"] == "ConfigMap").unwrap();
    assert_eq!(cm["data"]["motd"], "hello, world");
    assert_eq!(cm["data"]["tag"], "123");
    assert_eq!(cm["data"]["csv"], "a,b");
    assert_eq!(cm["data"]["kube"], "v1.31.2");
    assert_eq!(cm["data"]["api"], "true");
    let d = objects.iter().find(|o| o["kind"] == "Deployment").unwrap();
    assert_eq!(d["metadata"]["name"], "gb-guestbook");
    assert_eq!(d["metadata"]["namespace"], "web");
    assert_eq!(
        d["metadata"]["labels"]["region"], "from-object",
        "valuesObject wins over values and files"
    );
    assert_eq!(
        d["spec"]["replicas"], 7,
        "a values file outside the chart, later in the list, wins"
    );

    let skip = argo::HelmSource {
        skip_crds: true,
        ..Default::default()
    };
    let out = argo::render(&repo, "deploy", &skip, &app).unwrap();
    assert!(
        out.objects()
            .iter()
            .all(|o| o["kind"] != "CustomResourceDefinition")
    );
    let missing = argo::HelmSource {
        value_files: vec!["nope.yaml".into()],
        ..Default::default()
    };
    assert!(
        argo::render(&repo, "deploy", &missing, &app)
            .unwrap_err()
            .to_string()
            .contains("nope.yaml")
    );
    let outside = argo::HelmSource {
        value_files: vec!["../../../etc/passwd".into()],
        ..Default::default()
    };
    let e = argo::render(&repo, "deploy", &outside, &app)
        .unwrap_err()
        .to_string();
    assert!(e.contains("escapes the root"), "{e}");
}

fn chart(extra: &[(&str, &str)]) -> MemTree {
    let mut files = vec![
        ("c/Chart.yaml", "apiVersion: v2\nname: c\nversion: 1.0.0\n"),
        ("c/values.yaml", "replicas: 1\n"),
    ];
    files.extend_from_slice(extra);
    MemTree::from_files(files)
}

#[test]
fn hooks_are_identified_and_objects_come_in_install_order() {
    let tree = chart(&[
        (
            "c/templates/a-deploy.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n",
        ),
        (
            "c/templates/b-ns.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: n\n---\n# only a comment\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\n",
        ),
        (
            "c/templates/hook.yaml",
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations:\n    helm.sh/hook: pre-install,pre-upgrade\n    helm.sh/hook-weight: \"5\"\n",
        ),
        (
            "c/templates/tests/t.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: t\n  annotations:\n    helm.sh/hook: test\n",
        ),
    ]);
    let out = helm::render(&tree, "c", &RenderOptions::default()).unwrap();
    let kinds: Vec<&str> = out
        .objects()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    // Hooks follow the manifests, themselves sorted by kind (Pod before Job).
    assert_eq!(kinds, ["Namespace", "Service", "Deployment", "Pod", "Job"]);
    assert_eq!(out.hooks.len(), 2);
    assert!(out.hooks[0].is_test());
    assert_eq!(out.hooks[1].events, ["pre-install", "pre-upgrade"]);
    assert_eq!(out.hooks[1].weight, 5);

    let no_tests = RenderOptions {
        skip_tests: true,
        ..Default::default()
    };
    let out = helm::render(&tree, "c", &no_tests).unwrap();
    assert_eq!(out.hooks.len(), 1);
    assert!(!out.text.contains("name: t\n"));
    let no_hooks = RenderOptions {
        no_hooks: true,
        ..Default::default()
    };
    let out = helm::render(&tree, "c", &no_hooks).unwrap();
    assert!(out.hooks.is_empty() && !out.text.contains("migrate"));
}

#[test]
fn set_family_precedence_and_null_deletion() {
    let tree = chart(&[
        ("c/values.yaml", "replicas: 1\nb: {x: 1, y: 2}\n"),
        (
            "c/templates/cm.yaml",
            "kind: ConfigMap\ndata:\n{{ toYaml .Values | indent 2 }}\n",
        ),
    ]);
    let mut o = RenderOptions::default();
    o.values.files.push(helm::ValuesFile {
        name: "a.yaml".into(),
        data: b"replicas: 2\n".to_vec(),
    });
    o.values.set = vec!["b.y=null,list[1]=z,esc\\.key=v".into()];
    o.values.set_string = vec!["replicas=3".into()];
    o.values.set_json = vec![r#"j={"k":[1,2]}"#.into()];
    let out = helm::render(&tree, "c", &o).unwrap();
    let data = &out.objects()[0]["data"];
    assert_eq!(data["replicas"], "3", "--set-string comes after -f");
    assert_eq!(data["b"], json!({"x": 1}), "null deletes a chart default");
    assert_eq!(data["list"], json!([null, "z"]));
    assert_eq!(data["esc.key"], "v");
    assert_eq!(data["j"], json!({"k": [1, 2]}));
    o.values.set = vec!["a[0".into()];
    assert!(
        helm::render(&tree, "c", &o)
            .unwrap_err()
            .to_string()
            .starts_with("failed parsing --set data")
    );
}

#[test]
fn schema_violations_are_reported_per_chart() {
    let tree = chart(&[
        (
            "c/values.schema.json",
            r#"{"type":"object","required":["replicas"],"properties":{"replicas":{"type":"integer","minimum":1}}}"#,
        ),
        ("c/templates/cm.yaml", "kind: ConfigMap\n"),
    ]);
    let mut o = RenderOptions::default();
    o.values.set = vec!["replicas=abc".into()];
    let e = helm::render(&tree, "c", &o).unwrap_err();
    assert!(matches!(e, Error::Schema(_)));
    assert_eq!(
        e.to_string(),
        "values don't meet the specifications of the schema(s) in the following chart(s):\nc:\n- at '/replicas': got string, want integer\n"
    );
    o.values.set = vec!["replicas=0".into()];
    assert!(
        helm::render(&tree, "c", &o)
            .unwrap_err()
            .to_string()
            .contains("minimum: got 0, want 1")
    );
    o.skip_schema_validation = true;
    assert!(helm::render(&tree, "c", &o).is_ok());
}

#[test]
fn errors_name_the_file_and_position() {
    let req = chart(&[(
        "c/templates/x.yaml",
        "a: {{ required \"image.tag is required\" .Values.image }}\n",
    )]);
    assert_eq!(
        helm::render(&req, "c", &RenderOptions::default())
            .unwrap_err()
            .to_string(),
        "execution error at (c/templates/x.yaml:1:6): image.tag is required"
    );
    let parse = chart(&[("c/templates/x.yaml", "a: 1\nb: {{ .Values.x \n")]);
    let e = helm::render(&parse, "c", &RenderOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("parse error at (c/templates/x.yaml:") && e.ends_with("unclosed action"),
        "{e}"
    );
    let missing = chart(&[(
        "c/Chart.yaml",
        "apiVersion: v2\nname: c\nversion: 1.0.0\ndependencies:\n- name: db\n  version: 1.x\n",
    )]);
    assert_eq!(
        helm::render(&missing, "c", &RenderOptions::default())
            .unwrap_err()
            .to_string(),
        "found in Chart.yaml, but missing in charts/ directory: db"
    );
    let lib = chart(&[(
        "c/Chart.yaml",
        "apiVersion: v2\nname: c\nversion: 1.0.0\ntype: library\n",
    )]);
    assert_eq!(
        helm::render(&lib, "c", &RenderOptions::default())
            .unwrap_err()
            .to_string(),
        "library charts are not installable"
    );
    let old = chart(&[(
        "c/Chart.yaml",
        "apiVersion: v2\nname: c\nversion: 1.0.0\nkubeVersion: \">=1.33\"\n",
    )]);
    let o = RenderOptions {
        kube_version: Some("1.30".into()),
        ..Default::default()
    };
    assert!(
        helm::render(&old, "c", &o)
            .unwrap_err()
            .to_string()
            .contains("chart requires kubeVersion")
    );
}

#[test]
fn subcharts_aliases_conditions_globals_and_files() {
    let tree = chart(&[
        (
            "c/Chart.yaml",
            "apiVersion: v2\nname: c\nversion: 1.0.0\ndependencies:\n- name: sub\n  version: ~0.1.0\n  alias: first\n- name: sub\n  version: ~0.1.0\n  alias: second\n  condition: second.enabled\n",
        ),
        (
            "c/values.yaml",
            "global:\n  env: prod\nfirst:\n  greeting: hi\nsecond:\n  enabled: false\n",
        ),
        (
            "c/charts/sub/Chart.yaml",
            "apiVersion: v2\nname: sub\nversion: 0.1.3\n",
        ),
        ("c/charts/sub/values.yaml", "greeting: hello\n"),
        ("c/charts/sub/files/a.conf", "x=1\n"),
        (
            "c/charts/sub/templates/cm.yaml",
            "kind: ConfigMap\nmetadata:\n  name: {{ .Chart.Name }}\ndata:\n  greeting: {{ .Values.greeting }}\n  env: {{ .Values.global.env }}\n  conf: {{ .Files.Get \"files/a.conf\" | quote }}\n{{ (.Files.Glob \"files/*\").AsConfig | indent 2 }}\n",
        ),
    ]);
    let out = helm::render(&tree, "c", &RenderOptions::default()).unwrap();
    let objects = out.objects();
    assert_eq!(objects.len(), 1, "the disabled alias is dropped");
    assert_eq!(objects[0]["metadata"]["name"], "first");
    assert_eq!(objects[0]["data"]["greeting"], "hi");
    assert_eq!(objects[0]["data"]["env"], "prod");
    assert_eq!(objects[0]["data"]["conf"], "x=1\n");
    assert_eq!(objects[0]["data"]["a.conf"], "x=1\n");
    assert!(
        out.text
            .contains("# Source: c/charts/first/templates/cm.yaml")
    );
}

// --- security -------------------------------------------------------------------------

fn tar_entry(name: &str, typeflag: u8, data: &[u8]) -> Vec<u8> {
    let mut h = vec![0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..107].copy_from_slice(b"0000644");
    h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
    h[156] = typeflag;
    h[257..263].copy_from_slice(b"ustar\0");
    let mut out = h;
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

fn tgz(entries: &[Vec<u8>]) -> Vec<u8> {
    use std::io::Write;
    let mut tar = entries.concat();
    tar.extend_from_slice(&[0u8; 1024]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

#[test]
fn archive_entries_escaping_the_chart_are_refused() {
    let chart_yaml = b"apiVersion: v2\nname: c\nversion: 1.0.0\n";
    let ok = tgz(&[
        tar_entry("c/Chart.yaml", b'0', chart_yaml),
        tar_entry("c/templates/cm.yaml", b'0', b"kind: ConfigMap\n"),
    ]);
    assert_eq!(helm::load_archive("c.tgz", &ok).unwrap().templates.len(), 1);
    for (entry, typeflag, why) in [
        (
            "c/../../etc/cron.d/x",
            b'0',
            "illegally references parent directory",
        ),
        ("/etc/passwd", b'0', "absolute paths"),
        ("c/templates/link.yaml", b'2', "is a symlink"),
        ("c/templates/hard.yaml", b'1', "is a hard link"),
    ] {
        let bad = tgz(&[
            tar_entry("c/Chart.yaml", b'0', chart_yaml),
            tar_entry(entry, typeflag, b"x"),
        ]);
        let e = helm::load_archive("evil.tgz", &bad)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("evil.tgz: ") && e.contains(why),
            "{entry}: {e}"
        );
    }
    // A subchart archive inside a chart directory is checked the same way.
    let tree = chart(&[]);
    let mut tree = tree;
    tree.insert(
        "c/charts/evil.tgz",
        tgz(&[tar_entry("evil/../../x", b'0', b"x")]),
    )
    .unwrap();
    let e = helm::render(&tree, "c", &RenderOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("parent directory"), "{e}");
}

#[test]
fn files_get_cannot_leave_the_chart() {
    let tree = chart(&[(
        "c/templates/x.yaml",
        "data: {{ .Files.Get \"../../etc/passwd\" | quote }}\n",
    )]);
    let e = helm::render(&tree, "c", &RenderOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"../../etc/passwd\" is outside the chart"),
        "{e}"
    );
    let absolute = chart(&[(
        "c/templates/x.yaml",
        "data: {{ .Files.Get \"/etc/passwd\" | quote }}\n",
    )]);
    assert!(helm::render(&absolute, "c", &RenderOptions::default()).is_err());
    // Files that merely do not exist read as "" (Helm's behaviour).
    let absent = chart(&[(
        "c/templates/x.yaml",
        "data: {{ .Files.Get \"nope\" | quote }}\n",
    )]);
    assert_eq!(
        helm::render(&absent, "c", &RenderOptions::default())
            .unwrap()
            .objects()[0]["data"],
        ""
    );
}

#[test]
fn recursive_include_hits_the_depth_limit() {
    let tree = chart(&[
        (
            "c/templates/_loop.tpl",
            "{{- define \"loop\" }}{{ include \"loop\" . }}{{ end }}",
        ),
        ("c/templates/x.yaml", "a: {{ include \"loop\" . }}\n"),
    ]);
    let started = std::time::Instant::now();
    let e = helm::render(&tree, "c", &RenderOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("exceeded maximum template depth (100)"), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn a_100_mib_values_file_is_refused_before_it_is_read() {
    let dir = std::env::temp_dir().join(format!("flotilla-helm-big-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("c/templates")).unwrap();
    std::fs::write(
        dir.join("c/Chart.yaml"),
        "apiVersion: v2\nname: c\nversion: 1.0.0\n",
    )
    .unwrap();
    std::fs::write(dir.join("c/templates/x.yaml"), "kind: ConfigMap\n").unwrap();
    // Sparse: 100 MiB long, no blocks written.
    let big = std::fs::File::create(dir.join("c/values.yaml")).unwrap();
    big.set_len(100 * 1024 * 1024).unwrap();
    std::fs::copy(dir.join("c/Chart.yaml"), dir.join("Chart.yaml")).ok();
    let tree = DirTree::new(&dir).unwrap();
    let e = helm::render(&tree, "c", &RenderOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("c/values.yaml") && e.contains("larger than the limit"),
        "{e}"
    );
    // As an Argo CD value file elsewhere in the repository too.
    std::fs::rename(dir.join("c/values.yaml"), dir.join("big.yaml")).unwrap();
    let helm = argo::HelmSource {
        value_files: vec!["../big.yaml".into()],
        ..Default::default()
    };
    let e = argo::render(&tree, "c", &helm, &argo::AppContext::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("big.yaml") && e.contains("larger than the limit"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_symlink_out_of_the_chart_is_refused() {
    let dir = std::env::temp_dir().join(format!("flotilla-helm-link-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("repo/c/templates")).unwrap();
    std::fs::write(
        dir.join("repo/c/Chart.yaml"),
        "apiVersion: v2\nname: c\nversion: 1.0.0\n",
    )
    .unwrap();
    std::fs::write(dir.join("secret.txt"), "s3cr3t").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("secret.txt"), dir.join("repo/c/secret.txt")).unwrap();
    let tree = DirTree::new(dir.join("repo")).unwrap();
    let e = helm::render(&tree, "c", &RenderOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("escapes the root"), "{e}");
    assert!(!e.contains("s3cr3t"));
    std::fs::remove_dir_all(&dir).unwrap();
}
