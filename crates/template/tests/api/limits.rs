use flotilla_template::{Error, Functions, Limit, Limits, Options, Template, Value};

fn run(text: &str, limits: Limits) -> Result<String, Error> {
    Template::new("hostile")
        .functions(Functions::helm())
        .options(Options {
            limits,
            ..Options::default()
        })
        .parse(text)?
        .execute(&Value::Nil)
}

#[test]
fn recursive_template_stops_at_the_depth_limit() {
    let err = run(
        r#"{{define "r"}}{{template "r" .}}{{end}}{{template "r" .}}"#,
        Limits::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Limit {
                limit: Limit::Depth(100),
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("exceeded maximum template depth (100)"),
        "{err}"
    );
}

#[test]
fn recursive_include_and_tpl_stop_at_the_depth_limit() {
    let err = run(
        r#"{{define "r"}}{{include "r" .}}{{end}}{{include "r" .}}"#,
        Limits::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Limit {
                limit: Limit::Depth(100),
                ..
            }
        ),
        "{err}"
    );
    let err = run(
        r#"{{define "t"}}{{tpl "{{include \"t\" .}}" .}}{{end}}{{include "t" .}}"#,
        Limits::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Limit {
                limit: Limit::Depth(100),
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn output_stops_at_the_size_limit() {
    let limits = Limits {
        max_output: 1000,
        ..Limits::default()
    };
    let err = run("{{range 1000}}0123456789{{end}}", limits).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Limit {
                limit: Limit::Output(1000),
                ..
            }
        ),
        "{err}"
    );
    // Doubling through include cannot escape the limit either.
    let err = run(
        r#"{{define "x"}}{{.}}{{.}}{{end}}{{$s := "0123456789"}}{{range 20}}{{$s = include "x" $s}}{{end}}"#,
        limits,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Limit {
                limit: Limit::Output(1000),
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn execution_stops_at_the_step_budget() {
    let limits = Limits {
        max_steps: 10_000,
        ..Limits::default()
    };
    let err = run("{{range 1000000000}}{{end}}", limits).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Limit {
                limit: Limit::Steps(10_000),
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("execution exceeds the budget of 10000 steps"),
        "{err}"
    );
}
