//! smd-level scenarios beyond the corpus, re-authored after the kinds of cases in
//! structured-merge-diff's `merge/*_test.go` (shared ownership, force, ownership
//! transfer by updates, schema changes to atomic, sets, duplicates), run directly on
//! the [`Updater`].

use flotilla_ssa::{
    ApplyError, Deduced, FieldSet, Managers, Path, PathElement, SmdSchema, TypeNode, Updater,
    reconcile_field_set,
};
use serde_json::{Value, json};

use crate::yaml;

/// A live object and its managers, driven one operation at a time.
struct World<N> {
    node: N,
    live: Value,
    managers: Managers,
    updater: Updater,
}

impl<N: TypeNode> World<N> {
    fn new(node: N) -> Self {
        World {
            node,
            live: Value::Null,
            managers: Managers::new(),
            updater: Updater::new(),
        }
    }

    fn apply(&mut self, manager: &str, config: Value, force: bool) -> Result<(), ApplyError> {
        let a = self.updater.apply(
            self.node,
            &self.live,
            &config,
            "v1",
            &self.managers,
            manager,
            force,
        )?;
        self.managers = a.managers;
        if let Some(o) = a.object {
            self.live = o;
        }
        Ok(())
    }

    fn update(&mut self, manager: &str, new: Value) {
        self.managers =
            self.updater
                .update(self.node, &self.live, &new, "v1", &self.managers, manager);
        self.live = new;
    }

    fn owned(&self, manager: &str) -> Vec<String> {
        self.managers
            .get(manager)
            .map(|m| m.fields.paths().iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }
}

fn conflicts(e: ApplyError) -> Vec<(String, String)> {
    match e {
        ApplyError::Conflicts(c) => {
            c.0.into_iter()
                .map(|c| (c.manager, c.path.to_string()))
                .collect()
        }
        ApplyError::Invalid(e) => panic!("expected conflicts, got {e}"),
    }
}

#[test]
fn same_value_is_shared_and_survives_one_owner_leaving() {
    let mut w = World::new(Deduced::Granular);
    w.apply("a", json!({"x": 1, "y": 1}), false)
        .expect("first apply");
    w.apply("b", json!({"x": 1}), false)
        .expect("same value is not a conflict");
    assert_eq!(w.owned("a"), [".x", ".y"]);
    assert_eq!(w.owned("b"), [".x"]);
    // `a` stops applying x: b still owns it, so it stays.
    w.apply("a", json!({"y": 1}), false).expect("drop x");
    assert_eq!(w.live, json!({"x": 1, "y": 1}));
    // `b` stops applying x too: now nobody owns it and it goes.
    w.apply("b", json!({}), false).expect("drop x");
    assert_eq!(w.live, json!({"y": 1}));
    assert!(!w.managers.contains_key("b"));
}

#[test]
fn different_value_conflicts_until_forced() {
    let mut w = World::new(Deduced::Granular);
    w.apply("a", json!({"x": 1, "y": 1}), false)
        .expect("first apply");
    let err = w
        .apply("b", json!({"x": 2, "y": 2}), false)
        .expect_err("conflict");
    assert_eq!(
        conflicts(err.clone()),
        [
            ("a".to_string(), ".x".to_string()),
            ("a".into(), ".y".into())
        ]
    );
    assert_eq!(
        err.to_string(),
        "Apply failed with 2 conflicts: conflicts with \"a\":\n- .x\n- .y"
    );
    // Nothing moved.
    assert_eq!(w.live, json!({"x": 1, "y": 1}));
    w.apply("b", json!({"x": 2}), true).expect("force");
    assert_eq!(w.live, json!({"x": 2, "y": 1}));
    assert_eq!(w.owned("a"), [".y"]);
    assert_eq!(w.owned("b"), [".x"]);
}

#[test]
fn an_update_takes_what_it_changes_and_the_applier_then_conflicts() {
    let mut w = World::new(Deduced::Granular);
    w.apply(
        "apply",
        json!({"spec": {"replicas": 1, "image": "a"}}),
        false,
    )
    .expect("apply");
    w.update(
        "hpa",
        json!({"spec": {"replicas": 5, "image": "a"}, "status": {"ready": 5}}),
    );
    assert_eq!(w.owned("apply"), [".spec", ".spec.image"]);
    assert_eq!(
        w.owned("hpa"),
        [".status", ".spec.replicas", ".status.ready"]
    );
    let err = w
        .apply(
            "apply",
            json!({"spec": {"replicas": 1, "image": "b"}}),
            false,
        )
        .expect_err("replicas belong to the updater now");
    assert_eq!(
        conflicts(err),
        [("hpa".to_string(), ".spec.replicas".to_string())]
    );
    // Leaving replicas out lets the apply through and keeps the updater's value.
    w.apply("apply", json!({"spec": {"image": "b"}}), false)
        .expect("apply without replicas");
    assert_eq!(w.live["spec"], json!({"replicas": 5, "image": "b"}));
}

#[test]
fn an_update_that_removes_a_field_takes_it_from_everyone() {
    let mut w = World::new(Deduced::Granular);
    w.apply("a", json!({"x": 1, "y": 2}), false).expect("apply");
    w.update("ctl", json!({"y": 2}));
    assert_eq!(w.owned("a"), [".y"]);
    assert!(!w.managers.contains_key("ctl"), "removing gives nothing");
}

const SETS: &str = "
types:
- name: v1
  map:
    fields:
    - name: items
      type:
        list:
          elementType: {scalar: string}
          elementRelationship: associative
    - name: ports
      type:
        list:
          elementType:
            map:
              fields:
              - {name: port, type: {scalar: numeric}}
              - {name: protocol, type: {scalar: string}, default: TCP}
              - {name: name, type: {scalar: string}}
          elementRelationship: associative
          keys: [port, protocol]
    - name: struct
      type:
        map:
          fields:
          - {name: a, type: {scalar: string}}
          - {name: b, type: {scalar: string}}
";

fn schema(text: &str) -> SmdSchema {
    SmdSchema::from_value(&yaml(text).expect("schema YAML")).expect("schema")
}

#[test]
fn set_items_are_owned_one_by_one() {
    let s = schema(SETS);
    let mut w = World::new(s.type_named("v1").expect("type"));
    w.apply("a", json!({"items": ["x", "y"]}), false)
        .expect("a");
    w.apply("b", json!({"items": ["z"]}), false).expect("b");
    assert_eq!(w.live, json!({"items": ["x", "y", "z"]}));
    w.apply("a", json!({"items": ["x"]}), false)
        .expect("a drops y");
    assert_eq!(w.live, json!({"items": ["x", "z"]}));
    assert_eq!(w.owned("b"), [r#".items[="z"]"#]);
}

#[test]
fn key_defaults_name_items_that_omit_them() {
    let s = schema(SETS);
    let mut w = World::new(s.type_named("v1").expect("type"));
    w.apply("a", json!({"ports": [{"port": 80, "name": "http"}]}), false)
        .expect("apply");
    assert_eq!(
        w.owned("a"),
        [
            r#".ports[port=80,protocol="TCP"]"#,
            r#".ports[port=80,protocol="TCP"].name"#,
            r#".ports[port=80,protocol="TCP"].port"#,
        ]
    );
    // Spelling the default out names the same item.
    let err = w
        .apply(
            "b",
            json!({"ports": [{"port": 80, "protocol": "TCP", "name": "web"}]}),
            false,
        )
        .expect_err("same item, other name");
    assert_eq!(
        conflicts(err),
        [(
            "a".to_string(),
            r#".ports[port=80,protocol="TCP"].name"#.to_string()
        )]
    );
    let dup = w.apply(
        "c",
        json!({"ports": [{"port": 80}, {"port": 80, "protocol": "TCP"}]}),
        false,
    );
    match dup {
        Err(ApplyError::Invalid(e)) => assert_eq!(
            e.to_string(),
            r#".ports: duplicate entries for key [port=80,protocol="TCP"]"#
        ),
        other => panic!("expected a duplicate error, got {other:?}"),
    }
}

#[test]
fn duplicated_items_from_an_update_are_owned_whole() {
    let s = schema(SETS);
    let mut w = World::new(s.type_named("v1").expect("type"));
    w.update(
        "ctl",
        json!({"ports": [{"port": 1, "name": "a"}, {"port": 1, "name": "b"}, {"port": 2}]}),
    );
    assert_eq!(
        w.owned("ctl"),
        [
            r#".ports"#,
            r#".ports[port=1,protocol="TCP"]"#,
            r#".ports[port=2,protocol="TCP"]"#,
            r#".ports[port=2,protocol="TCP"].port"#,
        ]
    );
    // An apply of the duplicated item replaces the duplicates with one item.
    w.apply("a", json!({"ports": [{"port": 1, "name": "c"}]}), true)
        .expect("force apply");
    assert_eq!(
        w.live["ports"],
        json!([{"port": 1, "name": "c"}, {"port": 2}])
    );
}

#[test]
fn a_struct_made_atomic_is_owned_whole() {
    let before = schema(SETS);
    let mut set = FieldSet::new();
    for f in ["a", "b"] {
        set.insert(Path::fields(["struct", f]).elements());
    }
    let node = before.type_named("v1").expect("type");
    assert_eq!(
        reconcile_field_set(node, &set),
        None,
        "granular: nothing to do"
    );
    let after = schema(&SETS.replace(
        "    - name: struct\n      type:\n        map:\n",
        "    - name: struct\n      type:\n        elementRelationship: atomic\n        map:\n",
    ));
    let node = after.type_named("v1").expect("type");
    let reconciled = reconcile_field_set(node, &set).expect("collapsed");
    assert_eq!(reconciled.paths(), [Path::fields(["struct"])]);
}

#[test]
fn conflicts_name_list_items_by_key() {
    let s = schema(SETS);
    let mut w = World::new(s.type_named("v1").expect("type"));
    w.apply("a", json!({"ports": [{"port": 80, "name": "http"}]}), false)
        .expect("apply");
    let err = w
        .apply("b", json!({"ports": [{"port": 80, "name": "web"}]}), false)
        .expect_err("conflict");
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "a": .ports[port=80,protocol="TCP"].name"#
    );
}

#[test]
fn extracting_what_a_manager_owns() {
    let s = schema(SETS);
    let node = s.type_named("v1").expect("type");
    let live = json!({"ports": [{"port": 80, "name": "http"}, {"port": 81}], "items": ["x"]});
    let mut owned = FieldSet::new();
    owned.insert(&[
        PathElement::field("ports"),
        PathElement::key([
            ("port".to_string(), json!(80)),
            ("protocol".to_string(), json!("TCP")),
        ]),
        PathElement::field("name"),
    ]);
    assert_eq!(
        flotilla_ssa::extract_items(node, &live, &owned, false),
        json!({"ports": [{"name": "http"}]})
    );
    // With key fields, the result can be applied back.
    assert_eq!(
        flotilla_ssa::extract_items(node, &live, &owned, true),
        json!({"ports": [{"port": 80, "name": "http"}]})
    );
}
