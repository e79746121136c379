//! GitRepository reconcile: Flux's conditions, reasons and messages; the last good
//! artifact survives a failure; suspend and spec errors.

use flotilla_source::{Credentials, GitRef, GitRepository, GitRepositorySpec, GitRepositoryStatus};

use crate::cache;
use crate::support::{GitServer, WorkRepo};

fn object(url: &str, branch: &str) -> GitRepository {
    GitRepository {
        name: "flux-system/podinfo".into(),
        generation: 1,
        spec: GitRepositorySpec {
            url: url.into(),
            secret_ref: None,
            interval: "1m".into(),
            timeout: Some("20s".into()),
            reference: Some(GitRef {
                branch: branch.into(),
                ..Default::default()
            }),
            ignore: None,
            suspend: false,
            ..Default::default()
        },
        status: GitRepositoryStatus::default(),
    }
}

fn condition<'a>(obj: &'a GitRepository, type_: &str) -> Option<&'a flotilla_source::Condition> {
    obj.status.conditions.iter().find(|c| c.type_ == type_)
}

#[tokio::test]
async fn ready_then_failed_keeps_the_last_artifact() {
    let tmp = tempfile::tempdir().unwrap();
    let work = WorkRepo::new(&tmp.path().join("work"));
    let commit = work.commit(&[("deploy/a.yaml", "a: 1\n")], "c");
    let bare = tmp.path().join("r.git");
    work.publish(&bare);
    let url = format!("file://{}", bare.display());
    let cache = cache(tmp.path());
    let mut obj = object(&url, "main");

    let (action, checkout) = obj.reconcile(&cache, Credentials::None).await;
    assert_eq!(
        action.requeue_after,
        Some(std::time::Duration::from_secs(60))
    );
    assert!(checkout.is_some());
    let ready = obj.ready().unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("True", "Succeeded")
    );
    assert_eq!(
        ready.message,
        format!("stored artifact for revision 'main@sha1:{commit}'")
    );
    assert_eq!(condition(&obj, "ArtifactInStorage").unwrap().status, "True");
    let artifact = obj.status.artifact.clone().unwrap();
    assert_eq!(artifact.revision, format!("main@sha1:{commit}"));
    assert_eq!(
        artifact.tree,
        crate::support::git(&work.work, &["rev-parse", "HEAD^{tree}"])
    );

    obj.generation = 2;
    obj.spec.reference = Some(GitRef {
        branch: "invalid".into(),
        ..Default::default()
    });
    obj.reconcile(&cache, Credentials::None).await;
    let ready = obj.ready().unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "GitOperationFailed")
    );
    assert_eq!(
        ready.message,
        format!(
            "failed to checkout and determine revision: unable to clone '{url}': couldn't find remote ref \"refs/heads/invalid\""
        )
    );
    let fetch_failed = condition(&obj, "FetchFailed").unwrap();
    assert_eq!(
        (fetch_failed.status.as_str(), fetch_failed.reason.as_str()),
        ("True", "GitOperationFailed")
    );
    let reconciling = condition(&obj, "Reconciling").unwrap();
    assert_eq!(reconciling.reason, "ProgressingWithRetry");
    assert_eq!(
        obj.status.artifact,
        Some(artifact),
        "last good artifact kept"
    );

    // Fixed again: the negative conditions go away.
    obj.generation = 3;
    obj.spec.reference = None;
    obj.spec.reference = Some(GitRef {
        branch: "main".into(),
        ..Default::default()
    });
    obj.reconcile(&cache, Credentials::None).await;
    assert_eq!(obj.ready().unwrap().status, "True");
    assert!(condition(&obj, "FetchFailed").is_none());
    assert!(condition(&obj, "Reconciling").is_none());
    assert_eq!(obj.status.observed_generation, 3);
}

#[tokio::test]
async fn authentication_failure_has_its_own_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let work = WorkRepo::new(&tmp.path().join("work"));
    work.commit(&[("a", "1")], "c");
    let served = tmp.path().join("served");
    work.publish(&served.join("r.git"));
    let server = GitServer::start(&served, Some(("u", "p"))).await;
    let mut obj = object(&server.url("r.git"), "main");
    let wrong = Credentials::Basic {
        username: "u".into(),
        password: "not-p-secret".into(),
    };
    obj.reconcile(&cache(tmp.path()), wrong).await;
    let ready = obj.ready().unwrap();
    assert_eq!(ready.reason, "AuthenticationFailed");
    assert!(
        ready.message.contains("authentication failed"),
        "{}",
        ready.message
    );
    assert!(!ready.message.contains("not-p-secret"));
}

#[tokio::test]
async fn suspended_and_invalid_specs() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = cache(tmp.path());
    let mut obj = object("file:///nowhere/r.git", "main");
    obj.spec.suspend = true;
    let (action, _) = obj.reconcile(&cache, Credentials::None).await;
    assert_eq!(action.requeue_after, None);
    assert!(
        obj.status.conditions.is_empty(),
        "suspended objects are left alone"
    );

    let mut obj = object("ftp://example.com/r.git", "main");
    let (action, _) = obj.reconcile(&cache, Credentials::None).await;
    assert_eq!(action.requeue_after, None);
    let stalled = condition(&obj, "Stalled").unwrap();
    assert_eq!(stalled.reason, "URLInvalid");
    assert_eq!(obj.ready().unwrap().status, "False");

    let mut obj = object("file:///nowhere/r.git", "main");
    obj.spec.interval = "5 minutes".into();
    obj.reconcile(&cache, Credentials::None).await;
    let stalled = condition(&obj, "Stalled").unwrap();
    assert!(
        stalled.message.contains("spec.interval"),
        "{}",
        stalled.message
    );
}
