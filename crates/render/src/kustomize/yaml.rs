//! Reading YAML streams into JSON values, with limits that stop resource-amplifying
//! input (alias bombs, deep nesting, document storms) before it costs memory.

use serde_json::Value;

use super::error::{Error, Result};

/// How many documents one file may hold.
const MAX_DOCUMENTS: usize = 100_000;

/// The documents of a YAML stream, empty documents dropped.
pub(crate) fn parse_documents(file: &str, bytes: &[u8]) -> Result<Vec<Value>> {
    let text = std::str::from_utf8(bytes).map_err(|e| Error::Yaml {
        file: file.to_string(),
        reason: format!("not UTF-8: {e}"),
    })?;
    let mut budget = serde_saphyr::Budget::default();
    budget.max_documents = MAX_DOCUMENTS;
    let options = serde_saphyr::options! {
        budget: Some(budget),
        // kustomize reads YAML 1.2 (go-yaml v3): `yes`, `on` and friends are strings.
        strict_booleans: true,
        // Later keys win, as in the YAML-to-JSON step kustomize decodes through.
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins,
    };
    let docs: Vec<Value> =
        serde_saphyr::from_multiple_with_options(text, options).map_err(|e| Error::Yaml {
            file: file.to_string(),
            reason: first_line(&e.to_string()),
        })?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// One document that must be a mapping (a kustomization, a config file).
pub(crate) fn parse_mapping(file: &str, bytes: &[u8]) -> Result<serde_json::Map<String, Value>> {
    let mut docs = parse_documents(file, bytes)?;
    match docs.len() {
        0 => Ok(serde_json::Map::new()),
        1 => match docs.pop() {
            Some(Value::Object(m)) => Ok(m),
            _ => Err(Error::Yaml {
                file: file.to_string(),
                reason: "expected a mapping".to_string(),
            }),
        },
        n => Err(Error::Yaml {
            file: file.to_string(),
            reason: format!("expected one document, found {n}"),
        }),
    }
}

fn first_line(s: &str) -> String {
    // saphyr's messages carry a source snippet on later lines; the first says what.
    s.lines().next().unwrap_or(s).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_is_a_string_and_empty_documents_drop() {
        let docs = parse_documents("f", b"---\na: yes\nb: 1\n---\n---\nc: true\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["a"], "yes");
        assert_eq!(docs[0]["b"], 1);
        assert_eq!(docs[1]["c"], true);
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            s.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse_documents("bomb.yaml", s.as_bytes()).unwrap_err();
        assert!(
            err.to_string().starts_with("bomb.yaml: invalid YAML"),
            "{err}"
        );
    }
}
