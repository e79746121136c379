//! Selector behaviour pinned against apimachinery's `pkg/labels`: the
//! scenarios of upstream's selector tests, re-authored with our own inputs.

use std::collections::BTreeMap;

use flotilla_core::labels::{Operator, Requirement, Selector};
use serde_json::json;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A selector, a label set, and whether the selector should match it.
type MatchCase = (&'static str, &'static [(&'static str, &'static str)], bool);

fn parse(input: &str) -> Selector {
    Selector::parse(input).unwrap_or_else(|e| panic!("{input:?} should parse: {e}"))
}

fn parse_err(input: &str) -> String {
    match Selector::parse(input) {
        Ok(selector) => panic!("{input:?} should not parse, got {selector}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn canonical_strings_round_trip_without_spaces() {
    for input in [
        "app=web,tier=db,zone=b",
        "",
        "app!=web,tier=db",
        "app=",
        "app= ",
        "app=,tier= ",
        "app= ,tier= ",
        "!canary",
        "replicas>2",
        "replicas>2,shards<9",
    ] {
        assert_eq!(
            parse(input).to_string(),
            input.replace(' ', ""),
            "{input:?}"
        );
    }
}

#[test]
fn malformed_strings_are_rejected() {
    for input in [
        "app=web||tier=db",
        "app==web==db",
        "!canary=yes",
        "replicas<many",
    ] {
        assert!(Selector::parse(input).is_err(), "{input:?}");
    }
}

#[test]
fn parse_order_does_not_change_the_result() {
    assert_eq!(parse("zone=b,app=web"), parse("app=web,zone=b"));
    assert_eq!(parse("zone=b,app=web").to_string(), "app=web,zone=b");
}

#[test]
fn string_selectors_match_like_upstream() {
    let cases: &[MatchCase] = &[
        ("", &[("app", "web")], true),
        ("app=web", &[("app", "web")], true),
        ("app=web,tier=db", &[("app", "web"), ("tier", "db")], true),
        (
            "app!=web,tier!=db",
            &[("app", "api"), ("tier", "cache")],
            true,
        ),
        // `in` and `notin` are plain words on either side of `=`.
        ("notin=in", &[("notin", "in")], true),
        ("app", &[("app", "anything")], true),
        ("!app", &[("tier", "db")], true),
        ("replicas>1", &[("replicas", "2")], true),
        ("replicas<1", &[("replicas", "0")], true),
        ("app=web", &[], false),
        ("app=web", &[("app", "api")], false),
        ("app=web,tier=db", &[("app", "db"), ("tier", "db")], false),
        (
            "app!=web,tier!=db",
            &[("app", "api"), ("tier", "db")],
            false,
        ),
        ("app", &[("tier", "db")], false),
        ("!app", &[("app", "web")], false),
        ("replicas>1", &[("replicas", "0")], false),
        ("replicas<1", &[("replicas", "2")], false),
        ("replicas>1", &[("replicas", "v2")], false),
        (
            "owner=team-a,env=prod",
            &[("owner", "team-a"), ("env", "prod")],
            true,
        ),
        (
            "owner=team-a,env=dev",
            &[("owner", "team-a"), ("env", "prod")],
            false,
        ),
        (
            "owner=team-a,stage=x,env=prod",
            &[("owner", "team-a"), ("env", "prod")],
            false,
        ),
        ("x notin (),y", &[("y", "")], true),
        ("x in ()", &[("x", "")], true),
        ("x in ()", &[("y", "z")], false),
    ];
    for (selector, set, want) in cases {
        assert_eq!(
            parse(selector).matches(&labels(set)),
            *want,
            "{selector:?} on {set:?}"
        );
    }
}

#[test]
fn everything_and_nothing_are_different() {
    let any = labels(&[("app", "web")]);
    assert!(Selector::everything().matches(&any));
    assert!(Selector::everything().matches(&labels(&[])));
    assert!(Selector::everything().is_everything());
    assert!(!Selector::everything().is_nothing());
    assert!(!Selector::nothing().matches(&any));
    assert!(!Selector::nothing().matches(&labels(&[])));
    assert!(Selector::nothing().is_nothing());
    assert!(!Selector::nothing().is_everything());
    assert_eq!(Selector::nothing().requirements(), None);
    assert_eq!(Selector::nothing().to_string(), "");
    assert!(parse("").is_everything());
    // Contradictions are not detected, upstream neither.
    assert!(!parse("a,!a").is_nothing());
    assert!(!parse("a=b,a!=b").is_everything());
}

#[test]
fn set_syntax_normalises_values() {
    let cases: &[(&str, &str)] = &[
        ("\rapp", "app"),
        ("flotilla.dev/managed-by", "flotilla.dev/managed-by"),
        (
            "flotilla.dev/part-of in (api,web)",
            "flotilla.dev/part-of in (api,web)",
        ),
        (
            "10.0.0.domain/42 notin (10.1.1.1, a.b.c)",
            "10.0.0.domain/42 notin (10.1.1.1,a.b.c)",
        ),
        ("tier  in\t (gold)", "tier in (gold)"),
        ("tier notin\n (gold)", "tier notin (gold)"),
        ("tier  notin \t\t(gold,bronze)", "tier notin (bronze,gold)"),
        ("tier in (gold,)", "tier in (,gold)"),
        ("tier in (gold,gold)", "tier in (gold)"),
        ("tier in ()", "tier in ()"),
        ("tier in (b,,)", "tier in (,b)"),
        ("tier in (b,,,)", "tier in (,b)"),
        ("tier in (b,,,,,,,)", "tier in (,b)"),
        ("tier in (b,,b,,b,,)", "tier in (,b)"),
        (
            "zone notin (a,,c),db,tier in (),api",
            "api,db,tier in (),zone notin (,a,c)",
        ),
        ("app,tier in (x)", "app,tier in (x)"),
        ("tier notin ( )", "tier notin ()"),
        ("tier notin (, x)", "tier notin (,x)"),
        ("tier ", "tier"),
        ("tier in (x,y,notin, z,in)", "tier in (in,notin,x,y,z)"),
        (
            "tier=gold,app!=x,zone in (p,q,r)",
            "app!=x,tier=gold,zone in (p,q,r)",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(parse(input).to_string(), *want, "{input:?}");
    }
    let values = parse("tier in (b,,a)");
    let requirement = &values.requirements().unwrap()[0];
    assert_eq!(requirement.values(), ["", "a", "b"]);
    assert_eq!(requirement.operator(), Operator::In);
}

#[test]
fn syntax_errors_are_worded_like_upstream() {
    let cases: &[(&str, &str)] = &[
        (
            "app=web||tier=db",
            "unable to parse requirement: values[0][app]: Invalid value: \"web||tier\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
        ),
        ("app,,tier", "found ',', expected: identifier after ','"),
        (
            ",app,tier",
            "found ',', expected: !, identifier, or 'end of string'",
        ),
        (
            "app nott in (y)",
            "unable to parse requirement: found 'nott', expected: in, notin, =, ==, !=, gt, lt",
        ),
        ("app in (web),", "found '', expected: identifier after ','"),
        (
            "app in (web)tier notin ()",
            "found 'tier', expected: ',' or 'end of string'",
        ),
        (
            "app in (web api)",
            "unable to parse requirement: found 'api', expected: ',' or ')'",
        ),
        (
            "app notin(",
            "unable to parse requirement: found '', expected: ',', ')' or identifier",
        ),
        (
            "app (",
            "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt",
        ),
        (
            "(",
            "found '(', expected: !, identifier, or 'end of string'",
        ),
        (
            "app in web",
            "unable to parse requirement: found 'web' expected: '('",
        ),
        (
            "app in (=)",
            "unable to parse requirement: found '=', expected: ',', ')' or identifier",
        ),
        (
            "app in (a,=)",
            "unable to parse requirement: found '=', expected: ',', or identifier",
        ),
        (
            "app==web==db",
            "found '==', expected: ',' or 'end of string'",
        ),
        ("!canary=yes", "found '=', expected: ',' or 'end of string'"),
        (
            "!",
            "unable to parse requirement: found '', expected: identifier",
        ),
        (
            "app=(",
            "unable to parse requirement: found '(', expected: identifier",
        ),
        (
            "replicas<many",
            "unable to parse requirement: values[0]: Invalid value: \"many\": for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        (
            "a/b/c",
            "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(parse_err(input), *want, "{input:?}");
    }
    let err = Selector::parse("app in web").unwrap_err();
    assert_eq!(err.input(), "app in web");
}

#[test]
fn printing_requirements_built_by_hand() {
    let req = |key: &str, op, values: &[&str]| {
        Requirement::new(key, op, values.iter().map(|v| v.to_string()).collect()).unwrap()
    };
    let cases = [
        (
            vec![
                req("a", Operator::In, &["q", "p"]),
                req("b", Operator::NotIn, &["r"]),
                req("c", Operator::Exists, &[]),
            ],
            "a in (p,q),b notin (r),c",
        ),
        (
            vec![
                req("a", Operator::NotIn, &["q", "p"]),
                req("b", Operator::NotEquals, &["r"]),
                req("c", Operator::DoesNotExist, &[]),
            ],
            "a notin (p,q),b!=r,!c",
        ),
        (
            vec![
                req("a", Operator::Equals, &["p"]),
                req("b", Operator::DoubleEquals, &["q"]),
                req("c", Operator::NotEquals, &["r"]),
                req("c", Operator::Exists, &[]),
            ],
            "a=p,b==q,c!=r,c",
        ),
        (
            vec![
                req("a", Operator::GreaterThan, &["4"]),
                req("b", Operator::LessThan, &["7"]),
                req("c", Operator::Exists, &[]),
            ],
            "a>4,b<7,c",
        ),
    ];
    for (requirements, want) in cases {
        assert_eq!(Selector::from_requirements(requirements).to_string(), want);
    }
}

#[test]
fn hand_built_selectors_match() {
    let req = |key: &str, op, values: &[&str]| {
        Requirement::new(key, op, values.iter().map(|v| v.to_string()).collect()).unwrap()
    };
    let sel = |reqs: Vec<Requirement>| Selector::from_requirements(reqs);
    let web = labels(&[("app", "web"), ("tier", "front")]);
    assert!(
        sel(vec![
            req("app", Operator::In, &["web"]),
            req("tier", Operator::NotIn, &["back"])
        ])
        .matches(&web)
    );
    assert!(
        !sel(vec![
            req("app", Operator::In, &["web"]),
            req("tier", Operator::In, &["back"])
        ])
        .matches(&web)
    );
    let only_tier = labels(&[("tier", "")]);
    assert!(
        sel(vec![
            req("app", Operator::NotIn, &[""]),
            req("tier", Operator::Exists, &[])
        ])
        .matches(&only_tier)
    );
    assert!(
        sel(vec![
            req("app", Operator::DoesNotExist, &[]),
            req("tier", Operator::Exists, &[])
        ])
        .matches(&only_tier)
    );
    assert!(
        !sel(vec![
            req("app", Operator::NotIn, &[""]),
            req("tier", Operator::DoesNotExist, &[])
        ])
        .matches(&only_tier)
    );
    assert!(!sel(vec![req("app", Operator::In, &[""])]).matches(&labels(&[("tier", "x")])));
    assert!(sel(vec![req("n", Operator::GreaterThan, &["1"])]).matches(&labels(&[("n", "2")])));
    assert!(!sel(vec![req("n", Operator::GreaterThan, &["1"])]).matches(&labels(&[("n", "v2")])));
}

#[test]
fn adding_requirements_keeps_keys_sorted() {
    let first = Requirement::new("b", Operator::In, vec!["x".into()]).unwrap();
    let second = Requirement::new("a", Operator::Equals, vec!["y".into()]).unwrap();
    let selector = Selector::everything().with(first).with(second);
    assert_eq!(selector.to_string(), "a=y,b in (x)");
    let nothing =
        Selector::nothing().with(Requirement::new("a", Operator::Exists, vec![]).unwrap());
    assert!(nothing.is_nothing());
}

#[test]
fn exact_match_lookup() {
    assert_eq!(
        parse("app in (web)").requires_exact_match("app"),
        Some("web")
    );
    assert_eq!(parse("app in (web,api)").requires_exact_match("app"), None);
    assert_eq!(
        parse("app in (web,api),tier in (db)").requires_exact_match("tier"),
        Some("db")
    );
    assert_eq!(parse("app=web").requires_exact_match("app"), Some("web"));
    assert_eq!(parse("app==web").requires_exact_match("app"), Some("web"));
    assert_eq!(parse("app!=web").requires_exact_match("app"), None);
    assert_eq!(
        parse("app=web,tier=db").requires_exact_match("app"),
        Some("web")
    );
    assert_eq!(parse("app=web").requires_exact_match("tier"), None);
}

#[test]
fn selectors_from_label_maps() {
    let set = labels(&[("app", "web"), ("a", "b")]);
    assert_eq!(
        Selector::from_labels(&set).unwrap().to_string(),
        "a=b,app=web"
    );
    assert!(Selector::from_labels(&labels(&[])).unwrap().is_everything());
    let too_long = labels(&[("Key", &"v".repeat(64))]);
    let err = Selector::from_labels(&too_long).unwrap_err();
    assert_eq!(err.errors()[0].field, "values[0][Key]");
}

#[test]
fn json_label_maps_can_be_matched() {
    let object = json!({"metadata": {"labels": {"app": "web", "replicas": "3"}}});
    let selector = parse("app=web,replicas>2");
    assert!(selector.matches(&object["metadata"]["labels"]));
    assert!(selector.matches(object["metadata"]["labels"].as_object().unwrap()));
    // No labels at all: only negative requirements can match.
    assert!(!selector.matches(&object["metadata"]["missing"]));
    assert!(parse("!app").matches(&serde_json::Value::Null));
}

#[test]
fn label_selector_objects_convert_like_upstream() {
    assert!(
        Selector::from_label_selector(&serde_json::Value::Null)
            .unwrap()
            .is_nothing()
    );
    assert!(
        Selector::from_label_selector(&json!({}))
            .unwrap()
            .is_everything()
    );
    assert!(
        Selector::from_label_selector(&json!({"matchLabels": {}, "matchExpressions": []}))
            .unwrap()
            .is_everything()
    );
    let selector = Selector::from_label_selector(&json!({
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["gold", "bronze"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "env", "operator": "NotIn", "values": ["dev"]},
            {"key": "owner", "operator": "Exists"},
        ],
    }))
    .unwrap();
    assert_eq!(
        selector.to_string(),
        "app=web,!canary,env notin (dev),owner,tier in (bronze,gold)"
    );
    assert!(selector.matches(&labels(&[("app", "web"), ("tier", "gold"), ("owner", "x")])));
    assert!(!selector.matches(&labels(&[("app", "web"), ("tier", "gold")])));
}

#[test]
fn label_selector_errors_are_worded_like_upstream() {
    let err = |selector: serde_json::Value| {
        Selector::from_label_selector(&selector)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err(json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": []}]})),
        "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"
    );
    assert_eq!(
        err(json!({"matchExpressions": [{"key": "tier", "operator": "NotIn"}]})),
        "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"
    );
    assert_eq!(
        err(json!({"matchExpressions": [{"key": "tier", "operator": "Exists", "values": ["x"]}]})),
        "values: Invalid value: [\"x\"]: values set must be empty for exists and does not exist"
    );
    assert_eq!(
        err(json!({"matchExpressions": [{"key": "tier", "operator": "Gt", "values": ["1"]}]})),
        "\"Gt\" is not a valid label selector operator"
    );
    assert!(
        err(json!({"matchLabels": {"app": "has space"}}))
            .starts_with("values[0][app]: Invalid value: \"has space\": a valid label must be")
    );
    assert!(
        err(json!({"matchExpressions": [{"key": "bad key", "operator": "Exists"}]}))
            .starts_with("key: Invalid value: \"bad key\": name part must consist of")
    );
    assert_eq!(
        err(json!({"matchLabels": ["app"]})),
        "matchLabels: expected an object of strings"
    );
}
