//! jq path expressions, as Argo CD's `jqPathExpressions` read them: the fields of an object
//! an expression such as `.spec.containers[] | select(.name == "istio-proxy") | .image`
//! names. Argo CD runs `del(EXPR)` with gojq; [`JqPath::paths`] gives what `path(EXPR)`
//! yields, which is what `del` removes.
//!
//! The language is jq's (the jaq interpreter), narrowed to what always ends: an expression
//! that names a function outside [`ALLOWED_WORDS`] (`def`, `recurse`, `repeat`, `range`,
//! `while`, `reduce`, `env`, …), assigns (`=`, `|=`, …), multiplies (`"x" * 1e9`) or reads
//! `$ENV` is refused when compiled, naming the word. Argo CD bounds gojq with a one-second
//! timeout instead; an interpreter thread cannot be stopped here, so nothing unbounded is
//! let in. Expressions are compiled once and kept.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use jaq_core::load::lex::{Lexer, StrPart, Tok, Token};
use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Native, Vars, compile::Filter, data::JustLut};
use jaq_json::Val;
use serde_json::Value;

/// Longest expression accepted, in bytes.
pub const MAX_EXPRESSION_LEN: usize = 4096;

/// Most paths one expression may name in one object.
pub const MAX_PATHS: usize = 100_000;

/// The words (keywords and functions) an expression may use: selection, comparison and
/// string tests, nothing that recurses without bound or builds values of unbounded size.
pub const ALLOWED_WORDS: &[&str] = &[
    // keywords
    "and",
    "or",
    "not",
    "if",
    "then",
    "elif",
    "else",
    "end",
    "as",
    "try",
    "catch",
    "null",
    "true",
    "false",
    // selection
    "select",
    "empty",
    "error",
    "first",
    "last",
    "nth",
    "limit",
    "isempty",
    "getpath",
    "paths",
    "leaf_paths",
    "any",
    "all",
    "map",
    "map_values",
    "to_entries",
    "from_entries",
    "with_entries",
    "keys",
    "keys_unsorted",
    "values",
    "has",
    "in",
    "inside",
    "contains",
    // types
    "type",
    "arrays",
    "objects",
    "iterables",
    "booleans",
    "numbers",
    "strings",
    "nulls",
    "scalars",
    "length",
    "utf8bytelength",
    // strings
    "startswith",
    "endswith",
    "ltrimstr",
    "rtrimstr",
    "test",
    "ascii_downcase",
    "ascii_upcase",
    "tostring",
    "tonumber",
    "tojson",
    "split",
    "join",
    "index",
    "rindex",
    "indices",
];

/// Symbols refused: assignments and `*` (which repeats a string any number of times).
const REFUSED_SYMBOLS: &[&str] = &["=", "|=", "+=", "-=", "*=", "/=", "%=", "//=", "*"];

/// One step of a path: an object key or a list index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathSeg {
    /// A map key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// Why an expression cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct JqError {
    /// What is wrong, e.g. `jq function "repeat" is not allowed …`.
    pub reason: String,
}

type JqFilter = Filter<Native<JustLut<Val>>>;

/// A compiled jq path expression.
pub struct JqPath {
    filter: JqFilter,
}

impl std::fmt::Debug for JqPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JqPath").finish_non_exhaustive()
    }
}

impl JqPath {
    /// Compiles `expression` (or returns the copy compiled before).
    pub fn compile(expression: &str) -> Result<Arc<JqPath>, JqError> {
        /// Compiled expressions kept; cleared when full (a hub's rules are few).
        const KEPT: usize = 512;
        static COMPILED: LazyLock<Mutex<HashMap<String, Arc<JqPath>>>> =
            LazyLock::new(Default::default);
        if let Some(kept) = lock(&COMPILED).get(expression) {
            return Ok(kept.clone());
        }
        let compiled = Arc::new(compile(expression)?);
        let mut kept = lock(&COMPILED);
        if kept.len() >= KEPT {
            kept.clear();
        }
        kept.insert(expression.to_string(), compiled.clone());
        Ok(compiled)
    }

    /// The paths `path(EXPR)` yields on `value` that exist in it, the whole object (`.`)
    /// left out. An error while running (`.spec[]` on a string, say) is returned: Argo CD
    /// then skips the expression for this object.
    pub fn paths(&self, value: &Value) -> Result<Vec<Vec<PathSeg>>, JqError> {
        use serde::Deserialize as _;
        let input = Val::deserialize(value).map_err(|e| JqError {
            reason: format!("cannot read the object: {e}"),
        })?;
        let ctx = Ctx::<JustLut<Val>>::new(&self.filter.lut, Vars::new([]));
        let mut paths = Vec::new();
        for out in self.filter.id.run((ctx, input)) {
            let out = jaq_core::unwrap_valr(out).map_err(|e| JqError {
                reason: e.to_string(),
            })?;
            if paths.len() >= MAX_PATHS {
                return Err(JqError {
                    reason: format!("the expression names more than {MAX_PATHS} paths"),
                });
            }
            paths.extend(
                existing_paths(value, &out)
                    .into_iter()
                    .filter(|path| !path.is_empty()),
            );
        }
        paths.sort();
        paths.dedup();
        Ok(paths)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn compile(expression: &str) -> Result<JqPath, JqError> {
    let fail = |reason: String| JqError { reason };
    if expression.len() > MAX_EXPRESSION_LEN {
        return Err(fail(format!("longer than {MAX_EXPRESSION_LEN} bytes")));
    }
    if expression.trim().is_empty() {
        return Err(fail("empty expression".into()));
    }
    let tokens = Lexer::new(expression)
        .lex()
        .map_err(|errors| fail(lex_message(expression, &errors)))?;
    check_words(&tokens).map_err(fail)?;

    let code = format!("path({expression})");
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs());
    let arena = Arena::default();
    let modules = Loader::new(defs)
        .load(
            &arena,
            File {
                code: code.as_str(),
                path: (),
            },
        )
        .map_err(|errors| fail(load_message(&errors)))?;
    let filter = Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|errors| {
            let names: Vec<String> = errors
                .iter()
                .flat_map(|(_, errs)| errs.iter())
                .map(|(name, undefined)| format!("undefined {} {name}", undefined.as_str()))
                .collect();
            fail(names.join(", "))
        })?;
    Ok(JqPath { filter })
}

/// Refuses words outside [`ALLOWED_WORDS`], assignments, `*` and `$ENV`/`$__loc__`.
fn check_words(tokens: &[Token<&str>]) -> Result<(), String> {
    for Token(text, kind) in tokens {
        match kind {
            Tok::Word if !ALLOWED_WORDS.contains(text) => {
                return Err(format!(
                    "jq function {text:?} is not allowed in a path expression (allowed: selection, comparison and string tests that always end)"
                ));
            }
            Tok::Sym if REFUSED_SYMBOLS.contains(text) => {
                return Err(format!(
                    "jq operator {text:?} is not allowed in a path expression"
                ));
            }
            Tok::Var if *text == "$ENV" || text.starts_with("$__") => {
                return Err(format!("jq variable {text} is not allowed"));
            }
            Tok::Block(inner) => check_words(inner)?,
            Tok::Str(parts) => {
                for part in parts {
                    if let StrPart::Term(term) = part {
                        check_words(std::slice::from_ref(term))?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn lex_message(expression: &str, errors: &[jaq_core::load::lex::Error<&str>]) -> String {
    errors
        .iter()
        .map(|(expect, at)| {
            let offset = expression.len() - at.len();
            format!("expected {} at offset {offset}", expect.as_str())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn load_message(errors: &jaq_core::load::Errors<&str, ()>) -> String {
    use jaq_core::load::Error;
    let mut messages = Vec::new();
    for (_, error) in errors {
        match error {
            Error::Io(errs) => messages.extend(errs.iter().map(|(_, e)| e.clone())),
            Error::Lex(errs) => {
                messages.extend(errs.iter().map(|(e, _)| format!("expected {}", e.as_str())))
            }
            Error::Parse(errs) => messages.extend(errs.iter().map(|(expect, found)| {
                let found = if found.is_empty() { "the end" } else { found };
                format!("expected {} before {found:?}", expect.as_str())
            })),
        }
    }
    messages.join(", ")
}

/// `path`, a jq path (an array of keys and indexes), as steps into `value`; none when it
/// leads nowhere in it. A negative index counts from the end, as jq's `del` does; a slice
/// (`.items[1:]`) as the last step names each item it covers.
fn existing_paths(value: &Value, path: &Val) -> Vec<Vec<PathSeg>> {
    let Val::Arr(steps) = path else {
        return Vec::new();
    };
    let mut at = value;
    let mut segs = Vec::with_capacity(steps.len());
    for (n, step) in steps.iter().enumerate() {
        let last = n + 1 == steps.len();
        match (step, at) {
            (Val::TStr(key), Value::Object(map)) => {
                let Some(next) = std::str::from_utf8(key).ok().and_then(|k| map.get(k)) else {
                    return Vec::new();
                };
                segs.push(PathSeg::Key(String::from_utf8_lossy(key).into_owned()));
                at = next;
            }
            (Val::Num(n), Value::Array(items)) => {
                let Some(i) = n.as_isize().and_then(|i| index(i, items.len())) else {
                    return Vec::new();
                };
                segs.push(PathSeg::Index(i));
                at = &items[i];
            }
            (Val::Obj(slice), Value::Array(items)) if last => {
                let bound = |name: &str, default: usize| match slice
                    .get(&Val::utf8_str(name.to_string()))
                {
                    None | Some(Val::Null) => Some(default),
                    Some(Val::Num(n)) => n.as_isize().map(|i| {
                        if i < 0 {
                            items.len().saturating_sub(i.unsigned_abs())
                        } else {
                            (i as usize).min(items.len())
                        }
                    }),
                    Some(_) => None,
                };
                let (Some(start), Some(end)) = (bound("start", 0), bound("end", items.len()))
                else {
                    return Vec::new();
                };
                return (start..end.max(start))
                    .map(|i| {
                        let mut path = segs.clone();
                        path.push(PathSeg::Index(i));
                        path
                    })
                    .collect();
            }
            _ => return Vec::new(),
        }
    }
    vec![segs]
}

/// A jq index into a list of `len` items, counting from the end when negative.
fn index(i: isize, len: usize) -> Option<usize> {
    let i = if i < 0 {
        len.checked_sub(i.unsigned_abs())?
    } else {
        i as usize
    };
    (i < len).then_some(i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(path: &[&str]) -> Vec<PathSeg> {
        path.iter()
            .map(|s| match s.parse::<usize>() {
                Ok(i) => PathSeg::Index(i),
                Err(_) => PathSeg::Key(s.to_string()),
            })
            .collect()
    }

    fn paths(expression: &str, value: &Value) -> Vec<Vec<PathSeg>> {
        JqPath::compile(expression)
            .unwrap_or_else(|e| panic!("{expression}: {e}"))
            .paths(value)
            .unwrap_or_else(|e| panic!("{expression}: {e}"))
    }

    fn deployment() -> Value {
        json!({
            "metadata": {"annotations": {"autoscaling.alpha.kubernetes.io/behavior": "b", "keep": "k"}},
            "spec": {"template": {"spec": {
                "initContainers": [{"name": "istio-init"}, {"name": "setup"}],
                "containers": [
                    {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}, {"name": "B"}]},
                    {"name": "istio-proxy", "image": "proxy:1"}
                ]
            }}},
            "status": {"conditions": [{"type": "Ready", "lastTransitionTime": "t1"}, {"type": "Synced"}]}
        })
    }

    // The expressions of Argo CD's diffing and argocd-cm documentation.
    #[test]
    fn argo_cds_documented_expressions_name_their_fields() {
        let d = deployment();
        assert_eq!(
            paths(
                r#".spec.template.spec.initContainers[] | select(.name == "istio-init")"#,
                &d
            ),
            vec![keys(&["spec", "template", "spec", "initContainers", "0"])]
        );
        assert_eq!(
            paths(".status?.conditions[]?.lastTransitionTime", &d),
            vec![keys(&["status", "conditions", "0", "lastTransitionTime"])],
            "a path missing from the second condition is not named"
        );
        assert_eq!(
            paths(
                r#".metadata.annotations."autoscaling.alpha.kubernetes.io/behavior""#,
                &d
            ),
            vec![keys(&[
                "metadata",
                "annotations",
                "autoscaling.alpha.kubernetes.io/behavior"
            ])]
        );
        assert_eq!(
            paths(".webhooks[]?.clientConfig.caBundle", &d),
            Vec::<Vec<PathSeg>>::new()
        );
        let app = json!({"spec": {"sources": [
            {"repoURL": "https://git.example.com/org/repo1", "targetRevision": "main"},
            {"repoURL": "https://git.example.com/org/repo2", "targetRevision": "dev"}
        ]}});
        assert_eq!(
            paths(
                r#".spec.sources[] | select(.repoURL == "https://git.example.com/org/repo1").targetRevision"#,
                &app
            ),
            vec![keys(&["spec", "sources", "0", "targetRevision"])]
        );
    }

    #[test]
    fn filters_with_string_tests_and_boolean_logic() {
        let d = deployment();
        assert_eq!(
            paths(
                r#".spec.template.spec.containers[] | select(.name | startswith("istio")) | .image"#,
                &d
            ),
            vec![keys(&[
                "spec",
                "template",
                "spec",
                "containers",
                "1",
                "image"
            ])]
        );
        assert_eq!(
            paths(
                r#".spec.template.spec.containers[].env[]? | select(.name == "A" and .value != null)"#,
                &d
            ),
            vec![keys(&[
                "spec",
                "template",
                "spec",
                "containers",
                "0",
                "env",
                "0"
            ])]
        );
        assert_eq!(
            paths(".spec.template.spec.containers[-1].name", &d),
            vec![keys(&[
                "spec",
                "template",
                "spec",
                "containers",
                "1",
                "name"
            ])],
            "a negative index counts from the end"
        );
    }

    #[test]
    fn a_run_time_error_is_reported_not_half_applied() {
        let value = json!({"spec": {"replicas": 3}});
        let jq = JqPath::compile(".spec.replicas[]").unwrap();
        assert!(
            jq.paths(&value).is_err(),
            "iterating over a number fails as in jq"
        );
    }

    #[test]
    fn unbounded_or_assigning_expressions_are_refused_by_name() {
        for (expression, word) in [
            ("last(repeat(.))", "\"repeat\""),
            ("def f: f; f", "\"def\""),
            (".a | recurse(.b)", "\"recurse\""),
            ("[range(100000000)]", "\"range\""),
            (r#".a = 1"#, "\"=\""),
            (r#"("x" * 1000000000)"#, "\"*\""),
            ("reduce .[] as $x (0; . + $x)", "\"reduce\""),
            ("$ENV.HOME", "$ENV"),
            ("env.HOME", "\"env\""),
            (r#"select("\(repeat(.))" == "")"#, "\"repeat\""),
        ] {
            let err = JqPath::compile(expression).expect_err(expression);
            assert!(err.reason.contains(word), "{expression}: {err}");
        }
    }

    #[test]
    fn syntax_errors_and_unknown_functions_are_reported() {
        assert!(JqPath::compile(".spec[").is_err());
        assert!(JqPath::compile("").is_err());
        assert!(JqPath::compile("select(.a ==)").is_err());
        assert!(JqPath::compile(&".a".repeat(MAX_EXPRESSION_LEN)).is_err());
        // An allowed word used with an arity jq does not define.
        let err = JqPath::compile("select(1; 2)").unwrap_err();
        assert!(err.reason.contains("undefined filter"), "{err}");
    }

    #[test]
    fn the_whole_object_is_never_a_path() {
        assert!(paths(".", &json!({"a": 1})).is_empty());
    }
}
