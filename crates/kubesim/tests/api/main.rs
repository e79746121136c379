//! The API's semantics over HTTP, without a socket: bad input, resourceVersion and
//! generation rules, dry runs, field validation, pagination and watch start points.
//! Expected bodies and messages are the kube-apiserver's (apimachinery's `errors`
//! package and the handlers' wording).

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use kubesim::Fleet;
use serde_json::{Value, json};
use tower::ServiceExt;

const CMS: &str = "/clusters/cluster-000/api/v1/namespaces/default/configmaps";

struct Api {
    app: Router,
    fleet: std::sync::Arc<Fleet>,
}

struct Reply {
    status: StatusCode,
    body: Value,
    headers: axum::http::HeaderMap,
}

impl Api {
    fn new() -> Api {
        let fleet = Fleet::with_clusters(1);
        Api {
            app: kubesim::router(fleet.clone()),
            fleet,
        }
    }

    async fn call(
        &self,
        method: &str,
        uri: &str,
        content_type: &str,
        body: impl Into<Body>,
    ) -> Reply {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", content_type)
            .body(body.into())
            .expect("request");
        let resp = self.app.clone().oneshot(req).await.expect("response");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
        Reply {
            status,
            body,
            headers,
        }
    }

    async fn json(&self, method: &str, uri: &str, body: &Value) -> Reply {
        self.call(method, uri, "application/json", body.to_string())
            .await
    }

    async fn get(&self, uri: &str) -> Reply {
        self.call("GET", uri, "application/json", Body::empty())
            .await
    }

    fn revision(&self) -> u64 {
        self.fleet
            .cluster("cluster-000")
            .expect("cluster")
            .revision()
    }
}

fn cm(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}})
}

#[track_caller]
fn assert_status(reply: &Reply, code: u16, reason: &str) {
    assert_eq!(reply.status.as_u16(), code, "{}", reply.body);
    assert_eq!(reply.body["kind"], "Status", "{}", reply.body);
    assert_eq!(reply.body["status"], "Failure");
    assert_eq!(reply.body["reason"], reason, "{}", reply.body);
    assert_eq!(reply.body["code"], code);
}

#[tokio::test]
async fn bad_input_gets_a_status_and_changes_nothing() {
    let api = Api::new();
    let before = api.revision();

    let r = api.call("POST", CMS, "application/json", "{not json").await;
    assert_status(&r, 400, "BadRequest");
    let r = api
        .call("POST", CMS, "application/yaml", "metadata: [unclosed")
        .await;
    assert_status(&r, 400, "BadRequest");
    let r = api.call("POST", CMS, "text/plain", "hello").await;
    assert_status(&r, 415, "UnsupportedMediaType");
    let big = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"x": "y".repeat(3 * 1024 * 1024)}});
    let r = api.json("POST", CMS, &big).await;
    assert_status(&r, 413, "RequestEntityTooLarge");
    let huge = vec![b' '; 8 * 1024 * 1024];
    let r = api.call("POST", CMS, "application/json", huge).await;
    assert_status(&r, 413, "RequestEntityTooLarge");

    let r = api.json("POST", CMS, &cm("Not_Valid")).await;
    assert_status(&r, 422, "Invalid");
    assert_eq!(r.body["details"]["causes"][0]["field"], "metadata.name");
    assert!(r.body["message"].as_str().expect("message").starts_with("ConfigMap \"Not_Valid\" is invalid: metadata.name: Invalid value: \"Not_Valid\": a lowercase RFC 1123 subdomain"));

    let mut wrong_ns = cm("x");
    wrong_ns["metadata"]["namespace"] = json!("other");
    let r = api.json("POST", CMS, &wrong_ns).await;
    assert_status(&r, 400, "BadRequest");
    assert_eq!(
        r.body["message"],
        "the namespace of the provided object does not match the namespace sent on the request"
    );

    let r = api
        .json(
            "POST",
            "/clusters/cluster-000/apis/nothing.example.com/v1/namespaces/default/things",
            &cm("x"),
        )
        .await;
    assert_status(&r, 404, "NotFound");
    let r = api
        .json(
            "POST",
            "/clusters/cluster-000/api/v1/namespaces/default/configmapz",
            &cm("x"),
        )
        .await;
    assert_status(&r, 404, "NotFound");
    let mut wrong_kind = cm("x");
    wrong_kind["kind"] = json!("Secret");
    let r = api.json("POST", CMS, &wrong_kind).await;
    assert_status(&r, 400, "BadRequest");
    let r = api
        .json(
            "POST",
            "/clusters/cluster-000/api/v1/namespaces/missing/configmaps",
            &cm("x"),
        )
        .await;
    assert_status(&r, 404, "NotFound");
    assert_eq!(r.body["message"], "namespaces \"missing\" not found");

    assert_eq!(api.revision(), before, "no bad request may write anything");
    let r = api.get(CMS).await;
    assert_eq!(r.body["items"].as_array().expect("items").len(), 0);
}

#[tokio::test]
async fn conflicts_noops_and_generation() {
    let api = Api::new();
    let r = api.json("POST", CMS, &cm("a")).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let rv = r.body["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    let r = api.json("POST", CMS, &cm("a")).await;
    assert_status(&r, 409, "AlreadyExists");
    assert_eq!(r.body["message"], "configmaps \"a\" already exists");

    // Writing the same content is a no-op: same resourceVersion, nothing logged.
    let before = api.revision();
    let same = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "resourceVersion": rv}, "data": {"a": "1"}});
    let r = api.json("PUT", &format!("{CMS}/a"), &same).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["metadata"]["resourceVersion"], json!(rv));
    assert_eq!(api.revision(), before);

    let mut changed = same.clone();
    changed["data"]["a"] = json!("2");
    let r = api.json("PUT", &format!("{CMS}/a"), &changed).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_ne!(r.body["metadata"]["resourceVersion"], json!(rv));
    // The old resourceVersion is now stale.
    let r = api.json("PUT", &format!("{CMS}/a"), &changed).await;
    assert_status(&r, 409, "Conflict");
    assert_eq!(
        r.body["message"],
        "Operation cannot be fulfilled on configmaps \"a\": the object has been modified; please apply your changes to the latest version and try again"
    );

    // Generation: spec changes bump it, label changes do not.
    let deploys = "/clusters/cluster-000/apis/apps/v1/namespaces/default/deployments";
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}});
    let r = api.json("POST", deploys, &d).await;
    assert_eq!(r.body["metadata"]["generation"], 1);
    let r = api
        .call(
            "PATCH",
            &format!("{deploys}/web"),
            "application/merge-patch+json",
            r#"{"metadata":{"labels":{"x":"y"}}}"#,
        )
        .await;
    assert_eq!(r.body["metadata"]["generation"], 1);
    let r = api
        .call(
            "PATCH",
            &format!("{deploys}/web"),
            "application/merge-patch+json",
            r#"{"spec":{"replicas":5}}"#,
        )
        .await;
    assert_eq!(r.body["metadata"]["generation"], 2);
    // Status written through the main resource is ignored.
    let r = api
        .call(
            "PATCH",
            &format!("{deploys}/web"),
            "application/merge-patch+json",
            r#"{"status":{"replicas":99}}"#,
        )
        .await;
    assert_ne!(r.body["status"]["replicas"], 99);
}

#[tokio::test]
async fn dry_run_create_returns_an_empty_resource_version_and_stores_nothing() {
    let api = Api::new();
    let before = api.revision();
    let r = api
        .json("POST", &format!("{CMS}?dryRun=All"), &cm("dry"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["metadata"]["resourceVersion"], "");
    assert!(r.body["metadata"]["uid"].is_string());
    assert_eq!(api.revision(), before);
    assert_status(&api.get(&format!("{CMS}/dry")).await, 404, "NotFound");
    let r = api
        .json("POST", &format!("{CMS}?dryRun=Some"), &cm("dry"))
        .await;
    assert_status(&r, 400, "BadRequest");
}

#[tokio::test]
async fn field_validation_strict_warn_ignore() {
    let api = Api::new();
    let mut body = cm("v");
    body["spec"] = json!({"x": 1});
    let r = api
        .json("POST", &format!("{CMS}?fieldValidation=Strict"), &body)
        .await;
    assert_status(&r, 400, "BadRequest");
    assert_eq!(
        r.body["message"],
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"spec\""
    );
    let r = api
        .json("POST", &format!("{CMS}?fieldValidation=Warn"), &body)
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        r.headers.get("warning").and_then(|v| v.to_str().ok()),
        Some("299 - \"unknown field \\\"spec\\\"\"")
    );
    assert!(
        r.body.get("spec").is_none(),
        "unknown fields are not stored"
    );
    let mut body = cm("i");
    body["spec"] = json!({"x": 1});
    let r = api
        .json("POST", &format!("{CMS}?fieldValidation=Ignore"), &body)
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.headers.get("warning").is_none());
}

#[tokio::test]
async fn pagination_keeps_the_first_pages_resource_version() {
    let api = Api::new();
    for i in 0..5 {
        api.json("POST", CMS, &cm(&format!("p{i}"))).await;
    }
    let first = api.get(&format!("{CMS}?limit=2")).await;
    let rv = first.body["metadata"]["resourceVersion"].clone();
    assert_eq!(first.body["metadata"]["remainingItemCount"], 3);
    let names = |r: &Reply| -> Vec<String> {
        r.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(names(&first), ["p0", "p1"]);
    api.json("POST", CMS, &cm("p9")).await;
    let token = first.body["metadata"]["continue"]
        .as_str()
        .expect("continue")
        .to_string();
    let second = api.get(&format!("{CMS}?limit=2&continue={token}")).await;
    assert_eq!(names(&second), ["p2", "p3"]);
    assert_eq!(second.body["metadata"]["resourceVersion"], rv);
    let token = second.body["metadata"]["continue"]
        .as_str()
        .expect("continue")
        .to_string();
    let third = api.get(&format!("{CMS}?limit=2&continue={token}")).await;
    assert_eq!(names(&third), ["p4", "p9"]);
    assert!(third.body["metadata"].get("continue").is_none());
    let r = api.get(&format!("{CMS}?limit=2&continue=garbage")).await;
    assert_status(&r, 400, "BadRequest");
}

/// Read watch lines until `n` arrived or the stream ends.
async fn watch_lines(api: &Api, uri: &str, n: usize) -> Vec<Value> {
    let req = Request::builder()
        .uri(uri)
        .body(Body::empty())
        .expect("request");
    let resp = api.app.clone().oneshot(req).await.expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    while out.len() < n {
        let frame = match tokio::time::timeout(Duration::from_secs(5), body.frame()).await {
            Ok(Some(Ok(f))) => f,
            _ => break,
        };
        if let Some(data) = frame.data_ref() {
            buf.extend_from_slice(data);
            while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                out.push(serde_json::from_slice(&line).expect("event json"));
            }
        }
    }
    out
}

#[tokio::test]
async fn watch_start_points_bookmarks_and_expiry() {
    let api = Api::new();
    let a = api.json("POST", CMS, &cm("a")).await;
    let rv_a: u64 = a.body["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .parse()
        .expect("number");
    api.json("POST", CMS, &cm("b")).await;

    // No resourceVersion: the current state as ADDED.
    let events = watch_lines(&api, &format!("{CMS}?watch=true&timeoutSeconds=1"), 2).await;
    assert_eq!(
        events
            .iter()
            .map(|e| (
                e["type"].as_str().unwrap_or(""),
                e["object"]["metadata"]["name"].as_str().unwrap_or("")
            ))
            .collect::<Vec<_>>(),
        [("ADDED", "a"), ("ADDED", "b")]
    );

    // From a's resourceVersion: only b.
    let events = watch_lines(
        &api,
        &format!("{CMS}?watch=true&resourceVersion={rv_a}&timeoutSeconds=1"),
        1,
    )
    .await;
    assert_eq!(events[0]["object"]["metadata"]["name"], "b");

    // sendInitialEvents: state, then a bookmark marking its end.
    let events = watch_lines(&api, &format!("{CMS}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1"), 3).await;
    assert_eq!(events[2]["type"], "BOOKMARK");
    assert_eq!(
        events[2]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    let r = api
        .get(&format!("{CMS}?watch=true&sendInitialEvents=true"))
        .await;
    assert_status(&r, 422, "Invalid");

    // After compaction an old resourceVersion fails with an ERROR event carrying 410.
    api.fleet.cluster("cluster-000").expect("cluster").compact();
    let events = watch_lines(&api, &format!("{CMS}?watch=true&resourceVersion={rv_a}"), 1).await;
    assert_eq!(events[0]["type"], "ERROR");
    assert_eq!(events[0]["object"]["code"], 410);
    assert_eq!(events[0]["object"]["reason"], "Expired");
    assert!(
        events[0]["object"]["message"]
            .as_str()
            .expect("message")
            .starts_with(&format!("too old resource version: {rv_a} ("))
    );
}

/// A burst of changes reaches a watch whole and in order, several events to a chunk of
/// the response (events already waiting are sent together).
#[tokio::test]
async fn a_burst_of_changes_arrives_in_order_in_fewer_chunks() {
    let api = Api::new();
    let start = api.json("POST", CMS, &cm("start")).await;
    let rv = start.body["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    let req = Request::builder()
        .uri(format!(
            "{CMS}?watch=true&resourceVersion={rv}&timeoutSeconds=5"
        ))
        .body(Body::empty())
        .expect("request");
    let resp = api.app.clone().oneshot(req).await.expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
    let names: Vec<String> = (0..200).map(|i| format!("burst-{i:03}")).collect();
    for name in &names {
        api.json("POST", CMS, &cm(name)).await;
    }
    let mut body = resp.into_body();
    let (mut buf, mut events, mut chunks) = (Vec::new(), Vec::new(), 0);
    while events.len() < names.len() {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("events in time")
            .expect("stream open")
            .expect("frame");
        if let Some(data) = frame.data_ref() {
            chunks += 1;
            buf.extend_from_slice(data);
            while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                let event: Value = serde_json::from_slice(&line).expect("one event per line");
                events.push(
                    event["object"]["metadata"]["name"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                );
            }
        }
    }
    assert_eq!(events, names);
    assert!(
        chunks < names.len(),
        "{chunks} chunks for {} events",
        names.len()
    );
}

#[tokio::test]
async fn custom_resources_refuse_strategic_merge_and_unconditional_updates() {
    let api = Api::new();
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "widgets", "kind": "Widget"},
          "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]}});
    let r = api
        .json(
            "POST",
            "/clusters/cluster-000/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            &crd,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let widgets = "/clusters/cluster-000/apis/example.com/v1/namespaces/default/widgets";
    let w = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1, "extra": true}});
    let r = api.json("POST", widgets, &w).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(
        r.body["spec"].get("extra").is_none(),
        "pruned by the structural schema"
    );
    let r = api
        .call(
            "PATCH",
            &format!("{widgets}/w"),
            "application/strategic-merge-patch+json",
            r#"{"spec":{"size":2}}"#,
        )
        .await;
    assert_status(&r, 415, "UnsupportedMediaType");
    let r = api.json("PUT", &format!("{widgets}/w"), &json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 3}})).await;
    assert_status(&r, 422, "Invalid");
    let bad = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "wrong.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "gadgets", "kind": "Gadget"}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}}]}});
    let r = api
        .json(
            "POST",
            "/clusters/cluster-000/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            &bad,
        )
        .await;
    assert_status(&r, 422, "Invalid");
}

#[tokio::test]
async fn injected_faults_fail_a_share_of_requests_and_clear() {
    let api = Api::new();
    let faults = "/clusters/cluster-000/_kubesim/faults";
    let r = api
        .call(
            "POST",
            faults,
            "application/json",
            r#"{"errorRate": 1.0, "errorCode": 429}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = api.get(CMS).await;
    assert_status(&r, 429, "TooManyRequests");
    assert_eq!(
        r.headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let r = api
        .call("POST", faults, "application/json", r#"{"errorCode": 404}"#)
        .await;
    assert_status(&r, 400, "BadRequest");
    api.call("POST", faults, "application/json", r#"{"clear": true}"#)
        .await;
    assert_eq!(api.get(CMS).await.status, StatusCode::OK);

    // Unreachable: requests hang until the cluster comes back.
    api.call(
        "POST",
        faults,
        "application/json",
        r#"{"unreachable": true}"#,
    )
    .await;
    let hung = tokio::time::timeout(Duration::from_millis(300), api.get(CMS)).await;
    assert!(
        hung.is_err(),
        "a request to an unreachable cluster must not be answered"
    );
    let pending = tokio::spawn({
        let app = api.app.clone();
        async move {
            let req = Request::builder()
                .uri(CMS)
                .body(Body::empty())
                .expect("request");
            app.oneshot(req).await.expect("response").status()
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    api.call(
        "POST",
        faults,
        "application/json",
        r#"{"unreachable": false}"#,
    )
    .await;
    assert_eq!(pending.await.expect("joined"), StatusCode::OK);
}

#[tokio::test]
async fn the_audit_log_records_every_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("audit.jsonl");
    let config = kubesim::FleetConfig {
        audit_log: Some(log.clone()),
        ..Default::default()
    };
    let fleet = Fleet::try_new(&["cluster-000".to_string()], config).expect("fleet");
    let api = Api {
        app: kubesim::router(fleet.clone()),
        fleet,
    };
    api.json("POST", CMS, &cm("a")).await;
    api.get(&format!("{CMS}/a")).await;
    api.get(&format!("{CMS}/missing")).await;
    api.call(
        "DELETE",
        &format!("{CMS}/a"),
        "application/json",
        Body::empty(),
    )
    .await;
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .expect("log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let summary: Vec<(String, String, u64)> = lines
        .iter()
        .map(|l| {
            (
                l["verb"].as_str().unwrap_or("").into(),
                l["name"].as_str().unwrap_or("").into(),
                l["code"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("create".into(), "".into(), 201),
            ("get".into(), "a".into(), 200),
            ("get".into(), "missing".into(), 404),
            ("delete".into(), "a".into(), 200)
        ]
    );
    assert_eq!(lines[0]["resource"], "configmaps");
    assert_eq!(lines[0]["namespace"], "default");
    assert_eq!(lines[0]["cluster"], "cluster-000");
}

/// Writes answered as `PartialObjectMetadata` when the client asks (the kube-apiserver
/// transforms every response object, writes included; the hub asks so for writes whose
/// answer it does not read). Errors stay Status objects.
#[tokio::test]
async fn writes_answer_with_metadata_only_when_asked() {
    let api = Api::new();
    let accept = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";
    let send = |method: &'static str, uri: String, content_type: &'static str, body: String| {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", content_type)
            .header("accept", accept)
            .body(Body::from(body))
            .expect("request");
        let app = api.app.clone();
        async move {
            let resp = app.oneshot(req).await.expect("response");
            let status = resp.status();
            let bytes = resp.into_body().collect().await.expect("body").to_bytes();
            (
                status,
                serde_json::from_slice::<Value>(&bytes).expect("JSON"),
            )
        }
    };
    let (status, created) = send(
        "POST",
        CMS.into(),
        "application/json",
        cm("lean").to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["kind"], "PartialObjectMetadata");
    assert_eq!(created["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(created["metadata"]["name"], "lean");
    assert!(created.get("data").is_none(), "{created}");

    let (status, patched) = send(
        "PATCH",
        format!("{CMS}/lean"),
        "application/merge-patch+json",
        json!({"data": {"b": "2"}}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(patched["kind"], "PartialObjectMetadata");
    assert!(patched.get("data").is_none(), "{patched}");
    assert_ne!(
        patched["metadata"]["resourceVersion"], created["metadata"]["resourceVersion"],
        "the answer is the written object's metadata"
    );
    let stored = api.get(&format!("{CMS}/lean")).await;
    assert_eq!(stored.body["data"], json!({"a": "1", "b": "2"}));

    let (status, again) = send(
        "POST",
        CMS.into(),
        "application/json",
        cm("lean").to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(again["kind"], "Status");
    assert_eq!(again["reason"], "AlreadyExists");
}
