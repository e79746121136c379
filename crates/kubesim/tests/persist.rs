//! `--data-dir`: a restart restores objects, CRDs and resourceVersions; resourceVersions stay
//! monotonic; watches resume from the retained window or get 410, in process and through the
//! real binary stopped with SIGTERM (clean) and SIGKILL (a crash).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kubesim::cluster::{DeleteOptions, WriteOptions};
use kubesim::filter::Filter;
use kubesim::meta::Part;
use kubesim::{Cluster, ClusterConfig, Fleet, FleetConfig};
use serde_json::{Value, json};

fn config(dir: &Path, log_window: usize) -> FleetConfig {
    FleetConfig {
        data_dir: Some(dir.to_path_buf()),
        cluster: ClusterConfig {
            log_window,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn names() -> Vec<String> {
    vec!["east".into(), "west".into()]
}

fn rt(
    c: &Cluster,
    group: &str,
    version: &str,
    plural: &str,
) -> Arc<kubesim::resources::ResourceType> {
    c.registry()
        .lookup(group, version, plural)
        .unwrap_or_else(|| panic!("{group}/{version} {plural} is served"))
}

fn create(
    c: &Cluster,
    group: &str,
    version: &str,
    plural: &str,
    ns: Option<&str>,
    obj: Value,
) -> u64 {
    let written = c
        .create(
            &rt(c, group, version, plural),
            ns,
            obj,
            WriteOptions::default(),
        )
        .expect("create");
    rv_of(&written.object)
}

fn rv_of(obj: &Value) -> u64 {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .expect("numeric resourceVersion")
}

fn cm(name: &str, v: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": v}})
}

const CRD: &str = r#"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
  "metadata": {"name": "widgets.example.com"},
  "spec": {"group": "example.com", "scope": "Namespaced",
    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
    "versions": [{"name": "v1", "served": true, "storage": true,
      "schema": {"openAPIV3Schema": {"type": "object", "properties": {
        "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]}}"#;

/// Every object of every resource, by resource and key, as stored.
fn everything(c: &Cluster) -> Vec<(String, String, String, Value)> {
    c.inspect(|s| {
        let mut all = Vec::new();
        for resource in s.resources() {
            for ((ns, name), obj) in s.range(&resource, None, None) {
                all.push((
                    resource.to_string(),
                    ns.clone(),
                    name.clone(),
                    (**obj).clone(),
                ));
            }
        }
        all.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
        all
    })
}

#[test]
fn restart_restores_objects_crds_and_resource_versions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (before, revision, east_crd_rv) = {
        let fleet = Fleet::try_new(&names(), config(dir.path(), 10_000)).expect("fleet");
        let east = fleet.cluster("east").expect("east");
        for i in 0..50 {
            create(
                &east,
                "",
                "v1",
                "configmaps",
                Some("default"),
                cm(&format!("c{i}"), "1"),
            );
        }
        let crd_rv = create(
            &east,
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            None,
            serde_json::from_str(CRD).expect("crd"),
        );
        create(
            &east,
            "example.com",
            "v1",
            "widgets",
            Some("default"),
            json!({"apiVersion": "example.com/v1", "kind": "Widget",
                   "metadata": {"name": "w"}, "spec": {"size": 3}}),
        );
        let cms = rt(&east, "", "v1", "configmaps");
        let mut c3 = east.get(&cms, Some("default"), "c3").expect("get");
        c3["data"]["v"] = json!("2");
        east.update(
            &cms,
            Some("default"),
            "c3",
            c3,
            Part::Main,
            WriteOptions::default(),
        )
        .expect("update");
        east.delete(&cms, Some("default"), "c4", &DeleteOptions::default())
            .expect("delete");
        let before = everything(&east);
        let revision = east.revision();
        fleet.close();
        (before, revision, crd_rv)
    };
    let fleet = Fleet::try_new(&names(), config(dir.path(), 10_000)).expect("reopen");
    let east = fleet.cluster("east").expect("east");
    assert_eq!(east.revision(), revision, "the revision is restored");
    let after = everything(&east);
    assert_eq!(after.len(), before.len());
    assert!(after == before, "every object comes back unchanged");
    // The CRD's type is served again, its object readable.
    let widget = east
        .get(
            &rt(&east, "example.com", "v1", "widgets"),
            Some("default"),
            "w",
        )
        .expect("custom resource");
    assert_eq!(widget["spec"]["size"], 3);
    assert!(rv_of(&widget) > east_crd_rv);
    // New writes continue above every old resourceVersion.
    let next = create(
        &east,
        "",
        "v1",
        "configmaps",
        Some("default"),
        cm("after", "1"),
    );
    assert_eq!(next, revision + 1);
    // The untouched cluster came back too, with its default namespaces only once.
    let west = fleet.cluster("west").expect("west");
    let ns = rt(&west, "", "v1", "namespaces");
    let all = Filter::parse(&ns, None, None).expect("filter");
    assert_eq!(
        west.list(&ns, None, &all, None, None)
            .expect("list")
            .items
            .len(),
        4
    );
    fleet.close();
}

#[test]
fn watches_resume_within_the_retained_window_or_get_410() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (old, mid, last) = {
        let fleet = Fleet::try_new(&names(), config(dir.path(), 20)).expect("fleet");
        let east = fleet.cluster("east").expect("east");
        let old = east.revision();
        for i in 0..30 {
            create(
                &east,
                "",
                "v1",
                "configmaps",
                Some("default"),
                cm(&format!("c{i}"), "1"),
            );
        }
        let last = east.revision();
        fleet.close();
        (old, last - 5, last)
    };
    let fleet = Fleet::try_new(&names(), config(dir.path(), 20)).expect("reopen");
    let east = fleet.cluster("east").expect("east");
    let cms = rt(&east, "", "v1", "configmaps");
    let all = Filter::parse(&cms, None, None).expect("filter");
    let (events, _, _) = east
        .watch(&cms, Some("default"), Some(mid), &all)
        .expect("within the window: resumes");
    let revs: Vec<u64> = events.iter().map(|e| e.revision).collect();
    assert_eq!(revs, ((mid + 1)..=last).collect::<Vec<_>>());
    let Err(expired) = east.watch(&cms, Some("default"), Some(old), &all) else {
        panic!("older than the window: 410 expected");
    };
    assert_eq!(expired.code, 410);
    fleet.close();
}

#[test]
fn a_second_fleet_cannot_open_a_data_dir_in_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fleet = Fleet::try_new(&names(), config(dir.path(), 100)).expect("fleet");
    let err = Fleet::try_new(&names(), config(dir.path(), 100))
        .err()
        .expect("in use");
    let text = format!("{err}");
    assert!(text.contains("kubesim.redb"), "{text}");
    fleet.close();
    Fleet::try_new(&names(), config(dir.path(), 100)).expect("free once closed");
}

#[test]
fn a_data_dir_that_is_a_file_is_refused_with_its_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("plain");
    std::fs::write(&file, "x").expect("file");
    let err = Fleet::try_new(&names(), config(&file, 100))
        .err()
        .expect("refused");
    assert!(format!("{err}").contains("plain"), "{err}");
}

/// The kubesim binary serving plain HTTP on a free port with `--data-dir`.
struct Process {
    child: Child,
    base: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Process {
    fn start(data: &Path, port: u16) -> Process {
        let child = Command::new(env!("CARGO_BIN_EXE_kubesim"))
            .args(["serve", "--insecure-http", "--names", "east"])
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data)
            .arg("--kubeconfig")
            .arg(data.join("kubeconfig"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubesim starts");
        let p = Process {
            child,
            base: format!("http://127.0.0.1:{port}/clusters/east"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "kubesim did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        p
    }

    fn signal(mut self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(ok.success());
        self.child.wait().expect("exits");
    }
}

async fn client(base: &str) -> kube::Client {
    kube::Client::try_from(kube::Config::new(base.parse().expect("uri"))).expect("client")
}

#[tokio::test]
async fn the_binary_restores_after_sigterm_and_stays_monotonic_after_sigkill() {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, ListParams, PostParams};
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let make = |name: &str| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": name}, "data": {"v": "1"}}))
            .expect("configmap")
    };

    let p = Process::start(dir.path(), port);
    let cms: Api<ConfigMap> = Api::namespaced(client(&p.base).await, "default");
    let mut last = 0;
    for i in 0..20 {
        let c = cms
            .create(&PostParams::default(), &make(&format!("c{i}")))
            .await
            .expect("create");
        last = c
            .metadata
            .resource_version
            .expect("rv")
            .parse::<u64>()
            .expect("n");
    }
    let names_of = |l: &kube::core::ObjectList<ConfigMap>| -> Vec<String> {
        let mut n: Vec<String> = l
            .items
            .iter()
            .filter_map(|c| c.metadata.name.clone())
            .collect();
        n.sort();
        n
    };
    let before = cms.list(&ListParams::default()).await.expect("list");
    let before_rv: u64 = before
        .metadata
        .resource_version
        .clone()
        .expect("rv")
        .parse()
        .expect("n");
    assert!(before_rv >= last);
    p.signal("TERM");

    // A clean stop: everything is back, resourceVersions continue where they were.
    let p = Process::start(dir.path(), port);
    let cms: Api<ConfigMap> = Api::namespaced(client(&p.base).await, "default");
    let list = cms.list(&ListParams::default()).await.expect("list");
    assert_eq!(names_of(&list), names_of(&before));
    assert_eq!(list.items, before.items, "objects come back byte for byte");
    let list_rv: u64 = list
        .metadata
        .resource_version
        .expect("rv")
        .parse()
        .expect("n");
    assert_eq!(
        list_rv, before_rv,
        "the same revision after a clean restart"
    );
    let c = cms
        .create(&PostParams::default(), &make("after-term"))
        .await
        .expect("create");
    let after_term: u64 = c.metadata.resource_version.expect("rv").parse().expect("n");
    assert_eq!(after_term, before_rv + 1);
    let before_kill = cms.list(&ListParams::default()).await.expect("list");
    // Give the writer a moment to commit (its lag is a few milliseconds), then crash.
    tokio::time::sleep(Duration::from_millis(500)).await;
    p.signal("KILL");

    let p = Process::start(dir.path(), port);
    let cms: Api<ConfigMap> = Api::namespaced(client(&p.base).await, "default");
    let list = cms.list(&ListParams::default()).await.expect("list");
    assert_eq!(
        names_of(&list),
        names_of(&before_kill),
        "committed writes survive a crash"
    );
    let c = cms
        .create(&PostParams::default(), &make("after-kill"))
        .await
        .expect("create");
    let after_kill: u64 = c.metadata.resource_version.expect("rv").parse().expect("n");
    assert!(
        after_kill > after_term + kubesim::persist::REVISION_GAP,
        "{after_kill} jumps past anything handed out before the crash"
    );
    p.signal("KILL");
}
