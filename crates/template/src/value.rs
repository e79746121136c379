//! The data model templates run on: JSON-like, but keeping Go's int/float distinction.

use crate::funcs::{Arity, FuncResult};
use parking_lot::{RwLock, RwLockReadGuard};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A Go map: shared by reference, so Sprig's `set`, `unset` and `merge` change it for every
/// holder, as they do in Go (Helm charts rely on `$_ := set $ctx "k" v`). Keys iterate sorted.
///
/// A map may also carry Go methods ([`Methods`]): Helm's `.Files` is a `map[string][]byte`
/// with `Get` and `Glob`, and templates call them as `.Files.Get "path"`.
#[derive(Clone, Default)]
pub struct Map(Arc<RwLock<BTreeMap<String, Value>>>, Option<Arc<Methods>>);

impl Map {
    /// Wraps entries into a new map.
    pub fn new(entries: BTreeMap<String, Value>) -> Self {
        Map(Arc::new(RwLock::new(entries)), None)
    }

    /// Wraps entries into a new map of a Go type with methods.
    pub fn with_methods(entries: BTreeMap<String, Value>, methods: Arc<Methods>) -> Self {
        Map(Arc::new(RwLock::new(entries)), Some(methods))
    }

    /// The method `name` of the map's type, if it has one.
    pub(crate) fn method(&self, name: &str) -> Option<&Method> {
        self.1.as_ref()?.map.get(name)
    }

    /// Reads the entries. Recursive read locking keeps nested reads of one map (a map
    /// containing itself after `set $d "self" $d`) from deadlocking.
    pub fn read(&self) -> RwLockReadGuard<'_, BTreeMap<String, Value>> {
        self.0.read_recursive()
    }

    /// The value at `key`.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.read().get(key).cloned()
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.read().contains_key(key)
    }

    /// Sets `key`, visible to every holder of this map.
    pub fn insert(&self, key: String, value: Value) {
        self.0.write().insert(key, value);
    }

    /// Removes `key`, visible to every holder of this map.
    pub fn remove(&self, key: &str) {
        self.0.write().remove(key);
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// A sorted copy of the entries.
    pub fn entries(&self) -> Vec<(String, Value)> {
        self.read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Whether both handles are the same map.
    pub fn ptr_eq(&self, other: &Map) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

type MethodBody = dyn Fn(&Map, &[Value]) -> FuncResult + Send + Sync;

/// One method: its arity and body (which receives the map it is called on).
#[derive(Clone)]
pub(crate) struct Method {
    pub(crate) arity: Arity,
    pub(crate) body: Arc<MethodBody>,
}

/// The methods of a Go map type, looked up before map keys as Go's `evalField` does, and
/// called with the arguments that follow them in a command (`.Files.Get "a.txt"`). A
/// method `String` taking no arguments is used when the map is printed (Go's `Stringer`).
#[derive(Clone, Default)]
pub struct Methods {
    map: std::collections::HashMap<String, Method>,
}

impl Methods {
    /// An empty method set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the method `name`.
    pub fn register(
        &mut self,
        name: &str,
        arity: Arity,
        body: impl Fn(&Map, &[Value]) -> FuncResult + Send + Sync + 'static,
    ) -> &mut Self {
        self.map.insert(
            name.to_string(),
            Method {
                arity,
                body: Arc::new(body),
            },
        );
        self
    }
}

impl std::fmt::Debug for Methods {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.map.keys().collect();
        names.sort();
        f.debug_struct("Methods").field("names", &names).finish()
    }
}

impl PartialEq for Map {
    fn eq(&self, other: &Self) -> bool {
        self.ptr_eq(other) || *self.read() == *other.read()
    }
}

impl std::fmt::Debug for Map {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.read().iter()).finish()
    }
}

/// A template value. Lists and maps are reference-counted so that passing data through
/// pipelines and variables never deep-copies it.
#[derive(Debug, Clone, Default)]
pub enum Value {
    /// Go's nil (a nil `interface{}`); prints as `<no value>` at the top level of an action.
    #[default]
    Nil,
    /// A boolean.
    Bool(bool),
    /// A signed integer (Go `int`/`int64`). JSON/YAML numbers without a fraction land here.
    Int(i64),
    /// A float (Go `float64`). JSON/YAML numbers with a fraction or exponent land here.
    Float(f64),
    /// A string.
    String(Arc<str>),
    /// A list (Go `[]interface{}`).
    List(Arc<Vec<Value>>),
    /// A map with string keys (Go `map[string]interface{}`); iteration and printing are sorted
    /// by key, as Go's are.
    Map(Map),
    /// A point in time (Go `time.Time`), produced by Sprig's date functions.
    Time(chrono::DateTime<chrono::FixedOffset>),
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Nil, Value::Nil) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::List(a), Value::List(b)) => a == b,
            (Value::Map(a), Value::Map(b)) => a == b,
            (Value::Time(a), Value::Time(b)) => a == b,
            _ => false,
        }
    }
}

impl Value {
    /// Builds a string value.
    pub fn string(s: impl Into<Arc<str>>) -> Self {
        Value::String(s.into())
    }

    /// Builds a list value.
    pub fn list(items: Vec<Value>) -> Self {
        Value::List(Arc::new(items))
    }

    /// Builds a map value.
    pub fn map(entries: BTreeMap<String, Value>) -> Self {
        Value::Map(Map::new(entries))
    }

    /// Go's truth: false, 0, nil, and empty strings, lists and maps are false.
    pub fn is_true(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            // Go structs are always true.
            Value::Time(_) => true,
        }
    }

    /// The Go type name the value would have after decoding JSON/YAML into `interface{}`,
    /// used in error messages and by Sprig's `typeOf`.
    pub fn go_type(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
            Value::Time(_) => "time.Time",
        }
    }

    /// The Go reflect kind name, used by Sprig's `kindOf`/`kindIs`.
    pub fn go_kind(&self) -> &'static str {
        match self {
            Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::List(_) => "slice",
            Value::Map(_) => "map",
            Value::Time(_) => "struct",
        }
    }

    /// The string inside, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Converts JSON into a value; integers stay integers.
    pub fn from_json(json: &serde_json::Value) -> Self {
        match json {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                // u64 beyond i64 and fractions both become float64, as in Go's JSON decoding.
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::string(s.as_str()),
            serde_json::Value::Array(a) => Value::list(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => Value::map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Converts the value to JSON (maps with sorted keys, as Go's encoder writes them).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Nil => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::String(s) => serde_json::Value::String(s.to_string()),
            Value::List(l) => serde_json::Value::Array(l.iter().map(Value::to_json).collect()),
            Value::Map(m) => serde_json::Value::Object(
                m.read()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
            Value::Time(t) => {
                serde_json::Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            }
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::string(s)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::string(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<&serde_json::Value> for Value {
    fn from(json: &serde_json::Value) -> Self {
        Value::from_json(json)
    }
}
