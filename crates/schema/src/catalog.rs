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
/// [`builtin_definitions_json`](crate::builtin_definitions_json)). Each definition is
/// parsed when first reached, so the first call costs well under a millisecond.
pub fn builtin() -> &'static Catalog {
    BUILTIN.get_or_init(|| match Catalog::from_compact() {
        Ok(catalog) => catalog,
        Err(e) => embedded::unusable(&e),
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
    /// Parsed from `raw` on first use when the catalog was built lazily.
    schema: OnceLock<Schema>,
    /// The definition's JSON, for catalogs built from embedded data.
    raw: Option<&'static str>,
    gvks: Vec<GroupVersionKind>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
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
            let gvks = parse_gvks(def.get("x-kubernetes-group-version-kind"), &path)?;
            catalog.push(i, name, OnceLock::from(schema), None, gvks);
        }
        catalog.by_name = by_name;
        if let Some(resources) = resources {
            catalog.index_resources(resources)?;
        }
        Ok(catalog)
    }

    /// The catalog of the embedded definitions (see `build.rs`), each parsed into a
    /// [`Schema`] only when first reached: a process that patches a Deployment needs a
    /// few dozen of the ~700 definitions.
    fn from_compact() -> Result<Catalog, SchemaError> {
        let defs = embedded::DEFINITIONS;
        if defs.len() > DefId::MAX as usize {
            return Err(invalid("definitions", "too many definitions"));
        }
        let mut catalog = Catalog {
            defs: Vec::with_capacity(defs.len()),
            by_name: HashMap::with_capacity(defs.len()),
            by_gvk: HashMap::new(),
        };
        for (i, d) in defs.iter().enumerate() {
            let gvks = d
                .gvks
                .iter()
                .map(|&(group, version, kind)| GroupVersionKind {
                    group: group.to_owned(),
                    version: version.to_owned(),
                    kind: kind.to_owned(),
                })
                .collect();
            catalog.by_name.insert(d.name.to_owned(), i as DefId);
            catalog.push(i, d.name, OnceLock::new(), Some(d.json), gvks);
        }
        for (i, r) in embedded::RESOURCES.iter().enumerate() {
            catalog.index_resource(i, r.api_version, r.kind, r.definition, r.scope)?;
        }
        Ok(catalog)
    }

    /// Adds definition number `i`, indexing it under the kinds it is served as.
    fn push(
        &mut self,
        i: usize,
        name: &str,
        schema: OnceLock<Schema>,
        raw: Option<&'static str>,
        gvks: Vec<GroupVersionKind>,
    ) {
        for gvk in &gvks {
            self.entry(&gvk.group, &gvk.version, &gvk.kind)
                .def
                .get_or_insert(i as DefId);
        }
        self.defs.push(Definition {
            name: name.to_owned(),
            schema,
            raw,
            gvks,
        });
    }

    /// Indexes `resources` (`[{apiVersion, kind, definition?, scope?}]`) by kind; the
    /// definitions must be in place.
    fn index_resources(&mut self, resources: &[Value]) -> Result<(), SchemaError> {
        for (i, r) in resources.iter().enumerate() {
            let field = |k: &str| r.get(k).and_then(Value::as_str);
            let (Some(api_version), Some(kind)) = (field("apiVersion"), field("kind")) else {
                return Err(invalid(
                    &format!("resources[{i}]"),
                    "apiVersion and kind must be strings",
                ));
            };
            self.index_resource(i, api_version, kind, field("definition"), field("scope"))?;
        }
        Ok(())
    }

    /// Indexes entry `i` of a `resources` list.
    fn index_resource(
        &mut self,
        i: usize,
        api_version: &str,
        kind: &str,
        definition: Option<&str>,
        scope: Option<&str>,
    ) -> Result<(), SchemaError> {
        let path = || format!("resources[{i}]");
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let def = match definition {
            Some(d) => Some(
                self.by_name
                    .get(d)
                    .copied()
                    .ok_or_else(|| invalid(&path(), "definition names no definition"))?,
            ),
            None => None,
        };
        let scope = match scope {
            Some("Namespaced") => Some(Scope::Namespaced),
            Some("Cluster") => Some(Scope::Cluster),
            None => None,
            Some(_) => return Err(invalid(&path(), "scope must be Namespaced or Cluster")),
        };
        let entry = self.entry(group, version, kind);
        if entry.def.is_none() {
            entry.def = def;
        }
        entry.scope = entry.scope.or(scope);
        Ok(())
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
        let d = self.defs.get(id as usize)?;
        Some(d.schema.get_or_init(|| {
            // Only embedded definitions are parsed lazily, so a failure here means the
            // build is broken; the crate's tests parse every one of them.
            match self.parse_raw(d) {
                Ok(schema) => schema,
                Err(e) => embedded::unusable(&e),
            }
        }))
    }

    fn parse_raw(&self, d: &Definition) -> Result<Schema, SchemaError> {
        let raw = d
            .raw
            .ok_or_else(|| invalid(&format!("definitions.{}", d.name), "no schema"))?;
        let json: Value = serde_json::from_str(raw).map_err(SchemaError::Json)?;
        let parser = Parser {
            flavor: Flavor::Builtin,
            names: Some(&self.by_name),
        };
        parser.node(&json, &format!("definitions.{}", d.name))
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

fn parse_gvks(list: Option<&Value>, path: &str) -> Result<Vec<GroupVersionKind>, SchemaError> {
    let Some(list) = list else {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The lazily built catalog `builtin()` returns says exactly what one built eagerly
    /// from the full embedded documents says: `build.rs` merges and strips them right.
    #[test]
    fn compact_catalog_matches_full_documents() {
        let doc = embedded::document().unwrap();
        let full = Catalog::from_parts(&doc.definitions, Some(&doc.resources)).unwrap();
        let lazy = Catalog::from_compact().unwrap();
        assert!(lazy.defs.iter().all(|d| d.schema.get().is_none()));

        assert_eq!(
            full.definition_names().collect::<Vec<_>>(),
            lazy.definition_names().collect::<Vec<_>>()
        );
        assert_eq!(full.by_name, lazy.by_name);
        assert_eq!(full.by_gvk, lazy.by_gvk);
        for id in 0..full.defs.len() as DefId {
            assert_eq!(full.gvks(id), lazy.gvks(id));
            assert_eq!(
                format!("{:?}", full.node(id)),
                format!("{:?}", lazy.node(id)),
                "{:?}",
                full.name(id)
            );
        }
    }
}
