//! The public template set: parse once, execute many times.

use crate::error::{Error, line_col};
use crate::exec;
use crate::funcs::Functions;
use crate::parse::{self, List};
use crate::value::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// What a missing map key evaluates to (Go's `missingkey` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingKey {
    /// `missingkey=default` (or `invalid`): no value; prints `<no value>`.
    #[default]
    Default,
    /// `missingkey=zero`: the zero value of the map's element type — for data decoded into
    /// `interface{}` that is nil, which also prints `<no value>`.
    Zero,
    /// `missingkey=error`: execution stops with an error.
    Error,
}

/// Limits that keep hostile templates from exhausting the machine. Each one stops execution
/// with [`Error::Limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Deepest nesting of `template`, `include` and `tpl` calls. Go allows 100,000 frames on a
    /// growable stack; ours is fixed, so the default (100) stays far from overflowing a 2 MiB
    /// thread stack while allowing any realistic chart.
    pub max_depth: usize,
    /// Most bytes written, counting the output of nested `include`/`tpl` calls too.
    pub max_output: usize,
    /// Most execution steps (actions, commands, range iterations) per `execute` call.
    pub max_steps: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 100,
            max_output: 64 << 20,
            max_steps: 10_000_000,
        }
    }
}

/// Execution options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// Behaviour on missing map keys.
    pub missing_key: MissingKey,
    /// Safety limits.
    pub limits: Limits,
}

/// A Go `Option(...)` string that is not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unrecognized option: {0}")]
pub struct OptionError(pub String);

impl Options {
    /// Applies a Go option string such as `missingkey=error`.
    pub fn apply(&mut self, option: &str) -> Result<(), OptionError> {
        self.missing_key = match option {
            "missingkey=default" | "missingkey=invalid" => MissingKey::Default,
            "missingkey=zero" => MissingKey::Zero,
            "missingkey=error" => MissingKey::Error,
            _ => return Err(OptionError(option.to_string())),
        };
        Ok(())
    }
}

/// One parsed tree and the text it came from (for error positions).
#[derive(Debug)]
pub(crate) struct Tree {
    pub(crate) parse_name: Arc<str>,
    pub(crate) source: Arc<str>,
    pub(crate) list: List,
}

/// A set of named templates sharing functions and options, like Go's `*template.Template`.
/// Cloning is cheap (trees are shared), so a parsed template can be executed from many
/// threads or copied per use.
///
/// ```
/// use flotilla_template::{Functions, Template, Value};
/// let t = Template::new("app")
///     .functions(Functions::sprig())
///     .parse("{{ .name | upper }}-{{ .replicas }}")
///     .expect("parses");
/// let data = Value::from(&serde_json::json!({"name": "web", "replicas": 3}));
/// assert_eq!(t.execute(&data).expect("executes"), "WEB-3");
/// ```
#[derive(Clone, Debug)]
pub struct Template {
    name: Arc<str>,
    pub(crate) trees: HashMap<Arc<str>, Arc<Tree>>,
    pub(crate) funcs: Arc<Functions>,
    pub(crate) options: Options,
    delims: (String, String),
}

impl Template {
    /// An empty set whose main template is `name`, with Go's builtin functions.
    pub fn new(name: &str) -> Self {
        Template {
            name: Arc::from(name),
            trees: HashMap::new(),
            funcs: Arc::new(Functions::builtins()),
            options: Options::default(),
            delims: ("{{".into(), "}}".into()),
        }
    }

    /// Replaces the function set (before parsing: names are checked at parse time).
    pub fn functions(mut self, funcs: impl Into<Arc<Functions>>) -> Self {
        self.funcs = funcs.into();
        self
    }

    /// Sets execution options.
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// Applies a Go option string such as `missingkey=error`.
    pub fn option(mut self, option: &str) -> Result<Self, OptionError> {
        self.options.apply(option)?;
        Ok(self)
    }

    /// Sets the action delimiters (Go's `Delims`).
    pub fn delims(mut self, left: &str, right: &str) -> Self {
        self.delims = (left.to_string(), right.to_string());
        self
    }

    /// The main template's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The execution options.
    pub fn current_options(&self) -> Options {
        self.options
    }

    /// Whether the set has a template of this name with a body.
    pub fn has_template(&self, name: &str) -> bool {
        self.trees.contains_key(name)
    }

    /// Names of all templates in the set, sorted.
    pub fn template_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.trees.keys().map(|k| &**k).collect();
        v.sort_unstable();
        v
    }

    /// Parses `text` as the main template (and its `define`s into the set).
    pub fn parse(self, text: &str) -> Result<Self, Error> {
        let name = self.name.clone();
        self.parse_named(&name, text)
    }

    /// Parses `text` as the template `name` of this set (Go's `t.New(name).Parse(text)`);
    /// its `define`s join the set, replacing earlier definitions unless they are empty.
    pub fn parse_named(mut self, name: &str, text: &str) -> Result<Self, Error> {
        let funcs = self.funcs.clone();
        let is_func = |n: &str| funcs.contains(n);
        let parsed = parse::parse(text, &self.delims.0, &self.delims.1, &is_func).map_err(|e| {
            let (line, column) = line_col(text, e.pos);
            Error::Parse {
                name: name.to_string(),
                line,
                column,
                message: e.message,
            }
        })?;
        let source: Arc<str> = Arc::from(text);
        let parse_name: Arc<str> = Arc::from(name);
        let mut add = |tname: &str, list: List| {
            // Go's `associate`: an empty body never replaces an existing template.
            if parse::is_empty_tree(&list) && self.trees.contains_key(tname) {
                return;
            }
            self.trees.insert(
                Arc::from(tname),
                Arc::new(Tree {
                    parse_name: parse_name.clone(),
                    source: source.clone(),
                    list,
                }),
            );
        };
        add(name, parsed.root);
        for (dname, list) in parsed.defines {
            add(&dname, list);
        }
        Ok(self)
    }

    /// Executes the main template.
    pub fn execute(&self, data: &Value) -> Result<String, Error> {
        self.execute_template(&self.name, data)
    }

    /// Executes the main template, appending to `out` (reuse the buffer across renders).
    pub fn execute_into(&self, data: &Value, out: &mut String) -> Result<(), Error> {
        exec::execute(self, &self.name, data, out)
    }

    /// Executes the named template of the set.
    pub fn execute_template(&self, name: &str, data: &Value) -> Result<String, Error> {
        let mut out = String::new();
        exec::execute(self, name, data, &mut out)?;
        Ok(out)
    }
}
