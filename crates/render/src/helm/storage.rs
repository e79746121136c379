//! Helm's release records, so releases we write show up in `helm list/history/get` and
//! releases Helm wrote can be read back.
//!
//! Helm (v3 and v4) keeps each revision of a release in a Secret named
//! `sh.helm.release.v1.<release>.v<revision>` of type `helm.sh/release.v1`, labelled
//! `owner=helm` with the release's name, status and revision. Its `release` key holds the
//! release as JSON, gzipped at best compression, then base64 (and, as for any Secret, the
//! API shows those bytes base64 again). This module builds and reads those records:
//!
//! * [`Release`] and its parts serialise with Helm's JSON field names and omissions (Go's
//!   `omitempty`/`omitzero`, `[]byte` as base64, `time.Time` as Go writes it — see
//!   [`Timestamp`]; `any` values with sorted keys and integral numbers without a
//!   fraction, as Go writes what it decoded as float64).
//! * [`chart_record`] turns a loaded [`Chart`] into the chart Helm stores with a release.
//! * [`encode_release`]/[`decode_release`] are Helm's `encodeRelease`/`decodeRelease`,
//!   decoding bounded by [`MAX_RELEASE_BYTES`] so a gzip bomb fails instead of filling
//!   memory.
//! * [`secret_for`], [`secret_for_update`] and [`release_from_secret`] are the Secrets
//!   driver's objects as the API server shows them.
//!
//! Everything is pure: no I/O, no clock (callers pass the time).

use super::chart::{Chart, Dependency, File, Metadata};
use super::values::{Table, floats};
use base64::Engine as _;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use serde::ser::SerializeMap as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read as _, Write as _};

/// The prefix of every record's name (Helm's `HelmStorageType`).
pub const SECRET_NAME_PREFIX: &str = "sh.helm.release.v1";

/// The `type` of a release Secret.
pub const SECRET_TYPE: &str = "helm.sh/release.v1";

/// The key of a release Secret's `data` that holds the encoded release.
pub const SECRET_DATA_KEY: &str = "release";

/// Selects every Helm release record (what `helm list` lists).
pub const LIST_SELECTOR: &str = "owner=helm";

/// Labels the driver manages; a release's own labels are the others.
pub const SYSTEM_LABELS: [&str; 6] = [
    "name",
    "owner",
    "status",
    "version",
    "createdAt",
    "modifiedAt",
];

/// The largest decoded release accepted. A Secret holds at most 1 MiB, and JSON gzips
/// roughly tenfold, so a genuine record stays far below this; a bomb stops here.
pub const MAX_RELEASE_BYTES: usize = 64 * 1024 * 1024;

/// Go's `base64.StdEncoding` when decoding: padding required, stray trailing bits
/// tolerated.
const GO_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// How every gzip stream starts; Helm decompresses only data that starts so.
const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

/// Why a release record could not be written or read. Each names the record (the Secret's
/// name, or what the caller called it).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Base64 that does not decode (Helm's layer, or the Secret's `data`).
    #[error("release record {record}: invalid base64 in {layer}: {reason}")]
    Base64 {
        /// The record.
        record: String,
        /// Which encoding: `the release` or `the Secret's data.release`.
        layer: &'static str,
        /// The decoder's message.
        reason: String,
    },
    /// A gzip stream that does not decompress.
    #[error("release record {record}: invalid gzip: {reason}")]
    Gzip {
        /// The record.
        record: String,
        /// The decompressor's message.
        reason: String,
    },
    /// A record that decompresses past the limit.
    #[error("release record {record}: decodes to more than {limit} bytes")]
    TooLarge {
        /// The record.
        record: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// Bytes that are not a release's JSON.
    #[error("release record {record}: invalid release JSON: {reason}")]
    Json {
        /// The record.
        record: String,
        /// The parser's message.
        reason: String,
    },
    /// An object that is not a release Secret, or a release that cannot be stored.
    #[error("release record {record}: {reason}")]
    Invalid {
        /// The record.
        record: String,
        /// What is wrong.
        reason: String,
    },
}

/// One revision of a release (Helm's `release.v1.Release`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Release {
    /// The release's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Status and timestamps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<Info>,
    /// The chart as released (subcharts are not stored; see [`chart_record`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<ChartRecord>,
    /// The values the user supplied (what `helm get values` shows).
    #[serde(
        default,
        skip_serializing_if = "Table::is_empty",
        serialize_with = "go_table",
        deserialize_with = "go_any_table"
    )]
    pub config: Table,
    /// The rendered manifests, hooks excluded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub manifest: String,
    /// The hooks.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "nullable"
    )]
    pub hooks: Vec<Hook>,
    /// The revision, from 1.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub version: u32,
    /// The namespace, which is also where its records live.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// `ssa` or `csa` (Helm 4; empty means client-side apply).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub apply_method: String,
    /// The release's own labels. Helm keeps them on the record, not in its JSON.
    #[serde(skip)]
    pub labels: BTreeMap<String, String>,
}

/// A release's status and history (Helm's `release.v1.Info`).
///
/// Helm 4 omits unset times; a zero time written by Helm 3 reads as unset. `resources` is
/// not modelled: `helm status --show-resources` fills it when printing, Helm never stores
/// it, and Helm could not decode a record that had it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Info {
    /// When revision 1 was deployed.
    #[serde(default, with = "go_time", skip_serializing_if = "Option::is_none")]
    pub first_deployed: Option<Timestamp>,
    /// When this revision was deployed.
    #[serde(default, with = "go_time", skip_serializing_if = "Option::is_none")]
    pub last_deployed: Option<Timestamp>,
    /// When it was uninstalled.
    #[serde(default, with = "go_time", skip_serializing_if = "Option::is_none")]
    pub deleted: Option<Timestamp>,
    /// A one-line log entry (`Install complete`, `Upgrade complete`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The status (also the record's `status` label).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "status_or_none"
    )]
    pub status: Option<Status>,
    /// The revision a rollback returned to (written by Helm after 4.2; 0 otherwise).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rollback_revision: u32,
    /// The rendered NOTES.txt.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
}

/// A release's status, as the strings Helm writes (`helm list --all` shows them).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Status {
    /// `unknown`: what a new release starts as.
    Unknown,
    /// `deployed`.
    Deployed,
    /// `uninstalled` (kept with `--keep-history`).
    Uninstalled,
    /// `superseded`: a later revision was deployed.
    Superseded,
    /// `failed`.
    Failed,
    /// `uninstalling`.
    Uninstalling,
    /// `pending-install`.
    PendingInstall,
    /// `pending-upgrade`.
    PendingUpgrade,
    /// `pending-rollback`.
    PendingRollback,
    /// A string Helm does not define today; Helm reads any string, so we keep it.
    Other(String),
}

impl Status {
    /// The string Helm writes.
    pub fn as_str(&self) -> &str {
        match self {
            Status::Unknown => "unknown",
            Status::Deployed => "deployed",
            Status::Uninstalled => "uninstalled",
            Status::Superseded => "superseded",
            Status::Failed => "failed",
            Status::Uninstalling => "uninstalling",
            Status::PendingInstall => "pending-install",
            Status::PendingUpgrade => "pending-upgrade",
            Status::PendingRollback => "pending-rollback",
            Status::Other(s) => s,
        }
    }

    /// Whether an operation is under way (Helm's `IsPending`).
    pub fn is_pending(&self) -> bool {
        matches!(
            self,
            Status::PendingInstall | Status::PendingUpgrade | Status::PendingRollback
        )
    }
}

impl From<&str> for Status {
    fn from(s: &str) -> Self {
        match s {
            "unknown" => Status::Unknown,
            "deployed" => Status::Deployed,
            "uninstalled" => Status::Uninstalled,
            "superseded" => Status::Superseded,
            "failed" => Status::Failed,
            "uninstalling" => Status::Uninstalling,
            "pending-install" => Status::PendingInstall,
            "pending-upgrade" => Status::PendingUpgrade,
            "pending-rollback" => Status::PendingRollback,
            other => Status::Other(other.to_string()),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Status::from(String::deserialize(d)?.as_str()))
    }
}

/// A hook of a release (Helm's `release.v1.Hook`). Events and policies are Helm's
/// strings (`pre-install`, `before-hook-creation`, `hook-failed`…).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hook {
    /// The object's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The object's kind.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The template it came from (`templates/job.yaml`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// The rendered document.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub manifest: String,
    /// `helm.sh/hook` events.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "nullable"
    )]
    pub events: Vec<String>,
    /// The last run (always written, if only as `{"phase":""}`).
    #[serde(default)]
    pub last_run: HookExecution,
    /// `helm.sh/hook-weight`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub weight: i64,
    /// `helm.sh/hook-delete-policy`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "nullable"
    )]
    pub delete_policies: Vec<String>,
    /// `helm.sh/hook-output-log-policy`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "nullable"
    )]
    pub output_log_policies: Vec<String>,
}

/// When a hook last ran and how it ended (Helm's `HookExecution`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HookExecution {
    /// When it started.
    #[serde(default, with = "go_time", skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When it completed.
    #[serde(default, with = "go_time", skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
    /// `Unknown`, `Running`, `Succeeded`, `Failed`, or empty if it never ran.
    #[serde(default)]
    pub phase: String,
}

/// A chart as Helm stores it in a release (Helm's `chart.v2.Chart` JSON): metadata, lock,
/// templates, default values, schema and other files. Subcharts are not part of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChartRecord {
    /// Chart.yaml.
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: MetadataRecord,
    /// Chart.lock (`null` without one).
    #[serde(default)]
    pub lock: Option<Lock>,
    /// `templates/…`.
    #[serde(
        default,
        serialize_with = "null_if_empty",
        deserialize_with = "nullable"
    )]
    pub templates: Vec<FileRecord>,
    /// values.yaml (`null` without one).
    #[serde(
        default,
        serialize_with = "go_opt_table",
        deserialize_with = "go_any_opt_table"
    )]
    pub values: Option<Table>,
    /// values.schema.json.
    #[serde(default, with = "go_opt_bytes")]
    pub schema: Option<Vec<u8>>,
    /// The schema file's modification time (Go always writes it, zero if unknown).
    #[serde(rename = "schemamodtime", default, with = "go_time")]
    pub schema_mod_time: Option<Timestamp>,
    /// The other files (what `.Files` sees), `crds/` included.
    #[serde(
        default,
        serialize_with = "null_if_empty",
        deserialize_with = "nullable"
    )]
    pub files: Vec<FileRecord>,
    /// Chart.yaml's modification time.
    #[serde(
        rename = "modtime",
        default,
        with = "go_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub mod_time: Option<Timestamp>,
}

/// Chart.yaml with the fields Helm knows, under their Chart.yaml names (Helm's
/// `Metadata`). Fields Helm does not know are not stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataRecord {
    /// `name`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `home`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub home: String,
    /// `sources`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "nullable"
    )]
    pub sources: Vec<String>,
    /// `version`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// `description`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// `keywords`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "nullable"
    )]
    pub keywords: Vec<String>,
    /// `maintainers`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "nullable"
    )]
    pub maintainers: Vec<Maintainer>,
    /// `icon`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub icon: String,
    /// `apiVersion`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `condition`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub condition: String,
    /// `tags` (a string in Chart.yaml's schema).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tags: String,
    /// `appVersion`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app_version: String,
    /// `deprecated`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deprecated: bool,
    /// `annotations`.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "nullable"
    )]
    pub annotations: BTreeMap<String, String>,
    /// `kubeVersion`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kube_version: String,
    /// `dependencies`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "nullable"
    )]
    pub dependencies: Vec<DependencyRecord>,
    /// `type`.
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub chart_type: String,
}

/// An entry of Chart.yaml's `maintainers`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Maintainer {
    /// `name`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `email`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
    /// `url`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
}

/// An entry of `dependencies` in Chart.yaml or Chart.lock (Helm's `Dependency`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DependencyRecord {
    /// `name` (always written).
    #[serde(default)]
    pub name: String,
    /// `version`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// `repository` (always written).
    #[serde(default)]
    pub repository: String,
    /// `condition`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub condition: String,
    /// `tags`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "nullable"
    )]
    pub tags: Vec<String>,
    /// `enabled`, as dependency processing set it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub enabled: bool,
    /// `import-values`.
    #[serde(
        rename = "import-values",
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "go_values",
        deserialize_with = "go_any_values"
    )]
    pub import_values: Vec<Value>,
    /// `alias`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub alias: String,
}

/// Chart.lock (Helm's `Lock`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lock {
    /// `generated` (Go always writes it, zero if unset).
    #[serde(default, with = "go_time")]
    pub generated: Option<Timestamp>,
    /// `digest`.
    #[serde(default)]
    pub digest: String,
    /// `dependencies`.
    #[serde(
        default,
        serialize_with = "null_if_empty",
        deserialize_with = "nullable"
    )]
    pub dependencies: Vec<DependencyRecord>,
}

/// A file of a stored chart; the contents are base64 in the JSON, as Go writes `[]byte`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Its path inside the chart.
    #[serde(default)]
    pub name: String,
    /// Its contents.
    #[serde(default, with = "go_bytes")]
    pub data: Vec<u8>,
    /// Its modification time, if known.
    #[serde(
        rename = "modtime",
        default,
        with = "go_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub mod_time: Option<Timestamp>,
}

/// The chart Helm would store for `chart`: Chart.yaml's known fields (text fields
/// normalised as Helm's loader does), values, schema, templates and files.
///
/// Helm stores the chart after dependency processing, which sets `enabled` on
/// `dependencies` and, with `import-values`, folds imported values into the chart's
/// values; pass the chart as processed to match it. Subcharts are left out, as Helm's
/// chart JSON has no field for them. Not known here, so left unset: `lock` (the loader
/// does not keep Chart.lock) and modification times.
pub fn chart_record(chart: &Chart) -> ChartRecord {
    ChartRecord {
        metadata: metadata_record(&chart.metadata),
        lock: None,
        templates: chart.templates.iter().map(file_record).collect(),
        values: Some(chart.values.clone()),
        schema: chart.schema.clone(),
        schema_mod_time: None,
        files: chart.files.iter().map(file_record).collect(),
        mod_time: None,
    }
}

fn file_record(f: &File) -> FileRecord {
    FileRecord {
        name: f.name.clone(),
        data: f.data.clone(),
        mod_time: None,
    }
}

fn metadata_record(md: &Metadata) -> MetadataRecord {
    let raw = &md.raw;
    let text = |key: &str| sanitize(&scalar(raw.get(key)));
    let texts = |key: &str| match raw.get(key) {
        Some(Value::Array(items)) => items.iter().map(|v| sanitize(&scalar(Some(v)))).collect(),
        _ => Vec::new(),
    };
    let maintainers = match raw.get("maintainers") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_object)
            .map(|m| Maintainer {
                name: sanitize(&scalar(m.get("name"))),
                email: sanitize(&scalar(m.get("email"))),
                url: sanitize(&scalar(m.get("url"))),
            })
            .collect(),
        _ => Vec::new(),
    };
    let annotations = match raw.get("annotations") {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| (k.clone(), scalar(Some(v))))
            .collect(),
        _ => BTreeMap::new(),
    };
    MetadataRecord {
        name: sanitize(&md.name),
        home: text("home"),
        sources: texts("sources"),
        version: md.version.clone(),
        description: text("description"),
        keywords: texts("keywords"),
        maintainers,
        icon: text("icon"),
        api_version: md.api_version.clone(),
        condition: text("condition"),
        tags: text("tags"),
        app_version: text("appVersion"),
        deprecated: raw
            .get("deprecated")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        annotations,
        kube_version: sanitize(&md.kube_version),
        dependencies: md.dependencies.iter().map(dependency_record).collect(),
        chart_type: md.chart_type.clone(),
    }
}

fn dependency_record(d: &Dependency) -> DependencyRecord {
    DependencyRecord {
        name: sanitize(&d.name),
        version: sanitize(&d.version),
        repository: sanitize(&d.repository),
        condition: sanitize(&d.condition),
        tags: d.tags.iter().map(|t| sanitize(t)).collect(),
        enabled: d.enabled,
        import_values: d.import_values.clone(),
        alias: d.alias.clone(),
    }
}

/// A Chart.yaml scalar as the string a Go string field gets from it.
fn scalar(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

/// Helm's loader normalises Chart.yaml's text fields: whitespace becomes a space and
/// characters Go deems unprintable go (controls, format characters, private use;
/// unassigned code points are kept here).
fn sanitize(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if c.is_whitespace() {
                Some(' ')
            } else if c.is_control() || is_format_or_private(c) {
                None
            } else {
                Some(c)
            }
        })
        .collect()
}

/// Unicode's `Cf` (format) and `Co` (private use) characters.
fn is_format_or_private(c: char) -> bool {
    matches!(u32::from(c),
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2
        | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xE000..=0xF8FF | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD
        | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001
        | 0xE0020..=0xE007F | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD)
}

/// The record name of a revision: `sh.helm.release.v1.<release>.v<version>`.
pub fn secret_name(release: &str, version: u32) -> String {
    format!("{SECRET_NAME_PREFIX}.{release}.v{version}")
}

/// The label selector for every revision of one release (what `helm history` queries).
pub fn history_selector(release: &str) -> String {
    format!("name={release},owner=helm")
}

/// The release as Helm stores it: JSON, gzipped at best compression, base64.
pub fn encode_release(release: &Release) -> Result<String, StorageError> {
    let invalid = |reason: String| StorageError::Invalid {
        record: secret_name(&release.name, release.version),
        reason: format!("cannot encode: {reason}"),
    };
    let json = serde_json::to_vec(release).map_err(|e| invalid(e.to_string()))?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&json).map_err(|e| invalid(e.to_string()))?;
    let compressed = gz.finish().map_err(|e| invalid(e.to_string()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(compressed))
}

/// Reads a release that Helm (or [`encode_release`]) stored: base64, then gzip when the
/// bytes start as gzip does (older records are plain JSON), then JSON. `record` names the
/// record in errors. Refuses records that decode past [`MAX_RELEASE_BYTES`].
pub fn decode_release(record: &str, data: &str) -> Result<Release, StorageError> {
    decode_bounded(record, data, MAX_RELEASE_BYTES)
}

fn decode_bounded(record: &str, data: &str, limit: usize) -> Result<Release, StorageError> {
    let bytes = go_base64_decode(data).map_err(|reason| StorageError::Base64 {
        record: record.to_string(),
        layer: "the release",
        reason,
    })?;
    let json = if bytes.len() > GZIP_MAGIC.len() && bytes.starts_with(&GZIP_MAGIC) {
        gunzip_bounded(record, &bytes, limit)?
    } else if bytes.len() > limit {
        return Err(StorageError::TooLarge {
            record: record.to_string(),
            limit,
        });
    } else {
        bytes
    };
    serde_json::from_slice(&json).map_err(|e| StorageError::Json {
        record: record.to_string(),
        reason: e.to_string(),
    })
}

/// Decompresses every gzip member (as Go's reader does), stopping with an error once the
/// output would pass `limit`.
fn gunzip_bounded(record: &str, bytes: &[u8], limit: usize) -> Result<Vec<u8>, StorageError> {
    let mut gz = flate2::read::MultiGzDecoder::new(bytes);
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match gz.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(StorageError::Gzip {
                    record: record.to_string(),
                    reason: e.to_string(),
                });
            }
        };
        if out.len() + n > limit {
            return Err(StorageError::TooLarge {
                record: record.to_string(),
                limit,
            });
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

/// Go's `StdEncoding.DecodeString`, which skips line breaks.
fn go_base64_decode(data: &str) -> Result<Vec<u8>, String> {
    let result = if data.contains(['\r', '\n']) {
        let joined: String = data.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
        GO_BASE64.decode(joined)
    } else {
        GO_BASE64.decode(data)
    };
    result.map_err(|e| e.to_string())
}

/// The Secret Helm's driver creates for a new revision, as the API server shows it
/// (`data.release` base64 once more), labelled `createdAt` with `created_at_unix`. Its
/// namespace is the release's. Fails when the release has no `info` (Helm needs its status
/// for a label).
pub fn secret_for(release: &Release, created_at_unix: i64) -> Result<Value, StorageError> {
    secret_object(release, "createdAt", created_at_unix)
}

/// The Secret Helm's driver writes when it updates a revision (a status change, such as
/// `pending-install` to `deployed` or `deployed` to `superseded`): it replaces the whole
/// object, so the labels carry `modifiedAt` and no longer `createdAt`.
pub fn secret_for_update(release: &Release, modified_at_unix: i64) -> Result<Value, StorageError> {
    secret_object(release, "modifiedAt", modified_at_unix)
}

fn secret_object(release: &Release, stamp: &str, unix: i64) -> Result<Value, StorageError> {
    let name = secret_name(&release.name, release.version);
    let info = release.info.as_ref().ok_or_else(|| StorageError::Invalid {
        record: name.clone(),
        reason: "the release has no info, so no status for its labels".into(),
    })?;
    // Helm sets the timestamp over the release's labels, lays those labels over it again,
    // then the four labels it owns; Helm refuses release labels that use these names.
    let mut labels = release.labels.clone();
    labels.insert(stamp.to_string(), unix.to_string());
    labels.extend(release.labels.clone());
    labels.insert("name".into(), release.name.clone());
    labels.insert("owner".into(), "helm".into());
    labels.insert(
        "status".into(),
        info.status
            .as_ref()
            .map_or_else(String::new, |s| s.as_str().to_string()),
    );
    labels.insert("version".into(), release.version.to_string());
    let encoded = encode_release(release)?;
    let mut metadata = serde_json::Map::new();
    metadata.insert("name".into(), Value::String(name));
    if !release.namespace.is_empty() {
        metadata.insert("namespace".into(), Value::String(release.namespace.clone()));
    }
    metadata.insert("labels".into(), serde_json::json!(labels));
    Ok(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": SECRET_TYPE,
        "data": {
            SECRET_DATA_KEY: base64::engine::general_purpose::STANDARD.encode(encoded),
        },
    }))
}

/// The release in a Secret read from the API (Helm's driver `Get`): `data.release`
/// decoded, and the Secret's labels other than [`SYSTEM_LABELS`] as the release's labels.
pub fn release_from_secret(secret: &Value) -> Result<Release, StorageError> {
    let record = secret
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("(unnamed Secret)");
    let invalid = |reason: &str| StorageError::Invalid {
        record: record.to_string(),
        reason: reason.to_string(),
    };
    let data = secret
        .get("data")
        .and_then(|d| d.get(SECRET_DATA_KEY))
        .ok_or_else(|| invalid("the Secret has no data.release"))?
        .as_str()
        .ok_or_else(|| invalid("the Secret's data.release is not a string"))?;
    let bytes = go_base64_decode(data).map_err(|reason| StorageError::Base64 {
        record: record.to_string(),
        layer: "the Secret's data.release",
        reason,
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| invalid("the Secret's data.release does not hold base64 text"))?;
    let mut release = decode_release(record, &text)?;
    if let Some(Value::Object(labels)) = secret.pointer("/metadata/labels") {
        release.labels = labels
            .iter()
            .filter(|(k, _)| !SYSTEM_LABELS.contains(&k.as_str()))
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect();
    }
    Ok(release)
}

/// An instant as Go's `time.Time` carries it in JSON: RFC 3339 with up to nine fraction
/// digits (trailing zeros dropped) and the writer's UTC offset (`Z` for UTC). Helm writes
/// local time, so the offset is kept to write back what was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z.
    secs: i64,
    /// Nanoseconds within the second.
    nanos: u32,
    /// Seconds east of UTC.
    offset: i32,
}

/// Seconds from 1970 to 0000-01-01T00:00:00Z and to 10000-01-01T00:00:00Z: Go's JSON
/// refuses years outside 0–9999.
const YEAR_0: i64 = -62_167_219_200;
const YEAR_10000: i64 = 253_402_300_800;

/// Go's zero `time.Time` (0001-01-01T00:00:00Z), which means "unset".
const GO_ZERO_SECS: i64 = -62_135_596_800;

impl Timestamp {
    /// The UTC instant `secs` seconds and `nanos` nanoseconds after the Unix epoch; `None`
    /// when `nanos` is a second or more, or the year is outside Go's JSON range (0–9999).
    pub fn from_unix(secs: i64, nanos: u32) -> Option<Timestamp> {
        ((YEAR_0..YEAR_10000).contains(&secs) && nanos < 1_000_000_000).then_some(Timestamp {
            secs,
            nanos,
            offset: 0,
        })
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(&self) -> i64 {
        self.secs
    }

    /// Nanoseconds within the second.
    pub fn subsec_nanos(&self) -> u32 {
        self.nanos
    }

    /// The UTC offset it was written with, in seconds east.
    pub fn offset_seconds(&self) -> i32 {
        self.offset
    }

    /// Go's `IsZero`: the zero instant, whatever the offset.
    fn is_go_zero(&self) -> bool {
        self.secs == GO_ZERO_SECS && self.nanos == 0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let local = self.secs + i64::from(self.offset);
        let (y, mo, d) = civil_from_days(local.div_euclid(86_400));
        let sod = local.rem_euclid(86_400);
        write!(
            f,
            "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
            sod / 3600,
            sod / 60 % 60,
            sod % 60
        )?;
        if self.nanos != 0 {
            let frac = format!("{:09}", self.nanos);
            write!(f, ".{}", frac.trim_end_matches('0'))?;
        }
        if self.offset == 0 {
            return f.write_str("Z");
        }
        let sign = if self.offset < 0 { '-' } else { '+' };
        let off = self.offset.unsigned_abs() / 60;
        write!(f, "{sign}{:02}:{:02}", off / 60, off % 60)
    }
}

impl std::str::FromStr for Timestamp {
    type Err = String;

    /// Parses what Go's `time.Time` JSON accepts: `YYYY-MM-DDTHH:MM:SS`, an optional
    /// fraction (digits past nine ignored), then `Z` or `±HH:MM`.
    fn from_str(s: &str) -> Result<Timestamp, String> {
        let bad = || format!("{s:?} is not an RFC 3339 time");
        let b = s.as_bytes();
        let punct = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
        if b.len() < 20 || punct.iter().any(|&(i, c)| b[i] != c) {
            return Err(bad());
        }
        let field = |from: usize, to: usize| digits(&b[from..to]).ok_or_else(bad);
        let (year, month, day) = (field(0, 4)?, field(5, 7)?, field(8, 10)?);
        let (hour, minute, second) = (field(11, 13)?, field(14, 16)?, field(17, 19)?);
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err(format!("{s:?}: a field is out of range"));
        }
        let mut rest = &b[19..];
        let mut nanos = 0u32;
        if let Some(frac) = rest.strip_prefix(b".") {
            let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return Err(bad());
            }
            // Go keeps nine digits and ignores the rest.
            let kept = &frac[..n.min(9)];
            nanos = kept
                .iter()
                .chain(std::iter::repeat_n(&b'0', 9 - kept.len()))
                .fold(0, |acc, c| acc * 10 + u32::from(c - b'0'));
            rest = &frac[n..];
        }
        let offset = match rest {
            b"Z" => 0,
            [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
                let (h, m) = (
                    digits(&rest[1..3]).ok_or_else(bad)?,
                    digits(&rest[4..6]).ok_or_else(bad)?,
                );
                if h > 23 || m > 59 {
                    return Err(format!("{s:?}: the UTC offset is out of range"));
                }
                let east = i32::try_from(h * 3600 + m * 60).map_err(|_| bad())?;
                if *sign == b'-' { -east } else { east }
            }
            _ => return Err(bad()),
        };
        let local = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
        Ok(Timestamp {
            secs: local - i64::from(offset),
            nanos,
            offset,
        })
    }
}

/// A run of ASCII digits as a number.
fn digits(b: &[u8]) -> Option<i64> {
    b.iter().try_fold(0i64, |n, c| {
        c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `Option<Timestamp>` as a Go `time.Time`: `None` writes Go's zero time (for fields Go
/// always writes; others skip `None`), and the zero time, `null` or `""` read as `None`.
mod go_time {
    use super::{Deserialize, Deserializer, Serializer, Timestamp};
    use serde::de::Error as _;

    pub(super) fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.collect_str(t),
            None => s.serialize_str("0001-01-01T00:00:00Z"),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Timestamp>, D::Error> {
        match Option::<String>::deserialize(d)?.as_deref() {
            None | Some("") => Ok(None),
            Some(s) => {
                let t: Timestamp = s.parse().map_err(D::Error::custom)?;
                Ok((!t.is_go_zero()).then_some(t))
            }
        }
    }
}

/// `Vec<u8>` as Go's `[]byte`: base64; `null` reads as empty.
mod go_bytes {
    use super::{Deserialize, Deserializer, Serializer, go_base64_decode};
    use base64::Engine as _;
    use serde::de::Error as _;

    pub(super) fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(Vec::new()),
            Some(s) => go_base64_decode(&s).map_err(D::Error::custom),
        }
    }
}

/// `Option<Vec<u8>>` as Go's `[]byte`, `None` being `null`.
mod go_opt_bytes {
    use super::{Deserialize, Deserializer, Serializer, go_base64_decode};
    use serde::de::Error as _;

    pub(super) fn serialize<S: Serializer>(b: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match b {
            Some(b) => super::go_bytes::serialize(b, s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| go_base64_decode(&s).map_err(D::Error::custom))
            .transpose()
    }
}

/// A JSON value as Go's `encoding/json` writes one decoded into `any`: object keys in
/// byte order, and numbers (float64 in Go) without a fraction when integral.
struct GoJson<'a>(&'a Value);

impl Serialize for GoJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(m) => go_table(m, s),
            Value::Array(items) => s.collect_seq(items.iter().map(GoJson)),
            Value::Number(n) => match n.as_f64() {
                Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e21 => {
                    s.serialize_i128(f as i128)
                }
                _ => n.serialize(s),
            },
            other => other.serialize(s),
        }
    }
}

fn go_table<S: Serializer>(t: &Table, s: S) -> Result<S::Ok, S::Error> {
    let mut entries: Vec<_> = t.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut map = s.serialize_map(Some(entries.len()))?;
    for (k, v) in entries {
        map.serialize_entry(k, &GoJson(v))?;
    }
    map.end()
}

fn go_opt_table<S: Serializer>(t: &Option<Table>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => go_table(t, s),
        None => s.serialize_none(),
    }
}

fn go_values<S: Serializer>(v: &[Value], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(GoJson))
}

/// A table as Go decodes `map[string]any`: every number a float64 (as chart values are
/// everywhere else in this crate), `null` as empty.
fn go_any_table<'de, D: Deserializer<'de>>(d: D) -> Result<Table, D::Error> {
    Ok(go_any_opt_table(d)?.unwrap_or_default())
}

fn go_any_opt_table<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Table>, D::Error> {
    Ok(
        Option::<Table>::deserialize(d)?.map(|t| match floats(Value::Object(t)) {
            Value::Object(t) => t,
            _ => Table::new(),
        }),
    )
}

fn go_any_values<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Value>, D::Error> {
    Ok(Option::<Vec<Value>>::deserialize(d)?
        .unwrap_or_default()
        .into_iter()
        .map(floats)
        .collect())
}

/// A Go slice or map that may be `null`.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// An empty list as Go writes a nil slice: `null`.
fn null_if_empty<S: Serializer, T: Serialize>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
    if v.is_empty() {
        s.serialize_none()
    } else {
        s.collect_seq(v)
    }
}

/// A status, an empty one (which Go omits) being none.
fn status_or_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Status>, D::Error> {
    match Option::<String>::deserialize(d)?.as_deref() {
        None | Some("") => Ok(None),
        Some(s) => Ok(Some(Status::from(s))),
    }
}

fn is_zero<T: Default + PartialEq>(n: &T) -> bool {
    *n == T::default()
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kustomize::MemTree;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    }

    /// A record made the way Helm's `encodeRelease` makes one, independently of ours.
    fn helm_record(json: &str) -> String {
        STANDARD.encode(gzip(json.as_bytes()))
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn sample() -> Release {
        let tree = MemTree::from_files([
            (
                "web/Chart.yaml",
                "apiVersion: v2\nname: web\nversion: 1.2.3\nappVersion: \"2.0\"\n",
            ),
            ("web/values.yaml", "replicas: 1\n"),
            ("web/templates/cm.yaml", "kind: ConfigMap\n"),
        ]);
        let chart = super::super::load(&tree, "web").unwrap();
        let now = ts("2024-05-01T10:00:00.5+02:00");
        Release {
            name: "web".into(),
            info: Some(Info {
                first_deployed: Some(now),
                last_deployed: Some(now),
                description: "Install complete".into(),
                status: Some(Status::Deployed),
                notes: "visit it".into(),
                ..Info::default()
            }),
            chart: Some(chart_record(&chart)),
            config: json!({"replicas": 3.0}).as_object().unwrap().clone(),
            manifest: "---\n# Source: web/templates/cm.yaml\nkind: ConfigMap\n".into(),
            hooks: vec![Hook {
                name: "migrate".into(),
                kind: "Job".into(),
                path: "templates/job.yaml".into(),
                manifest: "kind: Job\n".into(),
                events: vec!["pre-install".into()],
                last_run: HookExecution {
                    started_at: Some(now),
                    completed_at: Some(now),
                    phase: "Succeeded".into(),
                },
                weight: -5,
                delete_policies: vec!["before-hook-creation".into()],
                output_log_policies: Vec::new(),
            }],
            version: 2,
            namespace: "apps".into(),
            apply_method: "ssa".into(),
            labels: BTreeMap::from([("team".into(), "blue".into())]),
        }
    }

    #[test]
    fn a_release_survives_encoding_and_its_secret() {
        let rel = sample();
        let encoded = encode_release(&rel).unwrap();
        let back = decode_release("r", &encoded).unwrap();
        assert_eq!(
            back,
            Release {
                labels: BTreeMap::new(),
                ..rel.clone()
            }
        );
        // Helm gzips at best compression: the header's XFL byte says so.
        assert_eq!(STANDARD.decode(&encoded).unwrap()[..3], GZIP_MAGIC);
        assert_eq!(STANDARD.decode(&encoded).unwrap()[8], 2);
        let secret = secret_for(&rel, 1_700_000_000).unwrap();
        assert_eq!(release_from_secret(&secret).unwrap(), rel);
    }

    #[test]
    fn the_secret_is_what_helms_driver_writes() {
        let rel = sample();
        let created = secret_for(&rel, 1_700_000_000).unwrap();
        assert_eq!(created["apiVersion"], "v1");
        assert_eq!(created["kind"], "Secret");
        assert_eq!(created["type"], "helm.sh/release.v1");
        assert_eq!(created["metadata"]["name"], "sh.helm.release.v1.web.v2");
        assert_eq!(created["metadata"]["namespace"], "apps");
        // newSecretsObject: name, owner, status, version; Create adds createdAt (Unix
        // seconds); the release's own labels are kept.
        assert_eq!(
            created["metadata"]["labels"],
            json!({"createdAt": "1700000000", "name": "web", "owner": "helm",
                   "status": "deployed", "team": "blue", "version": "2"})
        );
        // The API shows data base64 of the bytes Helm stored, which are base64 themselves.
        let stored = STANDARD
            .decode(created["data"]["release"].as_str().unwrap())
            .unwrap();
        let stored = String::from_utf8(stored).unwrap();
        assert_eq!(decode_release("r", &stored).unwrap().name, "web");
        // Update replaces the object: modifiedAt, and createdAt gone.
        let mut superseded = rel.clone();
        superseded.info.as_mut().unwrap().status = Some(Status::Superseded);
        let updated = secret_for_update(&superseded, 1_700_000_100).unwrap();
        assert_eq!(
            updated["metadata"]["labels"],
            json!({"modifiedAt": "1700000100", "name": "web", "owner": "helm",
                   "status": "superseded", "team": "blue", "version": "2"})
        );
        // The driver's own labels win over a release label of the same name.
        let mut clash = rel.clone();
        clash.labels.insert("owner".into(), "me".into());
        let secret = secret_for(&clash, 1).unwrap();
        assert_eq!(secret["metadata"]["labels"]["owner"], "helm");
        // Reading keeps only the release's own labels, as the driver's Get does.
        assert_eq!(
            release_from_secret(&updated).unwrap().labels,
            BTreeMap::from([("team".to_string(), "blue".to_string())])
        );
        assert_eq!(secret_name("web", 12), "sh.helm.release.v1.web.v12");
        assert_eq!(history_selector("web"), "name=web,owner=helm");
        assert_eq!(LIST_SELECTOR, "owner=helm");
    }

    #[test]
    fn a_release_without_info_has_no_status_to_label() {
        let err = secret_for(&Release::default(), 0).unwrap_err();
        assert!(matches!(err, StorageError::Invalid { .. }), "{err}");
    }

    /// A record as `helm install` leaves it, written by hand with Helm's field names: Helm 4
    /// omits unset times; a hook Helm 3 wrote carries zero times, which mean unset.
    const INSTALLED: &str = r#"{"name":"web","info":{"first_deployed":"2024-05-01T10:00:00.123456789+02:00","last_deployed":"2024-05-01T10:00:00.123456789+02:00","deleted":"","description":"Install complete","status":"deployed","notes":"Hello"},"chart":{"metadata":{"name":"web","version":"1.0.0","description":"A chart","apiVersion":"v2","appVersion":"1.16.0","annotations":{"a":"b"},"dependencies":[{"name":"db","version":"1.x","repository":"","enabled":true}],"type":"application"},"lock":null,"templates":[{"name":"templates/cm.yaml","data":"a2luZDogQ29uZmlnTWFw"}],"values":{"replicas":1,"image":{"tag":"v1"}},"schema":null,"schemamodtime":"0001-01-01T00:00:00Z","files":null,"modtime":"2024-04-30T08:00:00Z"},"config":{"replicas":3},"manifest":"---\n# Source: web/templates/cm.yaml\nkind: ConfigMap\n","hooks":[{"name":"t","kind":"Pod","path":"templates/t.yaml","manifest":"kind: Pod","events":["test"],"last_run":{"started_at":"0001-01-01T00:00:00Z","completed_at":"0001-01-01T00:00:00Z","phase":""},"weight":1}],"version":1,"namespace":"apps","apply_method":"csa"}"#;

    #[test]
    fn reads_a_record_helm_wrote() {
        let rel = decode_release("sh.helm.release.v1.web.v1", &helm_record(INSTALLED)).unwrap();
        assert_eq!(rel.name, "web");
        assert_eq!(rel.version, 1);
        assert_eq!(rel.namespace, "apps");
        assert_eq!(rel.apply_method, "csa");
        let info = rel.info.as_ref().unwrap();
        assert_eq!(info.status, Some(Status::Deployed));
        assert_eq!(info.description, "Install complete");
        assert_eq!(info.notes, "Hello");
        let first = info.first_deployed.unwrap();
        assert_eq!(first.unix_seconds(), 1_714_550_400);
        assert_eq!(first.subsec_nanos(), 123_456_789);
        assert_eq!(first.offset_seconds(), 7200);
        assert_eq!(info.deleted, None);
        let chart = rel.chart.as_ref().unwrap();
        assert_eq!(chart.metadata.app_version, "1.16.0");
        assert_eq!(chart.metadata.chart_type, "application");
        assert!(chart.metadata.dependencies[0].enabled);
        assert_eq!(chart.templates[0].data, b"kind: ConfigMap");
        assert_eq!(chart.values.as_ref().unwrap()["replicas"], json!(1.0));
        assert_eq!(chart.schema, None);
        assert_eq!(chart.schema_mod_time, None);
        assert_eq!(chart.mod_time, Some(ts("2024-04-30T08:00:00Z")));
        // Go decodes `any` numbers as float64.
        assert_eq!(rel.config["replicas"], json!(3.0));
        assert_eq!(rel.hooks[0].last_run, HookExecution::default());
        assert_eq!(rel.hooks[0].weight, 1);
        // Written back, it says the same thing in Helm 4's form.
        let again: Value = serde_json::to_value(&rel).unwrap();
        let mut want: Value = serde_json::from_str(INSTALLED).unwrap();
        want["info"].as_object_mut().unwrap().remove("deleted");
        want["hooks"][0]["last_run"] = json!({"phase": ""});
        assert_eq!(again, want);
    }

    #[test]
    fn reads_a_record_stored_before_compression() {
        let plain = STANDARD.encode(r#"{"name":"old","version":3,"info":{"status":"superseded"}}"#);
        let rel = decode_release("r", &plain).unwrap();
        assert_eq!((rel.name.as_str(), rel.version), ("old", 3));
        assert_eq!(rel.info.unwrap().status, Some(Status::Superseded));
    }

    #[test]
    fn broken_records_fail_naming_the_record() {
        let err = decode_release("sh.helm.release.v1.x.v1", "not base64!").unwrap_err();
        assert!(matches!(err, StorageError::Base64 { .. }));
        assert!(
            err.to_string()
                .starts_with("release record sh.helm.release.v1.x.v1: ")
        );

        let mut corrupt = gzip(b"{}");
        let mid = corrupt.len() / 2;
        corrupt[mid..].fill(0xff);
        let err = decode_release("r", &STANDARD.encode(corrupt)).unwrap_err();
        assert!(matches!(err, StorageError::Gzip { .. }), "{err}");

        let err = decode_release("r", &helm_record("{\"name\": ")).unwrap_err();
        assert!(matches!(err, StorageError::Json { .. }), "{err}");
        let err = decode_release("r", &helm_record(r#"{"version":"1"}"#)).unwrap_err();
        assert!(matches!(err, StorageError::Json { .. }), "{err}");

        let secret = json!({"metadata": {"name": "s"}, "data": {}});
        let err = release_from_secret(&secret).unwrap_err();
        assert_eq!(
            err.to_string(),
            "release record s: the Secret has no data.release"
        );
        let secret = json!({"metadata": {"name": "s"}, "data": {"release": "%%"}});
        assert!(matches!(
            release_from_secret(&secret).unwrap_err(),
            StorageError::Base64 {
                layer: "the Secret's data.release",
                ..
            }
        ));
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        // 80 gzip members of 1 MiB of zeros each: about 80 KiB that Go's reader, which
        // reads every member, would inflate to 80 MiB.
        let member = gzip(&vec![0u8; 1 << 20]);
        let bomb = STANDARD.encode(member.repeat(80));
        assert!(bomb.len() < 200 * 1024);
        let err = decode_release("r", &bomb).unwrap_err();
        assert!(
            matches!(
                err,
                StorageError::TooLarge {
                    limit: MAX_RELEASE_BYTES,
                    ..
                }
            ),
            "{err}"
        );
        // The same bound holds for plain records.
        let plain = STANDARD.encode(vec![b' '; 2048]);
        assert!(matches!(
            decode_bounded("r", &plain, 1024).unwrap_err(),
            StorageError::TooLarge { limit: 1024, .. }
        ));
    }

    #[test]
    fn times_are_written_and_read_as_go_does() {
        // time.Time's MarshalJSON is RFC3339Nano: fraction trimmed of zeros, Z for UTC.
        let t = Timestamp::from_unix(1_714_550_400, 0).unwrap();
        assert_eq!(t.to_string(), "2024-05-01T08:00:00Z");
        let t = Timestamp::from_unix(1_714_550_400, 120_000_000).unwrap();
        assert_eq!(t.to_string(), "2024-05-01T08:00:00.12Z");
        let t = Timestamp::from_unix(-1, 999_999_999).unwrap();
        assert_eq!(t.to_string(), "1969-12-31T23:59:59.999999999Z");
        for s in [
            "2024-05-01T10:00:00.123456789+02:00",
            "2024-02-29T23:59:59-07:30",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.000000001Z",
        ] {
            assert_eq!(ts(s).to_string(), s);
        }
        assert_eq!(
            ts("2024-05-01T10:00:00+02:00").unix_seconds(),
            ts("2024-05-01T08:00:00Z").unix_seconds()
        );
        // Go reads past nine fraction digits and drops them.
        assert_eq!(
            ts("2024-05-01T08:00:00.1234567891Z").subsec_nanos(),
            123_456_789
        );
        for bad in [
            "2024-05-01 08:00:00Z",
            "2024-05-01T08:00:00",
            "2024-02-30T08:00:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T08:00:60Z",
            "2024-05-01T08:00:00.Z",
            "2024-05-01T08:00:00+2:00",
            "2024-05-01T08:00:00+24:00",
        ] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad}");
        }
        assert_eq!(Timestamp::from_unix(YEAR_10000, 0), None);
        assert_eq!(Timestamp::from_unix(0, 1_000_000_000), None);
    }

    #[test]
    fn json_has_helms_names_and_omissions() {
        let rel = Release {
            name: "web".into(),
            info: Some(Info {
                first_deployed: Timestamp::from_unix(0, 0),
                status: Some(Status::PendingInstall),
                ..Info::default()
            }),
            hooks: vec![Hook::default()],
            version: 1,
            ..Release::default()
        };
        assert_eq!(
            serde_json::to_string(&rel).unwrap(),
            r#"{"name":"web","info":{"first_deployed":"1970-01-01T00:00:00Z","status":"pending-install"},"hooks":[{"last_run":{"phase":""}}],"version":1}"#
        );
        // chart.v2.Chart: nil slices and maps are null, schemamodtime is always written.
        assert_eq!(
            serde_json::to_string(&ChartRecord::default()).unwrap(),
            r#"{"metadata":{},"lock":null,"templates":null,"values":null,"schema":null,"schemamodtime":"0001-01-01T00:00:00Z","files":null}"#
        );
        let lock = Lock {
            digest: "sha256:x".into(),
            dependencies: vec![DependencyRecord {
                name: "db".into(),
                ..DependencyRecord::default()
            }],
            ..Lock::default()
        };
        assert_eq!(
            serde_json::to_string(&lock).unwrap(),
            r#"{"generated":"0001-01-01T00:00:00Z","digest":"sha256:x","dependencies":[{"name":"db","repository":""}]}"#
        );
        let statuses = [
            "unknown",
            "deployed",
            "uninstalled",
            "superseded",
            "failed",
            "uninstalling",
            "pending-install",
            "pending-upgrade",
            "pending-rollback",
        ];
        for s in statuses {
            let status = Status::from(s);
            assert!(!matches!(status, Status::Other(_)), "{s}");
            assert_eq!(serde_json::to_value(&status).unwrap(), s);
        }
        assert_eq!(Status::from("paused"), Status::Other("paused".into()));
    }

    #[test]
    fn a_chart_is_stored_as_helm_stores_it() {
        let tree = MemTree::from_files([
            (
                "web/Chart.yaml",
                "apiVersion: v2\nname: web\nversion: 1.0.0\ndescription: |\n  Web\n  server\n\
                 home: https://example.com\nkeywords: [a, b]\nmaintainers:\n- name: Ann\n  email: ann@example.com\n\
                 annotations:\n  z: \"1\"\n  a: 2\ndeprecated: true\nunknownField: x\n\
                 dependencies:\n- name: db\n  version: 1.x\n  repository: file://../db\n  import-values: [data]\n",
            ),
            ("web/values.yaml", "zeta: 1\nalpha: {b: 2.5, a: [1]}\n"),
            ("web/values.schema.json", "{}"),
            ("web/templates/cm.yaml", "kind: ConfigMap\n"),
            ("web/README.md", "hi"),
            (
                "web/charts/db/Chart.yaml",
                "apiVersion: v2\nname: db\nversion: 1.0.0\n",
            ),
            ("web/charts/db/templates/x.yaml", "kind: Secret\n"),
        ]);
        let chart = super::super::load(&tree, "web").unwrap();
        let record = serde_json::to_value(chart_record(&chart)).unwrap();
        assert_eq!(
            record["metadata"],
            json!({
                "name": "web", "home": "https://example.com", "version": "1.0.0",
                // Helm's loader turns the description's line breaks into spaces.
                "description": "Web server ", "keywords": ["a", "b"],
                "maintainers": [{"name": "Ann", "email": "ann@example.com"}],
                "apiVersion": "v2", "deprecated": true, "annotations": {"a": "2", "z": "1"},
                "dependencies": [{"name": "db", "version": "1.x", "repository": "file://../db",
                                  "import-values": ["data"]}],
            })
        );
        // Subcharts are not stored: the chart JSON has no field for them.
        assert_eq!(
            record.as_object().unwrap().keys().collect::<Vec<_>>(),
            [
                "metadata",
                "lock",
                "templates",
                "values",
                "schema",
                "schemamodtime",
                "files"
            ]
        );
        assert_eq!(
            record["templates"],
            json!([{"name": "templates/cm.yaml", "data": "a2luZDogQ29uZmlnTWFwCg=="}])
        );
        assert_eq!(
            record["files"],
            json!([{"name": "README.md", "data": "aGk="}])
        );
        assert_eq!(record["schema"], "e30=");
        // Values as Go writes map[string]any: sorted keys, float64 integers without ".0".
        let text = serde_json::to_string(&chart_record(&chart)).unwrap();
        assert!(
            text.contains(r#""values":{"alpha":{"a":[1],"b":2.5},"zeta":1}"#),
            "{text}"
        );
    }
}
