//! Helm's engine: every template of the chart and its subcharts parsed into one set (so
//! `define`s are shared, the parent's winning), each executed with its chart's built-in
//! objects (`.Values`, `.Release`, `.Chart`, `.Capabilities`, `.Template`, `.Files`,
//! `.Subcharts`), `missingkey=zero` and `<no value>` erased from the output.

use super::chart::{Chart, File};
use super::error::Error;
use super::glob::files_glob;
use base64::Engine as _;
use flotilla_template::{
    Arity, Error as TplError, FuncError, Functions, Limits, Map, Methods, Options, Template, Value,
};
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

/// Helm wraps `required` and `fail` messages in these markers so that the error shown is
/// the chart's message, not Go's call chain.
const WARN_START: &str = "HELM_ERR_START";
const WARN_END: &str = "HELM_ERR_END";

/// The functions charts see: Sprig and Helm's, with `required`/`fail` marked as Helm marks
/// them and DNS lookups disabled (Helm's default: `getHostByName` returns "").
static FUNCTIONS: LazyLock<Arc<Functions>> = LazyLock::new(|| {
    let mut f = Functions::helm();
    f.register("required", Arity::Exact(2), |a| match &a[1] {
        Value::Nil => Err(warn(&a[0])),
        Value::String(s) if s.is_empty() => Err(warn(&a[0])),
        v => Ok(v.clone()),
    });
    f.register("fail", Arity::Exact(1), |a| Err(warn(&a[0])));
    f.register("getHostByName", Arity::Exact(1), |_| Ok(Value::from("")));
    Arc::new(f)
});

fn warn(msg: &Value) -> FuncError {
    let text = msg.as_str().map(str::to_string).unwrap_or_else(|| {
        let mut s = String::new();
        flotilla_template::Template::new("x")
            .parse("{{.}}")
            .and_then(|t| t.execute(msg))
            .map(|o| s = o)
            .ok();
        s
    });
    FuncError::msg(format!("{WARN_START}{text}{WARN_END}"))
}

/// What every chart's templates share: `.Release` and `.Capabilities`.
pub(crate) struct Top {
    pub(crate) release: Value,
    pub(crate) capabilities: Value,
}

struct Renderable {
    text: String,
    vals: Map,
    base_path: String,
}

/// Renders all templates; returns file name → output (partials excluded), as Helm's
/// `Engine.Render`.
pub(crate) fn render(
    chart: &Chart,
    values: &serde_json::Map<String, serde_json::Value>,
    top: &Top,
    limits: Limits,
) -> Result<BTreeMap<String, String>, Error> {
    let mut tpls: BTreeMap<String, Renderable> = BTreeMap::new();
    let root_values = Value::map(
        values
            .iter()
            .map(|(k, v)| (k.clone(), Value::from_json(v)))
            .collect(),
    );
    collect(
        chart,
        &chart.metadata.name,
        true,
        root_values,
        top,
        &mut tpls,
    );

    // Deeper paths first, then reverse lexical order: the parent's definitions are parsed
    // last and win, as in Helm.
    let mut keys: Vec<&String> = tpls.keys().collect();
    keys.sort_by(|a, b| {
        let (ca, cb) = (a.matches('/').count(), b.matches('/').count());
        cb.cmp(&ca).then_with(|| b.cmp(a))
    });
    let sources: Vec<(&str, &str)> = keys
        .iter()
        .map(|name| (name.as_str(), tpls[*name].text.as_str()))
        .collect();
    let set = parsed_set(&sources, limits)?;
    let mut out = BTreeMap::new();
    for name in keys {
        if base_name(name).starts_with('_') {
            continue;
        }
        let r = &tpls[name];
        let mut template = BTreeMap::new();
        template.insert("Name".to_string(), Value::from(name.as_str()));
        template.insert("BasePath".to_string(), Value::from(r.base_path.as_str()));
        r.vals.insert("Template".into(), Value::map(template));
        let text = set
            .execute_template(name, &Value::Map(r.vals.clone()))
            .map_err(|e| Error::Template(format_error(name, &e)))?;
        out.insert(name.clone(), text.replace("<no value>", ""));
    }
    Ok(out)
}

/// The templates `sources` (name, text), parsed into one set in this order. A fleet renders
/// the same chart for many releases, so parsed sets are remembered by their exact sources:
/// executing never changes a set (`tpl` parses into a copy), and a parse error is not
/// remembered.
fn parsed_set(sources: &[(&str, &str)], limits: Limits) -> Result<Arc<Template>, Error> {
    use std::hash::{Hash as _, Hasher as _};
    type Parsed = (Vec<(String, String)>, Limits, Arc<Template>);
    /// Sets kept; the cache is cleared when full (charts of a fleet are few).
    const KEPT: usize = 64;
    static PARSED: LazyLock<std::sync::Mutex<std::collections::HashMap<u64, Parsed>>> =
        LazyLock::new(Default::default);

    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (sources, limits).hash(&mut hasher);
    let key = hasher.finish();
    let same = |kept: &Parsed| {
        kept.1 == limits
            && kept.0.len() == sources.len()
            && kept
                .0
                .iter()
                .zip(sources)
                .all(|((n, t), (n2, t2))| n == n2 && t == t2)
    };
    {
        let parsed = PARSED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(kept) = parsed.get(&key).filter(|kept| same(kept)) {
            return Ok(kept.2.clone());
        }
    }
    let options = Options {
        limits,
        ..Options::default()
    };
    let mut set = Template::new("gotpl")
        .functions(FUNCTIONS.clone())
        .options(options)
        .option("missingkey=zero")
        .map_err(|e| Error::Template(e.to_string()))?;
    for (name, text) in sources {
        set = set
            .parse_named(name, text)
            .map_err(|e| Error::Template(format_error(name, &e)))?;
    }
    let set = Arc::new(set);
    let mut parsed = PARSED.lock().unwrap_or_else(|e| e.into_inner());
    if parsed.len() >= KEPT {
        parsed.clear();
    }
    let owned = sources
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    parsed.insert(key, (owned, limits, set.clone()));
    Ok(set)
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Helm's `recAllTpls`: builds the chart's built-in objects and registers its templates
/// (a library chart contributes only its partials). Returns the chart's object map, which
/// becomes `.Subcharts.<name>` of its parent.
fn collect(
    chart: &Chart,
    full_path: &str,
    is_root: bool,
    values: Value,
    top: &Top,
    tpls: &mut BTreeMap<String, Renderable>,
) -> Value {
    let subcharts = Map::default();
    let mut next = BTreeMap::new();
    next.insert("Chart".to_string(), chart_object(chart, is_root));
    next.insert("Files".to_string(), files_object(&chart.files));
    next.insert("Release".to_string(), top.release.clone());
    next.insert("Capabilities".to_string(), top.capabilities.clone());
    next.insert("Values".to_string(), values.clone());
    next.insert("Subcharts".to_string(), Value::Map(subcharts.clone()));
    let next = Map::new(next);
    for dep in &chart.dependencies {
        let sub_values = match &values {
            Value::Map(m) => match m.get(dep.name()) {
                Some(v @ Value::Map(_)) => v,
                _ => Value::map(BTreeMap::new()),
            },
            _ => Value::map(BTreeMap::new()),
        };
        let child_path = format!("{full_path}/charts/{}", dep.name());
        let child = collect(dep, &child_path, false, sub_values, top, tpls);
        subcharts.insert(dep.name().to_string(), child);
    }
    for t in &chart.templates {
        if chart.is_library() && !base_name(&t.name).starts_with('_') {
            continue;
        }
        tpls.insert(
            format!("{full_path}/{}", t.name),
            Renderable {
                text: String::from_utf8_lossy(&t.data).into_owned(),
                vals: next.clone(),
                base_path: format!("{full_path}/templates"),
            },
        );
    }
    Value::Map(next)
}

/// `.Chart`: the metadata under Go's field names, every field present as Go's
/// struct-to-map conversion gives it.
fn chart_object(chart: &Chart, is_root: bool) -> Value {
    let raw = &chart.metadata.raw;
    let s = |k: &str| -> Value {
        match raw.get(k) {
            Some(serde_json::Value::String(s)) => Value::from(s.as_str()),
            Some(serde_json::Value::Number(n)) => Value::from(n.to_string()),
            _ => Value::from(""),
        }
    };
    let j = |k: &str| raw.get(k).map(Value::from_json).unwrap_or(Value::Nil);
    let mut m = BTreeMap::new();
    m.insert(
        "Name".to_string(),
        Value::from(chart.metadata.name.as_str()),
    );
    m.insert("Home".to_string(), s("home"));
    m.insert("Sources".to_string(), j("sources"));
    m.insert(
        "Version".to_string(),
        Value::from(chart.metadata.version.as_str()),
    );
    m.insert("Description".to_string(), s("description"));
    m.insert("Keywords".to_string(), j("keywords"));
    m.insert(
        "Maintainers".to_string(),
        maintainers(raw.get("maintainers")),
    );
    m.insert("Icon".to_string(), s("icon"));
    m.insert(
        "APIVersion".to_string(),
        Value::from(chart.metadata.api_version.as_str()),
    );
    m.insert("Condition".to_string(), s("condition"));
    m.insert("Tags".to_string(), s("tags"));
    m.insert("AppVersion".to_string(), s("appVersion"));
    m.insert(
        "Deprecated".to_string(),
        Value::Bool(
            raw.get("deprecated")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
        ),
    );
    m.insert("Annotations".to_string(), j("annotations"));
    m.insert("KubeVersion".to_string(), s("kubeVersion"));
    let deps: Vec<Value> = chart
        .metadata
        .dependencies
        .iter()
        .map(|d| {
            let mut dm = BTreeMap::new();
            dm.insert("Name".to_string(), Value::from(d.name.as_str()));
            dm.insert("Version".to_string(), Value::from(d.version.as_str()));
            dm.insert("Repository".to_string(), Value::from(d.repository.as_str()));
            dm.insert("Condition".to_string(), Value::from(d.condition.as_str()));
            dm.insert(
                "Tags".to_string(),
                Value::list(d.tags.iter().map(|t| Value::from(t.as_str())).collect()),
            );
            dm.insert("Enabled".to_string(), Value::Bool(d.enabled));
            dm.insert(
                "ImportValues".to_string(),
                Value::list(d.import_values.iter().map(Value::from_json).collect()),
            );
            dm.insert("Alias".to_string(), Value::from(d.alias.as_str()));
            Value::map(dm)
        })
        .collect();
    m.insert(
        "Dependencies".to_string(),
        if deps.is_empty() {
            Value::Nil
        } else {
            Value::list(deps)
        },
    );
    m.insert("Type".to_string(), s("type"));
    m.insert("IsRoot".to_string(), Value::Bool(is_root));
    Value::map(m)
}

fn maintainers(v: Option<&serde_json::Value>) -> Value {
    let Some(serde_json::Value::Array(list)) = v else {
        return Value::Nil;
    };
    Value::list(
        list.iter()
            .map(|m| {
                let get = |k: &str| {
                    Value::from(m.get(k).and_then(serde_json::Value::as_str).unwrap_or(""))
                };
                let mut mm = BTreeMap::new();
                mm.insert("Name".to_string(), get("name"));
                mm.insert("Email".to_string(), get("email"));
                mm.insert("URL".to_string(), get("url"));
                Value::map(mm)
            })
            .collect(),
    )
}

static FILES_METHODS: LazyLock<Arc<Methods>> = LazyLock::new(|| {
    let mut m = Methods::new();
    m.register("Get", Arity::Exact(1), |f, a| {
        Ok(Value::from(get_file(f, &a[0])?))
    });
    m.register("GetBytes", Arity::Exact(1), |f, a| {
        Ok(Value::from(get_file(f, &a[0])?))
    });
    m.register("Glob", Arity::Exact(1), |f, a| {
        let pattern = a[0].as_str().unwrap_or_default();
        let entries = f
            .entries()
            .into_iter()
            .filter(|(k, _)| files_glob(pattern, k))
            .collect();
        Ok(Value::Map(Map::with_methods(
            entries,
            FILES_METHODS.clone(),
        )))
    });
    m.register("AsConfig", Arity::Exact(0), |f, _| Ok(as_config(f, false)));
    m.register("AsSecrets", Arity::Exact(0), |f, _| Ok(as_config(f, true)));
    m.register("Lines", Arity::Exact(1), |f, a| {
        let s = get_file(f, &a[0])?;
        if s.is_empty() {
            return Ok(Value::list(Vec::new()));
        }
        let s = s.strip_suffix('\n').unwrap_or(&s);
        Ok(Value::list(s.split('\n').map(Value::from).collect()))
    });
    Arc::new(m)
});

/// A file of `.Files`, or "" when the chart has no such file (as Helm). A path that climbs
/// out of the chart or is absolute is refused outright: no chart needs it, and a template
/// trying it is probing for secrets.
fn get_file(files: &Map, name: &Value) -> Result<String, FuncError> {
    let name = name.as_str().unwrap_or_default();
    if name.starts_with('/') || name.split('/').any(|p| p == "..") {
        return Err(FuncError::msg(format!(
            "file {name:?} is outside the chart: .Files reads only the chart's own files"
        )));
    }
    Ok(files
        .get(name)
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default())
}

fn as_config(files: &Map, base64: bool) -> Value {
    if files.is_empty() {
        return Value::from("");
    }
    let mut m = BTreeMap::new();
    for (k, v) in files.entries() {
        let s = v.as_str().unwrap_or_default();
        let s = if base64 {
            base64::engine::general_purpose::STANDARD.encode(s)
        } else {
            s.to_string()
        };
        m.insert(base_name(&k).to_string(), Value::from(s));
    }
    let y = flotilla_template::to_yaml(&Value::map(m));
    Value::from(y.strip_suffix('\n').unwrap_or(&y).to_string())
}

fn files_object(files: &[File]) -> Value {
    let entries = files
        .iter()
        .map(|f| {
            (
                f.name.clone(),
                Value::from(String::from_utf8_lossy(&f.data).into_owned()),
            )
        })
        .collect();
    Value::Map(Map::with_methods(entries, FILES_METHODS.clone()))
}

static API_VERSIONS_METHODS: LazyLock<Arc<Methods>> = LazyLock::new(|| {
    let mut m = Methods::new();
    m.register("Has", Arity::Exact(1), |set, a| {
        Ok(Value::Bool(
            a[0].as_str().is_some_and(|v| set.contains_key(v)),
        ))
    });
    m.register("String", Arity::Exact(0), |set, _| {
        let names: Vec<String> = set.entries().into_iter().map(|(k, _)| k).collect();
        Ok(Value::from(format!("[{}]", names.join(" "))))
    });
    Arc::new(m)
});

static KUBE_VERSION_METHODS: LazyLock<Arc<Methods>> = LazyLock::new(|| {
    let mut m = Methods::new();
    m.register("String", Arity::Exact(0), |kv, _| {
        Ok(kv.get("normalized").unwrap_or_default())
    });
    m.register("GitVersion", Arity::Exact(0), |kv, _| {
        Ok(kv.get("Version").unwrap_or_default())
    });
    Arc::new(m)
});

/// A parsed `--kube-version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KubeVersion {
    pub(crate) version: String,
    pub(crate) normalized: String,
    pub(crate) major: String,
    pub(crate) minor: String,
}

impl KubeVersion {
    /// Parses as Kubernetes' `ParseGeneric` (`1.20`, `v1.20.3`, `1.33.4-gke.1`).
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid kube version '{s}': could not parse {s:?} as version");
        let trimmed = s.trim();
        let body = trimmed.strip_prefix('v').unwrap_or(trimmed);
        let core_end = body
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(body.len());
        let core = &body[..core_end];
        let parts: Vec<&str> = core.split('.').collect();
        if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) || parts.len() > 3 {
            return Err(bad());
        }
        let nums: Vec<u64> = parts
            .iter()
            .map(|p| p.parse().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        let patch = nums.get(2).copied().unwrap_or(0);
        Ok(KubeVersion {
            version: if trimmed.starts_with('v') {
                trimmed.to_string()
            } else {
                format!("v{trimmed}")
            },
            normalized: format!("v{}.{}.{patch}", nums[0], nums[1]),
            major: nums[0].to_string(),
            minor: nums[1].to_string(),
        })
    }
}

/// `.Capabilities` for `helm template`: the given Kubernetes version and API versions,
/// and Helm's build information.
pub(crate) fn capabilities(kube: &KubeVersion, api_versions: &[String]) -> Value {
    let mut kv = BTreeMap::new();
    kv.insert("Version".to_string(), Value::from(kube.version.as_str()));
    kv.insert("Major".to_string(), Value::from(kube.major.as_str()));
    kv.insert("Minor".to_string(), Value::from(kube.minor.as_str()));
    // Go keeps the normalized form in an unexported field; ours is hidden behind String.
    kv.insert(
        "normalized".to_string(),
        Value::from(kube.normalized.as_str()),
    );
    let apis = api_versions
        .iter()
        .map(|v| (v.clone(), Value::Bool(true)))
        .collect();
    let mut helm = BTreeMap::new();
    helm.insert("Version".to_string(), Value::from(super::HELM_VERSION));
    helm.insert("GitCommit".to_string(), Value::from(""));
    helm.insert("GitTreeState".to_string(), Value::from(""));
    helm.insert("GoVersion".to_string(), Value::from(""));
    let mut caps = BTreeMap::new();
    caps.insert(
        "KubeVersion".to_string(),
        Value::Map(Map::with_methods(kv, KUBE_VERSION_METHODS.clone())),
    );
    caps.insert(
        "APIVersions".to_string(),
        Value::Map(Map::with_methods(apis, API_VERSIONS_METHODS.clone())),
    );
    caps.insert("HelmVersion".to_string(), Value::map(helm));
    Value::map(caps)
}

/// Formats a template error as Helm's engine does (`parse error at (file:line): …`,
/// `execution error at (file:line:col): <required/fail message>`, or the traced form).
fn format_error(file: &str, e: &TplError) -> String {
    match e {
        TplError::Parse {
            name,
            line,
            message,
            ..
        } => {
            let last = message.rsplit(": ").next().unwrap_or(message);
            format!("parse error at ({name}:{line}): {last}")
        }
        TplError::Exec {
            name,
            line,
            column,
            template,
            context,
            message,
        } => {
            if let (Some(s), Some(end)) = (message.find(WARN_START), message.rfind(WARN_END)) {
                let start = s + WARN_START.len();
                if start <= end {
                    return format!(
                        "execution error at ({name}:{line}:{column}): {}",
                        &message[start..end]
                    );
                }
            }
            if message.starts_with("error calling ") {
                return e.to_string();
            }
            format!(
                "{name}:{line}:{column}\n  executing {template:?} at <{context}>:\n    {message}"
            )
        }
        TplError::Limit {
            name,
            line,
            column,
            limit,
            ..
        } => format!(
            "rendering template has a nested reference name or is too large: {name}:{line}:{column}: {limit}"
        ),
        other => format!("execution error in ({file}): {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_sets_are_shared_only_between_identical_sources() {
        let limits = Limits::default();
        let a = [("c/templates/a.yaml", "name: {{ .Release.Name }}")];
        let first = parsed_set(&a, limits).unwrap();
        assert!(Arc::ptr_eq(&first, &parsed_set(&a, limits).unwrap()));
        let b = [("c/templates/a.yaml", "name: {{ .Release.Namespace }}")];
        let other = parsed_set(&b, limits).unwrap();
        assert!(!Arc::ptr_eq(&first, &other));
        let data = Value::map(
            [(
                "Release".to_string(),
                Value::map(
                    [
                        ("Name".to_string(), Value::from("web")),
                        ("Namespace".to_string(), Value::from("shop")),
                    ]
                    .into(),
                ),
            )]
            .into(),
        );
        assert_eq!(first.execute_template(a[0].0, &data).unwrap(), "name: web");
        assert_eq!(other.execute_template(b[0].0, &data).unwrap(), "name: shop");
        // A broken template fails every time: errors are not remembered as sets.
        let broken = [("c/templates/a.yaml", "{{ if }}")];
        assert!(parsed_set(&broken, limits).is_err());
        assert!(parsed_set(&broken, limits).is_err());
    }

    #[test]
    fn kube_versions_parse_as_helm() {
        let k = KubeVersion::parse("1.16.0").unwrap();
        assert_eq!(
            (k.version.as_str(), k.major.as_str(), k.minor.as_str()),
            ("v1.16.0", "1", "16")
        );
        let k = KubeVersion::parse("v1.33.4-gke.1245000").unwrap();
        assert_eq!(
            (k.version.as_str(), k.normalized.as_str()),
            ("v1.33.4-gke.1245000", "v1.33.4")
        );
        assert!(KubeVersion::parse("banana").is_err());
        assert!(KubeVersion::parse("1").is_err());
    }
}
