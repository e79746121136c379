//! Go's predefined template functions, with Go's argument checks and error texts.

use crate::error::FuncError;
use crate::funcs::{Arity, FuncResult, Functions};
use crate::gofmt;
use crate::value::Value;
use std::cmp::Ordering;
use std::fmt::Write as _;

pub(crate) fn register(f: &mut Functions) {
    f.insert_short_circuit("and");
    f.insert_short_circuit("or");
    f.register("not", Arity::Exact(1), |a| Ok(Value::Bool(!a[0].is_true())));
    f.register("len", Arity::Exact(1), |a| len(&a[0]).map(Value::Int));
    f.register("index", Arity::AtLeast(1), index);
    f.register("slice", Arity::AtLeast(1), slice);
    f.register("print", Arity::AtLeast(0), |a| Ok(gofmt::sprint(a).into()));
    f.register("println", Arity::AtLeast(0), |a| {
        Ok(gofmt::sprintln(a).into())
    });
    f.register("printf", Arity::AtLeast(1), |a| {
        let fmt = string_arg(&a[0], "printf")?;
        Ok(gofmt::sprintf(fmt, &a[1..]).into())
    });
    f.register("html", Arity::AtLeast(0), |a| {
        Ok(html_escape(&eval_args(a)).into())
    });
    f.register("js", Arity::AtLeast(0), |a| {
        Ok(js_escape(&eval_args(a)).into())
    });
    f.register("urlquery", Arity::AtLeast(0), |a| {
        Ok(query_escape(&eval_args(a)).into())
    });
    f.register("eq", Arity::AtLeast(1), eq);
    f.register("ne", Arity::Exact(2), |a| {
        eq(a).map(|v| Value::Bool(!v.is_true()))
    });
    f.register("lt", Arity::Exact(2), |a| {
        cmp(&a[0], &a[1]).map(|o| Value::Bool(o == Ordering::Less))
    });
    f.register("le", Arity::Exact(2), |a| {
        cmp(&a[0], &a[1]).map(|o| Value::Bool(o != Ordering::Greater))
    });
    f.register("gt", Arity::Exact(2), |a| {
        cmp(&a[0], &a[1]).map(|o| Value::Bool(o == Ordering::Greater))
    });
    f.register("ge", Arity::Exact(2), |a| {
        cmp(&a[0], &a[1]).map(|o| Value::Bool(o != Ordering::Less))
    });
    f.register("call", Arity::AtLeast(1), |a| {
        Err(FuncError::msg(format!(
            "non-function of type {}",
            a[0].go_type()
        )))
    });
}

fn string_arg<'a>(v: &'a Value, _name: &str) -> Result<&'a str, FuncError> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(FuncError::msg(format!(
            "wrong type for value; expected string; got {}",
            other.go_type()
        ))),
    }
}

fn len(v: &Value) -> Result<i64, FuncError> {
    Ok(match v {
        Value::String(s) => s.len() as i64,
        Value::List(l) => l.len() as i64,
        Value::Map(m) => m.len() as i64,
        Value::Nil => return Err(FuncError::msg("len of nil pointer")),
        other => return Err(FuncError::msg(format!("len of type {}", other.go_type()))),
    })
}

/// Converts an index argument as Go's `indexArg` does.
fn index_arg(v: &Value, cap: usize) -> Result<usize, FuncError> {
    let i = match v {
        Value::Int(i) => *i,
        Value::Nil => return Err(FuncError::msg("cannot index slice/array with nil")),
        other => {
            return Err(FuncError::msg(format!(
                "cannot index slice/array with type {}",
                other.go_type()
            )));
        }
    };
    if i < 0 || i as usize > cap {
        return Err(FuncError::msg(format!("index out of range: {i}")));
    }
    Ok(i as usize)
}

fn index(a: &[Value]) -> FuncResult {
    let mut item = a[0].clone();
    if matches!(item, Value::Nil) {
        return Err(FuncError::msg("index of untyped nil"));
    }
    for idx in &a[1..] {
        item = match &item {
            Value::List(l) => {
                let i = index_arg(idx, l.len())?;
                match l.get(i) {
                    Some(v) => v.clone(),
                    None => return Err(FuncError::msg(format!("index out of range: {i}"))),
                }
            }
            Value::String(s) => {
                let i = index_arg(idx, s.len())?;
                match s.as_bytes().get(i) {
                    Some(b) => Value::Int(i64::from(*b)),
                    None => return Err(FuncError::msg(format!("index out of range: {i}"))),
                }
            }
            Value::Map(m) => match idx {
                Value::String(k) => m.get(k).unwrap_or_default(),
                Value::Nil => return Err(FuncError::msg("value is nil; should be of type string")),
                other => {
                    return Err(FuncError::msg(format!(
                        "value has type {}; should be string",
                        other.go_type()
                    )));
                }
            },
            Value::Nil => return Err(FuncError::msg("index of nil pointer")),
            other => {
                return Err(FuncError::msg(format!(
                    "can't index item of type {}",
                    other.go_type()
                )));
            }
        };
    }
    Ok(item)
}

fn slice(a: &[Value]) -> FuncResult {
    let item = &a[0];
    let idx = &a[1..];
    if matches!(item, Value::Nil) {
        return Err(FuncError::msg("slice of untyped nil"));
    }
    if idx.len() > 3 {
        return Err(FuncError::msg(format!(
            "too many slice indexes: {}",
            idx.len()
        )));
    }
    let cap = match item {
        Value::String(s) => {
            if idx.len() == 3 {
                return Err(FuncError::msg("cannot 3-index slice a string"));
            }
            s.len()
        }
        Value::List(l) => l.len(),
        other => {
            return Err(FuncError::msg(format!(
                "can't slice item of type {}",
                other.go_type()
            )));
        }
    };
    let mut ix = [0, cap, cap];
    for (i, v) in idx.iter().enumerate() {
        ix[i] = index_arg(v, cap)?;
    }
    if ix[0] > ix[1] {
        return Err(FuncError::msg(format!(
            "invalid slice index: {} > {}",
            ix[0], ix[1]
        )));
    }
    if idx.len() == 3 && ix[1] > ix[2] {
        return Err(FuncError::msg(format!(
            "invalid slice index: {} > {}",
            ix[1], ix[2]
        )));
    }
    Ok(match item {
        Value::String(s) => match s.get(ix[0]..ix[1]) {
            Some(sub) => Value::string(sub),
            None => Value::string(String::from_utf8_lossy(&s.as_bytes()[ix[0]..ix[1]]).as_ref()),
        },
        Value::List(l) => Value::list(l[ix[0]..ix[1]].to_vec()),
        _ => Value::Nil,
    })
}

/// Go's `evalArgs` for `html`/`js`/`urlquery`: a lone string as is, else `fmt.Sprint`, with
/// nil shown as `<no value>`.
fn eval_args(a: &[Value]) -> String {
    if let [Value::String(s)] = a {
        return s.to_string();
    }
    let printable: Vec<Value> = a
        .iter()
        .map(|v| match v {
            Value::Nil => Value::string("<no value>"),
            v => v.clone(),
        })
        .collect();
    gofmt::sprint(&printable)
}

pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u00{:02X}", c as u32);
            }
            c if (c as u32) < 0x80 => out.push(c),
            c if is_go_printable(c) => out.push(c),
            c => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
        }
    }
    out
}

fn is_go_printable(c: char) -> bool {
    !c.is_control() && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{AD}')
}

/// Go's `url.QueryEscape`.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

#[derive(PartialEq, Clone, Copy)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Float,
    String,
    Other,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Nil => Kind::Invalid,
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::String(_) => Kind::String,
        _ => Kind::Other,
    }
}

/// Go's `eq arg1 arg2...`: true if arg1 equals any of the others.
fn eq(a: &[Value]) -> FuncResult {
    let a1 = &a[0];
    if a.len() < 2 {
        return Err(FuncError::msg("missing argument for comparison"));
    }
    let k1 = kind(a1);
    for b in &a[1..] {
        let k2 = kind(b);
        let truth = if k1 != k2 {
            if k1 != Kind::Invalid && k2 != Kind::Invalid {
                return Err(FuncError::msg("incompatible types for comparison"));
            }
            false
        } else {
            match (a1, b) {
                (Value::List(_) | Value::Map(_), _) => {
                    let mut s = String::new();
                    gofmt::write_value(&mut s, b);
                    return Err(FuncError::msg(format!(
                        "non-comparable type {s}: {}",
                        b.go_type()
                    )));
                }
                _ => a1 == b,
            }
        };
        if truth {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

/// Go's `lt` ordering, with its errors for bools, nil and mixed kinds.
fn cmp(a: &Value, b: &Value) -> Result<Ordering, FuncError> {
    let (k1, k2) = (kind(a), kind(b));
    if matches!(k1, Kind::Invalid | Kind::Other) || matches!(k2, Kind::Invalid | Kind::Other) {
        return Err(FuncError::msg("invalid type for comparison"));
    }
    if k1 != k2 {
        return Err(FuncError::msg("incompatible types for comparison"));
    }
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y).unwrap_or(Ordering::Greater),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => return Err(FuncError::msg("invalid type for comparison")),
    })
}
