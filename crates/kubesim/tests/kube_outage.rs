//! kube-rs against kubesim's faults: an unreachable cluster fails requests at once (refused on
//! its own port, closed on the shared port), and a reflector's store stays correct across
//! dropped watches, forced 410s and a 30-second outage.
//!
//! `reflector_store_survives_drops_410s_and_a_30s_outage` is the one slow test of the crate
//! (about 35 s, most of it the outage the acceptance criterion asks for).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Client, Config};
use kubesim::cluster::{DeleteOptions, WriteOptions};
use kubesim::faults::FaultChange;
use kubesim::filter::Filter;
use kubesim::meta::Part;
use kubesim::{Cluster, Fleet, ServeOptions, Server};
use serde_json::{Value, json};

async fn start(cluster_ports: Option<u16>) -> (Server, Client, Arc<Cluster>) {
    let options = ServeOptions {
        tls: false,
        cluster_ports,
    };
    let server = Server::start_with(
        Fleet::with_clusters(2),
        "127.0.0.1:0".parse().expect("addr"),
        options,
    )
    .await
    .expect("kubesim starts");
    let url = server.cluster_url("cluster-000").parse().expect("uri");
    let client = Client::try_from(Config::new(url)).expect("client");
    let cluster = server.fleet().cluster("cluster-000").expect("cluster");
    (server, client, cluster)
}

fn set(cluster: &Cluster, change: FaultChange) {
    cluster.change_faults(&change).expect("valid fault change");
}

fn unreachable(yes: bool) -> FaultChange {
    FaultChange {
        unreachable: Some(yes),
        ..Default::default()
    }
}

fn configmap(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"v": value}}))
        .expect("configmap")
}

#[tokio::test]
async fn unreachable_on_its_own_port_is_connection_refused_and_back() {
    let (_server, client, cluster) = start(Some(0)).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.create(&PostParams::default(), &configmap("a", "1"))
        .await
        .expect("create");
    set(&cluster, unreachable(true));
    let started = Instant::now();
    let err = cms.get("a").await.expect_err("unreachable");
    assert!(started.elapsed() < Duration::from_secs(2), "failed fast");
    let text = format!("{err:?}");
    assert!(
        text.contains("ConnectionRefused") || text.contains("Connection refused"),
        "{text}"
    );
    set(&cluster, unreachable(false));
    assert_eq!(
        cms.get("a").await.expect("reachable again").data,
        configmap("a", "1").data
    );
}

#[tokio::test]
async fn unreachable_on_the_shared_port_closes_connections_and_back() {
    let (server, client, cluster) = start(None).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    // A pooled keep-alive connection exists before the fault.
    cms.create(&PostParams::default(), &configmap("a", "1"))
        .await
        .expect("create");
    set(&cluster, unreachable(true));
    let started = Instant::now();
    let err = cms.get("a").await.expect_err("unreachable");
    assert!(started.elapsed() < Duration::from_secs(2), "failed fast");
    assert!(
        matches!(err, kube::Error::HyperError(_) | kube::Error::Service(_)),
        "a transport error, not an HTTP answer: {err:?}"
    );
    // The neighbour on the same port is unaffected.
    let other = Client::try_from(Config::new(
        server.cluster_url("cluster-001").parse().expect("uri"),
    ))
    .expect("client");
    Api::<ConfigMap>::namespaced(other, "default")
        .list(&Default::default())
        .await
        .expect("other cluster answers");
    set(&cluster, unreachable(false));
    cms.get("a").await.expect("reachable again");
}

/// Retry every half second: the outage must not push the reconnect out by kube-rs's
/// default backoff (up to 30 s).
struct Steady;

impl Iterator for Steady {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        Some(Duration::from_millis(500))
    }
}

impl kube::runtime::utils::Backoff for Steady {
    fn reset(&mut self) {}
}

/// name → (resourceVersion, data.v) of every ConfigMap in `default`, as the server has them.
fn server_state(cluster: &Cluster) -> BTreeMap<String, (String, String)> {
    let rt = cluster
        .registry()
        .lookup("", "v1", "configmaps")
        .expect("configmaps");
    let filter = Filter::parse(&rt, None, None).expect("no selector");
    let page = cluster
        .list(&rt, Some("default"), &filter, None, None)
        .expect("list");
    page.items
        .iter()
        .map(|o| {
            let s = |p: &str| {
                o.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            (
                s("/metadata/name"),
                (s("/metadata/resourceVersion"), s("/data/v")),
            )
        })
        .collect()
}

fn reflected(store: &reflector::Store<ConfigMap>) -> BTreeMap<String, (String, String)> {
    store
        .state()
        .iter()
        .map(|cm| {
            (
                cm.metadata.name.clone().unwrap_or_default(),
                (
                    cm.metadata.resource_version.clone().unwrap_or_default(),
                    cm.data
                        .as_ref()
                        .and_then(|d| d.get("v"))
                        .cloned()
                        .unwrap_or_default(),
                ),
            )
        })
        .collect()
}

/// Wait until the reflector's store equals the server's list, or fail with both.
async fn converges(what: &str, cluster: &Cluster, store: &reflector::Store<ConfigMap>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (want, got) = (server_state(cluster), reflected(store));
        if want == got {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the store did not converge\nserver: {want:?}\nstore:  {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Writes that bypass HTTP, as another API server client would make them.
struct Writer {
    cluster: Arc<Cluster>,
}

impl Writer {
    fn rt(&self) -> Arc<kubesim::resources::ResourceType> {
        self.cluster
            .registry()
            .lookup("", "v1", "configmaps")
            .expect("configmaps")
    }

    fn create(&self, name: &str, v: &str) {
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default"}, "data": {"v": v}});
        self.cluster
            .create(&self.rt(), Some("default"), obj, WriteOptions::default())
            .expect("create");
    }

    fn change(&self, name: &str, v: &str) {
        let rt = self.rt();
        let mut obj = self.cluster.get(&rt, Some("default"), name).expect("get");
        obj["data"]["v"] = json!(v);
        self.cluster
            .update(
                &rt,
                Some("default"),
                name,
                obj,
                Part::Main,
                WriteOptions::default(),
            )
            .expect("update");
    }

    fn delete(&self, name: &str) {
        self.cluster
            .delete(&self.rt(), Some("default"), name, &DeleteOptions::default())
            .expect("delete");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflector_store_survives_drops_410s_and_a_30s_outage() {
    let (_server, client, cluster) = start(Some(0)).await;
    let w = Writer {
        cluster: cluster.clone(),
    };
    for i in 0..20 {
        w.create(&format!("cm-{i:02}"), "0");
    }
    let (store, writer) = reflector::store::<ConfigMap>();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let stream = reflector(writer, watcher(api, watcher::Config::default()))
        .backoff(Steady)
        .touched_objects();
    let driver = tokio::spawn(async move {
        futures::pin_mut!(stream);
        // Errors are the faults at work; the watcher retries them.
        while stream.next().await.is_some() {}
    });
    converges("initial list", &cluster, &store).await;

    // A dropped watch resumes from the last resourceVersion: nothing missed in between.
    set(
        &cluster,
        FaultChange {
            drop_watches: true,
            ..Default::default()
        },
    );
    w.change("cm-00", "1");
    w.delete("cm-01");
    w.create("cm-20", "0");
    converges("after a dropped watch", &cluster, &store).await;

    // A forced 410 on the resumed watch: the watcher relists.
    set(
        &cluster,
        FaultChange {
            drop_watches: true,
            expire_next_watch: true,
            ..Default::default()
        },
    );
    w.change("cm-02", "1");
    w.delete("cm-03");
    converges("after a forced 410", &cluster, &store).await;

    // A compacted log: resuming from the old resourceVersion answers 410 too.
    w.change("cm-04", "1");
    set(
        &cluster,
        FaultChange {
            compact: true,
            drop_watches: true,
            ..Default::default()
        },
    );
    w.delete("cm-05");
    converges("after compaction", &cluster, &store).await;

    // 30 seconds unreachable, with creates, changes and deletes behind the client's back,
    // and the log compacted during the outage so the watcher must relist to see deletes.
    set(&cluster, unreachable(true));
    let outage = Instant::now();
    for step in 0..6 {
        tokio::time::sleep(Duration::from_secs(5)).await;
        w.create(&format!("late-{step}"), "0");
        w.change("cm-06", &format!("outage-{step}"));
        w.delete(&format!("cm-{:02}", 7 + step));
        if step == 3 {
            cluster.compact();
        }
    }
    assert!(outage.elapsed() >= Duration::from_secs(30));
    set(&cluster, unreachable(false));
    converges("after a 30-second outage", &cluster, &store).await;
    driver.abort();
}
