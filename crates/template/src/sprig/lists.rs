//! Sprig list functions. Lists are immutable: `append` and friends return new lists, as
//! Sprig's do. The `must*` variants return errors where the plain ones would panic; in a
//! template both end execution, so they share one implementation.

use super::{empty, to_i64, want_int};
use crate::error::FuncError;
use crate::funcs::{Arity, FuncResult, Functions};
use crate::value::Value;
use std::sync::Arc;

fn list_arg<'a>(v: &'a Value, what: &str) -> Result<&'a [Value], FuncError> {
    match v {
        Value::List(l) => Ok(l),
        other => Err(FuncError::msg(format!(
            "Cannot {what} on type {}",
            other.go_type()
        ))),
    }
}

fn both(f: &mut Functions, name: &str, arity: Arity, func: fn(&[Value]) -> FuncResult) {
    f.register(name, arity, func);
    let must = format!("must{}{}", name[..1].to_uppercase(), &name[1..]);
    f.register(&must, arity, func);
}

pub(super) fn register(f: &mut Functions) {
    use Arity::{AtLeast, Exact};
    f.register("list", AtLeast(0), |a| Ok(Value::list(a.to_vec())));
    f.register("tuple", AtLeast(0), |a| Ok(Value::list(a.to_vec())));
    let push = |a: &[Value]| {
        let mut l = list_arg(&a[0], "push")?.to_vec();
        l.push(a[1].clone());
        Ok(Value::list(l))
    };
    both(f, "push", Exact(2), push);
    both(f, "append", Exact(2), push);
    both(f, "prepend", Exact(2), |a| {
        let l = list_arg(&a[0], "prepend")?;
        let mut out = Vec::with_capacity(l.len() + 1);
        out.push(a[1].clone());
        out.extend_from_slice(l);
        Ok(Value::list(out))
    });
    both(f, "first", Exact(1), |a| {
        Ok(list_arg(&a[0], "find first")?
            .first()
            .cloned()
            .unwrap_or_default())
    });
    both(f, "last", Exact(1), |a| {
        Ok(list_arg(&a[0], "find last")?
            .last()
            .cloned()
            .unwrap_or_default())
    });
    both(f, "rest", Exact(1), |a| {
        let l = list_arg(&a[0], "find rest")?;
        Ok(Value::list(l.get(1..).unwrap_or_default().to_vec()))
    });
    both(f, "initial", Exact(1), |a| {
        let l = list_arg(&a[0], "find initial")?;
        Ok(Value::list(l[..l.len().saturating_sub(1)].to_vec()))
    });
    both(f, "reverse", Exact(1), |a| {
        let mut l = list_arg(&a[0], "find reverse")?.to_vec();
        l.reverse();
        Ok(Value::list(l))
    });
    both(f, "uniq", Exact(1), |a| {
        let mut out: Vec<Value> = Vec::new();
        for v in list_arg(&a[0], "find uniq")? {
            if !out.contains(v) {
                out.push(v.clone());
            }
        }
        Ok(Value::list(out))
    });
    both(f, "compact", Exact(1), |a| {
        let l = list_arg(&a[0], "compact")?;
        Ok(Value::list(
            l.iter().filter(|v| !empty(v)).cloned().collect(),
        ))
    });
    both(f, "without", AtLeast(1), |a| {
        let l = list_arg(&a[0], "find without")?;
        Ok(Value::list(
            l.iter().filter(|v| !a[1..].contains(v)).cloned().collect(),
        ))
    });
    both(f, "has", Exact(2), |a| match &a[1] {
        Value::Nil => Ok(Value::Bool(false)),
        hay => Ok(Value::Bool(list_arg(hay, "find has")?.contains(&a[0]))),
    });
    // Sprig's slice replaces Go's builtin: lenient indexes, lists only.
    both(f, "slice", AtLeast(1), |a| {
        let l = list_arg(&a[0], "slice")?;
        let start = a.get(1).map(to_i64).unwrap_or(0).clamp(0, l.len() as i64) as usize;
        let end = a
            .get(2)
            .map(to_i64)
            .unwrap_or(l.len() as i64)
            .clamp(0, l.len() as i64) as usize;
        if start > end {
            return Err(FuncError::msg(format!(
                "slice bounds out of range [{start}:{end}]"
            )));
        }
        Ok(Value::list(l[start..end].to_vec()))
    });
    f.register("concat", AtLeast(0), |a| {
        let mut out = Vec::new();
        for l in a {
            out.extend_from_slice(list_arg(l, "concat")?);
        }
        Ok(Value::list(out))
    });
    both(f, "chunk", Exact(2), |a| {
        let size = want_int(&a[0], "chunk")?;
        let l = list_arg(&a[1], "chunk")?;
        if size <= 0 {
            return Err(FuncError::msg("chunk size must be positive"));
        }
        Ok(Value::list(
            l.chunks(size as usize)
                .map(|c| Value::List(Arc::new(c.to_vec())))
                .collect(),
        ))
    });
}
