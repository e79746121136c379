//! Server-side Table output: the `meta.k8s.io/v1` `Table` the kube-apiserver
//! returns for `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`, which is
//! what `kubectl get` renders.
//!
//! Three column sources exist, as upstream:
//! - [`builtin_columns`]: the printers of `pkg/printers/internalversion` for
//!   built-in kinds (the server always prints "wide", so priority-1 columns
//!   carry cells and kubectl hides them unless `-o wide`);
//! - [`crd_columns`]: a CRD version's `additionalPrinterColumns`, evaluated
//!   with Kubernetes JSONPath as `apiextensions-apiserver`'s table convertor does;
//! - the default convertor (`Name`, `Created At`) for every other kind.
//!
//! Everything here is pure: the clock is a parameter, objects are JSON.
//! Objects are read as the v1 JSON the server stores; where the real server
//! would have filled a default before printing (Deployment `replicas`, Service
//! `type`, Secret `type`, …) the printers assume that default when the field
//! is absent, so an undefaulted simulator object prints like a real one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use flotilla_core::labels::Selector;
use serde_json::{Map, Value, json};

/// One column of a Table (`metav1.TableColumnDefinition`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDefinition {
    /// Human-readable name, e.g. `Ready`; kubectl upper-cases it.
    pub name: String,
    /// OpenAPI type: `string`, `integer`, `number`, `boolean` or `date`.
    pub column_type: String,
    /// OpenAPI format; `name` marks the column holding the object name.
    pub format: String,
    /// Description; the server returns it, clients do not display it.
    pub description: String,
    /// 0 for default columns, 1 for columns kubectl shows only with `-o wide`.
    pub priority: i32,
}

impl ColumnDefinition {
    fn new(name: &str, column_type: &str, format: &str, description: &str, priority: i32) -> Self {
        Self {
            name: name.to_string(),
            column_type: column_type.to_string(),
            format: format.to_string(),
            description: description.to_string(),
            priority,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.column_type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// The columns of one kind and the way to compute their cells.
#[derive(Debug, Clone)]
pub struct Columns {
    definitions: Vec<ColumnDefinition>,
    source: CellSource,
}

#[derive(Debug, Clone)]
enum CellSource {
    /// A built-in printer: one function computes the whole row.
    Printer(printers::PrintFn),
    /// The default convertor: name and RFC 3339 creation time.
    CreatedAt,
    /// CRD printer columns after the name, one JSONPath each.
    Custom(Vec<CustomColumn>),
}

#[derive(Debug, Clone)]
struct CustomColumn {
    path: jsonpath::Template,
    column_type: String,
}

/// One computed row: its cells and the optional row conditions.
struct Row {
    cells: Vec<Value>,
    conditions: Option<Value>,
}

impl Row {
    fn new(cells: Vec<Value>) -> Self {
        Self {
            cells,
            conditions: None,
        }
    }
}

impl Columns {
    /// The column definitions, in order.
    pub fn definitions(&self) -> &[ColumnDefinition] {
        &self.definitions
    }

    /// The cells of `object`'s row (as many as there are definitions), with
    /// ages measured against `now`.
    pub fn cells(&self, object: &Value, now: DateTime<Utc>) -> Vec<Value> {
        self.row(object, now).cells
    }

    fn row(&self, object: &Value, now: DateTime<Utc>) -> Row {
        match &self.source {
            CellSource::Printer(print) => print(object, now),
            CellSource::CreatedAt => Row::new(vec![
                json!(text(object, &["metadata", "name"])),
                json!(created_at(object)),
            ]),
            CellSource::Custom(columns) => {
                let mut cells = Vec::with_capacity(columns.len() + 1);
                cells.push(json!(text(object, &["metadata", "name"])));
                cells.extend(columns.iter().map(|c| custom_cell(c, object, now)));
                Row::new(cells)
            }
        }
    }
}

/// What each row carries in `object`, as chosen by the `includeObject` query
/// parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// `None`: `"object": null`.
    None,
    /// `Metadata` (the default): a `meta.k8s.io/v1` `PartialObjectMetadata`
    /// with the object's whole `metadata`.
    #[default]
    Metadata,
    /// `Object`: the object itself.
    Object,
}

impl IncludeObject {
    /// Reads the `includeObject` query parameter; absent or empty means
    /// [`IncludeObject::Metadata`].
    pub fn from_query(value: Option<&str>) -> Result<Self, UnknownIncludeObject> {
        match value.unwrap_or("") {
            "" | "Metadata" => Ok(Self::Metadata),
            "None" => Ok(Self::None),
            "Object" => Ok(Self::Object),
            other => Err(UnknownIncludeObject {
                value: other.to_string(),
            }),
        }
    }
}

/// The `includeObject` query parameter had a value the server rejects (with
/// 400 Bad Request and this message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownIncludeObject {
    /// The rejected value.
    pub value: String,
}

impl fmt::Display for UnknownIncludeObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unrecognized includeObject value: {:?}", self.value)
    }
}

impl std::error::Error for UnknownIncludeObject {}

/// Builds the `Table` for `objects` (one object for a GET, the page's items
/// for a LIST). `list_meta` is the ListMeta to report: `resourceVersion`,
/// `continue` and `remainingItemCount` are copied from it when set; for a
/// single object pass its own `resourceVersion`, as the server does.
///
/// In a watch, the server sends column definitions with the first event only;
/// later events carry `"columnDefinitions": null` (upstream's `NoHeaders`).
pub fn table(
    kind_columns: &Columns,
    objects: &[&Value],
    include_object: IncludeObject,
    now: DateTime<Utc>,
    list_meta: Value,
) -> Value {
    let mut metadata = Map::new();
    for key in ["resourceVersion", "continue"] {
        if let Some(value) = list_meta
            .get(key)
            .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
        {
            metadata.insert(key.to_string(), value.clone());
        }
    }
    if let Some(count) = list_meta
        .get("remainingItemCount")
        .filter(|v| v.is_number())
    {
        metadata.insert("remainingItemCount".to_string(), count.clone());
    }
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let row = kind_columns.row(object, now);
            let mut out = Map::new();
            out.insert("cells".to_string(), Value::Array(row.cells));
            if let Some(conditions) = row.conditions {
                out.insert("conditions".to_string(), conditions);
            }
            out.insert(
                "object".to_string(),
                embedded_object(object, include_object),
            );
            Value::Object(out)
        })
        .collect();
    // The default convertor appends to a nil slice, so an empty list has
    // `"rows": null` there, while printers and CRD columns give `[]`.
    let rows = match (&kind_columns.source, rows.is_empty()) {
        (CellSource::CreatedAt, true) => Value::Null,
        _ => Value::Array(rows),
    };
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": kind_columns.definitions.iter().map(ColumnDefinition::to_json).collect::<Vec<_>>(),
        "rows": rows,
    })
}

fn embedded_object(object: &Value, include_object: IncludeObject) -> Value {
    match include_object {
        IncludeObject::None => Value::Null,
        IncludeObject::Object => object.clone(),
        IncludeObject::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
        }),
    }
}

/// The columns the real server uses for a built-in `group`/`kind` (`""` is
/// the core group). Kinds without a printer — Role, ClusterRole,
/// CustomResourceDefinition, LimitRange, and anything unknown — get the
/// default convertor's `Name` and `Created At` (type `date`, RFC 3339 cells).
pub fn builtin_columns(group: &str, kind: &str) -> Columns {
    match printers::lookup(group, kind) {
        Some((definitions, print)) => Columns {
            definitions,
            source: CellSource::Printer(print),
        },
        None => default_columns(),
    }
}

fn default_columns() -> Columns {
    Columns {
        definitions: vec![
            ColumnDefinition::new("Name", "string", "name", docs::META_NAME, 0),
            ColumnDefinition::new("Created At", "date", "", docs::META_CREATED, 0),
        ],
        source: CellSource::CreatedAt,
    }
}

/// A CRD printer column's `jsonPath` does not parse. The server then logs
/// and keeps serving the columns parsed before it; [`CrdColumnsError::usable`]
/// holds exactly those.
#[derive(Debug, Clone)]
pub struct CrdColumnsError {
    json_path: String,
    reason: String,
    usable: Columns,
}

impl CrdColumnsError {
    /// The offending `jsonPath`.
    pub fn json_path(&self) -> &str {
        &self.json_path
    }

    /// Why the JSONPath parser rejected it.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The columns the server would serve anyway: Name plus the columns
    /// before the bad one.
    pub fn usable(&self) -> &Columns {
        &self.usable
    }
}

impl fmt::Display for CrdColumnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unrecognized column definition {:?}", self.json_path)
    }
}

impl std::error::Error for CrdColumnsError {}

/// Columns for a custom resource from its CRD version's
/// `additionalPrinterColumns` (the JSON array; `null` or `[]` when the CRD
/// declares none, in which case the server shows `Name` and `Age`).
pub fn crd_columns(additional_printer_columns: &Value) -> Result<Columns, CrdColumnsError> {
    let declared = additional_printer_columns
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let age_default = [json!({
        "name": "Age",
        "type": "date",
        "description": docs::META_CREATED,
        "jsonPath": ".metadata.creationTimestamp",
    })];
    let declared = if declared.is_empty() {
        &age_default[..]
    } else {
        declared
    };

    let mut columns = Columns {
        definitions: vec![ColumnDefinition::new(
            "Name",
            "string",
            "name",
            docs::META_NAME,
            0,
        )],
        source: CellSource::Custom(Vec::new()),
    };
    for column in declared {
        let json_path = text(column, &["jsonPath"]);
        let path = match jsonpath::Template::parse(&format!("{{{json_path}}}")) {
            Ok(path) => path,
            Err(reason) => {
                return Err(CrdColumnsError {
                    json_path: json_path.to_string(),
                    reason,
                    usable: columns,
                });
            }
        };
        let description = match text(column, &["description"]) {
            "" => format!("Custom resource definition column (in JSONPath format): {json_path}"),
            given => given.to_string(),
        };
        let column_type = text(column, &["type"]).to_string();
        columns.definitions.push(ColumnDefinition {
            name: text(column, &["name"]).to_string(),
            column_type: column_type.clone(),
            format: text(column, &["format"]).to_string(),
            description,
            priority: int_or(column, &["priority"], 0) as i32,
        });
        if let CellSource::Custom(cells) = &mut columns.source {
            cells.push(CustomColumn { path, column_type });
        }
    }
    Ok(columns)
}

/// One CRD cell: the first JSONPath result rendered per column type, or
/// `null` when the path finds nothing or fails (e.g. an index out of range).
fn custom_cell(column: &CustomColumn, object: &Value, now: DateTime<Utc>) -> Value {
    let Ok(results) = column.path.find_results(object) else {
        return Value::Null;
    };
    let Some(value) = results.first().and_then(|first| first.first()) else {
        return Value::Null;
    };
    if column.column_type == "string" {
        return json!(value.print());
    }
    value.typed_cell(&column.column_type, now)
}

/// Go's `duration.HumanDuration`: a short, 2–3 significant figure age such
/// as `45s`, `3m10s`, `70m`, `5h3m`, `2d1h`, `400d` or `2y1d`. Durations
/// below -1s print `<invalid>` (clock skew tolerance as upstream).
pub fn human_duration(d: TimeDelta) -> String {
    duration::human(d)
}

// ---------------------------------------------------------------------------
// Reading JSON objects the way the Go printers read typed structs: a missing
// field is the zero value.

static NULL: Value = Value::Null;

fn at<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    path.iter()
        .fold(value, |v, key| v.get(*key).unwrap_or(&NULL))
}

fn text<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    at(value, path).as_str().unwrap_or("")
}

/// An integer field, or `default` when absent (the server's defaulted value).
fn int_or(value: &Value, path: &[&str], default: i64) -> i64 {
    let v = at(value, path);
    v.as_i64()
        .or_else(|| v.as_f64().map(|f| f as i64))
        .unwrap_or(default)
}

fn int(value: &Value, path: &[&str]) -> i64 {
    int_or(value, path, 0)
}

fn items<'a>(value: &'a Value, path: &[&str]) -> &'a [Value] {
    at(value, path)
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn len_of(value: &Value, path: &[&str]) -> usize {
    match at(value, path) {
        Value::Array(a) => a.len(),
        Value::Object(o) => o.len(),
        _ => 0,
    }
}

fn is_set(value: &Value, path: &[&str]) -> bool {
    !at(value, path).is_null()
}

fn or_default<'a>(s: &'a str, default: &'a str) -> &'a str {
    if s.is_empty() { default } else { s }
}

/// A `resource.Quantity` as its string; `missing` when absent (`"0"` for a
/// map value, `"<nil>"` for a nil pointer). Quantities are printed as
/// stored, not re-canonicalised.
fn quantity(value: &Value, missing: &str) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => missing.to_string(),
    }
}

// ---------------------------------------------------------------------------
// Time.

/// A `metav1.Time`; `None` for absent, `null`, unparsable or the zero time
/// (`0001-01-01T00:00:00Z`), all of which the printers treat as zero.
fn timestamp(value: &Value, path: &[&str]) -> Option<DateTime<Utc>> {
    parse_rfc3339(at(value, path).as_str()?).filter(|t| *t != zero_time())
}

/// Go's `time.Parse(time.RFC3339, …)`: an upper-case `T`, `Z` or a numeric
/// offset, optional fractional seconds.
fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    if s.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let normalised = match s.strip_suffix('Z') {
        Some(rest) => format!("{rest}+00:00"),
        None => s.to_string(),
    };
    DateTime::parse_from_str(&normalised, "%Y-%m-%dT%H:%M:%S%.f%:z")
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn zero_time() -> DateTime<Utc> {
    chrono::NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `translateTimestampSince`: `<unknown>` for the zero time, else the age.
fn since(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        Some(t) => human_duration(now - t),
        None => "<unknown>".to_string(),
    }
}

fn age(object: &Value, now: DateTime<Utc>) -> String {
    since(timestamp(object, &["metadata", "creationTimestamp"]), now)
}

/// The default convertor's `Created At` cell: RFC 3339 in UTC, whole seconds.
fn created_at(object: &Value) -> String {
    timestamp(object, &["metadata", "creationTimestamp"])
        .unwrap_or_else(zero_time)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

mod duration {
    use chrono::TimeDelta;

    const SECOND: i64 = 1_000_000_000;
    const MINUTE: i64 = 60 * SECOND;
    const HOUR: i64 = 60 * MINUTE;

    /// Port of apimachinery `pkg/util/duration.HumanDuration`, on Go's
    /// nanosecond `time.Duration` (saturating like `time.Since`).
    pub(super) fn human(d: TimeDelta) -> String {
        let nanos = d.num_nanoseconds().unwrap_or(if d < TimeDelta::zero() {
            i64::MIN
        } else {
            i64::MAX
        });
        // Go truncates d.Seconds() toward zero, so -1.9s counts as -1s.
        let seconds = nanos / SECOND;
        if seconds < -1 {
            return "<invalid>".to_string();
        }
        if seconds < 0 {
            return "0s".to_string();
        }
        if seconds < 60 * 2 {
            return format!("{seconds}s");
        }
        let minutes = nanos / MINUTE;
        if minutes < 10 {
            let s = (nanos / SECOND) % 60;
            return if s == 0 {
                format!("{minutes}m")
            } else {
                format!("{minutes}m{s}s")
            };
        }
        if minutes < 60 * 3 {
            return format!("{minutes}m");
        }
        let hours = nanos / HOUR;
        if hours < 8 {
            let m = (nanos / MINUTE) % 60;
            return if m == 0 {
                format!("{hours}h")
            } else {
                format!("{hours}h{m}m")
            };
        }
        if hours < 48 {
            return format!("{hours}h");
        }
        if hours < 24 * 8 {
            let h = hours % 24;
            return if h == 0 {
                format!("{}d", hours / 24)
            } else {
                format!("{}d{}h", hours / 24, h)
            };
        }
        if hours < 24 * 365 * 2 {
            return format!("{}d", hours / 24);
        }
        if hours < 24 * 365 * 8 {
            let dy = (hours / 24) % 365;
            return if dy == 0 {
                format!("{}y", hours / 24 / 365)
            } else {
                format!("{}y{}d", hours / 24 / 365, dy)
            };
        }
        format!("{}y", hours / 24 / 365)
    }
}

// ---------------------------------------------------------------------------

/// The Kubernetes JSONPath dialect (client-go `util/jsonpath`), as the CRD
/// table convertor uses it: templates are parsed once per column and
/// evaluated with missing keys allowed. `range`/`end` blocks are not
/// supported (printer columns are single paths).
mod jsonpath {
    use chrono::{DateTime, Utc};
    use serde_json::{Number, Value};

    use flotilla_core::gofmt;

    /// A parsed template such as `{.status.conditions[?(@.type=="Ready")].status}`.
    #[derive(Debug, Clone)]
    pub(super) struct Template {
        root: Vec<Node>,
    }

    #[derive(Debug, Clone)]
    enum Node {
        List(Vec<Node>),
        Text(String),
        Field(String),
        Array([Param; 3]),
        Filter {
            left: Vec<Node>,
            right: Vec<Node>,
            operator: String,
        },
        Int(i64),
        Float(f64),
        Bool(bool),
        Wildcard,
        Recursive,
        Union(Vec<Vec<Node>>),
        Identifier(String),
    }

    /// One bound of `[start:end:step]`.
    #[derive(Debug, Clone, Copy, Default)]
    struct Param {
        value: i64,
        known: bool,
        /// `end` implied by a lone index (`[3]` is `[3:4]`).
        derived: bool,
    }

    /// A value found while evaluating: a node of the object, or a literal
    /// from the template. Go keeps the literal's type (int, float64, …),
    /// which decides how filters compare and how cells print.
    #[derive(Debug, Clone)]
    pub(super) enum Item<'a> {
        Json(&'a Value),
        Str(String),
        Int(i64),
        Float(f64),
        Bool(bool),
        /// A byte of a string, produced by `[*]` on a string.
        Byte(u8),
    }

    impl Template {
        /// Parses a template; the error is the parser's reason.
        pub(super) fn parse(text: &str) -> Result<Self, String> {
            let mut parser = Parser {
                input: text,
                pos: 0,
                start: 0,
                width: 0,
            };
            Ok(Self {
                root: parser.parse_text()?,
            })
        }

        /// Upstream's `FindResults`: one result list per top-level node.
        pub(super) fn find_results<'a>(
            &self,
            data: &'a Value,
        ) -> Result<Vec<Vec<Item<'a>>>, String> {
            let input = [Item::Json(data)];
            self.root.iter().map(|node| walk(&input, node)).collect()
        }
    }

    struct Parser<'a> {
        input: &'a str,
        pos: usize,
        start: usize,
        width: usize,
    }

    /// Parses `{text}` and returns the nodes of its single action.
    fn parse_action(text: &str) -> Result<Vec<Node>, String> {
        let template = Template::parse(&format!("{{{text}}}"))?;
        match template.root.into_iter().next() {
            Some(Node::List(nodes)) => Ok(nodes),
            _ => Ok(Vec::new()),
        }
    }

    impl Parser<'_> {
        fn rest(&self) -> &str {
            self.input.get(self.pos..).unwrap_or("")
        }

        fn next(&mut self) -> Option<char> {
            let c = self.rest().chars().next();
            self.width = c.map_or(0, char::len_utf8);
            self.pos += self.width;
            c
        }

        fn peek(&mut self) -> Option<char> {
            let c = self.next();
            self.backup();
            c
        }

        fn backup(&mut self) {
            self.pos -= self.width;
        }

        fn consume_text(&mut self) -> String {
            let text = self
                .input
                .get(self.start..self.pos)
                .unwrap_or("")
                .to_string();
            self.start = self.pos;
            text
        }

        fn byte_before_last(&self) -> Option<u8> {
            self.pos
                .checked_sub(2)
                .and_then(|i| self.input.as_bytes().get(i).copied())
        }

        fn parse_text(&mut self) -> Result<Vec<Node>, String> {
            let mut root = Vec::new();
            loop {
                if self.rest().starts_with('{') {
                    if self.pos > self.start {
                        root.push(Node::Text(self.consume_text()));
                    }
                    self.pos += 1;
                    self.consume_text();
                    root.push(Node::List(self.parse_inside_action()?));
                    continue;
                }
                if self.next().is_none() {
                    break;
                }
            }
            if self.pos > self.start {
                root.push(Node::Text(self.consume_text()));
            }
            Ok(root)
        }

        fn parse_inside_action(&mut self) -> Result<Vec<Node>, String> {
            let mut cur = Vec::new();
            loop {
                let rest = self.rest();
                if rest.starts_with('}') {
                    self.pos += 1;
                    self.consume_text();
                    return Ok(cur);
                }
                if rest.starts_with("[?(") {
                    self.parse_filter(&mut cur)?;
                    continue;
                }
                if rest.starts_with("..") {
                    self.parse_recursive(&mut cur)?;
                    continue;
                }
                match self.next() {
                    None | Some('\r' | '\n') => return Err("unclosed action".to_string()),
                    Some(' ' | '@' | '$') => {
                        self.consume_text();
                    }
                    Some('[') => self.parse_array(&mut cur)?,
                    Some(quote @ ('"' | '\'')) => self.parse_quote(&mut cur, quote)?,
                    Some('.') => self.parse_field(&mut cur)?,
                    Some(c) if c == '+' || c == '-' || c.is_ascii_digit() => {
                        self.backup();
                        self.parse_number(&mut cur)?;
                    }
                    Some(c) if is_alphanumeric(c) => {
                        self.backup();
                        self.parse_identifier(&mut cur)?;
                    }
                    Some(c) => {
                        return Err(format!(
                            "unrecognized character in action: U+{:04X} {c:?}",
                            c as u32
                        ));
                    }
                }
            }
        }

        fn parse_identifier(&mut self, cur: &mut Vec<Node>) -> Result<(), String> {
            loop {
                let c = self.next();
                if is_terminator(c) {
                    self.backup();
                    break;
                }
            }
            let value = self.consume_text();
            cur.push(match value.as_str() {
                "true" => Node::Bool(true),
                "false" => Node::Bool(false),
                _ => Node::Identifier(value),
            });
            Ok(())
        }

        fn parse_recursive(&mut self, cur: &mut Vec<Node>) -> Result<(), String> {
            if matches!(cur.last(), Some(Node::Recursive)) {
                return Err("invalid multiple recursive descent".to_string());
            }
            self.pos += 2;
            self.consume_text();
            cur.push(Node::Recursive);
            if self.peek().is_some_and(is_alphanumeric) {
                self.parse_field(cur)?;
            }
            Ok(())
        }

        fn parse_number(&mut self, cur: &mut Vec<Node>) -> Result<(), String> {
            if matches!(self.peek(), Some('+' | '-')) {
                self.next();
            }
            loop {
                match self.next() {
                    Some(c) if c == '.' || c.is_ascii_digit() => {}
                    _ => {
                        self.backup();
                        break;
                    }
                }
            }
            let value = self.consume_text();
            if let Ok(i) = value.parse::<i64>() {
                cur.push(Node::Int(i));
            } else if let Ok(f) = value.parse::<f64>() {
                cur.push(Node::Float(f));
            } else {
                return Err(format!("cannot parse number {value}"));
            }
            Ok(())
        }

        fn parse_array(&mut self, cur: &mut Vec<Node>) -> Result<(), String> {
            loop {
                match self.next() {
                    None | Some('\n') => return Err("unterminated array".to_string()),
                    Some(']') => break,
                    Some(_) => {}
                }
            }
            let consumed = self.consume_text();
            let inner = consumed
                .get(1..consumed.len().saturating_sub(1))
                .unwrap_or("");
            let inner = if inner == "*" { ":" } else { inner };

            let parts: Vec<&str> = inner.split(',').collect();
            if parts.len() > 1 {
                let lists = parts
                    .iter()
                    .map(|part| parse_action(&format!("[{}]", part.trim_matches(' '))))
                    .collect::<Result<Vec<_>, _>>()?;
                cur.push(Node::Union(lists));
                return Ok(());
            }

            // ['key'] is the field `.key` (dots inside still split it, as upstream).
            if let Some(key) = inner
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .filter(|key| !key.contains('\''))
            {
                cur.extend(parse_action(&format!(".{key}"))?);
                return Ok(());
            }

            let groups =
                slice_groups(inner).ok_or_else(|| format!("invalid array index {inner}"))?;
            let mut params = [Param::default(); 3];
            for i in 0..3 {
                let group = groups[i];
                if group.is_empty() {
                    if i == 1 {
                        params[1] = Param {
                            value: params[0].value + 1,
                            known: true,
                            derived: true,
                        };
                    }
                    continue;
                }
                let number = if i > 0 { &group[1..] } else { group };
                if i > 0 && number.is_empty() {
                    params[i].known = false;
                } else {
                    params[i].known = true;
                    params[i].value = number
                        .parse()
                        .map_err(|_| format!("array index {number} is not a number"))?;
                }
            }
            cur.push(Node::Array(params));
            Ok(())
        }

        fn parse_filter(&mut self, cur: &mut Vec<Node>) -> Result<(), String> {
            self.pos += 3;
            self.consume_text();
            let (mut begin, mut end, mut pair) = (false, false, '"');
            loop {
                match self.next() {
                    None | Some('\n') => return Err("unterminated filter".to_string()),
                    Some(quote @ ('"' | '\'')) => {
                        if !begin {
                            begin = true;
                            pair = quote;
                            continue;
                        }
                        if self.byte_before_last() != Some(b'\\') && quote == pair {
                            end = true;
                        }
                    }
                    Some(')') if begin == end => break,
                    Some(_) => {}
                }
            }
            if self.next() != Some(']') {
                return Err("unclosed array expect ]".to_string());
            }
            let consumed = self.consume_text();
            let expression = consumed
                .get(..consumed.len().saturating_sub(2))
                .unwrap_or("");
            match split_comparison(expression) {
                Some((left, operator, right)) => cur.push(Node::Filter {
                    left: parse_action(left)?,
                    right: parse_action(right)?,
                    operator: operator.to_string(),
                }),
                None => cur.push(Node::Filter {
                    left: parse_action(expression)?,
                    right: Vec::new(),
                    operator: "exists".to_string(),
                }),
            }
            Ok(())
        }

        fn parse_quote(&mut self, cur: &mut Vec<Node>, end: char) -> Result<(), String> {
            loop {
                match self.next() {
                    None | Some('\n') => return Err("unterminated quoted string".to_string()),
                    Some(c) if c == end && self.byte_before_last() != Some(b'\\') => break,
                    Some(_) => {}
                }
            }
            let value = self.consume_text();
            let unquoted =
                unquote(&value).map_err(|e| format!("unquote string {value} error {e}"))?;
            cur.push(Node::Text(unquoted));
            Ok(())
        }

        fn parse_field(&mut self, cur: &mut Vec<Node>) -> Result<(), String> {
            self.consume_text();
            loop {
                let c = self.next();
                if c == Some('\\') {
                    self.next();
                } else if is_terminator(c) {
                    self.backup();
                    break;
                }
            }
            let value = self.consume_text();
            cur.push(if value == "*" {
                Node::Wildcard
            } else {
                Node::Field(value.replace('\\', ""))
            });
            Ok(())
        }
    }

    fn is_terminator(c: Option<char>) -> bool {
        match c {
            None => true,
            Some(c) => matches!(
                c,
                ' ' | '\t' | '\r' | '\n' | '.' | ',' | '[' | ']' | '$' | '@' | '{' | '}'
            ),
        }
    }

    fn is_alphanumeric(c: char) -> bool {
        c == '_' || c.is_alphabetic() || c.is_numeric()
    }

    /// `^(-?\d*)(:-?\d*)?(:-?\d*)?$`: the three groups, or `None`.
    fn slice_groups(text: &str) -> Option<[&str; 3]> {
        fn signed_digits(s: &str) -> usize {
            let sign = usize::from(s.starts_with('-'));
            sign + s[sign..].bytes().take_while(u8::is_ascii_digit).count()
        }
        let first = signed_digits(text);
        let mut groups = [&text[..first], "", ""];
        let mut rest = &text[first..];
        for group in groups.iter_mut().skip(1) {
            if let Some(after) = rest.strip_prefix(':') {
                let len = 1 + signed_digits(after);
                *group = &rest[..len];
                rest = &rest[len..];
            }
        }
        rest.is_empty().then_some(groups)
    }

    /// `^([^!<>=]+)([!<>=]+)(.+?)$` as Go's regexp matches it.
    fn split_comparison(expression: &str) -> Option<(&str, &str, &str)> {
        let is_op = |c: char| matches!(c, '!' | '<' | '>' | '=');
        let op_start = expression.find(is_op).filter(|&i| i > 0)?;
        let after_left = &expression[op_start..];
        let op_len = after_left
            .find(|c: char| !is_op(c))
            .unwrap_or(after_left.len());
        let (operator, right) = after_left.split_at(op_len);
        if !right.is_empty() {
            return Some((&expression[..op_start], operator, right));
        }
        // The operator run reaches the end: the regexp backtracks and gives
        // its last character to the right-hand side.
        (op_len >= 2).then(|| {
            let (operator, right) = after_left.split_at(op_len - 1);
            (&expression[..op_start], operator, right)
        })
    }

    /// Go's `strconv.Unquote`, extended to single-quoted strings.
    fn unquote(quoted: &str) -> Result<String, &'static str> {
        const SYNTAX: &str = "invalid syntax";
        let mut chars = quoted.chars();
        let (Some(open), Some(close)) = (chars.next(), chars.next_back()) else {
            return Err(SYNTAX);
        };
        if open != close || !matches!(open, '"' | '\'') {
            return Err(SYNTAX);
        }
        let body = chars.as_str();
        let mut out = String::with_capacity(body.len());
        let mut it = body.chars();
        while let Some(c) = it.next() {
            if c == open {
                return Err(SYNTAX);
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let escaped = it.next().ok_or(SYNTAX)?;
            let simple = match escaped {
                'a' => Some('\u{7}'),
                'b' => Some('\u{8}'),
                'f' => Some('\u{c}'),
                'n' => Some('\n'),
                'r' => Some('\r'),
                't' => Some('\t'),
                'v' => Some('\u{b}'),
                '\\' => Some('\\'),
                '\'' | '"' if escaped == open => Some(escaped),
                _ => None,
            };
            if let Some(c) = simple {
                out.push(c);
                continue;
            }
            let (radix, len) = match escaped {
                'x' => (16, 2),
                'u' => (16, 4),
                'U' => (16, 8),
                '0'..='7' => (8, 2),
                _ => return Err(SYNTAX),
            };
            let mut digits: String = if radix == 8 {
                escaped.to_string()
            } else {
                String::new()
            };
            for _ in 0..len {
                digits.push(it.next().ok_or(SYNTAX)?);
            }
            let code = u32::from_str_radix(&digits, radix).map_err(|_| SYNTAX)?;
            out.push(char::from_u32(code).ok_or(SYNTAX)?);
        }
        Ok(out)
    }

    // -- evaluation ---------------------------------------------------------

    fn walk<'a>(input: &[Item<'a>], node: &Node) -> Result<Vec<Item<'a>>, String> {
        match node {
            Node::List(nodes) => walk_list(input, nodes),
            Node::Text(text) => Ok(vec![Item::Str(text.clone())]),
            Node::Field(name) => Ok(eval_field(input, name)),
            Node::Array(params) => eval_array(input, params),
            Node::Filter {
                left,
                right,
                operator,
            } => eval_filter(input, left, right, operator),
            Node::Int(i) => Ok(vec![Item::Int(*i); input.len()]),
            Node::Float(f) => Ok(vec![Item::Float(*f); input.len()]),
            Node::Bool(b) => Ok(vec![Item::Bool(*b); input.len()]),
            Node::Wildcard => Ok(input.iter().flat_map(children).collect()),
            Node::Recursive => Ok(eval_recursive(input.to_vec())),
            Node::Union(lists) => {
                let mut results = Vec::new();
                for list in lists {
                    results.extend(walk_list(input, list)?);
                }
                Ok(results)
            }
            Node::Identifier(name) if name == "range" || name == "end" => {
                Err(format!("{name} is not supported in printer columns"))
            }
            Node::Identifier(name) => Err(format!("unrecognized identifier {name}")),
        }
    }

    fn walk_list<'a>(input: &[Item<'a>], nodes: &[Node]) -> Result<Vec<Item<'a>>, String> {
        let mut current = input.to_vec();
        for node in nodes {
            current = walk(&current, node)?;
        }
        Ok(current)
    }

    /// Map keys; anything else (or a missing key) yields nothing, because
    /// missing keys are allowed.
    fn eval_field<'a>(input: &[Item<'a>], name: &str) -> Vec<Item<'a>> {
        input
            .iter()
            .filter_map(|item| match item {
                Item::Json(Value::Object(map)) => map.get(name).map(Item::Json),
                _ => None,
            })
            .collect()
    }

    fn eval_array<'a>(input: &[Item<'a>], params: &[Param; 3]) -> Result<Vec<Item<'a>>, String> {
        let mut results = Vec::new();
        for item in input {
            let array = match item {
                Item::Json(Value::Null) => continue,
                Item::Json(Value::Array(array)) => array,
                other => return Err(format!("{} is not array or slice", other.go_type())),
            };
            let len = array.len() as i64;
            let mut p = *params;
            if !p[0].known {
                p[0].value = 0;
            }
            if p[0].value < 0 {
                p[0].value += len;
            }
            if !p[1].known {
                p[1].value = len;
            }
            if p[1].value < 0 || (p[1].value == 0 && p[1].derived) {
                p[1].value += len;
            }
            if p[1].value == p[0].value {
                // Zero elements requested: upstream returns what it has so far.
                return Ok(results);
            }
            if p[0].value >= len || p[0].value < 0 {
                return Err(format!(
                    "array index out of bounds: index {}, length {len}",
                    p[0].value
                ));
            }
            if p[1].value > len || p[1].value < 0 {
                return Err(format!(
                    "array index out of bounds: index {}, length {len}",
                    p[1].value - 1
                ));
            }
            if p[0].value > p[1].value {
                return Err(format!(
                    "starting index {} is greater than ending index {}",
                    p[0].value, p[1].value
                ));
            }
            let step = if p[2].known {
                if p[2].value <= 0 {
                    return Err("step must be > 0".to_string());
                }
                p[2].value as usize
            } else {
                1
            };
            let slice = &array[p[0].value as usize..p[1].value as usize];
            results.extend(slice.iter().step_by(step).map(Item::Json));
        }
        Ok(results)
    }

    fn eval_filter<'a>(
        input: &[Item<'a>],
        left: &[Node],
        right: &[Node],
        operator: &str,
    ) -> Result<Vec<Item<'a>>, String> {
        let mut results = Vec::new();
        for item in input {
            let Item::Json(Value::Array(array)) = item else {
                return Err(format!(
                    "{} is not array or slice and cannot be filtered",
                    item.go_type()
                ));
            };
            for element in array {
                let here = [Item::Json(element)];
                let lefts = walk_list(&here, left);
                if operator == "exists" {
                    if lefts.is_ok_and(|l| !l.is_empty()) {
                        results.push(Item::Json(element));
                    }
                    continue;
                }
                let lefts = lefts?;
                let lhs = match lefts.as_slice() {
                    [] => continue,
                    [one] => one,
                    _ => return Err("can only compare one element at a time".to_string()),
                };
                let rights = walk_list(&here, right)?;
                let rhs = match rights.as_slice() {
                    [] => continue,
                    [one] => one,
                    _ => return Err("can only compare one element at a time".to_string()),
                };
                let pass = match operator {
                    "<" => less(lhs, rhs)?,
                    ">" => !(less(lhs, rhs)? || equal(lhs, rhs)?),
                    "==" => equal(lhs, rhs)?,
                    "!=" => !equal(lhs, rhs)?,
                    "<=" => less(lhs, rhs)? || equal(lhs, rhs)?,
                    ">=" => !less(lhs, rhs)?,
                    other => return Err(format!("unrecognized filter operator {other}")),
                };
                if pass {
                    results.push(Item::Json(element));
                }
            }
        }
        Ok(results)
    }

    /// What `[*]` yields for one value: map values, array elements, or the
    /// bytes of a string.
    fn children<'a>(item: &Item<'a>) -> Vec<Item<'a>> {
        match item {
            Item::Json(Value::Object(map)) => map.values().map(Item::Json).collect(),
            Item::Json(Value::Array(array)) => array.iter().map(Item::Json).collect(),
            Item::Json(Value::String(s)) => s.bytes().map(Item::Byte).collect(),
            Item::Str(s) => s.bytes().map(Item::Byte).collect(),
            _ => Vec::new(),
        }
    }

    fn eval_recursive(input: Vec<Item<'_>>) -> Vec<Item<'_>> {
        let mut results = Vec::new();
        for item in input {
            let kids = children(&item);
            if !kids.is_empty() {
                results.push(item);
                results.extend(eval_recursive(kids));
            }
        }
        results
    }

    /// Go's comparison kinds (text/template `basicKind`).
    #[derive(Debug, Clone, PartialEq)]
    enum Basic {
        Bool(bool),
        Int(i64),
        Uint(u64),
        Float(f64),
        Str(String),
    }

    fn basic(item: &Item<'_>) -> Result<Basic, String> {
        Ok(match item {
            Item::Json(Value::Bool(b)) | Item::Bool(b) => Basic::Bool(*b),
            Item::Json(Value::Number(n)) => match n.as_i64() {
                Some(i) => Basic::Int(i),
                None => Basic::Float(n.as_f64().unwrap_or(0.0)),
            },
            Item::Json(Value::String(s)) => Basic::Str(s.clone()),
            Item::Str(s) => Basic::Str(s.clone()),
            Item::Int(i) => Basic::Int(*i),
            Item::Float(f) => Basic::Float(*f),
            Item::Byte(b) => Basic::Uint(u64::from(*b)),
            Item::Json(_) => return Err("invalid type for comparison".to_string()),
        })
    }

    fn equal(a: &Item<'_>, b: &Item<'_>) -> Result<bool, String> {
        Ok(match (basic(a)?, basic(b)?) {
            (Basic::Int(x), Basic::Uint(y)) | (Basic::Uint(y), Basic::Int(x)) => {
                x >= 0 && x as u64 == y
            }
            (Basic::Bool(x), Basic::Bool(y)) => x == y,
            (Basic::Int(x), Basic::Int(y)) => x == y,
            (Basic::Uint(x), Basic::Uint(y)) => x == y,
            (Basic::Float(x), Basic::Float(y)) => x == y,
            (Basic::Str(x), Basic::Str(y)) => x == y,
            _ => return Err("incompatible types for comparison".to_string()),
        })
    }

    fn less(a: &Item<'_>, b: &Item<'_>) -> Result<bool, String> {
        Ok(match (basic(a)?, basic(b)?) {
            (Basic::Int(x), Basic::Uint(y)) => x < 0 || (x as u64) < y,
            (Basic::Uint(x), Basic::Int(y)) => y >= 0 && x < y as u64,
            (Basic::Int(x), Basic::Int(y)) => x < y,
            (Basic::Uint(x), Basic::Uint(y)) => x < y,
            (Basic::Float(x), Basic::Float(y)) => x < y,
            (Basic::Str(x), Basic::Str(y)) => x < y,
            (Basic::Bool(_), Basic::Bool(_)) => {
                return Err("invalid type for comparison".to_string());
            }
            _ => return Err("incompatible types for comparison".to_string()),
        })
    }

    impl Item<'_> {
        fn go_type(&self) -> &'static str {
            match self {
                Item::Json(Value::Object(_)) => "map[string]interface {}",
                Item::Json(Value::Array(_)) => "[]interface {}",
                Item::Json(Value::String(_)) | Item::Str(_) => "string",
                Item::Json(Value::Bool(_)) | Item::Bool(_) => "bool",
                Item::Json(Value::Number(n)) if n.is_i64() => "int64",
                Item::Json(_) | Item::Float(_) => "float64",
                Item::Int(_) => "int",
                Item::Byte(_) => "uint8",
            }
        }

        /// How a `string` column prints the value (upstream `PrintResults`):
        /// maps and lists as JSON, `null` as `<no value>`, the rest as Go's
        /// `fmt.Fprint` does.
        pub(super) fn print(&self) -> String {
            match self {
                Item::Json(v @ (Value::Object(_) | Value::Array(_))) => gofmt::marshal(v),
                Item::Json(Value::Null) => "<no value>".to_string(),
                Item::Json(Value::Bool(b)) | Item::Bool(b) => b.to_string(),
                Item::Json(Value::Number(n)) => match n.as_i64() {
                    Some(i) => i.to_string(),
                    None => gofmt::sprint_float(n.as_f64().unwrap_or(0.0)),
                },
                Item::Json(Value::String(s)) | Item::Str(s) => s.clone(),
                Item::Int(i) => i.to_string(),
                Item::Float(f) => gofmt::sprint_float(*f),
                Item::Byte(b) => b.to_string(),
            }
        }

        /// How an `integer`, `number`, `boolean` or `date` column renders the
        /// value (upstream `cellForJSONValue`); anything that does not fit
        /// the type is `null`.
        pub(super) fn typed_cell(&self, column_type: &str, now: DateTime<Utc>) -> Value {
            let (int, float) = match self {
                Item::Json(Value::Number(n)) => match n.as_i64() {
                    Some(i) => (Some(i), None),
                    None => (None, n.as_f64()),
                },
                Item::Int(i) => (Some(*i), None),
                Item::Float(f) => (None, Some(*f)),
                _ => (None, None),
            };
            match column_type {
                "integer" => match (int, float) {
                    (Some(i), _) => Value::from(i),
                    (None, Some(f)) => Value::from(f as i64),
                    _ => Value::Null,
                },
                "number" => match (int, float) {
                    (Some(i), _) => number(i as f64),
                    (None, Some(f)) => number(f),
                    _ => Value::Null,
                },
                "boolean" => match self {
                    Item::Json(Value::Bool(b)) | Item::Bool(b) => Value::Bool(*b),
                    _ => Value::Null,
                },
                "date" => match self {
                    Item::Json(Value::String(s)) => Value::String(date_cell(s, now)),
                    Item::Str(s) => Value::String(date_cell(s, now)),
                    _ => Value::Null,
                },
                _ => Value::Null,
            }
        }
    }

    /// A float64 cell; whole values are written without a fraction, as Go's
    /// JSON encoder writes them.
    fn number(f: f64) -> Value {
        if f.fract() == 0.0 && f.abs() < 9.0e18 {
            Value::from(f as i64)
        } else {
            Number::from_f64(f).map_or(Value::Null, Value::Number)
        }
    }

    /// A `date` column: an age, `<unknown>` for empty or zero, `<invalid>`
    /// when the string is not RFC 3339.
    fn date_cell(s: &str, now: DateTime<Utc>) -> String {
        if s.is_empty() || s == "null" {
            return "<unknown>".to_string();
        }
        match super::parse_rfc3339(s) {
            None => "<invalid>".to_string(),
            Some(t) if t == super::zero_time() => "<unknown>".to_string(),
            Some(t) => super::human_duration(now - t),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use serde_json::json;

        fn first(path: &str, data: &Value) -> Option<String> {
            let template = Template::parse(&format!("{{{path}}}")).unwrap();
            let results = template.find_results(data).ok()?;
            results.first()?.first().map(Item::print)
        }

        #[test]
        fn fields_indexes_wildcards_and_filters() {
            let obj = json!({
                "spec": {"replicas": 3, "labels": {"a.b/c": "x"}, "ratio": 0.5},
                "status": {"conditions": [
                    {"type": "Synced", "status": "False", "count": 2},
                    {"type": "Ready", "status": "True", "count": 7},
                ]},
            });
            assert_eq!(first(".spec.replicas", &obj).as_deref(), Some("3"));
            assert_eq!(first(".spec.ratio", &obj).as_deref(), Some("0.5"));
            assert_eq!(
                first(".status.conditions[1].type", &obj).as_deref(),
                Some("Ready")
            );
            assert_eq!(
                first(".status.conditions[-1].count", &obj).as_deref(),
                Some("7")
            );
            assert_eq!(
                first(".status.conditions[*].type", &obj).as_deref(),
                Some("Synced")
            );
            assert_eq!(
                first(r#".status.conditions[?(@.type=="Ready")].status"#, &obj).as_deref(),
                Some("True")
            );
            assert_eq!(
                first(".status.conditions[?(@.type=='Ready')].status", &obj).as_deref(),
                Some("True")
            );
            assert_eq!(
                first(".status.conditions[?(@.count>2)].type", &obj).as_deref(),
                Some("Ready")
            );
            assert_eq!(
                first(".status.conditions[?(@.count)].type", &obj).as_deref(),
                Some("Synced")
            );
            assert_eq!(first(r".spec.labels.a\.b/c", &obj).as_deref(), Some("x"));
            assert_eq!(
                first(".spec.labels", &obj).as_deref(),
                Some(r#"{"a.b/c":"x"}"#)
            );
            assert_eq!(first("..type", &obj).as_deref(), Some("Synced"));
            assert_eq!(
                first(".status.conditions[0,1].count", &obj).as_deref(),
                Some("2")
            );
            assert_eq!(first(".missing.deeper", &obj), None);
            // Out of range is an error, which the convertor shows as null.
            assert_eq!(first(".status.conditions[5].type", &obj), None);
            // Comparing an integer with a string is an error too.
            assert_eq!(
                first(r#".status.conditions[?(@.count=="2")].type"#, &obj),
                None
            );
        }

        #[test]
        fn parse_errors() {
            assert!(Template::parse("{.a").is_err());
            assert!(Template::parse("{.a[}").is_err());
            assert!(Template::parse("{.a[x]}").is_err());
            assert!(Template::parse("{.a[?(@.b==1}").is_err());
            assert!(Template::parse("{#}").is_err());
            assert!(Template::parse("{..a..b}").is_ok());
            assert!(Template::parse("{.a....b}").is_err());
        }

        #[test]
        fn slices_and_splits() {
            assert_eq!(slice_groups("1:3:2"), Some(["1", ":3", ":2"]));
            assert_eq!(slice_groups("-1"), Some(["-1", "", ""]));
            assert_eq!(slice_groups(":"), Some(["", ":", ""]));
            assert_eq!(slice_groups("a"), None);
            assert_eq!(split_comparison("@.a==\"x\""), Some(("@.a", "==", "\"x\"")));
            assert_eq!(split_comparison("@.a"), None);
            assert_eq!(split_comparison("@.a=="), Some(("@.a", "=", "=")));
            assert_eq!(unquote(r#""a\"b\n""#), Ok("a\"b\n".to_string()));
            assert_eq!(unquote("'it'"), Ok("it".to_string()));
        }
    }
}

// ---------------------------------------------------------------------------

/// The built-in printers of `pkg/printers/internalversion/printers.go`:
/// per kind, the column definitions and a function computing a row.
mod printers {
    use super::*;

    pub(super) type PrintFn = fn(&Value, DateTime<Utc>) -> Row;

    fn col(name: &str, column_type: &str, description: &str) -> ColumnDefinition {
        ColumnDefinition::new(name, column_type, "", description, 0)
    }

    fn wide(name: &str, column_type: &str, description: &str) -> ColumnDefinition {
        ColumnDefinition::new(name, column_type, "", description, 1)
    }

    fn name_col() -> ColumnDefinition {
        ColumnDefinition::new("Name", "string", "name", docs::META_NAME, 0)
    }

    fn age_col() -> ColumnDefinition {
        col("Age", "string", docs::META_CREATED)
    }

    const CONTAINERS: &str = "Names of each container in the template.";
    const IMAGES: &str = "Images referenced by each container in the template.";

    /// The printer for a built-in kind, or `None` where the server uses the
    /// default convertor.
    pub(super) fn lookup(group: &str, kind: &str) -> Option<(Vec<ColumnDefinition>, PrintFn)> {
        use docs::*;
        let (definitions, print): (Vec<ColumnDefinition>, PrintFn) = match (group, kind) {
            ("", "Pod") => (
                vec![
                    name_col(),
                    col(
                        "Ready",
                        "string",
                        "The aggregate readiness state of this pod for accepting traffic.",
                    ),
                    col(
                        "Status",
                        "string",
                        "The aggregate status of the containers in this pod.",
                    ),
                    col(
                        "Restarts",
                        "string",
                        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
                    ),
                    age_col(),
                    wide("IP", "string", POD_IP),
                    wide("Node", "string", POD_NODE),
                    wide("Nominated Node", "string", POD_NOMINATED),
                    wide("Readiness Gates", "string", POD_GATES),
                ],
                pod,
            ),
            ("", "PodTemplate") => (
                vec![
                    name_col(),
                    col("Containers", "string", CONTAINERS),
                    col("Images", "string", IMAGES),
                    col("Pod Labels", "string", "The labels for the pod template."),
                ],
                pod_template,
            ),
            ("", "ReplicationController") => (
                vec![
                    name_col(),
                    col("Desired", "integer", RC_SPEC_REPLICAS),
                    col("Current", "integer", RC_STATUS_REPLICAS),
                    col("Ready", "integer", RC_READY),
                    age_col(),
                    wide("Containers", "string", CONTAINERS),
                    wide("Images", "string", IMAGES),
                    wide("Selector", "string", RC_SELECTOR),
                ],
                replication_controller,
            ),
            ("", "Service") => (
                vec![
                    name_col(),
                    col("Type", "string", SVC_TYPE),
                    col("Cluster-IP", "string", SVC_CLUSTER_IP),
                    col("External-IP", "string", SVC_EXTERNAL_IPS),
                    col("Port(s)", "string", SVC_PORTS),
                    age_col(),
                    wide("Selector", "string", SVC_SELECTOR),
                ],
                service,
            ),
            ("", "Endpoints") => (
                vec![
                    name_col(),
                    col("Endpoints", "string", EP_SUBSETS),
                    age_col(),
                ],
                endpoints,
            ),
            ("", "Node") => (
                vec![
                    name_col(),
                    col("Status", "string", "The status of the node"),
                    col("Roles", "string", "The roles of the node"),
                    age_col(),
                    col("Version", "string", NODE_KUBELET),
                    wide("Internal-IP", "string", NODE_ADDRESSES),
                    wide("External-IP", "string", NODE_ADDRESSES),
                    wide("OS-Image", "string", NODE_OS_IMAGE),
                    wide("Kernel-Version", "string", NODE_KERNEL),
                    wide("Container-Runtime", "string", NODE_RUNTIME),
                ],
                node,
            ),
            ("" | "events.k8s.io", "Event") => (
                vec![
                    col("Last Seen", "string", EV_LAST),
                    col("Type", "string", EV_TYPE),
                    col("Reason", "string", EV_REASON),
                    col("Object", "string", EV_OBJECT),
                    wide("Subobject", "string", EV_FIELD_PATH),
                    wide("Source", "string", EV_SOURCE),
                    col("Message", "string", EV_MESSAGE),
                    wide("First Seen", "string", EV_FIRST),
                    wide("Count", "string", EV_COUNT),
                    ColumnDefinition::new("Name", "string", "name", META_NAME, 1),
                ],
                if group.is_empty() {
                    event
                } else {
                    events_v1_event
                },
            ),
            ("", "Namespace") => (
                vec![
                    name_col(),
                    col("Status", "string", "The status of the namespace"),
                    age_col(),
                ],
                namespace,
            ),
            ("", "Secret") => (
                vec![
                    name_col(),
                    col("Type", "string", SECRET_TYPE),
                    col("Data", "string", SECRET_DATA),
                    age_col(),
                ],
                secret,
            ),
            ("", "ServiceAccount") => (
                vec![name_col(), col("Secrets", "string", SA_SECRETS), age_col()],
                service_account,
            ),
            ("", "PersistentVolume") => (
                vec![
                    name_col(),
                    col("Capacity", "string", PV_CAPACITY),
                    col("Access Modes", "string", PV_ACCESS_MODES),
                    col("Reclaim Policy", "string", PV_RECLAIM),
                    col("Status", "string", PV_PHASE),
                    col("Claim", "string", PV_CLAIM),
                    col("StorageClass", "string", "StorageClass of the pv"),
                    col(
                        "VolumeAttributesClass",
                        "string",
                        "VolumeAttributesClass of the pv",
                    ),
                    col("Reason", "string", PV_REASON),
                    age_col(),
                    wide("VolumeMode", "string", PV_VOLUME_MODE),
                ],
                persistent_volume,
            ),
            ("", "PersistentVolumeClaim") => (
                vec![
                    name_col(),
                    col("Status", "string", PVC_PHASE),
                    col("Volume", "string", PVC_VOLUME),
                    col("Capacity", "string", PVC_CAPACITY),
                    col("Access Modes", "string", PVC_ACCESS_MODES),
                    col("StorageClass", "string", "StorageClass of the pvc"),
                    col(
                        "VolumeAttributesClass",
                        "string",
                        "VolumeAttributesClass of the pvc",
                    ),
                    age_col(),
                    wide("VolumeMode", "string", PVC_VOLUME_MODE),
                ],
                persistent_volume_claim,
            ),
            ("", "ConfigMap") => (
                vec![name_col(), col("Data", "string", CM_DATA), age_col()],
                config_map,
            ),
            ("", "ResourceQuota") => (
                vec![
                    name_col(),
                    col(
                        "Request",
                        "string",
                        "Request represents a minimum amount of cpu/memory that a container may consume.",
                    ),
                    col(
                        "Limit",
                        "string",
                        "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
                    ),
                    age_col(),
                ],
                resource_quota,
            ),
            ("apps", "Deployment") => (
                vec![
                    name_col(),
                    col("Ready", "string", "Number of the pod with ready state"),
                    col("Up-to-date", "string", DEPLOY_UPDATED),
                    col("Available", "string", DEPLOY_AVAILABLE),
                    age_col(),
                    wide("Containers", "string", CONTAINERS),
                    wide("Images", "string", IMAGES),
                    wide("Selector", "string", DEPLOY_SELECTOR),
                ],
                deployment,
            ),
            ("apps", "ReplicaSet") => (
                vec![
                    name_col(),
                    col("Desired", "integer", RS_SPEC_REPLICAS),
                    col("Current", "integer", RS_STATUS_REPLICAS),
                    col("Ready", "integer", RS_READY),
                    age_col(),
                    wide("Containers", "string", CONTAINERS),
                    wide("Images", "string", IMAGES),
                    wide("Selector", "string", RS_SELECTOR),
                ],
                replica_set,
            ),
            ("apps", "DaemonSet") => (
                vec![
                    name_col(),
                    col("Desired", "integer", DS_DESIRED),
                    col("Current", "integer", DS_CURRENT),
                    col("Ready", "integer", DS_READY),
                    col("Up-to-date", "integer", DS_UPDATED),
                    col("Available", "integer", DS_AVAILABLE),
                    col("Node Selector", "string", POD_NODE_SELECTOR),
                    age_col(),
                    wide("Containers", "string", CONTAINERS),
                    wide("Images", "string", IMAGES),
                    wide("Selector", "string", DS_SELECTOR),
                ],
                daemon_set,
            ),
            ("apps", "StatefulSet") => (
                vec![
                    name_col(),
                    col("Ready", "string", "Number of the pod with ready state"),
                    age_col(),
                    wide("Containers", "string", CONTAINERS),
                    wide("Images", "string", IMAGES),
                ],
                stateful_set,
            ),
            ("apps", "ControllerRevision") => (
                vec![
                    name_col(),
                    col("Controller", "string", "Controller of the object"),
                    col("Revision", "string", CR_REVISION),
                    age_col(),
                ],
                controller_revision,
            ),
            ("batch", "Job") => (
                vec![
                    name_col(),
                    col("Status", "string", "Status of the job."),
                    col("Completions", "string", JOB_SUCCEEDED),
                    col("Duration", "string", "Time required to complete the job."),
                    age_col(),
                    wide("Containers", "string", CONTAINERS),
                    wide("Images", "string", IMAGES),
                    wide("Selector", "string", JOB_SELECTOR),
                ],
                job,
            ),
            ("batch", "CronJob") => (
                vec![
                    name_col(),
                    col("Schedule", "string", CJ_SCHEDULE),
                    col("Timezone", "string", CJ_TIMEZONE),
                    col("Suspend", "boolean", CJ_SUSPEND),
                    col("Active", "integer", CJ_ACTIVE),
                    col("Last Schedule", "string", CJ_LAST_SCHEDULE),
                    age_col(),
                    wide("Containers", "string", CONTAINERS),
                    wide("Images", "string", IMAGES),
                    wide("Selector", "string", JOB_SELECTOR),
                ],
                cron_job,
            ),
            ("networking.k8s.io", "Ingress") => (
                vec![
                    name_col(),
                    col(
                        "Class",
                        "string",
                        "The name of the IngressClass resource that should be used for additional configuration",
                    ),
                    col(
                        "Hosts",
                        "string",
                        "Hosts that incoming requests are matched against before the ingress rule",
                    ),
                    col(
                        "Address",
                        "string",
                        "Address is a list containing ingress points for the load-balancer",
                    ),
                    col("Ports", "string", "Ports of TLS configurations that open"),
                    age_col(),
                ],
                ingress,
            ),
            ("networking.k8s.io", "IngressClass") => (
                vec![
                    name_col(),
                    col(
                        "Controller",
                        "string",
                        "Controller that is responsible for handling this class",
                    ),
                    col(
                        "Parameters",
                        "string",
                        "A reference to a resource with additional parameters",
                    ),
                    age_col(),
                ],
                ingress_class,
            ),
            ("networking.k8s.io", "NetworkPolicy") => (
                vec![
                    name_col(),
                    col("Pod-Selector", "string", NP_POD_SELECTOR),
                    age_col(),
                ],
                network_policy,
            ),
            ("rbac.authorization.k8s.io", "RoleBinding") => (
                vec![
                    name_col(),
                    col("Role", "string", RB_ROLE_REF),
                    age_col(),
                    wide("Users", "string", "Users in the roleBinding"),
                    wide("Groups", "string", "Groups in the roleBinding"),
                    wide(
                        "ServiceAccounts",
                        "string",
                        "ServiceAccounts in the roleBinding",
                    ),
                ],
                role_binding,
            ),
            ("rbac.authorization.k8s.io", "ClusterRoleBinding") => (
                vec![
                    name_col(),
                    col("Role", "string", CRB_ROLE_REF),
                    age_col(),
                    wide("Users", "string", "Users in the clusterRoleBinding"),
                    wide("Groups", "string", "Groups in the clusterRoleBinding"),
                    wide(
                        "ServiceAccounts",
                        "string",
                        "ServiceAccounts in the clusterRoleBinding",
                    ),
                ],
                role_binding,
            ),
            ("coordination.k8s.io", "Lease") => (
                vec![name_col(), col("Holder", "string", LEASE_HOLDER), age_col()],
                lease,
            ),
            ("policy", "PodDisruptionBudget") => (
                vec![
                    name_col(),
                    col(
                        "Min Available",
                        "string",
                        "The minimum number of pods that must be available.",
                    ),
                    col(
                        "Max Unavailable",
                        "string",
                        "The maximum number of pods that may be unavailable.",
                    ),
                    col(
                        "Allowed Disruptions",
                        "integer",
                        "Calculated number of pods that may be disrupted at this time.",
                    ),
                    age_col(),
                ],
                pod_disruption_budget,
            ),
            ("autoscaling", "HorizontalPodAutoscaler") => (
                vec![
                    name_col(),
                    col("Reference", "string", HPA_REF),
                    col("Targets", "string", HPA_METRICS),
                    col("MinPods", "string", HPA_MIN),
                    col("MaxPods", "string", HPA_MAX),
                    col("Replicas", "string", HPA_CURRENT),
                    age_col(),
                ],
                horizontal_pod_autoscaler,
            ),
            ("storage.k8s.io", "StorageClass") => (
                vec![
                    name_col(),
                    col("Provisioner", "string", SC_PROVISIONER),
                    col("ReclaimPolicy", "string", SC_RECLAIM),
                    col("VolumeBindingMode", "string", SC_BINDING),
                    col("AllowVolumeExpansion", "string", SC_EXPANSION),
                    age_col(),
                ],
                storage_class,
            ),
            ("scheduling.k8s.io", "PriorityClass") => (
                vec![
                    name_col(),
                    col("Value", "integer", PC_VALUE),
                    col("Global-Default", "boolean", PC_GLOBAL_DEFAULT),
                    age_col(),
                    col("PreemptionPolicy", "string", PC_PREEMPTION),
                ],
                priority_class,
            ),
            ("node.k8s.io", "RuntimeClass") => (
                // Upstream describes Handler with an ObjectMeta key that does
                // not exist, so its description is empty.
                vec![name_col(), col("Handler", "string", ""), age_col()],
                runtime_class,
            ),
            ("discovery.k8s.io", "EndpointSlice") => (
                vec![
                    name_col(),
                    col("AddressType", "string", ES_ADDRESS_TYPE),
                    col("Ports", "string", ES_PORTS),
                    col("Endpoints", "string", ES_ENDPOINTS),
                    age_col(),
                ],
                endpoint_slice,
            ),
            (
                "admissionregistration.k8s.io",
                "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration",
            ) => (
                vec![
                    name_col(),
                    col(
                        "Webhooks",
                        "integer",
                        "Webhooks indicates the number of webhooks registered in this configuration",
                    ),
                    age_col(),
                ],
                webhook_configuration,
            ),
            _ => return None,
        };
        Some((definitions, print))
    }

    fn name(object: &Value) -> Value {
        json!(text(object, &["metadata", "name"]))
    }

    fn is_deleting(object: &Value) -> bool {
        is_set(object, &["metadata", "deletionTimestamp"])
    }

    /// `layoutContainerCells`: names and images, comma-separated.
    fn containers(list: &[Value]) -> (Value, Value) {
        let names: Vec<&str> = list.iter().map(|c| text(c, &["name"])).collect();
        let images: Vec<&str> = list.iter().map(|c| text(c, &["image"])).collect();
        (json!(names.join(",")), json!(images.join(",")))
    }

    /// `labels.FormatLabels`: sorted `k=v` pairs or `<none>`.
    fn format_labels(map: &Value) -> String {
        let mut pairs: Vec<String> = map
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect()
            })
            .unwrap_or_default();
        // Upstream sorts the joined "k=v" strings, not the keys.
        pairs.sort();
        if pairs.is_empty() {
            "<none>".to_string()
        } else {
            pairs.join(",")
        }
    }

    /// `metav1.FormatLabelSelector`: the selector string, `<none>` when it is
    /// empty (including a missing selector), `<error>` when invalid.
    fn format_label_selector(selector: &Value) -> String {
        match Selector::from_label_selector(selector) {
            Err(_) => "<error>".to_string(),
            Ok(s) => match s.to_string() {
                empty if empty.is_empty() => "<none>".to_string(),
                text => text,
            },
        }
    }

    fn join_sorted_unique<'a>(values: impl IntoIterator<Item = &'a str>) -> String {
        let set: BTreeSet<&str> = values.into_iter().collect();
        set.into_iter().collect::<Vec<_>>().join(",")
    }

    /// Load balancer ingress points (IP, else hostname), sorted and unique;
    /// the server prints wide, so nothing is truncated.
    fn load_balancer_addresses(status: &Value) -> String {
        join_sorted_unique(items(status, &["ingress"]).iter().filter_map(|i| {
            let ip = text(i, &["ip"]);
            let hostname = text(i, &["hostname"]);
            (!ip.is_empty())
                .then_some(ip)
                .or((!hostname.is_empty()).then_some(hostname))
        }))
    }

    /// `listWithMoreString`.
    fn list_with_more(list: &[String], more: bool, count: usize, max: usize) -> String {
        let joined = list.join(",");
        if more {
            format!("{joined} + {} more...", count - max)
        } else if joined.is_empty() {
            "<unset>".to_string()
        } else {
            joined
        }
    }

    fn condition_true(conditions: &[Value], condition_type: &str) -> bool {
        conditions
            .iter()
            .find(|c| text(c, &["type"]) == condition_type)
            .is_some_and(|c| text(c, &["status"]) == "True")
    }

    fn bool_cell(value: &Value, default: bool) -> Value {
        Value::Bool(value.as_bool().unwrap_or(default))
    }

    // -- core ---------------------------------------------------------------

    fn pod(pod: &Value, now: DateTime<Utc>) -> Row {
        let spec = &pod["spec"];
        let status = &pod["status"];
        let init_specs = items(spec, &["initContainers"]);
        let restartable = |name: &str| {
            init_specs
                .iter()
                .find(|c| text(c, &["name"]) == name)
                .is_some_and(|c| text(c, &["restartPolicy"]) == "Always")
        };
        let mut restarts = 0;
        let mut restartable_init_restarts = 0;
        let total = items(spec, &["containers"]).len()
            + init_specs
                .iter()
                .filter(|c| text(c, &["restartPolicy"]) == "Always")
                .count();
        let mut ready = 0;
        let mut last_restart: Option<DateTime<Utc>> = None;
        let mut last_restartable_init_restart: Option<DateTime<Utc>> = None;
        let later = |current: &mut Option<DateTime<Utc>>, candidate: Option<DateTime<Utc>>| {
            if let Some(t) = candidate
                && current.is_none_or(|c| c < t)
            {
                *current = Some(t);
            }
        };
        let last_terminated = |c: &Value| timestamp(c, &["lastState", "terminated", "finishedAt"]);

        // The server sets phase Pending on create; treat a bare object alike.
        let phase = or_default(text(status, &["phase"]), "Pending");
        let mut reason = or_default(text(status, &["reason"]), phase).to_string();
        let conditions = items(status, &["conditions"]);
        for condition in conditions {
            if text(condition, &["type"]) == "PodScheduled"
                && text(condition, &["reason"]) == "SchedulingGated"
            {
                reason = "SchedulingGated".to_string();
            }
        }
        let row_conditions = match phase {
            "Succeeded" => Some(
                json!([{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}]),
            ),
            "Failed" => Some(
                json!([{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]),
            ),
            _ => None,
        };

        let mut initializing = false;
        for (i, c) in items(status, &["initContainerStatuses"]).iter().enumerate() {
            let count = int(c, &["restartCount"]);
            restarts += count;
            later(&mut last_restart, last_terminated(c));
            let is_restartable = restartable(text(c, &["name"]));
            if is_restartable {
                restartable_init_restarts += count;
                later(&mut last_restartable_init_restart, last_terminated(c));
            }
            let terminated = at(c, &["state", "terminated"]);
            let waiting = at(c, &["state", "waiting"]);
            if terminated.is_object() && int(terminated, &["exitCode"]) == 0 {
                continue;
            }
            if is_restartable && c["started"].as_bool() == Some(true) {
                if c["ready"].as_bool() == Some(true) {
                    ready += 1;
                }
                continue;
            }
            reason = if terminated.is_object() {
                match text(terminated, &["reason"]) {
                    "" if int(terminated, &["signal"]) != 0 => {
                        format!("Init:Signal:{}", int(terminated, &["signal"]))
                    }
                    "" => format!("Init:ExitCode:{}", int(terminated, &["exitCode"])),
                    r => format!("Init:{r}"),
                }
            } else if waiting.is_object()
                && !text(waiting, &["reason"]).is_empty()
                && text(waiting, &["reason"]) != "PodInitializing"
            {
                format!("Init:{}", text(waiting, &["reason"]))
            } else {
                format!("Init:{i}/{}", init_specs.len())
            };
            initializing = true;
            break;
        }

        let initialized = conditions
            .iter()
            .find(|c| text(c, &["type"]) == "Initialized")
            .is_some_and(|c| text(c, &["status"]) == "True");
        if !initializing || initialized {
            restarts = restartable_init_restarts;
            last_restart = last_restartable_init_restart;
            let mut has_running = false;
            for c in items(status, &["containerStatuses"]).iter().rev() {
                restarts += int(c, &["restartCount"]);
                later(&mut last_restart, last_terminated(c));
                let waiting = at(c, &["state", "waiting"]);
                let terminated = at(c, &["state", "terminated"]);
                if waiting.is_object() && !text(waiting, &["reason"]).is_empty() {
                    reason = text(waiting, &["reason"]).to_string();
                } else if terminated.is_object() && !text(terminated, &["reason"]).is_empty() {
                    reason = text(terminated, &["reason"]).to_string();
                } else if terminated.is_object() {
                    reason = match int(terminated, &["signal"]) {
                        0 => format!("ExitCode:{}", int(terminated, &["exitCode"])),
                        signal => format!("Signal:{signal}"),
                    };
                } else if c["ready"].as_bool() == Some(true)
                    && at(c, &["state", "running"]).is_object()
                {
                    has_running = true;
                    ready += 1;
                }
            }
            // A pod whose containers completed but one still runs is not done.
            if reason == "Completed" && has_running {
                reason = if condition_true(conditions, "Ready") {
                    "Running"
                } else {
                    "NotReady"
                }
                .to_string();
            }
        }

        if is_deleting(pod) && text(status, &["reason"]) == "NodeLost" {
            reason = "Unknown".to_string();
        } else if is_deleting(pod) && !matches!(phase, "Failed" | "Succeeded") {
            reason = "Terminating".to_string();
        }

        let restarts_cell = match last_restart {
            Some(t) if restarts != 0 => format!("{restarts} ({} ago)", since(Some(t), now)),
            _ => restarts.to_string(),
        };

        let pod_ip = items(status, &["podIPs"])
            .first()
            .map(|ip| text(ip, &["ip"]))
            .unwrap_or_else(|| text(status, &["podIP"]));
        let gates = items(spec, &["readinessGates"]);
        let readiness_gates = if gates.is_empty() {
            "<none>".to_string()
        } else {
            let true_gates = gates
                .iter()
                .filter(|gate| condition_true(conditions, text(gate, &["conditionType"])))
                .count();
            format!("{true_gates}/{}", gates.len())
        };
        let cells = vec![
            name(pod),
            json!(format!("{ready}/{total}")),
            json!(reason),
            json!(restarts_cell),
            json!(age(pod, now)),
            json!(or_default(pod_ip, "<none>")),
            json!(or_default(text(spec, &["nodeName"]), "<none>")),
            json!(or_default(text(status, &["nominatedNodeName"]), "<none>")),
            json!(readiness_gates),
        ];
        Row {
            cells,
            conditions: row_conditions,
        }
    }

    fn pod_template(object: &Value, _now: DateTime<Utc>) -> Row {
        let template = &object["template"];
        let (names, images) = containers(items(template, &["spec", "containers"]));
        Row::new(vec![
            name(object),
            names,
            images,
            json!(format_labels(at(template, &["metadata", "labels"]))),
        ])
    }

    fn replication_controller(object: &Value, now: DateTime<Utc>) -> Row {
        let (names, images) =
            containers(items(object, &["spec", "template", "spec", "containers"]));
        Row::new(vec![
            name(object),
            json!(int_or(object, &["spec", "replicas"], 1)),
            json!(int(object, &["status", "replicas"])),
            json!(int(object, &["status", "readyReplicas"])),
            json!(age(object, now)),
            names,
            images,
            json!(format_labels(at(object, &["spec", "selector"]))),
        ])
    }

    fn service(svc: &Value, now: DateTime<Utc>) -> Row {
        let spec = &svc["spec"];
        let svc_type = or_default(text(spec, &["type"]), "ClusterIP");
        let cluster_ip = items(spec, &["clusterIPs"])
            .first()
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| {
                Some(text(spec, &["clusterIP"]))
                    .filter(|ip| !ip.is_empty())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "<none>".to_string());
        let external_ips: Vec<&str> = items(spec, &["externalIPs"])
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let external = match svc_type {
            "ClusterIP" | "NodePort" if external_ips.is_empty() => "<none>".to_string(),
            "ClusterIP" | "NodePort" => external_ips.join(","),
            "LoadBalancer" => {
                let lb = load_balancer_addresses(at(svc, &["status", "loadBalancer"]));
                if !external_ips.is_empty() {
                    let mut all: Vec<&str> = if lb.is_empty() {
                        Vec::new()
                    } else {
                        lb.split(',').collect()
                    };
                    all.extend(&external_ips);
                    all.join(",")
                } else if !lb.is_empty() {
                    lb
                } else {
                    "<pending>".to_string()
                }
            }
            "ExternalName" => text(spec, &["externalName"]).to_string(),
            _ => "<unknown>".to_string(),
        };
        let ports: Vec<String> = items(spec, &["ports"])
            .iter()
            .map(|p| {
                let protocol = or_default(text(p, &["protocol"]), "TCP");
                match int(p, &["nodePort"]) {
                    node_port if node_port > 0 => {
                        format!("{}:{node_port}/{protocol}", int(p, &["port"]))
                    }
                    _ => format!("{}/{protocol}", int(p, &["port"])),
                }
            })
            .collect();
        let ports = if ports.is_empty() {
            "<none>".to_string()
        } else {
            ports.join(",")
        };
        Row::new(vec![
            name(svc),
            json!(svc_type),
            json!(cluster_ip),
            json!(external),
            json!(ports),
            json!(age(svc, now)),
            json!(format_labels(at(spec, &["selector"]))),
        ])
    }

    /// `net.JoinHostPort`: IPv6 hosts are bracketed.
    fn join_host_port(host: &str, port: i64) -> String {
        if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
    }

    fn endpoints(object: &Value, now: DateTime<Utc>) -> Row {
        const MAX: usize = 3;
        let subsets = items(object, &["subsets"]);
        let formatted = if subsets.is_empty() {
            "<none>".to_string()
        } else {
            let mut list: Vec<String> = Vec::new();
            let mut more = false;
            let mut count = 0;
            for subset in subsets {
                let addresses = items(subset, &["addresses"]);
                let ports = items(subset, &["ports"]);
                // Headless services may have no ports: list bare IPs.
                let ports: Vec<Option<i64>> = if ports.is_empty() {
                    vec![None]
                } else {
                    ports.iter().map(|p| Some(int(p, &["port"]))).collect()
                };
                for port in ports {
                    count += addresses.len();
                    for address in addresses {
                        if list.len() == MAX {
                            more = true;
                            break;
                        }
                        let ip = text(address, &["ip"]);
                        list.push(match port {
                            Some(port) => join_host_port(ip, port),
                            None => ip.to_string(),
                        });
                    }
                }
            }
            let joined = list.join(",");
            if more {
                format!("{joined} + {} more...", count - MAX)
            } else {
                joined
            }
        };
        Row::new(vec![
            name(object),
            json!(formatted),
            json!(age(object, now)),
        ])
    }

    fn node(node: &Value, now: DateTime<Utc>) -> Row {
        let status = &node["status"];
        let mut states = Vec::new();
        if let Some(ready) = items(status, &["conditions"])
            .iter()
            .rev()
            .find(|c| text(c, &["type"]) == "Ready")
        {
            // Upstream keeps the last condition of each type (map overwrite).
            states.push(if text(ready, &["status"]) == "True" {
                "Ready"
            } else {
                "NotReady"
            });
        }
        if states.is_empty() {
            states.push("Unknown");
        }
        if at(node, &["spec", "unschedulable"]).as_bool() == Some(true) {
            states.push("SchedulingDisabled");
        }
        let mut roles = BTreeSet::new();
        if let Some(labels) = at(node, &["metadata", "labels"]).as_object() {
            for (key, value) in labels {
                let value = value.as_str().unwrap_or("");
                if let Some(role) = key.strip_prefix("node-role.kubernetes.io/") {
                    if !role.is_empty() {
                        roles.insert(role.to_string());
                    }
                } else if key == "kubernetes.io/role" && !value.is_empty() {
                    roles.insert(value.to_string());
                }
            }
        }
        let roles = if roles.is_empty() {
            "<none>".to_string()
        } else {
            roles.into_iter().collect::<Vec<_>>().join(",")
        };
        let address = |kind: &str| {
            items(status, &["addresses"])
                .iter()
                .find(|a| text(a, &["type"]) == kind)
                .map_or("<none>", |a| text(a, &["address"]))
                .to_string()
        };
        let info =
            |key: &str| or_default(text(status, &["nodeInfo", key]), "<unknown>").to_string();
        Row::new(vec![
            name(node),
            json!(states.join(",")),
            json!(roles),
            json!(age(node, now)),
            json!(text(status, &["nodeInfo", "kubeletVersion"])),
            json!(address("InternalIP")),
            json!(address("ExternalIP")),
            json!(info("osImage")),
            json!(info("kernelVersion")),
            json!(info("containerRuntimeVersion")),
        ])
    }

    /// The fields the Event printer reads, from either API shape.
    struct EventFields<'a> {
        first: Option<DateTime<Utc>>,
        last: Option<DateTime<Utc>>,
        event_time: Option<DateTime<Utc>>,
        count: i64,
        series: Option<(i64, Option<DateTime<Utc>>)>,
        kind: &'a str,
        object_name: &'a str,
        field_path: &'a str,
        event_type: &'a str,
        reason: &'a str,
        component: &'a str,
        host: &'a str,
        reporting_controller: &'a str,
        reporting_instance: &'a str,
        message: &'a str,
    }

    fn event(e: &Value, now: DateTime<Utc>) -> Row {
        print_event(
            e,
            EventFields {
                first: timestamp(e, &["firstTimestamp"]),
                last: timestamp(e, &["lastTimestamp"]),
                event_time: timestamp(e, &["eventTime"]),
                count: int(e, &["count"]),
                series: series(&e["series"]),
                kind: text(e, &["involvedObject", "kind"]),
                object_name: text(e, &["involvedObject", "name"]),
                field_path: text(e, &["involvedObject", "fieldPath"]),
                event_type: text(e, &["type"]),
                reason: text(e, &["reason"]),
                component: text(e, &["source", "component"]),
                host: text(e, &["source", "host"]),
                reporting_controller: text(e, &["reportingComponent"]),
                reporting_instance: text(e, &["reportingInstance"]),
                message: text(e, &["message"]),
            },
            now,
        )
    }

    /// `events.k8s.io/v1` Events are served from the same storage, so they
    /// print with the core printer after field renames (`note` is `message`,
    /// `regarding` is `involvedObject`, `deprecated*` are the old fields).
    fn events_v1_event(e: &Value, now: DateTime<Utc>) -> Row {
        print_event(
            e,
            EventFields {
                first: timestamp(e, &["deprecatedFirstTimestamp"]),
                last: timestamp(e, &["deprecatedLastTimestamp"]),
                event_time: timestamp(e, &["eventTime"]),
                count: int(e, &["deprecatedCount"]),
                series: series(&e["series"]),
                kind: text(e, &["regarding", "kind"]),
                object_name: text(e, &["regarding", "name"]),
                field_path: text(e, &["regarding", "fieldPath"]),
                event_type: text(e, &["type"]),
                reason: text(e, &["reason"]),
                component: text(e, &["deprecatedSource", "component"]),
                host: text(e, &["deprecatedSource", "host"]),
                reporting_controller: text(e, &["reportingController"]),
                reporting_instance: text(e, &["reportingInstance"]),
                message: text(e, &["note"]),
            },
            now,
        )
    }

    fn series(series: &Value) -> Option<(i64, Option<DateTime<Utc>>)> {
        series.is_object().then(|| {
            (
                int(series, &["count"]),
                timestamp(series, &["lastObservedTime"]),
            )
        })
    }

    fn print_event(e: &Value, f: EventFields<'_>, now: DateTime<Utc>) -> Row {
        let first = match f.first {
            Some(t) => since(Some(t), now),
            None => since(f.event_time, now),
        };
        let mut last = match f.last {
            Some(t) => since(Some(t), now),
            None => first.clone(),
        };
        let mut count = f.count;
        if let Some((series_count, observed)) = f.series {
            last = since(observed, now);
            count = series_count;
        } else if count == 0 {
            // Singleton events of the new API carry no count.
            count = 1;
        }
        let kind = f.kind.to_lowercase();
        let target = if f.object_name.is_empty() {
            kind
        } else {
            format!("{kind}/{}", f.object_name)
        };
        let component = or_default(f.component, f.reporting_controller);
        let instance = or_default(f.host, f.reporting_instance);
        let source = if instance.is_empty() {
            component.to_string()
        } else {
            format!("{component}, {instance}")
        };
        Row::new(vec![
            json!(last),
            json!(f.event_type),
            json!(f.reason),
            json!(target),
            json!(f.field_path),
            json!(source),
            json!(f.message.trim()),
            json!(first),
            json!(count),
            name(e),
        ])
    }

    fn namespace(object: &Value, now: DateTime<Utc>) -> Row {
        // The server sets phase Active on create.
        let phase = or_default(text(object, &["status", "phase"]), "Active");
        Row::new(vec![name(object), json!(phase), json!(age(object, now))])
    }

    fn secret(object: &Value, now: DateTime<Utc>) -> Row {
        // stringData is merged into data when the server decodes a Secret.
        let mut keys: BTreeSet<&str> = BTreeSet::new();
        for field in ["data", "stringData"] {
            if let Some(map) = object[field].as_object() {
                keys.extend(map.keys().map(String::as_str));
            }
        }
        Row::new(vec![
            name(object),
            json!(or_default(text(object, &["type"]), "Opaque")),
            json!(keys.len()),
            json!(age(object, now)),
        ])
    }

    fn service_account(object: &Value, now: DateTime<Utc>) -> Row {
        Row::new(vec![
            name(object),
            json!(len_of(object, &["secrets"])),
            json!(age(object, now)),
        ])
    }

    /// `GetAccessModesAsString`: RWO, ROX, RWX, RWOP in that order.
    fn access_modes(modes: &[Value]) -> String {
        let has = |mode: &str| modes.iter().any(|m| m.as_str() == Some(mode));
        [
            ("ReadWriteOnce", "RWO"),
            ("ReadOnlyMany", "ROX"),
            ("ReadWriteMany", "RWX"),
            ("ReadWriteOncePod", "RWOP"),
        ]
        .iter()
        .filter(|(mode, _)| has(mode))
        .map(|(_, short)| *short)
        .collect::<Vec<_>>()
        .join(",")
    }

    /// The beta storage-class annotation wins over `spec.storageClassName`.
    fn storage_class_name(object: &Value) -> &str {
        match at(
            object,
            &[
                "metadata",
                "annotations",
                "volume.beta.kubernetes.io/storage-class",
            ],
        ) {
            Value::String(class) => class,
            _ => text(object, &["spec", "storageClassName"]),
        }
    }

    fn persistent_volume(pv: &Value, now: DateTime<Utc>) -> Row {
        let spec = &pv["spec"];
        let claim = if spec["claimRef"].is_object() {
            format!(
                "{}/{}",
                text(spec, &["claimRef", "namespace"]),
                text(spec, &["claimRef", "name"])
            )
        } else {
            String::new()
        };
        // Defaults the server applies: Retain, Pending, Filesystem.
        let phase = if is_deleting(pv) {
            "Terminating"
        } else {
            or_default(text(pv, &["status", "phase"]), "Pending")
        };
        Row::new(vec![
            name(pv),
            json!(quantity(at(spec, &["capacity", "storage"]), "0")),
            json!(access_modes(items(spec, &["accessModes"]))),
            json!(or_default(
                text(spec, &["persistentVolumeReclaimPolicy"]),
                "Retain"
            )),
            json!(phase),
            json!(claim),
            json!(storage_class_name(pv)),
            json!(or_default(
                text(spec, &["volumeAttributesClassName"]),
                "<unset>"
            )),
            json!(text(pv, &["status", "reason"])),
            json!(age(pv, now)),
            json!(or_default(text(spec, &["volumeMode"]), "Filesystem")),
        ])
    }

    fn persistent_volume_claim(pvc: &Value, now: DateTime<Utc>) -> Row {
        let spec = &pvc["spec"];
        let phase = if is_deleting(pvc) {
            "Terminating"
        } else {
            or_default(text(pvc, &["status", "phase"]), "Pending")
        };
        let volume = text(spec, &["volumeName"]);
        let (capacity, modes) = if volume.is_empty() {
            (String::new(), String::new())
        } else {
            (
                quantity(at(pvc, &["status", "capacity", "storage"]), "0"),
                access_modes(items(pvc, &["status", "accessModes"])),
            )
        };
        Row::new(vec![
            name(pvc),
            json!(phase),
            json!(volume),
            json!(capacity),
            json!(modes),
            json!(storage_class_name(pvc)),
            json!(or_default(
                text(spec, &["volumeAttributesClassName"]),
                "<unset>"
            )),
            json!(age(pvc, now)),
            json!(or_default(text(spec, &["volumeMode"]), "Filesystem")),
        ])
    }

    fn config_map(object: &Value, now: DateTime<Utc>) -> Row {
        let count = len_of(object, &["data"]) + len_of(object, &["binaryData"]);
        Row::new(vec![name(object), json!(count), json!(age(object, now))])
    }

    fn resource_quota(object: &Value, now: DateTime<Utc>) -> Row {
        let hard: BTreeMap<&str, &Value> = at(object, &["status", "hard"])
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.as_str(), v)).collect())
            .unwrap_or_default();
        let mut requests = Vec::new();
        let mut limits = Vec::new();
        for (resource, hard_quantity) in hard {
            let used = quantity(at(object, &["status", "used", resource]), "0");
            let entry = format!("{resource}: {used}/{}", quantity(hard_quantity, "0"));
            let parts: Vec<&str> = resource.split('.').collect();
            if parts.len() > 1 && parts[0] == "limits" {
                limits.push(entry);
            } else {
                requests.push(entry);
            }
        }
        Row::new(vec![
            name(object),
            json!(requests.join(", ")),
            json!(limits.join(", ")),
            json!(age(object, now)),
        ])
    }

    // -- apps, batch --------------------------------------------------------

    fn deployment(object: &Value, now: DateTime<Utc>) -> Row {
        let spec = &object["spec"];
        let (names, images) = containers(items(spec, &["template", "spec", "containers"]));
        // Unlike most printers, Deployment prints an empty selector as "".
        let selector = Selector::from_label_selector(&spec["selector"])
            .map_or_else(|_| "<invalid>".to_string(), |s| s.to_string());
        Row::new(vec![
            name(object),
            json!(format!(
                "{}/{}",
                int(object, &["status", "readyReplicas"]),
                int_or(spec, &["replicas"], 1)
            )),
            json!(int(object, &["status", "updatedReplicas"])),
            json!(int(object, &["status", "availableReplicas"])),
            json!(age(object, now)),
            names,
            images,
            json!(selector),
        ])
    }

    fn replica_set(object: &Value, now: DateTime<Utc>) -> Row {
        let spec = &object["spec"];
        let (names, images) = containers(items(spec, &["template", "spec", "containers"]));
        Row::new(vec![
            name(object),
            json!(int_or(spec, &["replicas"], 1)),
            json!(int(object, &["status", "replicas"])),
            json!(int(object, &["status", "readyReplicas"])),
            json!(age(object, now)),
            names,
            images,
            json!(format_label_selector(&spec["selector"])),
        ])
    }

    fn daemon_set(object: &Value, now: DateTime<Utc>) -> Row {
        let spec = &object["spec"];
        let status = &object["status"];
        let (names, images) = containers(items(spec, &["template", "spec", "containers"]));
        Row::new(vec![
            name(object),
            json!(int(status, &["desiredNumberScheduled"])),
            json!(int(status, &["currentNumberScheduled"])),
            json!(int(status, &["numberReady"])),
            json!(int(status, &["updatedNumberScheduled"])),
            json!(int(status, &["numberAvailable"])),
            json!(format_labels(at(
                spec,
                &["template", "spec", "nodeSelector"]
            ))),
            json!(age(object, now)),
            names,
            images,
            json!(format_label_selector(&spec["selector"])),
        ])
    }

    fn stateful_set(object: &Value, now: DateTime<Utc>) -> Row {
        let spec = &object["spec"];
        let (names, images) = containers(items(spec, &["template", "spec", "containers"]));
        Row::new(vec![
            name(object),
            json!(format!(
                "{}/{}",
                int(object, &["status", "readyReplicas"]),
                int_or(spec, &["replicas"], 1)
            )),
            json!(age(object, now)),
            names,
            images,
        ])
    }

    fn controller_revision(object: &Value, now: DateTime<Utc>) -> Row {
        let controller = items(object, &["metadata", "ownerReferences"])
            .iter()
            .find(|r| r["controller"].as_bool() == Some(true))
            .map_or_else(
                || "<none>".to_string(),
                |r| {
                    let group = text(r, &["apiVersion"])
                        .split_once('/')
                        .map_or("", |(g, _)| g);
                    let kind = text(r, &["kind"]);
                    let group_kind = if group.is_empty() {
                        kind.to_string()
                    } else {
                        format!("{kind}.{group}")
                    };
                    if group_kind.is_empty() {
                        text(r, &["name"]).to_string()
                    } else {
                        format!("{}/{}", group_kind.to_lowercase(), text(r, &["name"]))
                    }
                },
            );
        Row::new(vec![
            name(object),
            json!(controller),
            json!(int(object, &["revision"])),
            json!(age(object, now)),
        ])
    }

    fn job(object: &Value, now: DateTime<Utc>) -> Row {
        let spec = &object["spec"];
        let status = &object["status"];
        let succeeded = int(status, &["succeeded"]);
        let completions = match at(spec, &["completions"]).as_i64() {
            Some(completions) => format!("{succeeded}/{completions}"),
            None => match int(spec, &["parallelism"]) {
                parallelism if parallelism > 1 => format!("{succeeded}/1 of {parallelism}"),
                _ => format!("{succeeded}/1"),
            },
        };
        let duration = match (
            timestamp(status, &["startTime"]),
            timestamp(status, &["completionTime"]),
        ) {
            (None, _) => String::new(),
            (Some(start), None) => human_duration(now - start),
            (Some(start), Some(end)) => human_duration(end - start),
        };
        let conditions = items(status, &["conditions"]);
        let state = if condition_true(conditions, "Complete") {
            "Complete"
        } else if condition_true(conditions, "Failed") {
            "Failed"
        } else if is_deleting(object) {
            "Terminating"
        } else if condition_true(conditions, "Suspended") {
            "Suspended"
        } else if condition_true(conditions, "FailureTarget") {
            "FailureTarget"
        } else {
            "Running"
        };
        let (names, images) = containers(items(spec, &["template", "spec", "containers"]));
        Row::new(vec![
            name(object),
            json!(state),
            json!(completions),
            json!(duration),
            json!(age(object, now)),
            names,
            images,
            json!(format_label_selector(&spec["selector"])),
        ])
    }

    fn cron_job(object: &Value, now: DateTime<Utc>) -> Row {
        let spec = &object["spec"];
        let last_schedule = match timestamp(object, &["status", "lastScheduleTime"]) {
            Some(t) => since(Some(t), now),
            None => "<none>".to_string(),
        };
        // suspend defaults to false on the server.
        let suspend = if at(spec, &["suspend"]).as_bool() == Some(true) {
            "True"
        } else {
            "False"
        };
        let job_spec = at(spec, &["jobTemplate", "spec"]);
        let (names, images) = containers(items(job_spec, &["template", "spec", "containers"]));
        Row::new(vec![
            name(object),
            json!(text(spec, &["schedule"])),
            json!(or_default(text(spec, &["timeZone"]), "<none>")),
            json!(suspend),
            json!(len_of(object, &["status", "active"])),
            json!(last_schedule),
            json!(age(object, now)),
            names,
            images,
            json!(format_label_selector(&job_spec["selector"])),
        ])
    }

    // -- networking, rbac, coordination, policy, autoscaling ----------------

    fn ingress(object: &Value, now: DateTime<Utc>) -> Row {
        const MAX: usize = 3;
        let spec = &object["spec"];
        let rules = items(spec, &["rules"]);
        let mut hosts: Vec<&str> = Vec::new();
        let mut more = false;
        for rule in rules {
            if hosts.len() == MAX {
                more = true;
            }
            let host = text(rule, &["host"]);
            if !more && !host.is_empty() {
                hosts.push(host);
            }
        }
        let hosts = match (hosts.is_empty(), more) {
            (true, _) => "*".to_string(),
            (false, true) => format!("{} + {} more...", hosts.join(","), rules.len() - MAX),
            (false, false) => hosts.join(","),
        };
        let ports = if items(spec, &["tls"]).is_empty() {
            "80"
        } else {
            "80, 443"
        };
        Row::new(vec![
            name(object),
            json!(or_default(text(spec, &["ingressClassName"]), "<none>")),
            json!(hosts),
            json!(load_balancer_addresses(at(
                object,
                &["status", "loadBalancer"]
            ))),
            json!(ports),
            json!(age(object, now)),
        ])
    }

    fn ingress_class(object: &Value, now: DateTime<Utc>) -> Row {
        let parameters = at(object, &["spec", "parameters"]);
        let parameters = if parameters.is_object() {
            let group = match at(parameters, &["apiGroup"]) {
                Value::String(group) => format!(".{group}"),
                _ => String::new(),
            };
            format!(
                "{}{group}/{}",
                text(parameters, &["kind"]),
                text(parameters, &["name"])
            )
        } else {
            "<none>".to_string()
        };
        Row::new(vec![
            name(object),
            json!(text(object, &["spec", "controller"])),
            json!(parameters),
            json!(age(object, now)),
        ])
    }

    fn network_policy(object: &Value, now: DateTime<Utc>) -> Row {
        // podSelector is a struct upstream, never nil: absent means {}.
        let selector = match at(object, &["spec", "podSelector"]) {
            Value::Null => json!({}),
            other => other.clone(),
        };
        Row::new(vec![
            name(object),
            json!(format_label_selector(&selector)),
            json!(age(object, now)),
        ])
    }

    fn role_binding(object: &Value, now: DateTime<Utc>) -> Row {
        let (mut users, mut groups, mut service_accounts) = (Vec::new(), Vec::new(), Vec::new());
        for subject in items(object, &["subjects"]) {
            let subject_name = text(subject, &["name"]);
            match text(subject, &["kind"]) {
                "ServiceAccount" => service_accounts
                    .push(format!("{}/{subject_name}", text(subject, &["namespace"]))),
                "User" => users.push(subject_name.to_string()),
                "Group" => groups.push(subject_name.to_string()),
                _ => {}
            }
        }
        Row::new(vec![
            name(object),
            json!(format!(
                "{}/{}",
                text(object, &["roleRef", "kind"]),
                text(object, &["roleRef", "name"])
            )),
            json!(age(object, now)),
            json!(users.join(", ")),
            json!(groups.join(", ")),
            json!(service_accounts.join(", ")),
        ])
    }

    fn lease(object: &Value, now: DateTime<Utc>) -> Row {
        Row::new(vec![
            name(object),
            json!(text(object, &["spec", "holderIdentity"])),
            json!(age(object, now)),
        ])
    }

    fn pod_disruption_budget(object: &Value, now: DateTime<Utc>) -> Row {
        let int_or_string = |v: &Value| match v {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            _ => "N/A".to_string(),
        };
        Row::new(vec![
            name(object),
            json!(int_or_string(at(object, &["spec", "minAvailable"]))),
            json!(int_or_string(at(object, &["spec", "maxUnavailable"]))),
            json!(int(object, &["status", "disruptionsAllowed"])),
            json!(age(object, now)),
        ])
    }

    fn horizontal_pod_autoscaler(hpa: &Value, now: DateTime<Utc>) -> Row {
        let spec = &hpa["spec"];
        Row::new(vec![
            name(hpa),
            json!(format!(
                "{}/{}",
                text(spec, &["scaleTargetRef", "kind"]),
                text(spec, &["scaleTargetRef", "name"])
            )),
            json!(hpa_metrics(hpa)),
            // minReplicas defaults to 1 on the server.
            json!(int_or(spec, &["minReplicas"], 1).to_string()),
            json!(int(spec, &["maxReplicas"])),
            json!(int(hpa, &["status", "currentReplicas"])),
            json!(age(hpa, now)),
        ])
    }

    /// The metric specs and statuses as autoscaling/v2 has them. A v1 object's
    /// CPU percentage converts to a Resource metric; with no metric at all
    /// the server's v2 defaulting adds CPU at 80% utilisation.
    fn hpa_specs_and_statuses(hpa: &Value) -> (Vec<Value>, Vec<Value>) {
        let spec = &hpa["spec"];
        let specs = items(spec, &["metrics"]).to_vec();
        let statuses = items(hpa, &["status", "currentMetrics"]).to_vec();
        if !specs.is_empty() {
            return (specs, statuses);
        }
        let cpu = |target: i64| json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}});
        let target = at(spec, &["targetCPUUtilizationPercentage"])
            .as_i64()
            .unwrap_or(80);
        let statuses = match at(hpa, &["status", "currentCPUUtilizationPercentage"]).as_i64() {
            Some(current) => vec![
                json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": current}}}),
            ],
            None => statuses,
        };
        (vec![cpu(target)], statuses)
    }

    /// `formatHPAMetrics`: at most two metrics, `current/target` each.
    fn hpa_metrics(hpa: &Value) -> String {
        const MAX: usize = 2;
        let (specs, statuses) = hpa_specs_and_statuses(hpa);
        if specs.is_empty() {
            return "<none>".to_string();
        }
        let status_of =
            |i: usize, field: &str| statuses.get(i).map(|s| &s[field]).filter(|s| s.is_object());
        let mut list = Vec::new();
        for (i, metric) in specs.iter().enumerate() {
            let entry = match text(metric, &["type"]) {
                source @ ("External" | "Object") => {
                    let field = if source == "External" {
                        "external"
                    } else {
                        "object"
                    };
                    let target = at(metric, &[field, "target"]);
                    let status = status_of(i, field);
                    if is_set(target, &["averageValue"]) {
                        let current = status
                            .filter(|s| is_set(s, &["current", "averageValue"]))
                            .map_or("<unknown>".to_string(), |s| {
                                quantity(at(s, &["current", "averageValue"]), "<nil>")
                            });
                        format!(
                            "{current}/{} (avg)",
                            quantity(&target["averageValue"], "<nil>")
                        )
                    } else {
                        let current = status.map_or("<unknown>".to_string(), |s| {
                            quantity(at(s, &["current", "value"]), "<nil>")
                        });
                        format!("{current}/{}", quantity(&target["value"], "<nil>"))
                    }
                }
                "Pods" => {
                    let current = status_of(i, "pods").map_or("<unknown>".to_string(), |s| {
                        quantity(at(s, &["current", "averageValue"]), "<nil>")
                    });
                    format!(
                        "{current}/{}",
                        quantity(at(metric, &["pods", "target", "averageValue"]), "<nil>")
                    )
                }
                source @ ("Resource" | "ContainerResource") => {
                    let field = if source == "Resource" {
                        "resource"
                    } else {
                        "containerResource"
                    };
                    let resource = &metric[field];
                    let resource_name = text(resource, &["name"]);
                    let status = status_of(i, field);
                    if is_set(resource, &["target", "averageValue"]) {
                        let current = status.map_or("<unknown>".to_string(), |s| {
                            quantity(at(s, &["current", "averageValue"]), "<nil>")
                        });
                        format!(
                            "{resource_name}: {current}/{}",
                            quantity(at(resource, &["target", "averageValue"]), "<nil>")
                        )
                    } else {
                        let current = status
                            .and_then(|s| at(s, &["current", "averageUtilization"]).as_i64())
                            .map_or("<unknown>".to_string(), |u| format!("{u}%"));
                        let target = at(resource, &["target", "averageUtilization"])
                            .as_i64()
                            .map_or("<auto>".to_string(), |u| format!("{u}%"));
                        format!("{resource_name}: {current}/{target}")
                    }
                }
                _ => "<unknown type>".to_string(),
            };
            list.push(entry);
        }
        let count = list.len();
        if count > MAX {
            list.truncate(MAX);
            return format!("{} + {} more...", list.join(", "), count - MAX);
        }
        list.join(", ")
    }

    // -- storage, scheduling, node, discovery, admission ---------------------

    fn storage_class(object: &Value, now: DateTime<Utc>) -> Row {
        let annotation = |key: &str| text(object, &["metadata", "annotations", key]) == "true";
        let mut class_name = text(object, &["metadata", "name"]).to_string();
        if annotation("storageclass.kubernetes.io/is-default-class")
            || annotation("storageclass.beta.kubernetes.io/is-default-class")
        {
            class_name.push_str(" (default)");
        }
        Row::new(vec![
            json!(class_name),
            json!(text(object, &["provisioner"])),
            json!(or_default(text(object, &["reclaimPolicy"]), "Delete")),
            json!(or_default(
                text(object, &["volumeBindingMode"]),
                "Immediate"
            )),
            bool_cell(&object["allowVolumeExpansion"], false),
            json!(age(object, now)),
        ])
    }

    fn priority_class(object: &Value, now: DateTime<Utc>) -> Row {
        Row::new(vec![
            name(object),
            json!(int(object, &["value"])),
            bool_cell(&object["globalDefault"], false),
            json!(age(object, now)),
            // preemptionPolicy defaults to PreemptLowerPriority on the server.
            json!(or_default(
                text(object, &["preemptionPolicy"]),
                "PreemptLowerPriority"
            )),
        ])
    }

    fn runtime_class(object: &Value, now: DateTime<Utc>) -> Row {
        Row::new(vec![
            name(object),
            json!(text(object, &["handler"])),
            json!(age(object, now)),
        ])
    }

    fn endpoint_slice(object: &Value, now: DateTime<Utc>) -> Row {
        const MAX: usize = 3;
        let ports = items(object, &["ports"]);
        let port_list: Vec<String> = ports
            .iter()
            .take(MAX)
            .map(
                |p| match (at(p, &["port"]).as_i64(), at(p, &["name"]).as_str()) {
                    (Some(port), _) => port.to_string(),
                    (None, Some(port_name)) => port_name.to_string(),
                    (None, None) => "*".to_string(),
                },
            )
            .collect();
        let addresses: Vec<&str> = items(object, &["endpoints"])
            .iter()
            .flat_map(|e| items(e, &["addresses"]).iter().filter_map(Value::as_str))
            .collect();
        let address_list: Vec<String> = addresses.iter().take(MAX).map(|a| a.to_string()).collect();
        Row::new(vec![
            name(object),
            json!(text(object, &["addressType"])),
            json!(list_with_more(
                &port_list,
                ports.len() > MAX,
                ports.len(),
                MAX
            )),
            json!(list_with_more(
                &address_list,
                addresses.len() > MAX,
                addresses.len(),
                MAX
            )),
            json!(age(object, now)),
        ])
    }

    fn webhook_configuration(object: &Value, now: DateTime<Utc>) -> Row {
        Row::new(vec![
            name(object),
            json!(len_of(object, &["webhooks"])),
            json!(age(object, now)),
        ])
    }
}

// ---------------------------------------------------------------------------

/// Column descriptions: the API documentation strings (`SwaggerDoc()`) the
/// upstream printers reference, as served in `columnDefinitions`.
#[rustfmt::skip]
mod docs {
    pub(super) const META_NAME: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
    pub(super) const META_CREATED: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
    pub(super) const POD_IP: &str = "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.";
    pub(super) const POD_NODE: &str = "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename";
    pub(super) const POD_NOMINATED: &str = "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.";
    pub(super) const POD_GATES: &str = "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates";
    pub(super) const RC_SPEC_REPLICAS: &str = "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller";
    pub(super) const RC_STATUS_REPLICAS: &str = "Replicas is the most recently observed number of replicas. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller";
    pub(super) const RC_READY: &str = "The number of ready replicas for this replication controller.";
    pub(super) const RC_SELECTOR: &str = "Selector is a label query over pods that should match the Replicas count. If Selector is empty, it is defaulted to the labels present on the Pod template. Label keys and values that must match in order to be controlled by this replication controller, if empty defaulted to labels on Pod template. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";
    pub(super) const RS_SPEC_REPLICAS: &str = "Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset";
    pub(super) const RS_STATUS_REPLICAS: &str = "Replicas is the most recently observed number of non-terminating pods. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset";
    pub(super) const RS_READY: &str = "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.";
    pub(super) const RS_SELECTOR: &str = "Selector is a label query over pods that should match the replica count. If the selector is empty, it is defaulted to the labels present on the pod template. Label keys and values that must match in order to be controlled by this replica set. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";
    pub(super) const DS_DESIRED: &str = "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod). More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/";
    pub(super) const DS_CURRENT: &str = "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/";
    pub(super) const DS_READY: &str = "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.";
    pub(super) const DS_UPDATED: &str = "The total number of nodes that are running updated daemon pod";
    pub(super) const DS_AVAILABLE: &str = "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)";
    pub(super) const POD_NODE_SELECTOR: &str = "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/";
    pub(super) const DS_SELECTOR: &str = "A label query over pods that are managed by the daemon set. Must match in order to be controlled. If empty, defaulted to labels on Pod template. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";
    pub(super) const JOB_SUCCEEDED: &str = "The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.";
    pub(super) const JOB_SELECTOR: &str = "A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";
    pub(super) const CJ_SCHEDULE: &str = "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.";
    pub(super) const CJ_TIMEZONE: &str = "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will default to the time zone of the kube-controller-manager process. The set of valid time zone names and the time zone offset is loaded from the system-wide time zone database by the API server during CronJob validation and the controller manager during execution. If no system-wide time zone database can be found a bundled version of the database is used instead. If the time zone name becomes invalid during the lifetime of a CronJob or due to a change in host configuration, the controller will stop creating new new Jobs and will create a system event with the reason UnknownTimeZone. More information can be found in https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones";
    pub(super) const CJ_SUSPEND: &str = "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.  Defaults to false.";
    pub(super) const CJ_ACTIVE: &str = "A list of pointers to currently running jobs.";
    pub(super) const CJ_LAST_SCHEDULE: &str = "Information when was the last time the job was successfully scheduled.";
    pub(super) const SVC_TYPE: &str = "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" allocates a cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by the selector or if that is not specified, by manual construction of an Endpoints object or EndpointSlice objects. If clusterIP is \"None\", no virtual IP is allocated and the endpoints are published as a set of endpoints rather than a virtual IP. \"NodePort\" builds on ClusterIP and allocates a port on every node which routes to the same endpoints as the clusterIP. \"LoadBalancer\" builds on NodePort and creates an external load-balancer (if supported in the current cloud) which routes to the same endpoints as the clusterIP. \"ExternalName\" aliases this service to the specified externalName. Several other fields do not apply to ExternalName services. More info: https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types";
    pub(super) const SVC_CLUSTER_IP: &str = "clusterIP is the IP address of the service and is usually assigned randomly. If an address is specified manually, is in-range (as per system configuration), and is not in use, it will be allocated to the service; otherwise creation of the service will fail. This field may not be changed through updates unless the type field is also being changed to ExternalName (which requires this field to be blank) or the type field is being changed from ExternalName (in which case this field may optionally be specified, as describe above).  Valid values are \"None\", empty string (\"\"), or a valid IP address. Setting this to \"None\" makes a \"headless service\" (no virtual IP), which is useful when direct endpoint connections are preferred and proxying is not required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a Service of type ExternalName, creation will fail. This field will be wiped when updating a Service to type ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies";
    pub(super) const SVC_EXTERNAL_IPS: &str = "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.  These IPs are not managed by Kubernetes.  The user is responsible for ensuring that traffic arrives at a node with this IP.  A common example is external load-balancers that are not part of the Kubernetes system.";
    pub(super) const SVC_PORTS: &str = "The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies";
    pub(super) const SVC_SELECTOR: &str = "Route service traffic to pods with label keys and values matching this selector. If empty or not present, the service is assumed to have an external process managing its endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/";
    pub(super) const EP_SUBSETS: &str = "The set of all endpoints is the union of all subsets. Addresses are placed into subsets according to the IPs they share. A single address with multiple ports, some of which are ready and some of which are not (because they come from different containers) will result in the address being displayed in different subsets for the different ports. No address will appear in both Addresses and NotReadyAddresses in the same subset. Sets of addresses and ports that comprise a service.";
    pub(super) const NODE_KUBELET: &str = "Kubelet Version reported by the node.";
    pub(super) const NODE_ADDRESSES: &str = "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).";
    pub(super) const NODE_OS_IMAGE: &str = "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).";
    pub(super) const NODE_KERNEL: &str = "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).";
    pub(super) const NODE_RUNTIME: &str = "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).";
    pub(super) const EV_LAST: &str = "The time at which the most recent occurrence of this event was recorded.";
    pub(super) const EV_TYPE: &str = "Type of this event (Normal, Warning), new types could be added in the future";
    pub(super) const EV_REASON: &str = "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.";
    pub(super) const EV_OBJECT: &str = "The object that this event is about.";
    pub(super) const EV_FIELD_PATH: &str = "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.";
    pub(super) const EV_SOURCE: &str = "The component reporting this event. Should be a short machine understandable string.";
    pub(super) const EV_MESSAGE: &str = "A human-readable description of the status of this operation.";
    pub(super) const EV_FIRST: &str = "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)";
    pub(super) const EV_COUNT: &str = "The number of times this event has occurred.";
    pub(super) const SECRET_TYPE: &str = "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types";
    pub(super) const SECRET_DATA: &str = "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4";
    pub(super) const SA_SECRETS: &str = "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use. Pods are only limited to this list if this service account has a \"kubernetes.io/enforce-mountable-secrets\" annotation set to \"true\". The \"kubernetes.io/enforce-mountable-secrets\" annotation is deprecated since v1.32. Prefer separate namespaces to isolate access to mounted secrets. This field should not be used to find auto-generated service account token secrets for use outside of pods. Instead, tokens can be requested directly using the TokenRequest API, or service account token secrets can be manually created. More info: https://kubernetes.io/docs/concepts/configuration/secret";
    pub(super) const PV_CAPACITY: &str = "capacity is the description of the persistent volume's resources and capacity. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#capacity";
    pub(super) const PV_ACCESS_MODES: &str = "accessModes contains all ways the volume can be mounted. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes";
    pub(super) const PV_RECLAIM: &str = "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim. Valid options are Retain (default for manually created PersistentVolumes), Delete (default for dynamically provisioned PersistentVolumes), and Recycle (deprecated). Recycle must be supported by the volume plugin underlying this PersistentVolume. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#reclaiming";
    pub(super) const PV_PHASE: &str = "phase indicates if a volume is available, bound to a claim, or released by a claim. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#phase";
    pub(super) const PV_CLAIM: &str = "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim. Expected to be non-nil when bound. claim.VolumeName is the authoritative bind between PV and PVC. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#binding";
    pub(super) const PV_REASON: &str = "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.";
    pub(super) const PV_VOLUME_MODE: &str = "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state. Value of Filesystem is implied when not included in spec.";
    pub(super) const PVC_PHASE: &str = "phase represents the current phase of PersistentVolumeClaim.";
    pub(super) const PVC_VOLUME: &str = "volumeName is the binding reference to the PersistentVolume backing this claim.";
    pub(super) const PVC_CAPACITY: &str = "capacity represents the actual resources of the underlying volume.";
    pub(super) const PVC_ACCESS_MODES: &str = "accessModes contains the actual access modes the volume backing the PVC has. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1";
    pub(super) const PVC_VOLUME_MODE: &str = "volumeMode defines what type of volume is required by the claim. Value of Filesystem is implied when not included in claim spec.";
    pub(super) const DEPLOY_UPDATED: &str = "Total number of non-terminating pods targeted by this deployment that have the desired template spec.";
    pub(super) const DEPLOY_AVAILABLE: &str = "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.";
    pub(super) const DEPLOY_SELECTOR: &str = "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.";
    pub(super) const HPA_REF: &str = "scaleTargetRef points to the target resource to scale, and is used to the pods for which metrics should be collected, as well as to actually change the replica count.";
    pub(super) const HPA_METRICS: &str = "metrics contains the specifications for which to use to calculate the desired replica count (the maximum replica count across all metrics will be used).  The desired replica count is calculated multiplying the ratio between the target value and the current value by the current number of pods.  Ergo, metrics used must decrease as the pod count is increased, and vice-versa.  See the individual metric source types for more information about how each type of metric must respond.";
    pub(super) const HPA_MIN: &str = "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.  It defaults to 1 pod.  minReplicas is allowed to be 0 if the alpha feature gate HPAScaleToZero is enabled and at least one Object or External metric is configured.  Scaling is active as long as at least one metric value is available.";
    pub(super) const HPA_MAX: &str = "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up. It cannot be less that minReplicas.";
    pub(super) const HPA_CURRENT: &str = "currentReplicas is current number of replicas of pods managed by this autoscaler, as last seen by the autoscaler.";
    pub(super) const CM_DATA: &str = "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.";
    pub(super) const NP_POD_SELECTOR: &str = "Selects the pods to which this NetworkPolicy object applies.  The array of ingress rules is applied to any pods selected by this field. Multiple network policies can select the same set of pods.  In this case, the ingress rules for each are combined additively. This field is NOT optional and follows standard label selector semantics. An empty podSelector matches all pods in this namespace.";
    pub(super) const RB_ROLE_REF: &str = "roleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error.";
    pub(super) const CRB_ROLE_REF: &str = "roleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error.";
    pub(super) const LEASE_HOLDER: &str = "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.";
    pub(super) const SC_PROVISIONER: &str = "provisioner indicates the type of the provisioner.";
    pub(super) const SC_RECLAIM: &str = "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class. Defaults to Delete.";
    pub(super) const SC_BINDING: &str = "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.  When unset, VolumeBindingImmediate is used. This field is only honored by servers that enable the VolumeScheduling feature.";
    pub(super) const SC_EXPANSION: &str = "allowVolumeExpansion shows whether the storage class allow volume expand.";
    pub(super) const PC_VALUE: &str = "value represents the integer value of this priority class. This is the actual priority that pods receive when they have the name of this class in their pod spec.";
    pub(super) const PC_GLOBAL_DEFAULT: &str = "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class. Only one PriorityClass can be marked as `globalDefault`. However, if more than one PriorityClasses exists with their `globalDefault` field set to true, the smallest value of such global default PriorityClasses will be used as the default priority.";
    pub(super) const PC_PREEMPTION: &str = "preemptionPolicy is the Policy for preempting pods with lower priority. One of Never, PreemptLowerPriority. Defaults to PreemptLowerPriority if unset.";
    pub(super) const ES_ADDRESS_TYPE: &str = "addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be the same type. This field is immutable after creation. The following address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name.";
    pub(super) const ES_PORTS: &str = "ports specifies the list of network ports exposed by each endpoint in this slice. Each port must have a unique name. When ports is empty, it indicates that there are no defined ports. When a port is defined with a nil port value, it indicates \"all ports\". Each slice may include a maximum of 100 ports.";
    pub(super) const ES_ENDPOINTS: &str = "endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of 1000 endpoints.";
    pub(super) const CR_REVISION: &str = "revision indicates the revision of the state represented by Data.";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2025-06-01T12:00:00Z".parse().expect("valid test time")
    }

    /// A timestamp `seconds` before [`now`], as the server writes it.
    fn ago(seconds: i64) -> String {
        (now() - TimeDelta::seconds(seconds))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    }

    fn names(columns: &Columns) -> Vec<(String, String, i32)> {
        columns
            .definitions()
            .iter()
            .map(|d| (d.name.clone(), d.column_type.clone(), d.priority))
            .collect()
    }

    fn cells(group: &str, kind: &str, object: &Value) -> Vec<Value> {
        builtin_columns(group, kind).cells(object, now())
    }

    #[test]
    fn human_duration_matches_upstream_thresholds() {
        let ms = TimeDelta::milliseconds;
        let s = TimeDelta::seconds;
        let m = TimeDelta::minutes;
        let h = TimeDelta::hours;
        let d = TimeDelta::days;
        let cases = [
            (s(-3), "<invalid>"),
            (s(-2), "<invalid>"),
            (s(-2) + TimeDelta::nanoseconds(1), "0s"),
            (ms(-500), "0s"),
            (s(0), "0s"),
            (ms(999), "0s"),
            (s(5), "5s"),
            (s(95), "95s"),
            (m(2) - ms(1), "119s"),
            (m(2), "2m"),
            (m(3) + s(20), "3m20s"),
            (m(10) - ms(1), "9m59s"),
            (m(10) + s(30), "10m"),
            (m(95), "95m"),
            (h(3) - ms(1), "179m"),
            (h(3), "3h"),
            (h(5) + m(3), "5h3m"),
            (h(8) - ms(1), "7h59m"),
            (h(8) + m(30), "8h"),
            (h(30), "30h"),
            (d(2) - ms(1), "47h"),
            (d(2), "2d"),
            (d(2) + h(3), "2d3h"),
            (d(8) - ms(1), "7d23h"),
            (d(8) + h(5), "8d"),
            (d(400), "400d"),
            (d(730) - ms(1), "729d"),
            (d(730), "2y"),
            (d(731) - ms(1), "2y"),
            (d(731), "2y1d"),
            (d(365 * 5 + 40), "5y40d"),
            (d(365 * 8) - ms(1), "7y364d"),
            (d(365 * 8), "8y"),
            (d(365 * 9 + 100), "9y"),
        ];
        for (duration, want) in cases {
            assert_eq!(human_duration(duration), want, "{duration:?}");
        }
    }

    #[test]
    fn column_sets_of_builtin_kinds() {
        let s = |n: &str, p: i32| (n.to_string(), "string".to_string(), p);
        let i = |n: &str| (n.to_string(), "integer".to_string(), 0);
        assert_eq!(
            names(&builtin_columns("apps", "Deployment")),
            [
                s("Name", 0),
                s("Ready", 0),
                s("Up-to-date", 0),
                s("Available", 0),
                s("Age", 0),
                s("Containers", 1),
                s("Images", 1),
                s("Selector", 1)
            ]
        );
        assert_eq!(
            names(&builtin_columns("", "Pod")),
            [
                s("Name", 0),
                s("Ready", 0),
                s("Status", 0),
                s("Restarts", 0),
                s("Age", 0),
                s("IP", 1),
                s("Node", 1),
                s("Nominated Node", 1),
                s("Readiness Gates", 1)
            ]
        );
        assert_eq!(
            names(&builtin_columns("", "Service")),
            [
                s("Name", 0),
                s("Type", 0),
                s("Cluster-IP", 0),
                s("External-IP", 0),
                s("Port(s)", 0),
                s("Age", 0),
                s("Selector", 1)
            ]
        );
        assert_eq!(
            names(&builtin_columns("apps", "ReplicaSet")),
            [
                s("Name", 0),
                i("Desired"),
                i("Current"),
                i("Ready"),
                s("Age", 0),
                s("Containers", 1),
                s("Images", 1),
                s("Selector", 1)
            ]
        );
        assert_eq!(
            names(&builtin_columns("batch", "Job")),
            [
                s("Name", 0),
                s("Status", 0),
                s("Completions", 0),
                s("Duration", 0),
                s("Age", 0),
                s("Containers", 1),
                s("Images", 1),
                s("Selector", 1)
            ]
        );
        assert_eq!(
            names(&builtin_columns("", "ConfigMap")),
            [s("Name", 0), s("Data", 0), s("Age", 0)]
        );
        assert_eq!(
            names(&builtin_columns("", "Secret")),
            [s("Name", 0), s("Type", 0), s("Data", 0), s("Age", 0)]
        );
        let event = names(&builtin_columns("", "Event"));
        assert_eq!(event.first(), Some(&s("Last Seen", 0)));
        assert_eq!(event.last(), Some(&s("Name", 1)));
        let cron = names(&builtin_columns("batch", "CronJob"));
        assert_eq!(cron[3], ("Suspend".to_string(), "boolean".to_string(), 0));
        // No printer: the default convertor's two columns.
        for (group, kind) in [
            ("rbac.authorization.k8s.io", "Role"),
            ("rbac.authorization.k8s.io", "ClusterRole"),
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
            ("", "LimitRange"),
            ("example.com", "Deployment"),
        ] {
            assert_eq!(
                names(&builtin_columns(group, kind)),
                [
                    s("Name", 0),
                    ("Created At".to_string(), "date".to_string(), 0)
                ],
                "{group}/{kind}"
            );
        }
        let namespace = builtin_columns("", "Namespace");
        let name_column = &namespace.definitions()[0];
        assert_eq!(name_column.format, "name");
        assert!(
            name_column
                .description
                .starts_with("Name must be unique within a namespace.")
        );
    }

    #[test]
    fn every_required_kind_has_a_row_as_wide_as_its_columns() {
        let kinds = [
            ("", "Namespace"),
            ("", "ConfigMap"),
            ("", "Secret"),
            ("", "Service"),
            ("", "ServiceAccount"),
            ("", "Pod"),
            ("", "Event"),
            ("events.k8s.io", "Event"),
            ("", "Endpoints"),
            ("", "PersistentVolumeClaim"),
            ("", "ResourceQuota"),
            ("", "LimitRange"),
            ("", "Node"),
            ("", "PersistentVolume"),
            ("", "ReplicationController"),
            ("", "PodTemplate"),
            ("apps", "Deployment"),
            ("apps", "StatefulSet"),
            ("apps", "DaemonSet"),
            ("apps", "ReplicaSet"),
            ("apps", "ControllerRevision"),
            ("batch", "Job"),
            ("batch", "CronJob"),
            ("networking.k8s.io", "Ingress"),
            ("networking.k8s.io", "IngressClass"),
            ("networking.k8s.io", "NetworkPolicy"),
            ("rbac.authorization.k8s.io", "Role"),
            ("rbac.authorization.k8s.io", "ClusterRole"),
            ("rbac.authorization.k8s.io", "RoleBinding"),
            ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
            ("coordination.k8s.io", "Lease"),
            ("policy", "PodDisruptionBudget"),
            ("autoscaling", "HorizontalPodAutoscaler"),
            ("storage.k8s.io", "StorageClass"),
            ("scheduling.k8s.io", "PriorityClass"),
            ("node.k8s.io", "RuntimeClass"),
            ("discovery.k8s.io", "EndpointSlice"),
            (
                "admissionregistration.k8s.io",
                "ValidatingWebhookConfiguration",
            ),
            (
                "admissionregistration.k8s.io",
                "MutatingWebhookConfiguration",
            ),
        ];
        let bare = json!({"metadata": {"name": "x", "creationTimestamp": ago(30)}});
        for (group, kind) in kinds {
            let columns = builtin_columns(group, kind);
            assert_eq!(
                columns.cells(&bare, now()).len(),
                columns.definitions().len(),
                "{group}/{kind}"
            );
        }
    }

    #[test]
    fn deployment_cells() {
        let deployment = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "creationTimestamp": ago(200)},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]},
                "template": {"spec": {"containers": [
                    {"name": "app", "image": "nginx:1.27"},
                    {"name": "sidecar", "image": "envoy:1.30"},
                ]}},
            },
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
        });
        assert_eq!(
            cells("apps", "Deployment", &deployment),
            [
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("3m20s"),
                json!("app,sidecar"),
                json!("nginx:1.27,envoy:1.30"),
                json!("app=web,tier notin (db)")
            ]
        );
        // Fresh object: no status yet, replicas defaulted to 1, no selector.
        let fresh = json!({"metadata": {"name": "new", "creationTimestamp": ago(5)}, "spec": {}});
        assert_eq!(
            cells("apps", "Deployment", &fresh),
            [
                json!("new"),
                json!("0/1"),
                json!(0),
                json!(0),
                json!("5s"),
                json!(""),
                json!(""),
                json!("")
            ]
        );
    }

    #[test]
    fn pod_cells_running_with_restarts() {
        let pod = json!({
            "metadata": {"name": "web-1", "creationTimestamp": ago(3 * 3600)},
            "spec": {"nodeName": "node-a", "containers": [{"name": "app"}, {"name": "log"}]},
            "status": {
                "phase": "Running",
                "podIP": "10.0.0.7",
                "podIPs": [{"ip": "10.0.0.7"}],
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [
                    {"name": "app", "ready": true, "restartCount": 2, "state": {"running": {}},
                     "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(300)}}},
                    {"name": "log", "ready": false, "restartCount": 0, "state": {"running": {}}},
                ],
            },
        });
        let row = builtin_columns("", "Pod").row(&pod, now());
        assert_eq!(
            row.cells,
            [
                json!("web-1"),
                json!("1/2"),
                json!("Running"),
                json!("2 (5m ago)"),
                json!("3h"),
                json!("10.0.0.7"),
                json!("node-a"),
                json!("<none>"),
                json!("<none>")
            ]
        );
        assert!(row.conditions.is_none());
    }

    #[test]
    fn pod_status_reasons() {
        let status_of = |pod: Value| cells("", "Pod", &pod)[2].clone();
        let base = |status: Value| json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}], "initContainers": [{"name": "init"}, {"name": "init2"}]}, "status": status});
        assert_eq!(
            status_of(base(
                json!({"phase": "Pending", "containerStatuses": [{"name": "c", "state": {"waiting": {"reason": "ContainerCreating"}}}]})
            )),
            json!("ContainerCreating")
        );
        assert_eq!(
            status_of(base(
                json!({"phase": "Pending", "initContainerStatuses": [{"name": "init", "state": {"running": {}}}]})
            )),
            json!("Init:0/2")
        );
        assert_eq!(
            status_of(base(json!({"phase": "Pending", "initContainerStatuses": [
                {"name": "init", "state": {"terminated": {"exitCode": 0}}},
                {"name": "init2", "state": {"waiting": {"reason": "ImagePullBackOff"}}},
            ]}))),
            json!("Init:ImagePullBackOff")
        );
        assert_eq!(
            status_of(base(
                json!({"phase": "Pending", "initContainerStatuses": [{"name": "init", "state": {"terminated": {"exitCode": 3}}}]})
            )),
            json!("Init:ExitCode:3")
        );
        assert_eq!(
            status_of(base(
                json!({"phase": "Running", "containerStatuses": [{"name": "c", "state": {"terminated": {"exitCode": 0, "signal": 9}}}]})
            )),
            json!("Signal:9")
        );
        assert_eq!(
            status_of(base(
                json!({"phase": "Running", "containerStatuses": [{"name": "c", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]})
            )),
            json!("CrashLoopBackOff")
        );
        assert_eq!(
            status_of(base(
                json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]})
            )),
            json!("SchedulingGated")
        );
        let mut deleting = base(json!({"phase": "Running"}));
        deleting["metadata"]["deletionTimestamp"] = json!(ago(1));
        assert_eq!(status_of(deleting), json!("Terminating"));
        let mut lost = base(json!({"phase": "Running", "reason": "NodeLost"}));
        lost["metadata"]["deletionTimestamp"] = json!(ago(1));
        assert_eq!(status_of(lost), json!("Unknown"));
        // No status at all: the server would have set phase Pending.
        assert_eq!(
            status_of(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}})),
            json!("Pending")
        );
    }

    #[test]
    fn pod_sidecars_and_completion() {
        let pod = json!({
            "metadata": {"name": "job-pod"},
            "spec": {
                "initContainers": [{"name": "proxy", "restartPolicy": "Always"}],
                "containers": [{"name": "main"}],
                "readinessGates": [{"conditionType": "example.com/ready"}],
            },
            "status": {
                "phase": "Succeeded",
                "conditions": [{"type": "Initialized", "status": "True"}, {"type": "example.com/ready", "status": "True"}],
                "initContainerStatuses": [{"name": "proxy", "started": true, "ready": true, "restartCount": 1, "state": {"running": {}}}],
                "containerStatuses": [{"name": "main", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
            },
        });
        let row = builtin_columns("", "Pod").row(&pod, now());
        assert_eq!(row.cells[1], json!("1/2"));
        assert_eq!(row.cells[2], json!("Completed"));
        assert_eq!(row.cells[3], json!("1"), "no finish time, so no '(… ago)'");
        assert_eq!(row.cells[4], json!("<unknown>"), "no creationTimestamp");
        assert_eq!(row.cells[8], json!("1/1"));
        assert_eq!(
            row.conditions,
            Some(
                json!([{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}])
            )
        );
    }

    #[test]
    fn service_cells() {
        let svc = |spec: Value, status: Value| json!({"metadata": {"name": "s", "creationTimestamp": ago(49 * 3600)}, "spec": spec, "status": status});
        assert_eq!(
            cells(
                "",
                "Service",
                &svc(
                    json!({"clusterIPs": ["10.96.0.10"], "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}], "selector": {"app": "dns"}}),
                    json!({})
                )
            ),
            [
                json!("s"),
                json!("ClusterIP"),
                json!("10.96.0.10"),
                json!("<none>"),
                json!("80/TCP,53/UDP"),
                json!("2d1h"),
                json!("app=dns")
            ]
        );
        let lb = cells(
            "",
            "Service",
            &svc(
                json!({"type": "LoadBalancer", "clusterIP": "10.0.0.1", "ports": [{"port": 443, "nodePort": 30443}]}),
                json!({}),
            ),
        );
        assert_eq!(
            &lb[1..5],
            [
                json!("LoadBalancer"),
                json!("10.0.0.1"),
                json!("<pending>"),
                json!("443:30443/TCP")
            ]
        );
        let lb = cells(
            "",
            "Service",
            &svc(
                json!({"type": "LoadBalancer", "externalIPs": ["1.2.3.4"]}),
                json!({"loadBalancer": {"ingress": [{"ip": "9.9.9.9"}, {"hostname": "lb.example.com"}, {"ip": "9.9.9.9"}]}}),
            ),
        );
        assert_eq!(
            &lb[2..5],
            [
                json!("<none>"),
                json!("9.9.9.9,lb.example.com,1.2.3.4"),
                json!("<none>")
            ]
        );
        let external = cells(
            "",
            "Service",
            &svc(
                json!({"type": "ExternalName", "externalName": "db.example.com"}),
                json!({}),
            ),
        );
        assert_eq!(external[3], json!("db.example.com"));
        assert_eq!(external[6], json!("<none>"));
        let node_port = cells(
            "",
            "Service",
            &svc(
                json!({"type": "NodePort", "externalIPs": ["5.5.5.5", "6.6.6.6"]}),
                json!({}),
            ),
        );
        assert_eq!(node_port[3], json!("5.5.5.5,6.6.6.6"));
    }

    #[test]
    fn job_and_cronjob_cells() {
        let job = json!({
            "metadata": {"name": "migrate", "creationTimestamp": ago(600)},
            "spec": {"completions": 3, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "abc"}},
                     "template": {"spec": {"containers": [{"name": "m", "image": "migrate:1"}]}}},
            "status": {"succeeded": 3, "startTime": ago(590), "completionTime": ago(400),
                       "conditions": [{"type": "Complete", "status": "True"}]},
        });
        assert_eq!(
            cells("batch", "Job", &job),
            [
                json!("migrate"),
                json!("Complete"),
                json!("3/3"),
                json!("3m10s"),
                json!("10m"),
                json!("m"),
                json!("migrate:1"),
                json!("batch.kubernetes.io/controller-uid=abc")
            ]
        );
        let running = json!({"metadata": {"name": "j"}, "spec": {"parallelism": 4}, "status": {"succeeded": 1, "startTime": ago(30)}});
        assert_eq!(
            &cells("batch", "Job", &running)[1..4],
            [json!("Running"), json!("1/1 of 4"), json!("30s")]
        );
        let suspended = json!({"metadata": {"name": "j"}, "spec": {}, "status": {"conditions": [{"type": "Suspended", "status": "True"}]}});
        assert_eq!(
            &cells("batch", "Job", &suspended)[1..4],
            [json!("Suspended"), json!("0/1"), json!("")]
        );
        assert_eq!(cells("batch", "Job", &suspended)[7], json!("<none>"));

        let cron = json!({
            "metadata": {"name": "nightly", "creationTimestamp": ago(86400 * 3)},
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}},
            "status": {"active": [{"name": "nightly-1"}], "lastScheduleTime": ago(3600)},
        });
        assert_eq!(
            cells("batch", "CronJob", &cron),
            [
                json!("nightly"),
                json!("0 3 * * *"),
                json!("<none>"),
                json!("False"),
                json!(1),
                json!("60m"),
                json!("3d"),
                json!("c"),
                json!("i"),
                json!("<none>")
            ]
        );
    }

    #[test]
    fn small_kinds() {
        let meta = json!({"name": "x", "creationTimestamp": ago(10)});
        let secret = json!({"metadata": meta, "data": {"a": "YQ==", "b": "Yg=="}, "stringData": {"b": "b", "c": "c"}});
        assert_eq!(
            cells("", "Secret", &secret),
            [json!("x"), json!("Opaque"), json!(3), json!("10s")]
        );
        let config_map = json!({"metadata": meta, "data": {"a": "1"}, "binaryData": {"b": "AA=="}});
        assert_eq!(
            cells("", "ConfigMap", &config_map),
            [json!("x"), json!(2), json!("10s")]
        );
        assert_eq!(
            cells("", "Namespace", &json!({"metadata": meta})),
            [json!("x"), json!("Active"), json!("10s")]
        );
        let binding = json!({"metadata": meta, "roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [
            {"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"},
            {"kind": "ServiceAccount", "namespace": "ci", "name": "bot"}, {"kind": "User", "name": "bob"},
        ]});
        assert_eq!(
            cells("rbac.authorization.k8s.io", "RoleBinding", &binding),
            [
                json!("x"),
                json!("ClusterRole/view"),
                json!("10s"),
                json!("alice, bob"),
                json!("devs"),
                json!("ci/bot")
            ]
        );
        let pdb = json!({"metadata": meta, "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}});
        assert_eq!(
            cells("policy", "PodDisruptionBudget", &pdb),
            [
                json!("x"),
                json!("50%"),
                json!("N/A"),
                json!(1),
                json!("10s")
            ]
        );
        let quota = json!({"metadata": meta, "status": {
            "hard": {"requests.cpu": "2", "limits.memory": "4Gi", "pods": "10"},
            "used": {"requests.cpu": "500m", "pods": "3"},
        }});
        assert_eq!(
            cells("", "ResourceQuota", &quota),
            [
                json!("x"),
                json!("pods: 3/10, requests.cpu: 500m/2"),
                json!("limits.memory: 0/4Gi"),
                json!("10s")
            ]
        );
        let pvc = json!({"metadata": meta, "spec": {"volumeName": "pv-1", "storageClassName": "fast"},
                         "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"]}});
        assert_eq!(
            cells("", "PersistentVolumeClaim", &pvc),
            [
                json!("x"),
                json!("Bound"),
                json!("pv-1"),
                json!("1Gi"),
                json!("RWO,RWX"),
                json!("fast"),
                json!("<unset>"),
                json!("10s"),
                json!("Filesystem")
            ]
        );
        let endpoints = json!({"metadata": meta, "subsets": [
            {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}, {"port": 443}]},
            {"addresses": [{"ip": "fd00::1"}]},
        ]});
        assert_eq!(
            cells("", "Endpoints", &endpoints)[1],
            json!("10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 2 more...")
        );
        assert_eq!(
            cells("", "Endpoints", &json!({"metadata": meta}))[1],
            json!("<none>")
        );
        let ingress = json!({"metadata": meta, "spec": {"ingressClassName": "nginx", "tls": [{}], "rules": [
            {"host": "a.example.com"}, {}, {"host": "b.example.com"}, {"host": "c.example.com"}, {"host": "d.example.com"},
        ]}, "status": {"loadBalancer": {"ingress": [{"ip": "1.1.1.1"}]}}});
        assert_eq!(
            cells("networking.k8s.io", "Ingress", &ingress),
            [
                json!("x"),
                json!("nginx"),
                json!("a.example.com,b.example.com,c.example.com + 2 more..."),
                json!("1.1.1.1"),
                json!("80, 443"),
                json!("10s")
            ]
        );
        let class = json!({"metadata": meta, "spec": {"controller": "k8s.io/ingress-nginx", "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "p"}}});
        assert_eq!(
            cells("networking.k8s.io", "IngressClass", &class)[2],
            json!("IngressParameters.k8s.example.com/p")
        );
        assert_eq!(
            cells(
                "networking.k8s.io",
                "NetworkPolicy",
                &json!({"metadata": meta, "spec": {}})
            )[1],
            json!("<none>")
        );
        let sc = json!({"metadata": {"name": "std", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}, "provisioner": "csi.example.com"});
        assert_eq!(
            &cells("storage.k8s.io", "StorageClass", &sc)[..5],
            [
                json!("std (default)"),
                json!("csi.example.com"),
                json!("Delete"),
                json!("Immediate"),
                json!(false)
            ]
        );
        let pc = json!({"metadata": meta, "value": 1000, "globalDefault": true});
        assert_eq!(
            cells("scheduling.k8s.io", "PriorityClass", &pc),
            [
                json!("x"),
                json!(1000),
                json!(true),
                json!("10s"),
                json!("PreemptLowerPriority")
            ]
        );
        let hook = json!({"metadata": meta, "webhooks": [{}, {}]});
        assert_eq!(
            cells(
                "admissionregistration.k8s.io",
                "MutatingWebhookConfiguration",
                &hook
            )[1],
            json!(2)
        );
        let lease = json!({"metadata": meta, "spec": {"holderIdentity": "controller-0"}});
        assert_eq!(
            cells("coordination.k8s.io", "Lease", &lease)[1],
            json!("controller-0")
        );
        assert_eq!(
            cells(
                "",
                "ServiceAccount",
                &json!({"metadata": meta, "secrets": [{"name": "t"}]})
            )[1],
            json!(1)
        );
    }

    #[test]
    fn hpa_targets() {
        let hpa = |spec: Value, status: Value| json!({"metadata": {"name": "h"}, "spec": spec, "status": status});
        let targets = |h: Value| cells("autoscaling", "HorizontalPodAutoscaler", &h)[2].clone();
        let row = cells(
            "autoscaling",
            "HorizontalPodAutoscaler",
            &hpa(
                json!({"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5}),
                json!({"currentReplicas": 2}),
            ),
        );
        assert_eq!(
            &row[..6],
            [
                json!("h"),
                json!("Deployment/web"),
                json!("cpu: <unknown>/80%"),
                json!("1"),
                json!(5),
                json!(2)
            ]
        );
        assert_eq!(
            targets(hpa(
                json!({"targetCPUUtilizationPercentage": 60}),
                json!({"currentCPUUtilizationPercentage": 25})
            )),
            json!("cpu: 25%/60%")
        );
        let metrics = json!({"metrics": [
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "500Mi"}}},
            {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}}},
            {"type": "External", "external": {"metric": {"name": "queue"}, "target": {"type": "Value", "value": "30"}}},
        ]});
        let status = json!({"currentMetrics": [
            {"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "200Mi"}}},
        ]});
        assert_eq!(
            targets(hpa(metrics, status)),
            json!("memory: 200Mi/500Mi, <unknown>/10 + 1 more...")
        );
    }

    #[test]
    fn events_in_both_shapes() {
        let core = json!({
            "metadata": {"name": "web.17f"},
            "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{app}"},
            "type": "Warning", "reason": "BackOff", "message": " Back-off restarting \n",
            "source": {"component": "kubelet", "host": "node-a"},
            "firstTimestamp": ago(600), "lastTimestamp": ago(60), "count": 7,
        });
        assert_eq!(
            cells("", "Event", &core),
            [
                json!("60s"),
                json!("Warning"),
                json!("BackOff"),
                json!("pod/web-1"),
                json!("spec.containers{app}"),
                json!("kubelet, node-a"),
                json!("Back-off restarting"),
                json!("10m"),
                json!(7),
                json!("web.17f")
            ]
        );
        let new_api = json!({
            "metadata": {"name": "e"},
            "regarding": {"kind": "Deployment", "name": "web"},
            "type": "Normal", "reason": "ScalingReplicaSet", "note": "Scaled up",
            "reportingController": "deployment-controller", "eventTime": "2025-06-01T11:59:30.000000Z",
        });
        assert_eq!(
            cells("events.k8s.io", "Event", &new_api),
            [
                json!("30s"),
                json!("Normal"),
                json!("ScalingReplicaSet"),
                json!("deployment/web"),
                json!(""),
                json!("deployment-controller"),
                json!("Scaled up"),
                json!("30s"),
                json!(1),
                json!("e")
            ]
        );
    }

    fn crd() -> Columns {
        crd_columns(&json!([
            {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
            {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas", "description": "Desired replicas"},
            {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio", "priority": 1},
            {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused"},
            {"name": "Synced", "type": "date", "jsonPath": ".status.lastSync"},
            {"name": "Config", "type": "string", "jsonPath": ".spec.config"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ]))
        .expect("valid columns")
    }

    #[test]
    fn crd_column_definitions() {
        let columns = crd();
        let defs = columns.definitions();
        assert_eq!(defs.len(), 8);
        assert_eq!(
            (defs[0].name.as_str(), defs[0].format.as_str()),
            ("Name", "name")
        );
        assert_eq!(
            defs[1].description,
            "Custom resource definition column (in JSONPath format): .status.conditions[?(@.type==\"Ready\")].status"
        );
        assert_eq!(defs[2].description, "Desired replicas");
        assert_eq!(
            (defs[3].column_type.as_str(), defs[3].priority),
            ("number", 1)
        );
    }

    #[test]
    fn crd_cells_follow_the_column_type() {
        let object = json!({
            "metadata": {"name": "db", "creationTimestamp": ago(7200)},
            "spec": {"replicas": 3.7, "ratio": 2, "paused": false, "config": {"b": 1, "a": "<x>"}},
            "status": {"lastSync": ago(90), "conditions": [
                {"type": "Synced", "status": "True"}, {"type": "Ready", "status": "False"},
            ]},
        });
        assert_eq!(
            crd().cells(&object, now()),
            [
                json!("db"),
                json!("False"),
                json!(3),
                json!(2),
                json!(false),
                json!("90s"),
                json!(r#"{"a":"\u003cx\u003e","b":1}"#),
                json!("120m")
            ]
        );
        // Missing values are null, whatever the type; a filter with no match too.
        let bare = json!({"metadata": {"name": "bare"}, "spec": {"config": null}});
        assert_eq!(
            crd().cells(&bare, now()),
            [
                json!("bare"),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                json!("<no value>"),
                Value::Null
            ]
        );
        // Type mismatches render null; bad dates render <invalid>.
        let odd = json!({"metadata": {"name": "odd"}, "spec": {"replicas": "three", "paused": "yes"}, "status": {"lastSync": "yesterday"}});
        let cells = crd().cells(&odd, now());
        assert_eq!(
            (&cells[2], &cells[4], &cells[5]),
            (&Value::Null, &Value::Null, &json!("<invalid>"))
        );
    }

    #[test]
    fn crd_without_columns_shows_age() {
        for declared in [Value::Null, json!([])] {
            let columns = crd_columns(&declared).expect("defaults");
            let defs: Vec<(&str, &str)> = columns
                .definitions()
                .iter()
                .map(|d| (d.name.as_str(), d.column_type.as_str()))
                .collect();
            assert_eq!(defs, [("Name", "string"), ("Age", "date")]);
            let object = json!({"metadata": {"name": "r", "creationTimestamp": ago(45)}});
            assert_eq!(columns.cells(&object, now()), [json!("r"), json!("45s")]);
        }
    }

    #[test]
    fn crd_with_a_bad_json_path_keeps_the_columns_before_it() {
        let err = crd_columns(&json!([
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Bad", "type": "string", "jsonPath": ".spec.items[x]"},
            {"name": "Later", "type": "string", "jsonPath": ".spec.later"},
        ]))
        .expect_err("invalid path");
        assert_eq!(
            err.to_string(),
            "unrecognized column definition \".spec.items[x]\""
        );
        assert_eq!(err.json_path(), ".spec.items[x]");
        let kept: Vec<&str> = err
            .usable()
            .definitions()
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(kept, ["Name", "Phase"]);
    }

    #[test]
    fn table_shape_and_include_object_modes() {
        let cm = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cfg", "namespace": "default", "resourceVersion": "42", "creationTimestamp": ago(10), "labels": {"a": "b"}},
            "data": {"k": "v"},
        });
        let columns = builtin_columns("", "ConfigMap");
        let meta = json!({"resourceVersion": "42"});

        let with_metadata = table(
            &columns,
            &[&cm],
            IncludeObject::Metadata,
            now(),
            meta.clone(),
        );
        assert_eq!(with_metadata["kind"], "Table");
        assert_eq!(with_metadata["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(with_metadata["metadata"], json!({"resourceVersion": "42"}));
        assert_eq!(with_metadata["columnDefinitions"][1]["name"], "Data");
        assert_eq!(with_metadata["columnDefinitions"][1]["format"], "");
        assert_eq!(with_metadata["rows"][0]["cells"], json!(["cfg", 1, "10s"]));
        assert_eq!(
            with_metadata["rows"][0]["object"],
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": cm["metadata"]})
        );
        assert!(with_metadata["rows"][0].get("conditions").is_none());
        let keys: Vec<&String> = with_metadata.as_object().expect("object").keys().collect();
        assert_eq!(
            keys,
            [
                "kind",
                "apiVersion",
                "metadata",
                "columnDefinitions",
                "rows"
            ]
        );

        let with_object = table(&columns, &[&cm], IncludeObject::Object, now(), meta.clone());
        assert_eq!(with_object["rows"][0]["object"], cm);
        let without = table(&columns, &[&cm], IncludeObject::None, now(), meta);
        assert_eq!(without["rows"][0]["object"], Value::Null);
        assert_eq!(
            without["rows"][0]
                .as_object()
                .expect("row")
                .keys()
                .collect::<Vec<_>>(),
            ["cells", "object"]
        );
    }

    #[test]
    fn list_metadata_and_empty_lists() {
        let list_meta = json!({"resourceVersion": "7", "continue": "token", "remainingItemCount": 0, "selfLink": "x"});
        let empty = table(
            &builtin_columns("", "Pod"),
            &[],
            IncludeObject::Metadata,
            now(),
            list_meta,
        );
        assert_eq!(
            empty["metadata"],
            json!({"resourceVersion": "7", "continue": "token", "remainingItemCount": 0})
        );
        assert_eq!(empty["rows"], json!([]));
        let nothing = table(
            &builtin_columns("", "LimitRange"),
            &[],
            IncludeObject::Metadata,
            now(),
            json!({"continue": ""}),
        );
        assert_eq!(nothing["metadata"], json!({}));
        assert_eq!(
            nothing["rows"],
            Value::Null,
            "the default convertor leaves rows nil"
        );
        let crd_empty = table(&crd(), &[], IncludeObject::Metadata, now(), json!({}));
        assert_eq!(crd_empty["rows"], json!([]));
    }

    #[test]
    fn default_convertor_prints_rfc3339_creation_time() {
        let role =
            json!({"metadata": {"name": "reader", "creationTimestamp": "2024-02-29T23:59:58Z"}});
        assert_eq!(
            cells("rbac.authorization.k8s.io", "Role", &role),
            [json!("reader"), json!("2024-02-29T23:59:58Z")]
        );
        let offset =
            json!({"metadata": {"name": "r", "creationTimestamp": "2024-03-01T01:00:00+02:00"}});
        assert_eq!(
            cells("rbac.authorization.k8s.io", "Role", &offset)[1],
            json!("2024-02-29T23:00:00Z")
        );
        assert_eq!(
            cells("", "LimitRange", &json!({"metadata": {"name": "l"}}))[1],
            json!("0001-01-01T00:00:00Z")
        );
    }

    #[test]
    fn include_object_query_values() {
        assert_eq!(IncludeObject::from_query(None), Ok(IncludeObject::Metadata));
        assert_eq!(
            IncludeObject::from_query(Some("")),
            Ok(IncludeObject::Metadata)
        );
        assert_eq!(
            IncludeObject::from_query(Some("Object")),
            Ok(IncludeObject::Object)
        );
        assert_eq!(
            IncludeObject::from_query(Some("None")),
            Ok(IncludeObject::None)
        );
        assert_eq!(
            IncludeObject::from_query(Some("all")).map_err(|e| e.to_string()),
            Err("unrecognized includeObject value: \"all\"".to_string())
        );
    }
}
