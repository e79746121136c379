//! Flux `HelmRepository` and `HelmChart` end to end: a chart repository served over HTTP
//! (plain, and behind basic auth with the credentials in a Secret), its index stored as
//! the repository's artifact, HelmCharts picking versions as source-controller picks them
//! (a range, no match, merged values files), following a newly published version once
//! the repository is asked to reconcile (with the real kubectl); a chart directory of a
//! GitRepository packaged with the Revision strategy. Ready reasons and messages are
//! source-controller's words.

mod support;

use std::path::Path;
use std::time::Duration;

use flotilla_hub::flux::git_repository_resource;
use flotilla_hub::flux::helm_chart::helm_chart_resource;
use flotilla_hub::flux::helm_repository::helm_repository_resource;
use flotilla_source::{CacheOptions, MirrorCache, Rewrite};
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use serde_json::{Value, json};
use support::{
    Served, git, package_chart, serve_files, serve_files_mutual_tls, serve_files_tls,
    serve_guarded, wait_for, write,
};

const NS: &str = "flux-system";

/// Publishes `versions` of the chart `web` into `site` (each packaged with tar) and an
/// `index.yaml` listing them; returns the index's bytes.
fn publish(site: &Path, versions: &[&str]) -> Vec<u8> {
    let mut listed = Vec::new();
    for version in versions {
        let chart = site.join("web");
        write(
            &chart,
            "Chart.yaml",
            &format!("apiVersion: v2\nname: web\nversion: {version}\n"),
        );
        write(&chart, "values.yaml", "color: blue\nsize: small\n");
        write(&chart, "values-prod.yaml", "size: large\n");
        write(
            &chart,
            "templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  color: {{ .Values.color }}\n",
        );
        let digest = package_chart(site, "web", version);
        listed.push(
            json!({"apiVersion": "v2", "name": "web", "version": version,
                           "urls": [format!("web-{version}.tgz")], "digest": digest,
                           "created": "2026-01-01T00:00:00Z"}),
        );
    }
    let index = json!({"apiVersion": "v1", "entries": {"web": listed},
                       "generated": "2026-01-01T00:00:00Z"})
    .to_string();
    write(site, "index.yaml", &index);
    index.into_bytes()
}

fn sha256(bytes: &[u8]) -> String {
    support::registry::sha256_hex(bytes)
}

async fn apply(client: &Client, resource: &ApiResource, value: Value) {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), NS, resource);
    let object: DynamicObject = serde_json::from_value(value).unwrap();
    api.create(&PostParams::default(), &object).await.unwrap();
}

fn helm_repository(name: &str, url: &str, extra: Value) -> Value {
    let mut spec = json!({"interval": "1m", "url": url});
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
           "metadata": {"name": name, "namespace": NS}, "spec": spec})
}

fn helm_chart(name: &str, source: (&str, &str), chart: &str, extra: Value) -> Value {
    let mut spec = json!({"interval": "1m", "chart": chart,
                          "sourceRef": {"kind": source.0, "name": source.1}});
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
           "metadata": {"name": name, "namespace": NS}, "spec": spec})
}

async fn status_of(client: &Client, resource: &ApiResource, name: &str) -> Value {
    support::object_of(client, resource, NS, name)
        .await
        .map_or(Value::Null, |o| o["status"].clone())
}

/// The status and the Ready message once Ready has `status` and `reason`.
async fn ready_when(
    client: &Client,
    resource: &ApiResource,
    name: &str,
    status: &str,
    reason: &str,
) -> (Value, String) {
    support::condition_when(client, resource, (NS, name), "Ready", status, reason).await
}

/// Creates the HelmRepository `name` of `url` (with `extra` in its spec), waits until it
/// is Ready, then has a HelmChart `<name>-web` of it pull version 1.0.0.
async fn pulls_web_through(client: &Client, name: &str, url: &str, extra: Value) {
    let repos = helm_repository_resource();
    let charts = helm_chart_resource();
    apply(client, &repos, helm_repository(name, url, extra)).await;
    ready_when(client, &repos, name, "True", "Succeeded").await;
    // Named after the repository, so a second call is judged on its own chart.
    let chart = format!("{name}-web");
    apply(
        client,
        &charts,
        helm_chart(&chart, ("HelmRepository", name), "web", json!({})),
    )
    .await;
    let (_, message) = ready_when(client, &charts, &chart, "True", "ChartPullSucceeded").await;
    assert_eq!(message, "pulled 'web' chart with version '1.0.0'");
}

fn has_condition(status: &Value, type_: &str, reason: &str) -> bool {
    status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == type_ && c["status"] == "True" && c["reason"] == reason)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn helm_charts_from_a_helm_repository_pick_versions_and_follow_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    let index = publish(&site, &["1.0.0", "1.1.0", "2.0.0-rc.1"]);
    let base = serve_files(site.clone()).await;
    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let (server, client) = support::flux_hub(&mirrors, Duration::from_secs(1)).await;

    let repos = helm_repository_resource();
    let charts = helm_chart_resource();
    apply(&client, &repos, helm_repository("charts", &base, json!({}))).await;
    let (status, message) = ready_when(&client, &repos, "charts", "True", "Succeeded").await;
    let revision = format!("sha256:{}", sha256(&index));
    assert_eq!(message, format!("stored artifact: revision '{revision}'"));
    assert_eq!(status["artifact"]["revision"], json!(revision));
    assert_eq!(status["observedGeneration"], json!(1));
    assert!(has_condition(&status, "ArtifactInStorage", "Succeeded"));

    // A range: the highest 1.x, the package as downloaded.
    apply(
        &client,
        &charts,
        helm_chart(
            "web",
            ("HelmRepository", "charts"),
            "web",
            json!({"version": "1.x"}),
        ),
    )
    .await;
    let (status, message) = ready_when(&client, &charts, "web", "True", "ChartPullSucceeded").await;
    assert_eq!(message, "pulled 'web' chart with version '1.1.0'");
    assert_eq!(status["artifact"]["revision"], json!("1.1.0"));
    assert_eq!(status["observedChartName"], json!("web"));
    assert_eq!(status["observedSourceArtifactRevision"], json!(revision));
    let package = std::fs::read(site.join("web-1.1.0.tgz")).unwrap();
    assert_eq!(
        status["artifact"]["digest"],
        json!(format!("sha256:{}", sha256(&package)))
    );
    assert_eq!(
        status["artifact"]["path"],
        json!(format!("helmchart/{NS}/web/web-1.1.0.tgz"))
    );

    // Nothing matches: stalled, in source-controller's words.
    apply(
        &client,
        &charts,
        helm_chart(
            "none",
            ("HelmRepository", "charts"),
            "web",
            json!({"version": "9.*"}),
        ),
    )
    .await;
    let (status, message) =
        ready_when(&client, &charts, "none", "False", "InvalidChartReference").await;
    assert_eq!(
        message,
        "invalid chart reference: failed to get chart version for remote reference: no 'web' chart with version matching '9.*' found"
    );
    assert!(has_condition(&status, "Stalled", "InvalidChartReference"));
    assert!(has_condition(
        &status,
        "FetchFailed",
        "InvalidChartReference"
    ));

    // Values files merged: packaged, the generation in the version.
    apply(
        &client,
        &charts,
        helm_chart(
            "prod",
            ("HelmRepository", "charts"),
            "web",
            json!({"version": "1.0.0", "valuesFiles": ["values.yaml", "values-prod.yaml"]}),
        ),
    )
    .await;
    let (status, message) =
        ready_when(&client, &charts, "prod", "True", "ChartPackageSucceeded").await;
    assert_eq!(
        message,
        "packaged 'web' chart with version '1.0.0+1' and merged values files [values.yaml values-prod.yaml]"
    );
    assert_eq!(status["artifact"]["revision"], json!("1.0.0+1"));

    // A new version published, the repository asked to reconcile: the chart follows.
    publish(&site, &["1.0.0", "1.1.0", "1.2.0", "2.0.0-rc.1"]);
    support::kubectl(
        &server,
        dir.path(),
        "hub",
        &[
            "annotate",
            "helmrepository",
            "charts",
            "-n",
            NS,
            "reconcile.fluxcd.io/requestedAt=2026-01-02T00:00:00Z",
            "--overwrite",
        ],
    );
    wait_for("the chart at 1.2.0", async || {
        let s = status_of(&client, &charts, "web").await;
        (s["artifact"]["revision"] == "1.2.0").then_some(())
    })
    .await;
    let (_, message) = ready_when(&client, &charts, "web", "True", "ChartPullSucceeded").await;
    assert_eq!(message, "pulled 'web' chart with version '1.2.0'");
    let status = status_of(&client, &repos, "charts").await;
    assert_eq!(
        status["lastHandledReconcileAt"],
        json!("2026-01-02T00:00:00Z")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_private_helm_repository_is_read_with_its_secret() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    publish(&site, &["1.0.0"]);
    let base = serve_guarded(site, Served::default(), Some("Basic Zmx1eDpzM2NyZXQ=")).await;
    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let (_server, client) = support::flux_hub(&mirrors, Duration::from_secs(1)).await;
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "basic", "namespace": NS},
        "stringData": {"username": "flux", "password": "s3cret"},
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let repos = helm_repository_resource();
    let charts = helm_chart_resource();

    apply(
        &client,
        &repos,
        helm_repository("anonymous", &base, json!({})),
    )
    .await;
    let (status, message) = ready_when(&client, &repos, "anonymous", "False", "Failed").await;
    assert_eq!(
        message,
        format!(
            "failed to fetch Helm repository index: failed to cache index to temporary file: failed to fetch {base}/index.yaml : 401 Unauthorized"
        )
    );
    assert!(has_condition(&status, "FetchFailed", "Failed"));
    assert!(has_condition(
        &status,
        "Reconciling",
        "ProgressingWithRetry"
    ));

    pulls_web_through(
        &client,
        "private",
        &base,
        json!({"secretRef": {"name": "basic"}}),
    )
    .await;

    // A chart of a repository that has no artifact waits for one.
    apply(
        &client,
        &charts,
        helm_chart("waiting", ("HelmRepository", "anonymous"), "web", json!({})),
    )
    .await;
    let (_, message) = ready_when(&client, &charts, "waiting", "False", "NoSourceArtifact").await;
    assert_eq!(
        message,
        "no artifact available for HelmRepository source 'anonymous'"
    );
    // A missing secret.
    apply(
        &client,
        &repos,
        helm_repository("lost", &base, json!({"secretRef": {"name": "gone"}})),
    )
    .await;
    let (_, message) = ready_when(&client, &repos, "lost", "False", "AuthenticationFailed").await;
    assert_eq!(
        message,
        format!("failed to get authentication secret '{NS}/gone': secrets \"gone\" not found")
    );
}

/// A chart repository served over HTTPS with a certificate a private CA signed: read once
/// the HelmRepository's `certSecretRef` holds that CA in `ca.crt` (beside the platform's
/// roots, as source-controller trusts it), its charts pulled the same way; without it the
/// fetch fails naming the certificate. A server demanding a client certificate is shown
/// the Secret's `tls.crt`/`tls.key`, from `certSecretRef` or (deprecated) `secretRef`;
/// half a pair is refused in fluxcd/pkg's words.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_helm_repository_over_https_is_trusted_through_its_cert_secret_ref() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    publish(&site, &["1.0.0"]);
    let authority = kubesim::tls::Authority::generate(None).unwrap();
    let base = serve_files_tls(site, &authority).await;
    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let (_server, client) = support::flux_hub(&mirrors, Duration::from_secs(1)).await;
    let secrets = Api::<Secret>::namespaced(client.clone(), NS);
    let (certificate, key) = authority.client_certificate("flux").unwrap();
    for (name, data) in [
        ("ca", json!({"ca.crt": authority.ca_pem()})),
        (
            "client-cert",
            json!({"ca.crt": authority.ca_pem(), "tls.crt": certificate, "tls.key": key}),
        ),
        (
            "half-a-pair",
            json!({"ca.crt": authority.ca_pem(), "tls.crt": certificate}),
        ),
    ] {
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": NS},
            "stringData": data,
        }))
        .unwrap();
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
    }
    let repos = helm_repository_resource();

    apply(
        &client,
        &repos,
        helm_repository("untrusted", &base, json!({})),
    )
    .await;
    let (_, message) = ready_when(&client, &repos, "untrusted", "False", "Failed").await;
    assert!(
        message.contains("invalid peer certificate: UnknownIssuer"),
        "{message}"
    );

    pulls_web_through(
        &client,
        "internal",
        &base,
        json!({"certSecretRef": {"name": "ca"}}),
    )
    .await;

    // A server demanding a client certificate: refused with the CA alone, served to
    // the holder of the Secret's pair.
    let mutual_site = dir.path().join("mutual-site");
    publish(&mutual_site, &["1.0.0"]);
    let mutual = serve_files_mutual_tls(mutual_site, &authority).await;
    apply(
        &client,
        &repos,
        helm_repository("ca-only", &mutual, json!({"certSecretRef": {"name": "ca"}})),
    )
    .await;
    let (_, message) = ready_when(&client, &repos, "ca-only", "False", "Failed").await;
    // Under TLS 1.3 the server refuses the certificate after the client has finished its
    // side of the handshake, so the refusal reaches the client either as the alert or as
    // the connection it was about to use being closed (seen under load in a clean clone).
    assert!(
        message.contains("received fatal alert: CertificateRequired")
            || message.contains("connection was not ready"),
        "{message}"
    );
    pulls_web_through(
        &client,
        "mtls",
        &mutual,
        json!({"certSecretRef": {"name": "client-cert"}}),
    )
    .await;
    // The deprecated place for the same data, still read by source-controller.
    pulls_web_through(
        &client,
        "deprecated",
        &mutual,
        json!({"secretRef": {"name": "client-cert"}}),
    )
    .await;

    apply(
        &client,
        &repos,
        helm_repository(
            "half",
            &mutual,
            json!({"certSecretRef": {"name": "half-a-pair"}}),
        ),
    )
    .await;
    let (_, message) = ready_when(&client, &repos, "half", "False", "AuthenticationFailed").await;
    assert_eq!(
        message,
        format!(
            "failed to construct the TLS config: secret '{NS}/half-a-pair' contains 'tls.crt' but missing 'tls.key'"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_helm_chart_from_a_git_repository_is_packaged_with_its_revision() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repos/charts");
    std::fs::create_dir_all(&repo).unwrap();
    write(
        &repo,
        "charts/web/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.3.0\n",
    );
    write(&repo, "charts/web/values.yaml", "color: blue\n");
    write(
        &repo,
        "charts/web/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n",
    );
    write(&repo, "envs/prod.yaml", "color: red\n");
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    let mut options = CacheOptions::new(dir.path().join("cache"));
    options.rewrites = vec![Rewrite {
        base: format!("file://{}/", dir.path().join("repos").display()),
        instead_of: "https://gitlab.internal/".into(),
    }];
    let mirrors = MirrorCache::new(options).unwrap();
    let (_server, client) = support::flux_hub(&mirrors, Duration::from_secs(1)).await;
    apply(
        &client,
        &git_repository_resource(),
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
               "metadata": {"name": "charts", "namespace": NS},
               "spec": {"interval": "1m", "url": "https://gitlab.internal/charts",
                        "ref": {"branch": "main"}}}),
    )
    .await;
    let charts = helm_chart_resource();
    apply(
        &client,
        &charts,
        helm_chart(
            "web",
            ("GitRepository", "charts"),
            "./charts/web",
            json!({"reconcileStrategy": "Revision"}),
        ),
    )
    .await;
    let (status, message) =
        ready_when(&client, &charts, "web", "True", "ChartPackageSucceeded").await;
    let source = status["observedSourceArtifactRevision"]
        .as_str()
        .unwrap()
        .to_string();
    let hash = source.split_once("@sha1:").unwrap().1;
    let version = format!("0.3.0+{}", &hash[..12]);
    assert_eq!(
        message,
        format!("packaged 'web' chart with version '{version}'")
    );
    assert_eq!(status["artifact"]["revision"], json!(version));

    // Values files from the source root, a path that climbs stays inside the tree.
    apply(
        &client,
        &charts,
        helm_chart(
            "prod",
            ("GitRepository", "charts"),
            "../../charts/web",
            json!({"valuesFiles": ["charts/web/values.yaml", "envs/prod.yaml"]}),
        ),
    )
    .await;
    let (_, message) = ready_when(&client, &charts, "prod", "True", "ChartPackageSucceeded").await;
    assert_eq!(
        message,
        "packaged 'web' chart with version '0.3.0+1' and merged values files [charts/web/values.yaml envs/prod.yaml]"
    );
    apply(
        &client,
        &charts,
        helm_chart(
            "missing",
            ("GitRepository", "charts"),
            "charts/api",
            json!({}),
        ),
    )
    .await;
    let (_, message) = ready_when(
        &client,
        &charts,
        "missing",
        "False",
        "InvalidChartReference",
    )
    .await;
    assert_eq!(
        message,
        "invalid chart reference: stat /charts/api: no such file or directory"
    );
}
