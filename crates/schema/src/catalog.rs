//! The catalog of named definitions, indexed by name and by group/version/kind, and the
//! built-in one decoded from the embedded Kubernetes definitions.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::embedded;
use crate::model::{DefId, Flavor, Parser, Schema, SchemaError, SchemaRef};

static BUILTIN: OnceLock<Catalog> = OnceLock::new();

/// The definitions of Kubernetes' built-in kinds, decoded on first use: v1.21.2's
/// OpenAPI document plus an embedded supplement of the fields and definitions later
/// versions (up to 1.33) added, `autoscaling/v2` included (see
/// [`builtin_definitions_json`](crate::builtin_definitions_json)).
pub fn builtin() -> &'static Catalog {
    BUILTIN.get_or_init(|| {
        match embedded::document()
            .and_then(|doc| Catalog::from_parts(&doc.definitions, Some(&doc.resources)))
        {
            Ok(catalog) => catalog,
            Err(e) => embedded::unusable(&e),
        }
    })
}

/// A group/version/kind, as in `x-kubernetes-group-version-kind` (core group is `""`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupVersionKind {
    /// API group, `""` for the core group.
    pub group: String,
    /// API version, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
}

/// Whether a resource lives in a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Objects live in a namespace.
    Namespaced,
    /// Objects are cluster-wide.
    Cluster,
}

struct Definition {
    name: String,
    schema: Schema,
    gvks: Vec<GroupVersionKind>,
}

#[derive(Default, Clone, Copy)]
struct KindEntry {
    def: Option<DefId>,
    scope: Option<Scope>,
}

/// Named definitions (swagger v2 `definitions`) indexed by name and by group/version/kind.
/// `$ref`s between them are stored as indices and followed only on navigation.
pub struct Catalog {
    defs: Vec<Definition>,
    by_name: HashMap<String, DefId>,
    // group → version → kind; nested so that lookups by `&str` need no allocation.
    by_gvk: HashMap<String, HashMap<String, HashMap<String, KindEntry>>>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("definitions", &self.defs.len())
            .finish()
    }
}

impl Catalog {
    /// Builds a catalog from a document with swagger v2 `definitions` and, optionally,
    /// `resources` (`[{apiVersion, kind, definition?, scope?}]`).
    pub fn from_json(doc: &Value) -> Result<Catalog, SchemaError> {
        let defs_json = doc
            .get("definitions")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid("definitions", "missing or not an object"))?;
        let resources = doc
            .get("resources")
            .map(|r| {
                r.as_array()
                    .ok_or_else(|| invalid("resources", "not a list"))
            })
            .transpose()?;
        Catalog::from_parts(defs_json, resources.map(Vec::as_slice))
    }

    /// [`Catalog::from_json`] on a document already split into its two parts.
    fn from_parts(
        defs_json: &Map<String, Value>,
        resources: Option<&[Value]>,
    ) -> Result<Catalog, SchemaError> {
        if defs_json.len() > DefId::MAX as usize {
            return Err(invalid("definitions", "too many definitions"));
        }

        let mut by_name = HashMap::with_capacity(defs_json.len());
        for (i, name) in defs_json.keys().enumerate() {
            by_name.insert(name.clone(), i as DefId);
        }
        let parser = Parser {
            flavor: Flavor::Builtin,
            names: Some(&by_name),
        };

        let mut catalog = Catalog {
            defs: Vec::with_capacity(defs_json.len()),
            by_name: HashMap::new(),
            by_gvk: HashMap::new(),
        };
        for (i, (name, def)) in defs_json.iter().enumerate() {
            let path = format!("definitions.{name}");
            let schema = parser.node(def, &path)?;
            let gvks = parse_gvks(def, &path)?;
            for gvk in &gvks {
                catalog
                    .entry(&gvk.group, &gvk.version, &gvk.kind)
                    .def
                    .get_or_insert(i as DefId);
            }
            catalog.defs.push(Definition {
                name: name.clone(),
                schema,
                gvks,
            });
        }
        catalog.by_name = by_name;

        if let Some(resources) = resources {
            for (i, r) in resources.iter().enumerate() {
                let path = format!("resources[{i}]");
                let field = |k: &str| r.get(k).and_then(Value::as_str);
                let (Some(api_version), Some(kind)) = (field("apiVersion"), field("kind")) else {
                    return Err(invalid(&path, "apiVersion and kind must be strings"));
                };
                let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
                let def = match field("definition") {
                    Some(d) => Some(
                        catalog
                            .by_name
                            .get(d)
                            .copied()
                            .ok_or_else(|| invalid(&path, "definition names no definition"))?,
                    ),
                    None => None,
                };
                let scope = match field("scope") {
                    Some("Namespaced") => Some(Scope::Namespaced),
                    Some("Cluster") => Some(Scope::Cluster),
                    None => None,
                    Some(_) => return Err(invalid(&path, "scope must be Namespaced or Cluster")),
                };
                let entry = catalog.entry(group, version, kind);
                if entry.def.is_none() {
                    entry.def = def;
                }
                entry.scope = entry.scope.or(scope);
            }
        }
        Ok(catalog)
    }

    fn entry(&mut self, group: &str, version: &str, kind: &str) -> &mut KindEntry {
        self.by_gvk
            .entry(group.to_owned())
            .or_default()
            .entry(version.to_owned())
            .or_default()
            .entry(kind.to_owned())
            .or_default()
    }

    fn lookup(&self, group: &str, version: &str, kind: &str) -> Option<KindEntry> {
        self.by_gvk.get(group)?.get(version)?.get(kind).copied()
    }

    /// The schema of a kind, found by `x-kubernetes-group-version-kind` (core group is `""`).
    pub fn kind(&self, group: &str, version: &str, kind: &str) -> Option<SchemaRef<'_>> {
        let id = self.lookup(group, version, kind)?.def?;
        self.by_id(id)
    }

    /// Whether a kind is namespaced, when the document says so (top-level resources only).
    pub fn scope(&self, group: &str, version: &str, kind: &str) -> Option<Scope> {
        self.lookup(group, version, kind)?.scope
    }

    /// A definition by name, e.g. `io.k8s.api.core.v1.PodSpec`.
    pub fn definition(&self, name: &str) -> Option<SchemaRef<'_>> {
        self.by_id(*self.by_name.get(name)?)
    }

    /// The names of all definitions.
    pub fn definition_names(&self) -> impl Iterator<Item = &str> {
        self.defs.iter().map(|d| d.name.as_str())
    }

    /// Every group/version/kind with a schema.
    pub fn kinds(&self) -> impl Iterator<Item = GroupVersionKind> + '_ {
        self.by_gvk.iter().flat_map(|(g, versions)| {
            versions.iter().flat_map(move |(v, kinds)| {
                kinds
                    .iter()
                    .filter(|(_, e)| e.def.is_some())
                    .map(move |(k, _)| GroupVersionKind {
                        group: g.clone(),
                        version: v.clone(),
                        kind: k.clone(),
                    })
            })
        })
    }

    fn by_id(&self, id: DefId) -> Option<SchemaRef<'_>> {
        Some(SchemaRef::resolve_named(self, self.node(id)?, id))
    }

    pub(crate) fn node(&self, id: DefId) -> Option<&Schema> {
        self.defs.get(id as usize).map(|d| &d.schema)
    }

    pub(crate) fn name(&self, id: DefId) -> Option<&str> {
        self.defs.get(id as usize).map(|d| d.name.as_str())
    }

    pub(crate) fn gvks(&self, id: DefId) -> &[GroupVersionKind] {
        self.defs
            .get(id as usize)
            .map(|d| d.gvks.as_slice())
            .unwrap_or(&[])
    }
}

fn parse_gvks(def: &Value, path: &str) -> Result<Vec<GroupVersionKind>, SchemaError> {
    let Some(list) = def.get("x-kubernetes-group-version-kind") else {
        return Ok(Vec::new());
    };
    let bad = || SchemaError::Invalid {
        path: format!("{path}.x-kubernetes-group-version-kind"),
        reason: "must be a list of {group, version, kind} strings".to_owned(),
    };
    list.as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|g| {
            let s = |k: &str| g.get(k).and_then(Value::as_str).map(str::to_owned);
            Some(GroupVersionKind {
                group: s("group")?,
                version: s("version")?,
                kind: s("kind")?,
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(bad)
}

fn invalid(path: &str, reason: &str) -> SchemaError {
    SchemaError::Invalid {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}
