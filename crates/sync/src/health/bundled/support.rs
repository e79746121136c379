//! What the ports share: reading an object as a Lua script sees it, and building the
//! verdicts the scripts return.
//!
//! Argo CD hands the object to Lua after a JSON round trip, so JSON `null` and an absent
//! field are the same `nil`, every number is a float64, and a comparison such as
//! `condition.status == "True"` holds only for that exact string.

use serde_json::Value;

use crate::health::{Health, HealthStatus};

/// A check's answer: `None` where the script returns nil or an empty table (upstream's
/// empty health status).
pub(super) type Verdict = Option<Health>;

/// `v.a.b…`: `None` for an absent field, JSON `null`, or a step through something that is
/// not an object.
pub(super) fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for key in path {
        cur = cur.as_object()?.get(*key)?;
    }
    (!cur.is_null()).then_some(cur)
}

/// `v.a.b… ~= nil`.
pub(super) fn has(v: &Value, path: &[&str]) -> bool {
    get(v, path).is_some()
}

/// The string at `path`; `None` when absent or not a string.
pub(super) fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path).and_then(Value::as_str)
}

/// `v.a.b… == want` for a string `want`.
pub(super) fn is(v: &Value, path: &[&str], want: &str) -> bool {
    text(v, path) == Some(want)
}

/// Lua truthiness: anything but nil and `false`.
pub(super) fn truthy(v: &Value, path: &[&str]) -> bool {
    get(v, path).is_some_and(|x| x.as_bool() != Some(false))
}

/// `v.a.b… == true`.
pub(super) fn is_true(v: &Value, path: &[&str]) -> bool {
    get(v, path).and_then(Value::as_bool) == Some(true)
}

/// The number at `path` (Lua sees every JSON number as a float64).
pub(super) fn number(v: &Value, path: &[&str]) -> Option<f64> {
    get(v, path).and_then(Value::as_f64)
}

/// Lua's `tonumber`: a number, or a string that reads as one.
pub(super) fn to_number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let s = s.trim();
            if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                return u64::from_str_radix(hex, 16).ok().map(|n| n as f64);
            }
            s.parse::<f64>().ok().filter(|_| {
                // Rust reads "inf" and "nan"; Lua's strtod-based reader takes them too
                // only as numbers it can print, so keep to plain numerals.
                s.bytes()
                    .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
            })
        }
        _ => None,
    }
}

/// Lua's `==` on two values read from the object: numbers by value, strings and booleans
/// by content, nil equal to nil; tables are never equal (they are distinct tables).
pub(super) fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(Value::Number(x)), Some(Value::Number(y))) => x.as_f64() == y.as_f64(),
        (Some(Value::String(x)), Some(Value::String(y))) => x == y,
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x == y,
        _ => false,
    }
}

/// The array at `path` as `ipairs` walks it: up to the first `nil`; empty when absent or
/// not an array.
pub(super) fn items<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    let all = get(v, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let end = all.iter().position(Value::is_null).unwrap_or(all.len());
    &all[..end]
}

/// `#v.a.b…`: an array's length, or a string's (0 when absent).
pub(super) fn len(v: &Value, path: &[&str]) -> usize {
    match get(v, path) {
        Some(Value::String(s)) => s.len(),
        _ => items(v, path).len(),
    }
}

/// `status.conditions`, in order.
pub(super) fn conditions(obj: &Value) -> &[Value] {
    items(obj, &["status", "conditions"])
}

/// Whether `obj.status.conditions ~= nil` (an empty list counts as present).
pub(super) fn has_conditions(obj: &Value) -> bool {
    has(obj, &["status", "conditions"])
}

/// A condition's (or any table's) string field.
pub(super) fn field<'a>(c: &'a Value, key: &str) -> Option<&'a str> {
    text(c, &[key])
}

/// A condition's message as the returned table carries it: `nil` reads as "".
pub(super) fn message(c: &Value) -> String {
    field(c, "message").unwrap_or("").to_string()
}

/// Whether `c.type == ty and c.status == status`.
pub(super) fn cond_is(c: &Value, ty: &str, status: &str) -> bool {
    field(c, "type") == Some(ty) && field(c, "status") == Some(status)
}

/// The first condition with `type == ty` and `status == status`.
pub(super) fn find_condition<'a>(obj: &'a Value, ty: &str, status: &str) -> Option<&'a Value> {
    conditions(obj).iter().find(|c| cond_is(c, ty, status))
}

/// The commonest script: the first `ty` condition that is `"False"` makes the object
/// Degraded and the first that is `"True"` Healthy, each with the condition's message;
/// `None` when no such condition decides.
pub(super) fn true_false(obj: &Value, ty: &str) -> Verdict {
    conditions(obj).iter().find_map(|c| {
        if cond_is(c, ty, "False") {
            degraded(message(c))
        } else if cond_is(c, ty, "True") {
            healthy(message(c))
        } else {
            None
        }
    })
}

/// [`true_false`], else Progressing with `waiting`.
pub(super) fn true_false_or(obj: &Value, ty: &str, waiting: &str) -> Verdict {
    true_false(obj, ty).or_else(|| progressing(waiting))
}

/// A verdict with `status`.
pub(super) fn verdict(status: HealthStatus, message: impl Into<String>) -> Verdict {
    Some(Health::new(status, message))
}

/// Healthy with `message`.
pub(super) fn healthy(message: impl Into<String>) -> Verdict {
    verdict(HealthStatus::Healthy, message)
}

/// Progressing with `message`.
pub(super) fn progressing(message: impl Into<String>) -> Verdict {
    verdict(HealthStatus::Progressing, message)
}

/// Degraded with `message`.
pub(super) fn degraded(message: impl Into<String>) -> Verdict {
    verdict(HealthStatus::Degraded, message)
}

/// Suspended with `message`.
pub(super) fn suspended(message: impl Into<String>) -> Verdict {
    verdict(HealthStatus::Suspended, message)
}

/// Unknown with `message`.
pub(super) fn unknown(message: impl Into<String>) -> Verdict {
    verdict(HealthStatus::Unknown, message)
}

/// Missing with `message`.
pub(super) fn missing(message: impl Into<String>) -> Verdict {
    verdict(HealthStatus::Missing, message)
}

/// A status a script passes through from the object (`hs.status = obj.status.phase`), read
/// as Argo CD reads the returned table: one of the six codes, or `Unknown` "Lua returned
/// an invalid health status" (a missing status too).
pub(super) fn passed_through(status: Option<&str>, message: impl Into<String>) -> Verdict {
    let status = match status {
        Some("Healthy") => HealthStatus::Healthy,
        Some("Suspended") => HealthStatus::Suspended,
        Some("Progressing") => HealthStatus::Progressing,
        Some("Missing") => HealthStatus::Missing,
        Some("Degraded") => HealthStatus::Degraded,
        Some("Unknown") => HealthStatus::Unknown,
        _ => return invalid_status(),
    };
    verdict(status, message)
}

/// A returned table without a valid status code.
pub(super) fn invalid_status() -> Verdict {
    unknown("Lua returned an invalid health status")
}

/// Where the upstream script stops with a Lua error (it indexes, compares or concatenates
/// a nil the object lacks): Argo CD shows the object `Unknown` with the interpreter's
/// error; the port says in its own words what was missing.
pub(super) fn script_error(what: &str) -> Verdict {
    unknown(format!("health check failed: {what}"))
}

/// A number as Lua's `tostring` and `..` write it: integers without a fraction.
pub(super) fn lua_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// A value as `..` concatenates it: strings as they are, numbers as [`lua_number`];
/// `None` for what Lua refuses to concatenate (nil, booleans, tables).
pub(super) fn concat_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => n.as_f64().map(lua_number),
        _ => None,
    }
}

/// Runs a port written with `?` over [`num`]-style reads: an `Err` is where the upstream
/// script fails ([`script_error`]).
pub(super) fn attempt(f: impl FnOnce() -> Result<Verdict, &'static str>) -> Verdict {
    f().unwrap_or_else(script_error)
}

/// The number at `path`, where the script does arithmetic or an ordering comparison on it
/// (Lua fails on nil or a non-number there).
pub(super) fn num(v: &Value, path: &[&str]) -> Result<f64, &'static str> {
    number(v, path).ok_or("a number the check compares is missing")
}
