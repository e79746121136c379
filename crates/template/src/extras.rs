//! The functions Argo CD adds for ApplicationSet templates and those Helm adds for charts.

use crate::error::FuncError;
use crate::funcs::{Arity, Functions};
use crate::gojson;
use crate::sprig::{strval, want_str};
use crate::value::Value;
use crate::yaml;
use std::collections::BTreeMap;

/// Argo CD's ApplicationSet functions (applicationset/utils/utils.go): Sprig without `env`,
/// `expandenv` and `getHostByName`, plus `normalize`, `slugify`, `toYaml`, `fromYaml`,
/// `fromYamlArray`.
pub(crate) fn register_argocd(f: &mut Functions) {
    use Arity::{AtLeast, Exact};
    f.register("normalize", Exact(1), |a| {
        Ok(Value::from(sanitize_name(want_str(&a[0], "normalize")?)))
    });
    f.register("slugify", AtLeast(1), |a| {
        let (mut max, mut smart) = (50usize, true);
        let name = want_str(&a[a.len() - 1], "slugify")?;
        if a.len() > 1 {
            max = crate::sprig::want_int(&a[0], "slugify")?.max(0) as usize;
        }
        if a.len() > 2 {
            smart = a[1].is_true();
        }
        Ok(Value::from(slugify(name, max, smart)))
    });
    f.register("toYaml", Exact(1), |a| Ok(Value::from(trimmed_yaml(&a[0]))));
    f.register("fromYaml", Exact(1), |a| {
        match yaml::from_yaml(want_str(&a[0], "fromYaml")?).map_err(FuncError::msg)? {
            Value::Nil => Ok(Value::map(BTreeMap::new())),
            v @ Value::Map(_) => Ok(v),
            other => Err(FuncError::msg(format!(
                "error unmarshaling JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                json_kind(&other)
            ))),
        }
    });
    f.register("fromYamlArray", Exact(1), |a| {
        match yaml::from_yaml(want_str(&a[0], "fromYamlArray")?).map_err(FuncError::msg)? {
            Value::Nil => Ok(Value::list(Vec::new())),
            v @ Value::List(_) => Ok(v),
            other => Err(FuncError::msg(format!(
                "error unmarshaling JSON: json: cannot unmarshal {} into Go value of type []interface {{}}",
                json_kind(&other)
            ))),
        }
    });
}

/// Helm's functions (pkg/engine/funcs.go and engine.go): Sprig without `env`/`expandenv`,
/// plus `include`, `tpl`, `required`, `toYaml`, `mustToYaml`, `fromYaml`, `fromYamlArray`,
/// `toJson`, `mustToJson`, `fromJson`, `fromJsonArray`, `toToml`, `lookup`. Parse errors in the
/// `from*` functions are reported Helm's way: in an `Error` key (or element) of the result.
pub(crate) fn register_helm(f: &mut Functions) {
    use Arity::Exact;
    f.register("toYaml", Exact(1), |a| Ok(Value::from(trimmed_yaml(&a[0]))));
    f.register("mustToYaml", Exact(1), |a| {
        Ok(Value::from(trimmed_yaml(&a[0])))
    });
    f.register("fromYaml", Exact(1), |a| {
        Ok(match yaml::from_yaml(&strval(&a[0])) {
            Ok(v @ Value::Map(_)) => v,
            Ok(Value::Nil) => Value::map(BTreeMap::new()),
            Ok(other) => error_map(format!(
                "error unmarshaling JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                json_kind(&other)
            )),
            Err(e) => error_map(e),
        })
    });
    f.register("fromYamlArray", Exact(1), |a| {
        Ok(match yaml::from_yaml(&strval(&a[0])) {
            Ok(v @ Value::List(_)) => v,
            Ok(Value::Nil) => Value::list(Vec::new()),
            Ok(other) => Value::list(vec![Value::from(format!(
                "error unmarshaling JSON: json: cannot unmarshal {} into Go value of type []interface {{}}",
                json_kind(&other)
            ))]),
            Err(e) => Value::list(vec![Value::from(e)]),
        })
    });
    f.register("fromJson", Exact(1), |a| {
        Ok(match gojson::decode(&strval(&a[0])) {
            Ok(v @ Value::Map(_)) => v,
            Ok(other) => error_map(format!(
                "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                json_kind(&other)
            )),
            Err(e) => error_map(e),
        })
    });
    f.register("fromJsonArray", Exact(1), |a| {
        Ok(match gojson::decode(&strval(&a[0])) {
            Ok(v @ Value::List(_)) => v,
            Ok(other) => Value::list(vec![Value::from(format!(
                "json: cannot unmarshal {} into Go value of type []interface {{}}",
                json_kind(&other)
            ))]),
            Err(e) => Value::list(vec![Value::from(e)]),
        })
    });
    f.register("toToml", Exact(1), |a| Ok(Value::from(to_toml(&a[0]))));
    f.register("required", Exact(2), |a| match &a[1] {
        Value::Nil => Err(FuncError::msg(strval(&a[0]))),
        Value::String(s) if s.is_empty() => Err(FuncError::msg(strval(&a[0]))),
        v => Ok(v.clone()),
    });
    // No cluster at render time: Helm's `helm template` returns an empty map.
    f.register("lookup", Exact(4), |_| Ok(Value::map(BTreeMap::new())));
    f.register_with_context("include", Exact(2), |ctx, a| {
        let name = want_str(&a[0], "include")?;
        Ok(Value::from(ctx.include(name, &a[1])?))
    });
    f.register_with_context("tpl", Exact(2), |ctx, a| {
        let text = want_str(&a[0], "tpl")?;
        Ok(Value::from(ctx.tpl(text, &a[1])?))
    });
}

fn error_map(msg: String) -> Value {
    let mut m = BTreeMap::new();
    m.insert("Error".to_string(), Value::from(msg));
    Value::map(m)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::List(_) => "array",
        Value::Map(_) => "object",
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        Value::Int(_) | Value::Float(_) => "number",
        _ => "null",
    }
}

/// Helm's and Argo CD's `toYaml`: `yaml.Marshal` with the final newline trimmed.
fn trimmed_yaml(v: &Value) -> String {
    let s = yaml::to_yaml(v);
    s.strip_suffix('\n').unwrap_or(&s).to_string()
}

/// Argo CD's `SanitizeName`: lower-case, anything outside `[-a-z0-9.]` becomes `-`, at most
/// 253 bytes, `-` and `.` trimmed from both ends.
pub(crate) fn sanitize_name(name: &str) -> String {
    let lower = name.to_lowercase();
    let mut s: String = lower
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if s.len() > 253 {
        s.truncate(253);
    }
    s.trim_matches(['-', '.']).to_string()
}

/// Argo CD's `slugify` (gosimple/slug over the normalized name): without smart truncation
/// the name is cut to `max` first; then characters outside `[a-z0-9_-]` become `-`, dashes
/// collapse and `-`/`_` are trimmed; with smart truncation a longer slug is cut at the last
/// `-` at or before `max` (or at `max` when there is none).
fn slugify(name: &str, max: usize, smart: bool) -> String {
    let mut sanitized = sanitize_name(name);
    if !smart && max > 0 && sanitized.len() >= max {
        sanitized.truncate(max);
    }
    let mut slug = String::new();
    for c in sanitized.chars() {
        if c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || c == '_'
            || c == '-' && !slug.ends_with('-')
        {
            slug.push(c);
        } else if c != '-' && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches(['-', '_']).to_string();
    if !smart || max == 0 || slug.len() <= max {
        return slug;
    }
    match slug[..=max].rfind('-') {
        Some(i) => slug[..i].to_string(),
        None => slug[..max].to_string(),
    }
}

/// A TOML document for a map (BurntSushi/toml's encoder layout: plain keys first, then
/// tables and arrays of tables, keys sorted).
fn to_toml(v: &Value) -> String {
    let Value::Map(m) = v else {
        return "toml: top-level values must be Go maps or structs".into();
    };
    let mut out = String::new();
    toml_table(&mut out, m, &mut Vec::new());
    out
}

fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        crate::gofmt::quote(k)
    }
}

fn toml_value(v: &Value) -> String {
    match v {
        Value::String(s) => crate::gofmt::quote(s),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.fract() == 0.0 && f.is_finite() => format!("{f:.1}"),
        Value::Float(f) => crate::gofmt::format_float(*f, 'g', None),
        Value::Bool(b) => b.to_string(),
        Value::List(l) => format!(
            "[{}]",
            l.iter().map(toml_value).collect::<Vec<_>>().join(", ")
        ),
        Value::Map(m) => format!(
            "{{{}}}",
            m.read()
                .iter()
                .map(|(k, v)| format!("{} = {}", toml_key(k), toml_value(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Time(t) => t.to_rfc3339(),
        Value::Nil => "\"\"".into(),
    }
}

fn toml_table(out: &mut String, m: &crate::value::Map, path: &mut Vec<String>) {
    let entries = m.entries();
    let indent = "  ".repeat(path.len().saturating_sub(1));
    for (k, v) in &entries {
        let is_table_array = matches!(v, Value::List(l) if !l.is_empty() && l.iter().all(|x| matches!(x, Value::Map(_))));
        if matches!(v, Value::Map(_) | Value::Nil) || is_table_array {
            continue;
        }
        out.push_str(&format!("{indent}{} = {}\n", toml_key(k), toml_value(v)));
    }
    for (k, v) in &entries {
        match v {
            Value::Map(sub) => {
                path.push(toml_key(k));
                let ind = "  ".repeat(path.len() - 1);
                out.push_str(&format!("\n{ind}[{}]\n", path.join(".")));
                toml_table(out, sub, path);
                path.pop();
            }
            Value::List(l) if !l.is_empty() && l.iter().all(|x| matches!(x, Value::Map(_))) => {
                path.push(toml_key(k));
                let ind = "  ".repeat(path.len() - 1);
                for item in l.iter() {
                    if let Value::Map(sub) = item {
                        out.push_str(&format!("\n{ind}[[{}]]\n", path.join(".")));
                        toml_table(out, sub, path);
                    }
                }
                path.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argocd_name_helpers() {
        assert_eq!(sanitize_name("Prod_EU.cluster-"), "prod-eu.cluster");
        assert_eq!(
            slugify("Hello World.Example", 50, true),
            "hello-world-example"
        );
        assert_eq!(slugify("aaaa-bbbb-cccc", 10, true), "aaaa-bbbb");
        assert_eq!(slugify("aaaa-bbbb-cccc", 10, false), "aaaa-bbbb");
        assert_eq!(slugify("aaaaaaaaaaaaaa", 10, true), "aaaaaaaaaa");
    }
}
