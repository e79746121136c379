//! Go methods on typed maps, as Helm's `.Files.Get` and `.Capabilities.APIVersions.Has`.

use flotilla_template::{Arity, FuncError, Functions, Map, Methods, Template, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

fn files() -> Value {
    let mut methods = Methods::new();
    methods.register("Get", Arity::Exact(1), |m, a| {
        Ok(m.get(a[0].as_str().unwrap_or_default())
            .unwrap_or(Value::from("")))
    });
    methods.register("Fail", Arity::Exact(0), |_, _| Err(FuncError::msg("boom")));
    methods.register("String", Arity::Exact(0), |m, _| {
        Ok(Value::from(format!("files({})", m.len())))
    });
    let entries = BTreeMap::from([("a.txt".to_string(), Value::from("hello"))]);
    Value::Map(Map::with_methods(entries, Arc::new(methods)))
}

fn run(text: &str) -> Result<String, flotilla_template::Error> {
    let data = Value::map(BTreeMap::from([("Files".to_string(), files())]));
    Template::new("t")
        .functions(Functions::helm())
        .parse(text)?
        .execute(&data)
}

#[test]
fn a_method_takes_the_commands_arguments() {
    assert_eq!(
        run(r#"{{ .Files.Get "a.txt" }}|{{ .Files.Get "b" }}"#).unwrap(),
        "hello|"
    );
    assert_eq!(
        run(r#"{{ "a.txt" | .Files.Get | upper }}"#).unwrap(),
        "HELLO"
    );
    assert_eq!(
        run(r#"{{ $f := .Files }}{{ $f.Get "a.txt" }}"#).unwrap(),
        "hello"
    );
}

#[test]
fn map_keys_stay_reachable_and_string_prints_the_map() {
    assert_eq!(
        run(r#"{{ range $k, $v := .Files }}{{ $k }}={{ $v }}{{ end }}"#).unwrap(),
        "a.txt=hello"
    );
    assert_eq!(run("{{ .Files }}").unwrap(), "files(1)");
}

#[test]
fn method_errors_and_arity_are_reported() {
    let e = run("{{ .Files.Fail }}").unwrap_err().to_string();
    assert!(e.contains("error calling Fail: boom"), "{e}");
    let e = run(r#"{{ .Files.Get "a" "b" }}"#).unwrap_err().to_string();
    assert!(
        e.contains("wrong number of args for Get: want 1 got 2"),
        "{e}"
    );
}

/// Go refuses a nil argument for a `string` parameter (Helm's
/// `template-with-invalid-template-expr` golden case); interface parameters accept it.
#[test]
fn nil_into_a_string_parameter_is_an_invalid_value() {
    let t = |text: &str| {
        Template::new("t")
            .functions(Functions::helm())
            .option("missingkey=zero")
            .unwrap()
            .parse(text)
            .unwrap()
            .execute(&Value::from(&serde_json::json!({"a": null})))
    };
    let e = t("{{ .missing | b64enc }}").unwrap_err().to_string();
    assert_eq!(
        e,
        "template: t:1:14: executing \"t\" at <b64enc>: invalid value; expected string"
    );
    assert!(t("{{ .a | indent 2 }}").is_err());
    assert_eq!(
        t("{{ .missing | quote }}|{{ .a | default \"x\" }}").unwrap(),
        "|x"
    );
}
