//! YAML as Argo CD reads it (`sigs.k8s.io/yaml` over go-yaml v2): YAML 1.1 booleans
//! (`yes`, `on`), duplicate keys refused, only the first document of a stream. serde-saphyr's
//! default budget bounds alias expansion and nesting, so hostile files fail instead of
//! exhausting memory.

use serde_json::Value;

/// Most bytes of YAML one file may have (git generator files, `elementsYaml`).
pub const MAX_YAML_BYTES: usize = 8 << 20;

/// The first document of `text` as JSON (`null` when there is none).
pub fn parse_first(text: &str) -> Result<Value, String> {
    if text.len() > MAX_YAML_BYTES {
        return Err(format!(
            "file of {} bytes exceeds the limit of {MAX_YAML_BYTES} bytes",
            text.len()
        ));
    }
    // Generator inputs are small configuration files: a tenth of saphyr's default budget
    // still leaves room for 100,000 nodes and stops alias bombs ten times sooner.
    let mut budget = serde_saphyr::Budget::default();
    budget.max_nodes = 100_000;
    budget.max_events = 200_000;
    let mut options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        budget: Some(budget),
    };
    options.alias_limits.max_total_replayed_events = 100_000;
    let docs: Vec<Value> = serde_saphyr::from_multiple_with_options(text, options)
        .map_err(|e| first_line(&e.to_string()))?;
    Ok(docs.into_iter().next().unwrap_or(Value::Null))
}

/// Parses YAML or JSON (a leading `{` means JSON, as Argo CD's `ConvertYAMLToJSON` decides).
pub fn parse_yaml_or_json(text: &str) -> Result<Value, String> {
    if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| e.to_string())
    } else {
        parse_first(text)
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_one_one_booleans_and_first_document() {
        assert_eq!(
            parse_first("a: yes\nb: 1\n---\nc: 2\n").unwrap(),
            json!({"a": true, "b": 1})
        );
        assert_eq!(parse_first("").unwrap(), Value::Null);
        assert!(parse_first("a: 1\na: 2\n").is_err());
    }

    #[test]
    fn oversized_and_deep_input_fail() {
        let big = "a: b\n".repeat(MAX_YAML_BYTES / 5 + 1);
        assert!(parse_first(&big).unwrap_err().contains("exceeds the limit"));
        let deep = format!("{}1{}", "[".repeat(1000), "]".repeat(1000));
        assert!(parse_first(&deep).is_err());
    }

    #[test]
    fn alias_bombs_fail() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        assert!(parse_first(&text).is_err());
    }
}
