//! The Sealed Secrets controller, run by the hub for itself and for every registered
//! cluster where the `bitnami.com/v1alpha1` SealedSecret kind is served: what
//! bitnami-labs/sealed-secrets' controller does in each cluster. Keys live where that
//! controller keeps them (Secrets of type `kubernetes.io/tls` labelled
//! `sealedsecrets.bitnami.com/sealed-secrets-key: active` in its namespace), so a cluster
//! moved from the upstream controller keeps its keys and its SealedSecrets, and `kubeseal`
//! users seal with the same certificate. Unsealing is `flotilla_secrets::unseal`; this
//! module reads, writes and schedules.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use flotilla_secrets::{ControllerKey, UnsealError};
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::{Value, json};

use crate::clusters::{ClusterRegistry, IN_CLUSTER_SERVER};
use crate::flux::events::{FluxEvent, Recorder};

mod api;

pub use api::{ClusterKeys, MAX_BODY_BYTES, RateQuota, router};

/// The label of the controller's key Secrets; the annotations that let it overwrite or
/// merge into a Secret it does not own.
pub use flotilla_secrets::sealed::{KEY_LABEL, MANAGED_ANNOTATION, PATCH_ANNOTATION};
/// The component events are recorded as (the upstream controller's name).
const COMPONENT: &str = "sealed-secrets-controller";

/// How the hub's Sealed Secrets controller runs (the upstream controller's flags).
#[derive(Debug, Clone)]
pub struct SealedSecretsOptions {
    /// Where keys are kept and looked for in each cluster (`kube-system`, where the
    /// upstream chart installs its controller).
    pub namespace: String,
    /// The name prefix of generated key Secrets (`--key-prefix`).
    pub key_prefix: String,
    /// The size of generated RSA keys (`--key-size`).
    pub key_bits: usize,
    /// How long a generated certificate is valid (`--key-ttl`).
    pub key_ttl: Duration,
    /// How often a new key is made (`--key-renew-period`; zero: never, but the first).
    pub key_renew_period: Duration,
    /// The certificate's common name (`--my-cn`).
    pub common_name: String,
    /// How often each cluster is asked whether it serves SealedSecrets, while it does not.
    pub discovery_interval: Duration,
    /// How fast each cluster's `/v1/verify` may be called (`--rate-limit`,
    /// `--rate-limit-burst`).
    pub verify_rate_quota: RateQuota,
}

impl Default for SealedSecretsOptions {
    fn default() -> Self {
        SealedSecretsOptions {
            namespace: "kube-system".into(),
            key_prefix: "sealed-secrets-key".into(),
            key_bits: 4096,
            key_ttl: Duration::from_secs(10 * 365 * 24 * 3600),
            key_renew_period: Duration::from_secs(30 * 24 * 3600),
            common_name: String::new(),
            discovery_interval: Duration::from_secs(60),
            verify_rate_quota: RateQuota::default(),
        }
    }
}

/// The SealedSecret kind.
pub fn sealed_secret_resource() -> ApiResource {
    ApiResource {
        group: "bitnami.com".into(),
        version: "v1alpha1".into(),
        api_version: flotilla_secrets::sealed::API_VERSION.into(),
        kind: flotilla_secrets::sealed::KIND.into(),
        plural: "sealedsecrets".into(),
    }
}

/// The name Argo CD gives the cluster the hub runs in.
pub const IN_CLUSTER_NAME: &str = "in-cluster";

/// Runs a controller for the hub and for each registered cluster, starting one for a
/// cluster registered later and stopping the one of a cluster that left, until dropped.
pub async fn run(
    hub: kube::Client,
    registry: Arc<RwLock<ClusterRegistry>>,
    options: SealedSecretsOptions,
    served: ClusterKeys,
) {
    let options = Arc::new(options);
    let mut running: HashMap<String, (String, tokio::task::JoinHandle<()>)> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        tick.tick().await;
        let mut wanted: BTreeMap<String, (String, kube::Client)> = BTreeMap::new();
        wanted.insert(
            IN_CLUSTER_SERVER.to_string(),
            (IN_CLUSTER_NAME.to_string(), hub.clone()),
        );
        for cluster in registry
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clusters()
        {
            let server = cluster.secret.server.trim_end_matches('/').to_string();
            if server != IN_CLUSTER_SERVER {
                wanted.insert(
                    server,
                    (cluster.secret.name.clone(), cluster.client.clone()),
                );
            }
        }
        running.retain(|server, (name, task)| {
            let keep = wanted.get(server).is_some_and(|(n, _)| n == name) && !task.is_finished();
            if !keep {
                task.abort();
                served.set(name, Vec::new());
            }
            keep
        });
        for (server, (name, client)) in wanted {
            if running.contains_key(&server) {
                continue;
            }
            let cluster = ClusterHandle {
                client,
                name: name.clone(),
                served: served.clone(),
            };
            let task = tokio::spawn(run_cluster(cluster, options.clone()));
            running.insert(server, (name, task));
        }
    }
}

/// One cluster the controller runs for.
struct ClusterHandle {
    client: kube::Client,
    /// Its name (Argo CD's cluster name; `in-cluster` for the hub).
    name: String,
    /// Where its keys are published for the HTTP endpoints.
    served: ClusterKeys,
}

/// The controller of one cluster: waits until SealedSecrets are served there, makes sure
/// there is a key, then unseals every SealedSecret and each one that changes.
async fn run_cluster(cluster: ClusterHandle, options: Arc<SealedSecretsOptions>) {
    let ClusterHandle {
        client,
        name: server,
        served,
    } = cluster;
    loop {
        match serves_sealed_secrets(&client).await {
            Ok(true) => {}
            Ok(false) => {
                tokio::time::sleep(options.discovery_interval).await;
                continue;
            }
            Err(e) => {
                tracing::debug!(%server, error = %e, "asking whether SealedSecrets are served");
                tokio::time::sleep(options.discovery_interval).await;
                continue;
            }
        }
        let keys = match KeyRing::load_or_create(&client, &options).await {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!(%server, error = %e, "Sealed Secrets keys");
                tokio::time::sleep(Duration::from_secs(30)).await;
                continue;
            }
        };
        served.set(&server, keys.keys.clone());
        let mut controller = ClusterController {
            recorder: Recorder::new(client.clone(), COMPONENT),
            client: client.clone(),
            options: options.clone(),
            keys,
            seen: HashMap::new(),
            served: served.clone(),
            cluster: server.clone(),
        };
        controller.run(&server).await;
    }
}

/// Whether `bitnami.com/v1alpha1` serves `sealedsecrets`.
async fn serves_sealed_secrets(client: &kube::Client) -> Result<bool, kube::Error> {
    match client
        .list_api_group_resources("bitnami.com/v1alpha1")
        .await
    {
        Ok(list) => Ok(list.resources.iter().any(|r| r.name == "sealedsecrets")),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

/// The keys of one cluster, oldest first (ordered as the upstream key registry orders
/// them, by their certificates' NotBefore).
struct KeyRing {
    keys: Vec<ControllerKey>,
}

impl KeyRing {
    /// The cluster's keys; a new one when there is none, or when the newest is older
    /// than the renew period.
    async fn load_or_create(
        client: &kube::Client,
        options: &SealedSecretsOptions,
    ) -> Result<KeyRing, String> {
        let mut ring = KeyRing::load(client, options).await?;
        let now = chrono::Utc::now().timestamp();
        let stale = ring.keys.last().is_none_or(|newest| {
            !options.key_renew_period.is_zero()
                && now - newest.not_before() >= options.key_renew_period.as_secs() as i64
        });
        if stale {
            ring.keys.push(generate_key(client, options, now).await?);
        }
        Ok(ring)
    }

    /// The key Secrets of the controller's namespace (labelled `active`, and the legacy
    /// Secret named as the prefix); a Secret that does not hold a key is logged and
    /// skipped.
    async fn load(
        client: &kube::Client,
        options: &SealedSecretsOptions,
    ) -> Result<KeyRing, String> {
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &options.namespace);
        let mut items = secrets
            .list(&ListParams::default().labels(&format!("{KEY_LABEL}=active")))
            .await
            .map_err(|e| format!("listing the key Secrets of {}: {e}", options.namespace))?
            .items;
        if let Ok(Some(legacy)) = secrets.get_opt(&options.key_prefix).await
            && !items
                .iter()
                .any(|s| s.metadata.name == legacy.metadata.name)
        {
            items.push(legacy);
        }
        let mut keys = Vec::new();
        for secret in items {
            let name = secret.metadata.name.clone().unwrap_or_default();
            let data = secret.data.unwrap_or_default();
            let part = |k: &str| data.get(k).map(|b| b.0.clone()).unwrap_or_default();
            match ControllerKey::from_pem(&part("tls.crt"), &part("tls.key")) {
                Ok(key) => keys.push(key),
                Err(e) => tracing::warn!(namespace = %options.namespace, secret = %name,
                                         error = %e, "not a Sealed Secrets key"),
            }
        }
        keys.sort_by_key(ControllerKey::not_before);
        Ok(KeyRing { keys })
    }
}

/// Makes a key and writes it where the upstream controller would (`generateName` from
/// the prefix, type `kubernetes.io/tls`, labelled `active`).
async fn generate_key(
    client: &kube::Client,
    options: &SealedSecretsOptions,
    now: i64,
) -> Result<ControllerKey, String> {
    let (bits, cn, ttl) = (
        options.key_bits,
        options.common_name.clone(),
        options.key_ttl,
    );
    // Thousands of milliseconds of CPU for a 4096-bit key: off the async workers.
    let key = tokio::task::spawn_blocking(move || ControllerKey::generate(bits, &cn, now, ttl))
        .await
        .map_err(|e| format!("generating a key: {e}"))?
        .map_err(|e| format!("generating a key: {e}"))?;
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "generateName": options.key_prefix,
            "namespace": options.namespace,
            "labels": {KEY_LABEL: "active"},
        },
        "type": "kubernetes.io/tls",
        "stringData": {
            "tls.crt": key.certificate_pem(),
            "tls.key": key.private_key_pem(),
        },
    }))
    .map_err(|e| e.to_string())?;
    let written = Api::<Secret>::namespaced(client.clone(), &options.namespace)
        .create(&PostParams::default(), &secret)
        .await
        .map_err(|e| format!("writing a new key to {}: {e}", options.namespace))?;
    tracing::info!(namespace = %options.namespace,
                   name = written.metadata.name.as_deref().unwrap_or(""), "new Sealed Secrets key written");
    Ok(key)
}

/// The controller of one cluster once it serves SealedSecrets and has keys.
struct ClusterController {
    client: kube::Client,
    options: Arc<SealedSecretsOptions>,
    recorder: Recorder,
    keys: KeyRing,
    /// The spec each SealedSecret was last unsealed from, by `namespace/name`: a write
    /// that changes no spec (its status, a label) is not unsealed again.
    seen: HashMap<String, Value>,
    served: ClusterKeys,
    /// The cluster's name.
    cluster: String,
}

impl ClusterController {
    /// Watches SealedSecrets (and deleted Secrets, to make them again) until the watch
    /// ends; renews the key on schedule.
    async fn run(&mut self, server: &str) {
        let resource = sealed_secret_resource();
        let sealed: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource);
        let mut sealed_events =
            crate::controller::watch_with_backoff(sealed, watcher::Config::default());
        // Names only: the deleted Secrets' data never reaches the hub.
        let secrets: Api<kube::core::PartialObjectMeta<Secret>> = Api::all(self.client.clone());
        let mut secret_events = watcher(secrets, watcher::Config::default()).boxed();
        let renew_every = if self.options.key_renew_period.is_zero() {
            Duration::from_secs(24 * 3600)
        } else {
            self.options
                .key_renew_period
                .min(Duration::from_secs(24 * 3600))
        };
        let mut renew = tokio::time::interval(renew_every);
        renew.tick().await;
        loop {
            tokio::select! {
                event = sealed_events.next() => match event {
                    Some(Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object))) => {
                        self.changed(object).await;
                    }
                    Some(Ok(watcher::Event::Delete(object))) => {
                        self.seen.remove(&key_of(&object.metadata));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => tracing::debug!(%server, error = %e, "SealedSecret watch"),
                    None => return,
                },
                event = secret_events.next() => match event {
                    // A Secret a SealedSecret made is made again (upstream's Secret
                    // informer; Kubernetes removes it with its SealedSecret by itself).
                    Some(Ok(watcher::Event::Delete(secret))) => {
                        let key = key_of(&secret.metadata);
                        if self.seen.remove(&key).is_some() {
                            self.resync(&key).await;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::debug!(%server, error = %e, "Secret watch");
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                    None => return,
                },
                _ = renew.tick() => {
                    match KeyRing::load_or_create(&self.client, &self.options).await {
                        Ok(keys) => {
                            self.served.set(&self.cluster, keys.keys.clone());
                            self.keys = keys;
                        }
                        Err(e) => tracing::warn!(%server, error = %e, "renewing the Sealed Secrets key"),
                    }
                }
            }
        }
    }

    /// A SealedSecret seen: unsealed when its spec is new or changed.
    async fn changed(&mut self, object: DynamicObject) {
        let key = key_of(&object.metadata);
        let value = match serde_json::to_value(&object) {
            Ok(v) => v,
            Err(_) => return,
        };
        if object.metadata.deletion_timestamp.is_some() {
            return;
        }
        let spec = value.get("spec").cloned().unwrap_or(Value::Null);
        if self.seen.get(&key) == Some(&spec) {
            return;
        }
        self.seen.insert(key, spec);
        self.reconcile(&value).await;
    }

    /// Reads the SealedSecret `key` again and unseals it.
    async fn resync(&mut self, key: &str) {
        let Some((namespace, name)) = key.split_once('/') else {
            return;
        };
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, &sealed_secret_resource());
        if let Ok(Some(object)) = api.get_opt(name).await {
            self.changed(object).await;
        }
    }

    /// Unseals `sealed` into its Secret, records what happened and writes its status
    /// (upstream's `unseal` with its deferred status update).
    async fn reconcile(&mut self, sealed: &Value) {
        let outcome = self.unseal_and_write(sealed).await;
        let now = crate::controller::now_rfc3339();
        let event = match &outcome {
            Ok(()) => FluxEvent {
                warning: false,
                reason: "Unsealed".into(),
                message: "SealedSecret unsealed successfully".into(),
                metadata: BTreeMap::new(),
            },
            Err(failure) => FluxEvent {
                warning: true,
                reason: failure.reason.into(),
                message: failure.event.clone(),
                metadata: BTreeMap::new(),
            },
        };
        self.recorder.record(sealed, &event, &now).await;
        let error = outcome.err().map(|f| f.condition);
        if let Some(status) = status_update(sealed, error.as_deref(), &now) {
            let namespace = sealed["metadata"]["namespace"].as_str().unwrap_or("");
            let name = sealed["metadata"]["name"].as_str().unwrap_or("");
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.client.clone(), namespace, &sealed_secret_resource());
            let patch = json!({"status": status});
            if let Err(e) = api
                .patch_status(name, &PatchParams::default(), &Patch::Merge(patch))
                .await
            {
                tracing::warn!(%namespace, %name, error = %e, "writing a SealedSecret's status");
            }
        }
    }

    async fn unseal_and_write(&mut self, sealed: &Value) -> Result<(), Failure> {
        let secret = match flotilla_secrets::unseal(sealed, &self.keys.keys) {
            Ok(secret) => secret,
            // A key made since (by a rotation elsewhere, or restored from a backup):
            // read the keys again, once.
            Err(UnsealError::Decrypt { .. }) => {
                if let Ok(keys) = KeyRing::load(&self.client, &self.options).await {
                    self.served.set(&self.cluster, keys.keys.clone());
                    self.keys = keys;
                }
                flotilla_secrets::unseal(sealed, &self.keys.keys).map_err(Failure::unseal)?
            }
            Err(e) => return Err(Failure::unseal(e)),
        };
        write_secret(&self.client, sealed, secret).await
    }
}

/// Why a SealedSecret was not unsealed: the event's reason and message, and the Synced
/// condition's message.
#[derive(Debug)]
struct Failure {
    reason: &'static str,
    event: String,
    condition: String,
}

impl Failure {
    fn unseal(e: UnsealError) -> Failure {
        Failure {
            reason: "ErrUnsealFailed",
            event: format!("Failed to unseal: {e}"),
            condition: e.to_string(),
        }
    }

    fn update(message: String) -> Failure {
        Failure {
            reason: "ErrUpdateFailed",
            event: message.clone(),
            condition: message,
        }
    }
}

/// Creates the unsealed Secret, or updates the existing one when the SealedSecret
/// controls it or it is annotated managed or patch (upstream's rules: a Secret someone
/// else made is never overwritten).
async fn write_secret(
    client: &kube::Client,
    sealed: &Value,
    unsealed: Value,
) -> Result<(), Failure> {
    let namespace = sealed["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default");
    let name = unsealed["metadata"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let new: Secret =
        serde_json::from_value(unsealed.clone()).map_err(|e| Failure::update(e.to_string()))?;
    let existing = match api.get_opt(&name).await {
        Ok(Some(existing)) => existing,
        Ok(None) => {
            return api
                .create(&PostParams::default(), &new)
                .await
                .map(|_| ())
                .map_err(|e| Failure::update(api_message(&e)));
        }
        Err(e) => return Err(Failure::update(api_message(&e))),
    };
    let existing = serde_json::to_value(&existing).map_err(|e| Failure::update(e.to_string()))?;
    let updated = updated_secret(sealed, &existing, &unsealed).map_err(|message| Failure {
        reason: "ErrUpdateFailed",
        event: message.clone(),
        condition: format!("failed update: {message}"),
    })?;
    if updated == existing {
        return Ok(());
    }
    let updated: Secret =
        serde_json::from_value(updated).map_err(|e| Failure::update(e.to_string()))?;
    api.replace(&name, &PostParams::default(), &updated)
        .await
        .map(|_| ())
        .map_err(|e| {
            let message = api_message(&e);
            if message.ends_with("field is immutable when `immutable` is set") {
                Failure::update(format!(
                    "Error updating {namespace}/{}: the target Secret is immutable. Once a Secret is marked as immutable, it is not possible to revert this change nor to mutate the contents of the data field. You can only delete and recreate the Secret.",
                    sealed["metadata"]["name"].as_str().unwrap_or("")
                ))
            } else {
                Failure::update(message)
            }
        })
}

/// The existing Secret as the controller leaves it (upstream's update of an existing
/// Secret): replaced data, labels, annotations and owner references — merged instead
/// when annotated `patch` (owner references then only when also `managed`) —, and the
/// type. An existing Secret the SealedSecret does not control and that is annotated
/// neither way is refused.
fn updated_secret(sealed: &Value, existing: &Value, unsealed: &Value) -> Result<Value, String> {
    let annotated = |key: &str| existing["metadata"]["annotations"][key].as_str() == Some("true");
    let uid = sealed["metadata"]["uid"].as_str().unwrap_or("");
    let controlled = existing["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|owners| {
            owners
                .iter()
                .any(|o| o["controller"] == json!(true) && o["uid"].as_str() == Some(uid))
        });
    let (managed, patch) = (annotated(MANAGED_ANNOTATION), annotated(PATCH_ANNOTATION));
    if !controlled && !managed && !patch {
        return Err(format!(
            "Resource {:?} already exists and is not managed by SealedSecret",
            existing["metadata"]["name"].as_str().unwrap_or("")
        ));
    }
    let mut updated = existing.clone();
    let new_meta = &unsealed["metadata"];
    if patch {
        for field in ["labels", "annotations"] {
            merge_into(&mut updated["metadata"][field], &new_meta[field]);
        }
        merge_into(&mut updated["data"], &unsealed["data"]);
        if managed {
            set_or_remove(
                &mut updated["metadata"],
                "ownerReferences",
                &new_meta["ownerReferences"],
            );
        }
    } else {
        for field in ["labels", "annotations", "ownerReferences"] {
            set_or_remove(&mut updated["metadata"], field, &new_meta[field]);
        }
        set_or_remove(&mut updated, "data", &unsealed["data"]);
    }
    set_or_remove(&mut updated, "type", &unsealed["type"]);
    Ok(updated)
}

/// `into`'s keys with `from`'s over them (a map made when there was none).
fn merge_into(into: &mut Value, from: &Value) {
    let Some(from) = from.as_object() else {
        return;
    };
    if !into.is_object() {
        *into = json!({});
    }
    if let Some(into) = into.as_object_mut() {
        for (k, v) in from {
            into.insert(k.clone(), v.clone());
        }
    }
}

/// `object[field] = value`, or the field removed when `value` is null.
fn set_or_remove(object: &mut Value, field: &str, value: &Value) {
    if let Some(map) = object.as_object_mut() {
        if value.is_null() {
            map.shift_remove(field);
        } else {
            map.insert(field.to_string(), value.clone());
        }
    }
}

/// The Synced condition and observedGeneration to write, if anything changed: upstream
/// writes only when the condition's status flips or the generation moved on (a new error
/// message alone waits for either).
fn status_update(sealed: &Value, error: Option<&str>, now: &str) -> Option<Value> {
    let status = &sealed["status"];
    let generation = sealed["metadata"]["generation"].as_i64().unwrap_or(0);
    let mut conditions: Vec<Value> = status["conditions"].as_array().cloned().unwrap_or_default();
    let index = match conditions.iter().position(|c| c["type"] == "Synced") {
        Some(i) => i,
        None => {
            conditions.push(json!({"type": "Synced"}));
            conditions.len() - 1
        }
    };
    let condition = &mut conditions[index];
    let wanted = if error.is_none() { "True" } else { "False" };
    match error {
        Some(message) => condition["message"] = json!(message),
        None => {
            if let Some(map) = condition.as_object_mut() {
                map.shift_remove("message");
            }
        }
    }
    condition["lastUpdateTime"] = json!(now);
    let flipped = condition["status"].as_str() != Some(wanted);
    if flipped {
        condition["lastTransitionTime"] = json!(now);
        condition["status"] = json!(wanted);
    }
    let observed = status["observedGeneration"].as_i64().unwrap_or(0);
    (flipped || observed != generation)
        .then(|| json!({"conditions": conditions, "observedGeneration": generation}))
}

/// An API error's message (the apiserver's words), else the error.
fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}

fn key_of(meta: &kube::api::ObjectMeta) -> String {
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or(""),
        meta.name.as_deref().unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(uid: &str) -> Value {
        json!({"metadata": {"name": "db", "namespace": "team-a", "uid": uid, "generation": 2}})
    }

    fn unsealed(uid: &str) -> Value {
        json!({
            "metadata": {"name": "db", "namespace": "team-a", "labels": {"new": "1"},
                          "ownerReferences": [{"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
                                                "name": "db", "uid": uid, "controller": true,
                                                "blockOwnerDeletion": true}]},
            "type": "Opaque",
            "data": {"password": "czNjcjN0"},
        })
    }

    #[test]
    fn a_secret_made_by_someone_else_is_never_overwritten() {
        let theirs = json!({"metadata": {"name": "db", "namespace": "team-a"},
                            "data": {"password": "dGhlaXJz"}});
        let refused = updated_secret(&sealed("u1"), &theirs, &unsealed("u1")).unwrap_err();
        assert_eq!(
            refused,
            r#"Resource "db" already exists and is not managed by SealedSecret"#
        );
        // Owned by another SealedSecret (another uid): refused too.
        let mut other = unsealed("u0");
        other["metadata"]["labels"] = json!({"old": "1"});
        assert!(updated_secret(&sealed("u1"), &other, &unsealed("u1")).is_err());
    }

    #[test]
    fn an_owned_secret_is_replaced_and_a_patch_annotated_one_merged() {
        let mut owned = unsealed("u1");
        owned["metadata"]["labels"] = json!({"old": "1"});
        owned["data"] = json!({"stale": "eA=="});
        let updated = updated_secret(&sealed("u1"), &owned, &unsealed("u1")).unwrap();
        assert_eq!(updated["metadata"]["labels"], json!({"new": "1"}));
        assert_eq!(updated["data"], json!({"password": "czNjcjN0"}));

        let patched = json!({"metadata": {"name": "db", "namespace": "team-a",
                                          "labels": {"old": "1"},
                                          "annotations": {PATCH_ANNOTATION: "true"}},
                             "data": {"kept": "eA=="}, "type": "Opaque"});
        let updated = updated_secret(&sealed("u1"), &patched, &unsealed("u1")).unwrap();
        assert_eq!(
            updated["metadata"]["labels"],
            json!({"old": "1", "new": "1"})
        );
        assert_eq!(
            updated["data"],
            json!({"kept": "eA==", "password": "czNjcjN0"})
        );
        assert!(
            updated["metadata"].get("ownerReferences").is_none(),
            "patch without managed: no owner"
        );
        let mut managed = patched.clone();
        managed["metadata"]["annotations"][MANAGED_ANNOTATION] = json!("true");
        let updated = updated_secret(&sealed("u1"), &managed, &unsealed("u1")).unwrap();
        assert_eq!(updated["metadata"]["ownerReferences"][0]["uid"], "u1");
    }

    #[test]
    fn status_is_written_when_synced_flips_or_the_generation_moves() {
        let now = "2026-11-29T10:00:00Z";
        let first = status_update(&sealed("u"), None, now).unwrap();
        assert_eq!(first["observedGeneration"], 2);
        assert_eq!(first["conditions"][0]["status"], "True");
        assert_eq!(first["conditions"][0]["lastTransitionTime"], now);
        let mut written = sealed("u");
        written["status"] = first;
        assert_eq!(status_update(&written, None, "later"), None);
        let failed = status_update(&written, Some("no key could decrypt secret"), "later").unwrap();
        assert_eq!(failed["conditions"][0]["status"], "False");
        assert_eq!(
            failed["conditions"][0]["message"],
            "no key could decrypt secret"
        );
        let mut failing = sealed("u");
        failing["status"] = failed;
        // Another error, same status and generation: upstream writes nothing.
        assert_eq!(status_update(&failing, Some("other"), "later2"), None);
        failing["metadata"]["generation"] = json!(3);
        assert!(status_update(&failing, Some("other"), "later2").is_some());
    }
}
