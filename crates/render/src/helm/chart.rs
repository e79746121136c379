//! A chart in memory and how it is loaded: from a directory of a [`Tree`] (honouring
//! `.helmignore`) or from a `.tgz`, with `Chart.yaml` (apiVersion v1 or v2),
//! `requirements.yaml` for v1, `values.yaml`, `values.schema.json`, templates, other files
//! and subcharts from `charts/` (directories and archives), as Helm's loader does.

use super::archive;
use super::error::Error;
use super::glob::path_match;
use super::values::{Table, parse_values};
use crate::kustomize::{EntryKind, Tree, join};
use serde_json::Value;

/// A file of a chart, by its path inside the chart.
#[derive(Debug, Clone)]
pub struct File {
    /// Path relative to the chart's root (`templates/service.yaml`).
    pub name: String,
    /// Contents.
    pub data: Vec<u8>,
}

/// One entry of `dependencies` (Chart.yaml v2 or requirements.yaml v1).
#[derive(Debug, Clone, Default)]
pub struct Dependency {
    /// The subchart's name.
    pub name: String,
    /// A semver range.
    pub version: String,
    /// Where it comes from (unused: dependencies must already be in `charts/`).
    pub repository: String,
    /// Comma-separated values paths; the first boolean found enables or disables it.
    pub condition: String,
    /// Tags that enable or disable it through `.Values.tags`.
    pub tags: Vec<String>,
    /// Whether it is enabled (after conditions and tags).
    pub enabled: bool,
    /// Values to import from the subchart (strings or `{child, parent}` maps).
    pub import_values: Vec<Value>,
    /// The name it is installed under.
    pub alias: String,
}

/// `Chart.yaml`, with the fields Helm knows; `raw` keeps the file as written.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// `apiVersion` (`v1` when absent, as Helm defaults it).
    pub api_version: String,
    /// `name`.
    pub name: String,
    /// `version`.
    pub version: String,
    /// `type`: `""`, `application` or `library`.
    pub chart_type: String,
    /// `kubeVersion` constraint.
    pub kube_version: String,
    /// `dependencies`.
    pub dependencies: Vec<Dependency>,
    /// The parsed file.
    pub raw: serde_json::Map<String, Value>,
}

/// A loaded chart and its subcharts.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    /// Chart.yaml.
    pub metadata: Metadata,
    /// values.yaml.
    pub values: Table,
    /// values.schema.json, if any.
    pub schema: Option<Vec<u8>>,
    /// Everything under `templates/`.
    pub templates: Vec<File>,
    /// Files that are neither metadata, values nor templates (what `.Files` sees).
    pub files: Vec<File>,
    /// Subcharts from `charts/`.
    pub dependencies: Vec<Chart>,
}

impl Chart {
    /// The chart's name.
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// Whether this is a library chart.
    pub fn is_library(&self) -> bool {
        self.metadata.chart_type == "library"
    }

    /// CRD files: `crds/*.yaml|yml|json` of this chart and its subcharts, each with the
    /// path Helm prints (`chart/charts/sub/crds/x.yaml`).
    pub fn crd_files(&self, full_path: &str) -> Vec<(String, &File)> {
        let mut out = Vec::new();
        for f in &self.files {
            if f.name.starts_with("crds/")
                && [".yaml", ".yml", ".json"]
                    .iter()
                    .any(|e| f.name.ends_with(e))
            {
                out.push((format!("{full_path}/{}", f.name), f));
            }
        }
        for d in &self.dependencies {
            out.extend(d.crd_files(&format!("{full_path}/charts/{}", d.name())));
        }
        out
    }
}

/// Loads the chart at `path` of `tree`: a directory, or a `.tgz` file.
pub fn load(tree: &dyn Tree, path: &str) -> Result<Chart, Error> {
    let path = join("", path)?;
    match tree.entry(&path)? {
        Some(EntryKind::Dir) => load_dir(tree, &path),
        Some(EntryKind::File) => load_archive(&path, &tree.read(&path)?),
        None => Err(Error::Tree(crate::kustomize::TreeError::NotFound { path })),
    }
}

/// Loads a packaged chart from its bytes.
pub fn load_archive(name: &str, bytes: &[u8]) -> Result<Chart, Error> {
    load_files(archive::read_tgz(name, bytes)?, name)
}

/// Loads a chart directory, skipping what `.helmignore` (and Helm's default rule
/// `templates/.?*`) ignores.
pub fn load_dir(tree: &dyn Tree, dir: &str) -> Result<Chart, Error> {
    let ignore_path = join(dir, ".helmignore")?;
    let mut rules = match tree.entry(&ignore_path)? {
        Some(EntryKind::File) => {
            let text = String::from_utf8_lossy(&tree.read(&ignore_path)?).into_owned();
            Ignore::parse(&text).map_err(|reason| Error::Parse {
                file: ignore_path.clone(),
                reason,
            })?
        }
        _ => Ignore::default(),
    };
    rules.add("templates/.?*");
    let mut files = Vec::new();
    walk(tree, dir, "", &rules, &mut files)?;
    load_files(files, dir)
}

fn walk(
    tree: &dyn Tree,
    root: &str,
    rel: &str,
    rules: &Ignore,
    out: &mut Vec<(String, Vec<u8>)>,
) -> Result<(), Error> {
    let here = join(root, rel)?;
    for (name, kind) in tree.list(&here)? {
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let is_dir = kind == EntryKind::Dir;
        if rules.ignored(&child, is_dir) {
            continue;
        }
        if is_dir {
            walk(tree, root, &child, rules, out)?;
        } else {
            let data = tree.read(&join(root, &child)?)?;
            let data = match data.strip_prefix(b"\xEF\xBB\xBF".as_slice()) {
                Some(d) => d.to_vec(),
                None => data,
            };
            out.push((child, data));
        }
    }
    Ok(())
}

/// Helm's `LoadFiles`: sorts files into metadata, values, templates, subcharts and the rest.
fn load_files(files: Vec<(String, Vec<u8>)>, origin: &str) -> Result<Chart, Error> {
    let mut c = Chart::default();
    let chart_yaml = files
        .iter()
        .find(|(n, _)| n == "Chart.yaml")
        .ok_or_else(|| Error::Validation(format!("{origin}: Chart.yaml file is missing")))?;
    let mut raw = parse_yaml_map(&chart_yaml.1, &format!("{origin}/Chart.yaml"))?;
    if raw
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        raw.insert("apiVersion".into(), Value::String("v1".into()));
    }
    let mut subcharts: std::collections::BTreeMap<String, Vec<(String, Vec<u8>)>> =
        Default::default();
    for (name, data) in files {
        match name.as_str() {
            "Chart.yaml" | "Chart.lock" => {}
            "values.yaml" => {
                let text = String::from_utf8_lossy(&data);
                c.values = parse_values(&text).map_err(|reason| Error::Parse {
                    file: format!("{origin}/values.yaml"),
                    reason: format!("cannot load values.yaml: {reason}"),
                })?;
            }
            "values.schema.json" => c.schema = Some(data),
            "requirements.yaml" | "requirements.lock" => {
                let is_v1 = raw.get("apiVersion").and_then(Value::as_str) == Some("v1");
                if name == "requirements.yaml" {
                    let req = parse_yaml_map(&data, &format!("{origin}/{name}"))?;
                    if let Some(d) = req.get("dependencies") {
                        raw.insert("dependencies".into(), d.clone());
                    }
                }
                if is_v1 {
                    c.files.push(File { name, data });
                }
            }
            n if n.starts_with("templates/") => c.templates.push(File { name, data }),
            n if n.starts_with("charts/") && !n.ends_with(".prov") => {
                let rest = &n["charts/".len()..];
                let top = rest.split('/').next().unwrap_or_default().to_string();
                subcharts
                    .entry(top)
                    .or_default()
                    .push((rest.to_string(), data));
            }
            _ => c.files.push(File { name, data }),
        }
    }
    c.metadata = metadata(raw, origin)?;
    for (sub, files) in subcharts {
        if sub.starts_with('_') || sub.starts_with('.') {
            continue;
        }
        let where_ = format!("{origin}/charts/{sub}");
        let chart = if sub.ends_with(".tgz") {
            let Some((_, data)) = files.into_iter().find(|(n, _)| *n == sub) else {
                continue;
            };
            load_archive(&where_, &data)
        } else {
            let inner: Vec<(String, Vec<u8>)> = files
                .into_iter()
                .filter_map(|(n, d)| n.split_once('/').map(|(_, rest)| (rest.to_string(), d)))
                .collect();
            load_files(inner, &where_)
        };
        c.dependencies.push(chart.map_err(|e| match e {
            e @ (Error::Archive { .. } | Error::Tree(_)) => e,
            e => Error::Parse {
                file: where_.clone(),
                reason: format!("error unpacking subchart {sub} in {}: {e}", c.metadata.name),
            },
        })?);
    }
    Ok(c)
}

fn parse_yaml_map(data: &[u8], file: &str) -> Result<serde_json::Map<String, Value>, Error> {
    let text = String::from_utf8_lossy(data);
    match serde_saphyr::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(Value::Null) => Ok(Default::default()),
        Ok(_) => Err(Error::Parse {
            file: file.to_string(),
            reason: "expected a mapping".into(),
        }),
        Err(e) => Err(Error::Parse {
            file: file.to_string(),
            reason: e.to_string(),
        }),
    }
}

/// A scalar as the string Go's struct decoding would want; numbers are accepted too.
fn string_field(m: &serde_json::Map<String, Value>, key: &str) -> String {
    match m.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

/// Builds and validates the metadata as Helm's `Metadata.Validate` does.
fn metadata(raw: serde_json::Map<String, Value>, origin: &str) -> Result<Metadata, Error> {
    let mut dependencies = Vec::new();
    if let Some(Value::Array(deps)) = raw.get("dependencies") {
        for d in deps {
            let Value::Object(d) = d else {
                return Err(Error::Validation(format!(
                    "{origin}: dependencies must be mappings"
                )));
            };
            dependencies.push(Dependency {
                name: string_field(d, "name"),
                version: string_field(d, "version"),
                repository: string_field(d, "repository"),
                condition: string_field(d, "condition"),
                tags: match d.get("tags") {
                    Some(Value::Array(t)) => t
                        .iter()
                        .filter_map(|t| t.as_str().map(String::from))
                        .collect(),
                    _ => Vec::new(),
                },
                enabled: d.get("enabled").and_then(Value::as_bool).unwrap_or(false),
                import_values: match d.get("import-values") {
                    Some(Value::Array(v)) => v.clone(),
                    _ => Vec::new(),
                },
                alias: string_field(d, "alias"),
            });
        }
    }
    let md = Metadata {
        api_version: string_field(&raw, "apiVersion"),
        name: string_field(&raw, "name"),
        version: string_field(&raw, "version"),
        chart_type: string_field(&raw, "type"),
        kube_version: string_field(&raw, "kubeVersion"),
        dependencies,
        raw,
    };
    if md.name.is_empty() {
        return Err(Error::Validation("chart.metadata.name is required".into()));
    }
    if md.name == "." || md.name == ".." || md.name.contains('/') {
        return Err(Error::Validation(format!(
            "chart.metadata.name {:?} is invalid",
            md.name
        )));
    }
    if md.version.is_empty() {
        return Err(Error::Validation(
            "chart.metadata.version is required".into(),
        ));
    }
    if super::semver::Version::parse(&md.version).is_none() {
        return Err(Error::Validation(format!(
            "chart.metadata.version {:?} is invalid",
            md.version
        )));
    }
    if !matches!(md.chart_type.as_str(), "" | "application" | "library") {
        return Err(Error::Validation(
            "chart.metadata.type must be application or library".into(),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for d in &md.dependencies {
        if d.name.is_empty() {
            return Err(Error::Validation("dependencies must have a name".into()));
        }
        let key = if d.alias.is_empty() {
            &d.name
        } else {
            &d.alias
        };
        if !seen.insert(key.clone()) {
            return Err(Error::Validation(format!(
                "more than one dependency with name or alias {key:?}"
            )));
        }
    }
    Ok(md)
}

/// `.helmignore` rules: Go `path.Match` patterns; a pattern without `/` matches the base
/// name, a trailing `/` matches directories only, `!` negates, `**` is refused.
#[derive(Debug, Default)]
struct Ignore {
    rules: Vec<Rule>,
}

#[derive(Debug)]
struct Rule {
    pattern: String,
    negate: bool,
    dir_only: bool,
    base_only: bool,
}

impl Ignore {
    fn parse(text: &str) -> Result<Self, String> {
        let mut r = Ignore::default();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.contains("**") {
                return Err("double-star (**) syntax is not supported".into());
            }
            r.add(line);
        }
        Ok(r)
    }

    fn add(&mut self, rule: &str) {
        let (negate, rule) = match rule.strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, rule),
        };
        let (dir_only, rule) = match rule.strip_suffix('/') {
            Some(r) => (true, r),
            None => (false, rule),
        };
        let (base_only, pattern) = match rule.strip_prefix('/') {
            Some(r) => (false, r.to_string()),
            None => (!rule.contains('/'), rule.to_string()),
        };
        self.rules.push(Rule {
            pattern,
            negate,
            dir_only,
            base_only,
        });
    }

    fn ignored(&self, path: &str, is_dir: bool) -> bool {
        for r in &self.rules {
            let name = if r.base_only {
                path.rsplit('/').next().unwrap_or(path)
            } else {
                path
            };
            if r.negate {
                if r.dir_only && !is_dir {
                    return true;
                }
                if !path_match(&r.pattern, name) {
                    return true;
                }
                continue;
            }
            if r.dir_only && !is_dir {
                continue;
            }
            if path_match(&r.pattern, name) {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kustomize::MemTree;

    #[test]
    fn helmignore_rules() {
        let r = Ignore::parse("# c\n*.tmp\nsecret/\n/top.txt\n").unwrap();
        assert!(r.ignored("a/b.tmp", false));
        assert!(r.ignored("secret", true));
        assert!(!r.ignored("secret", false));
        assert!(r.ignored("top.txt", false));
        assert!(!r.ignored("a/top.txt", false));
        assert!(Ignore::parse("a/**/b").is_err());
    }

    #[test]
    fn loads_a_directory_with_subcharts() {
        let tree = MemTree::from_files([
            ("c/Chart.yaml", "apiVersion: v2\nname: c\nversion: 1.0.0\n"),
            ("c/values.yaml", "a: 1\n"),
            ("c/.helmignore", "*.bak\n"),
            ("c/templates/x.yaml", "x"),
            ("c/templates/.hidden", "h"),
            ("c/files/a.bak", "b"),
            ("c/files/a.txt", "t"),
            ("c/charts/sub/Chart.yaml", "name: sub\nversion: 0.1.0\n"),
            ("c/charts/_skip/Chart.yaml", "name: skip\nversion: 0.1.0\n"),
        ]);
        let c = load(&tree, "c").unwrap();
        assert_eq!(c.templates.len(), 1);
        let names: Vec<_> = c.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, [".helmignore", "files/a.txt"]);
        assert_eq!(c.dependencies.len(), 1);
        assert_eq!(c.dependencies[0].metadata.api_version, "v1");
    }

    #[test]
    fn bad_metadata_is_refused_with_helms_message() {
        let tree =
            MemTree::from_files([("c/Chart.yaml", "name: c\nversion: 1.0.0\ntype: foobar\n")]);
        assert_eq!(
            load(&tree, "c").unwrap_err().to_string(),
            "validation: chart.metadata.type must be application or library"
        );
        let tree = MemTree::from_files([("c/Chart.yaml", "name: c\n")]);
        assert!(
            load(&tree, "c")
                .unwrap_err()
                .to_string()
                .contains("version is required")
        );
    }
}
