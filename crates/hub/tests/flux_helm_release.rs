//! Flux `HelmRelease` end to end on a kubesim hub: a chart pushed to the real
//! `docker-registry` as `helm push` pushes it, read through an OCIRepository
//! (`chartRef`), installed into its target namespace with values from a ConfigMap and
//! inline; the release kept as Helm keeps it (its records in the storage namespace),
//! upgraded when the values or the chart change (what left the chart deleted), a failed
//! install stalled in helm-controller's words, the lockdown refusing a source in another
//! namespace, and the release uninstalled when the HelmRelease is deleted; rollback,
//! uninstall and cleanup settings, hooks and tests.

mod support;

use std::time::Duration;

use flotilla_hub::flux::helm_release::helm_release_resource;
use flotilla_hub::flux::oci_repository::oci_repository_resource;
use flotilla_render::helm::storage::{self, Status};
use flotilla_source::{CacheOptions, MirrorCache};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use kube::Client;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};
use support::registry::{CHART_LAYER, Registry};
use support::wait_for;

const NAMESPACE: &str = "team-a";

/// A chart `web` at `version` whose templates are a ConfigMap (its color from the
/// values, a string as its `values.schema.json` requires), a Deployment and, with
/// `with_service`, a Service; by values a pre-install
/// Job hook (`withHook`), a test Pod, a second ConfigMap (`extra`), a Job that never
/// completes (`withJob`) and ConfigMap hooks for pre/post-delete and pre/post-rollback
/// (`lifecycleHooks`); packaged.
fn web_chart(dir: &std::path::Path, version: &str, with_service: bool) -> Vec<u8> {
    let root = dir.join(format!("chart-{version}"));
    let chart = root.join("web");
    let _ = std::fs::remove_dir_all(&root);
    support::write(
        &chart,
        "Chart.yaml",
        &format!("apiVersion: v2\nname: web\nversion: {version}\nappVersion: \"2.4\"\n"),
    );
    support::write(
        &chart,
        "values.yaml",
        "color: blue\nreplicas: 1\nname: web-settings\n",
    );
    support::write(
        &chart,
        "values.schema.json",
        "{\"$schema\": \"http://json-schema.org/draft-07/schema#\", \"properties\": {\"color\": {\"type\": \"string\"}}}\n",
    );
    support::write(
        &chart,
        "crds/widgets.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}\n  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}\n",
    );
    support::write(
        &chart,
        "templates/settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.name }}\ndata:\n  color: {{ .Values.color | quote }}\n  release: {{ .Release.Name | quote }}\n",
    );
    support::write(
        &chart,
        "templates/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  replicas: {{ .Values.replicas }}\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n",
    );
    support::write(
        &chart,
        "templates/migrate.yaml",
        "{{- if .Values.withHook }}\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{ .Release.Name }}-migrate\n  annotations:\n    helm.sh/hook: pre-install,pre-upgrade\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: migrate\n        image: busybox\n{{- end }}\n",
    );
    support::write(
        &chart,
        "templates/tests/connection.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}-test\n  annotations:\n    helm.sh/hook: test\n    {{- if .Values.failTests }}\n    kubesim.flotilla.dev/simulate: fail\n    {{- end }}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: wget\n    image: busybox\n",
    );
    support::write(
        &chart,
        "templates/extra.yaml",
        "{{- if .Values.extra }}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-extra\ndata:\n  extra: \"yes\"\n{{- end }}\n",
    );
    support::write(
        &chart,
        "templates/batch.yaml",
        "{{- if .Values.withJob }}\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{ .Release.Name }}-batch\n  annotations:\n    kubesim.flotilla.dev/simulate: never-ready\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: batch\n        image: busybox\n{{- end }}\n",
    );
    support::write(
        &chart,
        "templates/lifecycle.yaml",
        "{{- if .Values.lifecycleHooks }}\n{{- range (list \"pre-delete\" \"post-delete\" \"pre-rollback\" \"post-rollback\") }}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ $.Release.Name }}-{{ . }}\n  annotations:\n    helm.sh/hook: {{ . }}\ndata:\n  event: {{ . }}\n{{- end }}\n{{- end }}\n",
    );
    if with_service {
        support::write(
            &chart,
            "templates/service.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  selector: {app: web}\n  ports:\n  - port: 80\n",
        );
    }
    support::package_chart(&root, "web", version);
    std::fs::read(root.join(format!("web-{version}.tgz"))).unwrap()
}

async fn create(client: &Client, resource: &ApiResource, value: Value) {
    let namespace = value["metadata"]["namespace"].as_str().unwrap().to_string();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, resource);
    let object: DynamicObject = serde_json::from_value(value).unwrap();
    api.create(&PostParams::default(), &object).await.unwrap();
}

async fn object(client: &Client, resource: &ApiResource, name: &str) -> Option<Value> {
    support::object_of(client, resource, NAMESPACE, name).await
}

/// The HelmRelease's status once its `type` condition has `status` and `reason`.
async fn condition_when(
    name: &str,
    client: &Client,
    type_: &str,
    status: &str,
    reason: &str,
) -> (Value, String) {
    support::condition_when(
        client,
        &helm_release_resource(),
        (NAMESPACE, name),
        type_,
        status,
        reason,
    )
    .await
}

fn helm_release(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
           "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec})
}

/// The release records of `release` in the storage namespace, by version.
async fn records(client: &Client, release: &str) -> Vec<(u32, Status, Value)> {
    let secrets = Api::<Secret>::namespaced(client.clone(), NAMESPACE);
    let listed = secrets
        .list(&ListParams::default().labels(&format!("owner=helm,name={release}")))
        .await
        .unwrap();
    let mut out: Vec<(u32, Status, Value)> = listed
        .items
        .into_iter()
        .map(|s| {
            let value = serde_json::to_value(&s).unwrap();
            let record = storage::release_from_secret(&value).unwrap();
            let status = record.info.as_ref().unwrap().status.clone().unwrap();
            (record.version, status, value)
        })
        .collect();
    out.sort_by_key(|(v, _, _)| *v);
    out
}

/// Each record's version and status.
async fn statuses(client: &Client, release: &str) -> Vec<(u32, Status)> {
    records(client, release)
        .await
        .into_iter()
        .map(|(v, s, _)| (v, s))
        .collect()
}

/// The condition of `type_` in a status.
fn condition(status: &Value, type_: &str) -> Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap()
        .clone()
}

/// A registry holding chart `web` 1.0.0, a Flux hub, the namespaces, the `web-values`
/// ConfigMap and the OCIRepository `web` (semver `1.x`) in [`NAMESPACE`].
async fn setup(dir: &std::path::Path) -> (Registry, kubesim::Server, Client) {
    let registry = Registry::start(dir, "");
    registry.push_chart("charts/web", "1.0.0", &web_chart(dir, "1.0.0", true), None);
    let mirrors = MirrorCache::new(CacheOptions::new(dir.join("cache"))).unwrap();
    let (server, client) = support::flux_hub(&mirrors, Duration::from_secs(1)).await;
    for namespace in [NAMESPACE, "elsewhere"] {
        let ns: k8s_openapi::api::core::v1::Namespace =
            serde_json::from_value(json!({"metadata": {"name": namespace}})).unwrap();
        Api::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
    }
    let values: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "web-values", "namespace": NAMESPACE},
        "data": {"values.yaml": "replicas: 2\ncolor: yellow\n"},
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &values)
        .await
        .unwrap();
    let oci = oci_repository_resource();
    create(
        &client,
        &oci,
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
               "metadata": {"name": "web", "namespace": NAMESPACE},
               "spec": {"interval": "1m", "url": format!("oci://{}/charts/web", registry.host),
                        "insecure": true, "ref": {"semver": "1.x"},
                        "layerSelector": {"mediaType": CHART_LAYER, "operation": "copy"}}}),
    )
    .await;
    (registry, server, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_helm_release_installs_upgrades_and_uninstalls_a_chart_from_a_registry() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, server, client) = setup(dir.path()).await;
    let oci = oci_repository_resource();
    let hr = helm_release_resource();
    create(
        &client,
        &hr,
        helm_release(
            "web",
            json!({"interval": "5m", "targetNamespace": "web",
                   "install": {"createNamespace": true},
                   "chartRef": {"kind": "OCIRepository", "name": "web"},
                   "valuesFrom": [{"kind": "ConfigMap", "name": "web-values"}],
                   "values": {"color": "red"}}),
        ),
    )
    .await;

    // Installed: the release name is <targetNamespace>-<name>, the chart version carries
    // the artifact's digest, the values are the ConfigMap's under the inline ones.
    let (status, message) =
        condition_when("web", &client, "Ready", "True", "InstallSucceeded").await;
    let chart_version = status["lastAttemptedRevision"]
        .as_str()
        .unwrap()
        .to_string();
    let digest = status["lastAttemptedRevisionDigest"].as_str().unwrap();
    assert_eq!(
        chart_version,
        format!("1.0.0+{}", &digest.trim_start_matches("sha256:")[..12])
    );
    assert_eq!(
        message,
        format!("Helm install succeeded for release web/web-web.v1 with chart web@{chart_version}")
    );
    assert_eq!(status["storageNamespace"], NAMESPACE);
    assert_eq!(status["lastAttemptedReleaseAction"], "install");
    assert_eq!(status["history"][0]["version"], 1);
    assert_eq!(status["history"][0]["status"], "deployed");
    assert_eq!(status["history"][0]["chartName"], "web");
    assert_eq!(status["history"][0]["appVersion"], "2.4");
    assert_eq!(
        status["history"][0]["configDigest"],
        status["lastAttemptedConfigDigest"]
    );
    let settings = Api::<ConfigMap>::namespaced(client.clone(), "web")
        .get("web-settings")
        .await
        .unwrap();
    let data = settings.data.clone().unwrap();
    assert_eq!(data["color"], "red", "inline values win");
    assert_eq!(data["release"], "web-web");
    let labels = settings.metadata.labels.clone().unwrap();
    assert_eq!(labels["helm.toolkit.fluxcd.io/name"], "web");
    assert_eq!(labels["helm.toolkit.fluxcd.io/namespace"], NAMESPACE);
    assert_eq!(labels["app.kubernetes.io/managed-by"], "Helm");
    let annotations = settings.metadata.annotations.clone().unwrap();
    assert_eq!(annotations["meta.helm.sh/release-name"], "web-web");
    assert_eq!(annotations["meta.helm.sh/release-namespace"], "web");
    let managers: Vec<String> = settings
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|f| f.manager)
        .collect();
    assert!(
        managers.contains(&"helm-controller".to_string()),
        "{managers:?}"
    );
    let deployment: Value = serde_json::to_value(
        Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), "web")
            .get("web-web")
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(deployment["spec"]["replicas"], 2, "from valuesFrom");

    // The chart's CRD, created before the release and not part of its manifest.
    let crds = Api::<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>::all(client.clone());
    let crd = crds.get("widgets.example.com").await.unwrap();
    assert_eq!(
        crd.metadata.labels.unwrap()["helm.toolkit.fluxcd.io/name"],
        "web"
    );

    // Helm's own record: one Secret per revision in the storage namespace.
    let stored = records(&client, "web-web").await;
    assert_eq!(stored.len(), 1);
    let (version, record_status, secret) = &stored[0];
    assert_eq!((*version, record_status), (1, &Status::Deployed));
    assert_eq!(secret["metadata"]["name"], "sh.helm.release.v1.web-web.v1");
    assert_eq!(secret["type"], "helm.sh/release.v1");
    assert_eq!(secret["metadata"]["labels"]["status"], "deployed");
    let record = storage::release_from_secret(secret).unwrap();
    assert_eq!(record.namespace, "web");
    assert_eq!(record.config["color"], "red");
    assert!(
        record
            .manifest
            .contains("# Source: web/templates/service.yaml")
    );
    assert!(!record.manifest.contains("CustomResourceDefinition"));

    // kubectl shows it as Flux's printer columns do.
    let shown = support::kubectl(
        &server,
        dir.path(),
        "hub",
        &["get", "helmreleases", "-n", NAMESPACE],
    );
    assert!(shown.contains("Helm install succeeded"), "{shown}");

    // New values: an upgrade to revision 2; revision 1 superseded.
    Api::<DynamicObject>::namespaced_with(client.clone(), NAMESPACE, &hr)
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"values": {"color": "green"}}})),
        )
        .await
        .unwrap();
    let (status, message) =
        condition_when("web", &client, "Ready", "True", "UpgradeSucceeded").await;
    assert_eq!(
        message,
        format!("Helm upgrade succeeded for release web/web-web.v2 with chart web@{chart_version}")
    );
    assert_eq!(status["history"][0]["version"], 2);
    assert_eq!(status["history"][1]["status"], "superseded");
    assert_eq!(
        statuses(&client, "web-web").await,
        vec![(1, Status::Superseded), (2, Status::Deployed)]
    );
    let color = Api::<ConfigMap>::namespaced(client.clone(), "web")
        .get("web-settings")
        .await
        .unwrap()
        .data
        .unwrap()["color"]
        .clone();
    assert_eq!(color, "green");

    // A new chart version without the Service: upgraded, the Service deleted.
    registry.push_chart(
        "charts/web",
        "1.1.0",
        &web_chart(dir.path(), "1.1.0", false),
        None,
    );
    Api::<DynamicObject>::namespaced_with(client.clone(), NAMESPACE, &oci)
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "now"}}}),
            ),
        )
        .await
        .unwrap();
    let services = Api::<Service>::namespaced(client.clone(), "web");
    wait_for("the Service that left the chart is deleted", async || {
        services
            .get_opt("web-web")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    // The Service goes before the status is written: wait for revision 3's status.
    let (_, message) = wait_for("revision 3 with chart 1.1.0", async || {
        let (status, message) =
            condition_when("web", &client, "Ready", "True", "UpgradeSucceeded").await;
        (status["history"][0]["version"] == 3).then_some((status, message))
    })
    .await;
    assert!(
        message
            .starts_with("Helm upgrade succeeded for release web/web-web.v3 with chart web@1.1.0+"),
        "{message}"
    );

    // A chart that cannot be installed (an invalid object name): the record is failed,
    // and with no retries the release stalls.
    create(
        &client,
        &hr,
        helm_release(
            "broken",
            json!({"interval": "5m",
                   "chartRef": {"kind": "OCIRepository", "name": "web"},
                   "values": {"name": "Not_A_Valid_Name"}}),
        ),
    )
    .await;
    let (_, message) =
        condition_when("broken", &client, "Stalled", "True", "RetriesExceeded").await;
    assert_eq!(message, "Failed to install after 1 attempt(s)");
    let (status, message) =
        condition_when("broken", &client, "Released", "False", "InstallFailed").await;
    assert!(
        message.starts_with("Helm install failed for release team-a/broken with chart web@1.1.0+"),
        "{message}"
    );
    assert!(message.contains("Not_A_Valid_Name"), "{message}");
    assert_eq!(status["installFailures"], 1);
    assert_eq!(status["failures"], 1);
    let stored = records(&client, "broken").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].1, Status::Failed);

    // The lockdown: a chart source in another namespace is refused, terminally.
    create(
        &client,
        &hr,
        helm_release(
            "sneaky",
            json!({"interval": "5m",
                   "chartRef": {"kind": "OCIRepository", "name": "web", "namespace": "elsewhere"}}),
        ),
    )
    .await;
    let (_, message) = condition_when("sneaky", &client, "Stalled", "True", "AccessDenied").await;
    assert_eq!(
        message,
        "cross-namespace references are not allowed: cannot access OCIRepository elsewhere/web"
    );

    // Deleting the HelmRelease uninstalls the release: objects and records gone.
    Api::<DynamicObject>::namespaced_with(client.clone(), NAMESPACE, &hr)
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("the HelmRelease is gone", async || {
        object(&client, &hr, "web").await.is_none().then_some(())
    })
    .await;
    assert!(
        Api::<ConfigMap>::namespaced(client.clone(), "web")
            .get_opt("web-settings")
            .await
            .unwrap()
            .is_none()
    );
    assert!(records(&client, "web-web").await.is_empty());
    assert!(
        crds.get_opt("widgets.example.com").await.unwrap().is_some(),
        "Helm never deletes a chart's CRDs"
    );
}

/// With `upgrade.remediation.retries: 1` a failed upgrade is rolled back to the last good
/// revision and tried once more; the second failure is rolled back too (the last failure
/// is remediated by default when there are retries) and the release stalls, serving the
/// good revision. With `install.remediation.retries: 1` a failed install is uninstalled
/// and tried again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_releases_are_rolled_back_or_uninstalled_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, _server, client) = setup(dir.path()).await;
    let hr = helm_release_resource();
    create(
        &client,
        &hr,
        helm_release(
            "web",
            json!({"interval": "5m",
                   "chartRef": {"kind": "OCIRepository", "name": "web"},
                   "upgrade": {"remediation": {"retries": 1}},
                   "values": {"color": "red"}}),
        ),
    )
    .await;
    condition_when("web", &client, "Ready", "True", "InstallSucceeded").await;
    Api::<DynamicObject>::namespaced_with(client.clone(), NAMESPACE, &hr)
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"values": {"name": "Not_A_Valid_Name"}}})),
        )
        .await
        .unwrap();
    let (status, message) =
        condition_when("web", &client, "Stalled", "True", "RetriesExceeded").await;
    assert_eq!(message, "Failed to upgrade after 2 attempt(s)");
    assert_eq!(status["upgradeFailures"], 2);
    let remediated = condition(&status, "Remediated");
    assert_eq!(remediated["reason"], "RollbackSucceeded");
    let chart = status["lastAttemptedRevision"].as_str().unwrap();
    // Rolled back to revision 1 each time: 2 failed, 3 its rollback, 4 failed, 5 its
    // rollback (Helm names the revision it returned to).
    assert_eq!(
        remediated["message"],
        format!("Helm rollback to previous release team-a/web.v3 with chart web@{chart} succeeded")
    );
    let ready = condition(&status, "Ready");
    assert_eq!(
        ready["status"], "False",
        "a remediated release is not Ready"
    );
    assert_eq!(
        statuses(&client, "web").await,
        vec![
            (1, Status::Superseded),
            (2, Status::Superseded),
            (3, Status::Superseded),
            (4, Status::Superseded),
            (5, Status::Deployed),
        ]
    );
    let settings = Api::<ConfigMap>::namespaced(client.clone(), NAMESPACE)
        .get("web-settings")
        .await
        .unwrap();
    assert_eq!(
        settings.data.unwrap()["color"],
        "red",
        "the good revision serves"
    );

    create(
        &client,
        &hr,
        helm_release(
            "broken",
            json!({"interval": "5m",
                   "chartRef": {"kind": "OCIRepository", "name": "web"},
                   "install": {"remediation": {"retries": 1}},
                   "values": {"name": "Not_A_Valid_Name"}}),
        ),
    )
    .await;
    let (status, message) =
        condition_when("broken", &client, "Stalled", "True", "RetriesExceeded").await;
    assert_eq!(message, "Failed to install after 2 attempt(s)");
    assert_eq!(status["installFailures"], 2);
    let remediated = condition(&status, "Remediated");
    assert_eq!(remediated["reason"], "UninstallSucceeded");
    // The first attempt was uninstalled; the second's record is what remains.
    assert_eq!(statuses(&client, "broken").await, vec![(1, Status::Failed)]);
}

/// `strategy: RetryOnFailure` (helm-controller v1.3+): a failed install is neither
/// uninstalled nor stalled; the failed release is upgraded again every `retryInterval`,
/// for ever, and once a fix lands the success clears the failure counters. A
/// `retryInterval` beside `RemediateOnFailure` is refused in the CRD's words.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retry_on_failure_upgrades_a_failed_release_until_it_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, _server, client) = setup(dir.path()).await;
    let hr = helm_release_resource();
    let retry = json!({"name": "RetryOnFailure", "retryInterval": "1s"});
    create(
        &client,
        &hr,
        helm_release(
            "retried",
            json!({"interval": "5m",
                   "chartRef": {"kind": "OCIRepository", "name": "web"},
                   "install": {"strategy": retry},
                   "upgrade": {"strategy": retry},
                   "values": {"name": "Not_A_Valid_Name"}}),
        ),
    )
    .await;
    let status = wait_for("three failed attempts, retried", async || {
        let status = object(&client, &hr, "retried").await?["status"].clone();
        (status["failures"].as_i64()? >= 3).then_some(status)
    })
    .await;
    let types = |status: &Value| -> Vec<String> {
        status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap().to_string())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let reconciling = condition(&status, "Reconciling");
    assert_eq!(reconciling["message"], "retrying after 1s");
    assert_eq!(reconciling["reason"], "ProgressingWithRetry");
    assert_eq!(
        types(&status),
        ["Ready", "Reconciling", "Released"],
        "{status}"
    );
    assert_eq!(status["installFailures"], 1);
    assert!(status["upgradeFailures"].as_i64().unwrap() >= 2, "{status}");
    let ready = condition(&status, "Ready");
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "UpgradeFailed");
    // Nothing was uninstalled or rolled back: every attempt left its failed record.
    let kept = statuses(&client, "retried").await;
    assert!(
        kept.len() >= 3 && kept.iter().all(|(_, s)| *s == Status::Failed),
        "{kept:?}"
    );

    Api::<DynamicObject>::namespaced_with(client.clone(), NAMESPACE, &hr)
        .patch(
            "retried",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"values": {"name": null}}})),
        )
        .await
        .unwrap();
    let (status, _) = condition_when("retried", &client, "Ready", "True", "UpgradeSucceeded").await;
    for counter in ["failures", "installFailures", "upgradeFailures"] {
        assert!(status.get(counter).is_none(), "{counter} cleared: {status}");
    }
    assert!(
        !types(&status).contains(&"Reconciling".to_string()),
        "{status}"
    );
    assert_eq!(
        statuses(&client, "retried")
            .await
            .last()
            .map(|(_, s)| s.clone()),
        Some(Status::Deployed)
    );

    create(
        &client,
        &hr,
        helm_release(
            "misconfigured",
            json!({"interval": "5m",
                   "chartRef": {"kind": "OCIRepository", "name": "web"},
                   "install": {"strategy": {"name": "RemediateOnFailure", "retryInterval": "1m"}}}),
        ),
    )
    .await;
    let (_, message) =
        condition_when("misconfigured", &client, "Stalled", "True", "InvalidSpec").await;
    assert!(
        message.contains(
            "spec.install.strategy: Invalid value: \"object\": .retryInterval cannot be set when .name is 'RemediateOnFailure'"
        ),
        "{message}"
    );
}

/// A tenant's HelmRelease runs as its service account: inside its namespace the release
/// installs (records included; the chart's CRD skipped, as a tenant may not create
/// one); aimed at another namespace it fails as Forbidden and nothing appears there.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tenant_release_is_applied_as_its_service_account() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, _server, client) = setup(dir.path()).await;
    let account: k8s_openapi::api::core::v1::ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "tenant", "namespace": NAMESPACE}}))
            .unwrap();
    Api::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &account)
        .await
        .unwrap();
    let binding: k8s_openapi::api::rbac::v1::RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "tenant-admin", "namespace": NAMESPACE},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": NAMESPACE}],
    }))
    .unwrap();
    Api::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    let hr = helm_release_resource();
    create(
        &client,
        &hr,
        helm_release(
            "own",
            json!({"interval": "5m", "serviceAccountName": "tenant",
                   "install": {"crds": "Skip"},
                   "chartRef": {"kind": "OCIRepository", "name": "web"},
                   "values": {"name": "own-settings"}}),
        ),
    )
    .await;
    condition_when("own", &client, "Ready", "True", "InstallSucceeded").await;
    assert_eq!(records(&client, "own").await.len(), 1);

    create(
        &client,
        &hr,
        helm_release(
            "escape",
            json!({"interval": "5m", "serviceAccountName": "tenant", "targetNamespace": "elsewhere",
                   "install": {"crds": "Skip"},
                   "chartRef": {"kind": "OCIRepository", "name": "web"},
                   "values": {"name": "escaped-settings"}}),
        ),
    )
    .await;
    let (_, message) =
        condition_when("escape", &client, "Stalled", "True", "RetriesExceeded").await;
    assert_eq!(message, "Failed to install after 1 attempt(s)");
    let (_, message) =
        condition_when("escape", &client, "Released", "False", "InstallFailed").await;
    assert!(message.contains("forbidden"), "{message}");
    assert!(
        Api::<ConfigMap>::namespaced(client.clone(), "elsewhere")
            .get_opt("escaped-settings")
            .await
            .unwrap()
            .is_none()
    );
}

/// The everyday Flux shape: `spec.chart` naming a chart of an HTTP HelmRepository. The
/// HelmRelease creates its HelmChart (`<namespace>-<name>`, labelled as its own), which
/// pulls the highest version the range admits; a new version in the index is upgraded
/// to once the repository is read again; deleting the HelmRelease deletes its HelmChart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chart_template_creates_a_helm_chart_from_a_helm_repository() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, _server, client) = setup(dir.path()).await;
    let site = dir.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    let publish = |versions: &[&str]| {
        let mut entries = Vec::new();
        for version in versions {
            let package = web_chart(dir.path(), version, true);
            let file = format!("web-{version}.tgz");
            std::fs::write(site.join(&file), &package).unwrap();
            entries.push(json!({"version": version, "urls": [file],
                                "digest": support::registry::sha256_hex(&package)}));
        }
        let index = json!({"apiVersion": "v1", "entries": {"web": entries}});
        std::fs::write(site.join("index.yaml"), index.to_string()).unwrap();
    };
    publish(&["1.0.0", "2.0.0"]);
    let base = support::serve_files(site.clone()).await;
    create(
        &client,
        &flotilla_hub::flux::helm_repository::helm_repository_resource(),
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
               "metadata": {"name": "charts", "namespace": NAMESPACE},
               "spec": {"interval": "1m", "url": base}}),
    )
    .await;
    let hr = helm_release_resource();
    create(
        &client,
        &hr,
        helm_release(
            "web",
            json!({"interval": "5m",
                   "chart": {"spec": {"chart": "web", "version": "<2.0.0",
                                      "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
                   "values": {"color": "red"}}),
        ),
    )
    .await;
    let (status, message) =
        condition_when("web", &client, "Ready", "True", "InstallSucceeded").await;
    assert_eq!(
        message,
        "Helm install succeeded for release team-a/web.v1 with chart web@1.0.0"
    );
    assert_eq!(status["helmChart"], "team-a/team-a-web");
    let charts = flotilla_hub::flux::helm_chart::helm_chart_resource();
    let chart = object(&client, &charts, "team-a-web").await.unwrap();
    assert_eq!(chart["spec"]["chart"], "web");
    assert_eq!(chart["spec"]["version"], "<2.0.0");
    assert_eq!(
        chart["spec"]["sourceRef"],
        json!({"kind": "HelmRepository", "name": "charts"})
    );
    assert_eq!(
        chart["spec"]["interval"], "5m",
        "the HelmRelease's interval"
    );
    assert_eq!(
        chart["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"],
        "web"
    );
    assert_eq!(chart["status"]["artifact"]["revision"], "1.0.0");

    // A 1.1.0 published: the HelmChart moves to it once the index is read again, and
    // the release follows.
    publish(&["1.0.0", "1.1.0", "2.0.0"]);
    Api::<DynamicObject>::namespaced_with(
        client.clone(),
        NAMESPACE,
        &flotilla_hub::flux::helm_repository::helm_repository_resource(),
    )
    .patch(
        "charts",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "now"}}}),
        ),
    )
    .await
    .unwrap();
    let (_, message) = condition_when("web", &client, "Ready", "True", "UpgradeSucceeded").await;
    assert_eq!(
        message,
        "Helm upgrade succeeded for release team-a/web.v2 with chart web@1.1.0"
    );

    Api::<DynamicObject>::namespaced_with(client.clone(), NAMESPACE, &hr)
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    wait_for(
        "the HelmChart is deleted with its HelmRelease",
        async || {
            object(&client, &charts, "team-a-web")
                .await
                .is_none()
                .then_some(())
        },
    )
    .await;
}

/// `postRenderers` with Kustomize patches and images change the objects after Helm
/// rendered them (what is stored is what was applied); a change of the post-renderers
/// alone upgrades the release. The chart comes from an OCI HelmRepository (`type: oci`),
/// which source-controller leaves unreconciled and the HelmChart pulls from directly.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn post_renderers_patch_a_chart_from_an_oci_helm_repository() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, _server, client) = setup(dir.path()).await;
    create(
        &client,
        &flotilla_hub::flux::helm_repository::helm_repository_resource(),
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
               "metadata": {"name": "registry", "namespace": NAMESPACE},
               "spec": {"type": "oci", "interval": "1m", "insecure": true,
                        "url": format!("oci://{}/charts", registry.host)}}),
    )
    .await;
    let post_renderers = |tag: &str| {
        json!([{"kustomize": {
            "patches": [{"target": {"kind": "Deployment"},
                         "patch": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: any\n  labels:\n    patched: \"yes\"\n"}],
            "images": [{"name": "nginx", "newTag": tag}],
        }}])
    };
    let hr = helm_release_resource();
    create(
        &client,
        &hr,
        helm_release(
            "web",
            json!({"interval": "5m",
                   "chart": {"spec": {"chart": "web", "version": "1.x",
                                      "sourceRef": {"kind": "HelmRepository", "name": "registry"}}},
                   "postRenderers": post_renderers("1.28")}),
        ),
    )
    .await;
    let (status, message) =
        condition_when("web", &client, "Ready", "True", "InstallSucceeded").await;
    assert_eq!(
        message,
        "Helm install succeeded for release team-a/web.v1 with chart web@1.0.0"
    );
    assert!(
        status["observedPostRenderersDigest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let deployments =
        Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), NAMESPACE);
    let image = async || {
        let deployment = serde_json::to_value(deployments.get("web").await.unwrap()).unwrap();
        (
            deployment["spec"]["template"]["spec"]["containers"][0]["image"].clone(),
            deployment["metadata"]["labels"]["patched"].clone(),
        )
    };
    assert_eq!(image().await, (json!("nginx:1.28"), json!("yes")));
    let stored = records(&client, "web").await;
    let record = storage::release_from_secret(&stored[0].2).unwrap();
    assert!(
        record.manifest.contains("image: nginx:1.28"),
        "{}",
        record.manifest
    );

    Api::<DynamicObject>::namespaced_with(client.clone(), NAMESPACE, &hr)
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"postRenderers": post_renderers("1.29")}})),
        )
        .await
        .unwrap();
    condition_when("web", &client, "Ready", "True", "UpgradeSucceeded").await;
    assert_eq!(image().await, (json!("nginx:1.29"), json!("yes")));
}

/// `driftDetection.mode: enabled`: at its next reconcile a release in sync is compared
/// with the cluster, an edited ConfigMap and a deleted Service are reported in
/// helm-controller's words and put back, a path its `ignore` rule names is left alone;
/// the reconcile after that finds no drift.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drift_detection_reports_and_corrects_edits_outside_ignored_paths() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, _server, client) = setup(dir.path()).await;
    let hr = helm_release_resource();
    create(
        &client,
        &hr,
        helm_release(
            "web",
            json!({"interval": "5m",
                   "chartRef": {"kind": "OCIRepository", "name": "web"},
                   "values": {"color": "red"},
                   "driftDetection": {"mode": "enabled", "ignore": [
                       {"paths": ["/spec/replicas"], "target": {"kind": "Deploy.*"}}]}}),
        ),
    )
    .await;
    condition_when("web", &client, "Ready", "True", "InstallSucceeded").await;
    let request = async |at: &str| {
        Api::<DynamicObject>::namespaced_with(client.clone(), NAMESPACE, &hr)
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": at}}}),
                ),
            )
            .await
            .unwrap();
    };
    // Each reconcile of a release in sync looks for drift and corrects it; the edits
    // below must come after the reconciles of the install (a requeue from before the
    // source was ready runs once more), so one is asked for and awaited first.
    let handled = async |at: &str, drifted: &str, reason: &str| {
        wait_for(&format!("the reconcile asked for at {at}"), async || {
            let (status, message) =
                condition_when("web", &client, "Drifted", drifted, reason).await;
            (status["lastHandledReconcileAt"] == at).then_some((status, message))
        })
        .await
    };
    request("settle").await;
    handled("settle", "False", "NoDriftDetected").await;
    let edit = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..Default::default()
    };
    let config_maps = Api::<ConfigMap>::namespaced(client.clone(), NAMESPACE);
    config_maps
        .patch(
            "web-settings",
            &edit,
            &Patch::Merge(json!({"data": {"color": "hacked"}})),
        )
        .await
        .unwrap();
    Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), NAMESPACE)
        .patch(
            "web",
            &edit,
            &Patch::Merge(json!({"spec": {"replicas": 7}})),
        )
        .await
        .unwrap();
    let services = Api::<Service>::namespaced(client.clone(), NAMESPACE);
    services
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    let request = async |at: &str| {
        Api::<DynamicObject>::namespaced_with(client.clone(), NAMESPACE, &hr)
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": at}}}),
                ),
            )
            .await
            .unwrap();
    };
    request("first").await;
    let (_, message) = handled("first", "True", "DriftDetected").await;
    assert_eq!(
        message,
        "Cluster state of release team-a/web.v1 has drifted from the desired state:\n\
         ConfigMap/team-a/web-settings changed (0 additions, 1 changes, 0 removals)\n\
         Service/team-a/web removed"
    );
    let color = config_maps.get("web-settings").await.unwrap().data.unwrap()["color"].clone();
    assert_eq!(color, "red", "corrected");
    assert!(
        services.get_opt("web").await.unwrap().is_some(),
        "recreated"
    );
    let replicas =
        Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), NAMESPACE)
            .get("web")
            .await
            .unwrap()
            .spec
            .unwrap()
            .replicas;
    assert_eq!(replicas, Some(7), "an ignored path is left as edited");
    request("second").await;
    let (_, message) = handled("second", "False", "NoDriftDetected").await;
    assert_eq!(message, "No drift detected against the cluster state");
}

/// A new target namespace makes another release (`<target>-<name>`): the old one is
/// uninstalled first, its objects and records gone, as helm-controller does on a
/// release target change.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_target_uninstalls_the_release_it_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, _server, client) = setup(dir.path()).await;
    let hr = helm_release_resource();
    create(
        &client,
        &hr,
        helm_release(
            "moving",
            json!({"interval": "5m", "targetNamespace": "one",
                   "install": {"createNamespace": true},
                   "chartRef": {"kind": "OCIRepository", "name": "web"}}),
        ),
    )
    .await;
    condition_when("moving", &client, "Ready", "True", "InstallSucceeded").await;
    let in_one = Api::<ConfigMap>::namespaced(client.clone(), "one");
    assert!(in_one.get_opt("web-settings").await.unwrap().is_some());
    assert_eq!(statuses(&client, "one-moving").await.len(), 1);
    Api::<DynamicObject>::namespaced_with(client.clone(), NAMESPACE, &hr)
        .patch(
            "moving",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"targetNamespace": "two"}})),
        )
        .await
        .unwrap();
    let (_, message) = wait_for("the release in two", async || {
        let (status, message) =
            condition_when("moving", &client, "Ready", "True", "InstallSucceeded").await;
        (status["history"][0]["namespace"] == "two").then_some((status, message))
    })
    .await;
    assert!(
        message.starts_with("Helm install succeeded for release two/two-moving.v1"),
        "{message}"
    );
    assert!(in_one.get_opt("web-settings").await.unwrap().is_none());
    assert!(statuses(&client, "one-moving").await.is_empty());
    assert_eq!(
        statuses(&client, "two-moving").await,
        vec![(1, Status::Deployed)]
    );
}

/// `test.enable`: after the install the chart's test hooks run (a Pod that completes),
/// `TestSuccess` and the snapshot's `testHooks` say how it went; a failing test fails
/// the release, which with no retries stalls, and Ready follows the tests.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn helm_tests_run_after_a_release_and_a_failing_one_fails_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, _server, client) = setup(dir.path()).await;
    let hr = helm_release_resource();
    create(
        &client,
        &hr,
        helm_release(
            "tested",
            json!({"interval": "5m", "test": {"enable": true},
                   "chartRef": {"kind": "OCIRepository", "name": "web"},
                   "values": {"name": "tested-settings"}}),
        ),
    )
    .await;
    let (status, message) =
        condition_when("tested", &client, "TestSuccess", "True", "TestSucceeded").await;
    let chart = status["lastAttemptedRevision"].as_str().unwrap();
    assert_eq!(
        message,
        format!(
            "Helm test succeeded for release team-a/tested.v1 with chart web@{chart}: 1 test hook completed successfully"
        )
    );
    assert_eq!(
        status["history"][0]["testHooks"]["tested-test"]["phase"],
        "Succeeded"
    );
    assert_eq!(condition(&status, "Ready")["reason"], "TestSucceeded");
    let stored = records(&client, "tested").await;
    let record = storage::release_from_secret(&stored[0].2).unwrap();
    let hook = record
        .hooks
        .iter()
        .find(|h| h.name == "tested-test")
        .unwrap();
    assert_eq!(hook.last_run.phase, "Succeeded", "written to Helm's record");

    create(
        &client,
        &hr,
        helm_release(
            "failing",
            json!({"interval": "5m", "test": {"enable": true},
                   "chartRef": {"kind": "OCIRepository", "name": "web"},
                   "values": {"name": "failing-settings", "failTests": true}}),
        ),
    )
    .await;
    let (status, message) =
        condition_when("failing", &client, "Stalled", "True", "RetriesExceeded").await;
    assert_eq!(message, "Failed to install after 1 attempt(s)");
    let tests = condition(&status, "TestSuccess");
    assert_eq!(tests["reason"], "TestFailed");
    assert!(
        tests["message"]
            .as_str()
            .unwrap()
            .ends_with(": pod failing-test failed"),
        "{tests}"
    );
    assert_eq!(condition(&status, "Ready")["status"], "False");
    assert_eq!(
        status["history"][0]["testHooks"]["failing-test"]["phase"],
        "Failed"
    );
}

/// A chart's `pre-install` hook runs before the release's objects (a Job, awaited until
/// it completes); `install.disableHooks` skips it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn install_hooks_run_unless_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, _server, client) = setup(dir.path()).await;
    let hr = helm_release_resource();
    for (name, disabled) in [("hooked", false), ("unhooked", true)] {
        create(
            &client,
            &hr,
            helm_release(
                name,
                json!({"interval": "5m", "install": {"disableHooks": disabled},
                       "chartRef": {"kind": "OCIRepository", "name": "web"},
                       "values": {"name": format!("{name}-settings"), "withHook": true}}),
            ),
        )
        .await;
    }
    let jobs = Api::<k8s_openapi::api::batch::v1::Job>::namespaced(client.clone(), NAMESPACE);
    condition_when("hooked", &client, "Ready", "True", "InstallSucceeded").await;
    let job = jobs.get("hooked-migrate").await.unwrap();
    assert!(
        job.status.and_then(|s| s.succeeded) == Some(1),
        "the hook ran to completion"
    );
    let stored = records(&client, "hooked").await;
    let record = storage::release_from_secret(&stored[0].2).unwrap();
    assert!(record.hooks.iter().any(|h| h.name == "hooked-migrate"));
    assert!(
        !record.manifest.contains("hooked-migrate"),
        "hooks are not manifests"
    );
    condition_when("unhooked", &client, "Ready", "True", "InstallSucceeded").await;
    assert!(jobs.get_opt("unhooked-migrate").await.unwrap().is_none());
}

/// A release left `pending-install` (a controller stopped mid-install) is unlocked as
/// helm-controller does — its record marked failed with the reason — and upgraded.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_release_stuck_pending_is_unlocked_and_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, _server, client) = setup(dir.path()).await;
    let stuck = storage::Release {
        name: "stuck".into(),
        info: Some(storage::Info {
            status: Some(Status::PendingInstall),
            description: "Initial install underway".into(),
            ..Default::default()
        }),
        version: 1,
        namespace: NAMESPACE.into(),
        ..Default::default()
    };
    let secret: Secret =
        serde_json::from_value(storage::secret_for(&stuck, 1_700_000_000).unwrap()).unwrap();
    Api::<Secret>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    create(
        &client,
        &helm_release_resource(),
        helm_release(
            "stuck",
            json!({"interval": "5m",
                   "chartRef": {"kind": "OCIRepository", "name": "web"},
                   "values": {"name": "stuck-settings"}}),
        ),
    )
    .await;
    let (_, message) = condition_when("stuck", &client, "Ready", "True", "UpgradeSucceeded").await;
    assert!(
        message.starts_with(
            "Helm upgrade succeeded for release team-a/stuck.v2 with chart web@1.0.0+"
        ),
        "{message}"
    );
    let stored = records(&client, "stuck").await;
    let first = storage::release_from_secret(&stored[0].2).unwrap();
    assert_eq!(stored[0].1, Status::Failed);
    assert_eq!(
        first.info.unwrap().description,
        "Release unlocked from stale 'pending-install' state"
    );
    assert_eq!(stored[1].1, Status::Deployed);
}

/// `upgrade.cleanupOnFail` deletes what a failed upgrade created (and only then), and
/// an upgrade waits for its Jobs to complete unless `disableWaitForJobs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_upgrade_cleans_up_what_it_created_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, _server, client) = setup(dir.path()).await;
    let hr = helm_release_resource();
    let releases = [
        ("clean", json!({"cleanupOnFail": true, "timeout": "3s"})),
        ("dirty", json!({"timeout": "3s"})),
        (
            "jobless",
            json!({"disableWaitForJobs": true, "timeout": "3s"}),
        ),
    ];
    for (name, upgrade) in &releases {
        create(
            &client,
            &hr,
            helm_release(
                name,
                json!({"interval": "5m", "upgrade": upgrade,
                       "chartRef": {"kind": "OCIRepository", "name": "web"},
                       "values": {"name": format!("{name}-settings")}}),
            ),
        )
        .await;
        condition_when(name, &client, "Ready", "True", "InstallSucceeded").await;
    }
    let api = Api::<DynamicObject>::namespaced_with(client.clone(), NAMESPACE, &hr);
    for (name, _) in &releases {
        // A new ConfigMap, and a Job that never completes.
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"values": {"extra": true, "withJob": true}}})),
        )
        .await
        .unwrap();
    }
    let maps = Api::<ConfigMap>::namespaced(client.clone(), NAMESPACE);
    let jobs = Api::<k8s_openapi::api::batch::v1::Job>::namespaced(client.clone(), NAMESPACE);

    let (_, message) = condition_when("clean", &client, "Released", "False", "UpgradeFailed").await;
    assert!(
        message.contains("clean-batch"),
        "the Job it waited for: {message}"
    );
    assert_eq!(
        statuses(&client, "clean").await,
        vec![(1, Status::Deployed), (2, Status::Failed)]
    );
    wait_for("the failed upgrade's objects to be deleted", async || {
        let extra = maps.get_opt("clean-extra").await.unwrap();
        let job = jobs.get_opt("clean-batch").await.unwrap();
        (extra.is_none() && job.is_none()).then_some(())
    })
    .await;
    assert!(
        maps.get_opt("clean-settings").await.unwrap().is_some(),
        "what existed before the upgrade stays"
    );

    condition_when("dirty", &client, "Released", "False", "UpgradeFailed").await;
    assert!(maps.get_opt("dirty-extra").await.unwrap().is_some());
    assert!(jobs.get_opt("dirty-batch").await.unwrap().is_some());

    condition_when("jobless", &client, "Ready", "True", "UpgradeSucceeded").await;
    assert!(jobs.get_opt("jobless-batch").await.unwrap().is_some());
}

/// A rollback runs the target revision's pre- and post-rollback hooks; an uninstall its
/// pre- and post-delete hooks (not with `disableHooks`), deletes only what the release
/// still owns, with the chosen propagation, and keeps the history when asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rollbacks_and_uninstalls_run_their_hooks_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, _server, client) = setup(dir.path()).await;
    let hr = helm_release_resource();
    create(
        &client,
        &hr,
        helm_release(
            "web",
            json!({"interval": "5m",
                   "chartRef": {"kind": "OCIRepository", "name": "web"},
                   "upgrade": {"remediation": {"remediateLastFailure": true}},
                   "uninstall": {"keepHistory": true, "deletionPropagation": "orphan"},
                   "values": {"lifecycleHooks": true}}),
        ),
    )
    .await;
    create(
        &client,
        &hr,
        helm_release(
            "quiet",
            json!({"interval": "5m",
                   "chartRef": {"kind": "OCIRepository", "name": "web"},
                   "uninstall": {"disableHooks": true},
                   "values": {"lifecycleHooks": true, "name": "quiet-settings"}}),
        ),
    )
    .await;
    condition_when("web", &client, "Ready", "True", "InstallSucceeded").await;
    condition_when("quiet", &client, "Ready", "True", "InstallSucceeded").await;
    let maps = Api::<ConfigMap>::namespaced(client.clone(), NAMESPACE);
    for event in ["pre-delete", "post-delete", "pre-rollback", "post-rollback"] {
        assert!(
            maps.get_opt(&format!("web-{event}"))
                .await
                .unwrap()
                .is_none(),
            "{event} hooks do not run at install"
        );
    }

    let api = Api::<DynamicObject>::namespaced_with(client.clone(), NAMESPACE, &hr);
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"values": {"name": "Not_A_Valid_Name"}}})),
    )
    .await
    .unwrap();
    // No retries: the failure is rolled back (the last one, remediated as asked) and
    // the release stalls, so no later attempt races the uninstall below.
    let (status, _) = condition_when("web", &client, "Stalled", "True", "RetriesExceeded").await;
    assert_eq!(
        condition(&status, "Remediated")["reason"],
        "RollbackSucceeded"
    );
    for event in ["pre-rollback", "post-rollback"] {
        let hook = maps.get_opt(&format!("web-{event}")).await.unwrap();
        let hook = hook.unwrap_or_else(|| panic!("the {event} hook ran"));
        assert_eq!(
            hook.metadata.labels.unwrap()["helm.toolkit.fluxcd.io/name"],
            "web",
            "hooks carry the origin labels"
        );
    }
    assert!(maps.get_opt("web-pre-delete").await.unwrap().is_none());

    // Another release takes `web-settings` over; a dependent hangs off the Deployment.
    maps.patch(
        "web-settings",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"meta.helm.sh/release-name": "other"}}})),
    )
    .await
    .unwrap();
    let deployment =
        Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), NAMESPACE)
            .get("web")
            .await
            .unwrap();
    let dependent: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "web-dependent", "namespace": NAMESPACE,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                "uid": deployment.metadata.uid.unwrap()}]},
    }))
    .unwrap();
    maps.create(&PostParams::default(), &dependent)
        .await
        .unwrap();

    for name in ["web", "quiet"] {
        api.delete(name, &DeleteParams::default()).await.unwrap();
    }
    wait_for("both HelmReleases to be gone", async || {
        let web = api.get_opt("web").await.unwrap();
        let quiet = api.get_opt("quiet").await.unwrap();
        (web.is_none() && quiet.is_none()).then_some(())
    })
    .await;
    let deployments =
        Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), NAMESPACE);
    assert!(deployments.get_opt("web").await.unwrap().is_none());
    assert!(deployments.get_opt("quiet").await.unwrap().is_none());
    for event in ["pre-delete", "post-delete"] {
        assert!(
            maps.get_opt(&format!("web-{event}"))
                .await
                .unwrap()
                .is_some(),
            "the {event} hook ran"
        );
        assert!(
            maps.get_opt(&format!("quiet-{event}"))
                .await
                .unwrap()
                .is_none(),
            "disableHooks skips the {event} hook"
        );
    }
    assert!(
        maps.get_opt("web-settings").await.unwrap().is_some(),
        "an object another release owns is not deleted"
    );
    assert!(
        maps.get_opt("web-dependent").await.unwrap().is_some(),
        "orphan propagation leaves the dependents"
    );
    let kept = statuses(&client, "web").await;
    assert_eq!(
        kept,
        vec![
            (1, Status::Superseded),
            (2, Status::Superseded),
            (3, Status::Uninstalled),
        ],
        "1 installed, 2 failed, 3 its rollback, uninstalled and kept"
    );
    assert!(
        statuses(&client, "quiet").await.is_empty(),
        "history purged"
    );
}

/// An object the chart renders that already exists without Helm's ownership metadata is
/// adopted by default, and stops the install with `install.disableTakeOwnership` —
/// before any record is written, the object left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn existing_objects_are_adopted_unless_take_ownership_is_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, _server, client) = setup(dir.path()).await;
    let maps = Api::<ConfigMap>::namespaced(client.clone(), NAMESPACE);
    for name in ["adopted-settings", "guarded-settings"] {
        let by_hand: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": NAMESPACE},
            "data": {"color": "by-hand"},
        }))
        .unwrap();
        maps.create(&PostParams::default(), &by_hand).await.unwrap();
    }
    let hr = helm_release_resource();
    for (name, disable) in [("adopted", false), ("guarded", true)] {
        create(
            &client,
            &hr,
            helm_release(
                name,
                json!({"interval": "5m", "install": {"disableTakeOwnership": disable},
                       "chartRef": {"kind": "OCIRepository", "name": "web"},
                       "values": {"name": format!("{name}-settings")}}),
            ),
        )
        .await;
    }
    condition_when("adopted", &client, "Ready", "True", "InstallSucceeded").await;
    let adopted = maps.get("adopted-settings").await.unwrap();
    assert_eq!(
        adopted.data.unwrap()["color"],
        "blue",
        "the chart's values now"
    );
    assert_eq!(
        adopted.metadata.annotations.unwrap()["meta.helm.sh/release-name"],
        "adopted"
    );

    let (_, message) =
        condition_when("guarded", &client, "Released", "False", "InstallFailed").await;
    assert!(
        message.ends_with(
            "unable to continue with install: ConfigMap \"guarded-settings\" in namespace \"team-a\" exists and cannot be imported into the current release: invalid ownership metadata; label validation error: missing key \"app.kubernetes.io/managed-by\": must be set to \"Helm\"; annotation validation error: missing key \"meta.helm.sh/release-name\": must be set to \"guarded\"; annotation validation error: missing key \"meta.helm.sh/release-namespace\": must be set to \"team-a\""
        ),
        "{message}"
    );
    assert!(statuses(&client, "guarded").await.is_empty(), "no record");
    let guarded = maps.get("guarded-settings").await.unwrap();
    assert_eq!(guarded.data.unwrap()["color"], "by-hand");
    assert!(
        Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), NAMESPACE)
            .get_opt("guarded")
            .await
            .unwrap()
            .is_none(),
        "nothing of the release was applied"
    );
}

/// `upgrade.preserveValues` (Helm's `--reuse-values`): an upgrade whose values dropped a
/// key keeps the last release's value for it, where by default the chart's default
/// comes back; the record keeps the merged values.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn preserved_values_outlive_their_removal_from_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, _server, client) = setup(dir.path()).await;
    let hr = helm_release_resource();
    for (name, preserve) in [("kept", true), ("reset", false)] {
        create(
            &client,
            &hr,
            helm_release(
                name,
                json!({"interval": "5m", "upgrade": {"preserveValues": preserve},
                       "chartRef": {"kind": "OCIRepository", "name": "web"},
                       "values": {"name": format!("{name}-settings"), "color": "red"}}),
            ),
        )
        .await;
        condition_when(name, &client, "Ready", "True", "InstallSucceeded").await;
    }
    let api = Api::<DynamicObject>::namespaced_with(client.clone(), NAMESPACE, &hr);
    for name in ["kept", "reset"] {
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"values": {"color": null, "replicas": 2}}})),
        )
        .await
        .unwrap();
    }
    let maps = Api::<ConfigMap>::namespaced(client.clone(), NAMESPACE);
    for (name, color) in [("kept", "red"), ("reset", "blue")] {
        condition_when(name, &client, "Ready", "True", "UpgradeSucceeded").await;
        let settings = maps.get(&format!("{name}-settings")).await.unwrap();
        assert_eq!(settings.data.unwrap()["color"], color, "{name}");
    }
    let stored = records(&client, "kept").await;
    let latest = storage::release_from_secret(&stored.last().unwrap().2).unwrap();
    assert_eq!(latest.config["color"], "red");
    assert_eq!(latest.config["replicas"].as_f64(), Some(2.0));
}

/// The chart's `values.schema.json` is checked before anything is written, unless
/// `install.disableSchemaValidation`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn values_are_checked_against_the_charts_schema_unless_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, _server, client) = setup(dir.path()).await;
    let hr = helm_release_resource();
    for (name, disable) in [("strict", false), ("lenient", true)] {
        create(
            &client,
            &hr,
            helm_release(
                name,
                json!({"interval": "5m", "install": {"disableSchemaValidation": disable},
                       "chartRef": {"kind": "OCIRepository", "name": "web"},
                       "values": {"name": format!("{name}-settings"), "color": 5}}),
            ),
        )
        .await;
    }
    let (_, message) =
        condition_when("strict", &client, "Released", "False", "InstallFailed").await;
    assert!(
        message.contains("values don't meet the specifications of the schema")
            && message.contains("color"),
        "{message}"
    );
    assert!(statuses(&client, "strict").await.is_empty(), "no record");
    condition_when("lenient", &client, "Ready", "True", "InstallSucceeded").await;
    let settings = Api::<ConfigMap>::namespaced(client.clone(), NAMESPACE)
        .get("lenient-settings")
        .await
        .unwrap();
    assert_eq!(settings.data.unwrap()["color"], "5");
}

/// A release renders with what its cluster serves, as Helm's install reads it from the
/// cluster (`getCapabilities`), not `helm template`'s defaults: the server's version,
/// and its discovered API versions alone — the chart's own `crds/` among them, since
/// they are applied first; a version Helm's built-in list has and the cluster does not
/// serve is absent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_release_sees_its_clusters_version_and_api_versions() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, _server, client) = setup(dir.path()).await;
    let root = dir.path().join("chart-caps");
    let chart = root.join("caps");
    support::write(
        &chart,
        "Chart.yaml",
        "apiVersion: v2\nname: caps\nversion: 1.0.0\n",
    );
    support::write(
        &chart,
        "crds/gadgets.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gadgets.example.com\nspec:\n  group: example.com\n  names: {kind: Gadget, plural: gadgets, singular: gadget, listKind: GadgetList}\n  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}\n",
    );
    support::write(
        &chart,
        "templates/caps.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: capabilities\ndata:\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n  minor: {{ .Capabilities.KubeVersion.Minor | quote }}\n  gadgets: {{ .Capabilities.APIVersions.Has \"example.com/v1/Gadget\" | quote }}\n  deployments: {{ .Capabilities.APIVersions.Has \"apps/v1/Deployment\" | quote }}\n  cronJobsBeta: {{ .Capabilities.APIVersions.Has \"batch/v1beta1\" | quote }}\n",
    );
    support::package_chart(&root, "caps", "1.0.0");
    let package = std::fs::read(root.join("caps-1.0.0.tgz")).unwrap();
    registry.push_chart("charts/caps", "1.0.0", &package, None);
    create(
        &client,
        &oci_repository_resource(),
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
               "metadata": {"name": "caps", "namespace": NAMESPACE},
               "spec": {"interval": "1m", "url": format!("oci://{}/charts/caps", registry.host),
                        "insecure": true, "ref": {"semver": "1.x"},
                        "layerSelector": {"mediaType": CHART_LAYER, "operation": "copy"}}}),
    )
    .await;
    create(
        &client,
        &helm_release_resource(),
        helm_release(
            "caps",
            json!({"interval": "5m", "chartRef": {"kind": "OCIRepository", "name": "caps"}}),
        ),
    )
    .await;
    condition_when("caps", &client, "Ready", "True", "InstallSucceeded").await;
    let data = Api::<ConfigMap>::namespaced(client.clone(), NAMESPACE)
        .get("capabilities")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(data["kube"], "v1.32.0");
    assert_eq!(data["minor"], "32");
    assert_eq!(data["gadgets"], "true");
    assert_eq!(data["deployments"], "true");
    assert_eq!(data["cronJobsBeta"], "false");
}

/// An object that leaves the chart is deleted on upgrade, unless its live copy was
/// marked `helm.sh/resource-policy: keep` (by hand, as an operator marks a volume):
/// Helm reads the live object's annotation, not the old manifest's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_live_keep_annotation_saves_an_object_that_left_the_chart() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, _server, client) = setup(dir.path()).await;
    let hr = helm_release_resource();
    for name in ["marked", "unmarked"] {
        create(
            &client,
            &hr,
            helm_release(
                name,
                json!({"interval": "5m",
                       "chartRef": {"kind": "OCIRepository", "name": "web"},
                       "values": {"name": format!("{name}-settings"), "extra": true}}),
            ),
        )
        .await;
        condition_when(name, &client, "Ready", "True", "InstallSucceeded").await;
    }
    let maps = Api::<ConfigMap>::namespaced(client.clone(), NAMESPACE);
    maps.patch(
        "marked-extra",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"helm.sh/resource-policy": "keep"}}})),
    )
    .await
    .unwrap();
    let api = Api::<DynamicObject>::namespaced_with(client.clone(), NAMESPACE, &hr);
    for name in ["marked", "unmarked"] {
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"values": {"extra": false}}})),
        )
        .await
        .unwrap();
        condition_when(name, &client, "Ready", "True", "UpgradeSucceeded").await;
    }
    assert!(maps.get_opt("unmarked-extra").await.unwrap().is_none());
    assert!(
        maps.get_opt("marked-extra").await.unwrap().is_some(),
        "kept by its live annotation"
    );
}

/// `healthCheckExprs` (Flux's CEL health checks) in the install's wait: the chart's
/// ConfigMap is healthy when `current` holds and fails the install when `failed` does; a
/// check without `current` stalls the HelmRelease; a `dependsOn[].readyExpr` decides
/// alone whether a dependency is ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_check_and_ready_expressions_judge_a_release() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, _server, client) = setup(dir.path()).await;
    let hr = helm_release_resource();
    let checks = json!([{"apiVersion": "v1", "kind": "ConfigMap",
                         "current": "data.color == 'green'", "failed": "data.color == 'red'"}]);
    for (name, color) in [("green", "green"), ("red", "red")] {
        create(
            &client,
            &hr,
            helm_release(
                name,
                json!({"interval": "5m", "timeout": "20s",
                       "chartRef": {"kind": "OCIRepository", "name": "web"},
                       "healthCheckExprs": checks,
                       "values": {"name": format!("{name}-settings"), "color": color}}),
            ),
        )
        .await;
    }
    create(
        &client,
        &hr,
        helm_release(
            "invalid",
            json!({"interval": "5m", "chartRef": {"kind": "OCIRepository", "name": "web"},
                   "healthCheckExprs": [{"apiVersion": "v1", "kind": "ConfigMap", "failed": "true"}],
                   "values": {"name": "invalid-settings"}}),
        ),
    )
    .await;
    for (name, expr) in [
        (
            "follower",
            "dep.metadata.name == 'green' && self.metadata.name == 'follower'",
        ),
        ("blocked", "dep.metadata.name == 'elsewhere'"),
    ] {
        create(
            &client,
            &hr,
            helm_release(
                name,
                json!({"interval": "5m", "chartRef": {"kind": "OCIRepository", "name": "web"},
                       "dependsOn": [{"name": "green", "readyExpr": expr}],
                       "values": {"name": format!("{name}-settings")}}),
            ),
        )
        .await;
    }

    condition_when("green", &client, "Ready", "True", "InstallSucceeded").await;
    let (_, message) = condition_when("red", &client, "Released", "False", "InstallFailed").await;
    assert!(
        message.contains("ConfigMap/team-a/red-settings status: 'Failed'"),
        "{message}"
    );
    let (_, message) = condition_when(
        "invalid",
        &client,
        "Stalled",
        "True",
        "InvalidCELExpression",
    )
    .await;
    assert_eq!(
        message,
        "Reconciliation failed terminally due to configuration error: failed to create custom status evaluator for healthchecks[0]: expression Current not specified"
    );
    assert!(
        records(&client, "invalid").await.is_empty(),
        "nothing installed"
    );
    condition_when("follower", &client, "Ready", "True", "InstallSucceeded").await;
    let (_, message) =
        condition_when("blocked", &client, "Ready", "False", "DependencyNotReady").await;
    assert_eq!(
        message,
        "dependency 'team-a/green' is not ready according to readyExpr eval"
    );
}

/// helm-controller's config watcher: a ConfigMap labelled `reconcile.fluxcd.io/watch:
/// Enabled` that a HelmRelease takes values from upgrades the release as soon as it
/// changes (its interval is five minutes).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watched_values_config_map_upgrades_its_release_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, _server, client) = setup(dir.path()).await;
    let values = Api::<ConfigMap>::namespaced(client.clone(), NAMESPACE);
    values
        .patch(
            "web-values",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"labels": {"reconcile.fluxcd.io/watch": "Enabled"}}}),
            ),
        )
        .await
        .unwrap();
    create(
        &client,
        &helm_release_resource(),
        helm_release(
            "web",
            json!({"interval": "5m", "targetNamespace": "web",
                   "install": {"createNamespace": true},
                   "chartRef": {"kind": "OCIRepository", "name": "web"},
                   "valuesFrom": [{"kind": "ConfigMap", "name": "web-values"}]}),
        ),
    )
    .await;
    condition_when("web", &client, "Ready", "True", "InstallSucceeded").await;
    // Past any retry the chart's first wait for its source scheduled.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let deployments =
        Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), "web");
    let replicas = async || deployments.get("web-web").await.ok()?.spec?.replicas;
    assert_eq!(replicas().await, Some(2));

    values
        .patch(
            "web-values",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"values.yaml": "replicas: 3\ncolor: yellow\n"}})),
        )
        .await
        .unwrap();
    support::wait_for("the upgrade with the new values", async || {
        (replicas().await? == 3).then_some(())
    })
    .await;
    condition_when("web", &client, "Ready", "True", "UpgradeSucceeded").await;
}
