//! kube-rs (the `kube` crate) against kubesim: typed and dynamic CRUD through
//! discovery, and watchers that must see every event in order and recover
//! from a forced 410 Expired.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::{self, Discovery};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Client, Config};
use kubesim::{Fleet, Server};
use serde_json::json;

async fn start() -> (Server, Client) {
    let server = Server::start(
        Fleet::with_clusters(2),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("kubesim starts");
    let url = server.cluster_url("cluster-000").parse().expect("uri");
    let client = Client::try_from(Config::new(url)).expect("client");
    (server, client)
}

fn configmap(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "demo"}},
        "data": {"key": value}
    }))
    .expect("configmap")
}

#[tokio::test]
async fn typed_crud_round_trips() {
    let (_server, client) = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let created = cms
        .create(&PostParams::default(), &configmap("a", "1"))
        .await
        .expect("create");
    let rv = created.metadata.resource_version.clone().expect("rv");
    assert!(created.metadata.uid.is_some());

    let mut changed = cms.get("a").await.expect("get");
    changed.data = Some([("key".to_string(), "2".to_string())].into());
    let replaced = cms
        .replace("a", &PostParams::default(), &changed)
        .await
        .expect("replace");
    assert_ne!(
        replaced.metadata.resource_version.as_deref(),
        Some(rv.as_str())
    );

    // Replacing with the old resourceVersion is a 409 Conflict.
    let mut stale = created.clone();
    stale.data = Some([("key".to_string(), "3".to_string())].into());
    match cms.replace("a", &PostParams::default(), &stale).await {
        Err(kube::Error::Api(e)) => assert_eq!((e.code, e.reason.as_str()), (409, "Conflict")),
        other => panic!("expected a conflict, got {other:?}"),
    }

    let patched = cms
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"other": "x"}})),
        )
        .await
        .expect("merge patch");
    assert_eq!(
        patched
            .data
            .as_ref()
            .and_then(|d| d.get("other"))
            .map(String::as_str),
        Some("x")
    );

    let listed = cms
        .list(&ListParams::default().labels("app=demo"))
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 1);

    cms.delete("a", &DeleteParams::default())
        .await
        .expect("delete");
    match cms.get("a").await {
        Err(kube::Error::Api(e)) => assert_eq!((e.code, e.reason.as_str()), (404, "NotFound")),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[tokio::test]
async fn dynamic_objects_through_discovery_including_a_new_crd() {
    let (_server, client) = start().await;
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    let gvk = GroupVersionKind::gvk("apps", "v1", "Deployment");
    let (ar, caps) = discovery
        .resolve_gvk(&gvk)
        .expect("deployments are discoverable");
    assert_eq!(caps.scope, discovery::Scope::Namespaced);
    let deployments: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
    }))
    .expect("object");
    deployments
        .create(&PostParams::default(), &obj)
        .await
        .expect("create");
    let typed: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d = typed.get("web").await.expect("typed get");
    assert_eq!(d.metadata.generation, Some(1));

    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &discovery::ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    let crd: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
          "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
          "versions": [{"name": "v1", "served": true, "storage": true,
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))
    .expect("crd");
    crds.create(&PostParams::default(), &crd)
        .await
        .expect("create crd");
    let established = crds.get("widgets.example.com").await.expect("get crd");
    let conditions = established.data["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        conditions
            .iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True")
    );

    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery again");
    let (ar, _) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget"))
        .expect("the CRD's kind is discoverable");
    let widgets: Api<DynamicObject> = Api::namespaced_with(client, "default", &ar);
    let w: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3}})).expect("cr");
    widgets
        .create(&PostParams::default(), &w)
        .await
        .expect("create cr");
    assert_eq!(
        widgets.get("w1").await.expect("get cr").data["spec"]["size"],
        3
    );
}

#[tokio::test]
async fn watcher_sees_every_change_in_order() {
    let (_server, client) = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut stream = watcher(cms.clone(), watcher::Config::default().labels("app=demo")).boxed();
    // Drain the initial list (empty for this selector) before writing.
    loop {
        match stream
            .try_next()
            .await
            .expect("event")
            .expect("stream open")
        {
            watcher::Event::InitDone => break,
            _ => continue,
        }
    }
    for i in 0..20 {
        cms.create(&PostParams::default(), &configmap(&format!("c{i:02}"), "0"))
            .await
            .expect("create");
    }
    cms.patch(
        "c05",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"key": "1"}})),
    )
    .await
    .expect("patch");
    cms.delete("c07", &DeleteParams::default())
        .await
        .expect("delete");

    let mut seen = Vec::new();
    while seen.len() < 22 {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
            .await
            .expect("events arrive")
            .expect("no error")
            .expect("stream open");
        match event {
            watcher::Event::Apply(cm) => {
                seen.push(format!("apply {}", cm.metadata.name.unwrap_or_default()))
            }
            watcher::Event::Delete(cm) => {
                seen.push(format!("delete {}", cm.metadata.name.unwrap_or_default()))
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let mut expected: Vec<String> = (0..20).map(|i| format!("apply c{i:02}")).collect();
    expected.push("apply c05".into());
    expected.push("delete c07".into());
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn reflector_recovers_from_a_forced_410() {
    let (server, client) = start().await;
    let cluster = server.fleet().cluster("cluster-000").expect("cluster");
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let (reader, writer) = reflector::store();
    let stream = reflector(
        writer,
        watcher(cms.clone(), watcher::Config::default().labels("app=demo")),
    )
    .applied_objects()
    .for_each(|_| async {});
    let task = tokio::spawn(stream);

    let names = |r: &reflector::Store<ConfigMap>| -> BTreeSet<String> {
        r.state()
            .iter()
            .filter_map(|c| c.metadata.name.clone())
            .collect()
    };
    for i in 0..5 {
        cms.create(&PostParams::default(), &configmap(&format!("a{i}"), "0"))
            .await
            .expect("create");
    }
    wait_for(|| names(&reader).len() == 5).await;

    // Compact the log and cut every watch: the watcher's resume point is gone, so its next
    // watch gets 410 Expired and it must relist to stay correct.
    cluster.compact();
    cluster.drop_watches();
    for i in 0..5 {
        cms.create(&PostParams::default(), &configmap(&format!("b{i}"), "0"))
            .await
            .expect("create");
    }
    cms.delete("a0", &DeleteParams::default())
        .await
        .expect("delete");
    let expected: BTreeSet<String> = ["a1", "a2", "a3", "a4", "b0", "b1", "b2", "b3", "b4"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    wait_for(|| names(&reader) == expected).await;
    task.abort();
}

async fn wait_for(mut cond: impl FnMut() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not reached within 10 s");
}
