//! Sprig dictionary functions. Maps are shared by reference, so `set`, `unset` and `merge*`
//! change the map every holder sees, as in Go.

use super::{strval, want_str};
use crate::error::FuncError;
use crate::funcs::{Arity, Functions};
use crate::value::{Map, Value};
use std::collections::BTreeMap;

fn dict_arg<'a>(v: &'a Value, func: &str) -> Result<&'a Map, FuncError> {
    match v {
        Value::Map(m) => Ok(m),
        other => Err(FuncError::msg(format!(
            "{func}: wrong type for value; expected map[string]interface {{}}; got {}",
            other.go_type()
        ))),
    }
}

pub(super) fn register(f: &mut Functions) {
    use Arity::{AtLeast, Exact};
    f.register("dict", AtLeast(0), |a| {
        let mut m = BTreeMap::new();
        for pair in a.chunks(2) {
            m.insert(
                strval(&pair[0]),
                pair.get(1).cloned().unwrap_or_else(|| Value::from("")),
            );
        }
        Ok(Value::map(m))
    });
    f.register("get", Exact(2), |a| {
        let m = dict_arg(&a[0], "get")?;
        Ok(m.get(want_str(&a[1], "get")?)
            .unwrap_or_else(|| Value::from("")))
    });
    f.register("set", Exact(3), |a| {
        let m = dict_arg(&a[0], "set")?;
        m.insert(want_str(&a[1], "set")?.to_string(), a[2].clone());
        Ok(a[0].clone())
    });
    f.register("unset", Exact(2), |a| {
        let m = dict_arg(&a[0], "unset")?;
        m.remove(want_str(&a[1], "unset")?);
        Ok(a[0].clone())
    });
    f.register("hasKey", Exact(2), |a| {
        let m = dict_arg(&a[0], "hasKey")?;
        Ok(Value::Bool(m.contains_key(want_str(&a[1], "hasKey")?)))
    });
    f.register("pluck", AtLeast(1), |a| {
        let key = want_str(&a[0], "pluck")?;
        let mut out = Vec::new();
        for d in &a[1..] {
            if let Some(v) = dict_arg(d, "pluck")?.get(key) {
                out.push(v);
            }
        }
        Ok(Value::list(out))
    });
    f.register("keys", AtLeast(0), |a| {
        // Go's map order is random; sorted is one of the orders Go may produce.
        let mut out = Vec::new();
        for d in a {
            out.extend(
                dict_arg(d, "keys")?
                    .read()
                    .keys()
                    .map(|k| Value::from(k.as_str())),
            );
        }
        Ok(Value::list(out))
    });
    f.register("values", Exact(1), |a| {
        Ok(Value::list(
            dict_arg(&a[0], "values")?
                .read()
                .values()
                .cloned()
                .collect(),
        ))
    });
    f.register("pick", AtLeast(1), |a| {
        let m = dict_arg(&a[0], "pick")?;
        let mut out = BTreeMap::new();
        for k in &a[1..] {
            let k = want_str(k, "pick")?;
            if let Some(v) = m.get(k) {
                out.insert(k.to_string(), v);
            }
        }
        Ok(Value::map(out))
    });
    f.register("omit", AtLeast(1), |a| {
        let m = dict_arg(&a[0], "omit")?;
        let drop: Vec<&str> = a[1..]
            .iter()
            .map(|k| want_str(k, "omit"))
            .collect::<Result<_, _>>()?;
        Ok(Value::map(
            m.read()
                .iter()
                .filter(|(k, _)| !drop.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ))
    });
    f.register("dig", AtLeast(3), |a| {
        let n = a.len();
        let mut cur = dict_arg(&a[n - 1], "dig")?.clone();
        let default = &a[n - 2];
        let keys = &a[..n - 2];
        for (i, k) in keys.iter().enumerate() {
            let Some(step) = cur.get(want_str(k, "dig")?) else {
                return Ok(default.clone());
            };
            if i + 1 == keys.len() {
                return Ok(step);
            }
            cur = dict_arg(&step, "dig")?.clone();
        }
        Ok(default.clone())
    });
    for name in ["merge", "mustMerge"] {
        f.register(name, AtLeast(1), |a| {
            let dst = dict_arg(&a[0], "merge")?;
            for src in &a[1..] {
                merge(dst, dict_arg(src, "merge")?, false);
            }
            Ok(a[0].clone())
        });
    }
    for name in ["mergeOverwrite", "mustMergeOverwrite"] {
        f.register(name, AtLeast(1), |a| {
            let dst = dict_arg(&a[0], "mergeOverwrite")?;
            for src in &a[1..] {
                merge(dst, dict_arg(src, "mergeOverwrite")?, true);
            }
            Ok(a[0].clone())
        });
    }
    for name in ["deepCopy", "mustDeepCopy"] {
        f.register(name, Exact(1), |a| Ok(deep_copy(&a[0])));
    }
}

/// mergo's map merge: nested maps merge recursively (in place, so a map shared with the
/// source is changed, as in Go); other values fill empty destination keys, or every key
/// when overwriting.
fn merge(dst: &Map, src: &Map, overwrite: bool) {
    if dst.ptr_eq(src) {
        return;
    }
    for (k, sv) in src.entries() {
        match (dst.get(&k), &sv) {
            (Some(Value::Map(dm)), Value::Map(sm)) => merge(&dm, sm, overwrite),
            (Some(dv), _) if dv.is_true() && !overwrite => {}
            _ => dst.insert(k, sv),
        }
    }
}

/// A copy sharing nothing with the original.
pub(crate) fn deep_copy(v: &Value) -> Value {
    match v {
        Value::List(l) => Value::list(l.iter().map(deep_copy).collect()),
        Value::Map(m) => Value::map(
            m.read()
                .iter()
                .map(|(k, v)| (k.clone(), deep_copy(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}
