//! Values: reading YAML as Helm does (through JSON, so every number is a float64), and
//! Helm's three ways of combining tables — `MergeMaps` for values files, `coalesce` for a
//! chart's defaults under the user's values (where `null` deletes a key), and `merge`
//! (coalescing without deleting) for import-values.

use serde_json::{Map, Value};

/// A values table (Go's `map[string]interface{}`).
pub type Table = Map<String, Value>;

/// Parses a values file as Helm's `LoadValues`: one table per YAML document, later
/// documents merged over earlier ones; numbers become floats as `sigs.k8s.io/yaml` makes
/// them.
pub(crate) fn parse_values(text: &str) -> Result<Table, String> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| e.to_string())?;
    let mut out = Table::new();
    for doc in docs {
        match doc {
            Value::Null => {}
            Value::Object(m) => {
                let Value::Object(m) = floats(Value::Object(m)) else {
                    unreachable!("floats keeps the shape")
                };
                out = merge_maps(out, m);
            }
            other => {
                return Err(format!(
                    "error unmarshaling JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                    json_kind(&other)
                ));
            }
        }
    }
    Ok(out)
}

/// [`parse_values`], remembered by exact text: a fleet renders the same few values files
/// (one per region, say) for thousands of releases, and parsing them was ≈ 2% of the hub.
/// Parsing is pure; errors are not kept, and files over [`REMEMBERED_TEXT`] bytes are
/// parsed each time so the memo stays small.
pub(crate) fn parse_values_remembered(text: &str) -> Result<Table, String> {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    /// Tables kept; the memo is cleared when full.
    const KEPT: usize = 256;
    static PARSED: LazyLock<Mutex<HashMap<String, Table>>> = LazyLock::new(Default::default);

    if text.len() > REMEMBERED_TEXT {
        return parse_values(text);
    }
    let lock = || PARSED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(table) = lock().get(text) {
        return Ok(table.clone());
    }
    let table = parse_values(text)?;
    let mut parsed = lock();
    if parsed.len() >= KEPT {
        parsed.clear();
    }
    parsed.insert(text.to_string(), table.clone());
    Ok(table)
}

/// Values files up to this size are remembered by [`parse_values_remembered`].
const REMEMBERED_TEXT: usize = 64 * 1024;

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        _ => "object",
    }
}

/// Every number as a float64, as Go's JSON decoding into `interface{}` gives.
pub(crate) fn floats(v: Value) -> Value {
    match v {
        Value::Number(n) => match n.as_f64().and_then(serde_json::Number::from_f64) {
            Some(f) => Value::Number(f),
            None => Value::Number(n),
        },
        Value::Array(a) => Value::Array(a.into_iter().map(floats).collect()),
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, floats(v))).collect()),
        other => other,
    }
}

/// Helm's `loader.MergeMaps`: `b` over `a`, recursing where both sides are tables.
pub(crate) fn merge_maps(mut a: Table, b: Table) -> Table {
    for (k, v) in b {
        match (a.get_mut(&k), v) {
            (Some(Value::Object(av)), Value::Object(bv)) => {
                let merged = merge_maps(std::mem::take(av), bv);
                *av = merged;
            }
            (_, v) => {
                a.insert(k, v);
            }
        }
    }
    a
}

/// Helm's `coalesceTablesFullKey`: fills `dst` with what `src` has and `dst` lacks.
/// Without `merge`, a `null` in `dst` deletes the key.
pub(crate) fn coalesce_tables(dst: &mut Table, src: &Table, merge: bool) {
    // Helm first copies `dst`'s nulls into `src`; the only effect is that a `dst` null
    // meets the `src` value below, so nothing is cloned for it.
    for (k, v) in src {
        match dst.get_mut(k) {
            Some(Value::Null) => {
                if !merge && !v.is_null() {
                    dst.remove(k);
                }
            }
            None => {
                dst.insert(k.clone(), v.clone());
            }
            Some(Value::Object(d)) => {
                if let Value::Object(s) = v {
                    coalesce_tables(d, s, merge);
                }
            }
            Some(_) => {}
        }
    }
}

/// Helm's `cleanNilValues`.
pub(crate) fn clean_nil(m: &mut Table) {
    m.retain(|_, v| !v.is_null());
    for v in m.values_mut() {
        if let Value::Object(sub) = v {
            clean_nil(sub);
        }
    }
}

/// The table at a dotted path (`a.b.c`), as Go's `Values.Table`.
pub(crate) fn table_at<'a>(v: &'a Table, path: &str) -> Option<&'a Table> {
    let mut cur = v;
    for part in path.split('.') {
        match cur.get(part) {
            Some(Value::Object(m)) => cur = m,
            _ => return None,
        }
    }
    Some(cur)
}

/// The value at a dotted path, as Go's `Values.PathValue` (the last element must be a
/// plain key of a table).
pub(crate) fn path_value<'a>(v: &'a Table, path: &str) -> Option<&'a Value> {
    let (table, key) = match path.rsplit_once('.') {
        Some((t, k)) => (table_at(v, t)?, k),
        None => (v, path),
    };
    table.get(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(v: Value) -> Table {
        match v {
            Value::Object(m) => m,
            _ => panic!("not a table"),
        }
    }

    #[test]
    fn numbers_become_floats_and_documents_merge() {
        let v = parse_values("a: 1\nb: {c: 2}\n---\nb: {d: x}\n").unwrap();
        for _ in 0..2 {
            let remembered = parse_values_remembered("a: 1\nb: {c: 2}\n---\nb: {d: x}\n");
            assert_eq!(
                remembered.unwrap(),
                v,
                "the same table, first parse or remembered"
            );
            assert!(
                parse_values_remembered("- a\n").is_err(),
                "errors are not kept"
            );
        }
        assert!(v["a"].as_f64().is_some() && v["a"].as_i64().is_none());
        assert_eq!(v["b"]["d"], "x");
        assert!(parse_values("- a\n").is_err());
    }

    #[test]
    fn coalesce_deletes_nulls_but_merge_keeps_them() {
        let src = t(json!({"a": 1, "b": {"c": 2, "d": 3}}));
        let mut dst = t(json!({"b": {"c": null}, "e": 5}));
        coalesce_tables(&mut dst, &src, false);
        assert_eq!(Value::Object(dst), json!({"a": 1, "b": {"d": 3}, "e": 5}));
        let mut dst = t(json!({"b": {"c": null}}));
        coalesce_tables(&mut dst, &src, true);
        assert_eq!(
            Value::Object(dst),
            json!({"a": 1, "b": {"c": null, "d": 3}})
        );
    }
}

#[cfg(test)]
mod yaml_features {
    use super::*;

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let v = parse_values("base: &b {a: 1, b: 2}\nother:\n  <<: *b\n  b: 3\nref: *b\n").unwrap();
        assert_eq!(v["other"]["a"].as_f64(), Some(1.0));
        assert_eq!(v["other"]["b"].as_f64(), Some(3.0));
        assert_eq!(v["ref"]["b"].as_f64(), Some(2.0));
    }

    #[test]
    fn yaml_1_1_scalars_as_go_yaml_v2_reads_them() {
        let v = parse_values("a: yes\nb: off\nc: \"yes\"\nd: 0x10\n").unwrap();
        assert_eq!(v["a"], true);
        assert_eq!(v["b"], false);
        assert_eq!(v["c"], "yes");
        assert_eq!(v["d"].as_f64(), Some(16.0));
    }

    #[test]
    fn non_string_keys_become_strings() {
        // ingress-nginx's `tcp: {8080: "ns/svc:80"}`; sigs.k8s.io/yaml stringifies keys.
        let v = parse_values("tcp:\n  8080: \"default/svc:80\"\n  true: x\n").unwrap();
        assert_eq!(v["tcp"]["8080"], "default/svc:80");
        assert_eq!(v["tcp"]["true"], "x");
    }
}
