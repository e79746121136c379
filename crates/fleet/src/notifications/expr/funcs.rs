//! expr's built-in functions (`builtin/builtin.go`, `builtin/lib.go`) as far as
//! Flotilla evaluates them, the methods of Go's `time.Time` and `time.Duration` that
//! triggers call, and the functions of Argo CD's helper namespaces
//! (`util/notification/expression/{time,strings,repo}`).

use std::rc::Rc;

use chrono::{DateTime, FixedOffset, Timelike as _};

use super::Env;
use super::eval::{MAX_STRING, Run, Stop, add_duration, compare, sub_times, to_float, to_int};
use super::parse::Expr;
use super::value::{Func, Value};

type Time = DateTime<FixedOffset>;

/// Go's reference layout of RFC 3339, as `time.Parse` errors name it.
const RFC3339: &str = "2006-01-02T15:04:05Z07:00";

/// The methods of `time.Time`.
const TIME_METHODS: &[&str] = &[
    "Add",
    "Sub",
    "Before",
    "After",
    "Equal",
    "Compare",
    "Format",
    "Unix",
    "UnixMilli",
    "UnixNano",
    "UTC",
    "Local",
    "Truncate",
    "Round",
    "IsZero",
    "Year",
    "YearDay",
    "Day",
    "Hour",
    "Minute",
    "Second",
    "Nanosecond",
    "String",
];

/// The methods of `time.Duration`.
const DURATION_METHODS: &[&str] = &[
    "Hours",
    "Minutes",
    "Seconds",
    "Milliseconds",
    "Microseconds",
    "Nanoseconds",
    "String",
    "Round",
    "Truncate",
    "Abs",
];

/// The method `name` of `receiver`, if it has one.
pub(super) fn method(receiver: &Value, name: &str) -> Option<&'static str> {
    let methods = match receiver {
        Value::Time(_) => TIME_METHODS,
        Value::Duration(_) => DURATION_METHODS,
        _ => return None,
    };
    methods.iter().find(|m| **m == name).copied()
}

/// Checks a Go function's argument count as `reflect.Call` does.
fn arity(args: &[Value], wanted: usize) -> Result<(), String> {
    match args.len().cmp(&wanted) {
        std::cmp::Ordering::Less => Err("reflect: Call with too few input arguments".into()),
        std::cmp::Ordering::Greater => Err("reflect: Call with too many input arguments".into()),
        std::cmp::Ordering::Equal => Ok(()),
    }
}

fn string_arg<'v>(args: &'v [Value], i: usize) -> Result<&'v str, String> {
    match &args[i] {
        Value::Str(s) => Ok(s),
        other => Err(format!(
            "reflect: Call using {} as type string",
            other.go_type()
        )),
    }
}

fn time_arg(args: &[Value], i: usize) -> Result<Time, String> {
    match &args[i] {
        Value::Time(t) => Ok(*t),
        other => Err(format!(
            "reflect: Call using {} as type time.Time",
            other.go_type()
        )),
    }
}

fn duration_arg(args: &[Value], i: usize) -> Result<i64, String> {
    match &args[i] {
        Value::Duration(d) => Ok(*d),
        other => Err(format!(
            "reflect: Call using {} as type time.Duration",
            other.go_type()
        )),
    }
}

/// Nanoseconds since Go's zero time (January 1, year 1, UTC), where `Truncate` and
/// `Round` count from.
fn since_zero(t: &Time) -> i128 {
    const ZERO_TO_UNIX: i128 = 62_135_596_800;
    (i128::from(t.timestamp()) + ZERO_TO_UNIX) * 1_000_000_000 + i128::from(t.nanosecond())
}

/// Calls the method `name` of `receiver`.
pub(super) fn call_method<'a>(
    receiver: &Value<'a>,
    name: &str,
    args: &[Value<'a>],
) -> Result<Value<'a>, String> {
    match receiver {
        Value::Time(t) => {
            let wanted = match name {
                "Add" | "Sub" | "Before" | "After" | "Equal" | "Compare" | "Format"
                | "Truncate" | "Round" => 1,
                _ => 0,
            };
            arity(args, wanted)?;
            Ok(match name {
                "Add" => Value::Time(add_duration(t, duration_arg(args, 0)?)),
                "Sub" => Value::Duration(sub_times(t, &time_arg(args, 0)?)),
                "Before" => Value::Bool(*t < time_arg(args, 0)?),
                "After" => Value::Bool(*t > time_arg(args, 0)?),
                "Equal" => Value::Bool(*t == time_arg(args, 0)?),
                "Compare" => Value::Int(t.cmp(&time_arg(args, 0)?) as i64),
                "Format" => {
                    let layout = string_arg(args, 0)?;
                    Value::Str(flotilla_template::go::format_time(t, layout).into())
                }
                "Unix" => Value::Int(t.timestamp()),
                "UnixMilli" => Value::Int(t.timestamp_millis()),
                "UnixNano" => Value::Int(t.timestamp_nanos_opt().unwrap_or_default()),
                // The hub runs in UTC: Local is UTC.
                "UTC" | "Local" => {
                    Value::Time(t.with_timezone(&FixedOffset::east_opt(0).expect("UTC")))
                }
                "Truncate" | "Round" => {
                    let d = i128::from(duration_arg(args, 0)?);
                    if d <= 0 {
                        return Ok(Value::Time(*t));
                    }
                    let since = since_zero(t);
                    let mut rest = since.rem_euclid(d);
                    if name == "Round" && rest + rest >= d {
                        rest -= d;
                    }
                    let shift = i64::try_from(-rest).unwrap_or_default();
                    Value::Time(add_duration(t, shift))
                }
                "IsZero" => Value::Bool(since_zero(t) == 0),
                "Year" => Value::Int(i64::from(chrono::Datelike::year(t))),
                "YearDay" => Value::Int(i64::from(chrono::Datelike::ordinal(t))),
                "Day" => Value::Int(i64::from(chrono::Datelike::day(t))),
                "Hour" => Value::Int(i64::from(t.hour())),
                "Minute" => Value::Int(i64::from(t.minute())),
                "Second" => Value::Int(i64::from(t.second())),
                "Nanosecond" => Value::Int(i64::from(t.nanosecond())),
                "String" => Value::Str(
                    flotilla_template::go::sprint(&flotilla_template::Value::Time(*t)).into(),
                ),
                other => return Err(format!("time.Time has no method {other}")),
            })
        }
        Value::Duration(d) => {
            let wanted = usize::from(matches!(name, "Round" | "Truncate"));
            arity(args, wanted)?;
            let d = *d;
            Ok(match name {
                "Hours" => Value::Float(d as f64 / 3.6e12),
                "Minutes" => Value::Float(d as f64 / 6e10),
                "Seconds" => Value::Float(d as f64 / 1e9),
                "Milliseconds" => Value::Int(d / 1_000_000),
                "Microseconds" => Value::Int(d / 1_000),
                "Nanoseconds" => Value::Int(d),
                "String" => Value::Str(flotilla_template::go::duration_string(d).into()),
                "Abs" => Value::Duration(d.checked_abs().unwrap_or(i64::MAX)),
                "Truncate" | "Round" => {
                    let m = duration_arg(args, 0)?;
                    if m <= 0 {
                        return Ok(Value::Duration(d));
                    }
                    let mut rest = d % m;
                    if name == "Round" && rest.abs() + rest.abs() >= m {
                        rest -= m * rest.signum();
                    }
                    Value::Duration(d - rest)
                }
                other => return Err(format!("time.Duration has no method {other}")),
            })
        }
        other => Err(format!("{} has no methods", other.go_type())),
    }
}

/// The length `s.replace(old, new)` would have.
fn replaced_len(s: &str, old: &str, new: &str) -> usize {
    let count = if old.is_empty() {
        s.chars().count() + 1
    } else {
        s.matches(old).count()
    };
    s.len()
        .saturating_sub(count.saturating_mul(old.len()))
        .saturating_add(count.saturating_mul(new.len()))
}

fn replace_all<'a>(s: &str, old: &str, new: &str) -> Result<Value<'a>, String> {
    if replaced_len(s, old, new) > MAX_STRING {
        return Err(format!("a string longer than {MAX_STRING} bytes"));
    }
    Ok(Value::Str(s.replace(old, new).into()))
}

/// Calls a function of a helper namespace.
pub(super) fn call_func<'a>(
    func: Func,
    args: &[Value<'a>],
    env: &Env<'a>,
) -> Result<Value<'a>, String> {
    if func.asks_repo_server() {
        return Err(format!(
            "repo.{} asks Argo CD's repo server, which Flotilla does not run",
            func.name()
        ));
    }
    match func {
        Func::TimeNow => {
            arity(args, 0)?;
            Ok(Value::Time(env.now))
        }
        Func::TimeParse => {
            arity(args, 1)?;
            let text = string_arg(args, 0)?;
            parse_rfc3339(text).map(Value::Time)
        }
        Func::ReplaceAll => {
            arity(args, 3)?;
            replace_all(
                string_arg(args, 0)?,
                string_arg(args, 1)?,
                string_arg(args, 2)?,
            )
        }
        Func::ToUpper => {
            arity(args, 1)?;
            Ok(Value::Str(string_arg(args, 0)?.to_uppercase().into()))
        }
        Func::ToLower => {
            arity(args, 1)?;
            Ok(Value::Str(string_arg(args, 0)?.to_lowercase().into()))
        }
        Func::RepoUrlToHttps => {
            arity(args, 1)?;
            let (host, path) = git_url(string_arg(args, 0)?)?;
            let slash = if path.starts_with('/') || path.is_empty() {
                ""
            } else {
                "/"
            };
            Ok(Value::Str(format!("https://{host}{slash}{path}").into()))
        }
        Func::FullNameByRepoUrl => {
            arity(args, 1)?;
            Ok(Value::Str(
                full_name_by_repo_url(string_arg(args, 0)?)?.into(),
            ))
        }
        Func::QueryEscape => {
            arity(args, 1)?;
            Ok(Value::Str(query_escape(string_arg(args, 0)?).into()))
        }
        Func::GetCommitMetadata | Func::GetAppDetails => unreachable!("refused above"),
    }
}

/// `time.Parse(time.RFC3339, text)`, with Go's words when it fails.
pub(super) fn parse_rfc3339(text: &str) -> Result<Time, String> {
    DateTime::parse_from_rfc3339(text)
        .map_err(|e| format!("parsing time {text:?} as {RFC3339:?}: {e}"))
}

/// `owner/repo` of a Git URL (`FullNameByRepoURL`: the first two parts of its path,
/// `.git` dropped; the path itself when it has fewer).
pub(crate) fn full_name_by_repo_url(raw: &str) -> Result<String, String> {
    let (_, path) = git_url(raw)?;
    let path = path.strip_suffix(".git").unwrap_or(&path);
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    Ok(if parts.len() >= 2 {
        parts[..2].join("/")
    } else {
        path.to_string()
    })
}

/// The host (with its port) and path of a Git URL, as `git-urls` reads it: scp-like
/// `user@host:path` or a URL with a scheme; user information dropped.
fn git_url(raw: &str) -> Result<(String, String), String> {
    if let Some((_, rest)) = raw.split_once("://") {
        let (authority, path) = match rest.find('/') {
            Some(n) => (&rest[..n], &rest[n..]),
            None => (rest, ""),
        };
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        return Ok((host.to_string(), path.to_string()));
    }
    let scp = regex::Regex::new(r"^(?:([^@/]+)@)?([^:/]+):(.*)$").expect("a valid pattern");
    if let Some(captures) = scp.captures(raw) {
        return Ok((captures[2].to_string(), captures[3].to_string()));
    }
    Err(format!("failed to parse git URL {raw:?}"))
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// JSON as Go's `json.MarshalIndent(v, "", "  ")` writes it: map keys sorted, `<`, `>`
/// and `&` escaped.
fn go_json(v: &serde_json::Value) -> String {
    fn sorted(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&map[k])))
                    .collect::<serde_json::Map<_, _>>()
                    .into()
            }
            serde_json::Value::Array(items) => items.iter().map(sorted).collect(),
            other => other.clone(),
        }
    }
    serde_json::to_string_pretty(&sorted(v))
        .unwrap_or_default()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

impl<'a> Run<'_, 'a> {
    /// The elements of a built-in's array argument.
    fn array_arg(&self, name: &str, v: &Value<'a>, at: usize) -> Result<Vec<Value<'a>>, Stop> {
        v.elements().ok_or_else(|| {
            self.fail(
                at,
                format!("invalid argument for {name} (type {})", v.go_type()),
            )
        })
    }

    fn predicate_bool(&self, v: &Value<'a>, at: usize) -> Result<bool, Stop> {
        v.as_bool().ok_or_else(|| {
            self.fail(
                at,
                format!(
                    "interface conversion: interface {{}} is {}, not bool",
                    v.go_type()
                ),
            )
        })
    }

    /// Calls the built-in `name`.
    pub(super) fn builtin(
        &mut self,
        name: &str,
        args: &[Expr],
        at: usize,
    ) -> Result<Value<'a>, Stop> {
        match name {
            "all" | "any" | "none" | "one" | "filter" | "map" | "find" | "findIndex"
            | "findLast" | "findLastIndex" | "count" | "sum" | "reduce" => {
                self.with_predicate(name, args, at)
            }
            _ => {
                let mut values = Vec::with_capacity(args.len());
                for arg in args {
                    values.push(self.eval(arg)?);
                }
                self.plain(name, values, at)
            }
        }
    }

    fn with_predicate(&mut self, name: &str, args: &[Expr], at: usize) -> Result<Value<'a>, Stop> {
        let array = self.eval(&args[0])?;
        let mut items = self.array_arg(name, &array, at)?;
        let predicate = args.get(1);
        let reversed = matches!(name, "findLast" | "findLastIndex");
        if reversed {
            items.reverse();
        }
        let Some(predicate) = predicate else {
            // count and sum without a predicate.
            return match name {
                "count" => {
                    let mut n = 0;
                    for item in &items {
                        n += i64::from(self.predicate_bool(item, at)?);
                    }
                    Ok(Value::Int(n))
                }
                _ => self.sum(items.into_iter(), at),
            };
        };
        match name {
            "reduce" => {
                let (initial, rest) = match args.get(2) {
                    Some(initial) => (self.eval(initial)?, &items[..]),
                    None => match items.split_first() {
                        Some((first, rest)) => (first.clone(), rest),
                        None => {
                            return Err(
                                self.fail(at, "reduce of empty array with no initial value")
                            );
                        }
                    },
                };
                self.reduce(predicate, rest, initial)
            }
            "map" | "sum" => {
                let mut out = Vec::with_capacity(items.len());
                self.predicate(predicate, &items, |_, _, v| {
                    out.push(v);
                    Ok(true)
                })?;
                if name == "sum" {
                    self.sum(out.into_iter(), at)
                } else {
                    Ok(Value::List(Rc::new(out)))
                }
            }
            _ => {
                let mut matched: Vec<usize> = Vec::new();
                let stop_at_first = matches!(
                    name,
                    "find" | "findIndex" | "findLast" | "findLastIndex" | "any"
                );
                let stop_at_false = name == "all";
                self.predicate(predicate, &items, |run, i, v| {
                    let yes = run.predicate_bool(&v, at)?;
                    if yes {
                        matched.push(i);
                    }
                    Ok(!(yes && stop_at_first || !yes && stop_at_false))
                })?;
                let n = items.len();
                let original = |i: usize| if reversed { n - 1 - i } else { i };
                Ok(match name {
                    "all" => Value::Bool(matched.len() == n),
                    "any" => Value::Bool(!matched.is_empty()),
                    "none" => Value::Bool(matched.is_empty()),
                    "one" => Value::Bool(matched.len() == 1),
                    "count" => Value::Int(matched.len() as i64),
                    "filter" => {
                        Value::List(Rc::new(matched.iter().map(|i| items[*i].clone()).collect()))
                    }
                    "find" | "findLast" => {
                        matched.first().map_or(Value::Nil, |i| items[*i].clone())
                    }
                    _ => Value::Int(matched.first().map_or(-1, |i| original(*i) as i64)),
                })
            }
        }
    }

    fn sum(&self, items: impl Iterator<Item = Value<'a>>, at: usize) -> Result<Value<'a>, Stop> {
        let mut int: i64 = 0;
        let mut float: Option<f64> = None;
        for item in items {
            match item {
                Value::Int(i) => int = int.wrapping_add(i),
                Value::Float(f) => *float.get_or_insert(0.0) += f,
                other => {
                    return Err(
                        self.fail(at, format!("invalid operation: sum of {}", other.go_type()))
                    );
                }
            }
        }
        Ok(match float {
            Some(f) => Value::Float(f + int as f64),
            None => Value::Int(int),
        })
    }

    fn plain(&self, name: &str, args: Vec<Value<'a>>, at: usize) -> Result<Value<'a>, Stop> {
        let fail = |message: String| self.fail(at, message);
        let count = |range: std::ops::RangeInclusive<usize>| {
            if range.contains(&args.len()) {
                Ok(())
            } else {
                Err(fail(format!(
                    "invalid number of arguments (expected {}, got {})",
                    range.start(),
                    args.len()
                )))
            }
        };
        let string = |i: usize| -> Result<&str, Stop> {
            args[i].as_str().ok_or_else(|| {
                fail(format!(
                    "invalid argument for {name} (type {})",
                    args[i].go_type()
                ))
            })
        };
        let int = |i: usize| -> Result<i64, Stop> {
            to_int(&args[i]).ok_or_else(|| {
                fail(format!(
                    "invalid argument for {name} (type {})",
                    args[i].go_type()
                ))
            })
        };
        let text = |s: String| -> Result<Value<'a>, Stop> {
            if s.len() > MAX_STRING {
                Err(fail(format!("a string longer than {MAX_STRING} bytes")))
            } else {
                Ok(Value::Str(s.into()))
            }
        };
        Ok(match name {
            "len" => {
                count(1..=1)?;
                let v = &args[0];
                let n = match v {
                    Value::Str(s) => s.len(),
                    Value::Namespace(ns) => ns.len(),
                    _ => match (v.array_len(), v.map_keys()) {
                        (Some(n), _) => n,
                        (None, Some(keys)) => keys.len(),
                        _ => {
                            return Err(fail(format!(
                                "invalid argument for len (type {})",
                                v.go_type()
                            )));
                        }
                    },
                };
                Value::Int(n as i64)
            }
            "type" => {
                count(1..=1)?;
                Value::Str(
                    match &args[0] {
                        Value::Nil => "nil",
                        Value::Bool(_) => "bool",
                        Value::Int(_) => "int",
                        Value::Float(_) => "float",
                        Value::Str(_) => "string",
                        Value::Time(_) => "time.Time",
                        Value::Duration(_) => "time.Duration",
                        Value::Func(_) | Value::Method(_) => "func",
                        v if v.array_len().is_some() => "array",
                        _ => "map",
                    }
                    .into(),
                )
            }
            "abs" => {
                count(1..=1)?;
                match &args[0] {
                    Value::Int(i) => Value::Int(i.wrapping_abs()),
                    Value::Float(f) => Value::Float(f.abs()),
                    other => {
                        return Err(fail(format!(
                            "invalid argument for abs (type {})",
                            other.go_type()
                        )));
                    }
                }
            }
            "ceil" | "floor" | "round" => {
                count(1..=1)?;
                let Some(f) = to_float(&args[0]) else {
                    return Err(fail(format!(
                        "invalid argument for {name} (type {})",
                        args[0].go_type()
                    )));
                };
                Value::Float(match name {
                    "ceil" => f.ceil(),
                    "floor" => f.floor(),
                    _ => f.round(),
                })
            }
            "int" => {
                count(1..=1)?;
                match &args[0] {
                    Value::Str(s) => Value::Int(
                        s.parse()
                            .map_err(|_| fail(format!("invalid operation: int({s})")))?,
                    ),
                    v => {
                        Value::Int(to_int(v).ok_or_else(|| {
                            fail(format!("invalid operation: int({})", v.go_type()))
                        })?)
                    }
                }
            }
            "float" => {
                count(1..=1)?;
                match &args[0] {
                    Value::Str(s) => Value::Float(
                        s.parse()
                            .map_err(|_| fail(format!("invalid operation: float({s})")))?,
                    ),
                    v => Value::Float(to_float(v).ok_or_else(|| {
                        fail(format!("invalid operation: float({})", v.go_type()))
                    })?),
                }
            }
            "string" => {
                count(1..=1)?;
                text(args[0].sprint())?
            }
            "trim" => {
                count(1..=2)?;
                let s = string(0)?;
                if args.len() == 2 {
                    let chars = string(1)?;
                    Value::Str(s.trim_matches(|c| chars.contains(c)).into())
                } else {
                    Value::Str(s.trim().into())
                }
            }
            "trimPrefix" => {
                count(2..=2)?;
                let s = string(0)?;
                Value::Str(s.strip_prefix(string(1)?).unwrap_or(s).into())
            }
            "trimSuffix" => {
                count(2..=2)?;
                let s = string(0)?;
                Value::Str(s.strip_suffix(string(1)?).unwrap_or(s).into())
            }
            "upper" => {
                count(1..=1)?;
                Value::Str(string(0)?.to_uppercase().into())
            }
            "lower" => {
                count(1..=1)?;
                Value::Str(string(0)?.to_lowercase().into())
            }
            "split" => {
                count(2..=3)?;
                let (s, sep) = (string(0)?, string(1)?);
                let parts: Vec<&str> = match args.get(2) {
                    Some(_) => {
                        let n = int(2)?;
                        if n == 0 {
                            Vec::new()
                        } else if n < 0 {
                            s.split(sep).collect()
                        } else {
                            s.splitn(n as usize, sep).collect()
                        }
                    }
                    None => s.split(sep).collect(),
                };
                Value::List(Rc::new(parts.into_iter().map(Value::string).collect()))
            }
            "replace" => {
                count(3..=3)?;
                replace_all(string(0)?, string(1)?, string(2)?).map_err(fail)?
            }
            "repeat" => {
                count(2..=2)?;
                let (s, n) = (string(0)?, int(1)?);
                if n < 0 {
                    return Err(fail("invalid argument for repeat (negative count)".into()));
                }
                if (s.len() as u128) * (n as u128) > MAX_STRING as u128 {
                    return Err(fail(format!("a string longer than {MAX_STRING} bytes")));
                }
                Value::Str(s.repeat(n as usize).into())
            }
            "join" => {
                count(1..=2)?;
                let items = self.array_arg(name, &args[0], at)?;
                let sep = if args.len() == 2 { string(1)? } else { "" };
                let mut parts = Vec::with_capacity(items.len());
                for item in &items {
                    match item {
                        Value::Str(s) => parts.push(s.to_string()),
                        other => {
                            return Err(fail(format!(
                                "invalid argument for join (type {})",
                                other.go_type()
                            )));
                        }
                    }
                }
                text(parts.join(sep))?
            }
            "indexOf" | "lastIndexOf" => {
                count(2..=2)?;
                let (s, sub) = (string(0)?, string(1)?);
                let found = if name == "indexOf" {
                    s.find(sub)
                } else {
                    s.rfind(sub)
                };
                Value::Int(found.map_or(-1, |i| s[..i].chars().count() as i64))
            }
            "hasPrefix" => {
                count(2..=2)?;
                Value::Bool(string(0)?.starts_with(string(1)?))
            }
            "hasSuffix" => {
                count(2..=2)?;
                Value::Bool(string(0)?.ends_with(string(1)?))
            }
            "max" | "min" => {
                if args.is_empty() {
                    return Err(fail(format!("not enough arguments to call {name}")));
                }
                let mut best = args[0].clone();
                for v in &args[1..] {
                    let Some(order) = compare(v, &best) else {
                        return Err(fail(format!(
                            "invalid argument for {name} (type {})",
                            v.go_type()
                        )));
                    };
                    if (name == "max" && order.is_gt()) || (name == "min" && order.is_lt()) {
                        best = v.clone();
                    }
                }
                best
            }
            "toJSON" => {
                count(1..=1)?;
                text(go_json(&args[0].to_json()))?
            }
            "now" => {
                count(0..=0)?;
                Value::Time(self.env.now)
            }
            "duration" => {
                count(1..=1)?;
                let s = string(0)?;
                Value::Duration(
                    flotilla_template::go::parse_duration(s)
                        .ok_or_else(|| fail(format!("time: invalid duration {s:?}")))?,
                )
            }
            "first" | "last" => {
                count(1..=1)?;
                let items = self.array_arg(name, &args[0], at)?;
                let item = if name == "first" {
                    items.first()
                } else {
                    items.last()
                };
                item.cloned().unwrap_or(Value::Nil)
            }
            "get" => {
                count(2..=2)?;
                match self.fetch(&args[0], &args[1], at) {
                    Ok(v) => v,
                    Err(_) => Value::Nil,
                }
            }
            "take" => {
                count(2..=2)?;
                let items = self.array_arg(name, &args[0], at)?;
                let n = int(1)?.clamp(0, items.len() as i64) as usize;
                Value::List(Rc::new(items[..n].to_vec()))
            }
            "keys" | "values" => {
                count(1..=1)?;
                let Some(keys) = args[0].map_keys() else {
                    return Err(fail(format!(
                        "invalid argument for {name} (type {})",
                        args[0].go_type()
                    )));
                };
                Value::List(Rc::new(if name == "keys" {
                    keys.iter().map(|k| Value::string(k)).collect()
                } else {
                    keys.iter()
                        .map(|k| args[0].map_get(k).unwrap_or(Value::Nil))
                        .collect()
                }))
            }
            "reverse" => {
                count(1..=1)?;
                let mut items = self.array_arg(name, &args[0], at)?;
                items.reverse();
                Value::List(Rc::new(items))
            }
            "concat" => {
                let mut out = Vec::new();
                for arg in &args {
                    out.extend(self.array_arg(name, arg, at)?);
                }
                Value::List(Rc::new(out))
            }
            other => return Err(fail(format!("unknown built-in {other}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_urls_become_https_and_full_names_as_argo_cds_repo_helpers_make_them() {
        let env = Env::new(parse_rfc3339("2026-01-01T00:00:00Z").unwrap());
        let call = |f: Func, arg: &str| match call_func(f, &[Value::string(arg)], &env) {
            Ok(Value::Str(s)) => s.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            call(Func::RepoUrlToHttps, "git@github.com:argoproj/argo-cd.git"),
            "https://github.com/argoproj/argo-cd.git"
        );
        assert_eq!(
            call(
                Func::RepoUrlToHttps,
                "https://user:pass@gitlab.com/group/app"
            ),
            "https://gitlab.com/group/app"
        );
        assert_eq!(
            call(
                Func::RepoUrlToHttps,
                "ssh://git@example.com:2222/team/repo.git"
            ),
            "https://example.com:2222/team/repo.git"
        );
        assert_eq!(
            call(
                Func::FullNameByRepoUrl,
                "https://github.com/argoproj/argo-cd.git"
            ),
            "argoproj/argo-cd"
        );
        assert_eq!(
            call(Func::FullNameByRepoUrl, "git@gitlab.com:group/sub/app.git"),
            "group/sub"
        );
        assert_eq!(call(Func::QueryEscape, "a b/c?d=é"), "a+b%2Fc%3Fd%3D%C3%A9");
        assert_eq!(call(Func::ToUpper, "Synced"), "SYNCED");
        let refused = call_func(Func::GetCommitMetadata, &[Value::string("abc")], &env);
        assert_eq!(
            refused.unwrap_err(),
            "repo.GetCommitMetadata asks Argo CD's repo server, which Flotilla does not run"
        );
    }

    #[test]
    fn go_json_sorts_keys_and_escapes_html() {
        let v = serde_json::json!({"b": "<a&b>", "a": [1, {"d": 1, "c": 2}]});
        assert_eq!(
            go_json(&v),
            "{\n  \"a\": [\n    1,\n    {\n      \"c\": 2,\n      \"d\": 1\n    }\n  ],\n  \"b\": \"\\u003ca\\u0026b\\u003e\"\n}"
        );
    }

    #[test]
    fn replacing_cannot_build_huge_strings() {
        assert!(replace_all("aaaa", "", &"x".repeat(MAX_STRING / 2)).is_err());
        assert_eq!(
            replace_all("a-b-c", "-", "+").unwrap().as_str(),
            Some("a+b+c")
        );
    }
}
