//! The kustomization file: finding it in a directory, and reading it into
//! [`Kustomization`] with kustomize's leniencies (field names match case-insensitively,
//! as Go's JSON decoder matches them; scalars where strings are expected are taken as
//! their text) and its strictness (unknown fields are errors).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::{Error, Result};
use super::tree::{EntryKind, Tree, join};
use super::yaml;

/// The file names kustomize accepts, in the order it tries them.
pub(crate) const FILE_NAMES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// A kustomization (or a Component), as written.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[allow(missing_docs)]
pub(crate) struct Kustomization {
    pub api_version: String,
    pub kind: String,
    pub metadata: Option<Value>,
    /// `openapi`: `path` (a custom schema) or `version` (a built-in one); other keys
    /// are ignored, as kustomize ignores them.
    pub openapi: Option<BTreeMap<String, String>>,
    pub name_prefix: String,
    pub name_suffix: String,
    pub namespace: String,
    pub common_labels: BTreeMap<String, String>,
    pub labels: Vec<LabelArgs>,
    pub common_annotations: BTreeMap<String, String>,
    pub patches_strategic_merge: Vec<String>,
    #[serde(rename = "patchesJson6902")]
    pub patches_json6902: Vec<PatchArgs>,
    pub patches: Vec<PatchArgs>,
    pub images: Vec<Image>,
    pub image_tags: Vec<Image>,
    pub replacements: Vec<Value>,
    pub replicas: Vec<Replica>,
    pub vars: Vec<Value>,
    pub sort_options: Option<SortOptions>,
    pub resources: Vec<String>,
    pub components: Vec<String>,
    pub crds: Vec<String>,
    pub bases: Vec<String>,
    pub config_map_generator: Vec<GeneratorArgs>,
    pub secret_generator: Vec<GeneratorArgs>,
    pub helm_globals: Option<Value>,
    pub helm_charts: Option<Value>,
    pub helm_chart_inflation_generator: Option<Value>,
    pub generator_options: Option<GeneratorOptions>,
    pub configurations: Vec<String>,
    pub generators: Vec<String>,
    pub transformers: Vec<String>,
    pub validators: Vec<String>,
    pub build_metadata: Vec<String>,
}

/// One entry of `labels`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct LabelArgs {
    pub pairs: BTreeMap<String, String>,
    pub include_selectors: bool,
    pub include_templates: bool,
    #[serde(rename = "fields")]
    pub field_specs: Vec<Value>,
}

/// One entry of `patches` or `patchesJson6902`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct PatchArgs {
    pub path: String,
    pub patch: String,
    pub target: Option<Selector>,
    pub options: PatchOptions,
}

/// `options` of a patch.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct PatchOptions {
    pub allow_name_change: bool,
    pub allow_kind_change: bool,
}

/// A patch target (`resid` fields plus selectors); empty fields match anything.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Selector {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub label_selector: String,
    pub annotation_selector: String,
}

/// One entry of `images`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Image {
    pub name: String,
    pub new_name: String,
    pub new_tag: String,
    pub tag_suffix: String,
    pub digest: String,
}

/// One entry of `replicas`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Replica {
    pub name: String,
    pub count: i64,
}

/// `sortOptions`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct SortOptions {
    pub order: String,
    pub legacy_sort_options: Option<LegacySortOptions>,
}

/// `sortOptions.legacySortOptions`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct LegacySortOptions {
    pub order_first: Vec<String>,
    pub order_last: Vec<String>,
}

/// One entry of `configMapGenerator` or `secretGenerator`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct GeneratorArgs {
    pub namespace: String,
    pub name: String,
    pub behavior: String,
    pub literals: Vec<String>,
    pub files: Vec<String>,
    pub envs: Vec<String>,
    pub env: String,
    pub options: Option<GeneratorOptions>,
    #[serde(rename = "type")]
    pub type_: String,
}

/// `generatorOptions`, or a generator's `options`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct GeneratorOptions {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub disable_name_suffix_hash: Option<bool>,
    pub immutable: bool,
}

/// The top-level fields, as spelled in Go's struct tags.
const FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "openapi",
    "namePrefix",
    "nameSuffix",
    "namespace",
    "commonLabels",
    "labels",
    "commonAnnotations",
    "patchesStrategicMerge",
    "patchesJson6902",
    "patches",
    "images",
    "imageTags",
    "replacements",
    "replicas",
    "vars",
    "sortOptions",
    "resources",
    "components",
    "crds",
    "bases",
    "configMapGenerator",
    "secretGenerator",
    "helmGlobals",
    "helmCharts",
    "helmChartInflationGenerator",
    "generatorOptions",
    "configurations",
    "generators",
    "transformers",
    "validators",
    "buildMetadata",
];

/// The path of the kustomization file in directory `dir`, if there is one.
pub(crate) fn find(tree: &dyn Tree, dir: &str) -> Result<Option<String>> {
    for name in FILE_NAMES {
        let path = join(dir, name)?;
        if tree.entry(&path)? == Some(EntryKind::File) {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

/// Reads the kustomization at `file`.
pub(crate) fn load(tree: &dyn Tree, file: &str) -> Result<Kustomization> {
    let bytes = tree.read(file)?;
    parse(file, &bytes)
}

/// Parses a kustomization file's contents.
pub(crate) fn parse(file: &str, bytes: &[u8]) -> Result<Kustomization> {
    let raw = yaml::parse_mapping(file, bytes)?;
    let mut fixed = Map::new();
    for (key, value) in raw {
        let Some(canonical) = FIELDS.iter().find(|f| f.eq_ignore_ascii_case(&key)) else {
            return Err(Error::field(file, key, "unknown field in Kustomization"));
        };
        let value = match *canonical {
            "commonLabels" | "commonAnnotations" => stringify_map(file, canonical, value)?,
            "labels" => match value {
                Value::Array(items) => Value::Array(
                    items
                        .into_iter()
                        .map(|mut item| {
                            if let Some(pairs) = item.get_mut("pairs") {
                                *pairs = stringify_map(file, "labels.pairs", pairs.take())?;
                            }
                            Ok(item)
                        })
                        .collect::<Result<_>>()?,
                ),
                other => other,
            },
            _ => value,
        };
        if !value.is_null() {
            fixed.insert((*canonical).to_string(), value);
        }
    }
    let mut k: Kustomization = serde_json::from_value(Value::Object(fixed)).map_err(|e| {
        Error::field(
            file,
            "(kustomization)",
            format!("invalid Kustomization: {e}"),
        )
    })?;
    // Deprecated spellings, folded in as kustomize folds them when it loads a file.
    k.resources.append(&mut k.bases);
    k.images.append(&mut k.image_tags);
    for g in k
        .config_map_generator
        .iter_mut()
        .chain(&mut k.secret_generator)
    {
        if !g.env.is_empty() {
            g.envs.push(std::mem::take(&mut g.env));
        }
    }
    if k.kind.is_empty() {
        k.kind = "Kustomization".to_string();
    }
    Ok(k)
}

/// Label and annotation values may be written as numbers or booleans; kustomize takes
/// their text.
fn stringify_map(file: &str, field: &str, value: Value) -> Result<Value> {
    match value {
        Value::Object(m) => Ok(Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let s = match v {
                        Value::String(s) => s,
                        Value::Null => String::new(),
                        Value::Bool(b) => b.to_string(),
                        Value::Number(n) => n.to_string(),
                        _ => {
                            return Err(Error::field(
                                file,
                                format!("{field}.{k}"),
                                "expected a string value",
                            ));
                        }
                    };
                    Ok((k, Value::String(s)))
                })
                .collect::<Result<_>>()?,
        )),
        Value::Null => Ok(Value::Null),
        _ => Err(Error::field(file, field, "expected a mapping")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_match_case_insensitively_and_unknown_fields_fail() {
        let k = parse("k.yaml", b"nameprefix: x-\ncommonLabels: {a: 1}\n").unwrap();
        assert_eq!(k.name_prefix, "x-");
        assert_eq!(k.common_labels["a"], "1");
        let err = parse("k.yaml", b"resourcez: []\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "k.yaml: field resourcez: unknown field in Kustomization"
        );
    }
}
