//! Seal with a generated key's certificate, unseal with the key, through every scope; what a
//! scope lets a SealedSecret survive (renaming, moving).

use flotilla_secrets::{ControllerKey, Scope, SealingKey, UnsealError, seal, unseal};
use serde_json::{Value, json};

use super::{key, new_key, secret};

const ALL: [Scope; 3] = [Scope::Strict, Scope::NamespaceWide, Scope::ClusterWide];

fn sealing_key() -> SealingKey {
    SealingKey::from_certificate_pem(key().certificate_pem().as_bytes()).expect("our cert reads")
}

fn keys() -> Vec<ControllerKey> {
    vec![key().clone()]
}

/// The same SealedSecret under another namespace and name (metadata only, as a user would
/// copy it).
fn relocated(sealed: &Value, namespace: &str, name: &str) -> Value {
    let mut moved = sealed.clone();
    moved["metadata"]["namespace"] = namespace.into();
    moved["metadata"]["name"] = name.into();
    moved
}

fn decrypt_items(err: &UnsealError) -> Vec<String> {
    match err {
        UnsealError::Decrypt(items) => items.items().map(str::to_string).collect(),
        other => panic!("expected a decryption failure, got {other:?}"),
    }
}

#[test]
fn every_scope_round_trips() {
    for scope in ALL {
        let sealed = seal(&secret("web", "db"), &sealing_key(), scope).expect("seals");
        let back = unseal(&sealed, &keys()).unwrap_or_else(|e| panic!("{scope}: {e}"));
        let mut expected = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "db",
                "namespace": "web",
                "labels": {"app": "web"},
                "ownerReferences": [{
                    "apiVersion": "bitnami.com/v1alpha1",
                    "kind": "SealedSecret",
                    "name": "db",
                    "uid": "",
                    "controller": true,
                }],
            },
            "type": "Opaque",
            "data": {"api_token": "dG9rLTEyMw==", "db_password": "aHVudGVyMg=="},
        });
        // The template's scope annotation travels to the Secret (strict sets none).
        if let Some(a) = sealed["spec"]["template"]["metadata"].get("annotations") {
            expected["metadata"]["annotations"] = a.clone();
        }
        assert_eq!(
            Scope::of_annotations(&sealed["metadata"]["annotations"]),
            scope
        );
        assert_eq!(back, expected, "{scope}");
    }
}

#[test]
fn sealed_secrets_are_laid_out_as_kubeseal_writes_them() {
    let sealed = seal(&secret("web", "db"), &sealing_key(), Scope::NamespaceWide).expect("seals");
    let keys: Vec<&str> = sealed
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["kind", "apiVersion", "metadata", "spec"]);
    assert_eq!(
        sealed["metadata"],
        json!({"name": "db", "namespace": "web", "creationTimestamp": null,
               "annotations": {"sealedsecrets.bitnami.com/namespace-wide": "true"}})
    );
    assert_eq!(
        sealed["spec"]["template"],
        json!({"metadata": {"name": "db", "namespace": "web", "creationTimestamp": null,
                            "labels": {"app": "web"},
                            "annotations": {"sealedsecrets.bitnami.com/namespace-wide": "true"}},
               "type": "Opaque"})
    );
    let items: Vec<&str> = sealed["spec"]["encryptedData"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(items, ["api_token", "db_password"]);
    for v in sealed["spec"]["encryptedData"]
        .as_object()
        .unwrap()
        .values()
    {
        // 2048-bit RSA: 0x01 0x00 as the length prefix.
        assert!(v.as_str().unwrap().starts_with("AQ"), "{v}");
    }
    let strict = seal(&secret("web", "db"), &sealing_key(), Scope::Strict).expect("seals");
    assert!(strict["metadata"].get("annotations").is_none());
    assert!(
        strict["spec"]["template"]["metadata"]
            .get("annotations")
            .is_none()
    );
}

#[test]
fn a_strict_sealed_secret_cannot_be_renamed_or_moved() {
    let sealed = seal(&secret("web", "db"), &sealing_key(), Scope::Strict).expect("seals");
    for (ns, name) in [("web", "db2"), ("other", "db")] {
        let err = unseal(&relocated(&sealed, ns, name), &keys()).expect_err("must not unseal");
        assert_eq!(
            decrypt_items(&err),
            ["encryptedData.api_token", "encryptedData.db_password"]
        );
        assert_eq!(
            err.to_string(),
            "no key could decrypt secret (encryptedData.api_token,encryptedData.db_password)"
        );
    }
}

#[test]
fn a_namespace_wide_sealed_secret_can_be_renamed_but_not_moved() {
    let sealed = seal(&secret("web", "db"), &sealing_key(), Scope::NamespaceWide).expect("seals");
    let renamed = unseal(&relocated(&sealed, "web", "db2"), &keys()).expect("renamed unseals");
    assert_eq!(renamed["metadata"]["name"], "db2");
    assert_eq!(renamed["metadata"]["ownerReferences"][0]["name"], "db2");
    let err = unseal(&relocated(&sealed, "other", "db"), &keys()).expect_err("moved fails");
    assert_eq!(decrypt_items(&err).len(), 2);
}

#[test]
fn a_cluster_wide_sealed_secret_can_be_moved() {
    let sealed = seal(&secret("web", "db"), &sealing_key(), Scope::ClusterWide).expect("seals");
    let moved = unseal(&relocated(&sealed, "other", "x"), &keys()).expect("moved unseals");
    assert_eq!(moved["metadata"]["namespace"], "other");
    assert_eq!(moved["metadata"]["name"], "x");
    assert_eq!(moved["data"]["db_password"], "aHVudGVyMg==");
}

/// Upstream's `Unseal` takes the scope from the SealedSecret's own annotations
/// (`labelFor(smeta)`), not from `spec.template` — a template annotation alone does not widen
/// the scope.
#[test]
fn the_scope_is_read_from_the_sealed_secrets_own_metadata() {
    let sealed = seal(&secret("web", "db"), &sealing_key(), Scope::ClusterWide).expect("seals");
    let mut only_template = sealed.clone();
    only_template["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("annotations");
    assert!(
        only_template["spec"]["template"]["metadata"]["annotations"]["sealedsecrets.bitnami.com/cluster-wide"]
            == "true"
    );
    let err = unseal(&only_template, &keys()).expect_err("strict label is used");
    assert_eq!(decrypt_items(&err).len(), 2);
}

#[test]
fn the_first_key_that_opens_wins() {
    let old = new_key("old-controller");
    let sealed = seal(&secret("web", "db"), &old.sealing_key(), Scope::Strict).expect("seals");
    let both = vec![key().clone(), old.clone()];
    assert!(unseal(&sealed, &both).is_ok());
    assert!(unseal(&sealed, &keys()).is_err());
    assert!(unseal(&sealed, &[]).is_err());
}

#[test]
fn the_owner_reference_names_the_sealed_secret_unless_skipped() {
    let mut sealed = seal(&secret("web", "db"), &sealing_key(), Scope::Strict).expect("seals");
    sealed["metadata"]["uid"] = "1234-abcd".into();
    let back = unseal(&sealed, &keys()).expect("unseals");
    assert_eq!(back["metadata"]["ownerReferences"][0]["uid"], "1234-abcd");
    assert_eq!(back["metadata"]["ownerReferences"][0]["controller"], true);

    // The annotation is read from the template (upstream's Spec.Template.Annotations).
    sealed["spec"]["template"]["metadata"]["annotations"] =
        json!({"sealedsecrets.bitnami.com/skip-set-owner-references": "true"});
    let back = unseal(&sealed, &keys()).expect("unseals");
    assert!(back["metadata"].get("ownerReferences").is_none());
    assert_eq!(
        back["metadata"]["annotations"]["sealedsecrets.bitnami.com/skip-set-owner-references"],
        "true"
    );
}

#[test]
fn template_type_and_immutable_carry_over_and_name_is_forced() {
    let mut s = secret("web", "db");
    s["type"] = "kubernetes.io/basic-auth".into();
    s["immutable"] = true.into();
    let mut sealed = seal(&s, &sealing_key(), Scope::Strict).expect("seals");
    sealed["spec"]["template"]["metadata"]["name"] = "something-else".into();
    sealed["spec"]["template"]["metadata"]["namespace"] = "elsewhere".into();
    let back = unseal(&sealed, &keys()).expect("unseals");
    assert_eq!(back["type"], "kubernetes.io/basic-auth");
    assert_eq!(back["immutable"], true);
    assert_eq!(back["metadata"]["name"], "db");
    assert_eq!(back["metadata"]["namespace"], "web");
}

#[test]
fn sealing_strips_server_fields_and_last_applied_configuration() {
    let mut s = secret("web", "db");
    s["metadata"]["uid"] = "u".into();
    s["metadata"]["resourceVersion"] = "7".into();
    s["metadata"]["creationTimestamp"] = "2024-01-01T00:00:00Z".into();
    s["metadata"]["ownerReferences"] = json!([{"kind": "X", "name": "y"}]);
    s["metadata"]["annotations"] = json!({
        "kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"db_password\":\"aHVudGVyMg==\"}}",
        "keep": "me",
    });
    let sealed = seal(&s, &sealing_key(), Scope::Strict).expect("seals");
    assert_eq!(
        sealed["spec"]["template"]["metadata"],
        json!({"name": "db", "namespace": "web", "creationTimestamp": null,
               "labels": {"app": "web"}, "annotations": {"keep": "me"}})
    );
    assert!(!sealed.to_string().contains("aHVudGVyMg"));
}

#[test]
fn only_a_cluster_wide_secret_may_lack_a_namespace() {
    let mut s = secret("web", "db");
    s["metadata"].as_object_mut().unwrap().remove("namespace");
    for scope in [Scope::Strict, Scope::NamespaceWide] {
        let err = seal(&s, &sealing_key(), scope).expect_err("needs a namespace");
        assert_eq!(err.to_string(), "secret must declare a namespace");
    }
    let sealed = seal(&s, &sealing_key(), Scope::ClusterWide).expect("cluster-wide seals");
    assert!(sealed["metadata"].get("namespace").is_none());
    let placed = relocated(&sealed, "anywhere", "db");
    assert!(unseal(&placed, &keys()).is_ok());

    s["metadata"].as_object_mut().unwrap().remove("name");
    let err = seal(&s, &sealing_key(), Scope::ClusterWide).expect_err("needs a name");
    assert_eq!(err.to_string(), "missing metadata.name in input Secret");
}

#[test]
fn bad_secret_data_names_the_item() {
    let mut s = secret("web", "db");
    s["data"]["broken"] = "not base64!".into();
    let err = seal(&s, &sealing_key(), Scope::Strict).expect_err("bad base64");
    assert_eq!(
        err.to_string(),
        "data.broken: illegal base64 data at input byte 3"
    );
    let err = seal(&json!({"kind": "ConfigMap"}), &sealing_key(), Scope::Strict).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input is not a Secret (kind \"ConfigMap\")"
    );
}
