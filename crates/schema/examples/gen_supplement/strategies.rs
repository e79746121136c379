//! List and map merge strategies, read from k8s-openapi's generated source.
//!
//! k8s-openapi's schemars schemas drop the `x-kubernetes-*` extensions, but its code
//! generator turns them into `DeepMerge` impls, one line per field:
//! `merge_strategies::list::map(&mut self.f, …, &[|lhs, rhs| lhs.k == rhs.k], …)` is a
//! list keyed by `k`, `list::set` and `list::atomic` the other list types, and
//! `map::atomic` / `map::granular` the map types. Each generated file starts with
//! `// Generated from definition <name>` and maps JSON names to Rust fields in its
//! `Deserialize` impl (`"jsonName" => Field::Key_rust_name,`), which is all it takes to
//! turn those lines back into markers on JSON properties.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::Error;

/// What a field's `DeepMerge` line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Strategy {
    ListAtomic,
    ListSet,
    /// Keyed by these fields of the item type (Rust names; see [`Strategies::map_keys`]).
    ListMap(Vec<String>),
    MapAtomic,
    MapGranular,
}

#[derive(Default)]
struct Definition {
    /// Rust field name → JSON property name.
    json_names: HashMap<String, String>,
    /// JSON property name → strategy; fields merged by plain `DeepMerge` are absent.
    strategies: HashMap<String, Strategy>,
}

/// Merge strategies of every definition k8s-openapi generates for one Kubernetes version.
pub(crate) struct Strategies {
    by_definition: HashMap<String, Definition>,
}

impl Strategies {
    /// Reads every generated file under `version_dir` (e.g. `…/k8s-openapi-0.29.0/src/v1_33`).
    pub(crate) fn load(version_dir: &Path) -> Result<Strategies, Error> {
        let mut files = Vec::new();
        collect_rs_files(version_dir, &mut files)?;
        let mut by_definition = HashMap::new();
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            if let Some((name, def)) = parse_file(&text).map_err(|e| Error::Source {
                path: path.clone(),
                reason: e,
            })? {
                by_definition.insert(name, def);
            }
        }
        if by_definition.is_empty() {
            return Err(Error::Source {
                path: version_dir.to_owned(),
                reason: "no generated definitions found".into(),
            });
        }
        Ok(Strategies { by_definition })
    }

    /// The strategy of property `prop` of definition `def`, if it has one.
    pub(crate) fn of(&self, def: &str, prop: &str) -> Option<&Strategy> {
        self.by_definition.get(def)?.strategies.get(prop)
    }

    /// Turns the Rust names of a `ListMap`'s keys into JSON property names of the item
    /// definition `item_def`.
    pub(crate) fn map_keys(
        &self,
        item_def: &str,
        rust_keys: &[String],
    ) -> Result<Vec<String>, String> {
        let def = self
            .by_definition
            .get(item_def)
            .ok_or_else(|| format!("no generated source for item definition {item_def}"))?;
        rust_keys
            .iter()
            .map(|k| {
                def.json_names.get(k).cloned().ok_or_else(|| {
                    format!("{item_def} has no field `{k}` (nested keys are not supported)")
                })
            })
            .collect()
    }
}

fn collect_rs_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: dir.to_owned(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            collect_rs_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

const HEADER: &str = "// Generated from definition ";

/// The definition a generated file holds, or `None` for files that hold none (`mod.rs`).
fn parse_file(text: &str) -> Result<Option<(String, Definition)>, String> {
    let Some(name) = text.lines().next().and_then(|l| l.strip_prefix(HEADER)) else {
        return Ok(None);
    };
    let mut def = Definition::default();
    for line in text.lines() {
        // `"jsonName" => Field::Key_rust_name,`
        if let Some((json, rest)) = line
            .trim()
            .strip_prefix('"')
            .and_then(|l| l.split_once("\" => Field::Key_"))
        {
            let rust = rest.trim_end_matches(',');
            def.json_names.insert(rust.to_owned(), json.to_owned());
        }
    }
    let Some(body) = text
        .split_once("impl crate::DeepMerge for ")
        .and_then(|(_, rest)| rest.split_once("\n}\n"))
        .map(|(body, _)| body)
    else {
        // Newtypes and enums (Quantity, IntOrString, JSONSchemaPropsOr…) have no fields.
        return Ok(Some((name.to_owned(), def)));
    };
    for (rust, strategy) in parse_deep_merge(body)? {
        let json = def
            .json_names
            .get(&rust)
            .ok_or_else(|| format!("DeepMerge names field `{rust}` that Deserialize does not"))?;
        def.strategies.insert(json.clone(), strategy);
    }
    Ok(Some((name.to_owned(), def)))
}

/// `(rust field, strategy)` for each field of a `merge_from` body merged by a strategy.
/// Strategies applied to `current_item` inside a closure (lists of lists, maps of lists)
/// describe the values, not the field, and are skipped.
fn parse_deep_merge(body: &str) -> Result<Vec<(String, Strategy)>, String> {
    const CALL: &str = "crate::merge_strategies::";
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(at) = rest.find(CALL) {
        rest = &rest[at + CALL.len()..];
        let (path, args) = rest
            .split_once('(')
            .ok_or_else(|| "merge strategy call without arguments".to_owned())?;
        let Some(field) = args.trim_start().strip_prefix("&mut self.") else {
            continue;
        };
        let field: String = field
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let strategy = match path {
            "list::atomic" => Strategy::ListAtomic,
            "list::set" => Strategy::ListSet,
            "list::map" => Strategy::ListMap(map_keys(args)?),
            "map::atomic" => Strategy::MapAtomic,
            "map::granular" => Strategy::MapGranular,
            other => return Err(format!("unknown merge strategy {other}")),
        };
        out.push((field, strategy));
    }
    Ok(out)
}

/// The keys of `list::map(&mut self.f, other.f, &[|lhs, rhs| lhs.a == rhs.a, …], …)`.
fn map_keys(args: &str) -> Result<Vec<String>, String> {
    let keys = args
        .split_once("&[")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(keys, _)| keys)
        .ok_or_else(|| "list::map without a key list".to_owned())?;
    let keys: Vec<String> = keys
        .split("|lhs, rhs| lhs.")
        .skip(1)
        .map(|k| k.split(" == ").next().unwrap_or_default().trim().to_owned())
        .collect();
    if keys.is_empty() || keys.iter().any(String::is_empty) {
        return Err("list::map with an empty key".into());
    }
    Ok(keys)
}
