//! Flux `HelmChart` (source.toolkit.fluxcd.io/v1), as source-controller reconciles it.
//!
//! From a HelmRepository of type `default`: the version chosen from the index that
//! repository stored (an exact string first, else the highest version a Masterminds
//! constraint admits, pre-releases only when it names one, equal versions by their
//! `created` time), downloaded with the repository's credentials. From one of type
//! `oci`: `<url>/<chart>` pulled from the registry (a version is the tag, a range picks
//! among the tags). From a GitRepository: the chart directory (or packaged `.tgz`)
//! `spec.chart` of its artifact, joined as `securejoin` does (never above the root),
//! with `reconcileStrategy: Revision` putting the commit in the version's metadata.
//! `valuesFiles` are merged into the chart's `values.yaml` and the generation goes into
//! the version's metadata (`6.0.3+1`), as upstream repackages the chart. The chart's
//! files are kept at the root of the HelmChart's artifact tree for the HelmReleases.
//!
//! Deviations: nothing is served (`flotilla://` URLs); a chart that is packaged (values
//! merged, a Git directory, version metadata) is not turned into a `.tgz`, so its
//! `artifact.digest` is a sha256 over the tree's files in path order (each as path, NUL,
//! length, NUL, bytes) and it has no `size`; a downloaded package is checked against
//! the digest the index gives; remote chart dependencies of Git charts are not fetched
//! (refused by name; `file://` ones and vendored `charts/` work); no finalizer, no
//! requeue jitter. Signature verification and Bucket sources are refused (Stalled).

use flotilla_core::pointer::Pointer as _;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use flotilla_render::helm::{self as helm, Chart, Table};
use flotilla_render::kustomize::{EntryKind, MemTree, Tree, join};
use flotilla_source::helm_repo::{self, ChartVersion};
use flotilla_source::oci::{self, Access, RepositoryReference};
use flotilla_source::{Constraint, Credentials, Tls, Version};
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::GroupVersionKind;
use serde::Deserialize;
use serde_json::{Value, json};

use super::conditions::Conditions;
use super::conditions::{Failed, failed, stalled};
use super::helm_repository::{
    HelmRepositorySpec, StoredIndex, normalize_url, progressing, reconcile_storage,
    unsupported_repository,
};
use super::oci_repository::artifact_key;
use super::{FluxReconciler, Outcome, SOURCE_GROUP, events, generation_of};
use crate::controller::object_key;
use crate::lock;
use crate::sources::SourceTree;

/// The HelmChart resource (`source.toolkit.fluxcd.io/v1`).
pub fn helm_chart_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(SOURCE_GROUP, "v1", "HelmChart"),
        "helmcharts",
    )
}

/// The largest chart package downloaded.
const MAX_CHART_BYTES: usize = helm_repo::MAX_CHART_BYTES;

/// `spec` of a HelmChart.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct HelmChartSpec {
    chart: String,
    version: String,
    source_ref: SourceRef,
    interval: String,
    reconcile_strategy: String,
    values_files: Vec<String>,
    ignore_missing_values_files: bool,
    suspend: bool,
    verify: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct SourceRef {
    kind: String,
    name: String,
}

impl HelmChartSpec {
    /// `GetValuesFiles()`: none when the list is exactly the chart's own `values.yaml`.
    fn values_files(&self) -> Vec<String> {
        match self.values_files.as_slice() {
            [only] if join("", only).is_ok_and(|p| p == "values.yaml") => Vec::new(),
            files => files.to_vec(),
        }
    }
}

/// source-controller's `BuildErrorReason`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BuildReason {
    ChartReference,
    ChartPull,
    MetadataPatch,
    ValuesFiles,
    DependencyBuild,
    ChartPackage,
}

impl BuildReason {
    fn reason(self) -> &'static str {
        match self {
            BuildReason::ChartReference => "InvalidChartReference",
            BuildReason::ChartPull => "ChartPullError",
            BuildReason::MetadataPatch => "MetadataPatchError",
            BuildReason::ValuesFiles => "ValuesFilesError",
            BuildReason::DependencyBuild => "DependencyBuildError",
            BuildReason::ChartPackage => "ChartPackageError",
        }
    }

    fn summary(self) -> &'static str {
        match self {
            BuildReason::ChartReference => "invalid chart reference",
            BuildReason::ChartPull => "chart pull error",
            BuildReason::MetadataPatch => "chart metadata patch error",
            BuildReason::ValuesFiles => "values files merge error",
            BuildReason::DependencyBuild => "dependency build error",
            BuildReason::ChartPackage => "chart package error",
        }
    }

    /// Errors only a spec change can fix (Stalled).
    fn persistent(self) -> bool {
        matches!(
            self,
            BuildReason::ChartReference | BuildReason::MetadataPatch | BuildReason::ValuesFiles
        )
    }

    /// Reported as BuildFailed rather than FetchFailed.
    fn is_build_failure(self) -> bool {
        matches!(
            self,
            BuildReason::MetadataPatch
                | BuildReason::ValuesFiles
                | BuildReason::DependencyBuild
                | BuildReason::ChartPackage
        )
    }
}

/// Why a chart could not be built.
#[derive(Debug)]
enum ChartFailure {
    /// A `BuildError`; `known` is the chart's name and version when they were resolved.
    Build {
        reason: BuildReason,
        error: String,
        known: Option<(String, String)>,
    },
    /// Any other error of the build step (credentials, client): upstream's observation
    /// reports it as FetchFailed `Unknown`, while Stalled and the event keep its reason.
    Other(Failed),
}

fn build_error(reason: BuildReason, error: impl Into<String>) -> ChartFailure {
    ChartFailure::Build {
        reason,
        error: error.into(),
        known: None,
    }
}

impl ChartFailure {
    fn known(self, name: &str, version: &str) -> ChartFailure {
        match self {
            ChartFailure::Build { reason, error, .. } => ChartFailure::Build {
                reason,
                error,
                known: Some((name.to_string(), version.to_string())),
            },
            other => other,
        }
    }
}

/// A built chart.
#[derive(Debug)]
struct Build {
    name: String,
    version: String,
    packaged: bool,
    /// The values files merged (reported in the summary).
    values_files: Vec<String>,
    /// The new artifact; `None` when the stored one is still it.
    artifact: Option<Built>,
    /// Chart dependencies resolved from the source.
    resolved_dependencies: usize,
}

#[derive(Debug)]
struct Built {
    files: Vec<(String, Vec<u8>)>,
    digest: String,
    size: Option<usize>,
}

/// `Build.Summary()`.
fn summary(action: &str, name: &str, version: &str, values_files: &[String]) -> String {
    let mut s = format!("{action} '{name}' chart with version '{version}'");
    if !values_files.is_empty() {
        s.push_str(&format!(
            " and merged values files [{}]",
            values_files.join(" ")
        ));
    }
    s
}

impl Build {
    fn summary(&self) -> String {
        let action = if self.packaged { "packaged" } else { "pulled" };
        summary(action, &self.name, &self.version, &self.values_files)
    }
}

/// fluxcd/pkg `version.ParseVersion`: Masterminds' strict form (three numeric parts, no
/// leading zeros) with an optional `v` in front.
fn strict_version(text: &str) -> Option<Version> {
    let bare = text.strip_prefix('v').unwrap_or(text);
    let (rest, build) = match bare.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (bare, None),
    };
    let core = rest.split_once('-').map_or(rest, |(c, _)| c);
    let parts: Vec<&str> = core.split('.').collect();
    let numeric = |p: &&str| {
        !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p.len() == 1 || !p.starts_with('0'))
    };
    if parts.len() != 3 || !parts.iter().all(numeric) {
        return None;
    }
    if let Some(build) = build
        && (build.is_empty()
            || !build.split('.').all(|id| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }))
    {
        return None;
    }
    Version::parse(rest)
}

/// Why no version was chosen.
#[derive(Debug, PartialEq, Eq)]
enum Choice {
    /// The wanted version is neither listed nor a constraint.
    Improper,
    /// Nothing matches.
    NoMatch,
}

/// source-controller's choice among `(version, created)`: the entry whose version is
/// `wanted` exactly, else the highest strict version the constraint (`*` when empty)
/// admits, pre-releases only when it names one; equal versions (build metadata aside)
/// go to the later `created`. Returns the index chosen.
fn choose_version(candidates: &[(&str, &str)], wanted: &str) -> Result<usize, Choice> {
    if !wanted.is_empty()
        && let Some(i) = candidates.iter().position(|(v, _)| *v == wanted)
    {
        return Ok(i);
    }
    let expr = if wanted.is_empty() { "*" } else { wanted };
    let constraint = Constraint::parse(expr).map_err(|_| Choice::Improper)?;
    candidates
        .iter()
        .enumerate()
        .filter_map(|(i, (v, created))| Some((strict_version(v)?, *created, i)))
        .filter(|(v, _, _)| constraint.matches(v))
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)))
        .map(|(_, _, i)| i)
        .ok_or(Choice::NoMatch)
}

/// The version chosen from an index: `getChartVersion`'s errors.
fn choose_from_index<'a>(
    index: &'a StoredIndex,
    name: &str,
    wanted: &str,
) -> Result<&'a ChartVersion, String> {
    let versions = index.charts.get(name).ok_or("no chart name found")?;
    if versions.is_empty() {
        return Err("no chart version found".into());
    }
    let candidates: Vec<(&str, &str)> = versions
        .iter()
        .map(|v| (v.version.as_str(), v.created.as_str()))
        .collect();
    match choose_version(&candidates, wanted) {
        Ok(i) => Ok(&versions[i]),
        Err(Choice::Improper) => Err(format!("improper constraint: {wanted}")),
        Err(Choice::NoMatch) => Err(format!(
            "no '{name}' chart with version matching '{wanted}' found"
        )),
    }
}

/// Masterminds `SetMetadata`: the version as Masterminds prints it (no `v`, three parts)
/// with `metadata` as its only build metadata.
fn with_metadata(version: &str, metadata: &str) -> Result<String, String> {
    if Version::parse(version).is_none() {
        return Err(
            "failed to parse version from chart metadata as SemVer: Invalid Semantic Version"
                .into(),
        );
    }
    if metadata.is_empty()
        || !metadata
            .split('.')
            .all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    {
        return Err(
            "failed to set SemVer metadata on chart version: Invalid Metadata string".into(),
        );
    }
    let bare = version.strip_prefix('v').unwrap_or(version);
    let bare = bare.split_once('+').map_or(bare, |(v, _)| v);
    let (core, pre) = match bare.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (bare, None),
    };
    let mut parts: Vec<String> = core
        .split('.')
        .map(|p| p.parse::<u64>().map(|n| n.to_string()).unwrap_or_default())
        .collect();
    parts.resize(3, "0".to_string());
    let mut out = parts.join(".");
    if let Some(pre) = pre {
        out.push('-');
        out.push_str(pre);
    }
    out.push('+');
    out.push_str(metadata);
    Ok(out)
}

/// The version metadata of a chart from a Git (or Bucket) artifact: with the Revision
/// strategy the first 12 characters of the revision's hash, then `.<generation>` when
/// values files are merged (or the generation alone).
fn local_metadata(
    revision_strategy: bool,
    source_revision: &str,
    values_files: bool,
    generation: i64,
) -> Option<String> {
    let mut metadata = String::new();
    if revision_strategy {
        let hash = source_revision
            .rsplit_once('@')
            .map_or(source_revision, |(_, h)| h);
        let hash = hash.rsplit_once(':').map_or(hash, |(_, h)| h);
        metadata = hash.chars().take(12).collect();
    }
    if values_files {
        if metadata.is_empty() {
            metadata = generation.to_string();
        } else {
            metadata = format!("{metadata}.{generation}");
        }
    }
    (!metadata.is_empty()).then_some(metadata)
}

/// `securejoin.SecureJoin` on a tree: `..` never climbs above the root, `.` and empty
/// parts vanish. The result is relative (`""` for the root).
fn secure_join(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// Every file under `dir` of `tree`, relative to it, in path order.
fn files_under(tree: &dyn Tree, dir: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    fn walk(
        tree: &dyn Tree,
        root: &str,
        rel: &str,
        out: &mut Vec<(String, Vec<u8>)>,
    ) -> Result<(), String> {
        let here = join(root, rel).map_err(|e| e.to_string())?;
        for (name, kind) in tree.list(&here).map_err(|e| e.to_string())? {
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            match kind {
                EntryKind::Dir => walk(tree, root, &child, out)?,
                EntryKind::File => {
                    let path = join(root, &child).map_err(|e| e.to_string())?;
                    out.push((child, tree.read(&path).map_err(|e| e.to_string())?));
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(tree, dir, "", &mut out)?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// sha256 over files in path order: each as path, NUL, length, NUL, contents.
fn tree_digest(files: &[(String, Vec<u8>)]) -> String {
    let mut sorted: Vec<&(String, Vec<u8>)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut all = Vec::new();
    for (path, bytes) in sorted {
        all.extend_from_slice(path.as_bytes());
        all.push(0);
        all.extend_from_slice(bytes.len().to_string().as_bytes());
        all.push(0);
        all.extend_from_slice(bytes);
    }
    format!("sha256:{}", flotilla_source::sha256_hex(&all))
}

/// Values from one file, as `yaml.Unmarshal` into a map reads them.
fn parse_values_file(path: &str, data: &[u8]) -> Result<Table, String> {
    helm::read_values(&String::from_utf8_lossy(data))
        .map_err(|e| format!("unmarshaling values from '{path}' failed: {e}"))
}

/// `mergeChartValues`: the files of a downloaded chart merged in order, `values.yaml`
/// the chart's own values. Returns the merged values and the files that took part.
fn merge_chart_values(
    chart: &Chart,
    paths: &[String],
    ignore_missing: bool,
) -> Result<(Table, Vec<String>), String> {
    let mut merged = Table::new();
    let mut used = Vec::new();
    for p in paths {
        let clean = join("", p).unwrap_or_else(|_| p.clone());
        if clean == "values.yaml" {
            merged = helm::merge_values(merged, chart.values.clone());
            used.push(p.clone());
            continue;
        }
        let Some(file) = chart.files.iter().find(|f| f.name == clean) else {
            if ignore_missing {
                continue;
            }
            return Err(format!("no values file found at path '{p}'"));
        };
        merged = helm::merge_values(merged, parse_values_file(p, &file.data)?);
        used.push(p.clone());
    }
    Ok((merged, used))
}

/// `mergeFileValues`: files of the source (paths from its root, never above it).
fn merge_source_values(
    tree: &dyn Tree,
    paths: &[String],
    ignore_missing: bool,
) -> Result<(Table, Vec<String>), String> {
    let mut merged = Table::new();
    let mut used = Vec::new();
    for p in paths {
        let joined = secure_join(p);
        match tree.entry(&joined) {
            Ok(Some(EntryKind::File)) => {}
            Ok(None) if ignore_missing => continue,
            _ => {
                return Err(format!(
                    "no values file found at path '/{joined}' (reference '{p}')"
                ));
            }
        }
        let data = tree
            .read(&joined)
            .map_err(|e| format!("could not read values from file '{p}': {e}"))?;
        merged = helm::merge_values(merged, parse_values_file(p, &data)?);
        used.push(p.clone());
    }
    Ok((merged, used))
}

/// `OverwriteChartDefaultValues`: `values.yaml` replaced by the merged values as YAML,
/// unless it already reads exactly so. Whether it changed.
fn overwrite_values(files: &mut [(String, Vec<u8>)], merged: &Table) -> Result<bool, String> {
    let yaml = if merged.is_empty() {
        Vec::new()
    } else {
        flotilla_render::kustomize::to_yaml(&Value::Object(merged.clone())).into_bytes()
    };
    let Some((_, data)) = files.iter_mut().find(|(p, _)| p == "values.yaml") else {
        return Err("failed to locate values file: values.yaml".into());
    };
    if *data == yaml {
        return Ok(false);
    }
    *data = yaml;
    Ok(true)
}

/// `Chart.yaml` with its version set to `version` (the chart repackaged).
fn set_chart_version(
    files: &mut [(String, Vec<u8>)],
    chart: &Chart,
    version: &str,
) -> Result<(), String> {
    if chart.metadata.version == version {
        return Ok(());
    }
    let mut raw = chart.metadata.raw.clone();
    raw.insert("version".into(), json!(version));
    let yaml = flotilla_render::kustomize::to_yaml(&Value::Object(raw));
    match files.iter_mut().find(|(p, _)| p == "Chart.yaml") {
        Some((_, data)) => *data = yaml.into_bytes(),
        None => return Err("Chart.yaml file is missing".into()),
    }
    Ok(())
}

/// Helm's `Metadata.Validate` for what the loader does not check.
fn validate_metadata(chart: &Chart) -> Result<(), String> {
    if chart.metadata.name.is_empty() {
        return Err("validation: chart.metadata.name is required".into());
    }
    if chart.metadata.version.is_empty() {
        return Err("validation: chart.metadata.version is required".into());
    }
    if Version::parse(&chart.metadata.version).is_none() {
        return Err(format!(
            "validation: chart.metadata.version {:?} is invalid",
            chart.metadata.version
        ));
    }
    Ok(())
}

/// Whether an error reads as an authentication failure (upstream's substring test).
fn is_auth_error(message: &str) -> bool {
    [
        "401",
        "unauthorized",
        "authentication required",
        "tls",
        "unknown certificate authority",
    ]
    .iter()
    .any(|s| message.contains(s))
}

/// What the status said last.
struct Previous {
    observed_generation: i64,
    chart_name: String,
    revision: Option<String>,
    values_files: Option<Vec<String>>,
}

impl Previous {
    fn of(status: &Value) -> Previous {
        Previous {
            observed_generation: status
                .get("observedGeneration")
                .and_then(Value::as_i64)
                .unwrap_or(-1),
            chart_name: status
                .get("observedChartName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            revision: status
                .at("/artifact/revision")
                .and_then(Value::as_str)
                .map(str::to_string),
            values_files: status
                .get("observedValuesFiles")
                .and_then(|v| serde_json::from_value(v.clone()).ok()),
        }
    }

    /// The stored chart is still the build (upstream's cached-chart short cut).
    fn still(&self, stored: bool, generation: i64, name: &str, version: &str) -> bool {
        stored
            && generation == self.observed_generation
            && self.chart_name == name
            && self.revision.as_deref() == Some(version)
    }
}

impl FluxReconciler {
    /// Reconciles one HelmChart.
    pub async fn reconcile_helm_chart(&self, obj: &Value, now: &str) -> Outcome {
        let key = object_key(obj);
        let generation = generation_of(obj);
        let old_status = obj.get("status").cloned().unwrap_or(json!({}));
        let mut conditions = Conditions::from_status(&old_status, generation, now);
        let spec: HelmChartSpec =
            match serde_json::from_value(obj.get("spec").cloned().unwrap_or(Value::Null)) {
                Ok(spec) => spec,
                Err(e) => {
                    let f = stalled("InvalidSpec", format!("invalid spec: {e}"));
                    return finish(
                        &old_status,
                        conditions,
                        generation,
                        Ending::stalled(f),
                        None,
                    );
                }
            };
        if spec.suspend {
            return Outcome {
                status: None,
                requeue: None,
                events: Vec::new(),
            };
        }
        let previous = Previous::of(&old_status);
        let observed = previous.observed_generation;
        let progress = if observed != generation {
            format!("processing object: new generation {observed} -> {generation}")
        } else {
            "reconciliation in progress".to_string()
        };
        progressing(&mut conditions, &progress);
        if conditions.is("SourceVerified", "False") {
            conditions.delete("SourceVerified");
        }
        let mut status = old_status.clone();
        if let Some(at) = obj
            .at("/metadata/annotations/reconcile.fluxcd.io~1requestedAt")
            .and_then(Value::as_str)
        {
            status["lastHandledReconcileAt"] = json!(at);
        }
        let stored = self.artifact("HelmChart", &key);
        reconcile_storage(&mut status, &mut conditions, stored.is_some());
        if spec.verify.is_some() {
            let f = stalled(
                "UnsupportedFeature",
                "spec.verify (signature verification) is not supported by this hub".into(),
            );
            return finish(&status, conditions, generation, Ending::stalled(f), None);
        }
        let namespace = obj
            .at("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let source_kind = spec.source_ref.kind.as_str();
        match source_kind {
            "HelmRepository" | "GitRepository" => {}
            "Bucket" => {
                let f = stalled(
                    "UnsupportedFeature",
                    "spec.sourceRef.kind 'Bucket' (Bucket sources) is not supported by this hub"
                        .into(),
                );
                return finish(&status, conditions, generation, Ending::stalled(f), None);
            }
            other => {
                let message = format!(
                    "failed to get source: unsupported source kind '{other}', must be one of: [HelmRepository GitRepository Bucket]"
                );
                conditions.set("FetchFailed", "True", "SourceUnavailable", &message);
                let ending = Ending {
                    ready: ("SourceUnavailable", message.clone()),
                    stall: Some(("UnsupportedSourceKind", message.clone())),
                    event: Some((true, "UnsupportedSourceKind", message)),
                };
                return finish(&status, conditions, generation, ending, None);
            }
        }
        let backoff_key = format!("HelmChart/{key}");
        let source = match self
            .source_object(&namespace, source_kind, &spec.source_ref.name)
            .await
        {
            Ok(source) => source,
            Err(e) => {
                let message = format!("failed to get source: {e}");
                conditions.set("FetchFailed", "True", "SourceUnavailable", &message);
                let ending = Ending::retried("SourceUnavailable", message);
                return finish(
                    &status,
                    conditions,
                    generation,
                    ending,
                    Some(self.source_failed(&backoff_key)),
                );
            }
        };
        let source_revision = source
            .at("/status/artifact/revision")
            .and_then(Value::as_str)
            .map(str::to_string);
        let source_key = format!("{namespace}/{}", spec.source_ref.name);
        let no_artifact = || {
            let message = format!(
                "no artifact available for {source_kind} source '{}'",
                spec.source_ref.name
            );
            let mut c = conditions.clone();
            c.set("FetchFailed", "True", "NoSourceArtifact", &message);
            c.set("Ready", "False", "NoSourceArtifact", &message);
            let mut s = status.clone();
            s["conditions"] = c.to_value();
            Outcome {
                status: Some(s),
                requeue: Some(self.options.dependency_requeue),
                events: vec![events::FluxEvent {
                    warning: false,
                    reason: "NoSourceArtifact".into(),
                    message,
                    metadata: BTreeMap::new(),
                }],
            }
        };
        let stored_present = stored.is_some();
        let built = if source_kind == "HelmRepository" {
            let repo_spec: HelmRepositorySpec = source
                .get("spec")
                .cloned()
                .and_then(|s| serde_json::from_value(s).ok())
                .unwrap_or_default();
            let index = if repo_spec.is_oci() {
                None
            } else {
                let index = lock(&self.helm_indexes).get(&source_key).cloned();
                match (index, &source_revision) {
                    (Some(index), Some(_)) => Some(index),
                    _ => return no_artifact(),
                }
            };
            if let Some(r) = &source_revision {
                status["observedSourceArtifactRevision"] = json!(r);
            }
            self.build_remote(
                &namespace,
                &spec,
                &repo_spec,
                index.as_deref(),
                generation,
                &previous,
                stored_present,
            )
            .await
        } else {
            let (Some(tree), Some(revision)) =
                (self.artifact("GitRepository", &source_key), source_revision)
            else {
                return no_artifact();
            };
            status["observedSourceArtifactRevision"] = json!(revision);
            build_local(
                &tree.tree,
                &revision,
                &spec,
                generation,
                &previous,
                stored_present,
            )
        };
        let build = match built {
            Ok(build) => build,
            Err(failure) => {
                let ending = match failure {
                    ChartFailure::Build {
                        reason,
                        error,
                        known,
                    } => {
                        if let Some((name, version)) = known
                            && (name != previous.chart_name
                                || previous.revision.as_deref() != Some(version.as_str()))
                        {
                            let s = summary("new", &name, &version, &[]);
                            if previous.revision.is_some() {
                                conditions.set("ArtifactOutdated", "True", "NewChart", &s);
                            }
                            progressing(&mut conditions, &format!("building artifact: {s}"));
                        }
                        let message = format!("{}: {error}", reason.summary());
                        let (set, gone) = if reason.is_build_failure() {
                            ("BuildFailed", "FetchFailed")
                        } else {
                            ("FetchFailed", "BuildFailed")
                        };
                        conditions.delete(gone);
                        conditions.set(set, "True", reason.reason(), &message);
                        Ending {
                            ready: (reason.reason(), message.clone()),
                            stall: reason
                                .persistent()
                                .then(|| (reason.reason(), message.clone())),
                            event: Some((true, reason.reason(), message)),
                        }
                    }
                    ChartFailure::Other(f) => {
                        let message = format!("unknown build error: {}", f.message);
                        conditions.delete("BuildFailed");
                        conditions.set("FetchFailed", "True", "Unknown", &message);
                        Ending {
                            ready: ("Unknown", message),
                            stall: f.stalls.then(|| (f.reason, f.message.clone())),
                            event: Some((true, f.reason, f.message)),
                        }
                    }
                };
                let requeue = ending
                    .stall
                    .is_none()
                    .then(|| self.source_failed(&backoff_key));
                return finish(&status, conditions, generation, ending, requeue);
            }
        };
        self.source_succeeded(&backoff_key);
        let was_failing = [
            "FetchFailed",
            "BuildFailed",
            "StorageOperationFailed",
            "Stalled",
        ]
        .iter()
        .any(|t| conditions.is(t, "True"));
        let summary = build.summary();
        let reason = if build.packaged {
            "ChartPackageSucceeded"
        } else {
            "ChartPullSucceeded"
        };
        let path = format!("helmchart/{key}/{}-{}.tgz", build.name, build.version);
        let old_path = status
            .at("/artifact/path")
            .and_then(Value::as_str)
            .map(str::to_string);
        let old_digest = status
            .at("/artifact/digest")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut events = Vec::new();
        if build.resolved_dependencies > 0 {
            events.push(events::FluxEvent {
                warning: false,
                reason: "ResolvedDependencies".into(),
                message: format!(
                    "resolved {} chart dependencies",
                    build.resolved_dependencies
                ),
                metadata: BTreeMap::new(),
            });
        }
        if let Some(built) = build.artifact {
            let tree = MemTree::from_files(built.files);
            lock(&self.artifacts).insert(
                artifact_key("HelmChart", &key),
                SourceTree {
                    commit: built.digest.clone(),
                    revision: build.version.clone(),
                    tree: Arc::new(tree),
                    included: Vec::new(),
                    metadata: Default::default(),
                },
            );
            let same = old_path.as_deref() == Some(path.as_str())
                && old_digest.as_deref() == Some(built.digest.as_str());
            let mut artifact = json!({
                "path": path,
                "url": format!("flotilla://{path}"),
                "revision": build.version,
                "digest": built.digest,
                "lastUpdateTime": if same {
                    status.at("/artifact/lastUpdateTime").cloned().unwrap_or(json!(now))
                } else {
                    json!(now)
                },
            });
            if let Some(size) = built.size {
                artifact["size"] = json!(size);
            }
            status["artifact"] = artifact;
        }
        if old_path.as_deref() == Some(path.as_str()) {
            events.push(events::FluxEvent {
                warning: false,
                reason: "ArtifactUpToDate".into(),
                message: format!(
                    "artifact up-to-date with remote revision: '{}'",
                    build.version
                ),
                metadata: BTreeMap::new(),
            });
        }
        let digest = status
            .at("/artifact/digest")
            .and_then(Value::as_str)
            .map(str::to_string);
        if digest != old_digest || was_failing {
            let mut metadata =
                BTreeMap::from([(format!("{SOURCE_GROUP}/revision"), build.version.clone())]);
            if let Some(digest) = &digest {
                metadata.insert(format!("{SOURCE_GROUP}/digest"), digest.clone());
            }
            events.push(events::FluxEvent {
                warning: false,
                reason: reason.into(),
                message: summary.clone(),
                metadata,
            });
        }
        status["url"] = json!(format!("flotilla://helmchart/{key}/latest.tar.gz"));
        status["observedChartName"] = json!(build.name);
        if spec.ignore_missing_values_files {
            status["observedValuesFiles"] = json!(build.values_files);
        } else if let Some(fields) = status.as_object_mut() {
            fields.remove("observedValuesFiles");
        }
        for gone in [
            "FetchFailed",
            "BuildFailed",
            "StorageOperationFailed",
            "ArtifactOutdated",
            "Reconciling",
            "Stalled",
        ] {
            conditions.delete(gone);
        }
        conditions.set("ArtifactInStorage", "True", reason, &summary);
        conditions.set("Ready", "True", reason, &summary);
        status["conditions"] = conditions.to_value();
        status["observedGeneration"] = json!(generation);
        let interval = flotilla_fleet::flux::parse_duration(&spec.interval, true)
            .filter(|d| !d.is_zero())
            .unwrap_or(Duration::from_secs(600));
        Outcome {
            status: Some(status),
            requeue: Some(interval),
            events,
        }
    }

    /// The source object a HelmChart names, or the API server's words for its absence.
    async fn source_object(
        &self,
        namespace: &str,
        kind: &str,
        name: &str,
    ) -> Result<Value, String> {
        let resource = match kind {
            "HelmRepository" => super::helm_repository::helm_repository_resource(),
            _ => super::git_repository_resource(),
        };
        let api: Api<DynamicObject> = Api::namespaced_with(self.hub.clone(), namespace, &resource);
        match api.get_opt(name).await {
            Ok(Some(o)) => serde_json::to_value(o).map_err(|e| e.to_string()),
            Ok(None) => Err(format!(
                "{}.{} \"{name}\" not found",
                resource.plural, resource.group
            )),
            Err(e) => Err(super::api_message(&e)),
        }
    }

    /// Builds a chart of a HelmRepository (`buildFromHelmRepository` and the remote
    /// builder).
    #[allow(clippy::too_many_arguments)]
    async fn build_remote(
        &self,
        namespace: &str,
        spec: &HelmChartSpec,
        repo: &HelmRepositorySpec,
        index: Option<&StoredIndex>,
        generation: i64,
        previous: &Previous,
        stored: bool,
    ) -> Result<Build, ChartFailure> {
        let url = normalize_url(&repo.url);
        if repo.is_oci() && !url.starts_with("oci://") {
            return Err(ChartFailure::Other(stalled(
                "Failed",
                format!("failed to construct Helm client: invalid OCI registry URL: {url}"),
            )));
        }
        unsupported_repository(repo).map_err(ChartFailure::Other)?;
        let name = spec.chart.as_str();
        if name.is_empty() {
            return Err(build_error(
                BuildReason::ChartReference,
                "no name set for remote chart reference",
            ));
        }
        let valid_name = regex::Regex::new(r"^([-a-z0-9]+/?\.?)+$").expect("a valid pattern");
        if !valid_name.is_match(name) {
            return Err(build_error(
                BuildReason::ChartReference,
                format!(
                    "invalid chart name '{name}': a valid name must be lower case letters and numbers and MAY be separated with dashes (-), slashes (/) or periods (.)"
                ),
            ));
        }
        let wanted = if spec.version.is_empty() {
            "*"
        } else {
            spec.version.as_str()
        };
        let timeout = repo.timeout();
        let values_files = spec.values_files();
        let metadata = (!values_files.is_empty()).then(|| generation.to_string());
        let auth_failure = |failure: ChartFailure| match failure {
            ChartFailure::Build { reason, error, .. }
                if is_auth_error(&format!("{}: {error}", reason.summary())) =>
            {
                ChartFailure::Other(failed(
                    "AuthenticationFailed",
                    format!(
                        "failed to authenticate with the Helm repository: {}: {error}",
                        reason.summary()
                    ),
                ))
            }
            other => other,
        };
        // The version, and how to download it.
        enum Source<'a> {
            Http(&'a ChartVersion, Option<String>, Tls),
            Registry(RepositoryReference, Access),
        }
        let (chosen, source) = match index {
            Some(index) => {
                let (authorization, tls) = self
                    .repository_auth(namespace, repo)
                    .await
                    .map_err(ChartFailure::Other)?;
                let cv = choose_from_index(index, name, wanted).map_err(|e| {
                    build_error(
                        BuildReason::ChartReference,
                        format!("failed to get chart version for remote reference: {e}"),
                    )
                })?;
                (cv.version.clone(), Source::Http(cv, authorization, tls))
            }
            None => {
                let reference = RepositoryReference::new(&url, name).map_err(|e| {
                    ChartFailure::Other(stalled(
                        "URLInvalid",
                        format!("invalid Helm repository URL: {e}"),
                    ))
                })?;
                let access = self
                    .registry_access(namespace, repo, &reference.registry)
                    .await
                    .map_err(ChartFailure::Other)?;
                let version = if strict_version(wanted).is_some() {
                    wanted.to_string()
                } else {
                    let pull = |e: String| {
                        build_error(
                            BuildReason::ChartPull,
                            format!("failed to get chart version for remote reference: {e}"),
                        )
                    };
                    let tags = oci::versions(&reference, &access, timeout)
                        .await
                        .map_err(|e| pull(format!("could not get tags for {name:?}: {e}")))
                        .map_err(auth_failure)?;
                    if tags.is_empty() {
                        return Err(pull(format!(
                            "unable to locate any tags in provided repository: {name}"
                        )));
                    }
                    let candidates: Vec<(&str, &str)> =
                        tags.iter().map(|t| (t.as_str(), "")).collect();
                    match choose_version(&candidates, wanted) {
                        Ok(i) => tags[i].clone(),
                        Err(Choice::Improper) => {
                            return Err(pull(format!("improper constraint: {wanted}")));
                        }
                        Err(Choice::NoMatch) => {
                            return Err(pull(format!(
                                "could not locate a version matching provided version string {wanted}"
                            )));
                        }
                    }
                };
                (version, Source::Registry(reference, access))
            }
        };
        let chart_name = name.rsplit('/').next().unwrap_or(name).to_string();
        let version = match &metadata {
            Some(m) => with_metadata(&chosen, m).map_err(|e| {
                build_error(BuildReason::MetadataPatch, e).known(&chart_name, &chosen)
            })?,
            None => chosen.clone(),
        };
        let requires_packaging = !values_files.is_empty() || metadata.is_some();
        if previous.still(stored, generation, &chart_name, &version) {
            return Ok(Build {
                name: chart_name,
                version,
                packaged: requires_packaging,
                values_files: previous.values_files.clone().unwrap_or(values_files),
                artifact: None,
                resolved_dependencies: 0,
            });
        }
        let download = |e: String| {
            build_error(
                BuildReason::ChartPull,
                format!("failed to download chart for remote reference: {e}"),
            )
            .known(&chart_name, &version)
        };
        let package = match source {
            Source::Http(cv, authorization, tls) => {
                let Some(reference) = cv.urls.first() else {
                    return Err(download(format!(
                        "chart '{chart_name}' has no downloadable URLs"
                    )));
                };
                let package_url = helm_repo::package_url(&url, reference);
                let same_origin = origin(&package_url) == origin(&url);
                let authorization = authorization.filter(|_| same_origin || repo.pass_credentials);
                let bytes = helm_repo::fetch(
                    &package_url,
                    authorization.as_deref(),
                    &tls,
                    MAX_CHART_BYTES,
                    timeout,
                )
                .await
                .map_err(download)
                .map_err(auth_failure)?;
                if !cv.digest.is_empty() {
                    let actual = flotilla_source::sha256_hex(&bytes);
                    if !actual.eq_ignore_ascii_case(cv.digest.trim()) {
                        return Err(download(format!(
                            "the digest of '{package_url}' is {actual}, the index gives {}",
                            cv.digest
                        )));
                    }
                }
                bytes
            }
            Source::Registry(reference, access) => {
                oci::pull_chart(&reference, &chosen, &access, MAX_CHART_BYTES, timeout)
                    .await
                    .map_err(|e| {
                        download(format!(
                            "failed to get 'oci://{}/{}:{chosen}': {e}",
                            reference.registry, reference.repository
                        ))
                    })
                    .map_err(auth_failure)?
            }
        };
        let known = |f: ChartFailure| f.known(&chart_name, &version);
        let mut files = helm::unpack_archive(&format!("{chart_name}-{chosen}.tgz"), &package)
            .map_err(|e| known(build_error(BuildReason::ChartPull, e.to_string())))?;
        let chart = helm::load_archive(&format!("{chart_name}-{chosen}.tgz"), &package)
            .map_err(|e| e.to_string())
            .and_then(|c| validate_metadata(&c).map(|()| c));
        if !requires_packaging {
            chart.map_err(|e| {
                known(build_error(
                    BuildReason::ChartPull,
                    format!("failed to load chart metadata from written chart: {e}"),
                ))
            })?;
            return Ok(Build {
                name: chart_name,
                version,
                packaged: false,
                values_files: Vec::new(),
                artifact: Some(Built {
                    files,
                    digest: format!("sha256:{}", flotilla_source::sha256_hex(&package)),
                    size: Some(package.len()),
                }),
                resolved_dependencies: 0,
            });
        }
        let chart = chart.map_err(|e| {
            known(build_error(
                BuildReason::ChartPackage,
                format!("failed to load downloaded chart: {e}"),
            ))
        })?;
        let (merged, used) =
            merge_chart_values(&chart, &spec.values_files, spec.ignore_missing_values_files)
                .map_err(|e| {
                    known(build_error(
                        BuildReason::ValuesFiles,
                        format!("failed to merge chart values: {e}"),
                    ))
                })?;
        let changed = overwrite_values(&mut files, &merged)
            .map_err(|e| known(build_error(BuildReason::ValuesFiles, e)))?;
        set_chart_version(&mut files, &chart, &version)
            .map_err(|e| known(build_error(BuildReason::ChartPackage, e)))?;
        Ok(Build {
            name: chart_name,
            version,
            packaged: true,
            values_files: if changed { used } else { Vec::new() },
            artifact: Some(Built {
                digest: tree_digest(&files),
                files,
                size: None,
            }),
            resolved_dependencies: 0,
        })
    }

    /// How to reach the registry of an OCI HelmRepository: `secretRef` as a docker
    /// config, or its `username` and `password`; `insecure` for plain HTTP.
    async fn registry_access(
        &self,
        namespace: &str,
        repo: &HelmRepositorySpec,
        registry: &str,
    ) -> Result<Access, Failed> {
        let data = match &repo.secret_ref {
            None => None,
            Some(secret) => Some(self.auth_secret_data(namespace, &secret.name).await?),
        };
        let credentials = match (&repo.secret_ref, &data) {
            (Some(secret), Some(data)) => {
                let configure = |e: String| {
                    failed(
                        "AuthenticationFailed",
                        format!("failed to configure OCI registry authentication: {e}"),
                    )
                };
                if data.contains_key(".dockerconfigjson") {
                    super::oci_repository::docker_config_credentials(data, registry)
                        .map_err(configure)?
                } else {
                    let text = |k: &str| {
                        data.get(k)
                            .map(|v| String::from_utf8_lossy(v).into_owned())
                            .unwrap_or_default()
                    };
                    match (text("username"), text("password")) {
                        (u, p) if u.is_empty() && p.is_empty() => Credentials::default(),
                        (u, p) if u.is_empty() || p.is_empty() => {
                            return Err(configure(format!(
                                "invalid '{}' secret data: required fields 'username' and 'password'",
                                secret.name
                            )));
                        }
                        (username, password) => Credentials::Basic { username, password },
                    }
                }
            }
            _ => Credentials::default(),
        };
        let tls = self.repository_tls(namespace, repo, data.as_ref()).await?;
        Ok(Access {
            credentials,
            plain_http: repo.insecure,
            http_fallback: false,
            tls,
        })
    }
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    format!("{scheme}://{host}")
}

/// Builds a chart of a GitRepository artifact (`buildFromTarballArtifact` and the local
/// builder).
fn build_local(
    tree: &MemTree,
    source_revision: &str,
    spec: &HelmChartSpec,
    generation: i64,
    previous: &Previous,
    stored: bool,
) -> Result<Build, ChartFailure> {
    if spec.chart.is_empty() {
        return Err(build_error(
            BuildReason::ChartReference,
            "no path set for local chart reference",
        ));
    }
    let path = secure_join(&spec.chart);
    let kind = tree.entry(&path).ok().flatten();
    let Some(kind) = kind else {
        return Err(build_error(
            BuildReason::ChartReference,
            format!("stat /{path}: no such file or directory"),
        ));
    };
    let is_dir = kind == EntryKind::Dir;
    let archive = if is_dir {
        None
    } else {
        Some(
            tree.read(&path)
                .map_err(|e| build_error(BuildReason::ChartReference, e.to_string()))?,
        )
    };
    let chart = match &archive {
        None => helm::load_dir(tree, &path),
        Some(bytes) => helm::load_archive(&path, bytes),
    }
    .map_err(|e| e.to_string())
    .and_then(|c| validate_metadata(&c).map(|()| c))
    .map_err(|e| build_error(BuildReason::ChartReference, e))?;
    let values_files = spec.values_files();
    let metadata = local_metadata(
        spec.reconcile_strategy == "Revision",
        source_revision,
        !values_files.is_empty(),
        generation,
    );
    let name = chart.metadata.name.clone();
    let version = match &metadata {
        Some(m) => with_metadata(&chart.metadata.version, m)
            .map_err(|e| build_error(BuildReason::MetadataPatch, e))?,
        None => chart.metadata.version.clone(),
    };
    let requires_packaging = is_dir || metadata.is_some() || !values_files.is_empty();
    if previous.still(stored, generation, &name, &version) {
        return Ok(Build {
            name,
            version,
            packaged: requires_packaging,
            values_files: previous.values_files.clone().unwrap_or(values_files),
            artifact: None,
            resolved_dependencies: 0,
        });
    }
    let known = |f: ChartFailure| f.known(&name, &version);
    if !requires_packaging {
        let bytes = archive.unwrap_or_default();
        let files = helm::unpack_archive(&path, &bytes)
            .map_err(|e| known(build_error(BuildReason::ChartPull, e.to_string())))?;
        return Ok(Build {
            name,
            version,
            packaged: false,
            values_files: Vec::new(),
            artifact: Some(Built {
                digest: format!("sha256:{}", flotilla_source::sha256_hex(&bytes)),
                size: Some(bytes.len()),
                files,
            }),
            resolved_dependencies: 0,
        });
    }
    let merged = if values_files.is_empty() {
        None
    } else {
        Some(
            merge_source_values(tree, &spec.values_files, spec.ignore_missing_values_files)
                .map_err(|e| known(build_error(BuildReason::ValuesFiles, e)))?,
        )
    };
    let mut files = match &archive {
        None => files_under(tree, &path),
        Some(bytes) => helm::unpack_archive(&path, bytes).map_err(|e| e.to_string()),
    }
    .map_err(|e| known(build_error(BuildReason::ChartPackage, e)))?;
    let mut reported = Vec::new();
    if let Some((merged, used)) = &merged
        && overwrite_values(&mut files, merged)
            .map_err(|e| known(build_error(BuildReason::ValuesFiles, e)))?
    {
        reported = used.clone();
    }
    let resolved = if is_dir {
        local_dependencies(tree, &path, &chart, &mut files)
            .map_err(|e| known(build_error(BuildReason::DependencyBuild, e)))?
    } else {
        0
    };
    set_chart_version(&mut files, &chart, &version)
        .map_err(|e| known(build_error(BuildReason::ChartPackage, e)))?;
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Build {
        name,
        version,
        packaged: true,
        values_files: reported,
        artifact: Some(Built {
            digest: tree_digest(&files),
            files,
            size: None,
        }),
        resolved_dependencies: resolved,
    })
}

/// The chart's declared dependencies missing from `charts/`: a `file://` one is copied
/// in from the source; any other is refused (this hub does not fetch them). Returns how
/// many were resolved.
fn local_dependencies(
    tree: &MemTree,
    chart_path: &str,
    chart: &Chart,
    files: &mut Vec<(String, Vec<u8>)>,
) -> Result<usize, String> {
    let mut resolved = 0;
    for dep in &chart.metadata.dependencies {
        let vendored = chart.dependencies.iter().any(|c| c.name() == dep.name);
        if vendored {
            continue;
        }
        let Some(local) = dep.repository.strip_prefix("file://") else {
            return Err(format!(
                "failed to add remote dependency '{}': fetching chart dependencies from '{}' is not supported by this hub (vendor it into charts/)",
                dep.name, dep.repository
            ));
        };
        let dir = secure_join(&format!("{chart_path}/{local}"));
        if !matches!(tree.entry(&dir), Ok(Some(EntryKind::Dir))) {
            return Err(format!(
                "failed to add local dependency '{}': no chart directory at '{local}'",
                dep.name
            ));
        }
        let dep_files = files_under(tree, &dir).map_err(|e| {
            format!(
                "failed to add local dependency '{}': no chart directory at '{local}': {e}",
                dep.name
            )
        })?;
        for (p, data) in dep_files {
            files.push((format!("charts/{}/{p}", dep.name), data));
        }
        resolved += 1;
    }
    Ok(resolved)
}

/// How a failed reconcile ends: Ready's reason and message, a Stalled condition for a
/// spec that cannot work, and the event.
struct Ending {
    ready: (&'static str, String),
    stall: Option<(&'static str, String)>,
    event: Option<(bool, &'static str, String)>,
}

impl Ending {
    fn stalled(f: Failed) -> Ending {
        Ending {
            ready: (f.reason, f.message.clone()),
            stall: Some((f.reason, f.message.clone())),
            event: Some((true, f.reason, f.message)),
        }
    }

    fn retried(reason: &'static str, message: String) -> Ending {
        Ending {
            ready: (reason, message.clone()),
            stall: None,
            event: Some((true, reason, message)),
        }
    }
}

fn finish(
    status: &Value,
    mut conditions: Conditions,
    generation: i64,
    ending: Ending,
    requeue: Option<Duration>,
) -> Outcome {
    let stalls = ending.stall.is_some();
    match &ending.stall {
        Some((reason, message)) => conditions.stalled(reason, message),
        None => {
            conditions.delete("Stalled");
            conditions.retry_reconciling();
        }
    }
    conditions.set("Ready", "False", ending.ready.0, &ending.ready.1);
    let mut status = status.clone();
    status["conditions"] = conditions.to_value();
    if stalls {
        status["observedGeneration"] = json!(generation);
    }
    Outcome {
        status: Some(status),
        requeue,
        events: ending
            .event
            .into_iter()
            .map(|(warning, reason, message)| events::FluxEvent {
                warning,
                reason: reason.to_string(),
                message,
                metadata: BTreeMap::new(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(entries: &[(&str, &str)]) -> StoredIndex {
        StoredIndex {
            url: "http://h/".into(),
            revision: "sha256:x".into(),
            charts: [(
                "web".to_string(),
                entries
                    .iter()
                    .map(|(v, created)| ChartVersion {
                        version: v.to_string(),
                        urls: vec![],
                        digest: String::new(),
                        created: created.to_string(),
                    })
                    .collect(),
            )]
            .into(),
        }
    }

    fn chosen(index: &StoredIndex, wanted: &str) -> Result<String, String> {
        choose_from_index(index, "web", wanted).map(|v| format!("{}@{}", v.version, v.created))
    }

    #[test]
    fn versions_are_chosen_as_source_controller_chooses_them() {
        let all = index(&[
            ("1.2.0", "a"),
            ("1.10.1", "a"),
            ("2.0.0-rc.1", "a"),
            ("1.9", "a"),
            ("v1.9.9", "a"),
            ("1.10.1+b", "c"),
            ("1.10.1+c", "b"),
        ]);
        // An exact string first, even one that is not a strict version.
        assert_eq!(chosen(&all, "1.9").unwrap(), "1.9@a");
        assert_eq!(chosen(&all, "1.2.0").unwrap(), "1.2.0@a");
        // Equal versions: the later `created` wins.
        assert_eq!(chosen(&all, "*").unwrap(), "1.10.1+b@c");
        assert_eq!(chosen(&all, "").unwrap(), "1.10.1+b@c");
        assert_eq!(chosen(&all, "<1.10.0").unwrap(), "v1.9.9@a");
        // Pre-releases only when the constraint names one.
        assert_eq!(chosen(&all, ">=2.0.0-0").unwrap(), "2.0.0-rc.1@a");
        assert_eq!(
            chosen(&all, "9.*").unwrap_err(),
            "no 'web' chart with version matching '9.*' found"
        );
        assert_eq!(
            chosen(&all, "what?").unwrap_err(),
            "improper constraint: what?"
        );
        assert_eq!(
            choose_from_index(&all, "api", "*").unwrap_err(),
            "no chart name found"
        );
        assert_eq!(
            choose_from_index(&index(&[]), "web", "*").unwrap_err(),
            "no chart version found"
        );
    }

    #[test]
    fn only_three_part_versions_are_strict() {
        assert!(strict_version("1.2.3").is_some());
        assert!(strict_version("v1.2.3-rc.1+meta").is_some());
        assert!(strict_version("1.2").is_none());
        assert!(strict_version("01.2.3").is_none());
        assert!(strict_version("1.2.3+").is_none());
    }

    #[test]
    fn version_metadata_replaces_any_build_metadata() {
        assert_eq!(with_metadata("6.0.3", "1").unwrap(), "6.0.3+1");
        assert_eq!(with_metadata("v6.0.3+old", "2").unwrap(), "6.0.3+2");
        assert_eq!(with_metadata("6.0.3-rc.1", "2").unwrap(), "6.0.3-rc.1+2");
        assert!(with_metadata("six", "1").is_err());
        assert!(with_metadata("6.0.3", "a_b").is_err());
    }

    #[test]
    fn local_version_metadata_follows_the_strategy_and_values_files() {
        let rev = "main@sha1:abcdef0123456789abcdef";
        assert_eq!(local_metadata(false, rev, false, 4), None);
        assert_eq!(local_metadata(true, rev, false, 4).unwrap(), "abcdef012345");
        assert_eq!(
            local_metadata(true, rev, true, 4).unwrap(),
            "abcdef012345.4"
        );
        assert_eq!(local_metadata(false, rev, true, 4).unwrap(), "4");
        assert_eq!(
            local_metadata(true, "sha256:0123456789abcdef", false, 1).unwrap(),
            "0123456789ab"
        );
    }

    #[test]
    fn chart_paths_never_leave_the_tree() {
        assert_eq!(secure_join("./charts/web"), "charts/web");
        assert_eq!(secure_join("../../etc/passwd"), "etc/passwd");
        assert_eq!(secure_join("/charts/../../web/"), "web");
        assert_eq!(secure_join(".."), "");
        let tree = MemTree::from_files([
            (
                "charts/web/Chart.yaml",
                "apiVersion: v2\nname: web\nversion: 1.0.0\n",
            ),
            ("charts/web/values.yaml", "a: 1\n"),
        ]);
        let spec = HelmChartSpec {
            chart: "../../charts/web".into(),
            ..Default::default()
        };
        let previous = Previous::of(&json!({}));
        let build = build_local(&tree, "main@sha1:abc", &spec, 1, &previous, false).unwrap();
        assert_eq!(
            (build.name.as_str(), build.version.as_str()),
            ("web", "1.0.0")
        );
        let spec = HelmChartSpec {
            chart: "../outside".into(),
            ..Default::default()
        };
        match build_local(&tree, "main@sha1:abc", &spec, 1, &previous, false) {
            Err(ChartFailure::Build { reason, error, .. }) => {
                assert_eq!(reason, BuildReason::ChartReference);
                assert_eq!(error, "stat /outside: no such file or directory");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn values_files_merge_in_order_into_values_yaml_and_the_version_gets_metadata() {
        let tree = MemTree::from_files([
            (
                "charts/web/Chart.yaml",
                "apiVersion: v2\nname: web\nversion: 1.0.0\n",
            ),
            (
                "charts/web/values.yaml",
                "color: blue\nsize: {a: 1, b: 2}\n",
            ),
            ("charts/web/templates/cm.yaml", "kind: ConfigMap\n"),
            ("envs/prod.yaml", "size: {b: 3}\nreplicas: 2\n"),
        ]);
        let spec = HelmChartSpec {
            chart: "charts/web".into(),
            values_files: vec!["charts/web/values.yaml".into(), "envs/prod.yaml".into()],
            reconcile_strategy: "Revision".into(),
            ..Default::default()
        };
        let previous = Previous::of(&json!({}));
        let build = build_local(
            &tree,
            "main@sha1:0123456789abcdef",
            &spec,
            3,
            &previous,
            false,
        )
        .unwrap();
        assert_eq!(build.version, "1.0.0+0123456789ab.3");
        assert_eq!(
            build.summary(),
            "packaged 'web' chart with version '1.0.0+0123456789ab.3' and merged values files [charts/web/values.yaml envs/prod.yaml]"
        );
        let files = build.artifact.unwrap().files;
        let tree = MemTree::from_files(files);
        let chart = helm::load(&tree, "").unwrap();
        assert_eq!(chart.metadata.version, "1.0.0+0123456789ab.3");
        assert_eq!(
            Value::Object(chart.values),
            // Numbers read as Helm reads them (float64).
            json!({"color": "blue", "replicas": 2.0, "size": {"a": 1.0, "b": 3.0}})
        );
        // A missing file, and one ignored.
        let missing = HelmChartSpec {
            values_files: vec!["envs/none.yaml".into()],
            ..spec.clone()
        };
        match build_local(&tree_of_spec(), "r", &missing, 3, &previous, false) {
            Err(ChartFailure::Build { reason, error, .. }) => {
                assert_eq!(reason, BuildReason::ValuesFiles);
                assert_eq!(
                    error,
                    "no values file found at path '/envs/none.yaml' (reference 'envs/none.yaml')"
                );
            }
            other => panic!("{other:?}"),
        }
        let ignored = HelmChartSpec {
            ignore_missing_values_files: true,
            reconcile_strategy: String::new(),
            ..missing
        };
        let build = build_local(&tree_of_spec(), "r", &ignored, 3, &previous, false).unwrap();
        assert_eq!(build.version, "1.0.0+3");
        assert_eq!(
            build.summary(),
            "packaged 'web' chart with version '1.0.0+3'"
        );
    }

    fn tree_of_spec() -> MemTree {
        MemTree::from_files([
            (
                "charts/web/Chart.yaml",
                "apiVersion: v2\nname: web\nversion: 1.0.0\n",
            ),
            ("charts/web/values.yaml", "color: blue\n"),
        ])
    }

    #[test]
    fn a_downloaded_charts_values_files_are_its_own_files() {
        let chart = helm::load_dir(
            &MemTree::from_files([
                ("Chart.yaml", "apiVersion: v2\nname: web\nversion: 1.0.0\n"),
                ("values.yaml", "color: blue\nlist: [1]\n"),
                ("values-prod.yaml", "list: [2]\nextra: {x: 1}\n"),
            ]),
            "",
        )
        .unwrap();
        let (merged, used) = merge_chart_values(
            &chart,
            &["values.yaml".into(), "values-prod.yaml".into()],
            false,
        )
        .unwrap();
        assert_eq!(
            Value::Object(merged),
            json!({"color": "blue", "list": [2.0], "extra": {"x": 1.0}})
        );
        assert_eq!(used, ["values.yaml", "values-prod.yaml"]);
        assert_eq!(
            merge_chart_values(&chart, &["nope.yaml".into()], false).unwrap_err(),
            "no values file found at path 'nope.yaml'"
        );
        assert!(
            merge_chart_values(&chart, &["nope.yaml".into()], true)
                .unwrap()
                .1
                .is_empty()
        );
    }

    #[test]
    fn summaries_and_values_files_read_as_upstreams() {
        assert_eq!(
            summary("pulled", "podinfo", "6.0.3", &[]),
            "pulled 'podinfo' chart with version '6.0.3'"
        );
        assert_eq!(
            summary(
                "packaged",
                "podinfo",
                "6.0.3+1",
                &["a.yaml".into(), "b.yaml".into()]
            ),
            "packaged 'podinfo' chart with version '6.0.3+1' and merged values files [a.yaml b.yaml]"
        );
        let only_own = HelmChartSpec {
            values_files: vec!["./values.yaml".into()],
            ..Default::default()
        };
        assert!(only_own.values_files().is_empty());
        assert!(is_auth_error(
            "failed to fetch http://x/i : 401 Unauthorized"
        ));
        assert!(!is_auth_error("failed to fetch http://x/i : 404 Not Found"));
    }
}
