//! The order of merged lists: kustomize (kyaml, merging with the patch's elements
//! prepended) puts the elements a patch names first, in the patch's order, then the
//! others — apimachinery's merge, which does the merging here, keeps live elements in
//! place. Checked against `kubectl kustomize` on `fixtures/strategic_merge`.

use serde_json::Value;

use crate::oracle::{documents, same_output};

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|e| match e {
            Value::String(s) => s.clone(),
            other => other[key].as_str().unwrap_or("").to_string(),
        })
        .collect()
}

#[test]
fn patching_a_second_container_moves_it_first() {
    let docs = documents(&same_output("strategic_merge", "second_element"));
    let containers = &docs[0]["spec"]["template"]["spec"]["containers"];
    assert_eq!(names(containers, "name"), ["b", "a"]);
}

#[test]
fn merged_lists_follow_the_patch_then_the_live_order_at_every_depth() {
    let docs = documents(&same_output("strategic_merge", "order"));
    let d = &docs[0];
    let spec = &d["spec"]["template"]["spec"];
    assert_eq!(names(&spec["containers"], "name"), ["c", "new", "b", "a"]);
    // Inside a merged element too, and after a `$patch: delete`.
    assert_eq!(names(&spec["containers"][2]["env"], "name"), ["Z", "Y"]);
    assert_eq!(names(&spec["volumes"], "name"), ["v3", "v1"]);
    // A merged list of scalars (finalizers) the same way.
    assert_eq!(
        names(&d["metadata"]["finalizers"], ""),
        ["f3", "f0", "f1", "f2"]
    );
}
