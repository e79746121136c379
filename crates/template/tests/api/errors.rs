use crate::render;
use flotilla_template::{Error, Functions, Template, Value};
use serde_json::json;

#[test]
fn parse_errors_name_template_and_line_like_go() {
    let err = render(Functions::builtins(), "ok\n{{ nope }}", json!({})).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"template: test:2: function "nope" not defined"#
    );
    assert!(matches!(
        err,
        Error::Parse {
            line: 2,
            column: 3,
            ..
        }
    ));
    let err = render(Functions::builtins(), "{{if .x}}", json!({})).unwrap_err();
    assert_eq!(err.to_string(), "template: test:1: unexpected EOF");
}

#[test]
fn execution_errors_carry_line_column_and_node_like_go() {
    let err = render(Functions::builtins(), "{{index .a 5}}", json!({"a": [1]})).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"template: test:1:2: executing "test" at <index>: error calling index: index out of range: 5"#
    );
    let err = render(
        Functions::builtins(),
        "x\n  {{.a.b.c}}",
        json!({"a": {"b": 1}}),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"template: test:2:6: executing "test" at <.a.b.c>: can't evaluate field c in type int"#
    );
}

#[test]
fn missingkey_options_behave_like_go() {
    let t = Template::new("t").parse("{{.a}}-{{.a.b}}").expect("parses");
    let data = Value::from(&json!({}));
    assert_eq!(t.execute(&data).expect("renders"), "<no value>-<no value>");
    // missingkey=zero yields a nil interface: it prints as <no value>, and (as in Go)
    // stepping into it is a nil-pointer error rather than another missing key.
    let zero = t.clone().option("missingkey=zero").expect("known option");
    let err = zero.execute(&data).unwrap_err().to_string();
    assert!(
        err.ends_with("nil pointer evaluating interface {}.b"),
        "{err}"
    );
    let strict = t.option("missingkey=error").expect("known option");
    assert_eq!(
        strict.execute(&data).unwrap_err().to_string(),
        r#"template: t:1:2: executing "t" at <.a>: map has no entry for key "a""#
    );
    assert!(Template::new("t").option("missingkey=maybe").is_err());
}

#[test]
fn a_present_nil_is_a_nil_pointer_error_but_a_missing_key_is_not() {
    let err = render(Functions::builtins(), "{{.a.b}}", json!({"a": null})).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("nil pointer evaluating interface {}.b"),
        "{err}"
    );
    assert_eq!(
        render(Functions::builtins(), "{{.z.b}}", json!({})).expect("renders"),
        "<no value>"
    );
}

#[test]
fn values_print_as_go_prints_them() {
    let out = render(
        Functions::builtins(),
        "{{.m}} {{.l}} {{.f}} {{.i}} {{.big}} {{.n}} {{print nil}}",
        json!({"m": {"b": 2, "a": [1, "x"]}, "l": [1.5, true], "f": 3.0, "i": 3, "big": 1.0e7, "n": null}),
    )
    .expect("renders");
    assert_eq!(
        out,
        "map[a:[1 x] b:2] [1.5 true] 3 3 1e+07 <no value> <nil>"
    );
}

#[test]
fn one_parse_serves_many_executions_and_templates() {
    let t = Template::new("main")
        .functions(Functions::sprig())
        .parse(r#"{{define "greet"}}hi {{.}}{{end}}{{template "greet" .name | upper}}"#)
        .expect("parses");
    for name in ["a", "b"] {
        let out = t
            .execute(&Value::from(&json!({"name": name})))
            .expect("renders");
        assert_eq!(out, format!("hi {}", name.to_uppercase()));
    }
    assert_eq!(
        t.execute_template("greet", &Value::from("x"))
            .expect("renders"),
        "hi x"
    );
    assert!(matches!(
        t.execute_template("nope", &Value::Nil),
        Err(Error::NoTemplate { .. })
    ));
}

#[test]
fn parsed_templates_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync + Clone>() {}
    shareable::<Template>();
    shareable::<Value>();
    let t = Template::new("t").parse("{{.}}").expect("parses");
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let t = t.clone();
            std::thread::spawn(move || t.execute(&Value::Int(i)).expect("renders"))
        })
        .collect();
    let outs: Vec<String> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    assert_eq!(outs, ["0", "1", "2", "3"]);
}
