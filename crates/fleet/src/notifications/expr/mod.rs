//! The expression language of Argo CD's notification triggers: the subset of
//! [expr-lang](https://github.com/expr-lang/expr) that `when` and `oncePer` use, over
//! the variables notifications-engine gives a trigger (`app`, `appProject`, `context`,
//! `secrets`, and Argo CD's `time`, `strings` and `repo` helpers).
//!
//! expr-lang is the specification: its `docs/language-definition.md`, parser and VM.
//! What Flotilla reads: literals (`nil`, booleans, numbers in every base, strings in
//! both quotes and backticks, arrays, maps), member access (`a.b`, `a['b']`, `a[0]`,
//! negative indexes, slices), optional chaining (`?.`), nil coalescing (`??`), the
//! arithmetic, comparison, logical, membership (`in`), string (`contains`,
//! `startsWith`, `endsWith`, `matches`) and range (`..`) operators with expr's
//! precedence, `not in` and its kin, the ternary and `?:`, `if {} else {}`, `let`,
//! pipes, calls of the helpers and of `time.Time`/`time.Duration` methods, and most
//! built-ins, predicates included (`all(xs, {# > 1})`). The built-ins it does not
//! evaluate are refused by name when the expression is compiled.
//!
//! Evaluation is bounded: a step budget, and size limits on ranges and strings.
//!
//! ```
//! use flotilla_fleet::notifications::expr::{Env, Program};
//! let app = serde_json::json!({"status": {"operationState": {"phase": "Failed"}}});
//! let now = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap();
//! let env = Env::new(now).json("app", &app);
//! let when = Program::compile(
//!     "app.status.operationState != nil and app.status.operationState.phase in ['Error', 'Failed']",
//! ).unwrap();
//! assert_eq!(when.run(&env).unwrap().as_bool(), Some(true));
//! ```

mod eval;
mod funcs;
mod lex;
mod parse;
mod value;

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};

pub use value::{Func, Namespace, Value};

pub(crate) use funcs::full_name_by_repo_url;

/// The longest expression compiled.
const MAX_SOURCE: usize = 64 * 1024;

/// An error with where it happened, written as expr writes its errors: the message,
/// `(line:column)`, and the line with a caret under the place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}{place}")]
pub struct Error {
    /// What went wrong.
    pub message: String,
    /// ` (line:column)` and the snippet, or nothing.
    place: String,
}

impl Error {
    /// An error at byte offset `at` of `source`.
    pub(crate) fn at(source: &str, at: usize, message: &str) -> Error {
        let mut line = 1;
        let mut column = 0;
        let mut line_start = 0;
        for (i, c) in source.char_indices() {
            if i >= at {
                break;
            }
            if c == '\n' {
                line += 1;
                column = 0;
                line_start = i + 1;
            } else {
                column += 1;
            }
        }
        let line_end = source[line_start..]
            .find('\n')
            .map_or(source.len(), |n| line_start + n);
        let text = &source[line_start..line_end];
        let place = if text.is_empty() {
            String::new()
        } else {
            format!(
                " ({line}:{})\n | {}\n | {}^",
                column + 1,
                text.replace('\t', " "),
                ".".repeat(column)
            )
        };
        Error {
            message: message.to_string(),
            place,
        }
    }
}

/// A compiled expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    source: String,
    tree: parse::Expr,
}

impl Program {
    /// Parses `source`; what does not parse, or calls a built-in Flotilla does not
    /// evaluate, is an error with its position.
    pub fn compile(source: &str) -> Result<Program, Error> {
        if source.len() > MAX_SOURCE {
            return Err(Error {
                message: format!("the expression is longer than {MAX_SOURCE} bytes"),
                place: String::new(),
            });
        }
        Ok(Program {
            source: source.to_string(),
            tree: parse::parse(source)?,
        })
    }

    /// The expression's text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates the expression over `env`.
    pub fn run<'a>(&self, env: &Env<'a>) -> Result<Value<'a>, Error> {
        let mut run = eval::Run::new(env, &self.source);
        match run.eval(&self.tree) {
            Ok(v) => Ok(v),
            Err(eval::Stop::Nil) => Ok(Value::Nil),
            Err(eval::Stop::Error(e)) => Err(e),
        }
    }
}

/// The variables an expression sees, and the time `time.Now()` answers.
#[derive(Debug, Clone)]
pub struct Env<'a> {
    vars: BTreeMap<String, Value<'a>>,
    now: DateTime<FixedOffset>,
}

impl<'a> Env<'a> {
    /// Argo CD's helper namespaces (`time`, `strings`, `repo`) and nothing else; `now`
    /// is what `time.Now()` and `now()` answer.
    pub fn new(now: DateTime<FixedOffset>) -> Env<'a> {
        let vars = [
            ("time", Namespace::Time),
            ("strings", Namespace::Strings),
            ("repo", Namespace::Repo),
        ]
        .into_iter()
        .map(|(name, ns)| (name.to_string(), Value::Namespace(ns)))
        .collect();
        Env { vars, now }
    }

    /// With the variable `name` holding `json` (borrowed).
    pub fn json(mut self, name: &str, json: &'a serde_json::Value) -> Env<'a> {
        self.vars.insert(name.to_string(), Value::from_json(json));
        self
    }

    /// With the variable `name` holding `value`.
    pub fn with(mut self, name: &str, value: Value<'a>) -> Env<'a> {
        self.vars.insert(name.to_string(), value);
        self
    }
}

#[cfg(test)]
mod tests;
