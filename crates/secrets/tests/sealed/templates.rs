//! `spec.template.data`: Go templates with Sprig over the decrypted items; the functions that
//! read the controller's environment are refused.

use flotilla_secrets::{Scope, UnsealError, seal, unseal};
use serde_json::{Value, json};

use super::{key, secret};

fn with_templates(entries: Value) -> Value {
    let mut s = seal(&secret("web", "db"), &key().sealing_key(), Scope::Strict).expect("seals");
    s["spec"]["template"]["data"] = entries;
    s
}

fn decoded(secret: &Value, item: &str) -> String {
    use base64::Engine as _;
    let b = base64::engine::general_purpose::STANDARD
        .decode(secret["data"][item].as_str().expect("item present"))
        .unwrap();
    String::from_utf8(b).unwrap()
}

#[test]
fn sprig_functions_run_over_the_decrypted_items() {
    let s = with_templates(json!({
        "upper": "{{ .db_password | upper }}",
        "dsn": "postgres://app:{{ .db_password }}@db/app?token={{ index . \"api_token\" | b64enc }}",
        "missing": "{{ .nope }}",
        "db_password": "overridden-{{ .db_password }}",
    }));
    let back = unseal(&s, &[key().clone()]).expect("unseals");
    assert_eq!(decoded(&back, "upper"), "HUNTER2");
    assert_eq!(
        decoded(&back, "dsn"),
        "postgres://app:hunter2@db/app?token=dG9rLTEyMw=="
    );
    // Go prints a missing map key as <no value>.
    assert_eq!(decoded(&back, "missing"), "<no value>");
    // A template entry replaces the item of the same name; templates see the decrypted value.
    assert_eq!(decoded(&back, "db_password"), "overridden-hunter2");
    assert_eq!(decoded(&back, "api_token"), "tok-123");
}

#[test]
fn functions_that_read_the_environment_are_refused() {
    for (f, call) in [
        ("env", "{{ env \"HOME\" }}"),
        ("expandenv", "{{ expandenv \"$HOME\" }}"),
        ("getHostByName", "{{ getHostByName \"localhost\" }}"),
    ] {
        let err = unseal(&with_templates(json!({"leak": call})), &[key().clone()])
            .expect_err("must be refused");
        let UnsealError::Template(items) = &err else {
            panic!("expected a template failure, got {err:?}");
        };
        assert_eq!(items.items().collect::<Vec<_>>(), ["template.data.leak"]);
        assert!(
            err.to_string()
                .contains(&format!("function \"{f}\" not defined")),
            "{err}"
        );
    }
}

#[test]
fn a_failing_template_names_its_entry_and_hides_the_values() {
    let s = with_templates(json!({
        "ok": "{{ .db_password }}",
        "bad_parse": "{{ .db_password ",
        "bad_exec": "{{ mustToDate \"2006-01-02\" .db_password }}",
    }));
    let err = unseal(&s, &[key().clone()]).expect_err("must fail");
    let UnsealError::Template(items) = &err else {
        panic!("expected a template failure, got {err:?}");
    };
    assert_eq!(
        items.items().collect::<Vec<_>>(),
        ["template.data.bad_exec", "template.data.bad_parse"]
    );
    let message = err.to_string();
    assert!(message.contains("template: bad_parse:1:"), "{message}");
    assert!(message.contains("template: bad_exec:1:"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[test]
fn a_decryption_failure_is_reported_before_templates() {
    let mut s = with_templates(json!({"bad": "{{ .db_password "}));
    s["metadata"]["name"] = "renamed".into();
    let err = unseal(&s, &[key().clone()]).expect_err("must fail");
    assert!(matches!(err, UnsealError::Decrypt(_)), "{err:?}");
}
