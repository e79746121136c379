//! Flux `HelmRepository` (source.toolkit.fluxcd.io/v1), as source-controller reconciles it.
//!
//! Type `default`: `<url>/index.yaml` fetched over HTTP(S) (basic auth from `secretRef`'s
//! `username`/`password`), its revision the sha256 of the bytes as downloaded, the parsed
//! index kept in memory for the HelmCharts that read it; Ready `stored artifact: revision
//! 'sha256:…'`, the `NewArtifact` event `stored fetched index of size 40.9kB from '<url>'`.
//! Type `oci`: a static object, its status emptied and nothing stored, as upstream's
//! migration to static objects leaves it (a HelmChart reads the registry itself).
//!
//! Deviations: nothing is served, so `status.url` and `artifact.url` use the
//! `flotilla://` scheme; the stored index is our own JSON of the versions (name,
//! version, urls, digest, created), so `artifact.digest` and `artifact.size` (and the
//! size in the event) are not upstream's `json.MarshalIndent` of Helm's whole index; no
//! finalizer is added (there is no storage to collect); the requeue carries no jitter.
//! A `certSecretRef`'s CA (`ca.crt`, else `caFile`) is trusted beside the platform's
//! roots, as source-controller trusts it, and its client certificate (`tls.crt` and
//! `tls.key`, else `certFile` and `keyFile`) presented when the server asks; without a
//! `certSecretRef`, TLS data in `secretRef` is read the same way (deprecated upstream,
//! which logs a warning). Cloud providers and `accessFrom` are refused by name (Stalled).

use flotilla_core::pointer::Pointer as _;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use flotilla_source::helm_repo::{self, ChartVersion};
use flotilla_source::{ClientCertificate, Credentials, ServerTrust, Tls};
use kube::api::ApiResource;
use kube::core::GroupVersionKind;
use serde::Deserialize;
use serde_json::{Value, json};

use super::conditions::{Conditions, Failed, failed, stalled};
use super::{
    FINALIZER, FluxReconciler, Outcome, SOURCE_GROUP, events, finalizers_of, generation_of,
};
use crate::controller::object_key;
use crate::lock;

/// The HelmRepository resource (`source.toolkit.fluxcd.io/v1`).
pub fn helm_repository_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(SOURCE_GROUP, "v1", "HelmRepository"),
        "helmrepositories",
    )
}

/// The index a HelmRepository of type `default` last stored.
#[derive(Debug, Clone)]
pub struct StoredIndex {
    /// `spec.url` it was read from (normalized, ending in `/`).
    pub url: String,
    /// `sha256:<hex>` of the index as downloaded (the artifact's revision).
    pub revision: String,
    /// Each chart's versions.
    pub charts: std::collections::HashMap<String, Vec<flotilla_source::helm_repo::ChartVersion>>,
}

/// The largest index read (source-controller's `--helm-index-max-size`, 50 MiB).
const MAX_INDEX_BYTES: usize = 50 << 20;

/// `spec` of a HelmRepository.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct HelmRepositorySpec {
    pub url: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub interval: String,
    pub timeout: String,
    pub secret_ref: Option<LocalRef>,
    pub cert_secret_ref: Option<LocalRef>,
    pub pass_credentials: bool,
    pub insecure: bool,
    pub provider: String,
    pub suspend: bool,
    pub access_from: Option<Value>,
}

impl HelmRepositorySpec {
    pub(super) fn is_oci(&self) -> bool {
        self.kind == "oci"
    }

    /// `GetTimeout()`: 60 s unless set.
    pub(super) fn timeout(&self) -> Duration {
        flotilla_fleet::flux::parse_duration(&self.timeout, true)
            .filter(|d| !d.is_zero())
            .unwrap_or(Duration::from_secs(60))
    }

    /// `GetRequeueAfter()`: the interval, 1 m when unset.
    fn requeue_after(&self) -> Duration {
        flotilla_fleet::flux::parse_duration(&self.interval, true)
            .filter(|d| !d.is_zero())
            .unwrap_or(Duration::from_secs(60))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(super) struct LocalRef {
    pub name: String,
}

/// `NormalizeURL`: no trailing slashes, then exactly one.
pub(super) fn normalize_url(url: &str) -> String {
    format!("{}/", url.trim_end_matches('/'))
}

/// What this hub does not do, named rather than ignored.
pub(super) fn unsupported_repository(spec: &HelmRepositorySpec) -> Result<(), Failed> {
    let refuse = |what: &str| {
        Err(stalled(
            "UnsupportedFeature",
            format!("{what} is not supported by this hub"),
        ))
    };
    if spec.access_from.is_some() {
        return refuse("spec.accessFrom");
    }
    if spec.is_oci() && !matches!(spec.provider.as_str(), "" | "generic") {
        return refuse(&format!(
            "spec.provider '{}' (cloud registry login)",
            spec.provider
        ));
    }
    Ok(())
}

/// A `certSecretRef`'s data as source-controller reads it for Helm and OCI sources
/// (fluxcd/pkg `TLSConfigFromSecret` with the system pool): the CA in `ca.crt`, else the
/// deprecated `caFile`, trusted beside the platform's roots, and the client certificate
/// in `tls.crt` and `tls.key`, else `certFile` and `keyFile`. A Secret with neither, half
/// a pair, or what cannot be read is refused by name.
pub(super) fn cert_secret_tls(
    namespace: &str,
    name: &str,
    data: &BTreeMap<String, Vec<u8>>,
) -> Result<Tls, Failed> {
    let tls = tls_of(namespace, name, data).map_err(|e| {
        failed(
            "AuthenticationFailed",
            format!("failed to construct the TLS config: {e}"),
        )
    })?;
    if tls.is_platform() {
        return Err(failed(
            "AuthenticationFailed",
            format!(
                "failed to construct the TLS config: secret '{namespace}/{name}' must contain either 'ca.crt' or both 'tls.crt' and 'tls.key'"
            ),
        ));
    }
    Ok(tls)
}

/// A Secret's CA (`ca.crt`, else `caFile`, beside the platform's roots) and client
/// certificate (`tls.crt`/`tls.key`, else `certFile`/`keyFile`), as fluxcd/pkg's
/// `TLSConfigFromSecret` reads them for Helm and OCI sources.
fn tls_of(
    namespace: &str,
    name: &str,
    data: &BTreeMap<String, Vec<u8>>,
) -> Result<Tls, flotilla_source::TlsError> {
    let server = ServerTrust::flux_ca(data, |key| {
        format!("secret '{namespace}/{name}': field '{key}'")
    })?;
    let client = ClientCertificate::flux(data, &format!("'{namespace}/{name}'"), true)?;
    Ok(Tls { server, client })
}

/// TLS data in a HelmRepository's `secretRef` (deprecated for `certSecretRef`), as
/// source-controller's `AuthMethodsFromSecret` reads it: what `certSecretRef` would give,
/// but a Secret with half a pair, or with neither a pair nor a CA, gives no TLS settings
/// at all (fluxcd/pkg's `trySetAuth` ignores TLS validation errors); a CA or pair that
/// cannot be read is an authentication failure.
pub(super) fn secret_ref_tls(
    namespace: &str,
    name: &str,
    data: &BTreeMap<String, Vec<u8>>,
) -> Result<Option<Tls>, Failed> {
    let set = |keys: [&str; 2]| {
        keys.iter()
            .any(|k| data.get(*k).is_some_and(|v| !v.is_empty()))
    };
    let (certificate, key) = (set(["tls.crt", "certFile"]), set(["tls.key", "keyFile"]));
    if certificate != key || !(certificate || set(["ca.crt", "caFile"])) {
        return Ok(None);
    }
    tls_of(namespace, name, data).map(Some).map_err(|e| {
        failed(
            "AuthenticationFailed",
            format!("failed to detect authentication methods: {e}"),
        )
    })
}

/// Basic credentials from a Secret's `username` and `password` (both or neither, as
/// fluxcd/pkg's `BasicAuthFromSecret`).
pub(super) fn basic_auth(
    namespace: &str,
    name: &str,
    data: &BTreeMap<String, Vec<u8>>,
) -> Result<Credentials, Failed> {
    let text = |k: &str| data.get(k).map(|v| String::from_utf8_lossy(v).into_owned());
    match (text("username"), text("password")) {
        (Some(username), Some(password)) => Ok(Credentials::Basic { username, password }),
        (None, None) => Ok(Credentials::None),
        (Some(_), None) | (None, Some(_)) => {
            let (present, missing) = if data.contains_key("username") {
                ("username", "password")
            } else {
                ("password", "username")
            };
            Err(failed(
                "AuthenticationFailed",
                format!(
                    "failed to detect authentication methods: secret '{namespace}/{name}': malformed basic auth - has '{present}' but missing '{missing}'"
                ),
            ))
        }
    }
}

/// docker/go-units `HumanSize`: decimal units, four significant digits.
pub(super) fn human_size(bytes: usize) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let integer_digits = if value < 1.0 {
        1
    } else {
        value.log10().floor() as usize + 1
    };
    let mut text = format!("{:.*}", 4usize.saturating_sub(integer_digits), value);
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{text}{}", UNITS[unit])
}

/// The index as stored: each chart's valid versions, highest first (Helm's
/// `SortEntries`), as JSON.
fn stored_json(charts: &HashMap<String, Vec<ChartVersion>>) -> Vec<u8> {
    let sorted: BTreeMap<&String, &Vec<ChartVersion>> = charts.iter().collect();
    let index = json!({"apiVersion": "v1", "entries": sorted});
    serde_json::to_vec_pretty(&index).unwrap_or_default()
}

/// Helm's `loadIndex`: not empty, parsed, versions that are not versions dropped, the
/// rest sorted highest first (equal ones newest first), an `apiVersion` required.
pub(super) fn load_index(raw: &[u8]) -> Result<HashMap<String, Vec<ChartVersion>>, String> {
    if raw.is_empty() {
        return Err("empty index.yaml file".into());
    }
    let (api_version, mut charts) = helm_repo::parse_index_document(raw)?;
    for versions in charts.values_mut() {
        versions.retain(|v| flotilla_source::Version::parse(&v.version).is_some());
        versions.sort_by(|a, b| {
            let (va, vb) = (
                flotilla_source::Version::parse(&a.version),
                flotilla_source::Version::parse(&b.version),
            );
            vb.cmp(&va).then_with(|| b.created.cmp(&a.created))
        });
    }
    if api_version.is_empty() {
        return Err("no API version specified".into());
    }
    Ok(charts)
}

impl FluxReconciler {
    /// Reconciles one HelmRepository.
    pub async fn reconcile_helm_repository(&self, obj: &Value, now: &str) -> Outcome {
        let key = object_key(obj);
        let generation = generation_of(obj);
        let old_status = obj.get("status").cloned().unwrap_or(json!({}));
        let mut conditions = Conditions::from_status(&old_status, generation, now);
        let nothing = Outcome {
            status: None,
            requeue: None,
            events: Vec::new(),
        };
        let spec: HelmRepositorySpec =
            match serde_json::from_value(obj.get("spec").cloned().unwrap_or(Value::Null)) {
                Ok(spec) => spec,
                Err(e) => {
                    let failure = stalled("InvalidSpec", format!("invalid spec: {e}"));
                    return finish_failed(&old_status, conditions, generation, failure, None);
                }
            };
        if spec.is_oci() {
            // A static object: whatever a previous type left is dropped, once.
            lock(&self.helm_indexes).remove(&key);
            let has_status = old_status.as_object().is_some_and(|s| !s.is_empty());
            if finalizers_of(obj).iter().any(|f| f == FINALIZER)
                && let Err(e) = self.drop_finalizer(obj).await
            {
                tracing::warn!(key = %key, error = %e, "removing the finalizer of an OCI HelmRepository");
            }
            return Outcome {
                status: has_status.then(|| json!({})),
                ..nothing
            };
        }
        if spec.suspend {
            return nothing;
        }
        let observed = old_status
            .get("observedGeneration")
            .and_then(Value::as_i64)
            .unwrap_or(-1);
        let progress = if observed != generation {
            format!("processing object: new generation {observed} -> {generation}")
        } else {
            "reconciliation in progress".to_string()
        };
        progressing(&mut conditions, &progress);
        let mut status = old_status.clone();
        if let Some(at) = obj
            .at("/metadata/annotations/reconcile.fluxcd.io~1requestedAt")
            .and_then(Value::as_str)
        {
            status["lastHandledReconcileAt"] = json!(at);
        }
        // reconcileStorage: an artifact this process does not hold is gone from storage.
        let stored = lock(&self.helm_indexes).get(&key).cloned();
        reconcile_storage(&mut status, &mut conditions, stored.is_some());
        let namespace = obj
            .at("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        let fetched = self.fetch_index(namespace, &spec).await;
        let source = format!("HelmRepository/{key}");
        let (raw, url) = match fetched {
            Ok(fetched) => fetched,
            Err(failure) => {
                let requeue = (!failure.stalls).then(|| self.source_failed(&source));
                let mut c = conditions;
                c.set("FetchFailed", "True", failure.reason, &failure.message);
                return finish_failed(&status, c, generation, failure, requeue);
            }
        };
        let revision = format!("sha256:{}", flotilla_source::sha256_hex(&raw));
        let old_revision = status
            .at("/artifact/revision")
            .and_then(Value::as_str)
            .map(str::to_string);
        let was_failing = ["FetchFailed", "StorageOperationFailed", "Stalled"]
            .iter()
            .any(|t| conditions.is(t, "True"));
        let mut events = Vec::new();
        let unchanged = old_revision.as_deref() == Some(revision.as_str())
            && stored.as_ref().is_some_and(|s| s.revision == revision);
        if !unchanged {
            let charts = match load_index(&raw) {
                Ok(charts) => charts,
                Err(e) => {
                    let failure = failed(
                        "IndexationFailed",
                        format!("failed to load Helm repository from index YAML: {e}"),
                    );
                    let mut c = conditions;
                    c.set("FetchFailed", "True", failure.reason, &failure.message);
                    return finish_failed(
                        &status,
                        c,
                        generation,
                        failure,
                        Some(self.source_failed(&source)),
                    );
                }
            };
            if old_revision.is_some() {
                let message = format!("new index revision '{revision}'");
                conditions.set("ArtifactOutdated", "True", "NewRevision", &message);
                progressing(&mut conditions, &format!("building artifact: {message}"));
            }
            let json = stored_json(&charts);
            let digest = format!("sha256:{}", flotilla_source::sha256_hex(&json));
            let hex = revision.trim_start_matches("sha256:");
            let old_digest = status
                .at("/artifact/digest")
                .and_then(Value::as_str)
                .map(str::to_string);
            status["artifact"] = json!({
                "path": format!("helmrepository/{key}/index-{hex}.yaml"),
                "url": format!("flotilla://helmrepository/{key}/index-{hex}.yaml"),
                "revision": revision,
                "digest": digest,
                "size": json.len(),
                "lastUpdateTime": now,
            });
            lock(&self.helm_indexes).insert(
                key.clone(),
                Arc::new(StoredIndex {
                    url: url.clone(),
                    revision: revision.clone(),
                    charts,
                }),
            );
            let reason = if old_digest.as_deref() != Some(digest.as_str()) {
                Some("NewArtifact")
            } else if was_failing {
                Some("Succeeded")
            } else {
                None
            };
            if let Some(reason) = reason {
                events.push(events::FluxEvent {
                    warning: false,
                    reason: reason.to_string(),
                    message: format!(
                        "stored fetched index of size {} from '{}'",
                        human_size(json.len()),
                        spec.url
                    ),
                    metadata: BTreeMap::from([
                        (format!("{SOURCE_GROUP}/revision"), revision.clone()),
                        (format!("{SOURCE_GROUP}/digest"), digest),
                    ]),
                });
            }
        } else {
            events.push(events::FluxEvent {
                warning: false,
                reason: "ArtifactUpToDate".to_string(),
                message: format!("artifact up-to-date with remote revision: '{revision}'"),
                metadata: BTreeMap::new(),
            });
            if was_failing {
                let size = status
                    .at("/artifact/size")
                    .and_then(Value::as_u64)
                    .map(|s| format!("size {}", human_size(s as usize)))
                    .unwrap_or_else(|| "unknown size".into());
                let mut metadata =
                    BTreeMap::from([(format!("{SOURCE_GROUP}/revision"), revision.clone())]);
                if let Some(digest) = status.at("/artifact/digest").and_then(Value::as_str) {
                    metadata.insert(format!("{SOURCE_GROUP}/digest"), digest.to_string());
                }
                events.push(events::FluxEvent {
                    warning: false,
                    reason: "Succeeded".to_string(),
                    message: format!("stored fetched index of {size} from '{}'", spec.url),
                    metadata,
                });
            }
        }
        status["url"] = json!(format!("flotilla://helmrepository/{key}/index.yaml"));
        let message = format!("stored artifact: revision '{revision}'");
        for gone in [
            "FetchFailed",
            "StorageOperationFailed",
            "ArtifactOutdated",
            "Reconciling",
            "Stalled",
        ] {
            conditions.delete(gone);
        }
        conditions.set("ArtifactInStorage", "True", "Succeeded", &message);
        conditions.set("Ready", "True", "Succeeded", &message);
        status["conditions"] = conditions.to_value();
        status["observedGeneration"] = json!(generation);
        self.source_succeeded(&source);
        Outcome {
            status: Some(status),
            requeue: Some(spec.requeue_after()),
            events,
        }
    }

    /// The raw index of a `default` HelmRepository and its normalized URL.
    async fn fetch_index(
        &self,
        namespace: &str,
        spec: &HelmRepositorySpec,
    ) -> Result<(Vec<u8>, String), Failed> {
        if spec.url.starts_with("oci://") {
            return Err(stalled(
                "URLInvalid",
                "invalid Helm repository URL: 'oci' URL scheme cannot be used with 'default' HelmRepository type".into(),
            ));
        }
        unsupported_repository(spec)?;
        let url = normalize_url(&spec.url);
        let (authorization, tls) = self.repository_auth(namespace, spec).await?;
        let index_url = helm_repo::package_url(&url, "index.yaml");
        let raw = helm_repo::fetch(
            &index_url,
            authorization.as_deref(),
            &tls,
            MAX_INDEX_BYTES,
            spec.timeout(),
        )
        .await
        .map_err(|e| {
            failed(
                "Failed",
                format!(
                    "failed to fetch Helm repository index: failed to cache index to temporary file: {e}"
                ),
            )
        })?;
        Ok((raw, url))
    }

    /// The data of the `spec.secretRef` Secret `name`; a Secret that cannot be read is an
    /// authentication failure naming it.
    pub(super) async fn auth_secret_data(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<BTreeMap<String, Vec<u8>>, Failed> {
        self.secret_data_or(namespace, name).await.map_err(|e| {
            failed(
                "AuthenticationFailed",
                format!("failed to get authentication secret '{namespace}/{name}': {e}"),
            )
        })
    }

    /// What a HelmRepository's fetches present: the `Authorization` header its
    /// `secretRef` gives (basic auth), if any, and its TLS settings
    /// ([`Self::repository_tls`]). The Secret is read once for both.
    pub(super) async fn repository_auth(
        &self,
        namespace: &str,
        spec: &HelmRepositorySpec,
    ) -> Result<(Option<String>, Tls), Failed> {
        let mut authorization = None;
        let mut data = None;
        if let Some(secret) = &spec.secret_ref {
            let read = self.auth_secret_data(namespace, &secret.name).await?;
            authorization = basic_auth(namespace, &secret.name, &read)?.http_authorization();
            data = Some(read);
        }
        let tls = self.repository_tls(namespace, spec, data.as_ref()).await?;
        Ok((authorization, tls))
    }

    /// The TLS settings of a HelmRepository's fetches: its `certSecretRef`'s, else
    /// TLS data in its `secretRef` (`secret_ref_data`, already read; [`secret_ref_tls`],
    /// with source-controller's deprecation warning), else the platform's roots and no
    /// client certificate.
    pub(super) async fn repository_tls(
        &self,
        namespace: &str,
        spec: &HelmRepositorySpec,
        secret_ref_data: Option<&BTreeMap<String, Vec<u8>>>,
    ) -> Result<Tls, Failed> {
        if let Some(cert) = &spec.cert_secret_ref {
            return self.cert_tls(namespace, Some(&cert.name)).await;
        }
        let (Some(secret), Some(data)) = (&spec.secret_ref, secret_ref_data) else {
            return Ok(Tls::default());
        };
        let Some(tls) = secret_ref_tls(namespace, &secret.name, data)? else {
            return Ok(Tls::default());
        };
        tracing::info!(
            namespace,
            secret = %secret.name,
            "warning: specifying TLS authentication data via `.spec.secretRef` is deprecated, please use `.spec.certSecretRef` instead"
        );
        Ok(tls)
    }

    /// The TLS settings a source's `certSecretRef` names ([`cert_secret_tls`]); the
    /// platform's roots and no client certificate without one.
    pub(super) async fn cert_tls(
        &self,
        namespace: &str,
        cert_secret_ref: Option<&str>,
    ) -> Result<Tls, Failed> {
        let Some(name) = cert_secret_ref else {
            return Ok(Tls::default());
        };
        let data = self.secret_data_or(namespace, name).await.map_err(|e| {
            failed(
                "AuthenticationFailed",
                format!("failed to get TLS authentication secret '{namespace}/{name}': {e}"),
            )
        })?;
        cert_secret_tls(namespace, name, &data)
    }

    /// Removes source-controller's finalizer from a HelmRepository.
    async fn drop_finalizer(&self, obj: &Value) -> Result<(), String> {
        let remaining: Vec<String> = finalizers_of(obj)
            .into_iter()
            .filter(|f| f != FINALIZER)
            .collect();
        crate::controller::write_finalizers(&self.hub, &helm_repository_resource(), obj, &remaining)
            .await
            .map_err(|e| super::api_message(&e))
    }
}

/// fluxcd/pkg `ProgressiveStatus(false, Progressing, …)`: Reconciling=True, and
/// Ready=Unknown unless Ready already says something else.
pub(super) fn progressing(conditions: &mut Conditions, message: &str) {
    conditions.reconciling("Progressing", message);
    if conditions.reason("Ready").is_none() || conditions.is("Ready", "Unknown") {
        conditions.set("Ready", "Unknown", "Progressing", message);
    }
}

/// source-controller's `reconcileStorage`: an artifact the status names but this
/// process does not hold (`stored` false) is gone from storage — dropped with its URL,
/// the source building again; without any artifact, it is building.
pub(super) fn reconcile_storage(status: &mut Value, conditions: &mut Conditions, stored: bool) {
    let had = status.get("artifact").is_some();
    if had && stored {
        return;
    }
    if had && let Some(fields) = status.as_object_mut() {
        fields.remove("artifact");
        fields.remove("url");
    }
    conditions.delete("ArtifactInStorage");
    let message = if had {
        "building artifact: disappeared from storage"
    } else {
        "building artifact"
    };
    progressing(conditions, message);
}

/// A failed reconcile: Ready=False from the failure (the caller set FetchFailed or the
/// like), Stalled for a spec that cannot work, else Reconciling kept as
/// `ProgressingWithRetry`; the last artifact kept; a Warning event.
pub(super) fn finish_failed(
    old_status: &Value,
    mut conditions: Conditions,
    generation: i64,
    failure: Failed,
    requeue: Option<Duration>,
) -> Outcome {
    if failure.stalls {
        conditions.stalled(failure.reason, &failure.message);
        conditions.set("Ready", "False", failure.reason, &failure.message);
    } else {
        conditions.delete("Stalled");
        conditions.set("Ready", "False", failure.reason, &failure.message);
        conditions.retry_reconciling();
    }
    let mut status = old_status.clone();
    status["conditions"] = conditions.to_value();
    if failure.stalls {
        status["observedGeneration"] = json!(generation);
    }
    Outcome {
        status: Some(status),
        requeue,
        events: vec![events::FluxEvent {
            warning: true,
            reason: failure.reason.to_string(),
            message: failure.message,
            metadata: BTreeMap::new(),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cert_secret_ref_trusts_its_ca_beside_the_platforms_roots_and_names_what_it_refuses() {
        let authority = kubesim::tls::Authority::generate(None).unwrap();
        let pem = authority.ca_pem().as_bytes().to_vec();
        let (certificate, key) = authority.client_certificate("flux").unwrap();
        let data = |pairs: &[(&str, &[u8])]| -> BTreeMap<String, Vec<u8>> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_vec()))
                .collect()
        };
        let tls = |pairs: &[(&str, &[u8])]| cert_secret_tls("ns", "tls", &data(pairs));
        assert_eq!(
            tls(&[("caFile", &pem)]).unwrap(),
            Tls::from(ServerTrust::PlatformAnd(pem.clone()))
        );
        assert_eq!(
            tls(&[("ca.crt", &pem), ("caFile", b"not read")]).unwrap(),
            Tls::from(ServerTrust::PlatformAnd(pem.clone()))
        );
        let refused = tls(&[("ca.crt", b"garbage")]).unwrap_err();
        assert_eq!(
            refused.message,
            "failed to construct the TLS config: secret 'ns/tls': field 'ca.crt': no PEM certificate found"
        );
        // fluxcd/pkg's TLSValidationError words, with the field actually present.
        let refused = tls(&[("keyFile", b"k")]).unwrap_err();
        assert_eq!(
            refused.message,
            "failed to construct the TLS config: secret 'ns/tls' contains 'keyFile' but missing 'tls.crt'"
        );
        let refused = tls(&[]).unwrap_err();
        assert_eq!(
            refused.message,
            "failed to construct the TLS config: secret 'ns/tls' must contain either 'ca.crt' or both 'tls.crt' and 'tls.key'"
        );
        // A pair alone is enough, under its current or deprecated names.
        for (cert_key, key_key) in [("tls.crt", "tls.key"), ("certFile", "keyFile")] {
            let pair = tls(&[
                (cert_key, certificate.as_bytes()),
                (key_key, key.as_bytes()),
            ])
            .unwrap();
            assert_eq!(pair.server, ServerTrust::Platform, "{cert_key}");
            assert!(pair.client.is_some(), "{cert_key}");
        }
    }

    #[test]
    fn sizes_read_as_docker_go_units_print_them() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(40_912), "40.91kB");
        assert_eq!(human_size(40_900), "40.9kB");
        assert_eq!(human_size(1_000), "1kB");
        assert_eq!(human_size(12_345_678), "12.35MB");
    }

    #[test]
    fn urls_end_in_exactly_one_slash() {
        assert_eq!(normalize_url("https://h/charts//"), "https://h/charts/");
        assert_eq!(normalize_url("https://h/charts"), "https://h/charts/");
    }

    #[test]
    fn an_index_needs_content_and_an_api_version() {
        assert_eq!(load_index(b"").unwrap_err(), "empty index.yaml file");
        assert_eq!(
            load_index(b"entries: {}\n").unwrap_err(),
            "no API version specified"
        );
        let charts = load_index(
            b"apiVersion: v1\nentries:\n  web:\n  - {version: 1.0.0, created: '2026-01-01T00:00:00Z'}\n  - {version: nope}\n  - {version: 1.0.0+b, created: '2026-02-01T00:00:00Z'}\n  - {version: 1.2.0}\n",
        )
        .unwrap();
        let versions: Vec<&str> = charts["web"].iter().map(|v| v.version.as_str()).collect();
        assert_eq!(versions, ["1.2.0", "1.0.0+b", "1.0.0"]);
        // JSON is YAML.
        assert!(load_index(br#"{"apiVersion": "v1", "entries": {}}"#).is_ok());
    }

    #[test]
    fn basic_auth_needs_both_keys() {
        let data = |pairs: &[(&str, &str)]| -> BTreeMap<String, Vec<u8>> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect()
        };
        assert_eq!(
            basic_auth("ns", "s", &data(&[("username", "u"), ("password", "p")])).unwrap(),
            Credentials::Basic {
                username: "u".into(),
                password: "p".into()
            }
        );
        assert_eq!(
            basic_auth("ns", "s", &data(&[])).unwrap(),
            Credentials::None
        );
        let e = basic_auth("ns", "s", &data(&[("username", "u")])).unwrap_err();
        assert_eq!(e.reason, "AuthenticationFailed");
        assert_eq!(
            e.message,
            "failed to detect authentication methods: secret 'ns/s': malformed basic auth - has 'username' but missing 'password'"
        );
    }

    /// `secretRef`'s TLS data: read as a `certSecretRef`'s, ignored when incomplete, an
    /// authentication failure when unreadable.
    #[test]
    fn tls_data_in_a_secret_ref_is_read_unless_incomplete() {
        let authority = kubesim::tls::Authority::generate(None).unwrap();
        let (certificate, key) = authority.client_certificate("flux").unwrap();
        let ca = authority.ca_pem().to_string();
        let data = |pairs: &[(&str, &str)]| -> BTreeMap<String, Vec<u8>> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect()
        };
        let read = |pairs: &[(&str, &str)]| secret_ref_tls("ns", "s", &data(pairs));
        let both = read(&[
            ("username", "u"),
            ("password", "p"),
            ("ca.crt", &ca),
            ("tls.crt", &certificate),
            ("tls.key", &key),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            both.server,
            ServerTrust::PlatformAnd(ca.clone().into_bytes())
        );
        assert!(both.client.is_some());
        assert_eq!(read(&[("username", "u"), ("password", "p")]).unwrap(), None);
        assert_eq!(
            read(&[("ca.crt", &ca), ("tls.crt", &certificate)]).unwrap(),
            None,
            "half a pair: no TLS from secretRef at all"
        );
        let e = read(&[("ca.crt", "garbage")]).unwrap_err();
        assert_eq!(
            e.message,
            "failed to detect authentication methods: secret 'ns/s': field 'ca.crt': no PEM certificate found"
        );
    }
}
