//! Server-side apply through the real kubectl: create, no-op and change; a second manager's
//! conflict and `--force-conflicts`; managed fields; client-side → server-side migration.

use super::harness::for_each_version;

const CM: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s\ndata:\n  key: one\n  other: x\n";

fn managed(
    k: &super::harness::Kubectl<'_>,
    name: &str,
) -> Vec<(String, String, serde_json::Value)> {
    let out = k
        .run(&["get", "cm", name, "-o", "json", "--show-managed-fields"])
        .ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    v["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields")
        .iter()
        .map(|e| {
            (
                e["manager"].as_str().unwrap_or("").to_string(),
                e["operation"].as_str().unwrap_or("").to_string(),
                e["fieldsV1"].clone(),
            )
        })
        .collect()
}

#[test]
fn server_side_apply_conflicts_and_force() {
    for_each_version(|sim, k| {
        let first = sim.write(&format!("ssa-{}.yaml", k.version), CM);
        let first = first.to_str().expect("utf-8");
        let out = k.run(&["apply", "--server-side", "-f", first]).ok();
        assert_eq!(out.stdout.trim(), "configmap/s serverside-applied");
        let rv = k
            .run(&[
                "get",
                "cm",
                "s",
                "-o",
                "jsonpath={.metadata.resourceVersion}",
            ])
            .ok()
            .stdout;
        k.run(&["apply", "--server-side", "-f", first]).ok();
        let again = k
            .run(&[
                "get",
                "cm",
                "s",
                "-o",
                "jsonpath={.metadata.resourceVersion}",
            ])
            .ok()
            .stdout;
        assert_eq!(
            rv, again,
            "re-applying the same configuration changes nothing"
        );

        let second = sim.write(
            &format!("ssa2-{}.yaml", k.version),
            &CM.replace("key: one", "key: two"),
        );
        let second = second.to_str().expect("utf-8");
        let out = k
            .run(&[
                "apply",
                "--server-side",
                "--field-manager=other",
                "-f",
                second,
            ])
            .expect_code(1);
        assert!(
            out.stderr.starts_with(
                "error: Apply failed with 1 conflict: conflict with \"kubectl\": .data.key\n"
            ),
            "kubectl {}: {}",
            k.version,
            out.stderr
        );
        let out = k
            .run(&["get", "cm", "s", "-o", "jsonpath={.data.key}"])
            .ok();
        assert_eq!(out.stdout, "one", "a conflicting apply changes nothing");

        k.run(&[
            "apply",
            "--server-side",
            "--field-manager=other",
            "--force-conflicts",
            "-f",
            second,
        ])
        .ok();
        let out = k
            .run(&["get", "cm", "s", "-o", "jsonpath={.data.key}"])
            .ok();
        assert_eq!(out.stdout, "two");
        let owners = managed(k, "s");
        let kubectl = owners
            .iter()
            .find(|o| o.0 == "kubectl")
            .expect("kubectl still manages");
        assert_eq!(kubectl.1, "Apply");
        assert_eq!(
            kubectl.2,
            serde_json::json!({"f:data": {"f:other": {}}}),
            "force took .data.key away"
        );
        let other = owners
            .iter()
            .find(|o| o.0 == "other")
            .expect("other manages");
        assert_eq!(
            other.2,
            serde_json::json!({"f:data": {"f:key": {}, "f:other": {}}}),
            "same value: shared ownership"
        );

        // The first manager stops sending `other`: it stays, because `other` co-owns it.
        let trimmed = sim.write(
            &format!("ssa3-{}.yaml", k.version),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s\ndata: {}\n",
        );
        k.run(&[
            "apply",
            "--server-side",
            "-f",
            trimmed.to_str().expect("utf-8"),
        ])
        .ok();
        let out = k
            .run(&["get", "cm", "s", "-o", "jsonpath={.data.other}"])
            .ok();
        assert_eq!(out.stdout, "x");
    });
}

#[test]
fn client_side_then_server_side_apply_migrates_ownership() {
    for_each_version(|sim, k| {
        let name = format!("csa-{}.yaml", k.version);
        let f = sim.write(&name, &CM.replace("name: s", "name: c"));
        let path = f.to_str().expect("utf-8");
        k.run(&["apply", "-f", path]).ok();
        let owners = managed(k, "c");
        assert_eq!(
            owners
                .iter()
                .map(|o| (o.0.as_str(), o.1.as_str()))
                .collect::<Vec<_>>(),
            [("kubectl-client-side-apply", "Update")]
        );
        sim.write(
            &name,
            &CM.replace("name: s", "name: c")
                .replace("key: one", "key: two"),
        );
        let out = k.run(&["apply", "--server-side", "-f", path]).ok();
        assert_eq!(out.stdout.trim(), "configmap/c serverside-applied");
        let owners = managed(k, "c");
        assert!(
            owners.iter().all(|o| o.0 != "kubectl-client-side-apply"),
            "kubectl migrated the client-side owner away: {owners:?}"
        );
        let kubectl = owners
            .iter()
            .find(|o| o.0 == "kubectl")
            .expect("kubectl applies");
        assert_eq!(kubectl.1, "Apply");
        let out = k
            .run(&["get", "cm", "c", "-o", "jsonpath={.data.key}"])
            .ok();
        assert_eq!(out.stdout, "two");
    });
}
