//! Shared fixtures: cluster Secrets and ApplicationSets built the way users write them.

#![allow(dead_code)]

use base64::Engine as _;
use flotilla_fleet::ApplicationSet;
use flotilla_fleet::appset::{GeneratorContext, MemoryRepos};
use flotilla_fleet::cluster::ClusterSecret;
use serde_json::{Value, json};

/// A cluster Secret as `kubectl get secret -o json` shows it (data base64-encoded).
pub(crate) fn cluster_secret(
    cluster: &str,
    server: &str,
    labels: &[(&str, &str)],
    annotations: &[(&str, &str)],
    project: Option<&str>,
) -> ClusterSecret {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut label_map = serde_json::Map::new();
    label_map.insert("argocd.argoproj.io/secret-type".into(), json!("cluster"));
    for (k, v) in labels {
        label_map.insert((*k).into(), json!(v));
    }
    let annotation_map: serde_json::Map<String, Value> = annotations
        .iter()
        .map(|(k, v)| ((*k).to_string(), json!(v)))
        .collect();
    let mut data = json!({"name": b64(cluster), "server": b64(server), "config": b64("{}")});
    if let Some(p) = project {
        data["project"] = json!(b64(p));
    }
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": format!("cluster-{}", cluster.replace(['/', '_'], "-")), "namespace": "argocd",
                     "labels": label_map, "annotations": annotation_map},
        "type": "Opaque",
        "data": data,
    });
    ClusterSecret::from_secret(&secret).expect("valid cluster secret")
}

/// An ApplicationSet from YAML.
pub(crate) fn appset(yaml: &str) -> ApplicationSet {
    ApplicationSet::from_yaml(yaml).expect("valid ApplicationSet")
}

/// A legacy (fasttemplate) or goTemplate ApplicationSet shell around generators.
pub(crate) fn shell(go_template: bool) -> ApplicationSet {
    let mut set = appset(
        "metadata: {name: test, namespace: argocd}\nspec: {template: {metadata: {name: x}, spec: {}}}\n",
    );
    set.spec.go_template = go_template;
    set
}

/// A generator context over in-memory repositories and Secrets.
pub(crate) fn ctx<'a>(
    repos: &'a MemoryRepos,
    clusters: &'a [ClusterSecret],
) -> GeneratorContext<'a> {
    GeneratorContext {
        repos,
        cluster_secrets: clusters,
        new_git_file_globbing: false,
        projects: None,
        pull_requests: None,
        scm_providers: None,
        controller_objects: None,
        plugins: None,
    }
}

/// Parameter sets as a sorted list of JSON strings (Argo CD's tests compare as sets).
pub(crate) fn as_set(params: &[serde_json::Map<String, Value>]) -> Vec<String> {
    let mut out: Vec<String> = params
        .iter()
        .map(|p| {
            let sorted: std::collections::BTreeMap<&String, &Value> = p.iter().collect();
            serde_json::to_string(&sorted).unwrap_or_default()
        })
        .collect();
    out.sort();
    out
}

/// Expected parameter sets from JSON literals, as [`as_set`] prints them.
pub(crate) fn expected_set(values: Value) -> Vec<String> {
    let maps: Vec<serde_json::Map<String, Value>> = values
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_object().cloned().expect("an object"))
        .collect();
    as_set(&maps)
}
