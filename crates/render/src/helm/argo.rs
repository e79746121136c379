//! Argo CD's Application `spec.source.helm` mapped onto [`RenderOptions`], as Argo CD's
//! repo-server turns it into a `helm template` command line:
//!
//! * `releaseName` (default: the Application's name), `namespace` (default: the
//!   destination namespace), `kubeVersion`/`apiVersions` (default: the cluster's);
//! * `valueFiles` in order — relative to the chart's directory, may climb to anywhere in
//!   the repository (`../../envs/prod.yaml`), absolute paths are taken from the repository
//!   root, never outside it; `ignoreMissingValueFiles` skips absent ones;
//! * then `valuesObject` (or, without it, `values`) as one more values file;
//! * `parameters` as `--set` (or `--set-string` with `forceString`), commas escaped as
//!   Argo CD does; `fileParameters` as `--set-file` read from the repository;
//! * `skipCrds` (Argo CD passes `--include-crds` otherwise), `skipTests`,
//!   `skipSchemaValidation`.
//!
//! In a multi-source Application, a value file or file parameter written `$name/path`
//! is read from the root of the source whose `ref` is `name` ([`RefTrees`]); with a
//! single source such a path is an ordinary relative one, as in Argo CD. Remote value
//! files (URLs) need a fetcher and are refused here.

use super::{Error, FileReader, RenderOptions, Rendered, ValuesFile};
use crate::kustomize::{Tree, TreeError, join};
use serde::Deserialize;
use std::sync::Arc;

/// `spec.source.helm` of an Argo CD Application (the fields that affect rendering).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HelmSource {
    /// Values files, relative to the chart directory.
    pub value_files: Vec<String>,
    /// Inline values (YAML text).
    pub values: String,
    /// Inline values as an object; wins over `values`.
    pub values_object: Option<serde_json::Value>,
    /// `--set` parameters.
    pub parameters: Vec<Parameter>,
    /// `--set-file` parameters.
    pub file_parameters: Vec<FileParameter>,
    /// Release name.
    pub release_name: String,
    /// Leave CRDs out.
    pub skip_crds: bool,
    /// Leave test hooks out.
    pub skip_tests: bool,
    /// Do not validate values against `values.schema.json`.
    pub skip_schema_validation: bool,
    /// Skip value files that do not exist.
    pub ignore_missing_value_files: bool,
    /// Kubernetes version to render for.
    pub kube_version: String,
    /// Extra API versions.
    pub api_versions: Vec<String>,
    /// Namespace to render into.
    pub namespace: String,
}

/// One `parameters` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Parameter {
    /// Values path (`image.tag`).
    pub name: String,
    /// Value.
    pub value: String,
    /// Pass with `--set-string`.
    pub force_string: bool,
}

/// One `fileParameters` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FileParameter {
    /// Values path.
    pub name: String,
    /// File, relative to the chart directory.
    pub path: String,
}

/// What the Application says besides `source.helm`.
#[derive(Debug, Clone, Default)]
pub struct AppContext {
    /// `metadata.name` (the default release name).
    pub app_name: String,
    /// `spec.destination.namespace`.
    pub namespace: String,
    /// The destination cluster's Kubernetes version, if known.
    pub kube_version: Option<String>,
    /// The destination cluster's API versions, if known.
    pub api_versions: Vec<String>,
    /// Argo CD's build environment (`ARGOCD_APP_NAME`, `ARGOCD_APP_REVISION`, …),
    /// expanded in value file and file parameter paths and in parameter values; `None`
    /// outside an Application (nothing is expanded).
    pub env: Option<Vec<(String, String)>>,
}

/// Go's `os.Expand` as Argo CD's `Env.Envsubst` calls it: `$NAME` and `${NAME}` are the
/// variable's value (nothing when it is not set), `$$` is `$`, a `$` before anything
/// that cannot start a name stays.
pub fn envsubst(s: &str, env: &[(String, String)]) -> String {
    let bytes = s.as_bytes();
    let lookup = |name: &str| -> String {
        if name == "$" {
            return "$".into();
        }
        env.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let special = |c: u8| b"*#$@!?-0123456789".contains(&c);
    let alnum = |c: u8| c == b'_' || c.is_ascii_alphanumeric();
    let mut out = String::with_capacity(s.len());
    let (mut i, mut j) = (0, 0);
    while j < bytes.len() {
        if bytes[j] == b'$' && j + 1 < bytes.len() {
            out.push_str(&s[i..j]);
            let rest = &bytes[j + 1..];
            // (name, width consumed after the `$`), as Go's getShellName.
            let (name, width): (Option<&str>, usize) = if rest[0] == b'{' {
                if rest.len() > 2 && special(rest[1]) && rest[2] == b'}' {
                    (Some(&s[j + 2..j + 3]), 3)
                } else {
                    match rest.iter().skip(1).position(|&c| c == b'}') {
                        Some(0) => (None, 2),
                        Some(k) => (Some(&s[j + 2..j + 2 + k]), k + 2),
                        None => (None, 1),
                    }
                }
            } else if special(rest[0]) {
                (Some(&s[j + 1..j + 2]), 1)
            } else {
                let n = rest.iter().take_while(|&&c| alnum(c)).count();
                (
                    if n == 0 {
                        None
                    } else {
                        Some(&s[j + 1..j + 1 + n])
                    },
                    n,
                )
            };
            match name {
                Some(name) => out.push_str(&lookup(name)),
                // `$` not followed by a name stays; bad `${` syntax is eaten.
                None if width == 0 => out.push('$'),
                None => {}
            }
            j += width;
            i = j + 1;
        }
        j += 1;
    }
    out.push_str(&s[i.min(s.len())..]);
    out
}

/// Parses `spec.source.helm` from JSON.
pub fn parse_source(helm: &serde_json::Value) -> Result<HelmSource, Error> {
    HelmSource::deserialize(helm).map_err(|e| Error::Options(format!("spec.source.helm: {e}")))
}

/// The `ref` sources of a multi-source Application by `$name` (Argo CD's
/// `RefTargetRevisionMapping`), each with its repository tree; `None` for an
/// Application with a single source.
pub type RefTrees<'a> = Option<&'a [(String, &'a dyn Tree)]>;

/// Resolves a file named by the Application: relative to the chart directory, absolute
/// from the repository root, never outside the repository; URLs refused.
fn resolve(chart_path: &str, file: &str) -> Result<String, Error> {
    if file.contains("://") {
        return Err(Error::Options(format!(
            "value file {file:?}: remote value files are not supported (no network access while rendering)"
        )));
    }
    Ok(match file.strip_prefix('/') {
        Some(abs) => join("", abs)?,
        None => join(chart_path, file)?,
    })
}

/// Where a file the Application names is read: `$name/path` from the root of the ref
/// source `name` (never outside it) when there are multiple sources, else [`resolve`]d
/// in the chart's own repository. An unknown `$name` is Argo CD's error.
fn locate<'t>(
    tree: &'t dyn Tree,
    chart_path: &str,
    file: &str,
    refs: RefTrees<'t>,
    env: Option<&[(String, String)]>,
) -> Result<(&'t dyn Tree, String), Error> {
    let expand = |text: &str| match env {
        Some(env) => envsubst(text, env),
        None => text.to_string(),
    };
    let Some(refs) = refs.filter(|_| file.starts_with('$')) else {
        return Ok((tree, resolve(chart_path, &expand(file))?));
    };
    let (name, rest) = file.split_once('/').unwrap_or((file, ""));
    match refs.iter().find(|(n, _)| n == name) {
        // The name is taken before the environment is expanded (Argo CD's order).
        Some((_, source)) => Ok((*source, join("", expand(rest).trim_start_matches('/'))?)),
        None if refs.is_empty() => Err(Error::Options(format!(
            "source referenced {name:?}, but no source has a 'ref' field defined"
        ))),
        None => {
            let mut names: Vec<&str> = refs.iter().map(|(n, _)| n.as_str()).collect();
            names.sort_unstable();
            Err(Error::Options(format!(
                "source referenced {name:?}, which is not one of the available sources ({})",
                names.join(", ")
            )))
        }
    }
}

/// Argo CD's `cleanSetParameters`: commas in a value are escaped unless the value is a
/// `{a,b}` list.
fn escape_commas(v: &str) -> String {
    if v.starts_with('{') && v.ends_with('}') {
        return v.to_string();
    }
    let mut out = String::with_capacity(v.len());
    let mut prev_backslash = false;
    for c in v.chars() {
        if c == ',' && !prev_backslash {
            out.push('\\');
        }
        prev_backslash = c == '\\';
        out.push(c);
    }
    out
}

/// Maps `source.helm` onto render options, reading value files from `tree` (the whole
/// repository; `chart_path` is the chart's directory in it) or from the ref sources.
pub fn options(
    tree: &dyn Tree,
    chart_path: &str,
    helm: &HelmSource,
    app: &AppContext,
    refs: RefTrees<'_>,
) -> Result<RenderOptions, Error> {
    let mut o = RenderOptions {
        release_name: if helm.release_name.is_empty() {
            app.app_name.clone()
        } else {
            helm.release_name.clone()
        },
        ..RenderOptions::default()
    };
    if !helm.namespace.is_empty() {
        o.namespace = helm.namespace.clone();
    } else if !app.namespace.is_empty() {
        o.namespace = app.namespace.clone();
    }
    o.kube_version = if helm.kube_version.is_empty() {
        app.kube_version.clone()
    } else {
        Some(helm.kube_version.clone())
    };
    o.api_versions = if helm.api_versions.is_empty() {
        app.api_versions.clone()
    } else {
        helm.api_versions.clone()
    };
    let env = app.env.as_deref();
    o.include_crds = !helm.skip_crds;
    o.skip_tests = helm.skip_tests;
    o.skip_schema_validation = helm.skip_schema_validation;
    for f in &helm.value_files {
        let (source, path) = locate(tree, chart_path, f, refs, env)?;
        match source.read(&path) {
            Ok(data) => o.values.files.push(ValuesFile { name: path, data }),
            Err(TreeError::NotFound { .. }) if helm.ignore_missing_value_files => {}
            Err(e) => return Err(e.into()),
        }
    }
    let inline = match &helm.values_object {
        Some(obj) if !obj.is_null() => Some(serde_json::to_string(obj).unwrap_or_default()),
        _ if !helm.values.trim().is_empty() => Some(helm.values.clone()),
        _ => None,
    };
    if let Some(text) = inline {
        o.values.files.push(ValuesFile {
            name: "spec.source.helm.values".into(),
            data: text.into_bytes(),
        });
    }
    for p in &helm.parameters {
        let value = match env {
            Some(env) => envsubst(&p.value, env),
            None => p.value.clone(),
        };
        let arg = format!("{}={}", p.name, escape_commas(&value));
        if p.force_string {
            o.values.set_string.push(arg);
        } else {
            o.values.set.push(arg);
        }
    }
    if !helm.file_parameters.is_empty() {
        let mut contents = std::collections::HashMap::new();
        for fp in &helm.file_parameters {
            let (source, path) = locate(tree, chart_path, &fp.path, refs, env)?;
            let data = source.read(&path)?;
            // Keyed as written: two ref sources may hold the same path.
            contents.insert(fp.path.clone(), data);
            o.values.set_file.push(format!("{}={}", fp.name, fp.path));
        }
        let contents = Arc::new(contents);
        let reader: FileReader = Arc::new(move |p: &str| {
            contents
                .get(p)
                .cloned()
                .ok_or_else(|| format!("{p}: not found"))
        });
        o.values.file_reader = Some(reader);
    }
    Ok(o)
}

/// Renders the chart at `chart_path` of the repository `tree` as Argo CD would for an
/// Application with this `source.helm`.
pub fn render(
    tree: &dyn Tree,
    chart_path: &str,
    helm: &HelmSource,
    app: &AppContext,
) -> Result<Rendered, Error> {
    render_loaded(
        tree,
        chart_path,
        super::load(tree, chart_path)?,
        helm,
        app,
        None,
    )
}

/// [`render`] of a chart already loaded from `chart_path` of `tree` (value files are
/// still read from `tree`, or from the ref sources of a multi-source Application).
pub fn render_loaded(
    tree: &dyn Tree,
    chart_path: &str,
    chart: super::Chart,
    helm: &HelmSource,
    app: &AppContext,
    refs: RefTrees<'_>,
) -> Result<Rendered, Error> {
    let opts = options(tree, chart_path, helm, app, refs)?;
    super::render_chart(chart, &opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_are_escaped_except_in_lists() {
        assert_eq!(escape_commas("a,b"), "a\\,b");
        assert_eq!(escape_commas("a\\,b"), "a\\,b");
        assert_eq!(escape_commas("{a,b}"), "{a,b}");
    }

    #[test]
    fn value_files_resolve_inside_the_repository_only() {
        assert_eq!(
            resolve("apps/web", "../../envs/prod.yaml").unwrap(),
            "envs/prod.yaml"
        );
        assert_eq!(
            resolve("apps/web", "/envs/prod.yaml").unwrap(),
            "envs/prod.yaml"
        );
        assert!(resolve("apps/web", "../../../etc/passwd").is_err());
        assert!(resolve("apps/web", "https://example.com/v.yaml").is_err());
    }

    /// Expected values printed by Go's `os.Expand` with Argo CD's mapping.
    #[test]
    fn the_build_environment_expands_as_go_does() {
        let env = vec![
            ("ARGOCD_APP_NAME".to_string(), "web".to_string()),
            ("A".to_string(), "x".to_string()),
        ];
        for (text, go) in [
            ("values-$ARGOCD_APP_NAME.yaml", "values-web.yaml"),
            ("${ARGOCD_APP_NAME}-v.yaml", "web-v.yaml"),
            ("$$keep", "$keep"),
            ("$UNKNOWN/x", "/x"),
            ("a$", "a$"),
            ("${}", ""),
            ("${A", "A"),
            ("$1x", "x"),
            ("${A}b$A-c", "xbx-c"),
            ("$-x", "x"),
            ("pre$ARGOCD_APP_NAME_x", "pre"),
            ("cost: $5", "cost: "),
            ("$values/x.yaml", "/x.yaml"),
            ("100%$", "100%$"),
            ("plain", "plain"),
        ] {
            assert_eq!(envsubst(text, &env), go, "{text}");
        }
    }

    #[test]
    fn ref_paths_read_the_ref_sources_root_with_multiple_sources_only() {
        use crate::kustomize::MemTree;
        let own = MemTree::from_files([("apps/web/$values/v.yaml", "own")]);
        let values = MemTree::from_files([("envs/prod.yaml", "prod")]);
        let refs: Vec<(String, &dyn Tree)> = vec![("$values".into(), &values)];
        let read = |file: &str, refs: RefTrees<'_>| {
            locate(&own, "apps/web", file, refs, None).and_then(|(t, p)| Ok(t.read(&p)?))
        };
        assert_eq!(
            read("$values/envs/prod.yaml", Some(&refs)).unwrap(),
            b"prod"
        );
        assert_eq!(
            read("$values//envs/prod.yaml", Some(&refs)).unwrap(),
            b"prod"
        );
        // One source: an ordinary path in the chart's repository.
        assert_eq!(read("$values/v.yaml", None).unwrap(), b"own");
        assert!(
            read("$values/../../etc/passwd", Some(&refs)).is_err(),
            "never out of the ref source"
        );
        let unknown = read("$other/v.yaml", Some(&refs)).unwrap_err().to_string();
        assert!(
            unknown.ends_with(
                "source referenced \"$other\", which is not one of the available sources ($values)"
            ),
            "{unknown}"
        );
        let none = read("$values/v.yaml", Some(&[])).unwrap_err().to_string();
        assert!(
            none.ends_with(
                "source referenced \"$values\", but no source has a 'ref' field defined"
            ),
            "{none}"
        );
    }
}
