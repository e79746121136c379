//! Unknown fields: which fields of an object its schema does not declare, and pruning
//! them, as the API server does.
//!
//! Built-in kinds are decoded into Go structs, so the server's view is the strict JSON
//! decoder's: an undeclared field of a struct is unknown, a map's keys are free, and
//! types without declared properties (`RawExtension`, untyped nodes) take anything.
//! Paths come in document order, worded like `sigs.k8s.io/json`'s strict errors:
//! `spec.template.spec.containers[0].imagex`, map keys as `.key`.
//!
//! Custom resources follow apiextensions-apiserver's structural pruning: what the schema
//! does not declare is unknown unless `x-kubernetes-preserve-unknown-fields` is set (and
//! below such a node, declared properties are still pruned). `apiVersion`, `kind` and
//! `metadata` at the root and in `x-kubernetes-embedded-resource` objects are left to
//! the `ObjectMeta` check, as the server does. The server sorts these paths, so they
//! come sorted: the root's metadata first, then the pruned fields, then embedded
//! resources' metadata.

use serde_json::Value;

use crate::catalog::builtin;
use crate::model::{Flavor, SchemaRef};

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// Every field of `obj` that `schema` does not know, as Kubernetes words its paths
/// (`spec.foo`, `spec.template.spec.containers[0].imagex`, `metadata.labelz`). The API
/// server's message built from them reads
/// `strict decoding error: unknown field "spec.foo", unknown field "spec.bar"`.
pub fn unknown_fields(schema: &SchemaRef<'_>, obj: &Value) -> Vec<String> {
    let mut walk = Walk::new(schema);
    walk.visit(
        obj,
        Node::Schema {
            s: *schema,
            forced_open: false,
        },
        true,
    );
    walk.finish()
}

/// Removes the fields [`unknown_fields`] reports (what the API server does to built-in
/// kinds, and to custom resources without `x-kubernetes-preserve-unknown-fields`), and
/// returns their paths.
pub fn prune_unknown(schema: &SchemaRef<'_>, obj: &mut Value) -> Vec<String> {
    let mut walk = Walk::new(schema);
    walk.prune(
        obj,
        Node::Schema {
            s: *schema,
            forced_open: false,
        },
        true,
    );
    walk.finish()
}

/// What governs a value during the walk.
#[derive(Clone, Copy)]
enum Node<'a> {
    /// A schema node; `forced_open` marks array elements below a structural node that
    /// preserves unknown fields (upstream's skipPrune keeps their unknown fields too).
    Schema { s: SchemaRef<'a>, forced_open: bool },
    /// Structural pruning without a schema: every field of an object is unknown.
    Nil,
    /// Anything goes below here.
    Open,
}

/// What to do with one field of an object.
enum Step<'a> {
    Descend(Node<'a>),
    Keep,
    Unknown,
    /// `metadata` of a resource: checked against `ObjectMeta`.
    Meta,
}

fn step<'a>(node: Node<'a>, key: &str, resource_root: bool) -> Step<'a> {
    let (s, forced_open) = match node {
        Node::Open => return Step::Keep,
        Node::Nil => return Step::Unknown,
        Node::Schema { s, forced_open } => (s, forced_open),
    };
    if resource_root {
        // Structural pruning skips these whatever the CRD declares; a built-in kind
        // declares them itself, and they are taken as known if it does not.
        let structural = s.flavor() == Flavor::Structural;
        match key {
            "apiVersion" | "kind" if structural || s.property(key).is_none() => return Step::Keep,
            "metadata" if structural || s.property(key).is_none() => return Step::Meta,
            _ => {}
        }
    }
    if let Some(p) = s.property(key) {
        return Step::Descend(Node::Schema {
            s: p,
            forced_open: false,
        });
    }
    if let Some(a) = s.additional_properties() {
        return Step::Descend(Node::Schema {
            s: a,
            forced_open: false,
        });
    }
    if forced_open || s.keeps_unknown() {
        Step::Keep
    } else {
        Step::Unknown
    }
}

fn items<'a>(node: Node<'a>) -> Node<'a> {
    match node {
        Node::Open => Node::Open,
        Node::Nil => Node::Nil,
        Node::Schema { s, forced_open } => {
            let structural = s.flavor() == Flavor::Structural;
            let skip = structural && (forced_open || s.preserves_unknown_fields());
            match s.items() {
                Some(i) => Node::Schema {
                    s: i,
                    forced_open: skip,
                },
                None if structural && !skip => Node::Nil,
                None => Node::Open,
            }
        }
    }
}

fn is_resource_root(node: Node<'_>, top: bool) -> bool {
    match node {
        Node::Schema { s, .. } => top || s.is_embedded_resource(),
        _ => false,
    }
}

struct Walk<'a> {
    structural: bool,
    object_meta: Option<SchemaRef<'a>>,
    path: String,
    found: Vec<String>,
    root_meta: Vec<String>,
    embedded_meta: Vec<String>,
}

impl<'a> Walk<'a> {
    fn new(schema: &SchemaRef<'a>) -> Walk<'a> {
        let object_meta = match schema.catalog() {
            Some(c) => c.definition(OBJECT_META),
            None => builtin().definition(OBJECT_META),
        };
        Walk {
            structural: schema.flavor() == Flavor::Structural,
            object_meta,
            path: String::new(),
            found: Vec::new(),
            root_meta: Vec::new(),
            embedded_meta: Vec::new(),
        }
    }

    fn finish(mut self) -> Vec<String> {
        if !self.structural {
            return self.found;
        }
        self.root_meta.sort();
        self.found.sort();
        self.embedded_meta.sort();
        let mut all = self.root_meta;
        all.append(&mut self.found);
        all.append(&mut self.embedded_meta);
        all
    }

    fn push_key(&mut self, key: &str) -> usize {
        let len = self.path.len();
        if len > 0 {
            self.path.push('.');
        }
        self.path.push_str(key);
        len
    }

    fn push_index(&mut self, i: usize) -> usize {
        let len = self.path.len();
        self.path.push('[');
        self.path.push_str(&i.to_string());
        self.path.push(']');
        len
    }

    fn record(&mut self, key: &str) {
        let len = self.push_key(key);
        self.found.push(self.path.clone());
        self.path.truncate(len);
    }

    /// Checks a resource's `metadata` against `ObjectMeta`. Returns false when there is
    /// no `ObjectMeta` to check against (the field is then kept as it is).
    fn meta<F: FnOnce(&mut Walk<'a>, Node<'a>)>(&mut self, top: bool, check: F) -> bool {
        let Some(om) = self.object_meta else {
            return false;
        };
        if !self.structural {
            check(
                self,
                Node::Schema {
                    s: om,
                    forced_open: false,
                },
            );
            return true;
        }
        // Structural: the server collects these apart from the pruned paths.
        let pruned = std::mem::take(&mut self.found);
        check(
            self,
            Node::Schema {
                s: om,
                forced_open: false,
            },
        );
        let meta = std::mem::replace(&mut self.found, pruned);
        if top {
            self.root_meta.extend(meta)
        } else {
            self.embedded_meta.extend(meta)
        }
        true
    }

    fn visit(&mut self, v: &Value, node: Node<'a>, top: bool) {
        match v {
            Value::Object(m) => {
                let root = is_resource_root(node, top);
                for (k, child) in m {
                    match step(node, k, root) {
                        Step::Descend(n) => {
                            let len = self.push_key(k);
                            self.visit(child, n, false);
                            self.path.truncate(len);
                        }
                        Step::Keep => {}
                        Step::Unknown => self.record(k),
                        Step::Meta => {
                            let len = self.push_key(k);
                            self.meta(top, |w, n| w.visit(child, n, false));
                            self.path.truncate(len);
                        }
                    }
                }
            }
            Value::Array(a) => {
                let n = items(node);
                if matches!(n, Node::Open) {
                    return;
                }
                for (i, child) in a.iter().enumerate() {
                    let len = self.push_index(i);
                    self.visit(child, n, false);
                    self.path.truncate(len);
                }
            }
            _ => {}
        }
    }

    fn prune(&mut self, v: &mut Value, node: Node<'a>, top: bool) {
        match v {
            Value::Object(m) => {
                let root = is_resource_root(node, top);
                m.retain(|k, child| match step(node, k, root) {
                    Step::Descend(n) => {
                        let len = self.push_key(k);
                        self.prune(child, n, false);
                        self.path.truncate(len);
                        true
                    }
                    Step::Keep => true,
                    Step::Unknown => {
                        self.record(k);
                        false
                    }
                    Step::Meta => {
                        let len = self.push_key(k);
                        self.meta(top, |w, n| w.prune(child, n, false));
                        self.path.truncate(len);
                        true
                    }
                });
            }
            Value::Array(a) => {
                let n = items(node);
                if matches!(n, Node::Open) {
                    return;
                }
                for (i, child) in a.iter_mut().enumerate() {
                    let len = self.push_index(i);
                    self.prune(child, n, false);
                    self.path.truncate(len);
                }
            }
            _ => {}
        }
    }
}
