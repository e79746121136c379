//! `reseal` (the controller's `/v1/rotate`): items sealed with an older key come back
//! sealed with the newest, under the same scope, with the template untouched.

use flotilla_secrets::{Scope, UnsealError, reseal, seal, unseal};
use serde_json::json;

use super::{key, new_key, secret};

#[test]
fn items_sealed_with_an_old_key_open_with_the_newest_only_after_a_reseal() {
    let old = key().clone();
    let newest = new_key("renewed");
    let mut sealed = seal(
        &secret("web", "db"),
        &old.sealing_key(),
        Scope::NamespaceWide,
    )
    .unwrap();
    sealed["spec"]["template"]["data"] = json!({"dsn": "db://app:{{ .db_password }}@db"});
    // What `kubectl get -o json` adds: not carried into the answer.
    sealed["metadata"]["uid"] = json!("0b5e");
    sealed["metadata"]["resourceVersion"] = json!("42");
    sealed["status"] = json!({"observedGeneration": 1});

    let resealed = reseal(
        &sealed,
        &[old.clone(), newest.clone()],
        &newest.sealing_key(),
    )
    .expect("the old key opens the items");

    assert_eq!(resealed["spec"]["template"], sealed["spec"]["template"]);
    assert_eq!(
        resealed["metadata"],
        json!({"name": "db", "namespace": "web", "creationTimestamp": null,
               "annotations": {"sealedsecrets.bitnami.com/namespace-wide": "true"}})
    );
    assert!(resealed.get("status").is_none());
    assert_ne!(
        resealed["spec"]["encryptedData"]["db_password"],
        sealed["spec"]["encryptedData"]["db_password"]
    );
    let before = unseal(&sealed, std::slice::from_ref(&old)).unwrap();
    let after = unseal(&resealed, &[newest]).expect("the newest key opens every item");
    assert_eq!(after["data"], before["data"]);
    assert_eq!(after["data"]["dsn"], json!("ZGI6Ly9hcHA6aHVudGVyMkBkYg=="));
    assert!(matches!(
        unseal(&resealed, &[old]),
        Err(UnsealError::Decrypt(_))
    ));
}

#[test]
fn a_sealed_secret_no_key_opens_is_refused_naming_its_items() {
    let sealed = seal(
        &secret("web", "db"),
        &new_key("elsewhere").sealing_key(),
        Scope::Strict,
    )
    .unwrap();
    let err = reseal(&sealed, &[key().clone()], &key().sealing_key()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no key could decrypt secret (encryptedData.api_token,encryptedData.db_password)"
    );
    let not_sealed = reseal(&secret("web", "db"), &[key().clone()], &key().sealing_key());
    assert!(matches!(not_sealed, Err(UnsealError::Malformed(_))));
}
