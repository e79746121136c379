//! `values.schema.json` validation with Helm 4's messages (santhosh-tekuri/jsonschema v6:
//! `- at '/replicas': got string, want integer`). A small validator of our own covering the
//! JSON Schema keywords charts use — types, properties, required, additional and pattern
//! properties, items, enum/const, numeric and length bounds, patterns, uniqueItems,
//! allOf/anyOf/oneOf/not, if/then/else, dependentRequired and local `$ref`s — because a
//! general validator would pull in URL loaders we must not use (no network).

use super::chart::Chart;
use super::error::Error;
use super::values::Table;
use serde_json::Value;

/// Deepest `$ref` chain followed before giving up (a schema referring to itself).
const MAX_REF_DEPTH: usize = 64;

/// Helm's `ValidateAgainstSchema`: the chart's schema against its values, then each
/// subchart's against its section, messages grouped by chart name.
pub(crate) fn validate_chart(chart: &Chart, vals: &Table) -> Result<(), Error> {
    let mut report = String::new();
    collect(chart, vals, &mut report)?;
    if report.is_empty() {
        Ok(())
    } else {
        Err(Error::Schema(report))
    }
}

fn collect(chart: &Chart, vals: &Table, report: &mut String) -> Result<(), Error> {
    if let Some(schema) = &chart.schema {
        let schema: Value = serde_json::from_slice(schema).map_err(|e| Error::Parse {
            file: format!("{}/values.schema.json", chart.name()),
            reason: e.to_string(),
        })?;
        let mut errors = Vec::new();
        let root = Value::Object(vals.clone());
        Validator { root: &schema }.check(&schema, &root, "", 0, &mut errors);
        if !errors.is_empty() {
            report.push_str(&format!("{}:\n", chart.name()));
            for e in errors {
                report.push_str(&format!("- at '{}': {}\n", e.0, e.1));
            }
        }
    }
    for sub in &chart.dependencies {
        match vals.get(sub.name()) {
            None | Some(Value::Null) => {}
            Some(Value::Object(v)) => collect(sub, v, report)?,
            Some(other) => report.push_str(&format!(
                "{}:\ninvalid type for values: expected object (map), got {}\n",
                sub.name(),
                go_type(other)
            )),
        }
    }
    Ok(())
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        _ => "<nil>",
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_integer(v: &Value) -> bool {
    v.as_f64().is_some_and(|f| f.fract() == 0.0)
}

fn quoted_list(items: &[Value]) -> String {
    items
        .iter()
        .map(|v| match v {
            Value::String(s) => format!("'{s}'"),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn num(v: &Value) -> String {
    match v.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        Some(f) => format!("{f}"),
        None => v.to_string(),
    }
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

struct Validator<'a> {
    root: &'a Value,
}

type Errors = Vec<(String, String)>;

impl Validator<'_> {
    fn resolve<'s>(&'s self, reference: &str) -> Option<&'s Value> {
        let pointer = reference.strip_prefix('#')?;
        if pointer.is_empty() {
            return Some(self.root);
        }
        self.root.pointer(pointer)
    }

    fn check(&self, schema: &Value, v: &Value, at: &str, depth: usize, errs: &mut Errors) {
        let s = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => {
                errs.push((at.into(), "false schema".into()));
                return;
            }
            Value::Object(s) => s,
            _ => return,
        };
        if let Some(Value::String(r)) = s.get("$ref") {
            match (depth < MAX_REF_DEPTH, self.resolve(r)) {
                (true, Some(target)) => self.check(target, v, at, depth + 1, errs),
                (false, _) => errs.push((at.into(), format!("$ref {r:?} nests too deeply"))),
                (true, None) => errs.push((
                    at.into(),
                    format!("$ref {r:?} cannot be resolved (only local references are supported)"),
                )),
            }
        }
        let mut err = |m: String| errs.push((at.to_string(), m));
        if let Some(t) = s.get("type") {
            let types: Vec<&str> = match t {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            let ok = types.iter().any(|t| match *t {
                "integer" => is_integer(v),
                "number" => v.is_number(),
                other => json_type(v) == other,
            });
            if !types.is_empty() && !ok {
                err(format!("got {}, want {}", json_type(v), types.join(" or ")));
                return;
            }
        }
        if let Some(Value::Array(options)) = s.get("enum")
            && !options.contains(v)
        {
            err(format!("value must be one of {}", quoted_list(options)));
        }
        if let Some(c) = s.get("const")
            && c != v
        {
            err(format!(
                "value must be {}",
                quoted_list(std::slice::from_ref(c))
            ));
        }
        if let Some(x) = v.as_f64() {
            let bound = |k: &str| s.get(k).and_then(Value::as_f64).map(|b| (b, &s[k]));
            if let Some((b, raw)) = bound("minimum")
                && x < b
            {
                err(format!("minimum: got {}, want {}", num(v), num(raw)));
            }
            if let Some((b, raw)) = bound("maximum")
                && x > b
            {
                err(format!("maximum: got {}, want {}", num(v), num(raw)));
            }
            if let Some((b, raw)) = bound("exclusiveMinimum")
                && x <= b
            {
                err(format!(
                    "exclusiveMinimum: got {}, want {}",
                    num(v),
                    num(raw)
                ));
            }
            if let Some((b, raw)) = bound("exclusiveMaximum")
                && x >= b
            {
                err(format!(
                    "exclusiveMaximum: got {}, want {}",
                    num(v),
                    num(raw)
                ));
            }
            if let Some((m, raw)) = bound("multipleOf")
                && m > 0.0
                && (x / m).fract().abs() > 1e-9
            {
                err(format!("{} not multipleOf {}", num(v), num(raw)));
            }
        }
        if let Value::String(text) = v {
            let len = text.chars().count() as u64;
            if let Some(min) = s.get("minLength").and_then(Value::as_u64)
                && len < min
            {
                err(format!("minLength: got {len}, want {min}"));
            }
            if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
                && len > max
            {
                err(format!("maxLength: got {len}, want {max}"));
            }
            if let Some(Value::String(p)) = s.get("pattern") {
                match regex::Regex::new(p) {
                    Ok(re) if !re.is_match(text) => {
                        err(format!("'{text}' does not match pattern '{p}'"))
                    }
                    Ok(_) => {}
                    Err(_) => err(format!("invalid regular expression '{p}' in schema")),
                }
            }
        }
        if let Value::Array(items) = v {
            let n = items.len() as u64;
            if let Some(min) = s.get("minItems").and_then(Value::as_u64)
                && n < min
            {
                err(format!("minItems: got {n}, want {min}"));
            }
            if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
                && n > max
            {
                err(format!("maxItems: got {n}, want {max}"));
            }
            if s.get("uniqueItems") == Some(&Value::Bool(true)) {
                'outer: for i in 0..items.len() {
                    for j in i + 1..items.len() {
                        if items[i] == items[j] {
                            err(format!("items at {i} and {j} are equal"));
                            break 'outer;
                        }
                    }
                }
            }
            let prefix = match s.get("prefixItems") {
                Some(Value::Array(p)) => p.as_slice(),
                _ => &[],
            };
            for (i, item) in items.iter().enumerate() {
                let sub = match (prefix.get(i), s.get("items")) {
                    (Some(p), _) => p,
                    (None, Some(Value::Array(tuple))) => match tuple.get(i) {
                        Some(t) => t,
                        None => continue,
                    },
                    (None, Some(one)) => one,
                    (None, None) => continue,
                };
                self.check(sub, item, &format!("{at}/{i}"), depth, errs);
            }
        }
        if let Value::Object(m) = v {
            let props = match s.get("properties") {
                Some(Value::Object(p)) => Some(p),
                _ => None,
            };
            if let Some(Value::Array(req)) = s.get("required") {
                let missing: Vec<String> = req
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|k| !m.contains_key(*k))
                    .map(|k| format!("'{k}'"))
                    .collect();
                match missing.len() {
                    0 => {}
                    1 => errs.push((at.into(), format!("missing property {}", missing[0]))),
                    _ => errs.push((
                        at.into(),
                        format!("missing properties {}", missing.join(", ")),
                    )),
                }
            }
            if let Some(Value::Object(dep)) = s.get("dependentRequired") {
                for (k, needs) in dep {
                    if m.contains_key(k)
                        && let Value::Array(needs) = needs
                    {
                        for n in needs.iter().filter_map(Value::as_str) {
                            if !m.contains_key(n) {
                                errs.push((
                                    at.into(),
                                    format!("properties '{n}' required, if '{k}' exists"),
                                ));
                            }
                        }
                    }
                }
            }
            let patterns: Vec<(regex::Regex, &Value)> = match s.get("patternProperties") {
                Some(Value::Object(pp)) => pp
                    .iter()
                    .filter_map(|(p, sch)| regex::Regex::new(p).ok().map(|re| (re, sch)))
                    .collect(),
                _ => Vec::new(),
            };
            let mut extra = Vec::new();
            // Sorted keys: deterministic messages whatever order the values came in.
            let mut keys: Vec<(&String, &Value)> = m.iter().collect();
            keys.sort_by(|a, b| a.0.cmp(b.0));
            for (k, item) in keys {
                let path = format!("{at}/{}", escape_pointer(k));
                let mut matched = false;
                if let Some(sub) = props.and_then(|p| p.get(k)) {
                    matched = true;
                    self.check(sub, item, &path, depth, errs);
                }
                for (re, sub) in &patterns {
                    if re.is_match(k) {
                        matched = true;
                        self.check(sub, item, &path, depth, errs);
                    }
                }
                if !matched {
                    match s.get("additionalProperties") {
                        Some(Value::Bool(false)) => extra.push(format!("'{k}'")),
                        Some(sub @ Value::Object(_)) => self.check(sub, item, &path, depth, errs),
                        _ => {}
                    }
                }
            }
            if !extra.is_empty() {
                let noun = if extra.len() == 1 {
                    "property"
                } else {
                    "properties"
                };
                errs.push((
                    at.into(),
                    format!("additional {noun} {} not allowed", extra.join(", ")),
                ));
            }
        }
        let sub_ok = |schema: &Value| {
            let mut e = Vec::new();
            self.check(schema, v, at, depth, &mut e);
            e.is_empty()
        };
        if let Some(Value::Array(all)) = s.get("allOf") {
            for sub in all {
                self.check(sub, v, at, depth, errs);
            }
        }
        if let Some(Value::Array(any)) = s.get("anyOf")
            && !any.iter().any(sub_ok)
        {
            errs.push((at.into(), "anyOf failed".into()));
        }
        if let Some(Value::Array(one)) = s.get("oneOf") {
            let ok: Vec<usize> = one
                .iter()
                .enumerate()
                .filter(|(_, s)| sub_ok(s))
                .map(|(i, _)| i)
                .collect();
            match ok.len() {
                1 => {}
                0 => errs.push((at.into(), "oneOf failed, none matched".into())),
                _ => errs.push((
                    at.into(),
                    format!("oneOf failed, subschemas {} and {} matched", ok[0], ok[1]),
                )),
            }
        }
        if let Some(not) = s.get("not")
            && sub_ok(not)
        {
            errs.push((at.into(), "not failed".into()));
        }
        if let Some(cond) = s.get("if") {
            let branch = if sub_ok(cond) {
                s.get("then")
            } else {
                s.get("else")
            };
            if let Some(b) = branch {
                self.check(b, v, at, depth, errs);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(schema: Value, v: Value) -> Vec<String> {
        let mut e = Vec::new();
        Validator { root: &schema }.check(&schema, &v, "", 0, &mut e);
        e.into_iter()
            .map(|(at, m)| format!("- at '{at}': {m}"))
            .collect()
    }

    #[test]
    fn messages_as_helm_4_prints_them() {
        let schema = json!({
            "type": "object",
            "required": ["image", "replicas"],
            "properties": {
                "image": {"type": "string"},
                "replicas": {"type": "integer", "minimum": 1},
                "name": {"type": "string", "pattern": "^[a-z]+$"},
                "mode": {"enum": ["a", "b"]},
                "ports": {"type": "array", "items": {"$ref": "#/$defs/port"}}
            },
            "additionalProperties": false,
            "$defs": {"port": {"type": "integer", "maximum": 65535}}
        });
        assert_eq!(
            errors(
                schema.clone(),
                json!({"replicas": "3", "name": "X", "mode": "c", "ports": [80, 70000], "extra": 1})
            ),
            vec![
                "- at '': missing property 'image'",
                "- at '/mode': value must be one of 'a', 'b'",
                "- at '/name': 'X' does not match pattern '^[a-z]+$'",
                "- at '/ports/1': maximum: got 70000, want 65535",
                "- at '/replicas': got string, want integer",
                "- at '': additional property 'extra' not allowed",
            ]
        );
        assert!(errors(schema, json!({"image": "x", "replicas": 2.0})).is_empty());
    }

    #[test]
    fn self_referencing_schemas_stop() {
        let schema = json!({"$ref": "#"});
        assert!(!errors(schema, json!(1)).is_empty());
    }
}
