//! Sprig v3 (`Masterminds/sprig`): every function except `env`, `expandenv` and
//! `getHostByName`, with Sprig's lenient argument conversions (the `cast` package's rules).

mod certs;
mod crypto;
pub(crate) mod dates;
mod dicts;
mod lists;
mod misc;
mod numbers;
mod strings;

use crate::error::FuncError;
use crate::funcs::Functions;
use crate::gofmt;
use crate::value::Value;

pub(crate) fn register(f: &mut Functions) {
    strings::register(f);
    numbers::register(f);
    lists::register(f);
    dicts::register(f);
    dates::register(f);
    crypto::register(f);
    certs::register(f);
    misc::register(f);
    for (name, positions) in STRING_PARAMS {
        f.string_params(name, positions);
    }
}

/// Sprig functions whose Go signatures take `string` parameters, by position.
const STRING_PARAMS: &[(&str, &[usize])] = &[
    ("upper", &[0]),
    ("lower", &[0]),
    ("title", &[0]),
    ("untitle", &[0]),
    ("trim", &[0]),
    ("trimAll", &[0, 1]),
    ("trimPrefix", &[0, 1]),
    ("trimSuffix", &[0, 1]),
    ("nospace", &[0]),
    ("abbrev", &[1]),
    ("abbrevboth", &[2]),
    ("initials", &[0]),
    ("wrap", &[1]),
    ("wrapWith", &[1, 2]),
    ("contains", &[0, 1]),
    ("hasPrefix", &[0, 1]),
    ("hasSuffix", &[0, 1]),
    ("indent", &[1]),
    ("nindent", &[1]),
    ("replace", &[0, 1, 2]),
    ("plural", &[0, 1]),
    ("sha1sum", &[0]),
    ("sha256sum", &[0]),
    ("sha512sum", &[0]),
    ("adler32sum", &[0]),
    ("snakecase", &[0]),
    ("camelcase", &[0]),
    ("kebabcase", &[0]),
    ("swapcase", &[0]),
    ("shuffle", &[0]),
    ("substr", &[2]),
    ("trunc", &[1]),
    ("repeat", &[1]),
    ("b64enc", &[0]),
    ("b64dec", &[0]),
    ("b32enc", &[0]),
    ("b32dec", &[0]),
    ("base", &[0]),
    ("dir", &[0]),
    ("clean", &[0]),
    ("ext", &[0]),
    ("isAbs", &[0]),
    ("regexMatch", &[0, 1]),
    ("regexFind", &[0, 1]),
    ("regexFindAll", &[0, 1]),
    ("regexReplaceAll", &[0, 1, 2]),
    ("regexReplaceAllLiteral", &[0, 1, 2]),
    ("regexSplit", &[0, 1]),
    ("split", &[0, 1]),
    ("splitList", &[0, 1]),
    ("splitn", &[0, 2]),
    ("join", &[0]),
    ("semver", &[0]),
    ("semverCompare", &[0, 1]),
];

/// Sprig's `strval`: strings as they are, everything else as `fmt.Sprintf("%v")`.
pub(crate) fn strval(v: &Value) -> String {
    gofmt::to_string(v)
}

/// `cast.ToInt64` ignoring errors (Sprig discards them): strings parse with Go's base
/// prefixes, floats truncate, bools are 0/1, anything else is 0.
pub(crate) fn to_i64(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::String(s) => {
            // cast trims a zero decimal part ("1.0" → "1") before parsing.
            let t = match s.split_once('.') {
                Some((int, frac)) if !frac.is_empty() && frac.bytes().all(|b| b == b'0') => int,
                _ => s,
            };
            crate::parse::parse_go_int(t).unwrap_or(0)
        }
        _ => 0,
    }
}

/// `cast.ToFloat64` ignoring errors.
pub(crate) fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(s) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Sprig's `empty`.
pub(crate) fn empty(v: &Value) -> bool {
    !v.is_true()
}

/// Sprig's `strslice`: a list of strings from a list (nil elements dropped) or one value.
pub(crate) fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::List(l) => l
            .iter()
            .filter(|x| !matches!(x, Value::Nil))
            .map(strval)
            .collect(),
        Value::Nil => Vec::new(),
        other => vec![strval(other)],
    }
}

/// Requires a string argument, as a Go `string` parameter does.
pub(crate) fn want_str<'a>(v: &'a Value, func: &str) -> Result<&'a str, FuncError> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(FuncError::msg(format!(
            "{func}: wrong type for value; expected string; got {}",
            other.go_type()
        ))),
    }
}

/// Requires an integer argument, as a Go `int` parameter does (integral floats from
/// constants are accepted, as Go converts untyped constants).
pub(crate) fn want_int(v: &Value, func: &str) -> Result<i64, FuncError> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Float(f) if f.fract() == 0.0 => Ok(*f as i64),
        other => Err(FuncError::msg(format!(
            "{func}: wrong type for value; expected int; got {}",
            other.go_type()
        ))),
    }
}
