//! Black-box: the real kubectl (1.29, 1.32, 1.33) against kubesim, asserting
//! output and exit codes as a real 1.32 API server would produce them.

mod auth;
mod faults;
mod harness;
mod ssa;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use harness::{Kubectl, Sim, for_each_version};

const CM_A: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels:\n    app: demo\ndata:\n  key: one\n";
const CM_B: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  labels:\n    app: demo\ndata:\n  key: two\n";
const DEPLOY: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
";
const CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wg]
  versions:
  - name: v1
    served: true
    storage: true
    additionalPrinterColumns:
    - name: Size
      type: integer
      jsonPath: .spec.size
    - name: Color
      type: string
      jsonPath: .spec.color
    subresources:
      status: {}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
              color: {type: string}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
";

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

#[test]
fn version_reports_the_simulated_server() {
    for_each_version(|_, k| {
        let out = k.run(&["version", "-o", "json"]).ok();
        let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
        assert_eq!(v["serverVersion"]["minor"], "32", "kubectl {}", k.version);
        assert_eq!(v["serverVersion"]["gitVersion"], "v1.32.0");
    });
}

#[test]
fn api_resources_lists_builtin_kinds() {
    for_each_version(|_, k| {
        let out = k.run(&["api-resources"]).ok();
        let row = |name: &str| {
            out.stdout
                .lines()
                .find(|l| l.split_whitespace().next() == Some(name))
                .map(|l| l.split_whitespace().collect::<Vec<_>>())
                .unwrap_or_else(|| {
                    panic!(
                        "kubectl {}: no row for {name} in\n{}",
                        k.version, out.stdout
                    )
                })
        };
        assert_eq!(
            row("deployments"),
            ["deployments", "deploy", "apps/v1", "true", "Deployment"]
        );
        assert_eq!(
            row("namespaces"),
            ["namespaces", "ns", "v1", "false", "Namespace"]
        );
        assert_eq!(row("secrets"), ["secrets", "v1", "true", "Secret"]);
        assert_eq!(
            row("customresourcedefinitions"),
            [
                "customresourcedefinitions",
                "crd,crds",
                "apiextensions.k8s.io/v1",
                "false",
                "CustomResourceDefinition"
            ]
        );
    });
}

#[test]
fn apply_directory_created_unchanged_configured() {
    for_each_version(|sim, k| {
        let dir = sim.dir.path().join(format!("apply-{}", k.version));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("a.yaml"), CM_A).expect("write");
        std::fs::write(dir.join("b.yaml"), CM_B).expect("write");
        std::fs::write(dir.join("web.yaml"), DEPLOY).expect("write");
        let d = dir.to_str().expect("utf-8");
        let out = k.run(&["apply", "-f", d]).ok();
        assert_eq!(
            lines(&out.stdout),
            [
                "configmap/a created",
                "configmap/b created",
                "deployment.apps/web created"
            ]
        );
        let out = k.run(&["apply", "-f", d]).ok();
        assert_eq!(
            lines(&out.stdout),
            [
                "configmap/a unchanged",
                "configmap/b unchanged",
                "deployment.apps/web unchanged"
            ]
        );
        std::fs::write(dir.join("a.yaml"), CM_A.replace("key: one", "key: three")).expect("write");
        std::fs::write(
            dir.join("web.yaml"),
            DEPLOY.replace("nginx:1.27", "nginx:1.28"),
        )
        .expect("write");
        let out = k.run(&["apply", "-f", d]).ok();
        assert_eq!(
            lines(&out.stdout),
            [
                "configmap/a configured",
                "configmap/b unchanged",
                "deployment.apps/web configured"
            ]
        );
        let out = k
            .run(&["get", "cm", "a", "-o", "jsonpath={.data.key}"])
            .ok();
        assert_eq!(out.stdout, "three");
        let out = k
            .run(&[
                "get",
                "deploy",
                "web",
                "-o",
                "jsonpath={.metadata.generation} {.spec.template.spec.containers[0].image}",
            ])
            .ok();
        assert_eq!(out.stdout, "2 nginx:1.28");
    });
}

#[test]
fn apply_server_dry_run_persists_nothing() {
    for_each_version(|sim, k| {
        let f = sim.write(
            &format!("dry-{}.yaml", k.version),
            &CM_A.replace("name: a", "name: dry"),
        );
        let out = k
            .run(&[
                "apply",
                "--dry-run=server",
                "-f",
                f.to_str().expect("utf-8"),
            ])
            .ok();
        assert_eq!(out.stdout.trim(), "configmap/dry created (server dry run)");
        let out = k.run(&["get", "cm", "dry"]).expect_code(1);
        assert_eq!(
            out.stderr.trim(),
            "Error from server (NotFound): configmaps \"dry\" not found"
        );
    });
}

#[test]
fn diff_exits_zero_when_equal_and_one_when_different() {
    for_each_version(|sim, k| {
        let name = format!("diff-{}.yaml", k.version);
        let f = sim.write(&name, CM_A);
        let path = f.to_str().expect("utf-8");
        k.run(&["apply", "-f", path]).ok();
        let out = k.run(&["diff", "-f", path]).expect_code(0);
        assert_eq!(out.stdout, "");
        sim.write(&name, &CM_A.replace("key: one", "key: changed"));
        let out = k.run(&["diff", "-f", path]).expect_code(1);
        assert!(
            out.stdout.contains("-  key: one") && out.stdout.contains("+  key: changed"),
            "{}",
            out.stdout
        );
    });
}

#[test]
fn create_with_an_unknown_field_is_a_strict_decoding_error() {
    for_each_version(|sim, k| {
        let f = sim.write(
            &format!("unknown-{}.yaml", k.version),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: strict\ndata:\n  a: b\nspec:\n  bogus: 1\n",
        );
        let out = k
            .run(&["create", "-f", f.to_str().expect("utf-8")])
            .expect_code(1);
        assert!(
            out.stderr
                .contains("strict decoding error: unknown field \"spec\""),
            "kubectl {}: {}",
            k.version,
            out.stderr
        );
        k.run(&["get", "cm", "strict"]).expect_code(1);
    });
}

/// Fields the API server keeps once set: a changed Deployment selector or an immutable
/// ConfigMap's data is refused with the server's wording, and only deleting and creating
/// the object again (`replace --force`) changes it.
#[test]
fn immutable_fields_are_refused_until_the_object_is_created_again() {
    for_each_version(|sim, k| {
        let f = sim.write(&format!("immutable-{}.yaml", k.version), DEPLOY);
        k.run(&["apply", "-f", f.to_str().expect("utf-8")]).ok();
        let relabelled = DEPLOY
            .replace(
                "    matchLabels:\n      app: web\n",
                "    matchLabels:\n      app: web\n      track: stable\n",
            )
            .replace(
                "      labels:\n        app: web\n",
                "      labels:\n        app: web\n        track: stable\n",
            );
        let g = sim.write(
            &format!("immutable-relabelled-{}.yaml", k.version),
            &relabelled,
        );
        let g = g.to_str().expect("utf-8");
        for args in [
            vec!["apply", "-f", g],
            vec!["apply", "--server-side", "-f", g],
        ] {
            let out = k.run(&args).expect_code(1);
            assert!(
                out.stderr.contains(r#"The Deployment "web" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "track":"stable"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"#),
                "{args:?}: {}",
                out.stderr
            );
        }
        let out = k.run(&["replace", "--force", "-f", g]).ok();
        assert!(
            out.stdout.contains("deployment.apps/web replaced"),
            "{}",
            out.stdout
        );
        let out = k
            .run(&[
                "get",
                "deploy",
                "web",
                "-o",
                "jsonpath={.spec.selector.matchLabels.track}",
            ])
            .ok();
        assert_eq!(out.stdout, "stable");

        let frozen = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: frozen\nimmutable: true\ndata:\n  color: blue\n";
        let f = sim.write(&format!("frozen-{}.yaml", k.version), frozen);
        k.run(&["apply", "-f", f.to_str().expect("utf-8")]).ok();
        let g = sim.write(
            &format!("frozen-green-{}.yaml", k.version),
            &frozen.replace("blue", "green"),
        );
        let out = k
            .run(&["apply", "-f", g.to_str().expect("utf-8")])
            .expect_code(1);
        assert!(
            out.stderr.contains(
                r#"The ConfigMap "frozen" is invalid: data: Forbidden: field is immutable when `immutable` is set"#
            ),
            "{}",
            out.stderr
        );
        // Labels are not frozen.
        k.run(&["label", "configmap", "frozen", "tier=gold"]).ok();
        let out = k
            .run(&["get", "configmap", "frozen", "-o", "jsonpath={.data.color}"])
            .ok();
        assert_eq!(out.stdout, "blue");
    });
}

/// A grown volume claim template and a moved cluster IP are refused as the API server
/// refuses them (the messages Helm and Argo CD users meet), and kubectl prints them.
#[test]
fn statefulset_templates_and_cluster_ips_are_refused() {
    for_each_version(|sim, k| {
        let set = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\nspec:\n  serviceName: db\n  selector:\n    matchLabels:\n      app: db\n  template:\n    metadata:\n      labels:\n        app: db\n    spec:\n      containers:\n      - name: db\n        image: postgres:16\n  volumeClaimTemplates:\n  - metadata:\n      name: data\n    spec:\n      accessModes: [ReadWriteOnce]\n      resources:\n        requests:\n          storage: 1Gi\n";
        let f = sim.write(&format!("db-{}.yaml", k.version), set);
        k.run(&["apply", "--server-side", "-f", f.to_str().expect("utf-8")])
            .ok();
        let g = sim.write(
            &format!("db-grown-{}.yaml", k.version),
            &set.replace("storage: 1Gi", "storage: 2Gi"),
        );
        let out = k
            .run(&["apply", "--server-side", "-f", g.to_str().expect("utf-8")])
            .expect_code(1);
        assert!(
            out.stderr.contains(r#"The StatefulSet "db" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"#),
            "{}",
            out.stderr
        );
        let out = k.run(&["scale", "statefulset", "db", "--replicas=3"]).ok();
        assert!(out.stdout.contains("scaled"), "{}", out.stdout);

        // A Service's name is a DNS-1035 label: no dots.
        let name = format!("api-{}", k.version.replace('.', "-"));
        let service = format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector:\n    app: api\n  ports:\n  - port: 80\n"
        );
        let f = sim.write(&format!("api-{}.yaml", k.version), &service);
        k.run(&["apply", "-f", f.to_str().expect("utf-8")]).ok();
        let out = k
            .run(&[
                "patch",
                "service",
                &name,
                "-p",
                r#"{"spec":{"clusterIP":"10.96.200.200"}}"#,
            ])
            .expect_code(1);
        assert!(
            out.stderr.contains(r#"spec.clusterIPs[0]: Invalid value: []string{"10.96.200.200"}: may not change once set"#),
            "{}",
            out.stderr
        );
    });
}

/// A Secret's stringData is write-only: the server merges it into data (base64) and
/// never returns it. With server-side apply the applier owns `stringData` keys that are
/// not stored, so a key renamed in stringData leaves the old one in data (as
/// kubernetes/kubernetes#108008 shows a real server doing).
#[test]
fn string_data_is_merged_into_data_and_never_returned() {
    for_each_version(|sim, k| {
        let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ndata:\n  token: dG9rZW4=\nstringData:\n  username: admin\n  token: t0p\n";
        let f = sim.write(&format!("creds-{}.yaml", k.version), secret);
        let f = f.to_str().expect("utf-8");
        k.run(&["apply", "--server-side", "-f", f]).ok();
        let stored = k
            .run(&[
                "get",
                "secret",
                "creds",
                "-o",
                "json",
                "--show-managed-fields",
            ])
            .ok();
        let stored: serde_json::Value = serde_json::from_str(&stored.stdout).expect("json");
        assert!(stored.get("stringData").is_none(), "{stored}");
        // stringData wins over data for the same key: "t0p", "admin".
        assert_eq!(
            stored["data"],
            serde_json::json!({"token": "dDBw", "username": "YWRtaW4="})
        );
        assert_eq!(stored["type"], "Opaque");
        let fields = stored["metadata"]["managedFields"][0]["fieldsV1"].to_string();
        assert!(fields.contains("f:stringData"), "{fields}");
        let renamed = secret.replace("  username: admin", "  user: admin");
        let g = sim.write(&format!("creds-renamed-{}.yaml", k.version), &renamed);
        k.run(&["apply", "--server-side", "-f", g.to_str().expect("utf-8")])
            .ok();
        let keys = k
            .run(&["get", "secret", "creds", "-o", "jsonpath={.data}"])
            .ok();
        let keys: serde_json::Value = serde_json::from_str(&keys.stdout).expect("json");
        assert_eq!(
            keys,
            serde_json::json!({"token": "dDBw", "user": "YWRtaW4=", "username": "YWRtaW4="})
        );
    });
}

#[test]
fn base64_in_lines_is_stored_whole_and_bad_base64_is_refused() {
    for_each_version(|sim, k| {
        // kustomize writes generated Secret data in lines of 70; the server decodes the
        // bytes (line breaks skipped) and returns them in one line.
        let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: lined\ndata:\n  key: |\n    YWJj\n    ZGVm\n";
        let f = sim.write(&format!("lined-{}.yaml", k.version), secret);
        let f = f.to_str().expect("utf-8");
        k.run(&["apply", "--server-side", "-f", f]).ok();
        let stored = k
            .run(&["get", "secret", "lined", "-o", "jsonpath={.data.key}"])
            .ok();
        assert_eq!(stored.stdout, "YWJjZGVm");
        let map = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lined\nbinaryData:\n  blob: \"AAEC\\nAw==\"\ndata:\n  text: \"a\\nb\"\n";
        let g = sim.write(&format!("lined-map-{}.yaml", k.version), map);
        k.run(&["create", "-f", g.to_str().expect("utf-8")]).ok();
        let stored = k.run(&["get", "configmap", "lined", "-o", "json"]).ok();
        let stored: serde_json::Value = serde_json::from_str(&stored.stdout).expect("json");
        assert_eq!(stored["binaryData"]["blob"], "AAECAw==");
        assert_eq!(stored["data"]["text"], "a\nb", "data is text, not bytes");
        let bad = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bad\ndata:\n  key: abc!\n";
        let h = sim.write(&format!("bad-{}.yaml", k.version), bad);
        let out = k
            .run(&["create", "-f", h.to_str().expect("utf-8")])
            .expect_code(1);
        assert!(
            out.stderr.contains(
                r#"Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3"#
            ),
            "{}",
            out.stderr
        );
        k.run(&["get", "secret", "bad"]).expect_code(1);
    });
}

#[test]
fn patch_strategic_merge_json_and_status() {
    for_each_version(|sim, k| {
        let f = sim.write(&format!("patch-{}.yaml", k.version), DEPLOY);
        k.run(&["apply", "-f", f.to_str().expect("utf-8")]).ok();
        // Strategic: containers merge by name, so the image changes and the port stays.
        let out = k
            .run(&["patch", "deploy", "web", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:2"}]}}}}"#])
            .ok();
        assert_eq!(out.stdout.trim(), "deployment.apps/web patched");
        let out = k
            .run(&["get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort}"])
            .ok();
        assert_eq!(out.stdout, "nginx:2 80");
        // Merge patch replaces the list wholesale.
        k.run(&[
            "patch",
            "deploy",
            "web",
            "--type=merge",
            "-p",
            r#"{"spec":{"replicas":3}}"#,
        ])
        .ok();
        // JSON patch with a failing test changes nothing.
        let out = k
            .run(&["patch", "deploy", "web", "--type=json", "-p", r#"[{"op":"test","path":"/spec/replicas","value":9},{"op":"replace","path":"/spec/replicas","value":1}]"#])
            .expect_code(1);
        assert!(
            out.stderr.contains("The request is invalid"),
            "{}",
            out.stderr
        );
        let out = k
            .run(&["patch", "deploy", "web", "--type=json", "-p", r#"[{"op":"test","path":"/spec/replicas","value":3},{"op":"replace","path":"/spec/replicas","value":4}]"#])
            .ok();
        assert_eq!(out.stdout.trim(), "deployment.apps/web patched");
        let out = k
            .run(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"])
            .ok();
        assert_eq!(out.stdout, "4");
        // Status subresource: only status changes.
        let out = k
            .run(&[
                "patch",
                "deploy",
                "web",
                "--subresource=status",
                "--type=merge",
                "-p",
                r#"{"status":{"collisionCount":7},"spec":{"replicas":1}}"#,
            ])
            .ok();
        assert_eq!(out.stdout.trim(), "deployment.apps/web patched");
        let out = k
            .run(&[
                "get",
                "deploy",
                "web",
                "-o",
                "jsonpath={.spec.replicas} {.status.collisionCount}",
            ])
            .ok();
        assert_eq!(out.stdout, "4 7");
    });
}

#[test]
fn edit_through_an_editor_script() {
    for_each_version(|sim, k| {
        let f = sim.write(&format!("edit-{}.yaml", k.version), CM_A);
        k.run(&["apply", "-f", f.to_str().expect("utf-8")]).ok();
        let editor = sim.write(
            "editor.sh",
            "#!/bin/sh\nsed -i 's/key: one/key: edited/' \"$1\"\n",
        );
        let mut perms = std::fs::metadata(&editor).expect("meta").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&editor, perms).expect("chmod");
        let out = k
            .run_env(
                &[("KUBE_EDITOR", editor.to_str().expect("utf-8"))],
                &["edit", "cm", "a"],
            )
            .ok();
        assert_eq!(out.stdout.trim(), "configmap/a edited");
        let out = k
            .run(&["get", "cm", "a", "-o", "jsonpath={.data.key}"])
            .ok();
        assert_eq!(out.stdout, "edited");
    });
}

fn seed_configmaps(k: &Kubectl<'_>) {
    for ns in ["team-a", "team-b"] {
        k.run(&["create", "namespace", ns]).ok();
        for i in 0..3 {
            let name = format!("cm-{i}");
            let app = if i == 2 { "other" } else { "demo" };
            k.run(&[
                "create",
                "configmap",
                &name,
                "-n",
                ns,
                "--from-literal",
                "k=v",
            ])
            .ok();
            k.run(&["label", "configmap", &name, "-n", ns, &format!("app={app}")])
                .ok();
        }
    }
}

#[test]
fn get_output_formats_selectors_and_chunks() {
    for_each_version(|_, k| {
        seed_configmaps(k);
        let out = k
            .run(&["get", "cm", "-n", "team-a", "-l", "app=demo", "-o", "name"])
            .ok();
        assert_eq!(lines(&out.stdout), ["configmap/cm-0", "configmap/cm-1"]);
        let out = k
            .run(&[
                "get",
                "cm",
                "-A",
                "-l",
                "app in (demo)",
                "--field-selector",
                "metadata.namespace=team-b",
                "-o",
                "name",
            ])
            .ok();
        assert_eq!(lines(&out.stdout), ["configmap/cm-0", "configmap/cm-1"]);
        let out = k
            .run(&[
                "get",
                "cm",
                "-n",
                "team-a",
                "-l",
                "app",
                "--chunk-size=1",
                "-o",
                "custom-columns=NAME:.metadata.name,APP:.metadata.labels.app",
            ])
            .ok();
        assert_eq!(
            out.stdout
                .lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>())
                .collect::<Vec<_>>(),
            [
                vec!["NAME", "APP"],
                vec!["cm-0", "demo"],
                vec!["cm-1", "demo"],
                vec!["cm-2", "other"]
            ]
        );
        let out = k.run(&["get", "cm", "-n", "team-a", "-l", "app=demo"]).ok();
        let header: Vec<&str> = out
            .stdout
            .lines()
            .next()
            .expect("header")
            .split_whitespace()
            .collect();
        assert_eq!(header, ["NAME", "DATA", "AGE"]);
        assert!(
            out.stdout.lines().nth(1).expect("row").starts_with("cm-0"),
            "{}",
            out.stdout
        );
        let out = k
            .run(&["get", "cm", "cm-0", "-n", "team-a", "-o", "json"])
            .ok();
        let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
        assert_eq!(v["data"]["k"], "v");
        let out = k
            .run(&["get", "cm", "cm-0", "-n", "team-a", "-o", "yaml"])
            .ok();
        assert!(
            out.stdout.contains("name: cm-0") && out.stdout.contains("namespace: team-a"),
            "{}",
            out.stdout
        );
        let out = k
            .run(&["get", "cm", "-n", "team-a", "--field-selector", "data.k=v"])
            .expect_code(1);
        assert!(
            out.stderr.contains("field label not supported: data.k"),
            "{}",
            out.stderr
        );
        let out = k.run(&["get", "ns", "team-a", "-o", "wide"]).ok();
        assert_eq!(
            out.stdout
                .lines()
                .next()
                .expect("header")
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["NAME", "STATUS", "AGE"]
        );
    });
}

#[test]
fn get_wide_deployment_shows_wide_columns() {
    for_each_version(|sim, k| {
        let f = sim.write(&format!("wide-{}.yaml", k.version), DEPLOY);
        k.run(&["apply", "-f", f.to_str().expect("utf-8")]).ok();
        k.run(&["rollout", "status", "deploy/web", "--timeout=20s"])
            .ok();
        let out = k.run(&["get", "deploy", "-o", "wide"]).ok();
        let rows: Vec<Vec<&str>> = out
            .stdout
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            rows[0],
            [
                "NAME",
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "AGE",
                "CONTAINERS",
                "IMAGES",
                "SELECTOR"
            ]
        );
        assert_eq!(rows[1][..4], ["web", "2/2", "2", "2"]);
        assert_eq!(rows[1][5..], ["web", "nginx:1.27", "app=web"]);
    });
}

#[test]
fn watch_prints_events_written_by_another_process() {
    for_each_version(|_, k| {
        let mut watch = k
            .command(&[
                "get",
                "cm",
                "-w",
                "--output-watch-events",
                "-l",
                "watched=yes",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("watch starts");
        let stdout = watch.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let line = line.expect("line");
                seen.push(
                    line.split_whitespace()
                        .take(2)
                        .collect::<Vec<_>>()
                        .join(" "),
                );
                if seen.len() >= 4 {
                    break;
                }
            }
            seen
        });
        std::thread::sleep(Duration::from_millis(800));
        k.run(&["create", "configmap", "w1", "--from-literal=a=1"])
            .ok();
        k.run(&["label", "configmap", "w1", "watched=yes"]).ok();
        k.run(&[
            "patch",
            "configmap",
            "w1",
            "--type=merge",
            "-p",
            r#"{"data":{"a":"2"}}"#,
        ])
        .ok();
        k.run(&["delete", "configmap", "w1"]).ok();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !reader.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = watch.kill();
        let _ = watch.wait();
        let seen = reader.join().expect("reader");
        assert_eq!(
            seen,
            ["EVENT NAME", "ADDED w1", "MODIFIED w1", "DELETED w1"],
            "kubectl {}",
            k.version
        );
    });
}

#[test]
fn wait_for_condition_jsonpath_and_delete() {
    for_each_version(|sim, k| {
        let f = sim.write(&format!("wait-{}.yaml", k.version), DEPLOY);
        k.run(&["apply", "-f", f.to_str().expect("utf-8")]).ok();
        let out = k
            .run(&[
                "wait",
                "--for=condition=Available",
                "deploy/web",
                "--timeout=20s",
            ])
            .ok();
        assert_eq!(out.stdout.trim(), "deployment.apps/web condition met");
        let out = k
            .run(&[
                "wait",
                "--for=jsonpath={.status.readyReplicas}=2",
                "deploy/web",
                "--timeout=20s",
            ])
            .ok();
        assert_eq!(out.stdout.trim(), "deployment.apps/web condition met");
        let out = k
            .run(&["rollout", "status", "deploy/web", "--timeout=20s"])
            .ok();
        assert_eq!(
            out.stdout.trim(),
            "deployment \"web\" successfully rolled out"
        );
        let waiter = k
            .command(&["wait", "--for=delete", "deploy/web", "--timeout=20s"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("wait");
        std::thread::sleep(Duration::from_millis(500));
        k.run(&["delete", "deploy", "web", "--wait=false"]).ok();
        let out = waiter.wait_with_output().expect("wait ends");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "deployment.apps/web condition met"
        );
    });
}

#[test]
fn delete_waits_for_finalizers_to_be_patched_away() {
    for_each_version(|_, k| {
        k.run(&["create", "configmap", "held"]).ok();
        k.run(&[
            "patch",
            "configmap",
            "held",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
        ])
        .ok();
        let mut deleting = k
            .command(&["delete", "configmap", "held", "--timeout=30s"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("delete");
        std::thread::sleep(Duration::from_millis(1500));
        assert!(
            deleting.try_wait().expect("poll").is_none(),
            "delete must block on the finalizer"
        );
        let out = k
            .run(&[
                "get",
                "configmap",
                "held",
                "-o",
                "jsonpath={.metadata.deletionTimestamp}",
            ])
            .ok();
        assert!(!out.stdout.is_empty(), "deletionTimestamp is set");
        k.run(&[
            "patch",
            "configmap",
            "held",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ])
        .ok();
        let out = deleting.wait_with_output().expect("delete ends");
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "configmap \"held\" deleted"
        );
        k.run(&["get", "configmap", "held"]).expect_code(1);
    });
}

#[test]
fn deleting_a_namespace_deletes_its_contents() {
    for_each_version(|_, k| {
        k.run(&["create", "namespace", "doomed"]).ok();
        k.run(&["create", "configmap", "x", "-n", "doomed"]).ok();
        k.run(&[
            "create",
            "secret",
            "generic",
            "s",
            "-n",
            "doomed",
            "--from-literal=a=b",
        ])
        .ok();
        let out = k
            .run(&["delete", "namespace", "doomed", "--timeout=30s"])
            .ok();
        assert_eq!(out.stdout.trim(), "namespace \"doomed\" deleted");
        let out = k.run(&["get", "namespace", "doomed"]).expect_code(1);
        assert!(
            out.stderr.contains("namespaces \"doomed\" not found"),
            "{}",
            out.stderr
        );
        let out = k
            .run(&["get", "configmap", "x", "-n", "doomed"])
            .expect_code(1);
        assert!(out.stderr.contains("not found"), "{}", out.stderr);
    });
}

#[test]
fn creating_in_a_terminating_namespace_is_forbidden() {
    let sim = Sim::start();
    let k = sim.kubectl("1.32");
    k.run(&["create", "namespace", "closing"]).ok();
    k.run(&["create", "configmap", "held", "-n", "closing"])
        .ok();
    k.run(&[
        "patch",
        "configmap",
        "held",
        "-n",
        "closing",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
    ])
    .ok();
    k.run(&["delete", "namespace", "closing", "--wait=false"])
        .ok();
    let out = k
        .run(&["create", "configmap", "late", "-n", "closing"])
        .expect_code(1);
    assert_eq!(
        out.stderr.trim(),
        "error: failed to create configmap: configmaps \"late\" is forbidden: unable to create new content in namespace closing because it is being terminated"
    );
    let out = k
        .run(&["get", "ns", "closing", "-o", "jsonpath={.status.phase}"])
        .ok();
    assert_eq!(out.stdout, "Terminating");
}

fn owner_and_dependent(k: &Kubectl<'_>, owner: &str) -> String {
    k.run(&["create", "configmap", owner]).ok();
    let uid = k
        .run(&["get", "configmap", owner, "-o", "jsonpath={.metadata.uid}"])
        .ok()
        .stdout;
    let patch = format!(
        r#"{{"metadata":{{"ownerReferences":[{{"apiVersion":"v1","kind":"ConfigMap","name":"{owner}","uid":"{uid}","blockOwnerDeletion":true}}]}}}}"#
    );
    let dep = format!("{owner}-dep");
    k.run(&["create", "configmap", &dep]).ok();
    k.run(&["patch", "configmap", &dep, "--type=merge", "-p", &patch])
        .ok();
    dep
}

fn gone_within(k: &Kubectl<'_>, name: &str, secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if k.run(&["get", "configmap", name]).code == 1 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn cascading_deletes_background_foreground_and_orphan() {
    for_each_version(|_, k| {
        let dep = owner_and_dependent(k, "bg");
        k.run(&["delete", "configmap", "bg"]).ok();
        assert!(
            gone_within(k, &dep, 10),
            "background deletion collects the dependent"
        );

        let dep = owner_and_dependent(k, "fg");
        let out = k
            .run(&[
                "delete",
                "configmap",
                "fg",
                "--cascade=foreground",
                "--timeout=30s",
            ])
            .ok();
        assert_eq!(out.stdout.trim(), "configmap \"fg\" deleted");
        assert!(
            gone_within(k, &dep, 1),
            "foreground deletion removed the dependent first"
        );

        let dep = owner_and_dependent(k, "or");
        k.run(&[
            "delete",
            "configmap",
            "or",
            "--cascade=orphan",
            "--timeout=30s",
        ])
        .ok();
        assert!(gone_within(k, "or", 10));
        let out = k
            .run(&[
                "get",
                "configmap",
                &dep,
                "-o",
                "jsonpath={.metadata.ownerReferences}",
            ])
            .ok();
        assert_eq!(
            out.stdout, "",
            "orphaned dependents lose the owner reference"
        );
    });
}

#[test]
fn crd_established_then_custom_resources_with_printer_columns() {
    for_each_version(|sim, k| {
        let crd = sim.write("crd.yaml", CRD);
        let out = k.run(&["create", "-f", crd.to_str().expect("utf-8")]).ok();
        assert_eq!(
            out.stdout.trim(),
            "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created"
        );
        let out = k
            .run(&[
                "wait",
                "--for=condition=Established",
                "crd/widgets.example.com",
                "--timeout=20s",
            ])
            .ok();
        assert_eq!(
            out.stdout.trim(),
            "customresourcedefinition.apiextensions.k8s.io/widgets.example.com condition met"
        );
        let cr = sim.write("cr.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: 3\n  color: blue\n");
        let out = k.run(&["apply", "-f", cr.to_str().expect("utf-8")]).ok();
        assert_eq!(out.stdout.trim(), "widget.example.com/w1 created");
        let out = k.run(&["get", "widgets"]).ok();
        let rows: Vec<Vec<&str>> = out
            .stdout
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(rows[0], ["NAME", "SIZE", "COLOR"]);
        assert_eq!(rows[1], ["w1", "3", "blue"]);
        let out = k
            .run(&["get", "wg", "w1", "-o", "jsonpath={.spec.color}"])
            .ok();
        assert_eq!(out.stdout, "blue");
        // Strategic merge patches are refused for custom resources.
        let out = k
            .run(&[
                "patch",
                "widget",
                "w1",
                "--type=strategic",
                "-p",
                r#"{"spec":{"size":4}}"#,
            ])
            .expect_code(1);
        assert!(
            out.stderr.contains("UnsupportedMediaType")
                || out.stderr.contains("415")
                || out.stderr.contains("unknown format"),
            "{}",
            out.stderr
        );
        k.run(&[
            "delete",
            "-f",
            crd.to_str().expect("utf-8"),
            "--timeout=30s",
        ])
        .ok();
    });
}

#[test]
fn rollout_status_reports_simulated_failures() {
    let sim = Sim::start();
    let k = sim.kubectl("1.32");
    let stuck = DEPLOY.replace("  labels:\n    app: web\nspec:", "  labels:\n    app: web\n  annotations:\n    kubesim.flotilla.dev/simulate: progress-deadline-exceeded\nspec:");
    let f = sim.write("stuck.yaml", &stuck);
    k.run(&["apply", "-f", f.to_str().expect("utf-8")]).ok();
    let out = k
        .run(&["rollout", "status", "deploy/web", "--timeout=20s"])
        .expect_code(1);
    assert_eq!(
        out.stderr.trim(),
        "error: deployment \"web\" exceeded its progress deadline"
    );
    let never = stuck
        .replace("progress-deadline-exceeded", "never-ready")
        .replace("name: web\n  labels", "name: slow\n  labels");
    let f = sim.write("never.yaml", &never);
    k.run(&["apply", "-f", f.to_str().expect("utf-8")]).ok();
    let out = k
        .run(&[
            "wait",
            "--for=condition=Available",
            "deploy/slow",
            "--timeout=2s",
        ])
        .expect_code(1);
    assert!(
        out.stderr.contains("timed out waiting for the condition"),
        "{}",
        out.stderr
    );
}
