//! The values expressions compute with: what expr sees of Go values. JSON objects and
//! arrays of the environment (the Application) are borrowed, not copied; times and
//! durations are Go's `time.Time` and `time.Duration`; the helper namespaces (`time`,
//! `strings`, `repo`) are maps of functions and constants, as Argo CD registers them.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset};

/// A value.
#[derive(Debug, Clone)]
pub enum Value<'a> {
    /// Go's nil (also a JSON null, and what a missing map key reads as).
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(Arc<str>),
    /// An array built by the expression.
    List(Rc<Vec<Value<'a>>>),
    /// A map built by the expression.
    Map(Rc<BTreeMap<String, Value<'a>>>),
    /// A JSON array or object of the environment, borrowed.
    Json(&'a serde_json::Value),
    /// Go's `time.Time`.
    Time(DateTime<FixedOffset>),
    /// Go's `time.Duration`, in nanoseconds.
    Duration(i64),
    /// A function of a helper namespace (`time.Parse`).
    Func(Func),
    /// A method of a value, bound to it (`t.Add`).
    Method(Rc<(Value<'a>, &'static str)>),
    /// A helper namespace (`time`, `strings`, `repo`).
    Namespace(Namespace),
}

/// Argo CD's helper namespaces (`util/notification/expression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    /// `time`: `Now`, `Parse`, the durations and the layouts.
    Time,
    /// `strings`: `ReplaceAll`, `ToUpper`, `ToLower`.
    Strings,
    /// `repo`: `RepoURLToHTTPS`, `FullNameByRepoURL`, `QueryEscape`, and the two that
    /// ask Argo CD's repo server, which Flotilla refuses by name.
    Repo,
}

/// A function of a helper namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    /// `time.Now`.
    TimeNow,
    /// `time.Parse`: RFC 3339.
    TimeParse,
    /// `strings.ReplaceAll`.
    ReplaceAll,
    /// `strings.ToUpper`.
    ToUpper,
    /// `strings.ToLower`.
    ToLower,
    /// `repo.RepoURLToHTTPS`.
    RepoUrlToHttps,
    /// `repo.FullNameByRepoURL`.
    FullNameByRepoUrl,
    /// `repo.QueryEscape`.
    QueryEscape,
    /// `repo.GetCommitMetadata` (asks the repo server: refused).
    GetCommitMetadata,
    /// `repo.GetAppDetails` (asks the repo server: refused).
    GetAppDetails,
}

impl Func {
    /// Its name as a user writes it.
    pub(super) fn name(self) -> &'static str {
        match self {
            Func::TimeNow => "Now",
            Func::TimeParse => "Parse",
            Func::ReplaceAll => "ReplaceAll",
            Func::ToUpper => "ToUpper",
            Func::ToLower => "ToLower",
            Func::RepoUrlToHttps => "RepoURLToHTTPS",
            Func::FullNameByRepoUrl => "FullNameByRepoURL",
            Func::QueryEscape => "QueryEscape",
            Func::GetCommitMetadata => "GetCommitMetadata",
            Func::GetAppDetails => "GetAppDetails",
        }
    }

    fn go_type(self) -> &'static str {
        match self {
            Func::TimeNow => "func() time.Time",
            Func::TimeParse => "func(string) time.Time",
            Func::ReplaceAll => "func(string, string, string) string",
            Func::ToUpper
            | Func::ToLower
            | Func::RepoUrlToHttps
            | Func::FullNameByRepoUrl
            | Func::QueryEscape => "func(string) string",
            Func::GetCommitMetadata => "func(string) interface {}",
            Func::GetAppDetails => "func() interface {}",
        }
    }
}

/// Go's `time` durations and layouts, as Argo CD's `time` namespace holds them.
pub(super) const TIME_CONSTANTS: &[(&str, Constant)] = &[
    ("Nanosecond", Constant::Duration(1)),
    ("Microsecond", Constant::Duration(1_000)),
    ("Millisecond", Constant::Duration(1_000_000)),
    ("Second", Constant::Duration(1_000_000_000)),
    ("Minute", Constant::Duration(60_000_000_000)),
    ("Hour", Constant::Duration(3_600_000_000_000)),
    ("Layout", Constant::Str("01/02 03:04:05PM '06 -0700")),
    ("ANSIC", Constant::Str("Mon Jan _2 15:04:05 2006")),
    ("UnixDate", Constant::Str("Mon Jan _2 15:04:05 MST 2006")),
    ("RubyDate", Constant::Str("Mon Jan 02 15:04:05 -0700 2006")),
    ("RFC822", Constant::Str("02 Jan 06 15:04 MST")),
    ("RFC822Z", Constant::Str("02 Jan 06 15:04 -0700")),
    ("RFC850", Constant::Str("Monday, 02-Jan-06 15:04:05 MST")),
    ("RFC1123", Constant::Str("Mon, 02 Jan 2006 15:04:05 MST")),
    ("RFC1123Z", Constant::Str("Mon, 02 Jan 2006 15:04:05 -0700")),
    ("RFC3339", Constant::Str("2006-01-02T15:04:05Z07:00")),
    (
        "RFC3339Nano",
        Constant::Str("2006-01-02T15:04:05.999999999Z07:00"),
    ),
    ("Kitchen", Constant::Str("3:04PM")),
    ("Stamp", Constant::Str("Jan _2 15:04:05")),
    ("StampMilli", Constant::Str("Jan _2 15:04:05.000")),
    ("StampMicro", Constant::Str("Jan _2 15:04:05.000000")),
    ("StampNano", Constant::Str("Jan _2 15:04:05.000000000")),
];

/// A constant of a namespace.
#[derive(Debug, Clone, Copy)]
pub(super) enum Constant {
    Duration(i64),
    Str(&'static str),
}

impl Namespace {
    /// What `namespace.name` reads: a function, a constant, else nil (a Go map's
    /// missing key).
    pub(super) fn member<'a>(self, name: &str) -> Value<'a> {
        let func = match (self, name) {
            (Namespace::Time, "Now") => Some(Func::TimeNow),
            (Namespace::Time, "Parse") => Some(Func::TimeParse),
            (Namespace::Strings, "ReplaceAll") => Some(Func::ReplaceAll),
            (Namespace::Strings, "ToUpper") => Some(Func::ToUpper),
            (Namespace::Strings, "ToLower") => Some(Func::ToLower),
            (Namespace::Repo, "RepoURLToHTTPS") => Some(Func::RepoUrlToHttps),
            (Namespace::Repo, "FullNameByRepoURL") => Some(Func::FullNameByRepoUrl),
            (Namespace::Repo, "QueryEscape") => Some(Func::QueryEscape),
            (Namespace::Repo, "GetCommitMetadata") => Some(Func::GetCommitMetadata),
            (Namespace::Repo, "GetAppDetails") => Some(Func::GetAppDetails),
            _ => None,
        };
        if let Some(func) = func {
            return Value::Func(func);
        }
        if self == Namespace::Time
            && let Some((_, constant)) = TIME_CONSTANTS.iter().find(|(n, _)| *n == name)
        {
            return match constant {
                Constant::Duration(ns) => Value::Duration(*ns),
                Constant::Str(s) => Value::Str((*s).into()),
            };
        }
        Value::Nil
    }

    /// How many members it has (`len(time)`).
    pub(super) fn len(self) -> usize {
        match self {
            Namespace::Time => 2 + TIME_CONSTANTS.len(),
            Namespace::Strings => 3,
            Namespace::Repo => 5,
        }
    }
}

impl<'a> Value<'a> {
    /// A value of the environment: scalars are read, arrays and objects borrowed.
    pub fn from_json(json: &'a serde_json::Value) -> Value<'a> {
        match json {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::Str(s.as_str().into()),
            serde_json::Value::Array(_) | serde_json::Value::Object(_) => Value::Json(json),
        }
    }

    /// A string value.
    pub fn string(s: &str) -> Value<'a> {
        Value::Str(s.into())
    }

    /// Whether it is nil (Go's `runtime.IsNil`: nil, or a nil map or slice).
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// The boolean, if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Go's `%T` of the value, for errors.
    pub fn go_type(&self) -> String {
        match self {
            Value::Nil => "<nil>".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Float(_) => "float64".into(),
            Value::Str(_) => "string".into(),
            Value::List(_) => "[]interface {}".into(),
            Value::Json(serde_json::Value::Array(_)) => "[]interface {}".into(),
            Value::Map(_) | Value::Json(_) | Value::Namespace(_) => {
                "map[string]interface {}".into()
            }
            Value::Time(_) => "time.Time".into(),
            Value::Duration(_) => "time.Duration".into(),
            Value::Func(f) => f.go_type().into(),
            Value::Method(_) => "func".into(),
        }
    }

    /// The elements, if it is an array.
    pub(super) fn elements(&self) -> Option<Vec<Value<'a>>> {
        match self {
            Value::List(items) => Some(items.as_ref().clone()),
            Value::Json(serde_json::Value::Array(items)) => {
                Some(items.iter().map(Value::from_json).collect())
            }
            _ => None,
        }
    }

    /// The number of elements, if it is an array.
    pub(super) fn array_len(&self) -> Option<usize> {
        match self {
            Value::List(items) => Some(items.len()),
            Value::Json(serde_json::Value::Array(items)) => Some(items.len()),
            _ => None,
        }
    }

    /// The element `i`, if it is an array that has it.
    pub(super) fn element(&self, i: usize) -> Option<Value<'a>> {
        match self {
            Value::List(items) => items.get(i).cloned(),
            Value::Json(serde_json::Value::Array(items)) => items.get(i).map(Value::from_json),
            _ => None,
        }
    }

    /// Whether it is a map (an object of the environment, a map the expression built,
    /// a namespace).
    pub(super) fn is_map(&self) -> bool {
        matches!(
            self,
            Value::Map(_) | Value::Json(serde_json::Value::Object(_)) | Value::Namespace(_)
        )
    }

    /// The entry `key` of a map: `Some(nil)` for a missing key, `None` when it is no map.
    pub(super) fn map_get(&self, key: &str) -> Option<Value<'a>> {
        match self {
            Value::Map(entries) => Some(entries.get(key).cloned().unwrap_or(Value::Nil)),
            Value::Json(serde_json::Value::Object(entries)) => {
                Some(entries.get(key).map_or(Value::Nil, Value::from_json))
            }
            Value::Namespace(ns) => Some(ns.member(key)),
            _ => None,
        }
    }

    /// Whether a map has `key` (`key in map`).
    pub(super) fn map_has(&self, key: &str) -> bool {
        match self {
            Value::Map(entries) => entries.contains_key(key),
            Value::Json(serde_json::Value::Object(entries)) => entries.contains_key(key),
            Value::Namespace(ns) => !ns.member(key).is_nil(),
            _ => false,
        }
    }

    /// A map's keys, sorted.
    pub(super) fn map_keys(&self) -> Option<Vec<String>> {
        match self {
            Value::Map(entries) => Some(entries.keys().cloned().collect()),
            Value::Json(serde_json::Value::Object(entries)) => {
                let mut keys: Vec<String> = entries.keys().cloned().collect();
                keys.sort();
                Some(keys)
            }
            _ => None,
        }
    }

    /// The value as JSON (what `toJSON` prints, and what templates receive).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Nil | Value::Func(_) | Value::Method(_) | Value::Namespace(_) => {
                serde_json::Value::Null
            }
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::Str(s) => s.as_ref().into(),
            Value::List(items) => items.iter().map(Value::to_json).collect(),
            Value::Map(entries) => entries
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
            Value::Json(json) => (*json).clone(),
            Value::Time(t) => t
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                .into(),
            Value::Duration(ns) => (*ns).into(),
        }
    }

    /// As a template value (for printing as Go does).
    fn to_template(&self) -> flotilla_template::Value {
        use flotilla_template::Value as T;
        match self {
            Value::Nil | Value::Func(_) | Value::Method(_) | Value::Namespace(_) => T::Nil,
            Value::Bool(b) => T::Bool(*b),
            Value::Int(i) => T::Int(*i),
            Value::Float(f) => T::Float(*f),
            Value::Str(s) => T::string(s.as_ref()),
            Value::List(items) => T::list(items.iter().map(Value::to_template).collect()),
            Value::Map(entries) => T::map(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_template()))
                    .collect(),
            ),
            Value::Json(json) => T::from(*json),
            Value::Time(t) => T::Time(*t),
            // A Duration prints through its String method.
            Value::Duration(ns) => T::string(flotilla_template::go::duration_string(*ns)),
        }
    }

    /// Go's `fmt.Sprintf("%v", v)`: how an `oncePer` value becomes a state key.
    pub fn sprint(&self) -> String {
        match self {
            Value::Func(_) | Value::Method(_) => format!("{:p}", self as *const _),
            other => flotilla_template::go::sprint(&other.to_template()),
        }
    }
}
