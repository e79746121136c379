//! The evaluator against expr-lang's documented semantics (`docs/language-definition.md`,
//! `vm/runtime`, `expr_test.go`) and against the `when`/`oncePer` expressions of Argo
//! CD's notifications catalog (`notifications_catalog/triggers/*.yaml`), over
//! Applications in the states those triggers are written for.

use super::*;
use serde_json::{Value as Json, json};

fn now() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2022-09-26T11:30:25Z").unwrap()
}

fn eval_with(source: &str, app: &Json) -> Result<Json, String> {
    let program = Program::compile(source).map_err(|e| e.to_string())?;
    let env = Env::new(now()).json("app", app);
    program
        .run(&env)
        .map(|v| match v {
            Value::Duration(ns) => json!({"duration": ns}),
            Value::Time(t) => json!({"time": t.to_rfc3339()}),
            other => other.to_json(),
        })
        .map_err(|e| e.to_string())
}

fn eval(source: &str) -> Json {
    eval_with(source, &json!({})).unwrap_or_else(|e| panic!("{source}: {e}"))
}

fn error(source: &str) -> String {
    match eval_with(source, &json!({})) {
        Ok(v) => panic!("{source}: expected an error, got {v}"),
        Err(e) => e,
    }
}

#[test]
fn literals_and_arithmetic() {
    for (source, want) in [
        ("nil", json!(null)),
        ("true && !false", json!(true)),
        ("0x2A + 0o52 + 0b101010", json!(126)),
        ("1_000 * 2", json!(2000)),
        (".5 + 1", json!(1.5)),
        ("7 / 2", json!(3.5)),
        ("6 / 3", json!(2.0)),
        ("7 % 3", json!(1)),
        ("2 ** 10", json!(1024.0)),
        ("2 ^ 3 ^ 2", json!(512.0)),
        ("-2 ** 2", json!(-4.0)),
        ("'a' + \"b\" + `c`", json!("abc")),
        ("[1, 'two', [3]]", json!([1, "two", [3]])),
        ("{a: 1, 'b c': 2}", json!({"a": 1, "b c": 2})),
        ("1..4", json!([1, 2, 3, 4])),
        ("3..1", json!([])),
        ("[1, 2, 3][-1]", json!(3)),
        ("[1, 2, 3, 4][1:3]", json!([2, 3])),
        ("'hello'[1:]", json!("ello")),
        ("true ? 'y' : 'n'", json!("y")),
        ("false ?: 'default'", json!("default")),
        ("nil ?? 'fallback'", json!("fallback")),
        ("let x = 2; x * x", json!(4)),
        ("if 1 > 2 { 'a' } else { 'b' }", json!("b")),
        ("'Hello' | lower() | upper()", json!("HELLO")),
        ("1 < 2 < 3", json!(true)),
        ("3 > 2 > 2", json!(false)),
        ("/* a comment */ 1 // and another", json!(1)),
    ] {
        assert_eq!(eval(source), want, "{source}");
    }
}

/// `==` and nil as expr's `runtime.Equal` has them: numbers across int and float, nil
/// only equal to nil, arrays element by element.
#[test]
fn equality_and_nil() {
    let app = json!({"metadata": {"name": "web", "labels": {"tier": "1"}},
                     "spec": {"replicas": 3, "weights": [1, 2]}});
    for (source, want) in [
        ("nil == nil", true),
        ("nil != nil", false),
        ("app.metadata.missing == nil", true),
        ("app.metadata.name == nil", false),
        ("app.spec.replicas == 3.0", true),
        ("app.spec.replicas == '3'", false),
        ("app.spec.weights == [1, 2]", true),
        ("app.spec.weights == [1, 2.0]", true),
        ("app.spec.weights == [2, 1]", false),
        ("app.metadata.labels == {tier: '1'}", true),
        ("1 == true", false),
        ("'' == nil", false),
    ] {
        assert_eq!(eval_with(source, &app), Ok(json!(want)), "{source}");
    }
}

/// Member access: a map's missing key is nil, anything of nil an error; `?.` makes the
/// rest of the chain nil (language-definition.md "Optional chaining").
#[test]
fn member_access_and_optional_chaining() {
    let app = json!({"metadata": {"name": "web", "annotations": {"example.com/version": "v0.1"}},
                     "status": {"sync": {"status": "Synced"}}});
    assert_eq!(
        eval_with("app.status.operationState", &app),
        Ok(json!(null))
    );
    assert_eq!(
        eval_with("app.metadata.annotations['example.com/version']", &app),
        Ok(json!("v0.1"))
    );
    assert_eq!(
        eval_with("app.status?.operationState?.phase", &app),
        Ok(json!(null))
    );
    assert_eq!(
        eval_with("app.status.operationState?.syncResult.revision", &app),
        Ok(json!(null)),
        "one ?. makes the whole chain nil"
    );
    assert_eq!(
        eval_with("app.status.operationState.phase", &app).unwrap_err(),
        "cannot fetch phase from <nil> (1:27)\n | app.status.operationState.phase\n | ..........................^"
    );
    assert_eq!(
        eval_with("app.status?.operationState.phase in ['Succeeded']", &app).unwrap_err(),
        "cannot fetch phase from <nil> (1:28)\n | app.status?.operationState.phase in ['Succeeded']\n | ...........................^",
        "the ?. of the triggers.md example guards status, not operationState"
    );
    assert_eq!(
        eval_with("missing.anything ?? 'x'", &app).unwrap_err(),
        "cannot fetch anything from <nil> (1:9)\n | missing.anything ?? 'x'\n | ........^"
    );
    assert_eq!(eval_with("missing?.anything ?? 'x'", &app), Ok(json!("x")));
    assert!(error("[1, 2][5]").starts_with("index out of range: 5 (array length is 2)"));
    assert!(error("{a: 1}[0]").starts_with("reflect.Value.MapIndex: value of type int"));
    assert_eq!(eval("get([1, 2], 5)"), json!(null));
    assert_eq!(eval("$env.time != nil"), json!(true));
}

#[test]
fn membership() {
    for (source, want) in [
        ("'Succeeded' in ['Succeeded']", json!(true)),
        ("'Running' in ['Error', 'Failed']", json!(false)),
        ("1 in [1.0, 2]", json!(true)),
        ("nil in [nil]", json!(true)),
        ("'a' in nil", json!(false)),
        ("'a' in {a: 1}", json!(true)),
        ("'b' not in {a: 1}", json!(true)),
        ("'Parse' in time", json!(true)),
    ] {
        assert_eq!(eval(source), want, "{source}");
    }
    assert!(error("'a' in 'abc'").starts_with("operator \"in\" not defined on string"));
}

#[test]
fn strings_and_regular_expressions() {
    for (source, want) in [
        ("'argocd-server' contains 'cd'", json!(true)),
        ("'argocd-server' startsWith 'argo'", json!(true)),
        ("'argocd-server' endsWith 'server'", json!(true)),
        ("'argocd-server' not endsWith 'x'", json!(true)),
        ("'v1.2.3' matches '^v[0-9]+\\\\.'", json!(true)),
        ("nil contains 'a'", json!(false)),
        ("nil matches 'a'", json!(false)),
        ("trim('  a  ')", json!("a")),
        ("split('a,b,c', ',')", json!(["a", "b", "c"])),
        ("split('a,b,c', ',', 2)", json!(["a", "b,c"])),
        ("replace('a-b', '-', '+')", json!("a+b")),
        ("join(['a', 'b'], ', ')", json!("a, b")),
        ("indexOf('hello', 'l')", json!(2)),
        ("hasPrefix('hello', 'he')", json!(true)),
        ("len('héllo')", json!(6)),
        ("string(1.5)", json!("1.5")),
        ("int('42') + int(2.9)", json!(44)),
        ("strings.ReplaceAll('a.b.c', '.', '-')", json!("a-b-c")),
        ("strings.ToLower('ABC')", json!("abc")),
        (
            "repo.FullNameByRepoURL('https://github.com/argoproj/argo-cd.git')",
            json!("argoproj/argo-cd"),
        ),
    ] {
        assert_eq!(eval(source), want, "{source}");
    }
    assert!(error("'a' matches '('").starts_with("error parsing regexp"));
}

#[test]
fn predicates_and_built_ins() {
    let app = json!({"status": {"resources": [
        {"kind": "Deployment", "health": {"status": "Healthy"}},
        {"kind": "Service", "health": {"status": "Degraded"}},
        {"kind": "ConfigMap"}
    ]}});
    for (source, want) in [
        ("all([1, 2, 3], {# > 0})", json!(true)),
        (
            "any(app.status.resources, .health?.status == 'Degraded')",
            json!(true),
        ),
        ("none(app.status.resources, .kind == 'Secret')", json!(true)),
        ("one(app.status.resources, .kind == 'Service')", json!(true)),
        ("count(app.status.resources, .health != nil)", json!(2)),
        (
            "map(filter(app.status.resources, .health?.status == 'Healthy'), .kind)",
            json!(["Deployment"]),
        ),
        (
            "find(app.status.resources, .kind == 'Service').health.status",
            json!("Degraded"),
        ),
        (
            "findIndex(app.status.resources, .kind == 'ConfigMap')",
            json!(2),
        ),
        ("findLastIndex([1, 2, 1], # == 1)", json!(2)),
        ("map([10, 20], #index)", json!([0, 1])),
        ("sum([1, 2, 3])", json!(6)),
        ("reduce(1..4, #acc + #)", json!(10)),
        ("reduce(1..4, #acc + #, 10)", json!(20)),
        ("len(app.status.resources)", json!(3)),
        ("first(app.status.resources).kind", json!("Deployment")),
        ("last([1, 2])", json!(2)),
        ("keys({b: 1, a: 2})", json!(["a", "b"])),
        ("max(1, 3.5, 2)", json!(3.5)),
        ("abs(-3)", json!(3)),
        ("type(app.status.resources)", json!("array")),
        (
            "toJSON({b: 1, a: '<'})",
            json!("{\n  \"a\": \"\\u003c\",\n  \"b\": 1\n}"),
        ),
        ("concat([1], [2, 3])", json!([1, 2, 3])),
        ("take([1, 2, 3], 2)", json!([1, 2])),
    ] {
        assert_eq!(eval_with(source, &app), Ok(want), "{source}");
    }
}

/// Argo CD's `time` namespace (functions.md; util/notification/expression/time): Go's
/// `time.Time` and `time.Duration` with their methods.
#[test]
fn time_functions_and_durations() {
    for (source, want) in [
        // Argo CD's own time_test.go, over the same fixed now.
        (
            "time.Now().Truncate(time.Hour).Format(time.RFC3339)",
            json!("2022-09-26T11:00:00Z"),
        ),
        (
            "time.Parse('2022-09-26T11:20:25Z').Add(10 * time.Minute) == time.Now()",
            json!(true),
        ),
        (
            "time.Now().Sub(time.Parse('2022-09-26T11:25:25Z')).Minutes() >= 5",
            json!(true),
        ),
        (
            "time.Now().Sub(time.Parse('2022-09-26T11:25:26Z')).Minutes() >= 5",
            json!(false),
        ),
        (
            "(time.Now() - time.Parse('2022-09-26T10:30:25Z')).Hours()",
            json!(1.0),
        ),
        (
            "time.Parse('2022-09-26T11:30:25+02:00').Before(time.Now())",
            json!(true),
        ),
        ("time.Minute * 2 > time.Second * 119", json!(true)),
        ("duration('1h30m').Minutes()", json!(90.0)),
        ("(time.Hour + 2 * time.Minute).String()", json!("1h2m0s")),
        (
            "time.Now().Format('Mon Jan _2 15:04:05 2006')",
            json!("Mon Sep 26 11:30:25 2022"),
        ),
        ("time.Now().Unix()", json!(1664191825)),
        ("time.RFC3339", json!("2006-01-02T15:04:05Z07:00")),
        ("now() == time.Now()", json!(true)),
    ] {
        assert_eq!(eval(source), want, "{source}");
    }
    assert_eq!(
        eval("time.Parse('2022-01-01T00:00:00Z')"),
        json!({"time": "2022-01-01T00:00:00+00:00"})
    );
    assert!(
        error("time.Parse('yesterday')")
            .starts_with("parsing time \"yesterday\" as \"2006-01-02T15:04:05Z07:00\""),
        "{}",
        error("time.Parse('yesterday')")
    );
    assert!(error("time.Parse(nil)").starts_with("reflect: Call using <nil> as type string"));
    assert!(
        error("time.Now().Add(60)").starts_with("reflect: Call using int as type time.Duration")
    );
    assert!(error("time.Now().Nope()").starts_with("cannot fetch Nope from time.Time"));
    assert!(
        error("repo.GetCommitMetadata('abc')")
            .starts_with("repo.GetCommitMetadata asks Argo CD's repo server")
    );
    assert!(error("time.Missing()").starts_with("invalid operation: cannot call nil"));
}

/// Type errors are runtime errors with expr's words.
#[test]
fn type_errors() {
    for (source, want) in [
        ("1 + 'a'", "invalid operation: int + string (1:3)"),
        ("'a' < 1", "invalid operation: string < int (1:5)"),
        (
            "not 1",
            "interface conversion: interface {} is int, not bool (1:1)",
        ),
        (
            "1 and true",
            "interface conversion: interface {} is int, not bool (1:3)",
        ),
        (
            "nil or true",
            "interface conversion: interface {} is <nil>, not bool (1:5)",
        ),
        (
            "1 contains 'a'",
            "interface conversion: interface {} is int, not string (1:3)",
        ),
        ("len(1)", "invalid argument for len (type int) (1:1)"),
        ("1 % 0", "runtime error: integer divide by zero (1:3)"),
        (
            "let f = 1; f()",
            "invalid operation: cannot call non-function of type int (1:12)",
        ),
    ] {
        let e = error(source);
        assert!(e.starts_with(want), "{source}: {e}");
    }
    // `and`/`or` answer with their right side as it is.
    assert_eq!(eval("true and 'x'"), json!("x"));
    assert_eq!(eval("false and 'x'"), json!(false));
}

/// Unbounded constructs end with an error instead of running on.
#[test]
fn hostile_expressions_are_bounded() {
    let e = error("all(1..100000, {all(1..100000, {true})})");
    assert!(
        e.starts_with("the expression took more than 1000000 steps"),
        "{e}"
    );
    let e = error("len(1..1000000000)");
    assert!(
        e.starts_with("the range 1..1000000000 has more than 100000 elements"),
        "{e}"
    );
    assert!(error("repeat('x', 100000000)").starts_with("a string longer than"));
    assert!(error("replace('aaaa', '', repeat('x', 600000))").starts_with("a string longer than"));
    let e = Program::compile(&"x".repeat(70_000))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("the expression is longer than"), "{e}");
    let e = Program::compile(&format!("{}1", "-".repeat(300)))
        .unwrap_err()
        .to_string();
    assert!(e.contains("nests deeper than"), "{e}");
    assert!(
        Program::compile("sort([3, 1])")
            .unwrap_err()
            .to_string()
            .starts_with("the built-in function sort is not supported by Flotilla")
    );
}

/// The `when` and `oncePer` of every trigger in Argo CD's notifications catalog
/// (notifications_catalog/triggers/*.yaml): test vectors, as users copy them into
/// `argocd-notifications-cm`.
mod catalog {
    use super::*;

    const ON_CREATED: &str = "true";
    const ON_DELETED: &str = "app.metadata.deletionTimestamp != nil";
    const ON_DEPLOYED: &str = "app.status.operationState != nil and app.status.operationState.phase in ['Succeeded'] and app.status.health.status == 'Healthy' and (!time.Parse(app.status.health.lastTransitionTime).Add(1 * time.Minute).Before(time.Parse(app.status.operationState.finishedAt)) or time.Parse(app.status.health.lastTransitionTime).Before(time.Parse(app.status.operationState.startedAt)))";
    const ON_HEALTH_DEGRADED: &str = "app.status.health.status == 'Degraded'";
    const ON_SYNC_FAILED: &str = "app.status.operationState != nil and app.status.operationState.phase in ['Error', 'Failed']";
    const ON_SYNC_RUNNING: &str =
        "app.status.operationState != nil and app.status.operationState.phase in ['Running']";
    const ON_SYNC_STATUS_UNKNOWN: &str = "app.status.sync.status == 'Unknown'";
    const ON_SYNC_SUCCEEDED: &str =
        "app.status.operationState != nil and app.status.operationState.phase in ['Succeeded']";
    const ONCE_PER_NAME: &str = "app.metadata.name";
    const ONCE_PER_REVISION: &str = "app.status.operationState?.syncResult?.revision";

    fn app(status: Json) -> Json {
        json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "guestbook", "namespace": "argocd"},
            "spec": {"project": "default", "source": {"repoURL": "https://github.com/argoproj/argocd-example-apps", "path": "guestbook"}},
            "status": status,
        })
    }

    fn when(source: &str, app: &Json) -> bool {
        match eval_with(source, app) {
            Ok(Json::Bool(b)) => b,
            other => panic!("{source}: {other:?}"),
        }
    }

    fn operation(phase: &str, started: &str, finished: Option<&str>) -> Json {
        let mut state = json!({"phase": phase, "startedAt": started,
                               "operation": {"sync": {"revision": "abc123"}},
                               "syncResult": {"revision": "abc123"}});
        if let Some(finished) = finished {
            state["finishedAt"] = json!(finished);
        }
        state
    }

    #[test]
    fn a_new_application_is_created_once_per_name() {
        let fresh = app(json!({}));
        assert!(when(ON_CREATED, &fresh));
        assert_eq!(eval_with(ONCE_PER_NAME, &fresh), Ok(json!("guestbook")));
        assert!(!when(ON_DELETED, &fresh));
        let mut deleting = fresh.clone();
        deleting["metadata"]["deletionTimestamp"] = json!("2022-09-26T11:00:00Z");
        assert!(when(ON_DELETED, &deleting));
    }

    #[test]
    fn sync_phases_each_fire_their_trigger() {
        let running = app(
            json!({"operationState": operation("Running", "2022-09-26T11:00:00Z", None),
                                 "sync": {"status": "OutOfSync"}, "health": {"status": "Progressing"}}),
        );
        let succeeded = app(
            json!({"operationState": operation("Succeeded", "2022-09-26T11:00:00Z", Some("2022-09-26T11:00:30Z")),
                                   "sync": {"status": "Synced", "revision": "abc123"}, "health": {"status": "Healthy"}}),
        );
        let failed = app(
            json!({"operationState": operation("Failed", "2022-09-26T11:00:00Z", Some("2022-09-26T11:00:30Z")),
                                "sync": {"status": "OutOfSync"}}),
        );
        let errored = app(
            json!({"operationState": operation("Error", "2022-09-26T11:00:00Z", Some("2022-09-26T11:00:01Z"))}),
        );
        let never = app(json!({"sync": {"status": "Synced"}}));
        for (state, running_fires, succeeded_fires, failed_fires) in [
            (&running, true, false, false),
            (&succeeded, false, true, false),
            (&failed, false, false, true),
            (&errored, false, false, true),
            (&never, false, false, false),
        ] {
            assert_eq!(when(ON_SYNC_RUNNING, state), running_fires, "{state}");
            assert_eq!(when(ON_SYNC_SUCCEEDED, state), succeeded_fires, "{state}");
            assert_eq!(when(ON_SYNC_FAILED, state), failed_fires, "{state}");
        }
        assert_eq!(
            eval_with(ONCE_PER_REVISION, &succeeded),
            Ok(json!("abc123"))
        );
        assert_eq!(
            eval_with(ONCE_PER_REVISION, &never),
            Ok(json!(null)),
            "no operation: the oncePer key is nil, not an error"
        );
        let mut no_result = running.clone();
        no_result["status"]["operationState"]
            .as_object_mut()
            .unwrap()
            .remove("syncResult");
        assert_eq!(eval_with(ONCE_PER_REVISION, &no_result), Ok(json!(null)));
    }

    #[test]
    fn health_and_sync_status() {
        let degraded = app(json!({"health": {"status": "Degraded"}, "sync": {"status": "Synced"}}));
        let unknown = app(json!({"health": {"status": "Healthy"}, "sync": {"status": "Unknown"}}));
        let bare = app(json!({}));
        assert!(when(ON_HEALTH_DEGRADED, &degraded));
        assert!(!when(ON_HEALTH_DEGRADED, &unknown));
        // No health yet: the expression fails (and the trigger does not fire), as
        // upstream's does.
        assert!(
            eval_with(ON_HEALTH_DEGRADED, &bare)
                .unwrap_err()
                .starts_with("cannot fetch status from <nil>")
        );
        assert!(when(ON_SYNC_STATUS_UNKNOWN, &unknown));
        assert!(!when(ON_SYNC_STATUS_UNKNOWN, &degraded));
    }

    /// on-deployed: synced and healthy, the health having turned Healthy within a
    /// minute of the sync's end (or before it started: nothing to wait for).
    #[test]
    fn deployed_means_healthy_after_this_sync() {
        let deployed = |health_since: &str| {
            app(json!({
                "operationState": operation("Succeeded", "2022-09-26T11:00:00Z", Some("2022-09-26T11:00:30Z")),
                "health": {"status": "Healthy", "lastTransitionTime": health_since},
                "sync": {"status": "Synced"},
            }))
        };
        assert!(
            when(ON_DEPLOYED, &deployed("2022-09-26T11:00:45Z")),
            "healthy 15 s after the sync ended"
        );
        assert!(
            when(ON_DEPLOYED, &deployed("2022-09-26T10:00:00Z")),
            "healthy since before the sync"
        );
        assert!(
            when(ON_DEPLOYED, &deployed("2022-09-26T10:59:59Z")),
            "healthy just before it started"
        );
        assert!(
            when(ON_DEPLOYED, &deployed("2022-09-26T11:00:10Z")),
            "healthy during the sync, less than a minute before its end"
        );
        let mut long_sync = deployed("2022-09-26T11:01:00Z");
        long_sync["status"]["operationState"]["finishedAt"] = json!("2022-09-26T11:05:00Z");
        assert!(
            !when(ON_DEPLOYED, &long_sync),
            "healthy mid-sync, minutes before it ended: not this sync's deployment"
        );
        let mut progressing = deployed("2022-09-26T11:00:45Z");
        progressing["status"]["health"]["status"] = json!("Progressing");
        assert!(!when(ON_DEPLOYED, &progressing));
        let mut failed = deployed("2022-09-26T11:00:45Z");
        failed["status"]["operationState"]["phase"] = json!("Failed");
        assert!(!when(ON_DEPLOYED, &failed));
        // Without health.lastTransitionTime (Argo CD before 2.x wrote none) the
        // expression fails, as it does upstream: time.Parse of nil.
        let mut no_time = deployed("x");
        no_time["status"]["health"]
            .as_object_mut()
            .unwrap()
            .remove("lastTransitionTime");
        assert!(
            eval_with(ON_DEPLOYED, &no_time)
                .unwrap_err()
                .starts_with("reflect: Call using <nil> as type string")
        );
    }

    #[test]
    fn every_catalog_expression_compiles() {
        for source in [
            ON_CREATED,
            ON_DELETED,
            ON_DEPLOYED,
            ON_HEALTH_DEGRADED,
            ON_SYNC_FAILED,
            ON_SYNC_RUNNING,
            ON_SYNC_STATUS_UNKNOWN,
            ON_SYNC_SUCCEEDED,
            ONCE_PER_NAME,
            ONCE_PER_REVISION,
        ] {
            Program::compile(source).unwrap_or_else(|e| panic!("{source}: {e}"));
        }
    }
}
