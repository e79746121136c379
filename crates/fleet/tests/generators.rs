//! Generator cases re-authored from Argo CD's `applicationset/generators/*_test.go`; the
//! expected parameter sets are the ones those tests assert.

mod support;

use flotilla_fleet::appset::{MemoryRepos, generate_params};
use serde_json::{Value, json};
use support::*;

fn argo_test_clusters() -> Vec<flotilla_fleet::cluster::ClusterSecret> {
    vec![
        cluster_secret(
            "staging-01",
            "https://staging-01.example.com",
            &[("environment", "staging"), ("org", "foo")],
            &[("foo.argoproj.io", "staging")],
            None,
        ),
        cluster_secret(
            "production_01/west",
            "https://production-01.example.com",
            &[("environment", "production"), ("org", "bar")],
            &[("foo.argoproj.io", "production")],
            Some("prod-project"),
        ),
    ]
}

// cluster_test.go, TestGenerateParams "no label selector": legacy values can reference the
// cluster's flat parameters but not other values; the in-cluster entry is added.
#[test]
fn clusters_legacy_values_and_in_cluster() {
    let clusters = argo_test_clusters();
    let repos = MemoryRepos::new();
    let generator = json!({"clusters": {"selector": {}, "values": {
        "lol1": "lol", "lol2": "{{values.lol1}}{{values.lol1}}", "foo": "bar",
        "bar": "{{ metadata.annotations.foo.argoproj.io }}", "bat": "{{ metadata.labels.environment }}",
        "aaa": "{{ server }}", "no-op": "{{ this-does-not-exist }}"}}});
    let got = generate_params(&generator, &shell(false), ctx(&repos, &clusters)).unwrap();
    let expected = json!([
        {"values.lol1": "lol", "values.lol2": "{{values.lol1}}{{values.lol1}}", "values.foo": "bar",
         "values.bar": "{{ metadata.annotations.foo.argoproj.io }}", "values.no-op": "{{ this-does-not-exist }}",
         "values.bat": "{{ metadata.labels.environment }}", "values.aaa": "https://kubernetes.default.svc",
         "nameNormalized": "in-cluster", "name": "in-cluster", "server": "https://kubernetes.default.svc", "project": ""},
        {"values.lol1": "lol", "values.lol2": "{{values.lol1}}{{values.lol1}}", "values.foo": "bar",
         "values.bar": "production", "values.no-op": "{{ this-does-not-exist }}", "values.bat": "production",
         "values.aaa": "https://production-01.example.com", "name": "production_01/west",
         "nameNormalized": "production-01-west", "server": "https://production-01.example.com",
         "metadata.labels.environment": "production", "metadata.labels.org": "bar",
         "metadata.labels.argocd.argoproj.io/secret-type": "cluster",
         "metadata.annotations.foo.argoproj.io": "production", "project": "prod-project"},
        {"values.lol1": "lol", "values.lol2": "{{values.lol1}}{{values.lol1}}", "values.foo": "bar",
         "values.bar": "staging", "values.no-op": "{{ this-does-not-exist }}", "values.bat": "staging",
         "values.aaa": "https://staging-01.example.com", "name": "staging-01", "nameNormalized": "staging-01",
         "server": "https://staging-01.example.com", "metadata.labels.environment": "staging",
         "metadata.labels.org": "foo", "metadata.labels.argocd.argoproj.io/secret-type": "cluster",
         "metadata.annotations.foo.argoproj.io": "staging", "project": ""}
    ]);
    assert_eq!(as_set(&got), expected_set(expected));
}

// cluster_test.go "production or staging": matchExpressions; a selector drops in-cluster.
#[test]
fn clusters_match_expressions_exclude_local() {
    let clusters = argo_test_clusters();
    let repos = MemoryRepos::new();
    let generator = json!({"clusters": {"selector": {"matchExpressions": [
        {"key": "environment", "operator": "In", "values": ["production"]}]}}});
    let got = generate_params(&generator, &shell(false), ctx(&repos, &clusters)).unwrap();
    let names: Vec<&str> = got.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["production_01/west"]);
    // A Secret for the local cluster replaces the implicit in-cluster entry.
    let mut with_local = clusters.clone();
    with_local.push(cluster_secret(
        "local",
        "https://kubernetes.default.svc",
        &[],
        &[],
        None,
    ));
    let got = generate_params(
        &json!({"clusters": {}}),
        &shell(false),
        ctx(&repos, &with_local),
    )
    .unwrap();
    let mut names: Vec<&str> = got.iter().map(|p| p["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["local", "production_01/west", "staging-01"]);
}

// cluster_test.go TestGenerateParamsGoTemplate: labels and annotations nest under metadata;
// values are rendered with Go templates against them.
#[test]
fn clusters_go_template_nests_metadata() {
    let clusters = argo_test_clusters();
    let repos = MemoryRepos::new();
    let generator = json!({"clusters": {"selector": {"matchLabels": {"environment": "staging"}},
        "values": {"env": "{{ .metadata.labels.environment }}", "srv": "{{ .server }}"}}});
    let got = generate_params(&generator, &shell(true), ctx(&repos, &clusters)).unwrap();
    assert_eq!(
        Value::Object(got[0].clone()),
        json!({"name": "staging-01", "nameNormalized": "staging-01", "server": "https://staging-01.example.com",
               "project": "",
               "metadata": {"annotations": {"foo.argoproj.io": "staging"},
                            "labels": {"argocd.argoproj.io/secret-type": "cluster", "environment": "staging", "org": "foo"}},
               "values": {"env": "staging", "srv": "https://staging-01.example.com"}})
    );
    // flatList gathers every cluster under one parameter set.
    let flat = generate_params(
        &json!({"clusters": {"flatList": true, "selector": {"matchLabels": {"org": "bar"}}}}),
        &shell(true),
        ctx(&repos, &clusters),
    )
    .unwrap();
    assert_eq!(flat.len(), 1);
    assert_eq!(flat[0]["clusters"][0]["name"], "production_01/west");
}

fn cluster_config_repo() -> MemoryRepos {
    let mut repos = MemoryRepos::new();
    repos.insert("RepoURL", "Revision", "cluster-config/production/config.json", r#"{
   "cluster": {"owner": "john.doe@example.com", "name": "production", "address": "https://kubernetes.default.svc"},
   "key1": "val1",
   "key2": {"key2_1": "val2_1", "key2_2": {"key2_2_1": "val2_2_1"}},
   "key3": 123
}"#);
    repos.insert("RepoURL", "Revision", "cluster-config/staging/config.json", r#"{
   "cluster": {"owner": "foo.bar@example.com", "name": "staging", "address": "https://kubernetes.default.svc"}
}"#);
    repos
}

// git_test.go TestGitGenerateParamsFromFiles "Value variable interpolation".
#[test]
fn git_files_legacy_flattens_content() {
    let repos = cluster_config_repo();
    let generator = json!({"git": {"repoURL": "RepoURL", "revision": "Revision",
        "files": [{"path": "**/config.json"}],
        "values": {"aaa": "{{ cluster.owner }}", "no-op": "{{ this-does-not-exist }}"}}});
    let got = generate_params(&generator, &shell(false), ctx(&repos, &[])).unwrap();
    assert_eq!(
        Value::Object(got[0].clone()),
        json!({"cluster.owner": "john.doe@example.com", "cluster.name": "production",
               "cluster.address": "https://kubernetes.default.svc", "key1": "val1", "key2.key2_1": "val2_1",
               "key2.key2_2.key2_2_1": "val2_2_1", "key3": "123", "path": "cluster-config/production",
               "path.basename": "production", "path[0]": "cluster-config", "path[1]": "production",
               "path.basenameNormalized": "production", "path.filename": "config.json",
               "path.filenameNormalized": "config.json", "values.aaa": "john.doe@example.com",
               "values.no-op": "{{ this-does-not-exist }}"})
    );
    assert_eq!(got[1]["path.basename"], "staging");
}

// git_test.go TestGitGenerateParamsFromFilesGoTemplate: content nested, path as an object.
#[test]
fn git_files_go_template_keeps_structure() {
    let repos = cluster_config_repo();
    let generator = json!({"git": {"repoURL": "RepoURL", "revision": "Revision", "files": [{"path": "**/config.json"}]}});
    let got = generate_params(&generator, &shell(true), ctx(&repos, &[])).unwrap();
    assert_eq!(
        Value::Object(got[0].clone()),
        json!({"cluster": {"owner": "john.doe@example.com", "name": "production", "address": "https://kubernetes.default.svc"},
               "key1": "val1", "key2": {"key2_1": "val2_1", "key2_2": {"key2_2_1": "val2_2_1"}}, "key3": 123,
               "path": {"path": "cluster-config/production", "basename": "production", "filename": "config.json",
                        "basenameNormalized": "production", "filenameNormalized": "config.json",
                        "segments": ["cluster-config", "production"]}})
    );
    // pathParamPrefix moves the path object under the prefix.
    let generator = json!({"git": {"repoURL": "RepoURL", "revision": "Revision", "pathParamPrefix": "myRepo",
        "files": [{"path": "cluster-config/staging/config.json"}]}});
    let got = generate_params(&generator, &shell(true), ctx(&repos, &[])).unwrap();
    assert_eq!(got[0]["myRepo"]["path"]["basename"], "staging");
}

#[test]
fn git_files_errors_worded_like_argo() {
    let mut repos = MemoryRepos::new();
    repos.insert(
        "RepoURL",
        "Revision",
        "cluster-config/production/config.json",
        "invalid json file",
    );
    let generator = json!({"git": {"repoURL": "RepoURL", "revision": "Revision", "files": [{"path": "**/config.json"}]}});
    let err = generate_params(&generator, &shell(false), ctx(&repos, &[])).unwrap_err();
    assert_eq!(
        err,
        "error generating params from git: unable to process file 'cluster-config/production/config.json' from repository 'RepoURL': unable to parse file: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal string into Go value of type []map[string]interface {}"
    );
    let err = generate_params(
        &json!({"git": {"repoURL": "Other", "revision": "Revision", "files": [{"path": "x"}]}}),
        &shell(false),
        ctx(&repos, &[]),
    )
    .unwrap_err();
    assert!(
        err.starts_with("error generating params from git: "),
        "{err}"
    );
    let err = generate_params(
        &json!({"git": {"repoURL": "RepoURL", "revision": "Revision"}}),
        &shell(false),
        ctx(&repos, &[]),
    )
    .unwrap_err();
    assert_eq!(err, "ApplicationSet is empty");
}

// A YAML list yields one parameter set per element; exclude patterns remove files; the
// default (git ls-files) `*` crosses directories while the new globbing's does not.
#[test]
fn git_files_lists_excludes_and_glob_modes() {
    let mut repos = MemoryRepos::new();
    repos.insert(
        "r",
        "main",
        "apps/a/config.yaml",
        "- name: one\n- name: two\n",
    );
    repos.insert("r", "main", "apps/team/b/config.yaml", "name: three\n");
    repos.insert("r", "main", "apps/skip/config.yaml", "name: skipped\n");
    let generator = json!({"git": {"repoURL": "r", "revision": "main",
        "files": [{"path": "apps/*/config.yaml"}, {"path": "apps/skip/*", "exclude": true}]}});
    let got = generate_params(&generator, &shell(false), ctx(&repos, &[])).unwrap();
    let names: Vec<&str> = got.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["one", "two", "three"]);
    let mut new_globbing = ctx(&repos, &[]);
    new_globbing.new_git_file_globbing = true;
    let got = generate_params(&generator, &shell(false), new_globbing).unwrap();
    let names: Vec<&str> = got.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["one", "two"]);
    let generator = json!({"git": {"repoURL": "r", "revision": "main", "files": [{"path": "apps/**/config.yaml"}]}});
    assert_eq!(
        generate_params(&generator, &shell(false), new_globbing)
            .unwrap()
            .len(),
        4
    );
}

// git_test.go TestGitGenerateParamsFromDirectories: `*` does not cross `/`; hidden
// directories are never listed; exclude wins.
#[test]
fn git_directories_with_exclude() {
    let mut repos = MemoryRepos::new();
    for f in [
        "app1/f",
        "app2/f",
        "app_3/f",
        "p1/app4/f",
        ".hidden/f",
        "p1/p2/app3/f",
    ] {
        repos.insert("r", "main", f, "x");
    }
    let generator =
        json!({"git": {"repoURL": "r", "revision": "main", "directories": [{"path": "*"}]}});
    let got = generate_params(&generator, &shell(false), ctx(&repos, &[])).unwrap();
    assert_eq!(
        as_set(&got),
        expected_set(json!([
            {"path": "app1", "path.basename": "app1", "path[0]": "app1", "path.basenameNormalized": "app1"},
            {"path": "app2", "path.basename": "app2", "path[0]": "app2", "path.basenameNormalized": "app2"},
            {"path": "app_3", "path.basename": "app_3", "path[0]": "app_3", "path.basenameNormalized": "app-3"},
            {"path": "p1", "path.basename": "p1", "path[0]": "p1", "path.basenameNormalized": "p1"}
        ]))
    );
    let generator = json!({"git": {"repoURL": "r", "revision": "main",
        "directories": [{"path": "p1/*"}, {"path": "p1/p2", "exclude": true}]}});
    let got = generate_params(&generator, &shell(true), ctx(&repos, &[])).unwrap();
    assert_eq!(
        Value::Object(got[0].clone()),
        json!({"path": {"path": "p1/app4", "basename": "app4", "basenameNormalized": "app4", "segments": ["p1", "app4"]}})
    );
    assert_eq!(got.len(), 1);
}

// list_test.go: legacy elements must be strings, `values` flattens; goTemplate keeps types.
#[test]
fn list_generator_modes() {
    let repos = MemoryRepos::new();
    let generator =
        json!({"list": {"elements": [{"cluster": "c", "url": "u", "values": {"foo": "bar"}}]}});
    let got = generate_params(&generator, &shell(false), ctx(&repos, &[])).unwrap();
    assert_eq!(
        Value::Object(got[0].clone()),
        json!({"cluster": "c", "url": "u", "values.foo": "bar"})
    );
    let got = generate_params(
        &json!({"list": {"elements": [{"n": 1, "nested": {"a": true}}]}}),
        &shell(true),
        ctx(&repos, &[]),
    )
    .unwrap();
    assert_eq!(
        Value::Object(got[0].clone()),
        json!({"n": 1, "nested": {"a": true}})
    );
    let err = generate_params(
        &json!({"list": {"elements": [{"n": 1}]}}),
        &shell(false),
        ctx(&repos, &[]),
    )
    .unwrap_err();
    assert_eq!(err, "error parsing value as string %!w(<nil>)");
    let got = generate_params(
        &json!({"list": {"elementsYaml": "- cluster: a\n- cluster: b\n"}}),
        &shell(true),
        ctx(&repos, &[]),
    )
    .unwrap();
    assert_eq!(got.len(), 2);
}

fn nested_list(elements: Value) -> Value {
    json!({"list": {"elements": elements}})
}

// merge_test.go TestMergeGenerate.
#[test]
fn merge_cases_from_argo() {
    let repos = MemoryRepos::new();
    let run = |generators: Value, keys: Value| {
        generate_params(
            &json!({"merge": {"generators": generators, "mergeKeys": keys}}),
            &shell(false),
            ctx(&repos, &[]),
        )
    };
    let got = run(
        json!([
            nested_list(json!([{"a": "1_1", "b": "same", "c": "1_3"}])),
            nested_list(json!([{"a": "2_1", "b": "same"}])),
            nested_list(json!([{"a": "3_1", "b": "different", "c": "3_3"}]))
        ]),
        json!(["b"]),
    )
    .unwrap();
    assert_eq!(
        as_set(&got),
        expected_set(json!([{"a": "2_1", "b": "same", "c": "1_3"}]))
    );
    let got = run(
        json!([
            nested_list(json!([{"a": "a"}])),
            nested_list(json!([{"a": "a"}]))
        ]),
        json!(["b"]),
    )
    .unwrap();
    assert_eq!(as_set(&got), expected_set(json!([{"a": "a"}])));
    let got = run(
        json!([{"matrix": {"generators": [nested_list(json!([{"a": "1"}, {"a": "2"}])), nested_list(json!([{"b": "1"}, {"b": "2"}]))]}},
               nested_list(json!([{"a": "1", "b": "1", "c": "added"}]))]),
        json!(["a", "b"]),
    ).unwrap();
    assert_eq!(
        as_set(&got),
        expected_set(
            json!([{"a": "1", "b": "1", "c": "added"}, {"a": "1", "b": "2"}, {"a": "2", "b": "1"}, {"a": "2", "b": "2"}])
        )
    );
    let got = run(
        json!([{"merge": {"mergeKeys": ["a"], "generators": [
                    nested_list(json!([{"a": "1", "b": "1"}, {"a": "2", "b": "2"}])),
                    nested_list(json!([{"a": "1", "b": "3", "c": "added"}, {"a": "3", "b": "2"}]))]}},
               nested_list(json!([{"a": "1", "b": "3", "d": "added"}]))]),
        json!(["a", "b"]),
    ).unwrap();
    assert_eq!(
        as_set(&got),
        expected_set(
            json!([{"a": "1", "b": "3", "c": "added", "d": "added"}, {"a": "2", "b": "2"}])
        )
    );
    assert_eq!(
        run(json!([nested_list(json!([{"a": "1"}]))]), json!(["a"])).unwrap_err(),
        "found less than two generators, Merge requires two or more"
    );
    assert_eq!(
        run(
            json!([
                nested_list(json!([{"a": "1"}, {"a": "1"}])),
                nested_list(json!([{"a": "1"}]))
            ]),
            json!(["a"])
        )
        .unwrap_err(),
        "error getting param sets by merge key: the parameters from a generator were not unique by the given mergeKeys, Merge requires all param sets to be unique. Duplicate key was {\"a\":\"1\"}"
    );
    assert_eq!(
        run(
            json!([
                nested_list(json!([{"a": "1"}])),
                nested_list(json!([{"a": "1"}]))
            ]),
            json!([])
        )
        .unwrap_err(),
        "error getting param sets by merge key: no merge keys were specified, Merge requires at least one"
    );
}

// matrix_test.go TestInterpolatedMatrixGenerate: the second child's selector uses the first
// child's `path.basename`.
#[test]
fn matrix_interpolates_second_child() {
    let mut repos = MemoryRepos::new();
    for env in ["dev", "prod"] {
        repos.insert(
            "RepoURL",
            "Revision",
            &format!("examples/git-generator-files-discovery/cluster-config/{env}/config.json"),
            "{}",
        );
    }
    let clusters = vec![
        cluster_secret(
            "dev-01",
            "https://dev-01.example.com",
            &[("environment", "dev")],
            &[],
            None,
        ),
        cluster_secret(
            "prod-01",
            "https://prod-01.example.com",
            &[("environment", "prod")],
            &[],
            None,
        ),
    ];
    let generator = json!({"matrix": {"generators": [
        {"git": {"repoURL": "RepoURL", "revision": "Revision", "files": [
            {"path": "examples/git-generator-files-discovery/cluster-config/dev/config.json"},
            {"path": "examples/git-generator-files-discovery/cluster-config/prod/config.json"}]}},
        {"clusters": {"selector": {"matchLabels": {"environment": "{{path.basename}}"}}}}
    ]}});
    let got = generate_params(&generator, &shell(false), ctx(&repos, &clusters)).unwrap();
    let pairs: Vec<(String, String)> = got
        .iter()
        .map(|p| {
            (
                p["path.basename"].as_str().unwrap().to_string(),
                p["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("dev".to_string(), "dev-01".to_string()),
            ("prod".to_string(), "prod-01".to_string())
        ]
    );
    assert_eq!(got[0]["metadata.labels.environment"], "dev");
}

// matrix_test.go TestInterpolatedMatrixGenerateGoTemplate_ClusterValuesFromFirstGenerator:
// a cluster value referencing the first child resolves; one referencing the cluster's own
// parameters is left for the cluster generator.
#[test]
fn matrix_go_template_values_from_both_children() {
    let repos = MemoryRepos::new();
    let clusters = vec![cluster_secret(
        "c1",
        "https://c1",
        &[("env", "dev")],
        &[],
        None,
    )];
    let generator = json!({"matrix": {"generators": [
        {"list": {"elements": [{"app": "web"}]}},
        {"clusters": {"selector": {"matchLabels": {"env": "dev"}},
                      "values": {"fromFirst": "{{ .app }}", "fromOwn": "{{ .name }}"}}}
    ]}});
    let got = generate_params(&generator, &shell(true), ctx(&repos, &clusters)).unwrap();
    assert_eq!(
        got[0]["values"],
        json!({"fromFirst": "web", "fromOwn": "c1"})
    );
    assert_eq!(got[0]["app"], "web");
}

#[test]
fn matrix_errors_worded_like_argo() {
    let repos = MemoryRepos::new();
    let l = nested_list(json!([{"a": "1"}]));
    let run = |generators: Value| {
        generate_params(
            &json!({"matrix": {"generators": generators}}),
            &shell(false),
            ctx(&repos, &[]),
        )
    };
    assert_eq!(
        run(json!([l.clone(), l.clone(), l.clone()])).unwrap_err(),
        "found more than two generators, Matrix support only two"
    );
    assert_eq!(
        run(json!([l.clone()])).unwrap_err(),
        "found less than two generators, Matrix support only two"
    );
    // Legacy matrices refuse keys that differ between the children.
    assert_eq!(
        run(json!([
            nested_list(json!([{"a": "1"}])),
            nested_list(json!([{"a": "2"}]))
        ]))
        .unwrap_err(),
        "failed to combine string maps with merging params for the matrix generator: found duplicate key a with different value, a: 1 ,b: 2"
    );
    // A third level of matrix is not a generator: its parent child yields nothing.
    let deep = json!({"matrix": {"generators": [{"matrix": {"generators": [l.clone(), l.clone()]}}, l.clone()]}});
    assert_eq!(
        run(json!([deep, l.clone()])).unwrap_err(),
        "error failed to get params for first generator in matrix generator: child generator returned an error on parameter generation: error failed to get params for first generator in matrix generator: child generator generated no parameters"
    );
    // Two generators in one child.
    assert_eq!(
        run(json!([{"list": {"elements": [{"a": "1"}]}, "clusters": {}}, l])).unwrap_err(),
        "error failed to get params for first generator in matrix generator: found more than one generator in matrix.Generators"
    );
}

// A nested matrix one level down works; goTemplate matrices merge nested maps, the first
// child winning.
#[test]
fn nested_matrix_and_go_template_merge() {
    let repos = MemoryRepos::new();
    let generator = json!({"matrix": {"generators": [
        {"matrix": {"generators": [nested_list(json!([{"x": "1"}])), nested_list(json!([{"y": "1"}, {"y": "2"}]))]}},
        nested_list(json!([{"z": "1", "m": {"from": "second", "b": 2}}]))
    ]}});
    let got = generate_params(&generator, &shell(true), ctx(&repos, &[])).unwrap();
    assert_eq!(got.len(), 2);
    let generator = json!({"matrix": {"generators": [
        nested_list(json!([{"m": {"from": "first", "a": 1}}])),
        nested_list(json!([{"m": {"from": "second", "b": 2}}]))
    ]}});
    let got = generate_params(&generator, &shell(true), ctx(&repos, &[])).unwrap();
    assert_eq!(got[0]["m"], json!({"from": "first", "a": 1, "b": 2}));
}

// generator_spec_processor_test.go: the post-generation selector filters flattened params.
#[test]
fn post_generation_selector() {
    let repos = MemoryRepos::new();
    let generator = json!({
        "list": {"elements": [{"cluster": "a", "env": "dev"}, {"cluster": "b", "env": "prod"}]},
        "selector": {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]}
    });
    let got = generate_params(&generator, &shell(false), ctx(&repos, &[])).unwrap();
    assert_eq!(
        as_set(&got),
        expected_set(json!([{"cluster": "b", "env": "prod"}]))
    );
    // goTemplate parameters are flattened before matching.
    let generator = json!({
        "list": {"elements": [{"v": {"env": "dev"}}, {"v": {"env": "prod"}}]},
        "selector": {"matchLabels": {"v.env": "prod"}}
    });
    let got = generate_params(&generator, &shell(true), ctx(&repos, &[])).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["v"]["env"], "prod");
    let bad = json!({"list": {"elements": []}, "selector": {"matchLabels": {"bad key!": "x"}}});
    let err = generate_params(&bad, &shell(false), ctx(&repos, &[])).unwrap_err();
    assert!(
        err.starts_with("error parsing label selector: key: Invalid value: \"bad key!\""),
        "{err}"
    );
}

// Not in Argo CD: a matrix that would multiply into more than 100,000 parameter sets stops.
#[test]
fn matrix_explosion_is_bounded() {
    let repos = MemoryRepos::new();
    let many: Vec<Value> = (0..320).map(|i| json!({"i": i})).collect();
    let many_j: Vec<Value> = (0..320).map(|j| json!({"j": j})).collect();
    let generator =
        json!({"matrix": {"generators": [nested_list(json!(many)), nested_list(json!(many_j))]}});
    let err = generate_params(&generator, &shell(true), ctx(&repos, &[])).unwrap_err();
    assert_eq!(
        err,
        "the matrix generator yields more than 100000 parameter sets"
    );
}

// utils_test.go TestRenderGeneratorParams_ValuesInterpolation, seen through a matrix: a
// sibling's key resolves, the generator's own keys are left for it (legacy mode too), and a
// malformed value is an error.
#[test]
fn matrix_values_interpolation() {
    let repos = MemoryRepos::new();
    let clusters = vec![cluster_secret(
        "c1",
        "https://c1",
        &[("env", "dev")],
        &[],
        None,
    )];
    let legacy = json!({"matrix": {"generators": [
        {"list": {"elements": [{"path.basename": "guestbook"}]}},
        {"clusters": {"selector": {"matchLabels": {"env": "dev"}},
                      "values": {"env": "{{path.basename}}", "clusterName": "{{name}}", "static": "x"}}}
    ]}});
    let got = generate_params(&legacy, &shell(false), ctx(&repos, &clusters)).unwrap();
    assert_eq!(got[0]["values.env"], "guestbook");
    assert_eq!(got[0]["values.clusterName"], "c1");
    assert_eq!(got[0]["values.static"], "x");
    let malformed = json!({"matrix": {"generators": [
        {"list": {"elements": [{"path": {"basename": "guestbook"}}]}},
        {"clusters": {"values": {"bad": "{{.path.basename"}}}
    ]}});
    let err = generate_params(&malformed, &shell(true), ctx(&repos, &clusters)).unwrap_err();
    assert!(
        err.starts_with("failed to get params for second generator in the matrix generator: child generator returned an error on parameter generation: failed to replace parameters in generator: failed to pre-resolve Values key \"bad\": failed to parse template {{.path.basename: template: base:1: "),
        "{err}"
    );
}
