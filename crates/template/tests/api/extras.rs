use crate::render;
use flotilla_template::{Functions, Value};
use serde_json::json;

#[test]
fn helm_include_output_can_be_piped_and_tpl_sees_defines() {
    let text = r#"{{- define "labels" }}app: {{ .name }}
tier: web{{ end -}}
labels:
{{ include "labels" . | indent 2 }}
{{ tpl .greeting . }}"#;
    let out = render(
        Functions::helm(),
        text,
        json!({"name": "shop", "greeting": "hello {{ .name }} ({{ include \"labels\" . | len }})"}),
    )
    .expect("renders");
    assert_eq!(out, "labels:\n  app: shop\n  tier: web\nhello shop (19)");
}

#[test]
fn helm_required_fail_and_lookup() {
    let err = render(
        Functions::helm(),
        r#"{{ required "name is required" .name }}"#,
        json!({}),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("error calling required: name is required"),
        "{err}"
    );
    let err = render(Functions::helm(), r#"{{ fail "stop" }}"#, json!({})).unwrap_err();
    assert!(
        err.to_string().ends_with("error calling fail: stop"),
        "{err}"
    );
    let out = render(
        Functions::helm(),
        r#"{{ lookup "v1" "Pod" "ns" "x" | len }}"#,
        json!({}),
    )
    .expect("renders");
    assert_eq!(out, "0");
}

#[test]
fn helm_to_yaml_and_from_yaml() {
    let data = json!({"v": {"image": {"tag": "1.0", "pullPolicy": "IfNotPresent"}, "ports": [80, 443], "on": "on"}});
    let out = render(Functions::helm(), "{{ toYaml .v }}", data).expect("renders");
    assert_eq!(
        out,
        "image:\n  pullPolicy: IfNotPresent\n  tag: \"1.0\"\n\"on\": \"on\"\nports:\n- 80\n- 443"
    );
    let out = render(
        Functions::helm(),
        r#"{{ $m := fromYaml "a: 1\nb: [x]" }}{{ $m.a }} {{ index $m.b 0 }}"#,
        json!({}),
    )
    .expect("renders");
    assert_eq!(out, "1 x");
    let out = render(
        Functions::helm(),
        r#"{{ (fromYaml "- a").Error }}"#,
        json!({}),
    )
    .expect("renders");
    assert!(out.contains("cannot unmarshal array"), "{out}");
}

#[test]
fn sprig_set_mutates_the_shared_map_as_in_go() {
    let out = render(
        Functions::sprig(),
        r#"{{ $d := dict "a" 1 }}{{ $_ := set $d "b" 2 }}{{ $d }} {{ $_ := set . "x" "y" }}{{ .x }}"#,
        json!({}),
    )
    .expect("renders");
    assert_eq!(out, "map[a:1 b:2] y");
}

#[test]
fn argocd_functions() {
    let out = render(
        Functions::argocd(),
        r#"{{ normalize .cluster }} {{ slugify .title }} {{ (fromYaml "k: v").k }} {{ toYaml (list 1 "a") }}"#,
        json!({"cluster": "Prod_EU-1", "title": "Hello, World!"}),
    )
    .expect("renders");
    assert_eq!(out, "prod-eu-1 hello-world v - 1\n- a");
}

#[test]
fn registered_functions_are_callable() {
    let mut f = Functions::builtins();
    f.register("double", flotilla_template::Arity::Exact(1), |a| {
        match a[0] {
            Value::Int(i) => Ok(Value::Int(i * 2)),
            _ => Err(flotilla_template::FuncError::msg("want an int")),
        }
    });
    assert_eq!(
        render(f.clone(), "{{ double 21 }}", json!({})).expect("renders"),
        "42"
    );
    let err = render(f, "{{ double 1 2 }}", json!({})).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("wrong number of args for double: want 1 got 2"),
        "{err}"
    );
}
